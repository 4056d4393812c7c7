/*
 * drive-snapshot.c - the temporary overlay of -snapshot (drive-snapshot.h).
 * QEMU names it vl.XXXXXX in $TMPDIR or /var/tmp and deletes it when the
 * drive closes; here it is unlinked as soon as it is open, so a killed VMM
 * leaves nothing behind either.
 */
#include "vmm/drive-snapshot.h"
#include "util/mem.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int drive_snapshot_open(const char *file, const struct block_open_opts *base,
                        struct block_dev **out, struct verr *err)
{
    const char *format = base->format;
    char *abs = realpath(file, NULL);
    if (!abs)
        return verr_errno(err, errno, "-snapshot: cannot open '%s'", file);
    /* The overlay's header names the backing format; probe it when the drive does not say. */
    char fmt[16] = "";
    if (!format) {
        struct block_dev *probe;
        struct block_open_opts po = {
            .read_only = true, .no_backing = true, .no_io = true, .locking = BLOCK_LOCKING_OFF};
        int r = block_open(abs, &po, &probe, err);
        if (r < 0) {
            free(abs);
            return r;
        }
        snprintf(fmt, sizeof(fmt), "%s", block_format(probe));
        block_close(probe);
        format = fmt;
    }
    const char *dir = getenv("TMPDIR");
    char *path = xasprintf("%s/vl.XXXXXX", dir && *dir ? dir : "/var/tmp");
    int fd = mkstemp(path);
    int r;
    if (fd < 0) {
        r = verr_errno(err, errno, "-snapshot: cannot create a temporary file '%s'", path);
        free(path);
        free(abs);
        return r;
    }
    close(fd);
    struct block_create_opts co = {.backing_file = abs, .backing_format = format};
    r = block_create(path, "qcow2", &co, err);
    if (r == 0) {
        struct block_keys keys = {.backing = base->keys};
        struct block_open_opts oo = {.format = "qcow2",
                                     .cache = base->cache,
                                     .keys = &keys,
                                     .locking = base->locking,
                                     .no_shared_write = base->no_shared_write};
        r = block_open(path, &oo, out, err);
    }
    if (r < 0)
        verr_prefix(err, "-snapshot: temporary overlay over '%s'", file);
    unlink(path);
    free(path);
    free(abs);
    return r;
}
