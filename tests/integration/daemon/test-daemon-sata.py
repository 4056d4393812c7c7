#!/usr/bin/env python3
"""test-daemon-sata.py - SATA disks and CD-ROMs through vireod, driven by the
stock virsh and vsh: a domain with <disk bus='sata'> (a raw disk of random
bytes) on port 0, a <disk device='cdrom' bus='sata'> holding an ISO 9660 image
xorriso made on port 2, and an empty sata cdrom on port 3, with no
<controller> written: vireod adds the sata controller as libvirt does.

  test-daemon-sata.py VIREOD VIREO_VMM TESTGUEST_ELF VSH

Checks: define and start succeed; dumpxml shows the sata controller and the
drive addresses; vireo-vmm got ich9-ahci, ide-hd and ide-cd with libvirt's
names (sata0-0-U, drive-sata0-0-U; the empty cdrom without a file); the test
guest's AHCI tests pass (IDENTIFY, DMA and NCQ reads and writes, ATAPI
INQUIRY, READ CAPACITY, the ISO's volume label); `virsh change-media --update
--live` swaps the ISO while the guest polls, which sees the medium go and come
and reads the new label; --eject empties the drive (the live XML shows
tray='open'), --insert loads it again, vsh's change-media does the same; the
guest's CRC-32 of the disk after its writes equals the file's. Prints TAP.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cdromlib import check_guest_crc, check_media_changes, make_media  # noqa: E402
from daemonlib import Daemon, Tap, domain_xml, skip_all, wait_for  # noqa: E402

VIREOD, VMM, GUEST, VSH = sys.argv[1:5]
GUEST = os.path.abspath(GUEST)
t = Tap()
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("no /dev/kvm")

d = Daemon(VIREOD, VMM, VSH)
names = ["sata1"]
try:
    d.start()
    disk, iso, iso2 = make_media(d)
    devices = f"""    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{disk}'/>
      <target dev='sda' bus='sata'/>
    </disk>
    <disk type='file' device='cdrom'>
      <source file='{iso}'/>
      <target dev='sdb' bus='sata'/>
      <readonly/>
      <address type='drive' controller='0' bus='0' target='0' unit='2'/>
    </disk>
    <disk type='file' device='cdrom'>
      <target dev='sdc' bus='sata'/>
      <readonly/>
      <address type='drive' controller='0' bus='0' target='0' unit='3'/>
    </disk>
"""
    xml = d.write("sata1.xml", domain_xml(
        "sata1", GUEST, "tests=ahci ahci_blocks=2048 ahci_cd_label=VIREO_CD ahci_cd_change=VIREO_CD2", devices))
    r = d.virsh("define", xml)
    t.ok(r.returncode == 0, "virsh define a domain with a SATA disk and two SATA CD-ROMs",
         r.stderr)
    r = d.virsh("dumpxml", "sata1")
    t.ok(r.returncode == 0 and "<controller type='sata' index='0'>" in r.stdout
         and "<address type='drive' controller='0' bus='0' target='0' unit='0'/>" in r.stdout,
         "dumpxml: the implied sata controller and the disk's drive address", r.stdout)
    r = d.virsh("start", "sata1")
    t.ok(r.returncode == 0, "virsh start it", r.stderr)
    cmd = open(os.path.join(d.root, "log", "sata1.log")).readline()
    t.ok("ich9-ahci,id=sata0,bus=pcie.0,addr=" in cmd and
         f"-drive file={disk},format=raw,if=none,id=drive-sata0-0-0" in cmd and
         "ide-hd,bus=sata0.0,drive=drive-sata0-0-0,id=sata0-0-0" in cmd and
         "ide-cd,bus=sata0.2,drive=drive-sata0-0-2,id=sata0-0-2" in cmd and
         "-drive if=none,id=drive-sata0-0-3,media=cdrom,readonly=on" in cmd,
         "vireo-vmm got ich9-ahci, ide-hd, ide-cd and the empty drive", cmd)
    # The guest reads the whole disk first: on a loaded machine that takes a while, and the
    # medium must not change before the guest waits for it.
    ready = wait_for(lambda: "ahci-cd: ready" in d.console_log("sata1"), 400, 0.2)
    t.ok(ready, "the guest reaches the medium change", d.console_log("sata1")[-2000:])
    r = d.virsh("change-media", "sata1", "sdb", iso2, "--update", "--live")
    t.ok(r.returncode == 0, "virsh change-media --update --live swaps the ISO", r.stderr)
    wait_for(lambda: re.search(r"^1\.\.\d+", d.console_log("sata1"), re.M), 300, 0.2)
    log = d.console_log("sata1")
    oks = re.findall(r"^ok \d+ - (.*)$", log, re.M)
    bad = re.findall(r"^not ok .*$", log, re.M)
    t.ok(re.search(r"^1\.\.24$", log, re.M) and not bad and len(oks) == 24 and
         any("label 'VIREO_CD'" in x for x in oks) and any("'VIREO_CD2'" in x for x in oks),
         "the guest's AHCI tests pass through vireod (disk, the ISO's label, the "
         "medium change and the new label)", log[-2000:])
    check_media_changes(t, d, "sata1", "sata", iso, iso2)
    d.virsh("destroy", "sata1")
    check_guest_crc(t, log, "ahci-crc32", disk)
finally:
    if t.failed:
        d.dump_log()
    d.cleanup(names)
t.done()
