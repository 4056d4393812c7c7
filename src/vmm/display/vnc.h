/*
 * vnc.h - vireo-vmm's VNC server (-vnc): RFB 3.3, 3.7 and 3.8 with security
 * None or VNC authentication (password set over QMP, with expiry), or either
 * inside TLS through VeNCrypt (tls-creds=, GnuTLS via tls/tls-server.h), encodings
 * Raw, CopyRect and ZRLE, the DesktopSize, pointer-type-change and QEMU
 * extended-key-event pseudo-encodings; keyboard and pointer events go to the
 * display's input devices.
 *
 * Why its own server and not LibVNCServer: vireo-vmm runs its I/O on one
 * epoll loop (util/loop.h) beside the vCPU threads; LibVNCServer either
 * starts a thread per client or wants its own select() loop driven by
 * rfbProcessEvents with a timeout, keeps its own copy of the framebuffer in
 * its own format, and has a long CVE history in exactly the code a VMM
 * exposes (message parsing, encoders). The part of RFB a VMM needs is small:
 * here the parser of untrusted bytes is one pure, fuzzed function (rfb.c),
 * every client has bounded input and output buffers, and a client that
 * sends garbage, too much, or reads too slowly is dropped or simply gets
 * fewer, larger updates; it never blocks the loop or the VM.
 */
#ifndef VIREO_VMM_DISPLAY_VNC_H
#define VIREO_VMM_DISPLAY_VNC_H

#include "util/error.h"

#include <stdbool.h>

struct loop;
struct display;
struct json_object;

enum vnc_share {
    VNC_SHARE_ALLOW_EXCLUSIVE, /* a client asking for exclusive access disconnects the others */
    VNC_SHARE_FORCE_SHARED,    /* the request is ignored */
    VNC_SHARE_IGNORE,          /* QEMU's "ignore": the same here */
};

/* -vnc as given. */
struct vnc_config {
    bool enabled;    /* -vnc given and not "none" */
    char *host;      /* TCP: the address ("" = every address); NULL for unix */
    unsigned number; /* TCP: display N of :N, port 5900 + N */
    char *unix_path; /* unix:PATH */
    bool password;   /* password=on: VNC authentication with the QMP password */
    enum vnc_share share;
    char *tls_creds; /* tls-creds=ID: VeNCrypt with the -object tls-creds-x509 of that id */
    char *tls_authz; /* tls-authz=ID: the authz object the client certificate's DN must pass */
};

/* Parses -vnc's argument (QEMU 7.2's syntax: ":N", "HOST:N", "[ADDR6]:N", "unix:PATH",
 * "none", optionally "vnc=" first, then ",password=on|off", ",share=..."). Anything else
 * is refused with one line. */
int vnc_config_parse(struct vnc_config *c, const char *arg, struct verr *err);
void vnc_config_free(struct vnc_config *c);

struct vnc_server;

struct tls_server;
struct authz;

/* Listens as configured, drawing from d. tls (the credentials of c->tls_creds, NULL without)
 * becomes the server's: every client then goes through VeNCrypt (x509none, or x509vnc with
 * password=on) before anything else. */
int vnc_server_new(struct loop *loop, struct display *d, const struct vnc_config *c,
                   struct tls_server *tls, struct vnc_server **out, struct verr *err);
/* tls-authz: after the TLS handshake the client certificate's DN must be allowed by a (the
 * server takes a reference and counts as a user); else the client is dropped with QEMU's line
 * "TLS x509 authz check for DN is denied". */
void vnc_server_set_authz(struct vnc_server *s, struct authz *a);
void vnc_server_free(struct vnc_server *s);

/* QMP set_password (VNC). Fails when the server has no password=on (QEMU's rule). */
int vnc_set_password(struct vnc_server *s, const char *password, struct verr *err);
/* QMP expire_password: "now", "never", "+SECONDS" or an absolute time in seconds. */
int vnc_expire_password(struct vnc_server *s, const char *when, struct verr *err);
/* QMP query-vnc's return value. */
struct json_object *vnc_query(struct vnc_server *s);

#endif
