/*
 * bootorder.c - see bootorder.h. Error words follow QEMU 7.2's.
 */
#include "vmm/boot/bootorder.h"
#include "util/mem.h"
#include "util/str.h"
#include "vmm/cli-opts.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void boot_options_init(struct boot_options *b)
{
    memset(b, 0, sizeof(*b));
    strcpy(b->order, "cad");
    b->splash_time = -1;
    b->reboot_timeout = -1;
}

/* QEMU's pc accepts drive letters a-p; a, b floppy, c disk, d CD-ROM, n-p network. */
static int check_drives(const char *v, struct verr *err)
{
    bool seen[26] = {false};
    if (strlen(v) >= sizeof(((struct boot_options *)0)->order))
        return verr_set(err, EINVAL, "Too many boot devices for PC");
    for (const char *p = v; *p; p++) {
        if (*p < 'a' || *p > 'p')
            return verr_set(err, EINVAL, "Invalid boot device '%c'", *p);
        if (seen[*p - 'a'])
            return verr_set(err, EINVAL, "Boot device '%c' was given twice", *p);
        seen[*p - 'a'] = true;
    }
    return 0;
}

static int parse_ms(const char *key, const char *v, int min, int *out, struct verr *err)
{
    int64_t n;
    if (!v || str_to_i64(v, 10, &n) < 0 || n < min || n > 0xffff)
        return verr_set(err, EINVAL, "-boot %s=%s: a number of milliseconds from %d to 65535", key,
                        v ? v : "", min);
    *out = (int)n;
    return 0;
}

int boot_options_parse(struct boot_options *b, const char *arg, struct verr *err)
{
    char *copy = xstrdup(arg), *cur = copy, *item;
    bool first = true;
    int r = 0;
    const char *v;
    while (r == 0 && (item = cli_next_item(&cur))) {
        bool on;
        if ((first && !strchr(item, '=')) || cli_prop(item, "order", &v)) {
            v = strchr(item, '=') ? v : item;
            if ((r = check_drives(v, err)) == 0)
                strcpy(b->order, v);
        } else if (cli_prop(item, "once", &v)) {
            if ((r = check_drives(v, err)) == 0)
                strcpy(b->once, v);
        } else if (cli_prop(item, "menu", &v)) {
            if (cli_parse_bool(v, &on) < 0)
                r = verr_set(err, EINVAL, "Parameter 'menu' expects 'on' or 'off'");
            else
                b->menu = on;
        } else if (cli_prop(item, "strict", &v)) {
            if (cli_parse_bool(v, &on) < 0)
                r = verr_set(err, EINVAL, "Parameter 'strict' expects 'on' or 'off'");
            else
                b->strict = on;
        } else if (cli_prop(item, "splash-time", &v)) {
            r = parse_ms("splash-time", v, 0, &b->splash_time, err);
        } else if (cli_prop(item, "reboot-timeout", &v)) {
            r = parse_ms("reboot-timeout", v, -1, &b->reboot_timeout, err);
        } else if (cli_prop(item, "splash", &v)) {
            r = verr_set(err, ENOTSUP,
                         "-boot splash=: boot splash images are not supported by vireo-vmm");
        } else {
            r = verr_set(err, EINVAL, "Parameter 'boot.%.*s' is unexpected",
                         (int)strcspn(item, "="), item);
        }
        first = false;
    }
    free(copy);
    return r;
}

static int cmp_entry(const void *a, const void *b)
{
    const struct boot_entry *x = a, *y = b;
    return x->index < y->index ? -1 : x->index > y->index;
}

void bootorder_file(const struct boot_entry *e, unsigned n, bool strict, struct buf *out)
{
    struct boot_entry *sorted = xcalloc(n ? n : 1, sizeof(*sorted));
    if (n)
        memcpy(sorted, e, n * sizeof(*e));
    qsort(sorted, n, sizeof(*sorted), cmp_entry);
    for (unsigned i = 0; i < n; i++)
        buf_printf(out, "%s%s", i ? "\n" : "", sorted[i].path);
    if (strict && n)
        buf_append_str(out, "\nHALT");
    if (out->len)
        buf_append_byte(out, 0);
    free(sorted);
}

void bootorder_cmos(const char *order, uint8_t *reg3d, uint8_t *reg38)
{
    /* SeaBIOS's codes: 1 floppy, 2 disk, 3 CD-ROM, 4 network; three nibbles. */
    uint8_t code[3] = {0, 0, 0};
    for (unsigned i = 0; i < 3 && order[i]; i++) {
        char d = order[i];
        code[i] = d == 'a' || d == 'b' ? 1 : d == 'c' ? 2 : d == 'd' ? 3 : d >= 'n' ? 4 : 0;
    }
    *reg3d = (uint8_t)(code[1] << 4 | code[0]);
    *reg38 = (uint8_t)(code[2] << 4); /* bit 0 clear: check the floppy boot signature */
}
