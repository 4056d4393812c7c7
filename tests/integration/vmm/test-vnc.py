#!/usr/bin/env python3
"""test-vnc.py - the standard VGA, screendump, the VNC server and the PS/2
devices, end to end on /dev/kvm.

usage: test-vnc.py VIREO_VMM GUEST_ELF           vireo-vmm alone
       test-vnc.py --qemu VIREO_VMM GUEST_ELF    the same guest screens under QEMU -M pc

The guest (tests=vga,ps2 vga_wait=1, tests/guest/t-vga.c and t-ps2.c) draws
known text in VGA text mode, then a VBE pattern, then reads the keyboard and
mouse; it waits on its serial input between steps while this script looks:

- the VMM's own screendump (PPM and PNG) against: the stock VNC client
  gvnccapture's capture, this script's RFB client (rfblib.py) with Raw and
  with ZRLE, and for the VBE screen the pattern computed here;
- query-vnc; set_password refused without password=on;
- keys typed over VNC (keysyms, then QEMU extended key events, and QMP
  send-key) arrive as the right PS/2 scan codes in sets 2 and 1; pointer
  events arrive as PS/2 mouse packets;
- with password=on: gvnccapture fails before set_password, works with the
  password, fails with a wrong one and after expire_password now;
- on a unix socket: RFB 3.3 and 3.7 handshakes; garbage, a huge update
  request, too much clipboard text: the client is dropped or bounded and the
  VM goes on.

--qemu: QEMU's screendumps of the same two screens must be byte-identical
to vireo-vmm's (SeaBIOS sets mode 3 first; the guest sets it again itself).
"""
import os
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rfblib  # noqa: E402
from vmmlib import Guest, Qmp, Tap  # noqa: E402

tap = Tap()


def pattern_rgb(w=640, h=480):
    out = bytearray()
    for y in range(h):
        for x in range(w):
            out += bytes((x & 0xff, y & 0xff, ((x >> 2) ^ (y >> 2)) & 0xff))
    return bytes(out)


gvnccapture = rfblib.gvnccapture


def vmm_cmd(vmm, guest, tmp, extra, append="tests=vga,ps2 vga_wait=1"):
    return [vmm, "-nodefaults", "-m", "128M", "-serial", "stdio", "-kernel", guest,
            "-append", append, "-vga", "std",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
            "-qmp", "unix:%s/qmp.sock,server,nowait" % tmp] + extra


def main_run(vmm, guest, tmp):
    n = rfblib.free_display()
    g = Guest(vmm_cmd(vmm, guest, tmp, ["-M", "microvm,acpi=on,pcie=on",
                                         "-vnc", "127.0.0.1:%d" % n]), stdin=subprocess.PIPE)
    try:
        if not tap.check(g.wait_line("vga: text ready", 120), "guest reached the text screen",
                         g.text()):
            return
        q = Qmp(tmp + "/qmp.sock")
        r = q.cmd("query-vnc")["return"]
        tap.check(r.get("enabled") and r.get("service") == str(5900 + n) and
                  r.get("auth") == "none" and r.get("family") == "ipv4",
                  "query-vnc: enabled on 127.0.0.1:%d, auth none" % (5900 + n), r)
        tap.check(q.cmd("set_password", {"protocol": "vnc", "password": "x"}).get("error", {})
                  .get("desc") == "Could not set password",
                  "set_password without password=on is refused as QEMU refuses it")
        q.cmd("screendump", {"filename": tmp + "/text.ppm"})
        q.cmd("screendump", {"filename": tmp + "/text.png", "format": "png"})
        w, h, ppm = rfblib.ppm_pixels(tmp + "/text.ppm")
        tap.check((w, h) == (720, 400), "text mode screendump is 720x400", (w, h))
        tap.check(rfblib.png_pixels(tmp + "/text.png") == (w, h, ppm),
                  "PNG screendump has the PPM's pixels")
        # The text is there: the "white on blue" cell at row 4, column 4 has VGA blue
        # (0x0000a8: DAC 0x2a widened as QEMU widens it) behind white glyph pixels.
        def px(x, y):
            return ppm[3 * (y * w + x):3 * (y * w + x) + 3]
        cell = {px(4 * 9 + i, 4 * 16 + j) for i in range(9) for j in range(16)}
        tap.check(cell == {b"\x00\x00\xa8", b"\xff\xff\xff"},
                  "text: the white-on-blue cell has exactly its two colours", cell)
        rc, out = gvnccapture("127.0.0.1:%d" % n, tmp + "/cap-text.png")
        tap.check(rc == 0 and rfblib.png_pixels(tmp + "/cap-text.png") == (w, h, ppm),
                  "gvnccapture's capture of the text screen equals the screendump", out)
        raw = rfblib.Client(("127.0.0.1", 5900 + n))
        raw.set_encodings([rfblib.ENC_RAW])
        raw.request()
        raw.read_update()
        tap.check((raw.w, raw.h) == (w, h) and raw.rgb() == ppm,
                  "RFB client (Raw) sees the screendump's pixels")
        raw.close()
        z = rfblib.Client(("127.0.0.1", 5900 + n))
        z.set_encodings([rfblib.ENC_ZRLE, rfblib.ENC_COPYRECT, rfblib.ENC_RAW,
                         rfblib.ENC_DESKTOP_SIZE, rfblib.ENC_PTR_TYPE, rfblib.ENC_EXT_KEY])
        z.request()
        rects = z.read_update()
        tap.check(z.rgb() == ppm and any(e == rfblib.ENC_ZRLE for *_, e in rects),
                  "RFB client (ZRLE) sees the screendump's pixels", rects[:5])
        tap.check(z.ext_key_ack and z.ptr_absolute is False,
                  "extended key events acknowledged; the pointer is relative (PS/2)")

        g.type("\n")
        if not tap.check(g.wait_line("vga: vbe ready", 180), "guest drew the VBE pattern",
                         g.text()):
            return
        q.cmd("screendump", {"filename": tmp + "/vbe.ppm"})
        w2, h2, ppm2 = rfblib.ppm_pixels(tmp + "/vbe.ppm")
        tap.check((w2, h2) == (640, 480) and ppm2 == pattern_rgb(),
                  "VBE 640x480x32: screendump equals the pattern computed here")
        # The ZRLE client keeps asking for incremental updates: a DesktopSize, then the
        # new screen.
        for _ in range(20):
            z.request(incremental=True)
            z.read_update()
            if (z.w, z.h) == (640, 480) and z.rgb() == ppm2:
                break
        tap.check((z.w, z.h) == (640, 480) and z.rgb() == ppm2,
                  "RFB client follows the mode change (DesktopSize, incremental ZRLE)")
        rc, out = gvnccapture("127.0.0.1:%d" % n, tmp + "/cap-vbe.png")
        tap.check(rc == 0 and rfblib.png_pixels(tmp + "/cap-vbe.png") == (w2, h2, ppm2),
                  "gvnccapture's capture of the VBE screen equals the screendump", out)

        # gvnccapture asks for exclusive access; under share=allow-exclusive (QEMU's
        # default) that disconnects the other clients.
        z.s.settimeout(10)
        try:
            while z.s.recv(65536):
                pass
            gone = True
        except OSError:
            gone = True
        tap.check(gone, "an exclusive client (gvnccapture) disconnected the others")
        z.close()
        z = rfblib.Client(("127.0.0.1", 5900 + n))
        z.set_encodings([rfblib.ENC_ZRLE, rfblib.ENC_EXT_KEY])
        g.type("\n")
        if not g.wait_line("ps2: keys ready (set 2)", 60):
            tap.check(False, "guest reached the keyboard rounds", g.text())
            return
        for ks in (ord("h"), ord("i")):
            z.key(ks, True)
            z.key(ks, False)
        time.sleep(0.2)
        q.cmd("send-key", {"keys": [{"type": "qcode", "data": "ret"}]})
        line = g.wait_line("ps2: set 2 bytes:", 60) or ""
        tap.check(line.strip().endswith("33 f0 33 43 f0 43 5a f0 5a"),
                  "VNC keysyms h, i and QMP send-key ret arrive in scan code set 2", line)
        g.wait_line("ps2: keys ready (set 1)", 30)
        for ks, qnum in ((ord("h"), 0x23), (ord("i"), 0x17), (0xff0d, 0x1c)):
            z.ext_key(ks, qnum, True)
            z.ext_key(ks, qnum, False)
        line = g.wait_line("ps2: set 1 bytes:", 60) or ""
        tap.check(line.strip().endswith("23 a3 17 97 1c 9c"),
                  "QEMU extended key events arrive translated to set 1", line)
        g.wait_line("ps2: mouse ready", 30)
        z.pointer(100, 100)
        z.pointer(150, 120)
        z.pointer(150, 120, 1)
        line = g.wait_line("ps2: mouse packets=", 60) or ""
        tap.check("dx=150 dy=-120 dz=0 buttons=1" in line,
                  "VNC pointer events arrive as PS/2 mouse packets (y up)", line)
        z.close()
        status, out, err = g.finish(120)
        sys.stderr.write(err)
        tap.check(status == 1 and "not ok" not in out, "guest's own checks passed (status 1)",
                  out + err)
        q.close()
    except (OSError, rfblib.RfbError) as e:
        g.kill()
        tap.check(False, "VNC session: %s" % e, g.p.stderr.read())
    finally:
        g.kill()


def password_run(vmm, guest, tmp):
    n = rfblib.free_display()
    g = Guest(vmm_cmd(vmm, guest, tmp, ["-M", "microvm,acpi=on,pcie=on", "-S",
                                         "-vnc", "127.0.0.1:%d,password=on" % n]))
    try:
        q = Qmp(tmp + "/qmp.sock")
        target = "127.0.0.1:%d" % n
        rc, out = gvnccapture(target, tmp + "/p0.png", "secret")
        tap.check(rc != 0, "password=on: no login before set_password", out)
        r = q.cmd("set_password", {"protocol": "vnc", "password": "secret"})
        tap.check(r.get("return") == {}, "set_password", r)
        tap.check(q.cmd("query-vnc")["return"].get("auth") == "vnc", "query-vnc: auth vnc")
        rc, out = gvnccapture(target, tmp + "/p1.png", "secret")
        q.cmd("screendump", {"filename": tmp + "/p.ppm"})
        tap.check(rc == 0 and rfblib.png_pixels(tmp + "/p1.png") ==
                  rfblib.ppm_pixels(tmp + "/p.ppm"),
                  "gvnccapture with the password: capture equals the screendump", out)
        rc, out = gvnccapture(target, tmp + "/p2.png", "wrong")
        tap.check(rc != 0, "a wrong password is refused", out)
        r = q.cmd("expire_password", {"protocol": "vnc", "time": "now"})
        rc, out = gvnccapture(target, tmp + "/p3.png", "secret")
        tap.check(r.get("return") == {} and rc != 0, "expire_password now: no more logins", out)
        q.cmd("quit")
        g.finish(30)
    finally:
        g.kill()


def unix_run(vmm, guest, tmp):
    path = tmp + "/vnc.sock"
    g = Guest(vmm_cmd(vmm, guest, tmp, ["-M", "microvm,acpi=on,pcie=on", "-S",
                                         "-vnc", "unix:" + path]))
    try:
        q = Qmp(tmp + "/qmp.sock")
        for ver in (b"RFB 003.003\n", b"RFB 003.007\n", b"RFB 003.008\n"):
            c = rfblib.Client(path, version=ver)
            tap.check((c.w, c.h) == (720, 400) and c.name == b"vireo-vmm",
                      "unix socket: %s handshake" % ver.decode().strip())
            c.close()
        # Garbage instead of a version: dropped.
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)
        s.recv(12)
        s.sendall(b"GET / HTTP/1.1\r\n\r\n")
        s.settimeout(10)
        tap.check(s.recv(100) == b"", "a client speaking garbage is dropped")
        s.close()
        # A request far outside the screen gets nothing (clipped), then a real one works.
        c = rfblib.Client(path)
        c.set_encodings([rfblib.ENC_RAW])
        c.request(x=60000, y=60000, w=65535, h=65535)
        c.request(x=700, y=390, w=65535, h=65535)
        rects = c.read_update()
        tap.check(rects == [(700, 390, 20, 10, 0)],
                  "update requests are clipped to the screen", rects)
        c.close()
        # Unknown message type and too much clipboard text: dropped.
        for bad, what in ((b"\x07", "an unknown message"),
                          (b"\x06\x00\x00\x00\x7f\xff\xff\xff", "2 GiB of clipboard text")):
            c = rfblib.Client(path)
            c.s.sendall(bad)
            try:
                dropped = c.s.recv(100) == b""
            except OSError:
                dropped = True
            tap.check(dropped, "a client sending %s is dropped" % what)
            c.close()
        r = q.cmd("query-status")
        tap.check(r.get("return", {}).get("status") == "prelaunch",
                  "the VM is unaffected by bad clients", r)
        q.cmd("quit")
        status, _, _ = g.finish(30)
        tap.check(not os.path.exists(path), "the unix socket is removed at exit")
    finally:
        g.kill()


def screens(vmm, guest, tmp, machine):
    """Screendumps of the text and VBE screens."""
    g = Guest(vmm_cmd(vmm, guest, tmp, machine, append="tests=vga vga_wait=1"),
              stdin=subprocess.PIPE)
    out, q = [], None
    try:
        for step in ("text", "vbe"):
            if not g.wait_line("vga: %s ready" % step, 240):
                return None, g.text()
            q = q or Qmp(tmp + "/qmp.sock")
            q.cmd("screendump", {"filename": "%s/%s.ppm" % (tmp, step)})
            out.append(open("%s/%s.ppm" % (tmp, step), "rb").read())
            g.type("\n")
        g.finish(60)
        q.close()
        return out, g.text()
    finally:
        g.kill()


def qemu_run(vmm, guest, tmp):
    mine, log1 = screens(vmm, guest, tmp, ["-M", "microvm,acpi=on,pcie=on"])
    qemu, log2 = screens("qemu-system-x86_64", guest, tmp,
                         ["-enable-kvm", "-M", "pc", "-display", "none"])
    tap.check(mine is not None, "vireo-vmm screens", log1)
    tap.check(qemu is not None, "QEMU -M pc screens", log2)
    if mine and qemu:
        tap.check(mine[0] == qemu[0], "text mode: vireo-vmm's screendump equals QEMU's")
        tap.check(mine[1] == qemu[1], "VBE 640x480x32: vireo-vmm's screendump equals QEMU's")


def main():
    args = sys.argv[1:]
    qemu = args and args[0] == "--qemu"
    if qemu:
        args = args[1:]
    vmm, guest = args
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("1..0 # SKIP /dev/kvm is not available")
        return 0
    with tempfile.TemporaryDirectory(prefix="vireo-vnc-") as tmp:
        if qemu:
            qemu_run(vmm, guest, tmp)
        else:
            main_run(vmm, guest, tmp)
            password_run(vmm, guest, tmp)
            unix_run(vmm, guest, tmp)
    return tap.report()


sys.exit(main())
