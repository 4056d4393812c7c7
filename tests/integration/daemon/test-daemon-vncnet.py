#!/usr/bin/env python3
"""VNC graphics listening on a virtual network's address (<listen type='network'>).

Usage: test-daemon-vncnet.py VIREOD VMM TEST_GUEST_ELF

Everything runs in a network namespace made here, with addresses from
198.18.0.0/15 only:
 - a NAT network vncnet (198.18.24.1/24) and a guest whose <graphics
   type='vnc' autoport='yes'> has <listen type='network' network='vncnet'/>:
   it starts; its live XML shows the address as libvirtd fills it in
   (<graphics ... listen='198.18.24.1'> and <listen type='network'
   address='198.18.24.1' network='vncnet'/>), the inactive XML does not;
   virsh vncdisplay says 198.18.24.1:N;
 - an RFB client in the namespace connecting to that address and port gets
   the server's "RFB 003.008" greeting; 127.0.0.1 on the same port is refused
   (the server is bound to the network's address only);
 - libvirt's refusals: a network that is defined but not running, one that
   does not exist, one without an address; nothing is left running;
 - the same on the reference libvirtd 9.0 (scripts/libvirtd_ref.py, its own
   namespace): the same <graphics> lines in the live XML, the same
   vncdisplay, the same errors for a network without an address and an
   unknown one. (For a defined but inactive network libvirtd 9.0 passes the
   network's address to QEMU, whose bind then fails with "Cannot assign
   requested address"; vireod says the network is not active instead.)
"""
import os
import re
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import (LIBVIRTD_REF, RFB_PROBE, NsDaemon, netns_remove,  # noqa: E402
                       Tap, domain_xml, libvirtd_ref_start, sh,
                       skip_all, wait_for)


NET = """<network>
  <name>vncnet</name>
  <bridge name='vbr-vnc'/>
  <forward mode='nat'/>
  <ip address='198.18.24.1' prefix='24'/>
</network>
"""
DOWN_NET = """<network>
  <name>vncdown</name>
  <bridge name='vbr-vncd'/>
  <ip address='198.18.25.1' prefix='24'/>
</network>
"""
NOADDR_NET = """<network>
  <name>vncnoaddr</name>
  <bridge name='vbr-vncn'/>
</network>
"""

GRAPHICS = """    <graphics type='vnc' port='-1' autoport='yes'>
      <listen type='network' network='%s'/>
    </graphics>
    <video>
      <model type='vga' vram='16384' heads='1'/>
    </video>
"""

def graphics_lines(xml):
    m = re.search(r"(<graphics type='vnc'.*?</graphics>)", xml, re.S)
    return [x.strip() for x in m.group(1).splitlines()] if m else []


def outcomes(virsh, write, guest):
    """What a daemon shows and says: vncnet's guest's <graphics> and vncdisplay, the refusals."""
    out = {}
    virsh("net-define", write("down.xml", DOWN_NET))
    virsh("net-create", write("noaddr.xml", NOADDR_NET))
    virsh("net-create", write("net.xml", NET))
    r = virsh("create", "--paused", write("cmp.xml", domain_xml("vnccmp", guest, "",
                                                                 GRAPHICS % "vncnet")))
    out["create"] = r.returncode
    out["graphics"] = graphics_lines(virsh("dumpxml", "vnccmp").stdout)
    out["vncdisplay"] = virsh("vncdisplay", "vnccmp").stdout.strip()
    virsh("destroy", "vnccmp")
    for net in ("vncnoaddr", "vncnone"):
        r = virsh("create", write("bad.xml", domain_xml("vncbad", guest, "", GRAPHICS % net)))
        out[net] = (r.returncode, r.stderr.strip().splitlines()[-1:])
    for net in ("vncnet", "vncnoaddr", "vncdown"):
        virsh("net-destroy", net)
    virsh("net-undefine", "vncdown")
    return out


def main():
    vireod, vmm, guest = sys.argv[1:4]
    if os.geteuid() != 0:
        skip_all("needs root for network namespaces")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        skip_all("no /dev/kvm")
    t = Tap()
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    ns = "vireo-vncnet-%d" % os.getpid()
    ns_l = "vireo-vncnet-l-%d" % os.getpid()
    d = NsDaemon(ns, vireod, vmm)
    names = ["vncg", "vncbad", "vnccmp"]

    def probe(addr, port):
        return sh(sys.executable, d.write("probe.py", RFB_PROBE), addr, str(port),
                  ns=ns).stdout.strip()

    try:
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "set", "lo", "up", ns=ns)
        d.start()
        r = d.virsh("net-create", d.write("net.xml", NET))
        t.ok(r.returncode == 0, "net-create a NAT network on 198.18.24.1/24", r.stdout + r.stderr)
        r = d.virsh("define", d.write("g.xml", domain_xml("vncg", guest, "", GRAPHICS % "vncnet")))
        r2 = d.virsh("start", "vncg")
        t.ok(r.returncode == 0 and r2.returncode == 0,
             "a guest with a VNC listen on network vncnet starts",
             r.stderr + r2.stderr + d.vmm_log("vncg"))
        live = d.virsh("dumpxml", "vncg").stdout
        m = re.search(r"<graphics type='vnc' port='(\d+)' autoport='yes' listen='198\.18\.24\.1'>"
                      r"\s*<listen type='network' address='198\.18\.24\.1' network='vncnet'/>",
                      live)
        t.ok(m, "the live XML: listen='198.18.24.1' and the listen's address, as libvirtd's",
             live)
        port = int(m.group(1)) if m else 5900
        cfg = d.virsh("dumpxml", "--inactive", "vncg").stdout
        t.ok("198.18.24.1" not in cfg and "<listen type='network' network='vncnet'/>" in cfg,
             "the inactive XML keeps the listen as given", cfg)
        r = d.virsh("vncdisplay", "vncg")
        t.ok(r.returncode == 0 and r.stdout.strip() == "198.18.24.1:%d" % (port - 5900),
             "virsh vncdisplay: 198.18.24.1:%d" % (port - 5900), r.stdout + r.stderr)
        got = []
        wait_for(lambda: got.append(probe("198.18.24.1", port)) or got[-1].startswith("RFB"), 30)
        t.ok(got and got[-1] == "RFB 003.008",
             "an RFB client connecting to 198.18.24.1:%d gets the server's greeting" % port,
             repr(got[-3:]))
        lo = probe("127.0.0.1", port)
        t.ok(lo.startswith("error"), "127.0.0.1:%d is refused: the server is on the network's "
             "address only" % port, lo)
        d.virsh("destroy", "vncg")

        # ---- libvirt's refusals ----
        d.virsh("net-define", d.write("down.xml", DOWN_NET))
        d.virsh("net-create", d.write("noaddr.xml", NOADDR_NET))
        for net, words in (
                ("vncdown", "Requested operation is not valid: network 'vncdown' is not active"),
                ("vncnone", "Network not found: no network with matching name 'vncnone'"),
                ("vncnoaddr", "internal error: network 'vncnoaddr' doesn't have an IP address")):
            r = d.virsh("create", d.write("bad.xml", domain_xml(
                "vncbad", guest, "", GRAPHICS % net)))
            t.ok(r.returncode != 0 and words in r.stderr and
                 d.virsh("domstate", "vncbad").returncode != 0,
                 "a VNC listen on network %s is refused (%s), nothing runs" % (
                     net, "not active" if net == "vncdown" else "libvirt's words"),
                 r.stderr)
        for n in ("vncnet", "vncdown", "vncnoaddr"):
            d.virsh("net-destroy", n)
        d.virsh("net-undefine", "vncdown")
        vireo = outcomes(d.virsh, d.write, guest)
        ref_dir = os.path.join(d.tmp, "libvirtd")
        sh("ip", "netns", "add", ns_l)
        sh("ip", "link", "set", "lo", "up", ns=ns_l)
        virsh = libvirtd_ref_start(t, ref_dir, ns_l)
        if virsh:
            try:
                ref = outcomes(virsh, d.write, os.path.abspath(guest))
            finally:
                sh(sys.executable, LIBVIRTD_REF, "stop", "--dir", ref_dir, ns=ns_l)
            for k in sorted(vireo):
                t.ok(ref.get(k) == vireo[k], "%s as libvirtd's" % k,
                     "libvirtd: %r\nvireod:   %r" % (ref.get(k), vireo[k]))
        rc = d.stop()
        t.ok(rc == 0, "vireod ends with status 0", "exit status %r" % rc)
    except Exception as e:  # a set-up step failed: report it as a failure
        t.ok(False, "set-up", repr(e))
    finally:
        if t.failed:
            d.dump_log()
        for n in names:
            d.virsh("destroy", n)
        d.virsh("undefine", "vncg")
        for n in ("vncnet", "vncdown", "vncnoaddr"):
            d.virsh("net-destroy", n)
        d.virsh("net-undefine", "vncdown")
        d.cleanup(names)
        netns_remove(ns, ns_l)
    t.done()


if __name__ == "__main__":
    main()
