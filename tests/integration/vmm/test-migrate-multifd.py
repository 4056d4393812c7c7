#!/usr/bin/env python3
"""Live migration with multifd (the multifd capability, multifd-channels).

Usage: test-migrate-multifd.py TEST_GUEST_ELF VMM

The guest runs test-migrate.py's continuity workload (its pattern, a dirtied area it keeps
rewriting, a timer); both VMMs set the multifd capability and multifd-channels 4, the
destination with -incoming defer before migrate-incoming, as QEMU requires. Cases:
 - unix: and tcp: (in a network namespace, 198.18.0.1): the migration completes, the guest
   passes all its checks on the destination with its ticks consecutive, the source's
   query-migrate counts the channels' bytes (multifd-bytes, most of the pattern, within
   transferred), and the destination says it took the stream over 5 connections;
 - over TLS (certtool's certificates): every channel runs its own handshake, and the
   migration completes with the guest intact;
 - refusals, each one line: multifd-channels 0 and 256 (QEMU's words), migrate and
   migrate-incoming to fd:/exec: with multifd (QEMU's words), multifd on the source only,
   on the destination only, and 4 channels against 2: the destination fails its load with
   one line and exits 1, the source's migration fails and its guest runs on;
 - migrate_cancel mid-way and the destination killed mid-way: the source runs on and its
   guest then passes all its checks; the destination never ran the guest;
 - a source paused before migrate: it goes over the channels all the same, the destination
   stays paused until cont, then the guest passes its checks;
 - a stray connection (a hello with another migration's id) between the main connection and
   the channels: refused with one line, the migration completes over the real channels;
 - channels that never arrive (a relay closes them): the source fails and runs on, the
   destination sees its main connection close and fails with one line.
"""
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "daemon"))
from remotelib import Pki  # noqa: E402
from vmmlib import Guest, Qmp  # noqa: E402

_spec = importlib.util.spec_from_file_location("migrate", os.path.join(HERE, "test-migrate.py"))
mig = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mig)
tap, check = mig.tap, mig.tap.check
CHANNELS = 4
HOST = "dst.vireo.test"


def multifd(q, on=True, channels=CHANNELS):
    r = q.cmd("migrate-set-capabilities", {"capabilities": [{"capability": "multifd",
                                                             "state": on}]})
    r2 = q.cmd("migrate-set-parameters", {"multifd-channels": channels})
    return "return" in r and "return" in r2


def start(c, sock, extra=()):
    return Guest(c.cmd(sock, list(extra)), stdin=subprocess.PIPE)


def source(c, extra=(), on=True, channels=CHANNELS):
    sock = os.path.join(c.tmp, c.name + "-src.sock")
    g = start(c, sock, extra)
    if g.wait_line(f"tick={mig.START_AT} ", timeout=180) is None:
        g.kill()
        return g, None
    q = Qmp(sock)
    q.cmd("migrate-set-capabilities", {"capabilities": [{"capability": "events", "state": True}]})
    if on:
        check(multifd(q, True, channels), f"{c.name}: multifd and multifd-channels "
              f"{channels} set on the source")
    return g, q


def dest(c, uri, tag="dst", extra=(), on=True, channels=CHANNELS, params=None):
    sock = os.path.join(c.tmp, f"{c.name}-{tag}.sock")
    g = start(c, sock, list(extra) + ["-incoming", "defer"])
    q = Qmp(sock, timeout=30)
    if on:
        check(multifd(q, True, channels), f"{c.name}: multifd and multifd-channels "
              f"{channels} set on the destination")
    if params:
        q.cmd("migrate-set-parameters", params)
    r = q.cmd("migrate-incoming", {"uri": uri})
    check("return" in r, f"{c.name}: migrate-incoming {uri.split(':')[0]}:", r)
    return g, q


def failed_dest(name, g2, words):
    try:
        st2, _, err2 = g2.finish(timeout=120)
    except subprocess.TimeoutExpired:
        g2.kill()
        st2, err2 = None, "timeout"
    lines = [x for x in err2.splitlines() if "load of migration failed" in x]
    check(st2 == 1 and len(lines) == 1 and words in lines[0] and "tick=" not in g2.text(),
          f"{name}: the destination fails its load with one line ({words}), exit 1",
          f"exit {st2}\n{err2}")


def runs_on(name, q):
    st = q.cmd("query-status")["return"]["status"]
    check(st == "running", f"{name}: the source runs on", st)


def completes(c, g, q, g2, q2, uri):
    name = c.name
    caps = {x["capability"]: x["state"] for x in q.cmd("query-migrate-capabilities")["return"]}
    p = q.cmd("query-migrate-parameters")["return"]
    check(caps.get("multifd") is True and p.get("multifd-channels") == CHANNELS,
          f"{name}: query-migrate-capabilities and -parameters report them", (caps, p))
    r = q.cmd("migrate", {"uri": uri})
    check("return" in r, f"{name}: migrate accepted", r)
    r = mig.wait_migration(q)
    done = check(r.get("status") == "completed", f"{name}: completes", r)
    ram = r.get("ram", {})
    check(ram.get("multifd-bytes", 0) > mig.MIB << 20 and
          ram.get("transferred", 0) > ram.get("multifd-bytes", 0) and
          ram.get("normal", 0) * 4096 > mig.MIB << 20 and ram.get("remaining") == 0 and
          ram.get("dirty-sync-count", 0) >= 2,
          f"{name}: query-migrate: the guest's pages went over the channels (multifd-bytes "
          "within transferred)", r)
    ev = [e["data"]["status"] for e in q.events if e.get("event") == "MIGRATION"]
    check(ev == ["setup", "active", "device", "completed"],
          f"{name}: MIGRATION setup, active, device, completed", ev)
    mig.quit_source(g, q)
    before = g.text()
    if not done:
        g2.kill()
        print("# destination: " + g2.p.stderr.read()[-2000:].replace("\n", "\n# "))
        return
    q2.close()
    finish, kept = g2.finish, {}

    def finish_keeping_stderr(timeout=90):
        st, out, err = finish(timeout)
        kept["err"] = err
        return st, out, err

    g2.finish = finish_keeping_stderr
    mig.stop_guest(f"{name}: destination", g2, before)
    err2 = kept.get("err", "")
    lines = [x for x in err2.splitlines() if "incoming migration completed" in x]
    check(len(lines) == 1 and f"over {CHANNELS + 1} connections" in lines[0],
          f"{name}: the destination took the stream over {CHANNELS + 1} connections", err2)


class StrayInjector:
    """A relay between the source and the destination's unix socket that, once it has passed
    the main connection on, opens one of its own to the destination first: a multifd hello
    with the right magic and index 0 but another migration's id. The destination accepts in
    order, so it meets the stray before the source's channels."""

    def __init__(self, listen_path, target_path):
        self.target = target_path
        self.ls = socket.socket(socket.AF_UNIX)
        self.ls.bind(listen_path)
        self.ls.listen(16)
        self.sent_stray = False
        threading.Thread(target=self._run, daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                b = src.recv(1 << 16)
                if not b:
                    break
                dst.sendall(b)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _run(self):
        n = 0
        while True:
            try:
                a, _ = self.ls.accept()
            except OSError:
                return
            b = socket.socket(socket.AF_UNIX)
            b.connect(self.target)
            threading.Thread(target=self._pump, args=(a, b), daemon=True).start()
            threading.Thread(target=self._pump, args=(b, a), daemon=True).start()
            n += 1
            if n == 1:
                stray = socket.socket(socket.AF_UNIX)
                stray.connect(self.target)
                stray.sendall(b"VIREOMFD" + (1).to_bytes(4, "little") +
                              (0).to_bytes(4, "little") + b"\x55" * 16)
                self.stray = stray  # kept open: the destination must close it
                self.sent_stray = True


class ChannelCutter(StrayInjector):
    """A relay that passes the main connection on and closes every later one at once: the
    source's channels never reach the destination."""

    def _run(self):
        first = True
        while True:
            try:
                a, _ = self.ls.accept()
            except OSError:
                return
            if not first:
                a.close()
                continue
            first = False
            b = socket.socket(socket.AF_UNIX)
            b.connect(self.target)
            threading.Thread(target=self._pump, args=(a, b), daemon=True).start()
            threading.Thread(target=self._pump, args=(b, a), daemon=True).start()


def channels_cut(vmm, elf, tmp):
    """The channels never arrive (a relay closes them): the source's migration fails and its
    guest runs on; the destination, waiting for them, sees the main connection close and
    fails its load with one line instead of waiting for ever."""
    c = mig.Case(vmm, elf, tmp, "multifd channels cut")
    dst_uri = "unix:" + os.path.join(tmp, c.name + "-mig.sock")
    src_uri = "unix:" + os.path.join(tmp, c.name + "-relay.sock")
    g, q = source(c)
    if not check(q is not None, f"{c.name}: the source's guest reaches tick {mig.START_AT}",
                 g.text()):
        return
    g2, q2 = dest(c, dst_uri)
    ChannelCutter(src_uri[5:], dst_uri[5:])
    r = q.cmd("migrate", {"uri": src_uri})
    check("return" in r, f"{c.name}: migrate accepted", r)
    r = mig.wait_migration(q)
    check(r.get("status") == "failed" and r.get("error-desc"),
          f"{c.name}: the source's migration fails with the reason", r)
    q2.close()
    failed_dest(c.name, g2, "the source closed the migration connection before its 4 multifd "
                "channels came")
    runs_on(c.name, q)
    q.close()
    mig.stop_guest(f"{c.name}: source", g)


def stray(vmm, elf, tmp):
    """A connection that is not one of this migration's channels (another id) arrives between
    the main connection and the channels: the destination refuses it with a warning and the
    migration completes over the real channels."""
    c = mig.Case(vmm, elf, tmp, "multifd stray connection")
    dst_uri = "unix:" + os.path.join(tmp, c.name + "-mig.sock")
    src_uri = "unix:" + os.path.join(tmp, c.name + "-relay.sock")
    g, q = source(c)
    if not check(q is not None, f"{c.name}: the source's guest reaches tick {mig.START_AT}",
                 g.text()):
        return
    g2, q2 = dest(c, dst_uri)
    relay = StrayInjector(src_uri[5:], dst_uri[5:])
    r = q.cmd("migrate", {"uri": src_uri})
    check("return" in r, f"{c.name}: migrate accepted", r)
    r = mig.wait_migration(q)
    done = check(r.get("status") == "completed" and relay.sent_stray,
                 f"{c.name}: completes, a stray connection made on the way", r)
    mig.quit_source(g, q)
    before = g.text()
    if not done:
        g2.kill()
        return
    q2.close()
    finish, kept = g2.finish, {}

    def finish_keeping_stderr(timeout=90):
        st, out, err = finish(timeout)
        kept["err"] = err
        return st, out, err

    g2.finish = finish_keeping_stderr
    mig.stop_guest(f"{c.name}: destination", g2, before)
    err2 = kept.get("err", "")
    lines = [x for x in err2.splitlines() if "refused a connection" in x]
    check(len(lines) == 1 and "a channel of another migration (its id differs)" in lines[0],
          f"{c.name}: the destination refused the stray with one line", err2)


def live(vmm, elf, tmp, name, netns=None):
    c = mig.Case(vmm, elf, tmp, name, netns=netns)
    if netns:
        uri = "tcp:198.18.0.1:%d" % (4900 + len(tap.results) % 50)
    else:
        uri = "unix:" + os.path.join(tmp, c.name + "-mig.sock")
    g, q = source(c)
    if not check(q is not None, f"{name}: the source's guest reaches tick {mig.START_AT}",
                 g.text()):
        return
    g2, q2 = dest(c, uri)
    completes(c, g, q, g2, q2, uri)


def tls(vmm, elf, tmp):
    pki = Pki(os.path.join(tmp, "pki"))
    server = pki.server("server", HOST, ip="198.18.0.1")
    client = pki.client("client", "src.vireo.test")

    def creds(name, cert, end):
        d = os.path.join(tmp, name)
        os.makedirs(d, exist_ok=True)
        for src, dst in ((pki.ca, "ca-cert.pem"), (cert, f"{end}-cert.pem"),
                         (pki.key, f"{end}-key.pem")):
            open(os.path.join(d, dst), "w").write(open(src).read())
        return f"tls-creds-x509,id=tls0,dir={d},endpoint={end}"

    c = mig.Case(vmm, elf, tmp, "multifd over tls")
    uri = "unix:" + os.path.join(tmp, c.name + "-mig.sock")
    g, q = source(c, ["-object", creds("src", client, "client")])
    if not check(q is not None, f"{c.name}: the source's guest reaches tick {mig.START_AT}",
                 g.text()):
        return
    g2, q2 = dest(c, uri, extra=["-object", creds("dst", server, "server")],
                  params={"tls-creds": "tls0"})
    r = q.cmd("migrate-set-parameters", {"tls-creds": "tls0", "tls-hostname": HOST})
    check("return" in r, f"{c.name}: tls-creds set on the source", r)
    completes(c, g, q, g2, q2, uri)


def refusals(vmm, elf, tmp):
    c = mig.Case(vmm, elf, tmp, "multifd refusals")
    g, q = source(c)
    if not check(q is not None, f"{c.name}: the source's guest reaches tick {mig.START_AT}",
                 g.text()):
        return
    for n in (0, 256):
        r = q.cmd("migrate-set-parameters", {"multifd-channels": n})
        check(r.get("error", {}).get("desc") == "Parameter 'multifd-channels' expects is "
              "invalid, it should be in the range of 1 to 255",
              f"{c.name}: multifd-channels {n} refused in QEMU's words", r)
    p = q.cmd("query-migrate-parameters")["return"]
    check(p.get("multifd-channels") == CHANNELS, f"{c.name}: multifd-channels stays "
          f"{CHANNELS}", p)
    for uri in ("exec:cat > /dev/null", "fd:nosuch"):
        r = q.cmd("migrate", {"uri": uri})
        check(r.get("error", {}).get("desc") == "Migration requires multi-channel URIs (e.g. "
              "tcp)", f"{c.name}: migrate {uri.split(':')[0]}: with multifd refused in "
              "QEMU's words", r)
        runs_on(f"{c.name}: {uri.split(':')[0]}:", q)
    # The destination's migrate-incoming to a single-channel URI.
    sock = os.path.join(tmp, c.name + "-fd.sock")
    g3 = start(c, sock, ["-incoming", "defer"])
    q3 = Qmp(sock, timeout=30)
    multifd(q3)
    r = q3.cmd("migrate-incoming", {"uri": "exec:cat /dev/null"})
    check(r.get("error", {}).get("desc") == "Migration requires multi-channel URIs (e.g. tcp)",
          f"{c.name}: migrate-incoming exec: with multifd refused in QEMU's words", r)
    q3.close()
    g3.kill()

    def mismatch(tag, src_on, dst_on, dst_channels, words):
        name = f"{c.name}: {tag}"
        multifd(q, src_on)
        uri = "unix:" + os.path.join(tmp, f"{c.name}-{tag.replace(' ', '-')}.sock")
        g2, q2 = dest(c, uri, tag=tag.replace(" ", "-"), on=dst_on, channels=dst_channels)
        r = q.cmd("migrate", {"uri": uri})
        check("return" in r, f"{name}: migrate accepted", r)
        r = mig.wait_migration(q)
        desc = r.get("error-desc", "")
        check(r.get("status") == "failed" and desc and "\n" not in desc,
              f"{name}: the source's migration fails with one line", r)
        q2.close()
        failed_dest(name, g2, words)
        runs_on(name, q)

    mismatch("source only", True, False, CHANNELS,
             "the source migrates with multifd, but the multifd capability is not set on "
             "this destination")
    mismatch("destination only", False, True, CHANNELS,
             "the multifd capability is set on this destination, but the source migrates "
             "without it")
    mismatch("4 against 2", True, True, 2,
             "the source opens 4 channels, this destination's multifd-channels is 2")
    q.close()
    mig.stop_guest(f"{c.name}: source", g)


def fault(vmm, elf, tmp, name, how):
    c = mig.Case(vmm, elf, tmp, name)
    uri = "unix:" + os.path.join(tmp, c.name + "-mig.sock")
    g, q = source(c)
    if not check(q is not None, f"{name}: the source's guest reaches tick {mig.START_AT}",
                 g.text()):
        return
    g2, q2 = dest(c, uri)
    # Slow enough that the first pass is still running when the fault comes.
    q.cmd("migrate-set-parameters", {"max-bandwidth": 2 << 20})
    r = q.cmd("migrate", {"uri": uri})
    check("return" in r, f"{name}: migrate accepted", r)
    r = mig.wait_migration(q, pred=lambda x: x.get("status") == "active" and
                           x.get("ram", {}).get("multifd-bytes", 0) > 0)
    check(r.get("status") == "active", f"{name}: the migration is active, over the channels", r)
    if how == "cancel":
        q.cmd("migrate_cancel")
        r = mig.wait_migration(q)
        check(r.get("status") == "cancelled", f"{name}: cancelled", r)
    else:
        g2.p.send_signal(signal.SIGKILL)
        r = mig.wait_migration(q)
        check(r.get("status") == "failed" and r.get("error-desc"),
              f"{name}: the source's migration fails with the reason", r)
    try:
        st2, _, err2 = g2.finish(timeout=60)
    except subprocess.TimeoutExpired:
        g2.kill()
        st2, err2 = None, "timeout"
    check(st2 != 0 and "tick=" not in g2.text(),
          f"{name}: the destination never ran the guest (exit {st2})", err2[-1000:])
    q2.close()
    runs_on(name, q)
    q.close()
    mig.stop_guest(f"{name}: source", g)


def paused(vmm, elf, tmp):
    """A source paused before migrate: multifd migrates it all the same (the passes find
    nothing more to send), the destination stays paused and runs on at cont."""
    c = mig.Case(vmm, elf, tmp, "multifd paused source")
    uri = "unix:" + os.path.join(tmp, c.name + "-mig.sock")
    g, q = source(c)
    if not check(q is not None, f"{c.name}: the source's guest reaches tick {mig.START_AT}",
                 g.text()):
        return
    q.cmd("stop")
    g2, q2 = dest(c, uri)
    r = q.cmd("migrate", {"uri": uri})
    check("return" in r, f"{c.name}: migrate accepted", r)
    r = mig.wait_migration(q)
    done = check(r.get("status") == "completed" and
                 r.get("ram", {}).get("multifd-bytes", 0) > mig.MIB << 20,
                 f"{c.name}: completes, the pages over the channels", r)
    mig.quit_source(g, q)
    before = g.text()
    if not done:
        g2.kill()
        return
    mig.wait_migration(q2)
    st = q2.cmd("query-status")["return"]["status"]
    check(st == "paused", f"{c.name}: the destination stays paused", st)
    r = q2.cmd("cont")
    check("return" in r, f"{c.name}: cont on the destination", r)
    q2.close()
    mig.stop_guest(f"{c.name}: destination", g2, before)


def main():
    elf, vmm = sys.argv[1], sys.argv[2]
    os.environ["VIREO_LOG"] = "info"  # the destination's "over N connections"
    tmp = tempfile.mkdtemp(prefix="vireo-migmfd-", dir=os.environ.get("MESON_BUILD_ROOT"))
    ns = f"vireo-migmfd-{os.getpid()}"
    try:
        live(vmm, elf, tmp, "multifd unix")
        made = subprocess.run(["ip", "netns", "add", ns]).returncode == 0
        if check(made, "a network namespace for tcp: (needs root)"):
            subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
            subprocess.run(["ip", "-n", ns, "addr", "add", "198.18.0.1/32", "dev", "lo"],
                           check=True)
            live(vmm, elf, tmp, "multifd tcp in a netns", netns=ns)
        paused(vmm, elf, tmp)
        stray(vmm, elf, tmp)
        channels_cut(vmm, elf, tmp)
        refusals(vmm, elf, tmp)
        fault(vmm, elf, tmp, "multifd cancel", "cancel")
        fault(vmm, elf, tmp, "multifd destination killed", "kill")
        tls(vmm, elf, tmp)
    finally:
        tap.report()
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
