#!/usr/bin/python3
"""virsh desc and metadata (virDomainSetMetadata / virDomainGetMetadata) through vireod with the
stock virsh, every output compared with the reference libvirtd's for the same calls.

Usage: test-daemon-metadata.py VIREOD VIREO_VMM TEST_GUEST_ELF

On an inactive domain: a description and a title set and read back and seen in dumpxml, a
title with a newline refused; a <metadata> element set under a namespace and key, read back,
replaced, removed, and a missing one refused. On the running domain: a --live description is
in the live XML and not the persistent one, a --config one the other way round.
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
URI = "http://example.org/vireo/app"
t = Tap()
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("no /dev/kvm")
if not shutil.which("virsh"):
    skip_all("no virsh")
d = Daemon(VIREOD, VMM)


def section(xml, start, end):
    i = xml.find(start)
    return xml[i:xml.find(end, i) + len(end)] if i >= 0 else ""


def exercise(virsh, where, tag):
    """The calls, each one's (rc, stdout, stderr) kept for the comparison."""
    out = {}

    def run(key, *args):
        r = virsh(*args)
        out[key] = (r.returncode, r.stdout.strip(), r.stderr.strip())
        return r

    x = os.path.join(where, "md.xml")
    with open(x, "w") as f:
        f.write(domain_xml("md", GUEST, "tests=none"))
    t.ok(virsh("define", x).returncode == 0, f"{tag}: define")
    run("desc-none", "desc", "md")
    r = run("desc-set", "desc", "md", "--new-desc", "a machine & its <notes>")
    r = run("desc-get", "desc", "md")
    t.ok(r.returncode == 0 and r.stdout.strip() == "a machine & its <notes>",
         f"{tag}: desc --new-desc then desc", r.stdout + r.stderr)
    run("title-set", "desc", "md", "--title", "--new-desc", "Web server")
    r = run("title-get", "desc", "md", "--title")
    t.ok(r.stdout.strip() == "Web server", f"{tag}: the title", r.stdout + r.stderr)
    run("title-newline", "desc", "md", "--title", "--new-desc", "two\nlines")
    t.ok(out["title-newline"][0] != 0, f"{tag}: a title with a newline refused",
         out["title-newline"])
    xml = virsh("dumpxml", "md").stdout
    out["xml-desc"] = section(xml, "<title>", "</description>")
    run("meta-set", "metadata", "md", URI, "--key", "app", "--set",
        "<app><owner id='7'>ops</owner><tier/></app>")
    r = run("meta-get", "metadata", "md", URI)
    t.ok(r.returncode == 0 and "<owner id=\"7\">ops</owner>" in r.stdout,
         f"{tag}: metadata --set then read back", r.stdout + r.stderr)
    out["xml-meta"] = section(virsh("dumpxml", "md").stdout, "<metadata>", "</metadata>")
    run("meta-replace", "metadata", "md", URI, "--key", "new", "--set", "<other/>")
    run("meta-get2", "metadata", "md", URI)
    run("meta-remove", "metadata", "md", URI, "--remove")
    r = run("meta-missing", "metadata", "md", URI)
    t.ok(r.returncode != 0, f"{tag}: a removed element is not found", r.stdout + r.stderr)
    run("meta-nokey", "metadata", "md", URI, "--set", "<a/>")
    r = run("meta-badxml", "metadata", "md", URI, "--key", "k", "--set", "<a>")
    # libvirt's parser follows its line with the text and a caret: its first line is compared
    out["meta-badxml"] = (r.returncode, r.stderr.splitlines()[:1])
    r = virsh("start", "--paused", "md")
    t.ok(r.returncode == 0, f"{tag}: start --paused", r.stderr)
    run("live-set", "desc", "md", "--live", "--new-desc", "live only")
    run("config-set", "desc", "md", "--config", "--new-desc", "next boot")
    live, cfg = virsh("dumpxml", "md").stdout, virsh("dumpxml", "--inactive", "md").stdout
    t.ok("<description>live only</description>" in live and
         "<description>next boot</description>" in cfg,
         f"{tag}: --live in the live XML, --config in the persistent one", live + cfg)
    run("live-get", "desc", "md", "--live")
    run("config-get", "desc", "md", "--config")
    virsh("destroy", "md")
    virsh("undefine", "md")
    return out


def main():
    d.start()
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
        t.ok(got[k] == want.get(k), f"'{k}' as libvirtd answers it",
             {"vireod": got[k], "libvirtd": want.get(k)})


try:
    main()
except Exception as e:  # a crash of the test is a failure, with the daemon's log
    t.ok(False, "the test ran to its end", repr(e))
    d.dump_log()
finally:
    d.virsh("destroy", "md")
    if t.failed:
        d.dump_log()
    d.cleanup(["md"])
t.done()
