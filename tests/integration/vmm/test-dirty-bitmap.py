#!/usr/bin/env python3
"""Dirty bitmaps in vireo-vmm, side by side with QEMU 7.2.

Usage: test-dirty-bitmap.py TEST_GUEST_ELF VIREO_VMM

The same command line (microvm, a qcow2 disk first, a raw disk second, -S) runs under
vireo-vmm and QEMU. The same block-dirty-bitmap-* commands go to both and must get the same
answers, refusals included: a persistent bitmap on the qcow2 disk, non-persistent ones on
both disks, duplicates, bad granularity, a persistent bitmap on raw, unknown bitmaps and
drives, disable/enable/clear/merge/remove. Then the guest's virtio-blk tests write the first
disk, and each bitmap's count (dirty bytes) must be QEMU's: the persistent and the
non-persistent one recording, the disabled one still 0, the merge target. After quit,
qemu-img finds vireo-vmm's persistent bitmap in the image (check passes), and QEMU opening
that image reports the same bitmap with the same count.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time

from vmmlib import Qmp, Tap

tap = Tap()
check = tap.check

COMMANDS = [
    ("block-dirty-bitmap-add", {"node": "drive0", "name": "p1", "persistent": True}),
    ("block-dirty-bitmap-add", {"node": "n0", "name": "m1"}),
    ("block-dirty-bitmap-add", {"node": "drive0", "name": "off", "disabled": True}),
    ("block-dirty-bitmap-add", {"node": "drive0", "name": "acc"}),
    ("block-dirty-bitmap-add", {"node": "drive0", "name": "p1"}),
    ("block-dirty-bitmap-add", {"node": "drive0", "name": "m1", "persistent": True}),
    ("block-dirty-bitmap-add", {"node": "drive0", "name": "g", "granularity": 1000}),
    ("block-dirty-bitmap-add", {"node": "drive0", "name": "g", "granularity": 256}),
    ("block-dirty-bitmap-add", {"node": "drive0", "name": ""}),
    ("block-dirty-bitmap-add", {"node": "drive1", "name": "r1", "persistent": True}),
    ("block-dirty-bitmap-add", {"node": "drive1", "name": "r2", "granularity": 4096}),
    ("block-dirty-bitmap-add", {"node": "nosuch", "name": "x"}),
    ("block-dirty-bitmap-disable", {"node": "drive0", "name": "acc"}),
    ("block-dirty-bitmap-enable", {"node": "drive0", "name": "acc"}),
    ("block-dirty-bitmap-clear", {"node": "drive0", "name": "nosuch"}),
    ("block-dirty-bitmap-remove", {"node": "drive1", "name": "nosuch"}),
    ("block-dirty-bitmap-clear", {"node": "drive0", "name": "p1"}),
]
AFTER = [
    ("block-dirty-bitmap-merge", {"node": "drive0", "target": "off", "bitmaps": ["m1"]}),
    ("block-dirty-bitmap-merge", {"node": "drive0", "target": "nosuch", "bitmaps": ["m1"]}),
    ("block-dirty-bitmap-remove", {"node": "drive0", "name": "acc"}),
]


def start(prefix, elf, tmp, tag, disk=None):
    if disk is None:
        disk = os.path.join(tmp, tag + ".qcow2")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", disk, "16M"], check=True)
    raw = os.path.join(tmp, tag + ".raw")
    with open(raw, "wb") as f:
        f.truncate(16 << 20)
    log = os.path.join(tmp, tag + ".log")
    sock = os.path.join(tmp, tag + ".qmp")
    p = subprocess.Popen(prefix + ["-nodefaults", "-display", "none", "-m", "128M", "-kernel", elf,
                                   "-append", "tests=blk", "-serial", f"file:{log}", "-S",
                                   "-no-shutdown",
                                   "-drive", f"file={disk},format=qcow2,if=none,id=drive0,"
                                   "node-name=n0",
                                   "-device", "virtio-blk-pci,drive=drive0,id=blk0",
                                   "-drive", f"file={raw},format=raw,if=none,id=drive1",
                                   "-device", "virtio-blk-pci,drive=drive1,id=blk1",
                                   "-qmp", f"unix:{sock},server=on,wait=off"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return p, Qmp(sock), disk, log


def bitmaps(q):
    out = {}
    for d in q.cmd("query-block")["return"]:
        for m in d.get("inserted", {}).get("dirty-bitmaps", []):
            out[(d["device"], m["name"])] = {k: m[k] for k in ("recording", "persistent",
                                                                "granularity", "count")}
    return out


def run_guest(q, log):
    q.cmd("cont")
    end = time.monotonic() + 120
    while time.monotonic() < end:
        time.sleep(0.5)
        with open(log) as f:
            # the guest's TAP plan: every blk test is over, the in-flight writes that come
            # after the reset check too
            if re.search(r"^1\.\.\d+", f.read(), re.M):
                break
    time.sleep(0.5)


def main():
    elf, vireo = sys.argv[1], sys.argv[2]
    qemu = ["qemu-system-x86_64", "-enable-kvm", "-M", "microvm,acpi=on,pcie=on"]
    with tempfile.TemporaryDirectory() as tmp:
        vp, vq, vdisk, vlog = start([vireo], elf, tmp, "vireo")
        qp, qq, _, qlog = start(qemu, elf, tmp, "qemu")
        try:
            for cmd, args in COMMANDS:
                a, b = vq.cmd(cmd, args), qq.cmd(cmd, args)
                check(a == b, f"{cmd} {json.dumps(args)}: QEMU's answer", (a, b))
            before = bitmaps(vq)
            check(before == bitmaps(qq) and len(before) == 5,
                  "query-block lists the same bitmaps, all clean", (before, bitmaps(qq)))
            run_guest(vq, vlog)
            run_guest(qq, qlog)
            after, want = bitmaps(vq), bitmaps(qq)
            # The counts are each VMM's own: the guest's last test breaks the queue with a bad
            # descriptor, and a write popped in the same batch may still be done (vireo-vmm)
            # or dropped (QEMU), so vireo-vmm's dirty set holds QEMU's and may hold more.
            for key in sorted(want):
                a, b = dict(after.get(key, {})), dict(want[key])
                ac, bc = a.pop("count", None), b.pop("count")
                check(a == b and ac is not None and ac >= bc and (ac > 0) == (bc > 0),
                      f"after the guest's writes: {key} as QEMU's (its dirty set at least QEMU's)",
                      (after.get(key), want[key]))
            same = {after[("drive0", n)]["count"] for n in ("m1", "acc", "p1")}
            check(len(same) == 1, "the recording bitmaps of one disk agree with each other "
                  "(persistent and in-memory)", after)
            cnt = {k: v["count"] for k, v in after.items()}
            check(cnt.get(("drive0", "m1"), 0) > 0 and cnt.get(("drive0", "off")) == 0
                  and cnt.get(("drive1", "r2")) == 0,
                  "the recording bitmaps of the written disk count, the others do not", after)
            for cmd, args in AFTER:
                a, b = vq.cmd(cmd, args), qq.cmd(cmd, args)
                check(a == b, f"{cmd} {json.dumps(args)}: QEMU's answer", (a, b))
            va, qa = bitmaps(vq), bitmaps(qq)
            check(set(va) == set(qa) and va[("drive0", "off")]["count"] ==
                  va[("drive0", "m1")]["count"] and not va[("drive0", "off")]["recording"],
                  "after merge and remove: the same bitmaps, the merge target holding m1's bits",
                  (va, qa))
            p1 = after.get(("drive0", "p1"))
        finally:
            for p, q in ((vp, vq), (qp, qq)):
                q.cmd("quit")
                p.wait(timeout=30)
        info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", vdisk],
                                         capture_output=True, text=True).stdout)
        bms = info.get("format-specific", {}).get("data", {}).get("bitmaps", [])
        check([b["name"] for b in bms] == ["p1"] and "auto" in bms[0]["flags"],
              "qemu-img info: vireo-vmm stored its persistent bitmap, recording (auto)", bms)
        r = subprocess.run(["qemu-img", "check", vdisk], capture_output=True, text=True)
        check(r.returncode == 0, "qemu-img check passes on vireo-vmm's image", r.stdout + r.stderr)
        qp2, qq2, _, _ = start(qemu, elf, tmp, "qemu2", disk=vdisk)
        try:
            seen = bitmaps(qq2).get(("drive0", "p1"))
        finally:
            qq2.cmd("quit")
            qp2.wait(timeout=30)
        check(seen == p1, "QEMU opening vireo-vmm's image finds the bitmap with its count",
              (seen, p1))
    return tap.report()


if __name__ == "__main__":
    sys.exit(main())
