#!/usr/bin/python3
"""blkiotune through vireod (issue #16): <blkiotune> applied at start, and the blkiotune
command (virDomainGet/SetBlkioParameters) with --live and --config, with vsh and virsh.

Usage: test-daemon-blkiotune.py VIREOD VIREO_VMM TEST_GUEST_ELF VSH

The domain's disk is a loop device (losetup on a file). What is checked is the kernel's
view: the device's major:minor lines in the domain's blkio group (v1
blkio.throttle.*_device, v2 io.max), and the definitions (live and inactive). The weight is
applied where the host's I/O scheduler has one and refused with libvirt's line where it
has none (this project's machines: cgroup v1 without blkio.weight).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import Daemon, Tap, domain_xml, skip_all  # noqa: E402

VIREOD, VMM, GUEST, VSH = sys.argv[1:5]
GUEST = os.path.abspath(GUEST)
t = Tap()
if os.geteuid() != 0 or not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("needs root and /dev/kvm")
if not shutil.which("virsh") or not shutil.which("losetup"):
    skip_all("no virsh or losetup")
d = Daemon(VIREOD, VMM, VSH)
NO_WEIGHT = "blkio weight is valid only for bfq or cfq scheduler"


def blkio_dir(pid):
    for line in open("/proc/%d/cgroup" % pid):
        _, ctrls, path = line.strip().split(":", 2)
        if "blkio" in ctrls.split(","):
            return "/sys/fs/cgroup/blkio" + path, 1
        if ctrls == "":
            v2 = "/sys/fs/cgroup" + path
    return (v2[:-len("/emulator")] if v2.endswith("/emulator") else v2), 2


def limits(pid, devno):
    """{key: value} of the device's limits in the group (missing: no limit)."""
    base, version = blkio_dir(pid)
    out = {}
    if version == 1:
        for key, f in (("read_bytes_sec", "read_bps"), ("write_bytes_sec", "write_bps"),
                       ("read_iops_sec", "read_iops"), ("write_iops_sec", "write_iops")):
            for line in open("%s/blkio.throttle.%s_device" % (base, f)):
                if line.split()[0] == devno:
                    out[key] = int(line.split()[1])
        return out
    names = {"rbps": "read_bytes_sec", "wbps": "write_bytes_sec", "riops": "read_iops_sec",
             "wiops": "write_iops_sec"}
    for line in open(base + "/io.max"):
        if line.split()[0] == devno:
            for kv in line.split()[1:]:
                k, v = kv.split("=")
                if v != "max":
                    out[names[k]] = int(v)
    return out


def both(*args):
    a = d.vsh(*args)
    b = d.virsh(*args)
    return a, b


def main(loop):
    st = os.stat(loop)
    devno = "%d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
    d.start()
    disk = f"""    <disk type='block' device='disk'>
      <driver name='qemu' type='raw' cache='none'/>
      <source dev='{loop}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
"""
    tune = f"""  <blkiotune>
    <device>
      <path>{loop}</path>
      <write_iops_sec>200</write_iops_sec>
      <read_bytes_sec>1048576</read_bytes_sec>
    </device>
  </blkiotune>
"""
    xml = domain_xml("bt", GUEST, "tests=none", devices=disk, extra=tune)
    r = d.virsh("define", d.write("bt.xml", xml))
    t.ok(r.returncode == 0, "define a domain with <blkiotune> on its loop-device disk", r.stderr)
    r = d.virsh("start", "--paused", "bt")
    pid = d.vmm_pid("bt")
    t.ok(r.returncode == 0 and pid, "it starts", r.stderr + d.vmm_log("bt"))
    if not pid:
        return
    got = limits(pid, devno)
    t.ok(got == {"write_iops_sec": 200, "read_bytes_sec": 1048576},
         "the blkio group limits %s as <blkiotune> says" % devno, got)

    a, b = both("blkiotune", "bt", "--config")
    want = ("weight         : 0\ndevice_weight  : \ndevice_read_iops_sec: \n"
            "device_write_iops_sec: %s,200\ndevice_read_bytes_sec: %s,1048576\n"
            "device_write_bytes_sec: \n" % (loop, loop))
    t.ok(a.returncode == 0 and a.stdout == b.stdout == want,
         "blkiotune --config: vsh prints what virsh prints", a.stdout + a.stderr + b.stdout)

    r = d.virsh("blkiotune", "bt", "--live", "--device-write-bytes-sec", loop + ",2097152")
    live = d.virsh("dumpxml", "bt").stdout
    conf = d.virsh("dumpxml", "--inactive", "bt").stdout
    t.ok(r.returncode == 0 and limits(pid, devno).get("write_bytes_sec") == 2097152 and
         "<write_bytes_sec>2097152</write_bytes_sec>" in live and "write_bytes_sec" not in conf,
         "virsh blkiotune --live --device-write-bytes-sec: in the group and the live XML only",
         r.stderr + live)
    r = d.vsh("blkiotune", "bt", "--live", "--device-read-bytes-sec", loop + ",0")
    got = limits(pid, devno)
    t.ok(r.returncode == 0 and "read_bytes_sec" not in got and got.get("write_iops_sec") == 200,
         "vsh blkiotune --live value 0: that limit removed, the others kept", r.stderr + str(got))
    r = d.vsh("blkiotune", "bt", "--config", "--device-read-iops-sec", loop + ",300")
    conf = d.virsh("dumpxml", "--inactive", "bt").stdout
    t.ok(r.returncode == 0 and "<read_iops_sec>300</read_iops_sec>" in conf and
         "read_iops_sec" not in limits(pid, devno),
         "vsh blkiotune --config: the definition only", r.stderr + conf)

    a, b = both("blkiotune", "bt", "--live", "--device-read-bytes-sec", "/dev/null,100")
    t.ok(a.returncode != 0 and a.stderr == b.stderr and
         "Path '/dev/null' must be a block device" in a.stderr,
         "a path that is not a block device: libvirt's refusal, vsh alike", a.stderr + b.stderr)

    base, version = blkio_dir(pid)
    has_weight = any(os.path.exists(os.path.join(base, f)) for f in
                     ("blkio.bfq.weight", "blkio.weight", "io.bfq.weight", "io.weight"))
    a, b = both("blkiotune", "bt", "--live", "--weight", "500")
    if has_weight:
        t.ok(a.returncode == 0 and b.returncode == 0, "blkiotune --weight 500 applied",
             a.stderr + b.stderr)
    else:
        t.ok(a.returncode != 0 and a.stderr == b.stderr and NO_WEIGHT in a.stderr,
             "no I/O scheduler weights on this host: --weight refused as libvirt refuses it",
             a.stderr + b.stderr)
    d.virsh("destroy", "bt")

    xml = domain_xml("btw", GUEST, "tests=none", devices=disk,
                     extra="  <blkiotune>\n    <weight>500</weight>\n  </blkiotune>\n")
    d.virsh("define", d.write("btw.xml", xml))
    r = d.virsh("start", "--paused", "btw")
    if has_weight:
        t.ok(r.returncode == 0, "<blkiotune><weight> applied at start", r.stderr)
    else:
        t.ok(r.returncode != 0 and NO_WEIGHT in r.stderr and d.vmm_pid("btw") is None,
             "<blkiotune><weight> without scheduler weights: the start refused in one line",
             r.stderr)
    d.virsh("destroy", "btw")


tmp = tempfile.mkdtemp(prefix="vireo-blkio-")
img = os.path.join(tmp, "disk.img")
with open(img, "wb") as f:
    f.truncate(8 << 20)
loop = subprocess.run(["losetup", "-f", "--show", img], capture_output=True,
                      text=True).stdout.strip()
try:
    if not loop:
        t.ok(False, "losetup made a loop device")
    else:
        main(loop)
finally:
    for n in ("bt", "btw"):
        d.virsh("destroy", n)
    d.stop()
    if loop:
        subprocess.run(["losetup", "-d", loop])
    shutil.rmtree(tmp, ignore_errors=True)
t.done()
