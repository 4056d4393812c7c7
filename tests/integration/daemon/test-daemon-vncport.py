#!/usr/bin/env python3
"""VNC autoport collisions: a port taken between vireod's probe and the VMM's bind.

Usage: test-daemon-vncport.py VIREOD VMM TEST_GUEST_ELF

vireod runs in a network namespace made here (its ports from 5900 are the
test's alone). The race is made certain rather than hoped for: vireod's
VIREO_VMM is a wrapper that, for its first GRAB invocations with -vnc, starts
a process listening on the very address and port vireod chose (after its
probe found them free), then execs the real vireo-vmm, which then cannot bind
them:
 - GRAB=3: the domain still starts, on 5903 (the VMM ended with EADDRINUSE on
   5900, 5901 and 5902 and vireod tried again on the next free port each
   time); its live XML says port='5903', virsh vncdisplay says 127.0.0.1:3,
   an RFB client there gets the server's greeting; a second domain then
   starts on 5904 at once (5900-5902 are held, 5903 is the first's);
 - every invocation grabs: the start is bounded (1 + 8 tries) and fails with
   vireo-vmm's "Address already in use" line, nothing left running.
"""
import os
import re
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import (RFB_PROBE, NsDaemon, netns_remove, Tap, domain_xml, sh,  # noqa: E402
                       skip_all, wait_for)

WRAPPER = """#!/usr/bin/python3
import os, subprocess, sys, time
REAL, STATE = %r, %r
args = sys.argv[1:]
if "-vnc" in args:
    host, _, n = args[args.index("-vnc") + 1].split(",")[0].rpartition(":")
    grab = int(open(os.path.join(STATE, "grab")).read())
    count_path = os.path.join(STATE, "count")
    count = int(open(count_path).read()) + 1 if os.path.exists(count_path) else 1
    open(count_path, "w").write(str(count))
    if count <= grab:
        ready = os.path.join(STATE, "holder-%%d" %% (5900 + int(n)))
        subprocess.Popen([sys.executable, os.path.join(STATE, "hold.py"), host,
                          str(5900 + int(n)), ready], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True, close_fds=True)
        for _ in range(600):
            if os.path.exists(ready):
                break
            time.sleep(0.05)
os.execv(REAL, [REAL] + args)
"""

HOLD = """import os, socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
open(sys.argv[3] + ".tmp", "w").write("%d %s\\n" % (os.getpid(), sys.argv[2]))
os.rename(sys.argv[3] + ".tmp", sys.argv[3])
while True:
    time.sleep(3600)
"""

GRAPHICS = """    <graphics type='vnc' port='-1' autoport='yes'>
      <listen type='address' address='127.0.0.1'/>
    </graphics>
    <video>
      <model type='vga' vram='16384' heads='1'/>
    </video>
"""

def main():
    vireod, vmm, guest = sys.argv[1:4]
    if os.geteuid() != 0:
        skip_all("needs root for network namespaces")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        skip_all("no /dev/kvm")
    t = Tap()
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    ns = "vireo-vncport-%d" % os.getpid()
    d = NsDaemon(ns, vireod, "/nonexistent")
    state = os.path.join(d.tmp, "wrap")
    os.makedirs(state)
    wrapper = os.path.join(state, "vmm-wrapper")
    with open(wrapper, "w") as f:
        f.write(WRAPPER % (os.path.abspath(vmm), state))
    os.chmod(wrapper, 0o755)
    with open(os.path.join(state, "hold.py"), "w") as f:
        f.write(HOLD)
    d.env["VIREO_VMM"] = wrapper
    names = ["vp1", "vp2", "vp3"]

    def grab(n):
        with open(os.path.join(state, "grab"), "w") as f:
            f.write(str(n))
        if os.path.exists(os.path.join(state, "count")):
            os.unlink(os.path.join(state, "count"))

    def holders():
        return sorted(int(open(os.path.join(state, f)).read().split()[1])
                      for f in os.listdir(state) if re.match(r"holder-\d+$", f))

    def probe(port):
        return sh(sys.executable, d.write("probe.py", RFB_PROBE), "127.0.0.1", str(port),
                  ns=ns).stdout.strip()

    try:
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "set", "lo", "up", ns=ns)
        d.start()
        grab(3)
        r = d.virsh("create", d.write("vp1.xml", domain_xml("vp1", guest, "", GRAPHICS)))
        live = d.virsh("dumpxml", "vp1").stdout
        m = re.search(r"<graphics type='vnc' port='(\d+)' autoport='yes'", live)
        t.ok(r.returncode == 0 and holders() == [5900, 5901, 5902],
             "the VMM found 5900, 5901 and 5902 taken after the probe; the start still succeeds",
             r.stdout + r.stderr + repr(holders()) + d.vmm_log("vp1", 12))
        t.ok(m and m.group(1) == "5903", "the live XML has the port it got: 5903", live)
        r = d.virsh("vncdisplay", "vp1")
        t.ok(r.returncode == 0 and r.stdout.strip() == "127.0.0.1:3",
             "virsh vncdisplay: 127.0.0.1:3", r.stdout + r.stderr)
        got = []
        wait_for(lambda: got.append(probe(5903)) or got[-1].startswith("RFB"), 30)
        t.ok(got and got[-1] == "RFB 003.008", "an RFB client on 127.0.0.1:5903 gets the greeting",
             repr(got[-3:]))
        grab(0)
        r = d.virsh("create", d.write("vp2.xml", domain_xml("vp2", guest, "", GRAPHICS)))
        live = d.virsh("dumpxml", "vp2").stdout
        t.ok(r.returncode == 0 and "<graphics type='vnc' port='5904' autoport='yes'" in live,
             "a second domain starts on 5904 (5900-5902 held, 5903 the first's)",
             r.stderr + live)

        # ---- bounded ----
        grab(1000)
        r = d.virsh("create", d.write("vp3.xml", domain_xml("vp3", guest, "", GRAPHICS)))
        tried = int(open(os.path.join(state, "count")).read())
        t.ok(r.returncode != 0 and "-vnc: cannot listen on 127.0.0.1:" in r.stderr and
             "Address already in use" in r.stderr and tried == 9 and
             d.virsh("domstate", "vp3").returncode != 0,
             "a port taken every time: 9 tries, then vireo-vmm's error, nothing left",
             r.stderr + " tries=%d holders=%r" % (tried, holders()))
        for n in ("vp1", "vp2"):
            d.virsh("destroy", n)
        rc = d.stop()
        t.ok(rc == 0, "vireod ends with status 0", "exit status %r" % rc)
    except Exception as e:  # a set-up step failed: report it as a failure
        t.ok(False, "set-up", repr(e))
    finally:
        if t.failed:
            d.dump_log()
        for n in names:
            d.virsh("destroy", n)
        for f in os.listdir(state) if os.path.isdir(state) else []:
            if re.match(r"holder-\d+$", f):
                try:
                    os.kill(int(open(os.path.join(state, f)).read().split()[0]), 9)
                except (OSError, ValueError):
                    pass
        d.cleanup(names)
        netns_remove(ns)
    t.done()


if __name__ == "__main__":
    main()
