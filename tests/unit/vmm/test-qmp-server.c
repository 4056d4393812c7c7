/*
 * test-qmp-server.c - the QMP server end to end on a real unix socket, with
 * the pretend VM of qmp-test-vm.h, driven by qmp-client and by raw sockets:
 * every command, argument validation, events to every negotiated client,
 * sequential and concurrent clients, garbage, a 10 MB line, clients leaving
 * mid-message or never reading, socket file handling and -qmp parsing.
 */
#include "../tap.h"
#include "qmp-test-vm.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"
#include "qmp/qmp-client.h"
#include "qmp/qmp-json.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define TIMEOUT 10000 /* ms; generous, never expected to be reached */

static struct test_qmp_host host;

/* ---- helpers ---- */

/* Runs a command and returns the reply formatted as QEMU would print it. */
static char *exec(struct qmp_client *c, const char *cmd, const char *args_json)
{
    struct json_object *args = NULL;
    if (args_json) {
        char err[256];
        args = qmp_json_parse(args_json, strlen(args_json), err, sizeof(err));
        if (err[0])
            return xasprintf("bad test args: %s", err);
    }
    struct json_object *reply;
    struct verr err = {0};
    if (qmp_client_execute(c, cmd, args, TIMEOUT, &reply, &err) < 0)
        return xasprintf("client error: %s", verr_msg(&err));
    char *s = qmp_json_to_string(reply);
    json_object_put(reply);
    return s;
}

static void is_reply(struct qmp_client *c, const char *cmd, const char *args, const char *want,
                     const char *what)
{
    char *got = exec(c, cmd, args);
    is_str(got, want, "%s", what);
    free(got);
}

static char *next_event(struct qmp_client *c)
{
    struct json_object *ev;
    struct verr err = {0};
    if (qmp_client_next_event(c, TIMEOUT, &ev, &err) < 0)
        return xasprintf("no event: %s", verr_msg(&err));
    json_object_object_del(ev, "timestamp");
    char *s = qmp_json_to_string(ev);
    json_object_put(ev);
    return s;
}

static struct qmp_client *connect_negotiated(void)
{
    struct qmp_client *c = NULL;
    struct verr err = {0};
    if (qmp_client_connect(host.path, TIMEOUT, &c, &err) < 0)
        tap_diag("connect: %s", verr_msg(&err));
    return c;
}

static int raw_connect(const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    memcpy(a.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads everything until EOF (or TIMEOUT); returns the bytes. */
static char *raw_read_to_eof(int fd, size_t *len_out)
{
    struct buf b = BUF_INIT;
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, TIMEOUT) <= 0)
            break;
        char chunk[65536];
        ssize_t r = recv(fd, chunk, sizeof(chunk), 0);
        if (r <= 0)
            break;
        buf_append(&b, chunk, (size_t)r);
    }
    if (len_out)
        *len_out = b.len;
    return buf_detach(&b, NULL);
}

/* ---- a command with an argument schema ---- */

static const struct qmp_arg echo_args[] = {
    {"s", QMP_ARG_STRING, false}, {"i", QMP_ARG_INT, false},   {"u", QMP_ARG_UINT, true},
    {"b", QMP_ARG_BOOL, true},    {"n", QMP_ARG_NUMBER, true}, {"o", QMP_ARG_OBJECT, true},
    {"a", QMP_ARG_ARRAY, true},   {"x", QMP_ARG_ANY, true},    {NULL},
};

static int cmd_echo(struct qmp_session *ss, struct json_object *args, struct json_object **ret,
                    struct qmp_error *err, void *opaque)
{
    (void)ss, (void)opaque;
    if (!strcmp(json_object_get_string(json_object_object_get(args, "s")), "fail"))
        return qmp_error_set(err, QMP_ERROR_DEVICE_NOT_FOUND, "Device '%s' not found", "fail");
    *ret = json_object_get(args);
    return 0;
}

/* An open schema (device_add's): "s" is checked, any other member reaches the handler. */
static const struct qmp_arg open_args[] = {
    {"s", QMP_ARG_STRING, false},
    {"*", QMP_ARG_ANY, true},
    {NULL},
};

static void test_open_schema(void)
{
    struct qmp_client *c = connect_negotiated();
    is_reply(c, "test-open", "{\"s\": \"a\", \"prop\": 3, \"other\": \"x\"}",
             "{\"return\": {\"s\": \"a\", \"prop\": 3, \"other\": \"x\"}}",
             "an open schema lets members beyond the named ones through");
    is_reply(c, "test-open", "{\"prop\": 3}",
             "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 's' is missing\"}}",
             "an open schema still requires its named members");
    is_reply(c, "test-open", "{\"s\": 1}",
             "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Invalid parameter type for "
             "'s', expected: string\"}}",
             "an open schema still checks its named members' types");
    qmp_client_close(c);
}

static void test_greeting_and_negotiation(void)
{
    struct qmp_client *c;
    struct verr err = {0};
    is_int(qmp_client_open(host.path, TIMEOUT, &c, &err), 0, "a client connects");
    char *g = qmp_json_to_string(qmp_client_greeting(c));
    is_str(g,
           "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, "
           "\"package\": \"vireo-test\"}, \"capabilities\": [\"oob\"]}}",
           "the greeting has QEMU's shape with our package and QEMU 7.2's version");
    free(g);
    is_reply(c, "query-status", NULL,
             "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Expecting capabilities "
             "negotiation with 'qmp_capabilities'\"}}",
             "commands are refused before negotiation");
    is_int(qmp_client_negotiate(c, 1, TIMEOUT, &err), 0, "negotiation with oob succeeds");
    is_reply(c, "qmp_capabilities", NULL,
             "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Capabilities negotiation "
             "is already complete, command ignored\"}}",
             "a second negotiation is refused");
    qmp_client_close(c);
}

static void test_commands(void)
{
    struct qmp_client *c = connect_negotiated();
    is_reply(c, "query-status", NULL,
             "{\"return\": {\"status\": \"prelaunch\", \"singlestep\": false, \"running\": false}}",
             "query-status before the first cont");
    is_reply(c, "cont", NULL, "{\"return\": {}}", "cont");
    char *ev = next_event(c);
    is_str(ev, "{\"event\": \"RESUME\"}", "cont emits RESUME without data");
    free(ev);
    is_reply(c, "query-status", NULL,
             "{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}}",
             "query-status while running");
    is_reply(c, "system_powerdown", NULL, "{\"return\": {}}", "system_powerdown");
    ev = next_event(c);
    is_str(ev, "{\"event\": \"POWERDOWN\"}", "system_powerdown emits POWERDOWN");
    free(ev);
    is_reply(c, "system_reset", NULL, "{\"return\": {}}", "system_reset");
    ev = next_event(c);
    is_str(ev,
           "{\"event\": \"RESET\", \"data\": {\"guest\": false, \"reason\": "
           "\"host-qmp-system-reset\"}}",
           "system_reset emits RESET with its cause");
    free(ev);
    is_reply(c, "stop", NULL, "{\"return\": {}}", "stop");
    ev = next_event(c);
    is_str(ev, "{\"event\": \"STOP\"}", "stop emits STOP");
    free(ev);
    is_reply(c, "system_powerdown", NULL,
             "{\"error\": {\"class\": \"GenericError\", \"desc\": \"test: powerdown refused while "
             "stopped\"}}",
             "an action's error reaches the client with its text");
    is_reply(c, "query-name", NULL, "{\"return\": {\"name\": \"testvm\"}}", "query-name");
    is_reply(c, "query-uuid", NULL,
             "{\"return\": {\"UUID\": \"12345678-1234-1234-1234-123456789abc\"}}", "query-uuid");
    is_reply(c, "query-kvm", NULL, "{\"return\": {\"enabled\": true, \"present\": true}}",
             "query-kvm");
    is_reply(c, "query-cpus-fast", NULL,
             "{\"return\": [{\"thread-id\": 4242, \"props\": {\"core-id\": 0, \"thread-id\": 0, "
             "\"socket-id\": 0}, \"qom-path\": \"/machine/unattached/device[0]\", \"cpu-index\": "
             "0, \"target\": \"x86_64\"}, {\"thread-id\": 4243, \"props\": {\"core-id\": 1, "
             "\"thread-id\": 0, \"socket-id\": 0}, \"qom-path\": "
             "\"/machine/unattached/device[2]\", \"cpu-index\": 1, \"target\": \"x86_64\"}]}",
             "query-cpus-fast lists each vCPU with its thread id");
    is_reply(c, "query-version", NULL,
             "{\"return\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, \"package\": "
             "\"vireo-test\"}}",
             "query-version");
    char *cmds = exec(c, "query-commands", NULL);
    const char *names[] = {"qmp_capabilities",
                           "query-version",
                           "query-commands",
                           "query-status",
                           "query-name",
                           "query-uuid",
                           "query-kvm",
                           "query-cpus-fast",
                           "stop",
                           "cont",
                           "system_reset",
                           "system_powerdown",
                           "quit",
                           "test-echo",
                           "test-open"};
    int found = 0;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char pat[64];
        snprintf(pat, sizeof(pat), "{\"name\": \"%s\"}", names[i]);
        found += strstr(cmds, pat) != NULL;
    }
    is_int(found, 15, "query-commands lists all 15 commands");
    free(cmds);
    is_reply(c, "no-such-command", NULL,
             "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command "
             "no-such-command has not been found\"}}",
             "unknown command");
    is_reply(c, "quit", NULL, "{\"return\": {}}", "quit replies");
    ev = next_event(c);
    is_str(ev,
           "{\"event\": \"SHUTDOWN\", \"data\": {\"guest\": false, \"reason\": \"host-qmp-quit\"}}",
           "quit's SHUTDOWN event arrives");
    free(ev);
    is_int(qmp_client_queued_events(c), 0, "no stray events are left");
    qmp_client_close(c);
}

static void test_arguments(void)
{
    struct qmp_client *c = connect_negotiated();
    is_reply(c, "test-echo", "{\"i\": 1}",
             "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 's' is missing\"}}",
             "a missing argument is named");
    is_reply(c, "test-echo", "{\"s\": 1, \"i\": 1}",
             "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Invalid parameter type for "
             "'s', expected: string\"}}",
             "a mistyped string is named with the expected type");
    is_reply(c, "test-echo", "{\"s\": \"a\", \"i\": 1.5}",
             "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Invalid parameter type for "
             "'i', expected: integer\"}}",
             "a float is not an integer");
    is_reply(c, "test-echo", "{\"s\": \"a\", \"i\": 9223372036854775808}",
             "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Invalid parameter type for "
             "'i', expected: integer\"}}",
             "an int64 argument refuses 2^63");
    is_reply(c, "test-echo", "{\"s\": \"a\", \"i\": 1, \"u\": -1}",
             "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Invalid parameter type for "
             "'u', expected: integer\"}}",
             "a uint64 argument refuses -1");
    is_reply(c, "test-echo", "{\"s\": \"a\", \"i\": 1, \"b\": null}",
             "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Invalid parameter type for "
             "'b', expected: boolean\"}}",
             "null is not a boolean");
    is_reply(c, "test-echo", "{\"s\": \"a\", \"i\": 1, \"o\": []}",
             "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Invalid parameter type for "
             "'o', expected: object\"}}",
             "an array is not an object");
    is_reply(c, "test-echo", "{\"s\": \"a\", \"i\": 1, \"zz\": 0}",
             "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'zz' is "
             "unexpected\"}}",
             "an unknown argument is named");
    is_reply(c, "test-echo",
             "{\"s\": \"a\", \"i\": -5, \"u\": 18446744073709551615, \"b\": true, \"n\": 1, "
             "\"o\": {}, \"a\": [1], \"x\": null}",
             "{\"return\": {\"s\": \"a\", \"i\": -5, \"u\": 18446744073709551615, \"b\": true, "
             "\"n\": 1, \"o\": {}, \"a\": [1], \"x\": null}}",
             "valid arguments of every type reach the handler");
    is_reply(c, "test-echo", "{\"s\": \"fail\", \"i\": 0}",
             "{\"error\": {\"class\": \"DeviceNotFound\", \"desc\": \"Device 'fail' not found\"}}",
             "a handler's error class is kept");
    qmp_client_close(c);
}

static void test_events_broadcast(void)
{
    struct qmp_client *a = connect_negotiated(), *b = connect_negotiated();
    struct qmp_client *quiet;
    struct verr err = {0};
    qmp_client_open(host.path, TIMEOUT, &quiet, &err);
    is_reply(a, "cont", NULL, "{\"return\": {}}", "client A resumes the VM");
    char *ea = next_event(a), *eb = next_event(b);
    is_str(ea, "{\"event\": \"RESUME\"}", "A sees RESUME");
    is_str(eb, "{\"event\": \"RESUME\"}", "B, another negotiated client, sees it too");
    free(ea);
    free(eb);
    /* The client that has not negotiated must have received nothing: its
     * next message is the reply to its negotiation, not an event. */
    struct json_object *m;
    qmp_client_send_raw(quiet, "{\"execute\":\"qmp_capabilities\",\"id\":\"q\"}", 39, &err);
    qmp_client_read_message(quiet, TIMEOUT, &m, &err);
    char *s = qmp_json_to_string(m);
    is_str(s, "{\"return\": {}, \"id\": \"q\"}", "a client still negotiating gets no events");
    free(s);
    json_object_put(m);

    qmp_server_emit_event_threadsafe(host.server, "TEST-EVENT", qmp_vm_event_cause(true, "x"));
    ea = next_event(a);
    is_str(ea, "{\"event\": \"TEST-EVENT\", \"data\": {\"guest\": true, \"reason\": \"x\"}}",
           "an event emitted from another thread arrives");
    free(ea);
    qmp_client_close(a);
    qmp_client_close(b);
    qmp_client_close(quiet);
}

static void test_sequential_clients(void)
{
    int good = 0;
    for (int i = 0; i < 30; i++) {
        struct qmp_client *c = connect_negotiated();
        if (!c)
            continue;
        char *r = exec(c, "query-name", NULL);
        good += !strcmp(r, "{\"return\": {\"name\": \"testvm\"}}");
        free(r);
        qmp_client_close(c);
    }
    is_int(good, 30, "30 clients one after another are all served");
}

struct worker {
    int index;
    int good;
};

static void *concurrent_worker(void *opaque)
{
    struct worker *w = opaque;
    struct qmp_client *c = connect_negotiated();
    if (!c)
        return NULL;
    for (int i = 0; i < 50; i++) {
        char args[64];
        snprintf(args, sizeof(args), "{\"s\": \"w%d\", \"i\": %d}", w->index, i);
        char want[96];
        snprintf(want, sizeof(want), "{\"return\": {\"s\": \"w%d\", \"i\": %d}}", w->index, i);
        char *got = exec(c, "test-echo", args);
        w->good += !strcmp(got, want);
        free(got);
    }
    qmp_client_close(c);
    return NULL;
}

static void test_concurrent_clients(void)
{
    enum { N = 8 };
    pthread_t th[N];
    struct worker w[N];
    for (int i = 0; i < N; i++) {
        w[i] = (struct worker){i, 0};
        pthread_create(&th[i], NULL, concurrent_worker, &w[i]);
    }
    int good = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        good += w[i].good;
    }
    is_int(good, N * 50, "8 clients at once each get their own 50 replies");
}

static void test_hostile_clients(void)
{
    struct qmp_client *c = connect_negotiated();

    /* Random bytes, then gone. */
    int fd = raw_connect(host.path);
    uint32_t x = 12345;
    char junk[100000];
    for (size_t i = 0; i < sizeof(junk); i++) {
        x = x * 1103515245 + 12345;
        junk[i] = (char)(x >> 16);
    }
    ssize_t w = send(fd, junk, sizeof(junk), MSG_NOSIGNAL);
    (void)w;
    close(fd);
    is_reply(c, "query-name", NULL, "{\"return\": {\"name\": \"testvm\"}}",
             "after a client sent 100 KB of random bytes, others are served");

    /* Half a message, then gone. */
    fd = raw_connect(host.path);
    w = send(fd, "{\"execute\":\"qmp_capabilities\"}{\"execute\":\"sto", 44, MSG_NOSIGNAL);
    close(fd);
    is_reply(c, "query-status", NULL,
             "{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}}",
             "a client leaving mid-message changes nothing (the partial stop never ran)");

    /* A 10 MB line: refused with an error, then the connection is closed. */
    fd = raw_connect(host.path);
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    size_t big = 10u << 20, sent = 0;
    char *line = xmalloc(big);
    memset(line, 'a', big);
    memcpy(line, "{\"execute\":\"query-name\",\"id\":\"", 30);
    while (sent < big) {
        ssize_t r = send(fd, line + sent, big - sent, MSG_NOSIGNAL);
        if (r > 0) {
            sent += (size_t)r;
            continue;
        }
        if (errno != EAGAIN)
            break; /* the server closed on us: expected */
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        if (poll(&pfd, 1, TIMEOUT) <= 0)
            break;
        if (pfd.revents & (POLLERR | POLLHUP))
            break;
    }
    free(line);
    fcntl(fd, F_SETFL, fl);
    size_t len;
    char *got = raw_read_to_eof(fd, &len);
    close(fd);
    ok(strstr(got, "exceeds the limit of 1048576 bytes, closing the connection") != NULL,
       "a 10 MB line gets an error reply and is cut off after %zu bytes were sent", sent);
    ok(sent < big, "the server stopped reading the 10 MB line");
    free(got);
    is_reply(c, "query-name", NULL, "{\"return\": {\"name\": \"testvm\"}}",
             "others are served after the 10 MB line");

    /* 10 MB of junk after a syntax error: skipped while resynchronising,
     * nothing buffered, and the connection survives. */
    fd = raw_connect(host.path);
    line = xmalloc(big);
    memset(line, 'a', big);
    const char *cap = "{\"execute\":\"qmp_capabilities\"}@";
    memcpy(line, cap, strlen(cap));
    const char *tail = "\n{\"execute\":\"query-name\"}\n";
    memcpy(line + big - strlen(tail), tail, strlen(tail));
    w = send(fd, line, big, MSG_NOSIGNAL);
    free(line);
    shutdown(fd, SHUT_WR);
    got = raw_read_to_eof(fd, &len);
    close(fd);
    ok(w == (ssize_t)big &&
           strstr(got, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON "
                       "parse error, stray '@'\"}}\r\n{\"return\": {\"name\": "
                       "\"testvm\"}}\r\n"),
       "10 MB of junk after a stray byte is skipped and the next command answered");
    free(got);

    /* A client that pipelines requests and never reads is cut off once its
     * queued output passes max_output; the loop never blocks on it. */
    fd = raw_connect(host.path);
    struct buf reqs = BUF_INIT;
    buf_append_str(&reqs, "{\"execute\":\"qmp_capabilities\"}");
    for (int i = 0; i < 3000; i++)
        buf_append_str(&reqs, "{\"execute\":\"query-commands\"}");
    fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    sent = 0;
    while (sent < reqs.len) {
        ssize_t r = send(fd, reqs.data + sent, reqs.len - sent, MSG_NOSIGNAL);
        if (r > 0) {
            sent += (size_t)r;
            continue;
        }
        if (errno != EAGAIN)
            break;
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        if (poll(&pfd, 1, TIMEOUT) <= 0 || (pfd.revents & (POLLERR | POLLHUP)))
            break;
    }
    buf_free(&reqs);
    is_reply(c, "query-name", NULL, "{\"return\": {\"name\": \"testvm\"}}",
             "the loop serves others while a client does not read");
    /* Without reading, wait for the server to hang up on us. */
    struct pollfd hup = {.fd = fd, .events = POLLRDHUP};
    ok(poll(&hup, 1, TIMEOUT) == 1 && (hup.revents & (POLLRDHUP | POLLHUP)),
       "the server hangs up on a client that does not read");
    fcntl(fd, F_SETFL, fl);
    got = raw_read_to_eof(fd, &len);
    close(fd);
    int replies = 0;
    for (char *p = got; (p = strstr(p, "\"return\": [")); p++)
        replies++;
    ok(replies < 3000 && len > 0,
       "the non-reading client was disconnected after %d of 3000 replies (%zu bytes)", replies,
       len);
    free(got);

    /* More connections than max_clients: the extra one is closed at once. */
    int fds[16];
    int opened = 0;
    for (int i = 0; i < 15; i++) /* c is the 16th */
        if ((fds[i] = raw_connect(host.path)) >= 0)
            opened++;
    /* Wait until each has its greeting, so all are registered. */
    for (int i = 0; i < 15; i++) {
        char gbuf[512];
        ssize_t r = recv(fds[i], gbuf, sizeof(gbuf), 0);
        (void)r;
    }
    int extra = raw_connect(host.path);
    got = raw_read_to_eof(extra, &len);
    is_int(len, 0, "a 17th simultaneous client is closed without a greeting");
    free(got);
    close(extra);
    for (int i = 0; i < 15; i++)
        close(fds[i]);
    is_int(opened, 15, "15 more clients could connect");
    is_reply(c, "query-name", NULL, "{\"return\": {\"name\": \"testvm\"}}",
             "the first client still works");
    qmp_client_close(c);
}

static void test_socket_files(void)
{
    struct loop *loop;
    struct qmp_server *s;
    struct verr err = {0};
    char dir[] = "/tmp/vireo-qmp-sock.XXXXXX";
    if (!mkdtemp(dir))
        abort();
    char path[128];
    loop_new(&loop, &err);
    qmp_server_new(loop, NULL, &s, &err);

    struct stat st;
    ok(stat(host.path, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0600,
       "the QMP socket is a socket with mode 0600 (%o)", st.st_mode & 0777);
    is_int(qmp_server_listen_unix(s, host.path, &err), -EADDRINUSE,
           "a live socket is not stolen: %s", verr_msg(&err));

    /* A stale socket: bound, never unlinked, nobody listening. */
    snprintf(path, sizeof(path), "%s/stale.sock", dir);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    memcpy(a.sun_path, path, strlen(path) + 1);
    bind(fd, (struct sockaddr *)&a, sizeof(a));
    close(fd);
    is_int(qmp_server_listen_unix(s, path, &err), 0, "a stale socket file is replaced");

    snprintf(path, sizeof(path), "%s/file", dir);
    fd = open(path, O_CREAT | O_WRONLY, 0600);
    close(fd);
    is_int(qmp_server_listen_unix(s, path, &err), -EEXIST, "a regular file is left alone: %s",
           verr_msg(&err));
    ok(stat(path, &st) == 0 && S_ISREG(st.st_mode), "and still exists");
    unlink(path);

    char spec[256];
    snprintf(spec, sizeof(spec), "unix:%s/a.sock,server,nowait", dir);
    is_int(qmp_server_listen_spec(s, spec, &err), 0, "-qmp unix:PATH,server,nowait");
    snprintf(spec, sizeof(spec), "unix:%s/b.sock,server=on,wait=off", dir);
    is_int(qmp_server_listen_spec(s, spec, &err), 0, "-qmp unix:PATH,server=on,wait=off");
    snprintf(spec, sizeof(spec), "unix:%s/c.sock", dir);
    is_int(qmp_server_listen_spec(s, spec, &err), -EINVAL, "client mode is refused: %s",
           verr_msg(&err));
    snprintf(spec, sizeof(spec), "unix:%s/c.sock,server", dir);
    is_int(qmp_server_listen_spec(s, spec, &err), -EINVAL, "wait=on is refused: %s",
           verr_msg(&err));
    snprintf(spec, sizeof(spec), "unix:%s/c.sock,server,nowait,telnet", dir);
    is_int(qmp_server_listen_spec(s, spec, &err), -EINVAL, "an unknown option is named: %s",
           verr_msg(&err));
    is_int(qmp_server_listen_spec(s, "tcp:127.0.0.1:4444,server,nowait", &err), -EINVAL,
           "tcp is refused: %s", verr_msg(&err));
    char longpath[200];
    memset(longpath, 'x', sizeof(longpath) - 1);
    longpath[sizeof(longpath) - 1] = 0;
    is_int(qmp_server_listen_unix(s, longpath, &err), -ENAMETOOLONG, "a too long path: %s",
           verr_msg(&err));

    qmp_server_free(s);
    snprintf(path, sizeof(path), "%s/a.sock", dir);
    ok(access(path, F_OK) != 0, "freeing the server removes its socket files");
    snprintf(path, sizeof(path), "%s/stale.sock", dir);
    unlink(path);
    loop_free(loop);
    rmdir(dir);
}

/* Output queued beyond the socket buffer is written by qmp_server_flush. */
struct drain {
    int fd;
    size_t bytes;
};

static void *drain_thread(void *opaque)
{
    struct drain *d = opaque;
    usleep(50000); /* let the server's buffer fill first */
    char *all = raw_read_to_eof(d->fd, &d->bytes);
    free(all);
    return NULL;
}

static void test_flush(void)
{
    struct loop *loop;
    struct qmp_server *s;
    struct verr err = {0};
    loop_new(&loop, &err);
    qmp_server_new(loop, NULL, &s, &err);
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
    is_int(qmp_server_add_client_fd(s, sv[0], &err), 0, "a connected socket can be served");
    ssize_t w = send(sv[1], "{\"execute\":\"qmp_capabilities\"}", 30, 0);
    (void)w;
    while (loop_run_once(loop, TIMEOUT) == 0)
        ;
    /* The greeting and the reply are in the socket; now 5000 events. */
    struct buf b = BUF_INIT;
    for (int i = 0; i < 5000; i++)
        qmp_server_emit_event(s, "SPAM", NULL);
    struct drain d = {sv[1], 0};
    pthread_t th;
    pthread_create(&th, NULL, drain_thread, &d);
    is_int(qmp_server_flush(s, TIMEOUT), 0, "flush writes everything queued");
    qmp_server_free(s); /* closes sv[0]: the drain thread sees EOF */
    pthread_join(th, NULL);
    size_t one = strlen("{\"timestamp\": {\"seconds\": 1700000000, \"microseconds\": 123456}, "
                        "\"event\": \"SPAM\"}\r\n");
    ok(d.bytes > 5000 * (one - 8), "the reader got all 5000 events (%zu bytes)", d.bytes);
    close(sv[1]);
    buf_free(&b);
    loop_free(loop);
}

/* ---- the loop-driven client ---- */

struct async_log {
    struct buf lines; /* what the callbacks saw, one line each */
    int replies;
    int closed;
};

static void async_event(struct qmp_client *c, struct json_object *event, void *opaque)
{
    (void)c;
    struct async_log *log = opaque;
    struct json_object *name;
    json_object_object_get_ex(event, "event", &name);
    buf_printf(&log->lines, "event %s\n", json_object_get_string(name));
}

static void async_closed(struct qmp_client *c, const char *why, void *opaque)
{
    (void)c;
    struct async_log *log = opaque;
    log->closed++;
    buf_printf(&log->lines, "closed: %s\n", why);
}

static void async_reply(struct qmp_client *c, struct json_object *reply, const char *error,
                        void *opaque)
{
    (void)c;
    struct async_log *log = opaque;
    log->replies++;
    if (reply) {
        char *s = qmp_json_to_string(reply);
        buf_printf(&log->lines, "reply %s\n", s);
        free(s);
    } else {
        buf_printf(&log->lines, "failed: %s\n", error);
    }
}

static void async_reply_then_close(struct qmp_client *c, struct json_object *reply,
                                   const char *error, void *opaque)
{
    async_reply(c, reply, error, opaque);
    qmp_client_close(c);
}

/* A fake QMP server that greets and then never answers, until told to go. */
struct mute_server {
    char path[160];
    int listen_fd, conn_fd;
    pthread_t thread;
};

static void *mute_server_thread(void *opaque)
{
    struct mute_server *m = opaque;
    m->conn_fd = accept(m->listen_fd, NULL, NULL);
    const char *greeting = "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, "
                           "\"major\": 7}, \"package\": \"mute\"}, \"capabilities\": []}}\r\n";
    ssize_t w = send(m->conn_fd, greeting, strlen(greeting), MSG_NOSIGNAL);
    (void)w;
    return NULL;
}

static void test_async_client(void)
{
    struct loop *loop;
    struct verr err = {0};
    struct async_log log = {BUF_INIT, 0, 0};
    loop_new(&loop, &err);
    struct qmp_client *c = connect_negotiated();
    is_int(qmp_client_attach(c, loop, async_event, async_closed, &log, &err), 0,
           "a connected client attaches to a loop");
    struct json_object *reply;
    is_int(qmp_client_execute(c, "query-name", NULL, TIMEOUT, &reply, &err), -EBUSY,
           "blocking calls are refused once attached");
    is_int(qmp_client_execute_async(c, "stop", NULL, TIMEOUT, async_reply, &log), 0,
           "stop sent without blocking");
    is_int(qmp_client_execute_async(c, "query-status", NULL, TIMEOUT, async_reply, &log), 0,
           "query-status sent right after");
    while (log.replies < 2)
        loop_run_once(loop, TIMEOUT);
    is_str(buf_cstr(&log.lines),
           "event STOP\n"
           "reply {\"return\": {}}\n"
           "reply {\"return\": {\"status\": \"paused\", \"singlestep\": false, \"running\": "
           "false}}\n",
           "the event and both replies arrive through the callbacks, in order");
    buf_reset(&log.lines);
    log.replies = 0;
    qmp_client_execute_async(c, "cont", NULL, TIMEOUT, async_reply_then_close, &log);
    qmp_client_execute_async(c, "query-name", NULL, TIMEOUT, async_reply, &log);
    while (log.replies < 1)
        loop_run_once(loop, TIMEOUT);
    loop_run_once(loop, 100);
    is_str(buf_cstr(&log.lines), "event RESUME\nreply {\"return\": {}}\n",
           "a reply callback may close the client; nothing is called after that");

    /* Timeouts and hang-ups, against a server that greets and goes mute. */
    struct mute_server m;
    snprintf(m.path, sizeof(m.path), "%s/mute.sock", host.dir);
    m.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    memcpy(a.sun_path, m.path, strlen(m.path) + 1);
    bind(m.listen_fd, (struct sockaddr *)&a, sizeof(a));
    listen(m.listen_fd, 1);
    pthread_create(&m.thread, NULL, mute_server_thread, &m);
    struct qmp_client *mc;
    is_int(qmp_client_open(m.path, TIMEOUT, &mc, &err), 0, "the mute server greets");
    pthread_join(m.thread, NULL);
    buf_reset(&log.lines);
    log.replies = 0;
    qmp_client_attach(mc, loop, async_event, async_closed, &log, &err);
    qmp_client_execute_async(mc, "query-status", NULL, 30, async_reply, &log);
    qmp_client_execute_async(mc, "query-name", NULL, TIMEOUT, async_reply, &log);
    while (log.replies < 1)
        loop_run_once(loop, TIMEOUT);
    is_str(buf_cstr(&log.lines), "failed: QMP server did not answer in time\n",
           "an unanswered command fails after its timeout, the loop never blocked");
    close(m.conn_fd);
    while (!log.closed)
        loop_run_once(loop, TIMEOUT);
    is_str(buf_cstr(&log.lines),
           "failed: QMP server did not answer in time\n"
           "failed: QMP server closed the connection\n"
           "closed: QMP server closed the connection\n",
           "a hang-up fails the pending command, then reports the close once");
    is_int(qmp_client_execute_async(mc, "query-name", NULL, TIMEOUT, async_reply, &log), -ENOTCONN,
           "no commands after the connection ended");
    qmp_client_close(mc);
    close(m.listen_fd);
    unlink(m.path);
    buf_free(&log.lines);
    loop_free(loop);
}

int main(void)
{
    log_set_level(LOG_ERROR); /* the hostile clients provoke expected warnings */
    struct qmp_server_config cfg = {.package = "vireo-test", .max_output = 64 * 1024};
    if (test_qmp_host_init(&host, &cfg) < 0)
        tap_skip_all("cannot create the QMP test server");
    is_int(qmp_server_register(host.server, "test-echo", echo_args, cmd_echo, NULL), 0,
           "a command with an argument schema registers");
    is_int(qmp_server_register(host.server, "test-echo", echo_args, cmd_echo, NULL), -EEXIST,
           "a name cannot be registered twice");
    is_int(qmp_server_register(host.server, "test-open", open_args, cmd_echo, NULL), 0,
           "a command with an open schema registers");
    test_qmp_host_run(&host);

    test_greeting_and_negotiation();
    test_commands();
    test_arguments();
    test_open_schema();
    test_events_broadcast();
    test_sequential_clients();
    test_concurrent_clients();
    test_hostile_clients();
    test_socket_files();
    test_flush();
    test_async_client();

    test_qmp_host_stop(&host);
    ok(access(host.path, F_OK) != 0, "the socket file is gone after the server is freed");
    return tap_done();
}
