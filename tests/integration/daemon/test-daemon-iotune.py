#!/usr/bin/python3
"""Per-disk I/O limits through vireod (issue #16): <iotune> applied at start and blkdeviotune
(virDomainGet/SetBlockIoTune) with the stock virsh and vsh, checked in the VMM.

Usage: test-daemon-iotune.py VIREOD VIREO_VMM TEST_GUEST_ELF VSH

A domain whose disk has <iotune><write_bytes_sec> and a group starts with those limits in
vireo-vmm (query-block through qemu-monitor-command, not what the daemon says). blkdeviotune
prints libvirt's twenty parameters, vsh alike; --live changes the VMM's limits at once (a total
clears the read and write ones, as libvirt merges them) and the live XML, not the persistent
one; --config changes the next boot's definition only; limits libvirt refuses (total with
read, a max below its rate) are refused in one line; a disk the domain lacks too.
"""
import json
import os
import shutil
import sys

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


def limits(name):
    r = d.virsh("qemu-monitor-command", name, json.dumps({"execute": "query-block"}))
    try:
        return {b["device"]: b["inserted"] for b in json.loads(r.stdout)["return"]}
    except (ValueError, KeyError):
        return r.stdout + r.stderr


def params(text):
    out = {}
    for line in text.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


def main():
    d.start()
    disk = os.path.join(d.tmp, "io.raw")
    with open(disk, "wb") as f:
        f.truncate(8 << 20)
    devices = ("    <disk type='file' device='disk'><driver name='qemu' type='raw'/>"
               f"<source file='{disk}'/><target dev='vda' bus='virtio'/>"
               "<iotune><write_bytes_sec>1048576</write_bytes_sec>"
               "<read_iops_sec>200</read_iops_sec><read_iops_sec_max>400</read_iops_sec_max>"
               "<group_name>grp</group_name></iotune></disk>\n")
    names.append("io")
    x = d.write("io.xml", domain_xml("io", GUEST, "tests=none", devices))
    r = d.virsh("define", x)
    t.ok(r.returncode == 0, "define a disk with <iotune>", r.stderr)
    r = d.virsh("start", "--paused", "io")
    t.ok(r.returncode == 0, "start", r.stderr)
    ins = limits("io").get("drive-virtio-disk0", {})
    t.ok(ins.get("bps_wr") == 1048576 and ins.get("iops_rd") == 200 and
         ins.get("iops_rd_max") == 400 and ins.get("group") == "grp",
         "<iotune> is in force in the VMM (query-block)", ins)
    a, b = d.virsh("blkdeviotune", "io", "vda"), d.vsh("blkdeviotune", "io", "vda")
    p = params(a.stdout)
    t.ok(a.returncode == 0 and len(p) == 20 and p.get("write_bytes_sec") == "1048576" and
         p.get("group_name") == "grp" and p.get("read_iops_sec_max") == "400",
         "blkdeviotune: libvirt's twenty parameters with the disk's values", a.stdout + a.stderr)
    t.ok((b.returncode, b.stdout) == (a.returncode, a.stdout), "vsh prints what virsh prints",
         b.stdout + b.stderr)
    r = d.virsh("blkdeviotune", "io", "vda", "--live", "--total-bytes-sec", "2097152")
    ins = limits("io").get("drive-virtio-disk0", {})
    t.ok(r.returncode == 0 and ins.get("bps") == 2097152 and ins.get("bps_wr") == 0 and
         ins.get("iops_rd") == 200,
         "--live --total-bytes-sec: in the VMM at once, the write limit cleared", (r.stderr, ins))
    live = d.virsh("dumpxml", "io").stdout
    cfg = d.virsh("dumpxml", "--inactive", "io").stdout
    t.ok("<total_bytes_sec>2097152</total_bytes_sec>" in live and
         "<total_bytes_sec>" not in cfg and "<write_bytes_sec>1048576" in cfg,
         "the live XML has the change, the persistent one not", live + cfg)
    r = d.vsh("blkdeviotune", "io", "vda", "--config", "--read-iops-sec", "100",
              "--read-iops-sec-max", "0")
    ins = limits("io").get("drive-virtio-disk0", {})
    cfg = d.virsh("dumpxml", "--inactive", "io").stdout
    t.ok(r.returncode == 0 and "<read_iops_sec>100</read_iops_sec>" in cfg and
         "read_iops_sec_max" not in cfg and ins.get("iops_rd") == 200,
         "vsh --config: the next boot's definition only", (r.stderr, cfg, ins))
    r = d.virsh("blkdeviotune", "io", "vda", "--live", "--read-bytes-sec", "10",
                "--total-bytes-sec", "20")
    t.ok(r.returncode != 0 and "cannot be set at the same time" in r.stderr,
         "total and read bytes together: refused", r.stderr)
    r = d.virsh("blkdeviotune", "io", "vda", "--live", "--total-iops-sec", "100",
                "--total-iops-sec-max", "50")
    t.ok(r.returncode != 0 and "total_iops_sec_max" in r.stderr and
         limits("io").get("drive-virtio-disk0", {}).get("iops") == 0,
         "a max below its rate: refused, nothing changed", r.stderr)
    a, b = (d.virsh("blkdeviotune", "io", "vdz"), d.vsh("blkdeviotune", "io", "vdz"))
    t.ok(a.returncode != 0 and "disk 'vdz' not found" in a.stderr and
         b.stderr.strip() == a.stderr.strip(), "a disk the domain lacks, vsh alike",
         a.stderr + b.stderr)
    d.virsh("destroy", "io")
    r = d.virsh("start", "--paused", "io")
    ins = limits("io").get("drive-virtio-disk0", {})
    t.ok(r.returncode == 0 and ins.get("iops_rd") == 100 and ins.get("bps_wr") == 1048576 and
         ins.get("bps") == 0, "after a restart: the --config limits", ins)


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
