#!/usr/bin/python3
"""The secret driver (issue #18): the stock virsh's secret-* commands against vireod and against
the real libvirtd 9.0 (scripts/libvirtd_ref.py), which must answer alike.

Usage: test-daemon-secret.py VIREOD VIREO_VMM

One sequence of virsh commands runs on each daemon: define (volume, ceph, iscsi, tls and vtpm
usages, ephemeral and private ones, one without a uuid), secret-list with each filter,
secret-dumpxml, secret-set-value (base64 as given, and --file --plain), secret-get-value
(refused for a private secret and for one without a value), undefine, and the errors of bad
definitions (unknown usage type, a usage without its id, a bad attribute value, a malformed
uuid, a usage already taken, a redefinition with another usage). Every command's exit status,
output and error must be libvirtd's. libvirt-python's secretLookupByUsage answers alike too, and so do two
`virsh secret-event --loop` watchers (lifecycle, value-changed) running through the sequence.
Then vireod alone: its persistent secrets are stored as libvirtd stores them (UUID.xml and
UUID.base64 with the same contents, mode 0600), ephemeral ones are not on disk, and a restarted
vireod has the persistent ones with their values and not the ephemeral ones. Prints TAP.
"""
import os
import re
import signal
import stat
import subprocess
import sys
import tempfile
import threading

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.join(here, "..", "..", "..", "scripts"))
from daemonlib import Daemon, Tap, wait_for  # noqa: E402
import libvirtd_ref  # noqa: E402

VIREOD, VMM = sys.argv[1], sys.argv[2]
t = Tap()

U_VOL = "6a1c4e2b-8f3d-4c5a-9b7e-1d2f3a4b5c01"
U_CEPH = "6a1c4e2b-8f3d-4c5a-9b7e-1d2f3a4b5c02"
U_ISCSI = "6a1c4e2b-8f3d-4c5a-9b7e-1d2f3a4b5c03"
U_TLS = "6a1c4e2b-8f3d-4c5a-9b7e-1d2f3a4b5c04"
U_VTPM = "6a1c4e2b-8f3d-4c5a-9b7e-1d2f3a4b5c05"
U_OTHER = "6a1c4e2b-8f3d-4c5a-9b7e-1d2f3a4b5c06"
U_PRIME = "6a1c4e2b-8f3d-4c5a-9b7e-1d2f3a4b5c07"

FILES = {
    "vol.xml": f"""<secret ephemeral='no' private='no'>
  <uuid>{U_VOL}</uuid>
  <description>disk &amp; passphrase</description>
  <usage type='volume'><volume>/var/lib/vireo/images/enc.img</volume></usage>
</secret>""",
    "ceph.xml": f"""<secret ephemeral='yes' private='yes'>
  <uuid>{U_CEPH}</uuid>
  <usage type='ceph'><name>client.admin secret</name></usage>
</secret>""",
    "iscsi.xml": f"""<secret ephemeral='yes'>
  <uuid>{U_ISCSI}</uuid>
  <usage type='iscsi'><target>libvirtiscsi</target></usage>
</secret>""",
    "tls.xml": f"""<secret private='yes'>
  <uuid>{U_TLS}</uuid>
  <usage type='tls'><name>tls_example</name></usage>
</secret>""",
    "vtpm.xml": f"""<secret>
  <uuid>{U_VTPM}</uuid>
  <description>vTPM state</description>
  <usage type='vtpm'><name>VTPM_example</name></usage>
</secret>""",
    "nouuid.xml": """<secret ephemeral='yes'>
  <usage type='volume'><volume>/tmp/no-uuid.img</volume></usage>
</secret>""",
    "taken.xml": f"""<secret><uuid>{U_OTHER}</uuid>
  <usage type='volume'><volume>/var/lib/vireo/images/enc.img</volume></usage></secret>""",
    "moved.xml": f"""<secret><uuid>{U_VOL}</uuid>
  <usage type='volume'><volume>/elsewhere.img</volume></usage></secret>""",
    "badtype.xml": f"<secret><uuid>{U_OTHER}</uuid><usage type='bogus'/></secret>",
    "notype.xml": f"<secret><uuid>{U_OTHER}</uuid><usage/></secret>",
    "noid.xml": f"<secret><uuid>{U_OTHER}</uuid><usage type='volume'/></secret>",
    "noname.xml": f"<secret><uuid>{U_OTHER}</uuid><usage type='ceph'/></secret>",
    "badeph.xml": f"<secret ephemeral='maybe'><uuid>{U_OTHER}</uuid></secret>",
    "badpriv.xml": f"<secret private='1'><uuid>{U_OTHER}</uuid></secret>",
    "baduuid.xml": "<secret><uuid>not-a-uuid</uuid></secret>",
    "root.xml": "<secrets/>",
    "plain.bin": "raw passphrase\n",
    "prime.xml": f"<secret ephemeral='yes'><uuid>{U_PRIME}</uuid></secret>",
}


def sequence(tmp):
    f = lambda name: os.path.join(tmp, name)  # noqa: E731
    return [
        ["secret-list"],
        ["secret-define", f("vol.xml")],
        ["secret-define", f("ceph.xml")],
        ["secret-define", f("iscsi.xml")],
        ["secret-define", f("tls.xml")],
        ["secret-define", f("vtpm.xml")],
        ["secret-list"],
        ["secret-list", "--ephemeral"],
        ["secret-list", "--no-ephemeral"],
        ["secret-list", "--private"],
        ["secret-list", "--no-private"],
        ["secret-list", "--ephemeral", "--private"],
        ["secret-dumpxml", U_VOL],
        ["secret-dumpxml", U_CEPH],
        ["secret-dumpxml", U_ISCSI],
        ["secret-dumpxml", U_TLS],
        ["secret-dumpxml", U_VTPM],
        ["secret-dumpxml", U_OTHER],
        ["secret-get-value", U_VOL],
        ["secret-set-value", U_VOL, "c2VjcmV0IHBhc3NwaHJhc2U="],
        ["secret-get-value", U_VOL],
        ["secret-set-value", U_CEPH, "QVFBPT0="],
        ["secret-get-value", U_CEPH],
        ["secret-set-value", U_ISCSI, "--file", f("plain.bin"), "--plain"],
        ["secret-get-value", U_ISCSI],
        ["secret-set-value", U_VTPM, "AAECAwQFBgcICQ=="],
        ["secret-set-value", U_OTHER, "AAAA"],
        ["secret-define", f("taken.xml")],
        ["secret-define", f("moved.xml")],
        ["secret-define", f("badtype.xml")],
        ["secret-define", f("notype.xml")],
        ["secret-define", f("noid.xml")],
        ["secret-define", f("noname.xml")],
        ["secret-define", f("badeph.xml")],
        ["secret-define", f("badpriv.xml")],
        ["secret-define", f("baduuid.xml")],
        ["secret-define", f("root.xml")],
        ["secret-define", f("vol.xml")],
        ["secret-get-value", U_VOL],
        ["secret-undefine", U_ISCSI],
        ["secret-undefine", U_ISCSI],
        ["secret-list"],
    ]


LOOKUP = """
import sys, libvirt
c = libvirt.open(sys.argv[1])
for t, u in ((1, "/var/lib/vireo/images/enc.img"), (2, "client.admin secret"), (4, "tls_example"),
             (5, "VTPM_example"), (1, "/nowhere"), (3, "libvirtiscsi")):
    try:
        s = c.secretLookupByUsage(t, u)
        print(t, u, s.UUIDString(), s.usageType(), s.usageID())
    except libvirt.libvirtError as e:
        print(t, u, "error", e.get_error_code(), e.get_error_message())
"""


class Watcher:
    """virsh secret-event --loop, its lines collected as they come."""

    def __init__(self, uri, event):
        self.proc = subprocess.Popen(["virsh", "-c", uri, "secret-event", "--event", event,
                                      "--loop"], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True,
                                     env=dict(os.environ, LC_ALL="C"))
        self.lines = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def primes(self):
        return sum(U_PRIME in x for x in self.lines)

    def finish(self):
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.thread.join(10)
        # virsh's closing count takes in the throwaway secret's events, whose number depends on
        # how many rounds prime() needed (a loaded machine needs more): counted without them
        primes = self.primes()
        return [re.sub(r"^events received: (\d+)$",
                       lambda m: "events received: %d" % (int(m.group(1)) - primes), x)
                for x in self.lines if U_PRIME not in x and x]


def prime(virsh, tmp, watchers):
    """A throwaway secret's define and set-value until every watcher has seen one more of its
    events: the watchers are registered, and everything before has reached them."""
    seen = [w.primes() for w in watchers]
    for _ in range(200):
        virsh("secret-define", os.path.join(tmp, "prime.xml"))
        virsh("secret-set-value", U_PRIME, "AAAA")
        if wait_for(lambda: all(w.primes() > n for w, n in zip(watchers, seen)), 0.5):
            break
    virsh("secret-undefine", U_PRIME)


def run_all(virsh, uri, tmp):
    watchers = [Watcher(uri, "lifecycle"), Watcher(uri, "value-changed")]
    prime(virsh, tmp, watchers)
    out = []
    for args in sequence(tmp):
        r = virsh(*args)
        out.append((args, r.returncode, r.stdout, r.stderr.replace(tmp, "TMP")))
    r = subprocess.run([sys.executable, "-c", LOOKUP, uri], capture_output=True, text=True,
                       timeout=60)
    out.append((["lookup-by-usage"], r.returncode, r.stdout, r.stderr))
    # a uuid is generated when the definition has none
    r = virsh("secret-define", os.path.join(tmp, "nouuid.xml"))
    m = re.match(r"^Secret ([0-9a-f-]{36}) created\n*$", r.stdout)
    prime(virsh, tmp, watchers)
    for w, what in zip(watchers, ("lifecycle", "value-changed")):
        lines = [x.replace(m.group(1), "GENERATED") if m else x for x in w.finish()]
        out.append((["secret-event", "--event", what], 0, "\n".join(lines), ""))
    if not m:
        return out, None, r.stdout + r.stderr
    virsh("secret-undefine", m.group(1))
    return out, m.group(1), ""


def store_files(d):
    files = {}
    for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        p = os.path.join(d, name)
        with open(p) as fh:
            files[name] = (stat.S_IMODE(os.stat(p).st_mode), fh.read())
    return files


tmp = tempfile.mkdtemp(prefix="secret-test-", dir=os.environ.get("TMPDIR"))
for name, text in FILES.items():
    with open(os.path.join(tmp, name), "w") as fh:
        fh.write(text)

def virsh_on(uri):
    """virsh without -q: its messages ("Secret ... created") and table headers count too."""
    def run(*args):
        return subprocess.run(["virsh", "-c", uri] + list(args), capture_output=True, text=True,
                              timeout=60, env=dict(os.environ, LC_ALL="C"))
    return run


with libvirtd_ref.LibvirtdRef() as ref:
    want, want_gen, want_diag = run_all(virsh_on(ref.uri), ref.uri, tmp)
    want_files = store_files(os.path.join(ref.dir, "etc", "secrets"))

d = Daemon(VIREOD, VMM)
d.start()
try:
    got, got_gen, got_diag = run_all(virsh_on(d.uri), d.uri, tmp)
    for (args, wrc, wout, werr), (_, grc, gout, gerr) in zip(want, got):
        what = " ".join(a.replace(tmp + "/", "") for a in args)
        lines = f", {len(wout.splitlines())} lines" if args[0] == "secret-event" else ""
        t.ok((grc, gout, gerr) == (wrc, wout, werr), f"{what}: as libvirtd (rc {wrc}{lines})",
             f"vireod: rc {grc} out {gout!r} err {gerr!r}\nlibvirtd: rc {wrc} out {wout!r} "
             f"err {werr!r}")
    t.ok(got_gen is not None and want_gen is not None,
         f"a definition without <uuid> gets a generated one ({got_gen})",
         f"vireod: {got_diag!r}\nlibvirtd: {want_diag!r}")

    got_files = store_files(os.path.join(d.root, "etc", "secrets"))
    t.ok(got_files == want_files, "stored files (names, modes, contents) as libvirtd's: " +
         ", ".join("%s %o" % (k, v[0]) for k, v in sorted(got_files.items())),
         "vireod: %r\nlibvirtd: %r" % (got_files, want_files))
    t.ok(not any(U_CEPH in k or U_ISCSI in k for k in got_files),
         "nothing of the ephemeral secrets on disk")
    t.ok(all(v[0] == 0o600 for v in got_files.values()) and len(got_files) == 5,
         "UUID.xml and UUID.base64 of the persistent secrets, all 0600")

    rc = d.stop()
    t.ok(rc == 0, "vireod exits 0 (a sanitizer build: no leak, no error)", "rc %s" % rc)
    d.start()
    r = d.virsh("secret-list")
    t.ok(U_VOL in r.stdout and U_TLS in r.stdout and U_VTPM in r.stdout and
         U_CEPH not in r.stdout, "after a restart: the persistent secrets, not the ephemeral one",
         r.stdout + r.stderr)
    r = d.virsh("secret-get-value", U_VOL)
    t.ok(r.stdout.strip() == "c2VjcmV0IHBhc3NwaHJhc2U=", "after a restart: the value is kept",
         r.stdout + r.stderr)
    r = d.virsh("secret-get-value", U_TLS)
    t.ok(r.returncode != 0 and "secret is private" in r.stderr,
         "after a restart: a private secret is still private", r.stderr)
    for u in (U_VOL, U_TLS, U_VTPM):
        d.virsh("secret-undefine", u)
    t.ok(store_files(os.path.join(d.root, "etc", "secrets")) == {},
         "undefine removes the stored files")
finally:
    rc = d.stop()
t.ok(rc == 0, "vireod exits 0 at the end", "rc %s" % rc)
t.done()
