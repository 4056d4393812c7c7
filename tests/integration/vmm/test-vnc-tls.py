#!/usr/bin/env python3
"""test-vnc-tls.py - VeNCrypt: the VNC server inside TLS (-object tls-creds-x509,
-vnc ...,tls-creds=ID), under vireo-vmm and, with the same command lines and the
same client, under QEMU, whose outcomes must be the same.

usage: test-vnc-tls.py VIREO_VMM GUEST_ELF

Certificates come from certtool (a CA, a server certificate for 127.0.0.1, a
client certificate, and one from another CA). The client is rfblib's, written
from the RFB and VeNCrypt descriptions, with Python's ssl module for TLS. For
each VMM, paused (-S), on a TCP display:
 - verify-peer=on, password=on: the only security type offered is VeNCrypt (19),
   its only subtype x509vnc (261); with the client certificate, TLS and then VNC
   authentication with the QMP password reach ServerInit; query-vnc's auth is
   vencrypt+x509+vnc;
 - a wrong password inside TLS is refused; a client without a certificate, and
   one whose certificate another CA signed, are refused, and the server still
   serves a good client after them;
 - an RFB 3.3 client is refused with a reason (VeNCrypt needs 3.7);
 - verify-peer=off without password: the subtype is x509none (260), a client
   without a certificate reaches ServerInit.
vireo-vmm alone: tls-creds naming no object, a directory without the
certificates and endpoint=client credentials for -vnc are refused with one line each.
"""
import os
import ssl
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "daemon"))
import rfblib  # noqa: E402
from remotelib import Pki  # noqa: E402
from vmmlib import Guest, Qmp, Tap  # noqa: E402

tap = Tap()


def creds_dir(pki, tmp):
    d = os.path.join(tmp, "creds")
    os.makedirs(d, exist_ok=True)
    server = pki.server("server", "127.0.0.1")
    for src, dst in ((pki.ca, "ca-cert.pem"), (server, "server-cert.pem"),
                     (pki.key, "server-key.pem")):
        open(os.path.join(d, dst), "w").write(open(src).read())
    return d


def context(pki, cert=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki.ca)
    ctx.check_hostname = False  # the server certificate's chain is still verified
    if cert:
        ctx.load_cert_chain(cert, pki.key)
    return ctx


def vmm_cmd(vmm, guest, tmp, creds, vnc, verify="on"):
    return [vmm, "-nodefaults", "-m", "64M", "-S", "-kernel", guest, "-vga", "std",
            "-M", "microvm,acpi=on,pcie=on" if "qemu" not in vmm else "pc",
            "-qmp", "unix:%s/qmp.sock,server,nowait" % tmp,
            "-object", "tls-creds-x509,id=tls0,dir=%s,endpoint=server,verify-peer=%s"
            % (creds, verify),
            "-vnc", vnc + ",tls-creds=tls0"]


def attempt(addr, **kw):
    """(True, client) on ServerInit, (False, the reason) otherwise."""
    try:
        c = rfblib.Client(addr, timeout=20, **kw)
        return True, c
    except (OSError, ssl.SSLError, rfblib.RfbError) as e:
        return False, "%s: %s" % (type(e).__name__, e)


def run(vmm, guest, pki, creds, good, rogue, label):
    tmp = tempfile.mkdtemp(prefix="vireo-vnctls-", dir=os.environ.get("MESON_BUILD_ROOT"))
    n = rfblib.free_display()
    addr = ("127.0.0.1", 5900 + n)
    g = Guest(vmm_cmd(vmm, guest, tmp, creds, "127.0.0.1:%d,password=on" % n))
    try:
        q = Qmp(tmp + "/qmp.sock")
        r = q.cmd("set_password", {"protocol": "vnc", "password": "secret"})
        tap.check(r.get("return") == {}, "%s: set_password" % label, r)
        auth = q.cmd("query-vnc")["return"].get("auth")
        tap.check(auth == "vencrypt+x509+vnc", "%s: query-vnc auth vencrypt+x509+vnc" % label, auth)
        ok, c = attempt(addr, password="secret", tls=context(pki, good))
        tap.check(ok and c.security_types == [19] and c.subtypes == [261] and c.w > 0 and c.h > 0,
                  "%s: VeNCrypt only, subtype x509vnc; TLS with the client certificate and the "
                  "password reach ServerInit" % label, c if not ok else (c.security_types,
                                                                          c.subtypes))
        if ok:
            c.close()
        ok, why = attempt(addr, password="wrong", tls=context(pki, good))
        tap.check(not ok and "Authentication failed" in why,
                  "%s: a wrong password inside TLS is refused" % label, why)
        ok, why = attempt(addr, password="secret", tls=context(pki))
        tap.check(not ok, "%s: a client without a certificate is refused" % label, why)
        ok, why = attempt(addr, password="secret", tls=context(pki, rogue))
        tap.check(not ok, "%s: a certificate from another CA is refused" % label, why)
        ok, why = attempt(addr, password="secret", version=b"RFB 003.003\n", tls=context(pki, good))
        tap.check(not ok and "RfbError" in why, "%s: an RFB 3.3 client is refused" % label, why)
        ok, c = attempt(addr, password="secret", tls=context(pki, good))
        tap.check(ok, "%s: after the refusals a good client still gets in" % label, c)
        if ok:
            c.close()
        q.cmd("quit")
        g.finish(30)
    except (OSError, ValueError) as e:
        tap.check(False, "%s: %s" % (label, e), g.p.stderr.read() if g.p.stderr else "")
    finally:
        g.kill()

    tmp = tempfile.mkdtemp(prefix="vireo-vnctls-", dir=os.environ.get("MESON_BUILD_ROOT"))
    n = rfblib.free_display()
    g = Guest(vmm_cmd(vmm, guest, tmp, creds, "127.0.0.1:%d" % n, verify="off"))
    try:
        q = Qmp(tmp + "/qmp.sock")
        auth = q.cmd("query-vnc")["return"].get("auth")
        ok, c = attempt(("127.0.0.1", 5900 + n), tls=context(pki))
        tap.check(auth == "vencrypt+x509+none" and ok and c.subtypes == [260],
                  "%s: verify-peer=off, no password: x509none, a client without a certificate "
                  "reaches ServerInit" % label, (auth, c if not ok else c.subtypes))
        if ok:
            c.close()
        q.cmd("quit")
        g.finish(30)
    except (OSError, ValueError) as e:
        tap.check(False, "%s: %s" % (label, e))
    finally:
        g.kill()


def refusals(vmm, guest, creds, tmp):
    base = [vmm, "-nodefaults", "-S", "-kernel", guest]
    cases = [
        (["-vnc", "127.0.0.1:99,tls-creds=nope"], "No TLS credentials with id 'nope'"),
        (["-object", "tls-creds-x509,id=t,dir=%s,endpoint=server" % tmp, "-vnc",
          "127.0.0.1:99,tls-creds=t"], "ca-cert.pem"),
        (["-object", "tls-creds-x509,id=t,dir=%s,endpoint=client" % creds, "-vnc",
          "127.0.0.1:99,tls-creds=t"], "Expected TLS credentials for a server endpoint"),
    ]
    for extra, want in cases:
        r = subprocess.run(base + extra, capture_output=True, text=True, timeout=60)
        lines = [x for x in r.stderr.splitlines() if x.strip()]
        tap.check(r.returncode != 0 and len(lines) == 1 and want in lines[0],
                  "vireo-vmm refuses %s with one line naming %s" % (" ".join(extra[-1:]), want),
                  r.stderr)


def main():
    vmm, guest = sys.argv[1:3]
    tmp = tempfile.mkdtemp(prefix="vireo-vnctls-", dir=os.environ.get("MESON_BUILD_ROOT"))
    pki = Pki(os.path.join(tmp, "pki"))
    creds = creds_dir(pki, tmp)
    good = pki.client("client", "vnc client")
    rogue = pki.client("rogue", "rogue client", ca=pki.rogue_ca)
    run(vmm, guest, pki, creds, good, rogue, "vireo-vmm")
    run("qemu-system-x86_64", guest, pki, creds, good, rogue, "QEMU")
    refusals(vmm, guest, creds, tmp)
    return tap.report()


if __name__ == "__main__":
    sys.exit(main())
