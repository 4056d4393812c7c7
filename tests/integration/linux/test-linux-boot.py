#!/usr/bin/env python3
"""test-linux-boot.py - Linux's own drivers on Vireo's devices.

  test-linux-boot.py VIREO_VMM

Boots the project's test kernel (scripts/test-kernel: Linux 6.1 with every
driver for a Vireo device built in) under vireo-vmm and, with the same kernel,
devices and command line, under QEMU's microvm with TCG (its software CPU, the
reference for what a correct device looks like to Linux), both at once, and
reads the kernel's own log:

  - PCI enumeration finds each device at the slot query-pci reports for it;
  - virtio_blk reports the root disk's capacity, the GPT is read (vda: vda1)
    and the ext4 root is mounted read-only (real reads through the queues);
  - virtio_net's eth0 has the configured MAC and the kernel's DHCP client
    (ip=dhcp) gets 10.0.2.15 from user-mode networking before the root mount;
  - virtio_console registers hvc0 (console=hvc0), and the RNG and the balloon
    bind (the driver core's "bound to device" line, turned on by dyndbg);
  - every vCPU comes up, ACPI prints no error, kvm-clock is the clock source;
  - vireo-vmm's log has no warning QEMU's run does not also print, and Linux
    binds the same drivers to the same devices under both.

Where KVM runs guest supervisor code in its instruction emulator (this
project's machines, docs/linux-guest.md), the kernel cannot run user space: its
first system call fails. The test stops the VM after the root mount and says
so, with the last line reached. On a host with hardware virtualization the
kernel goes on to the root disk's /sbin/init, which says so and powers off;
VIREO_FULL_BOOT=1 also boots the main job's initramfs payload
(scripts/mkinitramfs) under vireo-vmm and checks it to its end (DHCP lease,
disk listed, ping to the gateway). Under QEMU's TCG that payload always runs.
Prints TAP.
"""
import os
import re
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../vmm"))
import linuxlib  # noqa: E402
from vmmlib import Qmp, Tap  # noqa: E402

# PCI slots given on the command line, out of the default order on purpose.
SLOTS = {"blk": 0x3, "net": 0x5, "rng": 0x6, "balloon": 0x7, "serial": 0x4}
BOOT_LIMIT = 1500  # seconds; the boot is minutes where kernel code is emulated
PAYLOAD_LIMIT = 600
# Modern virtio-pci IDs (vireo-vmm's devices) and QEMU's transitional ones on microvm's root.
VIRTIO_IDS = {"blk": "1af4:1042", "net": "1af4:1041", "rng": "1af4:1044", "balloon": "1af4:1045",
              "serial": "1af4:1043"}
LEGACY_IDS = {"1af4:1042": "1af4:1001", "1af4:1041": "1af4:1000", "1af4:1044": "1af4:1005",
              "1af4:1045": "1af4:1002", "1af4:1043": "1af4:1003"}
T = Tap()


class Boot:
    """One VMM running the test kernel: its serial console in a file, hvc0 in
    another, QMP on a socket."""

    def __init__(self, name, argv, tmp, full):
        self.name, self.tmp, self.full = name, tmp, full
        self.serial = os.path.join(tmp, name + ".serial")
        self.hvc = os.path.join(tmp, name + ".hvc0")
        self.qmp_path = os.path.join(tmp, name + ".qmp")
        self.argv = argv + ["-serial", "file:" + self.serial,
                            "-chardev", "file,id=hvc,path=" + self.hvc,
                            "-device", f"virtio-serial-pci,addr={SLOTS['serial']:#x}",
                            "-device", "virtconsole,chardev=hvc",
                            "-qmp", f"unix:{self.qmp_path},server,nowait"]
        self.pci = None
        self.elapsed = None
        self.stop_reason = ""
        self.rc = None
        self.stderr = ""

    def log(self):
        try:
            return open(self.serial, errors="replace").read()
        except OSError:
            return ""

    def hvc_log(self):
        try:
            return open(self.hvc, errors="replace").read()
        except OSError:
            return ""

    def run(self):
        import subprocess
        err = open(os.path.join(self.tmp, self.name + ".stderr"), "w+")
        t0 = time.monotonic()
        p = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        try:
            q = Qmp(self.qmp_path, timeout=60)
            self.pci = q.cmd("query-pci").get("return")
        except (OSError, ValueError) as e:
            q = None
            self.stop_reason = f"no QMP: {e}"
        # The boot is over when user space said it ran, when the root is mounted and the
        # kernel went on to init and stopped printing, or when the VMM exits.
        idle_since, last_len = time.monotonic(), 0
        while time.monotonic() - t0 < BOOT_LIMIT and p.poll() is None:
            time.sleep(1)
            log = self.log()
            if len(log) != last_len:
                idle_since, last_len = time.monotonic(), len(log)
            if linuxlib.INIT_SAYS in log + self.hvc_log():
                break
            if "Run /sbin/init" in log and time.monotonic() - idle_since > 30 and not self.full:
                self.stop_reason = ("the kernel started init and printed nothing for 30 s: "
                                    "user space cannot run where kernel code is emulated")
                break
        self.elapsed = time.monotonic() - t0
        if p.poll() is None:
            if not self.stop_reason:
                self.stop_reason = (f"still running after {BOOT_LIMIT} s"
                                    if self.elapsed >= BOOT_LIMIT else "user space ran")
            try:
                if q:
                    q.cmd("quit")
                p.wait(20)
            except Exception:
                p.kill()
                p.wait()
        if q:
            q.close()
        self.rc = p.returncode
        if not self.stop_reason:
            self.stop_reason = f"the VMM exited with status {self.rc}"
        err.seek(0)
        self.stderr = err.read().strip()


def vmm_argv(vmm, kernel, append, disk, disk_fmt):
    return vmm + ["-M", "microvm,acpi=on,pcie=on", "-nodefaults", "-display", "none",
                  "-m", "256M", "-smp", "2", "-no-reboot", "-kernel", kernel, "-append", append,
                  "-drive", f"file={disk},format={disk_fmt},if=none,id=root",
                  "-device", f"virtio-blk-pci,drive=root,addr={SLOTS['blk']:#x}",
                  "-netdev", "user,id=n0",
                  "-device", f"virtio-net-pci,netdev=n0,mac={linuxlib.MAC},addr={SLOTS['net']:#x}",
                  "-device", f"virtio-rng-pci,addr={SLOTS['rng']:#x}",
                  "-device", f"virtio-balloon-pci,addr={SLOTS['balloon']:#x}"]


def check_boot(b, disk_sectors, qemu_pci_names):
    log = b.log()
    who = b.name
    # PCI: every function query-pci reports, at its slot, with its IDs.
    want = {}
    for bus in b.pci or []:
        for d in bus.get("devices", []):
            if d.get("function", 0) == 0:
                want[d["slot"]] = "%04x:%04x" % (d["id"]["vendor"], d["id"]["device"])
    got = linuxlib.pci_functions(log)
    T.check(want and got == want,
            f"{who}: Linux enumerates every PCI function at the slot query-pci gives it "
            f"({len(want)} functions)", f"query-pci: {want}\nLinux: {got}")
    asked = {slot: VIRTIO_IDS[dev] for dev, slot in SLOTS.items()}
    T.check({k: v for k, v in got.items() if k in asked} == asked or
            {k: v for k, v in got.items() if k in asked} == {k: LEGACY_IDS[v]
                                                            for k, v in asked.items()},
            f"{who}: each virtio device is at the slot addr= gave it",
            f"asked: {asked}\nLinux: {got}")
    m = re.search(r"virtio_blk virtio\d+: \[vda\] (\d+) 512-byte logical blocks", log)
    T.check(m and int(m.group(1)) == disk_sectors,
            f"{who}: virtio_blk reports the disk's {disk_sectors} sectors",
            m.group(0) if m else "no virtio_blk capacity line")
    T.check(re.search(r"^\[[ \d.]+\]  vda: vda1$", log, re.M),
            f"{who}: the GPT is read (vda: vda1)")
    T.check("VFS: Mounted root (ext4 filesystem) readonly on device 254:1." in log,
            f"{who}: the ext4 root is mounted read-only")
    m = re.search(r"IP-Config: Complete:\n.*device=eth0, hwaddr=([0-9a-f:]+), "
                  r"ipaddr=([\d.]+), mask=([\d.]+), gw=([\d.]+)", log)
    # 10.0.2.x: slirp's defaults (QEMU's own -netdev user), never outside the VMM process.
    T.check(m and m.group(1) == linuxlib.MAC and m.group(2) == "10.0.2.15" and
            m.group(4) == "10.0.2.2",
            f"{who}: eth0 has MAC {linuxlib.MAC} and the kernel's DHCP gets 10.0.2.15 "
            f"(router 10.0.2.2)", m.group(0) if m else "no IP-Config: Complete")
    T.check(m and log.find("IP-Config: Complete") < log.find("VFS: Mounted root"),
            f"{who}: the lease comes before the root mount")
    T.check("printk: console [hvc0] enabled" in log,
            f"{who}: virtio_console registers hvc0 and it becomes a console")
    bound = linuxlib.bound_drivers(log)
    drivers = {d for d, _ in bound}
    for drv in ("virtio-pci", "virtio_blk", "virtio_net", "virtio_console", "virtio_rng",
                "virtio_balloon"):
        T.check(drv in drivers, f"{who}: driver {drv} binds", f"bound: {sorted(drivers)}")
    m = re.search(r"smp: Brought up 1 node, (\d+) CPUs?", log)
    T.check(m and m.group(1) == "2", f"{who}: both vCPUs come up",
            m.group(0) if m else "no 'smp: Brought up' line")
    errs = [ln for ln in log.splitlines() if "ACPI Error" in ln or "ACPI BIOS Error" in ln]
    T.check("ACPI: Interpreter enabled" in log and not errs,
            f"{who}: ACPI parses the tables with no ACPI Error", "\n".join(errs[:5]))
    return bound


def run_payload(who, vmm, kernel, options, tmp, disk):
    if "tcg" in vmm:
        options = (options + " " + linuxlib.tcg_append()).strip()
    """The main job's initramfs payload (scripts/mkinitramfs, drivers built in here) to its
    end: checks its lines and the VMM's exit status."""
    import subprocess
    initrd = os.path.join(tmp, "payload.cpio.gz")
    if not os.path.exists(initrd):
        linuxlib.run([os.path.join(linuxlib.src_root(), "scripts/mkinitramfs"), "builtin", initrd])
    argv = vmm + ["-M", "microvm,acpi=on,pcie=on", "-nodefaults", "-display", "none",
                  "-m", "256M", "-smp", "2", "-serial", "stdio", "-no-reboot",
                  "-kernel", kernel, "-initrd", initrd,
                  "-append", ("console=ttyS0 panic=-1 " + options).strip(),
                  "-drive", f"file={disk},format=raw,if=none,id=d0",
                  "-device", "virtio-blk-pci,drive=d0",
                  "-netdev", "user,id=n0", "-device", f"virtio-net-pci,netdev=n0,mac={linuxlib.MAC}"]
    try:
        p = subprocess.run(argv, capture_output=True, text=True, errors="replace",
                           timeout=PAYLOAD_LIMIT, stdin=subprocess.DEVNULL)
        out, rc = p.stdout, p.returncode
    except subprocess.TimeoutExpired as e:
        out, rc = (e.stdout or b"").decode(errors="replace"), None
    lines = [ln.strip() for ln in out.splitlines() if "vireo-initramfs:" in ln]
    diag = "\n".join(lines[-8:] or out.splitlines()[-8:])
    T.check(any("userspace is up" in ln and "2 CPU(s)" in ln for ln in lines),
            f"{who} payload: /init runs on 2 CPUs", diag)
    T.check(any(ln.endswith(f"disk vda: {linuxlib.DISK_MIB} MiB") for ln in lines),
            f"{who} payload: the disk is listed at its size", diag)
    T.check(any(ln.endswith(f"eth0 {linuxlib.MAC}") for ln in lines),
            f"{who} payload: eth0 has the configured MAC", diag)
    T.check(any("dhcp lease: 10.0.2.15/24" in ln for ln in lines),
            f"{who} payload: udhcpc gets 10.0.2.15/24", diag)
    T.check(any("ping 10.0.2.2" in ln and ln.endswith("ok") for ln in lines),
            f"{who} payload: the gateway answers a ping", diag)
    T.check(any("powering off" in ln for ln in lines) and rc == 0,
            f"{who} payload: the guest powers off and the VMM exits 0", f"exit status {rc}")


def main():
    vmm = sys.argv[1]
    full = os.environ.get("VIREO_FULL_BOOT") == "1"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("1..0 # SKIP /dev/kvm is not usable")
        return 0
    try:
        kernel, options = linuxlib.test_kernel()
    except RuntimeError as e:
        T.check(False, "scripts/test-kernel builds the test kernel", str(e))
        return T.report()
    tmp = tempfile.mkdtemp(prefix="vireo-linux-")
    disk = os.path.join(tmp, "root.img")
    linuxlib.make_root_disk(tmp, disk)
    append = linuxlib.cmdline(options)
    vireo = Boot("vireo", vmm_argv([vmm] + linuxlib.vireo_cpu(), kernel, append, disk, "raw"),
                 tmp, full)
    # QEMU gets its own copy of the disk: both VMMs lock the image they open.
    qdisk = os.path.join(tmp, "root-qemu.img")
    linuxlib.run(["cp", "--sparse=always", disk, qdisk])
    qemu = Boot("qemu", vmm_argv(["qemu-system-x86_64", "-accel", "tcg"], kernel,
                                 append + " " + linuxlib.tcg_append(), qdisk, "raw"), tmp, True)
    threads = [threading.Thread(target=b.run) for b in (vireo, qemu)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    sectors = os.path.getsize(disk) // 512
    qemu_bound = check_boot(qemu, sectors, None)
    vireo_bound = check_boot(vireo, sectors, None)
    log = vireo.log()
    T.check("clocksource: Switched to clocksource kvm-clock" in log,
            "vireo: kvm-clock becomes the clock source (as QEMU's microvm on KVM gives it)")
    # The reference: the drivers Linux binds, and the warnings it prints.
    only_vireo = sorted(set(vireo_bound) - set(qemu_bound) - linuxlib.BINDINGS_ONLY_VIREO)
    only_qemu = sorted(set(qemu_bound) - set(vireo_bound) - linuxlib.BINDINGS_ONLY_QEMU)
    T.check(vireo_bound and not only_vireo and not only_qemu,
            "Linux binds the same drivers to the same devices under vireo-vmm and QEMU "
            "(the ACPI power button's two designs aside)",
            f"only under vireo-vmm: {only_vireo}\nonly under QEMU: {only_qemu}")
    extra = sorted(linuxlib.warnings(linuxlib.before_init(log)) -
                   linuxlib.warnings(linuxlib.before_init(qemu.log())) -
                   linuxlib.KNOWN_DIFFERENCES)
    T.check(not extra, "vireo-vmm's boot (up to init) prints no warning QEMU's does not also "
            "print", "\n".join(extra))
    T.check(linuxlib.INIT_SAYS in qemu.log() + qemu.hvc_log(),
            "QEMU: the kernel runs the root disk's /sbin/init")
    run_payload("QEMU", ["qemu-system-x86_64", "-accel", "tcg"], kernel, options, tmp, qdisk)
    if full:
        T.check(linuxlib.INIT_SAYS in log + vireo.hvc_log(),
                "vireo: the kernel runs the root disk's /sbin/init")
        run_payload("vireo", [vmm] + linuxlib.vireo_cpu(), kernel, options, tmp, disk)

    # Where it stopped, and how long it took, for the log of make check.
    for b in (vireo, qemu):
        ms = linuxlib.milestone(b.log() + b.hvc_log())
        last = [ln for ln in b.log().splitlines() if ln.strip()][-1:] or ["(nothing)"]
        print(f"# {b.name}: {b.elapsed:.0f} s; got as far as: {ms[1] if ms else 'nothing'}; "
              f"{b.stop_reason}")
        print(f"# {b.name}: last line: {last[0]}")
        for ln in b.stderr.splitlines()[-3:]:
            print(f"# {b.name} stderr: {ln}")
    mount = re.search(r"^\[\s*(\d+\.\d+)\] VFS: Mounted root", log, re.M)
    if mount:
        print(f"# vireo: root mounted at {mount.group(1)} s of guest time")
    if linuxlib.INIT_SAYS not in log + vireo.hvc_log():
        print("# vireo: the kernel did not run user space here: on this machine KVM runs guest "
              "supervisor code in its instruction emulator and the kernel's first system call "
              "fails (docs/linux-guest.md); with hardware virtualization it goes on to /sbin/init")
    T.report()
    if all(r[0] for r in T.results):
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"# logs kept in {tmp}")
    return 0 if all(r[0] for r in T.results) else 1


if __name__ == "__main__":
    sys.exit(main())
