/*
 * domain-events.c - what the domain layer tells the outside: lifecycle and
 * reboot events, its VMM's own QMP events (for libvirt's QEMU monitor events), and the guest's
 * console output, which goes to the console log (log/NAME.console.log, everything COM1 printed,
 * from the first byte) and to the console streams clients have open.
 *
 * Clients are reached through the daemon's sink (vireod.h), which the
 * server sets; the domain layer never sees a client.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "daemon/domain.h"
#include "daemon/vmm-driver.h"
#include "util/file.h"
#include "util/mem.h"

void vd_emit_lifecycle(struct vd_daemon *d, struct vd_domain *dom, int event, int detail)
{
    if (d->sink.lifecycle)
        d->sink.lifecycle(d->sink.ctx, dom, event, detail);
}

void vd_emit_reboot(struct vd_daemon *d, struct vd_domain *dom)
{
    if (d->sink.reboot)
        d->sink.reboot(d->sink.ctx, dom);
}

void vd_emit_device_removed(struct vd_daemon *d, struct vd_domain *dom, const char *alias)
{
    if (d->sink.device_removed)
        d->sink.device_removed(d->sink.ctx, dom, alias);
}

void vd_emit_agent_lifecycle(struct vd_daemon *d, struct vd_domain *dom, int state, int reason)
{
    if (d->sink.agent_lifecycle)
        d->sink.agent_lifecycle(d->sink.ctx, dom, state, reason);
}

void vd_emit_migration_iteration(struct vd_daemon *d, struct vd_domain *dom, int iteration)
{
    if (d->sink.migration_iteration)
        d->sink.migration_iteration(d->sink.ctx, dom, iteration);
}

void vd_emit_monitor_event(struct vd_daemon *d, struct vd_domain *dom, const char *event,
                           int64_t seconds, uint32_t micros, const char *details)
{
    if (d->sink.monitor_event)
        d->sink.monitor_event(d->sink.ctx, dom, event, seconds, micros, details);
}

void vd_domain_console_open_log(struct vd_domain *dom)
{
    if (dom->console_log_fd >= 0)
        return;
    char *path = xasprintf("%s/%s.console.log", dom->daemon->log_dir, dom->def->name);
    dom->console_log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    free(path);
    vd_console_pty_open(dom);
}

void vd_domain_console_close_log(struct vd_domain *dom)
{
    if (dom->console_log_fd >= 0)
        close(dom->console_log_fd);
    dom->console_log_fd = -1;
    vd_console_pty_close(dom);
}

void vd_domain_console(struct vd_domain *dom, const void *data, size_t len)
{
    struct vd_daemon *d = dom->daemon;
    if (len && dom->console_log_fd >= 0)
        fd_write_all(dom->console_log_fd, data, len);
    if (len)
        vd_console_pty_output(dom, data, len);
    if (d->sink.console)
        d->sink.console(d->sink.ctx, dom, data, len);
}

bool vd_domain_console_write(struct vd_domain *dom, const void *data, size_t len)
{
    return dom->vmm && vd_vmm_console_write(dom->vmm, data, len);
}

bool vd_domain_has_console(const struct vd_domain *dom)
{
    return dom->vmm && vd_vmm_has_console(dom->vmm);
}
