/*
 * multifd.h - a live migration's RAM over several connections at once (QEMU's multifd
 * capability and multifd-channels parameter), Vireo to Vireo.
 *
 * The main connection carries the stream as without multifd, its header flagged
 * STATE_FLAG_MULTIFD, an MFD section first (the number of channels and a random id of this
 * migration), then only CONF, a SYNC section where each RAM pass ends, the device and vCPU
 * state and END. The source then opens N more connections to the same URI; each starts with
 * a hello (the magic "VIREOMFD", a version, its index, the migration's id: a connection
 * whose hello does not match is refused) and then carries a state stream of its own: delta
 * RAM sections, a SYNC at the end of each pass, END. Each pass is cut into 16 MiB pieces of
 * guest RAM that N sender threads take in turn, each scanning its piece and writing it on
 * its own connection. With tls-creds, every connection runs its own TLS handshake first.
 *
 * On the destination N receiver threads place the pages into guest RAM as they come. A SYNC
 * is a barrier between the receivers and the main stream's reader: no one reads past the
 * end of pass k before every channel has applied all of pass k, so a page sent again in a
 * later pass on another channel always lands after its older copy; the device state is read
 * after the last SYNC, once all RAM is in place. A failure on any connection cuts all of
 * them: the source runs on, the destination's load fails.
 */
#ifndef VIREO_VMM_STATE_MULTIFD_H
#define VIREO_VMM_STATE_MULTIFD_H

#include "util/error.h"
#include "vmm/state/ram.h"
#include "vmm/state/stream.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define MULTIFD_MAX_CHANNELS 255
#define MULTIFD_ID_LEN       16

struct vm;
struct mig_tls;
struct mig_tls_creds;

struct multifd;

struct multifd_channel {
    struct multifd *mf;
    unsigned index;
    int sock;            /* the connection (shut down to cut it); -1 */
    int fd;              /* what the stream reads and writes: sock, or the TLS relay's end */
    struct mig_tls *tls; /* with tls-creds */
    struct state_writer w;
    bool have_writer;
    struct state_reader r;
    bool have_reader;
    pthread_t thread;
    bool thread_running;
    uint64_t synced; /* receiver: passes whose SYNC it has read */
    int rc;
    struct verr err;
    struct state_ram_stats st;
};

struct multifd {
    unsigned n; /* channels; 0: multifd is off */
    uint8_t id[MULTIFD_ID_LEN];
    struct multifd_channel *ch; /* [n] */
    struct vm *vm;
    const volatile bool *cancel;
    /* Sender: the pass being sent. */
    const uint64_t *dirty;
    uint64_t pass, next_piece, nr_pieces;
    volatile uint64_t chan_rate; /* each channel's share of max-bandwidth; 0: none */
    /* Receiver: the SYNC barrier (the receivers and the main stream's reader). */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned arrived;
    uint64_t generation;
    bool failed;         /* a connection failed: everyone stops */
    bool failed_in_chan; /* ... and it was a channel's (its error is the one to report) */
    struct verr fail_err;
    int main_sock;        /* the main connection, cut when a channel fails */
    uint64_t main_synced; /* receiver: passes whose SYNC the main stream has had */
};

/* Once per struct multifd (migration_new): nothing set up. */
void multifd_init(struct multifd *mf);
/* With no channel open: frees the rest. */
void multifd_destroy(struct multifd *mf);
/* Either end, at migrate or migrate-incoming: an empty set for n channels (0: off). */
void multifd_begin(struct multifd *mf, unsigned n, struct vm *vm, const volatile bool *cancel);

/* ---- source ---- */

/* The MFD section (n and a fresh id) on the main stream, flushed. */
int multifd_send_announce(struct multifd *mf, struct state_writer *w, struct verr *err);
/* Connects the n channels to uri (TLS with creds, host as in mig-tls.h), each with its hello
 * and stream header. */
int multifd_send_connect(struct multifd *mf, const char *uri, struct mig_tls_creds *creds,
                         const char *host, struct verr *err);
/* One RAM pass (pages set in dirty; all when NULL) across the channels by n threads, each
 * ending it with SYNC pass; then SYNC pass on the main stream w. rate: bytes/s for all of
 * them together, 0 for none. Adds the pages to st. */
int multifd_send_pass(struct multifd *mf, struct state_writer *w, const uint64_t *dirty,
                      uint64_t pass, uint64_t rate, struct state_ram_stats *st, struct verr *err);
/* END on every channel, flushed. */
int multifd_send_end(struct multifd *mf, struct verr *err);
/* Bytes written on the channels so far (the worker's; for the statistics). */
uint64_t multifd_send_bytes(const struct multifd *mf);

/* ---- destination ---- */

/* After the main stream's header (flags) and before CONF: reads the MFD section and checks
 * it against this end's capability and channel count; one line when they disagree. */
int multifd_recv_announce(struct multifd *mf, struct state_reader *r, bool enabled,
                          struct verr *err);
/* Accepts the n channels on lfd (TLS with creds), refusing (and logging) connections whose
 * hello is not this migration's, then starts the receiver threads. main_sock: the main
 * connection, cut if a channel fails. */
int multifd_recv_start(struct multifd *mf, int lfd, const char *uri, int main_sock,
                       struct mig_tls_creds *creds, struct verr *err);
/* Checks a channel's hello (len bytes at h): this migration's id, an index not yet taken. */
int multifd_hello_parse(const struct multifd *mf, const uint8_t *h, size_t len, unsigned *index,
                        struct verr *err);
/* One channel's stream from r (after its header) to END: delta RAM sections placed into
 * guest RAM, SYNCs waited on at the barrier (with no channel, n 0, the caller is alone). */
int multifd_recv_stream(struct multifd *mf, struct state_reader *r, uint64_t *synced,
                        struct state_ram_stats *st, struct verr *err);
/* The main stream's SYNC section s: waits until every channel has applied that pass. */
int multifd_recv_sync(struct multifd *mf, const struct state_section *s, struct verr *err);
/* Waits for the receivers (after the main stream's END; abort: cuts them first) and adds
 * their pages to st; a channel's error when one failed first. */
int multifd_recv_finish(struct multifd *mf, bool abort, struct state_ram_stats *st,
                        struct verr *err);

/* ---- both ---- */

/* Any thread (migrate_cancel, teardown): cuts every connection; blocked reads and writes
 * return. */
void multifd_shutdown(struct multifd *mf);
/* Closes the channels (abort: TLS relays cut rather than drained) and frees what they hold;
 * the threads must be gone. */
void multifd_close(struct multifd *mf, bool abort);

#endif
