/*
 * cmd-top.c - `vsh top`: every running domain's CPU, memory, disk and network rates, the role
 * of virt-top and openEuler's vmtop. Each refresh is one virConnectGetAllDomainStats call
 * (state, cpu-total, balloon, block, interface); rates are the counters' differences over
 * the time between two calls. Interactive by default (the screen redrawn every --delay
 * seconds until interrupted); --batch prints one table per iteration to stdout for scripts,
 * --iterations N stops after N tables, --sort orders the rows (cpu, mem, rd, wr, rx, tx,
 * name, id).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/vsh/commands.h"
#include "tools/vsh/vsh.h"
#include "util/mem.h"

struct top_row {
    char name[128];
    int id;
    bool running;
    /* counters of one sample */
    unsigned long long cpu_ns, rd, wr, rx, tx, mem_kib;
    /* rates against the previous sample */
    double cpu_pct, rd_s, wr_s, rx_s, tx_s;
};

struct top_sample {
    struct top_row *rows;
    size_t n;
    double when; /* CLOCK_MONOTONIC seconds */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned long long ull(const vir_typed_parameter *p)
{
    switch (p->type) {
    case VIR_TYPED_PARAM_ULLONG:
        return p->value.ul;
    case VIR_TYPED_PARAM_LLONG:
        return p->value.l > 0 ? (unsigned long long)p->value.l : 0;
    case VIR_TYPED_PARAM_UINT:
        return p->value.ui;
    case VIR_TYPED_PARAM_INT:
        return p->value.i > 0 ? (unsigned long long)p->value.i : 0;
    default:
        return 0;
    }
}

/* Does field end with suffix after "block.N." or "net.N."? */
static bool counter_is(const char *field, const char *prefix, const char *suffix)
{
    size_t pl = strlen(prefix);
    if (strncmp(field, prefix, pl) != 0)
        return false;
    const char *dot = strchr(field + pl, '.');
    return dot && !strcmp(dot + 1, suffix);
}

static int take_sample(vir_connect *conn, struct top_sample *s, vir_error *err)
{
    vir_domain_stats_record **recs = NULL;
    unsigned stats = VIR_DOMAIN_STATS_STATE | VIR_DOMAIN_STATS_CPU_TOTAL |
                     VIR_DOMAIN_STATS_BALLOON | VIR_DOMAIN_STATS_BLOCK | VIR_DOMAIN_STATS_INTERFACE;
    int n = vir_connect_get_all_domain_stats(conn, stats, &recs,
                                             VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE, err);
    if (n < 0)
        return -1;
    s->when = now_s();
    s->n = (size_t)n;
    s->rows = xcalloc(s->n ? s->n : 1, sizeof(*s->rows));
    for (int i = 0; i < n; i++) {
        struct top_row *r = &s->rows[i];
        snprintf(r->name, sizeof(r->name), "%s", vir_domain_get_name(recs[i]->dom));
        r->id = vir_domain_get_id_cached(recs[i]->dom);
        unsigned long long rss = 0, cur = 0;
        for (int k = 0; k < recs[i]->nparams; k++) {
            const vir_typed_parameter *p = &recs[i]->params[k];
            if (!strcmp(p->field, "state.state"))
                r->running = p->value.i == 1;
            else if (!strcmp(p->field, "cpu.time"))
                r->cpu_ns = ull(p);
            else if (!strcmp(p->field, "balloon.rss"))
                rss = ull(p);
            else if (!strcmp(p->field, "balloon.current"))
                cur = ull(p);
            else if (counter_is(p->field, "block.", "rd.bytes"))
                r->rd += ull(p);
            else if (counter_is(p->field, "block.", "wr.bytes"))
                r->wr += ull(p);
            else if (counter_is(p->field, "net.", "rx.bytes"))
                r->rx += ull(p);
            else if (counter_is(p->field, "net.", "tx.bytes"))
                r->tx += ull(p);
        }
        r->mem_kib = rss ? rss : cur; /* what the host spends on it, else what it was given */
    }
    vir_domain_stats_record_list_free(recs);
    return 0;
}

static double rate(unsigned long long now, unsigned long long before, double dt)
{
    return now >= before && dt > 0 ? (double)(now - before) / dt : 0;
}

static void compute_rates(struct top_sample *cur, const struct top_sample *prev)
{
    double dt = cur->when - prev->when;
    for (size_t i = 0; i < cur->n; i++) {
        struct top_row *r = &cur->rows[i];
        for (size_t k = 0; k < prev->n; k++) {
            const struct top_row *o = &prev->rows[k];
            if (strcmp(o->name, r->name) != 0 || o->id != r->id)
                continue;
            r->cpu_pct = rate(r->cpu_ns, o->cpu_ns, dt) / 1e7; /* ns/s -> % of one CPU */
            r->rd_s = rate(r->rd, o->rd, dt);
            r->wr_s = rate(r->wr, o->wr, dt);
            r->rx_s = rate(r->rx, o->rx, dt);
            r->tx_s = rate(r->tx, o->tx, dt);
        }
    }
}

enum top_key { K_CPU, K_MEM, K_RD, K_WR, K_RX, K_TX, K_NAME, K_ID };
static const char *const key_names[] = {"cpu", "mem", "rd", "wr", "rx", "tx", "name", "id"};

static double key_value(const struct top_row *r, enum top_key k)
{
    switch (k) {
    case K_CPU:
        return r->cpu_pct;
    case K_MEM:
        return (double)r->mem_kib;
    case K_RD:
        return r->rd_s;
    case K_WR:
        return r->wr_s;
    case K_RX:
        return r->rx_s;
    case K_TX:
        return r->tx_s;
    default:
        return 0;
    }
}

/* Rows by key, largest first (name and id ascending), ties by name. */
static void sort_rows(struct top_row *rows, size_t n, enum top_key k)
{
    for (size_t i = 1; i < n; i++) {
        struct top_row x = rows[i];
        size_t j = i;
        for (; j > 0; j--) {
            const struct top_row *y = &rows[j - 1];
            int c;
            if (k == K_NAME)
                c = strcmp(y->name, x.name);
            else if (k == K_ID)
                c = (y->id > x.id) - (y->id < x.id);
            else {
                double a = key_value(y, k), b = key_value(&x, k);
                c = a < b ? 1 : a > b ? -1 : strcmp(y->name, x.name);
            }
            if (c <= 0)
                break;
            rows[j] = rows[j - 1];
        }
        rows[j] = x;
    }
}

static void print_table(struct vsh_ctl *ctl, const struct top_sample *s)
{
    time_t t = time(NULL);
    struct tm parts;
    char clock[16];
    strftime(clock, sizeof(clock), "%H:%M:%S", localtime_r(&t, &parts));
    size_t running = 0;
    for (size_t i = 0; i < s->n; i++)
        running += s->rows[i].running;
    vsh_print(ctl, "vsh top - %s - %zu domains, %zu running\n", clock, s->n, running);
    vsh_print(ctl, "%5s %-20s %7s %10s %12s %12s %12s %12s\n", "ID", "NAME", "%CPU", "MEM(KiB)",
              "RD(B/s)", "WR(B/s)", "RX(B/s)", "TX(B/s)");
    for (size_t i = 0; i < s->n; i++) {
        const struct top_row *r = &s->rows[i];
        vsh_print(ctl, "%5d %-20s %7.1f %10llu %12.0f %12.0f %12.0f %12.0f\n", r->id, r->name,
                  r->cpu_pct, r->mem_kib, r->rd_s, r->wr_s, r->rx_s, r->tx_s);
    }
}

static void sample_free(struct top_sample *s)
{
    free(s->rows);
    memset(s, 0, sizeof(*s));
}

bool vsh_cmd_top(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    bool batch = vsh_opt_bool(cmd, "batch");
    unsigned iterations = 0; /* 0: until interrupted */
    if (vsh_opt_uint(ctl, cmd, "iterations", &iterations) < 0)
        return false;
    const char *delay_s = vsh_opt_string(cmd, "delay");
    double delay = 3;
    if (delay_s) {
        char *end;
        errno = 0;
        delay = strtod(delay_s, &end);
        if (!*delay_s || *end || errno || !(delay > 0) || delay > 86400) {
            vsh_error(ctl, "Invalid delay '%s': a number of seconds above 0", delay_s);
            return false;
        }
    }
    const char *sort = vsh_opt_string(cmd, "sort");
    enum top_key key = K_CPU;
    if (sort) {
        size_t k = 0;
        while (k < sizeof(key_names) / sizeof(key_names[0]) && strcmp(key_names[k], sort))
            k++;
        if (k == sizeof(key_names) / sizeof(key_names[0])) {
            vsh_error(ctl, "Invalid sort key '%s': cpu, mem, rd, wr, rx, tx, name or id", sort);
            return false;
        }
        key = (enum top_key)k;
    }
    vir_connect *conn = vsh_conn(ctl);
    if (!conn)
        return false;
    vir_error err;
    struct top_sample prev = {0}, cur = {0};
    if (take_sample(conn, &prev, &err) < 0) {
        vsh_report(ctl, &err);
        return false;
    }
    bool ok = true;
    for (unsigned it = 0; !iterations || it < iterations; it++) {
        struct timespec ts = {(time_t)delay, (long)((delay - (double)(time_t)delay) * 1e9)};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
        if (take_sample(conn, &cur, &err) < 0) {
            vsh_report(ctl, &err);
            ok = false;
            break;
        }
        compute_rates(&cur, &prev);
        sort_rows(cur.rows, cur.n, key);
        if (!batch)
            vsh_print(ctl, "\033[H\033[2J"); /* redraw in place */
        print_table(ctl, &cur);
        if (batch)
            vsh_print(ctl, "\n");
        fflush(stdout);
        sample_free(&prev);
        prev = cur;
        memset(&cur, 0, sizeof(cur));
    }
    sample_free(&prev);
    sample_free(&cur);
    return ok;
}
