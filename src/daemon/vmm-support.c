/*
 * vmm-support.c - the table of what vireo-vmm honours in a domain definition,
 * and the walk that checks a definition against it (see vmm-support.h).
 *
 * The walk visits every part a definition can hold (typed fields, kept
 * trees, devices) and asks the table about each (element, value) pair; the
 * first one not honoured ends the check with its line. A pair the table does
 * not know is refused too, so a new element is never honoured by accident.
 * Issue numbers name the project's issues that plan support: 14 host
 * networking and storage, 15 firmware, boot and display, 16 resources,
 * hot-plug and statistics, 17 security, 18 image formats.
 */
#include "daemon/vmm-support.h"
#include "daemon/iotune.h"
#include "daemon/vmm-argv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf/xnode.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/str.h"

#define H VMM_SUPPORT_HONOURED
#define R VMM_SUPPORT_REFUSED
#define P VMM_SUPPORT_PLANNED

static const struct vmm_support_rule rules[] = {
    /* the domain and its machine */
    {"domain@type", "kvm", H, 0, "KVM through /dev/kvm"},
    {"domain@type", "*", R, 0, "only type 'kvm' runs on vireo-vmm"},
    {"os/type@machine", "microvm", H, 0, "-M microvm,acpi=on,pcie=on"},
    /* pc and q35 boot through SeaBIOS; the machine name libvirt wrote (pc-i440fx-7.2, ...) is
     * passed as given: vireo-vmm takes QEMU's versioned aliases. */
    {"os/type@machine", "pc", H, 0,
     "-M pc (or the pc-i440fx-X.Y alias given): i440FX/PIIX3, booted through SeaBIOS"},
    {"os/type@machine", "q35", H, 0,
     "-M q35 (or the pc-q35-X.Y alias given): MCH/ICH9 with its AHCI at 00:1f.2, booted "
     "through SeaBIOS"},
    {"os/type@machine", "*", R, 0, "vireo-vmm has machines 'microvm', 'pc' and 'q35' only"},
    {"os/kernel", "given (microvm)", H, 0, "-kernel (direct kernel boot)"},
    {"os/kernel", "given (pc/q35)", H, 0,
     "-kernel through SeaBIOS as QEMU: fw_cfg's kernel items and the option ROM linuxboot_dma.bin "
     "(bzImage), multiboot_dma.bin (Multiboot 1; <initrd> lists its modules) or pvh.bin (PVH "
     "ELF; it passes no initrd, as QEMU's)"},
    {"os/kernel", "missing (pc/q35)", H, 0,
     "SeaBIOS (bios-256k.bin) boots the device the boot order names"},
    {"os/kernel", "missing (microvm)", R, 0,
     "machine 'microvm' has no firmware: booting from a disk needs machine 'pc' or 'q35'"},
    {"os/initrd", NULL, H, 0, "-initrd"},
    {"os/cmdline", NULL, H, 0, "-append"},
    {"os@firmware", "bios", H, 0, "SeaBIOS (bios-256k.bin), pc's and q35's default firmware"},
    {"os@firmware", "efi", H, 0,
     "autoselected at start as libvirt does, from QEMU's firmware descriptors (DIR/etc/qemu/"
     "firmware with --root, /etc/qemu/firmware, /usr/share/qemu/firmware): the first UEFI "
     "flash build for the machine without requires-smm (vireo-vmm has no SMM, so no Secure "
     "Boot build), as <loader type='pflash'> and <nvram template=> in the live XML; a "
     "<loader> given is used as it is. OVMF stops in its first steps on this project's nested "
     "KVM (see vireo-vmm's machine-pc.c)"},
    {"os@firmware", "microvm", R, 0, "machine 'microvm' has no firmware"},
    {"os@firmware", "unresolved", R, 0,
     "internal error: no firmware was chosen for it before the command line"},
    {"os/loader", "pc/q35", H, 0,
     "type='pflash': -drive if=pflash,format=raw,unit=0 (readonly=on with readonly='yes'); "
     "type='rom' or none: -bios"},
    {"os/loader", "microvm", R, 0,
     "machine 'microvm' has no firmware: a <loader> needs machine 'pc' or 'q35'"},
    {"os/nvram", NULL, H, 0,
     "-drive if=pflash,format=raw,unit=1; a missing file is copied from template= at start "
     "(default NAME_VARS.fd in vireod's nvram directory, lib/nvram under --root)"},
    {"os/dtb", NULL, R, 0, "x86 guests have no device tree"},
    {"os/boot@dev", "kernel", H, 0,
     "direct kernel boot starts the kernel whatever the order (as QEMU with -kernel)"},
    {"os/boot@dev", "hd", H, 0, "-boot order=c (SeaBIOS's first hard disk)"},
    {"os/boot@dev", "cdrom", H, 0, "-boot order=d (SeaBIOS's first CD-ROM)"},
    {"os/boot@dev", "network", H, 0, "-boot order=n (the NICs' option ROMs, when they have one)"},
    {"os/boot@dev", "*", R, 0, "vireo-vmm has no floppy drive"},
    {"os/bootmenu@enable", "no", H, 0, "-boot menu=off on pc/q35; microvm has no boot menu"},
    {"os/bootmenu@enable", "yes", H, 0, "-boot menu=on,splash-time=TIMEOUT (SeaBIOS's menu)"},
    {"os/bootmenu@enable", "*", R, 0, "machine 'microvm' has no firmware, so no boot menu"},
    {"os/smbios", NULL, H, 0,
     "mode='sysinfo': the <sysinfo> blocks as -smbios; mode='emulate': vireo-vmm's own tables; "
     "mode='host' is refused"},
    {"os/bios@rebootTimeout", NULL, H, 0, "-boot reboot-timeout=MS (pc/q35)"},
    {"os/bios@useserial", "no", H, 0, "SeaBIOS's screen stays on the VGA"},
    {"os/bios@useserial", "*", R, 0,
     "vireo-vmm has no serial graphics adapter (sga) to copy SeaBIOS's screen to the serial "
     "port"},
    {"os/bios", "microvm", R, 0, "machine 'microvm' has no firmware"},
    {"os", "*", R, 0, "this <os> child is not supported by vireo-vmm"},
    {"genid", NULL, R, 0, "vireo-vmm has no VM generation ID device"},
    /* memory and vCPUs */
    {"memory", NULL, H, 0, "guest RAM (-m)"},
    {"currentMemory", NULL, H, 0,
     "the virtio balloon's target, set before the guest runs (no balloon: all of <memory>)"},
    {"maxMemory", "pc/q35 with a NUMA cell", H, 0,
     "-m SIZE,slots=N,maxmem=MAX: DIMM slots and the device-memory region (ACPI memory "
     "hot-plug)"},
    {"maxMemory", "without a NUMA cell", R, 0,
     "At least one numa node has to be configured when enabling memory hotplug"},
    {"maxMemory", "microvm", R, 0,
     "machine 'microvm' has no memory hot-plug: it needs 'pc' or 'q35'"},
    {"vcpu", NULL, H, 0, "-smp N,maxcpus=M"},
    {"vcpu@current", "the maximum", H, 0, "-smp N,maxcpus=N"},
    {"vcpu@current", "fewer", H, 0,
     "-smp N,maxcpus=M; setvcpus --live plugs vCPUs with device_add, unplugs with device_del"},
    {"vcpu@placement", "static", H, 0, "no host placement is asked for"},
    {"vcpu@placement", "*", P, 16, "automatic NUMA placement is not supported yet"},
    {"vcpu@cpuset", NULL, H, 0,
     "the vCPU and emulator threads' affinity and their groups' cpuset.cpus"},
    {"iothreads", NULL, H, 0,
     "-object iothread,id=iothreadN for N from 1 to the count; each thread in an iothreadN group"},
    {"cputune", "shares", H, 0, "cpu.shares (v1) or cpu.weight (v2) of the domain's group"},
    {"cputune", "period", H, 0, "the CFS period of each vcpuN group"},
    {"cputune", "quota", H, 0, "the CFS quota of each vcpuN group"},
    {"cputune", "emulator_period", H, 0, "the CFS period of the emulator group"},
    {"cputune", "emulator_quota", H, 0, "the CFS quota of the emulator group"},
    {"cputune", "global_period", H, 0, "the CFS period of the domain's group"},
    {"cputune", "global_quota", H, 0, "the CFS quota of the domain's group"},
    {"cputune", "vcpupin", H, 0, "the vCPU thread's affinity and its vcpuN group's cpuset"},
    {"cputune", "emulatorpin", H, 0, "the other threads' affinity and the emulator group's cpuset"},
    {"cputune", "iothreadpin", H, 0,
     "the I/O thread's affinity and its iothreadN group's cpuset (thread id from "
     "query-iothreads)"},
    {"cputune", "iothread_period", H, 0, "the CFS period of each iothreadN group"},
    {"cputune", "iothread_quota", H, 0, "the CFS quota of each iothreadN group"},
    {"cputune", "vcpusched", H, 0,
     "sched_setscheduler on the vCPU's thread at start and when it is plugged (fifo/rr need "
     "CAP_SYS_NICE and, with real-time group scheduling, a cpu.rt_runtime_us budget in its "
     "group)"},
    {"cputune", "iothreadsched", H, 0,
     "sched_setscheduler on the I/O thread at start and at iothreadadd"},
    {"cputune", "emulatorsched", H, 0,
     "sched_setscheduler on every thread that is neither a vCPU nor an I/O thread"},
    {"cputune", "*", P, 16, "cache and memory bandwidth allocation (resctrl) is not applied yet"},
    {"cpu@mode", "host-passthrough", H, 0, "-cpu host"},
    {"cpu@mode", "maximum", H, 0, "-cpu max"},
    {"cpu@mode", "custom", H, 0, "-cpu MODEL (QEMU 7.2's named models; qemu64 without <model>)"},
    {"cpu@mode", "host-model", H, 0,
     "the host model of domcapabilities (a named model and its features): the live "
     "definition is that custom CPU, as libvirt's"},
    {"cpu@mode", "*", R, 0, "the CPU mode must be host-passthrough, host-model, custom or maximum"},
    {"cpu@check", "none", H, 0, "-cpu's default check: unavailable features are warned about"},
    {"cpu@check", "partial", H, 0, "-cpu's default check: unavailable features are warned about"},
    {"cpu@check", "full", H, 0, "-cpu MODEL,enforce: the VM does not start without every feature"},
    {"cpu@migratable", "on", H, 0,
     "-cpu host,migratable=on: without the unmigratable invariant TSC (as QEMU's)"},
    {"cpu@migratable", "off", H, 0,
     "-cpu host,migratable=off: the host's invariant TSC too; such a domain does not migrate "
     "(QEMU's blocker, libvirt's line)"},
    {"cpu@migratable", "*", R, 0, "migratable must be on or off"},
    {"cpu/model", "*", H, 0,
     "-cpu MODEL; vireo-vmm refuses a model it does not know with one line at start"},
    {"cpu/model@fallback", "allow", H, 0,
     "the model is used as named (vireo-vmm never falls back)"},
    {"cpu/model@fallback", "forbid", H, 0, "the model is used as named, or the start fails"},
    {"cpu/feature@policy", "require", H, 0, "+name (check='full' refuses to start without it)"},
    {"cpu/feature@policy", "force", H, 0, "+name"},
    {"cpu/feature@policy", "optional", H, 0, "+name: given when the host's KVM has it"},
    {"cpu/feature@policy", "disable", H, 0, "-name"},
    {"cpu/feature@policy", "forbid", H, 0,
     "-name (TODO: libvirt also refuses to start when the host has it)"},
    {"cpu/feature@policy", "*", R, 0, "policy must be force, require, optional, disable or forbid"},
    {"cpu", "feature", H, 0, "-cpu MODEL,+name/-name by QEMU's names ('_' read as '-')"},
    {"cpu", "vendor", H, 0,
     "a check at start: the host CPU must be that vendor's (the guest's vendor is the model's)"},
    {"cpu", "numa", H, 0,
     "-object memory-backend-ram and -numa node per cell (ACPI SRAT), -numa dist per sibling "
     "(ACPI SLIT)"},
    {"cpu/numa", "cell", H, 0, "a guest NUMA node: its vCPUs and its memory backend"},
    {"cpu/numa", "interconnects", H, 0,
     "-M ...,hmat=on and a -numa hmat-lb per <latency>/<bandwidth> (ACPI HMAT: locality "
     "latencies and bandwidths); each -numa node gets its initiator= as libvirt picks it"},
    {"cpu/numa", "*", R, 0, "not supported by vireo-vmm"},
    {"cpu/numa/cell@memAccess", "shared", H, 0, "share=on on the cell's memory backend"},
    {"cpu/numa/cell@memAccess", "private", H, 0, "share=off on the cell's memory backend"},
    {"cpu/numa/cell@memAccess", "*", R, 0, "memAccess must be shared or private"},
    {"cpu/numa/cell@discard", "yes", H, 0,
     "discard-data=on on the cell's backend: with <hugepages/> a file whose pages are dropped "
     "when the VMM exits; without, refused at start (no file to discard)"},
    {"cpu/numa/cell@discard", "no", H, 0, "no discard-data on the cell's backend"},
    {"cpu/numa/cell@discard", "*", R, 0, "discard must be yes or no"},
    {"cpu/numa/cell", "distances", H, 0, "-numa dist,src=,dst=,val= per sibling"},
    {"cpu/numa/cell", "cache", H, 0,
     "-M ...,hmat=on and a -numa hmat-cache per cache (ACPI HMAT: memory side cache)"},
    {"cpu/numa/cell", "*", R, 0, "not supported by vireo-vmm"},
    {"cpu", "*", R, 0, "not supported by vireo-vmm"},
    /* top-level tuning and platform elements */
    {"memoryBacking", "hugepages", H, 0,
     "guest RAM from a hugetlbfs mount of the page size (-mem-path, -mem-prealloc); a start "
     "without enough free huge pages is refused naming the shortfall"},
    {"memoryBacking", "nosharepages", H, 0,
     "-M mem-merge=off: guest RAM is not offered to KSM (vireo-vmm's default is off too)"},
    {"memoryBacking", "locked", H, 0,
     "-overcommit mem-lock=on (mlockall before guest RAM is mapped); RLIMIT_MEMLOCK of the VMM "
     "raised to <memtune><hard_limit>, unlimited without one, as libvirt"},
    {"memoryBacking/source@type", "memfd", H, 0,
     "memory-backend-memfd (-M memory-backend=pc.ram without cells, each cell's otherwise); "
     "with <hugepages/> hugetlb=on,hugetlbsize= of the page size, preallocated"},
    {"memoryBacking/source@type", "anonymous", H, 0, "memory-backend-ram (the default)"},
    {"memoryBacking/source@type", "file", H, 0,
     "memory-backend-file, a file per backend (pc.ram, ram-nodeN, dimmN) in ID-NAME under "
     "qemu.conf's memory_backing_dir (DIR/lib/ram with --root, /var/lib/vireo/ram), removed "
     "when the VM ends; <hugepages/> win, as libvirt"},
    {"memoryBacking/source@type", "*", R, 0, "type must be anonymous, file or memfd"},
    {"memoryBacking", "source", H, 0, "as its type"},
    {"memoryBacking/access@mode", "shared", H, 0,
     "share=on on the memory backends (MAP_SHARED; a cell's memAccess wins)"},
    {"memoryBacking/access@mode", "private", H, 0, "share=off on the memory backends"},
    {"memoryBacking/access@mode", "*", R, 0, "mode must be shared or private"},
    {"memoryBacking", "access", H, 0, "as its mode"},
    {"memoryBacking/allocation@mode", "immediate", H, 0,
     "prealloc=on on the memory backends, prealloc-threads=N from threads"},
    {"memoryBacking/allocation@mode", "ondemand", H, 0, "pages taken as the guest uses them"},
    {"memoryBacking/allocation@mode", "*", R, 0, "mode must be immediate or ondemand"},
    {"memoryBacking", "allocation", H, 0, "as its mode"},
    {"memoryBacking", "discard", H, 0,
     "discard-data=on on the memory backends: with <hugepages/> or <source type='file'/> their "
     "files' pages are dropped when the VMM exits; otherwise refused at start (no file)"},
    {"memoryBacking", "*", R, 0, "not supported by vireo-vmm"},
    {"element", "memoryBacking", H, 0, "as its parts"},
    {"numatune/memory@mode", "strict", H, 0,
     "cpuset.mems of the domain's groups (nodes the host lacks are refused at start)"},
    {"numatune/memory@mode", "restrictive", H, 0, "cpuset.mems of the domain's groups"},
    {"numatune/memory@mode", "preferred", H, 0,
     "policy=preferred,host-nodes= on the memory backends (mbind); without guest NUMA cells one "
     "backend holds all RAM, so the guest sees one NUMA node"},
    {"numatune/memory@mode", "interleave", H, 0,
     "policy=interleave,host-nodes= on the memory backends (mbind); without guest NUMA cells "
     "one backend holds all RAM, so the guest sees one NUMA node"},
    {"numatune/memory@mode", "*", R, 0,
     "mode must be strict, preferred, interleave or restrictive"},
    {"numatune/memory@placement", "static", H, 0, "the nodeset given"},
    {"numatune/memory@placement", "*", P, 16, "automatic NUMA placement is not supported yet"},
    {"numatune", "memory", H, 0, "as its mode"},
    {"numatune", "memnode", H, 0, "the policy of the cell's memory backend (mbind)"},
    {"numatune/memnode@mode", "strict", H, 0, "policy=bind on the cell's memory backend"},
    {"numatune/memnode@mode", "preferred", H, 0, "policy=preferred on the cell's memory backend"},
    {"numatune/memnode@mode", "interleave", H, 0, "policy=interleave on the cell's memory backend"},
    {"numatune/memnode@mode", "restrictive", H, 0,
     "no policy on the cell's backend: the domain's cpuset.mems only"},
    {"numatune/memnode@mode", "*", R, 0,
     "mode must be strict, preferred, interleave or restrictive"},
    {"numatune/memnode@cellid", "missing", R, 0,
     "a <memnode> must name a guest NUMA <cell> of <cpu><numa>"},
    {"numatune", "*", R, 0, "not supported by vireo-vmm"},
    {"element", "numatune", H, 0, "as its parts"},
    {"element", "memtune", H, 0,
     "hard_limit, soft_limit and swap_hard_limit on the domain's memory group (min_guarantee "
     "refused at start, as libvirt's QEMU driver does)"},
    {"element", "blkiotune", H, 0,
     "the domain's blkio group: weight (v1 blkio.bfq.weight or blkio.weight, v2 io.weight; "
     "refused where the I/O scheduler has none, as libvirt), per <device> its weight and "
     "blkio.throttle.*_device (v1) or io.max (v2) by the disk's major:minor"},
    {"element", "vcpus", H, 0,
     "-smp with the enabled non-hotpluggable vCPUs, then device_add of each enabled "
     "hotpluggable one in its order before the guest runs (libvirt's way); disabled ones stay "
     "out until setvcpu"},
    {"vcpus", "gap", P, 16,
     "an enabled vCPU after a disabled one is not supported yet: Vireo keeps the enabled vCPUs "
     "contiguous from vCPU 0"},
    {"element", "iothreadids", H, 0, "ids within 1..<iothreads>, without per-thread settings"},
    {"iothreadids", "beyond", P, 16,
     "IOThread ids above the <iothreads> count are not supported yet"},
    {"iothreadids", "settings", P, 16,
     "per-IOThread settings (thread pools, polling) are not supported yet"},
    {"element", "defaultiothread", P, 16, "I/O threads are not supported yet"},
    {"element", "resource", P, 16, "resource partitions (cgroups) are not applied yet"},
    {"element", "sysinfo", H, 0,
     "type='smbios' with <os><smbios mode='sysinfo'/>: -smbios type=0 (bios), 1 (system), 2 "
     "(baseBoard), 3 (chassis), 11 (oemStrings); without mode='sysinfo' kept, not applied"},
    {"element", "launchSecurity", R, 0, "vireo-vmm has no confidential guests"},
    {"element", "idmap", R, 0, "ID maps are for containers"},
    {"element", "keywrap", R, 0, "key wrapping is for s390"},
    {"element", "bootloader", R, 0, "host boot loaders are for Xen"},
    {"element", "on_lockfailure", R, 0, "no lock manager"},
    {"element", "*", R, 0, "not supported by vireo-vmm"},
    {"features", "acpi", H, 0, "vireo-vmm's machine always has ACPI"},
    {"features", "(no acpi)", H, 0,
     "ACPI is there all the same (libvirt would run QEMU without it): vireo-vmm's machine "
     "always has it"},
    {"features", "apic", H, 0, "the local APIC and IOAPIC are always there"},
    {"features", "pae", H, 0, "x86_64 guests always have PAE"},
    {"features", "vmport state='off'", H, 0, "microvm has no VMware I/O port"},
    {"features", "smm state='off'", H, 0, "microvm has no System Management Mode"},
    {"features", "*", R, 0, "this feature is not supported by vireo-vmm"},
    {"clock@offset", "utc", H, 0, "the RTC runs in UTC"},
    {"clock@offset", "*", R, 0, "the RTC runs in UTC only"},
    {"clock/timer@name", "pit", H, 0, "present='no' -> -M ...,pit=off"},
    {"clock/timer@name", "rtc", H, 0, "the MC146818 RTC, always there"},
    {"clock/timer@name", "hpet", H, 0, "vireo-vmm has no HPET: present='no' only"},
    {"clock/timer@name", "*", R, 0, "only the PIT, RTC and HPET timers can be configured"},
    {"clock/timer@present", "yes", H, 0, "the default"},
    {"clock/timer@present", "no", H, 0, "-M ...,pit=off"},
    {"clock/timer@present", "no (hpet)", H, 0, "vireo-vmm has no HPET"},
    {"clock/timer@present", "yes (hpet)", R, 0, "vireo-vmm has no HPET"},
    {"clock/timer@present", "yes (rtc)", H, 0, "the RTC is always there"},
    {"clock/timer@present", "no (rtc)", R, 0, "the RTC is always there"},
    /* virt-install writes these two for every x86 guest. */
    {"clock/timer@tickpolicy", "pit delay", H, 0,
     "KVM's in-kernel PIT re-injects missed ticks (its default, QEMU's delay policy)"},
    {"clock/timer@tickpolicy", "rtc catchup", H, 0,
     "vireo-vmm's RTC raises no periodic interrupts yet, so no tick is lost to catch up "
     "(TODO: driftfix=slew with them)"},
    {"clock/timer@tickpolicy", "*", R, 0, "this tick policy is not supported"},
    {"clock/timer@track", NULL, R, 0, "timer tracking is not supported"},
    {"pm/*@enabled", "no", H, 0, "vireo-vmm has no S3/S4"},
    {"pm/*@enabled", "*", R, 0, "vireo-vmm has no S3/S4"},
    {"perf/event@enabled", "no", H, 0, "nothing is counted"},
    {"perf/event@enabled", "*", R, 0, "perf events are not collected"},
    {"seclabel@type", "none", H, 0, "no security driver"},
    {"seclabel@type", "dynamic", H, 0,
     "the DAC driver: the configuration's user/group, -runas, images relabelled"},
    {"seclabel@type", "static", H, 0,
     "the DAC driver: vireo-vmm runs as the <label>'s user:group (-runas); its images are "
     "given to it with relabel='yes' only"},
    {"seclabel@type", "*", R, 0, "the type must be none, dynamic or static"},
    {"seclabel@model", "dac", H, 0, "the DAC driver (user/group in the configuration)"},
    {"seclabel@model", "none", H, 0, "no security driver"},
    {"seclabel@model", "*", R, 0, "no SELinux or AppArmor driver: only the DAC model"},
    {"on_poweroff", "destroy", H, 0, "the daemon ends the VMM"},
    {"on_poweroff", "restart", H, 0, "the daemon starts the guest again"},
    {"on_poweroff", "preserve", H, 0, "the VMM is kept (-no-shutdown)"},
    {"on_reboot", "destroy", H, 0, "-no-reboot"},
    {"on_reboot", "restart", H, 0, "the guest reboots in the same VMM"},
    {"on_reboot", "preserve", H, 0, "-no-reboot, the VMM is kept"},
    {"on_crash", "destroy", H, 0, "the daemon cleans up"},
    {"on_crash", "restart", H, 0, "the daemon starts the guest again"},
    {"on_crash", "preserve", H, 0, "the record is kept (a crashed VMM is gone)"},
    {"on_*", "rename-restart", R, 0, "not supported, use destroy, restart or preserve"},
    {"on_*", "*", R, 0, "vireo-vmm cannot dump guest cores; use destroy, restart or preserve"},
    /* devices */
    {"devices", "disk", H, 0,
     "virtio-blk-pci, scsi-hd, scsi-cd, ide-hd or ide-cd (see the disk rows)"},
    {"devices", "interface", H, 0, "virtio-net-pci or e1000 (see the interface rows)"},
    {"devices", "controller", H, 0, "see the controller rows"},
    {"devices", "serial", H, 0, "COM1, on the daemon's console socket"},
    {"devices", "console", H, 0, "the serial console is COM1"},
    {"devices", "input", H, 0, "PS/2 on vireo-vmm's i8042, or USB (see the input rows)"},
    {"devices", "memballoon", H, 0, "virtio-balloon-pci"},
    {"devices", "rng", H, 0, "virtio-rng-pci"},
    {"devices", "graphics", H, 0, "see the graphics rows"},
    {"devices", "video", H, 0, "see the video rows"},
    {"devices", "channel", H, 0, "a virtserialport on a unix socket (see the channel rows)"},
    {"devices", "memory", H, 0, "see the memory rows (cold-plugged DIMMs)"},
    {"memory@model", "dimm", H, 0,
     "-object memory-backend-ram (memfd or file as <memoryBacking> says; its node's memAccess "
     "and <memnode> policy) id=memdimmN and -device "
     "pc-dimm,node=,memdev=memdimmN,id=dimmN,slot=[,addr=] on the ACPI memory hot-plug "
     "interface; the base vireo-vmm chose is read back (query-memory-devices) into the live XML"},
    {"memory@model", "*", R, 0, "vireo-vmm has pc-dimm memory devices only (model 'dimm')"},
    {"memory", "target", H, 0, "<size> (the backend's size) and <node> (the DIMM's guest node)"},
    {"memory", "address", H, 0, "type 'dimm': slot= and base= (addr=) of the pc-dimm"},
    {"memory", "alias", H, 0, "dimmN, live only"},
    {"memory", "source", P, 16,
     "a memory device's own <source> (pagesize, nodemask, path) is not applied yet"},
    {"memory", "*", R, 0, "not supported on a memory device"},
    {"devices", "*", R, 0, "device not supported by vireo-vmm"},
    {"disk@device", "disk", H, 0,
     "virtio-blk-pci (bus 'virtio'), scsi-hd (bus 'scsi'), ide-hd (bus 'sata' or 'ide')"},
    {"disk@device", "cdrom", H, 0,
     "scsi-cd (bus 'scsi') or ide-cd (bus 'sata' or 'ide'), read-only, may be empty"},
    {"disk@device", "lun", R, 0, "SCSI passthrough (device 'lun') is not supported"},
    {"disk@device", "*", R, 0, "only devices 'disk' and 'cdrom' are supported"},
    {"disk@type", "file", H, 0, "-drive file="},
    {"disk@type", "block", H, 0, "-drive file= (a host block device: an LV, a loop device)"},
    {"disk@type", "volume", H, 0, "resolved at start to the volume's path (-drive file=)"},
    {"disk@type", "*", R, 0, "only types 'file', 'block' and 'volume' are supported"},
    {"disk/source@file", "given", H, 0, "-drive file= (',' escaped as ',,')"},
    {"disk/source@file", "missing", R, 0, "a disk needs a source file"},
    {"disk/source@file", "missing (cdrom)", H, 0, "an empty drive (-drive media=cdrom, no file)"},
    {"disk/target@bus", "virtio", H, 0, "virtio-blk-pci"},
    {"disk/target@bus", "scsi", H, 0,
     "scsi-hd or scsi-cd on virtio-scsi-pci (bus=scsiN.0, channel, scsi-id, lun from <address>)"},
    {"disk/target@bus", "virtio (cdrom)", R, 0, "a cdrom cannot use bus 'virtio'"},
    {"disk/target@bus", "sata", H, 0,
     "ide-hd or ide-cd on the sata controller's port (bus=sataC.U, unit U from <address>)"},
    {"disk/target@bus", "ide", H, 0,
     "ide-hd or ide-cd on pc's PIIX3 IDE (bus=ide.B,unit=U from <address>); q35 and microvm "
     "refuse it when the domain is defined"},
    {"disk/target@bus", "*", R, 0, "only buses 'virtio', 'scsi', 'sata' and 'ide' are supported"},
    {"disk/address", "drive channel 0", H, 0,
     "bus=scsiC.0,channel=0,scsi-id=TARGET,lun=UNIT (scsi-id up to 255, lun up to 16383)"},
    {"disk/address", "drive sata port", H, 0,
     "bus=sataC.U: the AHCI controller's port U (units 0-5, bus 0, target 0)"},
    {"disk/address", "drive sata other", R, 0,
     "an AHCI controller has bus 0, target 0 and units (ports) 0-5"},
    {"disk/address", "drive ide place", H, 0,
     "bus=ide.B,unit=U: PIIX3 IDE's bus B (0-1), unit U (0 master, 1 slave)"},
    {"disk/address", "drive ide controller 1+", R, 0, "Only 1 IDE controller is supported"},
    {"disk/address", "drive ide other", R, 0,
     "pc's IDE has controller 0, buses 0-1, target 0 and units 0-1"},
    {"disk/address", "*", R, 0, "virtio-scsi has bus 0 only, targets 0-255 and units 0-16383"},
    {"disk/driver@name", "qemu", H, 0, "vireo-vmm's block layer"},
    {"disk/driver@name", "*", R, 0, "only driver name 'qemu' is supported"},
    {"disk/driver@type", "raw", H, 0, "format=raw"},
    {"disk/driver@type", "qcow2", H, 0, "format=qcow2"},
    {"disk/driver@type", "vmdk", H, 0, "format=vmdk (read and written by vireo-vmm's block layer)"},
    {"disk/driver@type", "vdi", H, 0, "format=vdi (read and written by vireo-vmm's block layer)"},
    {"disk/driver@type", "vpc", H, 0, "format=vpc (read and written by vireo-vmm's block layer)"},
    {"disk/driver@type", "vhdx", H, 0, "format=vhdx (read and written by vireo-vmm's block layer)"},
    {"disk/driver@type", "qed", H, 0, "format=qed (read and written by vireo-vmm's block layer)"},
    {"disk/driver@type", "luks", H, 0, "format=luks (needs <encryption format='luks'>)"},
    {"disk/driver@type", "*", R, 0,
     "only 'raw', 'qcow2', 'vmdk', 'vdi', 'vpc', 'vhdx' and 'qed' are supported"},
    {"disk/driver@cache", "none", H, 0, "cache=none"},
    {"disk/driver@cache", "writeback", H, 0, "cache=writeback"},
    {"disk/driver@cache", "writethrough", H, 0, "cache=writethrough"},
    {"disk/driver@cache", "directsync", H, 0, "cache=directsync"},
    {"disk/driver@cache", "unsafe", H, 0, "cache=unsafe"},
    {"disk/driver@cache", "*", R, 0, "this cache mode is not supported"},
    {"disk/driver@io", "threads", H, 0, "aio=threads"},
    {"disk/driver@io", "native", H, 0, "aio=native"},
    {"disk/driver@io", "io_uring", H, 0, "aio=io_uring"},
    {"disk/driver@io", "*", R, 0, "this I/O mode is not supported"},
    {"disk/driver@discard", "unmap", H, 0, "discard=unmap"},
    {"disk/driver@discard", "ignore", H, 0, "the default"},
    {"disk/driver@discard", "*", R, 0, "this discard mode is not supported"},
    {"disk/driver@detect_zeroes", "off", H, 0, "detect-zeroes=off"},
    {"disk/driver@detect_zeroes", "on", H, 0,
     "detect-zeroes=on: the block layer turns all-zero writes into write-zeroes"},
    {"disk/driver@detect_zeroes", "unmap", H, 0,
     "detect-zeroes=unmap with discard='unmap', else on (as libvirt)"},
    {"disk/driver@iothread", "virtio", H, 0, "iothread=iothreadN on the virtio-blk-pci device"},
    {"disk/driver@iothread", "*", R, 0,
     "IOThreads only available for virtio pci and virtio ccw disk"},
    {"disk/serial", "plain", H, 0, "serial= (',' escaped as ',,')"},
    {"disk/serial", "*", R, 0, "a serial with '=' is not supported"},
    {"disk/readonly", NULL, H, 0, "readonly=on"},
    {"disk/shareable", NULL, H, 0, "share-rw=on (others may write the image; never a qcow2)"},
    {"disk/transient", NULL, R, 0, "transient disks are not supported"},
    {"disk/boot@order", NULL, H, 0,
     "bootindex=N on the disk's device (pc/q35); direct kernel boot starts the kernel whatever "
     "the order (as QEMU with -kernel)"},
    {"disk", "backingStore", H, 0, "the backing chain is read from the image"},
    {"disk", "iotune", H, 0,
     "-drive throttling.* (vireo-vmm's leaky buckets, as QEMU's); group_name is the group"},
    {"disk", "encryption", H, 0, "see disk/encryption@format"},
    {"disk/encryption@format", "luks", H, 0,
     "type raw or luks: format=luks,key-secret=; qcow2: encrypt.format=luks,encrypt.key-secret=; "
     "the secret's value goes AES-256-CBC-encrypted under a per-start master key file (0600, "
     "the domain's run directory) as libvirt's masterKey0, never on the command line"},
    {"disk/encryption@format", "*", R, 0, "only <encryption format='luks'> is supported"},
    {"disk/encryption/secret@type", "passphrase", H, 0,
     "the secret driver's secret, by uuid or by volume usage"},
    {"disk/encryption/secret@type", "*", R, 0, "only a passphrase secret is supported"},
    {"disk/encryption", "secret", H, 0, "the passphrase"},
    {"disk/encryption", "*", R, 0, "only <secret> is supported in a disk's <encryption>"},
    {"disk/driver@type+encryption", "missing", R, 0,
     "a luks disk needs <encryption format='luks'>"},
    {"disk/driver@type+encryption", "*", R, 0,
     "<encryption> is supported on type 'raw', 'luks' and 'qcow2' disks"},
    {"disk", "*", R, 0, "not supported by vireo-vmm"},
    {"interface@type", "user", H, 0, "-netdev user"},
    {"interface@type", "network", H, 0, "a tap made by vireod on the network's bridge (fd=)"},
    {"interface@type", "bridge", H, 0, "a tap made by vireod on the bridge (-netdev tap,fd=)"},
    {"interface@type", "ethernet", H, 0,
     "a tap made by vireod, or the managed='no' one named by <target dev>"},
    {"interface@type", "direct", P, 14, "macvtap interfaces are not supported yet"},
    {"interface@type", "*", R, 0, "only types user, network, bridge and ethernet are supported"},
    {"interface/source@portgroup", NULL, H, 0,
     "the network's portgroup: its vlan, virtualport parameters and bandwidth"},
    {"interface/model@type", "virtio", H, 0, "virtio-net-pci"},
    {"interface/model@type", "e1000", H, 0,
     "-device e1000 (Intel 82540EM). Conventional PCI: on q35 libvirt's placement puts it "
     "behind a pcie-to-pci-bridge (on a pcie-root-port), as vireod does"},
    {"interface/model@type", "*", R, 0, "only models 'virtio' and 'e1000' are supported"},
    {"interface/boot@order", NULL, H, 0,
     "bootindex=N on the NIC (pc/q35; SeaBIOS boots it with an option ROM only); direct kernel "
     "boot starts the kernel whatever the order (as QEMU with -kernel)"},
    {"interface/driver@queues", "tap", H, 0,
     "a multiqueue tap: vireod opens it N times (IFF_MULTI_QUEUE) and passes -netdev tap,fds= "
     "and virtio-net-pci,mq=on,vectors=2N+2, as libvirt; on hot-plug one getfd per queue and "
     "netdev_add fds="},
    {"interface/driver@queues", "user", R, 0, "multiqueue network is not supported for: user"},
    {"interface/driver@queues", "e1000", R, 0,
     "multiqueue network is only supported with model 'virtio'"},
    {"interface/driver@queues", "*", R, 0, "at most 16 queues are supported"},
    {"interface/driver", NULL, R, 0, "driver options other than queues are not supported"},
    {"interface/target@dev", "tap", H, 0, "the tap device's name"},
    {"interface/target@dev", "*", R, 0, "a user-mode NIC has no host device"},
    {"interface", "mtu (tap)", H, 0, "the tap's MTU, and host_mtu= for the guest"},
    {"interface", "mtu (e1000)", R, 0,
     "model 'e1000' cannot tell the guest an MTU (model 'virtio' can)"},
    {"interface", "link", H, 0, "QMP set_link before the guest runs; domif-setlink"},
    {"interface", "bandwidth (tap)", H, 0,
     "tc on the tap: htb for inbound, a policer for outbound (an Open vSwitch port: a linux-htb "
     "QoS and ingress policing); domiftune live and config"},
    {"interface", "bandwidth (user)", R, 0, "a user-mode NIC has no host device to shape"},
    {"interface", "mtu (user)", R, 0, "a user-mode NIC has no host MTU to set"},
    {"interface", "virtualport (openvswitch)", H, 0,
     "ovs-vsctl add-port with libvirt's external-ids (interfaceid generated when absent); "
     "del-port when the VM stops"},
    {"interface", "virtualport", R, 0,
     "only type 'openvswitch' on a bridge or network interface is supported"},
    {"interface", "vlan (openvswitch)", H, 0, "the Open vSwitch port's tag=, trunks=, vlan_mode="},
    {"interface", "vlan", R, 0, "VLAN tags need an Open vSwitch port"},
    {"interface", "*", P, 14, "not supported by vireo-vmm yet"},
    {"controller", "pci/pcie-root", H, 0, "pcie.0, vireo-vmm's PCIe root bus"},
    {"controller", "pci/pci-root", H, 0, "pci.0, the pc machine's PCI root bus"},
    /* libvirt lists PIIX3's IDE function only when a disk is on bus 'ide'. */
    {"controller", "ide/", H, 0,
     "PIIX3's IDE function at 00:01.1, pc's own (piix3-ide: buses ide.0 and ide.1)"},
    {"controller", "ide/ other index", R, 0, "Only 1 IDE controller is supported"},
    {"controller", "pci/pcie-root-port", H, 0,
     "pcie-root-port,port=,chassis=,id=pci.N (PCIe native hot-plug: attach-device)"},
    {"controller", "pci/pcie-to-pci-bridge", H, 0,
     "pcie-pci-bridge,id=pci.N: a conventional PCI bus (slots 1-31) on q35, where libvirt puts "
     "conventional devices (e1000); no hot-plug behind it"},
    {"controller", "pci/pci-bridge", H, 0,
     "pci-bridge,chassis_nr=N,id=pci.N: a second PCI bus (slots 1-31) on pc; no hot-plug "
     "behind it"},
    {"controller", "usb/none", H, 0, "no USB"},
    {"controller", "usb/qemu-xhci", H, 0, "-device qemu-xhci,id=usb (ports: p2= and p3=)"},
    {"controller", "usb/nec-xhci", H, 0, "-device nec-usb-xhci,id=usb (ports: p2= and p3=)"},
    /* libvirt's EHCI and UHCI models: vireo-vmm has only an xHCI. Mapping keeps libvirt's
     * defaults for pc (piix3-uhci) and the ich9 sets starting; an xHCI serves the same USB
     * devices to every guest with an xHCI driver (Linux since 2.6.31, Windows since 8). */
    {"controller", "usb/ehci", H, 0,
     "mapped to a qemu-xhci (vireo-vmm has no EHCI; the guest finds an xHCI)"},
    {"controller", "usb/ich9-ehci1", H, 0,
     "mapped to a qemu-xhci (vireo-vmm has no EHCI; the guest finds an xHCI)"},
    {"controller", "usb/ich9-uhci1", H, 0,
     "a companion of ich9-ehci1: the one qemu-xhci serves its index"},
    {"controller", "usb/ich9-uhci2", H, 0,
     "a companion of ich9-ehci1: the one qemu-xhci serves its index"},
    {"controller", "usb/ich9-uhci3", H, 0,
     "a companion of ich9-ehci1: the one qemu-xhci serves its index"},
    {"controller", "usb/piix3-uhci", H, 0,
     "mapped to a qemu-xhci (vireo-vmm has no UHCI; the guest finds an xHCI)"},
    {"controller", "usb/piix4-uhci", H, 0,
     "mapped to a qemu-xhci (vireo-vmm has no UHCI; the guest finds an xHCI)"},
    {"controller", "usb/other", R, 0,
     "vireo-vmm's USB controller is an xHCI (qemu-xhci, nec-xhci; EHCI and UHCI map to it)"},
    {"controller", "virtio-serial", H, 0, "virtio-serial-pci,id=virtio-serialN"},
    {"controller", "scsi/virtio-scsi", H, 0, "virtio-scsi-pci,id=scsiN (its bus scsiN.0)"},
    {"controller", "sata/", H, 0,
     "ich9-ahci,id=sataN (its ports sataN.0 to sataN.5); q35's index 0 is its own AHCI at "
     "00:1f.2 (ports ide.0 to ide.5)"},
    {"controller", "scsi/lsilogic", R, 0, "only model 'virtio-scsi' is supported"},
    {"controller", "scsi/lsisas1068", R, 0, "only model 'virtio-scsi' is supported"},
    {"controller", "scsi/lsisas1078", R, 0, "only model 'virtio-scsi' is supported"},
    {"controller", "scsi/buslogic", R, 0, "only model 'virtio-scsi' is supported"},
    {"controller", "scsi/vmpvscsi", R, 0, "only model 'virtio-scsi' is supported"},
    {"controller", "scsi/ibmvscsi", R, 0, "only model 'virtio-scsi' is supported"},
    {"controller", "scsi/auto", R, 0, "only model 'virtio-scsi' is supported"},
    {"controller", "*", R, 0, "vireo-vmm has only the pcie-root bus"},
    {"address", "pci bus 0", H, 0, "bus=pcie.0 (pci.0 on pc),addr=0xSS[.F][,multifunction=on]"},
    {"address", "pci root port", H, 0, "bus=pci.N,addr=0x0 (behind pcie-root-port index N)"},
    {"address", "pci bridge", H, 0,
     "bus=pci.N,addr=0xSS (slots 1-31 behind pci-bridge or pcie-to-pci-bridge index N; no "
     "hot-plug there)"},
    {"address", "*", R, 0,
     "vireo-vmm has PCI bus 0, the buses of pcie-root-ports (slot 0 function 0) and of PCI "
     "bridges (slots 1-31)"},
    {"serial@type", "pty", H, 0,
     "COM1, relayed by the daemon to a real pty (virsh ttyconsole, the live XML's tty=)"},
    {"serial@type", "*", R, 0, "only type 'pty' is supported (the daemon owns COM1)"},
    {"serial/target@type", "isa-serial", H, 0, "COM1"},
    {"serial/target@type", "*", R, 0, "only 'isa-serial' is supported"},
    {"serial", "second port", R, 0, "vireo-vmm has one serial port"},
    {"channel@type", "unix", H, 0,
     "-chardev socket,path=…,server=on,wait=off (no path: RUN/channel/target/domain-ID-NAME/NAME)"},
    {"channel@type", "*", R, 0, "only type 'unix' is supported for a channel"},
    {"channel/target@type", "virtio", H, 0,
     "-device virtserialport,bus=virtio-serialC.0,nr=PORT,chardev=charchannelN,id=channelN,name="},
    {"channel/target@type", "*", R, 0, "only virtio channels are supported (no guestfwd, no xen)"},
    {"channel/source@mode", "bind", H, 0,
     "vireo-vmm listens on the path; org.qemu.guest_agent.0 "
     "is vireod's guest agent"},
    {"channel/source@mode", "*", R, 0, "only mode 'bind' is supported (vireo-vmm listens)"},
    {"channel/address@bus", "0", H, 0, "the controller's only bus (virtio-serialC.0)"},
    {"channel/address@bus", "*", R, 0, "a virtio-serial controller has bus 0 only"},
    {"console@type", "pty", H, 0, "the serial console, on that pty"},
    {"console@type", "*", R, 0, "only type 'pty' is supported (the daemon owns COM1)"},
    {"console/target@type", "serial", H, 0, "COM1"},
    {"console/target@type", "virtio", H, 0,
     "-device virtconsole,bus=virtio-serialC.0,nr=0,chardev=charconsole0,id=console0 on the "
     "daemon's console socket (its pty, log and virsh console); the guest has no COM1, as under "
     "libvirt"},
    {"console/target@type", "*", R, 0, "only serial and virtio consoles are supported"},
    {"console", "virtio beside a serial port", P, 16,
     "a virtio console beside a serial port (console1) is not supported yet: the daemon "
     "relays one console"},
    {"console", "second virtio console", P, 16,
     "a second virtio console is not supported yet: the daemon relays one console"},
    {"input@bus", "ps2", H, 0, "vireo-vmm's i8042"},
    {"input@bus", "usb", H, 0, "on the domain's USB controller (see input/usb@type)"},
    {"input@bus", "usb without a controller", R, 0,
     "USB is disabled for this domain, but USB devices are present in the domain XML"},
    {"input@bus", "*", R, 0, "only PS/2 and USB input are supported"},
    {"input/usb@type", "tablet", H, 0,
     "-device usb-tablet,bus=usb.0,port=N (takes the VNC pointer from the PS/2 mouse)"},
    {"input/usb@type", "keyboard", H, 0,
     "-device usb-kbd,bus=usb.0,port=N (takes the VNC keys from the PS/2 keyboard)"},
    {"input/usb@type", "*", R, 0, "vireo-vmm's USB input devices are the tablet and the keyboard"},
    {"graphics@type", "vnc", H, 0, "-vnc (vireo-vmm's VNC server)"},
    {"graphics@type", "*", R, 0, "only VNC graphics are supported"},
    {"graphics/listen@type", "address", H, 0, "-vnc ADDRESS:N (127.0.0.1 when not given)"},
    {"graphics/listen@type", "socket", H, 0, "-vnc unix:PATH"},
    {"graphics/listen@type", "none", H, 0, "-vnc none"},
    {"graphics/listen@type", "network", H, 0,
     "-vnc ADDRESS:N, the running network's first address (vireod fills it in)"},
    {"graphics/listen@type", "*", R, 0, "only address, socket and none listens are supported"},
    {"graphics@port", NULL, H, 0, "port 5900+N, or the first free one from 5900 with autoport"},
    {"graphics@passwd", NULL, H, 0, "-vnc ...,password=on and QMP set_password at start"},
    {"graphics@keymap", "en-us", H, 0, "-k en-us"},
    {"graphics@keymap", "*", R, 0,
     "vireo-vmm has only the en-us keymap (clients sending scan codes work with any layout)"},
    {"graphics@sharePolicy", "allow-exclusive", H, 0, "share=allow-exclusive"},
    {"graphics@sharePolicy", "force-shared", H, 0, "share=force-shared"},
    {"graphics@sharePolicy", "ignore", H, 0, "share=ignore"},
    {"graphics@sharePolicy", "*", R, 0, "unknown share policy"},
    {"graphics@websocket", NULL, R, 0, "VNC over websockets is not supported"},
    {"graphics@passwdValidTo", "UTC time", H, 0, "QMP expire_password at start"},
    {"graphics@passwdValidTo", "*", R, 0, "passwdValidTo must be YYYY-MM-DDTHH:MM:SS (UTC)"},
    {"graphics@connected", NULL, R, 0, "VNC keeps its clients on a password change"},
    {"graphics/*", "*", R, 0, "this VNC setting is not supported by vireo-vmm"},
    {"video/model@type", "vga", H, 0, "-device VGA,vgamem_mb= (the standard VGA)"},
    {"video/model@type", "none", H, 0, "no video device"},
    {"video/model@type", "*", R, 0, "only models 'vga' and 'none' are supported"},
    {"video/model@vram", "power of two", H, 0, "vgamem_mb=vram/1024"},
    {"video/model@vram", "*", R, 0, "vram must be a power of two from 1024 to 262144 KiB"},
    {"video/model@heads", "1", H, 0, "one head"},
    {"video/model@heads", "*", R, 0, "the VGA has one head"},
    {"video/model/acceleration", NULL, R, 0, "the VGA has no acceleration"},
    {"memballoon@model", "virtio", H, 0, "virtio-balloon-pci"},
    {"memballoon@model", "none", H, 0, "no balloon"},
    {"memballoon@model", "*", R, 0, "only models 'virtio' and 'none' are supported"},
    {"memballoon@autodeflate", "off", H, 0, "the default"},
    {"memballoon@autodeflate", "*", R, 0, "vireo-vmm's balloon cannot deflate on OOM"},
    {"memballoon@freePageReporting", "off", H, 0, "the default"},
    {"memballoon@freePageReporting", "*", R, 0, "vireo-vmm's balloon has no free page reporting"},
    {"memballoon/stats@period", NULL, H, 0,
     "qom-set guest-stats-polling-interval before the guest runs"},
    {"rng@model", "virtio", H, 0, "virtio-rng-pci"},
    {"rng@model", "*", R, 0, "only model 'virtio' is supported"},
    {"rng/backend@model", "random", H, 0, "the host's getrandom()"},
    {"rng/backend@model", "builtin", H, 0, "the host's getrandom()"},
    {"rng/backend@model", "*", R, 0, "only models 'random' and 'builtin' are supported"},
    {"rng/backend", "/dev/urandom", H, 0, "the host's getrandom() (the same pool)"},
    {"rng/backend", "/dev/random", H, 0, "the host's getrandom() (the same pool)"},
    {"rng/backend", "*", R, 0, "only /dev/urandom or /dev/random is supported"},
    {"rng/rate", NULL, R, 0, "vireo-vmm cannot limit the rate"},
};

#undef H
#undef R
#undef P

const struct vmm_support_rule *vmm_support_rules(size_t *n)
{
    *n = sizeof(rules) / sizeof(rules[0]);
    return rules;
}

const struct vmm_support_rule *vmm_support_lookup(const char *what, const char *value)
{
    const struct vmm_support_rule *any = NULL;
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        const struct vmm_support_rule *r = &rules[i];
        if (strcmp(r->what, what) != 0)
            continue;
        if (!r->value) {
            if (!value)
                return r;
        } else if (strcmp(r->value, "*") == 0) {
            any = any ? any : r;
        } else if (value && strcmp(r->value, value) == 0) {
            return r;
        }
    }
    return any;
}

/*
 * Asks the table about what=value; `shown` is the element as the message
 * names it ("<disk device='cdrom'> 'hdc'"). Returns 0 when honoured.
 */
static int probe(const char *what, const char *value, const char *shown, struct verr *err)
{
    const struct vmm_support_rule *r = vmm_support_lookup(what, value);
    if (r && r->status == VMM_SUPPORT_HONOURED)
        return 0;
    return verr_set(err, ENOTSUP, "unsupported configuration: %s: %s", shown,
                    r ? r->note : "not supported by vireo-vmm");
}

/* probe() with the element shown as <elem attr='value'>. */
static int probe_attr(const char *what, const char *elem, const char *attr, const char *value,
                      const char *subject, struct verr *err)
{
    char *shown = xasprintf("<%s %s='%s'>%s%s", elem, attr, value ? value : "", subject ? " " : "",
                            subject ? subject : "");
    int r = probe(what, value, shown, err);
    free(shown);
    return r;
}

static int probe_present(const char *what, const char *shown, struct verr *err)
{
    return probe(what, NULL, shown, err);
}

/* ---- the parts of a definition ---- */

static int check_lifecycle(const struct domain_def *def, struct verr *err)
{
    const struct {
        const char *elem;
        enum domain_lifecycle_action a;
    } acts[] = {{"on_poweroff", def->on_poweroff},
                {"on_reboot", def->on_reboot},
                {"on_crash", def->on_crash}};
    for (size_t i = 0; i < 3; i++) {
        const char *v = domain_lifecycle_action_to_string(acts[i].a);
        char *shown = xasprintf("<%s>%s</%s>", acts[i].elem, v, acts[i].elem);
        const struct vmm_support_rule *r = vmm_support_lookup(acts[i].elem, v);
        int rc = 0;
        if (!r || r->status != VMM_SUPPORT_HONOURED)
            rc = probe("on_*", v, shown, err);
        free(shown);
        if (rc)
            return rc;
    }
    return 0;
}

int vmm_support_check_lifecycle(const struct domain_def *def, struct verr *err)
{
    return check_lifecycle(def, err);
}

const char *vmm_support_machine_family(const char *m)
{
    if (!m)
        return "";
    if (strcmp(m, "q35") == 0 || strncmp(m, "pc-q35", 6) == 0)
        return "q35";
    if (strcmp(m, "pc") == 0 || strncmp(m, "pc-", 3) == 0)
        return "pc";
    return m;
}

static int check_os(const struct domain_def *def, struct verr *err)
{
    int r;
    if ((r = probe_attr("domain@type", "domain", "type", domain_type_to_string(def->type), NULL,
                        err)))
        return r;
    char *shown = xasprintf("<type machine='%s'>", def->os_machine ? def->os_machine : "");
    r = probe("os/type@machine", vmm_support_machine_family(def->os_machine), shown, err);
    free(shown);
    if (r)
        return r;
    bool firmware = strcmp(vmm_support_machine_family(def->os_machine), "microvm") != 0;
    const char *kernel = def->os_kernel ? (firmware ? "given (pc/q35)" : "given (microvm)")
                                        : (firmware ? "missing (pc/q35)" : "missing (microvm)");
    if ((r = probe("os/kernel", kernel, def->os_kernel ? "<os><kernel>" : "<os> without <kernel>",
                   err)))
        return r;
    for (size_t i = 0; i < def->nboot_devs; i++) {
        const char *dev = domain_boot_dev_to_string(def->boot_devs[i]);
        if ((r = probe_attr("os/boot@dev", "boot", "dev", firmware ? dev : "kernel", NULL, err)))
            return r;
    }
    if (def->os_firmware) {
        /* efi is filled in at start (firmware-select.c): what is left is its choice */
        const char *key = !firmware                                             ? "microvm"
                          : !strcmp(def->os_firmware, "efi") && !def->os_loader ? "unresolved"
                                                                                : def->os_firmware;
        char *fw_shown = xasprintf("<os firmware='%s'>", def->os_firmware);
        r = probe("os@firmware", key, fw_shown, err);
        free(fw_shown);
        if (r)
            return r;
    }
    if (def->os_loader &&
        (r = probe("os/loader", firmware ? "pc/q35" : "microvm", "<os><loader>", err)))
        return r;
    if (def->os_nvram && (r = probe_present("os/nvram", "<os><nvram>", err)))
        return r;
    if (def->os_dtb && (r = probe_present("os/dtb", "<os><dtb>", err)))
        return r;
    if (def->bootmenu >= 0 && (r = probe_attr("os/bootmenu@enable", "bootmenu", "enable",
                                              def->bootmenu && !firmware ? "yes (microvm)"
                                              : def->bootmenu            ? "yes"
                                                                         : "no",
                                              NULL, err)))
        return r;
    if (def->smbios_mode && (r = probe_present("os/smbios", "<os><smbios>", err)))
        return r;
    if ((def->bios_useserial || def->bios_reboot_timeout != -2) && !firmware &&
        (r = probe("os/bios", "microvm", "<os><bios>", err)))
        return r;
    if (def->bios_useserial &&
        (r = probe_attr("os/bios@useserial", "bios", "useserial", def->bios_useserial, NULL, err)))
        return r;
    for (size_t i = 0; i < def->nos_extra; i++) {
        char *kid = xasprintf("<os><%s>", def->os_extra[i]->name);
        r = probe("os", def->os_extra[i]->name, kid, err);
        free(kid);
        if (r)
            return r;
    }
    if (def->genid && (r = probe_present("genid", "<genid>", err)))
        return r;
    return 0;
}

static const struct xnode *numa_of(const struct domain_def *def)
{
    return def->cpu ? xnode_child(def->cpu, "numa") : NULL;
}

static bool cell_exists(const struct domain_def *def, const char *id)
{
    const struct xnode *numa = numa_of(def);
    for (size_t i = 0; id && numa && i < numa->nkids; i++) {
        const struct xnode *c = numa->kids[i];
        if (c->name && !strcmp(c->name, "cell") && xnode_attr(c, "id") &&
            !strcmp(xnode_attr(c, "id"), id))
            return true;
    }
    return false;
}

/* <cpu><numa>: cells only, each with what vireo-vmm applies. */
static int check_numa(const struct domain_def *def, struct verr *err)
{
    const struct xnode *numa = numa_of(def);
    int r = 0;
    for (size_t i = 0; r == 0 && numa && i < numa->nkids; i++) {
        const struct xnode *c = numa->kids[i];
        if (!c->name)
            continue;
        char *shown = xasprintf("<numa><%s>", c->name);
        r = probe("cpu/numa", c->name, shown, err);
        free(shown);
        if (r || strcmp(c->name, "cell"))
            continue;
        const char *access = xnode_attr(c, "memAccess"), *discard = xnode_attr(c, "discard");
        if (access)
            r = probe_attr("cpu/numa/cell@memAccess", "cell", "memAccess", access, NULL, err);
        if (r == 0 && discard)
            r = probe_attr("cpu/numa/cell@discard", "cell", "discard", discard, NULL, err);
        for (size_t j = 0; r == 0 && j < c->nkids; j++) {
            if (!c->kids[j]->name)
                continue;
            shown = xasprintf("<cell><%s>", c->kids[j]->name);
            r = probe("cpu/numa/cell", c->kids[j]->name, shown, err);
            free(shown);
        }
    }
    return r;
}

static int check_cpus(const struct domain_def *def, struct verr *err)
{
    int r;
    if (def->max_memory_kib) {
        /* libvirt (x86) asks for a NUMA cell with memory hot-plug; vireo-vmm's DIMMs are pc's
         * and q35's. */
        const char *cond = "pc/q35 with a NUMA cell";
        const struct xnode *numa = numa_of(def);
        bool cell = false;
        for (size_t i = 0; numa && i < numa->nkids; i++)
            cell |= numa->kids[i]->name && !strcmp(numa->kids[i]->name, "cell");
        if (!strcmp(vmm_support_machine_family(def->os_machine), "microvm"))
            cond = "microvm";
        else if (!cell)
            cond = "without a NUMA cell";
        if ((r = probe("maxMemory", cond, "<maxMemory>", err)))
            return r;
    }
    if (def->vcpus_current && def->vcpus_current != def->vcpus) {
        char *shown = xasprintf("<vcpu current='%u'>%u</vcpu>", def->vcpus_current, def->vcpus);
        r = probe("vcpu@current", "fewer", shown, err); /* vCPU hot-plug: every machine */
        free(shown);
        if (r)
            return r;
    }
    if (def->vcpu_placement &&
        (r = probe_attr("vcpu@placement", "vcpu", "placement", def->vcpu_placement, NULL, err)))
        return r;
    if (def->cpuset) { /* the row is about its presence: any cpulist (domain-tune checks it) */
        char *shown = xasprintf("<vcpu cpuset='%s'>", def->cpuset);
        r = probe("vcpu@cpuset", NULL, shown, err);
        free(shown);
        if (r)
            return r;
    }
    if (def->iothreads && (r = probe_present("iothreads", "<iothreads>", err)))
        return r;
    if ((def->cpu_shares && (r = probe("cputune", "shares", "<cputune><shares>", err))) ||
        (def->period && (r = probe("cputune", "period", "<cputune><period>", err))) ||
        (def->quota && (r = probe("cputune", "quota", "<cputune><quota>", err))) ||
        (def->nvcpupins && (r = probe("cputune", "vcpupin", "<cputune><vcpupin>", err))) ||
        (def->emulatorpin &&
         (r = probe("cputune", "emulatorpin", "<cputune><emulatorpin>", err))) ||
        (def->niothreadpins &&
         (r = probe("cputune", "iothreadpin", "<cputune><iothreadpin>", err))))
        return r;
    for (size_t i = 0; i < def->ncputune_extra; i++) {
        char *shown = xasprintf("<cputune><%s>", def->cputune_extra[i]->name);
        r = probe("cputune", def->cputune_extra[i]->name, shown, err);
        free(shown);
        if (r)
            return r;
    }
    if (!def->cpu)
        return 0;
    const char *mode = xnode_attr(def->cpu, "mode");
    struct xnode *model = xnode_child(def->cpu, "model");
    if (!mode)
        mode = "custom";
    if ((r = probe_attr("cpu@mode", "cpu", "mode", mode, NULL, err)))
        return r;
    const char *check = xnode_attr(def->cpu, "check");
    if (check && (r = probe_attr("cpu@check", "cpu", "check", check, NULL, err)))
        return r;
    const char *migratable = xnode_attr(def->cpu, "migratable");
    if (migratable && strcmp(mode, "host-passthrough") != 0 && strcmp(mode, "maximum") != 0)
        return verr_set(err, EINVAL, /* libvirt's words: it has nothing to apply it to */
                        "unsupported configuration: Attribute migratable is only allowed for "
                        "'host-passthrough' "
                        "/ 'maximum' CPU mode");
    if (migratable &&
        (r = probe_attr("cpu@migratable", "cpu", "migratable", migratable, NULL, err)))
        return r;
    if (model && strcmp(mode, "custom") == 0) {
        char *shown = xasprintf("<cpu><model>%s</model>", xnode_text(model));
        r = probe("cpu/model", xnode_text(model), shown, err);
        free(shown);
        if (r)
            return r;
        const char *fallback = xnode_attr(model, "fallback");
        if (fallback &&
            (r = probe_attr("cpu/model@fallback", "model", "fallback", fallback, NULL, err)))
            return r;
    }
    for (size_t i = 0; i < def->cpu->nkids; i++) {
        const struct xnode *k = def->cpu->kids[i];
        if (!k->name || strcmp(k->name, "feature") != 0)
            continue;
        const char *name = xnode_attr(k, "name"), *policy = xnode_attr(k, "policy");
        if (!name || !*name)
            return verr_set(err, EINVAL, "XML error: missing CPU feature name");
        if ((r = probe_attr("cpu/feature@policy", "feature", "policy", policy ? policy : "", name,
                            err)))
            return r;
    }
    for (size_t i = 0; i < def->cpu->nkids; i++) {
        const struct xnode *k = def->cpu->kids[i];
        if (!k->name || strcmp(k->name, "topology") == 0 || strcmp(k->name, "model") == 0)
            continue;
        char *shown = xasprintf("<cpu><%s>", k->name);
        r = probe("cpu", k->name, shown, err);
        free(shown);
        if (r)
            return r;
    }
    return check_numa(def, err);
}

/* <iothreadids> names the same threads as <iothreads> alone when every id is within the
 * count (libvirt fills the missing ones below it): ids beyond, and per-thread settings, are
 * what is not applied. */
static int check_iothreadids(const struct domain_def *def, const struct xnode *n, struct verr *err)
{
    for (size_t j = 0; j < n->nkids; j++) {
        const struct xnode *t = n->kids[j];
        if (!t->name)
            continue;
        const char *id = xnode_attr(t, "id");
        unsigned v = 0;
        if (strcmp(t->name, "iothread") != 0 || t->nkids || t->nattrs != 1)
            return probe("iothreadids", "settings", "<iothreadids><iothread>", err);
        if (!id || str_to_uint(id, 10, &v) < 0 || v > def->iothreads)
            return probe("iothreadids", "beyond", "<iothreadids><iothread id>", err);
    }
    return 0;
}

/* <vcpus>: the enabled vCPUs contiguous from 0 (the daemon's vCPU threads, vcpuinfo and
 * unplug follow the vCPU index); orders unique and within the count (libvirt's
 * qemuProcessValidateHotpluggableVcpus, at start). */
static int check_vcpus(const struct domain_def *def, struct verr *err)
{
    int r = probe("element", "vcpus", "<vcpus>", err);
    if (r)
        return r;
    const struct domain_vcpu *v = def->vcpu_states;
    for (unsigned i = 1; i < def->vcpus; i++)
        if (v[i].enabled && !v[i - 1].enabled) {
            char *shown = xasprintf("<vcpus><vcpu id='%u' enabled='yes'> after a disabled vCPU", i);
            r = probe("vcpus", "gap", shown, err);
            free(shown);
            return r;
        }
    for (unsigned i = 0; i < def->vcpus; i++) {
        if (!v[i].order)
            continue;
        if (v[i].order > def->vcpus)
            return verr_set(err, EINVAL,
                            "unsupported configuration: vcpu order '%u' exceeds vcpu count",
                            v[i].order);
        for (unsigned j = 0; j < i; j++)
            if (v[j].order == v[i].order)
                return verr_set(err, EINVAL, "unsupported configuration: duplicate vcpu order '%u'",
                                v[i].order);
    }
    return 0;
}

static int check_kept(const char *name, const struct xnode *n, struct verr *err)
{
    if (!n)
        return 0;
    char *shown = xasprintf("<%s>", name);
    int r = probe("element", name, shown, err);
    free(shown);
    return r;
}

static int check_platform(const struct domain_def *def, struct verr *err)
{
    int r;
    const struct {
        const char *name;
        const struct xnode *n;
    } kept[] = {
        {"memoryBacking", def->memory_backing},
        {"numatune", def->numatune},
        {"memtune", def->memtune},
        {"blkiotune", def->blkiotune},
        {"resource", def->resource},
        {"sysinfo", def->sysinfo},
        {"bootloader", def->bootloader},
        {"bootloader_args", def->bootloader_args},
        {"idmap", def->idmap},
        {"keywrap", def->keywrap},
        {"launchSecurity", def->launch_security},
    };
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
        if ((r = check_kept(kept[i].name, kept[i].n, err)))
            return r;
    for (size_t i = 0; def->numatune && i < def->numatune->nkids; i++) {
        const struct xnode *k = def->numatune->kids[i];
        if (!k->name)
            continue;
        char *shown = xasprintf("<numatune><%s>", k->name);
        r = probe("numatune", k->name, shown, err);
        free(shown);
        if (r == 0 && strcmp(k->name, "memnode") == 0) {
            const char *mode = xnode_attr(k, "mode"), *cellid = xnode_attr(k, "cellid");
            r = probe_attr("numatune/memnode@mode", "numatune><memnode", "mode",
                           mode ? mode : "strict", NULL, err);
            if (r == 0 && !cell_exists(def, cellid)) {
                char *what = xasprintf("<numatune><memnode cellid='%s'>", cellid ? cellid : "");
                r = probe("numatune/memnode@cellid", "missing", what, err);
                free(what);
            }
        }
        if (r == 0 && strcmp(k->name, "memory") == 0) {
            const char *mode = xnode_attr(k, "mode"), *placement = xnode_attr(k, "placement");
            r = probe_attr("numatune/memory@mode", "numatune><memory", "mode",
                           mode ? mode : "strict", NULL, err);
            if (r == 0 && placement)
                r = probe_attr("numatune/memory@placement", "numatune><memory", "placement",
                               placement, NULL, err);
        }
        if (r)
            return r;
    }
    for (size_t i = 0; def->memory_backing && i < def->memory_backing->nkids; i++) {
        const struct xnode *k = def->memory_backing->kids[i];
        if (!k->name)
            continue;
        char *shown = xasprintf("<memoryBacking><%s>", k->name);
        r = probe("memoryBacking", k->name, shown, err);
        free(shown);
        /* the attribute of each part that says what it does: type or mode */
        const char *attr = !strcmp(k->name, "source")                                     ? "type"
                           : !strcmp(k->name, "access") || !strcmp(k->name, "allocation") ? "mode"
                                                                                          : NULL;
        const char *value = attr ? xnode_attr(k, attr) : NULL;
        if (r == 0 && value) {
            char *rule = xasprintf("memoryBacking/%s@%s", k->name, attr);
            char *elem = xasprintf("memoryBacking><%s", k->name);
            r = probe_attr(rule, elem, attr, value, NULL, err);
            free(rule);
            free(elem);
        }
        const char *threads = !strcmp(k->name, "allocation") ? xnode_attr(k, "threads") : NULL;
        unsigned n;
        if (r == 0 && threads && (str_to_uint(threads, 10, &n) < 0 || n == 0 || n > 256))
            r = verr_set(
                err, EINVAL,
                "unsupported configuration: <memoryBacking><allocation threads='%s'>: threads "
                "must be 1 to 256",
                threads);
        if (r)
            return r;
    }
    if (def->vcpu_states && (r = check_vcpus(def, err)))
        return r;
    for (size_t i = 0; i < def->nkept; i++)
        if ((r = check_kept(def->kept[i]->name, def->kept[i], err)) ||
            (strcmp(def->kept[i]->name, "iothreadids") == 0 &&
             (r = check_iothreadids(def, def->kept[i], err))))
            return r;
    for (size_t i = 0; def->features && i < def->features->nkids; i++) {
        const struct xnode *k = def->features->kids[i];
        if (!k->name)
            continue;
        const char *state = xnode_attr(k, "state");
        char *value = state ? xasprintf("%s state='%s'", k->name, state) : xstrdup(k->name);
        char *shown = xasprintf("<features><%s%s%s%s>", k->name, state ? " state='" : "",
                                state ? state : "", state ? "'" : "");
        r = probe("features", value, shown, err);
        free(shown);
        free(value);
        if (r)
            return r;
    }
    if ((!def->features || !xnode_child(def->features, "acpi")) &&
        (r = probe("features", "(no acpi)", "<features> without <acpi>", err)))
        return r;
    if (def->clock) {
        const char *off = xnode_attr(def->clock, "offset");
        if ((r = probe_attr("clock@offset", "clock", "offset", off ? off : "utc", NULL, err)))
            return r;
        for (size_t i = 0; i < def->clock->nkids; i++) {
            const struct xnode *t = def->clock->kids[i];
            if (!t->name || strcmp(t->name, "timer") != 0)
                continue;
            const char *name = xnode_attr(t, "name");
            const char *present = xnode_attr(t, "present");
            const char *policy = xnode_attr(t, "tickpolicy");
            bool hpet = name && strcmp(name, "hpet") == 0, rtc = name && strcmp(name, "rtc") == 0;
            char *pv = xasprintf("%s%s", present ? present : "yes",
                                 hpet  ? " (hpet)"
                                 : rtc ? " (rtc)"
                                       : "");
            char *tv = xasprintf("%s %s", name ? name : "", policy ? policy : "");
            char *ts = xasprintf("<timer name='%s' tickpolicy='%s'>", name ? name : "",
                                 policy ? policy : "");
            r = probe_attr("clock/timer@name", "timer", "name", name, NULL, err);
            if (!r && (present || hpet)) {
                char *shown =
                    xasprintf("<timer name='%s' present='%s'>", name, present ? present : "yes");
                r = probe("clock/timer@present", pv, shown, err);
                free(shown);
            }
            if (!r && policy)
                r = probe("clock/timer@tickpolicy", tv, ts, err);
            free(pv);
            free(tv);
            free(ts);
            if (r || (xnode_attr(t, "track") &&
                      (r = probe_present("clock/timer@track", "<timer track>", err))))
                return r;
        }
    }
    for (size_t i = 0; def->pm && i < def->pm->nkids; i++) {
        const struct xnode *k = def->pm->kids[i];
        if (k->name && (r = probe_attr("pm/*@enabled", k->name, "enabled", xnode_attr(k, "enabled"),
                                       NULL, err)))
            return r;
    }
    for (size_t i = 0; def->perf && i < def->perf->nkids; i++) {
        const struct xnode *k = def->perf->kids[i];
        if (k->name && (r = probe_attr("perf/event@enabled", "event", "enabled",
                                       xnode_attr(k, "enabled"), xnode_attr(k, "name"), err)))
            return r;
    }
    for (size_t i = 0; i < def->nseclabels; i++) {
        const char *type = xnode_attr(def->seclabels[i], "type");
        const char *model = xnode_attr(def->seclabels[i], "model");
        if ((r = probe_attr("seclabel@type", "seclabel", "type", type ? type : "dynamic", NULL,
                            err)) ||
            (model && (r = probe_attr("seclabel@model", "seclabel", "model", model, NULL, err))))
            return r;
    }
    return 0;
}

/* The model of the PCI controller whose bus is number bus ("" when none). */
static const char *pci_bus_model(const struct domain_def *def, unsigned bus)
{
    for (size_t i = 0; i < def->ncontrollers; i++) {
        const struct domain_controller *c = &def->controllers[i];
        if (c->type == DOMAIN_CONTROLLER_PCI && c->index == bus && c->model)
            return c->model;
    }
    return "";
}

static int check_pci(const struct domain_def *def, const struct domain_address *a,
                     const char *shown, struct verr *err)
{
    /* A bus other than 0 is a pcie-root-port's, whose one downstream device is device 0, or
     * a pci-bridge's or pcie-to-pci-bridge's, whose slots are 1-31 (as libvirt). */
    bool pci = a->type == DOMAIN_ADDRESS_PCI && a->domain == 0;
    const char *model = pci && a->bus != 0 ? pci_bus_model(def, a->bus) : "";
    bool ok = pci && a->bus == 0;
    bool port = pci && a->bus != 0 && strcmp(model, "pcie-root-port") == 0 && a->slot == 0 &&
                a->function == 0;
    bool bridge = pci && a->bus != 0 &&
                  (strcmp(model, "pci-bridge") == 0 || strcmp(model, "pcie-to-pci-bridge") == 0) &&
                  a->slot != 0;
    char *s = a->type == DOMAIN_ADDRESS_PCI
                  ? xasprintf("%s <address type='pci' domain='0x%04x' bus='0x%02x' slot='0x%02x' "
                              "function='0x%x'>",
                              shown, a->domain, a->bus, a->slot, a->function)
                  : xasprintf("%s without a PCI address", shown);
    int r = probe("address",
                  ok       ? "pci bus 0"
                  : port   ? "pci root port"
                  : bridge ? "pci bridge"
                           : "other",
                  s, err);
    free(s);
    return r;
}

/* <encryption format='luks'><secret type='passphrase' uuid|usage/></encryption> on a raw, luks
 * or qcow2 disk; a luks disk without it. */
static int check_encryption(const struct domain_disk *d, const char *fmt, const char *t,
                            struct verr *err)
{
    const struct xnode *enc = vmm_argv_disk_encryption(d);
    bool keyed = strcmp(fmt, "raw") == 0 || strcmp(fmt, "luks") == 0 || strcmp(fmt, "qcow2") == 0;
    int r;
    if (!enc) {
        if (strcmp(fmt, "luks") != 0)
            return 0;
        char *shown = xasprintf("<driver type='luks'> %s", t);
        r = probe("disk/driver@type+encryption", "missing", shown, err);
        free(shown);
        return r;
    }
    if (!keyed) {
        char *shown = xasprintf("<driver type='%s'> %s", fmt, t);
        r = probe("disk/driver@type+encryption", fmt, shown, err);
        free(shown);
        if (r)
            return r;
    }
    if ((r = probe_attr("disk/encryption@format", "encryption", "format",
                        xnode_attr(enc, "format") ? xnode_attr(enc, "format") : "", t, err)))
        return r;
    const struct xnode *secret = NULL;
    for (size_t i = 0; i < enc->nkids; i++) {
        if (!enc->kids[i]->name)
            continue;
        char *shown = xasprintf("<encryption><%s> %s", enc->kids[i]->name, t);
        r = probe("disk/encryption", enc->kids[i]->name, shown, err);
        free(shown);
        if (r)
            return r;
        secret = enc->kids[i];
    }
    if (!secret)
        return verr_set(err, EINVAL, "XML error: missing <secret> in <encryption> of disk %s", t);
    const char *type = xnode_attr(secret, "type");
    if ((r = probe_attr("disk/encryption/secret@type", "secret", "type", type ? type : "", t, err)))
        return r;
    if (!xnode_attr(secret, "uuid") == !xnode_attr(secret, "usage"))
        return verr_set(err, EINVAL,
                        "XML error: the <secret> of disk %s needs exactly one of uuid and usage",
                        t);
    return 0;
}

static int check_disk(const struct domain_def *def, const struct domain_disk *d, struct verr *err)
{
    char *t = xasprintf("'%s'", d->target_dev ? d->target_dev : "?");
    const char *fmt = d->driver_type ? d->driver_type : "raw";
    bool cdrom = d->device == DOMAIN_DISK_DEVICE_CDROM;
    int r;
    if ((r = probe_attr("disk@device", "disk", "device", domain_disk_device_to_string(d->device), t,
                        err)) ||
        (r = probe_attr("disk@type", "disk", "type", domain_disk_source_to_string(d->source_type),
                        t, err)) ||
        (r = probe("disk/source@file",
                   d->source_path                          ? "given"
                   : d->device == DOMAIN_DISK_DEVICE_CDROM ? "missing (cdrom)"
                                                           : "missing",
                   "<disk><source>", err)) ||
        (r = probe_attr("disk/target@bus", "target", "bus",
                        cdrom && d->target_bus == DOMAIN_DISK_BUS_VIRTIO
                            ? "virtio (cdrom)"
                            : domain_disk_bus_to_string(d->target_bus),
                        t, err)) ||
        (d->driver_name &&
         (r = probe_attr("disk/driver@name", "driver", "name", d->driver_name, t, err))) ||
        (r = probe_attr("disk/driver@type", "driver", "type", fmt, t, err)) ||
        (d->driver_cache &&
         (r = probe_attr("disk/driver@cache", "driver", "cache", d->driver_cache, t, err))) ||
        (d->driver_io &&
         (r = probe_attr("disk/driver@io", "driver", "io", d->driver_io, t, err))) ||
        (d->driver_discard &&
         (r = probe_attr("disk/driver@discard", "driver", "discard", d->driver_discard, t, err))) ||
        (d->driver_detect_zeroes &&
         (r = probe_attr("disk/driver@detect_zeroes", "driver", "detect_zeroes",
                         d->driver_detect_zeroes, t, err))) ||
        (d->driver_iothread &&
         (r = probe("disk/driver@iothread",
                    d->target_bus == DOMAIN_DISK_BUS_VIRTIO ? "virtio" : "other",
                    "<driver iothread>", err))) ||
        (d->serial && (r = probe("disk/serial", strchr(d->serial, '=') ? "with '='" : "plain",
                                 "<disk><serial>", err))) ||
        (d->shareable && (r = probe_present("disk/shareable", "<disk><shareable>", err))) ||
        (d->transient && (r = probe_present("disk/transient", "<disk><transient>", err))))
        goto out;
    struct vd_iotune tune;
    struct verr te = {0};
    if (vd_iotune_from_disk(d, &tune, &te) < 0 || vd_iotune_check(&tune, &te) < 0) {
        vd_iotune_free(&tune);
        r = verr_set(err, ENOTSUP, "unsupported configuration: %s", verr_msg(&te));
        goto out;
    }
    vd_iotune_free(&tune);
    for (size_t i = 0; i < d->nextra; i++) {
        char *shown = xasprintf("<disk><%s> %s", d->extra[i]->name, t);
        r = probe("disk", d->extra[i]->name, shown, err);
        free(shown);
        if (r)
            goto out;
    }
    if ((r = check_encryption(d, fmt, t, err)))
        goto out;
    if (d->target_bus == DOMAIN_DISK_BUS_SATA) {
        const struct domain_address *a = &d->address;
        bool ok = a->type == DOMAIN_ADDRESS_DRIVE && a->bus == 0 && a->target == 0 && a->unit < 6;
        char *shown = xasprintf("<disk> %s <address type='drive' controller='%u' bus='%u' "
                                "target='%u' unit='%u'>",
                                t, a->controller, a->bus, a->target, a->unit);
        r = probe("disk/address", ok ? "drive sata port" : "drive sata other", shown, err);
        free(shown);
        goto out;
    }
    if (d->target_bus == DOMAIN_DISK_BUS_IDE) {
        const struct domain_address *a = &d->address;
        bool ok = a->type == DOMAIN_ADDRESS_DRIVE && a->controller == 0 && a->bus <= 1 &&
                  a->target == 0 && a->unit <= 1;
        char *shown = xasprintf("<disk> %s <address type='drive' controller='%u' bus='%u' "
                                "target='%u' unit='%u'>",
                                t, a->controller, a->bus, a->target, a->unit);
        r = probe("disk/address",
                  ok                  ? "drive ide place"
                  : a->controller > 0 ? "drive ide controller 1+"
                                      : "drive ide other",
                  shown, err);
        free(shown);
        goto out;
    }
    if (d->target_bus == DOMAIN_DISK_BUS_SCSI) {
        const struct domain_address *a = &d->address;
        bool ok =
            a->type == DOMAIN_ADDRESS_DRIVE && a->bus == 0 && a->target <= 255 && a->unit <= 16383;
        char *shown = xasprintf("<disk> %s <address type='drive' controller='%u' bus='%u' "
                                "target='%u' unit='%u'>",
                                t, a->controller, a->bus, a->target, a->unit);
        r = probe("disk/address", ok ? "drive channel 0" : "other", shown, err);
        free(shown);
        goto out;
    }
    char *what = xasprintf("<disk> %s", t);
    r = check_pci(def, &d->address, what, err);
    free(what);
out:
    free(t);
    return r;
}

/* <driver> with nothing but queues= (N > 1: a multiqueue tap; 1: the same as none). */
static bool driver_only_queues(const struct domain_net *n)
{
    const struct xnode *d = n->driver_node;
    if (n->driver_name || (d && d->nkids))
        return false;
    for (size_t i = 0; d && i < d->nattrs; i++)
        if (strcmp(d->attrs[2 * i], "queues") != 0)
            return false;
    return true;
}

static int check_net(const struct domain_def *def, const struct domain_net *n, struct verr *err)
{
    int r;
    if (n->driver_queues > 1 && driver_only_queues(n)) {
        const char *kind = n->type == DOMAIN_NET_USER                   ? "user"
                           : n->model && strcmp(n->model, "e1000") == 0 ? "e1000"
                           : n->driver_queues > 16                      ? "more"
                                                                        : "tap";
        char *shown = xasprintf("<driver queues='%u'> %s", n->driver_queues, n->mac);
        r = probe("interface/driver@queues", kind, shown, err);
        free(shown);
        if (r)
            return r;
    }
    if ((r = probe_attr("interface@type", "interface", "type", domain_net_type_to_string(n->type),
                        n->mac, err)) ||
        (r = probe_attr("interface/model@type", "model", "type", n->model ? n->model : "(default)",
                        n->mac, err)) ||
        ((n->driver_name || n->driver_queues || n->driver_node) && !driver_only_queues(n) &&
         (r = probe_present("interface/driver", "<interface><driver>", err))) ||
        (n->target_dev &&
         (r = probe("interface/target@dev", n->type == DOMAIN_NET_USER ? "user" : "tap",
                    "<target dev>", err))) ||
        (n->source && xnode_attr(n->source, "portgroup") &&
         (r = probe_present("interface/source@portgroup", "<source portgroup>", err))))
        return r;
    for (size_t i = 0; i < n->nextra; i++) {
        char *shown = xasprintf("<interface><%s> %s", n->extra[i]->name, n->mac);
        const char *kid = n->extra[i]->name;
        if (strcmp(kid, "mtu") == 0)
            kid = n->type == DOMAIN_NET_USER                   ? "mtu (user)"
                  : n->model && strcmp(n->model, "e1000") == 0 ? "mtu (e1000)"
                                                               : "mtu (tap)";
        else if (strcmp(kid, "bandwidth") == 0)
            kid = n->type == DOMAIN_NET_USER ? "bandwidth (user)" : "bandwidth (tap)";
        else if (strcmp(kid, "virtualport") == 0 || strcmp(kid, "vlan") == 0) {
            bool ovs = false; /* the interface's own <virtualport type='openvswitch'> */
            for (size_t j = 0; j < n->nextra; j++)
                if (strcmp(n->extra[j]->name, "virtualport") == 0) {
                    const char *vt = xnode_attr(n->extra[j], "type");
                    ovs = vt && strcmp(vt, "openvswitch") == 0;
                }
            ovs &= n->type == DOMAIN_NET_BRIDGE || n->type == DOMAIN_NET_NETWORK;
            if (strcmp(kid, "virtualport") == 0)
                kid = ovs ? "virtualport (openvswitch)" : "virtualport";
            else /* on a network interface the network's port may be the OVS one */
                kid = ovs || n->type == DOMAIN_NET_NETWORK ? "vlan (openvswitch)" : "vlan";
        }
        r = probe("interface", kid, shown, err);
        free(shown);
        if (r)
            return r;
    }
    char *what = xasprintf("<interface> %s", n->mac);
    r = check_pci(def, &n->address, what, err);
    free(what);
    return r;
}

static int check_controller(const struct domain_controller *c, struct verr *err)
{
    const char *t = domain_controller_type_to_string(c->type);
    const char *m = c->model ? c->model : "";
    char *value;
    if (c->type == DOMAIN_CONTROLLER_VIRTIO_SERIAL)
        value = xstrdup(t);
    else if (c->type == DOMAIN_CONTROLLER_IDE && c->index != 0)
        value = xstrdup("ide/ other index");
    else if (c->type == DOMAIN_CONTROLLER_PCI && c->index != 0 &&
             !(c->model && strcmp(c->model, "pcie-root-port") == 0) &&
             !(c->model &&
               (strcmp(c->model, "pcie-to-pci-bridge") == 0 ||
                strcmp(c->model, "pci-bridge") == 0) &&
               c->address.type == DOMAIN_ADDRESS_PCI)) /* placed on pc and q35 only */
        value = xasprintf("%s/%s index %u", t, m, c->index);
    else
        value = xasprintf("%s/%s", t, m);
    const struct vmm_support_rule *row = vmm_support_lookup("controller", value);
    if (c->type == DOMAIN_CONTROLLER_USB && row && strcmp(row->value, "*") == 0) {
        free(value);
        value = xstrdup("usb/other"); /* OHCI, VIA UHCI, qusb: the USB row says what there is */
    }
    char *shown = xasprintf("<controller type='%s' index='%u'%s%s%s>", t, c->index,
                            c->model ? " model='" : "", m, c->model ? "'" : "");
    int r = probe("controller", value, shown, err);
    free(shown);
    free(value);
    return r;
}

/* The <address> of a device the definition keeps as a tree (video). */
static int check_kept_pci(const struct domain_def *def, const struct xnode *n, const char *shown,
                          struct verr *err)
{
    struct domain_address a = {0};
    const struct xnode *x = xnode_child(n, "address");
    const char *t = xnode_attr(x, "type");
    if (t && strcmp(t, "pci") == 0) {
        a.type = DOMAIN_ADDRESS_PCI;
        const char *v;
        a.domain = (v = xnode_attr(x, "domain")) ? (unsigned)strtoul(v, NULL, 0) : 0;
        a.bus = (v = xnode_attr(x, "bus")) ? (unsigned)strtoul(v, NULL, 0) : 0;
        a.slot = (v = xnode_attr(x, "slot")) ? (unsigned)strtoul(v, NULL, 0) : 0;
        a.function = (v = xnode_attr(x, "function")) ? (unsigned)strtoul(v, NULL, 0) : 0;
    }
    return check_pci(def, &a, shown, err);
}

int vmm_support_parse_valid_to(const char *s, int64_t *out)
{
    struct tm tm = {0};
    const char *end = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    if (!end || *end)
        return -EINVAL;
    if (out)
        *out = (int64_t)timegm(&tm);
    return 0;
}

/* <graphics type='vnc'>: its listen, port, password, keymap and the settings refused. */
static int check_graphics(const struct xnode *n, struct verr *err)
{
    int r;
    const char *type = xnode_attr(n, "type");
    if ((r = probe_attr("graphics@type", "graphics", "type", type, NULL, err)))
        return r;
    static const char *const attrs[] = {"port",   "autoport", "listen", "passwd",
                                        "keymap", "type",     NULL};
    for (size_t i = 0; i < n->nattrs; i++) {
        const char *a = n->attrs[2 * i], *v = n->attrs[2 * i + 1];
        bool plain = false;
        for (size_t k = 0; attrs[k]; k++)
            plain |= strcmp(attrs[k], a) == 0;
        if (plain && strcmp(a, "keymap") != 0)
            continue;
        char *what = xasprintf("graphics@%s", a);
        char *shown = xasprintf("<graphics %s='%s'>", a, v);
        if (strcmp(a, "passwdValidTo") == 0)
            r = probe(what, vmm_support_parse_valid_to(v, NULL) == 0 ? "UTC time" : v, shown, err);
        else if (vmm_support_lookup(what, v))
            r = probe(what, v, shown, err);
        else if (vmm_support_lookup(what, NULL))
            r = probe(what, NULL, shown, err); /* rows that refuse the attribute whatever it is */
        else
            r = probe("graphics/*", a, shown, err);
        free(shown);
        free(what);
        if (r)
            return r;
    }
    for (size_t i = 0; i < n->nkids; i++) {
        const struct xnode *k = n->kids[i];
        if (!k->name)
            continue;
        if (strcmp(k->name, "listen") == 0) {
            const char *lt = xnode_attr(k, "type");
            if ((r = probe_attr("graphics/listen@type", "listen", "type", lt ? lt : "address", NULL,
                                err)))
                return r;
        } else if (strcmp(k->name, "alias") != 0) {
            char *shown = xasprintf("<graphics><%s>", k->name);
            r = probe("graphics/*", k->name, shown, err);
            free(shown);
            if (r)
                return r;
        }
    }
    return 0;
}

/* <video><model type='vga|none' vram= heads=>. */
static int check_video(const struct domain_def *def, const struct xnode *n, struct verr *err)
{
    int r;
    const struct xnode *m = xnode_child(n, "model");
    const char *t = xnode_attr(m, "type");
    if ((r = probe_attr("video/model@type", "model", "type", t ? t : "", NULL, err)))
        return r;
    if (t && strcmp(t, "none") == 0)
        return 0;
    const char *vram = xnode_attr(m, "vram"), *heads = xnode_attr(m, "heads");
    if (vram) {
        char *end;
        unsigned long long k = strtoull(vram, &end, 10);
        bool pow2 = !*end && k >= 1024 && k <= 262144 && (k & (k - 1)) == 0;
        if ((r = probe_attr("video/model@vram", "model", "vram", pow2 ? "power of two" : vram, NULL,
                            err)))
            return r;
    }
    if (heads && (r = probe_attr("video/model@heads", "model", "heads", heads, NULL, err)))
        return r;
    if (xnode_child(m, "acceleration") &&
        (r = probe_present("video/model/acceleration", "<video><model><acceleration>", err)))
        return r;
    return check_kept_pci(def, n, "<video>", err);
}

/* <memory model='dimm'>: its parts, and its guest node among the NUMA cells (libvirt's words
 * from its command line builder). */
static int check_memory_device(const struct domain_def *def, const struct xnode *n,
                               struct verr *err)
{
    int r = probe_attr("memory@model", "memory", "model", xnode_attr(n, "model"), NULL, err);
    for (size_t i = 0; r == 0 && i < n->nkids; i++) {
        if (!n->kids[i]->name)
            continue;
        char *shown = xasprintf("<memory><%s>", n->kids[i]->name);
        r = probe("memory", n->kids[i]->name, shown, err);
        free(shown);
    }
    for (size_t i = 0; r == 0 && i < n->nattrs; i++) {
        const char *an = n->attrs[2 * i], *av = n->attrs[2 * i + 1];
        if (strcmp(an, "model") == 0)
            continue;
        char *shown = xasprintf("<memory %s='%s'>", an, av);
        r = probe("memory", an, shown, err);
        free(shown);
    }
    if (r)
        return r;
    const struct xnode *numa = numa_of(def);
    size_t ncells = 0;
    for (size_t i = 0; numa && i < numa->nkids; i++)
        ncells += numa->kids[i]->name && !strcmp(numa->kids[i]->name, "cell");
    const struct xnode *node = xnode_child(xnode_child(n, "target"), "node");
    if (ncells && !node)
        return verr_set(err, ENOTSUP,
                        "unsupported configuration: target NUMA node needs to be specified for "
                        "memory device");
    const char *sz = xnode_text(xnode_child(xnode_child(n, "target"), "size"));
    unsigned long long kib = sz ? (strtoull(sz, NULL, 10) + 1023) / 1024 * 1024 : 0;
    if (kib % 2048) /* libvirt rounds to 1 MiB, vireo-vmm's DIMMs are 2 MiB multiples */
        return verr_set(err, ENOTSUP,
                        "unsupported configuration: <memory model='dimm'> of %llu KiB: vireo-vmm's "
                        "DIMM sizes are multiples of 2 MiB",
                        kib);
    unsigned long k = node ? strtoul(xnode_text(node), NULL, 10) : 0; /* post-parse checked it */
    if (node && k >= ncells)
        return verr_set(err, ENOTSUP,
                        "unsupported configuration: can't add memory backend for guest node '%lu' "
                        "as the guest has only '%zu' NUMA nodes configured",
                        k, ncells);
    return 0;
}

static int check_device(const struct domain_def *def, const struct xnode *n, size_t nth_serial,
                        struct verr *err)
{
    char *shown = xasprintf("<%s>", n->name);
    int r = probe("devices", n->name, shown, err);
    free(shown);
    if (r)
        return r;
    const char *type = xnode_attr(n, "type");
    const char *tt = xnode_attr(xnode_child(n, "target"), "type");
    if (strcmp(n->name, "serial") == 0) {
        if ((r = probe_attr("serial@type", "serial", "type", type ? type : "pty", NULL, err)) ||
            (tt && (r = probe_attr("serial/target@type", "target", "type", tt, NULL, err))) ||
            (nth_serial > 0 && (r = probe("serial", "second port", "a second <serial>", err))))
            return r;
    } else if (strcmp(n->name, "channel") == 0) {
        const struct xnode *src = xnode_child(n, "source");
        const char *mode = xnode_attr(src, "mode");
        const char *bus = xnode_attr(xnode_child(n, "address"), "bus");
        if ((r = probe_attr("channel@type", "channel", "type", type ? type : "pty", NULL, err)) ||
            (r = probe_attr("channel/target@type", "target", "type", tt ? tt : "", NULL, err)) ||
            (r = probe_attr("channel/source@mode", "source", "mode", mode ? mode : "bind", NULL,
                            err)) ||
            (bus && (r = probe_attr("channel/address@bus", "address", "bus", bus, NULL, err))))
            return r;
    } else if (strcmp(n->name, "console") == 0) {
        if ((r = probe_attr("console@type", "console", "type", type ? type : "pty", NULL, err)) ||
            (tt && (r = probe_attr("console/target@type", "target", "type", tt, NULL, err))))
            return r;
        bool serial = false;
        for (size_t i = 0; i < def->ndevices; i++)
            serial |= strcmp(def->devices[i].node->name, "serial") == 0;
        if (tt && strcmp(tt, "virtio") == 0 && serial)
            return probe("console", "virtio beside a serial port",
                         "<console><target type='virtio'>", err);
        if (tt && strcmp(tt, "virtio") == 0 && vmm_argv_virtio_console(def) != n)
            return probe("console", "second virtio console", "<console><target type='virtio'>",
                         err);
    } else if (strcmp(n->name, "input") == 0) {
        const char *bus = xnode_attr(n, "bus");
        if ((r = probe_attr("input@bus", "input", "bus", bus ? bus : "?", NULL, err)))
            return r;
        if (!bus || strcmp(bus, "usb") != 0)
            return 0;
        if ((r = probe_attr("input/usb@type", "input", "type", type ? type : "?", NULL, err)))
            return r;
        const char *ub = xnode_attr(xnode_child(n, "address"), "bus");
        unsigned index = ub ? (unsigned)strtoul(ub, NULL, 10) : 0;
        bool have = false;
        for (size_t i = 0; i < def->ncontrollers; i++) {
            const struct domain_controller *c = &def->controllers[i];
            have |= c->type == DOMAIN_CONTROLLER_USB && c->index == index &&
                    !(c->model && strcmp(c->model, "none") == 0);
        }
        if (!have)
            return probe("input@bus", "usb without a controller", "<input bus='usb'>", err);
    } else if (strcmp(n->name, "graphics") == 0) {
        return check_graphics(n, err);
    } else if (strcmp(n->name, "video") == 0) {
        return check_video(def, n, err);
    } else if (strcmp(n->name, "memory") == 0) {
        return check_memory_device(def, n, err);
    } else if (strcmp(n->name, "memballoon") == 0) {
        const struct domain_memballoon *b = def->memballoon;
        if ((r = probe_attr("memballoon@model", "memballoon", "model", b->model, NULL, err)))
            return r;
        if (strcmp(b->model, "none") == 0)
            return 0;
        if ((b->autodeflate >= 0 &&
             (r = probe_attr("memballoon@autodeflate", "memballoon", "autodeflate",
                             b->autodeflate ? "on" : "off", NULL, err))) ||
            (b->free_page_reporting >= 0 &&
             (r = probe_attr("memballoon@freePageReporting", "memballoon", "freePageReporting",
                             b->free_page_reporting ? "on" : "off", NULL, err))) ||
            (b->stats_period &&
             (r = probe_present("memballoon/stats@period", "<memballoon><stats period>", err))))
            return r;
        return check_pci(def, &b->address, "<memballoon>", err);
    }
    return 0;
}

static int check_rng(const struct domain_def *def, const struct domain_rng *g, struct verr *err)
{
    int r;
    if ((r = probe_attr("rng@model", "rng", "model", g->model, NULL, err)) ||
        (r = probe_attr("rng/backend@model", "backend", "model", g->backend_model, NULL, err)))
        return r;
    if (g->backend_path) {
        char *shown = xasprintf("<rng><backend> '%s'", g->backend_path);
        r = probe("rng/backend", g->backend_path, shown, err);
        free(shown);
        if (r)
            return r;
    }
    if (g->rate_bytes && (r = probe_present("rng/rate", "<rng><rate>", err)))
        return r;
    return check_pci(def, &g->address, "<rng>", err);
}

int vmm_support_check(const struct domain_def *def, struct verr *err)
{
    int r;
    if ((r = check_os(def, err)) || (r = check_cpus(def, err)) || (r = check_platform(def, err)) ||
        (r = check_lifecycle(def, err)))
        return r;
    for (size_t i = 0; i < def->ndisks; i++)
        if ((r = check_disk(def, &def->disks[i], err)))
            return r;
    for (size_t i = 0; i < def->nnets; i++)
        if ((r = check_net(def, &def->nets[i], err)))
            return r;
    for (size_t i = 0; i < def->ncontrollers; i++)
        if ((r = check_controller(&def->controllers[i], err)))
            return r;
    size_t nserial = 0;
    for (size_t i = 0; i < def->ndevices; i++) {
        const struct xnode *n = def->devices[i].node;
        if ((r = check_device(def, n, nserial, err)))
            return r;
        nserial += strcmp(n->name, "serial") == 0;
    }
    for (size_t i = 0; i < def->nrngs; i++)
        if ((r = check_rng(def, &def->rngs[i], err)))
            return r;
    return 0;
}

/* ---- the document ---- */

char *vmm_support_markdown(void)
{
    static const char *const status[] = {"honoured", "refused", "planned"};
    struct buf b = BUF_INIT;
    buf_append_str(
        &b, "# What vireod honours in a domain definition\n"
            "\n"
            "Generated from the table in `src/daemon/vmm-support.c` (the unit test\n"
            "`daemon-vmm-support` fails when they differ; regenerate with\n"
            "`VIREO_REGEN=1 build/tests/unit/daemon/test-vmm-support docs/domain-support.md`).\n"
            "\n"
            "When a domain starts (`virsh start`, `virsh create`), every part of its\n"
            "definition is looked up here: *honoured* parts are carried out by the VM\n"
            "that runs; a *refused* or *planned* part stops the start with one line in\n"
            "libvirt's words, `unsupported configuration: <element ...>: reason`.\n"
            "*Planned* names the issue that will make it work. A part the table does\n"
            "not list is refused. `*` is any value not listed above it; an empty value\n"
            "means the element or attribute being there at all. Elements that only\n"
            "describe (`name`, `uuid`, `title`, `description`, `metadata`) have no row.\n"
            "\n"
            "| element | value | status | how, or why not |\n"
            "|---|---|---|---|\n");
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        const struct vmm_support_rule *r = &rules[i];
        char *line;
        if (r->status == VMM_SUPPORT_PLANNED)
            line = xasprintf("| `%s` | %s%s%s | planned (issue %u) | %s |\n", r->what,
                             r->value ? "`" : "", r->value ? r->value : "", r->value ? "`" : "",
                             r->issue, r->note);
        else
            line = xasprintf("| `%s` | %s%s%s | %s | %s |\n", r->what, r->value ? "`" : "",
                             r->value ? r->value : "", r->value ? "`" : "", status[r->status],
                             r->note);
        buf_append_str(&b, line);
        free(line);
    }
    return buf_detach(&b, NULL);
}
