#!/usr/bin/env python3
"""test-daemon-hotplug.py - attach-device / detach-device through vireod, with the
stock virsh and vsh, into the test guest acting as the PCIe hot-plug driver.

  test-daemon-hotplug.py VIREOD VIREO_VMM TESTGUEST_ELF VSH GOLDEN_DIR

The domain declares one <controller type='pci' model='pcie-root-port'/> (the
daemon fills in its index, chassis, port and slot as libvirt does) and runs
the test guest with tests=hotplug (t-hotplug.c): it sets the port up, then
twice waits for a device to appear behind it, uses it (a disk: CRC-32 of its
first sectors; a NIC: its MAC), says "hotplug: used", and releases it when
the attention button is pressed. Round 1 is a disk attached and detached with
the stock virsh, round 2 a NIC with vsh. On the way: the live XML shows the
device at 01:00.0 (the root port's bus), DEVICE_REMOVED reaches an event
client, bad input is refused with libvirt's words leaving the VM and both
definitions unchanged, and --config changes survive a restart while --live
ones do not. vsh's outputs are compared with virsh's and golden files.
Prints TAP. Waits poll with generous limits; nothing asserts a timing.
"""
import binascii
import difflib
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import Daemon, Tap, domain_xml, skip_all, wait_for  # noqa: E402

VIREOD, VMM, GUEST, VSH, GOLDEN = sys.argv[1:6]
GUEST = os.path.abspath(GUEST)
t = Tap()
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("no /dev/kvm")
if not shutil.which("virsh"):
    skip_all("no virsh")

SECTORS = 64
MAC = "52:54:00:12:34:9a"
d = Daemon(VIREOD, VMM, VSH)
names = ["hp"]


def golden(name, text):
    path = os.path.join(GOLDEN, name)
    want = open(path).read() if os.path.exists(path) else None
    if os.environ.get("VIREO_REGOLDEN"):
        open(path, "w").write(text)
        want = text
    return t.ok(text == want, f"output of {name} matches its golden file",
                f"got:\n{text}\nwant:\n{want}")


def run(tool, *args):
    """A command through the stock virsh or vsh, without -q (so the lines virsh prints with
    vshPrintExtra show)."""
    uri = d.uri if tool == "virsh" else d.vsh_uri
    return subprocess.run([tool, "-c", uri] + list(args), env=d.env, capture_output=True,
                          text=True, timeout=120)


def both(*args):
    """The same command that changes nothing through virsh, then vsh."""
    return run("virsh", *args), run(VSH, *args)


def same(rv, rs, what, golden_name=None):
    text = f"rc={rs.returncode}\nstdout:\n{rs.stdout}stderr:\n{rs.stderr}"
    t.ok((rv.returncode != 0) == (rs.returncode != 0) and rv.stdout == rs.stdout and
         rv.stderr == rs.stderr, f"{what}: vsh prints what virsh prints",
         f"virsh rc={rv.returncode}\n{rv.stdout}{rv.stderr}\nvsh rc={rs.returncode}\n"
         f"{rs.stdout}{rs.stderr}")
    if golden_name:
        golden(golden_name, text.replace(d.tmp, "TMP"))


def live_xml():
    return d.virsh("dumpxml", "hp").stdout


def config_xml():
    return d.virsh("dumpxml", "--inactive", "hp").stdout


def disk_targets(xml):
    return re.findall(r"<target dev='([a-z]+)' bus=", xml)


def console():
    return d.console_log("hp")


def wait_console(text, count=1, limit=180):
    """Waits for count complete lines holding text: the console log grows as the serial
    port's bytes come, so under load a line can be read half-written (its MAC cut short)."""
    def done():
        c = console()
        return c[:c.rfind("\n") + 1].count(text) >= count
    return wait_for(done, limit, 0.2)


try:
    d.start()
    data = bytes((i * 7 + i // 512) & 0xff for i in range(SECTORS * 512)) + bytes(64 * 1024)
    disk = d.write("hot.raw", "")
    open(disk, "wb").write(data)
    want_crc = "%08x" % binascii.crc32(data[:SECTORS * 512])
    base = d.write("base.raw", "")
    open(base, "wb").write(bytes(1024 * 1024))
    devices = f"""    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{base}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <controller type='pci' model='pcie-root-port'/>
"""
    xml = d.write("hp.xml", domain_xml(
        "hp", GUEST, f"tests=hotplug hotplug_sectors={SECTORS} hotplug_wait_s=170", devices))
    r = d.virsh("define", xml)
    t.ok(r.returncode == 0, "virsh define a domain with a pcie-root-port", r.stderr)
    x = config_xml()
    t.ok("<controller type='pci' index='1' model='pcie-root-port'>" in x and
         "<model name='pcie-root-port'/>" in x and "<target chassis='1' port='0x" in x,
         "the root port gets its index, model name, chassis and port as libvirt fills them", x)

    # --config while shut off: the definition only.
    disk2 = d.write("cold.raw", "")
    open(disk2, "wb").write(bytes(512 * 1024))
    r = d.virsh("attach-disk", "hp", disk2, "vdc", "--config")
    t.ok(r.returncode == 0 and "vdc" in disk_targets(config_xml()),
         "virsh attach-disk --config on a shut-off domain adds vdc to the definition",
         r.stderr + config_xml())
    r = d.virsh("attach-disk", "hp", disk2, "vdc", "--config")
    t.ok(r.returncode != 0 and
         "Requested operation is not valid: target vdc already exists" in r.stderr,
         "a second disk with the same target is refused with libvirt's words", r.stderr)
    r = d.virsh("attach-disk", "hp", disk2, "vdd", "--live")
    t.ok(r.returncode != 0 and "domain is not running" in r.stderr,
         "--live on a shut-off domain is refused", r.stderr)
    r = d.virsh("detach-disk", "hp", "vdc", "--config")
    t.ok(r.returncode == 0 and "vdc" not in disk_targets(config_xml()),
         "virsh detach-disk --config removes it again", r.stderr)
    # vsh and the stock virsh, the same command in turn from the same state: byte for byte.
    cold = ("attach-disk", "hp", disk2, "vdc", "--config")
    undo = ("detach-disk", "hp", "vdc", "--config")
    rv = run("virsh", *cold)
    run("virsh", *undo)
    rs = run(VSH, *cold)
    same(rv, rs, "attach-disk --config", "attach-disk-config.out")
    rv, rs = run("virsh", *cold), run(VSH, *cold)
    same(rv, rs, "attach-disk --config of a target in use", "attach-disk-dup.out")
    rv = run("virsh", *undo)
    run("virsh", *cold)
    rs = run(VSH, *undo)
    same(rv, rs, "detach-disk --config", "detach-disk-config.out")
    rv, rs = both(*undo)
    same(rv, rs, "detach-disk --config of a target that is gone", "detach-disk-missing.out")
    rv, rs = both("attach-disk", "hp", disk2, "vdc", "--print-xml", "--targetbus", "virtio",
                  "--subdriver", "raw", "--cache", "none", "--mode", "readonly", "--serial", "s1")
    same(rv, rs, "attach-disk --print-xml", "attach-disk-print-xml.out")
    rv, rs = both("attach-interface", "hp", "network", "default", "--mac", MAC, "--model",
                  "virtio", "--print-xml")
    same(rv, rs, "attach-interface --print-xml", "attach-interface-print-xml.out")
    rv, rs = both("attach-interface", "hp", "user", "--mac", MAC)
    same(rv, rs, "attach-interface of type user without a source")
    rv, rs = both("attach-interface", "hp", "user", "x", "--mac", MAC)
    same(rv, rs, "attach-interface of type user (virsh 9.0 has no support)")
    rv, rs = both("detach-interface", "hp", "network", "--config")
    same(rv, rs, "detach-interface with no such interface", "detach-interface-missing.out")
    rv, rs = both("attach-disk", "hp", disk2, "vdc", "--current", "--live")
    same(rv, rs, "--current with --live")
    rv, rs = both("attach-device", "hp", os.path.join(d.tmp, "nosuch.xml"))
    same(rv, rs, "attach-device of a missing file")
    rv, rs = both("attach-disk", "hp", disk2, "vdd")
    same(rv, rs, "attach-disk without flags on a shut-off domain (virDomainAttachDevice: live)",
         "attach-disk-inactive.out")

    r = d.virsh("start", "hp")
    t.ok(r.returncode == 0, "virsh start it", r.stderr)
    cmd = open(os.path.join(d.root, "log", "hp.log")).readline()
    t.ok(re.search(r"-device pcie-root-port,port=0x[0-9a-f]+,chassis=1,id=pci\.1,bus=pcie\.0,"
                   r"addr=0x[0-9a-f]+", cmd),
         "vireo-vmm gets the root port as libvirt passes it to QEMU", cmd)
    ok = wait_console("hotplug: ready")
    t.ok(ok, "the guest set the root port up", console()[-1500:])
    if not ok:
        raise SystemExit

    before_live, before_conf = live_xml(), config_xml()
    # Bad input: nothing changes.
    r = d.virsh("attach-disk", "hp", disk, "vda", "--live")
    t.ok(r.returncode != 0 and "operation failed: target vda already exists" in r.stderr,
         "live attach of a disk whose target is in use: libvirt's words", r.stderr)
    r = d.virsh("attach-disk", "hp", disk, "sdb", "--targetbus", "sata", "--live")
    t.ok(r.returncode != 0 and "disk bus 'sata' cannot be hotplugged." in r.stderr,
         "live attach onto a bus that cannot hot-plug is refused", r.stderr)
    bus0 = d.write("bus0.xml", f"""<disk type='file' device='disk'>
  <source file='{disk}'/>
  <target dev='vdb' bus='virtio'/>
  <address type='pci' domain='0x0000' bus='0x00' slot='0x1e' function='0x0'/>
</disk>
""")
    r = d.virsh("attach-device", "hp", bus0, "--live")
    t.ok(r.returncode != 0 and
         "unable to execute QEMU command 'device_add': Bus 'pcie.0' does not support "
         "hotplugging" in r.stderr,
         "a device onto pcie.0 is refused by the VMM, in QEMU's words", r.stderr)
    r = d.virsh("detach-disk", "hp", "vdz", "--live")
    t.ok(r.returncode != 0, "detach of an unknown target fails", r.stderr)
    r = d.vsh("detach-device-alias", "hp", "nosuch", "--live")
    t.ok(r.returncode != 0 and "no device found with alias nosuch" in r.stderr,
         "detach-device-alias of an unknown alias: libvirt's words", r.stderr)
    t.ok(live_xml() == before_live and config_xml() == before_conf,
         "after the refusals the live and persistent definitions are unchanged",
         live_xml())

    # Round 1: a disk with the stock virsh, --live; DEVICE_REMOVED to an event client.
    r = d.virsh("attach-disk", "hp", disk, "vdb", "--live")
    t.ok(r.returncode == 0, "virsh attach-disk vdb --live", r.stderr)
    ok = wait_console("hotplug: blk crc32=")
    m = re.search(r"hotplug: blk crc32=([0-9a-f]{8})", console())
    t.ok(m and m.group(1) == want_crc,
         "the guest reads the hot-plugged disk: its CRC-32 equals the host's",
         f"want {want_crc}\n" + console()[-1500:])
    x = live_xml()
    m = re.search(r"<target dev='vdb' bus='virtio'/>\s*<alias name='([^']+)'/>\s*"
                  r"<address type='pci' domain='0x0000' bus='0x01' slot='0x00' "
                  r"function='0x0'/>", x)
    t.ok(m and m.group(1) == "virtio-disk1",
         "the live XML shows vdb (alias virtio-disk1) at 01:00.0, behind the root port", x)
    t.ok("vdb" not in disk_targets(config_xml()), "--live leaves the definition alone")
    rc = d.stop()
    out = open(os.path.join(d.tmp, "vireod.out"), errors="replace").read()
    t.ok(rc == 0 and "Sanitizer" not in out,
         "vireod ends cleanly with a hot-plugged device (under ASan: nothing leaked)",
         f"exit {rc}\n{out[-3000:]}")
    d.start()
    x2 = live_xml()
    t.ok(x2 == x, "a restarted vireod reattaches with the hot-plugged disk in the live XML",
         "".join(difflib.unified_diff(x.splitlines(True), x2.splitlines(True))))
    r = d.virsh("attach-disk", "hp", disk2, "vdc", "--live")
    t.ok(r.returncode != 0 and "internal error: No more available PCI slots" in r.stderr,
         "with every root port taken, attach is refused with libvirt's words", r.stderr)
    wait_console("hotplug: used")
    ev = d.virsh_popen("event", "hp", "--event", "device-removed", "--timeout", "120")
    wait_for(lambda: False, 1.0)  # the event client registers
    r = d.virsh("detach-disk", "hp", "vdb", "--live")
    t.ok(r.returncode == 0, "virsh detach-disk vdb --live", r.stderr + live_xml() + console()[-1500:])
    ok = wait_console("hotplug: released")
    t.ok(ok, "the guest released the disk (slot powered off)", console()[-1000:])
    wait_for(lambda: "vdb" not in disk_targets(live_xml()), 30, 0.2)
    t.ok("vdb" not in disk_targets(live_xml()), "the live XML has lost vdb", live_xml())
    out, _ = ev.communicate(timeout=150)
    t.ok("event 'device-removed' for domain 'hp': virtio-disk1" in out,
         "DEVICE_REMOVED reaches the event client", out)

    # Round 2: a NIC with vsh, --live, output compared with virsh's wording.
    nic = d.write("nic.xml", f"""<interface type='user'>
  <mac address='{MAC}'/>
  <model type='virtio'/>
</interface>
""")
    r = subprocess.run([VSH, "-c", d.vsh_uri, "attach-device", "hp", nic, "--live"], env=d.env,
                       capture_output=True, text=True, timeout=120)
    t.ok(r.returncode == 0 and r.stdout == "Device attached successfully\n\n",
         "vsh attach-device of a user NIC --live: virsh's line", r.stdout + r.stderr)
    ok = wait_console("hotplug: net mac=")
    t.ok(ok and MAC in console(), "the guest reads the hot-plugged NIC's MAC", console()[-800:])
    x = live_xml()
    t.ok(re.search(f"<mac address='{MAC}'/>" + r"(.|\n)*<alias name='net0'/>\s*"
                   r"<address type='pci' domain='0x0000' bus='0x01' slot='0x00'", x),
         "the live XML shows the NIC (net0) at 01:00.0", x)
    wait_console("hotplug: used", 2)
    r = subprocess.run([VSH, "-c", d.vsh_uri, "detach-interface", "hp", "user", "--mac", MAC,
                        "--live"], env=d.env, capture_output=True, text=True, timeout=120)
    t.ok(r.returncode == 0 and r.stdout == "Interface detached successfully\n\n",
         "vsh detach-interface --live: virsh's line", r.stdout + r.stderr)
    ok = wait_console("hotplug: released", 2)
    t.ok(ok, "the guest released the NIC", console()[-800:])
    wait_for(lambda: MAC not in live_xml(), 30, 0.2)
    t.ok(MAC not in live_xml(), "the live XML has lost the NIC", live_xml())

    # --config on the running domain: next boot only; --live is gone after a restart.
    r = d.vsh("attach-disk", "hp", disk2, "vdc", "--config")
    t.ok(r.returncode == 0 and "vdc" in disk_targets(config_xml()) and
         "vdc" not in disk_targets(live_xml()),
         "vsh attach-disk --config on a running domain: the definition only", r.stderr)
    d.virsh("destroy", "hp")
    r = d.virsh("start", "hp")
    t.ok(r.returncode == 0, "restart", r.stderr)
    x = live_xml()
    t.ok(disk_targets(x) == ["vda", "vdc"],
         "after the restart the --config disk is there and the --live ones are not", x)
    r = d.vsh("detach-disk", "hp", "vdc", "--config")
    t.ok(r.returncode == 0 and "vdc" not in disk_targets(config_xml()),
         "vsh detach-disk --config drops it from the definition", r.stderr)
    r = d.vsh("attach-disk", "hp", disk2, "vde", "--alias", "ua-cold", "--config")
    t.ok(r.returncode == 0 and "<alias name='ua-cold'/>" in config_xml(),
         "a user alias (ua-) is kept in the definition", r.stderr + config_xml())
    r = d.virsh("detach-device-alias", "hp", "ua-cold", "--config")
    t.ok(r.returncode == 0 and "vde" not in disk_targets(config_xml()),
         "virsh detach-device-alias ua-cold --config removes that disk", r.stderr)
    d.virsh("destroy", "hp")
    rc = d.stop()
    out = open(os.path.join(d.tmp, "vireod.out"), errors="replace").read()
    t.ok(rc == 0 and "Sanitizer" not in out, "vireod ends cleanly after the hot-plug runs",
         f"exit {rc}\n{out[-3000:]}")
finally:
    if t.failed:
        d.dump_log()
    d.cleanup(names)
t.done()
