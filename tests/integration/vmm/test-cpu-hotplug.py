#!/usr/bin/env python3
"""vCPU hot-plug: -smp 1,maxcpus=3, query-hotpluggable-cpus, device_add of a CPU.

Usage: test-cpu-hotplug.py TEST_GUEST_ELF VIREO_VMM

1. vireo-vmm's microvm runs the test guest with tests=cpuhp cpuhp_count=2
   (t-cpuhp.c): the MADT lists 3 slots with 1 enabled and the register block
   at 0x0cd8 shows slot 1 empty ("cpuhp: ready"). query-hotpluggable-cpus
   lists the three slots, last first, only slot 0 with a qom-path; device_add
   refusals (another CPU model, no socket-id, socket-id out of range, a slot
   out of order, the present CPU again); device_add of slot 1 with id vcpu1:
   the guest finds the insert event, reads APIC id 1 and starts the CPU with
   INIT-SIPI, and the CPU checks in ("cpuhp: running apic=1"); another device
   with the id vcpu1 is refused with one line; slot 2 without
   an id likewise (before it, while the guest waits: query-cpus-fast lists two
   CPUs whose thread ids are threads of the process named "CPU N/KVM", and
   query-hotpluggable-cpus shows vcpu1's qom-path). Unplug (cpuhp_unplug=1):
   device_del of vcpu1 (not the last) and of an unknown id are refused with
   one line; device_del of slot 2 by its QOM path: the guest sees the remove
   request, stops the CPU with INIT and ejects it; DEVICE_DELETED comes, the
   CPU's thread is gone, query-cpus-fast lists two CPUs and the slot reads
   empty in query-hotpluggable-cpus; the slot is plugged again (id vcpu2) and
   the guest runs the CPU again. The guest ends with every check passed.
2. QEMU 7.2 has no CPU hot-plug on microvm (its query-hotpluggable-cpus says
   the feature is not enabled): vireo-vmm offers it there as an extension
   (src/vmm/vcpu-hotplug.h says why). The same QMP is compared with QEMU's pc
   (-S, same -smp): the query-hotpluggable-cpus reply before the plug, and the
   refusals' words.
3. device_add of a CPU into an incoming VM (-incoming defer) is refused as
   QEMU refuses device_add while migrating.
4. pc and q35: test-cpu-hotplug-pc.py (under vireo-vmm and QEMU).
5. Migration (migrate_check; on microvm, pc and q35): a plugged vCPU and a pending unplug request
   (register block, GPE0) move to a destination started with the same -smp;
   the guest goes on there, ejects the CPU, DEVICE_DELETED.
6. The DSDT an OS reads (microvm, -smp 1,maxcpus=3, -S): read from guest
   memory with HMP xp (RSDP at 0xE0000, XSDT, FADT's X_DSDT), decompiled with
   the stock `iasl -d` without an error, and compiled back with `iasl`
   without an error; the decompiled text has QEMU's CPU hot-plug interface:
   the register block as an OperationRegion at 0x0CD8 with its fields,
   Device CPUS (ACPI0010) with the CSTA/CEJ0/CTFY/CSCN methods and one
   ACPI0007 device per slot (_UID, _MAT, _STA, _EJ0 on the hot-pluggable
   ones, _OST through COST), the Notify of each slot, and \\_GPE._E02
   calling CSCN. QEMU 7.2's pc DSDT (-smp 1,maxcpus=3, read the same way once
   SeaBIOS has placed it) has the same fields, CPUS methods, _MAT entries and
   _E02. A VM without maxcpus has none of it.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time

from vmmlib import Guest, Qmp, Tap

tap = Tap()
check = tap.check
CPU = "qemu64-x86_64-cpu"

REFUSALS = [
    ("another CPU model", {"driver": "kvm64-x86_64-cpu", "socket-id": 0, "core-id": 1,
                           "thread-id": 0}),
    ("no socket-id", {"driver": CPU, "core-id": 1, "thread-id": 0}),
    ("socket-id out of range", {"driver": CPU, "socket-id": 1, "core-id": 0, "thread-id": 0}),
    ("core-id out of range", {"driver": CPU, "socket-id": 0, "core-id": 3, "thread-id": 0}),
    ("the present CPU", {"driver": CPU, "socket-id": 0, "core-id": 0, "thread-id": 0}),
]


def refusals(qmp):
    return {name: qmp("device_add", args).get("error", {}).get("desc") for name, args in REFUSALS}


def qemu_pc(tmp):
    """QEMU's replies on pc (-S): query-hotpluggable-cpus and the refusals."""
    sock = os.path.join(tmp, "qemu.sock")
    p = subprocess.Popen(["qemu-system-x86_64", "-M", "pc", "-accel", "kvm", "-smp", "1,maxcpus=3",
                          "-m", "128", "-display", "none", "-nodefaults", "-S",
                          "-qmp", f"unix:{sock},server=on,wait=off"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        q = Qmp(sock)
        hp = q.cmd("query-hotpluggable-cpus")
        ref = refusals(q.cmd)
        q.cmd("quit")
        q.close()
        p.wait(timeout=30)
        return hp, ref
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def xp(qmp, addr, n):
    """n bytes of guest memory at addr through HMP xp."""
    r = qmp("human-monitor-command", {"command-line": f"xp /{n}xb 0x{addr:x}"})
    out = bytearray()
    for line in r["return"].splitlines():
        if ":" in line:
            out += bytes(int(w, 16) for w in line.split(":", 1)[1].split())
    if len(out) != n:
        raise ValueError(f"xp 0x{addr:x}: {r!r}")
    return bytes(out)


def read_dsdt(qmp):
    """The DSDT the guest would find: RSDP at 0xE0000 -> XSDT -> FADT -> X_DSDT."""
    rsdp = xp(qmp, 0xE0000, 36)
    if rsdp[:8] != b"RSD PTR ":
        raise ValueError("no RSDP at 0xE0000")
    xsdt = int.from_bytes(rsdp[24:32], "little")
    xlen = int.from_bytes(xp(qmp, xsdt + 4, 4), "little")
    body = xp(qmp, xsdt, xlen)
    for off in range(36, xlen, 8):
        t = int.from_bytes(body[off:off + 8], "little")
        if xp(qmp, t, 4) == b"FACP":
            dsdt = int.from_bytes(xp(qmp, t + 140, 8), "little")
            dlen = int.from_bytes(xp(qmp, dsdt + 4, 4), "little")
            return xp(qmp, dsdt, dlen)
    raise ValueError("no FADT in the XSDT")


def dsdt_of(vmm, elf, tmp, smp):
    """Starts vireo-vmm -S with -smp smp and returns its DSDT's bytes."""
    sock = os.path.join(tmp, "dsdt.sock")
    p = subprocess.Popen([vmm, "-nodefaults", "-display", "none", "-S", "-m", "128M",
                          "-smp", smp, "-kernel", elf,
                          "-qmp", f"unix:{sock},server=on,wait=off"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        q = Qmp(sock)
        data = read_dsdt(q.cmd)
        q.cmd("quit")
        q.close()
        p.wait(timeout=30)
        return data
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def qemu_pc_dsdt(tmp, vmm=None, machine="pc"):
    """QEMU 7.2 pc's DSDT (-smp 1,maxcpus=3), or that of vmm (a command) on machine: SeaBIOS
    puts the tables in guest memory, the RSDP in 0xE0000-0xFFFFF; read with the same HMP xp
    once SeaBIOS has placed them."""
    sock = os.path.join(tmp, "qemu-dsdt.sock")
    vmm = vmm or ["qemu-system-x86_64", "-accel", "kvm"]
    p = subprocess.Popen(vmm + ["-M", machine, "-smp", "1,maxcpus=3",
                                "-m", "128", "-display", "none", "-nodefaults",
                                "-qmp", f"unix:{sock},server=on,wait=off"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        q = Qmp(sock)
        for _ in range(120):  # SeaBIOS runs in KVM's emulator here: give it time
            time.sleep(1)
            low = xp(q.cmd, 0xE0000, 0x20000)
            k = low.find(b"RSD PTR ")
            if k >= 0 and sum(low[k:k + 20]) % 256 == 0:
                break
        else:
            raise ValueError("QEMU: no RSDP after 120 s")
        rsdt = int.from_bytes(low[k + 16:k + 20], "little")
        rlen = int.from_bytes(xp(q.cmd, rsdt + 4, 4), "little")
        body = xp(q.cmd, rsdt, rlen)
        data = None
        for off in range(36, rlen, 4):
            t = int.from_bytes(body[off:off + 4], "little")
            if xp(q.cmd, t, 4) == b"FACP":
                dsdt = int.from_bytes(xp(q.cmd, t + 40, 4), "little")
                dlen = int.from_bytes(xp(q.cmd, dsdt + 4, 4), "little")
                data = xp(q.cmd, dsdt, dlen)
        q.cmd("quit")
        q.close()
        p.wait(timeout=30)
        if data is None:
            raise ValueError("QEMU: no FADT in the RSDT")
        return data
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def cpuhp_shape(dsl):
    """What an OS relies on in the CPU hot-plug part of a decompiled DSDT: the register
    fields, the methods of CPUS, each CPU's _MAT and which CPUs have _EJ0/_OST/_STA, and
    the GPE handler's call."""
    cpus = dsl[dsl.find("CPUS)"):]
    # CEJF (QEMU's firmware-eject bit, for OVMF's SMM CPU hot-plug) is left out: vireo-vmm's
    # microvm has no SMM firmware to hand an eject to.
    fields = sorted(set(re.findall(r"^\s+(C[A-Z0-9]{3}),\s+\d+", dsl, re.M)) - {"CEJF"})
    methods = sorted(set(re.findall(r"Method \((C[A-Z]{3}), (\d)", cpus)))
    per_cpu = {}
    for m in re.finditer(r"(?:Device|Processor) \((C0[0-9A-F]{2})\b", cpus):
        rest = cpus[m.end():]
        nxt = re.search(r"(?:Device|Processor|Scope) \(|Method \(\\", rest)
        blk = rest[:nxt.start()] if nxt else rest
        mat = re.search(r"_MAT, Buffer \(0x08\)[^{]*\{\s*([^/]*?)\s*//", blk, re.S)
        per_cpu[m.group(1)] = (mat.group(1) if mat else None,
                               sorted(re.findall(r"Method \((_[A-Z0-9]{3})", blk)))
    e02 = re.search(r"_E02, 0, NotSerialized\)[^{]*\{\s*(\S+ \(\))", dsl)
    return {"fields": fields, "methods": methods, "cpus": per_cpu,
            "_E02": e02.group(1) if e02 else None}


def iasl(tmp, args):
    r = subprocess.run(["iasl"] + args, cwd=tmp, capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout + r.stderr


# The decompiled DSDT's CPU hot-plug objects (-smp 1,maxcpus=3), as iasl -d writes them.
DSDT_WANT = [
    "OperationRegion (PRST, SystemIO, 0x0CD8, 0x0C)",
    "CPEN,   1", "CINS,   1", "CRMV,   1", "CEJ0,   1", "CCMD,   8", "CSEL,   32", "CDAT,   32",
    "Device (CPUS)", 'Name (_HID, "ACPI0010" /* Processor Container Device */)',
    'Name (_CID, EisaId ("PNP0A05") /* Generic Container Device */)',
    "Mutex (CPLK, 0x00)",
    "Method (CSTA, 1, NotSerialized)", "Method (CEJ0, 1, NotSerialized)",
    "Method (CTFY, 2, NotSerialized)", "Method (CSCN, 0, NotSerialized)",
    "Method (COST, 4, NotSerialized)", "COST (0x02, Arg0, Arg1, Arg2)",
    "Notify (C000, Arg1)", "Notify (C002, Arg1)", "CTFY (\\_SB.CDAT, One)", "CTFY (\\_SB.CDAT, 0x03)",
    "Device (C000)", "Device (C001)", "Device (C002)", 'Name (_HID, "ACPI0007" /* Processor Device */)',
    "Name (_UID, 0x02)", "Return (CSTA (0x02))", "CEJ0 (0x02)",
    "Scope (\\_GPE)", "Method (_E02, 0, NotSerialized)", "\\_SB.CPUS.CSCN ()",
]


def check_dsdt(vmm, elf, tmp):
    dsdt = dsdt_of(vmm, elf, tmp, "1,maxcpus=3")
    with open(os.path.join(tmp, "dsdt.dat"), "wb") as f:
        f.write(dsdt)
    rc, out = iasl(tmp, ["-d", "dsdt.dat"])
    dsl = ""
    if os.path.exists(os.path.join(tmp, "dsdt.dsl")):
        with open(os.path.join(tmp, "dsdt.dsl")) as f:
            dsl = f.read()
    check(rc == 0 and dsl and "Error" not in out, "iasl -d decompiles the DSDT without an error",
          out)
    missing = [w for w in DSDT_WANT if w not in dsl]
    check(dsl and not missing, "the decompiled DSDT has the CPU hot-plug objects and methods",
          "missing: " + repr(missing) + "\n" + dsl)
    cpu1 = dsl[dsl.find("Device (C001)"):]
    cpu1 = cpu1[:cpu1.find("Device (C002)")]
    check("0x00, 0x08, 0x01, 0x01, 0x01" in cpu1 and "Method (_EJ0, 1" in cpu1,
          "C001's _MAT is its MADT entry (UID 1, APIC id 1, enabled) and it can be ejected",
          cpu1)
    c0 = dsl[dsl.find("Device (C000)"):dsl.find("Device (C001)")]
    check("_EJ0" not in c0, "the BSP (C000) has no _EJ0", c0)
    rc, out = iasl(tmp, ["-p", "recompiled", "dsdt.dsl"])
    check(rc == 0 and "0 Errors" in out, "iasl compiles the decompiled DSDT back without an error",
          out)
    # QEMU 7.2's pc builds the same interface (at its own port, with Processor objects where
    # vireo-vmm has ACPI0007 devices): the same fields, methods, _MAT entries and handler.
    qdat = qemu_pc_dsdt(tmp)
    with open(os.path.join(tmp, "qemu.dat"), "wb") as f:
        f.write(qdat)
    rc, out = iasl(tmp, ["-d", "qemu.dat"])
    with open(os.path.join(tmp, "qemu.dsl")) as f:
        qdsl = f.read()
    mine, theirs = cpuhp_shape(dsl), cpuhp_shape(qdsl)
    check(theirs["methods"] and mine == theirs,
          "the CPU hot-plug fields, methods, _MAT entries and _E02 equal QEMU pc's",
          json.dumps(mine) + "\n" + json.dumps(theirs))
    # vireo-vmm's pc and q35 (through SeaBIOS): decompiled and compiled back without an error,
    # the same CPU hot-plug shape as QEMU's on the same machine, the block at the machine's
    # port, and pc's _INI that leaves the legacy mode.
    for machine, port in (("pc", "0xAF00"), ("q35", "0x0CD8")):
        name = f"v{machine}"
        with open(os.path.join(tmp, name + ".dat"), "wb") as f:
            f.write(qemu_pc_dsdt(tmp, [vmm], machine))
        rc, out = iasl(tmp, ["-d", name + ".dat"])
        vdsl = ""
        if os.path.exists(os.path.join(tmp, name + ".dsl")):
            with open(os.path.join(tmp, name + ".dsl")) as f:
                vdsl = f.read()
        rc2, out2 = iasl(tmp, ["-p", name + "-re", name + ".dsl"])
        check(rc == 0 and vdsl and "Error" not in out and rc2 == 0 and "0 Errors" in out2,
              f"{machine}: iasl decompiles vireo-vmm's DSDT and compiles it back without an "
              "error", out + out2)
        qname = f"q{machine}"
        if machine == "pc":
            qname = "qemu"  # read above
        else:
            with open(os.path.join(tmp, qname + ".dat"), "wb") as f:
                f.write(qemu_pc_dsdt(tmp, None, machine))
            iasl(tmp, ["-d", qname + ".dat"])
        with open(os.path.join(tmp, qname + ".dsl")) as f:
            qshape = cpuhp_shape(f.read())
        vshape = cpuhp_shape(vdsl)
        ini = re.search(r"Method \(_INI, 0[^{]*\{\s*(CSEL = Zero|Store \(Zero, CSEL\)|"
                        r"\\_SB\.CSEL = Zero)", vdsl)
        check(qshape["methods"] and vshape == qshape
              and f"OperationRegion (PRST, SystemIO, {port}, 0x0C)" in vdsl
              and (ini is not None) == (machine == "pc"),
              f"{machine}: vireo-vmm's CPU hot-plug fields, methods, _MAT entries and _E02 equal "
              f"QEMU {machine}'s, the block at {port}" + (", _INI writes 0 to CSEL"
                                                          if machine == "pc" else ""),
              json.dumps(vshape) + "\n" + json.dumps(qshape) + "\n" + vdsl)
    plain = dsdt_of(vmm, elf, tmp, "2")
    check(plain[:4] == b"DSDT" and b"CPUS" not in plain and b"_E02" not in plain,
          "without maxcpus the DSDT has no CPU hot-plug objects")


def migrate_check(vmm, elf, tmp, dst_smp="1,maxcpus=3", machine=None):
    """A plugged CPU and a pending unplug request migrate: the source (-smp 1,maxcpus=3)
    plugs vCPU 1, which its guest runs; paused, device_del vcpu1 leaves the remove event
    and GPE0 bit 2 pending; migrated to a destination started with the same -smp (no
    -device for the CPU: it comes from the stream), which lists two CPUs and vcpu1; cont:
    the guest, continuing there, takes the remove request (GPE0 bit 2 still set), ejects the
    CPU, and the destination emits DEVICE_DELETED. With dst_smp "2,maxcpus=3" (the live
    count, as vireod starts a destination) vCPU 1 is there from the start and takes its
    name from the stream, so that it can still be unplugged."""
    tag = "migration" if dst_smp == "1,maxcpus=3" else f"migration to -smp {dst_smp}"
    port = "0xaf00" if machine == "pc" else "0x0cd8"
    if machine:
        tag = f"{machine}: {tag}"
    args = (["-M", machine] if machine else []) + [
        "-nodefaults", "-display", "none", "-serial", "stdio", "-m", "128M",
        "-smp", "1,maxcpus=3", "-kernel", elf,
        "-append", f"tests=cpuhp cpuhp_port={port} cpuhp_count=1 cpuhp_unplug=1",
        "-device", "isa-debug-exit,iobase=0xf4,iosize=4"]
    s1, s2 = os.path.join(tmp, "src.sock"), os.path.join(tmp, "dst.sock")
    mig = os.path.join(tmp, "mig.sock")
    src = Guest([vmm] + args + ["-qmp", f"unix:{s1},server=on,wait=off"])
    dst = None
    try:
        check(src.wait_line("cpuhp: ready", timeout=120), f"{tag}: the source's guest is ready",
              src.text())
        q1 = Qmp(s1)
        r = q1.cmd("device_add", {"driver": CPU, "id": "vcpu1", "socket-id": 0, "core-id": 1,
                                  "thread-id": 0})
        line = src.wait_line("cpuhp: running", timeout=120)
        check(r == {"return": {}} and line and "apic=1" in line,
              f"{tag}: vCPU 1 plugged into the source and run by its guest", src.text())
        r1 = q1.cmd("stop")
        r2 = q1.cmd("device_del", {"id": "vcpu1"})
        check(r1 == {"return": {}} and r2 == {"return": {}},
              f"{tag}: source paused, device_del vcpu1 pending", json.dumps([r1, r2]))
        # -S: the destination stays paused after the move, for the checks before cont.
        dargs = list(args)
        dargs[dargs.index("1,maxcpus=3")] = dst_smp
        dst = Guest([vmm] + dargs + ["-qmp", f"unix:{s2},server=on,wait=off", "-S",
                                     "-incoming", f"unix:{mig}"])
        q2 = Qmp(s2)
        r = q1.cmd("migrate", {"uri": f"unix:{mig}"})
        st = {}
        for _ in range(3000):
            st = q1.cmd("query-migrate").get("return", {})
            if st.get("status") in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.1)
        check(r == {"return": {}} and st.get("status") == "completed",
              f"{tag}: the source's migration completes", json.dumps([r, st]))
        try:
            q1.cmd("quit")
        except OSError:
            pass  # it may be gone already
        q1.close()
        for _ in range(600):  # the destination takes over when it has loaded the stream
            status = q2.cmd("query-status").get("return", {}).get("status")
            if status not in ("inmigrate", None):
                break
            time.sleep(0.1)
        cpus = q2.cmd("query-cpus-fast").get("return", [])
        hp = q2.cmd("query-hotpluggable-cpus").get("return", [])
        check([c["cpu-index"] for c in cpus] == [0, 1]
              and cpus[1].get("qom-path") == "/machine/peripheral/vcpu1"
              and [x.get("qom-path") for x in hp] ==
              [None, "/machine/peripheral/vcpu1", "/machine/unattached/device[0]"],
              f"{tag}: the destination has the plugged vCPU (query-cpus-fast, "
              "query-hotpluggable-cpus)", json.dumps([status, cpus, hp]))
        q2.events.clear()
        q2.cmd("cont")
        line = dst.wait_line("cpuhp: ejected", timeout=120)
        check(line and "slot=1" in line,
              f"{tag}: the guest, continuing on the destination, takes the pending remove "
              "request and ejects CPU 1", dst.text())
        deleted = None
        for _ in range(600):
            gone = False
            try:
                q2.cmd("query-status")
            except (OSError, ValueError):
                gone = True
            if gone or dst.p.poll() is not None:
                dst.p.wait(timeout=60)
                q2.drain()  # the guest's run ended (debug-exit) right after its eject
            deleted = [e for e in q2.events if e.get("event") == "DEVICE_DELETED"]
            if deleted or dst.p.poll() is not None:
                break
            time.sleep(0.1)
        check(deleted and deleted[0]["data"] == {"device": "vcpu1",
                                                 "path": "/machine/peripheral/vcpu1"},
              f"{tag}: DEVICE_DELETED on the destination", json.dumps(q2.events))
        q2.close()
        rc, text, err = dst.finish(timeout=120)
        check(rc == 1 and "not ok" not in text and "GPE0 status bit 2 was set" in text,
              f"{tag}: every guest check after the move passed (GPE0 bit 2 migrated)",
              f"exit {rc}\n{text}\n{err}")
    finally:
        src.kill()
        if dst:
            dst.kill()


def thread_name(pid, tid):
    try:
        with open(f"/proc/{pid}/task/{tid}/comm") as f:
            return f.read().strip()
    except OSError:
        return None


def main():
    elf, vmm = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="vireo-cpuhp-", dir=os.environ.get("MESON_BUILD_ROOT"))
    sock = os.path.join(tmp, "qmp.sock")
    cmd = [vmm, "-nodefaults", "-display", "none", "-serial", "stdio", "-m", "128M",
           "-smp", "1,maxcpus=3", "-kernel", elf, "-append", "tests=cpuhp cpuhp_count=2 cpuhp_unplug=1 cpuhp_replug=1",
           "-qmp", f"unix:{sock},server=on,wait=off",
           "-device", "isa-debug-exit,iobase=0xf4,iosize=4"]
    g = Guest(cmd)
    try:
        ready = g.wait_line("cpuhp: ready", timeout=120)
        check(ready, "guest sees 3 MADT slots, 1 enabled, and slot 1 empty", g.text())
        if not ready:
            raise SystemExit(tap.report())
        q = Qmp(sock)
        qmp = q.cmd
        hp0 = qmp("query-hotpluggable-cpus")
        slots = hp0.get("return", [])
        check(len(slots) == 3 and [s["props"]["core-id"] for s in slots] == [2, 1, 0]
              and [("qom-path" in s) for s in slots] == [False, False, True]
              and all(s["type"] == CPU and s["vcpus-count"] == 1 for s in slots),
              "query-hotpluggable-cpus: three slots, last first, only slot 0 present",
              json.dumps(hp0))
        ref = refusals(qmp)
        check(all(ref.values()), "device_add refusals: " + ", ".join(ref), json.dumps(ref))
        r = qmp("device_add", {"driver": CPU, "socket-id": 0, "core-id": 2, "thread-id": 0})
        check(r.get("error", {}).get("desc", "").startswith("vireo-vmm plugs vCPUs in order"),
              "device_add of slot 2 before slot 1 is refused with one line", json.dumps(r))
        r = qmp("device_add", {"driver": CPU, "id": "vcpu1", "socket-id": 0, "core-id": 1,
                               "thread-id": 0})
        check(r == {"return": {}}, "device_add of slot 1 (id vcpu1)", json.dumps(r))
        line = g.wait_line("cpuhp: running", timeout=120)
        check(line and "apic=1" in line, "guest took the insert event and ran CPU 1", g.text())
        r = qmp("device_add", {"driver": CPU, "id": "vcpu1", "socket-id": 0, "core-id": 2,
                               "thread-id": 0})
        check(r.get("error", {}).get("desc") == "Duplicate device ID 'vcpu1'",
              "device_add with an id in use is refused", json.dumps(r))
        r1 = qmp("device_add", {"driver": "virtio-rng-pci", "id": "vcpu1"})
        check(r1.get("error", {}).get("desc") == "Duplicate device ID 'vcpu1'",
              "another device with the CPU's id is refused with one line", json.dumps(r1))
        # While the guest waits for the next CPU (it ends after it): the threads and paths.
        cpus = qmp("query-cpus-fast").get("return", [])
        pid = g.p.pid
        names = [thread_name(pid, c["thread-id"]) for c in cpus]
        check([c["cpu-index"] for c in cpus] == [0, 1]
              and names == ["CPU 0/KVM", "CPU 1/KVM"]
              and cpus[1]["qom-path"] == "/machine/peripheral/vcpu1",
              "query-cpus-fast: two CPUs, each a thread of the VMM named CPU N/KVM",
              json.dumps(cpus) + " " + repr(names))
        hp1 = qmp("query-hotpluggable-cpus").get("return", [])
        check([s.get("qom-path") for s in hp1] ==
              [None, "/machine/peripheral/vcpu1", "/machine/unattached/device[0]"],
              "query-hotpluggable-cpus shows the plugged CPU's qom-path", json.dumps(hp1))
        r = qmp("device_add", {"driver": CPU, "socket-id": 0, "core-id": 1, "thread-id": 0})
        check(r.get("error", {}).get("desc") == "CPU[1] with APIC ID 1 exists",
              "device_add of a plugged slot is refused as QEMU does", json.dumps(r))
        r = qmp("device_add", {"driver": CPU, "socket-id": 0, "core-id": 2, "thread-id": 0})
        check(r == {"return": {}}, "device_add of slot 2 (no id)", json.dumps(r))
        line = g.wait_line("cpuhp: running", timeout=120)
        check(line and "apic=2" in line, "guest took the insert event and ran CPU 2", g.text())

        # Unplug, last first: the guest sees the remove request, stops the CPU and ejects it.
        cpus = qmp("query-cpus-fast").get("return", [])
        tid2 = cpus[2]["thread-id"] if len(cpus) == 3 else None
        anon = "/machine/peripheral-anon/device[2]"
        r1 = qmp("device_del", {"id": "vcpu1"})
        r2 = qmp("device_del", {"id": "vcpu9"})
        check(r1.get("error", {}).get("desc") ==
              f"vireo-vmm unplugs vCPUs last first: the last one is '{anon}'"
              and r2.get("error", {}).get("desc") == "Device 'vcpu9' not found",
              "device_del of a vCPU that is not the last, and of no device, refused with one "
              "line", json.dumps([r1, r2]))
        q.events.clear()
        r = qmp("device_del", {"id": anon})
        check(r == {"return": {}}, "device_del of slot 2 by its QOM path", json.dumps(r))
        line = g.wait_line("cpuhp: ejected", timeout=120)
        check(line and "slot=2" in line, "guest took the remove request and ejected CPU 2",
              g.text())
        deleted = None
        for _ in range(600):  # the eject is finished by the main loop: wait for its event
            qmp("query-status")
            deleted = [e for e in q.events if e.get("event") == "DEVICE_DELETED"]
            if deleted:
                break
            time.sleep(0.1)
        check(deleted and deleted[0]["data"] == {"path": anon},
              "DEVICE_DELETED for the ejected CPU", json.dumps(q.events))
        cpus = qmp("query-cpus-fast").get("return", [])
        hp2 = qmp("query-hotpluggable-cpus").get("return", [])
        check([c["cpu-index"] for c in cpus] == [0, 1]
              and [s.get("qom-path") for s in hp2] ==
              [None, "/machine/peripheral/vcpu1", "/machine/unattached/device[0]"]
              and tid2 and not os.path.exists(f"/proc/{pid}/task/{tid2}"),
              "after the eject: two CPUs listed, slot 2 empty, its thread gone",
              json.dumps([cpus, hp2, tid2]))
        # The slot takes a CPU again (the same KVM vCPU, from its power-on state).
        r = qmp("device_add", {"driver": CPU, "id": "vcpu2", "socket-id": 0, "core-id": 2,
                               "thread-id": 0})
        check(r == {"return": {}}, "device_add of slot 2 again (id vcpu2)", json.dumps(r))
        g.wait_line("cpuhp: inserted slot=2", timeout=120)
        line = g.wait_line("cpuhp: running", timeout=120)
        q.close()
        rc, text, err = g.finish(timeout=120)
        check(rc == 1 and "not ok" not in text and text.count("# cpuhp: running apic=2") == 2
              and "# cpuhp: ejected slot=2" in text,
              "guest: every hot-plug check passed (plug, unplug, plug again)",
              f"exit {rc}\n{text}\n{err}")

        check_dsdt(vmm, elf, tmp)
        migrate_check(vmm, elf, tmp)
        migrate_check(vmm, elf, tmp, "2,maxcpus=3")
        # pc and q35 (through SeaBIOS): PIIX4 PM's and ICH9's GPE0, and pc's block after the
        # switch out of the legacy mode, migrate too.
        migrate_check(vmm, elf, tmp, machine="pc")
        migrate_check(vmm, elf, tmp, machine="q35")

        # QEMU's pc offers the same QMP: replies and refusals compared.
        hp_q, ref_q = qemu_pc(tmp)
        check(hp_q == hp0, "query-hotpluggable-cpus equals QEMU pc's",
              json.dumps(hp_q) + "\n" + json.dumps(hp0))
        for name, _ in REFUSALS:
            check(ref[name] == ref_q[name], f"device_add refusal ({name}) in QEMU's words",
                  f"vireo {ref[name]!r} qemu {ref_q[name]!r}")

        # An incoming VM (-incoming defer): a plug would break the vCPU count the stream and
        # the destination share, refused in QEMU's words.
        sock3 = os.path.join(tmp, "inc.sock")
        p = subprocess.Popen([vmm, "-nodefaults", "-display", "none", "-m", "128M", "-smp",
                              "1,maxcpus=2", "-kernel", elf, "-incoming", "defer",
                              "-qmp", f"unix:{sock3},server=on,wait=off"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            q = Qmp(sock3)
            r = q.cmd("device_add", {"driver": CPU, "socket-id": 0, "core-id": 1,
                                     "thread-id": 0})
            check(r.get("error", {}).get("desc") == "device_add not allowed while migrating",
                  "device_add of a CPU into an incoming VM is refused", json.dumps(r))
            q.cmd("quit")
            q.close()
            p.wait(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    except (OSError, ValueError, subprocess.TimeoutExpired) as e:
        g.kill()
        check(False, f"the run went on to the end ({e!r})", g.text())
    finally:
        g.kill()
        for f in os.listdir(tmp):
            os.unlink(os.path.join(tmp, f))
        os.rmdir(tmp)
    return tap.report()


if __name__ == "__main__":
    sys.exit(main())
