#!/usr/bin/env python3
"""-blockdev on vireo-vmm's command line, with the lines the real libvirtd writes.

Usage: test-blockdev.py VIREO_VMM TEST_GUEST_ELF

The real libvirtd 9.0 (scripts/libvirtd_ref.py, a private instance) turns a domain with a
qcow2 disk over a qcow2 backing file (cache='none', discard='unmap') into its QEMU command
line (virsh domxml-to-native): four -blockdev JSON objects (a file and a qcow2 node per
layer, the top naming its backing node) and a -device virtio-blk-pci on the top node. Those
-blockdev lines, as libvirtd wrote them, go to vireo-vmm and to qemu-system-x86_64; the test
guest's blk-crc32 reads the whole disk, and its CRC-32 must equal zlib.crc32 of
qemu-img convert -O raw of the top image under both. The key=value form (file.driver=...,
file.filename=..., backing=NODE), and refusals with one line each: an unknown member, a node
that does not exist, bad JSON, nbd, and (vireo-vmm follows the header's backing chain) a
backing node other than the header's backing file. "backing": null: the guest reads the
top image alone, under both.
TAP on stdout.
"""
import json
import os
import shlex
import subprocess
import sys
import tempfile
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                "scripts"))
from libvirtd_ref import LibvirtdRef  # noqa: E402

SIZE = 256 * 1024
results = []


def check(good, name, diag=None):
    results.append((bool(good), name, diag))


DOMAIN = """<domain type='kvm'>
  <name>bd</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><kernel>{elf}</kernel></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='none' discard='unmap'/>
      <source file='{top}'/>
      <backingStore type='file'>
        <format type='qcow2'/>
        <source file='{base}'/>
      </backingStore>
      <target dev='vda' bus='virtio'/>
    </disk>
    <memballoon model='none'/>
  </devices>
</domain>
"""


def libvirt_lines(tmp, elf, top, base):
    """libvirtd's -blockdev arguments and its virtio-blk-pci -device object."""
    xml = os.path.join(tmp, "bd.xml")
    open(xml, "w").write(DOMAIN.format(elf=elf, top=top, base=base))
    with LibvirtdRef() as ref:
        p = subprocess.run(["virsh", "-c", ref.uri, "domxml-to-native", "qemu-argv", xml],
                           capture_output=True, text=True, timeout=60)
    words = shlex.split(p.stdout)
    blockdevs = [words[i + 1] for i, w in enumerate(words) if w == "-blockdev"]
    devices = [json.loads(words[i + 1]) for i, w in enumerate(words)
               if w == "-device" and words[i + 1].startswith("{") and
               "virtio-blk-pci" in words[i + 1]]
    return blockdevs, (devices[0] if devices else None), p.stdout + p.stderr


def main():
    vmm, elf = sys.argv[1], os.path.abspath(sys.argv[2])
    tmp = tempfile.mkdtemp(prefix="vireo-blockdev-", dir=os.environ.get("MESON_BUILD_ROOT"))
    try:
        src = os.path.join(tmp, "src.raw")
        open(src, "wb").write(os.urandom(SIZE))
        base, top = os.path.join(tmp, "base.qcow2"), os.path.join(tmp, "top.qcow2")
        subprocess.run(["qemu-img", "convert", "-O", "qcow2", src, base], check=True)
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2",
                        top], check=True)
        subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 65536 70000", top],
                       check=True, capture_output=True)
        want_raw = os.path.join(tmp, "want.raw")
        subprocess.run(["qemu-img", "convert", "-O", "raw", top, want_raw], check=True)
        want = "%08x" % zlib.crc32(open(want_raw, "rb").read())
        # The top alone (qemu-img reads it with "backing": null): its clusters, zeroes elsewhere.
        alone_raw = os.path.join(tmp, "alone.raw")
        subprocess.run(["qemu-img", "convert", "-O", "raw", "json:" + json.dumps(
            {"driver": "qcow2", "backing": None, "file": {"driver": "file", "filename": top}}),
            alone_raw], check=True)
        want_alone = "%08x" % zlib.crc32(open(alone_raw, "rb").read())

        def run(cmd, args, timeout=200):
            full = shlex.split(cmd) + [
                "-nodefaults", "-display", "none", "-serial", "stdio", "-m", "128M",
                "-kernel", elf, "-append", "blk-crc32",
                "-device", "isa-debug-exit,iobase=0xf4,iosize=4"] + args
            p = subprocess.run(full, capture_output=True, text=True, timeout=timeout)
            crc = next((ln.strip()[6:] for ln in p.stdout.splitlines()
                        if ln.startswith("crc32=")), None)
            return p, crc

        blockdevs, dev, out = libvirt_lines(tmp, elf, top, base)
        check(len(blockdevs) == 4 and dev and dev.get("drive") == "libvirt-1-format" and
              any('"backing":"libvirt-2-format"' in b for b in blockdevs),
              "libvirtd writes four -blockdev nodes, the top naming its backing node", out)
        if not dev:
            return
        # vireo-vmm's -device takes key=value: the same device, by its drive and id.
        device = ["-device", f"virtio-blk-pci,drive={dev['drive']},id={dev['id']}"]
        args = [a for b in blockdevs for a in ("-blockdev", b)] + device
        for name, cmd in (("vireo-vmm", vmm), ("qemu-system-x86_64",
                          "qemu-system-x86_64 -enable-kvm -M microvm,acpi=on,pcie=on,rtc=on")):
            p, crc = run(cmd, args)
            check(crc == want, f"{name}: the guest reads the disk libvirtd's -blockdev lines "
                  "describe", f"crc {crc}, want {want}, exit {p.returncode}\n"
                  f"{p.stdout[-600:]}{p.stderr[-600:]}")

        # The key=value form, the backing chain from the header.
        p, crc = run(vmm, ["-blockdev", f"driver=qcow2,node-name=disk0,file.driver=file,"
                           f"file.filename={top},cache.direct=on,discard=unmap",
                           "-device", "virtio-blk-pci,drive=disk0"])
        check(crc == want, "key=value form: file.driver=file,file.filename=...",
              f"crc {crc}, want {want}\n{p.stdout[-400:]}{p.stderr[-400:]}")

        # "backing" names the node of the header's backing file; another one is refused
        # (vireo-vmm follows the header's chain).
        chain = ["-blockdev", f"driver=file,node-name=b0,filename={base}",
                 "-blockdev", "driver=qcow2,node-name=bf,file=b0,read-only=on"]
        p, crc = run(vmm, chain + ["-blockdev", f"driver=qcow2,node-name=t,file.driver=file,"
                                   f"file.filename={top},backing=bf",
                                   "-device", "virtio-blk-pci,drive=t"])
        check(crc == want, "key=value form with backing=NODE",
              f"crc {crc}, want {want}\n{p.stdout[-400:]}{p.stderr[-400:]}")
        other = os.path.join(tmp, "other.qcow2")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", other, str(SIZE)], check=True)
        wrong = ["-blockdev", f"driver=file,node-name=o0,filename={other}",
                 "-blockdev", "driver=qcow2,node-name=of,file=o0,read-only=on",
                 "-blockdev", f"driver=qcow2,node-name=t,file.driver=file,file.filename={top},"
                 "backing=of", "-device", "virtio-blk-pci,drive=t"]
        nulled = ["-blockdev", json.dumps({"driver": "qcow2", "node-name": "t", "backing": None,
                                           "file": {"driver": "file", "filename": top}}),
                  "-device", "virtio-blk-pci,drive=t"]
        # "backing": null opens the image without its backing file: the guest reads the top
        # alone (zeroes where it has no data), under both.
        for name, cmd in (("vireo-vmm", vmm), ("qemu-system-x86_64",
                          "qemu-system-x86_64 -enable-kvm -M microvm,acpi=on,pcie=on,rtc=on")):
            p, crc = run(cmd, nulled)
            check(crc == want_alone, f"{name}: backing: null, the guest reads the top alone",
                  f"crc {crc}, want {want_alone}\n{p.stdout[-400:]}{p.stderr[-400:]}")
        for name, args, text in (
                ("backing=NODE that is not the header's backing file", wrong,
                 "backing node 'of' is not the backing file"),):
            p, crc = run(vmm, args, timeout=60)
            err = p.stderr.strip()
            check(p.returncode == 1 and crc is None and err.count("\n") == 0 and text in err,
                  f"refused: {name}", err)

        # Refusals: one line each, naming what.
        for name, args, text in (
                ("an unknown member", ["-blockdev", f"driver=file,node-name=x,filename={base},"
                                       "bogus=1"], "Parameter 'bogus' is unexpected"),
                ("a file node that does not exist",
                 ["-blockdev", '{"driver":"qcow2","node-name":"f","file":"nope"}'],
                 "Cannot find device='' nor node-name='nope'"),
                ("a backing node that does not exist",
                 ["-blockdev", f"driver=qcow2,node-name=f,file.driver=file,file.filename={top},"
                  "backing=nope"], "Cannot find device='' nor node-name='nope'"),
                ("bad JSON", ["-blockdev", '{"driver":'], "JSON parse error"),
                ("no driver", ["-blockdev", f"node-name=x,filename={base}"],
                 "Parameter 'driver' is missing"),
                ("the same node name twice",
                 ["-blockdev", f"driver=file,node-name=x,filename={base}",
                  "-blockdev", f"driver=file,node-name=x,filename={top}"],
                 "Duplicate nodes with node-name='x'"),
                ("nbd on the command line",
                 ["-blockdev", "driver=nbd,node-name=n,server.type=unix,server.path=/nonexistent"],
                 "driver nbd is taken by QMP blockdev-add only")):
            p, crc = run(vmm, args, timeout=60)
            err = p.stderr.strip()
            check(p.returncode == 1 and crc is None and err.count("\n") == 0 and text in err and
                  "-blockdev" in err, f"refused: {name}", err)
    finally:
        subprocess.run(["rm", "-rf", tmp])
        for i, (good, name, diag) in enumerate(results, 1):
            print(("ok" if good else "not ok"), i, "-", name)
            if not good and diag:
                for line in str(diag).splitlines():
                    print("#", line)
        print(f"1..{len(results)}")


if __name__ == "__main__":
    main()
