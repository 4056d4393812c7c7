/*
 * spec.c - the tree behind a format's "Format specific information" (see
 * struct block_spec in block.h): drivers build it in the order qemu-img
 * prints the keys, vireo-img walks it to print text or JSON.
 */
#include "block/block.h"
#include "util/mem.h"

#include <stdlib.h>

struct block_spec *block_spec_add(struct block_spec *parent, enum block_spec_type type,
                                  const char *key)
{
    struct block_spec *n = xcalloc(1, sizeof(*n));
    n->type = type;
    n->key = key ? xstrdup(key) : NULL;
    if (parent) {
        if (parent->last)
            parent->last->next = n;
        else
            parent->children = n;
        parent->last = n;
    }
    return n;
}

void block_spec_add_str(struct block_spec *parent, const char *key, const char *value)
{
    block_spec_add(parent, BLOCK_SPEC_STR, key)->str = xstrdup(value);
}

void block_spec_add_int(struct block_spec *parent, const char *key, int64_t value)
{
    block_spec_add(parent, BLOCK_SPEC_INT, key)->num = value;
}

void block_spec_add_bool(struct block_spec *parent, const char *key, bool value)
{
    block_spec_add(parent, BLOCK_SPEC_BOOL, key)->flag = value;
}

void block_spec_free(struct block_spec *node)
{
    while (node) {
        struct block_spec *next = node->next;
        block_spec_free(node->children);
        free(node->key);
        free(node->str);
        free(node);
        node = next;
    }
}
