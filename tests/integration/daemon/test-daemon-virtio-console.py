#!/usr/bin/python3
"""<console type='pty'><target type='virtio'/> through vireod (issue #16), as libvirt's QEMU
driver offers it: the domain's console is a virtconsole port (console0) on a virtio-serial
controller, and the guest has no serial port.

Usage: test-daemon-virtio-console.py VIREOD VIREO_VMM TEST_GUEST_ELF

The test guest's console test (tests=console) drives the virtio console as Linux's driver
does: the control handshake, a line read from port 0, its hello line and the line echoed in
upper case. The test types the line through `virsh console DOM` (and `--devname console0`)
and reads the guest's answer there, then through the pty `virsh ttyconsole` names; the
console log has it too. vireo-vmm's command line has the virtconsole and no COM1; the serial
alias is refused as libvirt refuses an alias the domain lacks, and a virtio console beside
a serial port is refused at start in one line.
"""
import os
import pty
import select
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import Daemon, Tap, domain_xml, skip_all, wait_for  # noqa: E402

VIREOD, VMM, GUEST = sys.argv[1:4]
GUEST = os.path.abspath(GUEST)
t = Tap()
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("no /dev/kvm")
if not shutil.which("virsh"):
    skip_all("no virsh")
d = Daemon(VIREOD, VMM)
CONSOLE = "    <console type='pty'>\n      <target type='virtio'/>\n    </console>\n"


def read_until(fd, seen, token, limit=120.0):
    end = time.monotonic() + limit
    while token not in seen and time.monotonic() < end:
        if select.select([fd], [], [], 0.2)[0]:
            try:
                seen += os.read(fd, 4096)
            except OSError:
                break
    return seen


def virsh_console(args, line):
    """virsh console on a pty: attach, type line, read the guest's echo, detach."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe("virsh", ["virsh", "-c", d.uri, "console"] + args, d.env)
    seen = read_until(fd, b"", b"(Ctrl + ])", 60)
    time.sleep(0.5)  # virsh switches the terminal to raw mode after that line
    os.write(fd, line + b"\n")
    seen = read_until(fd, seen, b"ECHO: " + line.upper())
    os.write(fd, b"\x1d")
    status = os.waitpid(pid, 0)[1]
    os.close(fd)
    return seen, status


def main():
    d.start()
    xml = domain_xml("vc", GUEST, "tests=console con_mode=echo", devices=CONSOLE)
    r = d.virsh("define", d.write("vc.xml", xml))
    t.ok(r.returncode == 0, "define a domain whose console is virtio", r.stderr)
    inactive = d.virsh("dumpxml", "vc").stdout
    t.ok("<controller type='virtio-serial' index='0'>" in inactive and
         "<target type='virtio' port='0'/>" in inactive and "<serial" not in inactive,
         "dumpxml: a virtio-serial controller, the console on port 0, no serial (as libvirt)",
         inactive)
    r = d.virsh("start", "vc")
    t.ok(r.returncode == 0, "start", r.stderr + d.vmm_log("vc"))
    argv = open(os.path.join(d.root, "log", "vc.log")).read().splitlines()[-1]
    t.ok("-serial none " in argv and "-device virtconsole,bus=virtio-serial0.0,nr=0,"
         "chardev=charconsole0,id=console0" in argv and "id=charconsole0" in argv,
         "vireo-vmm runs with the virtconsole on the console socket and no COM1", argv)
    pid, fd = pty.fork()  # virsh console wants a terminal
    if pid == 0:
        os.execvpe("virsh", ["virsh", "-c", d.uri, "console", "vc", "serial0"], d.env)
    seen = read_until(fd, b"", b"serial0", 60)
    seen = read_until(fd, seen, b"\n", 5)
    os.write(fd, b"\x1d")
    status = os.waitpid(pid, 0)[1]
    os.close(fd)
    t.ok(status != 0 and b"cannot find character device serial0" in seen,
         "console vc serial0: the domain has no such device (libvirt's line)", seen)
    seen, status = virsh_console(["vc"], b"hello virtio")
    t.ok(b"vireo-testguest console: hello" in seen and b"ECHO: HELLO VIRTIO" in seen and
         status == 0,
         "virsh console vc: the line reaches the guest's virtio console, its answer comes back",
         seen[-600:])
    t.ok("ECHO: HELLO VIRTIO" in d.console_log("vc"), "... and is in the console log",
         d.console_log("vc")[-600:])
    live = d.virsh("dumpxml", "vc").stdout
    tty = d.virsh("ttyconsole", "vc").stdout.strip()
    t.ok(tty.startswith("/dev/pts/") and "<console type='pty' tty='%s'>" % tty in live,
         "ttyconsole names the pty, the live XML shows it", live)
    d.virsh("destroy", "vc")

    # again with --devname console0, then the pty itself (con_again: a second line)
    xml = domain_xml("vc2", GUEST, "tests=console con_mode=echo con_again=1", devices=CONSOLE)
    d.virsh("define", d.write("vc2.xml", xml))
    r = d.virsh("start", "vc2")
    seen, status = virsh_console(["--devname", "console0", "vc2"], b"first")
    t.ok(r.returncode == 0 and b"ECHO: FIRST" in seen and status == 0,
         "virsh console --devname console0: the same console", seen[-600:] + r.stderr.encode())
    tty = d.virsh("ttyconsole", "vc2").stdout.strip()
    out = b""
    if tty.startswith("/dev/pts/"):
        fd = os.open(tty, os.O_RDWR | os.O_NOCTTY)
        os.write(fd, b"second\n")
        out = read_until(fd, b"", b"ECHO: SECOND")
        os.close(fd)
    t.ok(b"ECHO: SECOND" in out, "the pty reaches the same virtio console", out[-600:])
    d.virsh("destroy", "vc2")

    # a virtio console beside a serial port: refused at start, in one line
    xml = domain_xml("vcs", GUEST, "tests=none",
                     devices="    <serial type='pty'/>\n" + CONSOLE)
    d.virsh("define", d.write("vcs.xml", xml))
    r = d.virsh("start", "vcs")
    t.ok(r.returncode != 0 and "a virtio console beside a serial port (console1) is not "
         "supported yet" in r.stderr and d.vmm_pid("vcs") is None,
         "a virtio console beside a serial port: refused at start in one line", r.stderr)


try:
    main()
finally:
    d.stop()
t.done()
