/*
 * snapshot.h - vireod's domain snapshots (libvirt's virDomainSnapshot*):
 * the metadata of each snapshot of a domain, kept in the store, and the
 * jobs that create, revert to and delete them.
 *
 *   snapshot-store.c   the metadata: one file per snapshot
 *                      (SNAPSHOT_DIR/DOMAIN/NAME.xml, libvirt's format with
 *                      <active>1</active> on the current one), replaced
 *                      atomically; the tree (each snapshot names its
 *                      parent) and the listing filters of virsh
 *   snapshot-create.c  virDomainSnapshotCreateXML: internal snapshots (a
 *                      running domain through the VMM's snapshot-save job,
 *                      a shut off one through the block layer on each qcow2
 *                      disk, as libvirt runs qemu-img snapshot -c) and
 *                      external disk-only ones
 *   snapshot-revert.c  virDomainRevertToSnapshot and virDomainSnapshotDelete
 * The RPC procedures are rpc-snapshot.c.
 */
#ifndef VIREO_DAEMON_SNAPSHOT_H
#define VIREO_DAEMON_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/snapshot_conf.h"

struct vd_daemon;
struct vd_domain;
struct vd_job;
struct verr;

/* One snapshot's metadata, in the domain's list (creation order). */
struct vd_snapshot {
    struct vd_snapshot *next;
    struct snapshot_def *def; /* def->domain: the domain as it was */
};

/* ---- snapshot-store.c ---- */
/* Reads the domain's snapshots from the store (a file that cannot be read
 * is logged and skipped). */
void vd_snapshot_load(struct vd_domain *dom);
void vd_snapshot_free_all(struct vd_domain *dom);
/* Writes a snapshot's file (with <active> when it is the current one). */
int vd_snapshot_write(struct vd_domain *dom, struct vd_snapshot *s, struct verr *err);
/* Removes every snapshot file of the domain and its directory. */
void vd_snapshot_remove_all_files(struct vd_domain *dom);
struct vd_snapshot *vd_snapshot_find(struct vd_domain *dom, const char *name);
struct vd_snapshot *vd_snapshot_current(struct vd_domain *dom);
size_t vd_snapshot_count(struct vd_domain *dom);
/* Makes name the current snapshot (NULL: none), rewriting the files whose
 * <active> changes. */
int vd_snapshot_set_current(struct vd_domain *dom, const char *name, struct verr *err);
/* Adds s (taken over) and writes it; on error s is freed. */
int vd_snapshot_add(struct vd_domain *dom, struct snapshot_def *def, bool make_current,
                    struct verr *err);
/* Drops one snapshot's metadata (file and list entry); its children take its
 * parent as theirs (rewritten), as libvirt reparents them. */
int vd_snapshot_drop(struct vd_domain *dom, struct vd_snapshot *s, struct verr *err);
/* Whether s has no parent; how many children and descendants it has. */
size_t vd_snapshot_children(struct vd_domain *dom, const struct vd_snapshot *s, bool descendants);
bool vd_snapshot_is_descendant(struct vd_domain *dom, const struct vd_snapshot *s,
                               const struct vd_snapshot *ancestor);
/* Whether s passes virsh's listing filter (VIR_DOMAIN_SNAPSHOT_LIST_* bits
 * other than ROOTS / DESCENDANTS / TOPOLOGICAL). */
bool vd_snapshot_matches(struct vd_domain *dom, const struct vd_snapshot *s, unsigned flags);
/* What kind of snapshot it is. */
bool vd_snapshot_is_external(const struct snapshot_def *def);
bool vd_snapshot_is_inactive(const struct snapshot_def *def);

/* ---- snapshot-create.c: job->xml the snapshot XML, job->flags libvirt's;
 * job->text gets the created snapshot's name on success ---- */
void vd_snapshot_job_create(struct vd_job *job);
/* ---- snapshot-revert.c: job->path the snapshot's name ---- */
void vd_snapshot_job_revert(struct vd_job *job);
void vd_snapshot_job_delete(struct vd_job *job);
/* lifecycle.c's start job with job->snapshot set, once the VMM runs (paused):
 * the snapshot's state is loaded and the job ends (job->paused: stays paused). */
void vd_snapshot_started(struct vd_job *job);

#endif
