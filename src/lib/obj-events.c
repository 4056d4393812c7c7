/*
 * obj-events.c - the local callbacks of the object events (networks,
 * secrets, storage pools: driver.h's vir_obj_event_cb). Each public
 * registration is one server registration; the list maps the client's
 * callback id to the server's, whose events pick the local callback.
 */
#include <stdlib.h>

#include "lib/driver.h"
#include "util/mem.h"

int vir_obj_event_add(vir_connect *conn, struct vir_obj_event_cb **list, int server_id,
                      int event_id, void (*cb)(void), void *opaque, vir_free_callback freecb)
{
    struct vir_obj_event_cb *e = xcalloc(1, sizeof(*e));
    e->id = conn->next_callback_id++;
    e->server_id = server_id;
    e->event_id = event_id;
    e->cb = cb;
    e->opaque = opaque;
    e->freecb = freecb;
    e->next = *list;
    *list = e;
    return e->id;
}

int vir_obj_event_take(struct vir_obj_event_cb **list, int callback_id, int *server_id,
                       vir_error *err)
{
    for (struct vir_obj_event_cb **p = list; *p; p = &(*p)->next) {
        if ((*p)->id != callback_id)
            continue;
        struct vir_obj_event_cb *e = *p;
        *p = e->next;
        *server_id = e->server_id;
        if (e->freecb)
            e->freecb(e->opaque);
        free(e);
        return 0;
    }
    return vir_report(err, VIR_ERR_INVALID_ARG, "could not find event callback %d for deletion",
                      callback_id);
}

struct vir_obj_event_cb *vir_obj_event_find(struct vir_obj_event_cb *list, int server_id,
                                            int event_id)
{
    for (struct vir_obj_event_cb *e = list; e; e = e->next)
        if (e->server_id == server_id && e->event_id == event_id)
            return e;
    return NULL;
}

void vir_obj_events_free(struct vir_obj_event_cb **list)
{
    while (*list) {
        struct vir_obj_event_cb *e = *list;
        *list = e->next;
        if (e->freecb)
            e->freecb(e->opaque);
        free(e);
    }
}
