/*
 * test-conf-golden.c - golden-file tests for the XML models in src/conf.
 *
 * Usage: test-conf-golden KIND DIR, KIND one of domain, network, storagepool,
 * storagevol, snapshot. For every DIR/NAME.xml (not *.out.xml):
 *   - with DIR/NAME.err and no DIR/NAME.out.xml: parsing must fail with exactly
 *     that one-line message;
 *   - otherwise parsing must succeed, the formatted XML must equal
 *     DIR/NAME.out.xml, and parsing that output again must give the same text
 *     (formatting is a fixed point). A NAME.err beside a NAME.out.xml is the
 *     start refusal of a kvm domain: tests/unit/daemon/test-vmm-argv.c reads
 *     it, with NAME.argv (libvirt's qemuxmlconfdata layout).
 * Name prefixes pick parse flags: "validate-" (DOMAIN_PARSE_VALIDATE),
 * "strict-" (DOMAIN_PARSE_STRICT_NAMES), "live-" (status XML, formatted
 * active), "inactive-" (formatted with DOMAIN_FORMAT_INACTIVE), "secure-".
 * VIREO_REGEN=1 writes missing .out.xml files instead of failing (then review
 * them by hand, and against virsh, before committing).
 */
#include "tap.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "conf/domain_conf.h"
#include "conf/golden-names.h"
#include "conf/network_conf.h"
#include "conf/snapshot_conf.h"
#include "conf/storage_conf.h"
#include "util/buf.h"
#include "util/file.h"
#include "util/log.h"

static char *slurp(const char *path)
{
    struct buf b = BUF_INIT;
    struct verr err;
    if (file_read_all(path, 1 << 24, &b, &err) < 0) {
        buf_free(&b);
        return NULL;
    }
    if (!b.len)
        buf_append_str(&b, "");
    return buf_detach(&b, NULL);
}

/* Parses and formats one document of `kind`; returns the text or NULL with err set. */
static char *roundtrip(const char *kind, const char *name, const char *xml, struct verr *err)
{
    if (strcmp(kind, "domain") == 0) {
        unsigned pf = golden_parse_flags(name), ff = golden_format_flags(name);
        struct domain_def *def = NULL;
        if (domain_def_parse_string(xml, pf, &def, err) < 0)
            return NULL;
        /* A copy must format the same as the original. */
        struct domain_def *copy = domain_def_copy(def);
        char *out = domain_def_format(copy, ff);
        domain_def_free(copy);
        domain_def_free(def);
        return out;
    }
    if (strcmp(kind, "network") == 0) {
        struct network_def *def = NULL;
        if (network_def_parse_string(xml, 0, &def, err) < 0)
            return NULL;
        char *out = network_def_format(def, 0);
        network_def_free(def);
        return out;
    }
    if (strcmp(kind, "storagepool") == 0) {
        struct storage_pool_def *def = NULL;
        if (storage_pool_def_parse_string(xml, 0, &def, err) < 0)
            return NULL;
        char *out = storage_pool_def_format(def);
        storage_pool_def_free(def);
        return out;
    }
    if (strcmp(kind, "storagevol") == 0) {
        struct storage_vol_def *def = NULL;
        if (storage_vol_def_parse_string(xml, 0, &def, err) < 0)
            return NULL;
        char *out = storage_vol_def_format(def);
        storage_vol_def_free(def);
        return out;
    }
    if (strcmp(kind, "snapshot") == 0) {
        /* "create-" files are what a client gives snapshot-create */
        unsigned pf = strncmp(name, "create-", 7) == 0 ? SNAPSHOT_PARSE_CREATE : 0;
        struct snapshot_def *def = NULL;
        if (snapshot_def_parse_string(xml, pf, &def, err) < 0)
            return NULL;
        char *out = snapshot_def_format(def);
        snapshot_def_free(def);
        return out;
    }
    verr_set(err, EINVAL, "unknown kind '%s'", kind);
    return NULL;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s KIND DIR\n", argv[0]);
        return 2;
    }
    const char *kind = argv[1], *dir = argv[2];
    bool regen = getenv("VIREO_REGEN") != NULL;
    log_set_level(LOG_ERROR); /* unknown-element warnings are expected in some inputs */
    struct dirent **ents = NULL;
    int n = scandir(dir, &ents, NULL, by_name);
    if (n < 0) {
        printf("not ok 1 - cannot read %s\n1..1\n", dir);
        return 1;
    }
    for (int i = 0; i < n; i++) {
        const char *fn = ents[i]->d_name;
        size_t l = strlen(fn);
        if (l < 5 || strcmp(fn + l - 4, ".xml") != 0 ||
            (l > 8 && strcmp(fn + l - 8, ".out.xml") == 0))
            continue;
        char name[256], path[1024], outp[1024], errp[1024];
        snprintf(name, sizeof(name), "%.*s", (int)(l - 4), fn);
        snprintf(path, sizeof(path), "%s/%s", dir, fn);
        snprintf(outp, sizeof(outp), "%s/%s.out.xml", dir, name);
        snprintf(errp, sizeof(errp), "%s/%s.err", dir, name);
        char *xml = slurp(path);
        char *want_err = slurp(errp);
        char *have_out = slurp(outp);
        if (want_err && have_out) { /* a start refusal: the argv test's */
            free(want_err);
            want_err = NULL;
        }
        free(have_out);
        struct verr err;
        verr_clear(&err);
        char *got = roundtrip(kind, name, xml, &err);
        if (want_err) {
            size_t wl = strlen(want_err);
            while (wl && want_err[wl - 1] == '\n')
                want_err[--wl] = '\0';
            if (!ok(got == NULL, "%s %s: rejected", kind, name))
                tap_diag("unexpectedly parsed");
            else
                is_str(err.msg, want_err, "%s %s: error message", kind, name);
        } else if (!got) {
            ok(0, "%s %s: parses", kind, name);
            tap_diag("error: %s", err.msg);
        } else {
            char *want = slurp(outp);
            if (!want && regen) {
                FILE *f = fopen(outp, "w");
                if (f) {
                    fputs(got, f);
                    fclose(f);
                }
                want = strdup(got);
                tap_diag("wrote %s", outp);
            }
            if (!want) {
                ok(0, "%s %s: golden file %s exists", kind, name, outp);
            } else {
                is_str(got, want, "%s %s: output matches %s.out.xml", kind, name, name);
                /* fixed point: the output parses back to itself */
                struct verr err2;
                verr_clear(&err2);
                char *again = roundtrip(kind, name, got, &err2);
                if (!again)
                    ok(0, "%s %s: output parses again (%s)", kind, name, err2.msg);
                else if (strcmp(kind, "domain") == 0 && strcmp(again, got) != 0) {
                    /* libvirt orders disks by the bus as written: one reordering round at most */
                    char *third = roundtrip(kind, name, again, &err2);
                    is_str(third ? third : err2.msg, again,
                           "%s %s: formatting is a fixed point after one round", kind, name);
                    free(third);
                } else
                    is_str(again, got, "%s %s: formatting is a fixed point", kind, name);
                free(again);
            }
            free(want);
        }
        free(got);
        free(xml);
        free(want_err);
    }
    for (int i = 0; i < n; i++)
        free(ents[i]);
    free(ents);
    return tap_done();
}
