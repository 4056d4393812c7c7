#!/usr/bin/env python3
"""test-daemon-net-mq.py - <interface><driver queues='N'/>: a multiqueue tap through vireod.

  test-daemon-net-mq.py VIREOD VIREO_VMM TESTGUEST_ELF VSH

Everything runs in a network namespace made here (addresses from 198.18.0.0/15 only):
vireod runs in it, with a bridge vbr-mq holding 198.18.7.1/24 and a UDP echo server on
198.18.7.1:7. Checks:
 - a domain with <interface type='bridge'> on vbr-mq, <target dev='vmq0'/> and
   <driver queues='4'/> starts; the tap vmq0 is a multi_queue tap on vbr-mq, and
   vireo-vmm holds four descriptors of it (/proc/PID/fdinfo: iff: vmq0);
 - the test guest (net_mq=4) negotiates MQ, sets 4 pairs with VQ_PAIRS_SET, and each
   pair's UDP echo comes back on its own receive queue (each pair is bound to its own tap
   queue); the echo server saw the four source ports; once the guest set 4 pairs the tap
   has 4 queues enabled and none disabled (ip -d link: numqueues 4 numdisabled 0);
 - virsh dumpxml shows <driver queues='4'/>;
 - hot-plugging an interface with <driver queues='2'/> (attach-device --live): its tap
   vmq1 is a multi_queue tap on the bridge and vireo-vmm holds both queues (one getfd per
   queue, netdev_add fds=NAME0:NAME1, device_add mq=on,vectors=6 as libvirt), the live XML
   shows it;
 - queues on a user-mode interface is refused with libvirt's line.
Prints TAP.
"""
import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import NsDaemon, netns_remove, Tap, domain_xml, skip_all, wait_for  # noqa: E402

MAC = "52:54:00:5e:07:01"
ECHO_UDP = r'''
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.18.7.1", 7))
s.settimeout(300)
try:
    while True:
        data, addr = s.recvfrom(2048)
        s.sendto(data, addr)
        print(addr[1], flush=True)
except OSError:
    pass
'''


def sh(*args, ns=None, check=False):
    cmd = (["ip", "netns", "exec", ns] if ns else []) + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if check and r.returncode:
        raise RuntimeError("%s: %s" % (" ".join(cmd), r.stderr.strip()))
    return r


def tap_fds(pid, ifname):
    """How many of pid's descriptors are queues of tap ifname."""
    n = 0
    fd_dir = "/proc/%d/fdinfo" % pid
    for fd in os.listdir(fd_dir):
        try:
            info = open(os.path.join(fd_dir, fd)).read()
        except OSError:
            continue
        if re.search(r"^iff:\s*%s$" % re.escape(ifname), info, re.M):
            n += 1
    return n


def main():
    vireod, vmm, guest, vsh = sys.argv[1:5]
    if os.geteuid() != 0:
        skip_all("needs root for network namespaces")
    t = Tap()
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    ns = "vireo-mq-%d" % os.getpid()
    d = NsDaemon(ns, vireod, vmm, vsh)
    names = ["mqguest"]
    echo = None
    try:
        sh("ip", "netns", "add", ns, check=True)
        sh("ip", "link", "set", "lo", "up", ns=ns, check=True)
        sh("ip", "link", "add", "vbr-mq", "type", "bridge", ns=ns, check=True)
        sh("ip", "addr", "add", "198.18.7.1/24", "dev", "vbr-mq", ns=ns, check=True)
        sh("ip", "link", "set", "vbr-mq", "up", ns=ns, check=True)
        echo = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", ECHO_UDP],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        d.start()

        iface = ("    <interface type='bridge'>\n      <mac address='%s'/>\n"
                 "      <source bridge='vbr-mq'/>\n      <target dev='vmq0'/>\n"
                 "      <model type='virtio'/>\n      <driver queues='4'/>\n"
                 "    </interface>\n"
                 "    <controller type='pci' model='pcie-root-port'/>\n" % MAC)
        xml = domain_xml("mqguest", guest, "tests=net net_mac=%s net_ip=198.18.7.15 "
                         "net_peer=198.18.7.1 net_mq=4 net_hold=1" % MAC, iface)
        r = d.virsh("create", d.write("mqguest.xml", xml))
        t.ok(r.returncode == 0, "create a guest with <driver queues='4'/> on a bridge",
             r.stdout + r.stderr + d.vmm_log("mqguest"))
        r = sh("ip", "-d", "link", "show", "dev", "vmq0", ns=ns)
        t.ok("master vbr-mq" in r.stdout and "multi_queue" in r.stdout,
             "its tap vmq0 is a multi_queue tap on vbr-mq", r.stdout + r.stderr)
        pid = d.vmm_pid("mqguest")
        n = tap_fds(pid, "vmq0") if pid else 0
        t.ok(n == 4, "vireo-vmm holds 4 queues of vmq0 (%d)" % n)
        wait_for(lambda: "net: holding the link" in d.console_log("mqguest") or
                 "not ok" in d.console_log("mqguest"), 240, 0.2)
        log = d.console_log("mqguest")
        t.ok(re.search(r"^ok \d+ - net: VQ_PAIRS_SET 4 answered VIRTIO_NET_OK", log, re.M),
             "the guest set 4 queue pairs through the control queue", log[-3000:])
        for p in range(4):
            t.ok(re.search(r"^ok \d+ - net: mq pair %d: its echo came back on receive queue %d"
                           % (p, 2 * p), log, re.M),
                 "pair %d: the echo came back on its own receive queue" % p, log[-3000:])
        t.ok("not ok" not in log, "no guest check failed", log[-3000:])
        r = sh("ip", "-d", "link", "show", "dev", "vmq0", ns=ns)
        t.ok(re.search(r"numqueues 4 numdisabled 0\b", r.stdout),
             "with 4 pairs set the tap has 4 queues enabled (ip -d link)", r.stdout)
        r = d.virsh("dumpxml", "mqguest")
        t.ok(re.search(r"<driver queues='4'/>", r.stdout), "dumpxml shows <driver queues='4'/>",
             r.stdout + r.stderr)
        hp = ("<interface type='bridge'><mac address='52:54:00:5e:07:02'/>"
              "<source bridge='vbr-mq'/><target dev='vmq1'/><model type='virtio'/>"
              "<driver queues='2'/></interface>")
        r = d.virsh("attach-device", "mqguest", d.write("hp.xml", hp), "--live")
        t.ok(r.returncode == 0, "attach-device --live of an interface with <driver queues='2'/>",
             r.stdout + r.stderr + d.vmm_log("mqguest")[-2000:])
        r = sh("ip", "-d", "link", "show", "dev", "vmq1", ns=ns)
        n1 = tap_fds(pid, "vmq1") if pid else 0
        t.ok("master vbr-mq" in r.stdout and "multi_queue" in r.stdout and n1 == 2,
             "the hot-plugged tap vmq1 is a multi_queue tap on vbr-mq and vireo-vmm holds its "
             "2 queues (%d; one getfd each, netdev_add fds=)" % n1, r.stdout + r.stderr)
        r = d.virsh("dumpxml", "mqguest")
        t.ok(re.search(r"<target dev='vmq1'/>", r.stdout) and
             len(re.findall(r"<driver queues='(\d)'/>", r.stdout)) == 2 and
             "<driver queues='2'/>" in r.stdout,
             "the live XML shows the hot-plugged interface with its queues", r.stdout)
        vmm_argv = d.vmm_log("mqguest")
        t.ok(tap_fds(pid, "vmq0") == 4, "the first interface still has its 4 queues",
             vmm_argv[-500:])
        d.virsh("destroy", "mqguest")
        user = ("    <interface type='user'>\n      <mac address='52:54:00:5e:07:03'/>\n"
                "      <model type='virtio'/>\n      <driver queues='2'/>\n    </interface>\n")
        r = d.virsh("create", d.write("mquser.xml", domain_xml("mquser", guest, "tests=net",
                                                                user)))
        t.ok(r.returncode != 0 and "multiqueue network is not supported for: user" in r.stderr,
             "queues on a user-mode interface is refused", r.stdout + r.stderr)
    except Exception as e:  # a set-up step failed: report it as a failure
        t.ok(False, "set-up", repr(e))
    finally:
        if echo:
            echo.terminate()
            out, _ = echo.communicate(timeout=30)
            ports = sorted({int(x) for x in out.split()})
            t.ok(ports == [6000, 6001, 6002, 6003],
                 "the echo server saw one datagram from each pair's port (%s)" % ports)
        if t.failed:
            d.dump_log()
        for n in names:
            d.virsh("destroy", n)
        d.cleanup(names)
        netns_remove(ns)
    t.done()


if __name__ == "__main__":
    main()
