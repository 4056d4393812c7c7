/*
 * qmp-server.h - the QMP control socket of vireo-vmm: QEMU's monitor
 * protocol (greeting, capability negotiation, commands, events) on unix
 * sockets, driven by a util/loop.
 *
 * Split in two so the protocol can be tested and fuzzed without sockets:
 *   struct qmp_session  one client's protocol state: bytes in, lines out
 *                       through a write callback;
 *   struct qmp_server   the command table, the listening sockets and the
 *                       connections (each a session plus a non-blocking
 *                       socket with a bounded output buffer).
 * Replies and errors match QEMU 7.2 byte for byte where the tests could
 * compare them (tests/unit/vmm/golden/). Everything runs on the loop thread
 * except qmp_server_emit_event_threadsafe().
 *
 * Commands are registered with an argument schema; the server validates
 * arguments (missing, unexpected, mistyped: QEMU's wording) before calling
 * the handler. Commands are registered by the rooms that own them (vireo-vmm's
 * run-state commands by src/vmm/qmp-vm.c, each device's by its device); the
 * server itself answers qmp_capabilities, query-version and query-commands.
 */
#ifndef VIREO_QMP_SERVER_H
#define VIREO_QMP_SERVER_H

#include <stdbool.h>
#include <stddef.h>

struct json_object;
struct loop;
struct verr;
struct qmp_server;
struct qmp_session;

/* QMP error classes (the "class" member of an error reply). */
enum qmp_error_class {
    QMP_ERROR_GENERIC,           /* GenericError */
    QMP_ERROR_COMMAND_NOT_FOUND, /* CommandNotFound */
    QMP_ERROR_DEVICE_NOT_ACTIVE, /* DeviceNotActive */
    QMP_ERROR_DEVICE_NOT_FOUND,  /* DeviceNotFound */
    QMP_ERROR_KVM_MISSING_CAP,   /* KVMMissingCap */
};

struct qmp_error {
    enum qmp_error_class cls;
    char desc[512];
};

/* Fills err; returns -1 so handlers can `return qmp_error_set(...)`. */
int qmp_error_set(struct qmp_error *err, enum qmp_error_class cls, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *qmp_error_class_name(enum qmp_error_class cls);

/* Argument types; the names in error messages are QEMU's. */
enum qmp_arg_type {
    QMP_ARG_STRING, /* "string" */
    QMP_ARG_INT,    /* "integer": a JSON integer within int64 */
    QMP_ARG_UINT,   /* "integer": a JSON integer within uint64 */
    QMP_ARG_BOOL,   /* "boolean" */
    QMP_ARG_NUMBER, /* "number": integer or float */
    QMP_ARG_OBJECT, /* "object" */
    QMP_ARG_ARRAY,  /* "array" */
    QMP_ARG_ANY,    /* anything, including null */
};

/* One argument of a command's schema; a schema ends with {NULL}. An entry named "*" lets
 * members beyond the named ones through to the handler (device_add's properties). */
struct qmp_arg {
    const char *name;
    enum qmp_arg_type type;
    bool optional;
};

/*
 * A command handler, run on the loop thread. args is the validated
 * "arguments" object (an empty object when the request had none). On
 * success set *ret (left NULL it becomes {}) and return 0; on failure fill
 * err with qmp_error_set() and return -1. Events the handler emits are sent
 * before its reply, as QEMU does.
 */
typedef int (*qmp_command_fn)(struct qmp_session *session, struct json_object *args,
                              struct json_object **ret, struct qmp_error *err, void *opaque);

struct qmp_server_config {
    /* Version in the greeting and query-version. 0.0.0 means 7.2.0: the
     * QEMU release whose QMP this server follows (clients gate features on
     * it). */
    int major, minor, micro;
    const char *package;  /* greeting "package"; NULL gives "vireo" */
    size_t max_message;   /* bytes of one incoming message; 0 = 1 MiB */
    size_t max_output;    /* bytes queued for one client; 0 = 8 MiB */
    unsigned max_clients; /* connections at once; 0 = 16 */
};

/* loop may be NULL for a socket-less server (sessions only: fuzzing, tests). */
int qmp_server_new(struct loop *loop, const struct qmp_server_config *config,
                   struct qmp_server **out, struct verr *err);
/* Closes every connection and listener, unlinks socket files it created. */
void qmp_server_free(struct qmp_server *server);

/*
 * Adds a command. args (may be NULL for "no arguments") must stay valid for
 * the server's lifetime (use a static array). Returns 0, or -EEXIST if the
 * name is taken.
 */
int qmp_server_register(struct qmp_server *server, const char *name, const struct qmp_arg *args,
                        qmp_command_fn fn, void *opaque);

/*
 * Listens on a unix socket at path (mode 0600). A stale socket file (nobody
 * accepting) is replaced; a live one or a non-socket file is an error.
 */
int qmp_server_listen_unix(struct qmp_server *server, const char *path, struct verr *err);
/*
 * Listens as the -qmp option says: "unix:PATH,server,nowait" or
 * "unix:PATH,server=on,wait=off" (QEMU's two spellings). Client mode,
 * wait=on, and other back-ends are refused with a message naming them.
 */
int qmp_server_listen_spec(struct qmp_server *server, const char *spec, struct verr *err);
/* Accepts connections on an already listening socket (taken over: closed on free). */
int qmp_server_listen_fd(struct qmp_server *server, int fd, struct verr *err);
/* Serves one already connected stream socket (taken over). */
int qmp_server_add_client_fd(struct qmp_server *server, int fd, struct verr *err);
unsigned qmp_server_client_count(const struct qmp_server *server);

/*
 * Sends an event to every client that finished negotiation:
 * {"timestamp": {"seconds": S, "microseconds": U}, "event": NAME, "data": DATA}
 * data is taken over; NULL leaves "data" out (QEMU's STOP, RESUME, POWERDOWN).
 */
void qmp_server_emit_event(struct qmp_server *server, const char *name, struct json_object *data);
/*
 * The same from any thread (a vCPU thread seeing a guest reset): the
 * timestamp is taken now, delivery happens on the loop thread. The server
 * must not be freed while such calls may be in flight.
 */
void qmp_server_emit_event_threadsafe(struct qmp_server *server, const char *name,
                                      struct json_object *data);

/*
 * Blocks up to timeout_ms writing what is queued for the clients (replies to
 * `quit`, a final SHUTDOWN event) before the process exits. Returns 0 when
 * everything was written, -ETIMEDOUT otherwise.
 */
int qmp_server_flush(struct qmp_server *server, int timeout_ms);

/* ---- sessions: the protocol without a socket ---- */

/* Receives each outgoing line, "\r\n" included. */
typedef void (*qmp_session_write_fn)(void *opaque, const char *data, size_t len);

/* Starts a session and writes the greeting through write. */
struct qmp_session *qmp_session_new(struct qmp_server *server, qmp_session_write_fn write,
                                    void *opaque);
/*
 * Processes bytes from the client, writing replies. Returns 0, or -EMSGSIZE
 * when a message exceeded the bound: an error reply has been written and the
 * caller should close the connection.
 */
int qmp_session_feed(struct qmp_session *session, const void *data, size_t len);
void qmp_session_free(struct qmp_session *session);
bool qmp_session_negotiated(const struct qmp_session *session);
struct qmp_server *qmp_session_server(const struct qmp_session *session);
/* The file descriptor the client last passed with SCM_RIGHTS, now the caller's (QMP's
 * getfd), or -1 when it passed none. */
int qmp_session_take_fd(struct qmp_session *session);

/* Checks args against the schema of the registered command name, as a request's arguments
 * are checked (QMP's transaction checks each action's data this way): 0 or -1 with err. */
int qmp_server_validate(const struct qmp_server *server, const char *name, struct json_object *args,
                        struct qmp_error *err);

/*
 * Runs a registered command in-process, on behalf of session (the human monitor builds its
 * commands on QMP's, as QEMU's does): the arguments are validated as a request's are (NULL
 * for none), the handler runs, and its events go out as usual. Returns 0 with *ret set (NULL
 * when the command returns nothing), or -1 with err filled. Loop thread only.
 */
int qmp_server_execute(struct qmp_session *session, const char *name, struct json_object *args,
                       struct json_object **ret, struct qmp_error *err);

#endif
