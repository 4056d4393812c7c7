/*
 * cmd-cpu-compare.c - vsh's cpu-compare, hypervisor-cpu-compare, cpu-baseline and
 * hypervisor-cpu-baseline (and cpu-models): the
 * <cpu> elements
 * of a file (alone, several side by side, or inside a domain, capabilities or
 * domainCapabilities document, as virsh finds them) sent to the daemon, with
 * virsh's output lines.
 */
#include "conf/xnode.h"
#include "tools/vsh/commands.h"
#include "util/buf.h"
#include "util/mem.h"

#include <stdlib.h>
#include <string.h>

/* The file's CPU definitions as XML strings (NULL-terminated), or NULL with virsh's error. */
static char **extract_cpus(struct vsh_ctl *ctl, const char *path, size_t *n)
{
    char *text = vsh_read_xml_file(ctl, path);
    if (!text)
        return NULL;
    /* virsh wraps the file in one element so that several <cpu> side by side parse */
    char *wrapped = xasprintf("<container>%s</container>", text);
    free(text);
    struct xnode *root = NULL;
    struct verr e = {0};
    char **out = NULL;
    *n = 0;
    if (xnode_parse_xml(wrapped, strlen(wrapped), path, &root, &e) == 0) {
        out = xcalloc(root->nkids + 1, sizeof(*out));
        for (size_t i = 0; i < root->nkids; i++) {
            const struct xnode *k = root->kids[i], *cpu = NULL;
            if (!k->name)
                continue;
            if (strcmp(k->name, "cpu") == 0) {
                cpu = k;
            } else if (strcmp(k->name, "domain") == 0) {
                cpu = xnode_child(k, "cpu");
            } else if (strcmp(k->name, "capabilities") == 0) {
                const struct xnode *h = xnode_child(k, "host");
                cpu = h ? xnode_child(h, "cpu") : NULL;
            } else if (strcmp(k->name, "domainCapabilities") == 0) {
                const struct xnode *c = xnode_child(k, "cpu");
                for (size_t j = 0; c && j < c->nkids; j++) {
                    const char *m = xnode_attr(c->kids[j], "name");
                    if (c->kids[j]->name && strcmp(c->kids[j]->name, "mode") == 0 && m &&
                        strcmp(m, "host-model") == 0)
                        cpu = c->kids[j];
                }
            }
            if (!cpu)
                continue;
            struct xnode *copy = xnode_copy(cpu);
            free(copy->name);
            copy->name = xstrdup("cpu"); /* a host-model <mode> reads as a <cpu> */
            struct buf b = BUF_INIT;
            xnode_format(copy, &b, 0);
            xnode_free(copy);
            out[(*n)++] = buf_detach(&b, NULL);
        }
    }
    free(wrapped);
    xnode_free(root);
    if (*n == 0) {
        free(out);
        vsh_error(ctl,
                  "File '%s' does not contain any <cpu> element or valid domain XML, host "
                  "capabilities XML, or domain capabilities XML",
                  path);
        return NULL;
    }
    return out;
}

static void free_cpus(char **cpus, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(cpus[i]);
    free(cpus);
}

/* cpu-compare and hypervisor-cpu-compare: what is compared with is `with` in virsh's lines. */
static bool compare(struct vsh_ctl *ctl, const struct vsh_cmd *cmd, bool hypervisor)
{
    const char *path = vsh_opt_string(cmd, "file");
    if (vsh_opt_bool(cmd, "error") || vsh_opt_bool(cmd, "validate")) {
        /* TODO: VIR_CONNECT_COMPARE_CPU_FAIL_INCOMPATIBLE and _VALIDATE_XML */
        vsh_error(ctl, "%s", "unsupported flags: --error and --validate are not supported yet");
        return false;
    }
    size_t n;
    char **cpus = extract_cpus(ctl, path, &n);
    if (!cpus)
        return false;
    vir_error err;
    int r = hypervisor ? vir_connect_compare_hypervisor_cpu(
                             ctl->conn, vsh_opt_string(cmd, "emulator"),
                             vsh_opt_string(cmd, "arch"), vsh_opt_string(cmd, "machine"),
                             vsh_opt_string(cmd, "virttype"), cpus[0], 0, &err)
                       : vir_connect_compare_cpu(ctl->conn, cpus[0], 0, &err);
    free_cpus(cpus, n);
    const char *with = hypervisor ? "the CPU provided by hypervisor on the host" : "host CPU";
    switch (r) {
    case 0:
        vsh_print(ctl, "CPU described in %s is incompatible with %s\n", path, with);
        return false;
    case 1:
        vsh_print(ctl, "CPU described in %s is identical to %s\n", path, with);
        return true;
    case 2:
        vsh_print(ctl, "%s is a superset of CPU described in %s\n",
                  hypervisor ? "The CPU provided by hypervisor on the host" : "Host CPU", path);
        return true;
    default:
        if (hypervisor)
            vsh_error(ctl, "Failed to compare hypervisor CPU with %s", path);
        else
            vsh_error(ctl, "Failed to compare host CPU with %s", path);
        vsh_report(ctl, &err);
        return false;
    }
}

bool vsh_cmd_cpu_compare(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    return compare(ctl, cmd, false);
}

bool vsh_cmd_hypervisor_cpu_compare(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    return compare(ctl, cmd, true);
}

/* cpu-baseline and hypervisor-cpu-baseline (which also takes --model NAME for one CPU). */
static bool baseline(struct vsh_ctl *ctl, const struct vsh_cmd *cmd, bool hypervisor)
{
    if (vsh_opt_bool(cmd, "features") || vsh_opt_bool(cmd, "migratable")) {
        /* TODO: VIR_CONNECT_BASELINE_CPU_EXPAND_FEATURES and _MIGRATABLE */
        vsh_error(ctl, "%s",
                  "unsupported flags: --features and --migratable are not supported yet");
        return false;
    }
    const char *file = vsh_opt_string(cmd, "file");
    const char *model = hypervisor ? vsh_opt_string(cmd, "model") : NULL;
    if (file && model) {
        vsh_error(ctl, "%s", "Options --file and --model are mutually exclusive");
        return false;
    }
    if (!file && !model) {
        vsh_error(ctl, "%s", "either --file or --model is required");
        return false;
    }
    size_t n = 1;
    char **cpus;
    if (model) {
        struct buf b = BUF_INIT;
        buf_append_str(&b, "<cpu>\n  <model>");
        xml_escape(&b, model, false);
        buf_append_str(&b, "</model>\n</cpu>\n");
        cpus = xcalloc(2, sizeof(*cpus));
        cpus[0] = buf_detach(&b, NULL);
    } else if (!(cpus = extract_cpus(ctl, file, &n))) {
        return false;
    }
    vir_error err;
    char *result =
        hypervisor ? vir_connect_baseline_hypervisor_cpu(
                         ctl->conn, vsh_opt_string(cmd, "emulator"), vsh_opt_string(cmd, "arch"),
                         vsh_opt_string(cmd, "machine"), vsh_opt_string(cmd, "virttype"),
                         (const char **)cpus, (unsigned)n, 0, &err)
                   : vir_connect_baseline_cpu(ctl->conn, (const char **)cpus, (unsigned)n, 0, &err);
    free_cpus(cpus, n);
    if (!result) {
        vsh_report(ctl, &err);
        return false;
    }
    vsh_print(ctl, "%s", result);
    free(result);
    return true;
}

bool vsh_cmd_cpu_baseline(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    return baseline(ctl, cmd, false);
}

bool vsh_cmd_hypervisor_cpu_baseline(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    return baseline(ctl, cmd, true);
}

/* cpu-models ARCH: the daemon's model names for that architecture, one a line. */
bool vsh_cmd_cpu_models(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    char **models = NULL;
    vir_error err;
    int n =
        vir_connect_get_cpu_model_names(ctl->conn, vsh_opt_string(cmd, "arch"), &models, 0, &err);
    if (n < 0) {
        vsh_error(ctl, "%s", "failed to get CPU model names");
        vsh_report(ctl, &err);
        return false;
    }
    if (n == 0)
        vsh_print_extra(ctl, "%s\n", "all CPU models are accepted");
    for (int i = 0; models && models[i]; i++) {
        vsh_print(ctl, "%s\n", models[i]);
        free(models[i]);
    }
    free(models);
    return true;
}
