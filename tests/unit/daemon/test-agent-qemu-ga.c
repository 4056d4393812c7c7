/*
 * test-agent-qemu-ga.c - vireod's guest agent client (src/daemon/agent.c) against the real
 * qemu-ga from Debian's qemu-guest-agent, run on this host on a unix socket
 * (qemu-ga -m unix-listen -p SOCK): the handshake, guest-ping, guest-info, guest-get-time,
 * guest-get-fsinfo (the host's filesystems: / must be among them, and first in domfsinfo's
 * list),
 * guest-network-get-interfaces (lo with 127.0.0.1), guest-get-disks, the three as guestinfo's
 * fs.N, disk.N and if.N parameters (checked against statvfs and /sys/class/net), an unknown
 * command's error in libvirt's words, a queue of commands answered in order, stale bytes before a
 * handshake dropped, and the agent going away mid-command.
 *
 *   test-agent-qemu-ga [QEMU_GA]   (default /usr/sbin/qemu-ga)
 */
#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon/agent.h"
#include "daemon/domain.h"
#include "daemon/server.h"
#include "tap.h"
#include "util/error.h"
#include "util/loop.h"

extern char **environ;

struct result {
    bool done;
    int r;
    char *reply; /* the reply as JSON text, or NULL */
    char *error;
};

static void on_reply(void *opaque, int r, struct json_object *reply, const char *error)
{
    struct result *res = opaque;
    res->done = true;
    res->r = r;
    res->reply =
        reply ? strdup(json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN)) : NULL;
    res->error = error ? strdup(error) : NULL;
}

static void result_clear(struct result *res)
{
    free(res->reply);
    free(res->error);
    memset(res, 0, sizeof(*res));
}

/* Runs the loop until res is done (at most 60 s, so a broken client fails instead of hanging). */
static void wait_for(struct loop *loop, struct result *res)
{
    time_t end = time(NULL) + 60;
    while (!res->done && time(NULL) < end)
        loop_run_once(loop, 500);
}

static int run_cmd(struct loop *loop, struct vd_agent *a, const char *cmd, struct result *res)
{
    struct verr err = {0};
    result_clear(res);
    if (vd_agent_command(a, cmd, VD_AGENT_TIMEOUT_DEFAULT, false, on_reply, res, &err) < 0) {
        printf("# %s\n", verr_msg(&err));
        return -1;
    }
    wait_for(loop, res);
    return res->done ? res->r : -ETIMEDOUT;
}

static struct json_object *ret_of(const struct result *res)
{
    struct json_object *o = res->reply ? json_tokener_parse(res->reply) : NULL, *ret = NULL;
    if (o && json_object_object_get_ex(o, "return", &ret))
        json_object_get(ret);
    json_object_put(o);
    return ret;
}

/* The parameter named field in r, or NULL. */
static const struct remote_typed_param *gi_find(const struct remote_domain_get_guest_info_ret *r,
                                                const char *field)
{
    for (uint32_t i = 0; i < r->params_len; i++)
        if (!strcmp(r->params[i].field, field))
            return &r->params[i];
    return NULL;
}

static pid_t start_qemu_ga(const char *bin, const char *sock, const char *statedir)
{
    char *argv[] = {(char *)bin,  "-m", "unix-listen",    "-p",
                    (char *)sock, "-t", (char *)statedir, NULL};
    pid_t pid;
    if (posix_spawn(&pid, bin, NULL, NULL, argv, environ) != 0)
        return -1;
    for (int i = 0; i < 200; i++) { /* its socket appears once it listens */
        struct stat st;
        if (stat(sock, &st) == 0 && S_ISSOCK(st.st_mode))
            return pid;
        usleep(50 * 1000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

int main(int argc, char **argv)
{
    const char *bin = argc > 1 ? argv[1] : "/usr/sbin/qemu-ga";
    if (access(bin, X_OK) != 0) {
        printf("not ok 1 - %s is not installed (scripts/install-deps installs qemu-guest-agent)\n"
               "1..1\n",
               bin);
        return 1;
    }
    char dir[] = "/tmp/vireo-agent-XXXXXX";
    if (!mkdtemp(dir)) {
        printf("not ok 1 - mkdtemp\n1..1\n");
        return 1;
    }
    char sock[256], state[256];
    snprintf(sock, sizeof(sock), "%s/qga.sock", dir);
    snprintf(state, sizeof(state), "%s/state", dir);
    mkdir(state, 0700);
    pid_t pid = start_qemu_ga(bin, sock, state);
    ok(pid > 0, "qemu-ga listens on %s", sock);
    if (pid <= 0)
        return tap_done();

    struct loop *loop;
    struct verr err = {0};
    loop_new(&loop, &err);
    struct vd_agent *a = NULL;
    int orc = vd_agent_open(loop, sock, &a, &err);
    ok(orc == 0, "the client connects%s%s", orc ? ": " : "", orc ? verr_msg(&err) : "");
    struct result res = {0};

    /* The first handshake's 0xFF makes qemu-ga answer a syntax error before its sentinel:
     * the client must drop it and still take guest-ping's answer. */
    is_int(run_cmd(loop, a, "{\"execute\":\"guest-ping\"}", &res), 0, "guest-ping answers");
    is_str(res.reply, "{\"return\":{}}", "guest-ping's reply is an empty return");

    is_int(run_cmd(loop, a, "{\"execute\":\"guest-info\"}", &res), 0, "guest-info answers");
    struct json_object *ret = ret_of(&res), *v = NULL, *cmds = NULL;
    bool has_version = ret && json_object_object_get_ex(ret, "version", &v) &&
                       strlen(json_object_get_string(v)) > 0;
    ok(has_version, "guest-info has a version (%s)", v ? json_object_get_string(v) : "none");
    bool has_sync = false;
    if (ret && json_object_object_get_ex(ret, "supported_commands", &cmds))
        for (size_t i = 0; i < json_object_array_length(cmds); i++) {
            struct json_object *n = NULL;
            json_object_object_get_ex(json_object_array_get_idx(cmds, i), "name", &n);
            has_sync |= n && strcmp(json_object_get_string(n), "guest-sync-delimited") == 0;
        }
    ok(has_sync, "guest-info lists guest-sync-delimited");
    json_object_put(ret);

    is_int(run_cmd(loop, a, "{\"execute\":\"guest-get-time\"}", &res), 0, "guest-get-time answers");
    ret = ret_of(&res);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t ns = ret ? json_object_get_int64(ret) : 0;
    ok(ns > 0 && llabs((long long)(ns / 1000000000 - now.tv_sec)) < 3600,
       "guest-get-time is the host's clock (%lld s vs %lld s)", (long long)(ns / 1000000000),
       (long long)now.tv_sec);
    json_object_put(ret);

    is_int(run_cmd(loop, a, "{\"execute\":\"guest-get-fsinfo\"}", &res), 0,
           "guest-get-fsinfo answers");
    ret = ret_of(&res);
    bool root = false;
    for (size_t i = 0; ret && i < json_object_array_length(ret); i++) {
        struct json_object *m = NULL;
        json_object_object_get_ex(json_object_array_get_idx(ret, i), "mountpoint", &m);
        root |= m && strcmp(json_object_get_string(m), "/") == 0;
    }
    ok(root, "guest-get-fsinfo lists the host's / mount");
    /* ... and as virDomainGetFSInfo's list (domfsinfo): in mount order, so / comes first, with
     * the type the kernel reports for / */
    struct remote_domain_get_fsinfo_ret fsi;
    struct verr fe = {0};
    is_int(vd_agent_fsinfo(ret, NULL, &fsi, &fe), 0, "guest-get-fsinfo as libvirt's list");
    char roottype[64] = "";
    FILE *mounts = fopen("/proc/self/mounts", "r");
    char line[4096];
    while (mounts && fgets(line, sizeof(line), mounts)) {
        char dev[1024], mp[1024], type[64];
        if (sscanf(line, "%1023s %1023s %63s", dev, mp, type) == 3 && !strcmp(mp, "/"))
            snprintf(roottype, sizeof(roottype), "%s", type); /* the last one is on top */
    }
    if (mounts)
        fclose(mounts);
    ok(fe.code == 0 && fsi.info_len == json_object_array_length(ret) && fsi.ret == fsi.info_len &&
           fsi.info_len > 0 && !strcmp(fsi.info[0].mountpoint, "/") &&
           !strcmp(fsi.info[0].fstype, roottype) && fsi.info[0].dev_aliases_len == 0,
       "domfsinfo's list starts with / (type %s, no domain disks without a definition)", roottype);
    if (fe.code == 0)
        remote_domain_get_fsinfo_ret_free(&fsi);

    /* ... and as guestinfo's fs.N parameters, against a definition holding a virtio disk vda
     * at the PCI address qemu-ga gives for /'s first disk (when that disk is a virtio one) */
    struct json_object *rootdisk = NULL;
    for (size_t i = 0; ret && i < json_object_array_length(ret); i++) {
        struct json_object *fs = json_object_array_get_idx(ret, i), *m = NULL, *dl = NULL;
        if (json_object_object_get_ex(fs, "mountpoint", &m) &&
            !strcmp(json_object_get_string(m), "/") && json_object_object_get_ex(fs, "disk", &dl) &&
            json_object_array_length(dl) > 0)
            rootdisk = json_object_array_get_idx(dl, 0);
    }
    struct json_object *bt = NULL, *pci = NULL, *sl = NULL;
    bool virtio_root = rootdisk && json_object_object_get_ex(rootdisk, "bus-type", &bt) &&
                       !strcmp(json_object_get_string(bt), "virtio") &&
                       json_object_object_get_ex(rootdisk, "pci-controller", &pci) &&
                       json_object_object_get_ex(pci, "slot", &sl);
    struct domain_disk vda = {.target_dev = "vda",
                              .target_bus = DOMAIN_DISK_BUS_VIRTIO,
                              .address = {.type = DOMAIN_ADDRESS_PCI,
                                          .slot = sl ? (unsigned)json_object_get_int(sl) : 0}};
    struct domain_def vdef = {.disks = &vda, .ndisks = 1};
    struct remote_domain_get_guest_info_ret gi = {0};
    is_int(vd_agent_guestinfo_fill(VD_GUEST_INFO_FILESYSTEM, ret, &vdef, &gi, &fe), 0,
           "guest-get-fsinfo as guestinfo's fs.N parameters");
    const struct remote_typed_param *p = gi_find(&gi, "fs.count"),
                                    *mp = gi_find(&gi, "fs.0.mountpoint"),
                                    *ty = gi_find(&gi, "fs.0.fstype"),
                                    *tb = gi_find(&gi, "fs.0.total-bytes"),
                                    *al = gi_find(&gi, "fs.0.disk.0.alias"),
                                    *dev = gi_find(&gi, "fs.0.disk.0.device");
    struct statvfs sv;
    unsigned long long rootsize =
        statvfs("/", &sv) == 0 ? (unsigned long long)sv.f_blocks * sv.f_frsize : 0;
    ok(p && p->type == REMOTE_TYPED_PARAM_UINT && p->value.ui == json_object_array_length(ret) &&
           mp && !strcmp(mp->value.s, "/") && ty && !strcmp(ty->value.s, roottype) && tb &&
           tb->type == REMOTE_TYPED_PARAM_ULLONG && tb->value.ul > 0 && tb->value.ul <= rootsize,
       "fs.count %u, fs.0 is / (%s), its total-bytes %llu within statvfs's %llu",
       p ? p->value.ui : 0, ty ? ty->value.s : "?", tb ? (unsigned long long)tb->value.ul : 0,
       rootsize);
    if (virtio_root)
        ok(al && !strcmp(al->value.s, "vda") && dev && !strncmp(dev->value.s, "/dev/", 5),
           "/ lives on a virtio disk: fs.0.disk.0.alias is the definition's vda, device %s",
           dev ? dev->value.s : "none");
    else
        ok(!al, "/ is not on a virtio disk here: no fs.0.disk.0.alias for the virtio vda");
    char rootdevname[256] = "";
    if (dev)
        snprintf(rootdevname, sizeof(rootdevname), "%s", dev->value.s);
    remote_domain_get_guest_info_ret_free(&gi);
    json_object_put(ret);

    /* guest-get-disks: the host's block devices, as guestinfo's disk.N parameters */
    is_int(run_cmd(loop, a, "{\"execute\":\"guest-get-disks\"}", &res), 0,
           "guest-get-disks answers");
    ret = ret_of(&res);
    memset(&gi, 0, sizeof(gi));
    is_int(vd_agent_guestinfo_fill(VD_GUEST_INFO_DISKS, ret, &vdef, &gi, &fe), 0,
           "guest-get-disks as guestinfo's disk.N parameters%s%s", fe.code ? ": " : "",
           fe.code ? verr_msg(&fe) : "");
    size_t nd =
        ret && json_object_is_type(ret, json_type_array) ? json_object_array_length(ret) : 0;
    bool same = true, rootdev = false;
    for (size_t i = 0; i < nd; i++) {
        struct json_object *d = json_object_array_get_idx(ret, i), *n = NULL, *pt = NULL;
        char f1[64], f2[64];
        snprintf(f1, sizeof(f1), "disk.%zu.name", i);
        snprintf(f2, sizeof(f2), "disk.%zu.partition", i);
        const struct remote_typed_param *pn = gi_find(&gi, f1), *pp = gi_find(&gi, f2);
        json_object_object_get_ex(d, "name", &n);
        json_object_object_get_ex(d, "partition", &pt);
        same &= pn && n && !strcmp(pn->value.s, json_object_get_string(n)) && pp &&
                pp->type == REMOTE_TYPED_PARAM_BOOLEAN && pt &&
                pp->value.b == json_object_get_boolean(pt);
        rootdev |= pn && *rootdevname && !strcmp(pn->value.s, rootdevname);
    }
    p = gi_find(&gi, "disk.count");
    ok(nd > 0 && p && p->value.ui == nd && same,
       "disk.count %zu, each disk.N.name and .partition as the agent listed them", nd);
    ok(!virtio_root || rootdev, "the disk / lives on is among them");
    remote_domain_get_guest_info_ret_free(&gi);
    json_object_put(ret);

    is_int(run_cmd(loop, a, "{\"execute\":\"guest-network-get-interfaces\"}", &res), 0,
           "guest-network-get-interfaces answers");
    ok(res.reply && strstr(res.reply, "\"name\":\"lo\"") && strstr(res.reply, "127.0.0.1"),
       "guest-network-get-interfaces lists lo with 127.0.0.1");
    /* ... and as libvirt's interface list (domifaddr --source agent) */
    ret = ret_of(&res);
    struct remote_domain_interface_addresses_ret ifs;
    bool lo = false;
    struct verr ie = {0};
    int ir = vd_agent_interfaces(ret, &ifs, &ie);
    if (ir < 0)
        printf("# %s\n", verr_msg(&ie));
    if (ir == 0) {
        for (uint32_t i = 0; i < ifs.ifaces_len; i++)
            for (uint32_t k = 0; k < ifs.ifaces[i].addrs_len; k++)
                lo |= !strcmp(ifs.ifaces[i].name, "lo") && ifs.ifaces[i].hwaddr &&
                      !strcmp(ifs.ifaces[i].hwaddr, "00:00:00:00:00:00") &&
                      ifs.ifaces[i].addrs[k].type == 0 &&
                      !strcmp(ifs.ifaces[i].addrs[k].addr, "127.0.0.1") &&
                      ifs.ifaces[i].addrs[k].prefix == 8;
        remote_domain_interface_addresses_ret_free(&ifs);
    }
    ok(lo, "as libvirt's interfaces: lo 00:00:00:00:00:00 ipv4 127.0.0.1/8");
    /* ... and as guestinfo's if.N parameters: one per interface of the host's */
    memset(&gi, 0, sizeof(gi));
    is_int(vd_agent_guestinfo_fill(VD_GUEST_INFO_INTERFACES, ret, NULL, &gi, &fe), 0,
           "guest-network-get-interfaces as guestinfo's if.N parameters");
    unsigned nnet = 0;
    DIR *sys = opendir("/sys/class/net");
    for (struct dirent *de; sys && (de = readdir(sys));)
        nnet += de->d_name[0] != '.';
    if (sys)
        closedir(sys);
    p = gi_find(&gi, "if.count");
    bool lo_if = false;
    for (unsigned i = 0; p && i < p->value.ui; i++) {
        char f[64];
        snprintf(f, sizeof(f), "if.%u.name", i);
        const struct remote_typed_param *n = gi_find(&gi, f);
        if (!n || strcmp(n->value.s, "lo"))
            continue;
        snprintf(f, sizeof(f), "if.%u.hwaddr", i);
        const struct remote_typed_param *hw = gi_find(&gi, f);
        snprintf(f, sizeof(f), "if.%u.addr.0.addr", i);
        const struct remote_typed_param *ad = gi_find(&gi, f);
        snprintf(f, sizeof(f), "if.%u.addr.0.prefix", i);
        const struct remote_typed_param *pf = gi_find(&gi, f);
        snprintf(f, sizeof(f), "if.%u.addr.0.type", i);
        const struct remote_typed_param *ty2 = gi_find(&gi, f);
        lo_if = hw && !strcmp(hw->value.s, "00:00:00:00:00:00") && ad &&
                !strcmp(ad->value.s, "127.0.0.1") && pf && pf->value.ui == 8 && ty2 &&
                !strcmp(ty2->value.s, "ipv4");
    }
    ok(p && p->value.ui == nnet && lo_if,
       "if.count is the host's %u interfaces (/sys/class/net), lo with 127.0.0.1/8 ipv4", nnet);
    remote_domain_get_guest_info_ret_free(&gi);
    json_object_put(ret);

    /* guest-get-vcpus: the host's CPUs (qemu-ga reads /sys/devices/system/cpu), as
     * guestvcpus' vcpus list */
    is_int(run_cmd(loop, a, "{\"execute\":\"guest-get-vcpus\"}", &res), 0,
           "guest-get-vcpus answers");
    ret = ret_of(&res);
    struct vd_agent_vcpu *vc = NULL;
    size_t nvc = 0;
    struct remote_domain_get_guest_vcpus_ret vp = {0};
    long ncpu = sysconf(_SC_NPROCESSORS_CONF);
    char want_vcpus[32];
    snprintf(want_vcpus, sizeof(want_vcpus), ncpu > 1 ? "0-%ld" : "0", ncpu - 1);
    ok(vd_agent_vcpus(ret, &vc, &nvc, &fe) == 0 && (long)nvc == ncpu &&
           vd_agent_vcpus_params(vc, nvc, &vp, &fe) == 0 && vp.params_len == 3 &&
           !strcmp(vp.params[0].value.s, want_vcpus),
       "guestvcpus' vcpus is the host's %ld CPUs: %s", ncpu,
       vp.params_len ? vp.params[0].value.s : "none");
    if (vp.params_len)
        remote_domain_get_guest_vcpus_ret_free(&vp);
    free(vc);
    json_object_put(ret);

    /* An error answer, in libvirt's words. */
    is_int(run_cmd(loop, a, "{\"execute\":\"guest-no-such-command\"}", &res), 0,
           "an unknown command is answered");
    struct json_object *rep = res.reply ? json_tokener_parse(res.reply) : NULL;
    struct verr e2 = {0};
    int cr = vd_agent_check_reply("{\"execute\":\"guest-no-such-command\"}", rep, &e2);
    ok(cr == -EIO &&
           strstr(verr_msg(&e2), "unable to execute QEMU agent command 'guest-no-such-command': "),
       "its error reads as libvirt's: %s", verr_msg(&e2));
    json_object_put(rep);

    /* Three commands queued at once are answered in order, each with its own reply. */
    struct result q[3] = {{0}};
    const char *qc[3] = {"{\"execute\":\"guest-ping\"}", "{\"execute\":\"guest-get-time\"}",
                         "{\"execute\":\"guest-ping\"}"};
    for (int i = 0; i < 3; i++)
        vd_agent_command(a, qc[i], VD_AGENT_TIMEOUT_DEFAULT, false, on_reply, &q[i], &err);
    wait_for(loop, &q[2]);
    ok(q[0].done && q[1].done && q[2].done && q[0].reply && q[1].reply && q[2].reply &&
           strcmp(q[0].reply, "{\"return\":{}}") == 0 &&
           strcmp(q[2].reply, "{\"return\":{}}") == 0 &&
           strncmp(q[1].reply, "{\"return\":", 10) == 0 && strcmp(q[1].reply, "{\"return\":{}}"),
       "queued commands get their own replies in order");
    for (int i = 0; i < 3; i++)
        result_clear(&q[i]);

    /* The agent going away: a pending command ends with libvirt's words. qemu-ga stopped with
     * SIGSTOP never answers: the command times out (1 s), then SIGKILL ends the socket. */
    kill(pid, SIGSTOP);
    result_clear(&res);
    vd_agent_command(a, "{\"execute\":\"guest-ping\"}", 1, false, on_reply, &res, &err);
    wait_for(loop, &res);
    is_int(res.r, -ETIMEDOUT, "a command to a stopped agent times out");
    is_str(res.error, "Guest agent not available for now", "with libvirt's words");
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    result_clear(&res);
    vd_agent_command(a, "{\"execute\":\"guest-ping\"}", VD_AGENT_TIMEOUT_BLOCK, false, on_reply,
                     &res, &err);
    wait_for(loop, &res);
    is_int(res.r, -EPIPE, "a command to a killed agent ends (EOF)");
    ok(!vd_agent_alive(a), "the client knows the agent is gone");
    result_clear(&res);

    vd_agent_close(a);
    loop_free(loop);
    unlink(sock);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        printf("# cannot remove %s\n", dir);
    return tap_done();
}
