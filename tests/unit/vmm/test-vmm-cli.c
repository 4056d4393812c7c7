/* Unit tests for vireo-vmm's command line (src/vmm/cli.c): QEMU spellings accepted with
 * their meaning, bad ones refused with one line naming the option, --help as a golden file. */
#include "../tap.h"
#include "util/buf.h"
#include "util/file.h"
#include "vmm/cli.h"

#include <errno.h>

#define ARGV(...)            ((char *[]){"vireo-vmm", __VA_ARGS__, NULL})
#define ARGC(...)            ((int)(sizeof((char *[]){"vireo-vmm", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(cfg, err, ...) cli_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), cfg, err)

static void refused(const char *want, int r, const struct verr *err, const char *what)
{
    ok(r < 0 && strstr(verr_msg(err), want) != NULL, "%s is refused: %s", what, verr_msg(err));
}

int main(int argc, char **argv)
{
    struct vmm_config c;
    struct verr err = {0};
    int r0;

    is_int(PARSE(&c, &err, "-kernel", "k"), 0, "-kernel alone parses");
    is_int(c.mem_size, 128 << 20, "default memory is QEMU's 128 MiB");
    is_int(c.cpus, 1, "default one vCPU");
    is_int(c.cpu_model, CPU_MODEL_QEMU64, "default CPU model is qemu64, as QEMU");
    is_int(c.serial.kind, CHARDEV_NONE, "no -nographic: no serial back-end");
    is_str(c.append, "", "no -append: empty command line");
    cli_config_free(&c);

    is_int(PARSE(&c, &err, "-m", "1G", "-kernel", "k"), 0, "-m 1G");
    is_int(c.mem_size, 1ull << 30, "-m 1G is 1 GiB");
    cli_config_free(&c);
    is_int(PARSE(&c, &err, "-m", "512", "-kernel", "k"), 0, "-m 512");
    is_int(c.mem_size, 512ull << 20, "-m without a suffix is MiB");
    cli_config_free(&c);
    is_int(PARSE(&c, &err, "-m", "size=256M", "-kernel", "k"), 0, "-m size=256M");
    is_int(c.mem_size, 256ull << 20, "size= form");
    cli_config_free(&c);

    is_int(PARSE(&c, &err, "-smp", "4", "-kernel", "k"), 0, "-smp 4");
    ok(c.cpus == 4 && c.sockets == 1 && c.cores == 4 && c.threads == 1,
       "-smp 4 is 1 socket of 4 cores (QEMU 7.2 prefers cores)");
    cli_config_free(&c);
    is_int(PARSE(&c, &err, "-smp", "8,sockets=2,cores=2,threads=2", "-kernel", "k"), 0, "topology");
    ok(c.cpus == 8 && c.sockets == 2 && c.cores == 2 && c.threads == 2, "full topology kept");
    cli_config_free(&c);
    is_int(PARSE(&c, &err, "-smp", "sockets=1,cores=4", "-kernel", "k"), 0, "cpus computed");
    ok(c.cpus == 4 && c.cores == 4, "-smp sockets=1,cores=4 gives 4 vCPUs");
    cli_config_free(&c);
    is_int(PARSE(&c, &err, "-smp", "4,sockets=2", "-kernel", "k"), 0, "cores computed");
    ok(c.cores == 2, "-smp 4,sockets=2 gives 2 cores per socket");
    cli_config_free(&c);
    is_int(PARSE(&c, &err, "-smp", "8,sockets=2,cores=2", "-kernel", "k"), 0, "threads computed");
    ok(c.threads == 2, "-smp 8,sockets=2,cores=2 gives 2 threads per core");
    cli_config_free(&c);
    is_int(PARSE(&c, &err, "-smp", "4,cores=2", "-kernel", "k"), 0, "sockets computed");
    ok(c.sockets == 2 && c.cores == 2, "-smp 4,cores=2 gives 2 sockets");
    cli_config_free(&c);

    is_int(PARSE(&c, &err, "-nographic", "-kernel", "k"), 0, "-nographic");
    is_int(c.serial.kind, CHARDEV_STDIO, "-nographic puts COM1 on stdio");
    cli_config_free(&c);
    is_int(PARSE(&c, &err, "-nographic", "-nodefaults", "-kernel", "k"), 0, "-nodefaults");
    is_int(c.serial.kind, CHARDEV_NONE, "-nodefaults removes the default serial");
    cli_config_free(&c);
    is_int(PARSE(&c, &err, "-serial", "unix:/tmp/s.sock,server,nowait", "-kernel", "k"), 0,
           "-serial unix");
    ok(c.serial.kind == CHARDEV_UNIX && c.serial.server && !c.serial.wait &&
           strcmp(c.serial.path, "/tmp/s.sock") == 0,
       "unix:PATH,server,nowait");
    cli_config_free(&c);
    is_int(PARSE(&c, &err, "-serial", "file:/tmp/out.txt", "-kernel", "k"), 0, "-serial file:");
    ok(c.serial.kind == CHARDEV_FILE && strcmp(c.serial.path, "/tmp/out.txt") == 0, "file path");
    cli_config_free(&c);

    is_int(PARSE(&c, &err, "-qmp", "unix:/run/q.sock,server=on,wait=off", "-kernel", "k"), 0,
           "-qmp with server=on,wait=off");
    is_str(c.qmp_path, "/run/q.sock", "QMP path");
    cli_config_free(&c);

    is_int(PARSE(&c, &err, "-M", "microvm,acpi=on,x-option-roms=off", "-enable-kvm", "-accel",
                 "kvm", "-cpu", "host", "-name", "guest=vm1,debug-threads=on", "-uuid",
                 "6A5ED6A4-4A5B-4E3B-9D50-9D0C5B1F2A11", "-S", "-no-reboot", "-no-shutdown",
                 "-display", "none", "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-kernel",
                 "k", "-initrd", "i", "-append", "console=ttyS0", "-mem-prealloc", "-pidfile", "p"),
           0, "a full QEMU-style command line parses");
    ok(c.cpu_model == CPU_MODEL_HOST && c.start_paused && c.no_reboot && c.no_shutdown &&
           c.display_none && c.mem_prealloc,
       "flags set");
    is_str(c.name, "vm1", "-name guest=");
    is_str(c.uuid, "6a5ed6a4-4a5b-4e3b-9d50-9d0c5b1f2a11", "-uuid is kept in lower case");
    ok(c.debug_exit && c.debug_exit_iobase == 0xf4 && c.debug_exit_iosize == 4,
       "isa-debug-exit iobase/iosize");
    is_str(c.initrd, "i", "-initrd");
    is_str(c.append, "console=ttyS0", "-append");
    cli_config_free(&c);
    is_int(PARSE(&c, &err, "-M", "microvm,pit=off", "-kernel", "k"), 0, "-M microvm,pit=off");
    ok(c.no_pit, "pit=off leaves out the PIT");
    cli_config_free(&c);
    r0 = PARSE(&c, &err, "-M", "microvm,pit=maybe", "-kernel", "k");
    ok(r0 < 0 && strstr(verr_msg(&err), "pit must be on, off or auto"), "pit=maybe is refused");
    cli_config_free(&c);
    is_int(PARSE(&c, &err, "--m", "64", "--kernel", "k"), 0, "--option works like -option");
    cli_config_free(&c);
    is_int(PARSE(&c, &err, "--help"), 0, "--help");
    is_int(c.action, CLI_HELP, "--help asks for help");
    cli_config_free(&c);
    is_int(PARSE(&c, &err, "-version"), 0, "-version");
    is_int(c.action, CLI_VERSION, "-version asks for the version");
    cli_config_free(&c);

    int r;
    r = PARSE(&c, &err, "-m", "2M", "-kernel", "k");
    refused("guest memory must be at least 8 MiB", r, &err, "-m 2M");
    cli_config_free(&c);
    r = PARSE(&c, &err, "-m", "12345x", "-kernel", "k");
    refused("-m 12345x: invalid memory size", r, &err, "-m 12345x");
    cli_config_free(&c);
    r = PARSE(&c, &err, "-smp", "2,sockets=3", "-kernel", "k");
    refused("invalid CPU topology", r, &err, "-smp 2,sockets=3");
    cli_config_free(&c);
    r = PARSE(&c, &err, "-smp", "256", "-kernel", "k");
    refused("at most 255 vCPUs", r, &err, "-smp 256");
    cli_config_free(&c);
    r = PARSE(&c, &err, "-uuid", "6a5ed6a4-4a5b-4e3b-9d50-9d0c5b1f2a1", "-kernel", "k");
    refused("not a UUID", r, &err, "a short UUID");
    cli_config_free(&c);
    r = PARSE(&c, &err, "-serial", "stdio", "-serial", "pty", "-kernel", "k");
    refused("only one serial port", r, &err, "a second -serial");
    cli_config_free(&c);
    r = PARSE(&c, &err, "-serial", "unix:/tmp/x", "-kernel", "k");
    ok(r == 0 && c.serial.kind == CHARDEV_UNIX && !c.serial.server &&
           !strcmp(c.serial.path, "/tmp/x"),
       "a client -serial unix socket is accepted");
    cli_config_free(&c);
    r = PARSE(&c, &err, "-qmp", "unix:/tmp/q,server", "-kernel", "k");
    refused("only server,nowait", r, &err, "-qmp that waits");
    cli_config_free(&c);
    r = PARSE(&c, &err, "-netdev", "socket,id=n0", "-kernel", "k");
    refused("backend 'socket' is not supported (user, tap)", r, &err, "-netdev socket");
    cli_config_free(&c);
    r = PARSE(&c, &err, "-device", "e1000", "-kernel", "k");
    refused("device 'e1000' is not supported yet", r, &err, "-device e1000");
    cli_config_free(&c);
    r = PARSE(&c, &err, "-kernel");
    refused("-kernel: requires an argument", r, &err, "-kernel without its argument");
    cli_config_free(&c);
    r = PARSE(&c, &err, "-daemonize", "-serial", "stdio", "-kernel", "k");
    refused("-daemonize: cannot be used with the serial port on stdio", r, &err,
            "-daemonize with stdio");
    cli_config_free(&c);

    /* --help is a golden file next to this test. */
    if (argc > 1) {
        struct buf golden;
        buf_init(&golden);
        if (file_read_all(argv[1], 1 << 16, &golden, &err) == 0)
            is_str(cli_help_text(), buf_cstr(&golden), "--help matches golden/vireo-vmm-help.txt");
        else
            ok(0, "read the --help golden file: %s", verr_msg(&err));
        buf_free(&golden);
    }
    return tap_done();
}
