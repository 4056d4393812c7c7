/*
 * chardev.h - serial back-ends: where a UART's bytes go and come from.
 *
 * Kinds, with QEMU's -serial spellings: stdio (stdin in raw mode when it is a
 * terminal, restored on exit; "Ctrl-a x" quits, "Ctrl-a Ctrl-a" sends Ctrl-a,
 * "Ctrl-a c" is ignored as there is no monitor), pty (prints "char device
 * redirected to /dev/pts/N (label serial0)"), file:PATH (output only),
 * unix:PATH,server[,nowait] (one client at a time) and none.
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
#include <termios.h>

enum chardev_kind {
    CHARDEV_NONE = 0,
    CHARDEV_STDIO,
    CHARDEV_PTY,
    CHARDEV_FILE,
    CHARDEV_UNIX,
};

struct chardev_spec {
    enum chardev_kind kind;
    char *path;  /* file: and unix: */
    bool server; /* unix: listen */
    bool wait;   /* unix server: wait for a client before starting */
};

/* Parses a -serial argument ("stdio", "pty", "file:PATH", "unix:PATH,server,nowait", "none"). */
int chardev_parse(const char *arg, struct chardev_spec *spec, struct verr *err);
void chardev_spec_free(struct chardev_spec *spec);

struct chardev_receiver {
    size_t (*room)(void *opaque);                                   /* bytes it can take now */
    void (*receive)(void *opaque, const uint8_t *data, size_t len); /* at most room() bytes */
    void *opaque;
};

struct chardev {
    enum chardev_kind kind;
    const char *label;
    struct loop *loop;
    pthread_mutex_t lock; /* guards out_fd and client changes against vCPU writes */
    int in_fd, out_fd;    /* -1 when absent */
    int listen_fd;
    char *unix_path;
    struct loop_watch *in_watch, *listen_watch;
    bool in_paused; /* receiver was full */
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
void chardev_close(struct chardev *c);

#endif
