#!/usr/bin/python3
"""test-daemon-migrate-postcopy.py - post-copy migration between two vireod hosts driven by
the stock virsh (migrate --live --postcopy, then migrate-postcopy, or --timeout N
--timeout-postcopy, or --postcopy-after-precopy, which switches on the second
migration-iteration event), client-driven and --p2p, and by vsh the same ways.

  test-daemon-migrate-postcopy.py VIREOD VIREO_VMM TESTGUEST_ELF VSH

Two vireod in network namespaces (migratelib.py). The continuity guest keeps rewriting a
1 MiB area (tests=state state_dirty=1) faster than the source VMM's max-bandwidth lets the
pre-copy carry it, so the migration converges only by switching to post-copy when the client
asks (virsh migrate-postcopy, virDomainMigrateStartPostCopy). The source VMM's
max-postcopy-bandwidth is set low too, so the post-copy phase lasts while the states are read.
Checked: the source "paused (post-copy)" and the destination "running (post-copy)" during
the phase, domjobinfo's "Postcopy requests" on the source, then source "shut off (migrated)"
and destination "running (migrated)"; the ticks consecutive across each hop and the guest's
own checks of its memory at the end; the lifecycle events with libvirt's details (virsh
event --all --loop). The refusals in libvirt's words: migrate-postcopy with no migration or
a migration without --postcopy, --postcopy without --live or with --suspend, domjobabort
after the switch; vsh's answers the same as virsh's.

The failure after the switch: the destination's VMM killed during the post-copy phase
leaves the source "paused (post-copy failed)", never resumed (its memory is no longer the
guest's), and virsh migrate fails; the source's VMM killed instead leaves the destination
"running (post-copy failed)" (Resumed Post-copy Error), its guest waiting on the lost pages
until destroyed.

Prints TAP. Waits poll with generous limits; nothing asserts a timing.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import alive, domain_xml, state_ticks, wait_for  # noqa: E402
from migratelib import (Fabric, Host, end, event_stream, guest_end, listed,  # noqa: E402
                        raw_disk, start, tick_watch)

VIREOD, VMM, GUEST, VSH, t = start()

BW = 150 << 10  # the VMM's max-bandwidth, B/s: below what the guest dirties (see timeout test)
PC_BW = 64 << 10  # its max-postcopy-bandwidth: the pages left after the switch take a while

fabric = None
hosts = []
events = []
names = ["pc", "pf", "ps"]
try:
    fabric = Fabric(2)
    a = Host(fabric.ns[0], fabric.addr[0], VIREOD, VMM, VSH)
    b = Host(fabric.ns[1], fabric.addr[1], VIREOD, VMM, VSH)
    hosts = [a, b]
    for h in hosts:
        h.start()
    t.ok(a.proc.poll() is None and b.proc.poll() is None,
         "two vireod run, each in its own network namespace")

    ev_a, ev_b = event_stream(a, events), event_stream(b, events)
    shared = os.path.join(a.tmp, "pc.raw")
    xml = domain_xml("pc", GUEST, "tests=state state_mib=1 state_dirty=1 seed=21 "
                     "state_ticks=100000", raw_disk(shared), memory_mib=64)
    r = a.virsh("define", a.write("pc.xml", xml))
    t.ok(r.returncode == 0, "define pc on A", r.stderr)
    r = a.virsh("start", "pc")
    t.ok(r.returncode == 0 and wait_for(lambda: "tick=3 " in a.console_log("pc"), 120),
         "the continuity guest (a 1 MiB area rewritten all the time) runs on A",
         r.stderr + a.console_log("pc")[-300:])
    last_tick, ticks_on = tick_watch("pc")

    def throttle(h, name):
        """Pre-copy slower than the guest dirties, post-copy's background pages slow."""
        r = h.virsh("qemu-monitor-command", name, json.dumps(
            {"execute": "migrate-set-parameters",
             "arguments": {"max-bandwidth": BW, "max-postcopy-bandwidth": PC_BW}}))
        q = h.virsh("qemu-monitor-command", name, '{"execute": "query-migrate-parameters"}')
        flat = q.stdout.replace(" ", "")
        t.ok(r.returncode == 0 and '"max-bandwidth":%d' % BW in flat and
             '"max-postcopy-bandwidth":%d' % PC_BW in flat,
             "%s: the VMM's max-bandwidth %d and max-postcopy-bandwidth %d B/s" %
             (h.ns, BW, PC_BW), r.stderr + q.stdout)

    import libvirt  # the stock libvirt-python (/usr/bin/python3)
    import threading
    libvirt.virEventRegisterDefaultImpl()

    def event_loop():
        while True:
            libvirt.virEventRunDefaultImpl()
    threading.Thread(target=event_loop, daemon=True).start()

    class SwitchHold:
        """Stops (SIGSTOP) the source's VMM as soon as the destination daemon says
        resumed/post-copy (the source's VMM reports postcopy-active before it sends the device
        state, so stopping it at the source's suspended/post-copy would stop the switch itself;
        a p2p source daemon also sends its events late, waiting in the destination's Finish):
        the destination's guest then waits on its next missing page, so the post-copy phase
        lasts until release() (SIGCONT) whatever the guest touches, and its states are read
        without a race."""

        def __init__(self, h, name, dst=None):
            self.pid = h.vmm_pid(name)
            self.stopped = threading.Event()
            self.want = (libvirt.VIR_DOMAIN_EVENT_SUSPENDED,
                         libvirt.VIR_DOMAIN_EVENT_SUSPENDED_POSTCOPY)
            if dst:
                self.want = (libvirt.VIR_DOMAIN_EVENT_RESUMED,
                             libvirt.VIR_DOMAIN_EVENT_RESUMED_POSTCOPY)
                h = dst
            self.conn = libvirt.open(h.uri)
            self.cb = self.conn.domainEventRegisterAny(
                None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self.event, name)

        def event(self, conn, dom, event, detail, name):
            if (dom.name() == name and (event, detail) == self.want and self.pid and
                    not self.stopped.is_set()):
                os.kill(self.pid, signal.SIGSTOP)
                self.stopped.set()

        def release(self):
            if self.stopped.is_set():
                try:
                    os.kill(self.pid, signal.SIGCONT)
                except ProcessLookupError:  # killed meanwhile (the failure cases)
                    pass
            try:
                self.conn.domainEventDeregisterAny(self.cb)
                self.conn.close()
            except libvirt.libvirtError:
                pass

    def job_running(h, name):
        return re.search(r"Job type:\s+Unbounded", h.virsh("domjobinfo", name).stdout)

    # ---- refusals, in libvirt's words; the guest runs on at A ----
    r = a.virsh("migrate-postcopy", "pc")
    y = a.vsh("migrate-postcopy", "pc")
    t.ok(r.returncode == 1 and "post-copy can only be started while outgoing migration is in "
         "progress" in r.stderr and (y.returncode, y.stderr) == (r.returncode, r.stderr),
         "migrate-postcopy without a migration is refused, by virsh and vsh alike",
         r.stderr + y.stderr)
    y = a.vsh("migrate", "pc", b.vsh_uri, "--live", "--postcopy-after-precopy")
    t.ok(y.returncode == 1 and "Option --postcopy is required by option "
         "--postcopy-after-precopy" in y.stderr, "vsh: --postcopy-after-precopy needs --postcopy",
         y.stderr)
    for opts in (["--postcopy"], ["--live", "--suspend", "--postcopy"]):
        r = a.virsh("migrate", "pc", b.uri, "--listen-address", b.addr, *opts, timeout=120)
        y = a.vsh("migrate", "pc", b.vsh_uri, "--listen-address", b.addr, *opts, timeout=120)
        t.ok(r.returncode == 1 and "post-copy migration is not supported with non-live or "
             "paused migration" in r.stderr and (y.returncode, y.stderr) ==
             (r.returncode, r.stderr) and a.state("pc") == "running (booted)" and
             not listed(b, "pc"), "refused by virsh and vsh alike: " + " ".join(opts),
             r.stderr + y.stderr)
    throttle(a, "pc")
    mig = a.virsh_popen("migrate", "--live", "pc", b.uri, "--listen-address", b.addr)
    wait_for(lambda: job_running(a, "pc"), 120)
    r = a.virsh("migrate-postcopy", "pc")
    y = a.vsh("migrate-postcopy", "pc")
    t.ok(r.returncode == 1 and "switching to post-copy requires migration to be started with "
         "VIR_MIGRATE_POSTCOPY flag" in r.stderr and (y.returncode, y.stderr) ==
         (r.returncode, r.stderr),
         "migrate-postcopy during a migration without --postcopy is refused", r.stderr)
    a.virsh("domjobabort", "pc")
    out = mig.communicate(timeout=300)[0]
    t.ok(mig.returncode == 1 and a.state("pc") == "running (migration canceled)" and
         wait_for(lambda: not listed(b, "pc"), 60),
         "that migration aborted, pc runs on at A", out + a.state("pc"))

    def hop(src, dst, label, p2p=False, client="virsh", switch="command"):
        """src -> dst with CLIENT migrate --live --postcopy, switched by migrate-postcopy
        (switch "command"), --timeout 5 --timeout-postcopy ("timeout") or
        --postcopy-after-precopy ("after")."""
        throttle(src, "pc")
        before = last_tick(src)
        vsh = client != "virsh"
        cmd = [client, "-q", "-c", src.vsh_uri if vsh else src.uri, "migrate", "--live",
               "--postcopy", "pc", dst.vsh_uri if vsh else dst.uri, "--listen-address",
               dst.addr]
        if p2p:
            cmd.append("--p2p")
        if switch == "timeout":
            cmd += ["--timeout", "5", "--timeout-postcopy"]
        elif switch == "after":
            cmd += ["--postcopy-after-precopy"]
        hold = SwitchHold(src, "pc", dst)
        mig = subprocess.Popen(cmd, env=src.env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
        running = wait_for(lambda: job_running(src, "pc") or mig.poll() is not None, 120)
        if switch == "command":
            r = src.vsh("migrate-postcopy", "pc") if vsh else src.virsh("migrate-postcopy", "pc")
            t.ok(running and r.returncode == 0,
                 label + ": %s migrate-postcopy during the job" % ("vsh" if vsh else "virsh"),
                 r.stderr)
        seen_src, seen_dst, jobinfo = set(), set(), []
        # The switch holds the phase (SwitchHold); a p2p source daemon waits in the
        # destination's Finish meanwhile, so only the destination is asked then.
        wait_for(lambda: hold.stopped.is_set() or mig.poll() is not None, 900, 0.1)
        if hold.stopped.is_set() and not p2p:
            seen_src.add(src.state("pc"))
            jobinfo.append(src.virsh("domjobinfo", "pc").stdout)
            jobinfo.append(src.virsh("domjobabort", "pc").stderr)
        if hold.stopped.is_set():
            wait_for(lambda: dst.state("pc") == "running (post-copy)", 120)
            seen_dst.add(dst.state("pc"))
        hold.release()
        wait_for(lambda: mig.poll() is not None, 900)
        out = mig.communicate(timeout=60)[0] if mig.poll() is not None else ""
        if mig.poll() is None:
            mig.kill()
            out = mig.communicate()[0]
        t.ok(mig.returncode == 0, label + ": " + " ".join(
            [os.path.basename(client)] + [x for x in cmd[4:] if "://" not in x]), out)
        t.ok("running (post-copy)" in seen_dst,
             label + ": the destination ran the guest in post-copy", repr(seen_dst))
        if not p2p:
            t.ok("paused (post-copy)" in seen_src,
                 label + ": the source was paused (post-copy) meanwhile", repr(seen_src))
            t.ok(jobinfo and re.search(r"Postcopy requests:\s+\d+", jobinfo[0]),
                 label + ": domjobinfo on the source shows the post-copy requests",
                 repr(jobinfo))
            t.ok(len(jobinfo) > 1 and "cannot abort migration in post-copy mode" in jobinfo[1],
                 label + ": domjobabort after the switch is refused", repr(jobinfo))
        t.ok(src.state("pc") == "shut off (migrated)" or not listed(src, "pc"),
             label + ": the source is shut off (migrated)", src.state("pc"))
        t.ok(dst.state("pc") == "running (migrated)",
             label + ": the destination runs it (migrated)", dst.state("pc"))
        t.ok(not alive(src.vmm_pid("pc") or 0), label + ": no vireo-vmm left on the source")
        last = last_tick(src)
        t.ok(ticks_on(dst, 3) and [x for x in state_ticks(dst.console_log("pc")) if x > before]
             [:1] == [last + 1],
             label + ": ticks consecutive across the hop (source's last %d)" % last,
             dst.console_log("pc")[-300:])

    hop(a, b, "virsh A -> B")
    hop(b, a, "virsh --p2p B -> A", p2p=True)
    hop(a, b, "vsh A -> B", client=VSH)
    hop(b, a, "vsh --p2p --timeout-postcopy B -> A", p2p=True, client=VSH, switch="timeout")
    hop(a, b, "vsh --postcopy-after-precopy A -> B", client=VSH, switch="after")
    hop(b, a, "virsh --timeout-postcopy B -> A", switch="timeout")
    hop(a, b, "virsh --postcopy-after-precopy A -> B", switch="after")
    hop(b, a, "vsh --timeout-postcopy B -> A", client=VSH, switch="timeout")

    # ---- the guest's own end: its checks of its memory pass on A ----
    # the guest's own end: a 'q' on its console ends its run
    done, log = guest_end(a, "pc")  # a 'q' ends its run
    t.ok(done and "not ok" not in log, "the guest's final checks pass after the hops",
         log[-800:])

    # ---- a destination VMM killed after the switch: the source stays paused (failed) ----
    xml = domain_xml("pf", GUEST, "tests=state state_mib=1 state_dirty=1 seed=22 "
                     "state_ticks=100000", raw_disk(os.path.join(a.tmp, "pf.raw")),
                     memory_mib=64)
    r = a.virsh("define", a.write("pf.xml", xml))
    r2 = a.virsh("start", "pf")
    t.ok(r.returncode == 0 and r2.returncode == 0 and
         wait_for(lambda: "tick=3 " in a.console_log("pf"), 120), "pf runs on A", r2.stderr)
    throttle(a, "pf")
    hold = SwitchHold(a, "pf", b)
    mig = a.virsh_popen("migrate", "--live", "--postcopy", "pf", b.uri, "--listen-address",
                        b.addr)
    wait_for(lambda: job_running(a, "pf") or mig.poll() is not None, 120)
    r = a.virsh("migrate-postcopy", "pf")
    switched = wait_for(lambda: hold.stopped.is_set() or mig.poll() is not None, 600) and \
        a.state("pf") == "paused (post-copy)"
    pid = b.vmm_pid("pf")
    t.ok(r.returncode == 0 and switched and pid,
         "pf switched to post-copy (paused (post-copy) on A), B's VMM is %r" % pid,
         r.stderr + a.state("pf"))
    if pid:
        os.kill(pid, signal.SIGKILL)
    hold.release()
    out = mig.communicate(timeout=300)[0]
    failed = wait_for(lambda: a.state("pf") == "paused (post-copy failed)", 120)
    t.ok(mig.returncode == 1 and failed,
         "virsh migrate fails; the source is paused (post-copy failed)",
         out + a.state("pf"))
    ticks_then = state_ticks(a.console_log("pf"))
    res = a.virsh("resume", "pf")
    time.sleep(3)
    t.ok(res.returncode == 1 and a.state("pf") == "paused (post-copy failed)" and
         alive(a.vmm_pid("pf") or 0) and state_ticks(a.console_log("pf")) == ticks_then,
         "the source is never resumed (resume refused, no tick on A)",
         res.stderr + a.state("pf"))
    r = a.virsh("destroy", "pf")
    t.ok(r.returncode == 0 and a.state("pf") == "shut off (destroyed)",
         "the failed source can be destroyed", r.stderr + a.state("pf"))

    # ---- the source VMM killed after the switch: the destination runs (post-copy failed) ----
    xml = domain_xml("ps", GUEST, "tests=state state_mib=1 state_dirty=1 seed=23 "
                     "state_ticks=100000", raw_disk(os.path.join(a.tmp, "ps.raw")),
                     memory_mib=64)
    r = a.virsh("create", a.write("ps.xml", xml))
    t.ok(r.returncode == 0 and wait_for(lambda: "tick=3 " in a.console_log("ps"), 120),
         "ps runs on A", r.stderr)
    throttle(a, "ps")
    hold = SwitchHold(a, "ps", b)
    mig = a.virsh_popen("migrate", "--live", "--postcopy", "ps", b.uri, "--listen-address",
                        b.addr)
    wait_for(lambda: job_running(a, "ps") or mig.poll() is not None, 120)
    r = a.virsh("migrate-postcopy", "ps")
    switched = wait_for(lambda: hold.stopped.is_set() or mig.poll() is not None, 600) and \
        wait_for(lambda: b.state("ps") == "running (post-copy)", 120)
    pid = hold.pid
    t.ok(r.returncode == 0 and switched and pid, "ps switched to post-copy, A's VMM is %r" % pid,
         r.stderr + b.state("ps"))
    if pid:
        os.kill(pid, signal.SIGKILL)
    hold.release()
    out = mig.communicate(timeout=300)[0]
    failed = wait_for(lambda: b.state("ps") == "running (post-copy failed)", 120)
    t.ok(mig.returncode == 1 and failed,
         "virsh migrate fails; the destination is running (post-copy failed)",
         out + b.state("ps"))
    r = b.virsh("destroy", "ps")
    t.ok(r.returncode == 0 and not listed(b, "ps"),
         "the destination's guest (waiting on its lost pages) can be destroyed", r.stderr)

    # ---- events, with libvirt's details ----
    time.sleep(0.5)
    for p in events:
        p.terminate()
    out_a = ev_a.communicate(timeout=10)[0]
    out_b = ev_b.communicate(timeout=10)[0]
    for line, where, out in [("'pc': Suspended Post-copy", "A", out_a),
                             ("'pc': Stopped Migrated", "A", out_a),
                             ("'pc': Started Migrated", "B", out_b),
                             ("'pc': Resumed Post-copy", "B", out_b),
                             ("'pc': Resumed Migrated", "B", out_b),
                             ("'pc': Suspended Post-copy", "B", out_b),
                             ("'pc': Resumed Post-copy", "A", out_a),
                             ("'pf': Suspended Post-copy", "A", out_a),
                             ("'pf': Suspended Post-copy Error", "A", out_a),
                             ("'ps': Resumed Post-copy", "B", out_b),
                             ("'ps': Resumed Post-copy Error", "B", out_b)]:
        t.ok(line + "\n" in out, "event on %s: %s" % (where, line), out[-1500:])
    t.ok("'pf': Resumed" not in out_a, "no resumed event for the failed source", out_a[-1500:])
except Exception as e:  # noqa: BLE001
    t.ok(False, "unexpected: %r" % e)
    import traceback
    t.diag(traceback.format_exc())
finally:
    for p in events:
        if p.poll() is None:
            p.kill()
    end(t, hosts, names, fabric)
