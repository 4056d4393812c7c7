#!/usr/bin/env python3
"""Live migration of a running guest between two VMM processes.

Usage: test-migrate.py TEST_GUEST_ELF VMM...

VMM is the command prefix (vireo-vmm's path, or
'qemu-system-x86_64 -enable-kvm -M microvm,acpi=on,pcie=on,rtc=on'). The
guest runs its continuity workload (tests=state, t-state.c) with a dirtied
area (state_dirty=): while waiting for each timer tick it keeps rewriting
pages with new generations, so the migration has to chase them. A source
VMM runs it, a destination VMM waits with -incoming, QMP migrate moves it
while it runs; then a 'q' on the destination's serial line makes the guest
check its whole pattern, dirtied area, counters, last disk write and timer
and exit. Its TAP verdict and the tick numbers across both processes
(strictly consecutive) must show nothing was lost.

Cases: unix: and tcp: (both VMMs in a network namespace the test creates,
the stream over 198.18.0.1 on its loopback; the destination started with
-incoming defer and given the URI by migrate-incoming), with downtime-limit and
max-bandwidth set, and a stream damaged on the way (a proxy flips one byte
of a pattern page): QEMU's destination runs the damaged guest, which must
catch it (this shows the checks catch a broken migration); vireo-vmm's
destination refuses the stream and the source runs on. Under vireo-vmm also:
the MIGRATION (setup, active, device, completed) and MIGRATION_PASS events
and query-migrate's numbers, migrate_cancel mid-way, the destination killed
mid-way, a destination with another memory size (one line, exit 1), and
auto-converge on a link slower than the guest dirties (the throttle engages
and steps, cancel lifts it), with the parameter and capability refusals: in
each the source runs on and its guest then passes all its checks.
"""
import os
import re
import shlex
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

from vmmlib import Guest, Qmp, Tap, state_ticks

SEED = 7
MIB = 8
DIRTY = 16
START_AT = 4  # the source's guest has ticked this often before migrate
MORE = 6  # ticks the destination's guest runs before it is told to stop
tap = Tap()
check = tap.check


def mix(seed, p):
    m = (1 << 64) - 1
    z = (seed * 0x9E3779B97F4A7C15 + p + 1) & m
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
    return z ^ (z >> 31)


class Case:
    def __init__(self, vmm, elf, tmp, name, netns=None, mib=MIB, dirty=DIRTY):
        self.vmm, self.elf, self.tmp, self.netns = vmm, elf, tmp, netns
        self.mib, self.dirty = mib, dirty
        self.name = re.sub(r"[^a-z0-9]+", "-", name)
        self.disk = os.path.join(tmp, self.name + ".raw")
        with open(self.disk, "wb") as f:
            f.truncate(1 << 20)

    def cmd(self, sock, extra=(), mem="128M"):
        pre = ["ip", "netns", "exec", self.netns] if self.netns else []
        # Shared storage: both VMMs open the disk with its locks, as QEMU does: the destination
        # opens it inactive and takes the locks when the source has handed them over.
        return pre + shlex.split(self.vmm) + [
            "-nodefaults", "-display", "none", "-serial", "stdio", "-m", mem,
            "-kernel", self.elf,
            "-append",
            f"tests=state state_mib={self.mib} state_dirty={self.dirty} seed={SEED}",
            "-drive", f"file={self.disk},format=raw,if=none,id=d0",
            "-device", "virtio-blk-pci,drive=d0",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
            "-qmp", f"unix:{sock},server=on,wait=off"] + list(extra)

    def source(self):
        sock = os.path.join(self.tmp, self.name + "-src.sock")
        g = Guest(self.cmd(sock), stdin=subprocess.PIPE)
        ok = g.wait_line(f"tick={START_AT} ", timeout=180) is not None
        if not ok:
            g.kill()
            return g, None
        q = Qmp(sock)
        q.cmd("migrate-set-capabilities",
              {"capabilities": [{"capability": "events", "state": True}]})
        return g, q

    def dest(self, uri, mem="128M", defer=False):
        """The destination VMM: -incoming URI, or -incoming defer and QMP migrate-incoming."""
        sock = os.path.join(self.tmp, self.name + "-dst.sock")
        g = Guest(self.cmd(sock, ["-incoming", "defer" if defer else uri], mem=mem),
                  stdin=subprocess.PIPE)
        q = None
        try:
            q = Qmp(sock, timeout=30)
            q.cmd("migrate-set-capabilities",
                  {"capabilities": [{"capability": "events", "state": True}]})
            if defer:
                r = q.cmd("migrate-incoming", {"uri": uri})
                check("return" in r, f"{self.name}: migrate-incoming {uri.split(':')[0]}: after "
                      "-incoming defer", r)
        except OSError:
            pass
        return g, q


def wait_migration(q, final=("completed", "failed", "cancelled"), timeout=300, pred=None):
    end = time.monotonic() + timeout
    r = {}
    while time.monotonic() < end:
        r = q.cmd("query-migrate").get("return", {})
        if r.get("status") in final or (pred and pred(r)):
            return r
        time.sleep(0.05)
    return r


def ticks(text):
    return state_ticks(text)


def dest_refused(name, q, g2, words, what):
    """After a failed migration: the destination g2 exits 1 with one "load of migration
    failed" line naming words (checked as what), and the source (QMP q) runs on."""
    try:
        st2, _, err2 = g2.finish(timeout=60)
    except subprocess.TimeoutExpired:
        g2.kill()
        st2, err2 = None, "timeout"
    lines = [x for x in err2.splitlines() if "load of migration failed" in x]
    check(st2 == 1 and len(lines) == 1 and words in lines[0], f"{name}: {what}",
          f"exit {st2}\n{err2}")
    st = q.cmd("query-status")["return"]["status"]
    check(st == "running", f"{name}: the source runs on", st)


def stop_guest(name, g, before="", mib=MIB, dirty=DIRTY):
    """Lets the guest tick MORE times more, then 'q': its verdict and the tick sequence."""
    n = len(ticks(before + g.text()))
    g.wait_line(f"tick={n + MORE} ", timeout=180)
    try:
        g.type("q")
    except OSError:
        pass
    try:
        status, out, err = g.finish(timeout=180)
    except subprocess.TimeoutExpired:
        g.kill()
        check(False, f"{name}: the guest finishes", g.text()[-2000:])
        return False, ""
    t = ticks(before + out)
    good = (status == 1 and "not ok" not in out and
            f"the whole {mib} MiB pattern is intact" in out and
            f"the whole {dirty} MiB dirtied area holds its last generations" in out)
    check(good, f"{name}: the guest passes its continuity checks (exit {status})",
          out[-3000:] + err[-2000:])
    check(t and t == list(range(1, len(t) + 1)),
          f"{name}: ticks 1..{t[-1] if t else 0} consecutive", f"{t}")
    return good, out


def quit_source(g, q):
    try:
        q.cmd("quit")
    except OSError:
        pass
    try:
        g.finish(timeout=30)
    except subprocess.TimeoutExpired:
        g.kill()


class Damager:
    """A TCP-less proxy between two unix sockets that flips one byte inside the stream's
    copy of pattern page 1000 (found by its contents), once."""

    def __init__(self, listen_path, target_path):
        self.needle = struct.pack("<Q", mix(SEED, 1000)) * 64
        self.flipped = False
        self.ls = socket.socket(socket.AF_UNIX)
        self.ls.bind(listen_path)
        self.ls.listen(1)
        self.target = target_path
        threading.Thread(target=self._run, daemon=True).start()

    def _pump_back(self, src, dst):
        try:
            while True:
                b = src.recv(4096)
                if not b:
                    break
                dst.sendall(b)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _run(self):
        a, _ = self.ls.accept()
        b = socket.socket(socket.AF_UNIX)
        b.connect(self.target)
        threading.Thread(target=self._pump_back, args=(b, a), daemon=True).start()
        held = b""
        try:
            while True:
                d = a.recv(1 << 20)
                if not d:
                    break
                buf = held + d
                if not self.flipped:
                    at = buf.find(self.needle)
                    if at >= 0:
                        buf = bytearray(buf)
                        buf[at + 100] ^= 0x40
                        buf = bytes(buf)
                        self.flipped = True
                keep = 0 if self.flipped else len(self.needle)
                out, held = (buf[:-keep], buf[-keep:]) if keep and len(buf) > keep else \
                    ((b"", buf) if keep else (buf, b""))
                if out:
                    b.sendall(out)
            if held:
                b.sendall(held)
        except OSError:
            pass
        try:
            b.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def live(vmm, elf, tmp, name, qemu, netns=None, params=None, damage=False):
    c = Case(vmm, elf, tmp, name, netns=netns)
    if netns:
        dst_uri = src_uri = "tcp:198.18.0.1:%d" % (4400 + len(tap.results) % 500)
    else:
        dst_uri = "unix:" + os.path.join(tmp, c.name + "-mig.sock")
        src_uri = dst_uri
    if damage:
        src_uri = "unix:" + os.path.join(tmp, c.name + "-proxy.sock")
    g, q = c.source()
    if not check(q is not None, f"{name}: the source's guest reaches tick {START_AT}", g.text()):
        return
    g2, q2 = c.dest(dst_uri, defer=netns is not None)
    if damage:
        proxy = Damager(src_uri[5:], dst_uri[5:])
    if params:
        r = q.cmd("migrate-set-parameters", params)
        check("return" in r, f"{name}: migrate-set-parameters {params}", r)
        got = q.cmd("query-migrate-parameters")["return"]
        check(all(got.get(k) == v for k, v in params.items()),
              f"{name}: query-migrate-parameters reports them", got)
    r = q.cmd("migrate", {"uri": src_uri})
    check("return" in r, f"{name}: migrate {src_uri.split(':')[0]}: accepted", r)
    r = wait_migration(q)
    if damage:
        check(proxy.flipped, f"{name}: the proxy damaged a pattern page on the way")
        if qemu:
            check(r.get("status") == "completed", f"{name}: QEMU's migration completes", r)
            quit_source(g, q)
            g2.wait_line(f"tick={len(ticks(g.text())) + MORE} ", timeout=180)
            try:
                g2.type("q")
            except OSError:
                pass  # the guest already ended its run on the damaged page (QEMU exited)
            try:
                status, out, err = g2.finish(timeout=180)
            except subprocess.TimeoutExpired:
                g2.kill()
                status, out, err = None, g2.text(), ""
            check(status is not None and status != 1 and "not ok" in out and
                  "pattern" in out,
                  f"{name}: the guest catches the damaged page (exit {status})",
                  out[-2000:] + err[-1000:])
            return
        check(r.get("status") == "failed", f"{name}: the source's migration fails", r)
        dest_refused(name, q, g2, "does not match its checksum",
                     "the destination refuses the damaged page with one line, exit 1")
        q.close()
        stop_guest(f"{name}: source", g)
        return
    done = r.get("status") == "completed"
    if not check(done, f"{name}: completes", r):
        g2.kill()
        print("# destination: " + g2.p.stderr.read()[-2000:].replace("\n", "\n# "))
    ram = r.get("ram", {})
    check(ram.get("total", 0) >= 128 << 20 and ram.get("transferred", 0) > MIB << 20 and
          ram.get("dirty-sync-count", 0) >= 2 and ram.get("remaining") == 0 and
          ram.get("normal", 0) * 4096 > MIB << 20 and ram.get("duplicate", 0) > 0 and
          "downtime" in r and "total-time" in r and "setup-time" in r,
          f"{name}: query-migrate's numbers (total, transferred, passes, remaining, normal, "
          "duplicate, downtime, total-time, setup-time)", r)
    # QEMU's split at the stop: what went while the guest ran, and after (the final pass and
    # the device state, which at least holds the vCPUs' registers).
    check(ram.get("downtime-bytes", 0) > 4096 and ram.get("precopy-bytes", 0) > MIB << 20 and
          ram.get("precopy-bytes", 0) + ram.get("downtime-bytes", 0) == ram.get("transferred"),
          f"{name}: query-migrate's precopy-bytes + downtime-bytes = transferred", ram)
    ev = [e["data"]["status"] for e in q.events if e.get("event") == "MIGRATION"]
    passes = [e["data"]["pass"] for e in q.events if e.get("event") == "MIGRATION_PASS"]
    want = ["setup", "active", "completed"] if qemu else ["setup", "active", "device",
                                                           "completed"]
    check(ev == want, f"{name}: MIGRATION events {' '.join(want)}", ev)
    check(passes == list(range(1, len(passes) + 1)) and passes and
          passes[-1] == ram.get("dirty-sync-count"),
          f"{name}: MIGRATION_PASS 1..{len(passes)} as dirty-sync-count", passes)
    st = q.cmd("query-status")["return"]["status"]
    check(st == "postmigrate", f"{name}: the source is in postmigrate", st)
    quit_source(g, q)
    before = g.text()
    if not done:
        g2.kill()
        return
    if q2:
        for _ in range(100):
            if q2.cmd("query-status")["return"]["status"] == "running":
                break
            time.sleep(0.05)
        ev2 = [e["data"]["status"] for e in q2.events if e.get("event") == "MIGRATION"]
        check("completed" in ev2, f"{name}: MIGRATION completed on the destination", q2.events)
        q2.close()
    stop_guest(f"{name}: destination", g2, before)


def fault(vmm, elf, tmp, name, how):
    """The migration ends early (cancel, destination killed, another memory size): the
    source runs on and its guest passes its checks."""
    c = Case(vmm, elf, tmp, name)
    uri = "unix:" + os.path.join(tmp, c.name + "-mig.sock")
    g, q = c.source()
    if not check(q is not None, f"{name}: the source's guest reaches tick {START_AT}", g.text()):
        return
    g2, q2 = c.dest(uri, mem="256M" if how == "config" else "128M")
    if how != "config":
        # Slow enough that the first pass is still running when the fault comes.
        q.cmd("migrate-set-parameters", {"max-bandwidth": 2 << 20})
    r = q.cmd("migrate", {"uri": uri})
    check("return" in r, f"{name}: migrate accepted", r)
    if how == "config":
        r = wait_migration(q)
        try:
            st2, _, err2 = g2.finish(timeout=60)
        except subprocess.TimeoutExpired:
            g2.kill()
            st2, err2 = None, "timeout"
        lines = [x for x in err2.splitlines() if "load of migration failed" in x]
        check(st2 == 1 and len(lines) == 1 and "field 'memory' differs" in lines[0],
              f"{name}: the destination refuses with one line naming the field, exit 1",
              f"exit {st2}\n{err2}")
        check(r.get("status") == "failed" and r.get("error-desc"),
              f"{name}: the source's migration fails with the reason", r)
    else:
        r = wait_migration(q, pred=lambda x: x.get("status") == "active" and
                           x.get("ram", {}).get("transferred", 0) > 0)
        check(r.get("status") == "active" and r["ram"]["remaining"] >= 0,
              f"{name}: the migration is active", r)
        if how == "cancel":
            q.cmd("migrate_cancel")
            r = wait_migration(q)
            check(r.get("status") == "cancelled", f"{name}: cancelled", r)
            ev = [e["data"]["status"] for e in q.events if e.get("event") == "MIGRATION"]
            check(ev[-2:] == ["cancelling", "cancelled"],
                  f"{name}: MIGRATION cancelling, cancelled", ev)
        else:
            g2.p.send_signal(signal.SIGKILL)
            r = wait_migration(q)
            check(r.get("status") == "failed" and r.get("error-desc"),
                  f"{name}: the source's migration fails with the reason", r)
        try:
            st2, _, err2 = g2.finish(timeout=60)
        except subprocess.TimeoutExpired:
            g2.kill()
            st2, err2 = None, "timeout"
        check(st2 != 0 and "tick=" not in g2.text(),
              f"{name}: the destination never ran the guest (exit {st2})", err2[-1000:])
    st = q.cmd("query-status")["return"]["status"]
    check(st == "running", f"{name}: the source runs on", st)
    q.close()
    stop_guest(f"{name}: source", g)


def auto_converge(vmm, elf, tmp):
    """A link slower than the guest dirties memory: auto-converge throttles the vCPUs at
    cpu-throttle-initial, then more at the next pass; migrate_cancel ends it and the guest,
    no longer throttled, runs on and passes its checks."""
    name = "auto-converge"
    c = Case(vmm, elf, tmp, name, mib=1, dirty=1)
    uri = "unix:" + os.path.join(tmp, c.name + "-mig.sock")
    g, q = c.source()
    if not check(q is not None, f"{name}: the source's guest reaches tick {START_AT}", g.text()):
        return
    g2, q2 = c.dest(uri)
    # Refusals, each in QEMU's words, and nothing applied from a refused command.
    for args, want in (
            ({"downtime-limit": 2000001}, "Parameter 'downtime_limit' expects an integer in the "
             "range of 0 to 2000000 milliseconds"),
            ({"max-bandwidth": 1 << 20, "multifd-channels": 0}, "Parameter 'multifd-channels' "
             "expects is invalid, it should be in the range of 1 to 255"),
            ({"cpu-throttle-initial": 100}, "Parameter 'cpu_throttle_initial' expects an "
             "integer in the range of 1 to 99")):
        r = q.cmd("migrate-set-parameters", args)
        check(r.get("error", {}).get("desc") == want, f"{name}: refused: {args}", r)
    got = q.cmd("query-migrate-parameters")["return"]
    check(got.get("max-bandwidth") == 128 << 20 and got.get("multifd-channels") == 2 and
          got.get("downtime-limit") == 300, f"{name}: nothing applied from a refused command",
          got)
    # Nobody listening: failed, with the reason, and the guest runs on.
    nowhere = os.path.join(tmp, "nobody.sock")
    q.cmd("migrate", {"uri": "unix:" + nowhere})
    r = wait_migration(q)
    check(r.get("status") == "failed" and
          r.get("error-desc", "").startswith(f"Failed to connect to '{nowhere}'"),
          f"{name}: migrate to a socket nobody listens on fails with the reason", r)
    st = q.cmd("query-status")["return"]["status"]
    check(st == "running", f"{name}: and the VM runs on", st)
    r = q.cmd("migrate-set-capabilities",
              {"capabilities": [{"capability": "xbzrle", "state": True}]})
    check("not supported" in r.get("error", {}).get("desc", ""),
          f"{name}: the xbzrle capability is refused", r)
    r = q.cmd("migrate-set-capabilities",
              {"capabilities": [{"capability": "auto-converge", "state": True}]})
    caps = {x["capability"]: x["state"] for x in q.cmd("query-migrate-capabilities")["return"]}
    check("return" in r and caps.get("auto-converge") is True,
          f"{name}: migrate-set-capabilities auto-converge on", r)
    # About one tenth of what the guest can dirty per second here (about 300 KiB/s in this
    # nested KVM, far more elsewhere): every pass falls behind.
    q.cmd("migrate-set-parameters", {"max-bandwidth": 192 << 10, "cpu-throttle-initial": 30,
                                     "cpu-throttle-increment": 25})
    q.cmd("migrate", {"uri": uri})
    seen = []

    def throttled(x):
        p = x.get("cpu-throttle-percentage")
        if p and p not in seen:
            seen.append(p)
        return len(seen) >= 2

    r = wait_migration(q, pred=throttled, timeout=240)
    check(seen[:2] == [30, 55], f"{name}: cpu-throttle-percentage 30, then 55", f"{seen} {r}")
    q.cmd("migrate_cancel")
    r = wait_migration(q)
    check(r.get("status") == "cancelled" and "cpu-throttle-percentage" not in r,
          f"{name}: cancelled, the throttle gone", r)
    try:
        g2.finish(timeout=60)
    except subprocess.TimeoutExpired:
        g2.kill()
    st = q.cmd("query-status")["return"]["status"]
    check(st == "running", f"{name}: the source runs on", st)
    q.close()
    stop_guest(f"{name}: source", g, mib=1, dirty=1)


def bad_incoming(vmm, elf, tmp):
    """-incoming with an address it cannot listen on: one line, exit 1, nothing runs."""
    c = Case(vmm, elf, tmp, "bad incoming")
    for uri, want in (("tcp:198.18.0.1:99999", "'99999' is not a port number"),
                      ("unix:" + "x" * 200, "longer than"),
                      ("tcp:198.18.0.1:4444", "Failed to bind socket")):
        p = subprocess.run(c.cmd(os.path.join(tmp, "bad.sock"), ["-incoming", uri]),
                           capture_output=True, text=True, timeout=60)
        lines = [x for x in p.stderr.splitlines() if x.strip()]
        check(p.returncode == 1 and len(lines) == 1 and want in lines[0] and
              "tick=" not in p.stdout,
              f"-incoming {uri[:30]}: one line ({want}), exit 1",
              f"exit {p.returncode}\n{p.stderr}")


def paused_source(vmm, elf, tmp, name):
    """A source paused before migrate: the destination (no -S) stays paused, as QEMU's
    global state has it, and runs on at cont with the guest's state intact."""
    c = Case(vmm, elf, tmp, name)
    uri = "unix:" + os.path.join(tmp, c.name + "-mig.sock")
    g, q = c.source()
    if not check(q is not None, f"{name}: the source's guest reaches tick {START_AT}", g.text()):
        return
    q.cmd("stop")
    g2, q2 = c.dest(uri)
    r = q.cmd("migrate", {"uri": uri})
    check("return" in r, f"{name}: migrate accepted", r)
    r = wait_migration(q)
    done = r.get("status") == "completed"
    check(done, f"{name}: completes", r)
    quit_source(g, q)
    before = g.text()
    if not done or q2 is None:
        g2.kill()
        return
    if not wait_migration(q2).get("status") == "completed":
        check(False, f"{name}: the destination completes")
    time.sleep(0.3)  # a destination that wrongly resumed would be running by now
    st = q2.cmd("query-status")["return"]["status"]
    check(st == "paused", f"{name}: the destination (no -S) stays paused", st)
    n = len(ticks(before + g2.text()))
    time.sleep(0.5)
    check(len(ticks(before + g2.text())) == n, f"{name}: no tick while paused", g2.text()[-500:])
    r = q2.cmd("cont")
    check("return" in r, f"{name}: cont on the destination", r)
    q2.close()
    stop_guest(f"{name}: destination", g2, before)


def main():
    elf, vmm = sys.argv[1], sys.argv[2]
    qemu = "qemu-system" in vmm
    tmp = tempfile.mkdtemp(prefix="vireo-migrate-", dir=os.environ.get("MESON_BUILD_ROOT"))
    ns = f"vireo-mig-{os.getpid()}"
    try:
        live(vmm, elf, tmp, "unix", qemu)
        made = subprocess.run(["ip", "netns", "add", ns]).returncode == 0
        if check(made, "a network namespace for tcp: (needs root)"):
            subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
            subprocess.run(["ip", "-n", ns, "addr", "add", "198.18.0.1/32", "dev", "lo"],
                           check=True)
            live(vmm, elf, tmp, "tcp in a netns", qemu, netns=ns,
                 params={"downtime-limit": 100, "max-bandwidth": 256 << 20})
        live(vmm, elf, tmp, "damaged on the way", qemu, damage=True)
        paused_source(vmm, elf, tmp, "paused source")
        if not qemu:
            fault(vmm, elf, tmp, "cancel", "cancel")
            fault(vmm, elf, tmp, "destination killed", "kill")
            fault(vmm, elf, tmp, "other memory size", "config")
            auto_converge(vmm, elf, tmp)
            bad_incoming(vmm, elf, tmp)
    finally:
        tap.report()
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
