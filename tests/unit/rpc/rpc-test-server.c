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
 *   rpc-test-server SOCKET [--log FILE] [--capture DIR] [--lifetime SECONDS] [--ro yes]
 *                   [--old yes]
 *
 * --log appends one line per message received ("CALL 66 AUTH_LIST serial 1").
 * --capture writes each received message to DIR/NNNN-NAME.bin.
 * --ro yes makes every connection read-only (like libvirtd's read-only socket).
 * --old yes plays an old daemon: no CONNECT_LIST_ALL_DOMAINS (clients fall
 * back to the older list calls) and no callback events (clients register
 * with DOMAIN_EVENT_REGISTER_ANY and get DOMAIN_EVENT_LIFECYCLE messages).
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

/* The fake domain's state, shared by all connections so that one virsh
 * command can observe what an earlier one changed. */
struct fake_domain {
    int state; /* virDomainState: 1 running, 3 paused, 5 shut off */
    uint64_t memory_kib;
    uint64_t max_memory_kib;
    int vcpus;
    int max_vcpus;
    int autostart;
    uint64_t cpu_shares;
    uint8_t vcpu_pin[8]; /* one cpumap byte per vCPU */
    uint8_t emulator_pin;
    int managed_save;
    char saved_to[256]; /* file of the last save */
    char defined[256];  /* name of the last domain defined through the server */
};

struct server {
    FILE *log;
    const char *capture_dir;
    unsigned captured;
    bool readonly; /* --ro: every connection is read-only */
    bool old;      /* --old: act like an old libvirtd (no list-all, no callback events) */
    const struct rpc_handler *handlers; /* the table in use (fewer with --old) */
    size_t n_handlers;
    struct fake_domain dom;
};

struct client {
    int fd;
    struct rpc_reader reader;
    struct rpc_writer writer;
    struct server *server;
    int event_callback;      /* lifecycle callback id to notify, 0 for none */
    uint64_t event_due_ns;   /* when to send the "started" event; 0 for never */
    bool readonly;           /* asked for by the client (VIR_CONNECT_RO) */
    uint32_t console_serial; /* serial of the open console stream, 0 for none */
    uint64_t console_due_ns; /* when to send the console greeting */
};

/* The one fake domain. */
static const char fake_name[] = "vireo-test";
static const uint8_t fake_uuid[16] = {0x6b, 0x1c, 0x3e, 0x8a, 0x52, 0x0d, 0x4f, 0x1e,
                                      0x9b, 0x77, 0x21, 0x05, 0xc4, 0xa8, 0x33, 0x10};
static const int fake_id = 7;

/* ctx is the client (NULL: assume running); a shut off domain has no id. */
static void fill_domain(struct remote_nonnull_domain *d, void *ctx)
{
    int state = ctx ? ((struct client *)ctx)->server->dom.state : 1;
    d->name = xstrdup(fake_name);
    memcpy(d->uuid, fake_uuid, 16);
    d->id = state == 5 ? -1 : fake_id;
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

static int h_open(void *ctx, const struct rpc_header *h, const void *args, void *ret,
                  struct rpc_error *err)
{
    (void)h, (void)ret, (void)err;
    /* VIR_CONNECT_RO: the client asks for a read-only connection. */
    if (((const struct remote_connect_open_args *)args)->flags & 1)
        ((struct client *)ctx)->readonly = true;
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
    (void)h, (void)err;
    const struct remote_connect_supports_feature_args *a = args;
    struct remote_connect_supports_feature_ret *r = ret;
    /* TYPED_PARAM_STRING 9, PROGRAM_KEEPALIVE 10, REMOTE_EVENT_CALLBACK 14,
     * REMOTE_CLOSE_CALLBACK 15 */
    r->supported = a->feature == 9 || a->feature == 10 || a->feature == 14 || a->feature == 15;
    if (a->feature == 14 && ((struct client *)ctx)->server->old)
        r->supported = 0;
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
    (void)h;
    const struct remote_connect_list_all_domains_args *a = args;
    struct remote_connect_list_all_domains_ret *r = ret;
    if (((struct client *)ctx)->server->old) {
        rpc_error_no_support(err, "virConnectListAllDomains");
        return -1;
    }
    /* Flag 2 is VIR_CONNECT_LIST_DOMAINS_INACTIVE alone: our domain is running. */
    bool match = !(a->flags == 2);
    r->ret = match ? 1 : 0;
    if (a->need_results && match) {
        r->domains_len = 1;
        r->domains = xcalloc(1, sizeof(*r->domains));
        fill_domain(&r->domains[0], ctx);
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

/* The inactive domains: the one defined through the server, if any. */
static int h_num_defined(void *ctx, const struct rpc_header *h, const void *args, void *ret,
                         struct rpc_error *err)
{
    (void)h, (void)args, (void)err;
    ((struct remote_connect_num_of_defined_domains_ret *)ret)->num =
        ((struct client *)ctx)->server->dom.defined[0] != 0;
    return 0;
}

static int h_list_defined(void *ctx, const struct rpc_header *h, const void *args, void *ret,
                          struct rpc_error *err)
{
    (void)h, (void)err;
    const char *name = ((struct client *)ctx)->server->dom.defined;
    struct remote_connect_list_defined_domains_ret *r = ret;
    if (name[0] && ((const struct remote_connect_list_defined_domains_args *)args)->maxnames > 0) {
        r->names_len = 1;
        r->names = xcalloc(1, sizeof(*r->names));
        r->names[0] = xstrdup(name);
    }
    return 0;
}

static int h_lookup_name(void *ctx, const struct rpc_header *h, const void *args, void *ret,
                         struct rpc_error *err)
{
    (void)ctx, (void)h;
    const struct remote_domain_lookup_by_name_args *a = args;
    struct server *s = ((struct client *)ctx)->server;
    if (s->dom.defined[0] && strcmp(a->name, s->dom.defined) == 0) {
        struct remote_nonnull_domain *d = &((struct remote_domain_lookup_by_name_ret *)ret)->dom;
        d->name = xstrdup(a->name);
        memset(d->uuid, 0x42, 16);
        d->id = -1;
        return 0;
    }
    if (strcmp(a->name, fake_name) != 0)
        return no_domain(err, "no domain with matching name");
    fill_domain(&((struct remote_domain_lookup_by_name_ret *)ret)->dom, ctx);
    return 0;
}

static int h_lookup_id(void *ctx, const struct rpc_header *h, const void *args, void *ret,
                       struct rpc_error *err)
{
    (void)ctx, (void)h;
    const struct remote_domain_lookup_by_id_args *a = args;
    if (a->id != fake_id)
        return no_domain(err, "no domain with matching id");
    fill_domain(&((struct remote_domain_lookup_by_id_ret *)ret)->dom, ctx);
    return 0;
}

static int h_lookup_uuid(void *ctx, const struct rpc_header *h, const void *args, void *ret,
                         struct rpc_error *err)
{
    (void)ctx, (void)h;
    const struct remote_domain_lookup_by_uuid_args *a = args;
    if (memcmp(a->uuid, fake_uuid, 16) != 0)
        return no_domain(err, "no domain with matching uuid");
    fill_domain(&((struct remote_domain_lookup_by_uuid_ret *)ret)->dom, ctx);
    return 0;
}

static char *xml_name(const char *xml);

#define HANDLER(name)                                                                              \
    static int name(void *ctx, const struct rpc_header *h, const void *args, void *ret,            \
                    struct rpc_error *err)

static struct fake_domain *dom_of(void *ctx)
{
    return &((struct client *)ctx)->server->dom;
}

/*
 * Every domain procedure's arguments start with the domain. Returns 0 for
 * the running fake domain, 1 for the (inactive) one last defined, or -1.
 */
static int check_dom(void *ctx, const void *args, struct rpc_error *err)
{
    const struct remote_nonnull_domain *d = args;
    if (strcmp(d->name, fake_name) == 0)
        return 0;
    if (dom_of(ctx)->defined[0] && strcmp(d->name, dom_of(ctx)->defined) == 0)
        return 1;
    return no_domain(err, "no domain with matching name");
}

HANDLER(h_get_info)
{
    (void)h;
    if (check_dom(ctx, args, err) < 0)
        return -1;
    struct fake_domain *d = dom_of(ctx);
    struct remote_domain_get_info_ret *r = ret;
    r->state = (uint8_t)d->state;
    r->maxMem = d->max_memory_kib;
    r->memory = d->memory_kib;
    r->nrVirtCpu = (uint16_t)d->vcpus;
    r->cpuTime = 1500000000; /* 1.5 s */
    return 0;
}

HANDLER(h_os_type)
{
    (void)h;
    if (check_dom(ctx, args, err) < 0)
        return -1;
    ((struct remote_domain_get_os_type_ret *)ret)->type = xstrdup("hvm");
    return 0;
}

HANDLER(h_is_persistent)
{
    (void)h;
    if (check_dom(ctx, args, err) < 0)
        return -1;
    ((struct remote_domain_is_persistent_ret *)ret)->persistent = 1;
    return 0;
}

HANDLER(h_is_active)
{
    (void)h;
    int which = check_dom(ctx, args, err);
    if (which < 0)
        return -1;
    ((struct remote_domain_is_active_ret *)ret)->active = which == 0 && dom_of(ctx)->state != 5;
    return 0;
}

HANDLER(h_get_autostart)
{
    (void)h;
    if (check_dom(ctx, args, err) < 0)
        return -1;
    ((struct remote_domain_get_autostart_ret *)ret)->autostart = dom_of(ctx)->autostart;
    return 0;
}

HANDLER(h_set_autostart)
{
    (void)h, (void)ret;
    if (check_dom(ctx, args, err) < 0)
        return -1;
    dom_of(ctx)->autostart = ((const struct remote_domain_set_autostart_args *)args)->autostart;
    return 0;
}

HANDLER(h_has_managed_save)
{
    (void)h;
    if (check_dom(ctx, args, err) < 0)
        return -1;
    ((struct remote_domain_has_managed_save_image_ret *)ret)->result = dom_of(ctx)->managed_save;
    return 0;
}

HANDLER(h_security_model)
{
    (void)ctx, (void)h, (void)args, (void)err;
    /* variable-length char arrays: one XDR unit per char, NUL included */
    struct remote_node_get_security_model_ret *r = ret;
    r->model_len = 6;
    r->model = xstrdup("vireo");
    r->doi_len = 2;
    r->doi = xstrdup("0");
    return 0;
}

HANDLER(h_xml_desc)
{
    (void)h;
    if (check_dom(ctx, args, err) < 0)
        return -1;
    struct fake_domain *d = dom_of(ctx);
    ((struct remote_domain_get_xml_desc_ret *)ret)->xml =
        xasprintf("<domain type='kvm' id='%d'>\n  <name>%s</name>\n"
                  "  <memory unit='KiB'>%llu</memory>\n  <vcpu>%d</vcpu>\n"
                  "  <os><type arch='x86_64'>hvm</type></os>\n</domain>\n",
                  fake_id, fake_name, (unsigned long long)d->max_memory_kib, d->vcpus);
    return 0;
}

HANDLER(h_state_change)
{
    if (check_dom(ctx, args, err) < 0)
        return -1;
    (void)ret;
    struct fake_domain *d = dom_of(ctx);
    switch (h->proc) {
    case REMOTE_PROC_DOMAIN_SUSPEND:
        d->state = 3;
        break;
    case REMOTE_PROC_DOMAIN_RESUME:
    case REMOTE_PROC_DOMAIN_REBOOT:
    case REMOTE_PROC_DOMAIN_RESET:
        d->state = 1;
        break;
    case REMOTE_PROC_DOMAIN_CREATE:
    case REMOTE_PROC_DOMAIN_CREATE_WITH_FLAGS:
        if (d->state != 5) {
            rpc_error_set(err, RPC_ERR_OPERATION_INVALID, RPC_FROM_QEMU,
                          "Requested operation is not valid: domain is already running");
            return -1;
        }
        d->state = 1;
        if (h->proc == REMOTE_PROC_DOMAIN_CREATE_WITH_FLAGS)
            fill_domain(&((struct remote_domain_create_with_flags_ret *)ret)->dom, ctx);
        break;
    default: /* shutdown, destroy */
        d->state = 5;
        break;
    }
    return 0;
}

HANDLER(h_create_xml)
{
    (void)h;
    const struct remote_domain_create_xml_args *a = args;
    char *name = xml_name(a->xml_desc);
    if (!name) {
        rpc_error_set(err, RPC_ERR_XML_ERROR, RPC_FROM_DOMAIN,
                      "XML error: missing domain name information");
        return -1;
    }
    (void)ctx;
    struct remote_nonnull_domain *d = &((struct remote_domain_create_xml_ret *)ret)->dom;
    d->name = name;
    memset(d->uuid, 0x43, 16);
    d->id = 8;
    return 0;
}

HANDLER(h_get_state_live)
{
    (void)h;
    int which = check_dom(ctx, args, err);
    if (which < 0)
        return -1;
    struct remote_domain_get_state_ret *r = ret;
    r->state = which == 0 ? dom_of(ctx)->state : 5;
    r->reason = 1;
    return 0;
}

HANDLER(h_vcpus_flags)
{
    (void)h;
    if (check_dom(ctx, args, err) < 0)
        return -1;
    const struct remote_domain_get_vcpus_flags_args *a = args;
    struct fake_domain *d = dom_of(ctx);
    /* VIR_DOMAIN_VCPU_MAXIMUM is 4 */
    ((struct remote_domain_get_vcpus_flags_ret *)ret)->num = a->flags & 4 ? d->max_vcpus : d->vcpus;
    return 0;
}

HANDLER(h_set_vcpus)
{
    (void)h, (void)ret;
    if (check_dom(ctx, args, err) < 0)
        return -1;
    uint32_t n = h->proc == REMOTE_PROC_DOMAIN_SET_VCPUS
                     ? ((const struct remote_domain_set_vcpus_args *)args)->nvcpus
                     : ((const struct remote_domain_set_vcpus_flags_args *)args)->nvcpus;
    struct fake_domain *d = dom_of(ctx);
    if (n < 1 || (int)n > d->max_vcpus) {
        rpc_error_set(err, RPC_ERR_INVALID_ARG, RPC_FROM_QEMU,
                      "invalid argument: requested vcpus %u is greater than max allowable vcpus "
                      "for the live domain: %d",
                      n, d->max_vcpus);
        return -1;
    }
    d->vcpus = (int)n;
    return 0;
}

HANDLER(h_set_memory)
{
    (void)ret;
    if (check_dom(ctx, args, err) < 0)
        return -1;
    struct fake_domain *d = dom_of(ctx);
    if (h->proc == REMOTE_PROC_DOMAIN_SET_MEMORY_FLAGS) {
        const struct remote_domain_set_memory_flags_args *a = args;
        if (a->flags & 4) /* VIR_DOMAIN_MEM_MAXIMUM */
            d->max_memory_kib = a->memory;
        else
            d->memory_kib = a->memory;
    } else if (h->proc == REMOTE_PROC_DOMAIN_SET_MEMORY)
        d->memory_kib = ((const struct remote_domain_set_memory_args *)args)->memory;
    else
        d->max_memory_kib = ((const struct remote_domain_set_max_memory_args *)args)->memory;
    return 0;
}

HANDLER(h_get_vcpus)
{
    (void)h;
    if (check_dom(ctx, args, err) < 0)
        return -1;
    const struct remote_domain_get_vcpus_args *a = args;
    struct fake_domain *d = dom_of(ctx);
    struct remote_domain_get_vcpus_ret *r = ret;
    int n = a->maxinfo < d->vcpus ? a->maxinfo : d->vcpus;
    int maplen = a->maplen > 0 && a->maplen <= 8 ? a->maplen : 1;
    r->info_len = (uint32_t)n;
    r->info = xcalloc((size_t)n + 1, sizeof(*r->info));
    r->cpumaps_len = (uint32_t)(n * maplen);
    r->cpumaps = xcalloc((size_t)(n * maplen) + 1, 1);
    for (int i = 0; i < n; i++) {
        r->info[i].number = (uint32_t)i;
        r->info[i].state = 1;               /* VIR_VCPU_RUNNING */
        r->info[i].cpu_time = 250000000ull; /* 0.25 s */
        r->info[i].cpu = i;
        r->cpumaps[i * maplen] = d->vcpu_pin[i];
    }
    return 0;
}

HANDLER(h_vcpu_pin_info)
{
    (void)h;
    if (check_dom(ctx, args, err) < 0)
        return -1;
    const struct remote_domain_get_vcpu_pin_info_args *a = args;
    struct fake_domain *d = dom_of(ctx);
    struct remote_domain_get_vcpu_pin_info_ret *r = ret;
    int n = a->ncpumaps < d->vcpus ? a->ncpumaps : d->vcpus;
    int maplen = a->maplen > 0 && a->maplen <= 8 ? a->maplen : 1;
    r->cpumaps_len = (uint32_t)(n * maplen);
    r->cpumaps = xcalloc((size_t)(n * maplen) + 1, 1);
    for (int i = 0; i < n; i++)
        r->cpumaps[i * maplen] = d->vcpu_pin[i];
    r->num = n;
    return 0;
}

HANDLER(h_pin_vcpu)
{
    (void)ret;
    if (check_dom(ctx, args, err) < 0)
        return -1;
    uint32_t vcpu;
    const uint8_t *map;
    uint32_t len;
    if (h->proc == REMOTE_PROC_DOMAIN_PIN_VCPU) {
        const struct remote_domain_pin_vcpu_args *a = args;
        vcpu = a->vcpu, map = a->cpumap, len = a->cpumap_len;
    } else {
        const struct remote_domain_pin_vcpu_flags_args *a = args;
        vcpu = a->vcpu, map = a->cpumap, len = a->cpumap_len;
    }
    struct fake_domain *d = dom_of(ctx);
    if ((int)vcpu >= d->vcpus || len < 1) {
        rpc_error_set(err, RPC_ERR_INVALID_ARG, RPC_FROM_QEMU, "invalid argument: vcpu %u", vcpu);
        return -1;
    }
    d->vcpu_pin[vcpu] = map[0];
    return 0;
}

HANDLER(h_node_cpu_map)
{
    (void)ctx, (void)h, (void)err;
    const struct remote_node_get_cpu_map_args *a = args;
    struct remote_node_get_cpu_map_ret *r = ret;
    if (a->need_map) {
        r->cpumap_len = 1;
        r->cpumap = xcalloc(1, 1);
        r->cpumap[0] = 0x3f;
    }
    if (a->need_online)
        r->online = 6;
    r->ret = 6;
    return 0;
}

HANDLER(h_sched_type)
{
    (void)h;
    if (check_dom(ctx, args, err) < 0)
        return -1;
    struct remote_domain_get_scheduler_type_ret *r = ret;
    r->type = xstrdup("posix");
    r->nparams = 1;
    return 0;
}

HANDLER(h_sched_get)
{
    (void)h;
    if (check_dom(ctx, args, err) < 0)
        return -1;
    struct remote_domain_get_scheduler_parameters_flags_ret *r = ret;
    r->params_len = 1;
    r->params = xcalloc(1, sizeof(*r->params));
    r->params[0].field = xstrdup("cpu_shares");
    r->params[0].type = REMOTE_TYPED_PARAM_ULLONG;
    r->params[0].value.ul = dom_of(ctx)->cpu_shares;
    return 0;
}

HANDLER(h_sched_set)
{
    (void)h, (void)ret;
    if (check_dom(ctx, args, err) < 0)
        return -1;
    const struct remote_domain_set_scheduler_parameters_flags_args *a = args;
    for (uint32_t i = 0; i < a->params_len; i++) {
        const struct remote_typed_param *p = &a->params[i];
        if (strcmp(p->field, "cpu_shares") != 0 || p->type != REMOTE_TYPED_PARAM_ULLONG) {
            rpc_error_set(err, RPC_ERR_INVALID_ARG, RPC_FROM_QEMU,
                          "invalid argument: unsupported scheduler parameter '%s'", p->field);
            return -1;
        }
        dom_of(ctx)->cpu_shares = p->value.ul;
    }
    return 0;
}

HANDLER(h_sched_get_old)
{
    /* The reply has the same layout with and without flags. */
    return h_sched_get(ctx, h, args, ret, err);
}

HANDLER(h_sched_set_old)
{
    (void)h, (void)ret;
    if (check_dom(ctx, args, err) < 0)
        return -1;
    const struct remote_domain_set_scheduler_parameters_args *a = args;
    struct remote_domain_set_scheduler_parameters_flags_args b = {
        .dom = a->dom, .params_len = a->params_len, .params = a->params};
    return h_sched_set(ctx, h, &b, ret, err);
}

HANDLER(h_emulator_pin_info)
{
    (void)h;
    if (check_dom(ctx, args, err) < 0)
        return -1;
    struct remote_domain_get_emulator_pin_info_ret *r = ret;
    r->cpumaps_len = 1;
    r->cpumaps = xcalloc(1, 1);
    r->cpumaps[0] = dom_of(ctx)->emulator_pin;
    r->ret = 1;
    return 0;
}

HANDLER(h_memory_stats)
{
    (void)h;
    if (check_dom(ctx, args, err) < 0)
        return -1;
    struct remote_domain_memory_stats_ret *r = ret;
    r->stats_len = 2;
    r->stats = xcalloc(2, sizeof(*r->stats));
    r->stats[0].tag = 6; /* VIR_DOMAIN_MEMORY_STAT_ACTUAL_BALLOON */
    r->stats[0].val = dom_of(ctx)->memory_kib;
    r->stats[1].tag = 7; /* VIR_DOMAIN_MEMORY_STAT_RSS */
    r->stats[1].val = 524288;
    return 0;
}

/* Returns the text between <name> and </name>, or NULL. */
static char *xml_name(const char *xml)
{
    const char *a = strstr(xml, "<name>");
    const char *b = a ? strstr(a, "</name>") : NULL;
    if (!a || !b || b - a - 6 <= 0 || b - a - 6 > 200)
        return NULL;
    return strndup(a + 6, (size_t)(b - a - 6));
}

HANDLER(h_define)
{
    (void)h;
    const char *xml = h->proc == REMOTE_PROC_DOMAIN_DEFINE_XML
                          ? ((const struct remote_domain_define_xml_args *)args)->xml
                          : ((const struct remote_domain_define_xml_flags_args *)args)->xml;
    char *name = xml_name(xml);
    if (!name) {
        rpc_error_set(err, RPC_ERR_XML_ERROR, RPC_FROM_DOMAIN,
                      "XML error: missing domain name information");
        return -1;
    }
    struct remote_nonnull_domain *d = &((struct remote_domain_define_xml_ret *)ret)->dom;
    d->name = name;
    memset(d->uuid, 0x42, 16);
    d->id = -1;
    snprintf(dom_of(ctx)->defined, sizeof(dom_of(ctx)->defined), "%s", name);
    return 0;
}

HANDLER(h_undefine)
{
    (void)h, (void)ret;
    const struct remote_nonnull_domain *d = args;
    if (strcmp(d->name, dom_of(ctx)->defined) != 0)
        return no_domain(err, "no domain with matching name");
    dom_of(ctx)->defined[0] = 0;
    return 0;
}

HANDLER(h_messages)
{
    (void)h;
    if (check_dom(ctx, args, err) < 0)
        return -1;
    struct remote_domain_get_messages_ret *r = ret;
    r->msgs_len = 2;
    r->msgs = xcalloc(2, sizeof(*r->msgs));
    r->msgs[0] = xstrdup("tainted: served by the vireo rpc test server");
    r->msgs[1] = xstrdup("deprecated configuration: none");
    return 0;
}

HANDLER(h_snapshot_num)
{
    (void)h, (void)ret;
    return check_dom(ctx, args, err) < 0 ? -1 : 0; /* no snapshots */
}

HANDLER(h_open_console)
{
    (void)ret;
    if (check_dom(ctx, args, err) < 0)
        return -1;
    if (dom_of(ctx)->state != 1) {
        rpc_error_set(err, RPC_ERR_OPERATION_INVALID, RPC_FROM_QEMU,
                      "Requested operation is not valid: domain is not running");
        return -1;
    }
    struct client *c = ctx;
    c->console_serial = h->serial;
    c->console_due_ns = monotonic_ns() + 200000000ull;
    return 0;
}

/*
 * Console stream from the client: data is echoed back in upper case (so
 * the test sees it went through us); the end of the stream is confirmed.
 */
static void on_stream(void *ctx, const struct rpc_header *h, const uint8_t *payload, size_t len,
                      struct buf *out)
{
    struct client *c = ctx;
    struct verr err = {0};
    if (h->proc != REMOTE_PROC_DOMAIN_OPEN_CONSOLE || h->serial != c->console_serial)
        return;
    if (h->type == RPC_STREAM && h->status == RPC_CONTINUE && len) {
        char *up = xmalloc(len);
        for (size_t i = 0; i < len; i++)
            up[i] =
                payload[i] >= 'a' && payload[i] <= 'z' ? (char)(payload[i] - 32) : (char)payload[i];
        rpc_stream_encode(out, h->proc, h->serial, RPC_CONTINUE, up, len, &err);
        free(up);
    } else if (h->status != RPC_CONTINUE) {
        /* finish (OK) or abort (ERROR): confirm and forget the stream */
        rpc_stream_encode(out, h->proc, h->serial, RPC_OK, NULL, 0, &err);
        c->console_serial = 0;
    }
}

HANDLER(h_max_vcpus)
{
    (void)ctx, (void)h, (void)args, (void)err;
    ((struct remote_connect_get_max_vcpus_ret *)ret)->max_vcpus = 255;
    return 0;
}

HANDLER(h_capabilities)
{
    (void)ctx, (void)h, (void)args, (void)err;
    ((struct remote_connect_get_capabilities_ret *)ret)->capabilities =
        xstrdup("<capabilities>\n  <host>\n    <cpu>\n      <arch>x86_64</arch>\n    </cpu>\n"
                "  </host>\n</capabilities>\n");
    return 0;
}

HANDLER(h_sysinfo)
{
    (void)ctx, (void)h, (void)args, (void)err;
    ((struct remote_connect_get_sysinfo_ret *)ret)->sysinfo =
        xstrdup("<sysinfo type='smbios'>\n  <system>\n    <entry name='manufacturer'>Vireo"
                "</entry>\n  </system>\n</sysinfo>\n");
    return 0;
}

HANDLER(h_save)
{
    (void)ret;
    if (check_dom(ctx, args, err) < 0)
        return -1;
    const char *to = h->proc == REMOTE_PROC_DOMAIN_SAVE
                         ? ((const struct remote_domain_save_args *)args)->to
                         : ((const struct remote_domain_save_flags_args *)args)->to;
    struct fake_domain *d = dom_of(ctx);
    snprintf(d->saved_to, sizeof(d->saved_to), "%s", to);
    d->state = 5;
    return 0;
}

HANDLER(h_restore)
{
    (void)ret;
    const char *from = h->proc == REMOTE_PROC_DOMAIN_RESTORE
                           ? ((const struct remote_domain_restore_args *)args)->from
                           : ((const struct remote_domain_restore_flags_args *)args)->from;
    struct fake_domain *d = dom_of(ctx);
    if (strcmp(from, d->saved_to) != 0) {
        rpc_error_set(err, RPC_ERR_OPERATION_FAILED, RPC_FROM_QEMU,
                      "operation failed: no image saved at '%s'", from);
        return -1;
    }
    d->saved_to[0] = 0;
    d->state = 1;
    return 0;
}

HANDLER(h_managed_save)
{
    (void)ret;
    if (check_dom(ctx, args, err) < 0)
        return -1;
    struct fake_domain *d = dom_of(ctx);
    if (h->proc == REMOTE_PROC_DOMAIN_MANAGED_SAVE) {
        d->managed_save = 1;
        d->state = 5;
    } else {
        d->managed_save = 0;
    }
    return 0;
}

HANDLER(h_pin_emulator)
{
    (void)h, (void)ret;
    if (check_dom(ctx, args, err) < 0)
        return -1;
    const struct remote_domain_pin_emulator_args *a = args;
    if (a->cpumap_len < 1) {
        rpc_error_set(err, RPC_ERR_INVALID_ARG, RPC_FROM_QEMU, "invalid argument: empty cpumap");
        return -1;
    }
    dom_of(ctx)->emulator_pin = a->cpumap[0];
    return 0;
}

HANDLER(h_metadata)
{
    (void)h;
    if (check_dom(ctx, args, err) < 0)
        return -1;
    const struct remote_domain_get_metadata_args *a = args;
    if (a->type != 0) { /* VIR_DOMAIN_METADATA_DESCRIPTION */
        rpc_error_set(err, 80, RPC_FROM_DOMAIN,
                      "metadata not found: Requested metadata element "
                      "is not present");
        return -1;
    }
    ((struct remote_domain_get_metadata_ret *)ret)->metadata =
        xstrdup("a domain served by the rpc test server");
    return 0;
}

HANDLER(h_security_label)
{
    (void)h;
    if (check_dom(ctx, args, err) < 0)
        return -1;
    static const char label[] = "vireo-test-label";
    struct remote_domain_get_security_label_ret *r = ret;
    r->label_len = sizeof(label); /* libvirt sends the terminating NUL too */
    r->label = xmalloc(sizeof(label));
    memcpy(r->label, label, sizeof(label));
    r->enforcing = 1;
    return 0;
}

HANDLER(h_event_register_old)
{
    (void)h, (void)args, (void)err;
    struct client *c = ctx;
    if (h->proc == REMOTE_PROC_CONNECT_DOMAIN_EVENT_REGISTER)
        ((struct remote_connect_domain_event_register_ret *)ret)->cb_registered = 1;
    if (h->proc == REMOTE_PROC_CONNECT_DOMAIN_EVENT_REGISTER_ANY &&
        ((const struct remote_connect_domain_event_register_any_args *)args)->eventID != 0)
        return 0;
    c->event_callback = -1; /* old style: no callback id in the message */
    return 0;
}

HANDLER(h_event_deregister_old)
{
    (void)h, (void)args, (void)err;
    if (h->proc == REMOTE_PROC_CONNECT_DOMAIN_EVENT_DEREGISTER)
        ((struct remote_connect_domain_event_deregister_ret *)ret)->cb_registered = 0;
    ((struct client *)ctx)->event_callback = 0;
    return 0;
}

HANDLER(h_event_register)
{
    (void)h, (void)err;
    const struct remote_connect_domain_event_callback_register_any_args *a = args;
    struct client *c = ctx;
    ((struct remote_connect_domain_event_callback_register_any_ret *)ret)->callbackID = 1;
    if (a->eventID == 0) /* VIR_DOMAIN_EVENT_ID_LIFECYCLE */
        c->event_callback = 1;
    return 0;
}

HANDLER(h_event_deregister)
{
    (void)h, (void)args, (void)ret, (void)err;
    ((struct client *)ctx)->event_callback = 0;
    return 0;
}

static const struct rpc_handler handlers[] = {
    {REMOTE_PROC_CONNECT_OPEN, h_open},
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
    {REMOTE_PROC_DOMAIN_GET_STATE, h_get_state_live},
    {REMOTE_PROC_DOMAIN_GET_INFO, h_get_info},
    {REMOTE_PROC_DOMAIN_GET_OS_TYPE, h_os_type},
    {REMOTE_PROC_DOMAIN_IS_PERSISTENT, h_is_persistent},
    {REMOTE_PROC_DOMAIN_IS_ACTIVE, h_is_active},
    {REMOTE_PROC_DOMAIN_GET_AUTOSTART, h_get_autostart},
    {REMOTE_PROC_DOMAIN_SET_AUTOSTART, h_set_autostart},
    {REMOTE_PROC_DOMAIN_HAS_MANAGED_SAVE_IMAGE, h_has_managed_save},
    {REMOTE_PROC_NODE_GET_SECURITY_MODEL, h_security_model},
    {REMOTE_PROC_DOMAIN_GET_XML_DESC, h_xml_desc},
    {REMOTE_PROC_DOMAIN_SUSPEND, h_state_change},
    {REMOTE_PROC_DOMAIN_RESUME, h_state_change},
    {REMOTE_PROC_DOMAIN_DESTROY, h_state_change},
    {REMOTE_PROC_DOMAIN_DESTROY_FLAGS, h_state_change},
    {REMOTE_PROC_DOMAIN_SHUTDOWN, h_state_change},
    {REMOTE_PROC_DOMAIN_SHUTDOWN_FLAGS, h_state_change},
    {REMOTE_PROC_DOMAIN_REBOOT, h_state_change},
    {REMOTE_PROC_DOMAIN_RESET, h_state_change},
    {REMOTE_PROC_DOMAIN_CREATE, h_state_change},
    {REMOTE_PROC_DOMAIN_CREATE_WITH_FLAGS, h_state_change},
    {REMOTE_PROC_DOMAIN_CREATE_XML, h_create_xml},
    {REMOTE_PROC_DOMAIN_GET_VCPUS_FLAGS, h_vcpus_flags},
    {REMOTE_PROC_DOMAIN_SET_VCPUS, h_set_vcpus},
    {REMOTE_PROC_DOMAIN_SET_VCPUS_FLAGS, h_set_vcpus},
    {REMOTE_PROC_DOMAIN_SET_MEMORY, h_set_memory},
    {REMOTE_PROC_DOMAIN_SET_MEMORY_FLAGS, h_set_memory},
    {REMOTE_PROC_DOMAIN_SET_MAX_MEMORY, h_set_memory},
    {REMOTE_PROC_DOMAIN_GET_VCPUS, h_get_vcpus},
    {REMOTE_PROC_DOMAIN_GET_VCPU_PIN_INFO, h_vcpu_pin_info},
    {REMOTE_PROC_DOMAIN_PIN_VCPU, h_pin_vcpu},
    {REMOTE_PROC_DOMAIN_PIN_VCPU_FLAGS, h_pin_vcpu},
    {REMOTE_PROC_NODE_GET_CPU_MAP, h_node_cpu_map},
    {REMOTE_PROC_DOMAIN_GET_SCHEDULER_TYPE, h_sched_type},
    {REMOTE_PROC_DOMAIN_GET_SCHEDULER_PARAMETERS_FLAGS, h_sched_get},
    {REMOTE_PROC_DOMAIN_SET_SCHEDULER_PARAMETERS_FLAGS, h_sched_set},
    {REMOTE_PROC_DOMAIN_MEMORY_STATS, h_memory_stats},
    {REMOTE_PROC_DOMAIN_GET_SCHEDULER_PARAMETERS, h_sched_get_old},
    {REMOTE_PROC_DOMAIN_SET_SCHEDULER_PARAMETERS, h_sched_set_old},
    {REMOTE_PROC_DOMAIN_GET_EMULATOR_PIN_INFO, h_emulator_pin_info},
    {REMOTE_PROC_DOMAIN_DEFINE_XML, h_define},
    {REMOTE_PROC_DOMAIN_DEFINE_XML_FLAGS, h_define},
    {REMOTE_PROC_DOMAIN_UNDEFINE, h_undefine},
    {REMOTE_PROC_DOMAIN_UNDEFINE_FLAGS, h_undefine},
    {REMOTE_PROC_DOMAIN_SNAPSHOT_NUM, h_snapshot_num},
    {REMOTE_PROC_DOMAIN_GET_MESSAGES, h_messages},
    {REMOTE_PROC_CONNECT_GET_MAX_VCPUS, h_max_vcpus},
    {REMOTE_PROC_CONNECT_GET_CAPABILITIES, h_capabilities},
    {REMOTE_PROC_CONNECT_GET_SYSINFO, h_sysinfo},
    {REMOTE_PROC_DOMAIN_SAVE, h_save},
    {REMOTE_PROC_DOMAIN_SAVE_FLAGS, h_save},
    {REMOTE_PROC_DOMAIN_RESTORE, h_restore},
    {REMOTE_PROC_DOMAIN_RESTORE_FLAGS, h_restore},
    {REMOTE_PROC_DOMAIN_MANAGED_SAVE, h_managed_save},
    {REMOTE_PROC_DOMAIN_MANAGED_SAVE_REMOVE, h_managed_save},
    {REMOTE_PROC_DOMAIN_PIN_EMULATOR, h_pin_emulator},
    {REMOTE_PROC_DOMAIN_GET_METADATA, h_metadata},
    {REMOTE_PROC_DOMAIN_GET_SECURITY_LABEL, h_security_label},
    {REMOTE_PROC_CONNECT_DOMAIN_EVENT_REGISTER, h_event_register_old},
    {REMOTE_PROC_CONNECT_DOMAIN_EVENT_REGISTER_ANY, h_event_register_old},
    {REMOTE_PROC_CONNECT_DOMAIN_EVENT_DEREGISTER, h_event_deregister_old},
    {REMOTE_PROC_CONNECT_DOMAIN_EVENT_DEREGISTER_ANY, h_event_deregister_old},
    {REMOTE_PROC_DOMAIN_OPEN_CONSOLE, h_open_console},
    {REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY, h_event_register},
    {REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY, h_event_deregister},
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

/*
 * The lifecycle event a client gets right after registering: "Started
 * Booted". callback -1 means the old form (DOMAIN_EVENT_LIFECYCLE, no id).
 */
static void send_started_event(int callback, struct buf *out)
{
    if (callback < 0) {
        struct remote_domain_event_lifecycle_msg m = {.event = 2, .detail = 0};
        fill_domain(&m.dom, NULL);
        struct rpc_header h = {RPC_REMOTE_PROGRAM,
                               RPC_REMOTE_PROTOCOL_VERSION,
                               REMOTE_PROC_DOMAIN_EVENT_LIFECYCLE,
                               RPC_MESSAGE,
                               0,
                               RPC_OK};
        struct verr err = {0};
        rpc_msg_encode(out, &h, remote_proc_lookup(h.proc)->args, &m, &err);
        remote_domain_event_lifecycle_msg_free(&m);
        return;
    }
    struct remote_domain_event_callback_lifecycle_msg m = {.callbackID = callback};
    fill_domain(&m.msg.dom, NULL);
    m.msg.event = 2;  /* VIR_DOMAIN_EVENT_STARTED */
    m.msg.detail = 0; /* VIR_DOMAIN_EVENT_STARTED_BOOTED */
    struct rpc_header h = {RPC_REMOTE_PROGRAM,
                           RPC_REMOTE_PROTOCOL_VERSION,
                           REMOTE_PROC_DOMAIN_EVENT_CALLBACK_LIFECYCLE,
                           RPC_MESSAGE,
                           0,
                           RPC_OK};
    struct verr err = {0};
    rpc_msg_encode(out, &h, remote_proc_lookup(h.proc)->args, &m, &err);
    remote_domain_event_callback_lifecycle_msg_free(&m);
}

/* Reads and answers what a client sent. Returns -1 when it must be dropped. */
static int serve_client(struct server *s, struct client *c)
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
        struct rpc_dispatcher d = {s->handlers, s->n_handlers, on_stream, c,
                                   c->readonly || s->readonly};
        int had_callback = c->event_callback;
        r = rpc_dispatch(&d, msg, len, &out, &err);
        /* The event goes out a little after the reply: libvirt's client only
         * matches events to the callback once it has processed the reply. */
        if (r == 0 && c->event_callback && !had_callback)
            c->event_due_ns = monotonic_ns() + 200000000ull;
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
        else if (strcmp(argv[i], "--ro") == 0 && strcmp(argv[i + 1], "yes") == 0)
            s.readonly = true;
        else if (strcmp(argv[i], "--old") == 0 && strcmp(argv[i + 1], "yes") == 0)
            s.old = true;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int lfd = listen_unix(argv[1]);
    if (lfd < 0)
        return 1;
    s.dom = (struct fake_domain){.state = 1,
                                 .memory_kib = 1048576,
                                 .max_memory_kib = 2097152,
                                 .vcpus = 2,
                                 .max_vcpus = 4,
                                 .cpu_shares = 1024,
                                 .vcpu_pin = {0x3f, 0x3f, 0x3f, 0x3f},
                                 .emulator_pin = 0x03};
    /* An old daemon also lacks two procedures, so that clients see the
     * dispatcher's own NO_SUPPORT answer. */
    struct rpc_handler table[sizeof(handlers) / sizeof(handlers[0])];
    s.handlers = table;
    for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++) {
        if (s.old && (handlers[i].proc == REMOTE_PROC_CONNECT_GET_CAPABILITIES ||
                      handlers[i].proc == REMOTE_PROC_DOMAIN_MANAGED_SAVE))
            continue;
        table[s.n_handlers++] = handlers[i];
    }
    if (s.old)
        snprintf(s.dom.defined, sizeof(s.dom.defined), "vireo-spare");
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
        if (poll(pfd, n + 1, 50) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (size_t i = n; i-- > 0;) {
            struct client *c = &clients[i];
            int drop = (pfd[i + 1].revents & (POLLERR | POLLNVAL)) != 0;
            struct verr err = {0};
            if (c->event_due_ns && monotonic_ns() >= c->event_due_ns) {
                struct buf ev = BUF_INIT;
                send_started_event(c->event_callback, &ev);
                rpc_writer_push(&c->writer, &ev);
                buf_free(&ev);
                c->event_due_ns = 0;
                drop |= rpc_writer_flush(&c->writer, c->fd, &err) < 0;
            }
            if (c->console_due_ns && monotonic_ns() >= c->console_due_ns) {
                static const char hello[] = "Vireo test console\r\nlogin: ";
                struct buf sb = BUF_INIT;
                rpc_stream_encode(&sb, REMOTE_PROC_DOMAIN_OPEN_CONSOLE, c->console_serial,
                                  RPC_CONTINUE, hello, sizeof(hello) - 1, &err);
                rpc_writer_push(&c->writer, &sb);
                buf_free(&sb);
                c->console_due_ns = 0;
                drop |= rpc_writer_flush(&c->writer, c->fd, &err) < 0;
            }
            if (!drop && (pfd[i + 1].revents & (POLLIN | POLLHUP)))
                drop = serve_client(&s, c) < 0;
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
                memset(&clients[n], 0, sizeof(clients[n]));
                clients[n].fd = cfd;
                clients[n].server = &s;
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
