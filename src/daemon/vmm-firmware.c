/*
 * vmm-firmware.c - <loader>, <nvram> and <sysinfo> to vireo-vmm options (see
 * vmm-firmware.h).
 *
 * <loader type='pflash' readonly='yes'>CODE</loader> is pflash unit 0
 * (readonly=on when readonly='yes'), <nvram>VARS</nvram> unit 1, both raw as
 * libvirt's firmware images are; <loader type='rom'> (or no type) is -bios.
 * <sysinfo type='smbios'> becomes one -smbios per block: <bios> type=0
 * (vendor, version, date, release), <system> type=1 (manufacturer, product,
 * version, serial, uuid, sku, family), <baseBoard> type=2, <chassis> type=3,
 * <oemStrings> type=11 (one value= per entry); it applies when <os><smbios
 * mode='sysinfo'/> asks for it, as in libvirt (mode='emulate' is the default
 * tables; mode='host' is refused).
 *
 * The per-domain VARS copy from <nvram template=> and the default nvram path
 * under vireod's nvram directory are nvram.c's, made before the start.
 */
#include "daemon/vmm-firmware.h"
#include "conf/xnode.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void push(char ***argv, size_t *n, char *s)
{
    *argv = xrealloc(*argv, (*n + 2) * sizeof(**argv));
    (*argv)[(*n)++] = s;
    (*argv)[*n] = NULL;
}

/* A value in a QEMU option: ',' doubled. */
static void put_value(struct buf *b, const char *v)
{
    for (; *v; v++)
        buf_printf(b, "%s", *v == ',' ? ",," : (char[]){*v, 0});
}

/* The entries of one <sysinfo> block that map to -smbios keys, as "type=N,key=value...". */
static char *smbios_block(const struct xnode *block, int type, const char *const *keys,
                          size_t nkeys, struct verr *err)
{
    struct buf b = BUF_INIT;
    buf_printf(&b, "type=%d", type);
    for (size_t i = 0; i < block->nkids; i++) {
        const struct xnode *e = block->kids[i];
        if (!e->name || strcmp(e->name, "entry"))
            continue;
        const char *name = xnode_attr(e, "name");
        const char *text = xnode_text(e);
        if (type == 11) {
            buf_printf(&b, ",value=");
            put_value(&b, text ? text : "");
            continue;
        }
        bool known = false;
        for (size_t k = 0; name && k < nkeys; k++)
            known |= strcmp(name, keys[k]) == 0;
        if (!known) {
            buf_free(&b);
            verr_set(err, ENOTSUP, "<sysinfo><%s><entry name='%s'>: not supported", block->name,
                     name ? name : "");
            return NULL;
        }
        if (!text || !*text)
            continue;
        buf_printf(&b, ",%s=", name);
        put_value(&b, text);
    }
    size_t len;
    return buf_detach(&b, &len);
}

static int add_sysinfo(const struct domain_def *def, char ***argv, size_t *n, struct verr *err)
{
    const char *mode = def->smbios_mode;
    if (mode && !strcmp(mode, "host"))
        return verr_set(err, ENOTSUP,
                        "<os><smbios mode='host'>: copying the host's SMBIOS tables is not "
                        "supported (use mode='sysinfo' with a <sysinfo> block)");
    if (!def->sysinfo)
        return mode && !strcmp(mode, "sysinfo")
                   ? verr_set(err, EINVAL,
                              "<os><smbios mode='sysinfo'> needs a <sysinfo type='smbios'>")
                   : 0;
    const char *type = xnode_attr(def->sysinfo, "type");
    if (!type || strcmp(type, "smbios"))
        return verr_set(err, ENOTSUP, "<sysinfo type='%s'>: only type='smbios' is supported",
                        type ? type : "");
    if (!mode || strcmp(mode, "sysinfo"))
        return 0; /* libvirt: without mode='sysinfo' the block is kept but not applied */
    static const char *const bios[] = {"vendor", "version", "date", "release"};
    static const char *const sys[] = {"manufacturer", "product", "version", "serial",
                                      "uuid",         "sku",     "family"};
    static const char *const board[] = {"manufacturer", "product", "version",
                                        "serial",       "asset",   "location"};
    static const char *const chassis[] = {"manufacturer", "version", "serial", "asset", "sku"};
    static const struct {
        const char *block;
        int type;
        const char *const *keys;
        size_t nkeys;
    } map[] = {
        {"bios", 0, bios, 4},       {"system", 1, sys, 7},       {"baseBoard", 2, board, 6},
        {"chassis", 3, chassis, 5}, {"oemStrings", 11, NULL, 0},
    };
    for (size_t i = 0; i < def->sysinfo->nkids; i++) {
        const struct xnode *blk = def->sysinfo->kids[i];
        if (!blk->name)
            continue;
        size_t m = 0;
        while (m < sizeof(map) / sizeof(map[0]) && strcmp(map[m].block, blk->name))
            m++;
        if (m == sizeof(map) / sizeof(map[0]))
            return verr_set(err, ENOTSUP, "<sysinfo><%s>: not supported", blk->name);
        char *v = smbios_block(blk, map[m].type, map[m].keys, map[m].nkeys, err);
        if (!v)
            return -ENOTSUP;
        push(argv, n, xstrdup("-smbios"));
        push(argv, n, v);
    }
    return 0;
}

int vmm_firmware_argv(const struct domain_def *def, char ***argv, size_t *n, struct verr *err)
{
    const char *ltype = def->os_loader_node ? xnode_attr(def->os_loader_node, "type") : NULL;
    bool pflash = ltype && !strcmp(ltype, "pflash");
    if (def->os_loader) {
        if (ltype && !pflash && strcmp(ltype, "rom"))
            return verr_set(err, ENOTSUP, "<loader type='%s'>: only rom and pflash", ltype);
        const char *secure = xnode_attr(def->os_loader_node, "secure");
        if (secure && !strcmp(secure, "yes"))
            return verr_set(err, ENOTSUP,
                            "unsupported configuration: <loader secure='yes'>: vireo-vmm has no "
                            "SMM to protect the firmware's flash");
        const char *stateless = xnode_attr(def->os_loader_node, "stateless");
        if (stateless && !strcmp(stateless, "yes"))
            return verr_set(err, ENOTSUP,
                            "unsupported configuration: <loader stateless='yes'> is not supported");
        const char *format = xnode_attr(def->os_loader_node, "format");
        if (format && strcmp(format, "raw"))
            return verr_set(err, ENOTSUP,
                            "unsupported configuration: <loader format='%s'>: only raw", format);
        if (pflash) {
            const char *ro = xnode_attr(def->os_loader_node, "readonly");
            struct buf b = BUF_INIT;
            buf_printf(&b, "if=pflash,format=raw,unit=0,file=");
            put_value(&b, def->os_loader);
            if (ro && !strcmp(ro, "yes"))
                buf_printf(&b, ",readonly=on");
            size_t len;
            push(argv, n, xstrdup("-drive"));
            push(argv, n, buf_detach(&b, &len));
        } else {
            push(argv, n, xstrdup("-bios"));
            push(argv, n, xstrdup(def->os_loader));
        }
    }
    if (def->os_nvram) {
        if (!pflash)
            return verr_set(err, EINVAL, "<nvram> needs a <loader type='pflash'>");
        const char *ntype = def->os_nvram_node ? xnode_attr(def->os_nvram_node, "type") : NULL;
        const char *nfmt = def->os_nvram_node ? xnode_attr(def->os_nvram_node, "format") : NULL;
        if ((ntype && strcmp(ntype, "file")) || (nfmt && strcmp(nfmt, "raw")))
            return verr_set(err, ENOTSUP,
                            "unsupported configuration: <nvram>: only a raw file is supported");
        struct buf b = BUF_INIT;
        buf_printf(&b, "if=pflash,format=raw,unit=1,file=");
        put_value(&b, def->os_nvram);
        size_t len;
        push(argv, n, xstrdup("-drive"));
        push(argv, n, buf_detach(&b, &len));
    }
    return add_sysinfo(def, argv, n, err);
}
