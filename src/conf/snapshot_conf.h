/*
 * snapshot_conf.h - libvirt domain snapshot XML
 * (https://libvirt.org/formatsnapshot.html): a snapshot's name, description,
 * the domain's state when it was taken, its parent, creation time, where
 * the memory went (none, inside the disks' qcow2, or an external file), what
 * happened to each disk (internal, external overlay, or nothing), and the
 * domain definition at that moment. Parse, validate, format, as libvirt
 * prints it (virsh snapshot-dumpxml); the daemon's snapshot store and
 * commands build on it.
 *
 * Used by vireod (src/daemon/snapshot*.c: the store keeps one file per
 * snapshot in ROOT/lib/snapshot/DOMAIN/NAME.xml, with <active> on the
 * current one), the test driver (src/lib/test-driver.c) and vsh's listings.
 */
#ifndef VIREO_CONF_SNAPSHOT_CONF_H
#define VIREO_CONF_SNAPSHOT_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/xnode.h"
#include "util/error.h"

/* <memory snapshot=...> and <disk snapshot=...>: libvirt's
 * virDomainSnapshotLocation names. */
enum snapshot_location {
    SNAPSHOT_LOCATION_DEFAULT, /* not given */
    SNAPSHOT_LOCATION_NO,
    SNAPSHOT_LOCATION_INTERNAL,
    SNAPSHOT_LOCATION_EXTERNAL,
    SNAPSHOT_LOCATION_MANUAL,
    SNAPSHOT_LOCATION_LAST
};

/* <state>: the domain's state names, plus disk-snapshot (libvirt's
 * virDomainSnapshotState). */
enum snapshot_state {
    SNAPSHOT_STATE_NONE, /* not given */
    SNAPSHOT_STATE_NOSTATE,
    SNAPSHOT_STATE_RUNNING,
    SNAPSHOT_STATE_BLOCKED,
    SNAPSHOT_STATE_PAUSED,
    SNAPSHOT_STATE_SHUTDOWN,
    SNAPSHOT_STATE_SHUTOFF,
    SNAPSHOT_STATE_CRASHED,
    SNAPSHOT_STATE_PMSUSPENDED,
    SNAPSHOT_STATE_DISK_SNAPSHOT,
    SNAPSHOT_STATE_LAST
};

struct snapshot_disk {
    char *name; /* the disk's target (vda) or source path */
    enum snapshot_location snapshot;
    char *driver_type; /* <driver type='qcow2'/> of an external overlay, or NULL */
    char *source_file; /* <source file=.../> of an external overlay, or NULL */
};

struct snapshot_def {
    char *name;
    char *description;
    enum snapshot_state state;
    char *parent;          /* the parent snapshot's name, or NULL */
    int64_t creation_time; /* seconds since the epoch; -1 when not given */
    enum snapshot_location memory;
    char *memory_file; /* external memory state */
    struct snapshot_disk *disks;
    size_t ndisks;
    struct xnode *domain; /* <domain> as taken (the daemon formats it), or NULL */
    struct xnode *cookie; /* <cookie>: the hypervisor's own, kept */
    int active;           /* <active>: 1 when this was the domain's state, -1 not given */
};

enum snapshot_parse_flags {
    /* From a client (snapshot-create): only name, description, memory,
     * disks (and domain for --redefine) may be given. */
    SNAPSHOT_PARSE_CREATE = 1 << 0,
};

int snapshot_def_parse_string(const char *xml, unsigned flags, struct snapshot_def **out,
                              struct verr *err);
char *snapshot_def_format(const struct snapshot_def *def);
void snapshot_def_free(struct snapshot_def *def);
const char *snapshot_location_to_string(enum snapshot_location l);
const char *snapshot_state_to_string(enum snapshot_state s);

#endif
