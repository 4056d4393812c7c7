#!/usr/bin/env python3
"""virtio-balloon end to end through QMP, under vireo-vmm or QEMU.

Usage: test-balloon.py TEST_GUEST_ELF VMM...

VMM is the command prefix (vireo-vmm's path, or
'qemu-system-x86_64 -enable-kvm -M microvm,acpi=on,pcie=on'). The guest
(tests=balloon, t-balloon.c) touches 32 MiB and says "balloon: ready"; the
test reads the VMM's VmRSS, sends QMP `balloon` with a target 32 MiB below
-m, waits for the guest's "balloon: inflated", and checks:
 - query-balloon before: actual = all of RAM;
 - a BALLOON_CHANGE event and query-balloon report RAM - 32 MiB;
 - VmRSS fell by at least 3/4 of the 32 MiB given (the pages really went
   back to the host kernel);
 - after `balloon` back to all of RAM, the guest sees num_pages 0, finds the
   given pages zeroed and writes actual 0 (its TAP lines are checked too);
 - `balloon` with value 0 is refused.
"""
import json
import os
import shlex
import sys
import tempfile
import time

from vmmlib import Guest, Qmp, Tap

RAM = 128 << 20
GIVE = 32 << 20
tap = Tap()
check = tap.check


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def main():
    elf, vmm = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="vireo-balloon-", dir=os.environ.get("MESON_BUILD_ROOT"))
    sock = os.path.join(tmp, "qmp.sock")
    cmd = shlex.split(vmm) + ["-nodefaults", "-display", "none", "-serial", "stdio", "-m", "128M",
                              "-kernel", elf, "-append", "tests=balloon balloon_mib=32",
                              "-qmp", f"unix:{sock},server=on,wait=off",
                              "-device", "virtio-balloon-pci,id=balloon0",
                              "-device", "isa-debug-exit,iobase=0xf4,iosize=4"]
    g = Guest(cmd)
    try:
        ready = g.wait_line("balloon: ready")
        check(ready, "guest touched its 32 MiB and is ready", g.text())
        if ready:
            time.sleep(0.2)
            rss_before = rss_kib(g.p.pid)
            q = Qmp(sock)
            qmp = q.cmd
            q0 = qmp("query-balloon")
            check(q0.get("return") == {"actual": RAM}, "query-balloon before: all of RAM",
                  json.dumps(q0))
            bad = qmp("balloon", {"value": 0})
            check("error" in bad, "balloon value=0 is refused", json.dumps(bad))
            r = qmp("balloon", {"value": RAM - GIVE})
            check(r.get("return") == {}, "balloon to RAM - 32 MiB accepted", json.dumps(r))
            inflated = g.wait_line("balloon: inflated")
            check(inflated, "guest inflated the balloon", g.text())
            q1 = None
            for _ in range(50):  # the guest writes actual just before its line; be patient
                q1 = qmp("query-balloon")
                if q1.get("return", {}).get("actual") == RAM - GIVE:
                    break
                time.sleep(0.1)
            check(q1.get("return") == {"actual": RAM - GIVE},
                  "query-balloon after: RAM - 32 MiB", json.dumps(q1))
            time.sleep(0.2)
            rss_after = rss_kib(g.p.pid)
            if g.p.poll() is not None:
                rc, text, err = g.finish()
                check(False, "VMM still running after the inflation", f"exit {rc}\n{text}\n{err}")
                raise SystemExit(tap.report())
            drop = rss_before - rss_after
            print(f"# VmRSS before {rss_before} KiB, after {rss_after} KiB, drop {drop} KiB")
            check(drop >= (GIVE >> 10) * 3 // 4,
                  f"VMM RSS fell by about the 32 MiB inflated ({drop} KiB)",
                  f"before {rss_before} after {rss_after}")
            qmp("query-balloon")  # collects events that arrived meanwhile
            ev = [e for e in q.events if e["event"] == "BALLOON_CHANGE"]
            check(any(e["data"] == {"actual": RAM - GIVE} for e in ev),
                  "BALLOON_CHANGE event with the new actual", json.dumps(q.events))
            r = qmp("balloon", {"value": RAM})
            check(r.get("return") == {}, "balloon back to all of RAM accepted", json.dumps(r))
            q.close()
        rc, text, err = g.finish()
        check("ok 1 - virtio-balloon" in text and "ok 2 - virtio-balloon: released" in text and
              "not ok" not in text and rc == 1,
              "guest: inflated, then released pages read as zero and actual 0",
              f"exit {rc}\n{text}\n{err}")
    finally:
        g.kill()
        if os.path.exists(sock):
            os.unlink(sock)
        os.rmdir(tmp)
    return tap.report()


if __name__ == "__main__":
    sys.exit(main())
