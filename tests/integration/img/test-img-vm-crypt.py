#!/usr/bin/env python3
"""Encrypted disks and image locks with running VMs, vireo-vmm and QEMU.

Usage: test-img-vm-crypt.py TEST_GUEST_ELF VIREO_VMM VIREO_IMG

Encryption (each under vireo-vmm and under qemu-system-x86_64 -enable-kvm -M
microvm,acpi=on,pcie=on, the same command line):
 - blk-crc32 of a luks image made by qemu-img and of a LUKS qcow2 image made
   by vireo-img, keyed with -object secret and key-secret= /
   encrypt.key-secret=: the guest's CRC-32 is zlib's over the plaintext;
 - the guest's blk tests writing to a LUKS qcow2 image: qemu-img check
   passes afterwards and qemu-img reads the guest's pattern back;
 - a wrong passphrase stops the VMM at start with "Invalid password, cannot
   unlock any keyslot"; an old AES qcow2 is refused with QEMU's message;
 - QMP query-block says the disk is encrypted.
Locks (vireo-vmm paused with -S and -daemonize, so its disks are open):
 - qemu-img cannot write an image vireo-vmm holds, and reads it with -U;
 - vireo-img cannot write an image qemu-system-x86_64 holds;
 - a second vireo-vmm on the same raw image is refused, unless both drives
   have share-rw=on; a QEMU VM and a vireo-vmm refuse each other too;
 - qcow2 images are never shared for writing.
"""
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "vmm"))
sys.dont_write_bytecode = True
from vmmlib import Qmp  # noqa: E402

SIZE = 256 * 1024
QEMU = "qemu-system-x86_64 -enable-kvm -M microvm,acpi=on,pcie=on"
PASS = "correct horse"
results = []


def check(good, name, diag=None):
    results.append((bool(good), name, diag))


def pattern_at(length, seed):
    """The guest's pattern() bytes (tests/guest/t-virtio.c) as the host sees them."""
    return bytes(((i * 7 + seed * 13 + (i >> 8)) ^ seed) & 0xFF for i in range(length))


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=150, **kw)


def qemu_make(cmd):
    """qemu-img's PBKDF2 calibration fails in 20-35% of tries here ("Unable to get
    accurate CPU usage": it reads the thread's tick-apportioned user time): making its
    images is tried up to 60 times, as tests/integration/img/lib.sh does."""
    for _ in range(60):
        p = run(cmd)
        if p.returncode == 0:
            return p
        time.sleep(0.2)
    sys.stderr.write(p.stderr)
    p.check_returncode()


def main():
    elf, vmm, img = (os.path.abspath(a) for a in sys.argv[1:4])
    tmp = tempfile.mkdtemp(prefix="vireo-vm-crypt-", dir=os.environ.get("MESON_BUILD_ROOT"))
    os.chdir(tmp)
    sec = f"secret,id=sec0,data={PASS}"
    raw = "plain.raw"
    with open(raw, "wb") as f:
        f.write(os.urandom(SIZE))
    crc = zlib.crc32(open(raw, "rb").read())
    qemu_make(["qemu-img", "convert", "--object", sec, "-O", "luks", "-o",
               "key-secret=sec0,iter-time=10", raw, "q.luks"])
    run([img, "convert", "--object", sec, "-O", "qcow2", "-o",
         "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10", raw,
         "v.qcow2"]).check_returncode()

    def boot(vm, append, drive, extra=()):
        cmd = shlex.split(vm) + ["-nodefaults", "-nographic", "-serial", "stdio", "-m", "128M",
                                 "-kernel", elf, "-append", append, "-object", sec,
                                 "-device", "isa-debug-exit,iobase=0xf4,iosize=4"] + \
            shlex.split(drive) + list(extra)
        return run(cmd)

    for name, vm in (("vireo-vmm", vmm), ("qemu", QEMU)):
        for what, drive in (
                ("qemu-img's luks image",
                 "-drive file=q.luks,format=luks,key-secret=sec0,if=none,id=d0 "
                 "-device virtio-blk-pci,drive=d0"),
                ("vireo-img's LUKS qcow2 image",
                 "-drive file=v.qcow2,format=qcow2,encrypt.key-secret=sec0,if=none,id=d0 "
                 "-device virtio-blk-pci,drive=d0")):
            p = boot(vm, "blk-crc32", drive)
            m = re.search(r"^crc32=([0-9a-f]{8})\r?$", p.stdout, re.M)
            got = m.group(1) if m else None
            check(got == "%08x" % crc and p.returncode == 1,
                  f"{name}: the guest reads {what} (blk-crc32)",
                  f"got {got}, want {crc:08x}, exit {p.returncode}\n{p.stderr[-400:]}")
        # The guest's write tests on an encrypted qcow2 (a fresh copy each time).
        w = f"w-{name}.qcow2"
        run([img, "convert", "--object", sec, "-O", "qcow2", "-o",
             "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10", raw, w])
        p = boot(vm, "tests=blk", f"-drive file={w},format=qcow2,encrypt.key-secret=sec0,"
                 "if=none,id=d0,discard=unmap -device virtio-blk-pci,drive=d0")
        check(p.returncode == 1 and "not ok" not in p.stdout,
              f"{name}: the guest's blk tests pass on a LUKS qcow2 disk", p.stdout[-800:])
        opts = f"driver=qcow2,file.filename={w},encrypt.key-secret=sec0"
        c = run(["qemu-img", "check", "--object", sec, "--image-opts", opts])
        check(c.returncode == 0, f"{name}: qemu-img check passes after the guest wrote",
              c.stdout + c.stderr)
        d = run(["qemu-img", "convert", "--object", sec, "--image-opts", opts, "-O", "raw",
                 f"w-{name}.raw"])
        data = open(f"w-{name}.raw", "rb").read() if d.returncode == 0 else b""
        check(data[24 * 512:40 * 512] == pattern_at(16384, 1)[8192:16384],
              f"{name}: qemu-img reads the guest's writes through the cipher")
        # A wrong passphrase: one line, and no guest.
        cmd = shlex.split(vm) + ["-nodefaults", "-display", "none", "-kernel", elf,
                                 "-object", "secret,id=sec0,data=wrong",
                                 "-drive", "file=q.luks,format=luks,key-secret=sec0,if=virtio"]
        p = run(cmd)
        check(p.returncode != 0 and "Invalid password, cannot unlock any keyslot" in p.stderr,
              f"{name}: a wrong passphrase stops it at start", p.stderr[-400:])

    # query-block reports the encryption, as QEMU's does.
    for name, vm in (("vireo-vmm", vmm), ("qemu", QEMU)):
        sock = os.path.join(tmp, f"qmp-{name}.sock")
        pidfile = os.path.join(tmp, f"qmp-{name}.pid")
        p = run(shlex.split(vm) + ["-S", "-nodefaults", "-display", "none", "-kernel", elf,
                                   "-object", sec, "-daemonize", "-pidfile", pidfile,
                                   "-qmp", f"unix:{sock},server=on,wait=off", "-drive",
                                   "file=q.luks,format=luks,key-secret=sec0,if=none,id=d0",
                                   "-device", "virtio-blk-pci,drive=d0"])
        enc = None
        if p.returncode == 0:
            q = Qmp(sock)
            r = q.cmd("query-block")
            q.close()
            enc = [b.get("inserted", {}).get("encrypted") for b in r.get("return", [])]
            os.kill(int(open(pidfile).read()), signal.SIGTERM)
        check(enc == [True], f"{name}: query-block says the luks disk is encrypted",
              f"{p.stderr} {enc}")

    # Old AES: refused by both VMMs with QEMU's words.
    run(["qemu-img", "create", "-q", "--object", sec, "-f", "qcow2", "-o",
         "encrypt.format=aes,encrypt.key-secret=sec0", "aes.qcow2", "1M"]).check_returncode()
    for name, vm in (("vireo-vmm", vmm), ("qemu", QEMU)):
        p = run(shlex.split(vm) + ["-nodefaults", "-display", "none", "-kernel", elf,
                                   "-object", sec, "-drive",
                                   "file=aes.qcow2,encrypt.key-secret=sec0,if=virtio"])
        check(p.returncode != 0 and "Use of AES-CBC encrypted qcow2 images is no longer "
              "supported in system emulators" in p.stderr,
              f"{name}: an AES qcow2 disk is refused as QEMU refuses it", p.stderr[-400:])

    # --- locks ------------------------------------------------------------------
    held = []

    def start(vm, drive, device_opts="", tag="vm"):
        """A paused VM holding a disk; returns (pid, stderr) with pid None on failure."""
        pidfile = os.path.join(tmp, f"{tag}-{len(held)}.pid")
        cmd = shlex.split(vm) + ["-S", "-nodefaults", "-display", "none", "-kernel", elf,
                                 "-daemonize", "-pidfile", pidfile, "-drive",
                                 f"{drive},if=none,id=d0", "-device",
                                 "virtio-blk-pci,drive=d0" + (("," + device_opts) if device_opts
                                                              else "")]
        p = run(cmd)
        if p.returncode != 0:
            return None, p.stderr
        pid = int(open(pidfile).read())
        held.append(pid)
        return pid, p.stderr

    def stop(pid):
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        for _ in range(200):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        held.remove(pid)

    def refused(p, first, path, name):
        want = f"{first}\nIs another process using the image [{path}]?\n"
        check(p.returncode != 0 and p.stderr == want, name, p.stderr)

    run(["qemu-img", "create", "-q", "-f", "raw", "disk.raw", str(SIZE)]).check_returncode()
    run(["qemu-img", "create", "-q", "-f", "qcow2", "disk.qcow2", str(SIZE)]).check_returncode()
    try:
        pid, err = start(vmm, "file=disk.raw,format=raw")
        check(pid, "vireo-vmm holds disk.raw", err)
        refused(run(["qemu-img", "convert", "-n", "-O", "raw", raw, "disk.raw"]),
                "qemu-img: Could not open 'disk.raw': Failed to get \"write\" lock", "disk.raw",
                "qemu-img cannot write an image vireo-vmm holds")
        check(run(["qemu-img", "info", "-U", "disk.raw"]).returncode == 0,
              "qemu-img info -U reads it")
        pid2, err = start(vmm, "file=disk.raw,format=raw")
        check(pid2 is None and "Failed to get \"write\" lock" in err,
              "a second vireo-vmm on the same image is refused", err)
        stop(pid2)
        pid2, err = start(QEMU, "file=disk.raw,format=raw")
        check(pid2 is None and "Failed to get \"write\" lock" in err,
              "qemu-system-x86_64 refuses an image vireo-vmm holds", err)
        stop(pid2)
        stop(pid)

        pid, err = start(QEMU, "file=disk.raw,format=raw")
        check(pid, "qemu-system-x86_64 holds disk.raw", err)
        pid2, err = start(vmm, "file=disk.raw,format=raw")
        check(pid2 is None and "Failed to get \"write\" lock" in err,
              "vireo-vmm refuses an image QEMU holds", err)
        stop(pid2)
        refused(run([img, "convert", "-n", "-O", "raw", raw, "disk.raw"]),
                "vireo-img: Could not open 'disk.raw': Failed to get \"write\" lock", "disk.raw",
                "vireo-img cannot write an image QEMU holds")
        stop(pid)

        pid, err = start(vmm, "file=disk.raw,format=raw", "share-rw=on")
        pid2, err2 = start(vmm, "file=disk.raw,format=raw", "share-rw=on")
        check(pid and pid2, "two vireo-vmm with share-rw=on share a raw image", err + err2)
        pid3, err3 = start(QEMU, "file=disk.raw,format=raw", "share-rw=on")
        check(pid3, "and a QEMU VM with share-rw=on joins them", err3)
        check(run([img, "convert", "-n", "-O", "raw", raw, "disk.raw"]).returncode == 0,
              "vireo-img writes beside share-rw VMs")
        for p_ in (pid, pid2, pid3):
            stop(p_)

        pid, err = start(vmm, "file=disk.qcow2,format=qcow2", "share-rw=on")
        check(pid, "vireo-vmm holds disk.qcow2 with share-rw=on", err)
        pid2, err2 = start(vmm, "file=disk.qcow2,format=qcow2", "share-rw=on")
        check(pid2 is None and "Failed to get \"write\" lock" in err2,
              "qcow2 is not shared for writing, even with share-rw=on", err2)
        stop(pid2)
        refused(run([img, "info", "disk.qcow2"]),
                "vireo-img: Could not open 'disk.qcow2': Failed to get shared \"write\" lock",
                "disk.qcow2", "vireo-img info of a qcow2 disk in use is refused")
        check(run([img, "info", "-U", "disk.qcow2"]).returncode == 0, "and allowed with -U")
        stop(pid)

        pid, err = start(vmm, "file=disk.raw,format=raw,file.locking=off")
        check(pid, "vireo-vmm with file.locking=off", err)
        check(run(["qemu-img", "convert", "-n", "-O", "raw", raw, "disk.raw"]).returncode == 0,
              "qemu-img writes beside it")
        stop(pid)
    finally:
        for pid in list(held):
            stop(pid)

    for i, (good, name, diag) in enumerate(results, 1):
        print(f"{'ok' if good else 'not ok'} {i} - {name}")
        if not good and diag:
            for line in str(diag).splitlines()[-15:]:
                print(f"#   {line}")
    print(f"1..{len(results)}")
    return 0 if all(r[0] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
