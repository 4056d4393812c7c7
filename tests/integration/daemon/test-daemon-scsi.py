#!/usr/bin/env python3
"""test-daemon-scsi.py - SCSI disks and CD-ROMs through vireod, driven by the
stock virsh: a domain with <disk bus='scsi'> (a raw disk of random bytes), a
<disk device='cdrom'> holding an ISO 9660 image xorriso made, and an empty
cdrom (no <source>), with no <controller> written: vireod adds the
virtio-scsi controller as libvirt's QEMU driver does for a machine whose only
SCSI model is virtio-scsi.

  test-daemon-scsi.py VIREOD VIREO_VMM TESTGUEST_ELF VSH

Checks: define and start succeed; dumpxml shows the controller and the drive
addresses; vireo-vmm got virtio-scsi-pci, scsi-hd and scsi-cd (media=cdrom,
the empty one without a file); the test guest's virtio-scsi tests pass
(INQUIRY, READ CAPACITY, READ/WRITE, the ISO's volume label); `virsh
change-media --update --live` swaps the ISO while the guest polls, which sees
the unit attentions and the new label; the live and persistent XML say what
changed; --eject empties the drive (the live XML shows tray='open'), --insert
loads it again (vsh's change-media too), a disk is refused, --config changes the
persistent definition only; the guest's CRC-32 of the disk after its writes
equals the file's. Prints TAP.
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
names = ["scsi1"]
try:
    d.start()
    disk, iso, iso2 = make_media(d)
    devices = f"""    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{disk}'/>
      <target dev='sda' bus='scsi'/>
    </disk>
    <disk type='file' device='cdrom'>
      <source file='{iso}'/>
      <target dev='sdb' bus='scsi'/>
      <readonly/>
      <address type='drive' controller='0' bus='0' target='1' unit='0'/>
    </disk>
    <disk type='file' device='cdrom'>
      <target dev='sdc' bus='scsi'/>
      <readonly/>
      <address type='drive' controller='0' bus='0' target='2' unit='0'/>
    </disk>
"""
    xml = d.write("scsi1.xml", domain_xml(
        "scsi1", GUEST, "tests=scsi scsi_blocks=2048 scsi_cd_label=VIREO_CD scsi_cd_change=VIREO_CD2", devices))
    r = d.virsh("define", xml)
    t.ok(r.returncode == 0, "virsh define a domain with a SCSI disk and two SCSI CD-ROMs",
         r.stderr)
    r = d.virsh("dumpxml", "scsi1")
    t.ok(r.returncode == 0 and "<controller type='scsi' index='0' model='virtio-scsi'>" in r.stdout
         and "<address type='drive' controller='0' bus='0' target='0' unit='0'/>" in r.stdout,
         "dumpxml: the implied virtio-scsi controller and the disk's drive address", r.stdout)
    r = d.virsh("start", "scsi1")
    t.ok(r.returncode == 0, "virsh start it", r.stderr)
    cmd = open(os.path.join(d.root, "log", "scsi1.log")).readline()
    t.ok("virtio-scsi-pci,id=scsi0" in cmd and
         f"-drive file={disk},format=raw,if=none,id=drive-scsi0-0-0-0" in cmd and
         "scsi-hd,bus=scsi0.0,channel=0,scsi-id=0,lun=0,drive=drive-scsi0-0-0-0,id=scsi0-0-0-0"
         in cmd and "scsi-cd,bus=scsi0.0,channel=0,scsi-id=1,lun=0" in cmd and
         "-drive if=none,id=drive-scsi0-0-2-0,media=cdrom,readonly=on" in cmd,
         "vireo-vmm got virtio-scsi-pci, scsi-hd, scsi-cd and the empty drive", cmd)
    wait_for(lambda: "scsi-cd: ready" in d.console_log("scsi1"), 120, 0.2)
    r = d.virsh("change-media", "scsi1", "sdb", iso2, "--update", "--live")
    t.ok(r.returncode == 0, "virsh change-media --update --live swaps the ISO", r.stderr)
    wait_for(lambda: re.search(r"^1\.\.\d+\r?\n", d.console_log("scsi1"), re.M), 120, 0.2)
    log = d.console_log("scsi1")
    oks = re.findall(r"^ok \d+ - (.*)$", log, re.M)
    bad = re.findall(r"^not ok .*$", log, re.M)
    t.ok(re.search(r"^1\.\.24$", log, re.M) and not bad and len(oks) == 24 and
         any("label 'VIREO_CD'" in x for x in oks) and any("'VIREO_CD2'" in x for x in oks),
         "the guest's virtio-scsi tests pass through vireod (disk, the ISO's label, the "
         "medium change's unit attentions and the new label)", log[-2000:])
    check_media_changes(t, d, "scsi1", "scsi", iso, iso2)
    d.virsh("destroy", "scsi1")
    check_guest_crc(t, log, "scsi-crc32", disk)
finally:
    if t.failed:
        d.dump_log()
    d.cleanup(names)
t.done()
