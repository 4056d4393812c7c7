/*
 * fuzz-net-leases.c - libFuzzer target for vireod's reader of dnsmasq's lease
 * file (src/daemon/network.c). The file is dnsmasq's, but its hostnames and
 * client ids come from guests over DHCP, so it is parsed as untrusted text:
 * every lease it yields must have a well-formed MAC and an IPv4 address (an
 * IPv6 one for a DHCPv6 lease, with a decimal IAID), and NUL-terminated fields
 * within their sizes, or the target aborts.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/network.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 20)
        return 0;
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    struct vd_network_lease *ls = NULL;
    size_t n = 0;
    vd_network_leases_parse(text, &ls, &n);
    for (size_t i = 0; i < n; i++) {
        unsigned char a[16];
        if (strnlen(ls[i].mac, sizeof(ls[i].mac)) != 17 ||
            strnlen(ls[i].ip, sizeof(ls[i].ip)) >= sizeof(ls[i].ip) ||
            inet_pton(ls[i].ipv6 ? AF_INET6 : AF_INET, ls[i].ip, a) != 1 ||
            strnlen(ls[i].iaid, sizeof(ls[i].iaid)) >= sizeof(ls[i].iaid) ||
            (ls[i].ipv6 ? !ls[i].iaid[0] || ls[i].iaid[strspn(ls[i].iaid, "0123456789")]
                        : ls[i].iaid[0] != 0) ||
            strnlen(ls[i].hostname, sizeof(ls[i].hostname)) >= sizeof(ls[i].hostname) ||
            strnlen(ls[i].clientid, sizeof(ls[i].clientid)) >= sizeof(ls[i].clientid) ||
            ls[i].expiry < 0) {
            fprintf(stderr, "fuzz-net-leases: a bad lease came out (%s %s)\n", ls[i].mac, ls[i].ip);
            abort();
        }
    }
    free(ls);
    free(text);
    return 0;
}
