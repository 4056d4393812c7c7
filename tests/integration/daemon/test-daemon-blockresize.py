#!/usr/bin/python3
"""virDomainBlockResize through vireod with the stock virsh (`virsh blockresize`), compared with
the reference libvirtd and its QEMU.

Usage: test-daemon-blockresize.py VIREOD VIREO_VMM TEST_GUEST_ELF

A paused domain with a raw disk (vda) and a qcow2 disk (vdb) of 1 MiB each: blockresize grows
vda to 2 MiB (virsh's KiB call) and the file and the VMM's query-block say so; vdb, named by its
source path, to 3000001 bytes (virsh's BYTES call) becomes 3000320 bytes, rounded up to 512 as
libvirt does, in `qemu-img info`. Refused in libvirt's words: a disk the domain lacks, a domain
that is not running. The same calls on the same disks under the reference libvirtd give the
same sizes and the same error lines.
"""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                "scripts"))
from daemonlib import Daemon, Tap, domain_xml, skip_all  # noqa: E402

VIREOD, VMM, GUEST = sys.argv[1:4]
GUEST = os.path.abspath(GUEST)
MIB = 1 << 20
t = Tap()
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("no /dev/kvm")
if not shutil.which("virsh") or not shutil.which("qemu-img"):
    skip_all("no virsh or qemu-img")
d = Daemon(VIREOD, VMM)
names = []


def make_disks(where):
    raw, qcow = os.path.join(where, "br.raw"), os.path.join(where, "br.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", raw, str(MIB)], check=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", qcow, str(MIB)], check=True)
    devices = ("    <disk type='file' device='disk'><driver name='qemu' type='raw'/>"
               f"<source file='{raw}'/><target dev='vda' bus='virtio'/></disk>\n"
               "    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
               f"<source file='{qcow}'/><target dev='vdb' bus='virtio'/></disk>\n")
    return raw, qcow, devices


def virtual_size(path):
    r = subprocess.run(["qemu-img", "info", "-U", "--output=json", path], capture_output=True,
                       text=True)
    try:
        return json.loads(r.stdout)["virtual-size"]
    except (ValueError, KeyError):
        return r.stdout + r.stderr


def exercise(virsh, where, tag):
    """The same calls on a fresh domain; what each gave, for the comparison."""
    raw, qcow, devices = make_disks(where)
    x = os.path.join(where, "br.xml")
    with open(x, "w") as f:
        f.write(domain_xml("br", GUEST, "tests=none", devices))
    out = {}
    r = virsh("define", x)
    t.ok(r.returncode == 0, f"{tag}: define", r.stderr)
    r = virsh("blockresize", "br", "vda", "2M")
    out["inactive"] = r.stderr.strip()
    t.ok(r.returncode != 0 and "domain is not running" in r.stderr,
         f"{tag}: a domain that is not running is refused", r.stderr)
    r = virsh("start", "--paused", "br")
    t.ok(r.returncode == 0, f"{tag}: start --paused", r.stderr)
    r = virsh("blockresize", "br", "vda", "2M")
    out["raw"] = os.path.getsize(raw)
    t.ok(r.returncode == 0 and out["raw"] == 2 * MIB,
         f"{tag}: vda grows to 2 MiB (the file's size)", (r.stderr, out["raw"]))
    r = virsh("blockresize", "br", qcow, "3000001B")
    out["qcow2"] = virtual_size(qcow)
    t.ok(r.returncode == 0 and out["qcow2"] == 3000320,
         f"{tag}: vdb by its path, 3000001 bytes rounded up to 3000320 (qemu-img info)",
         (r.stderr, out["qcow2"]))
    r = virsh("blockresize", "br", "vdz", "2M")
    out["unknown"] = r.stderr.strip()
    t.ok(r.returncode != 0 and "vdz" in r.stderr, f"{tag}: a disk the domain lacks is refused",
         r.stderr)
    virsh("destroy", "br")
    virsh("undefine", "br")
    return out


def main():
    d.start()
    names.append("br")
    got = exercise(d.virsh, d.tmp, "vireod")
    # again, for the VMM's own view of the sizes
    x = d.write("br2.xml", domain_xml("br", GUEST, "tests=none", make_disks(d.tmp)[2]))
    d.virsh("define", x)
    d.virsh("start", "--paused", "br")
    d.virsh("blockresize", "br", "vda", "4M")
    r = d.virsh("qemu-monitor-command", "br", json.dumps({"execute": "query-block"}))
    try:
        sizes = {b["device"]: b["inserted"]["image"]["virtual-size"]
                 for b in json.loads(r.stdout)["return"]}
    except (ValueError, KeyError, TypeError):
        sizes = r.stdout + r.stderr
    t.ok(isinstance(sizes, dict) and sizes.get("drive-virtio-disk0") == 4 * MIB and
         sizes.get("drive-virtio-disk1") == MIB,
         "the VMM's query-block has vda's new size, vdb's untouched", sizes)

    import libvirtd_ref  # noqa: E402
    refdir = os.path.join(d.tmp, "ref")
    os.mkdir(refdir)
    with libvirtd_ref.LibvirtdRef() as ref:
        env = dict(os.environ, LC_ALL="C")

        def ref_virsh(*args):
            return subprocess.run(["virsh", "-q", "-c", ref.uri] + list(args), env=env,
                                  capture_output=True, text=True, timeout=120)
        want = exercise(ref_virsh, refdir, "libvirtd")
    for k in ("inactive", "unknown"):
        t.ok(got[k] == want[k], f"the error line for '{k}' is libvirtd's",
             {"vireod": got[k], "libvirtd": want[k]})
    t.ok((got["raw"], got["qcow2"]) == (want["raw"], want["qcow2"]),
         "the sizes are libvirtd's", (got, want))


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
