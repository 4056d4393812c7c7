#!/usr/bin/env python3
"""test-daemon-hotplug-net.py - tap NICs hot-plugged into a running domain through vireod.

  test-daemon-hotplug-net.py VIREOD VIREO_VMM TESTGUEST_ELF VSH

Everything runs in a network and mount namespace of this process's own (the
daemon, its VMMs and the clients inherit it; /sys is remounted for it, as
`ip netns exec` does), with a bridge vbr-hp (MTU 1400, no addresses). The
test guest runs tests=hotplug (t-hotplug.c) behind one pcie-root-port: it
waits for a device behind the port, reads a NIC's MAC, says "hotplug: used"
and releases the device when the attention button is pressed, twice.
 - refusals leave nothing behind: a bridge that does not exist (the tap is
   deleted), a NIC put on pcie.0 (device_add refused by the VMM: netdev_del
   takes the tap with it), an unsupported model; the live and persistent
   definitions stay as they were and no tap is left;
 - round 1, the stock virsh: attach-interface --type bridge --live; the
   guest reads the MAC; the tap named in the live XML's <target dev> is
   enslaved to vbr-hp with the bridge's MTU and is up; detach-interface
   --live: the guest releases it and the tap is gone;
 - round 2, vsh: attach-device of an <interface type='bridge'> with its own
   <target dev>, <mtu size='1300'> and an inbound <bandwidth>: the tap has
   MTU 1300 and tc shows the htb class; detach-device: the tap is gone;
 - round 3, the stock virsh: attach-device of an <interface type='network'>
   on an isolated network vireod runs (bridge vbr-hpn), with <link
   state='down'/>: the tap is on the network's bridge, domif-getlink says
   down; detach-device: the tap is gone;
 - a guest that never releases a device (tests=boot: it halts after its
   tests): detach-interface --live succeeds after libvirt's wait, as
   libvirt's does, but the NIC stays in the live XML and its tap stays (the
   device is still in the guest); a second detach does the same (libvirt
   and QEMU 7.2 press the button again); destroy then removes the tap.
vsh and virsh print the same lines for a refusal. Prints TAP.
"""
import ctypes
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import Daemon, Tap, domain_xml, skip_all, wait_for  # noqa: E402

VIREOD, VMM, GUEST, VSH = sys.argv[1:5]
GUEST = os.path.abspath(GUEST)
t = Tap()
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("no /dev/kvm")
if not shutil.which("virsh"):
    skip_all("no virsh")

CLONE_NEWNS, CLONE_NEWNET = 0x00020000, 0x40000000
MS_REC, MS_PRIVATE, MNT_DETACH = 0x4000, 0x40000, 2
MAC1, MAC2, MAC3 = "52:54:00:5e:01:01", "52:54:00:5e:01:02", "52:54:00:5e:01:03"
MAC_BAD, MAC_Q = "52:54:00:5e:01:0f", "52:54:00:5e:01:10"


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
    """The tun/tap devices of the namespace."""
    out = ip("-o", "-d", "link", "show").stdout
    return sorted(m.group(1) for m in re.finditer(r"^\d+: ([^:@]+)[:@].*\btun\b", out, re.M))


def link(dev):
    return ip("-d", "link", "show", "dev", dev)


enter_namespaces()
for args in (("link", "set", "lo", "up"), ("link", "add", "vbr-hp", "type", "bridge"),
             ("link", "set", "vbr-hp", "mtu", "1400"), ("link", "set", "vbr-hp", "up")):
    r = ip(*args)
    if r.returncode != 0:
        raise SystemExit(f"Bail out! ip {' '.join(args)}: {r.stderr}")

d = Daemon(VIREOD, VMM, VSH)
names = ["hpn", "hpq"]


def live_xml():
    return d.virsh("dumpxml", "hpn").stdout


def config_xml():
    return d.virsh("dumpxml", "--inactive", "hpn").stdout


def console():
    return d.console_log("hpn")


def wait_console(text, count=1, limit=180):
    """Waits for count complete lines holding text: the console log grows as the serial
    port's bytes come, so under load a line can be read half-written (its MAC cut short)."""
    def done():
        c = console()
        return c[:c.rfind("\n") + 1].count(text) >= count
    return wait_for(done, limit, 0.2)


def target_of(mac, xml):
    m = re.search(f"<mac address='{mac}'/>" + r"(?:(?!</interface>).|\n)*?<target dev='([^']+)'/>",
                  xml)
    return m.group(1) if m else None


try:
    d.start()
    devices = "    <controller type='pci' model='pcie-root-port'/>\n"
    xml = d.write("hpn.xml", domain_xml("hpn", GUEST, "tests=hotplug hotplug_wait_s=170 hotplug_rounds=3",
                                        devices))
    r = d.virsh("define", xml)
    t.ok(r.returncode == 0, "define a domain with a pcie-root-port", r.stderr)
    r = d.virsh("start", "hpn")
    t.ok(r.returncode == 0, "start it", r.stderr)
    cmd = open(os.path.join(d.root, "log", "hpn.log")).readline()
    t.ok(" -sandbox on," in cmd, "the VMM runs under its seccomp filter (what getfd, netdev_add "
         "and device_add of a tap then need is allowed by it)", cmd)
    ok = wait_console("hotplug: ready")
    t.ok(ok, "the guest set the root port up", console()[-1500:])
    if not ok:
        raise SystemExit

    # ---- refusals: nothing is left ----
    before_live, before_conf, before_taps = live_xml(), config_xml(), taps()
    rv = subprocess.run(["virsh", "-c", d.uri, "attach-interface", "hpn", "bridge", "vbr-nosuch",
                         "--mac", MAC_BAD, "--model", "virtio", "--live"], env=d.env,
                        capture_output=True, text=True, timeout=120)
    rs = subprocess.run([VSH, "-c", d.vsh_uri, "attach-interface", "hpn", "bridge", "vbr-nosuch",
                         "--mac", MAC_BAD, "--model", "virtio", "--live"], env=d.env,
                        capture_output=True, text=True, timeout=120)
    t.ok(rv.returncode != 0 and "vbr-nosuch" in rv.stderr,
         "a live bridge NIC on a bridge that does not exist is refused, naming it", rv.stderr)
    t.ok(rs.returncode == rv.returncode and rs.stdout == rv.stdout and rs.stderr == rv.stderr,
         "vsh prints what virsh prints for that refusal",
         f"virsh:\n{rv.stdout}{rv.stderr}\nvsh:\n{rs.stdout}{rs.stderr}")
    bad = d.write("bad.xml", f"""<interface type='bridge'>
  <mac address='{MAC_BAD}'/>
  <source bridge='vbr-hp'/>
  <target dev='vhpbad'/>
  <model type='virtio'/>
  <address type='pci' domain='0x0000' bus='0x00' slot='0x1e' function='0x0'/>
</interface>
""")
    r = d.virsh("attach-device", "hpn", bad, "--live")
    t.ok(r.returncode != 0 and "unable to execute QEMU command 'device_add'" in r.stderr,
         "a bridge NIC onto pcie.0: device_add is refused by the VMM", r.stderr)
    t.ok(wait_for(lambda: "vhpbad" not in taps(), 20, 0.2),
         "after the refused device_add the tap is gone (netdev_del took it)", str(taps()))
    r = d.virsh("attach-interface", "hpn", "bridge", "vbr-hp", "--mac", MAC_BAD, "--model",
                "rtl8139", "--live")
    t.ok(r.returncode != 0 and "rtl8139" in r.stderr, "model rtl8139 is refused", r.stderr)
    t.ok(taps() == before_taps and live_xml() == before_live and config_xml() == before_conf,
         "after the refusals: no tap left, both definitions unchanged",
         f"{taps()} vs {before_taps}\n{live_xml()}")

    # ---- round 1: the stock virsh, attach-interface --type bridge ----
    r = d.virsh("attach-interface", "hpn", "bridge", "vbr-hp", "--mac", MAC1, "--model", "virtio",
                "--live")
    t.ok(r.returncode == 0, "virsh attach-interface bridge vbr-hp --live", r.stderr)
    ok = wait_console("hotplug: net mac=")
    t.ok(ok and f"hotplug: net mac={MAC1}" in console(),
         "the guest reads the bridge NIC's MAC", console()[-800:])
    x = live_xml()
    tap1 = target_of(MAC1, x)
    t.ok(tap1 and re.match(r"vnet\d+$", tap1) and "<source bridge='vbr-hp'/>" in x and
         re.search(r"<alias name='net0'/>\s*<address type='pci' domain='0x0000' bus='0x01' "
                   r"slot='0x00'", x),
         "the live XML shows the NIC (net0, vnetN) at 01:00.0 on vbr-hp", x)
    t.ok(MAC1 not in config_xml(), "--live leaves the definition alone")
    li = link(tap1).stdout if tap1 else ""
    t.ok("master vbr-hp" in li and "mtu 1400" in li and ",UP" in li and
         "link/ether fe:54:00:5e:01:01" in li,
         "the tap is up on vbr-hp with the bridge's MTU and the guest's MAC with fe:", li)
    wait_console("hotplug: used")
    r = d.virsh("detach-interface", "hpn", "bridge", "--mac", MAC1, "--live")
    t.ok(r.returncode == 0, "virsh detach-interface --live", r.stderr)
    t.ok(wait_console("hotplug: released"), "the guest released the NIC", console()[-800:])
    wait_for(lambda: MAC1 not in live_xml(), 30, 0.2)
    t.ok(MAC1 not in live_xml(), "the live XML has lost the NIC", live_xml())
    t.ok(wait_for(lambda: tap1 not in taps(), 30, 0.2),
         "the tap is gone with the NIC", str(taps()))

    # ---- round 2: vsh attach-device with a target name, an MTU and bandwidth ----
    nic = d.write("nic.xml", f"""<interface type='bridge'>
  <mac address='{MAC2}'/>
  <source bridge='vbr-hp'/>
  <target dev='vhp2'/>
  <model type='virtio'/>
  <mtu size='1300'/>
  <bandwidth>
    <inbound average='1000' peak='2000' burst='64'/>
  </bandwidth>
</interface>
""")
    r = subprocess.run([VSH, "-c", d.vsh_uri, "attach-device", "hpn", nic, "--live"], env=d.env,
                       capture_output=True, text=True, timeout=120)
    t.ok(r.returncode == 0 and r.stdout == "Device attached successfully\n\n",
         "vsh attach-device of a bridge NIC --live: virsh's line", r.stdout + r.stderr)
    ok = wait_console("hotplug: net mac=", 2)
    t.ok(ok and f"hotplug: net mac={MAC2}" in console(), "the guest reads the second NIC's MAC",
         console()[-800:])
    li = link("vhp2").stdout
    t.ok("master vbr-hp" in li and "mtu 1300" in li,
         "the tap vhp2 is on vbr-hp with the MTU of <mtu size='1300'>", li)
    tcout = subprocess.run(["tc", "class", "show", "dev", "vhp2"], capture_output=True,
                           text=True).stdout
    t.ok("htb 1:1" in tcout and "rate 8Mbit" in tcout,
         "tc: the inbound average as the tap's htb class (1000 KiB/s = 8 Mbit)", tcout)
    x = live_xml()
    t.ok(target_of(MAC2, x) == "vhp2" and "<mtu size='1300'/>" in x,
         "the live XML shows vhp2 and the MTU", x)
    wait_console("hotplug: used", 2)
    r = d.vsh("detach-device", "hpn", nic, "--live")
    t.ok(r.returncode == 0, "vsh detach-device --live", r.stdout + r.stderr)
    t.ok(wait_console("hotplug: released", 2), "the guest released it", console()[-800:])
    t.ok(wait_for(lambda: "vhp2" not in taps(), 30, 0.2), "the tap vhp2 is gone", str(taps()))

    # ---- round 3: the stock virsh, a network interface with its link down ----
    net = d.write("net.xml", "<network><name>hpnet</name><bridge name='vbr-hpn'/>"
                  "<ip address='198.18.9.1' prefix='24'/></network>")
    r = d.virsh("net-create", net)
    t.ok(r.returncode == 0, "virsh net-create an isolated network", r.stderr)
    nic3 = d.write("nic3.xml", f"""<interface type='network'>
  <mac address='{MAC3}'/>
  <source network='hpnet'/>
  <model type='virtio'/>
  <link state='down'/>
</interface>
""")
    r = d.virsh("attach-device", "hpn", nic3, "--live")
    t.ok(r.returncode == 0, "virsh attach-device of a network NIC with its link down --live",
         r.stderr)
    ok = wait_console("hotplug: net mac=", 3)
    t.ok(ok and f"hotplug: net mac={MAC3}" in console(), "the guest reads the third NIC's MAC",
         console()[-800:])
    tap3 = target_of(MAC3, live_xml())
    li = link(tap3).stdout if tap3 else ""
    t.ok("master vbr-hpn" in li, "its tap is on the network's bridge vbr-hpn", li)
    r = d.virsh("domif-getlink", "hpn", tap3 or "?")
    t.ok(r.returncode == 0 and r.stdout.strip() == f"{tap3} down",
         "domif-getlink: the link is down, as <link state='down'/> says", r.stdout + r.stderr)
    wait_console("hotplug: used", 3)
    r = d.virsh("detach-device", "hpn", nic3, "--live")
    t.ok(r.returncode == 0, "virsh detach-device --live", r.stderr)
    t.ok(wait_console("hotplug: released", 3), "the guest released it", console()[-800:])
    t.ok(wait_for(lambda: tap3 not in taps(), 30, 0.2), "the network NIC's tap is gone",
         str(taps()))
    d.virsh("net-destroy", "hpnet")
    d.virsh("destroy", "hpn")

    # ---- a guest that never releases the device ----
    xml = d.write("hpq.xml", domain_xml("hpq", GUEST, "tests=boot", devices))
    r = d.virsh("create", xml)
    t.ok(r.returncode == 0, "create a domain whose guest ignores hot-plug", r.stderr)
    wait_for(lambda: "1.." in d.console_log("hpq"), 60, 0.2)
    r = d.virsh("attach-interface", "hpq", "bridge", "vbr-hp", "--mac", MAC_Q, "--model",
                "virtio", "--live")
    tapq = target_of(MAC_Q, d.virsh("dumpxml", "hpq").stdout)
    t.ok(r.returncode == 0 and tapq and tapq in taps(), "attach-interface --live: its tap is up",
         r.stderr + str(taps()))
    r = d.virsh("detach-interface", "hpq", "bridge", "--mac", MAC_Q, "--live")
    x = d.virsh("dumpxml", "hpq").stdout
    t.ok(r.returncode == 0 and MAC_Q in x and tapq in taps(),
         "detach of a device the guest does not release: the call succeeds after the wait, as "
         "libvirt's, the NIC stays in the live XML and its tap stays",
         f"rc={r.returncode} {r.stderr}\n{taps()}\n{x}")
    r = d.virsh("detach-interface", "hpq", "bridge", "--mac", MAC_Q, "--live")
    x = d.virsh("dumpxml", "hpq").stdout
    t.ok(r.returncode == 0 and MAC_Q in x and tapq in taps(),
         "a second detach presses the button again (as QEMU takes a device_del once its 5 s "
         "have passed): the same outcome, the NIC and its tap stay",
         f"rc={r.returncode} {r.stderr}\n{taps()}\n{x}")
    r = d.virsh("destroy", "hpq")
    t.ok(r.returncode == 0 and wait_for(lambda: tapq not in taps(), 30, 0.2),
         "destroy: the tap goes with the VMM", r.stderr + str(taps()))
    rc = d.stop()
    out = open(os.path.join(d.tmp, "vireod.out"), errors="replace").read()
    t.ok(rc == 0 and "Sanitizer" not in out, "vireod ends cleanly after the tap hot-plugs",
         f"exit {rc}\n{out[-3000:]}")
finally:
    if t.failed:
        d.dump_log()
    if d.proc and d.proc.poll() is None:
        d.virsh("net-destroy", "hpnet")  # its dnsmasq would outlive the test
    d.cleanup(names)
t.done()
