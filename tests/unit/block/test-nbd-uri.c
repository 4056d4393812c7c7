/*
 * test-nbd-uri.c - the NBD address forms a mirror target takes (nbd-client.h),
 * as QEMU's nbd driver reads them: the legacy nbd:HOST:PORT[:exportname=N] and
 * nbd:unix:PATH[:exportname=N], the URIs nbd://HOST[:PORT][/N] and
 * nbd+unix:///N?socket=PATH (bracketed IPv6 hosts, the default port 10809 and
 * the empty export name), and the malformed ones refused with a line.
 */
#include "block/nbd-client.h"
#include "../tap.h"

#include <string.h>

static const char *s(const char *v)
{
    return v ? v : "(null)";
}

static void good(const char *uri, const char *host, const char *port, const char *path,
                 const char *export)
{
    struct nbd_addr a;
    struct verr err = {0};
    int r = nbd_uri_parse(uri, &a, &err);
    ok(r == 0, "%s parses (%s)", uri, r < 0 ? verr_msg(&err) : "ok");
    if (r < 0)
        return;
    is_str(s(a.host), s(host), "%s: host", uri);
    is_str(s(a.port), s(port), "%s: port", uri);
    is_str(s(a.path), s(path), "%s: socket path", uri);
    is_str(s(a.export_name), s(export), "%s: export name", uri);
    nbd_addr_free(&a);
}

static void bad(const char *uri)
{
    struct nbd_addr a;
    struct verr err = {0};
    int r = nbd_uri_parse(uri, &a, &err);
    ok(r < 0 && *verr_msg(&err), "%s is refused: %s", uri, verr_msg(&err));
    if (r == 0)
        nbd_addr_free(&a);
}

int main(void)
{
    good("nbd:127.0.0.1:10810", "127.0.0.1", "10810", NULL, "");
    good("nbd:host.example:49153:exportname=drive-virtio-disk0", "host.example", "49153", NULL,
         "drive-virtio-disk0");
    good("nbd:[::1]:10809:exportname=d0", "::1", "10809", NULL, "d0");
    good("nbd:unix:/run/nbd.sock", NULL, NULL, "/run/nbd.sock", "");
    good("nbd:unix:/run/nbd.sock:exportname=d1", NULL, NULL, "/run/nbd.sock", "d1");
    good("nbd://198.18.0.1:10811/vda", "198.18.0.1", "10811", NULL, "vda");
    good("nbd://198.18.0.1", "198.18.0.1", "10809", NULL, "");
    good("nbd://[fd00::2]:5000/x", "fd00::2", "5000", NULL, "x");
    good("nbd+unix:///d0?socket=/tmp/a.sock", NULL, NULL, "/tmp/a.sock", "d0");
    good("nbd+unix:///?socket=/tmp/a.sock", NULL, NULL, "/tmp/a.sock", "");
    ok(nbd_uri_is_nbd("nbd+unix:///?socket=/x") && nbd_uri_is_nbd("nbd:h:1") &&
           !nbd_uri_is_nbd("/var/lib/images/nbd:1.qcow2") && !nbd_uri_is_nbd("disk.qcow2"),
       "nbd_uri_is_nbd tells addresses from file names");
    bad("nbd:");
    bad("nbd:hostonly");
    bad("nbd:host:");
    bad("nbd:unix:");
    bad("nbd:unix:exportname=x"); /* the export's colon is the one after "unix" */
    bad("nbd+unix:///d0");
    bad("nbd+unix://host/d0?socket=/x");
    bad("nbd+unix:///d0?socket=/x&foo=1");
    bad("nbd://");
    bad("nbd://[::1/x");
    bad("nbd://h:1/x?y=z");
    return tap_done();
}
