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
QMP reply and the exit status must be the same under both VMMs.

vireo-vmm only, after that (QEMU 7.2 on this host dies re-plugging an ejected CPU):
the slot is plugged again (vcpu2) and the guest runs the CPU again (cpuhp_replug=1).
Prints TAP.
"""
import difflib
import json
import os
import sys
import tempfile

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
                 "-smp", "1,maxcpus=3", "-serial", "stdio",
                 "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-kernel", GUEST,
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
        for _ in range(100):
            if any(e.get("event") == "DEVICE_DELETED" for e in q.events):
                break
            hp2 = q.cmd("query-hotpluggable-cpus")
        out["hp2"] = hp2
        out["deleted"] = [e["data"] for e in q.events
                          if e.get("event") == "DEVICE_DELETED" and "device" in e["data"]]
        if replug:
            out["replug"] = q.cmd("device_add", dict(SLOT1, id="vcpu2"))
        status, text, err = g.finish(timeout=TIMEOUT)
        q.close()
        out["status"] = status
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
            check(v.get("status") == 1 and ok_v and not bad_v and "exception" not in v
                  and ("1..%d" % len(ok_v)) in v["lines"],
                  "%s: vireo-vmm's guest plugs, runs, ejects and re-plugs a CPU, every check "
                  "passed" % machine, "%s\n%s\n%s" % (v["cmd"], v["text"], v.get("exception")))
            check(q.get("status") == 1 and "exception" not in q,
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
    finally:
        for f in os.listdir(tmp):
            os.unlink(os.path.join(tmp, f))
        os.rmdir(tmp)
    return tap.report()


if __name__ == "__main__":
    sys.exit(main())
