/*
 * blk-throttle.h - per-drive I/O limits as QEMU has them (-drive throttling.*,
 * QMP block_set_io_throttle, query-block's bps/iops fields), with throttle
 * groups: drives naming the same group share one set of limits.
 *
 * The model is QEMU's leaky bucket (docs/throttle.txt): each limit is a
 * bucket that fills with what a request moves (bytes, or operations counted
 * in iops-size units) and leaks at the average rate; a request may start
 * while every bucket it touches is at or below its size (avg/10 without a
 * burst; max * max-length with one, and then also a burst bucket leaking at
 * max that may hold max/10), and otherwise waits as long as the leak needs.
 * Reads count against the total and read buckets, writes (and write-zeroes)
 * against the total and write ones; flush and discard are not limited.
 * Over a period T a drive therefore moves at most avg * T plus its bucket
 * size plus one request.
 */
#ifndef VIREO_VMM_DEV_BLK_THROTTLE_H
#define VIREO_VMM_DEV_BLK_THROTTLE_H

#include "util/error.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

enum throttle_kind {
    THROTTLE_BPS_TOTAL,
    THROTTLE_BPS_READ,
    THROTTLE_BPS_WRITE,
    THROTTLE_OPS_TOTAL,
    THROTTLE_OPS_READ,
    THROTTLE_OPS_WRITE,
    THROTTLE_NR,
};

#define THROTTLE_VALUE_MAX 1000000000000000ull

struct throttle_config {
    struct {
        uint64_t avg, max;     /* per second; 0: no limit / no burst */
        uint64_t burst_length; /* seconds the burst may last (1 unless set) */
    } b[THROTTLE_NR];
    uint64_t op_size; /* iops-size: bytes one operation stands for (0: every request is one) */
};

/* A configuration with no limit (every burst length 1). */
void throttle_config_init(struct throttle_config *cfg);
bool throttle_config_enabled(const struct throttle_config *cfg);
/* QEMU's checks and words ("bps/iops/max total values and read/write values cannot be used at
 * the same time", ...). */
int throttle_config_check(const struct throttle_config *cfg, struct verr *err);
/* Sets one -drive option by its name after "throttling." ("bps-total", "iops-read-max",
 * "bps-write-max-length", "iops-size"); -ENOENT when it is not one. */
int throttle_config_set_option(struct throttle_config *cfg, const char *name, uint64_t value);

struct throttle_group {
    char *name;
    pthread_mutex_t lock; /* everything below */
    struct throttle_config cfg;
    double level[THROTTLE_NR], burst_level[THROTTLE_NR];
    uint64_t last_ns;
    unsigned members; /* drives in it (main thread) */
};

/* The VM's groups. A group is kept until the VM ends (a device may still hold it while the
 * main thread moves its drive elsewhere), emptied groups are reused by name. */
#define THROTTLE_MAX_GROUPS 64
struct throttle_groups {
    struct throttle_group *v[THROTTLE_MAX_GROUPS];
    unsigned n;
};

/* Joins the group called name (made when new), its limits replaced by cfg as QEMU does when a
 * drive joins with its own; NULL when there is no room. Main thread. */
struct throttle_group *throttle_group_join(struct throttle_groups *set, const char *name,
                                           const struct throttle_config *cfg, struct verr *err);
void throttle_group_leave(struct throttle_group *g);
void throttle_group_get_config(struct throttle_group *g, struct throttle_config *out);
void throttle_groups_free(struct throttle_groups *set);

/* Any thread: whether a request of bytes may start at now_ns. 0: yes, and it is counted; else
 * the nanoseconds to wait before asking again. */
uint64_t throttle_admit(struct throttle_group *g, bool write, uint64_t bytes, uint64_t now_ns);

#endif
