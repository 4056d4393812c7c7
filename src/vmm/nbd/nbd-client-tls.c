/*
 * nbd-client-tls.c - the nbd driver's TLS hooks in vireo-vmm (see nbd-client-tls.h).
 */
#include "vmm/nbd/nbd-client-tls.h"
#include "util/mem.h"
#include "vmm/state/mig-tls.h"
#include "vmm/state/migration.h"
#include "vmm/tls-creds.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

struct conn_tls {
    struct mig_tls_creds *creds;
    char *hostname;
    struct mig_tls *session; /* once the handshake is done; it owns the socket */
};

static int conn_start(void *opaque, int sock, int *plain, struct verr *err)
{
    struct conn_tls *t = opaque;
    return mig_tls_start(t->creds, sock, t->hostname, &t->session, plain, err);
}

static void conn_finish(void *opaque)
{
    struct conn_tls *t = opaque;
    mig_tls_finish(t->session, false);
    mig_tls_creds_free(t->creds);
    free(t->hostname);
    free(t);
}

int nbd_client_tls_new(struct migration *mig, const char *creds_id, const char *hostname,
                       struct nbd_client_tls *out, struct verr *err)
{
    const struct tls_creds_spec *spec = migration_tls_creds_find(mig, creds_id);
    if (!spec)
        return verr_set(err, ENOENT, "No TLS credentials with id '%s'", creds_id);
    if (!spec->client)
        return verr_set(err, EINVAL, "Expected TLS credentials for a client endpoint");
    if (!hostname && spec->verify_peer)
        return verr_set(err, EINVAL, "No hostname for certificate validation");
    struct conn_tls *t = xcalloc(1, sizeof(*t));
    int r = mig_tls_creds_load(spec, false, &t->creds, err);
    if (r < 0) {
        free(t);
        return r;
    }
    t->hostname = hostname ? xstrdup(hostname) : NULL;
    *out = (struct nbd_client_tls){conn_start, conn_finish, t};
    return 0;
}
