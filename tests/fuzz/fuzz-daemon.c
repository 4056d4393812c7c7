/*
 * fuzz-daemon.c - libFuzzer target for vireod's per-client message path:
 * bytes -> framing (rpc_reader_feed) -> header -> dispatch -> every
 * implemented procedure's argument decoding and handler, with the real
 * handler table, domain store and event pushes of src/daemon.
 *
 * fuzz-rpc covers the decoders against a toy handler table; this one runs
 * the daemon's own handlers on what the decoders accept: defines (XML
 * parsing, the store writing files under a temporary --root), lookups,
 * undefines, autostart, vCPU and memory setters, event registration,
 * console opening, and starts, which fail at once because vireo-vmm is
 * pointed at a path that does not exist. The daemon is made once per
 * process (a static: a fuzz harness is its own main) with store syncs off
 * (store_nosync: the files are thrown away) and, for each input, one
 * in-memory client on a socketpair whose other end is drained.
 *
 * Starts run in dlife's worker thread and finish through the loop, so each
 * input ends by running the loop until no job is left.
 *
 * Input: the first byte picks the client's kind (bit 0: came in on the
 * read-only socket) and the size of the chunks the rest is fed in (bits
 * 1-7, plus one), so message boundaries fall anywhere; the rest is what a
 * client would send. After each input every domain is undefined, so inputs
 * do not depend on each other. Seeds are whole virsh sessions recorded
 * between the stock virsh and vireod (tests/fuzz/corpus/daemon/).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/domain.h"
#include "util/error.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/mem.h"

static struct vd_daemon *daemon_once(void)
{
    static struct vd_daemon *d;
    if (d)
        return d;
    log_set_level(LOG_ERROR);
    char tmpl[] = "/tmp/vireo-fuzz-daemon-XXXXXX";
    if (!mkdtemp(tmpl))
        abort();
    d = xcalloc(1, sizeof(*d));
    d->root = xstrdup(tmpl);
    d->domain_dir = xasprintf("%s/domains", tmpl);
    d->autostart_dir = xasprintf("%s/autostart", tmpl);
    d->run_dir = xasprintf("%s/run", tmpl);
    d->log_dir = xasprintf("%s/log", tmpl);
    d->sock_path = xasprintf("%s/vireo-sock", tmpl);
    d->sock_ro_path = xasprintf("%s/vireo-sock-ro", tmpl);
    d->vmm_path = xstrdup("/nonexistent/vireo-vmm");
    d->rw_perms = 0600;
    d->ro_perms = 0666;
    d->max_clients = 100;
    d->max_requests = 5; /* vireod's defaults (main.c) */
    d->max_client_output = 4u << 20;
    d->max_anonymous = 20;
    d->lock_fd = -1;
    d->lfd = d->lfd_ro = -1;
    d->sock_gid = -1;
    d->next_id = 1;
    d->store_nosync = true;
    const char *dirs[] = {d->domain_dir, d->autostart_dir, d->run_dir, d->log_dir};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
        if (mkdir(dirs[i], 0700) < 0)
            abort();
    struct verr err = {0};
    if (loop_new(&d->loop, &err) < 0)
        abort();
    vd_server_attach_sink(d); /* events go to the in-memory clients */
    return d;
}

static void drain(int fd)
{
    char buf[65536];
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct vd_daemon *d = daemon_once();
    bool ro = data[0] & 1;
    size_t chunk = (size_t)(data[0] >> 1) + 1;
    data++;
    size--;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    struct verr err = {0};
    struct vd_client *c = vd_client_new(d, sv[0], ro, &err);
    if (!c)
        abort();
    bool alive = true;
    for (size_t off = 0; off < size && alive; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        alive = vd_client_feed(c, data + off, n) == 0;
        drain(sv[1]);
    }
    if (alive)
        vd_client_close(c);
    close(sv[1]);
    /* Lets start workers and queued jobs finish (a start fails at once:
     * there is no vireo-vmm), then frees the dropped client. */
    for (;;) {
        bool busy = d->workers > 0;
        for (struct vd_domain *x = d->domains; x; x = x->next)
            busy |= x->job || x->jobq;
        if (!busy)
            break;
        loop_run_once(d->loop, 10);
    }
    while (loop_run_once(d->loop, 0) > 0)
        ;
    /* Forget every domain (all are shut off: no vireo-vmm ever runs). */
    while (d->domains) {
        struct vd_domain *dom = d->domains;
        if (dom->persistent) {
            if (vd_domain_undefine(d, dom, &err) < 0)
                abort();
        } else {
            d->domains = dom->next;
            vd_index_remove(d, dom);
            vd_domain_free(dom);
        }
    }
    return 0;
}
