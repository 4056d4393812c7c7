#!/usr/bin/python3
"""<driver detect_zeroes> through vireod, checked in the VMM and on the disk.

Usage: test-daemon-detect-zeroes.py VIREOD VIREO_VMM TEST_GUEST_ELF VSH

A domain with three raw disks whose first 2 MiB hold data: vda detect_zeroes='unmap' with
discard='unmap', vdb 'unmap' without discard (libvirt 9.0 passes on), vdc 'off'. It starts,
vireo-vmm's query-block (qemu-monitor-command) reports unmap, on and off, and the test guest
(blk-bench seqwrite) writes 3 MiB of zeroes at the start of vda: the file then has no data
left there (a hole, as QEMU leaves it), which it would without detect-zeroes. dumpxml keeps
the attribute.
"""
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import Daemon, Tap, domain_xml, skip_all  # noqa: E402

VIREOD, VMM, GUEST, VSH = sys.argv[1:5]
GUEST = os.path.abspath(GUEST)
t = Tap()
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("no /dev/kvm")
if not shutil.which("virsh"):
    skip_all("no virsh")
d = Daemon(VIREOD, VMM, VSH)
names = []
MIB = 1 << 20


def data_extents(path):
    p = subprocess.run(["qemu-img", "map", "-U", "--output=json", "-f", "raw", path],
                       capture_output=True, text=True)
    try:
        return [(e["start"], e["length"]) for e in json.loads(p.stdout) if e["data"]]
    except ValueError:
        return p.stdout + p.stderr


def main():
    d.start()
    disks, devices = [], ""
    for dev, attrs in (("vda", "discard='unmap' detect_zeroes='unmap'"),
                       ("vdb", "detect_zeroes='unmap'"), ("vdc", "detect_zeroes='off'")):
        path = os.path.join(d.tmp, f"{dev}.raw")
        with open(path, "wb") as f:
            f.truncate(4 * MIB)
        subprocess.run(["qemu-io", "-f", "raw", "-c", f"write -P 0xab 0 {2 * MIB}", path],
                       check=True, capture_output=True)
        disks.append(path)
        devices += (f"    <disk type='file' device='disk'><driver name='qemu' type='raw' "
                    f"{attrs}/><source file='{path}'/><target dev='{dev}' bus='virtio'/>"
                    "</disk>\n")
    names.append("dz")
    x = d.write("dz.xml", domain_xml("dz", GUEST, "blk-bench op=seqwrite count=3", devices,
                                     memory_mib=256))
    r = d.virsh("define", x)
    t.ok(r.returncode == 0, "define disks with detect_zeroes", r.stderr)
    r = d.virsh("dumpxml", "dz")
    t.ok(r.stdout.count("detect_zeroes=") == 3, "dumpxml keeps detect_zeroes", r.stdout)
    r = d.virsh("start", "dz")
    t.ok(r.returncode == 0, "start", r.stderr)
    r = d.virsh("qemu-monitor-command", "dz", json.dumps({"execute": "query-block"}))
    try:
        modes = {b["device"]: b["inserted"]["detect_zeroes"] for b in json.loads(r.stdout)["return"]}
    except (ValueError, KeyError):
        modes = r.stdout + r.stderr
    t.ok(modes == {"drive-virtio-disk0": "unmap", "drive-virtio-disk1": "on",
                   "drive-virtio-disk2": "off"},
         "vireo-vmm applies unmap, on (unmap without discard, as libvirt) and off", modes)
    ext = data_extents(disks[0])
    end = time.monotonic() + 180
    while ext and time.monotonic() < end:  # the guest writes, then halts
        time.sleep(1)
        ext = data_extents(disks[0])
    t.ok(ext == [], "the guest's zero writes left no data on vda (a hole, as under QEMU)", ext)
    t.ok(data_extents(disks[2]) == [(0, 2 * MIB)], "vdc (off, not written) keeps its data",
         data_extents(disks[2]))


try:
    main()
except Exception as e:  # a crash of the test is a failure, with the daemon's log
    t.ok(False, "the test ran to its end", repr(e))
    d.dump_log()
finally:
    for n in names:
        d.virsh("destroy", n)
    if t.failed:
        d.dump_log()
    d.cleanup(names)
t.done()
