#!/usr/bin/env python3
"""test-libvirtd-ref.py - the reference libvirtd harness (scripts/libvirtd_ref.py)
that benchmarks and comparison tests run vireod against: it starts Debian's
libvirtd 9.0 privately, the stock virsh reaches it, it defines, starts (the
project's test guest under QEMU, machine 'pc') and destroys a domain, keeps
everything in its own directory, and stop() leaves no process behind; a
libvirtd that cannot start is one line, not a hang.

usage: test-libvirtd-ref.py TESTGUEST_ELF
"""
import os
import subprocess
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(here, "..", "..", "..", "scripts"))
import libvirtd_ref  # noqa: E402

n = 0
failed = 0


def ok(cond, what, diag=""):
    global n, failed
    n += 1
    print(("ok %d - %s" if cond else "not ok %d - %s") % (n, what))
    if not cond:
        failed += 1
        for line in str(diag).splitlines():
            print("# " + line)
    sys.stdout.flush()
    return cond


def virsh(ref, *args):
    return subprocess.run(["virsh", "-q", "-c", ref.uri] + list(args), capture_output=True,
                          text=True, env=dict(os.environ, LC_ALL="C"), timeout=120)


def wait_for(pred, limit):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.1)
    return pred()


def read(path):
    try:
        return open(path, errors="replace").read()
    except OSError:
        return ""


guest = os.path.abspath(sys.argv[1])
if os.geteuid() != 0 or not os.access("/dev/kvm", os.R_OK | os.W_OK):
    print("1..0 # SKIP needs root and /dev/kvm (libvirtd's QEMU driver runs privileged)")
    sys.exit(0)

ref = libvirtd_ref.LibvirtdRef()
try:
    try:
        uri = ref.start()
        started = True
    except libvirtd_ref.RefError as e:
        uri, started = str(e), False
    if not ok(started, "the reference libvirtd starts", uri):
        print("1..%d" % n)
        sys.exit(1)
    ok(uri.startswith("qemu+unix:///system?socket=" + ref.dir + "/"),
       "its socket is in its own directory: " + uri)
    r = virsh(ref, "list", "--all")
    ok(r.returncode == 0 and r.stdout.strip() == "", "virsh list --all answers, empty",
       r.stdout + r.stderr)
    r = virsh(ref, "version", "--daemon")
    ok(r.returncode == 0 and "Running hypervisor: QEMU 7.2" in r.stdout
       and "Running against daemon: 9.0.0" in r.stdout,
       "virsh version: libvirtd 9.0.0 with QEMU 7.2", r.stdout + r.stderr)

    name = "vireo-ref-%d" % os.getpid()
    console = os.path.join(ref.dir, "console.log")
    xml = os.path.join(ref.dir, "guest.xml")
    with open(xml, "w") as f:
        f.write(f"""<domain type='kvm'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{guest}</kernel>
    <cmdline>tests=boot</cmdline>
  </os>
  <devices>
    <serial type='file'><source path='{console}'/></serial>
    <memballoon model='none'/>
  </devices>
</domain>
""")
    r = virsh(ref, "define", xml)
    ok(r.returncode == 0, "define", r.stdout + r.stderr)
    ok(os.path.exists(os.path.join(ref.dir, "etc", "qemu", name + ".xml"))
       and not os.path.exists(os.path.join("/etc/libvirt/qemu", name + ".xml")),
       "the definition is in the instance's etc/qemu, not in /etc/libvirt/qemu")
    r = virsh(ref, "start", name)
    ok(r.returncode == 0, "start", r.stdout + r.stderr)
    ok(virsh(ref, "domstate", name).stdout.strip() == "running", "domstate: running")
    booted = wait_for(lambda: "ok 4 - boot" in read(console) and "1..4" in read(console), 120)
    ok(booted, "the test guest boots under libvirtd's QEMU and its serial reaches the file",
       read(console) + read(ref.qemu_log(name)))
    try:
        env, argv = ref.qemu_command(name)
        parsed = (argv[0].endswith("qemu-system-x86_64") and "-S" in argv
                  and argv[argv.index("-kernel") + 1] == guest and env.get("LC_ALL") == "C")
    except (OSError, ValueError) as e:
        parsed, argv = False, [str(e)]
    ok(parsed, "qemu_command() reads the QEMU command line back from libvirtd's log",
       " ".join(argv))
    qemus = [p for p in libvirtd_ref._pids_of(ref.run_id) if p != ref.pid]
    ok(len(qemus) == 1, "one QEMU process belongs to the instance", qemus)
    r = virsh(ref, "destroy", name)
    ok(r.returncode == 0 and virsh(ref, "domstate", name).stdout.strip() == "shut off",
       "destroy: shut off", r.stdout + r.stderr)
    r = virsh(ref, "start", name)
    ok(r.returncode == 0, "start again (stop() must end this QEMU)", r.stdout + r.stderr)
    run_id, pid, d = ref.run_id, ref.pid, ref.dir
    ref.stop()
    left = libvirtd_ref._pids_of(run_id)
    ok(not left and not libvirtd_ref._alive(pid),
       "stop() ends libvirtd and its running QEMU", left)
    ok(not os.path.exists(d), "stop() removes the instance's directory")
finally:
    ref.stop()

# A libvirtd that cannot start is reported in one line, and nothing is left.
libvirtd_ref.LIBVIRTD = "/bin/false"
bad = libvirtd_ref.LibvirtdRef()
try:
    bad.start(timeout=20)
    ok(False, "a daemon that exits at once is reported")
except libvirtd_ref.RefError as e:
    ok("exited while starting" in str(e) and "\n" not in str(e),
       "a daemon that exits at once: " + str(e))
finally:
    bad.stop()
ok(not os.path.exists(bad.dir), "and its directory is removed")

print("1..%d" % n)
sys.exit(1 if failed else 0)
