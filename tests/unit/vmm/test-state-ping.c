/*
 * test-state-ping.c - the state stream's PING (vmm/state/stream.c,
 * STATE_FLAG_PING): over a socket pair, the writer's state_writer_ping
 * returns only once the reader has read every section before the PING (a
 * live migration's source relies on it to leave nothing in the connection
 * when it stops the VM); the reader answers it without handing it on;
 * a PING the header did not announce, or malformed, is refused with one
 * line; a writer whose reader goes away gets an error, not a hang.
 */
#include "../tap.h"
#include "vmm/state/stream.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BIG (3u << 20) /* more than a socket pair buffers */

struct reader_side {
    int fd;
    unsigned sections;       /* read so far, the PINGs not counted */
    volatile unsigned ready; /* sections read when the writer's ping returned */
    int rc;
    char msg[256];
};

static void *reader_thread(void *opaque)
{
    struct reader_side *rs = opaque;
    struct state_reader r;
    struct verr err = {0};
    int rc = state_reader_init_fd(&r, rs->fd, &err);
    while (rc == 0) {
        struct state_section s;
        usleep(2000); /* slower than the writer: the socket fills */
        if ((rc = state_read_section(&r, &s, &err)) < 0)
            break;
        uint32_t kind = s.kind;
        if (kind == STATE_SEC_END)
            rc = state_check_end(&r, &s, &err);
        state_section_free(&s);
        __atomic_store_n(&rs->sections, rs->sections + 1, __ATOMIC_RELEASE);
        if (kind == STATE_SEC_END)
            break;
    }
    rs->rc = rc;
    snprintf(rs->msg, sizeof(rs->msg), "%s", rc < 0 ? verr_msg(&err) : "");
    state_reader_free(&r);
    return NULL;
}

/* One stream: n sections of BIG/n bytes, a PING, two more sections, END. */
static void ping_after_data(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        abort();
    struct reader_side rs = {.fd = sv[1]};
    pthread_t t;
    pthread_create(&t, NULL, reader_thread, &rs);
    struct state_writer w;
    struct verr err = {0};
    const unsigned n = 6;
    uint8_t *p = calloc(1, BIG / n);
    int rc = state_writer_init_flags(&w, sv[0], NULL, STATE_FLAG_ACK | STATE_FLAG_PING, &err);
    for (unsigned i = 0; rc == 0 && i < n; i++)
        rc = state_write_section(&w, STATE_FOURCC('T', 'E', 'S', 'T'), 1, p, BIG / n, &err);
    if (rc == 0)
        rc = state_writer_ping(&w, 1, &err);
    unsigned at_pong = __atomic_load_n(&rs.sections, __ATOMIC_ACQUIRE);
    ok(rc == 0, "ping answered (%s)", rc < 0 ? verr_msg(&err) : "ok");
    ok(at_pong == n,
       "when the ping returns the reader has read all %u sections before it "
       "(it had read %u)",
       n, at_pong);
    for (unsigned i = 0; rc == 0 && i < 2; i++)
        rc = state_write_section(&w, STATE_FOURCC('T', 'E', 'S', 'T'), 1, p, 100, &err);
    if (rc == 0)
        rc = state_write_end(&w, false, &err);
    ok(rc == 0, "the stream goes on after the ping");
    pthread_join(t, NULL);
    ok(rs.rc == 0, "the reader checks END with the PING in the stream (%s)", rs.msg);
    ok(rs.sections == n + 3, "the PING is not handed to the reader's caller (%u sections)",
       rs.sections);
    state_writer_free(&w);
    free(p);
    close(sv[0]);
    close(sv[1]);
}

/* The reader gets bytes written by hand: header flags and one PING section. */
static int read_crafted(uint32_t flags, uint32_t version, size_t len, char *msg, size_t msg_len)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        abort();
    struct state_writer w;
    struct verr err = {0};
    uint8_t p[16] = {0};
    int rc = state_writer_init_flags(&w, sv[0], NULL, flags, &err);
    if (rc == 0)
        rc = state_write_section(&w, STATE_SEC_PING, version, p, len, &err);
    if (rc == 0)
        rc = state_writer_flush(&w, &err);
    state_writer_free(&w);
    shutdown(sv[0], SHUT_WR);
    struct state_reader r;
    struct state_section s;
    if (rc == 0 && (rc = state_reader_init_fd(&r, sv[1], &err)) == 0) {
        rc = state_read_section(&r, &s, &err);
        if (rc == 0)
            state_section_free(&s);
        state_reader_free(&r);
    }
    snprintf(msg, msg_len, "%s", rc < 0 ? verr_msg(&err) : "");
    close(sv[0]);
    close(sv[1]);
    return rc;
}

static void refused(void)
{
    char msg[256];
    int rc = read_crafted(STATE_FLAG_ACK, 1, 8, msg, sizeof(msg));
    ok(rc < 0 && strstr(msg, "PING") && strstr(msg, "do not announce"),
       "a PING without the header's flag is refused: %s", msg);
    rc = read_crafted(STATE_FLAG_PING, 2, 8, msg, sizeof(msg));
    ok(rc < 0 && strstr(msg, "(PING): version 2, 8 bytes"), "a PING of version 2: %s", msg);
    rc = read_crafted(STATE_FLAG_PING, 1, 16, msg, sizeof(msg));
    ok(rc < 0 && strstr(msg, "(PING): version 1, 16 bytes"), "a PING of 16 bytes: %s", msg);
    /* A valid PING answered, then the stream ends: truncated, not a hang. */
    rc = read_crafted(STATE_FLAG_PING, 1, 8, msg, sizeof(msg));
    ok(rc < 0 && strstr(msg, "truncated"), "a stream that ends after a PING: %s", msg);
}

static void reader_gone(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        abort();
    struct state_writer w;
    struct verr err = {0};
    int rc = state_writer_init_flags(&w, sv[0], NULL, STATE_FLAG_PING, &err);
    if (rc == 0)
        rc = state_writer_flush(&w, &err);
    close(sv[1]); /* no reader: the ping's answer never comes */
    if (rc == 0)
        rc = state_writer_ping(&w, 1, &err);
    ok(rc < 0, "a ping to a reader that went away fails: %s", rc < 0 ? verr_msg(&err) : "ok");
    state_writer_free(&w);
    close(sv[0]);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    ping_after_data();
    refused();
    reader_gone();
    return tap_done();
}
