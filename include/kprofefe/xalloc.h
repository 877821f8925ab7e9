/* xalloc: allocation wrappers that abort on out-of-memory, so callers need not check. */
#ifndef KPROFEFE_XALLOC_H
#define KPROFEFE_XALLOC_H

#include <stddef.h>

/* Each returns memory the caller owns and frees with free(); none returns NULL. */
void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a new string. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
