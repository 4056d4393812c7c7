#!/usr/bin/env python3
"""QEMU's authorization objects (authz-simple, authz-list) on the TLS servers' tls-authz,
and the server side's TLS handshake time limit.

Usage: test-authz.py TEST_GUEST_ELF VMM

Certificates come from certtool (remotelib's Pki): a CA, a server certificate, and two client
certificates the CA signed: "C=GB,O=Vireo,CN=src.vireo.test" (the one let in) and
"C=GB,O=Vireo,CN=intruder.vireo.test", as GnuTLS prints their distinguished names (what
QEMU's TLS sessions compare).

NBD (nbd-server-start tls-creds, tls-authz), on vireo-vmm and on qemu-system-x86_64 with the
same -object lines: authz-simple naming the good DN, authz-list with policy=allow and a glob
rule denying *CN=intruder.*, authz-list with policy=deny and an exact rule allowing the
intruder; qemu-img convert with each client certificate reads the export (equal to the image)
or fails, and the two VMMs agree on every case. On vireo-vmm: the denial is one line on
stderr ("TLS x509 authz check for DN is denied"); object-del of the authz a running server
uses is refused in QEMU's words, and succeeds after nbd-server-stop; object-add of an
authz-list with its rules (a bad policy refused with one line); tls-authz naming no object
refused. authz-listfile (object-add, refresh on): its file decides, a rewritten file is
reloaded, a broken one refuses everyone until mended; one from -object with refresh=off is
read at start-up. Two stalled peers (a plain connection that sends nothing, one that asks for
STARTTLS, sends the start of a ClientHello and stops) are dropped by the server, each with one
line, while qemu-img reads the export meanwhile.

VNC (-vnc ...,tls-creds=,tls-authz=, VeNCrypt x509none), on vireo-vmm and QEMU: the good
client reaches ServerInit, the intruder is refused, the good one again gets in; the two VMMs
agree; on vireo-vmm the refusal is one line, object-del of the authz is refused (in use), and
a tls-authz naming no object stops vireo-vmm at start with one line.

Migration (migrate-set-parameters tls-authz on the destination, multifd on): the destination
has -object authz-simple naming the good DN; query-migrate-parameters shows tls-authz; its
object-del is refused (in use). Two stalled peers connect to the destination first; a source
with the intruder's certificate is refused ("... is denied" on the destination's stderr) and
runs on; then the same source with the good certificate migrates over TLS with multifd
channels, and the guest passes its continuity checks on the destination, which dropped each
stalled peer with one line.
"""
import importlib.util
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "daemon"))
import rfblib  # noqa: E402
from remotelib import Pki  # noqa: E402
from vmmlib import Guest, Qmp  # noqa: E402

_spec = importlib.util.spec_from_file_location("migrate", os.path.join(HERE, "test-migrate.py"))
mig = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mig)
tap, check = mig.tap, mig.tap.check
HOST = "dst.vireo.test"
GOOD = "C=GB,O=Vireo,CN=src.vireo.test"
BAD = "C=GB,O=Vireo,CN=intruder.vireo.test"
SIZE = 4 << 20
# The start of a TLS 1.x handshake record carrying a ClientHello, cut short.
HELLO_PREFIX = bytes.fromhex("1603010200010001fc0303")
NBD_IHAVEOPT = 0x49484156454F5054
NBD_OPT_STARTTLS = 5


class KeptGuest(Guest):
    """A Guest whose stderr is kept by finish() (mig.stop_guest reads it for us)."""

    err = ""

    def finish(self, timeout=90):
        st, out, err = super().finish(timeout)
        self.err = err
        return st, out, err


def esc(s):
    return s.replace(",", ",,")


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


def creds(pki, tmp, name, cert, server):
    d = os.path.join(tmp, name)
    os.makedirs(d, exist_ok=True)
    end = "server" if server else "client"
    for src, dst in ((pki.ca, "ca-cert.pem"), (cert, f"{end}-cert.pem"),
                     (pki.key, f"{end}-key.pem")):
        open(os.path.join(d, dst), "w").write(open(src).read())
    return d


def desc(r):
    return r.get("error", {}).get("desc", "")


def refused(q, what, cmd, args, words):
    r = q.cmd(cmd, args)
    check(words in desc(r) and "\n" not in desc(r), f"{what}: refused with one line ({words})", r)


class Staller:
    """A peer that connects and stops: with hello, after NBD's STARTTLS (nbd) or at once
    (migration), it sends the start of a ClientHello first. closed() waits (without a time
    assertion) for the server to drop it."""

    def __init__(self, path, hello, nbd=False):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(120)
        self.s.connect(path)
        self.ok = True
        if nbd:
            self.ok = self._starttls()
        if hello:
            self.s.sendall(HELLO_PREFIX)

    def _recv(self, n):
        b = b""
        while len(b) < n:
            k = self.s.recv(n - len(b))
            if not k:
                break
            b += k
        return b

    def _starttls(self):
        greeting = self._recv(18)
        if len(greeting) != 18:
            return False
        self.s.sendall((3).to_bytes(4, "big"))  # fixed newstyle, no zeroes
        self.s.sendall(NBD_IHAVEOPT.to_bytes(8, "big") + NBD_OPT_STARTTLS.to_bytes(4, "big") +
                       (0).to_bytes(4, "big"))
        reply = self._recv(20)
        return len(reply) == 20 and int.from_bytes(reply[12:16], "big") == 1  # NBD_REP_ACK

    def closed(self):
        try:
            while self.s.recv(4096):
                pass
            return True
        except OSError:
            return False
        finally:
            self.s.close()


# ---- NBD ----

def nbd_vmm(tool, vmm, elf, tmp, sdir, raw):
    sock = os.path.join(tmp, f"{tool}-qmp.sock")
    objs = ["-object", f"tls-creds-x509,id=ts,endpoint=server,dir={sdir},verify-peer=on",
            "-object", f"authz-simple,id=auth0,identity={esc(GOOD)}",
            "-object", "authz-list,id=acl0,policy=allow,rules.0.match=*CN=intruder.*,"
            "rules.0.policy=deny,rules.0.format=glob",
            "-object", f"authz-list,id=acl1,policy=deny,rules.0.match={esc(BAD)},"
            "rules.0.policy=allow,rules.0.format=exact"]
    if tool == "qemu":
        # QEMU 7.2's -object takes a list's rules in its JSON form only.
        objs[5] = json.dumps({"qom-type": "authz-list", "id": "acl0", "policy": "allow",
                              "rules": [{"match": "*CN=intruder.*", "policy": "deny",
                                         "format": "glob"}]})
        objs[7] = json.dumps({"qom-type": "authz-list", "id": "acl1", "policy": "deny",
                              "rules": [{"match": BAD, "policy": "allow", "format": "exact"}]})
        cmd = ["qemu-system-x86_64", "-machine", "none", "-S", "-nodefaults", "-display", "none",
               "-blockdev", f"driver=raw,node-name=d0,file.driver=file,file.filename={raw}"]
    else:
        lf1 = os.path.join(tmp, "acl1.json")
        write_list(lf1, list_json(GOOD))
        cmd = [vmm, "-S", "-nodefaults", "-display", "none", "-m", "64", "-kernel", elf,
               "-drive", f"file={raw},format=raw,if=none,id=d0",
               "-device", "virtio-blk-pci,drive=d0",
               "-object", f"authz-listfile,id=lf1,filename={lf1},refresh=off"]
    g = KeptGuest(cmd + objs + ["-qmp", f"unix:{sock},server=on,wait=off"])
    end = time.monotonic() + 60
    while not os.path.exists(sock) and g.p.poll() is None and time.monotonic() < end:
        time.sleep(0.05)
    return g, Qmp(sock)


def nbd_start(q, path, authz):
    r = q.cmd("nbd-server-start", {"addr": {"type": "unix", "data": {"path": path}},
                                   "tls-creds": "ts", "tls-authz": authz})
    if "return" in r:
        r = q.cmd("nbd-server-add", {"device": "d0"})
        if "return" not in r:
            q.cmd("nbd-server-stop")
    return r


def nbd_read(path, cdir, out):
    r = run(["qemu-img", "convert", "--object", f"tls-creds-x509,id=c0,endpoint=client,"
             f"dir={cdir}", "--image-opts", f"driver=nbd,server.type=unix,server.path={path},"
             f"tls-hostname={HOST},export=d0,tls-creds=c0", "-O", "raw", out])
    return r


def same(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        return fa.read() == fb.read()


def nbd_outcomes(tool, q, tmp, raw, good_dir, bad_dir):
    """{(authz, client): read ok} for the three objects and the two certificates."""
    res = {}
    for authz in ("auth0", "acl0", "acl1"):
        path = os.path.join(tmp, f"{tool}-{authz}.nbd")
        r = nbd_start(q, path, authz)
        if not check("return" in r, f"{tool}: nbd-server-start tls-authz={authz}", r):
            continue
        for who, cdir in (("good", good_dir), ("intruder", bad_dir)):
            out = os.path.join(tmp, f"{tool}-{authz}-{who}.raw")
            p = nbd_read(path, cdir, out)
            res[(authz, who)] = p.returncode == 0 and same(out, raw)
            if p.returncode != 0:
                res[(authz, who, "err")] = p.stderr.strip()
        if tool == "vireo" and authz == "auth0":
            nbd_vireo_extras(q, tmp, raw, path, good_dir)
        q.cmd("nbd-server-stop")
    return res


def write_list(path, text):
    """Replaces the list file as an editor does: a new file renamed over the old one."""
    with open(path + ".new", "w") as f:
        f.write(text)
    os.rename(path + ".new", path)


def list_json(allow, policy="deny"):
    return json.dumps({"policy": policy, "rules": [{"match": allow, "policy": "allow",
                                                    "format": "exact"}]})


def until(pred, limit=60):
    """Waits for pred() (a reload is asynchronous); no time is asserted."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.2)
    return pred()


def nbd_listfile(q, tmp, raw, good_dir, bad_dir):
    lf = os.path.join(tmp, "acl.json")
    write_list(lf, list_json(GOOD))
    r = q.cmd("object-add", {"qom-type": "authz-listfile", "id": "lf0", "filename": lf,
                             "refresh": True})
    check("return" in r, "vireo: object-add authz-listfile (refresh on)", r)
    refused(q, "vireo: object-add authz-listfile of a missing file", "object-add",
            {"qom-type": "authz-listfile", "id": "lf9", "filename": lf + ".none"}, "cannot open")
    path = os.path.join(tmp, "lf0.nbd")
    r = nbd_start(q, path, "lf0")
    check("return" in r, "vireo: nbd-server-start tls-authz=lf0", r)
    out = os.path.join(tmp, "lf.raw")

    def reads(cdir):
        return nbd_read(path, cdir, out).returncode == 0

    check(reads(good_dir) and not reads(bad_dir),
          "vireo: authz-listfile: its file lets the good client in, not the intruder")
    write_list(lf, list_json(BAD))
    check(until(lambda: reads(bad_dir)), "vireo: authz-listfile: the rewritten file is reloaded "
          "(refresh): the intruder gets in")
    check(not reads(good_dir), "vireo: authz-listfile: ... and the good client no longer")
    write_list(lf, '{"policy": "allow", "rules": [')
    check(until(lambda: not reads(bad_dir)),
          "vireo: authz-listfile: a broken file refuses everyone until it loads again")
    check(not reads(good_dir), "vireo: authz-listfile: ... the good client too")
    write_list(lf, list_json(GOOD))
    check(until(lambda: reads(good_dir)), "vireo: authz-listfile: the mended file is loaded")
    q.cmd("nbd-server-stop")
    r = q.cmd("object-del", {"id": "lf0"})
    check("return" in r, "vireo: object-del authz-listfile (its watcher stops)", r)
    path = os.path.join(tmp, "lf1.nbd")
    r = nbd_start(q, path, "lf1")
    check("return" in r and reads(good_dir) and not reads(bad_dir),
          "vireo: -object authz-listfile (refresh=off) read at start-up", r)
    q.cmd("nbd-server-stop")


def nbd_vireo_extras(q, tmp, raw, path, good_dir):
    refused(q, "vireo: object-del of the authz the NBD server uses", "object-del",
            {"id": "auth0"}, "object 'auth0' is in use, can not be deleted")
    # Stalled peers, while a real client reads the export.
    quiet = Staller(path, hello=False)
    hello = Staller(path, hello=True, nbd=True)
    check(hello.ok, "vireo: the stalled peer's STARTTLS was acknowledged")
    out = os.path.join(tmp, "during-stall.raw")
    p = nbd_read(path, good_dir, out)
    check(p.returncode == 0 and same(out, raw),
          "vireo: qemu-img reads the export while two peers stall", p.stderr)
    check(quiet.closed(), "vireo: the peer that sent nothing is dropped by the server")
    check(hello.closed(), "vireo: the peer that stalled in the TLS handshake is dropped")


def nbd_tests(vmm, elf, tmp, pki, sdir, good_dir, bad_dir):
    raw = os.path.join(tmp, "d0.raw")
    with open(raw, "wb") as f:
        f.write(os.urandom(SIZE))
    want = {("auth0", "good"): True, ("auth0", "intruder"): False,
            ("acl0", "good"): True, ("acl0", "intruder"): False,
            ("acl1", "good"): False, ("acl1", "intruder"): True}
    got = {}
    for tool in ("vireo", "qemu"):
        g, q = nbd_vmm(tool, vmm, elf, tmp, sdir, raw)
        if tool == "vireo":
            refused(q, "vireo: nbd-server-start tls-authz naming no object", "nbd-server-start",
                    {"addr": {"type": "unix", "data": {"path": f"{tmp}/none.nbd"}},
                     "tls-creds": "ts", "tls-authz": "nope"}, "Cannot find QAuthZ object ID nope")
            refused(q, "vireo: object-add authz-list with a bad rule policy", "object-add",
                    {"qom-type": "authz-list", "id": "acl9",
                     "rules": [{"match": "x", "policy": "maybe"}]},
                    "Parameter 'rules.0.policy' does not accept value 'maybe'")
            refused(q, "vireo: object-add authz-simple without identity", "object-add",
                    {"qom-type": "authz-simple", "id": "s9"}, "Parameter 'identity' is missing")
        got[tool] = nbd_outcomes(tool, q, tmp, raw, good_dir, bad_dir)
        if tool == "vireo":
            # The same list as acl1, given by QMP.
            r = q.cmd("object-add", {"qom-type": "authz-list", "id": "acl2", "policy": "deny",
                                     "rules": [{"match": BAD, "policy": "allow",
                                                "format": "exact"}]})
            check("return" in r, "vireo: object-add authz-list with rules", r)
            path = os.path.join(tmp, "acl2.nbd")
            r = nbd_start(q, path, "acl2")
            good = nbd_read(path, good_dir, os.path.join(tmp, "acl2-good.raw")).returncode
            bad = nbd_read(path, bad_dir, os.path.join(tmp, "acl2-bad.raw")).returncode
            check("return" in r and good != 0 and bad == 0,
                  "vireo: the object-add'ed list lets in the intruder only", (r, good, bad))
            q.cmd("nbd-server-stop")
            nbd_listfile(q, tmp, raw, good_dir, bad_dir)
            r = q.cmd("object-del", {"id": "auth0"})
            check("return" in r, "vireo: object-del of the authz once the server stopped", r)
        q.cmd("quit")
        try:
            rc, _, err = g.finish(timeout=60)
        except subprocess.TimeoutExpired:
            g.kill()
            rc, err = None, "timeout"
        if tool == "vireo":
            lines = err.splitlines()
            denied = [x for x in lines if f"TLS x509 authz check for {BAD} is denied" in x]
            check(len(denied) >= 2, "vireo: each intruder refusal is one line on stderr "
                  "(auth0, acl0, and the list files')", err[-3000:])
            check(any("authz-listfile 'lf0'" in x and "every check fails" in x for x in lines),
                  "vireo: the broken list file: one line", err[-3000:])
            denied = [x for x in lines if f"TLS x509 authz check for {GOOD} is denied" in x]
            check(len(denied) >= 2, "vireo: each refusal of the good client is one line on "
                  "stderr (acl1, acl2, the list file's)", err[-3000:])
            check(any("stalled during negotiation" in x for x in lines),
                  "vireo: the peer that sent nothing: one line", err[-3000:])
            check(any("TLS handshake not completed within 10 s" in x for x in lines),
                  "vireo: the peer that stalled in the TLS handshake: one line", err[-3000:])
            check(rc == 0 and "Sanitizer" not in err and "runtime error" not in err,
                  "vireo-vmm exits cleanly (no sanitizer report in the ASan build)", err[-3000:])
    for k, v in want.items():
        check(got["vireo"].get(k) == v, f"vireo: tls-authz={k[0]}, {k[1]} client: "
              f"{'served' if v else 'refused'}", got["vireo"])
        check(got["qemu"].get(k) == got["vireo"].get(k),
              f"QEMU 7.2 agrees: tls-authz={k[0]}, {k[1]} client", (got["qemu"], got["vireo"]))


# ---- VNC ----

def vnc_tests(vmm, elf, tmp, pki, good, bad):
    d = os.path.join(tmp, "vnc-creds")
    os.makedirs(d, exist_ok=True)
    server = pki.server("vncserver", "127.0.0.1")
    for src, dst in ((pki.ca, "ca-cert.pem"), (server, "server-cert.pem"),
                     (pki.key, "server-key.pem")):
        open(os.path.join(d, dst), "w").write(open(src).read())

    def context(cert):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(pki.ca)
        ctx.check_hostname = False
        ctx.load_cert_chain(cert, pki.key)
        return ctx

    def attempt(addr, cert):
        try:
            rfblib.Client(addr, timeout=20, tls=context(cert)).close()
            return True
        except (OSError, ssl.SSLError, rfblib.RfbError):
            return False

    got = {}
    for tool in ("vireo", "qemu"):
        n = rfblib.free_display()
        sock = os.path.join(tmp, f"vnc-{tool}.sock")
        cmd = [vmm if tool == "vireo" else "qemu-system-x86_64", "-nodefaults", "-m", "64M", "-S",
               "-kernel", elf, "-vga", "std", "-M", "microvm,acpi=on,pcie=on"
               if tool == "vireo" else "pc", "-qmp", f"unix:{sock},server=on,wait=off",
               "-object", f"tls-creds-x509,id=tls0,dir={d},endpoint=server,verify-peer=on",
               "-object", f"authz-simple,id=auth0,identity={esc(GOOD)}",
               "-vnc", f"127.0.0.1:{n},tls-creds=tls0,tls-authz=auth0"]
        g = KeptGuest(cmd)
        end = time.monotonic() + 60
        while not os.path.exists(sock) and g.p.poll() is None and time.monotonic() < end:
            time.sleep(0.05)
        q = Qmp(sock)
        addr = ("127.0.0.1", 5900 + n)
        got[tool] = (attempt(addr, good), attempt(addr, bad), attempt(addr, good))
        if tool == "vireo":
            refused(q, "vnc: object-del of the authz -vnc uses", "object-del", {"id": "auth0"},
                    "object 'auth0' is in use, can not be deleted")
        q.cmd("quit")
        try:
            g.finish(timeout=60)
        except subprocess.TimeoutExpired:
            g.kill()
        if tool == "vireo":
            check(sum(f"TLS x509 authz check for {BAD} is denied" in x
                      for x in g.err.splitlines()) == 1,
                  "vnc: the intruder's refusal is one line on stderr", g.err[-2000:])
    check(got["vireo"] == (True, False, True),
          "vnc: tls-authz lets the good client in, refuses the intruder, then serves the good "
          "one again", got["vireo"])
    check(got["qemu"] == got["vireo"], "vnc: QEMU 7.2 agrees", got)
    r = run([vmm, "-nodefaults", "-S", "-kernel", elf, "-vga", "std", "-M", "microvm",
             "-object", f"tls-creds-x509,id=tls0,dir={d},endpoint=server",
             "-vnc", "127.0.0.1:99,tls-creds=tls0,tls-authz=nope"])
    lines = r.stderr.strip().splitlines()
    check(r.returncode != 0 and len(lines) == 1 and "Cannot find QAuthZ object ID nope" in lines[0],
          "vnc: tls-authz naming no object stops vireo-vmm with one line", r.stderr)


# ---- migration ----

def migration_tests(vmm, elf, tmp, srv_dir, good_dir, bad_dir):
    c = mig.Case(vmm, elf, tmp, "authz")
    ssock = os.path.join(tmp, "authz-src.sock")
    g = KeptGuest(c.cmd(ssock, [
        "-object", f"tls-creds-x509,id=tls0,dir={good_dir},endpoint=client",
        "-object", f"tls-creds-x509,id=tlsbad,dir={bad_dir},endpoint=client"]),
        stdin=subprocess.PIPE)
    if not check(g.wait_line(f"tick={mig.START_AT} ", timeout=180) is not None,
                 f"the source's guest reaches tick {mig.START_AT}", g.text()):
        g.kill()
        return
    q = Qmp(ssock)
    q.cmd("migrate-set-capabilities", {"capabilities": [{"capability": "events", "state": True}]})

    dsock = os.path.join(tmp, "authz-dst.sock")
    uri = "unix:" + os.path.join(tmp, "authz-mig.sock")
    g2 = KeptGuest(c.cmd(dsock, [
        "-object", f"tls-creds-x509,id=tls0,dir={srv_dir},endpoint=server",
        "-object", f"authz-simple,id=auth0,identity={esc(GOOD)}", "-incoming", "defer"]),
        stdin=subprocess.PIPE)
    q2 = Qmp(dsock, timeout=30)
    r = q2.cmd("migrate-set-parameters", {"tls-creds": "tls0", "tls-authz": "auth0"})
    check("return" in r, "destination: migrate-set-parameters tls-creds, tls-authz", r)
    p = q2.cmd("query-migrate-parameters")["return"]
    check(p.get("tls-authz") == "auth0", "destination: query-migrate-parameters shows tls-authz",
          p)
    q2.cmd("migrate-set-capabilities",
           {"capabilities": [{"capability": "multifd", "state": True}]})
    refused(q2, "destination: object-del of the authz tls-authz names", "object-del",
            {"id": "auth0"}, "object 'auth0' is in use, can not be deleted")
    r = q2.cmd("migrate-incoming", {"uri": uri})
    check("return" in r, "destination: migrate-incoming", r)

    stalls = [Staller(uri[5:], hello=False), Staller(uri[5:], hello=True)]

    q.cmd("migrate-set-parameters", {"tls-creds": "tlsbad", "tls-hostname": HOST})
    r = q.cmd("migrate", {"uri": uri})
    r = mig.wait_migration(q)
    check(r.get("status") == "failed", "intruder: the migration fails", r)
    st = q.cmd("query-status")["return"]["status"]
    check(st == "running", "intruder: the source runs on", st)
    for i, s in enumerate(stalls):
        check(s.closed(), f"destination: stalled peer {i} is dropped")

    q.cmd("migrate-set-capabilities", {"capabilities": [{"capability": "multifd",
                                                         "state": True}]})
    q.cmd("migrate-set-parameters", {"tls-creds": "tls0", "multifd-channels": 2})
    r = q.cmd("migrate", {"uri": uri})
    check("return" in r, "good client: migrate accepted", r)
    r = mig.wait_migration(q)
    done = check(r.get("status") == "completed",
                 "good client: completes over TLS with multifd, past tls-authz", r)
    mig.quit_source(g, q)
    if done:
        q2.close()
        mig.stop_guest("destination", g2, g.text())
    else:
        q2.close()
        g2.kill()
        g2.err = g2.p.stderr.read()
    lines = g2.err.splitlines()
    check(sum(f"TLS x509 authz check for {BAD} is denied" in x for x in lines) == 1,
          "destination: the intruder's refusal is one line on stderr", g2.err[-3000:])
    check(sum("TLS handshake not completed within 10 s" in x for x in lines) == 2,
          "destination: each stalled peer is dropped with one line", g2.err[-3000:])
    check(not any(GOOD in x for x in lines), "destination: the good client is not refused",
          g2.err[-3000:])


def main():
    elf, vmm = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="vireo-authz-", dir=os.environ.get("MESON_BUILD_ROOT"))
    try:
        pki = Pki(os.path.join(tmp, "pki"))
        server = pki.server("server", HOST, ip=None)
        good = pki.client("good", "src.vireo.test")
        bad = pki.client("bad", "intruder.vireo.test")
        sdir = creds(pki, tmp, "srv", server, True)
        good_dir = creds(pki, tmp, "good", good, False)
        bad_dir = creds(pki, tmp, "bad", bad, False)
        nbd_tests(vmm, elf, tmp, pki, sdir, good_dir, bad_dir)
        vnc_tests(vmm, elf, tmp, pki, good, bad)
        migration_tests(vmm, elf, tmp, sdir, good_dir, bad_dir)
    finally:
        tap.report()
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
