/*
 * authz.h - QEMU's authorization objects: -object authz-simple,id=ID,identity=NAME (one
 * identity allowed) and -object authz-list,id=ID,policy=deny|allow,rules.N.match=...,
 * rules.N.policy=deny|allow,rules.N.format=exact|glob (the first rule that matches decides;
 * none: the list's policy, deny by default; glob as fnmatch(3)). The TLS servers (migration's
 * tls-authz, nbd-server-start tls-authz) ask one about the distinguished name of the client's
 * certificate after the handshake (state/mig-tls.h).
 *
 * An object is immutable once parsed and counted by reference, so a handshake on another
 * thread can ask it while object-del takes it out of the VMM's list.
 */
#ifndef VIREO_VMM_AUTHZ_H
#define VIREO_VMM_AUTHZ_H

#include <stdbool.h>

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
bool authz_is_allowed(const struct authz *a, const char *identity);

#endif
