#!/usr/bin/env python3
"""vireo-vmm's NBD server, checked with the real QEMU tools.

Usage: test-nbd.py VIREO_VMM TEST_GUEST_ELF

A VM (never started: -S) with a qcow2 drive and a raw one. QMP nbd-server-start
on a unix socket, nbd-server-add of both (the raw one writable), then:
`qemu-nbd --list` shows both exports with their sizes and read-only flags;
`qemu-img compare` reads each export and finds it equal to the image it
serves (the qcow2 through vireo's qcow2 driver, so the bytes are the guest's
view); `qemu-io` writes a pattern through the writable export, and the raw
file then holds it; a write to the read-only export is refused; the
refusals of nbd-server-add (no server, unknown drive, duplicate name) and of
a second nbd-server-start are QEMU's words; after nbd-server-stop nothing
listens. The same over tcp: inside a network namespace (198.18.0.1).
"""
import os
import subprocess
import sys
import tempfile

from vmmlib import Guest, Qmp, Tap

tap = Tap()
check = tap.check


def run(cmd, ns=None):
    pre = ["ip", "netns", "exec", ns] if ns else []
    return subprocess.run(pre + cmd, capture_output=True, text=True, timeout=120)


def main():
    vmm, elf = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="vireo-nbd-", dir=os.environ.get("MESON_BUILD_ROOT"))
    ns = f"vireo-nbd-{os.getpid()}"
    g = None
    try:
        raw = os.path.join(tmp, "a.raw")
        qc = os.path.join(tmp, "b.qcow2")
        with open(raw, "wb") as f:
            f.write(os.urandom(1 << 20))
            f.truncate(4 << 20)
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", qc, "8M"], check=True)
        subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x33 1M 512k", qc],
                       check=True, capture_output=True)
        made = subprocess.run(["ip", "netns", "add", ns]).returncode == 0
        check(made, "a network namespace (needs root)")
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        subprocess.run(["ip", "-n", ns, "addr", "add", "198.18.0.1/32", "dev", "lo"], check=True)
        sock = os.path.join(tmp, "qmp.sock")
        g = Guest(["ip", "netns", "exec", ns, vmm, "-S", "-nodefaults", "-display", "none",
                   "-m", "64", "-kernel", elf,
                   "-drive", f"file={raw},format=raw,if=none,id=d0",
                   "-device", "virtio-blk-pci,drive=d0",
                   "-drive", f"file={qc},format=qcow2,if=none,id=d1",
                   "-device", "virtio-blk-pci,drive=d1",
                   "-qmp", f"unix:{sock},server=on,wait=off"])
        q = Qmp(sock)
        r = q.cmd("nbd-server-add", {"device": "d0"})
        check(r.get("error", {}).get("desc") == "NBD server not running",
              "nbd-server-add before nbd-server-start: NBD server not running", r)
        nsock = os.path.join(tmp, "nbd.sock")
        r = q.cmd("nbd-server-start", {"addr": {"type": "unix", "data": {"path": nsock}}})
        check("return" in r, "nbd-server-start on a unix socket", r)
        r = q.cmd("nbd-server-start", {"addr": {"type": "unix", "data": {"path": nsock}}})
        check(r.get("error", {}).get("desc") == "NBD server already running",
              "a second nbd-server-start: NBD server already running", r)
        r1 = q.cmd("nbd-server-add", {"device": "d0", "writable": True})
        r2 = q.cmd("nbd-server-add", {"device": "d1", "name": "qc"})
        check("return" in r1 and "return" in r2, "nbd-server-add d0 (writable) and d1 as 'qc'",
              f"{r1} {r2}")
        r = q.cmd("nbd-server-add", {"device": "nope"})
        check(r.get("error", {}).get("desc") == "Cannot find device=nope nor node_name=nope",
              "nbd-server-add of an unknown drive: QEMU's words", r)
        r = q.cmd("nbd-server-add", {"device": "d1", "name": "qc"})
        check(r.get("error", {}).get("desc") == "Block export id 'qc' is already in use",
              "nbd-server-add of a name in use is refused (QEMU 7.2's words: the name is the "
              "export's id)", r)
        p = run(["qemu-nbd", "--list", "-k", nsock])
        out = p.stdout
        check(p.returncode == 0 and "exports available: 2" in out and "export: 'd0'" in out and
              "export: 'qc'" in out and "size:  4194304" in out and "size:  8388608" in out,
              "qemu-nbd --list: both exports with their sizes", out + p.stderr)
        check("flags: 0x" in out and out.count("readonly") == 1,
              "qemu-nbd --list: only 'qc' is read-only", out)
        p = run(["qemu-img", "compare", "-f", "raw", "-F", "raw",
                 f"nbd+unix:///d0?socket={nsock}", raw])
        check(p.returncode == 0, "qemu-img compare: export d0 equals the raw image",
              p.stdout + p.stderr)
        p = run(["qemu-img", "compare", "-U", "-f", "raw", "-F", "qcow2",
                 f"nbd+unix:///qc?socket={nsock}", qc])
        check(p.returncode == 0, "qemu-img compare: export qc equals the qcow2 image's contents",
              p.stdout + p.stderr)
        p = run(["qemu-io", "-f", "raw", "-c", "write -P 0x5a 2M 256k", "-c", "flush",
                 f"nbd+unix:///d0?socket={nsock}"])
        with open(raw, "rb") as f:
            f.seek(2 << 20)
            data = f.read(256 << 10)
        check(p.returncode == 0 and data == b"\x5a" * (256 << 10),
              "qemu-io write through the writable export reaches the image", p.stdout + p.stderr)
        p = run(["qemu-io", "-f", "raw", "-c", "write -P 0x11 0 4k",
                 f"nbd+unix:///qc?socket={nsock}"])
        check("Operation not permitted" in p.stdout + p.stderr or p.returncode != 0,
              "a write to the read-only export is refused", p.stdout + p.stderr)
        p = run(["qemu-img", "info", "--output=json", "-f", "raw",
                 f"nbd+unix:///nothere?socket={nsock}"])
        check(p.returncode != 0, "an unknown export name is refused", p.stderr)
        r = q.cmd("nbd-server-stop")
        check("return" in r and not os.path.exists(nsock),
              "nbd-server-stop: the socket is gone", r)
        p = run(["qemu-nbd", "--list", "-k", nsock])
        check(p.returncode != 0, "nothing listens after nbd-server-stop", p.stdout)
        # tcp: in the namespace
        r = q.cmd("nbd-server-start",
                  {"addr": {"type": "inet", "data": {"host": "198.18.0.1", "port": "10809"}}})
        q.cmd("nbd-server-add", {"device": "d1"})
        check("return" in r, "nbd-server-start on 198.18.0.1:10809", r)
        p = run(["qemu-img", "compare", "-U", "-f", "raw", "-F", "qcow2",
                 "nbd://198.18.0.1:10809/d1", qc], ns=ns)
        check(p.returncode == 0, "qemu-img compare over tcp: the export equals the image",
              p.stdout + p.stderr)
        q.cmd("quit")
        g.finish(timeout=30)
    finally:
        if g:
            g.kill()
        tap.report()
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
