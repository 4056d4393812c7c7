#!/usr/bin/python3
"""rebalance.py - even out the VMs of a fleet of hosts, the way OpenStack
Nova's libvirt driver moves them: with the stock libvirt-python bindings,
live migration (protocol v3 with parameters) from the busiest host to the
idlest until no host has more than one VM above another.

  rebalance.py URI=LISTEN_ADDRESS ...

Each argument names a host: its libvirt URI and the address its daemon
should listen on for incoming migrations (hosts in network namespaces on one
machine share a host name, so the address must be given). Prints where each
VM runs before and after, and each migration's downtime as the destination
reports it (domjobinfo --completed: from the moment the source stopped the
vCPUs to the moment they run on the destination).
"""
import sys

import libvirt


def placement(conns):
    return {uri: sorted(d.name() for d in c.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE))
            for uri, c in conns.items()}


def show(title, where, label):
    print(title)
    for uri, names in where.items():
        print("  %-6s %s" % (label[uri], " ".join(names) or "-"))


def main(args):
    hosts = dict(a.rsplit("=", 1) for a in args)
    conns = {uri: libvirt.open(uri) for uri in hosts}
    label = {uri: "host%d" % i for i, uri in enumerate(hosts)}
    show("before:", placement(conns), label)
    moves = 0
    while True:
        where = placement(conns)
        busiest = max(where, key=lambda u: len(where[u]))
        idlest = min(where, key=lambda u: len(where[u]))
        if len(where[busiest]) - len(where[idlest]) <= 1:
            break
        name = where[busiest][-1]
        dom = conns[busiest].lookupByName(name)
        params = {libvirt.VIR_MIGRATE_PARAM_LISTEN_ADDRESS: hosts[idlest]}
        ddom = dom.migrate3(conns[idlest], params, libvirt.VIR_MIGRATE_LIVE)
        stats = ddom.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
        moves += 1
        print("migrated %-6s %s -> %s: downtime %d ms, %d ms in all" %
              (name, label[busiest], label[idlest], stats.get("downtime", -1),
               stats.get("time_elapsed", -1)))
    show("after (%d migrations):" % moves, placement(conns), label)
    for c in conns.values():
        c.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
