/*
 * test-vmm-argv.c - golden tests of vmm_argv_build, like libvirt's
 * qemuxml2argv: for each NAME in argv[2..], vmm-argv/NAME.xml is turned into
 * a command line with fixed paths and compared with vmm-argv/NAME.argv (one
 * argument per line), or, for definitions vireo-vmm cannot run, the error
 * line with vmm-argv/NAME.err.
 *
 *   test-vmm-argv DIR NAME...   (VIREO_REGENERATE=1 rewrites the golden files)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/vmm-argv.h"
#include "tap.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/file.h"
#include "util/mem.h"

static char *slurp(const char *path)
{
    struct buf b = BUF_INIT;
    struct verr err = {0};
    if (file_read_all(path, 1 << 20, &b, &err) < 0)
        return NULL;
    buf_append(&b, "", 1);
    return (char *)b.data;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test-vmm-argv DIR NAME...\n");
        return 2;
    }
    bool regen = getenv("VIREO_REGENERATE") != NULL;
    for (int i = 2; i < argc; i++) {
        char *xmlpath = xasprintf("%s/%s.xml", argv[1], argv[i]);
        struct domain_def *def;
        struct verr err = {0};
        if (domain_def_parse_file(xmlpath, 0, &def, &err) < 0) {
            ok(0, "%s: parse: %s", argv[i], verr_msg(&err));
            free(xmlpath);
            continue;
        }
        struct vmm_argv_paths paths = {"/usr/bin/vireo-vmm", "/run/vireo/domains/NAME.qmp",
                                       "/run/vireo/domains/NAME.console",
                                       "/run/vireo/domains/NAME.pid"};
        char **av = NULL;
        struct buf got = BUF_INIT;
        const char *ext;
        if (vmm_argv_build(def, &paths, &av, &err) == 0) {
            ext = "argv";
            for (char **p = av; *p; p++) {
                buf_append(&got, *p, strlen(*p));
                buf_append(&got, "\n", 1);
            }
        } else {
            ext = "err";
            buf_append(&got, verr_msg(&err), strlen(verr_msg(&err)));
            buf_append(&got, "\n", 1);
        }
        buf_append(&got, "", 1);
        char *golden_path = xasprintf("%s/%s.%s", argv[1], argv[i], ext);
        if (regen) {
            struct verr e2 = {0};
            file_replace_atomic(golden_path, got.data, got.len - 1, 0644, &e2);
        }
        char *want = slurp(golden_path);
        is_str((char *)got.data, want ? want : "(missing golden file)", "%s.%s", argv[i], ext);
        free(want);
        free(golden_path);
        buf_free(&got);
        vmm_argv_free(av);
        domain_def_free(def);
        free(xmlpath);
    }
    return tap_done();
}
