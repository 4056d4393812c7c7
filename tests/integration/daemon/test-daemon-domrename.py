#!/usr/bin/python3
"""virDomainRename through vireod with the stock virsh (`virsh domrename`), compared with the
reference libvirtd.

Usage: test-daemon-domrename.py VIREOD VIREO_VMM TEST_GUEST_ELF

An inactive domain with autostart on is renamed: the new name answers with the same uuid and
autostart, the old one is gone, and in vireod's store NEW.xml and the autostart mark replaced
the old ones; after a daemon restart the domain is loaded under its new name. Refused in
libvirt's words, as the reference libvirtd refuses them: a running domain, a name another
domain has, the domain's own name.
"""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                "scripts"))
from daemonlib import Daemon, Tap, domain_xml, skip_all  # noqa: E402

VIREOD, VMM, GUEST = sys.argv[1:4]
GUEST = os.path.abspath(GUEST)
t = Tap()
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("no /dev/kvm")
if not shutil.which("virsh"):
    skip_all("no virsh")
d = Daemon(VIREOD, VMM)
names = []


def exercise(virsh, where, tag):
    """The same calls against one daemon: the error lines, for the comparison."""
    for n in ("rn", "other"):
        x = os.path.join(where, n + ".xml")
        with open(x, "w") as f:
            f.write(domain_xml(n, GUEST, "tests=none"))
        r = virsh("define", x)
        t.ok(r.returncode == 0, f"{tag}: define {n}", r.stderr)
    virsh("autostart", "rn")
    uuid = virsh("domuuid", "rn").stdout.strip()
    errors = {}
    for what, args in (("itself", ("rn", "rn")), ("taken", ("rn", "other"))):
        r = virsh("domrename", *args)
        errors[what] = r.stderr.strip()
        t.ok(r.returncode != 0 and errors[what], f"{tag}: rename to {what} refused", r.stderr)
    r = virsh("start", "--paused", "other")
    t.ok(r.returncode == 0, f"{tag}: start other", r.stderr)
    r = virsh("domrename", "other", "other2")
    errors["running"] = r.stderr.strip()
    t.ok(r.returncode != 0 and "active domain" in r.stderr, f"{tag}: a running domain refused",
         r.stderr)
    virsh("destroy", "other")
    r = virsh("domrename", "rn", "rn2")
    t.ok(r.returncode == 0, f"{tag}: domrename rn rn2",
         r.stdout + r.stderr)
    info = virsh("dominfo", "rn2").stdout
    t.ok(virsh("domuuid", "rn2").stdout.strip() == uuid and
         any(ln.split(":", 1)[1].strip() == "enable" for ln in info.splitlines()
             if ln.startswith("Autostart")),
         f"{tag}: the new name has the uuid and autostart", info)
    r = virsh("dominfo", "rn")
    t.ok(r.returncode != 0, f"{tag}: the old name is gone", r.stdout)
    for n in ("rn2", "other"):
        virsh("undefine", n)
    return errors


def main():
    d.start()
    names.extend(["rn", "rn2", "other"])
    x = d.write("keep.xml", domain_xml("keep", GUEST, "tests=none"))
    d.virsh("define", x)
    d.virsh("autostart", "keep")
    r = d.virsh("domrename", "keep", "kept")
    etc = os.path.join(d.root, "etc")
    t.ok(r.returncode == 0 and os.path.exists(os.path.join(etc, "domains", "kept.xml")) and
         not os.path.exists(os.path.join(etc, "domains", "keep.xml")) and
         os.path.exists(os.path.join(etc, "autostart", "kept")) and
         not os.path.exists(os.path.join(etc, "autostart", "keep")),
         "the store: kept.xml and its autostart mark replaced keep's",
         (r.stderr, os.listdir(os.path.join(etc, "domains"))))
    with open(os.path.join(etc, "domains", "kept.xml")) as f:
        t.ok("<name>kept</name>" in f.read(), "the stored definition has the new name")
    d.stop()
    d.start()
    r = d.virsh("list", "--all", "--name")
    t.ok("kept" in r.stdout.split() and "keep" not in r.stdout.split(),
         "after a daemon restart the domain is loaded under its new name", r.stdout)
    d.virsh("destroy", "kept")  # autostart ran it
    d.virsh("undefine", "kept")
    got = exercise(d.virsh, d.tmp, "vireod")

    import libvirtd_ref  # noqa: E402
    refdir = os.path.join(d.tmp, "ref")
    os.mkdir(refdir)
    with libvirtd_ref.LibvirtdRef() as ref:
        env = dict(os.environ, LC_ALL="C")

        def ref_virsh(*args):
            return subprocess.run(["virsh", "-q", "-c", ref.uri] + list(args), env=env,
                                  capture_output=True, text=True, timeout=120)
        want = exercise(ref_virsh, refdir, "libvirtd")
    for k in got:
        t.ok(got[k] == want[k], f"the error line for '{k}' is libvirtd's",
             {"vireod": got[k], "libvirtd": want[k]})


try:
    main()
except Exception as e:  # a crash of the test is a failure, with the daemon's log
    t.ok(False, "the test ran to its end", repr(e))
    d.dump_log()
finally:
    for n in names:
        d.virsh("destroy", n)
    if t.failed:
        d.dump_log()
    d.cleanup(names)
t.done()
