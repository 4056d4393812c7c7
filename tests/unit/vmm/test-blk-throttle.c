/*
 * test-blk-throttle.c - the leaky buckets of vireo-vmm's I/O limits
 * (src/vmm/dev/blk-throttle.c) on a simulated clock (a request every 10 us
 * when allowed): what a stream of requests gets through over time, with and without a burst, the
 * iops-size unit, read and write buckets apart, groups shared, and QEMU's refusals.
 */
#include "../tap.h"
#include "vmm/dev/blk-throttle.h"

#include <errno.h>
#include <stdint.h>

#define SEC 1000000000ull

/* Requests of size bytes issued back to back for secs seconds (each as soon as admitted):
 * the bytes admitted. */
static uint64_t clock_ns = SEC; /* the simulated time, running on across streams */

static uint64_t stream(struct throttle_group *g, bool write, uint64_t size, double secs)
{
    uint64_t now = clock_ns, end = clock_ns + (uint64_t)(secs * (double)SEC), bytes = 0;
    while (now < end) {
        uint64_t wait = throttle_admit(g, write, size, now);
        if (wait == 0)
            bytes += size, now += 10000; /* the next request 10 us later */
        else
            now += wait;
    }
    clock_ns = now;
    return bytes;
}

static struct throttle_group *group(struct throttle_groups *set, const char *name,
                                    const struct throttle_config *cfg)
{
    struct verr e = {0};
    return throttle_group_join(set, name, cfg, &e);
}

int main(void)
{
    struct throttle_groups set = {0};
    struct throttle_config c;
    throttle_config_init(&c);
    ok(!throttle_config_enabled(&c), "a fresh configuration limits nothing");

    c.b[THROTTLE_BPS_WRITE].avg = 1 << 20;
    struct throttle_group *g = group(&set, "w", &c);
    uint64_t got = stream(g, true, 65536, 10);
    uint64_t cap = 10 * (1 << 20) + (1 << 20) / 10 + 65536;
    ok(got <= cap && got >= 10 * (1 << 20) - 65536,
       "1 MiB/s for 10 s: %llu bytes (the rate, plus at most a tenth and a request)",
       (unsigned long long)got);
    uint64_t reads = stream(g, false, 65536, 1);
    ok(reads > 100 * 65536ull, "reads are not held by a write limit (%llu)",
       (unsigned long long)reads);

    throttle_config_init(&c);
    c.b[THROTTLE_OPS_TOTAL].avg = 100;
    c.b[THROTTLE_OPS_TOTAL].max = 1000;
    c.b[THROTTLE_OPS_TOTAL].burst_length = 2;
    g = group(&set, "burst", &c);
    uint64_t ops = stream(g, false, 512, 1) / 512;
    ok(ops >= 1000 && ops <= 1000 + 100 + 2, "a burst at 1000 iops: %llu in the first s",
       (unsigned long long)ops);
    uint64_t more = stream(g, false, 512, 10) / 512;
    ok(ops + more <= 2000 + 100 * 11 + 2 && ops + more >= 2000 + 100 * 10,
       "then 100 iops once the burst (1000 x 2 s) is spent: %llu in 11 s",
       (unsigned long long)(ops + more));

    throttle_config_init(&c);
    c.b[THROTTLE_OPS_TOTAL].avg = 10;
    c.op_size = 4096;
    g = group(&set, "size", &c);
    ops = stream(g, true, 40960, 10) / 40960;
    ok(ops <= 11 && ops >= 9, "iops-size 4096: a 40 KiB request counts as 10 (%llu in 10 s)",
       (unsigned long long)ops);

    throttle_config_init(&c);
    c.b[THROTTLE_BPS_TOTAL].avg = 1 << 20;
    struct throttle_group *a = group(&set, "shared", &c), *b = group(&set, "shared", &c);
    ok(a == b && a->members == 2, "two drives naming one group share it");
    uint64_t now = clock_ns, both = 0, stop = clock_ns + 10 * SEC;
    for (int i = 0; now < stop; i++) {
        uint64_t wait = throttle_admit(i % 2 ? a : b, false, 65536, now);
        if (!wait)
            both += 65536, now += 10000;
        else
            now += wait;
    }
    ok(both <= 10 * (1 << 20) + (1 << 20) / 10 + 65536, "their sum keeps to the group's rate");

    struct verr e = {0};
    throttle_config_init(&c);
    c.b[THROTTLE_BPS_TOTAL].avg = 10;
    c.b[THROTTLE_BPS_READ].avg = 5;
    int r = throttle_config_check(&c, &e);
    ok(r < 0 && !strcmp(verr_msg(&e), "bps/iops/max total values and read/write values cannot "
                                      "be used at the same time"),
       "total with read refused in QEMU's words");
    throttle_config_init(&c);
    c.b[THROTTLE_OPS_READ].max = 5;
    r = throttle_config_check(&c, &e);
    ok(r < 0 && !strcmp(verr_msg(&e), "bps_max/iops_max require corresponding bps/iops values"),
       "a max without its rate refused in QEMU's words");
    ok(throttle_config_set_option(&c, "iops-write-max-length", 3) == 0 &&
           c.b[THROTTLE_OPS_WRITE].burst_length == 3 &&
           throttle_config_set_option(&c, "bps-nope", 1) == -ENOENT,
       "-drive option names");
    throttle_groups_free(&set);
    return tap_done();
}
