#!/usr/bin/env python3
"""Debian's GRUB loads the test guest from a disk under SeaBIOS, under vireo-vmm
and QEMU with the same command line.

Usage: test-grub.py VMM GUEST_ELF
  VMM: the vireo-vmm binary, or "qemu-system-x86_64 -enable-kvm" (the reference).
  GUEST_ELF: the test guest's -multiboot build (Multiboot 1 header).

The disk is made here without root or loop devices, as grub-install would lay
it out: GRUB's boot.img in the MBR (its code, our partition table), a core.img
from grub-mkimage (biosdisk, part_msdos, ext2, multiboot and an embedded
script) in the sectors after it, where boot.img's default kernel sector (1)
and diskboot's default block list point, and from 1 MiB an ext2 partition made
by mke2fs -d holding the guest at /boot/vireo-testguest.elf. SeaBIOS boots the
disk (virtio-blk), GRUB reads the guest from ext2 through the BIOS disk calls
and enters it with "multiboot"; the guest runs its boot, memory and command
line tests, names its loader, reads a file given with -fw_cfg (directory,
data port, DMA), prints TAP on COM1 and leaves through isa-debug-exit. Everything before the guest's 64-bit code is real and
protected mode firmware and loader code, which this machine's KVM emulates:
give it minutes. Prints TAP.
"""
import binascii
import os
import re
import shlex
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmmlib import Guest, Tap  # noqa: E402

GRUB_DIR = "/usr/lib/grub/i386-pc"
TIMEOUT = 400
PART_START = 2048  # sectors: the partition begins at 1 MiB, as partitioning tools put it
# A file handed to the guest through -fw_cfg: the guest finds it in fw_cfg's directory and
# reads it through the data port and by DMA (tests/guest/t-fwcfg.c).
FW_CFG_NAME = "opt/vireo/blob"
FW_CFG_DATA = bytes((i * 7 + (i >> 8)) & 0xff for i in range(3001))
APPEND = ("tests=boot,mem,cmdline,fwcfg mem=128M fwcfg_file=%s fwcfg_size=%d fwcfg_crc32=%08x"
          % (FW_CFG_NAME, len(FW_CFG_DATA), binascii.crc32(FW_CFG_DATA)))
SCRIPT = """multiboot (hd0,msdos1)/boot/vireo-testguest.elf %s
boot
""" % APPEND


def make_disk(tmp, elf):
    """Writes disk.img in tmp and returns its path."""
    cfg = os.path.join(tmp, "embed.cfg")
    with open(cfg, "w") as f:
        f.write(SCRIPT)
    core = os.path.join(tmp, "core.img")
    subprocess.run(["grub-mkimage", "-O", "i386-pc", "-d", GRUB_DIR, "-o", core, "-c", cfg,
                    "-p", "(hd0,msdos1)/boot/grub", "biosdisk", "part_msdos", "ext2",
                    "multiboot"], check=True)
    root = os.path.join(tmp, "root")
    os.makedirs(os.path.join(root, "boot"))
    with open(elf, "rb") as src, open(os.path.join(root, "boot", "vireo-testguest.elf"),
                                      "wb") as dst:
        dst.write(src.read())
    part = os.path.join(tmp, "part.img")
    # its "Creating regular file" line would break the TAP output
    subprocess.run(["mke2fs", "-q", "-F", "-t", "ext2", "-L", "vireo", "-d", root, part, "4M"],
                   check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(GRUB_DIR, "boot.img"), "rb") as f:
        boot = f.read()
    with open(core, "rb") as f:
        core_img = f.read()
    with open(part, "rb") as f:
        part_img = f.read()
    if len(boot) != 512 or 512 + len(core_img) > PART_START * 512:
        raise RuntimeError("boot.img is %d bytes, core.img %d: they do not fit before the "
                           "partition" % (len(boot), len(core_img)))
    mbr = bytearray(boot[:440]) + bytes(72)
    # One primary partition, type 0x83 (Linux), LBA start and size; CHS fields unused (0xfe).
    mbr[446:462] = struct.pack("<B3sB3sII", 0x80, b"\xfe\xff\xff", 0x83, b"\xfe\xff\xff",
                               PART_START, len(part_img) // 512)
    mbr[510:512] = b"\x55\xaa"
    disk = os.path.join(tmp, "disk.img")
    with open(disk, "wb") as f:
        f.write(bytes(mbr))
        f.write(core_img)
        f.seek(PART_START * 512)
        f.write(part_img)
    return disk


def run(tap, vmm, machine, disk, blob):
    cmd = shlex.split(vmm) + ["-fw_cfg", "name=%s,file=%s" % (FW_CFG_NAME, blob),"-M", machine, "-nodefaults", "-display", "none", "-m", "128",
                              "-serial", "stdio",
                              "-device", "isa-debug-exit,iobase=0xf4,iosize=1",
                              "-drive", "file=%s,format=raw,if=none,id=d0" % disk,
                              "-device", "virtio-blk-pci,drive=d0,bootindex=1"]
    name = "%s: GRUB loads the test guest from ext2 with multiboot" % machine
    g = Guest(cmd)
    try:
        g.wait_line("# vireo-testguest", timeout=TIMEOUT)
        status, out, err = g.finish(timeout=120)
    except Exception as e:  # a timeout: report what there was
        g.kill()
        tap.check(False, name, "%s\n%s\ncommand: %s" % (e, g.text(), " ".join(cmd)))
        return
    lines = out.splitlines()
    start = next((i for i, l in enumerate(lines) if l.startswith("# vireo-testguest")), None)
    tail = lines[start:] if start is not None else []
    oks = [l for l in tail if re.match(r"^ok \d+\b", l)]
    bad = [l for l in tail if l.startswith("not ok") or l.startswith("Bail out!")]
    plan = [l for l in tail if re.match(r"^1\.\.\d+$", l)]
    entry = any("entry: multiboot" in l for l in tail)
    loader = any(l.startswith("# boot loader: GRUB") for l in tail)
    good = (entry and loader and not bad and len(oks) > 0 and plan == ["1..%d" % len(oks)] and
            status == 1)
    tap.check(good, name, "status %s (want 1: the guest wrote 0 to 0xf4), multiboot entry %s, "
              "GRUB named %s, %d ok, failures %r, plan %r\n%s\nstderr: %s\ncommand: %s"
              % (status, entry, loader, len(oks), bad, plan, out, err, " ".join(cmd)))
    # The guest saw the command line GRUB passed (the words after the file name), and the
    # memory map GRUB handed over holds the -m 128 it was given (the mem test compares).
    tap.check("# cmdline: " + APPEND in tail, "%s: the guest got GRUB's command line" % machine,
              out)
    fw = [l for l in tail if re.match(r"^ok \d+ - fwcfg: ", l)]
    tap.check(len(fw) == 5, "%s: the guest read the -fw_cfg file (directory, data port, DMA)"
              % machine, "\n".join(fw))


def main():
    vmm, elf = sys.argv[1], sys.argv[2]
    tap = Tap()
    with tempfile.TemporaryDirectory(prefix="vireo-grub-") as tmp:
        disk = make_disk(tmp, elf)
        blob = os.path.join(tmp, "blob")
        with open(blob, "wb") as f:
            f.write(FW_CFG_DATA)
        run(tap, vmm, "pc", disk, blob)
    return tap.report()


if __name__ == "__main__":
    sys.exit(main())
