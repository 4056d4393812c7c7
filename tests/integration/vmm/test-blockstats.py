#!/usr/bin/env python3
"""query-blockstats and `info blockstats`: vireo-vmm's I/O accounting against QEMU's.

Usage: test-blockstats.py TEST_GUEST_ELF VIREO_VMM

The same command line (microvm, one raw virtio-blk disk, the test guest's virtio-blk tests:
reads, writes, a flush, a read past the end, an unknown request type) runs under vireo-vmm and
QEMU. Before the guest runs, every counter is zero in both; after it, the counts must be
QEMU's: bytes and operations read and written, flushes, the furthest write, the invalid and
failed requests, with QEMU's member names (the times are the runs' own; vireo-vmm does not
merge requests, so its *_merged counts stay 0 where QEMU's grow). `info blockstats` prints
the same counters. query-nodes lists the drive's node.
"""
import os
import re
import subprocess
import sys
import tempfile
import time

from vmmlib import Qmp, Tap

tap = Tap()
check = tap.check
COUNTS = ["rd_bytes", "wr_bytes", "unmap_bytes", "rd_operations", "wr_operations",
          "flush_operations", "unmap_operations", "wr_highest_offset",
          "failed_rd_operations", "failed_wr_operations", "failed_flush_operations",
          "failed_unmap_operations", "invalid_rd_operations", "invalid_wr_operations",
          "invalid_flush_operations", "invalid_unmap_operations"]


def run(prefix, elf, tmp, tag):
    disk = os.path.join(tmp, tag + ".raw")
    with open(disk, "wb") as f:
        f.truncate(8 << 20)
    log = os.path.join(tmp, tag + ".log")
    sock = os.path.join(tmp, tag + ".qmp")
    p = subprocess.Popen(prefix + ["-nodefaults", "-display", "none", "-m", "128M", "-kernel", elf,
                                   "-append", "tests=blk", "-serial", f"file:{log}", "-S",
                                   "-no-shutdown", "-drive",
                                   f"file={disk},format=raw,if=none,id=drive0,node-name=disk0",
                                   "-device", "virtio-blk-pci,drive=drive0,id=blk0",
                                   "-qmp", f"unix:{sock},server=on,wait=off"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    q = Qmp(sock)
    before = q.cmd("query-blockstats")["return"]
    q.cmd("cont")
    end = time.monotonic() + 120
    done = False
    while time.monotonic() < end and not done:
        time.sleep(0.5)
        with open(log) as f:  # the guest's TAP plan: every blk test, the in-flight ones too
            done = re.search(r"^1\.\.\d+", f.read(), re.M) is not None
    time.sleep(0.5)  # the last request's completion is counted after the guest saw it
    after = q.cmd("query-blockstats")["return"]
    nodes = q.cmd("query-blockstats", {"query-nodes": True})["return"]
    text = q.cmd("human-monitor-command", {"command-line": "info blockstats"})["return"]
    q.cmd("quit")
    p.wait(timeout=30)
    return {"before": before, "after": after, "nodes": nodes, "text": text, "done": done,
            "log": open(log).read() if os.path.exists(log) else ""}


def main():
    elf, vireo = sys.argv[1], sys.argv[2]
    qemu = ["qemu-system-x86_64", "-enable-kvm", "-M", "microvm,acpi=on,pcie=on"]
    with tempfile.TemporaryDirectory() as tmp:
        v = run([vireo], elf, tmp, "vireo")
        q = run(qemu, elf, tmp, "qemu")
    check(v["done"] and q["done"],
          "the guest's virtio-blk tests ran to the end under both", v["log"][-2000:])
    vb, qb = v["before"][0], q["before"][0]
    check(all(vb["stats"][k] == 0 for k in COUNTS) and "idle_time_ns" not in vb["stats"],
          "before the guest runs: every counter 0, no idle time yet", vb)
    check(vb["device"] == qb["device"] == "drive0" and vb.get("node-name") == "disk0",
          "each entry names its device and node", (vb, qb))
    missing = sorted(set(qb["stats"]) - set(vb["stats"]))
    check(not missing, "vireo-vmm's stats have every member QEMU's have", missing)
    vs, qs = v["after"][0]["stats"], q["after"][0]["stats"]
    for k in COUNTS:
        check(vs[k] == qs[k], f"after the guest's I/O: {k} as QEMU counts it",
              f"vireo-vmm {vs[k]}, qemu {qs[k]}")
    check(vs["rd_operations"] > 0 and vs["wr_operations"] > 0 and vs["rd_total_time_ns"] > 0
          and vs.get("idle_time_ns", 0) > 0, "reads and writes were timed; idle time now counts",
          vs)
    check(len(v["nodes"]) == 1 and v["nodes"][0].get("node-name") == "disk0" and
          "device" not in v["nodes"][0] and v["nodes"][0]["stats"]["rd_bytes"] == vs["rd_bytes"],
          "query-nodes: the drive's node, without a device", v["nodes"])
    want = "drive0: rd_bytes=%d wr_bytes=%d rd_operations=%d wr_operations=%d " \
           "flush_operations=%d " % (qs["rd_bytes"], qs["wr_bytes"], qs["rd_operations"],
                                     qs["wr_operations"], qs["flush_operations"])
    check(v["text"].startswith(want) and q["text"].startswith(want),
          "info blockstats prints the counters in QEMU's line", (v["text"], q["text"]))
    return tap.report()


if __name__ == "__main__":
    sys.exit(main())
