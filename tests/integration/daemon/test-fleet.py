#!/usr/bin/python3
"""test-fleet.py - runs the fleet example (examples/fleet/fleet.py): three
vireod hosts in network namespaces, six VMs placed 4/2/0, rebalanced by the
stock libvirt-python program rebalance.py. Checks that it ends 2/2/2, that
every migration it printed reports a downtime, and that it left no network
namespace, daemon or VM behind.

  test-fleet.py FLEET_PY BUILD_DIR TESTGUEST_ELF     (prints TAP)
"""
import os
import re
import subprocess
import sys

FLEET, BUILD, GUEST = sys.argv[1:4]
n = failed = 0


def ok(cond, what, diag=""):
    global n, failed
    n += 1
    print(("ok %d - %s" if cond else "not ok %d - %s") % (n, what))
    if not cond:
        failed += 1
        for line in str(diag).splitlines():
            print("# " + line)


if not os.access("/dev/kvm", os.R_OK | os.W_OK) or os.geteuid() != 0:
    print("1..0 # SKIP needs root and /dev/kvm")
    sys.exit(0)
before = set(subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split())
r = subprocess.run([FLEET, "--build", BUILD, "--guest", GUEST], capture_output=True, text=True,
                   timeout=540)
out = r.stdout + r.stderr
ok(r.returncode == 0, "fleet.py runs to its end", out)
after_block = out.split("after (")[-1] if "after (" in out else ""
counts = [len(line.split()) - 1 for line in after_block.splitlines()[1:4]]
ok(sorted(counts) == [2, 2, 2], "after rebalancing: two VMs on each host", out)
moves = re.findall(r"^migrated (\S+) +(host\d) -> (host\d): downtime (-?\d+) ms", out, re.M)
ok(len(moves) == 2, "two migrations (4/2/0 -> 2/2/2)", out)
ok(moves and all(int(m[3]) >= 0 for m in moves), "each migration reports its downtime", out)
ok(all(m[1] == "host0" and m[2] == "host2" for m in moves), "from the busiest to the idlest host",
   out)
left = set(subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split())
ok(not [x for x in left - before if x.startswith("fl")], "no network namespace left", left - before)
ps = subprocess.run(["pgrep", "-f", "vireo-fleet-"], capture_output=True, text=True).stdout
ok(ps.strip() == "", "no daemon or VM left", ps)
print("1..%d" % n)
sys.exit(1 if failed else 0)
