#!/usr/bin/env python3
"""NBD over TLS (NBD_OPT_STARTTLS), both ends, checked with the real QEMU tools.

Usage: test-nbd-tls.py VIREO_VMM TEST_GUEST_ELF

Certificates come from certtool (remotelib's Pki): a CA, a server certificate
(nbd.vireo.test, 198.18.0.1), a client certificate, and a CA that signed nothing here.
A VM (never started: -S) with a raw drive of random bytes, -object tls-creds-x509 with
endpoint=server (verify-peer on: clients must show a certificate) and endpoint=client.

Server (nbd-server-start tls-creds): the refusals (an unknown object, a client endpoint,
a tls-authz naming no object) are one line each; qemu-img convert with --object tls-creds-x509,endpoint=client
--image-opts driver=nbd,...,tls-creds= reads the export equal to the image; qemu-io writes a
pattern through it and the image holds it; a plain qemu-img is refused (TLS required), as are
a client trusting another CA and one without a certificate; the bytes that went by on the wire
while qemu-img read the export never show a block of the image. Over tcp in a network
namespace (198.18.0.1) qemu-img checks the certificate against the address, and nbdinfo
(libnbd) reads the export's size over TLS (refused without). With object-add'ed credentials
of verify-peer off, a client without a certificate is served, a plain one still refused.

Client (blockdev-add driver nbd with tls-creds, tls-hostname): the real qemu-nbd
--object tls-creds-x509 --tls-creds serves a target; blockdev-mirror copies the drive into it
and qemu-img compare finds the copy equal. Refused with one line each: tls-creds naming no
object or a server endpoint, tls-hostname without tls-creds, a unix socket without
tls-hostname, a plain client of the TLS qemu-nbd, a TLS client of a plain qemu-nbd, a qemu-nbd
whose certificate another CA signed, and over tcp a tls-hostname the certificate does not
carry; the right tls-hostname over tcp mirrors again.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "daemon"))
from remotelib import Pki  # noqa: E402
from vmmlib import Guest, Qmp, Tap  # noqa: E402

tap = Tap()
check = tap.check
SIZE = 4 << 20
HOST = "nbd.vireo.test"
ADDR = "198.18.0.1"


def run(cmd, ns=None):
    pre = ["ip", "netns", "exec", ns] if ns else []
    return subprocess.run(pre + cmd, capture_output=True, text=True, timeout=120)


def creds(pki, tmp, name, ca, cert, server):
    d = os.path.join(tmp, name)
    os.makedirs(d, exist_ok=True)
    end = "server" if server else "client"
    files = [(ca, "ca-cert.pem")]
    if cert:
        files += [(cert, f"{end}-cert.pem"), (pki.key, f"{end}-key.pem")]
    for src, dst in files:
        open(os.path.join(d, dst), "w").write(open(src).read())
    return d


def tls_obj(d, ident="c0"):
    return f"tls-creds-x509,id={ident},endpoint=client,dir={d}"


def image_opts(sock=None, host=None, export="d0", ident="c0"):
    where = f"server.type=unix,server.path={sock},tls-hostname={HOST}" if sock else \
        f"server.type=inet,server.host={host},server.port=10809"
    return f"driver=nbd,{where},export={export},tls-creds={ident}"


def read_export(cdir, out, ns=None, **kw):
    """qemu-img convert of the TLS export into out (raw)."""
    return run(["qemu-img", "convert", "--object", tls_obj(cdir), "--image-opts",
                image_opts(**kw), "-O", "raw", out], ns)


class Recorder:
    """A relay between two unix sockets that keeps every byte the server sends."""

    def __init__(self, listen_path, target_path):
        self.data = bytearray()
        self.ls = socket.socket(socket.AF_UNIX)
        self.ls.bind(listen_path)
        self.ls.listen(1)
        self.target = target_path
        threading.Thread(target=self._run, daemon=True).start()

    @staticmethod
    def _pump(src, dst, keep=None):
        try:
            while True:
                b = src.recv(1 << 20)
                if not b:
                    break
                if keep is not None:
                    keep += b
                dst.sendall(b)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _run(self):
        a, _ = self.ls.accept()
        b = socket.socket(socket.AF_UNIX)
        b.connect(self.target)
        t = threading.Thread(target=self._pump, args=(a, b), daemon=True)
        t.start()
        self._pump(b, a, self.data)
        t.join()


def qemu_nbd(tmp, image, name, sdir=None, ns=None, tcp=False, verify=True):
    """qemu-nbd serving image (raw, writable) as export 'x', with TLS when sdir is given."""
    sock = os.path.join(tmp, name + ".nbd")
    cmd = (["ip", "netns", "exec", ns] if ns else []) + \
        ["qemu-nbd", "-f", "raw", "-x", "x", "--persistent", "--cache=none"]
    if sdir:
        cmd += ["--object", f"tls-creds-x509,id=s0,endpoint=server,dir={sdir},"
                f"verify-peer={'on' if verify else 'off'}", "--tls-creds", "s0"]
    cmd += ["-b", ADDR, "-p", "10809"] if tcp else ["-k", sock]
    p = subprocess.Popen(cmd + [image], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    end = time.monotonic() + 30
    while time.monotonic() < end:
        if tcp:
            if run(["ss", "-ltn"], ns).stdout.find(f"{ADDR}:10809") >= 0:
                break
        elif os.path.exists(sock):
            break
        time.sleep(0.05)
    return p, sock


def wait_event(q, name, timeout=120):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for e in q.events:
            if e.get("event") == name:
                return e
        q.cmd("query-block-jobs")
        time.sleep(0.05)
    return None


def mirror_into(q, node, job):
    """blockdev-mirror d0 into node, READY, block-job-cancel (completes the copy)."""
    q.events.clear()
    r = q.cmd("blockdev-mirror", {"job-id": job, "device": "d0", "target": node, "sync": "full"})
    if "return" not in r:
        return f"blockdev-mirror: {r}"
    if wait_event(q, "BLOCK_JOB_READY") is None:
        return f"no BLOCK_JOB_READY: {q.events}"
    q.cmd("block-job-cancel", {"device": job})
    e = wait_event(q, "BLOCK_JOB_COMPLETED")
    if e is None or "error" in e["data"]:
        return f"not completed: {e}"
    end = time.monotonic() + 30
    while q.cmd("query-block-jobs").get("return") and time.monotonic() < end:
        time.sleep(0.05)
    r = q.cmd("blockdev-del", {"node-name": node})
    return None if "return" in r else f"blockdev-del: {r}"


def same(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        return fa.read() == fb.read()


def desc(r):
    return r.get("error", {}).get("desc", "")


def server_tests(q, tmp, raw, sdir, cdir, rogue_dir, nocert_dir, ns):
    r = q.cmd("nbd-server-start", {"addr": {"type": "unix", "data": {"path": f"{tmp}/x.nbd"}},
                                   "tls-creds": "nothere"})
    check(desc(r) == "No TLS credentials with id 'nothere'",
          "nbd-server-start tls-creds naming no object: QEMU's words", r)
    r = q.cmd("nbd-server-start", {"addr": {"type": "unix", "data": {"path": f"{tmp}/x.nbd"}},
                                   "tls-creds": "tc"})
    check(desc(r) == "Expected TLS credentials for a server endpoint",
          "nbd-server-start with client credentials: QEMU's words", r)
    r = q.cmd("nbd-server-start", {"addr": {"type": "unix", "data": {"path": f"{tmp}/x.nbd"}},
                                   "tls-creds": "ts", "tls-authz": "authz0"})
    check(desc(r) == "Cannot find QAuthZ object ID authz0",
          "nbd-server-start tls-authz naming no object: refused with one line", r)
    check(not os.path.exists(f"{tmp}/x.nbd"), "... and nothing listens after the refusals")

    nsock = os.path.join(tmp, "srv.nbd")
    r = q.cmd("nbd-server-start", {"addr": {"type": "unix", "data": {"path": nsock}},
                                   "tls-creds": "ts"})
    check("return" in r, "nbd-server-start with tls-creds on a unix socket", r)
    r = q.cmd("nbd-server-add", {"device": "d0", "writable": True})
    check("return" in r, "nbd-server-add d0 (writable)", r)

    out = os.path.join(tmp, "read.raw")
    p = read_export(cdir, out, sock=nsock)
    check(p.returncode == 0 and same(out, raw),
          "qemu-img convert over TLS: the export equals the image", p.stdout + p.stderr)
    p = run(["qemu-io", "--object", tls_obj(cdir), "--image-opts", image_opts(sock=nsock),
             "-c", "write -P 0x5a 1M 256k", "-c", "flush"])
    with open(raw, "rb") as f:
        f.seek(1 << 20)
        data = f.read(256 << 10)
    check(p.returncode == 0 and "wrote 262144/262144 bytes" in p.stdout and
          data == b"\x5a" * (256 << 10),
          "qemu-io write over TLS reaches the image", p.stdout + p.stderr)
    p = run(["qemu-io", "--object", tls_obj(cdir), "--image-opts", image_opts(sock=nsock),
             "-c", "read -P 0x5a 1M 256k"])
    check(p.returncode == 0 and "read 262144/262144 bytes" in p.stdout and
          "Pattern verification failed" not in p.stdout,
          "qemu-io read -P over TLS reads the pattern back", p.stdout + p.stderr)

    p = run(["qemu-img", "info", "-f", "raw", f"nbd+unix:///d0?socket={nsock}"])
    check(p.returncode != 0 and "TLS" in p.stderr,
          "a plain qemu-img is refused: the server requires TLS", p.stderr)
    p = read_export(rogue_dir, os.path.join(tmp, "rogue.raw"), sock=nsock)
    check(p.returncode != 0 and "certificate" in p.stderr.lower(),
          "a client trusting another CA refuses the server's certificate", p.stderr)
    p = read_export(nocert_dir, os.path.join(tmp, "nocert.raw"), sock=nsock)
    # qemu-img words it by where the server's refusal finds it: reading ("... TLS channel")
    # or still writing its handshake ("TLS handshake failed: Error in the push function")
    check(p.returncode != 0 and ("TLS channel" in p.stderr or
                                 "TLS handshake failed" in p.stderr),
          "a client without a certificate is refused (verify-peer on)", p.stderr)
    p = read_export(cdir, os.path.join(tmp, "ok.raw"), sock=nsock)
    check(p.returncode == 0, "... and the server still serves a good client after them",
          p.stderr)

    # The wire: the image's blocks never go by in clear.
    rsock = os.path.join(tmp, "rec.nbd")
    rec = Recorder(rsock, nsock)
    p = read_export(cdir, os.path.join(tmp, "rec.raw"), sock=rsock)
    with open(raw, "rb") as f:
        blocks = [f.read(4096) for _ in range(SIZE // 4096)]
    end = time.monotonic() + 10
    while len(rec.data) < SIZE and time.monotonic() < end:
        time.sleep(0.05)
    wire = bytes(rec.data)
    check(p.returncode == 0 and len(wire) > SIZE,
          f"through a recording relay: qemu-img read it all ({len(wire)} bytes on the wire)",
          p.stderr)
    check(not any(b[:64] in wire for b in blocks[::16]),
          "no block of the image appears on the wire (it is encrypted)")

    r = q.cmd("nbd-server-stop")
    check("return" in r, "nbd-server-stop", r)

    # tcp in the namespace: the certificate is checked against the address.
    r = q.cmd("nbd-server-start", {"addr": {"type": "inet",
                                            "data": {"host": ADDR, "port": "10809"}},
                                   "tls-creds": "ts"})
    q.cmd("nbd-server-add", {"device": "d0"})
    check("return" in r, f"nbd-server-start with tls-creds on {ADDR}:10809", r)
    out = os.path.join(tmp, "tcp.raw")
    p = read_export(cdir, out, ns=ns, host=ADDR)
    check(p.returncode == 0 and same(out, raw),
          "qemu-img convert over TLS on tcp (address checked): equals the image",
          p.stdout + p.stderr)
    p = run(["nbdinfo", "--json", f"nbds://{ADDR}:10809/d0?tls-certificates={cdir}"], ns)
    info = json.loads(p.stdout) if p.returncode == 0 else {}
    exp = (info.get("exports") or [{}])[0]
    check(info.get("TLS") is True and exp.get("export-size") == SIZE,
          "nbdinfo (libnbd) over TLS: the export and its size", p.stdout + p.stderr)
    # libnbd's words for NBD_REP_ERR_TLS_REQD, the same as against qemu-nbd --tls-creds
    p = run(["nbdinfo", f"nbd://{ADDR}:10809/d0"], ns)
    check("replied with error to opt_go request: Operation not supported" in p.stderr and
          "export-size" not in p.stdout, "nbdinfo without TLS is refused", p.stdout + p.stderr)
    q.cmd("nbd-server-stop")

    # object-add'ed server credentials with verify-peer off: a client without a certificate
    # is served (as by QEMU), over the TLS session still.
    r = q.cmd("object-add", {"qom-type": "tls-creds-x509", "id": "tsoff", "endpoint": "server",
                             "dir": sdir, "verify-peer": False})
    r2 = q.cmd("nbd-server-start", {"addr": {"type": "unix", "data": {"path": nsock}},
                                    "tls-creds": "tsoff"})
    q.cmd("nbd-server-add", {"device": "d0"})
    check("return" in r and "return" in r2,
          "object-add tls-creds-x509 verify-peer=off, nbd-server-start with it", f"{r} {r2}")
    out = os.path.join(tmp, "nocert-ok.raw")
    p = read_export(nocert_dir, out, sock=nsock)
    check(p.returncode == 0 and same(out, raw),
          "verify-peer off: a client without a certificate reads the export", p.stderr)
    p = run(["qemu-img", "info", "-f", "raw", f"nbd+unix:///d0?socket={nsock}"])
    check(p.returncode != 0 and "TLS" in p.stderr, "... and a plain client is still refused",
          p.stderr)
    q.cmd("nbd-server-stop")


def client_tests(q, tmp, raw, sdir, rogue_sdir, ns):
    tgt = os.path.join(tmp, "tgt.raw")
    with open(tgt, "wb") as f:
        f.truncate(SIZE)
    procs = []
    try:
        p, sock = qemu_nbd(tmp, tgt, "tls", sdir)
        procs.append(p)
        node = {"driver": "nbd", "server": {"type": "unix", "path": sock}, "export": "x"}
        r = q.cmd("blockdev-add", dict(node, **{"node-name": "n0", "tls-creds": "nothere"}))
        check(desc(r) == "No TLS credentials with id 'nothere'",
              "blockdev-add nbd tls-creds naming no object: QEMU's words", r)
        r = q.cmd("blockdev-add", dict(node, **{"node-name": "n0", "tls-creds": "ts"}))
        check(desc(r) == "Expected TLS credentials for a client endpoint",
              "blockdev-add nbd with server credentials: QEMU's words", r)
        r = q.cmd("blockdev-add", dict(node, **{"node-name": "n0", "tls-hostname": HOST}))
        check(desc(r) == "tls-hostname is set but tls-creds is not",
              "blockdev-add nbd with tls-hostname alone: refused, not ignored", r)
        r = q.cmd("blockdev-add", dict(node, **{"node-name": "n0"}))
        check("error" in r and "TLS" in desc(r),
              "blockdev-add nbd without tls-creds of a TLS qemu-nbd: refused", r)
        r = q.cmd("blockdev-add", dict(node, **{"node-name": "n0", "tls-creds": "tc"}))
        check(desc(r) == "No hostname for certificate validation",
              "blockdev-add nbd with tls-creds on a unix socket without tls-hostname: QEMU's "
              "words", r)
        r = q.cmd("blockdev-add", dict(node, **{"node-name": "n0", "tls-creds": "tc",
                                                "tls-hostname": HOST}))
        check("return" in r, "blockdev-add nbd with tls-creds (qemu-nbd --tls-creds)", r)
        why = mirror_into(q, "n0", "m0")
        check(why is None, "blockdev-mirror d0 into it over TLS: READY, completed", why)
        c = run(["qemu-img", "compare", "-f", "raw", "-F", "raw", raw, tgt])
        check(c.returncode == 0, "the image qemu-nbd received equals d0 (qemu-img compare)",
              c.stdout + c.stderr)

        pp, psock = qemu_nbd(tmp, tgt, "plain")
        procs.append(pp)
        r = q.cmd("blockdev-add", {"driver": "nbd", "node-name": "n1", "export": "x",
                                   "server": {"type": "unix", "path": psock}, "tls-creds": "tc",
                                   "tls-hostname": HOST})
        check("error" in r and "STARTTLS" in desc(r),
              "blockdev-add with tls-creds of a plain qemu-nbd: refused", r)

        # it does not check vireo's certificate: the refusal is vireo's own
        pr, rsock = qemu_nbd(tmp, tgt, "rogue", rogue_sdir, verify=False)
        procs.append(pr)
        r = q.cmd("blockdev-add", {"driver": "nbd", "node-name": "n2", "export": "x",
                                   "server": {"type": "unix", "path": rsock}, "tls-creds": "tc",
                                   "tls-hostname": HOST})
        check("error" in r and "certificate" in desc(r).lower(),
              "blockdev-add of a qemu-nbd whose certificate another CA signed: refused", r)

        # tcp: tls-hostname, else the server's address, must be in the certificate.
        with open(tgt, "wb") as f:
            f.truncate(SIZE)
        pt, _ = qemu_nbd(tmp, tgt, "tcp", sdir, ns=ns, tcp=True)
        procs.append(pt)
        tnode = {"driver": "nbd", "export": "x", "tls-creds": "tc",
                 "server": {"type": "inet", "host": ADDR, "port": "10809"}}
        r = q.cmd("blockdev-add", dict(tnode, **{"node-name": "n3",
                                                 "tls-hostname": "other.vireo.test"}))
        check("does not match the hostname other.vireo.test" in desc(r),
              "blockdev-add over tcp with a tls-hostname the certificate lacks: refused", r)
        r = q.cmd("blockdev-add", dict(tnode, **{"node-name": "n3", "tls-hostname": HOST}))
        check("return" in r, f"blockdev-add over tcp with tls-hostname {HOST}", r)
        why = mirror_into(q, "n3", "m3")
        c = run(["qemu-img", "compare", "-f", "raw", "-F", "raw", raw, tgt])
        check(why is None and c.returncode == 0,
              "blockdev-mirror over TLS on tcp: the copy equals d0", f"{why} {c.stdout}")
    finally:
        for p in procs:
            p.kill()
            p.wait()


def main():
    vmm, elf = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="vireo-nbd-tls-", dir=os.environ.get("MESON_BUILD_ROOT"))
    ns = f"vireo-nbdtls-{os.getpid()}"
    g = None
    try:
        pki = Pki(os.path.join(tmp, "pki"))
        scert = pki.cert("server", "organization = Vireo\ncn = %s\nip_address = %s\n"
                         "dns_name = %s\ntls_www_server\nencryption_key\nsigning_key\n"
                         "expiration_days = 30\n" % (HOST, ADDR, HOST), pki.ca)
        ccert = pki.client("client", "nbd client")
        rogue = pki.cert("rogue", "organization = Rogue\ncn = %s\nip_address = %s\n"
                         "dns_name = %s\ntls_www_server\ntls_www_client\nencryption_key\n"
                         "signing_key\nexpiration_days = 30\n" % (HOST, ADDR, HOST),
                         pki.rogue_ca)
        sdir = creds(pki, tmp, "s", pki.ca, scert, True)
        cdir = creds(pki, tmp, "c", pki.ca, ccert, False)
        # trusts another CA only; its own certificate is good, so the refusal is its own
        rogue_cdir = creds(pki, tmp, "rc", pki.rogue_ca, ccert, False)
        rogue_sdir = creds(pki, tmp, "rs", pki.rogue_ca, rogue, True)
        nocert_dir = creds(pki, tmp, "nc", pki.ca, None, False)
        raw = os.path.join(tmp, "d0.raw")
        with open(raw, "wb") as f:
            f.write(os.urandom(SIZE))
        made = subprocess.run(["ip", "netns", "add", ns]).returncode == 0
        check(made, "a network namespace (needs root)")
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        subprocess.run(["ip", "-n", ns, "addr", "add", f"{ADDR}/32", "dev", "lo"], check=True)
        sock = os.path.join(tmp, "qmp.sock")
        g = Guest(["ip", "netns", "exec", ns, vmm, "-S", "-nodefaults", "-display", "none",
                   "-m", "64", "-kernel", elf,
                   "-object", f"tls-creds-x509,id=ts,endpoint=server,dir={sdir},verify-peer=on",
                   "-object", f"tls-creds-x509,id=tc,endpoint=client,dir={cdir}",
                   "-drive", f"file={raw},format=raw,if=none,id=d0",
                   "-device", "virtio-blk-pci,drive=d0",
                   "-qmp", f"unix:{sock},server=on,wait=off"])
        q = Qmp(sock)
        server_tests(q, tmp, raw, sdir, cdir, rogue_cdir, nocert_dir, ns)
        client_tests(q, tmp, raw, sdir, rogue_sdir, ns)
        q.cmd("quit")
        rc, _, err = g.finish(timeout=60)
        check(rc == 0 and "Sanitizer" not in err and "runtime error" not in err,
              "vireo-vmm exits cleanly (no sanitizer report in the ASan build)", err[-3000:])
    finally:
        if g:
            g.kill()
        tap.report()
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
