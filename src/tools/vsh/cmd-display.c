/*
 * cmd-display.c - vsh's display commands, as virsh prints them: vncdisplay
 * and domdisplay read the running domain's live XML (the port the daemon
 * allocated, the listen address or socket); screenshot saves the screen the
 * daemon sends down a stream; send-key presses keys on the guest's keyboard.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf/domain_conf.h"
#include "tools/vsh/commands.h"
#include "util/error.h"
#include "util/file.h"
#include "util/mem.h"

/* The live XML's first <graphics type='vnc'> (def freed by the caller), or NULL with the
 * error printed. secure: with its password. */
static struct domain_def *running_def(struct vsh_ctl *ctl, vir_domain *dom, bool secure)
{
    vir_error err;
    int state = 0, reason = 0;
    if (vir_domain_get_state(dom, &state, &reason, 0, &err) < 0) {
        vsh_error(ctl, "Failed to get domain state");
        return NULL;
    }
    if (state != VIR_DOMAIN_RUNNING) {
        vsh_error(ctl, "Domain is not running");
        return NULL;
    }
    char *xml = vir_domain_get_xml_desc(dom, secure ? VIR_DOMAIN_XML_SECURE : 0, &err);
    if (!xml) {
        vsh_report(ctl, &err);
        return NULL;
    }
    struct domain_def *def = NULL;
    struct verr verr = {0};
    if (domain_def_parse_string(xml, DOMAIN_PARSE_LIVE | DOMAIN_PARSE_GENERIC, &def, &verr) < 0)
        vsh_error(ctl, "%s", verr_msg(&verr));
    free(xml);
    return def;
}

static const struct xnode *vnc_graphics(const struct domain_def *def)
{
    for (size_t i = 0; i < def->ndevices; i++) {
        const struct xnode *n = def->devices[i].node;
        const char *t = xnode_attr(n, "type");
        if (strcmp(n->name, "graphics") == 0 && t && strcmp(t, "vnc") == 0)
            return n;
    }
    return NULL;
}

/* The listen address: the attribute, else the first <listen address=>. */
static const char *listen_address(const struct xnode *g)
{
    const char *a = xnode_attr(g, "listen");
    const struct xnode *l = xnode_child(g, "listen");
    return a ? a : l ? xnode_attr(l, "address") : NULL;
}

static bool is_wildcard(const char *a)
{
    return strcmp(a, "0.0.0.0") == 0 || strcmp(a, "::") == 0 || strcmp(a, "[::]") == 0;
}

static int vnc_port(const struct xnode *g)
{
    const char *p = xnode_attr(g, "port");
    return p ? atoi(p) : 0;
}

bool vsh_cmd_vncdisplay(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    struct domain_def *def = running_def(ctl, dom, false);
    vir_domain_free(dom);
    if (!def)
        return false;
    const struct xnode *g = vnc_graphics(def);
    bool ok = g && vnc_port(g) > 0;
    if (!ok) {
        vsh_error(ctl, "Failed to get VNC port. Is this domain using VNC?");
    } else {
        const char *a = listen_address(g);
        if (!a || is_wildcard(a))
            vsh_print(ctl, ":%d\n", vnc_port(g) - 5900);
        else
            vsh_print(ctl, "%s:%d\n", a, vnc_port(g) - 5900);
    }
    domain_def_free(def);
    return ok;
}

bool vsh_cmd_domdisplay(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    const char *type = vsh_opt_string(cmd, "type");
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    struct domain_def *def = running_def(ctl, dom, vsh_opt_bool(cmd, "include-password"));
    vir_domain_free(dom);
    if (!def)
        return false;
    /* vireo-vmm's only display is VNC (one per domain): another --type finds nothing, and
     * --all shows that one. */
    const struct xnode *g = type && strcmp(type, "vnc") != 0 ? NULL : vnc_graphics(def);
    const struct xnode *l = g ? xnode_child(g, "listen") : NULL;
    const char *lt = l ? xnode_attr(l, "type") : NULL;
    const char *sock = lt && strcmp(lt, "socket") == 0 ? xnode_attr(l, "socket") : NULL;
    int port = g ? vnc_port(g) : 0;
    bool ok = g && (sock || port > 0);
    if (!ok) {
        if (type)
            vsh_error(ctl, "No graphical display with type '%s' found", type);
        else
            vsh_error(ctl, "No graphical display found");
        domain_def_free(def);
        return false;
    }
    const char *pw = xnode_attr(g, "passwd");
    const char *addr = listen_address(g);
    if (addr && is_wildcard(addr))
        addr = NULL; /* the connection's host: a local socket has none */
    vsh_print(ctl, "vnc%s://%s%s%s", sock ? "+unix" : "", pw ? ":" : "", pw ? pw : "",
              pw ? "@" : "");
    if (sock)
        vsh_print(ctl, "%s", sock);
    else if (!addr)
        vsh_print(ctl, "localhost:%d", port - 5900);
    else if (strchr(addr, ':'))
        vsh_print(ctl, "[%s]:%d", addr, port - 5900);
    else
        vsh_print(ctl, "%s:%d", addr, port - 5900);
    if (vsh_opt_bool(cmd, "all")) /* as virsh: a newline after each display with --all only */
        vsh_print(ctl, "\n");
    domain_def_free(def);
    return true;
}

/* The file name virsh makes without --file: NAME-YYYY-MM-DD-HH:MM:SS.EXT. */
static char *screenshot_name(const char *name, const char *mime)
{
    const char *ext = strcmp(mime, "image/x-portable-pixmap") == 0 ? ".ppm"
                      : strcmp(mime, "image/png") == 0             ? ".png"
                                                                   : "";
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%d-%H:%M:%S", &tm);
    return xasprintf("%s-%s%s", name, stamp, ext);
}

/* Receives the whole stream into fd. */
static bool receive_all(vir_connect *conn, vir_stream *st, int fd, vir_error *err)
{
    char buf[65536];
    for (;;) {
        int n = vir_stream_recv(st, buf, sizeof(buf), err);
        if (n == 0)
            return true;
        if (n == -1)
            return false;
        if (n > 0) {
            if (fd_write_all(fd, buf, (size_t)n) < 0) {
                err->code = VIR_ERR_SYSTEM_ERROR;
                snprintf(err->message, sizeof(err->message), "cannot write: %s", strerror(errno));
                return false;
            }
            continue;
        }
        int r = vir_connect_process_events(conn, 30000, err);
        if (r < 0)
            return false;
        if (r == 0) {
            err->code = VIR_ERR_OPERATION_TIMEOUT;
            snprintf(err->message, sizeof(err->message), "no data for 30 seconds");
            return false;
        }
    }
}

bool vsh_cmd_screenshot(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    unsigned screen = 0;
    if (vsh_opt_uint(ctl, cmd, "screen", &screen) < 0)
        return false;
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_error err;
    char *mime = NULL;
    vir_stream *st = vir_domain_screenshot(dom, screen, 0, &mime, &err);
    if (!st) {
        vsh_error(ctl, "could not take a screenshot of %s", vir_domain_get_name(dom));
        vsh_report(ctl, &err);
        vir_domain_free(dom);
        return false;
    }
    const char *given = vsh_opt_string(cmd, "file");
    char *file = given ? xstrdup(given) : screenshot_name(vir_domain_get_name(dom), mime);
    bool ok = false;
    /* As virsh: a file that was there is overwritten, and removed on failure only when this
     * command made it. */
    bool created = true;
    int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno == EEXIST) {
        created = false;
        fd = open(file, O_WRONLY | O_TRUNC | O_CLOEXEC);
    }
    if (fd < 0) {
        vsh_error(ctl, "cannot create file %s", file);
    } else {
        bool got = receive_all(ctl->conn, st, fd, &err);
        if (!got) {
            vsh_error(ctl, "could not receive data from domain %s", vir_domain_get_name(dom));
            vsh_report(ctl, &err);
        }
        if (close(fd) < 0 && got) {
            vsh_error(ctl, "cannot close file %s", file);
            got = false;
        }
        if (got && vir_stream_finish(st, &err) < 0)
            vsh_error(ctl, "cannot close stream on domain %s", vir_domain_get_name(dom));
        else
            ok = got;
        if (!ok && created)
            unlink(file); /* no half-written image left behind */
    }
    if (ok) /* virsh ends the line itself only without -q */
        vsh_print_extra(ctl, "Screenshot saved to %s, with type of %s", file, mime);
    vir_stream_free(st);
    vir_domain_free(dom);
    free(file);
    free(mime);
    return ok;
}

static const char *const codesets[] = {"linux", "xt",     "atset1", "atset2", "atset3",
                                       "os_x",  "xt_kbd", "usb",    "win32",  "qnum"};

/* The Linux input key names vsh knows (virsh knows every codeset's names; numbers work in
 * all of them). */
static const struct {
    const char *name;
    unsigned short code;
} linux_keys[] = {
    {"KEY_ESC", 1},       {"KEY_1", 2},           {"KEY_2", 3},           {"KEY_3", 4},
    {"KEY_4", 5},         {"KEY_5", 6},           {"KEY_6", 7},           {"KEY_7", 8},
    {"KEY_8", 9},         {"KEY_9", 10},          {"KEY_0", 11},          {"KEY_MINUS", 12},
    {"KEY_EQUAL", 13},    {"KEY_BACKSPACE", 14},  {"KEY_TAB", 15},        {"KEY_Q", 16},
    {"KEY_W", 17},        {"KEY_E", 18},          {"KEY_R", 19},          {"KEY_T", 20},
    {"KEY_Y", 21},        {"KEY_U", 22},          {"KEY_I", 23},          {"KEY_O", 24},
    {"KEY_P", 25},        {"KEY_LEFTBRACE", 26},  {"KEY_RIGHTBRACE", 27}, {"KEY_ENTER", 28},
    {"KEY_LEFTCTRL", 29}, {"KEY_A", 30},          {"KEY_S", 31},          {"KEY_D", 32},
    {"KEY_F", 33},        {"KEY_G", 34},          {"KEY_H", 35},          {"KEY_J", 36},
    {"KEY_K", 37},        {"KEY_L", 38},          {"KEY_SEMICOLON", 39},  {"KEY_APOSTROPHE", 40},
    {"KEY_GRAVE", 41},    {"KEY_LEFTSHIFT", 42},  {"KEY_BACKSLASH", 43},  {"KEY_Z", 44},
    {"KEY_X", 45},        {"KEY_C", 46},          {"KEY_V", 47},          {"KEY_B", 48},
    {"KEY_N", 49},        {"KEY_M", 50},          {"KEY_COMMA", 51},      {"KEY_DOT", 52},
    {"KEY_SLASH", 53},    {"KEY_RIGHTSHIFT", 54}, {"KEY_KPASTERISK", 55}, {"KEY_LEFTALT", 56},
    {"KEY_SPACE", 57},    {"KEY_CAPSLOCK", 58},   {"KEY_F1", 59},         {"KEY_F2", 60},
    {"KEY_F3", 61},       {"KEY_F4", 62},         {"KEY_F5", 63},         {"KEY_F6", 64},
    {"KEY_F7", 65},       {"KEY_F8", 66},         {"KEY_F9", 67},         {"KEY_F10", 68},
    {"KEY_NUMLOCK", 69},  {"KEY_SCROLLLOCK", 70}, {"KEY_KP7", 71},        {"KEY_KP8", 72},
    {"KEY_KP9", 73},      {"KEY_KPMINUS", 74},    {"KEY_KP4", 75},        {"KEY_KP5", 76},
    {"KEY_KP6", 77},      {"KEY_KPPLUS", 78},     {"KEY_KP1", 79},        {"KEY_KP2", 80},
    {"KEY_KP3", 81},      {"KEY_KP0", 82},        {"KEY_KPDOT", 83},      {"KEY_102ND", 86},
    {"KEY_F11", 87},      {"KEY_F12", 88},        {"KEY_KPENTER", 96},    {"KEY_RIGHTCTRL", 97},
    {"KEY_KPSLASH", 98},  {"KEY_SYSRQ", 99},      {"KEY_RIGHTALT", 100},  {"KEY_HOME", 102},
    {"KEY_UP", 103},      {"KEY_PAGEUP", 104},    {"KEY_LEFT", 105},      {"KEY_RIGHT", 106},
    {"KEY_END", 107},     {"KEY_DOWN", 108},      {"KEY_PAGEDOWN", 109},  {"KEY_INSERT", 110},
    {"KEY_DELETE", 111},  {"KEY_PAUSE", 119},     {"KEY_LEFTMETA", 125},  {"KEY_RIGHTMETA", 126},
    {"KEY_COMPOSE", 127},
};

static bool parse_keycode(unsigned codeset, const char *s, unsigned *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 0);
    if (*s && !*end && !errno && v >= 0 && v <= 0xffff) {
        *out = (unsigned)v;
        return true;
    }
    if (codeset == VIR_KEYCODE_SET_LINUX)
        for (size_t i = 0; i < sizeof(linux_keys) / sizeof(linux_keys[0]); i++)
            if (strcmp(linux_keys[i].name, s) == 0) {
                *out = linux_keys[i].code;
                return true;
            }
    return false;
}

bool vsh_cmd_send_key(struct vsh_ctl *ctl, const struct vsh_cmd *cmd)
{
    const char *cs = vsh_opt_string(cmd, "codeset");
    unsigned codeset = VIR_KEYCODE_SET_LINUX;
    if (cs) {
        for (codeset = 0; codeset < sizeof(codesets) / sizeof(codesets[0]); codeset++)
            if (strcmp(codesets[codeset], cs) == 0)
                break;
        if (codeset == sizeof(codesets) / sizeof(codesets[0])) {
            vsh_error(ctl, "unknown codeset: '%s'", cs);
            return false;
        }
    }
    unsigned holdtime = 0;
    if (vsh_opt_uint(ctl, cmd, "holdtime", &holdtime) < 0)
        return false;
    const char *words[VIR_DOMAIN_SEND_KEY_MAX_KEYS + 1];
    int n = vsh_opt_argv(cmd, "keycode", words, VIR_DOMAIN_SEND_KEY_MAX_KEYS + 1);
    if (n > VIR_DOMAIN_SEND_KEY_MAX_KEYS) {
        vsh_error(ctl, "too many keycodes");
        return false;
    }
    unsigned codes[VIR_DOMAIN_SEND_KEY_MAX_KEYS];
    for (int i = 0; i < n; i++)
        if (!parse_keycode(codeset, words[i], &codes[i])) {
            vsh_error(ctl, "invalid keycode: '%s'", words[i]);
            return false;
        }
    vir_domain *dom = vsh_lookup_domain(ctl, cmd, NULL);
    if (!dom)
        return false;
    vir_error err;
    bool ok = vir_domain_send_key(dom, codeset, holdtime, codes, n, 0, &err) == 0;
    if (!ok)
        vsh_report(ctl, &err);
    vir_domain_free(dom);
    return ok;
}
