#!/usr/bin/env python3
"""QMP transaction: block actions done all or nothing, while the guest writes its disk.

Usage: test-transaction.py TEST_GUEST_ELF VMM...

The continuity guest (tests=state) runs on two qcow2 disks and a raw one, writing the first
all along. Transactions of blockdev-snapshot-sync, blockdev-snapshot-internal-sync,
block-dirty-bitmap-add/-clear and abort are sent; the same script runs against QEMU 7.2, so
replies and error words are QEMU's. After each refused transaction query-block shows every
drive on the image it had (no overlay switched, no node name added, no bitmap left) and
qemu-img lists no internal snapshot; a failure in the commit step (the second overlay's
image is write-locked by another process, found only when the drive switches to it) puts
the first drive, already switched, back on its image. A transaction that works switches two
drives at once and takes an internal snapshot of a third in the same step. At the end the
guest's continuity checks pass (memory, counters, the disk's last acknowledged write) and
qemu-img check finds every image clean.
"""
import os
import re
import shlex
import subprocess
import sys
import tempfile

from vmmlib import Guest, Qmp, Tap

SEED = 9
MIB = 8
TICKS = 200
tap = Tap()
check = tap.check


def cmd(vmm, elf, d0, d1, raw, sock):
    return shlex.split(vmm) + [
        "-nodefaults", "-display", "none", "-serial", "stdio", "-m", "128M",
        "-kernel", elf,
        "-append", f"tests=state state_mib={MIB} seed={SEED} state_ticks={TICKS}",
        "-drive", f"file={d0},format=qcow2,if=none,id=d0,node-name=n0",
        "-device", "virtio-blk-pci,drive=d0",
        "-drive", f"file={d1},format=qcow2,if=none,id=d1,node-name=n1",
        "-device", "virtio-blk-pci,drive=d1",
        "-drive", f"file={raw},format=raw,if=none,id=d2,node-name=n2",
        "-device", "virtio-blk-pci,drive=d2",
        "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
        "-qmp", f"unix:{sock},server=on,wait=off"]


def chain(q):
    """Each drive's (file, node-name, dirty bitmap names) from query-block."""
    out = {}
    for b in q.cmd("query-block")["return"]:
        ins = b.get("inserted", {})
        out[b["device"]] = (ins.get("file"), ins.get("node-name"),
                            sorted(m["name"] for m in ins.get("dirty-bitmaps", [])))
    return out


def snapshots(path):
    p = subprocess.run(["qemu-img", "snapshot", "-U", "-l", path], capture_output=True,
                       text=True)
    return re.findall(r"^\s*\d+\s+(\S+)", p.stdout, re.M)


def err(r):
    return r.get("error", {}).get("desc")


def sync(dev, path, **kw):
    return {"type": "blockdev-snapshot-sync",
            "data": dict({"device": dev, "snapshot-file": path}, **kw)}


def main():
    elf, vmm = sys.argv[1], sys.argv[2]
    is_qemu = "qemu-system" in vmm
    tmp = tempfile.mkdtemp(prefix="vireo-tx-", dir=os.environ.get("MESON_BUILD_ROOT"))
    g = None
    holder = None
    try:
        d0, d1, raw = (os.path.join(tmp, n) for n in ("d0.qcow2", "d1.qcow2", "d2.raw"))
        for d in (d0, d1):
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", d, "1M"], check=True)
        with open(raw, "wb") as f:
            f.truncate(1 << 20)
        sock = os.path.join(tmp, "q.sock")
        g = Guest(cmd(vmm, elf, d0, d1, raw, sock))
        if not check(g.wait_line("tick=2 ", timeout=120), "the guest ticks", g.text()):
            return
        q = Qmp(sock)
        before = chain(q)
        check(before["d0"][0] == d0 and before["d1"][0] == d1, "query-block: the images", before)

        def tx(actions, **props):
            args = {"actions": actions}
            if props:
                args["properties"] = props
            return q.cmd("transaction", args)

        def unchanged(what):
            now = chain(q)
            check(now == before, f"{what}: every drive is on its image, as before", now)
            check(snapshots(d0) == [] and snapshots(d1) == [],
                  f"{what}: no internal snapshot was left", (snapshots(d0), snapshots(d1)))

        r = tx([])
        check(r == {"return": {}}, "an empty transaction does nothing", r)
        for name, actions, want in (
                ("abort alone", [{"type": "abort", "data": {}}],
                 "Transaction aborted using Abort action"),
                ("an action without data", [{"type": "abort"}],
                 "Parameter 'actions[0].data' is missing"),
                ("an unknown type", [{"type": "bogus", "data": {}}],
                 "Parameter 'type' does not accept value 'bogus'")):
            r = tx(actions)
            check(err(r) == want, f"refused: {name}", r)
        r = q.cmd("transaction", {})
        check(err(r) == "Parameter 'actions' is missing", "refused: no actions", r)
        r = tx([sync("d0", os.path.join(tmp, "o0.qcow2"))], **{"completion-mode": "grouped"})
        check(err(r) == "Action 'blockdev-snapshot-sync' does not support Transaction property "
              "completion-mode = grouped", "refused: completion-mode grouped", r)

        # Refused after the first action was prepared: nothing switches.
        r = tx([sync("d0", os.path.join(tmp, "a0.qcow2"), **{"snapshot-node-name": "x0"}),
                {"type": "blockdev-snapshot-internal-sync", "data": {"device": "d1",
                                                                      "name": "s0"}},
                {"type": "abort", "data": {}}])
        check(err(r) == "Transaction aborted using Abort action",
              "overlay + internal snapshot + abort: aborted", r)
        unchanged("after abort")
        r = tx([sync("d0", os.path.join(tmp, "b0.qcow2")),
                sync("d9", os.path.join(tmp, "b9.qcow2"))])
        check(err(r) == "Cannot find device='d9' nor node-name=''",
              "overlay + overlay of an unknown drive: refused", r)
        unchanged("after the unknown drive")
        r = tx([sync("d0", os.path.join(tmp, "c0.qcow2")),
                sync("d1", os.path.join(tmp, "nodir", "c1.qcow2"))])
        check(err(r) and "No such file or directory" in err(r),
              "overlay + overlay in a directory that does not exist: refused", r)
        unchanged("after the missing directory")
        r = tx([{"type": "blockdev-snapshot-internal-sync",
                 "data": {"device": "d2", "name": "s1"}}])
        check(err(r) == "Block format 'raw' used by device 'd2' does not support internal "
              "snapshots", "internal snapshot of a raw drive: refused", r)
        r = tx([{"type": "blockdev-snapshot-internal-sync",
                 "data": {"device": "d0", "name": ""}}])
        check(err(r) == "Name is empty", "internal snapshot without a name: refused", r)
        r = tx([sync("d0", os.path.join(tmp, "e0.qcow2"), **{"snapshot-node-name": "n1"})])
        check(err(r) == "New overlay node-name already in use",
              "an overlay node-name already in use: refused", r)

        # The commit step fails on the second drive: the first, switched, goes back.
        locked = os.path.join(tmp, "locked.qcow2")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", locked, "1M"], check=True)
        holder = subprocess.Popen(["qemu-io", "-f", "qcow2", locked], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        holder.stdin.write(b"help\n")
        holder.stdin.flush()
        # qemu-io holds the image (and its write lock) once it answers.
        holder.stdout.read1(64)
        r = tx([sync("d0", os.path.join(tmp, "f0.qcow2"), **{"snapshot-node-name": "f0"}),
                sync("d1", locked, mode="existing")])
        check(err(r) and "lock" in err(r),
              "overlay + overlay on a write-locked image: refused when it switches", r)
        unchanged("after the locked image")
        if not is_qemu:  # QEMU leaves the files it created behind
            check(not os.path.exists(os.path.join(tmp, "f0.qcow2")),
                  "the overlay created for the refused transaction is removed")
        holder.stdin.close()
        holder.wait(timeout=30)
        holder = None

        # Bitmaps.
        r = tx([{"type": "block-dirty-bitmap-add", "data": {"node": "n0", "name": "bm0"}},
                {"type": "abort", "data": {}}])
        check(err(r) == "Transaction aborted using Abort action", "bitmap add + abort", r)
        check(chain(q)["d0"][2] == [], "after abort: no bitmap", chain(q))
        r = tx([{"type": "block-dirty-bitmap-add", "data": {"node": "n0", "name": "bm0"}},
                {"type": "block-dirty-bitmap-clear", "data": {"node": "n0", "name": "bm0"}}])
        check(r == {"return": {}}, "bitmap add + clear", r)
        check(chain(q)["d0"][2] == ["bm0"], "the bitmap is there", chain(q))
        r = tx([{"type": "block-dirty-bitmap-clear", "data": {"node": "n0", "name": "bm9"}}])
        check(err(r) == "Dirty bitmap 'bm9' not found", "clear of an unknown bitmap: refused", r)
        q.cmd("block-dirty-bitmap-remove", {"node": "n0", "name": "bm0"})

        # Two overlays and an internal snapshot in one step.
        o0, o1 = os.path.join(tmp, "o0.qcow2"), os.path.join(tmp, "o1.qcow2")
        r = tx([{"type": "blockdev-snapshot-internal-sync",
                 "data": {"device": "d1", "name": "s1"}},
                sync("d0", o0, **{"snapshot-node-name": "ov0"}),
                sync("d1", o1, **{"snapshot-node-name": "ov1", "format": "qcow2"})])
        check(r == {"return": {}}, "internal snapshot + two overlays: done", r)
        now = chain(q)
        check(now["d0"][:2] == (o0, "ov0") and now["d1"][:2] == (o1, "ov1") and
              now["d2"] == before["d2"], "query-block: both drives on their overlays", now)
        check(snapshots(d1) == ["s1"], "qemu-img: the internal snapshot is in d1's old image",
              snapshots(d1))
        r = tx([{"type": "blockdev-snapshot-internal-sync",
                 "data": {"device": "d1", "name": "s2"}},
                {"type": "blockdev-snapshot-internal-sync",
                 "data": {"device": "d1", "name": "s2"}}])
        check(err(r) == "Snapshot with name 's2' already exists on device 'd1'",
              "the same internal snapshot twice: refused", r)
        check(snapshots(o1) == [], "and none was left", snapshots(o1))
        r = q.cmd("blockdev-snapshot-internal-sync", {"device": "d1", "name": "s3"})
        check(r == {"return": {}}, "blockdev-snapshot-internal-sync alone", r)
        check(snapshots(o1) == ["s3"], "qemu-img: it is in d1's overlay", snapshots(o1))

        status, out, errs = g.finish(timeout=300)
        check(status == 1 and "not ok" not in out and "the last acknowledged disk write" in out,
              f"the guest's continuity checks pass, disk included (exit {status})", out + errs)
        for img in (d0, d1, o0, o1):
            p = subprocess.run(["qemu-img", "check", img], capture_output=True, text=True)
            check(p.returncode == 0 and "No errors were found" in p.stdout,
                  f"qemu-img check {os.path.basename(img)}: clean", p.stdout + p.stderr)
        p = subprocess.run(["qemu-img", "info", "-U", o0], capture_output=True, text=True)
        check(f"backing file: {os.path.realpath(d0)}" in p.stdout or
              "backing file: d0.qcow2" in p.stdout or f"backing file: {d0}" in p.stdout,
              "qemu-img info: the overlay's backing file is the old image", p.stdout)
    finally:
        if holder:
            holder.kill()
        if g and g.p.poll() is None:
            g.kill()
        tap.report()
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
