/*
 * authz.c - authz-simple and authz-list (see authz.h).
 */
#include "vmm/authz.h"
#include "util/error.h"
#include "util/mem.h"
#include "vmm/cli-opts.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AUTHZ_MAX_RULES 64

struct authz_rule {
    char *match;
    bool allow, glob;
    bool has_match, has_policy;
};

struct authz {
    unsigned refs, users;
    char *id;
    bool simple;
    char *identity; /* authz-simple */
    bool allow;     /* authz-list: the policy when no rule matches */
    struct authz_rule rules[AUTHZ_MAX_RULES];
    unsigned nr_rules;
};

static const char *const types[] = {"authz-simple", "authz-list"};

/* 0: authz-simple, 1: authz-list, -1: neither. */
static int type_of(const char *optstr)
{
    for (int i = 0; i < 2; i++) {
        size_t len = strlen(types[i]);
        size_t n = strcspn(optstr, ",");
        if (n == len && strncmp(optstr, types[i], len) == 0)
            return i;
        if (strncmp(optstr, "qom-type=", 9) == 0 && strncmp(optstr + 9, types[i], len) == 0 &&
            (optstr[9 + len] == ',' || optstr[9 + len] == '\0'))
            return i;
    }
    return -1;
}

bool authz_spec_is(const char *optstr)
{
    return type_of(optstr) >= 0;
}

static void authz_free(struct authz *a)
{
    free(a->id);
    free(a->identity);
    for (unsigned i = 0; i < AUTHZ_MAX_RULES; i++)
        free(a->rules[i].match);
    free(a);
}

static int parse_policy(const char *key, const char *v, bool *allow, struct verr *err)
{
    if (strcmp(v, "allow") && strcmp(v, "deny"))
        return verr_set(err, EINVAL, "Parameter '%s' does not accept value '%s'", key, v);
    *allow = strcmp(v, "allow") == 0;
    return 0;
}

/* "rules.N.FIELD=V" of authz-list. */
static int parse_rule(struct authz *a, const char *item, struct verr *err)
{
    char *eq = strchr(item, '=');
    const char *p = item + strlen("rules.");
    char *end;
    errno = 0;
    unsigned long n = strtoul(p, &end, 10);
    if (end == p || *end != '.' || errno || n >= AUTHZ_MAX_RULES || (*p == '0' && end - p > 1))
        return verr_set(err, EINVAL,
                        "authz-list: '%.*s' is not rules.N.match, .policy or .format with N "
                        "below %d",
                        (int)(eq - item), item, AUTHZ_MAX_RULES);
    struct authz_rule *r = &a->rules[n];
    const char *field = end + 1, *v = eq + 1;
    size_t flen = (size_t)(eq - field);
    char key[64];
    snprintf(key, sizeof(key), "rules.%lu.%.*s", n, (int)flen, field);
    if (flen == 5 && !strncmp(field, "match", 5)) {
        free(r->match);
        r->match = xstrdup(v);
        r->has_match = true;
    } else if (flen == 6 && !strncmp(field, "policy", 6)) {
        if (parse_policy(key, v, &r->allow, err) < 0)
            return -EINVAL;
        r->has_policy = true;
    } else if (flen == 6 && !strncmp(field, "format", 6)) {
        if (strcmp(v, "exact") && strcmp(v, "glob"))
            return verr_set(err, EINVAL, "Parameter '%s' does not accept value '%s'", key, v);
        r->glob = strcmp(v, "glob") == 0;
    } else {
        return verr_set(err, EINVAL, "Parameter '%s' is unexpected", key);
    }
    if (n + 1 > a->nr_rules)
        a->nr_rules = (unsigned)n + 1;
    return 0;
}

int authz_parse(const char *optstr, struct authz **out, struct verr *err)
{
    *out = NULL;
    int type = type_of(optstr);
    if (type < 0)
        return verr_set(err, EINVAL, "not an authz-simple or authz-list object");
    struct authz *a = xcalloc(1, sizeof(*a));
    a->refs = 1;
    a->simple = type == 0;
    char *copy = xstrdup(optstr), *cursor = copy, *item;
    int r = 0;
    bool first = true;
    while (r == 0 && (item = cli_next_item(&cursor))) {
        const char *v;
        if (first && !strchr(item, '=')) {
            first = false;
            continue; /* the type */
        }
        first = false;
        if (cli_prop(item, "qom-type", &v)) {
            if (strcmp(v, types[type]) != 0)
                r = verr_set(err, EINVAL, "Parameter 'qom-type' does not accept value '%s'", v);
        } else if (cli_prop(item, "id", &v)) {
            free(a->id);
            a->id = xstrdup(v);
        } else if (a->simple && cli_prop(item, "identity", &v)) {
            free(a->identity);
            a->identity = xstrdup(v);
        } else if (!a->simple && cli_prop(item, "policy", &v)) {
            r = parse_policy("policy", v, &a->allow, err);
        } else if (!a->simple && !strncmp(item, "rules.", 6) && strchr(item, '=')) {
            r = parse_rule(a, item, err);
        } else {
            char *eq = strchr(item, '=');
            if (eq)
                *eq = '\0';
            r = verr_set(err, ENOTSUP, "Property '%s.%s' not found", types[type], item);
        }
    }
    free(copy);
    if (r == 0 && !a->id)
        r = verr_set(err, EINVAL, "Parameter 'id' is missing");
    if (r == 0 && a->simple && !a->identity)
        r = verr_set(err, EINVAL, "Parameter 'identity' is missing");
    for (unsigned i = 0; r == 0 && i < a->nr_rules; i++) {
        if (!a->rules[i].has_match)
            r = verr_set(err, EINVAL, "Parameter 'rules.%u.match' is missing", i);
        else if (!a->rules[i].has_policy)
            r = verr_set(err, EINVAL, "Parameter 'rules.%u.policy' is missing", i);
    }
    if (r < 0) {
        authz_free(a);
        return r;
    }
    *out = a;
    return 0;
}

const char *authz_id(const struct authz *a)
{
    return a->id;
}

struct authz *authz_ref(struct authz *a)
{
    if (a)
        __atomic_add_fetch(&a->refs, 1, __ATOMIC_RELAXED);
    return a;
}

void authz_unref(struct authz *a)
{
    if (a && __atomic_sub_fetch(&a->refs, 1, __ATOMIC_ACQ_REL) == 0)
        authz_free(a);
}

void authz_use(struct authz *a)
{
    __atomic_add_fetch(&a->users, 1, __ATOMIC_RELAXED);
}

void authz_unuse(struct authz *a)
{
    __atomic_sub_fetch(&a->users, 1, __ATOMIC_RELAXED);
}

bool authz_in_use(const struct authz *a)
{
    return __atomic_load_n(&a->users, __ATOMIC_RELAXED) > 0;
}

bool authz_is_allowed(const struct authz *a, const char *identity)
{
    if (a->simple)
        return strcmp(a->identity, identity) == 0;
    for (unsigned i = 0; i < a->nr_rules; i++) {
        const struct authz_rule *r = &a->rules[i];
        bool hit = r->glob ? fnmatch(r->match, identity, 0) == 0 : strcmp(r->match, identity) == 0;
        if (hit)
            return r->allow;
    }
    return a->allow;
}
