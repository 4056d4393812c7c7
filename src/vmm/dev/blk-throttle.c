/*
 * blk-throttle.c - QEMU's leaky-bucket I/O limits and throttle groups (see
 * blk-throttle.h for the model). Written from QEMU's documented behaviour:
 * bucket sizes, burst buckets, the iops-size unit and the validity rules
 * with their messages.
 */
#include "vmm/dev/blk-throttle.h"
#include "util/mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const option_names[THROTTLE_NR] = {"bps-total",  "bps-read",  "bps-write",
                                                      "iops-total", "iops-read", "iops-write"};

void throttle_config_init(struct throttle_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    for (int i = 0; i < THROTTLE_NR; i++)
        cfg->b[i].burst_length = 1;
}

bool throttle_config_enabled(const struct throttle_config *cfg)
{
    for (int i = 0; i < THROTTLE_NR; i++)
        if (cfg->b[i].avg)
            return true;
    return false;
}

int throttle_config_check(const struct throttle_config *cfg, struct verr *err)
{
    for (int k = 0; k < 6; k += 3) { /* bps, then iops: total excludes read/write */
        bool total = cfg->b[k].avg || cfg->b[k].max;
        bool rw = cfg->b[k + 1].avg || cfg->b[k + 2].avg || cfg->b[k + 1].max || cfg->b[k + 2].max;
        if (total && rw)
            return verr_set(err, EINVAL,
                            "bps/iops/max total values and read/write values cannot be used at "
                            "the same time");
    }
    if (cfg->op_size > THROTTLE_VALUE_MAX)
        return verr_set(err, EINVAL, "bps/iops/max values must be within [0, %llu]",
                        (unsigned long long)THROTTLE_VALUE_MAX);
    for (int i = 0; i < THROTTLE_NR; i++) {
        if (cfg->b[i].avg > THROTTLE_VALUE_MAX || cfg->b[i].max > THROTTLE_VALUE_MAX)
            return verr_set(err, EINVAL, "bps/iops/max values must be within [0, %llu]",
                            (unsigned long long)THROTTLE_VALUE_MAX);
        if (cfg->b[i].burst_length == 0)
            return verr_set(err, EINVAL, "the burst length cannot be 0");
        if (cfg->b[i].burst_length > 1 && !cfg->b[i].max)
            return verr_set(err, EINVAL, "burst length set without burst rate");
        if (cfg->b[i].max && !cfg->b[i].avg)
            return verr_set(err, EINVAL, "bps_max/iops_max require corresponding bps/iops values");
        if (cfg->b[i].max && cfg->b[i].max < cfg->b[i].avg)
            return verr_set(err, EINVAL, "bps_max/iops_max cannot be lower than bps/iops");
    }
    return 0;
}

int throttle_config_set_option(struct throttle_config *cfg, const char *name, uint64_t value)
{
    if (strcmp(name, "iops-size") == 0) {
        cfg->op_size = value;
        return 0;
    }
    for (int i = 0; i < THROTTLE_NR; i++) {
        size_t n = strlen(option_names[i]);
        if (strncmp(name, option_names[i], n) != 0)
            continue;
        const char *rest = name + n;
        if (!*rest)
            cfg->b[i].avg = value;
        else if (strcmp(rest, "-max") == 0)
            cfg->b[i].max = value;
        else if (strcmp(rest, "-max-length") == 0)
            cfg->b[i].burst_length = value;
        else
            continue;
        return 0;
    }
    return -ENOENT;
}

/* --- groups ------------------------------------------------------------------------------- */

static void reset_levels(struct throttle_group *g)
{
    memset(g->level, 0, sizeof(g->level));
    memset(g->burst_level, 0, sizeof(g->burst_level));
    g->last_ns = 0;
}

struct throttle_group *throttle_group_join(struct throttle_groups *set, const char *name,
                                           const struct throttle_config *cfg, struct verr *err)
{
    struct throttle_group *g = NULL;
    for (unsigned i = 0; i < set->n && !g; i++)
        if (strcmp(set->v[i]->name, name) == 0)
            g = set->v[i];
    if (!g) {
        if (set->n == THROTTLE_MAX_GROUPS) {
            verr_set(err, ENOSPC, "throttle group '%s': at most %u groups", name,
                     THROTTLE_MAX_GROUPS);
            return NULL;
        }
        g = xcalloc(1, sizeof(*g));
        g->name = xstrdup(name);
        pthread_mutex_init(&g->lock, NULL);
        set->v[set->n++] = g;
    }
    pthread_mutex_lock(&g->lock);
    g->cfg = *cfg;
    reset_levels(g);
    pthread_mutex_unlock(&g->lock);
    g->members++;
    return g;
}

void throttle_group_leave(struct throttle_group *g)
{
    if (g && g->members)
        g->members--;
}

void throttle_group_get_config(struct throttle_group *g, struct throttle_config *out)
{
    pthread_mutex_lock(&g->lock);
    *out = g->cfg;
    pthread_mutex_unlock(&g->lock);
}

void throttle_groups_free(struct throttle_groups *set)
{
    for (unsigned i = 0; i < set->n; i++) {
        pthread_mutex_destroy(&set->v[i]->lock);
        free(set->v[i]->name);
        free(set->v[i]);
    }
    set->n = 0;
}

/* --- buckets ------------------------------------------------------------------------------ */

static void leak(struct throttle_group *g, uint64_t now)
{
    if (!g->last_ns || now <= g->last_ns) {
        g->last_ns = g->last_ns ? g->last_ns : now;
        return;
    }
    double secs = (double)(now - g->last_ns) / 1e9;
    g->last_ns = now;
    for (int i = 0; i < THROTTLE_NR; i++) {
        const typeof(g->cfg.b[0]) *c = &g->cfg.b[i];
        g->level[i] -= (double)c->avg * secs;
        if (g->level[i] < 0)
            g->level[i] = 0;
        if (c->burst_length > 1) {
            g->burst_level[i] -= (double)c->max * secs;
            if (g->burst_level[i] < 0)
                g->burst_level[i] = 0;
        }
    }
}

/* Nanoseconds until bucket i is back within its size (0: it is). */
static uint64_t wait_of(const struct throttle_group *g, int i)
{
    const typeof(g->cfg.b[0]) *c = &g->cfg.b[i];
    if (!c->avg)
        return 0;
    double size = c->max ? (double)c->max * (double)c->burst_length : (double)c->avg / 10;
    double extra = g->level[i] - size;
    if (extra > 0)
        return (uint64_t)(extra / (double)c->avg * 1e9) + 1;
    if (c->burst_length > 1) {
        extra = g->burst_level[i] - (double)c->max / 10;
        if (extra > 0)
            return (uint64_t)(extra / (double)c->max * 1e9) + 1;
    }
    return 0;
}

uint64_t throttle_admit(struct throttle_group *g, bool write, uint64_t bytes, uint64_t now_ns)
{
    const int kinds[4] = {THROTTLE_BPS_TOTAL, write ? THROTTLE_BPS_WRITE : THROTTLE_BPS_READ,
                          THROTTLE_OPS_TOTAL, write ? THROTTLE_OPS_WRITE : THROTTLE_OPS_READ};
    pthread_mutex_lock(&g->lock);
    leak(g, now_ns);
    uint64_t wait = 0;
    for (int k = 0; k < 4; k++) {
        uint64_t w = wait_of(g, kinds[k]);
        wait = w > wait ? w : wait;
    }
    if (wait == 0) {
        double ops = 1;
        if (g->cfg.op_size && bytes > g->cfg.op_size)
            ops = (double)bytes / (double)g->cfg.op_size;
        for (int k = 0; k < 4; k++) {
            if (!g->cfg.b[kinds[k]].avg)
                continue;
            double units = k < 2 ? (double)bytes : ops;
            g->level[kinds[k]] += units;
            if (g->cfg.b[kinds[k]].burst_length > 1)
                g->burst_level[kinds[k]] += units;
        }
    }
    pthread_mutex_unlock(&g->lock);
    return wait;
}
