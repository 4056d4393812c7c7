#!/usr/bin/python3
"""test-daemon-migrate-tls.py - virsh migrate --tls between two vireod hosts.

  test-daemon-migrate-tls.py VIREOD VIREO_VMM TESTGUEST_ELF VSH

Two vireod in network namespaces (migratelib.py); certificates from certtool (remotelib's
Pki): a CA, a server certificate per host naming its address, a client certificate. Host A
reads them from qemu.conf's migrate_tls_x509_cert_dir (its config file), host B from the
default (default_tls_x509_cert_dir, /etc/pki/qemu under its --root). Checked:
 - B's directory still empty: --tls is refused with the words libvirt's user reads when
   QEMU cannot load the credentials (naming the missing file), alike from virsh and vsh,
   and the guest runs on at A; so is --tls --copy-storage-all;
 - B's certificate naming another address: the source's VMM refuses it ("Certificate does
   not match the hostname"), the migration fails, the guest runs on at A and B has nothing;
 - with B's own certificate: virsh migrate --live --tls A -> B completes, the guest runs on
   B with its ticks consecutive across the hop;
 - then B -> A --p2p without --tls: the stream goes in clear again (the VMM that received
   over TLS still had the TLS parameters);
 - then A -> B --tls --copy-storage-all (B's disk at its own path, --xml): the disk's copy
   goes over NBD with STARTTLS. Every frame A sends or receives is captured (an AF_PACKET
   socket on A's port of the bridge): more than the disk's patterned part went over the NBD
   port, and no piece of the pattern is in any frame; B's copy holds the pattern; B's VMM
   has its TLS parameters reset;
 - then B -> A --tls --copy-storage-inc onto A's existing image (sync=top through the TLS
   NBD node): what B's disk held reaches A's image;
 - then A -> B --tls --parallel --parallel-connections 3: every multifd channel runs its own
   handshake, and the guest's final checks pass on B.
Prints TAP. Waits poll with generous limits; nothing asserts a timing.
"""
import json
import os
import signal
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import alive, domain_xml, state_ticks, wait_for  # noqa: E402
from migratelib import (Fabric, Host, end, guest_end, listed, raw_disk,  # noqa: E402
                        start, tick_watch)
from remotelib import Pki  # noqa: E402

VIREOD, VMM, GUEST, VSH, t = start()

ticks = state_ticks


# Writes every frame seen on an interface (argv[1]) to a file (argv[2]), length-prefixed,
# until SIGTERM; run inside the bridge's namespace.
CAPTURE = r'''
import signal, socket, struct, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((sys.argv[1], 0))
s.setsockopt(socket.SOL_SOCKET, 33, 1 << 25)  # SO_RCVBUFFORCE (root): no frame dropped
out = open(sys.argv[2], "wb", buffering=0)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
print("ready", flush=True)
while True:
    b = s.recv(1 << 18)
    out.write(struct.pack("<I", len(b)) + b)
'''
UNIT = b"VIREO-NBD-TLS-P\n"  # the disk's pattern: any 47 bytes of it hold an aligned NEEDLE
NEEDLE = UNIT * 2
DISKS_PORT = 49310


def tcp_payloads(path):
    """(src port, dst port, payload) of each IPv4 TCP frame in a capture."""
    data = open(path, "rb").read()
    off = 0
    while off + 4 <= len(data):
        n = struct.unpack_from("<I", data, off)[0]
        f = data[off + 4:off + 4 + n]
        off += 4 + n
        if len(f) < 34 or f[12:14] != b"\x08\x00" or f[23] != 6:
            continue
        ip = 14 + (f[14] & 15) * 4
        if len(f) < ip + 20:
            continue
        sport, dport = struct.unpack_from(">HH", f, ip)
        yield sport, dport, f[ip + (f[ip + 12] >> 4) * 4:]


def install(pki, d, server):
    os.makedirs(d, exist_ok=True)
    client = pki.client("client", "vireo-host")
    for src, dst in ((pki.ca, "ca-cert.pem"), (server, "server-cert.pem"),
                     (pki.key, "server-key.pem"), (client, "client-cert.pem"),
                     (pki.key, "client-key.pem")):
        open(os.path.join(d, dst), "w").write(open(src).read())


fabric = None
hosts = []
names = ["mt"]
try:
    fabric = Fabric(2)
    a = Host(fabric.ns[0], fabric.addr[0], VIREOD, VMM, VSH)
    b = Host(fabric.ns[1], fabric.addr[1], VIREOD, VMM, VSH)
    hosts = [a, b]
    pki = Pki(os.path.join(a.tmp, "pki"))
    a_dir = os.path.join(a.tmp, "migrate-pki")
    install(pki, a_dir, pki.server("server-a", "host-a", ip=a.addr))
    a.args = ["-f", a.write("vireod.conf", f"migrate_tls_x509_cert_dir = \"{a_dir}\"\n"
                            "migrate_tls_x509_verify = 1\n")]
    b_dir = os.path.join(b.root, "etc", "pki", "qemu")
    for h in hosts:
        h.start()
    t.ok(a.proc.poll() is None and b.proc.poll() is None,
         "two vireod run, each in its own network namespace")

    shared = os.path.join(a.tmp, "mt.raw")  # the guest's disk stream stays in the first MiB
    disk = raw_disk(shared, fill=UNIT * ((3 << 20) // len(UNIT)))
    xml = domain_xml("mt", GUEST, "tests=state state_mib=1 state_dirty=1 seed=13 "
                     "state_ticks=100000", disk, memory_mib=64)
    r = a.virsh("define", a.write("mt.xml", xml))
    t.ok(r.returncode == 0, "define mt on A", r.stderr)
    r = a.virsh("start", "mt")
    t.ok(r.returncode == 0 and wait_for(lambda: "tick=3 " in a.console_log("mt"), 120),
         "the continuity guest runs on A", r.stderr + a.console_log("mt")[-300:])

    last_tick, ticks_on = tick_watch("mt")

    def tls_params(h):
        """The VMM's tls-creds and whether libvirt's credentials object is still there."""
        r = h.virsh("qemu-monitor-command", "mt",
                    json.dumps({"execute": "query-migrate-parameters"}))
        creds = json.loads(r.stdout)["return"].get("tls-creds") if r.returncode == 0 else None
        probe = {"execute": "object-add", "arguments": {
            "qom-type": "tls-creds-x509", "id": "objlibvirt_migrate_tls0", "dir": "/nonexistent",
            "endpoint": "client"}}
        r = h.virsh("qemu-monitor-command", "mt", json.dumps(probe))
        fresh = r.returncode == 0 and "error" not in json.loads(r.stdout)
        if fresh:
            h.virsh("qemu-monitor-command", "mt", json.dumps(
                {"execute": "object-del", "arguments": {"id": "objlibvirt_migrate_tls0"}}))
        return creds, fresh

    # ---- refusals: B has no credentials yet ----
    missing = f"unable to execute QEMU command 'object-add': Unable to access credentials " \
              f"{b_dir}/ca-cert.pem: No such file or directory"
    x = a.virsh("migrate", "--live", "--tls", "mt", b.uri, "--listen-address", b.addr,
                timeout=120)
    y = a.vsh("migrate", "--live", "--tls", "mt", b.vsh_uri, "--listen-address", b.addr,
              timeout=120)
    t.ok(x.returncode == 1 and missing in x.stderr and
         (x.returncode, x.stdout, x.stderr) == (y.returncode, y.stdout, y.stderr) and
         a.state("mt") == "running (booted)" and not listed(b, "mt"),
         "--tls with B's cert dir empty: refused alike by virsh and vsh, naming the file; mt "
         "runs on A", "virsh: %r\nvsh:   %r\nA: %s" % (x.stderr, y.stderr, a.state("mt")))
    x = a.virsh("migrate", "--live", "--tls", "--copy-storage-all", "mt", b.uri,
                "--listen-address", b.addr, timeout=120)
    t.ok(x.returncode == 1 and missing in x.stderr and a.state("mt") == "running (booted)",
         "--tls --copy-storage-all with B's cert dir empty: refused the same way, mt runs on A",
         x.stderr)

    # ---- B's certificate names another address: the source refuses it ----
    install(pki, b_dir, pki.server("server-wrong", "elsewhere", ip="198.18.0.99"))
    r = a.virsh("migrate", "--live", "--tls", "mt", b.uri, "--listen-address", b.addr,
                timeout=300)
    t.ok(r.returncode == 1 and f"Certificate does not match the hostname {b.addr}" in r.stderr,
         "B's certificate for another address: the migration fails, saying why", r.stderr)
    t.ok(a.state("mt") in ("running (migration canceled)", "running (booted)") and
         ticks_on(a, 2), "mt runs on at A", a.state("mt"))
    t.ok(wait_for(lambda: not listed(b, "mt") and not alive(b.vmm_pid("mt") or 0), 60),
         "B: no domain, no vireo-vmm left")
    got = tls_params(a)
    t.ok(got == ("", True), "A's VMM: tls-creds reset and the credentials object gone", got)

    # ---- A -> B over TLS ----
    install(pki, b_dir, pki.server("server-b", "host-b", ip=b.addr))
    before = last_tick(a)
    r = a.virsh("migrate", "--live", "--tls", "--verbose", "mt", b.uri, "--listen-address",
                b.addr, timeout=300)
    t.ok(r.returncode == 0 and "Migration: [100 %]" in r.stderr,
         "virsh migrate --live --tls A -> B", r.stdout + r.stderr)
    t.ok(a.state("mt") == "shut off (migrated)" and b.state("mt") == "running (migrated)",
         "A: shut off (migrated), B: running (migrated)", a.state("mt") + " / " + b.state("mt"))
    t.ok(ticks_on(b, 3), "mt ticks on B", b.console_log("mt")[-300:])
    got = tls_params(b)
    t.ok(got == ("", True), "B's VMM after the TLS hop: tls-creds reset and the credentials "
         "object gone (a later save goes in clear)", got)
    last_a = last_tick(a)
    first_b = (ticks(b.console_log("mt")) or [0])[0]
    t.ok(last_a >= before and first_b == last_a + 1,
         "ticks consecutive across the TLS hop (A's last %d, B's first %d)" % (last_a, first_b))

    # ---- B -> A without --tls: in clear again ----
    before = last_tick(b)
    r = b.virsh("migrate", "--live", "--p2p", "mt", a.uri, "--listen-address", a.addr,
                timeout=300)
    t.ok(r.returncode == 0 and a.state("mt") == "running (migrated)",
         "virsh migrate --live --p2p B -> A without --tls", r.stdout + r.stderr)
    t.ok(ticks_on(a, 2), "mt ticks on A again")
    last_b = last_tick(b)
    new_a = [x for x in ticks(a.console_log("mt")) if x > last_a]
    t.ok(last_b >= before and new_a and new_a[0] == last_b + 1,
         "ticks consecutive across the hop back (B's last %d, A's next %s)" % (last_b, new_a[:1]))

    # ---- A -> B --tls --copy-storage-all: the disk over NBD with TLS ----
    disk_b = os.path.join(b.tmp, "mt-b.raw")
    xml_b = a.write("mt-b.xml", a.virsh("dumpxml", "--migratable", "mt").stdout
                    .replace(shared, disk_b))
    cap = os.path.join(a.tmp, "wire.cap")
    capper = subprocess.Popen(["ip", "netns", "exec", fabric.hub, sys.executable, "-c", CAPTURE,
                               "p0", cap], stdout=subprocess.PIPE, text=True)
    ready = capper.stdout.readline().strip() == "ready"
    with open(shared, "rb") as f:
        f.seek(1 << 20)
        in_source = f.read().count(NEEDLE)
    before = last_tick(a)
    r = a.virsh("migrate", "--live", "--tls", "--copy-storage-all", "mt", b.uri,
                "--listen-address", b.addr, "--xml", xml_b, "--disks-port", str(DISKS_PORT),
                timeout=300)
    capper.send_signal(signal.SIGTERM)
    capper.wait(timeout=30)
    t.ok(r.returncode == 0 and a.state("mt") == "shut off (migrated)" and
         b.state("mt") == "running (migrated)",
         "virsh migrate --live --tls --copy-storage-all A -> B",
         r.stdout + r.stderr + a.state("mt") + " / " + b.state("mt"))
    with open(disk_b, "rb") as f:
        f.seek(1 << 20)
        in_copy = f.read().count(NEEDLE)
    t.ok(in_source > 0 and in_copy == in_source,
         "B's disk holds the pattern A's did (%d pieces, %d copied)" % (in_source, in_copy))
    nbd_bytes, seen = 0, 0
    for sport, dport, payload in tcp_payloads(cap):
        if DISKS_PORT in (sport, dport):
            nbd_bytes += len(payload)
        seen += NEEDLE in payload
    t.ok(ready and nbd_bytes > (3 << 20),
         "the capture saw the disk copy: %d bytes on the NBD port %d" % (nbd_bytes, DISKS_PORT))
    t.ok(seen == 0, "no piece of the disk's pattern in any frame on the wire (%d frames had "
         "one)" % seen)
    t.ok(ticks_on(b, 2) and last_tick(b) > before,
         "mt ticks on B after the storage hop", b.console_log("mt")[-300:])
    got = tls_params(b)
    t.ok(got == ("", True), "B's VMM after the TLS storage hop: tls-creds reset and the "
         "credentials object gone", got)

    # ---- B -> A --tls --copy-storage-inc onto A's image ----
    xml_a = b.write("mt-a.xml", b.virsh("dumpxml", "--migratable", "mt").stdout
                    .replace(disk_b, shared))
    mark = b"VIREO-INC-MARK!\n" * 4096  # B's disk gets it, A's image zeroes there: a copy
    for path, data in ((disk_b, mark), (shared, bytes(len(mark)))):
        with open(path, "r+b") as f:
            f.seek(2 << 20)
            f.write(data)
    before = last_tick(b)
    r = b.virsh("migrate", "--live", "--tls", "--copy-storage-inc", "mt", a.uri,
                "--listen-address", a.addr, "--xml", xml_a, timeout=300)
    t.ok(r.returncode == 0 and a.state("mt") == "running (migrated)" and not listed(b, "mt"),
         "virsh migrate --live --tls --copy-storage-inc B -> A onto A's image (B's transient "
         "domain gone)",
         r.stdout + r.stderr + a.state("mt") + " / " + b.state("mt"))
    with open(shared, "rb") as f:
        f.seek(2 << 20)
        back = f.read(len(mark))
    t.ok(back == mark, "A's image got what B's disk held (the copy went over TLS NBD)")
    t.ok(ticks_on(a, 2) and last_tick(a) > last_tick(b) >= before, "mt ticks on A",
         a.console_log("mt")[-300:])
    got = tls_params(a)
    t.ok(got == ("", True), "A's VMM after it: tls-creds reset, the credentials object gone",
         got)

    # ---- A -> B over TLS with 3 multifd channels ----
    before = last_tick(a)
    r = a.virsh("migrate", "--live", "--tls", "--parallel", "--parallel-connections", "3", "mt",
                b.uri, "--listen-address", b.addr, timeout=300)
    t.ok(r.returncode == 0 and b.state("mt") == "running (migrated)",
         "virsh migrate --live --tls --parallel --parallel-connections 3 A -> B",
         r.stdout + r.stderr)
    t.ok(ticks_on(b, 2), "mt ticks on B again")
    last_a2 = last_tick(a)
    new_b = [x for x in ticks(b.console_log("mt")) if x > last_a2]
    t.ok(last_a2 >= before and new_b and new_b[0] == last_a2 + 1,
         "ticks consecutive across the TLS multifd hop (A's last %d, B's next %s)" %
         (last_a2, new_b[:1]))

    done, log = guest_end(b, "mt")  # a 'q' ends its run
    t.ok(done and "not ok" not in log, "the guest's final checks pass after every hop",
         log[-800:])
except Exception as e:  # noqa: BLE001
    t.ok(False, "unexpected: %r" % e)
    import traceback
    t.diag(traceback.format_exc())
finally:
    end(t, hosts, names, fabric)
