#!/usr/bin/env python3
"""test-usb.py - the xHCI controller with a USB tablet and keyboard, end to end
on /dev/kvm, fed by a VNC client.

usage: test-usb.py VIREO_VMM GUEST_ELF           vireo-vmm alone
       test-usb.py --qemu VIREO_VMM GUEST_ELF    the same guest under QEMU too, compared

The guest (tests=xhci, tests/guest/t-xhci.c) drives the controller as a
driver does: reset, ports, slots, descriptors, configuration, a stall and its
recovery, then polls the interrupt IN endpoints while this script sends VNC
pointer and key events (rfblib.py) one at a time, waiting for the guest to
print each report before the next:

- the tablet's reports carry the pointer position scaled to 0..0x7fff over
  the screen (QEMU's scaling), the wheel and the left button;
- the VNC client is told the pointer is absolute (the tablet has it, not the
  PS/2 mouse);
- the keyboard's boot reports follow QEMU extended key events (modifiers,
  key array, releases);
- QMP query-pci lists the controller (1b36:000d, class 0c03).

--qemu: the same guest binary under qemu-system-x86_64 with the same devices
prints the same lines (the guest's test is right); the tablet's reports are
checked against the scaling above under each VMM (QEMU's unset VGA screen is
640x480, vireo-vmm's 720x400, so their coordinates differ by design).
"""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rfblib  # noqa: E402
from vmmlib import Guest, Qmp, Tap  # noqa: E402

tap = Tap()

USB_DEVICES = ["-device", "qemu-xhci,id=usb", "-device", "usb-tablet,bus=usb.0,port=1",
               "-device", "usb-kbd,bus=usb.0,port=2"]


def scale(v, size):
    """QEMU's absolute axis scaling of a VNC coordinate: its VNC server gives the screen
    size as the input range, so the last pixel maps just short of 0x7fff."""
    return v * 0x7fff // size


def session(cmd, tmp, who):
    """Runs the guest under one VMM; returns (guest lines, reports) or None."""
    n = rfblib.free_display()
    g = Guest(cmd + ["-vnc", "127.0.0.1:%d" % n, "-qmp", "unix:%s/qmp.sock,server,nowait" % tmp])
    try:
        if not tap.check(g.wait_line("xhci: tablet ready", 240), "%s: guest enumerated both USB "
                         "devices and waits for the tablet" % who, g.text() + g.p.stderr.read()
                         if g.p.poll() is not None else g.text()):
            return None
        q = Qmp(tmp + "/qmp.sock")
        pci = q.cmd("query-pci")["return"][0]["devices"]
        xhci = [d for d in pci if d["id"]["vendor"] == 0x1b36 and d["id"]["device"] == 0x000d]
        tap.check(len(xhci) == 1 and xhci[0]["class_info"]["class"] == 0x0c03,
                  "%s: query-pci lists the qemu-xhci controller (class 0c03)" % who, pci)
        c = rfblib.Client(("127.0.0.1", 5900 + n))
        c.set_encodings([rfblib.ENC_RAW, rfblib.ENC_DESKTOP_SIZE, rfblib.ENC_PTR_TYPE,
                         rfblib.ENC_EXT_KEY])
        c.request()
        c.read_update()
        w, h = c.w, c.h
        if who == "vireo-vmm":  # QEMU tells it in a later update, if at all
            tap.check(c.ptr_absolute is True, "%s: VNC client told the pointer is absolute "
                      "(the tablet has it, not the PS/2 mouse)" % who, c.ptr_absolute)
        reports = []

        def report(needle):
            line = g.wait_line(needle, 60)
            reports.append(line.split("# ", 1)[1].strip() if line else None)
            return line

        moves = [(0, 0, 0), (w // 2, h // 3, 0), (w - 1, h - 1, 0), (w // 4, h // 2, 8),
                 (w // 4, h // 2, 0), (10, 20, 1)]
        want = []
        for x, y, b in moves:
            c.pointer(x, y, b)
            report("xhci: tablet report")
            want.append("xhci: tablet report len=6 buttons=%d x=%d y=%d wheel=%d" % (
                b & 1, scale(x, w), scale(y, h), 1 if b == 8 else 0))
        tap.check(reports == want, "%s: tablet reports follow the VNC pointer (%dx%d screen, "
                  "scaled to 0..0x7fff, wheel, left button)" % (who, w, h),
                  "\n".join(map(str, reports)) + "\nwanted:\n" + "\n".join(want))
        if not g.wait_line("xhci: keyboard ready", 60):
            tap.check(False, "%s: guest reached the keyboard round" % who, g.text())
            return None
        keys = [(ord("h"), 0x23, True), (ord("h"), 0x23, False), (0xffe1, 0x2a, True),
                (ord("A"), 0x1e, True), (ord("A"), 0x1e, False), (0xffe1, 0x2a, False),
                (0xff0d, 0x1c, True), (0xff0d, 0x1c, False)]
        first = len(reports)
        for ks, qnum, down in keys:
            c.ext_key(ks, qnum, down)
            report("xhci: key report")
        want = ["xhci: key report " + r for r in (
            "00 00 0b 00 00 00 00 00", "00 00 00 00 00 00 00 00", "02 00 00 00 00 00 00 00",
            "02 00 04 00 00 00 00 00", "02 00 00 00 00 00 00 00", "00 00 00 00 00 00 00 00",
            "00 00 28 00 00 00 00 00", "00 00 00 00 00 00 00 00")]
        tap.check(reports[first:] == want, "%s: keyboard boot reports follow the VNC key "
                  "events (h, shift+a, return)" % who,
                  "\n".join(map(str, reports[first:])))
        c.close()
        q.close()
        status, out, err = g.finish(120)
        tap.check(status == 1 and "not ok" not in out and "xhci: Stop Endpoint" in out,
                  "%s: guest's own checks passed (status 1)" % who, out + err)
        lines = [ln.strip() for ln in out.splitlines()
                 if re.match(r"(ok|not ok) \d+ - xhci|# xhci:", ln) and "tablet report" not in ln]
        return lines
    except (OSError, rfblib.RfbError, KeyError, IndexError) as e:
        tap.check(False, "%s: session: %s" % (who, e), g.text())
        return None
    finally:
        g.kill()


def guest_cmd(vmm, guest, machine):
    return vmm + ["-nodefaults", "-m", "128M", "-serial", "stdio", "-M", machine,
                  "-kernel", guest, "-append", "tests=xhci",
                  "-device", "isa-debug-exit,iobase=0xf4,iosize=4"] + USB_DEVICES


def main():
    args = sys.argv[1:]
    qemu = args and args[0] == "--qemu"
    if qemu:
        args = args[1:]
    vmm, guest = args
    with tempfile.TemporaryDirectory() as tmp:
        mine = session(guest_cmd([vmm], guest, "microvm,acpi=on,pcie=on") + ["-vga", "std"],
                       tmp, "vireo-vmm")
        if qemu:
            theirs = session(guest_cmd(["qemu-system-x86_64", "-enable-kvm"], guest,
                                       "microvm,acpi=on,pcie=on") +
                             ["-display", "none", "-device", "VGA"], tmp, "QEMU")
            tap.check(mine is not None and mine == theirs,
                      "the guest prints the same lines under vireo-vmm and QEMU",
                      "\n".join(l1 + "  |  " + l2 for l1, l2 in
                                zip(mine or [], theirs or []) if l1 != l2))
    return tap.report()


if __name__ == "__main__":
    sys.exit(main())
