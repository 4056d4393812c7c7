#!/usr/bin/env python3
"""DIMM hot-plug and unplug over QMP on pc and q35 under vireo-vmm and QEMU, the same lines.

Usage: test-memory-hotplug-live.py TEST_GUEST_ELF VIREO_VMM

For each machine (pc, q35) and each VMM (vireo-vmm, qemu-system-x86_64 -enable-kvm), the
test guest boots through SeaBIOS (-kernel, PVH) with -m 128,slots=3,maxmem=1G and one
cold-plugged DIMM (dimm0, 128 MiB) and runs t-mem.c with memhp_hot=1 memhp_unplug=2: it
checks the cold DIMM, prints "memhp: ready", then acts as an OS's ACPI memory hot-plug
driver does. Over QMP: the refusals of device_add pc-dimm (an unknown backend, dimm0's
backend again, a slot beyond -m's, a DIMM beyond maxmem) and of object-add with an id in
use; object-add memory-backend-memfd m1 and device_add pc-dimm dimm1 on it: the guest sees
the insert event and GPE0 bit 3, reports _OST and writes and reads a pattern in the new
DIMM; query-memory-devices shows it (hotplugged), query-memory-size-summary counts it and
HMP xp reads it (the VMM's own access, which devices' DMA uses, reaches the new DIMM);
object-del of its backend is refused (in use). device_del dimm1, then dimm0 (cold-plugged):
the guest sees each remove request, ejects the DIMM and its slot reads empty;
DEVICE_DELETED comes for each, query-memory-devices ends empty and both backends can be
deleted then. The guest's memhp lines, every QMP reply and the ACPI_DEVICE_OST and
DEVICE_DELETED events must be QEMU's. Then device_add pc-dimm on microvm and on pc without
slots, and object-add of a backend with an unknown property, must be refused as QEMU does.
Prints TAP.
"""
import difflib
import json
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmmlib import Guest, Qmp, Tap  # noqa: E402

QEMU = ["qemu-system-x86_64", "-enable-kvm"]
TIMEOUT = 120
COLD = ["-object", "memory-backend-ram,id=m0,size=128M", "-device", "pc-dimm,id=dimm0,memdev=m0"]
APPEND = ("tests=mem mem=128M memhp_slots=3 memhp_dimms=1 memhp_hot=1 memhp_unplug=2 "
          "memhp_wait_s=60")
REFUSALS = [
    ("an unknown backend", {"driver": "pc-dimm", "id": "x1", "memdev": "nosuch"}),
    ("dimm0's backend again", {"driver": "pc-dimm", "id": "x2", "memdev": "m0"}),
    ("a slot beyond -m's", {"driver": "pc-dimm", "id": "x3", "memdev": "big", "slot": 7}),
    ("a DIMM beyond maxmem", {"driver": "pc-dimm", "id": "x4", "memdev": "big"}),
]


def wait_event(q, name, count):
    """Polls QMP until count events called name have come (or about 60 s passed)."""
    for _ in range(600):
        if sum(e.get("event") == name for e in q.events) >= count:
            return
        time.sleep(0.1)
        q.cmd("query-status")


def run(vmm, machine, tmp):
    sock = os.path.join(tmp, "qmp.sock")
    cmd = vmm + ["-M", machine, "-nodefaults", "-display", "none", "-m", "128,slots=3,maxmem=1G",
                 "-serial", "stdio"] + COLD + ["-kernel", GUEST, "-append", APPEND,
                                               "-qmp", "unix:%s,server=on,wait=off" % sock]
    out = {"cmd": " ".join(cmd)}
    g = Guest(cmd)
    try:
        out["ready"] = bool(g.wait_line("memhp: ready", timeout=TIMEOUT))
        q = Qmp(sock)
        out["big"] = q.cmd("object-add", {"qom-type": "memory-backend-ram", "id": "big",
                                          "size": 1 << 30})
        out["refusals"] = {what: q.cmd("device_add", a) for what, a in REFUSALS}
        out["dup"] = q.cmd("object-add", {"qom-type": "memory-backend-ram", "id": "m0",
                                          "size": 64 << 20})
        out["del-big"] = q.cmd("object-del", {"id": "big"})
        out["obj"] = q.cmd("object-add", {"qom-type": "memory-backend-memfd", "id": "m1",
                                          "size": 64 << 20})
        out["add"] = q.cmd("device_add", {"driver": "pc-dimm", "id": "dimm1", "memdev": "m1"})
        out["data"] = g.wait_line("hot-plugged DIMM", timeout=TIMEOUT)
        wait_event(q, "ACPI_DEVICE_OST", 1)
        out["devices"] = q.cmd("query-memory-devices")
        out["summary"] = q.cmd("query-memory-size-summary")
        # The new DIMM is RAM to the VMM (what devices' DMA and xp go through): its last
        # bytes read as QEMU's.
        for d in out["devices"].get("return", []):
            if d["data"].get("id") == "dimm1":
                end = d["data"]["addr"] + d["data"]["size"] - 8
                out["xp"] = q.cmd("human-monitor-command", {"command-line": "xp /8xb 0x%x" % end})
        out["in-use"] = q.cmd("object-del", {"id": "m1"})
        out["del1"] = q.cmd("device_del", {"id": "dimm1"})
        out["ejected1"] = g.wait_line("memhp: ejected", timeout=TIMEOUT)
        wait_event(q, "DEVICE_DELETED", 1)
        out["del0"] = q.cmd("device_del", {"id": "dimm0"})
        out["ejected0"] = g.wait_line("memhp: ejected", timeout=TIMEOUT)
        wait_event(q, "DEVICE_DELETED", 2)
        out["devices-after"] = q.cmd("query-memory-devices")
        out["summary-after"] = q.cmd("query-memory-size-summary")
        out["del-m1"] = q.cmd("object-del", {"id": "m1"})
        out["del-m0"] = q.cmd("object-del", {"id": "m0"})
        plan = ""
        while plan is not None and not plan.startswith("1.."):
            plan = g.wait_line("1..", timeout=TIMEOUT)
        out["plan"] = plan
        out["events"] = [{"event": e["event"], "data": e.get("data")} for e in q.events
                         if e["event"] in ("ACPI_DEVICE_OST", "DEVICE_DELETED")]
        q.cmd("quit")
        q.close()
        out["status"], _, out["stderr"] = g.finish(timeout=TIMEOUT)
    except Exception as e:  # a timeout or a VMM gone: report what there was
        out["exception"] = repr(e)
    finally:
        g.kill()
    text = g.text()
    out["text"] = text
    out["lines"] = [ln for ln in text.splitlines()
                    if "memhp" in ln or ln.startswith(("1..", "Bail out"))]
    out["bad"] = [ln for ln in text.splitlines() if ln.startswith(("not ok", "Bail out"))]
    return out


def run_refusals(vmm, tmp):
    """device_add pc-dimm on microvm and on pc without slots, object-add with an unknown
    property: the replies."""
    out = {}
    for machine in ("microvm", "pc"):
        sock = os.path.join(tmp, "refuse.sock")
        g = Guest(vmm + ["-M", machine, "-nodefaults", "-display", "none", "-S", "-m", "128",
                         "-kernel", GUEST, "-qmp", "unix:%s,server=on,wait=off" % sock])
        try:
            q = Qmp(sock)
            out[machine] = [
                q.cmd("object-add", {"qom-type": "memory-backend-ram", "id": "m1",
                                     "size": 64 << 20}),
                q.cmd("device_add", {"driver": "pc-dimm", "id": "d1", "memdev": "m1"}),
                q.cmd("object-add", {"qom-type": "memory-backend-ram", "id": "m2",
                                     "size": 64 << 20, "bogus": 1})]
            q.cmd("quit")
            q.close()
            g.finish(timeout=TIMEOUT)
        except Exception as e:  # a VMM gone: report it
            out[machine] = repr(e)
        finally:
            g.kill()
            if os.path.exists(sock):
                os.unlink(sock)
    return out


KEYS = ("ready", "big", "refusals", "dup", "del-big", "obj", "add", "devices", "summary", "xp",
        "in-use", "del1", "del0", "devices-after", "summary-after", "del-m1", "del-m0", "events")


def main():
    global GUEST
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    GUEST, vmm = sys.argv[1], sys.argv[2]
    tap = Tap()
    check = tap.check
    tmp = tempfile.mkdtemp(prefix="vireo-memhp-live-")
    try:
        for machine in ("pc", "q35"):
            v = run([vmm], machine, tmp)
            q = run(QEMU, machine, tmp)
            check("exception" not in v and v["ready"] and v["plan"] and not v["bad"]
                  and v.get("data")
                  and v.get("ejected0") and v.get("ejected1"),
                  "%s: the guest sees dimm1 plugged and uses it, then ejects dimm1 and dimm0, all "
                  "ok" % machine, v.get("exception", "") + "\n" + v["text"])
            check(v.get("status") == 0 and "Sanitizer" not in v.get("stderr", "x")
                  and "runtime error" not in v.get("stderr", "x"),
                  "%s: vireo-vmm quits with status 0, no sanitizer report" % machine,
                  "status %s\n%s" % (v.get("status"), v.get("stderr")))
            strip = [re.sub(r"^(not )?ok \d+ - ", "", ln) for ln in v["lines"]]
            qstrip = [re.sub(r"^(not )?ok \d+ - ", "", ln) for ln in q["lines"]]
            check(v["lines"] == q["lines"], "%s: the guest's memhp lines equal QEMU's" % machine,
                  "\n".join(difflib.unified_diff(qstrip, strip, "qemu", "vireo", lineterm="")))
            devs = v.get("devices", {}).get("return", [])
            check(len(devs) == 2 and any(d["data"].get("id") == "dimm1" and d["data"]["hotplugged"]
                                         for d in devs),
                  "%s: query-memory-devices shows dimm1 hot-plugged" % machine, json.dumps(devs))
            check(v.get("devices-after") == {"return": []},
                  "%s: no DIMM left after both ejects" % machine,
                  json.dumps(v.get("devices-after")))
            for key in KEYS:
                check(v.get(key) == q.get(key) and v.get(key) is not None,
                      "%s: %s equals QEMU's" % (machine, key),
                      "vireo %s\nqemu  %s" % (json.dumps(v.get(key)), json.dumps(q.get(key))))
        v, q = run_refusals([vmm], tmp), run_refusals(QEMU, tmp)
        check(v == q and all(isinstance(v[m], list) and "error" in v[m][1] for m in v),
              "device_add pc-dimm on microvm and on pc without slots, object-add with an "
              "unknown property: refused as QEMU", "vireo %s\nqemu  %s" % (json.dumps(v),
                                                                         json.dumps(q)))
    finally:
        for f in os.listdir(tmp):
            os.unlink(os.path.join(tmp, f))
        os.rmdir(tmp)
    return tap.report()


if __name__ == "__main__":
    sys.exit(main())
