#!/usr/bin/env python3
"""test-daemon-save.py - save, restore and managed save through vireod, with
the stock virsh and vsh, on the test guest's continuity workload.

  test-daemon-save.py VIREOD VIREO_VMM TESTGUEST_ELF VSH

One guest (tests=state: a seeded memory pattern, a tick counter in RAM and
on COM1, a virtio-blk write stream, the LAPIC timer, all checked every tick
and in full at the end) goes through: virsh save / restore; vsh save
--paused / restore (it stays paused until resumed); vsh managedsave, a
daemon restart, virsh start (it resumes from the image, which is then
gone). Its ticks must be consecutive across all of them and its final
checks pass. On the way: states and reasons, lifecycle events, dominfo's
Managed save line, list --managed-save, the image's XML (dumpxml, define,
--paused), libvirt's image header, and the same outputs from both clients.

Faults: a corrupted, an incomplete, a truncated image, and one restored
with the XML of another machine are refused with one line and leave no
domain running; a managed save image of another domain is refused at
start; a save to a full tmpfs and a save whose VMM is killed leave no file
(and no temporary) under the name, and in the first case the guest runs
on (reason "save canceled").

libvirt's default domain (no <memballoon>, so a virtio balloon, and a
virtio NIC on user networking) saves and restores with the stock virsh, and
its balloon takes a new target (setmem --live) after the restore.

Prints TAP. Waits poll with generous limits; nothing asserts a timing.
"""
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import Daemon, Tap, alive, domain_xml, skip_all, state_ticks, wait_for  # noqa: E402

VIREOD, VMM, GUEST, VSH = sys.argv[1:5]
GUEST = os.path.abspath(GUEST)
TICKS = 300  # the guest's last tick: enough for every step below, at a few ticks a second
t = Tap()
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("no /dev/kvm")
if not shutil.which("virsh"):
    skip_all("no virsh")


def ticks(text):
    return state_ticks(text)


def disk_xml(path):
    return f"""    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
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
names = ["st", "other", "dflt"]
events = None
try:
    d.start()

    def define(name, mib=128, ticks_=TICKS):
        disk = os.path.join(d.tmp, name + ".raw")
        with open(disk, "wb") as f:
            f.truncate(1 << 20)
        xml = domain_xml(name, GUEST, f"tests=state state_mib=8 seed=7 state_ticks={ticks_}",
                         disk_xml(disk), memory_mib=mib)
        r = d.virsh("define", d.write(name + ".xml", xml))
        assert r.returncode == 0, r.stderr

    def log_ticks(name):
        return ticks(d.console_log(name))

    def ticks_past(name, n, limit=120):
        """Waits until the guest has ticked n more times than now."""
        start = (log_ticks(name) or [0])[-1]
        return wait_for(lambda: (log_ticks(name) or [0])[-1] >= start + n, limit)

    define("st")
    events = d.virsh_popen("event", "--all", "--loop")
    r = d.virsh("start", "st")
    t.ok(r.returncode == 0 and wait_for(lambda: "tick=3 " in d.console_log("st"), 120),
         "the continuity guest runs", r.stderr + d.console_log("st")[-500:])

    # ---- virsh save / restore ----
    save = os.path.join(d.tmp, "st.save")
    r = d.virsh("save", "st", save)
    t.ok(r.returncode == 0, "virsh save", r.stderr)
    t.ok(d.state("st") == "shut off (saved)", "saved: shut off (saved)", d.state("st"))
    pid_gone = not any(alive(p) for p in [d.vmm_pid("st")] if p)
    t.ok(pid_gone, "saved: no vireo-vmm left")
    head = open(save, "rb").read(92)
    magic, version, data_len, running, fmt = struct.unpack("=16sIIII", head[:32])
    t.ok(magic == b"LibvirtQemudSave" and version == 2 and running == 1 and fmt == 0 and
         (92 + data_len) % 4096 == 0,
         "the image has libvirt's header (running, raw) and the stream page-aligned",
         repr(head[:36]))
    xml_in = open(save, "rb").read(92 + data_len)[92:].split(b"\0")[0].decode()
    t.ok("<name>st</name>" in xml_in, "the image holds the domain XML")
    t.ok([f for f in os.listdir(d.tmp) if ".vireo-" in f] == [], "no temporary file is left")
    a, b = d.virsh("save-image-dumpxml", save), d.vsh("save-image-dumpxml", save)
    t.ok(a.returncode == 0 and "<name>st</name>" in a.stdout, "save-image-dumpxml", a.stderr)
    same(a, b, "save-image-dumpxml")
    before = log_ticks("st")[-1]
    r = d.virsh("restore", save)
    t.ok(r.returncode == 0, "virsh restore", r.stderr)
    t.ok(d.state("st") == "running (restored)", "restored: running (restored)", d.state("st"))
    r = d.virsh("restore", save)
    t.ok(r.returncode == 1 and
         "Requested operation is not valid: domain 'st' is already active" in r.stderr and
         d.state("st") == "running (restored)",
         "a restore over the running domain is refused, and it runs on", r.stderr)
    t.ok(ticks_past("st", 3), "the restored guest ticks on", d.console_log("st")[-300:])
    t.ok(log_ticks("st")[0:before + 3] == list(range(1, before + 4)),
         "ticks consecutive across save and restore", log_ticks("st"))

    # ---- vsh save --paused, save-image-define, restore ----
    save2 = os.path.join(d.tmp, "st2.save")
    r = d.vsh("save", "st", save2, "--paused", "--bypass-cache")
    t.ok(r.returncode == 0, "vsh save --paused --bypass-cache", r.stderr)
    res = subprocess.run(["fincore", "--bytes", "--noheadings", "-o", "RES", save2],
                         capture_output=True, text=True)
    t.ok(res.returncode == 0 and int(res.stdout.strip() or "-1") < (1 << 20),
         "--bypass-cache: the image is not left in the page cache (fincore)",
         res.stdout + res.stderr)
    running = struct.unpack("=I", open(save2, "rb").read(28)[24:28])[0]
    t.ok(running == 0, "--paused: the image says the guest was paused")
    copy = os.path.join(d.tmp, "st2-copy.save")
    shutil.copy(save2, copy)
    r = d.vsh("save-image-define", save2, d.write("st2.xml", xml_in), "--running")
    t.ok(r.returncode == 0, "vsh save-image-define --running", r.stderr)
    same(d.virsh("save-image-define", copy, d.write("st2.xml", xml_in), "--running"), r,
         "save-image-define")
    os.unlink(copy)
    running = struct.unpack("=I", open(save2, "rb").read(28)[24:28])[0]
    t.ok(running == 1, "save-image-define --running: the image says running now")
    # save-image-edit through $VISUAL, with both clients: virsh changes the image, vsh then
    # finds nothing to change.
    sed = "sed -i 's|<on_crash>destroy</on_crash>|<on_crash>restart</on_crash>|'"
    env = dict(d.env, VISUAL=sed)
    r = subprocess.run(["virsh", "-c", d.uri, "save-image-edit", save2], env=env,
                       capture_output=True, text=True)
    t.ok(r.returncode == 0 and f"State file {save2} edited." in r.stdout and
         "<on_crash>restart</on_crash>" in d.vsh("save-image-dumpxml", save2).stdout,
         "virsh save-image-edit changes the image's XML", r.stdout + r.stderr)
    r = subprocess.run([VSH, "-c", d.vsh_uri, "save-image-edit", save2], env=env,
                       capture_output=True, text=True)
    t.ok(r.returncode == 0 and f"Saved image {save2} XML configuration not changed." in r.stdout,
         "vsh save-image-edit: nothing to change", r.stdout + r.stderr)
    r = d.vsh("restore", save2, "--paused")
    t.ok(r.returncode == 0, "vsh restore --paused", r.stderr)
    t.ok(d.state("st") == "paused (user)", "restore --paused: paused", d.state("st"))
    n = len(log_ticks("st"))
    time.sleep(1)
    t.ok(len(log_ticks("st")) == n, "a paused restore does not run the guest")
    r = d.virsh("resume", "st")
    t.ok(r.returncode == 0 and ticks_past("st", 2), "resumed, the guest ticks on", r.stderr)

    # ---- managed save across a daemon restart ----
    r = d.vsh("managedsave", "st")
    t.ok(r.returncode == 0, "vsh managedsave", r.stderr)
    t.ok(os.path.exists(os.path.join(d.root, "lib", "save", "st.save")),
         "the managed image is ROOT/lib/save/st.save")
    for cmd in (["dominfo", "st"], ["list", "--all", "--managed-save"],
                ["list", "--all", "--with-managed-save", "--name"],
                ["domstate", "--reason", "st"], ["managedsave-dumpxml", "st"]):
        same(d.virsh(*cmd), d.vsh(*cmd), " ".join(cmd))
    t.ok("Managed save:   yes" in d.vsh("dominfo", "st").stdout, "dominfo: Managed save: yes")
    t.ok(re.search(r"st\s+saved", d.vsh("list", "--all", "--managed-save").stdout) is not None,
         "list --managed-save: saved")
    same(d.virsh("undefine", "st"), d.vsh("undefine", "st"),
         "undefine refused while a managed save image exists")
    d.stop()
    d.start()
    t.ok(d.virsh("dominfo", "st").stdout.count("Managed save:   yes") == 1,
         "after a daemon restart the managed image is still there")
    r = d.virsh("start", "st")
    t.ok(r.returncode == 0, "virsh start resumes from the managed image", r.stderr)
    t.ok(d.state("st") == "running (restored)", "started: running (restored)", d.state("st"))
    t.ok(not os.path.exists(os.path.join(d.root, "lib", "save", "st.save")),
         "the managed image is used once")
    t.ok("Managed save:   no" in d.vsh("dominfo", "st").stdout, "dominfo: Managed save: no")

    # ---- the guest's own verdict ----
    end = wait_for(lambda: "pattern is intact" in d.console_log("st") or
                   "not ok" in d.console_log("st"), 240, 0.5)
    log = d.console_log("st")
    t.ok(end and "not ok" not in log and "ok 2 - state: the whole 8 MiB pattern is intact" in log,
         "the guest's continuity checks pass after all of it", log[-1500:])
    t.ok(log_ticks("st") == list(range(1, TICKS + 1)),
         f"ticks 1..{TICKS} consecutive across save, restore and managed save",
         log_ticks("st")[-20:])
    d.virsh("destroy", "st")
    events.send_signal(signal.SIGINT)
    ev = events.communicate(timeout=10)[0]
    events = None
    # The event stream started before the daemon restart; libvirt's virsh
    # ends its loop when the connection goes, so only the first part is
    # there: the saves and restores of the first daemon.
    for want in ("Stopped Saved", "Started Restored", "Suspended Paused"):
        t.ok(f"event 'lifecycle' for domain 'st': {want}" in ev, f"event: {want}", ev)

    # ---- a transient domain: gone once saved, back from its image ----
    trdisk = os.path.join(d.tmp, "tr.raw")
    with open(trdisk, "wb") as f:
        f.truncate(1 << 20)
    r = d.virsh("create", d.write("tr.xml", domain_xml(
        "tr", GUEST, "tests=state state_mib=8 seed=9 state_ticks=100000", disk_xml(trdisk),
        memory_mib=64)))
    t.ok(r.returncode == 0 and wait_for(lambda: "tick=2 " in d.console_log("tr"), 120),
         "a transient domain runs", r.stderr)
    same(d.virsh("managedsave", "tr"), d.vsh("managedsave", "tr"),
         "managedsave of a transient domain is refused")
    trsave = os.path.join(d.tmp, "tr.save")
    r = d.vsh("save", "tr", trsave)
    t.ok(r.returncode == 0 and "tr" not in d.virsh("list", "--all", "--name").stdout.split(),
         "a saved transient domain is gone", r.stderr)
    r = d.virsh("restore", trsave)
    t.ok(r.returncode == 0 and d.state("tr") == "running (restored)" and
         "Persistent:     no" in d.virsh("dominfo", "tr").stdout,
         "restore brings the transient domain back", r.stderr + d.state("tr"))
    t.ok(ticks_past("tr", 2) and "not ok" not in d.console_log("tr"),
         "the restored transient guest ticks on")
    d.virsh("destroy", "tr")
    names.append("tr")

    # ---- images that must be refused ----
    define("other", mib=64, ticks_=100000)
    good = save  # st's first image: still a whole one

    def bad_image(name, data):
        p = os.path.join(d.tmp, name)
        open(p, "wb").write(data)
        return p

    blob = open(good, "rb").read()
    stream_at = 92 + data_len
    cases = [
        ("corrupted magic", bad_image("magic.save", b"X" + blob[1:]),
         "error: operation failed: image magic is incorrect"),
        ("incomplete (partial magic)", bad_image("part.save", b"LibvirtQemudPart" + blob[16:]),
         "error: operation failed: save image is incomplete"),
        ("newer version", bad_image("ver.save", blob[:16] + struct.pack("=I", 3) + blob[20:]),
         # libvirt byte-swaps a version it does not know before refusing it
         "error: operation failed: image version is not supported (50331648 > 2)"),
        ("truncated stream", bad_image("trunc.save", blob[:stream_at + 200000]),
         "VM state truncated"),
        ("corrupted stream", bad_image("crc.save",
                                       blob[:stream_at + 64] + bytes(16) + blob[stream_at + 80:]),
         "is corrupt"),
    ]
    for what, path, want in cases:
        a, b = d.virsh("restore", path), d.vsh("restore", path)
        t.ok(a.returncode == 1 and want in a.stderr, f"restore of a {what} image is refused",
             a.stderr)
        if "stream" not in what:
            same(a, b, f"restore of a {what} image")
        t.ok(d.state("st") == "shut off (destroyed)" and not d.vmm_pid("st"),
             f"{what}: the domain is left as it was", d.state("st"))
    other_xml = domain_xml("st", GUEST, "tests=state", "", memory_mib=64)
    uuid = re.search(r"<uuid>([^<]+)</uuid>", xml_in).group(1)
    other_xml = other_xml.replace("<name>st</name>", f"<name>st</name>\n  <uuid>{uuid}</uuid>")
    r = d.virsh("restore", good, "--xml", d.write("small.xml", other_xml))
    t.ok(r.returncode == 1 and "max memory" in r.stderr,
         "restore --xml of another machine is refused", r.stderr)
    # st's image put in other's managed slot: refused at start, the image kept.
    shutil.copy(good, os.path.join(d.root, "lib", "save", "other.save"))
    r = d.virsh("start", "other")
    t.ok(r.returncode == 1 and "is of domain 'st'" in r.stderr,
         "a managed image of another domain is refused at start", r.stderr)
    t.ok(d.state("other").startswith("shut off"), "other is left shut off", d.state("other"))
    r = d.virsh("start", "other", "--force-boot")
    t.ok(r.returncode == 0 and d.state("other") == "running (booted)",
         "start --force-boot drops the image and boots", r.stderr + d.state("other"))
    t.ok(not os.path.exists(os.path.join(d.root, "lib", "save", "other.save")),
         "--force-boot removed the managed image")
    wait_for(lambda: "tick=2 " in d.console_log("other"), 120)
    # A daemon that stopped between a managed save's image and the VMM's end: the image and a
    # live VM. After the restart the VM is kept and the stale image goes.
    shutil.copy(good, os.path.join(d.root, "lib", "save", "other.save"))
    d.stop()
    d.start()
    t.ok(d.state("other") == "running (booted)" and
         not os.path.exists(os.path.join(d.root, "lib", "save", "other.save")),
         "a running domain's stale managed image is removed at daemon start", d.state("other"))

    # ---- a save that fails: disk full ----
    mnt = os.path.join(d.tmp, "small")
    os.mkdir(mnt)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mnt]).returncode:
        t.ok(False, "mount a 4 MiB tmpfs (needs root)")
    else:
        try:
            r = d.vsh("save", "other", os.path.join(mnt, "o.save"))
            t.ok(r.returncode == 1 and "no space left on device" in r.stderr.lower(),
                 "a save to a full disk fails with the reason", r.stderr)
            t.ok(os.listdir(mnt) == [], "disk full: no file and no temporary left",
                 os.listdir(mnt))
            t.ok(d.state("other") == "running (save canceled)",
                 "disk full: the guest runs on (save canceled)", d.state("other"))
            t.ok(ticks_past("other", 2), "disk full: the guest keeps ticking")
        finally:
            subprocess.run(["umount", mnt])

    # ---- a save whose VMM is killed ----
    pid = d.vmm_pid("other")
    target = os.path.join(d.tmp, "killed.save")
    os.kill(pid, signal.SIGSTOP)  # the save's commands wait in its socket
    p = d.virsh_popen("save", "other", target)
    time.sleep(0.5)
    os.kill(pid, signal.SIGKILL)
    out = p.communicate(timeout=60)[0]
    t.ok(p.returncode == 1 and "error:" in out, "a save whose VMM is killed fails", out)
    t.ok(not os.path.exists(target) and
         [f for f in os.listdir(d.tmp) if ".vireo-" in f] == [],
         "VMM killed: no file and no temporary left", os.listdir(d.tmp))
    # The failed save's reply can come before the daemon has handled the VMM's end.
    wait_for(lambda: d.state("other") == "shut off (crashed)", 10)
    t.ok(d.state("other") == "shut off (crashed)", "VMM killed: shut off (crashed)",
         d.state("other"))

    # ---- libvirt's default domain: no <memballoon> (so a virtio balloon) and a NIC ----
    # Its balloon and virtio-net device used to block the save ("State blocked by
    # non-migratable device"); now they travel in the stream.
    ddisk = os.path.join(d.tmp, "dflt.raw")
    with open(ddisk, "wb") as f:
        f.truncate(1 << 20)
    dxml = f"""<domain type='kvm'>
  <name>dflt</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64'>hvm</type>
    <kernel>{GUEST}</kernel>
    <cmdline>tests=state state_mib=8 seed=7 state_ticks={TICKS}</cmdline>
  </os>
  <devices>
{disk_xml(ddisk)}    <interface type='user'>
      <model type='virtio'/>
    </interface>
  </devices>
</domain>
"""
    r = d.virsh("define", d.write("dflt.xml", dxml))
    t.ok(r.returncode == 0 and "<memballoon model='virtio'" in
         d.virsh("dumpxml", "dflt").stdout, "default domain: defined with a virtio balloon",
         r.stderr)
    r = d.virsh("start", "dflt")
    t.ok(r.returncode == 0 and wait_for(lambda: "tick=3 " in d.console_log("dflt"), 120),
         "default domain: the guest runs", r.stderr + d.console_log("dflt")[-300:])
    dsave = os.path.join(d.tmp, "dflt.save")
    r = d.virsh("save", "dflt", dsave)
    t.ok(r.returncode == 0, "default domain: virsh save (balloon and NIC saved)", r.stderr)
    before = log_ticks("dflt")[-1]
    r = d.virsh("restore", dsave)
    t.ok(r.returncode == 0 and d.state("dflt") == "running (restored)",
         "default domain: virsh restore", r.stderr + d.state("dflt"))
    t.ok(ticks_past("dflt", 3), "default domain: the restored guest ticks on",
         d.console_log("dflt")[-300:])
    t.ok(log_ticks("dflt")[0:before + 3] == list(range(1, before + 4)),
         "default domain: ticks consecutive across save and restore", log_ticks("dflt"))
    r = d.virsh("setmem", "dflt", "120M", "--live")
    t.ok(r.returncode == 0, "default domain: the restored balloon takes a target (setmem --live)",
         r.stdout + r.stderr)
    d.virsh("destroy", "dflt")

except Exception as e:  # noqa: BLE001 - a test's crash is a failure, with its reason
    import traceback
    t.ok(False, "the test ran to its end", traceback.format_exc())
finally:
    if events:
        events.kill()
    if t.failed:
        d.dump_log()
    d.cleanup(names)
t.done()
