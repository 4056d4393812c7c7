#!/usr/bin/env python3
"""detect-zeroes=off|on|unmap under vireo-vmm and QEMU 7.2: the images they leave behind.

Usage: test-detect-zeroes.py VIREO_VMM TEST_GUEST_ELF

A 4 MiB disk (raw, and qcow2) whose first 2 MiB hold data (written by qemu-io) is given to
the test guest, whose blk-bench seqwrite writes three 1 MiB requests of zeroes (fresh guest
RAM) at its start, under each VMM with the same -drive line: detect-zeroes off, on, unmap
with discard=unmap, and unmap without it (QEMU 7.2's -drive takes it, and unmaps). qemu-img map --output=json of each result, cut into 64 KiB clusters (present,
zero, data, whether it has a host offset), must be the same for both VMMs; a raw file's
allocated size (st_blocks) too, which is what tells on (zeroed range, space kept) from
unmap (hole punched). The shapes for on and unmap must differ from off's, so the test fails
without the feature. -blockdev and QMP blockdev-add take the same member, query-block and
HMP info block report it as QEMU does, and the refusals use QEMU's words.
TAP on stdout.
"""
import json
import os
import shlex
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmmlib import Qmp, Tap  # noqa: E402

MIB = 1 << 20
SIZE = 4 * MIB
CLUSTER = 64 * 1024
QEMU = "qemu-system-x86_64 -enable-kvm -M microvm,acpi=on,pcie=on,rtc=on"
CONFIGS = (("off", "detect-zeroes=off"), ("on", "detect-zeroes=on"),
           ("unmap", "detect-zeroes=unmap,discard=unmap"),
           ("unmap without discard", "detect-zeroes=unmap"))
tap = Tap()


def image(tmp, fmt, name):
    path = os.path.join(tmp, f"{name}.{fmt}")
    subprocess.run(["qemu-img", "create", "-q", "-f", fmt, path, str(SIZE)], check=True)
    subprocess.run(["qemu-io", "-f", fmt, "-c", f"write -P 0xab 0 {2 * MIB}", path],
                   check=True, capture_output=True)
    return path


def shape(path, fmt):
    """Per 64 KiB cluster: (present, zero, data, has a host offset); and st_blocks (raw)."""
    p = subprocess.run(["qemu-img", "map", "--output=json", "-f", fmt, path],
                       capture_output=True, text=True, check=True)
    cells = []
    for e in json.loads(p.stdout):
        for _ in range(e["length"] // CLUSTER):
            cells.append((e["present"], e["zero"], e["data"], "offset" in e))
    blocks = os.stat(path).st_blocks if fmt == "raw" else None
    return cells, blocks


def guest(cmd, drive):
    full = shlex.split(cmd) + [
        "-nodefaults", "-display", "none", "-serial", "stdio", "-m", "256M",
        "-kernel", ELF, "-append", "blk-bench op=seqwrite count=3",
        "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
        "-drive", drive, "-device", "virtio-blk-pci,drive=d0"]
    return subprocess.run(full, capture_output=True, text=True, timeout=240)


def images(tmp):
    for fmt in ("raw", "qcow2"):
        got = {}
        for mode, opts in CONFIGS:
            for who, cmd in (("vireo-vmm", VMM), ("qemu", QEMU)):
                path = image(tmp, fmt, f"{who}-{mode.replace(' ', '-')}")
                p = guest(cmd, f"file={path},format={fmt},if=none,id=d0,{opts}")
                ok = "requests=3 bytes=3145728 failed=0" in p.stdout
                tap.check(ok, f"{fmt}, {mode}, {who}: the guest wrote 3 MiB of zeroes",
                          f"exit {p.returncode}\n{p.stdout[-600:]}{p.stderr[-600:]}")
                got[(mode, who)] = shape(path, fmt)
                if who == "vireo-vmm" and fmt == "qcow2":
                    c = subprocess.run(["qemu-img", "check", "-f", fmt, path],
                                       capture_output=True, text=True)
                    tap.check(c.returncode == 0, f"{fmt}, {mode}: qemu-img check passes",
                              c.stdout + c.stderr)
            tap.check(got[(mode, "vireo-vmm")] == got[(mode, "qemu")],
                      f"{fmt}, {mode}: qemu-img map (and allocation) as under QEMU 7.2",
                      f"vireo-vmm {got[(mode, 'vireo-vmm')]}\nqemu      {got[(mode, 'qemu')]}")
        for mode in ("on", "unmap"):
            tap.check(got[(mode, "vireo-vmm")] != got[("off", "vireo-vmm")],
                      f"{fmt}, {mode}: the image differs from detect-zeroes=off's",
                      str(got[(mode, "vireo-vmm")]))
        tap.check(got[("unmap", "vireo-vmm")] != got[("on", "vireo-vmm")],
                  f"{fmt}: unmap releases what on keeps", str(got[("on", "vireo-vmm")]))


def monitor(tmp, cmd, extra):
    """query-block's detect_zeroes, HMP info block's line, and blockdev-add's refusals."""
    sock = os.path.join(tmp, "qmp.sock")
    if os.path.exists(sock):
        os.unlink(sock)
    p = subprocess.Popen(shlex.split(cmd) + [
        "-nodefaults", "-display", "none", "-S", "-m", "64M", "-kernel", ELF,
        "-qmp", f"unix:{sock},server=on,wait=off"] + extra,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = {}
    try:
        q = Qmp(sock)
        blk = q.cmd("query-block").get("return", [])
        # (QEMU names a -blockdev node's device ""; only the modes are compared)
        out["query-block"] = sorted(b.get("inserted", {}).get("detect_zeroes") for b in blk)
        hmp = q.cmd("human-monitor-command", {"command-line": "info block"})
        out["info block"] = sorted(ln.strip() for ln in hmp.get("return", "").splitlines()
                                   if "Detect zeroes" in ln)
        raw = os.path.join(tmp, "vireo-vmm-off.raw")
        for name, args in (
                ("bad value", {"driver": "raw", "node-name": "x1", "detect-zeroes": "foo",
                               "file": {"driver": "file", "filename": raw}}),
                ("unmap without discard", {"driver": "raw", "node-name": "x2",
                                           "detect-zeroes": "unmap",
                                           "file": {"driver": "file", "filename": raw}})):
            out[name] = q.cmd("blockdev-add", args).get("error", {}).get("desc")
        out["unmap with discard"] = q.cmd("blockdev-add", {
            "driver": "raw", "node-name": "x3", "detect-zeroes": "unmap", "discard": "unmap",
            "read-only": True, "file": {"driver": "file", "filename": raw}})
        q.cmd("quit")
        q.close()
        p.wait(timeout=30)
    except Exception as e:  # noqa: BLE001 - reported as a failed check
        out["exception"] = repr(e)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return out, p.stderr.read()


def reporting(tmp):
    raw = os.path.join(tmp, "vireo-vmm-off.raw")
    qc = os.path.join(tmp, "vireo-vmm-on.qcow2")
    extra = ["-drive", f"file={raw},format=raw,if=none,id=d0,detect-zeroes=unmap,readonly=on",
             "-blockdev", json.dumps({"driver": "qcow2", "node-name": "n1",
                                      "detect-zeroes": "on", "read-only": True,
                                      "file": {"driver": "file", "filename": qc}}),
             "-device", "virtio-blk-pci,drive=d0", "-device", "virtio-blk-pci,drive=n1"]
    mine, e1 = monitor(tmp, VMM, extra)
    theirs, e2 = monitor(tmp, QEMU, extra)
    diag = f"vireo-vmm {mine}\n{e1}\nqemu      {theirs}\n{e2}"
    for key in ("query-block", "info block", "bad value", "unmap without discard",
                "unmap with discard"):
        tap.check(key in mine and mine.get(key) == theirs.get(key),
                  f"monitor: {key} as QEMU 7.2 has it ({mine.get(key)})", diag)
    tap.check(mine.get("query-block") == ["on", "unmap"],
              "query-block reports on and unmap", diag)

    # The command line's refusals, one line each, QEMU's words.
    for name, args, text in (
            ("-drive with a bad value", ["-drive", f"file={raw},if=none,id=d0,detect-zeroes=x"],
             "invalid parameter value: x"),
            ("-blockdev unmap without discard",
             ["-blockdev", f"driver=raw,node-name=n,detect-zeroes=unmap,file.driver=file,"
              f"file.filename={raw}"],
             "setting detect-zeroes to unmap is not allowed without setting discard "
             "operation to unmap"),
            ("-blockdev with a bad value",
             ["-blockdev", f"driver=raw,node-name=n,detect-zeroes=x,file.driver=file,"
              f"file.filename={raw}"], "Parameter 'detect-zeroes' does not accept value 'x'")):
        for who, cmd in (("vireo-vmm", VMM), ("qemu", QEMU)):
            p = subprocess.run(shlex.split(cmd) + ["-nodefaults", "-display", "none", "-S",
                                                   "-kernel", ELF] + args,
                               capture_output=True, text=True, timeout=60)
            err = p.stderr.strip()
            tap.check(p.returncode == 1 and err.count("\n") == 0 and text in err,
                      f"{who}: refused: {name}", err)


def main():
    tmp = tempfile.mkdtemp(prefix="vireo-dz-", dir=os.environ.get("MESON_BUILD_ROOT"))
    try:
        images(tmp)
        reporting(tmp)
    finally:
        subprocess.run(["rm", "-rf", tmp])
        tap.report()


if __name__ == "__main__":
    VMM, ELF = sys.argv[1], os.path.abspath(sys.argv[2])
    main()
