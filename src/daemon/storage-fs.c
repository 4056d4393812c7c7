/*
 * storage-fs.c - the file system pool's host side: its block device made a
 * file system (mkfs), mounted at the pool's directory when the pool starts
 * and unmounted when it stops, with Debian's mount, umount, mkfs and blkid
 * (util-linux, e2fsprogs), as libvirt's fs backend uses them. Once mounted,
 * an fs pool's volumes are a dir pool's (storage-vol.c).
 *
 * The tools run synchronously on the daemon's loop (each takes a moment);
 * a failure comes back as the tool's last line of stderr, naming the device.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/storage.h"
#include "util/buf.h"
#include "util/mem.h"

extern char **environ;

/* Runs argv (by PATH); 0, or an error with what failed and the tool's last stderr line. With
 * out, its stdout (first line) goes there. */
static int run_tool(const char *const argv[], char *out, size_t outsz, int *status,
                    struct verr *err)
{
    int epipe[2], opipe[2];
    if (pipe2(epipe, O_CLOEXEC) < 0)
        return verr_errno(err, errno, "cannot run %s", argv[0]);
    if (pipe2(opipe, O_CLOEXEC) < 0) {
        close(epipe[0]);
        close(epipe[1]);
        return verr_errno(err, errno, "cannot run %s", argv[0]);
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, opipe[1], 1);
    posix_spawn_file_actions_adddup2(&fa, epipe[1], 2);
    pid_t pid;
    int r = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(epipe[1]);
    close(opipe[1]);
    if (r != 0) {
        close(epipe[0]);
        close(opipe[0]);
        return verr_errno(err, r, "cannot run %s", argv[0]);
    }
    struct buf eb = BUF_INIT, ob = BUF_INIT;
    char chunk[4096];
    ssize_t n;
    while ((n = read(opipe[0], chunk, sizeof(chunk))) > 0 || (n < 0 && errno == EINTR))
        if (n > 0 && ob.len < 65536)
            buf_append(&ob, chunk, (size_t)n);
    while ((n = read(epipe[0], chunk, sizeof(chunk))) > 0 || (n < 0 && errno == EINTR))
        if (n > 0 && eb.len < 65536)
            buf_append(&eb, chunk, (size_t)n);
    close(epipe[0]);
    close(opipe[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (out) {
        const char *o = buf_cstr(&ob);
        size_t l = strcspn(o, "\n");
        snprintf(out, outsz, "%.*s", (int)l, o);
    }
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (status)
        *status = code;
    r = 0;
    if (code != 0 && !status) {
        /* the first non-empty line of stderr says why (mount's later lines point to dmesg) */
        const char *e = buf_cstr(&eb);
        while (*e == '\n' || *e == ' ')
            e++;
        char last[512];
        snprintf(last, sizeof(last), "%.*s", (int)strcspn(e, "\n"), e);
        struct buf cmd = BUF_INIT;
        for (size_t i = 0; argv[i]; i++)
            buf_printf(&cmd, "%s%s", i ? " " : "", argv[i]);
        r = verr_set(err, EIO, "internal error: Child process (%s) unexpected exit status %d%s%s",
                     buf_cstr(&cmd), code, *last ? ": " : "", last);
        buf_free(&cmd);
    }
    buf_free(&eb);
    buf_free(&ob);
    return r;
}

/* /proc/self/mountinfo's fifth field, with its octal escapes undone. */
bool vd_fs_mounted(const char *target)
{
    char real[4096]; /* mountinfo shows the path with its symlinks resolved */
    if (realpath(target, real))
        target = real;
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return false;
    char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f)) {
        char *save = NULL, *tok = strtok_r(line, " ", &save);
        for (int i = 0; tok && i < 4; i++)
            tok = strtok_r(NULL, " ", &save);
        if (!tok)
            continue;
        char path[4096];
        size_t o = 0;
        for (const char *s = tok; *s && o + 1 < sizeof(path); s++) {
            if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] && s[3]) {
                path[o++] = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
                s += 3;
            } else {
                path[o++] = *s;
            }
        }
        path[o] = '\0';
        found = strcmp(path, target) == 0;
    }
    fclose(f);
    return found;
}

int vd_fs_mount(const struct vd_pool *p, struct verr *err)
{
    const struct storage_pool_def *d = p->def;
    struct stat st;
    if (stat(d->source_device, &st) < 0)
        return verr_errno(err, errno, "cannot find source device '%s'", d->source_device);
    if (vd_fs_mounted(d->target_path))
        return verr_set(err, EBUSY,
                        "Requested operation is not valid: Target '%s' is already "
                        "mounted",
                        d->target_path);
    bool autofmt = strcmp(d->source_format, "auto") == 0;
    const char *argv[] = {"mount",
                          autofmt ? d->source_device : "-t",
                          autofmt ? d->target_path : d->source_format,
                          autofmt ? NULL : d->source_device,
                          autofmt ? NULL : d->target_path,
                          NULL};
    return run_tool(argv, NULL, 0, NULL, err);
}

int vd_fs_unmount(const struct vd_pool *p, struct verr *err)
{
    if (!vd_fs_mounted(p->def->target_path))
        return 0;
    const char *argv[] = {"umount", p->def->target_path, NULL};
    return run_tool(argv, NULL, 0, NULL, err);
}

/* What file system the device holds ("" for none), by blkid's low-level probe. */
static int probe_fs(const char *dev, char *type, size_t size, struct verr *err)
{
    const char *argv[] = {"blkid", "-p", "-o", "value", "-s", "TYPE", dev, NULL};
    int status;
    int r = run_tool(argv, type, size, &status, err);
    if (r < 0)
        return r;
    if (status == 2) /* nothing found */
        type[0] = '\0';
    else if (status != 0)
        return verr_set(err, EIO, "cannot probe device '%s' for a file system (blkid exit %d)", dev,
                        status);
    return 0;
}

int vd_fs_make(const struct vd_pool *p, bool overwrite, struct verr *err)
{
    const struct storage_pool_def *d = p->def;
    struct stat st;
    if (stat(d->source_device, &st) < 0)
        return verr_errno(err, errno, "cannot find source device '%s'", d->source_device);
    if (strcmp(d->source_format, "auto") == 0)
        return verr_set(err, ENOTSUP,
                        "unsupported configuration: pool '%s' needs a <source><format> other than "
                        "'auto' for a file system to be made on '%s'",
                        d->name, d->source_device);
    if (vd_fs_mounted(d->target_path))
        return verr_set(err, EBUSY, "Requested operation is not valid: Target '%s' is mounted",
                        d->target_path);
    if (!overwrite) {
        char type[64];
        int r = probe_fs(d->source_device, type, sizeof(type), err);
        if (r < 0)
            return r;
        if (type[0])
            return verr_set(err, EEXIST,
                            "Storage pool already built: Device '%s' already formatted using "
                            "'%s'",
                            d->source_device, type);
    }
    bool ext = strncmp(d->source_format, "ext", 3) == 0, xfs = strcmp(d->source_format, "xfs") == 0;
    const char *argv[] = {"mkfs",
                          "-t",
                          d->source_format,
                          ext   ? "-F"
                          : xfs ? "-f"
                                : d->source_device,
                          ext || xfs ? d->source_device : NULL,
                          NULL};
    return run_tool(argv, NULL, 0, NULL, err);
}
