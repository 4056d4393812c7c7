#!/usr/bin/env python3
"""Post-copy recovery: migrate-pause, migrate-recover and migrate resume=true.

Usage: test-migrate-postcopy-recover.py TEST_GUEST_ELF VMM...

VMM is vireo-vmm's path, or 'qemu-system-x86_64 -enable-kvm -M microvm,...'
for the same run under QEMU 7.2. The guest runs the continuity workload of
test-migrate.py; both sides turn postcopy-ram on and the source switches to
post-copy at once, its background pages slowed (max-postcopy-bandwidth) so
that most of the dirtied pages are still on the source when the stream is
cut:

- cut by a proxy between the two that the test kills after the switch (the
  migration goes over the proxy's socket);
- cut by migrate-pause on the source.

Both sides then say postcopy-paused (the destination's guest waits on its
missing pages); the destination is told migrate-recover on a new socket
(it listens, still postcopy-paused, as QEMU 7.2's), the source migrate with
resume=true there (postcopy-recover on both sides): both go
postcopy-active, then completed, and the guest on the destination checks its
whole pattern, its dirtied area and its ticks. The MIGRATION events of both
sides are checked in QEMU's order. The refusals in QEMU's words: migrate
resume=true with nothing paused, migrate-recover when not paused (or, for
vireo-vmm, already listening: QEMU 7.2 listens twice), migrate-pause outside post-copy, a new migrate while
paused.
"""
import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

tap = None
_here = os.path.dirname(os.path.abspath(__file__))


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, os.path.join(_here, path))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


pc = _load("postcopy", "test-migrate-postcopy.py")  # its own Tap: ours is its
tap, check, mig = pc.tap, pc.check, pc.mig

PC_BW = 8192  # max-postcopy-bandwidth: the background pages would take minutes


class Proxy:
    """Forwards one connection between two unix sockets until cut()."""

    def __init__(self, listen_path, target_path):
        self.ls = socket.socket(socket.AF_UNIX)
        self.ls.bind(listen_path)
        self.ls.listen(1)
        self.target = target_path
        self.socks = [self.ls]
        threading.Thread(target=self._run, daemon=True).start()

    def _pump(self, src, dst):
        try:
            while True:
                b = src.recv(1 << 16)
                if not b:
                    break
                dst.sendall(b)
        except OSError:
            pass

    def _run(self):
        try:
            a, _ = self.ls.accept()
        except OSError:
            return
        b = socket.socket(socket.AF_UNIX)
        b.connect(self.target)
        self.socks += [a, b]
        threading.Thread(target=self._pump, args=(b, a), daemon=True).start()
        self._pump(a, b)

    def cut(self):
        for s in self.socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


def err(r):
    return r.get("error", {}).get("desc", "")


def wait_status(q, want, timeout=120):
    return mig.wait_migration(q, final=(want, "failed", "completed"), timeout=timeout)


def recover(vmm, elf, tmp, qemu, how):
    name = f"post-copy recovery ({how})"
    c = mig.Case(vmm, elf, tmp, name)
    direct = os.path.join(tmp, c.name + "-mig.sock")
    via = os.path.join(tmp, c.name + "-proxy.sock")
    again = os.path.join(tmp, c.name + "-again.sock")
    g, q = c.source()
    if not check(q is not None, f"{name}: the source's guest reaches tick {mig.START_AT}",
                 g.text()):
        return
    g2, q2 = c.dest("unix:" + direct)
    proxy = None
    if how == "proxy killed":
        for _ in range(200):
            if os.path.exists(direct):
                break
            time.sleep(0.05)
        proxy = Proxy(via, direct)
    pc.caps(q, postcopy_ram=True)
    pc.caps(q2, postcopy_ram=True)
    r = q.cmd("migrate", {"uri": "unix:" + again, "resume": True})
    check(err(r) == "Cannot resume if there is no paused migration",
          f"{name}: migrate resume=true before any migration is refused", r)
    r = q2.cmd("migrate-recover", {"uri": "unix:" + again})
    check(err(r) == "Migrate recover can only be run when postcopy is paused.",
          f"{name}: migrate-recover before the switch is refused", r)
    r = q.cmd("migrate-pause")
    check(err(r) == "migrate-pause is currently only supported during postcopy-active state",
          f"{name}: migrate-pause outside post-copy is refused", r)
    q.cmd("migrate-set-parameters", {"max-postcopy-bandwidth": PC_BW})
    r = q.cmd("migrate", {"uri": "unix:" + (via if proxy else direct)})
    check("return" in r, f"{name}: migrate", r)
    q.cmd("migrate-start-postcopy")
    r2 = wait_status(q2, "postcopy-active")
    r = wait_status(q, "postcopy-active")
    check(r.get("status") == "postcopy-active" and r2.get("status") == "postcopy-active" and
          r["ram"]["remaining"] > 0,
          f"{name}: both sides postcopy-active, pages left on the source", (r, r2))
    # The guest runs on the destination (its touches become page requests) before the cut:
    # the first request is enough. Not more: the guest's pattern check touches all of its
    # pages, and on a loaded host waiting for its next tick let every page be requested and
    # the post-copy complete before the cut.
    end = time.time() + 30
    while time.time() < end:
        ram = q.cmd("query-migrate").get("return", {}).get("ram", {})
        if ram.get("postcopy-requests", 0) >= 1:
            break
        time.sleep(0.02)
    if proxy:
        proxy.cut()
    else:
        r = q.cmd("migrate-pause")
        check("return" in r, f"{name}: migrate-pause on the source", r)
    r = wait_status(q, "postcopy-paused")
    r2 = wait_status(q2, "postcopy-paused")
    check(r.get("status") == "postcopy-paused" and r.get("ram", {}).get("remaining", 0) > 0,
          f"{name}: the source is postcopy-paused with pages left", r)
    sent_before = r.get("ram", {}).get("postcopy-bytes", 0)
    check(r2.get("status") == "postcopy-paused",
          f"{name}: the destination is postcopy-paused", r2)
    st = q.cmd("query-status")["return"]
    check(not st.get("running"), f"{name}: the source stays stopped", st)
    r = q.cmd("migrate", {"uri": "unix:" + again})
    check(err(r) == "There's a migration process in progress",
          f"{name}: a new migrate while paused is refused", r)
    r = q.cmd("migrate-pause")
    check(err(r) == "migrate-pause is currently only supported during postcopy-active state",
          f"{name}: migrate-pause while paused is refused", r)
    if not qemu:
        r = q.cmd("migrate-recover", {"uri": "unix:" + again})
        check(err(r) == "Migrate recover can only be run when postcopy is paused.",
              f"{name}: migrate-recover on the source is refused", r)
        r = q2.cmd("migrate", {"uri": "unix:" + again, "resume": True})
        check(err(r) == "Cannot resume if there is no paused migration",
              f"{name}: migrate resume=true on the destination is refused", r)
        # A resume that cannot connect leaves the source paused, with the reason.
        nowhere = os.path.join(tmp, c.name + "-nowhere.sock")
        r = q.cmd("migrate", {"uri": "unix:" + nowhere, "resume": True})
        r1 = mig.wait_migration(q, final=(), timeout=60,
                                pred=lambda x: nowhere in x.get("error-desc", ""))
        check("return" in r and r1.get("status") == "postcopy-paused" and
              nowhere in r1.get("error-desc", ""),
              f"{name}: a resume to a socket nobody listens on leaves it postcopy-paused", r1)
    r = q2.cmd("migrate-recover", {"uri": "unix:" + again})
    check("return" in r, f"{name}: migrate-recover on the destination", r)
    # As QEMU 7.2: still postcopy-paused while it listens; postcopy-recover once the source
    # has connected.
    r2 = q2.cmd("query-migrate")["return"]
    check(r2.get("status") == "postcopy-paused",
          f"{name}: the destination listens, still postcopy-paused", r2)
    if not qemu:  # (QEMU 7.2 takes it and listens twice; later QEMUs refuse it so)
        r = q2.cmd("migrate-recover", {"uri": "unix:" + again})
        check(err(r) == "Migrate recovery is triggered already",
              f"{name}: a second migrate-recover is refused", r)
    for _ in range(200):
        if os.path.exists(again):
            break
        time.sleep(0.05)
    r = q.cmd("migrate", {"uri": "unix:" + again, "resume": True})
    check("return" in r, f"{name}: migrate resume=true on the source", r)
    # Only the background pages at PC_BW would need minutes: the guest's requests and the
    # recovery bitmap are what finish it; lift the limit once resumed so the rest goes.
    q.cmd("migrate-set-parameters", {"max-postcopy-bandwidth": 0})
    r = mig.wait_migration(q)
    done = r.get("status") == "completed"
    if not check(done, f"{name}: the source completes after the recovery", r):
        g2.kill()
        print("# destination: " + g2.p.stderr.read()[-2000:].replace("\n", "\n# "))
        mig.quit_source(g, q)
        return
    check(r["ram"].get("remaining") == 0 and r["ram"].get("postcopy-bytes", 0) > sent_before,
          f"{name}: nothing remaining, pages sent after the recovery "
          f"({sent_before} -> {r['ram'].get('postcopy-bytes')} post-copy bytes)", r)
    want = ["setup", "active", "postcopy-active", "postcopy-paused", "postcopy-recover",
            "postcopy-active", "completed"]
    check(pc.statuses(q) == want, f"{name}: source MIGRATION events {' '.join(want)}",
          pc.statuses(q))
    st = q.cmd("query-status")["return"]["status"]
    check(st == "postmigrate", f"{name}: the source is in postmigrate", st)
    check(not pc.events(q, "RESUME"), f"{name}: the source never ran again", q.events)
    mig.quit_source(g, q)
    before = g.text()
    r2 = mig.wait_migration(q2, final=("completed", "failed"))
    check(r2.get("status") == "completed", f"{name}: the destination's query-migrate says "
          "completed", r2)
    # QEMU 7.2's destination says setup at each migrate-recover (its status stays paused).
    want2 = ["postcopy-active", "postcopy-paused", "setup", "postcopy-recover",
             "postcopy-active", "completed"]
    ev2 = [x for i, x in enumerate(pc.statuses(q2)) if i == 0 or x != pc.statuses(q2)[i - 1]]
    check(ev2[-6:] == want2, f"{name}: destination MIGRATION events end {' '.join(want2)}", ev2)
    q2.close()
    mig.stop_guest(f"{name}: destination", g2, before)


def main():
    elf, vmm = sys.argv[1], sys.argv[2]
    qemu = "qemu-system" in vmm
    tmp = tempfile.mkdtemp(prefix="vireo-pcrecover-", dir=os.environ.get("MESON_BUILD_ROOT"))
    try:
        if not os.environ.get("ONLY_PAUSE"):
            recover(vmm, elf, tmp, qemu, "proxy killed")
        recover(vmm, elf, tmp, qemu, "migrate-pause")
    finally:
        tap.report()
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
