/*
 * table.c - virsh's table layout, which scripts and eyes both rely on:
 *
 *      Id   Name   State
 *     ----------------------
 *      1    test   running
 *
 * Each line starts with one space; cells are left-aligned and padded to the
 * column's widest cell, columns are three spaces apart, and the last cell is
 * not padded. The dash line is as long as the widths plus three per column.
 * Widths count characters, not bytes, so UTF-8 names line up.
 */
#include "tools/vsh/vsh.h"
#include "util/mem.h"

#include <stdlib.h>
#include <string.h>

struct vsh_table *vsh_table_new(int ncols, const char *const *header)
{
    struct vsh_table *t = xcalloc(1, sizeof(*t));
    t->ncols = ncols;
    vsh_table_add(t, header);
    return t;
}

void vsh_table_add(struct vsh_table *t, const char *const *row)
{
    t->cells = xreallocarray(t->cells, (size_t)(t->nrows + 1) * (size_t)t->ncols, sizeof(char *));
    for (int c = 0; c < t->ncols; c++)
        t->cells[t->nrows * t->ncols + c] = xstrdup(row[c] ? row[c] : "");
    t->nrows++;
}

/* Characters in a UTF-8 string (continuation bytes do not count). */
static size_t display_width(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            n++;
    return n;
}

static void pad(struct buf *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        buf_append_byte(out, ' ');
}

void vsh_table_format(const struct vsh_table *t, bool no_header, struct buf *out)
{
    size_t *width = xcalloc((size_t)t->ncols, sizeof(*width));
    /* Without the header (virsh -q) only the rows set the widths. */
    for (int r = no_header ? 1 : 0; r < t->nrows; r++)
        for (int c = 0; c < t->ncols; c++) {
            size_t w = display_width(t->cells[r * t->ncols + c]);
            if (w > width[c])
                width[c] = w;
        }
    for (int r = no_header ? 1 : 0; r < t->nrows; r++) {
        buf_append_byte(out, ' ');
        for (int c = 0; c < t->ncols; c++) {
            const char *cell = t->cells[r * t->ncols + c];
            buf_append_str(out, cell);
            if (c + 1 < t->ncols)
                pad(out, width[c] - display_width(cell) + 3);
        }
        buf_append_byte(out, '\n');
        if (r == 0) {
            size_t dashes = 0;
            for (int c = 0; c < t->ncols; c++)
                dashes += width[c] + 3;
            for (size_t i = 0; i < dashes; i++)
                buf_append_byte(out, '-');
            buf_append_byte(out, '\n');
        }
    }
    free(width);
}

void vsh_table_free(struct vsh_table *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
}
