/*
 * main.c - vireo-vmm: parse the command line, build the VM, run the event
 * loop on this thread (QMP, serial input, signals, requests from vCPUs) until
 * the guest or a client ends it, and exit with the status QEMU would.
 *
 * -daemonize forks before anything else is created (threads and KVM file
 * descriptors do not survive fork well); the parent waits on a pipe until the
 * child has built the VM, so set-up errors still reach the caller's terminal
 * and exit status.
 *
 * Confinement (-runas, -sandbox) comes after set-up and before the vCPUs
 * first run: everything opened at start (/dev/kvm, images, taps, sockets, the
 * pidfile) is open, then the process becomes the -runas user, then the seccomp
 * filter goes on (it would refuse the uid change under elevateprivileges=deny).
 */
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"
#include "util/loop.h"
#include "vmm/cli.h"
#include "vmm/control.h"
#include "vmm/display/vnc.h"
#include "vmm/kvm/vcpu.h"
#include "vmm/privileges.h"
#include "vmm/sandbox.h"
#include "vmm/state/migration.h"
#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define VIREO_VERSION "0.1.0"

static void on_signal(struct loop *loop, int signo, void *opaque)
{
    struct vm *vm = opaque;
    (void)loop;
    log_info("terminating on signal %d", signo);
    vm_quit_on_signal(vm);
}

/* Returns the write end of the readiness pipe in the child; never returns in the parent. */
static int daemonize_begin(void)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        log_error("-daemonize: pipe: %s", strerror(errno));
        exit(1);
    }
    pid_t pid = fork();
    if (pid < 0) {
        log_error("-daemonize: fork: %s", strerror(errno));
        exit(1);
    }
    if (pid > 0) {
        close(p[1]);
        char ok = 0;
        ssize_t n;
        do {
            n = read(p[0], &ok, 1);
        } while (n < 0 && errno == EINTR);
        _exit(n == 1 && ok == 0 ? 0 : 1);
    }
    close(p[0]);
    setsid();
    return p[1];
}

static void daemonize_finish(int fd)
{
    char ok = 0;
    if (chdir("/") < 0)
        log_warn("-daemonize: chdir /: %s", strerror(errno));
    /* stderr stays when it is a regular file: that is a log a manager opened for
     * this VM (vireod's log/NAME.log, as libvirt hands QEMU its domain log), and
     * the reason a guest stopped must reach it. QEMU sends it to /dev/null too
     * unless -D is given; a terminal or pipe still goes to /dev/null. */
    struct stat st;
    bool keep_stderr = fstat(STDERR_FILENO, &st) == 0 && S_ISREG(st.st_mode);
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        if (!keep_stderr)
            dup2(null, STDERR_FILENO);
        if (null > 2)
            close(null);
    }
    (void)fd_write_all(fd, &ok, 1);
    close(fd);
}

static int write_pidfile(const char *path, struct verr *err)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return verr_errno(err, errno, "-pidfile %s: cannot open", path);
    int r = fd_write_all(fd, buf, (size_t)n);
    close(fd);
    if (r < 0)
        return verr_errno(err, -r, "-pidfile %s: cannot write", path);
    return 0;
}

int main(int argc, char **argv)
{
    log_set_program("vireo-vmm");
    const char *lvl = getenv("VIREO_LOG");
    enum log_level level;
    if (lvl && log_level_parse(lvl, &level) == 0)
        log_set_level(level);

    struct vmm_config cfg;
    struct verr err = {0};
    if (cli_parse(argc, argv, &cfg, &err) < 0) {
        log_error("%s", verr_msg(&err));
        cli_config_free(&cfg);
        return 1;
    }
    if (cfg.action == CLI_HELP) {
        fputs(cli_help_text(), stdout);
        cli_config_free(&cfg);
        return 0;
    }
    if (cfg.action == CLI_DEVICE_HELP) {
        fputs(cfg.help_text, stdout);
        cli_config_free(&cfg);
        return 0;
    }
    if (cfg.action == CLI_VERSION) {
        printf("vireo-vmm version %s (QEMU-compatible command line, KVM only)\n", VIREO_VERSION);
        cli_config_free(&cfg);
        return 0;
    }

    /* -daemonize moves to / once the VM is built (daemonize_finish), and a reset loads
     * the kernel and initrd again: keep their absolute paths so a relative one still
     * names the same file. A Multiboot module list ("m1 args,m2") is no path and stays
     * as given: its files are read into fw_cfg while the VM is built, from the caller's
     * directory, as QEMU reads them before its own chdir. */
    char *abs_kernel = cfg.kernel ? realpath(cfg.kernel, NULL) : NULL;
    char *abs_initrd = cfg.initrd ? realpath(cfg.initrd, NULL) : NULL;
    if (abs_kernel)
        cfg.kernel = abs_kernel;
    if (abs_initrd)
        cfg.initrd = abs_initrd;
    struct privileges runas = {0};
    if (cfg.runas) {
        /* the user is looked up before -daemonize, so a bad name reaches the caller;
         * the bounding set is dropped before any thread exists (threads inherit it) */
        if (privileges_resolve(cfg.runas, &runas, &err) < 0 || privileges_prepare(&err) < 0) {
            log_error("%s", verr_msg(&err));
            cli_config_free(&cfg);
            free(abs_kernel);
            free(abs_initrd);
            return 1;
        }
    }
    int ready_fd = cfg.daemonize ? daemonize_begin() : -1;
    int status = 1;
    struct loop *loop = NULL;
    struct vm *vm = calloc(1, sizeof(*vm));
    struct control *control = NULL;
    bool vm_built = false;
    if (!vm || loop_new(&loop, &err) < 0)
        goto out;
    /* Signals go to the loop; block them before any thread exists. */
    if (loop_watch_signal(loop, SIGINT, on_signal, vm, &err) < 0 ||
        loop_watch_signal(loop, SIGTERM, on_signal, vm, &err) < 0 ||
        loop_watch_signal(loop, SIGHUP, on_signal, vm, &err) < 0)
        goto out;
    signal(SIGPIPE, SIG_IGN);
    if (vcpu_setup_kick_signal(&err) < 0)
        goto out;
    vm_built = true;
    if (vm_create(vm, &cfg, loop, &err) < 0)
        goto out;
    /* authz-listfile reads its file now, before the privileges go, as QEMU at creation. */
    for (unsigned i = 0; i < cfg.nr_authz; i++)
        if (authz_load(cfg.authz[i], &err) < 0)
            goto out;
    if (cfg.vnc.enabled) {
        struct tls_server *tls = NULL; /* read now, before the privileges go */
        const struct tls_creds_spec *spec = NULL;
        for (unsigned i = 0; cfg.vnc.tls_creds && i < cfg.nr_tls_creds; i++)
            if (strcmp(cfg.tls_creds[i].id, cfg.vnc.tls_creds) == 0)
                spec = &cfg.tls_creds[i];
        if (cfg.vnc.tls_creds && !spec) {
            verr_set(&err, ENOENT, "No TLS credentials with id '%s'", cfg.vnc.tls_creds);
            goto out;
        }
        if (spec && spec->client) {
            verr_set(&err, EINVAL, "Expected TLS credentials for a server endpoint");
            goto out;
        }
        struct authz *authz = NULL;
        for (unsigned i = 0; cfg.vnc.tls_authz && i < cfg.nr_authz; i++)
            if (strcmp(authz_id(cfg.authz[i]), cfg.vnc.tls_authz) == 0)
                authz = cfg.authz[i];
        if (cfg.vnc.tls_authz && !spec) {
            verr_set(&err, EINVAL, "-vnc: tls-authz needs tls-creds");
            goto out;
        }
        if (cfg.vnc.tls_authz && !authz) {
            verr_set(&err, ENOENT, "Cannot find QAuthZ object ID %s", cfg.vnc.tls_authz);
            goto out;
        }
        if (authz && !spec->verify_peer) {
            verr_set(&err, EINVAL,
                     "-vnc: tls-authz needs tls-creds-x509 '%s' with verify-peer=on (no client "
                     "certificate is asked for without it)",
                     spec->id);
            goto out;
        }
        if (spec && tls_creds_load(spec, &tls, &err) < 0)
            goto out;
        if (vnc_server_new(loop, vm->display, &cfg.vnc, tls, &vm->vnc, &err) < 0)
            goto out;
        if (authz)
            vnc_server_set_authz(vm->vnc, authz);
    }
    vm->migration = migration_new(vm);
    if ((cfg.qmp_path || cfg.monitor_chardev >= 0) &&
        control_create(vm, cfg.qmp_path, &control, &err) < 0)
        goto out;
    if (cfg.pidfile && write_pidfile(cfg.pidfile, &err) < 0)
        goto out;
    if (cfg.runas && privileges_drop(&runas, &err) < 0)
        goto out;
    if (sandbox_install(&cfg.sandbox, &err) < 0)
        goto out;
    if (vm_start(vm, &err) < 0)
        goto out;
    if (cfg.incoming && migration_start_incoming(vm->migration, cfg.incoming, &err) < 0)
        goto out;
    if (ready_fd >= 0) {
        daemonize_finish(ready_fd);
        ready_fd = -1;
    }
    if (loop_run(loop) < 0) {
        log_error("event loop failed");
        status = 1;
    } else {
        status = vm->final_status;
    }
    fflush(stdout);
    goto cleanup;
out:
    log_error("%s", verr_msg(&err));
    status = 1;
cleanup:
    control_free(control); /* first: no events into a freed server */
    vnc_server_free(vm ? vm->vnc : NULL);
    if (vm)
        vm->vnc = NULL;
    if (vm && vm->migration) {
        migration_free(vm->migration); /* its worker uses the VM */
        vm->migration = NULL;
    }
    if (vm_built)
        vm_destroy(vm);
    if (cfg.pidfile && status >= 0)
        unlink(cfg.pidfile);
    if (loop)
        loop_free(loop);
    free(vm);
    cli_config_free(&cfg);
    free(abs_kernel);
    free(abs_initrd);
    if (ready_fd >= 0)
        close(ready_fd);
    return status;
}
