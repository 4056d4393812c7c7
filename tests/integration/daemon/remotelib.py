"""remotelib.py - what the remote-access tests share: a private network
namespace (so the default ports 16514 and 16509 are free and nothing leaves
the machine), certificates made with certtool, SASL users made with
saslpasswd2, a vireod with a libvirtd.conf under its own --root, and a raw
client of the remote protocol for what the stock clients cannot send.
"""
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time

REMOTE_PROGRAM = 0x20008086
KEEPALIVE_PROGRAM = 0x6B656570
CALL, REPLY, MESSAGE = 0, 1, 2
PROC_CONNECT_OPEN = 1
PROC_CONNECT_GET_CAPABILITIES = 7
PROC_CONNECT_LIST_DOMAINS = 37
PROC_AUTH_LIST = 66
PROC_AUTH_SASL_INIT = 67
PROC_AUTH_SASL_START = 68
PROC_AUTH_SASL_STEP = 69


def enter_netns():
    """Re-runs this script in a new network namespace with loopback up."""
    if os.environ.get("VIREO_TEST_NETNS") == "1":
        return
    env = dict(os.environ, VIREO_TEST_NETNS="1")
    cmd = ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh",
           sys.executable] + sys.argv
    os.execvpe("unshare", cmd, env)


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


class Pki:
    """A CA and the certificates the tests need, made by certtool."""

    def __init__(self, d):
        self.d = d
        os.makedirs(d, exist_ok=True)
        self.key = self.path("key.pem")
        r = run(["certtool", "--generate-privkey", "--bits", "2048", "--outfile", self.key])
        assert r.returncode == 0, r.stderr
        self.ca = self.cert("cacert", "cn = Vireo Test CA\nca\ncert_signing_key\n")
        self.rogue_ca = self.cert("roguecacert", "cn = Rogue CA\nca\ncert_signing_key\n")

    def path(self, name):
        return os.path.join(self.d, name)

    def cert(self, name, template, ca=None):
        tpl = self.path(name + ".info")
        open(tpl, "w").write(template)
        out = self.path(name + ".pem")
        if ca is None:
            cmd = ["certtool", "--generate-self-signed", "--load-privkey", self.key]
        else:
            cmd = ["certtool", "--generate-certificate", "--load-privkey", self.key,
                   "--load-ca-certificate", ca, "--load-ca-privkey", self.key]
        r = run(cmd + ["--template", tpl, "--outfile", out])
        assert r.returncode == 0, r.stderr
        return out

    def server(self, name, cn, ip="127.0.0.1"):
        return self.cert(name, "organization = Vireo\ncn = %s\n%s"
                         "dns_name = %s\ntls_www_server\nencryption_key\nsigning_key\n"
                         "expiration_days = 30\n" % (cn, "ip_address = %s\n" % ip if ip else "",
                                                     cn), self.ca)

    def client(self, name, cn, ca=None, dates=None):
        when = dates or "expiration_days = 30\n"
        return self.cert(name, "country = GB\norganization = Vireo\ncn = %s\ntls_www_client\n"
                         "encryption_key\nsigning_key\n%s" % (cn, when), ca or self.ca)

    def client_dir(self, name, cert, ca=None):
        """A pkipath directory for virsh: cacert.pem, clientcert.pem, clientkey.pem."""
        d = self.path(name)
        os.makedirs(d, exist_ok=True)
        for src, dst in ((ca or self.ca, "cacert.pem"), (cert, "clientcert.pem"),
                         (self.key, "clientkey.pem")):
            open(os.path.join(d, dst), "w").write(open(src).read())
        return d

    def install_server(self, root, cert):
        """libvirt's layout under --root."""
        for sub in ("etc/pki/CA", "etc/pki/libvirt/private"):
            os.makedirs(os.path.join(root, sub), exist_ok=True)
        for src, dst in ((self.ca, "etc/pki/CA/cacert.pem"),
                         (cert, "etc/pki/libvirt/servercert.pem"),
                         (self.key, "etc/pki/libvirt/private/serverkey.pem")):
            open(os.path.join(root, dst), "w").write(open(src).read())


def sasl_setup(root, users, mechs="scram-sha-256 digest-md5"):
    """DIR/etc/sasl2/vireod.conf and a sasldb with users {name: password}."""
    d = os.path.join(root, "etc", "sasl2")
    os.makedirs(d, exist_ok=True)
    db = os.path.join(d, "passwd.db")
    open(os.path.join(d, "vireod.conf"), "w").write(
        "mech_list: %s\nsasldb_path: %s\n" % (mechs, db))
    for user, pw in users.items():
        r = subprocess.run(["saslpasswd2", "-a", "vireod", "-f", db, "-p", "-c", user],
                           input=pw, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr


def client_env(**extra):
    """The environment for clients: C locale, and (for the ASan build) LeakSanitizer told
    about the SASL plugin's OpenSSL leak (lsan-openssl.supp)."""
    supp = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lsan-openssl.supp")
    lsan = os.environ.get("LSAN_OPTIONS", "")
    env = dict(os.environ, LC_ALL="C",
               LSAN_OPTIONS=(lsan + ":" if lsan else "") + "suppressions=" + supp +
               ":print_suppressions=0")
    env.update(extra)
    return env


def auth_file(path, user, password, host="127.0.0.1"):
    """libvirt's auth.conf, so that virsh answers the SASL prompts itself."""
    open(path, "w").write("[credentials-test]\nauthname=%s\npassword=%s\n\n"
                          "[auth-libvirt-%s]\ncredentials=test\n" % (user, password, host))
    return path


class Vireod:
    def __init__(self, vireod, tmp, name, conf="", listen=True, limits=None, own_session=False):
        self.root = os.path.join(tmp, name)
        os.makedirs(self.root, exist_ok=True)
        self.conf = os.path.join(self.root, "vireod.conf")
        open(self.conf, "w").write(conf)
        self.out = os.path.join(self.root, "vireod.out")
        self.sock = os.path.join(self.root, "vireo-sock")
        self.args = [vireod, "--root", self.root, "-f", self.conf, "-v", "--timeout", "300"]
        if listen:
            self.args.append("--listen")
        self.limits = limits
        # own_session: a session (so a scheduler autogroup) of its own, as a service
        # manager gives a daemon and as scripts/libvirtd_ref.py gives the reference
        # libvirtd; benchmarks that compare the two need it (bench/daemon/remote).
        self.own_session = own_session
        self.proc = None

    def start(self, wait=True):
        def pre():
            if self.limits:
                import resource
                resource.setrlimit(resource.RLIMIT_NOFILE, self.limits)
        # Under ASan, freed memory waits in a quarantine (256 MiB by default), which would
        # count as resident memory in the tests that bound it: keep it small.
        asan = os.environ.get("ASAN_OPTIONS", "")
        env = client_env(ASAN_OPTIONS=(asan + ":" if asan else "") +
                         "quarantine_size_mb=4:thread_local_quarantine_size_kb=64")
        self.proc = subprocess.Popen(self.args, stdout=open(self.out, "a"),
                                     stderr=subprocess.STDOUT, preexec_fn=pre, env=env,
                                     start_new_session=self.own_session)
        if wait:
            end = time.time() + 20
            while time.time() < end and not os.path.exists(self.sock + "-ro"):
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        return self.proc

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def log(self):
        try:
            return open(self.out, errors="replace").read()
        except OSError:
            return ""

    def sanitizer_report(self):
        """What ASan/UBSan/LSan said in the daemon's output (after it stopped), or ""."""
        text = self.log()
        for mark in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            at = text.find(mark)
            if at >= 0:
                return text[at:at + 1500]
        return ""

    def rss_kib(self):
        for line in open("/proc/%d/status" % self.proc.pid):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def cpu_seconds(self):
        f = open("/proc/%d/stat" % self.proc.pid).read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def xdr_string(s):
    b = s.encode()
    return struct.pack(">I", len(b)) + b + b"\0" * (-len(b) % 4)


def xdr_chars(b):
    """char x<N> as rpcgen writes it: one 4-byte unit per char."""
    return struct.pack(">I", len(b)) + b"".join(struct.pack(">i", c - 256 if c > 127 else c)
                                                for c in b)


def message(proc, payload=b"", serial=1, prog=REMOTE_PROGRAM, mtype=CALL):
    body = struct.pack(">IIiiIi", prog, 1, proc, mtype, serial, 0) + payload
    return struct.pack(">I", len(body) + 4) + body


class RawClient:
    """The remote protocol by hand, over a connected socket."""

    def __init__(self, sock):
        self.s = sock
        self.serial = 0

    def call(self, proc, payload=b""):
        self.serial += 1
        self.s.sendall(message(proc, payload, self.serial))
        return self.reply()

    def reply(self):
        """(status, payload) of the next message, or None at end of stream."""
        head = self.recv_exact(4)
        if head is None:
            return None
        (n,) = struct.unpack(">I", head)
        body = self.recv_exact(n - 4)
        if body is None:
            return None
        status = struct.unpack(">i", body[20:24])[0]
        return status, body[24:]

    def recv_exact(self, n):
        b = b""
        while len(b) < n:
            try:
                c = self.s.recv(n - len(b))
            except (ConnectionResetError, socket.timeout):
                return None
            if not c:
                return None
            b += c
        return b


def error_message(payload):
    """The message of a remote_error payload."""
    code, domain, has = struct.unpack(">iii", payload[:12])
    if not has:
        return ""
    (n,) = struct.unpack(">I", payload[12:16])
    return payload[16:16 + n].decode(errors="replace")


def string_reply(payload):
    (n,) = struct.unpack(">I", payload[:4])
    return payload[4:4 + n].decode(errors="replace")
