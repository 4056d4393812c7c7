/*
 * chardev.h - serial back-ends: where a UART's bytes go and come from.
 *
 * Kinds, with QEMU's -serial spellings: stdio (stdin in raw mode when it is a
 * terminal, restored on exit; "Ctrl-a x" quits, "Ctrl-a Ctrl-a" sends Ctrl-a,
 * "Ctrl-a c" is ignored as there is no monitor), pty (prints "char device
 * redirected to /dev/pts/N (label serial0)"), file:PATH (output only),
 * unix:PATH[,server[,nowait]] (a server takes one client at a time) and none; and QEMU's
 * -chardev BACKEND,id=ID,... spellings (chardev_parse_opts): socket (unix
 * path=, server=on|off, wait=on|off, or the old server,nowait words; a
 * client connects at start-up), pty, file,path=, stdio and null. A -serial
 * chardev:ID names one of those (kind CHARDEV_REF, resolved by the VM).
 *
 * A back-end is "connected" when something is on the other side: a socket
 * client, a pty whose slave is open (checked on a timer while it is not, as
 * QEMU does), always for stdio, file and null. Frontends that care (the
 * virtio-console ports) get an event on every change.
 *
 * Output is written by vCPU threads; input is read on the loop thread and
 * handed to the receiver (the UART) only as far as it has room, so a guest
 * that does not read its UART makes the back-end stop reading (back-pressure)
 * instead of losing bytes or growing a buffer.
 */
#ifndef VIREO_VMM_DEV_CHARDEV_H
#define VIREO_VMM_DEV_CHARDEV_H

#include "util/error.h"
#include "util/loop.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <termios.h>

enum chardev_kind {
    CHARDEV_NONE = 0,
    CHARDEV_STDIO,
    CHARDEV_PTY,
    CHARDEV_FILE,
    CHARDEV_UNIX,
    CHARDEV_REF, /* -serial chardev:ID: id names a -chardev */
};

struct chardev_spec {
    enum chardev_kind kind;
    char *path;  /* file: and unix: */
    bool server; /* unix: listen */
    bool wait;   /* unix server: wait for a client before starting */
    char *id;    /* -chardev id= (or the referenced id for CHARDEV_REF) */
};

/* Parses a -serial argument ("stdio", "pty", "file:PATH", "unix:PATH,server,nowait", "none"). */
int chardev_parse(const char *arg, struct chardev_spec *spec, struct verr *err);
void chardev_spec_free(struct chardev_spec *spec);
/* Parses a -chardev argument ("socket,id=c0,path=P,server=on,wait=off", "pty,id=c1", ...). */
int chardev_parse_opts(const char *arg, struct chardev_spec *spec, struct verr *err);
/* The -chardev backend name of a kind ("socket", "pty", ...). */
const char *chardev_kind_name(enum chardev_kind kind);

struct chardev_receiver {
    size_t (*room)(void *opaque);                                   /* bytes it can take now */
    void (*receive)(void *opaque, const uint8_t *data, size_t len); /* at most room() bytes */
    void *opaque;
    /* Optional, loop thread: the back-end's other side came or went (see above). */
    void (*event)(void *opaque, bool connected);
};

struct chardev {
    enum chardev_kind kind;
    const char *label;
    char what[300]; /* the option as error lines name it */
    struct loop *loop;
    pthread_mutex_t lock; /* guards out_fd and client changes against vCPU writes */
    int in_fd, out_fd;    /* -1 when absent */
    int listen_fd;
    char *unix_path;
    bool server;                  /* unix: listening (else a client) */
    bool connected;               /* see above; loop thread */
    bool fe_open;                 /* frontend open (QMP); atomic */
    char *pty_name;               /* /dev/pts/N */
    struct loop_timer *pty_timer; /* polls a pty without a slave */
    bool want_write;              /* a frontend waits for the fd to drain (under lock) */
    void (*writable)(void *opaque);
    void *writable_opaque;
    struct loop_watch *in_watch, *listen_watch;
    bool in_paused; /* receiver was full */
    bool in_hup;    /* hung up while paused: watch removed until the receiver has room */
    bool tty_raw;
    struct termios saved_tty;
    bool escape; /* Ctrl-a seen (stdio) */
    struct chardev_receiver rx;
    void (*quit)(void *opaque); /* Ctrl-a x */
    void *quit_opaque;
};

int chardev_open(struct chardev *c, const struct chardev_spec *spec, const char *label,
                 struct loop *loop, struct verr *err);
/* Starts delivering input to the receiver (call once the receiver exists). */
void chardev_set_receiver(struct chardev *c, const struct chardev_receiver *rx);
/* Any thread: the receiver has room again. */
void chardev_input_ready(struct chardev *c);
/* Any thread: writes guest output; drops it if nobody listens. */
void chardev_write(struct chardev *c, const uint8_t *data, size_t len);
/*
 * Any thread: writes what fits without blocking. Returns the bytes taken (all of them when
 * nobody listens: they are dropped), or -EAGAIN when nothing fits now; then fn(opaque) runs
 * on the loop thread once the fd drains or the other side goes (set with
 * chardev_notify_writable before retrying).
 */
ssize_t chardev_write_nb(struct chardev *c, const uint8_t *data, size_t len);
void chardev_notify_writable(struct chardev *c, void (*fn)(void *opaque), void *opaque);
/* Whether the other side is there (loop thread, or a racy hint elsewhere). */
bool chardev_connected(struct chardev *c);
/* QMP query-chardev's filename (QEMU's spellings: "unix:P,server=on", "pty:/dev/pts/N"...). */
char *chardev_filename(struct chardev *c);

void chardev_close(struct chardev *c);
/* A VM's chardevs, in -chardev order (-serial's own "serial0" last). */
struct chardev_set {
    struct chardev *c;
    unsigned n;
};
/* Opens n chardevs from specs (labels are the specs' ids) into set; on failure closes what it
 * opened. */
int chardev_open_all(struct chardev_set *set, const struct chardev_spec *specs, unsigned n,
                     struct loop *loop, struct verr *err);
void chardev_close_all(struct chardev_set *set);
/* QMP query-chardev's frontend-open: set by the frontend (true once a receiver is set). */
void chardev_set_fe_open(struct chardev *c, bool open);
bool chardev_fe_open(struct chardev *c);

struct qmp_server;
/* QMP query-chardev over set (chardev-qmp.c); set must outlive the server. */
int chardev_qmp_register(struct qmp_server *server, const struct chardev_set *set);

#endif
