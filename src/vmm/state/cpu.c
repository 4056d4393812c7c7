/*
 * cpu.c - vCPU and VM-wide KVM state to and from records (see cpu.h). The
 * load order follows what KVM requires: special registers (with the APIC
 * base) before the LAPIC page, MSRs after CPUID and XCRs, vcpu events last
 * so a pending exception or NMI survives the other calls.
 */
#include "vmm/state/cpu.h"
#include "util/log.h"
#include "util/mem.h"
#include "vmm/kvm/vcpu.h"
#include "vmm/state/stream.h"
#include "vmm/vm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define MAX_MSRS 1024

struct msr_rec {
    uint32_t index, reserved;
    uint64_t data;
};

int state_msr_list(struct vm *vm, uint32_t **out, unsigned *n, struct verr *err)
{
    struct kvm_msr_list probe = {.nmsrs = 0};
    if (ioctl(vm->kvm.fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
        return verr_errno(err, errno, "KVM_GET_MSR_INDEX_LIST");
    if (probe.nmsrs == 0 || probe.nmsrs > MAX_MSRS)
        return verr_set(err, EINVAL, "KVM_GET_MSR_INDEX_LIST: %u MSRs", probe.nmsrs);
    struct kvm_msr_list *l = xcalloc(1, sizeof(*l) + probe.nmsrs * sizeof(uint32_t));
    l->nmsrs = probe.nmsrs;
    if (ioctl(vm->kvm.fd, KVM_GET_MSR_INDEX_LIST, l) < 0) {
        int e = errno;
        free(l);
        return verr_errno(err, e, "KVM_GET_MSR_INDEX_LIST");
    }
    *n = l->nmsrs;
    *out = xmalloc(l->nmsrs * sizeof(uint32_t));
    memcpy(*out, l->indices, l->nmsrs * sizeof(uint32_t));
    free(l);
    return 0;
}

/* Reads every MSR of list that KVM lets us read: KVM_GET_MSRS stops at the first one it
 * refuses, so that one is skipped and the rest retried. */
static int get_msrs(struct vcpu *v, const uint32_t *list, unsigned n, struct buf *payload,
                    struct verr *err)
{
    struct kvm_msrs *m = xcalloc(1, sizeof(*m) + n * sizeof(struct kvm_msr_entry));
    struct msr_rec *recs = xcalloc(n ? n : 1, sizeof(*recs));
    unsigned got = 0, i = 0;
    while (i < n) {
        unsigned k = n - i;
        m->nmsrs = k;
        for (unsigned j = 0; j < k; j++) {
            m->entries[j].index = list[i + j];
            m->entries[j].data = 0;
        }
        int r = ioctl(v->fd, KVM_GET_MSRS, m);
        if (r < 0) {
            int e = errno;
            free(m);
            free(recs);
            return verr_errno(err, e, "vCPU %u: KVM_GET_MSRS", v->index);
        }
        for (int j = 0; j < r; j++)
            recs[got++] = (struct msr_rec){m->entries[j].index, 0, m->entries[j].data};
        i += (unsigned)r;
        if ((unsigned)r < k)
            i++; /* list[i] is not readable on this host: not part of the state */
    }
    state_rec_put(payload, "msrs", recs, got * sizeof(*recs));
    free(m);
    free(recs);
    return 0;
}

int state_vcpu_save(struct vcpu *v, const uint32_t *msrs, unsigned nr_msrs, struct buf *p,
                    struct verr *err)
{
    int kvm_fd = v->vm->kvm.fd, vm_fd = v->vm->kvm.vm_fd;
#define GET(ioc, obj, name)                                                                        \
    do {                                                                                           \
        if (ioctl(v->fd, ioc, &(obj)) < 0)                                                         \
            return verr_errno(err, errno, "vCPU %u: " #ioc, v->index);                             \
        state_rec_put(p, name, &(obj), sizeof(obj));                                               \
    } while (0)
    struct kvm_regs regs;
    GET(KVM_GET_REGS, regs, "regs");
    if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SREGS2) > 0) {
        struct kvm_sregs2 s2;
        GET(KVM_GET_SREGS2, s2, "sregs2");
    } else {
        struct kvm_sregs s;
        GET(KVM_GET_SREGS, s, "sregs");
    }
    int xsave2 = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
    if (xsave2 > 0 || ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE) > 0) {
        size_t size =
            xsave2 > (int)sizeof(struct kvm_xsave) ? (size_t)xsave2 : sizeof(struct kvm_xsave);
        struct kvm_xsave *x = xcalloc(1, size);
        if (ioctl(v->fd, xsave2 > 0 ? KVM_GET_XSAVE2 : KVM_GET_XSAVE, x) < 0) {
            int e = errno;
            free(x);
            return verr_errno(err, e, "vCPU %u: KVM_GET_XSAVE", v->index);
        }
        state_rec_put(p, "xsave", x, size);
        free(x);
    } else {
        struct kvm_fpu fpu;
        GET(KVM_GET_FPU, fpu, "fpu");
    }
    if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XCRS) > 0) {
        struct kvm_xcrs xcrs;
        GET(KVM_GET_XCRS, xcrs, "xcrs");
    }
    int r = get_msrs(v, msrs, nr_msrs, p, err);
    if (r < 0)
        return r;
    struct kvm_mp_state mp;
    GET(KVM_GET_MP_STATE, mp, "mp_state");
    struct kvm_lapic_state lapic;
    GET(KVM_GET_LAPIC, lapic, "lapic");
    struct kvm_vcpu_events ev;
    GET(KVM_GET_VCPU_EVENTS, ev, "events");
    struct kvm_debugregs dr;
    GET(KVM_GET_DEBUGREGS, dr, "debugregs");
#undef GET
    /* CPUID as set: compared on load (the loader's comes from its command line). */
    struct kvm_cpuid2 *c = xcalloc(1, sizeof(*c) + 256 * sizeof(struct kvm_cpuid_entry2));
    c->nent = 256;
    if (ioctl(v->fd, KVM_GET_CPUID2, c) == 0)
        state_rec_put(p, "cpuid", c->entries, c->nent * sizeof(struct kvm_cpuid_entry2));
    free(c);
    return 0;
}

static int set_msrs(struct vcpu *v, const struct state_recs *rs, struct verr *err)
{
    const struct state_rec *rec = state_recs_find(rs, "msrs");
    if (!rec)
        return verr_set(err, EINVAL, "VM state %s: field 'msrs' is missing", rs->what);
    if (rec->len % sizeof(struct msr_rec) || rec->len / sizeof(struct msr_rec) > MAX_MSRS)
        return verr_set(err, EINVAL, "VM state %s: field 'msrs' has %u bytes, not a list of MSRs",
                        rs->what, rec->len);
    unsigned n = rec->len / (unsigned)sizeof(struct msr_rec);
    struct kvm_msrs *m = xcalloc(1, sizeof(*m) + (n ? n : 1) * sizeof(struct kvm_msr_entry));
    for (unsigned i = 0; i < n; i++) {
        struct msr_rec mr;
        memcpy(&mr, rec->data + i * sizeof(mr), sizeof(mr));
        m->entries[i].index = mr.index;
        m->entries[i].data = mr.data;
    }
    m->nmsrs = n;
    int r = ioctl(v->fd, KVM_SET_MSRS, m);
    int e = errno;
    uint32_t bad = r >= 0 && (unsigned)r < n ? m->entries[r].index : 0;
    uint64_t bad_val = r >= 0 && (unsigned)r < n ? m->entries[r].data : 0;
    free(m);
    if (r < 0)
        return verr_errno(err, e, "vCPU %u: KVM_SET_MSRS", v->index);
    if ((unsigned)r < n)
        return verr_set(err, EINVAL,
                        "VM state %s: field 'msrs': KVM refused MSR 0x%x = 0x%llx (saved on a "
                        "host with other MSRs?)",
                        rs->what, bad, (unsigned long long)bad_val);
    return 0;
}

static int compare_cpuid(struct vcpu *v, const struct state_recs *rs, struct verr *err)
{
    const struct state_rec *rec = state_recs_find(rs, "cpuid");
    if (!rec)
        return 0; /* a host without KVM_GET_CPUID2 saved it: the fingerprint still compared */
    struct kvm_cpuid2 *c = xcalloc(1, sizeof(*c) + 256 * sizeof(struct kvm_cpuid_entry2));
    c->nent = 256;
    int r = 0;
    if (ioctl(v->fd, KVM_GET_CPUID2, c) == 0 &&
        (rec->len != c->nent * sizeof(struct kvm_cpuid_entry2) ||
         memcmp(rec->data, c->entries, rec->len) != 0))
        r = verr_set(err, EINVAL,
                     "VM state %s: field 'cpuid' differs from this VM's CPUID (another -cpu "
                     "model, or a host with other CPU features)",
                     rs->what);
    free(c);
    return r;
}

int state_vcpu_load(struct vcpu *v, const struct state_recs *rs, struct verr *err)
{
    int kvm_fd = v->vm->kvm.fd, vm_fd = v->vm->kvm.vm_fd;
    int r = compare_cpuid(v, rs, err);
    if (r < 0)
        return r;
#define SET(ioc, obj, name)                                                                        \
    do {                                                                                           \
        if ((r = state_recs_get(rs, name, &(obj), sizeof(obj), err)) < 0)                          \
            return r;                                                                              \
        if (ioctl(v->fd, ioc, &(obj)) < 0)                                                         \
            return verr_errno(err, errno, "VM state %s: field '%s': " #ioc, rs->what, name);       \
    } while (0)
    struct kvm_regs regs;
    SET(KVM_SET_REGS, regs, "regs");
    const struct state_rec *x = state_recs_find(rs, "xsave");
    if (x) {
        int xsave2 = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
        size_t size =
            xsave2 > (int)sizeof(struct kvm_xsave) ? (size_t)xsave2 : sizeof(struct kvm_xsave);
        if (xsave2 <= 0 && ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE) <= 0)
            return verr_set(err, EINVAL, "VM state %s: field 'xsave': this host's KVM has no XSAVE",
                            rs->what);
        if (x->len < sizeof(struct kvm_xsave) || x->len > size)
            return verr_set(err, EINVAL, "VM state %s: field 'xsave' has %u bytes, expected %zu",
                            rs->what, x->len, size);
        struct kvm_xsave *buf = xcalloc(1, size);
        memcpy(buf, x->data, x->len);
        r = ioctl(v->fd, KVM_SET_XSAVE, buf);
        int e = errno;
        free(buf);
        if (r < 0)
            return verr_errno(err, e, "VM state %s: field 'xsave': KVM_SET_XSAVE", rs->what);
    } else {
        struct kvm_fpu fpu;
        SET(KVM_SET_FPU, fpu, "fpu");
    }
    if (state_recs_find(rs, "xcrs")) {
        struct kvm_xcrs xcrs;
        if ((r = state_recs_get(rs, "xcrs", &xcrs, sizeof(xcrs), err)) < 0)
            return r;
        if (xcrs.nr_xcrs > KVM_MAX_XCRS)
            return verr_set(err, EINVAL, "VM state %s: field 'xcrs': %u registers", rs->what,
                            xcrs.nr_xcrs);
        if (ioctl(v->fd, KVM_SET_XCRS, &xcrs) < 0)
            return verr_errno(err, errno, "VM state %s: field 'xcrs': KVM_SET_XCRS", rs->what);
    }
    if (state_recs_find(rs, "sregs2")) {
        if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SREGS2) <= 0)
            return verr_set(err, EINVAL, "VM state %s: field 'sregs2': this host's KVM lacks it",
                            rs->what);
        struct kvm_sregs2 s2;
        SET(KVM_SET_SREGS2, s2, "sregs2");
    } else {
        struct kvm_sregs s;
        SET(KVM_SET_SREGS, s, "sregs");
    }
    if ((r = set_msrs(v, rs, err)) < 0)
        return r;
    struct kvm_mp_state mp;
    if ((r = state_recs_get(rs, "mp_state", &mp, sizeof(mp), err)) < 0)
        return r;
    if (mp.mp_state > KVM_MP_STATE_AP_RESET_HOLD)
        return verr_set(err, EINVAL, "VM state %s: field 'mp_state': unknown state %u", rs->what,
                        mp.mp_state);
    if (ioctl(v->fd, KVM_SET_MP_STATE, &mp) < 0)
        return verr_errno(err, errno, "VM state %s: field 'mp_state': KVM_SET_MP_STATE", rs->what);
    struct kvm_lapic_state lapic;
    SET(KVM_SET_LAPIC, lapic, "lapic");
    struct kvm_vcpu_events ev;
    if ((r = state_recs_get(rs, "events", &ev, sizeof(ev), err)) < 0)
        return r;
    ev.flags &= KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM;
    ev.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR;
    if (ioctl(v->fd, KVM_SET_VCPU_EVENTS, &ev) < 0)
        return verr_errno(err, errno, "VM state %s: field 'events': KVM_SET_VCPU_EVENTS", rs->what);
    struct kvm_debugregs dr;
    SET(KVM_SET_DEBUGREGS, dr, "debugregs");
#undef SET
    v->cpuid_set = true;
    return 0;
}

int state_kvm_save(struct vm *vm, struct buf *p, struct verr *err)
{
    static const char *const names[3] = {"pic_master", "pic_slave", "ioapic"};
    for (unsigned i = 0; i < 3; i++) {
        struct kvm_irqchip chip = {.chip_id = i};
        if (ioctl(vm->kvm.vm_fd, KVM_GET_IRQCHIP, &chip) < 0)
            return verr_errno(err, errno, "KVM_GET_IRQCHIP %s", names[i]);
        state_rec_put(p, names[i], &chip, sizeof(chip));
    }
    if (vm->kvm.has_pit) {
        struct kvm_pit_state2 pit;
        if (ioctl(vm->kvm.vm_fd, KVM_GET_PIT2, &pit) < 0)
            return verr_errno(err, errno, "KVM_GET_PIT2");
        state_rec_put(p, "pit", &pit, sizeof(pit));
    }
    struct kvm_clock_data clock;
    memset(&clock, 0, sizeof(clock));
    if (ioctl(vm->kvm.vm_fd, KVM_GET_CLOCK, &clock) < 0)
        return verr_errno(err, errno, "KVM_GET_CLOCK");
    state_rec_put_u64(p, "clock", clock.clock);
    return 0;
}

int state_kvm_load(struct vm *vm, const struct state_recs *rs, struct verr *err)
{
    static const char *const names[3] = {"pic_master", "pic_slave", "ioapic"};
    int r;
    for (unsigned i = 0; i < 3; i++) {
        struct kvm_irqchip chip;
        if ((r = state_recs_get(rs, names[i], &chip, sizeof(chip), err)) < 0)
            return r;
        if (chip.chip_id != i)
            return verr_set(err, EINVAL, "VM state %s: field '%s': chip id %u", rs->what, names[i],
                            chip.chip_id);
        if (ioctl(vm->kvm.vm_fd, KVM_SET_IRQCHIP, &chip) < 0)
            return verr_errno(err, errno, "VM state %s: field '%s': KVM_SET_IRQCHIP", rs->what,
                              names[i]);
    }
    bool has_pit = state_recs_find(rs, "pit") != NULL;
    if (has_pit != vm->kvm.has_pit)
        return verr_set(err, EINVAL, "VM state %s: field 'pit': the saved VM %s a PIT, this one %s",
                        rs->what, has_pit ? "had" : "had no", vm->kvm.has_pit ? "has" : "has none");
    if (has_pit) {
        struct kvm_pit_state2 pit;
        if ((r = state_recs_get(rs, "pit", &pit, sizeof(pit), err)) < 0)
            return r;
        if (ioctl(vm->kvm.vm_fd, KVM_SET_PIT2, &pit) < 0)
            return verr_errno(err, errno, "VM state %s: field 'pit': KVM_SET_PIT2", rs->what);
    }
    uint64_t clock;
    if ((r = state_recs_get_u64(rs, "clock", &clock, err)) < 0)
        return r;
    struct kvm_clock_data cd = {.clock = clock};
    if (ioctl(vm->kvm.vm_fd, KVM_SET_CLOCK, &cd) < 0)
        return verr_errno(err, errno, "VM state %s: field 'clock': KVM_SET_CLOCK", rs->what);
    return 0;
}
