#!/usr/bin/python3
"""Foreign image formats on domain disks (issue #18): <driver type='vmdk'|'vdi'|'vpc'|'vhdx'|
'qed'> started by vireod, the test guest reading the disk.

Usage: test-daemon-disk-formats.py VIREOD VIREO_VMM TESTGUEST_ELF

Each image is made by the real qemu-img (convert of a 4 MiB pseudo-random raw file); the guest
(blk-crc32) prints the CRC-32 of its whole first virtio disk, which must be the CRC-32 of what
qemu-img reads back from the same image (a vpc image is rounded up to its CHS geometry, so the
expected bytes are qemu-img's, not the source file's). The VMM's command line names the format.
After the guest, qemu-img check finds every image clean (vpc has
no check). A format vireo-vmm has no driver for
(bochs) fails the start with one line, and nothing is left running. Prints TAP.
"""
import os
import random
import re
import subprocess
import sys
import zlib

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from daemonlib import Daemon, Tap, domain_xml, wait_for  # noqa: E402

VIREOD, VMM, GUEST = sys.argv[1:4]
GUEST = os.path.abspath(GUEST)
t = Tap()


def disk_xml(fmt, path):
    return (f"    <disk type='file' device='disk'><driver name='qemu' type='{fmt}'/>"
            f"<source file='{path}'/><target dev='vda' bus='virtio'/></disk>\n")


def guest_crc(d, name, devices):
    xml = d.write(name + ".xml", domain_xml(name, GUEST, "blk-crc32", devices))
    r = d.virsh("define", xml)
    if r.returncode != 0:
        return None, "define: " + r.stderr
    r = d.virsh("start", name)
    if r.returncode != 0:
        d.virsh("undefine", name)
        return None, "start: " + r.stderr
    wait_for(lambda: re.search(r"^crc32=[0-9a-f]{8}", d.console_log(name), re.M), 120, 0.2)
    m = re.search(r"^crc32=([0-9a-f]{8})", d.console_log(name), re.M)
    cmd = open(os.path.join(d.root, "log", name + ".log")).readline()
    d.virsh("destroy", name)
    d.virsh("undefine", name)
    return (m.group(1) if m else None), cmd


d = Daemon(VIREOD, VMM)
d.start()
try:
    rng = random.Random(18)
    src = os.path.join(d.tmp, "src.raw")
    with open(src, "wb") as f:
        f.write(bytes(rng.getrandbits(8) for _ in range(4 << 20)))
    for fmt in ("vmdk", "vdi", "vpc", "vhdx", "qed"):
        img = os.path.join(d.tmp, "disk." + fmt)
        subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", fmt, src, img], check=True)
        back = os.path.join(d.tmp, "back.raw")
        subprocess.run(["qemu-img", "convert", "-f", fmt, "-O", "raw", img, back], check=True)
        with open(back, "rb") as f:
            want = "%08x" % (zlib.crc32(f.read()) & 0xffffffff)
        os.unlink(back)
        got, cmd = guest_crc(d, "fmt" + fmt, disk_xml(fmt, img))
        t.ok(got == want, f"{fmt}: the guest reads what qemu-img reads ({got})",
             f"want {want}\n{cmd}")
        t.ok(f"format={fmt}," in cmd, f"{fmt}: the VMM's -drive says format={fmt}", cmd)
        if fmt == "vpc":
            continue  # qemu-img has no check for vpc
        r = subprocess.run(["qemu-img", "check", "-f", fmt, img], capture_output=True, text=True)
        t.ok(r.returncode == 0, f"{fmt}: qemu-img check finds the image clean after the guest",
             r.stdout + r.stderr)

    img = os.path.join(d.tmp, "disk.bochs")
    with open(img, "wb") as f:
        f.write(b"\0" * 4096)
    d.virsh("define", d.write("bochs.xml", domain_xml("bochs", GUEST, "blk-crc32",
                                                      disk_xml("bochs", img))))
    r = d.virsh("start", "bochs")
    t.ok(r.returncode != 0 and r.stderr.strip() ==
         "error: Failed to start domain 'bochs'\nerror: unsupported configuration: <driver "
         "type='bochs'> 'vda': only 'raw', 'qcow2', 'vmdk', 'vdi', 'vpc', 'vhdx' and 'qed' are "
         "supported", "an unsupported format fails the start in one line", r.stderr)
    t.ok(d.state("bochs").startswith("shut off"), "and the domain stays shut off",
         d.state("bochs"))
    d.virsh("undefine", "bochs")
finally:
    rc = d.stop()
t.ok(rc == 0, "vireod exits 0 (a sanitizer build: no leak, no error)", "rc %s" % rc)
t.done()
