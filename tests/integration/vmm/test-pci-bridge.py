#!/usr/bin/env python3
"""PCI bridges: pcie-pci-bridge on q35 (behind a pcie-root-port, libvirt's
placement for conventional PCI devices) and pci-bridge on pc, each with an
e1000 and a virtio-blk disk on the bridge's bus (bus=ID), under vireo-vmm and,
in the same run, QEMU with the same command lines.

Usage: test-pci-bridge.py RUN_GUEST TEST_GUEST_ELF VIREO_VMM QEMU

For each machine and VMM, one guest boot (SeaBIOS, -kernel) with
tests=pci,blk,net pci_walk=1: the guest numbers the buses behind the bridges
and lists every function there with the bus 0 slot and pin its INTx reaches
(the bridge swizzle); drives the disk behind the bridge (a write and read
back; as a legacy driver through its I/O BAR 0, blk_legacy=1: virtio behind a
conventional bridge is transitional, 1af4:1001, under both VMMs; on q35 also through INTx on the GSI the swizzle gives: the disk at
slot 3 behind the bridge reaches the root port's slot 2 as pin D, which
ICH9's routing, as QEMU 7.2 sets it up, sends to PIRQ F, GSI 21); and its net
test drives the e1000 behind the bridge over -netdev user (ARP, DHCP, a ping).
On q35 the guest also drives a disk on bus 0 through INTx under each VMM, at
slot 0x1a (D26IR's default: pin A to PIRQ A, GSI 16) and at slot 0x1e (the
DMI-to-PCI bridge's slot: PIRQ E, GSI 20), and prints its interrupt pin and
line.
Checks, each one TAP line:
 - the run passes under each VMM, the legacy driver's checks included;
 - the guest finds the bridge ids (1b36:000e or 1b36:0001), the e1000 and
   the disk at the slots given, with the pins computed;
 - the lines the guest prints about the buses behind are the same under
   vireo-vmm and QEMU;
 - q35: the disk at 00:1a.0 and at 00:1e.0 interrupts on GSI 16 and 20 under
   each VMM, and the guest reads the same interrupt pin and line there;
 - query-pci shows the bridge's pci_bridge member with the devices behind
   (slots, ids, qdev_id) as QEMU's does;
 - device_add onto the bridge's bus in a running VM is refused with one line;
   pci-bridge without chassis_nr is refused with QEMU's line.
"""
import os
import re
import shlex
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmmlib import Qmp, Tap  # noqa: E402

tap = Tap()
check = tap.check

MACHINES = {
    "q35": ("-device pcie-root-port,id=rp1,chassis=1,bus=pcie.0,addr=0x2 "
            "-device pcie-pci-bridge,id=br1,bus=rp1,addr=0x0 ",
            {"vireo-vmm": "blk_intx_gsi=21", "QEMU": "blk_intx_gsi=21"}, "1b36:000e"),
    "pc": ("-device pci-bridge,id=br1,chassis_nr=1,bus=pci.0,addr=0x5 ", {}, "1b36:0001"),
}
BEHIND = ("-netdev user,id=n0 -device e1000,netdev=n0,id=nic0,bus=br1,addr=0x1 "
          "-drive file={raw},format=raw,if=none,id=d0 "
          "-device virtio-blk-pci,drive=d0,serial=br-disk,id=disk0,bus=br1,addr=0x3")


def guest_lines(out):
    """The guest's lines about what is behind the bridges (ids included: a virtio device on a
    conventional bus is transitional, 1af4:1001, under both VMMs)."""
    return [ln for ln in out.splitlines()
            if re.match(r"# pci: ([0-9a-f]{2}:[0-9a-f]{2}\.\d .*->|bridge )", ln)]


def run_guest_under(run_guest, elf, who, vmm, machine, raw):
    bridges, intx, _ = MACHINES[machine]
    append = (f"tests=pci,blk,net pci=1 pci_walk=1 blk_serial=br-disk blk_legacy=1 net_dhcp=1 "
              f"{intx.get(who, '')}")
    args = [run_guest, "--vmm", f"{vmm} -M {machine}", "--kernel", elf, "--append",
            append.strip(), "--extra", bridges + BEHIND.format(raw=raw), "--timeout", "150"]
    p = subprocess.run(args, capture_output=True, text=True, timeout=300)
    return p


def bus0_disk(run_guest, elf, vmm, raw, slot, gsi):
    """One q35 boot with the disk on bus 0 at slot, driven through INTx on GSI gsi: the run,
    and the guest's line about the disk's function (pin and line)."""
    extra = (f"-drive file={raw},format=raw,if=none,id=d0 "
             f"-device virtio-blk-pci,drive=d0,serial=b0-disk,id=disk0,bus=pcie.0,addr={slot:#x}")
    append = f"tests=pci,blk pci=1 blk_serial=b0-disk blk_intx_gsi={gsi}"
    p = subprocess.run([run_guest, "--vmm", f"{vmm} -M q35", "--kernel", elf, "--append", append,
                        "--extra", extra, "--timeout", "150"],
                       capture_output=True, text=True, timeout=300)
    m = re.search(rf"# pci: 00:{slot:02x}\.0 1af4:10(01|42) (.*)", p.stdout)
    return p, m.group(2) if m else None


def query_pci(vmm, machine, elf, tmp, raw):
    bridges, _, _ = MACHINES[machine]
    sock = os.path.join(tmp, f"qmp-{machine}-{os.path.basename(shlex.split(vmm)[0])}.sock")
    cmd = shlex.split(vmm) + ["-M", machine, "-nodefaults", "-display", "none", "-S",
                              "-kernel", elf, "-qmp", f"unix:{sock},server=on,wait=off"]
    cmd += shlex.split(bridges + BEHIND.format(raw=raw))
    vm = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        q = Qmp(sock)
        reply = q.cmd("query-pci")
        hot = q.cmd("device_add", {"driver": "virtio-rng-pci", "bus": "br1", "id": "rng9"})
        q.cmd("quit")
        q.close()
        vm.wait(timeout=30)
    finally:
        if vm.poll() is None:
            vm.kill()
            vm.wait()
    return reply, hot


def behind_summary(reply):
    """(bridge ids, [(slot, vendor:device, qdev_id, irq_pin)] behind it), found by a walk."""
    out = []

    def walk(devs):
        for d in devs:
            b = d.get("pci_bridge")
            if b is None:
                continue
            ident = "%04x:%04x" % (d["id"]["vendor"], d["id"]["device"])
            kids = [(k["slot"], "%04x:%04x" % (k["id"]["vendor"], k["id"]["device"]),
                     k.get("qdev_id", ""), k.get("irq_pin"))
                    for k in b.get("devices", [])]
            out.append((ident, d.get("qdev_id", ""), kids))
            walk(b.get("devices", []))

    for bus in reply.get("return", []):
        walk(bus["devices"])
    return out


def main():
    run_guest, elf, vireo, qemu = sys.argv[1:5]
    tmp = tempfile.mkdtemp(prefix="vireo-pcibr-", dir=os.environ.get("MESON_BUILD_ROOT"))
    raw = os.path.join(tmp, "disk.raw")
    with open(raw, "wb") as f:
        f.write(b"\0" * (256 * 1024))
    for machine, (_, _, bridge_id) in MACHINES.items():
        lines = {}
        for who, vmm in (("vireo-vmm", vireo), ("QEMU", qemu)):
            p = run_guest_under(run_guest, elf, who, vmm, machine, raw)
            check(p.returncode == 0,
                  f"{who} -M {machine}: the guest drives the disk and the e1000 behind the bridge",
                  p.stdout + p.stderr)
            legacy = re.findall(r"^ok \d+ - virtio-blk legacy: .*", p.stdout, re.M)
            check(len(legacy) == 5 and "returns 'br-disk'" in legacy[3],
                  f"{who} -M {machine}: the disk behind the bridge is transitional and a legacy "
                  "driver's set-up, get-id and reset work through its I/O BAR",
                  "\n".join(legacy) + "\n" + p.stdout)
            lines[who] = guest_lines(p.stdout)
        got = "\n".join(lines["vireo-vmm"])
        want_e1000 = re.search(r"# pci: ([0-9a-f]{2}):01\.0 8086:100e class 020000 header type 0 "
                               r"pin A -> 00:0[25] pin [A-D]", got)
        want_blk = re.search(r"# pci: ([0-9a-f]{2}):03\.0 1af4:1001 class 010000 header "
                             r"type 0 pin A -> 00:0[25] pin [A-D]", got)
        check(f" {bridge_id} class 060400 header type 1" in got or
              f"bridge 00:05.0 {bridge_id}" in got,
              f"-M {machine}: the guest finds the bridge {bridge_id}", got)
        check(want_e1000 is not None and want_blk is not None,
              f"-M {machine}: the guest finds the e1000 at slot 1 and the disk at slot 3 behind it",
              got)
        check(lines["vireo-vmm"] == lines["QEMU"] and lines["QEMU"],
              f"-M {machine}: the guest's view behind the bridges is QEMU's",
              "vireo-vmm:\n%s\nQEMU:\n%s" % ("\n".join(lines["vireo-vmm"]),
                                            "\n".join(lines["QEMU"])))
        mine, hot = query_pci(vireo, machine, elf, tmp, raw)
        ref, ref_hot = query_pci(qemu, machine, elf, tmp, raw)
        check(behind_summary(mine) == behind_summary(ref) and behind_summary(ref),
              f"-M {machine}: query-pci shows the bridges and the devices behind as QEMU's",
              f"vireo-vmm: {behind_summary(mine)}\nQEMU: {behind_summary(ref)}")
        err = hot.get("error", {}).get("desc", "")
        check("error" in hot and "br1" in err,
              f"-M {machine}: device_add behind the bridge is refused with one line ({err!r}; "
              f"QEMU: {ref_hot.get('error', {}).get('desc', 'accepted')!r})", str(hot))
    for slot, gsi in ((0x1a, 16), (0x1e, 20)):
        runs = {who: bus0_disk(run_guest, elf, vmm, raw, slot, gsi)
                for who, vmm in (("vireo-vmm", vireo), ("QEMU", qemu))}
        for who, (p, _) in runs.items():
            check(p.returncode == 0 and
                  f"completion interrupt through INTx, IOAPIC GSI {gsi}" in p.stdout,
                  f"{who} -M q35: the disk at 00:{slot:02x}.0 interrupts through INTx on GSI {gsi}",
                  p.stdout + p.stderr)
        mine, ref = runs["vireo-vmm"][1], runs["QEMU"][1]
        check(mine is not None and mine == ref,
              f"-M q35: the guest reads the disk at 00:{slot:02x}.0's pin and line as QEMU's",
              f"vireo-vmm: {mine}\nQEMU: {ref}")
    r = subprocess.run([vireo, "-M", "pc", "-nodefaults", "-display", "none", "-S", "-device",
                        "pci-bridge,id=b"], capture_output=True, text=True, timeout=60)
    check(r.returncode == 1 and len(r.stderr.splitlines()) == 1 and
          "Bridge chassis not specified. Each bridge is required to be assigned a unique chassis "
          "id > 0." in r.stderr, "pci-bridge without chassis_nr is refused with QEMU's line",
          r.stderr)
    return tap.report()


if __name__ == "__main__":
    sys.exit(main())
