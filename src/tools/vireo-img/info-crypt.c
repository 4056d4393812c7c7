/*
 * info-crypt.c - the encryption details of `vireo-img info`, as qemu-img
 * prints them: the luks format's "Format specific information" and qcow2's
 * "encrypt:" block, in human text and JSON.
 *
 * The keys come in QEMU's order, which is the order of its QDict buckets
 * (see image-opts.c): ivgen-alg, hash-alg, cipher-alg, uuid,
 * ivgen-hash-alg, format, cipher-mode, slots, payload-offset,
 * master-key-iters; a slot lists active, iters, key-offset, stripes.
 */
#include "img.h"

#include <stdarg.h>
#include <string.h>

static void line(int indent, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void line(int indent, const char *key, const char *fmt, ...)
{
    printf("%*s%s: ", indent, "", key);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

void img_info_crypt_human(const struct block_crypt_info *ci, int indent, bool with_format)
{
    if (strcmp(ci->format, "aes") == 0) {
        line(indent, "format", "aes");
        return;
    }
    line(indent, "ivgen alg", "%s", ci->ivgen_alg);
    line(indent, "hash alg", "%s", ci->hash_alg);
    line(indent, "cipher alg", "%s", ci->cipher_alg);
    line(indent, "uuid", "%s", ci->uuid);
    if (ci->ivgen_hash_alg[0])
        line(indent, "ivgen hash alg", "%s", ci->ivgen_hash_alg);
    if (with_format)
        line(indent, "format", "luks");
    line(indent, "cipher mode", "%s", ci->cipher_mode);
    printf("%*sslots:\n", indent, "");
    for (int i = 0; i < 8; i++) {
        const struct block_crypt_slot *s = &ci->slots[i];
        printf("%*s[%d]:\n", indent + 4, "", i);
        line(indent + 8, "active", "%s", s->active ? "true" : "false");
        if (s->active)
            line(indent + 8, "iters", "%u", s->iters);
        line(indent + 8, "key offset", "%llu", (unsigned long long)s->key_offset);
        if (s->active)
            line(indent + 8, "stripes", "%u", s->stripes);
    }
    line(indent, "payload offset", "%llu", (unsigned long long)ci->payload_offset);
    line(indent, "master key iters", "%u", ci->master_key_iters);
}

void img_info_crypt_json(struct img_json *j, const struct block_crypt_info *ci, bool with_format)
{
    if (strcmp(ci->format, "aes") == 0) {
        img_json_str(j, "format", "aes");
        return;
    }
    img_json_str(j, "ivgen-alg", ci->ivgen_alg);
    img_json_str(j, "hash-alg", ci->hash_alg);
    img_json_str(j, "cipher-alg", ci->cipher_alg);
    img_json_str(j, "uuid", ci->uuid);
    if (ci->ivgen_hash_alg[0])
        img_json_str(j, "ivgen-hash-alg", ci->ivgen_hash_alg);
    if (with_format)
        img_json_str(j, "format", "luks");
    img_json_str(j, "cipher-mode", ci->cipher_mode);
    img_json_begin_array(j, "slots");
    for (int i = 0; i < 8; i++) {
        const struct block_crypt_slot *s = &ci->slots[i];
        img_json_begin_object(j, NULL);
        img_json_bool(j, "active", s->active);
        if (s->active)
            img_json_u64(j, "iters", s->iters);
        img_json_u64(j, "key-offset", s->key_offset);
        if (s->active)
            img_json_u64(j, "stripes", s->stripes);
        img_json_end_object(j);
    }
    img_json_end_array(j);
    img_json_u64(j, "payload-offset", ci->payload_offset);
    img_json_u64(j, "master-key-iters", ci->master_key_iters);
}
