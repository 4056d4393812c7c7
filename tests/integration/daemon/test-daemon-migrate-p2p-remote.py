#!/usr/bin/python3
"""test-daemon-migrate-p2p-remote.py - virsh migrate --p2p to qemu+tls:// and qemu+tcp://.

  test-daemon-migrate-p2p-remote.py VIREOD VIREO_VMM TESTGUEST_ELF VSH

With --p2p the source daemon dials the destination daemon itself, with the URI the user
gave, as libvirtd does for OpenStack (live_migration_uri qemu+tls://%s/system). Two vireod
in network namespaces (migratelib.py), both listening for TLS on their own address (B also
for TCP, which asks for SASL); certificates from certtool (remotelib's Pki). Checked:
 - A has no client certificate yet: B refuses the connection and the p2p migration to
   qemu+tls://B fails with libvirt's "Failed to connect to remote libvirt URI" line (the
   client's words for a server that refused its certificate), and the guest runs on at A,
   B has nothing;
 - with A's client certificate under its --root (libvirt's /etc/pki layout):
   virsh migrate --live --p2p A -> qemu+tls://B completes, B's log names A's certificate,
   the guest's ticks are consecutive across the hop;
 - B -> A with the certificate from the URI's pkipath= (B has none under its root), and
   vsh doing it: the guest comes back, ticks consecutive;
 - qemu+tcp://B, whose TCP listener asks for SASL: A's daemon answers from auth.conf only
   (under its --root), as libvirtd does: none there is refused in one line, a wrong password
   fails, the guest runs on at A; with the right one the guest moves to B.
Prints TAP. Waits poll with generous limits; nothing asserts a timing.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import alive, domain_xml, state_ticks, wait_for  # noqa: E402
from migratelib import Fabric, Host, end, listed, raw_disk, start, tick_watch  # noqa: E402
from remotelib import Pki, auth_file, client_env, sasl_setup  # noqa: E402

VIREOD, VMM, GUEST, VSH, t = start()

fabric = None
hosts = []
names = ["mt"]
try:
    fabric = Fabric(2)
    a = Host(fabric.ns[0], fabric.addr[0], VIREOD, VMM, VSH)
    b = Host(fabric.ns[1], fabric.addr[1], VIREOD, VMM, VSH)
    hosts = [a, b]
    pki = Pki(os.path.join(a.tmp, "pki"))
    pki.install_server(a.root, pki.server("server-a", "host-a", ip=a.addr))
    pki.install_server(b.root, pki.server("server-b", "host-b", ip=b.addr))
    sasl_setup(b.root, {"alice": "secret"})
    a.args = ["--listen", "-f", a.write("vireod.conf", f'listen_addr = "{a.addr}"\n')]
    b.args = ["--listen", "-v", "-f", b.write("vireod.conf", f'listen_addr = "{b.addr}"\n'
                                        "listen_tcp = 1\n")]
    for h in hosts:
        # Cyrus SASL's plugins leak OpenSSL objects (known, outside Vireo): LeakSanitizer is
        # told, as for the other SASL tests (lsan-openssl.supp).
        h.env["LSAN_OPTIONS"] = client_env()["LSAN_OPTIONS"]
        h.start()
    t.ok(a.proc.poll() is None and b.proc.poll() is None,
         "two vireod listen for TLS, each in its own network namespace")
    b_tls = f"qemu+tls://{b.addr}/system"

    disk = raw_disk(os.path.join(a.tmp, "mt.raw"))
    xml = domain_xml("mt", GUEST, "tests=state state_mib=1 state_dirty=1 seed=17 "
                     "state_ticks=100000", disk, memory_mib=64)
    r = a.virsh("define", a.write("mt.xml", xml))
    t.ok(r.returncode == 0, "define mt on A", r.stderr)
    r = a.virsh("start", "mt")
    t.ok(r.returncode == 0 and wait_for(lambda: "tick=3 " in a.console_log("mt"), 120),
         "the continuity guest runs on A", r.stderr + a.console_log("mt")[-300:])

    last_tick, ticks_on = tick_watch("mt")

    def hop(src, dst, uri, tool="virsh"):
        """src -> dst with --p2p: the result, and whether the ticks run on consecutively."""
        before = last_tick(src)
        seen = set(state_ticks(dst.console_log("mt")))
        run = src.virsh if tool == "virsh" else src.vsh
        r = run("migrate", "--live", "--p2p", "mt", uri, "--listen-address", dst.addr,
                timeout=300)
        ok = r.returncode == 0 and ticks_on(dst, 2)
        last = last_tick(src)
        new = [x for x in state_ticks(dst.console_log("mt")) if x not in seen and x > before]
        return r, ok and last >= before and bool(new) and new[0] == last + 1, (last, new[:1])

    # ---- A without a client certificate ----
    r = a.virsh("migrate", "--live", "--p2p", "mt", b_tls, "--listen-address", b.addr,
                timeout=300)
    t.ok(r.returncode == 1 and
         f"Failed to connect to remote libvirt URI {b_tls}: server verification (of our "
         "certificate or IP address) failed" in r.stderr and
         len(r.stderr.strip().splitlines()) == 1,
         "A has no client certificate: --p2p to qemu+tls:// fails in one line, libvirt's words",
         r.stderr)
    t.ok(a.state("mt") == "running (booted)" and ticks_on(a, 2) and not listed(b, "mt"),
         "mt runs on at A, B has nothing", a.state("mt"))

    # ---- A's certificate under its --root ----
    client = pki.client("client-a", "vireo-host-a")
    os.makedirs(os.path.join(a.root, "etc/pki/libvirt/private"), exist_ok=True)
    for src, dst in ((client, "etc/pki/libvirt/clientcert.pem"),
                     (pki.key, "etc/pki/libvirt/private/clientkey.pem")):
        open(os.path.join(a.root, dst), "w").write(open(src).read())
    r, consecutive, seen = hop(a, b, b_tls)
    t.ok(r.returncode == 0, "virsh migrate --live --p2p A -> qemu+tls://B", r.stdout + r.stderr)
    t.ok(a.state("mt") == "shut off (migrated)" and b.state("mt") == "running (migrated)",
         "A: shut off (migrated), B: running (migrated)", a.state("mt") + " / " + b.state("mt"))
    t.ok(consecutive, "ticks consecutive across the TLS p2p hop (A's last, B's first: %s)"
         % (seen,))
    b_log = open(os.path.join(b.tmp, "vireod.out"), errors="replace").read()
    t.ok("CN=vireo-host-a" in b_log, "B's daemon saw A's client certificate", b_log[-1500:])

    # ---- B -> A with pkipath=, by vsh ----
    back = pki.client_dir("b-client", pki.client("client-b", "vireo-host-b"))
    r, consecutive, seen = hop(b, a, f"qemu+tls://{a.addr}/system?pkipath={back}", "vsh")
    t.ok(r.returncode == 0 and a.state("mt") == "running (migrated)" and not listed(b, "mt"),
         "vsh migrate --live --p2p B -> qemu+tls://A?pkipath=DIR (B's transient copy gone)",
         "%r %r A: %s B: %s" % (r.stdout, r.stderr, a.state("mt"), b.state("mt")))
    t.ok(consecutive, "ticks consecutive across the hop back (%s)" % (seen,))

    # ---- TCP asking for SASL: answered from auth.conf only, as libvirtd does ----
    b_tcp = f"qemu+tcp://{b.addr}/system"
    r = a.virsh("migrate", "--live", "--p2p", "mt", b_tcp, "--listen-address", b.addr,
                timeout=300)
    t.ok(r.returncode == 1 and b_tcp in r.stderr and "no credentials for " + b.addr in r.stderr
         and len(r.stderr.strip().splitlines()) == 1,
         "--p2p to qemu+tcp:// asking for SASL, A's auth.conf absent: refused in one line",
         r.stderr)
    t.ok(a.state("mt") == "running (migrated)" and ticks_on(a, 2) and
         not alive(b.vmm_pid("mt") or 0),
         "mt runs on at A, no vireo-vmm on B", a.state("mt"))
    os.makedirs(os.path.join(a.root, "etc/libvirt"), exist_ok=True)
    auth_file(os.path.join(a.root, "etc/libvirt/auth.conf"), "alice", "wrong", host=b.addr)
    r = a.virsh("migrate", "--live", "--p2p", "mt", b_tcp, "--listen-address", b.addr,
                timeout=300)
    t.ok(r.returncode == 1 and "authentication failed" in r.stderr and
         a.state("mt") == "running (migrated)",
         "a wrong password in A's auth.conf: authentication failed, mt runs on at A", r.stderr)
    auth_file(os.path.join(a.root, "etc/libvirt/auth.conf"), "alice", "secret", host=b.addr)
    r, consecutive, seen = hop(a, b, b_tcp)
    t.ok(r.returncode == 0 and b.state("mt") == "running (migrated)",
         "virsh migrate --live --p2p A -> qemu+tcp://B with SASL from A's auth.conf",
         r.stdout + r.stderr)
    t.ok(consecutive, "ticks consecutive across the SASL hop (%s)" % (seen,))
except Exception as e:  # noqa: BLE001
    t.ok(False, "unexpected: %r" % e)
    import traceback
    t.diag(traceback.format_exc())
finally:
    end(t, hosts, names, fabric)
