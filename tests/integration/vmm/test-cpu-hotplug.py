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
   with the id vcpu1 and device_del vcpu1 are refused with one line; slot 2 without
   an id likewise (before it, while the guest waits: query-cpus-fast lists two
   CPUs whose thread ids are threads of the process named "CPU N/KVM", and
   query-hotpluggable-cpus shows vcpu1's qom-path). The guest ends with every
   check passed.
2. QEMU 7.2 has no CPU hot-plug on microvm (its query-hotpluggable-cpus says
   the feature is not enabled): vireo-vmm offers it there as an extension
   (src/vmm/vcpu-hotplug.h says why). The same QMP is compared with QEMU's pc
   (-S, same -smp): the query-hotpluggable-cpus reply before the plug, and the
   refusals' words.
3. device_add of a CPU into an incoming VM (-incoming defer) is refused as
   QEMU refuses device_add while migrating.
4. vireo-vmm's pc does not offer it yet: query-hotpluggable-cpus and
   device_add of a CPU are refused with one line, the VM keeps running.
"""
import json
import os
import subprocess
import sys
import tempfile

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
           "-smp", "1,maxcpus=3", "-kernel", elf, "-append", "tests=cpuhp cpuhp_count=2",
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
        r2 = qmp("device_del", {"id": "vcpu1"})
        check(r1.get("error", {}).get("desc") == "Duplicate device ID 'vcpu1'" and
              r2.get("error", {}).get("desc") == "vireo-vmm cannot unplug vCPUs yet",
              "another device with the CPU's id, and device_del of the CPU, refused with "
              "one line", json.dumps([r1, r2]))
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
        q.close()
        rc, text, err = g.finish(timeout=120)
        check(rc == 1 and "not ok" not in text and "# cpuhp: running apic=2" in text,
              "guest: every hot-plug check passed", f"exit {rc}\n{text}\n{err}")

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

        # vireo-vmm's pc: not offered yet, refused with one line each.
        sock2 = os.path.join(tmp, "pc.sock")
        p = subprocess.Popen([vmm, "-M", "pc", "-nodefaults", "-display", "none", "-S", "-m",
                              "128M", "-smp", "1,maxcpus=2",
                              "-qmp", f"unix:{sock2},server=on,wait=off"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            q = Qmp(sock2)
            r1 = q.cmd("query-hotpluggable-cpus")
            r2 = q.cmd("device_add", {"driver": CPU, "socket-id": 0, "core-id": 1,
                                      "thread-id": 0})
            r3 = q.cmd("query-status")
            check(r1.get("error", {}).get("desc") ==
                  "The feature 'query-hotpluggable-cpus' is not enabled"
                  and r2.get("error", {}).get("desc") ==
                  "CPU hot-plug is not supported by machine type 'pc'"
                  and r3.get("return", {}).get("status") == "prelaunch",
                  "pc: CPU hot-plug refused with one line, the VM unchanged",
                  json.dumps([r1, r2, r3]))
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
