#!/usr/bin/python3
"""Network lifecycle events (issue #14): `virsh net-event`, vsh net-event and libvirt-python's
networkEventRegisterAny against vireod, and the same against the real libvirtd 9.0.

Usage: test-daemon-netevents.py VIREOD VIREO_VMM VSH

Each daemon runs in a network namespace of the test's own (vireod under --root, the reference
libvirtd through scripts/libvirtd_ref.py), so the isolated networks' bridges, dnsmasq and
firewall rules (198.18.7.0/24 and 198.18.8.0/24) stay inside it. Watchers, started before the
sequence: the stock virsh, vsh and libvirt-python registered for every network, virsh and vsh
filtered on one network (netB, with --timestamp), and one more virsh that is killed half-way
(a client gone: its registration must go with it, and nobody else must notice). The sequence
(net-define, net-start, net-destroy, net-undefine, net-create of a transient network and its
destroy, and undefine of a running network) is driven by virsh on each daemon; every watcher's
lines must be the expected ones, virsh's and vsh's identical, and vireod's the same as
libvirtd's. A raw registration for event id 1 (libvirt 9.0 has no network metadata event) is
refused with libvirtd's error. Then vsh's net-event answers (--list, its errors, a timeout)
as virsh's, and vireod's exit status (a sanitizer build's leaks and errors).

Nothing here asserts a timing: every wait polls with a generous limit. Prints TAP.
"""
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from daemonlib import (LIBVIRTD_REF, NsDaemon, Tap, libvirtd_ref_start, skip_all,  # noqa: E402
                       wait_for)


EVNET = """<network>
  <name>evnet</name>
  <bridge name='vbr-ev'/>
  <ip address='198.18.7.1' netmask='255.255.255.0'/>
</network>
"""
NETB = """<network>
  <name>netB</name>
  <uuid>6f0c1f8e-3c1b-4d0a-9f2e-5b7a1c9e2d41</uuid>
  <bridge name='vbr-evb'/>
  <ip address='198.18.8.1' netmask='255.255.255.0'/>
</network>
"""

# libvirt-python's watcher: one line per event, "NAME Event detail", until netB's Stopped.
PY_WATCHER = """
import sys, libvirt
libvirt.virEventRegisterDefaultImpl()
c = libvirt.open(sys.argv[1])
names = ["Defined", "Undefined", "Started", "Stopped"]
done = []
def cb(conn, net, event, detail, opaque):
    print("%s %s %d" % (net.name(), names[event] if 0 <= event < 4 else event, detail), flush=True)
    if net.name() == "netB" and event == 3:
        done.append(1)
c.networkEventRegisterAny(None, libvirt.VIR_NETWORK_EVENT_ID_LIFECYCLE, cb, None)
while not done:
    libvirt.virEventRunDefaultImpl()
"""

# What every all-network watcher must see after the priming (virsh's words).
ALL = [("evnet", "Defined"), ("evnet", "Started"), ("evnet", "Stopped"), ("evnet", "Undefined"),
       ("evnet", "Started"), ("evnet", "Stopped"), ("netB", "Started"), ("netB", "Undefined"),
       ("netB", "Stopped")]
ONLY_B = [e for e in ALL if e[0] == "netB"]

VIRSH_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\+0000: )?"
                        r"event 'lifecycle' for network (\S+): (\w+)$")


def sh(*args, ns=None, check=False):
    cmd = (["ip", "netns", "exec", ns] if ns else []) + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if check and r.returncode:
        raise RuntimeError("%s: %s" % (" ".join(cmd), r.stderr.strip()))
    return r


class Watcher:
    """A process whose stdout lines are collected as they come."""

    def __init__(self, name, cmd, env, stamped=False):
        self.name, self.stamped = name, stamped
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.lines = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def events(self):
        """(network, event) of each event line, the priming's leading netB Defined dropped."""
        out = []
        for line in self.lines:
            m = VIRSH_LINE.match(line)
            if m:
                out.append((m.group(2), m.group(3)))
            elif re.match(r"^\S+ (Defined|Undefined|Started|Stopped) 0$", line):
                out.append(tuple(line.split()[:2]))
        while out and out[0] == ("netB", "Defined"):
            out.pop(0)
        return out

    def stamps_ok(self):
        """--timestamp: every event line carries virsh's time stamp."""
        lines = [x for x in self.lines if "event 'lifecycle'" in x]
        return all(VIRSH_LINE.match(x) and VIRSH_LINE.match(x).group(1) for x in lines)

    def finish(self, sig=signal.SIGINT):
        if self.proc.poll() is None and sig:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.thread.join(10)
        return self.proc.returncode


def define_netb(t, label, virsh, tmp):
    """netB exists before the watchers start (the filtered ones look it up)."""
    for name, text in (("evnet.xml", EVNET), ("netB.xml", NETB)):
        with open(os.path.join(tmp, name), "w") as f:
            f.write(text)
    r = virsh("net-define", os.path.join(tmp, "netB.xml"))
    t.ok(r.returncode == 0, "%s: net-define netB" % label, r.stderr)


def run_sequence(t, label, virsh, watchers, quitter, tmp):
    """Primes the watchers (netB redefined until each has seen it), runs the sequence, waits
    for its last event everywhere and ends the watchers. virsh(*args) runs the stock virsh."""
    evnet, netb = os.path.join(tmp, "evnet.xml"), os.path.join(tmp, "netB.xml")
    everyone = watchers + [quitter]
    primed = False
    for _ in range(30):  # a watcher registers after it has connected: prime until all have
        before = [len(w.lines) for w in everyone]
        virsh("net-define", netb)
        if wait_for(lambda: all(len(w.lines) > b for w, b in zip(everyone, before)), 10):
            primed = True
            break
    t.ok(primed, "%s: every watcher is registered (netB redefined, seen by all)" % label,
         "\n".join("%s: %s" % (w.name, w.lines) for w in everyone))
    steps = [("net-define", evnet), ("net-start", "evnet"), ("net-destroy", "evnet"),
             ("net-undefine", "evnet"), ("net-create", evnet), ("net-destroy", "evnet"),
             ("net-start", "netB"), ("net-undefine", "netB"), ("net-destroy", "netB")]
    failed = []
    for i, step in enumerate(steps):
        r = virsh(*step)
        if r.returncode:
            failed.append("%s: %s" % (" ".join(step), r.stderr.strip()))
        if i == 1:  # a client gone half-way: killed, no goodbye
            quitter.finish(signal.SIGKILL)
    t.ok(not failed, "%s: the sequence's commands succeed" % label, "\n".join(failed))
    wait_for(lambda: all(w.events()[-1:] == [("netB", "Stopped")] for w in watchers), 60)
    for w in watchers:
        w.finish()
    return {w.name: w for w in watchers}


def watchers_for(uri, env, vsh=None, vsh_uri=None):
    virsh = ["stdbuf", "-oL", "virsh", "-q", "-c", uri, "net-event", "--loop", "--event",
             "lifecycle"]
    out = [Watcher("virsh", virsh, env),
           Watcher("virsh-netB", virsh + ["--network", "netB", "--timestamp"], env, True),
           Watcher("python", [sys.executable, "-c", PY_WATCHER, uri], env)]
    if vsh:
        cmd = [vsh, "-q", "-c", vsh_uri, "net-event", "--loop", "--event", "lifecycle"]
        out += [Watcher("vsh", cmd, env),
                Watcher("vsh-netB", cmd + ["--network", "netB", "--timestamp"], env, True)]
    return out, Watcher("quitter", virsh, env)


def body(w):
    """The lines from the sequence's first event to the interruption, time stamps cut."""
    first = next((i for i, x in enumerate(w.lines) if "event 'lifecycle'" in x and
                  not x.endswith("network netB: Defined")), len(w.lines))
    return [re.sub(r"^[0-9 :.+-]{28}: ", "", x) for x in w.lines[first:-1]]


def rpc_register(sock_path, event_id):
    """CONNECT_OPEN, then CONNECT_NETWORK_EVENT_REGISTER_ANY (313) for event_id, every network,
    on a raw socket: the reply's status and (error code, message) or callback id. What libvirt's
    clients never send for an id they do not know, a server must still answer."""
    def call(sock, proc, serial, args):
        hdr = struct.pack(">IIiIII", 0x20008086, 1, proc, 0, serial, 0) + args
        sock.sendall(struct.pack(">I", 4 + len(hdr)) + hdr)
        n = struct.unpack(">I", sock.recv(4, socket.MSG_WAITALL))[0]
        body = sock.recv(n - 4, socket.MSG_WAITALL)
        return struct.unpack(">I", body[20:24])[0], body[24:]

    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(60)
        sock.connect(sock_path)
        name = b"qemu:///system\0\0"  # CONNECT_OPEN (libvirtd wants a name): padded, flags 0
        call(sock, 1, 1, struct.pack(">II", 1, len(name) - 2) + name + struct.pack(">I", 0))
        status, payload = call(sock, 313, 2, struct.pack(">ii", event_id, 0))  # net NULL
    if status == 0:
        return status, struct.unpack(">i", payload[:4])[0]
    code, _, present = struct.unpack(">iiI", payload[:12])
    n = struct.unpack(">I", payload[12:16])[0] if present else 0
    return status, (code, payload[16:16 + n].decode(errors="replace"))


def check_watchers(t, label, ws):
    for name, w in ws.items():
        want = ONLY_B if name.endswith("netB") else ALL
        t.ok(w.events() == want, "%s: %s sees %s" % (label, name,
             "netB's events only" if want is ONLY_B else "every network's events in order"),
             "got %s\nlines %s" % (w.events(), w.lines))
        if w.stamped:
            t.ok(w.stamps_ok(), "%s: %s --timestamp prefixes each line" % (label, name),
                 "\n".join(w.lines))
        if name.startswith(("virsh", "vsh")):
            n = sum(1 for x in w.lines if "event 'lifecycle'" in x)
            t.ok(w.lines[-2:] == ["event loop interrupted", "events received: %d" % n] and
                 w.proc.returncode == 0,
                 "%s: %s ends on Ctrl-C with virsh's two lines, status 0" % (label, name),
                 "status %s\n%s" % (w.proc.returncode, "\n".join(w.lines[-3:])))


def main():
    vireod, vmm, vsh = sys.argv[1:4]
    if os.geteuid() != 0:
        skip_all("needs root for network namespaces")
    for tool in ("virsh", "stdbuf", "iptables"):
        if not shutil.which(tool):
            skip_all("no %s (scripts/install-deps installs it)" % tool)
    t = Tap()
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    pid = os.getpid()
    ns_v, ns_l = "vireo-nev-v-%d" % pid, "vireo-nev-l-%d" % pid
    d = NsDaemon(ns_v, vireod, vmm, vsh)
    ref_dir = tempfile.mkdtemp(prefix="netevents-ref-")
    ref_started = False
    try:
        for ns in (ns_v, ns_l):
            sh("ip", "netns", "add", ns, check=True)
            sh("ip", "link", "set", "lo", "up", ns=ns, check=True)
        d.start()

        # ---- vireod: virsh, vsh and libvirt-python side by side ----
        define_netb(t, "vireod", d.virsh, d.tmp)
        ws, quitter = watchers_for(d.uri, d.env, vsh, d.vsh_uri)
        got = run_sequence(t, "vireod", d.virsh, ws, quitter, d.tmp)
        check_watchers(t, "vireod", got)
        for a, b in (("virsh", "vsh"), ("virsh-netB", "vsh-netB")):
            t.ok(body(got[a]) == body(got[b]),
                 "%s prints exactly what %s prints (from the sequence's first event)" % (b, a),
                 "%s:\n%s\n%s:\n%s" % (a, "\n".join(got[a].lines), b, "\n".join(got[b].lines)))
        t.ok(d.proc.poll() is None and d.virsh("net-list", "--all").returncode == 0,
             "vireod serves on after a registered client was killed")

        v_ok, v_bad = rpc_register(d.sock, 0), rpc_register(d.sock, 1)

        # ---- the real libvirtd, the same sequence ----
        ref_virsh = libvirtd_ref_start(t, ref_dir, ns_l)
        ref_started = True  # stopped in the finally even after a failed start
        if not ref_virsh:
            t.done()
        uri, env = ref_virsh.uri, ref_virsh.env

        define_netb(t, "libvirtd", ref_virsh, ref_dir)
        rws, rquitter = watchers_for(uri, env)
        ref = run_sequence(t, "libvirtd", ref_virsh, rws, rquitter, ref_dir)
        check_watchers(t, "libvirtd", ref)
        for name in ("virsh", "virsh-netB", "python"):
            t.ok(got[name].events() == ref[name].events(),
                 "%s: vireod's events are libvirtd's" % name,
                 "vireod %s\nlibvirtd %s" % (got[name].events(), ref[name].events()))
        sock = uri.split("socket=", 1)[1]
        l_ok, l_bad = rpc_register(sock, 0), rpc_register(sock, 1)
        t.ok(v_ok[0] == l_ok[0] == 0, "a raw register for lifecycle (0) succeeds on both",
             "vireod %s\nlibvirtd %s" % (v_ok, l_ok))
        t.ok(v_bad[0] == 1 and v_bad[1] == l_bad[1],
             "a raw register for event id 1 (no metadata-change in 9.0) is refused as libvirtd "
             "refuses it: %s" % (v_bad[1],), "vireod %s\nlibvirtd %s" % (v_bad, l_bad))
        t.ok(got["python"].lines[-len(ALL):] == ref["python"].lines[-len(ALL):],
             "libvirt-python's callbacks get libvirtd's (name, event, detail)",
             "vireod %s\nlibvirtd %s" % (got["python"].lines, ref["python"].lines))

        # ---- vsh's answers, as virsh's ----
        for args in (["--list"], [], ["--event", "metadata-change"], ["--event", "nosuch"],
                     ["--event", "lifecycle", "--timeout", "1"]):
            a = d.virsh("net-event", *args)
            b = d.vsh("net-event", *args)
            t.ok((a.returncode != 0) == (b.returncode != 0) and a.stdout == b.stdout and
                 a.stderr == b.stderr, "vsh net-event %s as virsh" % " ".join(args),
                 "virsh rc=%d\n%s%s\nvsh rc=%d\n%s%s" % (a.returncode, a.stdout, a.stderr,
                                                         b.returncode, b.stdout, b.stderr))
        # vireod's own end: a sanitizer build reports leaks and errors in its exit status
        rc = d.stop()
        t.ok(rc == 0, "vireod exits cleanly (every registration freed)",
             open(os.path.join(d.tmp, "vireod.out")).read()[-3000:])
    finally:
        d.stop()
        if ref_started:
            sh(sys.executable, LIBVIRTD_REF, "stop", "--dir", ref_dir)
        shutil.rmtree(ref_dir, ignore_errors=True)
        for ns in (ns_v, ns_l):
            sh("ip", "netns", "del", ns)
        shutil.rmtree(d.tmp, ignore_errors=True)
    t.done()


main()
