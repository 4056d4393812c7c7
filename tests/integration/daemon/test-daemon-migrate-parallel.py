#!/usr/bin/python3
"""test-daemon-migrate-parallel.py - virsh migrate --parallel between two vireod hosts.

  test-daemon-migrate-parallel.py VIREOD VIREO_VMM TESTGUEST_ELF VSH

Two vireod in network namespaces (migratelib.py). The continuity guest (its pattern, a
dirtied area it keeps rewriting, the timer) moves:
 - A -> B with the stock virsh, client-driven: migrate --live --parallel
   --parallel-connections 3. B's vireo-vmm gets the multifd capability and 3 channels before
   its migrate-incoming (query-migrate-capabilities/-parameters through
   qemu-monitor-command), and its log says it took the stream over 4 connections;
 - B -> A peer-to-peer: migrate --live --p2p --parallel (libvirt's default, 2 channels:
   3 connections);
 - A -> B without --parallel: the VMM that received with multifd has it turned off again
   and the stream goes over one connection;
 - B -> A with vsh migrate --live --parallel --parallel-connections 4 (5 connections);
its ticks are consecutive across every hop and its final checks pass. Refusals in libvirt's
words, each leaving the guest running on A and nothing on B: --parallel-connections without
--parallel, 0 and 256 connections (vsh's answers the same as virsh's).
Prints TAP. Waits poll with generous limits; nothing asserts a timing.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import alive, domain_xml, state_ticks, wait_for  # noqa: E402
from migratelib import (Fabric, Host, end, guest_end, listed, raw_disk,  # noqa: E402
                        start, tick_watch)

VIREOD, VMM, GUEST, VSH, t = start()

ticks = state_ticks


def full_log(h, name):
    try:
        return open(os.path.join(h.root, "log", name + ".log"), errors="replace").read()
    except OSError:
        return ""


fabric = None
hosts = []
names = ["mp"]
try:
    fabric = Fabric(2)
    a = Host(fabric.ns[0], fabric.addr[0], VIREOD, VMM, VSH)
    b = Host(fabric.ns[1], fabric.addr[1], VIREOD, VMM, VSH)
    hosts = [a, b]
    for h in hosts:
        h.env["VIREO_LOG"] = "info"  # the VMMs' "over N connections" line in their logs
        h.start()
    t.ok(a.proc.poll() is None and b.proc.poll() is None,
         "two vireod run, each in its own network namespace")

    shared = os.path.join(a.tmp, "mp.raw")
    disk = raw_disk(shared)
    xml = domain_xml("mp", GUEST, "tests=state state_mib=8 state_dirty=8 seed=17 "
                     "state_ticks=100000", disk, memory_mib=128)
    r = a.virsh("define", a.write("mp.xml", xml))
    t.ok(r.returncode == 0, "define mp on A", r.stderr)
    r = a.virsh("start", "mp")
    t.ok(r.returncode == 0 and wait_for(lambda: "tick=3 " in a.console_log("mp"), 120),
         "the continuity guest runs on A", r.stderr + a.console_log("mp")[-300:])

    last_tick, ticks_on = tick_watch("mp")

    def monitor(h, cmd):
        r = h.virsh("qemu-monitor-command", "mp", json.dumps({"execute": cmd}))
        return json.loads(r.stdout).get("return") if r.returncode == 0 else None

    def multifd_of(h):
        caps = {c["capability"]: c["state"] for c in monitor(h, "query-migrate-capabilities")}
        return caps.get("multifd"), monitor(h, "query-migrate-parameters").get("multifd-channels")

    # ---- refusals, in libvirt's words ----
    for opts, words in (
            (["--parallel-connections", "3"], "Turn parallel migration on to tune it"),
            (["--parallel", "--parallel-connections", "0"],
             "Parameter 'multifd-channels' expects is invalid, it should be in the range of 1 "
             "to 255"),
            (["--parallel", "--parallel-connections", "256"],
             "Parameter 'multifd-channels' expects is invalid, it should be in the range of 1 "
             "to 255")):
        r = a.virsh("migrate", "--live", *opts, "mp", b.uri, "--listen-address", b.addr,
                    timeout=120)
        y = a.vsh("migrate", "--live", *opts, "mp", b.vsh_uri, "--listen-address", b.addr,
                  timeout=120)
        t.ok(r.returncode == 1 and words in r.stderr and a.state("mp").startswith("running") and
             not listed(b, "mp") and (r.returncode, r.stdout, r.stderr) ==
             (y.returncode, y.stdout, y.stderr),
             "%s: refused alike by virsh and vsh (%s), mp runs on A" % (" ".join(opts), words),
             "virsh: %r\nvsh:   %r" % (r.stderr, y.stderr))

    # ---- A -> B, client-driven, 3 channels ----
    before = last_tick(a)
    r = a.virsh("migrate", "--live", "--parallel", "--parallel-connections", "3", "--verbose",
                "mp", b.uri, "--listen-address", b.addr, timeout=300)
    t.ok(r.returncode == 0 and "Migration: [100 %]" in r.stderr,
         "virsh migrate --live --parallel --parallel-connections 3 A -> B", r.stdout + r.stderr)
    t.ok(a.state("mp") == "shut off (migrated)" and b.state("mp") == "running (migrated)",
         "A: shut off (migrated), B: running (migrated)", a.state("mp") + " / " + b.state("mp"))
    got = multifd_of(b)
    t.ok(got == (True, 3), "B's VMM had multifd and multifd-channels 3 before the stream", got)
    lines = [x for x in full_log(b, "mp").splitlines() if "incoming migration completed" in x]
    t.ok(len(lines) == 1 and "over 4 connections" in lines[0],
         "B's VMM took the stream over 4 connections", full_log(b, "mp")[-1500:])
    t.ok(ticks_on(b, 3), "mp ticks on B", b.console_log("mp")[-300:])
    last_a = last_tick(a)
    first_b = (ticks(b.console_log("mp")) or [0])[0]
    t.ok(last_a >= before and first_b == last_a + 1,
         "ticks consecutive across the hop (A's last %d, B's first %d)" % (last_a, first_b))

    # ---- B -> A, peer-to-peer, libvirt's default channels ----
    before = last_tick(b)
    r = b.virsh("migrate", "--live", "--p2p", "--parallel", "mp", a.uri, "--listen-address",
                a.addr, timeout=300)
    t.ok(r.returncode == 0 and a.state("mp") == "running (migrated)",
         "virsh migrate --live --p2p --parallel B -> A", r.stdout + r.stderr)
    got = multifd_of(a)
    t.ok(got == (True, 2), "A's VMM: multifd with QEMU's default 2 channels", got)
    lines = [x for x in full_log(a, "mp").splitlines() if "incoming migration completed" in x]
    t.ok(lines and "over 3 connections" in lines[-1], "A's VMM took the stream over 3 "
         "connections", full_log(a, "mp")[-1500:])
    t.ok(ticks_on(a, 2), "mp ticks on A again")
    last_b = last_tick(b)
    new_a = [x for x in ticks(a.console_log("mp")) if x > last_a]
    t.ok(last_b >= before and new_a and new_a[0] == last_b + 1,
         "ticks consecutive across the hop back (B's last %d, A's next %s)" % (last_b, new_a[:1]))

    # ---- A -> B without --parallel: one connection again ----
    before = last_tick(a)
    r = a.virsh("migrate", "--live", "mp", b.uri, "--listen-address", b.addr, timeout=300)
    t.ok(r.returncode == 0 and b.state("mp") == "running (migrated)",
         "virsh migrate --live A -> B without --parallel (A's VMM had multifd on)",
         r.stdout + r.stderr)
    lines = [x for x in full_log(b, "mp").splitlines() if "incoming migration completed" in x]
    t.ok(lines and "over 1 connection)" in lines[-1], "B's VMM took it over 1 connection",
         full_log(b, "mp")[-1500:])
    t.ok(ticks_on(b, 2), "mp ticks on B again")
    last_a2 = last_tick(a)
    new_b = [x for x in ticks(b.console_log("mp")) if x > last_b]
    t.ok(last_a2 >= before and new_b and new_b[0] == last_a2 + 1,
         "ticks consecutive across the third hop (A's last %d, B's next %s)" % (last_a2,
                                                                                 new_b[:1]))
    t.ok(wait_for(lambda: not alive(a.vmm_pid("mp") or 0), 60), "A: no vireo-vmm left")

    # ---- B -> A with vsh, 4 channels ----
    before = last_tick(b)
    r = b.vsh("migrate", "--live", "--parallel", "--parallel-connections", "4", "mp",
              a.vsh_uri, "--listen-address", a.addr, timeout=300)
    t.ok(r.returncode == 0 and a.state("mp") == "running (migrated)",
         "vsh migrate --live --parallel --parallel-connections 4 B -> A", r.stdout + r.stderr)
    lines = [x for x in full_log(a, "mp").splitlines() if "incoming migration completed" in x]
    t.ok(lines and "over 5 connections" in lines[-1], "A's VMM took the stream over 5 "
         "connections", full_log(a, "mp")[-1500:])
    t.ok(ticks_on(a, 2), "mp ticks on A again")
    last_b2 = last_tick(b)
    new_a = [x for x in ticks(a.console_log("mp")) if x > last_b2]
    t.ok(last_b2 >= before and new_a and new_a[0] == last_b2 + 1,
         "ticks consecutive across the fourth hop (B's last %d, A's next %s)" % (last_b2,
                                                                                  new_a[:1]))
    final = a
    # a destination of --parallel alone has no NBD server: its Finish stops none (it asked
    # for nbd-server-stop and logged the VMM's "NBD server not running" each hop)
    warned = [h.ns for h in hosts
              if "nbd-server-stop" in open(os.path.join(h.tmp, "vireod.out"),
                                           errors="replace").read()]
    t.ok(not warned, "Finish of a --parallel migration without storage stops no NBD server",
         warned)

    done, log = guest_end(final, "mp")  # a 'q' ends its run
    t.ok(done and "not ok" not in log and "the whole 8 MiB dirtied area holds its last "
         "generations" in log, "the guest's final checks pass after the four hops", log[-800:])
except Exception as e:  # noqa: BLE001
    t.ok(False, "unexpected: %r" % e)
    import traceback
    t.diag(traceback.format_exc())
finally:
    end(t, hosts, names, fabric)
