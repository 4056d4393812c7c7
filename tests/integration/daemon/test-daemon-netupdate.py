#!/usr/bin/env python3
"""net-update (virNetworkUpdate) through vireod, with the stock virsh.

Usage: test-daemon-netupdate.py VIREOD VMM TEST_GUEST_ELF VSH

vireod runs in a network namespace made here (addresses from 198.18.0.0/15
only), with an isolated network upnet (198.18.12.1/24, a DHCP range and one
static host) and its real dnsmasq. Checks:
 - net-update add ip-dhcp-host --live --config: virsh's "Updated network"
   line; the host is in dnsmasq's configuration, dnsmasq was restarted with it
   (update_live in network.c says why not a SIGHUP), and the live and the
   persistent XML list it; after later restarts the lease is still listed;
   a test guest with that MAC takes its DHCP lease for the host's address
   (which is outside the range, so only the new host entry gives it) and
   net-dhcp-leases lists it;
 - modify (by MAC) changes the address; delete removes it (configuration,
   XML); --config alone changes only the persistent XML (net-dumpxml
   --inactive), --live alone only the running one;
 - add-first and add-last of ranges restart dnsmasq with the new range;
   ranges cannot be modified;
 - portgroups: add, a second default refused, modify, delete;
 - libvirt's refusals: a duplicate host, a missing host, the wrong element,
   an unsupported section (bridge), --config of a transient network,
   --live of a stopped one; the XML is unchanged after each;
 - vsh net-update prints what virsh prints for those, and updates too.
"""
import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import NsDaemon, netns_remove, Tap, domain_xml, sh, skip_all, wait_for  # noqa: E402

NET = """<network>
  <name>upnet</name>
  <bridge name='vbr-up'/>
  <ip address='198.18.12.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='198.18.12.100' end='198.18.12.150'/>
      <host mac='52:54:00:5e:00:80' ip='198.18.12.80'/>
    </dhcp>
  </ip>
</network>
"""

HOST = "<host mac='52:54:00:5e:00:81' name='guest81' ip='198.18.12.81'/>"


def main():
    vireod, vmm, guest, vsh = sys.argv[1:5]
    if os.geteuid() != 0:
        skip_all("needs root for network namespaces")
    t = Tap()
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    ns = "vireo-netup-%d" % os.getpid()
    d = NsDaemon(ns, vireod, vmm, vsh)
    names = []
    try:
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "set", "lo", "up", ns=ns)
        d.start()
        r = d.virsh("net-define", d.write("upnet.xml", NET))
        t.ok(r.returncode == 0 and d.virsh("net-start", "upnet").returncode == 0,
             "net-define and net-start upnet", r.stdout + r.stderr)
        run = os.path.join(d.root, "run-networks")
        pidfile = os.path.join(run, "upnet.pid")
        hosts = os.path.join(run, "upnet.conf")

        def pid():
            try:
                return int(open(pidfile).read())
            except (OSError, ValueError):
                return 0

        def hostsfile():
            try:
                return open(hosts).read()
            except OSError:
                return ""

        def update(*args):
            """net-update without -q: virsh prints its "Updated network" line."""
            return subprocess.run(["virsh", "-c", d.uri, "net-update", "upnet"] + list(args),
                                  env=d.env, capture_output=True, text=True, timeout=60)

        def live():
            return d.virsh("net-dumpxml", "upnet").stdout

        def config():
            return d.virsh("net-dumpxml", "upnet", "--inactive").stdout

        dns_pid = pid()
        t.ok(dns_pid and "dhcp-host=52:54:00:5e:00:80,198.18.12.80\n" in hostsfile(),
             "dnsmasq runs with the static host in its configuration", hostsfile())

        # ---- add a host live and in the definition ----
        r = update("add", "ip-dhcp-host", HOST, "--live", "--config")
        t.ok(r.returncode == 0 and
             r.stdout.strip() == "Updated network upnet persistent config and live state",
             "net-update add ip-dhcp-host --live --config", r.stdout + r.stderr)
        t.ok("dhcp-host=52:54:00:5e:00:81,198.18.12.81,guest81\n" in hostsfile(),
             "the host is in dnsmasq's configuration", hostsfile())
        t.ok(pid() and pid() != dns_pid, "dnsmasq was restarted with it")
        dns_pid = pid()
        t.ok(HOST in live() and HOST in config(), "the live and the persistent XML list it",
             live() + config())
        iface = """    <interface type='network'>
      <mac address='52:54:00:5e:00:81'/>
      <source network='upnet'/>
      <model type='virtio'/>
    </interface>
"""
        names.append("upguest")
        r = d.virsh("create", d.write("upguest.xml", domain_xml(
            "upguest", guest, "tests=net net_dhcp=1 net_mac=52:54:00:5e:00:81 "
            "net_ip=198.18.12.81 net_peer=198.18.12.1 net_dns=198.18.12.1", iface)))
        t.ok(r.returncode == 0, "a guest with that MAC starts on upnet",
             r.stdout + r.stderr + d.vmm_log("upguest"))
        wait_for(lambda: re.search(r"^1\.\.\d+", d.console_log("upguest"), re.M), 180, 0.2)
        log = d.console_log("upguest")
        t.ok(re.search(r"^ok \d+ - dhcp: ACK for 198\.18\.12\.81", log, re.M),
             "the guest's DHCP lease is the added host's 198.18.12.81", log[-3000:])
        r = d.virsh("net-dhcp-leases", "upnet")
        t.ok(re.search(r"52:54:00:5e:00:81\s+ipv4\s+198\.18\.12\.81/24", r.stdout),
             "net-dhcp-leases lists it", r.stdout + r.stderr)
        d.virsh("destroy", "upguest")

        # ---- modify and delete ----
        r = d.virsh("net-update", "upnet", "modify", "ip-dhcp-host",
                    "<host mac='52:54:00:5e:00:81' name='guest81' ip='198.18.12.82'/>",
                    "--live", "--config")
        t.ok(r.returncode == 0 and "dhcp-host=52:54:00:5e:00:81,198.18.12.82,guest81\n" in hostsfile() and
             "198.18.12.81" not in hostsfile() and "ip='198.18.12.82'" in live() and
             "ip='198.18.12.82'" in config(),
             "modify (found by MAC): the new address everywhere", r.stderr + hostsfile())
        r = d.virsh("net-update", "upnet", "delete", "ip-dhcp-host",
                    "<host mac='52:54:00:5e:00:81'/>", "--live", "--config")
        lease = d.virsh("net-dhcp-leases", "upnet").stdout
        t.ok(r.returncode == 0 and "198.18.12.81/24" in lease and pid() != dns_pid,
             "dnsmasq restarted twice more, the guest's lease is still listed", lease)
        t.ok(r.returncode == 0 and "52:54:00:5e:00:81" not in hostsfile() and
             "52:54:00:5e:00:81" not in live() + config(),
             "delete: gone from the configuration and both XMLs", r.stderr + hostsfile())
        r = update("add", "ip-dhcp-host", HOST, "--config")
        t.ok(r.returncode == 0 and r.stdout.strip() == "Updated network upnet persistent config"
             and HOST in config() and HOST not in live() and "guest81" not in hostsfile(),
             "--config alone: only the persistent definition", r.stdout + r.stderr)
        r = d.virsh("net-update", "upnet", "delete", "ip-dhcp-host", HOST, "--config")
        r = update("add", "ip-dhcp-host", HOST)
        t.ok(r.returncode == 0 and r.stdout.strip() == "Updated network upnet live state" and HOST in live() and HOST not in config() and "guest81" in hostsfile(),
             "no flag on a running network: only the running one", r.stdout + r.stderr)

        # ---- refusals (the XML unchanged after each) ----
        before = live() + config()

        def refused(args, what, desc):
            r = d.virsh("net-update", "upnet", *args)
            t.ok(r.returncode != 0 and what in r.stderr and live() + config() == before,
                 "refused: %s" % desc, r.stdout + r.stderr)
        refused(["add", "ip-dhcp-host", HOST, "--live"],
                "there is an existing dhcp host entry in network 'upnet' that matches",
                "a host that exists")
        refused(["delete", "ip-dhcp-host", "<host mac='52:54:00:5e:00:99'/>", "--live"],
                "couldn't locate a matching dhcp host entry in network 'upnet'",
                "deleting a host that does not exist")
        refused(["modify", "ip-dhcp-host", "<host mac='52:54:00:5e:00:99' ip='198.18.12.99'/>",
                 "--live"], "couldn't locate an existing dhcp host entry with \"mac='52:54:00:5e:"
                "00:99'\" in network 'upnet'", "modifying a host that does not exist")
        refused(["add", "ip-dhcp-host", "<range start='198.18.12.2' end='198.18.12.3'/>"],
                "unexpected element <range>, expecting <host>, while updating network 'upnet'",
                "the wrong element")
        refused(["add", "ip-dhcp-host", "<host mac='52:54:00:5e:00:98' ip='198.19.1.1'/>"],
                "198.19.1.1", "an address outside the network")
        refused(["add", "bridge", "<bridge name='x'/>"],
                "can't update 'bridge' section of network 'upnet'", "the bridge section")
        refused(["modify", "ip-dhcp-range", "<range start='198.18.12.100' end='198.18.12.150'/>"],
                "dhcp ranges cannot be modified, only added or deleted", "modifying a range")

        # ---- vsh: the same refusals and outputs as virsh, and an update of its own ----
        for args in (["add", "ip-dhcp-host", HOST, "--live"],
                     ["delete", "ip-dhcp-host", "<host mac='52:54:00:5e:00:99'/>"],
                     ["add", "bridge", "<bridge name='x'/>"],
                     ["add", "ip-dhcp-host", "<range start='198.18.12.2' end='198.18.12.3'/>"],
                     ["sideways", "ip-dhcp-host", HOST], ["add", "nowhere", HOST],
                     ["add", "ip-dhcp-host", HOST, "--parent-index", "x"],
                     ["add", "ip-dhcp-host", HOST, "--parent-index", "7"],
                     ["add", "ip-dhcp-host", HOST, "--current", "--live"],
                     ["add", "ip-dhcp-host", "/nonexistent.xml"]):
            a, b = d.virsh("net-update", "upnet", *args), d.vsh("net-update", "upnet", *args)
            t.ok((a.returncode, a.stdout, a.stderr) == (b.returncode, b.stdout, b.stderr),
                 "vsh net-update %s prints what virsh prints" % " ".join(args),
                 "virsh (%d): %r %r\nvsh (%d): %r %r" % (a.returncode, a.stdout, a.stderr,
                                                       b.returncode, b.stdout, b.stderr))
        r = subprocess.run([d.vsh_path, "-c", d.vsh_uri, "net-update", "upnet", "add-last",
                            "portgroup", d.write("pg.xml", "<portgroup name='vshpg'/>\n"),
                            "--live", "--config"], env=d.env, capture_output=True, text=True,
                           timeout=60)
        t.ok(r.returncode == 0 and
             r.stdout.strip() == "Updated network upnet persistent config and live state" and
             "<portgroup name='vshpg'/>" in live() and "<portgroup name='vshpg'/>" in config(),
             "vsh net-update add-last portgroup FILE --live --config", r.stdout + r.stderr)
        r = d.vsh("net-update", "upnet", "delete", "portgroup", "<portgroup name='vshpg'/>",
                  "--live", "--config")
        t.ok(r.returncode == 0 and "vshpg" not in live() + config(), "vsh net-update delete",
             r.stdout + r.stderr)

        # ---- ranges: dnsmasq restarted with the new one ----
        r = d.virsh("net-update", "upnet", "add-first", "ip-dhcp-range",
                    "<range start='198.18.12.20' end='198.18.12.30'/>", "--live", "--config")
        conf = open(os.path.join(run, "upnet.conf")).read()
        t.ok(r.returncode == 0 and pid() and
             "dhcp-range=198.18.12.20,198.18.12.30" in conf and
             live().index("198.18.12.20") < live().index("198.18.12.100"),
             "add-first ip-dhcp-range: first in the XML, dnsmasq restarted with it",
             r.stderr + conf)
        r = d.virsh("net-update", "upnet", "delete", "ip-dhcp-range",
                    "<range start='198.18.12.20' end='198.18.12.30'/>", "--live", "--config")
        conf = open(os.path.join(run, "upnet.conf")).read()
        t.ok(r.returncode == 0 and "198.18.12.20" not in conf + live() + config(),
             "delete ip-dhcp-range", r.stderr + conf)

        # ---- portgroups ----
        pg = "<portgroup name='eng' default='yes'><bandwidth><inbound average='1000'/>" \
             "</bandwidth></portgroup>"
        r = d.virsh("net-update", "upnet", "add", "portgroup", pg, "--live", "--config")
        t.ok(r.returncode == 0 and "<portgroup name='eng' default='yes'>" in live() and
             "<portgroup name='eng' default='yes'>" in config(),
             "add portgroup", r.stdout + r.stderr)
        r = d.virsh("net-update", "upnet", "add", "portgroup",
                    "<portgroup name='ops' default='yes'/>", "--live")
        t.ok(r.returncode != 0 and "is already set as the default" in r.stderr,
             "a second default portgroup is refused", r.stderr)
        r = d.virsh("net-update", "upnet", "modify", "portgroup",
                    "<portgroup name='eng'><bandwidth><inbound average='2000'/></bandwidth>"
                    "</portgroup>", "--live", "--config")
        t.ok(r.returncode == 0 and "average='2000'" in live() and "average='1000'" not in live(),
             "modify portgroup", r.stdout + r.stderr)
        r = d.virsh("net-update", "upnet", "delete", "portgroup", "<portgroup name='eng'/>",
                    "--live", "--config")
        t.ok(r.returncode == 0 and "portgroup" not in live() + config(), "delete portgroup",
             r.stdout + r.stderr)
        r = subprocess.run(["virt-xml-validate", d.write("up.xml", live()), "network"],
                           capture_output=True, text=True)
        t.ok(r.returncode == 0, "the updated network validates against libvirt's schema",
             r.stdout + r.stderr)

        # ---- transient and stopped networks ----
        r = d.virsh("net-create", d.write("tr.xml", "<network><name>trnet</name><bridge "
                                          "name='vbr-tr'/><ip address='198.18.13.1' "
                                          "prefix='24'/></network>"))
        r = d.virsh("net-update", "trnet", "add", "portgroup", "<portgroup name='a'/>",
                    "--config")
        t.ok(r.returncode != 0 and "cannot change persistent config of a transient network"
             in r.stderr, "--config of a transient network is refused", r.stderr)
        d.virsh("net-destroy", "trnet")
        d.virsh("net-destroy", "upnet")
        r = d.virsh("net-update", "upnet", "add", "portgroup", "<portgroup name='a'/>",
                    "--live")
        t.ok(r.returncode != 0 and "network is not running" in r.stderr,
             "--live of a stopped network is refused", r.stderr)
        r = update("add", "portgroup", "<portgroup name='a'/>")
        t.ok(r.returncode == 0 and r.stdout.strip() == "Updated network upnet persistent "
             "config" and "<portgroup name='a'/>" in live(),
             "no flag on a stopped network: the definition", r.stdout + r.stderr)
    except Exception as e:  # a set-up step failed: report it as a failure
        t.ok(False, "set-up", repr(e))
    finally:
        if t.failed:
            d.dump_log()
        for n in names:
            d.virsh("destroy", n)
        d.virsh("net-destroy", "upnet")
        d.virsh("net-destroy", "trnet")
        d.cleanup(names)
        netns_remove(ns)
    t.done()


if __name__ == "__main__":
    main()
