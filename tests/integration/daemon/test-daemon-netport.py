#!/usr/bin/env python3
"""A network's ports (net-port-list, net-port-dumpxml, net-port-delete) through vireod, with the
stock virsh, compared with the real libvirtd 9.0.

Usage: test-daemon-netport.py VIREOD VMM TEST_GUEST_ELF [VSH]

Everything runs in network namespaces made here, with addresses from 198.18.0.0/15 only:
 - a guest with two type='network' interfaces on a NAT network: its live XML shows each
   <source network='pnet' portid='UUID' bridge='vbr-pnet'/> (libvirt's attribute order), two
   different UUIDs; the persistent definition has none;
 - virsh net-port-list (plain, --uuid, --table) lists exactly those two; net-port-dumpxml
   shows each as libvirtd's <networkport> (uuid, owner name and uuid, mac, plug);
 - vsh's net-port-list and net-port-dumpxml print what virsh prints;
 - an unknown port UUID: virsh's "failed to get network port" as against libvirtd;
 - net-port-create of a port for an external user (its plug on the bridge, vsh deletes it);
   vsh's net-port-create prints what virsh prints (created, the refusals, --validate against
   libvirt's networkport schema, a missing file);
   and libvirtd's refusals (the same UUID again, a plug given, no uuid, no owner name);
 - a port with a portgroup and a QoS floor shows <group> and <bandwidth classID='3'> (not
   compared: libvirtd cannot start that guest on this kernel, without sch_sfq);
 - attach-interface --live adds a port (portid in the live XML), destroy removes both;
 - vireod restarted: the same ports (kept in the network's run directory);
 - net-port-delete of the first: "Network port UUID deleted", only the second is listed, the
   domain keeps running and keeps its portid (as libvirtd);
 - destroy: no port left;
 - the same network and domain on the reference libvirtd (scripts/libvirtd_ref.py): the
   same virsh outputs once the port and domain UUIDs are masked.
"""
import os
import re
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import (LIBVIRTD_REF, NsDaemon, netns_remove, Tap,  # noqa: E402
                       domain_xml, libvirtd_ref_start, skip_all)

here = os.path.dirname(os.path.abspath(__file__))
UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def sh(*args, ns=None):
    cmd = (["ip", "netns", "exec", ns] if ns else []) + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


NET = """<network>
  <name>pnet</name>
  <bridge name='vbr-pnet'/>
  <forward mode='nat'/>
  <ip address='198.18.78.1' netmask='255.255.255.0'/>
</network>
"""

QNET = """<network>
  <name>qnet</name>
  <bridge name='vbr-qnet'/>
  <bandwidth>
    <inbound average='1000'/>
  </bandwidth>
  <portgroup name='fast'/>
  <ip address='198.18.79.1' prefix='24'/>
</network>
"""
QIFACE = """    <interface type='network'>
      <mac address='52:54:00:5e:02:03'/>
      <source network='qnet' portgroup='fast'/>
      <bandwidth>
        <inbound floor='300' average='500'/>
      </bandwidth>
      <model type='virtio'/>
    </interface>
"""
ROOT_PORT = "    <controller type='pci' model='pcie-root-port'/>\n"  # for the attach
QPORT = """<networkport>
  <uuid>%s</uuid>
  <owner>
    <name>qguest</name>
    <uuid>%s</uuid>
  </owner>
  <group>fast</group>
  <mac address='52:54:00:5e:02:03'/>
  <bandwidth classID='3'>
    <inbound average='500' floor='300'/>
  </bandwidth>
  <plug type='network' bridge='vbr-qnet'/>
</networkport>
"""

DOM_UUID = "6b1c3e0e-4a8f-4b52-9d7e-3f2a1c0d9e11"


def iface(mac):
    return ("    <interface type='network'>\n      <mac address='%s'/>\n"
            "      <source network='pnet'/>\n      <model type='virtio'/>\n"
            "    </interface>\n" % mac)


IFACES = iface("52:54:00:5e:02:01") + iface("52:54:00:5e:02:02")


EXT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
PORT = ("<networkport>\n  <uuid>%s</uuid>\n  <owner>\n    <name>ext</name>\n    <uuid>"
        "11111111-2222-3333-4444-555555555555</uuid>\n  </owner>\n"
        "  <mac address='52:54:00:aa:bb:cc'/>\n%s</networkport>\n")
PORTS = (("ok", PORT % (EXT, "")),
         ("again", PORT % (EXT, "")),
         ("plug", PORT % ("aaaaaaaa-bbbb-cccc-dddd-000000000001",
                          "  <plug type='network' bridge='vbr-pnet'/>\n")),
         ("nouuid", PORT.replace("  <uuid>%s</uuid>\n", "") % ""),
         ("noowner", PORT.replace("<name>ext</name>", "") % (
             "aaaaaaaa-bbbb-cccc-dddd-000000000002", "")))


def expected_port(uuid, mac):
    return ("<networkport>\n  <uuid>%s</uuid>\n  <owner>\n    <name>pguest</name>\n"
            "    <uuid>%s</uuid>\n  </owner>\n  <mac address='%s'/>\n"
            "  <plug type='network' bridge='vbr-pnet'/>\n</networkport>\n" % (uuid, DOM_UUID, mac))


def mask(text, ids):
    for i, u in enumerate(ids):
        text = text.replace(u, "PORT%d" % i)
    return text


def portids(live):
    return re.findall(r"<source network='pnet' portid='(%s)' bridge='vbr-pnet'/>" % UUID_RE, live)


def outputs(virsh):
    """What the stock virsh shows of pnet's ports (ports masked in listing order by MAC)."""
    live = virsh("dumpxml", "pguest").stdout
    ids = portids(live)
    out = {"ids": len(set(ids))}
    for args in (("net-port-list", "pnet"), ("net-port-list", "pnet", "--uuid"),
                 ("net-port-list", "pnet", "--table")):
        r = virsh(*args)
        out[" ".join(args)] = (r.returncode, "\n".join(sorted(mask(r.stdout, ids).splitlines())))
    for i, u in enumerate(ids):
        r = virsh("net-port-dumpxml", "pnet", u)
        out["dumpxml%d" % i] = (r.returncode, mask(r.stdout, ids))
    r = virsh("net-port-dumpxml", "pnet", "00000000-0000-0000-0000-0000000000aa")
    out["unknown"] = (r.returncode, r.stderr.strip().splitlines()[:1])
    # net-port-create: a port for an external user, its plug allocated on the bridge
    for name, xml in PORTS:
        path = os.path.join(tempfile.gettempdir(), "netport-%d-%s.xml" % (os.getpid(), name))
        with open(path, "w") as f:
            f.write(xml)
        r = virsh("net-port-create", "pnet", path)
        os.unlink(path)
        out["create " + name] = (r.returncode, r.stdout, r.stderr.replace(path, "FILE"))
    r = virsh("net-port-dumpxml", "pnet", EXT)
    out["created"] = (r.returncode, r.stdout)
    r = virsh("net-port-delete", "pnet", EXT)
    out["delete created"] = (r.returncode, r.stdout)
    if ids:
        r = virsh("net-port-delete", "pnet", ids[0])
        out["delete"] = (r.returncode, mask(r.stdout, ids))
        r = virsh("net-port-list", "pnet", "--uuid")
        out["after"] = (r.returncode, mask(r.stdout, ids))
        out["kept"] = portids(virsh("dumpxml", "pguest").stdout) == ids
    return out


def compare_libvirtd(t, d, ns_l, guest, vireo):
    ref_dir = os.path.join(d.tmp, "libvirtd")
    virsh = libvirtd_ref_start(t, ref_dir, ns_l)
    if not virsh:
        return
    try:
        r = virsh("net-create", d.write("ref-net.xml", NET))
        dom = domain_xml("pguest", os.path.abspath(guest), "", IFACES).replace(
            "<name>pguest</name>", "<name>pguest</name>\n  <uuid>%s</uuid>" % DOM_UUID)
        r2 = virsh("create", "--paused", d.write("ref-dom.xml", dom))
        t.ok(r.returncode == 0 and r2.returncode == 0, "libvirtd runs the same guest on pnet",
             r.stderr + r2.stderr)
        ref = outputs(virsh)
        for k in sorted(vireo):
            t.ok(ref.get(k) == vireo[k], "stock virsh: %s as against libvirtd" % k,
                 "libvirtd: %r\nvireod:   %r" % (ref.get(k), vireo[k]))
        virsh("destroy", "pguest")
        virsh("net-destroy", "pnet")
    finally:
        sh(sys.executable, LIBVIRTD_REF, "stop", "--dir", ref_dir, ns=ns_l)


def main():
    vireod, vmm, guest = sys.argv[1:4]
    vsh = sys.argv[4] if len(sys.argv) > 4 else None
    if os.geteuid() != 0:
        skip_all("needs root for network namespaces")
    t = Tap()
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    ns = "vireo-port-%d" % os.getpid()
    ns_l = "vireo-port-l-%d" % os.getpid()
    d = NsDaemon(ns, vireod, vmm, vsh)
    try:
        for n in (ns, ns_l):
            sh("ip", "netns", "add", n)
            sh("ip", "link", "set", "lo", "up", ns=n)
        d.start()
        r = d.virsh("net-create", d.write("net.xml", NET))
        t.ok(r.returncode == 0, "net-create a NAT network", r.stdout + r.stderr)
        dom = domain_xml("pguest", guest, "", IFACES).replace(
            "<name>pguest</name>", "<name>pguest</name>\n  <uuid>%s</uuid>" % DOM_UUID)
        r = d.virsh("define", d.write("dom.xml", dom))
        r2 = d.virsh("start", "pguest")
        t.ok(r.returncode == 0 and r2.returncode == 0, "define and start a guest with two "
             "interfaces on pnet", r.stderr + r2.stderr + d.vmm_log("pguest"))
        live = d.virsh("dumpxml", "pguest").stdout
        ids = portids(live)
        t.ok(len(ids) == 2 and ids[0] != ids[1],
             "the live XML: <source network='pnet' portid='UUID' bridge='vbr-pnet'/>, two ports",
             live)
        cfg = d.virsh("dumpxml", "--inactive", "pguest").stdout
        t.ok("portid" not in cfg, "the persistent definition has no portid", cfg)
        r = d.virsh("net-port-list", "pnet", "--uuid")
        t.ok(r.returncode == 0 and sorted(r.stdout.split()) == sorted(ids),
             "net-port-list --uuid lists exactly the two ports", r.stdout + r.stderr)
        macs = ("52:54:00:5e:02:01", "52:54:00:5e:02:02")
        for u, mac in zip(ids, macs):
            r = d.virsh("net-port-dumpxml", "pnet", u)
            t.ok(r.returncode == 0 and r.stdout.rstrip("\n") + "\n" == expected_port(u, mac),
                 "net-port-dumpxml %s: libvirtd's <networkport>" % mac, r.stdout + r.stderr)
        if d.vsh_path:
            for args in (("net-port-list", "pnet"), ("net-port-list", "pnet", "--uuid"),
                         ("net-port-list", "pnet", "--table"),
                         ("net-port-dumpxml", "pnet", ids[0] if ids else "x")):
                a, b = d.virsh(*args), d.vsh(*args)
                t.ok(a.returncode == b.returncode == 0 and a.stdout == b.stdout,
                     "vsh %s prints what virsh prints" % " ".join(args),
                     "virsh: %r\nvsh:   %r %s" % (a.stdout, b.stdout, b.stderr))
            r = d.vsh("net-port-dumpxml", "pnet", "00000000-0000-0000-0000-0000000000aa")
            t.ok(r.returncode != 0 and "network port not found: Network port with UUID "
                 "00000000-0000-0000-0000-0000000000aa does not exist" in r.stderr,
                 "vsh: an unknown port, libvirt's error", r.stderr)
        r = d.virsh("net-port-create", "pnet", d.write("port.xml", PORTS[0][1]))
        r2 = d.virsh("net-port-dumpxml", "pnet", EXT)
        t.ok(r.returncode == 0 and r2.stdout.rstrip("\n") + "\n" == PORT % (
             EXT, "  <plug type='network' bridge='vbr-pnet'/>\n") and
             sorted(d.virsh("net-port-list", "pnet", "--uuid").stdout.split()) == sorted(
                 ids + [EXT]),
             "net-port-create: a third port, its plug on the network's bridge",
             r.stdout + r.stderr + r2.stdout + r2.stderr)
        if d.vsh_path:
            r = d.vsh("net-port-delete", "pnet", EXT)
            t.ok(r.returncode == 0 and "Network port %s deleted" % EXT in r.stdout and
                 sorted(d.virsh("net-port-list", "pnet", "--uuid").stdout.split()) == sorted(ids),
                 "vsh net-port-delete removes it", r.stdout + r.stderr)
            # vsh net-port-create: what the stock virsh prints, on success and on each refusal
            bad = PORT.replace("  <mac", "  <bogus/>\n  <mac") % (
                "aaaaaaaa-bbbb-cccc-dddd-000000000003", "")
            cases = [("ok", [PORTS[0][1]]), ("again", [PORTS[0][1]])] + [
                (n, [x]) for n, x in PORTS[2:]] + [
                ("validate", ["--validate", bad]), ("missing", [os.path.join(d.tmp, "nope.xml")])]
            for name, args in cases:
                path = args[-1]
                if name != "missing":
                    path = d.write("vport-%s.xml" % name, args[-1])
                full = ["net-port-create", "pnet", path] + args[:-1]
                a = d.virsh(*full)
                if name == "ok" and a.returncode == 0:
                    d.virsh("net-port-delete", "pnet", EXT)
                b = d.vsh(*full)
                t.ok(a.returncode == b.returncode and a.stdout == b.stdout and
                     a.stderr == b.stderr and (a.returncode == 0) == (name == "ok"),
                     "vsh net-port-create (%s) prints what virsh prints" % name,
                     "virsh: %r %r\nvsh:   %r %r" % (a.stdout, a.stderr, b.stdout, b.stderr))
            r = d.vsh("net-port-create", "pnet", d.write("vport-novalidate.xml", bad))
            t.ok(r.returncode == 0 and "aaaaaaaa-bbbb-cccc-dddd-000000000003" in
                 d.virsh("net-port-list", "pnet", "--uuid").stdout,
                 "without --validate the same XML is taken (the unknown element ignored, as "
                 "libvirtd)", r.stdout + r.stderr)
            d.virsh("net-port-delete", "pnet", "aaaaaaaa-bbbb-cccc-dddd-000000000003")
            d.virsh("net-port-delete", "pnet", EXT)
        else:
            d.virsh("net-port-delete", "pnet", EXT)

        # a port's group, bandwidth and floor class (libvirtd here cannot start such a guest:
        # this kernel has no sch_sfq, which libvirtd's tc set-up needs)
        r = d.virsh("net-create", d.write("qnet.xml", QNET))
        r2 = d.virsh("create", d.write("q.xml", domain_xml("qguest", guest, "", QIFACE + ROOT_PORT)))
        qlive = d.virsh("dumpxml", "qguest").stdout
        qid = re.findall(r"<source network='qnet' portgroup='fast' portid='(%s)' "
                         r"bridge='vbr-qnet'/>" % UUID_RE, qlive)
        qdump = d.virsh("net-port-dumpxml", "qnet", qid[0] if qid else "x").stdout
        quuid = d.virsh("domuuid", "qguest").stdout.strip()
        t.ok(r.returncode == 0 and r2.returncode == 0 and qdump.rstrip("\n") + "\n" == QPORT % (
             qid[0] if qid else "", quuid),
             "a port with a portgroup and a floor: <group>, <bandwidth classID='3'>",
             r.stderr + r2.stderr + qlive + qdump)
        r = d.virsh("attach-interface", "qguest", "network", "qnet", "--mac", "52:54:00:5e:02:04",
                    "--model", "virtio", "--live")
        qlive = d.virsh("dumpxml", "qguest").stdout
        qids = re.findall(r"<source network='qnet' (?:portgroup='fast' )?portid='(%s)' "
                          r"bridge='vbr-qnet'/>" % UUID_RE, qlive)
        r2 = d.virsh("net-port-list", "qnet", "--uuid")
        t.ok(r.returncode == 0 and len(set(qids)) == 2 and
             sorted(r2.stdout.split()) == sorted(qids),
             "attach-interface --live: a second port, its portid in the live XML",
             r.stderr + qlive + r2.stdout + r2.stderr)
        r = d.virsh("destroy", "qguest")
        r2 = d.virsh("net-port-list", "qnet", "--uuid")
        t.ok(r.returncode == 0 and r2.returncode == 0 and r2.stdout.split() == [],
             "destroy: both ports of qnet gone (the attached one too)", r.stderr + r2.stdout)
        d.virsh("net-destroy", "qnet")

        rc = d.stop()
        t.ok(rc == 0, "vireod ends with status 0", "exit status %r" % rc)
        d.start()
        r = d.virsh("net-port-list", "pnet", "--uuid")
        t.ok(r.returncode == 0 and sorted(r.stdout.split()) == sorted(ids),
             "after a vireod restart, the same two ports", r.stdout + r.stderr)

        vireo = outputs(d.virsh)
        after = vireo.get("after", (1, ""))[1].split()
        t.ok(vireo.get("delete", (1,))[0] == 0 and after == ["PORT1"] and vireo.get("kept") and
             "running" in d.state("pguest"),
             "net-port-delete: the port goes, the guest runs on and keeps its portid",
             repr(vireo))
        r = d.virsh("destroy", "pguest")
        r2 = d.virsh("net-port-list", "pnet", "--uuid")
        t.ok(r.returncode == 0 and r2.returncode == 0 and r2.stdout.split() == [],
             "destroy: no port left", r.stderr + r2.stdout + r2.stderr)
        compare_libvirtd(t, d, ns_l, guest, vireo)
        d.virsh("net-destroy", "pnet")
        rc = d.stop()
        t.ok(rc == 0, "vireod ends with status 0 after the ports", "exit status %r" % rc)
    except Exception as e:  # a set-up step failed: report it as a failure
        t.ok(False, "set-up", repr(e))
    finally:
        if t.failed:
            d.dump_log()
        d.virsh("destroy", "pguest")
        d.virsh("undefine", "pguest")
        d.virsh("net-destroy", "pnet")
        d.virsh("destroy", "qguest")
        d.virsh("net-destroy", "qnet")
        d.cleanup(["pguest", "qguest"])
        netns_remove(ns, ns_l)
    t.done()


if __name__ == "__main__":
    main()
