/*
 * rpc-cpu-compare.c - virConnectCompareCPU and virConnectBaselineCPU (`virsh
 * cpu-compare`, `virsh cpu-baseline`): a guest CPU (<cpu> with a QEMU 7.2
 * model and <feature> rows, alone or inside a domain, capabilities or
 * domainCapabilities document) against the host's CPU, and the CPU that several such definitions
 * have in common.
 *
 * As libvirt's virConnectCompareCPU, the comparison is with the host CPU (the
 * CPUID instruction run by vireod), not with what KVM offers a guest. Models
 * and feature names are vireo-vmm's own tables (vmm/kvm/cpu-models.c,
 * cpu-features.c), which are QEMU 7.2's.
 *
 * virConnectCompareHypervisorCPU (hypervisor-cpu-compare) compares with what
 * vireo-vmm's -cpu host gives a guest instead: KVM_GET_SUPPORTED_CPUID;
 * virConnectBaselineHypervisorCPU (hypervisor-cpu-baseline) keeps of the common
 * features only those.
 *
 * Models are QEMU's, not libvirt's cpu_map: where they differ the answers differ (libvirtd
 * 9.0 gives Westmere as the baseline of Nehalem+aes and Westmere, its Westmere lacking
 * pclmulqdq; QEMU 7.2's Westmere has it, so the answer here is Nehalem plus aes).
 *
 * TODO: <vendor>, <signature> and <topology> are not compared (features only); the compare
 * flags
 * (VIR_CONNECT_COMPARE_CPU_FAIL_INCOMPATIBLE, _VALIDATE_XML) or the baseline
 * flags (EXPAND_FEATURES, MIGRATABLE): refused with libvirt's unsupported-flags
 * line.
 */
#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "conf/xnode.h"
#include "daemon/cpu-host-model.h"
#include "daemon/domain.h"
#include "daemon/server.h"
#include "util/buf.h"
#include "util/mem.h"
#include "vmm/kvm/cpu-features.h"
#include "vmm/kvm/cpu-models.h"

/* libvirt's virCPUCompareResult */
enum { CPU_INCOMPATIBLE = 0, CPU_IDENTICAL = 1, CPU_SUPERSET = 2 };

/* The <cpu> a document describes: itself, or the one a domain, capabilities or
 * domainCapabilities (host-model mode) holds. NULL when there is none. */
static const struct xnode *find_cpu(const struct xnode *root)
{
    if (strcmp(root->name, "cpu") == 0)
        return root;
    if (strcmp(root->name, "domain") == 0)
        return xnode_child(root, "cpu");
    if (strcmp(root->name, "capabilities") == 0) {
        const struct xnode *h = xnode_child(root, "host");
        return h ? xnode_child(h, "cpu") : NULL;
    }
    if (strcmp(root->name, "domainCapabilities") == 0) {
        const struct xnode *c = xnode_child(root, "cpu");
        for (size_t i = 0; c && i < c->nkids; i++) {
            const char *m = c->kids[i]->name ? xnode_attr(c->kids[i], "name") : NULL;
            if (strcmp(c->kids[i]->name ? c->kids[i]->name : "", "mode") == 0 && m &&
                strcmp(m, "host-model") == 0)
                return c->kids[i];
        }
    }
    return NULL;
}

/* A CPU definition as feature words: `need` what it requires (model plus required
 * features), `forbid` what it must not have. */
struct cpu_def {
    cpu_words need, forbid;
    char vendor[32];
};

/* need_arch: libvirt's baseline wants every CPU to say its architecture. */
static int parse_cpu(struct vd_call *c, const char *xml, bool need_arch, struct cpu_def *d)
{
    struct verr e = {0};
    struct xnode *root = NULL;
    memset(d, 0, sizeof(*d));
    if (xnode_parse_xml(xml, strlen(xml), "CPU XML", &root, &e) < 0)
        return vd_call_fail(c, VIR_ERR_XML_ERROR, "XML error: %s", verr_msg(&e));
    const struct xnode *cpu = find_cpu(root);
    int r = 0;
    if (!cpu) {
        r = vd_call_fail(c, VIR_ERR_XML_ERROR, "XML error: no CPU definition (<cpu>) found");
        goto out;
    }
    const struct xnode *arch = xnode_child(cpu, "arch");
    if (need_arch && !arch) {
        r = vd_call_fail(c, VIR_ERR_XML_ERROR, "XML error: Missing CPU architecture");
        goto out;
    }
    if (arch && strcmp(xnode_text(arch), "x86_64") != 0 && strcmp(xnode_text(arch), "i686") != 0) {
        r = vd_call_fail(c, VIR_ERR_CONFIG_UNSUPPORTED,
                         "unsupported configuration: CPU architecture %s is not supported by "
                         "vireo-vmm",
                         xnode_text(arch));
        goto out;
    }
    const struct xnode *model = xnode_child(cpu, "model");
    const char *mode = xnode_attr(cpu, "mode");
    if (mode && strcmp(mode, "custom") != 0 && strcmp(mode, "host-model") != 0) {
        r = vd_call_fail(c, VIR_ERR_CONFIG_UNSUPPORTED,
                         "unsupported configuration: CPU mode '%s' cannot be compared", mode);
        goto out;
    }
    if (!model || !*xnode_text(model)) {
        r = vd_call_fail(c, VIR_ERR_INVALID_ARG,
                         "invalid argument: no CPU model specified in the CPU definition");
        goto out;
    }
    struct cpu_model m;
    if (!cpu_model_find(xnode_text(model), false, &m) || m.passthrough) {
        r = vd_call_fail(c, VIR_ERR_INTERNAL_ERROR, "internal error: Unknown CPU model %s",
                         xnode_text(model));
        goto out;
    }
    memcpy(d->need, m.features, sizeof(d->need));
    const struct xnode *v = xnode_child(cpu, "vendor");
    if (v)
        snprintf(d->vendor, sizeof(d->vendor), "%s", xnode_text(v));
    for (size_t i = 0; i < cpu->nkids; i++) {
        const struct xnode *f = cpu->kids[i];
        if (!f->name || strcmp(f->name, "feature") != 0)
            continue;
        const char *name = xnode_attr(f, "name"), *pol = xnode_attr(f, "policy");
        enum cpu_word w;
        uint32_t mask;
        if (!name || !cpu_feature_lookup(name, &w, &mask)) {
            r = vd_call_fail(c, VIR_ERR_INTERNAL_ERROR, "internal error: Unknown CPU feature %s",
                             name ? name : "");
            goto out;
        }
        /* no policy: a host CPU (capabilities) lists what it has */
        if (!pol || strcmp(pol, "require") == 0 || strcmp(pol, "force") == 0) {
            d->need[w] |= mask;
        } else if (strcmp(pol, "disable") == 0) {
            d->need[w] &= ~mask;
        } else if (strcmp(pol, "forbid") == 0) {
            d->need[w] &= ~mask;
            d->forbid[w] |= mask;
        } else if (strcmp(pol, "optional") == 0) {
            d->need[w] &= ~mask;
        } else {
            r = vd_call_fail(c, VIR_ERR_XML_ERROR,
                             "XML error: Invalid CPU feature policy '%s' for feature '%s'", pol,
                             name);
            goto out;
        }
    }
out:
    xnode_free(root);
    return r;
}

/* libvirt's result of d against what `have` offers. */
static int compare_words(const struct cpu_def *d, const cpu_words have)
{
    int result = CPU_IDENTICAL;
    for (int w = 0; w < CPU_W_COUNT; w++) {
        if (w == CPU_W_KVM)
            continue;
        if ((d->need[w] & ~have[w]) || (d->forbid[w] & have[w]))
            return CPU_INCOMPATIBLE;
        if (have[w] & ~d->need[w])
            result = CPU_SUPERSET;
    }
    return result;
}

static int compare_cpu(struct vd_call *c)
{
    const struct remote_connect_compare_cpu_args *a = c->args;
    if (vd_call_check_flags(c, a->flags, 0, "virConnectCompareCPU") < 0)
        return -1;
    struct cpu_def d;
    if (parse_cpu(c, a->xml, false, &d) < 0)
        return -1;
    cpu_words host;
    vd_cpu_host_words(host);
    ((struct remote_connect_compare_cpu_ret *)c->ret)->result = compare_words(&d, host);
    return 0;
}

/* The hypervisor the *HypervisorCPU calls name: kvm on this host's arch, one of vireo-vmm's
 * machines, vireo-vmm as the emulator (each NULL for the default). */
static int check_hypervisor(struct vd_call *c, const char *emulator, const char *arch,
                            const char *machine, const char *virttype)
{
    struct utsname u;
    uname(&u);
    if (virttype && strcmp(virttype, "kvm") != 0)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: unknown virttype: %s (vireo-vmm runs 'kvm' only)",
                            virttype);
    if (arch && strcmp(arch, u.machine) != 0)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: unable to find any emulator to serve '%s' "
                            "architecture",
                            arch);
    if (emulator && strcmp(emulator, "vireo-vmm") != 0 && strcmp(emulator, c->d->vmm_path) != 0)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: emulator '%s' is not vireod's vireo-vmm ('%s')",
                            emulator, c->d->vmm_path);
    static const char *const machines[] = {"pc", "pc-i440fx-7.2", "q35", "pc-q35-7.2", "microvm"};
    bool known = !machine;
    for (size_t i = 0; machine && i < sizeof(machines) / sizeof(machines[0]); i++)
        known |= strcmp(machine, machines[i]) == 0;
    if (!known)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: the machine '%s' is not supported by emulator "
                            "'%s'",
                            machine, c->d->vmm_path);
    return 0;
}

static int compare_hypervisor_cpu(struct vd_call *c)
{
    const struct remote_connect_compare_hypervisor_cpu_args *a = c->args;
    if (vd_call_check_flags(c, a->flags, 0, "virConnectCompareHypervisorCPU") < 0)
        return -1;
    if (check_hypervisor(c, a->emulator, a->arch, a->machine, a->virttype) < 0)
        return -1;
    struct cpu_def d;
    if (parse_cpu(c, a->xmlCPU, false, &d) < 0)
        return -1;
    cpu_words have;
    struct verr e = {0};
    if (vd_cpu_hypervisor_words(have, &e) < 0)
        return vd_call_fail(c, VIR_ERR_OPERATION_FAILED, "operation failed: %s", verr_msg(&e));
    ((struct remote_connect_compare_hypervisor_cpu_ret *)c->ret)->result = compare_words(&d, have);
    return 0;
}

static unsigned popcount_words(const cpu_words w)
{
    unsigned n = 0;
    for (int i = 0; i < CPU_W_COUNT; i++)
        n += (unsigned)__builtin_popcount(w[i]);
    return n;
}

struct best_model {
    const cpu_words *common;
    char name[64];
    unsigned missing, bits;
};

/* For each concrete model: the one with the fewest features outside the common set (those
 * are then disabled; none when a model fits), then the most features, then the later
 * (newer) row. */
static void consider_model(const char *name, const char *alias_of, const char *desc, void *opaque)
{
    (void)desc;
    struct best_model *b = opaque;
    struct cpu_model m;
    if (alias_of || !cpu_model_find(name, false, &m) || m.passthrough)
        return;
    cpu_words out;
    for (int w = 0; w < CPU_W_COUNT; w++)
        out[w] = m.features[w] & ~(*b->common)[w];
    unsigned missing = popcount_words(out), bits = popcount_words(m.features);
    if (!b->name[0] || missing < b->missing || (missing == b->missing && bits >= b->bits)) {
        /* QEMU's unversioned name for a -v1 model, as libvirt's models read */
        size_t n = strlen(name);
        if (n > 3 && strcmp(name + n - 3, "-v1") == 0)
            n -= 3;
        snprintf(b->name, sizeof(b->name), "%.*s", (int)n, name);
        b->bits = bits;
        b->missing = missing;
    }
}

/* The baseline of the n CPUs, limited to `limit` when not NULL (what the hypervisor gives). */
static int baseline(struct vd_call *c, char *const *xml, uint32_t n, const cpu_words *limit,
                    char **result)
{
    if (n == 0)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: nCPUs must be greater than 0");
    cpu_words common;
    char vendor[32] = "";
    for (uint32_t i = 0; i < n; i++) {
        struct cpu_def d;
        if (parse_cpu(c, xml[i], !limit, &d) < 0)
            return -1;
        for (int w = 0; w < CPU_W_COUNT; w++)
            common[w] = i ? common[w] & d.need[w] : d.need[w];
        if (i == 0)
            memcpy(vendor, d.vendor, sizeof(vendor));
        else if (strcmp(vendor, d.vendor) != 0) {
            if (vendor[0] && d.vendor[0])
                return vd_call_fail(c, VIR_ERR_OPERATION_FAILED,
                                    "operation failed: CPU vendors do not match");
            vendor[0] = 0;
        }
    }
    for (int w = 0; limit && w < CPU_W_COUNT; w++)
        common[w] &= (*limit)[w];
    struct best_model b = {.common = (const cpu_words *)&common};
    cpu_models_each(consider_model, &b);
    struct cpu_model m;
    cpu_model_find(b.name, false, &m);
    struct buf out = BUF_INIT;
    buf_printf(&out, "<cpu mode='custom' match='exact'>\n  <model fallback='allow'>%s</model>\n",
               b.name);
    if (vendor[0]) {
        buf_append_str(&out, "  <vendor>");
        xml_escape(&out, vendor, false);
        buf_append_str(&out, "</vendor>\n");
    }
    for (int w = 0; w < CPU_W_COUNT; w++)
        for (unsigned bit = 0; bit < 32; bit++) {
            uint32_t mask = 1u << bit;
            const char *name = cpu_feature_name((enum cpu_word)w, bit);
            if ((common[w] & mask) && !(m.features[w] & mask) && name)
                buf_printf(&out, "  <feature policy='require' name='%s'/>\n", name);
            else if (!(common[w] & mask) && (m.features[w] & mask) && name)
                buf_printf(&out, "  <feature policy='disable' name='%s'/>\n", name);
        }
    buf_append_str(&out, "</cpu>\n");
    *result = buf_detach(&out, NULL);
    return 0;
}

static int baseline_cpu(struct vd_call *c)
{
    const struct remote_connect_baseline_cpu_args *a = c->args;
    if (vd_call_check_flags(c, a->flags, 0, "virConnectBaselineCPU") < 0)
        return -1;
    return baseline(c, a->xmlCPUs, a->xmlCPUs_len, NULL,
                    &((struct remote_connect_baseline_cpu_ret *)c->ret)->cpu);
}

static int baseline_hypervisor_cpu(struct vd_call *c)
{
    const struct remote_connect_baseline_hypervisor_cpu_args *a = c->args;
    if (vd_call_check_flags(c, a->flags, 0, "virConnectBaselineHypervisorCPU") < 0)
        return -1;
    if (check_hypervisor(c, a->emulator, a->arch, a->machine, a->virttype) < 0)
        return -1;
    cpu_words have;
    struct verr e = {0};
    if (vd_cpu_hypervisor_words(have, &e) < 0)
        return vd_call_fail(c, VIR_ERR_OPERATION_FAILED, "operation failed: %s", verr_msg(&e));
    return baseline(c, a->xmlCPUs, a->xmlCPUs_len, (const cpu_words *)&have,
                    &((struct remote_connect_baseline_hypervisor_cpu_ret *)c->ret)->cpu);
}

/* virConnectGetCPUModelNames (`virsh cpu-models ARCH`): the models vireo-vmm knows, for
 * x86_64 and i686 (libvirt lists its own CPU map's, a superset: vireo-vmm's are QEMU 7.2's
 * that libvirt's map also has). */
static int cpu_model_names(struct vd_call *c)
{
    const struct remote_connect_get_cpu_model_names_args *a = c->args;
    struct remote_connect_get_cpu_model_names_ret *r = c->ret;
    if (vd_call_check_flags(c, a->flags, 0, "virConnectGetCPUModelNames") < 0)
        return -1;
    static const char *const others[] = {"aarch64", "armv7l", "armv6l", "ppc64",   "ppc64le",
                                         "ppc",     "s390x",  "s390",   "riscv64", "riscv32",
                                         "mips",    "mips64", "sparc",  "sparc64", "loongarch64"};
    if (strcmp(a->arch, "x86_64") != 0 && strcmp(a->arch, "i686") != 0) {
        for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
            if (strcmp(a->arch, others[i]) == 0)
                return vd_call_fail(c, VIR_ERR_CONFIG_UNSUPPORTED,
                                    "unsupported configuration: vireo-vmm has no CPU models for "
                                    "architecture '%s' (it runs x86_64 guests)",
                                    a->arch);
        return vd_call_fail(c, VIR_ERR_INVALID_ARG, "invalid argument: cannot find architecture %s",
                            a->arch);
    }
    char **names;
    size_t n = vd_cpu_model_names(&names);
    r->ret = (int)n;
    if (a->need_results) {
        r->models = names;
        r->models_len = (uint32_t)n;
    } else {
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
    }
    return 0;
}

static const struct vd_proc procs[] = {
    {REMOTE_PROC_CONNECT_GET_CPU_MODEL_NAMES, cpu_model_names},
    {REMOTE_PROC_CONNECT_COMPARE_CPU, compare_cpu},
    {REMOTE_PROC_CONNECT_BASELINE_CPU, baseline_cpu},
    {REMOTE_PROC_CONNECT_COMPARE_HYPERVISOR_CPU, compare_hypervisor_cpu},
    {REMOTE_PROC_CONNECT_BASELINE_HYPERVISOR_CPU, baseline_hypervisor_cpu},
};
VD_PROC_TABLE(vd_cpu_compare_procs, procs);
