/*
 * rpc-send-key.c - virDomainSendKey: keys pressed together on the guest's
 * keyboard, through QMP send-key with qnums, as libvirt's QEMU driver sends
 * them (released after holdtime ms, vireo-vmm's 100 ms when 0).
 *
 * Codesets translated to qnums here: qnum (as is), linux (the evdev codes of
 * a PC keyboard: 1-83 and 86-88 equal their XT scan codes, the E0-prefixed
 * keys are listed), xt, and atset1 (E0-prefixed codes as 0xE0NN). A code
 * with no translation, or another codeset, is refused with libvirt's line.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/domain.h"
#include "daemon/server.h"
#include "daemon/vmm-driver.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"

enum { CODESET_LINUX = 0, CODESET_XT = 1, CODESET_ATSET1 = 2, CODESET_QNUM = 9 };

static const char *const codeset_names[] = {"linux", "xt",     "atset1", "atset2", "atset3",
                                            "os_x",  "xt_kbd", "usb",    "win32",  "qnum"};

/* Linux input codes of the E0-prefixed keys and their qnums (0x80 | the byte after E0). */
static const struct {
    unsigned short linux_code;
    unsigned char qnum;
} linux_extended[] = {
    {96, 0x9c},  /* KEY_KPENTER */
    {97, 0x9d},  /* KEY_RIGHTCTRL */
    {98, 0xb5},  /* KEY_KPSLASH */
    {100, 0xb8}, /* KEY_RIGHTALT */
    {102, 0xc7}, /* KEY_HOME */
    {103, 0xc8}, /* KEY_UP */
    {104, 0xc9}, /* KEY_PAGEUP */
    {105, 0xcb}, /* KEY_LEFT */
    {106, 0xcd}, /* KEY_RIGHT */
    {107, 0xcf}, /* KEY_END */
    {108, 0xd0}, /* KEY_DOWN */
    {109, 0xd1}, /* KEY_PAGEDOWN */
    {110, 0xd2}, /* KEY_INSERT */
    {111, 0xd3}, /* KEY_DELETE */
    {119, 0xc6}, /* KEY_PAUSE */
    {125, 0xdb}, /* KEY_LEFTMETA */
    {126, 0xdc}, /* KEY_RIGHTMETA */
    {127, 0xdd}, /* KEY_COMPOSE */
};

/* The qnum of a key in codeset, or 0 when there is none. */
static unsigned to_qnum(unsigned codeset, unsigned code)
{
    switch (codeset) {
    case CODESET_QNUM:
        return code <= 0xff ? code : 0;
    case CODESET_XT:
        return code < 0x80 ? code : 0;
    case CODESET_ATSET1:
        if (code < 0x80)
            return code;
        return (code & 0xff80) == 0xe000 ? 0x80 | (code & 0x7f) : 0;
    case CODESET_LINUX:
        if ((code >= 1 && code <= 83) || (code >= 86 && code <= 88))
            return code;
        for (size_t i = 0; i < sizeof(linux_extended) / sizeof(linux_extended[0]); i++)
            if (linux_extended[i].linux_code == code)
                return linux_extended[i].qnum;
        return 0;
    default:
        return 0;
    }
}

static void send_key_done(void *opaque, int r, const char *error)
{
    char msg[512];
    snprintf(msg, sizeof(msg), "operation failed: %s", error ? error : "send-key");
    vd_deferred_reply(opaque, NULL, NULL, VIR_ERR_OPERATION_FAILED, VIR_FROM_QEMU,
                      r < 0 ? msg : NULL);
}

static int send_key(struct vd_call *c)
{
    const struct remote_domain_send_key_args *a = c->args;
    struct vd_domain *dom = c->dom;
    if (vd_call_check_flags(c, a->flags, 0, "qemuDomainSendKey") < 0)
        return -1;
    if (a->keycodes_len == 0)
        return vd_call_fail(c, VIR_ERR_INVALID_ARG,
                            "invalid argument: nkeycodes in virDomainSendKey must be > 0");
    unsigned qnums[REMOTE_DOMAIN_SEND_KEY_MAX];
    for (size_t i = 0; i < a->keycodes_len; i++) {
        qnums[i] = to_qnum(a->codeset, a->keycodes[i]);
        if (!qnums[i]) {
            const char *set = a->codeset < sizeof(codeset_names) / sizeof(codeset_names[0])
                                  ? codeset_names[a->codeset]
                                  : "unknown";
            return vd_call_fail(c, VIR_ERR_INTERNAL_ERROR,
                                "internal error: cannot translate keycode %u of %s codeset to "
                                "qnum keycode",
                                a->keycodes[i], set);
        }
    }
    if (vd_call_need_running(c, dom, true) < 0)
        return -1;
    struct vd_deferred *df = vd_defer(c);
    struct verr err = {0};
    if (vd_vmm_send_key(dom->vmm, qnums, a->keycodes_len, a->holdtime, send_key_done, df, &err) <
        0) {
        vd_deferred_cancel(df);
        return vd_call_fail_errno(c, -err.code, &err);
    }
    return RPC_HANDLER_DEFERRED;
}

static const struct vd_proc procs[] = {
    {REMOTE_PROC_DOMAIN_SEND_KEY, send_key},
};
VD_PROC_TABLE(vd_send_key_procs, procs);
