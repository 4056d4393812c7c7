"""linuxlib.py - what the Linux boot tests share: the project's test kernel
(scripts/test-kernel), a root disk made with Debian's tools, the kernel command
line, and the reading of the kernel's own log.

The root disk is a GPT (sgdisk) with one ext4 partition filled by
`mkfs.ext4 -d` (written at the partition's offset, so no loop device and no
mount are needed). Its /sbin/init is a busybox script that says it ran and
powers off: where the kernel can run user space it ends the boot cleanly.
"""
import os
import re
import shutil
import subprocess

MAC = "52:54:00:12:34:56"
DISK_MIB = 48
PART_START = 2048  # sectors
# The partition ends 34 sectors before the end: the backup GPT's table and header.
PART_SECTORS = DISK_MIB * 2048 - PART_START - 34 - ((DISK_MIB * 2048 - PART_START - 34) % 8)
INIT_SAYS = "vireo-root: /sbin/init ran from the root disk"

# Where the kernel's log says it got to, in boot order: the last one reached is reported.
MILESTONES = [
    ("Linux version", "the kernel started"),
    ("smp: Brought up", "every vCPU came up"),
    ("PCI host bridge to bus", "PCI enumeration"),
    ("virtio_blk virtio", "virtio-blk probed"),
    ("printk: console [hvc0] enabled", "the virtio console"),
    ("IP-Config: Complete", "DHCP done"),
    ("VFS: Mounted root", "the root file system is mounted"),
    ("Run /sbin/init", "init started"),
    (INIT_SAYS, "user space ran"),
]


def src_root():
    return os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../.."))


def test_kernel():
    """(vmlinux path, options this machine needs) from scripts/test-kernel, or
    raises RuntimeError with its one-line reason."""
    r = subprocess.run([os.path.join(src_root(), "scripts/test-kernel")], capture_output=True,
                       text=True)
    lines = r.stdout.split("\n")
    if r.returncode != 0 or not lines[0]:
        raise RuntimeError(r.stderr.strip() or "scripts/test-kernel failed")
    return lines[0], (lines[1] if len(lines) > 1 else "").strip()


def emulated_kernel_code():
    """Does this host's KVM run guest kernel code in its instruction emulator (the
    kvm_pvm module; scripts/test-kernel asks the same for its line 2)?"""
    return os.path.isdir("/sys/module/kvm_pvm")


def vireo_cpu():
    """vireo-vmm's -cpu for an SMP guest here: where kernel code is emulated, KVM's
    emulator never completes a hypercall, so the guest is not offered the paravirtual
    IPI and yield hypercalls (docs/linux-guest.md). Elsewhere the defaults."""
    if emulated_kernel_code():
        return ["-cpu", "qemu64,-kvm-pv-ipi,-kvm-pv-sched-yield"]
    return []


def make_root_disk(tmp, path):
    """A raw disk with a GPT and one ext4 partition (label vireo-root)."""
    stage = os.path.join(tmp, "rootfs")
    for d in ("bin", "sbin", "dev", "proc", "sys", "etc", "tmp"):
        os.makedirs(os.path.join(stage, d), exist_ok=True)
    shutil.copy("/bin/busybox", os.path.join(stage, "bin/busybox"))
    with open(os.path.join(stage, "sbin/init"), "w") as f:
        f.write("#!/bin/busybox sh\n"
                f"/bin/busybox echo '{INIT_SAYS}'\n"
                "/bin/busybox poweroff -f\n")
    os.chmod(os.path.join(stage, "sbin/init"), 0o755)
    with open(os.path.join(stage, "etc/hostname"), "w") as f:
        f.write("vireo-linux-test\n")
    with open(path, "wb") as f:
        f.truncate(DISK_MIB << 20)
    # The file system first: mke2fs clears the sectors before its offset, the GPT's.
    run(["mkfs.ext4", "-q", "-F", "-L", "vireo-root", "-d", stage,
         "-E", f"offset={PART_START * 512}", path, f"{PART_SECTORS // 2}k"])
    run(["sgdisk", "-n", f"1:{PART_START}:+{PART_SECTORS}", "-t", "1:8300",
         "-c", "1:vireo-root", path])


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip() or r.stdout.strip()}")
    return r.stdout


def cmdline(options, console_hvc=True):
    """The kernel command line of every boot here. dyndbg turns on the driver
    core's one line per bound driver (the balloon and the RNG print nothing else);
    it prints at debug level, which loglevel=8 lets through to the console."""
    c = "console=ttyS0"
    if console_hvc:
        c += " console=hvc0"
    c += " root=/dev/vda1 ro ip=dhcp panic=-1 loglevel=8 dyndbg=\"func driver_bound +p\""
    return (c + " " + options).strip()


def tcg_append():
    """Extra kernel options for QEMU's TCG only: the TSC frequency. TCG's TSC is the host's,
    and on a loaded host the kernel's calibration against TCG's PIT fails ("Unable to
    calibrate against PIT"), after which it hangs; under KVM, kvmclock gives the frequency."""
    for line in open("/proc/cpuinfo"):
        if line.startswith("cpu MHz"):
            return "tsc_early_khz=%d" % round(float(line.split(":")[1]) * 1000)
    return ""


def strip_time(line):
    return re.sub(r"^\[\s*\d+\.\d+\] ", "", line.rstrip("\r\n"))


def milestone(log):
    """The last milestone the log reached: (needle, words) or None."""
    last = None
    for needle, words in MILESTONES:
        if needle in log:
            last = (needle, words)
    return last


def pci_functions(log):
    """{slot: 'vvvv:dddd'} from the kernel's PCI enumeration lines."""
    found = {}
    for m in re.finditer(r"pci 0000:00:([0-9a-f]{2})\.0: \[([0-9a-f]{4}):([0-9a-f]{4})\]", log):
        found[int(m.group(1), 16)] = m.group(2) + ":" + m.group(3)
    return found


def bound_drivers(log):
    """[(driver, device)] from dyndbg's driver_bound lines."""
    return re.findall(r"driver: '([^']+)': driver_bound: bound to device '([^']+)'", log)


WARNING_RE = re.compile(r"warn|error|fail|bug|unable|cannot|can't|invalid|timed out|timeout|"
                        r"not found|unknown|bad |corrupt|mismatch|unsupported|disabled",
                        re.I)


def normalise(line):
    """A log line with numbers that differ between runs and VMMs blanked."""
    line = strip_time(line)
    line = re.sub(r"0x[0-9a-f]+", "0x#", line)
    line = re.sub(r"\b[0-9a-f]{6,}\b", "#", line)
    return re.sub(r"\d+", "#", line)


def warnings(log):
    return {normalise(ln) for ln in log.splitlines() if WARNING_RE.search(strip_time(ln))}


# Lines that differ from QEMU's for a reason that is not a device's, each with the reason.
KNOWN_DIFFERENCES = {
    # qemu64 is family 15 model 107 (QEMU's identity) with the host's vendor, as QEMU gives
    # it under KVM; the reference run here is QEMU's TCG, where qemu64 is AuthenticAMD. Linux
    # has no PMU driver for an Intel family-15 (Netburst) CPU in a guest.
    "Performance Events: unsupported Netburst CPU model # no PMU driver, software events only.",
}


# Driver bindings that differ because the two VMMs describe their ACPI platform
# differently, not because a device differs: vireo-vmm offers the power button as the
# FADT's fixed-feature button (Linux's LNXPWRBN) and reserves the ECAM window in a second
# PNP0C02 motherboard-resources device; QEMU's microvm signals it through a Generic Event
# Device (ACPI0013) with a PNP0C0C button.
BINDINGS_ONLY_VIREO = {("button", "LNXPWRBN:00"), ("system", "00:03")}
BINDINGS_ONLY_QEMU = {("acpi-ged", "ACPI0013:00"), ("button", "PNP0C0C:00")}


def before_init(log):
    """The log up to the kernel's start of init: what follows is user space, which
    cannot run where kernel code is emulated (its failure is the machine's limit)."""
    i = log.find("Run /sbin/init")
    return log if i < 0 else log[:log.find("\n", i) + 1]
