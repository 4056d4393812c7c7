#!/usr/bin/python3
"""virsh qemu-monitor-command (libvirt's QEMU program) against vireod.

Usage: test-qemu-monitor.py VIREOD VIREO_VMM TEST_GUEST_ELF VSH

A domain started paused (its vireo-vmm runs, the guest does not) is sent QMP commands as
JSON (the reply comes back as JSON, errors included, as libvirt returns them; --pretty
indents it) and human monitor lines with --hmp (their text comes back); a bad JSON command,
a shut-off domain and a read-only connection are refused with libvirt's lines; the daemon
logs the custom-monitor taint; libvirt-python's libvirt_qemu reaches the same procedure;
the guest agent command answers libvirt's refusal for a paused domain. Then the
monitor events: the stock `virsh qemu-monitor-event` (one event, by name, by regex, case-blind)
prints what the VMM sent with libvirt's line, data included; libvirt-python's
qemuMonitorEventRegister for one domain hears its events and stops after deregistering; a bad
regex and an unknown callback id are refused with libvirt's lines.

vsh qemu-monitor-command (libvireo's vir_domain_qemu_monitor_command) is run with the same
arguments as virsh against the same domain, before it runs and while it is paused: QMP replies
plain, --pretty and --return-value (with and without --pretty), an error reply, HMP lines
joined from several words, the option refusals, a missing 'return', an unknown domain and a
read-only connection; stdout, stderr and exit status must be virsh's.
"""
import json
import os
import shlex
import re
import subprocess
import sys
import threading
import time

from daemonlib import Daemon, Tap, domain_xml, wait_for

t = Tap()


def watch(d, *args):
    """Runs virsh qemu-monitor-event ARGS (ends after one event) while the domain is suspended
    and resumed, then reset, until it prints; returns (status, stdout, stderr)."""
    p = subprocess.Popen(["virsh", "-q", "-c", d.uri, "qemu-monitor-event", "--domain", "mon",
                          "--timeout", "60"] + list(args), env=d.env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while p.poll() is None and time.time() < deadline:
        d.virsh("suspend", "mon")
        d.virsh("resume", "mon")
        d.virsh("reset", "mon")
        time.sleep(0.3)
    out, err = p.communicate(timeout=60)
    return p.returncode, out, err


def monitor_events(d):
    # virsh's line, then its count (printed even with -q)
    line = r"event %s at \d+\.\d{6} for domain 'mon': %s\nevents received: 1\n"
    rc, out, err = watch(d, "--event", "RESUME")
    t.ok(rc == 0 and re.fullmatch(line % ("RESUME", "<null>"), out),
         "qemu-monitor-event --event RESUME: libvirt's line, no data", out + err)
    rc, out, err = watch(d, "--event", "RESET")
    t.ok(rc == 0 and re.fullmatch(
        line % ("RESET", re.escape('{"guest":false,"reason":"host-qmp-system-reset"}')), out),
        "qemu-monitor-event --event RESET: the event's data as JSON", out + err)
    rc, out, err = watch(d, "--event", "^R.S[UE]", "--regex")
    t.ok(rc == 0 and re.fullmatch(line % ("(RESUME|RESET)", ".*"), out),
         "qemu-monitor-event --regex matches names by an extended regex", out + err)
    rc, out, err = watch(d, "--event", "stop", "--no-case")
    t.ok(rc == 0 and re.fullmatch(line % ("STOP", "<null>"), out),
         "qemu-monitor-event --no-case matches STOP by 'stop'", out + err)
    r = d.virsh("qemu-monitor-event", "--event", "(", "--regex", "--timeout", "1")
    t.ok(r.returncode != 0 and "failed to compile regex '('" in r.stderr,
         "a bad regex: libvirt's 'failed to compile regex' line", r.stderr)
    try:
        import libvirt
        import libvirt_qemu
        libvirt.virEventRegisterDefaultImpl()
        stop = threading.Event()

        def loop():
            while not stop.is_set():
                libvirt.virEventRunDefaultImpl()
        th = threading.Thread(target=loop, daemon=True)
        th.start()
        conn = libvirt.open(d.uri)
        dom = conn.lookupByName("mon")
        seen = []
        cb = libvirt_qemu.qemuMonitorEventRegister(
            conn, dom, "STOP", lambda c, dm, ev, sec, us, det, op: seen.append((dm.name(), ev)),
            None, 0)
        d.virsh("suspend", "mon")
        got = wait_for(lambda: seen)
        d.virsh("resume", "mon")
        t.ok(got and seen[0] == ("mon", "STOP"),
             "libvirt-python's qemuMonitorEventRegister hears the domain's STOP", seen)
        libvirt_qemu.qemuMonitorEventDeregister(conn, cb)
        n = len(seen)
        d.virsh("suspend", "mon")
        d.virsh("resume", "mon")
        time.sleep(1)
        t.ok(len(seen) == n, "after deregistering no event comes", seen)
        try:
            libvirt_qemu.qemuMonitorEventDeregister(conn, 9999)
            t.ok(False, "an unknown callback id is refused")
        except libvirt.libvirtError as e:
            # (libvirt's client library refuses it before it reaches the daemon)
            t.ok("9999 not registered" in str(e), "an unknown callback id is refused",
                 str(e))
        conn.close()
        stop.set()
    except Exception as e:  # noqa: BLE001 - reported as the failure
        t.ok(False, "libvirt-python's qemuMonitorEventRegister", repr(e))


# qemu-monitor-command arguments vsh must answer as virsh does ('-r ' first: a read-only
# connection; '~' first: only the first line of stderr compared)
VSH_CASES = [
    """mon '{"execute":"query-status"}'""",
    """mon --pretty '{"execute":"query-status"}'""",
    """mon --return-value '{"execute":"query-name"}'""",
    """mon --return-value --pretty '{"execute":"query-status"}'""",
    """mon --pretty '{"execute":"query-uuid"}'""",
    """mon '{"execute":"no-such-command"}'""",
    """mon --pretty '{"execute":"no-such-command"}'""",
    """mon --return-value '{"execute":"no-such-command"}'""",
    """mon --hmp info status""",
    """mon --hmp 'info name'""",
    """mon --hmp frobnicate""",
    """mon --hmp --pretty 'info status'""",
    """mon --hmp --return-value 'info status'""",
    """mon query-uuid""",
    """mon --pretty query-uuid""",
    """mon --return-value query-uuid""",
    """mon query-name""",
    """mon query-command-line-options '"option":"machine"'""",
    """mon --return-value query-cpus-fast""",
    """mon human-monitor-command '"command-line":"info name"'""",
    """mon --return-value human-monitor-command '"command-line":"info status"'""",
    """mon no-such-command '"a":1' '"b":[1,2]'""",
    # a QMP command wrapper that does not parse: the second line is the JSON parser's (yajl's in
    # libvirt, json-c's in vsh), the rest virsh's
    """~mon '{"execute":"query-status"}' extra""",
    """nosuch '{"execute":"query-status"}'""",
    """mon""",
    """-r mon '{"execute":"query-status"}'""",
]


def vsh_cases(d, vsh, when):
    for c in VSH_CASES:
        first_line = c.startswith("~")
        c = c.lstrip("~")
        words = shlex.split(c)
        opts = words[:1] if words[0] == "-r" else []
        words = words[len(opts):]
        got = []
        for tool in (["virsh", "-c", d.uri], [vsh, "-c", d.vsh_uri]):
            r = subprocess.run(tool + opts + ["qemu-monitor-command"] + words, env=d.env,
                               capture_output=True, text=True, timeout=60)
            got.append((r.stdout, r.stderr.split("\n")[0] if first_line else r.stderr,
                        r.returncode))
        t.ok(got[0] == got[1], "vsh qemu-monitor-command %s (%s): as virsh (rc %d)"
             % (c, when, got[0][2]), "virsh: %r\nvsh:   %r" % tuple(got))


def main():
    vireod, vmm, guest, vsh = sys.argv[1:5]
    d = Daemon(vireod, vmm, vsh)
    d.start()
    try:
        x = d.write("mon.xml", domain_xml("mon", guest, "tests=none"))
        r = d.virsh("define", x)
        t.ok(r.returncode == 0, "define", r.stderr)
        r = d.virsh("qemu-monitor-command", "mon", '{"execute":"query-status"}')
        t.ok(r.returncode != 0 and "domain is not running" in r.stderr,
             "a shut-off domain: libvirt's 'domain is not running'", r.stderr)
        vsh_cases(d, vsh, "shut off")
        r = d.virsh("start", "--paused", "mon")
        t.ok(r.returncode == 0, "start --paused", r.stderr)
        vsh_cases(d, vsh, "paused")

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
        r = subprocess.run(ro + ["qemu-monitor-command", "mon", '{"execute":"query-status"}'],
                           env=d.env, capture_output=True, text=True, timeout=60)
        t.ok(r.returncode != 0 and
             "read only access prevents virDomainQemuMonitorCommand" in r.stderr,
             "a read-only connection is refused", r.stderr)
        r = d.virsh("qemu-agent-command", "mon", '{"execute":"guest-ping"}')
        t.ok(r.returncode != 0 and
             "Requested operation is not valid: domain is not running" in r.stderr,
             "qemu-agent-command to a paused domain: libvirt's refusal", r.stderr)
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
        monitor_events(d)
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
