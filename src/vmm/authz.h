/*
 * authz.h - QEMU's authorization objects: -object authz-simple,id=ID,identity=NAME (one
 * identity allowed) and -object authz-list,id=ID,policy=deny|allow,rules.N.match=...,
 * rules.N.policy=deny|allow,rules.N.format=exact|glob (the first rule that matches decides;
 * none: the list's policy, deny by default; glob as fnmatch(3)), and -object authz-listfile,
 * id=ID,filename=PATH[,refresh=on|off] (the same list in a JSON file, reloaded when it changes
 * with refresh=on, QEMU's default). The TLS servers (migration's
 * tls-authz, nbd-server-start tls-authz) ask one about the distinguished name of the client's
 * certificate after the handshake (state/mig-tls.h).
 *
 * An object (authz-listfile's list aside, which is swapped under a lock) is immutable once
 * parsed and counted by reference, so a handshake on another
 * thread can ask it while object-del takes it out of the VMM's list.
 */
#ifndef VIREO_VMM_AUTHZ_H
#define VIREO_VMM_AUTHZ_H

#include <stdbool.h>
#include <stddef.h>

struct verr;
struct authz;

/* Is this -object's argument an authz-simple or authz-list (first item or qom-type=)? */
bool authz_spec_is(const char *optstr);
/* Parses it; bad input is one line (QEMU's words where it has them), nothing allocated. */
int authz_parse(const char *optstr, struct authz **out, struct verr *err);
const char *authz_id(const struct authz *a);
struct authz *authz_ref(struct authz *a);
void authz_unref(struct authz *a);
/* Users: the loaded TLS credentials of a running migration or NBD server that ask a (each
 * also holds a reference); object-del refuses an object in use. */
void authz_use(struct authz *a);
void authz_unuse(struct authz *a);
bool authz_in_use(const struct authz *a);
/* Does a allow identity (e.g. a certificate's DN as GnuTLS prints it)? */
bool authz_is_allowed(struct authz *a, const char *identity);
/* authz-listfile: reads filename now (one line naming it and what is wrong), and with refresh=on
 * starts watching it; nothing for the other types. */
int authz_load(struct authz *a, struct verr *err);

/* authz-listfile's file: QEMU's JSON {"policy": "deny"|"allow", "rules": [{"match": M,
 * "policy": P, "format": "exact"|"glob"}, ...]}, untrusted bytes (fuzz-authz-list). */
struct authz_list;
int authz_list_parse_json(const char *text, size_t len, struct authz_list **out, struct verr *err);
void authz_list_free(struct authz_list *l);
bool authz_list_allows(const struct authz_list *l, const char *identity);

#endif
