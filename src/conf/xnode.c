/*
 * xnode.c - the owned XML element tree used to keep unmodelled parts of a
 * definition verbatim (see xnode.h). Printing follows libvirt's style so kept
 * parts are indistinguishable from modelled ones in the output.
 */
#include "conf/xnode.h"

#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

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

void xnode_format(const struct xnode *n, struct buf *out, int indent)
{
    if (!n->name) {
        xml_escape(out, n->text ? n->text : "", false);
        return;
    }
    indent_to(out, indent);
    buf_printf(out, "<%s", n->name);
    for (size_t i = 0; i < n->nattrs; i++) {
        buf_printf(out, " %s='", n->attrs[2 * i]);
        xml_escape(out, n->attrs[2 * i + 1], true);
        buf_append_byte(out, '\'');
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
            xnode_format(n->kids[i], out, 0);
    } else {
        /* Mixed or element content: whitespace-only text is re-indented away. */
        buf_append_byte(out, '\n');
        for (size_t i = 0; i < n->nkids; i++) {
            const struct xnode *k = n->kids[i];
            if (!k->name) {
                const char *t = k->text ? k->text : "";
                if (t[strspn(t, " \t\r\n")] == '\0')
                    continue;
                indent_to(out, indent + 1);
                xnode_format(k, out, 0);
                buf_append_byte(out, '\n');
                continue;
            }
            xnode_format(k, out, indent + 1);
        }
        indent_to(out, indent);
    }
    buf_printf(out, "</%s>\n", n->name);
}
