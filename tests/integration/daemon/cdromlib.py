"""cdromlib.py - what the SATA and SCSI CD-ROM tests share: the media they
start with (a raw disk of random bytes and two ISO 9660 images that xorriso
makes, labelled VIREO_CD and VIREO_CD2), the change-media sequence run on a
domain whose CD-ROM 'sdb' holds the second image live and the first one in
its persistent definition (with an empty CD-ROM 'sdc' and a disk 'sda'), and
the check of the guest's CRC-32 of the disk against the file's.
"""
import os
import re
import subprocess
import zlib


def make_media(d):
    """A 1 MiB raw disk of random bytes and two ISOs under d.tmp: (disk, iso, iso2)."""
    disk = os.path.join(d.tmp, "disk.raw")
    open(disk, "wb").write(os.urandom(1 << 20))
    src = os.path.join(d.tmp, "iso.d")
    os.mkdir(src)
    open(os.path.join(src, "readme.txt"), "w").write("install media\n")
    isos = []
    for name, label in (("install.iso", "VIREO_CD"), ("second.iso", "VIREO_CD2")):
        iso = os.path.join(d.tmp, name)
        subprocess.run(["xorriso", "-as", "mkisofs", "-quiet", "-V", label, "-o", iso, src],
                       check=True, capture_output=True)
        isos.append(iso)
    return disk, isos[0], isos[1]


def check_media_changes(t, d, name, bus, iso, iso2):
    """Eject, insert and update 'sdb' with virsh and vsh, the refusals for an unknown
    drive and for the disk, and --insert --config into the empty 'sdc'."""
    live = d.virsh("dumpxml", name).stdout
    conf = d.virsh("dumpxml", "--inactive", name).stdout
    t.ok(f"<source file='{iso2}'/>" in live and f"<source file='{iso}'/>" in conf,
         "the live XML has the new ISO, the persistent one still the first", live + conf)
    r = d.virsh("change-media", name, "sdb", "--eject", "--live")
    live = d.virsh("dumpxml", name).stdout
    t.ok(r.returncode == 0 and iso2 not in live and
         f"<target dev='sdb' bus='{bus}' tray='open'/>" in live,
         "virsh change-media --eject empties the drive; the live XML shows its tray open",
         r.stderr + live)
    r = d.virsh("change-media", name, "sdb", iso, "--insert", "--live")
    live = d.virsh("dumpxml", name).stdout
    t.ok(r.returncode == 0 and f"<source file='{iso}'/>" in live and "tray=" not in live,
         "virsh change-media --insert loads the drive and closes the tray", r.stderr + live)
    # The same with vsh: eject, then the second ISO back in (--update).
    r = d.vsh("change-media", name, "sdb", "--eject", "--live")
    live = d.virsh("dumpxml", name).stdout
    t.ok(r.returncode == 0 and "Successfully ejected media." in r.stdout and iso not in live,
         "vsh change-media --eject empties the drive", r.stdout + r.stderr + live)
    r = d.vsh("change-media", name, "sdb", iso2, "--live")
    live = d.virsh("dumpxml", name).stdout
    t.ok(r.returncode == 0 and "Successfully updated media." in r.stdout and
         f"<source file='{iso2}'/>" in live and "tray=" not in live,
         "vsh change-media (update, the default) loads the second ISO", r.stdout + r.stderr + live)
    r = d.vsh("change-media", name, "sdz", iso2)
    t.ok(r.returncode != 0 and "No disk found whose source path or target is sdz" in r.stderr,
         "vsh change-media of an unknown drive: virsh's words", r.stderr)
    r = d.virsh("change-media", name, "sda", iso2, "--update", "--live")
    # virsh itself only offers change-media on CD-ROM and floppy drives
    t.ok(r.returncode != 0 and "No disk found" in r.stderr,
         "change-media on the disk is refused", r.stderr)
    r = d.virsh("change-media", name, "sdc", iso2, "--insert", "--config")
    conf = d.virsh("dumpxml", "--inactive", name).stdout
    t.ok(r.returncode == 0 and f"<source file='{iso2}'/>" in conf,
         "change-media --insert --config fills the empty drive of the persistent definition",
         r.stderr + conf)


def check_guest_crc(t, log, key, disk):
    """The guest's 'KEY=xxxxxxxx' line in log equals the CRC-32 of the file disk."""
    m = re.search(key + r"=([0-9a-f]{8})", log)
    want = "%08x" % zlib.crc32(open(disk, "rb").read())
    t.ok(m and m.group(1) == want, "the guest's CRC-32 of the disk equals the file's",
         f"guest {m.group(1) if m else None}, host {want}")
