/*
 * test-vmm-argv.c - golden tests of vmm_argv_build, like libvirt's
 * qemuxmlconftest: the same folder as the conf golden test
 * (tests/conf/domain/). Every NAME.xml there that parses (it has a
 * NAME.out.xml) and is of type kvm or qemu is turned into a command line with
 * fixed paths and compared with NAME.argv (one argument per line) or, when
 * the daemon refuses to start it, with the error line in NAME.err, which
 * must be one line in libvirt's words ("unsupported configuration: ...").
 *
 *   test-vmm-argv DIR   (VIREO_REGEN=1 rewrites the golden files)
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/golden-names.h"
#include "daemon/vmm-argv.h"
#include "tap.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"
#include "util/mem.h"

static char *slurp(const char *path)
{
    struct buf b = BUF_INIT;
    struct verr err = {0};
    if (file_read_all(path, 1 << 20, &b, &err) < 0) {
        buf_free(&b);
        return NULL;
    }
    buf_append(&b, "", 1);
    return (char *)b.data;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static void check_one(const char *dir, const char *name, bool regen)
{
    char *outpath = xasprintf("%s/%s.out.xml", dir, name);
    bool parses = access(outpath, F_OK) == 0;
    free(outpath);
    if (!parses)
        return; /* a parse error case (NAME.err alone): the conf golden test's */
    char *xmlpath = xasprintf("%s/%s.xml", dir, name);
    struct domain_def *def = NULL;
    struct verr err = {0};
    int r = domain_def_parse_file(xmlpath, golden_parse_flags(name), &def, &err);
    free(xmlpath);
    if (r < 0) {
        ok(0, "%s: parse: %s", name, verr_msg(&err));
        return;
    }
    if (def->type != DOMAIN_TYPE_KVM && def->type != DOMAIN_TYPE_QEMU) {
        domain_def_free(def);
        return;
    }
    /* The taps the daemon would pass: descriptor 40+k for the k-th (net-iface.h; one per
     * interface, or one per queue of a <driver queues='N'/> one). */
    size_t nfds = vmm_argv_net_nfds(def);
    int *fds = xcalloc(nfds + 1, sizeof(int));
    for (size_t i = 0; i < def->nnets; i++)
        for (size_t q = 0; q < vmm_argv_net_queues(&def->nets[i]); q++) {
            size_t k = vmm_argv_net_fd_index(def, i) + q;
            fds[k] = def->nets[i].type == DOMAIN_NET_USER ? -1 : 40 + (int)k;
        }
    struct vmm_argv_paths paths = {"/usr/bin/vireo-vmm",
                                   "/run/vireo/domains/NAME.qmp",
                                   "/run/vireo/domains/NAME.console",
                                   "/run/vireo/domains/NAME.pid",
                                   NULL,
                                   fds};
    /* encrypted disks: fixed stand-ins for the key material vireod makes at each start */
    char **data = xcalloc(def->ndisks + 1, sizeof(char *)),
         **iv = xcalloc(def->ndisks + 1, sizeof(char *));
    for (size_t i = 0; i < def->ndisks; i++)
        if (vmm_argv_disk_encryption(&def->disks[i])) {
            data[i] = xasprintf("ENCRYPTED-SECRET-%zu", i);
            iv[i] = xasprintf("IV-%zu", i);
            paths.master_key = "/run/vireo/domains/NAME.masterkey";
        }
    paths.memory_dir = "/var/lib/vireo/ram/1-NAME";
    paths.disk_secret_data = data;
    paths.disk_secret_iv = iv;
    char **av = NULL;
    struct buf got = BUF_INIT;
    const char *ext, *other;
    if (vmm_argv_build(def, &paths, &av, &err) == 0) {
        ext = "argv", other = "err";
        for (char **p = av; *p; p++) {
            buf_append(&got, *p, strlen(*p));
            buf_append(&got, "\n", 1);
        }
    } else {
        ext = "err", other = "argv";
        /* accepted means applied: a refusal is one line in libvirt's words */
        ok(strncmp(verr_msg(&err), "unsupported configuration: ", 27) == 0 &&
               !strchr(verr_msg(&err), '\n'),
           "%s: refused with one 'unsupported configuration: ' line", name);
        buf_append(&got, verr_msg(&err), strlen(verr_msg(&err)));
        buf_append(&got, "\n", 1);
    }
    buf_append(&got, "", 1);
    char *golden_path = xasprintf("%s/%s.%s", dir, name, ext);
    char *other_path = xasprintf("%s/%s.%s", dir, name, other);
    if (regen) {
        struct verr e2 = {0};
        file_replace_atomic(golden_path, got.data, got.len - 1, 0644, &e2);
        unlink(other_path);
    }
    char *want = slurp(golden_path);
    is_str((char *)got.data, want ? want : "(missing golden file)", "%s.%s", name, ext);
    ok(access(other_path, F_OK) != 0, "%s: no stale %s.%s beside it", name, name, other);
    free(want);
    free(golden_path);
    free(other_path);
    buf_free(&got);
    vmm_argv_free(av);
    free(fds);
    for (size_t i = 0; i < def->ndisks; i++) {
        free(data[i]);
        free(iv[i]);
    }
    free(data);
    free(iv);
    domain_def_free(def);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test-vmm-argv DIR\n");
        return 2;
    }
    bool regen = getenv("VIREO_REGEN") != NULL || getenv("VIREO_REGENERATE") != NULL;
    log_set_level(LOG_ERROR); /* unknown-element warnings are expected in some inputs */
    struct dirent **ents = NULL;
    int n = scandir(argv[1], &ents, NULL, by_name);
    if (n < 0) {
        printf("not ok 1 - cannot read %s\n1..1\n", argv[1]);
        return 1;
    }
    for (int i = 0; i < n; i++) {
        const char *fn = ents[i]->d_name;
        size_t l = strlen(fn);
        if (l > 4 && strcmp(fn + l - 4, ".xml") == 0 &&
            !(l > 8 && strcmp(fn + l - 8, ".out.xml") == 0)) {
            char *name = xasprintf("%.*s", (int)(l - 4), fn);
            check_one(argv[1], name, regen);
            free(name);
        }
        free(ents[i]);
    }
    free(ents);
    return tap_done();
}
