#!/usr/bin/env python3
"""-snapshot and -drive snapshot=on: the guest writes, the image does not change,
and the temporary overlay is gone when the VMM is.

Usage: test-drive-snapshot.py RUN_GUEST GUEST_ELF VMM
  VMM: the vireo-vmm binary, or QEMU with its microvm (the reference).

The test guest's virtio-blk tests (tests=blk: patterns written and read back,
discard, write-zeroes, many writes in flight) run on a raw image given with
format=raw and on a qcow2 image whose format is probed; its virtio-scsi test
(tests=scsi) on the raw image as a scsi-hd. Without -snapshot the
same run changes the raw image (so the check below can fail); with -snapshot,
or snapshot=on on the drive, every image keeps its bytes and the private
TMPDIR the VMM was given (where QEMU and vireo-vmm put the overlay) is empty
afterwards. snapshot=off on a drive overrides -snapshot. Prints TAP.
"""
import hashlib
import os
import subprocess
import sys
import tempfile

SIZE = 256 * 1024
results = []


def check(good, name, diag=None):
    results.append((bool(good), name, diag))


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    run_guest, elf, vmm = sys.argv[1], sys.argv[2], sys.argv[3]
    tmp = tempfile.mkdtemp(prefix="vireo-drive-snapshot-")
    tmpdir = os.path.join(tmp, "tmpdir")
    os.mkdir(tmpdir)
    raw = os.path.join(tmp, "disk.raw")
    with open(raw, "wb") as f:
        f.write(os.urandom(SIZE))
    qcow = os.path.join(tmp, "disk.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", qcow, str(SIZE)], check=True)
    env = dict(os.environ, TMPDIR=tmpdir)

    def guest(extra, name, tests="tests=blk"):
        args = [run_guest, "--quiet", "--vmm", vmm, "--kernel", elf, "--append", tests,
                "--extra", extra, "--timeout", "90"]
        p = subprocess.run(args, capture_output=True, text=True, timeout=150, env=env)
        check(p.returncode == 0, name + ": the guest's tests (%s) pass" % tests,
              None if p.returncode == 0 else p.stdout + p.stderr)

    def drive(path, fmt, extra=""):
        f = ",format=" + fmt if fmt else ""
        return "-drive file=%s%s,if=none,id=d0%s -device virtio-blk-pci,drive=d0" % (path, f, extra)

    for path, fmt, what in [(raw, "raw", "raw"), (qcow, None, "qcow2 (probed)")]:
        before = digest(path)
        guest("-snapshot " + drive(path, fmt), "-snapshot, " + what)
        check(digest(path) == before, "-snapshot, %s: the image is unchanged" % what)
        left = os.listdir(tmpdir)
        check(not left, "-snapshot, %s: no overlay left in TMPDIR" % what, repr(left))

    # scsi-hd opens its drive through the same drive layer as virtio-blk: -snapshot covers it
    # (the guest's scsi test writes patterns over the disk and reads them back).
    before = digest(raw)
    guest("-snapshot -device virtio-scsi-pci,id=scsi0 -drive file=%s,format=raw,if=none,id=d0 "
          "-device scsi-hd,drive=d0,bus=scsi0.0,scsi-id=0,lun=0" % raw, "-snapshot, scsi-hd",
          tests="tests=scsi scsi_blocks=%d" % (SIZE // 512))
    check(digest(raw) == before, "-snapshot, scsi-hd: the image is unchanged")
    check(not os.listdir(tmpdir), "-snapshot, scsi-hd: no overlay left in TMPDIR")

    before = digest(raw)
    guest(drive(raw, "raw", ",snapshot=on"), "snapshot=on")
    check(digest(raw) == before, "snapshot=on: the image is unchanged")
    check(not os.listdir(tmpdir), "snapshot=on: no overlay left in TMPDIR")

    # The control: snapshot=off under -snapshot writes through, so the image changes.
    guest("-snapshot " + drive(raw, "raw", ",snapshot=off"), "snapshot=off under -snapshot")
    check(digest(raw) != before, "snapshot=off under -snapshot: the guest's writes reach the "
          "image")

    print("1..%d" % len(results))
    failed = 0
    for i, (good, name, diag) in enumerate(results, 1):
        print("%s %d - %s" % ("ok" if good else "not ok", i, name))
        if not good:
            failed += 1
            for line in (diag or "").splitlines()[-40:]:
                print("# " + line)
    subprocess.run(["rm", "-rf", tmp])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
