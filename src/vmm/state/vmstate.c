/*
 * vmstate.c - the whole VM to and from a state stream (see vmstate.h).
 *
 * Section order: CONF, VCPU x nr_vcpus, KVM, DEV x nr_devices, RAM, RSUM,
 * END; a live migration's (version 2): CONF, (RAM, RSUM) x passes, VCPU x
 * nr_vcpus, KVM, DEV x nr_devices, RAM (the last delta), RSUM, END. A CONF section is records
 * naming the configuration ("memory", "vcpus", "topology", "cpu-model", "pit", "devices",
 * "device.N" as "TYPE id=ID addr=SLOT.FN"; with CPU hot-plug "maxcpus" and "vcpu.N", see
 * vcpu-hotplug.h); the loader compares each with its own VM and names the first that
 * differs. A DEV section is records "type", "id" and "state" (the device's own records,
 * nested); its section version is the type's state_version.
 */
#include "vmm/state/vmstate.h"
#include "util/log.h"
#include "util/mem.h"
#include "vmm/cli.h"
#include "vmm/dev/device.h"
#include "vmm/kvm/cpuid.h"
#include "vmm/kvm/vcpu.h"
#include "vmm/state/cpu.h"
#include "vmm/state/crc32c.h"
#include "vmm/state/stream.h"
#include "vmm/vcpu-hotplug.h"
#include "vmm/vm.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CONF_VERSION 1
#define VCPU_VERSION 1
#define KVM_VERSION  1

/* ---- device state writer/reader over records ---- */

static int rec_put(struct dev_state_writer *w, const char *name, const void *data, size_t len,
                   struct verr *err)
{
    (void)err;
    state_rec_put(w->opaque, name, data, len);
    return 0;
}

struct dev_reader_ctx {
    struct state_recs recs;
};

static int rec_get(struct dev_state_reader *r, const char *name, void *data, size_t len,
                   struct verr *err)
{
    struct dev_reader_ctx *c = r->opaque;
    const struct state_rec *rec = state_recs_find(&c->recs, name);
    if (!rec)
        return verr_set(err, ENOENT, "field '%s' is missing", name);
    if (rec->len != len)
        return verr_set(err, EINVAL, "field '%s' has %u bytes, expected %zu", name, rec->len, len);
    memcpy(data, rec->data, len);
    return 0;
}

static int rec_get_var(struct dev_state_reader *r, const char *name, const uint8_t **data,
                       size_t *len, struct verr *err)
{
    struct dev_reader_ctx *c = r->opaque;
    const struct state_rec *rec = state_recs_find(&c->recs, name);
    if (!rec)
        return verr_set(err, ENOENT, "field '%s' is missing", name);
    *data = rec->data;
    *len = rec->len;
    return 0;
}

/* ---- configuration fingerprint ---- */

static const char *cpu_model_name(const struct cpu_model *m)
{
    /* The pre-table spellings, so saved states stay comparable: host and max were one model,
     * and qemu64 was the only named one. */
    if (m->passthrough)
        return "host";
    return strcmp(m->name, "qemu64-v1") == 0 ? "qemu64" : m->name;
}

static char *device_desc(const struct device *d)
{
    char *s = NULL;
    char addr[16] = "-";
    if (d->pci)
        snprintf(addr, sizeof(addr), "%02x.%x", d->pci->slot, d->pci->fn);
    if (asprintf(&s, "%s id=%s addr=%s", d->type->name, d->cfg->id ? d->cfg->id : "-", addr) < 0)
        abort();
    return s;
}

static void conf_build(struct vm *vm, struct buf *p)
{
    char s[96];
    state_rec_put_u64(p, "memory", vm->mem.size);
    state_rec_put_u64(p, "vcpus", vm->nr_vcpus);
    snprintf(s, sizeof(s), "sockets=%u cores=%u threads=%u", vm->topo.sockets, vm->topo.cores,
             vm->topo.threads);
    state_rec_put_str(p, "topology", s);
    state_rec_put_str(p, "cpu-model", cpu_model_name(&vm->cpu_model));
    state_rec_put_u64(p, "pit", vm->kvm.has_pit);
    state_rec_put_u64(p, "devices", vm->nr_devices);
    for (unsigned i = 0; i < vm->nr_devices; i++) {
        char name[24], *d = device_desc(vm->devices[i]);
        snprintf(name, sizeof(name), "device.%u", i);
        state_rec_put_str(p, name, d);
        free(d);
    }
    vcpu_hotplug_conf_save(vm, p); /* maxcpus and the plugged vCPUs' names */
}

static int conf_u64(const struct state_recs *rs, const char *name, const char *what, uint64_t mine,
                    uint64_t unit, struct verr *err)
{
    uint64_t v;
    int r = state_recs_get_u64(rs, name, &v, err);
    if (r < 0)
        return r;
    if (v != mine)
        return verr_set(err, EINVAL,
                        "VM state section CONF: field '%s' differs: the saved VM has %s %" PRIu64
                        "%s, this VM %" PRIu64 "%s",
                        name, what, v / unit, unit > 1 ? " MiB" : "", mine / unit,
                        unit > 1 ? " MiB" : "");
    return 0;
}

static int conf_str(const struct state_recs *rs, const char *name, const char *mine,
                    struct verr *err)
{
    char v[256];
    int r = state_recs_get_str(rs, name, v, sizeof(v), err);
    if (r < 0)
        return r;
    if (strcmp(v, mine))
        return verr_set(err, EINVAL,
                        "VM state section CONF: field '%s' differs: the saved VM has '%s', this "
                        "VM '%s'",
                        name, v, mine);
    return 0;
}

static int conf_check(struct vm *vm, const struct state_section *s, struct verr *err)
{
    if (s->kind != STATE_SEC_CONF)
        return verr_set(err, EINVAL, "VM state: section 0 should be CONF (the configuration)");
    if (s->version > CONF_VERSION)
        return verr_set(err, EINVAL,
                        "VM state section CONF: version %u is newer than this "
                        "vireo-vmm's %u",
                        s->version, CONF_VERSION);
    struct state_recs rs;
    int r = state_recs_parse(&rs, s->payload, s->len, "section CONF", err);
    if (r < 0)
        return r;
    char mine[96];
    snprintf(mine, sizeof(mine), "sockets=%u cores=%u threads=%u", vm->topo.sockets, vm->topo.cores,
             vm->topo.threads);
    if ((r = conf_u64(&rs, "memory", "memory", vm->mem.size, 1u << 20, err)) < 0 ||
        (r = vcpu_hotplug_conf_load(vm, &rs, err)) < 0 || /* may plug vCPUs first */
        (r = conf_u64(&rs, "vcpus", "vCPUs", vm->nr_vcpus, 1, err)) < 0 ||
        (r = conf_str(&rs, "topology", mine, err)) < 0 ||
        (r = conf_str(&rs, "cpu-model", cpu_model_name(&vm->cpu_model), err)) < 0 ||
        (r = conf_u64(&rs, "pit", "PIT", vm->kvm.has_pit, 1, err)) < 0 ||
        (r = conf_u64(&rs, "devices", "devices:", vm->nr_devices, 1, err)) < 0)
        goto out;
    for (unsigned i = 0; i < vm->nr_devices; i++) {
        char name[24], *d = device_desc(vm->devices[i]);
        snprintf(name, sizeof(name), "device.%u", i);
        r = conf_str(&rs, name, d, err);
        free(d);
        if (r < 0)
            goto out;
    }
out:
    state_recs_free(&rs);
    return r;
}

/* ---- capture (save, main thread) ---- */

int vm_state_check_migratable(struct vm *vm, struct verr *err)
{
    /* QEMU's blocker: an invariant TSC shown to the guest (-cpu host,migratable=off or +invtsc)
     * would not stay invariant across hosts. */
    cpu_words shown;
    cpuid_model_words(vm->supported_cpuid, &vm->cpu_model, &vm->cfg->cpu_features, shown, NULL);
    if (shown[CPU_W_8007_EDX] & (1u << 8))
        return verr_set(err, ENOTSUP, "State blocked by non-migratable CPU device (invtsc flag)");
    for (unsigned i = 0; i < vm->nr_devices; i++) {
        const struct device *d = vm->devices[i];
        if (!d->type->save)
            return verr_set(err, ENOTSUP, "State blocked by non-migratable device '%s'",
                            d->cfg->id ? d->cfg->id : d->type->name);
    }
    return 0;
}

/* A framed section appended to out: what state_write_section would write. */
static void frame(struct vm_state_capture *cap, uint32_t kind, uint32_t version,
                  const struct buf *payload)
{
    uint8_t h[STATE_SECTION_HDR], t[4];
    state_put_le(h, kind, 4);
    state_put_le(h + 4, version, 4);
    state_put_le(h + 8, payload->len, 8);
    state_put_le(t, crc32c_update(crc32c_update(0, h, sizeof(h)), payload->data, payload->len), 4);
    buf_append(&cap->sections, h, sizeof(h));
    if (payload->len)
        buf_append(&cap->sections, payload->data, payload->len);
    buf_append(&cap->sections, t, 4);
    cap->nr_sections++;
}

void vm_state_resume_devices(struct vm *vm)
{
    for (unsigned i = 0; i < vm->nr_devices; i++)
        if (vm->devices[i]->type->resume)
            vm->devices[i]->type->resume(vm->devices[i]);
}

int vm_state_write_conf(struct vm *vm, struct state_writer *w, struct verr *err)
{
    struct buf p = BUF_INIT;
    conf_build(vm, &p);
    int r = state_write_section(w, STATE_SEC_CONF, CONF_VERSION, p.data, p.len, err);
    buf_free(&p);
    return r;
}

int vm_state_write_captured(struct state_writer *w, const struct vm_state_capture *cap,
                            struct verr *err)
{
    /* Already framed: the bytes go in as they are, in the stream checksum. */
    w->crc = crc32c_update(w->crc, cap->sections.data, cap->sections.len);
    w->nr_sections += cap->nr_sections;
    return state_write_data(w, cap->sections.data, cap->sections.len, err);
}

int vm_state_capture(struct vm *vm, struct vm_state_capture *cap, struct verr *err)
{
    return vm_state_capture_ex(vm, cap, true, err);
}

int vm_state_capture_ex(struct vm *vm, struct vm_state_capture *cap, bool with_conf,
                        struct verr *err)
{
    memset(cap, 0, sizeof(*cap));
    buf_init(&cap->sections);
    int r = vm_state_check_migratable(vm, err);
    if (r < 0)
        return r;
    struct buf p = BUF_INIT;
    if (with_conf) {
        conf_build(vm, &p);
        frame(cap, STATE_SEC_CONF, CONF_VERSION, &p);
    }
    /* Devices first: quiescing them completes what is in flight, which may raise
     * interrupts; the KVM and vCPU state taken after that holds them. The device sections
     * still go after the vCPUs in the stream. */
    struct buf devs = BUF_INIT;
    struct vm_state_capture devcap = {BUF_INIT, 0};
    for (unsigned i = 0; i < vm->nr_devices; i++) {
        struct device *d = vm->devices[i];
        struct buf st = BUF_INIT;
        struct dev_state_writer w = {rec_put, &st};
        r = d->type->save(d, &w, err);
        if (r < 0) {
            buf_free(&st);
            verr_prefix(err, "saving device '%s'", d->cfg->id ? d->cfg->id : d->type->name);
            goto fail;
        }
        buf_reset(&p);
        state_rec_put_str(&p, "type", d->type->name);
        state_rec_put_str(&p, "id", d->cfg->id ? d->cfg->id : "");
        state_rec_put(&p, "state", st.data, st.len);
        buf_free(&st);
        frame(&devcap, STATE_SEC_DEV, d->type->state_version, &p);
    }
    uint32_t *msrs = NULL;
    unsigned nr_msrs = 0;
    if ((r = state_msr_list(vm, &msrs, &nr_msrs, err)) < 0)
        goto fail;
    for (unsigned i = 0; i < vm->nr_vcpus; i++) {
        buf_reset(&p);
        r = state_vcpu_save(&vm->vcpus[i], msrs, nr_msrs, &p, err);
        if (r < 0) {
            free(msrs);
            goto fail;
        }
        frame(cap, STATE_SEC_VCPU, VCPU_VERSION, &p);
    }
    free(msrs);
    buf_reset(&p);
    if ((r = state_kvm_save(vm, &p, err)) < 0)
        goto fail;
    vcpu_hotplug_state_save(vm, &p); /* the CPU hot-plug register block, with the irqchips */
    /* Whether the VM ran when it was stopped for this capture (QEMU's global state): a
     * destination without -S runs the guest only if the source did. */
    bool parked = vm->status == VM_STATUS_FINISH_MIGRATE || vm->status == VM_STATUS_SAVE_VM;
    state_rec_put_u64(&p, "running",
                      vm->status == VM_STATUS_RUNNING ||
                          (parked && vm->status_before_park == VM_STATUS_RUNNING));
    frame(cap, STATE_SEC_KVM, KVM_VERSION, &p);
    buf_append(&cap->sections, devcap.sections.data, devcap.sections.len);
    cap->nr_sections += devcap.nr_sections;
    buf_free(&devcap.sections);
    buf_free(&devs);
    buf_free(&p);
    return 0;
fail:
    buf_free(&devcap.sections);
    buf_free(&devs);
    buf_free(&p);
    vm_state_capture_free(cap);
    vm_state_resume_devices(vm);
    return r;
}

int vm_state_drain_devices(struct vm *vm, struct verr *err)
{
    int r = vm_state_check_migratable(vm, err);
    for (unsigned i = 0; r == 0 && i < vm->nr_devices; i++) {
        struct device *d = vm->devices[i];
        struct buf st = BUF_INIT;
        struct dev_state_writer w = {rec_put, &st, true};
        r = d->type->save(d, &w, err);
        buf_free(&st);
        if (r < 0) {
            verr_prefix(err, "quiescing device '%s'", d->cfg->id ? d->cfg->id : d->type->name);
            vm_state_resume_devices(vm);
        }
    }
    return r;
}

void vm_state_capture_free(struct vm_state_capture *cap)
{
    buf_free(&cap->sections);
}

int vm_state_write(struct vm *vm, const struct vm_state_capture *cap, int fd,
                   const volatile bool *cancel, bool sync, struct state_ram_stats *st,
                   struct verr *err)
{
    struct state_writer w;
    int r = state_writer_init(&w, fd, cancel, err);
    if (r == 0)
        r = vm_state_write_captured(&w, cap, err);
    if (r == 0)
        r = state_ram_save_pass(vm, &w, NULL, st, err);
    if (r == 0)
        r = state_write_end(&w, sync, err);
    state_writer_free(&w);
    return r;
}

/* ---- load ---- */

struct held {
    struct state_section *s;
    unsigned n, cap;
};

static void held_free(struct held *h)
{
    for (unsigned i = 0; i < h->n; i++)
        state_section_free(&h->s[i]);
    free(h->s);
}

static int apply_device(struct device *d, const struct state_section *s, struct verr *err)
{
    char what[160];
    snprintf(what, sizeof(what), "section %u (DEV '%s', %s)", s->index,
             d->cfg->id ? d->cfg->id : "", d->type->name);
    struct state_recs rs;
    int r = state_recs_parse(&rs, s->payload, s->len, what, err);
    if (r < 0)
        return r;
    const struct state_rec *st = state_recs_find(&rs, "state");
    if (!st) {
        state_recs_free(&rs);
        return verr_set(err, EINVAL, "VM state %s: field 'state' is missing", what);
    }
    struct dev_reader_ctx ctx;
    r = state_recs_parse(&ctx.recs, st->data, st->len, what, err);
    state_recs_free(&rs);
    if (r < 0)
        return r;
    struct dev_state_reader rd = {rec_get, s->version, &ctx, rec_get_var};
    r = d->type->load(d, &rd, err);
    state_recs_free(&ctx.recs);
    if (r < 0)
        return verr_prefix(err, "VM state %s", what);
    return 0;
}

/* A DEV section's type and id against device d (before anything is applied). */
static int check_device(struct device *d, const struct state_section *s, struct verr *err)
{
    char what[64];
    snprintf(what, sizeof(what), "section %u (DEV)", s->index);
    if (s->kind != STATE_SEC_DEV)
        return verr_set(err, EINVAL, "VM state: %s should be the device '%s' (%s)", what,
                        d->cfg->id ? d->cfg->id : "", d->type->name);
    struct state_recs rs;
    int r = state_recs_parse(&rs, s->payload, s->len, what, err);
    if (r < 0)
        return r;
    char type[64], id[128];
    if ((r = state_recs_get_str(&rs, "type", type, sizeof(type), err)) == 0 &&
        (r = state_recs_get_str(&rs, "id", id, sizeof(id), err)) == 0) {
        if (strcmp(type, d->type->name) || strcmp(id, d->cfg->id ? d->cfg->id : ""))
            r = verr_set(err, EINVAL,
                         "VM state %s: field 'type' is device '%s' (%s), this VM has '%s' (%s) "
                         "there",
                         what, id, type, d->cfg->id ? d->cfg->id : "", d->type->name);
        else if (!d->type->load)
            r = verr_set(err, ENOTSUP, "VM state %s: device '%s' cannot load state", what,
                         d->type->name);
        else if (s->version > d->type->state_version || s->version == 0)
            r = verr_set(err, EINVAL,
                         "VM state %s: version %u of %s state is not supported (this vireo-vmm "
                         "reads up to %u)",
                         what, s->version, d->type->name, d->type->state_version);
    }
    state_recs_free(&rs);
    return r;
}

/* Checks held section i (1-based after CONF: VCPUs, KVM, DEVs) at its place. */
static int check_held(struct vm *vm, unsigned i, const struct state_section *s, struct verr *err)
{
    char k[5];
    if (i <= vm->nr_vcpus) {
        if (s->kind != STATE_SEC_VCPU)
            return verr_set(err, EINVAL, "VM state: section %u is %s, expected VCPU %u", s->index,
                            state_kind_name(s->kind, k), i - 1);
        if (s->version > VCPU_VERSION)
            return verr_set(err, EINVAL,
                            "VM state section %u (VCPU): version %u is newer than "
                            "this vireo-vmm's %u",
                            s->index, s->version, VCPU_VERSION);
        return 0;
    }
    if (i == vm->nr_vcpus + 1) {
        if (s->kind != STATE_SEC_KVM)
            return verr_set(err, EINVAL, "VM state: section %u is %s, expected KVM", s->index,
                            state_kind_name(s->kind, k));
        if (s->version > KVM_VERSION)
            return verr_set(err, EINVAL,
                            "VM state section %u (KVM): version %u is newer than "
                            "this vireo-vmm's %u",
                            s->index, s->version, KVM_VERSION);
        return 0;
    }
    return check_device(vm->devices[i - vm->nr_vcpus - 2], s, err);
}

int vm_state_load(struct vm *vm, struct state_reader *r, bool fresh, bool allow_map,
                  struct state_ram_stats *st, struct verr *err)
{
    return vm_state_load_ex(vm, r, fresh, allow_map, st, NULL, NULL, err);
}

int vm_state_load_ex(struct vm *vm, struct state_reader *r, bool fresh, bool allow_map,
                     struct state_ram_stats *st, vm_state_sync_fn *sync, void *opaque,
                     struct verr *err)
{
    struct held h = {0};
    h.cap = 3 + vm->nr_vcpus + vm->nr_devices;
    h.s = xcalloc(h.cap, sizeof(*h.s));
    int rc = 0;
    /* CONF first, checked before anything else is read; then the vCPU, KVM and device
     * sections, each checked as it comes and held until the end, and RAM sections (one in
     * a version 1 stream, after the devices; any number and anywhere in version 2, a live
     * migration's passes), applied as they come; then END. Nothing but RAM is applied
     * before END has been checked. */
    unsigned want = 2 + vm->nr_vcpus + vm->nr_devices; /* CONF, VCPUs, KVM, DEVs */
    unsigned ram_passes = 0;
    char k[5];
    if ((rc = state_read_section(r, &h.s[0], err)) == 0) {
        h.n = 1;
        rc = conf_check(vm, &h.s[0], err);
    }
    if (rc == 0 && 3 + vm->nr_vcpus + vm->nr_devices > h.cap) {
        /* conf_check plugged the saved VM's hot-plugged vCPUs: room for their sections */
        unsigned cap = 3 + vm->nr_vcpus + vm->nr_devices;
        h.s = xrealloc(h.s, cap * sizeof(*h.s));
        memset(h.s + h.cap, 0, (cap - h.cap) * sizeof(*h.s));
        h.cap = cap;
        want = 2 + vm->nr_vcpus + vm->nr_devices;
    }
    while (rc == 0) {
        struct state_section s = {0};
        if ((rc = state_read_section(r, &s, err)) < 0)
            break;
        if (s.kind == STATE_SEC_RAM && (ram_passes == 0 || r->version >= 2)) {
            if (r->version < 2 && h.n < want)
                rc = verr_set(err, EINVAL, "VM state: section %u is RAM, expected %s", s.index,
                              h.n <= vm->nr_vcpus       ? "VCPU"
                              : h.n == vm->nr_vcpus + 1 ? "KVM"
                                                        : "DEV");
            else
                rc = state_ram_load(vm, r, &s, fresh && ram_passes == 0, allow_map, st, err);
            ram_passes++;
            state_section_free(&s);
            continue;
        }
        /* multifd: a pass ends on every channel; post-copy's sections (postcopy.h) */
        if ((s.kind == STATE_SEC_SYNC || s.kind == STATE_SEC_PADV || s.kind == STATE_SEC_PCPY) &&
            sync) {
            rc = sync(opaque, &s, err);
            ram_passes += s.kind != STATE_SEC_PADV; /* RAM's first pass may come after it */
            state_section_free(&s);
            continue;
        }
        if (s.kind == STATE_SEC_END && h.n == want && ram_passes) {
            if (log_get_level() >= LOG_DEBUG) {
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                log_debug("VM state: END read at %.3f",
                          (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6);
            }
            rc = state_check_end(r, &s, err);
            state_section_free(&s);
            break;
        }
        if (h.n == want) {
            rc = verr_set(err, EINVAL, "VM state: section %u is %s, expected %s", s.index,
                          state_kind_name(s.kind, k), ram_passes ? "END" : "RAM");
            state_section_free(&s);
            break;
        }
        h.s[h.n] = s;
        rc = check_held(vm, h.n, &h.s[h.n], err);
        h.n++;
    }
    /* Applied: the irqchips first (devices re-assert their lines into them), devices, then
     * the vCPUs (their LAPICs hold what the devices had raised when saved). */
    if (rc == 0) {
        struct state_recs rs;
        char what[48];
        snprintf(what, sizeof(what), "section %u (KVM)", h.s[1 + vm->nr_vcpus].index);
        rc = state_recs_parse(&rs, h.s[1 + vm->nr_vcpus].payload, h.s[1 + vm->nr_vcpus].len, what,
                              err);
        if (rc == 0) {
            rc = state_kvm_load(vm, &rs, err);
            if (rc == 0)
                rc = vcpu_hotplug_state_load(vm, &rs, err);
            uint64_t running = 1; /* a stream from before the record: it ran */
            if (rc == 0 && state_recs_find(&rs, "running"))
                rc = state_recs_get_u64(&rs, "running", &running, err);
            vm->loaded_running = running != 0;
            state_recs_free(&rs);
        }
    }
    for (unsigned i = 0; rc == 0 && i < vm->nr_devices; i++)
        rc = apply_device(vm->devices[i], &h.s[2 + vm->nr_vcpus + i], err);
    for (unsigned i = 0; rc == 0 && i < vm->nr_vcpus; i++) {
        struct state_recs rs;
        char what[48];
        snprintf(what, sizeof(what), "section %u (VCPU %u)", h.s[1 + i].index, i);
        rc = state_recs_parse(&rs, h.s[1 + i].payload, h.s[1 + i].len, what, err);
        if (rc == 0) {
            rc = state_vcpu_load(&vm->vcpus[i], &rs, err);
            state_recs_free(&rs);
        }
    }
    held_free(&h);
    return rc;
}
