#!/usr/bin/env python3
"""Guest NUMA: -object memory-backend-*, -numa node|dist|cpu|hmat-lb|hmat-cache under
vireo-vmm and QEMU.

Usage: test-numa.py VMM GUEST_ELF RUN_GUEST

For each layout below the test guest (tests=numa) prints the ACPI SRAT's
vCPU and memory-range nodes and the SLIT's distances. Those lines must be
what the command line says (computed here: node 0's memory first, the 640 KiB
hole cut out, distances filled symmetrically) and the same as QEMU 7.2's for
the same -numa options (its pc machine: QEMU's microvm has no SRAT). With
-M hmat=on the guest also prints the ACPI HMAT (node initiators, latencies and
bandwidths per initiator/target, memory-side caches): one layout's lines are
written out here from its numbers, and each layout's must equal QEMU 7.2's. Then
vireo-vmm alone: /proc/PID/numa_maps shows the backends' host policies
(bind:0, interleave:0, prefer:0) and a prealloc=on backend's pages on node 0;
QMP query-memdev and query-cpus-fast's node-id against QEMU's; and each bad
command line is refused with QEMU's message. Prints TAP.
"""
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmmlib import Qmp, Tap  # noqa: E402

VMM, GUEST, RUN_GUEST = sys.argv[1], sys.argv[2], sys.argv[3]
QEMU = "qemu-system-x86_64 -enable-kvm"
QEMU_PC = QEMU + " -M pc"
M = 1 << 20
tap = Tap()


def run_guest(vmm, opts, smp, mem, nodes):
    """Runs the guest's numa test; returns its exit code, its "# numa:" lines, its output."""
    cmd = [sys.executable, RUN_GUEST, "--vmm", vmm + " " + opts, "--kernel", GUEST,
           "--smp", str(smp), "--mem", "%dM" % (mem // M), "--append",
           "tests=numa numa_nodes=%d" % nodes, "--timeout", "150"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    lines = [l for l in p.stdout.splitlines() if re.match(r"# numa: (cpu|mem|distance|hmat) ", l)]
    return p.returncode, lines, p.stdout + p.stderr


def apic_id(i, sockets, cores, threads):
    def bits(n):
        return (n - 1).bit_length()
    t, c, s = i % threads, i // threads % cores, i // threads // cores
    return s << (bits(cores) + bits(threads)) | c << bits(threads) | t


def expected(node_mem, cpu_node, dist, topo):
    """The lines the guest must print, from the command line's numbers."""
    out = []
    for i, n in enumerate(cpu_node):
        out.append("# numa: cpu apic %d node %d" % (apic_id(i, *topo), n))
    start = 0
    for n, size in enumerate(node_mem):
        end = start + size  # all layouts here stay below the PCI hole
        for lo, hi in ((start, min(end, 0xa0000)), (max(start, 0x100000), end)):
            if hi > lo:
                out.append("# numa: mem 0x%x-0x%x node %d" % (lo, hi - 1, n))
        start = end
    if dist:
        for s, row in enumerate(dist):
            out.append("# numa: distance %d: %s" % (s, " ".join(str(v) for v in row)))
    return out


shm = tempfile.mkdtemp(prefix="vireo-numa-", dir="/dev/shm")
LAYOUTS = [
    # two nodes, one vCPU each, a distance in one direction
    dict(opts="-object memory-backend-ram,id=m0,size=64M "
              "-object memory-backend-ram,id=m1,size=64M,policy=bind,host-nodes=0 "
              "-numa node,memdev=m0,cpus=0 -numa node,memdev=m1,cpus=1 "
              "-numa dist,src=0,dst=1,val=21",
         smp=2, topo=(1, 2, 1), mem=128 * M, node_mem=[64 * M, 64 * M], cpu_node=[0, 1],
         dist=[[10, 21], [21, 10]]),
    # three nodes, vCPUs placed by -numa cpu (cores 2 and 3 -> node 1) and by cpus=, a node
    # without vCPUs, a shared file backend, distances each given once
    dict(opts="-object memory-backend-ram,id=a,size=96M,policy=interleave,host-nodes=0 "
              "-object memory-backend-file,id=b,size=16M,mem-path=%s,share=on "
              "-object memory-backend-ram,id=c,size=16M,policy=preferred,host-nodes=0 "
              "-numa node,nodeid=0,memdev=a,cpus=0-1 -numa node,nodeid=1,memdev=b "
              "-numa node,nodeid=2,memdev=c -numa cpu,node-id=1,socket-id=0,core-id=2 "
              "-numa cpu,node-id=1,core-id=3,thread-id=0 "
              "-numa dist,src=0,dst=1,val=20 -numa dist,src=0,dst=2,val=30 "
              "-numa dist,src=2,dst=1,val=25" % shm,
         smp=4, topo=(1, 4, 1), mem=128 * M, node_mem=[96 * M, 16 * M, 16 * M],
         cpu_node=[0, 0, 1, 1], dist=[[10, 20, 30], [20, 10, 25], [30, 25, 10]]),
    # one node holding everything, no SLIT
    dict(opts="-object memory-backend-ram,id=r,size=128M -numa node,memdev=r",
         smp=2, topo=(1, 2, 1), mem=128 * M, node_mem=[128 * M], cpu_node=[0, 0], dist=None),
]

# ACPI HMAT (-M hmat=on, pc as QEMU's). H1 is libvirt 9.0's example (a cell <cache>, the
# <interconnects>): its lines are the numbers of the command line, in ps and MB/s (base
# units: 1 ns; 4 MiB/s, the lowest bit of 100 and 200 MiB/s). H2: three nodes, a node
# whose vCPU comes from -numa cpu, memory-only nodes with and without initiator=,
# latencies whose base is 10 ns, a zero latency, two cache levels, all compared with QEMU.
HMAT_H1 = ("-M pc,hmat=on -object memory-backend-ram,id=m0,size=64M "
           "-object memory-backend-ram,id=m1,size=64M "
           "-numa node,nodeid=0,cpus=0,initiator=0,memdev=m0 "
           "-numa node,nodeid=1,cpus=1,initiator=1,memdev=m1 " + " ".join(
               "-numa hmat-lb,initiator=%d,target=%d,hierarchy=%s,data-type=%s,%s" % x for x in (
                   (0, 0, "memory", "access-latency", "latency=5"),
                   (0, 1, "memory", "access-latency", "latency=10"),
                   (1, 0, "memory", "access-latency", "latency=10"),
                   (1, 1, "memory", "access-latency", "latency=5"),
                   (0, 0, "memory", "access-bandwidth", "bandwidth=204800K"),
                   (0, 1, "memory", "access-bandwidth", "bandwidth=100M"),
                   (1, 0, "memory", "access-bandwidth", "bandwidth=100M"),
                   (1, 1, "memory", "access-bandwidth", "bandwidth=204800K"),
                   (0, 0, "first-level", "access-bandwidth", "bandwidth=102400K"))) +
           " -numa hmat-cache,node-id=0,size=10K,level=1,associativity=direct,"
           "policy=write-back,line=8")
HMAT_H1_LINES = [
    "# numa: hmat revision 2",
    "# numa: hmat node 0 initiator 0",
    "# numa: hmat node 1 initiator 1",
    "# numa: hmat lb memory access-latency base 1000 initiators 2 targets 2",
    "# numa: hmat lb memory access-latency initiator 0 target 0 5000 ps",
    "# numa: hmat lb memory access-latency initiator 0 target 1 10000 ps",
    "# numa: hmat lb memory access-latency initiator 1 target 0 10000 ps",
    "# numa: hmat lb memory access-latency initiator 1 target 1 5000 ps",
    "# numa: hmat lb memory access-bandwidth base 4 initiators 2 targets 2",
    "# numa: hmat lb memory access-bandwidth initiator 0 target 0 200 MB/s",
    "# numa: hmat lb memory access-bandwidth initiator 0 target 1 100 MB/s",
    "# numa: hmat lb memory access-bandwidth initiator 1 target 0 100 MB/s",
    "# numa: hmat lb memory access-bandwidth initiator 1 target 1 200 MB/s",
    "# numa: hmat lb first-level access-bandwidth base 4 initiators 2 targets 2",
    "# numa: hmat lb first-level access-bandwidth initiator 0 target 0 100 MB/s",
    "# numa: hmat cache node 0 level 1 of 1 size 10240 associativity direct policy "
    "write-back line 8",
]
HMAT_H2 = ("-M pc,hmat=on -object memory-backend-ram,id=a,size=64M "
           "-object memory-backend-ram,id=b,size=32M -object memory-backend-ram,id=c,size=32M "
           "-numa node,nodeid=0,cpus=0-2,initiator=0,memdev=a "
           "-numa node,nodeid=1,initiator=2,memdev=b -numa node,nodeid=2,memdev=c "
           "-numa cpu,node-id=2,core-id=3 " + " ".join(
               "-numa hmat-lb,initiator=%d,target=%d,hierarchy=%s,data-type=%s,%s" % x for x in (
                   (0, 0, "memory", "read-latency", "latency=100"),
                   (0, 1, "memory", "read-latency", "latency=250"),
                   (2, 2, "memory", "read-latency", "latency=120"),
                   (2, 1, "memory", "read-latency", "latency=300"),
                   (0, 0, "memory", "access-latency", "latency=0"),
                   (0, 0, "memory", "write-bandwidth", "bandwidth=1G"),
                   (0, 1, "memory", "write-bandwidth", "bandwidth=512M"),
                   (2, 2, "memory", "write-bandwidth", "bandwidth=2G"),
                   (2, 1, "memory", "write-bandwidth", "bandwidth=256M"),
                   (0, 0, "first-level", "access-latency", "latency=2"),
                   (2, 0, "third-level", "write-latency", "latency=7"))) +
           " -numa hmat-cache,node-id=0,size=1M,level=1,associativity=direct,"
           "policy=write-back,line=64"
           " -numa hmat-cache,node-id=0,size=4M,level=2,associativity=complex,"
           "policy=write-through,line=64"
           " -numa hmat-cache,node-id=1,size=2M,level=1,associativity=none,policy=none,"
           "line=128")
LAYOUTS += [
    dict(opts=HMAT_H1, smp=2, topo=(1, 2, 1), mem=128 * M, node_mem=[64 * M, 64 * M],
         cpu_node=[0, 1], dist=None, hmat=HMAT_H1_LINES),
    dict(opts=HMAT_H2, smp=4, topo=(1, 4, 1), mem=128 * M, node_mem=[64 * M, 32 * M, 32 * M],
         cpu_node=[0, 0, 0, 2], dist=None, hmat=None),
]

for i, lay in enumerate(LAYOUTS):
    want = expected(lay["node_mem"], lay["cpu_node"], lay["dist"], lay["topo"])
    nodes = len(lay["node_mem"])
    rc, got, out = run_guest(VMM, lay["opts"], lay["smp"], lay["mem"], nodes)
    if "hmat=on" in lay["opts"]:
        hmat = [l for l in got if l.startswith("# numa: hmat ")]
        got = [l for l in got if not l.startswith("# numa: hmat ")]
        if lay["hmat"]:
            tap.check(hmat == lay["hmat"], "layout %d: vireo-vmm's HMAT says what the command "
                      "line says" % i, "\n".join(["want:"] + lay["hmat"] + ["got:"] + hmat))
        else:
            tap.check(len(hmat) > 10, "layout %d: vireo-vmm gives an HMAT" % i, out)
        got += hmat
        want += hmat
    tap.check(rc == 0, "layout %d: the guest's numa checks pass under vireo-vmm" % i, out)
    tap.check(got == want, "layout %d: vireo-vmm's SRAT/SLIT say what the command line says"
              % i, "\n".join(["want:"] + want + ["got:"] + got))
    qrc, qgot, qout = run_guest(QEMU_PC, lay["opts"], lay["smp"], lay["mem"], nodes)
    tap.check(qrc == 0 and qgot == got, "layout %d: the same lines under QEMU's pc" % i,
              "\n".join(["vireo:"] + got + ["qemu:"] + qgot + [qout[-2000:]]))

# vireo-vmm's q35 and microvm (whose SRAT vireo-vmm also gives) carry the same HMAT.
for machine in ("q35", "microvm"):
    rc, got, out = run_guest(VMM, HMAT_H1.replace("-M pc,", "-M %s," % machine), 2, 128 * M, 2)
    hmat = [l for l in got if l.startswith("# numa: hmat ")]
    tap.check(rc == 0 and hmat == HMAT_H1_LINES, "%s,hmat=on: the same HMAT" % machine,
              "\n".join(["want:"] + HMAT_H1_LINES + ["got:"] + hmat + [out[-1500:]]))

# -m slots without -numa: QEMU's one implicit node (SRAT) has an HMAT too.
hm = []
for vmm in (VMM, QEMU):
    cmd = [sys.executable, RUN_GUEST, "--vmm", vmm + " -M pc,hmat=on", "--kernel", GUEST,
           "--mem", "128M", "--extra", "-m 128M,slots=2,maxmem=1G", "--append", "tests=numa",
           "--timeout", "150"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    hm.append((p.returncode, [l for l in p.stdout.splitlines() if l.startswith("# numa: hmat")],
               p.stdout[-1500:] + p.stderr[-1500:]))
tap.check(hm[0][0] == 0 and hm[0][1] == hm[1][1] == [
    "# numa: hmat revision 2", "# numa: hmat node 0 initiator 0"],
    "-m slots,hmat=on without -numa: the implicit node's HMAT, as QEMU's", hm)


def start_paused(vmm, opts, sock):
    cmd = shlex.split(vmm) + shlex.split(opts) + [
        "-nodefaults", "-display", "none", "-S", "-qmp", "unix:%s,server=on,wait=off" % sock,
        "-kernel", GUEST, "-m", "128M", "-smp", "2"]
    if "qemu" in vmm:
        cmd[1:1] = ["-M", "microvm"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


POLICIES = ("-object memory-backend-ram,id=pb,size=64M,policy=bind,host-nodes=0,prealloc=on "
            "-object memory-backend-ram,id=pi,size=32M,policy=interleave,host-nodes=0 "
            "-object memory-backend-ram,id=pp,size=32M,policy=preferred,host-nodes=0 "
            "-numa node,memdev=pb,cpus=0 -numa node,memdev=pi,cpus=1 -numa node,memdev=pp")
replies = {}
with tempfile.TemporaryDirectory() as tmp:
    for name, vmm in (("vireo", VMM), ("qemu", QEMU)):
        sock = os.path.join(tmp, name + ".sock")
        p = start_paused(vmm, POLICIES, sock)
        try:
            q = Qmp(sock)
            replies[name] = (q.cmd("query-memdev"), q.cmd("query-cpus-fast"))
            if name == "vireo":
                with open("/proc/%d/numa_maps" % p.pid) as f:
                    maps = f.read().splitlines()
                pol = {k: [l for l in maps if " %s:0" % k in l] for k in
                       ("bind", "interleave", "prefer")}
                for k, lines in pol.items():
                    tap.check(lines, "numa_maps shows the %s:0 policy" % k, "\n".join(maps))
                # (the bind range can be two lines: only RAM from 16 MiB up is THP-advised)
                pages = sum(int(m.group(1)) for m in
                            (re.search(r"\bN0=(\d+)", l) for l in pol["bind"]) if m)
                tap.check(pages * 4096 == 64 * M,
                          "numa_maps: the prealloc=on bind:0 backend's 64 MiB are on node 0",
                          pol["bind"])
                tap.check(not any("N0=" in l for l in pol["interleave"] + pol["prefer"]),
                          "numa_maps: backends without prealloc have no pages yet",
                          pol["interleave"] + pol["prefer"])
            q.cmd("quit")
            q.close()
        finally:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def memdevs(reply):
    return sorted(reply.get("return", []), key=lambda m: m.get("id", ""))


def nodes_of(reply):
    return [c["props"].get("node-id") for c in reply.get("return", [])]


v, q = replies.get("vireo"), replies.get("qemu")
if v and q:
    vm, qm = memdevs(v[0]), memdevs(q[0])
    # reserve: QEMU reserves swap, vireo-vmm maps MAP_NORESERVE; merge: follows -M
    # mem-merge, on by default in QEMU and off in vireo-vmm (docs/vmm.md)
    for m in qm + vm:
        m.pop("reserve", None)
        m.pop("merge", None)
    tap.check(vm == qm and len(vm) == 3, "query-memdev lists the backends as QEMU does",
              "vireo %s\nqemu %s" % (vm, qm))
    tap.check(nodes_of(v[1]) == nodes_of(q[1]) == [0, 1],
              "query-cpus-fast props node-id as QEMU's", "vireo %s qemu %s" % (v[1], q[1]))
else:
    tap.check(False, "QMP replies from both VMMs", replies)

# Refusals: vireo-vmm's one line carries QEMU's message (QEMU sometimes adds a hint line).
BAD = [
    "-object memory-backend-ram,id=m0,size=64M -object memory-backend-ram,id=m1,size=32M "
    "-numa node,memdev=m0 -numa node,memdev=m1",
    "-object memory-backend-ram,id=m0,size=128M,policy=bind -numa node,memdev=m0",
    "-object memory-backend-ram,id=m0,size=128M -numa node,memdev=m0 "
    "-numa dist,src=0,dst=0,val=20",
    "-object memory-backend-ram,id=m0,size=128M -numa node,memdev=m0 "
    "-numa dist,src=0,dst=1,val=20",
    "-object memory-backend-ram,id=m0,size=64M -object memory-backend-ram,id=m1,size=64M "
    "-numa node,memdev=m0 -numa node,memdev=m1 -numa dist,src=0,dst=1,val=5",
    "-object memory-backend-ram,id=m0,size=64M -object memory-backend-ram,id=m1,size=64M "
    "-numa node,memdev=m0,cpus=0-1 -numa node,memdev=m1,cpus=1",
    "-object memory-backend-ram,id=m0,size=64M -object memory-backend-ram,id=m1,size=64M "
    "-numa node,memdev=m0,cpus=0-4 -numa node,memdev=m1",
    "-numa node,mem=64M -numa node,mem=64M",
    "-object memory-backend-ram,id=m0,size=128M -numa node,memdev=m9",
    "-object memory-backend-ram,id=m0,size=128M,policy=bind,host-nodes=5 -numa node,memdev=m0",
    "-object memory-backend-ram,id=m0,size=64M -object memory-backend-ram,id=m1,size=64M "
    "-object memory-backend-ram,id=m2,size=64M -numa node,memdev=m0 -numa node,memdev=m1 "
    "-numa node,memdev=m2 -numa dist,src=0,dst=1,val=20",
]
# ACPI HMAT: QEMU 7.2's checks of -M hmat=, initiator=, hmat-lb and hmat-cache.
TWO = ("-object memory-backend-ram,id=m0,size=64M -object memory-backend-ram,id=m1,size=64M "
       "-numa node,memdev=m0,cpus=0-1,initiator=0 ")
LB = "-numa hmat-lb,initiator=0,target=%d,hierarchy=memory,data-type=%s"
L00 = LB % (0, "access-latency,latency=5") + " " + LB % (0, "access-bandwidth,bandwidth=1G")
CACHE = "-numa hmat-cache,node-id=0,size=%s,level=%d,associativity=direct,policy=write-back,line=8"
BAD += ["-M pc " + TWO + "-numa node,memdev=m1",
        "-M pc " + TWO.replace(",initiator=0", "") + "-numa node,memdev=m1 " + L00,
        "-M pc,hmat=bogus " + TWO + "-numa node,memdev=m1"] + [
    "-M pc,hmat=on " + TWO.replace("cpus=0-1", "cpus=0") + x for x in (
        "-numa node,memdev=m1,cpus=1,initiator=0",
        "-numa node,memdev=m1,initiator=0 -numa cpu,node-id=1,core-id=1")] + [
    "-M pc,hmat=on " + TWO + x for x in (
        "-numa node,memdev=m1,initiator=1",
        "-numa node,memdev=m1,initiator=5",
        "-numa node,memdev=m1 " + LB.replace("initiator=0", "initiator=1") % (
            1, "access-latency,latency=5"),
        "-numa node,memdev=m1 " + LB % (2, "access-latency,latency=5"),
        "-numa node,memdev=m1 " + LB.replace("initiator=0", "initiator=3") % (
            1, "access-latency,latency=5"),
        "-numa node,memdev=m1 " + LB % (1, "access-latency"),
        "-numa node,memdev=m1 " + LB % (1, "access-latency,latency=5,bandwidth=1M"),
        "-numa node,memdev=m1 " + LB % (1, "read-bandwidth,latency=5,bandwidth=1M"),
        "-numa node,memdev=m1 " + LB % (1, "access-bandwidth,bandwidth=1000K"),
        "-numa node,memdev=m1 " + LB % (1, "access-latency,latency=1") + " " +
        LB % (0, "access-latency,latency=70000"),
        "-numa node,memdev=m1 " + LB % (1, "write-bandwidth,bandwidth=1M") + " " +
        LB % (0, "write-bandwidth,bandwidth=1T"),
        "-numa node,memdev=m1 " + LB % (1, "access-latency,latency=5") + " " +
        LB % (1, "access-latency,latency=6"),
        "-numa node,memdev=m1 " + (LB % (1, "access-latency,latency=5")).replace(
            "memory", "fourth-level"),
        "-numa node,memdev=m1 " + LB % (1, "access-latency,latency=5,foo=1"),
        "-numa node,memdev=m1 " + CACHE % ("10K", 1),
        "-numa node,memdev=m1 " + L00 + " " + CACHE % ("10K", 2),
        "-numa node,memdev=m1 " + L00 + " " + CACHE % ("10K", 4),
        "-numa node,memdev=m1 " + L00 + " " + CACHE % ("10K", 1) + " " + CACHE % ("10K", 1),
        "-numa node,memdev=m1 " + L00 + " " + CACHE % ("10K", 1) + " " + CACHE % ("8K", 2),
        "-numa node,memdev=m1 " + L00 + " " + (CACHE % ("20K", 2)).replace(",line=8", ""),
        "-numa node,memdev=m1 " + L00 + " " + CACHE.replace("node-id=0", "node-id=5") % (
            "10K", 1),
    )]


def first_error(vmm, opts):
    cmd = shlex.split(vmm) + ["-nodefaults", "-display", "none", "-m", "128M", "-smp", "2",
                              "-kernel", GUEST, "-S"] + shlex.split(opts)
    if "qemu" in vmm:
        cmd[1:1] = ["-M", "microvm"]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _, err = p.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
        return None, "still running: " + err
    lines = [l for l in err.splitlines() if "warning" not in l]
    return p.returncode, lines


for opts in BAD:
    vrc, vlines = first_error(VMM, opts)
    qrc, qlines = first_error(QEMU, opts)
    qmsg = re.sub(r"^qemu-system-x86_64: (-\w+ \S+: )?", "", qlines[0]) if qlines else "?"
    if "host-nodes=5" in opts:
        qmsg = "cannot bind memory to host NUMA nodes"  # vireo-vmm also names the node
    tap.check(vrc not in (0, None) and len(vlines) == 1 and qmsg in vlines[0],
              "refused as QEMU refuses it: %s" % qmsg,
              "vireo (%s): %s\nqemu (%s): %s" % (vrc, vlines, qrc, qlines))

# Nothing left in /dev/shm by the file backend (a directory mem-path: unlinked at once).
tap.check(os.listdir(shm) == [], "the backend file in a mem-path directory is not left behind",
          os.listdir(shm))
os.rmdir(shm)
sys.exit(tap.report())
