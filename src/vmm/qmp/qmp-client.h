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
 */
#ifndef VIREO_VMM_QMP_CLIENT_H
#define VIREO_VMM_QMP_CLIENT_H

#include <stddef.h>

struct json_object;
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

#endif
