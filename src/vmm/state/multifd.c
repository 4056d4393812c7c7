/*
 * multifd.c - a live migration's RAM over several connections (see multifd.h).
 *
 * Hello on each channel (little-endian), before its state stream:
 *   u8  magic[8]  "VIREOMFD"
 *   u32 version   1
 *   u32 index     0 .. n-1
 *   u8  id[16]    the migration's, from the main stream's MFD section
 * MFD section payload: u32 channels, u32 reserved (0), u8 id[16]. SYNC: u64 pass (from 1).
 */
#include "vmm/state/multifd.h"
#include "util/log.h"
#include "util/mem.h"
#include "vmm/state/mig-tls.h"
#include "vmm/state/transport.h"
#include "vmm/vm.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define HELLO_MAGIC   "VIREOMFD"
#define HELLO_VERSION 1
#define HELLO_LEN     32
#define MFD_LEN       24
#define PIECE_PAGES   4096u /* 16 MiB of guest RAM per piece a sender takes */
#define HELLO_TIMEOUT 10    /* s a plain connection has to say hello */

void multifd_init(struct multifd *mf)
{
    memset(mf, 0, sizeof(*mf));
    mf->main_sock = -1;
    pthread_mutex_init(&mf->lock, NULL);
    pthread_cond_init(&mf->cond, NULL);
}

void multifd_destroy(struct multifd *mf)
{
    multifd_close(mf, true);
    pthread_mutex_destroy(&mf->lock);
    pthread_cond_destroy(&mf->cond);
}

void multifd_begin(struct multifd *mf, unsigned n, struct vm *vm, const volatile bool *cancel)
{
    multifd_close(mf, true);
    pthread_mutex_lock(&mf->lock);
    mf->vm = vm;
    mf->cancel = cancel;
    mf->arrived = 0;
    mf->generation = 0;
    mf->failed = mf->failed_in_chan = false;
    verr_clear(&mf->fail_err);
    mf->main_sock = -1;
    mf->main_synced = 0;
    mf->chan_rate = 0;
    mf->ch = n ? xcalloc(n, sizeof(*mf->ch)) : NULL;
    for (unsigned i = 0; i < n; i++) {
        mf->ch[i].mf = mf;
        mf->ch[i].index = i;
        mf->ch[i].sock = mf->ch[i].fd = -1;
    }
    mf->n = n;
    pthread_mutex_unlock(&mf->lock);
}

void multifd_shutdown(struct multifd *mf)
{
    pthread_mutex_lock(&mf->lock);
    for (unsigned i = 0; mf->ch && i < mf->n; i++) {
        struct multifd_channel *c = &mf->ch[i];
        if (c->fd >= 0)
            shutdown(c->fd, SHUT_RDWR);
        if (c->tls)
            mig_tls_shutdown(c->tls);
        else if (c->sock >= 0 && c->sock != c->fd)
            shutdown(c->sock, SHUT_RDWR);
    }
    if (mf->main_sock >= 0)
        shutdown(mf->main_sock, SHUT_RDWR);
    pthread_mutex_unlock(&mf->lock);
}

void multifd_close(struct multifd *mf, bool abort)
{
    pthread_mutex_lock(&mf->lock);
    for (unsigned i = 0; mf->ch && i < mf->n; i++) {
        struct multifd_channel *c = &mf->ch[i];
        if (c->have_writer)
            state_writer_free(&c->w);
        if (c->have_reader)
            state_reader_free(&c->r);
        if (c->tls) {
            if (c->fd >= 0)
                close(c->fd);
            mig_tls_finish(c->tls, abort); /* closes the socket */
        } else if (c->sock >= 0) {
            close(c->sock);
        }
    }
    free(mf->ch);
    mf->ch = NULL;
    mf->n = 0;
    mf->main_sock = -1;
    pthread_mutex_unlock(&mf->lock);
}

/* The first failure stops everyone: its words are kept, every connection is cut. */
static void fail(struct multifd *mf, bool in_chan, const struct verr *e)
{
    pthread_mutex_lock(&mf->lock);
    if (!mf->failed) {
        mf->failed = true;
        mf->failed_in_chan = in_chan;
        mf->fail_err = *e;
    }
    pthread_cond_broadcast(&mf->cond);
    pthread_mutex_unlock(&mf->lock);
    multifd_shutdown(mf);
}

static int write_all(int fd, const void *p, size_t len)
{
    const uint8_t *b = p;
    while (len) {
        ssize_t n = write(fd, b, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

static int read_all(int fd, void *p, size_t len)
{
    uint8_t *b = p;
    while (len) {
        ssize_t n = read(fd, b, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EPIPE;
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

/* ---- source ---- */

int multifd_send_announce(struct multifd *mf, struct state_writer *w, struct verr *err)
{
    if (getrandom(mf->id, sizeof(mf->id), 0) != (ssize_t)sizeof(mf->id))
        return verr_errno(err, errno, "multifd: cannot draw the migration's id");
    uint8_t p[MFD_LEN] = {0};
    state_put_le(p, mf->n, 4);
    memcpy(p + 8, mf->id, MULTIFD_ID_LEN);
    int r = state_write_section(w, STATE_SEC_MFD, 1, p, sizeof(p), err);
    return r < 0 ? r : state_writer_flush(w, err);
}

int multifd_send_connect(struct multifd *mf, const char *uri, struct mig_tls_creds *creds,
                         const char *host, struct verr *err)
{
    for (unsigned i = 0; i < mf->n; i++) {
        struct multifd_channel *c = &mf->ch[i];
        int sock = mig_transport_connect(uri, err);
        if (sock < 0)
            return verr_prefix(err, "multifd channel %u", i);
        pthread_mutex_lock(&mf->lock);
        c->sock = c->fd = sock;
        pthread_mutex_unlock(&mf->lock);
        if (*mf->cancel) /* a cancel while connecting may have missed this socket */
            return verr_set(err, ECANCELED, "cancelled");
        if (creds) {
            struct mig_tls *t;
            int plain;
            int r = mig_tls_start(creds, sock, host, &t, &plain, err);
            if (r < 0)
                return *mf->cancel ? verr_set(err, ECANCELED, "cancelled")
                                   : verr_prefix(err, "multifd channel %u", i);
            pthread_mutex_lock(&mf->lock);
            c->tls = t;
            c->fd = plain;
            pthread_mutex_unlock(&mf->lock);
            if (*mf->cancel)
                return verr_set(err, ECANCELED, "cancelled");
        }
        uint8_t h[HELLO_LEN];
        memcpy(h, HELLO_MAGIC, 8);
        state_put_le(h + 8, HELLO_VERSION, 4);
        state_put_le(h + 12, i, 4);
        memcpy(h + 16, mf->id, MULTIFD_ID_LEN);
        int r = write_all(c->fd, h, sizeof(h));
        if (r < 0)
            return verr_errno(err, -r, "multifd channel %u: cannot send its hello", i);
        r = state_writer_init(&c->w, c->fd, mf->cancel, err);
        c->have_writer = true;
        c->w.copy_pages = true; /* the guest runs while its pages are sent */
        c->w.rate_limit = &mf->chan_rate;
        if (r == 0)
            r = state_writer_flush(&c->w, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static void *send_thread(void *opaque)
{
    struct multifd_channel *c = opaque;
    struct multifd *mf = c->mf;
    struct verr e = {0};
    int r = 0;
    for (;;) {
        uint64_t piece = __atomic_fetch_add(&mf->next_piece, 1, __ATOMIC_RELAXED);
        if (piece >= mf->nr_pieces)
            break;
        if (*mf->cancel) {
            r = verr_set(&e, ECANCELED, "cancelled");
            break;
        }
        r = state_ram_save_range(mf->vm, &c->w, mf->dirty, piece * PIECE_PAGES,
                                 (piece + 1) * PIECE_PAGES, &c->st, &e);
        if (r < 0)
            break;
    }
    if (r == 0) {
        uint8_t p[8];
        state_put_le(p, mf->pass, 8);
        r = state_write_section(&c->w, STATE_SEC_SYNC, 1, p, sizeof(p), &e);
    }
    if (r == 0)
        r = state_writer_flush(&c->w, &e);
    if (r < 0) {
        if (!*mf->cancel)
            verr_prefix(&e, "multifd channel %u", c->index);
        fail(mf, true, &e);
    }
    c->rc = r;
    return NULL;
}

int multifd_send_pass(struct multifd *mf, struct state_writer *w, const uint64_t *dirty,
                      uint64_t pass, uint64_t rate, struct state_ram_stats *st, struct verr *err)
{
    uint64_t npages = mf->vm->mem.size / STATE_PAGE_SIZE;
    mf->dirty = dirty;
    mf->pass = pass;
    mf->next_piece = 0;
    mf->nr_pieces = (npages + PIECE_PAGES - 1) / PIECE_PAGES;
    mf->chan_rate = rate ? (rate / mf->n ? rate / mf->n : 1) : 0;
    unsigned started = 0;
    int r = 0;
    for (unsigned i = 0; i < mf->n; i++) {
        struct multifd_channel *c = &mf->ch[i];
        memset(&c->st, 0, sizeof(c->st));
        c->rc = 0;
        int e = pthread_create(&c->thread, NULL, send_thread, c);
        if (e != 0) {
            r = verr_errno(err, e, "multifd: cannot start a sender thread");
            fail(mf, false, err);
            break;
        }
        started++;
    }
    for (unsigned i = 0; i < started; i++) {
        struct multifd_channel *c = &mf->ch[i];
        pthread_join(c->thread, NULL);
        st->pages_written += c->st.pages_written;
        st->bytes_written += c->st.bytes_written;
        st->pages_zero += c->st.pages_zero;
    }
    if (r == 0 && mf->failed) {
        pthread_mutex_lock(&mf->lock);
        *err = mf->fail_err;
        pthread_mutex_unlock(&mf->lock);
        r = *mf->cancel ? verr_set(err, ECANCELED, "cancelled") : -EIO;
    }
    st->pages_total += npages;
    if (r == 0) {
        uint8_t p[8];
        state_put_le(p, pass, 8);
        r = state_write_section(w, STATE_SEC_SYNC, 1, p, sizeof(p), err);
    }
    return r;
}

int multifd_send_end(struct multifd *mf, struct verr *err)
{
    for (unsigned i = 0; i < mf->n; i++) {
        int r = state_write_end(&mf->ch[i].w, false, err);
        if (r < 0)
            return verr_prefix(err, "multifd channel %u", i);
    }
    return 0;
}

uint64_t multifd_send_bytes(const struct multifd *mf)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < mf->n; i++)
        n += mf->ch[i].have_writer ? mf->ch[i].w.pos : 0;
    return n;
}

/* ---- destination ---- */

int multifd_recv_announce(struct multifd *mf, struct state_reader *r, bool enabled,
                          struct verr *err)
{
    bool used = r->flags & STATE_FLAG_MULTIFD;
    if (used && !enabled)
        return verr_set(err, EINVAL,
                        "the source migrates with multifd, but the multifd capability is not set "
                        "on this destination");
    if (!used && enabled)
        return verr_set(err, EINVAL,
                        "the multifd capability is set on this destination, but the source "
                        "migrates without it");
    if (!used)
        return 0;
    struct state_section s;
    int rc = state_read_section(r, &s, err);
    if (rc < 0)
        return rc;
    if (s.kind != STATE_SEC_MFD || s.version != 1 || s.len != MFD_LEN) {
        char k[5];
        rc = verr_set(err, EINVAL,
                      "VM state: section %u is %s (version %u, %zu bytes), expected "
                      "MFD version 1 of %d bytes",
                      s.index, state_kind_name(s.kind, k), s.version, s.len, MFD_LEN);
        state_section_free(&s);
        return rc;
    }
    uint32_t n = (uint32_t)state_get_le(s.payload, 4);
    memcpy(mf->id, s.payload + 8, MULTIFD_ID_LEN);
    state_section_free(&s);
    if (n != mf->n)
        return verr_set(err, EINVAL,
                        "multifd: the source opens %u channels, this destination's "
                        "multifd-channels is %u",
                        n, mf->n);
    return 0;
}

int multifd_hello_parse(const struct multifd *mf, const uint8_t *h, size_t len, unsigned *index,
                        struct verr *err)
{
    if (len < HELLO_LEN)
        return verr_set(err, EPROTO, "a hello of %zu bytes (%d expected)", len, HELLO_LEN);
    if (memcmp(h, HELLO_MAGIC, 8))
        return verr_set(err, EPROTO, "not a multifd channel (bad magic)");
    uint32_t version = (uint32_t)state_get_le(h + 8, 4);
    uint32_t i = (uint32_t)state_get_le(h + 12, 4);
    if (version != HELLO_VERSION)
        return verr_set(err, EPROTO, "multifd hello version %u (this vireo-vmm speaks %d)", version,
                        HELLO_VERSION);
    if (memcmp(h + 16, mf->id, MULTIFD_ID_LEN))
        return verr_set(err, EPROTO, "a channel of another migration (its id differs)");
    if (i >= mf->n)
        return verr_set(err, EPROTO, "channel index %u, this migration has %u channels", i, mf->n);
    if (mf->ch[i].sock >= 0)
        return verr_set(err, EPROTO, "channel %u is already connected", i);
    *index = i;
    return 0;
}

/* A channel's hello, read and checked; one line for a connection that is not one of ours. */
static int check_hello(struct multifd *mf, int fd, bool plain, unsigned *index, struct verr *err)
{
    uint8_t h[HELLO_LEN];
    /* A plain connection that says nothing must not hold the others back for ever. */
    struct timeval tv = {HELLO_TIMEOUT, 0}, none = {0, 0};
    if (plain)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int r = read_all(fd, h, sizeof(h));
    if (plain)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
    if (r < 0)
        return verr_errno(err, -r == EAGAIN ? ETIMEDOUT : -r, "no hello");
    return multifd_hello_parse(mf, h, sizeof(h), index, err);
}

/* Both the receivers and the main stream's reader call this at each SYNC. */
static int barrier(struct multifd *mf, const struct state_section *s, uint64_t *synced,
                   struct verr *err)
{
    if (s->version != 1 || s->len != 8)
        return verr_set(err, EINVAL, "section %u (SYNC): version %u, %zu bytes", s->index,
                        s->version, s->len);
    uint64_t pass = state_get_le(s->payload, 8);
    if (pass != *synced + 1)
        return verr_set(err, EINVAL, "section %u (SYNC): pass %llu, expected %llu", s->index,
                        (unsigned long long)pass, (unsigned long long)(*synced + 1));
    pthread_mutex_lock(&mf->lock);
    uint64_t gen = mf->generation;
    if (!mf->failed && ++mf->arrived == mf->n + 1) {
        mf->arrived = 0;
        mf->generation++;
        pthread_cond_broadcast(&mf->cond);
    }
    while (gen == mf->generation && !mf->failed)
        pthread_cond_wait(&mf->cond, &mf->lock);
    bool passed = gen != mf->generation;
    pthread_mutex_unlock(&mf->lock);
    if (!passed)
        return verr_set(err, ECANCELED, "another migration connection failed");
    *synced = pass;
    return 0;
}

int multifd_recv_stream(struct multifd *mf, struct state_reader *r, uint64_t *synced,
                        struct state_ram_stats *st, struct verr *err)
{
    int rc = 0;
    bool done = false;
    while (rc == 0 && !done) {
        struct state_section s;
        if ((rc = state_read_section(r, &s, err)) < 0)
            break;
        char k[5];
        if (s.kind == STATE_SEC_RAM && state_ram_section_layout(&s) != STATE_RAM_LAYOUT_DELTA)
            rc = verr_set(err, EINVAL, "section %u: RAM sections on a channel must be deltas",
                          s.index);
        else if (s.kind == STATE_SEC_RAM)
            rc = state_ram_load(mf->vm, r, &s, false, false, st, err);
        else if (s.kind == STATE_SEC_SYNC)
            rc = barrier(mf, &s, synced, err);
        else if (s.kind == STATE_SEC_END)
            rc = state_check_end(r, &s, err), done = true;
        else
            rc = verr_set(err, EINVAL, "section %u is %s, expected RAM, SYNC or END", s.index,
                          state_kind_name(s.kind, k));
        state_section_free(&s);
    }
    return rc;
}

static void *recv_thread(void *opaque)
{
    struct multifd_channel *c = opaque;
    struct multifd *mf = c->mf;
    struct verr e = {0};
    int r = state_reader_init_fd(&c->r, c->fd, &e);
    c->have_reader = true;
    if (r == 0)
        r = multifd_recv_stream(mf, &c->r, &c->synced, &c->st, &e);
    if (r < 0) {
        verr_prefix(&e, "multifd channel %u", c->index);
        fail(mf, true, &e);
    }
    c->rc = r;
    c->err = e;
    return NULL;
}

int multifd_recv_start(struct multifd *mf, int lfd, const char *uri, int main_sock,
                       struct mig_tls_creds *creds, struct verr *err)
{
    pthread_mutex_lock(&mf->lock);
    mf->main_sock = main_sock;
    pthread_mutex_unlock(&mf->lock);
    bool watch_main = main_sock >= 0;
    for (unsigned got = 0; got < mf->n;) {
        /* A source that gives up (cancelled, failed) before its channels come closes the
         * main connection: that ends the wait, which would otherwise last for ever. */
        struct pollfd p[2] = {{lfd, POLLIN, 0}, {main_sock, POLLIN | POLLRDHUP, 0}};
        int n = poll(p, watch_main ? 2 : 1, 500);
        if (*mf->cancel) /* the VMM is going away */
            return verr_set(err, ECANCELED, "cancelled");
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return verr_errno(err, errno, "%s: waiting for the multifd channels", uri);
        if (watch_main && p[1].revents) {
            char b;
            ssize_t k = recv(main_sock, &b, 1, MSG_PEEK | MSG_DONTWAIT);
            if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR) ||
                (p[1].revents & (POLLHUP | POLLERR)))
                return verr_set(err, EPIPE,
                                "the source closed the migration connection before its %u "
                                "multifd channels came (%u did)",
                                mf->n, got);
            watch_main = k < 0; /* data (not expected before the channels): stop watching */
        }
        if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        int sock = mig_transport_accept_keep(lfd, uri, err);
        if (sock < 0)
            return *mf->cancel ? verr_set(err, ECANCELED, "cancelled") : sock;
        struct verr e = {0};
        struct mig_tls *t = NULL;
        int fd = sock, r = 0;
        if (creds)
            r = mig_tls_start(creds, sock, NULL, &t, &fd, &e);
        unsigned i = 0;
        if (r == 0)
            r = check_hello(mf, fd, !creds, &i, &e);
        if (r < 0) {
            log_warn("migration: refused a connection on %s: %s", uri, verr_msg(&e));
            if (t) {
                close(fd);
                mig_tls_finish(t, true);
            } else {
                close(sock);
            }
            continue;
        }
        pthread_mutex_lock(&mf->lock);
        mf->ch[i].sock = sock;
        mf->ch[i].fd = fd;
        mf->ch[i].tls = t;
        pthread_mutex_unlock(&mf->lock);
        got++;
    }
    for (unsigned i = 0; i < mf->n; i++) {
        struct multifd_channel *c = &mf->ch[i];
        int e = pthread_create(&c->thread, NULL, recv_thread, c);
        if (e != 0) {
            int r = verr_errno(err, e, "multifd: cannot start a receiver thread");
            fail(mf, false, err);
            return r;
        }
        c->thread_running = true;
    }
    return 0;
}

int multifd_recv_sync(struct multifd *mf, const struct state_section *s, struct verr *err)
{
    int r = barrier(mf, s, &mf->main_synced, err);
    return r < 0 ? verr_prefix(err, "VM state") : 0;
}

int multifd_recv_finish(struct multifd *mf, bool abort, struct state_ram_stats *st,
                        struct verr *err)
{
    if (abort) {
        struct verr e = {0};
        verr_set(&e, ECANCELED, "the main migration stream failed");
        fail(mf, false, &e);
    }
    int r = 0;
    for (unsigned i = 0; i < mf->n; i++) {
        struct multifd_channel *c = &mf->ch[i];
        if (!c->thread_running)
            continue;
        pthread_join(c->thread, NULL);
        c->thread_running = false;
        st->pages_written += c->st.pages_written;
        st->bytes_written += c->st.bytes_written;
        if (r == 0 && !abort && c->rc < 0) {
            *err = c->err;
            r = c->rc;
        }
        if (r == 0 && !abort && c->synced != mf->main_synced)
            r = verr_set(err, EINVAL,
                         "multifd channel %u ended after %llu passes, the main stream had %llu", i,
                         (unsigned long long)c->synced, (unsigned long long)mf->main_synced);
    }
    pthread_mutex_lock(&mf->lock);
    if (mf->failed && mf->failed_in_chan) {
        *err = mf->fail_err;
        r = -EIO;
    }
    pthread_mutex_unlock(&mf->lock);
    return abort && r == 0 ? -ECANCELED : r;
}
