/*
 * test-qmp-golden.c - replays the requests recorded from the real QEMU 7.2
 * (golden/qemu-7.2-*.txt, made by golden/record-qemu.py) against Vireo's QMP
 * server with the test VM, and compares every reply line byte for byte,
 * after masking what must differ: event timestamps, the greeting's package
 * string and vCPU thread ids.
 */
#include "../tap.h"
#include "qmp-test-vm.h"
#include "util/file.h"
#include "util/mem.h"

#include <errno.h>
#include <poll.h>
#include <regex.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Replaces every match of re in s with repl; returns a new string. */
static char *mask_one(const char *s, const char *re, const char *repl)
{
    regex_t rx;
    if (regcomp(&rx, re, REG_EXTENDED))
        abort();
    struct buf out = BUF_INIT;
    regmatch_t m;
    while (regexec(&rx, s, 1, &m, 0) == 0) {
        buf_append(&out, s, (size_t)m.rm_so);
        buf_append_str(&out, repl);
        s += m.rm_eo;
        if (m.rm_eo == 0)
            break;
    }
    buf_append_str(&out, s);
    regfree(&rx);
    return buf_detach(&out, NULL);
}

static char *mask(const char *line)
{
    char *a = mask_one(line, "\"seconds\": [0-9]+, \"microseconds\": [0-9]+",
                       "\"seconds\": S, \"microseconds\": U");
    char *b = mask_one(a, "\"package\": \"[^\"]*\"", "\"package\": \"P\"");
    char *c = mask_one(b, "\"thread-id\": [0-9]+, \"props\"", "\"thread-id\": T, \"props\"");
    free(a);
    free(b);
    return c;
}

/* Decodes a ">x " request: \xHH escapes, everything else literal. */
static void unescape(struct buf *out, const char *s)
{
    while (*s) {
        unsigned v;
        if (s[0] == '\\' && s[1] == 'x' && sscanf(s + 2, "%2x", &v) == 1) {
            buf_append_byte(out, (uint8_t)v);
            s += 4;
        } else {
            buf_append_byte(out, (uint8_t)*s++);
        }
    }
}

struct reader {
    int fd;
    struct buf in;
};

/* Reads one "\r\n"-terminated line (without it); NULL after 5 s or EOF. */
static char *read_line(struct reader *r, int timeout_ms)
{
    for (;;) {
        char *nl = r->in.len ? memmem(r->in.data, r->in.len, "\r\n", 2) : NULL;
        if (nl) {
            size_t n = (size_t)(nl - (char *)r->in.data);
            char *line = xstrndup((char *)r->in.data, n);
            buf_consume(&r->in, n + 2);
            return line;
        }
        struct pollfd pfd = {.fd = r->fd, .events = POLLIN};
        if (poll(&pfd, 1, timeout_ms) <= 0)
            return NULL;
        char chunk[65536];
        ssize_t got = recv(r->fd, chunk, sizeof(chunk), 0);
        if (got <= 0)
            return NULL;
        buf_append(&r->in, chunk, (size_t)got);
    }
}

static int connect_to(const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(a.sun_path))
        return -1;
    memcpy(a.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void replay(const char *file, const char *sock)
{
    struct buf content = BUF_INIT;
    struct verr err = {0};
    if (file_read_all(file, 1 << 20, &content, &err) < 0) {
        ok(0, "read %s: %s", file, verr_msg(&err));
        return;
    }
    char *text = buf_detach(&content, NULL);
    const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
    struct reader r = {-1, BUF_INIT};
    int lines = 0, mismatches = 0, sessions = 0;
    const char *last_req = "(greeting)";
    char *save;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (!strcmp(line, "== session")) {
            if (r.fd >= 0)
                close(r.fd);
            buf_reset(&r.in);
            r.fd = connect_to(sock);
            sessions++;
            last_req = "(greeting)";
            continue;
        }
        if (!strncmp(line, "> ", 2) || !strncmp(line, ">x ", 3)) {
            bool hex = line[1] == 'x';
            last_req = line + (hex ? 3 : 2);
            struct buf req = BUF_INIT;
            if (hex)
                unescape(&req, last_req);
            else
                buf_append_str(&req, last_req);
            buf_append_byte(&req, '\n');
            ssize_t w = send(r.fd, req.data, req.len, MSG_NOSIGNAL);
            (void)w;
            buf_free(&req);
            continue;
        }
        if (strncmp(line, "< ", 2))
            continue;
        lines++;
        char *got = read_line(&r, 5000);
        char *want_m = mask(line + 2);
        char *got_m = got ? mask(got) : xstrdup("(nothing)");
        if (strcmp(want_m, got_m)) {
            mismatches++;
            tap_diag("%s: after %s", base, last_req);
            tap_diag("  qemu : %s", want_m);
            tap_diag("  vireo: %s", got_m);
        }
        free(got);
        free(want_m);
        free(got_m);
    }
    if (r.fd >= 0)
        close(r.fd);
    buf_free(&r.in);
    free(text);
    ok(mismatches == 0 && lines > 0,
       "%s: %d sessions, %d reply lines identical to QEMU 7.2 (%d differ)", base, sessions,
       lines - mismatches, mismatches);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        printf("usage: %s GOLDEN_DIR [QMP_SOCKET]\n"
               "  without QMP_SOCKET, replays against an in-process server and a test VM;\n"
               "  with it, against a running VMM started like the recording QEMU:\n"
               "  -S -smp 2 -name testvm -uuid 12345678-1234-1234-1234-123456789abc\n",
               argv[0]);
        return 2;
    }
    struct test_qmp_host h;
    const char *sock = argc > 2 ? argv[2] : NULL;
    /* The same version numbers as the QEMU that recorded the files. */
    struct qmp_server_config cfg = {.major = 7, .minor = 2, .micro = 22, .package = "vireo-test"};
    if (!sock) {
        if (test_qmp_host_start(&h, &cfg) < 0)
            tap_skip_all("cannot start the QMP test server");
        sock = h.path;
    }
    static const char *files[] = {"negotiation", "commands", "errors", "parse", "binary", "quit"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/qemu-7.2-%s.txt", argv[1], files[i]);
        replay(path, sock);
    }
    if (argc <= 2)
        test_qmp_host_stop(&h);
    return tap_done();
}
