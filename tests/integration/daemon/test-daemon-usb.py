#!/usr/bin/env python3
"""test-daemon-usb.py - USB input through vireod: the openEuler virtualization
guide's x86 example domain (openeuler-guide-x86.xml, as printed there: EHCI
USB with a tablet and a keyboard, VNC and VGA, virtio-scsi, a qcow2 virtio
disk with a boot order and a fixed PCI slot) starts with the stock virsh, and
a VNC client moves its USB tablet's pointer and types on its USB keyboard.

  test-daemon-usb.py VIREOD VIREO_VMM TESTGUEST_ELF VIREO_IMG

What the test changes in the example, and why:
- the disk's path: a qcow2 made here with vireo-img;
- the bridge NIC becomes a user-mode NIC (bridges come with host networking);
- listen 0.0.0.0 becomes 127.0.0.1 (a test opens no port beyond loopback);
- a SCSI CD-ROM (empty tray) and a VNC password are added, as the issue asks;
- the test guest is the machine's <kernel> (tests=xhci), booted through the
  pc machine's firmware as -kernel is: the example has no OS to boot from its
  disk here, and the firmware boot of a disk is tested elsewhere.
Everything else stays as printed: pc-i440fx-4.0 with its pci-root, 8 GiB and
4 vCPUs in 2 sockets, the disk on I/O thread 1 at slot 8 with boot order 1,
virtio-scsi, virtio-serial, the SATA controller, PS/2 input, VGA, the balloon.
Everything USB stays as printed: <controller type='usb' model='ehci'> (mapped
to a qemu-xhci), the tablet on port 1 and the keyboard on port 2.

Checks: the command line has the xHCI and usb-tablet/usb-kbd at libvirt's
ports, and the example's machine, topology, I/O thread and controllers; the
guest's driver (tests/guest/t-xhci.c) enumerates both devices; a VNC client (rfblib.py) is told the pointer is absolute, and its pointer and
key events reach the guest as tablet and keyboard reports, after VNC
authentication with the domain's password (a wrong one is refused).

Prints TAP. Waits poll with generous limits; nothing asserts a timing.
"""
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "vmm"))
from daemonlib import Daemon, Tap, skip_all, wait_for  # noqa: E402
import rfblib  # noqa: E402

VIREOD, VMM, GUEST, IMG = sys.argv[1:5]
GUEST = os.path.abspath(GUEST)
t = Tap()
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("no /dev/kvm")
if not shutil.which("virsh"):
    skip_all("no virsh")

NAME = "openEulerVM"
PASSWORD = "usb-tablet"
d = Daemon(VIREOD, VMM)


def example_xml(disk):
    x = open(os.path.join(HERE, "openeuler-guide-x86.xml")).read()
    subs = [
        ("/mnt/openEuler-image.qcow2", disk),
        ("<interface type='bridge'>", "<interface type='user'>"),
        ("      <source bridge='virbr0'/>\n", ""),
        ("0.0.0.0", "127.0.0.1"),
        ("autoport='yes' listen=", "autoport='yes' passwd='%s' listen=" % PASSWORD),
        ("machine='pc-i440fx-4.0'>hvm</type>",
         "machine='pc-i440fx-4.0'>hvm</type>\n    <kernel>%s</kernel>\n"
         "    <cmdline>tests=xhci</cmdline>" % GUEST),
        ("    <controller type='scsi' index='0' model='virtio-scsi'>",
         "    <disk type='file' device='cdrom'>\n      <driver name='qemu' type='raw'/>\n"
         "      <target dev='sda' bus='scsi'/>\n      <readonly/>\n    </disk>\n"
         "    <controller type='scsi' index='0' model='virtio-scsi'>"),
    ]
    for a, b in subs:
        if a not in x:
            raise SystemExit("the example changed: %r not found" % a)
        x = x.replace(a, b)
    return x


def report(needle, seen):
    """The next guest line containing needle after the `seen` such lines."""
    lines = []

    def more():
        text = d.console_log(NAME)
        text = text[:text.rfind("\n") + 1]  # whole lines only: the guest may be mid-line
        lines[:] = [ln.strip() for ln in text.splitlines() if needle in ln]
        return len(lines) > seen
    return lines[seen].split("# ", 1)[-1] if wait_for(more, 60) else None


try:
    d.start()
    disk = os.path.join(d.tmp, "openEuler-image.qcow2")
    r = subprocess.run([IMG, "create", "-f", "qcow2", disk, "64M"], capture_output=True, text=True)
    t.ok(r.returncode == 0, "vireo-img made the disk image", r.stderr)
    path = d.write("openeuler.xml", example_xml(disk))
    r = d.virsh("define", path)
    t.ok(r.returncode == 0, "define the openEuler guide's example domain", r.stderr)
    r = d.virsh("start", NAME)
    t.ok(r.returncode == 0, "start it: EHCI USB with a tablet and a keyboard, VNC, VGA",
         r.stderr + d.vmm_log(NAME))
    argv = open(os.path.join(d.root, "log", NAME + ".log")).read()
    t.ok(re.search(r"-device qemu-xhci,id=usb,bus=pci\.0,addr=0x\w+ ", argv) and
         "-device usb-tablet,id=input0,bus=usb.0,port=1 " in argv and
         "-device usb-kbd,id=input1,bus=usb.0,port=2 " in argv,
         "command line: the EHCI as a qemu-xhci, the tablet on port 1, the keyboard on port 2",
         argv[-3000:])
    want = ["-M pc-i440fx-4.0 ", "-m 8192 ", "-smp 4,sockets=2,cores=2,threads=1,maxcpus=4 ",
            "-object iothread,id=iothread1 ", "-device virtio-scsi-pci,id=scsi0,bus=pci.0,",
            "-device virtio-serial-pci,id=virtio-serial0,bus=pci.0,",
            "-device ich9-ahci,id=sata0,bus=pci.0,",
            ",id=virtio-disk0,iothread=iothread1,bootindex=1,bus=pci.0,addr=0x8 ",
            "-device VGA,id=video0,vgamem_mb=16,bus=pci.0,addr=0x2 ",
            "-device virtio-balloon-pci,id=balloon0,bus=pci.0,"]
    t.ok(all(w in argv for w in want),
         "command line: the example's pc machine, 8 GiB, 2x2 vCPUs, the disk on iothread1 at "
         "slot 8, virtio-scsi, virtio-serial, SATA, VGA at slot 2 and the balloon",
         [w for w in want if w not in argv])
    x = d.virsh("dumpxml", NAME).stdout
    t.ok("<controller type='usb' index='0' model='ehci'>" in x and
         "<input type='tablet' bus='usb'>" in x, "the live XML keeps the definition's USB", x)
    ready = wait_for(lambda: "xhci: tablet ready" in d.console_log(NAME), 240)
    log = d.console_log(NAME)
    t.ok(ready and "ok 26 - xhci: 2 devices configured" in log and "not ok" not in log,
         "the guest's xHCI driver configured the tablet and the keyboard", log[-3000:])
    m = re.search(r"<graphics type='vnc' port='(\d+)'", x)
    port = int(m.group(1)) if m else 5900
    try:
        rfblib.Client(("127.0.0.1", port), password="wrong").close()
        refused = False
    except rfblib.RfbError:
        refused = True
    t.ok(refused, "a VNC client with a wrong password is refused")
    c = rfblib.Client(("127.0.0.1", port), password=PASSWORD)
    c.set_encodings([rfblib.ENC_RAW, rfblib.ENC_DESKTOP_SIZE, rfblib.ENC_PTR_TYPE,
                     rfblib.ENC_EXT_KEY])
    c.request()
    c.read_update()
    w, h = c.w, c.h
    t.ok(c.ptr_absolute is True, "the VNC client is told the pointer is absolute (the tablet)",
         c.ptr_absolute)
    got, want = [], []
    for i, (px, py, b) in enumerate(((w // 2, h // 2, 0), (w - 1, 0, 0), (5, h - 1, 1))):
        c.pointer(px, py, b)
        got.append(report("xhci: tablet report", i))
        want.append("xhci: tablet report len=6 buttons=%d x=%d y=%d wheel=0" % (
            b, px * 0x7fff // w, py * 0x7fff // h))
    t.ok(got == want, "a VNC client moves the USB tablet's pointer (and clicks)",
         "\n".join(map(str, got)) + "\nwanted:\n" + "\n".join(want))
    wait_for(lambda: "xhci: keyboard ready" in d.console_log(NAME), 60)
    got = []
    for i, (qnum, down) in enumerate(((0x1c, True), (0x1c, False))):
        c.ext_key(0xff0d, qnum, down)
        got.append(report("xhci: key report", i))
    t.ok(got == ["xhci: key report 00 00 28 00 00 00 00 00",
                 "xhci: key report 00 00 00 00 00 00 00 00"],
         "VNC key events reach the USB keyboard (Return down and up)", got)
    c.close()
    done = wait_for(lambda: "xhci: Stop Endpoint" in d.console_log(NAME), 60)
    t.ok(done and "not ok" not in d.console_log(NAME), "the guest's own checks passed",
         d.console_log(NAME)[-2000:])
    d.virsh("destroy", NAME)
except (OSError, rfblib.RfbError) as e:
    t.ok(False, "USB session: %s" % e, d.console_log(NAME)[-2000:] + d.vmm_log(NAME))
finally:
    d.cleanup([NAME])
t.done()
