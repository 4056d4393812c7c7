#!/usr/bin/env python3
"""vCPU hot-plug on pc and q35 under vireo-vmm and QEMU, the same command lines.

Usage: test-cpu-hotplug-pc.py TEST_GUEST_ELF VIREO_VMM

For each machine (pc, q35) and each VMM (vireo-vmm, qemu-system-x86_64 -enable-kvm),
the test guest boots through SeaBIOS (-kernel, PVH) with -smp 1,maxcpus=3 and
tests=cpuhp cpuhp_count=1 cpuhp_unplug=1 (t-cpuhp.c), the register block's port
being QEMU's: 0xaf00 on pc (left in legacy mode until the guest writes 0 to it, as
the DSDT's _INI does), 0x0cd8 on q35. The guest checks the MADT (3 slots, 1
enabled), the block's answers and the FADT's GPE0 block (pc: 0xafe0, 4 bytes;
q35: PMBASE + 0x20, 16 bytes), then "cpuhp: ready". Over QMP:
query-hotpluggable-cpus; the device_add refusals (another CPU model, no socket-id,
socket/core/thread-id beyond maxcpus' topology, the present CPU's slot); device_add
of core-id 1 as vcpu1: the guest sees the insert event and GPE0 bit 2 and starts
the CPU with INIT-SIPI-SIPI, which checks in with APIC id 1; query-hotpluggable-cpus
shows vcpu1's qom-path; device_add of the plugged slot again is refused; device_del
vcpu1: the guest sees the remove request, stops the CPU and ejects it, the VMM emits
DEVICE_DELETED for vcpu1 and the slot reads empty. The guest's cpuhp lines, every
QMP reply and the guest's end (its TAP plan) must be the same under both VMMs.

vireo-vmm only, after that (QEMU 7.2 on this host dies re-plugging an ejected CPU):
the slot is plugged again (vcpu2) and the guest runs the CPU again (cpuhp_replug=1).

A reset keeps a plugged CPU (pc and q35, both VMMs): vcpu1 plugged and run, then
system_reset; the firmware boots with both CPUs and the guest, starting over, finds the
MADT with 3 slots, 2 enabled, slot 2 empty, and query-hotpluggable-cpus still shows
vcpu1: the lines and replies must be QEMU's.

Guest NUMA with hot-plug slots (pc, both VMMs): -smp 1,maxcpus=4, two nodes of 64 MiB
and -numa cpu placing the slots (socket 0, cores 0-3) on nodes 0, 1, 0, 1; the guest
(tests=numa,cpuhp) prints the SRAT's CPU entries, one per slot with its node, and its
memory ranges; query-hotpluggable-cpus lists each slot's node-id; device_add with
another node-id is refused; with node-id 1 core 1 is plugged and the guest runs it.
The lines and replies must be QEMU's. Prints TAP.
"""
import difflib
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmmlib import Guest, Qmp, Tap  # noqa: E402

CPU = "qemu64-x86_64-cpu"
QEMU = ["qemu-system-x86_64", "-enable-kvm"]
TIMEOUT = 300

REFUSALS = [
    ("another CPU model", {"driver": "kvm64-x86_64-cpu", "socket-id": 0, "core-id": 1,
                           "thread-id": 0}),
    ("no socket-id", {"driver": CPU, "core-id": 1, "thread-id": 0}),
    ("no core-id", {"driver": CPU, "socket-id": 0, "thread-id": 0}),
    ("socket-id beyond maxcpus", {"driver": CPU, "socket-id": 1, "core-id": 0, "thread-id": 0}),
    ("core-id beyond maxcpus", {"driver": CPU, "socket-id": 0, "core-id": 3, "thread-id": 0}),
    ("thread-id beyond maxcpus", {"driver": CPU, "socket-id": 0, "core-id": 1, "thread-id": 1}),
    ("the present CPU's slot", {"driver": CPU, "socket-id": 0, "core-id": 0, "thread-id": 0}),
]
SLOT1 = {"driver": CPU, "socket-id": 0, "core-id": 1, "thread-id": 0}


def run(vmm, machine, tmp, replug):
    """One VMM on one machine: the QMP replies and the guest's cpuhp lines, in order."""
    port = "0xaf00" if machine == "pc" else "0x0cd8"
    sock = os.path.join(tmp, "%s.sock" % machine)
    append = "tests=cpuhp cpuhp_port=%s cpuhp_count=1 cpuhp_unplug=1 cpuhp_replug=%d" % (
        port, 1 if replug else 0)
    cmd = vmm + ["-M", machine, "-nodefaults", "-display", "none", "-m", "128",
                 "-smp", "1,maxcpus=3", "-serial", "stdio", "-kernel", GUEST,
                 "-append", append, "-qmp", "unix:%s,server=on,wait=off" % sock]
    out = {"cmd": " ".join(cmd)}
    g = Guest(cmd)
    try:
        out["ready"] = bool(g.wait_line("cpuhp: ready", timeout=TIMEOUT))
        q = Qmp(sock)
        out["hp0"] = q.cmd("query-hotpluggable-cpus")
        out["refusals"] = {name: q.cmd("device_add", a) for name, a in REFUSALS}
        out["add"] = q.cmd("device_add", dict(SLOT1, id="vcpu1"))
        out["running"] = g.wait_line("cpuhp: running", timeout=TIMEOUT)
        out["hp1"] = q.cmd("query-hotpluggable-cpus")
        out["again"] = q.cmd("device_add", SLOT1)
        out["del"] = q.cmd("device_del", {"id": "vcpu1"})
        out["ejected"] = g.wait_line("cpuhp: ejected", timeout=TIMEOUT)
        # DEVICE_DELETED for vcpu1 (QEMU also emits one for its LAPIC child, which has no
        # device id); the slot empty again.
        hp2 = q.cmd("query-hotpluggable-cpus")
        for _ in range(600):
            if any(e.get("event") == "DEVICE_DELETED" for e in q.events):
                break
            time.sleep(0.1)
            hp2 = q.cmd("query-hotpluggable-cpus")
        out["hp2"] = hp2
        out["deleted"] = [e["data"] for e in q.events
                          if e.get("event") == "DEVICE_DELETED" and "device" in e["data"]]
        if replug:
            out["replug"] = q.cmd("device_add", dict(SLOT1, id="vcpu2"))
        # No isa-debug-exit: the guest halts after its plan, and the VMM quits when told.
        out["plan"] = g.wait_line("1..", timeout=TIMEOUT)
        q.cmd("quit")
        q.close()
        status, text, err = g.finish(timeout=TIMEOUT)
        out["stderr"] = err
    except Exception as e:  # a timeout or a VMM gone: report what there was
        out["exception"] = repr(e)
        text = g.text()
    finally:
        g.kill()
    lines = text.splitlines()
    out["text"] = text
    out["lines"] = [ln for ln in lines if "cpuhp" in ln or ln.startswith("1..")
                    or ln.startswith("not ok") or ln.startswith("Bail out")]
    return out


def run_reset(vmm, machine, tmp):
    """Plug vcpu1, reset: what the guest finds when it starts over."""
    port = "0xaf00" if machine == "pc" else "0x0cd8"
    sock = os.path.join(tmp, "reset.sock")
    cmd = vmm + ["-M", machine, "-nodefaults", "-display", "none", "-m", "128",
                 "-smp", "1,maxcpus=3", "-serial", "stdio", "-kernel", GUEST,
                 "-append", "tests=cpuhp cpuhp_port=%s cpuhp_count=2" % port,
                 "-qmp", "unix:%s,server=on,wait=off" % sock]
    out = {"cmd": " ".join(cmd)}
    g = Guest(cmd)
    try:
        g.wait_line("cpuhp: ready", timeout=TIMEOUT)
        q = Qmp(sock)
        out["add"] = q.cmd("device_add", dict(SLOT1, id="vcpu1"))
        out["running"] = g.wait_line("cpuhp: running", timeout=TIMEOUT)
        out["reset"] = q.cmd("system_reset")
        out["madt"] = g.wait_line("MADT lists", timeout=TIMEOUT)
        out["empty"] = g.wait_line("is empty before the plug", timeout=TIMEOUT)
        out["ready"] = g.wait_line("cpuhp: ready", timeout=TIMEOUT)
        out["hp"] = q.cmd("query-hotpluggable-cpus")
        q.cmd("quit")
        q.close()
        g.finish(timeout=TIMEOUT)
    except Exception as e:  # a timeout or a VMM gone: report what there was
        out["exception"] = repr(e)
    finally:
        g.kill()
    out["text"] = g.text()
    return out


def reset_checks(check, tmp, vmm):
    for machine in ("pc", "q35"):
        v = run_reset([vmm], machine, tmp)
        q = run_reset(QEMU, machine, tmp)
        keys = ("add", "running", "reset", "madt", "empty", "ready", "hp")
        check(all(v.get(k) == q.get(k) for k in keys) and "exception" not in v
              and "exception" not in q and v.get("madt", "").strip().endswith(
                  "ok 1 - cpuhp: the MADT lists 3 CPU slots, 2 enabled")
              and (v.get("empty") or "").startswith("ok"),
              "%s: after system_reset the plugged CPU stays (MADT 3 slots, 2 enabled; slot 2 "
              "empty; query-hotpluggable-cpus), as QEMU's" % machine,
              "vireo %s\nqemu  %s" % (json.dumps({k: v.get(k) for k in keys + ("exception",
                                                                            "text")}),
                                      json.dumps({k: q.get(k) for k in keys + ("exception",)})))


NUMA = ["-object", "memory-backend-ram,id=m0,size=64M", "-numa", "node,nodeid=0,memdev=m0",
        "-object", "memory-backend-ram,id=m1,size=64M", "-numa", "node,nodeid=1,memdev=m1"]
for core, node in enumerate((0, 1, 0, 1)):
    NUMA += ["-numa", "cpu,node-id=%d,socket-id=0,core-id=%d,thread-id=0" % (node, core)]


def run_numa(vmm, tmp):
    """pc with two nodes and four slots placed by -numa cpu: SRAT lines and QMP replies."""
    sock = os.path.join(tmp, "numa.sock")
    cmd = vmm + ["-M", "pc", "-nodefaults", "-display", "none", "-m", "128",
                 "-smp", "1,maxcpus=4", "-serial", "stdio"] + NUMA + [
                 "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-kernel", GUEST,
                 "-append", "tests=numa,cpuhp numa_nodes=2 mem=128M cpuhp_port=0xaf00",
                 "-qmp", "unix:%s,server=on,wait=off" % sock]
    out = {"cmd": " ".join(cmd)}
    g = Guest(cmd)
    try:
        out["ready"] = bool(g.wait_line("cpuhp: ready", timeout=TIMEOUT))
        q = Qmp(sock)
        out["hp0"] = q.cmd("query-hotpluggable-cpus")
        out["wrong"] = q.cmd("device_add", dict(SLOT1, **{"node-id": 0}))
        out["add"] = q.cmd("device_add", dict(SLOT1, id="vcpu1", **{"node-id": 1}))
        out["running"] = g.wait_line("cpuhp: running", timeout=TIMEOUT)
        status, text, err = g.finish(timeout=TIMEOUT)
        q.close()
        out["status"] = status
    except Exception as e:  # a timeout or a VMM gone: report what there was
        out["exception"] = repr(e)
        text = g.text()
    finally:
        g.kill()
    out["text"] = text
    out["numa"] = [ln for ln in text.splitlines() if ln.startswith("# numa: ")]
    out["bad"] = [ln for ln in text.splitlines() if ln.startswith(("not ok", "Bail out"))]
    return out


def numa_checks(check, tmp, vmm):
    v = run_numa([vmm], tmp)
    q = run_numa(QEMU, tmp)
    want = ["# numa: cpu apic %d node %d" % (i, n) for i, n in enumerate((0, 1, 0, 1))]
    check(v.get("status") == 1 and not v["bad"] and "exception" not in v
          and v["numa"][:4] == want,
          "numa: the SRAT lists the four slots with -numa cpu's nodes (0, 1, 0, 1), every "
          "guest check passed", "%s\n%s\n%s" % (v["cmd"], v["text"], v.get("exception")))
    check(q.get("status") == 1 and v["numa"] == q["numa"],
          "numa: the guest's SRAT lines (%d) are QEMU's" % len(q["numa"]),
          "\n".join(difflib.unified_diff(q["numa"], v["numa"], "qemu", "vireo-vmm",
                                         lineterm="")) + "\n" + q["text"])
    nodes = [c["props"].get("node-id") for c in v.get("hp0", {}).get("return", [])]
    check(v.get("hp0") == q.get("hp0") and nodes == [1, 0, 1, 0],
          "numa: query-hotpluggable-cpus gives each slot its node-id, as QEMU's",
          "vireo %s\nqemu  %s" % (json.dumps(v.get("hp0")), json.dumps(q.get("hp0"))))
    check("error" in (v.get("wrong") or {}) and v.get("wrong") == q.get("wrong"),
          "numa: device_add with another node-id refused in QEMU's words: %s" % (
              (v.get("wrong") or {}).get("error", {}).get("desc")),
          json.dumps([v.get("wrong"), q.get("wrong")]))
    check(v.get("add") == q.get("add") == {"return": {}} and v.get("running")
          and "apic=1" in v["running"],
          "numa: device_add of core 1 with node-id 1, the guest runs it",
          json.dumps([v.get("add"), q.get("add"), v.get("running")]))


def main():
    global GUEST
    GUEST, vmm = sys.argv[1], sys.argv[2]
    tap = Tap()
    check = tap.check
    tmp = tempfile.mkdtemp(prefix="vireo-cpuhp-pc-")
    try:
        for machine in ("pc", "q35"):
            v = run([vmm], machine, tmp, replug=True)
            q = run(QEMU, machine, tmp, replug=False)
            ok_v = [ln for ln in v["lines"] if ln.startswith("ok ")]
            bad_v = [ln for ln in v["lines"] if not ln.startswith(("ok ", "#", "1.."))]
            check(v.get("plan") and ok_v and not bad_v and "exception" not in v
                  and ("1..%d" % len(ok_v)) in v["lines"],
                  "%s: vireo-vmm's guest plugs, runs, ejects and re-plugs a CPU, every check "
                  "passed" % machine, "%s\n%s\n%s" % (v["cmd"], v["text"], v.get("exception")))
            check(q.get("plan") and "exception" not in q,
                  "%s: QEMU's guest ran the same to the end" % machine,
                  "%s\n%s\n%s" % (q["cmd"], q["text"], q.get("exception")))
            # The guest's lines up to the eject (vireo-vmm's run re-plugs after it).
            vl = v["lines"][:next((i for i, ln in enumerate(v["lines"])
                                   if "ejected slot" in ln), len(v["lines"])) + 1]
            ql = [ln for ln in q["lines"] if not ln.startswith("1..")]
            check(vl == ql, "%s: the guest's cpuhp lines are QEMU's (%d lines: MADT, register "
                  "block, GPE0, insert, INIT-SIPI, remove, eject)" % (machine, len(ql)),
                  "\n".join(difflib.unified_diff(ql, vl, "qemu", "vireo-vmm", lineterm="")))
            for key in ("hp0", "hp1", "hp2"):
                check(v.get(key) == q.get(key) and "return" in (v.get(key) or {}),
                      "%s: query-hotpluggable-cpus (%s) equals QEMU's" % (
                          machine, {"hp0": "before the plug", "hp1": "vcpu1 plugged",
                                    "hp2": "after the eject"}[key]),
                      "vireo %s\nqemu  %s" % (json.dumps(v.get(key)), json.dumps(q.get(key))))
            for name, _ in REFUSALS:
                rv = v.get("refusals", {}).get(name, {})
                rq = q.get("refusals", {}).get(name, {})
                check("error" in rv and rv == rq,
                      "%s: device_add refusal (%s) in QEMU's words: %s" % (
                          machine, name, rv.get("error", {}).get("desc")),
                      "vireo %s\nqemu  %s" % (json.dumps(rv), json.dumps(rq)))
            check(v.get("add") == q.get("add") == {"return": {}} and v.get("running")
                  and "apic=1" in v["running"],
                  "%s: device_add of core-id 1 as vcpu1, the guest runs APIC id 1" % machine,
                  json.dumps([v.get("add"), q.get("add"), v.get("running")]))
            check("error" in (v.get("again") or {}) and v.get("again") == q.get("again"),
                  "%s: device_add of the plugged slot again refused in QEMU's words: %s" % (
                      machine, (v.get("again") or {}).get("error", {}).get("desc")),
                  json.dumps([v.get("again"), q.get("again")]))
            check(v.get("del") == q.get("del") == {"return": {}} and v.get("ejected")
                  and v.get("deleted") == q.get("deleted")
                  == [{"device": "vcpu1", "path": "/machine/peripheral/vcpu1"}],
                  "%s: device_del vcpu1: the guest ejects it, DEVICE_DELETED as QEMU's" % machine,
                  json.dumps([v.get("del"), v.get("deleted"), q.get("deleted")]))
            check(v.get("replug") == {"return": {}}
                  and sum("cpuhp: running apic=1" in ln for ln in v["lines"]) == 2,
                  "%s: vireo-vmm plugs the ejected slot again (vcpu2), the guest runs it" % machine,
                  v["text"])
        reset_checks(check, tmp, vmm)
        numa_checks(check, tmp, vmm)
    finally:
        for f in os.listdir(tmp):
            os.unlink(os.path.join(tmp, f))
        os.rmdir(tmp)
    return tap.report()


if __name__ == "__main__":
    sys.exit(main())
