#!/usr/bin/env python3
"""Host networking through vireod: virtual networks and tap interfaces.

Usage: test-daemon-net.py VIREOD VMM TEST_GUEST_ELF VSH

Everything runs in network namespaces made here (addresses from
198.18.0.0/15 only): vireod itself runs in namespace A, and namespace B is
a host "outside", joined to A by a veth pair (198.19.0.1 in A, 198.19.0.2
in B). The stock virsh talks to the daemon over its unix socket. Checks:
 - net-define / net-start of a NAT network (198.18.5.0/24, a static DHCP
   host and a range): its bridge holds 198.18.5.1 and is up, a real dnsmasq
   runs with the configuration vireod wrote, nft lists the network's table
   with its masquerade rule; net-list, net-info, net-dumpxml, net-autostart;
 - a test guest with <interface type='network'> gets the lease from that
   dnsmasq (DISCOVER/OFFER/REQUEST/ACK, router and DNS 198.18.5.1) and
   pings 198.18.5.1; its tap (vnetN, in the live XML's <target dev>) is on
   the bridge with MTU and MAC from the definition; net-dhcp-leases lists
   the lease; the guest reaches 198.19.0.2 in namespace B through the NAT
   (B has no route back to 198.18.5.0/24, so only masquerading makes the
   reply come back);
 - domifaddr shows the lease (--source lease) and the host's neighbour entry
   (--source arp); --source agent is refused (no guest agent);
 - when the VM stops its tap is gone;
 - vireod restarted: the network is still active, the same dnsmasq runs
   and the lease is still listed;
 - <interface type='bridge'> on a bridge the test made, with <bandwidth>
   (tc shows the htb class and the ingress policer on its tap) and <link
   state='down'/>: the guest starts with the link down (domif-getlink says
   so), domif-setlink brings it up, the guest sees it come up and its ARP
   request for the bridge's 198.18.6.1 is answered by the host kernel;
 - two guests on that bridge exchange frames: B, whose NIC is <model type='e1000'>
   (-device e1000: the guest finds 8086:100e and drives it), answers A's ARP request;
 - a network overlapping a host route is refused with libvirt's line and
   leaves no bridge; a bridge name already in use is refused; a network
   whose dnsmasq cannot start (its pid file cannot be written) is refused with dnsmasq's
   reason and rolled back (no bridge, no nft table, not defined);
 - vsh prints what the stock virsh prints for net-list (its filters), net-info,
   net-dumpxml, net-dhcp-leases, net-uuid, net-name and their errors; vsh
   net-create / net-destroy run a transient isolated network (its nft table
   rejects forwarding, masquerades nothing);
 - net-destroy removes the bridge, dnsmasq and the nft table; a restarted
   vireod starts the autostarted network again; net-undefine forgets it.
"""
import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import NsDaemon, netns_remove, Tap, domain_xml, skip_all, wait_for  # noqa: E402

NET_XML = """<network>
  <name>natnet</name>
  <forward mode='nat'/>
  <bridge name='vbr-nat' stp='on' delay='0'/>
  <mtu size='1400'/>
  <ip address='198.18.5.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='198.18.5.100' end='198.18.5.200'/>
      <host mac='52:54:00:5e:00:10' ip='198.18.5.10'/>
    </dhcp>
  </ip>
</network>
"""


def sh(*args, ns=None, check=False):
    cmd = (["ip", "netns", "exec", ns] if ns else []) + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if check and r.returncode:
        raise RuntimeError("%s: %s" % (" ".join(cmd), r.stderr.strip()))
    return r


def running(pid):
    """pid lives and is no zombie (an orphan's zombie waits for whoever reaps for PID 1)."""
    try:
        return open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def guest_done(d, name):
    log = d.console_log(name)
    return re.search(r"^1\.\.\d+", log, re.M) or "net: holding the link" in log


def main():
    vireod, vmm, guest, vsh = sys.argv[1:5]
    if os.geteuid() != 0:
        skip_all("needs root for network namespaces")
    t = Tap()
    # meson's timeout sends SIGTERM: clean up (namespaces, dnsmasq, VMs) on the way out
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    pid = os.getpid()
    ns_a, ns_b = "vireo-vnet-a-%d" % pid, "vireo-vnet-b-%d" % pid
    d = NsDaemon(ns_a, vireod, vmm, vsh)
    names = []
    try:
        for ns in (ns_a, ns_b):
            sh("ip", "netns", "add", ns, check=True)
            sh("ip", "link", "set", "lo", "up", ns=ns, check=True)
        sh("ip", "link", "add", "veth-a", "type", "veth", "peer", "name", "veth-b", ns=ns_a,
           check=True)
        sh("ip", "link", "set", "veth-b", "netns", ns_b, ns=ns_a, check=True)
        sh("ip", "addr", "add", "198.19.0.1/24", "dev", "veth-a", ns=ns_a, check=True)
        sh("ip", "link", "set", "veth-a", "up", ns=ns_a, check=True)
        sh("ip", "addr", "add", "198.19.0.2/24", "dev", "veth-b", ns=ns_b, check=True)
        sh("ip", "link", "set", "veth-b", "up", ns=ns_b, check=True)
        d.start()

        # ---- the NAT network ----
        path = d.write("natnet.xml", NET_XML)
        r = d.virsh("net-define", path)
        t.ok(r.returncode == 0,
             "net-define natnet", r.stdout + r.stderr)
        r = d.virsh("net-list", "--all")
        t.ok(r.returncode == 0 and re.search(r"natnet\s+inactive\s+no\s+yes", r.stdout),
             "net-list --all: natnet inactive, not autostarted, persistent", r.stdout + r.stderr)
        r = d.virsh("net-start", "natnet")
        t.ok(r.returncode == 0, "net-start natnet",
             r.stdout + r.stderr)
        r = d.virsh("net-autostart", "natnet")
        t.ok(r.returncode == 0, "net-autostart natnet",
             r.stdout + r.stderr)
        r = d.virsh("net-info", "natnet")
        t.ok(r.returncode == 0 and re.search(r"Active:\s+yes", r.stdout) and
             re.search(r"Bridge:\s+vbr-nat", r.stdout) and re.search(r"Autostart:\s+yes",
                                                                      r.stdout),
             "net-info: active, autostart, bridge vbr-nat", r.stdout + r.stderr)
        r = d.virsh("net-dumpxml", "natnet")
        t.ok(r.returncode == 0 and "<forward mode='nat'" in r.stdout and
             "<host mac='52:54:00:5e:00:10' ip='198.18.5.10'/>" in r.stdout,
             "net-dumpxml shows the definition", r.stdout + r.stderr)
        r = subprocess.run(["virt-xml-validate", d.write("dump.xml", r.stdout), "network"],
                           capture_output=True, text=True)
        t.ok(r.returncode == 0, "net-dumpxml validates against libvirt's network schema",
             r.stdout + r.stderr)
        r = sh("ip", "-o", "addr", "show", "dev", "vbr-nat", ns=ns_a)
        t.ok("198.18.5.1/24" in r.stdout, "the bridge holds 198.18.5.1/24", r.stdout + r.stderr)
        r = sh("ip", "-o", "link", "show", "dev", "vbr-nat", ns=ns_a)
        t.ok(",UP" in r.stdout and "mtu 1400" in r.stdout, "the bridge is up with MTU 1400",
             r.stdout)
        pidfile = os.path.join(d.root, "run-networks", "natnet.pid")
        dns_pid = int(open(pidfile).read()) if os.path.exists(pidfile) else 0
        cmdline = open("/proc/%d/cmdline" % dns_pid).read() if dns_pid else ""
        t.ok(dns_pid and "dnsmasq" in cmdline, "a dnsmasq runs for the network", cmdline)
        r = sh("nft", "list", "table", "ip", "vireo_vbr_nat", ns=ns_a)
        t.ok(r.returncode == 0 and "masquerade" in r.stdout,
             "nft: table ip vireo_vbr_nat with the masquerade rule", r.stdout + r.stderr)

        # ---- a guest on it: DHCP from dnsmasq, then through the NAT to namespace B ----
        iface = """    <interface type='network'>
      <mac address='52:54:00:5e:00:10'/>
      <source network='natnet'/>
      <model type='virtio'/>
    </interface>
"""
        xml = domain_xml("netguest", guest,
                         "tests=net net_dhcp=1 net_mac=52:54:00:5e:00:10 net_ip=198.18.5.10 "
                         "net_peer=198.18.5.1 net_dns=198.18.5.1 "
                         "net_ping_far=198.19.0.2 net_hold=1", iface)
        names.append("netguest")
        r = d.virsh("create", d.write("netguest.xml", xml))
        t.ok(r.returncode == 0, "create a guest with <interface type='network'>",
             r.stdout + r.stderr + d.vmm_log("netguest"))
        live = d.virsh("dumpxml", "netguest").stdout
        m = re.search(r"<target dev='(vnet\d+)'/>", live)
        tap = m.group(1) if m else "vnet0"
        t.ok(m, "the live XML names the tap (%s)" % tap, live)
        r = sh("ip", "-o", "link", "show", "dev", tap, ns=ns_a)
        t.ok("master vbr-nat" in r.stdout and "mtu 1400" in r.stdout,
             "the tap is on vbr-nat with MTU 1400", r.stdout + r.stderr)
        r = sh("cat", "/sys/class/net/%s/address" % tap, ns=ns_a)
        t.ok(r.stdout.strip() == "fe:54:00:5e:00:10", "the tap's MAC is the guest's with fe:",
             r.stdout + r.stderr)
        wait_for(lambda: guest_done(d, "netguest"), 180, 0.2)
        log = d.console_log("netguest")
        t.ok(re.search(r"^ok \d+ - dhcp: ACK for 198\.18\.5\.10", log, re.M) and
             re.search(r"^ok \d+ - dhcp: offered 198\.18\.5\.10, router 198\.18\.5\.1, DNS "
                       r"198\.18\.5\.1", log, re.M),
             "the guest's DHCP lease comes from dnsmasq: 198.18.5.10, router and DNS .1",
             log[-3000:])
        t.ok(re.search(r"^ok \d+ - ping: echo reply from 198\.18\.5\.1", log, re.M),
             "the guest pings the bridge's address", log[-2000:])
        t.ok(re.search(r"^ok \d+ - ping: echo reply from 198\.19\.0\.2", log, re.M),
             "the guest reaches 198.19.0.2 in the second namespace through the NAT",
             log[-2000:])
        t.ok("not ok" not in log, "every guest check passed", log[-3000:])
        r = d.virsh("domifaddr", "netguest")
        t.ok(r.returncode == 0 and
             re.search(r"%s\s+52:54:00:5e:00:10\s+ipv4\s+198\.18\.5\.10/24" % tap, r.stdout),
             "domifaddr (--source lease): %s 52:54:00:5e:00:10 ipv4 198.18.5.10/24" % tap,
             r.stdout + r.stderr)
        r = d.virsh("domifaddr", "netguest", "--source", "arp")
        t.ok(r.returncode == 0 and
             re.search(r"%s\s+52:54:00:5e:00:10\s+ipv4\s+198\.18\.5\.10/0" % tap, r.stdout),
             "domifaddr --source arp: 198.18.5.10 from the host's neighbour table",
             r.stdout + r.stderr)
        r = d.virsh("domifaddr", "netguest", "--source", "agent")
        t.ok(r.returncode != 0 and "QEMU guest agent is not configured" in r.stderr,
             "domifaddr --source agent: refused (no guest agent)", r.stderr)
        r = d.virsh("net-dhcp-leases", "natnet")
        t.ok(r.returncode == 0 and re.search(r"52:54:00:5e:00:10\s+ipv4\s+198\.18\.5\.10/24",
                                             r.stdout),
             "net-dhcp-leases lists 52:54:00:5e:00:10 with 198.18.5.10/24", r.stdout + r.stderr)
        # vsh and the stock virsh print the same
        uuid = d.virsh("net-uuid", "natnet").stdout.strip()
        for args in (["net-list", "--all"], ["net-list"], ["net-list", "--name"],
                     ["net-list", "--uuid"], ["net-list", "--inactive"], ["net-info", "natnet"],
                     ["net-dumpxml", "natnet"], ["net-dhcp-leases", "natnet"],
                     ["net-dhcp-leases", "natnet", "--mac", "52:54:00:5e:00:10"],
                     ["net-uuid", "natnet"], ["net-name", uuid], ["net-info", "nosuch"],
                     ["domifaddr", "netguest"], ["domifaddr", "netguest", "--source", "arp"],
                     ["domifaddr", "netguest", "--source", "agent"],
                     ["domifaddr", "netguest", "--source", "nowhere"],
                     ["net-start", "natnet"]):
            a, b = d.virsh(*args), d.vsh(*args)
            t.ok((a.returncode, a.stdout, a.stderr) == (b.returncode, b.stdout, b.stderr),
                 "vsh %s prints what virsh prints" % " ".join(args),
                 "virsh (%d):\n%s%s\nvsh (%d):\n%s%s" % (a.returncode, a.stdout, a.stderr,
                                                         b.returncode, b.stdout, b.stderr))
        d.virsh("destroy", "netguest")
        t.ok(wait_for(lambda: sh("ip", "link", "show", "dev", tap, ns=ns_a).returncode != 0, 20),
             "the tap is gone once the VM stopped")

        # ---- vireod restarted: the network and its dnsmasq stay ----
        d.stop()
        d.start()
        r = d.virsh("net-list")
        t.ok(r.returncode == 0 and re.search(r"natnet\s+active\s+yes\s+yes", r.stdout),
             "after a vireod restart natnet is still active", r.stdout + r.stderr)
        t.ok(dns_pid and running(dns_pid) and
             int(open(pidfile).read()) == dns_pid, "the same dnsmasq still runs")
        r = d.virsh("net-dhcp-leases", "natnet")
        t.ok("198.18.5.10" in r.stdout, "the lease is still listed", r.stdout + r.stderr)

        # ---- type='bridge' on a bridge of our own ----
        sh("ip", "link", "add", "vbr-test", "type", "bridge", ns=ns_a, check=True)
        sh("ip", "addr", "add", "198.18.6.1/24", "dev", "vbr-test", ns=ns_a, check=True)
        sh("ip", "link", "set", "vbr-test", "up", ns=ns_a, check=True)
        iface = """    <interface type='bridge'>
      <mac address='52:54:00:5e:00:20'/>
      <source bridge='vbr-test'/>
      <target dev='vtest0'/>
      <model type='virtio'/>
      <link state='down'/>
      <bandwidth>
        <inbound average='1000' peak='2000' burst='256'/>%s
      </bandwidth>
    </interface>
"""
        # The outbound policer needs the kernel's act_police and cls_u32 (a stock Debian
        # kernel has them as modules; a trimmed kernel may not): probed on a dummy bridge.
        sh("ip", "link", "add", "vbr-probe", "type", "bridge", ns=ns_a)
        sh("tc", "qdisc", "add", "dev", "vbr-probe", "ingress", ns=ns_a)
        police = sh("tc", "filter", "add", "dev", "vbr-probe", "parent", "ffff:", "protocol",
                    "all", "u32", "match", "u32", "0", "0", "police", "rate", "500kbps",
                    "burst", "500kb", "mtu", "64kb", "drop", "flowid", ":1",
                    ns=ns_a).returncode == 0
        sh("ip", "link", "del", "vbr-probe", ns=ns_a)
        iface = iface % ("\n        <outbound average='500'/>" if police else "")
        xml = domain_xml("brguest", guest, "tests=net net_mac=52:54:00:5e:00:20 "
                         "net_ip=198.18.6.15 net_peer=198.18.6.1 net_link=down", iface)
        names.append("brguest")
        r = d.virsh("create", d.write("brguest.xml", xml))
        t.ok(r.returncode == 0, "create a guest with <interface type='bridge'>",
             r.stdout + r.stderr + d.vmm_log("brguest"))
        r = sh("ip", "-o", "link", "show", "dev", "vtest0", ns=ns_a)
        t.ok("master vbr-test" in r.stdout, "its tap is vtest0 (<target dev>) on vbr-test",
             r.stdout + r.stderr)
        r = sh("tc", "class", "show", "dev", "vtest0", ns=ns_a)
        t.ok(re.search(r"htb 1:1 root .*rate 8Mbit ceil 16Mbit", r.stdout),
             "<bandwidth><inbound average=1000 peak=2000>: htb class at 8Mbit, ceil 16Mbit",
             r.stdout + r.stderr)
        r = sh("tc", "filter", "show", "dev", "vtest0", "parent", "ffff:", ns=ns_a)
        if police:
            t.ok(re.search(r"police .*rate 4Mbit", r.stdout),
                 "<bandwidth><outbound average=500>: an ingress policer at 4Mbit",
                 r.stdout + r.stderr)
        else:
            print("ok %d - <bandwidth><outbound> # SKIP this kernel has no act_police/cls_u32"
                  % (t.n + 1))
            t.n += 1
        wait_for(lambda: "config status link down" in d.console_log("brguest"), 120, 0.2)
        log = d.console_log("brguest")
        t.ok(re.search(r"^ok \d+ - net: config status link down", log, re.M),
             "<link state='down'/>: the guest starts with the link down", log[-2000:])
        r = d.virsh("domif-getlink", "brguest", "vtest0")
        t.ok(r.returncode == 0 and r.stdout.strip() == "vtest0 down",
             "domif-getlink: vtest0 down", r.stdout + r.stderr)
        for args in (["domif-getlink", "brguest", "vtest0"],
                     ["domif-getlink", "brguest", "52:54:00:5e:00:20"],
                     ["domif-getlink", "brguest", "nosuch0"],
                     ["domif-setlink", "brguest", "vtest0", "sideways"]):
            a, b = d.virsh(*args), d.vsh(*args)
            t.ok((a.returncode, a.stdout, a.stderr) == (b.returncode, b.stdout, b.stderr),
                 "vsh %s prints what virsh prints" % " ".join(args),
                 "virsh (%d): %r %r\nvsh (%d): %r %r" % (a.returncode, a.stdout, a.stderr,
                                                       b.returncode, b.stdout, b.stderr))
        # ---- domiftune: the bandwidth read back and changed on the running tap ----
        r = d.virsh("domiftune", "brguest", "vtest0")
        t.ok(r.returncode == 0 and "inbound.average: 1000\ninbound.peak   : 2000\n"
             "inbound.burst  : 256\ninbound.floor  : 0\n" in r.stdout,
             "domiftune brguest vtest0: the <bandwidth> of the definition", r.stdout + r.stderr)
        for args in (["domiftune", "brguest", "vtest0"],
                     ["domiftune", "brguest", "52:54:00:5e:00:20"],
                     ["domiftune", "brguest", "nosuch0"],
                     ["domiftune", "brguest", "vtest0", "--inbound", "x"],
                     ["domiftune", "brguest", "vtest0", "--inbound", "1,2,3,4,5"],
                     ["domiftune", "brguest", "vtest0", "--inbound", ",5"],
                     ["domiftune", "brguest", "vtest0", "--outbound", "1,,,5"],
                     ["domiftune", "brguest", "vtest0", "--outbound", ",5"],
                     ["domiftune", "brguest", "vtest0", "--inbound", "0,0,0,10"],
                     ["domiftune", "brguest", "vtest0", "--inbound", "100", "--config"]):
            a, b = d.virsh(*args), d.vsh(*args)
            t.ok((a.returncode, a.stdout, a.stderr) == (b.returncode, b.stdout, b.stderr),
                 "vsh %s prints what virsh prints" % " ".join(args),
                 "virsh (%d): %r %r\nvsh (%d): %r %r" % (a.returncode, a.stdout, a.stderr,
                                                       b.returncode, b.stdout, b.stderr))
        r = d.virsh("domiftune", "brguest", "vtest0", "--inbound", "3000,4000", "--live")
        c = sh("tc", "class", "show", "dev", "vtest0", ns=ns_a)
        t.ok(r.returncode == 0 and re.search(r"htb 1:1 root .*rate 24Mbit ceil 32Mbit", c.stdout),
             "domiftune --inbound 3000,4000 --live: the tap's htb class is now 24Mbit, ceil 32Mbit",
             r.stdout + r.stderr + c.stdout + c.stderr)
        x = d.virsh("dumpxml", "brguest").stdout
        g = d.vsh("domiftune", "brguest", "vtest0").stdout
        t.ok("<inbound average='3000' peak='4000'/>" in x and
             "inbound.average: 3000\ninbound.peak   : 4000\ninbound.burst  : 0\n" in g,
             "the live XML and domiftune show the new inbound (the burst not given is gone)",
             x + g)
        r = d.vsh("domiftune", "brguest", "52:54:00:5e:00:20", "--inbound", "0")
        c = sh("tc", "class", "show", "dev", "vtest0", ns=ns_a)
        g = d.virsh("domiftune", "brguest", "vtest0").stdout
        t.ok(r.returncode == 0 and "htb" not in c.stdout and "inbound.average: 0\n" in g and
             "<inbound" not in d.virsh("dumpxml", "brguest").stdout,
             "vsh domiftune MAC --inbound 0: the inbound limit is gone from the tap and the XML",
             r.stdout + r.stderr + c.stdout + g)
        r = d.vsh("domif-setlink", "brguest", "vtest0", "down")
        t.ok(r.returncode == 0 and r.stdout == "Device updated successfully\n",
             "vsh domif-setlink brguest vtest0 down (already down)", r.stdout + r.stderr)
        r = d.virsh("domif-setlink", "brguest", "vtest0", "up")
        t.ok(r.returncode == 0, "domif-setlink brguest vtest0 up", r.stdout + r.stderr)
        r = d.virsh("domif-getlink", "brguest", "vtest0")
        t.ok(r.returncode == 0 and r.stdout.strip() == "vtest0 up", "domif-getlink: vtest0 up",
             r.stdout + r.stderr)
        wait_for(lambda: guest_done(d, "brguest"), 180, 0.2)
        log = d.console_log("brguest")
        t.ok(re.search(r"^ok \d+ - net: link came up", log, re.M),
             "the guest sees the link come up", log[-2000:])
        t.ok(re.search(r"^ok \d+ - net: ARP reply from 198\.18\.6\.1 received", log, re.M) and "not ok" not in log,
             "the guest's ARP request for 198.18.6.1 is answered over the bridge", log[-2000:])
        d.virsh("destroy", "brguest")

        # ---- two guests on one bridge exchange frames ----
        def bridged(name, mac, args, model="virtio"):
            iface = ("    <interface type='bridge'>\n      <mac address='%s'/>\n"
                     "      <source bridge='vbr-test'/>\n      <model type='%s'/>\n"
                     "    </interface>\n" % (mac, model))
            names.append(name)
            return d.virsh("create", d.write(name + ".xml",
                                             domain_xml(name, guest, "tests=net net_mac=%s %s" %
                                                        (mac, args), iface)))
        r = bridged("guest-b", "52:54:00:5e:00:32", "net_ip=198.18.6.32 net_arp_responder=1",
                    "e1000")
        t.ok(r.returncode == 0 and wait_for(lambda: "waiting for an ARP request" in
                                            d.console_log("guest-b"), 120, 0.2),
             "guest B waits on the bridge for an ARP request", r.stderr + d.console_log("guest-b"))
        r = bridged("guest-a", "52:54:00:5e:00:31", "net_ip=198.18.6.31 net_peer=198.18.6.32")
        wait_for(lambda: guest_done(d, "guest-a") and guest_done(d, "guest-b"), 180, 0.2)
        la, lb = d.console_log("guest-a"), d.console_log("guest-b")
        t.ok(re.search(r"^ok \d+ - net: answered the ARP request from 198\.18\.6\.31", lb, re.M)
             and re.search(r"^ok \d+ - net: ARP reply from 198\.18\.6\.32 received", la, re.M)
             and re.search(r"^ok \d+ - net: reply from 52:54:00:5e:00:32", la, re.M)
             and re.search(r"^ok \d+ - net: e1000 \(8086:100e\) found", lb, re.M)
             and "not ok" not in la + lb,
             "two guests on one bridge: A's ARP request reaches B (an e1000), B's reply "
             "reaches A",
             la[-1500:] + lb[-1500:])
        d.virsh("destroy", "guest-a")
        d.virsh("destroy", "guest-b")

        # ---- an isolated network through vsh ----
        iso = d.write("iso.xml", "<network><name>isonet</name><bridge name='vbr-iso'/>"
                      "<ip address='198.18.8.1' prefix='24'/></network>")
        r = d.vsh("net-create", iso)
        t.ok(r.returncode == 0 and d.vsh("net-info", "isonet").returncode == 0,
             "vsh net-create: a transient isolated network", r.stdout + r.stderr)
        r = sh("nft", "list", "table", "ip", "vireo_vbr_iso", ns=ns_a)
        t.ok(r.returncode == 0 and "reject" in r.stdout and "masquerade" not in r.stdout,
             "the isolated network's forwarded traffic is rejected, nothing masqueraded",
             r.stdout + r.stderr)
        r = d.vsh("net-destroy", "isonet")
        t.ok(r.returncode == 0 and d.vsh("net-info", "isonet").returncode != 0 and
             sh("ip", "link", "show", "dev", "vbr-iso", ns=ns_a).returncode != 0,
             "vsh net-destroy: the transient network and its bridge are gone",
             r.stdout + r.stderr)

        # ---- refusals and roll-back ----
        bad = NET_XML.replace("natnet", "clash").replace("vbr-nat", "vbr-clash").replace(
            "198.18.5.", "198.19.0.")
        r = d.virsh("net-create", d.write("clash.xml", bad))
        t.ok(r.returncode != 0 and
             "Network is already in use by interface veth-a" in r.stderr and
             sh("ip", "link", "show", "dev", "vbr-clash", ns=ns_a).returncode != 0,
             "a network overlapping a host route is refused, no bridge left", r.stderr)
        taken = NET_XML.replace("natnet", "taken").replace("vbr-nat", "vbr-test").replace(
            "198.18.5.", "198.18.7.")
        r = d.virsh("net-create", d.write("taken.xml", taken))
        t.ok(r.returncode != 0 and "bridge name 'vbr-test' already in use" in r.stderr and
             d.virsh("net-info", "taken").returncode != 0,
             "a bridge name in use is refused, the network forgotten", r.stderr)
        # dnsmasq cannot start (its pid file's path is taken by a directory): the
        # half-started network is rolled back completely
        os.mkdir(os.path.join(d.root, "run-networks", "dnsfail.pid"))
        dnsfail = NET_XML.replace("natnet", "dnsfail").replace("vbr-nat", "vbr-dnsfail").replace(
            "198.18.5.", "198.18.9.")
        r = d.virsh("net-create", d.write("dnsfail.xml", dnsfail))
        os.rmdir(os.path.join(d.root, "run-networks", "dnsfail.pid"))
        t.ok(r.returncode != 0 and "cannot start dnsmasq for network 'dnsfail'" in r.stderr and
             sh("ip", "link", "show", "dev", "vbr-dnsfail", ns=ns_a).returncode != 0 and
             sh("nft", "list", "table", "ip", "vireo_vbr_dnsfail", ns=ns_a).returncode != 0 and
             d.virsh("net-info", "dnsfail").returncode != 0 and
             "dnsfail" not in subprocess.run(["ps", "-eo", "args"], capture_output=True,
                                             text=True).stdout,
             "dnsmasq failing to start: refused with its reason; bridge, nft table and "
             "process gone", r.stderr)
        t.diag(r.stderr.strip())
        iface_pg = """    <interface type='network'>
      <source network='natnet' portgroup='pg'/>
    </interface>
"""
        r = d.virsh("create", d.write("pg.xml", domain_xml("pgguest", guest, "", iface_pg)))
        t.ok(r.returncode != 0 and "No network portgroup named 'pg' in network 'natnet'"
             in r.stderr, "<source portgroup> naming no portgroup is refused with one line",
             r.stderr)

        # ---- stop and forget ----
        r = d.virsh("net-destroy", "natnet")
        t.ok(r.returncode == 0, "net-destroy natnet",
             r.stdout + r.stderr)
        t.ok(sh("ip", "link", "show", "dev", "vbr-nat", ns=ns_a).returncode != 0,
             "the bridge is gone")
        t.ok(wait_for(lambda: not running(dns_pid), 10), "dnsmasq has ended")
        t.ok(sh("nft", "list", "table", "ip", "vireo_vbr_nat", ns=ns_a).returncode != 0,
             "the nft table is gone")
        # autostart: a restarted vireod starts the stopped network again
        d.stop()
        d.start()
        r = d.virsh("net-list")
        t.ok(r.returncode == 0 and re.search(r"natnet\s+active\s+yes\s+yes", r.stdout) and
             sh("ip", "link", "show", "dev", "vbr-nat", ns=ns_a).returncode == 0,
             "net-autostart: vireod started natnet when it started", r.stdout + r.stderr)
        r = d.vsh("net-autostart", "natnet", "--disable")
        t.ok(r.returncode == 0 and "natnet\n" not in d.virsh("net-list", "--autostart",
                                                             "--name").stdout,
             "vsh net-autostart --disable", r.stdout + r.stderr)
        r = d.vsh("net-destroy", "natnet")
        t.ok(r.returncode == 0, "vsh net-destroy natnet", r.stdout + r.stderr)
        r = d.virsh("net-undefine", "natnet")
        t.ok(r.returncode == 0 and d.virsh("net-info", "natnet").returncode != 0,
             "net-undefine forgets natnet", r.stdout + r.stderr)
    except Exception as e:  # a set-up step failed: report it as a failure
        t.ok(False, "set-up", repr(e))
    finally:
        if t.failed:
            d.dump_log()
        for n in names:
            d.virsh("destroy", n)
        d.virsh("net-destroy", "natnet")
        d.cleanup(names)
        netns_remove(ns_a, ns_b)  # nothing may outlive the test (a dnsmasq left behind)
    t.done()


if __name__ == "__main__":
    main()
