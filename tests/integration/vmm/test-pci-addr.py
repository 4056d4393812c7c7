#!/usr/bin/env python3
"""PCI addresses given with -device ...,bus=pcie.0,addr=SLOT[.FN]: devices land
where addr= puts them, and a taken address is refused in QEMU's words.

Usage: test-pci-addr.py RUN_GUEST TEST_GUEST_ELF VMM...

VMM is the command prefix (vireo-vmm's path, or
'qemu-system-x86_64 -enable-kvm -M microvm,acpi=on,pcie=on'); the same
command lines run under both. Checks, each one TAP line:
 - the test guest's PCI enumeration (tests=pci pci=1) finds the virtio
   functions exactly at the addresses given (06.0, 0a.0, 1f.0, 1f.2 with
   1f.0 multifunction=on, and a device without addr= in the first free
   slot 01.0), and nothing else;
 - the guest's virtio-blk driver works at slot 6, completing a request
   through INTx on GSI 18 (16 + slot 6 % 4: the _PRT swizzle follows the
   real slot);
 - QMP query-pci reports the same slots, functions and qdev ids;
 - clashes and bad addresses are refused with exit status 1 and one line,
   whose text after the program name is QEMU 7.2's: a taken slot (the
   brief's example with a disk and a NIC), slot 0 (the host bridge), a
   function beside a single-function device and the reverse, addr= out of
   range, and a bus that is not pcie.0.
"""
import os
import re
import shlex
import subprocess
import sys
import tempfile

from vmmlib import Qmp, Tap

# Modern ids, and the transitional ones QEMU gives devices on its root bus.
VIRTIO_IDS = {"1af4:1042": "blk", "1af4:1044": "rng", "1af4:1045": "balloon",
              "1af4:1001": "blk", "1af4:1005": "rng", "1af4:1002": "balloon"}


def main():
    run_guest, elf, vmm = sys.argv[1], sys.argv[2], sys.argv[3]
    tap = Tap()
    tmp = tempfile.mkdtemp(prefix="vireo-pci-", dir=os.environ.get("MESON_BUILD_ROOT"))
    raw = os.path.join(tmp, "disk.raw")
    with open(raw, "wb") as f:
        f.write(b"\0" * (256 * 1024))  # the guest's in-flight test needs 320 sectors

    devices = (f"-drive file={raw},format=raw,if=none,id=d0 "
               "-device virtio-blk-pci,drive=d0,serial=addr-disk,id=disk0,bus=pcie.0,addr=0x6 "
               "-device virtio-rng-pci,id=rng0,addr=1f,multifunction=on "
               "-device virtio-rng-pci,id=rng1,addr=1f.2 "
               "-device virtio-balloon-pci,id=bal0,bus=pcie.0,addr=0a.0 "
               "-device virtio-rng-pci,id=rng2")
    want = {(0x06, 0): "blk", (0x0a, 0): "balloon", (0x1f, 0): "rng", (0x1f, 2): "rng",
            (0x01, 0): "rng"}

    # The guest enumerates bus 0 and drives the disk at slot 6 (INTx: GSI 18).
    append = "tests=pci,blk pci=1 blk_serial=addr-disk blk_intx_gsi=18"
    p = subprocess.run([run_guest, "--vmm", vmm, "--kernel", elf, "--append", append,
                        "--extra", devices, "--timeout", "120"],
                       capture_output=True, text=True, timeout=200)
    tap.check(p.returncode == 0, "the guest's pci and blk tests pass with the disk at 06.0",
              p.stdout + p.stderr)
    seen = {}
    for m in re.finditer(r"# pci: 00:([0-9a-f]{2})\.(\d) ([0-9a-f]{4}:[0-9a-f]{4})", p.stdout):
        key = (int(m.group(1), 16), int(m.group(2)))
        if key != (0, 0):
            seen[key] = VIRTIO_IDS.get(m.group(3), m.group(3))
    tap.check(seen == want, "the guest finds each function where addr= put it",
              f"seen {sorted(seen.items())}\nwant {sorted(want.items())}")
    tap.check("completion interrupt through INTx, IOAPIC GSI 18" in p.stdout,
              "virtio-blk at slot 6 interrupts through INTx on GSI 18", p.stdout)

    # QMP query-pci: the same slots, functions and ids.
    sock = os.path.join(tmp, "qmp.sock")
    cmd = shlex.split(vmm) + ["-nodefaults", "-display", "none", "-S", "-kernel", elf,
                              "-qmp", f"unix:{sock},server=on,wait=off"] + shlex.split(devices)
    vm = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        q = Qmp(sock)
        reply = q.cmd("query-pci")
        funcs = {(d["slot"], d["function"]): d.get("qdev_id", "")
                 for b in reply.get("return", []) for d in b["devices"] if d["slot"] != 0}
        ids = {(0x06, 0): "disk0", (0x0a, 0): "bal0", (0x1f, 0): "rng0", (0x1f, 2): "rng1",
               (0x01, 0): "rng2"}
        tap.check(funcs == ids, "query-pci reports the slots, functions and ids", str(reply))
        q.cmd("quit")
        q.close()
        vm.wait(timeout=30)
    finally:
        if vm.poll() is None:
            vm.kill()
            vm.wait()

    # Refusals: one line, QEMU's text after the program name.
    k = ["-nodefaults", "-display", "none", "-S", "-kernel", elf]
    cases = [
        ("a taken slot",
         ["-drive", f"file={raw},format=raw,if=none,id=d0", "-netdev", "user,id=n0",
          "-device", "virtio-blk-pci,drive=d0,id=disk0,bus=pcie.0,addr=0x3",
          "-device", "virtio-net-pci,netdev=n0,bus=pcie.0,addr=0x3"],
         "-device virtio-net-pci,netdev=n0,bus=pcie.0,addr=0x3: PCI: slot 3 function 0 not "
         "available for virtio-net-pci, in use by virtio-blk-pci,id=disk0"),
        ("a taken slot held by a device without id (03.0 is 3)",
         ["-device", "virtio-rng-pci,addr=3", "-device", "virtio-rng-pci,addr=03.0"],
         "-device virtio-rng-pci,addr=03.0: PCI: slot 3 function 0 not available for "
         "virtio-rng-pci, in use by virtio-rng-pci,id=(null)"),
        ("slot 0 (the host bridge)", ["-device", "virtio-rng-pci,addr=0"],
         "-device virtio-rng-pci,addr=0: PCI: slot 0 function 0 not available for "
         "virtio-rng-pci, in use by gpex-root,id=(null)"),
        ("a function beside a single-function device",
         ["-device", "virtio-rng-pci,addr=3", "-device", "virtio-rng-pci,addr=3.1"],
         "-device virtio-rng-pci,addr=3.1: PCI: single function device can't be populated in "
         "function 3.1"),
        ("a single-function device where a function is populated",
         ["-device", "virtio-rng-pci,addr=4.1", "-device", "virtio-rng-pci,addr=4"],
         "-device virtio-rng-pci,addr=4: PCI: 4.0 indicates single function, but 4.1 is "
         "already populated."),
        ("addr= beyond slot 31", ["-device", "virtio-rng-pci,addr=0x20"],
         "-device virtio-rng-pci,addr=0x20: Property 'virtio-rng-pci.addr' doesn't take value "
         "'0x20'"),
        ("addr= beyond function 7", ["-device", "virtio-balloon-pci,addr=3.8"],
         "-device virtio-balloon-pci,addr=3.8: Property 'virtio-balloon-pci.addr' doesn't take "
         "value '3.8'"),
        ("a bus other than pcie.0", ["-device", "virtio-rng-pci,bus=pcie.1"],
         "-device virtio-rng-pci,bus=pcie.1: Bus 'pcie.1' not found"),
    ]
    for name, args, want_msg in cases:
        r = subprocess.run(shlex.split(vmm) + k + args, capture_output=True, text=True,
                           timeout=60)
        lines = [ln for ln in r.stderr.splitlines() if ": warning: " not in ln]
        text = re.sub(r"^[^:]*: (error: )?", "", lines[0]) if len(lines) == 1 else None
        # (QEMU's own warnings about this host's CPU are left out of the count.)
        tap.check(r.returncode == 1 and text == want_msg, f"refused: {name}",
                  f"exit {r.returncode}\nstderr: {r.stderr}\nwant: {want_msg}")
    return tap.report()


if __name__ == "__main__":
    sys.exit(main())
