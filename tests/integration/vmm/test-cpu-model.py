#!/usr/bin/env python3
"""-cpu MODEL[,FLAGS]: the guest's CPUID under vireo-vmm against QEMU's.

Usage: test-cpu-model.py VIREO_VMM TEST_GUEST_ELF

For each -cpu value below, the test guest (tests=cpuid) prints the CPUID
leaves a model defines (0, 1, 7, 0xD, 0x40000000-1, 0x80000000-8 and the
model-id) under vireo-vmm and under qemu-system-x86_64 -enable-kvm -M
microvm,kernel-irqchip=on with the same -cpu and -smp 2; the two dumps must be identical, and
so must the "host doesn't support requested feature" warnings each prints
with check (without it QEMU warns and vireo-vmm does not: src/vmm/cli.h
says why) and, with enforce, the refusal. Both VMMs run
on this host's KVM, so a bit the host's KVM overrides is overridden in both.
Then checks of vireo-vmm alone: -cpu host shows the host's signature; an
unknown model and an unknown flag are refused with one line; -cpu help
lists the models as QEMU's does. Prints TAP.
"""
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

VMM, GUEST = sys.argv[1], sys.argv[2]
RUN_GUEST = __file__.rsplit("/", 3)[0] + "/guest/run-guest"
# vireo-vmm has KVM's whole irqchip in the kernel; QEMU's microvm splits it by default, and
# then offers kvm-msi-ext-dest-id (the IOAPIC in user space can deliver it).
QEMU = "qemu-system-x86_64 -enable-kvm -M microvm,acpi=on,kernel-irqchip=on"
CPUS = [
    "qemu64,check",
    "qemu64,-kvm-pv-ipi,-kvm-pv-sched-yield,check",
    "qemu64,+popcnt,-cx16,kvm-pv-eoi=off",
    "kvm64",
    "Nehalem",
    "Westmere-IBRS",
    "SandyBridge",
    "IvyBridge,-avx,check",
    "Haswell-noTSX,check",
    "Broadwell-v1,check",
    "Skylake-Client,-avx2,check",
    "Skylake-Server-IBRS",
    "Cascadelake-Server,check",
    "Icelake-Server-noTSX",
    "EPYC,check",
    "EPYC-Rome",
    "EPYC-Milan,+pcid,check",
]

n = 0
failed = False


def ok(cond, msg):
    global n, failed
    n += 1
    print(("ok" if cond else "not ok") + f" {n} - {msg}", flush=True)
    if not cond:
        failed = True


def run(vmm, cpu):
    p = subprocess.run([sys.executable, RUN_GUEST, "--vmm", f"{vmm} -cpu {cpu}",
                        "--kernel", GUEST, "--smp", "2", "--append", "tests=cpuid",
                        "--timeout", "90"],
                       capture_output=True, text=True, timeout=150)
    out = p.stdout + p.stderr
    dump = [l for l in out.splitlines() if l.startswith("# cpuid")]
    warns = sorted(set(re.sub(r"^\S+: warning: ", "", l) for l in out.splitlines()
                       if "warning: host doesn't support requested feature" in l))
    return p.returncode, dump, warns, out


def diff(a, b):
    return "; ".join(f"vireo '{x}' qemu '{y}'" for x, y in zip(a, b) if x != y) or \
        f"{len(a)} lines against {len(b)}"


for cpu in CPUS:
    rc_v, dump_v, warn_v, out_v = run(VMM, cpu)
    rc_q, dump_q, warn_q, out_q = run(QEMU, cpu)
    ok(rc_q == 0 and len(dump_q) > 10, f"-cpu {cpu}: QEMU's guest ran and printed its CPUID")
    ok(rc_v == 0 and dump_v == dump_q,
       f"-cpu {cpu}: the guest's CPUID under vireo-vmm equals QEMU's ({len(dump_v)} lines)"
       + ("" if dump_v == dump_q else ": " + diff(dump_v, dump_q)))
    if "check" in cpu.split(","):
        ok(warn_v == warn_q, f"-cpu {cpu}: the same {len(warn_v)} unavailable-feature "
           "warnings" + ("" if warn_v == warn_q else f": vireo {warn_v} qemu {warn_q}"))
    else:
        ok(not warn_v, f"-cpu {cpu}: no warnings without check {warn_v if warn_v else ''}")
    if rc_v != 0 or dump_v != dump_q:
        sys.stderr.write(out_v[-3000:] + "\n----- qemu\n" + out_q[-3000:] + "\n")

# pc: QEMU 7.2 gives a named model 40 physical address bits there (CPUID 0x80000008), the
# host's on microvm; the rest of the table is the same.
for cpu in ["kvm64", "Skylake-Client"]:
    rc_v, dump_v, _, out_v = run(VMM + " -M pc", cpu)
    rc_q, dump_q, _, out_q = run("qemu-system-x86_64 -enable-kvm -M pc", cpu)
    leaf8 = [l for l in dump_v if l.startswith("# cpuid 80000008.0:")]
    ok(rc_q == 0 and rc_v == 0 and len(dump_q) > 10 and dump_v == dump_q and leaf8 and
       int(leaf8[0].split()[3], 16) & 0xff == 40,
       f"-M pc -cpu {cpu}: the guest's CPUID under vireo-vmm equals QEMU's (40 physical "
       "address bits)" + ("" if dump_v == dump_q else ": " + diff(dump_v, dump_q)))
    if rc_v != 0 or dump_v != dump_q:
        sys.stderr.write(out_v[-3000:] + "\n----- qemu\n" + out_q[-3000:] + "\n")

# enforce: both refuse to start when the host's KVM lacks a feature the model asks for.
for cpu in ["kvm64,enforce"]:
    p_v = subprocess.run(VMM.split() + ["-cpu", cpu, "-display", "none", "-nodefaults",
                                        "-kernel", GUEST], capture_output=True, text=True,
                         timeout=60)
    p_q = subprocess.run(QEMU.split() + ["-cpu", cpu, "-display", "none", "-nodefaults",
                                         "-kernel", GUEST], capture_output=True, text=True,
                         timeout=60)
    last_v = p_v.stderr.strip().splitlines()[-1:] or [""]
    last_q = p_q.stderr.strip().splitlines()[-1:] or [""]
    strip = lambda l: re.sub(r"^\S+: (error: )?", "", l)
    ok(p_v.returncode != 0 and p_q.returncode != 0 and strip(last_v[0]) == strip(last_q[0]),
       f"-cpu {cpu}: both refuse to start with the same line: '{last_v[0]}' / '{last_q[0]}'")

# vireo-vmm alone.
rc, dump, _, _ = run(VMM, "host")
host_sig = subprocess.run(["grep", "-m1", "^model\\b", "/proc/cpuinfo"], capture_output=True,
                          text=True).stdout
leaf1 = [l for l in dump if l.startswith("# cpuid 00000001.0:")]
ok(rc == 0 and leaf1 and int(leaf1[0].split()[3], 16) & 0xff0 != 0xfb0,
   f"-cpu host: the host's signature, not qemu64's ({leaf1[0] if leaf1 else 'no leaf 1'})")
for args, want in [(["-cpu", "Pentium9"], "unable to find CPU model 'Pentium9'"),
                   (["-cpu", "qemu64,-avx9000"], "CPU feature 'avx9000' not found"),
                   (["-cpu", "qemu64,check=maybe"], "the value must be on or off")]:
    p = subprocess.run([VMM] + args + ["-kernel", GUEST], capture_output=True, text=True,
                       timeout=30)
    lines = p.stderr.strip().splitlines()
    ok(p.returncode != 0 and len(lines) == 1 and want in lines[0],
       f"{' '.join(args)} is refused with one line: {lines}")
help_v = subprocess.run([VMM, "-cpu", "help"], capture_output=True, text=True).stdout
help_q = subprocess.run(["qemu-system-x86_64", "-cpu", "help"], capture_output=True,
                        text=True).stdout
models_v = [l for l in help_v.splitlines() if l.startswith("x86 ")]
missing = [l for l in models_v if l not in help_q.splitlines()]
ok(help_v.startswith("Available CPUs:\n") and len(models_v) > 10 and not missing,
   f"-cpu help: {len(models_v)} lines, each exactly as QEMU prints it"
   + (f" (not in QEMU's: {missing})" if missing else ""))


def qmp_session(cmd, commands):
    """Starts cmd paused with a QMP socket, runs commands, returns their replies."""
    d = tempfile.mkdtemp(prefix="vireo-cpu-")
    path = os.path.join(d, "qmp.sock")
    p = subprocess.Popen(cmd + ["-display", "none", "-nodefaults", "-S", "-qmp",
                                f"unix:{path},server,nowait", "-kernel", GUEST],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            if os.path.exists(path):
                break
            time.sleep(0.1)
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)
        f = s.makefile("rw")
        f.readline()
        out = []
        for c in [{"execute": "qmp_capabilities"}] + commands + [{"execute": "quit"}]:
            f.write(json.dumps(c) + "\n")
            f.flush()
            while True:
                r = json.loads(f.readline())
                if "event" not in r:
                    out.append(r)
                    break
        return out[1:-1]
    finally:
        p.wait(timeout=30)
        os.unlink(path) if os.path.exists(path) else None
        os.rmdir(d)


# QMP: query-cpu-definitions and query-cpu-model-expansion against QEMU's.
flags = set(help_v.split("Recognized CPUID flags:", 1)[1].split())
cmds = [{"execute": "query-cpu-definitions"},
        {"execute": "query-cpu-model-expansion",
         "arguments": {"type": "full", "model": {"name": "Westmere", "props": {"popcnt": False}}}},
        {"execute": "query-cpu-model-expansion",
         "arguments": {"type": "static", "model": {"name": "Skylake-Client-noTSX-IBRS"}}}]
rv = qmp_session(VMM.split(), cmds)
rq = qmp_session(QEMU.split(), cmds)
defs_v = {d["name"]: d for d in rv[0]["return"]}
defs_q = {d["name"]: d for d in rq[0]["return"]}
bad = []
for name, dv in defs_v.items():
    dq = dict(defs_q.get(name, {}))
    # QEMU also lists MSR-based features (taa-no, ...) that vireo-vmm does not model.
    dq["unavailable-features"] = [f for f in dq.get("unavailable-features", []) if f in flags]
    if dv != dq:
        bad.append(f"{name}: vireo {dv} qemu {dq}")
ok(len(defs_v) > 70 and not bad,
   f"query-cpu-definitions: {len(defs_v)} models, each as QEMU describes it on this host"
   + ("" if not bad else ": " + "; ".join(bad[:3])))
for i, what in [(1, "full Westmere with popcnt=false"), (2, "static Skylake-Client-noTSX-IBRS")]:
    mv, mq = rv[i]["return"]["model"], rq[i]["return"]["model"]
    diffs = [k for k, v in mv["props"].items() if mq["props"].get(k) != v
             and not k.startswith("kvm") and k not in ("hypervisor", "x2apic")]
    ok(mv["name"] == mq["name"] and not diffs,
       f"query-cpu-model-expansion {what}: name '{mv['name']}' and {len(mv['props'])} props "
       f"as QEMU's" + (f" (differ: {diffs})" if diffs else ""))

# migratable (host and max only): on, the default, leaves the invariant TSC out as QEMU's host
# does; off shows it, and then the VM cannot migrate, with QEMU's blocker line.
for cpu in ["host", "host,migratable=off"]:
    _, dump_v, _, _ = run(VMM, cpu)
    _, dump_q, _, _ = run(QEMU, cpu)
    leaf_v = [l for l in dump_v if l.startswith("# cpuid 80000007.0:")]
    leaf_q = [l for l in dump_q if l.startswith("# cpuid 80000007.0:")]
    ok(leaf_v and leaf_v == leaf_q, f"-cpu {cpu}: CPUID 0x80000007 (invtsc) as QEMU's: "
       f"{leaf_v} / {leaf_q}")
mig = [{"execute": "migrate", "arguments": {"uri": "exec:cat >/dev/null"}}]
rv = qmp_session(VMM.split() + ["-cpu", "host,migratable=off"], mig)
rq = qmp_session(QEMU.split() + ["-cpu", "host,migratable=off"], mig)
dv, dq = rv[0].get("error", {}).get("desc"), rq[0].get("error", {}).get("desc")
host_invtsc = "nonstop_tsc" in open("/proc/cpuinfo").read()
ok(dv == dq and (dv is not None) == host_invtsc,
   f"-cpu host,migratable=off: migrate refused as QEMU refuses it: {dv!r} / {dq!r}")
p = subprocess.run([VMM, "-cpu", "qemu64,migratable=off", "-kernel", GUEST],
                   capture_output=True, text=True, timeout=30)
ok(p.returncode != 0 and "'migratable' not found" in p.stderr,
   f"-cpu qemu64,migratable=off: refused (host and max only): {p.stderr.strip()}")
print(f"1..{n}")
sys.exit(1 if failed else 0)
