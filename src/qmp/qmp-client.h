/*
 * qmp-client.h - a small blocking QMP client: connect to a unix socket, read
 * the greeting, negotiate, run commands with a timeout, collect events.
 *
 * vireod drives each VM's vireo-vmm (or QEMU) through it, and the QMP tests
 * use it against the server. Blocking with poll() timeouts keeps it simple
 * to use from a worker thread; each call is bounded by its timeout, so a
 * hung VMM cannot hang the caller. Replies are matched to requests by an
 * "id" the client generates; events that arrive meanwhile are queued in
 * order for qmp_client_next_event(). Not thread-safe: one thread per client.
 *
 * A daemon watching many VMs from one event loop attaches the client to its
 * loop instead (qmp_client_attach): events then arrive through a callback as
 * they come, and commands run asynchronously with a reply callback and a
 * timeout, without ever blocking the loop.
 */
#ifndef VIREO_QMP_CLIENT_H
#define VIREO_QMP_CLIENT_H

#include <stddef.h>

struct json_object;
struct loop;
struct verr;
struct qmp_client;

/*
 * Connects, reads the greeting and sends qmp_capabilities; on success the
 * client is ready for commands. Returns 0 or -errno (err filled).
 */
int qmp_client_connect(const char *path, int timeout_ms, struct qmp_client **out, struct verr *err);
/* Connects and reads the greeting only (tests of the negotiation phase). */
int qmp_client_open(const char *path, int timeout_ms, struct qmp_client **out, struct verr *err);
/* Sends qmp_capabilities (with "enable": ["oob"] if oob) and checks the reply. */
int qmp_client_negotiate(struct qmp_client *c, int oob, int timeout_ms, struct verr *err);
void qmp_client_close(struct qmp_client *c);

/* The greeting object ({"QMP": {...}}), owned by the client. */
struct json_object *qmp_client_greeting(const struct qmp_client *c);

/*
 * Runs a command. args (may be NULL) is taken over. On 0, *reply is the
 * whole reply ({"return": ...} or {"error": {...}}, "id" removed), owned by
 * the caller; a QMP error is still a 0 return: look at the reply. Returns
 * -ETIMEDOUT, -ECONNRESET (server closed) or -EPROTO (garbage) otherwise.
 */
int qmp_client_execute(struct qmp_client *c, const char *command, struct json_object *args,
                       int timeout_ms, struct json_object **reply, struct verr *err);
/* The same, with fd passed alongside the command (SCM_RIGHTS), as QMP's
 * getfd and add-fd take a descriptor. The caller keeps fd. */
int qmp_client_execute_fd(struct qmp_client *c, const char *command, struct json_object *args,
                          int fd, int timeout_ms, struct json_object **reply, struct verr *err);
/*
 * Returns 0 with the oldest queued or next arriving event in *event (owned
 * by the caller), -ETIMEDOUT if none came within timeout_ms (0: just check).
 */
int qmp_client_next_event(struct qmp_client *c, int timeout_ms, struct json_object **event,
                          struct verr *err);
size_t qmp_client_queued_events(const struct qmp_client *c);

/* For tests: sends raw bytes, and reads the next message of any kind. */
int qmp_client_send_raw(struct qmp_client *c, const void *data, size_t len, struct verr *err);
int qmp_client_read_message(struct qmp_client *c, int timeout_ms, struct json_object **msg,
                            struct verr *err);
int qmp_client_fd(const struct qmp_client *c);

/* ---- loop-driven use ---- */

/* event is borrowed: take a reference (json_object_get) to keep it. */
typedef void (*qmp_client_event_fn)(struct qmp_client *c, struct json_object *event, void *opaque);
/* Called once when the connection ends (server gone, or it sent garbage). */
typedef void (*qmp_client_closed_fn)(struct qmp_client *c, const char *why, void *opaque);
/*
 * The reply ({"return": ...} or {"error": ...}, "id" removed; borrowed), or
 * NULL with error set when the command timed out or the connection ended.
 */
typedef void (*qmp_client_reply_fn)(struct qmp_client *c, struct json_object *reply,
                                    const char *error, void *opaque);

/*
 * Hands the client to loop (call after qmp_client_connect). From then on
 * the blocking calls return -EBUSY; events (including any already queued)
 * go to event_fn, and closed_fn (may be NULL) is called once when the
 * server hangs up, after every pending request failed. Callbacks run on
 * the loop thread and may call qmp_client_execute_async() and
 * qmp_client_close() (then no further callback comes for this client).
 */
int qmp_client_attach(struct qmp_client *c, struct loop *loop, qmp_client_event_fn event_fn,
                      qmp_client_closed_fn closed_fn, void *opaque, struct verr *err);
/*
 * Sends a command (args taken over, may be NULL) without blocking; fn is
 * called exactly once with the reply, or with an error after timeout_ms or
 * when the connection ends. Returns 0, or -ENOTCONN if the connection is
 * already gone (fn is then not called).
 */
int qmp_client_execute_async(struct qmp_client *c, const char *command, struct json_object *args,
                             int timeout_ms, qmp_client_reply_fn fn, void *opaque);
/* The same with fd passed alongside (see qmp_client_execute_fd); -EAGAIN
 * when earlier requests are still unsent (fn is then not called). */
int qmp_client_execute_async_fd(struct qmp_client *c, const char *command, struct json_object *args,
                                int fd, int timeout_ms, qmp_client_reply_fn fn, void *opaque);

#endif
