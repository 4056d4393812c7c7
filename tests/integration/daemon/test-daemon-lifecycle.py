#!/usr/bin/env python3
"""test-daemon-lifecycle.py - vireod's jobs and lifecycle actions, driven by
the stock virsh against real vireo-vmm processes running the test guest.

  test-daemon-lifecycle.py VIREOD VIREO_VMM TESTGUEST_ELF

 - jobs: while one domain's destroy waits out a VMM that cannot take its
   SIGTERM (stopped with SIGSTOP), `virsh list` and operations on another
   domain complete before it does, and a later operation on the same domain
   waits for it (asserted by completion order, never by durations);
 - on_reboot destroy / restart, on_poweroff restart / preserve, on_crash
   destroy / restart, core dumps refused;
 - a killed VMM: shut off (crashed) and its lifecycle event (the time it
   took is printed as a diagnostic, bounded only generously);
 - live setmem through the virtio balloon (the guest's balloon driver
   inflates and the daemon follows BALLOON_CHANGE), live setvcpus above the maximum refused,
   --config changes kept.

Prints TAP.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import Daemon, Tap, alive, domain_xml, skip_all, wait_for  # noqa: E402

VIREOD, VMM, GUEST = sys.argv[1:4]
# vireo-vmm reloads the kernel on a reset after -daemonize's chdir("/"):
# the definition must name it by an absolute path.
GUEST = os.path.abspath(GUEST)
t = Tap()
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("no /dev/kvm")
if not shutil.which("virsh"):
    skip_all("no virsh")

d = Daemon(VIREOD, VMM)
names = []


def define(name, cmdline, extra="", devices="", memory_mib=64, vcpus=None, balloon="none"):
    names.append(name)
    xml = domain_xml(name, GUEST, cmdline, devices, memory_mib, extra, balloon)
    if vcpus:
        xml = xml.replace("<vcpu>1</vcpu>", vcpus)
    r = d.virsh("define", d.write(name + ".xml", xml))
    return r


def sig_pending(pid, signo):
    """Whether signo is pending for the (stopped) process pid."""
    try:
        for line in open("/proc/%d/status" % pid):
            if line.startswith("ShdPnd:") or line.startswith("SigPnd:"):
                if int(line.split()[1], 16) & (1 << (signo - 1)):
                    return True
    except OSError:
        pass
    return False


class Events:
    """virsh event --loop in the background, lines with arrival times."""

    def __init__(self):
        self.p = d.virsh_popen("event", "--event", "lifecycle", "--loop", "--timeout", "240")
        self.lines = []
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            with self.lock:
                self.lines.append((time.monotonic(), line.rstrip()))

    def find(self, text, since=0.0):
        with self.lock:
            for ts, line in self.lines:
                if ts >= since and text in line:
                    return ts
        return None

    def text(self):
        with self.lock:
            return "\n".join(line for _, line in self.lines)

    def stop(self):
        self.p.send_signal(signal.SIGINT)
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()


try:
    d.start()
    ev = Events()
    # The listener registers before anything happens: wait for its first event.
    define("a", "tests=boot")
    wait_for(lambda: ev.find("for domain 'a': Defined"), 20)

    # ---- jobs: a slow destroy on one domain, everything else goes on ----
    define("b", "tests=boot")
    ra, rb = d.virsh("start", "a"), d.virsh("start", "b")
    t.ok(ra.returncode == 0 and rb.returncode == 0, "two domains start", ra.stderr + rb.stderr)
    pa = d.vmm_pid("a")
    os.kill(pa, signal.SIGSTOP)  # its SIGTERM stays pending: destroy must wait, then SIGKILL
    done = {}

    def run(key, *args):
        r = d.virsh(*args)
        done[key] = (time.monotonic(), r)

    slow = threading.Thread(target=run, args=("destroy-a", "destroy", "a"))
    slow.start()
    t.ok(wait_for(lambda: sig_pending(pa, signal.SIGTERM), 20),
         "destroy sent SIGTERM to the stopped VMM")
    # The same domain's next operation queues behind the destroy.
    same = threading.Thread(target=run, args=("suspend-a", "suspend", "a"))
    same.start()
    for key, args in (("list", ("list", "--all")), ("suspend-b", ("suspend", "b")),
                      ("resume-b", ("resume", "b")), ("dominfo-a", ("dominfo", "a"))):
        run(key, *args)
    t.ok("destroy-a" not in done,
         "while the destroy waits: list, dominfo of the same domain, suspend and resume of "
         "another all answered", {k: v[1].stderr for k, v in done.items()})
    t.ok(done["list"][1].returncode == 0 and " a " in done["list"][1].stdout and
         done["suspend-b"][1].returncode == 0 and done["resume-b"][1].returncode == 0,
         "... and they succeeded", done["list"][1].stdout + done["suspend-b"][1].stderr)
    slow.join(60)
    same.join(60)
    t.ok(done["destroy-a"][1].returncode == 0 and d.state("a") == "shut off (destroyed)" and
         wait_for(lambda: not alive(pa), 10), "the destroy ends with SIGKILL: shut off (destroyed)",
         done["destroy-a"][1].stderr + d.state("a"))
    # The suspend was sent while the domain was still running (its destroy
    # pending); run at once, it would have waited on the stopped VMM's QMP
    # and timed out. Queued behind the destroy, it finds the domain gone.
    t.ok(done["suspend-a"][1].returncode != 0 and
         "Requested operation is not valid: domain is not running" in done["suspend-a"][1].stderr,
         "a second operation on the same domain waited for the destroy (serialised)",
         done["suspend-a"][1].stderr)
    order = sorted(done, key=lambda k: done[k][0])
    t.diag("completion order: " + ", ".join(order))
    d.virsh("destroy", "b")

    # ---- on_reboot ----
    define("rd", "tests=reset reset=kbd", "  <on_reboot>destroy</on_reboot>\n")
    since = time.monotonic()
    d.virsh("start", "rd")
    t.ok(wait_for(lambda: d.state("rd") == "shut off (shutdown)", 60),
         "on_reboot destroy: a guest reset stops the domain, shut off (shutdown)",
         d.state("rd") + "\n" + d.console_log("rd")[-400:])
    t.ok(wait_for(lambda: ev.find("for domain 'rd': Stopped Shutdown", since), 10),
         "... with the Stopped Shutdown event", ev.text()[-600:])
    t.ok("-no-reboot" in open(os.path.join(d.root, "log", "rd.log")).read(),
         "... through vireo-vmm's -no-reboot")

    define("rr", "tests=reset reset=kbd")  # on_reboot restart is the default
    d.virsh("start", "rr")
    pid = d.vmm_pid("rr")
    t.ok(wait_for(lambda: re.search(r"^ok \d+ - reset: the VMM restarted the guest",
                                    d.console_log("rr"), re.M), 60) and
         d.state("rr").startswith("running") and pid == d.vmm_pid("rr") and alive(pid),
         "on_reboot restart: the guest reboots in the same VMM and the domain stays running",
         d.state("rr") + "\n" + d.console_log("rr")[-600:] + d.vmm_log("rr"))
    d.virsh("destroy", "rr")

    # ---- on_poweroff ----
    define("pr", "tests=poweroff", "  <on_poweroff>restart</on_poweroff>\n")
    since = time.monotonic()
    d.virsh("start", "pr")
    pid = d.vmm_pid("pr")
    # The guest powers off again at once after each boot, and each time the
    # domain is "in shutdown" until the daemon has reset it: look for a
    # moment when it runs again, in the same VMM.
    t.ok(wait_for(lambda: d.console_log("pr").count("# vireo-testguest") >= 2 and
                  d.state("pr").startswith("running") and alive(pid) and
                  d.vmm_pid("pr") == pid, 60),
         "on_poweroff restart: after the guest powers off it boots again, still running",
         d.state("pr") + "\n" + d.console_log("pr")[-600:] + d.vmm_log("pr"))
    t.ok(ev.find("for domain 'pr': Shutdown Finished after guest request", since),
         "... after the Shutdown Finished after guest request event", ev.text()[-600:])
    d.virsh("destroy", "pr")

    define("pp", "tests=poweroff", "  <on_poweroff>preserve</on_poweroff>\n")
    d.virsh("start", "pp")
    pid = d.vmm_pid("pp")
    t.ok(wait_for(lambda: d.state("pp") == "paused (shutting down)", 60) and alive(pid),
         "on_poweroff preserve: the VMM is kept, paused (shutting down)", d.state("pp"))
    r = d.virsh("destroy", "pp")
    t.ok(r.returncode == 0 and d.state("pp") == "shut off (destroyed)", "... and can be destroyed",
         r.stderr)

    # ---- on_crash, and how soon a dead VMM is noticed ----
    define("cd", "tests=boot")
    d.virsh("start", "cd")
    pid = d.vmm_pid("cd")
    since = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    got = wait_for(lambda: ev.find("for domain 'cd': Stopped Crashed", since), 30, 0.01)
    ts = ev.find("for domain 'cd': Stopped Crashed", since)
    t.ok(got and d.state("cd") == "shut off (crashed)",
         "a VMM killed with SIGKILL: shut off (crashed) and the Stopped Crashed event",
         d.state("cd") + "\n" + ev.text()[-600:])
    if ts:
        t.diag("the event arrived %.0f ms after the kill" % ((ts - since) * 1000))
    t.ok(ts is not None and ts - since < 5.0, "... well within a generous bound (5 s)")

    define("cr", "tests=boot", "  <on_crash>restart</on_crash>\n")
    d.virsh("start", "cr")
    pid = d.vmm_pid("cr")
    since = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    t.ok(wait_for(lambda: ev.find("for domain 'cr': Started Booted", since), 30) and
         ev.find("for domain 'cr': Stopped Crashed", since) and
         d.state("cr").startswith("running") and d.vmm_pid("cr") not in (None, pid),
         "on_crash restart: a killed VMM is replaced by a new one, running",
         d.state("cr") + "\n" + ev.text()[-600:])
    d.virsh("destroy", "cr")

    r = define("cdump", "tests=boot", "  <on_crash>coredump-destroy</on_crash>\n")
    names.pop()
    t.ok(r.returncode != 0 and "unsupported configuration: <on_crash>coredump-destroy</on_crash>"
         in r.stderr, "on_crash coredump-destroy is refused with a clear error", r.stderr)

    # ---- live memory through the balloon, vCPUs ----
    define("bal", "tests=balloon balloon_mib=32", "", "", 128, balloon="virtio")
    d.virsh("start", "bal")
    t.ok(wait_for(lambda: "balloon: ready" in d.console_log("bal"), 60),
         "the balloon guest is ready", d.console_log("bal")[-400:])
    r = d.virsh("setmem", "bal", "112M", "--live")
    t.ok(r.returncode == 0, "virsh setmem --live through the balloon", r.stderr)
    t.ok(wait_for(lambda: "balloon: inflated" in d.console_log("bal"), 60),
         "the guest inflated its balloon", d.console_log("bal")[-400:])
    info = d.virsh("dominfo", "bal").stdout
    t.ok("Used memory:    114688 KiB" in info and "Max memory:     131072 KiB" in info,
         "dominfo shows the new memory", info)
    r = d.virsh("setmem", "bal", "128M", "--live")
    t.ok(r.returncode == 0 and wait_for(
        lambda: "Used memory:    131072 KiB" in d.virsh("dominfo", "bal").stdout, 30),
        "setmem back to all of it", r.stderr + d.virsh("dominfo", "bal").stdout)
    r = d.virsh("setmem", "bal", "262144", "--live")
    t.ok(r.returncode != 0 and "cannot set memory higher than max memory" in r.stderr,
         "setmem above the maximum is refused", r.stderr)
    r = d.virsh("setmem", "bal", "98304", "--config")
    t.ok(r.returncode == 0 and "Used memory:    98304 KiB" in
         d.virsh("dumpxml", "--inactive", "bal").stdout.replace(
             "<currentMemory unit='KiB'>98304</currentMemory>", "Used memory:    98304 KiB"),
         "setmem --config on a running domain changes the next boot's definition", r.stderr)
    stored = open(os.path.join(d.root, "etc", "domains", "bal.xml")).read()
    t.ok("<currentMemory unit='KiB'>98304</currentMemory>" in stored,
         "... and is stored on disk", stored)
    d.virsh("destroy", "bal")

    define("nob", "tests=boot")
    d.virsh("start", "nob")
    r = d.virsh("setmem", "nob", "32M", "--live")
    t.ok(r.returncode != 0 and "Unable to change memory of active domain without the balloon "
         "device" in r.stderr, "setmem --live without a balloon: libvirt's error", r.stderr)
    # A live change above the maximum: libvirt's refusal (live plugging below it is
    # test-daemon-vcpuhp.py's).
    r = d.virsh("setvcpus", "nob", "2", "--live")
    t.ok(r.returncode != 0 and "requested vcpus is greater than max allowable vcpus for the "
         "live domain: 2 > 1" in r.stderr, "setvcpus --live: refused in libvirt's words",
         r.stderr)
    r = d.virsh("setvcpus", "nob", "2", "--config", "--maximum")
    r2 = d.virsh("setvcpus", "nob", "2", "--config")
    t.ok(r.returncode == 0 and r2.returncode == 0 and "<vcpu placement='static'>2</vcpu>" in
         d.virsh("dumpxml", "--inactive", "nob").stdout,
         "setvcpus --config (and --maximum) is kept for the next boot",
         r.stderr + r2.stderr + d.virsh("dumpxml", "--inactive", "nob").stdout)
    d.virsh("destroy", "nob")
    r = d.virsh("start", "nob")
    t.ok(r.returncode == 0 and "-smp 2,maxcpus=2 " in
         open(os.path.join(d.root, "log", "nob.log")).read().splitlines()[-1],
         "... and used by it", r.stderr)
    d.virsh("destroy", "nob")
    ev.stop()
finally:
    if t.failed:
        d.dump_log()
    d.cleanup(names)
t.done()
