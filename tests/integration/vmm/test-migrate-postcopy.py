#!/usr/bin/env python3
"""Post-copy live migration (capability postcopy-ram) between two VMM processes.

Usage: test-migrate-postcopy.py TEST_GUEST_ELF VMM...

VMM is vireo-vmm's path, or 'qemu-system-x86_64 -enable-kvm -M microvm,...'
for the same run under QEMU. The guest runs the continuity workload of
test-migrate.py (tests=state with a dirtied area). Both sides turn
postcopy-ram on, the source is told migrate then migrate-start-postcopy at
once: after the first pass the source stops (STOP), the destination runs
the guest (RESUME) while the pages written since are still on the source
(max-postcopy-bandwidth keeps the background stream slow), so the guest's
touches become page requests (query-migrate's postcopy-requests > 0). Both
sides go setup/active -> postcopy-active -> completed; then the guest on the
destination checks its whole pattern, its dirtied area and its ticks
(consecutive across the hop).

migrate-start-postcopy during a slow first pass switches at once, within the
pass (most of the pattern goes after the switch: ram.postcopy-bytes), as QEMU
does; the guest asks for pages and checks its pattern after the hop.

Also (vireo-vmm): the destination killed after the switch leaves the source
postcopy-paused and stopped (never resumed: its RAM is no longer the truth;
test-migrate-postcopy-recover.py resumes the migration);
the source killed after the switch leaves the destination postcopy-paused (its
guest waiting on its missing pages, quit still ending it); a destination started with -S
stays paused at the switch and runs on cont (libvirt's way); the refusals in QEMU's words (migrate-start-postcopy without the capability
or outside a migration, postcopy-ram with multifd, exec: without a return
path) and a destination without the capability (one line, exit 1, the
source runs on).
"""
import importlib.util
import os
import signal
import subprocess
import sys
import tempfile
import time

from vmmlib import Guest, Qmp, Tap

tap = Tap()
check = tap.check

_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("migrate", os.path.join(_here, "test-migrate.py"))
mig = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mig)
mig.tap, mig.check = tap, check  # its helpers report into this test's TAP stream

PC_BW = 256 << 10  # max-postcopy-bandwidth: the background pages take seconds


def caps(q, **on):
    r = q.cmd("migrate-set-capabilities", {"capabilities": [
        {"capability": k.replace("_", "-"), "state": v} for k, v in on.items()]})
    return r


def events(q, name):
    return [e for e in q.events if e.get("event") == name]


def statuses(q):
    return [e["data"]["status"] for e in events(q, "MIGRATION")]


def postcopy(vmm, elf, tmp, qemu):
    name = "post-copy"
    c = mig.Case(vmm, elf, tmp, name)
    uri = "unix:" + os.path.join(tmp, c.name + "-mig.sock")
    g, q = c.source()
    if not check(q is not None, f"{name}: the source's guest reaches tick {mig.START_AT}",
                 g.text()):
        return
    g2, q2 = c.dest(uri)
    for side, qq in (("source", q), ("destination", q2)):
        r = caps(qq, postcopy_ram=True)
        check("return" in r, f"{name}: postcopy-ram on the {side}", r)
    got = {x["capability"]: x["state"]
           for x in q.cmd("query-migrate-capabilities")["return"]}
    check(got.get("postcopy-ram") is True, f"{name}: query-migrate-capabilities says so", got)
    r = q.cmd("migrate-set-parameters", {"max-postcopy-bandwidth": PC_BW})
    check("return" in r and q.cmd("query-migrate-parameters")["return"].get(
        "max-postcopy-bandwidth") == PC_BW, f"{name}: max-postcopy-bandwidth set", r)
    r = q.cmd("migrate", {"uri": uri})
    check("return" in r, f"{name}: migrate accepted", r)
    r = q.cmd("migrate-start-postcopy")
    check("return" in r, f"{name}: migrate-start-postcopy accepted", r)
    r = mig.wait_migration(q, final=("postcopy-active", "completed", "failed"))
    # (It may have completed already: the MIGRATION events below show the switch.)
    check(r.get("status") in ("postcopy-active", "completed"),
          f"{name}: the source switches to post-copy", r)
    # The destination runs the guest while pages are still on the source.
    st2 = None
    for _ in range(600):
        st2 = q2.cmd("query-status")["return"]["status"]
        if st2 == "running":
            break
        time.sleep(0.05)
    mid = q.cmd("query-migrate")["return"]
    check(st2 == "running" and mid.get("status") in ("postcopy-active", "completed"),
          f"{name}: the destination runs the guest during post-copy", f"{st2} {mid}")
    r = mig.wait_migration(q)
    done = r.get("status") == "completed"
    if not check(done, f"{name}: completes", r):
        g2.kill()
        print("# destination: " + g2.p.stderr.read()[-2000:].replace("\n", "\n# "))
    ram = r.get("ram", {})
    check(ram.get("postcopy-requests", 0) > 0,
          f"{name}: the destination asked for pages (postcopy-requests "
          f"{ram.get('postcopy-requests')})", r)
    check(ram.get("remaining") == 0 and "downtime" in r,
          f"{name}: query-migrate's remaining 0 and downtime", r)
    want = ["setup", "active", "postcopy-active", "completed"]
    check(statuses(q) == want, f"{name}: source MIGRATION events {' '.join(want)}", statuses(q))
    check(len(events(q, "STOP")) == 1 and not events(q, "RESUME"),
          f"{name}: STOP on the source, no RESUME", q.events)
    st = q.cmd("query-status")["return"]["status"]
    check(st == "postmigrate", f"{name}: the source is in postmigrate", st)
    mig.quit_source(g, q)
    before = g.text()
    if not done:
        return
    for _ in range(100):
        ev2 = statuses(q2)
        if "completed" in ev2:
            break
        time.sleep(0.05)
        q2.cmd("query-status")
    ev2 = statuses(q2)
    check(ev2[-2:] == ["postcopy-active", "completed"],
          f"{name}: destination MIGRATION events end postcopy-active, completed", ev2)
    check(len(events(q2, "RESUME")) == 1, f"{name}: RESUME on the destination", q2.events)
    q2.close()
    mig.stop_guest(f"{name}: destination", g2, before)


def switched(vmm, elf, tmp, name):
    """A source and a destination in post-copy, the destination having taken the VM over
    (it says postcopy-active), the pages left going one a second in the background (only
    the guest's requests would finish them quickly): (g, q, g2, q2, the destination's
    query-migrate, the URI), or None when the source's guest did not start."""
    c = mig.Case(vmm, elf, tmp, name)
    uri = "unix:" + os.path.join(tmp, c.name + "-mig.sock")
    g, q = c.source()
    if not check(q is not None, f"{name}: the source's guest reaches tick {mig.START_AT}",
                 g.text()):
        return None
    g2, q2 = c.dest(uri)
    caps(q, postcopy_ram=True)
    caps(q2, postcopy_ram=True)
    q.cmd("migrate-set-parameters", {"max-postcopy-bandwidth": 4096})
    q.cmd("migrate", {"uri": uri})
    q.cmd("migrate-start-postcopy")
    r2 = mig.wait_migration(q2, final=("postcopy-active", "completed", "failed"))
    return g, q, g2, q2, r2, uri


def within_pass(vmm, elf, tmp, qemu):
    """migrate-start-postcopy during the first pass: the switch comes at once, not after the
    pass (QEMU's way). The first pass is slowed (max-bandwidth) so it would take seconds for
    the 16 MiB pattern; most of the pattern then goes after the switch (postcopy-bytes far
    above the 2 MiB dirtied area, all a switch after the pass would leave), the guest asks
    for pages, and it checks its pattern on the destination."""
    name = "post-copy within the first pass"
    c = mig.Case(vmm, elf, tmp, name, mib=16, dirty=2)
    uri = "unix:" + os.path.join(tmp, c.name + "-mig.sock")
    g, q = c.source()
    if not check(q is not None, f"{name}: the source's guest reaches tick {mig.START_AT}",
                 g.text()):
        return
    g2, q2 = c.dest(uri)
    caps(q, postcopy_ram=True)
    caps(q2, postcopy_ram=True)
    q.cmd("migrate-set-parameters", {"max-bandwidth": 4 << 20,
                                     "max-postcopy-bandwidth": 4 << 20})
    r = q.cmd("migrate", {"uri": uri})
    r2 = q.cmd("migrate-start-postcopy")
    check("return" in r and "return" in r2, f"{name}: migrate, migrate-start-postcopy", (r, r2))
    r = mig.wait_migration(q)
    done = r.get("status") == "completed"
    if not check(done, f"{name}: completes", r):
        g2.kill()
        print("# destination: " + g2.p.stderr.read()[-2000:].replace("\n", "\n# "))
        return
    ram = r.get("ram", {})
    # (QEMU counts its sync at the switch as a second one.)
    check(ram.get("dirty-sync-count") == (2 if qemu else 1) and
          ram.get("postcopy-bytes", 0) > 8 << 20,
          f"{name}: one pass, cut short: {ram.get('postcopy-bytes')} bytes after the switch", r)
    check(ram.get("postcopy-requests", 0) > 0,
          f"{name}: the destination asked for pages ({ram.get('postcopy-requests')})", r)
    check(statuses(q) == ["setup", "active", "postcopy-active", "completed"],
          f"{name}: source MIGRATION events", statuses(q))
    mig.quit_source(g, q)
    before = g.text()  # (once it has ended: its last serial bytes are in)
    q2.close()
    mig.stop_guest(f"{name}: destination", g2, before, mib=16, dirty=2)


def dest_killed(vmm, elf, tmp):
    name = "post-copy destination killed"
    pair = switched(vmm, elf, tmp, name)
    if not pair:
        return
    g, q, g2, q2, r2, uri = pair
    g2.p.send_signal(signal.SIGSTOP)
    check(r2.get("status") == "postcopy-active", f"{name}: the destination took over", r2)
    r = q.cmd("query-migrate")["return"]
    check(r.get("status") == "postcopy-active" and r["ram"]["remaining"] > 0,
          f"{name}: the source is in post-copy with pages left", r)
    g2.p.send_signal(signal.SIGKILL)
    try:
        g2.finish(timeout=30)
    except subprocess.TimeoutExpired:
        pass
    r = mig.wait_migration(q, final=("postcopy-paused", "failed", "completed"))
    check(r.get("status") == "postcopy-paused" and r.get("error-desc"),
          f"{name}: the source's migration is postcopy-paused with the reason", r)
    ticks_then = len(mig.ticks(g.text()))
    st = q.cmd("query-status")["return"]
    check(st.get("running") is False and st.get("status") != "running",
          f"{name}: the source stays stopped", st)
    time.sleep(1)  # not a timing check: any tick or RESUME now would be wrong
    st = q.cmd("query-status")["return"]
    check(st.get("running") is False and not events(q, "RESUME") and
          len(mig.ticks(g.text())) == ticks_then,
          f"{name}: and is not resumed on its own (no RESUME, no tick)", st)
    r = q.cmd("migrate-recover", {"uri": uri})
    check(r.get("error", {}).get("desc") ==
          "Migrate recover can only be run when postcopy is paused.",
          f"{name}: migrate-recover on the source is refused with QEMU's line", r)
    mig.quit_source(g, q)


def dest_paused(vmm, elf, tmp):
    """libvirt's way: the destination started with -S stays paused at the switch while the
    pages come, and runs on cont (its guest's touches then become requests)."""
    name = "post-copy -S destination"
    c = mig.Case(vmm, elf, tmp, name)
    uri = "unix:" + os.path.join(tmp, c.name + "-mig.sock")
    g, q = c.source()
    if not check(q is not None, f"{name}: the source's guest reaches tick {mig.START_AT}",
                 g.text()):
        return
    sock = os.path.join(tmp, c.name + "-dst.sock")
    g2 = Guest(c.cmd(sock, ["-incoming", uri, "-S"]), stdin=subprocess.PIPE)
    q2 = Qmp(sock, timeout=30)
    caps(q, postcopy_ram=True)
    caps(q2, postcopy_ram=True, events=True)
    q.cmd("migrate-set-parameters", {"max-postcopy-bandwidth": 40960})
    q.cmd("migrate", {"uri": uri})
    q.cmd("migrate-start-postcopy")
    r2 = mig.wait_migration(q2, final=("postcopy-active", "completed", "failed"))
    st = q2.cmd("query-status")["return"]
    check(r2.get("status") == "postcopy-active" and st.get("status") == "paused",
          f"{name}: postcopy-active with the guest paused", f"{r2} {st}")
    r = q2.cmd("cont")
    check("return" in r, f"{name}: cont during post-copy", r)
    r = mig.wait_migration(q)
    check(r.get("status") == "completed" and r["ram"].get("postcopy-requests", 0) > 0,
          f"{name}: completes, with page requests after cont", r)
    mig.quit_source(g, q)
    q2.close()
    mig.stop_guest(f"{name}: destination", g2, g.text())


def source_killed(vmm, elf, tmp):
    name = "post-copy source killed"
    pair = switched(vmm, elf, tmp, name)
    if not pair:
        return
    g, q, g2, q2, r, uri = pair  # killed once the destination has taken over
    g.p.send_signal(signal.SIGKILL)
    check(r.get("status") == "postcopy-active", f"{name}: killed in post-copy", r)
    g.finish(timeout=30)
    r2 = mig.wait_migration(q2, final=("postcopy-paused", "failed", "completed"))
    check(r2.get("status") == "postcopy-paused" and "lost the source" in r2.get("error-desc", ""),
          f"{name}: the destination is postcopy-paused with the reason", r2)
    r = q2.cmd("migrate-pause")
    check(r.get("error", {}).get("desc") ==
          "migrate-pause is currently only supported during postcopy-active state",
          f"{name}: migrate-pause while paused is refused with QEMU's line", r)
    # Its guest waits on the missing pages (a vCPU in a userfault): stop, query-status and
    # cont still answer (a hang is a failure: the socket's timeout ends the wait), then quit
    # ends the process.
    q2.s.settimeout(120)
    try:
        r = q2.cmd("stop")
        st = q2.cmd("query-status")["return"]
        check("return" in r and st.get("status") == "paused" and not st.get("running"),
              f"{name}: stop on the paused destination answers, status paused", f"{r} {st}")
        r = q2.cmd("cont")
        st = q2.cmd("query-status")["return"]
        check("return" in r and st.get("status") == "running",
              f"{name}: cont answers, status running", f"{r} {st}")
        r = q2.cmd("stop")
        check("return" in r, f"{name}: stop again answers", r)
        r2 = q2.cmd("query-migrate")["return"]
        check(r2.get("status") == "postcopy-paused",
              f"{name}: still postcopy-paused", r2)
    except (OSError, ValueError) as e:
        check(False, f"{name}: the destination answers stop/query-status/cont", repr(e))
    q2.cmd("quit")
    try:
        st2, _, err2 = g2.finish(timeout=60)
    except subprocess.TimeoutExpired:
        g2.kill()
        st2, err2 = None, "timeout"
    check(st2 == 0, f"{name}: quit ends the paused destination (exit {st2})", err2[-1000:])


def refusals(vmm, elf, tmp):
    name = "post-copy refusals"
    c = mig.Case(vmm, elf, tmp, name)
    uri = "unix:" + os.path.join(tmp, c.name + "-mig.sock")
    g, q = c.source()
    if not check(q is not None, f"{name}: the source's guest reaches tick {mig.START_AT}",
                 g.text()):
        return
    r = q.cmd("migrate-start-postcopy")
    check(r.get("error", {}).get("desc") == "Enable postcopy with migrate_set_capability before "
          "the start of migration", f"{name}: migrate-start-postcopy without the capability", r)
    caps(q, postcopy_ram=True)
    r = q.cmd("migrate-start-postcopy")
    check(r.get("error", {}).get("desc") == "Postcopy must be started after migration has been "
          "started", f"{name}: migrate-start-postcopy before migrate", r)
    r = caps(q, multifd=True)
    check(r.get("error", {}).get("desc") == "Postcopy is not yet compatible with multifd",
          f"{name}: postcopy-ram with multifd", r)
    r = q.cmd("migrate", {"uri": "exec:cat > /dev/null"})
    check(r.get("error", {}).get("desc") == "Unable to open return-path for postcopy",
          f"{name}: exec: has no return path", r)
    # A destination without the capability refuses the stream; the source runs on.
    g2, q2 = c.dest(uri)
    q.cmd("migrate", {"uri": uri})
    r = mig.wait_migration(q)
    check(r.get("status") == "failed", f"{name}: the source's migration fails", r)
    mig.dest_refused(name, q, g2, "postcopy-ram",
                     "a destination without postcopy-ram refuses with one line, exit 1")
    q.close()
    mig.stop_guest(f"{name}: source", g)


def main():
    elf, vmm = sys.argv[1], sys.argv[2]
    qemu = "qemu-system" in vmm
    tmp = tempfile.mkdtemp(prefix="vireo-postcopy-", dir=os.environ.get("MESON_BUILD_ROOT"))
    try:
        postcopy(vmm, elf, tmp, qemu)
        within_pass(vmm, elf, tmp, qemu)
        if not qemu:
            dest_killed(vmm, elf, tmp)
            source_killed(vmm, elf, tmp)
            dest_paused(vmm, elf, tmp)
            refusals(vmm, elf, tmp)
    finally:
        tap.report()
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
