#!/usr/bin/python3
"""The host CPU in `capabilities` through vireod against the real libvirtd's (issue #16).

Usage: test-daemon-cpu.py VIREOD VIREO_VMM

Starts vireod and a private libvirtd (scripts/libvirtd_ref.py) and reads
`virsh capabilities` from both: vireod's <host><cpu> must have libvirtd's
arch, vendor, microcode, signature, topology and maxphysaddr, and a model
and features that describe the same CPU as libvirtd's (below). Prints TAP.
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


CPU_MAP = "/usr/share/libvirt/cpu_map"


def cpu_model_features(text):
    cpu = ET.fromstring(text).find("host/cpu")
    m = cpu.find("model")
    return (m.text if m is not None else None), [f.get("name") for f in cpu.findall("feature")]


def map_features(model):
    """libvirt's CPU map's features of a model, its ancestors' included."""
    path = os.path.join(CPU_MAP, f"x86_{model}.xml")
    if not model or not os.path.exists(path):
        return set()
    m = ET.parse(path).getroot().find("model")
    out = {f.get("name") for f in m.findall("feature")}
    parent = m.find("model")
    return out | (map_features(parent.get("name")) if parent is not None else set())


def msr_features():
    root = ET.parse(os.path.join(CPU_MAP, "x86_features.xml")).getroot()
    return {f.get("name") for f in root.iter("feature") if f.find("msr") is not None}


def CPU_MODELS():
    return {os.path.basename(p)[4:-4] for p in os.listdir(CPU_MAP) if p.startswith("x86_")}


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
    # The model and the features beyond it: vireod decodes with vireo-vmm's (QEMU 7.2's)
    # models, libvirtd with its CPU map, whose models differ (its Skylake-Client has mpx,
    # QEMU's has not), so the names may differ; the CPU they describe must not. Every feature
    # vireod lists is one the host has by libvirtd's account (listed, or in libvirtd's model),
    # and what libvirtd lists beyond is an MSR bit, osxsave (a bit the OS sets, which
    # vireo-vmm's CPU model has no name for), or part of vireod's model by libvirt's own map.
    mv, fv = cpu_model_features(got)
    ml, fl = cpu_model_features(want)
    t.ok(mv is not None and mv in CPU_MODELS(), f"capabilities names a host CPU model "
         f"libvirt knows: {mv} (libvirtd: {ml})")
    host_l = set(fl) | map_features(ml)
    t.ok(fv and not set(fv) - host_l, f"each of the {len(fv)} features vireod lists the host has "
         "by libvirtd's account", f"not: {set(fv) - host_l}")
    beyond = set(fl) - set(fv) - msr_features() - {"osxsave"} - map_features(mv)
    t.ok(not beyond, "what libvirtd lists beyond vireod is MSR bits, osxsave or in vireod's model",
         f"else: {beyond}")

    # The rest of <host> that describes the machine, element for element as libvirtd's: the
    # TSC counter, the page sizes, the NUMA cells (pages, distances, each CPU's die), the
    # cache banks, power management and IOMMU.
    def text_of(xml, path):
        node = ET.fromstring(xml).find(path)
        if node is None:
            return None
        node.tail = None
        # a huge page count may move between the two reads (other tests reserve pages)
        for p in node.iter("pages"):
            if p.get("size") != "4":
                p.text = "N"
        return [ET.tostring(node).decode()]

    def all_of(xml, path):
        return [ET.tostring(n).decode().strip() for n in ET.fromstring(xml).findall(path)]

    for path in ("host/cpu/counter", "host/topology", "host/cache", "host/power_management",
                 "host/iommu"):
        t.ok(text_of(got, path) is not None and text_of(got, path) == text_of(want, path),
             f"capabilities <{path}> as libvirtd's", (text_of(got, path), text_of(want, path)))
    t.ok(all_of(got, "host/cpu/pages") and all_of(got, "host/cpu/pages") ==
         all_of(want, "host/cpu/pages"), "capabilities <host><cpu><pages> as libvirtd's",
         (all_of(got, "host/cpu/pages"), all_of(want, "host/cpu/pages")))
    # migration: live, and the transports vireod's VMM has (libvirtd adds rdma)
    tv = [n.text for n in ET.fromstring(got).findall("host/migration_features/uri_transports/*")]
    tl = [n.text for n in ET.fromstring(want).findall("host/migration_features/uri_transports/*")]
    t.ok(ET.fromstring(got).find("host/migration_features/live") is not None and tv == ["tcp"] and
         set(tv) <= set(tl), "migration_features: live, over tcp (libvirtd's list has it)",
         (tv, tl))
    # the host UUID: the SMBIOS one, or the machine id where there is none (libvirtd then
    # makes up a random one at each start)
    uv = ET.fromstring(got).findtext("host/uuid")
    try:
        smbios = open("/sys/class/dmi/id/product_uuid").read().strip().lower()
    except OSError:
        smbios = None
    mid = open("/etc/machine-id").read().strip()
    t.ok(uv == (smbios or "%s-%s-%s-%s-%s" % (mid[:8], mid[8:12], mid[12:16], mid[16:20],
                                               mid[20:])),
         f"capabilities <host><uuid> is the machine's: {uv}")
finally:
    d.stop()
t.done()
