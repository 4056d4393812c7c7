#!/usr/bin/env python3
"""vireo-vmm refuses every bad input with one clear line and a non-zero exit.

Usage: test-cli-errors.py VIREO_VMM GUEST_ELF

Each case runs vireo-vmm with a bad command line or a bad file and checks:
exit status 1, nothing on stdout, exactly one line on stderr, that line
starting with "vireo-vmm: error: " and containing the expected words.
Prints TAP.
"""
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile


def fake_bzimage(path, init_size, version=0x020F, xloadflags=1):
    """A file that passes for a bzImage header (boot flag, HdrS) and nothing more."""
    d = bytearray(8192)
    d[0x1F1] = 4  # setup_sects
    struct.pack_into("<H", d, 0x1FE, 0xAA55)
    d[0x201] = 0x66  # jump: header ends at 0x268
    d[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", d, 0x206, version)
    d[0x211] = 0x01  # LOADED_HIGH
    struct.pack_into("<H", d, 0x236, xloadflags)
    struct.pack_into("<I", d, 0x238, 2048)
    struct.pack_into("<I", d, 0x260, init_size)
    with open(path, "wb") as f:
        f.write(d)


def main():
    vmm, guest = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="vireo-cli-")
    text = os.path.join(tmp, "notes.txt")
    with open(text, "w") as f:
        f.write("this is not a kernel\n" * 100)
    huge_bz = os.path.join(tmp, "huge-bzImage")
    fake_bzimage(huge_bz, 512 << 20)
    old_bz = os.path.join(tmp, "old-bzImage")
    fake_bzimage(old_bz, 1 << 20, version=0x0204)
    bz32 = os.path.join(tmp, "bzImage32")
    fake_bzimage(bz32, 1 << 20, xloadflags=0)
    big_initrd = os.path.join(tmp, "initrd.big")
    with open(big_initrd, "wb") as f:
        f.truncate(64 << 20)  # sparse: costs nothing on disk
    truncated_elf = os.path.join(tmp, "truncated.elf")
    with open(guest, "rb") as src, open(truncated_elf, "wb") as dst:
        dst.write(src.read(200))

    base = ["-nodefaults", "-display", "none"]
    k = ["-kernel", guest]
    cases = [
        ("missing kernel file", base + ["-kernel", os.path.join(tmp, "nope")],
         r"cannot open kernel '.*nope': No such file or directory"),
        ("kernel is a directory", base + ["-kernel", tmp], r"kernel '.*' is not a regular file"),
        ("unrecognised kernel", base + ["-kernel", text],
         r"kernel '.*notes.txt': unrecognised format \(not a Linux bzImage or an ELF kernel\)"),
        ("truncated ELF kernel", base + ["-kernel", truncated_elf],
         r"truncated.elf': ELF (segment \d+ lies|program headers lie) outside the file"),
        ("kernel larger than memory", base + ["-m", "64", "-kernel", huge_bz],
         r"kernel '.*huge-bzImage' needs 512 MiB at 1 MiB but guest memory is 64 MiB"),
        ("boot protocol too old", base + ["-kernel", old_bz],
         r"Linux boot protocol 2.04 is too old"),
        ("32-bit bzImage", base + ["-kernel", bz32], r"has no 64-bit entry point"),
        ("initrd larger than memory", base + ["-m", "32"] + k + ["-initrd", big_initrd],
         r"initrd '.*initrd.big' \(67108864 bytes\) does not fit in guest memory \(32 MiB\)"),
        ("missing initrd", base + k + ["-initrd", os.path.join(tmp, "nope.img")],
         r"cannot open initrd '.*nope.img'"),
        ("-m too small", base + ["-m", "4M"] + k, r"-m 4M: guest memory must be at least 8 MiB"),
        ("-m not a size", base + ["-m", "lots"] + k, r"-m lots: invalid memory size"),
        ("-m with hotplug on microvm", base + ["-m", "size=128M,slots=2,maxmem=1G"] + k,
         r"-m slots=2: memory devices \(e.g. for memory hotplug\) are not supported by the "
         r"machine"),
        ("-smp above the maximum", base + ["-smp", "300"] + k, r"-smp 300: at most 255 vCPUs"),
        ("-nic with another NIC model", base + k + ["-nic", "user,model=rtl8139"],
         r"-nic user,model=rtl8139: NIC model 'rtl8139' is not supported by vireo-vmm "
         r"\(virtio-net-pci, e1000\)"),
        ("-net back-end without a NIC", base + k + ["-net", "user"],
         r"-net user: no -net nic to connect it to"),
        ("-net nic without a back-end", base + k + ["-net", "nic,model=virtio"],
         r"-net nic,model=virtio: no -net user or -net tap for it"),
        ("two -net nic (no hub)", base + k + ["-net", "nic", "-net", "nic", "-net", "user"],
         r"-net nic: only one -net nic and one -net back-end are supported"),
        ("-net with vlan=", base + k + ["-net", "nic,vlan=1", "-net", "user"],
         r"-net nic,vlan=1: vlan= \(hub numbers\) is not supported"),
        ("-smp zero", base + ["-smp", "0"] + k, r"-smp 0: '0' is not a positive number"),
        ("-smp topology mismatch", base + ["-smp", "3,sockets=2,cores=2"] + k,
         r"invalid CPU topology: sockets \(2\) \* cores \(2\) \* threads \(\d+\) must equal "
         r"maxcpus \(3\)"),
        ("-smp more than maxcpus", base + ["-smp", "4,maxcpus=2"] + k,
         r"cpus \(4\) is more than maxcpus \(2\)"),
        ("-smp junk", base + ["-smp", "2,dogs=3"] + k, r"unknown parameter 'dogs=3'"),
        ("bad -uuid", base + ["-uuid", "1234"] + k, r"-uuid 1234: not a UUID"),
        ("unknown -cpu model", base + ["-cpu", "pentium"] + k,
         r"-cpu pentium: unable to find CPU model 'pentium'"),
        ("unsupported -serial", base + ["-serial", "tcp:localhost:4444"] + k,
         r"-serial tcp:localhost:4444: unsupported back-end"),
        ("unsupported -device", base + ["-device", "rtl8139,netdev=n0"] + k,
         r"device 'rtl8139' is not supported yet"),
        ("virtio-net-pci naming a missing netdev", base + ["-device", "virtio-net-pci,netdev=n0"]
         + k, r"netdev=n0: no -netdev with id=n0"),
        ("-netdev with an unknown backend", base + ["-netdev", "bridge,id=n0"] + k,
         r"backend 'bridge' is not supported \(user, tap\)"),
        ("-netdev tap on a missing fd", base + ["-netdev", "tap,id=n0,fd=99", "-device",
                                                "virtio-net-pci,netdev=n0"] + k,
         r"fd=99 is not a tap device"),
        ("virtio-blk-pci naming a missing drive", base + ["-device", "virtio-blk-pci,drive=d0"] + k,
         r"drive=d0: no -drive with id=d0"),
        ("-drive without file=", base + ["-drive", "if=virtio"] + k, r"file= is required"),
        ("-drive with a bad cache mode", base + ["-drive", "file=x,if=virtio,cache=fast"] + k,
         r"bad cache mode 'fast'"),
        ("-drive with an unknown format", base + ["-drive", "file=x,if=virtio,format=bochs"] + k,
         r"format 'bochs' not supported"),
        ("-drive with a missing image", base + ["-drive", "file=/nonexistent/x.img,if=virtio"] + k,
         r"/nonexistent/x.img"),
        ("unknown virtio-blk-pci property", base + ["-drive", "file=x,if=none,id=d0", "-device",
                                                    "virtio-blk-pci,drive=d0,frob=1"] + k,
         r"-device virtio-blk-pci,drive=d0,frob=1: Property 'virtio-blk-pci.frob' not found$"),
        ("bad isa-debug-exit property", base + ["-device", "isa-debug-exit,iosize=9"] + k,
         r"-device isa-debug-exit,iosize=9: iosize=9 \(1 to 4\)$"),
        ("a PCI address in use", base + ["-device", "virtio-rng-pci,addr=3,id=r0", "-device",
                                         "virtio-balloon-pci,addr=3"] + k,
         r"-device virtio-balloon-pci,addr=3: PCI: slot 3 function 0 not available for "
         r"virtio-balloon-pci, in use by virtio-rng-pci,id=r0$"),
        ("a device id used twice", base + ["-device", "virtio-rng-pci,id=x", "-device",
                                           "virtio-rng-pci,id=x"] + k,
         r"-device virtio-rng-pci,id=x: Duplicate ID 'x' for device$"),
        ("an id that is not an identifier", base + ["-device", "virtio-rng-pci,id=1a"] + k,
         r"-device virtio-rng-pci,id=1a: Parameter 'id' expects an identifier$"),
        ("an ISA device on the PCIe bus", base + ["-device", "isa-debug-exit,bus=pcie.0"] + k,
         r"-device isa-debug-exit,bus=pcie.0: Device 'isa-debug-exit' can't go on PCIE bus$"),
        ("a built-in device as -device", base + ["-device", "mc146818rtc"] + k,
         r"-device mc146818rtc: 'mc146818rtc' is built into the machine, not a -device$"),
        ("-M usb=on", base + ["-M", "microvm,usb=on"] + k,
         r"-M microvm,usb=on: usb=on: vireo-vmm's microvm has no built-in USB controller "
         r"\(add -device qemu-xhci\)$"),
        ("a USB device without a USB controller", base + ["-device", "usb-tablet"] + k,
         r"-device usb-tablet: No 'usb-bus' bus found for device 'usb-tablet'$"),
        ("a USB port that does not exist", base + ["-device", "qemu-xhci,id=usb", "-device",
                                                   "usb-tablet,bus=usb.0,port=9"] + k,
         r"-device usb-tablet,bus=usb.0,port=9: usb port 9 \(bus usb.0\) not found \(in use\?\)$"),
        ("a USB port taken twice", base + ["-device", "qemu-xhci,id=usb", "-device",
                                           "usb-tablet,port=1", "-device", "usb-kbd,port=1"] + k,
         r"-device usb-kbd,port=1: usb port 1 \(bus usb.0\) not found \(in use\?\)$"),
        ("-usbdevice mouse", base + ["-usbdevice", "mouse"] + k,
         r"-usbdevice mouse: vireo-vmm's USB devices are 'tablet' and 'keyboard'$"),
        ("-M pcie=off", base + ["-M", "microvm,pcie=off"] + k, r"-M microvm,pcie=off: pcie=off: "),
        ("-M acpi=off", base + ["-M", "microvm,acpi=off"] + k, r"-M microvm,acpi=off: acpi=off: "),
        ("-M graphics=maybe", base + ["-M", "microvm,graphics=maybe"] + k,
         r"-M microvm,graphics=maybe: graphics must be on or off$"),
        ("unsupported machine", base + ["-M", "isapc"] + k,
         r"-M isapc: unsupported machine type 'isapc' \(-M help lists microvm, pc, q35"),
        ("unknown machine property", base + ["-M", "microvm,frobnicate=on"] + k,
         r"unknown machine property 'frobnicate'"),
        # -fw_cfg (QEMU's wording; pc and q35 only)
        ("-fw_cfg without file= or string=", base + ["-M", "pc", "-fw_cfg", "name=opt/x"],
         r"-fw_cfg name=opt/x: name, plus exactly one of file, string and gen_id, are needed$"),
        ("-fw_cfg with both file= and string=", base + ["-M", "pc", "-fw_cfg",
                                                        "opt/x,file=/a,string=b"],
         r"-fw_cfg opt/x,file=/a,string=b: name, plus exactly one of file, string and gen_id, "
         r"are needed$"),
        ("-fw_cfg with a long name", base + ["-M", "pc", "-fw_cfg", "opt/" + "x" * 52 + ",string=1"],
         r"name too long \(max\. 55 char\)$"),
        ("-fw_cfg with an unknown key", base + ["-M", "pc", "-fw_cfg", "opt/x,string=a,foo=1"],
         r"-fw_cfg opt/x,string=a,foo=1: Invalid parameter 'foo=1'$"),
        ("-fw_cfg gen_id=", base + ["-M", "pc", "-fw_cfg", "opt/x,gen_id=g0"],
         r"gen_id= needs a vmgenid device, which vireo-vmm does not have$"),
        ("-fw_cfg on microvm", base + ["-fw_cfg", "opt/x,string=a"] + k,
         r"-fw_cfg: vireo-vmm's microvm has no fw_cfg device"),
        ("-fw_cfg with a missing file", base + ["-M", "pc", "-fw_cfg",
                                                "opt/x,file=" + os.path.join(tmp, "nope")],
         r"-fw_cfg name=opt/x: cannot open '.*nope': No such file or directory$"),
        ("-fw_cfg naming a file twice", base + ["-M", "pc", "-fw_cfg", "opt/x,string=a",
                                                "-fw_cfg", "opt/x,string=b"],
         r"-fw_cfg name=opt/x: fw_cfg: duplicate file 'opt/x'$"),
        ("-drive snapshot=maybe", base + ["-drive", "file=x,if=none,id=d0,snapshot=maybe"] + k,
         r"-drive file=x,if=none,id=d0,snapshot=maybe: snapshot=maybe is not on/off$"),
        ("-snapshot over a missing image", base + ["-snapshot", "-drive", "file=" +
                                                   os.path.join(tmp, "nope") + ",format=raw,"
                                                   "if=virtio"] + k,
         r"-snapshot: cannot open '.*nope': No such file or directory$"),
        ("unsupported accelerator", base + ["-accel", "tcg"] + k,
         r"-accel tcg: only the kvm accelerator is supported"),
        ("unsupported -qmp", base + ["-qmp", "tcp:127.0.0.1:4444"] + k,
         r"-qmp tcp:127.0.0.1:4444: only unix:PATH,server,nowait is supported"),
        ("unsupported display", base[:1] + ["-display", "gtk"] + k,
         r"-display gtk: only '-display none' is supported"),
        ("unimplemented option", base + ["-fda", "disk.img"] + k,
         r"-fda: option not supported by vireo-vmm"),
        ("-hda on microvm", base + ["-hda", "disk.img"] + k,
         r"-drive file=disk.img,index=0,media=disk,if=ide: microvm has no IDE controller"),
        ("-hdc and -cdrom on one index on pc", base + ["-M", "pc"] + ["-hdc", "x", "-cdrom", "y"],
         r"-drive file=y,index=2,media=cdrom,if=ide: drive with bus=1, unit=0 \(index=2\) exists"),
        ("if=pflash on microvm", base + ["-drive", "if=pflash,format=raw,file=%s" % text] + k,
         r"-drive if=pflash: machine type does not support if=pflash,bus=0,unit=0"),
        ("pflash1 without pflash0", base + ["-M", "pc", "-drive",
                                            "if=pflash,format=raw,unit=1,file=%s" % text],
         r"pflash1 requires pflash0"),
        ("pflash unit 2", base + ["-M", "pc", "-drive", "if=pflash,unit=2,file=%s" % text],
         r"machine type does not support if=pflash,bus=0,unit=2"),
        ("pflash qcow2", base + ["-M", "pc", "-drive", "if=pflash,format=qcow2,file=%s" % text],
         r"format=qcow2: vireo-vmm's pflash takes raw images only"),
        ("pflash0 and -bios", base + ["-M", "pc", "-bios", "bios.bin", "-drive",
                                      "if=pflash,format=raw,file=%s" % text],
         r"-bios \(or -M firmware=\) and -drive if=pflash,unit=0 both give the firmware"),
        ("pflash of a bad size", base + ["-M", "pc", "-drive",
                                         "if=pflash,format=raw,file=%s" % text],
         r"system firmware block device pflash0 has invalid size 2100 \(its size must be a "
         r"non-zero multiple of 0x1000\)"),
        ("OVMF with Secure Boot (needs SMM)",
         base + ["-M", "q35", "-drive", "if=pflash,format=raw,readonly=on,"
                 "file=/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"],
         r"pflash0 '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd' needs SMM \(.*\.json lists "
         r"requires-smm\)"),
        ("-smbios file= that is not SMBIOS", base + ["-M", "pc", "-smbios", "file=%s" % text],
         r"-smbios file=.*notes.txt: structure at byte 0 \(type 116\)"),
        ("-smbios on microvm", base + ["-smbios", "type=1,serial=x"] + k,
         r"-smbios: vireo-vmm's microvm has no SMBIOS tables"),
        ("-smbios type=17", base + ["-M", "pc", "-smbios", "type=17,speed=1"],
         r"Don't know how to build fields for SMBIOS type 17"),
        ("pflash too large", base + ["-M", "pc", "-drive",
                                     "if=pflash,format=raw,file=%s" % big_initrd],
         r"combined size of system firmware exceeds 8388608 bytes"),
        ("if=ide index past q35's ports", base + ["-M", "q35"] +
         ["-drive", "file=x,if=ide,index=6"],
         r"-drive file=x,if=ide,index=6: bus=6: q35's AHCI controller has buses 0 to 5"),
        ("-hdc and -cdrom on one index", base + ["-M", "q35"] + ["-hdc", "x", "-cdrom", "y"],
         r"-drive file=y,index=2,media=cdrom,if=ide: drive with bus=2, unit=0 \(index=2\) exists"),
        ("ide-hd on a taken port", base + ["-M", "q35"] +
         ["-drive", "file=x,if=none,id=a", "-drive", "file=y,if=none,id=b",
          "-device", "ide-hd,drive=a,bus=ide.1", "-device", "ide-hd,drive=b,bus=ide.1"],
         r"-device ide-hd,drive=b,bus=ide.1: IDE unit 0 is in use by"),
        ("ide-hd unit=1", base + ["-M", "q35"] +
         ["-drive", "file=x,if=none,id=a", "-device", "ide-hd,drive=a,unit=1"],
         r"Can't create IDE unit 1, bus supports only 1 units"),
        ("ide-hd on microvm", base + ["-drive", "file=x,if=none,id=a", "-device",
                                      "ide-hd,drive=a"] + k,
         r"No 'IDE' bus found for device 'ide-hd'"),
        ("unimplemented option (double dash)", base + ["--spice", "port=5930"] + k,
         r"--spice: option not supported by vireo-vmm"),
        ("missing option argument", base + k + ["-m"], r"-m: requires an argument"),
        ("stray argument", base + k + ["disk.img"], r"disk.img: unexpected argument"),
        ("no kernel", base, r"no -kernel given"),
        ("unwritable pidfile", base + k + ["-pidfile", os.path.join(tmp, "no/such/dir/pid")],
         r"-pidfile .*: cannot open"),
        # -chardev and virtio-serial (virtio-console)
        ("-chardev with an unknown backend", base + ["-chardev", "ringbuf,id=c0"] + k,
         r"-chardev ringbuf,id=c0: unsupported backend 'ringbuf'"),
        ("-chardev with an unknown key", base + ["-chardev", "socket,id=c0,path=/x,speed=9"] + k,
         r"-chardev socket,id=c0,path=/x,speed=9: unknown socket option 'speed=9'"),
        ("-chardev without id=", base + ["-chardev", "pty"] + k, r"-chardev pty: id= is required"),
        ("-chardev file without path=", base + ["-chardev", "file,id=c0"] + k,
         r"path= is required"),
        ("-chardev socket over TCP", base + ["-chardev", "socket,id=c0,host=::1,port=4"] + k,
         r"TCP sockets are not supported"),
        ("-chardev with a bad boolean", base + ["-chardev", "socket,id=c0,path=/x,server=maybe"]
         + k, r"server=maybe is not on/off"),
        ("duplicate -chardev id", base + ["-chardev", "null,id=c0", "-chardev", "pty,id=c0"] + k,
         r"duplicate chardev id 'c0'"),
        ("virtconsole naming a missing chardev", base + ["-device", "virtio-serial-pci", "-device",
                                                         "virtconsole,chardev=c9"] + k,
         r"virtconsole,chardev=c9: no -chardev with id=c9"),
        ("virtconsole without virtio-serial-pci", base + ["-chardev", "null,id=c0", "-device",
                                                          "virtconsole,chardev=c0"] + k,
         r"-device virtconsole,chardev=c0: No 'virtio-serial-bus' bus found for device "
         r"'virtconsole'$"),
        ("a chardev used twice", base + ["-chardev", "null,id=c0", "-device", "virtio-serial-pci",
                                         "-device", "virtconsole,chardev=c0", "-device",
                                         "virtserialport,chardev=c0"] + k,
         r"chardev 'c0' is already in use"),
        ("-serial chardev: naming a missing chardev", base + ["-serial", "chardev:c5"] + k,
         r"-serial chardev:c5: no -chardev with id=c5"),
        ("virtio-serial-pci with too many ports", base + ["-device",
                                                          "virtio-serial-pci,max_ports=32"] + k,
         r"max_ports=32 \(1 to 31\)"),
        ("virtserialport on port 0", base + ["-device", "virtio-serial-pci", "-device",
                                             "virtserialport,nr=0"] + k,
         r"port number 0 is reserved for virtconsole"),
        ("virtserialport beyond max_ports", base + ["-device", "virtio-serial-pci,max_ports=2",
                                                    "-device", "virtserialport,nr=2"] + k,
         r"nr=2: the bus has max_ports=2"),
        ("unknown virtconsole property", base + ["-device", "virtio-serial-pci", "-device",
                                                 "virtconsole,speed=1"] + k,
         r"-device virtconsole,speed=1: Property 'virtconsole.speed' not found$"),
        ("-chardev socket client with nobody listening",
         base + ["-chardev", "socket,id=c0,path=" + os.path.join(tmp, "nobody.sock")] + k,
         r"-chardev socket,id=c0,path=.*nobody.sock: cannot connect: No such file or directory"),
        ("-chardev stdio next to -serial stdio", base + ["-serial", "stdio", "-chardev",
                                                        "stdio,id=c0"] + k,
         r"-chardev stdio,id=c0: cannot use stdio by multiple character devices"),
        ("-chardev file in a missing directory",
         base + ["-chardev", "file,id=c0,path=" + os.path.join(tmp, "no/dir/f")] + k,
         r"-chardev file,id=c0,path=.*no/dir/f: cannot open: No such file or directory"),
    ]
    # /dev/kvm without permission: run as an unprivileged user when we can.
    setpriv = shutil.which("setpriv")
    if os.geteuid() == 0 and setpriv:
        cases.append(("no permission on /dev/kvm",
                      ("SETPRIV", base + k),
                      r"/dev/kvm: Permission denied \(is your user in group kvm\?\)"))

    print(f"1..{len(cases) + 1}")
    n = 0
    for name, args, pattern in cases:
        n += 1
        if isinstance(args, tuple):
            cmd = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", vmm] + args[1]
        else:
            cmd = [vmm] + args
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        # -cpu's check (on by default, as QEMU's) warns about each feature of the model this
        # host's KVM lacks (QEMU prints the same lines here); the error is the other line.
        lines = [l for l in p.stderr.splitlines()
                 if "warning: host doesn't support requested feature" not in l]
        problems = []
        if p.returncode != 1:
            problems.append(f"exit status {p.returncode}, want 1")
        if p.stdout:
            problems.append(f"stdout not empty: {p.stdout!r}")
        if len(lines) != 1:
            problems.append(f"{len(lines)} lines on stderr, want 1")
        elif not lines[0].startswith("vireo-vmm: error: "):
            problems.append("stderr line lacks the 'vireo-vmm: error: ' prefix")
        elif not re.search(pattern, lines[0]):
            problems.append(f"stderr does not match /{pattern}/")
        if problems:
            print(f"not ok {n} - {name}")
            for pr in problems:
                print(f"#   {pr}")
            print(f"#   command: {' '.join(cmd)}")
            for line in lines:
                print(f"#   stderr: {line}")
        else:
            print(f"ok {n} - {name}: {lines[0]}")
    # --help and --version succeed and say something useful.
    n += 1
    h = subprocess.run([vmm, "--help"], capture_output=True, text=True)
    v = subprocess.run([vmm, "-version"], capture_output=True, text=True)
    good = (h.returncode == 0 and "-kernel FILE" in h.stdout and "-qmp" in h.stdout
            and v.returncode == 0 and v.stdout.startswith("vireo-vmm version "))
    print(f"{'ok' if good else 'not ok'} {n} - --help lists the options and -version prints one line")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
