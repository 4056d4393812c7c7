#!/usr/bin/python3
"""test-daemon-ide.py - the stock virt-install's default invocation against
vireod: no --machine (virt-install asks domcapabilities and takes pc), an
installation ISO on --cdrom and a new disk in the default pool (--disk size=1);
virt-install puts both on bus 'ide' (pc's PIIX3 IDE). Checks:
- virt-install succeeds and the domain runs: the ISO's boot sector prints its
  line on the console (SeaBIOS booted the IDE CD-ROM);
- the domain vireod keeps has the new disk as hda and the CD-ROM as hdb on
  bus 'ide' (virt-install's choice: bus 0, units 0 and 1) and the controller
  type='ide' at 00:01.1; vireo-vmm got ide-hd and ide-cd on bus=ide.0 units
  0 and 1 with libvirt's aliases ide0-0-0 and ide0-0-1;
- virsh change-media ejects the IDE CD-ROM and inserts it again (QMP's eject
  and blockdev-change-medium on an ide-cd of the PIIX3);
- a domain with an IDE disk on q35 is refused at define with libvirt's words.

  test-daemon-ide.py VIREOD VIREO_VMM BOOTSECTOR

The ISO is the vmm firmware test's El Torito image of tests/guest/boot's boot
sector (letter C). Options given to virt-install beyond the defaults, and why:
--connect (the test's vireod), --name, --memory 256, --noautoconsole (no
terminal here), --network none (see VIRT_INSTALL_EXTRA below),
--osinfo detect=off,require=off (virt-install 4.1 refuses to go on when it
cannot detect the OS of an ISO that is not a known distribution's, as on any
libvirtd). SeaBIOS runs in KVM's instruction emulator on this machine's nested
KVM: the boot takes tens of seconds. Prints TAP.
"""
import importlib.util
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import Daemon, Tap, skip_all, wait_for  # noqa: E402

VIREOD, VMM, SECTOR = sys.argv[1:4]
BOOT_WAIT = 300
t = Tap()
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("no /dev/kvm")
for tool in ("virsh", "xorriso", "virt-install"):
    if not shutil.which(tool):
        skip_all("no " + tool)

_spec = importlib.util.spec_from_file_location(
    "vmm_firmware", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "vmm",
                                 "test-firmware.py"))
fw = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fw)
sector = open(SECTOR, "rb").read()

# virt-install's default NIC is the 'default' network when it exists (vireod defines none
# here) or else user-mode networking, which vireo-vmm refuses on pc (rtl8139): no NIC.
VIRT_INSTALL_EXTRA = ["--network", "none"]


def boot_line(d, name):
    found = []

    def seen():
        m = re.search(r"vireo boot sector: booted from disk .\r?\n", d.console_log(name))
        if m:
            found.append(m.group(0).strip())
        return bool(found)
    wait_for(seen, BOOT_WAIT, 0.5)
    return found[0] if found else None


d = Daemon(VIREOD, VMM)
names = ["vide"]
try:
    d.start()
    iso = fw.make_iso(d.tmp, sector, "C")
    cmd = ["virt-install", "--connect", d.uri, "--name", "vide", "--memory", "256",
           "--disk", "size=1", "--cdrom", iso, "--osinfo", "detect=off,require=off",
           "--noautoconsole"] + VIRT_INSTALL_EXTRA
    r = subprocess.run(cmd, capture_output=True, text=True, env=d.env, timeout=300)
    line = boot_line(d, "vide") if r.returncode == 0 else None
    argv = d.vmm_log("vide", lines=1000)
    dump = d.virsh("dumpxml", "vide").stdout
    t.ok(r.returncode == 0 and line == "vireo boot sector: booted from disk C",
         "virt-install with its defaults (no --machine, --cdrom, --disk size=1): the domain "
         "starts on vireod and SeaBIOS boots the ISO from the IDE CD-ROM",
         f"{' '.join(cmd)}\n{r.stdout}{r.stderr}\nline: {line!r}\n{d.console_log('vide')}\n"
         f"{argv}\n{dump}")
    t.ok("machine='pc-i440fx-7.2'" in dump and "<target dev='hda' bus='ide'/>" in dump and
         "<target dev='hdb' bus='ide'/>" in dump and
         "<address type='drive' controller='0' bus='0' target='0' unit='1'/>" in dump and
         re.search(r"<controller type='ide' index='0'>\s*<address type='pci' domain='0x0000' "
                   r"bus='0x00' slot='0x01' function='0x1'/>", dump) is not None,
         "dumpxml: pc, the new disk hda and the CD-ROM hdb (IDE bus 0, unit 1), the IDE "
         "controller at 00:01.1", dump)
    t.ok(" -M pc-i440fx-7.2 " in argv and
         "ide-hd,bus=ide.0,unit=0,drive=drive-ide0-0-0,id=ide0-0-0" in argv and
         "ide-cd,bus=ide.0,unit=1,drive=drive-ide0-0-1,id=ide0-0-1" in argv,
         "vireo-vmm: -M pc, the disk as ide-hd (ide.0 master) and the CD-ROM as ide-cd (ide.0 "
         "slave), libvirt's aliases", argv)

    # Media change through vireod: eject, then the ISO back.
    r1 = d.virsh("change-media", "vide", "hdb", "--eject")
    gone = d.virsh("domblklist", "vide").stdout
    r2 = d.virsh("change-media", "vide", "hdb", iso, "--insert")
    back = d.virsh("domblklist", "vide").stdout
    t.ok(r1.returncode == 0 and re.search(r"hdb\s+-", gone) is not None and
         r2.returncode == 0 and re.search(r"hdb\s+" + re.escape(iso), back) is not None,
         "change-media ejects the IDE CD-ROM and inserts the ISO again",
         r1.stdout + r1.stderr + r2.stdout + r2.stderr + back)
    d.virsh("destroy", "vide")

    # IDE on q35: libvirt's words at define.
    xml = """<domain type='kvm'><name>q35ide</name><memory unit='MiB'>64</memory>
<os><type arch='x86_64' machine='q35'>hvm</type></os><devices>
<disk type='file' device='cdrom'><source file='%s'/><target dev='hdc' bus='ide'/><readonly/></disk>
</devices></domain>""" % iso
    r = d.virsh("define", d.write("q35ide.xml", xml))
    t.ok(r.returncode != 0 and r.stderr.strip().splitlines()[-1] ==
         "error: unsupported configuration: IDE controllers are unsupported for this QEMU binary "
         "or machine type", "q35 with an IDE disk: define refused with libvirt's words",
         r.stdout + r.stderr)
except Exception as e:  # report, then clean up
    t.ok(False, "no exception", repr(e))
finally:
    if t.failed:
        d.dump_log()
    d.cleanup(names)
t.done()
