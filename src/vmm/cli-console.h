/*
 * cli-console.h - the character device options of vireo-vmm, in QEMU's
 * syntax: -chardev BACKEND,id=ID,... (parsed by chardev_parse_opts), and the
 * virtio-serial devices that use them: -device virtio-serial-pci[,id=,
 * max_ports=N], -device virtconsole,chardev=ID[,name=,nr=,bus=,id=] and
 * -device virtserialport (the same properties). Kept apart from cli.c and
 * cli-virtio.c so that work stays in its own files; cli.c calls in here.
 * Pure parsing, no I/O: ports are attached to their virtio-serial device and
 * chardev references are resolved once all options are read.
 */
#ifndef VIREO_VMM_CLI_CONSOLE_H
#define VIREO_VMM_CLI_CONSOLE_H

#include "util/error.h"
#include "vmm/dev/chardev.h"
#include "vmm/dev/pci.h"

#include <stdbool.h>

#define VMM_MAX_CHARDEVS     16
#define VMM_MAX_SERIAL_BUSES 4
#define VMM_MAX_SERIAL_PORTS 32
#define VMM_SERIAL_PORTS_MAX 31 /* QEMU's limit and default for max_ports */

struct vmm_serial_port {
    bool console;  /* virtconsole (else virtserialport) */
    char *id;      /* -device id= (QMP VSERPORT_CHANGE), may be NULL */
    char *name;    /* name= (PORT_NAME), may be NULL */
    char *chardev; /* chardev= as given */
    int cd;        /* index into chardevs[], -1: no chardev= (after cli_console_finish) */
    char *bus;     /* bus= as given ("ID.0"), may be NULL */
    unsigned vser; /* index into buses[] (after cli_console_finish) */
    int nr;        /* nr= or -1: assigned by cli_console_finish */
};

struct vmm_serial_bus {
    char *id; /* -device virtio-serial-pci,id= */
    unsigned max_ports;
    struct pci_place place; /* bus=, addr=, multifunction= */
};

struct vmm_console_config {
    unsigned nr_chardevs, nr_buses, nr_ports;
    struct chardev_spec chardevs[VMM_MAX_CHARDEVS];
    bool chardev_used[VMM_MAX_CHARDEVS];
    struct vmm_serial_bus buses[VMM_MAX_SERIAL_BUSES];
    struct vmm_serial_port ports[VMM_MAX_SERIAL_PORTS];
};

struct vmm_virtio_config;

/* -chardev ARG. */
int cli_console_chardev(struct vmm_console_config *cc, const char *arg, struct verr *err);
/* -device ARG for virtio-serial-pci, virtconsole and virtserialport (virtio-serial-pci is
 * also added to vc's device list, for its PCI slot order); -ENOENT when it is none of
 * those. */
int cli_console_device(struct vmm_console_config *cc, struct vmm_virtio_config *vc, const char *arg,
                       struct verr *err);
/* After all options: resolves chardev= and bus=, numbers the ports, and -serial chardev:ID
 * (serial, may be CHARDEV_REF). A chardev serves one frontend. */
int cli_console_finish(struct vmm_console_config *cc, const struct chardev_spec *serial,
                       struct verr *err);
/* Once -serial's default is known: stdio serves one chardev, and none with -daemonize. */
int cli_console_check(const struct vmm_console_config *cc, const struct chardev_spec *serial,
                      bool daemonize, struct verr *err);
void cli_console_free(struct vmm_console_config *cc);

#endif
