#!/usr/bin/env python3
"""AHCI (-device ahci) with ide-hd and ide-cd end to end, under vireo-vmm or QEMU.

Usage: test-ahci.py TEST_GUEST_ELF VMM...

VMM is the command prefix (vireo-vmm's path, or
'qemu-system-x86_64 -enable-kvm -M microvm,acpi=on,pcie=on'); the same command
lines run under both. The test guest's AHCI driver (tests=ahci, t-ahci.c)
drives a 1 MiB raw disk (random bytes) on port 0 and a CD-ROM on port 2
holding an ISO 9660 image xorriso made with volume label VOL_A:
 - every guest TAP line passes (HBA registers, signatures, IDENTIFY by PIO,
   DMA and NCQ reads and writes read back, a read past the end and the
   recovery, ATAPI IDENTIFY PACKET DEVICE, REQUEST SENSE after a refused
   packet, INQUIRY, READ CAPACITY, the ISO's label);
 - the guest's CRC-32 of the whole disk after its writes equals zlib's CRC-32
   of the file on the host (the writes landed where the guest put them);
 - QMP: query-block shows the CD-ROM removable with its tray closed and the
   ISO inserted read-only under the ide-cd's id, and the disk not removable;
   eject of the disk is refused as not removable; an empty ide-cd (media=cdrom,
   no file) has nothing inserted, loads with blockdev-change-medium and
   empties with eject; blockdev-change-medium of the guest's CD-ROM to a
   second ISO (VOL_B) emits DEVICE_TRAY_MOVED open then closed, the guest sees
   MEDIUM NOT PRESENT then MEDIUM MAY HAVE CHANGED through REQUEST SENSE and
   reads the new label; query-block names the new file.
"""
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import zlib

from vmmlib import Guest, Qmp, Tap, err_is

MIB = 1 << 20
tap = Tap()
check = tap.check


def make_iso(tmp, label, name):
    src = os.path.join(tmp, name + ".d")
    os.mkdir(src)
    with open(os.path.join(src, "readme.txt"), "w") as f:
        f.write(f"volume {label}\n")
    iso = os.path.join(tmp, name + ".iso")
    subprocess.run(["xorriso", "-as", "mkisofs", "-quiet", "-V", label, "-o", iso, src],
                   check=True, capture_output=True)
    shutil.rmtree(src)
    return iso


def main():
    elf, vmm = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="vireo-ahci-", dir=os.environ.get("MESON_BUILD_ROOT"))
    g = None
    try:
        disk = os.path.join(tmp, "disk.raw")
        with open(disk, "wb") as f:
            f.write(os.urandom(MIB))
        iso_a = make_iso(tmp, "VOL_A", "a")
        iso_b = make_iso(tmp, "VOL_B", "b")
        sock = os.path.join(tmp, "qmp.sock")
        cmd = shlex.split(vmm) + [
            "-nodefaults", "-display", "none", "-serial", "stdio", "-m", "128M",
            "-kernel", elf, "-append",
            "tests=ahci ahci_blocks=2048 ahci_cd_label=VOL_A ahci_cd_change=VOL_B",
            "-qmp", f"unix:{sock},server=on,wait=off",
            "-device", "ahci,id=sata0",
            "-drive", f"file={disk},format=raw,if=none,id=d0",
            "-device", "ide-hd,drive=d0,bus=sata0.0,id=hd0",
            "-drive", f"file={iso_a},format=raw,if=none,id=cd0,media=cdrom",
            "-device", "ide-cd,drive=cd0,bus=sata0.2,id=cdrom0",
            "-drive", "if=none,id=cd1,media=cdrom",
            "-device", "ide-cd,drive=cd1,bus=sata0.3,id=cdrom1",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=4"]
        g = Guest(cmd)
        ready = g.wait_line("ahci-cd: ready", timeout=400)
        check(ready is not None, "guest reached the media change", g.text())
        if not ready:
            return tap.report()
        q = Qmp(sock)
        qmp = q.cmd
        blk = {b["device"]: b for b in qmp("query-block")["return"]}
        cd = blk.get("cd0", {})
        check(cd.get("removable") is True and cd.get("tray_open") is False and
              cd.get("locked") is False and cd.get("qdev") == "cdrom0" and
              cd.get("inserted", {}).get("file") == iso_a and
              cd.get("inserted", {}).get("ro") is True,
              "query-block: cd0 removable, tray closed, unlocked, the ISO inserted read-only",
              json.dumps(cd))
        hd = blk.get("d0", {})
        check(hd.get("removable") is False and "tray_open" not in hd and hd.get("qdev") == "hd0"
              and hd.get("inserted", {}).get("file") == disk,
              "query-block: the ide-hd's drive is not removable", json.dumps(hd))
        r = qmp("eject", {"device": "d0"})
        check(err_is(r, "GenericError", "Device 'd0' is not removable"),
              "eject of the disk refused with QEMU's words", json.dumps(r))
        empty = blk.get("cd1", {})
        check(empty.get("removable") is True and "inserted" not in empty,
              "query-block: an empty ide-cd (media=cdrom, no file) has nothing inserted",
              json.dumps(empty))
        r = qmp("blockdev-change-medium", {"id": "cdrom1", "filename": iso_b, "format": "raw"})
        blk = {b["device"]: b for b in qmp("query-block")["return"]}
        check(r.get("return") == {} and
              blk.get("cd1", {}).get("inserted", {}).get("file") == iso_b and
              blk["cd1"].get("tray_open") is False,
              "blockdev-change-medium loads the empty ide-cd and closes its tray", json.dumps(blk))
        r = qmp("eject", {"id": "cdrom1", "force": True})
        blk = {b["device"]: b for b in qmp("query-block")["return"]}
        cd = blk.get("cd1", {})
        check(r.get("return") == {} and cd.get("tray_open") is True and "inserted" not in cd,
              "eject (force) of the ide-cd: the tray is open and the drive empty",
              json.dumps(r) + json.dumps(cd))
        q.events.clear()
        r = qmp("blockdev-change-medium", {"id": "cdrom0", "filename": iso_b, "format": "raw"})
        check(r.get("return") == {}, "blockdev-change-medium id=cdrom0 to the second ISO",
              json.dumps(r))
        moved = [(e["data"].get("id"), e["data"].get("tray-open")) for e in q.events
                 if e.get("event") == "DEVICE_TRAY_MOVED"]
        check(moved == [("cdrom0", True), ("cdrom0", False)],
              "DEVICE_TRAY_MOVED: the tray opened, then closed", json.dumps(q.events))
        r = qmp("query-block")
        blk = {b["device"]: b for b in r.get("return", [])}
        check(blk.get("cd0", {}).get("inserted", {}).get("file") == iso_b,
              "query-block names the new ISO", json.dumps(r))
        q.close()
        line = g.wait_line("ahci cd: the new ISO", timeout=300)
        check(line is not None and line.startswith("ok"),
              "the guest saw the medium change and reads VOL_B", g.text())
        rc, text, err = g.finish(timeout=120)
        check(rc == 1 and "not ok" not in text and "1..24" in text,
              "guest: every AHCI test passes", f"exit {rc}\n{text}\n{err}")
        crc = [ln.split("=", 1)[1].strip() for ln in text.splitlines() if "ahci-crc32=" in ln]
        want = "%08x" % zlib.crc32(open(disk, "rb").read())
        check(crc == [want], f"the guest's CRC-32 of the disk equals the file's ({want})",
              str(crc))
    finally:
        if g:
            g.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return tap.report()


if __name__ == "__main__":
    sys.exit(main())
