/* buf: a growable byte buffer, always NUL-terminated so text can be read in place. */
#ifndef KPROFEFE_BUF_H
#define KPROFEFE_BUF_H

#include <stddef.h>

typedef struct buf {
	unsigned char *data; /* owned; NULL until the first append */
	size_t len;          /* bytes used, not counting the terminating NUL */
	size_t cap;
} buf_t;

#define BUF_INIT {NULL, 0, 0}

void buf_append(buf_t *b, const void *data, size_t len);
/* The capacity b will have once extra more bytes are appended (for memory accounting). */
size_t buf_cap_after(const buf_t *b, size_t extra);
void buf_append_str(buf_t *b, const char *s);
void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drops the first n bytes (n <= len), keeping the rest. */
void buf_consume(buf_t *b, size_t n);
void buf_reset(buf_t *b);
/* Returns the contents as a C string; the caller owns it and b is left empty. */
char *buf_detach(buf_t *b);
void buf_free(buf_t *b);

#endif
