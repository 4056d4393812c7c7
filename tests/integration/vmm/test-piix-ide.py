#!/usr/bin/env python3
"""pc's PIIX3 IDE (00:01.1) under vireo-vmm and QEMU in the same run: Debian's
SeaBIOS (bios-256k.bin, which drives IDE by PIO) boots the project's boot sector
from an IDE CD-ROM (-cdrom, an El Torito ISO made with xorriso, -boot d), from an
IDE disk (-hda), and, by bootindex=, from a slave disk on the primary bus and a
slave CD-ROM on the secondary bus (-device ide-hd/ide-cd,bus=ide.N,unit=1) next
to masters that must not be picked. Each boot's serial output and exit status
must name the medium the configuration says, and be the same under both VMMs.

query-pci shows 00:01.1 as QEMU's piix3-ide (8086:7010, class 0101, BAR 4 of 16
I/O ports) under both; a paused VM with IDE drives saves to a file and the
restored VM boots the ISO.

Bad input, each refused by vireo-vmm with one line (QEMU's wording where it has
one) and no VM: unit=2, bus=ide.2, two drives on one unit (-device, and -drive
index= twice), and an index beyond pc's four IDE places.

Usage: test-piix-ide.py VIREO_VMM BOOTSECTOR
The reference is "qemu-system-x86_64 -enable-kvm". SeaBIOS runs in KVM's
instruction emulator on this machine's nested KVM: each boot takes tens of
seconds. Prints TAP.
"""
import os
import shlex
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmmlib import Guest, Qmp, Tap  # noqa: E402

TIMEOUT = 300
QEMU = "qemu-system-x86_64 -enable-kvm"


def with_letter(sector, letter):
    d = bytearray(sector)
    i = d.index(b"disk ?")
    d[i + 5] = ord(letter)
    return bytes(d)


def make_disk(path, sector, letter):
    with open(path, "wb") as f:
        f.write(with_letter(sector, letter))
        f.truncate(1 << 20)


def make_iso(tmp, sector, letter):
    """An El Torito ISO (no emulation) whose boot image is the boot sector with `letter`."""
    src = os.path.join(tmp, "iso-" + letter)
    os.mkdir(src)
    with open(os.path.join(src, "boot.img"), "wb") as f:
        f.write(with_letter(sector, letter) + bytes(2048 - len(sector)))
    iso = os.path.join(tmp, letter + ".iso")
    subprocess.run(["xorriso", "-as", "mkisofs", "-quiet", "-V", "BOOT" + letter, "-b",
                    "boot.img", "-no-emul-boot", "-boot-load-size", "4", "-o", iso, src],
                   check=True, capture_output=True)
    return iso


def base(vmm):
    return shlex.split(vmm) + ["-M", "pc", "-nodefaults", "-display", "none", "-m", "64",
                               "-serial", "stdio",
                               "-device", "isa-debug-exit,iobase=0xf4,iosize=1"]


def boot(vmm, args):
    """(exit status, serial output) of a boot, or (None, why)."""
    cmd = base(vmm) + args
    g = Guest(cmd)
    try:
        g.wait_line("vireo boot sector:", timeout=TIMEOUT)
        status, out, err = g.finish(timeout=60)
    except Exception as e:  # a timeout: report what there was
        g.kill()
        return None, "%s\n%s\ncommand: %s" % (e, g.text(), " ".join(cmd))
    return status, out


def check_boot(tap, vireo, name, args, expect):
    want = "vireo boot sector: booted from disk %s" % expect
    status_want = ((ord(expect) << 1) | 1) & 0xff
    results = {}
    for label, vmm in (("vireo-vmm", vireo), ("QEMU", QEMU)):
        status, out = boot(vmm, args)
        results[label] = (status, out)
        lines = [ln.strip() for ln in (out or "").splitlines() if ln.strip()]
        tap.check(status == status_want and want in lines, "%s: %s" % (label, name),
                  "status %s\n%s\ncommand: %s" % (status, out, " ".join(base(vmm) + args)))
    (s1, o1), (s2, o2) = results["vireo-vmm"], results["QEMU"]
    tap.check(s1 == s2 and o1 == o2, "%s: the same serial output and status under both" % name,
              "vireo-vmm: %s %r\nQEMU: %s %r" % (s1, o1, s2, o2))


def ide_function(vmm, args, sock):
    """query-pci's entry for 00:01.1 of a paused VM (vendor, device, class, BAR kinds/sizes)."""
    g = Guest(base(vmm) + args + ["-S", "-qmp", "unix:%s,server=on,wait=off" % sock])
    try:
        q = Qmp(sock)
        r = q.cmd("query-pci")
        q.cmd("quit")
        q.close()
        g.finish(timeout=30)
    finally:
        g.kill()
    for bus in r.get("return", []):
        for dev in bus.get("devices", []):
            if dev.get("slot") == 1 and dev.get("function") == 1:
                return {"vendor": dev["id"]["vendor"], "device": dev["id"]["device"],
                        "class": dev["class_info"]["class"],
                        "bars": sorted((b["bar"], b["type"], b["size"])
                                       for b in dev.get("regions", []))}
    return r


def save_restore(tap, vireo, tmp, args):
    """A paused VM with IDE drives saved to a file and restored: the restored VM boots."""
    sock, state = os.path.join(tmp, "s.sock"), os.path.join(tmp, "vm.state")
    g = Guest(base(vireo) + args + ["-S", "-qmp", "unix:%s,server=on,wait=off" % sock])
    try:
        q = Qmp(sock)
        r = q.cmd("migrate", {"uri": "file:" + state})
        for _ in range(600):
            m = q.cmd("query-migrate").get("return", {})
            if m.get("status") in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.05)
        q.cmd("quit")
        q.close()
        g.finish(timeout=30)
    finally:
        g.kill()
    tap.check("return" in r and m.get("status") == "completed",
              "vireo-vmm: a pc VM with IDE drives saves (migrate to a file)", "%s %s" % (r, m))
    sock2 = os.path.join(tmp, "r.sock")
    g = Guest(base(vireo) + args + ["-incoming", "file:" + state,
                                    "-qmp", "unix:%s,server=on,wait=off" % sock2])
    try:
        q = Qmp(sock2)
        q.cmd("cont")
        line = g.wait_line("vireo boot sector:", timeout=TIMEOUT)
        q.close()
        status, out, err = g.finish(timeout=60)
    except Exception as e:
        g.kill()
        line, status, out, err = None, None, g.text(), repr(e)
    tap.check(line is not None and "booted from disk C" in line and status == ((ord("C") << 1) | 1),
              "vireo-vmm: the restored VM boots the ISO from its IDE CD-ROM",
              "status %s\n%s\n%s" % (status, out, err))


def refused(tap, vireo, name, args, words):
    cmd = base(vireo) + args
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        tap.check(False, name, "vireo-vmm started a VM: " + " ".join(cmd))
        return
    lines = p.stderr.strip().splitlines()
    tap.check(p.returncode != 0 and len(lines) == 1 and words in lines[0] and not p.stdout,
              name, "exit %d, stderr %r, stdout %r" % (p.returncode, p.stderr, p.stdout))


def main():
    vireo, sector_path = sys.argv[1], sys.argv[2]
    with open(sector_path, "rb") as f:
        sector = f.read()
    tap = Tap()
    with tempfile.TemporaryDirectory(prefix="vireo-ide-") as tmp:
        a, b = os.path.join(tmp, "a.img"), os.path.join(tmp, "b.img")
        make_disk(a, sector, "A")
        make_disk(b, sector, "B")
        c = make_iso(tmp, sector, "C")
        d = make_iso(tmp, sector, "D")
        check_boot(tap, vireo, "SeaBIOS boots -cdrom (El Torito, secondary master) with -boot d",
                   ["-cdrom", c, "-boot", "d"], "C")
        check_boot(tap, vireo, "SeaBIOS boots -hda (primary master)", ["-hda", a], "A")
        check_boot(tap, vireo, "bootindex picks the primary slave disk over the master",
                   ["-drive", "file=%s,format=raw,if=none,id=ma" % a,
                    "-device", "ide-hd,drive=ma,bus=ide.0,unit=0",
                    "-drive", "file=%s,format=raw,if=none,id=sl" % b,
                    "-device", "ide-hd,drive=sl,bus=ide.0,unit=1,bootindex=1"], "B")
        check_boot(tap, vireo, "bootindex picks the secondary slave CD-ROM",
                   ["-hda", a, "-cdrom", c,
                    "-drive", "file=%s,format=raw,if=none,id=cd1,media=cdrom" % d,
                    "-device", "ide-cd,drive=cd1,bus=ide.1,unit=1,bootindex=1"], "D")

        fn = {}
        for label, vmm in (("vireo-vmm", vireo), ("QEMU", QEMU)):
            fn[label] = ide_function(vmm, ["-hda", a, "-cdrom", c], os.path.join(tmp, "p.sock"))
        want = {"vendor": 0x8086, "device": 0x7010, "class": 0x0101,
                "bars": [(4, "io", 16)]}
        tap.check(fn["vireo-vmm"] == want and fn["QEMU"] == want,
                  "query-pci: 00:01.1 is 8086:7010, class 0101, BAR 4 16 I/O ports, as QEMU's",
                  repr(fn))
        save_restore(tap, vireo, tmp, ["-hda", a, "-cdrom", c, "-boot", "d"])

        hd = ["-drive", "file=%s,format=raw,if=none,id=x" % a]
        refused(tap, vireo, "unit=2 is refused", hd + ["-device", "ide-hd,drive=x,unit=2"],
                "Can't create IDE unit 2, bus supports only 2 units")
        refused(tap, vireo, "bus=ide.2 is refused", hd + ["-device", "ide-hd,drive=x,bus=ide.2"],
                "Bus 'ide.2' not found")
        refused(tap, vireo, "two drives on one unit are refused",
                hd + ["-drive", "file=%s,format=raw,if=none,id=y" % b,
                      "-device", "ide-hd,drive=x,bus=ide.0,unit=0",
                      "-device", "ide-hd,drive=y,bus=ide.0,unit=0"], "IDE unit 0 is in use")
        refused(tap, vireo, "-drive if=ide with the same index twice is refused",
                ["-drive", "file=%s,format=raw,if=ide,index=1" % a,
                 "-drive", "file=%s,format=raw,if=ide,index=1" % b],
                "drive with bus=0, unit=1 (index=1) exists")
        refused(tap, vireo, "-drive if=ide,index=4 is refused on pc",
                ["-drive", "file=%s,format=raw,if=ide,index=4" % a],
                "machine type does not support if=ide,bus=2,unit=0")
    return tap.report()


if __name__ == "__main__":
    sys.exit(main())
