#!/usr/bin/python3
"""test-daemon-blockjob.py - blockcopy and blockjob through vireod (libvirt's block copy on
top of the VMM's drive-mirror), with the stock virsh and libvirt-python.

  test-daemon-blockjob.py VIREOD VIREO_VMM TESTGUEST_ELF VSH

A transient test guest writing its disk all the time (tests=state) has its disk copied:
  - a throttled copy (64 KiB/s) stays running: blockjob --info shows it with its bandwidth,
    the live XML has the <mirror> element, a second copy of the disk and a pivot before the
    mirroring phase are refused with libvirt's words, --abort ends it (CANCELED event);
  - virsh blockcopy --wait --verbose reaches the mirroring phase (READY events for
    BLOCK_JOB and BLOCK_JOB_2), the guest is paused, blockjob --pivot switches the disk:
    qemu-img compare finds the copy identical to the source, the live XML names the copy,
    and once resumed the guest's writes land in the copy and no longer in the old file;
  - virsh blockcopy --wait --pivot into a qcow2 file made beforehand (--reuse-external):
    "Successfully pivoted", the XML has the qcow2 copy;
  - refusals: an unknown disk, no job to abort, a persistent domain without
    --transient-job (and with it the copy runs).

Prints TAP. Waits poll with generous limits; nothing asserts a timing.
"""
import os
import re
import shutil
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import Daemon, Tap, domain_xml, skip_all, wait_for  # noqa: E402

VIREOD, VMM, GUEST, VSH = sys.argv[1:5]
GUEST = os.path.abspath(GUEST)
SIZE = 16 << 20
t = Tap()
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("no /dev/kvm")
if not shutil.which("virsh") or not shutil.which("qemu-img"):
    skip_all("no virsh or qemu-img")
try:
    import libvirt
except ImportError:
    skip_all("no python3-libvirt (scripts/install-deps installs it)")


class Events:
    """BLOCK_JOB and BLOCK_JOB_2 as libvirt-python gets them."""

    def __init__(self, conn):
        self.lock = threading.Lock()
        self.seen = []
        conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_BLOCK_JOB, self.cb, 1)
        conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_BLOCK_JOB_2, self.cb, 2)

    def cb(self, conn, dom, path, typ, status, which):
        with self.lock:
            self.seen.append((which, path, typ, status))

    def has(self, which, path, status):
        with self.lock:
            return (which, path, libvirt.VIR_DOMAIN_BLOCK_JOB_TYPE_COPY, status) in self.seen

    def clear(self):
        with self.lock:
            self.seen.clear()


def loop_forever():
    while True:
        libvirt.virEventRunDefaultImpl()


def head(path):
    with open(path, "rb") as f:
        return f.read(SIZE)


def loud(d, *args, timeout=60):
    """virsh without -q: what it prints for the user (progress, "Successfully ...")."""
    return subprocess.run(["virsh", "-c", d.uri] + list(args), env=d.env, capture_output=True,
                          text=True, timeout=timeout)


def vloud(d, *args, timeout=60):
    """vsh without -q."""
    return subprocess.run([d.vsh_path, "-c", d.vsh_uri] + list(args), env=d.env,
                          capture_output=True, text=True, timeout=timeout)


def same(a, b, what):
    """The stock virsh and vsh print the same (exit status, stdout, stderr)."""
    t.ok((a.returncode, a.stdout, a.stderr) == (b.returncode, b.stdout, b.stderr),
         f"virsh and vsh agree: {what}",
         f"virsh: {a.returncode} {a.stdout!r} {a.stderr!r}\n"
         f"vsh:   {b.returncode} {b.stdout!r} {b.stderr!r}")


def source_of(xml):
    m = re.search(r"<disk type='file' device='disk'>.*?<source file='([^']*)'", xml, re.S)
    return m.group(1) if m else None


d = Daemon(VIREOD, VMM, VSH)
try:
    d.start()
    libvirt.virEventRegisterDefaultImpl()
    threading.Thread(target=loop_forever, daemon=True).start()
    conn = libvirt.open(d.uri)
    ev = Events(conn)
    src = os.path.join(d.tmp, "src.raw")
    with open(src, "wb") as f:
        f.write(os.urandom(SIZE))
    disk = f"""    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{src}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
"""
    xml = domain_xml("bj", GUEST, "tests=state state_mib=8 seed=3 state_ticks=100000", disk)
    r = d.virsh("create", d.write("bj.xml", xml))
    t.ok(r.returncode == 0 and wait_for(lambda: "tick=3 " in d.console_log("bj"), 120),
         "the transient guest runs", r.stderr + d.console_log("bj")[-300:])
    dom = conn.lookupByName("bj")

    # ---- refusals with no job ----
    r = d.virsh("blockcopy", "bj", "vdz", "--dest", os.path.join(d.tmp, "x.raw"))
    t.ok(r.returncode == 1 and "invalid argument: disk 'vdz' not found in domain" in r.stderr,
         "blockcopy of an unknown disk: libvirt's words", r.stderr)
    r = d.virsh("blockjob", "bj", "vda", "--abort")
    t.ok(r.returncode == 1 and "disk vda does not have an active block job" in r.stderr,
         "blockjob --abort without a job: libvirt's words", r.stderr)
    r = loud(d, "blockjob", "bj", "vda", "--info")
    t.ok(r.returncode == 0 and r.stdout.strip() == "No current block job for vda",
         "blockjob --info without a job", r.stdout + r.stderr)

    # ---- a throttled copy: info, XML, refusals, abort ----
    slow = os.path.join(d.tmp, "slow.raw")
    dom.blockCopy("vda", f"<disk type='file'><source file='{slow}'/>"
                  "<driver type='raw'/></disk>",
                  {"bandwidth": 65536, "granularity": 65536, "buf-size": 65536}, 0)
    t.ok(os.path.exists(slow), "blockCopy (libvirt-python, 64 KiB/s) made the destination")
    r = d.virsh("blockjob", "bj", "vda", "--info")
    info_out = (r"\nBlock Copy: \[ *\d %\]",
                "    Bandwidth limit: 65536 bytes/s (64.000 KiB/s)\n")
    t.ok(r.returncode == 0 and re.fullmatch(info_out[0], r.stderr) and r.stdout == info_out[1],
         "blockjob --info: the copy runs with its bandwidth", repr((r.returncode, r.stdout,
                                                                   r.stderr)))
    r = d.vsh("blockjob", "bj", "vda")
    t.ok(r.returncode == 0 and re.fullmatch(info_out[0], r.stderr) and r.stdout == info_out[1],
         "vsh blockjob (--info by default): as virsh", repr((r.returncode, r.stdout, r.stderr)))
    info = dom.blockJobInfo("vda", 0)
    t.ok(info.get("type") == libvirt.VIR_DOMAIN_BLOCK_JOB_TYPE_COPY and
         info.get("end") >= SIZE and info.get("cur") < SIZE and info.get("bandwidth") == 1,
         "blockJobInfo: a copy, not complete, 1 MiB/s rounded up", info)
    live = d.virsh("dumpxml", "bj").stdout
    t.ok(f"<mirror type='file' file='{slow}' format='raw' job='copy'>" in live and
         f"<source file='{slow}'/>" in live,
         "the live XML shows the copy in <mirror>", live)
    r = d.virsh("blockcopy", "bj", "vda", "--dest", os.path.join(d.tmp, "other.raw"))
    t.ok(r.returncode == 1 and "block copy still active: disk 'vda' already in active block job"
         in r.stderr, "a second copy of the disk: libvirt's words", r.stderr)
    same(r, d.vsh("blockcopy", "bj", "vda", "--dest", os.path.join(d.tmp, "other.raw")),
         "a second copy refused")
    r = d.virsh("blockjob", "bj", "vda", "--pivot")
    t.ok(r.returncode == 1 and "block copy still active: disk 'vda' not ready for pivot yet"
         in r.stderr, "a pivot before the mirroring phase: libvirt's words", r.stderr)
    same(r, d.vsh("blockjob", "bj", "vda", "--pivot"), "an early pivot refused")
    r = d.vsh("blockjob", "bj", "vda", "--bandwidth", "3")
    t.ok(r.returncode == 0 and dom.blockJobInfo("vda", 0).get("bandwidth") == 3,
         "vsh blockjob --bandwidth 3", r.stderr)
    r = d.virsh("blockjob", "bj", "vda", "--bandwidth", "2")
    t.ok(r.returncode == 0 and dom.blockJobInfo("vda", 0).get("bandwidth") == 2,
         "blockjob --bandwidth 2: the new speed", r.stderr)
    r = d.virsh("blockjob", "bj", "vda", "--abort")
    t.ok(r.returncode == 0 and dom.blockJobInfo("vda", 0) == {},
         "blockjob --abort ends the job", r.stderr)
    t.ok(wait_for(lambda: ev.has(2, "vda", libvirt.VIR_DOMAIN_BLOCK_JOB_CANCELED) and
                  ev.has(1, src, libvirt.VIR_DOMAIN_BLOCK_JOB_CANCELED), 30),
         "CANCELED events (BLOCK_JOB with the source, BLOCK_JOB_2 with the target)", ev.seen)
    live = d.virsh("dumpxml", "bj").stdout
    t.ok("<mirror" not in live and source_of(live) == src,
         "after the abort: no <mirror>, the disk unchanged", live)
    ev.clear()

    # ---- copy, pause, pivot: identical, and the guest writes into the copy ----
    c1 = os.path.join(d.tmp, "c1.raw")
    r = loud(d, "blockcopy", "bj", "vda", "--dest", c1, "--format", "raw", "--wait",
             "--verbose", timeout=300)
    t.ok(r.returncode == 0 and r.stderr.endswith("\nBlock Copy: [100 %]") and
         r.stdout == "\nNow in mirroring phase\n",
         "virsh blockcopy --wait --verbose: the mirroring phase",
         repr((r.returncode, r.stdout, r.stderr)))
    t.ok(wait_for(lambda: ev.has(2, "vda", libvirt.VIR_DOMAIN_BLOCK_JOB_READY) and
                  ev.has(1, src, libvirt.VIR_DOMAIN_BLOCK_JOB_READY), 30),
         "READY events", ev.seen)
    live = d.virsh("dumpxml", "bj").stdout
    t.ok(f"<mirror type='file' file='{c1}' format='raw' job='copy' ready='yes'>" in live,
         "the live XML: <mirror ... ready='yes'>", live)
    info = dom.blockJobInfo("vda", 0)
    t.ok(info.get("cur") == info.get("end") and info.get("end") >= SIZE, "ready: cur == end",
         info)
    r = d.virsh("suspend", "bj")
    t.ok(r.returncode == 0, "the guest paused", r.stderr)
    r = d.virsh("blockjob", "bj", "vda", "--pivot")
    t.ok(r.returncode == 0, "blockjob --pivot", r.stderr)
    t.ok(wait_for(lambda: ev.has(2, "vda", libvirt.VIR_DOMAIN_BLOCK_JOB_COMPLETED), 30),
         "COMPLETED event", ev.seen)
    cmp = subprocess.run(["qemu-img", "compare", "-f", "raw", "-F", "raw", src, c1],
                         capture_output=True, text=True)
    t.ok(cmp.returncode == 0 and "Images are identical" in cmp.stdout,
         "qemu-img compare: the copy is identical to the source", cmp.stdout + cmp.stderr)
    live = d.virsh("dumpxml", "bj").stdout
    t.ok(source_of(live) == c1 and "<mirror" not in live, "the live XML names the copy", live)
    old, at_pivot = head(src), head(c1)
    r = d.virsh("resume", "bj")
    t.ok(r.returncode == 0 and wait_for(lambda: head(c1) != at_pivot, 120),
         "resumed: the guest's writes land in the copy", r.stderr)
    t.ok(head(src) == old, "... and the old file no longer changes")
    ev.clear()

    # ---- one virsh call: --wait --pivot into a qcow2 made beforehand ----
    c2 = os.path.join(d.tmp, "c2.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", c2, str(SIZE)], check=True)
    r = loud(d, "blockcopy", "bj", "vda", "--dest", c2, "--format", "qcow2",
             "--reuse-external", "--wait", "--pivot", timeout=300)
    t.ok(r.returncode == 0 and r.stdout == "\nSuccessfully pivoted\n",
         "virsh blockcopy --reuse-external --wait --pivot (qcow2)", r.stdout + r.stderr)
    live = d.virsh("dumpxml", "bj").stdout
    t.ok(source_of(live) == c2 and "<driver name='qemu' type='qcow2'/>" in live,
         "the live XML names the qcow2 copy", live)
    # As libvirt's QEMU driver: the events of a pivot come after the switch.
    t.ok(wait_for(lambda: ev.has(1, c2, libvirt.VIR_DOMAIN_BLOCK_JOB_COMPLETED) and
                  ev.has(1, c1, libvirt.VIR_DOMAIN_BLOCK_JOB_READY), 30),
         "BLOCK_JOB: READY names the old source, COMPLETED the new one", ev.seen)
    chk = subprocess.run(["qemu-img", "check", "-U", "-f", "qcow2", c2], capture_output=True,
                         text=True)
    t.ok(chk.returncode == 0, "qemu-img check: the qcow2 copy is sound", chk.stdout + chk.stderr)

    # ---- vsh blockcopy --wait --verbose --pivot ----
    c4 = os.path.join(d.tmp, "c4.raw")
    r = vloud(d, "blockcopy", "bj", "vda", "--dest", c4, "--format", "raw", "--wait",
              "--verbose", "--pivot", timeout=300)
    t.ok(r.returncode == 0 and r.stderr.endswith("\nBlock Copy: [100 %]") and
         r.stdout == "\nSuccessfully pivoted\n",
         "vsh blockcopy --wait --verbose --pivot: virsh's outputs",
         repr((r.returncode, r.stdout, r.stderr)))
    live = d.virsh("dumpxml", "bj").stdout
    t.ok(source_of(live) == c4 and "<driver name='qemu' type='raw'/>" in live,
         "the live XML names vsh's copy", live)

    # ---- a persistent domain needs --transient-job ----
    r = d.virsh("define", d.write("bj-live.xml", d.virsh("dumpxml", "bj").stdout))
    t.ok(r.returncode == 0 and "yes" in d.virsh("dominfo", "bj").stdout.split("Persistent:")[1],
         "the running domain made persistent", r.stderr)
    c3 = os.path.join(d.tmp, "c3.raw")
    r = d.virsh("blockcopy", "bj", "vda", "--dest", c3)
    t.ok(r.returncode == 1 and
         "Requested operation is not valid: domain is not transient" in r.stderr,
         "blockcopy of a persistent domain: libvirt's refusal", r.stderr)
    r = loud(d, "blockcopy", "bj", "vda", "--dest", c3, "--transient-job", "--wait",
             "--finish", timeout=300)
    t.ok(r.returncode == 0 and r.stdout == "\nSuccessfully copied\n",
         "... with --transient-job it copies (--finish: no pivot)", r.stdout + r.stderr)
    live = d.virsh("dumpxml", "bj").stdout
    t.ok(source_of(live) == c4, "--finish leaves the disk on its source", live)
    conn.close()
    r = d.virsh("destroy", "bj")
    t.ok(r.returncode == 0, "the guest destroyed", r.stderr)
    rc = d.stop()
    t.ok(rc == 0, "vireod ends cleanly (under ASan: no leak, no error)", rc)
finally:
    d.virsh("destroy", "bj")
    if t.failed:
        d.dump_log()
    d.cleanup(["bj"])
t.done()
