/*
 * firmware-select.c - see firmware-select.h.
 *
 * A descriptor is a JSON file (QEMU's docs/interop/firmware.json): its
 * interface-types, mapping (device flash: executable and nvram-template,
 * both raw here), targets (architecture, machine globs) and features. As
 * libvirt, descriptors are taken in the order of their file names across the
 * directories, a name in a higher directory hiding the same name below (an
 * empty file hides it altogether).
 *
 * Where vireod differs from libvirt 9.0, on purpose: a descriptor that
 * requires SMM (requires-smm: the Secure Boot builds) is never chosen,
 * because vireo-vmm has no System Management Mode; libvirt picks Debian's
 * secure, enrolled-keys build for q35 and turns SMM on. Asking for
 * <feature enabled='yes' name='secure-boot'/> therefore finds no firmware.
 */
#include "daemon/firmware-select.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conf/xnode.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"
#include "util/mem.h"

#define DESCRIPTOR_MAX (1u << 20)

static char *root_dir; /* ROOT/etc/qemu/firmware, or NULL */

void vd_firmware_set_root(const char *root)
{
    free(root_dir);
    root_dir = root ? xasprintf("%s/etc/qemu/firmware", root) : NULL;
}

int vd_firmware_check(const struct domain_def *def, struct verr *err)
{
    bool acpi = false;
    for (size_t i = 0; def->features && i < def->features->nkids; i++)
        acpi |= def->features->kids[i]->name && !strcmp(def->features->kids[i]->name, "acpi");
    if (def->os_firmware && !strcmp(def->os_firmware, "efi") && !acpi)
        return verr_set(err, ENOTSUP,
                        "unsupported configuration: UEFI requires ACPI on this architecture");
    return 0;
}

/* The descriptor files in precedence order of name: paths[i] for names sorted. */
struct found {
    char *name, *path;
};

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct found *)a)->name, ((const struct found *)b)->name);
}

static size_t list_descriptors(struct found **out)
{
    const char *dirs[] = {root_dir, "/etc/qemu/firmware", "/usr/share/qemu/firmware"};
    struct found *f = NULL;
    size_t n = 0;
    for (size_t d = 0; d < 3; d++) {
        DIR *dir = dirs[d] ? opendir(dirs[d]) : NULL;
        struct dirent *e;
        while (dir && (e = readdir(dir))) {
            size_t l = strlen(e->d_name);
            if (l < 6 || strcmp(e->d_name + l - 5, ".json") != 0)
                continue;
            bool seen = false;
            for (size_t i = 0; i < n && !seen; i++)
                seen = !strcmp(f[i].name, e->d_name);
            if (seen) /* a higher directory's file of that name wins */
                continue;
            f = xrealloc(f, (n + 1) * sizeof(*f));
            f[n].name = xstrdup(e->d_name);
            f[n].path = xasprintf("%s/%s", dirs[d], e->d_name);
            n++;
        }
        if (dir)
            closedir(dir);
    }
    if (n)
        qsort(f, n, sizeof(*f), by_name);
    *out = f;
    return n;
}

static void free_found(struct found *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(f[i].name);
        free(f[i].path);
    }
    free(f);
}

static bool array_has(json_object *arr, const char *s)
{
    size_t n = json_object_is_type(arr, json_type_array) ? json_object_array_length(arr) : 0;
    for (size_t i = 0; i < n; i++) {
        const char *v = json_object_get_string(json_object_array_get_idx(arr, i));
        if (v && !strcmp(v, s))
            return true;
    }
    return false;
}

static const char *str_at(json_object *o, const char *a, const char *b)
{
    json_object *x = NULL, *y = NULL;
    if (!json_object_object_get_ex(o, a, &x))
        return NULL;
    if (b && !json_object_object_get_ex(x, b, &y))
        return NULL;
    return json_object_get_string(b ? y : x);
}

/* A raw flash image (format absent or raw). */
static bool raw_file(json_object *mapping, const char *what, const char **file)
{
    json_object *o = NULL;
    if (!json_object_object_get_ex(mapping, what, &o))
        return false;
    const char *fmt = str_at(o, "format", NULL);
    *file = str_at(o, "filename", NULL);
    return *file && (!fmt || !strcmp(fmt, "raw"));
}

/* Whether descriptor d is UEFI firmware vireo-vmm can run for machine, meeting the wanted
 * features (the <os><firmware> element, or NULL); its executable and template. */
static bool usable(json_object *d, const char *machine, const struct xnode *want, const char **code,
                   const char **vars)
{
    json_object *ifs = NULL, *mapping = NULL, *targets = NULL, *features = NULL;
    json_object_object_get_ex(d, "interface-types", &ifs);
    json_object_object_get_ex(d, "features", &features);
    if (!array_has(ifs, "uefi") || !json_object_object_get_ex(d, "mapping", &mapping))
        return false;
    const char *device = str_at(mapping, "device", NULL);
    if (!device || strcmp(device, "flash") || !raw_file(mapping, "executable", code) ||
        !raw_file(mapping, "nvram-template", vars))
        return false;
    if (array_has(features, "requires-smm")) /* no SMM in vireo-vmm */
        return false;
    bool target = false;
    size_t nt = json_object_object_get_ex(d, "targets", &targets) &&
                        json_object_is_type(targets, json_type_array)
                    ? json_object_array_length(targets)
                    : 0;
    for (size_t i = 0; i < nt && !target; i++) {
        json_object *t = json_object_array_get_idx(targets, i), *machines = NULL;
        const char *arch = str_at(t, "architecture", NULL);
        if (!arch || strcmp(arch, "x86_64") || !json_object_object_get_ex(t, "machines", &machines))
            continue;
        size_t nm =
            json_object_is_type(machines, json_type_array) ? json_object_array_length(machines) : 0;
        for (size_t k = 0; k < nm && !target; k++) {
            const char *glob = json_object_get_string(json_object_array_get_idx(machines, k));
            target = glob && machine && fnmatch(glob, machine, 0) == 0;
        }
    }
    if (!target)
        return false;
    /* <feature enabled='yes|no' name='secure-boot|enrolled-keys'/>: present or absent */
    for (size_t i = 0; want && i < want->nkids; i++) {
        const struct xnode *f = want->kids[i];
        const char *name = f->name ? xnode_attr(f, "name") : NULL;
        const char *en = f->name ? xnode_attr(f, "enabled") : NULL;
        if (!name || !en)
            continue;
        if (array_has(features, name) != !strcmp(en, "yes"))
            return false;
    }
    return true;
}

/* Each descriptor usable for machine and want, in precedence order, handed to take until it
 * returns false. */
static void scan(const char *machine, const struct xnode *want,
                 bool (*take)(void *opaque, const char *code, const char *vars), void *opaque)
{
    struct found *f;
    size_t n = list_descriptors(&f);
    bool more = true;
    for (size_t i = 0; i < n && more; i++) {
        struct buf b = BUF_INIT;
        struct verr e = {0};
        if (file_read_all(f[i].path, DESCRIPTOR_MAX, &b, &e) < 0 || b.len == 0) {
            buf_free(&b); /* an empty file only hides the name */
            continue;
        }
        buf_append(&b, "", 1);
        json_object *d = json_tokener_parse((const char *)b.data);
        buf_free(&b);
        if (!d) {
            log_warn("firmware descriptor %s: not JSON, skipped", f[i].path);
            continue;
        }
        const char *c, *v;
        if (usable(d, machine, want, &c, &v))
            more = take(opaque, c, v);
        json_object_put(d);
    }
    free_found(f, n);
}

struct choice {
    char *code, *vars;
};

static bool take_first(void *opaque, const char *code, const char *vars)
{
    struct choice *ch = opaque;
    ch->code = xstrdup(code);
    ch->vars = xstrdup(vars);
    return false;
}

static const struct xnode *os_firmware_element(const struct domain_def *def, size_t *at)
{
    for (size_t i = 0; i < def->nos_extra; i++)
        if (!strcmp(def->os_extra[i]->name, "firmware")) {
            *at = i;
            return def->os_extra[i];
        }
    return NULL;
}

int vd_firmware_fill(struct domain_def *def, const char *nvram_dir, struct verr *err)
{
    if (!def->os_firmware || strcmp(def->os_firmware, "efi") != 0 || def->os_loader)
        return 0;
    size_t at = 0;
    const struct xnode *want = os_firmware_element(def, &at);
    struct choice ch = {NULL, NULL};
    scan(def->os_machine, want, take_first, &ch);
    if (!ch.code)
        return verr_set(err, ENOENT,
                        "operation failed: Unable to find any firmware to satisfy 'efi'");
    char *vars = ch.vars;
    def->os_loader = ch.code;
    xnode_free(def->os_loader_node);
    def->os_loader_node = xnode_new("loader");
    xnode_set_attr(def->os_loader_node, "readonly", "yes");
    xnode_set_attr(def->os_loader_node, "type", "pflash");
    if (!def->os_nvram)
        def->os_nvram = xasprintf("%s/%s_VARS.fd", nvram_dir, def->name);
    if (!def->os_nvram_node)
        def->os_nvram_node = xnode_new("nvram");
    if (!xnode_attr(def->os_nvram_node, "template"))
        xnode_set_attr(def->os_nvram_node, "template", vars);
    free(vars);
    free(def->os_firmware); /* the live XML names what was chosen instead */
    def->os_firmware = NULL;
    if (want) {
        xnode_free(def->os_extra[at]);
        memmove(&def->os_extra[at], &def->os_extra[at + 1],
                (def->nos_extra - at - 1) * sizeof(*def->os_extra));
        def->nos_extra--;
    }
    return 0;
}

static bool take_path(void *opaque, const char *code, const char *vars)
{
    (void)vars;
    buf_printf(opaque, "      <value>%s</value>\n", code);
    return true;
}

void vd_firmware_domcaps(struct buf *b, const char *machine)
{
    struct buf paths = BUF_INIT;
    scan(machine, NULL, take_path, &paths);
    if (paths.len)
        buf_printf(b, "    <enum name='firmware'>\n      <value>efi</value>\n    </enum>\n");
    else
        buf_printf(b, "    <enum name='firmware'/>\n");
    buf_printf(b, "    <loader supported='yes'>\n");
    if (paths.len)
        buf_append(b, paths.data, paths.len);
    buf_free(&paths);
}
