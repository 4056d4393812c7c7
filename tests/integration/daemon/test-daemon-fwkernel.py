#!/usr/bin/env python3
"""test-daemon-fwkernel.py - vireod starts a pc domain with <kernel> and
<cmdline>: vireo-vmm gets -M pc -kernel/-append and SeaBIOS boots the test
guest (a PVH ELF) through fw_cfg and QEMU's pvh.bin, ahead of a disk whose
<boot order='1'/> would otherwise boot.

  test-daemon-fwkernel.py VIREOD VIREO_VMM TESTGUEST_ELF BOOTSECTOR TESTGUEST_MULTIBOOT_ELF

Checks: the stock virsh creates the domain; the VMM's command line has -M pc,
-kernel, -append and the disk's bootindex=1; the guest's TAP on the console
names its PVH entry and -append's command line, its tests pass, and the boot
sector on the disk never ran. Then a q35 domain with the guest's -multiboot
build as <kernel> and a module as <initrd> starts too: the guest names its
Multiboot entry, the loader "qemu" and the module. SeaBIOS runs in KVM's instruction emulator on
this machine's nested KVM: the wait is generous. Prints TAP.
"""
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import Daemon, Tap, skip_all, wait_for  # noqa: E402

VIREOD, VMM, GUEST, SECTOR, MB_GUEST = sys.argv[1:6]
GUEST = os.path.abspath(GUEST)
MB_GUEST = os.path.abspath(MB_GUEST)  # the VMM reloads it at a reset, after -daemonize's chdir
BOOT_WAIT = 400
CMDLINE = "tests=boot,mem,cmdline mem=64M vireod-fwkernel"
t = Tap()
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("no /dev/kvm")
if not shutil.which("virsh"):
    skip_all("no virsh")

d = Daemon(VIREOD, VMM)
names = ["fwkpc", "fwkmb"]
try:
    d.start()
    disk = os.path.join(d.tmp, "disk.img")
    with open(SECTOR, "rb") as f, open(disk, "wb") as out:
        out.write(f.read())
        out.truncate(1 << 20)
    xml = f"""<domain type='kvm'>
  <name>fwkpc</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{GUEST}</kernel>
    <cmdline>{CMDLINE}</cmdline>
  </os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
      <boot order='1'/>
    </disk>
    <serial type='pty'/>
    <memballoon model='none'/>
  </devices>
</domain>
"""
    r = d.virsh("create", d.write("fwkpc.xml", xml))
    t.ok(r.returncode == 0, "virsh create: a pc domain with <kernel> starts", r.stdout + r.stderr)
    argv = d.vmm_log("fwkpc", lines=1000)
    t.ok(" -M pc-i440fx-7.2 " in argv and f" -kernel {GUEST} " in argv and
         f" -append {CMDLINE} " in argv and ",bootindex=1," in argv,
         "vireo-vmm got -M pc-i440fx-7.2, -kernel, -append and the disk's bootindex=1", argv)

    def done():
        return re.search(r"^1\.\.\d+\r?$", d.console_log("fwkpc"), re.M) is not None
    wait_for(done, BOOT_WAIT, 0.5)
    log = d.console_log("fwkpc")
    oks = re.findall(r"^ok \d+ - (.*?)\r?$", log, re.M)
    bad = re.findall(r"^not ok .*$", log, re.M)
    t.ok(done() and "entry: pvh" in log and not bad and oks and "vireo boot sector" not in log,
         "SeaBIOS boots <kernel> through pvh.bin before the disk; the guest's tests pass",
         log[-2000:])
    t.ok("# cmdline: " + CMDLINE in log, "the guest got <cmdline>", log[-2000:])
    d.virsh("destroy", "fwkpc")

    module = d.write("module.bin", "a Multiboot module\n")
    mb_cmdline = "tests=boot,cmdline vireod-multiboot"
    xml = f"""<domain type='kvm'>
  <name>fwkmb</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>{MB_GUEST}</kernel>
    <initrd>{module} arg</initrd>
    <cmdline>{mb_cmdline}</cmdline>
  </os>
  <devices>
    <serial type='pty'/>
    <memballoon model='none'/>
  </devices>
</domain>
"""
    r = d.virsh("create", d.write("fwkmb.xml", xml))
    t.ok(r.returncode == 0, "virsh create: a q35 domain with a Multiboot <kernel> starts",
         r.stdout + r.stderr)

    def mb_done():
        return re.search(r"^1\.\.\d+\r?$", d.console_log("fwkmb"), re.M) is not None
    wait_for(mb_done, BOOT_WAIT, 0.5)
    log = d.console_log("fwkmb")
    bad = re.findall(r"^not ok .*$", log, re.M)
    t.ok(mb_done() and "entry: multiboot" in log and not bad and
         "# boot loader: qemu" in log and "# multiboot: 1 modules" in log and
         f"# multiboot: module 0 '{module} arg' 19 bytes" in log and
         f"# cmdline: {MB_GUEST} {mb_cmdline}" in log,
         "SeaBIOS boots the Multiboot <kernel> through multiboot_dma.bin with <initrd> as a "
         "module and <cmdline>", log[-2000:])
    d.virsh("destroy", "fwkmb")
finally:
    if t.failed:
        d.dump_log()
    d.cleanup(names)
t.done()
