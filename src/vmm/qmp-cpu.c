/*
 * qmp-cpu.c - see qmp-cpu.h. Replies have QEMU 7.2's members: a definition's
 * name, typename ("NAME-x86_64-cpu"), unavailable-features (the CPUID
 * features in QEMU's word and bit order that the model asks for and KVM here
 * lacks, then, as QEMU's XCR0 words follow, the feature of each XSAVE
 * component the model uses and KVM's XCR0 lacks, so "pku" may come twice;
 * QEMU also lists MSR-based features, which vireo-vmm does not model),
 * alias-of, static, migration-safe and deprecated; an expansion's model name
 * ("base" for static) and props (every CPUID feature name as a boolean, and
 * for full also the identity: vendor, family, model, stepping, level,
 * xlevel, model-id).
 */
#include "vmm/qmp-cpu.h"
#include "qmp/qmp-server.h"
#include "vmm/cli.h"
#include "vmm/kvm/cpuid.h"
#include "vmm/vm.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

struct defs_ctx {
    struct vm *vm;
    struct json_object *list;
};

static bool latest(const struct vm *vm)
{
    return vm->cfg->machine.kind == MACHINE_MICROVM;
}

/* The feature whose XSAVE component an XCR0 bit is (QEMU's x86_ext_save_areas), by name. */
static const char *component_feature(unsigned bit)
{
    switch (bit) {
    case 0:
        return cpu_feature_name(CPU_W_1_EDX, 0); /* x87: fpu */
    case 1:
        return cpu_feature_name(CPU_W_1_EDX, 25); /* sse */
    case 2:
        return cpu_feature_name(CPU_W_1_ECX, 28); /* avx */
    case 3:
    case 4:
        return cpu_feature_name(CPU_W_7_0_EBX, 14); /* mpx */
    case 5:
    case 6:
    case 7:
        return cpu_feature_name(CPU_W_7_0_EBX, 16); /* avx512f */
    case 9:
        return cpu_feature_name(CPU_W_7_0_ECX, 3); /* pku */
    case 17:
    case 18:
        return cpu_feature_name(CPU_W_7_0_EDX, 24); /* amx-tile */
    default:
        return NULL;
    }
}

/* The features of w by name in QEMU's word and bit order, then (as QEMU's XCR0 feature words
 * come next) the feature of each XSAVE component in xcr0, so a feature can appear twice. */
static struct json_object *feature_list(const cpu_words w, uint64_t xcr0)
{
    struct json_object *a = json_object_new_array();
    for (unsigned i = 0; i < CPU_W_COUNT; i++)
        for (unsigned b = 0; b < 32; b++) {
            const char *name = cpu_feature_name(i, b);
            if ((w[i] & (1u << b)) && name && !(i == CPU_W_KVM && b == 3))
                json_object_array_add(a, json_object_new_string(name));
        }
    for (unsigned b = 0; b < 64; b++) {
        const char *name = component_feature(b);
        if ((xcr0 & (1ull << b)) && name)
            json_object_array_add(a, json_object_new_string(name));
    }
    return a;
}

static void add_def(const char *name, const char *alias_of, const char *desc, void *opaque)
{
    (void)desc;
    struct defs_ctx *c = opaque;
    struct cpu_model m;
    if (!cpu_model_find(name, latest(c->vm), &m))
        return;
    struct cpu_features none = {0};
    cpu_words got, missing, want;
    cpuid_model_words(c->vm->supported_cpuid, &m, &none, got, missing);
    for (unsigned w = 0; w < CPU_W_COUNT; w++)
        want[w] = got[w] | missing[w];
    uint64_t xcr0 = cpuid_missing_xsave_components(c->vm->supported_cpuid, want);
    char tn[96];
    snprintf(tn, sizeof(tn), "%s-x86_64-cpu", name);
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string(name));
    json_object_object_add(o, "typename", json_object_new_string(tn));
    json_object_object_add(o, "unavailable-features", feature_list(missing, xcr0));
    if (alias_of)
        json_object_object_add(o, "alias-of", json_object_new_string(m.name));
    json_object_object_add(o, "static", json_object_new_boolean(0));
    json_object_object_add(o, "migration-safe", json_object_new_boolean(!m.passthrough));
    json_object_object_add(o, "deprecated", json_object_new_boolean(0));
    json_object_array_add(c->list, o);
}

static int query_defs(struct qmp_session *ss, struct json_object *args, struct json_object **ret,
                      struct qmp_error *err, void *opaque)
{
    (void)ss, (void)args, (void)err;
    struct defs_ctx c = {opaque, json_object_new_array()};
    cpu_models_each(add_def, &c);
    *ret = c.list;
    return 0;
}

static int query_expansion(struct qmp_session *ss, struct json_object *args,
                           struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss;
    struct vm *vm = opaque;
    struct json_object *type = NULL, *model = NULL, *name = NULL, *props = NULL;
    json_object_object_get_ex(args, "type", &type);
    json_object_object_get_ex(args, "model", &model);
    const char *t = json_object_get_string(type);
    bool full = strcmp(t, "full") == 0;
    if (!full && strcmp(t, "static") != 0)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Parameter 'type' does not accept value '%s'",
                             t);
    if (!json_object_object_get_ex(model, "name", &name) ||
        !json_object_is_type(name, json_type_string))
        return qmp_error_set(err, QMP_ERROR_GENERIC, "Parameter 'model.name' is missing");
    struct cpu_model m;
    if (!cpu_model_find(json_object_get_string(name), latest(vm), &m))
        return qmp_error_set(err, QMP_ERROR_GENERIC, "CPU model '%s' not found",
                             json_object_get_string(name));
    cpu_words w;
    memcpy(w, m.features, sizeof(w));
    if (m.passthrough) {
        struct cpu_features none = {0};
        cpuid_model_words(vm->supported_cpuid, &m, &none, w, NULL);
    }
    if (json_object_object_get_ex(model, "props", &props)) {
        json_object_object_foreach(props, key, val)
        {
            enum cpu_word word;
            uint32_t mask;
            if (!cpu_feature_lookup(key, &word, &mask))
                return qmp_error_set(err, QMP_ERROR_GENERIC, "Property '.%s' not found", key);
            if (!json_object_is_type(val, json_type_boolean))
                return qmp_error_set(err, QMP_ERROR_GENERIC,
                                     "Invalid parameter type for '%s', expected: boolean", key);
            w[word] = json_object_get_boolean(val) ? w[word] | mask : w[word] & ~mask;
        }
    }
    struct json_object *p = json_object_new_object();
    for (unsigned i = 0; i < CPU_W_COUNT; i++)
        for (unsigned b = 0; b < 32; b++) {
            const char *fname = cpu_feature_name(i, b);
            if (fname && !(i == CPU_W_KVM && b == 3))
                json_object_object_add(p, fname, json_object_new_boolean(!!(w[i] & (1u << b))));
        }
    if (full && !m.passthrough) {
        json_object_object_add(p, "family", json_object_new_int((int)m.family));
        json_object_object_add(p, "model", json_object_new_int((int)m.model));
        json_object_object_add(p, "stepping", json_object_new_int((int)m.stepping));
        json_object_object_add(p, "level", json_object_new_int64(m.level));
        json_object_object_add(p, "xlevel", json_object_new_int64(m.xlevel));
        json_object_object_add(p, "model-id", json_object_new_string(m.model_id));
    }
    struct json_object *mo = json_object_new_object();
    json_object_object_add(mo, "name",
                           json_object_new_string(full ? json_object_get_string(name) : "base"));
    json_object_object_add(mo, "props", p);
    *ret = json_object_new_object();
    json_object_object_add(*ret, "model", mo);
    return 0;
}

int qmp_cpu_register(struct qmp_server *server, struct vm *vm)
{
    static const struct qmp_arg expansion_args[] = {
        {"type", QMP_ARG_STRING, false},
        {"model", QMP_ARG_OBJECT, false},
        {NULL},
    };
    int r = qmp_server_register(server, "query-cpu-definitions", NULL, query_defs, vm);
    if (!r)
        r = qmp_server_register(server, "query-cpu-model-expansion", expansion_args,
                                query_expansion, vm);
    return r;
}
