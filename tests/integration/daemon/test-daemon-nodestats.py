#!/usr/bin/python3
"""The host's figures through vireod with the stock virsh and vsh (issue #16): freecell,
nodememstats, nodecpustats, nodecpumap and node-memory-tune against /proc/meminfo, /proc/stat and /sys, and
their refusals; each command is run with both clients.

Usage: test-daemon-nodestats.py VIREOD VIREO_VMM VSH

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

VIREOD, VMM, VSH = sys.argv[1:4]
t = Tap()
if not shutil.which("virsh"):
    skip_all("no virsh")
d = Daemon(VIREOD, VMM, VSH)
CLIENTS = (("virsh", lambda *a: d.virsh(*a)), ("vsh", lambda *a: d.vsh(*a)))


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
    for who, run in CLIENTS:
        checks(who, run)
    r = d.virsh("nodecpumap", "--pretty")
    b = d.vsh("nodecpumap", "--pretty")
    t.ok(r.returncode == 0 and r.stdout == b.stdout, "vsh nodecpumap --pretty prints what virsh "
         "prints", r.stdout + b.stdout + r.stderr + b.stderr)
    # node-memory-tune (virsh only: vsh has no such command yet): KSM's files, one changed
    # and put back
    ksm = "/sys/kernel/mm/ksm/"
    r = d.virsh("node-memory-tune")
    vals = dict(re.findall(r"^\s+(shm_\w+)\s+(\d+)$", r.stdout, re.M))
    t.ok(vals.get("shm_pages_to_scan") == open(ksm + "pages_to_scan").read().strip() and
         vals.get("shm_sleep_millisecs") == open(ksm + "sleep_millisecs").read().strip() and
         "shm_full_scans" in vals, "node-memory-tune: KSM's settings and counters",
         r.stdout + r.stderr)
    old = open(ksm + "sleep_millisecs").read().strip()
    try:
        r = d.virsh("node-memory-tune", "--shm-sleep-millisecs", str(int(old) + 1))
        t.ok(r.returncode == 0 and open(ksm + "sleep_millisecs").read().strip() ==
             str(int(old) + 1), "node-memory-tune --shm-sleep-millisecs: written to KSM", r.stderr)
    finally:
        with open(ksm + "sleep_millisecs", "w") as f:
            f.write(old)
    r = d.virsh("freecell", "--all", "--cellno", "0")
    b = d.vsh("freecell", "--all", "--cellno", "0")
    t.ok(r.returncode != 0 and b.returncode != 0 and r.stderr == b.stderr,
         "freecell --all --cellno: refused alike", r.stderr + b.stderr)


def checks(who, run):
    before = meminfo("MemFree")
    r = run("freecell")
    after = meminfo("MemFree")
    m = re.fullmatch(r"Total: (\d+) KiB\n", r.stdout)
    t.ok(m and near(int(m.group(1)), before, after), who + " freecell: the host's MemFree",
         (r.stdout, r.stderr, before, after))
    r = run("freecell", "--all")
    rows = re.findall(r"^\s*(\d+):\s+(\d+) KiB$", r.stdout, re.M)
    t.ok(r.returncode == 0 and [int(c) for c, _ in rows] == (cells() or [0]) and
         all(int(v) > 0 for _, v in rows), who + " freecell --all: one row per NUMA cell, none 0",
         r.stdout + r.stderr)
    r = run("freecell", "0")
    m = re.fullmatch(r"0: (\d+) KiB\n", r.stdout)
    t.ok(m and int(m.group(1)) > 0, who + " freecell 0", r.stdout + r.stderr)
    last = (cells() or [0])[-1]
    r = run("freecell", str(last + 3))
    t.ok(r.returncode != 0 and "start cell %d out of range (0-%d)" % (last + 3, last) in r.stderr,
         who + " freecell of a cell the host lacks: libvirt's line", r.stderr)

    r = run("nodememstats")
    vals = dict(re.findall(r"^(\w+)\s*:\s+(\d+) KiB$", r.stdout, re.M))
    t.ok(sorted(vals) == ["buffers", "cached", "free", "total"] and
         int(vals["total"]) == meminfo("MemTotal"), who + " nodememstats: total is MemTotal",
         r.stdout + r.stderr)
    r = run("nodememstats", "0")
    vals = dict(re.findall(r"^(\w+)\s*:\s+(\d+) KiB$", r.stdout, re.M))
    t.ok(sorted(vals) == ["free", "total"] and int(vals["total"]) > 0,
         who + " nodememstats 0: the cell's total and free", r.stdout + r.stderr)
    r = run("nodememstats", str(last + 3))
    t.ok(r.returncode != 0 and "cellNum in virHostMemGetStats" in r.stderr,
         who + " nodememstats of a cell the host lacks: refused", r.stderr)

    for cpu, arg in (("cpu", []), ("cpu0", ["0"])):
        a = stat(cpu)
        r = run("nodecpustats", *arg)
        b = stat(cpu)
        vals = dict(re.findall(r"^(\w+):\s+(\d+)$", r.stdout, re.M))
        got = [int(vals.get(k, -1)) for k in ("system", "user", "idle", "iowait")]
        t.ok(all(a[i] <= got[i] <= b[i] for i in range(4)),
             who + " nodecpustats %s: the kernel's times, between two readings" % " ".join(arg),
             (r.stdout, r.stderr, a, b))
    ncpu = os.cpu_count()
    r = run("nodecpustats", str(ncpu + 5))
    t.ok(r.returncode != 0 and "Invalid cpuNum" in r.stderr,
         who + " nodecpustats of a CPU the host lacks", r.stderr)
    r = run("nodecpustats", "--percent")
    pct = dict(re.findall(r"^(\w+):\s+([\d.]+)%$", r.stdout, re.M))
    t.ok(sorted(pct) == ["idle", "iowait", "system", "usage", "user"] and
         abs(sum(float(pct[k]) for k in ("user", "system", "idle", "iowait")) - 100) < 1,
         who + " nodecpustats --percent: shares of a second that add up", r.stdout + r.stderr)
    r = run("nodecpumap")
    online = open("/sys/devices/system/cpu/online").read().strip()
    t.ok(r.returncode == 0 and "CPUs online:    %d" % ncpu in r.stdout and
         "CPU map:        " + "y" * ncpu in r.stdout,
         who + " nodecpumap: the online CPUs (%s)" % online, r.stdout + r.stderr)


try:
    main()
except Exception as e:
    t.ok(False, "the test ran to its end", repr(e))
finally:
    if t.failed:
        d.dump_log()
    d.cleanup()
t.done()
