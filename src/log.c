/* log: one line per event, in logfmt or JSON, filtered by level. */
#include "kprofefe/log.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "kprofefe/buf.h"

static FILE *log_out;
static enum log_format log_fmt = LOG_LOGFMT;
static enum log_level log_min = LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_setup(FILE *out, enum log_format format, enum log_level min_level)
{
	log_out = out;
	log_fmt = format;
	log_min = min_level;
}

int log_level_parse(const char *name)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	return -1;
}

int log_format_parse(const char *name)
{
	if (strcmp(name, "logfmt") == 0)
		return LOG_LOGFMT;
	if (strcmp(name, "json") == 0)
		return LOG_JSON;
	return -1;
}

/* The length of the well-formed UTF-8 character at p, or 0 when it is not one
 * (stray continuation, overlong form, surrogate, past U+10FFFF, cut short). */
static size_t utf8_char_len(const unsigned char *p)
{
	size_t n;
	unsigned int min;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		min = 0x80;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		min = 0x10000;
	} else {
		return 0;
	}
	unsigned int c = p[0] & (0x7fu >> n); /* the lead byte's payload bits */
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80) /* also stops at the NUL */
			return 0;
		c = (c << 6) | (p[i] & 0x3fu);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	return n;
}

/* logfmt needs quotes for spaces, quotes, '=' and control characters and
 * bytes that are not UTF-8 (escaped as U+FFFD). */
static int logfmt_needs_quotes(const char *v)
{
	if (*v == '\0')
		return 1;
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p == 0x7f)
			return 1;
		if (*p >= 0x80) {
			size_t n = utf8_char_len(p);
			if (n == 0)
				return 1;
			p += n - 1;
		}
	}
	return 0;
}

/* Escapes the way both logfmt's quoted values and JSON strings accept. Values
 * can come from peers, so bytes that are not UTF-8 become U+FFFD: a JSON line
 * must stay valid whatever a pod or an API server sent. */
static void append_escaped(buf_t *b, const char *v)
{
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (*p >= 0x80) {
			size_t n = utf8_char_len(p);
			if (n == 0) {
				buf_append_str(b, "\xef\xbf\xbd");
				continue;
			}
			buf_append(b, p, n);
			p += n - 1;
			continue;
		}
		switch (*p) {
		case '"': buf_append_str(b, "\\\""); break;
		case '\\': buf_append_str(b, "\\\\"); break;
		case '\n': buf_append_str(b, "\\n"); break;
		case '\r': buf_append_str(b, "\\r"); break;
		case '\t': buf_append_str(b, "\\t"); break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				buf_printf(b, "\\u%04x", *p);
			else
				buf_append(b, p, 1);
		}
	}
}

static void append_pair(buf_t *b, const char *key, const char *value, int first)
{
	if (log_fmt == LOG_JSON) {
		buf_append_str(b, first ? "{\"" : ",\"");
		append_escaped(b, key);
		buf_append_str(b, "\":\"");
		append_escaped(b, value);
		buf_append_str(b, "\"");
		return;
	}
	if (!first)
		buf_append_str(b, " ");
	buf_append_str(b, key);
	buf_append_str(b, "=");
	if (!logfmt_needs_quotes(value)) {
		buf_append_str(b, value);
		return;
	}
	buf_append_str(b, "\"");
	append_escaped(b, value);
	buf_append_str(b, "\"");
}

static void format_time(char *out, size_t len)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(out, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

int log_enabled(enum log_level level)
{
	return level >= log_min;
}

void log_event(enum log_level level, const char *msg, ...)
{
	if (level < log_min)
		return;
	char when[40];
	format_time(when, sizeof(when));
	buf_t line = BUF_INIT;
	append_pair(&line, "time", when, 1);
	append_pair(&line, "level", level_names[level], 0);
	append_pair(&line, "msg", msg, 0);
	va_list ap;
	va_start(ap, msg);
	const char *key;
	while ((key = va_arg(ap, const char *)) != NULL) {
		const char *value = va_arg(ap, const char *);
		append_pair(&line, key, value ? value : "", 0);
	}
	va_end(ap);
	buf_append_str(&line, log_fmt == LOG_JSON ? "}\n" : "\n");
	FILE *out = log_out ? log_out : stderr;
	fwrite(line.data, 1, line.len, out);
	fflush(out);
	buf_free(&line);
}
