/*
 * cpu-models.c - see cpu-models.h. The rows are facts read from QEMU 7.2's
 * x86 model definitions (target/i386/cpu.c): each model's CPUID level and
 * xlevel, family/model/stepping, model-id and feature bits, written here as
 * QEMU's feature names; a version row names the model it changes and what
 * it adds, removes and renames. Checked against QEMU's guest view by
 * tests/integration/vmm/test-cpu-model.py. The vendor is not in the table:
 * under KVM QEMU shows every named model with the host's vendor, and so
 * does vireo-vmm (cpuid.c).
 */
#include "vmm/kvm/cpu-models.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* QEMU's PPRO_FEATURES plus what every 64-bit model adds to leaf 1 EDX. */
#define PPRO "fpu de pse tsc msr mce cx8 pge cmov pat fxsr mmx sse sse2 pae sep apic "
#define BASE64 PPRO "mtrr clflush mca pse36 "
#define INTEL_EDX BASE64 "vme "

struct model_row {
    const char *name;   /* versioned */
    const char *parent; /* a version: the row it changes; NULL for v1 */
    const char *alias;  /* the name QEMU also gives it (Haswell-noTSX), or NULL */
    uint32_t level, xlevel;
    unsigned family, model, stepping;
    const char *model_id;
    const char *add, *remove; /* feature names */
};

static const struct model_row rows[] = {
    {"qemu64-v1", NULL, NULL, 0xd, 0x8000000a, 15, 107, 1, "QEMU Virtual CPU version 2.5+",
     BASE64 "pni cx16 lm syscall nx lahf-lm svm", NULL},
    {"kvm64-v1", NULL, NULL, 0xd, 0x80000008, 15, 6, 1, "Common KVM processor",
     INTEL_EDX "pni cx16 lm syscall nx", NULL},
    {"Nehalem-v1", NULL, NULL, 11, 0x80000008, 6, 26, 3,
     "Intel Core i7 9xx (Nehalem Class Core i7)",
     INTEL_EDX "popcnt sse4.2 sse4.1 cx16 ssse3 pni lm syscall nx lahf-lm", NULL},
    {"Nehalem-v2", "Nehalem-v1", "Nehalem-IBRS", 0, 0, 0, 0, 0,
     "Intel Core i7 9xx (Nehalem Core i7, IBRS update)", "spec-ctrl", NULL},
    {"Westmere-v1", NULL, NULL, 11, 0x80000008, 6, 44, 1,
     "Westmere E56xx/L56xx/X56xx (Nehalem-C)",
     INTEL_EDX "aes popcnt sse4.2 sse4.1 cx16 ssse3 pclmulqdq pni lm syscall nx lahf-lm arat",
     NULL},
    {"Westmere-v2", "Westmere-v1", "Westmere-IBRS", 0, 0, 0, 0, 0,
     "Westmere E56xx/L56xx/X56xx (IBRS update)", "spec-ctrl", NULL},
    {"SandyBridge-v1", NULL, NULL, 0xd, 0x80000008, 6, 42, 1, "Intel Xeon E312xx (Sandy Bridge)",
     INTEL_EDX "avx xsave aes tsc-deadline popcnt x2apic sse4.2 sse4.1 cx16 ssse3 pclmulqdq "
               "pni lm rdtscp nx syscall lahf-lm xsaveopt arat",
     NULL},
    {"SandyBridge-v2", "SandyBridge-v1", "SandyBridge-IBRS", 0, 0, 0, 0, 0,
     "Intel Xeon E312xx (Sandy Bridge, IBRS update)", "spec-ctrl", NULL},
    {"IvyBridge-v1", NULL, NULL, 0xd, 0x80000008, 6, 58, 9, "Intel Xeon E3-12xx v2 (Ivy Bridge)",
     INTEL_EDX "avx xsave aes tsc-deadline popcnt x2apic sse4.2 sse4.1 cx16 ssse3 pclmulqdq "
               "pni f16c rdrand fsgsbase smep erms lm rdtscp nx syscall lahf-lm xsaveopt arat",
     NULL},
    {"IvyBridge-v2", "IvyBridge-v1", "IvyBridge-IBRS", 0, 0, 0, 0, 0,
     "Intel Xeon E3-12xx v2 (Ivy Bridge, IBRS)", "spec-ctrl", NULL},
};
#define NR_ROWS (sizeof(rows) / sizeof(rows[0]))

static const struct model_row *row_by_name(const char *name)
{
    for (size_t i = 0; i < NR_ROWS; i++)
        if (strcmp(rows[i].name, name) == 0 || (rows[i].alias && strcmp(rows[i].alias, name) == 0))
            return &rows[i];
    return NULL;
}

/* Applies a row on top of its parent's result. */
static void apply_row(const struct model_row *r, struct cpu_model *m)
{
    if (r->parent)
        apply_row(row_by_name(r->parent), m);
    if (r->level) {
        m->level = r->level;
        m->xlevel = r->xlevel;
        m->family = r->family;
        m->model = r->model;
        m->stepping = r->stepping;
    }
    if (r->model_id)
        m->model_id = r->model_id;
    cpu_words add, del;
    struct verr err = {0};
    /* The table's names are checked by the unit test; a bad one would read as no feature. */
    if (cpu_words_from_names(add, r->add ? r->add : "", &err) < 0)
        memset(add, 0, sizeof(add));
    if (cpu_words_from_names(del, r->remove ? r->remove : "", &err) < 0)
        memset(del, 0, sizeof(del));
    for (unsigned w = 0; w < CPU_W_COUNT; w++)
        m->features[w] = (m->features[w] | add[w]) & ~del[w];
}

int cpu_models_validate(struct verr *err)
{
    cpu_words w;
    for (size_t i = 0; i < NR_ROWS; i++) {
        if ((rows[i].parent && !row_by_name(rows[i].parent)) ||
            cpu_words_from_names(w, rows[i].add ? rows[i].add : "", err) < 0 ||
            cpu_words_from_names(w, rows[i].remove ? rows[i].remove : "", err) < 0)
            return verr_prefix(err, "CPU model %s", rows[i].name);
    }
    return 0;
}

bool cpu_model_find(const char *name, bool latest, struct cpu_model *out)
{
    memset(out, 0, sizeof(*out));
    if (strcmp(name, "host") == 0 || strcmp(name, "max") == 0) {
        out->name = strcmp(name, "host") == 0 ? "host" : "max";
        out->passthrough = true;
        return true;
    }
    const struct model_row *r = row_by_name(name);
    if (!r) {
        /* The unversioned name: v1, or the newest version where the machine says so. */
        size_t n = strlen(name);
        unsigned best = 0;
        for (size_t i = 0; i < NR_ROWS; i++) {
            const char *v = rows[i].name + n;
            if (strncmp(rows[i].name, name, n) != 0 || strncmp(v, "-v", 2) != 0)
                continue;
            unsigned ver = (unsigned)strtoul(v + 2, NULL, 10);
            if (ver && (latest ? ver > best : ver == 1)) {
                best = ver;
                r = &rows[i];
            }
        }
    }
    if (!r)
        return false;
    out->name = r->name;
    apply_row(r, out);
    return true;
}

void cpu_models_each(void (*fn)(const char *name, const char *alias_of, const char *desc,
                                void *opaque),
                     void *opaque)
{
    for (size_t i = 0; i < NR_ROWS; i++) {
        struct cpu_model m;
        cpu_model_find(rows[i].name, false, &m);
        if (!rows[i].parent) {
            char base[64];
            snprintf(base, sizeof(base), "%.*s", (int)(strlen(rows[i].name) - 3), rows[i].name);
            fn(base, rows[i].name, NULL, opaque);
        }
        if (rows[i].alias)
            fn(rows[i].alias, rows[i].name, NULL, opaque);
        fn(rows[i].name, NULL, m.model_id, opaque);
    }
    fn("host", NULL, "processor with all supported host features", opaque);
    fn("max", NULL, "Enables all features supported by the accelerator in the current host",
       opaque);
}

/* ---- -cpu help, in QEMU's layout ---- */

struct help_item {
    char name[64];
    char desc[96];
};

struct help_list {
    struct help_item items[128];
    size_t n;
};

static void help_add(const char *name, const char *alias_of, const char *desc, void *opaque)
{
    struct help_list *l = opaque;
    if (l->n == sizeof(l->items) / sizeof(l->items[0]))
        return;
    struct help_item *it = &l->items[l->n++];
    snprintf(it->name, sizeof(it->name), "%s", name);
    if (alias_of && strncmp(alias_of, name, strlen(name)) == 0 &&
        strcmp(alias_of + strlen(name), "-v1") == 0)
        snprintf(it->desc, sizeof(it->desc), "(alias configured by machine type)");
    else if (alias_of)
        snprintf(it->desc, sizeof(it->desc), "(alias of %s)", alias_of);
    else if (strcmp(name, "host") == 0)
        snprintf(it->desc, sizeof(it->desc), "%s ", desc); /* QEMU's trailing space */
    else
        snprintf(it->desc, sizeof(it->desc), "%s", desc ? desc : "");
}

static int cmp_item(const void *a, const void *b)
{
    return strcmp(((const struct help_item *)a)->name, ((const struct help_item *)b)->name);
}

struct flag_line {
    FILE *f;
    size_t len;
};

static void flag_out(const char *name, void *opaque)
{
    struct flag_line *fl = opaque;
    if (fl->len + strlen(name) + 1 >= 75) {
        fputc('\n', fl->f);
        fl->len = 0;
    }
    fprintf(fl->f, "%s%s", fl->len == 0 ? "  " : " ", name);
    fl->len += strlen(name) + 1;
}

char *cpu_models_help(void)
{
    struct help_list *l = calloc(1, sizeof(*l));
    char *out = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&out, &size);
    if (!l || !f)
        abort();
    cpu_models_each(help_add, l);
    qsort(l->items, l->n, sizeof(l->items[0]), cmp_item);
    fputs("Available CPUs:\n", f);
    for (size_t i = 0; i < l->n; i++) {
        /* host and max come last in QEMU's list, after the sorted models */
        if (strcmp(l->items[i].name, "host") != 0 && strcmp(l->items[i].name, "max") != 0)
            fprintf(f, "x86 %-20s  %s\n", l->items[i].name, l->items[i].desc);
    }
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->items[i].name, "host") == 0 || strcmp(l->items[i].name, "max") == 0)
            fprintf(f, "x86 %-20s  %s\n", l->items[i].name, l->items[i].desc);
    fputs("\nRecognized CPUID flags:\n", f);
    struct flag_line fl = {f, 0};
    cpu_feature_names_each(flag_out, &fl);
    fputc('\n', f);
    fclose(f);
    free(l);
    return out;
}
