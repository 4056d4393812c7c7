/*
 * test-vmm-firmware.c - <loader>, <nvram> and <sysinfo> to vireo-vmm's options
 * (daemon/vmm-firmware.c): the options libvirt's QEMU driver gives for each, commas in
 * values doubled, and the refusals (<smbios mode='host'>, <nvram> without a pflash loader,
 * an unknown sysinfo entry).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/vmm-firmware.h"
#include "tap.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"

static const char *HEAD = "<domain type='kvm'><name>fw</name><memory>131072</memory>"
                          "<vcpu>1</vcpu><os><type machine='q35'>hvm</type>";

/* The options for the <os> tail and extra elements, joined by spaces; or "error: MSG". */
static char *options(const char *os_tail, const char *extra)
{
    struct buf x = BUF_INIT;
    buf_printf(&x, "%s%s</os>%s</domain>", HEAD, os_tail, extra);
    buf_append(&x, "", 1);
    struct domain_def *def = NULL;
    struct verr err = {0};
    struct buf out = BUF_INIT;
    if (domain_def_parse_string((const char *)x.data, 0, &def, &err) < 0) {
        buf_printf(&out, "parse: %s", verr_msg(&err));
    } else {
        char **av = NULL;
        size_t n = 0;
        if (vmm_firmware_argv(def, &av, &n, &err) < 0)
            buf_printf(&out, "error: %s", verr_msg(&err));
        for (size_t i = 0; i < n; i++) {
            buf_printf(&out, "%s%s", i ? " " : "", av[i]);
            free(av[i]);
        }
        free(av);
    }
    domain_def_free(def);
    buf_free(&x);
    buf_append(&out, "", 1);
    size_t len;
    return buf_detach(&out, &len);
}

static void check(const char *os_tail, const char *extra, const char *want, const char *what)
{
    char *got = options(os_tail, extra);
    is_str(got, want, "%s", what);
    free(got);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    check("", "", "", "nothing: no options");
    check("<loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>"
          "<nvram template='/usr/share/OVMF/OVMF_VARS_4M.fd'>/var/lib/vireo/nvram/fw_VARS.fd"
          "</nvram>",
          "",
          "-drive if=pflash,format=raw,unit=0,file=/usr/share/OVMF/OVMF_CODE_4M.fd,readonly=on "
          "-drive if=pflash,format=raw,unit=1,file=/var/lib/vireo/nvram/fw_VARS.fd",
          "pflash loader and nvram: two pflash drives");
    check("<loader readonly='yes' type='pflash'>/x/a,b.fd</loader>", "",
          "-drive if=pflash,format=raw,unit=0,file=/x/a,,b.fd,readonly=on -drive "
          "if=pflash,format=raw,unit=1,file=/var/lib/libvirt/qemu/nvram/fw_VARS.fd",
          "a comma in a path is doubled; the nvram defaults as libvirt's");
    check("<loader type='rom'>/usr/share/seabios/bios.bin</loader>", "",
          "-bios /usr/share/seabios/bios.bin", "rom loader: -bios");
    const char *sysinfo =
        "<sysinfo type='smbios'><bios><entry name='vendor'>Vireo</entry>"
        "<entry name='release'>1.2</entry></bios>"
        "<system><entry name='manufacturer'>Acme, Inc.</entry><entry name='serial'>S1</entry>"
        "<entry name='uuid'>c7a5fdbd-edaf-9455-926a-d65c16db1809</entry></system>"
        "<baseBoard><entry name='location'>Slot A</entry></baseBoard>"
        "<chassis><entry name='asset'>A-1</entry></chassis>"
        "<oemStrings><entry>one</entry><entry>two,three</entry></oemStrings></sysinfo>";
    check("<smbios mode='sysinfo'/>", sysinfo,
          "-smbios type=0,vendor=Vireo,release=1.2 -smbios "
          "type=1,manufacturer=Acme,, Inc.,serial=S1,uuid=c7a5fdbd-edaf-9455-926a-d65c16db1809 "
          "-smbios type=2,location=Slot A -smbios type=3,asset=A-1 -smbios "
          "type=11,value=one,value=two,,three",
          "sysinfo with mode='sysinfo': one -smbios per block");
    check("", sysinfo, "", "sysinfo without mode='sysinfo': not applied (as libvirt)");
    check("<smbios mode='host'/>", "",
          "error: <os><smbios mode='host'>: copying the host's SMBIOS tables is not supported "
          "(use mode='sysinfo' with a <sysinfo> block)",
          "mode='host' is refused");
    check("<smbios mode='sysinfo'/>",
          "<sysinfo type='smbios'><system><entry name='colour'>red</entry></system></sysinfo>",
          "error: <sysinfo><system><entry name='colour'>: not supported",
          "an unknown entry is refused");
    check("<loader type='rom'>/b.bin</loader><nvram>/v.fd</nvram>", "",
          "error: <nvram> needs a <loader type='pflash'>-bios /b.bin",
          "nvram without a pflash loader is refused");
    check("<loader type='pflash' secure='yes'>/c.fd</loader><nvram>/v.fd</nvram>", "",
          "error: unsupported configuration: <loader secure='yes'>: vireo-vmm has no SMM to "
          "protect the firmware's flash",
          "a secure loader is refused (no SMM)");
    check("<loader type='pflash' stateless='yes'>/c.fd</loader>", "",
          "error: unsupported configuration: <loader stateless='yes'> is not supported",
          "a stateless loader is refused");
    check("<loader type='pflash' format='qcow2'>/c.fd</loader><nvram>/v.fd</nvram>", "",
          "error: unsupported configuration: <loader format='qcow2'>: only raw",
          "a qcow2 loader is refused");
    check("<loader type='pflash'>/c.fd</loader><nvram format='qcow2'>/v.fd</nvram>", "",
          "error: unsupported configuration: <nvram>: only a raw file is supported-drive "
          "if=pflash,format=raw,unit=0,file=/c.fd",
          "a qcow2 nvram is refused");
    return tap_done();
}
