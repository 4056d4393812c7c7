#!/usr/bin/python3
"""<cputune> schedulers through vireod (issue #16): <vcpusched>, <iothreadsched> and
<emulatorsched> set on the right threads at start, on hot-plugged vCPUs and on an I/O thread
added live, each checked with the kernel's answer (sched_getscheduler/sched_getparam on the
thread ids of /proc/PID/task) rather than with what the daemon says.

Usage: test-daemon-sched.py VIREOD VIREO_VMM TEST_GUEST_ELF VSH

Part one runs on the host's cgroups: batch and idle on chosen threads, the others left at
SCHED_OTHER (a hot-plugged vCPU or a new I/O thread does not keep the policy it inherits from
the emulator thread that made it); the definition's errors are libvirt's (the stock virsh on
its test:///default driver says the same line); a priority out of the host's range and a
real-time policy the host refuses (with real-time group scheduling, a v1 cpu group's
cpu.rt_runtime_us is 0) fail the start in one line naming the thread, leaving no VMM and no
group behind. Part two re-runs the script in a private mount namespace without cgroups, where
the threads stay in this process's cpu group: fifo and rr with their priorities are set.
"""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import Daemon, Tap, domain_xml, skip_all, wait_for  # noqa: E402

if len(sys.argv) == 5 and os.access("/dev/kvm", os.R_OK | os.W_OK) and shutil.which("virsh"):
    # part two first, in its own mount namespace without cgroups; its TAP lines are ours
    script = "mount --make-rprivate / && umount -R /sys/fs/cgroup && exec \"$@\""
    r = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", sys.executable,
                        os.path.abspath(__file__)] + sys.argv[1:] + ["nocgroups"],
                       capture_output=True, text=True, timeout=600)
    PART_TWO = r.stdout + r.stderr
else:
    PART_TWO = None

VIREOD, VMM, GUEST, VSH = sys.argv[1:5]
NO_CGROUPS = len(sys.argv) > 5
GUEST = os.path.abspath(GUEST)
t = Tap()
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("no /dev/kvm")
if not shutil.which("virsh"):
    skip_all("no virsh")

NAMES = {os.SCHED_OTHER: "other", os.SCHED_BATCH: "batch", os.SCHED_IDLE: "idle",
         os.SCHED_FIFO: "fifo", os.SCHED_RR: "rr"}
d = Daemon(VIREOD, VMM, VSH)
names = []  # the emulator threads of the last roles(): "tid comm: policy"


def define(name, cputune, vcpu="<vcpu current='1'>3</vcpu>", iothreads=2,
           cmdline="tests=none"):
    xml = domain_xml(name, GUEST, cmdline).replace(
        "<vcpu>1</vcpu>", "%s\n  <iothreads>%d</iothreads>\n  <cputune>\n%s  </cputune>" %
        (vcpu, iothreads, cputune))
    return d.virsh("define", d.write(name + ".xml", xml)), xml


def threads(pid):
    """{tid: comm} of a process."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            out[int(tid)] = open("/proc/%d/task/%s/comm" % (pid, tid)).read().strip()
        except OSError:
            pass
    return out


def policy(tid):
    """'fifo/1', 'batch', 'other'... as the kernel has it."""
    try:
        p = os.sched_getscheduler(tid) & ~getattr(os, "SCHED_RESET_ON_FORK", 0x40000000)
        prio = os.sched_getparam(tid).sched_priority
    except OSError:
        return None
    return NAMES.get(p, str(p)) + ("/%d" % prio if p in (os.SCHED_FIFO, os.SCHED_RR) else "")


def roles(pid, iothread_tids):
    """{role: policy}: 'vcpuN', 'iothreadN' and 'emulator' (the set of the others')."""
    out, emu = {}, set()
    names.clear()
    by_tid = {tid: "iothread%d" % i for i, tid in iothread_tids.items()}
    for tid, comm in threads(pid).items():
        if comm.startswith("CPU ") and comm.endswith("/KVM"):
            out["vcpu" + comm[4:-4]] = policy(tid)
        elif tid in by_tid:
            out[by_tid[tid]] = policy(tid)
        elif comm.startswith("kvm-"):
            # KVM's own worker (kvm-nx-lpage-recovery), made at the first KVM_RUN by the
            # kernel, not by the VMM: not one of its threads for libvirt either
            continue
        else:
            emu.add(policy(tid))
            names.append("%s %s: %s" % (tid, comm, policy(tid)))
    out["emulator"] = ",".join(sorted(x for x in emu if x))
    return out


def iothread_tids(name):
    """{id: tid}: query-iothreads through the daemon (qemu-monitor-command)."""
    r = d.virsh("qemu-monitor-command", name, '{"execute":"query-iothreads"}')
    out = {}
    if r.returncode == 0:
        for it in json.loads(r.stdout).get("return", []):
            out[int(it["id"].replace("iothread", ""))] = it["thread-id"]
    return out


def cgroup_dir(name):
    base = "/sys/fs/cgroup/cpu"
    for root, dirs, _ in os.walk(base):
        if name + ".vireo" in dirs:
            return os.path.join(root, name + ".vireo")
    return None


def part_one():
    # libvirt's checks of the definition, the same line as the stock virsh's test driver
    cases = [
        ("<vcpusched vcpus='0-1' scheduler='fifo'/>", "Missing required attribute 'priority'"),
        ("<vcpusched vcpus='0-1' scheduler='fifo' priority='1'/>"
         "<vcpusched vcpus='1' scheduler='rr' priority='2'/>", "must not overlap"),
        ("<vcpusched vcpus='0' scheduler='other'/>", "Invalid value for attribute 'scheduler'"),
        ("<vcpusched vcpus='5' scheduler='idle'/>", "is not present in domain definition"),
        ("<iothreadsched iothreads='3' scheduler='batch'/>", "Cannot find 'iothread' : 3"),
        ("<iothreadsched iothreads='1-2' scheduler='batch'/>"
         "<iothreadsched iothreads='2' scheduler='idle'/>", "must not overlap"),
        ("<emulatorsched scheduler='rr'/>", "Missing required attribute 'priority'"),
        ("<emulatorsched scheduler='idle'/><emulatorsched scheduler='batch'/>",
         "only one emulatorsched is supported"),
        ("<vcpusched scheduler='idle'/>", "Missing attribute 'vcpus'"),
    ]
    env = dict(os.environ, LC_ALL="C")
    for i, (sched, words) in enumerate(cases):
        r, xml = define("bad%d" % i, "    %s\n" % sched, vcpu="<vcpu>2</vcpu>")
        ref = subprocess.run(["virsh", "-q", "-c", "test:///default", "define",
                              d.write("ref%d.xml" % i, xml.replace("type='kvm'", "type='test'"))],
                             capture_output=True, text=True, env=env, timeout=60)
        ours = [x for x in r.stderr.splitlines() if x.startswith("error:")][-1:]
        theirs = [x for x in ref.stderr.splitlines() if x.startswith("error:")][-1:]
        t.ok(r.returncode != 0 and ours == theirs and words in r.stderr,
             "%s: refused with libvirt's line" % sched, (ours, theirs))

    # batch and idle on chosen threads; the others at SCHED_OTHER
    tune = ("    <vcpusched vcpus='1' scheduler='idle'/>\n"
            "    <iothreadsched iothreads='2' scheduler='idle' priority='7'/>\n"
            "    <emulatorsched scheduler='batch'/>\n")
    r, _ = define("sch", tune, cmdline="tests=cpuhp cpuhp_count=2 cpuhp_wait_s=600")
    t.ok(r.returncode == 0, "define: vCPU 1 idle, IOThread 2 idle, the emulator batch", r.stderr)
    xml = d.virsh("dumpxml", "sch").stdout
    t.ok("<emulatorsched scheduler='batch'/>\n    <vcpusched vcpus='1' scheduler='idle'/>\n"
         "    <iothreadsched iothreads='2' scheduler='idle'/>" in xml,
         "dumpxml: libvirt's order, no priority for idle", xml)
    r = d.virsh("start", "sch")
    t.ok(r.returncode == 0, "start", r.stderr + d.vmm_log("sch"))
    pid = d.vmm_pid("sch")
    its = iothread_tids("sch") if pid else {}
    got = roles(pid, its) if pid else {}
    t.ok(got == {"vcpu0": "other", "iothread1": "other", "iothread2": "idle",
                 "emulator": "batch"},
         "after start: IOThread 2 idle, the emulator's threads batch, vCPU 0 and IOThread 1 "
         "other", str(got) + "\n" + "\n".join(names))
    wait_for(lambda: "cpuhp: ready" in d.console_log("sch"), 300)
    r = d.virsh("setvcpus", "sch", "3", "--live", timeout=300)
    got = roles(pid, its) if pid else {}
    t.ok(r.returncode == 0 and got.get("vcpu1") == "idle" and got.get("vcpu2") == "other" and
         got.get("vcpu0") == "other" and got.get("emulator") == "batch",
         "setvcpus 3 --live: plugged vCPU 1 idle, vCPU 2 other (not the emulator's batch)",
         r.stderr + str(got))
    r = d.vsh("iothreadadd", "sch", "3", "--live")
    its = iothread_tids("sch")
    got = roles(pid, its)
    t.ok(r.returncode == 0 and got.get("iothread3") == "other" and
         got.get("iothread2") == "idle" and got.get("emulator") == "batch",
         "iothreadadd 3 --live: the new thread other (not the emulator's batch)",
         r.stderr + str(got))
    r = d.virsh("iothreaddel", "sch", "3", "--live")
    r = d.virsh("iothreaddel", "sch", "2", "--live")
    xml = d.virsh("dumpxml", "sch").stdout
    t.ok(r.returncode == 0 and "iothreadsched" not in xml and
         "<vcpusched vcpus='1' scheduler='idle'/>" in xml,
         "iothreaddel 2 --live: its <iothreadsched> goes with it", r.stderr + xml)
    d.virsh("destroy", "sch")

    # refusals at start: one line naming the thread, nothing left behind
    define("prio", "    <vcpusched vcpus='0' scheduler='fifo' priority='500'/>\n")
    r = d.virsh("start", "prio")
    t.ok(r.returncode != 0 and "Scheduler priority 500 out of range [1, 99]" in r.stderr and
         d.vmm_pid("prio") is None, "priority 500: refused with libvirt's line", r.stderr)
    define("rt", "    <vcpusched vcpus='0' scheduler='fifo' priority='1'/>\n")
    r = d.virsh("start", "--paused", "rt")
    rt_budget = os.path.exists("/sys/fs/cgroup/cpu/cpu.rt_runtime_us")
    t.diag(r.stderr.strip())
    if rt_budget:
        lines = [x for x in r.stderr.splitlines() if x.strip()]
        t.ok(r.returncode != 0 and "Cannot set scheduler parameters for pid" in r.stderr and
             "(vCPU 0)" in r.stderr and "vcpu0/cpu.rt_runtime_us is 0" in r.stderr and
             len(lines) <= 2,
             "fifo in a vcpu0 group without a real-time budget: the start fails naming the "
             "thread and the budget", r.stderr)
        t.ok(d.vmm_pid("rt") is None and "shut off" in d.state("rt") and
             cgroup_dir("rt") is None, "... no VMM and no group left", d.state("rt"))
    else:
        pid = d.vmm_pid("rt")
        got = roles(pid, {}) if pid else {}
        t.ok(r.returncode == 0 and got.get("vcpu0") == "fifo/1",
             "no real-time group scheduling here: fifo/1 on vCPU 0", r.stderr + str(got))
        d.virsh("destroy", "rt")


def part_two():
    tune = ("    <vcpusched vcpus='0' scheduler='fifo' priority='1'/>\n"
            "    <iothreadsched iothreads='1' scheduler='rr' priority='2'/>\n"
            "    <emulatorsched scheduler='fifo' priority='3'/>\n")
    r, _ = define("rtok", tune, vcpu="<vcpu>2</vcpu>")
    r = d.virsh("start", "--paused", "rtok")
    pid = d.vmm_pid("rtok")
    its = iothread_tids("rtok") if pid else {}
    got = roles(pid, its) if pid else {}
    t.ok(r.returncode == 0 and got == {"vcpu0": "fifo/1", "vcpu1": "other",
                                       "iothread1": "rr/2", "iothread2": "other",
                                       "emulator": "fifo/3"},
         "without cgroups: vCPU 0 fifo/1, IOThread 1 rr/2, the emulator fifo/3, the rest other",
         r.stderr + str(got))
    out = subprocess.run(["chrt", "-p", str(pid)], capture_output=True, text=True).stdout
    t.ok("SCHED_FIFO" in out and "priority: 3" in out, "chrt -p agrees on the main thread", out)
    d.virsh("destroy", "rtok")


try:
    d.start()
    if NO_CGROUPS:
        part_two()
    else:
        part_one()
        t.ok(PART_TWO is not None and "\nok " in "\n" + PART_TWO,
             "part two ran in a mount namespace without cgroups", PART_TWO)
        for line in (PART_TWO or "").splitlines():
            if line.startswith("ok ") or line.startswith("not ok "):
                t.ok(line.startswith("ok "), "(no cgroups) " + line.split(" - ", 1)[-1])
            elif line.startswith("#"):
                t.diag(line[1:].strip())
finally:
    d.stop()
t.done()
