#!/usr/bin/env python3
"""virsh attach-device / detach-device --live of <memory model='dimm'> through vireod.

A pc domain with <maxMemory slots='2'> and one NUMA cell runs the test guest's t-mem as an
OS's ACPI memory hot-plug driver (memhp_hot=1 memhp_unplug=1). First the refusals, each one
line in libvirt's words (a node without a cell, over <maxMemory>, a slot past the slots, a
size vireo-vmm cannot place, a model other than dimm), none leaving a trace in the live XML.
Then attach-device --live of a 128 MiB DIMM: the guest sees the insert (slot 0 at 4 GiB, its
size and node), dumpxml shows it with <alias name='dimm0'/> and <address type='dimm' slot base>
as vireo-vmm placed it and <memory>/<currentMemory> grown by its size, dominfo's max memory
too, and the persistent definition is unchanged. detach-device of the same XML: the guest gets
the remove request and ejects, the live XML and <memory> shrink back; a second detach finds
nothing. attach-device --live --config: the live XML and the persistent definition both gain
the DIMM (dimm0 again: the first is gone).
"""
import os
import re
import shutil
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

MAXMEM = """  <maxMemory slots='2' unit='GiB'>1</maxMemory>
  <cpu>
    <numa>
      <cell id='0' cpus='0' memory='64' unit='MiB'/>
    </numa>
  </cpu>
"""
DIMM = """<memory model='%s'>
  <target>
    <size unit='MiB'>%d</size>
    <node>%d</node>
  </target>%s
</memory>
"""


def dimm(mib, node=0, extra="", model="dimm"):
    return d.write("dimm-%s-%d-%d-%d.xml" % (model, mib, node, len(extra)),
                   DIMM % (model, mib, node, extra))


def flat(text):
    return re.sub(r"\s+", " ", text)


def one_line(r, words):
    """Refused with words, on one line after virsh's own "Failed to attach device" line."""
    err = [ln for ln in r.stderr.splitlines()
           if ln.strip() and not ln.startswith("error: Failed to ")]
    return r.returncode != 0 and words in r.stderr and len(err) == 1


def main():
    d.start()
    xml = domain_xml("dimmlive", GUEST, "tests=mem mem=64M memhp_slots=2 memhp_dimms=0 "
                     "memhp_hot=1 memhp_unplug=1 memhp_wait_s=240", memory_mib=64,
                     extra=MAXMEM).replace("<type arch='x86_64'>",
                                           "<type arch='x86_64' machine='pc'>")
    r = d.virsh("define", d.write("dimmlive.xml", xml))
    t.ok(r.returncode == 0, "define a pc domain with <maxMemory slots='2'> and a cell", r.stderr)
    r = d.virsh("start", "dimmlive")
    t.ok(r.returncode == 0 and d.vmm_pid("dimmlive"), "it starts",
         r.stderr + d.vmm_log("dimmlive"))
    ready = wait_for(lambda: "# memhp: ready" in d.console_log("dimmlive"), 240)
    t.ok(ready, "the guest waits for hot-plug events", d.console_log("dimmlive")[-2000:])
    if not ready:
        return

    refusals = [
        (dimm(128, 1), "can't add memory backend for guest node '1' as the guest has only '1' "
         "NUMA nodes configured", "a DIMM on a node without a cell"),
        (dimm(1024), "Attaching memory device with size '1048576' would exceed domain's "
         "maxMemory config size '1048576'", "a DIMM over <maxMemory>"),
        (dimm(128, 0, "\n  <address type='dimm' slot='5'/>"),
         "memory device slot '5' exceeds slots count '2'", "a slot past the slots"),
        (dimm(3), "vireo-vmm's DIMM sizes are multiples of 2 MiB", "a 3 MiB DIMM"),
        (dimm(128, 0, "", "virtio-mem"), "hot-plug of memory model 'virtio-mem' is not "
         "supported", "a virtio-mem device"),
    ]
    for f, words, what in refusals:
        r = d.virsh("attach-device", "dimmlive", f, "--live")
        t.ok(one_line(r, words), "attach-device --live of %s: refused in one line" % what,
             r.stderr)
    x = d.virsh("dumpxml", "dimmlive").stdout
    t.ok("<memory model" not in x and "<memory unit='KiB'>65536</memory>" in x,
         "the refusals left the live XML alone", x)

    f = dimm(128)
    r = d.virsh("attach-device", "dimmlive", f, "--live")
    t.ok(r.returncode == 0, "attach-device --live of a 128 MiB DIMM", r.stderr)
    wait_for(lambda: "hot-plugged DIMM (128 MiB) holds data" in d.console_log("dimmlive"), 120)
    log = d.console_log("dimmlive")
    t.ok("# memhp: inserted slot=0 addr=0x100000000 size=0x8000000 node=0" in log
         and re.search(r"^ok \d+ - memhp: slot 0's hot-plugged DIMM \(128 MiB\) holds data",
                       log, re.M) and "not ok" not in log,
         "the guest sees the DIMM inserted in slot 0 at 4 GiB (128 MiB, node 0) and uses it",
         log[-3000:])
    x = flat(d.virsh("dumpxml", "dimmlive").stdout)
    t.ok("<memory unit='KiB'>196608</memory>" in x
         and "<currentMemory unit='KiB'>196608</currentMemory>" in x
         and "<memory model='dimm'> <target> <size unit='KiB'>131072</size> <node>0</node> "
         "</target> <alias name='dimm0'/> <address type='dimm' slot='0' base='0x100000000'/> "
         "</memory>" in x,
         "dumpxml: the DIMM with its alias and address, <memory> and <currentMemory> grown", x)
    r = d.virsh("dominfo", "dimmlive")
    t.ok(re.search(r"^Max memory:\s+196608 KiB", r.stdout, re.M), "dominfo's max memory grew",
         r.stdout)
    x = d.virsh("dumpxml", "--inactive", "dimmlive").stdout
    t.ok("<memory model" not in x and "<memory unit='KiB'>65536</memory>" in x,
         "the persistent definition is unchanged (--live only)", x)

    r = d.virsh("detach-device", "dimmlive", f, "--live")
    t.ok(r.returncode == 0, "detach-device --live of the same XML", r.stderr)
    wait_for(lambda: "# memhp: ejected slot=0" in d.console_log("dimmlive"), 120)
    log = d.console_log("dimmlive")
    t.ok("# memhp: remove request slot=0" in log and "# memhp: ejected slot=0" in log,
         "the guest got the remove request and ejected slot 0", log[-3000:])
    wait_for(lambda: "dimm0" not in d.virsh("dumpxml", "dimmlive").stdout, 30)
    x = d.virsh("dumpxml", "dimmlive").stdout
    t.ok("<memory model" not in x and "<memory unit='KiB'>65536</memory>" in x
         and "<currentMemory unit='KiB'>65536</currentMemory>" in x,
         "dumpxml: the DIMM is gone, <memory> and <currentMemory> shrank back", x)
    r = d.virsh("detach-device", "dimmlive", f, "--live")
    t.ok(one_line(r, "device not found: matching memory device was not found"),
         "a second detach: not found, in libvirt's words", r.stderr)

    r = d.virsh("attach-device", "dimmlive", f, "--live", "--config")
    x = flat(d.virsh("dumpxml", "dimmlive").stdout)
    xi = d.virsh("dumpxml", "--inactive", "dimmlive").stdout
    t.ok(r.returncode == 0 and "<alias name='dimm0'/> <address type='dimm' slot='0' "
         "base='0x100000000'/>" in x and "<memory unit='KiB'>196608</memory>" in x
         and "<memory unit='KiB'>196608</memory>" in xi and "<size unit='KiB'>131072</size>" in xi,
         "attach-device --live --config: in the live XML (dimm0 again) and the definition",
         r.stderr + x + xi)
    r = d.virsh("detach-device", "dimmlive", f, "--config")
    xi = d.virsh("dumpxml", "--inactive", "dimmlive").stdout
    t.ok(r.returncode == 0 and "<memory model" not in xi
         and "<memory unit='KiB'>65536</memory>" in xi,
         "detach-device --config: the definition loses it, <memory> shrinks", r.stderr + xi)
    d.virsh("destroy", "dimmlive")


try:
    main()
finally:
    d.virsh("destroy", "dimmlive")
    out = os.path.join(d.tmp, "vireod.out")
    rc = d.stop()
    t.ok(rc == 0, "vireod exits cleanly (no sanitizer report in the ASan build)",
         open(out).read()[-3000:] if os.path.exists(out) else "")
    time.sleep(0.1)
t.done()
