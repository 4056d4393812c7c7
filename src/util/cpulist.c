/*
 * cpulist.c - parse and format CPU lists. Parsing is two-pass over the
 * elements: included ranges first, then exclusions, so "^1,0-3" and "0-3,^1"
 * mean the same set, as in libvirt.
 */
#include "cpulist.h"
#include "str.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int parse_cpu(const char *s, size_t max_cpus, size_t *out, const char *elem,
                     struct verr *err)
{
    uint64_t v;
    int r = str_to_u64(s, 10, &v);
    if (r < 0 || !isdigit((unsigned char)s[0]))
        return verr_set(err, EINVAL, "invalid CPU number '%s' in element '%s'", s, elem);
    if (v >= max_cpus)
        return verr_set(err, ERANGE, "CPU %llu in element '%s' is beyond the maximum %zu",
                        (unsigned long long)v, elem, max_cpus - 1);
    *out = (size_t)v;
    return 0;
}

/* Parses one element ("3", "0-3", "^1") into [first, last] and an exclusion flag. */
static int parse_element(char *elem, size_t max_cpus, size_t *first, size_t *last, bool *exclude,
                         struct verr *err)
{
    char shown[64];
    str_copy(shown, sizeof(shown), elem);
    *exclude = elem[0] == '^';
    char *p = elem + *exclude;
    char *dash = strchr(p, '-');
    int r;
    if (dash) {
        *dash = '\0';
        if ((r = parse_cpu(p, max_cpus, first, shown, err)) < 0)
            return r;
        if ((r = parse_cpu(dash + 1, max_cpus, last, shown, err)) < 0)
            return r;
        if (*last < *first)
            return verr_set(err, EINVAL, "invalid CPU range '%s': end below start", shown);
    } else {
        if ((r = parse_cpu(p, max_cpus, first, shown, err)) < 0)
            return r;
        *last = *first;
    }
    return 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

int cpulist_parse(const char *s, size_t max_cpus, struct bitmap **out, struct verr *err)
{
    if (max_cpus == 0)
        return verr_set(err, EINVAL, "no CPUs to choose from");
    char *copy = strdup(s);
    if (!copy)
        return verr_set(err, ENOMEM, "out of memory");
    struct bitmap *map = bitmap_new(max_cpus);
    int r = 0;
    for (int pass = 0; pass < 2 && r == 0; pass++) {
        strcpy(copy, s);
        char *save = NULL;
        int count = 0;
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            count++;
            char *elem = trim(tok);
            size_t first, last;
            bool exclude;
            if (elem[0] == '\0') {
                r = verr_set(err, EINVAL, "empty element in CPU list '%s'", s);
                break;
            }
            if ((r = parse_element(elem, max_cpus, &first, &last, &exclude, err)) < 0)
                break;
            if (exclude != (pass == 1))
                continue;
            for (size_t cpu = first; cpu <= last; cpu++) {
                if (exclude)
                    bitmap_clear(map, cpu);
                else
                    bitmap_set(map, cpu);
            }
        }
        /* strtok_r skips empty fields, so catch ",," and leading/trailing commas here. */
        if (r == 0 && (count == 0 || strstr(s, ",,") || s[0] == ',' ||
                       (strlen(s) && s[strlen(s) - 1] == ',')))
            r = verr_set(err, EINVAL, "empty element in CPU list '%s'", s);
    }
    free(copy);
    if (r < 0) {
        bitmap_free(map);
        return r;
    }
    *out = map;
    return 0;
}

void cpulist_format(const struct bitmap *map, struct buf *out)
{
    bool first = true;
    long cpu = bitmap_next_set(map, 0);
    while (cpu >= 0) {
        long end = cpu;
        while (bitmap_test(map, (size_t)end + 1))
            end++;
        buf_printf(out, "%s%ld", first ? "" : ",", cpu);
        if (end > cpu)
            buf_printf(out, "-%ld", end);
        first = false;
        cpu = bitmap_next_set(map, (size_t)end + 1);
    }
    if (first)
        buf_append(out, "", 0);
}
