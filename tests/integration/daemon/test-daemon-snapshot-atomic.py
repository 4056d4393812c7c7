#!/usr/bin/env python3
"""test-daemon-snapshot-atomic.py - external snapshots of several disks of a
running domain, all disks at once or none (vireo-vmm's QMP transaction).

  test-daemon-snapshot-atomic.py VIREOD VIREO_VMM TESTGUEST_ELF VSH VIREO_IMG

The continuity guest (tests=state) writes its first disk all along; the domain has a second
qcow2 disk. virsh snapshot-create-as --disk-only --atomic switches both disks to new
overlays (live and persistent definitions, qemu-img's view of the chains). Then vsh
snapshot-create-as --disk-only --atomic --reuse-external with the second overlay's file
write-locked by another process: the VMM finds the lock only when that disk switches, after
the first one did, and the transaction puts the first back: the command fails with one line
and both definitions still name the disks' images as before, the overlays given are left
alone (they were the caller's), and no snapshot metadata is added. The same with the stock
virsh. The guest's own final checks (memory, ticks, its disk's last acknowledged write) must
pass, and qemu-img check finds every image clean.

Prints TAP. Waits poll with generous limits; nothing asserts a timing.
"""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import Daemon, Tap, domain_xml, skip_all, state_ticks, wait_for  # noqa: E402

VIREOD, VMM, GUEST, VSH, IMG = sys.argv[1:6]
GUEST = os.path.abspath(GUEST)
TICKS = 300
t = Tap()
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("no /dev/kvm")
if not shutil.which("virsh"):
    skip_all("no virsh")


def disk_xml(path, dev):
    return f"""    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{path}'/>
      <target dev='{dev}' bus='virtio'/>
    </disk>
"""


def ticks(text):
    return state_ticks(text)


d = Daemon(VIREOD, VMM, VSH)
holder = None
try:
    d.start()
    a, b = os.path.join(d.tmp, "a.qcow2"), os.path.join(d.tmp, "b.qcow2")
    for p in (a, b):
        subprocess.run([IMG, "create", "-q", "-f", "qcow2", p, "16M"], check=True)
    xml = domain_xml("mx", GUEST, f"tests=state state_mib=8 seed=7 state_ticks={TICKS}",
                     disk_xml(a, "vda") + disk_xml(b, "vdb"), memory_mib=128)
    r = d.virsh("define", d.write("mx.xml", xml))
    assert r.returncode == 0, r.stderr
    r = d.virsh("start", "mx")
    t.ok(r.returncode == 0 and wait_for(lambda: "tick=2 " in d.console_log("mx"), 120),
         "the continuity guest runs on two disks", r.stderr + d.console_log("mx")[-300:])

    def blklist():
        return d.virsh("domblklist", "mx").stdout.split()

    def inactive():
        return d.virsh("dumpxml", "mx", "--inactive").stdout

    # ---- both disks at once ----
    r = d.virsh("snapshot-create-as", "mx", "s1", "--disk-only", "--atomic")
    a1, b1 = os.path.join(d.tmp, "a.s1"), os.path.join(d.tmp, "b.s1")
    t.ok(r.returncode == 0, "virsh snapshot-create-as --disk-only --atomic of two disks",
         r.stderr)
    t.ok(blklist() == ["vda", a1, "vdb", b1], "the live definition names both overlays",
         blklist())
    x = inactive()
    t.ok(f"<source file='{a1}'/>" in x and f"<source file='{b1}'/>" in x,
         "... and so does the persistent one", x)
    for ov, base in ((a1, a), (b1, b)):
        info = subprocess.run([IMG, "info", "-U", ov], capture_output=True, text=True).stdout
        t.ok(f"backing file: {base}" in info, f"{os.path.basename(ov)} is an overlay of "
             f"{os.path.basename(base)}", info)
    t.ok(d.vsh("snapshot-list", "mx", "--name").stdout.split() == ["s1"],
         "the snapshot's metadata is there")

    # ---- the second disk's overlay write-locked: neither disk switches ----
    a2, b2 = os.path.join(d.tmp, "a2.qcow2"), os.path.join(d.tmp, "b2.qcow2")
    for ov, base in ((a2, a1), (b2, b1)):
        subprocess.run([IMG, "create", "-q", "-f", "qcow2", "-u", "-b", base, "-F", "qcow2", ov,
                        "16M"], check=True)
    # the VMM runs as the daemon's configured user: let it open the overlays
    for ov in (a2, b2):
        os.chmod(ov, 0o666)
    # qemu-io holds b2 (its write lock; b2's backing file is opened without locks, -U).
    holder = subprocess.Popen(
        ["qemu-io", "--image-opts",
         f"driver=qcow2,file.filename={b2},backing.file.filename={b1},backing.driver=qcow2,"
         "backing.file.locking=off,backing.read-only=on"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    holder.stdin.write(b"help\n")
    holder.stdin.flush()
    first = holder.stdout.read1(200)
    t.ok(holder.poll() is None, "qemu-io holds the second overlay", first)
    sizes = (os.path.getsize(a2), os.path.getsize(b2))
    for client, name in ((d.vsh, "vsh"), (d.virsh, "virsh")):
        r = client("snapshot-create-as", "mx", "s2", "--disk-only", "--atomic",
                   "--reuse-external", "--diskspec", f"vda,file={a2}", "--diskspec",
                   f"vdb,file={b2}")
        t.ok(r.returncode == 1 and r.stderr.startswith("error: ") and "lock" in r.stderr,
             f"{name}: refused when the second disk switches", r.stderr)
        t.ok(blklist() == ["vda", a1, "vdb", b1],
             f"{name}: the live definition still names the disks' images", blklist())
        x = inactive()
        t.ok(f"<source file='{a1}'/>" in x and f"<source file='{b1}'/>" in x,
             f"{name}: the persistent one too", x)
        t.ok(d.vsh("snapshot-list", "mx", "--name").stdout.split() == ["s1"],
             f"{name}: no metadata for the refused snapshot")
        t.ok(os.path.exists(a2) and os.path.exists(b2),
             f"{name}: the overlays given with --reuse-external are left alone")
    holder.stdin.close()
    holder.wait(timeout=30)
    holder = None
    t.ok(d.state("mx") == "running (unpaused)" or d.state("mx").startswith("running"),
         "the domain runs on", d.state("mx"))

    # ---- the guest's checks ----
    ok = wait_for(lambda: "\n1..5\n" in d.console_log("mx"), 300)
    log = d.console_log("mx")
    d.virsh("destroy", "mx")
    seq = ticks(log)
    t.ok(ok and "not ok" not in log and "the last acknowledged disk write" in log and
         seq == list(range(1, TICKS + 1)),
         "the guest's continuity checks pass, its disk included", log[-800:])
    for img in (a, b, a1, b1):
        p = subprocess.run(["qemu-img", "check", img], capture_output=True, text=True)
        t.ok(p.returncode == 0 and "No errors were found" in p.stdout,
             f"qemu-img check {os.path.basename(img)}: clean", p.stdout + p.stderr)
    t.ok(os.path.getsize(a2) == sizes[0] and os.path.getsize(b2) == sizes[1],
         "the refused overlays were not written")
except Exception as e:  # noqa: BLE001 - report, then clean up
    t.ok(False, f"unexpected exception: {e!r}")
    d.dump_log()
finally:
    if holder:
        holder.kill()
    d.cleanup(["mx"])
t.done()
