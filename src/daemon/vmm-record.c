/*
 * vmm-record.c - the run-dir record of a VMM (NAME.vmm) and the domain
 * lock (NAME.lock); see vmm-record.h for the protocol they keep.
 *
 * The record is a few key=value lines, padded with newlines to a fixed
 * size, and never synced: the run dir is tmpfs on a real host and
 * describes processes a power cut ends anyway; what it must survive is
 * the daemon being killed. It is created by a rename (temporary file),
 * so it never exists half written; later phases overwrite it in place
 * with one pwrite of the whole fixed-size record, which a kill cannot
 * split either (one small write within a page), and which costs no new
 * file per phase (a start writes three phases; a new inode and a rename
 * each took a millisecond and more on a loaded ext4). A record of
 * another size (written by something else) is replaced by a rename.
 */
#include "daemon/vmm-record.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/vireod.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/file.h"
#include "util/mem.h"
#include "util/str.h"

static const char *const phase_names[] = {"starting", "spawned", "ready", "stopping"};

const char *vd_record_phase_name(enum vd_vmm_phase phase)
{
    return phase_names[phase];
}

char *vd_record_path(const char *run_dir, const char *name, const char *suffix)
{
    return xasprintf("%s/%s%s", run_dir, name, suffix);
}

/* Longer than any record: 25 bytes of keys, a phase of 8, a pid of 10,
 * a start time of 20 and a UUID of 36. */
#define VD_RECORD_SIZE 128

int vd_record_write(const char *run_dir, const char *name, const struct vd_vmm_record *rec,
                    struct verr *err)
{
    char text[VD_RECORD_SIZE];
    int n = snprintf(text, sizeof(text), "phase=%s\npid=%d\nstart=%llu\nuuid=%.36s\n",
                     phase_names[rec->phase], (int)rec->pid, (unsigned long long)rec->start_time,
                     rec->uuid);
    if (n < 0 || n >= VD_RECORD_SIZE)
        return verr_set(err, EOVERFLOW, "vireo-vmm record of domain '%s' too long", name);
    memset(text + n, '\n', VD_RECORD_SIZE - (size_t)n);
    char *path = vd_record_path(run_dir, name, ".vmm");
    int fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        struct stat st;
        bool done = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == VD_RECORD_SIZE &&
                    pwrite(fd, text, VD_RECORD_SIZE, 0) == VD_RECORD_SIZE;
        close(fd);
        if (done) {
            free(path);
            return 0;
        }
    }
    int r = vd_store_write(NULL, path, text, VD_RECORD_SIZE, false, err);
    free(path);
    return r;
}

/* The value of key in key=value lines (a malloc'd copy), or NULL. */
static char *field(char *text, const char *key)
{
    size_t kl = strlen(key);
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        if (strncmp(line, key, kl) == 0 && line[kl] == '=') {
            char *v = line + kl + 1;
            size_t vl = nl ? (size_t)(nl - v) : strlen(v);
            return xasprintf("%.*s", (int)vl, v);
        }
        line = nl ? nl + 1 : NULL;
    }
    return NULL;
}

int vd_record_read(const char *run_dir, const char *name, struct vd_vmm_record *rec,
                   struct verr *err)
{
    char *path = vd_record_path(run_dir, name, ".vmm");
    struct buf b = BUF_INIT;
    int r = file_read_all(path, 4096, &b, err);
    if (r < 0) {
        free(path);
        buf_free(&b);
        return r;
    }
    buf_append(&b, "", 1);
    char *text = (char *)b.data;
    char *phase = field(text, "phase"), *pid = field(text, "pid"), *start = field(text, "start"),
         *uuid = field(text, "uuid");
    memset(rec, 0, sizeof(*rec));
    int64_t v;
    uint64_t u;
    r = -1;
    for (size_t i = 0; phase && i < sizeof(phase_names) / sizeof(phase_names[0]); i++)
        if (strcmp(phase, phase_names[i]) == 0) {
            rec->phase = (enum vd_vmm_phase)i;
            r = 0;
        }
    if (r < 0 || !pid || str_to_i64(pid, 10, &v) < 0 || v < 0 || v > 0x7fffffff || !start ||
        str_to_u64(start, 10, &u) < 0 || !uuid || strlen(uuid) != 36) {
        r = verr_set(err, EINVAL, "%s: not a vireo-vmm record", path);
    } else {
        rec->pid = (pid_t)v;
        rec->start_time = u;
        memcpy(rec->uuid, uuid, 37);
        r = 0;
    }
    free(phase);
    free(pid);
    free(start);
    free(uuid);
    free(path);
    buf_free(&b);
    return r;
}

void vd_record_remove(const char *run_dir, const char *name)
{
    static const char *const suffixes[] = {".vmm",     ".pid", ".qmp",
                                           ".console", ".vnc", ".masterkey"};
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        char *p = vd_record_path(run_dir, name, suffixes[i]);
        unlink(p);
        free(p);
    }
}

int vd_lock_take(const char *run_dir, const char *name, struct verr *err)
{
    char *path = vd_record_path(run_dir, name, ".lock");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        int r = verr_errno(err, errno, "cannot open the domain lock %s", path);
        free(path);
        return r;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        close(fd);
        int r = e == EWOULDBLOCK ? verr_set(err, EWOULDBLOCK, "%s is held", path)
                                 : verr_errno(err, e, "cannot lock %s", path);
        free(path);
        return r;
    }
    free(path);
    return fd;
}

bool vd_lock_held(const char *run_dir, const char *name)
{
    char *path = vd_record_path(run_dir, name, ".lock");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    free(path);
    if (fd < 0)
        return false;
    bool held = flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
    close(fd); /* releases it if this open took it */
    return held;
}

bool vd_lock_wait_free(const char *run_dir, const char *name, int timeout_ms)
{
    for (int waited = 0;; waited += 10) {
        if (!vd_lock_held(run_dir, name))
            return true;
        if (waited >= timeout_ms)
            return false;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

void vd_lock_remove(const char *run_dir, const char *name)
{
    char *path = vd_record_path(run_dir, name, ".lock");
    int fd = open(path, O_RDWR | O_CLOEXEC);
    /* Unlinked while held: a start that opens the name after this makes a
     * new file, and none can be under way (jobs of a domain run one at a
     * time, and this domain is going away). */
    if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
        unlink(path);
    if (fd >= 0)
        close(fd);
    free(path);
}
