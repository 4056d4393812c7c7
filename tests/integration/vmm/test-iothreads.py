#!/usr/bin/env python3
"""I/O threads: -object iothread, virtio-blk iothread=, query-iothreads, thread names and the
live QMP changes (object-add/object-del, qom-set of poll-max-ns).

Usage: test-iothreads.py TEST_GUEST_ELF VMM-COMMAND

The same command line runs under vireo-vmm and QEMU (with -name debug-threads=on, which is
how libvirt gets QEMU's thread names): two I/O threads, the disk on the first, the test
guest's virtio-blk tests. Checked against the kernel's view: each thread id query-iothreads
gives is a thread of the process named "IO <id>"; the guest's requests were served there
(the disk's thread woke up many times while the guest's tests ran, the idle one did not);
the guest's tests pass. Then the live changes, and the command line's refusals.
"""
import os
import subprocess
import sys
import tempfile
import time

from vmmlib import Qmp, Tap

tap = Tap()
check = tap.check


def ctx_switches(pid, tid):
    try:
        with open(f"/proc/{pid}/task/{tid}/status") as f:
            for line in f:
                if line.startswith("voluntary_ctxt_switches:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def comm(pid, tid):
    try:
        with open(f"/proc/{pid}/task/{tid}/comm") as f:
            return f.read().strip()
    except OSError:
        return None


def run(prefix, elf, tmp):
    disk = os.path.join(tmp, "disk.raw")
    with open(disk, "wb") as f:
        f.truncate(8 << 20)
    log = os.path.join(tmp, "serial.log")
    sock = os.path.join(tmp, "qmp.sock")
    p = subprocess.Popen(prefix + ["-name", "iot,debug-threads=on", "-nodefaults", "-display",
                                   "none", "-m", "128M", "-kernel", elf, "-append", "tests=blk",
                                   "-serial", f"file:{log}", "-S", "-no-shutdown",
                                   "-object", "iothread,id=iothread1,poll-max-ns=0",
                                   "-object", "iothread,id=iothread2",
                                   "-drive", f"file={disk},format=raw,if=none,id=drive0",
                                   "-device", "virtio-blk-pci,drive=drive0,id=blk0,"
                                   "iothread=iothread1",
                                   "-qmp", f"unix:{sock},server=on,wait=off"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    q = Qmp(sock)
    res = {"pid": p.pid}
    res["threads"] = q.cmd("query-iothreads")["return"]
    tids = {t["id"]: t["thread-id"] for t in res["threads"]}
    res["comm"] = {i: comm(p.pid, t) for i, t in tids.items()}
    before = {i: ctx_switches(p.pid, t) for i, t in tids.items()}
    q.cmd("cont")
    end = time.monotonic() + 120
    done = False
    while time.monotonic() < end and not done:
        time.sleep(0.5)
        with open(log) as f:
            done = "virtio-blk: works again after a reset" in f.read()
    after = {i: ctx_switches(p.pid, t) for i, t in tids.items()}
    res["woken"] = {i: (after[i] or 0) - (before[i] or 0) for i in tids}
    res["done"] = done
    res["log"] = open(log).read()
    # Live changes.
    res["set"] = q.cmd("qom-set", {"path": "/objects/iothread2", "property": "poll-max-ns",
                                   "value": 1000})
    res["get"] = q.cmd("qom-get", {"path": "/objects/iothread2", "property": "poll-max-ns"})
    res["add"] = q.cmd("object-add", {"qom-type": "iothread", "id": "iothread3",
                                      "poll-max-ns": 5000})
    res["added"] = q.cmd("query-iothreads")["return"]
    t3 = [t["thread-id"] for t in res["added"] if t["id"] == "iothread3"]
    res["comm3"] = comm(p.pid, t3[0]) if t3 else None
    res["dup"] = q.cmd("object-add", {"qom-type": "iothread", "id": "iothread3"})
    res["del"] = q.cmd("object-del", {"id": "iothread3"})
    time.sleep(0.2)
    res["gone3"] = t3 and not os.path.exists(f"/proc/{p.pid}/task/{t3[0]}")
    res["final"] = q.cmd("query-iothreads")["return"]
    q.cmd("quit")
    p.wait(timeout=30)
    res["stderr"] = p.stderr.read()
    return res


def refusal(prefix, elf, args):
    r = subprocess.run(prefix + ["-nodefaults", "-display", "none", "-S", "-kernel", elf] + args,
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stderr.strip()


def main():
    elf, vmm = sys.argv[1], sys.argv[2].split()
    qemu = "qemu-system" in vmm[0]
    with tempfile.TemporaryDirectory() as tmp:
        r = run(vmm, elf, tmp)
        disk = os.path.join(tmp, "d.raw")
        open(disk, "wb").close()
        os.truncate(disk, 1 << 20)
        bad_link = refusal(vmm, elf, ["-drive", f"file={disk},format=raw,if=none,id=d0",
                                 "-device", "virtio-blk-pci,drive=d0,iothread=nope"])
    ids = [t["id"] for t in r["threads"]]
    check(ids == ["iothread2", "iothread1"], "query-iothreads lists both, newest first as QEMU",
          r["threads"])
    check(all(set(t) >= {"id", "thread-id", "poll-max-ns", "poll-grow", "poll-shrink"}
              for t in r["threads"]), "each with QEMU's members", r["threads"])
    check({t["id"]: t["poll-max-ns"] for t in r["threads"]} == {"iothread1": 0,
                                                                "iothread2": 32768},
          "poll-max-ns as given, QEMU's default otherwise", r["threads"])
    check(r["comm"] == {"iothread1": "IO iothread1", "iothread2": "IO iothread2"},
          "the kernel sees each thread id as a thread named 'IO <id>'", r["comm"])
    check(r["done"] and "not ok" not in r["log"],
          "the guest's virtio-blk tests pass on a disk served by an I/O thread", r["log"][-2000:])
    check(r["woken"]["iothread1"] >= 10 and r["woken"]["iothread2"] <= 2,
          "the disk's requests were served on its I/O thread, not on the idle one", r["woken"])
    check("return" in r["set"] and r["get"].get("return") == 1000,
          "qom-set /objects/iothread2 poll-max-ns takes effect (qom-get)", (r["set"], r["get"]))
    check("return" in r["add"] and [t["id"] for t in r["added"]][0] == "iothread3" and
          r["added"][0]["poll-max-ns"] == 5000,
          "object-add of an iothread starts one", r["added"])
    check(r["comm3"] == "IO iothread3", "the added thread is named too", r["comm3"])
    check("error" in r["dup"], "object-add of an existing id is refused", r["dup"])
    check("return" in r["del"] and r["gone3"] and
          [t["id"] for t in r["final"]] == ["iothread2", "iothread1"],
          "object-del stops the thread and forgets it", (r["del"], r["final"]))
    check(bad_link[0] != 0 and bad_link[1].endswith("Device 'nope' not found"),
          "iothread= naming no I/O thread is refused with QEMU's words", bad_link)
    if not qemu:
        # QEMU 7.2 lets an I/O thread a device uses be deleted (the device keeps using it);
        # vireo-vmm refuses.
        with tempfile.TemporaryDirectory() as tmp:
            disk = os.path.join(tmp, "d.raw")
            open(disk, "wb").close()
            os.truncate(disk, 1 << 20)
            sock = os.path.join(tmp, "q.sock")
            p = subprocess.Popen(vmm + ["-nodefaults", "-display", "none", "-S", "-kernel", elf,
                                        "-object", "iothread,id=io1", "-drive",
                                        f"file={disk},format=raw,if=none,id=d0", "-device",
                                        "virtio-blk-pci,drive=d0,id=b0,iothread=io1",
                                        "-qmp", f"unix:{sock},server=on,wait=off"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            q = Qmp(sock)
            busy = q.cmd("object-del", {"id": "io1"})
            q.cmd("quit")
            p.wait(timeout=30)
        check(busy.get("error", {}).get("desc") == "object 'io1' is in use, can not be deleted",
              "object-del of an I/O thread a device uses is refused", busy)
        for args, want in [
                (["-object", "iothread,id=a,poll-max-ns=-1"],
                 "poll-max-ns value must be in range [0, 9223372036854775807]"),
                (["-object", "iothread,id=a,foo=1"], "Invalid parameter 'foo'"),
                (["-object", "iothread,id=a", "-object", "iothread,id=a"],
                 "Duplicate ID 'a' for object"),
                (["-object", "iothread,id=1x"], "Parameter 'id' expects an identifier")]:
            rc, err = refusal(vmm, elf, args)
            check(rc != 0 and want in err and len(err.splitlines()) == 1,
                  f"{' '.join(args)}: refused in one line", err)
    return tap.report()


if __name__ == "__main__":
    sys.exit(main())
