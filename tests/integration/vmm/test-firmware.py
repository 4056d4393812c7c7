#!/usr/bin/env python3
"""Firmware boots under vireo-vmm and QEMU with the same command lines: Debian's
SeaBIOS (bios-256k.bin) on the pc and q35 machines boots a project-made disk
image from virtio-blk, and the boot order (bootindex=, -boot) picks the disk; on
q35 it boots from the built-in AHCI controller: -hda, -cdrom with an El Torito
ISO (xorriso), and bootindex= on ide-hd and ide-cd.

Usage: test-firmware.py VMM BOOTSECTOR
  VMM: the vireo-vmm binary, or "qemu-system-x86_64 -enable-kvm" (the reference).
  BOOTSECTOR: tests/guest/boot's 512-byte boot sector.

Each disk is the boot sector with its letter ('A', 'B') written in, padded to
1 MiB. The boot sector prints "vireo boot sector: booted from disk X" on COM1
and leaves through isa-debug-exit with X, so the exit status is (X << 1) | 1:
both the line and the status must name the disk the boot order says. SeaBIOS
runs in KVM's instruction emulator on this machine's nested KVM, so each boot
takes tens of seconds. Prints TAP.
"""
import os
import shlex
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmmlib import Guest, Tap  # noqa: E402

TIMEOUT = 240


def make_disk(path, sector, letter):
    d = bytearray(sector)
    i = d.index(b"disk ?")
    d[i + 5] = ord(letter)
    with open(path, "wb") as f:
        f.write(bytes(d))
        f.truncate(1 << 20)


def make_iso(tmp, sector, letter):
    """An El Torito ISO (no emulation) whose boot image is the boot sector with `letter`."""
    d = bytearray(sector)
    i = d.index(b"disk ?")
    d[i + 5] = ord(letter)
    src = os.path.join(tmp, "iso-" + letter)
    os.mkdir(src)
    with open(os.path.join(src, "boot.img"), "wb") as f:
        f.write(bytes(d) + bytes(2048 - len(d)))
    iso = os.path.join(tmp, letter + ".iso")
    subprocess.run(["xorriso", "-as", "mkisofs", "-quiet", "-V", "BOOT" + letter, "-b",
                    "boot.img", "-no-emul-boot", "-boot-load-size", "4", "-o", iso, src],
                   check=True, capture_output=True)
    return iso


def boot(tap, vmm, name, machine, disks, extra, expect):
    """Boots `machine` with `disks` [(image, bootindex or None)]; expects disk `expect`."""
    cmd = shlex.split(vmm) + ["-M", machine, "-nodefaults", "-display", "none", "-m", "64",
                              "-serial", "stdio",
                              "-device", "isa-debug-exit,iobase=0xf4,iosize=1"]
    for i, (img, index) in enumerate(disks):
        cmd += ["-drive", "file=%s,format=raw,if=none,id=d%d" % (img, i)]
        dev = "virtio-blk-pci,drive=d%d" % i
        if index is not None:
            dev += ",bootindex=%d" % index
        cmd += ["-device", dev]
    cmd += extra
    g = Guest(cmd)
    try:
        line = g.wait_line("vireo boot sector:", timeout=TIMEOUT)
        status, out, err = g.finish(timeout=60)
    except Exception as e:  # a timeout: report what there was
        g.kill()
        tap.check(False, name, "%s\n%s\ncommand: %s" % (e, g.text(), " ".join(cmd)))
        return
    want = "vireo boot sector: booted from disk %s" % expect
    good = line is not None and line.strip() == want and status == (((ord(expect) << 1) | 1) & 0xff)
    tap.check(good, name, "status %s, line %r\n%s\nstderr: %s\ncommand: %s"
              % (status, line, out, err, " ".join(cmd)))


def main():
    vmm, sector_path = sys.argv[1], sys.argv[2]
    with open(sector_path, "rb") as f:
        sector = f.read()
    tap = Tap()
    with tempfile.TemporaryDirectory(prefix="vireo-fw-") as tmp:
        a, b = os.path.join(tmp, "a.img"), os.path.join(tmp, "b.img")
        make_disk(a, sector, "A")
        make_disk(b, sector, "B")
        boot(tap, vmm, "pc: SeaBIOS boots the boot sector from virtio-blk", "pc",
             [(a, None)], [], "A")
        boot(tap, vmm, "pc: bootindex picks the second disk (B=1, A=2)", "pc",
             [(a, 2), (b, 1)], [], "B")
        boot(tap, vmm, "q35: bootindex picks the first disk (A=1, B=2), strict boot order", "q35",
             [(a, 1), (b, 2)], ["-boot", "strict=on"], "A")
        boot(tap, vmm, "pc-i440fx-7.2 with -boot menu=on,splash-time=0: disk B by bootindex",
             "pc-i440fx-7.2", [(b, 1)], ["-boot", "menu=on,splash-time=0"], "B")
        # q35's built-in AHCI controller (00:1f.2): -hda, -cdrom (El Torito) and bootindex on
        # ide-hd and ide-cd.
        c = make_iso(tmp, sector, "C")
        boot(tap, vmm, "q35: SeaBIOS boots -hda from the built-in AHCI controller", "q35",
             [], ["-hda", a], "A")
        boot(tap, vmm, "q35: SeaBIOS boots -cdrom (an El Torito ISO) with -boot d", "q35",
             [], ["-cdrom", c, "-boot", "d"], "C")
        boot(tap, vmm, "q35: bootindex picks the ide-cd (1) over the ide-hd (2)", "q35", [],
             ["-drive", "file=%s,format=raw,if=none,id=hd" % b,
              "-device", "ide-hd,drive=hd,bus=ide.1,bootindex=2",
              "-drive", "file=%s,format=raw,if=none,id=cd,media=cdrom" % c,
              "-device", "ide-cd,drive=cd,bus=ide.4,bootindex=1"], "C")
    return tap.report()


if __name__ == "__main__":
    sys.exit(main())
