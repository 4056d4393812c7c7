#!/usr/bin/env python3
"""test-daemon-virt-install-net.py - the stock virt-install with no --network (which means
libvirt's `default` network) and with --network default, against vireod.

  test-daemon-virt-install-net.py VIREOD VIREO_VMM TESTGUEST_ELF

libvirtd gets its `default` network from a file its package ships
(/etc/libvirt/qemu/networks/default.xml, NAT on virbr0, with the autostart link); vireod,
as a system daemon, defines the same on its first start. A daemon under --root defines
none (it must not touch the host's 192.168.122.0/24), so this test plays the package: it
puts the same definition, NAT on 198.18.122.0/24 (the range tests may use), with its
autostart link, in the root's network directory before the daemon's first start.
Everything runs in a network and mount namespace of this process's own.
Checks:
 - the daemon autostarts `default`: net-list shows it active, its bridge has the address;
 - virt-install --import with no --network: the domain runs, its live XML has an
   <interface type='network'> on `default` with virtio (the --osinfo names a virtio-capable
   OS: with an unknown OS virt-install picks e1000, which vireo-vmm does not have yet), and
   the tap named in <target dev> is enslaved to the network's bridge and up;
 - the same with --network default (and a MAC): the test guest there gets its DHCP lease
   from the network's dnsmasq (a static host in the definition), pings the bridge, and
   net-dhcp-leases lists it; both taps are gone after destroy.
Prints TAP. Waits poll with generous limits; nothing asserts a timing.
"""
import ctypes
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import Daemon, Tap, skip_all, wait_for  # noqa: E402

VIREOD, VMM, GUEST = sys.argv[1:4]
GUEST = os.path.abspath(GUEST)
t = Tap()
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("no /dev/kvm")
for tool in ("virsh", "virt-install"):
    if not shutil.which(tool):
        skip_all("no " + tool)

CLONE_NEWNS, CLONE_NEWNET = 0x00020000, 0x40000000
MS_REC, MS_PRIVATE, MNT_DETACH = 0x4000, 0x40000, 2
BRIDGE = "virbr0"
MAC2 = "52:54:00:5e:7a:02"
# The second guest runs the test guest's net mode: a DHCP exchange with the network's dnsmasq
# (its static host gives 198.18.122.50), then a ping of the bridge's address.
NET_ARGS = (f"tests=net net_dhcp=1 net_mac={MAC2} net_ip=198.18.122.50 net_peer=198.18.122.1 "
            "net_dns=198.18.122.1")
DEFAULT_XML = f"""<network>
  <name>default</name>
  <forward mode='nat'/>
  <bridge name='{BRIDGE}' stp='on' delay='0'/>
  <ip address='198.18.122.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='198.18.122.2' end='198.18.122.254'/>
      <host mac='{MAC2}' ip='198.18.122.50'/>
    </dhcp>
  </ip>
</network>
"""


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


def nic_of(xml):
    """(source network, model, target dev) of the domain's one interface."""
    m = re.search(r"<interface type='network'>(?:(?!</interface>).|\n)*</interface>", xml)
    if not m:
        return None
    x = m.group(0)

    def attr(pat):
        a = re.search(pat, x)
        return a.group(1) if a else None
    return (attr(r"<source network='([^']+)'"), attr(r"<model type='([^']+)'/>"),
            attr(r"<target dev='([^']+)'/>"))


enter_namespaces()
r = ip("link", "set", "lo", "up")
if r.returncode != 0:
    raise SystemExit(f"Bail out! ip link set lo up: {r.stderr}")

d = Daemon(VIREOD, VMM)
names = ["vinet1", "vinet2"]
try:
    # What Debian's libvirt-daemon-config-network does for libvirtd: the definition and its
    # autostart link, before the daemon's first start.
    netdir = os.path.join(d.root, "etc", "networks")
    os.makedirs(os.path.join(netdir, "autostart"))
    open(os.path.join(netdir, "default.xml"), "w").write(DEFAULT_XML)
    # (vireod's autostart marker is autostart/NAME; libvirt's is a link NAME.xml)
    os.symlink("../default.xml", os.path.join(netdir, "autostart", "default"))
    d.start()
    ok = wait_for(lambda: re.search(r"^\s*default\s+active\s+yes\s+yes",
                                    d.virsh("net-list", "--all").stdout, re.M) is not None, 60)
    addr = ip("-o", "-4", "addr", "show", "dev", BRIDGE).stdout
    t.ok(ok and "198.18.122.1/24" in addr,
         "the daemon autostarts the packaged `default` network: active, its bridge "
         f"{BRIDGE} has 198.18.122.1/24",
         d.virsh("net-list", "--all").stdout + addr)

    seen = []
    for name, extra, args, what in (
            ("vinet1", [], "tests=none", "no --network"),
            ("vinet2", ["--network", f"default,mac={MAC2}"], NET_ARGS, "--network default")):
        cmd = ["virt-install", "--connect", d.uri, "--name", name, "--memory", "64",
               "--vcpus", "1", "--machine", "microvm", "--import", "--disk", "none",
               "--osinfo", "linux2022", "--boot", f"kernel={GUEST},kernel_args={args}",
               "--graphics", "none", "--noautoconsole"] + extra
        r = subprocess.run(cmd, capture_output=True, text=True, env=d.env, timeout=300)
        xml = d.virsh("dumpxml", name).stdout
        t.ok(r.returncode == 0 and d.state(name).startswith("running"),
             f"virt-install with {what}: the domain runs on vireod",
             f"{' '.join(cmd)}\n{r.stdout}{r.stderr}\n{d.vmm_log(name, 50)}\n{xml}")
        nic = nic_of(xml)
        t.ok(nic is not None and nic[0] == "default" and nic[1] == "virtio" and nic[2],
             f"{what}: the live XML has a virtio <interface type='network'> on `default` "
             "with its tap", xml)
        tap = nic[2] if nic else None
        link = ip("-d", "link", "show", "dev", tap).stdout if tap else ""
        t.ok(tap in taps() and f"master {BRIDGE} " in link and ",UP" in link,
             f"{what}: the tap {tap} is enslaved to {BRIDGE} and up", link + " ".join(taps()))
        seen.append(tap)
    # The second guest's DHCP lease from the default network's dnsmasq, and a ping through it.
    wait_for(lambda: re.search(r"^1\.\.\d+", d.console_log("vinet2"), re.M), 180, 0.2)
    log = d.console_log("vinet2")
    t.ok(re.search(r"^ok \d+ - dhcp: ACK for 198\.18\.122\.50", log, re.M) and
         re.search(r"^ok \d+ - ping: echo reply from 198\.18\.122\.1", log, re.M) and
         "not ok" not in log,
         "--network default: the guest gets 198.18.122.50 from the network's dnsmasq and pings "
         "the bridge", log[-3000:])
    r = d.virsh("net-dhcp-leases", "default")
    t.ok(re.search(MAC2 + r"\s+ipv4\s+198\.18\.122\.50/24", r.stdout) is not None,
         "net-dhcp-leases default lists the guest's lease", r.stdout + r.stderr)
    for name in names:
        d.virsh("destroy", name)
    left = taps()
    t.ok(all(x and x not in left for x in seen), "destroy removes both taps",
         f"{seen} {left}")
except Exception as e:  # report, then clean up
    t.ok(False, "no exception", repr(e))
finally:
    if t.failed:
        d.dump_log()
    for name in names:
        d.virsh("destroy", name)
    d.virsh("net-destroy", "default")
    d.cleanup(names)
t.done()
