"""migratelib.py - hosts for the migration tests: vireod instances, each with
its own --root and in its own network namespace, joined by veth pairs to a
bridge in a namespace of their own, with addresses from 198.18.0.0/15 (the
range reserved for benchmarking), so no test touches a real network.

The daemons' UNIX sockets are reachable from every namespace (a socket is a
file); the migration streams go over TCP between the namespaces.
"""
import os
import subprocess

from daemonlib import Daemon, NsDaemon, wait_for


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
