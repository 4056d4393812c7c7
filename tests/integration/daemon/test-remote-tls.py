#!/usr/bin/env python3
"""test-remote-tls.py - vireod over TLS with the stock virsh, and the
certificates it refuses.

  test-remote-tls.py VIREOD VSH

Runs in a network namespace of its own (loopback only). A CA, server and
client certificates are made with certtool and put in libvirt's layout under
the daemon's --root; virsh connects with qemu+tls://127.0.0.1/system and
?pkipath=. Then what must fail fails, and says so: a client certificate from
another CA, an expired one, none at all, a DN outside tls_allowed_dn_list
(each presented by Python's ssl module, which does not check its own
certificate as virsh does, so that the daemon's check is the one tested: the
daemon closes without libvirt's confirmation byte and logs why), a server
certificate for another name (refused by virsh), a client stopping in the
middle of the handshake, idle clients beyond max_anonymous_clients (and idle
ones dropped after the 30 s authentication deadline), while
a connected client keeps working. vsh does the same over vireo+tls:// and
refuses what virsh refuses. Prints TAP.
"""
import os
import shutil
import socket
import ssl
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import remotelib  # noqa: E402
from daemonlib import Tap, wait_for  # noqa: E402

remotelib.enter_netns()
VIREOD, VSH = sys.argv[1], sys.argv[2]
t = Tap()
tmp = tempfile.mkdtemp(prefix="vireod-tls-")
pki = remotelib.Pki(os.path.join(tmp, "pki"))
server_cert = pki.server("servercert", "127.0.0.1")
good = pki.client_dir("good", pki.client("client1", "client1"))
URI = "qemu+tls://127.0.0.1/system?pkipath=%s"
daemons = []


def virsh(uri, *args, tool="virsh"):
    return remotelib.run([tool, "-q", "-c", uri] + list(args), timeout=60,
                         env=dict(os.environ, LC_ALL="C"))


def vsh(uri, *args):
    return virsh(uri, *args, tool=VSH)


def tls_probe(cert, key=pki.key, server_name="127.0.0.1"):
    """Connects with Python's ssl; returns libvirt's confirmation byte (b'' when the daemon
    closed instead)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki.ca)
    if cert:
        ctx.load_cert_chain(cert, key)
    s = socket.create_connection(("127.0.0.1", 16514), timeout=20)
    try:
        ts = ctx.wrap_socket(s, server_hostname=server_name)
        try:
            return ts.recv(1)
        except (ssl.SSLError, ConnectionResetError, OSError):
            return b""
        finally:
            ts.close()
    except (ssl.SSLError, ConnectionResetError, OSError):
        return b""
    finally:
        s.close()


def start(name, conf=""):
    d = remotelib.Vireod(VIREOD, tmp, name, conf)
    pki.install_server(d.root, server_cert)
    daemons.append(d)
    d.start()
    wait_for(lambda: socket.socket().connect_ex(("127.0.0.1", 16514)) == 0, 10)
    return d


try:
    d = start("main", "max_anonymous_clients = 3\n")
    r = virsh(URI % good, "list", "--all")
    t.ok(r.returncode == 0, "stock virsh lists domains over qemu+tls://", r.stderr + d.log())
    r = virsh(URI % good, "uri")
    t.ok(r.returncode == 0 and r.stdout.strip() == "qemu+tls://127.0.0.1/system?pkipath=" + good,
         "virsh uri over TLS", r.stdout + r.stderr)
    r = vsh((URI % good).replace("qemu+", "vireo+"), "list", "--all")
    r2 = virsh(URI % good, "list", "--all")
    t.ok(r.returncode == 0 and r.stdout == r2.stdout, "vsh lists over vireo+tls:// as virsh does",
         r.stdout + r.stderr)
    r = vsh(URI % good, "hostname")
    t.ok(r.returncode == 0 and r.stdout.strip() == socket.gethostname(),
         "vsh over qemu+tls:// (the URI virsh takes)", r.stdout + r.stderr)
    t.ok("certificate 'C=GB,O=Vireo,CN=client1' accepted" in d.log(),
         "the daemon logs the client certificate's DN", d.log())
    t.ok(tls_probe(pki.path("client1.pem")) == b"\x01",
         "a valid client certificate gets libvirt's confirmation byte")

    # Certificates the daemon refuses.
    rogue = pki.client("rogue", "client1", ca=pki.rogue_ca)
    t.ok(tls_probe(rogue) == b"" and wait_for(lambda: "has not got a known issuer" in d.log()),
         "a client certificate from another CA is refused and logged", d.log()[-600:])
    expired = pki.client("expired", "client1",
                         dates='activation_date = "2020-01-01 00:00:00 UTC"\n'
                               'expiration_date = "2021-01-01 00:00:00 UTC"\n')
    t.ok(tls_probe(expired) == b"" and wait_for(lambda: "has expired" in d.log()),
         "an expired client certificate is refused and logged", d.log()[-600:])
    t.ok(tls_probe(None) == b"" and
         wait_for(lambda: "did not present a certificate" in d.log()),
         "a client without a certificate is refused and logged", d.log()[-600:])

    # virsh refuses a server certificate issued for another name.
    wrong = remotelib.Vireod(VIREOD, tmp, "wrongname", "tls_port = 16600\n")
    pki.install_server(wrong.root, pki.server("otherserver", "other.example", ip=None))
    daemons.append(wrong)
    wrong.start()
    r = virsh("qemu+tls://127.0.0.1:16600/system?pkipath=%s" % good, "list")
    t.ok(r.returncode != 0 and "does not match the hostname" in r.stderr,
         "virsh refuses a server certificate for another name", r.stdout + r.stderr)
    r = virsh("qemu+tls://127.0.0.1:16600/system?pkipath=%s&no_verify=1" % good, "list")
    t.ok(r.returncode == 0, "... and connects with no_verify=1", r.stderr)
    r = vsh("qemu+tls://127.0.0.1:16600/system?pkipath=%s" % good, "list")
    t.ok(r.returncode != 0 and "does not match the hostname" in r.stderr,
         "vsh refuses it too", r.stdout + r.stderr)
    r = vsh("qemu+tls://127.0.0.1:16600/system?pkipath=%s&no_verify=1" % good, "list")
    t.ok(r.returncode == 0, "... and vsh connects with no_verify=1", r.stderr)
    wrong.stop()

    # A client that stops in the middle of the handshake, and idle ones: the
    # others carry on; past max_anonymous_clients new ones are closed at once.
    before = d.log().count("connected over TLS")
    half = socket.create_connection(("127.0.0.1", 16514))
    half.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a ClientHello's start
    idle = [socket.create_connection(("127.0.0.1", 16514)) for _ in range(2)]
    wait_for(lambda: d.log().count("connected over TLS") >= before + 3)
    extra = socket.create_connection(("127.0.0.1", 16514))
    extra.settimeout(20)
    try:
        got = extra.recv(1)
    except OSError:
        got = b""
    t.ok(got == b"" and wait_for(lambda: "max_anonymous_clients (3) reached" in d.log()),
         "past max_anonymous_clients a new client is closed and logged", d.log()[-600:])
    extra.close()
    # Idle clients are let go after the authentication deadline (30 s), so they cannot
    # keep max_anonymous_clients filled for good.
    t.ok(wait_for(lambda: d.log().count("not authenticated within 30 s") >= 2, 90) and
         idle[0].recv(1) == b"", "clients that never finish the handshake are dropped after 30 s",
         d.log()[-600:])
    half.close()
    for s in idle:
        s.close()
    wait_for(lambda: "TLS handshake failed" in d.log() or "not authenticated" in d.log())
    r = virsh(URI % good, "list", "--all")
    t.ok(r.returncode == 0, "after a half handshake and idle clients, virsh still works",
         r.stderr)
    t.ok("TLS handshake failed" in d.log() or d.log().count("not authenticated within") >= 3,
         "the half handshake is logged", d.log()[-600:])

    # tls_allowed_dn_list
    d.stop()
    d2 = start("dnlist", 'tls_allowed_dn_list = ["C=GB,O=Vireo,CN=client1", "*CN=admin*"]\n')
    other = pki.client_dir("other", pki.client("client2", "client2"))
    r = virsh(URI % other, "list")
    # libvirtd closes the connection instead of sending the confirmation byte.
    t.ok(r.returncode != 0 and "Unable to read TLS confirmation" in r.stderr,
         "a DN outside tls_allowed_dn_list: closed as libvirtd closes it", r.stderr)
    r = vsh(URI % other, "list")
    t.ok(r.returncode != 0 and "server verification (of our certificate or IP address) failed"
         in r.stderr, "vsh: the refused certificate in libvirt's words", r.stderr)
    rogue_dir = pki.client_dir("roguedir", pki.path("client1.pem"), ca=pki.rogue_ca)
    r = vsh(URI % rogue_dir, "list")
    t.ok(r.returncode != 0 and "hasn't got a known issuer" in r.stderr,
         "vsh refuses a server certificate from a CA it does not trust", r.stderr)
    t.ok("not on the list of allowed clients" in d2.log() and "CN=client2" in d2.log(),
         "the refused DN is logged", d2.log()[-600:])
    r = virsh(URI % good, "list")
    t.ok(r.returncode == 0, "a DN on tls_allowed_dn_list connects", r.stderr)
    d2.stop()

    # tls_no_verify_certificate: no client certificate needed.
    d3 = start("noverify", "tls_no_verify_certificate = 1\n")
    t.ok(tls_probe(None) == b"\x01", "tls_no_verify_certificate = 1 accepts a client without one",
         d3.log()[-600:])
    d3.stop()
    # Socket activation: a TLS socket passed as systemd passes it (LISTEN_FDS, named
    # vireod-tls.socket), without -l: vireod serves it and binds no port of its own.
    act = remotelib.Vireod(VIREOD, tmp, "activated", "", listen=False)
    pki.install_server(act.root, server_cert)
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 16700))
    lsock.listen(16)
    pid = os.fork()
    if pid == 0:
        import fcntl
        hi = fcntl.fcntl(lsock.fileno(), fcntl.F_DUPFD, 10)
        os.dup2(hi, 3)
        os.set_inheritable(3, True)
        e = dict(os.environ, LISTEN_PID=str(os.getpid()), LISTEN_FDS="1",
                 LISTEN_FDNAMES="vireod-tls.socket")
        out = os.open(act.out, os.O_WRONLY | os.O_CREAT, 0o600)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.execve(VIREOD, act.args, e)
    lsock.close()
    try:
        wait_for(lambda: os.path.exists(act.sock + "-ro"), 20)
        r = virsh("qemu+tls://127.0.0.1:16700/system?pkipath=%s" % good, "list")
        t.ok(r.returncode == 0 and "socket activation: TLS on descriptor 3" in act.log(),
             "a TLS socket passed by systemd is served without -l", r.stderr + act.log()[-500:])
        t.ok(socket.socket().connect_ex(("127.0.0.1", 16514)) != 0,
             "... and vireod binds no TLS port of its own", act.log()[-300:])
    finally:
        os.kill(pid, 15)
        os.waitpid(pid, 0)

    # A bad tls_priority stops the daemon with one line.
    d4 = remotelib.Vireod(VIREOD, tmp, "badprio", 'tls_priority = "NORMAL:+NONSENSE"\n')
    pki.install_server(d4.root, server_cert)
    daemons.append(d4)
    p = d4.start(wait=False)
    rc = p.wait(20)
    t.ok(rc == 1 and "tls_priority: invalid priority string" in d4.log(),
         "a bad tls_priority is refused at start-up", d4.log())
finally:
    for x in daemons:
        x.stop()
reports = [x.root + ": " + x.sanitizer_report() for x in daemons if x.sanitizer_report()]
t.ok(not reports, "no sanitizer report from any daemon", "\n".join(reports))
shutil.rmtree(tmp, ignore_errors=True)
t.done()
