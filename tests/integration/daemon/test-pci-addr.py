#!/usr/bin/env python3
"""test-pci-addr.py - the PCI addresses `virsh dumpxml` shows for a running
domain are where the guest finds its devices.

A domain with two virtio disks, a user-mode NIC, three rngs and the balloon,
some with addresses written by the user (one slot with two functions) and
some left to vireod, runs the
test guest's `pci` test, which prints every function of bus 0 with its
vendor:device id. Each device of the live XML must be at its slot with the
virtio id of its kind, and the guest must see nothing else but the host
bridge.

  test-pci-addr.py VIREOD VIREO_VMM TESTGUEST_ELF

Prints TAP. Waits poll with generous limits; nothing asserts a timing.
"""
import os
import re
import shutil
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import Daemon, Tap, skip_all, wait_for  # noqa: E402

VIREOD, VMM, GUEST = sys.argv[1:4]
GUEST = os.path.abspath(GUEST)
t = Tap()
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("no /dev/kvm")
if not shutil.which("virsh"):
    skip_all("no virsh")

# virtio 1.x PCI device ids (0x1040 + virtio device id), vendor 1af4.
VIRTIO_ID = {"interface": "1af4:1041", "disk": "1af4:1042", "rng": "1af4:1044",
             "memballoon": "1af4:1045"}

d = Daemon(VIREOD, VMM)
name = "pciaddr"
try:
    d.start()
    disks = []
    for i in range(2):
        path = os.path.join(d.tmp, "disk%d.img" % i)
        with open(path, "wb") as f:
            f.truncate(1 << 20)
        disks.append(path)
    xml = f"""<domain type='kvm'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64'>hvm</type>
    <kernel>{GUEST}</kernel>
    <cmdline>tests=pci pci=1</cmdline>
  </os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{disks[0]}'/>
      <target dev='vda' bus='virtio'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x09' function='0x0'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{disks[1]}'/>
      <target dev='vdb' bus='virtio'/>
    </disk>
    <interface type='user'>
      <mac address='52:54:00:12:34:58'/>
      <model type='virtio'/>
    </interface>
    <memballoon model='virtio'>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x04' function='0x1'/>
    </memballoon>
    <rng model='virtio'>
      <backend model='random'>/dev/urandom</backend>
    </rng>
    <rng model='virtio'>
      <backend model='random'>/dev/urandom</backend>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x04' function='0x0' multifunction='on'/>
    </rng>
    <rng model='virtio'>
      <backend model='random'>/dev/urandom</backend>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x1f' function='0x0'/>
    </rng>
  </devices>
</domain>
"""
    r = d.virsh("define", d.write(name + ".xml", xml))
    t.ok(r.returncode == 0, "virsh define a domain with PCI devices, some with addresses", r.stderr)
    r = d.virsh("start", name)
    t.ok(r.returncode == 0, "virsh start it", r.stderr)
    live = d.virsh("dumpxml", name)
    t.ok(live.returncode == 0, "virsh dumpxml of the running domain", live.stderr)

    # (slot, function) -> "vendor:device" from the live XML.
    want = {}
    root = ET.fromstring(live.stdout) if live.returncode == 0 else ET.Element("domain")
    for dev in root.iterfind("devices/*"):
        if dev.tag not in VIRTIO_ID:
            continue
        a = dev.find("address")
        if a is None or a.get("type") != "pci":
            t.ok(False, f"<{dev.tag}> has a PCI address in the live XML")
            continue
        t.ok(int(a.get("bus"), 16) == 0, f"<{dev.tag}> is on bus 0",
             ET.tostring(a, encoding="unicode"))
        want[(int(a.get("slot"), 16), int(a.get("function"), 16))] = VIRTIO_ID[dev.tag]
    t.ok(len(want) == 7, "seven PCI devices with distinct addresses in the live XML", str(want))
    t.ok(want.get((9, 0)) == VIRTIO_ID["disk"] and want.get((4, 1)) == VIRTIO_ID["memballoon"] and
         want.get((4, 0)) == VIRTIO_ID["rng"] and want.get((0x1f, 0)) == VIRTIO_ID["rng"],
         "the user's addresses are kept", str(want))

    # (slot, function) -> "vendor:device" as the guest enumerates bus 0.
    done = re.compile(r"pci: \d+ functions on bus 0")
    wait_for(lambda: done.search(d.console_log(name)), 120, 0.2)
    console = d.console_log(name)
    seen = {}
    for m in re.finditer(r"pci: 00:([0-9a-f]{2})\.(\d) ([0-9a-f]{4}:[0-9a-f]{4}) class", console):
        seen[(int(m.group(1), 16), int(m.group(2)))] = m.group(3)
    t.ok(done.search(console) is not None, "the guest enumerated bus 0", console[-600:])
    host_bridge = seen.pop((0, 0), None)
    t.ok(host_bridge is not None, "the guest sees the host bridge at 00:00.0", str(host_bridge))
    t.ok(seen == want, "the guest finds every device where dumpxml says, and nothing else",
         f"guest {sorted(seen.items())}\nxml   {sorted(want.items())}")
    d.virsh("destroy", name)
except Exception as e:  # noqa: BLE001 - report, then clean up
    t.ok(False, "no exception", repr(e))
finally:
    d.cleanup([name])
t.done()
