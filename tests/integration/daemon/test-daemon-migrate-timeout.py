#!/usr/bin/python3
"""test-daemon-migrate-timeout.py - virsh migrate --timeout/--timeout-suspend and --verbose's
running progress between two vireod hosts, with the stock virsh and with vsh.

  test-daemon-migrate-timeout.py VIREOD VIREO_VMM TESTGUEST_ELF VSH

Two vireod in network namespaces (migratelib.py). The continuity guest keeps rewriting a
1 MiB area (tests=state state_dirty=1) faster than the migration's link carries it (the
VMM's max-bandwidth, see throttle()), so the migration cannot converge while the guest
runs: it ends only because the client suspends the guest once --timeout has passed (virsh
calls virDomainSuspend on the source while the migrate call is in flight; vireod runs it
beside the migration's job, as libvirtd does). Checked: the source is "paused (migrating)"
while the job still runs, then "shut off (migrated)"; the destination runs the guest
("running (migrated)", as libvirt resumes it unless --suspend); the ticks are consecutive
across each hop; --verbose printed a running "Migration: [ NN %]" line before the 100 % one;
the events (suspended/migrated on the source); the guest's final checks pass.

Without --timeout the same migration runs on (the guest running) until domjobabort ends it,
and the guest runs on at the source; a migration the timeout suspended (its stream held up by a
destination that does not read yet) refuses a resume meanwhile,
and domjobabort then leaves the source running again (libvirt's "migration canceled").

Refusals, the same from virsh and vsh: libvirt's words for --postcopy without --live or with
--suspend (post-copy itself: test-daemon-migrate-postcopy.py), --tls without the credentials'
files, and
virsh's own checks of the --timeout options.

Prints TAP. Waits poll with generous limits; nothing asserts a timing.
"""
import os
import json
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import alive, domain_xml, state_ticks, wait_for  # noqa: E402
from migratelib import (Fabric, Host, end, event_stream, guest_end, listed,  # noqa: E402
                        raw_disk, start, tick_watch)

VIREOD, VMM, GUEST, VSH, t = start()


BW = 150 << 10  # the VMM's max-bandwidth, B/s: see throttle()
TIMEOUT = 20  # s: beyond the first pass (about 2.5 MiB of RAM that is not zero)

ticks = state_ticks


WRAPPER = """#!/bin/sh
dir=$(dirname "$0")
case " $* " in *" -incoming "*) ;; *) exec "%s" "$@" ;; esac
while [ -e "$dir/hold" ]; do sleep 0.05; done
exec "%s" "$@"
""" % (VMM, VMM)

fabric = None
hosts = []
hold = ""
events = []
names = ["mt"]
try:
    fabric = Fabric(2)
    a = Host(fabric.ns[0], fabric.addr[0], VIREOD, VMM, VSH)
    b = Host(fabric.ns[1], fabric.addr[1], VIREOD, VMM, VSH)
    hosts = [a, b]
    # B's vireo-vmm through a wrapper: with the file "hold" present, an incoming VMM waits
    # before it starts, so the source's stream waits in the socket (the migration cannot end).
    wrapper = os.path.join(b.tmp, "vmm-wrapper")
    open(wrapper, "w").write(WRAPPER)
    os.chmod(wrapper, 0o755)
    b.env["VIREO_VMM"] = wrapper
    hold = os.path.join(b.tmp, "hold")
    for h in hosts:
        h.start()
    t.ok(a.proc.poll() is None and b.proc.poll() is None,
         "two vireod run, each in its own network namespace")

    ev_a, ev_b = event_stream(a, events), event_stream(b, events)
    shared = os.path.join(a.tmp, "mt.raw")
    disk = raw_disk(shared)
    xml = domain_xml("mt", GUEST, "tests=state state_mib=1 state_dirty=1 seed=13 "
                     "state_ticks=100000", disk, memory_mib=64)
    r = a.virsh("define", a.write("mt.xml", xml))
    t.ok(r.returncode == 0, "define mt on A", r.stderr)
    r = a.virsh("start", "mt")
    t.ok(r.returncode == 0 and wait_for(lambda: "tick=3 " in a.console_log("mt"), 120),
         "the continuity guest (a 1 MiB area rewritten all the time) runs on A",
         r.stderr + a.console_log("mt")[-300:])

    last_tick, ticks_on = tick_watch("mt")

    # ---- refusals: the same words from virsh and vsh, the source runs on ----
    for opts, words in [
            (["--postcopy"],
             "argument unsupported: post-copy migration is not supported with non-live or "
             "paused migration"),
            (["--live", "--suspend", "--postcopy", "--timeout", "3", "--timeout-postcopy"],
             "argument unsupported: post-copy migration is not supported with non-live or "
             "paused migration"),
            (["--live", "--tls"], "Unable to access credentials"),
            (["--timeout", "5"], "migrate: Unexpected timeout for offline migration"),
            (["--live", "--timeout-suspend"],
             "migrate: Unexpected --timeout-* option without --timeout"),
            (["--live", "--timeout", "0", "--timeout-suspend"],
             "migrate: Unexpected --timeout-* option without --timeout"),
            (["--live", "--timeout", "-1"], "for <timeout> option is malformed or out of range"),
            (["--live", "--timeout", "5", "--timeout-postcopy"],
             "Option --postcopy is required by option --timeout-postcopy"),
            (["--live", "--timeout", "5", "--timeout-suspend", "--timeout-postcopy"],
             "Options --timeout-suspend and --timeout-postcopy are mutually exclusive")]:
        x = a.virsh("migrate", "mt", b.uri, "--listen-address", b.addr, *opts, timeout=120)
        y = a.vsh("migrate", "mt", b.vsh_uri, "--listen-address", b.addr, *opts, timeout=120)
        t.ok(x.returncode == 1 and words in x.stderr and
             (x.returncode, x.stdout, x.stderr) == (y.returncode, y.stdout, y.stderr) and
             a.state("mt") == "running (booted)" and not listed(b, "mt"),
             "refused alike by virsh and vsh, mt runs on A: " + " ".join(opts),
             "virsh: %r\nvsh:   %r\nA: %s" % (x.stderr, y.stderr, a.state("mt")))

    def hop(src, dst, client, dst_uri, label, transient=False, p2p=False):
        """src -> dst with --timeout 4 and --verbose; True when every check passed."""
        throttle(src)
        before = last_tick(src)
        cmd = [client, "-q", "-c", src.uri if client == "virsh" else src.vsh_uri, "migrate",
               "--live", "--verbose", "--timeout", str(TIMEOUT), "mt", dst_uri,
               "--listen-address", dst.addr]
        if client == "virsh":
            cmd.insert(5, "--timeout-suspend")
        if p2p:
            cmd.insert(5, "--p2p")
        mig = subprocess.Popen(cmd, env=src.env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
        seen = set()

        def watch():
            seen.add(src.state("mt"))
            return mig.poll() is not None
        wait_for(watch, 600, 0.2)
        out = mig.communicate(timeout=60)[0] if mig.poll() is not None else ""
        if mig.poll() is None:
            mig.kill()
            out = mig.communicate()[0]
        t.ok(mig.returncode == 0, label + ": migrate --live --verbose --timeout %d" % TIMEOUT, out)
        t.ok("paused (migrating)" in seen,
             label + ": the source was paused (migrating) by the timeout during the job",
             repr(seen))
        progress = [int(x) for x in re.findall(r"Migration: \[\s*(\d+) %\]", out)]
        t.ok(progress and progress[-1] == 100 and any(p < 100 for p in progress),
             label + ": --verbose printed the running progress, then 100 %", repr(out[-400:]))
        if transient:
            t.ok(not listed(src, "mt") and dst.state("mt") == "running (migrated)",
                 label + ": the transient source domain is gone, destination running (migrated)",
                 src.state("mt") + " / " + dst.state("mt"))
        else:
            t.ok(src.state("mt") == "shut off (migrated)" and
                 dst.state("mt") == "running (migrated)",
                 label + ": source shut off (migrated), destination running (migrated)",
                 src.state("mt") + " / " + dst.state("mt"))
        t.ok(not alive(src.vmm_pid("mt") or 0), label + ": no vireo-vmm left on the source")
        last = last_tick(src)
        t.ok(ticks_on(dst, 3) and [x for x in ticks(dst.console_log("mt")) if x > before]
             [:1] == [last + 1],
             label + ": ticks consecutive across the hop (source's last %d)" % last,
             dst.console_log("mt")[-300:])
        r = (dst if transient else src).virsh("domjobinfo", "mt", "--completed")
        t.ok(r.returncode == 0 and re.search(r"Job type:\s+Completed", r.stdout) and
             re.search(r"Operation:\s+%s migration" % ("Incoming" if transient else "Outgoing"),
                       r.stdout),
             label + ": domjobinfo --completed", r.stdout + r.stderr)

    def throttle(h):
        """The link slower than the guest dirties memory. This nested KVM runs the guest's
        code in its instruction emulator, where it dirties about 300 KiB/s: below libvirt's
        smallest --bandwidth (1 MiB/s). So the VMM's max-bandwidth is set through
        qemu-monitor-command, below that rate (vireod leaves it alone when no --bandwidth or
        migrate-setspeed is given)."""
        r = h.virsh("qemu-monitor-command", "mt", json.dumps(
            {"execute": "migrate-set-parameters", "arguments": {"max-bandwidth": BW}}))
        q = h.virsh("qemu-monitor-command", "mt", '{"execute": "query-migrate-parameters"}')
        t.ok(r.returncode == 0 and '"max-bandwidth":%d' % BW in q.stdout.replace(" ", ""),
             "%s: the VMM's max-bandwidth is %d B/s" % (h.ns, BW), r.stderr + q.stdout)

    # ---- without --timeout it does not converge: still running after a while, then aborted ----
    throttle(a)
    mig = a.virsh_popen("migrate", "--live", "mt", b.uri, "--listen-address", b.addr)
    active = wait_for(lambda: re.search(r"Job type:\s+Unbounded",
                                        a.virsh("domjobinfo", "mt").stdout), 120)
    time.sleep(TIMEOUT + 5)  # beyond the first pass: the guest dirties faster than it goes
    r = a.virsh("domjobinfo", "mt")
    running = mig.poll() is None and re.search(r"Job type:\s+Unbounded", r.stdout)
    t.ok(active and running and a.state("mt") == "running (booted)",
         "without --timeout the migration runs on, the guest running (it cannot converge)",
         r.stdout + a.state("mt"))
    r = a.virsh("domjobabort", "mt")
    out = mig.communicate(timeout=300)[0]
    t.ok(mig.returncode == 1 and "canceled by client" in out and
         a.state("mt") == "running (migration canceled)" and ticks_on(a, 2) and
         wait_for(lambda: not listed(b, "mt"), 60),
         "domjobabort ends it; mt runs on at A, nothing on B", out + a.state("mt"))

    # ---- a migration the timeout suspended, then aborted: the source runs again ----
    open(hold, "w").close()  # the stream waits: the migration cannot end meanwhile
    mig = a.virsh_popen("migrate", "--live", "--timeout", "2", "mt", b.uri, "--listen-address",
                        b.addr)
    paused = wait_for(lambda: a.state("mt") == "paused (migrating)" or mig.poll() is not None,
                      120, 0.2) and mig.poll() is None
    res = a.virsh("resume", "mt")
    t.ok(paused and res.returncode == 1 and "domain 'mt' is being migrated" in res.stderr and
         a.state("mt") == "paused (migrating)",
         "resume during the migration is refused (the guest must not run twice)", res.stderr)
    r = a.virsh("domjobabort", "mt")
    os.unlink(hold)
    out = mig.communicate(timeout=300)[0]
    t.ok(paused and r.returncode == 0 and mig.returncode == 1 and "canceled by client" in out,
         "--timeout 2: paused (migrating) while the stream waits, then domjobabort ends it",
         out + r.stderr)
    t.ok(a.state("mt") == "running (migration canceled)" and ticks_on(a, 2) and
         wait_for(lambda: not listed(b, "mt"), 60),
         "the guest the timeout paused runs again at A (migration canceled), nothing on B",
         a.state("mt"))

    # ---- A -> B with the stock virsh, B -> A with vsh --p2p (the source daemon drives it) ----
    hop(a, b, "virsh", b.uri, "virsh A -> B")
    hop(b, a, VSH, a.vsh_uri, "vsh --p2p B -> A (mt is transient on B)", transient=True,
        p2p=True)

    # ---- the guest's own end: its checks pass on A ----
    done, log = guest_end(a, "mt")  # a 'q' ends its run
    t.ok(done and "not ok" not in log, "the guest's final checks pass after both hops",
         log[-800:])

    # ---- events, with libvirt's details ----
    time.sleep(0.5)
    for p in events:
        p.terminate()
    out_a = ev_a.communicate(timeout=10)[0]
    out_b = ev_b.communicate(timeout=10)[0]
    for line, where, out in [("'mt': Suspended Migrated", "A", out_a),
                             ("'mt': Stopped Migrated", "A", out_a),
                             ("'mt': Resumed Migrated", "B", out_b),
                             ("'mt': Suspended Migrated", "B", out_b),
                             ("'mt': Resumed Migrated", "A", out_a)]:
        t.ok(line in out, "event on %s: %s" % (where, line), out[-1500:])
    t.ok(out_a.count("'mt': Suspended Migrated") == 2,
         "A: one suspended/migrated event per timeout's pause (the aborted one, the hop's), "
         "none more when the stream ends",
         out_a[-1500:])
except Exception as e:  # noqa: BLE001
    t.ok(False, "unexpected: %r" % e)
    import traceback
    t.diag(traceback.format_exc())
finally:
    if hosts and os.path.exists(hold):  # a held incoming VMM would wait for ever
        os.unlink(hold)
    for p in events:
        if p.poll() is None:
            p.kill()
    end(t, hosts, names, fabric)
