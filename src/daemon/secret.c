/*
 * secret.c - the secret driver's model: parse and format libvirt's <secret> XML, keep the
 * secrets of a daemon in a list, store the persistent ones as libvirt does (UUID.xml and
 * UUID.base64 in the secret directory, 0600, each replaced atomically) and load them at start.
 * Ephemeral secrets never touch the disk: their definition and value live in memory only.
 */
#include <dirent.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/crypto.h"
#include "conf/domain_conf.h"
#include "conf/xnode.h"
#include "daemon/secret.h"
#include "daemon/vireod.h"
#include "daemon/vmm-argv.h"
#include "util/buf.h"
#include "util/file.h"
#include "util/log.h"
#include "util/mem.h"

static const char *const usage_names[] = {"none", "volume", "ceph", "iscsi", "tls", "vtpm"};
/* The element holding the usage id of each type (libvirt's secret schema). */
static const char *const usage_elems[] = {NULL, "volume", "name", "target", "name", "name"};
/* libvirt's words when it is missing. */
static const char *const usage_missing[] = {NULL,
                                            "volume usage specified, but volume path is missing",
                                            "Ceph usage specified, but name is missing",
                                            "iSCSI usage specified, but target is missing",
                                            "TLS usage specified, but name is missing",
                                            "vTPM usage specified, but name is missing"};

void vd_secret_def_free(struct vd_secret_def *def)
{
    if (!def)
        return;
    free(def->description);
    free(def->usage_id);
    free(def);
}

static int parse_yes_no(const struct xnode *root, const char *name, bool *out, struct verr *err)
{
    const char *v = xnode_attr(root, name);
    if (!v)
        return 0;
    if (strcmp(v, "yes") == 0 || strcmp(v, "no") == 0) {
        *out = strcmp(v, "yes") == 0;
        return 0;
    }
    return verr_set(err, EINVAL, "XML error: invalid value of '%s'", name);
}

static int parse_usage(const struct xnode *usage, struct vd_secret_def *def, struct verr *err)
{
    const char *type = xnode_attr(usage, "type");
    if (!type)
        return verr_set(err, EINVAL, "XML error: unknown secret usage type");
    int t = -1;
    for (int i = 1; i < (int)(sizeof(usage_names) / sizeof(usage_names[0])); i++)
        if (strcmp(type, usage_names[i]) == 0)
            t = i;
    if (t < 0)
        return verr_set(err, EINVAL, "unsupported configuration: unknown secret usage type %s",
                        type);
    const struct xnode *id = xnode_child(usage, usage_elems[t]);
    if (!id || !*xnode_text(id))
        return verr_set(err, EINVAL, "internal error: %s", usage_missing[t]);
    def->usage_type = t;
    def->usage_id = xstrdup(xnode_text(id));
    return 0;
}

int vd_secret_def_parse(const char *xml, struct vd_secret_def **out, struct verr *err)
{
    struct xnode *root = NULL;
    int r = xnode_parse_xml(xml, strlen(xml), "secret XML", &root, err);
    if (r < 0)
        return r;
    struct vd_secret_def *def = xcalloc(1, sizeof(*def));
    if (strcmp(root->name, "secret") != 0) {
        r = verr_set(err, EINVAL, "XML error: expecting root element of 'secret', not '%s'",
                     root->name);
        goto out;
    }
    if ((r = parse_yes_no(root, "ephemeral", &def->ephemeral, err)) < 0 ||
        (r = parse_yes_no(root, "private", &def->private_, err)) < 0)
        goto out;
    const struct xnode *uuid = xnode_child(root, "uuid");
    if (!uuid) {
        if (domain_uuid_generate(def->uuid) < 0) {
            r = verr_set(err, EIO, "internal error: Failed to generate UUID");
            goto out;
        }
    } else if (domain_uuid_parse(xnode_text(uuid), def->uuid) < 0) {
        r = verr_set(err, EINVAL, "internal error: malformed uuid element");
        goto out;
    }
    const struct xnode *desc = xnode_child(root, "description");
    if (desc)
        def->description = xstrdup(xnode_text(desc));
    const struct xnode *usage = xnode_child(root, "usage");
    if (usage && (r = parse_usage(usage, def, err)) < 0)
        goto out;
    *out = def;
    def = NULL;
out:
    vd_secret_def_free(def);
    xnode_free(root);
    return r;
}

char *vd_secret_def_format(const struct vd_secret_def *def)
{
    struct buf b;
    buf_init(&b);
    char u[37];
    domain_uuid_format(def->uuid, u);
    buf_printf(&b, "<secret ephemeral='%s' private='%s'>\n  <uuid>%s</uuid>\n",
               def->ephemeral ? "yes" : "no", def->private_ ? "yes" : "no", u);
    if (def->description) {
        buf_append_str(&b, "  <description>");
        xml_escape(&b, def->description, false);
        buf_append_str(&b, "</description>\n");
    }
    if (def->usage_type != VD_SECRET_USAGE_NONE) {
        const char *e = usage_elems[def->usage_type];
        buf_printf(&b, "  <usage type='%s'>\n    <%s>", usage_names[def->usage_type], e);
        xml_escape(&b, def->usage_id, false);
        buf_printf(&b, "</%s>\n  </usage>\n", e);
    }
    buf_append_str(&b, "</secret>\n");
    return buf_detach(&b, NULL);
}

/* ---- the list ---- */

struct vd_secret *vd_secret_find_uuid(struct vd_daemon *d, const unsigned char uuid[16])
{
    for (struct vd_secret *s = d->secrets; s; s = s->next)
        if (memcmp(s->def->uuid, uuid, 16) == 0)
            return s;
    return NULL;
}

struct vd_secret *vd_secret_find_usage(struct vd_daemon *d, int type, const char *usage_id)
{
    for (struct vd_secret *s = d->secrets; s; s = s->next) {
        if (s->def->usage_type != type)
            continue;
        if (type == VD_SECRET_USAGE_NONE || (usage_id && strcmp(s->def->usage_id, usage_id) == 0))
            return s;
    }
    return NULL;
}

static char *path_of(const struct vd_daemon *d, const unsigned char uuid[16], const char *suffix)
{
    char u[37];
    domain_uuid_format(uuid, u);
    return xasprintf("%s/%s%s", d->secret_dir, u, suffix);
}

static void base64_encode(struct buf *out, const uint8_t *in, size_t len)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        buf_append_byte(out, (uint8_t)abc[v >> 18 & 63]);
        buf_append_byte(out, (uint8_t)abc[v >> 12 & 63]);
        buf_append_byte(out, i + 1 < len ? (uint8_t)abc[v >> 6 & 63] : '=');
        buf_append_byte(out, i + 2 < len ? (uint8_t)abc[v & 63] : '=');
    }
}

static int save_def(struct vd_daemon *d, const struct vd_secret_def *def, struct verr *err)
{
    char *p = path_of(d, def->uuid, ".xml");
    char *xml = vd_secret_def_format(def);
    int r = vd_store_write(d, p, xml, strlen(xml), true, err);
    free(xml);
    free(p);
    return r;
}

static int save_value(struct vd_daemon *d, const struct vd_secret *s, struct verr *err)
{
    char *p = path_of(d, s->def->uuid, ".base64");
    struct buf b;
    buf_init(&b);
    base64_encode(&b, s->value, s->value_len);
    /* file_replace_atomic writes the temporary file 0600 from the start: the value is never
     * readable by others, not even for an instant. */
    int r = file_replace_atomic(p, b.data ? (const char *)b.data : "", b.len, 0600, err);
    if (b.data) /* an empty value encodes to nothing */
        explicit_bzero(b.data, b.len);
    buf_free(&b);
    free(p);
    return r;
}

static void remove_files(struct vd_daemon *d, const unsigned char uuid[16])
{
    const char *suffixes[] = {".xml", ".base64"};
    for (size_t i = 0; i < 2; i++) {
        char *p = path_of(d, uuid, suffixes[i]);
        if (unlink(p) == 0)
            vd_store_dir_changed(d, p);
        free(p);
    }
}

static void secret_free(struct vd_secret *s)
{
    vd_secret_def_free(s->def);
    if (s->value)
        explicit_bzero(s->value, s->value_len);
    free(s->value);
    free(s);
}

int vd_secret_define(struct vd_daemon *d, const char *xml, struct vd_secret **out, struct verr *err)
{
    struct vd_secret_def *def;
    int r = vd_secret_def_parse(xml, &def, err);
    if (r < 0)
        return r;
    char u[37];
    struct vd_secret *s = vd_secret_find_uuid(d, def->uuid);
    if (s) {
        if (s->def->usage_type != def->usage_type ||
            (def->usage_id && strcmp(s->def->usage_id, def->usage_id) != 0)) {
            domain_uuid_format(def->uuid, u);
            r = verr_set(err, EINVAL,
                         "internal error: a secret with UUID %s is already defined for use "
                         "with %s",
                         u, s->def->usage_id ? s->def->usage_id : "(null)");
            goto fail;
        }
        if (s->def->private_ && !def->private_) {
            r = verr_set(err, EINVAL,
                         "internal error: cannot change private flag on existing "
                         "secret");
            goto fail;
        }
    } else {
        struct vd_secret *other = vd_secret_find_usage(d, def->usage_type, def->usage_id);
        if (other) {
            domain_uuid_format(other->def->uuid, u);
            r = verr_set(err, EINVAL,
                         "internal error: a secret with UUID %s already defined for use with %s", u,
                         def->usage_id ? def->usage_id : "(null)");
            goto fail;
        }
    }
    if (!def->ephemeral) {
        if ((r = save_def(d, def, err)) < 0)
            goto fail;
        /* a secret turning persistent keeps its value on disk from now on */
        if (s && s->def->ephemeral && s->value && (r = save_value(d, s, err)) < 0)
            goto fail;
    } else if (s && !s->def->ephemeral) {
        remove_files(d, def->uuid); /* persistent turned ephemeral: nothing stays on disk */
    }
    if (!s) {
        s = xcalloc(1, sizeof(*s));
        s->next = d->secrets;
        d->secrets = s;
    } else {
        vd_secret_def_free(s->def);
    }
    s->def = def;
    *out = s;
    return 0;
fail:
    vd_secret_def_free(def);
    return r;
}

int vd_secret_undefine(struct vd_daemon *d, struct vd_secret *s, struct verr *err)
{
    (void)err;
    if (!s->def->ephemeral)
        remove_files(d, s->def->uuid);
    for (struct vd_secret **pp = &d->secrets; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    secret_free(s);
    return 0;
}

int vd_secret_set_value(struct vd_daemon *d, struct vd_secret *s, const uint8_t *value, size_t len,
                        struct verr *err)
{
    uint8_t *old = s->value;
    size_t old_len = s->value_len;
    s->value = xmalloc(len ? len : 1);
    if (len) /* an empty value arrives as NULL */
        memcpy(s->value, value, len);
    s->value_len = len;
    int r = s->def->ephemeral ? 0 : save_value(d, s, err);
    if (r < 0) { /* the old value stays, in memory as on disk */
        explicit_bzero(s->value, len);
        free(s->value);
        s->value = old;
        s->value_len = old_len;
        return r;
    }
    if (old)
        explicit_bzero(old, old_len);
    free(old);
    return 0;
}

/* ---- keys for the VMM ---- */

static char *base64_string(const uint8_t *in, size_t len)
{
    struct buf b;
    buf_init(&b);
    base64_encode(&b, in, len);
    buf_append_byte(&b, 0);
    return buf_detach(&b, NULL);
}

/* The secret a disk's <encryption><secret> names (by uuid, or by volume usage). */
static struct vd_secret *disk_secret(struct vd_daemon *d, const struct xnode *secret,
                                     struct verr *err)
{
    return vd_secret_with_value(d, xnode_attr(secret, "uuid"), xnode_attr(secret, "usage"), err);
}

struct vd_secret *vd_secret_with_value(struct vd_daemon *d, const char *uuid, const char *usage,
                                       struct verr *err)
{
    unsigned char u[16];
    struct vd_secret *s = NULL;
    if (uuid && domain_uuid_parse(uuid, u) == 0)
        s = vd_secret_find_uuid(d, u);
    else if (usage)
        s = vd_secret_find_usage(d, VD_SECRET_USAGE_VOLUME, usage);
    if (!s) {
        verr_set(err, ENOENT, "Secret not found: no secret with matching %s '%s'",
                 uuid ? "uuid" : "usage",
                 uuid    ? uuid
                 : usage ? usage
                         : "");
        return NULL;
    }
    if (!s->value) {
        char us[37];
        domain_uuid_format(s->def->uuid, us);
        verr_set(err, ENOENT, "Secret not found: secret '%s' does not have a value", us);
        return NULL;
    }
    return s;
}

static int encrypt_value(const uint8_t key[32], const struct vd_secret *s, char **data,
                         char **iv_b64, struct verr *err)
{
    uint8_t iv[16];
    if (gnutls_rnd(GNUTLS_RND_NONCE, iv, sizeof(iv)) < 0)
        return verr_set(err, EIO, "internal error: cannot generate an IV");
    size_t pad = 16 - s->value_len % 16, len = s->value_len + pad;
    uint8_t *buf = xmalloc(len);
    memcpy(buf, s->value, s->value_len);
    memset(buf + s->value_len, (int)pad, pad);
    gnutls_cipher_hd_t h;
    gnutls_datum_t k = {(unsigned char *)key, 32}, v = {iv, 16};
    int g = gnutls_cipher_init(&h, GNUTLS_CIPHER_AES_256_CBC, &k, &v);
    if (g == 0) {
        g = gnutls_cipher_encrypt(h, buf, len);
        gnutls_cipher_deinit(h);
    }
    if (g < 0) {
        explicit_bzero(buf, len);
        free(buf);
        return verr_set(err, EIO, "internal error: cannot encrypt the secret: %s",
                        gnutls_strerror(g));
    }
    *data = base64_string(buf, len);
    *iv_b64 = base64_string(iv, sizeof(iv));
    free(buf);
    return 0;
}

void vd_secret_disk_keys_free(char **data, char **iv, size_t n)
{
    for (size_t i = 0; data && i < n; i++) {
        free(data[i]);
        free(iv[i]);
    }
    free(data);
    free(iv);
}

int vd_secret_disk_key(struct vd_daemon *d, const struct domain_disk *disk,
                       const uint8_t master_key[32], char **data, char **iv, struct verr *err)
{
    *data = *iv = NULL;
    const struct xnode *enc = vmm_argv_disk_encryption(disk);
    if (!enc)
        return 0;
    struct vd_secret *s = disk_secret(d, xnode_child(enc, "secret"), err);
    return s ? encrypt_value(master_key, s, data, iv, err) : -ENOENT;
}

int vd_secret_disk_keys(struct vd_daemon *d, const struct domain_def *def, uint8_t master_key[32],
                        char ***data, char ***iv, struct verr *err)
{
    *data = *iv = NULL;
    bool any = false;
    for (size_t i = 0; i < def->ndisks; i++)
        any |= vmm_argv_disk_encryption(&def->disks[i]) != NULL;
    if (!any)
        return 0;
    uint8_t *key = master_key;
    if (gnutls_rnd(GNUTLS_RND_KEY, key, 32) < 0)
        return verr_set(err, EIO, "internal error: cannot generate a master key");
    char **dv = xcalloc(def->ndisks, sizeof(*dv)), **iv_v = xcalloc(def->ndisks, sizeof(*iv_v));
    int r = 0;
    for (size_t i = 0; i < def->ndisks && r == 0; i++) {
        const struct xnode *enc = vmm_argv_disk_encryption(&def->disks[i]);
        if (!enc)
            continue;
        struct vd_secret *s = disk_secret(d, xnode_child(enc, "secret"), err);
        r = s ? encrypt_value(key, s, &dv[i], &iv_v[i], err) : -ENOENT;
    }
    if (r < 0) {
        explicit_bzero(key, 32);
        vd_secret_disk_keys_free(dv, iv_v, def->ndisks);
        return r;
    }
    *data = dv;
    *iv = iv_v;
    return 0;
}

/* ---- start and stop ---- */

static void load_one(struct vd_daemon *d, const char *name)
{
    char *p = xasprintf("%s/%s", d->secret_dir, name);
    struct buf b;
    buf_init(&b);
    struct verr e = {0};
    struct vd_secret_def *def = NULL;
    if (file_read_all(p, 1 << 20, &b, &e) < 0) {
        log_warn("cannot read secret %s: %s", p, verr_msg(&e));
        goto out;
    }
    buf_append_byte(&b, 0);
    if (vd_secret_def_parse((const char *)b.data, &def, &e) < 0) {
        log_warn("cannot load secret %s: %s", p, verr_msg(&e));
        goto out;
    }
    char u[37];
    domain_uuid_format(def->uuid, u);
    if (strncmp(name, u, 36) != 0 || strcmp(name + 36, ".xml") != 0 || def->ephemeral ||
        vd_secret_find_uuid(d, def->uuid)) {
        log_warn("ignoring secret %s: <uuid> does not match the file name, or it is ephemeral", p);
        goto out;
    }
    struct vd_secret *s = xcalloc(1, sizeof(*s));
    s->def = def;
    def = NULL;
    s->next = d->secrets;
    d->secrets = s;
    char *vp = path_of(d, s->def->uuid, ".base64");
    buf_reset(&b);
    if (access(vp, F_OK) == 0) {
        size_t n;
        if (file_read_all(vp, 1 << 20, &b, &e) < 0 ||
            crypto_base64_decode((const char *)b.data, b.len, &s->value, &n, &e) < 0)
            log_warn("cannot load the value of secret %s: %s", u, verr_msg(&e));
        else
            s->value_len = n;
        if (b.data)
            explicit_bzero(b.data, b.len);
    }
    free(vp);
out:
    vd_secret_def_free(def);
    buf_free(&b);
    free(p);
}

int vd_secrets_load(struct vd_daemon *d, struct verr *err)
{
    /* main() made the directory with the daemon's others */
    DIR *dh = opendir(d->secret_dir);
    if (!dh)
        return verr_errno(err, errno, "cannot open %s", d->secret_dir);
    struct dirent *e;
    while ((e = readdir(dh))) {
        size_t l = strlen(e->d_name);
        if (l > 4 && strcmp(e->d_name + l - 4, ".xml") == 0 && e->d_name[0] != '.')
            load_one(d, e->d_name);
    }
    closedir(dh);
    return 0;
}

void vd_secrets_free(struct vd_daemon *d)
{
    while (d->secrets) {
        struct vd_secret *s = d->secrets;
        d->secrets = s->next;
        secret_free(s);
    }
}
