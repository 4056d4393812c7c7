#!/usr/bin/env python3
"""setvcpus --live through vireod: vCPUs plugged into a running domain.

Usage: test-daemon-vcpuhp.py VIREOD VIREO_VMM TEST_GUEST_ELF VSH

A microvm domain with <vcpu current='1'>3</vcpu> starts as -smp 1,maxcpus=3 and
runs the test guest with tests=cpuhp cpuhp_count=2 cpuhp_unplug=1 cpuhp_replug=1
(t-cpuhp.c: it waits in the ACPI CPU hot-plug registers for each new CPU and
starts it with INIT-SIPI, then for a remove request, stops that CPU and ejects
it, then for one more CPU).
virsh setvcpus 2 --live: the daemon device_adds the slot query-hotpluggable-cpus
lists (id vcpu1), the guest runs the new CPU, the live XML says current='2'
while the persistent one keeps current='1', virsh vcpucount and vcpuinfo show
two vCPUs, and the new vCPU thread ("CPU 1/KVM") is in the daemon's list with
its <vcpupin> affinity applied. vsh setvcpus 3 --live plugs the third, which
the guest runs too. virsh setvcpus 2 --live unplugs it: device_del, the guest
ejects the CPU, DEVICE_DELETED; the live XML says current='2', vcpucount and
vcpuinfo two, the "CPU 2/KVM" thread and its vcpu2 cgroup are gone.
virsh save and restore keep the plugged vCPU 1 (the restored VMM, started with
the live count, takes its name from the state: it can still be unplugged).
setvcpus 1 --live then asks for vCPU 1, which the guest (now waiting for a
plug) never ejects: libvirt's "vcpu unplug request timed out" after its 5 s,
the count unchanged. vsh setvcpus 3 --live plugs slot 2 again and the guest
runs it. A pc and a q35 domain with <vcpu current='1'>2</vcpu> (the guest
through SeaBIOS, the register block at QEMU's port for the machine): setvcpus 2
--live (virsh on pc, vsh on q35) and the guest runs the CPU, vcpucount and
vcpuinfo show two; setvcpus 1 --live (the other client) and the guest ejects
it, they show one.
"""
import os
import re
import shutil
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


def affinity(pid, tid):
    try:
        with open(f"/proc/{pid}/task/{tid}/status") as f:
            for line in f:
                if line.startswith("Cpus_allowed_list:"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def cpu_group(pid, tid):
    """The directory of the cgroup (cpu controller on v1) thread tid is in, or None."""
    try:
        with open(f"/proc/{pid}/task/{tid}/cgroup") as f:
            for line in f:
                _, ctrls, path = line.strip().split(":", 2)
                if ctrls == "" and os.path.isdir("/sys/fs/cgroup" + path):
                    return "/sys/fs/cgroup" + path
                if "cpu" in ctrls.split(","):
                    for top in (ctrls, "cpu,cpuacct", "cpu"):
                        if os.path.isdir(f"/sys/fs/cgroup/{top}{path}"):
                            return f"/sys/fs/cgroup/{top}{path}"
    except OSError:
        pass
    return None


def thread_named(pid, name):
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                if f.read().strip() == name:
                    return int(tid)
    except OSError:
        pass
    return None


d = Daemon(VIREOD, VMM, VSH)
names = ["hp", "hppc", "hpq35"]
try:
    d.start()
    x = d.write("hp.xml", domain_xml("hp", GUEST, "tests=cpuhp cpuhp_count=2 cpuhp_unplug=1 cpuhp_replug=1 "
                                     "cpuhp_wait_s=600",
                                     extra="  <cputune><vcpupin vcpu='1' cpuset='0'/></cputune>\n")
                .replace("<vcpu>1</vcpu>", "<vcpu current='1'>3</vcpu>"))
    r = d.virsh("define", x)
    t.ok(r.returncode == 0, "a microvm domain with <vcpu current='1'>3</vcpu> defines", r.stderr)
    r = d.virsh("start", "hp")
    t.ok(r.returncode == 0, "and starts", r.stderr + d.vmm_log("hp"))
    argv = open(os.path.join(d.root, "log", "hp.log")).read().splitlines()[-1]
    t.ok("-smp 1,maxcpus=3 " in argv, "vireo-vmm runs with -smp 1,maxcpus=3", argv)
    ready = wait_for(lambda: "cpuhp: ready" in d.console_log("hp"), 300)
    t.ok(ready, "the guest sees three MADT slots, one enabled", d.console_log("hp")[-2000:])

    r = d.virsh("setvcpus", "hp", "2", "--live", timeout=300)
    t.ok(r.returncode == 0, "virsh setvcpus hp 2 --live", r.stderr)
    ran = wait_for(lambda: "cpuhp: running apic=1" in d.console_log("hp"), 300)
    t.ok(ran, "the guest took the insert event and ran the new CPU",
         d.console_log("hp")[-2000:])
    live = d.virsh("dumpxml", "hp").stdout
    inactive = d.virsh("dumpxml", "--inactive", "hp").stdout
    t.ok("current='2'>3</vcpu>" in live and "current='1'>3</vcpu>" in inactive,
         "live XML current='2', the persistent definition keeps current='1'", live + inactive)
    r = d.virsh("vcpucount", "hp")
    t.ok(r.returncode == 0 and re.search(r"current\s+live\s+2", r.stdout) and
         re.search(r"current\s+config\s+1", r.stdout) and
         re.search(r"maximum\s+live\s+3", r.stdout),
         "virsh vcpucount: current live 2, config 1, maximum 3", r.stdout + r.stderr)
    r = d.virsh("vcpuinfo", "hp")
    t.ok(r.returncode == 0 and len(re.findall(r"^VCPU:", r.stdout, re.M)) == 2,
         "virsh vcpuinfo lists two vCPUs", r.stdout + r.stderr)
    pid = d.vmm_pid("hp")
    tid = thread_named(pid, "CPU 1/KVM") if pid else None
    t.ok(tid is not None and affinity(pid, tid) == "0",
         "the new vCPU thread has its <vcpupin vcpu='1' cpuset='0'> affinity",
         f"pid {pid} tid {tid} affinity {affinity(pid, tid) if tid else None}")
    r = d.vsh("setvcpus", "hp", "3", "--live", timeout=300)
    t.ok(r.returncode == 0, "vsh setvcpus hp 3 --live", r.stderr)
    ran = wait_for(lambda: "cpuhp: running apic=2" in d.console_log("hp"), 300)
    t.ok(ran, "the guest ran the third CPU", d.console_log("hp")[-2000:])

    # Unplug: the guest takes the remove request, stops the CPU and ejects it.
    tid2 = thread_named(pid, "CPU 2/KVM")
    group2 = cpu_group(pid, tid2) if tid2 else None
    t.ok(group2 and group2.endswith("/vcpu2"), "the third vCPU's thread is in its vcpu2 group",
         repr(group2))
    r = d.virsh("setvcpus", "hp", "2", "--live", timeout=300)
    # The VMM's DEVICE_DELETED may come before the guest has printed what it saw.
    ejected = wait_for(lambda: "cpuhp: ejected slot=2" in d.console_log("hp"), 300)
    t.ok(r.returncode == 0 and ejected, "virsh setvcpus hp 2 --live: the guest ejected CPU 2",
         r.stderr + d.console_log("hp")[-2000:])
    live = d.virsh("dumpxml", "hp").stdout
    r = d.virsh("vcpucount", "hp")
    info = d.virsh("vcpuinfo", "hp")
    t.ok("current='2'>3</vcpu>" in live and re.search(r"current\s+live\s+2", r.stdout) and
         len(re.findall(r"^VCPU:", info.stdout, re.M)) == 2,
         "after the unplug: live XML current='2', vcpucount and vcpuinfo two vCPUs",
         live + r.stdout + info.stdout)
    t.ok(thread_named(pid, "CPU 2/KVM") is None and group2 and not os.path.exists(group2),
         "the unplugged vCPU's thread and its vcpu2 cgroup are gone", repr(group2))
    # Save and restore with the plugged vCPU 1: the restored VMM (started with the live
    # count) has two vCPUs, vCPU 1 still one that can be unplugged, and the guest goes on.
    save = os.path.join(d.root, "hp.save")
    r1 = d.virsh("save", "hp", save, timeout=300)
    r2 = d.virsh("restore", save, timeout=300)
    pid = d.vmm_pid("hp")
    r = d.virsh("vcpucount", "hp")
    t.ok(r1.returncode == 0 and r2.returncode == 0 and
         re.search(r"current\s+live\s+2", r.stdout) and pid and
         thread_named(pid, "CPU 1/KVM") is not None,
         "save and restore keep the plugged vCPU (vcpucount live 2, its thread runs)",
         r1.stderr + r2.stderr + r.stdout + r.stderr)
    r = d.virsh("setvcpus", "hp", "1", "--live", timeout=300)
    t.ok(r.returncode != 0 and "Timed out during operation: vcpu unplug request timed out. "
         "Unplug result must be manually inspected in the domain" in r.stderr and
         "current='2'>3</vcpu>" in d.virsh("dumpxml", "hp").stdout,
         "a guest that never ejects: libvirt's timeout, the count unchanged", r.stderr)
    r = d.vsh("setvcpus", "hp", "3", "--live", timeout=300)
    t.ok(r.returncode == 0, "vsh setvcpus hp 3 --live plugs slot 2 again", r.stderr)
    ran = wait_for(lambda: d.console_log("hp").count("cpuhp: running apic=2") == 2, 300)
    t.ok(ran and "not ok" not in d.console_log("hp"),
         "the guest ran the re-plugged CPU; every guest check passed",
         d.console_log("hp")[-2000:])
    d.virsh("destroy", "hp")

    # pc and q35: the same through SeaBIOS, the register block at QEMU's port for the machine
    # (pc's 0xaf00, q35's 0x0cd8); virsh plugs and vsh unplugs on pc, the other way on q35.
    for machine, port, plug, unplug in (("pc", "0xaf00", d.virsh, d.vsh),
                                        ("q35", "0x0cd8", d.vsh, d.virsh)):
        name = "hp" + machine
        x = d.write(name + ".xml",
                    domain_xml(name, GUEST, f"tests=cpuhp cpuhp_port={port} cpuhp_count=1 "
                               "cpuhp_unplug=1 cpuhp_wait_s=600", memory_mib=128)
                    .replace("<vcpu>1</vcpu>", "<vcpu current='1'>2</vcpu>")
                    .replace("<type arch='x86_64'>hvm</type>",
                             f"<type arch='x86_64' machine='{machine}'>hvm</type>"))
        r1 = d.virsh("define", x)
        r2 = d.virsh("start", name)
        ready = r2.returncode == 0 and wait_for(
            lambda: "cpuhp: ready" in d.console_log(name), 300)
        t.ok(r1.returncode == 0 and ready,
             f"{machine}: a domain with <vcpu current='1'>2</vcpu> starts, the guest sees two "
             "MADT slots, one enabled", r1.stderr + r2.stderr + d.console_log(name)[-2000:])
        r = plug("setvcpus", name, "2", "--live", timeout=300)
        ran = r.returncode == 0 and wait_for(
            lambda: "cpuhp: running apic=1" in d.console_log(name), 300)
        count = d.virsh("vcpucount", name)
        info = d.virsh("vcpuinfo", name)
        t.ok(ran and re.search(r"current\s+live\s+2", count.stdout) and
             len(re.findall(r"^VCPU:", info.stdout, re.M)) == 2,
             f"{machine}: {'virsh' if plug == d.virsh else 'vsh'} setvcpus 2 --live: the guest "
             "runs the new CPU, vcpucount live 2, vcpuinfo two vCPUs",
             r.stderr + count.stdout + info.stdout + d.console_log(name)[-2000:])
        r = unplug("setvcpus", name, "1", "--live", timeout=300)
        ejected = wait_for(lambda: "cpuhp: ejected slot=1" in d.console_log(name), 300)
        count = d.virsh("vcpucount", name)
        info = d.virsh("vcpuinfo", name)
        t.ok(r.returncode == 0 and ejected and re.search(r"current\s+live\s+1", count.stdout)
             and len(re.findall(r"^VCPU:", info.stdout, re.M)) == 1
             and "not ok" not in d.console_log(name),
             f"{machine}: {'virsh' if unplug == d.virsh else 'vsh'} setvcpus 1 --live: the guest "
             "ejects it, vcpucount live 1, vcpuinfo one vCPU; every guest check passed",
             r.stderr + count.stdout + info.stdout + d.console_log(name)[-2000:])
        d.virsh("destroy", name)
finally:
    if t.failed:
        d.dump_log()
    d.cleanup(names)
t.done()
