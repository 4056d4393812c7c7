#!/usr/bin/python3
"""Guest NUMA and numatune through vireod (issue #16).

Usage: test-daemon-numa.py VIREOD VIREO_VMM TEST_GUEST_ELF VSH

A domain with two guest NUMA cells (one vCPU and 32 MiB each), distances, and a
<memnode> policy per cell (interleave for cell 0, strict for cell 1) starts: the
VMM's argv has a memory backend and a -numa node per cell with those policies,
/proc/PID/numa_maps shows them (interleave:0, bind:0), and the test guest's
tests=numa prints the SRAT and SLIT the cells describe. numatune reads the
same with vsh and virsh, and both refuse a live mode change as libvirt does.
A <memnode> naming a cell that does not exist is refused at start in one line.

Memory hot-plug slots: a pc domain with one cell and <maxMemory slots='2'> 1 GiB starts
vireo-vmm with -m 64,slots=2,maxmem=1048576k (as libvirt); the test guest reads both
empty slots of the ACPI memory hot-plug block and finds the SRAT's hot-pluggable range
(4 GiB, maxmem - RAM + 1 GiB a slot, node 0); dumpxml keeps <maxMemory>. Without a cell
<maxMemory> is refused in libvirt's words.

Cold-plugged DIMMs (<memory model='dimm'>): the same pc domain with two DIMMs (128 MiB in the
lowest free slot, 64 MiB with <address slot='1'>) starts vireo-vmm with a memdimmN backend and
a pc-dimm each; the guest's memhp lines show both (address, size, node, status); dumpxml shows
<memory> counting them, their <alias name='dimmN'/> and <address type='dimm' slot base> as
query-memory-devices read them, --inactive without those; a third DIMM over the slots and a
DIMM on a node without a cell are refused in one line each, in libvirt's words.
attach-device --config adds a DIMM to the persistent definition (checked as at define);
--live of a third DIMM is refused (no slot left).

ACPI HMAT: libvirt 9.0's example (a cell <cache>, <interconnects> latencies and bandwidths)
is defined with the stock virsh, read back as libvirt writes it, and starts vireo-vmm with
libvirtd's domxml-to-native arguments (-M ...,hmat=on, initiator=, hmat-lb, hmat-cache); the
test guest's tests=numa prints the HMAT those describe (initiators, the latency and bandwidth
matrices in ps and MB/s, the cache). A bandwidth to a cache level the target lacks is refused
at define in libvirt's words.
"""
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import Daemon, Tap, domain_xml, skip_all, wait_for  # noqa: E402

VIREOD, VMM, GUEST, VSH = sys.argv[1:5]
GUEST = os.path.abspath(GUEST)
t = Tap()
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("no /dev/kvm")
if not shutil.which("virsh"):
    skip_all("no virsh")
d = Daemon(VIREOD, VMM, VSH)

NUMA = """  <numatune>
    <memory mode='strict' nodeset='0'/>
    <memnode cellid='0' mode='interleave' nodeset='0'/>
    <memnode cellid='1' mode='strict' nodeset='0'/>
  </numatune>
  <cpu>
    <numa>
      <cell id='0' cpus='0' memory='32' unit='MiB'>
        <distances>
          <sibling id='0' value='10'/>
          <sibling id='1' value='21'/>
        </distances>
      </cell>
      <cell id='1' cpus='1' memory='32' unit='MiB'>
        <distances>
          <sibling id='0' value='21'/>
          <sibling id='1' value='10'/>
        </distances>
      </cell>
    </numa>
  </cpu>
"""

WANT = [
    "# numa: cpu apic 0 node 0",
    "# numa: cpu apic 1 node 1",
    "# numa: mem 0x0-0x9ffff node 0",
    "# numa: mem 0x100000-0x1ffffff node 0",
    "# numa: mem 0x2000000-0x3ffffff node 1",
    "# numa: distance 0: 10 21",
    "# numa: distance 1: 21 10",
]


def define(name, extra, vcpus):
    xml = domain_xml(name, GUEST, "tests=numa numa_nodes=2 mem=64M", memory_mib=64,
                     extra=extra).replace("<vcpu>1</vcpu>", "<vcpu>%d</vcpu>" % vcpus)
    return d.virsh("define", d.write(name + ".xml", xml))


def main():
    d.start()
    r = define("numa2", NUMA, 2)
    t.ok(r.returncode == 0, "define a domain with two NUMA cells and <memnode>s", r.stderr)
    r = d.virsh("start", "--paused", "numa2")
    pid = d.vmm_pid("numa2")
    t.ok(r.returncode == 0 and pid, "it starts", r.stderr + d.vmm_log("numa2"))
    if not pid:
        return
    argv = open("/proc/%d/cmdline" % pid).read().split("\0")
    want_args = [
        "memory-backend-ram,id=ram-node0,size=33554432,policy=interleave,host-nodes=0",
        "node,nodeid=0,cpus=0,memdev=ram-node0",
        "memory-backend-ram,id=ram-node1,size=33554432,policy=bind,host-nodes=0",
        "node,nodeid=1,cpus=1,memdev=ram-node1",
        "dist,src=0,dst=1,val=21", "dist,src=1,dst=0,val=21",
    ]
    t.ok(all(a in argv for a in want_args),
         "the VMM's argv: a backend and a -numa node per cell, the memnode policies, the "
         "distances", "\n".join(argv))
    maps = open("/proc/%d/numa_maps" % pid).read()
    t.ok(re.search(r" interleave:0\b", maps) and re.search(r" bind:0\b", maps),
         "numa_maps: cell 0's memory interleaved over host node 0, cell 1's bound to it",
         maps[-3000:])

    r = d.virsh("resume", "numa2")
    t.ok(r.returncode == 0, "resume", r.stderr)
    wait_for(lambda: re.search(r"^1\.\.\d+", d.console_log("numa2"), re.M), 120)
    log = d.console_log("numa2")
    got = [l for l in log.splitlines() if re.match(r"# numa: (cpu|mem|distance) ", l)]
    t.ok(got == WANT, "the guest's SRAT and SLIT describe the two cells", log[-3000:])
    t.ok("not ok" not in log and re.search(r"^1\.\.\d+", log, re.M),
         "the guest's numa checks pass", log[-3000:])

    a = d.vsh("numatune", "numa2")
    b = d.virsh("numatune", "numa2")
    t.ok(a.returncode == 0 and a.stdout == b.stdout and "numa_mode      : strict" in a.stdout,
         "numatune: vsh prints what virsh prints", a.stdout + a.stderr + b.stdout)
    for tool in (d.vsh, d.virsh):
        r = tool("numatune", "numa2", "--live", "--mode", "interleave")
        t.ok(r.returncode != 0 and "can't change numatune mode for running domain" in r.stderr,
             "numatune --live --mode: refused as libvirt refuses it", r.stderr)
    d.virsh("destroy", "numa2")

    bad = NUMA.replace("cellid='1'", "cellid='5'")
    r = define("numabad", bad, 2)
    r = d.virsh("start", "numabad")
    t.ok(r.returncode != 0 and "<numatune><memnode cellid='5'>" in r.stderr and
         d.vmm_pid("numabad") is None and
         len([l for l in r.stderr.splitlines() if "unsupported configuration" in l]) == 1,
         "a <memnode> for a cell that does not exist: refused in one line", r.stderr)


MAXMEM = """  <maxMemory slots='2' unit='GiB'>1</maxMemory>
  <cpu>
    <numa>
      <cell id='0' cpus='0' memory='64' unit='MiB'/>
    </numa>
  </cpu>
"""


def maxmemory():
    xml = domain_xml("memhp", GUEST, "tests=mem,numa numa_nodes=1 mem=64M memhp_slots=2 "
                     "memhp_dimms=0", memory_mib=64, extra=MAXMEM).replace(
                         "<type arch='x86_64'>", "<type arch='x86_64' machine='pc'>")
    r = d.virsh("define", d.write("memhp.xml", xml))
    t.ok(r.returncode == 0, "define a pc domain with <maxMemory slots='2'>", r.stderr)
    r = d.virsh("start", "memhp")
    pid = d.vmm_pid("memhp")
    t.ok(r.returncode == 0 and pid, "it starts", r.stderr + d.vmm_log("memhp"))
    if not pid:
        return
    argv = open("/proc/%d/cmdline" % pid).read().split("\0")
    t.ok("64,slots=2,maxmem=1048576k" in argv, "the VMM's argv: -m 64,slots=2,maxmem=1048576k",
         "\n".join(argv))
    wait_for(lambda: re.search(r"^1\.\.\d+", d.console_log("memhp"), re.M), 240)
    log = d.console_log("memhp")
    t.ok("# numa: hotplug mem 0x100000000-0x1bbffffff node 0" in log
         and "- memhp: the selector past the last slot (2) reads 0" in log
         and "not ok" not in log and re.search(r"^1\.\.\d+", log, re.M),
         "the guest finds the 2 DIMM slots and the SRAT's hot-pluggable range, checks pass",
         log[-3000:])
    r = d.virsh("dumpxml", "memhp")
    t.ok("<maxMemory slots='2' unit='KiB'>1048576</maxMemory>" in r.stdout,
         "dumpxml keeps <maxMemory>", r.stdout)
    d.virsh("destroy", "memhp")
    xml = xml.replace(MAXMEM, "  <maxMemory slots='2' unit='GiB'>1</maxMemory>\n").replace(
        "<name>memhp</name>", "<name>memhpbad</name>")
    r = d.virsh("define", d.write("memhpbad.xml", xml))
    r = d.virsh("start", "memhpbad") if r.returncode == 0 else r  # refused at define or start
    t.ok(r.returncode != 0 and "At least one numa node has to be configured when enabling "
         "memory hotplug" in r.stderr and d.vmm_pid("memhpbad") is None,
         "<maxMemory> without a NUMA cell: refused in libvirt's words", r.stdout + r.stderr)


DIMM = """    <memory model='dimm'>
      <target>
        <size unit='MiB'>%d</size>
        <node>%d</node>
      </target>%s
    </memory>
"""


def dimms():
    devs = DIMM % (128, 0, "") + DIMM % (64, 0, "\n      <address type='dimm' slot='1'/>")
    xml = domain_xml("dimms", GUEST, "tests=mem,numa numa_nodes=1 mem=64M memhp_slots=2 "
                     "memhp_dimms=2", memory_mib=64, extra=MAXMEM, devices=devs).replace(
                         "<type arch='x86_64'>", "<type arch='x86_64' machine='pc'>")
    r = d.virsh("define", d.write("dimms.xml", xml))
    t.ok(r.returncode == 0, "define a pc domain with two <memory model='dimm'>", r.stderr)
    r = d.virsh("start", "dimms")
    pid = d.vmm_pid("dimms")
    t.ok(r.returncode == 0 and pid, "it starts", r.stderr + d.vmm_log("dimms"))
    if not pid:
        return
    argv = open("/proc/%d/cmdline" % pid).read().split("\0")
    want = ["64,slots=2,maxmem=1048576k",
            "memory-backend-ram,id=memdimm0,size=134217728",
            "pc-dimm,node=0,memdev=memdimm0,id=dimm0,slot=0",
            "memory-backend-ram,id=memdimm1,size=67108864",
            "pc-dimm,node=0,memdev=memdimm1,id=dimm1,slot=1"]
    t.ok(all(a in argv for a in want),
         "the VMM's argv: -m the initial memory, a backend and a pc-dimm per DIMM",
         "\n".join(argv))
    wait_for(lambda: re.search(r"^1\.\.\d+", d.console_log("dimms"), re.M), 240)
    log = d.console_log("dimms")
    t.ok("# memhp: slot 0 addr 0x100000000 size 0x8000000 node 0 status 0x1" in log
         and "# memhp: slot 1 addr 0x108000000 size 0x4000000 node 0 status 0x1" in log
         and "not ok" not in log and re.search(r"^1\.\.\d+", log, re.M),
         "the guest sees both DIMMs (slot, address, size, node, enabled), checks pass",
         log[-3000:])
    r = d.virsh("dumpxml", "dimms")
    x = re.sub(r"\s+", " ", r.stdout)
    t.ok("<memory unit='KiB'>262144</memory>" in x
         and "<size unit='KiB'>131072</size> <node>0</node> </target> <alias name='dimm0'/> "
         "<address type='dimm' slot='0' base='0x100000000'/>" in x
         and "<size unit='KiB'>65536</size> <node>0</node> </target> <alias name='dimm1'/> "
         "<address type='dimm' slot='1' base='0x108000000'/>" in x,
         "dumpxml: <memory> counts the DIMMs, their aliases and the bases vireo-vmm chose",
         r.stdout)
    r = d.virsh("dumpxml", "--inactive", "dimms")
    t.ok("<memory unit='KiB'>262144</memory>" in r.stdout and "dimm0" not in r.stdout
         and "base=" not in r.stdout and "<address type='dimm' slot='1'/>" in r.stdout,
         "dumpxml --inactive: the DIMMs as defined", r.stdout)
    r = d.virsh("dominfo", "dimms")
    t.ok(re.search(r"^Max memory:\s+262144 KiB", r.stdout, re.M), "dominfo counts the DIMMs",
         r.stdout)
    d.virsh("destroy", "dimms")
    bad = xml.replace("<name>dimms</name>", "<name>dimmsbad</name>").replace(
        "</devices>", DIMM % (64, 0, "") + "  </devices>")
    r = d.virsh("define", d.write("dimmsbad.xml", bad))
    t.ok(r.returncode != 0 and "memory device count '3' exceeds slots count '2'" in r.stderr
         and len([ln for ln in r.stderr.splitlines() if "unsupported configuration" in ln]) == 1,
         "three DIMMs in two slots: refused in libvirt's words, one line", r.stderr)
    bad = xml.replace("<name>dimms</name>", "<name>dimmsbad</name>").replace(
        "<node>0</node>", "<node>1</node>", 1)
    r = d.virsh("define", d.write("dimmsbad.xml", bad))
    r = d.virsh("start", "dimmsbad") if r.returncode == 0 else r
    t.ok(r.returncode != 0 and "can't add memory backend for guest node '1' as the guest has "
         "only '1' NUMA nodes configured" in r.stderr and d.vmm_pid("dimmsbad") is None,
         "a DIMM on a node without a cell: refused in libvirt's words", r.stderr)

    # attach-device --config: the persistent definition only (memhp: two free slots)
    f = d.write("dimm.xml", DIMM % (128, 0, ""))
    r = d.virsh("attach-device", "memhp", f, "--config")
    x = d.virsh("dumpxml", "--inactive", "memhp").stdout
    t.ok(r.returncode == 0 and "<memory unit='KiB'>196608</memory>" in x
         and "<size unit='KiB'>131072</size>" in x,
         "attach-device --config of a DIMM: in the persistent definition, counted in <memory>",
         r.stderr + x)
    r = d.virsh("attach-device", "dimms", f, "--config")
    t.ok(r.returncode != 0 and "memory device count '3' exceeds slots count '2'" in r.stderr,
         "attach-device --config of a third DIMM in two slots: refused", r.stderr)
    big = d.write("dimmbig.xml", DIMM % (1024, 0, ""))
    r = d.virsh("attach-device", "memhp", big, "--config")
    t.ok(r.returncode != 0 and "Attaching memory device with size '1048576' would exceed "
         "domain's maxMemory config size '1048576'" in r.stderr,
         "attach-device --config over <maxMemory>: refused in libvirt's words", r.stderr)
    d.virsh("start", "dimms")
    r = d.virsh("attach-device", "dimms", f, "--live")
    t.ok(r.returncode != 0 and "memory device count '3' exceeds slots count '2'" in r.stderr,
         "attach-device --live of a third DIMM in two slots: refused (test-daemon-dimm-live.py "
         "plugs one)", r.stderr)
    d.virsh("destroy", "dimms")


HMAT = """  <cpu>
    <numa>
      <cell id='0' cpus='0' memory='32' unit='MiB'>
        <cache level='1' associativity='direct' policy='writeback'>
          <size value='10' unit='KiB'/>
          <line value='8' unit='B'/>
        </cache>
      </cell>
      <cell id='1' cpus='1' memory='32' unit='MiB'/>
      <interconnects>
        <latency initiator='0' target='0' type='access' value='5'/>
        <latency initiator='0' target='1' type='access' value='10'/>
        <bandwidth initiator='0' target='0' type='access' value='204800' unit='KiB'/>
        <bandwidth initiator='0' target='0' type='access' cache='1' value='102400'/>
      </interconnects>
    </numa>
  </cpu>
"""

# What the guest reads from the HMAT of HMAT's definition (it prints the entries that are
# not 0): latencies in ps (base 1 ns), bandwidths in MB/s (base 8 MiB/s for 200 MiB/s alone,
# 4 MiB/s for 100 MiB/s). The test also checks QEMU's guest reads the same.
WANT_HMAT = [
    "# numa: hmat revision 2",
    "# numa: hmat node 0 initiator 0",
    "# numa: hmat node 1 initiator 1",
    "# numa: hmat lb memory access-latency base 1000 initiators 2 targets 2",
    "# numa: hmat lb memory access-latency initiator 0 target 0 5000 ps",
    "# numa: hmat lb memory access-latency initiator 0 target 1 10000 ps",
    "# numa: hmat lb memory access-bandwidth base 8 initiators 2 targets 2",
    "# numa: hmat lb memory access-bandwidth initiator 0 target 0 200 MB/s",
    "# numa: hmat lb first-level access-bandwidth base 4 initiators 2 targets 2",
    "# numa: hmat lb first-level access-bandwidth initiator 0 target 0 100 MB/s",
    "# numa: hmat cache node 0 level 1 of 1 size 10240 associativity direct policy "
    "write-back line 8",
]
RUN_GUEST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "guest",
                         "run-guest")


def qemu_hmat(argv):
    """The HMAT lines the test guest prints under QEMU given vireod's -object/-numa options."""
    extra = []
    for i, a in enumerate(argv[:-1]):
        if a in ("-object", "-numa"):
            extra += [a, argv[i + 1]]
    cmd = [sys.executable, RUN_GUEST, "--vmm", "qemu-system-x86_64 -enable-kvm "
           "-M pc-i440fx-7.2,hmat=on", "--kernel", GUEST, "--smp", "2", "--mem", "64M",
           "--append", "tests=numa numa_nodes=2", "--extra", " ".join(extra), "--timeout", "150"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    out = p.stdout + p.stderr
    return [ln for ln in out.splitlines() if ln.startswith("# numa: hmat ")], out


def hmat():
    xml = domain_xml("hmat", GUEST, "tests=numa numa_nodes=2 mem=64M", memory_mib=64,
                     extra=HMAT).replace("<vcpu>1</vcpu>", "<vcpu>2</vcpu>").replace(
                         "<type arch='x86_64'>", "<type arch='x86_64' machine='pc'>")
    r = d.virsh("define", d.write("hmat.xml", xml))
    t.ok(r.returncode == 0, "define a pc domain with a cell <cache> and <interconnects>",
         r.stderr)
    x = d.virsh("dumpxml", "hmat").stdout
    t.ok("<bandwidth initiator='0' target='0' cache='1' type='access' value='102400' "
         "unit='KiB'/>" in x and "<size value='10' unit='KiB'/>" in x,
         "dumpxml: the cache and the interconnects as libvirt writes them", x)
    r = d.virsh("start", "hmat")
    pid = d.vmm_pid("hmat")
    t.ok(r.returncode == 0 and pid, "it starts", r.stderr + d.vmm_log("hmat"))
    if not pid:
        return
    argv = open("/proc/%d/cmdline" % pid).read().split("\0")
    want = ["node,nodeid=0,cpus=0,initiator=0,memdev=ram-node0",
            "node,nodeid=1,cpus=1,initiator=1,memdev=ram-node1",
            "hmat-lb,initiator=0,target=0,hierarchy=memory,data-type=access-latency,latency=5",
            "hmat-lb,initiator=0,target=1,hierarchy=memory,data-type=access-latency,latency=10",
            "hmat-lb,initiator=0,target=0,hierarchy=memory,data-type=access-bandwidth,"
            "bandwidth=204800K",
            "hmat-lb,initiator=0,target=0,hierarchy=first-level,data-type=access-bandwidth,"
            "bandwidth=102400K",
            "hmat-cache,node-id=0,size=10K,level=1,associativity=direct,policy=write-back,"
            "line=8"]
    t.ok(all(a in argv for a in want) and any(a.endswith(",hmat=on") for a in argv),
         "the VMM's argv: hmat=on, initiators, an hmat-lb per entry, the hmat-cache",
         "\n".join(argv))
    wait_for(lambda: re.search(r"^1\.\.\d+", d.console_log("hmat"), re.M), 240)
    log = d.console_log("hmat")
    got = [ln for ln in log.splitlines() if ln.startswith("# numa: hmat ")]
    t.ok(got == WANT_HMAT, "the guest's HMAT: the initiators, latencies, bandwidths and cache "
         "the XML gives", "\n".join(got) + "\n" + log[-3000:])
    t.ok("not ok" not in log and re.search(r"^1\.\.\d+", log, re.M),
         "the guest's numa checks pass", log[-3000:])
    qgot, qout = qemu_hmat(argv)
    t.ok(qgot == got, "QEMU given the same -object/-numa options: the guest reads the same HMAT",
         "\n".join(["qemu:"] + qgot + [qout[-2000:]]))
    d.virsh("destroy", "hmat")
    bad = xml.replace("<name>hmat</name>", "<name>hmatbad</name>").replace(
        "target='0' type='access' cache='1'", "target='1' type='access' cache='1'")
    r = d.virsh("define", d.write("hmatbad.xml", bad))
    t.ok(r.returncode != 0 and "'cache' refers to a non-existent NUMA node cache" in r.stderr,
         "a bandwidth to a cache its target lacks: refused at define in libvirt's words",
         r.stderr)


try:
    main()
    maxmemory()
    dimms()
    hmat()
finally:
    for n in ("numa2", "numabad", "memhp", "memhpbad", "dimms", "dimmsbad", "hmat"):
        d.virsh("destroy", n)
    d.stop()
    time.sleep(0.1)
t.done()
