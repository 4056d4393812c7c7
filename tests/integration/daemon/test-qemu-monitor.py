#!/usr/bin/python3
"""virsh qemu-monitor-command (libvirt's QEMU program) against vireod.

Usage: test-qemu-monitor.py VIREOD VIREO_VMM TEST_GUEST_ELF

A domain started paused (its vireo-vmm runs, the guest does not) is sent QMP commands as
JSON (the reply comes back as JSON, errors included, as libvirt returns them; --pretty
indents it) and human monitor lines with --hmp (their text comes back); a bad JSON command,
a shut-off domain and a read-only connection are refused with libvirt's lines; the daemon
logs the custom-monitor taint; libvirt-python's libvirt_qemu reaches the same procedure;
the guest agent command answers libvirt's not-supported line naming its API.
"""
import json
import os
import sys

from daemonlib import Daemon, Tap, domain_xml, wait_for

t = Tap()


def main():
    vireod, vmm, guest = sys.argv[1:4]
    d = Daemon(vireod, vmm)
    d.start()
    try:
        x = d.write("mon.xml", domain_xml("mon", guest, "tests=none"))
        r = d.virsh("define", x)
        t.ok(r.returncode == 0, "define", r.stderr)
        r = d.virsh("qemu-monitor-command", "mon", '{"execute":"query-status"}')
        t.ok(r.returncode != 0 and "domain is not running" in r.stderr,
             "a shut-off domain: libvirt's 'domain is not running'", r.stderr)
        r = d.virsh("start", "--paused", "mon")
        t.ok(r.returncode == 0, "start --paused", r.stderr)

        r = d.virsh("qemu-monitor-command", "mon", '{"execute":"query-status"}')
        try:
            reply = json.loads(r.stdout)
        except ValueError:
            reply = {}
        t.ok(r.returncode == 0 and reply.get("return", {}).get("status") == "prelaunch" and
             reply["return"].get("running") is False,
             "a QMP command: the VMM's reply as JSON (status prelaunch)", r.stdout + r.stderr)
        r = d.virsh("qemu-monitor-command", "mon", "--pretty",
                    '{"execute":"query-name"}')
        t.ok(r.returncode == 0 and '"return": {\n    "name": "mon"' in r.stdout,
             "--pretty indents the reply", r.stdout + r.stderr)
        r = d.virsh("qemu-monitor-command", "mon",
                    '{"execute":"human-monitor-command","arguments":{"command-line":"info kvm"}}')
        t.ok(r.returncode == 0 and "kvm support: enabled" in r.stdout,
             "arguments reach the VMM", r.stdout + r.stderr)
        r = d.virsh("qemu-monitor-command", "mon", '{"execute":"no-such-command"}')
        t.ok(r.returncode == 0 and '"CommandNotFound"' in r.stdout,
             "a QMP error is the reply, not a failure (as libvirt)", r.stdout + r.stderr)
        r = d.virsh("qemu-monitor-command", "mon", "--hmp", "info status")
        t.ok(r.returncode == 0 and r.stdout.strip() == "VM status: paused (prelaunch)",
             "--hmp 'info status': the human monitor's text", r.stdout + r.stderr)
        r = d.virsh("qemu-monitor-command", "mon", "--hmp", "info", "name")
        t.ok(r.returncode == 0 and r.stdout.strip() == "mon",
             "--hmp with the line in several words", r.stdout + r.stderr)
        r = d.virsh("qemu-monitor-command", "mon", "--hmp", "frobnicate")
        t.ok(r.returncode == 0 and "unknown command: 'frobnicate'" in r.stdout,
             "--hmp: an unknown command is the monitor's own line", r.stdout + r.stderr)
        r = d.virsh("qemu-monitor-command", "mon", "--hmp", "cont")
        t.ok(r.returncode == 0 and wait_for(lambda: d.state("mon") == "running (unpaused)"),
             "--hmp cont runs the guest, and the domain's state follows (running, unpaused)",
             r.stdout + r.stderr + d.state("mon"))
        r = d.virsh("qemu-monitor-command", "mon", '{"execute":"stop"}')
        t.ok(r.returncode == 0 and wait_for(lambda: d.state("mon") == "paused (unknown)"),
             "a QMP stop pauses it, and the state follows (paused, unknown)",
             r.stdout + r.stderr + d.state("mon"))
        r = d.virsh("qemu-monitor-command", "mon", "query-uuid")
        t.ok(r.returncode == 0 and '"UUID"' in r.stdout,
             "virsh's bare command name form (it builds the JSON)", r.stdout + r.stderr)
        ro = ["virsh", "-q", "-r", "-c", d.uri]
        import subprocess
        r = subprocess.run(ro + ["qemu-monitor-command", "mon", '{"execute":"query-status"}'],
                           env=d.env, capture_output=True, text=True, timeout=60)
        t.ok(r.returncode != 0 and
             "read only access prevents virDomainQemuMonitorCommand" in r.stderr,
             "a read-only connection is refused", r.stderr)
        r = d.virsh("qemu-agent-command", "mon", '{"execute":"guest-ping"}')
        t.ok(r.returncode != 0 and "virDomainQemuAgentCommand" in r.stderr,
             "qemu-agent-command: libvirt's not-supported line naming the API", r.stderr)
        try:
            import libvirt
            import libvirt_qemu
            conn = libvirt.open(d.uri)
            dom = conn.lookupByName("mon")
            out = libvirt_qemu.qemuMonitorCommand(dom, '{"execute":"query-uuid"}', 0)
            t.ok('"UUID"' in out, "libvirt-python's libvirt_qemu.qemuMonitorCommand", out)
            try:
                libvirt_qemu.qemuMonitorCommand(dom, "{not json", 0)
                t.ok(False, "a command that is not JSON is refused (libvirt-python)")
            except libvirt.libvirtError as e:
                t.ok("cannot parse json" in str(e),
                     "a command that is not JSON is refused (libvirt-python)", str(e))
            conn.close()
        except Exception as e:  # noqa: BLE001 - reported as the failure
            t.ok(False, "libvirt-python's libvirt_qemu.qemuMonitorCommand", repr(e))
        log = open(os.path.join(d.tmp, "vireod.out")).read()
        t.ok("name='mon'" in log and "is tainted: custom-monitor" in log,
             "the daemon logs the custom-monitor taint", log[-500:])
        d.virsh("destroy", "mon")
        d.virsh("undefine", "mon")
    finally:
        d.cleanup(["mon"])
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
