/*
 * qmp-cpu.h - QMP's CPU model commands: query-cpu-definitions (every -cpu
 * model with the features this host's KVM cannot give it) and
 * query-cpu-model-expansion (static and full).
 */
#ifndef VIREO_VMM_QMP_CPU_H
#define VIREO_VMM_QMP_CPU_H

struct qmp_server;
struct vm;

int qmp_cpu_register(struct qmp_server *server, struct vm *vm);

#endif
