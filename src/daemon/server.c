/*
 * server.c - vireod's RPC server: the two UNIX sockets, one reader and
 * writer per client on the event loop, and the handler table given to the
 * rpc dispatcher (src/rpc/dispatch.h).
 *
 * The read-only socket sets the dispatcher's readonly flag, so mutating
 * procedures get libvirt's "read only access prevents" error before any
 * handler runs. A client whose bytes cannot be framed is dropped; the
 * others never notice. Lifecycle events go to every client that
 * registered for them, in either of libvirt's two registration forms.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "daemon/lifecycle-rpc.h"
#include "daemon/vireod.h"
#include "rpc/dispatch.h"
#include "util/error.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/mem.h"

#define MAX_EVENT_CALLBACKS 64

struct vd_client {
    struct vd_client *next;
    struct vd_daemon *d;
    int fd;
    struct loop_watch *watch;
    struct rpc_reader reader;
    struct rpc_writer writer;
    bool ro_socket;                     /* came in on vireo-sock-ro */
    bool readonly;                      /* asked for VIR_CONNECT_RO */
    bool old_events;                    /* registered with the old (callback-less) form */
    int callbacks[MAX_EVENT_CALLBACKS]; /* lifecycle callback ids, 0 = free slot */
    int next_callback;
    uint32_t console_serial; /* the open console stream's call serial, 0 for none */
    unsigned char console_uuid[16];
    int refs; /* the connection's own, plus one per job that will reply to it */
};

static void client_drop(struct vd_client *c);
static void accepting_update(struct vd_daemon *d);

#define HANDLER(fn)                                                                                \
    static int fn(void *ctx, const struct rpc_header *h, const void *args, void *ret,              \
                  struct rpc_error *err)
#define UNUSED_ALL (void)ctx, (void)h, (void)args, (void)ret, (void)err

static struct vd_daemon *D(void *ctx)
{
    return ((struct vd_client *)ctx)->d;
}

static int fail(struct rpc_error *err, int code, const struct verr *e)
{
    rpc_error_set(err, code, RPC_FROM_QEMU, "%s", verr_msg(e));
    return -1;
}

/* Maps an errno from domain.c to libvirt's error code. */
static int fail_errno(struct rpc_error *err, int r, const struct verr *e)
{
    int code = RPC_ERR_OPERATION_FAILED;
    switch (-r) {
    case EBUSY:
    case EINVAL:
        code = RPC_ERR_OPERATION_INVALID;
        break;
    case ENOTSUP:
        code = RPC_ERR_CONFIG_UNSUPPORTED;
        break;
    case EEXIST:
        code = RPC_ERR_OPERATION_FAILED;
        break;
    }
    return fail(err, code, e);
}

static void fill_dom(struct remote_nonnull_domain *out, const struct vd_domain *dom)
{
    out->name = xstrdup(dom->def->name);
    memcpy(out->uuid, dom->def->uuid, 16);
    out->id = dom->id;
}

/* Resolves the domain a call names (by uuid, as libvirt does). */
static struct vd_domain *resolve(void *ctx, const struct remote_nonnull_domain *nd,
                                 struct rpc_error *err)
{
    struct vd_domain *dom = vd_domain_find_uuid(D(ctx), nd->uuid);
    if (!dom) {
        char uuid[37];
        domain_uuid_format(nd->uuid, uuid);
        rpc_error_set(err, RPC_ERR_NO_DOMAIN, RPC_FROM_QEMU,
                      "Domain not found: no domain with matching uuid '%s' (%s)", uuid, nd->name);
    }
    return dom;
}

/* Every domain procedure's arguments start with the nonnull_domain. */
#define DOM_ARG(type) ((const struct type *)args)->dom

HANDLER(h_ok)
{
    UNUSED_ALL;
    return 0;
}

HANDLER(h_open)
{
    (void)h, (void)ret, (void)err;
    if (((const struct remote_connect_open_args *)args)->flags & 1) /* VIR_CONNECT_RO */
        ((struct vd_client *)ctx)->readonly = true;
    return 0;
}

HANDLER(h_auth_list)
{
    (void)ctx, (void)h, (void)args, (void)err;
    struct remote_auth_list_ret *r = ret;
    r->types_len = 1;
    r->types = xcalloc(1, sizeof(*r->types));
    r->types[0] = 0; /* REMOTE_AUTH_NONE: UNIX socket permissions are the authentication */
    return 0;
}

HANDLER(h_supports_feature)
{
    (void)ctx, (void)h, (void)err;
    int f = ((const struct remote_connect_supports_feature_args *)args)->feature;
    /* TYPED_PARAM_STRING 9, PROGRAM_KEEPALIVE 10, REMOTE_EVENT_CALLBACK 14,
     * REMOTE_CLOSE_CALLBACK 15 */
    ((struct remote_connect_supports_feature_ret *)ret)->supported =
        f == 9 || f == 10 || f == 14 || f == 15;
    return 0;
}

HANDLER(h_get_type)
{
    UNUSED_ALL;
    /* "QEMU": what management tools written for qemu:///system expect. */
    ((struct remote_connect_get_type_ret *)ret)->type = xstrdup("QEMU");
    return 0;
}

HANDLER(h_get_version)
{
    UNUSED_ALL;
    ((struct remote_connect_get_version_ret *)ret)->hv_ver = 7002000; /* vireo-vmm follows 7.2 */
    return 0;
}

HANDLER(h_get_lib_version)
{
    UNUSED_ALL;
    ((struct remote_connect_get_lib_version_ret *)ret)->lib_ver =
        VIREO_VERSION_MAJOR * 1000000 + VIREO_VERSION_MINOR * 1000 + VIREO_VERSION_MICRO;
    return 0;
}

HANDLER(h_get_uri)
{
    UNUSED_ALL;
    ((struct remote_connect_get_uri_ret *)ret)->uri = xstrdup("vireo:///system");
    return 0;
}

HANDLER(h_get_hostname)
{
    UNUSED_ALL;
    char host[256] = "localhost";
    gethostname(host, sizeof(host) - 1);
    ((struct remote_connect_get_hostname_ret *)ret)->hostname = xstrdup(host);
    return 0;
}

HANDLER(h_is_secure)
{
    UNUSED_ALL;
    ((struct remote_connect_is_secure_ret *)ret)->secure = 1; /* a local UNIX socket */
    return 0;
}

HANDLER(h_max_vcpus)
{
    UNUSED_ALL;
    ((struct remote_connect_get_max_vcpus_ret *)ret)->max_vcpus = 255;
    return 0;
}

static unsigned long long host_mem_kib(void)
{
    struct sysinfo si;
    if (sysinfo(&si) < 0)
        return 0;
    return (unsigned long long)si.totalram * si.mem_unit / 1024;
}

HANDLER(h_node_info)
{
    UNUSED_ALL;
    struct remote_node_get_info_ret *r = ret;
    struct utsname u;
    uname(&u);
    snprintf(r->model, sizeof(r->model), "%.31s", u.machine);
    r->memory = host_mem_kib();
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    r->cpus = (int)(n > 0 ? n : 1);
    r->mhz = 0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[256];
        double mhz;
        while (fgets(line, sizeof(line), f))
            if (sscanf(line, "cpu MHz : %lf", &mhz) == 1) {
                r->mhz = (int)mhz;
                break;
            }
        fclose(f);
    }
    r->nodes = 1;
    r->sockets = 1;
    r->cores = r->cpus;
    r->threads = 1;
    return 0;
}

HANDLER(h_capabilities)
{
    UNUSED_ALL;
    struct utsname u;
    uname(&u);
    ((struct remote_connect_get_capabilities_ret *)ret)->capabilities =
        xasprintf("<capabilities>\n"
                  "  <host>\n"
                  "    <cpu>\n"
                  "      <arch>%s</arch>\n"
                  "    </cpu>\n"
                  "  </host>\n"
                  "  <guest>\n"
                  "    <os_type>hvm</os_type>\n"
                  "    <arch name='%s'>\n"
                  "      <wordsize>64</wordsize>\n"
                  "      <emulator>vireo-vmm</emulator>\n"
                  "      <domain type='kvm'/>\n"
                  "    </arch>\n"
                  "  </guest>\n"
                  "</capabilities>\n",
                  u.machine, u.machine);
    return 0;
}

/* libvirt's VIR_CONNECT_LIST_DOMAINS_* filters. */
static bool list_match(const struct vd_domain *x, unsigned f)
{
    bool active = x->state != VD_STATE_SHUTOFF;
    if ((f & 3) && !((f & 1 && active) || (f & 2 && !active)))
        return false;
    if ((f & 12) && !((f & 4 && x->persistent) || (f & 8 && !x->persistent)))
        return false;
    if (f & (16 | 32 | 64 | 128)) {
        bool m = (f & 16 && x->state == VD_STATE_RUNNING) ||
                 (f & 32 && x->state == VD_STATE_PAUSED) ||
                 (f & 64 && x->state == VD_STATE_SHUTOFF);
        if (!m)
            return false;
    }
    if (f & 256) /* MANAGEDSAVE: vireod has none */
        return false;
    if ((f & (1024 | 2048)) && !((f & 1024 && x->autostart) || (f & 2048 && !x->autostart)))
        return false;
    if (f & 4096) /* HAS_SNAPSHOT */
        return false;
    return true;
}

HANDLER(h_list_all)
{
    (void)h, (void)err;
    const struct remote_connect_list_all_domains_args *a = args;
    struct remote_connect_list_all_domains_ret *r = ret;
    size_t n = 0;
    for (struct vd_domain *x = D(ctx)->domains; x; x = x->next)
        n += list_match(x, a->flags);
    r->ret = (int)n;
    if (a->need_results && n) {
        r->domains = xcalloc(n, sizeof(*r->domains));
        for (struct vd_domain *x = D(ctx)->domains; x; x = x->next)
            if (list_match(x, a->flags))
                fill_dom(&r->domains[r->domains_len++], x);
    }
    return 0;
}

HANDLER(h_num_domains)
{
    (void)h, (void)args, (void)err;
    int n = 0;
    for (struct vd_domain *x = D(ctx)->domains; x; x = x->next)
        n += x->state != VD_STATE_SHUTOFF;
    ((struct remote_connect_num_of_domains_ret *)ret)->num = n;
    return 0;
}

HANDLER(h_list_domains)
{
    (void)h, (void)err;
    int max = ((const struct remote_connect_list_domains_args *)args)->maxids;
    struct remote_connect_list_domains_ret *r = ret;
    for (struct vd_domain *x = D(ctx)->domains; x; x = x->next) {
        if (x->state == VD_STATE_SHUTOFF || (int)r->ids_len >= max)
            continue;
        r->ids = xrealloc(r->ids, (r->ids_len + 1) * sizeof(*r->ids));
        r->ids[r->ids_len++] = x->id;
    }
    return 0;
}

HANDLER(h_num_defined)
{
    (void)h, (void)args, (void)err;
    int n = 0;
    for (struct vd_domain *x = D(ctx)->domains; x; x = x->next)
        n += x->state == VD_STATE_SHUTOFF;
    ((struct remote_connect_num_of_defined_domains_ret *)ret)->num = n;
    return 0;
}

HANDLER(h_list_defined)
{
    (void)h, (void)err;
    int max = ((const struct remote_connect_list_defined_domains_args *)args)->maxnames;
    struct remote_connect_list_defined_domains_ret *r = ret;
    for (struct vd_domain *x = D(ctx)->domains; x; x = x->next) {
        if (x->state != VD_STATE_SHUTOFF || (int)r->names_len >= max)
            continue;
        r->names = xrealloc(r->names, (r->names_len + 1) * sizeof(*r->names));
        r->names[r->names_len++] = xstrdup(x->def->name);
    }
    return 0;
}

HANDLER(h_lookup_name)
{
    (void)h;
    const char *name = ((const struct remote_domain_lookup_by_name_args *)args)->name;
    struct vd_domain *dom = vd_domain_find_name(D(ctx), name);
    if (!dom) {
        rpc_error_set(err, RPC_ERR_NO_DOMAIN, RPC_FROM_QEMU,
                      "Domain not found: no domain with matching name '%s'", name);
        return -1;
    }
    fill_dom(&((struct remote_domain_lookup_by_name_ret *)ret)->dom, dom);
    return 0;
}

HANDLER(h_lookup_id)
{
    (void)h;
    int id = ((const struct remote_domain_lookup_by_id_args *)args)->id;
    struct vd_domain *dom = vd_domain_find_id(D(ctx), id);
    if (!dom) {
        rpc_error_set(err, RPC_ERR_NO_DOMAIN, RPC_FROM_QEMU,
                      "Domain not found: no domain with matching id %d", id);
        return -1;
    }
    fill_dom(&((struct remote_domain_lookup_by_id_ret *)ret)->dom, dom);
    return 0;
}

HANDLER(h_lookup_uuid)
{
    (void)h;
    const uint8_t *uuid = ((const struct remote_domain_lookup_by_uuid_args *)args)->uuid;
    struct vd_domain *dom = vd_domain_find_uuid(D(ctx), uuid);
    if (!dom) {
        char s[37];
        domain_uuid_format(uuid, s);
        rpc_error_set(err, RPC_ERR_NO_DOMAIN, RPC_FROM_QEMU,
                      "Domain not found: no domain with matching uuid '%s'", s);
        return -1;
    }
    fill_dom(&((struct remote_domain_lookup_by_uuid_ret *)ret)->dom, dom);
    return 0;
}

HANDLER(h_define)
{
    const char *xml;
    unsigned flags = 0;
    if (h->proc == REMOTE_PROC_DOMAIN_DEFINE_XML) {
        xml = ((const struct remote_domain_define_xml_args *)args)->xml;
    } else {
        xml = ((const struct remote_domain_define_xml_flags_args *)args)->xml;
        flags = ((const struct remote_domain_define_xml_flags_args *)args)->flags;
    }
    if (flags & ~1u) {
        rpc_error_set(err, RPC_ERR_INVALID_ARG, RPC_FROM_QEMU,
                      "unsupported flags (0x%x) in function virDomainDefineXMLFlags", flags & ~1u);
        return -1;
    }
    struct verr e = {0};
    struct vd_domain *dom;
    int r = vd_domain_define(D(ctx), xml, (flags & 1) ? DOMAIN_PARSE_VALIDATE : 0, &dom, &e);
    if (r < 0)
        return fail(err, r == -EINVAL ? RPC_ERR_XML_ERROR : RPC_ERR_OPERATION_FAILED, &e);
    struct remote_nonnull_domain *out =
        h->proc == REMOTE_PROC_DOMAIN_DEFINE_XML
            ? &((struct remote_domain_define_xml_ret *)ret)->dom
            : &((struct remote_domain_define_xml_flags_ret *)ret)->dom;
    fill_dom(out, dom);
    return 0;
}

HANDLER(h_get_info)
{
    (void)h;
    struct vd_domain *dom = resolve(ctx, &DOM_ARG(remote_domain_get_info_args), err);
    if (!dom)
        return -1;
    struct remote_domain_get_info_ret *r = ret;
    const struct domain_def *def = dom->def;
    r->state = (uint8_t)dom->state;
    r->maxMem = def->memory_kib;
    r->memory = def->current_memory_kib ? def->current_memory_kib : def->memory_kib;
    r->nrVirtCpu = (uint16_t)(def->vcpus_current ? def->vcpus_current : def->vcpus);
    r->cpuTime = vd_domain_cpu_time(dom);
    return 0;
}

HANDLER(h_get_state)
{
    (void)h;
    struct vd_domain *dom = resolve(ctx, &DOM_ARG(remote_domain_get_state_args), err);
    if (!dom)
        return -1;
    struct remote_domain_get_state_ret *r = ret;
    r->state = dom->state;
    r->reason = dom->reason;
    return 0;
}

HANDLER(h_os_type)
{
    (void)h;
    struct vd_domain *dom = resolve(ctx, &DOM_ARG(remote_domain_get_os_type_args), err);
    if (!dom)
        return -1;
    ((struct remote_domain_get_os_type_ret *)ret)->type =
        xstrdup(dom->def->os_type ? dom->def->os_type : "hvm");
    return 0;
}

HANDLER(h_get_xml)
{
    (void)h;
    const struct remote_domain_get_xml_desc_args *a = args;
    struct vd_domain *dom = resolve(ctx, &a->dom, err);
    if (!dom)
        return -1;
    /* VIR_DOMAIN_XML_SECURE 1, INACTIVE 2 */
    bool inactive = (a->flags & 2) || dom->state == VD_STATE_SHUTOFF;
    const struct domain_def *def = (a->flags & 2) ? vd_domain_config(dom) : dom->def;
    unsigned f = (inactive ? DOMAIN_FORMAT_INACTIVE : 0);
    if ((a->flags & 1) && !((struct vd_client *)ctx)->readonly &&
        !((struct vd_client *)ctx)->ro_socket)
        f |= DOMAIN_FORMAT_SECURE;
    ((struct remote_domain_get_xml_desc_ret *)ret)->xml = domain_def_format(def, f);
    return 0;
}

HANDLER(h_is_active)
{
    (void)h;
    struct vd_domain *dom = resolve(ctx, &DOM_ARG(remote_domain_is_active_args), err);
    if (!dom)
        return -1;
    ((struct remote_domain_is_active_ret *)ret)->active = dom->state != VD_STATE_SHUTOFF;
    return 0;
}

HANDLER(h_is_persistent)
{
    (void)h;
    struct vd_domain *dom = resolve(ctx, &DOM_ARG(remote_domain_is_persistent_args), err);
    if (!dom)
        return -1;
    ((struct remote_domain_is_persistent_ret *)ret)->persistent = dom->persistent;
    return 0;
}

HANDLER(h_is_updated)
{
    (void)h;
    struct vd_domain *dom = resolve(ctx, &DOM_ARG(remote_domain_is_updated_args), err);
    if (!dom)
        return -1;
    ((struct remote_domain_is_updated_ret *)ret)->updated = dom->newdef != NULL;
    return 0;
}

HANDLER(h_has_managed_save)
{
    (void)h;
    if (!resolve(ctx, &DOM_ARG(remote_domain_has_managed_save_image_args), err))
        return -1;
    ((struct remote_domain_has_managed_save_image_ret *)ret)->result = 0; /* vireod has none */
    return 0;
}

HANDLER(h_get_autostart)
{
    (void)h;
    struct vd_domain *dom = resolve(ctx, &DOM_ARG(remote_domain_get_autostart_args), err);
    if (!dom)
        return -1;
    ((struct remote_domain_get_autostart_ret *)ret)->autostart = dom->autostart;
    return 0;
}

HANDLER(h_set_autostart)
{
    (void)h, (void)ret;
    const struct remote_domain_set_autostart_args *a = args;
    struct vd_domain *dom = resolve(ctx, &a->dom, err);
    if (!dom)
        return -1;
    struct verr e = {0};
    int r = vd_domain_set_autostart(D(ctx), dom, a->autostart != 0, &e);
    return r < 0 ? fail_errno(err, r, &e) : 0;
}

HANDLER(h_get_max_memory)
{
    (void)h;
    struct vd_domain *dom = resolve(ctx, &DOM_ARG(remote_domain_get_max_memory_args), err);
    if (!dom)
        return -1;
    ((struct remote_domain_get_max_memory_ret *)ret)->memory = dom->def->memory_kib;
    return 0;
}

HANDLER(h_get_max_vcpus)
{
    (void)h;
    struct vd_domain *dom = resolve(ctx, &DOM_ARG(remote_domain_get_max_vcpus_args), err);
    if (!dom)
        return -1;
    ((struct remote_domain_get_max_vcpus_ret *)ret)->num = (int)dom->def->vcpus;
    return 0;
}

HANDLER(h_get_vcpus_flags)
{
    (void)h;
    const struct remote_domain_get_vcpus_flags_args *a = args;
    struct vd_domain *dom = resolve(ctx, &a->dom, err);
    if (!dom)
        return -1;
    const struct domain_def *def = (a->flags & 2) ? vd_domain_config(dom) : dom->def;
    ((struct remote_domain_get_vcpus_flags_ret *)ret)->num =
        (int)((a->flags & 4) ? def->vcpus : (def->vcpus_current ? def->vcpus_current : def->vcpus));
    return 0;
}

HANDLER(h_event_register)
{
    (void)h, (void)err;
    const struct remote_connect_domain_event_callback_register_any_args *a = args;
    struct vd_client *c = ctx;
    int id = ++c->next_callback;
    ((struct remote_connect_domain_event_callback_register_any_ret *)ret)->callbackID = id;
    if (a->eventID == 0) { /* VIR_DOMAIN_EVENT_ID_LIFECYCLE; others never fire here */
        for (int i = 0; i < MAX_EVENT_CALLBACKS; i++)
            if (!c->callbacks[i]) {
                c->callbacks[i] = id;
                return 0;
            }
        rpc_error_set(err, RPC_ERR_OPERATION_FAILED, RPC_FROM_QEMU,
                      "operation failed: too many event callbacks");
        return -1;
    }
    return 0;
}

HANDLER(h_event_deregister)
{
    (void)h, (void)ret, (void)err;
    int id =
        ((const struct remote_connect_domain_event_callback_deregister_any_args *)args)->callbackID;
    struct vd_client *c = ctx;
    for (int i = 0; i < MAX_EVENT_CALLBACKS; i++)
        if (c->callbacks[i] == id)
            c->callbacks[i] = 0;
    return 0;
}

HANDLER(h_event_register_old)
{
    (void)err;
    struct vd_client *c = ctx;
    if (h->proc == REMOTE_PROC_CONNECT_DOMAIN_EVENT_REGISTER) {
        ((struct remote_connect_domain_event_register_ret *)ret)->cb_registered = 1;
        c->old_events = true;
    } else if (((const struct remote_connect_domain_event_register_any_args *)args)->eventID == 0) {
        c->old_events = true;
    }
    return 0;
}

HANDLER(h_event_deregister_old)
{
    (void)err;
    struct vd_client *c = ctx;
    if (h->proc == REMOTE_PROC_CONNECT_DOMAIN_EVENT_DEREGISTER) {
        ((struct remote_connect_domain_event_deregister_ret *)ret)->cb_registered = 0;
        c->old_events = false;
    } else if (((const struct remote_connect_domain_event_deregister_any_args *)args)->eventID ==
               0) {
        c->old_events = false;
    }
    return 0;
}

static struct vd_client *console_holder(struct vd_daemon *d, const unsigned char *uuid)
{
    for (struct vd_client *c = d->clients; c; c = c->next)
        if (c->console_serial && memcmp(c->console_uuid, uuid, 16) == 0)
            return c;
    return NULL;
}

static void client_push(struct vd_client *c, struct buf *out);

/* Ends c's console stream from the server side (domain stopped, or another
 * client took the console with --force). */
static void console_finish(struct vd_client *c)
{
    struct buf out = BUF_INIT;
    struct verr err = {0};
    rpc_stream_encode(&out, REMOTE_PROC_DOMAIN_OPEN_CONSOLE, c->console_serial, RPC_OK, NULL, 0,
                      &err);
    c->console_serial = 0;
    client_push(c, &out);
    buf_free(&out);
}

HANDLER(h_open_console)
{
    (void)ret;
    const struct remote_domain_open_console_args *a = args;
    struct vd_domain *dom = resolve(ctx, &a->dom, err);
    if (!dom)
        return -1;
    struct vd_client *c = ctx;
    if (dom->state == VD_STATE_SHUTOFF || dom->console_fd < 0) {
        rpc_error_set(err, RPC_ERR_OPERATION_INVALID, RPC_FROM_QEMU,
                      dom->state == VD_STATE_SHUTOFF
                          ? "Requested operation is not valid: domain is not running"
                          : "Requested operation is not valid: the console is not connected");
        return -1;
    }
    if (a->dev_name && *a->dev_name && strcmp(a->dev_name, "serial0") != 0 &&
        strcmp(a->dev_name, "console0") != 0) {
        rpc_error_set(err, RPC_ERR_INTERNAL_ERROR, RPC_FROM_QEMU,
                      "internal error: cannot find character device %s", a->dev_name);
        return -1;
    }
    struct vd_client *holder = console_holder(D(ctx), dom->def->uuid);
    if (holder && holder != c) {
        if (!(a->flags & 1)) { /* VIR_DOMAIN_CONSOLE_FORCE */
            rpc_error_set(err, RPC_ERR_OPERATION_FAILED, RPC_FROM_QEMU,
                          "operation failed: Active console session exists for this domain");
            return -1;
        }
        console_finish(holder);
    }
    if (c->console_serial) {
        rpc_error_set(err, RPC_ERR_OPERATION_FAILED, RPC_FROM_QEMU,
                      "operation failed: this connection already has a console open");
        return -1;
    }
    c->console_serial = h->serial;
    memcpy(c->console_uuid, dom->def->uuid, 16);
    return 0;
}

/* Console input from the client, or its end of the stream. */
static void on_stream(void *ctx, const struct rpc_header *h, const uint8_t *payload, size_t len,
                      struct buf *out)
{
    struct vd_client *c = ctx;
    struct verr err = {0};
    if (h->proc != REMOTE_PROC_DOMAIN_OPEN_CONSOLE || h->serial != c->console_serial)
        return;
    if (h->type == RPC_STREAM && h->status == RPC_CONTINUE) {
        struct vd_domain *dom = vd_domain_find_uuid(c->d, c->console_uuid);
        if (dom && dom->console_fd >= 0 && len) {
            /* TODO: flow control; a blocked guest UART drops input here. */
            ssize_t n = write(dom->console_fd, payload, len);
            (void)n;
        }
    } else {
        rpc_stream_encode(out, h->proc, h->serial, RPC_OK, NULL, 0, &err);
        c->console_serial = 0;
    }
}

void vd_console_output(struct vd_daemon *d, struct vd_domain *dom, const void *data, size_t len)
{
    struct vd_client *c = console_holder(d, dom->def->uuid);
    if (!c)
        return;
    struct buf out = BUF_INIT;
    struct verr err = {0};
    rpc_stream_encode(&out, REMOTE_PROC_DOMAIN_OPEN_CONSOLE, c->console_serial, RPC_CONTINUE, data,
                      len, &err);
    client_push(c, &out);
    buf_free(&out);
}

void vd_console_end(struct vd_daemon *d, struct vd_domain *dom)
{
    struct vd_client *c = console_holder(d, dom->def->uuid);
    if (c)
        console_finish(c);
}

struct vd_domain *vd_server_resolve(struct vd_daemon *d, const struct remote_nonnull_domain *nd,
                                    struct rpc_error *err)
{
    struct vd_domain *dom = vd_domain_find_uuid(d, nd->uuid);
    if (!dom) {
        char uuid[37];
        domain_uuid_format(nd->uuid, uuid);
        rpc_error_set(err, RPC_ERR_NO_DOMAIN, RPC_FROM_QEMU,
                      "Domain not found: no domain with matching uuid '%s' (%s)", uuid, nd->name);
    }
    return dom;
}

void vd_server_fill_dom(struct remote_nonnull_domain *out, const struct vd_domain *dom)
{
    fill_dom(out, dom);
}

static const struct rpc_handler handlers[] = {
    {REMOTE_PROC_DOMAIN_OPEN_CONSOLE, h_open_console},
    {REMOTE_PROC_CONNECT_OPEN, h_open},
    {REMOTE_PROC_CONNECT_CLOSE, h_ok},
    {REMOTE_PROC_CONNECT_GET_TYPE, h_get_type},
    {REMOTE_PROC_CONNECT_GET_VERSION, h_get_version},
    {REMOTE_PROC_CONNECT_GET_MAX_VCPUS, h_max_vcpus},
    {REMOTE_PROC_NODE_GET_INFO, h_node_info},
    {REMOTE_PROC_CONNECT_GET_CAPABILITIES, h_capabilities},
    {REMOTE_PROC_DOMAIN_CREATE, vd_rpc_create},
    {REMOTE_PROC_DOMAIN_CREATE_XML, vd_rpc_create_xml},
    {REMOTE_PROC_DOMAIN_DEFINE_XML, h_define},
    {REMOTE_PROC_DOMAIN_DESTROY, vd_rpc_destroy},
    {REMOTE_PROC_DOMAIN_GET_XML_DESC, h_get_xml},
    {REMOTE_PROC_DOMAIN_GET_AUTOSTART, h_get_autostart},
    {REMOTE_PROC_DOMAIN_GET_INFO, h_get_info},
    {REMOTE_PROC_DOMAIN_GET_MAX_MEMORY, h_get_max_memory},
    {REMOTE_PROC_DOMAIN_GET_MAX_VCPUS, h_get_max_vcpus},
    {REMOTE_PROC_DOMAIN_GET_OS_TYPE, h_os_type},
    {REMOTE_PROC_CONNECT_LIST_DEFINED_DOMAINS, h_list_defined},
    {REMOTE_PROC_DOMAIN_LOOKUP_BY_ID, h_lookup_id},
    {REMOTE_PROC_DOMAIN_LOOKUP_BY_NAME, h_lookup_name},
    {REMOTE_PROC_DOMAIN_LOOKUP_BY_UUID, h_lookup_uuid},
    {REMOTE_PROC_CONNECT_NUM_OF_DEFINED_DOMAINS, h_num_defined},
    {REMOTE_PROC_DOMAIN_REBOOT, vd_rpc_reset},
    {REMOTE_PROC_DOMAIN_RESUME, vd_rpc_resume},
    {REMOTE_PROC_DOMAIN_SET_AUTOSTART, h_set_autostart},
    {REMOTE_PROC_DOMAIN_SET_MAX_MEMORY, vd_rpc_set_memory},
    {REMOTE_PROC_DOMAIN_SET_MEMORY, vd_rpc_set_memory},
    {REMOTE_PROC_DOMAIN_SET_VCPUS, vd_rpc_set_vcpus},
    {REMOTE_PROC_DOMAIN_SHUTDOWN, vd_rpc_shutdown},
    {REMOTE_PROC_DOMAIN_SUSPEND, vd_rpc_suspend},
    {REMOTE_PROC_DOMAIN_UNDEFINE, vd_rpc_undefine},
    {REMOTE_PROC_CONNECT_LIST_DOMAINS, h_list_domains},
    {REMOTE_PROC_CONNECT_NUM_OF_DOMAINS, h_num_domains},
    {REMOTE_PROC_CONNECT_GET_HOSTNAME, h_get_hostname},
    {REMOTE_PROC_CONNECT_SUPPORTS_FEATURE, h_supports_feature},
    {REMOTE_PROC_AUTH_LIST, h_auth_list},
    {REMOTE_PROC_CONNECT_DOMAIN_EVENT_REGISTER, h_event_register_old},
    {REMOTE_PROC_CONNECT_DOMAIN_EVENT_DEREGISTER, h_event_deregister_old},
    {REMOTE_PROC_CONNECT_GET_URI, h_get_uri},
    {REMOTE_PROC_CONNECT_IS_SECURE, h_is_secure},
    {REMOTE_PROC_DOMAIN_IS_ACTIVE, h_is_active},
    {REMOTE_PROC_DOMAIN_IS_PERSISTENT, h_is_persistent},
    {REMOTE_PROC_CONNECT_GET_LIB_VERSION, h_get_lib_version},
    {REMOTE_PROC_CONNECT_DOMAIN_EVENT_REGISTER_ANY, h_event_register_old},
    {REMOTE_PROC_CONNECT_DOMAIN_EVENT_DEREGISTER_ANY, h_event_deregister_old},
    {REMOTE_PROC_DOMAIN_CREATE_WITH_FLAGS, vd_rpc_create},
    {REMOTE_PROC_DOMAIN_SET_VCPUS_FLAGS, vd_rpc_set_vcpus},
    {REMOTE_PROC_DOMAIN_GET_VCPUS_FLAGS, h_get_vcpus_flags},
    {REMOTE_PROC_DOMAIN_IS_UPDATED, h_is_updated},
    {REMOTE_PROC_DOMAIN_HAS_MANAGED_SAVE_IMAGE, h_has_managed_save},
    {REMOTE_PROC_DOMAIN_SET_MEMORY_FLAGS, vd_rpc_set_memory},
    {REMOTE_PROC_DOMAIN_GET_STATE, h_get_state},
    {REMOTE_PROC_DOMAIN_UNDEFINE_FLAGS, vd_rpc_undefine},
    {REMOTE_PROC_DOMAIN_DESTROY_FLAGS, vd_rpc_destroy},
    {REMOTE_PROC_DOMAIN_RESET, vd_rpc_reset},
    {REMOTE_PROC_DOMAIN_SHUTDOWN_FLAGS, vd_rpc_shutdown},
    {REMOTE_PROC_CONNECT_LIST_ALL_DOMAINS, h_list_all},
    {REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY, h_event_register},
    {REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY, h_event_deregister},
    {REMOTE_PROC_DOMAIN_DEFINE_XML_FLAGS, h_define},
    {REMOTE_PROC_CONNECT_REGISTER_CLOSE_CALLBACK, h_ok},
    {REMOTE_PROC_CONNECT_UNREGISTER_CLOSE_CALLBACK, h_ok},
};

static void client_update_watch(struct vd_client *c)
{
    loop_watch_set_events(c->watch, LOOP_READ | (rpc_writer_pending(&c->writer) ? LOOP_WRITE : 0));
}

static void client_push(struct vd_client *c, struct buf *out)
{
    if (!out->len)
        return;
    rpc_writer_push(&c->writer, out);
    struct verr err = {0};
    if (rpc_writer_flush(&c->writer, c->fd, &err) < 0) {
        client_drop(c);
        return;
    }
    client_update_watch(c);
}

static void encode_event(struct buf *out, int proc, const void *msg)
{
    struct rpc_header h = {
        RPC_REMOTE_PROGRAM, RPC_REMOTE_PROTOCOL_VERSION, proc, RPC_MESSAGE, 0, RPC_OK};
    struct verr err = {0};
    rpc_msg_encode(out, &h, remote_proc_lookup(proc)->args, msg, &err);
}

void vd_emit_lifecycle(struct vd_daemon *d, struct vd_domain *dom, int event, int detail)
{
    struct vd_client *next;
    for (struct vd_client *c = d->clients; c; c = next) {
        next = c->next;
        struct buf out = BUF_INIT;
        if (c->old_events) {
            struct remote_domain_event_lifecycle_msg m = {.event = event, .detail = detail};
            fill_dom(&m.dom, dom);
            encode_event(&out, REMOTE_PROC_DOMAIN_EVENT_LIFECYCLE, &m);
            remote_domain_event_lifecycle_msg_free(&m);
        }
        for (int i = 0; i < MAX_EVENT_CALLBACKS; i++) {
            if (!c->callbacks[i])
                continue;
            struct remote_domain_event_callback_lifecycle_msg m = {.callbackID = c->callbacks[i]};
            fill_dom(&m.msg.dom, dom);
            m.msg.event = event;
            m.msg.detail = detail;
            encode_event(&out, REMOTE_PROC_DOMAIN_EVENT_CALLBACK_LIFECYCLE, &m);
            remote_domain_event_callback_lifecycle_msg_free(&m);
        }
        client_push(c, &out);
        buf_free(&out);
    }
}

struct vd_daemon *vd_client_daemon(struct vd_client *c)
{
    return c->d;
}

void vd_client_ref(struct vd_client *c)
{
    c->refs++;
}

void vd_client_unref(struct vd_client *c)
{
    if (--c->refs > 0)
        return;
    rpc_reader_free(&c->reader);
    rpc_writer_free(&c->writer);
    free(c);
}

/* A job's late reply; a client that went away meanwhile gets nothing. */
void vd_client_send(struct vd_client *c, struct buf *out)
{
    if (c->fd >= 0)
        client_push(c, out);
}

static void client_free_cb(void *opaque)
{
    vd_client_unref(opaque);
}

static void client_drop(struct vd_client *c)
{
    struct vd_daemon *d = c->d;
    for (struct vd_client **p = &d->clients; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    d->nclients--;
    if (!d->nclients)
        d->idle_since_ns = monotonic_ns();
    accepting_update(d);
    loop_watch_remove(c->watch);
    close(c->fd);
    c->fd = -1;
    loop_call_soon(d->loop, client_free_cb, c);
}

/* Dispatches the complete messages in data; the last partial one stays in
 * the reader. -1 when the client was dropped. Also the fuzz target's entry
 * (tests/fuzz/fuzz-daemon.c), which has no socket behind the client. */
int vd_client_feed(struct vd_client *c, const uint8_t *data, size_t len)
{
    struct verr err = {0};
    while (len) {
        ssize_t took = rpc_reader_feed(&c->reader, data, len, &err);
        if (took < 0) {
            log_warn("dropping client: %s", verr_msg(&err));
            client_drop(c);
            return -1;
        }
        data += took;
        len -= (size_t)took;
        if (!rpc_reader_done(&c->reader))
            continue;
        size_t mlen;
        const uint8_t *msg = rpc_reader_message(&c->reader, &mlen);
        struct buf out = BUF_INIT;
        struct rpc_dispatcher disp = {handlers, sizeof(handlers) / sizeof(handlers[0]), on_stream,
                                      c, c->readonly || c->ro_socket};
        int r = rpc_dispatch(&disp, msg, mlen, &out, &err);
        rpc_reader_next(&c->reader);
        if (r < 0) {
            log_warn("dropping client: %s", verr_msg(&err));
            buf_free(&out);
            client_drop(c);
            return -1;
        }
        /* The handler may have dropped this client through an event push. */
        bool alive = false;
        for (struct vd_client *x = c->d->clients; x; x = x->next)
            alive |= x == c;
        if (!alive) {
            buf_free(&out);
            return -1;
        }
        client_push(c, &out);
        buf_free(&out);
        if (c->fd < 0)
            return -1;
    }
    return 0;
}

static void on_client(struct loop *loop, int fd, unsigned events, void *opaque)
{
    (void)loop, (void)fd;
    struct vd_client *c = opaque;
    if (c->fd < 0)
        return;
    struct verr err = {0};
    if (events & LOOP_WRITE) {
        if (rpc_writer_flush(&c->writer, c->fd, &err) < 0) {
            client_drop(c);
            return;
        }
        client_update_watch(c);
    }
    if (!(events & (LOOP_READ | LOOP_HUP)))
        return;
    /* One read takes whatever the socket holds (a whole small call, or
     * several pipelined ones); rpc_reader_feed cuts it into messages and
     * keeps a partial one. A short read means the socket was empty: the
     * loop (level-triggered) calls again when more arrives. */
    uint8_t ahead[16384];
    for (;;) {
        ssize_t n = read(c->fd, ahead, sizeof(ahead));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            if (n < 0 && errno != ECONNRESET)
                log_warn("dropping client: cannot read from client socket: %s", strerror(errno));
            else if (n == 0 && c->reader.have)
                log_warn("dropping client: connection closed in the middle of a message");
            client_drop(c);
            return;
        }
        if (vd_client_feed(c, ahead, (size_t)n) < 0 || (size_t)n < sizeof(ahead))
            return;
    }
}

/* As libvirtd: at max_clients the listening sockets are not watched, so new
 * connections wait in the kernel's backlog until a client leaves. */
static void accepting_update(struct vd_daemon *d)
{
    bool on = d->nclients < d->max_clients;
    if (!d->lwatch || on == !d->accept_paused)
        return;
    if (!on)
        log_info("max_clients (%u) reached: new connections wait", d->max_clients);
    d->accept_paused = !on;
    loop_watch_set_events(d->lwatch, on ? LOOP_READ : 0);
    loop_watch_set_events(d->lwatch_ro, on ? LOOP_READ : 0);
}

static void on_accept(struct loop *loop, int fd, unsigned events, void *opaque)
{
    (void)loop, (void)events;
    struct vd_daemon *d = opaque;
    int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0)
        return;
    if (d->nclients >= d->max_clients) {
        log_warn("refusing client: max_clients (%u) reached", d->max_clients);
        close(cfd);
        return;
    }
    struct verr err = {0};
    if (!vd_client_new(d, cfd, fd == d->lfd_ro, &err))
        log_error("%s", verr_msg(&err));
}

struct vd_client *vd_client_new(struct vd_daemon *d, int cfd, bool ro_socket, struct verr *err)
{
    struct vd_client *c = xcalloc(1, sizeof(*c));
    c->d = d;
    c->fd = cfd;
    c->refs = 1;
    c->ro_socket = ro_socket;
    rpc_reader_init(&c->reader);
    rpc_writer_init(&c->writer);
    c->watch = loop_watch_fd(d->loop, cfd, LOOP_READ, on_client, c, err);
    if (!c->watch) {
        close(cfd);
        client_free_cb(c);
        return NULL;
    }
    c->next = d->clients;
    d->clients = c;
    d->nclients++;
    accepting_update(d);
    return c;
}

void vd_client_close(struct vd_client *c)
{
    if (c->fd >= 0)
        client_drop(c);
}

int vd_server_start(struct vd_daemon *d, struct verr *err)
{
    int r = vd_listen(d, err);
    if (r < 0)
        return r;
    d->lwatch = loop_watch_fd(d->loop, d->lfd, LOOP_READ, on_accept, d, err);
    d->lwatch_ro = loop_watch_fd(d->loop, d->lfd_ro, LOOP_READ, on_accept, d, err);
    if (!d->lwatch || !d->lwatch_ro)
        return -EIO;
    d->idle_since_ns = monotonic_ns();
    return 0;
}

void vd_server_stop(struct vd_daemon *d)
{
    while (d->clients) {
        struct vd_client *c = d->clients;
        d->clients = c->next;
        close(c->fd);
        c->fd = -1;
        vd_client_unref(c);
    }
    vd_unlisten(d);
}
