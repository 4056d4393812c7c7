#!/usr/bin/env python3
"""A network's <bandwidth> and QoS floors through vireod (libvirt's class tree).

Usage: test-daemon-netfloor.py VIREOD VMM TEST_GUEST_ELF

Everything runs in a network namespace made here, with addresses from
198.18.0.0/15 only; what is checked is what tc shows on the network's bridge
(libvirt's commands and numbers: rates in KB/s, tc's "kbps", shown in bit/s):
 - net-create of an isolated network with <bandwidth><inbound average='1000'/>:
   net-dumpxml keeps it (valid for libvirt's schema); the bridge has the htb
   root "1: default 2", class 1:1 and class 1:2 at 8Mbit (the fw filter and
   sfq are best effort: this kernel may lack cls_fw and sch_sfq; an outbound
   is the tap's policer, which needs act_police, not here either);
 - a guest with two interfaces, floors 300 and 200 (the second also
   average='600'): classes 1:3 and 1:4 under 1:1 at 2400Kbit and 1600Kbit,
   ceil 8Mbit, u32 filters 800::803 and 800::804 on their MACs, class 1:2 at
   what is left (4Mbit); the second's tap has its own 4800Kbit class;
 - a guest whose floor 600 would take the sum to 1100 is refused with
   libvirt's "Cannot plug ... would overcommit average=1000" and changes
   nothing; a floor on a network without inbound bandwidth, and one on a
   plain bridge interface, are refused with libvirt's words;
 - domiftune --live changes the first interface's floor to 50 in place;
 - vireod restarted: the destroy of the first guest still removes its classes
   and filters and gives 1:2 its 8Mbit back (the plugs were kept in the run
   directory); the refused guest then starts, in class 1:3;
 - net-destroy takes the bridge and its tree away.
"""
import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import NsDaemon, netns_remove, Tap, domain_xml, sh, skip_all  # noqa: E402


QOS_NET = """<network>
  <name>qosnet</name>
  <bridge name='vbr-qos'/>
  <bandwidth>
    <inbound average='1000'/>
  </bandwidth>
  <ip address='198.18.20.1' prefix='24'/>
</network>
"""

PLAIN_NET = """<network>
  <name>plainnet</name>
  <bridge name='vbr-plain'/>
  <ip address='198.18.21.1' prefix='24'/>
</network>
"""


def iface(mac, net, dev, bw):
    return ("    <interface type='network'>\n      <mac address='%s'/>\n"
            "      <source network='%s'/>\n      <target dev='%s'/>\n"
            "      <bandwidth>\n        %s\n      </bandwidth>\n"
            "      <model type='virtio'/>\n    </interface>\n" % (mac, net, dev, bw))


def main():
    vireod, vmm, guest = sys.argv[1:4]
    if os.geteuid() != 0:
        skip_all("needs root for network namespaces")
    t = Tap()
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    ns = "vireo-floor-%d" % os.getpid()
    d = NsDaemon(ns, vireod, vmm)
    names = []

    def classes(dev="vbr-qos"):
        return sh("tc", "class", "show", "dev", dev, ns=ns).stdout

    def filters():
        return sh("tc", "filter", "show", "dev", "vbr-qos", ns=ns).stdout

    try:
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "set", "lo", "up", ns=ns)
        d.start()
        r = d.virsh("net-create", d.write("qosnet.xml", QOS_NET))
        t.ok(r.returncode == 0, "net-create a network with an inbound <bandwidth>",
             r.stdout + r.stderr)
        dump = d.virsh("net-dumpxml", "qosnet").stdout
        v = subprocess.run(["virt-xml-validate", d.write("dump.xml", dump), "network"],
                           capture_output=True, text=True)
        t.ok("<inbound average='1000'/>" in dump and v.returncode == 0,
             "net-dumpxml keeps the <bandwidth>, valid for libvirt's schema",
             dump + v.stdout + v.stderr)
        q = sh("tc", "qdisc", "show", "dev", "vbr-qos", ns=ns).stdout
        c = classes()
        t.ok(re.search(r"qdisc htb 1: root .*default 0x2", q) and
             re.search(r"class htb 1:1 root rate 8Mbit ceil 8Mbit", c) and
             re.search(r"class htb 1:2 parent 1:1 .*rate 8Mbit ceil 8Mbit", c),
             "the bridge: htb root default 2, classes 1:1 and 1:2 at 8Mbit",
             q + c)

        # ---- two floors ----
        names.append("floora")
        r = d.virsh("create", d.write("a.xml", domain_xml("floora", guest, "", iface(
            "52:54:00:5e:01:01", "qosnet", "vfl-a", "<inbound floor='300'/>") + iface(
            "52:54:00:5e:01:02", "qosnet", "vfl-b", "<inbound average='600' floor='200'/>"))))
        t.ok(r.returncode == 0, "create a guest with floors 300 and 200 on qosnet",
             r.stdout + r.stderr + d.vmm_log("floora"))
        c, f = classes(), filters()
        t.ok(re.search(r"class htb 1:3 parent 1:1 .*rate 2400Kbit ceil 8Mbit", c) and
             re.search(r"class htb 1:4 parent 1:1 .*rate 1600Kbit ceil 8Mbit", c),
             "classes 1:3 and 1:4: rate = the floors (2400Kbit, 1600Kbit), ceil the network's", c)
        t.ok(re.search(r"class htb 1:2 parent 1:1 .*rate 4Mbit ceil 8Mbit", c),
             "class 1:2 (no floor) gets what is left: 1000 - 500 KB/s = 4Mbit", c)
        # libvirt's u32 keys: IPv4 (0x0800 at -2), MAC bytes 2-5 at -12, bytes 0-1 at -14
        keys = [r"match 00000800/0000ffff at -4\s+match 005e01%02d/ffffffff at -12\s+"
                r"match 00005254/0000ffff at -16" % k for k in (1, 2)]
        t.ok(re.search(r"protocol ip pref 2 u32 .*fh 800::803 .*flowid 1:3 .*\s+" + keys[0], f)
             and re.search(r"protocol ip pref 2 u32 .*fh 800::804 .*flowid 1:4 .*\s+" + keys[1], f),
             "u32 filters 800::803 and 800::804 on the two MACs", f)
        tb = classes("vfl-b")
        t.ok(re.search(r"class htb 1:1 root .*rate 4800Kbit", tb) and classes("vfl-a") == "",
             "the second tap has its own 4800Kbit limit, the first (floor only) none", tb)

        # ---- refusals ----
        r = d.virsh("create", d.write("b.xml", domain_xml("floorb", guest, "", iface(
            "52:54:00:5e:01:03", "qosnet", "vfl-c", "<inbound floor='600'/>"))))
        t.ok(r.returncode != 0 and "Cannot plug '52:54:00:5e:01:03' interface into 'vbr-qos' "
             "because new combined inbound floor=1100 would overcommit average=1000 on network "
             "'qosnet'" in r.stderr and d.virsh("domstate", "floorb").returncode != 0,
             "a floor taking the sum above the network's average is refused (libvirt's words)",
             r.stderr)
        c = classes()
        t.ok("1:5" not in c and re.search(r"class htb 1:2 parent 1:1 .*rate 4Mbit", c) and
             sh("ip", "link", "show", "vfl-c", ns=ns).returncode != 0,
             "the refused start changed nothing (no class 1:5, 1:2 at 4Mbit, no tap)", c)
        r = d.virsh("net-create", d.write("plain.xml", PLAIN_NET))
        r = d.virsh("create", d.write("c.xml", domain_xml("floorc", guest, "", iface(
            "52:54:00:5e:01:04", "plainnet", "vfl-d", "<inbound floor='100'/>"))))
        t.ok(r.returncode != 0 and "Invalid use of 'floor' on interface with MAC address "
             "52:54:00:5e:01:04 - network 'plainnet' has no inbound QoS set" in r.stderr,
             "a floor on a network without inbound bandwidth is refused", r.stderr)
        sh("ip", "link", "add", "kbr-fl", "type", "bridge", ns=ns)
        r = d.virsh("create", d.write("e.xml", domain_xml("floore", guest, "", """    <interface type='bridge'>
      <mac address='52:54:00:5e:01:05'/>
      <source bridge='kbr-fl'/>
      <bandwidth>
        <inbound average='100' floor='50'/>
      </bandwidth>
    </interface>
""")))
        t.ok(r.returncode != 0 and "unsupported configuration: floor attribute is not supported "
             "for this config" in r.stderr,
             "a floor on a bridge interface is refused (libvirt's words)", r.stderr)
        r = d.virsh("domiftune", "floora", "vfl-a", "--live", "--inbound", "100,,,50")
        c = classes()
        t.ok(r.returncode == 0 and re.search(r"class htb 1:3 parent 1:1 .*rate 400Kbit", c) and
             re.search(r"class htb 1:2 parent 1:1 .*rate 6Mbit", c),
             "domiftune --live floor 50: class 1:3 changed in place (400Kbit), 1:2 at 6Mbit",
             r.stderr + c)

        # ---- a restarted vireod still knows the plugs ----
        rc = d.stop()
        t.ok(rc == 0, "vireod ends with status 0 (a sanitizer build's leak or error would not)",
             "exit status %r" % rc)
        d.start()
        r = d.virsh("destroy", "floora")
        c, f = classes(), filters()
        t.ok(r.returncode == 0 and "1:3" not in c and "1:4" not in c and "800::803" not in f and
             "800::804" not in f and re.search(r"class htb 1:2 parent 1:1 .*rate 8Mbit", c),
             "after a vireod restart, destroy removes both classes and filters, 1:2 back to 8Mbit",
             r.stderr + c + f)
        names.append("floorb")
        r = d.virsh("create", d.write("b.xml", domain_xml("floorb", guest, "", iface(
            "52:54:00:5e:01:03", "qosnet", "vfl-c", "<inbound floor='600'/>"))))
        c = classes()
        t.ok(r.returncode == 0 and re.search(r"class htb 1:3 parent 1:1 .*rate 4800Kbit", c) and
             re.search(r"class htb 1:2 parent 1:1 .*rate 3200Kbit", c),
             "now the floor of 600 fits: class 1:3 at 4800Kbit, 1:2 at 3200Kbit",
             r.stderr + c)
        d.virsh("destroy", "floorb")
        r = d.virsh("net-destroy", "qosnet")
        t.ok(r.returncode == 0 and sh("ip", "link", "show", "vbr-qos", ns=ns).returncode != 0,
             "net-destroy: the bridge and its tree are gone", r.stderr)
        rc = d.stop()
        t.ok(rc == 0, "vireod ends with status 0 after the floors' plugs and unplugs",
             "exit status %r" % rc)
    except Exception as e:  # a set-up step failed: report it as a failure
        t.ok(False, "set-up", repr(e))
    finally:
        if t.failed:
            d.dump_log()
        for n in names:
            d.virsh("destroy", n)
        d.virsh("net-destroy", "qosnet")
        d.virsh("net-destroy", "plainnet")
        d.cleanup(names)
        netns_remove(ns)
    t.done()


if __name__ == "__main__":
    main()
