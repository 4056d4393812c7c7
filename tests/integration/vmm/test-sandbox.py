#!/usr/bin/env python3
"""vireo-vmm confined: -sandbox (seccomp) and -runas (an unprivileged user).

Usage: test-sandbox.py VIREO_VMM TEST_GUEST_ELF

 - -sandbox on: the kernel reports the filter (Seccomp: 2, one filter) and
   no_new_privs, and the test guest's virtio-blk tests pass under it;
   -sandbox off installs nothing.
 - spawn: a QMP migrate to exec:cat works under -sandbox on (spawn=allow is
   QEMU's default; the child runs under the same filter) and kills the VMM with
   SIGSYS under spawn=deny (silently: the C library's posix_spawn blocks every
   signal around its clone, so the kernel kills without the handler's line);
   the image is untouched and no child ran.
 - -runas: uid and gid become the user's (here nobody, or a numeric UID:GID),
   no supplementary groups, every capability set empty (CapEff, CapPrm,
   CapInh, CapBnd 0), and the guest's disk I/O still works (the image was
   opened before the drop); -runas with elevateprivileges=deny still drops
   (the filter goes on after the uid change).
 - bad -sandbox and -runas arguments: QEMU 7.2's words, one line, exit 1.
Prints TAP.
"""
import os
import pwd
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmmlib import Qmp, Tap  # noqa: E402


def status_fields(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            fields[k] = v.strip()
    return fields


def main():
    vmm, elf = sys.argv[1:3]
    tap = Tap()
    tmp = tempfile.mkdtemp(prefix="vireo-sandbox-", dir=os.environ.get("MESON_BUILD_ROOT"))
    disk = os.path.join(tmp, "disk.raw")
    with open(disk, "wb") as f:
        f.write(os.urandom(1 << 20))
    os.chmod(disk, 0o600)  # only root can open it: the VMM must open it before -runas
    qmp_path = os.path.join(tmp, "qmp.sock")

    def start(extra, append="tests=blk"):
        if os.path.exists(qmp_path):
            os.unlink(qmp_path)
        cmd = [vmm] + extra + [
            "-S", "-nodefaults", "-nographic", "-serial", "stdio", "-m", "64M",
            "-kernel", elf, "-append", append,
            "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
            "-drive", f"file={disk},format=raw,if=none,id=d0",
            "-device", "virtio-blk-pci,drive=d0",
            "-qmp", f"unix:{qmp_path},server,nowait"]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return p, Qmp(qmp_path)

    def run_guest(p, q):
        """Starts the paused guest; (guest passed, exit status, output)."""
        q.cmd("cont")
        try:
            out, err = p.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        q.close()
        oks = len(re.findall(r"^ok \d+", out, re.M))
        good = p.returncode == 1 and oks > 0 and not re.search(r"^not ok", out, re.M)
        return good, p.returncode, out + err

    # -sandbox on: the filter is in the kernel before the guest runs, and the guest works.
    p, q = start(["-sandbox", "on"])
    st = status_fields(p.pid)
    tap.check(st.get("Seccomp") == "2" and st.get("Seccomp_filters") == "1",
              "-sandbox on: Seccomp: 2 with one filter before the guest runs",
              f"Seccomp {st.get('Seccomp')}, filters {st.get('Seccomp_filters')}")
    tap.check(st.get("NoNewPrivs") == "1", "-sandbox on: NoNewPrivs: 1", st.get("NoNewPrivs"))
    good, rc, text = run_guest(p, q)
    tap.check(good, "-sandbox on: the guest's virtio-blk tests pass", f"status {rc}\n{text}")

    # -sandbox off: accepted, nothing installed.
    p, q = start(["-sandbox", "off"], "tests=none")
    st = status_fields(p.pid)
    tap.check(st.get("Seccomp") == "0" and st.get("NoNewPrivs") == "0",
              "-sandbox off: no filter, no no_new_privs",
              f"Seccomp {st.get('Seccomp')}, NoNewPrivs {st.get('NoNewPrivs')}")
    q.cmd("quit")
    p.communicate(timeout=60)

    # spawn=allow (the default): migrate to exec:cat > FILE spawns /bin/sh under the filter.
    state = os.path.join(tmp, "state.bin")
    p, q = start(["-sandbox", "on"], "tests=none")
    r = q.cmd("migrate", {"uri": f"exec:cat > {state}"})
    done = None
    for _ in range(600):
        done = q.cmd("query-migrate").get("return", {}).get("status")
        if done in ("completed", "failed"):
            break
        time.sleep(0.1)
    tap.check("return" in r and done == "completed" and os.path.getsize(state) > 0,
              "spawn=allow: migrate to exec:cat completes under -sandbox on",
              f"{r}, status {done}, stderr {p.stderr.read() if p.poll() is not None else ''}")
    q.cmd("quit")
    p.communicate(timeout=60)

    # spawn=deny: the same command kills the VMM with SIGSYS, naming the refused call.
    state2 = os.path.join(tmp, "state2.bin")
    before = open(disk, "rb").read()
    p, q = start(["-sandbox", "on,spawn=deny"], "tests=none")
    try:
        q.cmd("migrate", {"uri": f"exec:cat > {state2}"})
    except (OSError, ValueError):
        pass  # the connection may end before the reply
    try:
        _, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
    tap.check(p.returncode == -signal.SIGSYS,
              "spawn=deny: migrate to exec: kills the VMM with SIGSYS",
              f"status {p.returncode}\n{err}")
    tap.check(not os.path.exists(state2) and open(disk, "rb").read() == before,
              "spawn=deny: no child ran (no state file) and the image is untouched")

    # -runas: the user's ids, no groups, no capabilities, and the guest still does disk I/O.
    nobody = pwd.getpwnam("nobody")
    for who, want_uid, want_gid, sandbox in [
            ("nobody", nobody.pw_uid, nobody.pw_gid, ["-sandbox", "on,elevateprivileges=deny"]),
            ("4242:4343", 4242, 4343, [])]:
        p, q = start(["-runas", who] + sandbox)
        st = status_fields(p.pid)
        uids = st.get("Uid", "").split()
        gids = st.get("Gid", "").split()
        tap.check(uids == [str(want_uid)] * 4 and gids == [str(want_gid)] * 4
                  and st.get("Groups", "") == "",
                  f"-runas {who}: real, effective, saved and fs ids are the user's; no groups",
                  f"Uid {uids} Gid {gids} Groups {st.get('Groups')!r}")
        caps = {k: st.get(k) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}
        tap.check(all(v == "0000000000000000" for v in caps.values()),
                  f"-runas {who}: every capability set is empty", str(caps))
        if sandbox:
            tap.check(st.get("Seccomp") == "2", f"-runas {who} with -sandbox: Seccomp: 2",
                      st.get("Seccomp"))
        good, rc, text = run_guest(p, q)
        tap.check(good, f"-runas {who}: the guest's virtio-blk tests pass on a root-only image",
                  f"status {rc}\n{text}")

    # Bad arguments: QEMU 7.2's words after the option.
    for args, want in [
            (["-sandbox", "on,spawn=maybe"], "-sandbox on,spawn=maybe: invalid argument for spawn"),
            (["-sandbox", "maybe"], "-sandbox maybe: Parameter 'enable' expects 'on' or 'off'"),
            (["-sandbox", "on,foo=bar"], "-sandbox on,foo=bar: Invalid parameter 'foo'"),
            (["-sandbox", "on,elevateprivileges=x"],
             "-sandbox on,elevateprivileges=x: invalid argument for elevateprivileges"),
            (["-runas", "no-such-user-vireo"],
             '-runas no-such-user-vireo: User "no-such-user-vireo" doesn\'t exist '
             '(and is not <uid>:<gid>)'),
            (["-runas", "12:x"], '-runas 12:x: User "12:x" doesn\'t exist (and is not <uid>:<gid>)'),
    ]:
        r = subprocess.run([vmm] + args + ["-nodefaults", "-display", "none", "-kernel", elf],
                           capture_output=True, text=True, timeout=60)
        tap.check(r.returncode == 1 and r.stderr == f"vireo-vmm: error: {want}\n",
                  f"{' '.join(args)}: refused in one line with QEMU's words",
                  f"status {r.returncode}: {r.stderr!r}")
    subprocess.run(["rm", "-rf", tmp])
    return tap.report()


if __name__ == "__main__":
    sys.exit(main())
