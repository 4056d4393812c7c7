#!/usr/bin/env python3
"""record-session.py - records what a client sends to vireod, for the
fuzz-daemon seed corpus.

  record-session.py DAEMON_SOCK PROXY_SOCK OUT_FILE FIRST_BYTE

Listens on PROXY_SOCK, relays one connection to DAEMON_SOCK both ways, and
writes FIRST_BYTE (fuzz-daemon's client kind and chunk size, e.g. 0xfe for a
read-write client fed in 128-byte chunks) followed by every byte the client
sent. Point the stock virsh at the proxy:
virsh -c 'qemu+unix:///system?socket=PROXY_SOCK' list --all
"""
import os
import select
import socket
import sys

daemon_sock, proxy_sock, out, first = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4], 0)
if os.path.exists(proxy_sock):
    os.unlink(proxy_sock)
ls = socket.socket(socket.AF_UNIX)
ls.bind(proxy_sock)
ls.listen(1)
ls.settimeout(20)
c, _ = ls.accept()
s = socket.socket(socket.AF_UNIX)
s.connect(daemon_sock)
sent = bytearray([first])
open_ = True
while open_:
    r, _, _ = select.select([c, s], [], [], 20)
    if not r:
        break
    for x in r:
        data = x.recv(65536)
        if not data:
            open_ = False
            break
        if x is c:
            sent += data
            s.sendall(data)
        else:
            c.sendall(data)
open(out, "wb").write(bytes(sent))
