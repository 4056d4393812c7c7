#!/usr/bin/env python3
"""Cold-plugged DIMMs (pc-dimm) on pc and q35 under vireo-vmm and QEMU, the same command lines.

Usage: test-memory-hotplug.py TEST_GUEST_ELF VIREO_VMM

For each machine (pc, q35) and each VMM (vireo-vmm, qemu-system-x86_64 -enable-kvm), the
test guest boots through SeaBIOS (-kernel, PVH) with -m 128,slots=3,maxmem=1G and two
DIMMs: dimm0 (128 MiB, the first free place and slot) and dimm1 (64 MiB of a
memory-backend-memfd, slot=2, node=0, addr= 512 MiB into the device-memory region).
The guest (tests=mem,numa memhp_slots=3 memhp_dimms=2, t-mem.c and t-numa.c) reads each
slot of QEMU's memory hot-plug register block at 0x0a00 (address, size, node, status),
checks the DIMMs lie outside the e820's RAM and hold data, and prints the SRAT, whose
hot-pluggable range is the device-memory region. Its lines must be QEMU's, all ok. Then
over QMP: query-memory-devices, query-memory-size-summary and HMP's info memory-devices
must be QEMU's; the DSDT,
read from guest memory and decompiled with iasl -d, must have QEMU's memory hot-plug
interface (the fields of the register block, MHPC's methods with their argument counts,
each slot's PNP0C80 device and its methods, \\_GPE._E03 calling MSCN) and compile back
without an error.

With guest NUMA (q35, two nodes of 64 MiB, a DIMM with node=1): the guest's memhp and numa
lines (the DIMM's node 1, the hot-pluggable range on the last node) must be QEMU's.

Refusals, in QEMU's words: slots without maxmem, maxmem below -m, slots with maxmem equal
to -m, more than 256 slots, an unaligned maxmem, pc-dimm without memdev, with an unknown
memdev, a slot beyond -m's, an unaligned addr, a node beyond the nodes, without slots, a
DIMM beyond maxmem, one backend for two DIMMs, a backend size that is not a multiple of
2 MiB. vireo-vmm alone: -m slots on microvm, and maxmem without slots (no virtio-mem
here), are refused with one line. Prints TAP.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmmlib import Guest, Qmp, Tap  # noqa: E402

QEMU = ["qemu-system-x86_64", "-enable-kvm"]
TIMEOUT = 300
DIMMS = ["-object", "memory-backend-ram,id=m0,size=128M",
         "-device", "pc-dimm,id=dimm0,memdev=m0",
         "-object", "memory-backend-memfd,id=m1,size=64M",
         "-device", "pc-dimm,id=dimm1,memdev=m1,slot=2,node=0,addr=0x120000000"]
APPEND = "tests=mem,numa mem=128M numa_nodes=1 memhp_slots=3 memhp_dimms=2"


def xp(qmp, addr, n):
    out = bytearray()
    while len(out) < n:
        k = min(1024, n - len(out))
        r = qmp("human-monitor-command", {"command-line": f"xp /{k}xb 0x{addr + len(out):x}"})
        for line in r["return"].splitlines():
            if ":" in line:
                out += bytes(int(w, 16) for w in line.split(":", 1)[1].split())
    return bytes(out)


def read_dsdt(qmp):
    """The DSDT through the RSDP SeaBIOS placed in 0xE0000-0xFFFFF and the RSDT's FADT."""
    low = xp(qmp, 0xE0000, 0x20000)
    k = low.find(b"RSD PTR ")
    while k >= 0 and sum(low[k:k + 20]) % 256:
        k = low.find(b"RSD PTR ", k + 16)
    if k < 0:
        raise ValueError("no RSDP in 0xE0000-0xFFFFF")
    rsdt = int.from_bytes(low[k + 16:k + 20], "little")
    rlen = int.from_bytes(xp(qmp, rsdt + 4, 4), "little")
    body = xp(qmp, rsdt, rlen)
    for off in range(36, rlen, 4):
        t = int.from_bytes(body[off:off + 4], "little")
        if xp(qmp, t, 4) == b"FACP":
            dsdt = int.from_bytes(xp(qmp, t + 40, 4), "little")
            dlen = int.from_bytes(xp(qmp, dsdt + 4, 4), "little")
            return xp(qmp, dsdt, dlen)
    raise ValueError("no FADT in the RSDT")


def run(vmm, machine, tmp):
    sock = os.path.join(tmp, "qmp.sock")
    cmd = vmm + ["-M", machine, "-nodefaults", "-display", "none", "-m", "128,slots=3,maxmem=1G",
                 "-serial", "stdio"] + DIMMS + ["-kernel", GUEST, "-append", APPEND,
                                                "-qmp", "unix:%s,server=on,wait=off" % sock]
    out = {"cmd": " ".join(cmd)}
    g = Guest(cmd)
    try:
        # No isa-debug-exit: the guest halts after its plan and the tables stay in memory.
        plan = ""
        while plan is not None and not plan.startswith("1.."):  # not "... (1..128)"
            plan = g.wait_line("1..", timeout=TIMEOUT)
        out["plan"] = plan
        q = Qmp(sock)
        out["devices"] = q.cmd("query-memory-devices")
        out["summary"] = q.cmd("query-memory-size-summary")
        out["hmp"] = q.cmd("human-monitor-command", {"command-line": "info memory-devices"})
        # The DIMMs are RAM to the VMM too (what devices' DMA goes through): xp reads them.
        out["xp"] = [q.cmd("human-monitor-command", {"command-line": "xp /8xb 0x%x" % a})
                     for a in (0x100000000, 0x120000000 + (64 << 20) - 8)]
        out["dsdt"] = read_dsdt(q.cmd)
        q.cmd("quit")
        q.close()
        g.finish(timeout=TIMEOUT)
    except Exception as e:  # a timeout or a VMM gone: report what there was
        out["exception"] = repr(e)
    finally:
        g.kill()
    text = g.text()
    out["text"] = text
    # The DIMM and SRAT lines (the e820's usable total differs with the firmware's own
    # reservations, which t-mem tolerates).
    out["lines"] = [ln for ln in text.splitlines()
                    if ("memhp" in ln or "numa" in ln) or ln.startswith(("1..", "Bail out"))]
    out["bad"] = [ln for ln in text.splitlines() if ln.startswith(("not ok", "Bail out"))]
    return out


NUMA = ["-smp", "2", "-object", "memory-backend-ram,id=n0,size=64M",
        "-numa", "node,nodeid=0,memdev=n0,cpus=0", "-object", "memory-backend-ram,id=n1,size=64M",
        "-numa", "node,nodeid=1,memdev=n1,cpus=1", "-object", "memory-backend-ram,id=d0,size=128M",
        "-device", "pc-dimm,id=dimm0,memdev=d0,node=1"]


def run_numa(vmm):
    cmd = vmm + ["-M", "q35", "-nodefaults", "-display", "none", "-m", "128,slots=2,maxmem=1G",
                 "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=4"] + NUMA + [
                 "-kernel", GUEST, "-append",
                 "tests=mem,numa mem=128M numa_nodes=2 memhp_slots=2 memhp_dimms=1"]
    g = Guest(cmd)
    try:
        status, text, err = g.finish(timeout=TIMEOUT)
    except Exception as e:  # a timeout: report what there was
        text, err = g.text(), repr(e)
    finally:
        g.kill()
    lines = [ln for ln in text.splitlines()
             if ("memhp" in ln or "numa" in ln) or ln.startswith(("1..", "Bail out"))]
    return lines, text + err


def decompile(tmp, name, data):
    path = os.path.join(tmp, name + ".dat")
    with open(path, "wb") as f:
        f.write(data)
    r = subprocess.run(["iasl", "-d", name + ".dat"], cwd=tmp, capture_output=True, text=True,
                       timeout=120)
    dsl_path = os.path.join(tmp, name + ".dsl")
    dsl = open(dsl_path).read() if os.path.exists(dsl_path) else ""
    r2 = subprocess.run(["iasl", "-p", name + "-re", name + ".dsl"], cwd=tmp,
                        capture_output=True, text=True, timeout=120)
    ok = r.returncode == 0 and dsl and r2.returncode == 0 and "0 Errors" in r2.stdout + r2.stderr
    return dsl, ok, r.stdout + r.stderr + r2.stdout + r2.stderr


def memhp_shape(dsl):
    """What an OS relies on in the memory hot-plug part of a decompiled DSDT."""
    i = dsl.find("MHPD")
    part = dsl[i:] if i >= 0 else ""
    region = re.search(r"OperationRegion \(HPMR, SystemIO, (0x[0-9A-F]+), (0x[0-9A-F]+)\)", part)
    fields = re.findall(r"^\s+(M[A-Z0-9_]{2,3}),\s+(\d+)", part, re.M)
    mhpc = part[part.find("MHPC"):]
    methods = sorted(set(re.findall(r"Method \((M[A-Z0-9]{3}), (\d)", mhpc)))
    devices = {}
    for m in re.finditer(r"Device \((MP[0-9A-F]{2})\)", mhpc):
        rest = mhpc[m.end():]
        nxt = re.search(r"Device \(|Method \(MTFY", rest)
        blk = rest[:nxt.start()] if nxt else rest
        devices[m.group(1)] = (sorted(re.findall(r"Method \((_[A-Z0-9]{3}), (\d)", blk)),
                               "PNP0C80" in blk)
    notifies = sorted(set(re.findall(r"Notify \((MP[0-9A-F]{2}), Arg1\)", mhpc)))
    e03 = re.search(r"_E03, 0, NotSerialized\)[^{]*\{\s*(\S+ \(\))", dsl)
    return {"region": region.groups() if region else None, "fields": fields,
            "methods": methods, "devices": devices, "notifies": notifies,
            "_E03": e03.group(1) if e03 else None}


# (what, -m, extra arguments): each must fail on both VMMs with QEMU's words.
BAD = [
    ("slots without maxmem", "128,slots=2", []),
    ("maxmem below -m", "128,maxmem=64M", []),
    ("slots with maxmem equal to -m", "128,slots=2,maxmem=128M", []),
    ("more than 256 slots", "128,slots=300,maxmem=1G", []),
    ("an unaligned maxmem", "128,slots=2,maxmem=1000001k", []),
    ("pc-dimm without memdev", "128,slots=2,maxmem=1G", ["-device", "pc-dimm,id=d1"]),
    ("an unknown memdev", "128,slots=2,maxmem=1G", ["-device", "pc-dimm,memdev=nope"]),
    ("a slot beyond -m's", "128,slots=2,maxmem=1G", ["-device", "pc-dimm,memdev=m0,slot=5"]),
    ("an unaligned addr", "128,slots=2,maxmem=1G", ["-device", "pc-dimm,memdev=m0,addr=0x1000"]),
    ("a node beyond the nodes", "128,slots=2,maxmem=1G", ["-device", "pc-dimm,memdev=m0,node=3"]),
    ("no slots", "128", ["-device", "pc-dimm,memdev=m0"]),
    ("a DIMM beyond maxmem", "128,slots=2,maxmem=160M", ["-device", "pc-dimm,memdev=m0"]),
    ("one backend for two DIMMs", "128,slots=2,maxmem=1G",
     ["-device", "pc-dimm,memdev=m0", "-device", "pc-dimm,memdev=m0"]),
]


def refusal(vmm, mem, extra, size="64M"):
    cmd = vmm + ["-M", "pc", "-nodefaults", "-display", "none", "-S", "-m", mem,
                 "-object", "memory-backend-ram,id=m0,size=" + size] + extra
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None, "(still running after 60 s)"
    lines = [ln for ln in r.stderr.splitlines() if "warning" not in ln]
    return r.returncode, "\n".join(lines)


def qemu_words(err):
    """QEMU's message without its program and option prefixes."""
    last = err.strip().splitlines()[-1] if err.strip() else ""
    last = re.sub(r"^qemu-system-x86_64: ", "", last)
    return re.sub(r"^-device [^:]*: ", "", last)


def main():
    global GUEST
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    GUEST, vmm = sys.argv[1], sys.argv[2]
    tap = Tap()
    check = tap.check
    tmp = tempfile.mkdtemp(prefix="vireo-memhp-")
    try:
        for machine in ("pc", "q35"):
            v = run([vmm], machine, tmp)
            q = run(QEMU, machine, tmp)
            check("exception" not in v and v["plan"] and not v["bad"]
                  and sum(ln.startswith("# memhp: slot") for ln in v["lines"]) == 3,
                  "%s: the guest reads the 3 slots, both DIMMs hold data, all ok" % machine,
                  v.get("exception", "") + "\n" + v["text"])
            strip = [re.sub(r"^(not )?ok \d+ - ", "", ln) for ln in v["lines"]]
            qstrip = [re.sub(r"^(not )?ok \d+ - ", "", ln) for ln in q["lines"]]
            check(v["lines"] == q["lines"],
                  "%s: the guest's memhp and numa lines equal QEMU's" % machine,
                  "\n".join(d for d in __import__("difflib").unified_diff(
                      qstrip, strip, "qemu", "vireo", lineterm="")))
            check(any("# numa: hotplug mem 0x100000000-0x1f7ffffff node 0" == ln
                      for ln in v["lines"]),
                  "%s: the SRAT's hot-pluggable range is 4 GiB + (maxmem - RAM + 1 GiB a slot)"
                  % machine, "\n".join(v["lines"]))
            for key in ("devices", "summary", "hmp", "xp"):
                check(v.get(key) == q.get(key) and v.get(key)
                      and '"error"' not in json.dumps(v.get(key)),
                      "%s: %s equals QEMU's" % (machine, {
                          "devices": "query-memory-devices",
                          "summary": "query-memory-size-summary",
                          "hmp": "HMP info memory-devices",
                          "xp": "HMP xp of both DIMMs' memory"}[key]),
                      "vireo %s\nqemu  %s" % (json.dumps(v.get(key)), json.dumps(q.get(key))))
            check(all(": 0x" in r.get("return", "") for r in v.get("xp", [{}]))
                  and "Cannot access" not in json.dumps(v.get("xp")),
                  "%s: xp reads the DIMMs' memory" % machine, json.dumps(v.get("xp")))
            if "dsdt" in v and "dsdt" in q:
                vdsl, vok, vout = decompile(tmp, "v" + machine, v["dsdt"])
                qdsl, _, _ = decompile(tmp, "q" + machine, q["dsdt"])
                check(vok, "%s: iasl decompiles vireo-vmm's DSDT and compiles it back" % machine,
                      vout)
                mine, theirs = memhp_shape(vdsl), memhp_shape(qdsl)
                check(theirs["methods"] and mine == theirs
                      and mine["region"] == ("0x0A00", "0x18") and len(mine["devices"]) == 3,
                      "%s: the DSDT's memory hot-plug interface (region, fields, MHPC methods, "
                      "3 PNP0C80 devices, MTFY, _E03) equals QEMU's" % machine,
                      json.dumps(mine) + "\n" + json.dumps(theirs))
            else:
                check(False, "%s: DSDTs read" % machine,
                      "%s\n%s" % (v.get("exception"), q.get("exception")))
        v, vtext = run_numa([vmm])
        q, _ = run_numa(QEMU)
        check(v == q and "# memhp: slot 0 addr 0x100000000 size 0x8000000 node 1 status 0x1" in v
              and "# numa: hotplug mem 0x100000000-0x1b7ffffff node 1" in v
              and not any(ln.startswith("not ok") for ln in v),
              "q35 with two nodes: the DIMM on node 1 and the hot-pluggable range on the last "
              "node, the guest's lines equal QEMU's", "\n".join(v) + "\n--\n" + "\n".join(q))
        for what, mem, extra in BAD:
            vr, verr = refusal([vmm], mem, extra)
            qr, qerr = refusal(QEMU, mem, extra)
            words = qemu_words(qerr)
            check(vr not in (None, 0) and qr not in (None, 0) and words and words in verr
                  and len(verr.splitlines()) == 1,
                  "refused in QEMU's words (%s): %s" % (what, words),
                  "vireo (%s) %s\nqemu (%s) %s" % (vr, verr, qr, qerr))
        vr, verr = refusal([vmm], "128,slots=2,maxmem=1G",
                           ["-device", "pc-dimm,memdev=m0"], size="3M")
        qr, qerr = refusal(QEMU, "128,slots=2,maxmem=1G", ["-device", "pc-dimm,memdev=m0"],
                           size="3M")
        words = qemu_words(qerr)
        check(vr not in (None, 0) and qr not in (None, 0) and words and words in verr,
              "refused in QEMU's words (a backend of 3 MiB): %s" % words,
              "vireo %s\nqemu %s" % (verr, qerr))
        r = subprocess.run([vmm, "-M", "microvm", "-nodefaults", "-display", "none", "-S", "-m",
                            "128,slots=2,maxmem=1G", "-kernel", GUEST],
                           capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        check(r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1
              and "not supported by the machine" in r.stderr,
              "microvm: -m slots refused with one line: " + r.stderr.strip(), r.stderr)
        vr, verr = refusal([vmm], "128,maxmem=1G", [])
        check(vr not in (None, 0) and len(verr.splitlines()) == 1
              and "maxmem without slots" in verr,
              "maxmem without slots (QEMU keeps it for virtio-mem) refused with one line: " + verr,
              verr)
    finally:
        for f in os.listdir(tmp):
            os.unlink(os.path.join(tmp, f))
        os.rmdir(tmp)
    return tap.report()


if __name__ == "__main__":
    sys.exit(main())
