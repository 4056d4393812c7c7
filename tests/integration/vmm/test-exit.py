#!/usr/bin/env python3
"""vireo-vmm's exit: what is left when the parent's wait returns.

Usage: test-exit.py VIREO_VMM TEST_GUEST_ELF POWEROFF_GUEST_ELF

vireo-vmm hands KVM's teardown of the VM to a kernel worker so that its exit
does not wait for it (src/vmm/kvm/release.c). For a guest that ends through
isa-debug-exit (status 1), one that powers off through ACPI (status 0) and
one with -M microvm,pit=off, each with a qcow2 disk on virtio-blk:
 - the exit status is the guest's and the debug log says the teardown was
   left to a kernel worker;
 - when the wait returns, no process has the disk image open and the image
   checks clean (qemu-img check);
 - with the PIT, the VM is then destroyed: the PIT's kernel thread
   (kvm-pit/PID) goes away (checked by polling, not timed).
Prints TAP.
"""
import os
import subprocess
import sys
import tempfile
import time

HANDOFF = "KVM's teardown of the VM is left to a kernel worker"


def pit_thread_exists(pid):
    want = f"kvm-pit/{pid}"
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as f:
                if f.read().strip() == want:
                    return True
        except OSError:
            pass
    return False


def holders(path):
    """Pids of processes with path open."""
    real = os.path.realpath(path)
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            for fd in os.listdir(f"/proc/{entry}/fd"):
                if os.readlink(f"/proc/{entry}/fd/{fd}") == real:
                    found.append(int(entry))
                    break
        except OSError:
            pass
    return found


def main():
    vmm, testguest, poweroff = sys.argv[1:4]
    results = []

    def check(good, name, diag=None):
        results.append((bool(good), name, diag))

    with tempfile.TemporaryDirectory(prefix="vmm-exit-") as tmp:
        disk = os.path.join(tmp, "disk.qcow2")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", disk, "16M"], check=True)
        cases = [
            ("isa-debug-exit", "microvm,acpi=on", testguest, "tests=none", 1),
            ("ACPI power-off", "microvm,acpi=on", poweroff, "now", 0),
            ("isa-debug-exit, pit=off", "microvm,acpi=on,pit=off", testguest, "tests=none", 1),
        ]
        for name, machine, kernel, append, want in cases:
            argv = [vmm, "-M", machine, "-nodefaults", "-display", "none", "-m", "64M",
                    "-kernel", kernel, "-append", append,
                    "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
                    "-drive", f"file={disk},format=qcow2,if=none,id=d0",
                    "-device", "virtio-blk-pci,drive=d0"]
            env = dict(os.environ, VIREO_LOG="debug")
            p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, env=env)
            pid = p.pid
            try:
                _, err = p.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                _, err = p.communicate()
            # Right after the wait: nothing holds the image, and it is consistent.
            held = holders(disk)
            chk = subprocess.run(["qemu-img", "check", disk], capture_output=True, text=True)
            check(p.returncode == want, f"{name}: exit status {want}",
                  f"status {p.returncode}\n{err}")
            check(HANDOFF in err, f"{name}: KVM's teardown left to a kernel worker", err)
            check(not held, f"{name}: when the wait returns no process has the image open",
                  f"held by {held}")
            check(chk.returncode == 0, f"{name}: the image checks clean at once",
                  chk.stdout + chk.stderr)
            if "pit=off" in machine:
                continue
            deadline = time.monotonic() + 30
            while pit_thread_exists(pid) and time.monotonic() < deadline:
                time.sleep(0.01)
            check(not pit_thread_exists(pid), f"{name}: the VM is then destroyed (no kvm-pit/{pid})")

    print("1..%d" % len(results))
    for i, (good, name, diag) in enumerate(results, 1):
        print("%s %d - %s" % ("ok" if good else "not ok", i, name))
        if not good and diag:
            for line in str(diag).splitlines()[-30:]:
                print("# " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
