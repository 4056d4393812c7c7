"""vmmlib.py - what the vireo-vmm integration tests share: TAP results, a VMM
process whose serial output is read line by line, and a small QMP client.

The tests run the same command line under vireo-vmm and QEMU, so nothing here
knows which VMM it is talking to.
"""
import json
import queue
import re
import socket
import subprocess
import threading
import time


class Tap:
    """Collects checks and prints them as TAP (diagnostics: the last 30 lines)."""

    def __init__(self):
        self.results = []

    def check(self, good, name, diag=None):
        self.results.append((bool(good), name, diag))
        return bool(good)

    def report(self):
        print("1..%d" % len(self.results))
        for i, (good, name, diag) in enumerate(self.results, 1):
            print("%s %d - %s" % ("ok" if good else "not ok", i, name))
            if not good and diag:
                for line in str(diag).splitlines()[-30:]:
                    print("# " + line)
        return 0


class Guest:
    """A VMM process with its serial console on stdout. A reader thread queues
    the lines (select() cannot see lines Python has already buffered)."""

    def __init__(self, cmd, stdin=None, pass_fds=()):
        self.p = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, pass_fds=pass_fds)
        self.out = []
        self.lines = queue.Queue()
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        for line in self.p.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_line(self, needle, timeout=90):
        """The first line containing needle (kept in self.out), or None at the
        end of output or after timeout seconds."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                self.lines.put(None)  # later calls see the end too
                return None
            self.out.append(line)
            if needle in line:
                return line
        return None

    def finish(self, timeout=90):
        """Waits for the process; returns (exit status, all output, stderr)."""
        self.p.wait(timeout=timeout)
        while True:
            line = self.lines.get(timeout=timeout)
            if line is None:
                break
            self.out.append(line)
        return self.p.returncode, "".join(self.out), self.p.stderr.read()

    def text(self):
        return "".join(self.out)

    def type(self, text):
        """Writes text to the serial console's input (a Guest made with stdin=PIPE)."""
        self.p.stdin.write(text)
        self.p.stdin.flush()

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


class Qmp:
    """A QMP client on a unix socket, past the greeting and capabilities."""

    def __init__(self, path, timeout=20):
        end = time.monotonic() + timeout
        while True:
            self.s = socket.socket(socket.AF_UNIX)
            try:
                self.s.connect(path)
                break
            except OSError:
                self.s.close()
                if time.monotonic() > end:
                    raise
                time.sleep(0.05)
        # Read-only: a text file in "rw" mode drops the lines it has read ahead when it is
        # written to (events that came in the same read as a reply would be lost).
        self.f = self.s.makefile("r")
        self.f.readline()
        self.events = []
        self.cmd("qmp_capabilities")

    def cmd(self, name, args=None, fd=None):
        """Sends a command (with fd passed alongside as SCM_RIGHTS, for getfd); returns its
        reply ({"return": ...} or {"error": ...}), keeping the events that came before it in
        self.events."""
        msg = {"execute": name}
        if args is not None:
            msg["arguments"] = args
        data = (json.dumps(msg) + "\n").encode()
        if fd is None:
            self.s.sendall(data)
        else:
            self.s.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                     fd.to_bytes(4, "little", signed=True))])
        while True:
            m = json.loads(self.f.readline())
            if "return" in m or "error" in m:
                return m
            self.events.append(m)

    def drain(self):
        """Keeps the events still to be read after the VMM went away (its exit closed the
        socket); returns self.events."""
        try:
            for line in self.f:
                m = json.loads(line)
                if "event" in m:
                    self.events.append(m)
        except (OSError, ValueError):
            pass
        return self.events

    def close(self):
        self.s.close()


def err_is(reply, cls, desc):
    """Is reply a QMP error of class cls with exactly the text desc?"""
    e = reply.get("error", {})
    return e.get("class") == cls and e.get("desc") == desc


# One record of a state-mode tick line, or the piece of one a hop left in this log: a
# whole "tick=N acked=N timer=", a start cut inside "acked=... timer=" (from "tick=N a"
# on), a start cut right after "tick=N " (not counted here), or a rest "acked=N timer=".
STATE_TICK = re.compile(r"tick=(\d+) (?:(acked=\d+ timer=)|(a))?|acked=(\d+) timer=")


def state_ticks(text):
    """The tick numbers of the test guest's state mode ("# state: tick=N acked=N timer=T"
    lines; acked is always N), each counted once across the logs a VM printed into. A VM
    stopped mid-line for a save or a migration hop prints the line's rest after the hop,
    in the other host's log, where it may follow the cut piece of an earlier stay there,
    so one log line can hold several records (every one is read). A line counts where its
    "acked=N timer=" is whole: in the rest when the cut came before "acked=" (a start
    ending "tick=N " is not counted, nor one cut inside the number), in the start when
    the cut came later (its rest, from inside "acked=... timer=", has no number)."""
    out = []
    for line in text.split("\n"):
        for m in STATE_TICK.finditer(line):
            if m.group(4) is not None:
                out.append(int(m.group(4)))
            elif m.group(2) or m.group(3):
                out.append(int(m.group(1)))
    return out
