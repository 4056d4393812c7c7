#!/usr/bin/env python3
"""-kernel/-append on pc and q35 through SeaBIOS, under vireo-vmm and QEMU with
the same command lines in the same run.

Usage: test-fwkernel.py VMM GUEST_ELF GUEST_MULTIBOOT_ELF GUEST_NOPVH_ELF BOOTSECTOR
  VMM: the vireo-vmm binary.
  GUEST_ELF: the test guest (an ELF with a PVH note).
  GUEST_MULTIBOOT_ELF: its -multiboot build (booted through multiboot_dma.bin).
  GUEST_NOPVH_ELF: its -nopvh build (refused).
  BOOTSECTOR: tests/guest/boot's boot sector, put on a disk with bootindex=1.

QEMU hands a PVH ELF given with -kernel on pc/q35 to SeaBIOS as fw_cfg items
(entry, load address, command line) with the option ROM pvh.bin as
genroms/pvh.bin at boot index 0; SeaBIOS runs it before the disk, and it enters
the guest in 32-bit mode with a PVH start info it builds (memory map from
int 15h, the RSDP SeaBIOS placed, the command line from fw_cfg). The guest runs
its boot, memory and command line tests, prints TAP on COM1 and leaves through
isa-debug-exit: its PVH entry, its command line and passing tests (under both
VMMs) show the kernel went through the firmware; the disk with bootindex=1,
whose boot sector would print its own line, shows the ROM comes first.

The guest's -multiboot build (Multiboot 1 header with address fields; QEMU tries
Multiboot before PVH) goes through multiboot_dma.bin with two modules from
-initrd "m1 a b,m2": the guest prints the Multiboot information it got (boot
loader name, command line = kernel path + -append, each module's command line,
size and crc32, mem_lower/upper, the memory map the ROM read from the BIOS), and
those lines must be the same under vireo-vmm and QEMU. Kernels this path cannot
boot (an ELF without a PVH note, bad Multiboot headers and modules) and -append
or -initrd without -kernel are refused with one line. Prints TAP.
"""
import difflib
import os
import re
import subprocess
import sys
import tempfile
import time

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


def boot_multiboot(tap, vmm, label, machine, kernel, append, modules):
    """Boots the -multiboot guest with modules; returns its '# multiboot:', '# cmdline:'
    and '# boot loader:' lines (None when it did not pass)."""
    cmd = vmm + ["-M", machine, "-nodefaults", "-display", "none", "-m", "128",
                 "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=1",
                 "-kernel", kernel, "-append", append, "-initrd", modules]
    name = "%s -M %s: SeaBIOS boots -kernel (Multiboot) through multiboot_dma.bin" % (
        label, machine)
    g = Guest(cmd)
    try:
        g.wait_line("# vireo-testguest", timeout=TIMEOUT)
        status, out, err = g.finish(timeout=120)
    except Exception as e:  # a timeout: report what there was
        g.kill()
        tap.check(False, name, "%s\n%s\ncommand: %s" % (e, g.text(), " ".join(cmd)))
        return None
    lines = out.splitlines()
    start = next((i for i, l in enumerate(lines) if l.startswith("# vireo-testguest")), None)
    tail = lines[start:] if start is not None else []
    oks = [l for l in tail if re.match(r"^ok \d+\b", l)]
    bad = [l for l in tail if l.startswith("not ok") or l.startswith("Bail out!")]
    plan = [l for l in tail if re.match(r"^1\.\.\d+$", l)]
    entry = any("entry: multiboot" in l for l in tail)
    good = (entry and not bad and len(oks) > 0 and plan == ["1..%d" % len(oks)] and
            status == 1)
    tap.check(good, name, "status %s (want 1), multiboot entry %s, %d ok, failures %r, "
              "plan %r\n%s\nstderr: %s\ncommand: %s"
              % (status, entry, len(oks), bad, plan, out, err, " ".join(cmd)))
    return [l for l in tail if l.startswith(("# multiboot:", "# cmdline:", "# boot loader:",
                                              "# initrd:"))]


def multiboot(tap, vmm, machine, kernel, tmp):
    m1 = os.path.join(tmp, "m1")
    m2 = os.path.join(tmp, "m2")
    with open(m1, "wb") as f:
        f.write(bytes((i * 7) & 0xff for i in range(5000)))
    with open(m2, "wb") as f:
        f.write(b"second module\n")
    append = "tests=boot,mem,cmdline,initrd initrd_size=5000 fwkernel-multiboot"
    modules = "%s a b,%s" % (m1, m2)
    got = {}
    for label, tool in (("vireo-vmm", vmm), ("qemu", QEMU)):
        got[label] = boot_multiboot(tap, tool, label, machine, kernel, append, modules)
    v = got["vireo-vmm"] or []
    want = ["# cmdline: %s %s" % (kernel, append), "# boot loader: qemu",
            "# multiboot: 2 modules"]
    mods = [l for l in v if re.match(r"^# multiboot: module \d", l)]
    tap.check(all(w in v for w in want) and len(mods) == 2 and
              mods[0].startswith("# multiboot: module 0 '%s a b' 5000 bytes" % m1) and
              mods[1].startswith("# multiboot: module 1 '%s' 14 bytes" % m2) and
              all(l.endswith("page-aligned yes") for l in mods),
              "vireo-vmm -M %s: the Multiboot information names the loader, the kernel's "
              "command line and both modules with their command lines" % machine,
              "want %r and two page-aligned modules in\n%s" % (want, "\n".join(v)))
    q = got["qemu"] or []
    for label, lines in (("vireo-vmm", v), ("qemu", q)):
        tap.check(lines and mem_upper_matches(lines),
                  "%s -M %s: mem_upper is the usable RAM from 1 MiB in the memory map" % (
                      label, machine), "\n".join(lines))
    tap.check(v and normalise(v) == normalise(q),
              "-M %s: the guest reports the same Multiboot information under vireo-vmm "
              "and QEMU (but for the reserved top of RAM)" % machine,
              "\n".join(difflib.unified_diff(normalise(q), normalise(v), "qemu", "vireo-vmm",
                                             lineterm="")))


MMAP = re.compile(r"^# multiboot: mmap \d+: 0x([0-9a-f]+) \+0x([0-9a-f]+) type (\d+)$")


def mmap(lines):
    return [(int(m.group(1), 16), int(m.group(2), 16), int(m.group(3)))
            for m in (MMAP.match(l) for l in lines) if m]


def mem_upper_matches(lines):
    m = next((re.search(r"mem_upper (\d+)", l) for l in lines if "mem_upper" in l), None)
    high = [e for e in mmap(lines) if e[0] == 0x100000 and e[2] == 1]
    return m is not None and len(high) == 1 and int(m.group(1)) == high[0][1] // 1024


def normalise(lines):
    """The lines with the top of low RAM's split between usable RAM and what SeaBIOS
    reserves there left out: SeaBIOS keeps its high tables (the ACPI tables among them)
    there, and QEMU pads its ACPI tables to 128 KiB where vireo-vmm's are as large as they
    are, so mem_upper and that boundary differ by design (the check above holds for each)."""
    entries = mmap(lines)
    out = []
    for l in lines:
        if MMAP.match(l):
            continue
        out.append(re.sub(r"mem_upper \d+", "mem_upper N", l))
    i = 0
    while i < len(entries):
        a = entries[i]
        if (i + 1 < len(entries) and a[2] == 1 and entries[i + 1][2] == 2 and
                a[0] + a[1] == entries[i + 1][0]):
            b = entries[i + 1]
            out.append("# mmap: 0x%x-0x%x usable, then reserved to its end" % (
                a[0], b[0] + b[1]))
            i += 2
            continue
        out.append("# mmap: 0x%x +0x%x type %d" % a)
        i += 1
    return out


def mb_kernel(path, flags, load_addr, size=64, load_end=0, bss_end=0, header_addr=None):
    """A small Multiboot kernel with its header at offset 0 (address fields when
    flags has bit 16), written to path."""
    import struct
    magic = 0x1badb002
    head = struct.pack("<III", magic, flags, (-(magic + flags)) & 0xffffffff)
    if flags & 0x10000:
        head += struct.pack("<IIIII", load_addr if header_addr is None else header_addr,
                            load_addr, load_end, bss_end, load_addr + 32)
    with open(path, "wb") as f:
        f.write((head + b"\xf4" * max(0, size - len(head)))[:size])
    return path


def refused(tap, vmm, name, args, want):
    p = subprocess.run(vmm + ["-M", "pc", "-nodefaults", "-display", "none"] + args,
                       capture_output=True, text=True, timeout=60)
    lines = p.stderr.strip().splitlines()
    tap.check(p.returncode != 0 and len(lines) == 1 and want in lines[0], name,
              "status %d, stderr %r (want one line with %r)" % (p.returncode, p.stderr, want))


def daemonized_relative_module(tap, vmm, kernel, tmp):
    """-daemonize moves to / only once the VM is built: a Multiboot module named relative
    to the caller's directory is read from there (as QEMU reads it before its chdir)."""
    with open(os.path.join(tmp, "rel-module"), "wb") as f:
        f.write(b"relative module\n")
    log, pid = os.path.join(tmp, "daemon.log"), os.path.join(tmp, "daemon.pid")
    vmm = [os.path.abspath(vmm[0])] + vmm[1:]
    kernel = os.path.abspath(kernel)
    p = subprocess.run(vmm + ["-M", "q35", "-nodefaults", "-display", "none", "-m", "128",
                              "-serial", "file:" + log, "-device",
                              "isa-debug-exit,iobase=0xf4,iosize=1", "-kernel", kernel,
                              "-append", "tests=boot,initrd fwkernel-multiboot", "-initrd",
                              "rel-module x y", "-daemonize", "-pidfile", pid],
                       cwd=tmp, capture_output=True, text=True, timeout=60)
    want = "# multiboot: module 0 'rel-module x y' 16 bytes"
    text = ""
    for _ in range(TIMEOUT * 5):
        text = open(log, errors="replace").read() if os.path.exists(log) else ""
        if re.search(r"^1\.\.\d+", text, re.M):
            break
        time.sleep(0.2)
    tap.check(p.returncode == 0 and want in text and "not ok" not in text,
              "-daemonize: a Multiboot module named relative to the caller's directory is "
              "found and keeps its name", "status %d %s\n%s" % (p.returncode, p.stderr, text))
    try:
        os.kill(int(open(pid).read()), 9)
    except (OSError, ValueError):
        pass


def main():
    vmm = [sys.argv[1]]
    elf, multiboot_elf, nopvh, sector_path = sys.argv[2:6]
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
            multiboot(tap, vmm, machine, multiboot_elf, tmp)
        daemonized_relative_module(tap, vmm, multiboot_elf, tmp)
        mb = os.path.join(tmp, "mb.bin")
        refused(tap, vmm, "Multiboot: a header whose address fields are cut off is refused",
                ["-kernel", mb_kernel(mb, 0x10000, 0, size=20)], "is truncated")
        refused(tap, vmm, "Multiboot: a load address over the Multiboot information is refused",
                ["-kernel", mb_kernel(mb, 0x10000, 0x9000)], "must load inside RAM")
        refused(tap, vmm, "Multiboot: a load address in the ROM area is refused",
                ["-kernel", mb_kernel(mb, 0x10000, 0xf0000)], "must load inside RAM")
        refused(tap, vmm, "Multiboot: a load address outside RAM is refused",
                ["-m", "128", "-kernel", mb_kernel(mb, 0x10000, 0x10000000)],
                "must load inside RAM")
        refused(tap, vmm, "Multiboot: bss_end_addr below the image's end is refused",
                ["-kernel", mb_kernel(mb, 0x10000, 0x200000, bss_end=0x200010)],
                "invalid bss_end_addr")
        refused(tap, vmm, "Multiboot: a video mode request (flag 2) is refused",
                ["-kernel", mb_kernel(mb, 0x10004, 0x200000)], "asks for a video mode")
        refused(tap, vmm, "Multiboot: a missing module file is refused",
                ["-kernel", multiboot_elf, "-initrd", os.path.join(tmp, "absent") + " x"],
                "Multiboot module 1")
        refused(tap, vmm, "Multiboot: too many modules are refused",
                ["-kernel", multiboot_elf, "-initrd", ",".join([sector_path] * 65)],
                "more than 64 Multiboot modules")
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
