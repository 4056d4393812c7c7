#!/usr/bin/env python3
"""libvirtd_ref.py - the real libvirtd 9.0 (Debian's libvirt-daemon with its
QEMU driver) as a private reference instance, for tests and benchmarks that
compare vireod with it.

Run as root, libvirtd is always "privileged": its QEMU driver keeps its
files at compiled-in places (/etc/libvirt/qemu.conf and /etc/libvirt/qemu/
for definitions, /run/libvirt, /var/lib/libvirt, /var/log/libvirt,
/var/cache/libvirt) and no option or environment variable moves them (the
session-mode XDG paths apply only to non-root daemons, which cannot run
KVM guests the way the system daemon does). So the instance runs in its own
mount namespace (`unshare --mount --propagation private`) where a temporary
directory is bind-mounted over each of those five places: its qemu.conf,
its definitions, its sockets (unix_sock_dir), logs and cache all live in
the temporary directory, and nothing the system has there is read or
written. The QEMU processes it starts (in a further namespace cloned from
libvirtd's) see the same directories: stop() finds every process whose
/run/libvirt is the instance's own. Two instances can run side by side.

What it does change on the host, because it cannot do without:
- the mount points: /run/libvirt, /var/lib/libvirt, /var/log/libvirt and
  /var/cache/libvirt are created empty when missing (never removed: an
  rmdir would detach another instance's mounts);
- the `libvirt-qemu` user and the `libvirt-qemu` and `kvm` groups are
  created (system accounts) when missing: libvirtd 9.0 looks them up, as its
  compiled-in defaults, before it reads qemu.conf, and refuses to start the
  QEMU driver without them (Debian's libvirt-daemon-system creates them; it
  is not installed here because it would start a system libvirtd).

The private qemu.conf sets user/group root and stdio_handler "file" (no
virtlogd), security_driver "none" (the AppArmor profiles come with
libvirt-daemon-system), cgroup_controllers [] and a dead D-Bus address (no
cgroup directories or systemd-machined registrations on the host), and
remember_owner 0 (no xattrs written on the guest's files).

Use:
    from libvirtd_ref import LibvirtdRef, RefError
    with LibvirtdRef() as ref:        # starts; raises RefError (one line)
        subprocess.run(["virsh", "-c", ref.uri, "list"])
    # stopped: its QEMUs killed, the temporary directory removed

or from a shell:
    scripts/libvirtd_ref.py run -- sh -c 'virsh -c "$LIBVIRTD_REF_URI" list --all'
    scripts/libvirtd_ref.py start --dir D   # prints the URI, leaves it running
    scripts/libvirtd_ref.py stop --dir D
"""
import argparse
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

LIBVIRTD = "/usr/sbin/libvirtd"
# The compiled-in places of a privileged libvirtd (Debian's build), each
# replaced by a directory of the instance.
PLACES = (("etc", "/etc/libvirt"), ("run", "/run/libvirt"), ("lib", "/var/lib/libvirt"),
          ("log", "/var/log/libvirt"), ("cache", "/var/cache/libvirt"))

QEMU_CONF = """# qemu.conf of a private reference libvirtd (scripts/libvirtd_ref.py)
user = "root"
group = "root"
stdio_handler = "file"
security_driver = "none"
cgroup_controllers = [ ]
remember_owner = 0
"""


class RefError(Exception):
    """Why the reference libvirtd could not start, in one line."""


def _run_id(pid):
    """The identity of /run/libvirt as process PID sees it (through its own
    mount namespace), or None."""
    try:
        st = os.stat("/proc/%d/root/run/libvirt" % pid)
        return "%d:%d" % (st.st_dev, st.st_ino)
    except OSError:
        return None


def _pids_of(run_id):
    """Every process that sees the instance's run directory at /run/libvirt:
    libvirtd and its QEMUs, which libvirt starts in a further private mount
    namespace cloned from libvirtd's (qemu.conf `namespaces`)."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit() and _run_id(int(d)) == run_id:
            out.append(int(d))
    return out


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours is gone for our purposes.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _ensure_accounts():
    """Create the accounts libvirtd 9.0 insists on, when missing."""
    made = []
    for group in ("kvm", "libvirt-qemu"):
        if subprocess.run(["getent", "group", group], capture_output=True).returncode:
            r = subprocess.run(["groupadd", "--system", group], capture_output=True, text=True)
            if r.returncode:
                raise RefError("cannot create group '%s': %s" % (group, r.stderr.strip()))
            made.append("group " + group)
    if subprocess.run(["getent", "passwd", "libvirt-qemu"], capture_output=True).returncode:
        r = subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir",
                            "/var/lib/libvirt", "--shell", "/usr/sbin/nologin", "--gid",
                            "libvirt-qemu", "--groups", "kvm", "libvirt-qemu"],
                           capture_output=True, text=True)
        if r.returncode:
            raise RefError("cannot create user 'libvirt-qemu': %s" % r.stderr.strip())
        made.append("user libvirt-qemu")
    return made


class LibvirtdRef:
    """One private libvirtd. `uri` is what virsh takes; `dir` its files."""

    def __init__(self, workdir=None, log_level=3, keep=False, extra_conf="", listen=False,
                 extra_places=()):
        """extra_conf: more libvirtd.conf lines; listen: run with --listen (TCP/TLS);
        extra_places: more (subdirectory, place) pairs bind-mounted like PLACES (e.g. a
        private /etc/sasl2 for libvirtd's SASL config)."""
        self.extra_conf = extra_conf
        self.listen = listen
        self.places = PLACES + tuple(extra_places)
        self.own_dir = workdir is None
        self.dir = os.path.abspath(workdir or tempfile.mkdtemp(prefix="libvirtd-ref-"))
        self.sock = os.path.join(self.dir, "sock", "libvirt-sock")
        self.uri = "qemu+unix:///system?socket=" + self.sock
        self.log = os.path.join(self.dir, "libvirtd.log")
        self.log_level = log_level
        self.keep = keep
        self.proc = None
        self.pid = None
        self.run_id = None

    # -- start --------------------------------------------------------------

    def _write_config(self):
        for sub, _ in self.places:
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        os.makedirs(os.path.join(self.dir, "sock"), exist_ok=True)
        with open(os.path.join(self.dir, "etc", "libvirtd.conf"), "w") as f:
            f.write('unix_sock_dir = "%s"\n' % os.path.dirname(self.sock))
            f.write('auth_unix_rw = "none"\nauth_unix_ro = "none"\n')
            f.write('log_outputs = "%d:file:%s"\n' % (self.log_level, self.log))
            f.write(self.extra_conf)
        with open(os.path.join(self.dir, "etc", "qemu.conf"), "w") as f:
            f.write(QEMU_CONF)

    def start(self, timeout=60):
        """Start the daemon and wait until it answers; return the URI."""
        if os.geteuid() != 0:
            raise RefError("the reference libvirtd needs root (its QEMU driver runs "
                           "privileged)")
        for tool in (LIBVIRTD, shutil.which("unshare"), shutil.which("virsh")):
            if not tool or not os.access(tool, os.X_OK):
                raise RefError("%s is not installed (scripts/install-deps installs "
                               "libvirt-daemon, libvirt-daemon-driver-qemu, libvirt-clients)"
                               % (tool or "unshare/virsh"))
        _ensure_accounts()
        self._write_config()
        for _, place in self.places:
            os.makedirs(place, exist_ok=True)
        st = os.stat(os.path.join(self.dir, "run"))
        self.run_id = "%d:%d" % (st.st_dev, st.st_ino)
        if self.run_id == _run_id(os.getpid()):
            raise RefError("the instance directory is the host's /run/libvirt")
        binds = " && ".join("mount --bind %s %s" % (shlex.quote(os.path.join(self.dir, sub)),
                                                     place) for sub, place in self.places)
        script = binds + " && exec %s -f /etc/libvirt/libvirtd.conf --pid-file %s%s" % (
            LIBVIRTD, shlex.quote(os.path.join(self.dir, "libvirtd.pid")),
            " --listen" if self.listen else "")
        env = dict(os.environ, LC_ALL="C",
                   DBUS_SYSTEM_BUS_ADDRESS="unix:path=" + os.path.join(self.dir, "no-dbus"))
        out = open(os.path.join(self.dir, "libvirtd.out"), "ab")
        # unshare execs sh, which execs libvirtd: one pid throughout.
        self.proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "--",
                                      "sh", "-c", script], env=env, stdin=subprocess.DEVNULL,
                                     stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        out.close()
        self.pid = self.proc.pid
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        with open(os.path.join(self.dir, "ref.state"), "w") as f:
            f.write("%d %s\n" % (self.pid, self.run_id))
        return self.uri

    def _wait_ready(self, timeout):
        end = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                why = self._last_error() or "exit status %d" % self.proc.returncode
                raise RefError("the reference libvirtd exited while starting: " + why)
            if os.path.exists(self.sock) and self._answers():
                break
            if time.monotonic() > end:
                why = self._last_error()
                raise RefError("the reference libvirtd did not answer within %d s%s"
                               % (timeout, ": " + why if why else ""))
            time.sleep(0.05)

    def _answers(self):
        try:
            r = subprocess.run(["virsh", "-q", "-c", self.uri, "uri"], capture_output=True,
                               env=dict(os.environ, LC_ALL="C"), timeout=30)
        except subprocess.TimeoutExpired:
            return False
        return r.returncode == 0

    def _last_error(self):
        lines = []
        for path in (self.log, os.path.join(self.dir, "libvirtd.out")):
            try:
                lines += [ln.strip() for ln in open(path, errors="replace") if ln.strip()]
            except OSError:
                pass
        errs = [ln for ln in lines if " error : " in ln or "failed" in ln.lower()]
        pick = (errs or lines or [""])[-1]
        return pick.split(" : ", 2)[-1] if " : " in pick else pick

    # -- what it ran --------------------------------------------------------

    def qemu_log(self, name):
        return os.path.join(self.dir, "log", "qemu", name + ".log")

    def qemu_command(self, name):
        """The last QEMU command line libvirtd logged for domain NAME, as
        (environment dict, argv list)."""
        lines = open(self.qemu_log(name), errors="replace").read().splitlines()
        start = max(i for i, ln in enumerate(lines) if ": starting up libvirt" in ln)
        words = []
        for ln in lines[start + 1:]:
            words += shlex.split(ln.rstrip("\\"))
            if not ln.endswith("\\"):
                break
        env = {}
        while words and "=" in words[0] and not words[0].startswith("/"):
            k, v = words.pop(0).split("=", 1)
            env[k] = v
        return env, words

    def host_path(self, path):
        """Where a path libvirtd sees (in its namespace) is on the host."""
        for sub, place in PLACES:
            if path == place or path.startswith(place + "/"):
                return os.path.join(self.dir, sub) + path[len(place):]
        return path

    # -- stop ---------------------------------------------------------------

    def stop(self):
        """Kill its QEMUs, stop libvirtd (SIGTERM, then SIGKILL), and remove
        its directory unless asked to keep it."""
        if self.pid is None and os.path.exists(os.path.join(self.dir, "ref.state")):
            pid, run_id = open(os.path.join(self.dir, "ref.state")).read().split()
            self.pid, self.run_id = int(pid), run_id
        if self.run_id:  # its QEMUs first, so that libvirtd sees them end
            _end([p for p in _pids_of(self.run_id) if p != self.pid], 10)
        if self.proc is not None:  # our child: its pid cannot have been reused
            if self.proc.poll() is None:
                _end([self.pid], 30)
            self.proc.wait()
        elif self.pid and _run_id(self.pid) == self.run_id:
            _end([self.pid], 30)
        if self.run_id:  # anything started while it was stopping
            _end(_pids_of(self.run_id), 10)
        self.proc = self.pid = None
        if not self.keep and self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()


def _end(pids, grace):
    for p in pids:
        try:
            os.kill(p, signal.SIGTERM)
        except OSError:
            pass
    end = time.monotonic() + grace
    while any(_alive(p) for p in pids) and time.monotonic() < end:
        time.sleep(0.05)
    for p in pids:
        if _alive(p):
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass


def main():
    ap = argparse.ArgumentParser(description="a private reference libvirtd 9.0")
    ap.add_argument("action", choices=("start", "stop", "run"))
    ap.add_argument("--dir", help="the instance's directory (start/stop; default: temporary)")
    ap.add_argument("--log-level", type=int, default=3, help="libvirtd log level, 1-4")
    ap.add_argument("command", nargs="*", help="run: the command to run against it "
                    "($LIBVIRTD_REF_URI holds the URI)")
    a = ap.parse_args()
    if a.action == "stop":
        if not a.dir:
            ap.error("stop needs --dir")
        LibvirtdRef(a.dir, keep=True).stop()
        return 0
    ref = LibvirtdRef(a.dir, log_level=a.log_level, keep=a.action == "start")
    try:
        uri = ref.start()
    except RefError as e:
        print("libvirtd_ref: %s" % e, file=sys.stderr)
        return 1
    if a.action == "start":
        print(uri)
        return 0
    try:
        env = dict(os.environ, LIBVIRTD_REF_URI=uri, LIBVIRTD_REF_DIR=ref.dir)
        return subprocess.run(a.command, env=env).returncode if a.command else 0
    finally:
        ref.stop()


if __name__ == "__main__":
    sys.exit(main())
