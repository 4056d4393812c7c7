#!/usr/bin/env python3
"""A storage migration's zero ranges cross as NBD_CMD_WRITE_ZEROES.

Usage: test-nbd-mirror-zeroes.py VIREO_VMM TEST_GUEST_ELF [DEST_VMM]

A source vireo-vmm (-S) with a sparse 64 MiB raw disk holding 3 MiB of data
mirrors it (drive-mirror sync=full, mode=existing) into the NBD export of a
destination vireo-vmm (DEST_VMM, vireo-vmm by default), whose 64 MiB raw
file is sparse but holds 8 MiB of 0xff where the source reads zeroes. The
NBD connection goes through a relay that counts the bytes the source sends.
Checks: the job gets READY and completes (block-job-cancel); `qemu-img compare` finds the two
disks equal (the 0xff range was zeroed); the destination file stays sparse
(less than 8 MiB allocated); fewer than 8 MiB crossed (zero granules as
write-zeroes requests, not 61 MiB of zero buffers; nor the 5 MiB of zeroes
inside the mirror's 4 MiB chunks that hold data). It
prints the bytes and the allocation, for before/after comparisons.
"""
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

from vmmlib import Guest, Qmp, Tap

tap = Tap()
check = tap.check
SIZE = 64 << 20


class Relay:
    """Accepts one connection on path and relays it to target, counting bytes each way."""

    def __init__(self, path, target):
        self.ls = socket.socket(socket.AF_UNIX)
        self.ls.bind(path)
        self.ls.listen(1)
        self.target = target
        self.sent = self.received = 0
        threading.Thread(target=self._run, daemon=True).start()

    def _pump(self, a, b, up):
        while True:
            try:
                d = a.recv(1 << 16)
            except OSError:
                d = b""
            if not d:
                try:
                    b.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            if up:
                self.sent += len(d)
            else:
                self.received += len(d)
            try:
                b.sendall(d)
            except OSError:
                return

    def _run(self):
        c, _ = self.ls.accept()
        s = socket.socket(socket.AF_UNIX)
        s.connect(self.target)
        threading.Thread(target=self._pump, args=(s, c, False), daemon=True).start()
        self._pump(c, s, True)


def wait_event(q, name, timeout=300):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for e in q.events:
            if e.get("event") == name:
                return e
        q.cmd("query-block-jobs")
        time.sleep(0.1)
    return None


def main():
    vmm, elf = sys.argv[1], sys.argv[2]
    dvmm = sys.argv[3] if len(sys.argv) > 3 else vmm
    tmp = tempfile.mkdtemp(prefix="vireo-nbdmz-", dir=os.environ.get("MESON_BUILD_ROOT"))
    src = dst = None
    try:
        sdisk, ddisk = os.path.join(tmp, "src.raw"), os.path.join(tmp, "dst.raw")
        for path in (sdisk, ddisk):
            with open(path, "wb") as f:
                f.truncate(SIZE)
        subprocess.run(["qemu-io", "-f", "raw", "-c", "write -P 0x21 8M 2M",
                        "-c", "write -P 0x22 40M 1M", sdisk], check=True, capture_output=True)
        subprocess.run(["qemu-io", "-f", "raw", "-c", "write -P 0xff 16M 8M", ddisk],
                       check=True, capture_output=True)

        def start(path, disk, qmp):
            return Guest([path, "-S", "-nodefaults", "-display", "none", "-m", "64",
                          "-kernel", elf, "-drive", f"file={disk},format=raw,if=none,id=d0",
                          "-device", "virtio-blk-pci,drive=d0",
                          "-qmp", f"unix:{qmp},server=on,wait=off"])

        ssock, dsock = os.path.join(tmp, "s.sock"), os.path.join(tmp, "d.sock")
        src, dst = start(vmm, sdisk, ssock), start(dvmm, ddisk, dsock)
        q, dq = Qmp(ssock), Qmp(dsock)
        nsock, rsock = os.path.join(tmp, "nbd.sock"), os.path.join(tmp, "relay.sock")
        r1 = dq.cmd("nbd-server-start", {"addr": {"type": "unix", "data": {"path": nsock}}})
        r2 = dq.cmd("nbd-server-add", {"device": "d0", "writable": True})
        check("return" in r1 and "return" in r2, "the destination exports its disk",
              f"{r1} {r2}")
        relay = Relay(rsock, nsock)
        r = q.cmd("drive-mirror", {"device": "d0", "sync": "full", "mode": "existing",
                                   "format": "raw", "job-id": "m0",
                                   "target": f"nbd+unix:///d0?socket={rsock}"})
        check("return" in r, "drive-mirror into the destination's export", r)
        check(wait_event(q, "BLOCK_JOB_READY") is not None, "the mirror gets READY", q.events)
        r = q.cmd("block-job-cancel", {"device": "m0"})
        check("return" in r and wait_event(q, "BLOCK_JOB_COMPLETED") is not None,
              "block-job-cancel after READY: the job completes (no pivot to NBD)", r)
        dq.cmd("nbd-server-stop")
        p = subprocess.run(["qemu-img", "compare", "-U", "-f", "raw", "-F", "raw", sdisk, ddisk],
                           capture_output=True, text=True)
        check(p.returncode == 0, "qemu-img compare: the destination equals the source "
              "(its 0xff range zeroed)", p.stdout + p.stderr)
        allocated = os.stat(ddisk).st_blocks * 512
        print(f"# sent to the destination: {relay.sent} bytes; received: {relay.received}; "
              f"destination allocated: {allocated} bytes of {SIZE}")
        check(allocated < (8 << 20), f"the destination stays sparse ({allocated} bytes "
              "allocated)")
        check(relay.sent < (8 << 20), f"{relay.sent} bytes crossed for 3 MiB of data in a "
              "64 MiB disk")
        q.cmd("quit")
        dq.cmd("quit")
        rcs = [src.finish(timeout=30), dst.finish(timeout=30)]
        check(all(r[0] == 0 for r in rcs), "both VMMs exit cleanly after quit",
              rcs[0][2] + rcs[1][2])
    finally:
        for g in (src, dst):
            if g:
                g.kill()
        tap.report()
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
