#!/usr/bin/env python3
"""Per-drive I/O limits: -drive throttling.*, QMP block_set_io_throttle with groups, and
query-block's report of them, against QEMU.

Usage: test-throttle.py TEST_GUEST_ELF VMM-COMMAND

The guest streams 1 MiB writes (blk-bench seqwrite, 4 in flight) to a disk limited to
2 MiB/s (throttling.bps-write). Sampled through query-blockstats, the bytes written since
the guest was let run never exceed what the leaky bucket allows: the rate times the time,
plus the bucket (a tenth of the rate) plus the requests in flight (QEMU may admit a queue's
worth at once when its timer fires). (An upper bound only: a loaded machine makes the guest
slower, never faster.) query-block reports the limits and the group
(named after the drive when none is given); block_set_io_throttle changes them, moves the
drive into a named group whose limits its members share, and lifts them with zeros; bad
limits are refused with QEMU's words, on the command line and over QMP.
"""
import os
import subprocess
import sys
import tempfile
import time

from vmmlib import Qmp, Tap

tap = Tap()
check = tap.check
RATE = 2 << 20
REQ = 1 << 20
QD = 4


def inserted(q):
    return {b["device"]: b.get("inserted", {}) for b in q.cmd("query-block")["return"]}


def wr_bytes(q):
    return {s["device"]: s["stats"]["wr_bytes"] for s in q.cmd("query-blockstats")["return"]}


def run(prefix, elf, tmp):
    disks = []
    for n in ("a", "b"):
        p = os.path.join(tmp, n + ".raw")
        with open(p, "wb") as f:
            f.truncate(64 << 20)
        disks.append(p)
    sock = os.path.join(tmp, "qmp.sock")
    p = subprocess.Popen(prefix + [
        "-nodefaults", "-display", "none", "-m", "256M", "-kernel", elf, "-S",
        "-append", "blk-bench op=seqwrite count=64 qd=4",
        "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
        "-drive", f"file={disks[0]},format=raw,if=none,id=drive0,cache=none,"
                  f"throttling.bps-write={RATE}",
        "-device", "virtio-blk-pci,drive=drive0,id=blk0",
        "-drive", f"file={disks[1]},format=raw,if=none,id=drive1,"
                  "throttling.iops-total=100,throttling.iops-total-max=200,throttling.group=g",
        "-device", "virtio-blk-pci,drive=drive1,id=blk1",
        "-qmp", f"unix:{sock},server=on,wait=off"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    q = Qmp(sock)
    res = {"start": inserted(q)}
    t0 = time.monotonic()
    q.cmd("cont")
    samples = []
    while time.monotonic() - t0 < 4.0:
        time.sleep(0.5)
        b = wr_bytes(q).get("drive0", 0)
        samples.append((time.monotonic() - t0, b))
    res["samples"] = samples
    base = {"bps": 0, "bps_rd": 0, "bps_wr": 0, "iops": 0, "iops_rd": 0, "iops_wr": 0}
    res["set"] = q.cmd("block_set_io_throttle", dict(base, device="drive0", bps=RATE // 2))
    res["after_set"] = inserted(q)
    res["join"] = q.cmd("block_set_io_throttle", dict(base, device="drive0", iops=50,
                                                      group="g"))
    res["after_join"] = inserted(q)
    res["both"] = q.cmd("block_set_io_throttle", dict(base, device="drive0", bps=RATE,
                                                      bps_rd=1))
    res["nodev"] = q.cmd("block_set_io_throttle", dict(base, device="nope", bps=1))
    res["lower"] = q.cmd("block_set_io_throttle", dict(base, device="drive1", iops=100,
                                                       iops_max=10))
    res["lift"] = q.cmd("block_set_io_throttle", dict(base, device="drive0"))
    res["after_lift"] = inserted(q)
    q.cmd("quit")
    p.wait(timeout=30)
    return res


def refusal(prefix, elf, tmp, opts):
    disk = os.path.join(tmp, "r.raw")
    with open(disk, "wb") as f:
        f.truncate(1 << 20)
    r = subprocess.run(prefix + ["-nodefaults", "-display", "none", "-S", "-kernel", elf,
                                 "-drive", f"file={disk},format=raw,if=none,id=d0," + opts],
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stderr.strip()


def sub(d, keys):
    return {k: d.get(k) for k in keys}


def main():
    elf, vmm = sys.argv[1], sys.argv[2].split()
    with tempfile.TemporaryDirectory() as tmp:
        r = run(vmm, elf, tmp)
        refusals = [(o, want, refusal(vmm, elf, tmp, o)) for o, want in [
            ("throttling.bps-total=1000,throttling.bps-read=5",
             "bps/iops/max total values and read/write values cannot be used at the same time"),
            ("throttling.bps-total-max=100",
             "bps_max/iops_max require corresponding bps/iops values"),
            ("throttling.bps-total=1000,throttling.bps-total-max=10",
             "bps_max/iops_max cannot be lower than bps/iops"),
            ("throttling.bps-total=1000,throttling.bps-total-max-length=2",
             "burst length set without burst rate"),
            ("throttling.bps-total=1000,throttling.bps-total-max=2000,"
             "throttling.bps-total-max-length=0", "the burst length cannot be 0"),
            ("throttling.bps-total=-1", "bps/iops/max values must be within [0, 1000000000000000]"),
            ("throttling.bps-total=abc", "Parameter 'throttling.bps-total' expects a number")]]
    s0, s1 = r["start"]["drive0"], r["start"]["drive1"]
    check(sub(s0, ["bps", "bps_rd", "bps_wr", "iops", "iops_rd", "iops_wr", "group"]) ==
          {"bps": 0, "bps_rd": 0, "bps_wr": RATE, "iops": 0, "iops_rd": 0, "iops_wr": 0,
           "group": "drive0"} and "bps_wr_max" not in s0,
          "query-block: the -drive's limits, its group named after the drive", s0)
    check(sub(s1, ["iops", "iops_max", "iops_max_length", "group"]) ==
          {"iops": 100, "iops_max": 200, "iops_max_length": 1, "group": "g"},
          "query-block: a burst and its length, a named group", s1)
    bad = [(t, b) for t, b in r["samples"] if b > RATE * t + RATE / 10 + QD * REQ]
    check(not bad and r["samples"] and r["samples"][-1][1] > 0,
          "the guest's writes never outrun 2 MiB/s (+ the bucket + the requests in flight)",
          r["samples"])
    a = r["after_set"]["drive0"]
    check("return" in r["set"] and a.get("bps") == RATE // 2 and a.get("bps_wr") == 0 and
          a.get("group") == "drive0", "block_set_io_throttle replaces the limits in place",
          (r["set"], a))
    j = r["after_join"]
    check("return" in r["join"] and j["drive0"].get("group") == "g" and
          j["drive0"].get("iops") == 50 and j["drive1"].get("iops") == 50 and
          "iops_max" not in j["drive1"],
          "group=g: the drive joins it, and the group's members share the new limits", j)
    check(r["both"].get("error", {}).get("desc") ==
          "bps/iops/max total values and read/write values cannot be used at the same time",
          "total and read limits together: QEMU's refusal", r["both"])
    check(r["nodev"].get("error", {}).get("class") == "DeviceNotFound",
          "an unknown drive: DeviceNotFound", r["nodev"])
    check(r["lower"].get("error", {}).get("desc") ==
          "bps_max/iops_max cannot be lower than bps/iops", "a burst below the rate: refused",
          r["lower"])
    lf = r["after_lift"]["drive0"]
    check("return" in r["lift"] and lf.get("iops") == 0 and lf.get("bps") == 0 and
          "group" not in lf, "zeros lift the limits (no group in query-block)", lf)
    for opts, want, (rc, err) in refusals:
        check(rc != 0 and err.endswith(want) and len(err.splitlines()) == 1,
              f"-drive {opts}: refused in one line", err)
    return tap.report()


if __name__ == "__main__":
    sys.exit(main())
