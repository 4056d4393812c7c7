/*
 * network_update.c - virNetworkUpdate on a network definition (see
 * network_update.h): one section of the XML added, deleted or modified.
 *
 * The change is made on the definition's XML tree and the result parsed
 * again as a whole, so an updated definition passes every check a defined
 * one does (addresses inside the subnet, no host listed twice, ...), and a
 * refused update leaves the old definition untouched. Matching follows
 * libvirt: a DHCP host is found by its MAC (else its name) for modify, by
 * all the attributes given for delete, and an add refuses any host sharing
 * its MAC, name or address; ranges are added or deleted, never modified;
 * port groups go by name, with at most one default.
 */
#include "conf/network_update.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf/network_dns.h"
#include "util/buf.h"
#include "util/mem.h"

static const char *section_name(unsigned section)
{
    static const char *const names[] = {"none",       "bridge",    "domain",   "ip",
                                        "host",       "range",     "forward",  "forward interface",
                                        "forward pf", "portgroup", "dns host", "dns txt",
                                        "dns srv"};
    return section < sizeof(names) / sizeof(names[0]) ? names[section] : NULL;
}

static void insert_kid(struct xnode *parent, size_t at, struct xnode *kid)
{
    parent->kids = xreallocarray(parent->kids, parent->nkids + 1, sizeof(*parent->kids));
    memmove(&parent->kids[at + 1], &parent->kids[at], (parent->nkids - at) * sizeof(*parent->kids));
    parent->kids[at] = kid;
    parent->nkids++;
}

/* Where an element called name goes among parent's children: before the first one of them
 * (first) or after the last (else after the last child). */
static size_t place(const struct xnode *parent, const char *name, bool first)
{
    size_t at = parent->nkids;
    for (size_t i = 0; i < parent->nkids; i++) {
        const struct xnode *k = parent->kids[i];
        if (!k->name || strcmp(k->name, name) != 0)
            continue;
        if (first)
            return i;
        at = i + 1;
    }
    return at;
}

static bool same_attr(const struct xnode *a, const struct xnode *b, const char *name, bool nocase)
{
    const char *x = xnode_attr(a, name), *y = xnode_attr(b, name);
    return x && y && (nocase ? strcasecmp(x, y) == 0 : strcmp(x, y) == 0);
}

/* The <ip> whose <dhcp> an update of hosts or ranges works on. */
static struct xnode *ip_for(struct xnode *root, int parent_index, const char *what, const char *net,
                            struct verr *err)
{
    struct xnode *first_v4 = NULL;
    int n = 0;
    for (size_t i = 0; i < root->nkids; i++) {
        struct xnode *k = root->kids[i];
        if (!k->name || strcmp(k->name, "ip") != 0)
            continue;
        if (parent_index >= 0 && n++ == parent_index)
            return k;
        if (parent_index < 0 && xnode_child(k, "dhcp"))
            return k; /* the one with a <dhcp> */
        const char *fam = xnode_attr(k, "family");
        if (!first_v4 && (!fam || strcmp(fam, "ipv4") == 0))
            first_v4 = k;
    }
    if (parent_index >= 0) {
        verr_set(err, EINVAL,
                 "invalid argument: couldn't update dhcp %s entry - no <ip> element found at "
                 "index %d in network '%s'",
                 what, parent_index, net);
        return NULL;
    }
    if (!first_v4)
        verr_set(err, EINVAL,
                 "invalid argument: can't update '%s' section of network '%s' - no <ip "
                 "family='ipv4'> element",
                 what, net);
    return first_v4;
}

static int update_host(struct xnode *dhcp, unsigned command, struct xnode *h, const char *net,
                       struct verr *err)
{
    const char *mac = xnode_attr(h, "mac"), *name = xnode_attr(h, "name");
    const char *ip = xnode_attr(h, "ip"), *id = xnode_attr(h, "id");
    if (command == NETWORK_UPDATE_MODIFY) {
        /* found by its MAC, else (an IPv6 host) its DUID, else its name */
        const char *key = mac ? "mac" : id ? "id" : "name";
        for (size_t i = 0; i < dhcp->nkids; i++) {
            struct xnode *k = dhcp->kids[i];
            if (!k->name || strcmp(k->name, "host") != 0)
                continue;
            if (same_attr(k, h, key, strcmp(key, "name") != 0)) {
                xnode_free(k);
                dhcp->kids[i] = xnode_copy(h);
                return 0;
            }
        }
        const char *v = xnode_attr(h, key);
        return verr_set(err, ENOENT,
                        "Requested operation is not valid: couldn't locate an existing dhcp host "
                        "entry with \"%s='%s'\" in network '%s'",
                        key, v ? v : "", net);
    }
    if (command == NETWORK_UPDATE_DELETE) {
        for (size_t i = 0; i < dhcp->nkids; i++) {
            struct xnode *k = dhcp->kids[i];
            if (!k->name || strcmp(k->name, "host") != 0)
                continue;
            if ((!mac || same_attr(k, h, "mac", true)) && (!id || same_attr(k, h, "id", true)) &&
                (!name || same_attr(k, h, "name", false)) &&
                (!ip || same_attr(k, h, "ip", false)) && (mac || id || name || ip)) {
                xnode_remove(dhcp, i);
                return 0;
            }
        }
        return verr_set(err, ENOENT,
                        "Requested operation is not valid: couldn't locate a matching dhcp host "
                        "entry in network '%s'",
                        net);
    }
    for (size_t i = 0; i < dhcp->nkids; i++) {
        struct xnode *k = dhcp->kids[i];
        if (!k->name || strcmp(k->name, "host") != 0)
            continue;
        if ((mac && same_attr(k, h, "mac", true)) || (id && same_attr(k, h, "id", true)) ||
            (name && same_attr(k, h, "name", false)) || (ip && same_attr(k, h, "ip", false)))
            return verr_set(err, EEXIST,
                            "Requested operation is not valid: there is an existing dhcp host "
                            "entry in network '%s' that matches \"<host mac='%s' name='%s' "
                            "ip='%s'/>\"",
                            net, mac ? mac : "", name ? name : "", ip ? ip : "");
    }
    insert_kid(dhcp, place(dhcp, "host", command == NETWORK_UPDATE_ADD_FIRST), xnode_copy(h));
    return 0;
}

static int update_range(struct xnode *dhcp, unsigned command, struct xnode *r, const char *net,
                        struct verr *err)
{
    if (command == NETWORK_UPDATE_MODIFY)
        return verr_set(err, ENOTSUP,
                        "this function is not supported by the connection driver: dhcp ranges "
                        "cannot be modified, only added or deleted");
    for (size_t i = 0; i < dhcp->nkids; i++) {
        struct xnode *k = dhcp->kids[i];
        if (!k->name || strcmp(k->name, "range") != 0 || !same_attr(k, r, "start", false) ||
            !same_attr(k, r, "end", false))
            continue;
        if (command == NETWORK_UPDATE_DELETE) {
            xnode_remove(dhcp, i);
            return 0;
        }
        return verr_set(err, EEXIST,
                        "Requested operation is not valid: there is an existing dhcp range entry "
                        "in network '%s' that matches \"<range start='%s' end='%s'/>\"",
                        net, xnode_attr(r, "start"), xnode_attr(r, "end"));
    }
    if (command == NETWORK_UPDATE_DELETE)
        return verr_set(err, ENOENT,
                        "Requested operation is not valid: couldn't locate a matching dhcp range "
                        "entry in network '%s'",
                        net);
    insert_kid(dhcp, place(dhcp, "range", command == NETWORK_UPDATE_ADD_FIRST), xnode_copy(r));
    return 0;
}

static int update_portgroup(struct xnode *root, unsigned command, struct xnode *pg, const char *net,
                            struct verr *err)
{
    const char *name = xnode_attr(pg, "name");
    if (!name)
        return verr_set(err, EINVAL, "XML error: Missing required name attribute in portgroup");
    size_t found = root->nkids;
    bool other_default = false;
    for (size_t i = 0; i < root->nkids; i++) {
        struct xnode *k = root->kids[i];
        if (!k->name || strcmp(k->name, "portgroup") != 0)
            continue;
        if (same_attr(k, pg, "name", false))
            found = i;
        else if (xnode_attr(k, "default") && strcmp(xnode_attr(k, "default"), "yes") == 0)
            other_default = true;
    }
    if (command == NETWORK_UPDATE_DELETE || command == NETWORK_UPDATE_MODIFY) {
        if (found == root->nkids)
            return verr_set(err, ENOENT,
                            "Requested operation is not valid: couldn't find a portgroup entry "
                            "named '%s' in network '%s'",
                            name, net);
    } else if (found != root->nkids) {
        return verr_set(err, EEXIST,
                        "Requested operation is not valid: there is already a portgroup entry "
                        "named '%s' in network '%s'",
                        name, net);
    }
    const char *dflt = xnode_attr(pg, "default");
    if (command != NETWORK_UPDATE_DELETE && dflt && strcmp(dflt, "yes") == 0 && other_default)
        return verr_set(err, EINVAL,
                        "Requested operation is not valid: a different portgroup entry in "
                        "network '%s' is already set as the default. Only one default is allowed.",
                        net);
    if (command == NETWORK_UPDATE_DELETE) {
        xnode_remove(root, found);
    } else if (command == NETWORK_UPDATE_MODIFY) {
        xnode_free(root->kids[found]);
        root->kids[found] = xnode_copy(pg);
    } else {
        insert_kid(root, place(root, "portgroup", command == NETWORK_UPDATE_ADD_FIRST),
                   xnode_copy(pg));
    }
    return 0;
}

int network_def_update(const struct network_def *def, unsigned command, unsigned section,
                       int parent_index, const char *xml, struct network_def **out,
                       struct verr *err)
{
    *out = NULL;
    const char *what = section_name(section);
    if (!what || section == NETWORK_SECTION_NONE)
        return verr_set(err, ENOTSUP,
                        "this function is not supported by the connection driver: can't update "
                        "unrecognized section of network");
    bool dns = section >= NETWORK_SECTION_DNS_HOST && section <= NETWORK_SECTION_DNS_SRV;
    if (section != NETWORK_SECTION_IP_DHCP_HOST && section != NETWORK_SECTION_IP_DHCP_RANGE &&
        section != NETWORK_SECTION_PORTGROUP && !dns)
        return verr_set(err, ENOTSUP,
                        "this function is not supported by the connection driver: can't update "
                        "'%s' section of network '%s'",
                        what, def->name);
    if (command < NETWORK_UPDATE_MODIFY || command > NETWORK_UPDATE_ADD_FIRST)
        return verr_set(err, EINVAL,
                        "this function is not supported by the connection driver: can't update "
                        "'%s' section of network '%s': unknown command %u",
                        what, def->name, command);
    struct xnode *item = NULL, *root = NULL;
    int r = xnode_parse_xml(xml, strlen(xml), "network update XML", &item, err);
    if (r < 0)
        return r;
    const char *want = section == NETWORK_SECTION_PORTGROUP ? "portgroup"
                       : dns                                ? what + 4 /* "dns host" */
                                                            : what;
    if (strcmp(item->name, want) != 0) {
        r = verr_set(err, EINVAL,
                     "XML error: unexpected element <%s>, expecting <%s>, while updating network "
                     "'%s'",
                     item->name, want, def->name);
        goto out;
    }
    char *text = network_def_format(def, 0);
    r = xnode_parse_xml(text, strlen(text), "network XML", &root, err);
    free(text);
    if (r < 0)
        goto out;
    if (section == NETWORK_SECTION_PORTGROUP) {
        r = update_portgroup(root, command, item, def->name, err);
    } else if (dns) {
        r = network_dns_update(root, command, section, item, def->name, err);
    } else {
        struct xnode *ip = ip_for(root, parent_index, what, def->name, err);
        if (!ip) {
            r = -EINVAL;
            goto out;
        }
        struct xnode *dhcp = xnode_ensure_child(ip, "dhcp", false);
        r = section == NETWORK_SECTION_IP_DHCP_HOST
                ? update_host(dhcp, command, item, def->name, err)
                : update_range(dhcp, command, item, def->name, err);
        if (r == 0 && dhcp->nkids == 0) /* the last entry went: no empty <dhcp/> */
            for (size_t i = 0; i < ip->nkids; i++)
                if (ip->kids[i] == dhcp) {
                    xnode_remove(ip, i);
                    break;
                }
    }
    if (r < 0)
        goto out;
    struct buf b = BUF_INIT;
    xnode_format(root, &b, 0);
    r = network_def_parse_string(buf_cstr(&b), 0, out, err);
    buf_free(&b);
out:
    xnode_free(item);
    xnode_free(root);
    return r;
}
