#!/usr/bin/env python3
"""test-daemon-storage.py - storage pools and volumes through vireod with the
stock virsh and libvirt-python (issue #14's storage part):

- the `default` dir pool at ROOT/lib/images, defined, autostarted and started
  on the first start;
- a dir pool's life: pool-define-as, pool-build, pool-start, pool-autostart,
  pool-info, pool-list, pool-refresh, pool-destroy, pool-delete, pool-undefine,
  a transient pool (pool-create-as --build), all surviving a daemon restart;
- volumes on the block layer, checked with the real qemu-img: vol-create-as
  raw, qcow2 with --backing-vol, --prealloc-metadata; vol-upload and
  vol-download (plain and --sparse, holes kept); vol-resize (grow, the
  refused shrink, --shrink); vol-clone; vol-wipe; vol-delete; vol-info,
  vol-list --details, vol-path, vol-key, vol-name, vol-pool, lookups by path
  and key (what virt-install calls);
- pool and volume XML valid against libvirt's schemas (virt-xml-validate);
- bad input: names with '/' or '..', a pool whose directory is missing stays
  inactive with nothing recorded, deleting an active pool;
- the test guest reads (blk-crc32) a type='volume' disk and a type='block'
  disk on a loop device; device='lun' is refused in one line.

  test-daemon-storage.py VIREOD VIREO_VMM TESTGUEST_ELF

Prints TAP. Waits poll with generous limits; nothing asserts a timing.
"""
import os
import re
import shutil
import subprocess
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import Daemon, Tap, domain_xml, skip_all, wait_for  # noqa: E402

VIREOD, VMM, GUEST = sys.argv[1:4]
GUEST = os.path.abspath(GUEST)

t = Tap()
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("no /dev/kvm")
for tool in ("virsh", "qemu-img", "virt-xml-validate", "losetup", "virt-install"):
    if not shutil.which(tool):
        skip_all("no " + tool)


def qemu_img(*args):
    return subprocess.run(["qemu-img"] + list(args), capture_output=True, text=True)


def validate(d, name, xml, schema):
    path = d.write(name, xml)
    r = subprocess.run(["virt-xml-validate", path, schema], capture_output=True, text=True)
    return r.returncode == 0, r.stdout + r.stderr


def err_line(r):
    """virsh's last 'error:' line."""
    lines = [x for x in r.stderr.splitlines() if x.startswith("error:")]
    return lines[-1] if lines else ""


def loud(d, *args):
    """virsh without -q: its informational lines ("Pool p1 defined") are printed."""
    return subprocess.run(["virsh", "-c", d.uri] + list(args), env=d.env, capture_output=True,
                          text=True, timeout=60)


def blocks_used(path):
    return os.stat(path).st_blocks * 512


def guest_crc(d, name, disk_xml):
    """Boots the test guest with blk-crc32 on disk_xml; its CRC-32, and the VMM's command line."""
    xml = d.write(name + ".xml", domain_xml(name, GUEST, "blk-crc32", disk_xml))
    r = d.virsh("define", xml)
    if r.returncode != 0:
        return None, "define: " + r.stderr
    r = d.virsh("start", name)
    if r.returncode != 0:
        return None, "start: " + r.stderr
    wait_for(lambda: re.search(r"^crc32=[0-9a-f]{8}", d.console_log(name), re.M), 120, 0.2)
    m = re.search(r"^crc32=([0-9a-f]{8})", d.console_log(name), re.M)
    cmd = open(os.path.join(d.root, "log", name + ".log")).readline()
    d.virsh("destroy", name)
    d.virsh("undefine", name)
    return (m.group(1) if m else None), cmd + d.console_log(name)[-600:]


d = Daemon(VIREOD, VMM)
loopdev = None
try:
    d.start()
    images = os.path.join(d.root, "lib", "images")

    # 1. The default pool, as virt-install expects it.
    r = d.virsh("pool-list", "--all")
    t.ok(r.stdout.split() == ["default", "active", "yes"],
         "the first start defines, autostarts and starts the 'default' pool", r.stdout + r.stderr)
    r = d.virsh("pool-dumpxml", "default")
    t.ok(f"<path>{images}</path>" in r.stdout and os.path.isdir(images),
         "the default pool is a dir pool at ROOT/lib/images, built", r.stdout)
    ok, out = validate(d, "pool.xml", r.stdout, "storagepool")
    t.ok(ok, "pool-dumpxml validates against libvirt's storagepool schema", out)
    ok, out = validate(d, "poolcaps.xml", d.virsh("pool-capabilities").stdout, "storagepoolcaps")
    t.ok(ok, "pool-capabilities validates against libvirt's storagepoolcaps schema", out)

    # 2. A dir pool's life.
    p1 = os.path.join(d.tmp, "p1")
    r = loud(d, "pool-define-as", "p1", "dir", "--target", p1)
    t.ok(r.returncode == 0 and r.stdout.strip() == "Pool p1 defined", "pool-define-as p1 dir",
         r.stdout + r.stderr)
    r = d.virsh("pool-start", "p1")
    t.ok(r.returncode != 0 and err_line(r) == f"error: cannot open directory '{p1}': "
         "No such file or directory", "pool-start before pool-build: the directory is missing",
         r.stderr)
    r = d.virsh("pool-list", "--inactive", "--name")
    t.ok(r.stdout.split() == ["p1"] and
         not os.path.exists(os.path.join(d.root, "run", "pools", "p1.xml")),
         "the failed start left p1 inactive with no state recorded", r.stdout)
    r = d.virsh("pool-build", "p1")
    t.ok(r.returncode == 0 and os.path.isdir(p1) and (os.stat(p1).st_mode & 0o777) == 0o711,
         "pool-build makes the directory, mode 0711 as libvirt's", r.stderr)
    for cmd in (["pool-start", "p1"], ["pool-autostart", "p1"], ["pool-refresh", "p1"]):
        r = d.virsh(*cmd)
        t.ok(r.returncode == 0, " ".join(cmd), r.stderr)
    r = d.virsh("pool-info", "p1")
    info = dict(re.findall(r"^(\w+):\s+(.*)$", r.stdout, re.M))
    t.ok(info.get("Name") == "p1" and info.get("State") == "running" and
         info.get("Persistent") == "yes" and info.get("Autostart") == "yes" and
         info.get("Capacity", "").endswith("iB"), "pool-info", r.stdout + r.stderr)
    uuid = d.virsh("pool-uuid", "p1").stdout.strip()
    t.ok(d.virsh("pool-name", uuid).stdout.strip() == "p1", "pool-uuid and pool-name agree")
    r = d.virsh("pool-list", "--all", "--type", "dir", "--name")
    t.ok(r.stdout.split() == ["default", "p1"], "pool-list --all --type dir", r.stdout)
    r = d.virsh("pool-create-as", "t1", "dir", "--target", os.path.join(d.tmp, "t1"), "--build")
    t.ok(r.returncode == 0 and d.virsh("pool-list", "--transient", "--name").stdout.split() ==
         ["t1"], "pool-create-as --build: a transient pool, started", r.stderr)

    # 3. Volumes, checked with the real qemu-img.
    r = loud(d, "vol-create-as", "p1", "base.raw", "1M")
    t.ok(r.returncode == 0 and r.stdout.strip() == "Vol base.raw created",
         "vol-create-as raw", r.stdout + r.stderr)
    base = os.path.join(p1, "base.raw")
    t.ok(os.path.getsize(base) == 1 << 20 and blocks_used(base) >= 1 << 20,
         "a raw volume without --allocation is allocated in full, as libvirt's")
    r = d.virsh("vol-create-as", "p1", "top.qcow2", "4M", "--format", "qcow2",
                "--backing-vol", "base.raw", "--backing-vol-format", "raw")
    info = qemu_img("info", os.path.join(p1, "top.qcow2")).stdout
    t.ok(r.returncode == 0 and "file format: qcow2" in info and
         f"backing file: {base}" in info and "backing file format: raw" in info and
         "virtual size: 4 MiB" in info, "vol-create-as qcow2 --backing-vol: qemu-img agrees",
         r.stderr + info)
    r = d.virsh("vol-create-as", "p1", "pm.qcow2", "8M", "--format", "qcow2",
                "--prealloc-metadata")
    pm = os.path.join(p1, "pm.qcow2")
    chk = qemu_img("check", pm)
    t.ok(r.returncode == 0 and chk.returncode == 0 and "100.00% allocated" in chk.stdout,
         "vol-create-as --prealloc-metadata: every cluster mapped, qemu-img check clean",
         r.stderr + chk.stdout + chk.stderr)
    r = d.virsh("vol-create-as", "p1", "pm.raw", "8M", "--prealloc-metadata")
    t.ok(err_line(r) == "error: unsupported configuration: metadata preallocation only "
         "available with qcow2", "--prealloc-metadata on raw refused with libvirt's line",
         r.stderr)
    r = d.virsh("vol-list", "p1", "--details")
    rows = [x.split() for x in r.stdout.splitlines() if x.strip()]
    t.ok([x[0] for x in rows] == ["base.raw", "pm.qcow2", "top.qcow2"] and
         rows[0][1:] == [base, "file", "1.00", "MiB", "1.00", "MiB"] and
         rows[2][3:5] == ["4.00", "MiB"], "vol-list --details", r.stdout)
    r = d.virsh("vol-info", "--pool", "p1", "top.qcow2")
    t.ok(re.findall(r"^(\w+):\s+(.*)$", r.stdout, re.M)[:3] ==
         [("Name", "top.qcow2"), ("Type", "file"), ("Capacity", "4.00 MiB")],
         "vol-info", r.stdout)
    r = d.virsh("vol-dumpxml", "--pool", "p1", "top.qcow2")
    ok, out = validate(d, "vol.xml", r.stdout, "storagevol")
    t.ok(ok and "<format type='qcow2'/>" in r.stdout and f"<path>{base}</path>" in r.stdout,
         "vol-dumpxml: format and backing store, valid against libvirt's storagevol schema",
         r.stdout + out)
    top = os.path.join(p1, "top.qcow2")
    t.ok(d.virsh("vol-path", "--pool", "p1", "top.qcow2").stdout.strip() == top and
         d.virsh("vol-key", "--pool", "p1", "top.qcow2").stdout.strip() == top and
         d.virsh("vol-name", top).stdout.strip() == "top.qcow2" and
         d.virsh("vol-pool", top).stdout.strip() == "p1",
         "vol-path, vol-key, vol-name and vol-pool")
    py = subprocess.run(["/usr/bin/python3", "-c", f"""
import libvirt
c = libvirt.open({d.uri!r})
v = c.storageVolLookupByPath({top!r})
k = c.storageVolLookupByKey({top!r})
print(v.name(), k.name(), v.storagePoolLookupByVolume().name())
try:
    c.storageVolLookupByPath({os.path.join(d.tmp, 'nowhere.img')!r})
except libvirt.libvirtError as e:
    print(e.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_VOL)
"""], capture_output=True, text=True, env=d.env)
    t.ok(py.stdout.split() == ["top.qcow2", "top.qcow2", "p1", "True"],
         "storageVolLookupByPath and ByKey (libvirt-python), and a path in no pool",
         py.stdout + py.stderr)

    # 4. Upload and download, plain and sparse.
    data = os.urandom(3 << 19)  # 1.5 MiB
    up = d.write("up.bin", "")
    open(up, "wb").write(data)
    d.virsh("vol-create-as", "p1", "u.raw", "2M")
    r = d.virsh("vol-upload", "--pool", "p1", "u.raw", up)
    got = open(os.path.join(p1, "u.raw"), "rb").read()
    t.ok(r.returncode == 0 and got[:len(data)] == data and len(got) == 2 << 20,
         "vol-upload writes the bytes at the volume's start, size kept", r.stderr)
    down = os.path.join(d.tmp, "down.bin")
    r = d.virsh("vol-download", "--pool", "p1", "u.raw", down)
    t.ok(r.returncode == 0 and open(down, "rb").read() == got, "vol-download returns them",
         r.stderr)
    r = d.virsh("vol-download", "--pool", "p1", "u.raw", down, "--offset", "4096",
                "--length", "8192")
    t.ok(r.returncode == 0 and open(down, "rb").read() == got[4096:4096 + 8192],
         "vol-download --offset --length", r.stderr)
    sparse = os.path.join(d.tmp, "sparse.bin")
    with open(sparse, "wb") as f:
        f.truncate(16 << 20)
        f.seek(5 << 20)
        f.write(data)
    d.virsh("vol-create-as", "p1", "s.raw", "16M", "--allocation", "0")
    r = d.virsh("vol-upload", "--pool", "p1", "s.raw", sparse, "--sparse")
    sraw = os.path.join(p1, "s.raw")
    t.ok(r.returncode == 0 and open(sraw, "rb").read() == open(sparse, "rb").read() and
         blocks_used(sraw) < 4 << 20, "vol-upload --sparse: same bytes, the holes stay holes",
         r.stderr + f"used {blocks_used(sraw)}")
    sdown = os.path.join(d.tmp, "sdown.bin")
    r = d.virsh("vol-download", "--pool", "p1", "s.raw", sdown, "--sparse")
    t.ok(r.returncode == 0 and open(sdown, "rb").read() == open(sparse, "rb").read() and
         blocks_used(sdown) < 4 << 20, "vol-download --sparse: same bytes, holes kept",
         r.stderr + f"used {blocks_used(sdown)}")

    # 5. Resize, clone, wipe, delete.
    r = d.virsh("vol-resize", "--pool", "p1", "top.qcow2", "8M")
    t.ok(r.returncode == 0 and "virtual size: 8 MiB" in qemu_img("info", top).stdout,
         "vol-resize grows a qcow2 volume", r.stderr)
    r = d.virsh("vol-resize", "--pool", "p1", "top.qcow2", "2M")
    t.ok(err_line(r) == "error: invalid argument: Can't shrink capacity below current capacity "
         "unless shrink flag explicitly specified", "a shrink without --shrink is refused",
         r.stderr)
    r = d.virsh("vol-resize", "--pool", "p1", "u.raw", "1M", "--shrink")
    t.ok(r.returncode == 0 and os.path.getsize(os.path.join(p1, "u.raw")) == 1 << 20,
         "vol-resize --shrink", r.stderr)
    r = d.virsh("vol-resize", "--pool", "p1", "u.raw", "1M", "--delta")
    t.ok(r.returncode == 0 and os.path.getsize(os.path.join(p1, "u.raw")) == 2 << 20,
         "vol-resize --delta", r.stderr)
    r = d.virsh("vol-clone", "--pool", "p1", "s.raw", "s2.raw")
    t.ok(r.returncode == 0 and open(os.path.join(p1, "s2.raw"), "rb").read() ==
         open(sraw, "rb").read(), "vol-clone of a raw volume", r.stderr)
    r = d.virsh("vol-clone", "--pool", "p1", "top.qcow2", "top2.qcow2")
    cmp = qemu_img("compare", top, os.path.join(p1, "top2.qcow2"))
    t.ok(r.returncode == 0 and cmp.returncode == 0,
         "vol-clone of a qcow2 volume: qemu-img compare finds them identical",
         r.stderr + cmp.stdout + cmp.stderr)
    r = d.virsh("vol-wipe", "--pool", "p1", "s2.raw")
    t.ok(r.returncode == 0 and open(os.path.join(p1, "s2.raw"), "rb").read() ==
         bytes(16 << 20), "vol-wipe (zero) of a raw volume", r.stderr)
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 65536",
                    os.path.join(p1, "top2.qcow2")], capture_output=True)
    before = subprocess.run(["qemu-io", "-r", "-f", "qcow2", "-U", "-c",
                             "read -P 0x5a 0 65536", os.path.join(p1, "top2.qcow2")],
                            capture_output=True, text=True)
    r = d.virsh("vol-wipe", "--pool", "p1", "top2.qcow2")
    info = qemu_img("info", os.path.join(p1, "top2.qcow2")).stdout
    rd = subprocess.run(["qemu-io", "-r", "-f", "qcow2", "-U", "-c", "read -P 0x5a 0 65536",
                         os.path.join(p1, "top2.qcow2")], capture_output=True, text=True)
    t.ok(before.returncode == 0 and r.returncode == 0 and "virtual size: 8 MiB" in info and
         "Pattern verification failed"
         in rd.stdout, "vol-wipe of a qcow2 volume: still a qcow2 of its size, the data gone",
         r.stderr + info + rd.stdout)
    r = d.virsh("vol-wipe", "--pool", "p1", "s2.raw", "--algorithm", "gutmann")
    t.ok(r.returncode != 0 and "wiping algorithm 'gutmann' is not supported" in err_line(r),
         "an unsupported wipe algorithm is refused in one line", r.stderr)
    r = d.virsh("vol-delete", "--pool", "p1", "s2.raw")
    t.ok(r.returncode == 0 and not os.path.exists(os.path.join(p1, "s2.raw")), "vol-delete",
         r.stderr)

    # 5b. A long volume job runs in a worker: while a 1 GiB wipe goes on, the daemon answers
    # other calls, refusing a second job on the same volume and the pool's destruction. The
    # probe (a wipe with an algorithm Vireo refuses) never starts a job itself: it answers
    # "still in use" while the wipe runs and "not supported" otherwise.
    d.virsh("vol-create-as", "p1", "big.raw", "1G")
    long_wipe = d.virsh_popen("vol-wipe", "--pool", "p1", "big.raw")
    seen = {}

    def refused_meanwhile():
        if long_wipe.poll() is not None:
            return True
        r2 = d.virsh("vol-wipe", "--pool", "p1", "big.raw", "--algorithm", "dod")
        if "still in use" not in r2.stderr:
            return False
        seen["wipe"] = err_line(r2)
        r3 = d.virsh("pool-destroy", "p1")
        seen["destroy"] = err_line(r3) if long_wipe.poll() is None else "(the wipe ended)"
        if r3.returncode == 0:  # the wipe had ended: put the pool back
            d.virsh("pool-start", "p1")
        return True
    wait_for(refused_meanwhile, 120, 0.02)
    long_wipe.wait(300)
    t.ok(seen.get("wipe") == "error: Requested operation is not valid: volume 'big.raw' is "
         "still in use." and long_wipe.returncode == 0,
         "while a wipe runs the daemon answers, and refuses a second job on the volume",
         repr(seen))
    t.ok(seen.get("destroy") in ("error: Requested operation is not valid: pool 'p1' has "
                                 "asynchronous jobs running.", "(the wipe ended)"),
         "... and the destruction of its pool", repr(seen))
    d.virsh("vol-delete", "--pool", "p1", "big.raw")

    # 6. Bad input.
    r = d.virsh("vol-create-as", "p1", "../evil", "1M")
    t.ok(r.returncode != 0 and not os.path.exists(os.path.join(d.tmp, "evil")),
         "a volume named '../evil' is refused, nothing written outside the pool", r.stderr)
    r = d.virsh("vol-create-as", "p1", "base.raw", "1M")
    t.ok(err_line(r) == "error: storage volume name 'base.raw' already in use.",
         "an existing volume name is refused", r.stderr)
    r = d.virsh("pool-define-as", "a/b", "dir", "--target", os.path.join(d.tmp, "ab"))
    t.ok(r.returncode != 0 and "contains '/'" in err_line(r), "a pool name with '/' is refused",
         r.stderr)
    r = d.virsh("pool-define-as", "lv", "logical", "--source-name", "vg")
    t.ok(r.returncode != 0 and "Vireo supports 'dir' and 'fs' pools" in err_line(r),
         "a pool type not supported yet is refused in one line", r.stderr)
    r = d.virsh("pool-delete", "p1")
    t.ok(err_line(r) == "error: Requested operation is not valid: storage pool 'p1' is still "
         "active", "deleting an active pool is refused", r.stderr)

    # 7. A restart keeps pools as they were.
    d.stop()
    d.start()
    r = d.virsh("pool-list", "--all")
    t.ok([x.split() for x in r.stdout.splitlines() if x.strip()] ==
         [["default", "active", "yes"], ["p1", "active", "yes"], ["t1", "active", "no"]],
         "after a daemon restart: the same pools, active, the transient one too", r.stdout)

    # 8. Guests on volumes and block devices.
    disk_data = os.urandom(256 * 1024)
    d.virsh("vol-create-as", "default", "guest.raw", "256K")
    gdata = d.write("g.bin", "")
    open(gdata, "wb").write(disk_data)
    d.virsh("vol-upload", "--pool", "default", "guest.raw", gdata)
    crc, diag = guest_crc(d, "volguest", """    <disk type='volume' device='disk'>
      <driver name='qemu' type='raw'/>
      <source pool='default' volume='guest.raw'/>
      <target dev='vda' bus='virtio'/>
    </disk>
""")
    t.ok(crc == "%08x" % zlib.crc32(disk_data) and
         f"file={images}/guest.raw,format=raw" in diag,
         "the test guest reads a type='volume' disk (its CRC-32 is the host's)", diag)
    backing = os.path.join(d.tmp, "loop.img")
    open(backing, "wb").write(disk_data)
    lo = subprocess.run(["losetup", "-f", "--show", backing], capture_output=True, text=True)
    loopdev = lo.stdout.strip() or None
    if loopdev:
        crc, diag = guest_crc(d, "blkguest", f"""    <disk type='block' device='disk'>
      <driver name='qemu' type='raw' cache='none'/>
      <source dev='{loopdev}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
""")
        t.ok(crc == "%08x" % zlib.crc32(disk_data),
             "the test guest reads a type='block' disk on a loop device (cache=none, O_DIRECT)",
             diag)
    else:
        t.ok(False, "losetup makes a loop device", lo.stderr)
    xml = d.write("lun.xml", domain_xml("lunguest", GUEST, "blk-crc32", """    <disk type='block' device='lun'>
      <source dev='/dev/null'/>
      <target dev='sda' bus='scsi'/>
    </disk>
"""))
    d.virsh("define", xml)
    r = d.virsh("start", "lunguest")
    t.ok(r.returncode != 0 and "device 'lun'" in err_line(r) and
         len([x for x in r.stderr.splitlines() if x.startswith("error:")]) == 2,
         "device='lun' is refused at start in one line", r.stderr)
    d.virsh("undefine", "lunguest")
    d.virsh("vol-delete", "--pool", "default", "guest.raw")
    cd = d.write("cdvol.xml", """<disk type='volume' device='cdrom'>
  <source pool='default' volume='guest.raw'/>
  <target dev='sdc' bus='scsi'/>
</disk>
""")
    d.virsh("define", d.write("cdguest.xml", domain_xml("cdguest", GUEST, "blk-crc32", """    <disk type='file' device='cdrom'>
      <target dev='sdc' bus='scsi'/>
      <readonly/>
    </disk>
""")))
    r = d.virsh("update-device", "cdguest", cd, "--config")
    t.ok(r.returncode != 0 and "a medium from a storage volume" in err_line(r) and
         "<source" not in d.virsh("dumpxml", "--inactive", "cdguest").stdout,
         "update-device with a type='volume' medium: refused in one line, nothing changed",
         r.stderr)
    d.virsh("undefine", "cdguest")
    xml = d.write("gone.xml", domain_xml("goneguest", GUEST, "blk-crc32", """    <disk type='volume' device='disk'>
      <source pool='default' volume='guest.raw'/>
      <target dev='vda' bus='virtio'/>
    </disk>
"""))
    d.virsh("define", xml)
    r = d.virsh("start", "goneguest")
    t.ok(err_line(r) == "error: Storage volume not found: no storage vol with matching name "
         "'guest.raw'", "a type='volume' disk whose volume is gone: the start is refused",
         r.stderr)
    d.virsh("undefine", "goneguest")

    # 9. virt-install --disk size=1: a qcow2 volume in the default pool, then the guest on it.
    # (--osinfo generic would give an IDE disk, USB controllers and an RTC timer, which
    # vireo-vmm refuses: the options below ask for what it runs.)
    r = subprocess.run(["virt-install", "--connect", d.uri, "--name", "vi1", "--memory", "64",
                        "--vcpus", "1", "--disk", "size=1,bus=virtio", "--network", "none",
                        "--import", "--machine", "microvm",
                        "--boot", f"kernel={GUEST},kernel_args=tests=blk",
                        "--osinfo", "detect=off,name=generic", "--noautoconsole",
                        "--graphics", "none", "--controller", "usb,model=none",
                        "--xml", "xpath.delete=./clock"],
                       capture_output=True, text=True, env=d.env, timeout=240)
    vi = os.path.join(images, "vi1.qcow2")
    info = qemu_img("info", "-U", vi).stdout
    dump = d.virsh("dumpxml", "vi1").stdout
    t.ok(r.returncode == 0 and "virtual size: 1 GiB" in info and "file format: qcow2" in info and
         f"<source file='{vi}'" in dump and d.state("vi1").startswith("running"),
         "virt-install --disk size=1: a 1 GiB qcow2 volume in the default pool, the guest "
         "running on it", r.stdout + r.stderr + info)
    d.virsh("destroy", "vi1")
    d.virsh("undefine", "vi1")
    r = d.virsh("vol-delete", "--pool", "default", "vi1.qcow2")
    t.ok(r.returncode == 0 and not os.path.exists(vi), "its volume deletes", r.stderr)

    # 9b. Pool events (what `virsh pool-event` shows), through libvirt-python's event loop.
    watcher = subprocess.Popen(["/usr/bin/python3", "-c", """
import sys, libvirt
libvirt.virEventRegisterDefaultImpl()
c = libvirt.open(sys.argv[1])
names = ["Defined", "Undefined", "Started", "Stopped", "Created", "Deleted"]
done = []
def cb(conn, pool, event, detail, opaque):
    print(pool.name(), names[event] if 0 <= event < 6 else event, flush=True)
    if pool.name() == "ev" and event == 1:
        done.append(1)
c.storagePoolEventRegisterAny(None, libvirt.VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE, cb, None)
print("ready", flush=True)
while not done:
    libvirt.virEventRunDefaultImpl()
""", d.uri], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=d.env)
    ready = watcher.stdout.readline().strip()
    for cmd in (["pool-define-as", "ev", "dir", "--target", os.path.join(d.tmp, "ev")],
                ["pool-build", "ev"], ["pool-start", "ev"], ["pool-destroy", "ev"],
                ["pool-delete", "ev"], ["pool-undefine", "ev"]):
        d.virsh(*cmd)
    try:
        out, errs = watcher.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        watcher.kill()
        out, errs = watcher.communicate()
    t.ok(ready == "ready" and out.split("\n")[:-1] ==
         ["ev Defined", "ev Created", "ev Started", "ev Stopped", "ev Deleted", "ev Undefined"],
         "storage pool lifecycle events reach a registered client (libvirt-python)", out + errs)

    # 10. The end of a pool.
    for cmd, want in ((["pool-destroy", "t1"], "Pool t1 destroyed"),
                      (["pool-destroy", "p1"], "Pool p1 destroyed")):
        r = loud(d, *cmd)
        t.ok(r.stdout.strip() == want, " ".join(cmd), r.stdout + r.stderr)
    r = d.virsh("pool-delete", "p1")
    t.ok(err_line(r).startswith(f"error: failed to remove pool '{p1}'") and os.path.isdir(p1),
         "pool-delete of a directory with volumes fails and keeps them", r.stderr)
    for f in os.listdir(p1):
        os.unlink(os.path.join(p1, f))
    r = d.virsh("pool-delete", "p1")
    t.ok(r.returncode == 0 and not os.path.exists(p1), "pool-delete removes the directory",
         r.stderr)
    r = d.virsh("pool-undefine", "p1")
    t.ok(r.returncode == 0 and d.virsh("pool-list", "--all", "--name").stdout.split() ==
         ["default"], "pool-undefine; the transient pool is gone with its destroy", r.stderr)
except Exception as e:  # a crash is a failure, with its reason
    t.ok(False, "the test ran to its end", repr(e))
    d.dump_log()
finally:
    for name in ("volguest", "blkguest", "vi1"):
        d.virsh("destroy", name)
    if loopdev:
        subprocess.run(["losetup", "-d", loopdev], capture_output=True)
    d.cleanup(["volguest", "blkguest", "vi1"])
t.done()
