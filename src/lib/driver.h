/*
 * driver.h - the interface between libvireo's public API and its drivers.
 *
 * Like libvirt's hypervisor drivers, a driver is a table of functions; a
 * connection picks one by its URI's scheme when it opens and then every
 * public call is a checked forwarder to it (src/lib/vireo.c). The public
 * layer does the work common to all drivers (argument checks, read-only
 * refusal, handle bookkeeping, event delivery); a driver only does the
 * operation. A NULL entry means "not supported by this driver" and the public
 * layer reports it as such, so drivers can grow one operation at a time.
 *
 * Two drivers: "test" (test-driver.c, in-process and in memory), and the
 * remote driver (remote-driver.c) for the "vireo" and "qemu" schemes, which
 * speaks the libvirt protocol to vireod.
 */
#ifndef VIREO_LIB_DRIVER_H
#define VIREO_LIB_DRIVER_H

#include <stdint.h>

#include "vireo/vireo.h"

struct vir_driver_event_sink;

/* The state of a connection that drivers may see. */
struct vir_connect {
    int refs;
    unsigned int flags; /* vir_connect_flags */
    char *uri;
    const struct vir_driver *driver;
    void *priv; /* the driver's per-connection state */
    struct vir_event_cb *callbacks;
    struct vir_obj_event_cb *net_callbacks;    /* network.c */
    struct vir_obj_event_cb *secret_callbacks; /* secret.c */
    struct vir_obj_event_cb *pool_callbacks;   /* storage.c */
    int next_callback_id;
    vir_connect_auth_fn auth_cb; /* vir_connect_open_auth's, for SASL (may be NULL) */
    void *auth_opaque;
};

/* A stream (the console): what the public layer and the driver share. */
struct vir_stream {
    vir_connect *conn; /* holds a reference */
    int proc;          /* the procedure that opened it */
    uint32_t serial;   /* ... and its call's serial, which names the stream */
    char *data;        /* received, not yet taken by vir_stream_recv */
    size_t len, cap;
    bool eof;
    bool data_end; /* the server sent the end of its data (an empty CONTINUE); finish still due */
    bool failed;
    vir_error error; /* when failed */
};

/* A domain handle: what names the domain, nothing more. */
struct vir_domain {
    int refs;
    vir_connect *conn;
    char *name;
    unsigned char uuid[VIR_UUID_BUFLEN];
    int id; /* as of the handle's creation */
};

/* A snapshot handle: its name and its domain (a reference held). */
struct vir_domain_snapshot {
    int refs;
    vir_domain *dom;
    char *name;
};

/* Makes a handle (refs = 1, holds a reference on conn). */
vir_domain *vir_domain_handle_new(vir_connect *conn, const char *name,
                                  const unsigned char uuid[VIR_UUID_BUFLEN], int id);

/* Sets err to code and a message "PREFIX: detail" where the prefix is
 * libvirt's wording for that code ("Requested operation is not valid", ...). */
int vir_report(vir_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* libvirt's "unsupported flags (0x4) in function X" (an INVALID_ARG without prefix). */
int vir_report_flags(vir_error *err, unsigned flags, const char *func);

/* Delivers a lifecycle event (event -1: a reboot, for VIR_DOMAIN_EVENT_ID_REBOOT callbacks) to
 * every matching callback of conn. */
void vir_emit_lifecycle(vir_connect *conn, const char *name, const unsigned char *uuid, int id,
                        int event, int detail);

/* A network handle: its name and UUID, holding a reference on its connection. */
struct vir_network {
    int refs;
    vir_connect *conn;
    char *name;
    unsigned char uuid[VIR_UUID_BUFLEN];
};

vir_network *vir_network_handle_new(vir_connect *conn, const char *name,
                                    const unsigned char uuid[VIR_UUID_BUFLEN]);
/* A connection's references, for handles kept outside vireo.c. */
void vir_connect_hold(vir_connect *conn);
void vir_connect_release(vir_connect *conn);

/* The local callbacks of one kind of object event (obj-events.c): the client's id, the
 * server's callbackID its events carry, the event id, and the callback as registered (the
 * caller casts it back to its type when calling it). */
struct vir_obj_event_cb {
    struct vir_obj_event_cb *next;
    int id, server_id, event_id;
    void (*cb)(void);
    void *opaque;
    vir_free_callback freecb;
};
/* Adds a callback to list; returns its client id (the connection's next). */
int vir_obj_event_add(vir_connect *conn, struct vir_obj_event_cb **list, int server_id,
                      int event_id, void (*cb)(void), void *opaque, vir_free_callback freecb);
/* Unlinks and frees callback_id (its freecb run), giving its server id; -1 with libvirt's
 * "could not find event callback N for deletion" when the list has none. */
int vir_obj_event_take(struct vir_obj_event_cb **list, int callback_id, int *server_id,
                       vir_error *err);
/* The callback an event for (server_id, event_id) goes to, or NULL. */
struct vir_obj_event_cb *vir_obj_event_find(struct vir_obj_event_cb *list, int server_id,
                                            int event_id);
void vir_obj_events_free(struct vir_obj_event_cb **list);

/* Delivers a network lifecycle event the server sent for its callback server_id to the local
 * callback registered under it (network.c); the local callbacks freed at close. */
void vir_emit_network_lifecycle(vir_connect *conn, int server_id, const char *name,
                                const unsigned char *uuid, int event, int detail);
void vir_network_events_free(vir_connect *conn);

/* Delivers a secret event (event_id a vir_secret_event_id; event and detail the lifecycle's)
 * the server sent for its callback server_id to the local callback registered under it
 * (secret.c); the local callbacks freed at close. */
void vir_emit_secret_event(vir_connect *conn, int server_id, int event_id,
                           const unsigned char *uuid, int usage_type, const char *usage_id,
                           int event, int detail);
void vir_secret_events_free(vir_connect *conn);

/* The same for a storage pool event (storage.c). */
void vir_emit_pool_event(vir_connect *conn, int server_id, int event_id, const char *name,
                         const unsigned char *uuid, int event, int detail);
void vir_pool_events_free(vir_connect *conn);

/* The network operations of a driver (network.c is their public layer). */
struct vir_network_driver {
    int (*list_all)(vir_connect *conn, vir_network ***nets, unsigned int flags, vir_error *err);
    vir_network *(*lookup_by_name)(vir_connect *conn, const char *name, vir_error *err);
    vir_network *(*lookup_by_uuid)(vir_connect *conn, const unsigned char *uuid, vir_error *err);
    vir_network *(*define_xml)(vir_connect *conn, const char *xml, vir_error *err);
    vir_network *(*create_xml)(vir_connect *conn, const char *xml, vir_error *err);
    int (*create)(vir_network *net, vir_error *err);
    int (*destroy)(vir_network *net, vir_error *err);
    int (*undefine)(vir_network *net, vir_error *err);
    char *(*get_xml_desc)(vir_network *net, unsigned int flags, vir_error *err);
    int (*get_autostart)(vir_network *net, int *autostart, vir_error *err);
    int (*set_autostart)(vir_network *net, int autostart, vir_error *err);
    int (*update)(vir_network *net, unsigned int command, unsigned int section, int parent_index,
                  const char *xml, unsigned int flags, vir_error *err);
    char *(*get_bridge_name)(vir_network *net, vir_error *err);
    int (*is_active)(vir_network *net, vir_error *err);
    int (*is_persistent)(vir_network *net, vir_error *err);
    int (*get_dhcp_leases)(vir_network *net, const char *mac, vir_network_dhcp_lease ***leases,
                           unsigned int flags, vir_error *err);
    /* The network's ports (virNetworkListAllPorts: their UUIDs), virNetworkPortLookupByUUID,
     * virNetworkPortGetXMLDesc and virNetworkPortDelete, a port named by its UUID. */
    int (*list_ports)(vir_network *net, char ***uuids, unsigned int flags, vir_error *err);
    int (*port_lookup)(vir_network *net, const unsigned char *uuid, vir_error *err);
    char *(*port_get_xml_desc)(vir_network *net, const unsigned char *uuid, unsigned int flags,
                               vir_error *err);
    int (*port_delete)(vir_network *net, const unsigned char *uuid, unsigned int flags,
                       vir_error *err);
    /* virNetworkPortCreateXML: the new port's UUID in uuid_out */
    int (*port_create_xml)(vir_network *net, const char *xml, unsigned int flags,
                           unsigned char uuid_out[16], vir_error *err);
    /* virDomainInterfaceAddresses (kept here: it reads the networks' leases) */
    int (*domain_interface_addresses)(vir_domain *dom, vir_domain_interface ***ifaces,
                                      unsigned int source, unsigned int flags, vir_error *err);
    /* One server-side event registration per local callback (net NULL: every network); the
     * server's callback id in *server_id, which its events carry. */
    int (*event_register)(vir_connect *conn, vir_network *net, int event_id, int *server_id,
                          vir_error *err);
    int (*event_deregister)(vir_connect *conn, int server_id, vir_error *err);
};

struct vir_driver {
    const char *name;                         /* "TEST": virConnectGetType's answer */
    const struct vir_network_driver *network; /* NULL: no networks */
    /* Called with conn->uri set; fills conn->priv. */
    int (*open)(vir_connect *conn, vir_error *err);
    void (*close)(vir_connect *conn);

    char *(*get_hostname)(vir_connect *conn, vir_error *err);
    int (*get_version)(vir_connect *conn, unsigned long *version, vir_error *err);
    char *(*get_capabilities)(vir_connect *conn, vir_error *err);
    int (*node_get_info)(vir_connect *conn, vir_node_info *info, vir_error *err);
    int (*node_get_security_model)(vir_connect *conn, vir_security_model *model, vir_error *err);

    int (*list_all_domains)(vir_connect *conn, vir_domain ***domains, unsigned int flags,
                            vir_error *err);
    vir_domain *(*lookup_by_name)(vir_connect *conn, const char *name, vir_error *err);
    vir_domain *(*lookup_by_id)(vir_connect *conn, int id, vir_error *err);
    vir_domain *(*lookup_by_uuid)(vir_connect *conn, const unsigned char *uuid, vir_error *err);

    vir_domain *(*define_xml)(vir_connect *conn, const char *xml, unsigned int flags,
                              vir_error *err);
    int (*undefine)(vir_domain *dom, unsigned int flags, vir_error *err);
    int (*create)(vir_domain *dom, unsigned int flags, vir_error *err);
    vir_domain *(*create_xml)(vir_connect *conn, const char *xml, unsigned int flags,
                              vir_error *err);
    int (*shutdown)(vir_domain *dom, unsigned int flags, vir_error *err);
    int (*destroy)(vir_domain *dom, unsigned int flags, vir_error *err);
    int (*reboot)(vir_domain *dom, unsigned int flags, vir_error *err);
    int (*reset)(vir_domain *dom, unsigned int flags, vir_error *err);
    int (*suspend)(vir_domain *dom, vir_error *err);
    int (*resume)(vir_domain *dom, vir_error *err);
    /* dxml: the XML to store or restore instead (NULL for none). */
    int (*save)(vir_domain *dom, const char *path, const char *dxml, unsigned int flags,
                vir_error *err);
    int (*restore)(vir_connect *conn, const char *path, const char *dxml, unsigned int flags,
                   vir_error *err);
    char *(*save_image_get_xml_desc)(vir_connect *conn, const char *path, unsigned int flags,
                                     vir_error *err);
    int (*save_image_define_xml)(vir_connect *conn, const char *path, const char *dxml,
                                 unsigned int flags, vir_error *err);
    char *(*managed_save_get_xml_desc)(vir_domain *dom, unsigned int flags, vir_error *err);
    int (*managed_save_define_xml)(vir_domain *dom, const char *dxml, unsigned int flags,
                                   vir_error *err);
    int (*managed_save)(vir_domain *dom, unsigned int flags, vir_error *err);
    int (*has_managed_save)(vir_domain *dom, unsigned int flags, vir_error *err);
    int (*managed_save_remove)(vir_domain *dom, unsigned int flags, vir_error *err);
    int (*inject_crash)(vir_domain *dom, vir_error *err);

    /* Snapshots, named by their names (the public layer makes the handles).
     * list: the domain's (parent NULL) or parent's children; names may be
     * NULL for the count, else a malloc'd array of malloc'd names. */
    char *(*snapshot_create_xml)(vir_domain *dom, const char *xml, unsigned int flags,
                                 vir_error *err);
    int (*snapshot_list)(vir_domain *dom, const char *parent, char ***names, unsigned int flags,
                         vir_error *err);
    int (*snapshot_lookup)(vir_domain *dom, const char *name, vir_error *err);
    int (*has_current_snapshot)(vir_domain *dom, unsigned int flags, vir_error *err);
    char *(*snapshot_current)(vir_domain *dom, unsigned int flags, vir_error *err);
    char *(*snapshot_get_parent)(vir_domain *dom, const char *name, unsigned int flags,
                                 vir_error *err);
    char *(*snapshot_get_xml_desc)(vir_domain *dom, const char *name, unsigned int flags,
                                   vir_error *err);
    int (*snapshot_is_current)(vir_domain *dom, const char *name, unsigned int flags,
                               vir_error *err);
    int (*snapshot_has_metadata)(vir_domain *dom, const char *name, unsigned int flags,
                                 vir_error *err);
    int (*snapshot_revert)(vir_domain *dom, const char *name, unsigned int flags, vir_error *err);
    int (*snapshot_delete)(vir_domain *dom, const char *name, unsigned int flags, vir_error *err);

    int (*get_id)(vir_domain *dom, vir_error *err);
    char *(*get_os_type)(vir_domain *dom, vir_error *err);
    int (*get_info)(vir_domain *dom, vir_domain_info *info, vir_error *err);
    int (*get_state)(vir_domain *dom, int *state, int *reason, unsigned int flags, vir_error *err);
    int (*is_persistent)(vir_domain *dom, vir_error *err);
    char *(*get_xml_desc)(vir_domain *dom, unsigned int flags, vir_error *err);
    int (*get_autostart)(vir_domain *dom, int *autostart, vir_error *err);
    int (*set_autostart)(vir_domain *dom, int autostart, vir_error *err);
    int (*get_security_label)(vir_domain *dom, vir_security_label *label, vir_error *err);

    int (*get_vcpus_flags)(vir_domain *dom, unsigned int flags, vir_error *err);
    int (*set_vcpus_flags)(vir_domain *dom, unsigned int nvcpus, unsigned int flags,
                           vir_error *err);
    int (*get_vcpus)(vir_domain *dom, vir_vcpu_info *info, int maxinfo, unsigned char *cpumaps,
                     int maplen, vir_error *err);
    int (*get_vcpu_pin_info)(vir_domain *dom, int ncpumaps, unsigned char *cpumaps, int maplen,
                             unsigned int flags, vir_error *err);
    int (*pin_vcpu)(vir_domain *dom, unsigned int vcpu, const unsigned char *cpumap, int maplen,
                    unsigned int flags, vir_error *err);
    int (*get_emulator_pin_info)(vir_domain *dom, unsigned char *cpumap, int maplen,
                                 unsigned int flags, vir_error *err);
    int (*pin_emulator)(vir_domain *dom, const unsigned char *cpumap, int maplen,
                        unsigned int flags, vir_error *err);
    int (*get_iothread_info)(vir_domain *dom, vir_iothread_info ***info, unsigned int flags,
                             vir_error *err);
    int (*add_iothread)(vir_domain *dom, unsigned int id, unsigned int flags, vir_error *err);
    int (*del_iothread)(vir_domain *dom, unsigned int id, unsigned int flags, vir_error *err);
    int (*set_iothread_params)(vir_domain *dom, unsigned int id, const vir_typed_parameter *params,
                               int nparams, unsigned int flags, vir_error *err);
    int (*pin_iothread)(vir_domain *dom, unsigned int iothread_id, const unsigned char *cpumap,
                        int maplen, unsigned int flags, vir_error *err);
    int (*node_cpu_count)(vir_connect *conn, vir_error *err);
    int (*node_cells_free_memory)(vir_connect *conn, unsigned long long *free_mems, int start,
                                  int max, vir_error *err);
    unsigned long long (*node_free_memory)(vir_connect *conn, vir_error *err);
    int (*node_memory_stats)(vir_connect *conn, int cell, vir_node_stats_param *params,
                             int *nparams, unsigned int flags, vir_error *err);
    int (*node_cpu_stats)(vir_connect *conn, int cpu, vir_node_stats_param *params, int *nparams,
                          unsigned int flags, vir_error *err);
    int (*node_cpu_map)(vir_connect *conn, unsigned char **map, unsigned int *online,
                        unsigned int flags, vir_error *err);
    int (*set_memory_flags)(vir_domain *dom, unsigned long kib, unsigned int flags, vir_error *err);
    int (*update_device_flags)(vir_domain *dom, const char *xml, unsigned int flags,
                               vir_error *err);
    int (*attach_device_flags)(vir_domain *dom, const char *xml, unsigned int flags,
                               vir_error *err);
    int (*detach_device_flags)(vir_domain *dom, const char *xml, unsigned int flags,
                               vir_error *err);
    int (*detach_device_alias)(vir_domain *dom, const char *alias, unsigned int flags,
                               vir_error *err);
    char *(*get_scheduler_type)(vir_domain *dom, int *nparams, vir_error *err);
    int (*get_scheduler_params)(vir_domain *dom, vir_typed_parameter *params, int *nparams,
                                unsigned int flags, vir_error *err);
    int (*set_scheduler_params)(vir_domain *dom, const vir_typed_parameter *params, int nparams,
                                unsigned int flags, vir_error *err);
    int (*block_stats_flags)(vir_domain *dom, const char *path, vir_typed_parameter *params,
                             int *nparams, unsigned int flags, vir_error *err);
    int (*get_memory_params)(vir_domain *dom, vir_typed_parameter *params, int *nparams,
                             unsigned int flags, vir_error *err);
    int (*get_blkio_params)(vir_domain *dom, vir_typed_parameter *params, int *nparams,
                            unsigned int flags, vir_error *err);
    int (*set_blkio_params)(vir_domain *dom, const vir_typed_parameter *params, int nparams,
                            unsigned int flags, vir_error *err);
    int (*set_memory_params)(vir_domain *dom, const vir_typed_parameter *params, int nparams,
                             unsigned int flags, vir_error *err);
    int (*get_block_io_tune)(vir_domain *dom, const char *disk, vir_typed_parameter *params,
                             int *nparams, unsigned int flags, vir_error *err);
    int (*set_block_io_tune)(vir_domain *dom, const char *disk, const vir_typed_parameter *params,
                             int nparams, unsigned int flags, vir_error *err);
    int (*get_numa_params)(vir_domain *dom, vir_typed_parameter *params, int *nparams,
                           unsigned int flags, vir_error *err);
    int (*set_numa_params)(vir_domain *dom, const vir_typed_parameter *params, int nparams,
                           unsigned int flags, vir_error *err);
    int (*get_interface_params)(vir_domain *dom, const char *device, vir_typed_parameter *params,
                                int *nparams, unsigned int flags, vir_error *err);
    int (*set_interface_params)(vir_domain *dom, const char *device,
                                const vir_typed_parameter *params, int nparams, unsigned int flags,
                                vir_error *err);
    int (*memory_stats)(vir_domain *dom, vir_domain_memory_stat *stats, unsigned int nr,
                        unsigned int flags, vir_error *err);
    int (*block_copy)(vir_domain *dom, const char *disk, const char *destxml,
                      const vir_typed_parameter *params, int nparams, unsigned int flags,
                      vir_error *err);
    int (*block_rebase)(vir_domain *dom, const char *disk, const char *base,
                        unsigned long bandwidth, unsigned int flags, vir_error *err);
    int (*block_job_info)(vir_domain *dom, const char *disk, vir_domain_block_job_info *info,
                          unsigned int flags, vir_error *err);
    int (*block_job_abort)(vir_domain *dom, const char *disk, unsigned int flags, vir_error *err);
    int (*block_job_set_speed)(vir_domain *dom, const char *disk, unsigned long bandwidth,
                               unsigned int flags, vir_error *err);
    int (*get_cpu_stats)(vir_domain *dom, vir_typed_parameter *params, unsigned int nparams,
                         int start_cpu, unsigned int ncpus, unsigned int flags, vir_error *err);
    int (*get_time)(vir_domain *dom, long long *seconds, unsigned int *nseconds, unsigned int flags,
                    vir_error *err);
    int (*fs_freeze)(vir_domain *dom, const char **mountpoints, unsigned int n, unsigned int flags,
                     vir_error *err);
    int (*fs_thaw)(vir_domain *dom, const char **mountpoints, unsigned int n, unsigned int flags,
                   vir_error *err);
    int (*get_fs_info)(vir_domain *dom, vir_domain_fs_info ***info, unsigned int flags,
                       vir_error *err);
    int (*get_guest_vcpus)(vir_domain *dom, vir_typed_parameter **params, int *nparams,
                           unsigned int flags, vir_error *err);
    int (*set_guest_vcpus)(vir_domain *dom, const char *cpumap, int state, unsigned int flags,
                           vir_error *err);
    int (*set_vcpu)(vir_domain *dom, const char *cpumap, int state, unsigned int flags,
                    vir_error *err);
    int (*get_guest_info)(vir_domain *dom, unsigned int types, vir_typed_parameter **params,
                          int *nparams, unsigned int flags, vir_error *err);
    int (*set_user_password)(vir_domain *dom, const char *user, const char *password,
                             unsigned int flags, vir_error *err);
    char *(*qemu_agent_command)(vir_domain *dom, const char *cmd, int timeout, unsigned int flags,
                                vir_error *err);
    char *(*qemu_monitor_command)(vir_domain *dom, const char *cmd, unsigned int flags,
                                  vir_error *err);
    int (*set_time)(vir_domain *dom, long long seconds, unsigned int nseconds, unsigned int flags,
                    vir_error *err);
    int (*get_block_info)(vir_domain *dom, const char *disk, vir_domain_block_info *info,
                          unsigned int flags, vir_error *err);
    int (*get_disk_errors)(vir_domain *dom, vir_domain_disk_error *errors, unsigned int max,
                           unsigned int flags, vir_error *err);
    int (*set_memory_stats_period)(vir_domain *dom, int period, unsigned int flags, vir_error *err);
    int (*interface_stats)(vir_domain *dom, const char *device,
                           vir_domain_interface_stats_struct *st, vir_error *err);
    /* doms NULL: every domain the flags select. */
    int (*get_all_domain_stats)(vir_connect *conn, vir_domain **doms, unsigned int ndoms,
                                unsigned int stats, vir_domain_stats_record ***ret,
                                unsigned int flags, vir_error *err);

    /* Asynchronous events: the fd to poll, one round of delivery (queued
     * lifecycle events go to vir_emit_lifecycle), and asking the server for
     * lifecycle events (on the first callback) or not (after the last). */
    int (*event_fd)(vir_connect *conn);
    int (*process_events)(vir_connect *conn, int timeout_ms, vir_error *err);
    int (*lifecycle_events)(vir_connect *conn, bool on, vir_error *err);
    /* Streams: open fills st->proc/serial and starts routing data into st. */
    int (*open_console)(vir_domain *dom, const char *dev_name, unsigned int flags, vir_stream *st,
                        vir_error *err);
    int (*send_key)(vir_domain *dom, unsigned int codeset, unsigned int holdtime,
                    const unsigned int *keycodes, int nkeycodes, unsigned int flags,
                    vir_error *err);
    int (*screenshot)(vir_domain *dom, unsigned int screen, unsigned int flags, vir_stream *st,
                      char **mime, vir_error *err);
    /* The remote program's procedures as remote.proto describes them (the storage API,
     * storage.c): ret (NULL for an empty reply) is filled, and freed by the caller with its
     * remote_*_free. rpc_stream_call: a call a stream follows; it routes the stream into st. */
    int (*rpc_call)(vir_connect *conn, int proc, const void *args, void *ret, vir_error *err);
    int (*rpc_stream_call)(vir_connect *conn, int proc, const void *args, vir_stream *st,
                           vir_error *err);
    int (*stream_send)(vir_stream *st, const char *data, size_t len, vir_error *err);
    int (*stream_send_hole)(vir_stream *st, long long length, vir_error *err);
    /* Migration, protocol v3 with parameters (libvirt's domainMigrate*3Params); cookies are
     * opaque bytes (*cookie_out malloc'd, NULL when none). The orchestration is migrate.c's. */
    char *(*migrate_begin3)(vir_domain *dom, const vir_typed_parameter *params, int nparams,
                            uint8_t **cookie_out, uint32_t *cookie_out_len, unsigned int flags,
                            vir_error *err);
    int (*migrate_prepare3)(vir_connect *dconn, const vir_typed_parameter *params, int nparams,
                            const uint8_t *cookie_in, uint32_t cookie_in_len, uint8_t **cookie_out,
                            uint32_t *cookie_out_len, char **uri_out, unsigned int flags,
                            vir_error *err);
    int (*migrate_perform3)(vir_domain *dom, const char *dconnuri,
                            const vir_typed_parameter *params, int nparams,
                            const uint8_t *cookie_in, uint32_t cookie_in_len, uint8_t **cookie_out,
                            uint32_t *cookie_out_len, unsigned int flags, vir_error *err);
    vir_domain *(*migrate_finish3)(vir_connect *dconn, const vir_typed_parameter *params,
                                   int nparams, const uint8_t *cookie_in, uint32_t cookie_in_len,
                                   uint8_t **cookie_out, uint32_t *cookie_out_len,
                                   unsigned int flags, int cancelled, vir_error *err);
    int (*migrate_confirm3)(vir_domain *dom, const vir_typed_parameter *params, int nparams,
                            const uint8_t *cookie_in, uint32_t cookie_in_len, unsigned int flags,
                            int cancelled, vir_error *err);
    int (*migrate_set_max_downtime)(vir_domain *dom, unsigned long long ms, unsigned int flags,
                                    vir_error *err);
    int (*migrate_get_max_downtime)(vir_domain *dom, unsigned long long *ms, unsigned int flags,
                                    vir_error *err);
    int (*migrate_set_max_speed)(vir_domain *dom, unsigned long bandwidth, unsigned int flags,
                                 vir_error *err);
    int (*migrate_get_max_speed)(vir_domain *dom, unsigned long *bandwidth, unsigned int flags,
                                 vir_error *err);
    int (*get_job_stats)(vir_domain *dom, int *type, vir_typed_parameter **params, int *nparams,
                         unsigned int flags, vir_error *err);
    int (*abort_job)(vir_domain *dom, vir_error *err);
    int (*migrate_start_post_copy)(vir_domain *dom, unsigned int flags, vir_error *err);
    int (*stream_finish)(vir_stream *st, vir_error *err);
    void (*stream_close)(vir_stream *st);
};

/* Appends received stream data (drivers). */
void vir_stream_push(vir_stream *st, const void *data, size_t len);

extern const struct vir_driver vir_test_driver;
extern const struct vir_driver vir_remote_driver;
extern const struct vir_network_driver vir_remote_network_driver;
/* One remote procedure through conn's driver (host.c): the NULL-connection, read-only
 * (when write) and "not supported" (a driver without rpc_call) checks, naming api. */
int vir_rpc(vir_connect *conn, bool write, const char *api, int proc, const void *args, void *ret,
            vir_error *err);
/* remote-driver.c's call, for remote-network.c. */
int vir_remote_call(vir_connect *conn, int proc, const void *args, void *ret, vir_error *err);

#endif
