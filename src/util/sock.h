/*
 * sock.h - unix socket helpers shared by the VMM's listeners (QMP, chardevs)
 * and anything else that serves on a path.
 */
#ifndef VIREO_UTIL_SOCK_H
#define VIREO_UTIL_SOCK_H

#include <sys/types.h>

/*
 * Creates a listening AF_UNIX stream socket at path (flags: SOCK_CLOEXEC,
 * SOCK_NONBLOCK) with file mode `mode` (0: leave it to the umask). The path
 * appears only once the socket listens: it is bound under a temporary name in
 * the same directory and renamed into place, so a client that sees the file
 * never gets ECONNREFUSED from the moment between bind() and listen(). An
 * existing file at path is replaced (callers check for a live owner first).
 * Returns the fd or -errno.
 */
int sock_unix_listen(const char *path, int flags, mode_t mode, int backlog);

#endif
