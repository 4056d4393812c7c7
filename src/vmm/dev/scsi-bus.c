/*
 * scsi-bus.c - the logical units of a SCSI controller, by target and LUN,
 * with the in-flight counts that let a unit leave or reset only when idle
 * (see scsi.h). Units are few (one per -drive), so the lookups are a walk.
 */
#include "util/mem.h"
#include "vmm/dev/scsi.h"

#include <stdlib.h>

void scsi_bus_init(struct scsi_bus *bus)
{
    *bus = (struct scsi_bus){0};
    pthread_mutex_init(&bus->lock, NULL);
    pthread_cond_init(&bus->idle, NULL);
}

void scsi_bus_destroy(struct scsi_bus *bus)
{
    free(bus->luns);
    pthread_mutex_destroy(&bus->lock);
    pthread_cond_destroy(&bus->idle);
}

void scsi_bus_attach(struct scsi_bus *bus, struct scsi_lun *lun)
{
    lun->report_change = bus->report_change;
    lun->report_opaque = bus->report_opaque;
    pthread_mutex_lock(&bus->lock);
    bus->luns = xreallocarray(bus->luns, bus->nr + 1, sizeof(*bus->luns));
    bus->luns[bus->nr++] = lun;
    pthread_mutex_unlock(&bus->lock);
}

void scsi_bus_detach(struct scsi_bus *bus, struct scsi_lun *lun)
{
    if (bus->stop)
        bus->stop(bus);
    pthread_mutex_lock(&bus->lock);
    while (lun->inflight)
        pthread_cond_wait(&bus->idle, &bus->lock);
    for (unsigned i = 0; i < bus->nr; i++) {
        if (bus->luns[i] == lun) {
            bus->luns[i] = bus->luns[--bus->nr];
            break;
        }
    }
    pthread_mutex_unlock(&bus->lock);
}

struct scsi_lun *scsi_bus_get(struct scsi_bus *bus, unsigned target, unsigned lun,
                              bool *target_exists)
{
    struct scsi_lun *found = NULL;
    *target_exists = false;
    pthread_mutex_lock(&bus->lock);
    for (unsigned i = 0; i < bus->nr; i++) {
        if (bus->luns[i]->target != target)
            continue;
        *target_exists = true;
        if (bus->luns[i]->lun == lun)
            found = bus->luns[i];
    }
    if (found)
        found->inflight++;
    pthread_mutex_unlock(&bus->lock);
    return found;
}

void scsi_bus_put(struct scsi_bus *bus, struct scsi_lun *lun)
{
    pthread_mutex_lock(&bus->lock);
    if (--lun->inflight == 0)
        pthread_cond_broadcast(&bus->idle);
    pthread_mutex_unlock(&bus->lock);
}

static bool busy(struct scsi_bus *bus, int target, struct scsi_lun *lun)
{
    for (unsigned i = 0; i < bus->nr; i++) {
        struct scsi_lun *l = bus->luns[i];
        if ((lun && l != lun) || (target >= 0 && l->target != (unsigned)target))
            continue;
        if (l->inflight)
            return true;
    }
    return false;
}

void scsi_bus_drain(struct scsi_bus *bus, int target, struct scsi_lun *lun)
{
    pthread_mutex_lock(&bus->lock);
    while (busy(bus, target, lun))
        pthread_cond_wait(&bus->idle, &bus->lock);
    pthread_mutex_unlock(&bus->lock);
}

unsigned scsi_bus_target_luns(struct scsi_bus *bus, unsigned target, unsigned *out, unsigned max)
{
    unsigned n = 0;
    pthread_mutex_lock(&bus->lock);
    for (unsigned i = 0; i < bus->nr && n < max; i++)
        if (bus->luns[i]->target == target)
            out[n++] = bus->luns[i]->lun;
    pthread_mutex_unlock(&bus->lock);
    return n;
}
