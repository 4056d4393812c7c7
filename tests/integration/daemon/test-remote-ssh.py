#!/usr/bin/env python3
"""test-remote-ssh.py - the stock virsh reaching vireod over SSH, as
libvirt's qemu+ssh:// does it: ssh to the host, and there `nc -U` on the
daemon's UNIX socket (?socket=...&proxy=netcat).

  test-remote-ssh.py VIREOD VSH

Runs in a network namespace of its own with a real sshd (openssh-server)
listening on 127.0.0.1:22, a throwaway host key (the client knows it: a
known_hosts file of the test's, through ?command= naming a wrapper that
passes ssh that file, so nothing is written to the user's ~/.ssh) and an
authorized key for root. Checked: virsh lists and defines through the
tunnel; the read-only socket refuses a change as over UNIX; a key the server
does not know is refused; vsh does the same over vireo+ssh://. Prints TAP.
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import remotelib as rl  # noqa: E402
from daemonlib import Tap, wait_for  # noqa: E402

rl.enter_netns()
VIREOD, VSH = sys.argv[1], sys.argv[2]
SSHD = "/usr/sbin/sshd"
t = Tap()
tmp = tempfile.mkdtemp(prefix="vireod-ssh-")
procs = []
d = None


def keygen(name):
    path = os.path.join(tmp, name)
    r = rl.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path])
    assert r.returncode == 0, r.stderr
    return path


try:
    hostkey, userkey, otherkey = keygen("hostkey"), keygen("userkey"), keygen("otherkey")
    auth = os.path.join(tmp, "authorized_keys")
    shutil.copy(userkey + ".pub", auth)
    conf = os.path.join(tmp, "sshd_config")
    open(conf, "w").write(
        "ListenAddress 127.0.0.1\nPort 22\nHostKey %s\nAuthorizedKeysFile %s\n"
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPidFile %s\n"
        "LogLevel VERBOSE\n" % (hostkey, auth, os.path.join(tmp, "sshd.pid")))
    os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege separation directory
    sshd_log = os.path.join(tmp, "sshd.log")
    sshd = subprocess.Popen([SSHD, "-D", "-e", "-f", conf], stdout=open(sshd_log, "w"),
                            stderr=subprocess.STDOUT)
    procs.append(sshd)
    known = os.path.join(tmp, "known_hosts")
    open(known, "w").write("127.0.0.1 " + " ".join(open(hostkey + ".pub").read().split()[:2])
                           + "\n")
    wrapper = os.path.join(tmp, "ssh-wrapper")
    open(wrapper, "w").write("#!/bin/sh\nexec ssh -o UserKnownHostsFile=%s "
                             "-o GlobalKnownHostsFile=/dev/null -o BatchMode=yes \"$@\"\n" % known)
    os.chmod(wrapper, 0o755)

    d = rl.Vireod(VIREOD, tmp, "daemon", listen=False)
    d.start()
    procs.append(d.proc)
    t.ok(wait_for(lambda: "Server listening on 127.0.0.1 port 22" in open(sshd_log).read()),
         "sshd listens in the namespace", open(sshd_log).read())

    def uri(sock, key=userkey):
        return ("qemu+ssh://root@127.0.0.1/system?socket=%s&proxy=netcat&keyfile=%s"
                "&command=%s" % (sock, key, wrapper))

    def virsh(u, *args):
        return rl.run(["virsh", "-q", "-c", u] + list(args), timeout=60,
                      env=dict(os.environ, LC_ALL="C"))

    xml = os.path.join(tmp, "d.xml")
    open(xml, "w").write("<domain type='kvm'><name>overssh</name><memory unit='MiB'>64"
                         "</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type>"
                         "<kernel>/nonexistent</kernel></os></domain>")
    r = virsh(uri(d.sock), "define", xml)
    t.ok(r.returncode == 0, "virsh define over qemu+ssh://", r.stderr + open(sshd_log).read())
    r = virsh(uri(d.sock), "list", "--all", "--name")
    t.ok(r.returncode == 0 and r.stdout.split() == ["overssh"], "virsh list over qemu+ssh://",
         r.stdout + r.stderr)
    r = virsh(uri(d.sock + "-ro"), "undefine", "overssh")
    t.ok(r.returncode != 0 and "read only access prevents" in r.stderr,
         "the read-only socket through ssh refuses a change", r.stderr)
    r = virsh(uri(d.sock, otherkey), "list")
    t.ok(r.returncode != 0 and "Permission denied" in r.stderr,
         "a key the server does not know is refused", r.stderr)
    r = rl.run([VSH, "-q", "-c", uri(d.sock).replace("qemu+", "vireo+"), "list", "--all",
                "--name"], timeout=60, env=dict(os.environ, LC_ALL="C"))
    t.ok(r.returncode == 0 and r.stdout.split() == ["overssh"], "vsh list over vireo+ssh://",
         r.stdout + r.stderr)
    r = rl.run([VSH, "-q", "-c", uri(d.sock + "-ro"), "undefine", "overssh"], timeout=60,
               env=dict(os.environ, LC_ALL="C"))
    t.ok(r.returncode != 0 and "read only access prevents" in r.stderr,
         "vsh through ssh to the read-only socket is refused a change", r.stderr)
    r = virsh(uri(d.sock), "undefine", "overssh")
    t.ok(r.returncode == 0, "undefine over qemu+ssh://", r.stderr)
finally:
    for p in procs:  # sshd and vireod (SIGTERM: vireod exits as d.stop() would make it)
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
report = d.sanitizer_report() if d is not None else ""
t.ok(not report, "no sanitizer report from the daemon", report)
shutil.rmtree(tmp, ignore_errors=True)
t.done()
