/*
 * remote_extra.h - the parts of the remote program that the generator does
 * not write: the procedure table's entry type, the typed parameter (a
 * discriminated union, the only one Vireo needs, so its codec is written by
 * hand) and the optional-string helper the generated decoders call.
 */
#ifndef VIREO_RPC_REMOTE_EXTRA_H
#define VIREO_RPC_REMOTE_EXTRA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rpc/xdr.h"

/* One structure's codec, reached through void pointers by the dispatcher. */
struct remote_type {
    const char *name; /* "remote_domain_get_info_ret" */
    size_t size;      /* sizeof the C structure */
    int (*decode)(struct xdr_dec *dec, void *v);
    void (*encode)(struct xdr_enc *enc, const void *v);
    void (*free)(void *v);
};

/* One procedure of the remote program (remote.proto). */
struct remote_proc {
    int proc;                       /* REMOTE_PROC_* */
    const char *name;               /* "DOMAIN_GET_INFO" */
    const char *api;                /* "virDomainGetInfo"; NULL for events */
    const struct remote_type *args; /* NULL: no arguments (or, for events, the message) */
    const struct remote_type *ret;  /* NULL: empty reply */
    bool is_event;                  /* server-to-client MESSAGE; args is the message body */
    bool writes;                    /* changes state: refused on read-only connections */
    bool dom_arg;                   /* the arguments begin with the domain (nonnull_domain dom) */
    bool dom_ret;                   /* the reply is the domain alone */
};

/* The table entry for a procedure number, or NULL when Vireo does not know it. */
const struct remote_proc *remote_proc_lookup(int proc);

/* A procedure of libvirt's remote program, codec or not (remote-procs.list). */
struct remote_proc_name {
    int proc;
    const char *api; /* "virNodeGetFreeMemory"; NULL for events */
};

/*
 * The libvirt API procedure number proc stands for, for every procedure of
 * libvirt's remote program; NULL for events and numbers libvirt does not
 * have.
 */
const char *remote_proc_api_name(int proc);

/* virTypedParameterType values, wire ABI. */
enum remote_typed_param_type {
    REMOTE_TYPED_PARAM_INT = 1,
    REMOTE_TYPED_PARAM_UINT = 2,
    REMOTE_TYPED_PARAM_LLONG = 3,
    REMOTE_TYPED_PARAM_ULLONG = 4,
    REMOTE_TYPED_PARAM_DOUBLE = 5,
    REMOTE_TYPED_PARAM_BOOLEAN = 6,
    REMOTE_TYPED_PARAM_STRING = 7,
};

struct remote_typed_param {
    char *field;
    int32_t type; /* enum remote_typed_param_type */
    union {
        int32_t i;
        uint32_t ui;
        int64_t l;
        uint64_t ul;
        double d;
        int32_t b;
        char *s;
    } value;
};

int remote_typed_param_decode(struct xdr_dec *dec, struct remote_typed_param *v);
void remote_typed_param_encode(struct xdr_enc *enc, const struct remote_typed_param *v);
void remote_typed_param_free(struct remote_typed_param *v);

/* remote_string: a bool, then the string when the bool is true. */
int remote_get_opt_string(struct xdr_dec *dec, char **out, const char *what);

#endif
