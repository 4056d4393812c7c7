/*
 * cmd-blockjob.c - vsh blockcopy and blockjob: a disk copied into another
 * file while the domain runs, its progress, speed, abort and pivot, with
 * virsh's options and outputs.
 *
 * blockcopy --wait follows the job by polling virDomainGetBlockJobInfo
 * (vireod shows cur == end only once the copy is in its mirroring phase),
 * as virsh does when it cannot register for block job events.
 * TODO: --wait through the BLOCK_JOB_2 event once libvireo delivers domain events;
 * virsh's --xml, --blockdev, --synchronous-writes, --print-xml and blockjob --raw.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tools/vsh/commands.h"
#include "tools/vsh/vsh.h"
#include "util/buf.h"

/* virsh's progress line on stderr: "\rBlock Copy: [ 42 %]" (a newline instead of the
 * carriage return when stderr is not a terminal). */
static void print_progress(struct vsh_ctl *ctl, unsigned long long cur, unsigned long long end)
{
    int progress = 100;
    if (end && cur < end)
        progress = (int)(100 - (end - cur) * 100 / end);
    fprintf(ctl->err, "%sBlock Copy: [%3d %%]", isatty(fileno(ctl->err)) ? "\r" : "\n", progress);
    fflush(ctl->err);
}

static void xml_escaped(struct buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '&')
            buf_append_str(b, "&amp;");
        else if (*s == '<')
            buf_append_str(b, "&lt;");
        else if (*s == '\'')
            buf_append_str(b, "&apos;");
        else
            buf_printf(b, "%c", *s);
    }
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The bandwidth option in bytes/s (MiB/s unless --bytes); -1 after the error. */
static int bandwidth_opt(struct vsh_ctl *ctl, const struct vsh_cmd *cmd, bool bytes,
                         unsigned long long *out)
{
    int r = vsh_opt_ulong(ctl, cmd, "bandwidth", out);
    if (r <= 0)
        return r;
    if (!bytes) {
        if (*out > (ULLONG_MAX >> 20)) {
            vsh_error(ctl, "bandwidth must be less than %llu", (ULLONG_MAX >> 20) + 1);
            return -1;
        }
        *out <<= 20;
    }
    return 1;
}

bool vsh_cmd_blockcopy(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    const char *path = vsh_opt_string(cmd, "path"), *dest = vsh_opt_string(cmd, "dest");
    const char *format = vsh_opt_string(cmd, "format");
    bool wait = vsh_opt_bool(cmd, "wait"), verbose = vsh_opt_bool(cmd, "verbose");
    bool pivot = vsh_opt_bool(cmd, "pivot"), finish = vsh_opt_bool(cmd, "finish");
    bool async = vsh_opt_bool(cmd, "async"), bytes = vsh_opt_bool(cmd, "bytes");
    bool transient_job = vsh_opt_bool(cmd, "transient-job");
    unsigned timeout = 0, granularity = 0;
    unsigned long long bandwidth = 0, buf_size = 0;
    if (pivot && finish) {
        vsh_error(ctl, "Options --%s and --%s are mutually exclusive", "pivot", "finish");
        return false;
    }
    if (!dest) {
        vsh_error(ctl, "%s", "need either --dest or --xml");
        return false;
    }
    int tr = vsh_opt_uint(ctl, cmd, "timeout", &timeout);
    if (tr < 0 || bandwidth_opt(ctl, cmd, bytes, &bandwidth) < 0 ||
        vsh_opt_uint(ctl, cmd, "granularity", &granularity) < 0 ||
        vsh_opt_ulong(ctl, cmd, "buf-size", &buf_size) < 0)
        return false;
    if (tr > 0 && !timeout) {
        vsh_error(ctl, "%s", "invalid timeout");
        return false;
    }
    /* As virsh: --timeout, --pivot and --finish imply --wait; --verbose and --async need one
     * of them. */
    if (tr > 0 || pivot || finish)
        wait = true;
    if ((verbose || async) && !wait) {
        vsh_error(ctl, "%s",
                  verbose ? "--verbose requires at least one of --timeout, --wait, --pivot, or "
                            "--finish"
                          : "--async requires at least one of --timeout, --wait, --pivot, or "
                            "--finish");
        return false;
    }
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_error err;
    bool ok = false;
    int r;
    /* As virsh: the old API (virDomainBlockRebase) unless something only the new one has. */
    if (granularity || buf_size || transient_job || (format && strcmp(format, "raw") != 0)) {
        struct buf x = BUF_INIT;
        buf_append_str(&x, "<disk type='file'>\n  <source file='");
        xml_escaped(&x, dest);
        buf_append_str(&x, "'/>\n");
        if (format) {
            buf_append_str(&x, "  <driver type='");
            xml_escaped(&x, format);
            buf_append_str(&x, "'/>\n");
        }
        buf_append_str(&x, "</disk>\n");
        vir_typed_parameter params[3];
        int n = 0;
        memset(params, 0, sizeof(params));
        if (bandwidth) {
            snprintf(params[n].field, sizeof(params[n].field), "%s",
                     VIR_DOMAIN_BLOCK_COPY_BANDWIDTH);
            params[n].type = VIR_TYPED_PARAM_ULLONG;
            params[n++].value.ul = bandwidth;
        }
        if (granularity) {
            snprintf(params[n].field, sizeof(params[n].field), "%s",
                     VIR_DOMAIN_BLOCK_COPY_GRANULARITY);
            params[n].type = VIR_TYPED_PARAM_UINT;
            params[n++].value.ui = granularity;
        }
        if (buf_size) {
            snprintf(params[n].field, sizeof(params[n].field), "%s",
                     VIR_DOMAIN_BLOCK_COPY_BUF_SIZE);
            params[n].type = VIR_TYPED_PARAM_ULLONG;
            params[n++].value.ul = buf_size;
        }
        unsigned flags =
            (vsh_opt_bool(cmd, "shallow") ? VIR_DOMAIN_BLOCK_COPY_SHALLOW : 0) |
            (vsh_opt_bool(cmd, "reuse-external") ? VIR_DOMAIN_BLOCK_COPY_REUSE_EXT : 0) |
            (transient_job ? VIR_DOMAIN_BLOCK_COPY_TRANSIENT_JOB : 0);
        char *xml = buf_detach(&x, NULL);
        r = vir_domain_block_copy(dom, path, xml, params, n, flags, &err);
        free(xml);
    } else {
        unsigned flags =
            VIR_DOMAIN_BLOCK_REBASE_COPY |
            (vsh_opt_bool(cmd, "shallow") ? VIR_DOMAIN_BLOCK_REBASE_SHALLOW : 0) |
            (vsh_opt_bool(cmd, "reuse-external") ? VIR_DOMAIN_BLOCK_REBASE_REUSE_EXT : 0) |
            (format ? VIR_DOMAIN_BLOCK_REBASE_COPY_RAW : 0) |
            VIR_DOMAIN_BLOCK_REBASE_BANDWIDTH_BYTES;
        r = vir_domain_block_rebase(dom, path, dest, (unsigned long)bandwidth, flags, &err);
    }
    if (r < 0) {
        vsh_report(ctl, &err);
        goto out;
    }
    if (!wait) {
        vsh_print_extra(ctl, "%s", "Block Copy started");
        ok = true;
        goto out;
    }
    double deadline = now_s() + timeout;
    for (;;) {
        vir_domain_block_job_info info;
        r = vir_domain_get_block_job_info(dom, path, &info, 0, &err);
        if (r < 0) {
            vsh_report(ctl, &err);
            goto out;
        }
        if (r == 0) { /* gone before its mirroring phase */
            vsh_error(ctl, "\n%s", "Copy failed");
            goto out;
        }
        if (verbose)
            print_progress(ctl, info.cur, info.end);
        if (info.end && info.cur == info.end)
            break;
        if (timeout && now_s() >= deadline) {
            if (vir_domain_block_job_abort(dom, path, 0, &err) < 0) {
                vsh_report(ctl, &err);
                goto out;
            }
            vsh_print_extra(ctl, "\n%s", "Copy aborted");
            goto out;
        }
        sleep_ms(500);
    }
    if (pivot || finish) {
        unsigned flags = (pivot ? VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT : 0) |
                         (async ? VIR_DOMAIN_BLOCK_JOB_ABORT_ASYNC : 0);
        if (vir_domain_block_job_abort(dom, path, flags, &err) < 0) {
            vsh_report(ctl, &err);
            vsh_error(ctl, "%s", pivot ? "failed to pivot job" : "failed to finish job");
            goto out;
        }
        vsh_print_extra(ctl, "\n%s", pivot ? "Successfully pivoted" : "Successfully copied");
    } else {
        vsh_print_extra(ctl, "\n%s", "Now in mirroring phase");
    }
    ok = true;
out:
    vir_domain_free(dom);
    return ok;
}

bool vsh_cmd_blockjob(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    const char *path = vsh_opt_string(cmd, "path");
    bool abort_ = vsh_opt_bool(cmd, "abort"), pivot = vsh_opt_bool(cmd, "pivot");
    bool async = vsh_opt_bool(cmd, "async"), info = vsh_opt_bool(cmd, "info");
    bool bytes = vsh_opt_bool(cmd, "bytes");
    unsigned long long bandwidth = 0;
    int br = bandwidth_opt(ctl, cmd, true, &bandwidth);
    if (br < 0)
        return false;
    bool speed = br > 0;
    if ((abort_ || pivot || async) + info + speed > 1) {
        vsh_error(ctl, "%s", "conflict in options");
        return false;
    }
    if (!bytes && speed) {
        if (bandwidth > (ULLONG_MAX >> 20)) {
            vsh_error(ctl, "bandwidth must be less than %llu", (ULLONG_MAX >> 20) + 1);
            return false;
        }
    }
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_error err;
    bool ok = false;
    if (abort_ || pivot || async) {
        unsigned flags = (pivot ? VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT : 0) |
                         (async ? VIR_DOMAIN_BLOCK_JOB_ABORT_ASYNC : 0);
        if (vir_domain_block_job_abort(dom, path, flags, &err) < 0)
            vsh_report(ctl, &err);
        else
            ok = true;
    } else if (speed) {
        unsigned flags = bytes ? VIR_DOMAIN_BLOCK_JOB_SPEED_BANDWIDTH_BYTES : 0;
        if (vir_domain_block_job_set_speed(dom, path, (unsigned long)bandwidth, flags, &err) < 0)
            vsh_report(ctl, &err);
        else
            ok = true;
    } else {
        vir_domain_block_job_info bi;
        int r = vir_domain_get_block_job_info(dom, path, &bi,
                                              VIR_DOMAIN_BLOCK_JOB_INFO_BANDWIDTH_BYTES, &err);
        if (r < 0) {
            vsh_report(ctl, &err);
        } else if (r == 0) {
            vsh_print_extra(ctl, "No current block job for %s\n", path);
            ok = true;
        } else {
            print_progress(ctl, bi.cur, bi.end);
            if (bi.bandwidth && bytes) {
                vsh_print(ctl, "    Bandwidth limit: %lu bytes/s", bi.bandwidth);
            } else if (bi.bandwidth) {
                static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
                double v = (double)bi.bandwidth;
                size_t u = 0;
                while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
                    v /= 1024;
                    u++;
                }
                vsh_print(ctl, "    Bandwidth limit: %lu bytes/s (%-.3lf %s/s)", bi.bandwidth, v,
                          units[u]);
            }
            vsh_print(ctl, "\n");
            ok = true;
        }
    }
    vir_domain_free(dom);
    return ok;
}
