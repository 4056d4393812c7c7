#!/usr/bin/python3
"""test-daemon-migrate.py - libvirt's migration protocol between two vireod
hosts, driven by the stock virsh.

  test-daemon-migrate.py VIREOD VIREO_VMM TESTGUEST_ELF VSH

Two vireod, each with its own --root, each in its own network namespace
(198.18.0.1 and .2, bridged; migratelib.py): the daemons' sockets are
reached as qemu+unix:///system?socket=..., the migration stream goes over
TCP between the namespaces.

The test guest's continuity workload (tests=state: a memory pattern, a tick
counter, a disk write stream, the timer, checked every tick) moves A -> B
client-driven (virsh migrate --live --verbose), B -> A peer-to-peer
(--p2p, the source daemon is the destination's client), A -> B with
--persistent --undefinesource; its ticks must be consecutive across every
hop, and it finishes its checks on the last host. On the way: states and
reasons on both sides (running/shut off "migrated", "migration canceled"),
the lifecycle events with libvirt's details, domjobinfo --completed,
migrate-setmaxdowntime/getmaxdowntime/setspeed/getspeed, an --offline
--persistent migration of an inactive domain.

Refusals and failures, each leaving the source running and the destination
with nothing: --copy-storage-all with --copy-storage-inc, --migrate-disks without either
(libvirt's refusals; storage migration itself: test-daemon-migrate-storage.py), --offline without --persistent, a
disk whose cache mode is unsafe (libvirt's message) unless --unsafe; the
destination's vireo-vmm killed as it starts; domjobabort while the stream
waits for a destination that does not read yet.

Prints TAP. Waits poll with generous limits; nothing asserts a timing.
"""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import alive, domain_xml, state_ticks, wait_for  # noqa: E402
from migratelib import Fabric, Host, end, guest_end, event_stream, start  # noqa: E402

VIREOD, VMM, GUEST, VSH, t = start()

TICKS = 100000  # the guest ends when a 'q' arrives on its console

ticks = state_ticks


def disk_xml(path, cache="none", shareable=True):
    return f"""    <disk type='file' device='disk'>
      <driver name='qemu' type='raw' cache='{cache}'/>
      <source file='{path}'/>
      <target dev='vda' bus='virtio'/>
{"      <shareable/>" + chr(10) if shareable else ""}    </disk>
"""


# The destination's vireo-vmm, through a wrapper the failure cases steer: with the file
# "kill" present it ends the VMM as soon as it has started; with "hold" present it waits
# before starting it (the source's stream then waits in the socket).
WRAPPER = """#!/bin/sh
dir=$(dirname "$0")
case " $* " in *" -incoming "*) ;; *) exec "%s" "$@" ;; esac
while [ -e "$dir/hold" ]; do sleep 0.05; done
if [ -e "$dir/kill" ]; then
  "%s" "$@" || exit $?
  pidfile=$(echo "$@" | sed -n 's/.*-pidfile \\([^ ]*\\).*/\\1/p')
  kill -9 "$(cat "$pidfile")"
  exit 0
fi
exec "%s" "$@"
""" % (VMM, VMM, VMM)

fabric = None
hosts = []
events = []
names = ["mg", "mgx", "uns", "off"]
try:
    fabric = Fabric(2)
    a = Host(fabric.ns[0], fabric.addr[0], VIREOD, VMM, VSH)
    b = Host(fabric.ns[1], fabric.addr[1], VIREOD, VMM, VSH)
    hosts = [a, b]
    wrapper = os.path.join(b.tmp, "vmm-wrapper")
    open(wrapper, "w").write(WRAPPER)
    os.chmod(wrapper, 0o755)
    b.env["VIREO_VMM"] = wrapper
    for h in hosts:
        h.start()
    t.ok(a.proc.poll() is None and b.proc.poll() is None,
         "two vireod run, each in its own network namespace")

    ev_a, ev_b = event_stream(a, events), event_stream(b, events)
    shared = os.path.join(a.tmp, "mg.raw")
    with open(shared, "wb") as f:
        f.truncate(1 << 20)
    mg_xml = domain_xml("mg", GUEST, f"tests=state state_mib=8 seed=7 state_ticks={TICKS}",
                        disk_xml(shared, shareable=False), memory_mib=128)
    r = a.virsh("define", a.write("mg.xml", mg_xml))
    t.ok(r.returncode == 0, "define mg on A", r.stderr)
    r = a.virsh("start", "mg")
    t.ok(r.returncode == 0 and wait_for(lambda: "tick=3 " in a.console_log("mg"), 120),
         "the continuity guest runs on A", r.stderr + a.console_log("mg")[-300:])

    def running_on(h, name="mg"):
        return h.state(name).startswith("running")

    def last_tick(h, name="mg"):
        return (ticks(h.console_log(name)) or [0])[-1]

    def ticks_on(h, n, name="mg", limit=120):
        start = last_tick(h, name)
        return wait_for(lambda: last_tick(h, name) >= start + n, limit)

    def listed(h, name):
        r = h.virsh("list", "--all", "--name")
        return name in r.stdout.split()

    # ---- refusals: the source runs on, the destination gets nothing ----
    r = a.virsh("migrate", "--live", "mg", b.uri, "--copy-storage-all", "--copy-storage-inc")
    t.ok(r.returncode == 1 and "are mutually exclusive" in r.stderr and
         running_on(a) and not listed(b, "mg"),
         "--copy-storage-all with --copy-storage-inc is refused, mg runs on", r.stderr)
    r = a.virsh("migrate", "--live", "mg", b.uri, "--migrate-disks", "vda")
    t.ok(r.returncode == 1 and
         "use of 'migrate_disks' requires use of 'VIR_MIGRATE_NON_SHARED_DISK'" in r.stderr and
         running_on(a), "--migrate-disks without --copy-storage-*: libvirt's refusal", r.stderr)
    r = a.virsh("migrate", "--live", "--abort-on-error", "mg", b.uri)
    t.ok(r.returncode == 1 and "Operation not supported: --abort-on-error" in r.stderr and
         running_on(a), "--abort-on-error is refused (no I/O error reports yet)", r.stderr)
    for opt in ("--change-protection",):
        x = a.virsh("migrate", "--live", opt, "mg", b.uri)
        y = a.vsh("migrate", "--live", opt, "mg", b.vsh_uri)
        t.ok(x.returncode == 1 and (x.returncode, x.stdout, x.stderr) ==
             (y.returncode, y.stdout, y.stderr), "virsh and vsh refuse %s alike" % opt,
             "virsh: %r\nvsh:   %r" % (x.stderr, y.stderr))
    r = a.virsh("migrate", "--offline", "mg", b.uri)
    t.ok(r.returncode == 1 and "offline migration must be specified with the persistent flag" in
         r.stderr and running_on(a), "--offline without --persistent is refused", r.stderr)
    r = a.virsh("migrate", "--live", "mg", "qemu+unix:///system?socket=" + a.sock, "--p2p")
    t.ok(r.returncode == 1 and "Attempt to migrate guest to the same host" in r.stderr,
         "--p2p to the same daemon is refused", r.stderr)

    # ---- the tunables ----
    r1 = a.virsh("migrate-setmaxdowntime", "mg", "150")
    r2 = a.virsh("migrate-getmaxdowntime", "mg")
    t.ok(r1.returncode == 0 and r2.stdout.strip() == "150",
         "migrate-setmaxdowntime 150, getmaxdowntime says 150", r1.stderr + r2.stdout + r2.stderr)
    r = a.virsh("migrate-getspeed", "mg")
    t.ok(r.returncode == 0 and r.stdout.strip() == "8796093022207",
         "migrate-getspeed: libvirt's unlimited default", r.stdout + r.stderr)
    r1 = a.virsh("migrate-setspeed", "mg", "1000")
    r2 = a.virsh("migrate-getspeed", "mg")
    t.ok(r1.returncode == 0 and r2.stdout.strip() == "1000", "migrate-setspeed 1000",
         r1.stderr + r2.stdout + r2.stderr)
    r = a.virsh("domjobinfo", "mg")
    t.ok(r.returncode == 0 and re.search(r"Job type:\s+None", r.stdout),
         "domjobinfo: no job", r.stdout + r.stderr)

    # ---- A -> B, client-driven ----
    before = last_tick(a)
    r = a.virsh("migrate", "--live", "--verbose", "mg", b.uri, "--listen-address", b.addr,
                timeout=300)
    t.ok(r.returncode == 0 and "Migration: [100 %]" in r.stderr,
         "virsh migrate --live --verbose A -> B (client-driven)", r.stdout + r.stderr)
    t.ok(a.state("mg") == "shut off (migrated)", "A: shut off (migrated)", a.state("mg"))
    t.ok(b.state("mg") == "running (migrated)", "B: running (migrated)", b.state("mg"))
    t.ok(not alive(a.vmm_pid("mg") or 0), "A: no vireo-vmm left for mg")
    t.ok(ticks_on(b, 3), "mg ticks on B", b.console_log("mg")[-300:])
    last_a = last_tick(a)
    first_b = (ticks(b.console_log("mg")) or [0])[0]
    t.ok(last_a >= before and first_b == last_a + 1,
         "ticks consecutive across the hop (A's last %d, B's first %d)" % (last_a, first_b))
    r = b.virsh("dominfo", "mg")
    t.ok(re.search(r"Persistent:\s+no", r.stdout), "B: mg is transient", r.stdout)
    r = a.virsh("domjobinfo", "mg", "--completed")
    t.ok(r.returncode == 0 and re.search(r"Job type:\s+Completed", r.stdout) and
         re.search(r"Operation:\s+Outgoing migration", r.stdout) and
         re.search(r"Total downtime:\s+\d+\s+ms", r.stdout),
         "A: domjobinfo --completed: an outgoing migration, its downtime", r.stdout + r.stderr)
    r = b.virsh("domjobinfo", "mg", "--completed", "--keep-completed")
    t.ok(r.returncode == 0 and re.search(r"Operation:\s+Incoming migration", r.stdout) and
         re.search(r"Total downtime:\s+\d+\s+ms", r.stdout),
         "B: domjobinfo --completed: an incoming migration, the downtime the source measured",
         r.stdout + r.stderr)
    r = b.virsh("migrate-getmaxdowntime", "mg")
    t.ok(r.returncode == 0 and r.stdout.strip() == "300",
         "B: the downtime limit is the destination's own (300 ms)", r.stdout + r.stderr)

    kill_b = os.path.join(b.tmp, "kill")

    # ---- B -> A, peer-to-peer ----
    before = last_tick(b)
    r = b.virsh("migrate", "--live", "--p2p", "mg", a.uri, "--listen-address", a.addr,
                timeout=300)
    t.ok(r.returncode == 0, "virsh migrate --live --p2p B -> A", r.stdout + r.stderr)
    t.ok(a.state("mg") == "running (migrated)", "A: running (migrated)", a.state("mg"))
    t.ok(not listed(b, "mg"), "B: the transient mg is gone")
    r = a.virsh("dominfo", "mg")
    t.ok(re.search(r"Persistent:\s+yes", r.stdout),
         "A: mg is persistent again (its definition stayed)", r.stdout)
    a_log_before = ticks(a.console_log("mg"))
    t.ok(ticks_on(a, 3), "mg ticks on A again")
    last_b = last_tick(b)
    new_a = [x for x in ticks(a.console_log("mg")) if x > last_a]
    t.ok(last_b >= before and new_a and new_a[0] == last_b + 1,
         "ticks consecutive across the peer-to-peer hop (B's last %d, A's next %s)" %
         (last_b, new_a[:1]), a_log_before[-5:])

    # ---- A -> B with B's VMM killed as it starts ----
    open(kill_b, "w").close()
    r = a.virsh("migrate", "--live", "mg", b.uri, "--listen-address", b.addr, timeout=300)
    os.unlink(kill_b)
    t.ok(r.returncode == 1 and "migration out" in r.stderr,
         "a destination VMM killed as it starts fails the migration", r.stderr)
    t.ok(a.state("mg") == "running (migration canceled)", "A: running (migration canceled)",
         a.state("mg"))
    t.ok(ticks_on(a, 2), "mg ticks on at A")
    t.ok(not listed(b, "mg") and not alive(b.vmm_pid("mg") or 0),
         "B: no domain, no vireo-vmm left")

    # ---- A -> B, --persistent --undefinesource ----
    before = last_tick(a)
    r = a.virsh("migrate", "--live", "--persistent", "--undefinesource", "mg", b.uri,
                "--listen-address", b.addr, timeout=300)
    t.ok(r.returncode == 0, "virsh migrate --persistent --undefinesource A -> B",
         r.stdout + r.stderr)
    t.ok(not listed(a, "mg"), "A: mg is undefined", a.virsh("list", "--all").stdout)
    r = b.virsh("dominfo", "mg")
    t.ok(b.state("mg") == "running (migrated)" and re.search(r"Persistent:\s+yes", r.stdout),
         "B: mg runs, persistent", r.stdout)
    t.ok(os.path.exists(os.path.join(b.root, "etc", "qemu", "mg.xml")) or
         any(f == "mg.xml" for _, _, fs in os.walk(b.root) for f in fs),
         "B: its definition is stored")
    t.ok(ticks_on(b, 2), "mg ticks on B")

    # ---- vsh: B -> A client-driven, then A -> B peer-to-peer ----
    r = b.vsh("migrate", "--live", "--verbose", "mg", a.vsh_uri, "--listen-address", a.addr,
              timeout=300)
    t.ok(r.returncode == 0 and "Migration: [100 %]" in r.stderr,
         "vsh migrate --live --verbose B -> A (client-driven)", r.stdout + r.stderr)
    t.ok(a.state("mg") == "running (migrated)" and b.state("mg") == "shut off (migrated)",
         "A: running (migrated); B: shut off (migrated), still defined",
         a.state("mg") + " / " + b.state("mg"))
    last_b = last_tick(b)
    t.ok(ticks_on(a, 2) and [x for x in ticks(a.console_log("mg")) if x > last_b][:1] ==
         [last_b + 1], "ticks consecutive across the vsh hop (B's last %d)" % last_b)
    x, y = (b.virsh("domjobinfo", "mg", "--completed", "--keep-completed"),
            b.vsh("domjobinfo", "mg", "--completed", "--keep-completed"))
    t.ok(x.returncode == 0 and (x.stdout, x.stderr) == (y.stdout, y.stderr) and
         "Outgoing migration" in x.stdout, "domjobinfo --completed: vsh prints what virsh does",
         "virsh:\n" + x.stdout + x.stderr + "vsh:\n" + y.stdout + y.stderr)
    for cmd in (["migrate-getmaxdowntime", "mg"], ["migrate-getspeed", "mg"],
                ["domjobinfo", "mg"]):
        x, y = a.virsh(*cmd), a.vsh(*cmd)
        t.ok(x.returncode == 0 and (x.stdout, x.stderr) == (y.stdout, y.stderr),
             "vsh and virsh agree: " + " ".join(cmd), x.stdout + "/" + y.stdout + y.stderr)
    r1, r2 = a.vsh("migrate-setmaxdowntime", "mg", "0"), a.virsh("migrate-setmaxdowntime", "mg",
                                                                 "0")
    t.ok(r1.returncode == 1 and (r1.stdout, r1.stderr) == (r2.stdout, r2.stderr),
         "migrate-setmaxdowntime 0: the same refusal from vsh and virsh", r1.stderr + r2.stderr)
    last_a = last_tick(a)
    r = a.vsh("migrate", "--live", "--p2p", "mg", b.vsh_uri, "--listen-address", b.addr,
              timeout=300)
    t.ok(r.returncode == 0, "vsh migrate --live --p2p A -> B", r.stdout + r.stderr)
    t.ok(b.state("mg") == "running (migrated)" and not listed(a, "mg"),
         "B: running (migrated); A: the transient mg is gone", b.state("mg"))
    last_a = last_tick(a)
    t.ok(ticks_on(b, 2) and [x for x in ticks(b.console_log("mg")) if x > last_a][:1] ==
         [last_a + 1], "ticks consecutive across the vsh peer-to-peer hop")

    # ---- offline ----
    off_xml = domain_xml("off", GUEST, "tests=state", memory_mib=64)
    a.virsh("define", a.write("off.xml", off_xml))
    r = a.virsh("migrate", "--offline", "--persistent", "off", b.uri)
    t.ok(r.returncode == 0 and listed(b, "off") and b.state("off").startswith("shut off") and
         listed(a, "off"), "--offline --persistent: the definition is on B (and still on A)",
         r.stderr + b.state("off"))

    # ---- an unsafe disk, --unsafe, and domjobabort ----
    uns_disk = os.path.join(a.tmp, "uns.raw")
    with open(uns_disk, "wb") as f:
        f.truncate(1 << 20)
    uns_xml = domain_xml("uns", GUEST, "tests=state state_mib=64 seed=3 state_ticks=100000",
                         disk_xml(uns_disk, cache="writeback", shareable=False), memory_mib=256)
    a.virsh("define", a.write("uns.xml", uns_xml))
    r = a.virsh("start", "uns")
    t.ok(r.returncode == 0 and wait_for(lambda: "tick=2 " in a.console_log("uns"), 180),
         "uns (64 MiB of pattern, a writeback disk) runs on A", r.stderr)
    r = a.virsh("migrate", "--live", "uns", b.uri, "--listen-address", b.addr)
    t.ok(r.returncode == 1 and
         "Unsafe migration: Migration may lead to data corruption if disks use cache other "
         "than none or directsync" in r.stderr and running_on(a, "uns"),
         "a writeback disk: libvirt's unsafe-migration error", r.stderr)
    hold = os.path.join(b.tmp, "hold")
    open(hold, "w").close()
    mig = subprocess.Popen(["virsh", "-q", "-c", a.uri, "migrate", "--live", "--unsafe", "uns",
                            b.uri, "--listen-address", b.addr], env=a.env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    active = wait_for(lambda: re.search(r"Job type:\s+Unbounded",
                                        a.virsh("domjobinfo", "uns").stdout), 60)
    t.ok(active, "domjobinfo: the migration is an unbounded job while it runs")
    # The stream fills the socket the destination does not read yet. (domjobinfo's bytes sent
    # so far are the VMM's query-migrate figures: vireo-vmm's stop-and-copy counts its RAM at
    # the end of the section, so they stay 0 here.)
    time.sleep(0.5)
    r = a.virsh("domjobabort", "uns")
    t.ok(r.returncode == 0, "domjobabort", r.stderr)
    os.unlink(hold)
    out, _ = mig.communicate(timeout=300)
    t.ok(mig.returncode == 1 and "operation aborted: job 'migration out' canceled by client" in
         out, "the migration ends: canceled by client", out)
    t.ok(a.state("uns") == "running (migration canceled)" and ticks_on(a, 2, "uns"),
         "A: uns runs on (migration canceled)", a.state("uns"))
    t.ok(wait_for(lambda: not listed(b, "uns"), 30) and not alive(b.vmm_pid("uns") or 0),
         "B: nothing of uns is left")
    r = a.virsh("domjobinfo", "uns", "--completed")
    t.ok(re.search(r"Job type:\s+Cancelled", r.stdout), "domjobinfo --completed: Cancelled",
         r.stdout + r.stderr)
    a.virsh("destroy", "uns")

    # ---- B -> A with --suspend --dname: paused under its new name ----
    r = b.virsh("migrate", "--live", "--suspend", "--dname", "mgx", "mg", a.uri,
                "--listen-address", a.addr, timeout=300)
    t.ok(r.returncode == 0, "virsh migrate --suspend --dname mgx B -> A", r.stdout + r.stderr)
    t.ok(a.state("mgx") == "paused (user)" and b.state("mg") == "shut off (migrated)",
         "A: mgx paused (--suspend); B: mg shut off (migrated)",
         a.state("mgx") + " / " + b.state("mg"))
    last_b = last_tick(b)
    r = a.virsh("resume", "mgx")
    t.ok(r.returncode == 0 and ticks_on(a, 2, "mgx") and
         ticks(a.console_log("mgx"))[:1] == [last_b + 1],
         "resumed, mgx ticks on from B's last tick %d" % last_b, r.stderr)

    # ---- the guest's own end: its checks pass on A ----
    done, log = guest_end(a, "mgx")  # a 'q' ends its run
    t.ok(done and "not ok" not in log, "the guest's final checks pass after six hops",
         log[-800:])

    # ---- events, with libvirt's details ----
    time.sleep(0.5)
    for p in events:
        p.terminate()
    out_a = ev_a.communicate(timeout=10)[0]
    out_b = ev_b.communicate(timeout=10)[0]
    for line, where, out in [("'mg': Suspended Migrated", "A", out_a),
                             ("'mg': Stopped Migrated", "A", out_a),
                             ("'mg': Started Migrated", "B", out_b),
                             ("'mg': Resumed Migrated", "B", out_b),
                             ("'mg': Resumed Migrated", "A", out_a)]:
        t.ok(line in out, "event on %s: %s" % (where, line), out[-1500:])
except Exception as e:  # noqa: BLE001
    t.ok(False, "unexpected: %r" % e)
    import traceback
    t.diag(traceback.format_exc())
finally:
    for p in events:
        if p.poll() is None:
            p.kill()
    end(t, hosts, names, fabric)
