#!/usr/bin/env python3
"""test-daemon-confine.py - VMs that vireod starts run confined (qemu.conf's
seccomp_sandbox, user and group keys), driven by the stock virsh.

  test-daemon-confine.py VIREOD VIREO_VMM TESTGUEST_ELF VSH

With `user = "nobody"` in the configuration and seccomp_sandbox left at its
default (on):
 - vireo-vmm gets libvirt's -sandbox argument and -runas;
 - the running VMM (started paused) is nobody's in every uid and gid, has no
   groups and no capabilities, and is filtered (Seccomp: 2, NoNewPrivs: 1);
 - the writable disk image belongs to nobody while the VM runs, with its
   previous owner (1234:5678 here) remembered in trusted.vireo.security.dac;
   a read-only disk keeps its owner;
 - the guest's virtio-blk tests pass (reads, writes, flush, discard) confined;
 - the security models as libvirt's QEMU driver reports them without a MAC
   driver: virsh dominfo's "Security model: none" and "Security DOI: 0" (vsh
   prints the same), the capabilities' none and dac secmodels with the
   user's +UID:+GID base labels, and the live XML's
   <seclabel type='dynamic' model='dac' relabel='yes'> with that label;
 - when the VM is destroyed, the image belongs to 1234:5678 again and the attributes
   are gone.
With seccomp_sandbox = 0 and no user, the VMM runs without a filter, as root.
Static DAC labels (no user in the configuration): a domain's
<seclabel type='static' model='dac' relabel='yes'><label>+1234:+5678</label>
makes its VMM run as 1234:5678 with its root-owned image given to that user
while it runs and back to root after; relabel left at libvirt's default (no)
leaves the image as it is; libvirt-python's securityLabelList() gives the
none and dac labels of a running domain (none for an inactive one); a label
without a colon and an unknown user are refused at start with libvirt's words.
Prints TAP. Waits poll with generous limits; nothing asserts a timing.
"""
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
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("no /dev/kvm")
if not shutil.which("virsh"):
    skip_all("no virsh")
nobody = pwd.getpwnam("nobody")


def status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            fields[k] = v.strip()
    return fields


def xattr(path, key):
    try:
        return os.getxattr(path, key).decode()
    except OSError:
        return None


def run(config, name, check_confined):
    d = Daemon(VIREOD, VMM, VSH)
    try:
        cfg = d.write("vireod.conf", config)
        d.args = ["-f", cfg]
        d.start()
        disk = os.path.join(d.tmp, "disk.raw")
        with open(disk, "wb") as f:
            f.write(os.urandom(256 * 1024))
        os.chown(disk, 1234, 5678)
        os.chmod(disk, 0o600)
        ro = os.path.join(d.tmp, "ro.raw")
        with open(ro, "wb") as f:
            f.write(os.urandom(64 * 1024))
        os.chown(ro, 1234, 5678)
        devices = f"""    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
      <serial>vireo-disk-1</serial>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{ro}'/>
      <target dev='vdb' bus='virtio'/>
      <readonly/>
    </disk>
    <controller type='pci' model='pcie-root-port'/>
"""
        xml = d.write(name + ".xml", domain_xml(name, GUEST, "tests=blk blk_serial=vireo-disk-1",
                                                devices))
        r = d.virsh("define", xml)
        t.ok(r.returncode == 0, f"{name}: virsh define", r.stderr)
        r = d.virsh("start", "--paused", name)
        t.ok(r.returncode == 0, f"{name}: virsh start --paused", r.stderr)
        pid = d.vmm_pid(name)
        st = status(pid) if pid else {}
        cmd = open(os.path.join(d.root, "log", name + ".log")).readline()
        if check_confined:
            t.ok("-sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,"
                 "resourcecontrol=deny" in cmd and
                 f"-runas {nobody.pw_uid}:{nobody.pw_gid}" in cmd,
                 f"{name}: vireo-vmm gets libvirt's -sandbox argument and -runas", cmd)
            want_u = [str(nobody.pw_uid)] * 4
            want_g = [str(nobody.pw_gid)] * 4
            t.ok(st.get("Uid", "").split() == want_u and st.get("Gid", "").split() == want_g
                 and st.get("Groups") == "",
                 f"{name}: the VMM runs as nobody (every uid and gid), without groups",
                 f"Uid {st.get('Uid')} Gid {st.get('Gid')} Groups {st.get('Groups')!r}")
            t.ok(all(st.get(k) == "0000000000000000"
                     for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")),
                 f"{name}: the VMM has no capabilities (CapEff, CapPrm, CapBnd ... 0)",
                 {k: st.get(k) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")})
            t.ok(st.get("Seccomp") == "2" and st.get("NoNewPrivs") == "1",
                 f"{name}: the VMM is filtered (Seccomp: 2, NoNewPrivs: 1)",
                 f"Seccomp {st.get('Seccomp')} NoNewPrivs {st.get('NoNewPrivs')}")
            s = os.stat(disk)
            t.ok((s.st_uid, s.st_gid) == (nobody.pw_uid, nobody.pw_gid) and
                 xattr(disk, "trusted.vireo.security.dac") == "+1234:+5678" and
                 xattr(disk, "trusted.vireo.security.ref_dac") == "1",
                 f"{name}: the writable image is nobody's while the VM runs; its owner is "
                 "remembered", f"{s.st_uid}:{s.st_gid} "
                 f"{xattr(disk, 'trusted.vireo.security.dac')}")
            s = os.stat(ro)
            t.ok((s.st_uid, s.st_gid) == (1234, 5678) and
                 xattr(ro, "trusted.vireo.security.dac") is None,
                 f"{name}: the read-only image keeps its owner", f"{s.st_uid}:{s.st_gid}")
        else:
            t.ok("-sandbox" not in cmd and "-runas" not in cmd,
                 f"{name}: seccomp_sandbox = 0: no -sandbox, no -runas", cmd)
            t.ok(st.get("Seccomp") == "0" and st.get("Uid", "").split()[:1] == ["0"],
                 f"{name}: the VMM runs unfiltered, as root",
                 f"Seccomp {st.get('Seccomp')} Uid {st.get('Uid')}")
            s = os.stat(disk)
            t.ok((s.st_uid, s.st_gid) == (1234, 5678),
                 f"{name}: no user: the image keeps its owner", f"{s.st_uid}:{s.st_gid}")
        uid, gid = (nobody.pw_uid, nobody.pw_gid) if check_confined else (0, 0)
        info = d.virsh("dominfo", name)
        vinfo = d.vsh("dominfo", name)
        t.ok(info.returncode == 0 and
             "Security model: none\nSecurity DOI:   0\n" in info.stdout and
             "Security label" not in info.stdout,
             f"{name}: virsh dominfo: Security model none, DOI 0", info.stdout + info.stderr)
        t.ok(vinfo.returncode == 0 and vinfo.stdout == info.stdout,
             f"{name}: vsh dominfo prints the same", vinfo.stdout + vinfo.stderr)
        live = d.virsh("dumpxml", name).stdout
        t.ok(f"  <seclabel type='dynamic' model='dac' relabel='yes'>\n"
             f"    <label>+{uid}:+{gid}</label>\n"
             f"    <imagelabel>+{uid}:+{gid}</imagelabel>\n"
             f"  </seclabel>\n" in live and
             "seclabel" not in d.virsh("dumpxml", "--inactive", name).stdout,
             f"{name}: the live XML has libvirt's DAC label +{uid}:+{gid} (not the inactive one)",
             live[-600:])
        caps = d.virsh("capabilities").stdout
        t.ok("<secmodel>\n      <model>none</model>\n      <doi>0</doi>\n    </secmodel>" in caps
             and f"<model>dac</model>\n      <doi>0</doi>\n      <baselabel type='kvm'>"
             f"+{uid}:+{gid}</baselabel>\n      <baselabel type='qemu'>+{uid}:+{gid}"
             "</baselabel>" in caps,
             f"{name}: capabilities: the none and dac security models (+{uid}:+{gid})", caps)
        r = d.virsh("resume", name)
        t.ok(r.returncode == 0, f"{name}: virsh resume", r.stderr)
        wait_for(lambda: re.search(r"^1\.\.\d+", d.console_log(name), re.M), 120, 0.2)
        log = d.console_log(name)
        bad = re.findall(r"^not ok .*$", log, re.M)
        oks = re.findall(r"^ok \d+ - virtio-blk", log, re.M)
        t.ok(re.search(r"^1\.\.\d+", log, re.M) and oks and not bad,
             f"{name}: the guest's virtio-blk tests pass", log[-1500:] + d.vmm_log(name, 10))
        # A disk plugged in later is opened by the VMM after it dropped root: root's 0600
        # image must become the VM user's first (its directory must let the user reach it, as
        # with libvirt).
        os.chmod(d.tmp, 0o711)
        plug = os.path.join(d.tmp, "plug.raw")
        with open(plug, "wb") as f:
            f.write(os.urandom(64 * 1024))
        os.chmod(plug, 0o600)
        r = d.virsh("attach-disk", name, plug, "vdc", "--live")
        s = os.stat(plug)
        t.ok(r.returncode == 0 and (s.st_uid, s.st_gid) == ((nobody.pw_uid, nobody.pw_gid)
                                                             if check_confined else (0, 0)),
             f"{name}: a live attach-disk of root's 0600 image works; the image is the VMM "
             "user's", f"{r.stderr} {s.st_uid}:{s.st_gid}")
        r = d.virsh("destroy", name)
        wait_for(lambda: d.state(name).startswith("shut off"), 60, 0.1)
        t.ok(r.returncode == 0 and d.state(name).startswith("shut off"),
             f"{name}: virsh destroy ends it", r.stderr + d.state(name))
        s = os.stat(plug)
        t.ok((s.st_uid, s.st_gid) == (0, 0) and xattr(plug, "trusted.vireo.security.dac") is None,
             f"{name}: the plugged image is root's again after the end", f"{s.st_uid}:{s.st_gid}")
        s = os.stat(disk)
        t.ok((s.st_uid, s.st_gid) == (1234, 5678) and
             xattr(disk, "trusted.vireo.security.dac") is None and
             xattr(disk, "trusted.vireo.security.ref_dac") is None,
             f"{name}: after the end the image is 1234:5678's again, attributes removed",
             f"{s.st_uid}:{s.st_gid} {xattr(disk, 'trusted.vireo.security.dac')}")
    finally:
        if t.failed:
            d.dump_log()
        d.cleanup([name])


def label_list(d, name):
    """virDomainGetSecurityLabelList through libvirt-python (Debian's python3)."""
    r = subprocess.run(["/usr/bin/python3", "-c",
                        "import libvirt, sys; c = libvirt.open(sys.argv[1]); "
                        "print(c.lookupByName(sys.argv[2]).securityLabelList())",
                        d.uri, name], capture_output=True, text=True)
    return r.stdout.strip() or r.stderr.strip()


def run_static():
    d = Daemon(VIREOD, VMM, VSH)
    names = ["static1", "static2", "badlabel1", "badlabel2"]
    try:
        d.start()
        disk = os.path.join(d.tmp, "disk.raw")
        with open(disk, "wb") as f:
            f.write(os.urandom(256 * 1024))
        os.chmod(disk, 0o600)
        devices = f"""    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
      <serial>vireo-disk-1</serial>
    </disk>
"""

        def define(name, seclabel):
            xml = d.write(name + ".xml", domain_xml(name, GUEST, "tests=blk blk_serial=vireo-disk-1",
                                                    devices, extra=seclabel))
            return d.virsh("define", xml)

        r = define("static1", "  <seclabel type='static' model='dac' relabel='yes'>\n"
                              "    <label>+1234:+5678</label>\n  </seclabel>\n")
        t.ok(r.returncode == 0, "static1: virsh define with a static DAC label", r.stderr)
        t.ok(label_list(d, "static1") == "[]",
             "securityLabelList of an inactive domain is empty", label_list(d, "static1"))
        r = d.virsh("start", "static1")
        t.ok(r.returncode == 0, "static1: virsh start", r.stderr)
        pid = d.vmm_pid("static1")
        st = status(pid) if pid else {}
        cmd = open(os.path.join(d.root, "log", "static1.log")).readline()
        t.ok("-runas 1234:5678" in cmd and st.get("Uid", "").split() == ["1234"] * 4 and
             st.get("Gid", "").split() == ["5678"] * 4,
             "static1: the VMM runs as the label's 1234:5678",
             f"Uid {st.get('Uid')} Gid {st.get('Gid')} {cmd[-300:]}")
        s = os.stat(disk)
        t.ok((s.st_uid, s.st_gid) == (1234, 5678) and
             xattr(disk, "trusted.vireo.security.dac") == "+0:+0",
             "static1: relabel='yes' gives the image to 1234:5678, root remembered",
             f"{s.st_uid}:{s.st_gid}")
        got = label_list(d, "static1")
        t.ok(got == "[['', False], ['+1234:+5678', False]]",
             "securityLabelList: the none driver's empty label, then DAC's +1234:+5678", got)
        wait_for(lambda: re.search(r"^1\.\.\d+\r?\n", d.console_log("static1"), re.M), 120, 0.2)
        log = d.console_log("static1")
        t.ok(re.search(r"^ok \d+ - virtio-blk", log, re.M) and
             not re.search(r"^not ok", log, re.M),
             "static1: the guest's virtio-blk tests pass as 1234:5678", log[-1500:])
        d.virsh("destroy", "static1")
        wait_for(lambda: d.state("static1").startswith("shut off"), 60, 0.1)
        s = os.stat(disk)
        t.ok((s.st_uid, s.st_gid) == (0, 0) and
             xattr(disk, "trusted.vireo.security.dac") is None,
             "static1: after the end the image is root's again", f"{s.st_uid}:{s.st_gid}")
        os.chown(disk, 1234, 5678)
        r = define("static2", "  <seclabel type='static' model='dac'>\n"
                              f"    <label>nobody:+{nobody.pw_gid}</label>\n  </seclabel>\n")
        r = d.virsh("start", "--paused", "static2")
        pid = d.vmm_pid("static2")
        st = status(pid) if pid else {}
        s = os.stat(disk)
        t.ok(r.returncode == 0 and st.get("Uid", "").split()[:1] == [str(nobody.pw_uid)] and
             (s.st_uid, s.st_gid) == (1234, 5678),
             "static2: a user name in the label; relabel left at its default (no) leaves the "
             "image's owner", f"{r.stderr} Uid {st.get('Uid')} {s.st_uid}:{s.st_gid}")
        d.virsh("destroy", "static2")
        for name, label, want in (
                ("badlabel1", "+1234", "Failed to parse uid and gid from '+1234'"),
                ("badlabel2", "vireo-no-such-user:+5",
                 "Failed to parse user 'vireo-no-such-user'")):
            define(name, f"  <seclabel type='static' model='dac'><label>{label}</label>"
                         "</seclabel>\n")
            r = d.virsh("start", name)
            t.ok(r.returncode != 0 and want in r.stderr and d.state(name).startswith("shut off"),
                 f"{name}: a static label {label!r} is refused with libvirt's words", r.stderr)
    finally:
        if t.failed:
            d.dump_log()
        d.cleanup(names)


run('user = "nobody"\n', "confined", True)
run("seccomp_sandbox = 0\n", "unconfined", False)
run_static()
t.done()
