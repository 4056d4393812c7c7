#!/usr/bin/env python3
"""PCIe native hot-plug through a pcie-root-port, under vireo-vmm or QEMU.

Usage: test-hotplug.py TEST_GUEST_ELF VMM...

VMM is the command prefix (vireo-vmm's path, or
'qemu-system-x86_64 -enable-kvm -M microvm,acpi=on,pcie=on'). The guest
(tests=hotplug, t-hotplug.c) sets up the root port as pciehp would and says
"hotplug: ready"; then, twice:
 - round 1: QMP blockdev-add (a raw file node and a format node over it, as
   libvirt sends them) and device_add virtio-blk-pci on the port; the guest
   takes the hot-plug interrupt, powers the slot, reads the disk and prints
   its CRC-32, which must match the file's; device_del: the guest sees the
   attention button, powers the slot off, and DEVICE_DELETED arrives;
   blockdev-del of both nodes then works;
 - round 2: netdev_add user and device_add virtio-net-pci with a MAC; the
   guest reads that MAC at 01:00.0; netdev_del is refused while the NIC uses
   it (vireo-vmm only); device_del, DEVICE_DELETED;
 - round 3 (in a network namespace of the test's own): a tap passed with
   getfd, netdev_add type=tap,fd=NAME (the netdev takes the descriptor over:
   closefd NAME then finds nothing, and netdev_del closes it, so the kernel
   removes the tap), device_add virtio-net-pci; the guest reads the MAC;
   device_del, DEVICE_DELETED (the guest then ends the run). A multiqueue tap passed
   queue by queue: netdev_add fds=NAME0:NAME1 holds both (netdev_del removes the tap), and
   one naming a descriptor never passed is refused (vireo-vmm keeps none it took). A tap the VMM
   inherited (-netdev tap,fd=N, as vireod starts it) also goes with
   netdev_del, as in QEMU.
Refusals checked on the way (same words under both VMMs where QEMU has
them): device_add on pcie.0 (not hot-pluggable), onto a port with
hotplug=off, of a missing drive, into the occupied slot (vireo-vmm only), with
an id in use;
device_del of an unknown id; blockdev-del of a node a device uses.
"""
import binascii
import ctypes
import fcntl
import json
import os
import shlex
import socket
import struct
import subprocess
import sys
import tempfile
import time

from vmmlib import Guest, Qmp, Tap

SECTORS = 64
MAC = "52:54:00:12:34:9a"
TAP_MAC = "52:54:00:12:34:9b"
TUNSETIFF = 0x400454CA
IFF_TAP, IFF_NO_PI, IFF_VNET_HDR, IFF_MULTI_QUEUE = 0x0002, 0x1000, 0x4000, 0x0100
CLONE_NEWNET = 0x40000000
tap = Tap()
check = tap.check


def nbd_claim(path, name):
    """An NBD client on the UNIX socket path that has chosen export name (NBD_OPT_GO)."""
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.settimeout(30)
    s.recv(18, socket.MSG_WAITALL)
    s.sendall(struct.pack(">I", 3))
    n = name.encode()
    data = struct.pack(">I", len(n)) + n + struct.pack(">H", 0)
    s.sendall(struct.pack(">QII", 0x49484156454F5054, 7, len(data)) + data)
    while True:
        _, _, rt, rl = struct.unpack(">QIII", s.recv(20, socket.MSG_WAITALL))
        if rl:
            s.recv(rl, socket.MSG_WAITALL)
        if rt == 1 or rt & 0x80000000:
            return s if rt == 1 else None


def wait_event(q, name, device, timeout=60):
    """The event, polling with query-status; a VMM that exits meanwhile (the guest ends
    after its last round) has sent its events first: they are read up to end of file."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for e in q.events:
            if e["event"] == name and e.get("data", {}).get("device") == device:
                return e
        try:
            q.cmd("query-status")
        except (OSError, ValueError):
            for line in q.f:
                m = json.loads(line)
                if "event" in m:
                    q.events.append(m)
            return next((e for e in q.events if e["event"] == name and
                         e.get("data", {}).get("device") == device), None)
        time.sleep(0.2)
    return None


def open_tap(name, multi_queue=False):
    """A non-persistent tap (it goes with its last descriptor), as vireod makes one; with
    multi_queue, one queue of it (open it again for each further queue)."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
    flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (IFF_MULTI_QUEUE if multi_queue else 0)
    fcntl.ioctl(fd, TUNSETIFF, name.encode().ljust(16, b"\0") +
                flags.to_bytes(2, "little") + bytes(22))
    return fd


def tap_exists(name):
    """Asked over netlink (/sys still shows the namespace it was mounted in)."""
    return subprocess.run(["ip", "link", "show", "dev", name], capture_output=True).returncode == 0


def main():
    elf, vmm = sys.argv[1], sys.argv[2]
    # The taps of round 3 live in a network namespace of this process (and the VMM's) only.
    if ctypes.CDLL(None, use_errno=True).unshare(CLONE_NEWNET) != 0:
        raise SystemExit(f"unshare(CLONE_NEWNET): {os.strerror(ctypes.get_errno())}")
    qemu = "qemu-system" in vmm
    tmp = tempfile.mkdtemp(prefix="vireo-hotplug-", dir=os.environ.get("MESON_BUILD_ROOT"))
    sock = os.path.join(tmp, "qmp.sock")
    disk = os.path.join(tmp, "disk.raw")
    data = bytes((i * 7 + i // 512) & 0xff for i in range(SECTORS * 512)) + bytes(64 * 1024)
    with open(disk, "wb") as f:
        f.write(data)
    want_crc = binascii.crc32(data[:SECTORS * 512])
    cmd = shlex.split(vmm) + ["-nodefaults", "-display", "none", "-serial", "stdio", "-m", "128M",
                              "-kernel", elf, "-append",
                              f"tests=hotplug hotplug_sectors={SECTORS} hotplug_wait_s=120 "
                              "hotplug_rounds=3",
                              "-qmp", f"unix:{sock},server=on,wait=off",
                              "-device", "pcie-root-port,id=rp1,chassis=1,slot=1,port=8",
                              "-device", "pcie-root-port,id=rp2,chassis=1,slot=2,hotplug=off",
                              "-device", "pcie-root-port,id=rp3,chassis=1,slot=3",
                              "-device", "isa-debug-exit,iobase=0xf4,iosize=4"]
    inherited = open_tap("vhpi0")
    os.set_inheritable(inherited, True)
    cmd += ["-netdev", f"tap,id=hni,fd={inherited}"]
    g = Guest(cmd, pass_fds=(inherited,))
    os.close(inherited)
    try:
        ready = g.wait_line("hotplug: ready", timeout=120)
        check(ready, "guest set up the root port", g.text())
        if not ready:
            raise SystemExit(tap.report())
        q = Qmp(sock)
        qmp = q.cmd
        r = qmp("device_del", {"id": "nosuch"})
        check(r.get("error", {}).get("desc") == "Device 'nosuch' not found",
              "device_del of an unknown id is refused as QEMU does", json.dumps(r))
        # Round 1: a disk.
        r1 = qmp("blockdev-add", {"driver": "file", "filename": disk, "node-name": "hd-storage"})
        r2 = qmp("blockdev-add", {"driver": "raw", "file": "hd-storage", "node-name": "hd-format"})
        check(r1.get("return") == {} and r2.get("return") == {},
              "blockdev-add of a file node and a raw node over it", json.dumps([r1, r2]))
        r = qmp("device_add", {"driver": "virtio-blk-pci", "id": "hd", "drive": "hd-format",
                               "bus": "pcie.0"})
        check("error" in r, "device_add onto pcie.0 is refused (not hot-pluggable)",
              json.dumps(r))
        r = qmp("device_add", {"driver": "virtio-blk-pci", "id": "hd", "drive": "hd-format",
                               "bus": "rp2"})
        check("error" in r, "device_add onto a port with hotplug=off is refused", json.dumps(r))
        r = qmp("device_add", {"driver": "virtio-blk-pci", "id": "hd", "drive": "nosuch",
                               "bus": "rp1"})
        check("error" in r, "device_add naming a drive that does not exist is refused",
              json.dumps(r))
        r = qmp("device_add", {"driver": "virtio-blk-pci", "id": "hd", "drive": "hd-format",
                               "bus": "rp1"})
        check(r.get("return") == {}, "device_add virtio-blk-pci on rp1", json.dumps(r))
        if not qemu:
            # QEMU 7.2 accepts this one and puts the device at 01:01.0, where a PCIe
            # downstream link cannot reach it (device 0 only): vireo-vmm refuses instead
            # (docs/vmm.md, "Hot-plug").
            r = qmp("device_add", {"driver": "virtio-rng-pci", "id": "rng", "bus": "rp1"})
            check("error" in r, "device_add into the occupied slot is refused", json.dumps(r))
        r = qmp("device_add", {"driver": "virtio-rng-pci", "id": "hd", "bus": "rp3"})
        check("error" in r, "device_add with an id in use is refused", json.dumps(r))
        line = g.wait_line("hotplug: blk crc32=", timeout=120)
        crc = int(line.split("crc32=")[1].strip(), 16) if line else None
        check(crc == want_crc, f"guest read the hot-plugged disk: CRC-32 {crc} == {want_crc}",
              g.text())
        used = g.wait_line("hotplug: used", timeout=60)
        msix = g.wait_line("the disk's completions interrupt through its MSI-X", timeout=60)
        check(used and msix and msix.startswith("ok "),
              "the hot-added disk's completions interrupt the guest through its MSI-X vector "
              "(the guest halts until them, as an idle Linux CPU does)", g.text())
        r = qmp("query-block")
        blk = [b for b in r.get("return", [])
               if b.get("inserted", {}).get("node-name") == "hd-format"]
        check(len(blk) == 1 and blk[0]["inserted"].get("file") == disk and
              blk[0]["inserted"].get("drv") == "raw",
              "query-block: the hot-added disk's drive, on hd-format", json.dumps(r))
        r = qmp("query-pci")
        port = next((d for d in r.get("return", [{}])[0].get("devices", [])
                     if d.get("qdev_id") == "rp1"), {})
        br = port.get("pci_bridge", {})
        behind = [(d.get("bus"), d.get("slot"), d.get("qdev_id")) for d in br.get("devices", [])]
        check(br.get("bus", {}).get("secondary") == 1 and
              br.get("bus", {}).get("memory_range") == {"base": 0xd8000000,
                                                        "limit": 0xdfffffff} and
              behind == [(1, 0, "hd")],
              "query-pci: rp1's secondary bus and window as the guest set them, hd behind it",
              json.dumps(port))
        r = qmp("blockdev-del", {"node-name": "hd-format"})
        check("error" in r, "blockdev-del of a node the disk uses is refused", json.dumps(r))
        nbd_sock = os.path.join(tmp, "nbd.sock")
        client = None
        if not qemu:  # an NBD export of the disk, with a client on it, when the disk goes
            qmp("nbd-server-start", {"addr": {"type": "unix", "data": {"path": nbd_sock}}})
            r = qmp("nbd-server-add", {"device": "hd-format"})
            client = nbd_claim(nbd_sock, "hd-format")
            check("return" in r and client is not None, "the disk is exported over NBD and a "
                  "client has chosen it", json.dumps(r))
        r = qmp("device_del", {"id": "hd"})
        check(used and r.get("return") == {}, "device_del hd accepted", json.dumps(r))
        ev = wait_event(q, "DEVICE_DELETED", "hd", timeout=120)
        check(ev is not None and ev["data"].get("path") == "/machine/peripheral/hd",
              "DEVICE_DELETED for hd after the guest powered the slot off",
              json.dumps(q.events) + "\n" + g.text())
        check(g.wait_line("hotplug: released", timeout=60), "guest released the disk", g.text())
        r = qmp("query-block")
        check("return" in r and not [b for b in r["return"]
                                     if b.get("inserted", {}).get("node-name") == "hd-format"],
              "query-block: the drive is gone with the disk", json.dumps(r))
        if client is not None:
            # vireo-vmm ends an export with its drive (QEMU's export holds the node instead);
            # either way no export may outlive the drive it reads.
            client.settimeout(60)
            try:
                gone = client.recv(1) == b""
            except OSError:
                gone = True
            client.close()
            r = qmp("query-block-exports")
            check(gone and r.get("return") == [], "the export ended with the disk and its "
                  "client was disconnected", json.dumps(r))
            qmp("nbd-server-stop")
            if os.path.exists(nbd_sock):
                os.unlink(nbd_sock)
        r1 = qmp("blockdev-del", {"node-name": "hd-format"})
        r2 = qmp("blockdev-del", {"node-name": "hd-storage"})
        check(r1.get("return") == {} and r2.get("return") == {},
              "blockdev-del of both nodes once the disk is gone", json.dumps([r1, r2]))
        if not qemu:
            r = qmp("qom-list", {"path": "/machine/peripheral"})
            names = [p["name"] for p in r.get("return", [])]
            check("hd" not in names and "rp1" in names, "qom-list: hd gone, rp1 still there",
                  json.dumps(r))
        # Round 2: a NIC.
        r1 = qmp("netdev_add", {"type": "user", "id": "hn"})
        r2 = qmp("device_add", {"driver": "virtio-net-pci", "id": "nic", "netdev": "hn",
                                "mac": MAC, "bus": "rp1"})
        check(r1.get("return") == {} and r2.get("return") == {},
              "netdev_add user and device_add virtio-net-pci on rp1", json.dumps([r1, r2]))
        line = g.wait_line("hotplug: net mac=", timeout=120)
        check(line and MAC in line, f"guest reads the hot-plugged NIC's MAC {MAC}", g.text())
        used = g.wait_line("hotplug: used", timeout=60)
        if not qemu:
            # QEMU 7.2 takes this netdev_del and leaves the NIC without a backend; vireo-vmm
            # refuses it (docs/vmm.md, "Hot-plug").
            r = qmp("netdev_del", {"id": "hn"})
            check("error" in r, "netdev_del of the netdev the NIC uses is refused",
                  json.dumps(r))
        r = qmp("device_del", {"id": "nic"})
        check(used and r.get("return") == {}, "device_del nic accepted", json.dumps(r))
        ev = wait_event(q, "DEVICE_DELETED", "nic", timeout=120)
        check(ev is not None, "DEVICE_DELETED for nic", json.dumps(q.events) + "\n" + g.text())
        check(g.wait_line("hotplug: released", timeout=60), "guest released the NIC", g.text())
        check(tap_exists("vhpi0"), "the inherited tap is alive: the VMM holds it")
        r = qmp("netdev_del", {"id": "hni"})
        check(r.get("return") == {} and not tap_exists("vhpi0"),
              "netdev_del of an inherited tap closes it: the kernel removed the tap",
              json.dumps(r))
        # Round 3: a tap NIC from a descriptor passed with getfd. First the descriptor's owner:
        # the netdev holds the tap alive, and netdev_del lets it go.
        fd = open_tap("vhpa0")
        r = qmp("getfd", {"fdname": "tapa"}, fd=fd)
        os.close(fd)
        check(r.get("return") == {}, "getfd of a tap", json.dumps(r))
        r = qmp("netdev_add", {"type": "tap", "id": "hna", "fd": "nosuch"})
        check(r.get("error", {}).get("desc") == "File descriptor named 'nosuch' has not been found",
              "netdev_add with fd= naming no getfd descriptor is refused as QEMU does",
              json.dumps(r))
        r = qmp("netdev_add", {"type": "tap", "id": "hna", "fd": "tapa"})
        check(r.get("return") == {} and tap_exists("vhpa0"),
              "netdev_add type=tap,fd=NAME: the netdev holds the tap", json.dumps(r))
        r = qmp("closefd", {"fdname": "tapa"})
        check(r.get("error", {}).get("desc") == "File descriptor named 'tapa' not found",
              "closefd: the netdev took the descriptor over", json.dumps(r))
        r = qmp("netdev_del", {"id": "hna"})
        check(r.get("return") == {} and not tap_exists("vhpa0"),
              "netdev_del closes the descriptor: the kernel removed the tap", json.dumps(r))
        # A multiqueue tap passed queue by queue (libvirt's hot-plug of <driver queues='2'/>):
        # fds=NAME0:NAME1. A name that was never passed refuses the whole netdev and the
        # descriptors taken before it are not kept (the tap goes with them).
        for k in range(2):
            fd = open_tap("vhpm0", multi_queue=True)
            qmp("getfd", {"fdname": f"tapm{k}"}, fd=fd)
            os.close(fd)
        r = qmp("netdev_add", {"type": "tap", "id": "hnm", "fds": "tapm0:nosuch"})
        gone = [qmp("closefd", {"fdname": "tapm0"}), qmp("closefd", {"fdname": "tapm1"})]
        check(r.get("error", {}).get("desc") == "File descriptor named 'nosuch' has not been found"
              and (qemu or (gone[0].get("error") is not None and gone[1].get("return") == {}
                            and not tap_exists("vhpm0"))),
              "netdev_add fds= naming no getfd descriptor is refused as QEMU does"
              + ("" if qemu else "; the descriptor it took is not kept, the tap is gone"),
              json.dumps([r] + gone))
        # (QEMU 7.2 keeps the refused netdev's id: a second netdev_add of "hnm" is a
        # "Duplicate ID"; the next one has its own id and tap.)
        for k in range(2):
            fd = open_tap("vhpn0", multi_queue=True)
            qmp("getfd", {"fdname": f"tapn{k}"}, fd=fd)
            os.close(fd)
        r = qmp("netdev_add", {"type": "tap", "id": "hnn", "fds": "tapn0:tapn1"})
        r2 = qmp("closefd", {"fdname": "tapn1"})
        check(r.get("return") == {} and tap_exists("vhpn0") and r2.get("error") is not None,
              "netdev_add type=tap,fds=NAME0:NAME1: the netdev holds both queues",
              json.dumps([r, r2]))
        r = qmp("netdev_del", {"id": "hnn"})
        check(r.get("return") == {} and not tap_exists("vhpn0"),
              "netdev_del of the multiqueue netdev: the kernel removed the tap", json.dumps(r))
        # Hot-plug rounds add and remove netdevs for as long as the VM runs: a slot netdev_del
        # emptied is taken again (vireo-vmm holds 8 at once; this makes 12 in turn).
        rs = []
        for i in range(12):
            rs += [qmp("netdev_add", {"type": "user", "id": f"hr{i}"}),
                   qmp("netdev_del", {"id": f"hr{i}"})]
        check(all(r.get("return") == {} for r in rs),
              "12 netdev_add/netdev_del in turn all succeed (emptied slots are reused)",
              json.dumps([r for r in rs if r.get("return") != {}][:2]))
        fd = open_tap("vhp0")
        r0 = qmp("getfd", {"fdname": "tapfd"}, fd=fd)
        os.close(fd)
        r1 = qmp("netdev_add", {"type": "tap", "id": "hn3", "fd": "tapfd"})
        r2 = qmp("device_add", {"driver": "virtio-net-pci", "id": "nic3", "netdev": "hn3",
                                "mac": TAP_MAC, "bus": "rp1"})
        check(r0.get("return") == {} and r1.get("return") == {} and r2.get("return") == {},
              "getfd, netdev_add tap,fd=NAME and device_add virtio-net-pci on rp1",
              json.dumps([r0, r1, r2]))
        line = g.wait_line("hotplug: net mac=", timeout=120)
        check(line and TAP_MAC in line, f"guest reads the tap NIC's MAC {TAP_MAC}", g.text())
        used = g.wait_line("hotplug: used", timeout=60)
        r = qmp("device_del", {"id": "nic3"})
        check(used and r.get("return") == {}, "device_del nic3 accepted", json.dumps(r))
        ev = wait_event(q, "DEVICE_DELETED", "nic3", timeout=120)
        check(ev is not None, "DEVICE_DELETED for nic3", json.dumps(q.events) + "\n" + g.text())
        check(g.wait_line("hotplug: released", timeout=60), "guest released the tap NIC",
              g.text())
        q.close()
        rc, text, err = g.finish(timeout=120)
        check(rc == 1 and "not ok" not in text and "# hotplug: released" in text,
              "guest: every hot-plug step passed", f"exit {rc}\n{text}\n{err}")
    except (OSError, ValueError, subprocess.TimeoutExpired) as e:
        g.kill()
        check(False, f"the run went on to the end ({e!r})",
              g.text() + "\n" + (g.p.stderr.read() if g.p.stderr else ""))
    finally:
        g.kill()
        for f in (sock, disk):
            if os.path.exists(f):
                os.unlink(f)
        os.rmdir(tmp)
    return tap.report()


if __name__ == "__main__":
    sys.exit(main())
