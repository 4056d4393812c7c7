/*
 * stream.c - framing of the VM state stream: header, checksummed sections,
 * page data, trailer; and the named records inside a section. See stream.h
 * and docs/state.md for the layout.
 */
#include "vmm/state/stream.h"
#include "util/file.h"
#include "util/mem.h"
#include "vmm/state/crc32c.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define OUT_FLUSH  (1u << 20)
#define READ_AHEAD (256u << 10)
#define END_LEN    16

const char *state_kind_name(uint32_t kind, char out[5])
{
    for (int i = 0; i < 4; i++) {
        char c = (char)(kind >> (8 * i));
        out[i] = c >= 0x20 && c < 0x7f ? c : '?';
    }
    out[4] = '\0';
    while (out[0] && out[strlen(out) - 1] == ' ')
        out[strlen(out) - 1] = '\0';
    return out;
}

static bool fd_is_regular(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

/* ---- writer ---- */

static int out_errno(int e, struct verr *err)
{
    if (e == ENOSPC)
        return verr_set(err, ENOSPC, "cannot write the VM state: no space left on device");
    if (e == EPIPE)
        return verr_set(err, EPIPE, "cannot write the VM state: the reader went away");
    return verr_errno(err, e, "cannot write the VM state");
}

int state_writer_flush(struct state_writer *w, struct verr *err)
{
    if (!w->out.len)
        return 0;
    int r = fd_write_all(w->fd, w->out.data, w->out.len);
    buf_reset(&w->out);
    return r < 0 ? out_errno(-r, err) : 0;
}

int state_writer_ping(struct state_writer *w, uint64_t seq, struct verr *err)
{
    uint8_t p[8];
    state_put_le(p, seq, 8);
    int r = state_write_section(w, STATE_SEC_PING, 1, p, sizeof(p), err);
    if (r == 0)
        r = state_writer_flush(w, err);
    if (r < 0)
        return r;
    uint8_t b = 0;
    ssize_t n;
    do
        n = read(w->fd, &b, 1);
    while (n < 0 && errno == EINTR);
    if (n == 1 && b == STATE_PONG_BYTE)
        return 0;
    if (n < 0)
        return verr_errno(err, errno, "waiting for the reader's answer to a PING");
    if (n == 1)
        return verr_set(err, EPROTO, "the reader answered a PING with byte 0x%02x", b);
    return verr_set(err, EPIPE, "the reader closed the connection before it answered a PING");
}

static int put_bytes(struct state_writer *w, const void *p, size_t len, bool in_crc,
                     struct verr *err)
{
    if (in_crc)
        w->crc = crc32c_update(w->crc, p, len);
    w->pos += len;
    if (len >= OUT_FLUSH) {
        int r = state_writer_flush(w, err);
        if (r < 0)
            return r;
        r = fd_write_all(w->fd, p, len);
        return r < 0 ? out_errno(-r, err) : 0;
    }
    buf_append(&w->out, p, len);
    return w->out.len >= OUT_FLUSH ? state_writer_flush(w, err) : 0;
}

int state_writer_init(struct state_writer *w, int fd, const volatile bool *cancel, struct verr *err)
{
    return state_writer_init_flags(w, fd, cancel, 0, err);
}

int state_writer_init_flags(struct state_writer *w, int fd, const volatile bool *cancel,
                            uint32_t flags, struct verr *err)
{
    memset(w, 0, sizeof(*w));
    w->fd = fd;
    w->cancel = cancel;
    w->seekable = fd_is_regular(fd);
    buf_init(&w->out);
    uint8_t h[STATE_HEADER_LEN];
    memcpy(h, STATE_MAGIC, 8);
    state_put_le(h + 8, STATE_VERSION, 4);
    state_put_le(h + 12, flags, 4);
    return put_bytes(w, h, sizeof(h), true, err);
}

void state_writer_free(struct state_writer *w)
{
    buf_free(&w->out);
}

int state_write_section(struct state_writer *w, uint32_t kind, uint32_t version,
                        const void *payload, size_t len, struct verr *err)
{
    char k[5];
    if (len > STATE_MAX_SECTION)
        return verr_set(err, EFBIG, "section %s: %zu bytes, more than the format allows",
                        state_kind_name(kind, k), len);
    uint8_t h[STATE_SECTION_HDR];
    state_put_le(h, kind, 4);
    state_put_le(h + 4, version, 4);
    state_put_le(h + 8, len, 8);
    uint32_t c = crc32c_update(crc32c_update(0, h, sizeof(h)), payload, len);
    uint8_t t[4];
    state_put_le(t, c, 4);
    int r = put_bytes(w, h, sizeof(h), true, err);
    if (r == 0)
        r = put_bytes(w, payload, len, true, err);
    if (r == 0)
        r = put_bytes(w, t, 4, true, err);
    w->nr_sections++;
    return r;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Sleeps until the bytes sent in this window fit the rate limit (windows of 1 s, so a
 * change of the limit takes effect within a second). */
static void pace(struct state_writer *w, size_t len)
{
    uint64_t limit = w->rate_limit ? *w->rate_limit : 0;
    uint64_t now = mono_ns();
    if (!limit) {
        w->rate_t0_ns = now;
        w->rate_bytes = 0;
        return;
    }
    if (!w->rate_t0_ns || now - w->rate_t0_ns > 1000000000u) {
        w->rate_t0_ns = now;
        w->rate_bytes = 0;
    }
    w->rate_bytes += len;
    uint64_t due = w->rate_t0_ns + (uint64_t)((double)w->rate_bytes * 1e9 / (double)limit);
    while (due > now && !(w->cancel && *w->cancel)) {
        uint64_t d = due - now > 50000000u ? 50000000u : due - now;
        struct timespec ts = {0, (long)d};
        nanosleep(&ts, NULL);
        now = mono_ns();
    }
}

int state_write_data(struct state_writer *w, const void *data, size_t len, struct verr *err)
{
    if (w->cancel && *w->cancel)
        return verr_set(err, ECANCELED, "cancelled");
    if (w->rate_limit)
        pace(w, len);
    return put_bytes(w, data, len, false, err);
}

int state_write_zeros(struct state_writer *w, uint64_t len, struct verr *err)
{
    if (!len)
        return 0;
    if (w->seekable) {
        int r = state_writer_flush(w, err);
        if (r < 0)
            return r;
        if (lseek(w->fd, (off_t)len, SEEK_CUR) < 0)
            return verr_errno(err, errno, "cannot seek in the VM state file");
        w->pos += len;
        return 0;
    }
    static const uint8_t zeros[4096];
    while (len) {
        size_t n = len < sizeof(zeros) ? (size_t)len : sizeof(zeros);
        int r = put_bytes(w, zeros, n, false, err);
        if (r < 0)
            return r;
        len -= n;
    }
    return 0;
}

int state_write_end(struct state_writer *w, bool sync, struct verr *err)
{
    uint8_t p[END_LEN];
    state_put_le(p, w->pos, 8);
    state_put_le(p + 8, w->nr_sections, 4);
    state_put_le(p + 12, w->crc, 4);
    int r = state_write_section(w, STATE_SEC_END, 1, p, sizeof(p), err);
    if (r == 0)
        r = state_writer_flush(w, err);
    if (r == 0 && w->seekable) {
        /* A stream whose last bytes were a hole: make the file long enough. */
        off_t here = lseek(w->fd, 0, SEEK_CUR);
        struct stat st;
        if (here >= 0 && fstat(w->fd, &st) == 0 && st.st_size < here && ftruncate(w->fd, here) < 0)
            return out_errno(errno, err);
        if (sync && fsync(w->fd) < 0)
            return out_errno(errno, err);
    }
    return r;
}

/* ---- reader ---- */

static int in_short(struct state_reader *r, const char *what, struct verr *err)
{
    return verr_set(err, EINVAL, "VM state truncated: %s ends at byte %llu", what,
                    (unsigned long long)r->pos);
}

/* Copies len bytes (dst NULL: discards them). Returns 0, -EINVAL at the end of the stream. */
static int in_bytes(struct state_reader *r, void *dst, uint64_t len, const char *what,
                    struct verr *err)
{
    if (r->fd < 0) {
        if (len > r->mem_len - r->pos)
            return in_short(r, what, err);
        if (dst)
            memcpy(dst, r->mem + r->pos, (size_t)len);
        r->pos += len;
        return 0;
    }
    uint8_t *d = dst;
    while (len) {
        if (r->buf_off < r->buf_len) {
            size_t n = r->buf_len - r->buf_off;
            if (n > len)
                n = (size_t)len;
            if (d) {
                memcpy(d, r->buf + r->buf_off, n);
                d += n;
            }
            r->buf_off += n;
            r->pos += n;
            len -= n;
            continue;
        }
        if (len >= READ_AHEAD && d) { /* large reads go straight to their destination */
            ssize_t n = fd_read_all(r->fd, d, (size_t)len);
            if (n < 0)
                return verr_errno(err, (int)-n, "cannot read the VM state");
            r->pos += (uint64_t)n;
            if ((uint64_t)n < len)
                return in_short(r, what, err);
            return 0;
        }
        if (len >= READ_AHEAD && r->seekable) {
            if (lseek(r->fd, (off_t)len, SEEK_CUR) < 0)
                return verr_errno(err, errno, "cannot seek in the VM state");
            r->pos += len;
            return 0;
        }
        ssize_t n = read(r->fd, r->buf, READ_AHEAD);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return verr_errno(err, errno, "cannot read the VM state");
        if (n == 0)
            return in_short(r, what, err);
        r->buf_off = 0;
        r->buf_len = (size_t)n;
    }
    return 0;
}

static int check_header(struct state_reader *r, struct verr *err)
{
    uint8_t h[STATE_HEADER_LEN];
    int rc = in_bytes(r, h, sizeof(h), "the header", err);
    if (rc < 0)
        return rc;
    if (memcmp(h, STATE_MAGIC, 8) != 0)
        return verr_set(err, EINVAL, "not a vireo-vmm state stream (bad magic in the header)");
    r->version = (uint32_t)state_get_le(h + 8, 4);
    if (r->version < STATE_VERSION_MIN || r->version > STATE_VERSION)
        return verr_set(err, EINVAL,
                        "VM state stream version %u is not supported (this vireo-vmm reads "
                        "versions %u to %u): header field 'version'",
                        r->version, STATE_VERSION_MIN, STATE_VERSION);
    uint32_t flags = (uint32_t)state_get_le(h + 12, 4);
    if (flags & ~STATE_FLAGS_ALL || (flags && r->version < 2))
        return verr_set(err, EINVAL, "VM state header: unknown flags 0x%x", flags);
    r->flags = flags;
    r->crc = crc32c_update(0, h, sizeof(h));
    return 0;
}

int state_reader_init_fd(struct state_reader *r, int fd, struct verr *err)
{
    memset(r, 0, sizeof(*r));
    r->fd = fd;
    r->seekable = fd_is_regular(fd);
    if (r->seekable) {
        off_t o = lseek(fd, 0, SEEK_CUR);
        r->seekable = o >= 0;
        r->base = o >= 0 ? (uint64_t)o : 0;
    }
    r->buf = xmalloc(READ_AHEAD);
    return check_header(r, err);
}

int state_reader_init_mem(struct state_reader *r, const void *data, size_t len, struct verr *err)
{
    memset(r, 0, sizeof(*r));
    r->fd = -1;
    r->mem = data;
    r->mem_len = len;
    return check_header(r, err);
}

void state_reader_free(struct state_reader *r)
{
    free(r->buf);
    r->buf = NULL;
}

void state_section_free(struct state_section *s)
{
    free(s->payload);
    s->payload = NULL;
}

static int read_one_section(struct state_reader *r, struct state_section *s, struct verr *err)
{
    memset(s, 0, sizeof(*s));
    uint8_t h[STATE_SECTION_HDR];
    char k[5], what[48];
    snprintf(what, sizeof(what), "the header of section %u", r->nr_sections);
    int rc = in_bytes(r, h, sizeof(h), what, err);
    if (rc < 0)
        return rc;
    s->kind = (uint32_t)state_get_le(h, 4);
    s->version = (uint32_t)state_get_le(h + 4, 4);
    uint64_t len = state_get_le(h + 8, 8);
    s->index = r->nr_sections;
    state_kind_name(s->kind, k);
    if (len > STATE_MAX_SECTION)
        return verr_set(err, EINVAL, "VM state section %u (%s): field 'length' %llu is too large",
                        s->index, k, (unsigned long long)len);
    s->len = (size_t)len;
    s->payload = xmalloc(s->len + 1);
    s->payload[s->len] = 0;
    snprintf(what, sizeof(what), "section %u (%s)", s->index, k);
    uint8_t t[4];
    if ((rc = in_bytes(r, s->payload, len, what, err)) < 0 ||
        (rc = in_bytes(r, t, 4, what, err)) < 0) {
        state_section_free(s);
        return rc;
    }
    uint32_t c = crc32c_update(crc32c_update(0, h, sizeof(h)), s->payload, s->len);
    if (c != (uint32_t)state_get_le(t, 4)) {
        state_section_free(s);
        return verr_set(err, EINVAL, "VM state section %u (%s) is corrupt: checksum mismatch",
                        s->index, k);
    }
    if (s->kind != STATE_SEC_END) { /* END checks the checksum of what came before it */
        r->crc = crc32c_update(r->crc, h, sizeof(h));
        r->crc = crc32c_update(r->crc, s->payload, s->len);
        r->crc = crc32c_update(r->crc, t, 4);
    }
    r->nr_sections++;
    return 0;
}

/* A PING section read: one byte back once everything before it has been read. */
static int answer_ping(struct state_reader *r, const struct state_section *s, struct verr *err)
{
    if (!(r->flags & STATE_FLAG_PING))
        return verr_set(err, EINVAL,
                        "VM state section %u (PING): the header's flags do not announce it",
                        s->index);
    if (s->version != 1 || s->len != 8)
        return verr_set(err, EINVAL, "VM state section %u (PING): version %u, %zu bytes", s->index,
                        s->version, s->len);
    if (r->fd < 0)
        return 0; /* from memory: nobody to answer */
    uint8_t b = STATE_PONG_BYTE;
    int rc = fd_write_all(r->fd, &b, 1);
    if (rc < 0)
        return verr_errno(err, -rc, "cannot answer the VM state's PING");
    return 0;
}

int state_read_section(struct state_reader *r, struct state_section *s, struct verr *err)
{
    for (;;) {
        int rc = read_one_section(r, s, err);
        if (rc < 0 || s->kind != STATE_SEC_PING)
            return rc;
        rc = answer_ping(r, s, err);
        state_section_free(s);
        if (rc < 0)
            return rc;
    }
}

int state_read_data(struct state_reader *r, void *dst, uint64_t len, struct verr *err)
{
    return in_bytes(r, dst, len, "guest RAM data", err);
}

int state_check_end(struct state_reader *r, const struct state_section *s, struct verr *err)
{
    if (s->len != END_LEN)
        return verr_set(err, EINVAL, "VM state section END: field 'length' is %zu, expected %u",
                        s->len, END_LEN);
    uint64_t pos = state_get_le(s->payload, 8);
    uint32_t n = (uint32_t)state_get_le(s->payload + 8, 4);
    uint32_t c = (uint32_t)state_get_le(s->payload + 12, 4);
    uint64_t end_start = r->pos - STATE_SECTION_HDR - END_LEN - 4;
    if (pos != end_start)
        return verr_set(err, EINVAL,
                        "VM state section END: field 'stream length' says %llu bytes, read %llu",
                        (unsigned long long)pos, (unsigned long long)end_start);
    if (n + 1 != r->nr_sections)
        return verr_set(err, EINVAL,
                        "VM state section END: field 'sections' says %u, read %u (a section "
                        "is missing or extra)",
                        n, r->nr_sections - 1);
    if (c != r->crc)
        return verr_set(err, EINVAL,
                        "VM state section END: field 'checksum' does not match "
                        "the stream");
    return 0;
}

int64_t state_reader_file_offset(const struct state_reader *r, uint64_t pos)
{
    if (r->fd < 0 || !r->seekable)
        return -1;
    return (int64_t)(r->base + pos);
}

int state_reader_skip_mapped(struct state_reader *r, uint64_t len, struct verr *err)
{
    /* Whatever is buffered is consumed first; the rest is a seek. */
    uint64_t buffered = r->buf_len - r->buf_off;
    if (buffered >= len) {
        r->buf_off += (size_t)len;
        r->pos += len;
        return 0;
    }
    r->pos += buffered;
    len -= buffered;
    r->buf_off = r->buf_len = 0;
    if (lseek(r->fd, (off_t)len, SEEK_CUR) < 0)
        return verr_errno(err, errno, "cannot seek in the VM state");
    r->pos += len;
    return 0;
}

/* ---- records ---- */

void state_rec_put(struct buf *p, const char *name, const void *data, size_t len)
{
    uint8_t h[6];
    size_t nl = strlen(name);
    state_put_le(h, nl, 2);
    buf_append(p, h, 2);
    buf_append(p, name, nl);
    state_put_le(h, len, 4);
    buf_append(p, h, 4);
    if (len)
        buf_append(p, data, len);
}

void state_rec_put_u64(struct buf *p, const char *name, uint64_t v)
{
    uint8_t b[8];
    state_put_le(b, v, 8);
    state_rec_put(p, name, b, 8);
}

void state_rec_put_str(struct buf *p, const char *name, const char *s)
{
    state_rec_put(p, name, s ? s : "", s ? strlen(s) : 0);
}

static bool name_is(const struct state_rec *rec, const char *name)
{
    size_t n = strlen(name);
    return rec->name_len == n && memcmp(rec->name, name, n) == 0;
}

int state_recs_parse(struct state_recs *rs, const uint8_t *data, size_t len, const char *what,
                     struct verr *err)
{
    memset(rs, 0, sizeof(*rs));
    rs->what = what;
    size_t off = 0, cap = 0;
    while (off < len) {
        if (len - off < 2)
            goto trunc;
        uint16_t nl = (uint16_t)state_get_le(data + off, 2);
        off += 2;
        if (nl == 0 || nl > 64 || len - off < (size_t)nl + 4)
            goto trunc;
        struct state_rec rec = {(const char *)data + off, nl, NULL, 0};
        for (unsigned i = 0; i < nl; i++)
            if (rec.name[i] < 0x20 || rec.name[i] > 0x7e) {
                state_recs_free(rs);
                return verr_set(err, EINVAL, "VM state %s: a record name is not printable", what);
            }
        off += nl;
        rec.len = (uint32_t)state_get_le(data + off, 4);
        off += 4;
        if (rec.len > len - off)
            goto trunc;
        rec.data = data + off;
        off += rec.len;
        for (unsigned i = 0; i < rs->n; i++)
            if (rs->rec[i].name_len == nl && memcmp(rs->rec[i].name, rec.name, nl) == 0) {
                state_recs_free(rs);
                return verr_set(err, EINVAL, "VM state %s: record '%.*s' appears twice", what,
                                (int)nl, rec.name);
            }
        if (rs->n == cap) {
            cap = cap ? cap * 2 : 16;
            rs->rec = xrealloc(rs->rec, cap * sizeof(*rs->rec));
        }
        rs->rec[rs->n++] = rec;
    }
    return 0;
trunc:
    state_recs_free(rs);
    return verr_set(err, EINVAL, "VM state %s: records overrun the section at byte %zu", what, off);
}

void state_recs_free(struct state_recs *rs)
{
    free(rs->rec);
    rs->rec = NULL;
    rs->n = 0;
}

const struct state_rec *state_recs_find(const struct state_recs *rs, const char *name)
{
    for (unsigned i = 0; i < rs->n; i++)
        if (name_is(&rs->rec[i], name))
            return &rs->rec[i];
    return NULL;
}

int state_recs_get(const struct state_recs *rs, const char *name, void *out, size_t len,
                   struct verr *err)
{
    const struct state_rec *rec = state_recs_find(rs, name);
    if (!rec)
        return verr_set(err, ENOENT, "VM state %s: field '%s' is missing", rs->what, name);
    if (rec->len != len)
        return verr_set(err, EINVAL, "VM state %s: field '%s' has %u bytes, expected %zu", rs->what,
                        name, rec->len, len);
    memcpy(out, rec->data, len);
    return 0;
}

int state_recs_get_u64(const struct state_recs *rs, const char *name, uint64_t *out,
                       struct verr *err)
{
    uint8_t b[8];
    int r = state_recs_get(rs, name, b, 8, err);
    if (r == 0)
        *out = state_get_le(b, 8);
    return r;
}

int state_recs_get_str(const struct state_recs *rs, const char *name, char *out, size_t max,
                       struct verr *err)
{
    const struct state_rec *rec = state_recs_find(rs, name);
    if (!rec)
        return verr_set(err, ENOENT, "VM state %s: field '%s' is missing", rs->what, name);
    if (rec->len >= max || memchr(rec->data, 0, rec->len))
        return verr_set(err, EINVAL, "VM state %s: field '%s' is not a valid string", rs->what,
                        name);
    memcpy(out, rec->data, rec->len);
    out[rec->len] = '\0';
    return 0;
}
