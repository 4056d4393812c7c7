#!/usr/bin/env python3
"""virtio-blk and virtio-rng end to end: the test guest's drivers under a VMM.

Usage: test-virtio.py RUN_GUEST TEST_GUEST_ELF VMM...

VMM is the command prefix (vireo-vmm's path, or
'qemu-system-x86_64 -enable-kvm -M microvm,acpi=on,pcie=on'); the same
guest command lines run under both. Checks, each one TAP line:
 - tests=blk,rng on a raw image (patterns, indirect table, flush, discard,
   write-zeroes, get-id with serial=, out-of-range and unknown requests, a
   broken queue -> DEVICE_NEEDS_RESET and recovery by reset, completion by
   MSI-X, completion by INTx through the IOAPIC at GSI 17) through run-guest;
   vireo-vmm also with strict_dma=1 (a buffer outside RAM must
   break the queue; QEMU bounces such DMA instead, see t-virtio.c);
 - the same disk with readonly=on: VIRTIO_BLK_F_RO offered, a write refused
   with VIRTIO_BLK_S_IOERR and the image unchanged on the host;
 - that the guest's writes reached the image file (host reads the pattern);
 - vireo-vmm only: QMP query-pci lists the host bridge and both virtio
   functions with their ids, query-block the drive with its format, backing
   depth and read-only flag;
 - blk-crc32 (command line exactly that) on a raw image with -drive if=virtio,
   and on a qcow2 image whose backing file is raw, made and partly
   overwritten with qemu-img/qemu-io: the guest's crc32= line must equal
   zlib.crc32 of `qemu-img convert -O raw` of the same image;
 - the same blk tests with aio=io_uring, cache=none and num-queues=2 (the
   guest's 32-requests-in-flight check writes on queue 1 and reads on queue 0,
   and sees VIRTIO_BLK_F_MQ with num_queues 2), on a raw copy and on a qcow2
   image whose first 64 KiB cluster qemu-io wrote (so the guest's writes both
   go in place through io_uring and allocate clusters on the thread pool;
   `qemu-img check` must pass after), and blk-crc32 of both images with
   aio=io_uring.
"""
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import zlib

SIZE = 256 * 1024  # the guest's CRC runs emulated here (~4 s for 256 KiB)
results = []


def check(good, name, diag=None):
    results.append((bool(good), name, diag))


def pattern_at(sector, length, seed):
    """The guest's pattern() bytes (t-virtio.c) as the host sees them."""
    return bytes(((i * 7 + seed * 13 + (i >> 8)) ^ seed) & 0xFF for i in range(length))


def main():
    run_guest, elf, vmm = sys.argv[1], sys.argv[2], sys.argv[3]
    is_qemu = "qemu-system" in vmm
    tmp = tempfile.mkdtemp(prefix="vireo-virtio-", dir=os.environ.get("MESON_BUILD_ROOT"))
    raw = os.path.join(tmp, "disk.raw")
    with open(raw, "wb") as f:
        f.write(os.urandom(SIZE))
    original = open(raw, "rb").read()

    def guest(append, extra, name):
        args = [run_guest, "--quiet", "--vmm", vmm, "--kernel", elf, "--append", append,
                "--extra", extra, "--timeout", "90"]
        p = subprocess.run(args, capture_output=True, text=True, timeout=150)
        tail = (p.stderr.strip().splitlines() or [""])[-1]
        check(p.returncode == 0, name, None if p.returncode == 0 else p.stdout + p.stderr)
        return p

    blk = f"-drive file={raw},format=raw,if=none,id=d0,cache=writeback,discard=unmap " \
          "-device virtio-blk-pci,drive=d0,serial=vireo-disk-1 -device virtio-rng-pci"
    # INTx: the disk is in slot 1, pin A -> GSI 16 + (1 + 0) % 4 = 17 in vireo-vmm's _PRT,
    # and the same in QEMU 7.2 microvm (GPEX lines at GSIs 16-19 with the standard swizzle).
    append = "tests=blk,rng blk_serial=vireo-disk-1 blk_intx_gsi=17" + \
        ("" if is_qemu else " strict_dma=1")
    guest(append, blk, "guest blk and rng tests pass")
    data = open(raw, "rb").read()
    # The guest wrote pattern(seed 1) at sector 8 (16 KiB), zeroed sectors 8-15 and
    # discarded 16-23; sectors 24.. keep the pattern's third 4 KiB onward.
    p1 = pattern_at(8, 16384, 1)
    check(data[8 * 512:16 * 512] == bytes(4096) and data[24 * 512:40 * 512] == p1[8192:16384],
          "guest writes and write-zeroes reached the image file")
    check(data[:8 * 512] == original[:8 * 512], "sectors the guest never wrote are unchanged")
    check(data[16 * 512:24 * 512] == bytes(4096), "discarded sectors read back as zeroes on the host")

    before = open(raw, "rb").read()
    guest("tests=blk blk_ro=1",
          f"-drive file={raw},format=raw,if=none,id=d0,readonly=on -device virtio-blk-pci,drive=d0",
          "read-only disk: F_RO offered, writes refused with IOERR")
    check(open(raw, "rb").read() == before, "read-only disk: image unchanged on the host")

    def crc_run(extra, name, expect):
        cmd = shlex.split(vmm) + ["-nodefaults", "-nographic", "-serial", "stdio", "-m", "128M",
                                  "-kernel", elf, "-append", "blk-crc32", "-device",
                                  "isa-debug-exit,iobase=0xf4,iosize=4"] + shlex.split(extra)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        m = re.search(r"^crc32=([0-9a-f]{8})\r?$", p.stdout, re.M)
        got = m.group(1) if m else None
        check(got == "%08x" % expect and p.returncode == 1, name,
              f"got {got}, expected {expect:08x}, exit {p.returncode}\n{p.stdout[-500:]}{p.stderr[-500:]}")

    crc_run(f"-drive file={raw},format=raw,if=virtio", "blk-crc32 of a raw image (if=virtio)",
            zlib.crc32(open(raw, "rb").read()))

    base = os.path.join(tmp, "base.raw")
    with open(base, "wb") as f:
        f.write(os.urandom(SIZE))
    top = os.path.join(tmp, "top.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "raw", top],
                   check=True)
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 65536 70000", top],
                   check=True, capture_output=True)
    flat = os.path.join(tmp, "flat.raw")
    subprocess.run(["qemu-img", "convert", "-O", "raw", top, flat], check=True)
    crc_run(f"-drive file={top},format=qcow2,if=none,id=q0 -device virtio-blk-pci,drive=q0",
            "blk-crc32 of a qcow2 image with a raw backing file",
            zlib.crc32(open(flat, "rb").read()))

    # aio=io_uring, num-queues=2, on raw and on qcow2.
    for fmt in ("raw", "qcow2"):
        img = os.path.join(tmp, "uring." + fmt)
        if fmt == "raw":
            subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", fmt, raw, img], check=True)
        else:
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", img, str(SIZE)], check=True)
            subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x11 0 65536", img],
                           check=True, capture_output=True)
        guest("tests=blk blk_mq=2 blk_serial=u1",
              f"-drive file={img},format={fmt},if=none,id=d0,cache=none,aio=io_uring,"
              "discard=unmap -device virtio-blk-pci,drive=d0,serial=u1,num-queues=2",
              f"{fmt}, aio=io_uring, num-queues=2: guest blk tests pass (32 in flight, 2 queues)")
        if fmt == "qcow2":
            c = subprocess.run(["qemu-img", "check", img], capture_output=True, text=True)
            check(c.returncode == 0, "qcow2 written with aio=io_uring passes qemu-img check",
                  c.stdout + c.stderr)
        flat_img = os.path.join(tmp, "uring-flat.raw")
        subprocess.run(["qemu-img", "convert", "-f", fmt, "-O", "raw", img, flat_img], check=True)
        crc_run(f"-drive file={img},format={fmt},if=none,id=u0,aio=io_uring,cache=none "
                "-device virtio-blk-pci,drive=u0",
                f"blk-crc32 of a {fmt} image with aio=io_uring",
                zlib.crc32(open(flat_img, "rb").read()))
        os.unlink(flat_img)
        os.unlink(img)

    if not is_qemu:
        sock = os.path.join(tmp, "qmp.sock")
        p = subprocess.Popen([vmm, "-nodefaults", "-display", "none", "-S", "-m", "128M",
                              "-kernel", elf, "-qmp", f"unix:{sock},server,nowait",
                              "-drive", f"file={top},format=qcow2,if=none,id=q0,readonly=on",
                              "-device", "virtio-blk-pci,drive=q0,id=blk0",
                              "-device", "virtio-rng-pci,id=rng0"])
        try:
            for _ in range(100):
                if os.path.exists(sock):
                    break
                subprocess.run(["sleep", "0.05"])
            s = socket.socket(socket.AF_UNIX)
            s.connect(sock)
            f = s.makefile("rw")
            f.readline()

            def qmp(cmd):
                f.write(json.dumps({"execute": cmd}) + "\n")
                f.flush()
                while True:
                    m = json.loads(f.readline())
                    if "return" in m or "error" in m:
                        return m.get("return")

            qmp("qmp_capabilities")
            pci = qmp("query-pci")
            devs = pci[0]["devices"]
            ids = [(d["slot"], d["id"]["vendor"], d["id"]["device"], d["qdev_id"]) for d in devs]
            check(ids == [(0, 0x8086, 0x29c0, ""), (1, 0x1af4, 0x1042, "blk0"),
                          (2, 0x1af4, 0x1044, "rng0")], "QMP query-pci: host bridge, blk, rng",
                  json.dumps(pci))
            blk = qmp("query-block")
            ins = blk[0]["inserted"] if blk else {}
            check(len(blk) == 1 and blk[0]["device"] == "q0" and ins.get("drv") == "qcow2" and
                  ins.get("ro") is True and ins.get("backing_file_depth") == 1 and
                  ins["image"]["virtual-size"] == SIZE, "QMP query-block: the qcow2 drive",
                  json.dumps(blk))
            qmp("quit")
        finally:
            p.wait(timeout=20)

    for f in (raw, base, top, flat):
        os.unlink(f)
    os.rmdir(tmp)

    print("1..%d" % len(results))
    for i, (good, name, diag) in enumerate(results, 1):
        print("%s %d - %s" % ("ok" if good else "not ok", i, name))
        if not good and diag:
            for line in str(diag).splitlines()[-30:]:
                print("# " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
