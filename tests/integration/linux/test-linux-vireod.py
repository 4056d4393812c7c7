#!/usr/bin/env python3
"""test-linux-vireod.py - the test kernel through vireod and the stock virsh.

  test-linux-vireod.py VIREOD VIREO_VMM VIREO_IMG

A domain XML with the project's test kernel (scripts/test-kernel), its root
disk as a qcow2 image (a GPT with an ext4 partition, converted by vireo-img),
a user-mode NIC with a fixed MAC and an RNG is defined and started by the
stock virsh against a vireod under a temporary --root. The kernel's log, read
from the daemon's console log (ROOT/log/NAME.console.log), must show Linux's
drivers on every device of the domain: the PCI functions at the slots the
XML's <address> elements give, the disk's capacity and its
partition, the DHCP lease on the XML's MAC, the RNG binding, and the
read-only root mount, and both vCPUs up. The domain's <cpu> disables the
KVM paravirtual IPI and yield features (<feature policy='disable'>, which
vireod passes to vireo-vmm as -cpu qemu64,-kvm-pv-ipi,-kvm-pv-sched-yield):
where KVM emulates guest kernel code an SMP guest's IPI hypercalls never
complete (docs/linux-guest.md). Where kernel code is emulated the kernel stops after the
root mount (its first system call fails); the test stops the domain there.
Prints TAP.
"""
import os
import re
import subprocess
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.join(here, "../daemon"))
import daemonlib  # noqa: E402
import linuxlib  # noqa: E402

NAME = "vireo-linux"
LIMIT = 1500


def main():
    vireod, vmm, img = sys.argv[1:4]
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        daemonlib.skip_all("/dev/kvm is not usable")
    t = daemonlib.Tap()
    try:
        kernel, options = linuxlib.test_kernel()
    except RuntimeError as e:
        t.ok(False, "scripts/test-kernel builds the test kernel", str(e))
        t.done()
    d = daemonlib.Daemon(vireod, vmm)
    try:
        raw = os.path.join(d.tmp, "root.img")
        linuxlib.make_root_disk(d.tmp, raw)
        disk = os.path.join(d.tmp, "root.qcow2")
        linuxlib.run([img, "convert", "-f", "raw", "-O", "qcow2", raw, disk])
        append = linuxlib.cmdline(options, console_hvc=False).replace('"', "&quot;")
        xml = f"""<domain type='kvm'>
  <name>{NAME}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>2</vcpu>
  <os>
    <type arch='x86_64'>hvm</type>
    <kernel>{kernel}</kernel>
    <cmdline>{append}</cmdline>
  </os>
  <cpu mode='custom'>
    <model>qemu64</model>
    <feature policy='disable' name='kvm-pv-ipi'/>
    <feature policy='disable' name='kvm-pv-sched-yield'/>
  </cpu>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x04' function='0x0'/>
    </disk>
    <interface type='user'>
      <mac address='{linuxlib.MAC}'/>
      <model type='virtio'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x06' function='0x0'/>
    </interface>
    <rng model='virtio'>
      <backend model='random'>/dev/urandom</backend>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x07' function='0x0'/>
    </rng>
    <memballoon model='none'/>
    <serial type='pty'/>
    <console type='pty'/>
  </devices>
</domain>
"""
        path = d.write("linux.xml", xml)
        d.start()
        r = d.virsh("define", path)
        t.ok(r.returncode == 0, "virsh define: the domain with the test kernel",
             r.stderr + r.stdout)
        t0 = time.monotonic()
        r = d.virsh("start", NAME)
        t.ok(r.returncode == 0, "virsh start", r.stderr + r.stdout + d.vmm_log(NAME))
        log = ""
        while time.monotonic() - t0 < LIMIT:
            log = d.console_log(NAME)
            if "VFS: Mounted root" in log and "Run /sbin/init" in log:
                break
            if "running" not in d.state(NAME):
                break
            time.sleep(2)
        elapsed = time.monotonic() - t0
        time.sleep(3)  # the lines after the mount
        log = d.console_log(NAME)
        got = linuxlib.pci_functions(log)
        want = {4: "1af4:1042", 6: "1af4:1041", 7: "1af4:1044"}  # blk, net, rng
        t.ok(got == {0: got.get(0), **want} and got.get(0),
             "Linux enumerates the host bridge and the XML's disk, NIC and RNG at the slots "
             "their <address> gives (4, 6, 7)", f"Linux: {got}")
        m = re.search(r"virtio_blk virtio\d+: \[vda\] (\d+) 512-byte logical blocks", log)
        t.ok(m and int(m.group(1)) == os.path.getsize(raw) // 512,
             "virtio_blk reports the qcow2 disk's capacity", m.group(0) if m else log[-2000:])
        t.ok(re.search(r"^\[[ \d.]+\]  vda: vda1$", log, re.M), "the GPT is read (vda: vda1)")
        m = re.search(r"device=eth0, hwaddr=([0-9a-f:]+), ipaddr=([\d.]+)", log)
        # 10.0.2.x: slirp's defaults (QEMU's own -netdev user), never outside the VMM process.
        t.ok(m and m.group(1) == linuxlib.MAC and m.group(2) == "10.0.2.15",
             "eth0 has the XML's MAC and the kernel's DHCP gets 10.0.2.15",
             m.group(0) if m else "no IP-Config line")
        drivers = {drv for drv, _ in linuxlib.bound_drivers(log)}
        t.ok({"virtio_blk", "virtio_net", "virtio_rng"} <= drivers,
             "virtio_blk, virtio_net and virtio_rng bind", f"bound: {sorted(drivers)}")
        m = re.search(r"smp: Brought up 1 node, (\d+) CPUs?", log)
        t.ok(m and m.group(1) == "2", "both vCPUs of <vcpu>2</vcpu> come up",
             m.group(0) if m else "no 'smp: Brought up' line")
        t.ok("VFS: Mounted root (ext4 filesystem) readonly on device 254:1." in log,
             "the ext4 root is mounted read-only", "\n".join(log.splitlines()[-10:]))
        ms = linuxlib.milestone(log)
        last = [ln for ln in log.splitlines() if ln.strip()][-1:] or ["(nothing)"]
        t.diag(f"{elapsed:.0f} s; got as far as: {ms[1] if ms else 'nothing'}")
        t.diag(f"last line: {last[0]}")
        r = d.virsh("destroy", NAME)
        if r.returncode != 0 and "running" in d.state(NAME):
            t.ok(False, "virsh destroy", r.stderr)
    finally:
        d.cleanup([NAME])
    t.done()


if __name__ == "__main__":
    main()
