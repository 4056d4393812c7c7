/*
 * obj-events.h - the registrations of libvirt's object events other than the domain's
 * (network, storage pool and secret events: virConnect*EventRegisterAny): a client registers
 * for one event id, of every object or of one (by UUID), and gets a callback id from its
 * connection's counter; an event goes to every registration that matches, each message
 * carrying that registration's id. A client's registrations end with it. Main thread.
 */
#ifndef VIREO_DAEMON_OBJ_EVENTS_H
#define VIREO_DAEMON_OBJ_EVENTS_H

#include <stdbool.h>
#include <stdint.h>

struct vd_client;

struct vd_obj_callback {
    struct vd_obj_callback *next;
    struct vd_client *client;
    int id, event_id;
    bool one; /* only the object of uuid */
    unsigned char uuid[16];
};

/* Registers client for event_id of every object (uuid NULL) or of one: the callback id. */
int vd_obj_callback_add(struct vd_obj_callback **list, struct vd_client *client, int event_id,
                        const unsigned char *uuid);
/* Ends the client's registration id: 0, or -1 when it has none such. */
int vd_obj_callback_del(struct vd_obj_callback **list, struct vd_client *client, int id);
/* Sends msg (the arguments of proc, an event message) to every registration for event_id of
 * every object or of uuid, with *cb_id (the message's callbackID) set to each one's id. A
 * send that fails drops its client, so the receivers are taken first. */
void vd_obj_event_send(struct vd_obj_callback *list, int event_id, const unsigned char *uuid,
                       int proc, void *msg, int32_t *cb_id);
void vd_obj_callbacks_client_gone(struct vd_obj_callback **list, struct vd_client *c);
void vd_obj_callbacks_free(struct vd_obj_callback **list);

#endif
