/*
 * nbd.c - the nbd protocol: an image whose bytes are an NBD export (QEMU's
 * nbd block driver under qemu-img).
 *
 * The protocol sits where a host file sits under a format (struct hostfile
 * with its nbd member set), so the format is probed from the export's first
 * bytes as from a file's and any format driver reads and writes through it:
 * `info nbd://...` of an export of a qcow2 file says qcow2, as qemu-img does.
 * One connection; convert's readers and writers (several threads) issue
 * their requests on it at once, the client keeping up to 16 in flight.
 * Requests larger than the client's 32 MiB limit are split. Block status comes from
 * NBD_CMD_BLOCK_STATUS on base:allocation when the server offers it, and is
 * all data otherwise, as QEMU reports it (a hole is a run the server says is
 * both a hole and zeroes). There is no host file: no lock
 * bytes, no disk size ("unavailable"), no mapping of data for in-place
 * reads, no resize (QEMU: "Cannot resize NBD nodes"); a discard is
 * NBD_CMD_TRIM when the server offers it, else nothing (it is advisory).
 */
#include "block/block-int.h"
#include "block/nbd-client.h"
#include "util/mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NBD_CHUNK (32u << 20)

struct hostfile_nbd {
    struct nbd_client *c; /* safe to call from several threads at once */
};

int hostfile_open_nbd(struct hostfile *hf, const char *uri, bool writable,
                      const struct nbd_client_tls *tls, struct verr *err)
{
    memset(hf, 0, sizeof(*hf));
    hf->fd = -1;
    struct nbd_addr a;
    int r = nbd_uri_parse(uri, &a, NULL);
    bool url = strstr(uri, "://") != NULL;
    if (r == 0 && url && a.port && a.port[strspn(a.port, "0123456789")]) {
        nbd_addr_free(&a);
        r = -EINVAL;
    }
    if (r < 0) {
        if (tls)
            tls->finish(tls->opaque);
        /* QEMU's words: one for any bad URL, one for a bad legacy address */
        if (url)
            return verr_set(err, EINVAL, "No valid URL specified");
        const char *rest = strncmp(uri, "nbd:unix:", 9) == 0 ? uri + 9 : uri + 4;
        return verr_set(err, EINVAL, "error parsing address '%s'", rest);
    }
    struct nbd_client *c = NULL;
    r = nbd_client_connect_ext(&a, tls, true, &c, err);
    /* The name QEMU gives the node, whatever form the address came in. */
    const char *e = a.export_name;
    char *name = a.path ? (*e ? xasprintf("nbd+unix:///%s?socket=%s", e, a.path)
                              : xasprintf("nbd+unix://?socket=%s", a.path))
                 : *e   ? xasprintf("nbd://%s:%s/%s", a.host, a.port, e)
                        : xasprintf("nbd://%s:%s", a.host, a.port);
    nbd_addr_free(&a);
    if (r < 0) {
        free(name);
        return r;
    }
    if (writable && nbd_client_read_only(c)) {
        nbd_client_close(c);
        free(name);
        return verr_set(err, EACCES, "Could not open image: Permission denied");
    }
    struct hostfile_nbd *n = xcalloc(1, sizeof(*n));
    n->c = c;
    hf->nbd = n;
    hf->path = name;
    hf->writable = writable;
    hf->align = 1;
    pthread_mutex_init(&hf->rmw_lock, NULL);
    return 0;
}

void hostfile_close_nbd(struct hostfile *hf)
{
    nbd_client_close(hf->nbd->c);
    free(hf->nbd);
    hf->nbd = NULL;
    pthread_mutex_destroy(&hf->rmw_lock);
    free(hf->path);
    hf->path = NULL;
}

static int with_context(struct hostfile *hf, int r, struct verr *err)
{
    if (r < 0)
        verr_prefix(err, "'%s'", hf->path);
    return r;
}

int hostfile_nbd_rw(struct hostfile *hf, void *buf, size_t len, uint64_t off, bool write,
                    struct verr *err)
{
    struct hostfile_nbd *n = hf->nbd;
    uint64_t size = nbd_client_size(n->c);
    int r = 0;
    while (len && r == 0) {
        uint32_t step = len > NBD_CHUNK ? NBD_CHUNK : (uint32_t)len;
        if (!write && off >= size) { /* as a file: zeroes past the end */
            memset(buf, 0, len);
            break;
        }
        if (!write && step > size - off)
            step = (uint32_t)(size - off);
        r = write ? nbd_client_pwrite(n->c, buf, step, off, err)
                  : nbd_client_pread(n->c, buf, step, off, err);
        buf = (char *)buf + step;
        off += step;
        len -= step;
    }
    return with_context(hf, r, err);
}

int hostfile_nbd_flush(struct hostfile *hf, struct verr *err)
{
    int r = nbd_client_flush(hf->nbd->c, err);
    return with_context(hf, r, err);
}

uint64_t hostfile_nbd_size(struct hostfile *hf)
{
    return nbd_client_size(hf->nbd->c);
}

int hostfile_nbd_zero(struct hostfile *hf, uint64_t off, uint64_t len, bool may_unmap,
                      struct verr *err)
{
    int r = nbd_client_write_zeroes(hf->nbd->c, off, len, may_unmap, err);
    return with_context(hf, r, err);
}

int hostfile_nbd_discard(struct hostfile *hf, uint64_t off, uint64_t len, struct verr *err)
{
    if (!nbd_client_can_trim(hf->nbd->c))
        return -ENOTSUP; /* advisory: the caller decides, as for a file without punch */
    return with_context(hf, nbd_client_trim(hf->nbd->c, off, len, err), err);
}

int hostfile_nbd_extent(struct hostfile *hf, uint64_t off, uint64_t len, bool *is_data,
                        uint64_t *run, struct verr *err)
{
    uint64_t size = nbd_client_size(hf->nbd->c);
    *is_data = true;
    *run = len;
    if (off >= size) /* a format's metadata past the export's end: none there */
        return 0;
    if (len > size - off)
        len = size - off;
    uint32_t flags = 0;
    int r = nbd_client_block_status(hf->nbd->c, off, len, run, &flags, err);
    /* A hole that reads as zeroes (qemu-nbd says both) is what readers may skip; a hole
     * without NBD_STATE_ZERO (QEMU's data:false zero:false) is taken for data, since the
     * formats above read "not data" as zeroes and convert would not copy it. */
    *is_data = (flags & (NBD_STATE_HOLE | NBD_STATE_ZERO)) != (NBD_STATE_HOLE | NBD_STATE_ZERO);
    return with_context(hf, r, err);
}

int hostfile_nbd_truncate(struct hostfile *hf, uint64_t len, struct verr *err)
{
    /* QEMU's exact resize (create's "Cannot grow NBD nodes" is block.c's) */
    if (len != nbd_client_size(hf->nbd->c))
        return verr_set(err, ENOTSUP, "Cannot resize NBD nodes");
    return 0;
}
