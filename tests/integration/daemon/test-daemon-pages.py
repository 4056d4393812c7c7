#!/usr/bin/python3
"""virsh freepages and allocpages (virNodeGetFreePages / virNodeAllocPages) through vireod with
the stock virsh, compared with the reference libvirtd and the kernel's own files.

Usage: test-daemon-pages.py VIREOD VIREO_VMM

freepages --all lists, per NUMA node, the page sizes of the capabilities with the free counts
of /sys/devices/system/node/nodeN/hugepages (the huge sizes' lines as libvirtd prints them;
the system pages' count moves with the host's memory, so only its presence is compared);
freepages for one size and one cell, or the host as a whole, as libvirtd answers; a cell out of
range and a size the host lacks refused in libvirtd's words. allocpages sets a node's 2 MiB
pool (and --add grows it): nr_hugepages and freepages show it, the system page pool is refused
as libvirtd refuses it; the pool's size is put back at the end.
"""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                "scripts"))
from daemonlib import Daemon, Tap, skip_all  # noqa: E402

VIREOD, VMM = sys.argv[1:3]
t = Tap()
NR = "/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages"
if not shutil.which("virsh"):
    skip_all("no virsh")
if not os.path.exists(NR):
    skip_all("no 2 MiB huge pages on node 0")
d = Daemon(VIREOD, VMM)
with open(NR) as f:
    saved = f.read().strip()


def nr():
    with open(NR) as f:
        return int(f.read())


def queries(virsh):
    out = {}
    for key, args in (("all", ("--all",)), ("host", ("--pagesize", "2048")),
                      ("cell0", ("--cellno", "0", "--pagesize", "2M")),
                      ("badcell", ("--cellno", "99", "--pagesize", "2M")),
                      ("badsize", ("--cellno", "0", "--pagesize", "64"))):
        r = virsh("freepages", *args)
        text = r.stdout.strip()
        if key == "all":  # the system pages' count moves: keep the line's label only
            text = "\n".join(ln.split(":")[0] + ":" if ln.startswith("4KiB") else ln
                             for ln in text.splitlines())
        out[key] = (r.returncode, text, r.stderr.strip())
    r = virsh("allocpages", "4K", "1", "--cellno", "0")
    out["system-pool"] = (r.returncode, r.stderr.strip())
    return out


def main():
    d.start()
    got = queries(d.virsh)
    t.ok(got["all"][0] == 0 and "Node 0:" in got["all"][1] and "2048KiB: " in got["all"][1],
         "freepages --all: node 0 with its 2 MiB pool", got["all"])
    r = d.virsh("allocpages", "2M", "2", "--cellno", "0")
    t.ok(r.returncode == 0 and nr() == 2, "allocpages 2M 2 --cellno 0: nr_hugepages is 2",
         (r.stderr, nr()))
    r = d.virsh("freepages", "--cellno", "0", "--pagesize", "2M")
    t.ok(r.stdout.strip() == "2048KiB: 2", "freepages shows the 2 free pages", r.stdout)
    r = d.virsh("allocpages", "2M", "1", "--cellno", "0", "--add")
    t.ok(r.returncode == 0 and nr() == 3, "allocpages --add 1: nr_hugepages is 3",
         (r.stderr, nr()))
    r = d.virsh("allocpages", "2M", saved, "--cellno", "0")
    t.ok(r.returncode == 0 and nr() == int(saved), "allocpages puts the pool back", r.stderr)

    import libvirtd_ref  # noqa: E402
    with libvirtd_ref.LibvirtdRef() as ref:
        env = dict(os.environ, LC_ALL="C")

        def ref_virsh(*args):
            return subprocess.run(["virsh", "-q", "-c", ref.uri] + list(args), env=env,
                                  capture_output=True, text=True, timeout=120)
        want = queries(ref_virsh)
    for k in got:
        t.ok(got[k] == want[k], f"freepages/allocpages '{k}' as libvirtd answers it",
             {"vireod": got[k], "libvirtd": want[k]})


try:
    main()
except Exception as e:  # a crash of the test is a failure, with the daemon's log
    t.ok(False, "the test ran to its end", repr(e))
    d.dump_log()
finally:
    with open(NR, "w") as f:
        f.write(saved)
    if t.failed:
        d.dump_log()
    d.cleanup([])
t.done()
