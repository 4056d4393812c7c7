#!/usr/bin/env python3
"""IPv6 on vireod's virtual networks.

Usage: test-daemon-net6.py VIREOD VMM

vireod runs in a network namespace made here; IPv6 addresses come from
2001:2::/48 (RFC 5180's benchmarking range, the IPv6 twin of
198.18.0.0/15), IPv4 ones from 198.18.0.0/15. Checks:
 - a nat network with an IPv4 and an IPv6 <ip> (a DHCPv6 range): its bridge
   holds both addresses, takes no router advertisement itself (accept_ra 0),
   IPv6 forwarding is on; dnsmasq's configuration has libvirt's DHCPv6 range
   line and enable-ra, and dnsmasq listens for DHCPv6 (UDP 547) on the
   bridge; nft has the network's ip6 table routing the IPv6 subnet (no
   masquerade); net-dumpxml validates against libvirt's schema;
 - net-destroy removes the bridge and both nft tables;
 - an isolated IPv6-only network without DHCP: dnsmasq sends router
   advertisements only (ra-only), its ip6 table forwards nothing;
 - DHCPv6 static hosts only (one by DUID, one by name): dnsmasq's configuration has
   libvirt's static range and dhcp-host lines, and the real ISC dhclient -6 on a veth
   behind the bridge, with a DUID-LL made of its MAC, is given the host's address, and
   net-dhcp-leases lists that lease (type ipv6, the MAC read from the DUID, the DUID as
   client ID); net-dumpxml keeps id= and validates; net-update adds, modifies (found by
   its DUID) and deletes an IPv6 host live;
 - refusals: a second IPv6 address with DHCPv6, a MAC or no id/name in an IPv6 static host, an id on
   an IPv4 host, a DHCPv6 range or hosts with a prefix other than 64.
"""
import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import NsDaemon, netns_remove, Tap, sh, skip_all, wait_for  # noqa: E402

NET = """<network>
  <name>net6</name>
  <forward mode='nat'/>
  <bridge name='vbr-v6'/>
  <ip address='198.18.14.1' prefix='24'>
    <dhcp>
      <range start='198.18.14.100' end='198.18.14.150'/>
    </dhcp>
  </ip>
  <ip family='ipv6' address='2001:2:0:e::1' prefix='64'>
    <dhcp>
      <range start='2001:2:0:e::100' end='2001:2:0:e::1ff'/>
    </dhcp>
  </ip>
</network>
"""

HOSTS6 = """<network>
  <name>hosts6</name>
  <bridge name='vbr-h6'/>
  <ip family='ipv6' address='2001:2:0:c::1' prefix='64'>
    <dhcp>
      <host id='00:03:00:01:02:00:00:00:0c:61' ip='2001:2:0:c::61'/>
      <host name='guest6' ip='2001:2:0:c::62'/>
    </dhcp>
  </ip>
</network>
"""

RA_ONLY = """<network>
  <name>ra6</name>
  <bridge name='vbr-ra6'/>
  <ip family='ipv6' address='2001:2:0:f::1' prefix='64'/>
</network>
"""


def dhcpv6_hosts(t, d, ns):
    """Static DHCPv6 hosts: dnsmasq's lines, and the real dhclient -6 gets its address."""
    r = d.virsh("net-create", d.write("hosts6.xml", HOSTS6))
    conf = open(os.path.join(d.root, "run-networks", "hosts6.conf")).read() \
        if r.returncode == 0 else ""
    t.ok(r.returncode == 0 and "dhcp-range=2001:2:0:c::1,static,64\n" in conf and
         "dhcp-host=id:00:03:00:01:02:00:00:00:0c:61,[2001:2:0:c::61]\n" in conf and
         "dhcp-host=guest6,[2001:2:0:c::62]\n" in conf and "dhcp-leasefile=" in conf,
         "DHCPv6 static hosts: libvirt's static range and dhcp-host lines", r.stderr + conf)
    dump = d.virsh("net-dumpxml", "hosts6").stdout
    r = subprocess.run(["virt-xml-validate", d.write("hosts6-dump.xml", dump), "network"],
                       capture_output=True, text=True)
    t.ok(r.returncode == 0 and "<host id='00:03:00:01:02:00:00:00:0c:61' ip='2001:2:0:c::61'/>"
         in dump and "<host name='guest6' ip='2001:2:0:c::62'/>" in dump,
         "net-dumpxml keeps the DUID and name hosts, valid for libvirt's schema",
         dump + r.stdout + r.stderr)
    # A client on a veth behind the bridge; no duplicate address detection, so its
    # link-local address can send at once.
    for c in (("ip", "link", "add", "vh6a", "type", "veth", "peer", "name", "vh6b"),
              ("ip", "link", "set", "vh6a", "master", "vbr-h6", "up"),
              ("sysctl", "-qw", "net.ipv6.conf.vh6b.accept_dad=0"),
              ("ip", "link", "set", "vh6b", "address", "02:00:00:00:0c:61", "up")):
        sh(*c, ns=ns)
    lease = d.write("dhclient6.leases", "")
    pid = d.write("dhclient6.pid", "")
    r = sh("timeout", "40", "dhclient", "-6", "-1", "-D", "LL", "-lf", lease, "-pf", pid,
           "-sf", "/bin/true", "vh6b", ns=ns)
    got = open(lease).read()
    t.ok(r.returncode == 0 and re.search(r"iaaddr 2001:2:0:c::61 ", got) is not None,
         "dhclient -6 with DUID-LL 00:03:00:01:02:00:00:00:0c:61 is given 2001:2:0:c::61",
         r.stdout + r.stderr + got)
    r = d.virsh("net-dhcp-leases", "hosts6")
    row = re.search(r"02:00:00:00:0c:61\s+ipv6\s+2001:2:0:c::61/64\s+\S+\s+"
                    r"00:03:00:01:02:00:00:00:0c:61", r.stdout)
    t.ok(r.returncode == 0 and row is not None,
         "net-dhcp-leases lists the DHCPv6 lease: MAC from the DUID, ipv6, /64, the DUID",
         r.stdout + r.stderr)
    sh("dhclient", "-6", "-x", "-pf", pid, ns=ns)
    sh("ip", "link", "del", "vh6a", ns=ns)

    conf_path = os.path.join(d.root, "run-networks", "hosts6.conf")
    h63 = "<host id='00:03:00:01:02:00:00:00:0c:63' ip='2001:2:0:c::63'/>"
    r = d.virsh("net-update", "hosts6", "add", "ip-dhcp-host", h63, "--parent-index", "0",
                "--live")
    conf = open(conf_path).read()
    t.ok(r.returncode == 0 and "dhcp-host=id:00:03:00:01:02:00:00:00:0c:63,[2001:2:0:c::63]\n"
         in conf, "net-update adds a DHCPv6 host by DUID live", r.stderr + conf)
    r = d.virsh("net-update", "hosts6", "modify", "ip-dhcp-host",
                h63.replace("::63", "::64"), "--parent-index", "0", "--live")
    conf = open(conf_path).read()
    t.ok(r.returncode == 0 and "dhcp-host=id:00:03:00:01:02:00:00:00:0c:63,[2001:2:0:c::64]\n"
         in conf and "::63]" not in conf, "net-update modify finds the IPv6 host by its DUID",
         r.stderr + conf)
    r = d.virsh("net-update", "hosts6", "delete", "ip-dhcp-host",
                "<host id='00:03:00:01:02:00:00:00:0c:63'/>", "--parent-index", "0", "--live")
    conf = open(conf_path).read()
    t.ok(r.returncode == 0 and "0c:63" not in conf and "dhcp-host=guest6," in conf,
         "net-update delete by DUID removes only that host", r.stderr + conf)
    d.virsh("net-destroy", "hosts6")


def main():
    vireod, vmm = sys.argv[1:3]
    if os.geteuid() != 0:
        skip_all("needs root for network namespaces")
    t = Tap()
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    ns = "vireo-net6-%d" % os.getpid()
    d = NsDaemon(ns, vireod, vmm)
    try:
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "set", "lo", "up", ns=ns)
        d.start()
        r = d.virsh("net-create", d.write("net6.xml", NET))
        t.ok(r.returncode == 0, "net-create a nat network with IPv4 and IPv6",
             r.stdout + r.stderr)
        r = sh("ip", "-o", "addr", "show", "dev", "vbr-v6", ns=ns)
        t.ok("198.18.14.1/24" in r.stdout and "2001:2:0:e::1/64" in r.stdout,
             "the bridge holds 198.18.14.1/24 and 2001:2:0:e::1/64", r.stdout + r.stderr)
        ra = sh("cat", "/proc/sys/net/ipv6/conf/vbr-v6/accept_ra", ns=ns).stdout.strip()
        fwd = sh("cat", "/proc/sys/net/ipv6/conf/all/forwarding", ns=ns).stdout.strip()
        t.ok(ra == "0" and fwd == "1", "accept_ra 0 on the bridge, IPv6 forwarding on",
             "accept_ra=%s forwarding=%s" % (ra, fwd))
        conf = open(os.path.join(d.root, "run-networks", "net6.conf")).read()
        t.ok("dhcp-range=2001:2:0:e::100,2001:2:0:e::1ff,64\n" in conf and
             "enable-ra\n" in conf and "dhcp-range=198.18.14.100,198.18.14.150," in conf,
             "dnsmasq's configuration: the DHCPv6 range, enable-ra, and the IPv4 range", conf)
        udp = lambda: sh("ss", "-lunp", ns=ns).stdout  # noqa: E731
        t.ok(wait_for(lambda: re.search(r":547\s.*dnsmasq", udp()), 10),
             "dnsmasq listens for DHCPv6 (UDP 547)", udp())
        r = sh("nft", "list", "table", "ip6", "vireo_vbr_v6", ns=ns)
        t.ok(r.returncode == 0 and "ip6 saddr 2001:2:0:e::/64 accept" in r.stdout and
             "ip6 daddr 2001:2:0:e::/64 accept" in r.stdout and "masquerade" not in r.stdout,
             "nft table ip6 vireo_vbr_v6 routes the IPv6 subnet", r.stdout + r.stderr)
        dump = d.virsh("net-dumpxml", "net6").stdout
        r = subprocess.run(["virt-xml-validate", d.write("dump.xml", dump), "network"],
                           capture_output=True, text=True)
        t.ok(r.returncode == 0 and "<ip family='ipv6' address='2001:2:0:e::1' prefix='64'>"
             in dump, "net-dumpxml keeps the IPv6 <ip>, valid for libvirt's schema",
             dump + r.stdout + r.stderr)
        r = d.virsh("net-destroy", "net6")
        t.ok(r.returncode == 0 and sh("ip", "link", "show", "vbr-v6", ns=ns).returncode != 0 and
             sh("nft", "list", "table", "ip6", "vireo_vbr_v6", ns=ns).returncode != 0 and
             sh("nft", "list", "table", "ip", "vireo_vbr_v6", ns=ns).returncode != 0,
             "net-destroy: bridge and both nft tables gone", r.stderr)

        r = d.virsh("net-create", d.write("ra6.xml", RA_ONLY))
        conf = open(os.path.join(d.root, "run-networks", "ra6.conf")).read() \
            if r.returncode == 0 else ""
        t.ok(r.returncode == 0 and "dhcp-range=2001:2:0:f::1,ra-only\n" in conf and
             "enable-ra\n" in conf and "dhcp-leasefile" not in conf,
             "an IPv6-only network without DHCP: router advertisements only",
             r.stderr + conf)
        r = sh("nft", "list", "table", "ip6", "vireo_vbr_ra6", ns=ns)
        t.ok(r.returncode == 0 and "accept\n" in r.stdout and "saddr" not in r.stdout and
             "reject" in r.stdout, "the isolated network's ip6 table forwards nothing",
             r.stdout + r.stderr)
        d.virsh("net-destroy", "ra6")

        dhcpv6_hosts(t, d, ns)

        for name, xml, what in (
                ("two6", NET.replace("</network>", "  <ip family='ipv6' address='2001:2:0:d::1' "
                                     "prefix='64'>\n    <dhcp>\n      <range start='2001:2:0:d::10' "
                                     "end='2001:2:0:d::20'/>\n    </dhcp>\n  </ip>\n</network>"),
                 "Multiple IPv6 dhcp sections found"),
                ("mac6", NET.replace("<range start='2001:2:0:e::100' end='2001:2:0:e::1ff'/>",
                                     "<host mac='02:00:00:00:0c:01' ip='2001:2:0:e::20'/>"),
                 "a MAC address in an IPv6 static host"),
                ("anon6", NET.replace("<range start='2001:2:0:e::100' end='2001:2:0:e::1ff'/>",
                                      "<host ip='2001:2:0:e::20'/>"),
                 "in an IPv6 network needs attribute 'id' or 'name'"),
                ("id4", NET.replace("<range start='198.18.14.100' end='198.18.14.150'/>",
                                    "<host id='00:01' name='g' ip='198.18.14.20'/>"),
                 "a DUID is for IPv6 static hosts only"),
                ("badid", NET.replace("<range start='2001:2:0:e::100' end='2001:2:0:e::1ff'/>",
                                      "<host id='00:0g' ip='2001:2:0:e::20'/>"),
                 "not a DUID"),
                ("h80", HOSTS6.replace("prefix='64'", "prefix='80'").replace("hosts6", "h80"),
                 "the IPv6 prefix of network 'h80' must be 64"),
                ("p80", NET.replace("2001:2:0:e::1' prefix='64'", "2001:2:0:e::1' prefix='80'"),
                 "the IPv6 prefix of network 'p80' must be 64")):
            xml = xml.replace("net6", name).replace("vbr-v6", "vbr-" + name)
            r = d.virsh("net-create", d.write(name + ".xml", xml))
            t.ok(r.returncode != 0 and what in r.stderr and
                 sh("ip", "link", "show", "vbr-" + name, ns=ns).returncode != 0,
                 "refused: %s" % what, r.stdout + r.stderr)
    except Exception as e:  # a set-up step failed: report it as a failure
        t.ok(False, "set-up", repr(e))
    finally:
        if t.failed:
            d.dump_log()
        for n in ("net6", "ra6", "hosts6"):
            d.virsh("net-destroy", n)
        d.cleanup([])
        netns_remove(ns)
    t.done()


if __name__ == "__main__":
    main()
