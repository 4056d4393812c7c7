/*
 * sasl.h - vireod's SASL authentication (Cyrus SASL), libvirt's way: the
 * "vireod" SASL application (its config file vireod.conf is read from
 * /etc/sasl2, or DIR/etc/sasl2 under --root), the AUTH_SASL_INIT / START /
 * STEP procedures (rpc-auth.c), sasl_allowed_username_list, and, once the
 * exchange is complete, the mechanism's security layer (SSF) wrapping every
 * byte of a plain TCP connection.
 *
 * On plain TCP a mechanism must give a security layer of at least 56 bits
 * (libvirtd's rule: SCRAM and PLAIN give none, so they are for TLS and
 * UNIX connections; DIGEST-MD5 and GSSAPI give one); over TLS and UNIX
 * sockets the channel is already private and no layer is asked for.
 */
#ifndef VIREO_DAEMON_SASL_H
#define VIREO_DAEMON_SASL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

struct verr;
struct vd_daemon;
struct vd_sasl;
struct vd_sasl_conn;

/* sasl_server_init for the "vireod" application, its config read from conf_dir. */
int vd_sasl_new(const char *conf_dir, struct vd_sasl **out, struct verr *err);
void vd_sasl_free(struct vd_sasl *s);

/* A client's exchange. local/remote: "IP;PORT" or NULL (UNIX sockets);
 * min_ssf: 56 on plain TCP, else 0. */
struct vd_sasl_conn *vd_sasl_conn_new(struct vd_sasl *s, const char *local, const char *remote,
                                      unsigned min_ssf, struct verr *err);
void vd_sasl_conn_free(struct vd_sasl_conn *c);
/* The mechanisms offered, "SCRAM-SHA-256,DIGEST-MD5" (libvirt's separator). */
int vd_sasl_mechlist(struct vd_sasl_conn *c, char **out, struct verr *err);
/*
 * One step: START (mech != NULL) or STEP. The client's data (NULL when it
 * sent nil). Returns 1 when the exchange is complete (the user in
 * vd_sasl_username), 0 when it continues, -errno when it failed. The
 * server's data goes to *out / *out_len (*out NULL for nil).
 */
int vd_sasl_step(struct vd_sasl_conn *c, const char *mech, const char *in, size_t in_len,
                 const char **out, size_t *out_len, struct verr *err);
const char *vd_sasl_username(struct vd_sasl_conn *c);
/* The mechanism in use ("SCRAM-SHA-256"). */
const char *vd_sasl_mech(struct vd_sasl_conn *c);
/* The negotiated security layer's strength in bits (0: none). */
unsigned vd_sasl_ssf(struct vd_sasl_conn *c);
/* Wraps bytes for the layer (appends to out) / unwraps received bytes. */
int vd_sasl_encode(struct vd_sasl_conn *c, const void *data, size_t len, struct buf *out,
                   struct verr *err);
int vd_sasl_decode(struct vd_sasl_conn *c, const void *data, size_t len, struct buf *out,
                   struct verr *err);

#endif
