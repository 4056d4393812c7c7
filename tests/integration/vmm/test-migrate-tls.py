#!/usr/bin/env python3
"""Live migration over TLS (migrate-set-parameters tls-creds, tls-hostname).

Usage: test-migrate-tls.py TEST_GUEST_ELF VMM

Certificates come from certtool (remotelib's Pki): a CA, the destination's server
certificate (dst.vireo.test, 198.18.0.1), the source's client certificate, and a server
certificate another CA signed. The source has -object tls-creds-x509,endpoint=client, each
destination -object tls-creds-x509,endpoint=server and -incoming defer; both set tls-creds
before migrate / migrate-incoming. The guest runs test-migrate.py's continuity workload.

On one source, in turn:
 - refusals with one line and no migration: tls-creds naming no object, an exec:
   URI, a unix: URI without tls-hostname, a source given server credentials;
 - tls-hostname naming another host: the source refuses the destination's certificate
   ("Certificate does not match the hostname"), the migration fails, the source runs on
   and the destination exits 1 with one line;
 - a destination whose certificate another CA signed: refused the same way;
 - a destination without tls-creds (it reads the handshake as a stream and refuses it):
   the source's handshake fails with one line and it runs on;
 - migrate_cancel while the TLS stream runs: cancelled, the source runs on, the destination
   exits 1 with one line;
 - a good destination, reached through a relay that records the bytes on the wire: the
   migration completes, the guest passes its continuity checks on the destination, and the
   wire carried more than the guest's pattern but neither the clear stream's magic nor a
   pattern page.
Then tcp: in a network namespace (198.18.0.1), the source's credentials given by QMP
object-add (a duplicate id and an iothread property refused, object-del and add again),
tls-hostname unset: the certificate is checked against the URI's address, and the migration
completes with the guest intact.
"""
import importlib.util
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "daemon"))
from remotelib import Pki  # noqa: E402
from vmmlib import Guest, Qmp  # noqa: E402

_spec = importlib.util.spec_from_file_location("migrate", os.path.join(HERE, "test-migrate.py"))
mig = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mig)
tap, check = mig.tap, mig.tap.check
HOST = "dst.vireo.test"


def creds(pki, tmp, name, ca, cert, server):
    d = os.path.join(tmp, name)
    os.makedirs(d, exist_ok=True)
    end = "server" if server else "client"
    for src, dst in ((ca, "ca-cert.pem"), (cert, f"{end}-cert.pem"), (pki.key, f"{end}-key.pem")):
        open(os.path.join(d, dst), "w").write(open(src).read())
    return d


class Recorder:
    """A relay between two unix sockets that looks at every byte the source sends: how
    many, and whether the clear stream's magic or a pattern page went by."""

    def __init__(self, listen_path, target_path):
        self.needles = [b"VIREOVM\n", struct.pack("<Q", mig.mix(mig.SEED, 1000)) * 64]
        self.seen = [False, False]
        self.count = 0
        self.ls = socket.socket(socket.AF_UNIX)
        self.ls.bind(listen_path)
        self.ls.listen(1)
        self.target = target_path
        threading.Thread(target=self._run, daemon=True).start()

    @staticmethod
    def _pump(src, dst, look=None):
        tail = b""
        try:
            while True:
                b = src.recv(1 << 20)
                if not b:
                    break
                if look:
                    tail = look(tail + b)
                dst.sendall(b)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _look(self, buf):
        self.count += len(buf) - min(len(buf), 511)  # what came before is counted already
        for i, n in enumerate(self.needles):
            if n in buf:
                self.seen[i] = True
        return buf[-511:]

    def _run(self):
        a, _ = self.ls.accept()
        b = socket.socket(socket.AF_UNIX)
        b.connect(self.target)
        threading.Thread(target=self._pump, args=(b, a), daemon=True).start()
        self._pump(a, b, self._look)


def start(c, sock, obj, extra=()):
    g = Guest(c.cmd(sock, (["-object", obj] if obj else []) + list(extra)), stdin=subprocess.PIPE)
    return g


def source(c, obj, extra=()):
    g = start(c, os.path.join(c.tmp, c.name + "-src.sock"), obj, extra)
    if g.wait_line(f"tick={mig.START_AT} ", timeout=180) is None:
        g.kill()
        return g, None
    q = Qmp(os.path.join(c.tmp, c.name + "-src.sock"))
    q.cmd("migrate-set-capabilities", {"capabilities": [{"capability": "events", "state": True}]})
    return g, q


def dest(c, tag, obj, uri, tls=True):
    sock = os.path.join(c.tmp, f"{c.name}-{tag}.sock")
    g = start(c, sock, obj, ["-incoming", "defer"])
    q = Qmp(sock, timeout=30)
    if tls:
        r = q.cmd("migrate-set-parameters", {"tls-creds": "tls0"})
        check("return" in r, f"{c.name} {tag}: tls-creds set on the destination", r)
    r = q.cmd("migrate-incoming", {"uri": uri})
    check("return" in r, f"{c.name} {tag}: migrate-incoming {uri.split(':')[0]}:", r)
    return g, q


def refused(q, name, cmd, args, words):
    r = q.cmd(cmd, args)
    desc = r.get("error", {}).get("desc", "")
    check(words in desc and "\n" not in desc, f"{name}: refused with one line ({words})", r)


def failed_dest(name, g2):
    try:
        st2, _, err2 = g2.finish(timeout=120)
    except Exception:
        g2.kill()
        st2, err2 = None, "timeout"
    lines = [x for x in err2.splitlines() if "load of migration failed" in x]
    check(st2 == 1 and len(lines) == 1,
          f"{name}: the destination fails its incoming migration with one line, exit 1",
          f"exit {st2}\n{err2}")


def refused_peer(c, g, q, tag, dst_obj, hostname, words, dst_tls=True):
    name = f"{c.name}: {tag}"
    uri = "unix:" + os.path.join(c.tmp, f"{c.name}-{tag.replace(' ', '-')}-mig.sock")
    g2, q2 = dest(c, tag.replace(" ", "-"), dst_obj, uri, dst_tls)
    q.cmd("migrate-set-parameters", {"tls-creds": "tls0", "tls-hostname": hostname})
    r = q.cmd("migrate", {"uri": uri})
    check("return" in r, f"{name}: migrate accepted", r)
    r = mig.wait_migration(q)
    desc = r.get("error-desc", "")
    check(r.get("status") == "failed" and words in desc and "\n" not in desc,
          f"{name}: the migration fails with one line ({words})", r)
    st = q.cmd("query-status")["return"]["status"]
    check(st == "running", f"{name}: the source runs on", st)
    q2.close()
    failed_dest(name, g2)


def unix_cases(vmm, elf, tmp, src_obj, dst_obj, rogue_obj):
    c = mig.Case(vmm, elf, tmp, "tls unix")
    g, q = source(c, src_obj, ["-object", dst_obj.replace("id=tls0", "id=srv0")])
    if not check(q is not None, f"{c.name}: the source's guest reaches tick {mig.START_AT}",
                 g.text()):
        return
    p = q.cmd("query-migrate-parameters")["return"]
    check(p.get("tls-creds") == "" and p.get("tls-hostname") == "" and p.get("tls-authz") == "",
          f"{c.name}: the TLS parameters are empty at first", p)
    # tls-authz is taken (test-authz.py uses it); naming no object is refused at the destination
    r = q.cmd("migrate-set-parameters", {"tls-authz": "authz0"})
    p = q.cmd("query-migrate-parameters")["return"]
    q.cmd("migrate-set-parameters", {"tls-authz": None})
    check("return" in r and p.get("tls-authz") == "authz0", f"{c.name}: tls-authz is taken", p)
    uri = "unix:" + os.path.join(tmp, "nobody.sock")
    q.cmd("migrate-set-parameters", {"tls-creds": "nope", "tls-hostname": HOST})
    refused(q, c.name, "migrate", {"uri": uri}, "No TLS credentials with id 'nope'")
    q.cmd("migrate-set-parameters", {"tls-creds": "srv0"})
    refused(q, c.name, "migrate", {"uri": uri}, "Expected TLS credentials for a client endpoint")
    q.cmd("migrate-set-parameters", {"tls-creds": "tls0"})
    refused(q, c.name, "migrate", {"uri": "exec:cat >/dev/null"}, "needs a tcp:, unix: or fd:")
    q.cmd("migrate-set-parameters", {"tls-hostname": None})
    refused(q, c.name, "migrate", {"uri": uri}, "No hostname available for TLS")
    check(q.cmd("query-migrate")["return"] == {}, f"{c.name}: no migration was started")
    refused_peer(c, g, q, "wrong hostname", dst_obj, "wrong.vireo.test",
                 "Certificate does not match the hostname wrong.vireo.test")
    refused_peer(c, g, q, "another CA", rogue_obj, HOST, "The certificate is invalid")
    refused_peer(c, g, q, "destination in clear", dst_obj, HOST, "TLS handshake failed",
                 dst_tls=False)

    # migrate_cancel mid-way (the link held to 1 MiB/s): the relay's session is cut, the
    # source runs on and the destination gives up.
    uri = "unix:" + os.path.join(tmp, c.name + "-cancel-mig.sock")
    g3, q3 = dest(c, "cancel", dst_obj, uri)
    q.cmd("migrate-set-parameters",
          {"tls-creds": "tls0", "tls-hostname": HOST, "max-bandwidth": 1 << 20})
    r = q.cmd("migrate", {"uri": uri})
    r = mig.wait_migration(q, pred=lambda x: x.get("status") == "active" and
                           x.get("ram", {}).get("transferred", 0) > 0)
    check(r.get("status") == "active", f"{c.name}: cancel: the TLS stream is under way", r)
    q.cmd("migrate_cancel")
    r = mig.wait_migration(q)
    check(r.get("status") == "cancelled", f"{c.name}: cancel: the migration is cancelled", r)
    st = q.cmd("query-status")["return"]["status"]
    check(st == "running", f"{c.name}: cancel: the source runs on", st)
    q3.close()
    failed_dest(f"{c.name}: cancel", g3)
    q.cmd("migrate-set-parameters", {"max-bandwidth": 128 << 20})

    # The good destination, through the recorder.
    dst_uri = "unix:" + os.path.join(tmp, c.name + "-mig.sock")
    src_uri = "unix:" + os.path.join(tmp, c.name + "-rec.sock")
    g2, q2 = dest(c, "good", dst_obj, dst_uri)
    rec = Recorder(src_uri[5:], dst_uri[5:])
    q.events.clear()
    r = q.cmd("migrate-set-parameters", {"tls-creds": "tls0", "tls-hostname": HOST})
    check("return" in r, f"{c.name}: migrate-set-parameters tls-creds, tls-hostname", r)
    p = q.cmd("query-migrate-parameters")["return"]
    check(p.get("tls-creds") == "tls0" and p.get("tls-hostname") == HOST,
          f"{c.name}: query-migrate-parameters reports them", p)
    r = q.cmd("migrate", {"uri": src_uri})
    check("return" in r, f"{c.name}: migrate accepted", r)
    r = mig.wait_migration(q)
    done = check(r.get("status") == "completed", f"{c.name}: completes over TLS", r)
    check(rec.count > mig.MIB << 20, f"{c.name}: the wire carried the guest's memory "
          f"({rec.count} bytes)")
    check(not rec.seen[0], f"{c.name}: the clear stream's magic is not on the wire")
    check(not rec.seen[1], f"{c.name}: no pattern page is on the wire in clear")
    mig.quit_source(g, q)
    if not done:
        g2.kill()
        print("# destination: " + g2.p.stderr.read()[-2000:].replace("\n", "\n# "))
        return
    q2.close()
    mig.stop_guest(f"{c.name}: destination", g2, g.text())


def tcp_case(vmm, elf, tmp, ns, src_dir, dst_obj):
    c = mig.Case(vmm, elf, tmp, "tls tcp", netns=ns)
    uri = "tcp:198.18.0.1:4471"
    g, q = source(c, None)
    if not check(q is not None, f"{c.name}: the source's guest reaches tick {mig.START_AT}",
                 g.text()):
        return
    # The client credentials come with object-add, as libvirt adds them at migration time.
    add = {"qom-type": "tls-creds-x509", "id": "tls0", "dir": src_dir, "endpoint": "client",
           "verify-peer": True}
    r = q.cmd("object-add", add)
    check("return" in r, f"{c.name}: object-add tls-creds-x509", r)
    refused(q, c.name, "object-add", add, "duplicate property 'tls0'")
    refused(q, c.name, "object-add", dict(add, id="t2", **{"poll-max-ns": 5}),
            "Property 'tls-creds-x509.poll-max-ns' not found")
    r = q.cmd("object-del", {"id": "tls0"})
    r2 = q.cmd("object-add", add)
    check("return" in r and "return" in r2, f"{c.name}: object-del, then object-add again",
          (r, r2))
    g2, q2 = dest(c, "dst", dst_obj, uri)
    q.cmd("migrate-set-parameters", {"tls-creds": "tls0"})
    r = q.cmd("migrate", {"uri": uri})
    check("return" in r, f"{c.name}: migrate accepted", r)
    r = mig.wait_migration(q)
    done = check(r.get("status") == "completed",
                 f"{c.name}: completes, the certificate checked against the URI's address", r)
    mig.quit_source(g, q)
    if not done:
        g2.kill()
        print("# destination: " + g2.p.stderr.read()[-2000:].replace("\n", "\n# "))
        return
    q2.close()
    mig.stop_guest(f"{c.name}: destination", g2, g.text())


def main():
    elf, vmm = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="vireo-migtls-", dir=os.environ.get("MESON_BUILD_ROOT"))
    ns = f"vireo-migtls-{os.getpid()}"
    try:
        pki = Pki(os.path.join(tmp, "pki"))
        server = pki.server("server", HOST, ip="198.18.0.1")
        client = pki.client("client", "src.vireo.test")
        rogue = pki.cert("rogue", "cn = %s\ndns_name = %s\ntls_www_server\nencryption_key\n"
                         "signing_key\nexpiration_days = 30\n" % (HOST, HOST), pki.rogue_ca)
        obj = "tls-creds-x509,id=tls0,dir=%s,endpoint=%s"
        src_dir = creds(pki, tmp, "src", pki.ca, client, False)
        src_obj = obj % (src_dir, "client")
        dst_obj = obj % (creds(pki, tmp, "dst", pki.ca, server, True), "server")
        rogue_obj = obj % (creds(pki, tmp, "rogue", pki.ca, rogue, True), "server")
        unix_cases(vmm, elf, tmp, src_obj, dst_obj, rogue_obj)
        made = subprocess.run(["ip", "netns", "add", ns]).returncode == 0
        if check(made, "a network namespace for tcp: (needs root)"):
            subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
            subprocess.run(["ip", "-n", ns, "addr", "add", "198.18.0.1/32", "dev", "lo"],
                           check=True)
            tcp_case(vmm, elf, tmp, ns, src_dir, dst_obj)
    finally:
        tap.report()
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
