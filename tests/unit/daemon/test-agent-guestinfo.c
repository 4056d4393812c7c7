/*
 * test-agent-guestinfo.c - guest agent answers as virDomainGetGuestInfo's parameters
 * (src/daemon/agent-guestinfo.c): each case is an agent "return" (the fsinfo, disks and
 * interfaces ones as Debian's qemu-ga 7.2 answered on a virtio-disk host) and the parameters
 * libvirt 9.0 makes of it, one "field (type) = value" line each; then the malformed answers
 * libvirt refuses, with its words, and nothing left half-added. Also guest-get-vcpus as
 * guestvcpus' cpulists and setvcpus --guest's plan (qemuAgentUpdateCPUInfo's choices), and
 * domifaddr --source agent's interface list (aliases folded as libvirt folds them).
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/domain.h"
#include "daemon/server.h"
#include "tap.h"
#include "util/error.h"

/* The parameters as text, one line each. */
static char *render(const struct remote_domain_get_guest_info_ret *r)
{
    size_t cap = 64;
    char *s = calloc(1, cap);
    size_t len = 0;
    for (uint32_t i = 0; i < r->params_len; i++) {
        const struct remote_typed_param *p = &r->params[i];
        char line[512];
        switch (p->type) {
        case REMOTE_TYPED_PARAM_INT:
            snprintf(line, sizeof(line), "%s (int) = %d\n", p->field, p->value.i);
            break;
        case REMOTE_TYPED_PARAM_UINT:
            snprintf(line, sizeof(line), "%s (uint) = %u\n", p->field, p->value.ui);
            break;
        case REMOTE_TYPED_PARAM_ULLONG:
            snprintf(line, sizeof(line), "%s (ullong) = %llu\n", p->field,
                     (unsigned long long)p->value.ul);
            break;
        case REMOTE_TYPED_PARAM_BOOLEAN:
            snprintf(line, sizeof(line), "%s (bool) = %s\n", p->field, p->value.b ? "yes" : "no");
            break;
        case REMOTE_TYPED_PARAM_STRING:
            snprintf(line, sizeof(line), "%s (string) = %s\n", p->field, p->value.s);
            break;
        default:
            snprintf(line, sizeof(line), "%s (type %d)\n", p->field, p->type);
            break;
        }
        size_t n = strlen(line);
        while (len + n + 1 > cap)
            s = realloc(s, cap *= 2);
        memcpy(s + len, line, n + 1);
        len += n;
    }
    return s;
}

struct fixture {
    struct domain_disk disks[2];
    struct domain_def def;
};

/* A virtio disk vda at 00:02.0 (where the host's qemu-ga found its disk) and a SATA sdb. */
static void fixture_init(struct fixture *f)
{
    memset(f, 0, sizeof(*f));
    f->disks[0] = (struct domain_disk){.target_dev = "vda",
                                       .target_bus = DOMAIN_DISK_BUS_VIRTIO,
                                       .address = {.type = DOMAIN_ADDRESS_PCI, .slot = 2}};
    f->disks[1] = (struct domain_disk){.target_dev = "sdb",
                                       .target_bus = DOMAIN_DISK_BUS_SATA,
                                       .address = {.type = DOMAIN_ADDRESS_DRIVE, .unit = 1}};
    f->def.disks = f->disks;
    f->def.ndisks = 2;
}

static void check(const struct domain_def *def, unsigned type, const char *json, const char *want,
                  const char *what)
{
    struct json_object *ret = json_tokener_parse(json);
    struct remote_domain_get_guest_info_ret out = {0};
    struct verr e = {0};
    int r = vd_agent_guestinfo_fill(type, ret, def, &out, &e);
    char *got = render(&out);
    ok(r == 0 && !strcmp(got, want), "%s", what);
    if (r != 0 || strcmp(got, want))
        printf("# error: %s\n# got:\n%s# want:\n%s", r ? verr_msg(&e) : "(none)", got, want);
    free(got);
    remote_domain_get_guest_info_ret_free(&out);
    json_object_put(ret);
}

static void refused(unsigned type, const char *json, const char *want, const char *what)
{
    struct json_object *ret = json_tokener_parse(json);
    /* one parameter already there (an earlier category): it must stay, alone */
    struct remote_domain_get_guest_info_ret out = {0};
    out.params = calloc(1, sizeof(*out.params));
    out.params_len = 1;
    out.params[0].field = strdup("hostname");
    out.params[0].type = REMOTE_TYPED_PARAM_STRING;
    out.params[0].value.s = strdup("h");
    struct verr e = {0};
    int r = vd_agent_guestinfo_fill(type, ret, NULL, &out, &e);
    ok(r < 0 && !strcmp(verr_msg(&e), want) && out.params_len == 1, "%s: %s", what,
       r < 0 ? verr_msg(&e) : "accepted");
    remote_domain_get_guest_info_ret_free(&out);
    json_object_put(ret);
}

/* qemu-ga's interfaces (statistics left out), an interface alias, one without addresses */
static const char IFACES[] =
    "[{\"name\": \"lo\", \"ip-addresses\": [{\"ip-address-type\": \"ipv4\", \"ip-address\": "
    "\"127.0.0.1\", \"prefix\": 8}, {\"ip-address-type\": \"ipv6\", \"ip-address\": \"::1\", "
    "\"prefix\": 128}], \"hardware-address\": \"00:00:00:00:00:00\"}, {\"name\": \"ifb0\", "
    "\"hardware-address\": \"da:85:71:8c:f4:9d\"}, {\"name\": \"eth0\", \"ip-addresses\": "
    "[{\"ip-address-type\": \"ipv4\", \"ip-address\": \"192.0.2.2\", \"prefix\": 24}], "
    "\"hardware-address\": \"02:fc:00:00:00:01\"}, {\"name\": \"eth0:1\", \"ip-addresses\": "
    "[{\"ip-address-type\": \"ipv6\", \"ip-address\": \"fd00::2\", \"prefix\": 64}]}]";

/* domifaddr --source agent's list of an agent answer, one "name hwaddr type addr/prefix" line
 * per address (just "name hwaddr" for an interface without one). */
static void check_ifaddr(const char *json, const char *want, const char *what)
{
    struct json_object *ret = json_tokener_parse(json);
    struct remote_domain_interface_addresses_ret out;
    struct verr e = {0};
    int r = vd_agent_interfaces(ret, &out, &e);
    char got[2048] = "";
    for (uint32_t i = 0; r == 0 && i < out.ifaces_len; i++) {
        const struct remote_domain_interface *ifc = &out.ifaces[i];
        size_t len = strlen(got);
        if (!ifc->addrs_len)
            snprintf(got + len, sizeof(got) - len, "%s %s\n", ifc->name,
                     ifc->hwaddr ? ifc->hwaddr : "-");
        for (uint32_t k = 0; k < ifc->addrs_len; k++) {
            len = strlen(got);
            snprintf(got + len, sizeof(got) - len, "%s %s %s %s/%u\n", ifc->name,
                     ifc->hwaddr ? ifc->hwaddr : "-", ifc->addrs[k].type ? "ipv6" : "ipv4",
                     ifc->addrs[k].addr, ifc->addrs[k].prefix);
        }
    }
    ok(r == 0 && !strcmp(got, want), "%s", what);
    if (r != 0 || strcmp(got, want))
        printf("# got:\n%s# want:\n%s", got, want);
    if (r == 0)
        remote_domain_interface_addresses_ret_free(&out);
    json_object_put(ret);
}

/* domifaddr --source agent refuses a malformed answer whole, in libvirt's words. */
static void check_ifaddr_refused(const char *json, const char *want, const char *what)
{
    struct json_object *ret = json_tokener_parse(json);
    struct remote_domain_interface_addresses_ret out;
    struct verr e = {0};
    int r = vd_agent_interfaces(ret, &out, &e);
    ok(r == -EINVAL && !strcmp(verr_msg(&e), want), "%s", what);
    if (r == 0)
        remote_domain_interface_addresses_ret_free(&out);
    else if (strcmp(verr_msg(&e), want))
        printf("# got: %s\n# want: %s\n", verr_msg(&e), want);
    json_object_put(ret);
}

int main(void)
{
    struct fixture f;
    fixture_init(&f);

    /* qemu-ga's guest-get-fsinfo here: two mounts of vda, listed newest first */
    check(&f.def, VD_GUEST_INFO_FILESYSTEM,
          "[{\"name\": \"vda\", \"total-bytes\": 102745280512, \"mountpoint\": \"/run/netns\", "
          "\"disk\": [{\"bus-type\": \"virtio\", \"bus\": 0, \"unit\": 0, \"pci-controller\": "
          "{\"bus\": 0, \"slot\": 2, \"domain\": 0, \"function\": 0}, \"dev\": \"/dev/vda\", "
          "\"target\": 0}], \"used-bytes\": 49053040640, \"type\": \"ext4\"}, {\"name\": \"vda\", "
          "\"total-bytes\": 102745280512, \"mountpoint\": \"/\", \"disk\": [{\"bus-type\": "
          "\"virtio\", \"bus\": 0, \"unit\": 0, \"pci-controller\": {\"bus\": 0, \"slot\": 2, "
          "\"domain\": 0, \"function\": 0}, \"dev\": \"/dev/vda\", \"target\": 0, \"serial\": "
          "\"S123\"}], \"used-bytes\": 49053040640, \"type\": \"ext4\"}]",
          "fs.count (uint) = 2\n"
          "fs.0.name (string) = vda\n"
          "fs.0.mountpoint (string) = /\n"
          "fs.0.fstype (string) = ext4\n"
          "fs.0.total-bytes (ullong) = 102745280512\n"
          "fs.0.used-bytes (ullong) = 49053040640\n"
          "fs.0.disk.count (uint) = 1\n"
          "fs.0.disk.0.alias (string) = vda\n"
          "fs.0.disk.0.serial (string) = S123\n"
          "fs.0.disk.0.device (string) = /dev/vda\n"
          "fs.1.name (string) = vda\n"
          "fs.1.mountpoint (string) = /run/netns\n"
          "fs.1.fstype (string) = ext4\n"
          "fs.1.total-bytes (ullong) = 102745280512\n"
          "fs.1.used-bytes (ullong) = 49053040640\n"
          "fs.1.disk.count (uint) = 1\n"
          "fs.1.disk.0.alias (string) = vda\n"
          "fs.1.disk.0.device (string) = /dev/vda\n",
          "fsinfo: mount order, sizes, the disk named vda by its PCI address");
    /* an old agent without sizes, a disk the domain does not have, a disk-less file system */
    check(
        &f.def, VD_GUEST_INFO_FILESYSTEM,
        "[{\"name\": \"tmpfs\", \"mountpoint\": \"/tmp\", \"type\": \"tmpfs\", \"disk\": []},"
        "{\"name\": \"sdc1\", \"mountpoint\": \"/\", \"type\": \"xfs\", \"disk\": [{\"bus-type\": "
        "\"scsi\", \"bus\": 0, \"target\": 0, \"unit\": 3, \"pci-controller\": {\"domain\": 0, "
        "\"bus\": 0, \"slot\": 9, \"function\": 0}}]}]",
        "fs.count (uint) = 2\n"
        "fs.0.name (string) = sdc1\n"
        "fs.0.mountpoint (string) = /\n"
        "fs.0.fstype (string) = xfs\n"
        "fs.0.disk.count (uint) = 1\n"
        "fs.1.name (string) = tmpfs\n"
        "fs.1.mountpoint (string) = /tmp\n"
        "fs.1.fstype (string) = tmpfs\n"
        "fs.1.disk.count (uint) = 0\n",
        "fsinfo: no sizes without them, no alias for an unknown disk");
    check(&f.def, VD_GUEST_INFO_FILESYSTEM, "[]", "", "fsinfo: none, not even fs.count");

    /* qemu-ga's guest-get-disks here, plus an LVM volume and a partition with a serial */
    check(&f.def, VD_GUEST_INFO_DISKS,
          "[{\"name\": \"/dev/vda\", \"dependencies\": [], \"partition\": false, \"address\": "
          "{\"bus-type\": \"virtio\", \"bus\": 0, \"unit\": 0, \"pci-controller\": {\"bus\": 0, "
          "\"slot\": 2, \"domain\": 0, \"function\": 0}, \"dev\": \"/dev/vda\", \"target\": 0}},"
          "{\"name\": \"/dev/dm-0\", \"dependencies\": [\"/dev/vda2\", \"/dev/vda3\"], "
          "\"partition\": false, \"alias\": \"vg-root\"},"
          "{\"name\": \"/dev/vda2\", \"partition\": true, \"address\": {\"serial\": \"S1\", "
          "\"bus-type\": \"virtio\", \"bus\": 0, \"unit\": 0, \"target\": 0, \"pci-controller\": "
          "{\"bus\": 0, \"slot\": 2, \"domain\": 0, \"function\": 0}}}]",
          "disk.count (uint) = 3\n"
          "disk.0.name (string) = /dev/vda\n"
          "disk.0.partition (bool) = no\n"
          "disk.0.dependency.count (uint) = 0\n"
          "disk.0.alias (string) = vda\n"
          "disk.1.name (string) = /dev/dm-0\n"
          "disk.1.partition (bool) = no\n"
          "disk.1.dependency.count (uint) = 2\n"
          "disk.1.dependency.0.name (string) = /dev/vda2\n"
          "disk.1.dependency.1.name (string) = /dev/vda3\n"
          "disk.1.guest_alias (string) = vg-root\n"
          "disk.2.name (string) = /dev/vda2\n"
          "disk.2.partition (bool) = yes\n"
          "disk.2.serial (string) = S1\n"
          "disk.2.alias (string) = vda\n",
          "disks: partitions, dependencies, serial, alias and the guest's alias");
    check(&f.def, VD_GUEST_INFO_DISKS, "[]", "", "disks: none, not even disk.count");

    check(&f.def, VD_GUEST_INFO_INTERFACES, IFACES,
          "if.count (uint) = 3\n"
          "if.0.name (string) = lo\n"
          "if.0.hwaddr (string) = 00:00:00:00:00:00\n"
          "if.0.addr.count (uint) = 2\n"
          "if.0.addr.0.type (string) = ipv4\n"
          "if.0.addr.0.addr (string) = 127.0.0.1\n"
          "if.0.addr.0.prefix (uint) = 8\n"
          "if.0.addr.1.type (string) = ipv6\n"
          "if.0.addr.1.addr (string) = ::1\n"
          "if.0.addr.1.prefix (uint) = 128\n"
          "if.1.name (string) = ifb0\n"
          "if.1.hwaddr (string) = da:85:71:8c:f4:9d\n"
          "if.1.addr.count (uint) = 0\n"
          "if.2.name (string) = eth0\n"
          "if.2.hwaddr (string) = 02:fc:00:00:00:01\n"
          "if.2.addr.count (uint) = 2\n"
          "if.2.addr.0.type (string) = ipv4\n"
          "if.2.addr.0.addr (string) = 192.0.2.2\n"
          "if.2.addr.0.prefix (uint) = 24\n"
          "if.2.addr.1.type (string) = ipv6\n"
          "if.2.addr.1.addr (string) = fd00::2\n"
          "if.2.addr.1.prefix (uint) = 64\n",
          "interfaces: eth0:1's address joins eth0, ifb0 has none");
    check_ifaddr(IFACES,
                 "lo 00:00:00:00:00:00 ipv4 127.0.0.1/8\n"
                 "lo 00:00:00:00:00:00 ipv6 ::1/128\n"
                 "ifb0 da:85:71:8c:f4:9d\n"
                 "eth0 02:fc:00:00:00:01 ipv4 192.0.2.2/24\n"
                 "eth0 02:fc:00:00:00:01 ipv6 fd00::2/64\n",
                 "domifaddr --source agent: eth0:1's address joins eth0 as libvirt folds it");
    check_ifaddr("[{\"name\": \"eth1:0\", \"hardware-address\": \"02:fc:00:00:00:02\", "
                 "\"ip-addresses\": [{\"ip-address-type\": \"ipv4\", \"ip-address\": "
                 "\"192.0.2.3\", \"prefix\": 24}]}, {\"name\": \"eth1\", \"ip-addresses\": "
                 "[{\"ip-address-type\": \"ipv4\", \"ip-address\": \"192.0.2.4\", "
                 "\"prefix\": 24}]}]",
                 "eth1 02:fc:00:00:00:02 ipv4 192.0.2.3/24\n"
                 "eth1 02:fc:00:00:00:02 ipv4 192.0.2.4/24\n",
                 "domifaddr --source agent: an alias listed first names its base interface");
    check_ifaddr_refused("[{\"name\": \"eth0\", \"ip-addresses\": [{\"ip-address\": "
                         "\"192.0.2.2\", \"prefix\": 24}]}]",
                         "qemu agent didn't provide 'ip-address-type' field for interface "
                         "'eth0'",
                         "domifaddr --source agent: an address without its type is refused");
    check_ifaddr_refused("[{\"name\": \"eth0\", \"ip-addresses\": [{\"ip-address-type\": "
                         "\"ipx\", \"ip-address\": \"1\", \"prefix\": 24}]}]",
                         "unknown ip address type 'ipx'",
                         "domifaddr --source agent: an unknown address type is refused");
    check_ifaddr_refused("[{\"hardware-address\": \"02:fc:00:00:00:01\"}]",
                         "qemu agent didn't provide 'name' field",
                         "domifaddr --source agent: an interface without a name is refused");
    check_ifaddr_refused("[{\"name\": \"eth0\", \"ip-addresses\": 7}]",
                         "Malformed ip-addresses array",
                         "domifaddr --source agent: ip-addresses that is not an array is refused");
    check_ifaddr_refused("{}", "qemu agent didn't return an array of interfaces",
                         "domifaddr --source agent: a return that is not an array is refused");
    check(&f.def, VD_GUEST_INFO_INTERFACES, "[]", "", "interfaces: none, not even if.count");
    check(&f.def, VD_GUEST_INFO_USERS,
          "[{\"user\": \"root\", \"login-time\": 1700000000.5}, {\"user\": \"bob\", \"domain\": "
          "\"CORP\", \"login-time\": 1700000001}]",
          "user.count (uint) = 2\n"
          "user.0.name (string) = root\n"
          "user.0.login-time (ullong) = 1700000000500\n"
          "user.1.name (string) = bob\n"
          "user.1.domain (string) = CORP\n"
          "user.1.login-time (ullong) = 1700000001000\n",
          "users: login time in milliseconds, the domain when there is one");

    /* libvirt's refusals */
    refused(VD_GUEST_INFO_FILESYSTEM, "{}", "guest-get-fsinfo reply was missing or not an array",
            "fsinfo not an array");
    refused(VD_GUEST_INFO_FILESYSTEM, "[{\"name\": \"a\", \"mountpoint\": \"/\", \"type\": \"x\"}]",
            "'disk' missing or not an array in reply of guest-get-fsinfo", "fsinfo without disk");
    refused(VD_GUEST_INFO_FILESYSTEM, "[{\"name\": \"a\", \"type\": \"x\", \"disk\": []}]",
            "'mountpoint' missing in reply of guest-get-fsinfo", "fsinfo without mountpoint");
    refused(VD_GUEST_INFO_FILESYSTEM,
            "[{\"name\": \"a\", \"mountpoint\": \"/\", \"type\": \"x\", \"used-bytes\": -1, "
            "\"disk\": []}]",
            "Error getting 'used-bytes' in reply of guest-get-fsinfo", "fsinfo negative size");
    refused(VD_GUEST_INFO_FILESYSTEM,
            "[{\"name\": \"a\", \"mountpoint\": \"/\", \"type\": \"x\", \"disk\": [{\"bus\": 0, "
            "\"target\": 0, \"unit\": 0}]}]",
            "'pci-controller' missing", "fsinfo disk without pci-controller");
    refused(VD_GUEST_INFO_DISKS, "[{\"name\": \"/dev/vda\"}]",
            "'partition' missing in reply of guest-get-disks", "disk without partition");
    refused(VD_GUEST_INFO_DISKS, "[{\"partition\": true}]",
            "'name' missing in reply of guest-get-disks", "disk without name");
    refused(VD_GUEST_INFO_DISKS, "{\"a\": 1}", "qemu agent didn't return an array of disks",
            "disks not an array");
    refused(VD_GUEST_INFO_INTERFACES,
            "[{\"name\": \"eth0\", \"ip-addresses\": [{\"ip-address-type\": \"ipx\", "
            "\"ip-address\": \"1\", \"prefix\": 1}]}]",
            "unknown ip address type 'ipx'", "interface with an unknown address type");
    refused(VD_GUEST_INFO_INTERFACES,
            "[{\"name\": \"eth0\", \"ip-addresses\": [{\"ip-address-type\": \"ipv4\", "
            "\"ip-address\": \"1.2.3.4\"}]}]",
            "malformed 'prefix' field", "interface address without prefix");
    refused(VD_GUEST_INFO_INTERFACES, "[{\"hardware-address\": \"x\"}]",
            "qemu agent didn't provide 'name' field", "interface without name");
    refused(VD_GUEST_INFO_USERS, "[{\"user\": \"root\"}]",
            "'login-time' missing in reply of guest-get-users", "user without login-time");
    refused(VD_GUEST_INFO_TIMEZONE, "{\"zone\": \"UTC\"}",
            "'offset' missing in reply of guest-get-timezone", "timezone without offset");

    /* guest-get-vcpus (qemu-ga's answer on a 2-CPU host) as guestvcpus' three cpulists */
    struct json_object *vj = json_tokener_parse(
        "[{\"online\": true, \"can-offline\": true, \"logical-id\": 1}, {\"online\": true, "
        "\"can-offline\": false, \"logical-id\": 0}, {\"online\": false, \"can-offline\": "
        "true, \"logical-id\": 3}, {\"online\": true, \"logical-id\": 2}]");
    struct vd_agent_vcpu *v = NULL;
    size_t nv = 0;
    struct verr e = {0};
    struct remote_domain_get_guest_vcpus_ret vp = {0};
    ok(vd_agent_vcpus(vj, &v, &nv, &e) == 0 && nv == 4 &&
           vd_agent_vcpus_params(v, nv, &vp, &e) == 0 && vp.params_len == 3 &&
           !strcmp(vp.params[0].field, "vcpus") && !strcmp(vp.params[0].value.s, "0-3") &&
           !strcmp(vp.params[1].field, "online") && !strcmp(vp.params[1].value.s, "0-2") &&
           !strcmp(vp.params[2].field, "offlinable") && !strcmp(vp.params[2].value.s, "1,3"),
       "guest-get-vcpus: vcpus 0-3, online 0-2, offlinable 1,3 (can-offline absent: no)");
    if (vp.params_len)
        remote_domain_get_guest_vcpus_ret_free(&vp);
    free(v);
    json_object_put(vj);
    struct {
        const char *json;
        unsigned n;
        int r;
        const char *want; /* the modified vCPUs with their new state, or the error */
    } plans[] = {
        {"[{\"logical-id\": 0, \"online\": true, \"can-offline\": true}, {\"logical-id\": 1, "
         "\"online\": true, \"can-offline\": true}, {\"logical-id\": 2, \"online\": true, "
         "\"can-offline\": true}]",
         1, 0, "1-off 2-off "},
        {"[{\"logical-id\": 0, \"online\": true, \"can-offline\": false}, {\"logical-id\": 1, "
         "\"online\": false, \"can-offline\": true}, {\"logical-id\": 2, \"online\": false, "
         "\"can-offline\": true}]",
         2, 0, "1-on "},
        {"[{\"logical-id\": 0, \"online\": true, \"can-offline\": false}, {\"logical-id\": 1, "
         "\"online\": true, \"can-offline\": false}]",
         1, -EINVAL, "Cannot offline enough CPUs"},
        {"[{\"logical-id\": 0, \"online\": true, \"can-offline\": false}]", 2, -EPROTO,
         "guest agent reports less cpu than requested"},
        {"[{\"logical-id\": 0, \"online\": true}, {\"logical-id\": 1, \"online\": false}]", 1,
         -EPROTO, "Invalid data provided by guest agent"},
    };
    for (size_t i = 0; i < sizeof(plans) / sizeof(plans[0]); i++) {
        struct json_object *pj = json_tokener_parse(plans[i].json);
        struct verr pe = {0};
        v = NULL;
        int r = vd_agent_vcpus(pj, &v, &nv, &pe);
        if (r == 0)
            r = vd_agent_vcpus_plan_count(v, nv, plans[i].n, &pe);
        char got[128] = "";
        for (size_t k = 0; r == 0 && k < nv; k++)
            if (v[k].modified)
                snprintf(got + strlen(got), sizeof(got) - strlen(got), "%u-%s ", v[k].id,
                         v[k].online ? "on" : "off");
        ok(r == plans[i].r && !strcmp(r ? verr_msg(&pe) : got, plans[i].want),
           "setvcpus --guest %u: %s", plans[i].n, r ? verr_msg(&pe) : got);
        free(v);
        json_object_put(pj);
    }
    struct json_object *bad = json_tokener_parse("[{\"online\": true}]");
    v = NULL;
    ok(vd_agent_vcpus(bad, &v, &nv, &e) < 0 &&
           !strcmp(verr_msg(&e), "'logical-id' missing in reply of guest-get-vcpus"),
       "guest-get-vcpus without logical-id: %s", verr_msg(&e));
    json_object_put(bad);
    return tap_done();
}
