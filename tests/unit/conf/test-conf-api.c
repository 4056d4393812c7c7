/*
 * test-conf-api.c - the parts of src/conf that golden files cannot pin down:
 * generated UUIDs and MACs (random), memory units, name rules, copies,
 * live/inactive formatting, re-validation after edits, and file errors.
 */
#include "tap.h"

#include <errno.h>
#include <string.h>

#include "conf/domain_conf.h"
#include "conf/xnode.h"
#include "conf/storage_conf.h"
#include "util/buf.h"
#include "util/log.h"

static const char *minimal = "<domain type='kvm'><name>gen</name><memory>1024</memory>"
                             "<os><type>hvm</type></os><devices>"
                             "<interface type='user'/><interface type='user'/>"
                             "</devices></domain>";

static void test_uuid(void)
{
    unsigned char u[16], v[16];
    char s[37];
    is_int(domain_uuid_generate(u), 0, "uuid generates");
    ok((u[6] >> 4) == 4, "version 4");
    ok((u[8] & 0xc0) == 0x80, "RFC 4122 variant");
    domain_uuid_format(u, s);
    is_int(strlen(s), 36, "formatted uuid has 36 characters");
    is_int(domain_uuid_parse(s, v), 0, "formatted uuid parses");
    ok(memcmp(u, v, 16) == 0, "uuid round-trips");
    is_int(domain_uuid_parse("4dea22b31d52d8f32516782e98ab3fa0", v), 0, "uuid without dashes");
    domain_uuid_format(v, s);
    is_str(s, "4dea22b3-1d52-d8f3-2516-782e98ab3fa0", "canonical form");
    is_int(domain_uuid_parse("4dea22b3-1d52-d8f3-2516-782e98ab3fa", v), -EINVAL, "short uuid");
    is_int(domain_uuid_parse("4dea22b3-1d52-d8f3-2516-782e98ab3fa0a", v), -EINVAL, "long uuid");
    is_int(domain_uuid_parse("zdea22b3-1d52-d8f3-2516-782e98ab3fa0", v), -EINVAL, "bad digit");
    is_int(domain_uuid_parse("4dea22b-31d52-d8f3-2516-782e98ab3fa0", v), -EINVAL,
           "a dash inside a digit pair (libvirt allows them only between pairs)");
}

static void test_mac(void)
{
    char m[18];
    is_int(domain_mac_generate(m), 0, "mac generates");
    ok(strncmp(m, "52:54:00:", 9) == 0 && strlen(m) == 17, "mac %s has QEMU's prefix", m);
}

static void test_memory(void)
{
    static const struct {
        const char *v, *unit;
        unsigned long long kib;
    } cases[] = {
        {"1024", NULL, 1024},
        {"1", "KiB", 1},
        {"1", "k", 1},
        {"1", "KB", 1}, /* 1000 bytes, rounded up */
        {"2", "MiB", 2048},
        {"2", "M", 2048},
        {"1", "MB", 977},
        {"1", "GiB", 1048576},
        {"1", "G", 1048576},
        {"1", "GB", 976563},
        {"1", "TiB", 1073741824ULL},
        {"1", "T", 1073741824ULL},
        {"1", "TB", 976562500},
        {"4096", "b", 4},
        {"4097", "bytes", 5},
        {"0", "GiB", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned long long kib = 0;
        int r = domain_parse_memory(cases[i].v, cases[i].unit, &kib);
        ok(r == 0 && kib == cases[i].kib, "%s %s = %llu KiB (got %llu)", cases[i].v,
           cases[i].unit ? cases[i].unit : "(none)", cases[i].kib, kib);
    }
    unsigned long long kib;
    is_int(domain_parse_memory("1", "furlong", &kib), -EINVAL, "unknown unit");
    is_int(domain_parse_memory("-1", "KiB", &kib), -EINVAL, "negative size");
    is_int(domain_parse_memory("1.5", "GiB", &kib), -EINVAL, "fractions are refused");
    is_int(domain_parse_memory("99999999999", "EiB", &kib), -ERANGE, "overflow");
    unsigned long long bytes;
    is_int(storage_parse_size("10", "G", &bytes), 0, "storage size 10G");
    is_int(bytes, 10737418240ULL, "10G in bytes");
    is_int(storage_parse_size("10", "GB", &bytes), 0, "storage size 10GB");
    is_int(bytes, 10000000000ULL, "10GB in bytes");
    is_int(storage_parse_size("512", NULL, &bytes), 0, "bytes by default");
    is_int(bytes, 512, "512 bytes");
}

static void test_names(void)
{
    struct verr err;
    is_int(domain_name_check("demo-1", 0, &err), 0, "plain name");
    is_int(domain_name_check("a b", 0, &err), 0, "spaces allowed without strict names");
    is_int(domain_name_check("a b", DOMAIN_PARSE_STRICT_NAMES, &err), -EINVAL, "strict: space");
    is_str(err.msg,
           "invalid domain name 'a b' in element 'name': character ' ' is not in "
           "[A-Za-z0-9_:-]",
           "strict name message");
    char longname[66];
    memset(longname, 'a', 65);
    longname[65] = '\0';
    is_int(domain_name_check(longname, 0, &err), 0, "65 characters ok without strict names");
    is_int(domain_name_check(longname, DOMAIN_PARSE_STRICT_NAMES, &err), -EINVAL,
           "strict: 65 characters");
    is_int(domain_name_check("12", 0, &err), -EINVAL, "all digits");
    is_int(domain_name_check("a/b", 0, &err), -EINVAL, "slash");
}

static void test_generated(void)
{
    struct domain_def *def = NULL;
    struct verr err;
    is_int(domain_def_parse_string(minimal, 0, &def, &err), 0, "minimal domain parses");
    if (!def)
        return;
    is_int(def->nnets, 2, "two interfaces");
    ok(strncmp(def->nets[0].mac, "52:54:00:", 9) == 0, "first MAC generated");
    ok(strcmp(def->nets[0].mac, def->nets[1].mac) != 0, "MACs differ");
    unsigned char zero[16] = {0};
    ok(memcmp(def->uuid, zero, 16) != 0, "UUID generated");
    is_int(def->vcpus, 1, "one vCPU by default");
    is_int(def->current_memory_kib, 1024, "currentMemory defaults to memory");
    is_int(def->id, -1, "inactive id");
    is_int(def->on_reboot, DOMAIN_ACTION_RESTART, "on_reboot default");

    /* live formatting shows id; inactive does not */
    def->id = 7;
    char *live = domain_def_format(def, 0);
    char *inactive = domain_def_format(def, DOMAIN_FORMAT_INACTIVE);
    ok(strncmp(live, "<domain type='kvm' id='7'>\n", 27) == 0, "live XML has id='7'");
    ok(strncmp(inactive, "<domain type='kvm'>\n", 20) == 0, "inactive XML has no id");
    free(live);
    free(inactive);

    /* edits through the struct, then validation (what setvcpus / setmem do) */
    def->id = -1;
    def->vcpus = 4;
    def->vcpus_current = 2;
    is_int(domain_def_validate(def, 0, &err), 0, "edited definition validates");
    def->vcpus_current = 5;
    is_int(domain_def_validate(def, 0, &err), -EINVAL, "current above max is refused");
    is_str(err.msg,
           "invalid value '5' for attribute 'current' of element 'vcpu': more than the 4 vCPUs "
           "of the domain",
           "message names element, attribute and value");
    def->vcpus_current = 2;
    def->current_memory_kib = def->memory_kib + 1;
    is_int(domain_def_validate(def, 0, &err), -EINVAL, "currentMemory above memory is refused");

    /* the copy is deep */
    struct domain_def *copy = domain_def_copy(def);
    free(copy->name);
    copy->name = strdup("other");
    ok(strcmp(def->name, "gen") == 0, "copy is independent");
    domain_def_free(copy);
    domain_def_free(def);
}

static void test_files(void)
{
    struct domain_def *def = NULL;
    struct verr err;
    int r = domain_def_parse_file("/nonexistent/vireo.xml", 0, &def, &err);
    is_int(r, -ENOENT, "missing file");
    ok(strstr(err.msg, "/nonexistent/vireo.xml") != NULL, "message names the file: %s", err.msg);
}

static void test_null_err(void)
{
    struct domain_def *def = NULL;
    is_int(domain_def_parse_string("<domain type='kvm'><name>1</name></domain>", 0, &def, NULL),
           -EINVAL, "a NULL error pointer is allowed");
    is_int(domain_def_parse_string("<domain type='kvm'><devices><disk><target/></disk>", 0, &def,
                                   NULL),
           -EINVAL, "malformed XML with a NULL error pointer");
    is_int(domain_def_parse_string(minimal, 0, &def, NULL), 0, "and parses fine without one");
    domain_def_free(def);
}

static void test_validate_flag(void)
{
    const char *xml = "<domain type='kvm'><name>v</name><memory>1024</memory>"
                      "<os><type>hvm</type></os><bogus/></domain>";
    struct domain_def *def = NULL;
    struct verr err;
    is_int(domain_def_parse_string(xml, 0, &def, &err), 0, "unknown element accepted by default");
    if (def) {
        char *s = domain_def_format(def, 0);
        ok(strstr(s, "bogus") == NULL, "unknown element is dropped from the output");
        free(s);
        domain_def_free(def);
    }
    def = NULL;
    is_int(domain_def_parse_string(xml, DOMAIN_PARSE_VALIDATE, &def, &err), -EINVAL,
           "unknown element refused with VALIDATE");
    ok(strstr(err.msg, "bogus") != NULL, "message names the element: %s", err.msg);
}

static void test_xnode(void)
{
    struct xnode *n = NULL;
    struct verr err;
    const char *xml = "<a x=\"it's &lt;&amp;&gt;\"><b>  keep  spaces </b><c/>"
                      "<!-- dropped --><d>1 &lt; 2</d></a>";
    is_int(xnode_parse_xml(xml, strlen(xml), "test XML", &n, &err), 0, "xnode parses");
    if (!n)
        return;
    is_str(xnode_attr(n, "x"), "it's <&>", "attribute entities decoded");
    is_str(xnode_text(xnode_child(n, "b")), "  keep  spaces ", "text kept exactly");
    struct buf b = BUF_INIT;
    xnode_format(n, &b, 0);
    is_str(buf_cstr(&b),
           "<a x='it&apos;s &lt;&amp;&gt;'>\n  <b>  keep  spaces </b>\n  <c/>\n"
           "  <d>1 &lt; 2</d>\n</a>\n",
           "printed libvirt style: single quotes, two-space indent, comments dropped");
    buf_free(&b);
    xnode_set_attr(n, "x", NULL);
    ok(xnode_attr(n, "x") == NULL, "attribute removed");
    struct xnode *c = xnode_copy(n);
    xnode_free(n);
    ok(xnode_child(c, "d") != NULL, "copy is deep");
    xnode_free(c);
    n = NULL;
    is_int(xnode_parse_xml("<a><b></a>", 10, "test XML", &n, &err), -EINVAL, "malformed refused");
    ok(strstr(err.msg, "invalid test XML at line 1") != NULL, "message has the line: %s", err.msg);
}

/* DOMAIN_PARSE_GENERIC: a kvm domain as libvirt's test driver stores it. */
static void test_generic_flag(void)
{
    const char *xml = "<domain type='kvm'><name>g</name><memory>1024</memory>"
                      "<os><type>hvm</type></os><devices><disk type='file'>"
                      "<source file='/a'/><target dev='vda'/>"
                      "<address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>"
                      "</disk></devices></domain>";
    struct domain_def *def = NULL;
    struct verr err;
    is_int(domain_def_parse_string(xml, 0, &def, &err), -EINVAL, "kvm: PCI bus 1 refused");
    def = NULL;
    is_int(domain_def_parse_string(xml, DOMAIN_PARSE_GENERIC, &def, &err), 0,
           "kvm with GENERIC: PCI bus 1 kept");
    if (!def)
        return;
    char *s = domain_def_format(def, 0);
    ok(strstr(s, "memballoon") == NULL && strstr(s, "machine=") == NULL &&
           strstr(s, "pci-root") == NULL && strstr(s, "arch='i686'") != NULL,
       "kvm with GENERIC: no QEMU driver defaults, i686 like libvirt's test driver");
    free(s);
    def->vcpus = def->vcpus_current = 2;
    is_int(domain_def_validate(def, 0, &err), 0, "re-validation keeps GENERIC");
    domain_def_free(def);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    test_uuid();
    test_mac();
    test_memory();
    test_names();
    test_generated();
    test_files();
    test_validate_flag();
    test_generic_flag();
    test_xnode();
    test_null_err();
    return tap_done();
}
