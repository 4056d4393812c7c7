/*
 * rpc-metadata.c - virsh desc and metadata: virDomainSetMetadata and
 * virDomainGetMetadata (DOMAIN_SET/GET_METADATA) on the definition's <title>,
 * <description> and the elements of <metadata>, with libvirt's --live/--config.
 *
 * An element of <metadata> belongs to a namespace URI: a set parses the
 * caller's XML, puts its root element in the namespace under the prefix `key`
 * (xmlns:key="uri", as libvirt does, the children left as written) and
 * replaces whatever element had that URI; without XML it removes that element.
 * A get prints the element of the URI as it is stored.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conf/xnode.h"
#include "daemon/domain.h"
#include "daemon/server.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/mem.h"

enum { META_DESCRIPTION = 0, META_TITLE = 1, META_ELEMENT = 2 };

/* The namespace URI an element of <metadata> is in: its prefix's xmlns, or the default one. */
static const char *element_uri(const struct xnode *n)
{
    const char *colon = strchr(n->name, ':');
    if (!colon)
        return xnode_attr(n, "xmlns");
    char *attr = xasprintf("xmlns:%.*s", (int)(colon - n->name), n->name);
    const char *uri = xnode_attr(n, attr);
    free(attr);
    return uri;
}

/* Index in <metadata> of the element in namespace uri, or -1. */
static int find_element(const struct xnode *meta, const char *uri)
{
    for (size_t i = 0; meta && i < meta->nkids; i++) {
        const struct xnode *k = meta->kids[i];
        const char *u = k->name ? element_uri(k) : NULL;
        if (u && !strcmp(u, uri))
            return (int)i;
    }
    return -1;
}

/* An XML name's first character or a later one, ASCII only (a prefix is an NCName). */
static bool valid_prefix(const char *key)
{
    if (!*key || !(((*key | 0x20) >= 'a' && (*key | 0x20) <= 'z') || *key == '_'))
        return false;
    for (const char *p = key; *p; p++)
        if (!(((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' ||
              *p == '-' || *p == '.'))
            return false;
    return true;
}

/* Puts n and every element below it under prefix (NULL: none), replacing the one it had. */
static void set_prefix(struct xnode *n, const char *prefix)
{
    if (!n->name)
        return;
    const char *colon = strchr(n->name, ':');
    const char *local = colon ? colon + 1 : n->name;
    char *name = prefix ? xasprintf("%s:%s", prefix, local) : xstrdup(local);
    free(n->name);
    n->name = name;
    for (size_t i = 0; i < n->nkids; i++)
        set_prefix(n->kids[i], prefix);
}

/* Applies one change to def; -1 with err set when the XML is refused. */
static int apply(struct domain_def *def, int type, const char *text, struct xnode *element)
{
    switch (type) {
    case META_DESCRIPTION:
        free(def->description);
        def->description = text && *text ? xstrdup(text) : NULL;
        return 0;
    case META_TITLE:
        free(def->title);
        def->title = text && *text ? xstrdup(text) : NULL;
        return 0;
    default: {
        const char *uri = element ? element_uri(element) : text;
        int i;
        while ((i = find_element(def->metadata, uri)) >= 0)
            xnode_remove(def->metadata, (size_t)i);
        if (element) {
            if (!def->metadata)
                def->metadata = xnode_new("metadata");
            xnode_add(def->metadata, xnode_copy(element));
        }
        return 0;
    }
    }
}

static int set_metadata(struct vd_call *c)
{
    const struct remote_domain_set_metadata_args *a = c->args;
    const char *fn = "virDomainSetMetadata";
    if (a->type == META_TITLE && a->metadata && strchr(a->metadata, '\n'))
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: metadata title can't contain newlines");
    if ((a->type == META_TITLE || a->type == META_DESCRIPTION) && (a->uri || a->key))
        return vd_call_fail(c, VIR_ERR_INVALID_ARG, "invalid argument: %s in %s must be NULL",
                            a->uri ? "uri" : "key", fn);
    if (a->type == META_ELEMENT && (!a->uri || (a->metadata && !a->key)))
        return vd_call_fail(c, VIR_ERR_INVALID_ARG, "invalid argument: %s in %s must not be NULL",
                            !a->uri ? "uri" : "key", fn);
    if (a->type < META_DESCRIPTION || a->type > META_ELEMENT)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG, "invalid argument: unknown metadata type '%d'",
                            a->type);
    bool live, config;
    if (vd_call_impact(c, a->flags, &live, &config) < 0)
        return -1;
    struct xnode *element = NULL;
    if (a->type == META_ELEMENT && a->metadata) {
        if (!valid_prefix(a->key))
            return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                                "invalid argument: invalid namespace prefix '%s'", a->key);
        struct verr e = {0};
        if (xnode_parse_xml(a->metadata, strlen(a->metadata), "(metadata_xml)", &element, &e) < 0) {
            /* libvirt's parser line: "(metadata_xml):LINE: MESSAGE" */
            const char *m = verr_msg(&e), *at = strstr(m, " at line ");
            int line = at ? atoi(at + 9) : 0;
            const char *why = at ? strstr(at, ": ") : NULL;
            if (line > 0 && why)
                return vd_call_fail(c, VIR_ERR_XML_DETAIL, "(metadata_xml):%d: %s", line, why + 2);
            return vd_call_fail(c, VIR_ERR_XML_ERROR, "XML error: %s", m);
        }
        /* the element and those below go into the namespace as key:NAME, as libvirt stores
         * them (a prefix they had is replaced) */
        set_prefix(element, a->key);
        char *attr = xasprintf("xmlns:%s", a->key);
        xnode_set_attr(element, attr, a->uri);
        free(attr);
    }
    struct vd_domain *dom = c->dom;
    const char *uri = a->type == META_ELEMENT ? a->uri : NULL;
    if (config) {
        struct domain_def *copy = domain_def_copy(vd_domain_config(dom));
        apply(copy, a->type, a->type == META_ELEMENT ? uri : a->metadata, element);
        struct verr e = {0};
        int r = vd_domain_commit_config(c->d, dom, copy, &e);
        if (r < 0) {
            xnode_free(element);
            return vd_call_fail_errno(c, r, &e);
        }
    }
    if (live) {
        apply(dom->def, a->type, a->type == META_ELEMENT ? uri : a->metadata, element);
        vd_domain_save_status(c->d, dom);
    }
    xnode_free(element);
    return 0;
}

static int get_metadata(struct vd_call *c)
{
    const struct remote_domain_get_metadata_args *a = c->args;
    struct remote_domain_get_metadata_ret *r = c->ret;
    const char *fn = "virDomainGetMetadata";
    if ((a->type == META_TITLE || a->type == META_DESCRIPTION) && a->uri)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG, "invalid argument: uri in %s must be NULL", fn);
    if (a->type == META_ELEMENT && !a->uri)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG, "invalid argument: uri in %s must not be NULL",
                            fn);
    if (a->type < META_DESCRIPTION || a->type > META_ELEMENT)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG, "invalid argument: unknown metadata type '%d'",
                            a->type);
    bool live, config;
    if (vd_call_impact_query(c, a->flags, &live, &config) < 0)
        return -1;
    const struct domain_def *def = live ? c->dom->def : vd_domain_config(c->dom);
    const char *text = a->type == META_TITLE ? def->title : def->description;
    int i = a->type == META_ELEMENT ? find_element(def->metadata, a->uri) : -1;
    if (a->type == META_ELEMENT && i >= 0) {
        struct buf b;
        buf_init(&b);
        /* libvirt hands the element back outside its namespace: no prefix, no xmlns */
        struct xnode *copy = xnode_copy(def->metadata->kids[i]);
        const char *colon = strchr(copy->name, ':');
        if (colon) {
            char *attr = xasprintf("xmlns:%.*s", (int)(colon - copy->name), copy->name);
            xnode_set_attr(copy, attr, NULL);
            free(attr);
        } else {
            xnode_set_attr(copy, "xmlns", NULL);
        }
        set_prefix(copy, NULL);
        xnode_format_dq(copy, &b, 0);
        xnode_free(copy);
        r->metadata = buf_detach(&b, NULL);
        size_t l = strlen(r->metadata); /* no final newline, as libvirt prints it */
        if (l && r->metadata[l - 1] == '\n')
            r->metadata[l - 1] = '\0';
        return 0;
    }
    if (a->type != META_ELEMENT && text) {
        r->metadata = xstrdup(text);
        return 0;
    }
    return vd_call_fail(c, VIR_ERR_NO_DOMAIN_METADATA,
                        "metadata not found: Requested metadata element is not present");
}

static const struct vd_proc procs[] = {
    {REMOTE_PROC_DOMAIN_SET_METADATA, set_metadata},
    {REMOTE_PROC_DOMAIN_GET_METADATA, get_metadata},
};
VD_PROC_TABLE(vd_metadata_procs, procs);
