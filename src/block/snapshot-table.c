/*
 * snapshot-table.c - the table of internal snapshots that `qemu-img snapshot -l`,
 * `qemu-img info` and the monitor's `info snapshots` print (QEMU's bdrv_snapshot_dump
 * layout: ID, TAG, VM SIZE, DATE in local time, VM CLOCK, ICOUNT).
 */
#include "block/block.h"
#include "util/buf.h"
#include "util/str.h"

#include <stdio.h>
#include <time.h>

void block_snapshot_table_header(struct buf *out)
{
    buf_printf(out, "%-10s%-17s%8s%20s%13s%11s\n", "ID", "TAG", "VM SIZE", "DATE", "VM CLOCK",
               "ICOUNT");
}

void block_snapshot_table_row(struct buf *out, const struct block_snapshot *sn, const char *id)
{
    char size[32], date[32], clock[40], icount[32];
    str_format_size(sn->vm_state_size, size, sizeof(size));
    time_t t = (time_t)sn->date_sec;
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
    uint64_t ms = sn->vm_clock_nsec / 1000000;
    snprintf(clock, sizeof(clock), "%02llu:%02llu:%02llu.%03llu",
             (unsigned long long)(ms / 3600000), (unsigned long long)(ms / 60000 % 60),
             (unsigned long long)(ms / 1000 % 60), (unsigned long long)(ms % 1000));
    if (sn->has_icount)
        snprintf(icount, sizeof(icount), "%llu", (unsigned long long)sn->icount);
    else
        icount[0] = '\0';
    buf_printf(out, "%-9s %-16s %8s%20s%13s%11s\n", id ? id : sn->id, sn->name, size, date, clock,
               icount);
}
