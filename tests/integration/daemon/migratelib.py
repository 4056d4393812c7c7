"""migratelib.py - hosts for the migration tests: vireod instances, each with
its own --root and in its own network namespace, joined by veth pairs to a
bridge in a namespace of their own, with addresses from 198.18.0.0/15 (the
range reserved for benchmarking), so no test touches a real network.

The daemons' UNIX sockets are reachable from every namespace (a socket is a
file); the migration streams go over TCP between the namespaces.
"""
import os
import re
import shutil
import subprocess
import sys

from daemonlib import NsDaemon, Tap, skip_all, state_ticks, wait_for


def start(tools=("virsh",)):
    """The migration tests' common start: their arguments VIREOD VMM GUEST VSH (the VMM and
    the guest made absolute: the daemons run them from elsewhere), their Tap, and the skip
    when this host cannot run them (no /dev/kvm, one of tools missing, not root for the
    network namespaces)."""
    vireod, vmm, guest, vsh = sys.argv[1:5]
    t = Tap()
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        skip_all("no /dev/kvm")
    missing = [x for x in tools if not shutil.which(x)]
    if missing:
        skip_all("no " + " or ".join(missing))
    if os.geteuid() != 0:
        skip_all("network namespaces need root")
    return vireod, os.path.abspath(vmm), os.path.abspath(guest), vsh, t


def end(t, hosts, names, fabric):
    """The migration tests' common end: the domains destroyed, each daemon stopped and its
    log checked (a sanitizer's report in the ASan build is a failure too), the logs shown
    when something failed, the hosts and the fabric removed, the plan printed."""
    for h in hosts:
        for name in names:
            if h.proc and h.virsh("domstate", name).returncode == 0:
                h.virsh("destroy", name)
        rc = h.stop()
        log = open(os.path.join(h.tmp, "vireod.out"), errors="replace").read()
        t.ok(rc == 0 and "Sanitizer" not in log and "runtime error" not in log,
             "vireod on %s exits cleanly, no sanitizer report" % h.ns, log[-3000:])
    if t.failed:
        for h in hosts:
            h.dump_log()
    for h in hosts:
        h.cleanup(names)
    if fabric:
        fabric.close()
    t.done()


def sh(*cmd):
    r = subprocess.run(list(cmd), capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(cmd), r.stderr.strip()))
    return r.stdout


class Fabric:
    """n namespaces H0..Hn-1 at 198.18.0.(i+1)/24, bridged in a namespace of their own."""

    def __init__(self, n):
        tag = "vm%d" % (os.getpid() % 100000)
        self.hub = tag + "hub"
        self.ns = [tag + "h%d" % i for i in range(n)]
        self.addr = ["198.18.0.%d" % (i + 1) for i in range(n)]
        self.made = []
        sh("ip", "netns", "add", self.hub)
        self.made.append(self.hub)
        sh("ip", "-n", self.hub, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.hub, "link", "set", "br0", "up")
        for i, ns in enumerate(self.ns):
            sh("ip", "netns", "add", ns)
            self.made.append(ns)
            sh("ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "p%d" % i,
               "netns", self.hub)
            sh("ip", "-n", self.hub, "link", "set", "p%d" % i, "master", "br0", "up")
            sh("ip", "-n", ns, "addr", "add", self.addr[i] + "/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")

    def close(self):
        for ns in reversed(self.made):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self.made = []


class Host(NsDaemon):
    """A vireod running inside network namespace ns, reached at addr."""

    def __init__(self, ns, addr, vireod, vmm, vsh=None):
        super().__init__(ns, vireod, vmm, vsh)
        self.addr = addr


def raw_disk(path, size=1 << 20, fill=b""):
    """A raw file of size bytes (fill's bytes after them), and its <disk> as vda."""
    with open(path, "wb") as f:
        f.truncate(size)
        f.write(fill)
    return f"""    <disk type='file' device='disk'>
      <driver name='qemu' type='raw' cache='none'/>
      <source file='{path}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
"""


def tick_watch(name):
    """last_tick(h): the last tick domain name printed on host h (0 before any);
    ticks_on(h, n): whether n more come on h within limit seconds."""
    def last_tick(h):
        return (state_ticks(h.console_log(name)) or [0])[-1]

    def ticks_on(h, n, limit=120):
        first = last_tick(h)
        return wait_for(lambda: last_tick(h) >= first + n, limit)
    return last_tick, ticks_on


def event_stream(h, streams):
    """`virsh event --all --loop` on host h, added to streams (to end with the test)."""
    p = subprocess.Popen(["virsh", "-q", "-c", h.uri, "event", "--all", "--loop"], env=h.env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    streams.append(p)
    return p


def guest_end(h, name):
    """A 'q' on domain name's console (through the stock libvirt-python) ends the continuity
    guest's run: whether its TAP summary came within 600 s, and its console log."""
    import libvirt
    conn = libvirt.open(h.uri)
    stream = conn.newStream(0)
    conn.lookupByName(name).openConsole(None, stream, 0)
    stream.send(b"q")
    done = wait_for(lambda: re.search(r"^(ok|not ok) .*", h.console_log(name), re.M) and
                    "1.." in h.console_log(name), 600)
    log = h.console_log(name)
    try:
        stream.abort()
    except libvirt.libvirtError:
        pass
    conn.close()
    return done, log


def listed(h, name):
    """Whether host h has domain name, running or not."""
    return name in h.virsh("list", "--all", "--name").stdout.split()
