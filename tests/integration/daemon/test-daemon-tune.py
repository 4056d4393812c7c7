#!/usr/bin/python3
"""CPU placement through vireod (issue #16): the openEuler guide's tuning walk-through with
the stock virsh and vsh on a 4-vCPU domain, checked against the kernel's view.

Usage: test-daemon-tune.py VIREOD VIREO_VMM TEST_GUEST_ELF VSH

What is checked, each against /proc and the cgroup files rather than against what the daemon
says: the vCPU threads' names; one group per domain with emulator and vcpuN sub-groups holding
exactly the right threads; schedinfo's cpu_shares (default, --live gone after a restart,
--config with every period and quota 0 applied at the next start); emulatorpin and vcpupin
(--live at once in Cpus_allowed_list and cpuset.cpus, --config with the guide's '^' form shown
canonical after the next start); vcpuinfo; <cputune> applied before the guest first runs
(a 4-vCPU SMP guest pinned vCPU by vCPU runs its SMP test); <vcpu cpuset=> as the affinity of the
vCPUs without their own <vcpupin> and of the emulator; the groups removed at destroy, at
a VMM crash and when a restarted daemon finds the VMM gone; and the one-line refusals (a CPU
the host lacks, a vCPU that does not exist, live changes of a shut-off domain).
"""
import os
import shutil
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import Daemon, Tap, domain_xml, skip_all, wait_for  # noqa: E402

VIREOD, VMM, GUEST, VSH = sys.argv[1:5]
GUEST = os.path.abspath(GUEST)
t = Tap()
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("no /dev/kvm")
if not shutil.which("virsh"):
    skip_all("no virsh")

NCPU = os.cpu_count() or 1
LAST = str(NCPU - 1)  # the guide pins to 2-3 on its host; here the host's last CPU
ALL = "0" if NCPU == 1 else "0-%d" % (NCPU - 1)
d = Daemon(VIREOD, VMM, VSH)
names = []


def define(name, cmdline="tests=none", cputune="", vcpus=4):
    names.append(name)
    xml = domain_xml(name, GUEST, cmdline)
    xml = xml.replace("<vcpu>1</vcpu>", "<vcpu>%d</vcpu>\n%s" % (vcpus, cputune))
    return d.virsh("define", d.write(name + ".xml", xml))


def read(path):
    try:
        return open(path).read().strip()
    except OSError:
        return None


def threads(pid):
    """{tid: comm} of a process."""
    out = {}
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            out[int(tid)] = read("/proc/%d/task/%s/comm" % (pid, tid))
    except OSError:
        pass
    return out


def allowed(pid, tid):
    for line in open("/proc/%d/task/%d/status" % (pid, tid)):
        if line.startswith("Cpus_allowed_list:"):
            return line.split()[1]
    return None


def expand(cpulist):
    """{0, 2, 3} from "0,2-3"."""
    out = set()
    for part in cpulist.split(","):
        a, _, b = part.partition("-")
        out.update(range(int(a), int(b or a) + 1))
    return out


def vcpu_tids(pid):
    """tid of each vCPU by index, from the threads' names (CPU N/KVM)."""
    out = {}
    for tid, comm in threads(pid).items():
        if comm and comm.startswith("CPU ") and comm.endswith("/KVM"):
            out[int(comm[4:-4])] = tid
    return out


class Groups:
    """Where a process's groups are: v1 (a hierarchy per controller) or v2."""

    def __init__(self, pid):
        self.v1 = {}
        self.v2 = None
        for line in open("/proc/%d/cgroup" % pid):
            _, ctrls, path = line.strip().split(":", 2)
            for c in ctrls.split(","):
                if c:
                    self.v1[c] = path
            if ctrls == "":
                self.v2 = path
        self.version = 1 if "cpu" in self.v1 else 2

    def domain_dir(self, ctrl="cpu"):
        if self.version == 1:
            path = self.v1[ctrl]
            base = "/sys/fs/cgroup/" + ("cpu,cpuacct" if ctrl == "cpu" and
                                        os.path.isdir("/sys/fs/cgroup/cpu,cpuacct") else ctrl)
            if not os.path.isdir(base + path):
                base = "/sys/fs/cgroup/" + ctrl
        else:
            path = self.v2
            base = "/sys/fs/cgroup"
        full = base + path
        return full[:-len("/emulator")] if full.endswith("/emulator") else full

    def file(self, ctrl, sub, name):
        v1 = {"cpu.shares": "cpu.shares"}
        v2 = {"cpu.shares": "cpu.weight"}
        fname = (v1 if self.version == 1 else v2).get(name, name)
        return os.path.join(self.domain_dir(ctrl), sub or "", fname)

    def members(self, sub):
        f = "tasks" if self.version == 1 else "cgroup.threads"
        text = read(os.path.join(self.domain_dir("cpu"), sub, f)) or ""
        return set(int(x) for x in text.split())


def loud(tool, *args):
    """A command without -q: the headers the guide shows."""
    cmd = ["virsh", "-c", d.uri] if tool == "virsh" else [VSH, "-c", d.vsh_uri]
    return subprocess.run(cmd + list(args), env=d.env, capture_output=True, text=True,
                          timeout=60)


def both(*args, quiet=True):
    """The same command with virsh and vsh: (virsh's result, whether vsh printed the same)."""
    a = d.virsh(*args) if quiet else loud("virsh", *args)
    b = d.vsh(*args) if quiet else loud("vsh", *args)
    return a, (a.returncode, a.stdout, a.stderr.strip()) == (b.returncode, b.stdout,
                                                              b.stderr.strip()), b


def sched(args):
    r = d.virsh("schedinfo", *args)
    vals = {}
    for line in r.stdout.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            vals[k.strip()] = v.strip()
    return r, vals


def restart(name):
    d.virsh("destroy", name)
    return d.virsh("start", "--paused", name)


def main():
    d.start()
    r = define("tune")
    t.ok(r.returncode == 0, "define a 4-vCPU domain", r.stderr)
    r, same, _ = both("schedinfo", "--live", "tune")
    t.ok(r.returncode != 0 and "domain is not running" in r.stderr and same,
         "schedinfo --live of a shut-off domain: libvirt's line, vsh alike", r.stderr)
    r = d.virsh("start", "--paused", "tune")
    t.ok(r.returncode == 0, "start (paused: the checks below need no guest code)", r.stderr)
    pid = d.vmm_pid("tune")
    tids = vcpu_tids(pid)
    t.ok(sorted(tids) == [0, 1, 2, 3], "the vCPU threads are named 'CPU N/KVM'", threads(pid))
    g = Groups(pid)
    dom = g.domain_dir()
    t.diag("cgroup v%d, domain group %s" % (g.version, dom))
    t.ok(dom.endswith("/tune.vireo") and "/machine" in dom,
         "one group per domain: machine/.../NAME.vireo", dom)
    ok = all(g.members("vcpu%d" % i) == {tids[i]} for i in range(4))
    t.ok(ok, "each vCPU thread alone in its vcpuN group",
         {i: g.members("vcpu%d" % i) for i in range(4)})
    others = set(threads(pid)) - set(tids.values())
    t.ok(g.members("emulator") == others, "every other thread in emulator",
         (g.members("emulator"), others))

    # schedinfo, as the guide prints it
    r, vals = sched(["tune"])
    shares_file = g.file("cpu", None, "cpu.shares")
    t.ok(r.returncode == 0 and vals.get("cpu_shares") == read(shares_file) and
         (g.version == 2 or vals.get("cpu_shares") == "1024"),
         "schedinfo: cpu_shares as the group says (1024 on v1)", r.stdout + r.stderr)
    r, same, b = both("schedinfo", "tune")
    t.ok(same, "vsh schedinfo prints what virsh prints", r.stdout + b.stdout)
    r, vals = sched(["tune", "--live", "cpu_shares=2048"])
    t.ok(r.returncode == 0 and vals.get("cpu_shares") == "2048" and read(shares_file) == "2048",
         "schedinfo --live cpu_shares=2048: in the group at once", r.stdout + r.stderr)
    r = d.vsh("schedinfo", "tune", "--live", "vcpu_quota=50000")
    quota = read(g.file("cpu", "vcpu2", "cpu.cfs_quota_us")) if g.version == 1 else \
        (read(g.file("cpu", "vcpu2", "cpu.max")) or "").split(" ")[0]
    t.ok(r.returncode == 0 and "vcpu_quota     : 50000" in r.stdout and quota == "50000",
         "vsh schedinfo --live vcpu_quota=50000: every vcpuN group's quota", r.stdout + r.stderr)
    r, vals = sched(["tune", "--config"])
    t.ok(vals.get("cpu_shares") == "0", "the live share is not in the config", r.stdout)
    r = restart("tune")
    pid = d.vmm_pid("tune")
    g = Groups(pid)
    shares_file = g.file("cpu", None, "cpu.shares")
    r, vals = sched(["tune"])
    t.ok(vals.get("cpu_shares") == read(shares_file) and vals.get("cpu_shares") != "2048",
         "the --live share is gone after a restart", r.stdout)
    r, vals = sched(["tune", "--config", "cpu_shares=2048"])
    zeros = all(vals.get(k) == "0" for k in ("vcpu_period", "vcpu_quota", "emulator_period",
                                             "emulator_quota", "global_period", "global_quota"))
    t.ok(r.returncode == 0 and vals.get("cpu_shares") == "2048" and zeros,
         "schedinfo --config cpu_shares=2048: the share, every period and quota 0", r.stdout)
    t.ok(read(shares_file) != "2048", "--config leaves the running VM alone", read(shares_file))
    xml = d.virsh("dumpxml", "--inactive", "tune").stdout
    t.ok("<shares>2048</shares>" in xml, "the definition has <cputune><shares>", xml)

    # emulatorpin and vcpupin: --config now, seen after the next start
    r, same, b = both("emulatorpin", "tune", quiet=False)
    t.ok(r.stdout == "emulator: CPU Affinity\n----------------------------------\n"
         "       *: %s\n\n" % ALL and same, "emulatorpin: the guide's table, vsh alike",
         r.stdout + b.stdout + r.stderr)
    r, same, b = both("vcpupin", "tune", quiet=False)
    want = " VCPU   CPU Affinity\n----------------------\n" + \
        "".join(" %d      %s\n" % (i, ALL) for i in range(4)) + "\n"
    t.ok(r.stdout == want and same, "vcpupin: the VCPU / CPU Affinity table, vsh alike",
         r.stdout + b.stdout + r.stderr)
    r = d.virsh("emulatorpin", "tune", "--config", "0-%s,^%s" % (LAST, LAST))
    t.ok(r.returncode == 0, "emulatorpin --config with the guide's '^' form", r.stderr)
    r = d.vsh("vcpupin", "tune", "--config", "0", "0-%s,^0" % LAST)
    t.ok(r.returncode == 0, "vsh vcpupin --config 0 with the '^' form", r.stderr)
    r = d.virsh("emulatorpin", "tune", "--config")
    cfg_emu = "0" if NCPU > 1 else ALL
    t.ok(r.stdout == "%s\n" % cfg_emu, "emulatorpin --config shows it canonical", r.stdout)
    pid = d.vmm_pid("tune")
    t.ok(allowed(pid, pid) == ALL, "... and leaves the running emulator alone", allowed(pid, pid))

    r = restart("tune")
    t.ok(r.returncode == 0, "restart", r.stderr)
    pid = d.vmm_pid("tune")
    tids = vcpu_tids(pid)
    g = Groups(pid)
    vcpu0 = LAST if NCPU > 1 else ALL
    t.ok(allowed(pid, pid) == cfg_emu and allowed(pid, tids[0]) == vcpu0 and
         allowed(pid, tids[1]) == ALL,
         "after the start: the emulator and vCPU 0 placed as configured (Cpus_allowed_list)",
         (allowed(pid, pid), allowed(pid, tids[0])))
    r, vals = sched(["tune"])
    t.ok(vals.get("cpu_shares") == "2048" and read(g.file("cpu", None, "cpu.shares")) == "2048",
         "after the start: the --config share is in the group", r.stdout)
    if g.version == 1 or os.path.exists(g.file("cpuset", "vcpu0", "cpuset.cpus")):
        t.ok(read(g.file("cpuset", "vcpu0", "cpuset.cpus")) == vcpu0 and
             read(g.file("cpuset", "emulator", "cpuset.cpus")) == cfg_emu,
             "... and in the vcpu0 and emulator groups' cpuset.cpus",
             read(g.file("cpuset", "vcpu0", "cpuset.cpus")))
    r, same, b = both("emulatorpin", "tune", quiet=False)
    t.ok(("       *: %s\n" % cfg_emu) in r.stdout and same, "emulatorpin shows it live, vsh alike",
         r.stdout + b.stdout)

    # --live: at once, in the kernel
    r = d.virsh("emulatorpin", "tune", "--live", LAST)
    emu_threads = set(threads(pid)) - set(tids.values())
    t.ok(r.returncode == 0 and all(allowed(pid, x) == LAST for x in emu_threads),
         "emulatorpin --live: every emulator thread's Cpus_allowed_list", r.stderr)
    r = d.vsh("vcpupin", "tune", "--live", "2", LAST)
    t.ok(r.returncode == 0 and allowed(pid, tids[2]) == LAST and allowed(pid, tids[3]) == ALL,
         "vsh vcpupin --live 2: that vCPU thread only", r.stderr)
    if g.version == 1 or os.path.exists(g.file("cpuset", "vcpu2", "cpuset.cpus")):
        t.ok(read(g.file("cpuset", "vcpu2", "cpuset.cpus")) == LAST,
             "... and its group's cpuset.cpus", read(g.file("cpuset", "vcpu2", "cpuset.cpus")))
    r, same, b = both("vcpuinfo", "tune")
    blocks = r.stdout.strip().split("\n\n")
    ok = len(blocks) == 4 and same
    for i, blk in enumerate(blocks):
        aff = [x for x in blk.splitlines() if x.startswith("CPU Affinity:")]
        cpus = expand(allowed(pid, tids[i])) if i in tids else set()
        want_aff = "".join("y" if c in cpus else "-" for c in range(NCPU))
        ok = ok and bool(aff) and aff[0].split()[-1] == want_aff
    t.ok(ok, "vcpuinfo: 4 vCPUs, affinities as the kernel has them, vsh alike",
         r.stdout + b.stdout + r.stderr)
    xml = d.virsh("dumpxml", "tune").stdout
    t.ok("<vcpupin vcpu='2' cpuset='%s'/>" % LAST in xml and
         "<emulatorpin cpuset='%s'/>" % LAST in xml, "the live XML shows the live pins", xml)

    # refusals: one line each, nothing changed
    r = d.virsh("vcpupin", "tune", "--live", "9", "0")
    t.ok(r.returncode != 0 and "vcpu 9 is out of range" in r.stderr,
         "vcpupin of a vCPU the domain lacks", r.stderr)
    r = d.virsh("vcpupin", "tune", "--live", "0", str(NCPU + 5))
    t.ok(r.returncode != 0 and "exceed the maxcpu" in r.stderr and
         allowed(pid, tids[0]) == vcpu0, "vcpupin to a CPU the host lacks: refused", r.stderr)
    r = d.virsh("schedinfo", "tune", "--live", "vcpu_period=10")
    t.ok(r.returncode != 0 and "out of range" in r.stderr, "a period out of range", r.stderr)
    r = d.virsh("schedinfo", "tune", "--live", "iothread_quota=2000")
    t.ok(r.returncode != 0 and "I/O threads" in r.stderr,
         "iothread_quota: refused, not stored", r.stderr)
    bad = "<cputune>\n    <vcpupin vcpu='0' cpuset='%d'/>\n  </cputune>\n" % (NCPU + 5)
    define("badpin", cputune=bad)
    r = d.virsh("start", "badpin")
    t.ok(r.returncode != 0 and
         "Invalid value '%d' for 'cpuset.cpus': Invalid argument" % (NCPU + 5) in r.stderr and
         d.vmm_pid("badpin") is None and "shut off" in d.state("badpin"),
         "a <vcpupin> to a CPU the host lacks: the start refused in one line", r.stderr)
    r = define("sched", cputune="<cputune>\n    <cachetune vcpus='0'>\n      <cache id='0' "
               "level='3' type='both' size='1' unit='MiB'/>\n    </cachetune>\n  </cputune>\n")
    r = d.virsh("start", "sched")
    t.ok(r.returncode != 0 and "<cputune><cachetune>" in r.stderr,
         "<cachetune> (not applied): refused at start, never silently dropped", r.stderr)

    # memtune: <memtune> at start, --live into the memory group, --config into the definition
    define("mem", cputune="  <memtune>\n    <hard_limit unit='MiB'>512</hard_limit>\n"
           "  </memtune>\n", vcpus=1)
    r = d.virsh("start", "--paused", "mem")
    mpid = d.vmm_pid("mem")
    mg = Groups(mpid) if mpid else None
    v2 = mg and mg.version == 2
    hard_f = mg.file("memory", None, "memory.max" if v2 else "memory.limit_in_bytes") if mg else ""
    soft_f = mg.file("memory", None, "memory.high" if v2 else "memory.soft_limit_in_bytes") \
        if mg else ""
    t.ok(r.returncode == 0 and read(hard_f) == str(512 << 20),
         "<memtune><hard_limit> applied at start (the memory group's limit)",
         r.stderr + str(read(hard_f)))
    r, same, b = both("memtune", "mem")
    t.ok(r.stdout.startswith("hard_limit     : 524288\nsoft_limit     : unlimited\n") and same,
         "memtune: the limits in force, vsh alike", r.stdout + b.stdout + r.stderr)
    r = d.virsh("memtune", "mem", "--live", "--soft-limit", "300000")
    t.ok(r.returncode == 0 and read(soft_f) == str(300000 << 10),
         "memtune --live --soft-limit: in the group at once", r.stderr + str(read(soft_f)))
    r = d.vsh("memtune", "mem", "--config", "--swap-hard-limit", "1G")
    r2 = d.virsh("memtune", "mem", "--config")
    t.ok(r.returncode == 0 and "swap_hard_limit: 1048576" in r2.stdout and
         "soft_limit     : unlimited" in r2.stdout,
         "vsh memtune --config --swap-hard-limit 1G: the definition only", r.stderr + r2.stdout)
    r = d.virsh("memtune", "mem", "--live", "--hard-limit", "2000000", "--swap-hard-limit",
                "1000000")
    t.ok(r.returncode != 0 and "hard_limit tunable value must be lower than or equal to "
         "swap_hard_limit" in r.stderr and read(hard_f) == str(512 << 20),
         "a hard limit above the swap limit: refused, nothing changed", r.stderr)
    d.virsh("destroy", "mem")
    define("memg", cputune="  <memtune>\n    <min_guarantee unit='MiB'>32</min_guarantee>\n"
           "  </memtune>\n", vcpus=1)
    r = d.virsh("start", "memg")
    t.ok(r.returncode != 0 and "Parameter 'min_guarantee' not supported by QEMU." in r.stderr,
         "<min_guarantee>: refused at start with libvirt's line", r.stderr)

    # numatune: strict to the host's node 0 in cpuset.mems; what cannot be applied refused
    define("numa", cputune="  <numatune>\n    <memory mode='strict' nodeset='0'/>\n"
           "  </numatune>\n", vcpus=2)
    r = d.virsh("start", "--paused", "numa")
    npid = d.vmm_pid("numa")
    ng = Groups(npid) if npid else None
    mems = [x.split()[1] for x in open("/proc/%d/status" % npid)
            if x.startswith("Mems_allowed_list:")] if npid else []
    t.ok(r.returncode == 0 and mems == ["0"], "<numatune> strict nodeset 0: Mems_allowed_list",
         r.stderr + str(mems))
    if ng and (ng.version == 1 or os.path.exists(ng.file("cpuset", None, "cpuset.mems"))):
        t.ok(read(ng.file("cpuset", None, "cpuset.mems")) == "0" and
             read(ng.file("cpuset", "vcpu1", "cpuset.mems")) == "0",
             "... and the groups' cpuset.mems", read(ng.file("cpuset", None, "cpuset.mems")))
    r, same, b = both("numatune", "numa")
    t.ok(r.stdout == "numa_mode      : strict\nnuma_nodeset   : 0\n" and same,
         "numatune: the mode and the nodeset in force, vsh alike", r.stdout + b.stdout + r.stderr)
    r = d.vsh("numatune", "numa", "--live", "--nodeset", "0")
    t.ok(r.returncode == 0, "vsh numatune --live --nodeset 0", r.stderr)
    r = d.virsh("numatune", "numa", "--live", "--nodeset", "7")
    t.ok(r.returncode != 0 and "Invalid value '7' for 'cpuset.mems'" in r.stderr and
         read(ng.file("cpuset", None, "cpuset.mems")) == "0",
         "numatune --live to a node the host lacks: refused, nothing changed", r.stderr)
    r = d.virsh("numatune", "numa", "--live", "--mode", "interleave")
    t.ok(r.returncode != 0 and "can't change numatune mode for running domain" in r.stderr,
         "numatune --live --mode: libvirt's refusal", r.stderr)
    r = d.vsh("numatune", "numa", "--config", "--mode", "restrictive")
    r2 = d.virsh("numatune", "numa", "--config")
    t.ok(r.returncode == 0 and "numa_mode      : restrictive" in r2.stdout,
         "vsh numatune --config --mode restrictive: the definition", r.stderr + r2.stdout)
    d.virsh("destroy", "numa")
    define("numabad", cputune="  <numatune>\n    <memory mode='strict' nodeset='7'/>\n"
           "  </numatune>\n", vcpus=1)
    r = d.virsh("start", "numabad")
    t.ok(r.returncode != 0 and "NUMA node 7 is unavailable" in r.stderr and
         d.vmm_pid("numabad") is None, "a NUMA node the host lacks: refused in one line",
         r.stderr)
    define("numail", cputune="  <numatune>\n    <memory mode='interleave' nodeset='0'/>\n"
           "  </numatune>\n", vcpus=1)
    r = d.virsh("start", "--paused", "numail")
    ipid = d.vmm_pid("numail")
    maps = open("/proc/%d/numa_maps" % ipid).read() if ipid else ""
    t.ok(r.returncode == 0 and "interleave:0" in maps,
         "mode interleave: guest RAM's memory backend interleaves over node 0 (numa_maps)",
         r.stderr + maps[-2000:])
    d.virsh("destroy", "numail")

    # the groups go with the VMM: crash, destroy, a restarted daemon
    dom = g.domain_dir()
    os.kill(pid, signal.SIGKILL)
    t.ok(wait_for(lambda: not os.path.exists(dom), 30), "a crashed VMM's groups are removed",
         dom)
    r = d.virsh("start", "--paused", "tune")
    pid = d.vmm_pid("tune")
    dom = Groups(pid).domain_dir()
    d.stop()
    t.ok(os.path.isdir(dom), "a daemon that exits leaves the running VM's groups", dom)
    d.start()
    r, vals = sched(["tune"])
    t.ok(vals.get("cpu_shares") == "2048", "the restarted daemon reads the live values", r.stdout)
    r = d.vsh("vcpupin", "tune", "--live", "1", LAST)
    t.ok(r.returncode == 0 and allowed(pid, vcpu_tids(pid)[1]) == LAST,
         "... and pins the vCPUs it found again", r.stderr)
    d.stop()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not os.path.exists("/proc/%d" % pid), 10)
    d.start()
    t.ok(wait_for(lambda: not os.path.exists(dom), 30) and "shut off" in d.state("tune"),
         "a VMM that died while the daemon was down: its groups removed at reattach", dom)

    # applied before the guest runs: an SMP guest, each vCPU pinned, runs its test
    pins = "".join("    <vcpupin vcpu='%d' cpuset='%d'/>\n" % (i, i % NCPU) for i in range(4))
    define("smp", "tests=smp cpus=4",
           "<cputune>\n    <shares>512</shares>\n%s  </cputune>\n" % pins)
    r = d.virsh("start", "smp")
    t.ok(r.returncode == 0, "start a pinned 4-vCPU guest running its SMP test", r.stderr)
    done = re.compile(r"^(ok|not ok) \d+ - smp: \d+ CPUs running", re.M)
    wait_for(lambda: done.search(d.console_log("smp")), 240, 0.2)
    log = d.console_log("smp")
    t.ok(re.search(r"^ok \d+ - smp: 4 CPUs running", log, re.M) and "not ok" not in log,
         "its SMP test sees the 4 vCPUs running, each pinned", log[-2000:])
    pid = d.vmm_pid("smp")
    smp_dom = Groups(pid).domain_dir() if pid else "?"
    t.ok(pid and all(allowed(pid, tid) == str(i % NCPU) for i, tid in vcpu_tids(pid).items()),
         "... pinned as <vcpupin> says", smp_dom)
    d.virsh("destroy", "smp")
    t.ok(not os.path.exists(smp_dom) and smp_dom.endswith("smp.vireo"),
         "its groups are gone after destroy", smp_dom)
    r = d.virsh("destroy", "tune")

    # <vcpu cpuset=>: the default of every vCPU without its own <vcpupin>, and of the emulator
    # without <emulatorpin>; the threads' real affinity, as libvirt places them
    names.append("cpuset")
    xml = domain_xml("cpuset", GUEST, "tests=none").replace(
        "<vcpu>1</vcpu>", "<vcpu cpuset='%s'>2</vcpu>\n<cputune>\n    <vcpupin vcpu='0' "
        "cpuset='0'/>\n  </cputune>\n" % LAST)
    r = d.virsh("define", d.write("cpuset.xml", xml))
    t.ok(r.returncode == 0, "define a 2-vCPU domain with <vcpu cpuset='%s'>" % LAST, r.stderr)
    r = d.virsh("start", "--paused", "cpuset")
    t.ok(r.returncode == 0, "<vcpu cpuset=> is honoured at start", r.stderr)
    pid = d.vmm_pid("cpuset")
    tids = vcpu_tids(pid) if pid else {}
    got = {i: allowed(pid, tid) for i, tid in tids.items()}
    t.ok(sorted(tids) == [0, 1] and got[1] == LAST and got[0] == "0",
         "vCPU 1 has the cpuset (%s), vCPU 0 its own <vcpupin> (0)" % LAST, got)
    t.ok(pid and allowed(pid, pid) == LAST, "the emulator has the cpuset too",
         pid and allowed(pid, pid))
    xml = d.virsh("dumpxml", "cpuset").stdout
    t.ok("cpuset='%s'>2</vcpu>" % LAST in xml, "the live XML keeps <vcpu cpuset=>", xml)
    d.virsh("destroy", "cpuset")


try:
    main()
except Exception as e:  # a crash of the test is a failure, with the daemon's log
    t.ok(False, "the test ran to its end", repr(e))
    d.dump_log()
finally:
    if t.failed:
        d.dump_log()
    d.cleanup(names)
t.done()
