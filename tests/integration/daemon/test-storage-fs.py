#!/usr/bin/env python3
"""test-storage-fs.py - a file system pool (type='fs') through vireod with the
stock virsh: a loop device on a file is the pool's source device.

- pool-define-as fs --source-dev --source-format ext4; the XML validates;
- a start before the build, and a start on a device with no file system,
  fail and leave the pool inactive with nothing mounted and no state;
- pool-build --no-overwrite makes the file system (blkid sees ext4), and
  refuses a second time; pool-start mounts it; volumes live in it;
- a daemon restart finds the pool mounted and active; pool-destroy unmounts
  it and the volume is there again after the next start; autostart mounts it
  when the daemon starts.

  test-storage-fs.py VIREOD VIREO_VMM

Prints TAP. Root only (loop devices and mount).
"""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import Daemon, Tap, skip_all  # noqa: E402

VIREOD, VMM = sys.argv[1:3]
t = Tap()
for tool in ("virsh", "losetup", "mount", "mkfs.ext4", "blkid", "virt-xml-validate"):
    if not shutil.which(tool):
        skip_all("no " + tool)


def mounted(path):
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


def err_line(r):
    lines = [x for x in r.stderr.splitlines() if x.startswith("error:")]
    return lines[-1] if lines else ""


d = Daemon(VIREOD, VMM)
loop = None
target = os.path.join(d.tmp, "mnt")
try:
    img = os.path.join(d.tmp, "fs.img")
    with open(img, "wb") as f:
        f.truncate(64 << 20)
    lo = subprocess.run(["losetup", "-f", "--show", img], capture_output=True, text=True)
    loop = lo.stdout.strip() or None
    if not t.ok(loop is not None, "losetup makes a loop device", lo.stderr):
        raise SystemExit
    d.start()
    state = os.path.join(d.root, "run", "pools", "f1.xml")

    r = d.virsh("pool-define-as", "f1", "fs", "--source-dev", loop, "--source-format", "ext4",
                "--target", target)
    t.ok(r.returncode == 0, "pool-define-as f1 fs --source-dev LOOP --source-format ext4",
         r.stderr)
    xml = d.virsh("pool-dumpxml", "f1").stdout
    path = d.write("f1.xml", xml)
    v = subprocess.run(["virt-xml-validate", path, "storagepool"], capture_output=True,
                       text=True)
    t.ok(f"<device path='{loop}'/>" in xml and "<format type='ext4'/>" in xml and
         v.returncode == 0, "its XML names the device and format, valid for libvirt's schema",
         xml + v.stdout + v.stderr)
    r = d.virsh("pool-start", "f1")
    t.ok(r.returncode != 0 and "cannot open directory" in err_line(r),
         "pool-start before pool-build: no directory", r.stderr)
    r = d.virsh("pool-build", "f1")
    t.ok(r.returncode == 0 and os.path.isdir(target), "pool-build makes the directory only",
         r.stderr)
    r = d.virsh("pool-start", "f1")
    t.ok(r.returncode != 0 and "mount -t ext4" in err_line(r) and not mounted(target) and
         not os.path.exists(state) and
         d.virsh("pool-list", "--inactive", "--name").stdout.split() == ["f1"],
         "a mount that fails (no file system yet) leaves the pool inactive, nothing mounted, "
         "no state", r.stderr)
    r = d.virsh("pool-build", "f1", "--no-overwrite")
    fstype = subprocess.run(["blkid", "-p", "-o", "value", "-s", "TYPE", loop],
                            capture_output=True, text=True).stdout.strip()
    t.ok(r.returncode == 0 and fstype == "ext4", "pool-build --no-overwrite makes an ext4",
         r.stderr + fstype)
    r = d.virsh("pool-build", "f1", "--no-overwrite")
    t.ok(err_line(r) == f"error: Storage pool already built: Device '{loop}' already formatted "
         "using 'ext4'", "pool-build --no-overwrite refuses a device with a file system",
         r.stderr)
    r = d.virsh("pool-start", "f1")
    t.ok(r.returncode == 0 and mounted(target), "pool-start mounts the device", r.stderr)
    info = d.virsh("pool-info", "--bytes", "f1").stdout
    cap = [x.split()[1] for x in info.splitlines() if x.startswith("Capacity:")]
    t.ok(cap and 40 << 20 < int(cap[0]) < 64 << 20, "pool-info: the file system's capacity",
         info)
    r = d.virsh("pool-build", "f1", "--overwrite")
    t.ok(r.returncode != 0 and "already active" in err_line(r),
         "an active pool is not rebuilt", r.stderr)
    data = os.urandom(200000)
    up = os.path.join(d.tmp, "up.bin")
    open(up, "wb").write(data)
    r1 = d.virsh("vol-create-as", "f1", "v.raw", "1M")
    r2 = d.virsh("vol-upload", "--pool", "f1", "v.raw", up)
    t.ok(r1.returncode == 0 and r2.returncode == 0 and
         open(os.path.join(target, "v.raw"), "rb").read()[:len(data)] == data,
         "a volume made and uploaded in the mounted file system", r1.stderr + r2.stderr)

    d.stop()
    d.start()
    t.ok(mounted(target) and d.virsh("pool-list", "--name").stdout.split() == ["default", "f1"],
         "after a daemon restart the pool is still mounted and active")
    r = d.virsh("pool-destroy", "f1")
    t.ok(r.returncode == 0 and not mounted(target) and not os.path.exists(state),
         "pool-destroy unmounts it", r.stderr)
    r = d.virsh("vol-list", "f1")
    t.ok(err_line(r) == "error: Requested operation is not valid: storage pool 'f1' is not "
         "active", "an inactive pool has no volumes to list", r.stderr)
    d.virsh("pool-autostart", "f1")
    d.stop()
    d.start()
    down = os.path.join(d.tmp, "down.bin")
    r = d.virsh("vol-download", "--pool", "f1", "v.raw", down)
    t.ok(mounted(target) and r.returncode == 0 and open(down, "rb").read()[:len(data)] == data,
         "autostart mounts it when the daemon starts; the volume is still there", r.stderr)
    r = d.virsh("pool-destroy", "f1")
    r2 = d.virsh("pool-undefine", "f1")
    t.ok(r.returncode == 0 and r2.returncode == 0 and not mounted(target),
         "pool-destroy and pool-undefine", r.stderr + r2.stderr)
except SystemExit:
    pass
except Exception as e:  # a crash is a failure, with its reason
    t.ok(False, "the test ran to its end", repr(e))
    d.dump_log()
finally:
    d.stop()
    if mounted(target):
        subprocess.run(["umount", target])
    if loop:
        subprocess.run(["losetup", "-d", loop])
    d.cleanup()
t.done()
