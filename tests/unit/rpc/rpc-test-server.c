/*
 * rpc-test-server.c - a small libvirt-protocol server built on src/rpc, for
 * testing the protocol layer against the stock virsh (virsh-interop.sh) and
 * for capturing real client messages as fuzz seeds.
 *
 * It is not vireod: it serves one fake but well-formed host with one fake
 * running domain, answers the connection procedures a client needs, and
 * lets every other procedure fall through to the dispatcher's NO_SUPPORT
 * error. Its shape (a handler table given to rpc_dispatch, a poll loop with
 * one rpc_reader and rpc_writer per client) is the one vireod reuses.
 *
 *   rpc-test-server SOCKET [--log FILE] [--capture DIR] [--lifetime SECONDS]
 *
 * --log appends one line per message received ("CALL 66 AUTH_LIST serial 1").
 * --capture writes each received message to DIR/NNNN-NAME.bin.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "rpc/dispatch.h"
#include "util/log.h"
#include "util/mem.h"

#define MAX_CLIENTS 16

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

struct server {
    FILE *log;
    const char *capture_dir;
    unsigned captured;
};

struct client {
    int fd;
    struct rpc_reader reader;
    struct rpc_writer writer;
};

/* The one fake domain. */
static const char fake_name[] = "vireo-test";
static const uint8_t fake_uuid[16] = {0x6b, 0x1c, 0x3e, 0x8a, 0x52, 0x0d, 0x4f, 0x1e,
                                      0x9b, 0x77, 0x21, 0x05, 0xc4, 0xa8, 0x33, 0x10};
static const int fake_id = 7;

static void fill_domain(struct remote_nonnull_domain *d)
{
    d->name = xstrdup(fake_name);
    memcpy(d->uuid, fake_uuid, 16);
    d->id = fake_id;
}

static int no_domain(struct rpc_error *err, const char *what)
{
    rpc_error_set(err, RPC_ERR_NO_DOMAIN, RPC_FROM_QEMU, "Domain not found: %s", what);
    return -1;
}

static int h_ok(void *ctx, const struct rpc_header *h, const void *args, void *ret,
                struct rpc_error *err)
{
    (void)ctx, (void)h, (void)args, (void)ret, (void)err;
    return 0;
}

static int h_auth_list(void *ctx, const struct rpc_header *h, const void *args, void *ret,
                       struct rpc_error *err)
{
    (void)ctx, (void)h, (void)args, (void)err;
    struct remote_auth_list_ret *r = ret;
    r->types_len = 1;
    r->types = xcalloc(1, sizeof(*r->types));
    r->types[0] = 0; /* REMOTE_AUTH_NONE */
    return 0;
}

static int h_supports_feature(void *ctx, const struct rpc_header *h, const void *args, void *ret,
                              struct rpc_error *err)
{
    (void)ctx, (void)h, (void)err;
    const struct remote_connect_supports_feature_args *a = args;
    struct remote_connect_supports_feature_ret *r = ret;
    /* TYPED_PARAM_STRING 9, PROGRAM_KEEPALIVE 10, REMOTE_EVENT_CALLBACK 14,
     * REMOTE_CLOSE_CALLBACK 15 */
    r->supported = a->feature == 9 || a->feature == 10 || a->feature == 14 || a->feature == 15;
    return 0;
}

static int h_get_uri(void *ctx, const struct rpc_header *h, const void *args, void *ret,
                     struct rpc_error *err)
{
    (void)ctx, (void)h, (void)args, (void)err;
    ((struct remote_connect_get_uri_ret *)ret)->uri = xstrdup("vireo-test:///system");
    return 0;
}

static int h_get_hostname(void *ctx, const struct rpc_header *h, const void *args, void *ret,
                          struct rpc_error *err)
{
    (void)ctx, (void)h, (void)args, (void)err;
    ((struct remote_connect_get_hostname_ret *)ret)->hostname = xstrdup("vireo-test-host");
    return 0;
}

static int h_get_type(void *ctx, const struct rpc_header *h, const void *args, void *ret,
                      struct rpc_error *err)
{
    (void)ctx, (void)h, (void)args, (void)err;
    ((struct remote_connect_get_type_ret *)ret)->type = xstrdup("QEMU");
    return 0;
}

static int h_get_version(void *ctx, const struct rpc_header *h, const void *args, void *ret,
                         struct rpc_error *err)
{
    (void)ctx, (void)h, (void)args, (void)err;
    ((struct remote_connect_get_version_ret *)ret)->hv_ver = 7002005; /* 7.2.5 */
    return 0;
}

static int h_get_lib_version(void *ctx, const struct rpc_header *h, const void *args, void *ret,
                             struct rpc_error *err)
{
    (void)ctx, (void)h, (void)args, (void)err;
    ((struct remote_connect_get_lib_version_ret *)ret)->lib_ver = 1002003; /* 1.2.3 */
    return 0;
}

static int h_is_secure(void *ctx, const struct rpc_header *h, const void *args, void *ret,
                       struct rpc_error *err)
{
    (void)ctx, (void)h, (void)args, (void)err;
    ((struct remote_connect_is_secure_ret *)ret)->secure = 1;
    return 0;
}

static int h_node_info(void *ctx, const struct rpc_header *h, const void *args, void *ret,
                       struct rpc_error *err)
{
    (void)ctx, (void)h, (void)args, (void)err;
    struct remote_node_get_info_ret *r = ret;
    snprintf(r->model, sizeof(r->model), "vireo-x86_64");
    r->memory = 3145728; /* KiB */
    r->cpus = 6;
    r->mhz = 2345;
    r->nodes = 1;
    r->sockets = 1;
    r->cores = 3;
    r->threads = 2;
    return 0;
}

static int h_list_all(void *ctx, const struct rpc_header *h, const void *args, void *ret,
                      struct rpc_error *err)
{
    (void)ctx, (void)h, (void)err;
    const struct remote_connect_list_all_domains_args *a = args;
    struct remote_connect_list_all_domains_ret *r = ret;
    /* Flag 2 is VIR_CONNECT_LIST_DOMAINS_INACTIVE alone: our domain is running. */
    bool match = !(a->flags == 2);
    r->ret = match ? 1 : 0;
    if (a->need_results && match) {
        r->domains_len = 1;
        r->domains = xcalloc(1, sizeof(*r->domains));
        fill_domain(&r->domains[0]);
    }
    return 0;
}

static int h_num_domains(void *ctx, const struct rpc_header *h, const void *args, void *ret,
                         struct rpc_error *err)
{
    (void)ctx, (void)h, (void)args, (void)err;
    ((struct remote_connect_num_of_domains_ret *)ret)->num = 1;
    return 0;
}

static int h_list_domains(void *ctx, const struct rpc_header *h, const void *args, void *ret,
                          struct rpc_error *err)
{
    (void)ctx, (void)h, (void)err;
    const struct remote_connect_list_domains_args *a = args;
    struct remote_connect_list_domains_ret *r = ret;
    if (a->maxids >= 1) {
        r->ids_len = 1;
        r->ids = xcalloc(1, sizeof(*r->ids));
        r->ids[0] = fake_id;
    }
    return 0;
}

static int h_num_defined(void *ctx, const struct rpc_header *h, const void *args, void *ret,
                         struct rpc_error *err)
{
    (void)ctx, (void)h, (void)args, (void)err;
    ((struct remote_connect_num_of_defined_domains_ret *)ret)->num = 0;
    return 0;
}

static int h_list_defined(void *ctx, const struct rpc_header *h, const void *args, void *ret,
                          struct rpc_error *err)
{
    (void)ctx, (void)h, (void)args, (void)ret, (void)err;
    return 0;
}

static int h_lookup_name(void *ctx, const struct rpc_header *h, const void *args, void *ret,
                         struct rpc_error *err)
{
    (void)ctx, (void)h;
    const struct remote_domain_lookup_by_name_args *a = args;
    if (strcmp(a->name, fake_name) != 0)
        return no_domain(err, "no domain with matching name");
    fill_domain(&((struct remote_domain_lookup_by_name_ret *)ret)->dom);
    return 0;
}

static int h_lookup_id(void *ctx, const struct rpc_header *h, const void *args, void *ret,
                       struct rpc_error *err)
{
    (void)ctx, (void)h;
    const struct remote_domain_lookup_by_id_args *a = args;
    if (a->id != fake_id)
        return no_domain(err, "no domain with matching id");
    fill_domain(&((struct remote_domain_lookup_by_id_ret *)ret)->dom);
    return 0;
}

static int h_lookup_uuid(void *ctx, const struct rpc_header *h, const void *args, void *ret,
                         struct rpc_error *err)
{
    (void)ctx, (void)h;
    const struct remote_domain_lookup_by_uuid_args *a = args;
    if (memcmp(a->uuid, fake_uuid, 16) != 0)
        return no_domain(err, "no domain with matching uuid");
    fill_domain(&((struct remote_domain_lookup_by_uuid_ret *)ret)->dom);
    return 0;
}

static int h_get_state(void *ctx, const struct rpc_header *h, const void *args, void *ret,
                       struct rpc_error *err)
{
    (void)ctx, (void)h;
    const struct remote_domain_get_state_args *a = args;
    if (strcmp(a->dom.name, fake_name) != 0)
        return no_domain(err, "no domain with matching name");
    struct remote_domain_get_state_ret *r = ret;
    r->state = 1;  /* VIR_DOMAIN_RUNNING */
    r->reason = 1; /* VIR_DOMAIN_RUNNING_BOOTED */
    return 0;
}

static const struct rpc_handler handlers[] = {
    {REMOTE_PROC_CONNECT_OPEN, h_ok},
    {REMOTE_PROC_CONNECT_CLOSE, h_ok},
    {REMOTE_PROC_CONNECT_GET_TYPE, h_get_type},
    {REMOTE_PROC_CONNECT_GET_VERSION, h_get_version},
    {REMOTE_PROC_NODE_GET_INFO, h_node_info},
    {REMOTE_PROC_CONNECT_LIST_DEFINED_DOMAINS, h_list_defined},
    {REMOTE_PROC_DOMAIN_LOOKUP_BY_ID, h_lookup_id},
    {REMOTE_PROC_DOMAIN_LOOKUP_BY_NAME, h_lookup_name},
    {REMOTE_PROC_DOMAIN_LOOKUP_BY_UUID, h_lookup_uuid},
    {REMOTE_PROC_CONNECT_NUM_OF_DEFINED_DOMAINS, h_num_defined},
    {REMOTE_PROC_CONNECT_LIST_DOMAINS, h_list_domains},
    {REMOTE_PROC_CONNECT_NUM_OF_DOMAINS, h_num_domains},
    {REMOTE_PROC_CONNECT_GET_HOSTNAME, h_get_hostname},
    {REMOTE_PROC_CONNECT_SUPPORTS_FEATURE, h_supports_feature},
    {REMOTE_PROC_AUTH_LIST, h_auth_list},
    {REMOTE_PROC_CONNECT_GET_URI, h_get_uri},
    {REMOTE_PROC_CONNECT_IS_SECURE, h_is_secure},
    {REMOTE_PROC_CONNECT_GET_LIB_VERSION, h_get_lib_version},
    {REMOTE_PROC_DOMAIN_GET_STATE, h_get_state},
    {REMOTE_PROC_CONNECT_LIST_ALL_DOMAINS, h_list_all},
    {REMOTE_PROC_CONNECT_REGISTER_CLOSE_CALLBACK, h_ok},
    {REMOTE_PROC_CONNECT_UNREGISTER_CLOSE_CALLBACK, h_ok},
};

static void note_message(struct server *s, const uint8_t *msg, size_t len)
{
    struct rpc_header h;
    const uint8_t *payload;
    size_t plen;
    struct verr err = {0};
    const char *name = "?";
    if (rpc_msg_parse(msg, len, &h, &payload, &plen, &err) == 0) {
        const struct remote_proc *p =
            h.prog == RPC_REMOTE_PROGRAM ? remote_proc_lookup(h.proc) : NULL;
        if (p)
            name = p->name;
        else if (h.prog == RPC_KEEPALIVE_PROGRAM)
            name = h.proc == RPC_KEEPALIVE_PROC_PING ? "KEEPALIVE_PING" : "KEEPALIVE_PONG";
        if (s->log) {
            fprintf(s->log, "%s %d %s serial %u\n", rpc_msg_type_name(h.type), h.proc, name,
                    h.serial);
            fflush(s->log);
        }
    }
    if (s->capture_dir) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%04u-%s.bin", s->capture_dir, s->captured++, name);
        FILE *f = fopen(path, "wb");
        if (f) {
            fwrite(msg, 1, len, f);
            fclose(f);
        }
    }
}

/* Reads and answers what a client sent. Returns -1 when it must be dropped. */
static int serve_client(struct server *s, const struct rpc_dispatcher *d, struct client *c)
{
    for (;;) {
        struct verr err = {0};
        int r = rpc_reader_read_fd(&c->reader, c->fd, &err);
        if (r < 0) {
            if (r != -ECONNRESET)
                log_warn("dropping client: %s", verr_msg(&err));
            return -1;
        }
        if (r == 0)
            return 0;
        size_t len;
        const uint8_t *msg = rpc_reader_message(&c->reader, &len);
        note_message(s, msg, len);
        struct buf out = BUF_INIT;
        r = rpc_dispatch(d, msg, len, &out, &err);
        rpc_reader_next(&c->reader);
        if (r < 0) {
            log_warn("dropping client: %s", verr_msg(&err));
            buf_free(&out);
            return -1;
        }
        rpc_writer_push(&c->writer, &out);
        buf_free(&out);
        if (rpc_writer_flush(&c->writer, c->fd, &err) < 0)
            return -1;
    }
}

static int listen_unix(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        log_error("socket path too long: %s", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    unlink(path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
        log_error("cannot listen on %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int main(int argc, char **argv)
{
    log_set_program("rpc-test-server");
    if (argc < 2) {
        fprintf(stderr, "usage: %s SOCKET [--log FILE] [--capture DIR] [--lifetime SECONDS]\n",
                argv[0]);
        return 2;
    }
    struct server s = {0};
    int lifetime = 120;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--log") == 0)
            s.log = fopen(argv[i + 1], "a");
        else if (strcmp(argv[i], "--capture") == 0)
            s.capture_dir = argv[i + 1];
        else if (strcmp(argv[i], "--lifetime") == 0)
            lifetime = atoi(argv[i + 1]);
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int lfd = listen_unix(argv[1]);
    if (lfd < 0)
        return 1;
    struct rpc_dispatcher d = {handlers, sizeof(handlers) / sizeof(handlers[0]), NULL, &s};
    struct client clients[MAX_CLIENTS];
    size_t n = 0;
    time_t deadline = time(NULL) + lifetime;

    while (!stop_requested && time(NULL) < deadline) {
        struct pollfd pfd[MAX_CLIENTS + 1];
        pfd[0] = (struct pollfd){.fd = lfd, .events = POLLIN};
        for (size_t i = 0; i < n; i++) {
            pfd[i + 1] = (struct pollfd){.fd = clients[i].fd, .events = POLLIN};
            if (rpc_writer_pending(&clients[i].writer))
                pfd[i + 1].events |= POLLOUT;
        }
        if (poll(pfd, n + 1, 500) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (size_t i = n; i-- > 0;) {
            struct client *c = &clients[i];
            int drop = (pfd[i + 1].revents & (POLLERR | POLLNVAL)) != 0;
            struct verr err = {0};
            if (!drop && (pfd[i + 1].revents & (POLLIN | POLLHUP)))
                drop = serve_client(&s, &d, c) < 0;
            if (!drop && (pfd[i + 1].revents & POLLOUT))
                drop = rpc_writer_flush(&c->writer, c->fd, &err) < 0;
            if (drop) {
                close(c->fd);
                rpc_reader_free(&c->reader);
                rpc_writer_free(&c->writer);
                clients[i] = clients[--n];
            }
        }
        if (pfd[0].revents & POLLIN) {
            int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (cfd >= 0 && n < MAX_CLIENTS) {
                clients[n].fd = cfd;
                rpc_reader_init(&clients[n].reader);
                rpc_writer_init(&clients[n].writer);
                n++;
            } else if (cfd >= 0) {
                close(cfd);
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        close(clients[i].fd);
        rpc_reader_free(&clients[i].reader);
        rpc_writer_free(&clients[i].writer);
    }
    close(lfd);
    unlink(argv[1]);
    if (s.log)
        fclose(s.log);
    return 0;
}
