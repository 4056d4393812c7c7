/*
 * xnode.h - a small owned XML element tree.
 *
 * The domain model keeps the parts of a definition it does not interpret
 * (metadata, features, clock, seclabel, unknown devices, ...) as xnode trees
 * so they survive a parse/format round trip, and are printed with the same
 * canonical indentation and quoting as the modelled parts. The tree is plain
 * data: copy, free, look up children and attributes, print.
 */
#ifndef VIREO_CONF_XNODE_H
#define VIREO_CONF_XNODE_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"
#include "util/error.h"

struct xnode {
    char *name;          /* element name; NULL for a text node */
    char *text;          /* text content of a text node */
    char **attrs;        /* name, value, name, value, ... */
    size_t nattrs;       /* number of pairs */
    struct xnode **kids; /* children in document order */
    size_t nkids;
};

struct xnode *xnode_new(const char *name);
struct xnode *xnode_copy(const struct xnode *n);
void xnode_free(struct xnode *n);
/* Attribute value or NULL. */
const char *xnode_attr(const struct xnode *n, const char *name);
/* Sets (replacing) or, with value NULL, removes an attribute. */
void xnode_set_attr(struct xnode *n, const char *name, const char *value);
/* First child element called name, or NULL. */
struct xnode *xnode_child(const struct xnode *n, const char *name);
/* Appends kid (taking ownership); returns it. */
struct xnode *xnode_add(struct xnode *n, struct xnode *kid);
/* Removes and frees child i. */
void xnode_remove(struct xnode *n, size_t i);
/* Concatenated text of a node's direct text children ("" when none). */
const char *xnode_text(const struct xnode *n);
void xnode_set_text(struct xnode *n, const char *text);
/* Prints n at `indent` levels of two spaces, libvirt style: single-quoted attributes, empty
 * elements as <x/>. */
void xnode_format(const struct xnode *n, struct buf *out, int indent);
/* The same with double-quoted attributes (libvirt prints foreign <metadata> content so). */
void xnode_format_dq(const struct xnode *n, struct buf *out, int indent);
/* Moves the first child called name to the end (libvirt prints <address> last). */
void xnode_child_to_end(struct xnode *n, const char *name);
/* Rebuilds the attributes in the given order (NULL-terminated); others keep their order after. */
void xnode_order_attrs(struct xnode *n, const char *const *order);
/* The child called name, created (first or last among the children) when absent. */
struct xnode *xnode_ensure_child(struct xnode *n, const char *name, bool first);
void xnode_set_uint_attr(struct xnode *n, const char *name, unsigned v);
/* XML-escapes s into out; `attr` also escapes quotes. */
void xml_escape(struct buf *out, const char *s, bool attr);

/*
 * Parses an XML document (no network, no entity expansion, no DTD loading)
 * into a tree. Comments and processing instructions are dropped; namespace
 * prefixes stay part of names and xmlns declarations become attributes, so
 * foreign elements in <metadata> print back as written. `what` names the
 * document in errors ("domain XML"). Returns 0 or -EINVAL.
 */
int xnode_parse_xml(const char *xml, size_t len, const char *what, struct xnode **out,
                    struct verr *err);
/*
 * Validates the document against a RelaxNG schema file (libvirt's, e.g.
 * /usr/share/libvirt/schemas/domain.rng). Returns 0, -EINVAL with the first
 * problem in err, or -ENOENT when the schema cannot be loaded.
 */
int xnode_validate_rng(const char *xml, size_t len, const char *schema_path, struct verr *err);

#endif
