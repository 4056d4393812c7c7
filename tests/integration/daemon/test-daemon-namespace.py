#!/usr/bin/env python3
"""test-daemon-namespace.py - qemu.conf's namespaces: the VMMs vireod starts run in a mount
namespace of their own with a private /dev, driven by the stock virsh.

  test-daemon-namespace.py VIREOD VIREO_VMM TESTGUEST_ELF VSH

 - namespaces = [ "pid" ]: vireod refuses to start, with libvirt's "Unknown namespace: pid".
 - namespaces = [ "mount" ] with user = "nobody": the VMM's /proc/PID/ns/mnt is not the
   daemon's; its /dev (read through /proc/PID/root/dev) holds exactly the expected entries
   (null, full, zero, random, urandom, ptmx, kvm, the fd/stdin/stdout/stderr links, the
   domain's block-device disk, and the host's devpts, shm, mqueue and hugepages mounts where
   the host has them), each node with the host's device number; no /dev/sda, /dev/mem, or
   any other loop device; the host's own /dev mount is unchanged. The guest's virtio-blk
   tests pass on the block-device disk (a loop device), whose backing file then holds the
   guest's writes. A live attach-disk of a second loop device makes its node in the VM's
   /dev (the VM user's, as DAC labelled it) and the guest reads it (CRC-32 as the host's);
   detach-disk removes the node again once the guest has let the device go.
   A CD-ROM medium changed live to a third loop device is made there too and opened.
   A disk whose /dev path does not exist is refused at start with one line, and the
   domain is left shut off with nothing running.
 - namespaces = []: the VMM shares the daemon's mount namespace and sees the host's /dev.
 - no namespaces key (the default, libvirt's for a root daemon): the VMM gets the private
   /dev, and the guest's virtio-blk tests pass on a file disk.
Prints TAP. Waits poll with generous limits; nothing asserts a timing.
"""
import binascii
import hashlib
import os
import pwd
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import Daemon, Tap, domain_xml, skip_all, wait_for  # noqa: E402

VIREOD, VMM, GUEST, VSH = sys.argv[1:5]
GUEST = os.path.abspath(GUEST)
t = Tap()
if os.geteuid() != 0 or not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("needs root and /dev/kvm")
if not shutil.which("virsh") or not shutil.which("losetup"):
    skip_all("no virsh or losetup")
nobody = pwd.getpwnam("nobody")
SECTORS = 64


def mount_points():
    """The host's mounts on /dev and under it (other tests running meanwhile may mount and
    unmount elsewhere, e.g. network namespaces under /run/netns)."""
    with open("/proc/self/mountinfo") as f:
        return {line.split()[4] for line in f
                if line.split()[4] == "/dev" or line.split()[4].startswith("/dev/")}


def dev_mount_line():
    with open("/proc/self/mountinfo") as f:
        return [line.split(" - ", 1)[1] for line in f if line.split()[4] == "/dev"]


def losetup(path):
    return subprocess.run(["losetup", "-f", "--show", path], capture_output=True,
                          text=True).stdout.strip()


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def ns_of(pid):
    return os.stat(f"/proc/{pid}/ns/mnt").st_ino


def expected_top(block_nodes, host_mounts):
    names = {"null", "full", "zero", "random", "urandom", "ptmx", "kvm",
             "fd", "stdin", "stdout", "stderr"}
    names |= {m for m in ("pts", "shm", "mqueue", "hugepages") if "/dev/" + m in host_mounts}
    names |= {os.path.basename(b) for b in block_nodes}
    return {n for n in names if n in ("fd", "stdin", "stdout", "stderr") or
            os.path.lexists("/dev/" + n)}


def disk(src, dev, kind="file", serial=None, fmt="raw", readonly=False):
    attr = "dev" if kind == "block" else "file"
    ser = f"      <serial>{serial}</serial>\n" if serial else ""
    ser += "      <readonly/>\n" if readonly else ""
    return f"""    <disk type='{kind}' device='disk'>
      <driver name='qemu' type='{fmt}'/>
      <source {attr}='{src}'/>
      <target dev='{dev}' bus='virtio'/>
{ser}    </disk>
"""


def start_daemon(config):
    d = Daemon(VIREOD, VMM, VSH)
    if config is not None:
        d.args = ["-f", d.write("vireod.conf", config)]
    d.start()
    return d


def refused_config():
    d = Daemon(VIREOD, VMM, VSH)
    try:
        cfg = d.write("vireod.conf", 'namespaces = [ "pid" ]\n')
        r = subprocess.run([VIREOD, "--root", d.root, "-f", cfg, "--timeout", "5"],
                           env=d.env, capture_output=True, text=True, timeout=30)
        t.ok(r.returncode != 0 and "Unknown namespace: pid" in r.stderr and
             len(r.stderr.strip().splitlines()) == 1,
             'namespaces = [ "pid" ]: vireod refuses to start with libvirt\'s words', r.stderr)
    finally:
        d.cleanup()


def run_mount(tmp):
    host_mounts = mount_points()
    host_dev = dev_mount_line()
    img = os.path.join(tmp, "blk.img")
    with open(img, "wb") as f:
        f.write(os.urandom(1 << 20))
    plug_img = os.path.join(tmp, "plug.img")
    data = bytes((i * 13 + i // 512) & 0xff for i in range(SECTORS * 512)) + bytes(64 * 1024)
    with open(plug_img, "wb") as f:
        f.write(data)
    want_crc = "%08x" % binascii.crc32(data[:SECTORS * 512])
    cd_img = os.path.join(tmp, "cd.img")
    with open(cd_img, "wb") as f:
        f.write(os.urandom(256 * 1024))
    loop = losetup(img)
    plug = losetup(plug_img)
    cd = losetup(cd_img)
    loops = [x for x in (loop, plug, cd) if x]
    d = start_daemon('namespaces = [ "mount" ]\nuser = "nobody"\n')
    names = ["jail", "missing"]
    try:
        t.ok(loop and plug and cd, "losetup made three loop devices",
             f"{loop!r} {plug!r} {cd!r}")
        if not (loop and plug and cd):
            return loops
        before = sha(img)
        devices = disk(loop, "vda", "block", "vireo-disk-1") + """    <disk type='file' device='cdrom'>
      <target dev='sdc' bus='scsi'/>
      <readonly/>
    </disk>
    <controller type='pci' model='pcie-root-port'/>
"""
        xml = d.write("jail.xml", domain_xml(
            "jail", GUEST, f"tests=blk,hotplug blk_serial=vireo-disk-1 "
            f"hotplug_sectors={SECTORS} hotplug_wait_s=170", devices))
        r = d.virsh("define", xml)
        t.ok(r.returncode == 0, "jail: virsh define (a loop device as vda)", r.stderr)
        r = d.virsh("start", "--paused", "jail")
        t.ok(r.returncode == 0, "jail: virsh start --paused", r.stderr + d.vmm_log("jail", 5))
        pid = d.vmm_pid("jail")
        if not pid:
            t.ok(False, "jail: the VMM runs", d.vmm_log("jail", 10))
            return loops
        t.ok(ns_of(pid) != ns_of(d.proc.pid),
             "jail: the VMM's mount namespace is not the daemon's",
             f"{ns_of(pid)} {ns_of(d.proc.pid)}")
        root_dev = f"/proc/{pid}/root/dev"
        got = set(os.listdir(root_dev))
        want = expected_top([loop], host_mounts)
        t.ok(got == want, "jail: the VM's /dev holds exactly the expected entries",
             f"got {sorted(got)}\nwant {sorted(want)}")
        t.ok(not any(os.path.lexists(os.path.join(root_dev, n))
                     for n in ("sda", "mem", "kmsg", "loop-control", os.path.basename(plug),
                               os.path.basename(cd))),
             "jail: no /dev/sda, /dev/mem, /dev/kmsg, /dev/loop-control, nor the other loop "
             "device", sorted(got))
        same = True
        why = []
        for n in sorted(got):
            p, h = os.path.join(root_dev, n), "/dev/" + n
            st = os.lstat(p)
            if n in ("fd", "stdin", "stdout", "stderr"):
                ok = os.path.islink(p) and os.readlink(p).startswith("/proc/self/fd")
            elif n in ("pts", "shm", "mqueue", "hugepages"):
                ok = os.path.isdir(p) and os.stat(p).st_dev == os.stat(h).st_dev
            else:
                hs = os.lstat(h)
                ok = (st.st_mode, st.st_rdev, st.st_uid, st.st_gid) == \
                    (hs.st_mode, hs.st_rdev, hs.st_uid, hs.st_gid)
            if not ok:
                same = False
                why.append(n)
        t.ok(same, "jail: each node has the host's type, device number, owner and mode; "
             "devpts, shm (and mqueue, hugepages where mounted) are the host's own mounts", why)
        ls = os.lstat(os.path.join(root_dev, os.path.basename(loop)))
        t.ok((ls.st_uid, ls.st_gid) == (nobody.pw_uid, nobody.pw_gid),
             "jail: the disk's node is the VM user's (nobody), as DAC labelled it",
             f"{ls.st_uid}:{ls.st_gid}")
        t.ok(dev_mount_line() == host_dev and mount_points() == host_mounts,
             "jail: the host's mounts on /dev are unchanged (its /dev is still its own)",
             f"{dev_mount_line()} {host_dev}")
        r = d.virsh("resume", "jail")
        t.ok(r.returncode == 0, "jail: virsh resume", r.stderr)

        def console():
            c = d.console_log("jail")
            return c[:c.rfind("\n") + 1]
        wait_for(lambda: "hotplug: ready" in console(), 240, 0.2)
        log = console()
        bad = re.findall(r"^not ok .*$", log, re.M)
        oks = re.findall(r"^ok \d+ - virtio-blk", log, re.M)
        t.ok(oks and not bad and "hotplug: ready" in log,
             "jail: the guest's virtio-blk tests pass on the loop device in the private /dev",
             log[-1500:] + d.vmm_log("jail", 10))
        t.ok(sha(img) != before, "jail: the guest's writes reached the loop device's file")
        r = d.virsh("attach-disk", "jail", plug, "vdb", "--live")
        t.ok(r.returncode == 0, "jail: virsh attach-disk of a loop device --live", r.stderr)
        pn = os.path.join(root_dev, os.path.basename(plug))
        ps = os.lstat(pn) if os.path.lexists(pn) else None
        hs = os.stat(plug)
        t.ok(ps and ps.st_rdev == hs.st_rdev and (ps.st_uid, ps.st_gid) ==
             (nobody.pw_uid, nobody.pw_gid),
             "jail: the plugged device's node is made in the VM's /dev, the VM user's",
             f"{ps}")
        wait_for(lambda: "hotplug: blk crc32=" in console(), 180, 0.2)
        m = re.search(r"hotplug: blk crc32=([0-9a-f]{8})", console())
        t.ok(m and m.group(1) == want_crc,
             "jail: the guest reads the hot-plugged loop device (its CRC-32 is the host's)",
             f"want {want_crc}\n" + console()[-1500:] + d.vmm_log("jail", 10))
        # The guest releases the disk when told: its node leaves the VM's /dev.
        wait_for(lambda: "hotplug: used" in console(), 120, 0.2)
        r = d.virsh("detach-disk", "jail", "vdb", "--live")
        wait_for(lambda: not os.path.lexists(pn), 120, 0.2)
        t.ok(r.returncode == 0 and not os.path.lexists(pn) and os.path.lexists(plug),
             "jail: detach-disk --live: the node leaves the VM's /dev (the host keeps its own)",
             r.stderr + console()[-800:])
        # A CD-ROM medium that is a device: made in the VM's /dev before the VMM opens it.
        r = d.virsh("change-media", "jail", "sdc", cd, "--insert", "--live")
        cn = os.path.join(root_dev, os.path.basename(cd))
        t.ok(r.returncode == 0 and os.path.lexists(cn) and
             os.lstat(cn).st_rdev == os.stat(cd).st_rdev and cd in d.virsh("dumpxml",
                                                                           "jail").stdout,
             "jail: change-media --insert of a loop device: its node is made in the VM's /dev "
             "and the VMM opens it", r.stderr + d.vmm_log("jail", 5))
        d.virsh("destroy", "jail")
        wait_for(lambda: d.state("jail").startswith("shut off"), 60, 0.1)
        s = os.stat(loop)
        t.ok(d.state("jail").startswith("shut off") and (s.st_uid, s.st_gid) == (0, 0),
             "jail: destroyed; the loop device is root's again", f"{s.st_uid}:{s.st_gid}")

        # A /dev path that does not exist: refused before anything runs (read-only, so that
        # it is the private /dev that finds it missing, not the DAC labelling).
        xml = d.write("missing.xml", domain_xml(
            "missing", GUEST, "tests=none",
            disk("/dev/vireo-no-such-disk", "vda", "block", readonly=True)))
        d.virsh("define", xml)
        r = d.virsh("start", "missing")
        lines = [x for x in r.stderr.splitlines()
                 if x.strip() and "Failed to start domain" not in x]
        t.ok(r.returncode != 0 and "/dev/vireo-no-such-disk" in r.stderr and len(lines) == 1 and
             d.state("missing").startswith("shut off") and not d.vmm_pid("missing") and
             mount_points() == host_mounts,
             "missing: a disk whose /dev node does not exist is refused with one line; "
             "nothing runs", r.stderr)
    finally:
        if t.failed:
            d.dump_log()
        d.cleanup(names)
    return loops


def run_shared(tmp):
    d = start_daemon("namespaces = []\n")
    try:
        img = os.path.join(tmp, "shared.img")
        with open(img, "wb") as f:
            f.truncate(1 << 20)
        xml = d.write("shared.xml", domain_xml("shared", GUEST, "tests=none", disk(img, "vda")))
        d.virsh("define", xml)
        r = d.virsh("start", "--paused", "shared")
        pid = d.vmm_pid("shared")
        t.ok(r.returncode == 0 and pid and ns_of(pid) == ns_of(d.proc.pid) and
             os.path.lexists(f"/proc/{pid}/root/dev/loop-control") == os.path.lexists(
                 "/dev/loop-control") and
             set(os.listdir(f"/proc/{pid}/root/dev")) == set(os.listdir("/dev")),
             "namespaces = []: the VMM shares the daemon's mount namespace and /dev",
             r.stderr)
        d.virsh("destroy", "shared")
    finally:
        if t.failed:
            d.dump_log()
        d.cleanup(["shared"])


def run_default(tmp):
    d = start_daemon(None)
    try:
        img = os.path.join(tmp, "file.img")
        with open(img, "wb") as f:
            f.write(os.urandom(256 * 1024))
        xml = d.write("dflt.xml", domain_xml("dflt", GUEST, "tests=blk blk_serial=vireo-disk-1",
                                             disk(img, "vda", serial="vireo-disk-1")))
        d.virsh("define", xml)
        r = d.virsh("start", "dflt")
        pid = d.vmm_pid("dflt")
        t.ok(r.returncode == 0 and pid and ns_of(pid) != ns_of(d.proc.pid) and
             not os.path.lexists(f"/proc/{pid}/root/dev/loop-control"),
             "default (no namespaces key): the VMM has its own mount namespace and /dev",
             r.stderr)
        wait_for(lambda: re.search(r"^1\.\.\d+", d.console_log("dflt"), re.M), 180, 0.2)
        log = d.console_log("dflt")
        t.ok(re.search(r"^ok \d+ - virtio-blk", log, re.M) and
             not re.search(r"^not ok", log, re.M),
             "default: the guest's virtio-blk tests pass on a file disk", log[-1500:])
        d.virsh("destroy", "dflt")
    finally:
        if t.failed:
            d.dump_log()
        d.cleanup(["dflt"])


tmp = Daemon(VIREOD, VMM, VSH).tmp
os.chmod(tmp, 0o711)
loops = []
try:
    refused_config()
    loops = run_mount(tmp)
    run_shared(tmp)
    run_default(tmp)
finally:
    for lo in loops:
        subprocess.run(["losetup", "-d", lo])
    shutil.rmtree(tmp, ignore_errors=True)
t.done()
