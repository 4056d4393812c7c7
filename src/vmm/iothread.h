/*
 * iothread.h - QEMU's I/O threads for vireo-vmm: `-object iothread,id=ID
 * [,poll-max-ns=N][,poll-grow=N][,poll-shrink=N]`, QMP object-add/object-del
 * of qom-type "iothread", query-iothreads and qom-set of the poll properties
 * on /objects/ID.
 *
 * An I/O thread is an event loop (epoll) that owns the queue processing of
 * the devices placed on it (virtio-blk and virtio-scsi `iothread=ID`): their
 * ioeventfds are watched there and their process_queue runs there, instead
 * of on each device's own I/O thread. Several devices can share one thread,
 * and management can pin it (its host thread id is in query-iothreads) and
 * see it by name ("IO ID", as QEMU names it for debug-threads=on).
 *
 * Polling: before blocking, the loop polls its descriptors for up to poll_ns,
 * which adapts as QEMU's AioContext does: a wait that ended within
 * poll-max-ns grows poll_ns (x poll-grow, or x2; starting at 4 us), a longer
 * one shrinks it (/ poll-shrink, or to 0); poll-max-ns=0 never polls.
 */
#ifndef VIREO_VMM_IOTHREAD_H
#define VIREO_VMM_IOTHREAD_H

#include "util/error.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define IOTHREAD_POLL_MAX_NS_DEFAULT 32768 /* QEMU's default */
#define VMM_MAX_IOTHREADS            64

struct iothread_spec {
    char *id;
    int64_t poll_max_ns, poll_grow, poll_shrink;
};

/* Whether a -object option string is an iothread ("iothread,..." or "qom-type=iothread"). */
bool iothread_spec_is(const char *optstr);
/* Parses "iothread,id=ID,poll-max-ns=N,..." into spec (id owned); QEMU's words on errors. */
int iothread_spec_parse(const char *optstr, struct iothread_spec *spec, struct verr *err);
/* Checks and sets one property by name ("poll-max-ns", "poll-grow", "poll-shrink",
 * "aio-max-batch" (only 0)); -ENOENT when the name is not a property. */
int iothread_spec_set(struct iothread_spec *spec, const char *name, int64_t value,
                      struct verr *err);
void iothread_spec_free(struct iothread_spec *spec);

struct iothread;

/* Starts the thread (named "IO ID") and waits until its id is known. */
int iothread_create(const struct iothread_spec *spec, struct iothread **out, struct verr *err);
/* Stops and joins the thread; nothing may still be attached. */
void iothread_destroy(struct iothread *it);

const char *iothread_id(const struct iothread *it);
pid_t iothread_thread_id(const struct iothread *it);
/* The poll parameters (query-iothreads, qom-get) and their live change (qom-set). */
void iothread_get_params(const struct iothread *it, struct iothread_spec *out);
int iothread_set_param(struct iothread *it, const char *name, int64_t value, struct verr *err);

/* Devices using it: object-del refuses one in use. */
void iothread_ref(struct iothread *it);
void iothread_unref(struct iothread *it);
unsigned iothread_users(const struct iothread *it);

/* Watches fd for input; handler(opaque) runs on the thread while it is readable. */
int iothread_add_fd(struct iothread *it, int fd, void (*handler)(void *opaque), void *opaque,
                    struct verr *err);
/* Stops watching fd; once it returns the handler is not running and will not run again. */
void iothread_remove_fd(struct iothread *it, int fd);

/* The VM's I/O threads, in creation order. */
struct iothread_set {
    struct iothread *v[VMM_MAX_IOTHREADS];
    unsigned n;
};
struct iothread *iothread_set_find(const struct iothread_set *set, const char *id);
/* Creates one more (its id must be new); object-add and the command line. */
int iothread_set_add(struct iothread_set *set, const struct iothread_spec *spec, struct verr *err);
/* Destroys one (object-del); -EBUSY when a device uses it. */
int iothread_set_del(struct iothread_set *set, const char *id, struct verr *err);
void iothread_set_destroy(struct iothread_set *set);

#endif
