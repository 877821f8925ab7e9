/* log: one line per event, logfmt or JSON, with levels. */
#ifndef KPROFEFE_LOG_H
#define KPROFEFE_LOG_H

#include <stdio.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_LOGFMT, LOG_JSON };

/* Sets where lines go (default stderr), their format and the lowest level written. */
void log_setup(FILE *out, enum log_format format, enum log_level min_level);
/* Parses "debug", "info", "warn", "error" / "logfmt", "json"; -1 when unknown. */
int log_level_parse(const char *name);
int log_format_parse(const char *name);

/*
 * Writes one event: a message and then key/value string pairs, NULL-terminated:
 *   log_event(LOG_WARN, "annotation invalid", "pod", "ns/name", "value", v, NULL);
 * A NULL value is written as an empty string. Nothing is kept.
 */
void log_event(enum log_level level, const char *msg, ...);

/* Non-zero when events of this level are written: for callers whose values cost
 * something to format, on paths taken for every profile. */
int log_enabled(enum log_level level);

#endif
