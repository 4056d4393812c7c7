/*
 * xnode.c - the owned XML element tree used to keep unmodelled parts of a
 * definition verbatim (see xnode.h). Printing follows libvirt's style so kept
 * parts are indistinguishable from modelled ones in the output.
 */
#include "conf/xnode.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"
#include "util/str.h"

struct xnode *xnode_new(const char *name)
{
    struct xnode *n = xcalloc(1, sizeof(*n));
    n->name = name ? xstrdup(name) : NULL;
    return n;
}

struct xnode *xnode_copy(const struct xnode *n)
{
    if (!n)
        return NULL;
    struct xnode *c = xnode_new(n->name);
    c->text = n->text ? xstrdup(n->text) : NULL;
    if (n->nattrs) {
        c->attrs = xcalloc(n->nattrs * 2, sizeof(char *));
        for (size_t i = 0; i < n->nattrs * 2; i++)
            c->attrs[i] = xstrdup(n->attrs[i]);
        c->nattrs = n->nattrs;
    }
    if (n->nkids) {
        c->kids = xcalloc(n->nkids, sizeof(*c->kids));
        for (size_t i = 0; i < n->nkids; i++)
            c->kids[i] = xnode_copy(n->kids[i]);
        c->nkids = n->nkids;
    }
    return c;
}

void xnode_free(struct xnode *n)
{
    if (!n)
        return;
    free(n->name);
    free(n->text);
    for (size_t i = 0; i < n->nattrs * 2; i++)
        free(n->attrs[i]);
    free(n->attrs);
    for (size_t i = 0; i < n->nkids; i++)
        xnode_free(n->kids[i]);
    free(n->kids);
    free(n);
}

const char *xnode_attr(const struct xnode *n, const char *name)
{
    if (!n)
        return NULL;
    for (size_t i = 0; i < n->nattrs; i++)
        if (strcmp(n->attrs[2 * i], name) == 0)
            return n->attrs[2 * i + 1];
    return NULL;
}

void xnode_set_attr(struct xnode *n, const char *name, const char *value)
{
    for (size_t i = 0; i < n->nattrs; i++) {
        if (strcmp(n->attrs[2 * i], name) != 0)
            continue;
        if (value) {
            char *v = xstrdup(value);
            free(n->attrs[2 * i + 1]);
            n->attrs[2 * i + 1] = v;
        } else {
            free(n->attrs[2 * i]);
            free(n->attrs[2 * i + 1]);
            memmove(&n->attrs[2 * i], &n->attrs[2 * i + 2],
                    (n->nattrs - i - 1) * 2 * sizeof(char *));
            n->nattrs--;
        }
        return;
    }
    if (!value)
        return;
    n->attrs = xreallocarray(n->attrs, (n->nattrs + 1) * 2, sizeof(char *));
    n->attrs[2 * n->nattrs] = xstrdup(name);
    n->attrs[2 * n->nattrs + 1] = xstrdup(value);
    n->nattrs++;
}

struct xnode *xnode_child(const struct xnode *n, const char *name)
{
    if (!n)
        return NULL;
    for (size_t i = 0; i < n->nkids; i++)
        if (n->kids[i]->name && strcmp(n->kids[i]->name, name) == 0)
            return n->kids[i];
    return NULL;
}

struct xnode *xnode_add(struct xnode *n, struct xnode *kid)
{
    n->kids = xreallocarray(n->kids, n->nkids + 1, sizeof(*n->kids));
    n->kids[n->nkids++] = kid;
    return kid;
}

void xnode_remove(struct xnode *n, size_t i)
{
    if (i >= n->nkids)
        return;
    xnode_free(n->kids[i]);
    memmove(&n->kids[i], &n->kids[i + 1], (n->nkids - i - 1) * sizeof(*n->kids));
    n->nkids--;
}

const char *xnode_text(const struct xnode *n)
{
    if (!n)
        return "";
    for (size_t i = 0; i < n->nkids; i++)
        if (!n->kids[i]->name && n->kids[i]->text)
            return n->kids[i]->text;
    return "";
}

void xnode_set_text(struct xnode *n, const char *text)
{
    for (size_t i = n->nkids; i-- > 0;)
        if (!n->kids[i]->name)
            xnode_remove(n, i);
    if (text && *text) {
        struct xnode *t = xnode_new(NULL);
        t->text = xstrdup(text);
        xnode_add(n, t);
    }
}

void xml_escape(struct buf *out, const char *s, bool attr)
{
    for (; *s; s++) {
        switch (*s) {
        case '<':
            buf_append_str(out, "&lt;");
            break;
        case '>':
            buf_append_str(out, "&gt;");
            break;
        case '&':
            buf_append_str(out, "&amp;");
            break;
        case '\'':
            buf_append_str(out, attr ? "&apos;" : "'");
            break;
        case '"':
            buf_append_str(out, attr ? "&quot;" : "\"");
            break;
        default:
            buf_append_byte(out, (unsigned char)*s);
        }
    }
}

static void indent_to(struct buf *out, int indent)
{
    for (int i = 0; i < indent; i++)
        buf_append_str(out, "  ");
}

static void format_q(const struct xnode *n, struct buf *out, int indent, char q)
{
    if (!n->name) {
        xml_escape(out, n->text ? n->text : "", false);
        return;
    }
    indent_to(out, indent);
    buf_printf(out, "<%s", n->name);
    for (size_t i = 0; i < n->nattrs; i++) {
        buf_printf(out, " %s=%c", n->attrs[2 * i], q);
        xml_escape(out, n->attrs[2 * i + 1], true);
        buf_append_byte(out, (uint8_t)q);
    }
    bool has_elem = false, has_text = false;
    for (size_t i = 0; i < n->nkids; i++) {
        if (n->kids[i]->name)
            has_elem = true;
        else if (n->kids[i]->text && *n->kids[i]->text)
            has_text = true;
    }
    if (!has_elem && !has_text) {
        buf_append_str(out, "/>\n");
        return;
    }
    buf_append_byte(out, '>');
    if (!has_elem) {
        for (size_t i = 0; i < n->nkids; i++)
            format_q(n->kids[i], out, 0, q);
    } else {
        /* Mixed or element content: whitespace-only text is re-indented away. */
        buf_append_byte(out, '\n');
        for (size_t i = 0; i < n->nkids; i++) {
            const struct xnode *k = n->kids[i];
            if (!k->name) {
                const char *t = k->text ? k->text : "";
                if (t[strspn(t, " \t\r\n")] == '\0')
                    continue;
                /* Mixed content: printed trimmed on its own line, so printing is stable. */
                size_t lead = strspn(t, " \t\r\n"), len = strlen(t + lead);
                while (len && strchr(" \t\r\n", t[lead + len - 1]))
                    len--;
                char *trimmed = xstrndup(t + lead, len);
                indent_to(out, indent + 1);
                xml_escape(out, trimmed, false);
                free(trimmed);
                buf_append_byte(out, '\n');
                continue;
            }
            format_q(k, out, indent + 1, q);
        }
        indent_to(out, indent);
    }
    buf_printf(out, "</%s>\n", n->name);
}

void xnode_format(const struct xnode *n, struct buf *out, int indent)
{
    format_q(n, out, indent, '\'');
}

void xnode_format_dq(const struct xnode *n, struct buf *out, int indent)
{
    format_q(n, out, indent, '"');
}

/* ---- libxml2 -> xnode ---- */

#include <errno.h>
#include <libxml/parser.h>
#include <libxml/relaxng.h>
#include <libxml/tree.h>

#define XNODE_MAX_DEPTH 200

static char *qualified_name(const xmlChar *prefix, const xmlChar *name)
{
    if (prefix)
        return xasprintf("%s:%s", (const char *)prefix, (const char *)name);
    return xstrdup((const char *)name);
}

static struct xnode *convert(xmlNode *x, int depth)
{
    struct xnode *n = xcalloc(1, sizeof(*n));
    n->name = qualified_name(x->ns ? x->ns->prefix : NULL, x->name);
    for (xmlNs *ns = x->nsDef; ns; ns = ns->next) {
        char *an = ns->prefix ? xasprintf("xmlns:%s", (const char *)ns->prefix) : xstrdup("xmlns");
        xnode_set_attr(n, an, ns->href ? (const char *)ns->href : "");
        free(an);
    }
    for (xmlAttr *a = x->properties; a; a = a->next) {
        char *an = qualified_name(a->ns ? a->ns->prefix : NULL, a->name);
        xmlChar *v = xmlNodeGetContent((xmlNode *)a);
        xnode_set_attr(n, an, v ? (const char *)v : "");
        xmlFree(v);
        free(an);
    }
    struct buf text = BUF_INIT;
    bool have_text = false;
    for (xmlNode *c = x->children; c; c = c->next) {
        if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE ||
            c->type == XML_ENTITY_REF_NODE) {
            xmlChar *v = xmlNodeGetContent(c);
            if (v)
                buf_append_str(&text, (const char *)v);
            xmlFree(v);
            have_text = true;
            continue;
        }
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (have_text) {
            struct xnode *t = xnode_new(NULL);
            t->text = xstrdup(buf_cstr(&text));
            xnode_add(n, t);
            buf_reset(&text);
            have_text = false;
        }
        if (depth < XNODE_MAX_DEPTH)
            xnode_add(n, convert(c, depth + 1));
    }
    if (have_text) {
        struct xnode *t = xnode_new(NULL);
        t->text = xstrdup(buf_cstr(&text));
        xnode_add(n, t);
    }
    buf_free(&text);
    return n;
}

static xmlDoc *read_doc(const char *xml, size_t len, const char *what, struct verr *err)
{
    if (len > (size_t)INT32_MAX) {
        verr_set(err, EINVAL, "%s is too large", what);
        return NULL;
    }
    xmlParserCtxt *ctxt = xmlNewParserCtxt();
    if (!ctxt) {
        verr_set(err, ENOMEM, "cannot parse %s: out of memory", what);
        return NULL;
    }
    xmlDoc *doc = xmlCtxtReadMemory(ctxt, xml, (int)len, what, NULL,
                                    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc || !xmlDocGetRootElement(doc)) {
        const xmlError *e = xmlCtxtGetLastError(ctxt);
        if (e && e->message) {
            char msg[256];
            str_copy(msg, sizeof(msg), e->message);
            size_t l = strlen(msg);
            while (l && (msg[l - 1] == '\n' || msg[l - 1] == ' '))
                msg[--l] = '\0';
            verr_set(err, EINVAL, "invalid %s at line %d: %s", what, e->line, msg);
        } else {
            verr_set(err, EINVAL, "invalid %s: no root element", what);
        }
        xmlFreeDoc(doc);
        xmlFreeParserCtxt(ctxt);
        return NULL;
    }
    xmlFreeParserCtxt(ctxt);
    /* No DTDs: entity declarations would let a small document expand without bound. */
    if (doc->intSubset || doc->extSubset) {
        verr_set(err, EINVAL, "invalid %s: a DOCTYPE declaration is not allowed", what);
        xmlFreeDoc(doc);
        return NULL;
    }
    return doc;
}

int xnode_parse_xml(const char *xml, size_t len, const char *what, struct xnode **out,
                    struct verr *err)
{
    *out = NULL;
    xmlDoc *doc = read_doc(xml, len, what, err);
    if (!doc)
        return -EINVAL;
    *out = convert(xmlDocGetRootElement(doc), 0);
    xmlFreeDoc(doc);
    return 0;
}

struct rng_errors {
    struct buf msgs; /* every message, "; "-separated, like libvirt lists them */
    int line;        /* first line number reported */
    int count;
};

static void rng_error(void *data, const xmlError *e)
{
    struct rng_errors *r = data;
    if (!e || !e->message || r->count >= 4)
        return;
    char msg[256];
    str_copy(msg, sizeof(msg), e->message);
    size_t l = strlen(msg);
    while (l && (msg[l - 1] == '\n' || msg[l - 1] == ' '))
        msg[--l] = '\0';
    if (r->count++)
        buf_append_str(&r->msgs, "; ");
    buf_append_str(&r->msgs, msg);
    if (!r->line && e->line > 0)
        r->line = e->line;
}

static void rng_quiet(void *data, const xmlError *e)
{
    (void)data;
    (void)e;
}

int xnode_validate_rng(const char *xml, size_t len, const char *schema_path, struct verr *err)
{
    xmlRelaxNGParserCtxt *pctxt = xmlRelaxNGNewParserCtxt(schema_path);
    if (!pctxt)
        return verr_set(err, ENOENT, "cannot load schema '%s'", schema_path);
    xmlRelaxNGSetParserStructuredErrors(pctxt, (xmlStructuredErrorFunc)rng_quiet, NULL);
    xmlRelaxNG *schema = xmlRelaxNGParse(pctxt);
    xmlRelaxNGFreeParserCtxt(pctxt);
    if (!schema)
        return verr_set(err, ENOENT, "cannot load schema '%s'", schema_path);
    int r = 0;
    xmlDoc *doc = read_doc(xml, len, "XML", err);
    if (!doc) {
        xmlRelaxNGFree(schema);
        return -EINVAL;
    }
    xmlRelaxNGValidCtxt *vctxt = xmlRelaxNGNewValidCtxt(schema);
    struct rng_errors re = {.msgs = BUF_INIT};
    xmlRelaxNGSetValidStructuredErrors(vctxt, (xmlStructuredErrorFunc)rng_error, &re);
    if (xmlRelaxNGValidateDoc(vctxt, doc) != 0) {
        if (re.line)
            verr_set(err, EINVAL, "XML document failed to validate against schema %s: line %d: %s",
                     schema_path, re.line, buf_cstr(&re.msgs));
        else
            verr_set(err, EINVAL, "XML document failed to validate against schema %s: %s",
                     schema_path, re.count ? buf_cstr(&re.msgs) : "invalid document");
        r = -EINVAL;
    }
    buf_free(&re.msgs);
    xmlRelaxNGFreeValidCtxt(vctxt);
    xmlFreeDoc(doc);
    xmlRelaxNGFree(schema);
    return r;
}

/* ---- small edits the normalisers make ---- */

void xnode_child_to_end(struct xnode *n, const char *name)
{
    for (size_t i = 0; i < n->nkids; i++) {
        if (n->kids[i]->name && strcmp(n->kids[i]->name, name) == 0) {
            struct xnode *k = n->kids[i];
            memmove(&n->kids[i], &n->kids[i + 1], (n->nkids - i - 1) * sizeof(*n->kids));
            n->kids[n->nkids - 1] = k;
            return;
        }
    }
}

void xnode_order_attrs(struct xnode *n, const char *const *order)
{
    struct xnode *tmp = xnode_new("tmp");
    for (const char *const *o = order; *o; o++) {
        const char *v = xnode_attr(n, *o);
        if (v)
            xnode_set_attr(tmp, *o, v);
    }
    for (size_t i = 0; i < n->nattrs; i++)
        if (!xnode_attr(tmp, n->attrs[2 * i]))
            xnode_set_attr(tmp, n->attrs[2 * i], n->attrs[2 * i + 1]);
    for (size_t i = 0; i < n->nattrs * 2; i++)
        free(n->attrs[i]);
    free(n->attrs);
    n->attrs = tmp->attrs;
    n->nattrs = tmp->nattrs;
    tmp->attrs = NULL;
    tmp->nattrs = 0;
    xnode_free(tmp);
}

struct xnode *xnode_ensure_child(struct xnode *n, const char *name, bool first)
{
    struct xnode *k = xnode_child(n, name);
    if (k)
        return k;
    k = xnode_new(name);
    xnode_add(n, k);
    if (first) {
        memmove(&n->kids[1], &n->kids[0], (n->nkids - 1) * sizeof(*n->kids));
        n->kids[0] = k;
    }
    return k;
}

void xnode_set_uint_attr(struct xnode *n, const char *name, unsigned v)
{
    char b[16];
    snprintf(b, sizeof(b), "%u", v);
    xnode_set_attr(n, name, b);
}
