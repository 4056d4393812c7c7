#!/usr/bin/python3
"""test-daemon-firmware.py - vireod starts pc and q35 domains with no <kernel>:
SeaBIOS boots a project-made disk, and the boot order picks which.

  test-daemon-firmware.py VIREOD VIREO_VMM BOOTSECTOR GOLDEN_DIR

The disks are tests/guest/boot's boot sector with a letter written in (the
vmm firmware test's generator, tests/integration/vmm/test-firmware.py): it
prints "vireo boot sector: booted from disk X" on COM1, which vireod's
console log keeps. Checks:
- q35: a virtio disk (A) and a sata CD-ROM holding an El Torito ISO (C) with
  <boot dev='cdrom'/><boot dev='hd'/>: the ISO boots; vireo-vmm got -M as
  written, -boot order=dc and the cdrom on q35's own AHCI (bus=ide.0);
- pc: two virtio disks with <boot order='2'/> on A and <boot order='1'/> on
  B: B boots; vireo-vmm got bootindex= on each and bus=pci.0;
- dumpxml after define of minimal pc and q35 domains equals what the real
  libvirtd 9.0 printed for the same input (GOLDEN_DIR/*.libvirtd.xml, made
  with scripts/libvirtd_ref.py), apart from the differences written below;
- virsh domcapabilities (and vsh's, the same bytes) validates against libvirt's schema and lists what
  vireod honours;
- the stock virt-install --machine q35 --cdrom makes a domain on vireod,
  starts it, and the ISO's boot sector runs; domcapabilities for pc lists
  bus ide (virt-install's default invocation is test-daemon-ide.py's).
SeaBIOS runs in KVM's instruction emulator on this machine's nested KVM, so
each boot takes tens of seconds; waits poll with generous limits. Prints TAP.
"""
import importlib.util
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import Daemon, Tap, skip_all, wait_for  # noqa: E402

VIREOD, VMM, SECTOR, GOLDEN, VSH = sys.argv[1:6]
BOOT_WAIT = 300
t = Tap()
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("no /dev/kvm")
for tool in ("virsh", "xorriso", "virt-install"):
    if not shutil.which(tool):
        skip_all("no " + tool)

# The vmm firmware test's disk and ISO generator.
_spec = importlib.util.spec_from_file_location(
    "vmm_firmware", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "vmm",
                                 "test-firmware.py"))
fw = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fw)
sector = open(SECTOR, "rb").read()


def boot_line(d, name):
    """The boot sector's whole line on the domain's console, or None."""
    found = []

    def seen():
        m = re.search(r"vireo boot sector: booted from disk .\r?\n", d.console_log(name))
        if m:
            found.append(m.group(0).strip())
        return bool(found)
    wait_for(seen, BOOT_WAIT, 0.5)
    return found[0] if found else None


def argv_of(d, name):
    return d.vmm_log(name, lines=1000)


def domain(name, machine, os_extra, devices):
    return f"""<domain type='kvm'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='{machine}'>hvm</type>
{os_extra}  </os>
  <devices>
{devices}    <serial type='pty'/>
  </devices>
</domain>
"""


def disk_xml(path, dev, bus, order=None, cdrom=False):
    boot = f"      <boot order='{order}'/>\n" if order else ""
    return (f"    <disk type='file' device='{'cdrom' if cdrom else 'disk'}'>\n"
            f"      <driver name='qemu' type='raw'/>\n"
            f"      <source file='{path}'/>\n"
            f"      <target dev='{dev}' bus='{bus}'/>\n"
            + ("      <readonly/>\n" if cdrom else "") + boot + "    </disk>\n")


# libvirtd's additions vireod does not make, written down (docs/domain-support.md has the
# machine rows): the host CPU model libvirt picks for a domain without <cpu> (vireo-vmm's
# default is the same qemu64, but vireod does not write it), the <audio> backend (vireo-vmm
# has no sound), and libvirt's <emulator> path.
LIBVIRTD_ONLY = [
    re.compile(r"  <cpu mode='custom' match='exact' check='none'>\n"
               r"    <model fallback='forbid'>qemu64</model>\n  </cpu>\n"),
    re.compile(r"    <audio id='1' type='none'/>\n"),
    re.compile(r"    <emulator>[^<]*</emulator>\n"),
]


def normalised(xml):
    for r in LIBVIRTD_ONLY:
        xml = r.sub("", xml)
    return xml.strip() + "\n"


d = Daemon(VIREOD, VMM, VSH)
names = ["fwq35", "fwpc", "pcmin", "q35min", "vinst"]
try:
    d.start()
    a, b = os.path.join(d.tmp, "a.img"), os.path.join(d.tmp, "b.img")
    fw.make_disk(a, sector, "A")
    fw.make_disk(b, sector, "B")
    c = fw.make_iso(d.tmp, sector, "C")

    # 1. q35, <boot dev='cdrom'/> first: the sata CD-ROM's ISO boots, not the virtio disk.
    xml = domain("fwq35", "pc-q35-7.2", "    <boot dev='cdrom'/>\n    <boot dev='hd'/>\n",
                 disk_xml(a, "vda", "virtio") + disk_xml(c, "sda", "sata", cdrom=True))
    r = d.virsh("create", d.write("fwq35.xml", xml))
    line = boot_line(d, "fwq35")
    argv = argv_of(d, "fwq35")
    t.ok(r.returncode == 0 and line == "vireo boot sector: booted from disk C",
         "q35 without <kernel>, <boot dev='cdrom'/>: SeaBIOS boots the sata CD-ROM's ISO",
         f"{r.stdout}{r.stderr}\nline: {line!r}\n{d.console_log('fwq35')}\n{argv}")
    t.ok(" -M pc-q35-7.2 " in argv and " -boot order=dc,strict=on " in argv and " -kernel " not in argv
         and "ide-cd,bus=ide.0,drive=drive-sata0-0-0" in argv and "ich9-ahci" not in argv,
         "q35: -M as written, -boot order=dc,strict=on, the CD-ROM on q35's own AHCI", argv)
    d.virsh("destroy", "fwq35")

    # 2. pc, per-device <boot order>: B (order 1) boots, not A (order 2, the first disk).
    xml = domain("fwpc", "pc", "",
                 disk_xml(a, "vda", "virtio", order=2) + disk_xml(b, "vdb", "virtio", order=1))
    r = d.virsh("create", d.write("fwpc.xml", xml))
    line = boot_line(d, "fwpc")
    argv = argv_of(d, "fwpc")
    t.ok(r.returncode == 0 and line == "vireo boot sector: booted from disk B",
         "pc without <kernel>, <boot order='1'/> on the second disk: SeaBIOS boots it",
         f"{r.stdout}{r.stderr}\nline: {line!r}\n{d.console_log('fwpc')}\n{argv}")
    t.ok(re.search(r"virtio-blk-pci,drive=drive-virtio-disk0,id=virtio-disk0,bootindex=2,"
                   r"bus=pci\.0,addr=0x2 ", argv) is not None and
         re.search(r"id=virtio-disk1,bootindex=1,bus=pci\.0,addr=0x3 ", argv) is not None and
         " -boot strict=on " in argv and " -M pc-i440fx-7.2 " in argv,
         "pc: bootindex= from <boot order>, the disks on bus pci.0 at libvirt's slots", argv)
    d.virsh("destroy", "fwpc")

    # 3. dumpxml after define equals libvirtd's for the same input.
    for name, machine, cd_bus in (("pcmin", "pc", "scsi"), ("q35min", "q35", "sata")):
        devices = disk_xml("/tmp/pcdom/a.img", "vda", "virtio") + \
            disk_xml("/tmp/pcdom/c.iso", "sda", cd_bus, cdrom=True)
        if cd_bus == "scsi":
            devices += "    <controller type='scsi' model='virtio-scsi'/>\n"
        xml = domain(name, machine, "    <boot dev='hd'/>\n", devices)
        r = d.virsh("define", d.write(name + ".xml", xml))
        got = d.virsh("dumpxml", name).stdout
        want = open(os.path.join(GOLDEN, name + ".libvirtd.xml")).read()
        # the fixed uuid of the reference run
        got = re.sub(r"<uuid>[^<]*</uuid>", "<uuid/>", got)
        want = re.sub(r"<uuid>[^<]*</uuid>", "<uuid/>", want)
        ok = r.returncode == 0 and normalised(got) == normalised(want)
        diff = ""
        if not ok:
            pa, pb = d.write(name + ".got", normalised(got)), d.write(name + ".want",
                                                                      normalised(want))
            diff = subprocess.run(["diff", "-u", pb, pa], capture_output=True, text=True).stdout
        t.ok(ok, f"{machine}: dumpxml after define equals libvirtd's (PCI addresses, "
             "controllers, machine alias)", r.stderr + diff)
        d.virsh("undefine", name)

    # 4. virsh domcapabilities: libvirt's format (its schema), vireo-vmm's machines and devices.
    r = d.virsh("domcapabilities", "--machine", "q35")
    caps = d.write("domcaps.xml", r.stdout)
    v = subprocess.run(["virt-xml-validate", caps, "domaincaps"], capture_output=True, text=True)
    t.ok(r.returncode == 0 and v.returncode == 0 and
         "<machine>pc-q35-7.2</machine>" in r.stdout and "<value>sata</value>" in r.stdout and
         "<value>ide</value>" not in r.stdout and "<loader supported='yes'>" in r.stdout and
         "<value>pflash</value>" in r.stdout,
         "domcapabilities --machine q35: valid, pc-q35-7.2, sata but no ide, rom/pflash loader",
         r.stdout + r.stderr + v.stdout + v.stderr)
    vr = d.vsh("domcapabilities", "--machine", "q35")
    t.ok(vr.returncode == 0 and vr.stdout == r.stdout,
         "vsh domcapabilities --machine q35 prints what virsh prints", vr.stdout + vr.stderr)
    r = d.virsh("domcapabilities", "--machine", "isapc")
    t.ok(r.returncode != 0 and "error: invalid argument: the machine 'isapc' is not supported by "
         "emulator" in r.stderr, "domcapabilities for a machine vireo-vmm lacks: one line",
         r.stderr)
    vr = d.vsh("domcapabilities", "--machine", "isapc")
    t.ok(vr.returncode != 0 and vr.stderr == r.stderr,
         "vsh domcapabilities: the same one line", vr.stderr)

    # 5. The stock virt-install --cdrom makes a q35 domain on vireod and boots the ISO.
    # --osinfo generic gives SATA disks on q35, an ich9 USB set, 14 declared root ports, VGA,
    # a USB tablet and the rtc/pit/hpet timers; vireod's dumpxml must equal libvirtd's for
    # what it wrote (checked by hand for this version: the written differences only).
    hd = os.path.join(d.tmp, "vinst.img")
    fw.make_disk(hd, sector, "A")
    base = ["virt-install", "--connect", d.uri, "--memory", "128", "--osinfo",
            "detect=off,name=generic", "--disk", f"path={hd},format=raw", "--cdrom", c,
            "--network", "none", "--graphics", "vnc", "--noautoconsole"]
    r = subprocess.run(base + ["--name", "vinst", "--machine", "q35"], capture_output=True,
                       text=True, env=d.env, timeout=300)
    line = boot_line(d, "vinst") if r.returncode == 0 else None
    argv = argv_of(d, "vinst")
    t.ok(r.returncode == 0 and line == "vireo boot sector: booted from disk C",
         "virt-install --machine q35 --cdrom: the domain starts on vireod and the ISO's boot "
         "sector runs", f"{r.stdout}{r.stderr}\nline: {line!r}\n{d.console_log('vinst')}\n"
         f"{argv}\n{d.virsh('dumpxml', 'vinst').stdout}")
    t.ok(" -boot order=dc,strict=on " in argv and "ide-cd,bus=ide.1" in argv and
         argv.count("pcie-root-port,") == 14 and argv.count("qemu-xhci") == 1,
         "virt-install's domain: -boot order=dc, the ISO on q35's AHCI, its 14 root ports, "
         "its ich9 USB set as one xHCI", argv)
    d.virsh("destroy", "vinst")
    d.virsh("undefine", "vinst")
    # Without --machine it takes the capabilities' first machine, pc, and IDE disks there:
    # test-daemon-ide.py runs that invocation.
    r = d.virsh("domcapabilities", "--machine", "pc")
    t.ok(r.returncode == 0 and "<machine>pc-i440fx-7.2</machine>" in r.stdout and
         "<value>ide</value>" in r.stdout,
         "domcapabilities --machine pc lists bus ide (PIIX3's IDE)", r.stdout + r.stderr)
except Exception as e:  # report, then clean up
    t.ok(False, "no exception", repr(e))
finally:
    if t.failed:
        d.dump_log()
    d.cleanup(names)
t.done()
