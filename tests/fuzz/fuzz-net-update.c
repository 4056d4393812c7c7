/*
 * fuzz-net-update.c - libFuzzer target for net-update's edit of a network
 * definition (network_def_update: the client's section XML, its command,
 * section and parent index).
 *
 * Input: byte 0 the section, byte 1 the command, byte 2 the parent index
 * (as a signed byte), the rest the element's XML; applied to a fixed
 * network with two <ip>s, a range, hosts, portgroups, a domain, DNS records
 * and a route. A result must
 * format to XML that parses back to the same text (a fixed point); a
 * difference aborts, so the fuzzer reports it like a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/network_update.h"
#include "util/log.h"

static const char base[] =
    "<network><name>n</name><bridge name='vbr0'/>"
    "<portgroup name='a' default='yes'/><portgroup name='b'><vlan><tag id='3'/></vlan></portgroup>"
    "<ip address='198.18.0.1' prefix='24'><dhcp><range start='198.18.0.10' end='198.18.0.20'/>"
    "<host mac='52:54:00:00:00:01' ip='198.18.0.5'/><host name='h' ip='198.18.0.6'/></dhcp></ip>"
    "<ip address='198.19.0.1' prefix='24'/><domain name='d.test' localOnly='yes'/>"
    "<dns><forwarder domain='u.test' addr='198.18.0.9'/><txt name='t' value='v'/>"
    "<srv service='s' protocol='tcp' target='h' port='1'/><host ip='198.18.0.7'>"
    "<hostname>h</hostname></host></dns>"
    "<route address='198.18.9.0' prefix='24' gateway='198.18.0.2'/></network>";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3 || size > 65536)
        return 0;
    struct network_def *def = NULL, *out = NULL;
    struct verr err = {0};
    if (network_def_parse_string(base, 0, &def, &err) < 0)
        abort();
    char *xml = malloc(size - 3 + 1);
    memcpy(xml, data + 3, size - 3);
    xml[size - 3] = '\0';
    if (network_def_update(def, data[1] % 6, data[0] % 14, (int8_t)data[2], xml, &out, &err) == 0) {
        char *once = network_def_format(out, 0);
        network_def_free(out);
        out = NULL;
        if (network_def_parse_string(once, 0, &out, &err) < 0) {
            fprintf(stderr, "fuzz-net-update: output does not parse: %s\n%s\n", verr_msg(&err),
                    once);
            abort();
        }
        char *twice = network_def_format(out, 0);
        if (strcmp(once, twice) != 0) {
            fprintf(stderr, "fuzz-net-update: not a fixed point\n%s\n---\n%s\n", once, twice);
            abort();
        }
        free(once);
        free(twice);
    }
    network_def_free(out);
    network_def_free(def);
    free(xml);
    return 0;
}
