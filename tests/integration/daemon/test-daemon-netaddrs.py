#!/usr/bin/env python3
"""Several addresses per family on one of vireod's virtual networks.

Usage: test-daemon-netaddrs.py VIREOD VMM

vireod runs in a network namespace made here, a DHCP client in a second one
(a veth pair: one end on the network's bridge, the other in the client's
namespace); IPv4 addresses come from 198.18.0.0/15, IPv6 ones from
2001:2::/48 (RFC 5180's benchmarking range). Checks, on a nat network with
two IPv4 subnets (198.18.30.0/24 with a DHCP range, 198.19.30.0/24 without)
and two IPv6 ones (2001:2:0:30::/64 with a DHCPv6 range, 2001:2:0:31::/64
without):
 - the bridge holds all four addresses;
 - dnsmasq's configuration (bind-dynamic on the bridge) has the one IPv4 DHCP
   range and the DHCPv6 range (no ra-only line: a subnet has DHCPv6), and
   dnsmasq listens for DNS on both IPv4 addresses;
 - the same network on the real libvirtd 9.0 (scripts/libvirtd_ref.py, in a
   namespace of its own): the same addresses on its bridge, the same
   dhcp-range and enable-ra lines in its dnsmasq configuration, the same
   <ip>s in net-dumpxml, and the same refusal of a second IPv4 <dhcp>;
 - nft's tables forward and masquerade both IPv4 subnets, route both IPv6 ones;
 - the real ISC dhclient in the client's namespace is given an address from
   the DHCP range, and net-dhcp-leases lists it;
 - net-dumpxml keeps all four <ip>s and validates against libvirt's schema;
 - a second IPv4 <ip> with a <dhcp>, and a second IPv6 one, are refused with
   libvirt's words and leave no bridge;
 - net-destroy removes the bridge and both tables.
"""
import os
import re
import signal
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from daemonlib import (LIBVIRTD_REF, NsDaemon, netns_remove, Tap,  # noqa: E402
                       libvirtd_ref_start, sh, skip_all)

NET = """<network>
  <name>multi</name>
  <forward mode='nat'/>
  <bridge name='vbr-multi'/>
  <ip address='198.18.30.1' prefix='24'>
    <dhcp>
      <range start='198.18.30.100' end='198.18.30.150'/>
    </dhcp>
  </ip>
  <ip address='198.19.30.1' netmask='255.255.255.0'/>
  <ip family='ipv6' address='2001:2:0:30::1' prefix='64'>
    <dhcp>
      <range start='2001:2:0:30::100' end='2001:2:0:30::1ff'/>
    </dhcp>
  </ip>
  <ip family='ipv6' address='2001:2:0:31::1' prefix='64'/>
</network>
"""


def dhcp_lines(conf):
    return sorted(x for x in conf.splitlines() if x.startswith(("dhcp-range=", "enable-ra")))


def addrs(ip_o):
    """The global addresses (a link-local one comes and goes with the bridge's carrier)."""
    return sorted(re.findall(r"inet6? (\S+) .*scope global", ip_o))


def compare_libvirtd(t, d, ns_l, vireo_addrs, vireo_conf, vireo_dump, vireo_two4):
    """The same network on the reference libvirtd: what vireod did must be what it does."""
    ref_dir = os.path.join(d.tmp, "libvirtd")
    virsh = libvirtd_ref_start(t, ref_dir, ns_l, timeout=60)
    if not virsh:
        return
    r = virsh("net-create", d.write("ref-multi.xml", NET))
    a = sh("ip", "-o", "addr", "show", "dev", "vbr-multi", ns=ns_l).stdout
    t.ok(r.returncode == 0 and addrs(a) == addrs(vireo_addrs) and len(addrs(a)) >= 4,
         "libvirtd puts the same addresses on its bridge", r.stderr + a + vireo_addrs)
    conf_path = os.path.join(ref_dir, "lib", "dnsmasq", "multi.conf")
    conf = open(conf_path).read() if os.path.exists(conf_path) else ""
    t.ok(dhcp_lines(conf) and dhcp_lines(conf) == dhcp_lines(vireo_conf),
         "libvirtd's dnsmasq configuration has the same dhcp-range and enable-ra lines",
         "libvirtd: %r\nvireod:   %r" % (dhcp_lines(conf), dhcp_lines(vireo_conf)))
    dump = virsh("net-dumpxml", "multi").stdout
    ips = [re.findall(r"\n( *<ip .*?</ip>)", x, re.S) for x in (dump, vireo_dump)]
    t.ok(ips[0] and ips[0] == ips[1], "net-dumpxml shows the same four <ip>s as libvirtd's",
         dump + vireo_dump)
    r = virsh("net-create", os.path.join(d.tmp, "two4.xml"))
    t.ok(r.returncode != 0 and r.stderr.strip().splitlines()[-1:] == vireo_two4,
         "libvirtd refuses the second IPv4 <dhcp> with the same line",
         r.stderr + repr(vireo_two4))
    virsh("net-destroy", "multi")


def main():
    vireod, vmm = sys.argv[1:3]
    if os.geteuid() != 0:
        skip_all("needs root for network namespaces")
    t = Tap()
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    ns, ns_c = "vireo-addrs-%d" % os.getpid(), "vireo-addrs-c-%d" % os.getpid()
    ns_l = "vireo-addrs-l-%d" % os.getpid()
    two4_err = []
    d = NsDaemon(ns, vireod, vmm)
    pidfile = None
    try:
        for n in (ns, ns_c, ns_l):
            sh("ip", "netns", "add", n)
            sh("ip", "link", "set", "lo", "up", ns=n)
        d.start()
        r = d.virsh("net-create", d.write("multi.xml", NET))
        t.ok(r.returncode == 0, "net-create a network with two IPv4 and two IPv6 <ip>s",
             r.stdout + r.stderr)
        a = sh("ip", "-o", "addr", "show", "dev", "vbr-multi", ns=ns).stdout
        t.ok(all(x in a for x in ("inet 198.18.30.1/24", "inet 198.19.30.1/24",
                                  "inet6 2001:2:0:30::1/64", "inet6 2001:2:0:31::1/64")),
             "the bridge holds all four addresses", a)
        conf_path = os.path.join(d.root, "run-networks", "multi.conf")
        conf = open(conf_path).read() if os.path.exists(conf_path) else ""
        t.ok("interface=vbr-multi\n" in conf and "bind-dynamic\n" in conf and
             len(re.findall(r"^dhcp-range=198\.", conf, re.M)) == 1 and
             "dhcp-range=198.18.30.100,198.18.30.150,255.255.255.0\n" in conf and
             "dhcp-range=2001:2:0:30::100,2001:2:0:30::1ff,64\n" in conf and
             "ra-only" not in conf and "enable-ra\n" in conf,
             "dnsmasq: one IPv4 DHCP range (the <dhcp> one), the DHCPv6 range, enable-ra", conf)
        ss = sh("ss", "-lnu", ns=ns).stdout
        t.ok("198.18.30.1:53 " in ss and "198.19.30.1:53 " in ss,
             "dnsmasq answers DNS on both IPv4 addresses", ss)
        nft4 = sh("nft", "list", "table", "ip", "vireo_vbr_multi", ns=ns).stdout
        nft6 = sh("nft", "list", "table", "ip6", "vireo_vbr_multi", ns=ns).stdout
        t.ok(all(re.search(r"ip saddr %s ip daddr != %s masquerade" % (s, s), nft4) and
                 re.search(r"ip saddr %s accept" % s, nft4)
                 for s in ("198.18.30.0/24", "198.19.30.0/24")),
             "nft forwards and masquerades both IPv4 subnets", nft4)
        t.ok("ip6 saddr 2001:2:0:30::/64 accept" in nft6 and
             "ip6 saddr 2001:2:0:31::/64 accept" in nft6,
             "nft routes both IPv6 subnets", nft6)

        # a DHCP client behind the bridge, in its own namespace
        for c in (("ip", "link", "add", "vma", "type", "veth", "peer", "name", "vmb"),
                  ("ip", "link", "set", "vma", "master", "vbr-multi", "up"),
                  ("ip", "link", "set", "vmb", "netns", ns_c)):
            sh(*c, ns=ns)
        sh("ip", "link", "set", "vmb", "address", "02:00:00:00:1e:01", "up", ns=ns_c)
        lease = d.write("dhclient.leases", "")
        pidfile = d.write("dhclient.pid", "")
        r = sh("timeout", "60", "dhclient", "-4", "-1", "-lf", lease, "-pf", pidfile, "-sf",
               "/bin/true", "vmb", ns=ns_c)
        got = open(lease).read()
        m = re.search(r"fixed-address (198\.18\.30\.(\d+));", got)
        t.ok(r.returncode == 0 and m and 100 <= int(m.group(2)) <= 150,
             "dhclient in its own namespace is given %s from the DHCP range" %
             (m.group(1) if m else "nothing"), r.stdout + r.stderr + got)
        r = d.virsh("net-dhcp-leases", "multi")
        t.ok(m and re.search(r"02:00:00:00:1e:01\s+ipv4\s+%s/24" % re.escape(m.group(1)),
                             r.stdout),
             "net-dhcp-leases lists the lease", r.stdout + r.stderr)

        dump = d.virsh("net-dumpxml", "multi").stdout
        v = subprocess.run(["virt-xml-validate", d.write("dump.xml", dump), "network"],
                           capture_output=True, text=True)
        t.ok(v.returncode == 0 and dump.count("<ip ") == 4 and
             re.search(r"<ip address='198.19.30.1' netmask='255.255.255.0'>\s*</ip>", dump),
             "net-dumpxml keeps the four <ip>s, valid for libvirt's schema",
             dump + v.stdout + v.stderr)

        for name, extra, what in (
                ("two4", "  <ip address='198.19.31.1' prefix='24'>\n    <dhcp>\n      <range "
                 "start='198.19.31.10' end='198.19.31.20'/>\n    </dhcp>\n  </ip>\n",
                 "Multiple IPv4 dhcp sections found -- dhcp is supported only for a single "
                 "IPv4 address on each network"),
                ("two6", "  <ip family='ipv6' address='2001:2:0:32::1' prefix='64'>\n    <dhcp>"
                 "\n      <range start='2001:2:0:32::10' end='2001:2:0:32::20'/>\n    </dhcp>\n"
                 "  </ip>\n",
                 "Multiple IPv6 dhcp sections found -- dhcp is supported only for a single "
                 "IPv6 address on each network")):
            xml = NET.replace("multi", name).replace("</network>", extra + "</network>")
            xml = xml.replace("198.18.30", "198.18.31").replace("198.19.30", "198.19.32")
            r = d.virsh("net-create", d.write(name + ".xml", xml))
            if name == "two4":
                two4_err = r.stderr.strip().splitlines()[-1:]
            t.ok(r.returncode != 0 and what in r.stderr and
                 sh("ip", "link", "show", "vbr-" + name, ns=ns).returncode != 0,
                 "refused: %s" % what.split(" --")[0], r.stdout + r.stderr)

        compare_libvirtd(t, d, ns_l, a, conf, dump, two4_err)

        sh("dhclient", "-x", "-pf", pidfile, ns=ns_c)
        r = d.virsh("net-destroy", "multi")
        t.ok(r.returncode == 0 and sh("ip", "link", "show", "vbr-multi", ns=ns).returncode != 0
             and sh("nft", "list", "table", "ip", "vireo_vbr_multi", ns=ns).returncode != 0 and
             sh("nft", "list", "table", "ip6", "vireo_vbr_multi", ns=ns).returncode != 0,
             "net-destroy: the bridge and both nft tables are gone", r.stderr)
        rc = d.stop()
        t.ok(rc == 0, "vireod ends with status 0 (a sanitizer build's leak or error would not)",
             "exit status %r" % rc)
    except Exception as e:  # a set-up step failed: report it as a failure
        t.ok(False, "set-up", repr(e))
    finally:
        if t.failed:
            d.dump_log()
        d.virsh("net-destroy", "multi")
        ref_dir = os.path.join(d.tmp, "libvirtd")
        if os.path.exists(os.path.join(ref_dir, "ref.state")):
            sh(sys.executable, LIBVIRTD_REF, "stop", "--dir", ref_dir)
        d.cleanup([])
        netns_remove(ns_c, ns, ns_l)
    t.done()


if __name__ == "__main__":
    main()
