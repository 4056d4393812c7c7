#!/usr/bin/python3
"""test-daemon-migrate-storage.py - migration without shared storage between
two vireod hosts (virsh/vsh migrate --copy-storage-all, --migrate-disks).

  test-daemon-migrate-storage.py VIREOD VIREO_VMM TESTGUEST_ELF VSH

Two vireod, each with its own --root in its own network namespace
(migratelib.py), and no storage in common: the guest's disk vda is a 64 MiB
raw file under each host's own directory (the destination's path given with
--xml, as libvirt users do), and only vdb, a <shareable/> disk, is one file
both see. The destination creates the missing vda (same format and size),
its VMM exports it over NBD, the source mirrors into it while the test
guest's continuity workload (tests=state: memory pattern, ticks, a disk
write stream read back each tick) runs, then the memory follows.

  - Failures after the mirror started: the destination's VMM killed, and
    domjobabort on the source, the client (virsh) killed; each leaves the
    source running with its disk, and on the destination no domain, no VMM
    and no created disk.
  - virsh migrate --live --copy-storage-all --suspend A -> B: the images
    are identical (qemu-img compare) while the destination is paused and
    the source stopped; domjobinfo --completed shows the disk copy; the
    guest resumes on B with its ticks consecutive.
  - vsh migrate --live --copy-storage-all --migrate-disks vda --disks-port
    49300 B -> A onto
    A's existing image; the shared vdb is not copied.
  - virsh migrate --live --p2p --copy-storage-all
    --copy-storage-synchronous-writes (the mirrors in write-blocking mode)
    A -> B; the guest's final
    checks (its whole memory pattern and the last disk block it wrote) pass.
  - --copy-storage-inc of a qcow2 overlay whose base both hosts have: the
    guest sees the same disk (qemu-img compare) and only the overlay's
    data travelled.
  - Refusals: --migrate-disks naming no disk, --migrate-disks or
    --copy-storage-synchronous-writes without --copy-storage-*,
    --copy-storage-inc onto a missing image.

Prints TAP. Waits poll with generous limits; nothing asserts a timing.
"""
import os
import re
import shutil
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import alive, domain_xml, state_ticks, wait_for  # noqa: E402
from migratelib import Fabric, Host, end, guest_end, start  # noqa: E402

VIREOD, VMM, GUEST, VSH, t = start(("virsh", "qemu-img"))

SIZE = 64 << 20
NAME = "ms"

ticks = state_ticks


def disks_xml(local, shared):
    return f"""    <disk type='file' device='disk'>
      <driver name='qemu' type='raw' cache='none'/>
      <source file='{local}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw' cache='none'/>
      <source file='{shared}'/>
      <target dev='vdb' bus='virtio'/>
      <shareable/>
    </disk>
"""


fabric = None
hosts = []
try:
    fabric = Fabric(2)
    a = Host(fabric.ns[0], fabric.addr[0], VIREOD, VMM, VSH)
    b = Host(fabric.ns[1], fabric.addr[1], VIREOD, VMM, VSH)
    hosts = [a, b]
    for h in hosts:
        h.start()
    t.ok(a.proc.poll() is None and b.proc.poll() is None,
         "two vireod run, each in its own network namespace with its own root")

    disk_a = os.path.join(a.tmp, "ms-vda.raw")
    disk_b = os.path.join(b.tmp, "ms-vda.raw")
    shared = os.path.join(a.tmp, "ms-vdb.raw")
    with open(disk_a, "wb") as f:  # the guest writes the first 128 KiB; the rest is data
        f.seek(1 << 20)
        f.write(os.urandom(SIZE - (1 << 20)))
    with open(shared, "wb") as f:
        f.truncate(1 << 20)
    cmdline = "tests=state state_mib=8 state_dirty=2 seed=11 state_ticks=100000"

    def xml_with(local):  # noqa: E306
        return domain_xml(NAME, GUEST, cmdline, disks_xml(local, shared), memory_mib=128)

    r = a.virsh("define", a.write("ms.xml", xml_with(disk_a)))
    t.ok(r.returncode == 0, "define ms on A (vda local to A, vdb shared)", r.stderr)
    # The destination's XML (--xml): the same domain with vda at the destination's path.
    mig = a.virsh("dumpxml", "--migratable", NAME).stdout
    xml_a = a.write("ms-a.xml", mig)
    xml_b = a.write("ms-b.xml", mig.replace(disk_a, disk_b))
    r = a.virsh("start", NAME)
    t.ok(r.returncode == 0 and wait_for(lambda: "tick=3 " in a.console_log(NAME), 180),
         "the continuity guest runs on A", r.stderr + a.console_log(NAME)[-300:])

    def last_tick(h):
        return (ticks(h.console_log(NAME)) or [0])[-1]

    def ticks_on(h, n, limit=180):
        start = last_tick(h)
        return wait_for(lambda: last_tick(h) >= start + n, limit)

    def ticks_on_named(h, name, n, limit=180):
        start = (ticks(h.console_log(name)) or [0])[-1]
        return wait_for(lambda: (ticks(h.console_log(name)) or [0])[-1] >= start + n, limit)

    def listed(h):
        return NAME in h.virsh("list", "--all", "--name").stdout.split()

    def file_total(h):
        """The source's disk copy so far (domjobinfo's File total), or 0."""
        r = h.virsh("domjobinfo", NAME)
        m = re.search(r"File total:\s+([\d.]+)", r.stdout)
        return float(m.group(1)) if m else 0

    # ---- refusals: nothing starts anywhere ----
    r = a.virsh("migrate", "--live", "--copy-storage-all", "--migrate-disks", "vdz", NAME, b.uri,
                "--listen-address", b.addr, "--xml", xml_b)
    t.ok(r.returncode == 1 and "disk target vdz not found" in r.stderr and not listed(b),
         "--migrate-disks naming no disk: libvirt's refusal", r.stderr)
    x = a.virsh("migrate", "--live", "--migrate-disks", "vda", NAME, b.uri)
    y = a.vsh("migrate", "--live", "--migrate-disks", "vda", NAME, b.vsh_uri)
    t.ok(x.returncode == 1 and "requires use of 'VIR_MIGRATE_NON_SHARED_DISK'" in x.stderr and
         (x.returncode, x.stderr) == (y.returncode, y.stderr),
         "--migrate-disks without --copy-storage-*: refused, virsh and vsh alike",
         "virsh: %r\nvsh:   %r" % (x.stderr, y.stderr))
    x = a.virsh("migrate", "--live", "--copy-storage-synchronous-writes", NAME, b.uri)
    y = a.vsh("migrate", "--live", "--copy-storage-synchronous-writes", NAME, b.vsh_uri)
    t.ok(x.returncode == 1 and "'--copy-storage-synchronous-writes' requires one of" in x.stderr and
         (x.returncode, x.stderr) == (y.returncode, y.stderr) and not listed(b),
         "--copy-storage-synchronous-writes without --copy-storage-*: refused, virsh and vsh "
         "alike", "virsh: %r\nvsh:   %r" % (x.stderr, y.stderr))
    r = a.virsh("migrate", "--live", "--copy-storage-inc", NAME, b.uri, "--listen-address",
                b.addr, "--xml", xml_b)
    t.ok(r.returncode == 1 and "does not exist on the destination" in r.stderr and
         not listed(b) and not os.path.exists(disk_b),
         "--copy-storage-inc onto a missing image is refused", r.stderr)

    # ---- failures after the mirror started ----
    def failed_migration(what, inject, client):
        before = last_tick(a)
        args = ["migrate", "--live", "--copy-storage-all", NAME]
        if client == "vsh":
            p = subprocess.Popen([a.vsh_path, "-q", "-c", a.vsh_uri] + args +
                                 [b.vsh_uri, "--listen-address", b.addr, "--xml", xml_b],
                                 env=a.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True)
        else:
            p = a.virsh_popen(*args, b.uri, "--listen-address", b.addr, "--xml", xml_b)
        started = wait_for(lambda: file_total(a) > 0 or p.poll() is not None, 120, 0.02)
        created = os.path.exists(disk_b)
        inject()
        out = p.communicate(timeout=300)[0]
        t.ok(started and created and p.returncode == 1,
             "%s after the mirror started fails the migration (%s)" % (what, client),
             "started=%s created=%s rc=%s\n%s" % (started, created, p.returncode, out))
        t.ok(wait_for(lambda: a.state(NAME).startswith("running"), 30) and ticks_on(a, 2) and
             last_tick(a) > before, "A: ms runs on, ticking", a.state(NAME))
        t.ok(wait_for(lambda: not listed(b) and not os.path.exists(disk_b), 30) and
             not alive(b.vmm_pid(NAME) or 0),
             "B: no domain, no vireo-vmm, no created disk", "listed=%s disk=%s" %
             (listed(b), os.path.exists(disk_b)))
        r = a.virsh("qemu-monitor-command", NAME, '{"execute": "query-block-jobs"}')
        t.ok(r.returncode == 0 and '"return": []' in r.stdout.replace('"return":[]',
                                                                      '"return": []'),
             "A: no mirror job left", r.stdout + r.stderr)
        return out

    def kill_b_vmm():
        pid = b.vmm_pid(NAME)
        if pid:
            os.kill(pid, signal.SIGKILL)

    failed_migration("the destination's VMM killed", kill_b_vmm, "virsh")
    out = failed_migration("domjobabort on the source",
                           lambda: a.virsh("domjobabort", NAME), "vsh")
    t.ok("canceled by client" in out, "domjobabort: the client hears libvirt's words", out)

    # ---- the client killed after the mirror started: B ends what it prepared, A runs on ----
    p = a.virsh_popen("migrate", "--live", "--copy-storage-all", NAME, b.uri, "--listen-address",
                      b.addr, "--xml", xml_b)
    started = wait_for(lambda: file_total(a) > 0 or p.poll() is not None, 120, 0.02)
    p.kill()
    p.wait()
    t.ok(started and wait_for(lambda: not listed(b) and not os.path.exists(disk_b), 60) and
         not alive(b.vmm_pid(NAME) or 0),
         "virsh killed after the mirror started: B has no domain, no VMM, no created disk",
         "started=%s listed=%s disk=%s" % (started, listed(b), os.path.exists(disk_b)))
    t.ok(wait_for(lambda: a.state(NAME).startswith("running") and
                  a.virsh("domjobinfo", NAME).stdout.find("None") >= 0, 120) and ticks_on(a, 2),
         "A: ms runs on once its migration failed", a.state(NAME) + a.virsh("domjobinfo",
                                                                              NAME).stdout)

    # ---- A -> B, virsh, --copy-storage-all --suspend ----
    r = a.virsh("migrate", "--live", "--copy-storage-all", "--suspend", "--verbose", NAME, b.uri,
                "--listen-address", b.addr, "--xml", xml_b, timeout=600)
    t.ok(r.returncode == 0, "virsh migrate --live --copy-storage-all A -> B", r.stdout + r.stderr)
    t.ok(b.state(NAME) == "paused (user)" and a.state(NAME) == "shut off (migrated)",
         "B: paused (--suspend); A: shut off (migrated)", b.state(NAME) + " / " + a.state(NAME))
    t.ok(os.path.exists(disk_b) and os.path.getsize(disk_b) == SIZE,
         "B created vda with the source's size", str(os.path.exists(disk_b)))
    r = subprocess.run(["qemu-img", "compare", "-f", "raw", "-F", "raw", disk_a, disk_b],
                       capture_output=True, text=True)
    t.ok(r.returncode == 0 and "Images are identical" in r.stdout,
         "qemu-img compare: A's and B's vda are identical", r.stdout + r.stderr)
    r = a.virsh("domjobinfo", NAME, "--completed", "--keep-completed")
    m = re.search(r"File total:\s+([\d.]+) MiB", r.stdout)
    t.ok(r.returncode == 0 and m and float(m.group(1)) >= 64 and
         re.search(r"Operation:\s+Outgoing migration", r.stdout),
         "A: domjobinfo --completed shows the disk copy (File total 64 MiB)", r.stdout + r.stderr)
    r = b.virsh("resume", NAME)
    t.ok(r.returncode == 0 and ticks_on(b, 3), "resumed on B, ms ticks", r.stderr)
    first_b = ticks(b.console_log(NAME))[:1]
    t.ok(first_b == [last_tick(a) + 1],
         "ticks consecutive across the hop (A's last %d, B's first %s)" % (last_tick(a), first_b))

    # ---- B -> A, vsh, --migrate-disks vda onto A's existing image ----
    shared_before = os.stat(shared).st_mtime_ns
    last_a = last_tick(a)
    r = b.vsh("migrate", "--live", "--copy-storage-all", "--migrate-disks", "vda", "--disks-port",
              "49300", NAME, a.vsh_uri, "--listen-address", a.addr, "--xml", xml_a, timeout=600)
    t.ok(r.returncode == 0,
         "vsh migrate --live --copy-storage-all --migrate-disks vda --disks-port 49300 B -> A",
         r.stdout + r.stderr)
    t.ok(wait_for(lambda: a.state(NAME) == "running (migrated)", 30) and ticks_on(a, 3),
         "A: running (migrated), ticking", a.state(NAME))
    new_a = [x for x in ticks(a.console_log(NAME)) if x > last_a]
    last_b = last_tick(b)
    t.ok(new_a[:1] == [last_tick(b) + 1],
         "ticks consecutive across the vsh hop (B's last %d, A's next %s)" %
         (last_tick(b), new_a[:1]))
    t.ok(os.stat(shared).st_mtime_ns == shared_before, "the shared vdb was not copied onto")
    t.ok(not listed(b), "B: the transient ms is gone")

    # ---- A -> B, virsh --p2p (the source daemon drives the destination), onto B's image ----
    last_a = last_tick(a)
    r = a.virsh("migrate", "--live", "--p2p", "--copy-storage-all",
                "--copy-storage-synchronous-writes", NAME, b.uri, "--listen-address", b.addr,
                "--xml", xml_b, timeout=600)
    t.ok(r.returncode == 0,
         "virsh migrate --live --p2p --copy-storage-all --copy-storage-synchronous-writes A -> B",
         r.stdout + r.stderr)
    t.ok(wait_for(lambda: b.state(NAME) == "running (migrated)", 30) and ticks_on(b, 3),
         "B: running (migrated), ticking", b.state(NAME))
    new_b = [x for x in ticks(b.console_log(NAME)) if x > last_b]
    t.ok(new_b[:1] == [last_tick(a) + 1],
         "ticks consecutive across the peer-to-peer hop (A's last %d, B's next %s)" %
         (last_tick(a), new_b[:1]))

    # ---- the guest's own end: its checks (memory pattern, last disk block) pass on B ----
    done, log = guest_end(b, NAME)  # a 'q' ends its run
    t.ok(done and "not ok" not in log and "disk write" in log,
         "the guest's final checks pass after the storage hops", log[-1200:])
    b.virsh("destroy", NAME)

    # ---- --copy-storage-inc: a qcow2 overlay over a base image each host has ----
    for h in hosts:
        base = os.path.join(h.tmp, "mi-base.raw")
        if h is a:
            with open(base, "wb") as f:
                f.write(os.urandom(16 << 20))
        else:
            shutil.copyfile(os.path.join(a.tmp, "mi-base.raw"), base)
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "raw",
                        os.path.join(h.tmp, "mi.qcow2")], check=True)
    top_a, top_b = os.path.join(a.tmp, "mi.qcow2"), os.path.join(b.tmp, "mi.qcow2")
    mi_disk = """    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='none'/>
      <source file='%s'/>
      <target dev='vda' bus='virtio'/>
    </disk>
"""
    mi = domain_xml("mi", GUEST, "tests=state state_mib=4 seed=12 state_ticks=100000",
                    mi_disk % top_a, memory_mib=128)
    r = a.virsh("create", a.write("mi.xml", mi))
    t.ok(r.returncode == 0 and wait_for(lambda: "tick=3 " in a.console_log("mi"), 180),
         "mi runs on A on a qcow2 overlay", r.stderr + a.console_log("mi")[-300:])
    mig = a.virsh("dumpxml", "--migratable", "mi").stdout
    r = a.virsh("migrate", "--live", "--copy-storage-inc", "--suspend", "mi", b.uri,
                "--listen-address", b.addr, "--xml", a.write("mi-b.xml", mig.replace(top_a, top_b)),
                timeout=600)
    t.ok(r.returncode == 0 and b.state("mi") == "paused (user)",
         "virsh migrate --live --copy-storage-inc A -> B", r.stdout + r.stderr)
    r = subprocess.run(["qemu-img", "compare", "-U", top_a, top_b], capture_output=True, text=True)
    t.ok(r.returncode == 0 and "Images are identical" in r.stdout,
         "qemu-img compare: the guest sees the same disk on both hosts", r.stdout + r.stderr)
    t.ok(os.path.getsize(top_b) < (8 << 20),
         "only the overlay's data was copied (B's overlay is %d bytes, the base 16 MiB)" %
         os.path.getsize(top_b))
    r = b.virsh("resume", "mi")
    t.ok(r.returncode == 0 and ticks_on_named(b, "mi", 2), "mi ticks on B", r.stderr)
    b.virsh("destroy", "mi")
except Exception as e:  # noqa: BLE001
    t.ok(False, "unexpected: %r" % e)
    import traceback
    t.diag(traceback.format_exc())
finally:
    end(t, hosts, [NAME, "mi"], fabric)
