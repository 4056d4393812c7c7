#!/usr/bin/env python3
"""The main job's guest payload (scripts/mkinitramfs) works: Debian's stock
kernel with the busybox initramfs, a qcow2 disk and user-mode networking,
booted by QEMU with TCG (full emulation), reaches userspace, loads the virtio
modules, sees the disk at its size, takes a DHCP lease from slirp, pings the
gateway and powers off.

  test-initramfs.py SOURCE_ROOT

Why QEMU and TCG: on this project's machines KVM is nested in a mode where a
stock kernel stops early (see ARCHITECTURE.md), so no KVM-based VMM can run
this payload to the end here; TCG emulates every instruction. What vireo-vmm
does with the same kernel is checked by test-debian-kernel.py, and `make run`
runs this payload through vireod. The kernel comes from scripts/debian-kernel
(apt-get download into ~/.cache/vireo); without it the test is skipped,
saying why. Prints TAP.
"""
import os
import re
import subprocess
import sys
import tempfile

src = sys.argv[1]
checks = []


def ok(good, name, diag=None):
    checks.append((good, name, diag))


def main():
    k = subprocess.run([os.path.join(src, "scripts/debian-kernel")], capture_output=True,
                       text=True)
    if k.returncode != 0:
        print("1..0 # SKIP Debian's kernel is not available: " + k.stderr.strip())
        return 0
    kernel = k.stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        initrd = os.path.join(tmp, "initramfs.cpio.gz")
        r = subprocess.run([os.path.join(src, "scripts/mkinitramfs"), kernel, initrd],
                           capture_output=True, text=True)
        ok(r.returncode == 0 and os.path.getsize(initrd) > 100000,
           "mkinitramfs builds a gzip'd cpio archive", r.stderr.strip())
        if r.returncode != 0:
            return report()
        listing = subprocess.run(f"gzip -dc {initrd} | cpio -t --quiet", shell=True,
                                 capture_output=True, text=True).stdout.split()
        ok("init" in listing and "bin/busybox" in listing and
           "lib/modules/virtio_net.ko" in listing,
           "the archive holds /init, busybox and the virtio modules")
        disk = os.path.join(tmp, "disk.qcow2")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", disk, "96M"], check=True)
        cmd = ["qemu-system-x86_64", "-M", "pc", "-accel", "tcg", "-cpu", "max", "-m", "256M",
               "-nodefaults", "-display", "none", "-serial", "stdio", "-no-reboot",
               "-kernel", kernel, "-initrd", initrd, "-append", "console=ttyS0 panic=-1",
               "-drive", f"file={disk},format=qcow2,if=none,id=d0",
               "-device", "virtio-blk-pci,drive=d0",
               "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0"]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, errors="replace",
                               timeout=500)
            out, rc = p.stdout, p.returncode
        except subprocess.TimeoutExpired as e:
            out, rc = (e.stdout or b"").decode(errors="replace"), None
        lines = [ln for ln in out.splitlines() if ln.startswith("vireo-initramfs:")]
        diag = "\n".join(lines[-8:] or out.splitlines()[-8:])
        ok(any("userspace is up" in ln for ln in lines), "the kernel runs /init", diag)
        ok(not any("insmod" in ln and "failed" in ln for ln in lines),
           "every virtio module loads", diag)
        ok(any(re.search(r"disk vda: 96 MiB$", ln) for ln in lines),
           "the virtio disk is seen at its size (96 MiB)", diag)
        # 10.0.2.x: slirp's defaults (QEMU's own -netdev user), never outside the VMM process.
        ok(any("dhcp lease: 10.0.2.15/24" in ln for ln in lines),
           "DHCP from user-mode networking gives 10.0.2.15/24", diag)
        ok(any("ping 10.0.2.2" in ln and ln.endswith("ok") for ln in lines),
           "the gateway 10.0.2.2 answers a ping", diag)
        ok(rc == 0 and any("powering off" in ln for ln in lines),
           "the guest powers off and QEMU exits 0", f"exit status {rc}")
    return report()


def report():
    print(f"1..{len(checks)}")
    for i, (good, name, diag) in enumerate(checks, 1):
        print(("ok" if good else "not ok") + f" {i} - {name}")
        if not good and diag:
            for ln in str(diag).splitlines():
                print("# " + ln)
    return 0 if all(c[0] for c in checks) else 1


sys.exit(main())
