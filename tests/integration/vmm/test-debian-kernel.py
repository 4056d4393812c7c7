#!/usr/bin/env python3
"""Boots Debian's stock cloud kernel under vireo-vmm as a real client of the
boot protocols and checks what it prints early: our command line, and a
BIOS-e820 map whose usable ranges are exactly what -m gave it.

Usage: test-debian-kernel.py VIREO_VMM EXTRACT_VMLINUX MODE
  MODE vmlinux: the uncompressed kernel extracted from the bzImage (by this
                project's extract-vmlinux), booted twice: through its PVH
                note (-m 4608M, so the map has RAM above 4 GiB), and with the
                note disabled in a copy, through the 64-bit entry with a zero
                page (-m 256M).
  MODE bzimage: the bzImage itself through the Linux boot protocol's 64-bit
                entry (its decompressor runs in the guest: slow where guest
                kernel code is emulated, so this is in the 'slow' suite).
  MODE bzimage-pc: the bzImage on -M pc and -M q35 through SeaBIOS, fw_cfg and
                QEMU's linuxboot_dma.bin, as QEMU boots -kernel there: the
                kernel's own real-mode setup code must run and print its EDD
                probe on COM1, which it does only after finding earlyprintk=serial
                in the command line linuxboot_dma.bin handed it (its
                decompressor is left to the 'slow' bzimage mode).

The kernel comes from `apt-get download` of linux-image-cloud-amd64's
versioned dependency, unpacked with dpkg-deb -x into
${XDG_CACHE_HOME:-~/.cache}/vireo (never into the repository). Without
network or apt the test is skipped, saying why.

On this project's machines KVM is nested in a software-assisted mode where
guest kernel code is emulated; the kernel gets through its early log and
then crawls or stops with an emulation failure. The test passes on the early
log, then stops the VM, and says so; on hardware virtualization the same
kernel would boot on (a busybox initramfs variant that waits for userspace
is not written yet).
"""
import os
import re
import struct
import subprocess
import sys
import time

results = []


def tap(good, name, diags=()):
    results.append((good, name, list(diags)))


def cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "vireo")


def fetch_kernel():
    """Returns (path of the cached vmlinuz, None), fetching it with the project's
    scripts/debian-kernel if needed, or (None, why)."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../scripts/debian-kernel")
    r = subprocess.run([script], capture_output=True, text=True)
    if r.returncode != 0:
        return None, r.stderr.strip() or "scripts/debian-kernel failed"
    return r.stdout.strip(), None


def without_pvh_note(src, dst):
    """Copies an ELF, renaming its XEN_ELFNOTE_PHYS32_ENTRY note (type 18) so loaders
    do not see it."""
    data = bytearray(open(src, "rb").read())
    phoff, = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    patched = 0
    for i in range(phnum):
        ph = phoff + i * phentsize
        ptype, = struct.unpack_from("<I", data, ph)
        if ptype != 4:
            continue
        off, = struct.unpack_from("<Q", data, ph + 8)
        size, = struct.unpack_from("<Q", data, ph + 32)
        pos = off
        while pos + 12 <= off + size:
            namesz, descsz, ntype = struct.unpack_from("<III", data, pos)
            name = bytes(data[pos + 12:pos + 12 + namesz])
            if ntype == 18 and name == b"Xen\0":
                struct.pack_into("<I", data, pos + 8, 0x7ffe)
                patched += 1
            pos += 12 + ((namesz + 3) & ~3) + ((descsz + 3) & ~3)
    with open(dst, "wb") as f:
        f.write(data)
    return patched


def expected_usable(mem):
    low_end = min(mem, 0xC0000000)
    ranges = [(0, 0x9FC00 - 1), (0x100000, low_end - 1)]
    if mem > 0xC0000000:
        ranges.append((0x100000000, 0x100000000 + mem - 0xC0000000 - 1))
    return ranges


def boot(vmm, kernel, mem_mib, label, timeout):
    append = f"console=ttyS0 earlyprintk=serial vireo_test={label} panic=-1"
    cmd = [vmm, "-nodefaults", "-display", "none", "-serial", "stdio", "-m", f"{mem_mib}M",
           "-kernel", kernel, "-append", append]
    t0 = time.time()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.set_blocking(p.stdout.fileno(), False)
    out = b""
    usable_re = re.compile(rb"BIOS-e820: \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\] usable")
    done_re = re.compile(rb"BIOS-e820: .*\n(?!.*BIOS-e820)", re.S)
    finished = False
    while time.time() - t0 < timeout:
        try:
            chunk = os.read(p.stdout.fileno(), 65536)
        except BlockingIOError:
            chunk = None
        if chunk:
            out += chunk
            # The map is complete once a line after the last e820 entry has arrived.
            if b"Command line:" in out and done_re.search(out) and \
                    re.search(rb"BIOS-e820:[^\n]*\n[^\n]*[^\n ]+[^\n]*\n", out) and \
                    b"printk: bootconsole" in out:
                finished = True
                break
        elif chunk == b"" or p.poll() is not None:
            break
        else:
            time.sleep(0.05)
    elapsed = time.time() - t0
    still_running = p.poll() is None
    if still_running:
        p.terminate()
    try:
        _, err = p.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
    text = out.decode(errors="replace")
    cmdline_ok = f"Command line: {append}" in text
    usable = [(int(a, 16), int(b, 16)) for a, b in usable_re.findall(out)]
    want = expected_usable(mem_mib << 20)
    diags = [f"{elapsed:.1f} s to the early log" if finished else
             f"no complete early log after {elapsed:.1f} s"]
    if still_running:
        diags.append("the VM was still running (guest kernel code is emulated here); stopped it "
                     "after the early log, which is what this test checks")
    else:
        diags.append(f"vireo-vmm exited with status {p.returncode}: "
                     f"{err.decode(errors='replace').strip()[-300:]}")
    if not cmdline_ok:
        diags.append("kernel did not print our command line")
    if usable != want:
        diags.append(f"usable e820 ranges {[(hex(a), hex(b)) for a, b in usable]}, "
                     f"want {[(hex(a), hex(b)) for a, b in want]}")
    for line in text.splitlines()[:12]:
        diags.append("guest: " + line.rstrip())
    tap(finished and cmdline_ok and usable == want,
        f"{label}: kernel prints our command line and an e820 map matching -m {mem_mib}M",
        diags)


def boot_pc(vmm, kernel, machine, timeout):
    """-M machine -kernel bzImage: waits for the setup code's EDD line on COM1."""
    append = "earlyprintk=serial,ttyS0,115200 console=ttyS0 vireo_test=bzimage-firmware"
    cmd = [vmm, "-M", machine, "-nodefaults", "-display", "none", "-serial", "stdio", "-m",
           "256M", "-kernel", kernel, "-append", append]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.set_blocking(p.stdout.fileno(), False)
    out, t0 = b"", time.time()
    while time.time() - t0 < timeout and b"Probing EDD" not in out:
        try:
            chunk = os.read(p.stdout.fileno(), 65536)
        except BlockingIOError:
            chunk = None
        if chunk:
            out += chunk
        elif chunk == b"" or p.poll() is not None:
            break
        else:
            time.sleep(0.1)
    if p.poll() is None:
        p.terminate()
    try:
        _, err = p.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
    text = out.decode(errors="replace")
    tap("Probing EDD" in text,
        f"-M {machine}: SeaBIOS boots the bzImage through linuxboot_dma.bin; its setup code "
        "reads our command line (earlyprintk=serial) and prints its EDD probe on COM1",
        [f"output: {text[-500:]!r}", f"stderr: {err.decode(errors='replace')[-500:]}",
         "command: " + " ".join(cmd)])


def main():
    vmm, extract, mode = sys.argv[1:4]
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("1..0 # SKIP /dev/kvm is not usable")
        return
    vmlinuz, why = fetch_kernel()
    if not vmlinuz:
        print(f"1..0 # SKIP cannot get the Debian kernel: {why}")
        return
    if mode == "bzimage":
        boot(vmm, vmlinuz, 512, "bzimage-64bit-entry", 900)
    elif mode == "bzimage-pc":
        boot_pc(vmm, vmlinuz, "pc", 400)
        boot_pc(vmm, vmlinuz, "q35", 400)
    else:
        vmlinux = os.path.join(cache_dir(), os.path.basename(vmlinuz).replace("vmlinuz", "vmlinux"))
        if not os.path.exists(vmlinux):
            r = subprocess.run([extract, vmlinuz, vmlinux + ".tmp"], capture_output=True,
                               text=True)
            if r.returncode != 0:
                tap(False, "extract vmlinux from the bzImage", [r.stderr.strip()])
                vmlinux = None
            else:
                os.rename(vmlinux + ".tmp", vmlinux)
        if vmlinux:
            boot(vmm, vmlinux, 4608, "vmlinux-pvh-entry", 190)
            nopvh = vmlinux + ".nopvh"
            if not os.path.exists(nopvh):
                n = without_pvh_note(vmlinux, nopvh + ".tmp")
                os.rename(nopvh + ".tmp", nopvh)
            boot(vmm, nopvh, 256, "vmlinux-64bit-entry", 190)
    print(f"1..{len(results)}")
    for i, (good, name, diags) in enumerate(results, 1):
        print(f"{'ok' if good else 'not ok'} {i} - {name}")
        for d in diags:
            print(f"# {d}")


if __name__ == "__main__":
    main()
