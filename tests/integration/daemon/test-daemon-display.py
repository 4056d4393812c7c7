#!/usr/bin/env python3
"""test-daemon-display.py - VNC graphics and the VGA through vireod, with the
stock virsh: <graphics type='vnc' autoport='yes' passwd=...> with <video
model='vga'>, ports allocated from 5900 as libvirtd does, vncdisplay, the
password hidden from dumpxml unless --security-info, the password set over
QMP before the guest runs (the stock VNC client gvnccapture logs in with it
and captures the guest's text screen, equal to the VMM's screendump), a
socket listen, and one-line refusals for what vireo-vmm does not have.

  test-daemon-display.py VIREOD VIREO_VMM TESTGUEST_ELF VSH

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
from daemonlib import Daemon, Tap, domain_xml, skip_all, wait_for  # noqa: E402
import rfblib  # noqa: E402
from vmmlib import Qmp  # noqa: E402

VIREOD, VMM, GUEST, VSH = sys.argv[1:5]
GUEST = os.path.abspath(GUEST)
t = Tap()
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("no /dev/kvm")
if not shutil.which("virsh") or not shutil.which("gvnccapture"):
    skip_all("no virsh or gvnccapture")


gvnccapture = rfblib.gvnccapture

GRAPHICS = """    <graphics type='vnc' port='-1' autoport='yes' passwd='{pw}'{extra}>
      <listen type='address' address='127.0.0.1'/>
    </graphics>
    <video>
      <model type='vga' vram='16384' heads='1'/>
    </video>
"""

d = Daemon(VIREOD, VMM, VSH)
send_key_tool = d.vsh  # the second round through vsh


def same(args, what):
    """vsh prints what the stock virsh prints (stdout, and the error line)."""
    a, b = d.virsh(*args), d.vsh(*args)
    t.ok(a.returncode == b.returncode and a.stdout == b.stdout and
         a.stderr.strip().splitlines()[:1] == b.stderr.strip().splitlines()[:1],
         "vsh %s prints what virsh prints (%s)" % (" ".join(args), what),
         "virsh: %r %r\nvsh: %r %r" % (a.stdout, a.stderr, b.stdout, b.stderr))
    return a
names = ["vnc1", "vnc2", "vncsock", "keys"]

try:
    d.start()
    for name in ("vnc1", "vnc2"):
        xml = domain_xml(name, GUEST, "tests=vga vga_hold=1",
                         devices=GRAPHICS.format(pw="secret-" + name, extra=(
                             " passwdValidTo='2000-01-01T00:00:00'" if name == "vnc2" else "")))
        r = d.virsh("define", d.write(name + ".xml", xml))
        t.ok(r.returncode == 0, "define %s with VNC graphics and a VGA" % name, r.stderr)
    r = d.virsh("dumpxml", "--inactive", "vnc1")
    t.ok("port='-1'" in r.stdout and "autoport='yes'" in r.stdout and "passwd=" not in r.stdout,
         "inactive XML: autoport, no password", r.stdout)
    ports = []
    for name in ("vnc1", "vnc2"):
        r = d.virsh("start", name)
        t.ok(r.returncode == 0, "start %s" % name, r.stderr + d.vmm_log(name))
        x = d.virsh("dumpxml", name).stdout
        m = re.search(r"<graphics type='vnc' port='(\d+)' autoport='yes'", x)
        ports.append(int(m.group(1)) if m else None)
        t.ok(m and "passwd=" not in x and "<model type='vga' vram='16384' heads='1' primary='yes'/>"
             in x, "%s: live XML has its VNC port and no password" % name, x)
        r = d.virsh("vncdisplay", name)
        t.ok(r.returncode == 0 and m and r.stdout.strip() == "127.0.0.1:%d" %
             (int(m.group(1)) - 5900), "virsh vncdisplay %s" % name, r.stdout + r.stderr)
    t.ok(ports[0] and ports[1] and ports[0] >= 5900 and ports[1] > ports[0],
         "ports come from 5900 up, one per domain", ports)
    r = same(["domdisplay", "vnc1"], "vnc://127.0.0.1:N")
    t.ok(r.stdout.strip() == "vnc://127.0.0.1:%d" % (ports[0] - 5900), "domdisplay vnc1", r.stdout)
    same(["domdisplay", "--include-password", "vnc1"], "the password in the URI")
    same(["vncdisplay", "vnc2"], "127.0.0.1:N")
    same(["domdisplay", "--all", "vnc2"], "every display")
    same(["domdisplay", "--type", "spice", "vnc1"], "no such display")
    x = d.virsh("dumpxml", "--security-info", "vnc1").stdout
    t.ok("passwd='secret-vnc1'" in x, "dumpxml --security-info shows the password", x)
    argv = open(os.path.join(d.root, "log", "vnc1.log")).read()
    t.ok("secret" not in argv and "-vnc 127.0.0.1:%d,password=on" % (ports[0] - 5900) in argv and
         "-device VGA,id=video0,vgamem_mb=16,bus=pcie.0,addr=0x" in argv,
         "command line: -vnc with password=on (the password itself goes over QMP), -device VGA",
         argv)

    # The guest's text screen over VNC: with the password, equal to the VMM's screendump.
    wait_for(lambda: "holding the text screen" in d.console_log("vnc1"), 120)
    target = "127.0.0.1:%d" % (ports[0] - 5900)
    rc, out = gvnccapture(target, os.path.join(d.tmp, "nopw.png"), "wrong")
    t.ok(rc != 0, "gvnccapture with a wrong password is refused", out)
    rc, out = gvnccapture(target, os.path.join(d.tmp, "cap.png"), "secret-vnc1")
    q = Qmp(os.path.join(d.root, "run", "vnc1.qmp"))
    q.cmd("screendump", {"filename": os.path.join(d.tmp, "sd.ppm")})
    q.close()
    cap = rfblib.png_pixels(os.path.join(d.tmp, "cap.png")) if rc == 0 else None
    sd = rfblib.ppm_pixels(os.path.join(d.tmp, "sd.ppm"))
    t.ok(cap == sd, "gvnccapture logs in with the domain's password; capture equals the "
         "screendump", "rc %s, capture %s, screendump %s\n%s" %
         (rc, cap and cap[:2], sd[:2], out))

    # vnc2's password expired (passwdValidTo in the past, applied with QMP expire_password).
    rc, out = gvnccapture("127.0.0.1:%d" % (ports[1] - 5900), os.path.join(d.tmp, "exp.png"),
                          "secret-vnc2")
    t.ok(rc != 0, "passwdValidTo in the past: the right password is refused", out)

    # virDomainScreenshot: the same screen, down a stream, as a PPM.
    shot = os.path.join(d.tmp, "shot.ppm")
    r = d.virsh("screenshot", "vnc1", "--file", shot)
    t.ok(r.returncode == 0 and os.path.exists(shot) and rfblib.ppm_pixels(shot) == sd,
         "virsh screenshot: a PPM equal to the screendump", r.stdout + r.stderr)
    r = d.virsh("screenshot", "vnc1", "--file", shot + "-1", "--screen", "1")
    t.ok(r.returncode != 0 and "no screen with ID 1" in r.stderr,
         "virsh screenshot --screen 1: refused, the VGA has one screen", r.stderr)
    vshot = os.path.join(d.tmp, "shot-vsh.ppm")
    r = d.vsh("screenshot", "vnc1", "--file", vshot)
    t.ok(r.returncode == 0 and os.path.exists(vshot) and rfblib.ppm_pixels(vshot) == sd,
         "vsh screenshot: the same PPM", r.stdout + r.stderr)
    same(["screenshot", "vnc1", "--file", shot + "-1", "--screen", "1"], "no screen 1")
    t.ok(not os.path.exists(shot + "-1"), "a refused screenshot leaves no file")

    # A unix socket listen: the daemon names the socket, the client finds the screen.
    xml = domain_xml("vncsock", GUEST, "tests=vga vga_hold=1", devices="""    <graphics type='vnc'>
      <listen type='socket'/>
    </graphics>
    <video>
      <model type='vga'/>
    </video>
""")
    r = d.virsh("create", d.write("vncsock.xml", xml))
    x = d.virsh("dumpxml", "vncsock").stdout
    m = re.search(r"<listen type='socket' socket='([^']+)'", x)
    t.ok(r.returncode == 0 and m, "a socket listen gets a socket path", r.stderr + x)
    if m:
        same(["domdisplay", "vncsock"], "vnc+unix://PATH")
        same(["vncdisplay", "vncsock"], "no port")
        c = rfblib.Client(m.group(1))
        t.ok((c.w, c.h) in ((720, 400), (640, 480)), "an RFB client connects on the socket",
             (c.w, c.h))
        c.close()

    # virsh send-key: Linux key codes through QMP send-key to the PS/2 keyboard, which the
    # guest reads in scan code set 2 (Return: 5a, A: 1c; pressed in order, released in
    # reverse after the hold time, so Return's break ends each of the guest's rounds).
    xml = domain_xml("keys", GUEST, "tests=ps2", devices="""    <graphics type='vnc'/>
    <video>
      <model type='vga'/>
    </video>
""")
    r = d.virsh("create", d.write("keys.xml", xml))
    t.ok(r.returncode == 0, "create a domain for the keyboard", r.stderr)
    ready = wait_for(lambda: "ps2: keys ready (set 2)" in d.console_log("keys"), 120)
    r = d.virsh("send-key", "keys", "KEY_ENTER", "KEY_A", "KEY_LEFT")
    # the whole line: the guest writes it a byte at a time through the UART
    wait_for(lambda: re.search(r"ps2: set 2 bytes:[^\n]*\n", d.console_log("keys")), 60)
    line = [x for x in d.console_log("keys").splitlines() if "ps2: set 2 bytes:" in x]
    t.ok(ready and r.returncode == 0 and line and line[0].strip().endswith("5a 1c e0 6b e0 f0 6b f0 1c f0 5a"),
         "send-key KEY_ENTER KEY_A KEY_LEFT (linux codes, one E0-prefixed) reach the guest's PS/2 keyboard (set 2)",
         r.stderr + d.console_log("keys")[-1500:])
    ready = wait_for(lambda: "ps2: keys ready (set 1)" in d.console_log("keys"), 60)
    r = send_key_tool("send-key", "keys", "--codeset", "qnum", "0x1c", "0x1e")
    # the whole line: the guest writes it a byte at a time through the UART
    wait_for(lambda: re.search(r"ps2: set 1 bytes:[^\n]*\n", d.console_log("keys")), 60)
    line = [x for x in d.console_log("keys").splitlines() if "ps2: set 1 bytes:" in x]
    t.ok(ready and r.returncode == 0 and line and line[0].strip().endswith("1c 1e 9e 9c"),
         "send-key --codeset qnum 0x1c 0x1e: the same keys, translated to set 1",
         r.stderr + d.console_log("keys")[-1500:])
    r = d.virsh("send-key", "keys", "--codeset", "usb", "4")
    t.ok(r.returncode != 0 and "cannot translate keycode 4 of usb codeset to qnum keycode" in
         r.stderr, "send-key in a codeset without translation: refused", r.stderr)
    same(["send-key", "keys", "--codeset", "usb", "4"], "the refusal")
    same(["send-key", "keys", "KEY_NOSUCH"], "an unknown key name")
    d.virsh("destroy", "keys")

    # What vireo-vmm does not have is refused with one line.
    for dev, want in (
            ("<graphics type='spice'/>", "unsupported configuration: <graphics type='spice'>: "
             "only VNC graphics are supported"),
            ("<graphics type='vnc' keymap='de'/>", "unsupported configuration: "
             "<graphics keymap='de'>: vireo-vmm has only the en-us keymap"),
            ("<graphics type='vnc'/><video><model type='qxl'/></video>",
             "unsupported configuration: <model type='qxl'>: only models 'vga' and 'none' are "
             "supported"),
            ("<graphics type='vnc' passwd='x' passwdValidTo='tomorrow'/>",
             "unsupported configuration: <graphics passwdValidTo='tomorrow'>: passwdValidTo must "
             "be YYYY-MM-DDTHH:MM:SS (UTC)"),
            ("<input type='tablet' bus='usb'/>", "unsupported configuration: "
             "<input bus='usb'>: USB is disabled for this domain, but USB devices are present "
             "in the domain XML"),
            ("<controller type='usb' model='qemu-xhci'/><input type='mouse' bus='usb'/>",
             "unsupported configuration: <input type='mouse'>: vireo-vmm's USB input devices "
             "are the tablet and the keyboard")):
        xml = domain_xml("refused", GUEST, "tests=none", devices="    " + dev + "\n")
        r = d.virsh("create", d.write("refused.xml", xml))
        t.ok(r.returncode != 0 and want in r.stderr, "refused: " + dev, r.stderr)
    for name in ("vnc1", "vnc2", "vncsock"):
        d.virsh("destroy", name)
finally:
    if t.failed:
        d.dump_log()
    d.cleanup(names)
t.done()
