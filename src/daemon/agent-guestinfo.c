/*
 * agent-guestinfo.c - a guest agent's answers as virDomainGetGuestInfo's typed parameters,
 * named, typed and ordered as libvirt 9.0 makes them (qemu_agent.c's qemuAgentGetUsers,
 * GetOSInfo, GetTimezone, GetHostname, GetFSInfo, GetDisks and GetInterfaces, and
 * qemu_driver.c's formatting of the last three):
 *
 *   user.count, user.N.name, user.N.domain, user.N.login-time (ms)
 *   os.*, timezone.name, timezone.offset, hostname
 *   fs.count, fs.N.name/mountpoint/fstype, fs.N.total-bytes/used-bytes (when the agent has
 *     them), fs.N.disk.count, fs.N.disk.M.alias (the domain disk at the agent's address),
 *     fs.N.disk.M.serial, fs.N.disk.M.device
 *   disk.count, disk.N.name, disk.N.partition, disk.N.dependency.count and .M.name,
 *     disk.N.serial, disk.N.alias, disk.N.guest_alias
 *   if.count, if.N.name, if.N.hwaddr, if.N.addr.count, if.N.addr.M.type/addr/prefix
 *
 * Apart from the caller's order of categories, it is a pure function of the agent's JSON and
 * the domain definition, so the same code is checked against the real qemu-ga and fuzzed.
 * As libvirt: an empty file system, disk or interface list adds no parameters (not even
 * its count); a malformed answer fails the whole call with libvirt's words.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/domain.h"
#include "daemon/server.h"
#include "util/error.h"
#include "util/mem.h"

struct gi_out {
    struct remote_domain_get_guest_info_ret *r;
    size_t start; /* where this category's parameters begin (dropped on failure) */
};

static struct remote_typed_param *param(struct gi_out *o, int type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static struct remote_typed_param *param(struct gi_out *o, int type, const char *fmt, ...)
{
    struct remote_domain_get_guest_info_ret *r = o->r;
    r->params = xreallocarray(r->params, r->params_len + 1, sizeof(*r->params));
    struct remote_typed_param *p = &r->params[r->params_len++];
    memset(p, 0, sizeof(*p));
    char field[80]; /* VIR_TYPED_PARAM_FIELD_LENGTH is 80 */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(field, sizeof(field), fmt, ap);
    va_end(ap);
    p->field = xstrdup(field);
    p->type = type;
    return p;
}

#define ADD_STRING(o, v, ...)                                                                      \
    (param((o), REMOTE_TYPED_PARAM_STRING, __VA_ARGS__)->value.s = xstrdup(v))
#define ADD_UINT(o, v, ...)   (param((o), REMOTE_TYPED_PARAM_UINT, __VA_ARGS__)->value.ui = (v))
#define ADD_ULLONG(o, v, ...) (param((o), REMOTE_TYPED_PARAM_ULLONG, __VA_ARGS__)->value.ul = (v))
#define ADD_BOOL(o, v, ...)   (param((o), REMOTE_TYPED_PARAM_BOOLEAN, __VA_ARGS__)->value.b = (v))
#define ADD_INT(o, v, ...)    (param((o), REMOTE_TYPED_PARAM_INT, __VA_ARGS__)->value.i = (v))

static const char *str_of(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;
    return json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, key, &v) &&
                   json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : NULL;
}

static struct json_object *member(struct json_object *o, const char *key, json_type type)
{
    struct json_object *v = NULL;
    return json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, key, &v) &&
                   json_object_is_type(v, type)
               ? v
               : NULL;
}

/* A non-negative integer that fits the width (libvirt's virJSONValueObjectGetNumberUint and
 * ...Ulong also take the number's text; json-c gives integers and doubles). */
static bool num_of(struct json_object *o, const char *key, uint64_t max, uint64_t *out)
{
    struct json_object *v = NULL;
    if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v))
        return false;
    if (json_object_is_type(v, json_type_int)) {
        errno = 0;
        int64_t s = json_object_get_int64(v);
        if (s >= 0 && (uint64_t)s <= max && errno == 0) {
            *out = (uint64_t)s;
            return true;
        }
        uint64_t u = json_object_get_uint64(v); /* above INT64_MAX */
        if (s == INT64_MAX && u <= max) {
            *out = u;
            return true;
        }
        return false;
    }
    if (json_object_is_type(v, json_type_double)) {
        double d = json_object_get_double(v);
        if (d >= 0 && d <= (double)max && d == (double)(uint64_t)d) {
            *out = (uint64_t)d;
            return true;
        }
    }
    return false;
}

/* One disk address (qemuAgentGetDiskAddress), checked; the def's disk name, or NULL. */
static int disk_address(struct json_object *a, const struct domain_def *def, const char **alias,
                        struct verr *err)
{
    static const char *const drive[] = {"bus", "target", "unit"};
    static const char *const pci[] = {"domain", "bus", "slot", "function"};
    uint64_t v;
    for (int i = 0; i < 3; i++)
        if (!num_of(a, drive[i], UINT32_MAX, &v))
            return verr_set(err, EINVAL, "'%s' missing", drive[i]);
    struct json_object *p = member(a, "pci-controller", json_type_object);
    if (!p)
        return verr_set(err, EINVAL, "'pci-controller' missing");
    for (int i = 0; i < 4; i++)
        if (!num_of(p, pci[i], UINT32_MAX, &v))
            return verr_set(err, EINVAL, "'%s' missing", pci[i]);
    struct json_object *ccw = member(a, "ccw-address", json_type_object);
    static const char *const ccwn[] = {"cssid", "ssid", "devno"};
    for (int i = 0; ccw && i < 3; i++)
        if (!num_of(ccw, ccwn[i], UINT32_MAX, &v))
            return verr_set(err, EINVAL, "'%s' missing", ccwn[i]);
    *alias = vd_agent_disk_target(def, a);
    return 0;
}

static int fill_users(struct gi_out *o, struct json_object *ret, struct verr *err)
{
    if (!json_object_is_type(ret, json_type_array))
        return verr_set(err, EINVAL, "guest-get-users reply was missing return data");
    size_t n = json_object_array_length(ret);
    ADD_UINT(o, (uint32_t)n, "user.count");
    for (size_t i = 0; i < n; i++) {
        struct json_object *u = json_object_array_get_idx(ret, i), *t = NULL;
        const char *name = str_of(u, "user"), *dom = str_of(u, "domain");
        if (!name)
            return verr_set(err, EINVAL, "'user' missing in reply of guest-get-users");
        ADD_STRING(o, name, "user.%zu.name", i);
        if (dom)
            ADD_STRING(o, dom, "user.%zu.domain", i);
        if (!json_object_object_get_ex(u, "login-time", &t) ||
            !(json_object_is_type(t, json_type_double) || json_object_is_type(t, json_type_int)))
            return verr_set(err, EINVAL, "'login-time' missing in reply of guest-get-users");
        double ms = json_object_get_double(t) * 1000; /* seconds, from the guest */
        ADD_ULLONG(o, ms > 0 && ms < 1.8e19 ? (uint64_t)ms : 0, "user.%zu.login-time", i);
    }
    return 0;
}

static int fill_os(struct gi_out *o, struct json_object *ret, struct verr *err)
{
    if (!json_object_is_type(ret, json_type_object))
        return verr_set(err, EINVAL, "guest-get-osinfo reply was missing return data");
    static const char *const keys[] = {
        "id",      "name",       "pretty-name",    "version",        "version-id", "machine",
        "variant", "variant-id", "kernel-release", "kernel-version", NULL};
    for (const char *const *k = keys; *k; k++) {
        const char *v = str_of(ret, *k);
        if (v)
            ADD_STRING(o, v, "os.%s", *k);
    }
    return 0;
}

static int fill_timezone(struct gi_out *o, struct json_object *ret, struct verr *err)
{
    if (!json_object_is_type(ret, json_type_object))
        return verr_set(err, EINVAL, "guest-get-timezone reply was missing return data");
    const char *zone = str_of(ret, "zone");
    struct json_object *off = member(ret, "offset", json_type_int);
    if (zone)
        ADD_STRING(o, zone, "timezone.name");
    if (!off)
        return verr_set(err, EINVAL, "'offset' missing in reply of guest-get-timezone");
    ADD_INT(o, json_object_get_int(off), "timezone.offset");
    return 0;
}

static int fill_hostname(struct gi_out *o, struct json_object *ret, struct verr *err)
{
    const char *h = str_of(ret, "host-name");
    if (!json_object_is_type(ret, json_type_object))
        return verr_set(err, EINVAL, "malformed return value");
    if (!h)
        return verr_set(err, EINVAL, "'host-name' missing in guest-get-host-name reply");
    ADD_STRING(o, h, "hostname");
    return 0;
}

static int fill_fs(struct gi_out *o, struct json_object *ret, const struct domain_def *def,
                   struct verr *err)
{
    if (!json_object_is_type(ret, json_type_array))
        return verr_set(err, EINVAL, "guest-get-fsinfo reply was missing or not an array");
    size_t n = json_object_array_length(ret);
    if (n == 0)
        return 0;
    ADD_UINT(o, (uint32_t)n, "fs.count");
    for (size_t i = 0; i < n; i++) {
        /* the agent lists in reverse mount order; libvirt turns it back */
        struct json_object *fs = json_object_array_get_idx(ret, n - 1 - i), *disks;
        static const char *const need[] = {"mountpoint", "name", "type"};
        const char *val[3];
        for (int k = 0; k < 3; k++)
            if (!(val[k] = str_of(fs, need[k])))
                return verr_set(err, EINVAL, "'%s' missing in reply of guest-get-fsinfo", need[k]);
        ADD_STRING(o, val[1], "fs.%zu.name", i);
        ADD_STRING(o, val[0], "fs.%zu.mountpoint", i);
        ADD_STRING(o, val[2], "fs.%zu.fstype", i);
        static const char *const bytes[] = {"total-bytes", "used-bytes"};
        for (int k = 0; k < 2; k++) { /* qemu-ga 3.0 and later */
            uint64_t b;
            struct json_object *v;
            if (!json_object_object_get_ex(fs, bytes[k], &v))
                continue;
            if (!num_of(fs, bytes[k], UINT64_MAX, &b))
                return verr_set(err, EINVAL, "Error getting '%s' in reply of guest-get-fsinfo",
                                bytes[k]);
            ADD_ULLONG(o, b, "fs.%zu.%s", i, bytes[k]);
        }
        if (!(disks = member(fs, "disk", json_type_array)))
            return verr_set(err, EINVAL,
                            "'disk' missing or not an array in reply of guest-get-fsinfo");
        size_t nd = json_object_array_length(disks);
        ADD_UINT(o, (uint32_t)nd, "fs.%zu.disk.count", i);
        for (size_t j = 0; j < nd; j++) {
            struct json_object *d = json_object_array_get_idx(disks, j);
            const char *alias = NULL, *serial = str_of(d, "serial"), *dev = str_of(d, "dev");
            if (disk_address(d, def, &alias, err) < 0)
                return -EINVAL;
            if (alias)
                ADD_STRING(o, alias, "fs.%zu.disk.%zu.alias", i, j);
            if (serial)
                ADD_STRING(o, serial, "fs.%zu.disk.%zu.serial", i, j);
            if (dev)
                ADD_STRING(o, dev, "fs.%zu.disk.%zu.device", i, j);
        }
    }
    return 0;
}

static int fill_disks(struct gi_out *o, struct json_object *ret, const struct domain_def *def,
                      struct verr *err)
{
    if (!json_object_is_type(ret, json_type_array))
        return verr_set(err, EINVAL, "qemu agent didn't return an array of disks");
    size_t n = json_object_array_length(ret);
    if (n == 0)
        return 0;
    ADD_UINT(o, (uint32_t)n, "disk.count");
    for (size_t i = 0; i < n; i++) {
        struct json_object *d = json_object_array_get_idx(ret, i), *part, *deps, *addr;
        const char *name = str_of(d, "name"), *guest_alias = str_of(d, "alias");
        if (!name)
            return verr_set(err, EINVAL, "'name' missing in reply of guest-get-disks");
        if (!(part = member(d, "partition", json_type_boolean)))
            return verr_set(err, EINVAL, "'partition' missing in reply of guest-get-disks");
        ADD_STRING(o, name, "disk.%zu.name", i);
        ADD_BOOL(o, json_object_get_boolean(part) ? 1 : 0, "disk.%zu.partition", i);
        if ((deps = member(d, "dependencies", json_type_array))) {
            size_t nd = json_object_array_length(deps);
            for (size_t j = 0; j < nd; j++)
                if (!json_object_is_type(json_object_array_get_idx(deps, j), json_type_string))
                    return verr_set(err, EINVAL, "JSON array does not contain only strings");
            ADD_UINT(o, (uint32_t)nd, "disk.%zu.dependency.count", i);
            for (size_t j = 0; j < nd; j++)
                ADD_STRING(o, json_object_get_string(json_object_array_get_idx(deps, j)),
                           "disk.%zu.dependency.%zu.name", i, j);
        }
        if ((addr = member(d, "address", json_type_object))) {
            const char *alias = NULL, *serial = str_of(addr, "serial");
            if (disk_address(addr, def, &alias, err) < 0)
                return -EINVAL;
            if (serial)
                ADD_STRING(o, serial, "disk.%zu.serial", i);
            if (alias)
                ADD_STRING(o, alias, "disk.%zu.alias", i);
        }
        if (guest_alias)
            ADD_STRING(o, guest_alias, "disk.%zu.guest_alias", i);
    }
    return 0;
}

/* One interface's addresses, checked first (libvirt takes the list whole). */
int vd_agent_check_addrs(struct json_object *ips, const char *name, struct verr *err)
{
    size_t na = json_object_array_length(ips);
    for (size_t k = 0; k < na; k++) {
        struct json_object *ad = json_object_array_get_idx(ips, k);
        const char *type = str_of(ad, "ip-address-type");
        uint64_t prefix;
        if (!type)
            return verr_set(err, EINVAL,
                            "qemu agent didn't provide 'ip-address-type' field for interface "
                            "'%s'",
                            name);
        if (strcmp(type, "ipv4") && strcmp(type, "ipv6"))
            return verr_set(err, EINVAL, "unknown ip address type '%s'", type);
        if (!str_of(ad, "ip-address"))
            return verr_set(err, EINVAL,
                            "qemu agent didn't provide 'ip-address' field for interface '%s'",
                            name);
        if (!num_of(ad, "prefix", UINT32_MAX, &prefix))
            return verr_set(err, EINVAL, "malformed 'prefix' field");
    }
    return 0;
}

static int fill_interfaces(struct gi_out *o, struct json_object *ret, struct verr *err)
{
    if (!json_object_is_type(ret, json_type_array))
        return verr_set(err, EINVAL, "qemu agent didn't return an array of interfaces");
    size_t n = json_object_array_length(ret);
    /* An alias (eth0:1) adds its addresses to its interface: group by the base name, keeping
     * the order in which base names first appear. */
    char **names = xcalloc(n + 1, sizeof(*names));
    size_t nnames = 0;
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++) {
        struct json_object *it = json_object_array_get_idx(ret, i), *ips;
        const char *name = str_of(it, "name");
        if (!name) {
            r = verr_set(err, EINVAL, "qemu agent didn't provide 'name' field");
            break;
        }
        size_t len = strcspn(name, ":"), k;
        for (k = 0; k < nnames; k++)
            if (strlen(names[k]) == len && !strncmp(names[k], name, len))
                break;
        if (k == nnames)
            names[nnames++] = xstrndup(name, len);
        if ((ips = member(it, "ip-addresses", json_type_array)))
            r = vd_agent_check_addrs(ips, name, err);
    }
    if (r == 0 && nnames > 0) {
        ADD_UINT(o, (uint32_t)nnames, "if.count");
        for (size_t k = 0; k < nnames; k++) {
            const char *hw = NULL;
            bool first = true;
            size_t naddrs = 0, len = strlen(names[k]);
            for (size_t i = 0; i < n; i++) {
                struct json_object *it = json_object_array_get_idx(ret, i), *ips;
                const char *name = str_of(it, "name");
                if (strcspn(name, ":") != len || strncmp(name, names[k], len))
                    continue;
                if (first) /* the name's first entry gives the hardware address */
                    hw = str_of(it, "hardware-address");
                first = false;
                if ((ips = member(it, "ip-addresses", json_type_array)))
                    naddrs += json_object_array_length(ips);
            }
            ADD_STRING(o, names[k], "if.%zu.name", k);
            if (hw)
                ADD_STRING(o, hw, "if.%zu.hwaddr", k);
            ADD_UINT(o, (uint32_t)naddrs, "if.%zu.addr.count", k);
            size_t m = 0;
            for (size_t i = 0; i < n; i++) {
                struct json_object *it = json_object_array_get_idx(ret, i), *ips;
                const char *name = str_of(it, "name");
                if (strcspn(name, ":") != len || strncmp(name, names[k], len) ||
                    !(ips = member(it, "ip-addresses", json_type_array)))
                    continue;
                for (size_t a = 0; a < json_object_array_length(ips); a++, m++) {
                    struct json_object *ad = json_object_array_get_idx(ips, a);
                    uint64_t prefix = 0;
                    num_of(ad, "prefix", UINT32_MAX, &prefix);
                    ADD_STRING(o, str_of(ad, "ip-address-type"), "if.%zu.addr.%zu.type", k, m);
                    ADD_STRING(o, str_of(ad, "ip-address"), "if.%zu.addr.%zu.addr", k, m);
                    ADD_UINT(o, (uint32_t)prefix, "if.%zu.addr.%zu.prefix", k, m);
                }
            }
        }
    }
    for (size_t k = 0; k < nnames; k++)
        free(names[k]);
    free(names);
    return r;
}

int vd_agent_guestinfo_fill(unsigned type, struct json_object *ret, const struct domain_def *def,
                            struct remote_domain_get_guest_info_ret *out, struct verr *err)
{
    struct gi_out o = {out, out->params_len};
    int r;
    switch (type) {
    case VD_GUEST_INFO_USERS:
        r = fill_users(&o, ret, err);
        break;
    case VD_GUEST_INFO_OS:
        r = fill_os(&o, ret, err);
        break;
    case VD_GUEST_INFO_TIMEZONE:
        r = fill_timezone(&o, ret, err);
        break;
    case VD_GUEST_INFO_HOSTNAME:
        r = fill_hostname(&o, ret, err);
        break;
    case VD_GUEST_INFO_FILESYSTEM:
        r = fill_fs(&o, ret, def, err);
        break;
    case VD_GUEST_INFO_DISKS:
        r = fill_disks(&o, ret, def, err);
        break;
    case VD_GUEST_INFO_INTERFACES:
        r = fill_interfaces(&o, ret, err);
        break;
    default:
        r = verr_set(err, EINVAL, "unknown guest info type 0x%x", type);
        break;
    }
    if (r < 0) { /* nothing half-added */
        for (size_t i = o.start; i < out->params_len; i++)
            remote_typed_param_free(&out->params[i]);
        out->params_len = (uint32_t)o.start;
    }
    return r;
}
