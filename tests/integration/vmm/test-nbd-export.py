#!/usr/bin/env python3
"""block-export-add, block-export-del, query-block-exports and
nbd-server-remove, checked with the real NBD tools and against QEMU 7.2.

Usage: test-nbd-export.py TEST_GUEST_ELF VMM_COMMAND

VMM_COMMAND is vireo-vmm, or qemu-system-x86_64 with its options: the same
script runs on both, so the replies and error words are QEMU's. A VM (-S)
with two -blockdev raw nodes: block-export-add (name, description,
writable) is seen by `nbdinfo --list` and written through by `qemu-io`;
query-block-exports lists it and an nbd-server-add export; bad ids, a
duplicate id or name, an unknown node, another export type are refused;
while a client is connected to an export, block-export-del and
nbd-server-remove in mode safe refuse ("still in use"), mode hard ends the
client's connection and the export is gone; an unknown export and an
unknown mode are refused; with max-connections 1 a second client waits
for its greeting until the first leaves.
"""
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile

from vmmlib import Guest, Qmp, Tap

tap = Tap()
check = tap.check


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def recv(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            return b
        b += c
    return b


def connect(path, name):
    """A client that has chosen the export (NBD_OPT_GO) and stays connected."""
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    recv(s, 18)
    s.sendall(struct.pack(">I", 3))
    n = name.encode()
    data = struct.pack(">I", len(n)) + n + struct.pack(">H", 0)
    s.sendall(struct.pack(">QII", 0x49484156454F5054, 7, len(data)) + data)
    while True:
        _, _, rt, rl = struct.unpack(">QIII", recv(s, 20))
        recv(s, rl)
        if rt == 1 or rt & 0x80000000:
            return s if rt == 1 else None


def closed_by_server(s):
    s.settimeout(60)
    try:
        return s.recv(1) == b""
    except (ConnectionResetError, socket.timeout):
        return False


def desc(r):
    return r.get("error", {}).get("desc", "")


def main():
    elf, vmm = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="vireo-nbdexp-", dir=os.environ.get("MESON_BUILD_ROOT"))
    g = None
    held = []
    try:
        imgs = []
        for i in range(2):
            imgs.append(os.path.join(tmp, f"d{i}.raw"))
            with open(imgs[-1], "wb") as f:
                f.truncate(4 << 20)
        sock = os.path.join(tmp, "qmp.sock")
        cmd = vmm.split() + ["-S", "-nodefaults", "-display", "none", "-m", "64",
                             "-kernel", elf]
        for i, img in enumerate(imgs):
            cmd += ["-blockdev", f"driver=raw,node-name=n{i},file.driver=file,"
                    f"file.filename={img}", "-device", f"virtio-blk-pci,drive=n{i},share-rw=on"]
        g = Guest(cmd + ["-qmp", f"unix:{sock},server=on,wait=off"])
        q = Qmp(sock)
        r = q.cmd("query-block-exports")
        check(r.get("return") == [], "query-block-exports: none yet", r)
        add = {"type": "nbd", "id": "e0", "node-name": "n0", "name": "disk0",
               "description": "the first disk", "writable": True}
        r = q.cmd("block-export-add", add)
        check(desc(r) == "NBD server not running", "block-export-add before nbd-server-start: "
              "NBD server not running", r)
        ns = os.path.join(tmp, "nbd.sock")
        q.cmd("nbd-server-start", {"addr": {"type": "unix", "data": {"path": ns}}})
        r = q.cmd("block-export-add", add)
        check("return" in r, "block-export-add type nbd, id, node-name, name, description, "
              "writable", r)
        r2 = q.cmd("nbd-server-add", {"device": "n1"})
        check("return" in r2, "nbd-server-add of the other node", r2)
        r = q.cmd("query-block-exports")
        want = [{"id": "e0", "type": "nbd", "node-name": "n0", "shutting-down": False},
                {"id": "n1", "type": "nbd", "node-name": "n1", "shutting-down": False}]
        check(sorted(r.get("return", []), key=lambda e: e["id"]) == want,
              "query-block-exports: both, with their ids and node names", r)
        p = run(["nbdinfo", "--list", f"nbd+unix:///?socket={ns}"])
        check(p.returncode == 0 and 'export="disk0"' in p.stdout and
              "description: the first disk" in p.stdout and 'export="n1"' in p.stdout,
              "nbdinfo --list: disk0 with its description, and n1", p.stdout + p.stderr)
        p = run(["qemu-io", "-f", "raw", "-c", "write -P 0x6b 64k 64k",
                 f"nbd+unix:///disk0?socket={ns}"])
        with open(imgs[0], "rb") as f:
            f.seek(64 << 10)
            landed = f.read(64 << 10) == b"\x6b" * (64 << 10)
        check(p.returncode == 0 and landed, "qemu-io writes through the writable export",
              p.stdout + p.stderr)
        refusals = [
            (dict(add, id="e0", name="other"), "Block export id 'e0' is already in use"),
            (dict(add, id="e9"), "NBD server already has export named 'disk0'"),
            (dict(add, id="9x", name="x"), "Invalid block export id"),
        ]
        for args, words in refusals:
            r = q.cmd("block-export-add", args)
            check(desc(r) == words, f"block-export-add refused: {words}", r)
        r = q.cmd("block-export-add", dict(add, id="e8", name="y", **{"node-name": "nope"}))
        check("nope" in desc(r) and desc(r).startswith("Cannot find"),
              "block-export-add of an unknown node is refused", r)
        r = q.cmd("block-export-add", {"type": "vduse-blk", "id": "v", "node-name": "n0"})
        check("error" in r, "block-export-add of another export type is refused", r)
        c = connect(ns, "disk0")
        held.append(c)
        check(c is not None, "a client is connected to disk0")
        r = q.cmd("block-export-del", {"id": "e0"})
        check(desc(r) == "export 'e0' still in use", "block-export-del while a client is "
              "connected: export 'e0' still in use", r)
        r = q.cmd("nbd-server-remove", {"name": "e0", "mode": "safe"})
        check(desc(r) == "export 'e0' still in use", "nbd-server-remove mode safe: the same", r)
        r = q.cmd("nbd-server-remove", {"name": "e0", "mode": "hard"})
        check("return" in r and closed_by_server(c),
              "nbd-server-remove mode hard: done, the client's connection ends", r)
        r = q.cmd("query-block-exports")
        # QEMU ends an export asynchronously: it may still be listed, shutting down.
        check([e["id"] for e in r.get("return", []) if not e["shutting-down"]] == ["n1"],
              "query-block-exports: e0 is gone (or shutting down)", r)
        p = run(["nbdinfo", f"nbd+unix:///disk0?socket={ns}"])
        check(p.returncode != 0, "disk0 is no longer served", p.stdout)
        r = q.cmd("nbd-server-remove", {"name": "nope"})
        check(desc(r) == "Export 'nope' is not found", "nbd-server-remove of an unknown "
              "export: Export 'nope' is not found", r)
        r = q.cmd("block-export-del", {"id": "n1", "mode": "soft"})
        check("error" in r and re.search("mode", desc(r)), "an unknown mode is refused", r)
        r = q.cmd("block-export-del", {"id": "n1"})
        check("return" in r, "block-export-del of an unused export", r)
        r = q.cmd("query-block-exports")
        # QEMU removes exports asynchronously: one may still be listed as shutting down.
        check(all(e.get("shutting-down") for e in r.get("return", [])),
              "query-block-exports: none left (or shutting down)", r)
        q.cmd("nbd-server-stop")
        # max-connections: at the limit the server stops accepting; the next client waits
        # (its greeting comes once the first leaves), as QEMU does.
        ns2 = os.path.join(tmp, "nbd2.sock")
        r = q.cmd("nbd-server-start", {"addr": {"type": "unix", "data": {"path": ns2}},
                                       "max-connections": 1})
        q.cmd("nbd-server-add", {"device": "n0"})
        first = connect(ns2, "n0")
        held.append(first)
        second = socket.socket(socket.AF_UNIX)
        held.append(second)
        second.connect(ns2)
        second.settimeout(2)
        try:
            early = second.recv(8)
        except socket.timeout:
            early = b""
        check("return" in r and first is not None and early == b"",
              "max-connections 1: a second client gets no greeting while the first is served",
              (r, early))
        first.close()
        second.settimeout(60)
        check(recv(second, 8) == b"NBDMAGIC",
              "max-connections 1: the waiting client is served once the first leaves")
        second.close()  # QEMU 7.2's nbd-server-stop hangs on a client still negotiating
        q.cmd("nbd-server-stop")
        q.cmd("quit")
        rc, _, err = g.finish(timeout=30)
        check(rc == 0, "the VMM exits cleanly after quit", err)
    finally:
        for s in held:
            if s:
                s.close()
        if g:
            g.kill()
        tap.report()
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
