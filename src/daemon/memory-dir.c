/*
 * memory-dir.c - <memoryBacking><source type='file'/>: guest RAM in files of
 * qemu.conf's memory_backing_dir, laid out as libvirt 9.0 lays it out. Each
 * running domain has a directory ID-NAME there (libvirt's short name: the
 * domain id, a dash, at most 20 characters of the name) holding one file per
 * memory backend, named after it (pc.ram, ram-nodeN, dimmN: vmm-argv.c writes
 * the mem-path= of each). vireo-vmm creates the files; vireod makes the
 * directory before the start and removes it, files and all, when the VM ends
 * or its start fails, as libvirt does at qemuProcessStop.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/domain_conf.h"
#include "conf/xnode.h"
#include "daemon/tune.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"

bool vd_memory_dir_wanted(const struct domain_def *def)
{
    const struct xnode *src =
        def->memory_backing ? xnode_child(def->memory_backing, "source") : NULL;
    const char *type = src ? xnode_attr(src, "type") : NULL;
    /* huge pages win, as libvirt: guest RAM then comes from the hugetlbfs mount */
    return type && !strcmp(type, "file") && !xnode_child(def->memory_backing, "hugepages");
}

/* The bytes of the first 20 characters (UTF-8 code points) of name. */
static int short_len(const char *name)
{
    int chars = 0, i = 0;
    for (; name[i]; i++) {
        if (((unsigned char)name[i] & 0xc0) != 0x80 && chars++ == 20)
            break;
    }
    return i;
}

char *vd_memory_dir_path(const char *memory_dir, int id, const char *name)
{
    return xasprintf("%s/%d-%.*s", memory_dir, id, short_len(name), name);
}

/* Whether a directory entry is ID-SHORTNAME of the domain (any id). */
static bool entry_is_domain(const char *entry, const char *name)
{
    const char *p = entry;
    if (*p == '-') /* libvirt's -1 for a domain that is not running (domxml-to-native) */
        p++;
    if (*p < '0' || *p > '9')
        return false;
    while (*p >= '0' && *p <= '9')
        p++;
    int n = short_len(name);
    return *p == '-' && (int)strlen(p + 1) == n && !strncmp(p + 1, name, (size_t)n);
}

static void remove_dir(const char *path)
{
    DIR *dir = opendir(path);
    struct dirent *e;
    while (dir && (e = readdir(dir)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
            unlinkat(dirfd(dir), e->d_name, 0) < 0)
            log_warn("cannot remove %s/%s: %s", path, e->d_name, strerror(errno));
    if (dir)
        closedir(dir);
    if (rmdir(path) < 0 && errno != ENOENT)
        log_warn("cannot remove %s: %s", path, strerror(errno));
}

void vd_memory_dir_remove(const char *memory_dir, const char *name)
{
    DIR *dir = memory_dir ? opendir(memory_dir) : NULL;
    struct dirent *e;
    while (dir && (e = readdir(dir))) {
        if (!entry_is_domain(e->d_name, name))
            continue;
        char *p = xasprintf("%s/%s", memory_dir, e->d_name);
        remove_dir(p);
        free(p);
    }
    if (dir)
        closedir(dir);
}

int vd_memory_dir_make(const char *memory_dir, const char *path, long uid, long gid,
                       struct verr *err)
{
    if (mkdir(memory_dir, 0755) < 0 && errno != EEXIST)
        return verr_errno(err, errno, "cannot create memory_backing_dir '%s'", memory_dir);
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return verr_errno(err, errno, "cannot create the guest memory directory '%s'", path);
    /* the VMM's user may need it after dropping privileges (a DIMM plugged later) */
    if (uid >= 0 && chown(path, (uid_t)uid, (gid_t)(gid >= 0 ? gid : -1)) < 0) {
        int r = verr_errno(err, errno, "cannot give '%s' to uid %ld", path, uid);
        rmdir(path);
        return r;
    }
    return 0;
}
