/*
 * hmp-format.h - the human monitor's "info" outputs, made from the replies of the QMP
 * commands they stand on, as QEMU 7.2 prints them (each formatter is tested on QEMU's own
 * QMP replies against QEMU's own HMP text: tests/unit/vmm/golden/hmp/). Pure functions: no
 * VM, no I/O.
 */
#ifndef VIREO_VMM_HMP_FORMAT_H
#define VIREO_VMM_HMP_FORMAT_H

#include "util/buf.h"

struct json_object;

/* A formatter: the QMP reply's "return" value in, text appended to out. current_cpu is the
 * monitor's current CPU index (info cpus marks it). */
typedef void (*hmp_format_fn)(struct json_object *ret, int current_cpu, struct buf *out);

struct hmp_info {
    const char *name;     /* "status": `info status` */
    const char *qmp;      /* the QMP command it stands on; NULL: hmp.c prints it itself */
    hmp_format_fn format; /* NULL when the command prints nothing of its reply */
    const char *help;     /* QEMU's help line */
};

/* The info subcommands, sorted by name, ending with {NULL}. */
extern const struct hmp_info hmp_infos[];

#endif
