#!/usr/bin/env python3
"""test-secret-vsh.py - vsh's secret-* commands (libvireo's secret API) against the stock virsh
9.0: the same command sequence runs through virsh against one vireod and through vsh against
another (each under its own --root); each command's stdout, stderr and exit status must be the
same once the roots' paths are masked, and must be the golden transcript
(golden-secret/vsh.out, virsh's; VIREO_REGEN=1 rewrites it from virsh). The sequence covers
define (good and bad XML, --validate), secret-list with each filter and -q, secret-dumpxml,
secret-set-value (--base64, positional, lenient base64, --file with and without --plain, the
1024-byte limit, --interactive from stdin, the mutually exclusive options, a missing value),
secret-get-value (base64 and --plain bytes, a private secret, one without a value, read-only),
undefine, and the lookups' errors, secret-dumpxml --xpath (elements, attributes, text, a
non-node-set and a malformed expression, nothing selected) with and without --wrap, and
secret-event's refusals and timeouts. The values vsh sets are then read back through virsh.

While the sequence runs, secret-event watchers (libvireo's secret event registration) run on
each daemon, virsh's on the first and vsh's on the second: lifecycle and value-changed --loop
on every secret, value-changed --loop filtered to one secret the sequence never touches, and a
one-shot lifecycle with --timestamp filtered to a throwaway secret. Once each has seen the
throwaway secret's events (it is registered), the sequence runs; each vsh watcher's lines
must be virsh's (timestamps masked, the throwaway secret's lines taken out of the loops').

  test-secret-vsh.py VIREOD VIREO_VMM VSH LIBVIREO

libvireo's calls that no vsh command makes (vir_secret_lookup_by_usage, the handle's usage
getters) are made through ctypes on LIBVIREO against the same daemon ("none" in a sanitizer
build: its library cannot load into an unsanitized Python). Prints TAP.
"""
import ctypes
import os
import shlex
import re
import shutil
import signal
import subprocess
import sys
import threading

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from daemonlib import Daemon, Tap, skip_all, wait_for  # noqa: E402

VIREOD, VMM, VSH, LIB = sys.argv[1:5]
GOLDEN = os.path.join(here, "golden-secret", "vsh.out")
t = Tap()
if not shutil.which("virsh"):
    skip_all("no virsh")

U_VOL = "5b2d7e1a-3c4f-4a6b-8d9e-0f1a2b3c4d01"
U_CEPH = "5b2d7e1a-3c4f-4a6b-8d9e-0f1a2b3c4d02"
U_ISCSI = "5b2d7e1a-3c4f-4a6b-8d9e-0f1a2b3c4d03"
U_TLS = "5b2d7e1a-3c4f-4a6b-8d9e-0f1a2b3c4d04"
U_NONE = "5b2d7e1a-3c4f-4a6b-8d9e-0f1a2b3c4d05"
U_MISSING = "5b2d7e1a-3c4f-4a6b-8d9e-0f1a2b3c4dff"
U_PRIME = "5b2d7e1a-3c4f-4a6b-8d9e-0f1a2b3c4d07"

FILES = {
    "vol.xml": f"""<secret ephemeral='no' private='no'>
  <uuid>{U_VOL}</uuid>
  <description>vol passphrase</description>
  <usage type='volume'><volume>/var/lib/vireo/images/enc.img</volume></usage>
</secret>
""",
    "ceph.xml": f"""<secret ephemeral='yes' private='yes'>
  <uuid>{U_CEPH}</uuid>
  <usage type='ceph'><name>client.admin secret</name></usage>
</secret>
""",
    "iscsi.xml": f"""<secret ephemeral='yes'>
  <uuid>{U_ISCSI}</uuid>
  <usage type='iscsi'><target>libvirtiscsi</target></usage>
</secret>
""",
    "tls.xml": f"""<secret private='yes'>
  <uuid>{U_TLS}</uuid>
  <usage type='tls'><name>tls_example</name></usage>
</secret>
""",
    "none.xml": f"<secret><uuid>{U_NONE}</uuid></secret>\n",
    "badtype.xml": f"<secret><uuid>{U_MISSING}</uuid><usage type='bogus'/></secret>\n",
    "noid.xml": f"<secret><uuid>{U_MISSING}</uuid><usage type='volume'/></secret>\n",
    "notxml.xml": "<secret>\n",
    "pass.txt": "plain pass\nword",
    "pass.b64": "cGFzc3dvcmQgZnJvbSBmaWxl\n",
    "big.txt": "x" * 1500,
    "prime.xml": f"<secret ephemeral='yes'><uuid>{U_PRIME}</uuid></secret>\n",
}

# (stdin, command); {D} is the daemon's directory.
COMMANDS = [
    (None, "secret-list"),
    (None, "secret-define {D}/vol.xml"),
    (None, "secret-define --file {D}/ceph.xml"),
    (None, "secret-define {D}/iscsi.xml"),
    (None, "secret-define {D}/tls.xml"),
    (None, "secret-define {D}/none.xml"),
    (None, "secret-define {D}/badtype.xml"),
    (None, "secret-define {D}/noid.xml"),
    (None, "secret-define {D}/notxml.xml"),
    (None, "secret-define {D}/nosuch.xml"),
    (None, "secret-define {D}/vol.xml --validate"),
    (None, "secret-define"),
    (None, "secret-list"),
    (None, "-q secret-list"),
    (None, "secret-list --ephemeral"),
    (None, "secret-list --no-ephemeral"),
    (None, "secret-list --private"),
    (None, "secret-list --no-private"),
    (None, "secret-list --ephemeral --no-private"),
    (None, "secret-dumpxml " + U_VOL),
    (None, "secret-dumpxml --secret " + U_NONE),
    (None, "secret-dumpxml " + U_MISSING),
    (None, "secret-dumpxml not-a-uuid"),
    (None, "secret-get-value " + U_VOL),
    (None, "secret-set-value " + U_VOL + " --base64 c2VjcmV0"),
    (None, "secret-get-value " + U_VOL),
    (None, "secret-get-value " + U_VOL + " --plain"),
    (None, "secret-set-value " + U_VOL + " c2Vj*cmV0IQ=x="),
    (None, "secret-get-value " + U_VOL),
    (None, "secret-set-value " + U_VOL + " --base64 YQ"),
    (None, "secret-get-value " + U_VOL),
    (None, "secret-set-value " + U_VOL + " --file {D}/pass.txt --plain"),
    (None, "secret-get-value " + U_VOL),
    (None, "secret-get-value " + U_VOL + " --plain"),
    (None, "secret-set-value " + U_VOL + " --file {D}/pass.b64"),
    (None, "secret-get-value " + U_VOL + " --plain"),
    (None, "secret-set-value " + U_VOL + " --file {D}/big.txt"),
    (None, "secret-set-value " + U_VOL + " --file {D}/nosuch"),
    (None, "secret-set-value " + U_VOL),
    (None, "secret-set-value " + U_VOL + " --file {D}/pass.b64 --base64 YQ=="),
    (None, "secret-set-value " + U_VOL + " --plain --base64 YQ=="),
    (None, "secret-set-value " + U_VOL + " --interactive --file {D}/pass.b64"),
    (None, "secret-set-value " + U_VOL + " --interactive --base64 YQ=="),
    ("typed secret\n", "secret-set-value " + U_VOL + " --interactive"),
    (None, "secret-get-value " + U_VOL + " --plain"),
    (None, "secret-set-value " + U_MISSING + " --base64 YQ=="),
    (None, "secret-set-value " + U_CEPH + " --base64 cHJpdmF0ZQ=="),
    (None, "secret-get-value " + U_CEPH),
    (None, "secret-get-value " + U_ISCSI),
    (None, "secret-set-value " + U_NONE + " --base64 ''"),
    (None, "secret-get-value " + U_NONE),
    (None, "-r secret-get-value " + U_VOL),
    (None, "-r secret-define {D}/vol.xml"),
    (None, "-r secret-list"),
    (None, "secret-undefine " + U_ISCSI),
    (None, "secret-undefine " + U_ISCSI),
    (None, "secret-undefine --secret " + U_NONE),
    (None, "secret-list"),
    (None, "secret-dumpxml " + U_VOL + " --xpath /secret/uuid"),
    (None, "secret-dumpxml " + U_VOL + " --xpath //usage --wrap"),
    (None, "secret-dumpxml " + U_VOL + " --xpath '/secret/*'"),
    (None, "secret-dumpxml " + U_VOL + " --xpath '/secret/*' --wrap"),
    (None, "secret-dumpxml " + U_VOL + " --xpath '/secret/@*'"),
    (None, "secret-dumpxml " + U_VOL + " --xpath '/secret/@*' --wrap"),
    (None, "secret-dumpxml " + U_VOL + " --xpath '//description/text()'"),
    (None, "secret-dumpxml " + U_VOL + " --xpath '//description/text() | //uuid/text()' --wrap"),
    (None, "secret-dumpxml " + U_VOL + " --xpath 'string(/secret/uuid)'"),
    (None, "secret-dumpxml " + U_VOL + " --xpath 'count(//*)' --wrap"),
    (None, "secret-dumpxml " + U_VOL + " --xpath //nosuch"),
    (None, "secret-dumpxml " + U_VOL + " --xpath //nosuch --wrap"),
    (None, "secret-dumpxml " + U_VOL + " --xpath '/secret['"),
    (None, "secret-dumpxml " + U_VOL + " --wrap"),
    (None, "secret-dumpxml " + U_MISSING + " --xpath /secret"),
    (None, "secret-event --list"),
    (None, "secret-event"),
    (None, "secret-event --event bogus"),
    (None, "secret-event --event ''"),
    (None, "secret-event --event lifecycle --timeout 0"),
    (None, "secret-event --event lifecycle --timeout x"),
    (None, "secret-event --event lifecycle --timeout 1"),
    (None, "secret-event --event value-changed --secret " + U_VOL + " --timeout 1 --loop"),
    (None, "secret-event --event lifecycle --secret not-a-uuid --timeout 1"),
]

# secret-event watchers, each started on both daemons: (name, arguments, loops)
WATCHERS = [
    ("lifecycle", ["--event", "lifecycle", "--loop"], True),
    ("value-changed", ["--event", "value-changed", "--loop"], True),
    ("filtered", ["--event", "value-changed", "--loop", "--secret", U_PRIME], True),
    ("one-shot", ["--event", "lifecycle", "--secret", U_PRIME, "--timestamp", "--timeout", "120"],
     False),
]
LEAK = "error: One or more references were leaked after disconnect from the hypervisor"
STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\+\d{4}: ")


class Watcher:
    """One `TOOL secret-event ...`, its lines collected as they come."""

    def __init__(self, argv, env, loops):
        self.loops = loops
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, env=env)
        self.lines = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def primes(self):
        return sum(U_PRIME in x for x in list(self.lines))

    def finish(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.thread.join(10)
        # virsh 9.0 sometimes reports a handle it leaked when a one-shot wait ends with an event
        # of the same round still queued: its bug, not output vsh copies
        lines = [STAMP.sub("STAMP: ", x) for x in self.lines if x != LEAK]
        if not self.loops:
            return self.proc.returncode, lines
        # the throwaway secret's events are as many as the priming rounds took: left out
        primes = self.primes()
        return self.proc.returncode, [
            re.sub(r"^events received: (\d+)$",
                   lambda m: "events received: %d" % (int(m.group(1)) - primes), x)
            for x in lines if U_PRIME not in x]


def prime(d, watchers):
    """The throwaway secret's define and set-value until every watcher has seen one more of its
    events (the one-shot: one at all): the watchers are registered, and all before reached
    them."""
    seen = [w.primes() if w.loops else 0 for w in watchers]
    virsh = ["virsh", "-q", "-c", d.uri]
    for _ in range(200):
        subprocess.run(virsh + ["secret-define", os.path.join(d.tmp, "prime.xml")],
                       capture_output=True, env=d.env, timeout=60)
        subprocess.run(virsh + ["secret-set-value", U_PRIME, "--base64", "AAAA"],
                       capture_output=True, env=d.env, timeout=60)
        if wait_for(lambda: all(w.primes() > n for w, n in zip(watchers, seen)
                                if w.loops or w.proc.poll() is None), 0.5):
            break


def run(argv, env, stdin):
    r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60,
                       input=stdin if stdin is not None else "")
    return r.stdout, r.stderr, r.returncode


def transcript(cmd, res):
    out, err, rc = res
    return "$ %s\n[exit %d]\n%s--- stderr\n%s" % (cmd, rc, out, err)


a, b = Daemon(VIREOD, VMM), Daemon(VIREOD, VMM, VSH)
try:
    a.start()
    b.start()
    for d in (a, b):
        for name, text in FILES.items():
            d.write(name, text)
    tools = ((a, ["virsh", "-c", a.uri]), (b, [VSH, "-c", b.vsh_uri]))
    for d, _ in tools:
        subprocess.run(["virsh", "-c", d.uri, "secret-define", os.path.join(d.tmp, "prime.xml")],
                       capture_output=True, env=d.env, timeout=60)
    watchers = [[Watcher(tool + ["secret-event"] + args, d.env, loops)
                 for _, args, loops in WATCHERS] for d, tool in tools]
    for (d, _), ws in zip(tools, watchers):
        prime(d, ws)
        subprocess.run(["virsh", "-c", d.uri, "secret-undefine", U_PRIME], capture_output=True,
                       env=d.env, timeout=60)
    got_virsh, got_vsh = [], []
    for stdin, c in COMMANDS:
        words_a = shlex.split(c.format(D=a.tmp))
        words_b = shlex.split(c.format(D=b.tmp))
        va = run(["virsh", "-c", a.uri] + words_a, a.env, stdin)
        vb = run([VSH, "-c", b.vsh_uri] + words_b, b.env, stdin)
        va = tuple(x.replace(a.tmp, "D") if isinstance(x, str) else x for x in va)
        vb = tuple(x.replace(b.tmp, "D") if isinstance(x, str) else x for x in vb)
        t.ok(va == vb, "vsh %s: as virsh" % c, "virsh: %r\nvsh:   %r" % (va, vb))
        got_virsh.append(transcript(c, va))
        got_vsh.append(transcript(c, vb))
    # an empty --xpath: virsh 9.0 fails without saying why (and reports a reference it leaked),
    # vsh with virsh's line for an empty option
    words = ["secret-dumpxml", U_VOL, "--xpath", ""]
    va = run(["virsh", "-c", a.uri] + words, a.env, None)
    vb = run([VSH, "-c", b.vsh_uri] + words, b.env, None)
    t.ok(va[2] == 1 and vb == ("\n", "error: Failed to get option 'xpath': Option argument is "
                                   "empty\n", 1),
         "vsh secret-dumpxml --xpath '': fails as virsh, with the empty-option line",
         "virsh: %r\nvsh:   %r" % (va, vb))
    for (d, _), ws in zip(tools, watchers):
        prime(d, ws)
    for (name, args, _), wa, wb in zip(WATCHERS, *watchers):
        ra, rb = wa.finish(), wb.finish()
        t.ok(ra == rb and len(ra[1]) > 1, "vsh secret-event %s (%s): as virsh (rc %d, %d lines)"
             % (" ".join(args), name, ra[0], len(ra[1])), "virsh: %r\nvsh:   %r" % (ra, rb))
        if name == "lifecycle":
            t.ok("event 'lifecycle' for secret %s: Undefined" % U_ISCSI in rb[1],
                 "vsh's lifecycle watcher saw the undefine", repr(rb))
        if name == "value-changed":
            t.ok("event 'value-changed' for secret %s" % U_VOL in rb[1],
                 "vsh's value-changed watcher saw secret-set-value", repr(rb))
    text = "".join(got_virsh)
    if os.environ.get("VIREO_REGEN"):
        os.makedirs(os.path.dirname(GOLDEN), exist_ok=True)
        open(GOLDEN, "w").write(text)
    golden = open(GOLDEN).read()
    t.ok(text == golden, "virsh's transcript is the golden one (%s)" % GOLDEN)
    t.ok("".join(got_vsh) == golden, "vsh's transcript is the golden one")
    # what vsh stored is what virsh reads back (and the other way)
    for sec, want in ((U_VOL, b"typed secret"), (U_CEPH, None)):
        r = subprocess.run(["virsh", "-c", b.uri, "secret-get-value", sec, "--plain"],
                           capture_output=True, env=b.env, timeout=60)
        if want is None:
            t.ok(r.returncode == 1 and b"secret is private" in r.stderr,
                 "virsh refuses the private value vsh set", repr(r))
        else:
            # virsh ends a command's output with a newline of its own
            t.ok(r.returncode == 0 and r.stdout == want + b"\n",
                 "virsh reads back the value vsh set",
                 repr(r))
    r = subprocess.run([VSH, "-c", b.vsh_uri, "secret-set-value", U_VOL, "--file",
                        os.path.join(b.tmp, "pass.txt"), "--plain"],
                       capture_output=True, env=b.env, timeout=60)
    files = [os.path.join(dp, f) for dp, _, fs in os.walk(b.root) for f in fs
             if f == U_VOL + ".base64"]
    t.ok(r.returncode == 0 and len(files) == 1 and
         open(files[0]).read().strip() == "cGxhaW4gcGFzcwp3b3Jk",
         "vsh's --file --plain value is stored byte for byte (newline kept)", repr((r, files)))
    # the lookup by usage and the usage getters, through the library itself (not in a sanitizer
    # build, whose library needs a sanitized process: LIB is "none" there)
    if LIB == "none":
        raise StopIteration
    lib = ctypes.CDLL(os.path.abspath(LIB))
    lib.vir_connect_open.restype = ctypes.c_void_p
    lib.vir_connect_open.argtypes = [ctypes.c_char_p, ctypes.c_uint, ctypes.c_void_p]
    lib.vir_secret_lookup_by_usage.restype = ctypes.c_void_p
    lib.vir_secret_lookup_by_usage.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p,
                                               ctypes.c_void_p]
    lib.vir_secret_get_usage_id.restype = ctypes.c_char_p
    lib.vir_secret_get_usage_id.argtypes = [ctypes.c_void_p]
    lib.vir_secret_get_usage_type.argtypes = [ctypes.c_void_p]
    lib.vir_secret_get_uuid_string.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.vir_secret_free.argtypes = [ctypes.c_void_p]
    lib.vir_connect_close.argtypes = [ctypes.c_void_p]
    err = ctypes.create_string_buffer(4096)  # a vir_error: int code, then the message
    conn = lib.vir_connect_open(b.vsh_uri.encode(), 0, err)
    sec = lib.vir_secret_lookup_by_usage(conn, 1, b"/var/lib/vireo/images/enc.img", err)
    uuid = ctypes.create_string_buffer(37)
    if sec:
        lib.vir_secret_get_uuid_string(sec, uuid)
    t.ok(sec and uuid.value.decode() == U_VOL and lib.vir_secret_get_usage_type(sec) == 1 and
         lib.vir_secret_get_usage_id(sec) == b"/var/lib/vireo/images/enc.img",
         "vir_secret_lookup_by_usage finds the volume secret, with its uuid and usage",
         err.raw[4:200])
    if sec:
        lib.vir_secret_free(sec)
    none = lib.vir_secret_lookup_by_usage(conn, 2, b"no such name", err)
    t.ok(not none and err.raw[4:].split(b"\0")[0] ==
         b"Secret not found: no secret with matching usage 'no such name'",
         "vir_secret_lookup_by_usage of an unknown usage: libvirt's error", err.raw[4:200])
    lib.vir_connect_close(conn)
except StopIteration:
    t.diag("libvireo's own calls are checked in the build without sanitizers")
except Exception as e:  # a crash is a failure, with its reason
    t.ok(False, "the test ran to its end", repr(e))
finally:
    a.cleanup()
    b.cleanup()
t.done()
