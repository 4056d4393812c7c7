/*
 * migration.h - QEMU's migration interface on vireo-vmm's state stream:
 * QMP migrate (file:, fd:, exec: URIs), migrate_cancel, query-migrate and
 * the MIGRATION events, -incoming and migrate-incoming, getfd/closefd for
 * file descriptors passed over the QMP socket, and the capabilities and
 * parameters libvirt sets around them.
 *
 * A save stops the vCPUs (status finish-migrate), captures device and CPU
 * state on the main thread, and streams it and guest RAM from a worker
 * thread, so QMP keeps answering. On success the VM stays stopped
 * (postmigrate, as QEMU); on failure or cancel it runs again if it was
 * running, and a file: target is left as it was (the stream goes to a
 * temporary file renamed over the target at the end).
 */
#ifndef VIREO_VMM_STATE_MIGRATION_H
#define VIREO_VMM_STATE_MIGRATION_H

#include "util/error.h"

#include <stdbool.h>

struct vm;
struct migration;
struct qmp_server;
struct tls_creds_spec;

struct migration *migration_new(struct vm *vm);
/* Waits for a worker still running (cancelling it) and frees everything. */
void migration_free(struct migration *m);
int migration_qmp_register(struct qmp_server *server, struct migration *m);
/* The VM's NBD server (nbd-server-start), owned by the migration object; NULL for none. */
struct nbd_server *migration_nbd(struct migration *m);
/* Before the VM quits: a destination in post-copy lets go of guest RAM's missing pages
 * (postcopy_dest_release), so its vCPUs can stop. */
void migration_quit(struct migration *m);
/* -incoming URI at start-up ("defer": wait for migrate-incoming). */
int migration_start_incoming(struct migration *m, const char *uri, struct verr *err);
/* True while a save or load is running (run-state commands wait or refuse). */
bool migration_active(const struct migration *m);
/* The internal snapshot jobs it owns (snapshot.h), for the monitor's savevm and loadvm. */
struct snapshot_jobs *migration_snapshot_jobs(struct migration *m);
/* The descriptor getfd kept under name, handed over to the caller (who closes it): gone from
 * the table, as QEMU's monitor gives a getfd descriptor to the backend that names it. -1 when
 * no descriptor has that name. */
int migration_take_fd(struct migration *m, const char *name);
/* QMP object-add of a tls-creds-x509 (its -object syntax in optstr), for migrate-set-parameters
 * tls-creds (as libvirt adds it at migration time); one line when refused. */
int migration_tls_creds_add(struct migration *m, const char *optstr, struct verr *err);
/* object-del: 1 when id was such an object (removed), 0 when it is no tls-creds-x509 here. */
int migration_tls_creds_del(struct migration *m, const char *id, struct verr *err);
/* The tls-creds-x509 object of that id (from the command line or object-add'ed), or NULL; valid
 * until the next object-del (main thread). The NBD server and the nbd driver use it too. */
const struct tls_creds_spec *migration_tls_creds_find(const struct migration *m, const char *id);
/* QMP object-add of an authz-simple or authz-list (taken over, also on failure); one line when
 * its id is taken. object-del: 1 when removed, 0 when id is no authz object, <0 (one line) when
 * tls-authz names it or a running migration or NBD server asks it. Find: NULL when none. */
struct authz;
int migration_authz_add(struct migration *m, struct authz *a, struct verr *err);
int migration_authz_del(struct migration *m, const char *id, struct verr *err);
struct authz *migration_authz_find(const struct migration *m, const char *id);

#endif
