#!/usr/bin/env python3
"""Save and restore of devices beyond the continuity guest's (virtio-balloon, virtio-net
over user networking, virtio-serial, virtio-scsi, AHCI, VGA), and the MIGRATION failed event of a refused incoming stream.

Usage: test-devsave.py TEST_GUEST_ELF VIREO_VMM BOOTSECTOR

Each case runs a test guest that uses the device before the save, saves it with QMP
migrate to a file:, ends the source, restores a new vireo-vmm from the file with
-incoming and lets the guest use the device again:
 - balloon target: the guest (tests=balloon) waits for the host to ask for pages. The
   source is stopped, the target set (RAM - 32 MiB) while stopped, and saved: the guest
   can only see the target after the restore, so it inflating exactly 32 MiB there shows
   the target travelled; query-balloon on the restored VMM then reports it, and giving the
   pages back works (the guest checks them zeroed, its TAP verdict is checked).
 - balloon statistics: the polling interval set to 1 s on the source, the save taken after
   the guest's second update (its buffer held by the device: a pending request). On the
   restored VMM the interval still reads 1 without being set again, the device asks for
   fresh values by itself, the guest's later updates reach guest-stats, and the guest's own
   count (every buffer it sent was asked for) passes.
 - virtio-net over -netdev user: DHCP and a ping to the gateway before (net_pause=1 holds
   the guest), then after the restore the configuration's MAC and LINK_UP, an ARP exchange
   and a ping again (frames through libslirp both ways).
 - virtio-net over a tap in a network namespace the test makes (198.18.0.0/24): ARP with
   the host kernel before; the restored VMM opens the same tap and ARP works again.
 - virtio-net multiqueue (mq=on, a tap of 4 queues in a namespace, 198.18.1.0/24): a UDP
   echo on each pair's own receive queue before and after the restore (the active pair
   count travels); the stream restored into a NIC of 2 pairs or without mq is refused.
 - virtio-serial: a virtconsole on a socket chardev echoes a line before the save; the guest
   then waits for a second line, the VM is saved meanwhile, and the restored VM (its port on
   a new socket) reads and echoes the second line: its output there is exactly the second
   round and the emergency write (nothing lost, nothing written twice).
 - virtio-scsi: a scsi-hd written and read back before the save, a scsi-cd whose medium
   was changed by QMP; after the restore (with the changed medium on the command line, as
   libvirt's live XML has it) no new unit attention, the blocks read back with their CRC,
   new ones written, the CD holds the new medium; the disk file holds both writes. A
   restore with the first medium is refused with one line naming field 'lun.file'.
 - AHCI: an ide-hd written and read back and an ide-cd whose medium QMP changed; after
   the restore the guest's ports are still started with their command lists (it does not
   set them up again), the blocks read back, new ones are written, the CD is ready at once
   with the new medium.
 - VGA (-vga std): the text screen saved and restored, then the VBE 640x480x32 screen the
   restored guest draws saved and restored again: each screendump after a restore is byte
   for byte the one before the save.
 - pc and q35 with SeaBIOS (the chipset: host bridge with PAM, PIIX3/ICH9 with the PIRQ
   routes and the ACPI block, fw_cfg, port 92): the firmware boots tests/guest/boot's boot
   sector from virtio-blk, which ticks on the BIOS timer; restored after a few ticks, it
   ticks on from where it was (none lost or repeated) and leaves on a 'q' from COM1.
 - A refused incoming stream: -incoming defer, the events capability on, migrate-incoming
   of a damaged file: the process exits 1 and the QMP client got MIGRATION "failed" first.
"""
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time

from vmmlib import Guest, Qmp, Tap

RAM = 128 << 20
GIVE = 32 << 20
tap = Tap()
check = tap.check


def base(vmm, elf, sock, append, extra):
    return shlex.split(vmm) + [
        "-nodefaults", "-display", "none", "-serial", "stdio", "-m", "128M", "-kernel", elf,
        "-append", append, "-qmp", f"unix:{sock},server=on,wait=off",
        "-device", "isa-debug-exit,iobase=0xf4,iosize=4"] + extra


def save(q, path):
    """migrate to file:path; the final query-migrate."""
    r = q.cmd("migrate", {"uri": f"file:{path}"})
    if "error" in r:
        return r
    for _ in range(600):
        r = q.cmd("query-migrate")
        if r["return"].get("status") in ("completed", "failed", "cancelled"):
            return r
        time.sleep(0.05)
    return r


def move(name, g, q, cmd_dst, path, stdin=None):
    """Saves the source to path, ends it, starts the destination from the file."""
    r = save(q, path)
    ok = r.get("return", {}).get("status") == "completed"
    check(ok, f"{name}: migrate file: completes", json.dumps(r))
    q.cmd("quit")
    g.finish(timeout=30)
    if not ok:
        return None
    return Guest(cmd_dst + ["-incoming", f"file:{path}"], stdin=stdin)


def restored(sock):
    """A QMP client on the restored VMM once the load is done (QMP answers during the load,
    while the status is inmigrate)."""
    q = Qmp(sock)
    for _ in range(600):
        if q.cmd("query-status")["return"]["status"] != "inmigrate":
            break
        time.sleep(0.05)
    return q


def verdict(name, g, want):
    try:
        status, out, err = g.finish(timeout=180)
    except subprocess.TimeoutExpired:
        g.kill()
        check(False, f"{name}: the restored guest finishes", g.text())
        return ""
    check(status == 1 and "not ok" not in out and all(w in out for w in want),
          f"{name}: the restored guest passes (exit {status})", out + err)
    return out


def balloon_target(vmm, elf, tmp):
    sock, sock2 = os.path.join(tmp, "bt.sock"), os.path.join(tmp, "bt2.sock")
    dev = ["-device", "virtio-balloon-pci,id=balloon0"]
    app = "tests=balloon balloon_mib=32 balloon_wait_s=120"
    g = Guest(base(vmm, elf, sock, app, dev))
    if not check(g.wait_line("balloon: ready"), "balloon: the guest is ready", g.text()):
        g.kill()
        return
    q = Qmp(sock)
    q.cmd("stop")
    r = q.cmd("balloon", {"value": RAM - GIVE})
    check(r.get("return") == {}, "balloon: target RAM - 32 MiB set while stopped", json.dumps(r))
    g2 = move("balloon", g, q, base(vmm, elf, sock2, app, dev), os.path.join(tmp, "bt.state"))
    if not g2:
        return
    # The source was paused when saved: the restored VM stays paused, as QEMU's does.
    q2 = restored(sock2)
    st = q2.cmd("query-status")["return"]["status"]
    check(st == "paused", "balloon: the restored VM stays paused (its source was)", st)
    q2.cmd("cont")
    inflated = g2.wait_line("balloon: inflated", timeout=120)
    check(inflated, "balloon: the restored guest saw the saved target and inflated",
          g2.text())
    if not inflated:
        g2.kill()
        return
    r = None
    for _ in range(50):
        r = q2.cmd("query-balloon")
        if r.get("return", {}).get("actual") == RAM - GIVE:
            break
        time.sleep(0.1)
    check(r.get("return") == {"actual": RAM - GIVE},
          "balloon: query-balloon on the restored VMM: RAM - 32 MiB", json.dumps(r))
    q2.cmd("balloon", {"value": RAM})
    verdict("balloon", g2, ["num_pages 8192 asked, 8192 pages inflated"])


def balloon_stats(vmm, elf, tmp):
    sock, sock2 = os.path.join(tmp, "bs.sock"), os.path.join(tmp, "bs2.sock")
    dev = ["-device", "virtio-balloon-pci,id=balloon0"]
    app = "tests=balloon balloon_stats=1 balloon_stats_updates=6 balloon_wait_s=120"
    g = Guest(base(vmm, elf, sock, app, dev))
    if not check(g.wait_line("balloon-stats: sent 1 "), "balloon stats: first update",
                 g.text()):
        g.kill()
        return
    q = Qmp(sock)
    path = "/machine/peripheral/balloon0"
    interval = {"path": path, "property": "guest-stats-polling-interval"}
    q.cmd("qom-set", dict(interval, value=1))
    if not check(g.wait_line("balloon-stats: sent 2 "), "balloon stats: second update",
                 g.text()):
        g.kill()
        return
    g2 = move("balloon stats", g, q, base(vmm, elf, sock2, app, dev),
              os.path.join(tmp, "bs.state"))
    if not g2:
        return
    q2 = restored(sock2)
    r = q2.cmd("qom-get", interval)
    check(r.get("return") == 1, "balloon stats: the polling interval is still 1 s",
          json.dumps(r))
    seen = g2.wait_line("balloon-stats: sent 4 ", timeout=120)
    check(seen, "balloon stats: the restored device asks for fresh values by itself",
          g2.text())
    n = -1
    for _ in range(50):
        r = q2.cmd("qom-get", {"path": path, "property": "guest-stats"})
        n = r.get("return", {}).get("stats", {}).get("stat-major-faults", -1)
        if 4 <= n < 1 << 63:
            break
        time.sleep(0.1)
    check(4 <= n < 1 << 63, f"balloon stats: guest-stats has the update after the restore "
          f"(stat-major-faults {n})", json.dumps(r))
    verdict("balloon stats", g2, ["the device asked for fresh ones"])


def net_user(vmm, elf, tmp):
    sock, sock2 = os.path.join(tmp, "nu.sock"), os.path.join(tmp, "nu2.sock")
    dev = ["-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0,id=nic0"]
    app = "tests=net net_dhcp=1 net_pause=1"
    g = Guest(base(vmm, elf, sock, app, dev))
    if not check(g.wait_line("net: paused", timeout=180), "net: DHCP and ping before the save",
                 g.text()):
        g.kill()
        return
    before = g.text()
    q = Qmp(sock)
    g2 = move("net", g, q, base(vmm, elf, sock2, app, dev), os.path.join(tmp, "nu.state"),
              stdin=subprocess.PIPE)
    if not g2:
        return
    restored(sock2)
    g2.type("c")
    out = verdict("net", g2, ["ok", "net: config MAC unchanged after the pause",
                              "LINK_UP after the pause"])
    replies = len(re.findall(r"^ok .*ping: echo reply", before + out, re.M))
    check("ping: echo reply" in before and replies == 2,
          f"net: a ping answered through slirp before and after the restore ({replies})",
          before + out)


def connect(path, timeout=20):
    end = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            if time.monotonic() > end:
                raise
            time.sleep(0.05)


def read_until(s, want, timeout=60):
    """Reads from s until `want` is in what came (or EOF, or timeout); returns it all."""
    got = b""
    s.settimeout(1)
    end = time.monotonic() + timeout
    while want not in got and time.monotonic() < end:
        try:
            b = s.recv(4096)
        except socket.timeout:
            continue
        if not b:
            break
        got += b
    return got


def console(vmm, elf, tmp):
    sock, sock2 = os.path.join(tmp, "vc.sock"), os.path.join(tmp, "vc2.sock")
    cs, cs2 = os.path.join(tmp, "vc.chr"), os.path.join(tmp, "vc2.chr")

    def dev(path):
        return ["-chardev", f"socket,id=c0,path={path},server=on,wait=off",
                "-device", "virtio-serial-pci,id=vser0",
                "-device", "virtconsole,chardev=c0,name=org.vireo.0,id=vc0"]
    app = "tests=console con_name=org.vireo.0 con_again=1"
    g = Guest(base(vmm, elf, sock, app, dev(cs)))
    if not check(g.wait_line("waiting for a line on port 0", timeout=120),
                 "console: handshake done, the guest waits for a line", g.text()):
        g.kill()
        return
    c = connect(cs)
    c.sendall(b"first line\n")
    got = read_until(c, b"ECHO: FIRST LINE\n")
    check(got == b"vireo-testguest console: hello\nECHO: FIRST LINE\n",
          "console: the echo before the save", repr(got))
    if not check(g.wait_line("waiting for a second line", timeout=60),
                 "console: the guest waits for its second line", g.text()):
        g.kill()
        return
    q = Qmp(sock)
    g2 = move("console", g, q, base(vmm, elf, sock2, app, dev(cs2)), os.path.join(tmp, "vc.state"))
    c.close()
    if not g2:
        return
    restored(sock2)
    c2 = connect(cs2)
    c2.sendall(b"second line, after the restore\n")
    got = read_until(c2, b"EMERG\n")
    check(got == b"vireo-testguest console: hello\nECHO: SECOND LINE, AFTER THE RESTORE\nEMERG\n",
          "console: the port works after the restore, nothing lost or doubled", repr(got))
    verdict("console", g2, ["console: hello and the second echo written on port 0"])
    c2.close()


def net_tap(vmm, elf, tmp):
    """virtio-net on a tap in a network namespace made here (198.18.0.0/24): an ARP exchange
    with the host kernel before the save; the restored VMM opens the same tap (the stream
    carries nothing of it) and the exchange works again, MAC and link kept."""
    ns = f"vireo-devsave-{os.getpid()}"
    tap = f"vdsv{os.getpid() % 100000}"
    sock, sock2 = os.path.join(tmp, "nt.sock"), os.path.join(tmp, "nt2.sock")

    def ip(*a):
        return subprocess.run(["ip", "netns", "exec", ns, "ip"] + list(a), capture_output=True,
                              text=True)
    if subprocess.run(["ip", "netns", "add", ns], capture_output=True).returncode != 0:
        check(False, "net tap: a network namespace (needs root)")
        return
    try:
        for a in (["tuntap", "add", "dev", tap, "mode", "tap", "vnet_hdr"],
                  ["addr", "add", "198.18.0.1/24", "dev", tap], ["link", "set", tap, "up"]):
            r = ip(*a)
            if r.returncode:
                check(False, f"net tap: ip {' '.join(a)}", r.stderr)
                return
        dev = ["-netdev", f"tap,id=t0,ifname={tap},script=no,downscript=no,vhost=off",
               "-device", "virtio-net-pci,netdev=t0,id=nic0"]
        app = "tests=net net_pause=1 net_ip=198.18.0.15 net_peer=198.18.0.1"
        pre = ["ip", "netns", "exec", ns]
        g = Guest(pre + base(vmm, elf, sock, app, dev))
        if not check(g.wait_line("net: paused", timeout=180),
                     "net tap: ARP answered by the host kernel before the save", g.text()):
            g.kill()
            return
        before = g.text()
        q = Qmp(sock)
        g2 = move("net tap", g, q, pre + base(vmm, elf, sock2, app, dev),
                  os.path.join(tmp, "nt.state"), stdin=subprocess.PIPE)
        if not g2:
            return
        restored(sock2)
        g2.type("c")
        out = verdict("net tap", g2, ["net: config MAC unchanged after the pause",
                                      "LINK_UP after the pause"])
        replies = len(re.findall(r"^ok .*ARP reply from 198.18.0.1 received", before + out, re.M))
        check(replies == 2, f"net tap: ARP replies before and after the restore ({replies})",
              before + out)
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


ECHO_UDP = r'''
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.18.1.1", 7))
s.settimeout(300)
try:
    while True:
        data, addr = s.recvfrom(2048)
        s.sendto(data, addr)
        print(addr[1], flush=True)
except OSError:
    pass
'''


def net_tap_mq(vmm, elf, tmp):
    """virtio-net multiqueue (mq=on) on a tap of 4 queues in a network namespace made here
    (198.18.1.0/24): the guest sets 4 pairs and gets a UDP echo on each pair's own receive
    queue before the save; after the restore it sends on every pair again without setting
    the count, and each echo must again come back on its own queue (the restored device has
    4 pairs active and the tap's 4 queues attached). Restoring the stream into a NIC of 2
    pairs, or one without mq, is refused with one line naming field 'net.mq'."""
    ns = f"vireo-devsave-mq-{os.getpid()}"
    tap = f"vdmq{os.getpid() % 100000}"
    sock, sock2 = os.path.join(tmp, "mq.sock"), os.path.join(tmp, "mq2.sock")

    def ip(*a):
        return subprocess.run(["ip", "netns", "exec", ns, "ip"] + list(a), capture_output=True,
                              text=True)
    if subprocess.run(["ip", "netns", "add", ns], capture_output=True).returncode != 0:
        check(False, "net mq: a network namespace (needs root)")
        return
    echo = None
    try:
        for a in (["tuntap", "add", "dev", tap, "mode", "tap", "vnet_hdr", "multi_queue"],
                  ["addr", "add", "198.18.1.1/24", "dev", tap], ["link", "set", tap, "up"],
                  ["neigh", "replace", "198.18.1.15", "lladdr", "52:54:00:12:34:56", "dev", tap,
                   "nud", "permanent"]):
            r = ip(*a)
            if r.returncode:
                check(False, f"net mq: ip {' '.join(a)}", r.stderr)
                return
        echo = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", ECHO_UDP],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        def dev(queues, mq="on"):
            return ["-netdev", f"tap,id=t0,ifname={tap},script=no,downscript=no,vhost=off,"
                    f"queues={queues}", "-device", f"virtio-net-pci,netdev=t0,id=nic0,mq={mq}"]
        app = "tests=net net_pause=1 net_ip=198.18.1.15 net_peer=198.18.1.1 net_mq=4"
        pre = ["ip", "netns", "exec", ns]
        g = Guest(pre + base(vmm, elf, sock, app, dev(4)))
        if not check(g.wait_line("net: paused", timeout=180) and "not ok" not in g.text(),
                     "net mq: an echo on each of 4 pairs before the save", g.text()):
            g.kill()
            return
        before = g.text()
        q = Qmp(sock)
        path = os.path.join(tmp, "mq.state")
        g2 = move("net mq", g, q, pre + base(vmm, elf, sock2, app, dev(4)), path,
                  stdin=subprocess.PIPE)
        if not g2:
            return
        restored(sock2)
        g2.type("c")
        out = verdict("net mq", g2, ["net: config MAC unchanged after the pause"])
        for p in range(4):
            n = len(re.findall(r"^ok .*mq pair %d: its echo came back on receive queue %d"
                               % (p, 2 * p), before + out, re.M))
            check(n == 2, f"net mq: pair {p}'s echo on its own queue before and after the "
                  f"restore ({n})", before + out)
        for queues, mq, name in ((2, "on", "2 pairs"), (4, "off", "mq=off")):
            r = subprocess.run(pre + base(vmm, elf, os.path.join(tmp, "mq3.sock"), app,
                                          dev(queues, mq)) + ["-incoming", f"file:{path}"],
                               capture_output=True, text=True, timeout=60)
            lines = [x for x in r.stderr.strip().splitlines() if x]
            check(r.returncode != 0 and len(lines) == 1 and "field 'net.mq'" in lines[0],
                  f"net mq: the stream restored into a NIC with {name} is refused with one "
                  f"line", r.stderr)
    finally:
        if echo:
            echo.terminate()
            echo.communicate(timeout=30)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def pattern(n, seed):
    """t-scsi.c's pattern()."""
    return bytes((((i * 7 + seed * 13 + (i >> 8)) & 0xFF) ^ (seed & 0xFF)) for i in range(n))


def make_iso(tmp, label, name):
    src = os.path.join(tmp, name + "-src")
    os.makedirs(src, exist_ok=True)
    with open(os.path.join(src, "hello.txt"), "w") as f:
        f.write(f"medium {label}\n")  # the same size: only the file name tells them apart
    iso = os.path.join(tmp, name + ".iso")
    subprocess.run(["xorriso", "-as", "mkisofs", "-quiet", "-V", label, "-o", iso, src],
                   check=True, capture_output=True)
    return iso


def scsi(vmm, elf, tmp):
    sock, sock2 = os.path.join(tmp, "sc.sock"), os.path.join(tmp, "sc2.sock")
    disk = os.path.join(tmp, "sc.raw")
    with open(disk, "wb") as f:
        f.write(os.urandom(1 << 20))
    iso_a, iso_b = make_iso(tmp, "VOL_A", "a"), make_iso(tmp, "VOL_B", "b")

    def dev(cd):
        return ["-device", "virtio-scsi-pci,id=scsi0",
                "-drive", f"file={disk},format=raw,if=none,id=d0",
                "-device", "scsi-hd,drive=d0,bus=scsi0.0,scsi-id=0,lun=0,id=hd0",
                "-drive", f"file={cd},format=raw,if=none,id=cd0,media=cdrom",
                "-device", "scsi-cd,drive=cd0,bus=scsi0.0,scsi-id=1,id=cdrom0"]
    app = "tests=scsi scsi_blocks=2048 scsi_cd_label=VOL_A scsi_cd_change=VOL_B scsi_pause=1"
    g = Guest(base(vmm, elf, sock, app, dev(iso_a)))
    if not check(g.wait_line("scsi-cd: ready", timeout=120), "scsi: the guest waits for the "
                 "medium change", g.text()):
        g.kill()
        return
    q = Qmp(sock)
    r = q.cmd("blockdev-change-medium", {"id": "cdrom0", "filename": iso_b, "format": "raw"})
    check(r.get("return") == {}, "scsi: the CD's medium changed to the second ISO", json.dumps(r))
    if not check(g.wait_line("scsi: paused", timeout=120),
                 "scsi: disk written and read, new medium seen, the guest pauses", g.text()):
        g.kill()
        return
    state = os.path.join(tmp, "sc.state")
    r = save(q, state)
    ok = r.get("return", {}).get("status") == "completed"
    check(ok, "scsi: migrate file: completes", json.dumps(r))
    q.cmd("quit")
    g.finish(timeout=30)
    if not ok:
        return
    # The first medium is not the one the saved VM had: refused, naming the field.
    p = subprocess.run(base(vmm, elf, sock2, app, dev(iso_a)) + ["-incoming", f"file:{state}"],
                       capture_output=True, text=True, timeout=60)
    lines = [x for x in p.stderr.splitlines() if "load of migration failed" in x]
    check(p.returncode == 1 and len(lines) == 1 and "field 'lun.file'" in lines[0] and
          iso_b in lines[0], "scsi: a restore with another medium is refused with one line",
          p.stderr)
    g2 = Guest(base(vmm, elf, sock2, app, dev(iso_b)) + ["-incoming", f"file:{state}"],
               stdin=subprocess.PIPE)
    restored(sock2)
    g2.type("c")
    verdict("scsi", g2, ["ok", "TEST UNIT READY is GOOD after the pause",
                         "the blocks at LBA 64 read back after the pause",
                         "32 blocks written at LBA 128 read back",
                         "the CD holds the same medium after the pause, label 'VOL_B'"])
    with open(disk, "rb") as f:
        f.seek(64 * 512)
        a = f.read(32 * 512)
        f.seek(128 * 512)
        b = f.read(32 * 512)
    check(a == pattern(32 * 512, 0x5CA1AB1E) and b == pattern(32 * 512, 0xFEEDF00D),
          "scsi: the disk file holds both writes, before and after the restore")


def ahci(vmm, elf, tmp):
    """The AHCI controller with an ide-hd and an ide-cd whose medium QMP changed: the guest's
    ports keep their registers over the restore (it does not set them up again), the disk's
    blocks read back, the CD is ready at once with the new medium."""
    sock, sock2 = os.path.join(tmp, "ah.sock"), os.path.join(tmp, "ah2.sock")
    disk = os.path.join(tmp, "ah.raw")
    with open(disk, "wb") as f:
        f.write(os.urandom(1 << 20))
    iso_a, iso_b = make_iso(tmp, "VOL_A", "ah-a"), make_iso(tmp, "VOL_B", "ah-b")

    def dev(cd):
        return ["-device", "ahci,id=sata0",
                "-drive", f"file={disk},format=raw,if=none,id=d0",
                "-device", "ide-hd,drive=d0,bus=sata0.0,id=hd0",
                "-drive", f"file={cd},format=raw,if=none,id=cd0,media=cdrom",
                "-device", "ide-cd,drive=cd0,bus=sata0.2,id=cdrom0"]
    app = "tests=ahci ahci_blocks=2048 ahci_cd_label=VOL_A ahci_cd_change=VOL_B ahci_pause=1"
    g = Guest(base(vmm, elf, sock, app, dev(iso_a)))
    if not check(g.wait_line("ahci-cd: ready", timeout=400), "ahci: the guest waits for the "
                 "medium change", g.text()):
        g.kill()
        return
    q = Qmp(sock)
    r = q.cmd("blockdev-change-medium", {"id": "cdrom0", "filename": iso_b, "format": "raw"})
    check(r.get("return") == {}, "ahci: the CD's medium changed to the second ISO", json.dumps(r))
    if not check(g.wait_line("ahci: paused", timeout=120),
                 "ahci: disk written and read, new medium seen, the guest pauses", g.text()):
        g.kill()
        return
    g2 = move("ahci", g, q, base(vmm, elf, sock2, app, dev(iso_b)),
              os.path.join(tmp, "ah.state"), stdin=subprocess.PIPE)
    if not g2:
        return
    restored(sock2)
    g2.type("c")
    verdict("ahci", g2, ["the port is still started",
                         "the blocks at LBA 64 read back after the pause",
                         "32 blocks written at LBA 128 read back",
                         "the CD is ready at once with the same medium, label 'VOL_B'"])


def vga(vmm, elf, tmp):
    """Text mode saved and restored, then the VBE mode the restored guest draws, saved again:
    each restored VMM's screendump is byte for byte the one before the save."""
    socks = [os.path.join(tmp, f"vg{i}.sock") for i in range(3)]
    dev = ["-M", "microvm,acpi=on,pcie=on", "-vga", "std"]
    app = "tests=vga vga_wait=1"

    def dump(q, name):
        path = os.path.join(tmp, name + ".ppm")
        r = q.cmd("screendump", {"filename": path})
        if "error" in r:
            return repr(r)
        with open(path, "rb") as f:
            return f.read()

    g = Guest(base(vmm, elf, socks[0], app, dev), stdin=subprocess.PIPE)
    if not check(g.wait_line("vga: text ready", timeout=120), "vga: the text screen is drawn",
                 g.text()):
        g.kill()
        return
    q = Qmp(socks[0])
    before = dump(q, "text-before")
    g2 = move("vga text", g, q, base(vmm, elf, socks[1], app, dev),
              os.path.join(tmp, "vg1.state"), stdin=subprocess.PIPE)
    if not g2:
        return
    q2 = restored(socks[1])
    after = dump(q2, "text-after")
    check(isinstance(before, bytes) and len(before) > 1000 and after == before,
          "vga: the text screen's screendump is identical after the restore",
          f"{len(before)} {len(after)} bytes")
    g2.type("\n")
    if not check(g2.wait_line("vga: vbe ready", timeout=180),
                 "vga: the restored guest draws the VBE screen", g2.text()):
        g2.kill()
        return
    before = dump(q2, "vbe-before")
    g3 = move("vga vbe", g2, q2, base(vmm, elf, socks[2], app, dev),
              os.path.join(tmp, "vg2.state"), stdin=subprocess.PIPE)
    if not g3:
        return
    q3 = restored(socks[2])
    after = dump(q3, "vbe-after")
    check(isinstance(before, bytes) and before.startswith(b"P6\n640 480") and after == before,
          "vga: the VBE 640x480x32 screendump is identical after the restore",
          f"{before[:20]!r} {after[:20]!r}")
    g3.type("\n")
    verdict("vga", g3, [])


def firmware(vmm, bootsector, tmp, machine):
    """SeaBIOS on pc or q35 boots the boot sector from virtio-blk (disk 'L': it ticks with
    the BIOS timer until a 'q'); saved after a few ticks, restored: the ticks go on from
    where they were, and the 'q' ends it with the disk's letter as the exit status."""
    disk = os.path.join(tmp, f"boot-{machine}.raw")
    d = bytearray(open(bootsector, "rb").read())
    d[d.index(b"disk ?") + 5] = ord("L")
    with open(disk, "wb") as f:
        f.write(bytes(d))
        f.truncate(1 << 20)
    sock, sock2 = os.path.join(tmp, f"fw-{machine}.sock"), os.path.join(tmp, f"fw2-{machine}.sock")

    def cmd(s):
        return shlex.split(vmm) + [
            "-M", machine, "-nodefaults", "-display", "none", "-m", "64", "-serial", "stdio",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=1",
            "-drive", f"file={disk},format=raw,if=none,id=d0", "-device", "virtio-blk-pci,drive=d0",
            "-qmp", f"unix:{s},server=on,wait=off"]
    g = Guest(cmd(sock))
    if not check(g.wait_line("bootsector: tick=03", timeout=300),
                 f"{machine}: SeaBIOS booted the ticking boot sector", g.text()[-500:]):
        g.kill()
        return
    q = Qmp(sock)
    g2 = move(machine, g, q, cmd(sock2), os.path.join(tmp, f"fw-{machine}.state"),
              stdin=subprocess.PIPE)
    before = g.text()
    if not g2:
        return
    restored(sock2)
    seen = g2.wait_line("bootsector: tick=", timeout=60)
    n0 = len(re.findall(r"tick=(\d+)", before))
    more = g2.wait_line(f"tick={n0 + 3:02d}", timeout=60)
    g2.type("q")
    try:
        status, out, err = g2.finish(timeout=60)
    except subprocess.TimeoutExpired:
        g2.kill()
        status, out, err = None, g2.text(), ""
    t = [int(x) for x in re.findall(r"tick=(\d+)", before + g2.text())]
    check(seen and more and t == list(range(1, len(t) + 1)),
          f"{machine}: the ticks go on after the restore, none lost or repeated", f"{t}")
    check(status == ((ord("L") << 1) | 1) & 0xFF,
          f"{machine}: the restored boot sector reads COM1 and leaves (exit {status})", out + err)


def failed_event(vmm, elf, tmp):
    """The MIGRATION failed event reaches the client before a refused stream ends the VMM."""
    bad = os.path.join(tmp, "bad.state")
    with open(bad, "wb") as f:
        f.write(b"VIREOVM\n" + b"\x07" * 4096)
    sock = os.path.join(tmp, "fe.sock")
    g = Guest(base(vmm, elf, sock, "tests=state", []) + ["-incoming", "defer"])
    q = Qmp(sock)
    q.cmd("migrate-set-capabilities", {"capabilities": [{"capability": "events", "state": True}]})
    r = q.cmd("migrate-incoming", {"uri": f"file:{bad}"})
    check("return" in r, "failed event: migrate-incoming is accepted", json.dumps(r))
    q.s.settimeout(30)
    events = list(q.events)
    try:
        for line in q.f:
            m = json.loads(line)
            if "event" in m:
                events.append(m)
    except (OSError, socket.timeout, ValueError):
        pass
    status, out, err = g.finish(timeout=30)
    mig = [e["data"]["status"] for e in events if e.get("event") == "MIGRATION"]
    check(status == 1 and mig and mig[-1] == "failed",
          f"failed event: exit 1 after MIGRATION failed (statuses {mig})",
          f"exit {status}\n{err}\n{events}")


def main():
    elf, vmm, bootsector = sys.argv[1], sys.argv[2], sys.argv[3]
    tmp = tempfile.mkdtemp(prefix="vireo-devsave-", dir=os.environ.get("MESON_BUILD_ROOT"))
    try:
        for case in (balloon_target, balloon_stats, net_user, net_tap, net_tap_mq, console, scsi, ahci, vga,
                     failed_event):
            case(vmm, elf, tmp)
        for machine in ("pc", "q35"):
            firmware(vmm, bootsector, tmp, machine)
    finally:
        tap.report()
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
