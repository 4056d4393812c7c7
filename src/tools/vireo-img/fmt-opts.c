/*
 * fmt-opts.c - the -o options of the formats users import (vmdk, vdi, vpc,
 * vhdx, qed): which keys each takes, their types, the "-o help" lines and
 * the order and defaults of the "Formatting ..." line, all as qemu-img 7.2
 * prints them. One table per format, in qemu's option order; values are
 * type-checked here (on/off, sizes) and checked for meaning by the driver
 * when it creates the image, as qemu-img does (so its errors come after the
 * "Formatting" line, where qemu-img prints them).
 *
 * raw and qcow2 keep their own handling in common.c and cmd-create.c.
 */
#include "img.h"

#include "util/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum opt_type { T_STR, T_BOOL, T_SIZE };

struct fmt_opt {
    const char *name;
    enum opt_type type;
    const char *def; /* printed in the Formatting line when not given */
    const char *help;
};

static const char prealloc_help[] = "Preallocation mode (allowed values: off, falloc, full)";

static const struct fmt_opt vmdk_opts[] = {
    {"adapter_type", T_STR, NULL,
     "Virtual adapter type, can be one of ide (default), lsilogic, buslogic or legacyESX"},
    {"backing_file", T_STR, NULL, "File name of a base image"},
    {"backing_fmt", T_STR, NULL, "Must be 'vmdk' if present"},
    {"compat6", T_BOOL, "off", "VMDK version 6 image"},
    {"hwversion", T_STR, "undefined", "VMDK hardware version"},
    {"toolsversion", T_STR, NULL, "VMware guest tools version"},
    {"subformat", T_STR, NULL,
     "VMDK flat extent format, can be one of {monolithicSparse (default) | monolithicFlat | "
     "twoGbMaxExtentSparse | twoGbMaxExtentFlat | streamOptimized} "},
    {"zeroed_grain", T_BOOL, NULL,
     "Enable efficient zero writes using the zeroed-grain GTE feature"},
    {"preallocation", T_STR, NULL, prealloc_help},
    {NULL, 0, NULL, NULL},
};

static const struct fmt_opt vdi_opts[] = {
    {"static", T_BOOL, "off", "VDI static (pre-allocated) image"},
    {"preallocation", T_STR, NULL, prealloc_help},
    {NULL, 0, NULL, NULL},
};

static const struct fmt_opt vpc_opts[] = {
    {"subformat", T_STR, NULL,
     "Type of virtual hard disk format. Supported formats are {dynamic (default) | fixed} "},
    {"force_size", T_BOOL, NULL,
     "Force disk size calculation to use the actual size specified, rather than using the "
     "nearest CHS-based calculation"},
    {"preallocation", T_STR, NULL, prealloc_help},
    {NULL, 0, NULL, NULL},
};

static const struct fmt_opt vhdx_opts[] = {
    {"log_size", T_SIZE, "1048576", "Log size; min 1MB."},
    {"block_size", T_SIZE, "0",
     "Block Size; min 1MB, max 256MB. 0 means auto-calculate based on image size."},
    {"subformat", T_STR, NULL,
     "VHDX format type, can be either 'dynamic' or 'fixed'. Default is 'dynamic'."},
    {"block_state_zero", T_BOOL, NULL,
     "Force use of payload blocks of type 'ZERO'. Non-standard, but default.  Do not set to "
     "'off' when using 'qemu-img convert' with subformat=dynamic."},
    {"preallocation", T_STR, NULL, prealloc_help},
    {NULL, 0, NULL, NULL},
};

static const struct fmt_opt qed_opts[] = {
    {"backing_file", T_STR, NULL, "File name of a base image"},
    {"backing_fmt", T_STR, NULL, "Image format of the base image"},
    {"cluster_size", T_SIZE, "65536", "Cluster size (in bytes)"},
    {"table_size", T_SIZE, NULL, "L1/L2 table size (in clusters)"},
    {"preallocation", T_STR, NULL, prealloc_help},
    {NULL, 0, NULL, NULL},
};

static const struct {
    const char *format;
    const struct fmt_opt *opts;
    const char *size_help;
} tables[] = {
    {"vmdk", vmdk_opts, "Virtual disk size"},
    {"vdi", vdi_opts, "Virtual disk size"},
    {"vpc", vpc_opts, "Virtual disk size"},
    {"vhdx", vhdx_opts, "Virtual disk size; max of 64TB."},
    {"qed", qed_opts, "Virtual disk size"},
};

static int find_table(const char *format)
{
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
        if (strcmp(tables[i].format, format) == 0)
            return (int)i;
    return -1;
}

bool img_foreign_format(const char *format)
{
    return find_table(format) >= 0;
}

bool img_format_has_backing(const char *format)
{
    return strcmp(format, "qcow2") == 0 || strcmp(format, "qed") == 0 ||
           strcmp(format, "vmdk") == 0;
}

static const struct fmt_opt *find_opt(const struct fmt_opt *opts, const char *name)
{
    for (; opts->name; opts++)
        if (strcmp(opts->name, name) == 0)
            return opts;
    return NULL;
}

static int parse_bool(const char *filename, const char *key, const char *v, bool *out)
{
    if (strcmp(v, "on") == 0 || strcmp(v, "true") == 0 || strcmp(v, "yes") == 0) {
        *out = true;
        return 0;
    }
    if (strcmp(v, "off") == 0 || strcmp(v, "false") == 0 || strcmp(v, "no") == 0) {
        *out = false;
        return 0;
    }
    img_error("%s: Parameter '%s' expects 'on' or 'off'", filename, key);
    return -1;
}

static int parse_size_opt(const char *filename, const char *key, const char *v, uint64_t *out)
{
    if (str_parse_size(v, 1, out) < 0) {
        /* qemu-img adds two lines about suffixes; one line keeps it greppable. */
        img_error("%s: Parameter '%s' expects a non-negative number below 2^64", filename, key);
        return -1;
    }
    return 0;
}

int img_foreign_create_opts(const char *format, const char *filename,
                            const struct img_optlist *list, struct block_create_opts *o)
{
    int t = find_table(format);
    if (t < 0)
        return -1;
    for (size_t i = 0; i < list->count; i++) {
        const char *k = list->items[i].key;
        const char *v = list->items[i].value ? list->items[i].value : "on";
        const struct fmt_opt *d = strcmp(k, "size") == 0 ? NULL : find_opt(tables[t].opts, k);
        if (strcmp(k, "size") == 0) {
            if (img_parse_size(v, &o->size) < 0)
                return -1;
            continue;
        }
        if (!d) {
            img_error("%s: Invalid parameter '%s'", filename, k);
            return -1;
        }
        bool b = false;
        uint64_t z = 0;
        if (d->type == T_BOOL && parse_bool(filename, k, v, &b) < 0)
            return -1;
        if (d->type == T_SIZE && parse_size_opt(filename, k, v, &z) < 0)
            return -1;
        if (strcmp(k, "preallocation") == 0) {
            if (block_prealloc_parse(v, &o->prealloc) < 0) {
                img_error("%s: Invalid parameter '%s'", filename, v);
                return -1;
            }
        } else if (strcmp(k, "backing_file") == 0) {
            o->backing_file = v;
        } else if (strcmp(k, "backing_fmt") == 0) {
            o->backing_format = v;
        } else if (strcmp(k, "adapter_type") == 0) {
            o->adapter_type = v;
        } else if (strcmp(k, "hwversion") == 0) {
            o->hwversion = strcmp(v, "undefined") == 0 ? NULL : v;
        } else if (strcmp(k, "toolsversion") == 0) {
            o->toolsversion = v;
        } else if (strcmp(k, "subformat") == 0) {
            o->subformat = v;
        } else if (strcmp(k, "compat6") == 0) {
            o->compat6 = b;
        } else if (strcmp(k, "zeroed_grain") == 0) {
            o->zeroed_grain = b;
        } else if (strcmp(k, "static") == 0) {
            o->static_image = b;
        } else if (strcmp(k, "force_size") == 0) {
            o->force_size = b;
        } else if (strcmp(k, "block_state_zero") == 0) {
            o->block_state_zero_off = !b;
        } else if (strcmp(k, "log_size") == 0) {
            o->log_size = z;
        } else if (strcmp(k, "block_size") == 0) {
            o->block_size = z;
        } else if (strcmp(k, "cluster_size") == 0) {
            o->cluster_size = z > UINT32_MAX ? UINT32_MAX : (uint32_t)z;
        } else if (strcmp(k, "table_size") == 0) {
            o->table_size = z > UINT32_MAX ? UINT32_MAX : (uint32_t)z;
        }
    }
    return 0;
}

void img_foreign_print_help(const char *format)
{
    int t = find_table(format);
    if (t < 0)
        return;
    /* qemu-img lists the options sorted by name. */
    const struct fmt_opt *sorted[16];
    size_t n = 0;
    for (const struct fmt_opt *d = tables[t].opts; d->name && n < 15; d++)
        sorted[n++] = d;
    static const struct fmt_opt size = {"size", T_SIZE, NULL, NULL};
    sorted[n++] = &size;
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(sorted[j - 1]->name, sorted[j]->name) > 0; j--) {
            const struct fmt_opt *tmp = sorted[j];
            sorted[j] = sorted[j - 1];
            sorted[j - 1] = tmp;
        }
    printf("Supported options:\n");
    for (size_t i = 0; i < n; i++) {
        const struct fmt_opt *d = sorted[i];
        const char *type = d->type == T_BOOL ? "bool (on/off)" : d->type == T_SIZE ? "size" : "str";
        char left[64];
        snprintf(left, sizeof(left), "%s=<%s>", d->name, type);
        printf("  %-22s - %s\n", left, d == &size ? tables[t].size_help : d->help);
    }
}

void img_foreign_print_formatting(const char *path, const char *format,
                                  const struct block_create_opts *o, const struct img_optlist *list)
{
    int t = find_table(format);
    if (t < 0)
        return;
    printf("Formatting '%s', fmt=%s size=%llu", path, format, (unsigned long long)o->size);
    for (const struct fmt_opt *d = tables[t].opts; d->name; d++) {
        const char *v = img_optlist_get(list, d->name);
        if (strcmp(d->name, "backing_file") == 0)
            v = o->backing_file;
        else if (strcmp(d->name, "backing_fmt") == 0)
            v = o->backing_format;
        if (!v && !d->def)
            continue;
        if (v && d->type == T_SIZE) {
            uint64_t z = 0;
            str_parse_size(v, 1, &z);
            printf(" %s=%llu", d->name, (unsigned long long)z);
        } else {
            printf(" %s=%s", d->name, v ? v : d->def);
        }
    }
    printf("\n");
}
