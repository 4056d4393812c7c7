#!/usr/bin/env python3
"""e1000 (Intel 82540EM) end to end: the test guest's `net` test, which drives an e1000
with its own polled driver when no virtio-net is present, under vireo-vmm and, in the same
run, under QEMU's microvm (PCIe root) with QEMU's e1000: the same guest must pass both
(QEMU's device is the reference for what this driver sees).

Usage: test-e1000.py RUN_GUEST TEST_GUEST_ELF VIREO_VMM QEMU

For each VMM:
 - -netdev user: the guest reads the subsystem id, the EEPROM (checksum 0xBABA, MAC) and
   RAL0/RAH0, the PHY's identity and link through MDIC, then asks slirp's gateway for its
   MAC (ARP), takes a DHCP lease and pings the gateway with 1000 bytes whose ICMP checksum
   the device inserts (TCP/IP context descriptor, TXSM): slirp drops a bad checksum, so
   the reply proves the insertion; with mac= the EEPROM and the reply follow it.
 - an e1000 then a virtio-net card without mac=: the second gets 52:54:00:12:34:57;
 - a tap in a network namespace made here (198.18.0.1/24 on the host side): ARP and a
   ping answered by the host kernel, and the tap's counters show frames both ways.
vireo-vmm only:
 - save and restore (migrate to file:, -incoming): a lease and a ping before, then the
   restored NIC keeps RAL0 and link, and ARP and ping work again through slirp;
 - QMP set_link: started paused with the link taken down, the guest sees STATUS.LU
   clear; set_link on (by the netdev's id) brings LU and an LSC cause, then ARP works
   (also under QEMU);
 - -device e1000 without netdev= is refused with one line;
 - -net nic,model=e1000 with -net user, and -nic user,model=e1000-82540em.
"""
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmmlib import Guest, Qmp, Tap  # noqa: E402

tap = Tap()
check = tap.check


def run(run_guest, elf, vmm, append, extra, name, pre=""):
    args = [run_guest, "--quiet", "--vmm", (pre + " " + vmm).strip(), "--kernel", elf,
            "--append", append, "--extra", extra, "--timeout", "90"]
    p = subprocess.run(args, capture_output=True, text=True, timeout=150)
    check(p.returncode == 0, name, None if p.returncode == 0 else p.stdout + p.stderr)
    return p


def user_checks(run_guest, elf, vmm, who):
    run(run_guest, elf, vmm, "tests=net net_dhcp=1 net_csum=1",
        "-netdev user,id=n0 -device e1000,netdev=n0",
        f"{who}: user networking: EEPROM, PHY, ARP, DHCP lease and a ping whose ICMP "
        "checksum the e1000 inserted")
    run(run_guest, elf, vmm, "tests=net net_dhcp=1 net_mac=52:54:00:ab:cd:ef",
        "-netdev user,id=n0 -device e1000,netdev=n0,mac=52:54:00:ab:cd:ef",
        f"{who}: mac=52:54:00:ab:cd:ef in the EEPROM and RAL0/RAH0, the lease and ping follow")
    # Default MACs count every NIC before, whatever its model: the virtio-net card after an
    # e1000 is 52:54:00:12:34:57 (the guest drives the virtio one when both are present).
    run(run_guest, elf, vmm, "tests=net net_mac=52:54:00:12:34:57 net_numbuf0=ok",
        "-netdev user,id=n0 -netdev user,id=n1 -device e1000,netdev=n0 "
        "-device virtio-net-pci,netdev=n1",
        f"{who}: a virtio-net card after an e1000 gets the next default MAC")


def legacy_checks(run_guest, elf, vmm):
    run(run_guest, elf, vmm, "tests=net net_dhcp=1 net_mac=52:54:00:12:34:77",
        "-net nic,model=e1000,macaddr=52:54:00:12:34:77 -net user",
        "vireo-vmm: -net nic,model=e1000 -net user: an e1000 with that MAC gets a lease")
    run(run_guest, elf, vmm, "tests=net net_dhcp=1",
        "-nic user,model=e1000-82540em", "vireo-vmm: -nic user,model=e1000-82540em")


def ip(ns, *a):
    return subprocess.run(["ip", "netns", "exec", ns, "ip"] + list(a), capture_output=True,
                          text=True)


def tap_checks(run_guest, elf, vmm, who, n):
    ns = "vireo-e1k-%d-%d" % (os.getpid(), n)
    dev = "ve1k%d%d" % (os.getpid() % 10000, n)
    try:
        r = subprocess.run(["ip", "netns", "add", ns], capture_output=True, text=True)
        if not check(r.returncode == 0, f"{who}: a network namespace (needs root)", r.stderr):
            return
        for a in (["tuntap", "add", "dev", dev, "mode", "tap", "vnet_hdr"],
                  ["addr", "add", "198.18.0.1/24", "dev", dev], ["link", "set", dev, "up"],
                  ["link", "set", "lo", "up"]):
            r = ip(ns, *a)
            if not check(r.returncode == 0, f"{who}: ip {' '.join(a)}", r.stderr):
                return
        run(run_guest, elf, vmm, "tests=net net_ip=198.18.0.15 net_peer=198.18.0.1 net_ping=1200",
            f"-netdev tap,id=t0,ifname={dev},script=no,downscript=no,vhost=off "
            "-device e1000,netdev=t0",
            f"{who}: tap in a network namespace: ARP and a 1200-byte ping answered by the "
            "host kernel", pre=f"ip netns exec {ns}")
        st = ip(ns, "-s", "-j", "link", "show", dev).stdout
        try:
            s64 = json.loads(st)[0]["stats64"]
            good = s64["rx"]["packets"] >= 2 and s64["tx"]["packets"] >= 2
        except (ValueError, KeyError, IndexError):
            good = False
        check(good, f"{who}: the host's tap counted frames both ways", st)
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def base(vmm, elf, sock, append, extra):
    return shlex.split(vmm) + [
        "-nodefaults", "-display", "none", "-serial", "stdio", "-m", "128M", "-kernel", elf,
        "-append", append, "-qmp", f"unix:{sock},server=on,wait=off",
        "-device", "isa-debug-exit,iobase=0xf4,iosize=4"] + extra


def link(vmm, elf, tmp, who):
    """Started paused, set_link off, cont: the guest sees the link down; set_link on: it
    sees LU and LSC, then its ARP exchange works."""
    sock = os.path.join(tmp, "l.sock")
    dev = ["-netdev", "user,id=n0", "-device", "e1000,netdev=n0,id=nic0", "-S"]
    g = Guest(base(vmm, elf, sock, "tests=net net_link=down", dev))
    q = Qmp(sock)
    r = q.cmd("set_link", {"name": "nic0", "up": False})
    check("return" in r, f"{who}: set_link nic0 off", json.dumps(r))
    q.cmd("cont")
    seen = g.wait_line("net: e1000 STATUS link down", timeout=120)
    r = q.cmd("set_link", {"name": "n0", "up": True})  # by the netdev's id, as QEMU allows
    check(seen and "return" in r, f"{who}: the guest saw the link down; set_link n0 on",
          g.text() + json.dumps(r))
    try:
        status, out, err = g.finish(timeout=180)
    except subprocess.TimeoutExpired:
        g.kill()
        status, out, err = -1, g.text(), ""
    check(status == 1 and "not ok" not in out and "ICR has LSC" in out and
          "ARP reply from 10.0.2.2 received" in out,
          f"{who}: link up again with LSC, then the ARP exchange (exit {status})", out + err)


def save_restore(vmm, elf, tmp):
    sock, sock2 = os.path.join(tmp, "s.sock"), os.path.join(tmp, "s2.sock")
    state = os.path.join(tmp, "e1000.state")
    dev = ["-netdev", "user,id=n0", "-device", "e1000,netdev=n0,id=nic0"]
    app = "tests=net net_dhcp=1 net_pause=1"
    g = Guest(base(vmm, elf, sock, app, dev))
    if not check(g.wait_line("net: paused", timeout=180),
                 "save/restore: DHCP and ping before the save", g.text()):
        g.kill()
        return
    before = g.text()
    q = Qmp(sock)
    r = q.cmd("migrate", {"uri": f"file:{state}"})
    for _ in range(600):
        r = q.cmd("query-migrate")
        if r.get("return", {}).get("status") in ("completed", "failed", "cancelled"):
            break
        time.sleep(0.05)
    ok = r.get("return", {}).get("status") == "completed"
    check(ok, "save/restore: migrate file: completes with an e1000", json.dumps(r))
    q.cmd("quit")
    g.finish(timeout=30)
    if not ok:
        return
    g2 = Guest(base(vmm, elf, sock2, app, dev) + ["-incoming", f"file:{state}"],
               stdin=subprocess.PIPE)
    q2 = Qmp(sock2)
    for _ in range(600):
        if q2.cmd("query-status")["return"]["status"] != "inmigrate":
            break
        time.sleep(0.05)
    g2.type("c")
    try:
        status, out, err = g2.finish(timeout=180)
    except subprocess.TimeoutExpired:
        g2.kill()
        check(False, "save/restore: the restored guest finishes", g2.text())
        return
    check(status == 1 and "not ok" not in out and "RAL0 unchanged after the pause" in out and
          "STATUS has LU after the pause" in out,
          f"save/restore: the restored e1000 keeps its MAC and link (exit {status})", out + err)
    replies = len(re.findall(r"^ok .*ping: echo reply", before + out, re.M))
    check(replies == 2, f"save/restore: a ping answered before and after the restore ({replies})",
          before + out)


def main():
    run_guest, elf, vmm, qemu = sys.argv[1:5]
    user_checks(run_guest, elf, vmm, "vireo-vmm")
    user_checks(run_guest, elf, qemu, "QEMU")
    legacy_checks(run_guest, elf, vmm)
    tap_checks(run_guest, elf, vmm, "vireo-vmm", 0)
    tap_checks(run_guest, elf, qemu, "QEMU", 1)
    with tempfile.TemporaryDirectory() as tmp:
        link(vmm, elf, tmp, "vireo-vmm")
        link(qemu, elf, tmp, "QEMU")
        save_restore(vmm, elf, tmp)
    r = subprocess.run([vmm, "-nodefaults", "-display", "none", "-device", "e1000"],
                       capture_output=True, text=True, timeout=30)
    lines = r.stderr.strip().splitlines()
    check(r.returncode != 0 and len(lines) == 1 and "netdev" in lines[0],
          "-device e1000 without netdev= is refused with one line", r.stderr)
    return tap.report()


if __name__ == "__main__":
    sys.exit(main())
