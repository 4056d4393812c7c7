#!/usr/bin/env python3
"""The device model seen from outside: QMP's generic device commands, the
command set, -device help, and -M sub-options honoured or refused.

Usage: test-device-model.py VIREO_VMM TEST_GUEST_ELF

Checks, each one TAP line:
 - query-commands lists exactly the commands each room registers (the VM's
   run state, virtio-blk's, the balloon's, the PCI bus's, the chardevs', the
   device model's qom-*), and every listed command exists (a bad argument gets
   "Parameter ... is unexpected", never CommandNotFound) while one not listed
   is CommandNotFound;
 - qom-list of /machine/peripheral, /machine/peripheral-anon and of a device
   (its -device properties with QEMU's type names, the balloon's extra QOM
   properties); qom-get of -device properties (serial, drive, num-queues, the
   real addr as devfn, multifunction, type) and of a device without id by its
   anonymous path; qom-set of a -device property refused in QEMU's words;
   DeviceNotFound for an unknown path;
 - device-list-properties: isa-debug-exit's properties with QEMU 7.2's
   defaults (iobase 1281, iosize 2), DeviceNotFound for an unknown type;
   qom-list-types implements=pci-device lists the PCI devices;
 - -device help and -device TYPE,help: for the properties vireo-vmm shares
   with QEMU, the lines are the real qemu-system-x86_64's, byte for byte;
   an unknown property is refused in QEMU's words;
 - -M microvm,dump-guest-core=off and mem-merge=on are applied: the guest
   RAM mapping carries the dd / mg VmFlags in /proc/PID/smaps; the default
   has neither.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

from vmmlib import Qmp, Tap, err_is

EXPECTED_COMMANDS = {
    # the QMP server itself
    "qmp_capabilities", "query-version", "query-commands",
    # the VM's run state (src/vmm/qmp-vm.c)
    "query-status", "query-name", "query-uuid", "query-kvm", "query-cpus-fast", "stop", "cont",
    "system_reset", "system_powerdown", "quit",
    # the CPU models (src/vmm/qmp-cpu.c)
    "query-cpu-definitions", "query-cpu-model-expansion",
    # vCPU hot-plug (src/vmm/vcpu-hotplug.c)
    "query-hotpluggable-cpus",
    # the PCI bus, the chardevs
    "query-pci", "query-chardev",
    # the device model
    "qom-list", "qom-get", "qom-set", "device-list-properties", "qom-list-types",
    # hot-plug (dev/hotplug-qmp.c) and the backends it uses (backends-qmp.c)
    "device_add", "device_del", "blockdev-add", "blockdev-del", "netdev_add", "netdev_del",
    # the drives (src/vmm/dev/block-qmp.c), virtio-balloon
    "query-block", "query-blockstats", "block-dirty-bitmap-add", "block-dirty-bitmap-remove", "block-dirty-bitmap-clear", "block-dirty-bitmap-enable", "block-dirty-bitmap-disable", "block-dirty-bitmap-merge", "block_resize", "eject", "blockdev-open-tray", "blockdev-close-tray",
    "blockdev-change-medium", "blockdev-snapshot-sync", "block_set_io_throttle", "balloon",
    "query-balloon",
    # several block operations at once (src/vmm/dev/block-transaction.c)
    "transaction", "blockdev-snapshot-internal-sync", "blockdev-snapshot",
    # guest memory backends (src/vmm/memdev-qmp.c) and DIMMs (src/vmm/memory-hotplug.c)
    "query-memdev", "query-memory-devices", "query-memory-size-summary",
    # I/O threads (src/vmm/iothread-qmp.c)
    "query-iothreads", "object-add", "object-del",
    # the display and the VNC server (src/vmm/display/display-qmp.c)
    "screendump", "send-key", "query-vnc", "set_password", "expire_password",
    # the VM state (src/vmm/state/migration.c)
    "migrate", "migrate_cancel", "migrate-incoming", "query-migrate", "getfd", "closefd",
    "query-migrate-capabilities", "migrate-set-capabilities", "query-migrate-parameters",
    "migrate-set-parameters", "migrate-start-postcopy", "migrate-recover", "migrate-pause",
    # the NBD server (src/vmm/nbd/nbd-server.c)
    "nbd-server-start", "nbd-server-add", "nbd-server-stop", "nbd-server-remove",
    "block-export-add", "block-export-del", "query-block-exports",
    # block jobs (src/vmm/blockjob.c, src/vmm/mirror.c)
    "query-block-jobs", "block-job-cancel", "block-job-complete", "block-job-pause",
    "block-job-resume", "block-job-set-speed", "drive-mirror", "blockdev-mirror",
    # virtio-net's link (dev/virtio-net.c)
    "set_link",
    # internal snapshots (src/vmm/state/snapshot.c)
    "snapshot-save", "snapshot-load", "snapshot-delete", "query-jobs", "job-dismiss",
    # the human monitor (src/vmm/hmp/)
    "human-monitor-command",
}


def qemu_help(dev):
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        return None
    p = subprocess.run([qemu, "-M", "microvm", "-device", dev + ",help"], capture_output=True,
                       text=True, timeout=60)
    return p.stdout.splitlines()


def main():
    vmm, elf = sys.argv[1], sys.argv[2]
    tap = Tap()
    tmp = tempfile.mkdtemp(prefix="vireo-devmodel-", dir=os.environ.get("MESON_BUILD_ROOT"))
    raw = os.path.join(tmp, "disk.raw")
    with open(raw, "wb") as f:
        f.truncate(1 << 20)
    sock = os.path.join(tmp, "qmp.sock")
    cmd = [vmm, "-M", "microvm,acpi=on,pcie=on", "-nodefaults", "-display", "none", "-S",
           "-kernel", elf, "-qmp", f"unix:{sock},server=on,wait=off",
           "-drive", f"file={raw},format=raw,if=none,id=dr0",
           "-device", "virtio-blk-pci,drive=dr0,id=d0,serial=abc,bus=pcie.0,addr=0x4",
           "-device", "virtio-balloon-pci,id=b0,addr=5,multifunction=on",
           "-device", "virtio-rng-pci"]
    vm = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        q = Qmp(sock)
        r = q.cmd("query-commands")
        names = [c["name"] for c in r.get("return", [])]
        tap.check(set(names) == EXPECTED_COMMANDS and len(names) == len(set(names)),
                  "query-commands lists exactly the registered commands",
                  f"extra {sorted(set(names) - EXPECTED_COMMANDS)}, "
                  f"missing {sorted(EXPECTED_COMMANDS - set(names))}")
        bad = []
        for name in sorted(set(names) - {"qmp_capabilities"}):
            rr = q.cmd(name, {"no-such-arg": 1})
            # Arguments are checked before a command runs: a command that exists says
            # which one is wrong (or missing first); an unknown one is CommandNotFound.
            desc = rr.get("error", {}).get("desc", "")
            if not (desc == "Parameter 'no-such-arg' is unexpected"
                    or re.fullmatch(r"Parameter '[a-z-]+' is missing", desc)):
                bad.append((name, rr))
        tap.check(not bad, "every listed command exists (argument checked, not CommandNotFound)",
                  bad)
        rr = q.cmd("chardev-add", {"id": "c9", "backend": {"type": "null", "data": {}}})
        tap.check(rr.get("error", {}).get("class") == "CommandNotFound",
                  "a command not listed is CommandNotFound", rr)

        r = q.cmd("qom-list", {"path": "/machine/peripheral"})
        tap.check(r.get("return") == [{"name": "type", "type": "string"},
                                      {"name": "d0", "type": "child<virtio-blk-pci>"},
                                      {"name": "b0", "type": "child<virtio-balloon-pci>"}],
                  "qom-list /machine/peripheral: the devices with an id", r)
        r = q.cmd("qom-list", {"path": "/machine/peripheral-anon"})
        tap.check(r.get("return") == [{"name": "type", "type": "string"},
                                      {"name": "device[0]", "type": "child<virtio-rng-pci>"}],
                  "qom-list /machine/peripheral-anon: the device without id", r)
        r = q.cmd("qom-list", {"path": "/machine/peripheral/d0"})
        props = {p["name"]: p["type"] for p in r.get("return", [])}
        tap.check(props == {"type": "string", "addr": "int32", "multifunction": "bool",
                            "bootindex": "int32", "drive": "str", "serial": "str",
                            "num-queues": "uint16", "share-rw": "bool", "iothread": "str"},
                  "qom-list of virtio-blk-pci: its -device properties, QEMU's type names", r)
        r = q.cmd("qom-list", {"path": "b0"})
        props = {p["name"]: p["type"] for p in r.get("return", [])}
        tap.check(props.get("guest-stats") == "guest statistics"
                  and props.get("guest-stats-polling-interval") == "int",
                  "qom-list of the balloon (partial path): its extra QOM properties", r)
        want = {"serial": "abc", "drive": "dr0", "num-queues": 1, "addr": 32,
                "multifunction": False, "type": "virtio-blk-pci"}
        got = {k: q.cmd("qom-get", {"path": "/machine/peripheral/d0", "property": k})
               .get("return") for k in want}
        tap.check(got == want, "qom-get of -device properties (addr is the devfn, as QEMU)",
                  got)
        r = q.cmd("qom-get", {"path": "b0", "property": "multifunction"})
        tap.check(r == {"return": True}, "qom-get multifunction=on", r)
        r = q.cmd("qom-get", {"path": "/machine/peripheral-anon/device[0]", "property": "addr"})
        tap.check(r == {"return": 8}, "qom-get by the anonymous path (rng in slot 1: devfn 8)", r)
        r = q.cmd("qom-set", {"path": "d0", "property": "serial", "value": "x"})
        tap.check(err_is(r, "GenericError", "Attempt to set property 'serial' on device 'd0' "
                         "(type 'virtio-blk-pci') after it was realized"),
                  "qom-set of a -device property is refused in QEMU's words", r)
        r = q.cmd("qom-get", {"path": "d0", "property": "nosuch"})
        tap.check(err_is(r, "GenericError", "Property 'virtio-blk-pci.nosuch' not found"),
                  "qom-get of an unknown property", r)
        r = q.cmd("qom-list", {"path": "/machine/peripheral/nosuch"})
        tap.check(err_is(r, "DeviceNotFound", "Device '/machine/peripheral/nosuch' not found"),
                  "qom-list of an unknown device: DeviceNotFound", r)

        r = q.cmd("device-list-properties", {"typename": "isa-debug-exit"})
        got = sorted(r.get("return", []), key=lambda p: p["name"])
        tap.check(got == [{"name": "iobase", "type": "uint32", "default-value": 1281},
                          {"name": "iosize", "type": "uint32", "default-value": 2}],
                  "device-list-properties isa-debug-exit: QEMU 7.2's names, types, defaults", r)
        r = q.cmd("device-list-properties", {"typename": "nosuch"})
        tap.check(err_is(r, "DeviceNotFound", "Device 'nosuch' not found"),
                  "device-list-properties of an unknown type: DeviceNotFound", r)
        r = q.cmd("qom-list-types", {"implements": "pci-device"})
        types = {t["name"] for t in r.get("return", [])}
        tap.check(types == {"virtio-blk-pci", "virtio-net-pci", "virtio-rng-pci",
                            "virtio-balloon-pci", "virtio-serial-pci", "VGA", "virtio-scsi-pci",
                            "i440FX", "PIIX3", "PIIX4_PM", "mch", "ICH9-LPC", "ICH9-SMB",
                            "pcie-root-port", "qemu-xhci", "nec-usb-xhci",
                            "ich9-ahci", "piix3-ide", "e1000", "pci-bridge", "pcie-pci-bridge"},
                  "qom-list-types implements=pci-device: the PCI devices", r)
        q.cmd("quit")
        q.close()
        vm.wait(timeout=30)
    finally:
        if vm.poll() is None:
            vm.kill()
            vm.wait()

    # -device help: the lines shared with QEMU are QEMU's, byte for byte.
    shared = {
        "virtio-blk-pci": ["addr", "drive", "multifunction", "serial"],
        "virtio-net-pci": ["addr", "host_mtu", "mac", "multifunction", "netdev"],
        "virtio-rng-pci": ["addr", "multifunction"],
        "virtio-serial-pci": ["max_ports"],
        "virtconsole": ["chardev", "name", "nr"],
        "isa-debug-exit": ["iobase", "iosize"],
        "pcie-root-port": ["addr", "chassis", "hotplug", "multifunction", "port", "slot"],
    }
    for dev, props in shared.items():
        mine = subprocess.run([vmm, "-device", dev + ",help"], capture_output=True, text=True,
                              timeout=30)
        theirs = qemu_help(dev)
        lines = [ln for ln in mine.stdout.splitlines()
                 if re.match(r"  (%s)=" % "|".join(map(re.escape, props)), ln)]
        qlines = [ln for ln in (theirs or [])
                  if re.match(r"  (%s)=" % "|".join(map(re.escape, props)), ln)]
        tap.check(mine.returncode == 0 and mine.stdout.startswith(dev + " options:\n")
                  and len(lines) == len(props) and lines == qlines,
                  f"-device {dev},help: the shared properties read as QEMU's",
                  "vireo:\n" + "\n".join(lines) + "\nqemu:\n" + "\n".join(qlines))
    h = subprocess.run([vmm, "-device", "help"], capture_output=True, text=True, timeout=30)
    tap.check(h.returncode == 0 and 'name "virtio-blk-pci", bus PCI, alias "virtio-blk"' in h.stdout
              and 'name "isa-debug-exit", bus ISA' in h.stdout
              and "mc146818rtc" not in h.stdout and h.stdout.startswith(
                  "Controller/Bridge/Hub devices:\n"),
              "-device help lists the -device types in QEMU's layout (built-ins left out)",
              h.stdout)

    # -M dump-guest-core=off / mem-merge=on are applied to the guest RAM mapping.
    def ram_flags(extra):
        """The VmFlags every VMA of the guest RAM has (vireo-vmm logs where the RAM is at
        VIREO_LOG=debug; the kernel may split it into several VMAs), or None."""
        args = [vmm, "-M", "microvm" + extra, "-nodefaults", "-display", "none", "-S", "-m",
                "64", "-kernel", elf]
        env = dict(os.environ, VIREO_LOG="debug")
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             env=env)
        try:
            lo = hi = None
            for line in p.stderr:
                m = re.search(r"guest RAM: host (0x[0-9a-f]+)-(0x[0-9a-f]+)", line)
                if m:
                    lo, hi = int(m.group(1), 16), int(m.group(2), 16)
                if "start-up: setting vCPU state" in line:
                    break
            if lo is None or p.poll() is not None:
                return None
            try:
                smaps = open(f"/proc/{p.pid}/smaps").read()
            except OSError:
                return None
            common, covered = None, 0
            for block in re.split(r"\n(?=[0-9a-f]+-[0-9a-f]+ )", smaps):
                m = re.match(r"([0-9a-f]+)-([0-9a-f]+) ", block)
                f = re.search(r"^VmFlags:(.*)$", block, re.M)
                if not m or not f:
                    continue
                start, end = int(m.group(1), 16), int(m.group(2), 16)
                if end <= lo or start >= hi:
                    continue
                covered += min(end, hi) - max(start, lo)
                flags = set(f.group(1).split())
                common = flags if common is None else common & flags
            return sorted(common) if covered == hi - lo else None
        finally:
            p.kill()
            p.wait()

    default = ram_flags("")
    nodump = ram_flags(",dump-guest-core=off")
    merge = ram_flags(",mem-merge=on")
    tap.check(default is not None and "dd" not in default and "mg" not in default,
              "default: guest RAM is dumped and not offered to KSM", default)
    tap.check(nodump is not None and "dd" in nodump, "dump-guest-core=off: MADV_DONTDUMP (dd)",
              nodump)
    tap.check(merge is not None and "mg" in merge, "mem-merge=on: MADV_MERGEABLE (mg)", merge)
    shutil.rmtree(tmp, ignore_errors=True)
    return tap.report()


if __name__ == "__main__":
    sys.exit(main())
