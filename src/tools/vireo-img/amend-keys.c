/*
 * amend-keys.c - `vireo-img amend`'s LUKS key slot options, qemu-img 7.2's:
 * state=active|inactive, keyslot=N, new-secret=ID, old-secret=ID and
 * iter-time=MS for the luks format; the same under "encrypt." for qcow2.
 * The rules (what may be combined, which slot, the last slot) are the block
 * layer's (block_amend_keyslots, src/block/encrypt.c); this file only reads
 * the options and prints qemu-img's messages for malformed ones.
 */
#include "img.h"

#include "util/str.h"

#include <string.h>

void img_amend_keys_init(struct img_amend_keys *k)
{
    memset(k, 0, sizeof(*k));
    k->change.keyslot = -1;
}

int img_amend_keys_opt(struct img_amend_keys *k, const char *key, const char *v, bool qcow2)
{
    const char *full = key;
    if (qcow2) {
        if (strncmp(key, "encrypt.", 8) != 0)
            return 0;
        key += 8;
    }
    struct block_keyslot_change *c = &k->change;
    if (strcmp(key, "state") == 0) {
        if (strcmp(v, "active") == 0) {
            c->activate = true;
        } else if (strcmp(v, "inactive") == 0) {
            c->activate = false;
        } else {
            img_error("Parameter '%s' does not accept value '%s'", "state", v);
            return -1;
        }
        k->has_state = true;
    } else if (strcmp(key, "keyslot") == 0) {
        unsigned n;
        if (str_to_uint(v, 10, &n) < 0 || n > 0x7fffffff) {
            img_error("Parameter '%s' expects a number", full);
            return -1;
        }
        c->keyslot = (int)n;
    } else if (strcmp(key, "new-secret") == 0) {
        c->new_secret = v;
    } else if (strcmp(key, "old-secret") == 0) {
        c->old_secret = v;
    } else if (strcmp(key, "iter-time") == 0) {
        if (str_to_u64(v, 10, &c->iter_time) < 0) {
            img_error("Parameter '%s' expects a number", full);
            return -1;
        }
        c->has_iter_time = true;
    } else {
        return 0;
    }
    k->given = true;
    return 1;
}

int img_amend_keys_apply(struct img_amend_keys *k, struct block_dev *bd, bool force,
                         const char *path)
{
    if (!k->given)
        return 0;
    if (!k->has_state) {
        img_error("Parameter 'state' is missing");
        return -1;
    }
    k->change.force = force;
    struct verr err;
    verr_clear(&err);
    if (block_amend_keyslots(bd, &k->change, &err) < 0) {
        (void)path;
        img_error("%s", verr_msg(&err));
        return -1;
    }
    return 0;
}

void img_amend_keys_help(bool qcow2)
{
    static const char *const opts[][2] = {
        {"iter-time=<num>", "Time to spend in PBKDF in milliseconds"},
        {"keyslot=<num>", "Select a single keyslot to modify explicitly"},
        {"new-secret=<str>", "New secret to set in the matching keyslots. Empty string to erase"},
        {"old-secret=<str>", "Select all keyslots that match this password"},
        {"state=<str>", "Select new state of affected keyslots (active/inactive)"},
    };
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        char name[40];
        snprintf(name, sizeof(name), "%s%s", qcow2 ? "encrypt." : "", opts[i][0]);
        printf("  %-22s - %s\n", name, opts[i][1]);
    }
}
