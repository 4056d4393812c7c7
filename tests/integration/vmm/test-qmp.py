#!/usr/bin/env python3
"""QMP against a real running vireo-vmm (stdlib json + socket only).

Usage: test-qmp.py VIREO_VMM TEST_GUEST_ELF POWEROFF_GUEST_ELF

Scenarios, each checking replies and the events that come with them:
 1. -S: greeting, qmp_capabilities, query-version/-status/-name/-uuid/-kvm,
    query-cpus-fast (thread ids are threads of the process), cont (RESUME),
    stop (STOP), cont, system_reset (RESET), errors for an unknown command
    and bad arguments, garbage and a mid-message disconnect that change
    nothing, a second client, quit (SHUTDOWN host-qmp-quit, exit 0).
 2. system_powerdown: POWERDOWN; the guest sees the ACPI power button and
    powers off: SHUTDOWN guest-shutdown, exit status 0.
 3. -no-shutdown: guest poweroff leaves the process paused in "shutdown"
    (SHUTDOWN then STOP); cont is refused; quit ends it.
 4. SIGTERM: SHUTDOWN host-signal and exit status 0.
Prints TAP.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

results = []


def check(cond, name, diag=None):
    results.append((bool(cond), name, diag))
    return cond


class Qmp:
    def __init__(self, path, timeout=10.0):
        deadline = time.time() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.time() > deadline:
                    raise
                time.sleep(0.02)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.events = []
        self.greeting = self.recv()

    def recv(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("connection closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, args=None, raw=None):
        msg = raw if raw is not None else json.dumps(
            {"execute": name, **({"arguments": args} if args is not None else {})})
        self.sock.sendall(msg.encode() + b"\n")
        while True:
            r = self.recv()
            if "event" in r:
                self.events.append(r)
            else:
                return r

    def event(self, name, timeout=10.0):
        for i, e in enumerate(self.events):
            if e["event"] == name:
                return self.events.pop(i)
        self.sock.settimeout(timeout)
        try:
            while True:
                r = self.recv()
                if r.get("event") == name:
                    return r
                if "event" in r:
                    self.events.append(r)
        except (socket.timeout, EOFError):
            return None

    def drain(self):
        """Every complete reply already received or arriving within 0.2 s."""
        out = []
        self.sock.settimeout(0.2)
        try:
            while True:
                r = self.recv()
                (self.events if "event" in r else out).append(r)
        except (socket.timeout, EOFError):
            pass
        self.sock.settimeout(10.0)
        return out

    def close(self):
        self.sock.close()


def start(vmm, args, sock):
    cmd = [vmm, "-nodefaults", "-display", "none", "-qmp", f"unix:{sock},server,nowait"] + args
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_exit(p, timeout=10):
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        return None


def scenario_main(vmm, guest, tmp):
    sock = os.path.join(tmp, "qmp1.sock")
    uuid = "6a5ed6a4-4a5b-4e3b-9d50-9d0c5b1f2a11"
    p = start(vmm, ["-S", "-name", "qmp-test", "-uuid", uuid, "-smp", "2", "-kernel", guest,
                    "-append", "tests=none"], sock)
    q = Qmp(sock)
    g = q.greeting.get("QMP", {})
    check(g.get("version", {}).get("qemu", {}).get("major") is not None
          and "capabilities" in g, "greeting has QMP version and capabilities", q.greeting)
    r = q.cmd("query-status")
    check(r.get("error", {}).get("class") == "CommandNotFound",
          "commands before qmp_capabilities are refused", r)
    check(q.cmd("qmp_capabilities") == {"return": {}}, "qmp_capabilities")
    r = q.cmd("query-version")
    check("qemu" in r.get("return", {}), "query-version", r)
    r = q.cmd("query-status")
    check(r.get("return") == {"status": "prelaunch", "singlestep": False, "running": False}
          or (r.get("return", {}).get("status") == "prelaunch"
              and r["return"].get("running") is False),
          "-S: query-status says prelaunch, not running", r)
    check(q.cmd("query-name") == {"return": {"name": "qmp-test"}}, "query-name")
    check(q.cmd("query-uuid") == {"return": {"UUID": uuid}}, "query-uuid")
    check(q.cmd("query-kvm") == {"return": {"enabled": True, "present": True}}, "query-kvm")
    r = q.cmd("query-cpus-fast")
    cpus = r.get("return", [])
    tids = [c.get("thread-id") for c in cpus]
    check(len(cpus) == 2 and all(os.path.exists(f"/proc/{p.pid}/task/{t}") for t in tids)
          and len(set(tids)) == 2 and p.pid not in tids,
          "query-cpus-fast: two vCPUs, each a distinct thread of the process", r)
    r = q.cmd("cont")
    early = [e["event"] for e in q.events]
    ev = q.event("RESUME")
    check(r == {"return": {}} and ev is not None and "RESUME" in early,
          "cont: RESUME event, before the reply as in QEMU", (r, ev))
    check(q.cmd("query-status")["return"]["status"] == "running", "status running after cont")
    r = q.cmd("stop")
    ev = q.event("STOP")
    check(r == {"return": {}} and ev is not None and "timestamp" in ev, "stop: STOP event",
          (r, ev))
    check(q.cmd("query-status")["return"] == {"status": "paused", "singlestep": False,
                                               "running": False}
          or q.cmd("query-status")["return"]["status"] == "paused", "status paused after stop")
    q.cmd("cont")
    q.event("RESUME")
    r = q.cmd("system_reset")
    check("RESET" in [e["event"] for e in q.events], "system_reset: RESET comes before the reply")
    ev = q.event("RESET")
    check(r == {"return": {}} and ev is not None
          and ev.get("data") == {"guest": False, "reason": "host-qmp-system-reset"},
          "system_reset: RESET event with QEMU's cause", (r, ev))
    check(q.cmd("query-status")["return"]["status"] == "running", "running after reset")
    r = q.cmd("no-such-command")
    check(r.get("error", {}).get("class") == "CommandNotFound",
          "unknown command: CommandNotFound", r)
    r = q.cmd("query-status", {"bogus": 1})
    check(r.get("error", {}).get("class") == "GenericError", "bad arguments: GenericError", r)
    q.sock.sendall(b'{"execute": nonsense}\n')
    time.sleep(0.3)
    replies = q.drain()
    check(replies and all("error" in x for x in replies), "garbage gets error replies", replies)
    check(q.cmd("query-status")["return"]["status"] == "running",
          "the connection still works after garbage")
    # A client that disconnects in the middle of a message changes nothing.
    q2 = Qmp(sock)
    q2.sock.sendall(b'{"execute": "qmp_capabilities"}\n{"execute": "sto')
    q2.close()
    time.sleep(0.2)
    check(q.cmd("query-status")["return"]["status"] == "running",
          "a client vanishing mid-message changes nothing")
    q.close()
    # Another client, one after another.
    q3 = Qmp(sock)
    q3.cmd("qmp_capabilities")
    check(q3.cmd("query-status")["return"]["status"] == "running", "a second client is served")
    r = q3.cmd("quit")
    check("SHUTDOWN" in [e["event"] for e in q3.events], "quit: SHUTDOWN comes before the reply")
    ev = q3.event("SHUTDOWN")
    st = wait_exit(p)
    check(r == {"return": {}} and ev is not None
          and ev.get("data") == {"guest": False, "reason": "host-qmp-quit"} and st == 0,
          "quit: reply, SHUTDOWN host-qmp-quit, exit status 0", (r, ev, st))


def scenario_powerdown(vmm, pguest, tmp):
    sock = os.path.join(tmp, "qmp2.sock")
    p = start(vmm, ["-serial", "stdio", "-kernel", pguest], sock)
    q = Qmp(sock)
    q.cmd("qmp_capabilities")
    r = q.cmd("system_powerdown")
    check("POWERDOWN" in [e["event"] for e in q.events],
          "system_powerdown: POWERDOWN comes before the reply")
    ev = q.event("POWERDOWN")
    check(r == {"return": {}} and ev is not None, "system_powerdown: POWERDOWN event", (r, ev))
    ev = q.event("SHUTDOWN", timeout=20)
    st = wait_exit(p, 20)
    out = p.stdout.read().decode(errors="replace")
    check(ev is not None and ev.get("data") == {"guest": True, "reason": "guest-shutdown"}
          and st == 0 and "power button pressed" in out,
          "the guest sees the ACPI power button and powers off: SHUTDOWN guest-shutdown, "
          "exit status 0", (ev, st, out))


def scenario_no_shutdown(vmm, pguest, tmp):
    sock = os.path.join(tmp, "qmp3.sock")
    p = start(vmm, ["-S", "-no-shutdown", "-kernel", pguest, "-append", "now"], sock)
    q = Qmp(sock)
    q.cmd("qmp_capabilities")
    q.cmd("cont")
    ev1 = q.event("SHUTDOWN")
    ev2 = q.event("STOP")
    check(ev1 is not None and ev1.get("data", {}).get("reason") == "guest-shutdown"
          and ev2 is not None, "-no-shutdown: guest poweroff gives SHUTDOWN then STOP",
          (ev1, ev2))
    r = q.cmd("query-status")
    check(r.get("return", {}).get("status") == "shutdown" and p.poll() is None,
          "-no-shutdown: the process stays, status shutdown", r)
    r = q.cmd("cont")
    check(r.get("error", {}).get("class") == "GenericError", "cont after shutdown is refused", r)
    q.cmd("quit")
    check(wait_exit(p) == 0, "quit ends it with status 0")


def scenario_signal(vmm, guest, tmp):
    sock = os.path.join(tmp, "qmp4.sock")
    p = start(vmm, ["-kernel", guest, "-append", "tests=none"], sock)
    q = Qmp(sock)
    q.cmd("qmp_capabilities")
    p.send_signal(signal.SIGTERM)
    ev = q.event("SHUTDOWN")
    st = wait_exit(p)
    check(ev is not None and ev.get("data") == {"guest": False, "reason": "host-signal"}
          and st == 0, "SIGTERM: SHUTDOWN host-signal, exit status 0", (ev, st))


def main():
    vmm, guest, pguest = sys.argv[1:4]
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("1..0 # SKIP /dev/kvm is not usable")
        return
    tmp = tempfile.mkdtemp(prefix="vireo-qmp-")
    for fn, g in ((scenario_main, guest), (scenario_powerdown, pguest),
                  (scenario_no_shutdown, pguest), (scenario_signal, guest)):
        try:
            fn(vmm, g, tmp)
        except Exception as e:  # a crash of the scenario is a failure, not a test bug
            check(False, f"{fn.__name__} completed", repr(e))
    print(f"1..{len(results)}")
    for i, (good, name, diag) in enumerate(results, 1):
        print(f"{'ok' if good else 'not ok'} {i} - {name}")
        if not good and diag is not None:
            print(f"#   {diag!r}")


if __name__ == "__main__":
    main()
