/*
 * test-hmp-format.c - the human monitor's `info` texts made by vireo-vmm's formatters from
 * QEMU 7.2's own QMP replies must equal QEMU's own HMP text for them (golden/hmp/README).
 */
#include "../tap.h"
#include "vmm/hmp/hmp-format.h"
#include "vmm/hmp/hmp.h"

#include <json-c/json.h>
#include <stdbool.h>

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *data = calloc(1, 1 << 20);
    size_t n = fread(data, 1, (1 << 20) - 1, f);
    data[n] = '\0';
    fclose(f);
    return data;
}

static void check(const char *dir, const char *file, const char *info)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s.json", dir, file);
    struct json_object *ret = json_object_from_file(path);
    snprintf(path, sizeof(path), "%s/%s.txt", dir, file);
    char *want = slurp(path);
    const struct hmp_info *fmt = NULL;
    for (const struct hmp_info *i = hmp_infos; i->name; i++)
        if (!strcmp(i->name, info))
            fmt = i;
    if (!ret || !want || !fmt) {
        ok(0, "info %s (%s): golden files and formatter present", info, file);
        free(want);
        json_object_put(ret);
        return;
    }
    struct buf text, out;
    buf_init(&text);
    buf_init(&out);
    fmt->format(ret, 0, &text);
    hmp_crlf(&out, (const char *)text.data, text.len); /* as the monitor sends it */
    buf_free(&text);
    buf_append_byte(&out, 0);
    if (!ok(!strcmp((const char *)out.data, want), "info %s (%s) prints what QEMU prints", info,
            file))
        printf("# got:\n%s# want:\n%s", (const char *)out.data, want);
    buf_free(&out);
    free(want);
    json_object_put(ret);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "golden/hmp";
    static const char *const cases[][2] = {
        {"status", "status"},
        {"status-running", "status"},
        {"status-paused", "status"},
        {"name", "name"},
        {"uuid", "uuid"},
        {"version", "version"},
        {"kvm", "kvm"},
        {"cpus", "cpus"},
        {"chardev", "chardev"},
        {"balloon", "balloon"},
        {"block", "block"},
        {"pci", "pci"},
        {"blockstats", "blockstats"},
        {"vnc", "vnc"},
        {"vnc-off", "vnc"},
        {"memory-devices", "memory-devices"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check(dir, cases[i][0], cases[i][1]);
    /* Every info subcommand the monitor offers is one of the checked ones. */
    for (const struct hmp_info *i = hmp_infos; i->name; i++) {
        bool covered = !i->qmp; /* printed by the monitor itself: vmm-hmp compares it live */
        for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
            covered |= !strcmp(cases[c][1], i->name);
        ok(covered, "info %s is compared with QEMU's output", i->name);
    }
    return tap_done();
}
