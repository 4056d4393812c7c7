#!/usr/bin/python3
"""Block statistics of a running domain against vireod: virsh domblkstat, libvirt-python.

Usage: test-daemon-stats.py VIREOD VIREO_VMM TEST_GUEST_ELF VSH

A domain with two virtio disks runs the test guest's virtio-blk tests on vda. Then
`virsh domblkstat DOM vda` prints libvirt's lines (rd_req, rd_bytes, wr_req, wr_bytes,
flush_operations and the three total times) with the counts its vireo-vmm keeps (read back
through qemu-monitor-command's query-blockstats), by target and by source path; the untouched
vdb counts nothing; no path sums every disk; --human prints libvirt's words; libvirt-python's
blockStats gives errs -1 and blockStatsFlags libvirt's QEMU driver's parameters in its order;
an unknown path and a shut-off domain are refused with libvirt's lines. vsh prints what the
stock virsh prints for each of those commands, byte for byte.
"""
import json
import os
import re
import sys

from daemonlib import Daemon, Tap, domain_xml, wait_for

t = Tap()
FIELDS = [("rd_req", "rd_operations"), ("rd_bytes", "rd_bytes"), ("wr_req", "wr_operations"),
          ("wr_bytes", "wr_bytes"), ("flush_operations", "flush_operations"),
          ("rd_total_times", "rd_total_time_ns"), ("wr_total_times", "wr_total_time_ns"),
          ("flush_total_times", "flush_total_time_ns")]


def parse(out, dev):
    vals = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == dev:
            vals[parts[1]] = int(parts[2])
    return vals


def main():
    vireod, vmm, guest, vsh = sys.argv[1:5]
    d = Daemon(vireod, vmm, vsh)
    d.start()
    try:
        disks = []
        for n in ("a", "b"):
            p = os.path.join(d.tmp, f"stats-{n}.raw")
            with open(p, "wb") as f:
                f.truncate(8 << 20)
            disks.append(p)
        devices = "".join(
            f"    <disk type='file' device='disk'><driver name='qemu' type='raw'/>"
            f"<source file='{p}'/><target dev='vd{n}' bus='virtio'/></disk>\n"
            for p, n in zip(disks, "ab"))
        x = d.write("st.xml", domain_xml("st", guest, "tests=blk", devices))
        t.ok(d.virsh("define", x).returncode == 0, "define")
        r = d.virsh("domblkstat", "st", "vda")
        t.ok(r.returncode != 0 and "domain is not running" in r.stderr,
             "shut off: libvirt's 'domain is not running'", r.stderr)
        t.ok(d.virsh("start", "st").returncode == 0, "start")
        # the guest's TAP plan: every blk test is over (the in-flight ones come after the
        # reset check), so the counters read twice below cannot move in between
        done = wait_for(lambda: re.search(r"^1\.\.\d+", d.console_log("st"), re.M), limit=120)
        t.ok(done, "the guest's virtio-blk tests ran on vda", d.console_log("st")[-1500:])
        wait_for(lambda: False, limit=0.5)
        r = d.virsh("domblkstat", "st", "vda")
        got = parse(r.stdout, "vda")
        mon = d.virsh("qemu-monitor-command", "st", '{"execute":"query-blockstats"}')
        stats = {e["device"]: e["stats"] for e in json.loads(mon.stdout)["return"]}
        want = {k: stats["drive-virtio-disk0"][q] for k, q in FIELDS}
        t.ok(r.returncode == 0 and list(got) == [k for k, _ in FIELDS] and got == want,
             "domblkstat vda: libvirt's lines with the VMM's counts", (r.stdout, want))
        t.ok(got.get("rd_req", 0) > 0 and got.get("wr_req", 0) > 0 and got["rd_bytes"] > 0,
             "the guest's reads and writes are counted", got)
        r = d.virsh("domblkstat", "st", disks[0])
        t.ok(parse(r.stdout, disks[0]) == want, "by the source path: the same disk", r.stdout)
        r = d.virsh("domblkstat", "st", "vdb")
        t.ok(r.returncode == 0 and parse(r.stdout, "vdb").get("rd_req", -1) == 0 and
             parse(r.stdout, "vdb").get("wr_bytes", -1) == 0, "vdb, untouched, counts nothing",
             r.stdout)
        r = d.virsh("domblkstat", "st")
        total = {k: int(v) for k, v in (line.split() for line in r.stdout.splitlines() if line)}
        t.ok(r.returncode == 0 and total.get("rd_req") == want["rd_req"] and
             total.get("wr_bytes") == want["wr_bytes"], "no path: every disk summed", r.stdout)
        r = d.virsh("domblkstat", "st", "vda", "--human")
        t.ok(r.returncode == 0 and r.stdout.startswith("Device: vda\n number of read operations:")
             and f"number of bytes written:        {want['wr_bytes']}" in r.stdout,
             "--human: libvirt's words", r.stdout)
        r = d.virsh("domblkstat", "st", "nosuch")
        t.ok(r.returncode != 0 and "invalid argument: invalid path: nosuch" in r.stderr,
             "an unknown disk: libvirt's 'invalid path'", r.stderr)
        for args in (["st", "vda"], ["st", "vda", "--human"], ["st"], ["st", disks[1]],
                     ["st", "nosuch"]):
            a = d.virsh("domblkstat", *args)
            b = d.vsh("domblkstat", *args)
            t.ok((a.returncode, a.stdout, a.stderr) == (b.returncode, b.stdout, b.stderr),
                 "vsh domblkstat %s prints what virsh prints" % " ".join(args), (a, b))
        import libvirt
        conn = libvirt.open(d.uri)
        dom = conn.lookupByName("st")
        legacy = dom.blockStats("vda")
        t.ok(legacy == (want["rd_req"], want["rd_bytes"], want["wr_req"], want["wr_bytes"], -1),
             "libvirt-python blockStats: (rd_req, rd_bytes, wr_req, wr_bytes, errs -1)", legacy)
        flags = dom.blockStatsFlags("vda", 0)
        t.ok(list(flags) == ["wr_bytes", "wr_operations", "rd_bytes", "rd_operations",
                             "flush_operations", "wr_total_times", "rd_total_times",
                             "flush_total_times"] and flags["rd_bytes"] == want["rd_bytes"],
             "blockStatsFlags: libvirt's QEMU driver's parameters, in its order", flags)
        conn.close()
        d.virsh("destroy", "st")
        d.virsh("undefine", "st")
    finally:
        d.cleanup(["st"])
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
