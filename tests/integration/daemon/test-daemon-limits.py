#!/usr/bin/env python3
"""test-daemon-limits.py - what keeps vireod standing: one daemon per root,
clients that never read, and running out of file descriptors.

  test-daemon-limits.py VIREOD

 - A second vireod on the same --root stops with one line naming the first
   one's pid, and the first one's sockets stay (virsh still connects).
 - A call before CONNECT_OPEN gets libvirtd's "connection not open".
 - For 10 s two clients flood the UNIX socket without ever reading: one
   sends keepalive PINGs, the other CONNECT_GET_CAPABILITIES calls (each
   reply some kilobytes). The daemon stops reading from a client whose
   queued replies pass its bound (4 MiB), so its resident memory stays
   within BOUND_MIB of what it was before the flood, and the stock virsh
   keeps listing domains meanwhile.
 - With RLIMIT_NOFILE lowered, more clients connect than the daemon has
   descriptors: it backs off from accept() instead of spinning (its CPU time
   over 4 s stays under a second, where a spinning loop takes all 4) and
   serves again once clients leave.
Prints TAP.
"""
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import remotelib as rl  # noqa: E402
from daemonlib import Tap, wait_for  # noqa: E402

VIREOD = sys.argv[1]
BOUND_MIB = 24  # two clients' 4 MiB of queued replies, and room for the allocator
t = Tap()
tmp = tempfile.mkdtemp(prefix="vireod-limits-")
daemons = []


def virsh(sock, *args):
    return rl.run(["virsh", "-q", "-c", "qemu+unix:///system?socket=" + sock] + list(args),
                  timeout=120, env=dict(os.environ, LC_ALL="C"))


def start(name, conf="", limits=None):
    d = rl.Vireod(VIREOD, tmp, name, conf, listen=False, limits=limits)
    daemons.append(d)
    d.start()
    return d


def flood(path, kind, stop, counts):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.setblocking(False)
    if kind == "calls":
        msg = rl.message(rl.PROC_CONNECT_GET_CAPABILITIES)
        s.setblocking(True)
        s.sendall(rl.message(rl.PROC_CONNECT_OPEN, struct.pack(">ii", 0, 0)))
        s.setblocking(False)
    else:
        msg = rl.message(1, prog=rl.KEEPALIVE_PROGRAM, mtype=rl.MESSAGE, serial=0)
    batch = msg * 64
    off = 0
    while not stop.is_set():
        try:
            off += s.send(batch[off:])
            if off >= len(batch):
                counts[kind] += 64
                off = 0
        except BlockingIOError:
            time.sleep(0.001)
        except OSError:
            counts[kind + "-dropped"] = 1
            break
    s.close()


try:
    # --- one daemon per root ----------------------------------------------
    a = start("lock")
    b = rl.Vireod(VIREOD, tmp, "lock", listen=False)
    b.out = os.path.join(tmp, "second.out")
    p = b.start(wait=False)
    rc = p.wait(20)
    err = open(b.out).read()
    t.ok(rc == 1 and len(err.strip().splitlines()) == 1 and
         "another vireod (pid %d) is running" % a.proc.pid in err,
         "a second daemon on the root stops with one line naming the first one's pid", err)
    t.ok(os.path.exists(a.sock) and os.path.exists(a.sock + "-ro"),
         "the first daemon's sockets are still there")
    r = virsh(a.sock, "list", "--all")
    t.ok(r.returncode == 0, "the first daemon still answers", r.stderr)
    a.stop()
    c = rl.Vireod(VIREOD, tmp, "lock", listen=False)
    daemons.append(c)
    c.start()
    r = virsh(c.sock, "list", "--all")
    t.ok(r.returncode == 0, "after the first one exits, a new daemon takes the root", r.stderr)
    c.stop()

    # --- clients that never read --------------------------------------------
    d = start("flood")
    raw = rl.RawClient(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
    raw.s.connect(d.sock)
    st, p = raw.call(rl.PROC_CONNECT_LIST_DOMAINS, struct.pack(">i", 10))
    t.ok(st == 1 and rl.error_message(p) == "internal error: connection not open",
         "a call before CONNECT_OPEN: libvirtd's 'connection not open'", repr(p))
    raw.s.close()
    r = virsh(d.sock, "list", "--all")
    base = d.rss_kib()
    stop = threading.Event()
    counts = {"calls": 0, "pings": 0}
    threads = [threading.Thread(target=flood, args=(d.sock, k, stop, counts))
               for k in ("calls", "pings")]
    for th in threads:
        th.start()
    peak, lists, failures = base, 0, []
    end = time.time() + 10
    while time.time() < end:
        r = virsh(d.sock, "list", "--all")
        lists += 1
        if r.returncode != 0:
            failures.append(r.stderr)
        peak = max(peak, d.rss_kib())
        time.sleep(0.3)
    peak = max(peak, d.rss_kib())
    stop.set()
    for th in threads:
        th.join()
    t.diag("flood: %d calls and %d pings sent, RSS %d KiB before, peak %d KiB, %d lists" %
           (counts["calls"], counts["pings"], base, peak, lists))
    t.ok(counts["calls"] > 0 and counts["pings"] > 0, "the flooders sent", counts)
    t.ok(peak - base < BOUND_MIB * 1024,
         "RSS grew less than %d MiB during the flood (%d KiB)" % (BOUND_MIB, peak - base))
    t.ok(not failures and lists > 0, "virsh list answered throughout the flood (%d times)" % lists,
         "\n".join(failures))
    t.ok(d.proc.poll() is None and virsh(d.sock, "list").returncode == 0,
         "the daemon is well after the flooders leave")
    d.stop()

    # --- out of file descriptors ---------------------------------------------
    d = start("emfile", limits=(32, 32))
    conns = []
    for _ in range(60):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(d.sock)
            conns.append(s)
        except (BlockingIOError, OSError):
            s.close()
            break
    t.ok(wait_for(lambda: "Too many open files" in d.log(), 20),
         "the daemon runs out of descriptors (%d clients connected)" % len(conns), d.log()[-500:])
    cpu0 = d.cpu_seconds()
    time.sleep(4)
    used = d.cpu_seconds() - cpu0
    t.diag("CPU time over 4 s out of descriptors: %.2f s" % used)
    t.ok(used < 1.0, "no spinning on accept: %.2f s of CPU in 4 s" % used)
    t.ok("not accepting for 200 ms" in d.log(), "the back-off is logged", d.log()[-500:])
    for s in conns:
        s.close()
    r = virsh(d.sock, "list", "--all")
    t.ok(r.returncode == 0, "once clients leave, the daemon serves again", r.stderr)
    t.ok(d.proc.poll() is None, "the daemon is still running")
finally:
    for x in daemons:
        x.stop()
reports = [x.root + ": " + x.sanitizer_report() for x in daemons if x.sanitizer_report()]
t.ok(not reports, "no sanitizer report from any daemon", "\n".join(reports))
shutil.rmtree(tmp, ignore_errors=True)
t.done()
