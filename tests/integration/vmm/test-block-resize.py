#!/usr/bin/env python3
"""QMP block_resize end to end, under vireo-vmm or QEMU.

Usage: test-block-resize.py TEST_GUEST_ELF VMM...

VMM is the command prefix (vireo-vmm's path, or
'qemu-system-x86_64 -enable-kvm -M microvm,acpi=on,pcie=on'). For a raw and a
qcow2 image of 1 MiB, the guest (tests=blk blk_resize=1, t-virtio.c) makes
MSI-X entry 0 its configuration vector and says "blk-resize: ready
capacity=2048"; the test sends block_resize to 3 MiB (by device= for raw, by
node-name= for qcow2) and checks:
 - the guest got the configuration interrupt and prints capacity=6144, and
   reads the new last sector;
 - query-block shows the new virtual size;
 - the file grew: raw file size, qcow2 virtual size by `qemu-img info`, and
   `qemu-img check` passes;
 - errors with QEMU 7.2's wording: an unknown device, a negative size, a
   qcow2 size that is not a multiple of 512, a read-only drive.
(Shrinking qcow2, which the block layer does as QEMU 7.2 since issue #18,
is tested through vireo-img: here the guest ends once it has read the new
last sector.)
"""
import json
import os
import shlex
import subprocess
import sys
import tempfile

from vmmlib import Guest, Qmp, Tap, err_is

MIB = 1 << 20
tap = Tap()
check = tap.check


def run_one(elf, vmm, tmp, fmt):
    img = os.path.join(tmp, "disk." + fmt)
    ro = os.path.join(tmp, "ro.raw")
    subprocess.run(["qemu-img", "create", "-q", "-f", fmt, img, str(MIB)], check=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", ro, str(MIB)], check=True)
    sock = os.path.join(tmp, "qmp.sock")
    cmd = shlex.split(vmm) + [
        "-nodefaults", "-display", "none", "-serial", "stdio", "-m", "128M", "-kernel", elf,
        "-append", "tests=blk blk_resize=1", "-qmp", f"unix:{sock},server=on,wait=off",
        "-drive", f"file={img},format={fmt},if=none,id=drive0,node-name=node0",
        "-device", "virtio-blk-pci,drive=drive0,id=vblk0",
        "-drive", f"file={ro},format=raw,if=none,id=drive1,readonly=on",
        "-device", "virtio-blk-pci,drive=drive1",  # after drive0: the guest uses the first
        "-device", "isa-debug-exit,iobase=0xf4,iosize=4"]
    g = Guest(cmd)
    try:
        ready = g.wait_line("blk-resize: ready")
        check(ready and "capacity=2048" in ready, f"{fmt}: guest ready with 2048 sectors",
              g.text())
        if not ready:
            return
        q = Qmp(sock)
        qmp = q.cmd

        def generic(reply, desc):
            return err_is(reply, "GenericError", desc)

        r = qmp("block_resize", {"device": "nope", "size": MIB})
        check(generic(r, "Cannot find device='nope' nor node-name=''"),
              f"{fmt}: unknown device refused with QEMU's message", json.dumps(r))
        r = qmp("block_resize", {"device": "drive0", "size": -1})
        check(generic(r, "Parameter 'size' expects a >0 size"),
              f"{fmt}: negative size refused", json.dumps(r))
        r = qmp("block_resize", {"device": "drive1", "size": 2 * MIB})
        check(generic(r, "Image is read-only"), f"{fmt}: read-only drive refused", json.dumps(r))
        if fmt == "qcow2":
            r = qmp("block_resize", {"node-name": "node0", "size": 3 * MIB + 1})
            check(generic(r, "The new size must be a multiple of 512"),
                  "qcow2: size not a multiple of 512 refused", json.dumps(r))
        args = {"device": "drive0"} if fmt == "raw" else {"node-name": "node0"}
        r = qmp("block_resize", dict(args, size=3 * MIB))
        check(r.get("return") == {}, f"{fmt}: block_resize to 3 MiB by "
              f"{'device' if fmt == 'raw' else 'node-name'}", json.dumps(r))
        line = g.wait_line("blk-resize: capacity=")
        check(line and "capacity=6144" in line,
              f"{fmt}: the guest got the config interrupt and sees 6144 sectors", g.text())
        blk = qmp("query-block")["return"]
        size = [b["inserted"]["image"]["virtual-size"] for b in blk if b["device"] == "drive0"]
        check(size == [3 * MIB], f"{fmt}: query-block shows 3 MiB", json.dumps(blk))
        q.close()
        rc, text, err = g.finish()
        check("ok 1 - virtio-blk: configuration interrupt" in text and
              "ok 2 - virtio-blk: read of the new last sector" in text and
              "not ok" not in text and rc == 1,
              f"{fmt}: guest TAP lines pass", f"exit {rc}\n{text}\n{err}")
        if fmt == "raw":
            check(os.path.getsize(img) == 3 * MIB, "raw: the file is 3 MiB",
                  str(os.path.getsize(img)))
        else:
            info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", img],
                                             capture_output=True, text=True).stdout)
            check(info.get("virtual-size") == 3 * MIB, "qcow2: qemu-img info says 3 MiB",
                  json.dumps(info))
            c = subprocess.run(["qemu-img", "check", img], capture_output=True, text=True)
            check(c.returncode == 0, "qcow2: qemu-img check passes after the resize",
                  c.stdout + c.stderr)
    finally:
        g.kill()
        for path in (sock, img, ro):
            if os.path.exists(path):
                os.unlink(path)


def main():
    elf, vmm = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="vireo-resize-", dir=os.environ.get("MESON_BUILD_ROOT"))
    try:
        for fmt in ("raw", "qcow2"):
            run_one(elf, vmm, tmp, fmt)
    finally:
        os.rmdir(tmp)
    return tap.report()


if __name__ == "__main__":
    sys.exit(main())
