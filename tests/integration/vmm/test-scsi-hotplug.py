#!/usr/bin/env python3
"""SCSI hot-plug on a virtio-scsi controller, under vireo-vmm or QEMU.

Usage: test-scsi-hotplug.py TEST_GUEST_ELF VMM...

VMM is the command prefix (vireo-vmm's path, or
'qemu-system-x86_64 -enable-kvm -M microvm,acpi=on,pcie=on'); the same command
line and QMP sequence run under both. The test guest (tests=scsi
scsi_hotplug=1, t-scsi.c) negotiates VIRTIO_SCSI_F_HOTPLUG, runs its disk
tests on the scsi-hd at target 0, posts event buffers and says
"scsi-hotplug: ready"; then:
 - blockdev-add of a raw file (random bytes) and device_add scsi-hd on
   scsi0.0 at scsi-id=3: the guest gets VIRTIO_SCSI_T_TRANSPORT_RESET with
   reason RESCAN for target 3, reads the unit, and its CRC-32 equals the
   file's;
 - device_add at a target and LUN in use is refused;
 - device_del: DEVICE_DELETED comes without a handshake (SCSI has none), the
   guest gets reason REMOVED for target 3 and the target then answers
   BAD_TARGET; a scsi-cd is added and deleted the same way; blockdev-del of
   the node works again (then a 'c' on the
   serial port lets the guest end).
"""
import binascii
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

from vmmlib import Guest, Qmp, Tap

BLOCKS = 32
tap = Tap()
check = tap.check


def main():
    elf, vmm = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="vireo-scsihp-", dir=os.environ.get("MESON_BUILD_ROOT"))
    g = None
    try:
        base = os.path.join(tmp, "base.raw")
        with open(base, "wb") as f:
            f.write(os.urandom(1 << 20))
        hot = os.path.join(tmp, "hot.raw")
        data = os.urandom(1 << 20)
        with open(hot, "wb") as f:
            f.write(data)
        want = binascii.crc32(data[:BLOCKS * 512])
        sock = os.path.join(tmp, "qmp.sock")
        cmd = shlex.split(vmm) + [
            "-nodefaults", "-display", "none", "-serial", "stdio", "-m", "128M",
            "-kernel", elf, "-append",
            f"tests=scsi scsi_blocks=2048 scsi_hotplug=1 scsi_hotplug_blocks={BLOCKS}",
            "-qmp", f"unix:{sock},server=on,wait=off",
            "-device", "virtio-scsi-pci,id=scsi0",
            "-drive", f"file={base},format=raw,if=none,id=d0",
            "-device", "scsi-hd,drive=d0,bus=scsi0.0,scsi-id=0,lun=0,id=hd0",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=4"]
        g = Guest(cmd, stdin=subprocess.PIPE)
        ready = g.wait_line("scsi-hotplug: ready", timeout=120)
        check(ready is not None, "the guest waits for a hot-plugged unit", g.text())
        if not ready:
            return tap.report()
        q = Qmp(sock)
        qmp = q.cmd
        r1 = qmp("blockdev-add", {"driver": "file", "filename": hot, "node-name": "hot-storage"})
        r2 = qmp("blockdev-add", {"driver": "raw", "file": "hot-storage", "node-name": "hot"})
        check(r1.get("return") == {} and r2.get("return") == {}, "blockdev-add of the new disk",
              json.dumps([r1, r2]))
        r = qmp("device_add", {"driver": "scsi-hd", "id": "hd3", "drive": "hot",
                               "bus": "scsi0.0", "scsi-id": 3, "lun": 0})
        check(r.get("return") == {}, "device_add scsi-hd on scsi0.0 at scsi-id=3", json.dumps(r))
        line = g.wait_line("scsi-hotplug: target ", timeout=120)
        check(line and f"target 3 lun 0 crc32={want:08x}" in line,
              f"the guest was told (rescan event), and reads target 3: CRC-32 {want:08x}",
              g.text())
        check(g.wait_line("scsi-hotplug: used", timeout=60), "the guest used the unit", g.text())
        r = qmp("device_add", {"driver": "scsi-hd", "id": "hd0b", "drive": "hot",
                               "bus": "scsi0.0", "scsi-id": 0, "lun": 0})
        check("error" in r, "device_add at a target and LUN in use is refused", json.dumps(r))
        q.events.clear()
        r = qmp("device_del", {"id": "hd3"})
        end = time.monotonic() + 30
        while time.monotonic() < end and not any(
                e.get("event") == "DEVICE_DELETED" and e["data"].get("device") == "hd3"
                for e in q.events):
            qmp("query-status")
            time.sleep(0.1)
        check(r.get("return") == {} and
              any(e.get("event") == "DEVICE_DELETED" and e["data"].get("device") == "hd3"
                  for e in q.events),
              "device_del hd3: DEVICE_DELETED without a guest handshake", json.dumps([r, q.events]))
        line = g.wait_line("scsi-hotplug: removed", timeout=120)
        check(line is not None, "the guest was told (removed event) and target 3 is gone",
              g.text())
        # A CD-ROM unit the same way (the guest no longer looks: the events just go).
        r = qmp("device_add", {"driver": "scsi-cd", "id": "cd4", "drive": "hot",
                               "bus": "scsi0.0", "scsi-id": 4, "lun": 0})
        check(r.get("return") == {}, "device_add scsi-cd at scsi-id=4", json.dumps(r))
        r = qmp("device_del", {"id": "cd4"})
        end = time.monotonic() + 30
        while time.monotonic() < end and not any(
                e.get("event") == "DEVICE_DELETED" and e["data"].get("device") == "cd4"
                for e in q.events):
            qmp("query-status")
            time.sleep(0.1)
        check(r.get("return") == {} and
              any(e.get("event") == "DEVICE_DELETED" and e["data"].get("device") == "cd4"
                  for e in q.events),
              "device_del cd4: DEVICE_DELETED", json.dumps([r, q.events]))
        r1 = qmp("blockdev-del", {"node-name": "hot"})
        r2 = qmp("blockdev-del", {"node-name": "hot-storage"})
        check(r1.get("return") == {} and r2.get("return") == {},
              "blockdev-del of both nodes once the unit is gone", json.dumps([r1, r2]))
        q.close()
        g.type("c")  # the guest may end now
        rc, text, err = g.finish(timeout=120)
        check(rc == 1 and "not ok" not in text and "scsi-hotplug: removed" in text,
              "guest: every step passed", f"exit {rc}\n{text}\n{err}")
    except (OSError, ValueError, subprocess.TimeoutExpired) as e:
        diag = ""
        if g:
            time.sleep(1)
            rc = g.p.poll()
            g.kill()
            diag = (g.text() + f"\nexit {rc}\n" +
                    (g.p.stderr.read() if g.p.stderr else ""))
        check(False, f"the run went on to the end ({e!r})", diag)
    finally:
        if g:
            g.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return tap.report()


if __name__ == "__main__":
    sys.exit(main())
