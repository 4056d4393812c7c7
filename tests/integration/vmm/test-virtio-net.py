#!/usr/bin/env python3
"""virtio-net end to end: the test guest's `net` test under a VMM.

Usage: test-virtio-net.py RUN_GUEST TEST_GUEST_ELF VMM...

VMM is a command prefix (vireo-vmm's path, or
'qemu-system-x86_64 -enable-kvm -M microvm,acpi=on,pcie=on'). Checks:
 - -netdev user: the guest sends an ARP request for slirp's gateway
   10.0.2.2 from 10.0.2.15 and must get slirp's reply (every field checked
   in the guest), with the default MAC 52:54:00:12:34:56 in config space;
 - the same with an explicit mac=, which the guest must read back and get
   the reply addressed to, and host_mtu=1400 (F_MTU offered, mtu in the
   device configuration);
 - vireo-vmm only: hostfwd=tcp:127.0.0.1:PORT-:22 makes slirp listen on the
   host port (a connection is accepted while the VM sits paused by -S),
   and a host port already taken is refused with one error line;
 - DHCP through slirp's server (offer 10.0.2.15, router 10.0.2.2, DNS
   10.0.2.3, then ACK; and with net=/host=/dhcpstart=/dns= the offer
   follows them), and a 1000-byte ICMP echo to 10.0.2.2 from the
   leased address whose reply must arrive intact over MRG_RXBUF spread
   across 256-byte receive buffers;
 - vireo-vmm only, as root: a network namespace made here, with a tap
   device holding 198.18.3.1/24 (MTU 9000); vireo-vmm runs inside it with
   -netdev tap,ifname=...; the guest asks for 198.18.3.1 from 198.18.3.15 and
   the host kernel must answer; the tap's counters must show frames both
   ways. In the same run the guest negotiates CSUM, GUEST_CSUM and
   MRG_RXBUF: it sends a UDP datagram with NEEDS_CSUM and only the
   pseudo-header sum in the checksum field, which a socket in the
   namespace must receive (the host kernel completed the checksum), and
   the same datagram without NEEDS_CSUM, which the host must drop; and it
   receives 4000-byte datagrams the host sends (partial checksum through
   TUNSETOFFLOAD, a frame over two 2048-byte buffers), checking payload and
   checksum. Without root these checks are skipped.
 - multiqueue, as root: a tap made with multi_queue in a namespace of its own (198.18.4.1/24)
   and a UDP echo server on 198.18.4.1:7 there; the guest (net_mq=4) negotiates MQ and
   CTRL_VQ, gets VIRTIO_NET_ERR for VQ_PAIRS_SET 0 and 5 and OK for 4, and sends one
   datagram per pair from its own port, whose echo must come back on that pair's receive
   queue (the tap steers a flow's answer to the queue it arrived on, so this only passes if
   every pair is bound to its own tap queue); the echo server must have seen all four
   ports. Under vireo-vmm with queues=4 (vireo-vmm opens the queues) and fds=a:b:c:d
   (opened here, as libvirt does, and inherited), under QEMU with queues=4;
 - vireo-vmm only: queues= on user networking, queues= with fds=, and mq=on with fewer
   MSI-X vectors than 2 * pairs + 2 are refused with one line.
QEMU 7.2 writes num_buffers 0 without MRG_RXBUF (the spec says 1), so its
runs pass net_numbuf0=ok to the guest.
Addresses: the tap link and every address this test chooses are in the project's
198.18.0.0/15; the 10.0.2.x ones are slirp's defaults (QEMU's own), checked as such and
never outside the VMM process.
"""
import json
import os
import socket
import subprocess
import sys
import time

results = []


def check(good, name, diag=None, skip=None):
    results.append((bool(good), name, diag, skip))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hostfwd_checks(vmm, elf):
    port = free_port()
    cmd = [vmm, "-S", "-nodefaults", "-display", "none", "-m", "64M", "-kernel", elf,
           "-netdev", "user,id=n0,hostfwd=tcp:127.0.0.1:%d-:22" % port,
           "-device", "virtio-net-pci,netdev=n0"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    connected, why = False, ""
    try:
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2):
                    connected = True
                    break
            except OSError as e:
                why = str(e)
                if p.poll() is not None:
                    break
                time.sleep(0.05)
    finally:
        p.terminate()
        out, err = p.communicate(timeout=30)
    check(connected, "hostfwd=tcp:127.0.0.1:%d-:22: the host port accepts connections" % port,
          why + "\n" + err)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        bport = busy.getsockname()[1]
        cmd[cmd.index("-netdev") + 1] = "user,id=n0,hostfwd=tcp:127.0.0.1:%d-:22" % bport
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    lines = r.stderr.strip().splitlines()
    check(r.returncode != 0 and len(lines) == 1 and "hostfwd tcp host port %d" % bport in lines[0],
          "a hostfwd= port in use is refused with one line", r.stderr)


# Runs in the namespace: prints "PORT DATA" for each datagram received on 198.18.3.1:5000
# and :5001, and sends a 4000-byte datagram (bytes i*13+1) to 198.18.3.15:5002 every 100 ms.
HOST_UDP = r'''
import select, socket, sys, time
rx = []
for port in (5000, 5001):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("198.18.3.1", port))
    rx.append(s)
tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
payload = bytes((i * 13 + 1) & 0xff for i in range(4000))
end = time.time() + 120
while time.time() < end:
    try:
        tx.sendto(payload, ("198.18.3.15", 5002))
    except OSError:
        pass
    for s in select.select(rx, [], [], 0.1)[0]:
        data = s.recv(65536)
        print(s.getsockname()[1], data.decode(errors="replace"), flush=True)
'''


def legacy_nics(guest):
    guest("tests=net net_dhcp=1 net_mac=52:54:00:ab:cd:ef",
          "-nic user,model=virtio-net-pci,mac=52:54:00:ab:cd:ef",
          "-nic user,model=virtio-net-pci,mac=...: the NIC has that MAC and gets a DHCP lease")
    guest("tests=net net_dhcp=1 net_mac=52:54:00:12:34:77 net_ip=198.19.76.100 "
          "net_peer=198.19.76.1 net_dns=198.19.76.53",
          "-net nic,model=virtio,macaddr=52:54:00:12:34:77 -net user,net=198.19.76.0/24,"
          "host=198.19.76.1,dhcpstart=198.19.76.100,dns=198.19.76.53",
          "-net nic,model=virtio,macaddr=... -net user,net=...: the NIC joined to that back-end")


# Runs in the multiqueue namespace: echoes every datagram to 198.18.4.1:7 and prints its
# source port.
ECHO_UDP = r'''
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.18.4.1", 7))
s.settimeout(120)
try:
    while True:
        data, addr = s.recvfrom(2048)
        s.sendto(data, addr)
        print(addr[1], data.decode(errors="replace"), flush=True)
except OSError:
    pass
'''


def exec_with_tap_fds(argv):
    """--tap-fds IFNAME N CMD...: open IFNAME N times as a multiqueue tap (as libvirt does for
    <driver queues='N'/>) and exec CMD with the descriptors inherited, '@FDS@' in its
    arguments replaced by their a:b:c list."""
    import fcntl
    import struct
    ifname, n, cmd = argv[0], int(argv[1]), argv[2:]
    fds = []
    for _ in range(n):
        fd = os.open("/dev/net/tun", os.O_RDWR)
        # IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE
        fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH", ifname.encode(), 0x0002 | 0x1000 |
                                                0x4000 | 0x0100))
        os.set_inheritable(fd, True)
        fds.append(fd)
    lst = ":".join(str(fd) for fd in fds)
    cmd = [a.replace("@FDS@", lst) for a in cmd]
    os.execvp(cmd[0], cmd)


def refusals(vmm, elf):
    base = [vmm, "-nodefaults", "-display", "none", "-kernel", elf]
    for extra, want, name in (
            (["-netdev", "user,id=n0,queues=2"], "Invalid parameter 'queues'",
             "queues= on user networking is refused in QEMU's words"),
            (["-netdev", "tap,id=n0,fds=3:4,queues=2"],
             "queues=, and vhostfd= are invalid with fds=",
             "queues= with fds= (the fd count is the queue count) is refused in QEMU's words"),
            (["-netdev", "tap,id=n0,fds=3:x"], "fds=3:x is not a list of file descriptors",
             "a malformed fds= is refused")):
        r = subprocess.run(base + extra, capture_output=True, text=True, timeout=30)
        lines = r.stderr.strip().splitlines()
        check(r.returncode != 0 and len(lines) == 1 and want in lines[0], name + " (one line)",
              r.stderr)


def multiqueue(guest, vmm, is_qemu):
    ns = "vireo-mq-%d" % os.getpid()
    tap = "vmq%d" % (os.getpid() % 100000)

    def ip(*a):
        return subprocess.run(["ip", "netns", "exec", ns, "ip"] + list(a),
                              capture_output=True, text=True)
    try:
        subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True)
        for a in (["tuntap", "add", "dev", tap, "mode", "tap", "vnet_hdr", "multi_queue"],
                  ["addr", "add", "198.18.4.1/24", "dev", tap],
                  ["link", "set", tap, "up"], ["link", "set", "lo", "up"],
                  ["neigh", "replace", "198.18.4.15", "lladdr", "52:54:00:12:34:56",
                   "dev", tap, "nud", "permanent"]):
            r = ip(*a)
            if r.returncode:
                raise RuntimeError("ip %s: %s" % (" ".join(a), r.stderr.strip()))
        # (vectors=5, fewer than the 10 four pairs would take: QEMU takes it and the driver
        # shares vectors; the guest polls, so the pairs work the same)
        runs = [("queues=4, vectors=5",
                 "tap,id=t0,ifname=%s,script=no,downscript=no,vhost=off,queues=4" % tap,
                 "ip netns exec %s %s" % (ns, vmm), ",vectors=5")]
        if not is_qemu:
            runs.append(("fds=a:b:c:d (inherited, as libvirt passes them)",
                         "tap,id=t0,fds=@FDS@",
                         "ip netns exec %s %s %s --tap-fds %s 4 %s" %
                         (ns, sys.executable, os.path.abspath(__file__), tap, vmm), ""))
        for what, netdev, prefix, dev_extra in runs:
            helper = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", ECHO_UDP],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                time.sleep(0.3)  # the echo socket is bound before the guest sends
                guest("tests=net net_ip=198.18.4.15 net_peer=198.18.4.1 net_mq=4",
                      "-netdev %s -device virtio-net-pci,netdev=t0,mq=on%s" % (netdev, dev_extra),
                      "multiqueue tap, %s, mq=on: VQ_PAIRS_SET 4, each pair's UDP echo back on "
                      "its own receive queue" % what, vmm_prefix=prefix)
            finally:
                helper.terminate()
                hout, herr = helper.communicate(timeout=30)
            ports = sorted({int(l.split()[0]) for l in hout.splitlines() if l.split()})
            check(ports == [6000, 6001, 6002, 6003],
                  "multiqueue tap, %s: the host echoed one datagram from each pair's port "
                  "(%s)" % (what, ports), hout + herr)
    except (RuntimeError, subprocess.CalledProcessError) as e:
        check(False, "multiqueue tap in a network namespace", str(e))
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def main():
    if sys.argv[1] == "--tap-fds":
        exec_with_tap_fds(sys.argv[2:])
    run_guest, elf, vmm = sys.argv[1], sys.argv[2], sys.argv[3]
    is_qemu = "qemu-system" in vmm
    extra_append = " net_numbuf0=ok" if is_qemu else ""

    def guest(append, extra, name, vmm_prefix=vmm):
        args = [run_guest, "--quiet", "--vmm", vmm_prefix, "--kernel", elf, "--append",
                append + extra_append, "--extra", extra, "--timeout", "90"]
        p = subprocess.run(args, capture_output=True, text=True, timeout=150)
        check(p.returncode == 0, name, None if p.returncode == 0 else p.stdout + p.stderr)
        return p

    guest("tests=net", "-netdev user,id=n0 -device virtio-net-pci,netdev=n0",
          "user networking: ARP reply from slirp's 10.0.2.2, default MAC")
    guest("tests=net net_mac=52:54:00:ab:cd:ef net_mtu=1400",
          "-netdev user,id=n0 -device virtio-net-pci,netdev=n0,mac=52:54:00:ab:cd:ef,host_mtu=1400",
          "user networking with mac=52:54:00:ab:cd:ef and host_mtu=1400 (F_MTU)")
    guest("tests=net net_dhcp=1 net_mrg=1 net_rxbuf=256",
          "-netdev user,id=n0 -device virtio-net-pci,netdev=n0",
          "user networking: DHCP lease 10.0.2.15 (router 10.0.2.2, DNS 10.0.2.3), then a "
          "1000-byte ping over MRG_RXBUF with 256-byte receive buffers")

    guest("tests=net net_dhcp=1 net_ip=198.19.76.100 net_peer=198.19.76.1 "
          "net_dns=198.19.76.53",
          "-netdev user,id=n0,net=198.19.76.0/24,host=198.19.76.1,dhcpstart=198.19.76.100,"
          "dns=198.19.76.53 -device virtio-net-pci,netdev=n0",
          "user networking with net=198.19.76.0/24,host=.1,dhcpstart=.100,dns=.53: the lease, "
          "router and DNS follow")

    # QEMU's older spellings, as pasted from guides: the same guest checks pass through them.
    # (QEMU's microvm creates no NIC from -nic or -net nic: "requested NIC ... was not
    # created (not supported by this machine?)"; on pc and q35 it does, as vireo-vmm does.)
    if not is_qemu:
        legacy_nics(guest)

    if not is_qemu:
        hostfwd_checks(vmm, elf)
        r = subprocess.run([vmm, "-nodefaults", "-display", "none", "-kernel", elf, "-netdev",
                            "user,id=n0,net=198.18.2.0/24,host=198.18.3.2", "-device",
                            "virtio-net-pci,netdev=n0"], capture_output=True, text=True, timeout=30)
        lines = r.stderr.strip().splitlines()
        check(r.returncode != 0 and len(lines) == 1 and
              "host=198.18.3.2 is not a host address of the network 198.18.2.0/24" in lines[0],
              "host= outside net= is refused with one line", r.stderr)

    name = "tap in a network namespace: ARP reply from the host's 198.18.3.1"
    if is_qemu:
        check(True, name, skip="run under vireo-vmm only (QEMU's tap needs the same set-up)")
    elif os.geteuid() != 0:
        check(True, name, skip="needs root for ip netns and a tap device")
    else:
        ns = "vireo-net-%d" % os.getpid()
        tap = "vtap%d" % (os.getpid() % 100000)

        def ip(*a):
            return subprocess.run(["ip", "netns", "exec", ns, "ip"] + list(a),
                                  capture_output=True, text=True)
        try:
            subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True)
            for a in (["tuntap", "add", "dev", tap, "mode", "tap", "vnet_hdr"],
                      ["addr", "add", "198.18.3.1/24", "dev", tap],
                      ["link", "set", tap, "up"], ["link", "set", "lo", "up"]):
                r = ip(*a)
                if r.returncode:
                    raise RuntimeError("ip %s: %s" % (" ".join(a), r.stderr.strip()))
            # The host side: UDP sockets on 5000/5001 (what the guest sends), and 4000-byte
            # datagrams to the guest's 5002 every 100 ms (MTU 9000: one frame each).
            for a in (["link", "set", tap, "mtu", "9000"],
                      ["neigh", "replace", "198.18.3.15", "lladdr", "52:54:00:12:34:56",
                       "dev", tap, "nud", "permanent"]):
                r = ip(*a)
                if r.returncode:
                    raise RuntimeError("ip %s: %s" % (" ".join(a), r.stderr.strip()))
            helper = subprocess.Popen(
                ["ip", "netns", "exec", ns, sys.executable, "-c", HOST_UDP],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                guest("tests=net net_ip=198.18.3.15 net_peer=198.18.3.1 net_mrg=1 net_csum=1 "
                      "net_udp_tx=5000 net_udp_rx=5002",
                      "-netdev tap,id=t0,ifname=%s,script=no,downscript=no,vhost=off "
                      "-device virtio-net-pci,netdev=t0" % tap,
                      name + "; UDP with checksum offload both ways, MRG_RXBUF",
                      vmm_prefix="ip netns exec %s %s" % (ns, vmm))
            finally:
                helper.terminate()
                hout, herr = helper.communicate(timeout=30)
            got = {}
            for line in hout.splitlines():
                port, _, data = line.partition(" ")
                got[int(port)] = data
            check(got.get(5000) == "vireo udp needs_csum",
                  "the host's socket got the guest's NEEDS_CSUM datagram (checksum completed "
                  "by the host kernel)", hout + herr)
            check(5001 not in got,
                  "the host dropped the same datagram sent without NEEDS_CSUM (its checksum "
                  "is only the pseudo-header sum)", hout + herr)
            # The neighbour entry goes with the carrier when vireo-vmm exits; the
            # counters stay: the host got the request, the guest the reply.
            st = ip("-s", "-j", "link", "show", tap).stdout
            s64 = json.loads(st)[0]["stats64"]
            check(s64["rx"]["packets"] >= 1 and s64["tx"]["packets"] >= 1,
                  "the host's tap counted frames both ways (rx %d, tx %d)"
                  % (s64["rx"]["packets"], s64["tx"]["packets"]), st)
        except (RuntimeError, subprocess.CalledProcessError) as e:
            check(False, name, str(e))
        finally:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)

    if not is_qemu:
        refusals(vmm, elf)
    if os.geteuid() != 0:
        check(True, "multiqueue tap", skip="needs root for ip netns and a tap device")
    else:
        multiqueue(guest, vmm, is_qemu)

    print("1..%d" % len(results))
    for i, (good, name, diag, skip) in enumerate(results, 1):
        print("%s %d - %s%s" % ("ok" if good else "not ok", i, name,
                                " # SKIP " + skip if skip else ""))
        if diag and not good:
            for line in diag.splitlines()[-30:]:
                print("# " + line)
    return 0 if all(r[0] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
