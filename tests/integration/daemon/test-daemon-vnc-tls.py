#!/usr/bin/python3
"""test-daemon-vnc-tls.py - qemu.conf's vnc_tls, vnc_tls_x509_cert_dir (its
default, under --root) and vnc_tls_x509_verify through vireod.

  test-daemon-vnc-tls.py VIREOD VIREO_VMM TESTGUEST_ELF VSH

In a network namespace of its own, with a CA and a server certificate made by
certtool in ROOT/etc/pki/libvirt-vnc (QEMU's file names):
- vnc_tls = 1, vnc_tls_x509_verify = 1: the VMM gets libvirt's -object
  tls-creds-x509,id=vnc-tls-creds0,...,verify-peer=yes and
  ,tls-creds=vnc-tls-creds0 on -vnc; a VeNCrypt client with a certificate
  from the CA reaches ServerInit, one without a certificate does not, and a
  plain (no TLS) client is not offered VNC's no-auth;
- the cert directory missing: the start is refused with one line and no
  domain runs;
- vnc_tls = 0 (a second daemon): no -object, no tls-creds.
Prints TAP.
"""
import os
import re
import shutil
import ssl
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "vmm"))
import remotelib as rl  # noqa: E402
from daemonlib import Daemon, Tap, domain_xml, skip_all  # noqa: E402
import rfblib  # noqa: E402

rl.enter_netns()
VIREOD, VMM, GUEST, VSH = sys.argv[1:5]
GUEST = os.path.abspath(GUEST)
t = Tap()
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("no /dev/kvm")
for tool in ("virsh", "certtool"):
    if not shutil.which(tool):
        skip_all("no " + tool)

DEVICES = """    <graphics type='vnc' port='-1' autoport='yes'/>
    <video>
      <model type='vga'/>
    </video>
"""


def context(pki, cert=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki.ca)
    ctx.check_hostname = False  # the chain is still verified
    if cert:
        ctx.load_cert_chain(cert, pki.key)
    return ctx


def attempt(addr, **kw):
    try:
        c = rfblib.Client(addr, timeout=20, **kw)
        c.close()
        return True, ""
    except (OSError, ssl.SSLError, rfblib.RfbError) as e:
        return False, "%s: %s" % (type(e).__name__, e)


d = Daemon(VIREOD, VMM, VSH)
d2 = None
try:
    pki = rl.Pki(os.path.join(d.tmp, "pki"))
    creds = os.path.join(d.root, "etc", "pki", "libvirt-vnc")
    os.makedirs(creds)
    server = pki.server("server", "127.0.0.1")
    for src, dst in ((pki.ca, "ca-cert.pem"), (server, "server-cert.pem"),
                     (pki.key, "server-key.pem")):
        open(os.path.join(creds, dst), "w").write(open(src).read())
    client = pki.client("client", "vnc-client")
    cfg = d.write("vireod.conf", "vnc_tls = 1\nvnc_tls_x509_verify = 1\n")
    d.args = ["-f", cfg]
    d.start()

    r = d.virsh("create", d.write("tls.xml", domain_xml("tls", GUEST, "tests=vga vga_hold=1",
                                                         DEVICES)))
    argv = d.vmm_log("tls", lines=1000)
    t.ok(r.returncode == 0 and
         f" -object tls-creds-x509,id=vnc-tls-creds0,dir={creds},endpoint=server,"
         "verify-peer=yes " in argv and
         re.search(r" -vnc 127\.0\.0\.1:\d+,tls-creds=vnc-tls-creds0", argv) is not None,
         "vnc_tls = 1: -object tls-creds-x509 from the default cert dir, tls-creds on -vnc",
         r.stderr + argv)
    out = d.virsh("vncdisplay", "tls").stdout.strip()
    m = re.match(r"(?:127\.0\.0\.1)?:(\d+)$", out)
    addr = ("127.0.0.1", 5900 + int(m.group(1))) if m else None
    ok, why = attempt(addr, tls=context(pki, client)) if addr else (False, out)
    t.ok(ok, "a VeNCrypt client with a certificate from the CA reaches ServerInit", why)
    ok, why = attempt(addr, tls=context(pki)) if addr else (True, out)
    t.ok(not ok, "vnc_tls_x509_verify = 1: a client without a certificate is turned away", why)
    ok, why = attempt(addr) if addr else (True, out)
    t.ok(not ok, "a client without TLS gets no session", why)
    d.virsh("destroy", "tls")

    os.rename(creds, creds + ".away")
    r = d.virsh("create", d.write("tls2.xml", domain_xml("tls2", GUEST, "tests=vga vga_hold=1",
                                                          DEVICES)))
    t.ok(r.returncode != 0 and
         f"error: vnc_tls_x509_cert_dir directory '{creds}' does not exist" in r.stderr and
         len(r.stderr.strip().splitlines()) == 2 and "tls2" not in d.virsh("list").stdout,
         "a missing vnc_tls_x509_cert_dir: the start is refused with one line", r.stderr)
    os.rename(creds + ".away", creds)
    d.stop()

    d2 = Daemon(VIREOD, VMM, VSH)
    d2.start()
    r = d2.virsh("create", d2.write("plain.xml", domain_xml("plain", GUEST,
                                                             "tests=vga vga_hold=1", DEVICES)))
    argv = d2.vmm_log("plain", lines=1000)
    t.ok(r.returncode == 0 and "tls-creds" not in argv and " -vnc 127.0.0.1:" in argv,
         "without vnc_tls: no x509 credentials on the command line", r.stderr + argv)
except Exception as e:  # report, then clean up
    t.ok(False, "no exception", repr(e))
finally:
    if t.failed:
        d.dump_log()
    d.cleanup(["tls", "tls2"])
    if d2:
        d2.cleanup(["plain"])
t.done()
