#!/usr/bin/python3
"""<console type='pty'> through vireod, as libvirt's QEMU driver offers it.

Usage: test-console-pty.py VIREOD VIREO_VMM TEST_GUEST_ELF VSH

While the domain runs, `virsh ttyconsole` names a real pty and the live XML shows it (tty= on
the console, <source path=> on it), the guest's COM1 output comes out of that pty; once the
domain is shut off, the definition has neither (the inactive XML never had them). vsh
ttyconsole answers as virsh does (stdout, stderr, status) shut off, running, and for an unknown
domain.
"""
import os
import select
import subprocess
import sys
import time

from daemonlib import Daemon, Tap, domain_xml, wait_for

t = Tap()


def main():
    vireod, vmm, guest, vsh = sys.argv[1:5]
    d = Daemon(vireod, vmm, vsh)

    def same_as_virsh(domain, when):
        got = []
        for tool in (["virsh", "-c", d.uri], [vsh, "-c", d.vsh_uri]):
            r = subprocess.run(tool + ["ttyconsole", domain], env=d.env, capture_output=True,
                               text=True, timeout=60)
            got.append((r.stdout, r.stderr, r.returncode))
        t.ok(got[0] == got[1], "vsh ttyconsole %s (%s): as virsh (rc %d)"
             % (domain, when, got[0][2]), "virsh: %r\nvsh:   %r" % tuple(got))
    d.start()
    try:
        x = d.write("p.xml", domain_xml("p", guest, "tests=boot",
                                        devices="    <console type='pty'/>\n"))
        r = d.virsh("define", x)
        t.ok(r.returncode == 0, "define", r.stderr)
        r = d.virsh("ttyconsole", "p")
        t.ok(r.returncode != 0, "ttyconsole of a shut-off domain fails", r.stdout)
        same_as_virsh("p", "shut off")
        same_as_virsh("nosuch", "unknown domain")
        r = d.virsh("start", "--paused", "p")
        t.ok(r.returncode == 0, "start --paused", r.stderr)
        r = d.virsh("ttyconsole", "p")
        tty = r.stdout.strip()
        t.ok(r.returncode == 0 and tty.startswith("/dev/pts/") and os.path.exists(tty),
             "ttyconsole names an existing pty", r.stdout + r.stderr)
        same_as_virsh("p", "running")
        xml = d.virsh("dumpxml", "p").stdout
        t.ok(f"<console type='pty' tty='{tty}'>" in xml and f"<source path='{tty}'/>" in xml,
             "the live XML shows the pty (tty=, <source path=>)", xml)
        inactive = d.virsh("dumpxml", "--inactive", "p").stdout
        t.ok("/dev/pts/" not in inactive, "the inactive XML does not", inactive)
        fd = os.open(tty, os.O_RDWR | os.O_NOCTTY)
        r = d.virsh("resume", "p")
        out = b""
        end = time.monotonic() + 60
        while b"1.." not in out and time.monotonic() < end:
            if select.select([fd], [], [], 1)[0]:
                out += os.read(fd, 4096)
        os.close(fd)
        t.ok(b"ok 1 - boot" in out and b"1.." in out,
             "the guest's COM1 output comes out of the pty", out[-300:])
        t.ok("ok 1 - boot" in d.console_log("p"),
             "and still goes to the console log", d.console_log("p")[-300:])
        d.virsh("destroy", "p")
        wait_for(lambda: d.state("p").startswith("shut off"))
        xml = d.virsh("dumpxml", "p").stdout
        t.ok("/dev/pts/" not in xml and "tty=" not in xml,
             "shut off: the definition has no pty any more", xml)
        d.virsh("undefine", "p")
    finally:
        d.cleanup(["p"])
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
