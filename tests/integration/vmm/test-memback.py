#!/usr/bin/env python3
"""Memory backing: -overcommit mem-lock, -M mem-merge, memory-backend-memfd (share, seal,
hugetlb), prealloc-threads and discard-data under vireo-vmm, checked through /proc.

Usage: test-memback.py VMM GUEST_ELF

Each case starts vireo-vmm paused (-S) with 64 MiB of RAM and reads the guest RAM mapping
(vireo-vmm logs where it is at VIREO_LOG=debug) in /proc/PID/smaps, maps and status:
  - memory-backend-memfd (as -M memory-backend=, libvirt's form without NUMA cells, or as
    a -numa node's memdev): the mapping is "/memfd:ID", shared (MAP_SHARED, "s") by default
    and private with share=off; seal=on (the default) leaves F_SEAL_GROW|SHRINK|SEAL on the
    file (read through /proc/PID/map_files), seal=off none; QEMU 7.2 with the same backend
    (-M memory-backend=) is checked alike;
  - -overcommit mem-lock=on: VmLck in /proc/PID/status covers guest RAM (QEMU's alike),
    and without it VmLck is 0;
  - mem-merge=on / off on a memfd backend: the "mg" VmFlag present / absent;
  - prealloc=on,prealloc-threads=4: the mapping's Rss is all of it; without prealloc it is
    not;
  - discard-data=on on a shared memory-backend-file in /dev/shm: after vireo-vmm exits
    (SIGTERM) the file holds no blocks; with discard-data=off it keeps them;
  - bad options refused with one line (QEMU's wording where QEMU has one).
Prints TAP.
"""
import fcntl
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmmlib import Tap  # noqa: E402

VMM, GUEST = sys.argv[1], sys.argv[2]
QEMU = "qemu-system-x86_64"
M = 1 << 20
SIZE = 64 * M
SEALS = fcntl.F_SEAL_GROW | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_SEAL
tap = Tap()
# AddressSanitizer intercepts mlockall() as a no-op (its shadow memory cannot be locked): in
# such a build mem-lock's effect cannot be seen, only that the option is taken.
ASAN = b"__asan_init" in open(VMM, "rb").read()


def vmas(pid):
    """(start, end, perms, path, block) of each mapping in /proc/PID/smaps."""
    out = []
    for block in re.split(r"\n(?=[0-9a-f]+-[0-9a-f]+ )", open("/proc/%d/smaps" % pid).read()):
        m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+ *(.*)", block)
        if m:
            out.append((int(m.group(1), 16), int(m.group(2), 16), m.group(3), m.group(4),
                        block))
    return out


def field(block, name):
    m = re.search(r"^%s:\s+(\d+) kB" % name, block, re.M)
    return int(m.group(1)) * 1024 if m else 0


def inspect(pid, lo, hi):
    """What the guest RAM range [lo, hi) looks like: its VMAs' paths, whether all are
    shared, the VmFlags all have, the Rss, the seals of its file, VmLck."""
    paths, shared, flags, rss, covered, seals = set(), True, None, 0, 0, None
    for start, end, perms, path, block in vmas(pid):
        if end <= lo or start >= hi:
            continue
        covered += min(end, hi) - max(start, lo)
        paths.add(path.replace(" (deleted)", ""))
        shared = shared and perms[3] == "s"
        f = re.search(r"^VmFlags:(.*)$", block, re.M)
        vf = set(f.group(1).split()) if f else set()
        flags = vf if flags is None else flags & vf
        rss += field(block, "Rss")
        if path.startswith("/memfd:") and seals is None:
            try:
                fd = os.open("/proc/%d/map_files/%x-%x" % (pid, start, end), os.O_RDONLY)
                seals = fcntl.fcntl(fd, fcntl.F_GET_SEALS)
                os.close(fd)
            except OSError as e:
                seals = "error: %s" % e
    status = open("/proc/%d/status" % pid).read()
    lck = int(re.search(r"^VmLck:\s+(\d+) kB", status, re.M).group(1)) * 1024
    return dict(covered=covered == hi - lo, paths=sorted(paths), shared=shared,
                flags=sorted(flags or []), rss=rss, seals=seals, lck=lck)


def run_vireo(opts, machine="", stop=signal.SIGKILL):
    """Starts vireo-vmm -S -M microvm+machine with opts, inspects its guest RAM, stops it
    with stop."""
    args = [VMM, "-M", "microvm" + machine, "-nodefaults", "-display", "none", "-S", "-m", "64",
            "-kernel", GUEST] + shlex.split(opts)
    env = dict(os.environ, VIREO_LOG="debug")
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         env=env)
    log = []
    try:
        lo = hi = None
        for line in p.stderr:
            log.append(line)
            m = re.search(r"guest RAM: host (0x[0-9a-f]+)-(0x[0-9a-f]+)", line)
            if m:
                lo, hi = int(m.group(1), 16), int(m.group(2), 16)
            if "start-up: setting vCPU state" in line:
                break
        if lo is None or p.poll() is not None:
            return dict(error="".join(log[-5:]))
        return inspect(p.pid, lo, hi)
    finally:
        p.send_signal(stop)
        try:
            p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def run_qemu(opts):
    """QEMU 7.2 paused with opts: its memfd RAM mapping (or, without one, the first 64 MiB
    anonymous mapping) inspected as vireo-vmm's."""
    args = [QEMU, "-enable-kvm", "-M", "microvm,memory-backend=m0", "-nodefaults",
            "-display", "none", "-S", "-m", "64", "-kernel", GUEST, "-qmp", "stdio"] + \
        shlex.split(opts)
    p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        p.stdout.readline()  # the QMP greeting, before the machine is made
        p.stdin.write('{"execute": "qmp_capabilities"}\n{"execute": "query-status"}\n')
        p.stdin.flush()
        while "running" not in p.stdout.readline():  # query-status: the machine is made
            pass
        for start, end, _, path, _ in vmas(p.pid):
            if end - start >= SIZE and (path.startswith("/memfd:") or path == ""):
                return inspect(p.pid, start, start + SIZE)
        return dict(error="no guest RAM mapping found")
    finally:
        p.kill()
        p.communicate()


# memfd: named, shared and sealed by default, as QEMU's
memfd = run_vireo("-object memory-backend-memfd,id=m0,size=64M", ",memory-backend=m0")
tap.check(memfd.get("covered") and memfd["paths"] == ["/memfd:m0"] and memfd["shared"],
          "memory-backend-memfd: guest RAM is a shared /memfd: mapping", memfd)
tap.check(memfd.get("seals") == SEALS, "memory-backend-memfd: sealed (grow, shrink, seal)",
          memfd)
q = run_qemu("-object memory-backend-memfd,id=m0,size=64M")
tap.check(q.get("covered") and q["paths"][0].startswith("/memfd:") and q["shared"] and
          q["seals"] == memfd.get("seals"), "QEMU's memfd backend is shared and sealed alike",
          q)
priv = run_vireo("-object memory-backend-memfd,id=m0,size=64M,share=off,seal=off "
                 "-numa node,memdev=m0")
# (a memfd made without MFD_ALLOW_SEALING carries F_SEAL_SEAL alone: the kernel's)
tap.check(priv.get("covered") and priv["paths"] == ["/memfd:m0"] and not priv["shared"] and
          priv["seals"] == fcntl.F_SEAL_SEAL,
          "memory-backend-memfd,share=off,seal=off: private, not sealed against resizing", priv)

# -overcommit mem-lock
locked = run_vireo("-overcommit mem-lock=on")
tap.check(locked.get("covered") and (ASAN or locked["lck"] >= SIZE),
          "-overcommit mem-lock=on: VmLck covers guest RAM%s" % (" (not seen: ASan)" * ASAN),
          locked)
tap.check(locked.get("covered") and (ASAN or locked["rss"] == SIZE),
          "-overcommit mem-lock=on: guest RAM is resident%s" % (" (not seen: ASan)" * ASAN),
          locked)
unlocked = run_vireo("-overcommit mem-lock=off")
tap.check(unlocked.get("lck") == 0, "-overcommit mem-lock=off: nothing locked", unlocked)
q = run_qemu("-object memory-backend-ram,id=m0,size=64M -overcommit mem-lock=on")
tap.check(q.get("lck", 0) >= SIZE, "QEMU's -overcommit mem-lock=on locks guest RAM alike", q)

# mem-merge on a private memfd backend follows -M (KSM merges private pages only: the kernel
# takes no MADV_MERGEABLE on a shared mapping, under QEMU as here)
merged = run_vireo("-object memory-backend-memfd,id=m0,size=64M,share=off "
                   "-numa node,memdev=m0", ",mem-merge=on")
unmerged = run_vireo("-object memory-backend-memfd,id=m0,size=64M,share=off",
                     ",mem-merge=off,memory-backend=m0")
tap.check("mg" in merged.get("flags", []), "mem-merge=on: memfd RAM is MADV_MERGEABLE (mg)",
          merged)
tap.check(unmerged.get("covered") and "mg" not in unmerged["flags"],
          "mem-merge=off: memfd RAM is not MADV_MERGEABLE", unmerged)

# prealloc-threads
pre = run_vireo("-object memory-backend-memfd,id=m0,size=64M,prealloc=on,prealloc-threads=4 "
                "-numa node,memdev=m0")
tap.check(pre.get("rss") == SIZE, "prealloc=on,prealloc-threads=4: all of RAM resident", pre)
tap.check(memfd.get("rss", SIZE) < SIZE, "without prealloc: RAM is not all resident", memfd)

# discard-data: the shared file's pages are dropped when vireo-vmm exits
shm = tempfile.mkdtemp(prefix="vireo-memback-", dir="/dev/shm")
for discard in ("on", "off"):
    path = os.path.join(shm, "ram-" + discard)
    r = run_vireo("-object memory-backend-file,id=m0,size=64M,mem-path=%s,share=on,"
                  "prealloc=on,discard-data=%s -numa node,memdev=m0" % (path, discard),
                  stop=signal.SIGTERM)
    blocks = os.stat(path).st_blocks * 512 if os.path.exists(path) else -1
    if discard == "on":
        tap.check(r.get("rss") == SIZE and blocks == 0,
                  "discard-data=on: the file's pages are dropped at exit",
                  "%s blocks %d" % (r, blocks))
    else:
        tap.check(r.get("rss") == SIZE and blocks >= SIZE,
                  "discard-data=off: the file keeps its pages", "%s blocks %d" % (r, blocks))
    if os.path.exists(path):
        os.unlink(path)
os.rmdir(shm)


def first_error(vmm, opts):
    cmd = shlex.split(vmm) + ["-M", "microvm", "-nodefaults", "-display", "none", "-m", "64M",
                              "-kernel", GUEST, "-S"] + shlex.split(opts)
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    try:
        _, err = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
        return None, ["still running: " + err]
    return p.returncode, [l for l in err.splitlines() if "warning" not in l]


# Refusals: one line; QEMU's message where QEMU refuses it too (None: vireo-vmm's own).
BAD = [
    ("-overcommit mem-lock=maybe", "Parameter 'mem-lock' expects 'on' or 'off'"),
    ("-overcommit bogus=on", "Invalid parameter 'bogus'"),
    ("-overcommit cpu-pm=on", None, "cpu-pm=on is not supported by vireo-vmm"),
    ("-object memory-backend-ram,id=m0,size=64M,seal=on -numa node,memdev=m0",
     "Invalid parameter 'seal'"),
    ("-object memory-backend-ram,id=m0,size=64M,discard-data=on -numa node,memdev=m0",
     "Invalid parameter 'discard-data'"),
    ("-object memory-backend-memfd,id=m0,size=64M,hugetlb=on,hugetlbsize=1G "
     "-numa node,memdev=m0", None, "memory backend 'm0': cannot"),
    ("-object memory-backend-memfd,id=m0,size=64M,prealloc-threads=0 -numa node,memdev=m0",
     None, "prealloc-threads"),
    ("-object memory-backend-memfd,id=m0,size=32M -M microvm,memory-backend=m0",
     "Machine memory size does not match the size of the memory backend"),
]
for bad in BAD:
    opts, qmsg = bad[0], bad[1]
    vrc, vlines = first_error(VMM, opts)
    want = qmsg if qmsg else bad[2]
    good = vrc not in (0, None) and len(vlines) == 1 and want in vlines[0]
    if qmsg:
        qrc, qlines = first_error(QEMU + " -enable-kvm", opts.replace(
            "-numa node,memdev=m0", "-M microvm,memory-backend=m0"))
        good = good and qrc not in (0, None) and any(qmsg in l for l in qlines)
    else:
        qlines = None
    tap.check(good, "refused in one line: %s" % opts, "vireo (%s): %s\nqemu: %s" %
              (vrc, vlines, qlines))
sys.exit(tap.report())
