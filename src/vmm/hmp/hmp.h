/*
 * hmp.h - QEMU's human monitor (HMP) in vireo-vmm: the commands people type (help, info ...,
 * stop, cont, system_reset, system_powerdown, quit, balloon, block_resize, xp), each built
 * on the QMP command its room registered, with QEMU 7.2's outputs and error lines. Reached
 * through QMP's human-monitor-command (what `virsh qemu-monitor-command --hmp` sends) and
 * through a monitor on a character device (-monitor, -mon chardev=ID), with a prompt and
 * line editing as QEMU's readline mode has them.
 */
#ifndef VIREO_VMM_HMP_H
#define VIREO_VMM_HMP_H

#include "util/buf.h"
#include "util/error.h"

struct vm;
struct qmp_server;
struct chardev;
struct hmp;

/* Registers human-monitor-command on server; HMP's commands run on it. */
int hmp_create(struct vm *vm, struct qmp_server *server, struct hmp **out, struct verr *err);
void hmp_free(struct hmp *h);
/* Serves a monitor (QEMU's readline mode) on a character device: greeting, "(qemu) " prompt,
 * echo and line editing, one command a line. */
void hmp_attach_chardev(struct hmp *h, struct chardev *c);

/* Runs one command line for a monitor whose current CPU is cpu, appending its output. Loop
 * thread. */
struct hmp_monitor;
void hmp_run_line(struct hmp *h, struct hmp_monitor *mon, const char *line, struct buf *out);

/* Appends text with each "\n" as "\r\n", as QEMU's monitor writes its output (on a
 * chardev and in human-monitor-command's reply alike). */
void hmp_crlf(struct buf *out, const char *text, size_t len);

#endif
