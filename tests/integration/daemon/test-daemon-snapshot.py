#!/usr/bin/env python3
"""test-daemon-snapshot.py - domain snapshots through vireod, with the stock
virsh and vsh, on the test guest's continuity workload.

  test-daemon-snapshot.py VIREOD VIREO_VMM TESTGUEST_ELF VSH VIREO_IMG

One guest (tests=state: a seeded memory pattern, a tick counter in RAM and
on COM1, a virtio-blk write stream on a qcow2 disk, all checked every tick
and in full at the end) goes through: an internal snapshot taken shut off
(the block layer), internal snapshots taken running (the VMM's
snapshot-save: the VM state inside the qcow2), a revert while running (the
ticks go back to the snapshot's and run on consecutively), a daemon
restart (the tree and the current snapshot come back from the store), a
revert of the shut off domain to a running snapshot (--paused), a revert
to the shut off snapshot, deletion with --children (gone from the qcow2
too), and an external disk-only snapshot while it runs (the definitions
name the overlay; the guest writes on into it); a --live snapshot with
memory (the memory written while the guest runs, the disk switched in the
final pause) that virsh restore brings back. The guest's own final
checks must pass.

Outputs of snapshot-list (table, --parent, --tree, --name, filters),
snapshot-info, snapshot-current, snapshot-parent and snapshot-dumpxml are
compared between virsh and vsh and with goldens (golden-snapshot/; times,
uuids and paths normalised); the XML validates against libvirt's
domainsnapshot schema. States, reasons and lifecycle events are libvirt's.

Faults: internal snapshot of a raw disk, --quiesce, an existing overlay
without --reuse-external, undefine of a domain with snapshots, an overlay
on a full tmpfs (the domain keeps its image), the VMM killed during a
snapshot (no metadata, the domain shut off): one line each, with both
clients.

Prints TAP. Waits poll with generous limits; nothing asserts a timing.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import Daemon, Tap, domain_xml, skip_all, state_ticks, wait_for  # noqa: E402

VIREOD, VMM, GUEST, VSH, IMG = sys.argv[1:6]
GUEST = os.path.abspath(GUEST)
GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden-snapshot")
TICKS = 400
t = Tap()
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("no /dev/kvm")
if not shutil.which("virsh"):
    skip_all("no virsh")


def ticks(text):
    return state_ticks(text)


def disk_xml(path, fmt="qcow2"):
    return f"""    <disk type='file' device='disk'>
      <driver name='qemu' type='{fmt}'/>
      <source file='{path}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
"""


def same(a, b, what):
    """The stock virsh and vsh print the same (exit status, stdout, stderr)."""
    t.ok((a.returncode, a.stdout, a.stderr) == (b.returncode, b.stdout, b.stderr),
         f"virsh and vsh agree: {what}",
         f"virsh: {a.returncode} {a.stdout!r} {a.stderr!r}\n"
         f"vsh:   {b.returncode} {b.stdout!r} {b.stderr!r}")


d = Daemon(VIREOD, VMM, VSH)
names = ["st", "rw", "ex"]
events = None


def normalise(text):
    text = text.replace(d.tmp, "TMP")
    text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}", "YYYY-MM-DD HH:MM:SS +ZZZZ", text)
    text = re.sub(r"<creationTime>\d+</creationTime>", "<creationTime>T</creationTime>", text)
    text = re.sub(r"<uuid>[0-9a-f-]+</uuid>", "<uuid>UUID</uuid>", text)
    text = re.sub(r"<kernel>[^<]+</kernel>", "<kernel>GUEST</kernel>", text)
    return text


def golden(name, text):
    path = os.path.join(GOLDEN, name + ".out")
    got = normalise(text)
    if os.environ.get("VIREO_REGEN_GOLDEN"):
        open(path, "w").write(got)
    want = open(path).read() if os.path.exists(path) else None
    t.ok(got == want, f"golden {name}", f"got:\n{got}\nwant:\n{want}")


def both(*args, gold=None):
    """Runs a read-only command with both clients: same output, and its golden."""
    a, b = d.virsh(*args), d.vsh(*args)
    same(a, b, " ".join(args))
    if gold:
        golden(gold, a.stdout + a.stderr)
    return a


def img_snapshots(path):
    r = subprocess.run([IMG, "snapshot", "-U", "-l", path], capture_output=True, text=True)
    rows = {}
    for line in r.stdout.splitlines()[2:]:
        f = line.split()
        if len(f) >= 4:
            rows[f[1]] = " ".join(f[2:4])
    return rows


try:
    d.start()
    disk = os.path.join(d.tmp, "st.qcow2")
    subprocess.run([IMG, "create", "-q", "-f", "qcow2", disk, "16M"], check=True)
    xml = domain_xml("st", GUEST, f"tests=state state_mib=8 seed=5 state_ticks={TICKS}",
                     disk_xml(disk), memory_mib=128)
    r = d.virsh("define", d.write("st.xml", xml))
    assert r.returncode == 0, r.stderr

    def log_ticks():
        return ticks(d.console_log("st"))

    def ticks_past(n, limit=120):
        start = (log_ticks() or [0])[-1]
        return wait_for(lambda: (log_ticks() or [0])[-1] >= start + n, limit)

    # ---- shut off: an internal snapshot through the block layer ----
    r = d.vsh("snapshot-create-as", "st", "off1", "--description", "before the first boot")
    t.ok(r.returncode == 0, "vsh snapshot-create-as of a shut off domain", r.stderr)
    t.ok(img_snapshots(disk).get("off1") == "0 B",
         "the qcow2 has snapshot off1 without VM state", img_snapshots(disk))

    events = d.virsh_popen("event", "--all", "--loop")
    r = d.virsh("start", "st")
    t.ok(r.returncode == 0 and wait_for(lambda: "tick=3 " in d.console_log("st"), 120),
         "the continuity guest runs", r.stderr + d.console_log("st")[-300:])

    # ---- running: internal snapshots with the VM state ----
    # The guest runs on while the command does, so its state is between the last tick logged
    # before and the last logged after (a loaded machine leaves several in between).
    pre_run1 = log_ticks()[-1]
    r = d.virsh("snapshot-create-as", "st", "run1", "--description", "running <one>")
    t.ok(r.returncode == 0, "virsh snapshot-create-as of the running domain", r.stderr)
    t.ok(d.state("st") == "running (unpaused)", "the guest runs on after the snapshot",
         d.state("st"))
    at_run1 = log_ticks()[-1]
    vm_size = img_snapshots(disk).get("run1", "")
    t.ok(vm_size not in ("", "0 B"), "the qcow2 has snapshot run1 with the VM state inside",
         img_snapshots(disk))
    t.ok(ticks_past(3), "the guest ticks on after the snapshot")
    r = d.vsh("snapshot-create-as", "st", "run2")
    t.ok(r.returncode == 0, "vsh snapshot-create-as of the running domain", r.stderr)
    r = d.vsh("snapshot-create-as", "st", "run1")
    t.ok(r.returncode == 1 and "domain moment run1 already exists" in r.stderr,
         "a second snapshot of the same name is refused", r.stderr)

    # ---- what both clients show ----
    both("snapshot-list", "st", gold="list")
    both("snapshot-list", "st", "--parent", gold="list-parent")
    both("snapshot-list", "st", "--tree", gold="tree")
    both("snapshot-list", "st", "--roots", "--name", gold="roots")
    both("snapshot-list", "st", "--leaves", "--name", gold="leaves")
    both("snapshot-list", "st", "--active", "--name", gold="active")
    both("snapshot-list", "st", "--inactive", "--name", gold="inactive")
    both("snapshot-list", "st", "--from", "off1", "--descendants", "--name", gold="descendants")
    both("snapshot-info", "st", "run1", gold="info-run1")
    both("snapshot-info", "st", "--current", gold="info-current")
    both("snapshot-current", "st", "--name", gold="current-name")
    both("snapshot-parent", "st", "run2", gold="parent-run2")
    both("snapshot-parent", "st", "off1", gold="parent-none")
    both("snapshot-info", "st", "nosuch", gold="info-nosuch")
    a = both("snapshot-dumpxml", "st", "run1", gold="dumpxml-run1")
    path = d.write("run1.xml", a.stdout)
    r = subprocess.run(["virt-xml-validate", path, "domainsnapshot"], capture_output=True,
                       text=True)
    t.ok(r.returncode == 0, "snapshot-dumpxml validates against libvirt's domainsnapshot schema",
         r.stdout + r.stderr)
    both("snapshot-current", "st")

    # ---- revert while running ----
    before = log_ticks()[-1]
    r = d.virsh("snapshot-revert", "st", "run1")
    t.ok(r.returncode == 0, "virsh snapshot-revert of the running domain", r.stderr)
    t.ok(d.state("st") == "running (from snapshot)", "reverted: running (from snapshot)",
         d.state("st"))
    t.ok(ticks_past(3), "the reverted guest ticks on")
    seq = log_ticks()
    cut = max(i for i in range(1, len(seq)) if seq[i] <= seq[i - 1]) if any(
        seq[i] <= seq[i - 1] for i in range(1, len(seq))) else None
    t.ok(cut is not None and seq[cut] <= before and pre_run1 - 1 <= seq[cut] <= at_run1 + 1 and
         seq[cut:] == list(range(seq[cut], seq[cut] + len(seq) - cut)),
         "the ticks went back to run1's and run on consecutively",
         f"run1 between {pre_run1} and {at_run1}, before revert {before}: {seq[-30:]}")
    both("snapshot-current", "st", "--name", gold="current-after-revert")

    # ---- the metadata across a daemon restart ----
    tree = d.virsh("snapshot-list", "st", "--tree").stdout
    d.stop()
    # virsh's event loop ends with its connection: the first daemon's events are all here.
    ev = events.communicate(timeout=10)[0]
    for want in ("Suspended Snapshot", "Resumed Snapshot"):
        t.ok(f"event 'lifecycle' for domain 'st': {want}" in ev, f"event: {want}", ev)
    d.start()
    events = d.virsh_popen("event", "--all", "--loop")
    time.sleep(0.5)
    t.ok(d.virsh("snapshot-list", "st", "--tree").stdout == tree and
         d.vsh("snapshot-current", "st", "--name").stdout == "run1",
         "the tree and the current snapshot survive a daemon restart",
         d.virsh("snapshot-list", "st", "--tree").stdout)
    t.ok(os.path.exists(os.path.join(d.root, "lib", "snapshot", "st", "run1.xml")),
         "one file per snapshot: ROOT/lib/snapshot/st/run1.xml")
    t.ok(d.state("st") == "running (from snapshot)", "the domain was reattached",
         d.state("st"))

    # ---- metadata redefined: the current snapshot, an edited description ----
    r = d.vsh("snapshot-current", "st", "--snapshotname", "run2")
    t.ok(r.returncode == 0 and d.virsh("snapshot-current", "st", "--name").stdout == "run2",
         "vsh snapshot-current --snapshotname sets the current snapshot", r.stderr)
    r = d.virsh("snapshot-current", "st", "--snapshotname", "run1")
    t.ok(r.returncode == 0 and d.vsh("snapshot-current", "st", "--name").stdout == "run1",
         "virsh snapshot-current --snapshotname too", r.stderr)
    x = d.virsh("snapshot-dumpxml", "st", "run2", "--security-info").stdout
    edited = d.write("run2.xml", x.replace("<name>run2</name>",
                                           "<name>run2</name>\n  <description>edited</description>",
                                           1))
    r = d.vsh("snapshot-create", "st", edited, "--redefine")
    t.ok(r.returncode == 0 and
         "<description>edited</description>" in d.virsh("snapshot-dumpxml", "st", "run2").stdout
         and d.vsh("snapshot-current", "st", "--name").stdout == "run1",
         "snapshot-create --redefine replaces the metadata, the current one stays", r.stderr)
    both("snapshot-create", "st", edited, "--current", gold="current-needs-redefine")

    # ---- shut off, back to a running snapshot, paused ----
    d.virsh("destroy", "st")
    r = d.vsh("snapshot-revert", "st", "run2", "--paused")
    t.ok(r.returncode == 0, "vsh snapshot-revert --paused of the shut off domain", r.stderr)
    t.ok(d.state("st") == "paused (from snapshot)", "reverted: paused (from snapshot)",
         d.state("st"))
    n = len(log_ticks())
    time.sleep(1)
    t.ok(len(log_ticks()) == n, "a paused revert does not run the guest")
    r = d.virsh("resume", "st")
    t.ok(r.returncode == 0 and ticks_past(2), "resumed, the guest ticks on", r.stderr)

    # ---- faults on the running domain ----
    both("snapshot-create-as", "st", "q", "--quiesce", gold="quiesce")
    both("snapshot-create-as", "st", "q", "--disk-only", "--quiesce", gold="quiesce-disk-only")
    both("snapshot-revert", "st", "run1", "--running", "--paused", gold="revert-exclusive")
    exists = d.write("exists.qcow2", "not an image")
    both("snapshot-create-as", "st", "e", "--disk-only", "--diskspec", f"vda,file={exists}",
         gold="overlay-exists")
    t.ok(open(exists).read() == "not an image", "the existing file is left alone")

    # ---- external disk-only while running ----
    overlay = os.path.join(d.tmp, "st.ext1")
    r = d.vsh("snapshot-create-as", "st", "ext1", "--disk-only", "--atomic")
    t.ok(r.returncode == 0, "vsh snapshot-create-as --disk-only --atomic", r.stderr)
    t.ok(d.virsh("domblklist", "st").stdout.split() == ["vda", overlay],
         "the live definition names the overlay", d.virsh("domblklist", "st").stdout)
    t.ok(f"<source file='{overlay}'/>" in d.virsh("dumpxml", "st", "--inactive").stdout,
         "... and so does the persistent one")
    info = subprocess.run([IMG, "info", "-U", overlay], capture_output=True, text=True).stdout
    t.ok(f"backing file: {disk}" in info and "file format: qcow2" in info,
         "the overlay is a qcow2 over the image", info)
    t.ok(ticks_past(3), "the guest writes on into the overlay")
    both("snapshot-list", "st", "--external", "--name", gold="external")
    both("snapshot-list", "st", "--disk-only", "--name", gold="disk-only")
    both("snapshot-info", "st", "ext1", gold="info-ext1")
    both("snapshot-revert", "st", "ext1", gold="revert-external")
    both("snapshot-delete", "st", "ext1", gold="delete-external")
    r = d.virsh("snapshot-delete", "st", "ext1", "--metadata")
    t.ok(r.returncode == 0 and "ext1" not in d.vsh("snapshot-list", "st", "--name").stdout and
         os.path.exists(overlay), "snapshot-delete --metadata drops only the metadata", r.stderr)

    # ---- --no-metadata: the overlay, no metadata ----
    r = d.vsh("snapshot-create-as", "st", "nm", "--disk-only", "--no-metadata")
    nm = os.path.join(d.tmp, "st.nm")
    t.ok(r.returncode == 0 and d.virsh("domblklist", "st").stdout.split() == ["vda", nm] and
         "nm" not in d.virsh("snapshot-list", "st", "--name").stdout.split(),
         "--disk-only --no-metadata: the domain is on the overlay, no metadata is kept",
         r.stderr + d.virsh("domblklist", "st").stdout)
    overlay = nm
    both("snapshot-create-as", "st", "lv", "--disk-only", "--live", gold="live-refused")

    # ---- an overlay on a full disk ----
    mnt = os.path.join(d.tmp, "small")
    os.mkdir(mnt)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", mnt]).returncode:
        t.ok(False, "mount a small tmpfs (needs root)")
    else:
        try:
            with open(os.path.join(mnt, "fill"), "wb") as f:
                try:
                    f.write(b"\xff" * (1 << 20))
                except OSError:
                    pass
            r = d.vsh("snapshot-create-as", "st", "full", "--disk-only", "--diskspec",
                      f"vda,file={mnt}/o.qcow2")
            t.ok(r.returncode == 1 and r.stderr.count("\n") == 1 and "error:" in r.stderr,
                 "an overlay on a full disk fails with one line", r.stderr)
            t.ok(d.virsh("domblklist", "st").stdout.split() == ["vda", overlay] and
                 not os.path.exists(os.path.join(mnt, "o.qcow2")),
                 "disk full: the domain keeps its image, no overlay is left",
                 d.virsh("domblklist", "st").stdout)
            t.ok("full" not in d.virsh("snapshot-list", "st", "--name").stdout,
                 "disk full: no metadata")
            # Room for the memory file's header, not for the memory: the live stream fails
            # while the guest runs.
            os.truncate(os.path.join(mnt, "fill"), 32 << 10)
            lo = os.path.join(d.tmp, "st.lo")
            r = d.vsh("snapshot-create-as", "st", "lfull", "--live", "--memspec",
                      f"file={mnt}/m", "--diskspec", f"vda,file={lo}")
            t.ok(r.returncode == 1 and r.stderr.count("\n") == 1 and "error:" in r.stderr,
                 "--live memory on a full disk fails with one line", r.stderr)
            t.ok(d.state("st") == "running (unpaused)" and
                 d.virsh("domblklist", "st").stdout.split() == ["vda", overlay] and
                 not os.path.exists(lo) and os.listdir(mnt) == ["fill"],
                 "--live on a full disk: the domain runs on its image, no memory file or "
                 "overlay is left", d.state("st") + d.virsh("domblklist", "st").stdout +
                 str(os.listdir(mnt)))
        finally:
            subprocess.run(["umount", mnt])

    # ---- the guest's own verdict ----
    end = wait_for(lambda: "pattern is intact" in d.console_log("st") or
                   "not ok" in d.console_log("st"), 400, 0.5)
    log = d.console_log("st")
    t.ok(end and "not ok" not in log and "ok 2 - state: the whole 8 MiB pattern is intact" in log,
         "the guest's continuity checks pass after snapshots, reverts and the overlay",
         log[-1500:])

    # ---- revert to the shut off snapshot, delete with children ----
    d.virsh("destroy", "st")
    # The overlay is the domain's disk now: the revert puts back the snapshot's definition,
    # whose disk is the image that has off1.
    r = d.vsh("snapshot-revert", "st", "off1")
    t.ok(r.returncode == 0 and d.state("st").startswith("shut off") and
         d.virsh("domblklist", "st").stdout.split() == ["vda", disk],
         "vsh snapshot-revert to the shut off snapshot: its definition is back",
         r.stderr + d.state("st") + d.virsh("domblklist", "st").stdout)
    r = d.virsh("start", "st")
    t.ok(r.returncode == 0 and wait_for(lambda: "tick=2 " in d.console_log("st"), 120),
         "it boots from off1's disk", r.stderr)
    r = d.virsh("snapshot-revert", "st", "off1")
    t.ok(r.returncode == 0 and d.state("st") == "shut off (from snapshot)",
         "virsh snapshot-revert of the running domain to off1: shut off (from snapshot)",
         r.stderr + d.state("st"))
    both("snapshot-list", "st", "--tree", gold="tree-before-delete")
    r = d.vsh("snapshot-delete", "st", "run1", "--children")
    t.ok(r.returncode == 0, "vsh snapshot-delete --children", r.stderr)
    t.ok(set(img_snapshots(disk)) == {"off1"}, "run1 and run2 are gone from the qcow2 too",
         img_snapshots(disk))
    both("snapshot-list", "st", "--tree", gold="tree-after-delete")
    both("undefine", "st", gold="undefine-refused")
    events.send_signal(signal.SIGINT)
    ev = events.communicate(timeout=10)[0]
    events = None
    for want in ("Started Snapshot", "Stopped Snapshot"):
        t.ok(f"event 'lifecycle' for domain 'st': {want}" in ev, f"event: {want}", ev)
    r = d.virsh("undefine", "st", "--snapshots-metadata")
    t.ok(r.returncode == 0 and not os.path.exists(os.path.join(d.root, "lib", "snapshot", "st")),
         "undefine --snapshots-metadata removes the metadata", r.stderr)

    # ---- a raw disk: no internal snapshots; external ones of the shut off domain ----
    raw = os.path.join(d.tmp, "rw.raw")
    with open(raw, "wb") as f:
        f.truncate(1 << 20)
    d.virsh("define", d.write("rw.xml", domain_xml("rw", GUEST, "tests=state", disk_xml(raw, "raw"))))
    both("snapshot-create-as", "rw", "x", gold="raw-internal")
    mine = os.path.join(d.tmp, "mine.qcow2")
    subprocess.run([IMG, "create", "-q", "-f", "qcow2", "-b", raw, "-F", "raw", mine], check=True)
    r = d.virsh("snapshot-create-as", "rw", "e1", "--disk-only", "--reuse-external",
                "--diskspec", f"vda,file={mine}")
    dx = d.virsh("dumpxml", "rw").stdout
    t.ok(r.returncode == 0 and f"<source file='{mine}'/>" in dx and "type='qcow2'" in dx,
         "offline --disk-only --reuse-external: the definition names the given overlay",
         r.stderr + dx)
    r = d.vsh("snapshot-create-as", "rw", "e2", "--disk-only")
    auto = os.path.join(d.tmp, "mine.e2")
    info = subprocess.run([IMG, "info", auto], capture_output=True, text=True).stdout
    t.ok(r.returncode == 0 and f"backing file: {mine}" in info and
         f"<source file='{auto}'/>" in d.virsh("dumpxml", "rw").stdout,
         "offline --disk-only: an overlay made over the disk, named after the snapshot",
         r.stderr + info)
    both("snapshot-list", "rw", "--tree", gold="tree-external")

    # ---- external memory: the save image format, restored by virsh restore ----
    exdisk = os.path.join(d.tmp, "ex.qcow2")
    subprocess.run([IMG, "create", "-q", "-f", "qcow2", exdisk, "16M"], check=True)
    d.virsh("define", d.write("ex.xml", domain_xml(
        "ex", GUEST, "tests=state state_mib=8 seed=3 state_ticks=100000", disk_xml(exdisk))))
    r = d.virsh("start", "ex")
    t.ok(r.returncode == 0 and wait_for(lambda: "tick=2 " in d.console_log("ex"), 120),
         "a second guest runs", r.stderr)
    mem = os.path.join(d.tmp, "ex.mem")
    r = d.vsh("snapshot-create-as", "ex", "m1", "--memspec", f"file={mem},snapshot=external",
              "--diskspec", "vda,snapshot=no", "--halt")
    t.ok(r.returncode == 0 and d.state("ex") == "shut off (from snapshot)",
         "--memspec --halt: the memory in a file, the domain shut off (from snapshot)",
         r.stderr + d.state("ex"))
    a = both("snapshot-info", "ex", "m1", gold="info-memory")
    t.ok(f"<memory snapshot='external' file='{mem}'/>" in
         d.virsh("snapshot-dumpxml", "ex", "m1").stdout, "the snapshot names its memory file")
    last = ticks(d.console_log("ex"))[-1]
    r = d.virsh("restore", mem)
    t.ok(r.returncode == 0 and d.state("ex") == "running (restored)",
         "virsh restore of the memory file", r.stderr + d.state("ex"))
    t.ok(wait_for(lambda: ticks(d.console_log("ex"))[-1] >= last + 2, 120) and
         ticks(d.console_log("ex")) == list(range(1, ticks(d.console_log("ex"))[-1] + 1)),
         "the restored guest ticks on where the snapshot left it",
         ticks(d.console_log("ex"))[-20:])

    # ---- --live: the memory goes while the guest runs, the disk switches in the last pause ----
    lmem, lov = os.path.join(d.tmp, "ex.live.mem"), os.path.join(d.tmp, "ex.live")
    before_live = ticks(d.console_log("ex"))[-1]
    r = d.vsh("snapshot-create-as", "ex", "live1", "--live", "--memspec",
              f"file={lmem},snapshot=external", "--diskspec", f"vda,snapshot=external,file={lov}")
    t.ok(r.returncode == 0 and d.state("ex") == "running (unpaused)",
         "vsh snapshot-create-as --live --memspec --diskspec: done, the domain runs on",
         r.stderr + d.state("ex"))
    t.ok(d.virsh("domblklist", "ex").stdout.split() == ["vda", lov],
         "--live: the domain's disk is the overlay", d.virsh("domblklist", "ex").stdout)
    t.ok(f"<memory snapshot='external' file='{lmem}'/>" in
         d.virsh("snapshot-dumpxml", "ex", "live1").stdout and
         d.virsh("snapshot-info", "ex", "live1").stdout.count("external") >= 1,
         "--live: the snapshot names its memory file", d.virsh("snapshot-info", "ex", "live1").stdout)
    t.ok(wait_for(lambda: ticks(d.console_log("ex"))[-1] >= before_live + 3, 120),
         "--live: the guest ticks on after the snapshot")
    r = d.virsh("snapshot-create-as", "ex", "live2", "--live", "--memspec",
                f"file={lmem},snapshot=external", "--diskspec", "vda,snapshot=no")
    t.ok(r.returncode == 1 and "already exists" in r.stderr and os.path.getsize(lmem) > 0,
         "--live into an existing memory file is refused, the file is left alone", r.stderr)
    r = d.virsh("destroy", "ex")
    n_before = len(ticks(d.console_log("ex")))
    r = d.virsh("restore", lmem)
    t.ok(r.returncode == 0 and d.state("ex") == "running (restored)",
         "virsh restore of the --live memory file", r.stderr + d.state("ex"))

    def after_restore():
        return ticks(d.console_log("ex"))[n_before:]
    t.ok(wait_for(lambda: len(after_restore()) >= 3, 120), "the restored guest ticks",
         d.console_log("ex")[-500:])
    seq = after_restore()
    t.ok(seq and before_live <= seq[0] <= before_live + 60 and
         seq == list(range(seq[0], seq[0] + len(seq))) and
         "not ok" not in d.console_log("ex")[-4000:],
         "the restored guest goes on from the snapshot's tick, consecutively, its checks "
         "passing", f"snapshot taken at about tick {before_live}: {seq[:20]}")

    # ---- the VMM killed during a snapshot ----
    pid = d.vmm_pid("ex")
    os.kill(pid, signal.SIGSTOP)
    p = subprocess.Popen([VSH, "-q", "-c", d.vsh_uri, "snapshot-create-as", "ex", "k"],
                         env=d.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    os.kill(pid, signal.SIGKILL)
    out, err = p.communicate(timeout=60)
    t.ok(p.returncode == 1 and err.count("\n") == 1 and err.startswith("error: "),
         "a snapshot whose VMM is killed fails with one line", err)
    # (the caller's error may come before the daemon has seen the VMM's end)
    t.ok(wait_for(lambda: d.state("ex") == "shut off (crashed)", 30) and
         "k" not in d.vsh("snapshot-list", "ex", "--name").stdout.split(),
         "VMM killed: shut off (crashed), no snapshot metadata",
         d.state("ex") + " / " + d.vsh("snapshot-list", "ex", "--name").stdout + " / " + err)
except Exception as e:  # noqa: BLE001 - report, then clean up
    t.ok(False, f"unexpected exception: {e!r}")
    d.dump_log()
finally:
    if events:
        events.kill()
        events.wait()
    d.cleanup(names)
t.done()
