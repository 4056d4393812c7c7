/*
 * cpu-host-model.c - libvirt's host-model CPU for vireo-vmm (see the header).
 */
#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "conf/xnode.h"
#include "daemon/cpu-host-model.h"
#include "util/error.h"
#include "util/mem.h"
#include "vmm/kvm/cpu-models.h"

int vd_cpu_hypervisor_words(cpu_words out, struct verr *e)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return verr_set(e, errno, "cannot open /dev/kvm: %s", strerror(errno));
    for (unsigned n = 128; n <= 4096; n *= 2) {
        struct kvm_cpuid2 *c = xcalloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
        c->nent = n;
        if (ioctl(fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
            for (int w = 0; w < CPU_W_COUNT; w++)
                out[w] = cpu_word_get(c, (enum cpu_word)w);
            free(c);
            close(fd);
            enum cpu_word w;
            uint32_t mask;
            if (cpu_feature_lookup("hypervisor", &w, &mask))
                out[w] |= mask;
            if (cpu_feature_lookup("x2apic", &w, &mask))
                out[w] |= mask;
            return 0;
        }
        int err = errno;
        free(c);
        if (err != E2BIG) {
            close(fd);
            return verr_set(e, err, "KVM_GET_SUPPORTED_CPUID: %s", strerror(err));
        }
    }
    close(fd);
    return verr_set(e, E2BIG, "KVM_GET_SUPPORTED_CPUID: the table is too large");
}

/* The words in the order libvirt's cpu_map lists their features (CPUID leaf order). The
 * KVM paravirtual word is not a CPU model feature in libvirt's sense: left out. */
static const enum cpu_word word_order[] = {
    CPU_W_1_EDX,   CPU_W_1_ECX,   CPU_W_6_EAX,    CPU_W_7_0_EBX,  CPU_W_7_0_ECX,  CPU_W_7_0_EDX,
    CPU_W_7_1_EAX, CPU_W_D_1_EAX, CPU_W_8001_EDX, CPU_W_8001_ECX, CPU_W_8007_EDX, CPU_W_8008_EBX,
};
#define NWORDS (sizeof(word_order) / sizeof(word_order[0]))

/* libvirt's spelling where its cpu_map differs from QEMU's name. */
static const char *libvirt_name(const char *qemu)
{
    static const char *const map[][2] = {
        {"pclmulqdq", "pclmuldq"},    {"ds-cpl", "ds_cpl"},
        {"tsc-adjust", "tsc_adjust"}, {"fxsr-opt", "fxsr_opt"},
        {"lahf-lm", "lahf_lm"},       {"cmp-legacy", "cmp_legacy"},
        {"nodeid-msr", "nodeid_msr"}, {"perfctr-core", "perfctr_core"},
        {"perfctr-nb", "perfctr_nb"},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(qemu, map[i][0]) == 0)
            return map[i][1];
    return qemu;
}

static unsigned popcount_words(const cpu_words w)
{
    unsigned n = 0;
    for (size_t i = 0; i < NWORDS; i++)
        n += (unsigned)__builtin_popcount(w[word_order[i]]);
    return n;
}

/* A model's vendor as libvirt's cpu_map gives it: AMD's and Hygon's say so in their
 * model-id, the generic ones (qemu64, kvm64) are family 15 with none, the rest (family 6)
 * are Intel's. "" for none. */
static const char *model_vendor(const struct cpu_model *m)
{
    const char *id = m->model_id ? m->model_id : "";
    if (strncmp(id, "AMD", 3) == 0)
        return "AMD";
    if (strncmp(id, "Hygon", 5) == 0)
        return "Hygon";
    return m->family == 6 ? "Intel" : "";
}

struct choice {
    const cpu_words *have;
    const char *vendor;
    struct vd_host_model *hm;
    unsigned listed; /* the chosen model's count of required plus disabled features */
};

/* Only named (bit-defined) features count: a bit no name describes cannot be written. */
static uint32_t named_mask(enum cpu_word w)
{
    uint32_t m = 0;
    for (unsigned b = 0; b < 32; b++)
        if (cpu_feature_name(w, b))
            m |= 1u << b;
    return m;
}

/* A concrete model (not an alias, not host or max) of the host's vendor or of none. */
static bool candidate(const char *name, const char *alias_of, const char *vendor,
                      struct cpu_model *m)
{
    if (alias_of || !cpu_model_find(name, false, m) || m->passthrough)
        return false;
    const char *v = model_vendor(m);
    return !*v || strcmp(v, vendor) == 0;
}

/* QEMU's unversioned name for a -v1 row, as libvirt names the model. */
static void model_name(char out[64], const char *name)
{
    size_t n = strlen(name);
    if (n > 3 && strcmp(name + n - 3, "-v1") == 0)
        n -= 3;
    snprintf(out, 64, "%.*s", (int)n, name);
}

static void consider(const char *name, const char *alias_of, const char *desc, void *opaque)
{
    (void)desc;
    struct choice *c = opaque;
    struct cpu_model m;
    if (!candidate(name, alias_of, c->vendor, &m))
        return;
    cpu_words req = {0}, dis = {0};
    for (size_t i = 0; i < NWORDS; i++) {
        enum cpu_word w = word_order[i];
        uint32_t named = named_mask(w);
        req[w] = (*c->have)[w] & ~m.features[w] & named;
        dis[w] = m.features[w] & ~(*c->have)[w] & named;
    }
    unsigned listed = popcount_words(req) + popcount_words(dis);
    if (c->hm->model[0] && listed > c->listed)
        return;
    model_name(c->hm->model, name);
    memcpy(c->hm->require, req, sizeof(req));
    memcpy(c->hm->disable, dis, sizeof(dis));
    c->listed = listed;
}

/* The host CPU's vendor as libvirt names it ("Intel", "AMD", "Hygon"), "" for others. */
static void host_vendor(char out[16])
{
    unsigned a = 0, b = 0, c = 0, d = 0;
    char id[13] = "";
    if (__get_cpuid(0, &a, &b, &c, &d)) {
        memcpy(id, &b, 4);
        memcpy(id + 4, &d, 4);
        memcpy(id + 8, &c, 4);
    }
    static const char *const vendors[][2] = {
        {"GenuineIntel", "Intel"}, {"AuthenticAMD", "AMD"}, {"HygonGenuine", "Hygon"}};
    out[0] = '\0';
    for (size_t i = 0; i < sizeof(vendors) / sizeof(vendors[0]); i++)
        if (strcmp(id, vendors[i][0]) == 0)
            snprintf(out, 16, "%s", vendors[i][1]);
}

int vd_cpu_check_vendor(const struct domain_def *def, struct verr *err)
{
    const struct xnode *v = def->cpu ? xnode_child(def->cpu, "vendor") : NULL;
    if (!v)
        return 0;
    char host[16];
    host_vendor(host);
    if (strcmp(host, xnode_text(v)) == 0)
        return 0;
    return verr_set(err, EINVAL,
                    "the CPU is incompatible with host CPU: Host CPU does not match required CPU "
                    "vendor %s",
                    xnode_text(v));
}

int vd_cpu_host_model(struct vd_host_model *hm, struct verr *err)
{
    memset(hm, 0, sizeof(*hm));
    cpu_words have;
    int r = vd_cpu_hypervisor_words(have, err);
    if (r < 0)
        return r;
    host_vendor(hm->vendor);
    struct choice ch = {.have = (const cpu_words *)&have, .vendor = hm->vendor, .hm = hm};
    cpu_models_each(consider, &ch);
    if (!hm->model[0])
        return verr_set(err, ENOENT, "no CPU model describes this host's CPU");
    enum cpu_word w;
    uint32_t mask;
    hm->invtsc = cpu_feature_lookup("invtsc", &w, &mask) && (hm->require[w] & mask);
    return 0;
}

/* Calls fn for each listed feature: the required ones, then the disabled ones. */
static void each_feature(const struct vd_host_model *hm, bool with_invtsc,
                         void (*fn)(const char *policy, const char *name, void *opaque),
                         void *opaque)
{
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < NWORDS; i++) {
            enum cpu_word w = word_order[i];
            uint32_t bits = pass ? hm->disable[w] : hm->require[w];
            for (unsigned bit = 0; bit < 32; bit++) {
                const char *name = cpu_feature_name(w, bit);
                if (!(bits & (1u << bit)) || !name || (!with_invtsc && strcmp(name, "invtsc") == 0))
                    continue;
                fn(pass ? "disable" : "require", libvirt_name(name), opaque);
            }
        }
}

struct xml_out {
    struct buf *b;
    const char *indent;
};

static void put_feature(const char *policy, const char *name, void *opaque)
{
    struct xml_out *o = opaque;
    buf_printf(o->b, "%s  <feature policy='%s' name='%s'/>\n", o->indent, policy, name);
}

void vd_cpu_host_model_xml(const struct vd_host_model *hm, struct buf *out, const char *indent)
{
    buf_printf(out, "%s<mode name='host-model' supported='yes'>\n", indent);
    buf_printf(out, "%s  <model fallback='forbid'>%s</model>\n", indent, hm->model);
    if (hm->vendor[0])
        buf_printf(out, "%s  <vendor>%s</vendor>\n", indent, hm->vendor);
    struct xml_out o = {out, indent};
    each_feature(hm, true, put_feature, &o);
    buf_printf(out, "%s</mode>\n", indent);
}

struct expand {
    struct xnode *cpu;       /* the new <cpu> */
    const struct xnode *old; /* the domain's own, for its <feature> rows */
};

/* A host-model feature the domain names itself keeps the domain's policy. */
static void add_feature(const char *policy, const char *name, void *opaque)
{
    struct expand *x = opaque;
    enum cpu_word w, w2;
    uint32_t mask, mask2;
    if (!cpu_feature_lookup(name, &w, &mask))
        return;
    for (size_t i = 0; i < x->old->nkids; i++) {
        const struct xnode *k = x->old->kids[i];
        const char *n = k->name && strcmp(k->name, "feature") == 0 ? xnode_attr(k, "name") : NULL;
        if (n && cpu_feature_lookup(n, &w2, &mask2) && w2 == w && (mask2 & mask))
            return;
    }
    struct xnode *f = xnode_new("feature");
    xnode_set_attr(f, "policy", policy);
    xnode_set_attr(f, "name", name);
    xnode_add(x->cpu, f);
}

static bool named(const struct xnode *k, const char *name)
{
    return k->name && strcmp(k->name, name) == 0;
}

int vd_cpu_expand_host_model(struct domain_def *def, struct verr *err)
{
    const char *mode = def->cpu ? xnode_attr(def->cpu, "mode") : NULL;
    if (!mode || strcmp(mode, "host-model") != 0)
        return 0;
    if (xnode_attr(def->cpu, "migratable")) /* refused as vmm-support.c refuses it */
        return verr_set(err, EINVAL,
                        "unsupported configuration: Attribute migratable is only allowed for "
                        "'host-passthrough' "
                        "/ 'maximum' CPU mode");
    struct vd_host_model hm;
    int r = vd_cpu_host_model(&hm, err);
    if (r < 0)
        return r;
    struct xnode *old = def->cpu, *cpu = xnode_new("cpu");
    xnode_set_attr(cpu, "mode", "custom");
    xnode_set_attr(cpu, "match", "exact");
    xnode_set_attr(cpu, "check", "full");
    struct xnode *model = xnode_new("model");
    xnode_set_attr(model, "fallback", "forbid");
    xnode_set_text(model, hm.model);
    xnode_add(cpu, model);
    if (hm.vendor[0]) {
        struct xnode *v = xnode_new("vendor");
        xnode_set_text(v, hm.vendor);
        xnode_add(cpu, v);
    }
    /* libvirt's element order: model, vendor, topology, cache, maxphysaddr, features, numa */
    static const char *const before[] = {"topology", "cache", "maxphysaddr"};
    for (size_t j = 0; j < sizeof(before) / sizeof(before[0]); j++)
        for (size_t i = 0; i < old->nkids; i++)
            if (named(old->kids[i], before[j]))
                xnode_add(cpu, xnode_copy(old->kids[i]));
    for (size_t i = 0; i < old->nkids; i++)
        if (named(old->kids[i], "feature"))
            xnode_add(cpu, xnode_copy(old->kids[i]));
    struct expand x = {cpu, old};
    each_feature(&hm, false, add_feature, &x);
    for (size_t i = 0; i < old->nkids; i++) {
        const struct xnode *k = old->kids[i];
        if (k->name && !named(k, "feature") && !named(k, "model") && !named(k, "vendor") &&
            !named(k, "topology") && !named(k, "cache") && !named(k, "maxphysaddr"))
            xnode_add(cpu, xnode_copy(k));
    }
    xnode_free(old);
    def->cpu = cpu;
    return 0;
}

struct model_list {
    char **names;
    size_t n;
};

/* The names libvirt lists: the unversioned ones and the aliases (Haswell-noTSX), not the
 * -vN rows, nor host and max. */
static void collect_name(const char *name, const char *alias_of, const char *desc, void *opaque)
{
    (void)alias_of;
    (void)desc;
    struct model_list *l = opaque;
    size_t n = strlen(name);
    size_t d = n;
    while (d > 0 && name[d - 1] >= '0' && name[d - 1] <= '9')
        d--;
    if ((d < n && d >= 2 && name[d - 1] == 'v' && name[d - 2] == '-') ||
        strcmp(name, "host") == 0 || strcmp(name, "max") == 0)
        return;
    l->names = xrealloc(l->names, (l->n + 1) * sizeof(*l->names));
    l->names[l->n++] = xstrdup(name);
}

static int by_name_desc(const void *a, const void *b)
{
    return strcmp(*(char *const *)b, *(char *const *)a);
}

size_t vd_cpu_model_names(char ***names)
{
    struct model_list l = {0};
    cpu_models_each(collect_name, &l);
    *names = l.names;
    return l.n;
}

void vd_cpu_models_xml(struct buf *out, const char *indent)
{
    cpu_words have;
    struct verr e = {0};
    bool known = vd_cpu_hypervisor_words(have, &e) == 0;
    struct model_list l = {0};
    l.n = vd_cpu_model_names(&l.names);
    qsort(l.names, l.n, sizeof(*l.names), by_name_desc); /* libvirt's order */
    for (size_t i = 0; i < l.n; i++) {
        struct cpu_model m;
        if (!cpu_model_find(l.names[i], false, &m))
            continue;
        bool usable = known;
        for (size_t k = 0; usable && k < NWORDS; k++) {
            enum cpu_word w = word_order[k];
            usable = !(m.features[w] & ~have[w] & named_mask(w));
        }
        const char *v = model_vendor(&m);
        buf_printf(out, "%s<model usable='%s' vendor='%s'>%s</model>\n", indent,
                   usable ? "yes" : "no", *v ? v : "unknown", l.names[i]);
        free(l.names[i]);
    }
    free(l.names);
}

void vd_cpu_host_words(cpu_words out)
{
    for (int w = 0; w < CPU_W_COUNT; w++) {
        const struct cpu_word_info *i = cpu_word_info((enum cpu_word)w);
        unsigned r[4] = {0};
        out[w] = 0;
        if (w == CPU_W_KVM || !__get_cpuid_count(i->leaf, i->sub, &r[0], &r[1], &r[2], &r[3]))
            continue;
        out[w] = r[i->reg];
    }
}

struct host_choice {
    const cpu_words *have;
    const char *vendor;
    char model[64];
    unsigned bits;
};

/* The host CPU's model: of the models its CPU has every feature of, the one with the most
 * (the later row on a tie). */
static void consider_host(const char *name, const char *alias_of, const char *desc, void *opaque)
{
    (void)desc;
    struct host_choice *c = opaque;
    struct cpu_model m;
    if (!candidate(name, alias_of, c->vendor, &m))
        return;
    unsigned bits = 0;
    for (size_t i = 0; i < NWORDS; i++) {
        enum cpu_word w = word_order[i];
        if (m.features[w] & ~(*c->have)[w] & named_mask(w))
            return;
        bits += (unsigned)__builtin_popcount(m.features[w] & named_mask(w));
    }
    if (c->model[0] && bits < c->bits)
        return;
    model_name(c->model, name);
    c->bits = bits;
}

void vd_cpu_host_cpu_xml(struct buf *model, struct buf *features, const char *indent)
{
    cpu_words have;
    vd_cpu_host_words(have);
    char vendor[16];
    host_vendor(vendor);
    struct host_choice c = {.have = (const cpu_words *)&have, .vendor = vendor};
    cpu_models_each(consider_host, &c);
    if (!c.model[0])
        return;
    buf_printf(model, "%s<model>%s</model>\n", indent, c.model);
    struct cpu_model m;
    cpu_model_find(c.model, false, &m);
    for (size_t i = 0; i < NWORDS; i++) {
        enum cpu_word w = word_order[i];
        for (unsigned bit = 0; bit < 32; bit++) {
            const char *name = cpu_feature_name(w, bit);
            if (name && (have[w] & ~m.features[w] & (1u << bit)))
                buf_printf(features, "%s<feature name='%s'/>\n", indent, libvirt_name(name));
        }
    }
}
