#!/usr/bin/python3
"""test-daemon-migrate-postcopy-resume.py - a post-copy migration between two vireod hosts whose
stream breaks after the switch, recovered by the stock virsh (migrate --live --postcopy
--postcopy-resume, client-driven), and by vsh the same way on the way back.

  test-daemon-migrate-postcopy-resume.py VIREOD VIREO_VMM TESTGUEST_ELF VSH

Two vireod in network namespaces (migratelib.py). The continuity guest rewrites a 1 MiB area
faster than the source VMM's max-bandwidth lets the pre-copy carry it; virsh migrate-postcopy
switches, and the source VMM's max-postcopy-bandwidth is low, so the post-copy phase lasts.
Then the stream is cut on purpose without killing a VMM: migrate-pause on the source VMM
(virsh qemu-monitor-command). Checked: virsh migrate fails, the source is "paused (post-copy
failed)" and the destination "running (post-copy failed)", both VMMs still there; then
migrate --postcopy --postcopy-resume to the same destination succeeds: the source "shut off
(migrated)", the destination "running (migrated)" with the same VMM as before (no new VMM),
the ticks consecutive across the hop, the lifecycle events as libvirt's (Suspended Post-copy
Error then Suspended Post-copy on the source; Resumed Post-copy Error, Resumed Post-copy,
Resumed Migrated on the destination), and the guest's own checks of its memory at the end.

The refusals in libvirt's words, virsh's and vsh's answers alike: --postcopy-resume on a
domain not being migrated, during a post-copy that has not failed, without --postcopy, with
--offline.

Prints TAP. Waits poll with generous limits; nothing asserts a timing.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import alive, domain_xml, state_ticks, wait_for  # noqa: E402
from migratelib import (Fabric, Host, end, event_stream, guest_end, listed,  # noqa: E402
                        raw_disk, start, tick_watch)

VIREOD, VMM, GUEST, VSH, t = start()

BW = 150 << 10  # the VMM's max-bandwidth, B/s: below what the guest dirties
PC_BW = 16 << 10  # its max-postcopy-bandwidth: the pages left after the switch take minutes

fabric = None
hosts = []
events = []
names = ["pr"]
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
    xml = domain_xml("pr", GUEST, "tests=state state_mib=1 state_dirty=1 seed=31 "
                     "state_ticks=100000", raw_disk(os.path.join(a.tmp, "pr.raw")),
                     memory_mib=64)
    r = a.virsh("define", a.write("pr.xml", xml))
    r2 = a.virsh("start", "pr")
    t.ok(r.returncode == 0 and r2.returncode == 0 and
         wait_for(lambda: "tick=3 " in a.console_log("pr"), 120),
         "the continuity guest (a 1 MiB area rewritten all the time) runs on A",
         r.stderr + r2.stderr + a.console_log("pr")[-300:])
    last_tick, ticks_on = tick_watch("pr")

    def both(src, dst, *opts):
        """virsh and vsh migrate pr src -> dst with opts: their answers."""
        r = src.virsh("migrate", "pr", dst.uri, "--listen-address", dst.addr, *opts,
                      timeout=120)
        y = src.vsh("migrate", "pr", dst.vsh_uri, "--listen-address", dst.addr, *opts,
                    timeout=120)
        return r, y

    def refused(src, dst, opts, words, label, state):
        r, y = both(src, dst, *opts)
        t.ok(r.returncode == 1 and words in r.stderr and
             (y.returncode, y.stderr) == (r.returncode, r.stderr) and src.state("pr") == state,
             "refused by virsh and vsh alike (%s): %s" % (label, " ".join(opts)),
             r.stderr + y.stderr + src.state("pr"))

    # ---- refusals on a domain that is not being migrated ----
    refused(a, b, ["--live", "--postcopy", "--postcopy-resume"],
            "Requested operation is not valid: domain 'pr' is not being migrated",
            "not being migrated", "running (booted)")
    refused(a, b, ["--live", "--postcopy-resume"],
            "error: Option --postcopy is required by option --postcopy-resume",
            "without --postcopy, the client's check", "running (booted)")
    import libvirt  # the stock libvirt-python (/usr/bin/python3): past virsh's own check
    libvirt.registerErrorHandler(lambda ctx, e: None, None)
    conn_a, conn_b = libvirt.open(a.uri), libvirt.open(b.uri)
    try:
        conn_a.lookupByName("pr").migrate3(
            conn_b, {libvirt.VIR_MIGRATE_PARAM_LISTEN_ADDRESS: b.addr},
            libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_POSTCOPY_RESUME)
        err = None
    except libvirt.libvirtError as e:
        err = (e.get_error_code(), e.get_error_message())
    t.ok(err == (libvirt.VIR_ERR_ARGUMENT_UNSUPPORTED, "argument unsupported: resuming failed "
                 "post-copy migration requires post-copy to be enabled"),
         "virDomainMigrate3 with POSTCOPY_RESUME without POSTCOPY: refused by the daemon",
         repr(err))
    conn_a.close()
    conn_b.close()
    refused(a, b, ["--offline", "--persistent", "--postcopy", "--postcopy-resume"],
            "Requested operation is not valid: domain 'pr' is not being migrated",
            "--offline", "running (booted)")
    t.ok(not listed(b, "pr"), "nothing of pr on B after the refusals")

    def throttle(h):
        r = h.virsh("qemu-monitor-command", "pr", json.dumps(
            {"execute": "migrate-set-parameters",
             "arguments": {"max-bandwidth": BW, "max-postcopy-bandwidth": PC_BW}}))
        t.ok(r.returncode == 0, "%s: the VMM's max-bandwidth %d, max-postcopy-bandwidth %d B/s"
             % (h.ns, BW, PC_BW), r.stderr)

    def hop(src, dst, client, label, p2p=False):
        """src -> dst: post-copy, cut by migrate-pause, recovered by CLIENT (--p2p: the
        source daemon waits in the destination's Finish after the switch, so only the
        destination is asked then, and the cut is migrate-pause on the destination's VMM)."""
        throttle(src)
        before = last_tick(src)
        vsh = client != "virsh"

        def cmd(*opts):
            return [client, "-q", "-c", src.vsh_uri if vsh else src.uri, "migrate", "--live",
                    "--postcopy", "pr", dst.vsh_uri if vsh else dst.uri, "--listen-address",
                    dst.addr, *(["--p2p"] if p2p else []), *opts]

        import subprocess
        mig = subprocess.Popen(cmd(), env=src.env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
        wait_for(lambda: "Unbounded" in src.virsh("domjobinfo", "pr").stdout or
                 mig.poll() is not None, 120)
        r = src.virsh("migrate-postcopy", "pr")
        switched = wait_for(lambda: dst.state("pr") == "running (post-copy)" or
                            mig.poll() is not None, 600, 0.1)
        t.ok(r.returncode == 0 and switched and
             (p2p or src.state("pr") == "paused (post-copy)"),
             label + ": switched to post-copy (source paused (post-copy), destination running "
             "(post-copy))", r.stderr + dst.state("pr"))
        if not p2p:  # a post-copy that has not failed cannot be resumed
            y = subprocess.run(cmd("--postcopy-resume"), env=src.env, capture_output=True,
                               text=True, timeout=120)
            t.ok(y.returncode == 1 and "Requested operation is not valid: post-copy migration "
                 "of domain pr has not failed" in y.stderr,
                 label + ": --postcopy-resume while the post-copy runs is refused", y.stderr)
        src_vmm, dst_vmm = src.vmm_pid("pr"), dst.vmm_pid("pr")
        cut = dst if p2p else src
        r = cut.virsh("qemu-monitor-command", "pr", '{"execute": "migrate-pause"}')
        t.ok(r.returncode == 0 and '"return"' in r.stdout,
             label + ": migrate-pause on the %s VMM cuts the stream" %
             ("destination's" if p2p else "source's"), r.stdout + r.stderr)
        out = mig.communicate(timeout=600)[0]
        failed = wait_for(lambda: src.state("pr") == "paused (post-copy failed)" and
                          dst.state("pr") == "running (post-copy failed)", 120)
        t.ok(mig.returncode == 1 and failed,
             label + ": migrate fails; source paused (post-copy failed), destination running "
             "(post-copy failed)", out + src.state("pr") + dst.state("pr"))
        t.ok(alive(src_vmm or 0) and alive(dst_vmm or 0) and
             src.vmm_pid("pr") == src_vmm and dst.vmm_pid("pr") == dst_vmm,
             label + ": both VMMs outlived the cut (%r, %r)" % (src_vmm, dst_vmm))
        ticks_then = state_ticks(src.console_log("pr"))
        if not vsh and not p2p:  # refused by the destination's Prepare, nothing changed
            r = subprocess.run(cmd("--postcopy-resume", "--suspend"), env=src.env,
                               capture_output=True, text=True, timeout=120)
            t.ok(r.returncode == 1 and "argument unsupported: post-copy migration is not "
                 "supported with non-live or paused migration" in r.stderr and
                 src.state("pr") == "paused (post-copy failed)" and
                 dst.state("pr") == "running (post-copy failed)",
                 label + ": --postcopy-resume with --suspend is refused", r.stderr)
        # the recovery: the same command with --postcopy-resume, the pages left faster
        res = subprocess.run(cmd("--postcopy-resume", "--postcopy-bandwidth", "1000"),
                             env=src.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, timeout=900)
        t.ok(res.returncode == 0, label + ": %s migrate --live --postcopy --postcopy-resume"
             % os.path.basename(client), res.stdout)
        t.ok(src.state("pr") == "shut off (migrated)" or not listed(src, "pr"),
             label + ": the source is shut off (migrated)", src.state("pr"))
        t.ok(dst.state("pr") == "running (migrated)",
             label + ": the destination runs it (migrated)", dst.state("pr"))
        t.ok(dst.vmm_pid("pr") == dst_vmm and wait_for(lambda: not alive(src_vmm or 0), 60),
             label + ": the destination's VMM is the same (no new one), the source's ended",
             "%r %r" % (dst.vmm_pid("pr"), dst_vmm))
        t.ok(state_ticks(src.console_log("pr")) == ticks_then,
             label + ": the source never ran again")
        last = last_tick(src)
        t.ok(ticks_on(dst, 3) and [x for x in state_ticks(dst.console_log("pr")) if x > before]
             [:1] == [last + 1],
             label + ": ticks consecutive across the hop (source's last %d)" % last,
             dst.console_log("pr")[-300:])

    hop(a, b, "virsh", "virsh A -> B")
    hop(b, a, VSH, "vsh B -> A")
    hop(a, b, "virsh", "virsh --p2p A -> B", p2p=True)

    done, log = guest_end(b, "pr")  # a 'q' ends its run
    t.ok(done and "not ok" not in log, "the guest's final checks pass after the recovered hops",
         log[-800:])

    time.sleep(0.5)
    for p in events:
        p.terminate()
    out_a = ev_a.communicate(timeout=10)[0]
    out_b = ev_b.communicate(timeout=10)[0]
    for seq, where, out in [(["Suspended Post-copy", "Suspended Post-copy Error",
                              "Suspended Post-copy", "Stopped Migrated"], "A", out_a),
                            (["Started Migrated", "Resumed Post-copy",
                              "Resumed Post-copy Error", "Resumed Post-copy",
                              "Resumed Migrated"], "B", out_b)]:
        got = [x.split("'pr': ", 1)[1] for x in out.splitlines() if "'pr': " in x]
        it = iter(got)
        t.ok(all(any(g == w for g in it) for w in seq),
             "events on %s in order: %s" % (where, ", ".join(seq)), repr(got))
except Exception as e:  # noqa: BLE001
    t.ok(False, "unexpected: %r" % e)
    import traceback
    t.diag(traceback.format_exc())
finally:
    for p in events:
        if p.poll() is None:
            p.kill()
    end(t, hosts, names, fabric)
