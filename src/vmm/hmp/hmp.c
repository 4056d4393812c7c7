/*
 * hmp.c - the human monitor's commands (see hmp.h). Each command parses its words as QEMU's
 * monitor parses its argument types, runs the QMP command of the room that owns the
 * operation (qmp_server_execute), and prints what QEMU 7.2 prints: nothing for actions,
 * hmp-format.c's text for `info`, "Error: ..." for a QMP error, and QEMU's lines for a bad
 * command line. Commands whose room is not in vireo-vmm are unknown commands, as in a QEMU
 * built without them.
 */
#include "vmm/hmp/hmp.h"
#include "qmp/qmp-server.h"
#include "util/mem.h"
#include "util/str.h"
#include "vmm/dev/chardev.h"
#include "vmm/hmp/hmp-format.h"
#include "vmm/hmp/hmp-monitor.h"
#include "block/block.h"
#include "vmm/dev/blockdev.h"
#include "vmm/display/keymap.h"
#include "vmm/kvm/memory.h"
#include "vmm/state/migration.h"
#include "vmm/state/snapshot.h"
#include "vmm/vm.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HMP_MAX_WORDS 8
#define XP_MAX_BYTES  (1u << 20) /* one xp's dump: a reply stays a few MiB */

struct hmp {
    struct vm *vm;
    struct qmp_server *server;
    struct qmp_session *session; /* HMP's own, for the QMP commands it runs */
    char xp_format;              /* xp's last /fmt, remembered as QEMU remembers it */
    unsigned xp_size;
    struct hmp_monitor *chardev_mon;
};

struct hmp_cmd;
typedef void (*hmp_fn)(struct hmp *h, struct hmp_monitor *mon, const struct hmp_cmd *cmd,
                       char **words, int n, struct buf *out);

struct hmp_cmd {
    const char *names; /* "stop|s" */
    const char *params;
    const char *help;
    hmp_fn fn;
    const char *qmp; /* for plain actions */
    int max_words;   /* arguments beyond the name it takes (extra ones are refused) */
};

static void usage_error(const struct hmp_cmd *cmd, const char *what, struct buf *out)
{
    char first[32];
    size_t n = strcspn(cmd->names, "|");
    snprintf(first, sizeof(first), "%.*s", (int)n, cmd->names);
    buf_printf(out, "%s\nTry \"help %s\" for more information\n", what, first);
}

/* Runs a QMP command; prints "Error: ..." and returns NULL-with-false on failure. */
static bool run_qmp(struct hmp *h, const char *name, struct json_object *args,
                    struct json_object **ret, struct buf *out)
{
    struct qmp_error err = {0};
    int r = qmp_server_execute(h->session, name, args, ret, &err);
    json_object_put(args);
    if (r < 0) {
        if (err.cls == QMP_ERROR_COMMAND_NOT_FOUND)
            buf_printf(out, "Error: The command %s has not been found\n", name);
        else
            buf_printf(out, "Error: %s\n", err.desc);
        return false;
    }
    return true;
}

static void cmd_action(struct hmp *h, struct hmp_monitor *mon, const struct hmp_cmd *cmd,
                       char **words, int n, struct buf *out)
{
    (void)mon;
    (void)words;
    (void)n;
    struct json_object *ret = NULL;
    if (run_qmp(h, cmd->qmp, NULL, &ret, out))
        json_object_put(ret);
}

/* QEMU's 'i' and 'l' argument types: a C-style integer (0x, 0 prefixes). */
struct why {
    char text[48];
};

static int parse_int(const char *s, int64_t *v, struct why *why)
{
    if (!s) {
        snprintf(why->text, sizeof(why->text), "unexpected end of expression");
        return -1;
    }
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 0);
    if (end == s || *end) {
        snprintf(why->text, sizeof(why->text), "invalid char '%c' in expression",
                 end == s ? s[0] : *end);
        return -1;
    }
    if (errno) {
        snprintf(why->text, sizeof(why->text), "number too large");
        return -1;
    }
    *v = x;
    return 0;
}

/* QEMU's 'o' argument type: a size in bytes with an optional k/M/G/T suffix. */
static int parse_size(const char *s, int64_t *v)
{
    uint64_t x;
    if (!s || str_parse_size(s, 1, &x) < 0 || x > INT64_MAX)
        return -1;
    *v = (int64_t)x;
    return 0;
}

static void cmd_balloon(struct hmp *h, struct hmp_monitor *mon, const struct hmp_cmd *cmd,
                        char **words, int n, struct buf *out)
{
    (void)mon;
    int64_t mib;
    struct why why;
    if (parse_int(n > 0 ? words[0] : NULL, &mib, &why) < 0) {
        usage_error(cmd, why.text, out);
        return;
    }
    struct json_object *args = json_object_new_object(), *ret = NULL;
    json_object_object_add(args, "value", json_object_new_int64(mib * 1024 * 1024));
    if (run_qmp(h, "balloon", args, &ret, out))
        json_object_put(ret);
}

static void cmd_block_resize(struct hmp *h, struct hmp_monitor *mon, const struct hmp_cmd *cmd,
                             char **words, int n, struct buf *out)
{
    (void)mon;
    int64_t size;
    if (n < 1) {
        usage_error(cmd, "Parameter 'device' is missing", out);
        return;
    }
    if (parse_size(n > 1 ? words[1] : NULL, &size) < 0) {
        usage_error(cmd, "invalid size", out);
        return;
    }
    struct json_object *args = json_object_new_object(), *ret = NULL;
    json_object_object_add(args, "device", json_object_new_string(words[0]));
    json_object_object_add(args, "size", json_object_new_int64(size));
    if (run_qmp(h, "block_resize", args, &ret, out))
        json_object_put(ret);
}

/* xp /[count][format][size] addr: guest physical memory in hex, 16 bytes a line (8 for
 * bytes), the format and size remembered for the next xp as QEMU does. Formats other than
 * x are refused with a line (vireo-vmm prints hex only), and so is a dump of more than
 * XP_MAX_BYTES (QEMU would build a reply of any size). */
static void cmd_xp(struct hmp *h, struct hmp_monitor *mon, const struct hmp_cmd *cmd, char **words,
                   int n, struct buf *out)
{
    (void)mon;
    unsigned count = 1, size = h->xp_size;
    char format = h->xp_format;
    int ai = 0;
    if (n > 0 && words[0][0] == '/') {
        const char *p = words[0] + 1;
        if (isdigit((unsigned char)*p))
            count = (unsigned)strtoul(p, (char **)&p, 10);
        for (; *p; p++) {
            switch (*p) {
            case 'x':
            case 'd':
            case 'u':
            case 'o':
            case 'c':
            case 'i':
                format = *p;
                break;
            case 'b':
                size = 1;
                break;
            case 'h':
                size = 2;
                break;
            case 'w':
                size = 4;
                break;
            case 'g':
            case 'l':
                size = 8;
                break;
            default:
                usage_error(cmd, "invalid char in format", out);
                return;
            }
        }
        ai = 1;
    }
    if (format != 'x') {
        buf_printf(out, "xp: format '%c' is not supported by vireo-vmm (use x)\n", format);
        return;
    }
    int64_t addr;
    struct why why;
    if (parse_int(n > ai ? words[ai] : NULL, &addr, &why) < 0) {
        usage_error(cmd, why.text, out);
        return;
    }
    if ((uint64_t)count * size > XP_MAX_BYTES) {
        buf_printf(out, "xp: at most %u bytes at once\n", XP_MAX_BYTES);
        return;
    }
    h->xp_format = format;
    h->xp_size = size;
    unsigned line = size == 1 ? 8 : 16;
    uint64_t total = (uint64_t)count * size;
    for (uint64_t off = 0; off < total; off += line) {
        buf_printf(out, "%016" PRIx64 ":", (uint64_t)addr + off);
        for (uint64_t i = off; i < off + line && i < total; i += size) {
            const uint8_t *p = guest_mem_ptr(&h->vm->mem, (uint64_t)addr + i, size);
            if (!p) {
                buf_printf(out, "\nCannot access memory\n");
                return;
            }
            uint64_t v = 0;
            memcpy(&v, p, size); /* x86 is little-endian, as the guest sees it */
            buf_printf(out, " 0x%0*" PRIx64, (int)size * 2, v);
        }
        buf_append_str(out, "\n");
    }
}

/* sendkey keys [hold_ms]: keys joined by '-', each a QKeyCode name or a 0x number ("<" is
 * "less", as QEMU's monitor reads it), pressed together through QMP send-key. */
static void cmd_sendkey(struct hmp *h, struct hmp_monitor *mon, const struct hmp_cmd *cmd,
                        char **words, int n, struct buf *out)
{
    (void)mon;
    if (n < 1) {
        usage_error(cmd, "sendkey: string expected", out);
        return;
    }
    int64_t hold = -1;
    struct why why;
    if (n > 1 && parse_int(words[1], &hold, &why) < 0) {
        usage_error(cmd, why.text, out);
        return;
    }
    struct json_object *keys = json_object_new_array();
    for (const char *k = words[0];;) {
        size_t len = strcspn(k, "-");
        char name[32];
        if (len == 1 && k[0] == '<')
            snprintf(name, sizeof(name), "less");
        else
            snprintf(name, sizeof(name), "%.*s", (int)(len < sizeof(name) ? len : 0), k);
        struct json_object *kv = json_object_new_object();
        if (!strncmp(name, "0x", 2)) {
            char *end;
            unsigned long v = strtoul(name, &end, 0);
            if (*end || len >= sizeof(name)) {
                json_object_put(kv);
                goto invalid;
            }
            json_object_object_add(kv, "type", json_object_new_string("number"));
            json_object_object_add(kv, "data", json_object_new_int64((int64_t)v));
        } else {
            if (!name[0] || !keymap_qcode_to_qnum(name)) {
                json_object_put(kv);
                goto invalid;
            }
            json_object_object_add(kv, "type", json_object_new_string("qcode"));
            json_object_object_add(kv, "data", json_object_new_string(name));
        }
        json_object_array_add(keys, kv);
        if (!k[len])
            break;
        k += len + 1;
        continue;
    invalid:
        buf_printf(out, "invalid parameter: %.*s\n", (int)len, k);
        json_object_put(keys);
        return;
    }
    struct json_object *args = json_object_new_object(), *ret = NULL;
    json_object_object_add(args, "keys", keys);
    if (hold >= 0)
        json_object_object_add(args, "hold-time", json_object_new_int64(hold));
    if (run_qmp(h, "send-key", args, &ret, out))
        json_object_put(ret);
}

/* screendump filename [-f format] [device [head]] */
static void cmd_screendump(struct hmp *h, struct hmp_monitor *mon, const struct hmp_cmd *cmd,
                           char **words, int n, struct buf *out)
{
    (void)mon;
    if (n < 1) {
        usage_error(cmd, "screendump: filename expected", out);
        return;
    }
    struct json_object *args = json_object_new_object(), *ret = NULL;
    json_object_object_add(args, "filename", json_object_new_string(words[0]));
    int i = 1;
    if (i < n && !strcmp(words[i], "-f")) {
        if (i + 1 >= n) {
            json_object_put(args);
            usage_error(cmd, "screendump: format expected", out);
            return;
        }
        json_object_object_add(args, "format", json_object_new_string(words[i + 1]));
        i += 2;
    }
    if (i < n)
        json_object_object_add(args, "device", json_object_new_string(words[i++]));
    if (i < n) {
        int64_t head;
        struct why why;
        if (parse_int(words[i], &head, &why) < 0) {
            json_object_put(args);
            usage_error(cmd, why.text, out);
            return;
        }
        json_object_object_add(args, "head", json_object_new_int64(head));
    }
    if (run_qmp(h, "screendump", args, &ret, out))
        json_object_put(ret);
}

/* savevm [tag], loadvm tag, delvm tag: done before the monitor answers, as QEMU's. */
static void cmd_snapshot(struct hmp *h, struct hmp_monitor *mon, const struct hmp_cmd *cmd,
                         char **words, int n, struct buf *out)
{
    (void)mon;
    enum snapshot_op op = cmd->names[0] == 's'   ? SNAPSHOT_OP_SAVE
                          : cmd->names[0] == 'l' ? SNAPSHOT_OP_LOAD
                                                 : SNAPSHOT_OP_DELETE;
    if (op != SNAPSHOT_OP_SAVE && n < 1) {
        char what[32];
        snprintf(what, sizeof(what), "%s: string expected", cmd->names);
        usage_error(cmd, what, out);
        return;
    }
    struct snapshot_jobs *j = migration_snapshot_jobs(h->vm->migration);
    struct verr err = {0};
    if (!j)
        verr_set(&err, ENOTSUP, "no block device can store vmstate for snapshot");
    else if (snapshot_run_now(j, op, n > 0 ? words[0] : NULL, &err) == 0)
        return;
    buf_printf(out, "Error: %s\n", verr_msg(&err));
}

struct snap_image {
    const char *name;
    struct block_snapshot *list;
    size_t count;
    bool *shown; /* listed among the snapshots present on every disk */
};

static bool image_has(const struct snap_image *im, const char *tag)
{
    for (size_t i = 0; i < im->count; i++)
        if (!strcmp(im->list[i].name, tag))
            return true;
    return false;
}

/* info snapshots: the first snapshot-capable drive's snapshots that every such drive has
 * (QEMU prints "--" for their ids), then each drive's others, "partial (non-loadable)". */
static void info_snapshots(struct hmp *h, struct buf *out)
{
    struct snap_image ims[VMM_MAX_DRIVES];
    unsigned nr = 0;
    size_t total = 0;
    for (unsigned i = 0; i < VMM_MAX_DRIVES; i++) {
        struct blockdev *b = h->vm->blockdevs[i];
        if (!b || !b->drive->id || !blockdev_inserted(b) || blockdev_read_only(b) ||
            strcmp(block_format(blockdev_bd(b)), "qcow2"))
            continue;
        struct snap_image *im = &ims[nr];
        struct verr err = {0};
        if (block_snapshot_list(blockdev_bd(b), &im->list, &im->count, &err) < 0) {
            buf_printf(out, "%s\n", verr_msg(&err));
            goto out;
        }
        im->name = b->drive->id;
        im->shown = xcalloc(im->count + 1, sizeof(bool));
        total += im->count;
        nr++;
    }
    if (!nr) {
        buf_printf(out, "no block device can store vmstate for snapshot\n");
        return;
    }
    if (!total) {
        buf_printf(out, "There is no snapshot available.\n");
        goto out;
    }
    buf_printf(out, "List of snapshots present on all disks:\n");
    bool any = false;
    for (size_t i = 0; i < ims[0].count; i++) {
        const char *tag = ims[0].list[i].name;
        bool everywhere = true;
        for (unsigned k = 1; k < nr && everywhere; k++)
            everywhere = image_has(&ims[k], tag);
        if (!everywhere)
            continue;
        if (!any)
            block_snapshot_table_header(out);
        any = true;
        block_snapshot_table_row(out, &ims[0].list[i], "--");
        for (unsigned k = 0; k < nr; k++)
            for (size_t m = 0; m < ims[k].count; m++)
                if (!strcmp(ims[k].list[m].name, tag))
                    ims[k].shown[m] = true;
    }
    if (!any)
        buf_printf(out, "None\n");
    for (unsigned k = 0; k < nr; k++) {
        bool header = false;
        for (size_t m = 0; m < ims[k].count; m++) {
            if (ims[k].shown[m])
                continue;
            if (!header) {
                buf_printf(out, "\nList of partial (non-loadable) snapshots on '%s':\n",
                           ims[k].name);
                block_snapshot_table_header(out);
                header = true;
            }
            block_snapshot_table_row(out, &ims[k].list[m], NULL);
        }
    }
out:
    for (unsigned k = 0; k < nr; k++) {
        block_snapshot_list_free(ims[k].list, ims[k].count);
        free(ims[k].shown);
    }
}

static void cmd_info(struct hmp *h, struct hmp_monitor *mon, const struct hmp_cmd *cmd,
                     char **words, int n, struct buf *out);
static void cmd_help(struct hmp *h, struct hmp_monitor *mon, const struct hmp_cmd *cmd,
                     char **words, int n, struct buf *out);

/* Sorted as QEMU's help lists them. */
static const struct hmp_cmd commands[] = {
    {"balloon", "target", "request VM to change its memory allocation (in MB)", cmd_balloon, NULL,
     1},
    {"block_resize", "device size", "resize a block image", cmd_block_resize, NULL, 2},
    {"cont|c", "", "resume emulation", cmd_action, "cont", 0},
    {"delvm", "tag", "delete a VM snapshot from its tag", cmd_snapshot, NULL, 1},
    {"help|?", "[cmd]", "show the help", cmd_help, NULL, 2},
    {"info", "[subcommand]", "show various information about the system state", cmd_info, NULL, 2},
    {"loadvm", "tag", "restore a VM snapshot from its tag", cmd_snapshot, NULL, 1},
    {"quit|q", "", "quit the emulator", cmd_action, "quit", 0},
    {"savevm", "tag", "save a VM snapshot. If no tag is provided, a new snapshot is created",
     cmd_snapshot, NULL, 1},
    {"screendump", "filename [-f format] [device [head]]",
     "save screen from head 'head' of display device 'device'in specified format 'format' as "
     "image 'filename'.Currently only 'png' and 'ppm' formats are supported.",
     cmd_screendump, NULL, 5},
    {"sendkey", "keys [hold_ms]",
     "send keys to the VM (e.g. 'sendkey ctrl-alt-f1', default hold time=100 ms)", cmd_sendkey,
     NULL, 2},
    {"stop|s", "", "stop emulation", cmd_action, "stop", 0},
    {"system_powerdown", "", "send system power down event", cmd_action, "system_powerdown", 0},
    {"system_reset", "", "reset the system", cmd_action, "system_reset", 0},
    {"xp", "/fmt addr", "physical memory dump starting at 'addr'", cmd_xp, NULL, 2},
    {NULL, NULL, NULL, NULL, NULL, 0},
};

static bool name_matches(const char *names, const char *word)
{
    size_t len = strlen(word);
    for (const char *p = names; *p;) {
        size_t n = strcspn(p, "|");
        if (n == len && !strncmp(p, word, n))
            return true;
        p += n + (p[n] == '|');
    }
    return false;
}

static const struct hmp_cmd *find_cmd(const char *word)
{
    for (const struct hmp_cmd *c = commands; c->names; c++)
        if (name_matches(c->names, word))
            return c;
    return NULL;
}

static const struct hmp_info *find_info(const char *word)
{
    for (const struct hmp_info *i = hmp_infos; i->name; i++)
        if (!strcmp(i->name, word))
            return i;
    return NULL;
}

static void info_help_line(const struct hmp_info *i, struct buf *out)
{
    buf_printf(out, "info %s %s -- %s\n", i->name, !strcmp(i->name, "block") ? "[device]" : "",
               i->help);
}

static void cmd_help(struct hmp *h, struct hmp_monitor *mon, const struct hmp_cmd *cmd,
                     char **words, int n, struct buf *out)
{
    (void)h;
    (void)mon;
    (void)cmd;
    if (n >= 1 && !strcmp(words[0], "info")) {
        for (const struct hmp_info *i = hmp_infos; i->name; i++)
            if (n == 1 || !strcmp(i->name, words[1]))
                info_help_line(i, out);
        return;
    }
    bool any = false;
    for (const struct hmp_cmd *c = commands; c->names; c++) {
        if (n >= 1 && !name_matches(c->names, words[0]))
            continue;
        buf_printf(out, "%s %s -- %s\n", c->names, c->params, c->help);
        any = true;
    }
    if (!any)
        buf_printf(out, "unknown command: '%s'\n", words[0]);
}

static void cmd_info(struct hmp *h, struct hmp_monitor *mon, const struct hmp_cmd *cmd,
                     char **words, int n, struct buf *out)
{
    (void)cmd;
    if (n == 0) {
        for (const struct hmp_info *i = hmp_infos; i->name; i++)
            info_help_line(i, out);
        return;
    }
    const struct hmp_info *info = find_info(words[0]);
    if (!info) {
        buf_printf(out, "unknown command: 'info %s'\n", words[0]);
        return;
    }
    bool takes_device = !strcmp(info->name, "block");
    if (n > (takes_device ? 2 : 1)) {
        buf_printf(out, "%s: extraneous characters at the end of line\n", info->name);
        buf_printf(out, "Try \"help info %s\" for more information\n", info->name);
        return;
    }
    if (!info->qmp) { /* printed by the monitor itself */
        if (!strcmp(info->name, "usb"))
            buf_printf(out, "Error: USB support not enabled\n"); /* vireo-vmm has no USB */
        else
            info_snapshots(h, out);
        return;
    }
    struct json_object *ret = NULL;
    if (!run_qmp(h, info->qmp, NULL, &ret, out))
        return;
    if (takes_device && n == 2 && json_object_is_type(ret, json_type_array)) {
        /* info block DEVICE: that device only (nothing when there is none, as QEMU). */
        struct json_object *only = json_object_new_array();
        for (size_t i = 0; i < json_object_array_length(ret); i++) {
            struct json_object *d = json_object_array_get_idx(ret, i), *dev = NULL;
            if (json_object_object_get_ex(d, "device", &dev) &&
                !strcmp(json_object_get_string(dev), words[1]))
                json_object_array_add(only, json_object_get(d));
        }
        json_object_put(ret);
        ret = only;
    }
    info->format(ret, hmp_monitor_cpu(mon), out);
    json_object_put(ret);
}

void hmp_crlf(struct buf *out, const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\n')
            buf_append_byte(out, '\r');
        buf_append_byte(out, (uint8_t)text[i]);
    }
}

void hmp_run_line(struct hmp *h, struct hmp_monitor *mon, const char *line, struct buf *out)
{
    char *copy = xstrdup(line);
    char *words[HMP_MAX_WORDS + 1];
    int n = 0;
    for (char *save = NULL, *w = strtok_r(copy, " \t\r\n", &save); w;
         w = strtok_r(NULL, " \t\r\n", &save)) {
        if (n == HMP_MAX_WORDS + 1)
            break;
        words[n++] = w;
    }
    if (n == 0) {
        free(copy);
        return;
    }
    const struct hmp_cmd *cmd = find_cmd(words[0]);
    if (!cmd) {
        buf_printf(out, "unknown command: '%s'\n", words[0]);
    } else if (n - 1 > cmd->max_words) {
        buf_printf(out, "%s: extraneous characters at the end of line\n", cmd->names);
        buf_printf(out, "Try \"help %s\" for more information\n", words[0]);
    } else if (cmd->fn == cmd_info && n > 1 && !find_info(words[1])) {
        buf_printf(out, "unknown command: 'info %s'\n", words[1]);
    } else {
        cmd->fn(h, mon, cmd, words + 1, n - 1, out);
    }
    free(copy);
}

/* human-monitor-command {"command-line": LINE, "cpu-index": N}: the output as a string. */
static int qmp_human_monitor_command(struct qmp_session *ss, struct json_object *args,
                                     struct json_object **ret, struct qmp_error *err, void *opaque)
{
    (void)ss;
    struct hmp *h = opaque;
    struct json_object *jc = NULL, *jline = NULL;
    struct hmp_monitor *mon = hmp_monitor_new_detached(h);
    if (json_object_object_get_ex(args, "cpu-index", &jc)) {
        int64_t cpu = json_object_get_int64(jc);
        if (cpu < 0 || cpu >= (int64_t)h->vm->nr_vcpus) {
            hmp_monitor_free(mon);
            return qmp_error_set(err, QMP_ERROR_GENERIC,
                                 "Parameter 'cpu-index' expects a CPU number");
        }
        hmp_monitor_set_cpu(mon, (int)cpu);
    }
    json_object_object_get_ex(args, "command-line", &jline);
    struct buf text, out;
    buf_init(&text);
    buf_init(&out);
    hmp_run_line(h, mon, json_object_get_string(jline), &text);
    hmp_crlf(&out, (const char *)text.data, text.len);
    buf_append_byte(&out, 0);
    *ret = json_object_new_string((const char *)out.data);
    buf_free(&text);
    buf_free(&out);
    hmp_monitor_free(mon);
    return 0;
}

static void discard(void *opaque, const char *data, size_t len)
{
    (void)opaque;
    (void)data;
    (void)len;
}

int hmp_create(struct vm *vm, struct qmp_server *server, struct hmp **out, struct verr *err)
{
    static const struct qmp_arg args[] = {
        {"command-line", QMP_ARG_STRING, false}, {"cpu-index", QMP_ARG_INT, true}, {NULL}};
    struct hmp *h = xcalloc(1, sizeof(*h));
    h->vm = vm;
    h->server = server;
    h->xp_format = 'x';
    h->xp_size = 4;
    h->session = qmp_session_new(server, discard, NULL);
    int r =
        qmp_server_register(server, "human-monitor-command", args, qmp_human_monitor_command, h);
    if (r < 0) {
        hmp_free(h);
        return verr_set(err, -r, "QMP: cannot register human-monitor-command");
    }
    *out = h;
    return 0;
}

void hmp_attach_chardev(struct hmp *h, struct chardev *c)
{
    h->chardev_mon = hmp_monitor_new_chardev(h, c);
}

void hmp_free(struct hmp *h)
{
    if (!h)
        return;
    hmp_monitor_free(h->chardev_mon);
    qmp_session_free(h->session);
    free(h);
}
