/*
 * qmp-json.h - QMP's wire JSON: an incremental parser that splits a byte
 * stream into top-level values, and a formatter that writes values the way
 * QEMU does.
 *
 * Why not json-c's own tokener: QMP clients rely on QEMU's recovery rules
 * (after a syntax error the stream resynchronises at the next structural
 * character or control character and later messages still work), on its
 * error wording ("JSON parse error, invalid keyword 'x'"), on its extensions
 * (single-quoted strings) and on its rejection of duplicate keys. So the
 * lexer, streamer and parser here are QMP-specific; json-c provides only
 * the value tree (struct json_object) that commands consume and build.
 *
 * Output formatting follows QEMU 7.2: `{"a": 1, "b": [1, 2]}` with ", " and
 * ": " separators, non-ASCII and control characters escaped as \uXXXX,
 * doubles with %.17g. Byte-for-byte equality with QEMU's replies lets the
 * tests compare against golden files recorded from the real QEMU.
 */
#ifndef VIREO_QMP_JSON_H
#define VIREO_QMP_JSON_H

#include <stddef.h>

struct buf;
struct json_object;
struct qmp_json_stream;

/* Same nesting bound as QEMU's streamer. */
#define QMP_JSON_MAX_NESTING 1024

/*
 * Called once per complete top-level value, or once per error. On error,
 * error is one line in QEMU's wording ("JSON parse error, ...") and value is
 * NULL; otherwise error is NULL and value is the value, owned by the callee
 * (json_object_put it; NULL is JSON null, as everywhere in json-c). The
 * callback must not free the stream.
 */
typedef void (*qmp_json_value_fn)(void *opaque, struct json_object *value, const char *error);

/*
 * max_message bounds the bytes (token text) and tokens buffered for one
 * top-level value; 0 picks the default of 1 MiB.
 */
struct qmp_json_stream *qmp_json_stream_new(size_t max_message, qmp_json_value_fn fn, void *opaque);
void qmp_json_stream_free(struct qmp_json_stream *s);
/*
 * Feeds bytes; calls fn for each value or error completed by them. Returns 0,
 * or -EMSGSIZE when the value being received exceeds max_message: the
 * stream's state is then reset, the rest of `data` is not consumed, and the
 * caller should drop the peer (there is no sane way to resynchronise with a
 * client that sends megabytes of one token).
 */
int qmp_json_stream_feed(struct qmp_json_stream *s, const void *data, size_t len);
/* Forgets any partial value. */
void qmp_json_stream_reset(struct qmp_json_stream *s);

/*
 * Parses exactly one complete JSON value from text (used by the client and
 * tests). Returns the value (NULL for JSON null) with err_out[0] == 0, or NULL
 * with the error line in err_out (give at least 128 bytes).
 */
struct json_object *qmp_json_parse(const char *text, size_t len, char *err_out, size_t err_size);

/* Appends value in QEMU's layout (NULL is written as null). */
void qmp_json_format(struct buf *out, struct json_object *value);
/* Returns a heap string with value in QEMU's layout. */
char *qmp_json_to_string(struct json_object *value);

#endif
