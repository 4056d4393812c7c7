/*
 * qemu_protocol.h - libvirt's QEMU program (0x20008087, version 1), the second program on a
 * libvirt connection, beside the remote one: virDomainQemuMonitorCommand (a QMP command, or
 * an HMP line with VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP), its WithFiles form, attach, the
 * guest agent command, and the monitor events (registration and the event message). Numbers and
 * member orders are libvirt's wire ABI (qemu_protocol.x); the codecs are written by hand, there are
 * so few.
 */
#ifndef VIREO_RPC_QEMU_PROTOCOL_H
#define VIREO_RPC_QEMU_PROTOCOL_H

#include "rpc/remote_extra.h"
#include "rpc/remote_protocol.h"

#define RPC_QEMU_PROGRAM          0x20008087u
#define RPC_QEMU_PROTOCOL_VERSION 1u

enum {
    QEMU_PROC_DOMAIN_MONITOR_COMMAND = 1,
    QEMU_PROC_DOMAIN_ATTACH = 2,
    QEMU_PROC_DOMAIN_AGENT_COMMAND = 3,
    QEMU_PROC_CONNECT_DOMAIN_MONITOR_EVENT_REGISTER = 4,
    QEMU_PROC_CONNECT_DOMAIN_MONITOR_EVENT_DEREGISTER = 5,
    QEMU_PROC_DOMAIN_MONITOR_EVENT = 6,
    QEMU_PROC_DOMAIN_MONITOR_COMMAND_WITH_FILES = 7,
};

/* VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP */
#define QEMU_MONITOR_COMMAND_HMP 1u

/* domain_monitor_command and _with_files: the same members. */
struct qemu_domain_monitor_command_args {
    struct remote_nonnull_domain dom;
    char *cmd;
    uint32_t flags;
};
struct qemu_domain_monitor_command_ret {
    char *result;
};

/* virDomainQemuAgentCommand: a guest agent command as JSON, a timeout in seconds (or
 * VIR_DOMAIN_QEMU_AGENT_COMMAND_BLOCK -2, _DEFAULT -1, _NOWAIT 0); the reply as JSON or NULL. */
struct qemu_domain_agent_command_args {
    struct remote_nonnull_domain dom;
    char *cmd;
    int32_t timeout;
    uint32_t flags;
};
struct qemu_domain_agent_command_ret {
    char *result; /* NULL: no reply (NOWAIT) */
};

/* VIR_CONNECT_DOMAIN_QEMU_MONITOR_EVENT_REGISTER_REGEX and _NOCASE */
#define QEMU_MONITOR_EVENT_REGEX  1u
#define QEMU_MONITOR_EVENT_NOCASE 2u

struct qemu_connect_domain_monitor_event_register_args {
    struct remote_nonnull_domain *dom; /* NULL: every domain */
    char *event;                       /* NULL: every event */
    uint32_t flags;
};
struct qemu_connect_domain_monitor_event_register_ret {
    int32_t callbackID;
};
struct qemu_connect_domain_monitor_event_deregister_args {
    int32_t callbackID;
};
/* The event message (QEMU_PROC_DOMAIN_MONITOR_EVENT), server to client. */
struct qemu_domain_monitor_event_msg {
    int32_t callbackID;
    struct remote_nonnull_domain dom;
    char *event;
    int64_t seconds;
    uint32_t micros;
    char *details; /* the event's "data" as JSON, or NULL */
};

/* The table entry for a procedure of the QEMU program, or NULL. Procedures without a codec
 * here (attach, agent command, events) are listed with their API name only. */
const struct remote_proc *qemu_proc_lookup(int proc);
/* The API name of a procedure of the QEMU program Vireo has no codec for, or NULL. */
const char *qemu_proc_api_name(int proc);

#endif
