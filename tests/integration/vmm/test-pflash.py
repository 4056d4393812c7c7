#!/usr/bin/env python3
"""-drive if=pflash end to end, under vireo-vmm and QEMU with the same command line.

Usage: test-pflash.py VIREO_VMM GUEST_ELF
  GUEST_ELF: the test guest's -multiboot build.

pflash0 is a copy of Debian's SeaBIOS (bios-256k.bin, readonly=on), so the
machine starts from the flash; pflash1 is a 64 KiB variable store filled with
byte i = (i * 7 + 3) & 0xff. SeaBIOS boots a disk in which GRUB loads the test
guest (the disk of test-grub.py), and the guest's tests=pflash (t-pflash.c)
drives the CFI commands on both flashes. Checked, for each VMM:
 - every guest TAP line passes and the guest exits through isa-debug-exit;
 - pflash1's file afterwards holds exactly what the guest programmed, erased
   and wrote through the buffer, and nothing else changed;
 - pflash0's file is unchanged (read-only);
and then the guest's "# pflash:" lines (CFI table, ids, status values, read
backs) are the same under vireo-vmm and qemu-system-x86_64 (QEMU 7.2's
pflash_cfi01 is the reference). Both run SeaBIOS and GRUB in KVM's emulator
here: a minute or two each. Prints TAP.
"""
import importlib.util
import os
import re
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from vmmlib import Guest, Tap  # noqa: E402

TIMEOUT = 400
SEABIOS = "/usr/share/seabios/bios-256k.bin"
VARS_SIZE = 64 << 10
FOUR_GIB = 1 << 32


def load_grub_disk_maker():
    """test-grub.py's make_disk (GRUB's boot.img and core.img, an ext2 partition)."""
    spec = importlib.util.spec_from_file_location("test_grub", os.path.join(HERE, "test-grub.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def pattern(n):
    return bytearray((i * 7 + 3) & 0xff for i in range(n))


def expected_vars():
    """pflash1's bytes after t-pflash.c's program, erase and buffer write."""
    b = pattern(VARS_SIZE)
    for i in range(8):
        b[0x1000 + i] = 0xa0 + i
    b[0x1010:0x1014] = bytes([0x11, 0x22, 0x33, 0x44])
    b[0x2000:0x3000] = b"\xff" * 0x1000
    b[0x3000:0x3004] = bytes([0x5a ^ i for i in range(4)])
    return bytes(b)


def run(tap, name, vmm_cmd, tmp, disk):
    code = os.path.join(tmp, name + "-code.fd")
    shutil.copyfile(SEABIOS, code)
    with open(SEABIOS, "rb") as f:
        seabios = f.read()
    vars_ = os.path.join(tmp, name + "-vars.fd")
    with open(vars_, "wb") as f:
        f.write(pattern(VARS_SIZE))
    cmd = vmm_cmd + ["-M", "pc", "-nodefaults", "-display", "none", "-m", "128",
                     "-serial", "stdio",
                     "-drive", "if=pflash,format=raw,unit=0,readonly=on,file=%s" % code,
                     "-drive", "if=pflash,format=raw,unit=1,file=%s" % vars_,
                     "-device", "isa-debug-exit,iobase=0xf4,iosize=1",
                     "-drive", "file=%s,format=raw,if=none,id=d0" % disk,
                     "-device", "virtio-blk-pci,drive=d0,bootindex=1"]
    g = Guest(cmd)
    try:
        g.wait_line("# vireo-testguest", timeout=TIMEOUT)
        status, out, err = g.finish(timeout=120)
    except Exception as e:  # a timeout: report what there was
        g.kill()
        tap.check(False, "%s: the test guest ran from SeaBIOS in pflash0" % name,
                  "%s\n%s\ncommand: %s" % (e, g.text(), " ".join(cmd)))
        return None
    lines = out.splitlines()
    start = next((i for i, l in enumerate(lines) if l.startswith("# vireo-testguest")), None)
    tail = lines[start:] if start is not None else []
    oks = [l for l in tail if re.match(r"^ok \d+ - pflash: ", l)]
    bad = [l for l in tail if l.startswith("not ok") or l.startswith("Bail out!")]
    tap.check(status == 1 and not bad and len(oks) == 7,
              "%s: the guest's pflash tests pass (7 of 7)" % name,
              "status %s, failures %r\n%s\nstderr: %s\ncommand: %s"
              % (status, bad, out, err, " ".join(cmd)))
    with open(vars_, "rb") as f:
        got = f.read()
    want = expected_vars()
    diff = [i for i in range(min(len(got), len(want))) if got[i] != want[i]]
    tap.check(len(got) == len(want) and not diff,
              "%s: pflash1's file holds the programmed, erased and buffered bytes, only them"
              % name, "size %d, first differing offsets %s" % (len(got), [hex(i) for i in
                                                                         diff[:8]]))
    with open(code, "rb") as f:
        tap.check(f.read() == seabios, "%s: pflash0 (readonly=on) is unchanged" % name)
    return [l for l in tail if l.startswith("# pflash:")]


def main():
    vireo, elf = sys.argv[1], sys.argv[2]
    tap = Tap()
    grub = load_grub_disk_maker()
    base0 = FOUR_GIB - os.path.getsize(SEABIOS)
    base1 = base0 - VARS_SIZE
    grub.SCRIPT = ("multiboot (hd0,msdos1)/boot/vireo-testguest.elf tests=pflash "
                   "pflash_base=%x pflash_size=%x pflash0_base=%x\nboot\n"
                   % (base1, VARS_SIZE, base0))
    with tempfile.TemporaryDirectory(prefix="vireo-pflash-",
                                     dir=os.environ.get("MESON_BUILD_ROOT")) as tmp:
        disk = grub.make_disk(tmp, elf)
        mine = run(tap, "vireo-vmm", [vireo], tmp, disk)
        ref = run(tap, "qemu", ["qemu-system-x86_64", "-enable-kvm"], tmp, disk)
        if mine is not None and ref is not None:
            tap.check(mine == ref and len(mine) >= 8,
                      "the guest reads the same flash values under vireo-vmm and QEMU",
                      "vireo-vmm:\n%s\nQEMU:\n%s" % ("\n".join(mine), "\n".join(ref)))
        else:
            tap.check(False, "the guest reads the same flash values under vireo-vmm and QEMU",
                      "a run failed")
    return tap.report()


if __name__ == "__main__":
    sys.exit(main())
