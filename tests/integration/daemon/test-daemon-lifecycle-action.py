#!/usr/bin/python3
"""virsh set-lifecycle-action (virDomainSetLifecycleAction) through vireod with the stock virsh,
compared with the reference libvirtd.

Usage: test-daemon-lifecycle-action.py VIREOD VIREO_VMM TEST_GUEST_ELF

A running domain whose guest powers off (tests=poweroff) gets on_poweroff preserve --live
while paused: once resumed and powered off, its VMM is kept, paused (shutting down), where the
defined on_poweroff destroy would have shut it off; the live XML has it, the persistent one not.
--config changes the persistent definition only. Refused as libvirtd refuses it: a coredump
action for on_poweroff. A live on_reboot change, which libvirtd applies on QEMU's RESET event,
is refused by vireod in one line (its VMM's reboot handling is fixed at start), while libvirtd
takes it: that difference is checked as such.
"""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                "scripts"))
from daemonlib import Daemon, Tap, domain_xml, skip_all, wait_for  # noqa: E402

VIREOD, VMM, GUEST = sys.argv[1:4]
GUEST = os.path.abspath(GUEST)
t = Tap()
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("no /dev/kvm")
if not shutil.which("virsh"):
    skip_all("no virsh")
d = Daemon(VIREOD, VMM)


def refusals(virsh, where, tag):
    x = os.path.join(where, "lr.xml")
    with open(x, "w") as f:
        f.write(domain_xml("lr", GUEST, "tests=none"))
    virsh("define", x)
    out = {}
    r = virsh("set-lifecycle-action", "lr", "poweroff", "coredump-destroy", "--config")
    out["coredump"] = (r.returncode, r.stderr.strip())
    r = virsh("set-lifecycle-action", "lr", "crash", "preserve", "--config")
    out["config"] = (r.returncode, r.stderr.strip(),
                     "<on_crash>preserve</on_crash>" in virsh("dumpxml", "lr").stdout)
    t.ok(virsh("start", "--paused", "lr").returncode == 0, f"{tag}: start --paused")
    r = virsh("set-lifecycle-action", "lr", "reboot", "destroy", "--live")
    out["live-reboot"] = (r.returncode, r.stderr.strip())
    virsh("destroy", "lr")
    virsh("undefine", "lr")
    return out


def main():
    d.start()
    x = d.write("la.xml", domain_xml("la", GUEST, "tests=poweroff"))
    t.ok(d.virsh("define", x).returncode == 0, "define a guest that powers off")
    r = d.virsh("start", "--paused", "la")
    t.ok(r.returncode == 0, "start --paused", r.stderr)
    r = d.virsh("set-lifecycle-action", "la", "poweroff", "preserve", "--live")
    live, cfg = d.virsh("dumpxml", "la").stdout, d.virsh("dumpxml", "--inactive", "la").stdout
    t.ok(r.returncode == 0 and "<on_poweroff>preserve</on_poweroff>" in live and
         "<on_poweroff>destroy</on_poweroff>" in cfg,
         "on_poweroff preserve --live: in the live XML, not the persistent one", r.stderr)
    d.virsh("resume", "la")
    t.ok(wait_for(lambda: d.state("la") == "paused (shutting down)", 60),
         "the guest powers off: the VMM is kept, paused (shutting down)", d.state("la"))
    d.virsh("destroy", "la")
    r = d.virsh("set-lifecycle-action", "la", "poweroff", "restart", "--config")
    t.ok(r.returncode == 0 and
         "<on_poweroff>restart</on_poweroff>" in d.virsh("dumpxml", "la").stdout,
         "--config on the inactive domain: its definition", r.stderr)
    d.virsh("undefine", "la")
    got = refusals(d.virsh, d.tmp, "vireod")

    import libvirtd_ref  # noqa: E402
    refdir = os.path.join(d.tmp, "ref")
    os.mkdir(refdir)
    with libvirtd_ref.LibvirtdRef() as ref:
        env = dict(os.environ, LC_ALL="C")

        def ref_virsh(*args):
            return subprocess.run(["virsh", "-q", "-c", ref.uri] + list(args), env=env,
                                  capture_output=True, text=True, timeout=120)
        want = refusals(ref_virsh, refdir, "libvirtd")
    t.ok(got.pop("live-reboot")[1].endswith("use --config") and want.pop("live-reboot")[0] == 0,
         "a live on_reboot change: refused by vireod in one line, taken by libvirtd")
    for k in got:
        t.ok(got[k] == want[k], f"'{k}' as libvirtd answers it",
             {"vireod": got[k], "libvirtd": want[k]})


try:
    main()
except Exception as e:  # a crash of the test is a failure, with the daemon's log
    t.ok(False, "the test ran to its end", repr(e))
    d.dump_log()
finally:
    for n in ("la", "lr"):
        d.virsh("destroy", n)
    if t.failed:
        d.dump_log()
    d.cleanup(["la", "lr"])
t.done()
