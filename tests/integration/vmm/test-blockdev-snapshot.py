#!/usr/bin/env python3
"""QMP blockdev-snapshot (command and transaction action) while the guest writes its disk.

Usage: test-blockdev-snapshot.py TEST_GUEST_ELF VMM...

libvirt's way of taking an external disk snapshot in -blockdev mode: the overlay is made
outside (qemu-img create -b OLD -F FMT), added with blockdev-add as a qcow2 node over a file
node with "backing": null, then put on top of the drive with the transaction action
blockdev-snapshot {node, overlay} (or the bare command). The continuity guest (tests=state)
writes its first disk all along. The same script runs against QEMU 7.2, so replies and
error words are QEMU's. Refusals (node or overlay not found, overlay used by a device, with
a backing image, not a format with backing files, read-only; a transaction whose other
action fails in its prepare step, one aborted, one whose second action fails when its
drive switches) leave every drive on its image. A transaction switches two drives at once
(one overlay's header names its backing file, the other's names none: the header is not
rewritten); the bare command puts one on a raw drive. Afterwards the guest's continuity
checks pass, qemu-img check finds every image clean, the old image did not change after
the switch (qemu-img compare with a copy taken then) and the second drive's chain reads as
its old image did (qemu-img compare).
"""
import json
import os
import shlex
import subprocess
import sys
import tempfile

from vmmlib import Guest, Qmp, Tap

SEED = 11
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
    """Each drive's (file, node-name, backing_file) from query-block."""
    out = {}
    for b in q.cmd("query-block")["return"]:
        ins = b.get("inserted", {})
        out[b["device"]] = (ins.get("file"), ins.get("node-name"), ins.get("backing_file"))
    return out


def err(r):
    return r.get("error", {}).get("desc")


def img(*args):
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", *args], check=True)


def snap(node, overlay):
    return {"type": "blockdev-snapshot", "data": {"node": node, "overlay": overlay}}


def main():
    elf, vmm = sys.argv[1], sys.argv[2]
    is_qemu = "qemu-system" in vmm
    tmp = tempfile.mkdtemp(prefix="vireo-bsnap-", dir=os.environ.get("MESON_BUILD_ROOT"))
    g = None
    holder = None
    try:
        p = lambda n: os.path.join(tmp, n)  # noqa: E731
        d0, d1, raw = p("d0.qcow2"), p("d1.qcow2"), p("d2.raw")
        for d in (d0, d1):
            img(d, "1M")
        subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x3c 0 300k", d1],
                       check=True, capture_output=True)
        with open(raw, "wb") as f:
            f.truncate(1 << 20)
        # The overlays, made outside as libvirt makes them.
        img("-b", d0, "-F", "qcow2", p("ov0.qcow2"), "1M")   # header names the old image
        img(p("ov1.qcow2"), "1M")                           # header names none
        img("-b", raw, "-F", "raw", p("ov2.qcow2"), "1M")   # over the raw drive
        img(p("other.qcow2"), "1M")
        img("-b", p("other.qcow2"), "-F", "qcow2", p("hasb.qcow2"), "1M")
        img(p("ro.qcow2"), "1M")
        with open(p("plain.raw"), "wb") as f:
            f.truncate(1 << 20)
        sock = p("q.sock")
        g = Guest(cmd(vmm, elf, d0, d1, raw, sock))
        if not check(g.wait_line("tick=2 ", timeout=120), "the guest ticks", g.text()):
            return
        q = Qmp(sock)
        before = chain(q)
        check(before["d0"][:2] == (d0, "n0") and before["d1"][:2] == (d1, "n1"),
              "query-block: the images", before)

        def add(node, path, fmt="qcow2", **kw):
            """A format node over its file node, as libvirt adds them (two nodes)."""
            r1 = q.cmd("blockdev-add", {"driver": "file", "filename": path,
                                        "node-name": node + "-file"})
            args = {"driver": fmt, "file": node + "-file", "node-name": node}
            args.update(kw)
            r2 = q.cmd("blockdev-add", args)
            check(r1 == {"return": {}} and r2 == {"return": {}}, f"blockdev-add {node}",
                  (r1, r2))

        def add1(node, path, fmt="qcow2", **kw):
            """A format node with its file node inline (one node for blockdev-del)."""
            args = {"driver": fmt, "file": {"driver": "file", "filename": path},
                    "node-name": node}
            args.update(kw)
            r = q.cmd("blockdev-add", args)
            check(r == {"return": {}}, f"blockdev-add {node}", r)

        add("ov0", p("ov0.qcow2"), backing=None)
        add1("ov1", p("ov1.qcow2"))
        add1("ov2", p("ov2.qcow2"), backing=None)
        # Nodes for the refusals, each added for its case and deleted after it.
        temp = {"hasb": lambda: add1("hasb", p("hasb.qcow2")),
                "rawn": lambda: add1("rawn", p("plain.raw"), fmt="raw"),
                "plain": lambda: check(q.cmd("blockdev-add", {
                    "driver": "file", "filename": p("plain.raw"), "node-name": "plain"}) ==
                    {"return": {}}, "blockdev-add plain"),
                "ro": lambda: add1("ro", p("ro.qcow2"), backing=None, **{"read-only": True})}

        def unchanged(what):
            now = chain(q)
            check(now == before, f"{what}: every drive is on its image, as before", now)

        def tx(actions, **props):
            args = {"actions": actions}
            if props:
                args["properties"] = props
            return q.cmd("transaction", args)

        for name, args, want in (
                ("node not found", {"node": "nope", "overlay": "ov0"},
                 "Cannot find device='nope' nor node-name='nope'"),
                ("overlay not found", {"node": "n0", "overlay": "nope"},
                 "Cannot find device='nope' nor node-name='nope'"),
                ("overlay used by a device", {"node": "n0", "overlay": "n1"},
                 "The overlay is already in use"),
                ("overlay with a backing image", {"node": "n0", "overlay": "hasb"},
                 "The overlay already has a backing image"),
                ("a raw overlay", {"node": "n0", "overlay": "rawn"},
                 "The overlay does not support backing images"),
                ("a file node as overlay", {"node": "n0", "overlay": "plain"},
                 "The overlay does not support backing images"),
                ("a read-only overlay", {"node": "n0", "overlay": "ro"},
                 "Block node is read-only"),
                ("no overlay", {"node": "n0"}, "Parameter 'overlay' is missing"),
                ("an unknown member", {"node": "n0", "overlay": "ov0", "x": 1},
                 "Parameter 'x' is unexpected")):
            node = args.get("overlay")
            if node in temp:
                temp[node]()
            r = q.cmd("blockdev-snapshot", args)
            check(err(r) == want, f"blockdev-snapshot refused: {name}", r)
            unchanged(f"after '{name}'")
            r = tx([{"type": "blockdev-snapshot", "data": args}])
            want = want.replace("Parameter '", "Parameter 'actions[0].data.")
            check(err(r) == want, f"transaction action refused: {name}", r)
            if node in temp:
                r = q.cmd("blockdev-del", {"node-name": node})
                check(r == {"return": {}}, f"blockdev-del {node}", r)

        r = tx([snap("n0", "ov0")], **{"completion-mode": "grouped"})
        check(err(r) == "Action 'blockdev-snapshot' does not support Transaction property "
              "completion-mode = grouped", "refused: completion-mode grouped", r)
        r = tx([snap("n0", "ov0"), {"type": "abort", "data": {}}])
        check(err(r) == "Transaction aborted using Abort action", "blockdev-snapshot + abort", r)
        unchanged("after abort")
        r = tx([snap("n0", "ov0"),
                {"type": "blockdev-snapshot-sync",
                 "data": {"device": "d1", "snapshot-file": p("nodir/x.qcow2")}}])
        check(err(r) and "No such file or directory" in err(r),
              "blockdev-snapshot + blockdev-snapshot-sync in a missing directory: refused", r)
        unchanged("after the missing directory")

        # The second action fails when its drive switches: the first goes back.
        locked = p("locked.qcow2")
        img(locked, "1M")
        holder = subprocess.Popen(["qemu-io", "-f", "qcow2", locked], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        holder.stdin.write(b"help\n")
        holder.stdin.flush()
        holder.stdout.read1(64)  # qemu-io holds the image (and its write lock) once it answers
        r = tx([snap("n0", "ov0"),
                {"type": "blockdev-snapshot-sync",
                 "data": {"device": "d1", "snapshot-file": locked, "mode": "existing"}}])
        check(err(r) and "lock" in err(r),
              "blockdev-snapshot + blockdev-snapshot-sync on a write-locked image: refused", r)
        unchanged("after the locked image")
        holder.stdin.close()
        holder.wait(timeout=30)
        holder = None

        # The same node twice: once the first overlay is on it, it is a backing image.
        r = tx([snap("n0", "ov0"), snap("n0", "ov2")])
        check(err(r) == "Node 'n0' is busy: node is used as backing hd of 'ov0'",
              "two blockdev-snapshot actions on one node: refused", r)
        unchanged("after the same node twice")

        # Two drives at once.
        r = tx([snap("n0", "ov0"), snap("d1", "ov1")])
        check(r == {"return": {}}, "transaction: blockdev-snapshot of two drives", r)
        copy = p("d0-at-switch.raw")
        subprocess.run(["qemu-img", "convert", "-U", "-f", "qcow2", "-O", "raw", d0, copy],
                       check=True)
        now = chain(q)
        # The header of ov1 names no backing file: QEMU names the chain with a json: name.
        ov1_name = "json:" + json.dumps({
            "backing": {"driver": "qcow2", "file": {"driver": "file", "filename": d1}},
            "driver": "qcow2", "file": {"driver": "file", "filename": p("ov1.qcow2")}})
        check(now["d0"] == (p("ov0.qcow2"), "ov0", d0) and now["d1"] == (ov1_name, "ov1", d1) and
              now["d2"] == before["d2"],
              "query-block: both drives on their overlays, the old images below", now)
        r = q.cmd("blockdev-snapshot", {"node": "n0", "overlay": "ov2"})
        check(err(r) == "Node 'n0' is busy: node is used as backing hd of 'ov0'",
              "refused: a node that is now a backing image", r)
        r = q.cmd("blockdev-del", {"node-name": "ov0"})
        check(err(r) == "Node ov0 is in use", "blockdev-del of a drive's overlay: refused", r)
        # The bare command, over a raw image.
        r = q.cmd("blockdev-snapshot", {"node": "n2", "overlay": "ov2"})
        check(r == {"return": {}}, "blockdev-snapshot (command) on the raw drive", r)
        check(chain(q)["d2"] == (p("ov2.qcow2"), "ov2", raw), "query-block: the raw drive's chain",
              chain(q))

        status, out, errs = g.finish(timeout=300)
        check(status == 1 and "not ok" not in out and "the last acknowledged disk write" in out,
              f"the guest's continuity checks pass, disk included (exit {status})", out + errs)
        for i in (d0, d1, p("ov0.qcow2"), p("ov1.qcow2"), p("ov2.qcow2")):
            r = subprocess.run(["qemu-img", "check", i], capture_output=True, text=True)
            check(r.returncode == 0 and "No errors were found" in r.stdout,
                  f"qemu-img check {os.path.basename(i)}: clean", r.stdout + r.stderr)
        r = subprocess.run(["qemu-img", "compare", "-f", "raw", "-F", "qcow2", copy, d0],
                           capture_output=True, text=True)
        check(r.returncode == 0, "qemu-img compare: the old image did not change after the "
              "switch", r.stdout + r.stderr)
        m = json.loads(subprocess.run(["qemu-img", "map", "--output=json", p("ov0.qcow2")],
                                      capture_output=True, text=True).stdout)
        check(any(e["data"] and e["depth"] == 0 for e in m),
              "qemu-img map: the guest's writes after the switch are in the overlay", m)
        info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", p("ov1.qcow2")],
                                         capture_output=True, text=True).stdout)
        check("backing-filename" not in info,
              "qemu-img info: the overlay's header still names no backing file", info)
        ov1_chain = "json:" + json.dumps({
            "driver": "qcow2", "file": {"driver": "file", "filename": p("ov1.qcow2")},
            "backing": {"driver": "qcow2", "file": {"driver": "file", "filename": d1}}})
        r = subprocess.run(["qemu-img", "compare", ov1_chain, d1], capture_output=True,
                           text=True)
        check(r.returncode == 0, "qemu-img compare: the second drive's chain reads as its old "
              "image", r.stdout + r.stderr)
    finally:
        if holder:
            holder.kill()
        if g and g.p.poll() is None:
            g.kill()
        tap.report()
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
