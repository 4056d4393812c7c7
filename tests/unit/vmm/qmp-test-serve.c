/*
 * qmp-test-serve.c - serves the QMP test VM (qmp-test-vm.h) on a unix
 * socket until killed, reporting QEMU 7.2.22's version so that replies can
 * be compared with that QEMU's by qmp-vs-qemu.py.
 */
#include "qmp-test-vm.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s SOCKET\n", argv[0]);
        return 2;
    }
    struct loop *loop;
    struct qmp_server *server;
    struct verr err = {0};
    struct test_vm vm;
    struct qmp_server_config cfg = {.major = 7, .minor = 2, .micro = 22, .package = "vireo-test"};
    if (loop_new(&loop, &err) < 0 || qmp_server_new(loop, &cfg, &server, &err) < 0 ||
        test_vm_attach(&vm, server) < 0 || qmp_server_listen_unix(server, argv[1], &err) < 0) {
        fprintf(stderr, "qmp-test-serve: %s\n", verr_msg(&err));
        return 1;
    }
    loop_run(loop);
    qmp_server_free(server);
    loop_free(loop);
    return 0;
}
