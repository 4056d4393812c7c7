/*
 * domain_priv.h - internals shared by the domain parser, the normaliser and
 * the formatter (not for users of src/conf).
 */
#ifndef VIREO_CONF_DOMAIN_PRIV_H
#define VIREO_CONF_DOMAIN_PRIV_H

#include "conf/domain_conf.h"

void domain_disk_clear(struct domain_disk *d);
void domain_net_clear(struct domain_net *n);
void domain_controller_clear(struct domain_controller *c);

/* Fills defaults, implied devices and addresses (libvirt's post-parse), then validates. */
int domain_def_post_parse(struct domain_def *def, unsigned flags, struct verr *err);

/* "sda" -> 0, "hdc" -> 2, "vdaa" -> 26; -1 when the name has no known prefix. */
int domain_disk_name_to_index(const char *name, const char **prefix_end);

/* Rank of a device element in libvirt's canonical <devices> order. */
int domain_device_rank(const char *element);

/* Appends a device (taking the node) keeping canonical order. */
void domain_device_append(struct domain_def *def, struct xnode *node);

#endif
