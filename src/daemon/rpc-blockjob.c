/*
 * rpc-blockjob.c - libvirt's block job calls on a running domain: a copy
 * of a disk into another file (virDomainBlockCopy, and virDomainBlockRebase
 * with VIR_DOMAIN_BLOCK_REBASE_COPY, which virsh blockcopy uses for a raw
 * copy), its progress (virDomainGetBlockJobInfo), speed
 * (virDomainBlockJobSetSpeed) and end (virDomainBlockJobAbort, with PIVOT
 * the disk switches to the copy), with libvirt's QEMU driver's rules and
 * words. The jobs themselves are blockjob.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/domain_conf.h"
#include "conf/xnode.h"
#include "daemon/blockjob.h"
#include "daemon/domain.h"
#include "daemon/server.h"
#include "rpc/remote_extra.h"
#include "util/error.h"
#include "util/mem.h"

#define BANDWIDTH_MAX_MIB ((uint64_t)INT64_MAX >> 20)

/* The running domain's disk that path names, or -1 with libvirt's error. */
static int lookup(struct vd_call *c, const char *path, struct domain_disk **out)
{
    if (vd_call_need_running(c, c->dom, true) < 0)
        return -1;
    *out = vd_blockjob_disk(c->dom, path);
    if (!*out)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: disk '%s' not found in domain", path);
    return 0;
}

static void reply_done(void *opaque, int r, const char *error)
{
    vd_deferred_reply(opaque, NULL, NULL, VIR_ERR_INTERNAL_ERROR, VIR_FROM_QEMU,
                      r < 0 ? (error ? error : "internal error: block job failed") : NULL);
}

/* A local file's format by its first bytes: qcow2's magic, else raw. */
static const char *probe_format(const char *path)
{
    unsigned char m[4] = {0};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return "raw";
    ssize_t n = read(fd, m, sizeof(m));
    close(fd);
    return n == 4 && memcmp(m, "QFI\xfb", 4) == 0 ? "qcow2" : "raw";
}

/* What both copy calls check and do, once the destination is known. */
static int copy_start(struct vd_call *c, struct domain_disk *disk, struct vd_blockjob_copy *a,
                      bool transient_job)
{
    struct vd_domain *dom = c->dom;
    if (vd_blockjob_find(dom, disk->target_dev))
        return vd_call_fail(c, VIR_ERR_BLOCK_COPY_ACTIVE,
                            "block copy still active: disk '%s' already in active block job",
                            disk->target_dev);
    /* libvirt's rule: the copy is not kept across a restart of the domain, so a persistent
     * domain needs the caller to accept that (TRANSIENT_JOB). */
    if (dom->persistent && !transient_job)
        return vd_call_fail(c, VIR_ERR_OPERATION_INVALID,
                            "Requested operation is not valid: domain is not transient");
    if (disk->source_type != DOMAIN_DISK_SOURCE_FILE || !disk->source_path)
        return vd_call_fail(c, VIR_ERR_CONFIG_UNSUPPORTED,
                            "unsupported configuration: block copy of disk '%s': only a disk "
                            "with a local file source can be copied",
                            disk->target_dev);
    if (a->reuse && access(a->dest, F_OK) != 0)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: missing destination file for disk %s: %s",
                            disk->target_dev, a->dest);
    if (!a->format)
        a->format =
            a->reuse ? probe_format(a->dest) : (disk->driver_type ? disk->driver_type : "raw");
    if (strcmp(a->format, "raw") != 0 && strcmp(a->format, "qcow2") != 0)
        return vd_call_fail(c, VIR_ERR_CONFIG_UNSUPPORTED,
                            "unsupported configuration: block copy into format '%s': only raw "
                            "and qcow2 are supported",
                            a->format);
    struct vd_deferred *df = vd_defer(c);
    struct verr err = {0};
    if (vd_blockjob_copy(dom, disk, a, reply_done, df, &err) < 0) {
        vd_deferred_cancel(df);
        return vd_call_fail_errno(c, -err.code, &err);
    }
    return RPC_HANDLER_DEFERRED;
}

static int block_copy(struct vd_call *c)
{
    const struct remote_domain_block_copy_args *a = c->args;
    const unsigned known = VIR_DOMAIN_BLOCK_COPY_SHALLOW | VIR_DOMAIN_BLOCK_COPY_REUSE_EXT |
                           VIR_DOMAIN_BLOCK_COPY_TRANSIENT_JOB;
    if (vd_call_check_flags(c, a->flags, known, "qemuDomainBlockCopy") < 0)
        return -1;
    struct vd_blockjob_copy cp = {.shallow = a->flags & VIR_DOMAIN_BLOCK_COPY_SHALLOW,
                                  .reuse = a->flags & VIR_DOMAIN_BLOCK_COPY_REUSE_EXT};
    for (uint32_t k = 0; k < a->params_len; k++) {
        const struct remote_typed_param *p = &a->params[k];
        bool ull = strcmp(p->field, VIR_DOMAIN_BLOCK_COPY_BANDWIDTH) == 0 ||
                   strcmp(p->field, VIR_DOMAIN_BLOCK_COPY_BUF_SIZE) == 0;
        bool ui = strcmp(p->field, VIR_DOMAIN_BLOCK_COPY_GRANULARITY) == 0;
        if (!ull && !ui)
            return vd_call_fail(c, VIR_ERR_ARGUMENT_UNSUPPORTED,
                                "argument unsupported: parameter '%s' not supported", p->field);
        if ((ull && p->type != REMOTE_TYPED_PARAM_ULLONG) ||
            (ui && p->type != REMOTE_TYPED_PARAM_UINT))
            return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                                "invalid argument: invalid type for parameter '%s', expected "
                                "'%s'",
                                p->field, ull ? "ullong" : "uint");
        if (strcmp(p->field, VIR_DOMAIN_BLOCK_COPY_BANDWIDTH) == 0) {
            if (p->value.ul > (uint64_t)INT64_MAX)
                return vd_call_fail(c, VIR_ERR_OVERFLOW,
                                    "value too large: bandwidth must be less than '%llu'",
                                    (unsigned long long)INT64_MAX + 1);
            cp.bandwidth = p->value.ul;
        } else if (ui) {
            uint32_t g = p->value.ui;
            if (g && (g < 512 || g > 64u << 20 || (g & (g - 1))))
                return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                                    "invalid argument: granularity must be power of 2 between "
                                    "512 and 64 MiB");
            cp.granularity = g;
        } else {
            cp.buf_size = p->value.ul;
        }
    }
    struct domain_disk *disk;
    if (lookup(c, a->path, &disk) < 0)
        return -1;
    struct xnode *x = NULL;
    struct verr err = {0};
    if (xnode_parse_xml(a->destxml, strlen(a->destxml), "disk XML", &x, &err) < 0)
        return vd_call_fail(c, VIR_ERR_XML_ERROR, "%s", verr_msg(&err));
    const char *type = xnode_attr(x, "type");
    const char *file = xnode_attr(xnode_child(x, "source"), "file");
    const char *format = xnode_attr(xnode_child(x, "driver"), "type");
    int r;
    if (strcmp(x->name, "disk") != 0 || !type || strcmp(type, "file") != 0 || !file) {
        r = vd_call_fail(c, VIR_ERR_CONFIG_UNSUPPORTED,
                         "unsupported configuration: block copy destination must be "
                         "<disk type='file'> with <source file=...>");
    } else {
        cp.dest = file;
        cp.format = format;
        r = copy_start(c, disk, &cp, a->flags & VIR_DOMAIN_BLOCK_COPY_TRANSIENT_JOB);
    }
    xnode_free(x);
    return r;
}

/* virDomainBlockRebase: only its copy form (virsh blockcopy into a raw file or without
 * --format). TODO: the pull form (QMP block-stream) that the VMM does not have yet. */
static int block_rebase(struct vd_call *c)
{
    const struct remote_domain_block_rebase_args *a = c->args;
    const unsigned known = VIR_DOMAIN_BLOCK_REBASE_SHALLOW | VIR_DOMAIN_BLOCK_REBASE_REUSE_EXT |
                           VIR_DOMAIN_BLOCK_REBASE_COPY_RAW | VIR_DOMAIN_BLOCK_REBASE_COPY |
                           VIR_DOMAIN_BLOCK_REBASE_BANDWIDTH_BYTES;
    if (vd_call_check_flags(c, a->flags, known, "qemuDomainBlockRebase") < 0)
        return -1;
    if (!(a->flags & VIR_DOMAIN_BLOCK_REBASE_COPY))
        return vd_call_fail(c, VIR_ERR_NO_SUPPORT,
                            "this function is not supported by the connection driver: "
                            "virDomainBlockRebase without VIR_DOMAIN_BLOCK_REBASE_COPY "
                            "(block pull)");
    if (!a->base)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: destination for block copy is required");
    uint64_t bw = a->bandwidth;
    if (!(a->flags & VIR_DOMAIN_BLOCK_REBASE_BANDWIDTH_BYTES)) {
        if (bw > BANDWIDTH_MAX_MIB)
            return vd_call_fail(c, VIR_ERR_OVERFLOW,
                                "value too large: bandwidth must be less than %llu",
                                (unsigned long long)BANDWIDTH_MAX_MIB + 1);
        bw <<= 20;
    }
    struct domain_disk *disk;
    if (lookup(c, a->path, &disk) < 0)
        return -1;
    struct vd_blockjob_copy cp = {
        .dest = a->base,
        .format = (a->flags & VIR_DOMAIN_BLOCK_REBASE_COPY_RAW) ? "raw" : NULL,
        .shallow = a->flags & VIR_DOMAIN_BLOCK_REBASE_SHALLOW,
        .reuse = a->flags & VIR_DOMAIN_BLOCK_REBASE_REUSE_EXT,
        .bandwidth = bw,
    };
    return copy_start(c, disk, &cp, false);
}

struct info_call {
    struct vd_deferred *df;
    uint64_t bandwidth;
    int type;
};

static void info_done(void *opaque, int r, uint64_t cur, uint64_t end, const char *error)
{
    struct info_call *ic = opaque;
    struct remote_domain_get_block_job_info_ret ret = {
        .found = 1, .type = ic->type, .bandwidth = ic->bandwidth, .cur = cur, .end = end};
    vd_deferred_reply(ic->df, remote_proc_lookup(REMOTE_PROC_DOMAIN_GET_BLOCK_JOB_INFO)->ret, &ret,
                      VIR_ERR_INTERNAL_ERROR, VIR_FROM_QEMU, r < 0 ? error : NULL);
    free(ic);
}

static int get_block_job_info(struct vd_call *c)
{
    const struct remote_domain_get_block_job_info_args *a = c->args;
    if (vd_call_check_flags(c, a->flags, VIR_DOMAIN_BLOCK_JOB_INFO_BANDWIDTH_BYTES,
                            "qemuDomainGetBlockJobInfo") < 0)
        return -1;
    struct domain_disk *disk;
    if (lookup(c, a->path, &disk) < 0)
        return -1;
    struct vd_blockjob *job = vd_blockjob_find(c->dom, disk->target_dev);
    if (!job) {
        ((struct remote_domain_get_block_job_info_ret *)c->ret)->found = 0;
        return 0;
    }
    struct info_call *ic = xcalloc(1, sizeof(*ic));
    ic->type = job->type;
    ic->bandwidth = (a->flags & VIR_DOMAIN_BLOCK_JOB_INFO_BANDWIDTH_BYTES)
                        ? job->speed
                        : (job->speed + (1u << 20) - 1) >> 20;
    ic->df = vd_defer(c);
    struct verr err = {0};
    if (vd_blockjob_info(c->dom, job, info_done, ic, &err) < 0) {
        vd_deferred_cancel(ic->df);
        free(ic);
        return vd_call_fail_errno(c, -err.code, &err);
    }
    return RPC_HANDLER_DEFERRED;
}

static int block_job_abort(struct vd_call *c)
{
    const struct remote_domain_block_job_abort_args *a = c->args;
    const unsigned known = VIR_DOMAIN_BLOCK_JOB_ABORT_ASYNC | VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT;
    if (vd_call_check_flags(c, a->flags, known, "qemuDomainBlockJobAbort") < 0)
        return -1;
    struct domain_disk *disk;
    if (lookup(c, a->path, &disk) < 0)
        return -1;
    struct vd_blockjob *job = vd_blockjob_find(c->dom, disk->target_dev);
    if (!job)
        return vd_call_fail(c, VIR_ERR_OPERATION_INVALID,
                            "Requested operation is not valid: disk %s does not have an active "
                            "block job",
                            disk->target_dev);
    if (job->aborting || job->pivoting)
        return vd_call_fail(c, VIR_ERR_OPERATION_INVALID,
                            "Requested operation is not valid: block job on disk '%s' is "
                            "still being ended",
                            disk->target_dev);
    bool pivot = a->flags & VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT;
    if (pivot && !job->ready)
        return vd_call_fail(c, VIR_ERR_BLOCK_COPY_ACTIVE,
                            "block copy still active: disk '%s' not ready for pivot yet",
                            disk->target_dev);
    struct vd_deferred *df = vd_defer(c);
    struct verr err = {0};
    if (vd_blockjob_abort(c->dom, job, pivot, a->flags & VIR_DOMAIN_BLOCK_JOB_ABORT_ASYNC,
                          reply_done, df, &err) < 0) {
        vd_deferred_cancel(df);
        return vd_call_fail_errno(c, -err.code, &err);
    }
    return RPC_HANDLER_DEFERRED;
}

static int block_job_set_speed(struct vd_call *c)
{
    const struct remote_domain_block_job_set_speed_args *a = c->args;
    if (vd_call_check_flags(c, a->flags, VIR_DOMAIN_BLOCK_JOB_SPEED_BANDWIDTH_BYTES,
                            "qemuDomainBlockJobSetSpeed") < 0)
        return -1;
    uint64_t bw = a->bandwidth;
    if (!(a->flags & VIR_DOMAIN_BLOCK_JOB_SPEED_BANDWIDTH_BYTES)) {
        if (bw > BANDWIDTH_MAX_MIB)
            return vd_call_fail(c, VIR_ERR_OVERFLOW,
                                "value too large: bandwidth must be less than %llu",
                                (unsigned long long)BANDWIDTH_MAX_MIB + 1);
        bw <<= 20;
    }
    struct domain_disk *disk;
    if (lookup(c, a->path, &disk) < 0)
        return -1;
    struct vd_blockjob *job = vd_blockjob_find(c->dom, disk->target_dev);
    if (!job)
        return vd_call_fail(c, VIR_ERR_OPERATION_INVALID,
                            "Requested operation is not valid: disk %s does not have an active "
                            "block job",
                            disk->target_dev);
    struct vd_deferred *df = vd_defer(c);
    struct verr err = {0};
    if (vd_blockjob_set_speed(c->dom, job, bw, reply_done, df, &err) < 0) {
        vd_deferred_cancel(df);
        return vd_call_fail_errno(c, -err.code, &err);
    }
    return RPC_HANDLER_DEFERRED;
}

static const struct vd_proc procs[] = {
    {REMOTE_PROC_DOMAIN_BLOCK_COPY, block_copy},
    {REMOTE_PROC_DOMAIN_BLOCK_REBASE, block_rebase},
    {REMOTE_PROC_DOMAIN_GET_BLOCK_JOB_INFO, get_block_job_info},
    {REMOTE_PROC_DOMAIN_BLOCK_JOB_ABORT, block_job_abort},
    {REMOTE_PROC_DOMAIN_BLOCK_JOB_SET_SPEED, block_job_set_speed},
};
VD_PROC_TABLE(vd_blockjob_procs, procs);
