#!/usr/bin/env python3
"""-kernel/-append on pc and q35 through SeaBIOS, under vireo-vmm and QEMU with
the same command lines in the same run.

Usage: test-fwkernel.py VMM GUEST_ELF GUEST_MULTIBOOT_ELF GUEST_NOPVH_ELF BOOTSECTOR
  VMM: the vireo-vmm binary.
  GUEST_ELF: the test guest (an ELF with a PVH note).
  GUEST_MULTIBOOT_ELF, GUEST_NOPVH_ELF: its -multiboot and -nopvh builds (refused).
  BOOTSECTOR: tests/guest/boot's boot sector, put on a disk with bootindex=1.

QEMU hands a PVH ELF given with -kernel on pc/q35 to SeaBIOS as fw_cfg items
(entry, load address, command line) with the option ROM pvh.bin as
genroms/pvh.bin at boot index 0; SeaBIOS runs it before the disk, and it enters
the guest in 32-bit mode with a PVH start info it builds (memory map from
int 15h, the RSDP SeaBIOS placed, the command line from fw_cfg). The guest runs
its boot, memory and command line tests, prints TAP on COM1 and leaves through
isa-debug-exit: its PVH entry, its command line and passing tests (under both
VMMs) show the kernel went through the firmware; the disk with bootindex=1,
whose boot sector would print its own line, shows the ROM comes first. Kernels
this path cannot boot (Multiboot, an ELF without a PVH note) and -append or
-initrd without -kernel are refused with one line. Prints TAP.
"""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmmlib import Guest, Tap  # noqa: E402

TIMEOUT = 300
QEMU = ["qemu-system-x86_64", "-enable-kvm"]
APPEND = "tests=boot,mem,cmdline mem=128M fwkernel-test"


def boot(tap, vmm, label, machine, kernel, disk):
    cmd = vmm + ["-M", machine, "-nodefaults", "-display", "none", "-m", "128",
                 "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=1",
                 "-kernel", kernel, "-append", APPEND,
                 "-drive", "file=%s,format=raw,if=none,id=d0" % disk,
                 "-device", "virtio-blk-pci,drive=d0,bootindex=1"]
    name = "%s -M %s: SeaBIOS boots -kernel (PVH ELF) through pvh.bin" % (label, machine)
    g = Guest(cmd)
    try:
        g.wait_line("# vireo-testguest", timeout=TIMEOUT)
        status, out, err = g.finish(timeout=120)
    except Exception as e:  # a timeout: report what there was
        g.kill()
        tap.check(False, name, "%s\n%s\ncommand: %s" % (e, g.text(), " ".join(cmd)))
        tap.check(False, "%s -M %s: the guest got -append's command line" % (label, machine))
        return
    lines = out.splitlines()
    start = next((i for i, l in enumerate(lines) if l.startswith("# vireo-testguest")), None)
    tail = lines[start:] if start is not None else []
    oks = [l for l in tail if re.match(r"^ok \d+\b", l)]
    bad = [l for l in tail if l.startswith("not ok") or l.startswith("Bail out!")]
    plan = [l for l in tail if re.match(r"^1\.\.\d+$", l)]
    pvh = any("entry: pvh" in l for l in tail)
    disk = any("vireo boot sector" in l for l in lines)
    good = (pvh and not disk and not bad and len(oks) > 0 and plan == ["1..%d" % len(oks)] and
            status == 1)
    tap.check(good, name, "status %s (want 1), PVH entry %s, boot sector ran %s, %d ok, "
              "failures %r, plan %r\n%s\nstderr: %s\ncommand: %s"
              % (status, pvh, disk, len(oks), bad, plan, out, err, " ".join(cmd)))
    tap.check("# cmdline: " + APPEND in tail,
              "%s -M %s: the guest got -append's command line" % (label, machine), out)


def refused(tap, vmm, name, args, want):
    p = subprocess.run(vmm + ["-M", "pc", "-nodefaults", "-display", "none"] + args,
                       capture_output=True, text=True, timeout=60)
    lines = p.stderr.strip().splitlines()
    tap.check(p.returncode != 0 and len(lines) == 1 and want in lines[0], name,
              "status %d, stderr %r (want one line with %r)" % (p.returncode, p.stderr, want))


def main():
    vmm = [sys.argv[1]]
    elf, multiboot, nopvh, sector_path = sys.argv[2:6]
    tap = Tap()
    with tempfile.TemporaryDirectory(prefix="vireo-fwkernel-") as tmp:
        with open(sector_path, "rb") as f:
            sector = bytearray(f.read())
        disk = os.path.join(tmp, "disk.img")
        with open(disk, "wb") as f:
            f.write(bytes(sector))
            f.truncate(1 << 20)
        for machine in ("pc", "q35"):
            boot(tap, vmm, "vireo-vmm", machine, elf, disk)
            boot(tap, QEMU, "qemu", machine, elf, disk)
        refused(tap, vmm, "a Multiboot kernel through the firmware is refused",
                ["-kernel", multiboot], "a Multiboot kernel through the firmware is not supported")
        refused(tap, vmm, "an ELF without a PVH note through the firmware is refused",
                ["-kernel", nopvh], "an ELF without a PVH note")
        refused(tap, vmm, "-append without -kernel is refused", ["-append", "x"],
                "-append only allowed with -kernel option")
        refused(tap, vmm, "-initrd without -kernel is refused", ["-initrd", sector_path],
                "-initrd only allowed with -kernel option")
        refused(tap, vmm, "a kernel that is no kernel is refused", ["-kernel", sector_path],
                "neither a bzImage nor an ELF with a PVH note")
    return tap.report()


if __name__ == "__main__":
    sys.exit(main())
