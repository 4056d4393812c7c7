#!/usr/bin/python3
"""I/O threads through vireod (issue #16): <iothreads>, <driver iothread=>, <iothreadpin>,
iothreadinfo and iothreadpin with the stock virsh and vsh, checked against the kernel's view.

Usage: test-daemon-iothreads.py VIREOD VIREO_VMM TEST_GUEST_ELF VSH

A domain with two I/O threads, its disk vda on the second (pinned to CPU 0 by <iothreadpin>)
runs the test guest's virtio-blk tests. Checked in /proc and the cgroup files: the VMM has two
threads named "IO iothreadN" whose ids are those QMP query-iothreads gives; each is alone in
its iothreadN group; the pinned one's Cpus_allowed_list and cpuset.cpus are CPU 0; the disk's
requests were served by iothread2 (it woke up, iothread1 did not); the guest's tests pass.
iothreadinfo (live and --config) prints virsh's table with both clients; iothreadpin --live
moves the thread at once, --config is seen after the next start; emulatorpin leaves the I/O
threads alone; schedinfo iothread_quota reaches every iothreadN group. Refusals: a disk on a
bus that cannot take an I/O thread, an I/O thread the domain lacks.
"""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import Daemon, Tap, domain_xml, skip_all, wait_for  # noqa: E402

VIREOD, VMM, GUEST, VSH = sys.argv[1:5]
GUEST = os.path.abspath(GUEST)
t = Tap()
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("no /dev/kvm")
if not shutil.which("virsh"):
    skip_all("no virsh")

NCPU = os.cpu_count() or 1
ALL = "0" if NCPU == 1 else "0-%d" % (NCPU - 1)
LAST = str(NCPU - 1)
d = Daemon(VIREOD, VMM, VSH)
names = []


def read(path):
    try:
        return open(path).read().strip()
    except OSError:
        return None


def status_field(pid, tid, field):
    try:
        for line in open("/proc/%d/task/%d/status" % (pid, tid)):
            if line.startswith(field + ":"):
                return line.split()[1]
    except OSError:
        pass
    return None


def iothreads(pid):
    """{N: tid} of the threads named 'IO iothreadN'."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        comm = read("/proc/%d/task/%s/comm" % (pid, tid)) or ""
        if comm.startswith("IO iothread"):
            out[int(comm[len("IO iothread"):])] = int(tid)
    return out


def group_dir(pid, ctrl):
    """The directory of the domain's group for a controller (v1) or the unified tree (v2)."""
    for line in open("/proc/%d/cgroup" % pid):
        _, ctrls, path = line.strip().split(":", 2)
        names_ = ctrls.split(",") if ctrls else []
        if (ctrl in names_) or (not ctrls and not any(
                ctrl in ln.split(":")[1].split(",") for ln in open("/proc/%d/cgroup" % pid))):
            base = "/sys/fs/cgroup/" + ctrls if ctrls else "/sys/fs/cgroup"
            if not os.path.isdir(base + path):
                base = "/sys/fs/cgroup/" + ctrl
            full = base + path
            return full[:-len("/emulator")] if full.endswith("/emulator") else full
    return None


def members(pid, sub):
    v1 = group_dir(pid, "cpu")
    for f in ("tasks", "cgroup.threads"):
        text = read(os.path.join(v1, sub, f))
        if text is not None:
            return set(int(x) for x in text.split())
    return None


def both(*args):
    a, b = d.virsh(*args), d.vsh(*args)
    return a, (a.returncode, a.stdout, a.stderr.strip()) == (b.returncode, b.stdout,
                                                              b.stderr.strip()), b


def loud(tool, *args):
    cmd = ["virsh", "-c", d.uri] if tool == "virsh" else [VSH, "-c", d.vsh_uri]
    return subprocess.run(cmd + list(args), env=d.env, capture_output=True, text=True,
                          timeout=60)


def rows(text):
    return [ln.split() for ln in text.splitlines() if ln.strip()]


def qmp(name, cmd):
    r = d.virsh("qemu-monitor-command", name, json.dumps({"execute": cmd}))
    try:
        return json.loads(r.stdout)["return"]
    except (ValueError, KeyError):
        return r.stdout + r.stderr


def main():
    d.start()
    disk = os.path.join(d.tmp, "iot.raw")
    with open(disk, "wb") as f:
        f.truncate(8 << 20)
    devices = ("    <disk type='file' device='disk'><driver name='qemu' type='raw' "
               f"iothread='2'/><source file='{disk}'/><target dev='vda' bus='virtio'/></disk>\n")
    extra = ("  <iothreads>2</iothreads>\n"
             "  <cputune><iothreadpin iothread='2' cpuset='0'/></cputune>\n")
    names.append("iot")
    x = d.write("iot.xml", domain_xml("iot", GUEST, "tests=blk", devices, extra=extra))
    r = d.virsh("define", x)
    t.ok(r.returncode == 0, "define a domain with two I/O threads, vda on the second", r.stderr)
    r, same, b = both("iothreadinfo", "iot")
    t.ok(r.returncode == 0 and rows(r.stdout) == [["1", ALL], ["2", "0"]] and same,
         "iothreadinfo of the shut-off domain: the config's pins, vsh alike",
         r.stdout + r.stderr + b.stdout + b.stderr)
    r = d.virsh("start", "iot")
    t.ok(r.returncode == 0, "start", r.stderr)
    pid = d.vmm_pid("iot")
    its = iothreads(pid)
    q = qmp("iot", "query-iothreads")
    t.ok(sorted(its) == [1, 2] and isinstance(q, list) and
         {e["id"]: e["thread-id"] for e in q} == {"iothread1": its[1], "iothread2": its[2]},
         "two threads named 'IO iothreadN', the ids query-iothreads gives", (its, q))
    done = wait_for(lambda: "works again after a reset" in d.console_log("iot"), limit=120)
    log = d.console_log("iot")
    t.ok(done and "not ok" not in log, "the guest's virtio-blk tests pass on vda",
         log[-1500:])
    sw = {n: int(status_field(pid, tid, "voluntary_ctxt_switches") or 0)
          for n, tid in its.items()}
    t.ok(sw[2] >= 10 and sw[1] <= 2, "vda's requests were served on iothread2, not iothread1",
         sw)
    t.ok(status_field(pid, its[2], "Cpus_allowed_list") == "0" and
         status_field(pid, its[1], "Cpus_allowed_list") == ALL,
         "<iothreadpin iothread='2' cpuset='0'>: that thread's affinity only",
         {n: status_field(pid, tid, "Cpus_allowed_list") for n, tid in its.items()})
    m = {n: members(pid, "iothread%d" % n) for n in (1, 2)}
    t.ok(m == {1: {its[1]}, 2: {its[2]}}, "each I/O thread alone in its iothreadN group", m)
    emu = members(pid, "emulator") or set()
    t.ok(not (emu & set(its.values())), "the emulator group does not hold them", emu)
    cpuset = read(os.path.join(group_dir(pid, "cpuset") or "", "iothread2", "cpuset.cpus"))
    t.ok(cpuset in ("0", None) if NCPU > 1 else True,
         "iothread2's group has cpuset.cpus 0 (where the cpuset controller is)", cpuset)

    r, same, b = both("iothreadinfo", "iot")
    t.ok(r.returncode == 0 and rows(r.stdout) == [["1", ALL], ["2", "0"]] and same,
         "iothreadinfo --live: the kernel's affinity, vsh alike", r.stdout + b.stdout + r.stderr)
    r = loud("virsh", "iothreadinfo", "iot")
    b = loud("vsh", "iothreadinfo", "iot")
    t.ok(r.stdout.startswith(" IOThread ID   CPU Affinity\n") and r.stdout == b.stdout,
         "without -q: virsh's header, vsh alike", r.stdout + b.stdout)
    r = d.virsh("iothreadpin", "iot", "1", LAST, "--live")
    t.ok(r.returncode == 0 and status_field(pid, its[1], "Cpus_allowed_list") == LAST,
         "iothreadpin --live 1 LAST: in Cpus_allowed_list at once", r.stderr)
    r = d.vsh("iothreadpin", "iot", "2", ALL, "--config")
    t.ok(r.returncode == 0 and status_field(pid, its[2], "Cpus_allowed_list") == "0",
         "vsh iothreadpin --config 2: the running thread is left alone", r.stderr)
    r, same, b = both("iothreadinfo", "iot", "--config")
    t.ok(rows(r.stdout) == [["1", ALL], ["2", ALL]] and same,
         "iothreadinfo --config shows the next boot's pins", r.stdout + b.stdout)
    r = d.virsh("emulatorpin", "iot", "--live", "0")
    t.ok(r.returncode == 0 and status_field(pid, its[1], "Cpus_allowed_list") == LAST,
         "emulatorpin --live leaves the I/O threads alone", r.stderr)
    r = d.vsh("schedinfo", "iot", "--live", "iothread_quota=30000")
    quotas = []
    for n in (1, 2):
        g = group_dir(pid, "cpu")
        v1 = read(os.path.join(g, "iothread%d" % n, "cpu.cfs_quota_us"))
        v2 = read(os.path.join(g, "iothread%d" % n, "cpu.max"))
        quotas.append(v1 if v1 is not None else (v2 or "").split(" ")[0])
    t.ok(r.returncode == 0 and "iothread_quota : 30000" in r.stdout and
         quotas == ["30000", "30000"],
         "schedinfo --live iothread_quota: every iothreadN group", (r.stdout, r.stderr, quotas))
    r, same, b = both("iothreadpin", "iot", "7", "0", "--live")
    t.ok(r.returncode != 0 and "IOThread '7'" in r.stderr and same,
         "iothreadpin of an I/O thread the domain lacks: refused", r.stderr + b.stderr)

    d.virsh("destroy", "iot")
    r = d.virsh("start", "iot")
    pid = d.vmm_pid("iot")
    its = iothreads(pid) if pid else {}
    t.ok(r.returncode == 0 and its and
         status_field(pid, its[2], "Cpus_allowed_list") == ALL,
         "after a restart the --config pin is in force", r.stderr)

    # iothreadadd / iothreadset / iothreaddel, live and config
    r = d.virsh("iothreadadd", "iot", "3", "--live")
    its = iothreads(pid)
    q = qmp("iot", "query-iothreads")
    t.ok(r.returncode == 0 and sorted(its) == [1, 2, 3] and
         {e["id"]: e["thread-id"] for e in q}.get("iothread3") == its.get(3),
         "iothreadadd --live 3: a thread named 'IO iothread3' (object-add)", (r.stderr, its, q))
    t.ok(members(pid, "iothread3") == {its.get(3)}, "in its own iothread3 group",
         members(pid, "iothread3"))
    r = d.virsh("iothreadinfo", "iot")
    t.ok([row[0] for row in rows(r.stdout)] == ["1", "2", "3"], "iothreadinfo lists it",
         r.stdout)
    r = d.virsh("iothreadset", "iot", "3", "--poll-max-ns", "1000", "--poll-grow", "4")
    q = {e["id"]: e for e in qmp("iot", "query-iothreads")}
    t.ok(r.returncode == 0 and q["iothread3"]["poll-max-ns"] == 1000 and
         q["iothread3"]["poll-grow"] == 4, "iothreadset --poll-max-ns/--poll-grow: qom-set live",
         (r.stderr, q.get("iothread3")))
    r = d.vsh("iothreadset", "iot", "3", "--poll-shrink", "2")
    q = {e["id"]: e for e in qmp("iot", "query-iothreads")}
    t.ok(r.returncode == 0 and q["iothread3"]["poll-shrink"] == 2 and
         q["iothread3"]["poll-max-ns"] == 1000, "vsh iothreadset --poll-shrink", r.stderr)
    r, same, b = both("iothreaddel", "iot", "2", "--live")
    t.ok(r.returncode != 0 and "being used by disk 'vda'" in r.stderr and 2 in iothreads(pid) and
         same, "iothreaddel of the disk's thread: refused, vsh alike", r.stderr + b.stderr)
    r = d.vsh("iothreaddel", "iot", "3", "--live")
    t.ok(r.returncode == 0 and sorted(iothreads(pid)) == [1, 2] and
         "<iothreads>2</iothreads>" in d.virsh("dumpxml", "iot").stdout,
         "vsh iothreaddel --live 3: the thread is gone (object-del)", r.stderr)
    r = d.virsh("iothreadadd", "iot", "3", "--config")
    t.ok(r.returncode == 0 and sorted(iothreads(pid)) == [1, 2] and
         "<iothreads>3</iothreads>" in d.virsh("dumpxml", "--inactive", "iot").stdout,
         "iothreadadd --config: the next boot's count only", r.stderr)
    r = d.virsh("iothreadadd", "iot", "3", "--config")
    t.ok(r.returncode != 0 and "already using iothread_id '3'" in r.stderr,
         "iothreadadd of an id in use: refused", r.stderr)
    d.virsh("destroy", "iot")

    scsi = ("    <controller type='scsi' model='virtio-scsi'/>\n"
            "    <disk type='file' device='disk'><driver name='qemu' type='raw' iothread='1'/>"
            f"<source file='{disk}'/><target dev='sda' bus='scsi'/></disk>\n")
    names.append("iotscsi")
    x = d.write("iotscsi.xml", domain_xml("iotscsi", GUEST, "tests=none", scsi,
                                          extra="  <iothreads>1</iothreads>\n"))
    d.virsh("define", x)
    r = d.virsh("start", "iotscsi")
    t.ok(r.returncode != 0 and r.stderr.strip().splitlines()[-1].endswith(
        "IOThreads only available for virtio pci and virtio ccw disk") and
         len(r.stderr.strip().splitlines()) == 2 and d.state("iotscsi").startswith("shut off"),
         "a SCSI disk with an I/O thread is refused in one line", r.stderr)


try:
    main()
except Exception as e:  # a crash of the test is a failure, with the daemon's log
    t.ok(False, "the test ran to its end", repr(e))
    d.dump_log()
finally:
    for n in names:
        d.virsh("destroy", n)
    if t.failed:
        d.dump_log()
    d.cleanup(names)
t.done()
