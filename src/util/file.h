/*
 * file.h - whole-file and whole-buffer I/O, and atomic replacement of files.
 */
#ifndef VIREO_UTIL_FILE_H
#define VIREO_UTIL_FILE_H

#include "buf.h"
#include "error.h"

#include <sys/types.h>

/* write(2) until all len bytes are written, retrying on EINTR. 0 or -errno. */
int fd_write_all(int fd, const void *data, size_t len);
/* read(2) until len bytes or end of file; returns bytes read or -errno. */
ssize_t fd_read_all(int fd, void *data, size_t len);

/*
 * Reads a whole file into out (appending). Refuses files larger than max_size
 * with -EFBIG. Errors name the file.
 */
int file_read_all(const char *path, size_t max_size, struct buf *out, struct verr *err);

/*
 * Replaces `path` with `data` so that a reader (or a crash) sees either the
 * old contents or the new, never a mix: writes a temporary file in the same
 * directory, fsyncs it, renames it over path, then fsyncs the directory.
 * The new file gets permission bits `mode`. On failure the temporary file is
 * removed and the old file is untouched.
 */
int file_replace_atomic(const char *path, const void *data, size_t len, mode_t mode,
                        struct verr *err);

#endif
