/*
 * test-vmm-support.c - the start-time support table: docs/domain-support.md
 * is what the table prints, the table is well formed, and definitions are
 * refused or honoured by it as it says.
 *
 *   test-vmm-support DOC   (VIREO_REGEN=1 rewrites DOC from the table)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/vmm-support.h"
#include "tap.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"
#include "util/mem.h"

static char *slurp(const char *path)
{
    struct buf b = BUF_INIT;
    struct verr err = {0};
    if (file_read_all(path, 1 << 20, &b, &err) < 0) {
        buf_free(&b);
        return NULL;
    }
    buf_append(&b, "", 1);
    return (char *)b.data;
}

/* Parses XML (a kvm microvm domain with `body` inside <devices> and `top` before it) and
 * checks it: 0 or -ENOTSUP with the message in msg. */
static int check(const char *top, const char *devices, char *msg, size_t len)
{
    char *xml = xasprintf("<domain type='kvm'><name>t</name><memory unit='MiB'>64</memory>"
                          "<os><type arch='x86_64'>hvm</type><kernel>/k</kernel></os>%s"
                          "<devices>%s</devices></domain>",
                          top, devices);
    struct domain_def *def = NULL;
    struct verr err = {0};
    int r = domain_def_parse_string(xml, 0, &def, &err);
    free(xml);
    if (r == 0)
        r = vmm_support_check(def, &err);
    snprintf(msg, len, "%s", r ? verr_msg(&err) : "");
    domain_def_free(def);
    return r;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test-vmm-support DOC\n");
        return 2;
    }
    log_set_level(LOG_ERROR);
    char *md = vmm_support_markdown();
    if (getenv("VIREO_REGEN")) {
        struct verr e = {0};
        file_replace_atomic(argv[1], md, strlen(md), 0644, &e);
    }
    char *doc = slurp(argv[1]);
    is_str(md, doc ? doc : "(missing)", "docs/domain-support.md is the table's rendering");
    free(doc);
    free(md);

    /* Well formed: planned rows name an issue, others none; every '*' row comes after the
     * specific rows of its element (the lookup takes the first match). */
    size_t n;
    const struct vmm_support_rule *rules = vmm_support_rules(&n);
    bool issues_ok = true, order_ok = true;
    for (size_t i = 0; i < n; i++) {
        issues_ok &= (rules[i].status == VMM_SUPPORT_PLANNED) == (rules[i].issue != 0);
        for (size_t j = 0; j < i; j++)
            if (strcmp(rules[j].what, rules[i].what) == 0 && rules[j].value &&
                strcmp(rules[j].value, "*") == 0)
                order_ok = false;
    }
    ok(issues_ok, "planned rows (and only those) name an issue");
    ok(order_ok, "no row follows the '*' row of its element");
    const struct vmm_support_rule *r = vmm_support_lookup("disk@device", "cdrom");
    ok(r && r->status == VMM_SUPPORT_HONOURED, "a cdrom is honoured (scsi-cd)");
    r = vmm_support_lookup("disk/target@bus", "sata");
    ok(r && r->status == VMM_SUPPORT_HONOURED && strstr(r->note, "ide-hd or ide-cd"),
       "a SATA disk is honoured (ide-hd or ide-cd on an AHCI controller)");
    r = vmm_support_lookup("disk/target@bus", "ide");
    ok(r && r->status == VMM_SUPPORT_HONOURED && strstr(r->note, "PIIX3 IDE"),
       "an IDE disk is honoured (ide-hd or ide-cd on pc's PIIX3 IDE)");
    r = vmm_support_lookup("disk/address", "drive ide other");
    ok(r && r->status == VMM_SUPPORT_REFUSED && strstr(r->note, "units 0-1"),
       "an IDE address past the PIIX3's buses and units is refused");
    r = vmm_support_lookup("controller", "ide/ other index");
    ok(r && r->status == VMM_SUPPORT_REFUSED && strstr(r->note, "Only 1 IDE controller"),
       "a second IDE controller is refused with libvirt's words");
    r = vmm_support_lookup("disk/address", "drive sata other");
    ok(r && r->status == VMM_SUPPORT_REFUSED && strstr(r->note, "units (ports) 0-5"),
       "a SATA address past the controller's ports is refused");
    r = vmm_support_lookup("controller", "sata/");
    ok(r && r->status == VMM_SUPPORT_HONOURED, "a sata controller is honoured (ich9-ahci)");
    r = vmm_support_lookup("disk@device", "floppy");
    ok(r && r->status == VMM_SUPPORT_REFUSED, "a floppy falls to the '*' row: refused");
    ok(vmm_support_lookup("no-such-element", "x") == NULL, "an unknown element has no row");

    char msg[512];
    ok(check("", "", msg, sizeof(msg)) == 0, "a bare microvm domain is honoured (%s)", msg);
    ok(check("<memoryBacking><hugepages/></memoryBacking>", "", msg, sizeof(msg)) == 0,
       "<memoryBacking><hugepages/> is honoured (%s)", msg);
    ok(check("<memoryBacking><locked/><nosharepages/><source type='memfd'/><access "
             "mode='shared'/><allocation mode='immediate' threads='2'/></memoryBacking>",
             "", msg, sizeof(msg)) == 0,
       "<memoryBacking> locked, nosharepages, memfd, shared, immediate are honoured (%s)", msg);
    ok(check("<memoryBacking><source type='file'/><discard/></memoryBacking>", "", msg,
             sizeof(msg)) == 0,
       "<memoryBacking><source type='file'/> is honoured (%s)", msg);
    check("<memoryBacking><source type='bogus'/></memoryBacking>", "", msg, sizeof(msg));
    is_str(msg,
           "unsupported configuration: <memoryBacking><source type='bogus'>: type must be "
           "anonymous, file or memfd",
           "<memoryBacking><source type='bogus'/> is refused with one line");
    check("<memoryBacking><access mode='bogus'/></memoryBacking>", "", msg, sizeof(msg));
    is_str(msg,
           "unsupported configuration: <memoryBacking><access mode='bogus'>: mode must be shared "
           "or private",
           "<memoryBacking><access mode='bogus'/> is refused with one line");
    ok(check("<cputune><shares>2048</shares><period>20000</period><quota>10000</quota>"
             "<vcpupin vcpu='0' cpuset='0'/><emulatorpin cpuset='0'/>"
             "<emulator_period>20000</emulator_period><global_quota>-1</global_quota></cputune>",
             "", msg, sizeof(msg)) == 0,
       "<cputune> shares, bandwidth and pins are honoured (%s)", msg);
    ok(check("<iothreads>1</iothreads><cputune><vcpusched vcpus='0' scheduler='fifo' "
             "priority='1'/>"
             "<iothreadsched iothreads='1' scheduler='batch'/>"
             "<emulatorsched scheduler='idle'/></cputune>",
             "", msg, sizeof(msg)) == 0,
       "<cputune> vcpusched, iothreadsched and emulatorsched are honoured (%s)", msg);
    check("<cputune><cachetune vcpus='0'/></cputune>", "", msg, sizeof(msg));
    is_str(msg,
           "unsupported configuration: <cputune><cachetune>: cache and memory bandwidth "
           "allocation (resctrl) is not applied yet",
           "<cputune><cachetune> is refused");
    ok(check("",
             "<disk type='file' device='cdrom'><target dev='sdb' bus='scsi'/><readonly/></disk>",
             msg, sizeof(msg)) == 0,
       "an empty SCSI cdrom is honoured (%s)", msg);
    check("",
          "<disk type='file' device='disk'><source file='/x.img'/><target dev='sda' bus='scsi'/>"
          "<address type='drive' controller='0' bus='1' target='0' unit='0'/></disk>",
          msg, sizeof(msg));
    is_str(msg,
           "unsupported configuration: <disk> 'sda' <address type='drive' controller='0' bus='1' "
           "target='0' unit='0'>: virtio-scsi has bus 0 only, targets 0-255 and units 0-16383",
           "a SCSI disk on bus 1 is refused");
    ok(check("<cpu mode='host-model'/>", "", msg, sizeof(msg)) == 0,
       "cpu host-model is honoured (vireod expands it at start) (%s)", msg);
    check("<cpu mode='custom' migratable='off'><model>Haswell</model></cpu>", "", msg, sizeof(msg));
    is_str(msg,
           "unsupported configuration: Attribute migratable is only allowed for 'host-passthrough' "
           "/ 'maximum' "
           "CPU mode",
           "migratable on a custom CPU is refused (it has nothing to apply to)");
    ok(check("<cpu mode='host-passthrough'/>", "", msg, sizeof(msg)) == 0,
       "cpu host-passthrough is honoured (%s)", msg);
    ok(check("<cpu mode='custom' check='full'><model fallback='forbid'>Haswell-noTSX</model>"
             "<feature policy='disable' name='kvm_pv_ipi'/><feature policy='force' name='pcid'/>"
             "</cpu>",
             "", msg, sizeof(msg)) == 0,
       "a named model with features and check='full' is honoured (%s)", msg);
    check("<cpu mode='custom'><model>qemu64</model><feature policy='maybe' name='pcid'/></cpu>", "",
          msg, sizeof(msg));
    is_str(msg, "invalid value 'maybe' for attribute 'policy' of element 'feature'",
           "an unknown feature policy is refused (by the parser)");
    ok(check("<cpu mode='host-passthrough' migratable='off'/>", "", msg, sizeof(msg)) == 0,
       "migratable='off' is honoured (%s)", msg);
    check("<clock offset='localtime'/>", "", msg, sizeof(msg));
    is_str(msg, "unsupported configuration: <clock offset='localtime'>: the RTC runs in UTC only",
           "clock localtime is refused");
    ok(check("<clock offset='utc'><timer name='pit' present='no'/></clock>", "", msg,
             sizeof(msg)) == 0,
       "the PIT switched off is honoured (%s)", msg);
    check("<clock offset='utc'><timer name='tsc' present='no'/></clock>", "", msg, sizeof(msg));
    is_str(msg,
           "unsupported configuration: <timer name='tsc'>: only the PIT, RTC and HPET timers can "
           "be configured",
           "other timers are refused");
    /* virt-install's timers: honoured (there is no HPET; the PIT re-injects; the RTC has no
     * periodic ticks to lose); an HPET asked for and other policies are refused. */
    ok(check("<clock offset='utc'><timer name='rtc' tickpolicy='catchup'/><timer name='pit' "
             "tickpolicy='delay'/><timer name='hpet' present='no'/></clock>",
             "", msg, sizeof(msg)) == 0,
       "virt-install's rtc catchup, pit delay and no hpet are honoured (%s)", msg);
    check("<clock offset='utc'><timer name='hpet'/></clock>", "", msg, sizeof(msg));
    is_str(msg,
           "unsupported configuration: <timer name='hpet' present='yes'>: vireo-vmm has no HPET",
           "an HPET is refused");
    check("<clock offset='utc'><timer name='pit' tickpolicy='discard'/></clock>", "", msg,
          sizeof(msg));
    is_str(msg,
           "unsupported configuration: <timer name='pit' tickpolicy='discard'>: this tick policy "
           "is not supported",
           "another tick policy is refused");
    check("<features><acpi/><hyperv><relaxed state='on'/></hyperv></features>", "", msg,
          sizeof(msg));
    is_str(msg,
           "unsupported configuration: <features><hyperv>: this feature is not supported by "
           "vireo-vmm",
           "Hyper-V enlightenments are refused");
    ok(check("<features><acpi/><apic/><vmport state='off'/></features>", "", msg, sizeof(msg)) == 0,
       "vmport switched off is honoured (%s)", msg);
    check("<features><vmport state='on'/></features>", "", msg, sizeof(msg));
    is_str(msg,
           "unsupported configuration: <features><vmport state='on'>: this feature is not "
           "supported by vireo-vmm",
           "vmport switched on is refused");
    ok(check(
           "<iothreads>2</iothreads><cputune><iothreadpin iothread='2' cpuset='0'/>"
           "<iothread_quota>20000</iothread_quota></cputune>",
           "<disk type='file'><source file='/d'/><target dev='vda'/><driver iothread='2'/></disk>",
           msg, sizeof(msg)) == 0,
       "iothreads, iothreadpin, iothread_quota and a virtio disk's iothread are honoured (%s)",
       msg);
    ok(check("<iothreads>2</iothreads><iothreadids><iothread id='2'/></iothreadids>", "", msg,
             sizeof(msg)) == 0,
       "iothreadids within the count are honoured (%s)", msg);
    check("<iothreads>1</iothreads><iothreadids><iothread id='7'/></iothreadids>", "", msg,
          sizeof(msg));
    is_str(msg,
           "unsupported configuration: <iothreadids><iothread id>: IOThread ids above the "
           "<iothreads> count are not supported yet",
           "iothread ids beyond the count are refused");
    check("<iothreads>1</iothreads><iothreadids><iothread id='1' thread_pool_max='4'/>"
          "</iothreadids>",
          "", msg, sizeof(msg));
    is_str(msg,
           "unsupported configuration: <iothreadids><iothread>: per-IOThread settings (thread "
           "pools, polling) are not supported yet",
           "per-iothread settings are refused");
    check("<seclabel type='dynamic' model='selinux'/>", "", msg, sizeof(msg));
    is_str(msg,
           "unsupported configuration: <seclabel model='selinux'>: no SELinux or AppArmor "
           "driver: only the DAC model",
           "an SELinux label is refused");
    check("<seclabel type='dynamic' model='dac'/>", "", msg, sizeof(msg));
    is_str(msg, "", "a dynamic DAC label is honoured");
    check("<seclabel type='static' model='dac' relabel='yes'><label>+107:+107</label></seclabel>",
          "", msg, sizeof(msg));
    is_str(msg, "", "a static DAC label is honoured");
    check("<seclabel type='bogus' model='dac'/>", "", msg, sizeof(msg));
    is_str(msg,
           "unsupported configuration: <seclabel type='bogus'>: the type must be none, dynamic "
           "or static",
           "an unknown label type is refused");
    check("", "<watchdog model='i6300esb'/>", msg, sizeof(msg));
    is_str(msg, "unsupported configuration: <watchdog>: device not supported by vireo-vmm",
           "an unknown device falls to the '*' row");
    check("", "<serial type='pty'/><serial type='pty'/>", msg, sizeof(msg));
    is_str(msg, "unsupported configuration: a second <serial>: vireo-vmm has one serial port",
           "a second serial port is refused");
    ok(check("",
             "<disk type='file'><source file='/d'/><target dev='vda'/><driver io='native'/>"
             "</disk>",
             msg, sizeof(msg)) == 0,
       "a virtio disk with io='native' is honoured (%s)", msg);
    ok(check("", "<disk type='file'><source file='/d'/><target dev='vda'/><shareable/></disk>", msg,
             sizeof(msg)) == 0,
       "a shareable disk is honoured (share-rw=on) (%s)", msg);
    return tap_done();
}
