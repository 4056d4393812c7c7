/*
 * stream.h - the VM state stream's framing (docs/state.md): a header, typed
 * sections each with its own version and CRC-32C, raw page data for guest
 * RAM, and an END trailer with a checksum of everything but the page data.
 *
 * The writer goes strictly forward, so the same stream goes to a file, a
 * pipe or a socket; on a regular file it leaves holes instead of writing
 * zeros. The reader checks every length against what is left and every
 * checksum before handing a section on, and names the section in its
 * errors. It reads from a file descriptor or, for the fuzz target, from
 * memory.
 *
 * Inside a section, state is a list of named records (name, bytes): a field
 * added later is one more record, and a loader asks for records by name.
 */
#ifndef VIREO_VMM_STATE_STREAM_H
#define VIREO_VMM_STATE_STREAM_H

#include "util/buf.h"
#include "util/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STATE_MAGIC "VIREOVM\n"
/* 2: RAM may come in several passes (a live migration's), before and after the device and
 * vCPU sections, the later ones as "delta" RAM sections (docs/state.md). Version 1 streams
 * (one RAM section after the devices) still load. */
#define STATE_VERSION     2
#define STATE_VERSION_MIN 1
#define STATE_HEADER_LEN  16
#define STATE_SECTION_HDR 16
#define STATE_PAGE_SIZE   4096u
#define STATE_MAX_SECTION (64u << 20) /* payload bytes of one section */
#define STATE_FOURCC(a, b, c, d)                                                                   \
    ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)

/* Header flags. ACK: the sender waits, after END, for one byte STATE_ACK_BYTE back on the
 * same (bidirectional) descriptor, written by the receiver once everything is applied, so
 * a live migration's source knows the destination took over before it stops for good. */
#define STATE_FLAG_ACK 1u
#define STATE_ACK_BYTE 'K'
/* MULTIFD: RAM goes over extra connections (multifd.h); this stream carries an MFD section
 * first, then SYNC markers where the passes end, and the device state. */
#define STATE_FLAG_MULTIFD 2u
/* PING: the stream may carry PING sections (u64 sequence number); the receiver answers each,
 * once it has read everything before it, with one byte STATE_PONG_BYTE on the same
 * descriptor. A live migration's source pings before it stops the VM, so the bytes the
 * connection still holds are read while the guest runs, not in the downtime. */
#define STATE_FLAG_PING 4u
#define STATE_PONG_BYTE 'P'
#define STATE_FLAGS_ALL (STATE_FLAG_ACK | STATE_FLAG_MULTIFD | STATE_FLAG_PING)

/* Section kinds, in the order a stream carries them. */
#define STATE_SEC_CONF STATE_FOURCC('C', 'O', 'N', 'F') /* configuration fingerprint */
#define STATE_SEC_VCPU STATE_FOURCC('V', 'C', 'P', 'U') /* one per vCPU */
#define STATE_SEC_KVM  STATE_FOURCC('K', 'V', 'M', ' ') /* irqchips, PIT, clock */
#define STATE_SEC_DEV  STATE_FOURCC('D', 'E', 'V', ' ') /* one per device */
#define STATE_SEC_RAM  STATE_FOURCC('R', 'A', 'M', ' ') /* page index; page data follows */
#define STATE_SEC_RSUM STATE_FOURCC('R', 'S', 'U', 'M') /* checksum of the page data before it */
#define STATE_SEC_END  STATE_FOURCC('E', 'N', 'D', ' ') /* trailer */
#define STATE_SEC_MFD  STATE_FOURCC('M', 'F', 'D', ' ') /* multifd: channels and migration id */
#define STATE_SEC_SYNC STATE_FOURCC('S', 'Y', 'N', 'C') /* multifd: a RAM pass ends here */
#define STATE_SEC_PING STATE_FOURCC('P', 'I', 'N', 'G') /* answered by the reader itself */
#define STATE_SEC_PADV STATE_FOURCC('P', 'A', 'D', 'V') /* post-copy may follow (postcopy.h) */
#define STATE_SEC_PCPY STATE_FOURCC('P', 'C', 'P', 'Y') /* post-copy: pages still to come */

/* "CONF", "VCPU"... for messages (buf of at least 5 bytes). */
const char *state_kind_name(uint32_t kind, char out[5]);

/* ---- writing ---- */

struct state_writer {
    int fd;
    bool seekable; /* a regular file: skipped ranges become holes */
    uint64_t pos;  /* bytes of stream so far */
    uint32_t crc;  /* of every byte except page data and padding */
    unsigned nr_sections;
    struct buf out;              /* small writes are gathered here */
    const volatile bool *cancel; /* checked before each large write; NULL: never */
    /* Page data is paced to *rate_limit bytes/s when set and not 0 (live migration's
     * max-bandwidth; it may change while the stream runs). */
    const volatile uint64_t *rate_limit;
    uint64_t rate_t0_ns, rate_bytes; /* the pacing window */
    /* The guest may write RAM while it is sent (live passes): page data is copied before it
     * is checksummed and written, so the checksum and the bytes agree. */
    bool copy_pages;
};

/* Starts a stream on fd (not closed by the writer): writes the header. */
int state_writer_init(struct state_writer *w, int fd, const volatile bool *cancel,
                      struct verr *err);
/* The same with header flags (STATE_FLAG_*). */
int state_writer_init_flags(struct state_writer *w, int fd, const volatile bool *cancel,
                            uint32_t flags, struct verr *err);
void state_writer_free(struct state_writer *w);
/* One section: header, payload, CRC. */
int state_write_section(struct state_writer *w, uint32_t kind, uint32_t version,
                        const void *payload, size_t len, struct verr *err);
/* Page data (not in the stream checksum: the RAM section carries its own). */
int state_write_data(struct state_writer *w, const void *data, size_t len, struct verr *err);
/* len bytes of zeros: a hole on a regular file, written zeros elsewhere. */
int state_write_zeros(struct state_writer *w, uint64_t len, struct verr *err);
/* The trailer, then everything is flushed (and fsync'd when sync and a regular file). */
int state_write_end(struct state_writer *w, bool sync, struct verr *err);
int state_writer_flush(struct state_writer *w, struct verr *err);
/* A PING section (STATE_FLAG_PING) numbered seq, flushed, then waits for the reader's
 * STATE_PONG_BYTE: everything written before it has been read. */
int state_writer_ping(struct state_writer *w, uint64_t seq, struct verr *err);

/* ---- reading ---- */

struct state_section {
    uint32_t kind, version;
    uint8_t *payload; /* owned by the section; NUL after the last byte */
    size_t len;
    unsigned index; /* 0 for the first section after the header */
};

struct state_reader {
    int fd;             /* -1 when reading from mem */
    const uint8_t *mem; /* in-memory stream (fuzzing, tests) */
    size_t mem_len;
    bool seekable; /* fd is a regular file: data can be mapped and skipped */
    uint64_t base; /* file offset where the stream starts (seekable fds) */
    uint64_t pos;  /* bytes of stream consumed */
    uint32_t crc;
    unsigned nr_sections;
    uint32_t version; /* the stream's, from the header */
    uint32_t flags;   /* the header's (STATE_FLAG_*) */
    uint8_t *buf;     /* read-ahead for fds */
    size_t buf_off, buf_len;
};

/* Reads and checks the header. */
int state_reader_init_fd(struct state_reader *r, int fd, struct verr *err);
int state_reader_init_mem(struct state_reader *r, const void *data, size_t len, struct verr *err);
void state_reader_free(struct state_reader *r);
/* The next section, checked (length, CRC); free it with state_section_free. A PING is
 * answered on the descriptor (STATE_PONG_BYTE) and not returned. */
int state_read_section(struct state_reader *r, struct state_section *s, struct verr *err);
void state_section_free(struct state_section *s);
/* Page data: len bytes into dst (dst NULL: skipped). */
int state_read_data(struct state_reader *r, void *dst, uint64_t len, struct verr *err);
/* Checks an END section's payload against what was read. */
int state_check_end(struct state_reader *r, const struct state_section *s, struct verr *err);
/* File offset of stream position pos, for mapping; -1 when the source cannot be mapped. */
int64_t state_reader_file_offset(const struct state_reader *r, uint64_t pos);
/* Moves past len bytes the caller has mapped instead of read (seekable fds only). */
int state_reader_skip_mapped(struct state_reader *r, uint64_t len, struct verr *err);

/* ---- records inside a section ---- */

/* Appends record name=data to a section payload being built. */
void state_rec_put(struct buf *payload, const char *name, const void *data, size_t len);
void state_rec_put_u64(struct buf *payload, const char *name, uint64_t v);
void state_rec_put_str(struct buf *payload, const char *name, const char *s);

struct state_rec {
    const char *name; /* not NUL-terminated: name_len */
    uint16_t name_len;
    const uint8_t *data;
    uint32_t len;
};

struct state_recs {
    struct state_rec *rec;
    unsigned n;
    const char *what; /* "vcpu 0", "device 'disk0' (virtio-blk-pci)": for messages */
};

/* Splits payload [data, data+len) into records; refuses overruns and duplicate names. */
int state_recs_parse(struct state_recs *rs, const uint8_t *data, size_t len, const char *what,
                     struct verr *err);
void state_recs_free(struct state_recs *rs);
/* The record called name, or NULL. */
const struct state_rec *state_recs_find(const struct state_recs *rs, const char *name);
/* Copies record name into out: -ENOENT (with words) when absent, -EINVAL when its length
 * is not len. */
int state_recs_get(const struct state_recs *rs, const char *name, void *out, size_t len,
                   struct verr *err);
int state_recs_get_u64(const struct state_recs *rs, const char *name, uint64_t *out,
                       struct verr *err);
/* A string record (at most max-1 bytes, no NUL inside) into out. */
int state_recs_get_str(const struct state_recs *rs, const char *name, char *out, size_t max,
                       struct verr *err);

/* Little-endian helpers shared by the state code. */
static inline void state_put_le(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint64_t state_get_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

#endif
