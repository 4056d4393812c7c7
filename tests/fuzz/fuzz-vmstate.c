/*
 * fuzz-vmstate.c - the VM state loader (header, sections, the configuration
 * fingerprint, vCPU/KVM records, device records, RAM index and data, the
 * trailer) on arbitrary bytes, against a real VM built once from a fixed
 * configuration (2 vCPUs, 64 MiB, virtio-blk on a scratch file, virtio-rng,
 * virtio-balloon, virtio-net on user networking (libslirp's state too),
 * virtio-serial with a virtconsole, virtio-scsi with an empty scsi-cd (a
 * unit with a medium would record the scratch file's random name), the
 * microvm built-ins) that is never started. Whatever the bytes, the
 * loader must refuse or accept without a crash, a leak or a read out of
 * bounds; what it accepts goes into KVM, which checks it again.
 *
 * FUZZ_VMSTATE_SEED=FILE writes a valid stream of that VM to FILE (packed
 * layout, as through a pipe) and exits: the seed corpus entry.
 * FUZZ_VMSTATE_SEED_LIVE=FILE writes one laid out as a live migration's
 * (version 2: CONF, a whole RAM pass, the vCPU, KVM and device sections, a
 * delta RAM pass with a data page and a zero page, END, the ACK flag; since the PING flag, a
 * PING after the first pass: seed-live-ping). Every input is also
 * read as a multifd destination reads its main stream (MFD, SYNC) and a channel (hello,
 * delta RAM, SYNC, END).
 */
#include "util/loop.h"
#include "vmm/cli.h"
#include "vmm/state/crc32c.h"
#include "vmm/state/multifd.h"
#include "vmm/state/ram.h"
#include "vmm/state/stream.h"
#include "vmm/state/vmstate.h"
#include "vmm/vm.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fuzz_vm {
    struct vmm_config cfg;
    struct loop *loop;
    struct vm vm;
};

struct copier {
    int in, out;
};

static void *copy_thread(void *opaque)
{
    struct copier *c = opaque;
    char buf[65536];
    ssize_t n;
    while ((n = read(c->in, buf, sizeof(buf))) > 0)
        if (write(c->out, buf, (size_t)n) != n)
            break;
    return NULL;
}

static void write_seed(struct vm *vm, const char *path)
{
    struct vm_state_capture cap;
    struct verr err = {0};
    for (unsigned i = 0; i < 3 * 4096; i++) /* two runs of RAM for the index to describe */
        vm->mem.host[(1u << 20) + (i < 8192 ? i : i + 65536)] = (uint8_t)(i * 7 + 1);
    int p[2];
    if (pipe(p) < 0 || vm_state_capture(vm, &cap, &err) < 0) {
        fprintf(stderr, "seed: %s\n", verr_msg(&err));
        exit(1);
    }
    struct copier c = {p[0], open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)};
    pthread_t t;
    pthread_create(&t, NULL, copy_thread, &c);
    int r = vm_state_write(vm, &cap, p[1], NULL, false, NULL, &err);
    close(p[1]);
    pthread_join(t, NULL);
    if (r < 0) {
        fprintf(stderr, "seed: %s\n", verr_msg(&err));
        exit(1);
    }
    exit(0);
}

static void write_seed_live(struct vm *vm, const char *path)
{
    struct verr err = {0};
    for (unsigned i = 0; i < 3 * 4096; i++)
        vm->mem.host[(1u << 20) + i] = (uint8_t)(i * 5 + 3);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int p[2];
    if (fd < 0 || pipe(p) < 0)
        exit(1);
    struct copier c = {p[0], fd};
    pthread_t t;
    pthread_create(&t, NULL, copy_thread, &c);
    struct state_writer w;
    struct vm_state_capture cap;
    uint64_t dirty[(64u << 20) / 4096 / 64] = {0};
    int r = state_writer_init_flags(&w, p[1], NULL, STATE_FLAG_ACK | STATE_FLAG_PING, &err);
    if (r == 0)
        r = vm_state_write_conf(vm, &w, &err);
    if (r == 0)
        r = state_ram_save_pass(vm, &w, NULL, NULL, &err);
    if (r == 0) { /* the source's ping before the stop (answered by nobody here) */
        uint8_t seq[8] = {1};
        r = state_write_section(&w, STATE_SEC_PING, 1, seq, sizeof(seq), &err);
    }
    if (r == 0)
        r = vm_state_capture_ex(vm, &cap, false, &err);
    if (r == 0) {
        vm->mem.host[(1u << 20) + 5] = 0x55;               /* page 256: new data */
        memset(vm->mem.host + (1u << 20) + 4096, 0, 4096); /* page 257: zero now */
        dirty[256 / 64] |= 3ull << (256 % 64);
        r = state_ram_save_pass(vm, &w, dirty, NULL, &err);
    }
    if (r == 0)
        r = vm_state_write_captured(&w, &cap, &err);
    if (r == 0)
        r = state_write_end(&w, false, &err);
    state_writer_free(&w);
    close(p[1]);
    pthread_join(t, NULL);
    if (r < 0) {
        fprintf(stderr, "seed: %s\n", verr_msg(&err));
        exit(1);
    }
    exit(0);
}

static struct fuzz_vm *fuzz_vm(void)
{
    static struct fuzz_vm *f; /* built once: creating a KVM VM per input would be all the work */
    if (f)
        return f;
    f = calloc(1, sizeof(*f));
    char disk[] = "/tmp/fuzz-vmstate-XXXXXX";
    int fd = mkstemp(disk);
    if (fd < 0 || ftruncate(fd, 1 << 20) < 0)
        abort();
    close(fd);
    char drive[96];
    snprintf(drive, sizeof(drive), "file=%s,format=raw,if=none,id=d0", disk);
    char *argv[] = {"vireo-vmm",
                    "-M",
                    "microvm,acpi=on,pcie=on",
                    "-m",
                    "64",
                    "-smp",
                    "2",
                    "-kernel",
                    "/dev/null",
                    "-nodefaults",
                    "-incoming",
                    "defer",
                    "-drive",
                    drive,
                    "-device",
                    "virtio-blk-pci,drive=d0,id=disk0",
                    "-device",
                    "virtio-rng-pci",
                    "-device",
                    "virtio-balloon-pci",
                    "-netdev",
                    "user,id=n0",
                    "-device",
                    "virtio-net-pci,netdev=n0",
                    "-chardev",
                    "null,id=c0",
                    "-device",
                    "virtio-serial-pci",
                    "-device",
                    "virtconsole,chardev=c0",
                    "-device",
                    "virtio-scsi-pci,id=scsi0",
                    "-drive",
                    "if=none,id=cd0,media=cdrom",
                    "-device",
                    "scsi-cd,drive=cd0,bus=scsi0.0",
                    "-device",
                    "isa-debug-exit",
                    NULL};
    struct verr err = {0};
    if (cli_parse((int)(sizeof(argv) / sizeof(argv[0])) - 1, argv, &f->cfg, &err) < 0 ||
        loop_new(&f->loop, &err) < 0 || vm_create(&f->vm, &f->cfg, f->loop, &err) < 0) {
        fprintf(stderr, "fuzz-vmstate: cannot build the VM: %s\n", verr_msg(&err));
        abort();
    }
    unlink(disk); /* open by the device; gone when the process is */
    const char *seed = getenv("FUZZ_VMSTATE_SEED");
    if (seed)
        write_seed(&f->vm, seed);
    const char *seed_live = getenv("FUZZ_VMSTATE_SEED_LIVE");
    if (seed_live)
        write_seed_live(&f->vm, seed_live);
    return f;
}

/*
 * Every section carries a CRC and END a checksum of the stream, so most mutations stop at
 * the first mismatch and the section parsers behind it (the devices' load) would see only
 * the seed's valid bytes. fix_checksums rewrites, in place, each section's CRC and END's
 * length, count and checksum to match the (mutated) bytes, skipping RAM's padding and page
 * data as the reader does; the loader then runs on both the input and the fixed copy.
 */
static void fix_checksums(uint8_t *d, size_t n)
{
    if (n < STATE_HEADER_LEN)
        return;
    uint32_t crc = crc32c_update(0, d, STATE_HEADER_LEN);
    uint64_t pos = STATE_HEADER_LEN;
    unsigned count = 0;
    while (pos + STATE_SECTION_HDR <= n) {
        uint8_t *h = d + pos;
        uint32_t kind = (uint32_t)state_get_le(h, 4);
        uint64_t len = state_get_le(h + 8, 8);
        if (len > n || pos + STATE_SECTION_HDR + len + 4 > n)
            return;
        uint8_t *payload = h + STATE_SECTION_HDR;
        if (kind == STATE_SEC_END && len == 16) {
            state_put_le(payload, pos, 8);
            state_put_le(payload + 8, count, 4);
            state_put_le(payload + 12, crc, 4);
        }
        uint32_t c = crc32c_update(0, h, STATE_SECTION_HDR + (size_t)len);
        state_put_le(payload + len, c, 4);
        if (kind == STATE_SEC_END)
            return;
        crc = crc32c_update(crc, h, STATE_SECTION_HDR + (size_t)len + 4);
        count++;
        pos += STATE_SECTION_HDR + len + 4;
        if (kind == STATE_SEC_RAM) {
            if (len < 32)
                return;
            uint64_t start = state_get_le(payload + 16, 8), dlen = state_get_le(payload + 24, 8);
            if (start < pos || start - pos >= STATE_PAGE_SIZE || dlen > n || start + dlen > n)
                return;
            pos = start + dlen;
        }
    }
}

static int fuzz_sync(void *opaque, const struct state_section *s, struct verr *err)
{
    return multifd_recv_sync(opaque, s, err);
}

/* The same bytes as a multifd destination reads them: as the main stream (its MFD
 * announcement, then the load with SYNC sections), as a channel's hello, and as a channel's
 * stream. With no channel (n 0) every SYNC's barrier has one participant: it passes. */
static void load_multifd(struct fuzz_vm *f, const uint8_t *data, size_t size)
{
    static const bool never = false;
    struct multifd mf;
    multifd_init(&mf);
    multifd_begin(&mf, 0, &f->vm, &never);
    struct state_reader r;
    struct verr err = {0};
    if (state_reader_init_mem(&r, data, size, &err) == 0)
        multifd_recv_announce(&mf, &r, true, &err);
    state_reader_free(&r);
    if (state_reader_init_mem(&r, data, size, &err) == 0)
        vm_state_load_ex(&f->vm, &r, false, false, NULL, fuzz_sync, &mf, &err);
    state_reader_free(&r);
    unsigned index;
    multifd_hello_parse(&mf, data, size, &index, &err);
    uint64_t synced = 0;
    struct state_ram_stats st = {0};
    if (state_reader_init_mem(&r, data, size, &err) == 0)
        multifd_recv_stream(&mf, &r, &synced, &st, &err);
    state_reader_free(&r);
    multifd_destroy(&mf);
}

static void load(struct fuzz_vm *f, const uint8_t *data, size_t size)
{
    struct state_reader r;
    struct verr err = {0};
    int rc = state_reader_init_mem(&r, data, size, &err);
    if (rc == 0)
        rc = vm_state_load(&f->vm, &r, false, false, NULL, &err);
    if (getenv("FUZZ_VMSTATE_VERBOSE"))
        fprintf(stderr, "fuzz-vmstate: %s\n", rc == 0 ? "loaded" : verr_msg(&err));
    state_reader_free(&r);
    load_multifd(f, data, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_vm *f = fuzz_vm();
    load(f, data, size);
    uint8_t *fixed = malloc(size ? size : 1);
    if (!fixed)
        abort();
    memcpy(fixed, data, size);
    fix_checksums(fixed, size);
    if (memcmp(fixed, data, size))
        load(f, fixed, size);
    free(fixed);
    return 0;
}
