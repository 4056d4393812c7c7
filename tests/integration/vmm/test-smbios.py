#!/usr/bin/env python3
"""SMBIOS tables (-smbios, the defaults) byte for byte against QEMU 7.2.

Usage: test-smbios.py VIREO_VMM GUEST_ELF
  GUEST_ELF: the test guest's -multiboot build.

The test guest's fw_cfg test (t-fwcfg.c) reads a named fw_cfg file through
the data port and by DMA and prints its size and CRC-32. SeaBIOS boots a disk
in which GRUB loads the guest (test-grub.py's disk) with
fwcfg_file=etc/smbios/smbios-tables, first under qemu-system-x86_64 (the size
and CRC it prints are QEMU's tables), then under vireo-vmm with the same
command line and that size and CRC as the guest's expectation: every guest
line passing means vireo-vmm's tables are QEMU's, byte for byte (types 0, 1,
2, 3, 4, 11, 16, 17, 19, 32, 127; the -uuid in type 1; the CPUID words in
type 4). A minute or two per run here (SeaBIOS and GRUB run in KVM's
emulator). Prints TAP.
"""
import importlib.util
import os
import re
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from vmmlib import Guest, Tap  # noqa: E402

TIMEOUT = 400
FILE = "etc/smbios/smbios-tables"
OPTIONS = ["-uuid", "12345678-9abc-def0-1122-334455667788",
           "-smbios", "type=0,vendor=Vireo BIOS,version=1.2.3,date=01/02/2026,release=1.2",
           "-smbios", "type=1,serial=S123,family=Fam,sku=SKU-1",
           "-smbios", "type=2,manufacturer=Board Co,location=Slot A",
           "-smbios", "type=3,asset=A-1",
           "-smbios", "type=11,value=hello,value=world"]


def grub():
    spec = importlib.util.spec_from_file_location("test_grub", os.path.join(HERE, "test-grub.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run(tap, name, vmm, tmp, elf, size, crc):
    g_mod = grub()
    g_mod.SCRIPT = ("multiboot (hd0,msdos1)/boot/vireo-testguest.elf tests=fwcfg fwcfg_file=%s "
                    "fwcfg_size=%d fwcfg_crc32=%08x\nboot\n" % (FILE, size, crc))
    d = tempfile.mkdtemp(dir=tmp)
    disk = g_mod.make_disk(d, elf)
    cmd = vmm + ["-M", "pc", "-nodefaults", "-display", "none", "-m", "128",
                 "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=1",
                 "-drive", "file=%s,format=raw,if=none,id=d0" % disk,
                 "-device", "virtio-blk-pci,drive=d0,bootindex=1"] + OPTIONS
    g = Guest(cmd)
    try:
        g.wait_line("# vireo-testguest", timeout=TIMEOUT)
        status, out, err = g.finish(timeout=120)
    except Exception as e:  # a timeout: report what there was
        g.kill()
        tap.check(False, "%s: the guest read %s" % (name, FILE),
                  "%s\n%s\ncommand: %s" % (e, g.text(), " ".join(cmd)))
        return None, None
    m = re.search(r"fwcfg: directory lists the file, (\d+) bytes", out)
    c = re.search(r"fwcfg: data port read, crc32 ([0-9a-f]{8})", out)
    return (status, out, err, cmd), (int(m.group(1)) if m else None,
                                     int(c.group(1), 16) if c else None)


def main():
    vireo, elf = sys.argv[1], sys.argv[2]
    tap = Tap()
    with tempfile.TemporaryDirectory(prefix="vireo-smbios-",
                                     dir=os.environ.get("MESON_BUILD_ROOT")) as tmp:
        res, (size, crc) = run(tap, "qemu", ["qemu-system-x86_64", "-enable-kvm"], tmp, elf, 0, 0)
        tap.check(size is not None and crc is not None and size > 200,
                  "QEMU's guest read its SMBIOS tables (%s bytes, crc32 %s)" % (size, crc),
                  res[1] if res else "")
        if size is None or crc is None:
            return tap.report()
        res, (vsize, vcrc) = run(tap, "vireo-vmm", [vireo], tmp, elf, size, crc)
        if res:
            status, out, err, cmd = res
            bad = [l for l in out.splitlines() if l.startswith("not ok")]
            tap.check(status == 1 and not bad and vsize == size and vcrc == crc,
                      "vireo-vmm's SMBIOS tables are QEMU's byte for byte (%d bytes)" % size,
                      "status %s, size %s crc %s (QEMU: %d, %08x), failures %r\n%s\nstderr: %s\n"
                      "command: %s" % (status, vsize, vcrc, size, crc, bad, out, err,
                                       " ".join(cmd)))
    return tap.report()


if __name__ == "__main__":
    sys.exit(main())
