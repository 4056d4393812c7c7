/*
 * protocol.h - the libvirt RPC envelope: constants, the 24-byte message
 * header and the error structure.
 *
 * On the wire every message is: a 4-byte big-endian length that counts the
 * whole message including itself, the header (six XDR units: program,
 * version, procedure, type, serial, status), then the payload, whose meaning
 * depends on the header (procedure arguments, a reply, an error, an event or
 * stream data). The numbers here are libvirt's wire ABI (virnetprotocol.x,
 * virkeepaliveprotocol.x, virterror.h) and must never change.
 */
#ifndef VIREO_RPC_PROTOCOL_H
#define VIREO_RPC_PROTOCOL_H

#include <stdbool.h>
#include <stdint.h>

#include "rpc/xdr.h"
#include "util/buf.h"
#include "util/error.h"

#define RPC_REMOTE_PROGRAM             0x20008086u
#define RPC_REMOTE_PROTOCOL_VERSION    1u
#define RPC_KEEPALIVE_PROGRAM          0x6b656570u /* "keep" */
#define RPC_KEEPALIVE_PROTOCOL_VERSION 1u
#define RPC_KEEPALIVE_PROC_PING        1
#define RPC_KEEPALIVE_PROC_PONG        2

/* Size limits (virnetprotocol.x). */
#define RPC_MESSAGE_INITIAL     65536u    /* first receive buffer */
#define RPC_MESSAGE_MAX         33554432u /* header + payload, length word excluded */
#define RPC_MESSAGE_HEADER_SIZE 24u
#define RPC_MESSAGE_PAYLOAD_MAX (RPC_MESSAGE_MAX - RPC_MESSAGE_HEADER_SIZE)
#define RPC_MESSAGE_LEN_SIZE    4u
#define RPC_MESSAGE_NUM_FDS_MAX 32u
#define RPC_STRING_MAX          4194304u

enum rpc_msg_type {
    RPC_CALL = 0,
    RPC_REPLY = 1,
    RPC_MESSAGE = 2,
    RPC_STREAM = 3,
    RPC_CALL_WITH_FDS = 4,
    RPC_REPLY_WITH_FDS = 5,
    RPC_STREAM_HOLE = 6,
};

enum rpc_msg_status {
    RPC_OK = 0,
    RPC_ERROR = 1,
    RPC_CONTINUE = 2,
};

struct rpc_header {
    uint32_t prog;
    uint32_t vers;
    int32_t proc;
    uint32_t type;   /* enum rpc_msg_type */
    uint32_t serial; /* matches a reply (and stream data) to its call; 0 for events */
    uint32_t status; /* enum rpc_msg_status */
};

void rpc_header_encode(struct xdr_enc *enc, const struct rpc_header *h);
/* Decodes and validates the type and status enums. 0 or -EBADMSG. */
int rpc_header_decode(struct xdr_dec *dec, struct rpc_header *h);
const char *rpc_msg_type_name(uint32_t type);

/* virErrorLevel */
enum { RPC_ERR_LEVEL_NONE = 0, RPC_ERR_LEVEL_WARNING = 1, RPC_ERR_LEVEL_ERROR = 2 };

/* virErrorNumber: the codes Vireo raises (wire ABI values). */
enum rpc_err_code {
    RPC_ERR_OK = 0,
    RPC_ERR_INTERNAL_ERROR = 1,
    RPC_ERR_NO_MEMORY = 2,
    RPC_ERR_NO_SUPPORT = 3,
    RPC_ERR_NO_CONNECT = 5,
    RPC_ERR_INVALID_CONN = 6,
    RPC_ERR_INVALID_DOMAIN = 7,
    RPC_ERR_INVALID_ARG = 8,
    RPC_ERR_OPERATION_FAILED = 9,
    RPC_ERR_XML_ERROR = 27,
    RPC_ERR_DOM_EXIST = 28,
    RPC_ERR_OPERATION_DENIED = 29,
    RPC_ERR_SYSTEM_ERROR = 38,
    RPC_ERR_RPC = 39,
    RPC_ERR_NO_DOMAIN = 42,
    RPC_ERR_AUTH_FAILED = 45,
    RPC_ERR_OPERATION_INVALID = 55,
    RPC_ERR_CONFIG_UNSUPPORTED = 67,
    RPC_ERR_OPERATION_TIMEOUT = 68,
    RPC_ERR_ARGUMENT_UNSUPPORTED = 74,
    RPC_ERR_OPERATION_UNSUPPORTED = 84,
};

/* virErrorDomain: where an error comes from (wire ABI values). */
enum rpc_err_domain {
    RPC_FROM_NONE = 0,
    RPC_FROM_XML = 5,
    RPC_FROM_DOM = 6,
    RPC_FROM_RPC = 7,
    RPC_FROM_CONF = 9,
    RPC_FROM_QEMU = 10,
    RPC_FROM_REMOTE = 13,
    RPC_FROM_DOMAIN = 20,
    RPC_FROM_STREAMS = 38,
};

/*
 * remote_error / virNetMessageError. `message` is what a stock client prints
 * after "error: ". The dom and net members are obsolete on the wire: they are
 * skipped when decoding and always sent as absent.
 */
struct rpc_error {
    int32_t code;   /* enum rpc_err_code */
    int32_t domain; /* enum rpc_err_domain */
    char *message;  /* may be NULL */
    int32_t level;
    char *str1, *str2, *str3;
    int32_t int1, int2;
};

void rpc_error_encode(struct xdr_enc *enc, const struct rpc_error *e);
int rpc_error_decode(struct xdr_dec *dec, struct rpc_error *e);
void rpc_error_free(struct rpc_error *e);
/* Sets code, domain, level ERROR and a formatted message (replacing any). */
void rpc_error_set(struct rpc_error *e, int code, int domain, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/*
 * libvirt's VIR_ERR_NO_SUPPORT for a known API ("this function is not
 * supported by the connection driver: virDomainPinEmulator").
 */
void rpc_error_no_support(struct rpc_error *e, const char *api);
/*
 * libvirt's VIR_ERR_OPERATION_DENIED for a state-changing API on a
 * read-only connection ("operation forbidden: read only access prevents
 * virDomainDestroy").
 */
void rpc_error_read_only(struct rpc_error *e, const char *api);

#endif
