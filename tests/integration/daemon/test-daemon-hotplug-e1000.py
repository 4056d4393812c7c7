#!/usr/bin/env python3
"""test-daemon-hotplug-e1000.py - an e1000 NIC hot-plugged into a running q35 domain through vireod.

  test-daemon-hotplug-e1000.py VIREOD VIREO_VMM TESTGUEST_ELF

Everything runs in a network and mount namespace of this process's own (the
daemon, its VMMs and virsh inherit it; /sys is remounted for it), with a
bridge vbr-e1k holding 198.18.7.1/24. The q35 domain has two pcie-root-ports:
index 1 at 00:03.0, where vireod puts the USB controller (as libvirt does),
and index 2 at 00:02.0, the first port the test guest (tests=hotplug,
t-hotplug.c) finds and watches. Checks:
 - the stock virsh's attach-interface --type bridge --model e1000 --live
   succeeds: the NIC goes to the free port (pci.2), not onto the USB
   controller's (before, vireod took the first port with no disk or NIC
   behind it, and device_add was refused: "slot 0 function 0 not available");
 - the live XML shows the e1000 at 02:00.0 on vbr-e1k with its tap;
 - the guest powers the slot, finds 8086:100e on the port's bus, reads the
   MAC the XML gives from its EEPROM, and answers: its ARP request for
   198.18.7.1 gets the host's reply, and its ping from 198.18.7.15 (net_ip=)
   gets the echo reply, through the tap and the bridge;
 - detach-interface --live: the guest releases it, the live XML loses it and
   the tap is gone.
Prints TAP.
"""
import ctypes
import os
import re
import shutil
import subprocess
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

CLONE_NEWNS, CLONE_NEWNET = 0x00020000, 0x40000000
MS_REC, MS_PRIVATE, MNT_DETACH = 0x4000, 0x40000, 2
MAC = "52:54:00:5e:07:01"


def enter_namespaces():
    libc = ctypes.CDLL(None, use_errno=True)

    def must(r, what):
        if r != 0:
            raise SystemExit(f"Bail out! {what}: {os.strerror(ctypes.get_errno())}")
    must(libc.unshare(CLONE_NEWNET | CLONE_NEWNS), "unshare")
    must(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
    must(libc.umount2(b"/sys", MNT_DETACH), "umount /sys")
    must(libc.mount(b"sysfs", b"/sys", b"sysfs", 0, None), "mount sysfs")


def ip(*args):
    return subprocess.run(["ip"] + list(args), capture_output=True, text=True, timeout=30)


def taps():
    out = ip("-o", "-d", "link", "show").stdout
    return sorted(m.group(1) for m in re.finditer(r"^\d+: ([^:@]+)[:@].*\btun\b", out, re.M))


enter_namespaces()
for args in (("link", "set", "lo", "up"), ("link", "add", "vbr-e1k", "type", "bridge"),
             ("addr", "add", "198.18.7.1/24", "dev", "vbr-e1k"),
             ("link", "set", "vbr-e1k", "up")):
    r = ip(*args)
    if r.returncode != 0:
        raise SystemExit(f"Bail out! ip {' '.join(args)}: {r.stderr}")

d = Daemon(VIREOD, VMM)


def live_xml():
    return d.virsh("dumpxml", "e1k").stdout


def console():
    return d.console_log("e1k")


def wait_console(text, limit=180):
    def done():
        c = console()
        return text in c[:c.rfind("\n") + 1]
    return wait_for(done, limit, 0.2)


try:
    d.start()
    devices = ("    <controller type='pci' index='1' model='pcie-root-port'>\n"
               "      <target chassis='1' port='0x10'/>\n"
               "      <address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/>\n"
               "    </controller>\n"
               "    <controller type='pci' index='2' model='pcie-root-port'>\n"
               "      <target chassis='2' port='0x11'/>\n"
               "      <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0'/>\n"
               "    </controller>\n")
    cmdline = (f"tests=hotplug hotplug_wait_s=170 hotplug_rounds=1 net_mac={MAC} "
               "net_ip=198.18.7.15 net_peer=198.18.7.1 net_ping=100")
    xml = domain_xml("e1k", GUEST, cmdline, devices).replace(
        "<type arch='x86_64'>hvm</type>", "<type arch='x86_64' machine='q35'>hvm</type>")
    r = d.virsh("define", d.write("e1k.xml", xml))
    t.ok(r.returncode == 0, "define a q35 domain with two pcie-root-ports", r.stderr)
    r = d.virsh("start", "e1k")
    t.ok(r.returncode == 0, "start it", r.stderr)
    x = live_xml()
    t.ok(re.search(r"<controller type='usb'[^>]*>\s*<address type='pci' domain='0x0000' "
                   r"bus='0x01' slot='0x00'", x),
         "the USB controller is behind the first root port (pci.1)", x)
    ok = wait_console("hotplug: ready")
    t.ok(ok, "the guest set the root port at 00:02.0 up", console()[-1500:])
    if not ok:
        raise SystemExit(1)

    r = d.virsh("attach-interface", "e1k", "bridge", "vbr-e1k", "--mac", MAC, "--model", "e1000",
                "--live")
    t.ok(r.returncode == 0, "virsh attach-interface bridge vbr-e1k --model e1000 --live", r.stderr)
    x = live_xml()
    m = re.search(f"<mac address='{MAC}'/>" + r"(?:(?!</interface>).|\n)*?<target dev='([^']+)'/>",
                  x)
    tap = m.group(1) if m else None
    t.ok(tap and "<model type='e1000'/>" in x and "<source bridge='vbr-e1k'/>" in x and
         re.search(r"<alias name='net0'/>\s*<address type='pci' domain='0x0000' bus='0x02' "
                   r"slot='0x00'", x),
         "the live XML shows the e1000 (net0) at 02:00.0 on vbr-e1k with its tap", x)
    t.ok(tap and "master vbr-e1k" in ip("-d", "link", "show", "dev", tap).stdout,
         "the tap is on vbr-e1k", ip("-d", "link", "show").stdout)
    ok = wait_console("hotplug: used")
    c = console()
    for what, pat in (
            ("the guest finds the e1000 behind the port", r"ok \d+ - net: e1000 \(8086:100e\) "
             r"found on bus 1"),
            ("its EEPROM holds the MAC the XML gives", rf"ok \d+ - net: EEPROM MAC {MAC}"),
            ("the host answers its ARP request", r"ok \d+ - net: ARP reply from 198\.18\.7\.1"),
            ("the host answers its ping", r"ok \d+ - ping: echo reply from 198\.18\.7\.1"),
            ("the guest started it", r"ok \d+ - hotplug: e1000 at 01:00\.0 started")):
        t.ok(ok and re.search(pat, c, re.I), what, c[-2500:])
    t.ok(not re.search(r"^not ok", c, re.M), "the guest reports no failure", c[-2500:])

    r = d.virsh("detach-interface", "e1k", "bridge", "--mac", MAC, "--live")
    t.ok(r.returncode == 0, "virsh detach-interface --live", r.stderr)
    t.ok(wait_console("hotplug: released"), "the guest released the e1000", console()[-800:])
    nic = f"<mac address='{MAC}'/>"  # the MAC is on the guest's command line too
    wait_for(lambda: nic not in live_xml(), 30, 0.2)
    t.ok(nic not in live_xml(), "the live XML has lost the e1000", live_xml())
    t.ok(tap and wait_for(lambda: tap not in taps(), 30, 0.2), "the tap is gone with the e1000",
         str(taps()))
    rc = d.stop()
    out = open(os.path.join(d.tmp, "vireod.out"), errors="replace").read()
    t.ok(rc == 0 and "Sanitizer" not in out, "vireod ends cleanly", f"exit {rc}\n{out[-3000:]}")
finally:
    if t.failed:
        d.dump_log()
    d.cleanup(["e1k"])
t.done()
