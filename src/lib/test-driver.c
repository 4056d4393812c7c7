/*
 * test-driver.c - the "test" connection driver (test:///default): domains in
 * memory for the life of the connection, with no hypervisor behind them.
 *
 * It plays the part of libvirt's test driver so people and tests can use vsh
 * and libvireo without KVM or a daemon. It starts with the same host and the
 * same running persistent domain "test" as libvirt's (`virsh -c
 * test:///default dumpxml test` / `nodeinfo` / `capabilities` were used as the
 * reference), and implements the lifecycle state machine the real drivers
 * follow:
 *
 *     shut off --create--> running <--suspend/resume--> paused
 *        ^                   |  \--inject_crash--> crashed (or per on_crash)
 *        +--shutdown/destroy-+
 *        +--save/managed_save-- (shut off, reason "saved"; restore/start resume it)
 *
 * with libvirt's state reasons, transient vs persistent domains (a transient
 * domain disappears when it stops), autostart flags, and libvirt's
 * --live/--config/--current rules: each domain has a persistent definition
 * (`def`, absent for transient domains) and, while active, a live one
 * (`live`); a change goes to either or both.
 *
 * Where libvirt's test driver refuses something its real drivers allow
 * (starting paused, pinning in the persistent config, scheduler parameters
 * in the config), this driver allows it: it stands in for vireod's driver.
 *
 * State is per connection (no globals): two connections to test:///default
 * see two independent hosts, which is what tests want.
 */
#include "conf/domain_conf.h"
#include "conf/snapshot_conf.h"
#include "conf/xnode.h"
#include "lib/driver.h"
#include "util/bitmap.h"
#include "util/buf.h"
#include "util/cpulist.h"
#include "util/file.h"
#include "util/log.h"
#include "util/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The host libvirt's test driver describes. */
#define TEST_HOST_CPUS    16 /* nodes * sockets * cores * threads */
#define TEST_CPUMAP_CPUS  8  /* what its virNodeGetCPUMap reports: maps are 8 wide */
#define TEST_MODEL        "i686"
#define TEST_MHZ          1400
#define TEST_MEMORY_KIB   3145728ul
#define TEST_HV_VERSION   2                /* "TEST 0.0.2" */
#define TEST_SAVE_MAGIC   "TestGuestMagic" /* 15 bytes with its NUL, as libvirt writes it */
#define TEST_SAVE_MAX     (16u << 20)
#define TEST_SCHED_WEIGHT 50u
#define TEST_LAST_UPDATE  627319920ull

/* libvirt's test domain, address for address (its disk sits on PCI bus 1,
 * which no controller provides; src/conf allows that for type='test'). */
static const char test_domain_xml[] =
    "<domain type='test'>\n"
    "  <name>test</name>\n"
    "  <uuid>6695eb01-f6a4-8304-79aa-97f2502e193f</uuid>\n"
    "  <memory unit='KiB'>8388608</memory>\n"
    "  <currentMemory unit='KiB'>2097152</currentMemory>\n"
    "  <vcpu placement='static'>2</vcpu>\n"
    "  <os>\n"
    "    <type arch='i686'>hvm</type>\n"
    "    <boot dev='hd'/>\n"
    "  </os>\n"
    "  <clock offset='utc'/>\n"
    "  <on_poweroff>destroy</on_poweroff>\n"
    "  <on_reboot>restart</on_reboot>\n"
    "  <on_crash>destroy</on_crash>\n"
    "  <devices>\n"
    "    <disk type='file' device='disk'>\n"
    "      <source file='/guest/diskimage1'/>\n"
    "      <target dev='vda' bus='virtio'/>\n"
    "      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>\n"
    "    </disk>\n"
    "    <interface type='network'>\n"
    "      <mac address='aa:bb:cc:dd:ee:ff'/>\n"
    "      <source network='default'/>\n"
    "      <target dev='testnet0'/>\n"
    "      <address type='pci' domain='0x0000' bus='0x00' slot='0x01' function='0x0'/>\n"
    "    </interface>\n"
    "    <memballoon model='virtio'>\n"
    "      <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0'/>\n"
    "    </memballoon>\n"
    "  </devices>\n"
    "</domain>\n";

struct tdom {
    struct domain_def *def;  /* persistent definition; NULL when transient */
    struct domain_def *live; /* running definition; NULL when shut off */
    int state, reason;
    int id; /* -1 when shut off */
    bool autostart;
    struct domain_def *managed_save; /* the saved live definition, or NULL */
    int managed_save_paused;
    unsigned sched_weight_live, sched_weight_config;
    struct snapshot_def **snaps; /* snapshots' metadata, in creation order */
    size_t nsnaps;
    char *current_snap; /* the current snapshot's name, or NULL */
};

struct test_priv {
    struct tdom **doms;
    size_t ndoms;
    int next_id;
};

static struct test_priv *priv_of(vir_connect *conn)
{
    return conn->priv;
}

/* The definition a query sees: live while active, else the persistent one. */
static struct domain_def *cur_def(const struct tdom *d)
{
    return d->live ? d->live : d->def;
}

static const char *dom_name(const struct tdom *d)
{
    return cur_def(d)->name;
}

static bool dom_active(const struct tdom *d)
{
    return d->live != NULL;
}

static vir_domain *handle_of(vir_connect *conn, const struct tdom *d)
{
    return vir_domain_handle_new(conn, dom_name(d), cur_def(d)->uuid, d->id);
}

static void emit(vir_connect *conn, const struct tdom *d, int event, int detail)
{
    vir_emit_lifecycle(conn, dom_name(d), cur_def(d)->uuid, d->id, event, detail);
}

static void tdom_free(struct tdom *d)
{
    if (!d)
        return;
    domain_def_free(d->def);
    domain_def_free(d->live);
    domain_def_free(d->managed_save);
    for (size_t i = 0; i < d->nsnaps; i++)
        snapshot_def_free(d->snaps[i]);
    free(d->snaps);
    free(d->current_snap);
    free(d);
}

static void remove_dom(struct test_priv *p, struct tdom *d)
{
    for (size_t i = 0; i < p->ndoms; i++) {
        if (p->doms[i] == d) {
            memmove(&p->doms[i], &p->doms[i + 1], (p->ndoms - i - 1) * sizeof(p->doms[0]));
            p->ndoms--;
            break;
        }
    }
    tdom_free(d);
}

static struct tdom *find_by_uuid(struct test_priv *p, const unsigned char *uuid)
{
    for (size_t i = 0; i < p->ndoms; i++)
        if (memcmp(cur_def(p->doms[i])->uuid, uuid, 16) == 0)
            return p->doms[i];
    return NULL;
}

static struct tdom *find_by_name(struct test_priv *p, const char *name)
{
    for (size_t i = 0; i < p->ndoms; i++)
        if (strcmp(dom_name(p->doms[i]), name) == 0)
            return p->doms[i];
    return NULL;
}

/* The domain behind a handle, or NULL with libvirt's "Domain not found". */
static struct tdom *get_dom(vir_domain *dom, vir_error *err)
{
    struct tdom *d = find_by_uuid(priv_of(dom->conn), dom->uuid);
    if (!d) {
        char uuid[37];
        domain_uuid_format(dom->uuid, uuid);
        vir_report(err, VIR_ERR_NO_DOMAIN, "no domain with matching uuid '%s' (%s)", uuid,
                   dom->name);
    }
    return d;
}

static int not_running(vir_error *err)
{
    return vir_report(err, VIR_ERR_OPERATION_INVALID, "domain is not running");
}

/*
 * libvirt's test driver reports the wall clock as a domain's CPU time (and a
 * ten-thousandth of it per vCPU); mirrored so outputs compare line by line.
 */
static uint64_t dom_cpu_ns(const struct tdom *d)
{
    (void)d;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void set_state(struct tdom *d, int state, int reason)
{
    d->state = state;
    d->reason = reason;
}

/* libvirt's test driver names interfaces without a target "testnetN". */
static void name_interfaces(struct domain_def *def)
{
    for (size_t i = 0; i < def->nnets; i++) {
        if (!def->nets[i].target_dev)
            def->nets[i].target_dev = xasprintf("testnet%zu", i);
    }
}

/* Turns a domain active with the given live definition (taken). */
static void make_active(struct test_priv *p, struct tdom *d, struct domain_def *live, int state,
                        int reason)
{
    d->live = live;
    d->id = p->next_id++;
    d->live->id = d->id;
    d->sched_weight_live = d->sched_weight_config;
    d->state = VIR_DOMAIN_SHUTOFF;
    set_state(d, state, reason);
}

/*
 * Stops an active domain with the given shut-off reason. Returns true when
 * the domain was transient and has been removed (d is then gone).
 */
static bool make_inactive(vir_connect *conn, struct tdom *d, int reason, int event_detail)
{
    set_state(d, VIR_DOMAIN_SHUTOFF, reason);
    emit(conn, d, VIR_DOMAIN_EVENT_STOPPED, event_detail);
    if (!d->def) {
        remove_dom(priv_of(conn), d);
        return true;
    }
    domain_def_free(d->live);
    d->live = NULL;
    d->id = -1;
    return false;
}

static int parse_xml(const char *xml, unsigned vflags, struct domain_def **out, vir_error *err)
{
    struct verr verr = {0};
    /* libvirt's test driver applies only the generic defaults, even to type='kvm'. */
    unsigned flags = DOMAIN_PARSE_GENERIC;
    if (vflags & (VIR_DOMAIN_DEFINE_VALIDATE | VIR_DOMAIN_START_VALIDATE))
        flags |= DOMAIN_PARSE_VALIDATE;
    if (domain_def_parse_string(xml, flags, out, &verr) < 0)
        return vir_report(err, VIR_ERR_XML_ERROR, "%s", verr_msg(&verr));
    name_interfaces(*out);
    (*out)->id = -1;
    return 0;
}

/* ---- open, host ---- */

static int test_open(vir_connect *conn, vir_error *err)
{
    if (strcmp(conn->uri, "test:///default") != 0)
        return vir_report(err, VIR_ERR_NO_CONNECT, "%s (the test driver serves test:///default)",
                          conn->uri);
    struct test_priv *p = xcalloc(1, sizeof(*p));
    p->next_id = 1;
    struct domain_def *def;
    if (parse_xml(test_domain_xml, 0, &def, err) < 0) {
        free(p);
        return -1;
    }
    struct tdom *d = xcalloc(1, sizeof(*d));
    d->def = def;
    d->id = -1;
    d->sched_weight_config = TEST_SCHED_WEIGHT;
    make_active(p, d, domain_def_copy(def), VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_UNKNOWN);
    p->doms = xmalloc(sizeof(*p->doms));
    p->doms[0] = d;
    p->ndoms = 1;
    conn->priv = p;
    return 0;
}

static void test_close(vir_connect *conn)
{
    struct test_priv *p = priv_of(conn);
    if (!p)
        return;
    for (size_t i = 0; i < p->ndoms; i++)
        tdom_free(p->doms[i]);
    free(p->doms);
    free(p);
    conn->priv = NULL;
}

static char *test_get_hostname(vir_connect *conn, vir_error *err)
{
    (void)conn;
    char host[256];
    if (gethostname(host, sizeof(host)) < 0) {
        vir_report(err, VIR_ERR_SYSTEM_ERROR, "cannot get the host name: %s", strerror(errno));
        return NULL;
    }
    host[sizeof(host) - 1] = '\0';
    return xstrdup(host);
}

static int test_get_version(vir_connect *conn, unsigned long *version, vir_error *err)
{
    (void)conn;
    (void)err;
    *version = TEST_HV_VERSION;
    return 0;
}

static char *test_get_capabilities(vir_connect *conn, vir_error *err)
{
    (void)conn;
    (void)err;
    struct buf b = BUF_INIT;
    buf_append_str(&b, "<capabilities>\n\n  <host>\n    <cpu>\n      <arch>i686</arch>\n"
                       "      <features>\n        <pae/>\n        <nonpae/>\n      </features>\n"
                       "      <pages unit='KiB' size='4'/>\n      <pages unit='KiB' size='8'/>\n"
                       "      <pages unit='KiB' size='2048'/>\n"
                       "      <pages unit='KiB' size='1048576'/>\n    </cpu>\n"
                       "    <power_management/>\n    <iommu support='no'/>\n    <topology>\n"
                       "      <cells num='2'>\n");
    for (int cell = 0; cell < 2; cell++) {
        buf_printf(&b, "        <cell id='%d'>\n", cell);
        buf_printf(&b, "          <memory unit='KiB'>%d</memory>\n", cell ? 4194304 : 2097152);
        buf_printf(&b, "          <pages unit='KiB' size='%d'>524288</pages>\n", cell ? 8 : 4);
        buf_append_str(&b, "          <pages unit='KiB' size='2048'>0</pages>\n"
                           "          <pages unit='KiB' size='1048576'>0</pages>\n"
                           "          <cpus num='8'>\n");
        for (int c = 0; c < 8; c++) {
            int id = cell * 8 + c;
            buf_printf(&b,
                       "            <cpu id='%d' socket_id='%d' die_id='0' core_id='%d' "
                       "siblings='%d'/>\n",
                       id, cell, c, id);
        }
        buf_append_str(&b, "          </cpus>\n        </cell>\n");
    }
    buf_append_str(&b, "      </cells>\n    </topology>\n    <secmodel>\n"
                       "      <model>testSecurity</model>\n      <doi></doi>\n    </secmodel>\n"
                       "  </host>\n\n");
    const char *os_types[] = {"hvm", "xen"};
    for (int i = 0; i < 2; i++) {
        buf_printf(&b,
                   "  <guest>\n    <os_type>%s</os_type>\n    <arch name='i686'>\n"
                   "      <wordsize>32</wordsize>\n      <emulator>/usr/bin/test-hv</emulator>\n"
                   "      <domain type='test'/>\n    </arch>\n    <features>\n      <pae/>\n"
                   "      <nonpae/>\n    </features>\n  </guest>\n\n",
                   os_types[i]);
    }
    buf_append_str(&b, "</capabilities>\n");
    return buf_detach(&b, NULL);
}

static int test_node_get_info(vir_connect *conn, vir_node_info *info, vir_error *err)
{
    (void)conn;
    (void)err;
    memset(info, 0, sizeof(*info));
    snprintf(info->model, sizeof(info->model), "%s", TEST_MODEL);
    info->memory = TEST_MEMORY_KIB;
    info->cpus = TEST_HOST_CPUS;
    info->mhz = TEST_MHZ;
    info->nodes = 2;
    info->sockets = 2;
    info->cores = 2;
    info->threads = 2;
    return 0;
}

static int test_node_get_security_model(vir_connect *conn, vir_security_model *model,
                                        vir_error *err)
{
    (void)conn;
    (void)err;
    snprintf(model->model, sizeof(model->model), "testSecurity");
    model->doi[0] = '\0';
    return 0;
}

static int test_node_cpu_count(vir_connect *conn, vir_error *err)
{
    (void)conn;
    (void)err;
    return TEST_CPUMAP_CPUS;
}

/* libvirt's test host: two cells with 2 and 4 MiB free, fixed CPU times, CPUs 0, 2 and 4 of 8
 * online; its virNodeGetFreeMemory answers the node's memory in KiB where bytes are meant
 * (so virsh freecell prints 3072 KiB), and Vireo's does the same. */
static const unsigned long long test_cell_free[] = {2048ull * 1024, 4096ull * 1024};

static unsigned long long test_node_free_memory(vir_connect *conn, vir_error *err)
{
    (void)conn;
    (void)err;
    return TEST_MEMORY_KIB;
}

static int test_node_cells_free_memory(vir_connect *conn, unsigned long long *free_mems, int start,
                                       int max, vir_error *err)
{
    (void)conn;
    int ncells = (int)(sizeof(test_cell_free) / sizeof(test_cell_free[0]));
    if (start < 0 || max < 0 || start + max > ncells)
        return vir_report(err, VIR_ERR_INVALID_ARG, "Range exceeds available cells");
    for (int i = 0; i < max; i++)
        free_mems[i] = test_cell_free[start + i];
    return max;
}

static int test_node_cpu_stats(vir_connect *conn, int cpu, vir_node_stats_param *params,
                               int *nparams, unsigned int flags, vir_error *err)
{
    (void)conn;
    (void)cpu;
    (void)flags;
    (void)err;
    static const struct {
        const char *field;
        unsigned long long value;
    } stats[] = {{"kernel", 34678723400000ull},
                 {"user", 9797400000ull},
                 {"idle", 87264900000ull},
                 {"iowait", 763600000ull}};
    if (*nparams == 0) {
        *nparams = 4;
        return 0;
    }
    int n = *nparams < 4 ? *nparams : 4;
    for (int i = 0; i < n; i++) {
        snprintf(params[i].field, sizeof(params[i].field), "%s", stats[i].field);
        params[i].value = stats[i].value;
    }
    *nparams = n;
    return 0;
}

static int test_node_cpu_map(vir_connect *conn, unsigned char **map, unsigned int *online,
                             unsigned int flags, vir_error *err)
{
    (void)conn;
    (void)flags;
    (void)err;
    if (map) {
        *map = xcalloc(1, 1);
        **map = 0x15; /* CPUs 0, 2 and 4 */
    }
    if (online)
        *online = 3;
    return TEST_CPUMAP_CPUS;
}

/* ---- listing and lookup ---- */

static bool matches(const struct tdom *d, unsigned f)
{
#define GROUP(a, b) ((f & (a | b)) && !((f & (a)) && (f & (b))))
    bool active = dom_active(d);
    if ((f & (VIR_CONNECT_LIST_DOMAINS_ACTIVE | VIR_CONNECT_LIST_DOMAINS_INACTIVE)) &&
        !((active && (f & VIR_CONNECT_LIST_DOMAINS_ACTIVE)) ||
          (!active && (f & VIR_CONNECT_LIST_DOMAINS_INACTIVE))))
        return false;
    bool persistent = d->def != NULL;
    if ((f & (VIR_CONNECT_LIST_DOMAINS_PERSISTENT | VIR_CONNECT_LIST_DOMAINS_TRANSIENT)) &&
        !((persistent && (f & VIR_CONNECT_LIST_DOMAINS_PERSISTENT)) ||
          (!persistent && (f & VIR_CONNECT_LIST_DOMAINS_TRANSIENT))))
        return false;
    unsigned states = VIR_CONNECT_LIST_DOMAINS_RUNNING | VIR_CONNECT_LIST_DOMAINS_PAUSED |
                      VIR_CONNECT_LIST_DOMAINS_SHUTOFF | VIR_CONNECT_LIST_DOMAINS_OTHER;
    if (f & states) {
        unsigned mine = d->state == VIR_DOMAIN_RUNNING   ? VIR_CONNECT_LIST_DOMAINS_RUNNING
                        : d->state == VIR_DOMAIN_PAUSED  ? VIR_CONNECT_LIST_DOMAINS_PAUSED
                        : d->state == VIR_DOMAIN_SHUTOFF ? VIR_CONNECT_LIST_DOMAINS_SHUTOFF
                                                         : VIR_CONNECT_LIST_DOMAINS_OTHER;
        if (!(f & mine))
            return false;
    }
    bool ms = d->managed_save != NULL;
    if ((f & (VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE | VIR_CONNECT_LIST_DOMAINS_NO_MANAGEDSAVE)) &&
        !((ms && (f & VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE)) ||
          (!ms && (f & VIR_CONNECT_LIST_DOMAINS_NO_MANAGEDSAVE))))
        return false;
    if ((f & (VIR_CONNECT_LIST_DOMAINS_AUTOSTART | VIR_CONNECT_LIST_DOMAINS_NO_AUTOSTART)) &&
        !((d->autostart && (f & VIR_CONNECT_LIST_DOMAINS_AUTOSTART)) ||
          (!d->autostart && (f & VIR_CONNECT_LIST_DOMAINS_NO_AUTOSTART))))
        return false;
    bool snaps = d->nsnaps > 0;
    if ((f & (VIR_CONNECT_LIST_DOMAINS_HAS_SNAPSHOT | VIR_CONNECT_LIST_DOMAINS_NO_SNAPSHOT)) &&
        !((snaps && (f & VIR_CONNECT_LIST_DOMAINS_HAS_SNAPSHOT)) ||
          (!snaps && (f & VIR_CONNECT_LIST_DOMAINS_NO_SNAPSHOT))))
        return false;
#undef GROUP
    return true;
}

static int cmp_doms(const void *a, const void *b)
{
    const struct tdom *x = *(struct tdom *const *)a, *y = *(struct tdom *const *)b;
    bool xa = dom_active(x), ya = dom_active(y);
    if (xa != ya)
        return xa ? -1 : 1;
    if (xa)
        return x->id - y->id;
    return strcmp(dom_name(x), dom_name(y));
}

static int test_list_all_domains(vir_connect *conn, vir_domain ***out, unsigned int flags,
                                 vir_error *err)
{
    if (flags & ~((1u << 14) - 1))
        return vir_report_flags(err, flags & ~((1u << 14) - 1), "testConnectListAllDomains");
    struct test_priv *p = priv_of(conn);
    struct tdom **sorted = xmalloc((p->ndoms + 1) * sizeof(*sorted));
    memcpy(sorted, p->doms, p->ndoms * sizeof(*sorted));
    qsort(sorted, p->ndoms, sizeof(*sorted), cmp_doms);
    vir_domain **list = xcalloc(p->ndoms + 1, sizeof(*list));
    int n = 0;
    for (size_t i = 0; i < p->ndoms; i++)
        if (matches(sorted[i], flags))
            list[n++] = handle_of(conn, sorted[i]);
    free(sorted);
    *out = list;
    return n;
}

static vir_domain *test_lookup_by_name(vir_connect *conn, const char *name, vir_error *err)
{
    struct tdom *d = find_by_name(priv_of(conn), name);
    if (!d) {
        vir_report(err, VIR_ERR_NO_DOMAIN, "no domain with matching name '%s'", name);
        return NULL;
    }
    return handle_of(conn, d);
}

static vir_domain *test_lookup_by_id(vir_connect *conn, int id, vir_error *err)
{
    struct test_priv *p = priv_of(conn);
    for (size_t i = 0; i < p->ndoms; i++)
        if (dom_active(p->doms[i]) && p->doms[i]->id == id)
            return handle_of(conn, p->doms[i]);
    vir_report(err, VIR_ERR_NO_DOMAIN, "no domain with matching id %d", id);
    return NULL;
}

static vir_domain *test_lookup_by_uuid(vir_connect *conn, const unsigned char *uuid, vir_error *err)
{
    struct tdom *d = find_by_uuid(priv_of(conn), uuid);
    if (!d) {
        char s[37];
        domain_uuid_format(uuid, s);
        vir_report(err, VIR_ERR_NO_DOMAIN, "no domain with matching uuid '%s'", s);
        return NULL;
    }
    return handle_of(conn, d);
}

/*
 * libvirt's rule for a definition arriving under a name or UUID already in
 * use: the same name must carry the same UUID, and a UUID may not come back
 * under another name. Returns the existing domain (or NULL) or -1 via *bad.
 */
static struct tdom *check_identity(struct test_priv *p, const struct domain_def *def,
                                   vir_error *err, bool *bad)
{
    *bad = false;
    struct tdom *by_uuid = find_by_uuid(p, def->uuid);
    if (by_uuid) {
        if (strcmp(dom_name(by_uuid), def->name) != 0) {
            char s[37];
            domain_uuid_format(def->uuid, s);
            vir_report(err, VIR_ERR_OPERATION_FAILED, "domain '%s' is already defined with uuid %s",
                       dom_name(by_uuid), s);
            *bad = true;
            return NULL;
        }
        return by_uuid;
    }
    struct tdom *by_name = find_by_name(p, def->name);
    if (by_name) {
        char s[37];
        domain_uuid_format(cur_def(by_name)->uuid, s);
        vir_report(err, VIR_ERR_OPERATION_FAILED, "domain '%s' already exists with uuid %s",
                   def->name, s);
        *bad = true;
    }
    return NULL;
}

/* ---- define, undefine, create ---- */

static vir_domain *test_define_xml(vir_connect *conn, const char *xml, unsigned int flags,
                                   vir_error *err)
{
    if (flags & ~VIR_DOMAIN_DEFINE_VALIDATE) {
        vir_report_flags(err, flags & ~VIR_DOMAIN_DEFINE_VALIDATE, "testDomainDefineXMLFlags");
        return NULL;
    }
    struct test_priv *p = priv_of(conn);
    struct domain_def *def;
    if (parse_xml(xml, flags, &def, err) < 0)
        return NULL;
    bool bad;
    struct tdom *d = check_identity(p, def, err, &bad);
    if (bad) {
        domain_def_free(def);
        return NULL;
    }
    int detail = VIR_DOMAIN_EVENT_DEFINED_UPDATED;
    if (!d) {
        d = xcalloc(1, sizeof(*d));
        d->id = -1;
        d->state = VIR_DOMAIN_SHUTOFF;
        d->reason = VIR_DOMAIN_SHUTOFF_UNKNOWN;
        d->sched_weight_config = TEST_SCHED_WEIGHT;
        p->doms = xreallocarray(p->doms, p->ndoms + 1, sizeof(*p->doms));
        p->doms[p->ndoms++] = d;
        detail = VIR_DOMAIN_EVENT_DEFINED_ADDED;
    }
    domain_def_free(d->def);
    d->def = def;
    emit(conn, d, VIR_DOMAIN_EVENT_DEFINED, detail);
    return handle_of(conn, d);
}

static int test_undefine(vir_domain *dom, unsigned int flags, vir_error *err)
{
    unsigned known = VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
                     VIR_DOMAIN_UNDEFINE_NVRAM | VIR_DOMAIN_UNDEFINE_KEEP_NVRAM |
                     VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA | VIR_DOMAIN_UNDEFINE_TPM |
                     VIR_DOMAIN_UNDEFINE_KEEP_TPM;
    if (flags & ~known)
        return vir_report_flags(err, flags & ~known, "testDomainUndefineFlags");
    if ((flags & VIR_DOMAIN_UNDEFINE_NVRAM) && (flags & VIR_DOMAIN_UNDEFINE_KEEP_NVRAM))
        return vir_report(err, VIR_ERR_INVALID_ARG, "%s", "cannot both keep and delete nvram");
    struct test_priv *p = priv_of(dom->conn);
    struct tdom *d = get_dom(dom, err);
    if (!d)
        return -1;
    if (d->managed_save && !(flags & VIR_DOMAIN_UNDEFINE_MANAGED_SAVE))
        return vir_report(err, VIR_ERR_OPERATION_INVALID, "%s",
                          "Refusing to undefine while domain managed save image exists");
    const struct domain_def *def = cur_def(d);
    if ((def->os_nvram || (def->os_loader && def->os_nvram_node)) &&
        !(flags & (VIR_DOMAIN_UNDEFINE_NVRAM | VIR_DOMAIN_UNDEFINE_KEEP_NVRAM)))
        return vir_report(err, VIR_ERR_OPERATION_INVALID, "%s",
                          "cannot undefine domain with nvram");
    if (d->nsnaps && !dom_active(d) && !(flags & VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA))
        return vir_report(err, VIR_ERR_OPERATION_INVALID,
                          "cannot delete inactive domain with %zu snapshots", d->nsnaps);
    emit(dom->conn, d, VIR_DOMAIN_EVENT_UNDEFINED, VIR_DOMAIN_EVENT_UNDEFINED_REMOVED);
    domain_def_free(d->managed_save);
    d->managed_save = NULL;
    d->autostart = false;
    if (dom_active(d)) {
        /* A running domain stays, as a transient one. */
        domain_def_free(d->def);
        d->def = NULL;
    } else {
        remove_dom(p, d);
    }
    return 0;
}

static int start_dom(vir_connect *conn, struct tdom *d, unsigned flags, vir_error *err)
{
    if (dom_active(d))
        return vir_report(err, VIR_ERR_OPERATION_INVALID, "%s", "domain is already running");
    struct test_priv *p = priv_of(conn);
    if (d->managed_save) {
        struct domain_def *live = d->managed_save;
        d->managed_save = NULL;
        bool paused = (flags & VIR_DOMAIN_START_PAUSED) || d->managed_save_paused;
        make_active(p, d, live, paused ? VIR_DOMAIN_PAUSED : VIR_DOMAIN_RUNNING,
                    paused ? VIR_DOMAIN_PAUSED_USER : VIR_DOMAIN_RUNNING_RESTORED);
        emit(conn, d, VIR_DOMAIN_EVENT_STARTED, VIR_DOMAIN_EVENT_STARTED_RESTORED);
    } else {
        bool paused = flags & VIR_DOMAIN_START_PAUSED;
        make_active(p, d, domain_def_copy(d->def), paused ? VIR_DOMAIN_PAUSED : VIR_DOMAIN_RUNNING,
                    paused ? VIR_DOMAIN_PAUSED_USER : VIR_DOMAIN_RUNNING_BOOTED);
        emit(conn, d, VIR_DOMAIN_EVENT_STARTED, VIR_DOMAIN_EVENT_STARTED_BOOTED);
    }
    if (d->state == VIR_DOMAIN_PAUSED)
        emit(conn, d, VIR_DOMAIN_EVENT_SUSPENDED, VIR_DOMAIN_EVENT_SUSPENDED_PAUSED);
    return 0;
}

static int test_create(vir_domain *dom, unsigned int flags, vir_error *err)
{
    unsigned known = VIR_DOMAIN_START_PAUSED | VIR_DOMAIN_START_AUTODESTROY |
                     VIR_DOMAIN_START_BYPASS_CACHE | VIR_DOMAIN_START_FORCE_BOOT;
    if (flags & ~known)
        return vir_report_flags(err, flags & ~known, "testDomainCreateWithFlags");
    struct tdom *d = get_dom(dom, err);
    if (!d)
        return -1;
    if ((flags & VIR_DOMAIN_START_FORCE_BOOT) && d->managed_save) {
        domain_def_free(d->managed_save);
        d->managed_save = NULL;
    }
    if (start_dom(dom->conn, d, flags, err) < 0)
        return -1;
    dom->id = d->id;
    return 0;
}

static vir_domain *test_create_xml(vir_connect *conn, const char *xml, unsigned int flags,
                                   vir_error *err)
{
    unsigned known =
        VIR_DOMAIN_START_PAUSED | VIR_DOMAIN_START_AUTODESTROY | VIR_DOMAIN_START_VALIDATE;
    if (flags & ~known) {
        vir_report_flags(err, flags & ~known, "testDomainCreateXML");
        return NULL;
    }
    struct test_priv *p = priv_of(conn);
    struct domain_def *def;
    if (parse_xml(xml, flags, &def, err) < 0)
        return NULL;
    bool bad;
    struct tdom *d = check_identity(p, def, err, &bad);
    if (bad) {
        domain_def_free(def);
        return NULL;
    }
    if (d && dom_active(d)) {
        vir_report(err, VIR_ERR_OPERATION_INVALID, "domain '%s' is already active", def->name);
        domain_def_free(def);
        return NULL;
    }
    if (!d) {
        d = xcalloc(1, sizeof(*d));
        d->id = -1;
        d->state = VIR_DOMAIN_SHUTOFF;
        d->sched_weight_config = TEST_SCHED_WEIGHT;
        p->doms = xreallocarray(p->doms, p->ndoms + 1, sizeof(*p->doms));
        p->doms[p->ndoms++] = d;
    }
    /* An inactive persistent domain of that name keeps its config; this run uses the new XML. */
    bool paused = flags & VIR_DOMAIN_START_PAUSED;
    make_active(p, d, def, paused ? VIR_DOMAIN_PAUSED : VIR_DOMAIN_RUNNING,
                paused ? VIR_DOMAIN_PAUSED_USER : VIR_DOMAIN_RUNNING_BOOTED);
    emit(conn, d, VIR_DOMAIN_EVENT_STARTED, VIR_DOMAIN_EVENT_STARTED_BOOTED);
    return handle_of(conn, d);
}

/* ---- lifecycle ---- */

static struct tdom *active_dom(vir_domain *dom, vir_error *err)
{
    struct tdom *d = get_dom(dom, err);
    if (d && !dom_active(d)) {
        not_running(err);
        return NULL;
    }
    return d;
}

static int test_shutdown(vir_domain *dom, unsigned int flags, vir_error *err)
{
    if (flags & ~0x1fu) /* acpi, agent, initctl, signal, paravirt: all end the same here */
        return vir_report_flags(err, flags & ~0x1fu, "testDomainShutdownFlags");
    struct tdom *d = get_dom(dom, err);
    if (!d)
        return -1;
    if (d->state != VIR_DOMAIN_RUNNING)
        return vir_report(err, VIR_ERR_OPERATION_INVALID, "domain '%s' not running", dom_name(d));
    emit(dom->conn, d, VIR_DOMAIN_EVENT_SHUTDOWN, VIR_DOMAIN_EVENT_SHUTDOWN_FINISHED);
    make_inactive(dom->conn, d, VIR_DOMAIN_SHUTOFF_SHUTDOWN, VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN);
    return 0;
}

static int test_destroy(vir_domain *dom, unsigned int flags, vir_error *err)
{
    if (flags & ~1u) /* VIR_DOMAIN_DESTROY_GRACEFUL is accepted */
        return vir_report_flags(err, flags, "testDomainDestroyFlags");
    struct tdom *d = active_dom(dom, err);
    if (!d)
        return -1;
    make_inactive(dom->conn, d, VIR_DOMAIN_SHUTOFF_DESTROYED, VIR_DOMAIN_EVENT_STOPPED_DESTROYED);
    return 0;
}

/* Reboot and reset: the guest starts over; on_reboot=destroy stops it instead. */
static int restart_dom(vir_domain *dom, vir_error *err)
{
    struct tdom *d = active_dom(dom, err);
    if (!d)
        return -1;
    if (d->live->on_reboot == DOMAIN_ACTION_DESTROY) {
        make_inactive(dom->conn, d, VIR_DOMAIN_SHUTOFF_SHUTDOWN, VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN);
        return 0;
    }
    vir_emit_lifecycle(dom->conn, dom_name(d), cur_def(d)->uuid, d->id, -1, 0);
    set_state(d, VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_BOOTED);
    return 0;
}

static int test_reboot(vir_domain *dom, unsigned int flags, vir_error *err)
{
    if (flags & ~0x1fu)
        return vir_report_flags(err, flags, "testDomainReboot");
    return restart_dom(dom, err);
}

static int test_reset(vir_domain *dom, unsigned int flags, vir_error *err)
{
    if (flags)
        return vir_report_flags(err, flags, "testDomainReset");
    struct tdom *d = active_dom(dom, err);
    if (!d)
        return -1;
    set_state(d, VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_BOOTED);
    return 0;
}

static int test_suspend(vir_domain *dom, vir_error *err)
{
    struct tdom *d = active_dom(dom, err);
    if (!d)
        return -1;
    if (d->state != VIR_DOMAIN_RUNNING)
        return vir_report(err, VIR_ERR_INTERNAL_ERROR, "domain '%s' not running", dom_name(d));
    set_state(d, VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_USER);
    emit(dom->conn, d, VIR_DOMAIN_EVENT_SUSPENDED, VIR_DOMAIN_EVENT_SUSPENDED_PAUSED);
    return 0;
}

static int test_resume(vir_domain *dom, vir_error *err)
{
    struct tdom *d = active_dom(dom, err);
    if (!d)
        return -1;
    if (d->state != VIR_DOMAIN_PAUSED)
        return vir_report(err, VIR_ERR_INTERNAL_ERROR, "domain '%s' not paused", dom_name(d));
    set_state(d, VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_UNPAUSED);
    emit(dom->conn, d, VIR_DOMAIN_EVENT_RESUMED, VIR_DOMAIN_EVENT_RESUMED_UNPAUSED);
    return 0;
}

static int test_inject_crash(vir_domain *dom, vir_error *err)
{
    struct tdom *d = active_dom(dom, err);
    if (!d)
        return -1;
    switch (d->live->on_crash) {
    case DOMAIN_ACTION_RESTART:
    case DOMAIN_ACTION_COREDUMP_RESTART:
    case DOMAIN_ACTION_RENAME_RESTART:
        emit(dom->conn, d, VIR_DOMAIN_EVENT_CRASHED, VIR_DOMAIN_EVENT_CRASHED_PANICKED);
        set_state(d, VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_CRASHED);
        return 0;
    case DOMAIN_ACTION_PRESERVE:
        set_state(d, VIR_DOMAIN_CRASHED, VIR_DOMAIN_CRASHED_PANICKED);
        emit(dom->conn, d, VIR_DOMAIN_EVENT_CRASHED, VIR_DOMAIN_EVENT_CRASHED_PANICKED);
        return 0;
    default:
        emit(dom->conn, d, VIR_DOMAIN_EVENT_CRASHED, VIR_DOMAIN_EVENT_CRASHED_PANICKED);
        make_inactive(dom->conn, d, VIR_DOMAIN_SHUTOFF_CRASHED, VIR_DOMAIN_EVENT_STOPPED_CRASHED);
        return 0;
    }
}

/* ---- save and restore ---- */

/*
 * The save file is libvirt's test driver format: the 15 bytes
 * "TestGuestMagic\0", a native-endian int32 length, then the live XML. Files
 * are exchangeable with `virsh -c test:///default save/restore`.
 */
static int write_save_file(const char *path, const struct domain_def *live, vir_error *err)
{
    char *xml = domain_def_format(live, 0);
    if (!xml)
        return vir_report(err, VIR_ERR_INTERNAL_ERROR, "cannot format domain '%s'", live->name);
    size_t len = strlen(xml);
    struct buf b = BUF_INIT;
    buf_append(&b, TEST_SAVE_MAGIC, sizeof(TEST_SAVE_MAGIC));
    int32_t len32 = (int32_t)len;
    buf_append(&b, &len32, sizeof(len32));
    buf_append(&b, xml, len);
    free(xml);
    struct verr verr = {0};
    int r = file_replace_atomic(path, b.data, b.len, 0600, &verr);
    buf_free(&b);
    if (r < 0)
        return vir_report(err, VIR_ERR_WRITE_FAILED, "%s", verr_msg(&verr));
    return 0;
}

static int test_save(vir_domain *dom, const char *path, const char *dxml, unsigned int flags,
                     vir_error *err)
{
    if (dxml) /* as libvirt's test driver */
        return vir_report(err, VIR_ERR_ARGUMENT_UNSUPPORTED, "%s",
                          "argument unsupported: xml modification unsupported");
    unsigned known =
        VIR_DOMAIN_SAVE_BYPASS_CACHE | VIR_DOMAIN_SAVE_RUNNING | VIR_DOMAIN_SAVE_PAUSED;
    if (flags & ~known)
        return vir_report_flags(err, flags & ~known, "testDomainSaveFlags");
    struct tdom *d = active_dom(dom, err);
    if (!d)
        return -1;
    if (write_save_file(path, d->live, err) < 0)
        return -1;
    make_inactive(dom->conn, d, VIR_DOMAIN_SHUTOFF_SAVED, VIR_DOMAIN_EVENT_STOPPED_SAVED);
    return 0;
}

/* Reads a save file of this driver's format into *def; as_saved: the XML as it is in the
 * file (no interface names given, as a start gives them). */
static int read_save_file(const char *path, bool as_saved, struct domain_def **defp, vir_error *err)
{
    struct buf b = BUF_INIT;
    struct verr verr = {0};
    int r = file_read_all(path, TEST_SAVE_MAX, &b, &verr);
    if (r < 0) {
        buf_free(&b);
        if (r == -EFBIG)
            return vir_report(err, VIR_ERR_INTERNAL_ERROR, "%s", verr_msg(&verr));
        return vir_report(err, VIR_ERR_SYSTEM_ERROR, "cannot read domain image '%s': %s", path,
                          strerror(-r));
    }
    int32_t len32;
    if (b.len < sizeof(TEST_SAVE_MAGIC) + sizeof(len32) ||
        memcmp(b.data, TEST_SAVE_MAGIC, sizeof(TEST_SAVE_MAGIC)) != 0) {
        buf_free(&b);
        return vir_report(err, VIR_ERR_INTERNAL_ERROR, "%s", "mismatched header magic");
    }
    memcpy(&len32, b.data + sizeof(TEST_SAVE_MAGIC), sizeof(len32));
    size_t off = sizeof(TEST_SAVE_MAGIC) + sizeof(len32);
    if (len32 < 1 || (size_t)len32 > b.len - off) {
        buf_free(&b);
        return vir_report(err, VIR_ERR_INTERNAL_ERROR, "length of saved XML in '%s' is invalid",
                          path);
    }
    char *xml = xstrndup((const char *)b.data + off, (size_t)len32);
    buf_free(&b);
    if (as_saved) {
        r = domain_def_parse_string(xml, DOMAIN_PARSE_GENERIC, defp, &verr);
        if (r < 0)
            vir_report(err, VIR_ERR_XML_ERROR, "%s", verr_msg(&verr));
    } else {
        r = parse_xml(xml, 0, defp, err);
    }
    free(xml);
    return r < 0 ? -1 : 0;
}

static int test_restore(vir_connect *conn, const char *path, const char *dxml, unsigned int flags,
                        vir_error *err)
{
    if (dxml)
        return vir_report(err, VIR_ERR_ARGUMENT_UNSUPPORTED, "%s",
                          "argument unsupported: xml modification unsupported");
    unsigned known =
        VIR_DOMAIN_SAVE_BYPASS_CACHE | VIR_DOMAIN_SAVE_RUNNING | VIR_DOMAIN_SAVE_PAUSED;
    if (flags & ~known)
        return vir_report_flags(err, flags & ~known, "testDomainRestoreFlags");
    struct domain_def *def;
    if (read_save_file(path, false, &def, err) < 0)
        return -1;
    struct test_priv *p = priv_of(conn);
    bool bad;
    struct tdom *d = check_identity(p, def, err, &bad);
    if (bad) {
        domain_def_free(def);
        return -1;
    }
    if (d && dom_active(d)) {
        domain_def_free(def);
        return vir_report(err, VIR_ERR_OPERATION_INVALID, "domain '%s' is already active",
                          dom_name(d));
    }
    if (!d) {
        d = xcalloc(1, sizeof(*d));
        d->id = -1;
        d->state = VIR_DOMAIN_SHUTOFF;
        d->sched_weight_config = TEST_SCHED_WEIGHT;
        p->doms = xreallocarray(p->doms, p->ndoms + 1, sizeof(*p->doms));
        p->doms[p->ndoms++] = d;
    }
    bool paused = flags & VIR_DOMAIN_SAVE_PAUSED;
    make_active(p, d, def, paused ? VIR_DOMAIN_PAUSED : VIR_DOMAIN_RUNNING,
                paused ? VIR_DOMAIN_PAUSED_USER : VIR_DOMAIN_RUNNING_RESTORED);
    emit(conn, d, VIR_DOMAIN_EVENT_STARTED, VIR_DOMAIN_EVENT_STARTED_RESTORED);
    return 0;
}

static char *test_save_image_get_xml_desc(vir_connect *conn, const char *path, unsigned int flags,
                                          vir_error *err)
{
    (void)conn;
    if (flags & ~(unsigned)VIR_DOMAIN_SAVE_IMAGE_XML_SECURE) {
        vir_report_flags(err, flags & ~(unsigned)VIR_DOMAIN_SAVE_IMAGE_XML_SECURE,
                         "testDomainSaveImageGetXMLDesc");
        return NULL;
    }
    struct domain_def *def;
    if (read_save_file(path, true, &def, err) < 0)
        return NULL;
    char *xml = domain_def_format(def, DOMAIN_FORMAT_SECURE);
    domain_def_free(def);
    return xml;
}

static int test_save_image_define_xml(vir_connect *conn, const char *path, const char *dxml,
                                      unsigned int flags, vir_error *err)
{
    (void)conn;
    unsigned known = VIR_DOMAIN_SAVE_RUNNING | VIR_DOMAIN_SAVE_PAUSED;
    if (flags & ~known)
        return vir_report_flags(err, flags & ~known, "testDomainSaveImageDefineXML");
    struct domain_def *old, *def;
    if (read_save_file(path, true, &old, err) < 0)
        return -1;
    domain_def_free(old);
    struct verr verr = {0};
    if (domain_def_parse_string(dxml, DOMAIN_PARSE_GENERIC, &def, &verr) < 0)
        return vir_report(err, VIR_ERR_XML_ERROR, "%s", verr_msg(&verr));
    int r = write_save_file(path, def, err);
    domain_def_free(def);
    return r;
}

static int test_managed_save(vir_domain *dom, unsigned int flags, vir_error *err)
{
    unsigned known =
        VIR_DOMAIN_SAVE_BYPASS_CACHE | VIR_DOMAIN_SAVE_RUNNING | VIR_DOMAIN_SAVE_PAUSED;
    if (flags & ~known)
        return vir_report_flags(err, flags & ~known, "testDomainManagedSave");
    struct tdom *d = active_dom(dom, err);
    if (!d)
        return -1;
    if (!d->def)
        return vir_report(err, VIR_ERR_OPERATION_INVALID, "%s",
                          "cannot do managed save for transient domain");
    d->managed_save_paused = (flags & VIR_DOMAIN_SAVE_PAUSED) ||
                             (d->state == VIR_DOMAIN_PAUSED && !(flags & VIR_DOMAIN_SAVE_RUNNING));
    d->managed_save = d->live;
    d->live = NULL;
    set_state(d, VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_SAVED);
    d->id = -1;
    d->managed_save->id = -1;
    emit(dom->conn, d, VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_SAVED);
    return 0;
}

static int test_has_managed_save(vir_domain *dom, unsigned int flags, vir_error *err)
{
    (void)flags;
    struct tdom *d = get_dom(dom, err);
    return d ? d->managed_save != NULL : -1;
}

static int test_managed_save_remove(vir_domain *dom, unsigned int flags, vir_error *err)
{
    (void)flags;
    struct tdom *d = get_dom(dom, err);
    if (!d)
        return -1;
    domain_def_free(d->managed_save);
    d->managed_save = NULL;
    return 0;
}

/* ---- queries ---- */

static int test_get_id(vir_domain *dom, vir_error *err)
{
    struct tdom *d = get_dom(dom, err);
    return d ? d->id : -1;
}

static char *test_get_os_type(vir_domain *dom, vir_error *err)
{
    struct tdom *d = get_dom(dom, err);
    /* libvirt's test driver answers "linux" for every domain. */
    return d ? xstrdup("linux") : NULL;
}

static int test_get_info(vir_domain *dom, vir_domain_info *info, vir_error *err)
{
    struct tdom *d = get_dom(dom, err);
    if (!d)
        return -1;
    const struct domain_def *def = cur_def(d);
    info->state = (unsigned char)d->state;
    info->max_mem = (unsigned long)def->memory_kib;
    info->memory = (unsigned long)def->current_memory_kib;
    info->nr_virt_cpu = (unsigned short)def->vcpus_current;
    info->cpu_time = dom_cpu_ns(d);
    return 0;
}

static int test_get_state(vir_domain *dom, int *state, int *reason, unsigned int flags,
                          vir_error *err)
{
    if (flags)
        return vir_report_flags(err, flags, "testDomainGetState");
    struct tdom *d = get_dom(dom, err);
    if (!d)
        return -1;
    *state = d->state;
    if (reason)
        *reason = d->reason;
    return 0;
}

static int test_is_persistent(vir_domain *dom, vir_error *err)
{
    struct tdom *d = get_dom(dom, err);
    return d ? d->def != NULL : -1;
}

static char *test_get_xml_desc(vir_domain *dom, unsigned int flags, vir_error *err)
{
    struct tdom *d = get_dom(dom, err);
    if (!d)
        return NULL;
    const struct domain_def *def;
    unsigned fflags = 0;
    if (flags & VIR_DOMAIN_XML_SECURE)
        fflags |= DOMAIN_FORMAT_SECURE;
    if ((flags & VIR_DOMAIN_XML_INACTIVE) || !dom_active(d)) {
        def = d->def ? d->def : d->live;
        fflags |= DOMAIN_FORMAT_INACTIVE;
    } else {
        def = d->live;
    }
    char *xml = domain_def_format(def, fflags);
    if (!xml)
        vir_report(err, VIR_ERR_INTERNAL_ERROR, "cannot format the XML of domain '%s'", def->name);
    return xml;
}

static int test_get_autostart(vir_domain *dom, int *autostart, vir_error *err)
{
    struct tdom *d = get_dom(dom, err);
    if (!d)
        return -1;
    *autostart = d->autostart;
    return 0;
}

static int test_set_autostart(vir_domain *dom, int autostart, vir_error *err)
{
    struct tdom *d = get_dom(dom, err);
    if (!d)
        return -1;
    if (!d->def)
        return vir_report(err, VIR_ERR_OPERATION_INVALID, "%s",
                          "cannot set autostart for transient domain");
    d->autostart = autostart != 0;
    return 0;
}

static int test_get_security_label(vir_domain *dom, vir_security_label *label, vir_error *err)
{
    struct tdom *d = get_dom(dom, err);
    if (!d)
        return -1;
    if (dom_active(d)) {
        snprintf(label->label, sizeof(label->label), "libvirt-test");
        label->enforcing = 1;
    }
    return 0;
}

/* ---- --live / --config ---- */

/*
 * libvirt's virDomainObjUpdateModificationImpact: "current" means live when
 * active and config otherwise; live needs an active domain, config a
 * persistent one. Returns the resolved flags or -1.
 */
static int resolve_impact(const struct tdom *d, unsigned flags, vir_error *err)
{
    unsigned impact = flags & (VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG);
    if (impact == 0)
        impact = dom_active(d) ? VIR_DOMAIN_AFFECT_LIVE : VIR_DOMAIN_AFFECT_CONFIG;
    if ((impact & VIR_DOMAIN_AFFECT_LIVE) && !dom_active(d))
        return not_running(err);
    if ((impact & VIR_DOMAIN_AFFECT_CONFIG) && !d->def)
        return vir_report(err, VIR_ERR_OPERATION_INVALID, "%s",
                          "transient domains do not have any persistent config");
    return (int)impact;
}

static int test_get_vcpus_flags(vir_domain *dom, unsigned int flags, vir_error *err)
{
    unsigned known = VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG | VIR_DOMAIN_VCPU_MAXIMUM;
    if (flags & ~known)
        return vir_report_flags(err, flags & ~known, "testDomainGetVcpusFlags");
    struct tdom *d = get_dom(dom, err);
    if (!d)
        return -1;
    if ((flags & VIR_DOMAIN_AFFECT_LIVE) && (flags & VIR_DOMAIN_AFFECT_CONFIG))
        return vir_report(err, VIR_ERR_INVALID_ARG, "%s",
                          "Flags 'live' and 'config' are mutually exclusive");
    int impact = resolve_impact(d, flags, err);
    if (impact < 0)
        return -1;
    const struct domain_def *def = (impact & VIR_DOMAIN_AFFECT_LIVE) ? d->live : d->def;
    return (int)((flags & VIR_DOMAIN_VCPU_MAXIMUM) ? def->vcpus : def->vcpus_current);
}

static int test_set_vcpus_flags(vir_domain *dom, unsigned int n, unsigned int flags, vir_error *err)
{
    unsigned known = VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG | VIR_DOMAIN_VCPU_MAXIMUM;
    if (flags & ~known)
        return vir_report_flags(err, flags & ~known, "testDomainSetVcpusFlags");
    struct tdom *d = get_dom(dom, err);
    if (!d)
        return -1;
    int impact = resolve_impact(d, flags, err);
    if (impact < 0)
        return -1;
    if ((flags & VIR_DOMAIN_VCPU_MAXIMUM) && (impact & VIR_DOMAIN_AFFECT_LIVE))
        return vir_report(err, VIR_ERR_INVALID_ARG, "%s",
                          "cannot adjust maximum on running domain");
    if ((impact & VIR_DOMAIN_AFFECT_LIVE) && n > d->live->vcpus)
        return vir_report(err, VIR_ERR_INVALID_ARG,
                          "requested cpu amount exceeds maximum (%u > %u)", n, d->live->vcpus);
    if ((impact & VIR_DOMAIN_AFFECT_CONFIG) && !(flags & VIR_DOMAIN_VCPU_MAXIMUM) &&
        n > d->def->vcpus)
        return vir_report(err, VIR_ERR_INVALID_ARG,
                          "requested cpu amount exceeds maximum (%u > %u)", n, d->def->vcpus);
    if (impact & VIR_DOMAIN_AFFECT_LIVE)
        d->live->vcpus_current = n;
    if (impact & VIR_DOMAIN_AFFECT_CONFIG) {
        if (flags & VIR_DOMAIN_VCPU_MAXIMUM) {
            d->def->vcpus = n;
            if (d->def->vcpus_current > n)
                d->def->vcpus_current = n;
            /* Pins of vCPUs that no longer exist go away. */
            size_t keep = 0;
            for (size_t i = 0; i < d->def->nvcpupins; i++) {
                if (d->def->vcpupins[i].vcpu < n)
                    d->def->vcpupins[keep++] = d->def->vcpupins[i];
                else
                    free(d->def->vcpupins[i].cpuset);
            }
            d->def->nvcpupins = keep;
        } else {
            d->def->vcpus_current = n;
        }
    }
    return 0;
}

/* Fills a cpumap (maplen bytes) from a cpuset string; NULL means all host CPUs. */
static void cpuset_to_map(const char *cpuset, unsigned char *map, int maplen)
{
    memset(map, 0, (size_t)maplen);
    struct bitmap *bm = NULL;
    struct verr verr = {0};
    if (!cpuset || cpulist_parse(cpuset, TEST_HOST_CPUS, &bm, &verr) < 0) {
        for (int c = 0; c < TEST_HOST_CPUS && c / 8 < maplen; c++)
            map[c / 8] |= (unsigned char)(1u << (c % 8));
        return;
    }
    for (int c = 0; c < TEST_HOST_CPUS && c / 8 < maplen; c++)
        if (bitmap_test(bm, (size_t)c))
            map[c / 8] |= (unsigned char)(1u << (c % 8));
    bitmap_free(bm);
}

static char *map_to_cpuset(const unsigned char *map, int maplen)
{
    struct bitmap *bm = bitmap_new(TEST_HOST_CPUS);
    for (int c = 0; c < TEST_HOST_CPUS && c / 8 < maplen; c++)
        if (map[c / 8] & (1u << (c % 8)))
            bitmap_set(bm, (size_t)c);
    struct buf b = BUF_INIT;
    cpulist_format(bm, &b);
    bitmap_free(bm);
    return buf_detach(&b, NULL);
}

static const char *vcpu_pin(const struct domain_def *def, unsigned vcpu)
{
    for (size_t i = 0; i < def->nvcpupins; i++)
        if (def->vcpupins[i].vcpu == vcpu)
            return def->vcpupins[i].cpuset;
    return def->cpuset; /* <vcpu cpuset=...> is every vCPU's default */
}

static int test_get_vcpus(vir_domain *dom, vir_vcpu_info *info, int maxinfo, unsigned char *cpumaps,
                          int maplen, vir_error *err)
{
    struct tdom *d = active_dom(dom, err);
    if (!d)
        return -1;
    int n = (int)d->live->vcpus_current;
    if (n > maxinfo)
        n = maxinfo;
    uint64_t ns = dom_cpu_ns(d);
    unsigned char map[TEST_HOST_CPUS / 8];
    for (int i = 0; i < n; i++) {
        cpuset_to_map(vcpu_pin(d->live, (unsigned)i), map, sizeof(map));
        int last = 0;
        for (int c = 0; c < TEST_HOST_CPUS; c++)
            if (map[c / 8] & (1u << (c % 8)))
                last = c;
        info[i].number = (unsigned)i;
        info[i].state = d->state == VIR_DOMAIN_RUNNING ? VIR_VCPU_RUNNING : VIR_VCPU_BLOCKED;
        info[i].cpu_time = ns / 10000;
        info[i].cpu = last;
        if (cpumaps)
            cpuset_to_map(vcpu_pin(d->live, (unsigned)i), cpumaps + (size_t)i * (size_t)maplen,
                          maplen);
    }
    return n;
}

static int test_get_vcpu_pin_info(vir_domain *dom, int ncpumaps, unsigned char *cpumaps, int maplen,
                                  unsigned int flags, vir_error *err)
{
    struct tdom *d = get_dom(dom, err);
    if (!d)
        return -1;
    int impact = resolve_impact(d, flags, err);
    if (impact < 0)
        return -1;
    const struct domain_def *def = (impact & VIR_DOMAIN_AFFECT_LIVE) ? d->live : d->def;
    int n = (int)def->vcpus;
    if (n > ncpumaps)
        n = ncpumaps;
    for (int i = 0; i < n; i++)
        cpuset_to_map(vcpu_pin(def, (unsigned)i), cpumaps + (size_t)i * (size_t)maplen, maplen);
    return n;
}

static void set_vcpupin(struct domain_def *def, unsigned vcpu, char *cpuset)
{
    for (size_t i = 0; i < def->nvcpupins; i++) {
        if (def->vcpupins[i].vcpu == vcpu) {
            free(def->vcpupins[i].cpuset);
            def->vcpupins[i].cpuset = cpuset;
            return;
        }
    }
    def->vcpupins = xreallocarray(def->vcpupins, def->nvcpupins + 1, sizeof(*def->vcpupins));
    def->vcpupins[def->nvcpupins].vcpu = vcpu;
    def->vcpupins[def->nvcpupins].cpuset = cpuset;
    def->nvcpupins++;
}

static bool map_empty(const unsigned char *map, int maplen)
{
    for (int i = 0; i < maplen; i++)
        if (map[i])
            return false;
    return true;
}

static int test_pin_vcpu(vir_domain *dom, unsigned int vcpu, const unsigned char *cpumap,
                         int maplen, unsigned int flags, vir_error *err)
{
    unsigned known = VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG;
    if (flags & ~known)
        return vir_report_flags(err, flags & ~known, "testDomainPinVcpuFlags");
    struct tdom *d = get_dom(dom, err);
    if (!d)
        return -1;
    if (flags == VIR_DOMAIN_AFFECT_LIVE && !dom_active(d))
        return vir_report(err, VIR_ERR_OPERATION_INVALID, "%s",
                          "cannot pin vcpus on an inactive domain");
    int impact = resolve_impact(d, flags, err);
    if (impact < 0)
        return -1;
    if (map_empty(cpumap, maplen))
        return vir_report(err, VIR_ERR_INVALID_ARG, "%s", "Empty cpu list for pinning");
    if ((impact & VIR_DOMAIN_AFFECT_LIVE) && vcpu >= d->live->vcpus_current)
        return vir_report(err, VIR_ERR_INVALID_ARG,
                          "requested vcpu '%u' is not present in the domain", vcpu);
    if ((impact & VIR_DOMAIN_AFFECT_CONFIG) && vcpu >= d->def->vcpus)
        return vir_report(err, VIR_ERR_INVALID_ARG,
                          "requested vcpu '%u' is not present in the domain", vcpu);
    if (impact & VIR_DOMAIN_AFFECT_LIVE)
        set_vcpupin(d->live, vcpu, map_to_cpuset(cpumap, maplen));
    if (impact & VIR_DOMAIN_AFFECT_CONFIG)
        set_vcpupin(d->def, vcpu, map_to_cpuset(cpumap, maplen));
    return 0;
}

static int test_get_emulator_pin_info(vir_domain *dom, unsigned char *cpumap, int maplen,
                                      unsigned int flags, vir_error *err)
{
    struct tdom *d = get_dom(dom, err);
    if (!d)
        return -1;
    int impact = resolve_impact(d, flags, err);
    if (impact < 0)
        return -1;
    const struct domain_def *def = (impact & VIR_DOMAIN_AFFECT_LIVE) ? d->live : d->def;
    cpuset_to_map(def->emulatorpin ? def->emulatorpin : def->cpuset, cpumap, maplen);
    return 1;
}

static int test_pin_emulator(vir_domain *dom, const unsigned char *cpumap, int maplen,
                             unsigned int flags, vir_error *err)
{
    unsigned known = VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG;
    if (flags & ~known)
        return vir_report_flags(err, flags & ~known, "testDomainPinEmulator");
    struct tdom *d = get_dom(dom, err);
    if (!d)
        return -1;
    int impact = resolve_impact(d, flags, err);
    if (impact < 0)
        return -1;
    if (map_empty(cpumap, maplen))
        return vir_report(err, VIR_ERR_INVALID_ARG, "%s", "Empty cpu list for pinning");
    if (impact & VIR_DOMAIN_AFFECT_LIVE) {
        free(d->live->emulatorpin);
        d->live->emulatorpin = map_to_cpuset(cpumap, maplen);
    }
    if (impact & VIR_DOMAIN_AFFECT_CONFIG) {
        free(d->def->emulatorpin);
        d->def->emulatorpin = map_to_cpuset(cpumap, maplen);
    }
    return 0;
}

/* ---- memory ---- */

static int test_set_memory_flags(vir_domain *dom, unsigned long kib, unsigned int flags,
                                 vir_error *err)
{
    unsigned known = VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG | VIR_DOMAIN_MEM_MAXIMUM;
    if (flags & ~known)
        return vir_report_flags(err, flags & ~known, "testDomainSetMemoryFlags");
    struct tdom *d = get_dom(dom, err);
    if (!d)
        return -1;
    int impact = resolve_impact(d, flags, err);
    if (impact < 0)
        return -1;
    if (flags & VIR_DOMAIN_MEM_MAXIMUM) {
        if (impact & VIR_DOMAIN_AFFECT_LIVE)
            return vir_report(err, VIR_ERR_OPERATION_INVALID, "%s",
                              "cannot resize the maximum memory on an active domain");
        d->def->memory_kib = kib;
        if (d->def->current_memory_kib > kib)
            d->def->current_memory_kib = kib;
        return 0;
    }
    if (((impact & VIR_DOMAIN_AFFECT_LIVE) && kib > d->live->memory_kib) ||
        ((impact & VIR_DOMAIN_AFFECT_CONFIG) && kib > d->def->memory_kib))
        return vir_report(err, VIR_ERR_INVALID_ARG, "%s",
                          "cannot set memory higher than max memory");
    if (impact & VIR_DOMAIN_AFFECT_LIVE)
        d->live->current_memory_kib = kib;
    if (impact & VIR_DOMAIN_AFFECT_CONFIG)
        d->def->current_memory_kib = kib;
    return 0;
}

static int test_memory_stats(vir_domain *dom, vir_domain_memory_stat *stats, unsigned int nr,
                             unsigned int flags, vir_error *err)
{
    if (flags)
        return vir_report_flags(err, flags, "testDomainMemoryStats");
    struct tdom *d = active_dom(dom, err);
    if (!d)
        return -1;
    /* The balloon numbers libvirt's test driver reports, scaled from the current memory. */
    unsigned long long cur = d->live->current_memory_kib;
    const struct {
        int tag;
        unsigned long long val;
    } all[] = {
        {VIR_DOMAIN_MEMORY_STAT_ACTUAL_BALLOON, cur},
        {VIR_DOMAIN_MEMORY_STAT_SWAP_IN, 0},
        {VIR_DOMAIN_MEMORY_STAT_SWAP_OUT, 0},
        {VIR_DOMAIN_MEMORY_STAT_MAJOR_FAULT, 0},
        {VIR_DOMAIN_MEMORY_STAT_MINOR_FAULT, 0},
        {VIR_DOMAIN_MEMORY_STAT_UNUSED, cur / 2},
        {VIR_DOMAIN_MEMORY_STAT_AVAILABLE, cur},
        {VIR_DOMAIN_MEMORY_STAT_USABLE, cur / 2},
        {VIR_DOMAIN_MEMORY_STAT_LAST_UPDATE, TEST_LAST_UPDATE},
        {VIR_DOMAIN_MEMORY_STAT_DISK_CACHES, cur / 8},
        {VIR_DOMAIN_MEMORY_STAT_HUGETLB_PGALLOC, 0},
        {VIR_DOMAIN_MEMORY_STAT_HUGETLB_PGFAIL, 0},
        {VIR_DOMAIN_MEMORY_STAT_RSS, cur / 2},
    };
    unsigned n = 0;
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]) && n < nr; i++) {
        stats[n].tag = all[i].tag;
        stats[n].val = all[i].val;
        n++;
    }
    return (int)n;
}

/* ---- scheduler ---- */

static char *test_get_scheduler_type(vir_domain *dom, int *nparams, vir_error *err)
{
    if (!get_dom(dom, err))
        return NULL;
    if (nparams)
        *nparams = 1;
    return xstrdup("fair");
}

static int test_get_scheduler_params(vir_domain *dom, vir_typed_parameter *params, int *nparams,
                                     unsigned int flags, vir_error *err)
{
    struct tdom *d = get_dom(dom, err);
    if (!d)
        return -1;
    int impact = resolve_impact(d, flags, err);
    if (impact < 0)
        return -1;
    if (*nparams < 1) {
        *nparams = 0;
        return 0;
    }
    memset(&params[0], 0, sizeof(params[0]));
    snprintf(params[0].field, sizeof(params[0].field), "weight");
    params[0].type = VIR_TYPED_PARAM_UINT;
    params[0].value.ui =
        (impact & VIR_DOMAIN_AFFECT_LIVE) ? d->sched_weight_live : d->sched_weight_config;
    *nparams = 1;
    return 0;
}

static int test_set_scheduler_params(vir_domain *dom, const vir_typed_parameter *params,
                                     int nparams, unsigned int flags, vir_error *err)
{
    struct tdom *d = get_dom(dom, err);
    if (!d)
        return -1;
    int impact = resolve_impact(d, flags, err);
    if (impact < 0)
        return -1;
    for (int i = 0; i < nparams; i++) {
        if (strcmp(params[i].field, "weight") != 0)
            return vir_report(err, VIR_ERR_ARGUMENT_UNSUPPORTED, "parameter '%s' not supported",
                              params[i].field);
        if (params[i].type != VIR_TYPED_PARAM_UINT)
            return vir_report(err, VIR_ERR_INVALID_ARG, "invalid type for parameter '%s'",
                              params[i].field);
    }
    for (int i = 0; i < nparams; i++) {
        if (impact & VIR_DOMAIN_AFFECT_LIVE)
            d->sched_weight_live = params[i].value.ui;
        if (impact & VIR_DOMAIN_AFFECT_CONFIG)
            d->sched_weight_config = params[i].value.ui;
    }
    return 0;
}

/* ---- snapshots: metadata in memory, as libvirt's test driver keeps them ---- */

static struct snapshot_def *snap_find(const struct tdom *d, const char *name)
{
    for (size_t i = 0; i < d->nsnaps; i++)
        if (strcmp(d->snaps[i]->name, name) == 0)
            return d->snaps[i];
    return NULL;
}

static struct snapshot_def *snap_get(vir_domain *dom, const char *name, struct tdom **dp,
                                     vir_error *err)
{
    struct tdom *d = get_dom(dom, err);
    if (!d)
        return NULL;
    struct snapshot_def *s = snap_find(d, name);
    if (!s)
        vir_report(err, VIR_ERR_NO_DOMAIN_SNAPSHOT, "no domain snapshot with matching name '%s'",
                   name);
    *dp = d;
    return s;
}

static bool snap_is_descendant(const struct tdom *d, const struct snapshot_def *s,
                               const struct snapshot_def *ancestor)
{
    size_t guard = d->nsnaps;
    while (s && s->parent && guard--) {
        if (strcmp(s->parent, ancestor->name) == 0)
            return true;
        s = snap_find(d, s->parent);
    }
    return false;
}

static bool snap_is_child(const struct snapshot_def *s, const struct snapshot_def *parent)
{
    return s->parent && strcmp(s->parent, parent->name) == 0;
}

/* libvirt's listing filters (leaves, metadata, state, location). */
static bool snap_matches(const struct tdom *d, const struct snapshot_def *s, unsigned f)
{
    bool leaf = true;
    for (size_t i = 0; i < d->nsnaps; i++)
        leaf &= !snap_is_child(d->snaps[i], s);
    bool leaves = f & VIR_DOMAIN_SNAPSHOT_LIST_LEAVES,
         no_leaves = f & VIR_DOMAIN_SNAPSHOT_LIST_NO_LEAVES;
    if (leaves != no_leaves && leaf != leaves)
        return false;
    bool md = f & VIR_DOMAIN_SNAPSHOT_LIST_METADATA,
         no_md = f & VIR_DOMAIN_SNAPSHOT_LIST_NO_METADATA;
    if (md != no_md && !md)
        return false;
    unsigned st = f & (VIR_DOMAIN_SNAPSHOT_LIST_INACTIVE | VIR_DOMAIN_SNAPSHOT_LIST_ACTIVE |
                       VIR_DOMAIN_SNAPSHOT_LIST_DISK_ONLY);
    bool off = s->state == SNAPSHOT_STATE_SHUTOFF, disk = s->state == SNAPSHOT_STATE_DISK_SNAPSHOT;
    if (st && !(((st & VIR_DOMAIN_SNAPSHOT_LIST_INACTIVE) && off) ||
                ((st & VIR_DOMAIN_SNAPSHOT_LIST_DISK_ONLY) && disk) ||
                ((st & VIR_DOMAIN_SNAPSHOT_LIST_ACTIVE) && !off && !disk)))
        return false;
    /* The test driver's snapshots are all internal. */
    if ((f & (VIR_DOMAIN_SNAPSHOT_LIST_INTERNAL | VIR_DOMAIN_SNAPSHOT_LIST_EXTERNAL)) &&
        !(f & VIR_DOMAIN_SNAPSHOT_LIST_INTERNAL))
        return false;
    return true;
}

/* --redefine: the metadata as given (a snapshot's whole XML), replaced or added. */
static char *snap_redefine(struct tdom *d, const char *xml, bool current, vir_error *err)
{
    struct snapshot_def *def = NULL;
    struct verr verr = {0};
    if (snapshot_def_parse_string(xml ? xml : "", 0, &def, &verr) < 0) {
        vir_report(err, VIR_ERR_XML_ERROR, "%s", verr_msg(&verr));
        return NULL;
    }
    const char *why = !def->name                          ? "a redefined snapshot must have a name"
                      : def->state == SNAPSHOT_STATE_NONE ? "missing state from existing snapshot"
                      : def->parent && !snap_find(d, def->parent) ? "parent not found"
                                                                  : NULL;
    if (why) {
        vir_report(err, VIR_ERR_XML_ERROR, "%s", why);
        snapshot_def_free(def);
        return NULL;
    }
    def->active = -1;
    bool found = false;
    for (size_t i = 0; i < d->nsnaps; i++)
        if (strcmp(d->snaps[i]->name, def->name) == 0) {
            current |= d->current_snap && strcmp(d->current_snap, def->name) == 0;
            snapshot_def_free(d->snaps[i]);
            d->snaps[i] = def;
            found = true;
        }
    if (!found) {
        d->snaps = xreallocarray(d->snaps, d->nsnaps + 1, sizeof(*d->snaps));
        d->snaps[d->nsnaps++] = def;
    }
    if (current) {
        free(d->current_snap);
        d->current_snap = xstrdup(def->name);
    }
    return xstrdup(def->name);
}

static char *test_snapshot_create_xml(vir_domain *dom, const char *xml, unsigned int flags,
                                      vir_error *err)
{
    unsigned known = VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE | VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT |
                     VIR_DOMAIN_SNAPSHOT_CREATE_HALT | VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE |
                     VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC | VIR_DOMAIN_SNAPSHOT_CREATE_LIVE |
                     VIR_DOMAIN_SNAPSHOT_CREATE_VALIDATE;
    if (flags & ~known) {
        vir_report_flags(err, flags & ~known, "testDomainSnapshotCreateXML");
        return NULL;
    }
    struct tdom *d = get_dom(dom, err);
    if (!d)
        return NULL;
    if (flags & VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE)
        return snap_redefine(d, xml, flags & VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT, err);
    struct snapshot_def *def = NULL;
    struct verr verr = {0};
    if (snapshot_def_parse_string(xml && *xml ? xml : "<domainsnapshot/>", SNAPSHOT_PARSE_CREATE,
                                  &def, &verr) < 0) {
        vir_report(err, VIR_ERR_XML_ERROR, "%s", verr_msg(&verr));
        return NULL;
    }
    if (def->memory == SNAPSHOT_LOCATION_EXTERNAL || def->ndisks || def->domain) {
        /* The test driver has no disks to take external snapshots of. */
        snapshot_def_free(def);
        vir_report(err, VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                   "the test driver takes only internal snapshots of every disk");
        return NULL;
    }
    if (!def->name)
        def->name = xasprintf("%lld", (long long)time(NULL));
    if (snap_find(d, def->name)) {
        vir_report(err, VIR_ERR_OPERATION_FAILED, "domain moment %s already exists", def->name);
        snapshot_def_free(def);
        return NULL;
    }
    bool active = dom_active(d);
    def->state = !active                         ? SNAPSHOT_STATE_SHUTOFF
                 : d->state == VIR_DOMAIN_PAUSED ? SNAPSHOT_STATE_PAUSED
                                                 : SNAPSHOT_STATE_RUNNING;
    def->memory = active ? SNAPSHOT_LOCATION_INTERNAL : SNAPSHOT_LOCATION_NO;
    def->creation_time = (int64_t)time(NULL);
    def->parent = d->current_snap ? xstrdup(d->current_snap) : NULL;
    const struct domain_def *cd = cur_def(d);
    def->disks = xcalloc(cd->ndisks + 1, sizeof(*def->disks));
    for (size_t i = 0; i < cd->ndisks; i++) {
        def->disks[def->ndisks].name = xstrdup(cd->disks[i].target_dev);
        def->disks[def->ndisks++].snapshot =
            cd->disks[i].readonly ? SNAPSHOT_LOCATION_NO : SNAPSHOT_LOCATION_INTERNAL;
    }
    char *dx = domain_def_format(cd, DOMAIN_FORMAT_INACTIVE | DOMAIN_FORMAT_SECURE);
    if (dx && xnode_parse_xml(dx, strlen(dx), "domain XML", &def->domain, &verr) < 0)
        def->domain = NULL;
    free(dx);
    char *name = xstrdup(def->name);
    d->snaps = xreallocarray(d->snaps, d->nsnaps + 1, sizeof(*d->snaps));
    d->snaps[d->nsnaps++] = def;
    free(d->current_snap);
    d->current_snap = xstrdup(name);
    if ((flags & VIR_DOMAIN_SNAPSHOT_CREATE_HALT) && active)
        make_inactive(dom->conn, d, VIR_DOMAIN_SHUTOFF_FROM_SNAPSHOT,
                      VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT);
    return name;
}

static int test_snapshot_list(vir_domain *dom, const char *parent, char ***names,
                              unsigned int flags, vir_error *err)
{
    struct tdom *d;
    const struct snapshot_def *from = NULL;
    if (parent) {
        if (!(from = snap_get(dom, parent, &d, err)))
            return -1;
    } else if (!(d = get_dom(dom, err))) {
        return -1;
    }
    if (names)
        *names = xcalloc(d->nsnaps + 1, sizeof(**names));
    int n = 0;
    for (size_t i = 0; i < d->nsnaps; i++) {
        const struct snapshot_def *s = d->snaps[i];
        bool rel = !from ? !(flags & VIR_DOMAIN_SNAPSHOT_LIST_ROOTS) || !s->parent
                   : flags & VIR_DOMAIN_SNAPSHOT_LIST_DESCENDANTS ? snap_is_descendant(d, s, from)
                                                                  : snap_is_child(s, from);
        if (!rel || !snap_matches(d, s, flags))
            continue;
        if (names)
            (*names)[n] = xstrdup(s->name);
        n++;
    }
    return n;
}

static int test_snapshot_lookup(vir_domain *dom, const char *name, vir_error *err)
{
    struct tdom *d;
    return snap_get(dom, name, &d, err) ? 0 : -1;
}

static int test_has_current_snapshot(vir_domain *dom, unsigned int flags, vir_error *err)
{
    if (flags)
        return vir_report_flags(err, flags, "testDomainHasCurrentSnapshot");
    struct tdom *d = get_dom(dom, err);
    return !d ? -1 : d->current_snap != NULL;
}

static char *test_snapshot_current(vir_domain *dom, unsigned int flags, vir_error *err)
{
    if (flags) {
        vir_report_flags(err, flags, "testDomainSnapshotCurrent");
        return NULL;
    }
    struct tdom *d = get_dom(dom, err);
    if (!d)
        return NULL;
    if (!d->current_snap) {
        vir_report(err, VIR_ERR_NO_DOMAIN_SNAPSHOT, "%s",
                   "the domain does not have a current snapshot");
        return NULL;
    }
    return xstrdup(d->current_snap);
}

static char *test_snapshot_get_parent(vir_domain *dom, const char *name, unsigned int flags,
                                      vir_error *err)
{
    struct tdom *d;
    const struct snapshot_def *s = snap_get(dom, name, &d, err);
    if (!s)
        return NULL;
    if (flags) {
        vir_report_flags(err, flags, "testDomainSnapshotGetParent");
        return NULL;
    }
    if (!s->parent) {
        vir_report(err, VIR_ERR_NO_DOMAIN_SNAPSHOT, "snapshot '%s' does not have a parent",
                   s->name);
        return NULL;
    }
    return xstrdup(s->parent);
}

static char *test_snapshot_get_xml_desc(vir_domain *dom, const char *name, unsigned int flags,
                                        vir_error *err)
{
    if (flags & ~(unsigned)VIR_DOMAIN_SNAPSHOT_XML_SECURE) {
        vir_report_flags(err, flags & ~(unsigned)VIR_DOMAIN_SNAPSHOT_XML_SECURE,
                         "testDomainSnapshotGetXMLDesc");
        return NULL;
    }
    struct tdom *d;
    const struct snapshot_def *s = snap_get(dom, name, &d, err);
    return s ? snapshot_def_format(s) : NULL;
}

static int test_snapshot_is_current(vir_domain *dom, const char *name, unsigned int flags,
                                    vir_error *err)
{
    if (flags)
        return vir_report_flags(err, flags, "testDomainSnapshotIsCurrent");
    struct tdom *d;
    const struct snapshot_def *s = snap_get(dom, name, &d, err);
    return !s ? -1 : d->current_snap && strcmp(d->current_snap, s->name) == 0;
}

static int test_snapshot_has_metadata(vir_domain *dom, const char *name, unsigned int flags,
                                      vir_error *err)
{
    if (flags)
        return vir_report_flags(err, flags, "testDomainSnapshotHasMetadata");
    struct tdom *d;
    return snap_get(dom, name, &d, err) ? 1 : -1;
}

/* As libvirt's test driver: the domain takes the snapshot's state, with its events. */
static int test_snapshot_revert(vir_domain *dom, const char *name, unsigned int flags,
                                vir_error *err)
{
    unsigned known = VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING | VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED |
                     VIR_DOMAIN_SNAPSHOT_REVERT_FORCE;
    if (flags & ~known)
        return vir_report_flags(err, flags & ~known, "testDomainRevertToSnapshot");
    struct tdom *d;
    const struct snapshot_def *s = snap_get(dom, name, &d, err);
    if (!s)
        return -1;
    vir_connect *conn = dom->conn;
    bool memory = s->state == SNAPSHOT_STATE_RUNNING || s->state == SNAPSHOT_STATE_PAUSED;
    bool run = (flags & VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING) ||
               (s->state == SNAPSHOT_STATE_RUNNING && !(flags & VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED));
    bool pause = !run && (memory || (flags & VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED));
    if (!memory && dom_active(d) &&
        make_inactive(conn, d, VIR_DOMAIN_SHUTOFF_FROM_SNAPSHOT,
                      VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT))
        return 0; /* a transient domain is gone */
    if (memory && dom_active(d)) {
        /* libvirt's test driver finds the snapshot's definition not ABI-stable with the live
         * one and starts the domain again: stopped, then started, under a new id. */
        emit(conn, d, VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT);
        d->id = priv_of(conn)->next_id++;
        d->live->id = d->id;
    } else if (run || pause) {
        make_active(priv_of(conn), d, domain_def_copy(d->def), VIR_DOMAIN_RUNNING,
                    VIR_DOMAIN_RUNNING_FROM_SNAPSHOT);
    }
    if (run || pause) {
        set_state(d, run ? VIR_DOMAIN_RUNNING : VIR_DOMAIN_PAUSED,
                  run ? VIR_DOMAIN_RUNNING_FROM_SNAPSHOT : VIR_DOMAIN_PAUSED_FROM_SNAPSHOT);
        emit(conn, d, VIR_DOMAIN_EVENT_STARTED, VIR_DOMAIN_EVENT_STARTED_FROM_SNAPSHOT);
        if (pause)
            emit(conn, d, VIR_DOMAIN_EVENT_SUSPENDED, VIR_DOMAIN_EVENT_SUSPENDED_FROM_SNAPSHOT);
        dom->id = d->id;
    }
    free(d->current_snap);
    d->current_snap = xstrdup(s->name);
    return 0;
}

static void snap_drop(struct tdom *d, const char *name)
{
    for (size_t i = 0; i < d->nsnaps; i++) {
        struct snapshot_def *s = d->snaps[i];
        if (strcmp(s->name, name) != 0)
            continue;
        for (size_t j = 0; j < d->nsnaps; j++)
            if (snap_is_child(d->snaps[j], s)) { /* its children hang from its parent now */
                free(d->snaps[j]->parent);
                d->snaps[j]->parent = s->parent ? xstrdup(s->parent) : NULL;
            }
        if (d->current_snap && strcmp(d->current_snap, name) == 0) {
            free(d->current_snap);
            d->current_snap = s->parent ? xstrdup(s->parent) : NULL;
        }
        memmove(&d->snaps[i], &d->snaps[i + 1], (d->nsnaps - i - 1) * sizeof(d->snaps[0]));
        d->nsnaps--;
        snapshot_def_free(s);
        return;
    }
}

static int test_snapshot_delete(vir_domain *dom, const char *name, unsigned int flags,
                                vir_error *err)
{
    unsigned known = VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN | VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN_ONLY;
    if (flags & ~known)
        return vir_report_flags(err, flags & ~known, "testDomainSnapshotDelete");
    struct tdom *d;
    const struct snapshot_def *s = snap_get(dom, name, &d, err);
    if (!s)
        return -1;
    if (flags & known) {
        /* Descendants, found before any goes (the tree changes as they do). */
        char **doomed = xcalloc(d->nsnaps + 1, sizeof(*doomed));
        size_t n = 0;
        for (size_t i = 0; i < d->nsnaps; i++)
            if (snap_is_descendant(d, d->snaps[i], s))
                doomed[n++] = xstrdup(d->snaps[i]->name);
        for (size_t i = 0; i < n; i++) {
            snap_drop(d, doomed[i]);
            free(doomed[i]);
        }
        free(doomed);
    }
    if (!(flags & VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN_ONLY))
        snap_drop(d, name);
    return 0;
}

const struct vir_driver vir_test_driver = {
    .name = "TEST",
    .open = test_open,
    .close = test_close,
    .snapshot_create_xml = test_snapshot_create_xml,
    .snapshot_list = test_snapshot_list,
    .snapshot_lookup = test_snapshot_lookup,
    .has_current_snapshot = test_has_current_snapshot,
    .snapshot_current = test_snapshot_current,
    .snapshot_get_parent = test_snapshot_get_parent,
    .snapshot_get_xml_desc = test_snapshot_get_xml_desc,
    .snapshot_is_current = test_snapshot_is_current,
    .snapshot_has_metadata = test_snapshot_has_metadata,
    .snapshot_revert = test_snapshot_revert,
    .snapshot_delete = test_snapshot_delete,
    .get_hostname = test_get_hostname,
    .get_version = test_get_version,
    .get_capabilities = test_get_capabilities,
    .node_get_info = test_node_get_info,
    .node_get_security_model = test_node_get_security_model,
    .node_cpu_count = test_node_cpu_count,
    .node_free_memory = test_node_free_memory,
    .node_cells_free_memory = test_node_cells_free_memory,
    .node_cpu_stats = test_node_cpu_stats,
    .node_cpu_map = test_node_cpu_map,
    .list_all_domains = test_list_all_domains,
    .lookup_by_name = test_lookup_by_name,
    .lookup_by_id = test_lookup_by_id,
    .lookup_by_uuid = test_lookup_by_uuid,
    .define_xml = test_define_xml,
    .undefine = test_undefine,
    .create = test_create,
    .create_xml = test_create_xml,
    .shutdown = test_shutdown,
    .destroy = test_destroy,
    .reboot = test_reboot,
    .reset = test_reset,
    .suspend = test_suspend,
    .resume = test_resume,
    .save = test_save,
    .restore = test_restore,
    .save_image_get_xml_desc = test_save_image_get_xml_desc,
    .save_image_define_xml = test_save_image_define_xml,
    .managed_save = test_managed_save,
    .has_managed_save = test_has_managed_save,
    .managed_save_remove = test_managed_save_remove,
    .inject_crash = test_inject_crash,
    .get_id = test_get_id,
    .get_os_type = test_get_os_type,
    .get_info = test_get_info,
    .get_state = test_get_state,
    .is_persistent = test_is_persistent,
    .get_xml_desc = test_get_xml_desc,
    .get_autostart = test_get_autostart,
    .set_autostart = test_set_autostart,
    .get_security_label = test_get_security_label,
    .get_vcpus_flags = test_get_vcpus_flags,
    .set_vcpus_flags = test_set_vcpus_flags,
    .get_vcpus = test_get_vcpus,
    .get_vcpu_pin_info = test_get_vcpu_pin_info,
    .pin_vcpu = test_pin_vcpu,
    .get_emulator_pin_info = test_get_emulator_pin_info,
    .pin_emulator = test_pin_emulator,
    .set_memory_flags = test_set_memory_flags,
    .get_scheduler_type = test_get_scheduler_type,
    .get_scheduler_params = test_get_scheduler_params,
    .set_scheduler_params = test_set_scheduler_params,
    .memory_stats = test_memory_stats,
};
