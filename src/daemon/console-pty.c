/*
 * console-pty.c - a <serial type='pty'> / <console type='pty'> as libvirt's QEMU driver
 * offers it: a real pseudo-terminal whose slave (/dev/pts/N) anyone may open (`virsh
 * ttyconsole` names it; screen, minicom), relayed to and from the domain's COM1 beside the
 * console log and `virsh console`. The live definition shows the path (tty= on the
 * console, <source path=> on both) while the domain runs; it is removed again when the pty
 * closes, so the persistent definition never keeps it.
 *
 * The daemon holds the slave open itself: a pty master whose slave nobody has open reports
 * a hang-up on every poll. Output nobody reads fills the pty's buffer and is then dropped
 * (the console log has all of it), as QEMU's pty backend drops it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "conf/xnode.h"
#include "daemon/domain.h"
#include "daemon/vireod.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/mem.h"

struct vd_console_pty {
    int master, slave;
    char path[64];
    struct loop_watch *watch;
};

static bool is_pty_char(const struct xnode *n)
{
    const char *type = xnode_attr(n, "type");
    return n->name && (!strcmp(n->name, "console") || !strcmp(n->name, "serial")) && type &&
           !strcmp(type, "pty");
}

static bool wants_pty(const struct domain_def *def)
{
    for (size_t i = 0; i < def->ndevices; i++)
        if (is_pty_char(def->devices[i].node))
            return true;
    return false;
}

/* Shows (path) or removes (NULL) the pty in the live definition. */
static void show_path(struct domain_def *def, const char *path, const char *old)
{
    for (size_t i = 0; i < def->ndevices; i++) {
        struct xnode *n = def->devices[i].node;
        if (!is_pty_char(n))
            continue;
        if (!strcmp(n->name, "console"))
            xnode_set_attr(n, "tty", path);
        for (size_t k = 0; k < n->nkids; k++) {
            struct xnode *src = n->kids[k];
            if (src->name && !strcmp(src->name, "source") && old && xnode_attr(src, "path") &&
                !strcmp(xnode_attr(src, "path"), old)) {
                xnode_remove(n, k);
                break;
            }
        }
        if (path) {
            struct xnode *src = xnode_ensure_child(n, "source", true);
            xnode_set_attr(src, "path", path);
        }
    }
}

static void on_master(struct loop *loop, int fd, unsigned events, void *opaque)
{
    (void)loop;
    (void)events;
    struct vd_domain *dom = opaque;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n > 0)
        vd_domain_console_write(dom, buf, (size_t)n); /* dropped when COM1 is not connected */
}

void vd_console_pty_open(struct vd_domain *dom)
{
    if (dom->pty || !wants_pty(dom->def))
        return;
    struct vd_console_pty *p = xcalloc(1, sizeof(*p));
    p->slave = -1;
    p->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (p->master < 0 || grantpt(p->master) < 0 || unlockpt(p->master) < 0 ||
        ptsname_r(p->master, p->path, sizeof(p->path)) != 0 ||
        (p->slave = open(p->path, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
        log_warn("domain '%s': no console pty: %s", dom->def->name, strerror(errno));
        goto fail;
    }
    struct termios t;
    if (tcgetattr(p->slave, &t) == 0) { /* a raw line, as QEMU's pty backend sets it */
        cfmakeraw(&t);
        tcsetattr(p->slave, TCSANOW, &t);
    }
    fcntl(p->master, F_SETFL, fcntl(p->master, F_GETFL) | O_NONBLOCK);
    struct verr err = {0};
    p->watch = loop_watch_fd(dom->daemon->loop, p->master, LOOP_READ, on_master, dom, &err);
    if (!p->watch) {
        log_warn("domain '%s': no console pty: %s", dom->def->name, verr_msg(&err));
        goto fail;
    }
    dom->pty = p;
    show_path(dom->def, p->path, NULL);
    log_info("domain '%s': console on %s", dom->def->name, p->path);
    return;
fail:
    if (p->slave >= 0)
        close(p->slave);
    if (p->master >= 0)
        close(p->master);
    free(p);
}

void vd_console_pty_close(struct vd_domain *dom)
{
    struct vd_console_pty *p = dom->pty;
    if (!p)
        return;
    dom->pty = NULL;
    show_path(dom->def, NULL, p->path);
    loop_watch_remove(p->watch);
    close(p->slave);
    close(p->master);
    free(p);
}

void vd_console_pty_output(struct vd_domain *dom, const void *data, size_t len)
{
    if (!dom->pty)
        return;
    ssize_t n = write(dom->pty->master, data, len); /* non-blocking: a full pty drops */
    (void)n;
}
