#!/usr/bin/python3
"""test-daemon-pflash.py - vireod honours <os><loader type='pflash'>, <nvram
template=> and <sysinfo type='smbios'> with <smbios mode='sysinfo'/>.

  test-daemon-pflash.py VIREOD VIREO_VMM BOOTSECTOR VSH

A q35 domain whose <loader type='pflash' readonly='yes'> is Debian's SeaBIOS
(bios-256k.bin runs from pflash as the vmm pflash test shows; OVMF does not
run on this machine's nested KVM) and whose <nvram template=> names a 64 KiB
variable store made here, with no nvram path (libvirt's default):
- dumpxml names NAME_VARS.fd in vireod's nvram directory (lib/nvram under
  --root), and the first start copies the template there, byte for byte;
- vireo-vmm's argv has both pflash drives and the -smbios of each block;
- SeaBIOS boots the disk from the flash (the boot sector's line on COM1);
- the guest's SMBIOS tables (read through the monitor's xp from the entry
  point SeaBIOS wrote in the F segment) hold the <sysinfo> strings;
- a second start keeps the VARS file as the guest left it (no fresh copy);
- a missing VARS file without a template, <loader secure='yes'> and a
  <loader> on microvm are refused with one line, and nothing starts.
Prints TAP.
"""
import importlib.util
import os
import re
import shutil
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import Daemon, Tap, skip_all, wait_for  # noqa: E402

VIREOD, VMM, SECTOR, VSH = sys.argv[1:5]
SEABIOS = "/usr/share/seabios/bios-256k.bin"
BOOT_WAIT = 300
t = Tap()
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("no /dev/kvm")
for tool in ("virsh",):
    if not shutil.which(tool):
        skip_all("no " + tool)

_spec = importlib.util.spec_from_file_location(
    "vmm_firmware", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "vmm",
                                 "test-firmware.py"))
fw = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fw)
sector = open(SECTOR, "rb").read()

SYSINFO = """  <sysinfo type='smbios'>
    <bios>
      <entry name='vendor'>VireoBiosVendor</entry>
    </bios>
    <system>
      <entry name='manufacturer'>VireoMaker</entry>
      <entry name='product'>VireoProduct-7</entry>
      <entry name='serial'>VSN-0042</entry>
    </system>
    <oemStrings>
      <entry>vireo-oem-one</entry>
    </oemStrings>
  </sysinfo>
"""


def domain(name, machine, os_extra, disk, extra=""):
    return f"""<domain type='kvm'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
{extra}  <os>
    <type arch='x86_64' machine='{machine}'>hvm</type>
{os_extra}  </os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <serial type='pty'/>
  </devices>
</domain>
"""


def boot_line(d, name):
    found = []

    def seen():
        m = re.search(r"vireo boot sector: booted from disk .\r?\n", d.console_log(name))
        if m:
            found.append(m.group(0).strip())
        return bool(found)
    wait_for(seen, BOOT_WAIT, 0.5)
    return found[0] if found else None


def guest_bytes(d, name, addr, length):
    """Guest physical memory through the monitor's xp (8-byte words, little-endian)."""
    words = (length + 7) // 8
    r = d.virsh("qemu-monitor-command", "--hmp", name, f"xp /{words}xg {addr:#x}")
    out = bytearray()
    for line in r.stdout.splitlines():
        if ":" not in line:
            continue
        for v in line.split(":", 1)[1].split():
            out += int(v, 16).to_bytes(8, "little")
    return bytes(out[:length]), r.stdout + r.stderr


def smbios_table(d, name):
    """The SMBIOS structure table the guest's firmware published, or (None, why)."""
    fseg, why = guest_bytes(d, name, 0xF0000, 0x10000)
    for off in range(0, len(fseg) - 32, 16):
        if fseg[off:off + 5] == b"_SM3_":
            size, addr = struct.unpack_from("<IQ", fseg, off + 0x0C)
            return guest_bytes(d, name, addr, size)[0], None
        if fseg[off:off + 4] == b"_SM_":
            size, addr = struct.unpack_from("<HI", fseg, off + 0x16)
            return guest_bytes(d, name, addr, size)[0], None
    return None, "no SMBIOS entry point in the F segment\n" + why[:2000]


d = Daemon(VIREOD, VMM, VSH)
names = ["pfq35", "pfnotmpl", "pfsecure", "pfmicro"]
try:
    d.start()
    disk = os.path.join(d.tmp, "a.img")
    fw.make_disk(disk, sector, "A")
    template = os.path.join(d.tmp, "VARS.template")
    tmpl_bytes = bytes((i * 7 + 3) & 0xFF for i in range(64 << 10))
    open(template, "wb").write(tmpl_bytes)
    vars_path = os.path.join(d.root, "lib", "nvram", "pfq35_VARS.fd")

    os_fw = (f"    <loader readonly='yes' type='pflash'>{SEABIOS}</loader>\n"
             f"    <nvram template='{template}'/>\n    <smbios mode='sysinfo'/>\n")
    xml = domain("pfq35", "q35", os_fw, disk, SYSINFO)
    r = d.virsh("define", d.write("pfq35.xml", xml))
    dump = d.virsh("dumpxml", "pfq35").stdout
    t.ok(r.returncode == 0 and f"<nvram template='{template}'>{vars_path}</nvram>" in dump and
         not os.path.exists(vars_path),
         "define: <nvram> defaults to NAME_VARS.fd in vireod's nvram directory, not made yet",
         r.stdout + r.stderr + dump)

    r = d.virsh("start", "pfq35")
    line = boot_line(d, "pfq35") if r.returncode == 0 else None
    argv = d.vmm_log("pfq35", lines=1000)
    t.ok(r.returncode == 0 and os.path.exists(vars_path) and
         open(vars_path, "rb").read() == tmpl_bytes and
         (os.stat(vars_path).st_mode & 0o777) == 0o600,
         "start: the template is copied to the VARS file (same bytes, mode 0600)",
         r.stdout + r.stderr)
    t.ok(f" -drive if=pflash,format=raw,unit=0,file={SEABIOS},readonly=on " in argv and
         f" -drive if=pflash,format=raw,unit=1,file={vars_path} " in argv and
         " -bios " not in argv,
         "vireo-vmm gets pflash unit 0 (the loader, readonly=on) and unit 1 (the VARS copy)",
         argv)
    t.ok(" -smbios type=0,vendor=VireoBiosVendor " in argv and
         " -smbios type=1,manufacturer=VireoMaker,product=VireoProduct-7,serial=VSN-0042 " in argv
         and " -smbios type=11,value=vireo-oem-one " in argv,
         "vireo-vmm gets one -smbios per <sysinfo> block", argv)
    t.ok(line == "vireo boot sector: booted from disk A",
         "SeaBIOS runs from pflash0 and boots the disk",
         f"line: {line!r}\n{d.console_log('pfq35')}\n{argv}")
    table, why = smbios_table(d, "pfq35") if line else (None, "no boot")
    t.ok(table is not None and all(s in table for s in (
        b"VireoBiosVendor", b"VireoMaker", b"VireoProduct-7", b"VSN-0042", b"vireo-oem-one")),
        "the guest's SMBIOS tables hold the <sysinfo> strings", why or repr(table[:512]))
    d.virsh("destroy", "pfq35")

    # A second start keeps what the guest (here: the test) left in the store.
    changed = b"guest-written" + tmpl_bytes[13:]
    open(vars_path, "wb").write(changed)
    r = d.virsh("start", "pfq35")
    t.ok(r.returncode == 0 and open(vars_path, "rb").read() == changed,
         "a second start keeps the existing VARS file", r.stdout + r.stderr)
    d.virsh("destroy", "pfq35")

    # Refusals: one line each, no domain running.
    missing = os.path.join(d.tmp, "nowhere", "X_VARS.fd")
    xml = domain("pfnotmpl", "q35",
                 f"    <loader readonly='yes' type='pflash'>{SEABIOS}</loader>\n"
                 f"    <nvram>{missing}</nvram>\n", disk)
    r = d.virsh("create", d.write("pfnotmpl.xml", xml))
    t.ok(r.returncode != 0 and r.stderr.strip() ==
         "error: Failed to create domain from " + os.path.join(d.tmp, "pfnotmpl.xml") +
         "\nerror: operation failed: unable to find any master var store for loader: " + SEABIOS
         and not os.path.exists(missing) and "pfnotmpl" not in d.virsh("list").stdout,
         "a missing VARS file without a template: refused with libvirt's line", r.stderr)
    xml = domain("pfsecure", "q35",
                 f"    <loader readonly='yes' secure='yes' type='pflash'>{SEABIOS}</loader>\n",
                 disk)
    r = d.virsh("create", d.write("pfsecure.xml", xml))
    t.ok(r.returncode != 0 and "<loader secure='yes'>: vireo-vmm has no SMM" in r.stderr and
         len(r.stderr.strip().splitlines()) == 2,
         "<loader secure='yes'>: refused with one line", r.stderr)
    xml = domain("pfmicro", "microvm", f"    <loader type='rom'>{SEABIOS}</loader>\n"
                 f"    <kernel>{os.path.join(d.tmp, 'vmlinuz')}</kernel>\n", disk)
    r = d.virsh("create", d.write("pfmicro.xml", xml))
    t.ok(r.returncode != 0 and "machine 'microvm' has no firmware: a <loader> needs machine "
         "'pc' or 'q35'" in r.stderr, "<loader> on microvm: refused with one line", r.stderr)
except Exception as e:  # report, then clean up
    t.ok(False, "no exception", repr(e))
finally:
    if t.failed:
        d.dump_log()
    d.cleanup(names)
t.done()
