#!/usr/bin/env python3
"""test-go-libvirt.py - the third stock client: go-libvirt (Debian's
golang-github-digitalocean-go-libvirt-dev), built here with Debian's Go in
GOPATH mode (no network), against vireod's UNIX socket; and the XDR
booleans Go-style clients send.

  test-go-libvirt.py VIREOD

go-libvirt-check/main.go connects, asks the hostname, defines, lists, looks
up, reads the state of and undefines a domain; each answer is checked. Then
a raw CONNECT_OPEN whose optional-name flag is 2 instead of 1 (rpcgen's
xdr_bool, which libvirtd decodes with, takes any non-zero word as true) is
accepted. Prints TAP.
"""
import os
import shutil
import socket
import struct
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import remotelib as rl  # noqa: E402
from daemonlib import Tap  # noqa: E402

VIREOD = sys.argv[1]
GOCODE = "/usr/share/gocode"
t = Tap()
tmp = tempfile.mkdtemp(prefix="vireod-go-")
d = rl.Vireod(VIREOD, tmp, "daemon", listen=False)
try:
    src = os.path.join(tmp, "go", "src", "vireocheck")
    os.makedirs(src)
    shutil.copy(os.path.join(os.path.dirname(os.path.abspath(__file__)), "go-libvirt-check",
                             "main.go"), src)
    exe = os.path.join(tmp, "vireocheck")
    env = dict(os.environ, GOPATH=os.path.join(tmp, "go") + ":" + GOCODE, GO111MODULE="off",
               GOCACHE=os.path.join(tmp, "gocache"), GOFLAGS="", CGO_ENABLED="0")
    r = rl.run(["go", "build", "-o", exe, "."], cwd=src, env=env, timeout=600)
    t.ok(r.returncode == 0, "the go-libvirt client builds with Debian's Go", r.stdout + r.stderr)
    d.start()
    r = rl.run([exe, d.sock], timeout=120)
    out = r.stdout
    t.ok(r.returncode == 0 and "hostname: %s <nil>" % socket.gethostname() in out,
         "go-libvirt connects and reads the hostname", out + r.stderr)
    t.ok("define: gocheck <nil>" in out and "listed: gocheck" in out and
         "lookup: gocheck <nil>" in out, "go-libvirt defines, lists and looks up a domain", out)
    t.ok("state: 5 <nil>" in out and "undefine: <nil>" in out and "disconnect: <nil>" in out,
         "go-libvirt reads its state (shut off), undefines and disconnects", out)

    c = rl.RawClient(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
    c.s.connect(d.sock)
    st, p = c.call(rl.PROC_CONNECT_OPEN,
                   struct.pack(">I", 2) + rl.xdr_string("qemu:///system") + struct.pack(">I", 0))
    t.ok(st == 0, "CONNECT_OPEN with a boolean word of 2 is accepted, as libvirtd accepts it",
         rl.error_message(p) if st else "")
    st, p = c.call(rl.PROC_CONNECT_LIST_DOMAINS, struct.pack(">i", 10))
    t.ok(st == 0, "... and the connection is open", repr(p))
    c.s.close()
finally:
    d.stop()
    shutil.rmtree(tmp, ignore_errors=True)
t.done()
