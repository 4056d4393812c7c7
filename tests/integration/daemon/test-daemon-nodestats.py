#!/usr/bin/python3
"""The host's figures through vireod with the stock virsh (issue #16): freecell, nodememstats,
nodecpustats and nodecpumap against /proc/meminfo, /proc/stat and /sys, and their refusals.

Usage: test-daemon-nodestats.py VIREOD VIREO_VMM

Free memory and CPU times move while the test reads them: each figure is checked between a
reading of the kernel's file taken before the call and one taken after (CPU times, which
only grow), or within a tenth of them (free memory, which moves both ways).
"""
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import Daemon, Tap, skip_all  # noqa: E402

VIREOD, VMM = sys.argv[1:3]
t = Tap()
if not shutil.which("virsh"):
    skip_all("no virsh")
d = Daemon(VIREOD, VMM)


def meminfo(key):
    for line in open("/proc/meminfo"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return None


def stat(cpu):
    """(kernel, user, idle, iowait) in ns from /proc/stat's line for cpu ("cpu" or "cpu1")."""
    hz = os.sysconf("SC_CLK_TCK")
    for line in open("/proc/stat"):
        f = line.split()
        if f[0] == cpu:
            v = [int(x) for x in f[1:8]]
            ns = 10**9 // hz
            return ((v[2] + v[5] + v[6]) * ns, (v[0] + v[1]) * ns, v[3] * ns, v[4] * ns)
    return None


def near(v, a, b):
    lo, hi = min(a, b), max(a, b)
    return lo * 0.9 <= v <= hi * 1.1


def cells():
    try:
        return sorted(int(n[4:]) for n in os.listdir("/sys/devices/system/node")
                      if re.fullmatch(r"node\d+", n))
    except OSError:
        return [0]


def main():
    d.start()
    before = meminfo("MemFree")
    r = d.virsh("freecell")
    after = meminfo("MemFree")
    m = re.fullmatch(r"Total: (\d+) KiB\n", r.stdout)
    t.ok(m and near(int(m.group(1)), before, after), "freecell: the host's MemFree",
         (r.stdout, r.stderr, before, after))
    r = d.virsh("freecell", "--all")
    rows = re.findall(r"^\s*(\d+):\s+(\d+) KiB$", r.stdout, re.M)
    t.ok(r.returncode == 0 and [int(c) for c, _ in rows] == (cells() or [0]) and
         all(int(v) > 0 for _, v in rows), "freecell --all: one row per NUMA cell, none 0",
         r.stdout + r.stderr)
    r = d.virsh("freecell", "0")
    m = re.fullmatch(r"0: (\d+) KiB\n", r.stdout)
    t.ok(m and int(m.group(1)) > 0, "freecell 0", r.stdout + r.stderr)
    last = (cells() or [0])[-1]
    r = d.virsh("freecell", str(last + 3))
    t.ok(r.returncode != 0 and "start cell %d out of range (0-%d)" % (last + 3, last) in r.stderr,
         "freecell of a cell the host lacks: libvirt's line", r.stderr)

    r = d.virsh("nodememstats")
    vals = dict(re.findall(r"^(\w+)\s*:\s+(\d+) KiB$", r.stdout, re.M))
    t.ok(sorted(vals) == ["buffers", "cached", "free", "total"] and
         int(vals["total"]) == meminfo("MemTotal"), "nodememstats: total is MemTotal",
         r.stdout + r.stderr)
    r = d.virsh("nodememstats", "0")
    vals = dict(re.findall(r"^(\w+)\s*:\s+(\d+) KiB$", r.stdout, re.M))
    t.ok(sorted(vals) == ["free", "total"] and int(vals["total"]) > 0,
         "nodememstats 0: the cell's total and free", r.stdout + r.stderr)
    r = d.virsh("nodememstats", str(last + 3))
    t.ok(r.returncode != 0 and "cellNum in virHostMemGetStats" in r.stderr,
         "nodememstats of a cell the host lacks: refused", r.stderr)

    for cpu, arg in (("cpu", []), ("cpu0", ["0"])):
        a = stat(cpu)
        r = d.virsh("nodecpustats", *arg)
        b = stat(cpu)
        vals = dict(re.findall(r"^(\w+):\s+(\d+)$", r.stdout, re.M))
        got = [int(vals.get(k, -1)) for k in ("system", "user", "idle", "iowait")]
        t.ok(all(a[i] <= got[i] <= b[i] for i in range(4)),
             "nodecpustats %s: the kernel's times, between two readings" % " ".join(arg),
             (r.stdout, r.stderr, a, b))
    ncpu = os.cpu_count()
    r = d.virsh("nodecpustats", str(ncpu + 5))
    t.ok(r.returncode != 0 and "Invalid cpuNum" in r.stderr, "nodecpustats of a CPU the host lacks",
         r.stderr)
    r = d.virsh("nodecpumap")
    online = open("/sys/devices/system/cpu/online").read().strip()
    t.ok(r.returncode == 0 and "CPUs online:    %d" % ncpu in r.stdout,
         "nodecpumap: the online CPUs (%s)" % online, r.stdout + r.stderr)


try:
    main()
except Exception as e:
    t.ok(False, "the test ran to its end", repr(e))
finally:
    if t.failed:
        d.dump_log()
    d.cleanup()
t.done()
