/*
 * nbd-client-tls.h - TLS for vireo-vmm's NBD connections (blockdev-add of an nbd node with
 * tls-creds and tls-hostname, as libvirt adds a storage migration's mirror target): the
 * block layer's TLS hooks (block/nbd-client.h) over a tls-creds-x509 object with
 * endpoint=client, its files read when the connection is made and the session relayed as
 * state/mig-tls.h does for a migration stream.
 */
#ifndef VIREO_VMM_NBD_NBD_CLIENT_TLS_H
#define VIREO_VMM_NBD_NBD_CLIENT_TLS_H

#include "block/nbd-client.h"

struct migration;

/*
 * The hooks for one connection with the object creds_id (of mig's tls-creds-x509 objects);
 * hostname: the name the server's certificate must carry (tls-hostname, else the server's host;
 * NULL on a unix socket without tls-hostname, refused unless verify-peer is off, as QEMU does). One
 * line (QEMU's words) for a missing object, a server endpoint or no hostname.
 */
int nbd_client_tls_new(struct migration *mig, const char *creds_id, const char *hostname,
                       struct nbd_client_tls *out, struct verr *err);

#endif
