#!/usr/bin/env python3
"""test-kill-start.py - no orphans and no twins: vireod killed with SIGKILL
at many moments of `virsh start`, `destroy` and `shutdown`, then restarted.

  test-kill-start.py VIREOD VIREO_VMM TESTGUEST_ELF VIREO_IMG

One domain runs the test guest (idle: tests=none) with a qcow2 disk made by
vireo-img, the case where two VMMs on one domain are two writers on one
image. Each trial launches the stock virsh, kills the daemon after a delay
(0 up to a little more than the operation takes, in steps), starts a new
daemon on the same --root and then asserts, once the new daemon has
settled:

 - at most one vireo-vmm process exists for the domain (found by scanning
   /proc for the domain's UUID on a vireo-vmm command line);
 - the state the daemon reports matches: running or paused exactly when one
   such process exists, shut off when none does;
 - the next operation works and keeps both true (a start after a shut-off
   domain, a destroy after a running one).

The delays come from the measured duration of each operation on this
machine, so the kills fall before, inside and after it whatever the load.
Then records left by hand name a pid that now belongs to another process
(a `sleep`), with and without its start time: the restarted daemon must
leave that process alone. Nothing asserts a duration. Prints TAP.
"""
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import Daemon, Tap, domain_xml, skip_all, wait_for  # noqa: E402

VIREOD, VMM, GUEST, IMG = sys.argv[1:5]
GUEST = os.path.abspath(GUEST)
UUID = "6c0a3e1e-4c39-4b1e-9a59-2f3d0c1f0b11"
t = Tap()
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("no /dev/kvm")
if not shutil.which("virsh"):
    skip_all("no virsh")


def vmm_processes(uuid=UUID):
    """Live (not zombie) vireo-vmm processes with -uuid UUID on their command line, started
    by this test's daemon (its run directory in the command line: another run of this test,
    in another checkout, uses the same uuid)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = open("/proc/%s/cmdline" % entry, "rb").read().split(b"\0")
            stat = open("/proc/%s/stat" % entry).read()
        except OSError:
            continue
        if not argv or os.path.basename(argv[0]) != b"vireo-vmm":
            continue
        if stat[stat.rfind(")") + 2] in "ZX":
            continue
        if not any(d.root.encode() in a for a in argv):
            continue
        for i in range(len(argv) - 1):
            if argv[i] == b"-uuid" and argv[i + 1].decode() == uuid:
                found.append(int(entry))
                break
    return found


d = Daemon(VIREOD, VMM)
d.args = ["-v"]  # the restarted daemons say what they found


def state():
    r = d.virsh("domstate", "k")
    return r.stdout.strip() if r.returncode == 0 else "error: " + r.stderr.strip()


def consistent():
    """(ok, description): the daemon's state agrees with the processes."""
    procs = vmm_processes()
    st = state()
    active = st in ("running", "paused", "in shutdown")
    ok = len(procs) <= 1 and (len(procs) == 1) == active and not st.startswith("error")
    return ok, "state %r, vireo-vmm processes %s" % (st, procs)


def settle(limit=30.0):
    """Waits until the daemon's view and the processes agree (a VMM that a
    restarted daemon ends takes a moment to go); returns the last check."""
    last = [None]

    def check():
        last[0] = consistent()
        return last[0][0]

    wait_for(check, limit, 0.1)
    return last[0]


def timed(*args):
    start = time.monotonic()
    r = d.virsh(*args)
    return r, time.monotonic() - start


def kill_during(args, delay):
    """Runs virsh ARGS, SIGKILLs the daemon after delay seconds, restarts it."""
    p = d.virsh_popen(*args)
    time.sleep(delay)
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait()
    out = p.communicate(timeout=120)[0]
    d.proc = None
    for sock in (d.sock, d.sock_ro):  # the killed daemon's: wait for the new ones
        if os.path.exists(sock):
            os.unlink(sock)
    d.start()
    return out


def ensure(running):
    """Brings the domain to running or shut off through the daemon."""
    st = state()
    if running and st == "shut off":
        return d.virsh("start", "k")
    if not running and st != "shut off":
        return d.virsh("destroy", "k")
    return None


failures = 0
try:
    d.start()
    disk = os.path.join(d.tmp, "k.qcow2")
    subprocess.run([IMG, "create", "-f", "qcow2", disk, "16M"], check=True,
                   capture_output=True)
    devices = f"""    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
"""
    xml = domain_xml("k", GUEST, "tests=none", devices).replace(
        "<name>k</name>", "<name>k</name>\n  <uuid>%s</uuid>" % UUID)
    r = d.virsh("define", d.write("k.xml", xml))
    t.ok(r.returncode == 0, "define the domain", r.stderr)

    # How long each operation takes here, from virsh's start to its exit.
    starts, destroys = [], []
    for _ in range(3):
        r, s = timed("start", "k")
        starts.append(s)
        r2, s2 = timed("destroy", "k")
        destroys.append(s2)
    t.ok(r.returncode == 0 and r2.returncode == 0 and not vmm_processes(),
         "start and destroy work before any kill", r.stderr + r2.stderr)
    t_start, t_destroy = sorted(starts)[1], sorted(destroys)[1]
    t.diag("virsh start takes %.0f ms, destroy %.0f ms (medians of 3)" %
           (t_start * 1000, t_destroy * 1000))

    plans = [("start", False, t_start, 16), ("destroy", True, t_destroy, 8),
             ("shutdown", True, t_destroy, 8)]
    for op, needs_running, duration, n in plans:
        bad = []
        after = {}
        for i in range(n):
            delay = duration * 1.3 * i / (n - 1)
            r = ensure(needs_running)
            if r is not None and r.returncode != 0:
                bad.append("%s trial %d: could not prepare: %s" % (op, i, r.stderr.strip()))
                continue
            kill_during([op, "k"], delay)
            ok, what = settle()
            after[state()] = after.get(state(), 0) + 1
            if not ok:
                bad.append("%s, kill after %.0f ms: after the restart: %s" %
                           (op, delay * 1000, what))
                continue
            # The next operation works and keeps one VMM at most.
            running = state() != "shut off"
            r = d.virsh("destroy" if running else "start", "k")
            ok, what = settle()
            procs = vmm_processes()
            want = 0 if running else 1
            if r.returncode != 0 or not ok or len(procs) != want:
                bad.append("%s, kill after %.0f ms: the following %s: rc %d %s; %s" %
                           (op, delay * 1000, "destroy" if running else "start",
                            r.returncode, r.stderr.strip(), what))
        failures += len(bad)
        t.diag("%s: after the restarts: %s" % (op, ", ".join(
            "%s %d" % kv for kv in sorted(after.items()))))
        t.ok(not bad, "%s: %d kills of vireod at moments 0-%.0f ms: at most one vireo-vmm, "
             "the reported state matches it, the next operation works" %
             (op, n, duration * 1.3 * 1000), "\n".join(bad))
    ensure(False)
    t.ok(not vmm_processes(), "no vireo-vmm left for the domain at the end", vmm_processes())

    # A record naming a pid that now belongs to another process (the VMM
    # died while no daemon ran, and the pid was handed out again) must not
    # lead a restarted daemon to signal that process: the pid's start time
    # and command line say it is not the VMM.
    live = d.virsh("dumpxml", "k").stdout
    for phase, same_start in (("ready", False), ("ready", True), ("spawned", True),
                              ("starting", False)):
        d.stop()
        other = subprocess.Popen(["sleep", "300"])
        fields = open("/proc/%d/stat" % other.pid).read().rsplit(")", 1)[1].split()
        start = int(fields[19]) if same_start else 12345
        run = os.path.join(d.root, "run")
        open(os.path.join(run, "k.vmm"), "w").write(
            "phase=%s\npid=%d\nstart=%d\nuuid=%s\n" % (phase, other.pid, start, UUID))
        open(os.path.join(run, "k.state"), "w").write(
            "id=7\nstate=1\nreason=1\npersistent=1\nstart=0\n")
        open(os.path.join(run, "k.xml"), "w").write(live.replace("<domain type='kvm'>",
                                                                 "<domain type='kvm' id='7'>"))
        open(os.path.join(run, "k.pid"), "w").write("%d\n" % other.pid)
        for sock in (d.sock, d.sock_ro):
            if os.path.exists(sock):
                os.unlink(sock)
        d.start()
        st = state()
        alive = other.poll() is None
        r = d.virsh("start", "k")
        t.ok(alive and st.startswith("shut off") and r.returncode == 0 and
             len(vmm_processes()) == 1,
             "a %s record naming a reused pid (%s start time): that process is left alone, "
             "the domain is shut off and starts" % (phase, "its" if same_start else "another"),
             "state %r, other process alive %s, start: %s" % (st, alive, r.stderr))
        d.virsh("destroy", "k")
        other.kill()
        other.wait()
    # What the restarted daemons found, for the record: which moments the kills hit.
    log = open(os.path.join(d.tmp, "vireod.out"), errors="replace").read()
    for what in ("reattached to vireo-vmm", "(its record: starting)", "(its record: spawned)",
                 "(its record: ready)", "(its record: stopping)", "(its record: none)",
                 "its vireo-vmm is gone", "that no domain owned"):
        t.diag("%-28s %d times" % (what, log.count(what)))
finally:
    if t.failed:
        d.dump_log()
    for pid in vmm_processes():
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    d.cleanup(["k"])
t.done()
