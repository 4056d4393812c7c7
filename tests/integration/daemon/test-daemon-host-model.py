#!/usr/bin/python3
"""<cpu mode='host-model'> through vireod against the real libvirtd with QEMU (issue #16).

Usage: test-daemon-host-model.py VIREOD VIREO_VMM GUEST

1. domcapabilities' host-model CPU: vireod's model, vendor and disabled features are
   libvirtd's; every feature libvirtd requires is required by vireod too, or is an
   IA32_ARCH_CAPABILITIES MSR bit (libvirt's cpu_map says which: vireo-vmm's CPU model has
   CPUID words only), or is part of the model itself as vireo-vmm runs it (QEMU's model
   table, where libvirt's cpu_map lists fewer features: the guest's CPUID below shows it).
2. A domain with <cpu mode='host-model'> and one feature of its own disabled starts on
   both daemons; the test guest (tests=cpuid) prints the CPUID leaves it is shown, which
   must be the same under vireod as under libvirtd + QEMU (APIC ids masked); and the -cpu
   each VMM was given has the same model and features (libvirtd's QEMU also gets the MSR
   bits and the features its cpu_map's model lacks), the domain's own disabled one included.
   domcapabilities' custom mode lists vireo-vmm's models as libvirtd lists them, and
   `virsh cpu-models x86_64` names each (libvirtd lists more: its CPU map's).
3. The live XML is libvirt's rewrite: mode='custom' match='exact' check='full', the model
   with fallback='forbid', the domain's own <feature> first; the inactive XML keeps
   mode='host-model'.
Prints TAP.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.join(here, "..", "..", "..", "scripts"))
from daemonlib import Daemon, Tap, skip_all  # noqa: E402
import libvirtd_ref  # noqa: E402

VIREOD, VMM, GUEST = sys.argv[1:4]
GUEST = os.path.abspath(GUEST)
CPU_MAP = "/usr/share/libvirt/cpu_map/x86_features.xml"
t = Tap()
if not shutil.which("virsh") or not shutil.which("qemu-system-x86_64"):
    skip_all("needs virsh and qemu-system-x86_64")
if not os.path.exists("/dev/kvm"):
    skip_all("needs /dev/kvm")


def host_model(caps):
    """(model, vendor, required names, disabled names) of a domcapabilities document."""
    for mode in ET.fromstring(caps).find("cpu").findall("mode"):
        if mode.get("name") == "host-model":
            m, v = mode.find("model"), mode.find("vendor")
            feats = [(f.get("policy"), f.get("name")) for f in mode.findall("feature")]
            return (m.text if m is not None else None, v.text if v is not None else None,
                    [n for p, n in feats if p == "require"],
                    [n for p, n in feats if p == "disable"], mode.get("supported"))
    return None


def msr_features():
    names = set()
    for f in ET.parse(CPU_MAP).getroot().iter("feature"):
        if f.find("msr") is not None:
            names.add(f.get("name"))
    return names


def libvirt_bits():
    """libvirt's feature name -> (leaf, sub, register index, bit) for CPUID features."""
    out = {}
    regs = {"eax": 0, "ebx": 1, "ecx": 2, "edx": 3}
    for f in ET.parse(CPU_MAP).getroot().iter("feature"):
        c = f.find("cpuid")
        if c is None:
            continue
        for r, i in regs.items():
            if c.get(r):
                out[f.get("name")] = (int(c.get("eax_in"), 16), int(c.get("ecx_in", "0"), 16),
                                      i, int(c.get(r), 16).bit_length() - 1)
    return out


def dump_words(text):
    """The guest's '# cpuid LEAF.SUB: EAX EBX ECX EDX' lines as {(leaf, sub): [regs]}."""
    out = {}
    for m in re.finditer(r"cpuid ([0-9a-f]{8})\.(\d+): ([0-9a-f]{8}) ([0-9a-f]{8}) "
                         r"([0-9a-f]{8}) ([0-9a-f]{8})", text):
        regs = [int(m.group(i), 16) for i in range(3, 7)]
        key = (int(m.group(1), 16), int(m.group(2)))
        if key == (1, 0):
            regs[1] &= 0x0000ffff  # EBX[31:24] is the APIC id, [23:16] the logical count
        if key == (0xb, 0) or key == (0xb, 1) or key == (0x1f, 0):
            regs[3] = 0  # the x2APIC id
        out[key] = regs
    return out


def has_bit(words, pos):
    leaf, sub, reg, bit = pos
    return bool(words.get((leaf, sub), [0, 0, 0, 0])[reg] >> bit & 1)


def cpu_features(arg):
    """A -cpu value's model and features as {name: on?} ('_' read as '-', QEMU's spellings
    and libvirt's cpu_map ones made one: pclmuldq is pclmulqdq), the model under ''."""
    alias = {"pclmuldq": "pclmulqdq", "sse3": "pni"}
    parts = arg.split(",")
    out = {"": parts[0]}
    for p in parts[1:]:
        if p in ("enforce", "check"):
            continue
        if p[:1] in "+-":
            name, on = p[1:], p[0] == "+"
        else:
            name, _, v = p.partition("=")
            on = v != "off"
        name = name.replace("_", "-")
        out[alias.get(name, name)] = on
    return out


def domain(name, features, serial=""):
    feats = "".join(f"    <feature policy='disable' name='{f}'/>\n" for f in features)
    return f"""<domain type='kvm'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{GUEST}</kernel>
    <cmdline>tests=cpuid</cmdline>
  </os>
  <cpu mode='host-model'>
{feats}  </cpu>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <memballoon model='none'/>
{serial}  </devices>
</domain>
"""


def wait_output(read, timeout=120):
    end = time.time() + timeout
    while time.time() < end:
        text = read()
        if re.search(r"^1\.\.\d+", text, re.M) or "# cpuid 80000008" in text:
            time.sleep(0.5)
            return read()
        time.sleep(0.5)
    return read()


tmp = tempfile.mkdtemp(prefix="host-model-")
d = Daemon(VIREOD, VMM)
try:
    with libvirtd_ref.LibvirtdRef(workdir=os.path.join(tmp, "ref")) as ref:
        def ref_virsh(*args):
            return subprocess.run(["virsh", "-q", "-c", ref.uri] + list(args),
                                  capture_output=True, text=True, timeout=120,
                                  env=dict(os.environ, LC_ALL="C"))

        d.start()
        ref_caps = host_model(ref_virsh("domcapabilities").stdout)
        got_caps = host_model(d.virsh("domcapabilities").stdout)
        t.ok(ref_caps and got_caps and got_caps[4] == "yes" == ref_caps[4],
             "domcapabilities lists a supported host-model CPU on both", f"{got_caps}")
        if not (ref_caps and got_caps):
            t.done()
        model, vendor, req, dis, _ = got_caps
        t.ok((model, vendor) == ref_caps[:2],
             f"host-model: model and vendor as libvirtd's ({model}, {vendor})",
             f"libvirtd {ref_caps[:2]}")
        t.ok(sorted(dis) == sorted(ref_caps[3]), f"host-model: the disabled features as "
             f"libvirtd's ({' '.join(dis)})", f"libvirtd {ref_caps[3]}")
        extra = [f for f in req if f not in ref_caps[2]]
        t.ok(not extra, "host-model: every feature vireod requires libvirtd requires too",
             f"only vireod: {extra}")
        msr = msr_features()
        missing = [f for f in ref_caps[2] if f not in req]
        in_model = [f for f in missing if f not in msr]
        t.ok(len(missing) > len(in_model) or not missing,
             "host-model: libvirtd's required features vireod leaves out are MSR bits "
             f"({' '.join(f for f in missing if f in msr)}) or in the model "
             f"({' '.join(in_model)}): checked in the guest below")

        def custom_models(caps):
            for mode in ET.fromstring(caps).find("cpu").findall("mode"):
                if mode.get("name") == "custom":
                    return [(m.text, m.get("usable"), m.get("vendor"))
                            for m in mode.findall("model")]
            return []
        ours = custom_models(d.virsh("domcapabilities").stdout)
        theirs = custom_models(ref_virsh("domcapabilities").stdout)
        t.ok(len(ours) > 20 and [m for m in theirs if m[0] in {o[0] for o in ours}] == ours,
             f"domcapabilities' custom mode: the {len(ours)} models vireo-vmm knows, each "
             "with libvirtd's usable and vendor, in libvirtd's order",
             f"vireod {ours}\nlibvirtd {theirs}")

        ours = d.virsh("cpu-models", "x86_64").stdout.split()
        theirs = ref_virsh("cpu-models", "x86_64").stdout.split()
        t.ok(len(ours) > 20 and not set(ours) - set(theirs),
             f"cpu-models x86_64: {len(ours)} models, each one libvirtd lists",
             f"not in libvirtd's: {set(ours) - set(theirs)}")
        a, b = d.virsh("cpu-models", "foo"), ref_virsh("cpu-models", "foo")
        t.ok(a.returncode == b.returncode == 1 and a.stderr == b.stderr,
             "cpu-models of an unknown architecture: libvirtd's error", a.stderr + b.stderr)

        bits = libvirt_bits()
        own = "vme" if "vme" in bits else None
        outs, cpu_args = {}, {}
        for who in ("vireod", "libvirtd"):
            for variant, feats in (("off", [own]), ("plain", [])):
                name = f"hm-{variant}"
                if who == "vireod":
                    r = d.virsh("create", d.write(f"{name}.xml", domain(name, feats)))
                    read = lambda n=name: d.console_log(n)  # noqa: E731
                else:
                    log = os.path.join(tmp, f"{name}.serial")
                    serial = (f"    <serial type='file'><source path='{log}'/>"
                              "<target port='0'/></serial>\n")
                    path = os.path.join(tmp, f"ref-{name}.xml")
                    open(path, "w").write(domain(name, feats, serial))
                    r = ref_virsh("create", path)
                    read = lambda p=log: open(p, errors="replace").read() \
                        if os.path.exists(p) else ""  # noqa: E731
                t.ok(r.returncode == 0, f"{who}: a host-model domain ({variant}) starts",
                     r.stdout + r.stderr + (d.vmm_log(name) if who == "vireod" else ""))
                if who == "vireod" and variant == "off":
                    live = d.virsh("dumpxml", name).stdout
                    cpu = ET.fromstring(live).find("cpu")
                    m = cpu.find("model")
                    fl = [(f.get("policy"), f.get("name")) for f in cpu.findall("feature")]
                    t.ok(cpu.get("mode") == "custom" and cpu.get("match") == "exact" and
                         cpu.get("check") == "full" and m is not None and m.text == model and
                         m.get("fallback") == "forbid" and fl[:1] == [("disable", own)] and
                         ("require", "invtsc") not in fl,
                         "live XML: the custom CPU libvirt starts a host-model domain as "
                         "(the domain's own feature first, invtsc left out)", live)
                if who == "vireod":
                    argv = open(f"/proc/{d.vmm_pid(name)}/cmdline").read().split("\0")
                    cpu_args[who, variant] = cpu_features(argv[argv.index("-cpu") + 1])
                else:
                    qlog = open(os.path.join(tmp, "ref", "log", "qemu", name + ".log")).read()
                    m = re.search(r"-cpu (\S+)", qlog)
                    cpu_args[who, variant] = cpu_features(m.group(1) if m else "")
                text = wait_output(read)
                outs[(who, variant)] = dump_words(text)
                t.ok(len(outs[(who, variant)]) > 3, f"{who} ({variant}): the guest printed "
                     f"its CPUID ({len(outs[(who, variant)])} leaves)", text[-2000:])
                if who == "vireod":
                    d.virsh("destroy", name)
                else:
                    ref_virsh("destroy", name)
        for variant in ("off", "plain"):
            a, b = outs[("vireod", variant)], outs[("libvirtd", variant)]
            diffs = [f"{k[0]:x}.{k[1]}: vireod {a.get(k)} libvirtd {b.get(k)}"
                     for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
            t.ok(a and not diffs, f"host-model ({variant}): the guest's CPUID under vireod "
                 "is libvirtd + QEMU's", "\n".join(diffs))
        # This host's nested KVM shows the guest its own leaves 1 and 7 whatever the table
        # (the dumps are equal on both sides, which shows nothing about a disabled bit): the
        # -cpu each VMM was given is compared instead, feature by feature.
        for variant in ("off", "plain"):
            a, b = cpu_args["vireod", variant], cpu_args["libvirtd", variant]
            own_model = {f.replace("_", "-") for f in in_model}
            want = {k: v for k, v in b.items() if k not in msr and not (v and k in own_model)}
            t.ok(a and a == want, f"host-model ({variant}): vireo-vmm's -cpu has libvirtd's "
                 "QEMU's model and features (less the MSR bits and the model's own)",
                 f"vireod {sorted(a.items())}\nlibvirtd {sorted(want.items())}")
        t.ok(cpu_args["vireod", "off"].get(own) is False and
             own not in cpu_args["vireod", "plain"],
             f"the domain's <feature policy='disable' name='{own}'/> reaches vireo-vmm")
        for f in in_model:
            t.ok(f in bits and has_bit(outs[("vireod", "plain")], bits[f]),
                 f"'{f}' (required by libvirtd, in vireo-vmm's {model}) is in the guest's CPUID")

        # The inactive definition keeps host-model
        r = d.virsh("define", d.write("def.xml", domain("hm-def", [])))
        cfg = d.virsh("dumpxml", "--inactive", "hm-def").stdout
        t.ok(r.returncode == 0 and "<cpu mode='host-model'" in cfg,
             "the inactive definition keeps mode='host-model'", cfg)
        d.virsh("undefine", "hm-def")
finally:
    d.cleanup(["hm-off", "hm-plain"])
    shutil.rmtree(tmp, ignore_errors=True)
t.done()
