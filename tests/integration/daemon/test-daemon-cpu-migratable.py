#!/usr/bin/python3
"""<cpu mode='host-passthrough' migratable='on|off'> through vireod (issue #16).

Usage: test-daemon-cpu-migratable.py VIREOD VIREO_VMM TEST_GUEST_ELF

vireo-vmm runs with -cpu host,migratable=off (or =on) as libvirt's QEMU driver passes it; the
test guest's CPUID dump (tests=cpuid) shows the invariant TSC (CPUID 0x80000007 EDX bit 8)
with migratable='off' exactly when the host's KVM offers it (as QEMU does), and never with
migratable='on'; a migration of the migratable='off' domain is refused with libvirt's line
for QEMU's blocker when the guest sees it.
"""
import fcntl
import os
import re
import shutil
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import Daemon, Tap, domain_xml, skip_all, wait_for  # noqa: E402

VIREOD, VMM, GUEST = sys.argv[1:4]
GUEST = os.path.abspath(GUEST)
t = Tap()
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("no /dev/kvm")
if not shutil.which("virsh"):
    skip_all("no virsh")
d = Daemon(VIREOD, VMM)


def kvm_offers_invtsc():
    """KVM_GET_SUPPORTED_CPUID's 0x80000007 EDX bit 8."""
    n = 256
    buf = bytearray(struct.pack("II", n, 0) + bytes(40 * n))
    fd = os.open("/dev/kvm", os.O_RDWR)
    try:
        fcntl.ioctl(fd, 0xc008ae05, buf)  # KVM_GET_SUPPORTED_CPUID
    finally:
        os.close(fd)
    nent = struct.unpack_from("I", buf, 0)[0]
    for i in range(nent):
        fn, idx, _, eax, ebx, ecx, edx = struct.unpack_from("IIIIIII", buf, 8 + 40 * i)
        if fn == 0x80000007 and idx == 0:
            return bool(edx & (1 << 8))
    return False


def leaf(name):
    m = re.search(r"# cpuid 80000007\.0: \S+ \S+ \S+ (\S+)", d.console_log(name))
    return int(m.group(1), 16) if m else None


def main():
    d.start()
    host = kvm_offers_invtsc()
    t.diag("the host's KVM offers invtsc: %s" % host)
    for mig in ("off", "on"):
        name = "mig" + mig
        xml = domain_xml(name, GUEST, "tests=cpuid").replace(
            "<os>", "<cpu mode='host-passthrough' migratable='%s'/>\n  <os>" % mig)
        r = d.virsh("define", d.write(name + ".xml", xml))
        r = d.virsh("start", name)
        t.ok(r.returncode == 0, "start a host-passthrough domain with migratable='%s'" % mig,
             r.stderr)
        argv = open(os.path.join(d.root, "log", name + ".log")).read().splitlines()[-1]
        t.ok("-cpu host,migratable=%s " % mig in argv, "-cpu host,migratable=%s" % mig, argv)
        wait_for(lambda: leaf(name) is not None, 120)
        edx = leaf(name)
        want = host and mig == "off"
        t.ok(edx is not None and bool(edx & (1 << 8)) == want,
             "the guest's CPUID 0x80000007 EDX: invtsc %s" % ("shown" if want else "hidden"),
             d.console_log(name)[-1500:])
    r = d.virsh("migrate", "--live", "--p2p", "migoff",
                "qemu+unix:///system?socket=" + os.path.join(d.tmp, "nowhere"))
    if host:
        t.ok(r.returncode != 0 and "cannot migrate domain: State blocked by non-migratable CPU "
             "device (invtsc flag)" in r.stderr and "running" in d.state("migoff"),
             "migrate of the migratable='off' domain: refused with libvirt's line, it runs on",
             r.stderr)
    else:
        t.ok(r.returncode != 0 and "invtsc" not in r.stderr,
             "no invariant TSC here: the migration is not refused for it", r.stderr)
    for name in ("migoff", "migon"):
        d.virsh("destroy", name)


try:
    main()
finally:
    d.stop()
t.done()
