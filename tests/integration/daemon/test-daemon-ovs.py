#!/usr/bin/env python3
"""Open vSwitch ports through vireod (<virtualport type='openvswitch'>).

Usage: test-daemon-ovs.py VIREOD VMM TEST_GUEST_ELF

Everything runs in a network namespace made here, with addresses from
198.18.0.0/15 only. The test runs Debian's Open vSwitch itself, never the
system service: an ovsdb-server and an ovs-vswitchd with their database,
sockets, pid files and logs in a temporary directory (OVS_RUNDIR, OVS_DBDIR,
... point there, for vireod's ovs-vsctl too), and the bridge ovsbr0 with
the userspace datapath (datapath_type=netdev: no kernel module). The
bridge's internal port holds 198.18.10.1/24. Checks:
 - a defined domain's <virtualport type='openvswitch'/> gets a generated
   interfaceid, kept in the definition (dumpxml, schema-valid);
 - started, its tap is a port of ovsbr0 (and no kernel bridge's) with
   libvirt's external-ids: attached-mac (the guest's MAC), iface-id (the
   interfaceid), vm-id (the domain's UUID), iface-status=active;
 - the test guest's ARP request for 198.18.10.1 crosses the OVS bridge and
   the host kernel's reply comes back;
 - destroy deletes the port;
 - profileid gives external-ids:port-profile; <vlan><tag id='42'/> an
   access port (tag=42); trunk='yes' with a nativeMode='untagged' tag gives
   trunks= and vlan_mode=native-untagged with tag=;
 - a VMM killed while vireod is down: the restarted vireod finds the domain
   crashed and deletes its port; a running VM keeps its port across a
   vireod restart; a VMM killed under a running vireod loses it;
 - <bandwidth> on a port: inbound as a linux-htb QoS row with queue 0, both
   with other_config min-rate/max-rate/burst in bits, outbound as the
   Interface's ingress_policing_rate/_burst (libvirt's records and units), the
   rows marked external-ids vm-id/ifname; the real libvirtd 9.0
   (scripts/libvirtd_ref.py, given this OVS at /run/openvswitch in its mount
   namespace) makes the same columns for the same XML; domiftune --live
   replaces them, destroy removes them; a floor on such a port is refused with
   libvirtd's words;
 - refusals: a virtualport type other than openvswitch, a <vlan> on a plain
   bridge interface, a malformed interfaceid, an out-of-range tag; and a
   start whose add-port fails (no such OVS bridge) leaves no port and no VM.
"""
import os
import re
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
LIBVIRTD_REF = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                            "scripts", "libvirtd_ref.py")
from daemonlib import NsDaemon, netns_remove, Tap, domain_xml, skip_all, wait_for  # noqa: E402


def sh(*args, ns=None, env=None):
    cmd = (["ip", "netns", "exec", ns] if ns else []) + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)


class Ovs:
    """ovsdb-server and ovs-vswitchd of the test's own, in namespace ns."""

    def __init__(self, ns):
        self.ns = ns
        self.dir = tempfile.mkdtemp(prefix="vireo-ovs-")
        self.env = dict(os.environ, OVS_RUNDIR=self.dir, OVS_DBDIR=self.dir,
                        OVS_LOGDIR=self.dir, OVS_SYSCONFDIR=self.dir)
        self.pids = []

    def p(self, name):
        return os.path.join(self.dir, name)

    def run(self, *args):
        r = sh(*args, ns=self.ns, env=self.env)
        if r.returncode:
            raise RuntimeError("%s: %s" % (" ".join(args), r.stderr.strip()))
        return r

    def start(self):
        self.run("ovsdb-tool", "create", self.p("conf.db"),
                 "/usr/share/openvswitch/vswitch.ovsschema")
        self.run("ovsdb-server", self.p("conf.db"), "--remote=punix:" + self.p("db.sock"),
                 "--pidfile=" + self.p("ovsdb-server.pid"),
                 "--unixctl=" + self.p("ovsdb-server.ctl"), "--detach",
                 "--log-file=" + self.p("ovsdb-server.log"))
        self.pids.append(int(open(self.p("ovsdb-server.pid")).read()))
        self.run("ovs-vsctl", "--no-wait", "init")
        self.run("ovs-vswitchd", "unix:" + self.p("db.sock"),
                 "--pidfile=" + self.p("ovs-vswitchd.pid"),
                 "--unixctl=" + self.p("ovs-vswitchd.ctl"), "--detach",
                 "--log-file=" + self.p("ovs-vswitchd.log"))
        self.pids.append(int(open(self.p("ovs-vswitchd.pid")).read()))

    def vsctl(self, *args):
        return sh("ovs-vsctl", "--timeout=10", *args, ns=self.ns, env=self.env)

    def ports(self, bridge="ovsbr0"):
        return self.vsctl("list-ports", bridge).stdout.split()

    def ids(self, iface):
        """The Interface's external_ids as a dict (values unquoted)."""
        out = self.vsctl("get", "Interface", iface, "external_ids").stdout.strip()
        return {k: v.strip('"') for k, v in re.findall(r'([\w-]+)=("[^"]*"|[^,}]*)', out)}

    def port_col(self, port, col):
        return self.vsctl("get", "Port", port, col).stdout.strip()

    def record(self, table, uuid):
        """One row as a dict of column: value (as ovs-vsctl list prints it), {} if none."""
        if not re.match(r"^[0-9a-f-]{36}$", uuid):
            return {}
        out = self.vsctl("list", table, uuid).stdout
        return {k.strip(): v.strip() for k, v in re.findall(r"^(\w+)\s*:\s*(.*)$", out, re.M)}

    @staticmethod
    def kv(col):
        """An ovsdb map column ({a="b", c=d}) as a dict with the values unquoted."""
        return {k: v.strip('"') for k, v in re.findall(r'([\w-]+)=("[^"]*"|[^,}]*)', col)}

    def owned(self, table, vm_uuid):
        """The UUIDs of table's rows whose external-ids:vm-id is vm_uuid (any, when "")."""
        cond = ["external-ids:vm-id=\"%s\"" % vm_uuid] if vm_uuid else []
        out = self.vsctl("--bare", "--columns=_uuid", "find", table, *cond).stdout
        return out.split()

    def stop(self):
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        for pid in self.pids:
            wait_for(lambda: not os.path.exists("/proc/%d" % pid), 10)
        subprocess.run(["rm", "-rf", self.dir])


def qos_view(ovs, tap, vm_uuid):
    """What a port's bandwidth is in ovsdb, with the VM's UUID replaced by "VM"."""
    qos = ovs.record("QoS", ovs.port_col(tap, "qos"))
    queue = ovs.record("Queue", re.sub(r"^\{0=(.*)\}$", r"\1", qos.get("queues", "")))

    def ids(col):
        return {k: ("VM" if v == vm_uuid else v) for k, v in ovs.kv(col).items()}
    col = lambda c: ovs.vsctl("get", "Interface", tap, c).stdout.strip()  # noqa: E731
    return {"qos type": qos.get("type"), "qos other_config": ovs.kv(qos.get("other_config", "")),
            "qos external_ids": ids(qos.get("external_ids", "")),
            "queue other_config": ovs.kv(queue.get("other_config", "")),
            "queue external_ids": ids(queue.get("external_ids", "")),
            "port external_ids": ids(ovs.port_col(tap, "external_ids")),
            "ingress_policing_rate": col("ingress_policing_rate"),
            "ingress_policing_burst": col("ingress_policing_burst")}


def compare_libvirtd(t, d, ovs, vireo_view):
    """The same <interface> on the real libvirtd 9.0, against the same private OVS: libvirtd
    runs ovs-vsctl with a cleared environment, so its mount namespace gets the test's OVS
    directory at /run/openvswitch (libvirtd_ref's extra places; a symbolic link to it is
    bind-mounted)."""
    ref_dir = os.path.join(d.tmp, "libvirtd")
    os.makedirs(ref_dir)
    os.symlink(ovs.dir, os.path.join(ref_dir, "ovs"))
    start = ("import sys; sys.path.insert(0, %r); from libvirtd_ref import LibvirtdRef; "
             "print(LibvirtdRef(workdir=%r, extra_places=(('ovs', '/run/openvswitch'),))"
             ".start())" % (os.path.dirname(LIBVIRTD_REF), ref_dir))
    r = sh(sys.executable, "-c", start, ns=ovs.ns)
    if not t.ok(r.returncode == 0, "the reference libvirtd starts, with the test's OVS",
                r.stdout + r.stderr):
        return
    uri = r.stdout.strip().splitlines()[-1]
    env = dict(os.environ, LC_ALL="C")

    def virsh(*args):
        return subprocess.run(["virsh", "-q", "-c", uri] + list(args), env=env,
                              capture_output=True, text=True, timeout=120)
    uuid = None
    try:
        dom = ("<domain type='kvm'><name>bwref</name><memory unit='MiB'>64</memory><os><type "
               "arch='x86_64' machine='pc'>hvm</type></os><devices>\n%s</devices></domain>\n"
               % iface_xml("52:54:00:5e:00:74", inner=OVS_PORT + BW_OVS +
                           "      <target dev='vovs-bw'/>\n"))
        r = virsh("create", d.write("ref-bw.xml", dom))
        uuid = virsh("domuuid", "bwref").stdout.strip()
        view = qos_view(ovs, "vovs-bw", uuid)
        t.ok(r.returncode == 0 and view == vireo_view,
             "libvirtd makes the same QoS, Queue, Port and Interface columns for that XML",
             r.stderr + "\nlibvirtd: %r\nvireod:   %r" % (view, vireo_view))
        virsh("destroy", "bwref")
    finally:
        sh(sys.executable, LIBVIRTD_REF, "stop", "--dir", ref_dir)
        for table in ("QoS", "Queue"):  # whatever libvirtd left of its VM's
            for row in ovs.owned(table, uuid) if uuid else []:
                ovs.vsctl("destroy", table, row)


def iface_xml(mac, bridge="ovsbr0", inner=""):
    return ("    <interface type='bridge'>\n      <mac address='%s'/>\n"
            "      <source bridge='%s'/>\n%s      <model type='virtio'/>\n"
            "    </interface>\n" % (mac, bridge, inner))


OVS_PORT = "      <virtualport type='openvswitch'/>\n"
BW_OVS = """      <bandwidth>
        <inbound average='1000' peak='1000' burst='256'/>
        <outbound average='500' burst='128'/>
      </bandwidth>
"""

PG_NET = """<network>
  <name>pgnet</name>
  <bridge name='vbr-pg'/>
  <ip address='198.18.11.1' prefix='24'/>
  <portgroup name='slow' default='yes'>
    <bandwidth>
      <inbound average='1000'/>
    </bandwidth>
  </portgroup>
  <portgroup name='fast'>
    <bandwidth>
      <inbound average='2000'/>
    </bandwidth>
  </portgroup>
</network>
"""

OVS_NET = """<network>
  <name>ovsnet</name>
  <forward mode='bridge'/>
  <bridge name='ovsbr0'/>
  <virtualport type='openvswitch'/>
  <portgroup name='plain' default='yes'/>
  <portgroup name='vlan77'>
    <vlan>
      <tag id='77'/>
    </vlan>
    <virtualport type='openvswitch'>
      <parameters profileid='silver'/>
    </virtualport>
  </portgroup>
</network>
"""


def main():
    vireod, vmm, guest = sys.argv[1:4]
    if os.geteuid() != 0:
        skip_all("needs root for network namespaces")
    t = Tap()
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    ns = "vireo-ovs-%d" % os.getpid()
    d = NsDaemon(ns, vireod, vmm)
    ovs = Ovs(ns)
    d.env.update(OVS_RUNDIR=ovs.dir, OVS_DBDIR=ovs.dir, OVS_LOGDIR=ovs.dir,
                 OVS_SYSCONFDIR=ovs.dir)
    names = []
    try:
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "set", "lo", "up", ns=ns)
        ovs.start()
        r = ovs.vsctl("add-br", "ovsbr0", "--", "set", "bridge", "ovsbr0",
                      "datapath_type=netdev")
        t.ok(r.returncode == 0, "ovsbr0 with the userspace datapath", r.stderr)
        sh("ip", "addr", "add", "198.18.10.1/24", "dev", "ovsbr0", ns=ns)
        sh("ip", "link", "set", "ovsbr0", "up", ns=ns)
        d.start()

        # ---- a defined domain: the interfaceid is generated and kept ----
        xml = domain_xml("ovsguest", guest, "tests=net net_mac=52:54:00:5e:00:40 "
                         "net_ip=198.18.10.15 net_peer=198.18.10.1",
                         iface_xml("52:54:00:5e:00:40", inner=OVS_PORT))
        names.append("ovsguest")
        r = d.virsh("define", d.write("ovsguest.xml", xml))
        t.ok(r.returncode == 0, "define a domain with <virtualport type='openvswitch'/>",
             r.stdout + r.stderr)
        cfg = d.virsh("dumpxml", "ovsguest").stdout
        m = re.search(r"<virtualport type='openvswitch'>\s*<parameters interfaceid='"
                      r"([0-9a-f-]{36})'/>\s*</virtualport>", cfg)
        ifid = m.group(1) if m else "?"
        t.ok(m, "the definition gains a generated interfaceid (%s)" % ifid, cfg)
        # the <interface> as written, in a minimal domain, against libvirt's domain schema
        m = re.search(r"\n( *<interface .*?</interface>\n)", cfg, re.S)
        wrapped = ("<domain type='kvm'><name>v</name><memory>65536</memory><os><type>hvm</type>"
                   "</os><devices>\n%s</devices></domain>\n" % (m.group(1) if m else ""))
        r = subprocess.run(["virt-xml-validate", d.write("cfg.xml", wrapped), "domain"],
                           capture_output=True, text=True)
        t.ok(m and r.returncode == 0, "its <interface> validates against libvirt's domain schema",
             wrapped + r.stdout + r.stderr)
        cfg2 = d.virsh("dumpxml", "ovsguest").stdout
        t.ok(ifid in cfg2, "the interfaceid stays the same", cfg2)
        uuid = d.virsh("domuuid", "ovsguest").stdout.strip()

        r = d.virsh("start", "ovsguest")
        t.ok(r.returncode == 0, "start it", r.stdout + r.stderr + d.vmm_log("ovsguest"))
        live = d.virsh("dumpxml", "ovsguest").stdout
        m = re.search(r"<target dev='(vnet\d+)'/>", live)
        tap = m.group(1) if m else "vnet0"
        t.ok(m and ifid in live, "the live XML names the tap (%s) and keeps the interfaceid" %
             tap, live)
        t.ok(tap in ovs.ports(), "the tap is a port of ovsbr0",
             ovs.vsctl("show").stdout)
        r = sh("ip", "-o", "link", "show", "dev", tap, ns=ns)
        t.ok(r.returncode == 0 and "master" not in r.stdout and ",UP" in r.stdout,
             "the tap is up and on no kernel bridge", r.stdout + r.stderr)
        ids = ovs.ids(tap)
        t.ok(ids.get("attached-mac") == "52:54:00:5e:00:40" and ids.get("iface-id") == ifid and
             ids.get("vm-id") == uuid and ids.get("iface-status") == "active" and
             "port-profile" not in ids,
             "external-ids: attached-mac, iface-id, vm-id, iface-status=active", repr(ids))
        t.ok(ovs.port_col(tap, "tag") == "[]" and ovs.port_col(tap, "trunks") == "[]",
             "no <vlan>: no tag, no trunks")
        wait_for(lambda: re.search(r"^1\.\.\d+", d.console_log("ovsguest"), re.M), 180, 0.2)
        log = d.console_log("ovsguest")
        t.ok(re.search(r"^ok \d+ - net: ARP reply from 198\.18\.10\.1 received", log, re.M) and
             "not ok" not in log,
             "the guest's ARP request for 198.18.10.1 is answered through the OVS bridge",
             log[-2000:])
        r = d.virsh("destroy", "ovsguest")
        t.ok(r.returncode == 0 and tap not in ovs.ports() and
             ovs.vsctl("find", "Interface", "external_ids:vm-id=" + uuid).stdout.strip() == "",
             "destroy: the port is gone from ovsbr0", r.stderr + ovs.vsctl("show").stdout)

        # ---- profileid and VLANs ----
        vlan_ifaces = (
            iface_xml("52:54:00:5e:00:41", inner="""      <virtualport type='openvswitch'>
        <parameters interfaceid='0f9a4e22-3c34-4b4c-9d8a-6e2b2a7f1c01' profileid='gold'/>
      </virtualport>
      <vlan>
        <tag id='42'/>
      </vlan>
      <target dev='vovs-access'/>
""") + iface_xml("52:54:00:5e:00:42", inner="""      <virtualport type='openvswitch'/>
      <vlan trunk='yes'>
        <tag id='10' nativeMode='untagged'/>
        <tag id='20'/>
      </vlan>
      <target dev='vovs-trunk'/>
"""))
        names.append("vlanguest")
        r = d.virsh("create", d.write("vlan.xml", domain_xml("vlanguest", guest, "",
                                                             vlan_ifaces)))
        t.ok(r.returncode == 0, "create a guest with two OVS ports and <vlan>",
             r.stdout + r.stderr + d.vmm_log("vlanguest"))
        ids = ovs.ids("vovs-access")
        t.ok(ids.get("iface-id") == "0f9a4e22-3c34-4b4c-9d8a-6e2b2a7f1c01" and
             ids.get("port-profile") == "gold" and ids.get("attached-mac") == "52:54:00:5e:00:41",
             "the given interfaceid, and profileid as external-ids:port-profile", repr(ids))
        t.ok(ovs.port_col("vovs-access", "tag") == "42" and
             ovs.port_col("vovs-access", "trunks") == "[]",
             "<vlan><tag id='42'/>: an access port, tag=42",
             ovs.vsctl("list", "Port", "vovs-access").stdout)
        t.ok(ovs.port_col("vovs-trunk", "trunks") == "[10, 20]" and
             ovs.port_col("vovs-trunk", "tag") == "10" and
             ovs.port_col("vovs-trunk", "vlan_mode") == "native-untagged",
             "<vlan trunk='yes'>: trunks=[10, 20], vlan_mode=native-untagged, tag=10",
             ovs.vsctl("list", "Port", "vovs-trunk").stdout)
        live = d.virsh("dumpxml", "vlanguest").stdout
        t.ok(len(re.findall(r"<parameters interfaceid='[0-9a-f-]{36}'", live)) == 2 and
             live.count("<virtualport type='openvswitch'>") == 2,
             "the live XML shows both virtualports with their interfaceids", live)

        # ---- a VMM killed while vireod is down: recovery deletes the port ----
        d.stop()
        pid = d.vmm_pid("vlanguest")
        if pid:
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda: not os.path.exists("/proc/%d" % pid), 10)
        t.ok("vovs-access" in ovs.ports(), "the killed VM's ports are still in the database")
        d.start()
        t.ok(wait_for(lambda: "vovs-access" not in ovs.ports() and
                      "vovs-trunk" not in ovs.ports(), 20),
             "the restarted vireod finds the VM gone and deletes its ports",
             ovs.vsctl("show").stdout)
        # ... and a VMM killed under a running vireod
        r = d.virsh("start", "ovsguest")
        live = d.virsh("dumpxml", "ovsguest").stdout
        m = re.search(r"<target dev='(vnet\d+)'/>", live)
        tap = m.group(1) if m else "vnet0"
        t.ok(r.returncode == 0 and tap in ovs.ports(), "ovsguest started again on %s" % tap,
             r.stderr)
        # a vireod restart under a running VM leaves its port be
        d.stop()
        d.start()
        t.ok(d.state("ovsguest").startswith("running") and tap in ovs.ports() and
             ovs.ids(tap).get("vm-id") == uuid,
             "after a vireod restart the running VM keeps its port", d.state("ovsguest"))
        pid = d.vmm_pid("ovsguest")
        if pid:
            os.kill(pid, signal.SIGKILL)
        t.ok(wait_for(lambda: tap not in ovs.ports(), 20) and
             "crashed" in d.virsh("domstate", "--reason", "ovsguest").stdout,
             "a crashed VMM: its port is deleted", ovs.vsctl("show").stdout)

        # ---- an Open vSwitch network with port groups ----
        path = d.write("ovsnet.xml", OVS_NET)
        r = d.virsh("net-define", path)
        t.ok(r.returncode == 0 and d.virsh("net-start", "ovsnet").returncode == 0,
             "net-define and net-start an OVS network (forward mode bridge, portgroups)",
             r.stdout + r.stderr)
        dump = d.virsh("net-dumpxml", "ovsnet").stdout
        r = subprocess.run(["virt-xml-validate", d.write("netdump.xml", dump), "network"],
                           capture_output=True, text=True)
        t.ok(r.returncode == 0 and "<portgroup name='vlan77'>" in dump and
             "<virtualport type='openvswitch'/>" in dump,
             "net-dumpxml keeps virtualport and portgroups, valid for libvirt's network schema",
             dump + r.stdout + r.stderr)
        net_ifaces = """    <interface type='network'>
      <mac address='52:54:00:5e:00:60'/>
      <source network='ovsnet'/>
      <target dev='vovs-net'/>
      <model type='virtio'/>
    </interface>
    <interface type='network'>
      <mac address='52:54:00:5e:00:61'/>
      <source network='ovsnet' portgroup='vlan77'/>
      <target dev='vovs-pg'/>
      <model type='virtio'/>
    </interface>
"""
        names.append("netovs")
        r = d.virsh("create", d.write("netovs.xml", domain_xml(
            "netovs", guest, "tests=net net_mac=52:54:00:5e:00:60 net_ip=198.18.10.16 "
            "net_peer=198.18.10.1", net_ifaces)))
        t.ok(r.returncode == 0, "create a guest on the OVS network (default and named portgroup)",
             r.stdout + r.stderr + d.vmm_log("netovs"))
        uuid2 = d.virsh("domuuid", "netovs").stdout.strip()
        live = d.virsh("dumpxml", "netovs").stdout
        ids1, ids2 = ovs.ids("vovs-net"), ovs.ids("vovs-pg")
        ifids = re.findall(r"<parameters interfaceid='([0-9a-f-]{36})'", live)
        t.ok("vovs-net" in ovs.ports() and "vovs-pg" in ovs.ports() and len(ifids) == 2 and
             ids1.get("iface-id") == ifids[0] and ids1.get("vm-id") == uuid2 and
             ids2.get("iface-id") == ifids[1] and ids1.get("attached-mac") == "52:54:00:5e:00:60",
             "both taps are ports of ovsbr0 with the interfaceids the live XML shows",
             repr((ids1, ids2)) + live)
        t.ok(ids2.get("port-profile") == "silver" and ovs.port_col("vovs-pg", "tag") == "77",
             "portgroup vlan77: tag=77 and its profileid as port-profile",
             repr(ids2) + ovs.vsctl("list", "Port", "vovs-pg").stdout)
        t.ok(ovs.port_col("vovs-net", "tag") == "[]" and "port-profile" not in ids1,
             "the default portgroup: no tag, no profile", repr(ids1))
        wait_for(lambda: re.search(r"^1\.\.\d+", d.console_log("netovs"), re.M), 180, 0.2)
        log = d.console_log("netovs")
        t.ok(re.search(r"^ok \d+ - net: ARP reply from 198\.18\.10\.1 received", log, re.M) and
             "not ok" not in log,
             "the guest on the OVS network reaches 198.18.10.1 through ovsbr0", log[-2000:])
        r = d.virsh("destroy", "netovs")
        t.ok(r.returncode == 0 and "vovs-net" not in ovs.ports() and "vovs-pg" not in ovs.ports(),
             "destroy: both ports are gone", ovs.vsctl("show").stdout)
        r = d.virsh("create", d.write("nopg.xml", domain_xml("nopg", guest, "", """    <interface type='network'>
      <source network='ovsnet' portgroup='nosuch'/>
    </interface>
""")))
        t.ok(r.returncode != 0 and "No network portgroup named 'nosuch' in network 'ovsnet'"
             in r.stderr, "an unknown portgroup is refused", r.stderr)
        d.virsh("net-destroy", "ovsnet")
        d.virsh("net-undefine", "ovsnet")
        bad = OVS_NET.replace("<forward mode='bridge'/>", "").replace("ovsbr0", "vbr-x")
        r = d.virsh("net-create", d.write("badnet.xml", bad))
        t.ok(r.returncode != 0 and "only type 'openvswitch' with forward mode 'bridge'"
             in r.stderr, "a virtualport on a network of vireod's own bridge is refused",
             r.stderr)

        # ---- a portgroup's bandwidth on a network of vireod's own bridge ----
        r = d.virsh("net-create", d.write("pgnet.xml", PG_NET))
        t.ok(r.returncode == 0, "net-create an isolated network with a default portgroup",
             r.stdout + r.stderr)
        names.append("pgguest")
        r = d.virsh("create", d.write("pgguest.xml", domain_xml("pgguest", guest, "", """    <interface type='network'>
      <mac address='52:54:00:5e:00:70'/>
      <source network='pgnet'/>
      <target dev='vpg-dflt'/>
    </interface>
    <interface type='network'>
      <mac address='52:54:00:5e:00:71'/>
      <source network='pgnet' portgroup='fast'/>
      <target dev='vpg-fast'/>
    </interface>
""")))
        a = sh("tc", "class", "show", "dev", "vpg-dflt", ns=ns)
        b = sh("tc", "class", "show", "dev", "vpg-fast", ns=ns)
        t.ok(r.returncode == 0 and re.search(r"htb 1:1 root .*rate 8Mbit", a.stdout) and
             re.search(r"htb 1:1 root .*rate 16Mbit", b.stdout),
             "each tap has its portgroup's <bandwidth>: 8Mbit (default), 16Mbit (fast)",
             r.stderr + a.stdout + a.stderr + b.stdout + b.stderr)
        live = d.virsh("dumpxml", "pgguest").stdout
        t.ok("<inbound average='1000'/>" in live and "<inbound average='2000'/>" in live,
             "the live XML shows the bandwidth each interface got", live)
        d.virsh("destroy", "pgguest")
        d.virsh("net-destroy", "pgnet")

        # ---- <bandwidth> on an Open vSwitch port: OVS QoS rows, as libvirt makes them ----
        names.append("bwovs")
        r = d.virsh("create", d.write("bwovs.xml", domain_xml("bwovs", guest, "", iface_xml(
            "52:54:00:5e:00:72", inner=OVS_PORT + BW_OVS + "      <target dev='vovs-bw'/>\n"))))
        t.ok(r.returncode == 0, "create a guest whose OVS port has inbound and outbound <bandwidth>",
             r.stdout + r.stderr + d.vmm_log("bwovs"))
        uuid3 = d.virsh("domuuid", "bwovs").stdout.strip()
        qos_id = ovs.port_col("vovs-bw", "qos")
        qos = ovs.record("QoS", qos_id)
        queue_id = re.sub(r"^\{0=(.*)\}$", r"\1", qos.get("queues", ""))
        queue = ovs.record("Queue", queue_id)
        # average 1000 KB/s and peak 1000 KB/s: 8000000 bit/s; burst 256 KiB: 2097152 bits
        want_oc = {"min-rate": "8000000", "max-rate": "8000000", "burst": "2097152"}
        want_ids = {"vm-id": uuid3, "ifname": "vovs-bw"}
        t.ok(qos.get("type") == "linux-htb" and ovs.kv(qos["other_config"]) == want_oc and
             ovs.kv(qos["external_ids"]) == want_ids,
             "inbound: the port's QoS is linux-htb, min-rate=max-rate=8000000 burst=2097152, "
             "external-ids vm-id and ifname", repr(qos) + ovs.vsctl("list", "QoS").stdout)
        t.ok(queue and ovs.kv(queue["other_config"]) == want_oc and
             ovs.kv(queue["external_ids"]) == want_ids,
             "inbound: its queue 0 has the same rates and external-ids",
             repr(queue) + ovs.vsctl("list", "Queue").stdout)
        t.ok(ovs.kv(ovs.port_col("vovs-bw", "external_ids")) == want_ids,
             "the Port carries external-ids vm-id and ifname",
             ovs.vsctl("list", "Port", "vovs-bw").stdout)
        # outbound average 500 KB/s: 4000 kbit/s; burst 128 KiB: 1024 kbit
        t.ok(ovs.vsctl("get", "Interface", "vovs-bw", "ingress_policing_rate").stdout.strip() ==
             "4000" and ovs.vsctl("get", "Interface", "vovs-bw",
                                  "ingress_policing_burst").stdout.strip() == "1024",
             "outbound: ingress_policing_rate=4000, ingress_policing_burst=1024",
             ovs.vsctl("list", "Interface", "vovs-bw").stdout)
        vireo_view = qos_view(ovs, "vovs-bw", uuid3)
        # what ovs-vswitchd made of it on the tap: its htb class for queue 0 and the policer
        tcq = sh("tc", "qdisc", "show", "dev", "vovs-bw", ns=ns).stdout
        tcc = sh("tc", "class", "show", "dev", "vovs-bw", ns=ns).stdout
        t.ok(wait_for(lambda: re.search(r"htb 1:1 .*rate 8Mbit ceil 8Mbit", sh(
            "tc", "class", "show", "dev", "vovs-bw", ns=ns).stdout), 20) and
             "qdisc ingress" in sh("tc", "qdisc", "show", "dev", "vovs-bw", ns=ns).stdout,
             "ovs-vswitchd applied them to the tap (htb class rate 8Mbit, ingress policer)",
             tcq + tcc)
        # domiftune --live changes them in place of the old rows
        r = d.virsh("domiftune", "bwovs", "vovs-bw", "--live", "--inbound", "2000,2000,512",
                    "--outbound", "1000")
        qos = ovs.record("QoS", ovs.port_col("vovs-bw", "qos"))
        t.ok(r.returncode == 0 and ovs.kv(qos.get("other_config", "{}")) ==
             {"min-rate": "16000000", "max-rate": "16000000", "burst": "4194304"} and
             len(ovs.owned("QoS", uuid3)) == 1 and len(ovs.owned("Queue", uuid3)) == 1 and
             ovs.vsctl("get", "Interface", "vovs-bw", "ingress_policing_rate").stdout.strip() ==
             "8000" and ovs.vsctl("get", "Interface", "vovs-bw",
                                  "ingress_policing_burst").stdout.strip() == "0",
             "domiftune --live: new rates, one QoS and one Queue row, outbound without burst",
             r.stdout + r.stderr + repr(qos) + ovs.vsctl("list", "Interface", "vovs-bw").stdout)
        out = d.virsh("domiftune", "bwovs", "vovs-bw").stdout
        t.ok(re.search(r"inbound\.average\s*:\s*2000", out) and
             re.search(r"outbound\.average\s*:\s*1000", out),
             "domiftune shows the new values", out)
        r = d.virsh("domiftune", "bwovs", "vovs-bw", "--live", "--inbound", "0")
        t.ok(r.returncode == 0 and ovs.port_col("vovs-bw", "qos") == "[]" and
             not ovs.owned("QoS", uuid3) and not ovs.owned("Queue", uuid3),
             "domiftune --inbound 0: the port's QoS and Queue rows are destroyed",
             r.stderr + ovs.vsctl("list", "QoS").stdout)
        d.virsh("domiftune", "bwovs", "vovs-bw", "--live", "--inbound", "1000")
        t.ok(len(ovs.owned("QoS", uuid3)) == 1, "inbound given again: a QoS row again")
        r = d.virsh("destroy", "bwovs")
        t.ok(r.returncode == 0 and "vovs-bw" not in ovs.ports() and
             not ovs.owned("QoS", uuid3) and not ovs.owned("Queue", uuid3),
             "destroy: the port and its QoS and Queue rows are gone",
             r.stderr + ovs.vsctl("list", "QoS").stdout + ovs.vsctl("list", "Queue").stdout)
        compare_libvirtd(t, d, ovs, vireo_view)
        r = d.virsh("create", d.write("floorovs.xml", domain_xml("floorovs", guest, "", iface_xml(
            "52:54:00:5e:00:73", inner=OVS_PORT + "      <bandwidth>\n        <inbound "
            "average='1000' floor='500'/>\n      </bandwidth>\n"))))
        t.ok(r.returncode != 0 and "unsupported configuration: floor attribute is not "
             "supported for this config" in r.stderr and not ovs.owned("QoS", ""),
             "a floor on an OVS port is refused with libvirtd's words", r.stderr)

        # ---- refusals ----
        def refused(name, ifaces, what, cmd="create"):
            r = d.virsh(cmd, d.write(name + ".xml", domain_xml(name, guest, "", ifaces)))
            t.ok(r.returncode != 0 and what in r.stderr and
                 d.virsh("domstate", name).returncode != 0,
                 "refused: %s" % what, r.stdout + r.stderr)
            return r
        refused("qbh", iface_xml("52:54:00:5e:00:50", inner="""      <virtualport type='802.1Qbh'>
        <parameters profileid='p'/>
      </virtualport>
"""), "only type 'openvswitch'")
        refused("plainvlan", iface_xml("52:54:00:5e:00:51", inner="""      <vlan>
        <tag id='7'/>
      </vlan>
"""), "is requesting a vlan tag, but that is not supported")
        refused("badid", iface_xml("52:54:00:5e:00:52", inner="""      <virtualport type='openvswitch'>
        <parameters interfaceid='not-a-uuid'/>
      </virtualport>
"""), "unable to parse interfaceid parameter 'not-a-uuid'", cmd="define")
        refused("badtag", iface_xml("52:54:00:5e:00:53", inner=OVS_PORT + """      <vlan>
        <tag id='5000'/>
      </vlan>
"""), "VLAN tag")
        # ovs-vsctl refuses the port (no OVS bridge of that name): nothing is left behind
        sh("ip", "link", "add", "kbr0", "type", "bridge", ns=ns)
        r = refused("nobr", iface_xml("52:54:00:5e:00:54", bridge="kbr0",
                                      inner=OVS_PORT + "      <target dev='vovs-fail'/>\n"),
                    "Unable to add port vovs-fail to OVS bridge kbr0")
        t.ok("vovs-fail" not in ovs.vsctl("show").stdout and
             sh("ip", "link", "show", "dev", "vovs-fail", ns=ns).returncode != 0,
             "the failed start left no port and no tap", ovs.vsctl("show").stdout)
        rc = d.stop()
        t.ok(rc == 0, "vireod ends with status 0 (a sanitizer build's leak or error would not)",
             "exit status %r" % rc)
    except Exception as e:  # a set-up step failed: report it as a failure
        t.ok(False, "set-up", repr(e))
    finally:
        if t.failed:
            d.dump_log()
            try:
                print("# " + open(ovs.p("ovs-vswitchd.log")).read()[-2000:].replace("\n", "\n# "))
            except OSError:
                pass
        for n in names:
            d.virsh("destroy", n)
        d.cleanup(names)
        ovs.stop()
        netns_remove(ns)
    t.done()


if __name__ == "__main__":
    main()
