/*
 * cpu-host-model.h - libvirt's host-model CPU for vireo-vmm: the named model
 * (QEMU 7.2's, vireo-vmm's table) closest to what KVM offers a guest here
 * (KVM_GET_SUPPORTED_CPUID, as vireo-vmm's -cpu host), with the features the
 * host has beyond it required and the model's features it lacks disabled.
 * domcapabilities lists it (mode host-model); a domain with <cpu
 * mode='host-model'> starts on it: its live definition becomes that custom
 * CPU (mode='custom' match='exact' check='full', the model with
 * fallback='forbid'), as libvirt's QEMU driver rewrites it.
 *
 * The choice of model is libvirt's rule for decoding CPUID data into a model:
 * the model of the host's vendor (or of none) whose definition lists the
 * fewest features (required plus disabled), the newer row on a tie.
 * Feature names are libvirt's cpu_map spellings (tsc_adjust, lahf_lm...).
 *
 * Known difference from libvirtd 9.0 with QEMU: the features that are bits of
 * the IA32_ARCH_CAPABILITIES MSR (rdctl-no, rsba, mds-no, taa-no...) are not
 * listed: vireo-vmm's CPU model has CPUID words only and does not offer them.
 */
#ifndef VIREO_DAEMON_CPU_HOST_MODEL_H
#define VIREO_DAEMON_CPU_HOST_MODEL_H

#include "conf/domain_conf.h"
#include "util/buf.h"
#include "vmm/kvm/cpu-features.h"

struct verr;

struct vd_host_model {
    char model[64];  /* QEMU's unversioned name: "kvm64", "Skylake-Client" */
    char vendor[16]; /* libvirt's: "Intel", "AMD"; empty when neither */
    cpu_words require, disable;
    bool invtsc; /* in require: listed by domcapabilities, left out at start (unmigratable) */
};

/* What KVM offers a guest, as vireo-vmm's -cpu host,migratable=off gives it:
 * KVM_GET_SUPPORTED_CPUID plus the bits it adds under KVM whatever KVM says (hypervisor,
 * x2apic); -cpu host (migratable=on) leaves the invariant TSC out. 0, or -errno with *err set. */
int vd_cpu_hypervisor_words(cpu_words out, struct verr *err);

/* The host CPU's feature words, from the CPUID instruction as libvirt reads the host CPU (not
 * what KVM offers a guest). The KVM paravirtual word is the host's own hypervisor's: left out. */
void vd_cpu_host_words(cpu_words out);

/* capabilities' <host><cpu>: the <model> line (the named model with the most features the
 * host CPU all has, of its vendor or none) into model, and a <feature name=> line per host
 * feature beyond it into features (libvirt's spellings and order). Nothing when no model
 * fits. */
void vd_cpu_host_cpu_xml(struct buf *model, struct buf *features, const char *indent);

/* This host's host-model CPU. 0, or -errno with *err set (no /dev/kvm). */
int vd_cpu_host_model(struct vd_host_model *hm, struct verr *err);

/* domcapabilities' <mode name='host-model'> element, each line indented by indent. */
void vd_cpu_host_model_xml(const struct vd_host_model *hm, struct buf *out, const char *indent);

/* Rewrites a <cpu mode='host-model'> of a live definition into the custom CPU it starts
 * as (the domain's own <feature> rows first, then the host model's others; topology, NUMA
 * and the rest kept). Nothing to do for other modes. 0, or -errno with *err set. */
int vd_cpu_expand_host_model(struct domain_def *def, struct verr *err);

/* The model names libvirt would list (unversioned and aliases, not -vN, nor host and max), in
 * vireo-vmm's table order, as a malloc'd array of malloc'd strings; returns the count. */
size_t vd_cpu_model_names(char ***names);

/* domcapabilities' <mode name='custom'> rows: each model vireo-vmm knows by the names libvirt
 * lists (unversioned and aliases, not -vN), usable='yes' when KVM here offers all its
 * features, with its vendor; libvirt's order (names descending). */
void vd_cpu_models_xml(struct buf *out, const char *indent);

/* <cpu><vendor>: the start fails unless the host CPU is that vendor's, with libvirt's line.
 * 0, or -errno with *err set. */
int vd_cpu_check_vendor(const struct domain_def *def, struct verr *err);

#endif
