#!/usr/bin/python3
"""A network port's bandwidth parameters, and domiftune --live with a floor.

Usage: test-daemon-netportparams.py VIREOD VMM TEST_GUEST_ELF

Everything runs in a network namespace made here, with addresses from
198.18.0.0/15 only. A network with <bandwidth><inbound average='1000'/> and
a guest with two interfaces on it: A with <inbound average='600'
floor='300'/>, B without a bandwidth. Checked through libvirt-python
(virNetworkPortGetParameters/SetParameters, RPC 407/408) and the stock virsh,
with what tc shows on the bridge (the floors' htb classes, net-floor.c) and
on the taps (rates in KB/s, tc's "kbps", shown in bit/s):
 - port A's parameters(): libvirt's seven VIR_NETWORK_PORT_BANDWIDTH_* with
   A's numbers; B's all 0;
 - setParameters on A (average 800, floor 500): A's class 1:3 on the bridge
   now at 4Mbit (in place: same id), 1:2 at what is left (4Mbit), A's tap
   limit at 6400Kbit; parameters(), the port's XML and the domain's live XML
   show the new numbers;
 - a floor that would overcommit the network is refused with libvirt's
   words and changes nothing; an unknown parameter, a wrong type and a
   parameter given twice (sent by hand: libvirt-python checks them itself)
   get libvirt's errors;
 - setParameters on B with a floor alone plugs it (class 1:4, 1:2 shrinks),
   with no parameters removes it again;
 - virsh domiftune --live --inbound AVG,PEAK,BURST,FLOOR on A changes its
   class and its tap as the port's parameters do (and the port shows it); a
   floor that overcommits is refused with libvirt's words; a floor on an
   interface of a network without inbound QoS is refused (libvirt's words).
"""
import os
import re
import signal
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import NsDaemon, netns_remove, Tap, domain_xml, sh, skip_all  # noqa: E402
import remotelib as rl  # noqa: E402

PROC_NETWORK_PORT_SET_PARAMETERS = 408


QOS_NET = """<network>
  <name>ppnet</name>
  <bridge name='vbr-pp'/>
  <bandwidth>
    <inbound average='1000'/>
  </bandwidth>
  <ip address='198.18.22.1' prefix='24'/>
</network>
"""

PLAIN_NET = """<network>
  <name>ppplain</name>
  <bridge name='vbr-ppp'/>
  <ip address='198.18.23.1' prefix='24'/>
</network>
"""

MAC_A, MAC_B, MAC_C = "52:54:00:5e:02:01", "52:54:00:5e:02:02", "52:54:00:5e:02:03"


def iface(mac, net, dev, bw=""):
    if bw:
        bw = "      <bandwidth>\n        %s\n      </bandwidth>\n" % bw
    return ("    <interface type='network'>\n      <mac address='%s'/>\n"
            "      <source network='%s'/>\n      <target dev='%s'/>\n%s"
            "      <model type='virtio'/>\n    </interface>\n" % (mac, net, dev, bw))


def main():
    vireod, vmm, guest = sys.argv[1:4]
    if os.geteuid() != 0:
        skip_all("needs root for network namespaces")
    import libvirt
    libvirt.registerErrorHandler(lambda *a: None, None)  # the errors are checked, not printed
    t = Tap()
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    ns = "vireo-pp-%d" % os.getpid()
    d = NsDaemon(ns, vireod, vmm)
    names = []

    def classes(dev="vbr-pp"):
        return sh("tc", "class", "show", "dev", dev, ns=ns).stdout

    try:
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "set", "lo", "up", ns=ns)
        d.start()
        r = d.virsh("net-create", d.write("ppnet.xml", QOS_NET))
        t.ok(r.returncode == 0, "net-create a network with an inbound <bandwidth>",
             r.stdout + r.stderr)
        names.append("ppg")
        r = d.virsh("create", d.write("g.xml", domain_xml("ppg", guest, "", iface(
            MAC_A, "ppnet", "vpp-a", "<inbound average='600' floor='300'/>") + iface(
            MAC_B, "ppnet", "vpp-b"))))
        t.ok(r.returncode == 0, "create a guest with interfaces A (floor 300) and B on ppnet",
             r.stdout + r.stderr + d.vmm_log("ppg"))
        conn = libvirt.open(d.uri)
        net = conn.networkLookupByName("ppnet")
        ports = {}
        for p in net.listAllPorts():
            m = re.search(r"<mac address='([0-9a-f:]+)'/>", p.XMLDesc())
            ports[m.group(1) if m else None] = p
        pa, pb = ports.get(MAC_A), ports.get(MAC_B)
        t.ok(pa is not None and pb is not None, "listAllPorts: a port for each interface",
             repr(ports))

        zero = {"inbound.average": 0, "inbound.peak": 0, "inbound.floor": 0,
                "inbound.burst": 0, "outbound.average": 0, "outbound.peak": 0,
                "outbound.burst": 0}
        got = pa.parameters()
        t.ok(got == dict(zero, **{"inbound.average": 600, "inbound.floor": 300}),
             "port A's parameters(): libvirt's seven parameters, average 600 floor 300",
             repr(got))
        got = pb.parameters()
        t.ok(got == zero, "port B's parameters(): all 0", repr(got))

        # ---- setParameters: applied live ----
        pa.setParameters({"inbound.average": 800, "inbound.floor": 500})
        c, ta = classes(), classes("vpp-a")
        t.ok(re.search(r"class htb 1:3 parent 1:1 .*rate 4Mbit ceil 8Mbit", c) and
             re.search(r"class htb 1:2 parent 1:1 .*rate 4Mbit ceil 8Mbit", c),
             "setParameters floor 500: class 1:3 in place at 4Mbit, 1:2 at what is left (4Mbit)",
             c)
        t.ok(re.search(r"class htb 1:1 root .*rate 6400Kbit", ta),
             "setParameters average 800: the tap's limit is 6400Kbit", ta)
        got = pa.parameters()
        px = pa.XMLDesc()
        dx = d.virsh("dumpxml", "ppg").stdout
        t.ok(got == dict(zero, **{"inbound.average": 800, "inbound.floor": 500}) and
             "<inbound average='800' floor='500'/>" in px and
             "<inbound average='800' floor='500'/>" in dx,
             "parameters(), the port's XML and the live domain XML show the new numbers",
             repr(got) + px + dx)

        # ---- refusals ----
        try:
            pa.setParameters({"inbound.average": 800, "inbound.floor": 1200})
            err = None
        except libvirt.libvirtError as e:
            err = e
        c = classes()
        t.ok(err is not None and "Cannot plug '%s' interface into 'vbr-pp' because new combined "
             "inbound floor=1200 would overcommit average=1000 on network 'ppnet'" % MAC_A
             in str(err) and err.get_error_code() == libvirt.VIR_ERR_OPERATION_INVALID,
             "a floor overcommitting the network is refused (libvirt's words and code)", str(err))
        t.ok(re.search(r"class htb 1:3 parent 1:1 .*rate 4Mbit", c) and
             pa.parameters()["inbound.floor"] == 500 and
             re.search(r"class htb 1:1 root .*rate 6400Kbit", classes("vpp-a")),
             "the refused set changed nothing (class, parameters, tap)", c)
        # what libvirt-python refuses itself (it asks the port's parameters' names and types
        # first): the procedure by hand, libvirtd's errors
        raw = rl.RawClient(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
        raw.s.connect(d.sock)
        raw.call(rl.PROC_CONNECT_OPEN,
                 struct.pack(">I", 1) + rl.xdr_string("qemu:///system") + struct.pack(">I", 0))

        def raw_set(port, params):
            body = rl.xdr_string("ppnet") + net.UUID() + port.UUID()
            body += struct.pack(">I", len(params))
            for name, typ, val in params:
                body += rl.xdr_string(name) + struct.pack(">i", typ)
                body += rl.xdr_string(val) if typ == 7 else struct.pack(">I", val)
            st, payload = raw.call(PROC_NETWORK_PORT_SET_PARAMETERS, body + struct.pack(">I", 0))
            return rl.error_message(payload) if st else ""

        got = raw_set(pa, [("inbound.bogus", 2, 1)])
        t.ok(got == "argument unsupported: parameter 'inbound.bogus' not supported",
             "an unknown parameter: libvirt's error", got)
        got = raw_set(pa, [("inbound.average", 7, "800")])
        t.ok(got == "invalid argument: invalid type for parameter 'inbound.average', expected "
             "'uint'", "a string where a uint goes: libvirt's error", got)
        got = raw_set(pa, [("inbound.average", 2, 800), ("inbound.average", 2, 900)])
        t.ok(got == "invalid argument: parameter 'inbound.average' occurs multiple times",
             "a parameter given twice: libvirt's error", got)
        t.ok(pa.parameters() == dict(zero, **{"inbound.average": 800, "inbound.floor": 500}),
             "the refused sets changed nothing", repr(pa.parameters()))

        # ---- a floor plugged and unplugged through the port ----
        pb.setParameters({"inbound.floor": 400})
        c = classes()
        t.ok(re.search(r"class htb 1:4 parent 1:1 .*rate 3200Kbit ceil 8Mbit", c) and
             re.search(r"class htb 1:2 parent 1:1 .*rate 800Kbit", c) and
             classes("vpp-b") == "",
             "B's floor 400 alone: class 1:4 at 3200Kbit, 1:2 at 800Kbit, no limit on its tap",
             c)
        got = raw_set(pb, [])  # libvirt-python refuses an empty dict
        c = classes()
        t.ok(got == "" and "1:4" not in c and
             re.search(r"class htb 1:2 parent 1:1 .*rate 4Mbit", c) and
             pb.parameters() == zero and "<bandwidth" not in pb.XMLDesc(),
             "setParameters with nothing: B's class goes, 1:2 back at 4Mbit, no <bandwidth>", c)

        # ---- domiftune --live with a floor ----
        r = d.virsh("domiftune", "ppg", "vpp-a", "--live", "--inbound", "200,,,100")
        c, ta = classes(), classes("vpp-a")
        t.ok(r.returncode == 0 and re.search(r"class htb 1:3 parent 1:1 .*rate 800Kbit", c) and
             re.search(r"class htb 1:2 parent 1:1 .*rate 7200Kbit", c) and
             re.search(r"class htb 1:1 root .*rate 1600Kbit", ta),
             "domiftune --live --inbound 200,,,100: class 1:3 at 800Kbit, 1:2 at 7200Kbit, "
             "the tap at 1600Kbit", r.stderr + c + ta)
        got = pa.parameters()
        r2 = d.virsh("domiftune", "ppg", "vpp-a", "--live")
        t.ok(got["inbound.floor"] == 100 and got["inbound.average"] == 200 and
             re.search(r"inbound.floor\s*:\s*100", r2.stdout),
             "the port and domiftune show floor 100", repr(got) + r2.stdout)
        r = d.virsh("domiftune", "ppg", "vpp-a", "--live", "--inbound", "200,,,1001")
        t.ok(r.returncode != 0 and "would overcommit average=1000 on network 'ppnet'" in r.stderr
             and re.search(r"class htb 1:3 parent 1:1 .*rate 800Kbit", classes()),
             "domiftune --live with a floor overcommitting the network is refused, nothing "
             "changed", r.stderr)
        r = d.virsh("domiftune", "ppg", "vpp-a", "--live", "--inbound", "200")
        c = classes()
        t.ok(r.returncode == 0 and "1:3" not in c and
             re.search(r"class htb 1:2 parent 1:1 .*rate 8Mbit", c),
             "domiftune --live without the floor: A's class goes, 1:2 back at 8Mbit",
             r.stderr + c)
        r = d.virsh("domiftune", "ppg", "vpp-a", "--live", "--inbound", "200,,,150")
        c = classes()
        t.ok(r.returncode == 0 and re.search(r"class htb 1:3 parent 1:1 .*rate 1200Kbit", c),
             "domiftune --live adding a floor again plugs a class (1:3 at 1200Kbit)",
             r.stderr + c)

        r = d.virsh("net-create", d.write("plain.xml", PLAIN_NET))
        names.append("ppc")
        r = d.virsh("create", d.write("c.xml", domain_xml("ppc", guest, "", iface(
            MAC_C, "ppplain", "vpp-c"))))
        t.ok(r.returncode == 0, "create a guest on a network without QoS", r.stderr)
        r = d.virsh("domiftune", "ppc", "vpp-c", "--live", "--inbound", "100,,,50")
        t.ok(r.returncode != 0 and "Invalid use of 'floor' on interface with MAC address "
             "%s - network 'ppplain' has no inbound QoS set" % MAC_C in r.stderr and
             "<bandwidth" not in d.virsh("dumpxml", "ppc").stdout,
             "a live floor on a network without inbound QoS is refused, nothing kept", r.stderr)

        raw.s.close()
        conn.close()
        for n in ("ppg", "ppc"):
            d.virsh("destroy", n)
        c = classes()
        t.ok("1:3" not in c and re.search(r"class htb 1:2 parent 1:1 .*rate 8Mbit", c),
             "destroy removes the class a live change plugged", c)
        rc = d.stop()
        t.ok(rc == 0, "vireod ends with status 0", "exit status %r" % rc)
    except Exception as e:  # a set-up step failed: report it as a failure
        t.ok(False, "set-up", repr(e))
    finally:
        if t.failed:
            d.dump_log()
        for n in names:
            d.virsh("destroy", n)
        d.virsh("net-destroy", "ppnet")
        d.virsh("net-destroy", "ppplain")
        d.cleanup(names)
        netns_remove(ns)
    t.done()


if __name__ == "__main__":
    main()
