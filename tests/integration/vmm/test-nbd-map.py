#!/usr/bin/env python3
"""vireo-vmm's NBD server against qemu-nbd: structured replies, block status,
write-zeroes and trim, as the real tools see them.

Usage: test-nbd-map.py VIREO_VMM TEST_GUEST_ELF

A sparse qcow2 (data, a zero cluster, data, unallocated space) and a sparse
raw file (a hole, data, written zeroes, a hole) are exported by vireo-vmm
(the raw one writable) and, as copies, by qemu-nbd. Then, for each pair:
`nbdinfo --map` and `qemu-img map --output=json` print the same map; a
structured read over the whole export (a small NBD client below, which
negotiates NBD_OPT_STRUCTURED_REPLY and reads with and without
NBD_CMD_FLAG_DF) gets the same chunks (data and hole, offsets and lengths);
`nbdinfo` shows base:allocation and the same can_zero/can_trim/can_df/
can_cache; NBD_CMD_CACHE is answered as qemu-nbd does.
Through the writable exports `qemu-io` runs `write -z` (NO_HOLE),
`write -z -u` (may unmap) and `discard` on both servers; the maps stay equal,
and `qemu-img compare` finds the two images equal. The read-only export
refuses `write -z` and `discard`.
"""
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

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
            raise EOFError("server closed")
        b += c
    return b


def opt(s, o, data=b""):
    s.sendall(struct.pack(">QII", 0x49484156454F5054, o, len(data)) + data)
    replies = []
    while True:
        _, ro, rt, rl = struct.unpack(">QIII", recv(s, 20))
        replies.append((rt, recv(s, rl)))
        if rt == 1 or rt & 0x80000000:
            return replies


def structured_chunks(path, name, length, flags=0, cmd=0):
    """The reply chunks of one request (NBD_CMD_READ of [0, length) unless cmd says) after
    NBD_OPT_STRUCTURED_REPLY: a list of (type, offset, length), ("error", errno), or
    ("simple", errno) for a simple reply."""
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    recv(s, 18)
    s.sendall(struct.pack(">I", 3))
    r = opt(s, 8)
    assert r[-1][0] == 1, f"structured reply refused: {r}"
    n = name.encode()
    r = opt(s, 7, struct.pack(">I", len(n)) + n + struct.pack(">H", 0))
    assert r[-1][0] == 1, f"NBD_OPT_GO refused: {r}"
    s.sendall(struct.pack(">IHHQQI", 0x25609513, flags, cmd, 7, 0, length))
    chunks = []
    while True:
        head = recv(s, 16)
        if struct.unpack(">I", head[:4])[0] == 0x67446698:  # a simple reply
            chunks.append(("simple", struct.unpack(">I", head[4:8])[0]))
            break
        magic, flags, typ, handle, ln = struct.unpack(">IHHQI", head + recv(s, 4))
        assert magic == 0x668E33EF and handle == 7
        body = recv(s, ln)
        if typ == 1:
            chunks.append(("data", struct.unpack(">Q", body[:8])[0], ln - 8))
        elif typ == 2:
            chunks.append(("hole",) + struct.unpack(">QI", body))
        elif typ == 0x8001:
            chunks.append(("error", struct.unpack(">I", body[:4])[0]))
        else:
            chunks.append((typ, body))
        if flags & 1:
            break
    s.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 2, 8, 0, 0))
    s.close()
    return chunks


def info_flags(out):
    return {k: v for k, v in re.findall(r"\t(can_\w+|is_read_only): (\w+)", out)
            if k in ("can_zero", "can_trim", "can_df", "can_cache", "is_read_only")}


def main():
    vmm, elf = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="vireo-nbdmap-", dir=os.environ.get("MESON_BUILD_ROOT"))
    g = None
    qn = []
    try:
        qc = os.path.join(tmp, "s.qcow2")
        raw = os.path.join(tmp, "s.raw")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", qc, "16M"], check=True)
        subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x33 1M 512k",
                        "-c", "write -z 4M 1M", "-c", "write -P 1 8M 64k", qc],
                       check=True, capture_output=True)
        with open(raw, "wb") as f:
            f.truncate(16 << 20)
        subprocess.run(["qemu-io", "-f", "raw", "-c", "write -P 0x44 2M 1M",
                        "-c", "write -P 0 6M 64k", "-c", "write -P 0x55 12M 2M", raw],
                       check=True, capture_output=True)
        qc2, raw2 = qc + ".q", raw + ".q"
        shutil.copy(qc, qc2)
        with open(raw2, "wb") as f:
            f.truncate(16 << 20)
        subprocess.run(["qemu-io", "-f", "raw", "-c", "write -P 0x44 2M 1M",
                        "-c", "write -P 0 6M 64k", "-c", "write -P 0x55 12M 2M", raw2],
                       check=True, capture_output=True)
        sock = os.path.join(tmp, "qmp.sock")
        g = Guest([vmm, "-S", "-nodefaults", "-display", "none", "-m", "64", "-kernel", elf,
                   "-drive", f"file={raw},format=raw,if=none,id=d0",
                   "-device", "virtio-blk-pci,drive=d0",
                   "-drive", f"file={qc},format=qcow2,if=none,id=d1",
                   "-device", "virtio-blk-pci,drive=d1",
                   "-qmp", f"unix:{sock},server=on,wait=off"])
        q = Qmp(sock)
        vs = os.path.join(tmp, "v.sock")
        r1 = q.cmd("nbd-server-start", {"addr": {"type": "unix", "data": {"path": vs}}})
        r2 = q.cmd("nbd-server-add", {"device": "d0", "writable": True})
        r3 = q.cmd("nbd-server-add", {"device": "d1"})
        check("return" in r1 and "return" in r2 and "return" in r3,
              "nbd-server-start, nbd-server-add d0 (writable) and d1", f"{r1} {r2} {r3}")
        qs = {}
        for fmt, img, ro in (("raw", raw2, False), ("qcow2", qc2, True)):
            qs[fmt] = os.path.join(tmp, f"q-{fmt}.sock")
            qn.append(subprocess.Popen(["qemu-nbd", "-t", "--discard=unmap", "-f", fmt,
                                        "-k", qs[fmt]] +
                                       (["-r"] if ro else []) + [img]))
        for _ in range(100):
            if all(os.path.exists(p) for p in qs.values()):
                break
            time.sleep(0.1)
        pairs = [("raw", f"nbd+unix:///d0?socket={vs}", f"nbd+unix:///?socket={qs['raw']}"),
                 ("qcow2", f"nbd+unix:///d1?socket={vs}", f"nbd+unix:///?socket={qs['qcow2']}")]

        def compare_maps(what):
            for fmt, vu, qu in pairs:
                a, b = run(["nbdinfo", "--map", vu]), run(["nbdinfo", "--map", qu])
                check(a.returncode == 0 and a.stdout == b.stdout and "hole" in a.stdout,
                      f"{what}{fmt}: nbdinfo --map as against qemu-nbd",
                      f"vireo:\n{a.stdout}{a.stderr}qemu-nbd:\n{b.stdout}{b.stderr}")
                a = run(["qemu-img", "map", "--output=json", "-f", "raw", vu])
                b = run(["qemu-img", "map", "--output=json", "-f", "raw", qu])
                check(a.returncode == 0 and a.stdout == b.stdout and '"zero": true' in a.stdout,
                      f"{what}{fmt}: qemu-img map --output=json as against qemu-nbd",
                      f"vireo:\n{a.stdout}{a.stderr}qemu-nbd:\n{b.stdout}{b.stderr}")

        compare_maps("")
        for fmt, vu, qu in pairs:
            a, b = run(["nbdinfo", vu]), run(["nbdinfo", qu])
            check("base:allocation" in a.stdout and "using structured" in a.stdout and
                  info_flags(a.stdout) == info_flags(b.stdout),
                  f"{fmt}: nbdinfo: structured replies, base:allocation, can_zero/can_trim/"
                  f"can_df/is_read_only as qemu-nbd's {info_flags(b.stdout)}",
                  a.stdout + a.stderr)
        for fmt, name, qsock in (("raw", "d0", qs["raw"]), ("qcow2", "d1", qs["qcow2"])):
            for df in (False, True):
                a = structured_chunks(vs, name, 16 << 20, 4 if df else 0)
                b = structured_chunks(qsock, "", 16 << 20, 4 if df else 0)
                check(a == b and (df or any(c[0] == "hole" for c in a)),
                      f"{fmt}: a structured read{' with DF' if df else ''} gets qemu-nbd's "
                      f"chunks ({len(a)}: {', '.join(c[0] for c in a[:6])})",
                      f"vireo: {a}\nqemu-nbd: {b}")
        ops = ["write -z 2M 256k", "write -z -u 12M 1M", "discard 2560k 512k",
               "discard 13M 64k", "write -z -u 100k 4k"]
        for fmt, vu, qu in pairs[:1]:
            outs = [run(["qemu-io", "-f", "raw"] + sum((["-c", o] for o in ops), []) + [u])
                    for u in (vu, qu)]
            check(all(p.returncode == 0 and "error" not in p.stdout + p.stderr for p in outs),
                  "qemu-io write -z, write -z -u and discard through both writable exports",
                  outs[0].stdout + outs[0].stderr)
        compare_maps("after write -z and discard: ")
        p = run(["qemu-img", "compare", "-f", "raw", "-F", "raw", pairs[0][1], pairs[0][2]])
        check(p.returncode == 0, "qemu-img compare: the two raw exports read the same",
              p.stdout + p.stderr)
        with open(raw, "rb") as f:
            f.seek(12 << 20)
            data = f.read(1 << 20)
        check(data == bytes(1 << 20), "the zeroed range reads as zeroes in the image file")
        a = structured_chunks(vs, "d1", 1 << 20, 0, 5)
        b = structured_chunks(qs["qcow2"], "", 1 << 20, 0, 5)
        check(a == b == [("simple", 0)], "NBD_CMD_CACHE: a simple reply with no error, as "
              "qemu-nbd's", f"{a} {b}")
        for cmd, what in ((6, "NBD_CMD_WRITE_ZEROES"), (4, "NBD_CMD_TRIM")):
            a = structured_chunks(vs, "d1", 65536, 0, cmd)
            b = structured_chunks(qs["qcow2"], "", 65536, 0, cmd)
            check(a == b == [("error", 22)],
                  f"{what} to the read-only export: NBD_EINVAL (not offered), as qemu-nbd -r", f"{a} {b}")
        q.cmd("quit")
        rc, _, err = g.finish(timeout=30)
        check(rc == 0, "vireo-vmm exits cleanly after quit", err)
    finally:
        for p in qn:
            p.kill()
            p.wait()
        if g:
            g.kill()
        tap.report()
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
