"""daemonlib.py - what vireod's integration tests share: TAP output, a
daemon under --root in a temporary directory, the stock virsh and vsh
pointed at it, polling helpers and a domain XML for the test guest.

Every wait polls with a generous limit; nothing here asserts a timing.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, what, diag=None):
        self.n += 1
        print(("ok %d - %s" if cond else "not ok %d - %s") % (self.n, what))
        if not cond:
            self.failed += 1
            for line in str(diag or "").splitlines():
                print("# " + line)
        sys.stdout.flush()
        return cond

    def diag(self, text):
        for line in str(text).splitlines():
            print("# " + line)
        sys.stdout.flush()

    def done(self):
        print("1..%d" % self.n)
        sys.exit(1 if self.failed else 0)


def skip_all(reason):
    print("1..0 # SKIP " + reason)
    sys.exit(0)


def wait_for(pred, limit=20.0, step=0.05):
    end = time.time() + limit
    while time.time() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


class Daemon:
    """One vireod under ROOT=tmp/root, with helpers for its clients."""

    def __init__(self, vireod, vmm, vsh=None):
        self.vireod = vireod
        self.vsh_path = vsh
        self.tmp = tempfile.mkdtemp(prefix="vireod-test-")
        self.root = os.path.join(self.tmp, "root")
        self.sock = os.path.join(self.root, "vireo-sock")
        self.sock_ro = os.path.join(self.root, "vireo-sock-ro")
        self.uri = "qemu+unix:///system?socket=" + self.sock
        self.vsh_uri = "vireo+unix:///system?socket=" + self.sock
        self.env = dict(os.environ, VIREO_VMM=vmm, LC_ALL="C")
        self.proc = None
        self.args = []  # more vireod options (-v, ...)

    ns = None  # a network namespace to run vireod in (NsDaemon)

    def start(self):
        out = open(os.path.join(self.tmp, "vireod.out"), "a")
        cmd = (["ip", "netns", "exec", self.ns] if self.ns else []) + [
            self.vireod, "--root", self.root, "--timeout", "600"] + self.args
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        wait_for(lambda: os.path.exists(self.sock_ro), 10)
        return self.proc

    def stop(self):
        if not self.proc:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = -9
        self.proc = None
        return rc

    def virsh(self, *args, timeout=60):
        cmd = ["virsh", "-q", "-c", self.uri] + list(args)
        return subprocess.run(cmd, env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def virsh_popen(self, *args, **kw):
        return subprocess.Popen(["virsh", "-q", "-c", self.uri] + list(args), env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                **kw)

    def vsh(self, *args, timeout=60):
        cmd = [self.vsh_path, "-q", "-c", self.vsh_uri] + list(args)
        return subprocess.run(cmd, env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def state(self, name):
        return self.virsh("domstate", "--reason", name).stdout.strip()

    def vmm_pid(self, name):
        try:
            return int(open(os.path.join(self.root, "run", name + ".pid")).read())
        except (OSError, ValueError):
            return None

    def console_log(self, name):
        try:
            return open(os.path.join(self.root, "log", name + ".console.log"),
                        errors="replace").read()
        except OSError:
            return ""

    def vmm_log(self, name, lines=5):
        try:
            return "".join(open(os.path.join(self.root, "log", name + ".log"),
                                errors="replace").readlines()[-lines:])
        except OSError:
            return ""

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        open(path, "w").write(text)
        return path

    def dump_log(self):
        print("# daemon log:")
        try:
            for line in open(os.path.join(self.tmp, "vireod.out")):
                print("#   " + line.rstrip())
        except OSError:
            pass

    def cleanup(self, names=()):
        for name in names:
            p = self.vmm_pid(name)
            if p and alive(p):
                try:
                    os.kill(p, signal.SIGCONT)
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
        self.stop()
        remove_groups(self.root)
        if not os.environ.get("VIREO_TEST_KEEP"):  # keep the roots (logs) to look at a failure
            shutil.rmtree(self.tmp, ignore_errors=True)


def remove_groups(root):
    """The cgroups a daemon under root left for VMMs the harness killed behind its back (the
    daemon removes a domain's groups when it sees its VMM end, which a harness that kills
    the VMM and then the daemon does not let it see): machine/vireod-HASH, HASH as
    cgroup.c computes it, on every hierarchy."""
    h = 2166136261
    for ch in root.encode():
        h = ((h ^ ch) * 16777619) & 0xffffffff
    part = "machine/vireod-%08x" % h
    tops = ["/sys/fs/cgroup"] + ["/sys/fs/cgroup/" + x for x in os.listdir("/sys/fs/cgroup")]
    for top in tops:
        base = os.path.join(top, part)
        if not os.path.isdir(base):
            continue
        for _ in range(100):
            for dirpath, dirnames, _files in sorted(os.walk(base), key=lambda w: -len(w[0])):
                try:
                    os.rmdir(dirpath)
                except OSError:
                    pass
            if not os.path.isdir(base):
                break
            time.sleep(0.05)


def alive(pid):
    try:
        os.kill(pid, 0)
        return open("/proc/%d/comm" % pid).read().strip() == "vireo-vmm"
    except OSError:
        return False


def domain_xml(name, guest, cmdline, devices="", memory_mib=64, extra="", balloon="none"):
    return f"""<domain type='kvm'>
  <name>{name}</name>
  <memory unit='MiB'>{memory_mib}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64'>hvm</type>
    <kernel>{guest}</kernel>
    <cmdline>{cmdline}</cmdline>
  </os>
{extra}  <devices>
    <memballoon model='{balloon}'/>
{devices}  </devices>
</domain>
"""


class NsDaemon(Daemon):
    """vireod inside network namespace ns (its clients connect through the socket, which the
    namespace does not hide)."""

    def __init__(self, ns, vireod, vmm, vsh=None):
        super().__init__(vireod, vmm, vsh)
        self.ns = ns


def sh(*args, ns=None, timeout=60):
    """A command (inside network namespace ns when given), its output captured."""
    cmd = (["ip", "netns", "exec", ns] if ns else []) + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


# A script to run inside a namespace: the first 12 bytes a server at (argv[1], argv[2]) sends
# (a VNC server's "RFB 003.008"), or "error: EXCEPTION".
RFB_PROBE = """import socket, sys
s = socket.socket()
s.settimeout(30)
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    data = b""
    while len(data) < 12:
        chunk = s.recv(12 - len(data))
        if not chunk:
            break
        data += chunk
    print(data.decode(errors="replace").strip())
except OSError as e:
    print("error: %s" % e.__class__.__name__)
"""


def netns_remove(*namespaces):
    """Ends every process left in each network namespace (a dnsmasq, a VMM, a helper: nothing
    may outlive a test) and deletes the namespace."""
    for ns in namespaces:
        pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True,
                              text=True).stdout.split()
        for p in pids:
            try:
                os.kill(int(p), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


LIBVIRTD_REF = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                            "scripts", "libvirtd_ref.py")


def libvirtd_ref_start(t, ref_dir, ns, timeout=120):
    """The reference libvirtd (scripts/libvirtd_ref.py) started in network namespace ns with
    its state in ref_dir: a virsh(*args) runner on its URI (its .uri and .env attributes are
    the URI and the environment, for clients of its own), or None after a failed TAP line."""
    r = subprocess.run(["ip", "netns", "exec", ns, sys.executable, LIBVIRTD_REF, "start",
                        "--dir", ref_dir], capture_output=True, text=True, timeout=timeout)
    if not t.ok(r.returncode == 0, "the reference libvirtd starts (in its own namespace)",
                r.stdout + r.stderr):
        return None
    uri = r.stdout.strip().splitlines()[-1]
    env = dict(os.environ, LC_ALL="C")

    def virsh(*args):
        return subprocess.run(["virsh", "-q", "-c", uri] + list(args), env=env,
                              capture_output=True, text=True, timeout=120)
    virsh.uri, virsh.env = uri, env
    return virsh


# The test guest's state-mode tick parser, one copy for both test trees (tests/integration/vmm).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "vmm"))
from vmmlib import state_ticks  # noqa: E402,F401
