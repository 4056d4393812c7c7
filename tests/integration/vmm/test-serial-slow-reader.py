#!/usr/bin/env python3
"""The serial console loses nothing when its reader falls behind.

Usage: test-serial-slow-reader.py TEST_GUEST_ELF VMM...

The guest's serial port is a unix socket (as vireod connects it). The test
connects, lets the guest run, and reads nothing for a few seconds while the
guest prints its TAP report (each OUT to THR is one small send, so the socket
fills after a few hundred bytes); then it reads to the end. The UART must
hold the guest back (LSR's THRE clear while the back-end cannot take a byte)
instead of dropping bytes: the output read late must equal the output of the
same guest on -serial stdio, line for line. Run under vireo-vmm and QEMU.
"""
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time

from vmmlib import Qmp, Tap

tap = Tap()
check = tap.check
ARGS = "tests=boot,mem,cmdline,acpi,pci"


def base(vmm, elf):
    return shlex.split(vmm) + [
        "-nodefaults", "-display", "none", "-m", "128M", "-kernel", elf, "-append", ARGS,
        "-device", "isa-debug-exit,iobase=0xf4,iosize=4"]


def main():
    elf, vmm = sys.argv[1], " ".join(sys.argv[2:])
    with tempfile.TemporaryDirectory() as tmp:
        ref = subprocess.run(base(vmm, elf) + ["-serial", "stdio"], capture_output=True,
                             text=True, timeout=300)
        ref_lines = ref.stdout.splitlines()
        check(len(ref_lines) > 20 and ref_lines[-1].startswith("1.."),
              "reference run on stdio prints a whole TAP report", ref.stdout[-300:])

        ser, qsock = os.path.join(tmp, "serial.sock"), os.path.join(tmp, "qmp.sock")
        p = subprocess.Popen(base(vmm, elf) + [
            "-S", "-serial", f"unix:{ser},server=on,wait=off",
            "-qmp", f"unix:{qsock},server=on,wait=off"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            q = Qmp(qsock)
            s = socket.socket(socket.AF_UNIX)
            s.connect(ser)
            # The smallest receive buffer: the socket is full after a few sends.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
            time.sleep(0.2)  # the VMM has accepted the connection before the guest runs
            check("return" in q.cmd("cont"), "cont")
            time.sleep(3)  # the reader is behind: nothing read for a while
            data = b""
            s.settimeout(120)
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            rc = p.wait(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        lines = data.decode(errors="replace").splitlines()
        check(rc == ref.returncode, "the guest ends as on stdio (exit status %d)" % rc)
        missing = [l for l in ref_lines if l not in lines]
        check(len(lines) == len(ref_lines) and not missing,
              "every line of the report arrives after the reader caught up",
              "got %d lines, expected %d; first missing: %r; tail: %r" %
              (len(lines), len(ref_lines), missing[:2], data[-200:]))
    return tap.report()


if __name__ == "__main__":
    sys.exit(main())
