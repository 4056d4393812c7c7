#!/usr/bin/python3
"""test-daemon-firmware-efi.py - <os firmware='efi'> through vireod as libvirt 9.0 does it
(issue #15): firmware autoselection from QEMU's firmware descriptors, the live XML, the
variable store, undefine's nvram flags, and the same domain under the reference libvirtd.

  test-daemon-firmware-efi.py VIREOD VIREO_VMM

- domcapabilities' <os> for pc is libvirtd's (firmware efi, Debian's OVMF_CODE_4M.fd);
- a pc domain with firmware='efi' started paused: its live <os> is libvirtd's for the same
  XML (loader, nvram with its template; the store in vireod's nvram directory), the store a
  copy of the template, vireo-vmm's argv has both pflash drives;
- let run, OVMF stops on this machine's nested KVM at an FPU instruction its emulator lacks:
  the test records where, for vireo-vmm and for QEMU under libvirtd (same configuration),
  and both stops must be the emulator's, in the same few bytes of OVMF's SEC code;
- q35: vireod picks the build without SMM (libvirt the Secure Boot one, with SMM, which
  vireo-vmm does not have);
- a descriptor under DIR/etc/qemu/firmware comes first by name, and an empty file there hides
  Debian's of that name;
- refusals in libvirt's words: no ACPI, Secure Boot asked for, no firmware found;
- undefine: refused while the store exists, --keep-nvram keeps it, --nvram removes it.
Prints TAP.
"""
import os
import re
import shutil
import subprocess
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.join(here, "..", "..", "..", "scripts"))
from daemonlib import Daemon, Tap, skip_all, wait_for  # noqa: E402
import libvirtd_ref  # noqa: E402

VIREOD, VMM = sys.argv[1:3]
CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd"
t = Tap()
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("no /dev/kvm")
for need in (CODE, VARS, "/usr/share/qemu/firmware/60-edk2-x86_64.json"):
    if not os.path.exists(need):
        t.ok(False, "Debian's ovmf is installed (scripts/install-deps)", need)
        t.done()
        sys.exit(1)


def xml(name, machine="pc", os_extra="", acpi=True):
    return f"""<domain type='kvm'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os firmware='efi'>
    <type arch='x86_64' machine='{machine}'>hvm</type>{os_extra}
  </os>
  {"<features><acpi/></features>" if acpi else ""}
</domain>
"""


def os_block(text):
    m = re.search(r"  <os.*?</os>\n", text, re.S)
    return m.group(0) if m else None


def section(text, tag):
    m = re.search(r"  <%s[ >].*?</%s>\n" % (tag, tag), text, re.S)
    return m.group(0) if m else None


def emulation_stop(text):
    """The RIP of an emulation failure in a log: vireo-vmm's line or QEMU's register dump."""
    m = re.search(r"emulation failure\) on vCPU \d+ at RIP 0x([0-9a-f]+)", text)
    if m:
        return int(m.group(1), 16)
    m = re.search(r"emulation failure\n.*?EIP=([0-9a-f]+)", text, re.S)
    return int(m.group(1), 16) if m else None


names = []
d = Daemon(VIREOD, VMM)
ref = libvirtd_ref.LibvirtdRef()
try:
    ref.start()
    d.start()

    def lv(*args):
        return subprocess.run(["virsh", "-c", ref.uri] + list(args), capture_output=True,
                              text=True, timeout=120)

    # domcapabilities
    ours, theirs = d.virsh("domcapabilities", "--machine", "pc").stdout, \
        lv("domcapabilities", "--machine", "pc").stdout
    t.ok(section(ours, "os") is not None and section(ours, "os") == section(theirs, "os"),
         "domcapabilities <os> for pc is libvirtd's (firmware efi, OVMF_CODE_4M.fd)",
         (section(ours, "os"), section(theirs, "os")))

    # the pc domain, paused: live <os> against libvirtd's
    names.append("efi")
    path = d.write("efi.xml", xml("efi"))
    r1, r2 = d.virsh("define", path), d.virsh("start", "--paused", "efi")
    live = d.virsh("dumpxml", "efi").stdout
    lv("define", path)
    lr = lv("start", "--paused", "efi")
    llive = lv("dumpxml", "efi").stdout
    store = os.path.join(d.root, "lib", "nvram", "efi_VARS.fd")
    want = (os_block(llive) or "").replace(
        os.path.join(ref.dir, "lib", "libvirt", "qemu", "nvram"),
        os.path.dirname(store)).replace("/var/lib/libvirt/qemu/nvram", os.path.dirname(store))
    t.ok(r2.returncode == 0 and lr.returncode == 0 and os_block(live) == want and
         f"<loader readonly='yes' type='pflash'>{CODE}</loader>" in live,
         "firmware='efi' on pc: the live <os> is libvirtd's (loader, nvram, template)",
         (r1.stderr + r2.stderr + lr.stderr, os_block(live), os_block(llive)))
    t.ok(os.path.exists(store) and open(store, "rb").read() == open(VARS, "rb").read(),
         "the start copied the template to the domain's store")
    pid = d.vmm_pid("efi")
    argv = " ".join(open("/proc/%d/cmdline" % pid).read().split("\0")) if pid else ""
    t.ok(f"-drive if=pflash,format=raw,unit=0,file={CODE},readonly=on" in argv and
         f"-drive if=pflash,format=raw,unit=1,file={store}" in argv,
         "vireo-vmm runs OVMF from pflash 0, the store on pflash 1", argv)
    t.ok(os_block(d.virsh("dumpxml", "--inactive", "efi").stdout).startswith(
        "  <os firmware='efi'>"), "the persistent definition keeps firmware='efi'")

    # let OVMF run: both VMMs stop where this machine's KVM emulator gives up
    d.virsh("resume", "efi")
    lv("resume", "efi")
    wait_for(lambda: "shut off" in d.state("efi") or "paused" in d.state("efi"), 120)
    time.sleep(2)
    vlog = open(os.path.join(d.root, "log", "efi.log"), errors="replace").read()
    qlog = open(os.path.join(ref.dir, "log", "libvirt", "qemu", "efi.log")
                if os.path.exists(os.path.join(ref.dir, "log", "libvirt", "qemu", "efi.log"))
                else os.path.join(ref.dir, "log", "qemu", "efi.log"), errors="replace").read()
    vrip, qrip = emulation_stop(vlog), emulation_stop(qlog)
    if vrip is None and qrip is None:
        # hardware virtualization: OVMF runs on; both keep running
        t.ok(d.state("efi").startswith("running"), "OVMF runs under vireo-vmm", d.state("efi"))
    else:
        t.diag("OVMF stops on this machine's nested KVM: vireo-vmm at RIP 0x%x, QEMU at 0x%x"
               % (vrip or 0, qrip or 0))
        code = re.search(r"code: ([0-9a-f ]+)", vlog)
        t.diag("vireo-vmm's stop: %s" % (code.group(0) if code else "?"))
        t.ok(vrip is not None and qrip is not None and 0xfff00000 <= vrip <= 0xffffffff and
             abs(vrip - qrip) < 16,
             "vireo-vmm and QEMU both stop on the emulator's missing FPU instruction, in the "
             "same bytes of OVMF's SEC code", (vlog[-600:], qlog[-600:]))
    d.virsh("destroy", "efi")
    lv("destroy", "efi")

    # undefine and the store
    r = d.virsh("undefine", "efi")
    lr = lv("undefine", "efi")
    t.ok(r.returncode != 0 and r.stderr.strip() == lr.stderr.strip() and
         "cannot undefine domain with nvram" in r.stderr and os.path.exists(store),
         "undefine with a store: refused in libvirtd's words, the store kept", (r.stderr,
                                                                                 lr.stderr))
    r = d.virsh("undefine", "--keep-nvram", "efi")
    t.ok(r.returncode == 0 and os.path.exists(store), "undefine --keep-nvram keeps the store",
         r.stderr)
    d.virsh("define", path)
    r = d.virsh("undefine", "--nvram", "efi")
    t.ok(r.returncode == 0 and not os.path.exists(store), "undefine --nvram removes it",
         r.stderr)
    lv("undefine", "--nvram", "efi")

    # q35: the build without SMM
    names.append("efiq")
    d.virsh("define", d.write("efiq.xml", xml("efiq", "q35")))
    r = d.virsh("start", "--paused", "efiq")
    t.ok(r.returncode == 0 and
         f"<loader readonly='yes' type='pflash'>{CODE}</loader>" in d.virsh("dumpxml",
                                                                             "efiq").stdout,
         "q35: OVMF_CODE_4M.fd (no SMM in vireo-vmm, so no Secure Boot build)", r.stderr)
    d.virsh("destroy", "efiq")

    # refusals as libvirtd's
    for name, text, what in (
            ("noacpi", xml("noacpi", acpi=False), "firmware='efi' without ACPI"),
            ("sb", xml("sb", os_extra="\n    <firmware>\n      <feature enabled='yes' "
                       "name='secure-boot'/>\n    </firmware>"), "Secure Boot asked for")):
        names.append(name)
        p = d.write(name + ".xml", text)
        r = d.virsh("define", p)
        if r.returncode == 0:
            r = d.virsh("start", name)
        lr = lv("define", p)
        if lr.returncode == 0:
            lr = lv("start", name)
            lv("undefine", "--nvram", name)
        t.ok(r.returncode != 0 and r.stderr.strip() == lr.stderr.strip(),
             f"{what}: refused in libvirtd's words", (r.stderr, lr.stderr))

    # the descriptors: one of the daemon's own first, an empty file hiding Debian's
    fwdir = os.path.join(d.root, "etc", "qemu", "firmware")
    os.makedirs(fwdir, exist_ok=True)
    mycode = os.path.join(d.tmp, "MY_CODE.fd")
    shutil.copy(CODE, mycode)
    desc = open("/usr/share/qemu/firmware/60-edk2-x86_64.json").read().replace(CODE, mycode)
    open(os.path.join(fwdir, "10-mine.json"), "w").write(desc)
    names.append("mine")
    d.virsh("define", d.write("mine.xml", xml("mine")))
    r = d.virsh("start", "--paused", "mine")
    t.ok(r.returncode == 0 and f">{mycode}</loader>" in d.virsh("dumpxml", "mine").stdout,
         "a descriptor in DIR/etc/qemu/firmware comes first by name", r.stderr)
    d.virsh("destroy", "mine")
    os.unlink(os.path.join(fwdir, "10-mine.json"))
    open(os.path.join(fwdir, "60-edk2-x86_64.json"), "w").close()
    r = d.virsh("start", "mine")
    t.ok(r.returncode != 0 and "Unable to find any firmware to satisfy 'efi'" in r.stderr,
         "an empty file hides Debian's descriptor of that name: no firmware, one line",
         r.stderr)
    os.unlink(os.path.join(fwdir, "60-edk2-x86_64.json"))
except Exception as e:  # noqa: BLE001
    t.ok(False, "the test ran to its end", repr(e))
finally:
    if t.failed:
        d.dump_log()
    for n in names:
        d.virsh("destroy", n)
        d.virsh("undefine", "--nvram", n)
    d.stop()
    ref.stop()
t.done()
