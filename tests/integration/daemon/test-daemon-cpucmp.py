#!/usr/bin/python3
"""cpu-compare and cpu-baseline through vireod (issue #16), with the stock virsh and vsh:
a <cpu> against the host's CPU (its CPUID, as libvirt compares), and the CPU several
definitions have in common; cpu-models, the model names for an architecture.

Usage: test-daemon-cpucmp.py VIREOD VIREO_VMM VSH

The expected results hold on any x86-64 host with SSE3 and CX16: kvm64's features (SSE2, CX16,
LM, NX ...) are all the host's, so the host is a superset of it; the same model with sse2 forbidden
cannot be; a made-up model or feature is refused with libvirt's words; Nehalem+aes and
Westmere have Nehalem plus aes in common (Westmere also needs pclmulqdq).
"""
import os
import shutil
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import Daemon, Tap, skip_all  # noqa: E402

VIREOD, VMM, VSH = sys.argv[1:4]
t = Tap()
if not shutil.which("virsh"):
    skip_all("no virsh")
d = Daemon(VIREOD, VMM, VSH)
CLIENTS = (("virsh", lambda *a: d.virsh(*a)), ("vsh", lambda *a: d.vsh(*a)))

FILES = {
    "kvm64.xml": "<cpu>\n  <model>kvm64</model>\n</cpu>\n",
    "forbid.xml": "<cpu mode='custom' match='exact'>\n  <model>kvm64</model>\n"
                  "  <feature policy='forbid' name='sse2'/>\n</cpu>\n",
    # kvm64 less pni (SSE3), which this project's nested KVM does not report
    "nopni.xml": "<cpu>\n  <model>kvm64</model>\n  <feature policy='disable' name='pni'/>\n"
                 "</cpu>\n",
    "model.xml": "<cpu>\n  <model>NoSuchModel</model>\n</cpu>\n",
    "feature.xml": "<cpu>\n  <model>kvm64</model>\n"
                   "  <feature policy='require' name='nosuchfeat'/>\n</cpu>\n",
    "domain.xml": "<domain type='kvm'>\n  <name>d</name>\n  <cpu mode='custom'>\n"
                  "    <model>kvm64</model>\n  </cpu>\n</domain>\n",
    "two.xml": "<cpu>\n  <arch>x86_64</arch>\n  <model>Nehalem</model>\n"
               "  <feature policy='require' name='aes'/>\n</cpu>\n"
               "<cpu>\n  <arch>x86_64</arch>\n  <model>Westmere</model>\n</cpu>\n",
    "noarch.xml": "<cpu>\n  <model>Westmere</model>\n</cpu>\n",
    "none.xml": "<domain type='kvm'>\n  <name>d</name>\n</domain>\n",
}


def kvm_has_pni():
    """Whether KVM_GET_SUPPORTED_CPUID reports pni (leaf 1 ECX bit 0) on this host."""
    import array
    import fcntl
    n = 256
    buf = array.array("B", struct.pack("II", n, 0) + bytes(40 * n))
    fd = os.open("/dev/kvm", os.O_RDWR)
    try:
        fcntl.ioctl(fd, 0xC008AE05, buf)  # KVM_GET_SUPPORTED_CPUID
    finally:
        os.close(fd)
    nent = struct.unpack_from("I", buf, 0)[0]
    for i in range(nent):
        function, index, flags, eax, ebx, ecx, edx = struct.unpack_from("7I", buf, 8 + 40 * i)
        if function == 1:
            return bool(ecx & 1)
    return False


def main():
    d.start()
    path = {}
    for name, text in FILES.items():
        path[name] = os.path.join(d.tmp, name)
        with open(path[name], "w") as f:
            f.write(text)
    outs = {}
    for who, run in CLIENTS:
        for f in ("kvm64.xml", "domain.xml"):
            r = run("cpu-compare", path[f])
            t.ok(r.returncode == 0 and r.stdout ==
                 "Host CPU is a superset of CPU described in %s\n" % path[f],
                 "%s cpu-compare %s: the host is a superset" % (who, f), r.stdout + r.stderr)
        r = run("cpu-compare", path["forbid.xml"])
        t.ok(r.returncode == 1 and r.stdout ==
             "CPU described in %s is incompatible with host CPU\n" % path["forbid.xml"],
             who + " cpu-compare: a forbidden feature the host has is incompatible",
             r.stdout + r.stderr)
        for f, what in (("model.xml", "model NoSuchModel"), ("feature.xml", "feature nosuchfeat")):
            r = run("cpu-compare", path[f])
            t.ok(r.returncode == 1 and r.stderr.strip() ==
                 "error: Failed to compare host CPU with %s\n"
                 "error: internal error: Unknown CPU %s" % (path[f], what),
                 "%s cpu-compare: an unknown %s is refused with libvirt's words" % (who, what),
                 r.stdout + r.stderr)
        r = run("cpu-compare", path["none.xml"])
        t.ok(r.returncode == 1 and "does not contain any <cpu> element" in r.stderr,
             who + " cpu-compare: a file without a <cpu> is refused", r.stdout + r.stderr)
        # against what KVM gives a guest: sse2 is always offered, so forbidding it is
        # incompatible; a made-up model is refused as by cpu-compare
        r = run("hypervisor-cpu-compare", path["forbid.xml"])
        t.ok(r.returncode == 1 and r.stdout ==
             "CPU described in %s is incompatible with the CPU provided by hypervisor on the "
             "host\n" % path["forbid.xml"],
             who + " hypervisor-cpu-compare: a forbidden feature KVM offers is incompatible",
             r.stdout + r.stderr)
        r = run("hypervisor-cpu-compare", path["nopni.xml"])
        t.ok(r.returncode == 0 and r.stdout ==
             "The CPU provided by hypervisor on the host is a superset of CPU described in %s\n"
             % path["nopni.xml"],
             who + " hypervisor-cpu-compare: kvm64 without pni is what KVM can give",
             r.stdout + r.stderr)
        r = run("hypervisor-cpu-compare", path["model.xml"])
        t.ok(r.returncode == 1 and r.stderr.strip() ==
             "error: Failed to compare hypervisor CPU with %s\n"
             "error: internal error: Unknown CPU model NoSuchModel" % path["model.xml"],
             who + " hypervisor-cpu-compare: an unknown model is refused", r.stdout + r.stderr)
        r = run("hypervisor-cpu-compare", "--virttype", "qemu", path["kvm64.xml"])
        t.ok(r.returncode == 1 and "unknown virttype: qemu" in r.stderr,
             who + " hypervisor-cpu-compare: a virttype other than kvm is refused",
             r.stdout + r.stderr)
        # hypervisor-cpu-baseline keeps only what KVM offers: where KVM lacks pni (as this
        # project's nested KVM does), every model has it, so the result disables it
        r = run("hypervisor-cpu-baseline", "--model", "kvm64")
        t.ok(r.returncode == 0 and r.stdout.startswith("<cpu mode='custom' match='exact'>") and
             ("<feature policy='disable' name='pni'/>" in r.stdout) != kvm_has_pni() and
             "<model fallback='allow'>" in r.stdout,
             who + " hypervisor-cpu-baseline --model kvm64: KVM's part of kvm64",
             r.stdout + r.stderr)
        r = run("cpu-baseline", path["two.xml"])
        outs[who] = r.stdout
        t.ok(r.returncode == 0 and "<model fallback='allow'>Nehalem</model>" in r.stdout and
             "<feature policy='require' name='aes'/>" in r.stdout and
             "pclmulqdq" not in r.stdout,
             who + " cpu-baseline: Nehalem with aes is what Nehalem+aes and Westmere share",
             r.stdout + r.stderr)
        r = run("cpu-baseline", path["noarch.xml"])
        t.ok(r.returncode == 1 and "error: XML error: Missing CPU architecture" in r.stderr,
             who + " cpu-baseline: a CPU without <arch> is refused as libvirt refuses it",
             r.stdout + r.stderr)
    t.ok(outs["virsh"] == outs["vsh"], "vsh cpu-baseline prints what virsh prints",
         outs["virsh"] + outs["vsh"])
    # cpu-models (virConnectGetCPUModelNames): vireo-vmm's models for x86_64 and i686, one
    # a line; another architecture refused with the daemon's words, through both clients alike
    models = {}
    for who, run in CLIENTS:
        for arch in ("x86_64", "i686"):
            r = run("cpu-models", arch)
            names = r.stdout.splitlines()
            models[who, arch] = r.stdout
            t.ok(r.returncode == 0 and "qemu64" in names and "Westmere" in names and
                 "kvm64" in names and len(names) == len(set(names)) and "" not in names,
                 "%s cpu-models %s: vireo-vmm's models, one a line" % (who, arch),
                 r.stdout + r.stderr)
        for arch, line in (
                ("aarch64", "unsupported configuration: vireo-vmm has no CPU models for "
                            "architecture 'aarch64' (it runs x86_64 guests)"),
                ("nosucharch", "invalid argument: cannot find architecture nosucharch")):
            r = run("cpu-models", "--arch", arch)
            models[who, arch] = r.stdout + r.stderr
            t.ok(r.returncode == 1 and r.stdout == "" and r.stderr.strip() ==
                 "error: failed to get CPU model names\nerror: " + line,
                 "%s cpu-models %s: refused with one line" % (who, arch), r.stdout + r.stderr)
        r = run("cpu-models")
        models[who, None] = r.stdout + r.stderr
        t.ok(r.returncode == 1 and r.stdout == "" and
             r.stderr.strip() == "error: command 'cpu-models' requires <arch> option",
             who + " cpu-models without an architecture is refused", r.stdout + r.stderr)
    for arch in ("x86_64", "i686", "aarch64", "nosucharch", None):
        t.ok(models["virsh", arch] == models["vsh", arch],
             "vsh cpu-models %s prints what virsh prints" % arch,
             models["virsh", arch] + "---\n" + models["vsh", arch])


try:
    main()
except Exception as e:
    t.ok(False, "the test ran to its end", repr(e))
finally:
    if t.failed:
        d.dump_log()
    d.cleanup()
t.done()
