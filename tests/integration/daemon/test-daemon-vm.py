#!/usr/bin/env python3
"""test-daemon-vm.py - VMs with devices through vireod, driven by the stock
virsh: a qcow2 disk (made by vireo-img, with a backing file) and a user-mode
virtio NIC, whose guest-side tests must pass and whose data the guest must
read exactly as the host does.

  test-daemon-vm.py VIREOD VIREO_VMM TESTGUEST_ELF VIREO_IMG

Prints TAP. Waits poll with generous limits; nothing asserts a timing.
"""
import os
import re
import shutil
import subprocess
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import Daemon, Tap, alive, domain_xml, skip_all, wait_for  # noqa: E402

VIREOD, VMM, GUEST, IMG = sys.argv[1:5]
# vireo-vmm reloads the kernel on a reset after -daemonize's chdir("/"):
# the definition must name it by an absolute path.
GUEST = os.path.abspath(GUEST)
t = Tap()
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("no /dev/kvm")
if not shutil.which("virsh") or not shutil.which("qemu-io"):
    skip_all("no virsh or qemu-io")

d = Daemon(VIREOD, VMM)
names = ["disk1", "disk2"]
try:
    d.start()

    # A raw base with random bytes, a qcow2 overlay on it made by vireo-img,
    # and part of the overlay rewritten so the guest must merge both layers.
    base = os.path.join(d.tmp, "base.raw")
    open(base, "wb").write(os.urandom(256 * 1024))  # the guest's in-flight test uses 320 sectors
    top = os.path.join(d.tmp, "top.qcow2")
    r = subprocess.run([IMG, "create", "-f", "qcow2", "-b", base, "-F", "raw", top],
                       capture_output=True, text=True)
    t.ok(r.returncode == 0, "vireo-img makes a qcow2 overlay with a backing file", r.stderr)
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 40000 30000", top],
                   check=True, capture_output=True)
    flat = os.path.join(d.tmp, "flat.raw")
    subprocess.run([IMG, "convert", "-O", "raw", top, flat], check=True)
    host_crc = zlib.crc32(open(flat, "rb").read())

    disk = f"""    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{top}'/>
      <target dev='vda' bus='virtio'/>
      <serial>vireo-disk-1</serial>
    </disk>
    <interface type='user'>
      <mac address='52:54:00:12:34:56'/>
      <model type='virtio'/>
    </interface>
"""
    # 1. blk-crc32: the guest reads the whole disk and prints its CRC-32.
    xml = d.write("disk1.xml", domain_xml("disk1", GUEST, "blk-crc32", disk))
    r = d.virsh("define", xml)
    t.ok(r.returncode == 0, "virsh define a domain with a qcow2 disk and a user NIC", r.stderr)
    r = d.virsh("start", "disk1")
    t.ok(r.returncode == 0, "virsh start it", r.stderr)
    cmd = open(os.path.join(d.root, "log", "disk1.log")).readline()
    t.ok(f"-drive file={top},format=qcow2,if=none,id=drive-virtio-disk0" in cmd and
         "-netdev user,id=hostnet0" in cmd and
         "virtio-net-pci,netdev=hostnet0,id=net0,mac=52:54:00:12:34:56" in cmd,
         "vireo-vmm got the disk and the NIC", cmd)
    wait_for(lambda: re.search(r"^crc32=[0-9a-f]{8}", d.console_log("disk1"), re.M), 120, 0.2)
    m = re.search(r"^crc32=([0-9a-f]{8})", d.console_log("disk1"), re.M)
    got = m.group(1) if m else None
    t.ok(got == "%08x" % host_crc,
         "the guest's CRC-32 of the disk equals the host's (vireo-img convert) through "
         "overlay and backing file", f"guest {got}, host {host_crc:08x}\n" +
         d.console_log("disk1")[-800:])
    d.virsh("destroy", "disk1")

    # 2. The guest's own virtio-blk and virtio-net tests (TAP on COM1).
    xml = d.write("disk2.xml", domain_xml(
        "disk2", GUEST, "tests=blk,net blk_serial=vireo-disk-1", disk))
    d.virsh("define", xml)
    r = d.virsh("start", "disk2")
    t.ok(r.returncode == 0, "virsh start a second domain on the same disk", r.stderr)
    wait_for(lambda: re.search(r"^1\.\.\d+\r?\n", d.console_log("disk2"), re.M), 120, 0.2)
    log = d.console_log("disk2")
    oks = re.findall(r"^ok \d+ - (.*)$", log, re.M)
    bad = re.findall(r"^not ok .*$", log, re.M)
    t.ok(re.search(r"^1\.\.\d+", log, re.M) and not bad and
         any("blk" in x for x in oks) and any("net" in x for x in oks),
         "the guest's virtio-blk and virtio-net (user) tests pass through vireod",
         log[-1500:])
    t.diag("guest: %d ok lines, %d not ok" % (len(oks), len(bad)))
    d.virsh("destroy", "disk2")
    r = subprocess.run(["qemu-img", "check", top], capture_output=True, text=True)
    t.ok(r.returncode == 0, "the overlay is consistent afterwards (qemu-img check)",
         r.stdout + r.stderr)
finally:
    if t.failed:
        d.dump_log()
    d.cleanup(names)
t.done()
