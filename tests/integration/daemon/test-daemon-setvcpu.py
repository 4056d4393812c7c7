#!/usr/bin/env python3
"""<vcpus> at start and virsh/vsh setvcpu through vireod, refusals compared with libvirtd.

Usage: test-daemon-setvcpu.py VIREOD VIREO_VMM TEST_GUEST_ELF VSH

A microvm domain with <vcpu>4</vcpu> and <vcpus>: vCPUs 0 and 1 enabled (not
hotpluggable), vCPU 2 enabled and hotpluggable, vCPU 3 disabled. It starts as
-smp 2,maxcpus=4 and vireod device_adds vCPU 2 before the guest runs (libvirt's
way): vcpuinfo lists three vCPUs, the "CPU 2/KVM" thread runs, and the guest (tests=cpuhp,
t-cpuhp.c) sees three CPUs. virsh setvcpu 3 --enable plugs vCPU 3 (device_add), the
guest runs it, vcpucount says 4 live, the live XML has vCPU 3 enabled; libvirt's
refusals for vCPU 0 and the non-hotpluggable vCPU 1 ("can't be unplugged"), an enabled
vCPU enabled again and an id past the maximum. vsh setvcpu 3 --disable unplugs it
(device_del; the guest ejects it): three vCPUs again. --config edits the persistent
<vcpus>: the same calls on the same inactive definition in the reference libvirtd 9.0
give the same <vcpus> and the same refusals (its QEMU cannot run this guest, but the
persistent definition and the checks before any change compare).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import (LIBVIRTD_REF, Daemon, Tap, domain_xml, libvirtd_ref_start,  # noqa: E402
                       sh, skip_all, wait_for)

VIREOD, VMM, GUEST, VSH = sys.argv[1:5]
GUEST = os.path.abspath(GUEST)
t = Tap()
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("no /dev/kvm")
if not shutil.which("virsh"):
    skip_all("no virsh")

VCPUS = """<vcpu>4</vcpu>
  <vcpus>
    <vcpu id='0' enabled='yes'/>
    <vcpu id='1' enabled='yes'/>
    <vcpu id='2' enabled='yes' hotpluggable='yes'/>
    <vcpu id='3' enabled='no'/>
  </vcpus>"""


def thread_named(pid, name):
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                if f.read().strip() == name:
                    return int(tid)
    except OSError:
        pass
    return None


def vcpus_block(xml):
    m = re.search(r"<vcpu [^>]*>\d+</vcpu>\s*(<vcpus>.*?</vcpus>)?", xml, re.S)
    return re.sub(r"\s+", " ", m.group(0)) if m else None


def count(out, what, where):
    m = re.search(rf"{what}\s+{where}\s+(\d+)", out)
    return int(m.group(1)) if m else None


# The --config sequence run on both daemons: (command and args, expect success).
CONFIG_STEPS = [
    (("setvcpu", "0", "--disable", "--config"), False),
    (("setvcpu", "9", "--enable", "--config"), False),
    (("setvcpu", "x", "--enable", "--config"), False),
    (("setvcpu", "3", "--enable", "--config"), True),
    (("setvcpu", "2", "--disable", "--config"), True),
    (("setvcpu", "1", "--enable", "--disable", "--config"), False),
    (("setvcpus", "3", "--config"), True),
    (("setvcpus", "2", "--config"), True),
    (("setvcpus", "6", "--config", "--maximum"), True),
    (("setvcpu", "4", "--enable", "--config"), True),
]


def config_run(virsh, name):
    """The steps' outcomes (rc, stderr) and the persistent <vcpu>/<vcpus> after each."""
    out = []
    for (cmd, *args), _ in CONFIG_STEPS:
        r = virsh(cmd, name, *args)
        x = virsh("dumpxml", "--inactive", name).stdout
        out.append((r.returncode, r.stderr.strip(), vcpus_block(x)))
    return out


d = Daemon(VIREOD, VMM, VSH)
names = ["svc", "svcfg"]
pid_ns = "vireo-svc-%d" % os.getpid()
ref_dir = None
try:
    d.start()
    x = d.write("svc.xml", domain_xml("svc", GUEST, "tests=cpuhp cpuhp_plugged=1 cpuhp_count=2 "
                                      "cpuhp_unplug=1 cpuhp_wait_s=600").replace("<vcpu>1</vcpu>", VCPUS))
    r = d.virsh("define", x)
    t.ok(r.returncode == 0, "a microvm domain with <vcpus> (vCPU 2 hotpluggable, 3 disabled) "
         "defines", r.stderr)
    r = d.virsh("start", "svc", timeout=300)
    t.ok(r.returncode == 0, "and starts", r.stderr + d.vmm_log("svc"))
    log = open(os.path.join(d.root, "log", "svc.log")).read()
    argv = log.splitlines()[-1] if log else ""
    t.ok("-smp 2,maxcpus=4 " in argv, "vireo-vmm runs with -smp 2,maxcpus=4 (the "
         "non-hotpluggable vCPUs)", argv)
    pid = d.vmm_pid("svc")
    info = d.virsh("vcpuinfo", "svc")
    t.ok(len(re.findall(r"^VCPU:", info.stdout, re.M)) == 3 and pid and
         thread_named(pid, "CPU 2/KVM") is not None and thread_named(pid, "CPU 3/KVM") is None,
         "vCPU 2 was plugged at start: vcpuinfo lists three vCPUs, CPU 2/KVM runs, no CPU 3",
         info.stdout + info.stderr)
    ready = wait_for(lambda: "cpuhp: ready" in d.console_log("svc"), 300)
    con = d.console_log("svc")
    # vireo-vmm's MADT is built with the machine: the vCPU plugged before the guest ran shows
    # in the hot-plug registers (enabled, insert event pending), and the guest starts it.
    t.ok(ready and re.search(r"the MADT lists 4 CPU slots, 2 enabled", con) and
         re.search(r"ok \d+ - cpuhp: slot 2, plugged before boot, reads enabled", con) and
         wait_for(lambda: "cpuhp: running apic=2" in d.console_log("svc"), 300),
         "the guest sees four CPU slots, two in its MADT and slot 2 plugged, and runs it",
         d.console_log("svc")[-2000:])
    live = d.virsh("dumpxml", "svc").stdout
    t.ok("<vcpu id='2' enabled='yes' hotpluggable='yes'/>" in live and
         "<vcpu id='3' enabled='no' hotpluggable='yes'/>" in live and
         "current='3'>4</vcpu>" in live, "the live XML: vCPU 2 enabled, 3 disabled, current 3",
         vcpus_block(live) or live)

    # libvirt's refusals on the running domain, before anything is sent.
    for args, want in ((("0", "--disable"), "Operation not supported: vcpu '0' can't be unplugged"),
                       (("1", "--disable"), "Operation not supported: vcpu '1' can't be unplugged"),
                       (("2", "--enable"), "invalid argument: vcpu '2' is already in requested "
                        "state"),
                       (("7", "--enable"), "invalid argument: vcpu 7 is not present in live "
                        "config"),
                       (("3",), "one of --enable, --disable is required")):
        for client, run in (("virsh", d.virsh), ("vsh", d.vsh)):
            r = run("setvcpu", "svc", *args)
            t.ok(r.returncode != 0 and want in r.stderr,
                 f"{client} setvcpu svc {' '.join(args)}: {want}", r.stderr)

    r = d.virsh("setvcpu", "svc", "3", "--enable", timeout=300)
    t.ok(r.returncode == 0, "virsh setvcpu svc 3 --enable", r.stderr)
    ran = wait_for(lambda: "cpuhp: running apic=3" in d.console_log("svc"), 300)
    t.ok(ran, "the guest took the insert event and ran vCPU 3", d.console_log("svc")[-2000:])
    live = d.virsh("dumpxml", "svc").stdout
    inactive = d.virsh("dumpxml", "--inactive", "svc").stdout
    c = d.virsh("vcpucount", "svc").stdout
    info = d.virsh("vcpuinfo", "svc").stdout
    t.ok(re.search(r"<vcpu id='3' enabled='yes' hotpluggable='yes' order='\d+'/>", live) and
         "<vcpu id='3' enabled='no' hotpluggable='yes'/>" in inactive and
         count(c, "current", "live") == 4 and count(c, "current", "config") == 3 and
         len(re.findall(r"^VCPU:", info, re.M)) == 4 and thread_named(pid, "CPU 3/KVM"),
         "live XML vCPU 3 enabled (persistent one unchanged), vcpucount live 4 config 3, "
         "vcpuinfo four vCPUs, its thread runs", (vcpus_block(live) or "") + c + info)
    r = d.vsh("setvcpu", "svc", "3", "--disable", timeout=300)
    ejected = wait_for(lambda: "cpuhp: ejected slot=3" in d.console_log("svc"), 300)
    t.ok(r.returncode == 0 and ejected, "vsh setvcpu svc 3 --disable: the guest ejected vCPU 3",
         r.stderr + d.console_log("svc")[-2000:])
    live = d.virsh("dumpxml", "svc").stdout
    c = d.virsh("vcpucount", "svc").stdout
    info = d.virsh("vcpuinfo", "svc").stdout
    t.ok("<vcpu id='3' enabled='no' hotpluggable='yes'/>" in live and
         count(c, "current", "live") == 3 and len(re.findall(r"^VCPU:", info, re.M)) == 3 and
         wait_for(lambda: thread_named(pid, "CPU 3/KVM") is None, 60),
         "after the unplug: live XML vCPU 3 disabled, vcpucount live 3, vcpuinfo three, "
         "its thread gone", (vcpus_block(live) or "") + c + info)
    t.ok("not ok" not in d.console_log("svc"), "every guest check passed",
         d.console_log("svc")[-2000:])
    d.virsh("destroy", "svc")

    # --config on an inactive definition: vireod and the reference libvirtd side by side.
    cfg = d.write("svcfg.xml", domain_xml("svcfg", GUEST, "").replace("<vcpu>1</vcpu>", VCPUS))
    r = d.virsh("define", cfg)
    t.ok(r.returncode == 0, "an inactive domain svcfg with the same <vcpus> defines", r.stderr)
    ours = config_run(d.virsh, "svcfg")
    for (args, good), (rc, err, _) in zip(CONFIG_STEPS, ours):
        t.ok((rc == 0) == good, f"virsh {args[0]} svcfg {' '.join(args[1:])} "
             f"{'succeeds' if good else 'is refused'}", err)
    r = d.vsh("setvcpu", "svcfg", "3", "--disable", "--config")
    x = d.virsh("dumpxml", "--inactive", "svcfg").stdout
    t.ok(r.returncode == 0 and "<vcpu id='3' enabled='no' hotpluggable='yes'/>" in x,
         "vsh setvcpu svcfg 3 --disable --config", r.stderr + (vcpus_block(x) or x))

    sh("ip", "netns", "add", pid_ns)
    ref_dir = tempfile.mkdtemp(prefix="setvcpu-ref-", dir=d.tmp)
    ref = libvirtd_ref_start(t, ref_dir, pid_ns)
    if ref:
        rx = d.write("ref.xml", open(cfg).read().replace(
            "<type arch='x86_64'>hvm</type>", "<type arch='x86_64' machine='pc'>hvm</type>")
            .replace("<memballoon model='none'/>", ""))
        r = ref("define", rx)
        t.ok(r.returncode == 0, "the reference libvirtd defines it (machine pc)", r.stderr)
        theirs = config_run(ref, "svcfg")
        for (args, _), o, th in zip(CONFIG_STEPS, ours, theirs):
            t.ok(o[0] == th[0] and o[1] == th[1] and o[2] == th[2],
                 f"{args[0]} svcfg {' '.join(args[1:])}: the same outcome and persistent <vcpus> as "
                 "libvirtd", f"vireod {o!r}\nlibvirtd {th!r}")
        # define-time checks of <vcpus>, the same words
        for name, vc in (("bad0", "<vcpu>2</vcpu><vcpus><vcpu id='0' enabled='no'/>"
                          "<vcpu id='1' enabled='yes'/></vcpus>"),
                         ("badr", "<vcpu>2</vcpu><vcpus><vcpu id='0' enabled='yes'/>"
                          "<vcpu id='2' enabled='yes'/></vcpus>"),
                         ("badh", "<vcpu>2</vcpu><vcpus><vcpu id='0' enabled='yes'/>"
                          "<vcpu id='1' enabled='no' hotpluggable='no'/></vcpus>")):
            bx = d.write(name + ".xml", open(rx).read().replace("svcfg", name).replace(
                re.search(r"<vcpu>4</vcpu>.*?</vcpus>", open(rx).read(), re.S).group(0), vc))
            a, b = d.virsh("define", bx), ref("define", bx)
            ea = a.stderr.strip().splitlines()[-1] if a.stderr.strip() else ""
            eb = b.stderr.strip().splitlines()[-1] if b.stderr.strip() else ""
            t.ok(a.returncode != 0 and ea == eb, f"define {name}: libvirtd's refusal",
                 f"vireod {a.stderr!r}\nlibvirtd {b.stderr!r}")
finally:
    if t.failed:
        d.dump_log()
    if ref_dir:
        sh(sys.executable, LIBVIRTD_REF, "stop", "--dir", ref_dir)
    subprocess.run(["ip", "netns", "del", pid_ns], capture_output=True)
    d.cleanup(names + ["bad0", "badr", "badh"])
t.done()
