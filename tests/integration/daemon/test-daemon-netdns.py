#!/usr/bin/env python3
"""A virtual network's <dns>, <domain> and <route>s, served by the real dnsmasq.

Usage: test-daemon-netdns.py VIREOD VMM VSH

vireod runs in a network namespace made here; a second namespace, the
client, sits behind the network's bridge on a veth (198.18.26.50) and asks
with dig. The client also runs a second dnsmasq on port 5353, the upstream
of a <forwarder domain='upstream.test'>, answering one name. IPv4 addresses
from 198.18.0.0/15, IPv6 ones from 2001:2::/48. Checks:
 - dnsmasq's configuration has libvirt's lines (server=/domain/addr#port,
   local=/domain/, domain=, expand-hosts, txt-record=, srv-host=) and a
   host-record= per DNS host (network-dns.c says why not addn-hosts);
 - dig against the bridge's address: A and AAAA of a DNS host (its plain
   name and the one in the network's domain), TXT, SRV, NXDOMAIN for a name
   of the localOnly domain nobody defined, the upstream's answer for a name
   of the forwarder's domain;
 - net-update add/delete dns-host and add dns-txt/dns-srv --live: dig sees the
   record appear and go without a restart of the network; --config alone:
   only net-dumpxml --inactive changes, dig does not see it; libvirt's
   refusals (a duplicate, a missing record, modify) leave both XMLs alone;
 - <route>s (IPv4 and IPv6): `ip route` shows them via the bridge while the
   network runs, and not after net-destroy;
 - <dns enable='no'>: dnsmasq has port=0 and answers nothing;
 - forwardPlainNames='no' and an address-only forwarder: domain-needed,
   local=//, server=ADDR#PORT and no-resolv;
 - vsh prints what virsh prints for net-dumpxml and the net-update commands;
 - a batch of net-update DNS commands (adds, duplicates, deletes, modify, bad
   elements) prints what it prints against libvirt's own test driver.
"""
import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import NsDaemon, netns_remove, Tap, sh, skip_all  # noqa: E402

NET = """<network>
  <name>dnsnet</name>
  <bridge name='vbr-dns'/>
  <domain name='example.test' localOnly='yes'/>
  <dns>
    <forwarder domain='upstream.test' addr='198.18.26.50' port='5353'/>
    <host ip='198.18.26.10'>
      <hostname>web</hostname>
    </host>
    <host ip='2001:2:0:1a::10'>
      <hostname>web</hostname>
    </host>
    <txt name='info.example.test' value='vireo dns'/>
    <srv service='ldap' protocol='tcp' domain='example.test' target='web.example.test' port='389' priority='10' weight='5'/>
  </dns>
  <ip address='198.18.26.1' prefix='24'/>
  <ip family='ipv6' address='2001:2:0:1a::1' prefix='64'/>
  <route address='198.18.28.0' prefix='24' gateway='198.18.26.2' metric='7'/>
  <route family='ipv6' address='2001:2:0:1c::' prefix='64' gateway='2001:2:0:1a::2'/>
</network>
"""

QUIET = """<network>
  <name>quiet</name>
  <bridge name='vbr-quiet'/>
  <dns enable='no'/>
  <ip address='198.18.29.1' prefix='24'/>
</network>
"""

PLAIN = """<network>
  <name>plain</name>
  <bridge name='vbr-plain'/>
  <dns forwardPlainNames='no'>
    <forwarder addr='198.18.26.50' port='5353'/>
    <srv service='xmpp' protocol='udp' target='chat.test' priority='3'/>
    <srv service='gone' protocol='tcp' target='.' port='9'/>
  </dns>
  <ip address='198.18.30.1' prefix='24'/>
</network>
"""

CMP = """<network>
  <name>cmpnet</name>
  <bridge name='vbr-cmp'/>
  <ip address='198.18.31.1' prefix='24'/>
</network>
"""


def main():
    vireod, vmm, vsh = sys.argv[1:4]
    if os.geteuid() != 0:
        skip_all("needs root for network namespaces")
    t = Tap()
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    ns = "vireo-netdns-%d" % os.getpid()
    cl = ns + "-c"
    d = NsDaemon(ns, vireod, vmm, vsh)
    upstream_pid = None
    try:
        for n in (ns, cl):
            sh("ip", "netns", "add", n)
            sh("ip", "link", "set", "lo", "up", ns=n)
        d.start()

        def dig(*q, server="198.18.26.1", short=True):
            r = sh("dig", "+time=3", "+tries=2", *(["+short"] if short else []),
                   "@" + server, *q, ns=cl)
            return r.stdout.strip()

        def status(name):
            m = re.search(r"status: (\w+)", dig(name, short=False))
            return m.group(1) if m else "no answer"

        # the upstream of upstream.test: a dnsmasq of the client's, on port 5353
        upstream_pidfile = d.write("upstream.pid", "")
        r = d.virsh("net-define", d.write("dnsnet.xml", NET))
        t.ok(r.returncode == 0 and d.virsh("net-start", "dnsnet").returncode == 0,
             "net-define and net-start a network with <dns>, <domain> and <route>s",
             r.stdout + r.stderr)
        for c, where in ((("ip", "link", "add", "vdnsa", "type", "veth", "peer", "name", "vdnsb"),
                          ns),
                         (("ip", "link", "set", "vdnsb", "netns", cl), ns),
                         (("ip", "link", "set", "vdnsa", "master", "vbr-dns", "up"), ns),
                         (("ip", "addr", "add", "198.18.26.50/24", "dev", "vdnsb"), cl),
                         (("ip", "link", "set", "vdnsb", "up"), cl)):
            r = sh(*c, ns=where)
            if r.returncode:
                raise RuntimeError("%s: %s" % (" ".join(c), r.stderr))
        r = sh("dnsmasq", "--conf-file=/dev/null", "--port=5353", "--listen-address=198.18.26.50",
               "--bind-interfaces", "--no-resolv", "--no-hosts", "--pid-file=" + upstream_pidfile,
               "--host-record=answer.upstream.test,198.18.26.99", ns=cl)
        upstream_pid = int(open(upstream_pidfile).read() or 0) if r.returncode == 0 else None
        t.ok(upstream_pid, "the upstream dnsmasq runs in the client's namespace", r.stderr)

        conf_path = os.path.join(d.root, "run-networks", "dnsnet.conf")
        conf = open(conf_path).read()
        want = ["server=/upstream.test/198.18.26.50#5353\n", "local=/example.test/\n",
                "domain=example.test\nexpand-hosts\n", "txt-record=info.example.test,vireo dns\n",
                "srv-host=_ldap._tcp.example.test,web.example.test,389,10,5\n",
                "host-record=web,web.example.test,198.18.26.10\n",
                "host-record=web,web.example.test,2001:2:0:1a::10\n"]
        t.ok(all(w in conf for w in want) and "no-resolv" not in conf,
             "dnsmasq's configuration has libvirt's DNS lines and a host-record per host",
             conf + "missing: %r" % [w for w in want if w not in conf])

        # ---- the real dnsmasq answers ----
        t.ok(dig("web.example.test", "A") == "198.18.26.10" and dig("web", "A") == "198.18.26.10",
             "A of a DNS host, by its name in the domain and its plain name",
             dig("web.example.test", "A") + " / " + dig("web", "A"))
        t.ok(dig("web.example.test", "AAAA") == "2001:2:0:1a::10", "AAAA of a DNS host",
             dig("web.example.test", "AAAA"))
        t.ok(dig("info.example.test", "TXT") == '"vireo dns"', "a TXT record",
             dig("info.example.test", "TXT"))
        t.ok(dig("_ldap._tcp.example.test", "SRV") == "10 5 389 web.example.test.",
             "an SRV record", dig("_ldap._tcp.example.test", "SRV"))
        t.ok(status("nobody.example.test") == "NXDOMAIN",
             "a name of the localOnly domain nobody defined: NXDOMAIN, answered here",
             dig("nobody.example.test", short=False))
        t.ok(dig("answer.upstream.test", "A") == "198.18.26.99",
             "a name of the forwarder's domain: the upstream dnsmasq's answer",
             dig("answer.upstream.test", short=False))

        # ---- net-update, live and --config ----
        def update(*args, tool="virsh"):
            cmd = [tool, "-c", d.uri if tool == "virsh" else d.vsh_uri]
            cmd[0] = "virsh" if tool == "virsh" else d.vsh_path
            return subprocess.run(cmd + ["net-update", "dnsnet"] + list(args), env=d.env,
                                  capture_output=True, text=True, timeout=60)

        def live():
            return d.virsh("net-dumpxml", "dnsnet").stdout

        def config():
            return d.virsh("net-dumpxml", "dnsnet", "--inactive").stdout

        new = "<host ip='198.18.26.11'><hostname>new</hostname></host>"
        t.ok(status("new.example.test") == "NXDOMAIN", "before the update: new.example.test "
             "does not exist")
        r = update("add", "dns-host", new, "--live")
        t.ok(r.returncode == 0 and r.stdout.strip() == "Updated network dnsnet live state" and
             dig("new.example.test", "A") == "198.18.26.11" and "<hostname>new</hostname>" in live()
             and "<hostname>new</hostname>" not in config(),
             "net-update add dns-host --live: dig sees it, the live XML lists it",
             r.stdout + r.stderr + dig("new.example.test", short=False))
        t.ok(dig("answer.upstream.test", "A") == "198.18.26.99" and
             sh("ip", "link", "show", "vbr-dns", ns=ns).returncode == 0,
             "the network kept running (its bridge, the forwarder)")
        r = update("delete", "dns-host", "<host ip='198.18.26.11'/>", "--live")
        t.ok(r.returncode == 0 and status("new.example.test") == "NXDOMAIN" and
             "new" not in live(), "net-update delete dns-host --live (by address): gone",
             r.stdout + r.stderr)
        cfg = "<host ip='198.18.26.12'><hostname>cfg</hostname></host>"
        r = update("add", "dns-host", cfg, "--config")
        t.ok(r.returncode == 0 and r.stdout.strip() == "Updated network dnsnet persistent config"
             and "<hostname>cfg</hostname>" in config() and "cfg" not in live() and
             status("cfg.example.test") == "NXDOMAIN",
             "net-update add dns-host --config: only net-dumpxml --inactive, not dig",
             r.stdout + r.stderr)
        r = update("add", "dns-txt", "<txt name='extra.example.test' value='added live'/>",
                   "--live", "--config")
        t.ok(r.returncode == 0 and dig("extra.example.test", "TXT") == '"added live"' and
             "extra.example.test" in live() and "extra.example.test" in config(),
             "net-update add dns-txt --live --config: dig sees it", r.stdout + r.stderr)
        r = update("add", "dns-srv", "<srv service='http' protocol='tcp' target='web.example."
                   "test' port='80'/>", "--live")
        t.ok(r.returncode == 0 and
             dig("_http._tcp.example.test", "SRV") == "0 0 80 web.example.test.",
             "net-update add dns-srv --live (no domain: the network's): dig sees it",
             r.stdout + r.stderr + dig("_http._tcp.example.test", "SRV", short=False))

        before = live() + config()

        def refused(args, what, desc):
            r = update(*args)
            t.ok(r.returncode != 0 and what in r.stderr and live() + config() == before,
                 "refused: %s" % desc, r.stdout + r.stderr)
        refused(["add", "dns-host", "<host ip='198.18.26.10'><hostname>other</hostname></host>",
                 "--live"], "there is already at least one DNS HOST record with a matching "
                "field in network dnsnet", "a host with an address that exists")
        refused(["delete", "dns-host", "<host ip='198.18.26.77'/>", "--live"],
                "couldn't locate a matching DNS HOST record in network dnsnet",
                "deleting a host that does not exist")
        refused(["modify", "dns-host", new, "--live"],
                "DNS HOST records cannot be modified, only added or deleted", "modify")
        refused(["add", "dns-txt", "<txt name='info.example.test' value='again'/>", "--live"],
                "there is already a DNS TXT record with name 'info.example.test' in network "
                "dnsnet", "a TXT name that exists")
        refused(["delete", "dns-srv", "<srv service='nntp' protocol='tcp'/>", "--live"],
                "couldn't locate a matching DNS SRV record in network dnsnet",
                "deleting an SRV record that does not exist")
        refused(["add", "dns-host", "<txt name='x' value='y'/>", "--live"],
                "unexpected element <txt>, expecting <host>, while updating network 'dnsnet'",
                "the wrong element")
        refused(["add", "dns-host", "<host ip='198.18.26.13'/>", "--live"],
                "Missing hostname in network 'dnsnet' DNS HOST record", "a host with no name")

        # ---- vsh prints what virsh prints ----
        gone = "<host ip='198.18.26.11'/>"
        # (arguments, what undoes them when they succeed, so vsh meets the same state)
        for args, undo in ((["add", "dns-host", new, "--live"], ["delete", "dns-host", gone]),
                           (["add", "dns-txt", "<txt name='t2' value='v'/>", "--config"],
                            ["delete", "dns-txt", "<txt name='t2'/>", "--config"]),
                           (["delete", "dns-host", gone, "--live"], None),
                           (["modify", "dns-txt", "<txt name='a' value='b'/>"], None),
                           (["delete", "dns-srv", "<srv service='nntp' protocol='tcp'/>"],
                            None)):
            a = update(*args)
            if undo and a.returncode == 0:
                update(*undo)
            b = update(*args, tool="vsh")
            if undo and b.returncode == 0:
                update(*undo)
            t.ok((a.returncode, a.stdout, a.stderr) == (b.returncode, b.stdout, b.stderr),
                 "vsh net-update %s prints what virsh prints" % " ".join(args[:2]),
                 "virsh (%d): %r %r\nvsh (%d): %r %r" % (a.returncode, a.stdout, a.stderr,
                                                       b.returncode, b.stdout, b.stderr))
        for extra in ([], ["--inactive"]):
            a = d.virsh("net-dumpxml", "dnsnet", *extra)
            b = d.vsh("net-dumpxml", "dnsnet", *extra)
            t.ok(a.returncode == 0 and (a.stdout, a.stderr) == (b.stdout, b.stderr),
                 "vsh net-dumpxml %s prints what virsh prints" % " ".join(extra),
                 a.stdout + b.stdout + b.stderr)

        # ---- routes ----
        r4 = sh("ip", "-4", "route", "show", "198.18.28.0/24", ns=ns).stdout
        r6 = sh("ip", "-6", "route", "show", "2001:2:0:1c::/64", ns=ns).stdout
        t.ok("via 198.18.26.2 dev vbr-dns" in r4 and "metric 7" in r4,
             "the IPv4 <route> is in the kernel's table via the bridge", r4)
        t.ok("via 2001:2:0:1a::2 dev vbr-dns" in r6, "the IPv6 <route> too", r6)
        r = d.virsh("net-destroy", "dnsnet")
        r4 = sh("ip", "-4", "route", "show", "198.18.28.0/24", ns=ns).stdout
        r6 = sh("ip", "-6", "route", "show", "2001:2:0:1c::/64", ns=ns).stdout
        t.ok(r.returncode == 0 and not r4.strip() and not r6.strip(),
             "net-destroy: both routes are gone", r.stderr + r4 + r6)
        r = d.virsh("net-start", "dnsnet")
        t.ok(r.returncode == 0 and "host-record=cfg,cfg.example.test,198.18.26.12\n" in
             open(conf_path).read(), "started again, the --config host is served",
             r.stderr)
        sh("ip", "link", "set", "vdnsa", "master", "vbr-dns", "up", ns=ns)
        t.ok(dig("cfg.example.test", "A") == "198.18.26.12", "dig sees the --config host now",
             dig("cfg.example.test", short=False))

        # ---- DNS off ----
        r = d.virsh("net-create", d.write("quiet.xml", QUIET))
        qconf = open(os.path.join(d.root, "run-networks", "quiet.conf")).read() \
            if r.returncode == 0 else ""
        sh("ip", "link", "set", "vdnsa", "nomaster", ns=ns)
        sh("ip", "link", "set", "vdnsa", "master", "vbr-quiet", "up", ns=ns)
        sh("ip", "addr", "add", "198.18.29.50/24", "dev", "vdnsb", ns=cl)
        out = dig("web.example.test", server="198.18.29.1", short=False)
        t.ok(r.returncode == 0 and "port=0\n" in qconf and "status:" not in out,
             "<dns enable='no'>: port=0, dnsmasq answers nothing", r.stderr + qconf + out)

        # ---- forwardPlainNames='no' and a forwarder for everything ----
        r = d.virsh("net-create", d.write("plain.xml", PLAIN))
        pconf = open(os.path.join(d.root, "run-networks", "plain.conf")).read() \
            if r.returncode == 0 else ""
        t.ok(r.returncode == 0 and "server=198.18.26.50#5353\nno-resolv\n" in pconf and
             "domain-needed\nlocal=//\n" in pconf and
             "srv-host=_xmpp._udp,chat.test,1,3\n" in pconf and "srv-host=_gone._tcp\n" in pconf,
             "forwardPlainNames='no', an address-only forwarder, SRV records without a port "
             "(dnsmasq's 1 written before the priority) and with target '.': libvirt's lines",
             r.stderr + pconf)

        # ---- the same net-update batch on libvirt's own test driver: the same lines ----
        batch = [
            "add dns-host \"<host ip='198.18.31.10'><hostname>web</hostname></host>\" --live",
            "add dns-host \"<host ip='198.18.31.10'><hostname>other</hostname></host>\" --live",
            "delete dns-host \"<host ip='198.18.31.77'/>\" --live",
            "modify dns-host \"<host ip='198.18.31.10'><hostname>web</hostname></host>\" --live",
            "add dns-txt \"<txt name='info' value='x'/>\" --live",
            "add dns-txt \"<txt name='info' value='y'/>\" --live",
            "delete dns-txt \"<txt name='nope'/>\" --live",
            "delete dns-srv \"<srv service='nntp' protocol='tcp'/>\" --live",
            "add dns-srv \"<srv service='ldap' protocol='tcp' port='389'/>\" --live",
            "add dns-srv \"<srv service='ldap' protocol='tcp' target='web' port='389'/>\" --live",
            "add dns-srv \"<srv service='ldap' protocol='tcp' target='web' port='389'/>\" --live",
            "add dns-host \"<txt name='x' value='y'/>\" --live",
            "add dns-host \"<host ip='198.18.31.13'/>\" --live",
            "delete dns-host \"<host ip='198.18.31.10'/>\" --live"]
        r = d.virsh("net-create", d.write("cmp.xml", CMP))

        def run_batch(uri, net):
            line = "; ".join("net-update %s %s" % (net, c) for c in batch)
            out = subprocess.run(["virsh", "-c", uri, line], env=d.env, capture_output=True,
                                 text=True, timeout=120)
            return (out.stdout + out.stderr).replace("'%s'" % net, "'NET'").replace(
                " %s" % net, " NET")
        ours, libvirt = run_batch(d.uri, "cmpnet"), run_batch("test:///default", "default")
        t.ok(r.returncode == 0 and ours == libvirt,
             "a batch of net-update dns-host/dns-txt/dns-srv: what libvirt's test driver prints",
             "vireod:\n%s\nlibvirt:\n%s" % (ours, libvirt))
    except Exception as e:  # a set-up step failed: report it as a failure
        t.ok(False, "set-up", repr(e))
    finally:
        if t.failed:
            d.dump_log()
        if upstream_pid:
            try:
                os.kill(upstream_pid, signal.SIGTERM)
            except OSError:
                pass
        d.virsh("net-destroy", "dnsnet")
        d.virsh("net-destroy", "quiet")
        d.virsh("net-destroy", "plain")
        d.virsh("net-destroy", "cmpnet")
        d.cleanup([])
        netns_remove(ns, cl)
    t.done()


if __name__ == "__main__":
    main()
