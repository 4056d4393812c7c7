#!/usr/bin/env python3
"""test-goldens-start.py - domain goldens that vireod says it can start
(tests/conf/domain/NAME.argv) really start through vireod with the test
guest, and the guest finds what the definition asks for; goldens it refuses
(NAME.err beside NAME.out.xml) are refused at `virsh start` with exactly
that line.

Each started golden is defined as written except what only this machine can
give: the kernel (the test guest), its command line (the guest's mem and smp
tests, told the RAM and vCPUs the definition gives), and disk images (made
here, in the format the definition names). The guest's own view is the
check: its e820 map holds the memory of <currentMemory>, and exactly the
<vcpu current=...> vCPUs start.

  test-goldens-start.py VIREOD VIREO_VMM TESTGUEST_ELF VIREO_IMG GOLDEN_DIR

Prints TAP. Waits poll with generous limits; nothing asserts a timing.
"""
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import Daemon, Tap, skip_all, wait_for  # noqa: E402

VIREOD, VMM, GUEST, IMG, GOLDEN = sys.argv[1:6]
GUEST = os.path.abspath(GUEST)
# A representative subset: the smallest; disks, NIC, rng and balloon; user PCI addresses; and
# the honoured platform elements (vCPU topology, cpu host-passthrough, PIT off, ACPI features,
# pm, seclabel none, lifecycle actions). Refused: tuning, clock, machine. ("full", with 2 of 4
# vCPUs, starts since vCPU hot-plug, but its <currentMemory> below <memory> has no balloon to
# reach it, so the guest's e820 check does not apply; test-daemon-vcpuhp.py starts such a domain.)
# pc-machine: <kernel> on pc, booted through SeaBIOS and pvh.bin.
STARTED = ["minimal", "virtio", "pci-microvm", "honoured", "cputune", "pc-machine"]
REFUSED = ["refuse-memback-discard-anon", "refuse-clock-localtime"]

t = Tap()
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("no /dev/kvm")
if not shutil.which("virsh"):
    skip_all("no virsh")


def kib(elem):
    units = {"KiB": 1, "k": 1, "K": 1, "MiB": 1024, "M": 1024, "GiB": 1 << 20, "G": 1 << 20}
    return int(elem.text) * units[elem.get("unit", "KiB")]


def prepare(d, name):
    """The golden as vireod would get it, runnable here; returns (path, mib, vcpus)."""
    root = ET.parse(os.path.join(GOLDEN, name + ".xml")).getroot()
    root.find("name").text = "g-" + name
    uuid = root.find("uuid")
    if uuid is not None:
        root.remove(uuid)
    cur = root.find("currentMemory")
    mib = kib(cur if cur is not None else root.find("memory")) // 1024
    vcpu = root.find("vcpu")
    vcpus = int(vcpu.get("current", vcpu.text)) if vcpu is not None else 1
    os_el = root.find("os")
    os_el.find("kernel").text = GUEST
    for tag in ("initrd", "cmdline"):
        e = os_el.find(tag)
        if e is not None:
            os_el.remove(e)
    cmd = ET.SubElement(os_el, "cmdline")
    cmd.text = f"tests=mem,smp mem={mib}M cpus={vcpus}"
    for i, disk in enumerate(root.iterfind("devices/disk")):
        drv = disk.find("driver")
        fmt = drv.get("type", "raw") if drv is not None else "raw"
        path = os.path.join(d.tmp, f"{name}-{i}.{fmt}")
        subprocess.run([IMG, "create", "-f", fmt, path, "1M"], check=True, capture_output=True)
        disk.find("source").set("file", path)
    out = d.write(name + ".xml", ET.tostring(root, encoding="unicode"))
    return out, mib, vcpus


d = Daemon(VIREOD, VMM)
names = []
try:
    d.start()
    for name in STARTED:
        dom = "g-" + name
        names.append(dom)
        path, mib, vcpus = prepare(d, name)
        r = d.virsh("define", path)
        t.ok(r.returncode == 0, f"{name}: virsh define", r.stderr)
        r = d.virsh("start", dom)
        t.ok(r.returncode == 0, f"{name}: virsh start", r.stderr + d.vmm_log(dom))
        argv = open(os.path.join(d.root, "log", dom + ".log")).readline()
        golden = open(os.path.join(GOLDEN, name + ".argv")).read().split("\n")
        pairs = [f"{o} {v}" for o, v in zip(golden, golden[1:]) if o in ("-M", "-cpu", "-m", "-smp")]
        t.ok(len(pairs) >= 3 and all(p in argv for p in pairs),
             f"{name}: vireo-vmm got the golden's " + ", ".join(pairs), argv)
        done = re.compile(r"^(ok|not ok) \d+ - smp: \d+ CPUs running", re.M)
        wait_for(lambda: done.search(d.console_log(dom)), 200, 0.2)
        log = d.console_log(dom)
        mem_ok = re.search(r"^ok \d+ - mem: usable RAM", log, re.M) is not None
        fails = re.findall(r"^not ok .*$", log, re.M)
        t.ok(re.search(rf"^ok \d+ - smp: {vcpus} CPUs running", log, re.M) is not None,
             f"{name}: the guest runs the {vcpus} vCPUs of <vcpu>", log[-800:])
        t.ok(mem_ok, f"{name}: the guest's e820 map holds the {mib} MiB of <currentMemory>",
             log[-800:])
        t.ok(not fails, f"{name}: no guest test fails", "\n".join(fails))
        d.virsh("destroy", dom)
    for name in REFUSED:
        dom = "g-" + name
        names.append(dom)
        path, _, _ = prepare(d, name)
        want = open(os.path.join(GOLDEN, name + ".err")).read().strip()
        r = d.virsh("define", path)
        t.ok(r.returncode == 0, f"{name}: virsh define accepts it", r.stderr)
        r = d.virsh("start", dom)
        t.ok(r.returncode != 0 and want in r.stderr and len(r.stderr.strip().splitlines()) <= 2,
             f"{name}: virsh start refuses it with the golden's line", r.stderr)
        t.ok(d.state(dom).startswith("shut off"), f"{name}: and it stays shut off",
             d.state(dom))
except Exception as e:  # noqa: BLE001 - report, then clean up
    t.ok(False, "no exception", repr(e))
finally:
    d.cleanup(names)
t.done()
