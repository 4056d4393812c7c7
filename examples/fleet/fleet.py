#!/usr/bin/python3
"""fleet.py - a fleet of three Vireo hosts on one machine, six VMs placed
unevenly across them, then rebalanced by rebalance.py (stock libvirt-python).

  sudo examples/fleet/fleet.py [--build DIR] [--guest ELF]

Each host is a vireod with its own --root, in its own network namespace
(198.18.0.1-3, the range reserved for benchmarking, joined by a bridge in a
fourth namespace): the daemons' UNIX sockets are reached as
qemu+unix:///system?socket=..., the migration streams go over TCP between
the namespaces. The VMs run the project's test guest in its continuity mode
on a shared disk each. Everything is removed at the end (namespaces,
daemons, VMs, files). Needs root and /dev/kvm; the binaries come from the
build directory (default: build/ next to examples/).
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))

# (host index, VM name): four on the first host, two on the second, none on the third.
PLACEMENT = [(0, "web1"), (0, "web2"), (0, "db1"), (0, "cache1"), (1, "web3"), (1, "db2")]


def sh(*cmd):
    subprocess.run(list(cmd), check=True, capture_output=True, text=True)


def domain_xml(name, guest, disk):
    return f"""<domain type='kvm'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64'>hvm</type>
    <kernel>{guest}</kernel>
    <cmdline>tests=state state_mib=4 seed=11 state_ticks=1000000</cmdline>
  </os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw' cache='none'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
      <shareable/>
    </disk>
    <memballoon model='none'/>
  </devices>
</domain>
"""


def wait_for(pred, limit):
    end = time.time() + limit
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.1)
    return pred()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(TOP, "build"))
    ap.add_argument("--guest", default=None)
    opts = ap.parse_args()
    vireod = os.path.join(opts.build, "src", "daemon", "vireod")
    vmm = os.path.join(opts.build, "src", "vmm", "vireo-vmm")
    guest = os.path.abspath(opts.guest or
                            os.path.join(opts.build, "tests", "guest", "vireo-testguest.elf"))
    tag = "fl%d" % (os.getpid() % 100000)
    hub = tag + "hub"
    nss = [tag + "h%d" % i for i in range(3)]
    addrs = ["198.18.0.%d" % (i + 1) for i in range(3)]
    tmp = tempfile.mkdtemp(prefix="vireo-fleet-")
    made, daemons, uris = [], [], []
    rc = 1
    try:
        sh("ip", "netns", "add", hub)
        made.append(hub)
        sh("ip", "-n", hub, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", hub, "link", "set", "br0", "up")
        for i, ns in enumerate(nss):
            sh("ip", "netns", "add", ns)
            made.append(ns)
            sh("ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "p%d" % i,
               "netns", hub)
            sh("ip", "-n", hub, "link", "set", "p%d" % i, "master", "br0", "up")
            sh("ip", "-n", ns, "addr", "add", addrs[i] + "/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            root = os.path.join(tmp, "host%d" % i)
            env = dict(os.environ, VIREO_VMM=vmm)
            log = open(os.path.join(tmp, "vireod%d.log" % i), "w")
            daemons.append(subprocess.Popen(["ip", "netns", "exec", ns, vireod, "--root", root,
                                             "--timeout", "600"], env=env, stdout=log,
                                            stderr=subprocess.STDOUT))
            sock = os.path.join(root, "vireo-sock")
            if not wait_for(lambda: os.path.exists(sock + "-ro"), 20):
                raise RuntimeError("vireod %d did not start" % i)
            uris.append("qemu+unix:///system?socket=" + sock)
        print("hosts:")
        for i in range(3):
            print("  host%d  %s  (network namespace %s, %s)" % (i, uris[i], nss[i], addrs[i]))
        for host, name in PLACEMENT:
            disk = os.path.join(tmp, name + ".raw")
            with open(disk, "wb") as f:
                f.truncate(1 << 20)
            xml = os.path.join(tmp, name + ".xml")
            open(xml, "w").write(domain_xml(name, guest, disk))
            subprocess.run(["virsh", "-q", "-c", uris[host], "create", xml], check=True,
                           capture_output=True, text=True)
        rc = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "rebalance.py")] +
                            ["%s=%s" % (u, a) for u, a in zip(uris, addrs)]).returncode
    finally:
        for uri in uris if daemons else []:
            names = subprocess.run(["virsh", "-q", "-c", uri, "list", "--name"],
                                   capture_output=True, text=True).stdout.split()
            for name in names:
                subprocess.run(["virsh", "-q", "-c", uri, "destroy", name], capture_output=True)
        for p in daemons:
            p.send_signal(signal.SIGTERM)
        for p in daemons:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        # A VM left by a daemon that could not destroy it (VMs outlive their daemon, as QEMU
        # outlives libvirtd): ended through its pid file.
        for i in range(3):
            run = os.path.join(tmp, "host%d" % i, "run")
            for f in os.listdir(run) if os.path.isdir(run) else []:
                if f.endswith(".pid"):
                    try:
                        os.kill(int(open(os.path.join(run, f)).read()), signal.SIGKILL)
                    except (OSError, ValueError):
                        pass
        for ns in reversed(made):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
