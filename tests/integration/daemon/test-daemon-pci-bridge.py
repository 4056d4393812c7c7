#!/usr/bin/env python3
"""test-daemon-pci-bridge.py - vireod starts a q35 domain with an e1000
(conventional PCI) where libvirt puts it: behind a pcie-to-pci-bridge on a
pcie-root-port, and the guest uses it there.

  test-daemon-pci-bridge.py VIREOD VIREO_VMM TESTGUEST_ELF GOLDEN_DIR

Checks, each one TAP line:
- define and start succeed (before vireo-vmm had the bridge, start was refused);
- the live XML's PCI controllers and the interface (model name, target,
  address) are those the real libvirtd 9.0 printed for the same definition
  (GOLDEN_DIR/q35e1000.libvirtd.xml, made with scripts/libvirtd_ref.py);
- vireo-vmm got -device pcie-pci-bridge,id=pci.2,bus=pci.1 and the e1000 on
  bus=pci.2,addr=0x1;
- the test guest (tests=pci,net pci_walk=1) finds the e1000 behind the two
  bridges and exchanges frames through it (ARP, DHCP, a ping over slirp);
- the same on pc with a declared <controller type='pci' model='pci-bridge'/>
  and the e1000 at bus 1 slot 1 (GOLDEN_DIR/pcbridge.libvirtd.xml).
Waits poll with generous limits; nothing asserts a timing. Prints TAP.
"""
import os
import re
import shutil
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import Daemon, Tap, skip_all, wait_for  # noqa: E402

VIREOD, VMM, GUEST, GOLDEN = sys.argv[1:5]
GUEST = os.path.abspath(GUEST)
t = Tap()
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("no /dev/kvm")
if not shutil.which("virsh"):
    skip_all("no virsh")


def pci_layout(text):
    """The PCI controllers and interfaces of a domain XML, as comparable tuples."""
    root = ET.fromstring(text)
    out = []
    for dev in root.iterfind("devices/*"):
        if dev.tag == "controller" and dev.get("type") != "pci":
            continue
        if dev.tag not in ("controller", "interface"):
            continue
        kids = tuple((k.tag, tuple(sorted(k.attrib.items())))
                     for k in dev if k.tag in ("model", "target", "address"))
        out.append((dev.tag, tuple(sorted(dev.attrib.items())), kids))
    return sorted(out)


name = "q35e1000"
d = Daemon(VIREOD, VMM)
try:
    d.start()
    xml = f"""<domain type='kvm'>
  <name>{name}</name>
  <uuid>0b1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f</uuid>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>{GUEST}</kernel>
    <cmdline>tests=pci,net pci=1 pci_walk=1 net_dhcp=1 net_mac=52:54:00:35:00:02</cmdline>
  </os>
  <devices>
    <interface type='user'>
      <mac address='52:54:00:35:00:02'/>
      <model type='e1000'/>
    </interface>
  </devices>
</domain>
"""
    r = d.virsh("define", d.write(name + ".xml", xml))
    t.ok(r.returncode == 0, "virsh define a q35 domain with an e1000", r.stderr)
    r = d.virsh("start", name)
    t.ok(r.returncode == 0, "virsh start it", r.stderr)
    live = d.virsh("dumpxml", name)
    ref = open(os.path.join(GOLDEN, "q35e1000.libvirtd.xml")).read()
    mine = pci_layout(live.stdout) if live.returncode == 0 else []
    t.ok(mine == pci_layout(ref),
         "the live XML's PCI controllers and the e1000's address are libvirtd 9.0's",
         "vireod:\n%s\nlibvirtd:\n%s" % ("\n".join(map(str, mine)),
                                        "\n".join(map(str, pci_layout(ref)))))
    argv = d.vmm_log(name, lines=1000)
    t.ok("pcie-pci-bridge,id=pci.2,bus=pci.1,addr=0x0" in argv and
         re.search(r"e1000,netdev=hostnet0,id=net0,mac=52:54:00:35:00:02,bus=pci.2,addr=0x1",
                   argv) is not None,
         "vireo-vmm got the bridge on the root port and the e1000 on the bridge's bus", argv)
    done = re.compile(r"^(1\.\.\d+|Bail out!)", re.M)
    wait_for(lambda: done.search(d.console_log(name)), 300, 0.5)
    console = d.console_log(name)
    t.ok(re.search(r"# pci: 02:01\.0 8086:100e class 020000 .* -> 00:01 pin B", console)
         is not None, "the guest finds the e1000 at 02:01.0, behind both bridges", console[-2000:])
    t.ok(re.search(r"ok \d+ - net: e1000 \(8086:100e\) found on bus 2", console) is not None,
         "the guest's net test drives the e1000 on bus 2", console[-2000:])
    t.ok(re.search(r"ok \d+ - ping: echo reply from 10\.0\.2\.2", console) is not None and
         "not ok" not in console,
         "frames go both ways through it (ARP, DHCP lease, ping), no guest test fails",
         console[-2000:])
    d.virsh("destroy", name)

    # pc: a declared pci-bridge (libvirt gives it 00:02.0 and chassisNr 1) with the e1000
    # at slot 1 of its bus.
    name = "pcbridge"
    xml = f"""<domain type='kvm'>
  <name>{name}</name>
  <uuid>0b1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e51</uuid>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{GUEST}</kernel>
    <cmdline>tests=pci,net pci=1 pci_walk=1 net_dhcp=1 net_mac=52:54:00:35:00:03</cmdline>
  </os>
  <devices>
    <controller type='pci' index='1' model='pci-bridge'/>
    <interface type='user'>
      <mac address='52:54:00:35:00:03'/>
      <model type='e1000'/>
      <address type='pci' domain='0x0000' bus='0x01' slot='0x01' function='0x0'/>
    </interface>
  </devices>
</domain>
"""
    r = d.virsh("define", d.write(name + ".xml", xml))
    r2 = d.virsh("start", name) if r.returncode == 0 else r
    t.ok(r2.returncode == 0, "pc: virsh define and start a domain with a pci-bridge",
         r.stderr + r2.stderr)
    live = d.virsh("dumpxml", name)
    ref = open(os.path.join(GOLDEN, "pcbridge.libvirtd.xml")).read()
    mine = pci_layout(live.stdout) if live.returncode == 0 else []
    t.ok(mine == pci_layout(ref), "pc: the live XML's pci-bridge and e1000 are libvirtd 9.0's",
         "vireod:\n%s\nlibvirtd:\n%s" % ("\n".join(map(str, mine)),
                                          "\n".join(map(str, pci_layout(ref)))))
    argv = d.vmm_log(name, lines=1000)
    t.ok("pci-bridge,chassis_nr=1,id=pci.1,bus=pci.0,addr=0x2" in argv,
         "pc: vireo-vmm got -device pci-bridge,chassis_nr=1,id=pci.1", argv)
    wait_for(lambda: done.search(d.console_log(name)), 300, 0.5)
    console = d.console_log(name)
    t.ok(re.search(r"# pci: 01:01\.0 8086:100e class 020000 .* -> 00:02 pin B", console)
         is not None and re.search(r"ok \d+ - ping: echo reply from 10\.0\.2\.2", console)
         is not None and "not ok" not in console,
         "pc: the guest finds the e1000 at 01:01.0 and exchanges frames through it",
         console[-2000:])
    d.virsh("destroy", name)
except Exception as e:  # noqa: BLE001 - report, then clean up
    t.ok(False, "no exception", repr(e))
finally:
    d.cleanup(["q35e1000", "pcbridge"])
t.done()
