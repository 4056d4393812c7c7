#!/usr/bin/env python3
"""QEMU's human monitor in vireo-vmm, side by side with QEMU 7.2.

Usage: test-hmp.py TEST_GUEST_ELF VIREO_VMM

The same command line (microvm, 2 vCPUs, a name and uuid, a virtio-blk disk, -S) runs under
vireo-vmm and under QEMU; each HMP command below goes through QMP's human-monitor-command
(what `virsh qemu-monitor-command --hmp` sends) to both, and the outputs must be equal byte
for byte: run-state lines before and after stop/cont, name, uuid, kvm, cpus (thread ids
masked: they are the processes' own), help lines, xp of the loaded guest image, the error
lines of unknown commands, bad arguments and failing QMP commands, and what block_resize
and stop/cont do. Then, under vireo-vmm only, the monitor on a character device
(-monitor unix:..., -mon chardev=ID): greeting, prompt, echo, a command's output, quit;
and the options' refusals.
"""
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time

from vmmlib import Qmp, Tap

tap = Tap()
check = tap.check
UUID = "5e0b8a2c-1111-4222-8333-944455556666"


def base(elf, disk, fmt="raw"):
    return ["-nodefaults", "-display", "none", "-name", "hmpvm", "-uuid", UUID, "-m", "128M",
            "-smp", "2", "-kernel", elf, "-append", "tests=none", "-serial", "none", "-S",
            "-drive", f"file={disk},format={fmt},if=none,id=drive0",
            "-device", "virtio-blk-pci,drive=drive0,id=blk0"]


def qcow2(path, snapshot=None):
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", path, "16M"], check=True)
    if snapshot:
        subprocess.run(["qemu-img", "snapshot", "-c", snapshot, path], check=True)


class Vmm:
    def __init__(self, prefix, elf, tmp, tag, extra=(), fmt="raw"):
        self.disk = os.path.join(tmp, tag + "." + fmt)
        if fmt == "qcow2":
            # Two qcow2 disks: drive0 takes the VM state, drive1 starts with a snapshot of
            # its own (a partial one: drive0 lacks it).
            qcow2(self.disk)
            other = os.path.join(tmp, tag + "-1.qcow2")
            qcow2(other, "only1")
            extra = list(extra) + ["-drive", f"file={other},format=qcow2,if=none,id=drive1",
                                   "-device", "virtio-blk-pci,drive=drive1,id=blk1"]
        else:
            with open(self.disk, "wb") as f:
                f.truncate(16 << 20)
        self.sock = os.path.join(tmp, tag + ".qmp")
        self.p = subprocess.Popen(prefix + base(elf, self.disk, fmt) + list(extra) +
                                  ["-qmp", f"unix:{self.sock},server=on,wait=off"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.q = Qmp(self.sock)

    def hmp(self, line):
        r = self.q.cmd("human-monitor-command", {"command-line": line})
        return r.get("return", r)

    def close(self):
        if self.p.poll() is None:
            self.q.cmd("quit")
            try:
                self.p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


COMMANDS = [
    "info status", "info name", "info uuid", "info kvm", "info cpus",
    "help balloon", "help stop", "help cont", "help quit", "help system_reset",
    "help system_powerdown", "help help", "help xp", "help block_resize", "help nosuch",
    "xp /4xw 0x100000", "xp /3xb 0x100010", "xp 0x100020", "xp /5xg 0x100000",
    "foo", "info foo", "balloon", "balloon abc", "stop extra", "info status extra",
    "block_resize drive0", "block_resize nosuch 1M", "info balloon", "balloon 64",
    "stop", "info status", "cont", "info status", "s", "info status", "c", "info status",
    "block_resize drive0 32M",
    # Internal snapshots on a raw disk: refused as QEMU refuses them.
    "help savevm", "help loadvm", "help delvm", "help info snapshots", "info snapshots",
    "savevm a", "loadvm a", "delvm a", "loadvm", "delvm", "savevm a b",
    # Keys and the screen (no display here: QEMU's errors).
    "help sendkey", "help screendump", "sendkey", "sendkey nosuch", "sendkey ctrl-nosuch-a",
    "sendkey 0x1zz", "sendkey ctrl-alt-f1", "sendkey a 10", "sendkey < 5", "sendkey a x",
    "screendump", "screendump /tmp/vireo-hmp-never.ppm",
    "screendump /tmp/vireo-hmp-never.ppm -f png", "screendump /tmp/vireo-hmp-never.ppm nosuch",
    "screendump /tmp/vireo-hmp-never.ppm blk0", "screendump /tmp/vireo-hmp-never.ppm blk0 1",
    "info vnc", "info usb", "help info vnc", "help info usb", "help info blockstats",
]

# savevm, loadvm, delvm and info snapshots on two qcow2 disks (sizes, dates, clocks and the
# generated tag masked: they are the run's own).
SNAPSHOT_COMMANDS = [
    "info snapshots", "savevm snap1", "info snapshots", "savevm snap1", "info snapshots",
    "loadvm nosuch", "loadvm only1", "loadvm snap1", "info status", "delvm nosuch",
    "delvm snap1", "info snapshots", "savevm", "info snapshots", "cont", "savevm snap2",
    "info status", "loadvm snap2", "info status", "info snapshots",
]


def mask(text):
    text = re.sub(r"thread_id=\d+", "thread_id=N", text)
    text = re.sub(r"vm-\d{14}", "vm-YYYYMMDDhhmmss", text)
    return re.sub(r" *\S+ [KMGTPE]?i?B \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \d\d:\d\d:\d\d\.\d{3}",
                  " SIZE DATE CLOCK", text)


def monitor_session(path, lines):
    """Connects to a readline monitor, sends each line, returns all it wrote."""
    s = socket.socket(socket.AF_UNIX)
    for _ in range(100):
        try:
            s.connect(path)
            break
        except OSError:
            time.sleep(0.05)
    s.settimeout(10)
    data = b""

    def until(marker):
        nonlocal data
        while not data.endswith(marker):
            chunk = s.recv(4096)
            if not chunk:
                return False
            data += chunk
        return True

    until(b"(qemu) ")
    for line in lines:
        s.sendall(line.encode() + b"\r")
        if line in ("q", "quit"):
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        else:
            until(b"(qemu) ")
    s.close()
    return data.decode(errors="replace")


def main():
    elf, vireo = sys.argv[1], sys.argv[2]
    qemu = shlex.split("qemu-system-x86_64 -enable-kvm -M microvm,acpi=on,pcie=on")
    with tempfile.TemporaryDirectory() as tmp:
        v = Vmm([vireo], elf, tmp, "vireo")
        q = Vmm(qemu, elf, tmp, "qemu")
        try:
            for c in COMMANDS:
                a, b = mask(v.hmp(c)), mask(q.hmp(c))
                check(a == b, f"{c!r}: vireo-vmm prints what QEMU prints",
                      f"vireo-vmm: {a!r}\nqemu:      {b!r}")
            sizes = [m.q.cmd("query-block")["return"][0]["inserted"]["image"]["virtual-size"]
                     for m in (v, q)]
            check(sizes == [32 << 20, 32 << 20], "block_resize resized the disk in both",
                  sizes)
            classes = []
            for m in (v, q):
                devs = m.q.cmd("query-pci")["return"][0]["devices"]
                classes += [d["class_info"] for d in devs if d.get("qdev_id") == "blk0"]
            check(len(classes) == 2 and classes[0] == classes[1],
                  "virtio-blk-pci has QEMU's PCI class (mass storage, SCSI: 0x0100)", classes)
            r = v.q.cmd("human-monitor-command", {"command-line": "info cpus", "cpu-index": 1})
            check(r.get("return", "").startswith("  CPU #0") and "* CPU #1" in r["return"],
                  "cpu-index 1 makes CPU #1 the monitor's current CPU", r)
            r = v.q.cmd("human-monitor-command", {"command-line": "info cpus", "cpu-index": 9})
            check(r.get("error", {}).get("desc") == "Parameter 'cpu-index' expects a CPU number",
                  "a cpu-index past the last CPU is refused as QEMU refuses it", r)
            r = v.hmp("info pci")
            check("id \"blk0\"" in r and r.startswith("  Bus  0, device   0, function 0:\r\n"),
                  "info pci lists the devices in QEMU's layout", r)
            r = v.hmp("info block")
            check(r.startswith("drive0: ") and "Cache mode:       writeback" in r,
                  "info block names the drive and its cache mode", r)
        finally:
            v.close()
            q.close()
        check(v.p.returncode == 0, "quit ends vireo-vmm with status 0", v.p.stderr.read())

        v = Vmm([vireo], elf, tmp, "vireo-snap", fmt="qcow2")
        q = Vmm(qemu, elf, tmp, "qemu-snap", fmt="qcow2")
        try:
            for c in SNAPSHOT_COMMANDS:
                a, b = mask(v.hmp(c)), mask(q.hmp(c))
                check(a == b, f"{c!r} (qcow2): vireo-vmm prints what QEMU prints",
                      f"vireo-vmm: {a!r}\nqemu:      {b!r}")
        finally:
            v.close()
            q.close()
        r = subprocess.run(["qemu-img", "snapshot", "-l", v.disk], capture_output=True,
                           text=True)
        check(r.returncode == 0 and "snap2" in r.stdout and "snap1" not in r.stdout and
              not re.search(r"snap2\s+0 B", r.stdout),
              "qemu-img sees savevm's snapshot with its VM state, and delvm's gone", r.stdout)

        # The monitor on a character device (QEMU's readline mode).
        msock = os.path.join(tmp, "mon.sock")
        disk = os.path.join(tmp, "m.raw")
        open(disk, "wb").truncate(1 << 20)
        p = subprocess.Popen([vireo] + base(elf, disk) +
                             ["-monitor", f"unix:{msock},server=on,wait=off"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        out = monitor_session(msock, ["info status", "info nme\x7f\x7fame", "q"])
        p.wait(timeout=20)
        check(out.startswith("QEMU 7.2.0 monitor - type 'help' for more information\r\n(qemu) "),
              "-monitor: greeting and prompt as QEMU's", out[:120])
        check("info status\r\nVM status: paused (prelaunch)\r\n(qemu) " in out,
              "-monitor: the line is echoed and its output follows, then the prompt", out)
        check("hmpvm\r\n" in out, "-monitor: backspace edits the line (info nme<BS><BS>ame)",
              out)
        check(p.returncode == 0, "-monitor: q quits vireo-vmm", p.stderr.read())

        csock = os.path.join(tmp, "mon2.sock")
        p = subprocess.Popen([vireo] + base(elf, disk) +
                             ["-chardev", f"socket,id=hmp0,path={csock},server=on,wait=off",
                              "-mon", "chardev=hmp0,mode=readline"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        out = monitor_session(csock, ["info uuid", "quit"])
        p.wait(timeout=20)
        check(f"info uuid\r\n{UUID}\r\n" in out and p.returncode == 0,
              "-mon chardev=ID serves the monitor on that -chardev", out)

        for args, want in [
            (["-mon", "chardev=hmp0,mode=control", "-chardev", "socket,id=hmp0,path=/nonexistent/x,server=on,wait=off"],
             "mode=control is not supported by vireo-vmm (use -qmp)"),
            (["-mon", "chardev=nosuch"], "chardev \"nosuch\" not found"),
            (["-monitor", "stdio", "-chardev", "stdio,id=s1"],
             "cannot use stdio by multiple character devices"),
            (["-monitor", "tcp:1.2.3.4:5"], "-monitor tcp:1.2.3.4:5"),
        ]:
            r = subprocess.run([vireo] + base(elf, disk)[:-4] + args, capture_output=True,
                               text=True, timeout=30)
            lines = r.stderr.strip().splitlines()
            check(r.returncode == 1 and len(lines) == 1 and want in lines[0],
                  f"{' '.join(args)}: refused with one line", r.stderr)
    return tap.report()


if __name__ == "__main__":
    sys.exit(main())
