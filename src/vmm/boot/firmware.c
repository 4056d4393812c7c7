/*
 * firmware.c - finding and loading firmware images (see firmware.h).
 */
#include "vmm/boot/firmware.h"
#include "util/file.h"
#include "util/mem.h"

#include <dirent.h>
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const data_dirs[] = {"/usr/share/seabios", "/usr/share/qemu"};

char *firmware_find(const char *name)
{
    if (strchr(name, '/'))
        return xstrdup(name);
    const char *env = getenv("VIREO_FIRMWARE_DIR");
    if (env && *env) {
        char *p = xasprintf("%s/%s", env, name);
        if (access(p, R_OK) == 0)
            return p;
        free(p);
    }
    for (size_t i = 0; i < sizeof(data_dirs) / sizeof(data_dirs[0]); i++) {
        char *p = xasprintf("%s/%s", data_dirs[i], name);
        if (access(p, R_OK) == 0)
            return p;
        free(p);
    }
    return NULL;
}

void fw_image_free(struct fw_image *img)
{
    if (img->data)
        munmap(img->data, img->size ? img->size : 1);
    free(img->path);
    memset(img, 0, sizeof(*img));
}

int firmware_load_file(const char *name, uint64_t max, struct fw_image *img, struct verr *err)
{
    memset(img, 0, sizeof(*img));
    img->path = firmware_find(name);
    if (!img->path)
        return verr_set(err, ENOENT, "could not find firmware '%s' (looked in %s, %s)", name,
                        data_dirs[0], data_dirs[1]);
    int fd = open(img->path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    int r = 0;
    if (fd < 0)
        r = verr_errno(err, errno, "could not open firmware '%s'", img->path);
    else if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        r = verr_set(err, EINVAL, "firmware '%s' is not a regular file", img->path);
    else if ((uint64_t)st.st_size == 0 || (uint64_t)st.st_size > max)
        r = verr_set(err, EFBIG, "firmware '%s' is %llu bytes (1 to %llu allowed)", img->path,
                     (unsigned long long)st.st_size, (unsigned long long)max);
    if (r == 0) {
        img->size = (uint64_t)st.st_size;
        img->data =
            mmap(NULL, img->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (img->data == MAP_FAILED) {
            img->data = NULL;
            r = verr_errno(err, errno, "firmware '%s': cannot allocate %llu bytes", img->path,
                           (unsigned long long)img->size);
        } else {
            ssize_t n = fd_read_all(fd, img->data, img->size);
            if (n < 0)
                r = verr_errno(err, (int)-n, "could not read firmware '%s'", img->path);
            else if ((uint64_t)n != img->size)
                r = verr_set(err, EIO, "firmware '%s' shrank while being read", img->path);
        }
    }
    if (fd >= 0)
        close(fd);
    if (r < 0)
        fw_image_free(img);
    return r;
}

static bool all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != v)
            return false;
    return true;
}

int firmware_load_bios(const char *name, struct fw_image *img, struct verr *err)
{
    if (!name)
        name = FIRMWARE_DEFAULT_BIOS;
    int r = firmware_load_file(name, FIRMWARE_MAX_SIZE, img, err);
    if (r < 0)
        return verr_prefix(err, "could not load PC BIOS '%s'", name);
    const uint8_t *reset = img->data + img->size - 16;
    if (img->size % 65536)
        r = verr_set(err, EINVAL,
                     "could not load PC BIOS '%s': %llu bytes is not a multiple of 64 KiB", name,
                     (unsigned long long)img->size);
    else if (!memcmp(img->data,
                     "\x7f"
                     "ELF",
                     4))
        r = verr_set(err, EINVAL,
                     "could not load PC BIOS '%s': an ELF file, not a firmware image (a kernel "
                     "goes to -kernel)",
                     name);
    else if (all_bytes(reset, 16, 0) || all_bytes(reset, 16, 0xff))
        r = verr_set(err, EINVAL,
                     "could not load PC BIOS '%s': not a firmware image (no code at the reset "
                     "vector, the last 16 bytes)",
                     name);
    if (r < 0)
        fw_image_free(img);
    return r;
}

/* Whether descriptor d (a firmware JSON file's object) maps executable `real` and lists the
 * feature requires-smm. */
static bool descriptor_requires_smm(struct json_object *d, const char *real)
{
    struct json_object *mapping, *exe, *file, *features;
    if (!json_object_object_get_ex(d, "mapping", &mapping) ||
        !json_object_object_get_ex(mapping, "executable", &exe) ||
        !json_object_object_get_ex(exe, "filename", &file) ||
        !json_object_is_type(file, json_type_string))
        return false;
    char other[PATH_MAX];
    if (!realpath(json_object_get_string(file), other) || strcmp(other, real))
        return false;
    if (!json_object_object_get_ex(d, "features", &features) ||
        !json_object_is_type(features, json_type_array))
        return false;
    for (size_t i = 0; i < json_object_array_length(features); i++) {
        const char *f = json_object_get_string(json_object_array_get_idx(features, i));
        if (f && !strcmp(f, "requires-smm"))
            return true;
    }
    return false;
}

char *firmware_requires_smm(const char *path)
{
    char real[PATH_MAX];
    if (!realpath(path, real))
        return NULL;
    static const char *const dirs[] = {"/usr/share/qemu/firmware", "/etc/qemu/firmware"};
    for (size_t k = 0; k < sizeof(dirs) / sizeof(dirs[0]); k++) {
        DIR *dir = opendir(dirs[k]);
        struct dirent *e;
        while (dir && (e = readdir(dir))) {
            size_t n = strlen(e->d_name);
            if (n < 6 || strcmp(e->d_name + n - 5, ".json"))
                continue;
            char *p = xasprintf("%s/%s", dirs[k], e->d_name);
            struct json_object *d = json_object_from_file(p);
            bool smm = d && descriptor_requires_smm(d, real);
            json_object_put(d);
            if (smm) {
                closedir(dir);
                return p;
            }
            free(p);
        }
        if (dir)
            closedir(dir);
    }
    return NULL;
}
