/*
 * storage-vol.c - the volumes of a dir pool: every regular file of its
 * directory is a volume named by its file name, keyed and located by its
 * path, its format probed from its content (raw when nothing else matches,
 * as libvirt does). The directory is read at each call, so a file copied in
 * by hand is seen without a refresh.
 *
 * Creation, cloning, resizing and wiping go through the block layer
 * (src/block, vireo-img's library): what qemu-img would make, vireod makes.
 * A volume whose creation fails is removed, never left half written. Names
 * are plain file names (no '/', not . or ..), so nothing lands outside the
 * pool's directory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/block.h"
#include "block/secret.h"
#include "daemon/storage.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"

#define COPY_CHUNK (1u << 20)

void vd_vol_clear(struct vd_vol *v)
{
    free(v->name);
    free(v->path);
    memset(v, 0, sizeof(*v));
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

size_t vd_vol_list(struct vd_pool *p, char ***names)
{
    *names = NULL;
    DIR *dh = opendir(p->def->target_path);
    if (!dh)
        return 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(dh))) {
        if (e->d_name[0] == '.')
            continue;
        struct stat st;
        if (fstatat(dirfd(dh), e->d_name, &st, 0) < 0 || !S_ISREG(st.st_mode))
            continue;
        *names = xrealloc(*names, (n + 1) * sizeof(**names));
        (*names)[n++] = xstrdup(e->d_name);
    }
    closedir(dh);
    if (n)
        qsort(*names, n, sizeof(**names), cmp_names);
    return n;
}

void vd_vol_names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

int vd_vol_lookup(struct vd_pool *p, const char *name, struct vd_vol *out)
{
    memset(out, 0, sizeof(*out));
    if (!vd_storage_name_ok(name) || name[0] == '.')
        return -EINVAL;
    char *path = xasprintf("%s/%s", p->def->target_path, name);
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
        free(path);
        return -ENOENT;
    }
    out->pool = p;
    out->name = xstrdup(name);
    out->path = path;
    return 0;
}

int vd_vol_lookup_path(struct vd_storage *s, const char *path, struct vd_vol *out)
{
    memset(out, 0, sizeof(*out));
    char real[PATH_MAX];
    if (!realpath(path, real))
        return -ENOENT;
    const char *slash = strrchr(real, '/');
    for (struct vd_pool *p = s->pools; p; p = p->next) {
        char dir[PATH_MAX];
        if (!p->active || !realpath(p->def->target_path, dir))
            continue;
        size_t l = strlen(dir);
        if ((size_t)(slash - real) == l && strncmp(real, dir, l) == 0)
            return vd_vol_lookup(p, slash + 1, out);
    }
    return -ENOENT;
}

int vd_vol_format(const char *path, char *fmt, size_t size)
{
    struct block_open_opts o = {
        .read_only = true, .no_backing = true, .no_io = true, .locking = BLOCK_LOCKING_OFF};
    struct block_dev *bd;
    struct verr e = {0};
    snprintf(fmt, size, "raw");
    if (block_open(path, &o, &bd, &e) < 0)
        return -EIO;
    snprintf(fmt, size, "%s", block_format(bd));
    block_close(bd);
    return 0;
}

/* Metadata of one layer: format, virtual size, backing file. */
static int vol_open_info(const char *path, struct block_info *info, struct verr *err)
{
    struct block_open_opts o = {
        .read_only = true, .no_backing = true, .no_io = true, .locking = BLOCK_LOCKING_OFF};
    struct block_dev *bd;
    int r = block_open(path, &o, &bd, err);
    if (r < 0)
        return r;
    r = block_get_info(bd, info, err);
    block_close(bd);
    return r;
}

int vd_vol_info(const struct vd_vol *v, uint64_t *capacity, uint64_t *allocation, struct verr *err)
{
    struct stat st;
    if (stat(v->path, &st) < 0)
        return verr_errno(err, errno, "cannot stat file '%s'", v->path);
    *allocation = (uint64_t)st.st_blocks * 512;
    *capacity = (uint64_t)st.st_size;
    struct block_info info = {0};
    struct verr e = {0};
    if (vol_open_info(v->path, &info, &e) == 0) /* an unreadable image is a raw file */
        *capacity = info.virtual_size;
    block_info_free(&info);
    return 0;
}

bool vd_vol_encrypted(const char *path)
{
    struct block_info info = {0};
    struct verr e = {0};
    bool enc = vol_open_info(path, &info, &e) == 0 && info.encrypted && info.crypt &&
               strcmp(info.crypt->format, "luks") == 0;
    block_info_free(&info);
    return enc;
}

char *vd_vol_xml(const struct vd_vol *v, const char *secret_uuid, struct verr *err)
{
    struct stat st;
    if (stat(v->path, &st) < 0) {
        verr_errno(err, errno, "cannot stat file '%s'", v->path);
        return NULL;
    }
    struct storage_vol_def def = {0};
    def.name = v->name;
    def.key = v->path;
    def.target_path = v->path;
    def.type = (char *)"file";
    def.capacity = (uint64_t)st.st_size;
    def.allocation = (uint64_t)st.st_blocks * 512;
    def.has_allocation = 1;
    def.perms.mode = (int)(st.st_mode & 07777);
    def.perms.owner = st.st_uid;
    def.perms.group = st.st_gid;
    struct block_info info = {0};
    struct verr e = {0};
    char fmt[16] = "raw";
    if (vol_open_info(v->path, &info, &e) == 0) {
        def.capacity = info.virtual_size;
        snprintf(fmt, sizeof(fmt), "%s", info.format);
        def.backing_path = info.full_backing_path ? info.full_backing_path : info.backing_file;
        def.backing_format = info.backing_format;
        /* libvirt shows a luks image as a raw volume with LUKS encryption, and a qcow2 one
         * with encrypt.format=luks as qcow2 with it */
        if (info.encrypted && info.crypt && strcmp(info.crypt->format, "luks") == 0) {
            def.encryption_format = (char *)"luks";
            def.secret_uuid = (char *)secret_uuid;
            if (strcmp(fmt, "luks") == 0)
                snprintf(fmt, sizeof(fmt), "raw");
        }
    }
    def.format = fmt;
    char *xml = storage_vol_def_format(&def);
    block_info_free(&info);
    return xml;
}

/* Copies src's guest view into dst, leaving what reads as zeroes unwritten
 * when dst_zero (a fresh image reads as zeroes). */
static int copy_data(struct block_dev *src, struct block_dev *dst, bool dst_zero, struct verr *err)
{
    uint64_t size = block_size(src), dsize = block_size(dst);
    if (dsize < size)
        size = dsize;
    uint8_t *buf = xmalloc(COPY_CHUNK);
    int r = 0;
    for (uint64_t off = 0; off < size && r == 0;) {
        uint64_t len = size - off < COPY_CHUNK ? size - off : COPY_CHUNK;
        struct block_extent ext;
        if ((r = block_status(src, off, len, BLOCK_STATUS_CHAIN, &ext, err)) < 0)
            break;
        len = ext.length;
        if (!(ext.zero && dst_zero)) {
            if ((r = block_pread(src, buf, len, off, err)) < 0)
                break;
            r = block_pwrite(dst, buf, len, off, err);
        }
        off += len;
    }
    free(buf);
    if (r == 0)
        r = block_flush(dst, err);
    return r;
}

int vd_vol_create_check(const char *dir, const char *xml, unsigned flags,
                        struct storage_vol_def **out, struct verr *err)
{
    *out = NULL;
    flags &= ~(unsigned)VD_VOL_CREATE_VALIDATE; /* the parser always validates */
    if (flags & ~(unsigned)VD_VOL_CREATE_PREALLOC_METADATA) {
        if (flags & VD_VOL_CREATE_REFLINK)
            return verr_set(err, ENOTSUP,
                            "unsupported configuration: reflink copies are not "
                            "supported by Vireo's dir pools");
        return verr_set(err, EINVAL,
                        "invalid argument: unsupported flags (0x%x) in function "
                        "storageVolCreateXML",
                        flags);
    }
    struct storage_vol_def *def;
    int r = storage_vol_def_parse_string(xml, 0, &def, err);
    if (r < 0)
        return r;
    char *path = xasprintf("%s/%s", dir, def->name);
    bool qcow2 = strcmp(def->format, "qcow2") == 0;
    /* <target><path> is the pool's to choose (vol-clone sends the original's): ignored, as
     * libvirt ignores it */
    if (def->name[0] == '.')
        r = verr_set(err, EINVAL, "invalid argument: volume name '%s' must not begin with '.'",
                     def->name);
    else if (access(path, F_OK) == 0)
        r = verr_set(err, EEXIST, "storage volume name '%s' already in use.", def->name);
    else if (!block_format_creatable(def->format) || strcmp(def->format, "luks") == 0)
        r = verr_set(err, ENOTSUP,
                     "unsupported configuration: cannot create volumes of format '%s'",
                     def->format);
    else if (def->encryption_format && !qcow2 && strcmp(def->format, "raw") != 0)
        r = verr_set(err, ENOTSUP,
                     "unsupported configuration: volume encryption unsupported with format %s",
                     def->format);
    else if (def->encryption_format && !def->secret_uuid && !def->secret_usage)
        r = verr_set(err, EINVAL, "XML error: no secret provided for luks encryption");
    else if ((flags & VD_VOL_CREATE_PREALLOC_METADATA) && !qcow2)
        r = verr_set(err, ENOTSUP,
                     "unsupported configuration: metadata preallocation only available with "
                     "qcow2");
    else if (def->backing_path && !qcow2)
        r = verr_set(err, ENOTSUP,
                     "unsupported configuration: format '%s' has no backing store; use qcow2",
                     def->format);
    else if (def->backing_path && access(def->backing_path, R_OK) < 0)
        r = verr_errno(err, errno, "inaccessible backing store volume %s", def->backing_path);
    free(path);
    if (r < 0) {
        storage_vol_def_free(def);
        return r;
    }
    *out = def;
    return 0;
}

int vd_vol_create_data(const char *dir, const struct storage_vol_def *def, unsigned flags,
                       const char *from, const uint8_t *key, size_t key_len, struct verr *err)
{
    char *path = xasprintf("%s/%s", dir, def->name);
    struct block_dev *src = NULL, *dst = NULL;
    bool created = false;
    bool encrypted = def->encryption_format != NULL;
    bool qcow2 = strcmp(def->format, "qcow2") == 0;
    bool raw = strcmp(def->format, "raw") == 0 && !encrypted;
    /* an encrypted raw volume is a luks image (qemu-img create -f luks, as libvirt makes it) */
    const char *format = encrypted && !qcow2 ? "luks" : def->format;
    /* the passphrase reaches the block layer in memory only, as the secret object "sec0" */
    struct secret_store keys = {0};
    struct block_keys open_keys = {.secrets = &keys, .key_secret = "sec0"};
    int r = 0;
    if (encrypted && (r = secret_store_add(&keys, "sec0", key, key_len, err)) < 0)
        goto out;
    char bfmt[16] = {0};
    if (def->backing_path && !def->backing_format)
        vd_vol_format(def->backing_path, bfmt, sizeof(bfmt));
    uint64_t capacity = def->capacity;
    if (from) {
        struct block_open_opts so = {.read_only = true, .force_share = true};
        if ((r = block_open(from, &so, &src, err)) < 0)
            goto out;
        if (capacity < block_size(src))
            capacity = block_size(src);
    }
    if (qcow2 && capacity % 512)
        capacity += 512 - capacity % 512;
    struct block_create_opts co = {0};
    co.size = capacity;
    co.backing_file = def->backing_path;
    co.backing_format = def->backing_format ? def->backing_format : bfmt[0] ? bfmt : NULL;
    if (flags & VD_VOL_CREATE_PREALLOC_METADATA)
        co.prealloc = BLOCK_PREALLOC_METADATA;
    if (encrypted) {
        co.secrets = &keys;
        co.encrypt.key_secret = "sec0";
        co.encrypt.format = qcow2 ? "luks" : NULL;
    }
    /* raw: libvirt allocates what <allocation> asks (all of it when absent) */
    uint64_t alloc = def->has_allocation ? def->allocation : capacity;
    if (raw && !from && alloc >= capacity && capacity)
        co.prealloc = BLOCK_PREALLOC_FALLOC;
    /* O_EXCL's check: a file that appeared since the check is not overwritten */
    int xfd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (xfd < 0) {
        r = errno == EEXIST
                ? verr_set(err, EEXIST, "storage volume name '%s' already in use.", def->name)
                : verr_errno(err, errno, "cannot create '%s'", path);
        goto out;
    }
    close(xfd);
    created = true;
    if ((r = block_create(path, format, &co, err)) < 0)
        goto out;
    if (raw && !from && alloc && alloc < capacity) {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || posix_fallocate(fd, 0, (off_t)alloc) != 0)
            r = verr_errno(err, fd < 0 ? errno : ENOSPC, "cannot allocate %llu bytes for '%s'",
                           (unsigned long long)alloc, path);
        if (fd >= 0)
            close(fd);
        if (r < 0)
            goto out;
    }
    mode_t mode = def->perms.mode >= 0 ? (mode_t)def->perms.mode : 0600;
    if (chmod(path, mode) < 0) {
        r = verr_errno(err, errno, "cannot set mode of '%s' to %04o", path, (unsigned)mode);
        goto out;
    }
    if ((def->perms.owner >= 0 || def->perms.group >= 0) &&
        chown(path, (uid_t)def->perms.owner, (gid_t)def->perms.group) < 0) {
        r = verr_errno(err, errno, "cannot chown '%s' to (%lld, %lld)", path, def->perms.owner,
                       def->perms.group);
        goto out;
    }
    if (src) {
        struct block_open_opts dop = {.format = format, .keys = encrypted ? &open_keys : NULL};
        if ((r = block_open(path, &dop, &dst, err)) < 0)
            goto out;
        r = copy_data(src, dst, block_has_zero_init(dst), err);
    }
out:
    block_close(dst);
    block_close(src);
    secret_store_clear(&keys);
    if (r < 0 && created)
        unlink(path);
    free(path);
    return r;
}

/* Overwrites [0, len) of fd with zeroes or random bytes. */
static int wipe_fd(int fd, uint64_t len, bool random, const char *path, struct verr *err)
{
    uint8_t *buf = xcalloc(1, COPY_CHUNK);
    int r = 0;
    for (uint64_t off = 0; off < len;) {
        size_t n = len - off < COPY_CHUNK ? (size_t)(len - off) : COPY_CHUNK;
        if (random) {
            for (size_t got = 0; got < n;) {
                ssize_t g = getrandom(buf + got, n - got, 0);
                if (g < 0 && errno != EINTR) {
                    r = verr_errno(err, errno, "cannot get random bytes to wipe '%s'", path);
                    goto out;
                }
                got += g > 0 ? (size_t)g : 0;
            }
        }
        ssize_t w = pwrite(fd, buf, n, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            r = verr_errno(err, w < 0 ? errno : EIO, "failed to write %zu bytes to '%s'", n, path);
            goto out;
        }
        off += (uint64_t)w;
    }
    if (fdatasync(fd) < 0)
        r = verr_errno(err, errno, "cannot sync data to file '%s'", path);
out:
    free(buf);
    return r;
}

int vd_vol_wipe_check(unsigned algorithm, unsigned flags, struct verr *err)
{
    static const char *const names[] = {"zero",     "nnsa",      "dod",        "bsi",    "gutmann",
                                        "schneier", "pfitzner7", "pfitzner33", "random", "trim"};
    if (flags)
        return verr_set(err, EINVAL,
                        "invalid argument: unsupported flags (0x%x) in function storageVolWipe",
                        flags);
    if (algorithm > VD_WIPE_TRIM)
        return verr_set(err, EINVAL, "invalid argument: wiping algorithm %u not supported",
                        algorithm);
    if (algorithm != VD_WIPE_ZERO && algorithm != VD_WIPE_RANDOM)
        /* TODO: the scrub(1) patterns (nnsa ... pfitzner33) and trim. */
        return verr_set(err, ENOTSUP,
                        "unsupported configuration: wiping algorithm '%s' is not supported by "
                        "Vireo (zero and random are)",
                        names[algorithm]);
    return 0;
}

int vd_vol_wipe(struct vd_vol *v, unsigned algorithm, unsigned flags, struct verr *err)
{
    int r = vd_vol_wipe_check(algorithm, flags, err);
    if (r < 0)
        return r;
    struct block_info info = {0};
    struct verr e = {0};
    char fmt[16] = "raw";
    bool have_info = vol_open_info(v->path, &info, &e) == 0;
    if (have_info)
        snprintf(fmt, sizeof(fmt), "%s", info.format);
    int fd = open(v->path, O_WRONLY | O_CLOEXEC);
    r = 0;
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        r = verr_errno(err, errno, "cannot open volume '%s'", v->path);
    else
        r = wipe_fd(fd, (uint64_t)st.st_size, algorithm == VD_WIPE_RANDOM, v->path, err);
    if (fd >= 0)
        close(fd);
    /* An image format stays an image of the same size (and backing file),
     * now empty: libvirt leaves a file of zeroes that no longer opens. */
    if (r == 0 && have_info && strcmp(fmt, "raw") != 0 && block_format_creatable(fmt)) {
        struct block_create_opts co = {.size = info.virtual_size,
                                       .backing_file = info.backing_file,
                                       .backing_format = info.backing_format,
                                       .backing_unsafe = info.backing_file != NULL};
        r = block_create(v->path, fmt, &co, err);
    }
    block_info_free(&info);
    return r;
}

int vd_vol_delete(struct vd_vol *v, unsigned flags, struct verr *err)
{
    if (flags & ~(unsigned)(VD_VOL_DELETE_ZEROED | VD_VOL_DELETE_WITH_SNAPSHOTS))
        return verr_set(err, EINVAL,
                        "invalid argument: unsupported flags (0x%x) in function storageVolDelete",
                        flags);
    if (flags & VD_VOL_DELETE_ZEROED) {
        int r = vd_vol_wipe(v, VD_WIPE_ZERO, 0, err);
        if (r < 0)
            return r;
    }
    if (unlink(v->path) < 0)
        return verr_errno(err, errno, "cannot unlink file '%s'", v->path);
    return 0;
}

int vd_vol_resize(struct vd_vol *v, uint64_t capacity, unsigned flags, struct verr *err)
{
    if (flags & ~(unsigned)(VD_VOL_RESIZE_ALLOCATE | VD_VOL_RESIZE_DELTA | VD_VOL_RESIZE_SHRINK))
        return verr_set(err, EINVAL,
                        "invalid argument: unsupported flags (0x%x) in function storageVolResize",
                        flags);
    struct block_open_opts o = {0};
    struct block_dev *bd;
    int r = block_open(v->path, &o, &bd, err);
    if (r < 0)
        return r;
    uint64_t cur = block_size(bd), want = capacity;
    if (flags & VD_VOL_RESIZE_DELTA) {
        if (flags & VD_VOL_RESIZE_SHRINK) {
            if (capacity > cur) {
                r = verr_set(err, EINVAL, "invalid argument: can't shrink capacity below zero");
                goto out;
            }
            want = cur - capacity;
        } else if (__builtin_add_overflow(cur, capacity, &want)) {
            r = verr_set(err, ERANGE, "invalid argument: capacity overflows");
            goto out;
        }
    }
    if (want < cur && !(flags & VD_VOL_RESIZE_SHRINK)) {
        r = verr_set(err, EINVAL,
                     "invalid argument: Can't shrink capacity below current capacity unless "
                     "shrink flag explicitly specified");
        goto out;
    }
    if (want == cur)
        goto out;
    if ((flags & VD_VOL_RESIZE_ALLOCATE) && want > cur)
        r = block_resize_prealloc(bd, want, false, BLOCK_PREALLOC_FALLOC, err);
    else
        r = block_resize(bd, want, (flags & VD_VOL_RESIZE_SHRINK) != 0, err);
out:
    block_close(bd);
    return r;
}
