/*
 * fuzz-agent.c - vireod's guest agent client (src/daemon/agent.c) on arbitrary bytes from the
 * guest: a command is queued, the client's guest-sync-delimited handshake is read off the
 * socket, and the agent's side answers with the first half of the input, the handshake's
 * sentinel and answer, then the second half (so both the stale-byte path and the reply path
 * see the bytes); a reply that parses goes through libvirt's error check and the interface
 * conversion of domifaddr --source agent, domfsinfo's file system list against a small
 * definition, guestinfo's parameters of every category, and guestvcpus' lists and plan. Whatever
 * the bytes, no crash, no leak, and the command ends exactly once.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/agent.h"
#include "daemon/domain.h"
#include "daemon/server.h"
#include "util/error.h"
#include "util/loop.h"

static void on_reply(void *opaque, int r, struct json_object *reply, const char *error)
{
    int *calls = opaque;
    (*calls)++;
    (void)error;
    if (r < 0 || !reply)
        return;
    struct verr e = {0};
    vd_agent_check_reply("{\"execute\":\"guest-network-get-interfaces\"}", reply, &e);
    struct json_object *ret = NULL;
    struct remote_domain_interface_addresses_ret out;
    if (json_object_object_get_ex(reply, "return", &ret) && vd_agent_interfaces(ret, &out, &e) == 0)
        remote_domain_interface_addresses_ret_free(&out);
    /* the same answer read as guest-get-fsinfo's, against a definition with a virtio disk at a
     * PCI address and a SATA disk at a drive address */
    struct domain_disk disks[2] = {
        {.target_dev = "vda",
         .target_bus = DOMAIN_DISK_BUS_VIRTIO,
         .address = {.type = DOMAIN_ADDRESS_PCI, .slot = 4}},
        {.target_dev = "sda",
         .target_bus = DOMAIN_DISK_BUS_SATA,
         .address = {.type = DOMAIN_ADDRESS_DRIVE, .unit = 1}},
    };
    struct domain_def def = {.disks = disks, .ndisks = 2};
    struct remote_domain_get_fsinfo_ret fsi;
    if (vd_agent_fsinfo(ret, &def, &fsi, &e) == 0)
        remote_domain_get_fsinfo_ret_free(&fsi);
    /* and as each of guestinfo's categories, all into one list */
    struct remote_domain_get_guest_info_ret gi = {0};
    for (unsigned type = VD_GUEST_INFO_USERS; type <= VD_GUEST_INFO_INTERFACES; type <<= 1)
        vd_agent_guestinfo_fill(type, ret, &def, &gi, &e);
    remote_domain_get_guest_info_ret_free(&gi);
    /* and as guest-get-vcpus' answer: guestvcpus' lists and setvcpus --guest 1's plan */
    struct vd_agent_vcpu *v = NULL;
    size_t nv = 0;
    struct remote_domain_get_guest_vcpus_ret vp;
    if (vd_agent_vcpus(ret, &v, &nv, &e) == 0) {
        if (vd_agent_vcpus_params(v, nv, &vp, &e) == 0)
            remote_domain_get_guest_vcpus_ret_free(&vp);
        vd_agent_vcpus_plan_count(v, nv, 1, &e);
        free(v);
    }
}

static void put(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w <= 0)
            return;
        b += w;
        n -= (size_t)w;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536) /* what one socket buffer holds before the client reads */
        size = 65536;
    struct loop *loop;
    if (loop_new(&loop, NULL) < 0)
        abort();
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    int bufsz = 1 << 20;
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
    setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
    struct vd_agent *a;
    if (vd_agent_open_fd(loop, sv[0], &a, NULL) < 0)
        abort();
    int calls = 0;
    if (vd_agent_command(a, "{\"execute\":\"guest-network-get-interfaces\"}",
                         VD_AGENT_TIMEOUT_BLOCK, false, on_reply, &calls, NULL) < 0)
        abort();
    for (int i = 0; i < 4; i++) /* the handshake goes out */
        loop_run_once(loop, 0);
    char sent[256] = "";
    ssize_t n = read(sv[1], sent, sizeof(sent) - 1);
    sent[n > 0 ? n : 0] = '\0';
    const char *id = strstr(sent, "\"id\":");
    unsigned long long sync = id ? strtoull(id + 5, NULL, 10) : 0;
    put(sv[1], data, size / 2);
    char answer[64];
    int an = snprintf(answer, sizeof(answer), "\xff{\"return\": %llu}\n", sync);
    put(sv[1], answer, (size_t)an);
    put(sv[1], data + size / 2, size - size / 2);
    shutdown(sv[1], SHUT_WR);
    for (int i = 0; i < 64 && !calls; i++)
        loop_run_once(loop, 10);
    vd_agent_close(a);
    if (calls != 1) /* the EOF or the close ends it, once */
        abort();
    close(sv[1]);
    loop_free(loop);
    return 0;
}
