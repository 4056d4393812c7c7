#!/usr/bin/env python3
"""Save and restore of a running guest through QMP migrate / -incoming.

Usage: test-state.py TEST_GUEST_ELF VMM...

VMM is the command prefix (vireo-vmm's path, or
'qemu-system-x86_64 -enable-kvm -M microvm,acpi=on,pcie=on,rtc=on'). The
guest runs its continuity workload (tests=state, t-state.c): a seeded memory
pattern, a tick counter on the serial line, a virtio-blk write stream and
the LAPIC timer, checked every tick and in full at the end. Each case saves
the guest after a few ticks, starts a new VMM with -incoming, and lets the
restored guest run to its last tick: its TAP verdict, its exit status and
the tick numbers across both processes (strictly consecutive) must show
nothing was lost. Cases: file:, exec:, fd: (getfd over the QMP socket, a
pipe, restored with -incoming defer + migrate-incoming), -smp 2, a
pcie-root-port with a device behind it; and a
deliberately damaged save (bytes flipped inside one page of the pattern) that
the guest must catch. Under vireo-vmm also the faults: a stream truncated,
corrupted, from a VM with other memory, of a newer version (each refused with
one line, the VM never started, exit status 1), and a save to a full tmpfs
(migrate fails, the VM runs on, no file is left).
"""
import os
import re
import shlex
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

from vmmlib import Guest, Qmp, Tap, state_ticks

SEED = 7
MIB = 8
TICKS = 24  # the restored guest ends after this tick
SAVE_AT = 4
tap = Tap()
check = tap.check


def mix(seed, p):
    m = (1 << 64) - 1
    z = (seed * 0x9E3779B97F4A7C15 + p + 1) & m
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
    return z ^ (z >> 31)


class Case:
    def __init__(self, vmm, elf, tmp, name, smp=1, mem="128M", devices=()):
        self.vmm, self.elf, self.tmp = vmm, elf, tmp
        self.devices = list(devices)
        self.name = re.sub(r"[^a-z0-9]+", "-", name)  # file names: no commas for -drive
        self.smp, self.mem = smp, mem
        self.disk = os.path.join(tmp, self.name + ".raw")
        with open(self.disk, "wb") as f:
            f.truncate(1 << 20)

    def cmd(self, sock, extra=()):
        return shlex.split(self.vmm) + [
            "-nodefaults", "-display", "none", "-serial", "stdio", "-m", self.mem,
            "-smp", str(self.smp), "-kernel", self.elf,
            "-append", f"tests=state state_mib={MIB} seed={SEED} state_ticks={TICKS}",
            "-drive", f"file={self.disk},format=raw,if=none,id=d0",
            "-device", "virtio-blk-pci,drive=d0",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
            "-qmp", f"unix:{sock},server=on,wait=off"] + self.devices + list(extra)

    def source(self):
        """Starts the guest and waits until it has ticked SAVE_AT times."""
        sock = os.path.join(self.tmp, self.name + "-src.sock")
        g = Guest(self.cmd(sock))
        ok = g.wait_line(f"tick={SAVE_AT} ", timeout=120) is not None
        if not ok:
            g.kill()
            g.out.append(g.p.stderr.read())
        return g, Qmp(sock) if ok else None


def migrate(q, uri):
    """migrate and wait for the end; returns the final query-migrate."""
    q.cmd("migrate-set-capabilities", {"capabilities": [{"capability": "events", "state": True}]})
    r = q.cmd("migrate", {"uri": uri})
    if "error" in r:
        return r
    for _ in range(600):
        r = q.cmd("query-migrate")
        if r["return"].get("status") in ("completed", "failed", "cancelled"):
            return r
        time.sleep(0.05)
    return r


def ticks(text):
    return state_ticks(text)


def judge(name, before, g2, expect_ok=True):
    """The restored guest's verdict and the tick sequence across both VMMs."""
    try:
        status, out, err = g2.finish(timeout=180)
    except subprocess.TimeoutExpired:
        g2.kill()
        check(False, f"{name}: the restored guest finishes", "timeout\n" + g2.text())
        return
    t = ticks(before) + ticks(out)
    consecutive = t == list(range(1, len(t) + 1)) and t and t[-1] == TICKS
    good_tap = "not ok" not in out and f"the whole {MIB} MiB pattern is intact" in out
    if expect_ok:
        check(status == 1 and good_tap,
              f"{name}: the restored guest passes its continuity checks (exit {status})",
              out + err)
        check(consecutive, f"{name}: ticks 1..{TICKS} consecutive across save and restore",
              f"{t}")
    else:
        check(status != 1 and "memory pattern" in out and "not ok" in out,
              f"{name}: the guest catches the damaged page (exit {status})", out + err)


def round_trip(vmm, elf, tmp, name, save_uri, restore_args, smp=1, damage=None, pre=None,
               defer_uri=None, pass_fds=(), devices=()):
    c = Case(vmm, elf, tmp, name, smp=smp, devices=devices)
    g, q = c.source()
    if not check(q is not None, f"{name}: the guest reaches tick {SAVE_AT}", g.text()):
        g.kill()
        return
    if pre:
        save_uri = pre(q)
    r = migrate(q, save_uri)
    done = r.get("return", {}).get("status") == "completed"
    check(done, f"{name}: migrate {save_uri.split(':')[0]}: completes", r)
    st = q.cmd("query-status")["return"]["status"]
    check(st == "postmigrate", f"{name}: the source is in postmigrate after migrate", st)
    q.cmd("quit")
    g.finish(timeout=30)
    before = g.text()
    if not done:
        return
    if damage:
        damage()
    sock = os.path.join(tmp, c.name + "-dst.sock")
    cmd = c.cmd(sock, restore_args)
    g2 = Guest.__new__(Guest)
    Guest.__init__(g2, cmd) if not pass_fds else _guest_fds(g2, cmd, pass_fds)
    if defer_uri:
        q2 = Qmp(sock)
        q2.cmd("migrate-set-capabilities",
               {"capabilities": [{"capability": "events", "state": True}]})
        r = q2.cmd("migrate-incoming", {"uri": defer_uri})
        check("return" in r, f"{name}: migrate-incoming {defer_uri}", r)
        for _ in range(200):
            if q2.cmd("query-status")["return"]["status"] == "running":
                break
            time.sleep(0.05)
        check(any(e.get("event") == "MIGRATION" and e["data"]["status"] == "completed"
                  for e in q2.events), f"{name}: MIGRATION completed on the destination",
              q2.events)
    judge(name, before, g2, expect_ok=damage is None)


SECTION_DATA = 4 << 20  # page data after which vireo-vmm closes a RAM section of a stream


def ram_sections(path):
    """The RAM sections of a vireo-vmm stream, in order: (layout, data runs, zero runs)."""
    out = []
    with open(path, "rb") as f:
        blob = f.read()
    at = 16  # the header
    while at + 16 <= len(blob):
        kind = blob[at:at + 4]
        n = struct.unpack_from("<Q", blob, at + 8)[0]
        pay = blob[at + 16:at + 16 + n]
        at += 16 + n + 4
        if kind == b"END ":
            break
        if kind != b"RAM ":
            continue
        layout, _, _, data_start, data_len, nr, nz = struct.unpack_from("<IIQQQII", pay)
        runs = [struct.unpack_from("<QQ", pay, 40 + 16 * i) for i in range(nr + nz)]
        out.append((layout, runs[:nr], runs[nr:]))
        at = data_start + data_len
    return out


def stream_passes(path, ram):
    """A live stream written to a pipe: each pass is delta sections of at most about
    SECTION_DATA bytes of data, ascending through RAM in 2 MiB windows, every page of the
    first pass listed once (data or zero), so the receiver gets RAM as it is scanned."""
    secs = ram_sections(path)
    first, end, data_max = [], 0, 0
    for layout, runs, zeros in secs:
        lo = min(o for o, _ in runs + zeros) if runs + zeros else end
        if lo < end:
            break  # the next pass starts again low in RAM
        first.append((layout, runs, zeros))
        end = max((o + n for o, n in runs + zeros), default=end)
    for layout, runs, _ in first:
        data_max = max(data_max, sum(n for _, n in runs))
    pages = sorted(r for _, runs, zeros in first for r in runs + zeros)
    covered, pos = True, 0
    for o, n in pages:
        covered &= o == pos
        pos = o + n
    check(len(secs) > 0 and all(s[0] == 2 for s in secs),
          "stream: every RAM section of a live save into a pipe is a delta",
          [s[0] for s in secs])
    check(len(first) >= 2 and data_max <= SECTION_DATA + (2 << 20),
          f"stream: the first pass is {len(first)} sections of at most "
          f"{data_max >> 10} KiB of data (closed at {SECTION_DATA >> 20} MiB)")
    check(covered and pos == ram,
          "stream: the first pass lists every page of RAM once, as data or zero",
          f"up to 0x{pos:x} of 0x{ram:x}")


def _guest_fds(g, cmd, fds):
    import queue as _q
    g.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           pass_fds=fds)
    g.out = []
    g.lines = _q.Queue()
    threading.Thread(target=g._reader, daemon=True).start()
    for fd in fds:
        os.close(fd)


def flip_pattern_page(path, page=1000):
    """Flips one byte inside guest page `page` of the pattern, found by its contents."""
    v = struct.pack("<Q", mix(SEED, page)) * 512
    with open(path, "r+b") as f:
        data = f.read()
        at = data.find(v)
        if at < 0:
            return False
        f.seek(at + 2048)
        f.write(bytes([data[at + 2048] ^ 0x40]))
    return True


def refused(vmm, elf, tmp, name, path, want, mem="128M"):
    c = Case(vmm, elf, tmp, name, mem=mem)
    sock = os.path.join(tmp, name + ".sock")
    p = subprocess.run(c.cmd(sock, ["-incoming", f"file:{path}"]), capture_output=True,
                       text=True, timeout=60)
    lines = [l for l in p.stderr.splitlines() if "load of migration failed" in l]
    check(p.returncode == 1 and len(lines) == 1 and want in lines[0] and "tick=" not in p.stdout,
          f"refused: {name}: exit 1 with one line naming it ({want})",
          f"exit {p.returncode}\n{p.stderr}\n{p.stdout[-500:]}")


def faults(vmm, elf, tmp):
    c = Case(vmm, elf, tmp, "good")
    g, q = c.source()
    good = os.path.join(tmp, "good.state")
    r = migrate(q, f"file:{good}")
    q.cmd("quit")
    g.finish(timeout=30)
    if not check(r["return"].get("status") == "completed", "faults: a good save to start from", r):
        return
    data = open(good, "rb").read()
    check(len(data) >= 128 << 20 and os.stat(good).st_blocks * 512 < 24 << 20,
          "faults: the file is sparse (zero pages are holes)",
          f"size {len(data)} allocated {os.stat(good).st_blocks * 512}")

    def variant(name, blob):
        p = os.path.join(tmp, name + ".state")
        with open(p, "wb") as f:
            f.write(blob)
        return p

    refused(vmm, elf, tmp, "truncated", variant("trunc", data[:200000]), "truncated")
    ver = bytearray(data)
    ver[8] = 3
    refused(vmm, elf, tmp, "newer version", variant("ver", bytes(ver)),
            "version 3 is not supported")
    bad = bytearray(data)
    dev = data.find(b"isa-serial")
    bad[dev + 40] ^= 1
    refused(vmm, elf, tmp, "corrupt device section", variant("crc", bytes(bad)),
            "is corrupt: checksum mismatch")
    refused(vmm, elf, tmp, "other memory size", good, "field 'memory' differs", mem="256M")
    # A damaged RAM page read through a pipe: the RAM checksum refuses it.
    dmg = variant("ramdmg", data)
    flip_pattern_page(dmg)
    c2 = Case(vmm, elf, tmp, "ramdmg")
    p = subprocess.run(c2.cmd(os.path.join(tmp, "rd.sock"), ["-incoming", f"exec:cat {dmg}"]),
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 1 and "page data does not match its checksum" in p.stderr,
          "refused: damaged RAM read from a pipe (RSUM checksum)", p.stderr)

    # Disk full: a 4 MiB tmpfs cannot hold the 8 MiB pattern.
    mnt = os.path.join(tmp, "small")
    os.mkdir(mnt)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mnt]).returncode != 0:
        check(False, "disk full: mount a 4 MiB tmpfs (needs root)")
        return
    try:
        c3 = Case(vmm, elf, tmp, "full")
        g, q = c3.source()
        r = migrate(q, f"file:{mnt}/vm.state")
        ret = r.get("return", {})
        check(ret.get("status") == "failed" and "no space" in ret.get("error-desc", ""),
              "disk full: migrate fails with the reason", r)
        check(os.listdir(mnt) == [], "disk full: no file (and no temporary) is left",
              os.listdir(mnt))
        st = q.cmd("query-status")["return"]["status"]
        check(st == "running", "disk full: the VM runs on", st)
        n = len(ticks(g.text()))
        more = g.wait_line(f"tick={SAVE_AT + n + 2} ", timeout=60)
        check(more is not None, "disk full: the guest keeps ticking", g.text()[-300:])
        q.cmd("quit")
        g.finish(timeout=30)
    finally:
        subprocess.run(["umount", mnt])


def main():
    elf, vmm = sys.argv[1], sys.argv[2]
    qemu = "qemu-system" in vmm
    tmp = tempfile.mkdtemp(prefix="vireo-state-", dir=os.environ.get("MESON_BUILD_ROOT"))
    try:
        f = os.path.join(tmp, "exec.state")
        round_trip(vmm, elf, tmp, "exec", f"exec:cat > {f}", ["-incoming", f"exec:cat {f}"])
        if not qemu:
            stream_passes(f, 128 << 20)
        f2 = os.path.join(tmp, "dmg.state")
        # QEMU: through exec:cat both ways. vireo-vmm: a file: save restored by mapping it,
        # where the page data is not checksummed (read through a pipe it is: see faults).
        round_trip(vmm, elf, tmp, "one page damaged",
                   f"exec:cat > {f2}" if qemu else f"file:{f2}",
                   ["-incoming", f"exec:cat {f2}"] if qemu else ["-incoming", f"file:{f2}"],
                   damage=lambda: check(flip_pattern_page(f2),
                                        "damage: found a pattern page in the saved file"))
        if qemu:
            return
        f3 = os.path.join(tmp, "file.state")
        round_trip(vmm, elf, tmp, "file", f"file:{f3}", ["-incoming", f"file:{f3}"])
        f4 = os.path.join(tmp, "smp2.state")
        round_trip(vmm, elf, tmp, "file -smp 2", f"file:{f4}", ["-incoming", f"file:{f4}"],
                   smp=2)
        # A pcie-root-port with a device in its slot: its slot state travels (a port without
        # state would block migrate).
        f4b = os.path.join(tmp, "rootport.state")
        round_trip(vmm, elf, tmp, "file, pcie-root-port", f"file:{f4b}",
                   ["-incoming", f"file:{f4b}"],
                   devices=["-device", "pcie-root-port,id=rp1,chassis=1,slot=1",
                            "-device", "virtio-rng-pci,bus=rp1,id=rng1"])
        # fd: the write end of a pipe passed with getfd, a reader thread storing the stream;
        # then restored through another pipe with -incoming defer + migrate-incoming fd:N.
        f5 = os.path.join(tmp, "fd.state")
        rd, wr = os.pipe()

        def store():
            with open(f5, "wb") as out, os.fdopen(rd, "rb") as src:
                while True:
                    b = src.read(1 << 20)
                    if not b:
                        break
                    out.write(b)

        t = threading.Thread(target=store)

        def pass_fd(q):
            t.start()
            q.s.sendmsg([b'{"execute": "getfd", "arguments": {"fdname": "mig"}}\n'],
                        [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", wr))])
            os.close(wr)
            reply = q.f.readline()
            check('"return"' in reply, "fd: getfd takes the descriptor", reply)
            return "fd:mig"

        rfd = [None]

        def feed():
            r2, w2 = os.pipe()
            rfd[0] = r2

            def pump():
                with open(f5, "rb") as src, os.fdopen(w2, "wb") as dst:
                    while True:
                        b = src.read(1 << 20)
                        if not b:
                            break
                        try:
                            dst.write(b)
                        except BrokenPipeError:
                            break
            threading.Thread(target=pump, daemon=True).start()

        c_args = []

        def damage_none():
            t.join()
            feed()
            c_args.extend(["-incoming", "defer"])

        # round_trip with fd plumbing done inline (the pipe ends must exist before the start)
        c = Case(vmm, elf, tmp, "fd")
        g, q = c.source()
        if check(q is not None, "fd: the guest reaches its first ticks", g.text()):
            uri = pass_fd(q)
            r = migrate(q, uri)
            check(r.get("return", {}).get("status") == "completed", "fd: migrate fd: completes", r)
            q.cmd("quit")
            g.finish(timeout=30)
            damage_none()
            sock = os.path.join(tmp, "fd-dst.sock")
            g2 = Guest.__new__(Guest)
            _guest_fds(g2, c.cmd(sock, c_args), [rfd[0]])
            q2 = Qmp(sock)
            q2.cmd("migrate-set-capabilities",
                   {"capabilities": [{"capability": "events", "state": True}]})
            r = q2.cmd("migrate-incoming", {"uri": f"fd:{rfd[0]}"})
            check("return" in r, "fd: migrate-incoming fd:N after -incoming defer", r)
            judge("fd", g.text(), g2)
        faults(vmm, elf, tmp)
    finally:
        tap.report()
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
