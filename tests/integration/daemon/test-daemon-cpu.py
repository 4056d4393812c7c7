#!/usr/bin/python3
"""The host CPU in `capabilities` through vireod against the real libvirtd's (issue #16).

Usage: test-daemon-cpu.py VIREOD VIREO_VMM

Starts vireod and a private libvirtd (scripts/libvirtd_ref.py) and reads
`virsh capabilities` from both: vireod's <host><cpu> must have libvirtd's
arch, vendor, microcode, signature, topology and maxphysaddr. (libvirtd also
names the closest model of its CPU map and the features beyond it; vireod
does not compute those yet.) Prints TAP.
"""
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.join(here, "..", "..", "..", "scripts"))
from daemonlib import Daemon, Tap, skip_all  # noqa: E402
import libvirtd_ref  # noqa: E402

VIREOD, VMM = sys.argv[1:3]
t = Tap()
if not shutil.which("virsh"):
    skip_all("no virsh")


def host_cpu(text):
    cpu = ET.fromstring(text).find("host/cpu")
    out = {}
    for tag in ("arch", "vendor"):
        e = cpu.find(tag)
        out[tag] = e.text if e is not None else None
    for tag in ("microcode", "signature", "topology", "maxphysaddr"):
        e = cpu.find(tag)
        out[tag] = dict(e.attrib) if e is not None else None
    return out


with libvirtd_ref.LibvirtdRef() as ref:
    want = subprocess.run(["virsh", "-c", ref.uri, "capabilities"], capture_output=True,
                          text=True, timeout=60).stdout
d = Daemon(VIREOD, VMM)
d.start()
try:
    got = d.virsh("capabilities").stdout
    hv, hl = host_cpu(got), host_cpu(want)
    for key in ("arch", "vendor", "microcode", "signature", "topology", "maxphysaddr"):
        t.ok(hv[key] is not None and hv[key] == hl[key],
             f"capabilities <host><cpu><{key}> as libvirtd's: {hv[key]}", f"libvirtd: {hl[key]}")
finally:
    d.stop()
t.done()
