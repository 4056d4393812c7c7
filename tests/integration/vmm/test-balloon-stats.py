#!/usr/bin/env python3
"""virtio-balloon statistics through QMP qom-get/qom-set, under vireo-vmm or QEMU.

Usage: test-balloon-stats.py TEST_GUEST_ELF VMM...

VMM is the command prefix (vireo-vmm's path, or
'qemu-system-x86_64 -enable-kvm -M microvm,acpi=on,pcie=on'). The guest
(tests=balloon balloon_stats=1, t-balloon.c) offers VIRTIO_BALLOON_F_STATS_VQ
statistics: total memory (its memory map's RAM), free memory (RAM above 32 MiB),
stat-major-faults = the update number, swap in/out 0. The test, on
-device virtio-balloon-pci,id=balloon0 at /machine/peripheral/balloon0:
 - reads guest-stats-polling-interval (0) and sets it to 1 second: the device
   asks for fresh statistics at once and then every second;
 - waits for the guest's second refresh ("sent 3"), sets the interval to 0
   (no more requests; one may have left already, so the guest is at update 3
   or 4) and checks guest-stats: the guest's values under QEMU's names, the
   update number, stat-disk-caches and the others it does not send still -1
   (2^64-1), last-update within a minute of now; then sets 1 s again, which
   asks at once, so the guest gets its last request(s) and finishes;
 - QEMU 7.2's errors: a negative interval, a non-integer, writing
   guest-stats, an unknown property, an unknown device path;
 - the guest's TAP line: the device asked for fresh values after every buffer.
"""
import json
import os
import shlex
import sys
import tempfile
import time

from vmmlib import Guest, Qmp, Tap, err_is

NOT_SET = (1 << 64) - 1
tap = Tap()
check = tap.check


def main():
    elf, vmm = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="vireo-bstats-", dir=os.environ.get("MESON_BUILD_ROOT"))
    sock = os.path.join(tmp, "qmp.sock")
    cmd = shlex.split(vmm) + [
        "-nodefaults", "-display", "none", "-serial", "stdio", "-m", "128M", "-kernel", elf,
        "-append", "tests=balloon balloon_stats=1 balloon_stats_updates=3",
        "-qmp", f"unix:{sock},server=on,wait=off",
        "-device", "virtio-balloon-pci,id=balloon0",
        "-device", "isa-debug-exit,iobase=0xf4,iosize=4"]
    g = Guest(cmd)
    path = "/machine/peripheral/balloon0"
    try:
        first = g.wait_line("balloon-stats: sent 1 ")
        check(first, "guest sent its first statistics", g.text())
        if not first:
            return tap.report()
        fields = dict(kv.split("=") for kv in first.split()[4:])
        total, free = int(fields["total"]), int(fields["free"])
        q = Qmp(sock)
        qmp = q.cmd
        interval = {"path": path, "property": "guest-stats-polling-interval"}
        r = qmp("qom-get", interval)
        check(r.get("return") == 0, "polling interval starts at 0", json.dumps(r))
        r = qmp("qom-set", dict(interval, value=-1))
        check(err_is(r, "GenericError", "timer value must be greater than zero"),
              "negative interval refused", json.dumps(r))
        r = qmp("qom-set", dict(interval, value="x"))
        check(err_is(r, "GenericError", "Invalid parameter type for "
                     "'guest-stats-polling-interval', expected: integer"),
              "non-integer interval refused", json.dumps(r))
        r = qmp("qom-set", {"path": path, "property": "guest-stats", "value": 0})
        check(err_is(r, "GenericError",
                     "Property 'virtio-balloon-device.guest-stats' is not writable"),
              "guest-stats is read-only", json.dumps(r))
        r = qmp("qom-get", {"path": path, "property": "nope"})
        check(err_is(r, "GenericError", "Property 'virtio-balloon-pci.nope' not found"),
              "unknown property refused", json.dumps(r))
        r = qmp("qom-get", {"path": "/machine/peripheral/zzz", "property": "guest-stats"})
        check(err_is(r, "DeviceNotFound", "Device '/machine/peripheral/zzz' not found"),
              "unknown device path refused", json.dumps(r))
        r = qmp("qom-set", dict(interval, value=1))
        check(r.get("return") == {}, "polling interval set to 1 s", json.dumps(r))
        r = qmp("qom-get", interval)
        check(r.get("return") == 1, "polling interval reads back 1", json.dumps(r))
        third = g.wait_line("balloon-stats: sent 3 ")
        check(third, "the device asked for fresh statistics twice", g.text())
        r = qmp("qom-set", dict(interval, value=0))
        check(r.get("return") == {}, "polling interval set to 0 (off)", json.dumps(r))
        got = {}
        for _ in range(50):  # the line comes just after the buffer; let the device read it
            r = qmp("qom-get", {"path": path, "property": "guest-stats"})
            got = r.get("return", {})
            if got.get("stats", {}).get("stat-major-faults", 0) in (3, 4):
                break
            time.sleep(0.1)
        st = got.get("stats", {})
        update = st.get("stat-major-faults")
        want = {"stat-swap-in": 0, "stat-swap-out": 0, "stat-major-faults": update,
                "stat-free-memory": free, "stat-total-memory": total,
                "stat-minor-faults": NOT_SET, "stat-available-memory": NOT_SET,
                "stat-disk-caches": NOT_SET, "stat-htlb-pgalloc": NOT_SET,
                "stat-htlb-pgfail": NOT_SET}
        check(st == want and update in (3, 4),
              f"guest-stats carry the guest's values (total {total}, free {free}, update "
              f"{update}; the rest -1)", json.dumps(got))
        check(abs(got.get("last-update", 0) - time.time()) < 60,
              "last-update is the time of the latest statistics", json.dumps(got))
        r = qmp("qom-set", dict(interval, value=1))
        check(r.get("return") == {}, "polling interval set to 1 s again", json.dumps(r))
        q.close()
        rc, text, err = g.finish()
        check("ok 1 - virtio-balloon: statistics sent 4 times, the device asked for fresh ones "
              "4 times" in text and "not ok" not in text and rc == 1,
              "guest: the device asked for fresh statistics after every buffer",
              f"exit {rc}\n{text}\n{err}")
    finally:
        g.kill()
        if os.path.exists(sock):
            os.unlink(sock)
        os.rmdir(tmp)
    return tap.report()


if __name__ == "__main__":
    sys.exit(main())
