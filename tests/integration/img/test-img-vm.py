#!/usr/bin/env python3
"""The imported formats as a VM's disks: vireo-vmm's virtio-blk over them.

Usage: test-img-vm.py VIREO_VMM TEST_GUEST_ELF RUN_GUEST

For each format (VMDK sparse, streamOptimized and flat, VDI dynamic and
static, VHD dynamic and fixed, VHDX, QED over a raw backing file), an image
made by qemu-img from random data is booted as
`-drive file=X,format=F,if=virtio` with the test guest's `blk-crc32`: the
CRC-32 the guest computes over the whole disk must equal zlib.crc32 of
`qemu-img convert -O raw` of the same image. Then the guest's blk tests
(patterns, flush, discard, write-zeroes, in-flight requests) write to a copy
of each writable format, and afterwards `qemu-img check` passes and qemu-img
reads the guest's pattern where the guest wrote it. A VMDK that qemu would
only open read-only (version 3, not stream-optimized) is refused for a
writable drive in one line, and works with readonly=on; so is an image of
a format Vireo only reads (qcow version 1).
TAP on stdout.
"""
import os
import re
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

SIZE = 256 * 1024  # the guest's CRC runs emulated here (~4 s for 256 KiB)
results = []


def check(good, name, diag=None):
    results.append((bool(good), name, diag))


def pattern_at(length, seed):
    """The guest's pattern() bytes (t-virtio.c) as the host sees them."""
    return bytes(((i * 7 + seed * 13 + (i >> 8)) ^ seed) & 0xFF for i in range(length))


def qemu_raw(img, fmt, tmp):
    out = os.path.join(tmp, "flat.raw")
    subprocess.run(["qemu-img", "convert", "-f", fmt, "-O", "raw", img, out], check=True)
    return open(out, "rb").read()


def main():
    vmm, elf, run_guest = sys.argv[1], sys.argv[2], sys.argv[3]
    tmp = tempfile.mkdtemp(prefix="vireo-img-vm-", dir=os.environ.get("MESON_BUILD_ROOT"))
    src = os.path.join(tmp, "src.raw")
    data = bytearray(os.urandom(SIZE))
    data[64 * 1024:128 * 1024] = bytes(64 * 1024)  # a hole, so sparse formats skip some
    open(src, "wb").write(data)

    def vm(extra, append, timeout=120):
        cmd = shlex.split(vmm) + ["-nodefaults", "-nographic", "-serial", "stdio", "-m", "128M",
                                  "-kernel", elf, "-append", append, "-device",
                                  "isa-debug-exit,iobase=0xf4,iosize=4"] + shlex.split(extra)
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)

    def crc_run(img, fmt, name, extra_opts=""):
        expect = zlib.crc32(qemu_raw(img, fmt, tmp))
        p = vm(f"-drive file={img},format={fmt},if=virtio{extra_opts}", "blk-crc32")
        m = re.search(r"^crc32=([0-9a-f]{8})\r?$", p.stdout, re.M)
        got = m.group(1) if m else None
        check(got == "%08x" % expect and p.returncode == 1, name,
              f"got {got}, expected {expect:08x}, exit {p.returncode}\n"
              f"{p.stdout[-400:]}{p.stderr[-400:]}")

    variants = [
        ("vmdk", "subformat=monolithicSparse", "vmdk-sparse"),
        ("vmdk", "subformat=streamOptimized", "vmdk-stream"),
        ("vmdk", "subformat=monolithicFlat", "vmdk-flat"),
        ("vdi", "static=off", "vdi"),
        ("vdi", "static=on", "vdi-static"),
        ("vpc", "subformat=dynamic", "vpc"),
        ("vpc", "subformat=fixed", "vpc-fixed"),
        ("vhdx", "subformat=dynamic", "vhdx"),
        ("qed", "cluster_size=4096", "qed"),
    ]
    for fmt, opts, name in variants:
        img = os.path.join(tmp, f"{name}.{fmt}")
        subprocess.run(["qemu-img", "convert", "-O", fmt, "-o", opts, src, img], check=True)
        crc_run(img, fmt, f"blk-crc32 of a qemu-img {name} image (format={fmt})")

    # QED over a raw backing file, partly overwritten by qemu-io.
    base = os.path.join(tmp, "base.raw")
    shutil.copy(src, base)
    top = os.path.join(tmp, "top.qed")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qed", "-b", base, "-F", "raw", top],
                   check=True)
    subprocess.run(["qemu-io", "-f", "qed", "-c", "write -P 0x5a 65536 70000", top],
                   check=True, capture_output=True)
    crc_run(top, "qed", "blk-crc32 of a QED overlay over a raw backing file")

    # The guest's blk tests write to each writable format; qemu-img checks after.
    for fmt, opts, name in [("vmdk", "subformat=monolithicSparse", "vmdk-w"),
                            ("vdi", "static=off", "vdi-w"), ("vpc", "subformat=dynamic", "vpc-w"),
                            ("vhdx", "subformat=dynamic", "vhdx-w"),
                            ("qed", "cluster_size=4096", "qed-w")]:
        img = os.path.join(tmp, f"{name}.{fmt}")
        subprocess.run(["qemu-img", "convert", "-O", fmt, "-o", opts, src, img], check=True)
        p = subprocess.run([run_guest, "--quiet", "--vmm", vmm, "--kernel", elf, "--append",
                            "tests=blk blk_serial=d1", "--extra",
                            f"-drive file={img},format={fmt},if=none,id=d0 "
                            "-device virtio-blk-pci,drive=d0,serial=d1", "--timeout", "90"],
                           capture_output=True, text=True, timeout=150)
        check(p.returncode == 0, f"guest blk tests pass on a {fmt} disk",
              None if p.returncode == 0 else (p.stdout + p.stderr)[-1500:])
        c = subprocess.run(["qemu-img", "check", "-f", fmt, img], capture_output=True, text=True)
        check(c.returncode in (0, 63), f"qemu-img check clean after the guest wrote its {fmt} disk",
              c.stdout + c.stderr)
        flat = qemu_raw(img, fmt, tmp)
        # The guest wrote pattern(seed 1) from sector 8 and zeroed sectors 8-15;
        # sectors 24-39 keep the pattern's third and fourth 4 KiB.
        p1 = pattern_at(16384, 1)
        check(flat[8 * 512:16 * 512] == bytes(4096) and flat[24 * 512:40 * 512] == p1[8192:16384],
              f"qemu-img reads the guest's writes in the {fmt} disk")
        check(flat[:8 * 512] == bytes(data[:8 * 512]),
              f"sectors the guest never wrote are unchanged in the {fmt} disk")

    # A VMDK qemu opens only read-only: version 3 without compression.
    v3 = os.path.join(tmp, "v3.vmdk")
    subprocess.run(["qemu-img", "convert", "-O", "vmdk", src, v3], check=True)
    with open(v3, "r+b") as f:
        f.seek(4)
        f.write(struct.pack("<I", 3))
    p = vm(f"-drive file={v3},format=vmdk,if=virtio", "blk-crc32", timeout=60)
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    check(p.returncode != 0 and len(lines) == 1 and "VMDK version 3 must be read only" in lines[0],
          "a VMDK version 3 image is refused for a writable drive, in one line",
          p.stderr[-500:])
    crc_run(v3, "vmdk", "... and works with readonly=on", ",readonly=on")

    # A format Vireo only reads (qcow version 1): refused for a writable
    # drive in one line, read through readonly=on.
    q1 = os.path.join(tmp, "old.qcow")
    subprocess.run(["qemu-img", "convert", "-O", "qcow", src, q1], check=True)
    p = vm(f"-drive file={q1},format=qcow,if=virtio", "blk-crc32", timeout=60)
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    check(p.returncode != 0 and len(lines) == 1 and "can only be opened read-only" in lines[0],
          "a qcow (version 1) image is refused for a writable drive, in one line",
          p.stderr[-500:])
    crc_run(q1, "qcow", "blk-crc32 of a qcow (version 1) image with readonly=on", ",readonly=on")

    shutil.rmtree(tmp, ignore_errors=True)
    for i, (good, name, diag) in enumerate(results, 1):
        print(f"{'ok' if good else 'not ok'} {i} - {name}")
        if not good and diag:
            for line in str(diag).splitlines():
                print(f"# {line}")
    print(f"1..{len(results)}")
    return 0 if all(g for g, _, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
