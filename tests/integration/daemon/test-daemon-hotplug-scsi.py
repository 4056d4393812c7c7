#!/usr/bin/env python3
"""test-daemon-hotplug-scsi.py - SCSI disks hot-plugged into a running domain through vireod.

  test-daemon-hotplug-scsi.py VIREOD VIREO_VMM TESTGUEST_ELF VSH

A domain with one <disk bus='scsi'> (so vireod adds the virtio-scsi controller,
as libvirt does) runs the test guest with tests=scsi scsi_hotplug=1
(t-scsi.c): after its disk tests it waits on the controller's event queue.
 - a live SCSI disk whose target is in use is refused, and so is one on a
   controller the domain does not have; nothing changes;
 - the stock virsh attach-disk sdb --targetbus scsi --live: libvirt's drive
   address (controller 0, target 0, unit 1: LUN 1), scsi-hd on scsi0.0; the
   guest gets the rescan event for target 0 LUN 1 and reads the disk: its
   CRC-32 equals the host's; the live XML shows sdb with alias scsi0-0-0-1
   and that address; the definition is left alone;
 - vsh detach-disk sdb --live (virsh's line): the guest gets the removed
   event and the unit is gone; the live XML has lost sdb;
 - a CD-ROM (attach-disk --type cdrom) goes on and off the same way.
Prints TAP.
"""
import binascii
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import Daemon, Tap, domain_xml, skip_all, wait_for  # noqa: E402

VIREOD, VMM, GUEST, VSH = sys.argv[1:5]
GUEST = os.path.abspath(GUEST)
t = Tap()
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("no /dev/kvm")
if not shutil.which("virsh"):
    skip_all("no virsh")

BLOCKS = 32
d = Daemon(VIREOD, VMM, VSH)
names = ["hps"]


def live_xml():
    return d.virsh("dumpxml", "hps").stdout


def config_xml():
    return d.virsh("dumpxml", "--inactive", "hps").stdout


def console():
    return d.console_log("hps")


def wait_console(text, limit=180):
    """A complete line holding text (the log grows byte by byte)."""
    def done():
        c = console()
        return text in c[:c.rfind("\n") + 1]
    return wait_for(done, limit, 0.2)


try:
    d.start()
    base = d.write("base.raw", "")
    open(base, "wb").write(os.urandom(1 << 20))
    hot = d.write("hot.raw", "")
    data = os.urandom(1 << 20)
    open(hot, "wb").write(data)
    want = "%08x" % binascii.crc32(data[:BLOCKS * 512])
    devices = f"""    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{base}'/>
      <target dev='sda' bus='scsi'/>
    </disk>
"""
    xml = d.write("hps.xml", domain_xml(
        "hps", GUEST, f"tests=scsi scsi_blocks=2048 scsi_hotplug=1 scsi_hotplug_blocks={BLOCKS}",
        devices))
    r = d.virsh("define", xml)
    t.ok(r.returncode == 0, "define a domain with a SCSI disk", r.stderr)
    r = d.virsh("start", "hps")
    t.ok(r.returncode == 0, "start it", r.stderr)
    ok = wait_console("scsi-hotplug: ready")
    t.ok(ok, "the guest ran its SCSI tests and waits for a new unit", console()[-2000:])
    if not ok:
        raise SystemExit

    before_live, before_conf = live_xml(), config_xml()
    r = d.virsh("attach-disk", "hps", hot, "sda", "--targetbus", "scsi", "--live")
    t.ok(r.returncode != 0 and "target sda already exists" in r.stderr,
         "a live SCSI disk whose target is in use is refused", r.stderr)
    other = d.write("other.xml", f"""<disk type='file' device='disk'>
  <source file='{hot}'/>
  <target dev='sdh' bus='scsi'/>
  <address type='drive' controller='3' bus='0' target='0' unit='0'/>
</disk>
""")
    r = d.virsh("attach-device", "hps", other, "--live")
    t.ok(r.returncode != 0 and "no SCSI controller with index 3" in r.stderr,
         "a live SCSI disk on a controller the domain lacks is refused", r.stderr)
    t.ok(live_xml() == before_live and config_xml() == before_conf,
         "after the refusals both definitions are unchanged", live_xml())

    r = d.virsh("attach-disk", "hps", hot, "sdb", "--targetbus", "scsi", "--live")
    t.ok(r.returncode == 0, "virsh attach-disk sdb --targetbus scsi --live", r.stderr)
    ok = wait_console("scsi-hotplug: target ")
    m = re.search(r"scsi-hotplug: target (\d+) lun (\d+) crc32=([0-9a-f]{8})", console())
    t.ok(m and m.group(1) == "0" and m.group(2) == "1" and m.group(3) == want,
         f"the guest was told of target 0 LUN 1 and reads it: CRC-32 {want}", console()[-1500:])
    x = live_xml()
    t.ok(re.search(r"<target dev='sdb' bus='scsi'/>\s*<alias name='scsi0-0-0-1'/>\s*"
                   r"<address type='drive' controller='0' bus='0' target='0' unit='1'/>", x),
         "the live XML shows sdb (scsi0-0-0-1) at libvirt's drive address", x)
    t.ok("sdb" not in config_xml(), "--live leaves the definition alone")
    wait_console("scsi-hotplug: used")
    r = subprocess.run([VSH, "-c", d.vsh_uri, "detach-disk", "hps", "sdb", "--live"], env=d.env,
                       capture_output=True, text=True, timeout=120)
    t.ok(r.returncode == 0 and r.stdout == "Disk detached successfully\n\n",
         "vsh detach-disk sdb --live: virsh's line", r.stdout + r.stderr)
    ok = wait_console("scsi-hotplug: removed")
    t.ok(ok and "not ok" not in console(),
         "the guest was told (removed event), the unit is gone, every guest check passed",
         console()[-1500:])
    wait_for(lambda: "sdb" not in live_xml(), 30, 0.2)
    t.ok("sdb" not in live_xml(), "the live XML has lost sdb", live_xml())
    # A CD-ROM the same way (the guest no longer watches; vireo-vmm takes it as scsi-cd).
    r = d.virsh("attach-disk", "hps", hot, "sdc", "--targetbus", "scsi", "--type", "cdrom",
                "--mode", "readonly", "--live")
    x = live_xml()
    t.ok(r.returncode == 0 and re.search(
        r"<disk type='file' device='cdrom'>(?:(?!</disk>).|\n)*<target dev='sdc' bus='scsi'/>"
        r"\s*<readonly/>\s*<alias name='scsi0-0-0-2'/>", x),
        "virsh attach-disk --type cdrom --targetbus scsi --live: sdc (scsi0-0-0-2) is live",
        r.stderr + x)
    r = d.virsh("detach-disk", "hps", "sdc", "--live")
    t.ok(r.returncode == 0 and wait_for(lambda: "sdc" not in live_xml(), 30, 0.2),
         "virsh detach-disk sdc --live: the CD-ROM is gone", r.stderr + live_xml())
    d.virsh("destroy", "hps")
    rc = d.stop()
    out = open(os.path.join(d.tmp, "vireod.out"), errors="replace").read()
    t.ok(rc == 0 and "Sanitizer" not in out, "vireod ends cleanly",
         f"exit {rc}\n{out[-3000:]}")
finally:
    if t.failed:
        d.dump_log()
    d.cleanup(names)
t.done()
