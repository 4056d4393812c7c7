#!/usr/bin/python3
"""libvirt_sockets = 1: vireod on libvirt's own socket paths, for plain qemu:///system.

Usage: test-libvirt-sockets.py VIREOD VIREO_VMM TEST_GUEST_ELF

Runs in a private mount namespace of its own with a fresh tmpfs on /run/libvirt, so the
host's /run/libvirt is never touched. With the key set, the stock virsh reaches vireod with
`-c qemu:///system` and no ?socket= (the domain defined through vireod's own socket is
listed), `-r` goes through libvirt-sock-ro and is read-only, and the sockets are gone once
vireod stops. A stale socket file is taken over; a socket some daemon answers on (libvirtd's)
is refused at start with one line, and left alone.
"""
import os
import socket
import subprocess
import sys

if os.environ.get("VIREO_TEST_MNTNS") != "1":
    env = dict(os.environ, VIREO_TEST_MNTNS="1")
    os.execvpe("unshare", ["unshare", "--mount", "--propagation", "private", sys.executable]
               + sys.argv, env)

from daemonlib import Daemon, Tap, domain_xml, wait_for  # noqa: E402

t = Tap()
SOCK, SOCK_RO = "/run/libvirt/libvirt-sock", "/run/libvirt/libvirt-sock-ro"


def plain_virsh(d, *args, ro=False):
    cmd = ["virsh", "-q"] + (["-r"] if ro else []) + ["-c", "qemu:///system"] + list(args)
    return subprocess.run(cmd, env=d.env, capture_output=True, text=True, timeout=60)


def main():
    vireod, vmm, guest = sys.argv[1:4]
    os.makedirs("/run/libvirt", exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", "/run/libvirt"], check=True)
    d = Daemon(vireod, vmm)
    conf = os.path.join(d.tmp, "vireod.conf")
    with open(conf, "w") as f:
        f.write("libvirt_sockets = 1\n")
    d.args = ["-f", conf]
    # A stale socket file (its daemon died): taken over.
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(SOCK)
    stale.close()
    d.start()
    try:
        t.ok(wait_for(lambda: os.path.exists(SOCK_RO)),
             "vireod listens on libvirt's sockets (a stale socket file taken over)")
        x = d.write("lv.xml", domain_xml("lv", guest, "tests=none"))
        t.ok(d.virsh("define", x).returncode == 0, "define through vireod's own socket")
        r = plain_virsh(d, "list", "--all", "--name")
        t.ok(r.returncode == 0 and r.stdout.split() == ["lv"],
             "virsh -c qemu:///system (no ?socket=) reaches vireod", r.stdout + r.stderr)
        r = plain_virsh(d, "dominfo", "lv", ro=True)
        t.ok(r.returncode == 0 and "lv" in r.stdout, "virsh -r: through libvirt-sock-ro",
             r.stdout + r.stderr)
        r = plain_virsh(d, "undefine", "lv", ro=True)
        t.ok(r.returncode != 0 and "read only access prevents" in r.stderr,
             "libvirt-sock-ro is read-only", r.stderr)
        t.ok(d.stop() == 0 and not os.path.exists(SOCK) and not os.path.exists(SOCK_RO),
             "stopped: vireod removes the sockets it made")
        # A daemon answering on libvirt's socket: vireod refuses to start.
        other = socket.socket(socket.AF_UNIX)
        other.bind(SOCK)
        other.listen(1)
        r = subprocess.run([vireod, "--root", d.root, "-f", conf], env=d.env,
                           capture_output=True, text=True, timeout=60)
        lines = r.stderr.strip().splitlines()
        t.ok(r.returncode != 0 and len(lines) == 1 and
             "/run/libvirt/libvirt-sock is in use by another daemon" in lines[0],
             "a socket another daemon answers on: refused in one line", r.stderr)
        t.ok(os.path.exists(SOCK) and not os.path.exists(d.sock),
             "the other daemon's socket is left alone, and vireod started nothing", r.stderr)
        other.close()
    finally:
        d.cleanup()
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
