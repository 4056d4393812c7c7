#!/usr/bin/python3
"""<memoryBacking><hugepages/> through vireod (issue #16): a domain starts from huge pages
when they are reserved and is refused, in one line naming the shortfall, when they are not.

Usage: test-daemon-hugepages.py VIREOD VIREO_VMM TEST_GUEST_ELF

The test reserves the pages itself (/proc/sys/vm/nr_hugepages, put back at the end) and
mounts a hugetlbfs of the default page size in a temporary directory (unmounted at the end);
pages other processes hold are left alone. What is checked is the kernel's view: the free
huge page count of /proc/meminfo before, during and after the run, and the VMM's guest RAM
mapping in /proc/PID/numa_maps.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import Daemon, Tap, domain_xml, skip_all  # noqa: E402

VIREOD, VMM, GUEST = sys.argv[1:4]
GUEST = os.path.abspath(GUEST)
t = Tap()
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("no /dev/kvm")
if not shutil.which("virsh"):
    skip_all("no virsh")
d = Daemon(VIREOD, VMM)
names = []
NR = "/proc/sys/vm/nr_hugepages"
MIB = 64


def meminfo(key):
    for line in open("/proc/meminfo"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def set_pages(n):
    with open(NR, "w") as f:
        f.write(str(n))
    return meminfo("HugePages_Total")


def define(name, backing):
    names.append(name)
    xml = domain_xml(name, GUEST, "tests=none", memory_mib=MIB).replace(
        "<vcpu>1</vcpu>", "<vcpu>1</vcpu>\n  <memoryBacking>\n%s  </memoryBacking>" % backing)
    return d.virsh("define", d.write(name + ".xml", xml))


def main(mnt):
    page_kib = meminfo("Hugepagesize")
    need = MIB * 1024 // page_kib
    in_use = meminfo("HugePages_Total") - meminfo("HugePages_Free")
    d.start()
    r = define("hp", "    <hugepages/>\n")
    t.ok(r.returncode == 0, "define a %d MiB domain with <hugepages/>" % MIB, r.stderr)

    set_pages(in_use)  # none free
    r = d.virsh("start", "hp")
    t.ok(r.returncode != 0 and "not enough free huge pages of %d KiB for domain 'hp': %d needed,"
         " 0 free" % (page_kib, need) in r.stderr and d.vmm_pid("hp") is None and
         "shut off" in d.state("hp"),
         "no free huge pages: the start refused in one line naming the shortfall", r.stderr)

    total = set_pages(in_use + need)
    t.ok(total >= in_use + need, "reserve %d huge pages" % need, total)
    free_before = meminfo("HugePages_Free")
    r = d.virsh("start", "--paused", "hp")
    pid = d.vmm_pid("hp")
    t.ok(r.returncode == 0 and pid, "with them reserved the domain starts", r.stderr)
    free_during = meminfo("HugePages_Free")
    t.ok(free_before - free_during == need,
         "its guest RAM took %d huge pages (HugePages_Free %d -> %d)" % (need, free_before,
                                                                         free_during))
    maps = open("/proc/%d/numa_maps" % pid).read() if pid else ""
    huge = [x for x in maps.splitlines() if " huge " in x and "vireo-vmm." in x]
    t.ok(huge and re.search(r"file=\S*vireo-vmm\.", huge[0]),
         "/proc/PID/numa_maps: guest RAM is a huge page mapping of a hugetlbfs file",
         "\n".join(huge) or maps[-1500:])
    r = d.virsh("destroy", "hp")
    t.ok(r.returncode == 0 and meminfo("HugePages_Free") == free_before,
         "destroy gives the pages back", (r.stderr, meminfo("HugePages_Free")))

    # guest NUMA cells take their huge pages as memory-backend-file backends (as libvirt)
    names.append("hpnuma")
    xml = domain_xml("hpnuma", GUEST, "tests=none", memory_mib=MIB).replace(
        "<vcpu>1</vcpu>", "<vcpu>2</vcpu>\n  <memoryBacking>\n    <hugepages/>\n"
        "  </memoryBacking>\n  <cpu>\n    <numa>\n"
        "      <cell id='0' cpus='0' memory='%d' unit='MiB'/>\n"
        "      <cell id='1' cpus='1' memory='%d' unit='MiB'/>\n"
        "    </numa>\n  </cpu>" % (MIB // 2, MIB // 2))
    d.virsh("define", d.write("hpnuma.xml", xml))
    r = d.virsh("start", "--paused", "hpnuma")
    pid = d.vmm_pid("hpnuma")
    argv = open("/proc/%d/cmdline" % pid).read().split("\0") if pid else []
    maps = open("/proc/%d/numa_maps" % pid).read() if pid else ""
    cells = [x for x in maps.splitlines() if " huge " in x and "vireo-vmm-ram-node" in x]
    t.ok(r.returncode == 0 and free_before - meminfo("HugePages_Free") == need and
         len(cells) == 2 and not any(a == "-mem-path" for a in argv) and
         sum(a.startswith("memory-backend-file,") and "prealloc=on" in a for a in argv) == 2,
         "two NUMA cells with <hugepages/>: each cell's backend a preallocated hugetlbfs file",
         r.stderr + "\n".join(argv) + "\n".join(cells))
    d.virsh("destroy", "hpnuma")

    # <discard/> with huge pages: the backend is the hugetlbfs file, discard-data=on (libvirt)
    r = define("hpdiscard", "    <hugepages/>\n    <discard/>\n")
    r = d.virsh("start", "--paused", "hpdiscard")
    pid = d.vmm_pid("hpdiscard")
    argv = open("/proc/%d/cmdline" % pid).read().split("\0") if pid else []
    t.ok(r.returncode == 0 and free_before - meminfo("HugePages_Free") == need and
         any(a.startswith("memory-backend-file,id=pc.ram,") and "discard-data=on" in a
             for a in argv) and "microvm,acpi=on,pcie=on,memory-backend=pc.ram" in argv,
         "<hugepages/> with <discard/>: -M memory-backend=pc.ram, a hugetlbfs file backend "
         "with discard-data=on, its pages taken", r.stderr + "\n".join(argv))
    d.virsh("destroy", "hpdiscard")
    t.ok(meminfo("HugePages_Free") == free_before, "destroy gives those pages back",
         meminfo("HugePages_Free"))

    r = define("hpnode", "    <hugepages>\n      <page size='%d' unit='KiB' nodeset='0'/>\n"
               "    </hugepages>\n" % page_kib)
    r = d.virsh("start", "hpnode")
    t.ok(r.returncode != 0 and "per-node huge page sizes are not supported yet" in r.stderr,
         "per-node huge pages: refused in one line", r.stderr)
    # memfd from the huge page pool: memory-backend-memfd,hugetlb=on,hugetlbsize= (libvirt)
    r = define("hpmemfd", "    <hugepages/>\n    <source type='memfd'/>\n")
    r = d.virsh("start", "--paused", "hpmemfd")
    pid = d.vmm_pid("hpmemfd")
    argv = open("/proc/%d/cmdline" % pid).read().split("\0") if pid else []
    maps = open("/proc/%d/maps" % pid).read() if pid else ""
    t.ok(r.returncode == 0 and free_before - meminfo("HugePages_Free") == need and
         "/memfd:pc.ram" in maps and
         any(a.startswith("memory-backend-memfd,id=pc.ram,") and
             "hugetlb=on,hugetlbsize=%d" % (page_kib * 1024) in a for a in argv),
         "<hugepages/> with <source type='memfd'/>: a hugetlb memfd of the page size, its "
         "pages taken", r.stderr + "\n".join(argv))
    d.virsh("destroy", "hpmemfd")
    t.ok(meminfo("HugePages_Free") == free_before, "destroy gives the memfd's pages back",
         meminfo("HugePages_Free"))


mnt = tempfile.mkdtemp(prefix="vireo-hugetlbfs-")
old = open(NR).read().strip()
mounted = subprocess.run(["mount", "-t", "hugetlbfs", "none", mnt]).returncode == 0
try:
    t.ok(mounted, "mount a hugetlbfs at %s" % mnt)
    main(mnt)
except Exception as e:
    t.ok(False, "the test ran to its end", repr(e))
finally:
    if t.failed:
        d.dump_log()
    d.cleanup(names)
    if mounted:
        subprocess.run(["umount", mnt])
    os.rmdir(mnt)
    with open(NR, "w") as f:
        f.write(old)
t.done()
