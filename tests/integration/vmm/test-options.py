#!/usr/bin/env python3
"""vireo-vmm's serial back-ends and process options against real guests.

Usage: test-options.py VIREO_VMM TEST_GUEST_ELF POWEROFF_GUEST_ELF

 - -serial unix:PATH,server (waits for the client): the test guest's output
   arrives on the socket and a line typed into it reaches the guest's UART
   by interrupt;
 - -serial pty: the "char device redirected to /dev/pts/N (label serial0)"
   line, then the same input/output round trip through the pty;
 - -serial file:PATH: the guest's TAP ends up in the file;
 - -serial stdio: Ctrl-a c is ignored, Ctrl-a x quits with status 0;
 - -daemonize with -pidfile and -qmp: the parent returns at once with 0, the
   pidfile names the running VM, QMP quit ends it and removes the pidfile.
Prints TAP.
"""
import json
import os
import re
import select
import socket
import subprocess
import sys
import tempfile
import time

results = []


def check(good, name, diag=None):
    results.append((bool(good), name, diag))


def read_until(fd_read, pattern, timeout):
    """Reads with fd_read() until pattern (bytes regex) matches; returns all bytes read."""
    out = b""
    deadline = time.time() + timeout
    while time.time() < deadline and not re.search(pattern, out):
        chunk = fd_read(max(0.0, deadline - time.time()))
        if chunk is None:
            continue
        if chunk == b"":
            break
        out += chunk
    return out


def sock_reader(s):
    def rd(t):
        r, _, _ = select.select([s], [], [], min(t, 0.5))
        return s.recv(4096) if r else None
    return rd


def fd_reader(fd):
    def rd(t):
        r, _, _ = select.select([fd], [], [], min(t, 0.5))
        if not r:
            return None
        try:
            return os.read(fd, 4096)
        except OSError:
            return b""
    return rd


def guest_args(guest, word):
    return ["-nodefaults", "-display", "none", "-kernel", guest, "-append",
            f"tests=boot,uart echo={word}", "-device", "isa-debug-exit,iobase=0xf4,iosize=4"]


def echo_ok(out, word):
    text = out.decode(errors="replace")
    return (f"echo line '{word}' received by interrupt" in text and "not ok" not in text
            and re.search(r"^1\.\.\d+", text, re.M) is not None)


def test_unix(vmm, guest, tmp):
    path = os.path.join(tmp, "serial.sock")
    p = subprocess.Popen([vmm, "-serial", f"unix:{path},server"] + guest_args(guest, "hello-unix"),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    s = None
    for _ in range(200):
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            break
        except OSError:
            s.close()
            s = None
            time.sleep(0.02)
    if s is None:
        p.kill()
        check(False, "-serial unix: connect")
        return
    out = read_until(sock_reader(s), rb"waiting for serial input", 30)
    s.sendall(b"hello-unix\n")
    out += read_until(sock_reader(s), rb"\n1\.\.\d+", 30)
    st = p.wait(30)
    check(echo_ok(out, "hello-unix") and st == 1,
          "-serial unix:PATH,server: guest output on the socket, typed line received by the guest",
          (st, out[-400:]))
    s.close()


def test_pty(vmm, guest):
    # No debug-exit device here: the guest halts after its plan line and the VM stays up
    # until we have read everything (a pty master closed at exit can drop unread output,
    # with QEMU as well), then SIGTERM ends it.
    args = [a for a in guest_args(guest, "hello-pty") if not a.startswith("isa-debug-exit")]
    args.remove("-device")
    p = subprocess.Popen([vmm, "-serial", "pty"] + args,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = p.stdout.readline().decode()
    m = re.match(r"char device redirected to (/dev/pts/\d+) \(label serial0\)$", line.strip())
    check(m, "-serial pty prints QEMU's 'char device redirected to' line", line)
    if not m:
        p.kill()
        return
    fd = os.open(m.group(1), os.O_RDWR | os.O_NOCTTY)
    import tty
    tty.setraw(fd)
    out = read_until(fd_reader(fd), rb"waiting for serial input", 30)
    os.write(fd, b"hello-pty\n")
    out += read_until(fd_reader(fd), rb"\n1\.\.\d+", 30)
    p.terminate()
    st = p.wait(30)
    check(echo_ok(out, "hello-pty") and st == 0,
          "-serial pty: output through the pty, typed line received by the guest",
          (st, out[-400:]))
    os.close(fd)


def test_file(vmm, guest, tmp):
    path = os.path.join(tmp, "serial.txt")
    st = subprocess.run([vmm, "-serial", f"file:{path}", "-nodefaults", "-kernel", guest,
                         "-append", "tests=boot", "-device", "isa-debug-exit,iobase=0xf4,iosize=4"],
                        capture_output=True, timeout=60).returncode
    text = open(path, errors="replace").read() if os.path.exists(path) else ""
    check(st == 1 and text.startswith("# vireo-testguest") and re.search(r"^1\.\.\d+", text, re.M),
          "-serial file:PATH: the guest's output is in the file", (st, text[:200]))


def test_stdio_escape(vmm, pguest):
    p = subprocess.Popen([vmm, "-nodefaults", "-serial", "stdio", "-kernel", pguest],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    read_until(fd_reader(p.stdout.fileno()), rb"ready", 20)
    p.stdin.write(b"\x01c")
    p.stdin.flush()
    time.sleep(0.5)
    alive = p.poll() is None
    p.stdin.write(b"\x01x")
    p.stdin.flush()
    try:
        st = p.wait(10)
    except subprocess.TimeoutExpired:
        p.kill()
        st = None
    check(alive, "-serial stdio: Ctrl-a c is ignored (no monitor)")
    check(st == 0, "-serial stdio: Ctrl-a x quits with status 0", st)


def test_daemonize(vmm, pguest, tmp):
    pidfile = os.path.join(tmp, "vm.pid")
    sock = os.path.join(tmp, "qmp.sock")
    t0 = time.time()
    r = subprocess.run([vmm, "-daemonize", "-pidfile", pidfile, "-nodefaults", "-display", "none",
                        "-qmp", f"unix:{sock},server,nowait", "-kernel", pguest],
                       capture_output=True, timeout=30)
    pid = int(open(pidfile).read()) if os.path.exists(pidfile) else None
    alive = pid is not None and os.path.exists(f"/proc/{pid}")
    check(r.returncode == 0 and alive and time.time() - t0 < 10,
          "-daemonize: the parent returns 0 and the pidfile names the running VM",
          (r.returncode, r.stderr, pid))
    if not alive:
        return
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock)
    f = s.makefile("rwb")
    f.readline()
    for cmd in ("qmp_capabilities", "quit"):
        f.write(json.dumps({"execute": cmd}).encode() + b"\n")
        f.flush()
        f.readline()
    deadline = time.time() + 10
    while os.path.exists(f"/proc/{pid}") and time.time() < deadline:
        time.sleep(0.05)
    check(not os.path.exists(f"/proc/{pid}") and not os.path.exists(pidfile),
          "-daemonize: QMP quit ends the VM and removes the pidfile")


def main():
    vmm, guest, pguest = sys.argv[1:4]
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("1..0 # SKIP /dev/kvm is not usable")
        return
    tmp = tempfile.mkdtemp(prefix="vireo-opts-")
    for fn, args in ((test_unix, (vmm, guest, tmp)), (test_pty, (vmm, guest)),
                     (test_file, (vmm, guest, tmp)), (test_stdio_escape, (vmm, pguest)),
                     (test_daemonize, (vmm, pguest, tmp))):
        try:
            fn(*args)
        except Exception as e:
            check(False, f"{fn.__name__} completed", repr(e))
    print(f"1..{len(results)}")
    for i, (good, name, diag) in enumerate(results, 1):
        print(f"{'ok' if good else 'not ok'} {i} - {name}")
        if not good and diag is not None:
            print(f"#   {diag!r}")


if __name__ == "__main__":
    main()
