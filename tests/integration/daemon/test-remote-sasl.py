#!/usr/bin/env python3
"""test-remote-sasl.py - SASL authentication in vireod (Cyrus SASL, the
"vireod" application's vireod.conf under --root, users made with
saslpasswd2), with the stock virsh and a raw client.

  test-remote-sasl.py VIREOD VSH

Runs in a network namespace of its own. Checked:
 - qemu+tcp:// with a SASL user: the mechanism must give a security layer
   on plain TCP (libvirt's rule), so DIGEST-MD5 is chosen and every byte
   after the exchange is wrapped (the log says 128 bits); SCRAM-SHA-256 is
   not offered there, and a daemon offering only SCRAM cannot be used over
   plain TCP by virsh;
 - qemu+tls:// with auth_tls = "sasl": SCRAM-SHA-256 over TLS;
 - auth_unix_rw = "sasl" on the UNIX socket, with SCRAM-SHA-256;
 - refusals: a wrong password, a user outside sasl_allowed_username_list,
   calls before authentication ("authentication required"), garbage in the
   SASL exchange (an unknown mechanism, bytes that are no DIGEST-MD5
   response, oversized data); the daemon keeps serving the others.
vsh does the same through libvireo's SASL client, answering from auth.conf
or asking on stdin as virsh does. Prints TAP.
"""
import os
import shutil
import socket
import struct
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import remotelib as rl  # noqa: E402
from daemonlib import Tap, wait_for  # noqa: E402

rl.enter_netns()
VIREOD, VSH = sys.argv[1], sys.argv[2]
t = Tap()
tmp = tempfile.mkdtemp(prefix="vireod-sasl-")
pki = rl.Pki(os.path.join(tmp, "pki"))
server_cert = pki.server("servercert", "127.0.0.1")
good = pki.client_dir("good", pki.client("client1", "client1"))
daemons = []
USERS = {"fred": "fredsecret", "mallory": "mallorysecret"}


def virsh(uri, user, password, *args, host="127.0.0.1", tool="virsh"):
    auth = rl.auth_file(os.path.join(tmp, "auth-%s.conf" % user), user, password, host)
    return rl.run([tool, "-q", "-c", uri] + list(args), timeout=60,
                  env=rl.client_env(LIBVIRT_AUTH_FILE=auth))


def vsh(uri, user, password, *args, host="127.0.0.1"):
    return virsh(uri, user, password, *args, host=host, tool=VSH)


def start(name, conf, mechs="scram-sha-256 digest-md5"):
    d = rl.Vireod(VIREOD, tmp, name, conf)
    pki.install_server(d.root, server_cert)
    rl.sasl_setup(d.root, USERS, mechs)
    daemons.append(d)
    d.start()
    wait_for(lambda: socket.socket().connect_ex(("127.0.0.1", 16509)) == 0, 10)
    return d


def raw():
    return rl.RawClient(socket.create_connection(("127.0.0.1", 16509), timeout=20))


TCP = "qemu+tcp://127.0.0.1/system"
TLS = "qemu+tls://127.0.0.1/system?pkipath=" + good
try:
    d = start("main", 'listen_tcp = 1\nauth_tls = "sasl"\nauth_unix_rw = "sasl"\n'
                      'sasl_allowed_username_list = ["fred", "admin*"]\n')
    r = virsh(TCP, "fred", "fredsecret", "list", "--all")
    t.ok(r.returncode == 0, "virsh over qemu+tcp:// with a SASL user", r.stderr + d.log()[-800:])
    t.ok("SASL user 'fred' authenticated with DIGEST-MD5 (security layer 128 bits)" in d.log(),
         "plain TCP: a mechanism with a security layer, and the layer in use", d.log()[-800:])
    r = virsh(TCP, "fred", "fredsecret", "hostname")
    t.ok(r.returncode == 0 and r.stdout.strip() == socket.gethostname(),
         "calls go on through the SASL security layer", r.stdout + r.stderr)
    r = virsh(TLS, "fred", "fredsecret", "list", "--all")
    t.ok(r.returncode == 0 and "authenticated with SCRAM-SHA-256 (security layer 0 bits)"
         in d.log(), "virsh over qemu+tls:// with auth_tls sasl uses SCRAM-SHA-256",
         r.stderr + d.log()[-800:])
    r = virsh("qemu+unix:///system?socket=" + d.sock, "fred", "fredsecret", "list",
              host="localhost")
    t.ok(r.returncode == 0 and d.log().count("SCRAM-SHA-256") >= 2,
         "auth_unix_rw sasl on the UNIX socket", r.stderr + d.log()[-800:])

    # vsh through libvireo's SASL client.
    r = vsh(TCP, "fred", "fredsecret", "hostname")
    t.ok(r.returncode == 0 and r.stdout.strip() == socket.gethostname() and
         d.log().count("DIGEST-MD5 (security layer 128 bits)") >= 3,
         "vsh over qemu+tcp:// with DIGEST-MD5 and its security layer", r.stderr + d.log()[-600:])
    r = vsh(TLS, "fred", "fredsecret", "list", "--all")
    t.ok(r.returncode == 0 and d.log().count("SCRAM-SHA-256") >= 3,
         "vsh over qemu+tls:// with SCRAM-SHA-256", r.stderr + d.log()[-600:])
    r = vsh("vireo+unix:///system?socket=" + d.sock, "fred", "fredsecret", "list",
            host="localhost")
    t.ok(r.returncode == 0, "vsh on the UNIX socket with auth_unix_rw sasl", r.stderr)
    r = rl.run([VSH, "-q", "-c", TCP, "hostname"], input="fred\nfredsecret\n", timeout=60,
               env=rl.client_env(LIBVIRT_AUTH_FILE="/nonexistent"))
    t.ok(r.returncode == 0 and "Please enter your authentication name: Please enter your "
         "password: " in r.stdout and r.stdout.strip().endswith(socket.gethostname()),
         "vsh asks for the name and password as virsh does", r.stdout + r.stderr)
    r = vsh(TCP, "fred", "wrong", "list")
    t.ok(r.returncode != 0 and "authentication failed" in r.stderr,
         "vsh with a wrong password: authentication failed", r.stderr)

    # Refusals.
    r = virsh(TCP, "fred", "wrong", "list")
    t.ok(r.returncode != 0 and "authentication failed" in r.stderr,
         "a wrong password: authentication failed", r.stderr)
    r = virsh(TCP, "mallory", "mallorysecret", "list")
    t.ok(r.returncode != 0 and "authentication failed" in r.stderr and
         "user 'mallory' is not in sasl_allowed_username_list" in d.log(),
         "a user outside sasl_allowed_username_list is refused and logged",
         r.stderr + d.log()[-600:])

    c = raw()
    st, p = c.call(rl.PROC_AUTH_LIST)
    t.ok(st == 0 and struct.unpack(">II", p[:8]) == (1, 1), "AUTH_LIST on TCP says sasl",
         repr(p))
    st, p = c.call(rl.PROC_CONNECT_LIST_DOMAINS, struct.pack(">i", 10))
    t.ok(st == 1 and rl.error_message(p) == "authentication required",
         "a call before authenticating: authentication required", repr(p))
    st, p = c.call(rl.PROC_CONNECT_OPEN, struct.pack(">ii", 0, 0))
    t.ok(st == 1 and rl.error_message(p) == "authentication required",
         "even CONNECT_OPEN waits for authentication", repr(p))
    st, p = c.call(rl.PROC_AUTH_SASL_INIT)
    mechs = rl.string_reply(p) if st == 0 else ""
    t.ok("DIGEST-MD5" in mechs and "SCRAM" not in mechs,
         "plain TCP offers no mechanism without a security layer", mechs)
    st, p = c.call(rl.PROC_AUTH_SASL_START,
                   rl.xdr_string("NO-SUCH-MECH") + struct.pack(">i", 1) + rl.xdr_chars(b""))
    t.ok(st == 1 and "authentication failed" in rl.error_message(p),
         "an unknown mechanism: authentication failed", repr(p))
    c.call(rl.PROC_AUTH_SASL_INIT)
    st, p = c.call(rl.PROC_AUTH_SASL_START,
                   rl.xdr_string("DIGEST-MD5") + struct.pack(">i", 1) + rl.xdr_chars(b""))
    t.ok(st == 0, "DIGEST-MD5 starts with a challenge", repr(p))
    st, p = c.call(rl.PROC_AUTH_SASL_STEP,
                   struct.pack(">i", 0) + rl.xdr_chars(os.urandom(200)))
    t.ok(st == 1 and "authentication failed" in rl.error_message(p),
         "garbage as the response: authentication failed", repr(p))
    st, p = c.call(rl.PROC_AUTH_SASL_STEP,
                   struct.pack(">iI", 0, 70000) + b"\0\0\0\x41" * 1000)
    t.ok(st == 1, "SASL data over 65536 bytes is refused", repr(p))
    st, p = c.call(rl.PROC_AUTH_SASL_STEP, struct.pack(">i", 0) + rl.xdr_chars(b"x"))
    t.ok(st == 1 and "authentication failed" in rl.error_message(p),
         "a step after a failed exchange: authentication failed", repr(p))
    st, p = c.call(rl.PROC_CONNECT_LIST_DOMAINS, struct.pack(">i", 10))
    t.ok(st == 1 and rl.error_message(p) == "authentication required",
         "after the failures the client is still unauthenticated", repr(p))
    c.s.close()
    r = virsh(TCP, "fred", "fredsecret", "list")
    t.ok(r.returncode == 0, "the daemon serves other clients after the garbage", r.stderr)
    d.stop()

    # A daemon offering only SCRAM: no use on plain TCP, fine over TLS.
    d2 = start("scramonly", 'listen_tcp = 1\nauth_tls = "sasl"\n', mechs="scram-sha-256")
    r = virsh(TCP, "fred", "fredsecret", "list")
    t.ok(r.returncode != 0, "SCRAM only: virsh cannot use plain TCP (no security layer)",
         r.stdout + r.stderr)
    r = virsh(TLS, "fred", "fredsecret", "list")
    t.ok(r.returncode == 0, "SCRAM only: virsh over TLS works", r.stderr + d2.log()[-600:])
    d2.stop()
finally:
    for x in daemons:
        x.stop()
reports = [x.root + ": " + x.sanitizer_report() for x in daemons if x.sanitizer_report()]
t.ok(not reports, "no sanitizer report from any daemon", "\n".join(reports))
shutil.rmtree(tmp, ignore_errors=True)
t.done()
