/*
 * authz.c - authz-simple, authz-list and authz-listfile (see authz.h).
 *
 * authz-listfile's list lives behind a mutex: the refresh thread (inotify on the file's
 * directory, so an editor's write-and-rename is seen too) swaps in the list it has just
 * read while TLS handshakes on other threads ask it. A file that fails to load leaves no
 * list, and every check fails until it loads again (QEMU's rule).
 */
#include "vmm/authz.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/str.h"
#include "vmm/cli-opts.h"

#include "util/log.h"

#include <errno.h>
#include <fnmatch.h>
#include <json-c/json.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <fcntl.h>
#include <unistd.h>

#define AUTHZ_FILE_MAX (1u << 20) /* a list file larger than this is refused */

#define AUTHZ_MAX_RULES 64

struct authz_rule {
    char *match;
    bool allow, glob;
    bool has_match, has_policy;
};

enum authz_type { AUTHZ_SIMPLE, AUTHZ_LIST, AUTHZ_LISTFILE };

/* A list: authz-list's own, or the one authz-listfile read last. */
struct authz_list {
    bool allow; /* the policy when no rule matches */
    struct authz_rule rules[AUTHZ_MAX_RULES];
    unsigned nr_rules;
};

struct authz {
    unsigned refs, users;
    char *id;
    enum authz_type type;
    bool simple;
    char *identity;         /* authz-simple */
    struct authz_list list; /* authz-list */
    /* authz-listfile */
    char *filename;
    bool refresh;
    pthread_mutex_t lock;
    struct authz_list *file_list; /* NULL: not loaded, or the last load failed (deny) */
    pthread_t watcher;
    bool watching;
    int stop_pipe[2];
};

static const char *const types[] = {"authz-simple", "authz-list", "authz-listfile"};

/* Its index in types, or -1. */
static int type_of(const char *optstr)
{
    for (int i = 0; i < 3; i++) {
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

static void list_free(struct authz_list *l)
{
    if (!l)
        return;
    for (unsigned i = 0; i < AUTHZ_MAX_RULES; i++)
        free(l->rules[i].match);
    free(l);
}

static void authz_free(struct authz *a)
{
    if (a->watching) {
        if (write(a->stop_pipe[1], "x", 1) < 0) { /* the pipe is empty: it cannot fail */
        }
        pthread_join(a->watcher, NULL);
        close(a->stop_pipe[0]);
        close(a->stop_pipe[1]);
    }
    free(a->id);
    free(a->identity);
    free(a->filename);
    for (unsigned i = 0; i < AUTHZ_MAX_RULES; i++)
        free(a->list.rules[i].match);
    list_free(a->file_list);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

static int parse_policy(const char *key, const char *v, bool *allow, struct verr *err)
{
    char sk[72], sv[72];
    if (strcmp(v, "allow") && strcmp(v, "deny"))
        return verr_set(err, EINVAL, "Parameter '%s' does not accept value '%s'",
                        str_shown(key, sk, sizeof(sk)), str_shown(v, sv, sizeof(sv)));
    *allow = strcmp(v, "allow") == 0;
    return 0;
}

/* "rules.N.FIELD=V" of authz-list. */
static int parse_rule(struct authz_list *a, const char *item, struct verr *err)
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
    char key[64], sk[72], sv[72];
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
            return verr_set(err, EINVAL, "Parameter '%s' does not accept value '%s'",
                            str_shown(key, sk, sizeof(sk)), str_shown(v, sv, sizeof(sv)));
        r->glob = strcmp(v, "glob") == 0;
    } else {
        return verr_set(err, EINVAL, "Parameter '%s' is unexpected",
                        str_shown(key, sk, sizeof(sk)));
    }
    if (n + 1 > a->nr_rules)
        a->nr_rules = (unsigned)n + 1;
    return 0;
}

int authz_parse(const char *optstr, struct authz **out, struct verr *err)
{
    char sv[72];
    *out = NULL;
    int type = type_of(optstr);
    if (type < 0)
        return verr_set(err, EINVAL, "not an authz-simple or authz-list object");
    struct authz *a = xcalloc(1, sizeof(*a));
    a->refs = 1;
    a->type = (enum authz_type)type;
    a->simple = type == AUTHZ_SIMPLE;
    a->refresh = true; /* QEMU's default where it has inotify */
    pthread_mutex_init(&a->lock, NULL);
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
                r = verr_set(err, EINVAL, "Parameter 'qom-type' does not accept value '%s'",
                             str_shown(v, sv, sizeof(sv)));
        } else if (cli_prop(item, "id", &v)) {
            free(a->id);
            a->id = xstrdup(v);
        } else if (a->simple && cli_prop(item, "identity", &v)) {
            free(a->identity);
            a->identity = xstrdup(v);
        } else if (a->type == AUTHZ_LIST && cli_prop(item, "policy", &v)) {
            r = parse_policy("policy", v, &a->list.allow, err);
        } else if (a->type == AUTHZ_LIST && !strncmp(item, "rules.", 6) && strchr(item, '=')) {
            r = parse_rule(&a->list, item, err);
        } else if (a->type == AUTHZ_LISTFILE && cli_prop(item, "filename", &v)) {
            free(a->filename);
            a->filename = xstrdup(v);
        } else if (a->type == AUTHZ_LISTFILE && cli_prop(item, "refresh", &v)) {
            if (cli_parse_bool(v, &a->refresh) < 0)
                r = verr_set(err, EINVAL, "Parameter 'refresh' expects 'on' or 'off'");
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
    if (r == 0 && a->type == AUTHZ_LISTFILE && !a->filename)
        r = verr_set(err, EINVAL, "Parameter 'filename' is missing");
    for (unsigned i = 0; r == 0 && i < a->list.nr_rules; i++) {
        if (!a->list.rules[i].has_match)
            r = verr_set(err, EINVAL, "Parameter 'rules.%u.match' is missing", i);
        else if (!a->list.rules[i].has_policy)
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

static bool list_allows(const struct authz_list *l, const char *identity)
{
    for (unsigned i = 0; i < l->nr_rules; i++) {
        const struct authz_rule *r = &l->rules[i];
        bool hit = r->glob ? fnmatch(r->match, identity, 0) == 0 : strcmp(r->match, identity) == 0;
        if (hit)
            return r->allow;
    }
    return l->allow;
}

bool authz_is_allowed(struct authz *a, const char *identity)
{
    if (a->type == AUTHZ_SIMPLE)
        return strcmp(a->identity, identity) == 0;
    if (a->type == AUTHZ_LIST)
        return list_allows(&a->list, identity);
    pthread_mutex_lock(&a->lock);
    bool allow = a->file_list && list_allows(a->file_list, identity);
    pthread_mutex_unlock(&a->lock);
    return allow;
}

/* A string member of a rule or of the list; one line naming it otherwise. */
static int json_str(struct json_object *o, const char *where, const char *key, bool optional,
                    const char **out, struct verr *err)
{
    struct json_object *v;
    *out = NULL;
    if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
        return optional ? 0 : verr_set(err, EINVAL, "Parameter '%s%s' is missing", where, key);
    if (!json_object_is_type(v, json_type_string))
        return verr_set(err, EINVAL, "Invalid parameter type for '%s%s', expected: string", where,
                        key);
    *out = json_object_get_string(v);
    return 0;
}

int authz_list_parse_json(const char *text, size_t len, struct authz_list **out, struct verr *err)
{
    char sk[72], sv[72]; /* names and values of the file as a one-line message shows them */
    *out = NULL;
    if (len > AUTHZ_FILE_MAX)
        return verr_set(err, EFBIG, "larger than %u bytes", AUTHZ_FILE_MAX);
    if (memchr(text, '\0', len))
        return verr_set(err, EINVAL, "not JSON text (a NUL byte)");
    struct json_tokener *tok = json_tokener_new();
    struct json_object *root = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error je = json_tokener_get_error(tok);
    bool whole = root && (size_t)json_tokener_get_parse_end(tok) == len;
    json_tokener_free(tok);
    if (!root || je != json_tokener_success) {
        json_object_put(root);
        return verr_set(err, EINVAL, "not valid JSON: %s",
                        je == json_tokener_continue ? "unexpected end of file"
                                                    : json_tokener_error_desc(je));
    }
    int r = 0;
    struct authz_list *l = xcalloc(1, sizeof(*l));
    const char *policy;
    struct json_object *rules = NULL;
    if (!whole) {
        json_object_put(root);
        list_free(l);
        return verr_set(err, EINVAL, "not valid JSON: text after the list");
    }
    if (!json_object_is_type(root, json_type_object)) {
        r = verr_set(err, EINVAL, "the list must be a JSON object");
        goto out;
    }
    json_object_object_foreach(root, key, val)
    {
        (void)val;
        if (strcmp(key, "policy") != 0 && strcmp(key, "rules") != 0) {
            r = verr_set(err, EINVAL, "Parameter '%s' is unexpected",
                         str_shown(key, sk, sizeof(sk)));
            goto out;
        }
    }
    if ((r = json_str(root, "", "policy", true, &policy, err)) < 0 ||
        (policy && (r = parse_policy("policy", policy, &l->allow, err)) < 0))
        goto out;
    if (json_object_object_get_ex(root, "rules", &rules) &&
        !json_object_is_type(rules, json_type_array)) {
        r = verr_set(err, EINVAL, "Invalid parameter type for 'rules', expected: array");
        goto out;
    }
    size_t n = rules ? json_object_array_length(rules) : 0;
    if (n > AUTHZ_MAX_RULES) {
        r = verr_set(err, EINVAL, "more than %d rules", AUTHZ_MAX_RULES);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        struct json_object *rule = json_object_array_get_idx(rules, i);
        char where[32];
        snprintf(where, sizeof(where), "rules[%zu].", i);
        if (!json_object_is_type(rule, json_type_object)) {
            r = verr_set(err, EINVAL, "Invalid parameter type for 'rules[%zu]', expected: object",
                         i);
            goto out;
        }
        json_object_object_foreach(rule, k, v)
        {
            (void)v;
            if (strcmp(k, "match") && strcmp(k, "policy") && strcmp(k, "format")) {
                r = verr_set(err, EINVAL, "Parameter '%s%s' is unexpected", where,
                             str_shown(k, sk, sizeof(sk)));
                goto out;
            }
        }
        const char *match, *rpolicy, *format;
        char pkey[48];
        if ((r = json_str(rule, where, "match", false, &match, err)) < 0 ||
            (r = json_str(rule, where, "policy", false, &rpolicy, err)) < 0 ||
            (r = json_str(rule, where, "format", true, &format, err)) < 0)
            goto out;
        snprintf(pkey, sizeof(pkey), "%spolicy", where);
        if ((r = parse_policy(pkey, rpolicy, &l->rules[i].allow, err)) < 0)
            goto out;
        if (format && strcmp(format, "exact") && strcmp(format, "glob")) {
            r = verr_set(err, EINVAL, "Parameter '%sformat' does not accept value '%s'", where,
                         str_shown(format, sv, sizeof(sv)));
            goto out;
        }
        l->rules[i].glob = format && !strcmp(format, "glob");
        l->rules[i].match = xstrdup(match);
        l->rules[i].has_match = l->rules[i].has_policy = true;
        l->nr_rules = (unsigned)i + 1;
    }
out:
    json_object_put(root);
    if (r < 0) {
        list_free(l);
        return r;
    }
    *out = l;
    return 0;
}

void authz_list_free(struct authz_list *l)
{
    list_free(l);
}

bool authz_list_allows(const struct authz_list *l, const char *identity)
{
    return list_allows(l, identity);
}

/* Reads the file and puts its list in place; on failure no list (every check fails). */
static int reload(struct authz *a, struct verr *err)
{
    struct authz_list *l = NULL;
    int r = 0;
    FILE *f = fopen(a->filename, "re");
    char *buf = NULL;
    size_t len = 0;
    if (!f) {
        r = verr_errno(err, errno, "cannot open");
    } else {
        buf = xmalloc(AUTHZ_FILE_MAX + 1);
        len = fread(buf, 1, AUTHZ_FILE_MAX + 1, f);
        if (ferror(f))
            r = verr_errno(err, EIO, "cannot read");
        fclose(f);
    }
    if (r == 0)
        r = authz_list_parse_json(buf, len, &l, err);
    free(buf);
    if (r < 0)
        verr_prefix(err, "authz-listfile '%s': '%s'", a->id, a->filename);
    pthread_mutex_lock(&a->lock);
    struct authz_list *old = a->file_list;
    a->file_list = l;
    pthread_mutex_unlock(&a->lock);
    list_free(old);
    return r;
}

/* refresh=on: reloads when the file is written, created, renamed into place or removed. */
static void *watch_thread(void *opaque)
{
    struct authz *a = opaque;
    char *dir = xstrdup(a->filename), *slash = strrchr(dir, '/');
    const char *base = slash ? slash + 1 : a->filename;
    if (slash == dir)
        dir[1] = '\0';
    else if (slash)
        *slash = '\0';
    int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (fd < 0 || inotify_add_watch(fd, slash ? dir : ".",
                                    IN_CLOSE_WRITE | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM |
                                        IN_DELETE) < 0) {
        log_warn("authz-listfile '%s': cannot watch '%s': %s (refresh is off)", a->id, a->filename,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        free(dir);
        return NULL;
    }
    char ev[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    for (;;) {
        struct pollfd p[2] = {{fd, POLLIN, 0}, {a->stop_pipe[0], POLLIN, 0}};
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        if (p[1].revents)
            break;
        if (!(p[0].revents & POLLIN))
            continue;
        ssize_t n = read(fd, ev, sizeof(ev));
        bool ours = false;
        for (ssize_t off = 0; n > 0 && off < n;) {
            const struct inotify_event *e = (const struct inotify_event *)(ev + off);
            if (e->len && !strcmp(e->name, base))
                ours = true;
            off += (ssize_t)(sizeof(*e) + e->len);
        }
        struct verr err = {0};
        if (ours && reload(a, &err) < 0)
            log_warn("%s (every check fails until it loads)", verr_msg(&err));
    }
    close(fd);
    free(dir);
    return NULL;
}

int authz_load(struct authz *a, struct verr *err)
{
    if (a->type != AUTHZ_LISTFILE)
        return 0;
    int r = reload(a, err);
    if (r < 0 || !a->refresh || a->watching)
        return r;
    if (pipe2(a->stop_pipe, O_CLOEXEC) < 0)
        return verr_errno(err, errno, "authz-listfile '%s': pipe", a->id);
    if ((r = pthread_create(&a->watcher, NULL, watch_thread, a)) != 0) {
        close(a->stop_pipe[0]);
        close(a->stop_pipe[1]);
        return verr_errno(err, r, "authz-listfile '%s': cannot start its refresh thread", a->id);
    }
    a->watching = true;
    return 0;
}
