#!/usr/bin/env python3
"""test-store-kill.py - no definition is lost or half-written when vireod is
killed with SIGKILL in the middle of define/undefine traffic.

  test-store-kill.py VIREOD

Each round: a daemon under --root, one virsh process running hundreds of
define/undefine commands, SIGKILL to the daemon while they run, then every
file in ROOT/etc/domains must be a whole definition (xmllint parses it, the
name inside matches the file name) and a new daemon must load exactly those.
Prints TAP.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

VIREOD = sys.argv[1]
n = 0
failed = 0


def ok(cond, what, diag=None):
    global n, failed
    n += 1
    print(("ok %d - %s" if cond else "not ok %d - %s") % (n, what))
    if not cond:
        failed += 1
        for line in str(diag or "").splitlines():
            print("# " + line)
    sys.stdout.flush()


if not shutil.which("virsh") or not shutil.which("xmllint"):
    print("1..0 # SKIP virsh or xmllint missing")
    sys.exit(0)

tmp = tempfile.mkdtemp(prefix="vireod-kill-")
root = os.path.join(tmp, "root")
sock = os.path.join(root, "vireo-sock")
uri = "qemu+unix:///system?socket=" + sock
env = dict(os.environ, LC_ALL="C")


def start():
    if os.path.exists(sock):
        os.unlink(sock)
    p = subprocess.Popen([VIREOD, "--root", root], env=env, stdout=subprocess.DEVNULL,
                         stderr=open(os.path.join(tmp, "vireod.err"), "a"))
    for _ in range(200):
        if os.path.exists(sock):
            break
        time.sleep(0.05)
    return p


# Definitions: 20 names, each with a long description so a write is not one
# tiny block; defining one again rewrites its file.
cmds = []
for i in range(20):
    path = os.path.join(tmp, "d%d.xml" % i)
    with open(path, "w") as f:
        f.write("<domain type='kvm'><name>d%d</name><description>%s</description>"
                "<memory unit='MiB'>%d</memory><os><type>hvm</type><kernel>/k</kernel></os>"
                "</domain>" % (i, "x" * 20000, 64 + i))
for rep in range(30):
    for i in range(20):
        cmds.append("define %s/d%d.xml" % (tmp, i))
        if (rep + i) % 3 == 0:
            cmds.append("undefine d%d" % i)
script = os.path.join(tmp, "cmds")
open(script, "w").write("\n".join(cmds) + "\n")

try:
    for rnd in range(3):
        d = start()
        v = subprocess.Popen(["virsh", "-q", "-c", uri], stdin=open(script),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        time.sleep(0.4 + 0.3 * rnd)
        d.send_signal(signal.SIGKILL)
        d.wait()
        v.kill()
        v.wait()
        ddir = os.path.join(root, "etc", "domains")
        files = sorted(f for f in os.listdir(ddir) if f.endswith(".xml") and not f.startswith("."))
        bad = []
        for f in files:
            p = os.path.join(ddir, f)
            r = subprocess.run(["xmllint", "--xpath", "string(/domain/name)", p],
                               capture_output=True, text=True)
            if r.returncode != 0 or r.stdout.strip() != f[:-4]:
                bad.append(f + ": " + r.stderr.strip())
        ok(not bad, "round %d: after SIGKILL every stored definition is whole (%d files)"
           % (rnd + 1, len(files)), "\n".join(bad))
        d = start()
        r = subprocess.run(["virsh", "-q", "-c", uri, "list", "--all", "--name"],
                           capture_output=True, text=True, env=env)
        names = sorted(x.strip() for x in r.stdout.splitlines() if x.strip())
        ok(names == sorted(f[:-4] for f in files),
           "round %d: a new daemon loads exactly the stored definitions" % (rnd + 1),
           "%s vs %s" % (names, files))
        stale = [f for f in os.listdir(ddir) if f.startswith(".")]
        ok(not stale, "round %d: no temporary file is left behind after the restart" % (rnd + 1),
           stale)
        d.send_signal(signal.SIGTERM)
        d.wait()
finally:
    shutil.rmtree(tmp, ignore_errors=True)
print("1..%d" % n)
sys.exit(1 if failed else 0)
