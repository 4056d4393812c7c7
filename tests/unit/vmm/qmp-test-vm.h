/*
 * qmp-test-vm.h - a pretend VM behind the QMP server, for the QMP tests and
 * the fuzz target: it keeps a run state and emits the events QEMU 7.2 emits
 * for each command (recorded in golden/qemu-7.2-commands.txt), so the
 * server's replies can be compared with QEMU's. Also a helper that runs a
 * loop and a server on a background thread. Header-only: each test is one
 * binary.
 */
#ifndef VIREO_TESTS_QMP_TEST_VM_H
#define VIREO_TESTS_QMP_TEST_VM_H

#include "util/error.h"
#include "util/loop.h"
#include "qmp/qmp-server.h"
#include "vmm/qmp-vm.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct test_vm {
    struct qmp_server *server;
    const char *status;
    bool running;
    int resets, powerdowns, quits;
    struct qmp_vm_binding binding;
};

static void test_vm_query_status(void *opaque, struct qmp_vm_status *out)
{
    struct test_vm *vm = opaque;
    out->status = vm->status;
    out->running = vm->running;
}

static const char *test_vm_name(void *opaque)
{
    (void)opaque;
    return "testvm";
}

static const char *test_vm_uuid(void *opaque)
{
    (void)opaque;
    return "12345678-1234-1234-1234-123456789abc";
}

static void test_vm_query_kvm(void *opaque, bool *enabled, bool *present)
{
    (void)opaque;
    *enabled = true;
    *present = true;
}

static int test_vm_query_cpus(void *opaque, struct qmp_vm_cpu *cpus, int max)
{
    (void)opaque;
    static const char *paths[] = {"/machine/unattached/device[0]", "/machine/unattached/device[2]"};
    for (int i = 0; i < 2 && i < max; i++)
        cpus[i] = (struct qmp_vm_cpu){
            .cpu_index = i, .thread_id = 4242 + i, .core_id = i, .qom_path = paths[i]};
    return 2;
}

static int test_vm_stop(void *opaque, struct qmp_error *err)
{
    (void)err;
    struct test_vm *vm = opaque;
    if (vm->running) {
        vm->running = false;
        vm->status = "paused";
        qmp_server_emit_event(vm->server, QMP_EVENT_STOP, NULL);
    }
    return 0;
}

static int test_vm_cont(void *opaque, struct qmp_error *err)
{
    (void)err;
    struct test_vm *vm = opaque;
    if (!vm->running) {
        vm->running = true;
        vm->status = "running";
        qmp_server_emit_event(vm->server, QMP_EVENT_RESUME, NULL);
    }
    return 0;
}

static int test_vm_reset(void *opaque, struct qmp_error *err)
{
    (void)err;
    struct test_vm *vm = opaque;
    vm->resets++;
    qmp_server_emit_event(vm->server, QMP_EVENT_RESET,
                          qmp_vm_event_cause(false, "host-qmp-system-reset"));
    return 0;
}

static int test_vm_powerdown(void *opaque, struct qmp_error *err)
{
    struct test_vm *vm = opaque;
    if (!vm->running)
        return qmp_error_set(err, QMP_ERROR_GENERIC, "test: powerdown refused while stopped");
    vm->powerdowns++;
    qmp_server_emit_event(vm->server, QMP_EVENT_POWERDOWN, NULL);
    return 0;
}

static int test_vm_quit(void *opaque, struct qmp_error *err)
{
    (void)err;
    struct test_vm *vm = opaque;
    vm->quits++;
    qmp_server_emit_event(vm->server, QMP_EVENT_SHUTDOWN,
                          qmp_vm_event_cause(false, "host-qmp-quit"));
    return 0;
}

static const struct qmp_vm_ops test_vm_ops = {
    .query_status = test_vm_query_status,
    .name = test_vm_name,
    .uuid = test_vm_uuid,
    .query_kvm = test_vm_query_kvm,
    .query_cpus = test_vm_query_cpus,
    .stop = test_vm_stop,
    .cont = test_vm_cont,
    .system_reset = test_vm_reset,
    .system_powerdown = test_vm_powerdown,
    .quit = test_vm_quit,
};

/* Binds vm to server; the VM starts in "prelaunch", as with -S. */
static inline int test_vm_attach(struct test_vm *vm, struct qmp_server *server)
{
    memset(vm, 0, sizeof(*vm));
    vm->server = server;
    vm->status = "prelaunch";
    vm->binding = (struct qmp_vm_binding){&test_vm_ops, vm};
    return qmp_vm_register(server, &vm->binding);
}

/* A loop + server + test VM served from a background thread. */
struct test_qmp_host {
    struct loop *loop;
    struct qmp_server *server;
    struct test_vm vm;
    pthread_t thread;
    char dir[64];
    char path[128];
};

static void *test_qmp_host_thread(void *opaque)
{
    struct test_qmp_host *h = opaque;
    loop_run(h->loop);
    return NULL;
}

/* Creates the server on DIR/qmp.sock in a fresh temp dir without serving it
 * yet (register more commands, then test_qmp_host_run). 0 or -1. */
static inline int test_qmp_host_init(struct test_qmp_host *h, const struct qmp_server_config *cfg)
{
    struct verr err = {0};
    memset(h, 0, sizeof(*h));
    snprintf(h->dir, sizeof(h->dir), "/tmp/vireo-qmp-test.XXXXXX");
    if (!mkdtemp(h->dir))
        return -1;
    snprintf(h->path, sizeof(h->path), "%s/qmp.sock", h->dir);
    if (loop_new(&h->loop, &err) < 0 || qmp_server_new(h->loop, cfg, &h->server, &err) < 0 ||
        test_vm_attach(&h->vm, h->server) < 0 ||
        qmp_server_listen_unix(h->server, h->path, &err) < 0) {
        fprintf(stderr, "test host: %s\n", verr_msg(&err));
        return -1;
    }
    return 0;
}

/* Starts serving from a background thread. */
static inline int test_qmp_host_run(struct test_qmp_host *h)
{
    return pthread_create(&h->thread, NULL, test_qmp_host_thread, h) ? -1 : 0;
}

static inline int test_qmp_host_start(struct test_qmp_host *h, const struct qmp_server_config *cfg)
{
    return test_qmp_host_init(h, cfg) < 0 ? -1 : test_qmp_host_run(h);
}

static inline void test_qmp_host_stop(struct test_qmp_host *h)
{
    loop_quit(h->loop);
    pthread_join(h->thread, NULL);
    qmp_server_free(h->server);
    loop_free(h->loop);
    rmdir(h->dir);
}

#endif
