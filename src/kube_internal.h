/* kube_internal: helpers shared by the kube_*.c files only (JSON lookups, error text). */
#ifndef KPROFEFE_KUBE_INTERNAL_H
#define KPROFEFE_KUBE_INTERNAL_H

#include <stddef.h>
#include <yajl/yajl_tree.h>

#include "kprofefe/kube.h"

/* The member key of object obj, or NULL when obj is no object or has no such member. */
yajl_val kube_json_get(yajl_val obj, const char *key);
/* The string member key: 0 with *out set (NULL when absent or null), -1 when it is of
 * another type. */
int kube_json_str(yajl_val obj, const char *key, const char **out);
/* Writes printf-style text into err (errlen may be 0). Always returns -1. */
int kube_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Applies an exec plugin's output (text: an ExecCredential as JSON, borrowed) to cfg,
 * whose user has an exec section: token, client certificate and key, expiry. Returns 0,
 * or -1 with a message in err naming the plugin. Exposed for the fuzzer. */
int kube_exec_credential_parse(kube_config *cfg, const char *text, char *err, size_t errlen);

#endif
