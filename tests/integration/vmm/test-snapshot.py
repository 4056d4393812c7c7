#!/usr/bin/env python3
"""Internal snapshots with VM state: QMP snapshot-save / snapshot-load / snapshot-delete.

Usage: test-snapshot.py TEST_GUEST_ELF VMM...

The continuity guest (tests=state, t-state.c) runs on a qcow2 disk. Its state is saved as
snapshot 'snap1' inside the disk's VM state area after a few ticks: the job's
JOB_STATUS_CHANGE events and query-jobs follow QEMU's sequence, and qemu-img snapshot -l
(QEMU's own reader) lists the snapshot with a non-zero VM SIZE. The guest runs on, then
snapshot-load takes it back: its ticks restart after the saved one and it finishes with
its continuity checks passing (memory pattern, counters, the disk's last acknowledged
write, time). A second VMM, started paused (-S), loads the same snapshot from the image
and runs it to the end too; a third deletes it, after which the image lists none and
qemu-img check finds nothing wrong. Then blockdev-snapshot-sync puts a new qcow2 overlay on
the disk while the guest writes to it (query-block shows the chain, the old image stops
changing, the guest's checks pass). Refusals: a tag already present, a tag absent, a raw
disk (no snapshots), a vmstate node that is not among the devices.
"""
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time

from vmmlib import Guest, Qmp, Tap, state_ticks

SEED = 5
MIB = 8
TICKS = 400  # about 0.1 s each: long enough to act while it runs
SAVE_AT = 4
tap = Tap()
check = tap.check
guests = []  # every VMM started, killed at the end whatever happened


def start(c):
    g = Guest(c)
    guests.append(g)
    return g


def cmd(vmm, elf, disk, raw, sock, extra=()):
    return shlex.split(vmm) + [
        "-nodefaults", "-display", "none", "-serial", "stdio", "-m", "128M",
        "-kernel", elf,
        "-append", f"tests=state state_mib={MIB} seed={SEED} state_ticks={TICKS}",
        "-drive", f"file={disk},format=qcow2,if=none,id=d0,node-name=n0",
        "-device", "virtio-blk-pci,drive=d0",
        "-drive", f"file={raw},format=raw,if=none,id=d1,node-name=n1",
        "-device", "virtio-blk-pci,drive=d1",
        "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
        "-qmp", f"unix:{sock},server=on,wait=off"] + list(extra)


def ticks(text):
    return state_ticks(text)


def run_job(q, verb, args):
    """Runs a job to its end; returns (reply, final query-jobs entry, statuses seen)."""
    q.events.clear()
    r = q.cmd(verb, args)
    if "error" in r:
        return r, None, []
    job = None
    for _ in range(1200):
        jobs = q.cmd("query-jobs")["return"]
        job = next((j for j in jobs if j["id"] == args["job-id"]), None)
        if job and job["status"] == "concluded":
            break
        time.sleep(0.05)
    def seen():
        return [e["data"]["status"] for e in q.events
                if e.get("event") == "JOB_STATUS_CHANGE" and e["data"]["id"] == args["job-id"]]
    wait_event(q, lambda: "concluded" in seen())  # events may follow the last reply
    return r, job, seen()


def wait_event(q, cond, tries=100):
    for _ in range(tries):
        if cond():
            return True
        q.cmd("query-status")
        time.sleep(0.02)
    return False


def dismiss(q, job_id):
    q.events.clear()
    r = q.cmd("job-dismiss", {"id": job_id})
    return "return" in r and wait_event(q, lambda: any(
        e.get("event") == "JOB_STATUS_CHANGE" and e["data"] == {"id": job_id, "status": "null"}
        for e in q.events))


def snapshot_list(disk):
    p = subprocess.run(["qemu-img", "snapshot", "-U", "-l", disk], capture_output=True,
                       text=True)
    return p.stdout + p.stderr


def vm_size_of(listing, tag):
    """The VM SIZE column of tag's row in qemu-img snapshot -l ('0 B' when none)."""
    for line in listing.splitlines():
        f = line.split()
        if len(f) >= 2 and f[1] == tag:
            m = re.match(r"\s*\S+\s+\S+\s+([0-9.]+ ?[KMGT]?i?B)", line)
            return m.group(1) if m else None
    return None


def wait_status(q, want, tries=200):
    st = None
    for _ in range(tries):
        st = q.cmd("query-status")["return"]["status"]
        if st == want:
            break
        time.sleep(0.05)
    return st


def first_vmm(vmm, elf, tmp, disk, raw):
    sock = os.path.join(tmp, "a.sock")
    g = start(cmd(vmm, elf, disk, raw, sock))
    if not check(g.wait_line(f"tick={SAVE_AT} ", timeout=120), "the guest reaches its ticks",
                 g.text()):
        g.kill()
        return False
    q = Qmp(sock)
    r, job, seen = run_job(q, "snapshot-save", {"job-id": "s1", "tag": "snap1",
                                                "vmstate": "n0", "devices": ["n0"]})
    check("return" in r and job and job["status"] == "concluded" and "error" not in job,
          "snapshot-save: the job concludes without error", (r, job))
    check(seen == ["created", "running", "waiting", "pending", "concluded"],
          "snapshot-save: JOB_STATUS_CHANGE created, running, waiting, pending, concluded",
          seen)
    check(job and job.get("type") == "snapshot-save", "query-jobs: type snapshot-save", job)
    saved = max(ticks(g.text()) or [0])
    check(dismiss(q, "s1"), "job-dismiss: the job goes (status null)")
    check(q.cmd("query-jobs")["return"] == [], "query-jobs: empty after job-dismiss")
    check(wait_status(q, "running") == "running", "snapshot-save: the VM runs on")
    listing = snapshot_list(disk)
    size = vm_size_of(listing, "snap1")
    check(size and not size.startswith("0 "),
          f"qemu-img snapshot -l: snap1 has a non-zero VM SIZE ({size})", listing)
    vireo_img = os.environ.get("VIREO_IMG")
    if vireo_img:
        p = subprocess.run([vireo_img, "snapshot", "-U", "-l", disk], capture_output=True,
                           text=True)
        check(p.stdout == listing, "vireo-img snapshot -l lists it as qemu-img does",
              p.stdout + p.stderr + "\n---\n" + listing)

    # Refusals, each a job that concludes with QEMU's error.
    for name, verb, args, want in (
            ("a tag already present", "snapshot-save",
             {"job-id": "e1", "tag": "snap1", "vmstate": "n0", "devices": ["n0"]},
             "Snapshot 'snap1' already exists in one or more devices"),
            ("a raw disk", "snapshot-save",
             {"job-id": "e2", "tag": "x", "vmstate": "n1", "devices": ["n1"]},
             "Device 'd1' is writable but does not support snapshots"),
            ("an absent tag", "snapshot-load",
             {"job-id": "e3", "tag": "nope", "vmstate": "n0", "devices": ["n0"]},
             "Snapshot 'nope' does not exist in one or more devices")):
        r, job, seen = run_job(q, verb, args)
        check(job and job["status"] == "concluded" and want in job.get("error", "") and
              seen == ["created", "running", "aborting", "concluded"],
              f"{verb} refused: {name}", (r, job, seen))
        dismiss(q, args["job-id"])
    r, job, seen = run_job(q, "snapshot-save",
                           {"job-id": "e5", "tag": "y", "vmstate": "n0", "devices": []})
    check(job and "error" in job, "snapshot-save refused: vmstate node not among the devices",
          job)
    if "qemu-system" in vmm:
        # QEMU leaves the VM stopped after a failed snapshot-load, even one refused before
        # anything changed; vireo-vmm lets it run on then (docs/state.md says why).
        check(q.cmd("query-status")["return"]["status"] == "restore-vm",
              "QEMU: stopped (restore-vm) after the refused snapshot-load")
        q.cmd("cont")
    check(wait_status(q, "running") == "running", "after the refusals the VM runs on")

    # Run on a few ticks, then back to the snapshot.
    later = saved + 4
    check(g.wait_line(f"tick={later} ", timeout=120), f"the guest runs on to tick {later}")
    r, job, seen = run_job(q, "snapshot-load", {"job-id": "l1", "tag": "snap1",
                                                "vmstate": "n0", "devices": ["n0"]})
    check(job and job["status"] == "concluded" and "error" not in job,
          "snapshot-load: the job concludes without error", (r, job, seen))
    check(wait_status(q, "running") == "running", "snapshot-load: the VM runs again")
    status, out, err = g.finish(timeout=240)
    t = ticks(out)
    drop = next((i for i in range(1, len(t)) if t[i] <= t[i - 1]), None)
    ok = (drop is not None and t[:drop] == list(range(1, t[drop - 1] + 1)) and
          SAVE_AT < t[drop] <= saved + 1 and
          t[drop:] == list(range(t[drop], TICKS + 1)))
    check(ok, "snapshot-load: ticks go back to just after the saved one and on to the end",
          f"saved at {saved}: {t}")
    check(status == 1 and "not ok" not in out and f"the whole {MIB} MiB pattern is intact" in out,
          f"snapshot-load: the guest's continuity checks pass (exit {status})", out + err)
    return True


def second_vmm(vmm, elf, tmp, disk, raw):
    """A fresh VMM, paused, loads the snapshot from the image and runs it to the end."""
    sock = os.path.join(tmp, "b.sock")
    g = start(cmd(vmm, elf, disk, raw, sock, ["-S"]))
    q = Qmp(sock)
    r, job, seen = run_job(q, "snapshot-load", {"job-id": "l2", "tag": "snap1",
                                                "vmstate": "n0", "devices": ["n0"]})
    check(job and job["status"] == "concluded" and "error" not in job,
          "a new VMM (-S): snapshot-load concludes", (r, job, seen))
    check(q.cmd("query-status")["return"]["status"] == "prelaunch",
          "a new VMM (-S): still paused after the load")
    q.cmd("cont")
    status, out, err = g.finish(timeout=240)
    t = ticks(out)
    check(t and t[0] > SAVE_AT and t == list(range(t[0], TICKS + 1)),
          "a new VMM: the guest goes on from the snapshot's tick", t)
    check(status == 1 and "not ok" not in out and f"the whole {MIB} MiB pattern is intact" in out,
          f"a new VMM: the guest's continuity checks pass (exit {status})", out + err)


def third_vmm(vmm, elf, tmp, disk, raw):
    sock = os.path.join(tmp, "c.sock")
    g = start(cmd(vmm, elf, disk, raw, sock, ["-S"]))
    q = Qmp(sock)
    r, job, seen = run_job(q, "snapshot-delete", {"job-id": "d1", "tag": "snap1",
                                                  "devices": ["n0"]})
    check(job and job["status"] == "concluded" and "error" not in job,
          "snapshot-delete: the job concludes", (r, job, seen))
    check(vm_size_of(snapshot_list(disk), "snap1") is None,
          "snapshot-delete: qemu-img snapshot -l no longer lists it", snapshot_list(disk))
    q.cmd("quit")
    g.finish(timeout=30)
    p = subprocess.run(["qemu-img", "check", disk], capture_output=True, text=True)
    check(p.returncode == 0 and "No errors were found" in p.stdout,
          "qemu-img check: the image is clean after save, load and delete", p.stdout + p.stderr)


def sha(path):
    import hashlib
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def overlay_vmm(vmm, elf, tmp, disk, raw):
    """blockdev-snapshot-sync while the guest writes: a new overlay takes the writes, the old
    image stops changing, query-block shows the chain, the guest's checks pass."""
    sock = os.path.join(tmp, "d.sock")
    ov = os.path.join(tmp, "overlay.qcow2")
    g = start(cmd(vmm, elf, disk, raw, sock))
    if not check(g.wait_line(f"tick={SAVE_AT} ", timeout=120), "overlay: the guest ticks"):
        g.kill()
        return
    q = Qmp(sock)
    r = q.cmd("blockdev-snapshot-sync", {"device": "d9", "snapshot-file": ov})
    check(r.get("error", {}).get("desc") == "Cannot find device='d9' nor node-name=''",
          "blockdev-snapshot-sync refused: an unknown device", r)
    missing = os.path.join(tmp, "none.qcow2")
    r = q.cmd("blockdev-snapshot-sync", {"device": "d0", "snapshot-file": missing,
                                         "mode": "existing"})
    check("error" in r and not os.path.exists(missing),
          "blockdev-snapshot-sync refused: mode existing with no file", r)
    nodir = os.path.join(tmp, "nodir", "o.qcow2")
    r = q.cmd("blockdev-snapshot-sync", {"device": "d0", "snapshot-file": nodir})
    check("error" in r, "blockdev-snapshot-sync refused: a directory that does not exist", r)
    r = q.cmd("blockdev-snapshot-sync", {"node-name": "n0", "snapshot-file": ov,
                                         "snapshot-node-name": "ov0", "format": "qcow2"})
    check(r == {"return": {}}, "blockdev-snapshot-sync: a new overlay while the guest runs", r)
    base_at_switch = sha(disk)
    blk = next((b for b in q.cmd("query-block")["return"] if b["device"] == "d0"), {})
    ins = blk.get("inserted", {})
    check(ins.get("file") == ov and ins.get("node-name") == "ov0" and
          ins.get("backing_file") == os.path.realpath(disk) and
          ins.get("backing_file_depth") == 1 and ins.get("image", {}).get("format") == "qcow2",
          "query-block: the overlay on top, the old image as its backing file", blk)
    check(q.cmd("query-status")["return"]["status"] == "running",
          "blockdev-snapshot-sync: the VM ran on")
    status, out, err = g.finish(timeout=240)
    check(status == 1 and "not ok" not in out and "the last acknowledged disk write" in out,
          f"overlay: the guest's continuity checks pass, disk included (exit {status})",
          out + err)
    check(sha(disk) == base_at_switch, "overlay: the old image did not change after the switch")
    p = subprocess.run(["qemu-img", "info", "--backing-chain", "-U", ov], capture_output=True,
                       text=True)
    check(p.returncode == 0 and f"backing file: {os.path.realpath(disk)}" in p.stdout and
          "backing file format: qcow2" in p.stdout,
          "qemu-img info: the overlay's backing file is the old image", p.stdout + p.stderr)
    p = subprocess.run(["qemu-img", "check", ov], capture_output=True, text=True)
    check(p.returncode == 0 and "No errors were found" in p.stdout,
          "qemu-img check: the overlay is clean", p.stdout + p.stderr)


def main():
    elf, vmm = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="vireo-snap-", dir=os.environ.get("MESON_BUILD_ROOT"))
    try:
        disk = os.path.join(tmp, "disk.qcow2")
        raw = os.path.join(tmp, "disk.raw")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", disk, "1M"], check=True)
        with open(raw, "wb") as f:
            f.truncate(1 << 20)
        if first_vmm(vmm, elf, tmp, disk, raw):
            second_vmm(vmm, elf, tmp, disk, raw)
            third_vmm(vmm, elf, tmp, disk, raw)
        overlay_vmm(vmm, elf, tmp, disk, raw)
    finally:
        for g in guests:
            if g.p.poll() is None:
                g.kill()
        tap.report()
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
