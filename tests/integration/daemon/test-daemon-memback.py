#!/usr/bin/python3
"""<memoryBacking> locked, nosharepages, memfd, shared access, immediate allocation and
discard through vireod and the stock virsh (issue #16), checked on the running vireo-vmm
through /proc.

Usage: test-daemon-memback.py VIREOD VIREO_VMM TEST_GUEST_ELF

Each domain (64 MiB, the test guest with tests=none) is started paused and its VMM read:
  - <locked/>: VmLck in /proc/PID/status covers guest RAM and /proc/PID/limits shows
    RLIMIT_MEMLOCK unlimited; with <memtune><hard_limit> the limit is that (libvirt's rule;
    without CAP_SYS_RESOURCE, vireod's own hard limit);
  - <nosharepages/>: mem-merge=off on the VMM's -M, no "mg" VmFlag on guest RAM;
  - <source type='memfd'/> with <access mode='shared'/>: guest RAM is "/memfd:pc.ram",
    MAP_SHARED ("s" in maps); per cell: each cell's "/memfd:ram-nodeN", a cell with
    memAccess='private' MAP_PRIVATE;
  - <access mode='shared'/> on anonymous memory: guest RAM MAP_SHARED;
  - <allocation mode='immediate' threads='2'/>: all of guest RAM resident right after the
    start (Rss of the mapping), and not without it;
  - <source type='file'/>: guest RAM is the file pc.ram (ram-nodeN per cell) in ID-NAME under
    memory_backing_dir (DIR/lib/ram with --root, or qemu.conf's memory_backing_dir), of the
    guest's size, MAP_SHARED with <access mode='shared'/> (the guest's writes reach the file)
    and MAP_PRIVATE without; <discard/> is accepted there; the directory is gone once the VM
    stops, and after a start that fails;
  - refusals, in one line at start: <discard/> without a file behind guest RAM (anonymous,
    or memfd even from huge pages).
"""
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import Daemon, Tap, domain_xml, skip_all  # noqa: E402

VIREOD, VMM, GUEST = sys.argv[1:4]
GUEST = os.path.abspath(GUEST)
t = Tap()
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("no /dev/kvm")
if not shutil.which("virsh"):
    skip_all("no virsh")
d = Daemon(VIREOD, VMM)
MIB = 64
SIZE = MIB << 20
# AddressSanitizer intercepts mlockall() as a no-op (its shadow memory cannot be locked): in
# such a build VmLck stays 0, and only the limit and the argument are checked.
ASAN = b"__asan_init" in open(VMM, "rb").read()
LOCKED = 0 if ASAN else SIZE
names = []


def start(name, backing, extra="", vcpus=1, kernel=GUEST):
    """Defines and starts (paused) a domain with that <memoryBacking>; its VMM's pid or None,
    and virsh's result."""
    names.append(name)
    xml = domain_xml(name, kernel, "tests=none", memory_mib=MIB, extra=extra).replace(
        "<vcpu>1</vcpu>", "<vcpu>%d</vcpu>\n  <memoryBacking>\n%s  </memoryBacking>" %
        (vcpus, backing))
    r = d.virsh("define", d.write(name + ".xml", xml))
    if r.returncode != 0:
        return None, r
    r = d.virsh("start", "--paused", name)
    return (d.vmm_pid(name) if r.returncode == 0 else None), r


def vmas(pid):
    """(size, perms, path, VmFlags, Rss) of each mapping of pid."""
    out = []
    for block in re.split(r"\n(?=[0-9a-f]+-[0-9a-f]+ )", open("/proc/%d/smaps" % pid).read()):
        m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+ *(.*)", block)
        if not m:
            continue
        f = re.search(r"^VmFlags:(.*)$", block, re.M)
        rss = re.search(r"^Rss:\s+(\d+) kB", block, re.M)
        out.append((int(m.group(2), 16) - int(m.group(1), 16), m.group(3),
                    m.group(4).replace(" (deleted)", ""), set(f.group(1).split()) if f else set(),
                    int(rss.group(1)) * 1024 if rss else 0))
    return out


def ram(pid, path):
    """The mappings of guest RAM named path ("/memfd:...", "/dev/zero" for shared anonymous
    memory; the kernel may split one into several)."""
    return [x for x in vmas(pid) if x[2] == path]


def can_raise_limits():
    """Whether this process (and so vireod) has CAP_SYS_RESOURCE, which raising a hard
    RLIMIT_MEMLOCK needs."""
    cap = re.search(r"^CapEff:\s+([0-9a-f]+)", open("/proc/self/status").read(), re.M)
    return bool(int(cap.group(1), 16) >> 24 & 1)


def own_hard_memlock():
    for line in open("/proc/self/limits"):
        if line.startswith("Max locked memory"):
            return line.split()[4]
    return None


def status(pid, key):
    m = re.search(r"^%s:\s+(\d+) kB" % key, open("/proc/%d/status" % pid).read(), re.M)
    return int(m.group(1)) * 1024 if m else -1


def memlock_limit(pid):
    for line in open("/proc/%d/limits" % pid):
        if line.startswith("Max locked memory"):
            return line.split()[3]
    return None


def argv(pid):
    return open("/proc/%d/cmdline" % pid).read().split("\0")


def stop(name):
    d.virsh("destroy", name)


def main():
    d.start()
    # Without CAP_SYS_RESOURCE (a container) vireod cannot raise the hard limit: the VMM keeps
    # vireod's (raised to it) and locks under CAP_IPC_LOCK; the lock is checked either way.
    raise_ok = can_raise_limits()
    t.diag("CAP_SYS_RESOURCE: %s (vireod's hard RLIMIT_MEMLOCK %s)" % (raise_ok,
                                                                      own_hard_memlock()))
    # <locked/>: mlockall in the VMM, RLIMIT_MEMLOCK unlimited without a hard_limit
    pid, r = start("locked", "    <locked/>\n")
    t.ok(pid and "-overcommit" in argv(pid) and status(pid, "VmLck") >= LOCKED and
         memlock_limit(pid) == ("unlimited" if raise_ok else own_hard_memlock()),
         "<locked/>: VmLck covers guest RAM, RLIMIT_MEMLOCK unlimited (without "
         "CAP_SYS_RESOURCE: vireod's hard limit)",
         r.stderr if not pid else (status(pid, "VmLck"), memlock_limit(pid)))
    stop("locked")
    pid, r = start("lockedhl", "    <locked/>\n",
                   extra="  <memtune>\n    <hard_limit unit='MiB'>1024</hard_limit>\n"
                   "  </memtune>\n")
    t.ok(pid and status(pid, "VmLck") >= LOCKED and
         memlock_limit(pid) == (str(1 << 30) if raise_ok else own_hard_memlock()),
         "<locked/> with <hard_limit> 1 GiB: RLIMIT_MEMLOCK is 1 GiB, libvirt's rule "
         "(without CAP_SYS_RESOURCE: vireod's hard limit)",
         r.stderr if not pid else memlock_limit(pid))
    stop("lockedhl")
    pid, r = start("unlocked", "    <nosharepages/>\n")
    t.ok(pid and status(pid, "VmLck") == 0, "without <locked/> nothing is locked",
         r.stderr if not pid else status(pid, "VmLck"))

    # <nosharepages/>: mem-merge=off, guest RAM not MADV_MERGEABLE
    mm = [x for x in vmas(pid) if "mg" in x[3]] if pid else None
    t.ok(pid and any("mem-merge=off" in a for a in argv(pid)) and mm == [],
         "<nosharepages/>: -M mem-merge=off, no mapping of the VMM has the mg VmFlag",
         r.stderr if not pid else (argv(pid), mm))
    stop("unlocked")

    # memfd, shared
    pid, r = start("memfd", "    <source type='memfd'/>\n    <access mode='shared'/>\n")
    mm = ram(pid, "/memfd:pc.ram") if pid else []
    t.ok(mm and sum(x[0] for x in mm) == SIZE and all(x[1][3] == "s" for x in mm),
         "memfd + shared: guest RAM is /memfd:pc.ram, MAP_SHARED",
         r.stderr if not pid else vmas(pid)[:40])
    stop("memfd")

    # memfd per cell, one private
    pid, r = start("memfdcells", "    <source type='memfd'/>\n",
                   extra="  <cpu>\n    <numa>\n"
                   "      <cell id='0' cpus='0' memory='32' unit='MiB' memAccess='private'/>\n"
                   "      <cell id='1' cpus='1' memory='32' unit='MiB'/>\n"
                   "    </numa>\n  </cpu>\n", vcpus=2)
    c0 = ram(pid, "/memfd:ram-node0") if pid else []
    c1 = ram(pid, "/memfd:ram-node1") if pid else []
    t.ok(c0 and c1 and all(x[1][3] == "p" for x in c0) and all(x[1][3] == "s" for x in c1),
         "memfd per cell: /memfd:ram-node0 private (memAccess), /memfd:ram-node1 shared "
         "(memfd's default)", r.stderr if not pid else (c0, c1))
    stop("memfdcells")

    # shared anonymous memory
    pid, r = start("shared", "    <access mode='shared'/>\n")
    mm = ram(pid, "/dev/zero") if pid else []
    t.ok(sum(x[0] for x in mm if x[1][3] == "s") == SIZE,
         "<access mode='shared'/>: guest RAM MAP_SHARED", r.stderr if not pid else mm)
    stop("shared")

    # immediate allocation with threads, against on demand
    pid, r = start("immediate", "    <source type='memfd'/>\n"
                   "    <allocation mode='immediate' threads='2'/>\n")
    mm = ram(pid, "/memfd:pc.ram") if pid else []
    t.ok(mm and sum(x[4] for x in mm) == SIZE and
         any("prealloc-threads=2" in a for a in argv(pid)),
         "<allocation mode='immediate' threads='2'/>: all of guest RAM resident at start",
         r.stderr if not pid else mm)
    stop("immediate")
    pid, r = start("ondemand", "    <source type='memfd'/>\n"
                   "    <allocation mode='ondemand'/>\n")
    mm = ram(pid, "/memfd:pc.ram") if pid else []
    t.ok(mm and sum(x[4] for x in mm) < SIZE,
         "<allocation mode='ondemand'/>: guest RAM not all resident", r.stderr if not pid else mm)
    stop("ondemand")

    # file-backed: shared, with discard
    ramdir = os.path.join(d.root, "lib", "ram")
    pid, r = start("file", "    <source type='file'/>\n    <access mode='shared'/>\n"
                   "    <discard/>\n")
    dirs = os.listdir(ramdir) if os.path.isdir(ramdir) else []
    dom_dir = os.path.join(ramdir, dirs[0]) if len(dirs) == 1 else None
    path = os.path.join(dom_dir, "pc.ram") if dom_dir else None
    mm = ram(pid, path) if pid and path else []
    t.ok(pid and re.fullmatch(r"\d+-file", dirs[0]) and os.path.getsize(path) == SIZE and
         sum(x[0] for x in mm) == SIZE and all(x[1][3] == "s" for x in mm) and
         any("discard-data=on" in a for a in argv(pid)),
         "<source type='file'/> + shared + discard: guest RAM is ID-NAME/pc.ram under "
         "memory_backing_dir, of the guest's size, MAP_SHARED",
         r.stderr if not pid else (dirs, vmas(pid)[:40]))
    # the guest's memory is in the file: resume it, its kernel image and its writes land there
    if pid:
        d.virsh("resume", "file")
        before = open(path, "rb").read()
        t.ok(before.count(b"\0") < len(before), "the guest's memory shows in the shared file")
    stop("file")
    t.ok(not os.path.exists(dom_dir or "/nonexistent") and os.listdir(ramdir) == [],
         "the domain's memory directory is removed when the VM stops", os.listdir(ramdir))

    # file-backed, private, per cell
    pid, r = start("filecells", "    <source type='file'/>\n",
                   extra="  <cpu>\n    <numa>\n"
                   "      <cell id='0' cpus='0' memory='32' unit='MiB'/>\n"
                   "      <cell id='1' cpus='1' memory='32' unit='MiB' memAccess='shared'/>\n"
                   "    </numa>\n  </cpu>\n", vcpus=2)
    dirs = os.listdir(ramdir) if os.path.isdir(ramdir) else []
    dom_dir = os.path.join(ramdir, dirs[0]) if len(dirs) == 1 else "/nonexistent"
    c0 = ram(pid, os.path.join(dom_dir, "ram-node0")) if pid else []
    c1 = ram(pid, os.path.join(dom_dir, "ram-node1")) if pid else []
    t.ok(c0 and c1 and all(x[1][3] == "p" for x in c0) and all(x[1][3] == "s" for x in c1) and
         sorted(os.listdir(dom_dir)) == ["ram-node0", "ram-node1"],
         "file per cell: ram-node0 MAP_PRIVATE (the default), ram-node1 shared (memAccess)",
         r.stderr if not pid else (dirs, c0, c1))
    stop("filecells")
    t.ok(os.listdir(ramdir) == [], "and its directory goes when it stops", os.listdir(ramdir))

    # a start that fails after the directory was made (the VMM cannot load the guest's
    # kernel) leaves none behind
    pid, r = start("filebad", "    <source type='file'/>\n", kernel="/nonexistent/guest.elf")
    t.ok(pid is None and r.returncode != 0 and "/nonexistent/guest.elf" in r.stderr and
         os.listdir(ramdir) == [],
         "a start whose VMM fails leaves no memory directory", (r.stderr, os.listdir(ramdir)))

    # qemu.conf's memory_backing_dir moves it (a comma in the path: QEMU's ",," escape)
    other = os.path.join(d.tmp, "ram,dir")
    d.stop()
    d.args = ["-f", d.write("vireod.conf", 'memory_backing_dir = "%s"\n' % other)]
    d.start()
    pid, r = start("fileconf", "    <source type='file'/>\n")
    dirs = os.listdir(other) if os.path.isdir(other) else []
    mm = ram(pid, os.path.join(other, dirs[0], "pc.ram")) if pid and len(dirs) == 1 else []
    t.ok(sum(x[0] for x in mm) == SIZE and all(x[1][3] == "p" for x in mm),
         "memory_backing_dir in the configuration: guest RAM's file is there (MAP_PRIVATE "
         "without <access>)", r.stderr if not pid else (dirs, vmas(pid)[:40]))
    stop("fileconf")
    t.ok(os.listdir(other) == [], "and goes from there when the VM stops", os.listdir(other))

    # domcapabilities lists the source types honoured, as libvirt 9.0
    r = d.virsh("domcapabilities")
    caps = re.search(r"<memoryBacking supported='yes'>(.*?)</memoryBacking>", r.stdout, re.S)
    t.ok(caps and re.findall(r"<value>(\w+)</value>", caps.group(1)) ==
         ["file", "anonymous", "memfd"],
         "domcapabilities: memoryBacking supported, sourceType file, anonymous and memfd",
         r.stdout + r.stderr)

    # refusals
    pid, r = start("discard", "    <discard/>\n")
    t.ok(pid is None and r.returncode != 0 and
         "<discard/> applies to file-backed guest memory only" in r.stderr and
         "shut off" in d.state("discard"),
         "<discard/> without a file behind guest RAM: the start refused in one line", r.stderr)
    pid, r = start("memfdhp", "    <hugepages/>\n    <source type='memfd'/>\n    <discard/>\n")
    t.ok(pid is None and r.returncode != 0 and
         "<discard/> applies to file-backed guest memory only" in r.stderr,
         "memfd with <hugepages/> and <discard/>: refused in one line (no file)", r.stderr)


try:
    main()
except Exception as e:
    t.ok(False, "the test ran to its end", repr(e))
finally:
    if t.failed:
        d.dump_log()
    d.cleanup(names)
t.done()
