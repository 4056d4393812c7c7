/*
 * nvram.c - a domain's UEFI variable store: its default path and the
 * per-domain copy of the template (see nvram.h).
 *
 * libvirt makes NAME_VARS.fd from the template at the first start and keeps
 * it from then on (the guest's firmware writes its variables there through
 * pflash unit 1); vireod does the same. The copy is written to a temporary
 * file and renamed, so a crash never leaves a half-copied store that a
 * later start would take for the real one.
 */
#include "daemon/nvram.h"
#include "conf/xnode.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/file.h"
#include "util/mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Firmware variable stores are 128 KiB to 4 MiB; anything much larger is not one. */
#define NVRAM_TEMPLATE_MAX (64u << 20)

void vd_nvram_default_path(struct domain_def *def, const char *dir)
{
    if (!def->os_nvram || !dir)
        return;
    char *libvirt_default = xasprintf("/var/lib/libvirt/qemu/nvram/%s_VARS.fd", def->name);
    if (strcmp(def->os_nvram, libvirt_default) == 0) {
        free(def->os_nvram);
        def->os_nvram = xasprintf("%s/%s_VARS.fd", dir, def->name);
    }
    free(libvirt_default);
}

/* mkdir -p of the directory holding path. */
static int make_parent(const char *path, struct verr *err)
{
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    int r = 0;
    if (slash && slash != dir) {
        *slash = 0;
        for (char *p = dir + 1; r == 0; p++) {
            bool end = *p == 0;
            if (*p != '/' && !end)
                continue;
            *p = 0;
            if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                r = verr_errno(err, errno, "cannot create directory %s", dir);
            if (end)
                break;
            *p = '/';
        }
    }
    free(dir);
    return r;
}

int vd_nvram_prepare(const struct domain_def *def, struct verr *err)
{
    if (!def->os_nvram)
        return 0;
    struct stat st;
    if (stat(def->os_nvram, &st) == 0) {
        if (!S_ISREG(st.st_mode))
            return verr_set(err, EINVAL, "<nvram> '%s' is not a regular file", def->os_nvram);
        return 0;
    }
    if (errno != ENOENT)
        return verr_errno(err, errno, "cannot access <nvram> '%s'", def->os_nvram);
    const char *tmpl = def->os_nvram_node ? xnode_attr(def->os_nvram_node, "template") : NULL;
    if (!tmpl || !*tmpl)
        return verr_set(err, ENOENT,
                        "operation failed: unable to find any master var store for loader: %s",
                        def->os_loader ? def->os_loader : "");
    struct buf data = BUF_INIT;
    int r = file_read_all(tmpl, NVRAM_TEMPLATE_MAX, &data, err);
    if (r == 0 && data.len == 0)
        r = verr_set(err, EINVAL, "<nvram template='%s'>: the template is empty", tmpl);
    if (r == 0)
        r = make_parent(def->os_nvram, err);
    if (r == 0)
        r = file_replace_atomic(def->os_nvram, data.data, data.len, 0600, err);
    buf_free(&data);
    return r;
}
