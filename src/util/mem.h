/*
 * mem.h - allocation that cannot return NULL.
 *
 * Vireo's processes are small and an allocation failure on a Linux host means
 * the OOM killer is already busy; handling NULL at every call site adds error
 * paths that are never tested. So, like GLib's g_malloc, these abort with a
 * message instead. Use plain malloc where a failure is expected and handled
 * (for example a size taken from untrusted input: bound it first).
 */
#ifndef VIREO_UTIL_MEM_H
#define VIREO_UTIL_MEM_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
/* Reallocates ptr to hold count elements of size bytes, checking for overflow. */
void *xreallocarray(void *ptr, size_t count, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* A heap string from a format, like asprintf. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
