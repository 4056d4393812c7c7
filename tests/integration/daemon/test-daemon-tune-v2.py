#!/usr/bin/python3
"""vireod's cgroup v2 writer on a real cgroup2 hierarchy (issue #16).

Usage: test-daemon-tune-v2.py VIREOD VIREO_VMM TEST_GUEST_ELF

The test re-runs itself in a private mount namespace (unshare -m) where /sys/fs/cgroup is
one cgroup2 mount and nothing else, so the daemon it starts there finds a v2-only host
whatever the machine has. On a host whose controllers are bound to v1 hierarchies (this
project's build machines) the cgroup2 hierarchy has none of cpu, cpuset or memory: the
test then checks the layout (the domain group as the root of a threaded subtree, each vCPU
thread in its threaded vcpuN group, the others in emulator), placement by affinity, the
refusals of what needs a missing controller, and the removal at destroy. Where cpu is
available (a v2 host), it also checks cpu_shares live in cpu.weight.
"""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import Daemon, Tap, domain_xml, skip_all  # noqa: E402

if len(sys.argv) == 4:  # outside: into a private mount namespace, /sys/fs/cgroup as cgroup2
    script = ("mount --make-rprivate / && umount -R /sys/fs/cgroup && "
              "mount -t cgroup2 none /sys/fs/cgroup && exec \"$@\"")
    os.execvp("unshare", ["unshare", "-m", "sh", "-c", script, "sh", sys.executable,
                          os.path.abspath(__file__)] + sys.argv[1:] + ["inner"])

VIREOD, VMM, GUEST = sys.argv[1:4]
GUEST = os.path.abspath(GUEST)
t = Tap()
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("no /dev/kvm")
if not shutil.which("virsh"):
    skip_all("no virsh")
NCPU = os.cpu_count() or 1
LAST = str(NCPU - 1)
d = Daemon(VIREOD, VMM)
names = []
CG = "/sys/fs/cgroup"


def read(path):
    try:
        return open(path).read().strip()
    except OSError:
        return None


def define(name, extra, vcpus=2):
    names.append(name)
    xml = domain_xml(name, GUEST, "tests=none").replace(
        "<vcpu>1</vcpu>", "<vcpu>%d</vcpu>\n%s" % (vcpus, extra))
    return d.virsh("define", d.write(name + ".xml", xml))


def thread_group(pid, tid):
    for line in open("/proc/%d/task/%d/cgroup" % (pid, tid)):
        if line.startswith("0::"):
            return line.strip()[3:]
    return None


def main():
    mounts = [line.split() for line in open("/proc/self/mountinfo")]
    kinds = set(m[m.index("-") + 1] for m in mounts if "-" in m)
    t.ok("cgroup2" in kinds and "cgroup" not in kinds,
         "the private namespace has cgroup2 only", kinds)
    ctrls = (read(CG + "/cgroup.controllers") or "").split()
    t.diag("cgroup2 controllers here: %s" % (" ".join(ctrls) or "none"))
    d.start()
    r = define("v2", "<cputune>\n    <vcpupin vcpu='1' cpuset='%s'/>\n  </cputune>\n" % LAST)
    r = d.virsh("start", "--paused", "v2")
    t.ok(r.returncode == 0, "start a pinned domain", r.stderr)
    pid = d.vmm_pid("v2")
    tids = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        comm = read("/proc/%d/task/%s/comm" % (pid, tid)) or ""
        if comm.startswith("CPU ") and comm.endswith("/KVM"):
            tids[int(comm[4:-4])] = int(tid)
    groups = {tid: thread_group(pid, tid) for tid in map(int, os.listdir("/proc/%d/task" % pid))}
    dom = groups[tids[0]].rsplit("/", 1)[0]
    t.ok(dom.startswith("/machine/") and dom.endswith("/v2.vireo"),
         "the domain's group: machine/.../NAME.vireo", groups)
    t.ok(all(groups[tids[i]] == dom + "/vcpu%d" % i for i in tids) and
         all(g == dom + "/emulator" for tid, g in groups.items() if tid not in tids.values()),
         "each vCPU thread in its vcpuN group, the others in emulator", groups)
    t.ok(read(CG + dom + "/vcpu0/cgroup.type") == "threaded" and
         read(CG + dom + "/emulator/cgroup.type") == "threaded" and
         read(CG + dom + "/cgroup.type") == "domain threaded",
         "vcpuN and emulator are threaded groups under the domain's (a threaded root)",
         read(CG + dom + "/cgroup.type"))
    t.ok(set(map(int, (read(CG + dom + "/vcpu1/cgroup.threads") or "").split())) == {tids[1]},
         "cgroup.threads of vcpu1 is the vCPU 1 thread", read(CG + dom + "/vcpu1/cgroup.threads"))
    allowed = [x.split()[1] for x in open("/proc/%d/task/%d/status" % (pid, tids[1]))
               if x.startswith("Cpus_allowed_list:")][0]
    t.ok(allowed == LAST, "the <vcpupin> applied (Cpus_allowed_list)", allowed)
    if "cpu" in ctrls:
        r = d.virsh("schedinfo", "v2", "--live", "cpu_shares=300")
        t.ok(r.returncode == 0 and read(CG + dom + "/cpu.weight") == "300",
             "schedinfo --live cpu_shares=300: cpu.weight", r.stdout + r.stderr)
    else:
        r = d.virsh("schedinfo", "v2")
        t.ok(r.returncode != 0 and "cgroup CPU controller is not mounted" in r.stderr,
             "schedinfo without a cpu controller: libvirt's line", r.stderr)
        define("v2shares", "<cputune>\n    <shares>2048</shares>\n  </cputune>\n")
        r = d.virsh("start", "v2shares")
        t.ok(r.returncode != 0 and "CPU tuning is not available on this host" in r.stderr and
             d.vmm_pid("v2shares") is None,
             "<shares> without a cpu controller: the start refused in one line", r.stderr)
    if "memory" not in ctrls:
        define("v2mem", "  <memtune>\n    <hard_limit unit='MiB'>256</hard_limit>\n"
               "  </memtune>\n")
        r = d.virsh("start", "v2mem")
        t.ok(r.returncode != 0 and "Memory cgroup is not available on this host" in r.stderr,
             "<memtune> without a memory controller: refused in one line", r.stderr)
    r = d.virsh("destroy", "v2")
    t.ok(r.returncode == 0 and not os.path.exists(CG + dom),
         "destroy removes the groups", os.path.exists(CG + dom))


try:
    main()
except Exception as e:
    t.ok(False, "the test ran to its end", repr(e))
finally:
    if t.failed:
        d.dump_log()
    d.cleanup(names)
t.done()
