/* pprof: profile types and endpoints; gzip/protobuf checks of bodies; reading a Profile. */
#include "kprofefe/pprof.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "kprofefe/buf.h"
#include "kprofefe/xalloc.h"

/* ---- types ------------------------------------------------------------------------- */

static const char *const type_names[PPROF_TYPE_COUNT] = {
	"cpu", "heap", "allocs", "goroutine", "mutex", "block", "threadcreate", "trace",
};

static const char *const profefe_types[PPROF_TYPE_COUNT] = {
	"cpu", "heap", "other", "goroutine", "mutex", "block", "threadcreate", "trace",
};

const char *pprof_type_name(enum pprof_type t)
{
	if ((unsigned)t >= PPROF_TYPE_COUNT)
		return "unknown";
	return type_names[t];
}

const char *pprof_profefe_type(enum pprof_type t)
{
	if ((unsigned)t >= PPROF_TYPE_COUNT)
		return "other";
	return profefe_types[t];
}

static int type_parse_n(const char *name, size_t len, enum pprof_type *out)
{
	for (unsigned i = 0; i < PPROF_TYPE_COUNT; i++) {
		if (strlen(type_names[i]) == len && memcmp(type_names[i], name, len) == 0) {
			*out = (enum pprof_type)i;
			return 0;
		}
	}
	return -1;
}

int pprof_type_parse(const char *name, enum pprof_type *out)
{
	if (name == NULL)
		return -1;
	return type_parse_n(name, strlen(name), out);
}

char *pprof_endpoint(enum pprof_type t, int seconds)
{
	if (seconds < 1)
		seconds = 1;
	if (t == PPROF_CPU)
		return xasprintf("profile?seconds=%d", seconds);
	if (t == PPROF_TRACE)
		return xasprintf("trace?seconds=%d", seconds);
	return xstrdup(pprof_type_name(t));
}

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

int pprof_types_parse(const char *list, unsigned *mask, char *err, size_t errlen)
{
	unsigned m = 0;
	const char *p = list ? list : "";

	for (;;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *s = p;
		enum pprof_type t;

		while (len > 0 && is_blank(*s)) {
			s++;
			len--;
		}
		while (len > 0 && is_blank(s[len - 1]))
			len--;
		if (len == 0) {
			snprintf(err, errlen, "empty profile type in \"%s\"", list ? list : "");
			return -1;
		}
		if (type_parse_n(s, len, &t) != 0) {
			char *known = pprof_types_format(PPROF_ALL_TYPES);
			snprintf(err, errlen, "unknown profile type \"%.*s\" (known: %s)",
				 (int)(len > 64 ? 64 : len), s, known);
			free(known);
			return -1;
		}
		m |= PPROF_BIT(t);
		if (end == NULL)
			break;
		p = end + 1;
	}
	*mask = m;
	return 0;
}

char *pprof_types_format(unsigned mask)
{
	buf_t b = BUF_INIT;

	buf_append_str(&b, "");
	for (unsigned i = 0; i < PPROF_TYPE_COUNT; i++) {
		if ((mask & PPROF_BIT(i)) == 0)
			continue;
		if (b.len > 0)
			buf_append_str(&b, ",");
		buf_append_str(&b, type_names[i]);
	}
	return buf_detach(&b);
}

/* ---- protobuf wire format ------------------------------------------------------------ */

/* A cursor over one protobuf message. */
typedef struct pb {
	const unsigned char *p;
	const unsigned char *end;
} pb;

int pprof_type_is_cumulative(enum pprof_type t)
{
	return t == PPROF_ALLOCS || t == PPROF_BLOCK || t == PPROF_MUTEX;
}

static const char *const delta_names[PPROF_DELTA_COUNT] = {"false", "true", "godeltaprof"};

const char *pprof_delta_name(enum pprof_delta d)
{
	if ((unsigned)d >= PPROF_DELTA_COUNT)
		return "unknown";
	return delta_names[d];
}

int pprof_delta_parse(const char *s, enum pprof_delta *out)
{
	for (unsigned i = 0; s && i < PPROF_DELTA_COUNT; i++) {
		if (strcmp(s, delta_names[i]) == 0) {
			*out = (enum pprof_delta)i;
			return 0;
		}
	}
	return -1;
}

/* godeltaprof serves allocs inside its heap profile: delta_heap's alloc_* values are
 * the change, its inuse_* values the snapshot (what /allocs holds too). */
static const char *godeltaprof_endpoint(enum pprof_type t)
{
	switch (t) {
	case PPROF_ALLOCS: return "delta_heap";
	case PPROF_BLOCK: return "delta_block";
	case PPROF_MUTEX: return "delta_mutex";
	default: return NULL;
	}
}

char *pprof_delta_endpoint(enum pprof_type t, enum pprof_delta d, int seconds)
{
	if (!pprof_type_is_cumulative(t) || d == PPROF_DELTA_OFF)
		return pprof_endpoint(t, seconds);
	if (d == PPROF_DELTA_GODELTAPROF)
		return xstrdup(godeltaprof_endpoint(t));
	return xasprintf("%s?seconds=%d", pprof_type_name(t), seconds < 1 ? 1 : seconds);
}

int pprof_endpoint_waits(enum pprof_type t, enum pprof_delta d)
{
	return t == PPROF_CPU || t == PPROF_TRACE ||
	       (d == PPROF_DELTA_SECONDS && pprof_type_is_cumulative(t));
}

/* One field as read from the wire. */
typedef struct pb_field {
	uint32_t num;
	int wire;
	uint64_t v;                /* wire 0 */
	const unsigned char *data; /* wire 2 */
	size_t len;
} pb_field;

enum { WIRE_VARINT = 0, WIRE_I64 = 1, WIRE_LEN = 2, WIRE_I32 = 5 };

static int pb_varint(pb *r, uint64_t *out)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < 10; i++) {
		if (r->p >= r->end)
			return -1;
		unsigned char c = *r->p++;
		if (i == 9 && c > 1)
			return -1; /* more than 64 bits */
		v |= (uint64_t)(c & 0x7f) << (7 * i);
		if ((c & 0x80) == 0) {
			*out = v;
			return 0;
		}
	}
	return -1;
}

/* Reads the next field: 1 when one was read, 0 at the end, -1 when malformed. Groups
 * (wire types 3 and 4) are malformed: pprof never uses them. */
static int pb_next(pb *r, pb_field *f)
{
	uint64_t tag, len;

	if (r->p >= r->end)
		return 0;
	if (pb_varint(r, &tag) != 0)
		return -1;
	f->num = (uint32_t)(tag >> 3);
	f->wire = (int)(tag & 7);
	if (tag >> 3 == 0 || tag >> 3 > 0x1fffffff)
		return -1;
	f->data = NULL;
	f->len = 0;
	f->v = 0;
	switch (f->wire) {
	case WIRE_VARINT:
		return pb_varint(r, &f->v) == 0 ? 1 : -1;
	case WIRE_I64:
	case WIRE_I32: {
		size_t n = f->wire == WIRE_I64 ? 8 : 4;
		if ((size_t)(r->end - r->p) < n)
			return -1;
		r->p += n;
		return 1;
	}
	case WIRE_LEN:
		if (pb_varint(r, &len) != 0 || len > (uint64_t)(r->end - r->p))
			return -1;
		f->data = r->p;
		f->len = (size_t)len;
		r->p += len;
		return 1;
	default:
		return -1;
	}
}

/* Walks a whole message: 0 when every field is well-formed up to the end. */
static int pb_walk(const unsigned char *data, size_t len)
{
	pb r = {data, data + len};
	pb_field f;
	int rc;

	while ((rc = pb_next(&r, &f)) == 1)
		;
	return rc;
}

/* Profile field numbers (github.com/google/pprof/proto/profile.proto). */
enum {
	PF_SAMPLE_TYPE = 1,
	PF_SAMPLE = 2,
	PF_MAPPING = 3,
	PF_LOCATION = 4,
	PF_FUNCTION = 5,
	PF_STRING_TABLE = 6,
	PF_DROP_FRAMES = 7,
	PF_KEEP_FRAMES = 8,
	PF_TIME_NANOS = 9,
	PF_DURATION_NANOS = 10,
	PF_PERIOD_TYPE = 11,
	PF_PERIOD = 12,
	PF_COMMENT = 13,
	PF_DEFAULT_SAMPLE_TYPE = 14,
};

/* The wire type a known Profile field must have; -1 for fields this code does not know
 * (accepted: newer pprof versions add fields). */
static int profile_field_wire(uint32_t num)
{
	switch (num) {
	case PF_SAMPLE_TYPE:
	case PF_SAMPLE:
	case PF_MAPPING:
	case PF_LOCATION:
	case PF_FUNCTION:
	case PF_STRING_TABLE:
	case PF_PERIOD_TYPE:
		return WIRE_LEN;
	case PF_DROP_FRAMES:
	case PF_KEEP_FRAMES:
	case PF_TIME_NANOS:
	case PF_DURATION_NANOS:
	case PF_PERIOD:
	case PF_DEFAULT_SAMPLE_TYPE:
		return WIRE_VARINT;
	default:
		return -1;
	}
}

/* Checks a Location message, including its Line submessages. */
static int location_ok(const unsigned char *data, size_t len)
{
	pb r = {data, data + len};
	pb_field f;
	int rc;

	while ((rc = pb_next(&r, &f)) == 1) {
		if (f.num == 4 && (f.wire != WIRE_LEN || pb_walk(f.data, f.len) != 0))
			return -1;
	}
	return rc;
}

/* What walking a Profile's top-level fields found so far. */
typedef struct profile_walk {
	int seen_strings;
	int bad;
	pprof_body_facts facts;
} profile_walk;

/* Checks one top-level field of a Profile. */
static void walk_field(profile_walk *w, const pb_field *f)
{
	int want = profile_field_wire(f->num);

	if (f->num == PF_COMMENT || want < 0) /* comment: packed or not; unknown: newer */
		return;
	if (f->wire != want) {
		w->bad = 1;
		return;
	}
	switch (f->num) {
	case PF_STRING_TABLE:
		/* The first string must be "" (pprof's own parser requires it). */
		if (!w->seen_strings && f->len != 0)
			w->bad = 1;
		w->seen_strings = 1;
		return;
	case PF_LOCATION:
		if (location_ok(f->data, f->len) != 0)
			w->bad = 1;
		return;
	case PF_SAMPLE:
		w->facts.n_samples++;
		break;
	case PF_TIME_NANOS:
		w->facts.time_nanos = (int64_t)f->v;
		return;
	case PF_DURATION_NANOS:
		w->facts.duration_nanos = (int64_t)f->v;
		return;
	default:
		break;
	}
	if (f->wire == WIRE_LEN && pb_walk(f->data, f->len) != 0)
		w->bad = 1;
}

static int walk_profile(const unsigned char *data, size_t len, pprof_body_facts *facts)
{
	pb r = {data, data + len};
	pb_field f;
	profile_walk w = {0};
	int rc;

	if (data == NULL || len == 0)
		return 0;
	while (!w.bad && (rc = pb_next(&r, &f)) == 1)
		walk_field(&w, &f);
	if (w.bad || rc != 0 || !w.seen_strings)
		return 0;
	if (facts)
		*facts = w.facts;
	return 1;
}

int pprof_is_profile(const unsigned char *data, size_t len)
{
	return walk_profile(data, len, NULL);
}

/* ---- gzip ------------------------------------------------------------------------------ */

static int is_gzip(const unsigned char *data, size_t len)
{
	return len >= 2 && data[0] == 0x1f && data[1] == 0x8b;
}

static size_t inflate_cap(size_t in_len, size_t max_out)
{
	size_t cap;

	if (max_out != 0)
		return max_out;
	if (in_len > PPROF_MAX_INFLATE_CAP / 64)
		return PPROF_MAX_INFLATE_CAP;
	cap = in_len * 64;
	return cap < PPROF_MIN_INFLATE_CAP ? PPROF_MIN_INFLATE_CAP : cap;
}

int pprof_gunzip(const unsigned char *data, size_t len, size_t max_out, unsigned char **out,
		 size_t *out_len, enum pprof_reason *reason)
{
	size_t cap = inflate_cap(len, max_out);
	size_t size = len * 4 < 4096 ? 4096 : len * 4;
	size_t used = 0;
	unsigned char *dst;
	z_stream zs;
	int rc;

	*out = NULL;
	*out_len = 0;
	if (!is_gzip(data, len)) {
		*reason = PPROF_REASON_CORRUPT_GZIP;
		return -1;
	}
	if (size > cap)
		size = cap;
	dst = xmalloc(size + 1);
	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
		free(dst);
		*reason = PPROF_REASON_CORRUPT_GZIP;
		return -1;
	}
	zs.next_in = (unsigned char *)(uintptr_t)data; /* zlib's API is not const */
	for (;;) {
		if (used == size) {
			if (size == cap) {
				*reason = PPROF_REASON_TOO_LARGE;
				goto fail;
			}
			size = size > cap / 2 ? cap : size * 2;
			dst = xrealloc(dst, size + 1);
		}
		/* Feed input and output in chunks uInt can hold. */
		size_t in_left = len - (size_t)(zs.next_in - data);
		zs.avail_in = in_left > 0x40000000u ? 0x40000000u : (uInt)in_left;
		size_t out_left = size - used;
		zs.next_out = dst + used;
		zs.avail_out = out_left > 0x40000000u ? 0x40000000u : (uInt)out_left;
		uInt before = zs.avail_out;
		rc = inflate(&zs, Z_NO_FLUSH);
		used += before - zs.avail_out;
		if (rc == Z_STREAM_END) {
			in_left = len - (size_t)(zs.next_in - data);
			if (in_left == 0)
				break;
			/* Another gzip member follows (gzip allows concatenation). */
			if (!is_gzip(zs.next_in, in_left) || inflateReset(&zs) != Z_OK) {
				*reason = PPROF_REASON_CORRUPT_GZIP;
				goto fail;
			}
			continue;
		}
		if (rc == Z_BUF_ERROR && zs.avail_out != 0) {
			*reason = PPROF_REASON_CORRUPT_GZIP; /* input ended before the stream did */
			goto fail;
		}
		if (rc != Z_OK && rc != Z_BUF_ERROR) {
			*reason = PPROF_REASON_CORRUPT_GZIP;
			goto fail;
		}
	}
	inflateEnd(&zs);
	dst[used] = '\0';
	*out = dst;
	*out_len = used;
	return 0;
fail:
	inflateEnd(&zs);
	free(dst);
	return -1;
}

int pprof_gzip(const unsigned char *data, size_t len, unsigned char **out, size_t *out_len)
{
	z_stream zs;
	unsigned char *dst;
	uLong bound;
	int rc;

	*out = NULL;
	*out_len = 0;
	if (len > 0x40000000u)
		return -1; /* far above any profile cap; keeps the sizes in uInt */
	memset(&zs, 0, sizeof(zs));
	if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	bound = deflateBound(&zs, (uLong)len) + 32; /* + gzip header and trailer */
	dst = xmalloc(bound);
	zs.next_in = (unsigned char *)(uintptr_t)data;
	zs.avail_in = (uInt)len;
	zs.next_out = dst;
	zs.avail_out = (uInt)bound;
	rc = deflate(&zs, Z_FINISH);
	if (rc != Z_STREAM_END) {
		deflateEnd(&zs);
		free(dst);
		return -1;
	}
	*out_len = zs.total_out;
	deflateEnd(&zs);
	*out = dst;
	return 0;
}

/* ---- checking a Profile as it is inflated ----------------------------------------- */

/* A top-level field larger than this is refused: pprof writes every sample, location
 * and string as a field of its own, so real ones are a few KiB at most. */
#define STREAM_MAX_FIELD ((size_t)4 << 20)

/* The Profile's bytes not yet walked: at most one field and the start of the next. */
typedef struct profile_stream {
	profile_walk w;
	buf_t pending;
} profile_stream;

/* Bytes the field at the start of data needs, header included: 0 when even its header
 * is not complete yet, or SIZE_MAX when it is malformed. */
static size_t field_size(const unsigned char *data, size_t len)
{
	pb r = {data, data + len};
	uint64_t tag, flen;
	size_t header;

	if (pb_varint(&r, &tag) != 0)
		return len < 10 ? 0 : SIZE_MAX;
	switch (tag & 7) {
	case WIRE_VARINT:
		if (pb_varint(&r, &flen) != 0)
			return (size_t)(r.end - data) < (size_t)(r.p - data) + 10 ? 0 : SIZE_MAX;
		return (size_t)(r.p - data);
	case WIRE_I64:
		return (size_t)(r.p - data) + 8;
	case WIRE_I32:
		return (size_t)(r.p - data) + 4;
	case WIRE_LEN:
		header = (size_t)(r.p - data);
		if (pb_varint(&r, &flen) != 0)
			return len - header < 10 ? 0 : SIZE_MAX;
		if (flen > STREAM_MAX_FIELD)
			return SIZE_MAX;
		return (size_t)(r.p - data) + (size_t)flen;
	default:
		return SIZE_MAX;
	}
}

/* Walks every complete field of the pending bytes and drops them. */
static void stream_feed(profile_stream *s, const unsigned char *data, size_t len)
{
	size_t off = 0;

	buf_append(&s->pending, data, len);
	while (!s->w.bad && off < s->pending.len) {
		const unsigned char *p = s->pending.data + off;
		size_t avail = s->pending.len - off;
		size_t need = field_size(p, avail);
		if (need == SIZE_MAX) {
			s->w.bad = 1;
			break;
		}
		if (need == 0 || need > avail)
			break;
		pb r = {p, p + need};
		pb_field f;
		if (pb_next(&r, &f) != 1) {
			s->w.bad = 1;
			break;
		}
		walk_field(&s->w, &f);
		off += need;
	}
	buf_consume(&s->pending, off);
}

/* Inflates gzip data (every member) in small steps, walking the Profile as it comes:
 * nothing but one field at a time is kept, so a large inflated size costs time, not
 * memory. Returns 0 for a Profile, else -1 with *reason. */
static int check_gzip_profile(const unsigned char *data, size_t len, size_t max_out,
			      pprof_body_facts *facts, enum pprof_reason *reason)
{
	size_t cap = inflate_cap(len, max_out), total = 0;
	unsigned char chunk[16384];
	profile_stream s = {.pending = BUF_INIT};
	z_stream zs;
	int rc = Z_OK, result = -1;

	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
		*reason = PPROF_REASON_CORRUPT_GZIP;
		return -1;
	}
	zs.next_in = (unsigned char *)(uintptr_t)data; /* zlib's API is not const */
	*reason = PPROF_REASON_CORRUPT_GZIP;
	for (;;) {
		size_t in_left = len - (size_t)(zs.next_in - data);
		if (rc == Z_STREAM_END) {
			if (in_left == 0)
				break;
			/* Another gzip member follows (gzip allows concatenation). */
			if (!is_gzip(zs.next_in, in_left) || inflateReset(&zs) != Z_OK)
				goto out;
		}
		zs.avail_in = in_left > 0x40000000u ? 0x40000000u : (uInt)in_left;
		zs.next_out = chunk;
		zs.avail_out = sizeof(chunk);
		rc = inflate(&zs, Z_NO_FLUSH);
		size_t got = sizeof(chunk) - zs.avail_out;
		if (rc != Z_OK && rc != Z_STREAM_END && !(rc == Z_BUF_ERROR && got > 0))
			goto out; /* corrupt, or the input ended before the stream did */
		if (got > cap - total) {
			*reason = PPROF_REASON_TOO_LARGE;
			goto out;
		}
		total += got;
		stream_feed(&s, chunk, got);
		if (s.w.bad) {
			*reason = PPROF_REASON_NOT_PROFILE;
			goto out;
		}
	}
	if (total == 0 || s.pending.len != 0 || !s.w.seen_strings) {
		*reason = PPROF_REASON_NOT_PROFILE;
		goto out;
	}
	if (facts)
		*facts = s.w.facts;
	*reason = PPROF_REASON_NONE;
	result = 0;
out:
	inflateEnd(&zs);
	buf_free(&s.pending);
	return result;
}

/* ---- bodies ------------------------------------------------------------------------------ */

int pprof_is_trace(const unsigned char *data, size_t len)
{
	static const char prefix[] = "go 1.";
	size_t i = sizeof(prefix) - 1;

	/* "go 1.NN trace" padded with NULs to 16 bytes. */
	if (len < 16 || memcmp(data, prefix, i) != 0)
		return 0;
	if (data[i] < '0' || data[i] > '9')
		return 0;
	while (i < 16 && data[i] >= '0' && data[i] <= '9')
		i++;
	if (i + 6 > 16 || memcmp(data + i, " trace", 6) != 0)
		return 0;
	for (i += 6; i < 16; i++) {
		if (data[i] != 0)
			return 0;
	}
	return 1;
}

static const char *const reason_names[] = {
	[PPROF_REASON_NONE] = "",
	[PPROF_REASON_EMPTY] = "empty",
	[PPROF_REASON_HTML] = "html",
	[PPROF_REASON_TEXT] = "text",
	[PPROF_REASON_NOT_GZIP_OR_PROTOBUF] = "not_gzip_or_protobuf",
	[PPROF_REASON_CORRUPT_GZIP] = "corrupt_gzip",
	[PPROF_REASON_NOT_PROFILE] = "not_profile",
	[PPROF_REASON_TOO_LARGE] = "too_large",
	[PPROF_REASON_NOT_TRACE] = "not_trace",
	[PPROF_REASON_UNEXPECTED_TRACE] = "unexpected_trace",
};

const char *pprof_reason_name(enum pprof_reason r)
{
	return (size_t)r < sizeof(reason_names) / sizeof(reason_names[0]) ? reason_names[r] : "";
}

/* Why a body that is neither gzip, protobuf nor trace was refused. */
static enum pprof_reason classify_junk(const unsigned char *body, size_t len)
{
	size_t i = 0, n = len < 512 ? len : 512;

	while (i < n && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' ||
			 body[i] == '\n'))
		i++;
	if (i < n && body[i] == '<')
		return PPROF_REASON_HTML;
	for (i = 0; i < n; i++) {
		unsigned char c = body[i];
		if ((c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f)
			return PPROF_REASON_NOT_GZIP_OR_PROTOBUF;
	}
	return PPROF_REASON_TEXT;
}

enum pprof_body_kind pprof_body_inspect(enum pprof_type t, const unsigned char *body,
					size_t len, size_t max_inflated, pprof_body_facts *facts,
					enum pprof_reason *reason)
{
	enum pprof_reason dummy;

	if (reason == NULL)
		reason = &dummy;
	*reason = PPROF_REASON_NONE;
	if (body == NULL || len == 0) {
		*reason = PPROF_REASON_EMPTY;
		return PPROF_BODY_INVALID;
	}
	if (pprof_is_trace(body, len)) {
		if (t == PPROF_TRACE)
			return PPROF_BODY_TRACE;
		*reason = PPROF_REASON_UNEXPECTED_TRACE;
		return PPROF_BODY_INVALID;
	}
	if (t == PPROF_TRACE) {
		*reason = is_gzip(body, len) ? PPROF_REASON_NOT_TRACE : classify_junk(body, len);
		if (*reason == PPROF_REASON_NOT_GZIP_OR_PROTOBUF)
			*reason = PPROF_REASON_NOT_TRACE;
		return PPROF_BODY_INVALID;
	}
	if (is_gzip(body, len)) {
		if (check_gzip_profile(body, len, max_inflated, facts, reason) != 0)
			return PPROF_BODY_INVALID;
		return PPROF_BODY_GZIP;
	}
	if (walk_profile(body, len, facts))
		return PPROF_BODY_PROTOBUF;
	*reason = classify_junk(body, len);
	return PPROF_BODY_INVALID;
}

enum pprof_body_kind pprof_body_check(enum pprof_type t, const unsigned char *body,
				      size_t len, size_t max_inflated, enum pprof_reason *reason)
{
	return pprof_body_inspect(t, body, len, max_inflated, NULL, reason);
}

enum pprof_body_kind pprof_body_prepare(enum pprof_type t, const unsigned char *body,
					size_t len, size_t max_inflated, unsigned char **out,
					size_t *out_len, enum pprof_reason *reason)
{
	enum pprof_body_kind kind = pprof_body_check(t, body, len, max_inflated, reason);

	*out = NULL;
	*out_len = 0;
	switch (kind) {
	case PPROF_BODY_GZIP:
	case PPROF_BODY_TRACE:
		*out = xmalloc(len);
		memcpy(*out, body, len);
		*out_len = len;
		return kind;
	case PPROF_BODY_PROTOBUF:
		if (pprof_gzip(body, len, out, out_len) != 0) {
			if (reason)
				*reason = PPROF_REASON_NOT_GZIP_OR_PROTOBUF;
			return PPROF_BODY_INVALID;
		}
		return kind;
	default:
		return PPROF_BODY_INVALID;
	}
}

/* ---- reading a profile ---------------------------------------------------------------- */

typedef struct strref {
	const unsigned char *p;
	size_t len;
} strref;

typedef struct idpair {
	uint64_t id;
	uint64_t ref; /* location: function id of its first line; function: name index */
} idpair;

/* What one pass over the Profile collects before strings and ids are resolved. */
typedef struct scan {
	strref *strings;
	size_t n_strings;
	uint64_t *vt; /* sample type (type, unit) index pairs */
	size_t n_vt;
	uint64_t period_type[2];
	uint64_t default_sample_type;
	uint64_t *leaf_locs; /* first location id of each sample (0: none) */
	size_t n_samples;
	idpair *locs;
	size_t n_locs;
	idpair *funcs;
	size_t n_funcs;
} scan;

static void scan_free(scan *s)
{
	free(s->strings);
	free(s->vt);
	free(s->leaf_locs);
	free(s->locs);
	free(s->funcs);
}

/* Grows an array of elem-sized items to hold n + 1. */
static void *grow(void *arr, size_t n, size_t elem)
{
	/* The capacity is always the next power of two >= n: grow when n is one. */
	if (n == 0)
		return xrealloc(arr, elem);
	if ((n & (n - 1)) != 0)
		return arr;
	return xrealloc(arr, n * 2 * elem);
}

/* Reads a ValueType: type and unit string indices. */
static int read_value_type(const unsigned char *data, size_t len, uint64_t out[2])
{
	pb r = {data, data + len};
	pb_field f;
	int rc;

	out[0] = out[1] = 0;
	while ((rc = pb_next(&r, &f)) == 1) {
		if ((f.num == 1 || f.num == 2) && f.wire == WIRE_VARINT)
			out[f.num - 1] = f.v;
	}
	return rc;
}

/* The first location id of a Sample (location_id packed or not), 0 when none. */
static int read_sample_leaf(const unsigned char *data, size_t len, uint64_t *leaf)
{
	pb r = {data, data + len};
	pb_field f;
	int rc;

	*leaf = 0;
	while ((rc = pb_next(&r, &f)) == 1) {
		if (f.num != 1 || *leaf != 0)
			continue;
		if (f.wire == WIRE_VARINT) {
			*leaf = f.v;
		} else if (f.wire == WIRE_LEN && f.len > 0) {
			pb p = {f.data, f.data + f.len};
			if (pb_varint(&p, leaf) != 0)
				return -1;
		}
	}
	return rc;
}

/* A Location's id and the function id of its first (innermost) line. */
static int read_location(const unsigned char *data, size_t len, idpair *out)
{
	pb r = {data, data + len};
	pb_field f;
	int rc, have_line = 0;

	out->id = out->ref = 0;
	while ((rc = pb_next(&r, &f)) == 1) {
		if (f.num == 1 && f.wire == WIRE_VARINT) {
			out->id = f.v;
		} else if (f.num == 4 && f.wire == WIRE_LEN && !have_line) {
			pb l = {f.data, f.data + f.len};
			pb_field lf;
			int lrc;
			have_line = 1;
			while ((lrc = pb_next(&l, &lf)) == 1) {
				if (lf.num == 1 && lf.wire == WIRE_VARINT)
					out->ref = lf.v;
			}
			if (lrc != 0)
				return -1;
		}
	}
	return rc;
}

/* A Function's id and name index. */
static int read_function(const unsigned char *data, size_t len, idpair *out)
{
	pb r = {data, data + len};
	pb_field f;
	int rc;

	out->id = out->ref = 0;
	while ((rc = pb_next(&r, &f)) == 1) {
		if (f.num == 1 && f.wire == WIRE_VARINT)
			out->id = f.v;
		else if (f.num == 2 && f.wire == WIRE_VARINT)
			out->ref = f.v;
	}
	return rc;
}

static int scan_field(scan *s, pprof_info *info, const pb_field *f)
{
	uint64_t vt[2];

	switch (f->num) {
	case PF_STRING_TABLE:
		s->strings = grow(s->strings, s->n_strings, sizeof(*s->strings));
		s->strings[s->n_strings].p = f->data;
		s->strings[s->n_strings++].len = f->len;
		return 0;
	case PF_SAMPLE_TYPE:
		if (read_value_type(f->data, f->len, vt) != 0)
			return -1;
		/* Two slots per value type, so grow by pairs. */
		s->vt = xrealloc(s->vt, (s->n_vt + 1) * 2 * sizeof(*s->vt));
		s->vt[2 * s->n_vt] = vt[0];
		s->vt[2 * s->n_vt + 1] = vt[1];
		s->n_vt++;
		return 0;
	case PF_PERIOD_TYPE:
		return read_value_type(f->data, f->len, s->period_type);
	case PF_SAMPLE:
		s->leaf_locs = grow(s->leaf_locs, s->n_samples, sizeof(*s->leaf_locs));
		return read_sample_leaf(f->data, f->len, &s->leaf_locs[s->n_samples++]);
	case PF_LOCATION:
		s->locs = grow(s->locs, s->n_locs, sizeof(*s->locs));
		return read_location(f->data, f->len, &s->locs[s->n_locs++]);
	case PF_FUNCTION:
		s->funcs = grow(s->funcs, s->n_funcs, sizeof(*s->funcs));
		return read_function(f->data, f->len, &s->funcs[s->n_funcs++]);
	case PF_TIME_NANOS:
		info->time_nanos = (int64_t)f->v;
		return 0;
	case PF_DURATION_NANOS:
		info->duration_nanos = (int64_t)f->v;
		return 0;
	case PF_PERIOD:
		info->period = (int64_t)f->v;
		return 0;
	case PF_DEFAULT_SAMPLE_TYPE:
		s->default_sample_type = f->v;
		return 0;
	default:
		return 0;
	}
}

static char *str_at(const scan *s, uint64_t i)
{
	if (i >= s->n_strings)
		return xstrdup("");
	return xstrndup((const char *)s->strings[i].p, s->strings[i].len);
}

static int idpair_cmp(const void *a, const void *b)
{
	uint64_t x = ((const idpair *)a)->id, y = ((const idpair *)b)->id;
	return x < y ? -1 : x > y;
}

static const idpair *find_id(const idpair *arr, size_t n, uint64_t id)
{
	idpair key = {id, 0};
	return n ? bsearch(&key, arr, n, sizeof(*arr), idpair_cmp) : NULL;
}

/* Functions whose frame is innermost in a mutex profile: Go records contention when
 * the holder unlocks (and runtime-internal lock contention under a pseudo-frame). */
static int is_unlock_name(const strref *name)
{
	static const char lost[] = "runtime._LostContendedRuntimeLock";
	static const char suffix[] = "nlock"; /* Unlock, RUnlock, runtime.unlock */
	size_t n = sizeof(suffix) - 1;

	if (name->len == sizeof(lost) - 1 && memcmp(name->p, lost, name->len) == 0)
		return 1;
	if (name->len < n + 1 || memcmp(name->p + name->len - n, suffix, n) != 0)
		return 0;
	return name->p[name->len - n - 1] == 'u' || name->p[name->len - n - 1] == 'U';
}

/* qsort with a NULL base is undefined even for 0 elements (a profile without
 * locations or functions has NULL arrays). */
static void sort_ids(idpair *arr, size_t n)
{
	if (n > 1)
		qsort(arr, n, sizeof(*arr), idpair_cmp);
}

static void count_leaves(scan *s, pprof_info *info)
{
	sort_ids(s->locs, s->n_locs);
	sort_ids(s->funcs, s->n_funcs);
	for (size_t i = 0; i < s->n_samples; i++) {
		const idpair *loc = find_id(s->locs, s->n_locs, s->leaf_locs[i]);
		const idpair *fn = loc ? find_id(s->funcs, s->n_funcs, loc->ref) : NULL;

		if (fn == NULL || fn->ref == 0 || fn->ref >= s->n_strings)
			continue; /* unsymbolized */
		if (is_unlock_name(&s->strings[fn->ref]))
			info->n_unlock_leaves++;
		else
			info->n_other_leaves++;
	}
}

static int read_trace_info(const unsigned char *data, pprof_info *info)
{
	size_t n = 3;

	while (data[n] != ' ')
		n++;
	info->is_trace = 1;
	info->trace_version = xstrndup((const char *)data + 3, n - 3);
	return 0;
}

static int read_profile(const unsigned char *data, size_t len, pprof_info *info, char *err,
			size_t errlen)
{
	scan s;
	pb r = {data, data + len};
	pb_field f;
	int rc;

	if (!pprof_is_profile(data, len)) {
		snprintf(err, errlen, "not a pprof profile (malformed protobuf)");
		return -1;
	}
	memset(&s, 0, sizeof(s));
	while ((rc = pb_next(&r, &f)) == 1) {
		int want = profile_field_wire(f.num);
		if (want >= 0 && f.wire != want)
			continue;
		if (scan_field(&s, info, &f) != 0) {
			rc = -1;
			break;
		}
	}
	if (rc != 0) {
		scan_free(&s);
		snprintf(err, errlen, "not a pprof profile (malformed protobuf)");
		return -1;
	}
	info->sample_types = xcalloc(s.n_vt ? s.n_vt : 1, sizeof(*info->sample_types));
	info->n_sample_types = s.n_vt;
	for (size_t i = 0; i < s.n_vt; i++) {
		info->sample_types[i].type = str_at(&s, s.vt[2 * i]);
		info->sample_types[i].unit = str_at(&s, s.vt[2 * i + 1]);
	}
	info->period_type.type = str_at(&s, s.period_type[0]);
	info->period_type.unit = str_at(&s, s.period_type[1]);
	info->default_sample_type = str_at(&s, s.default_sample_type);
	info->n_samples = s.n_samples;
	count_leaves(&s, info);
	scan_free(&s);
	return 0;
}

int pprof_read_info(const unsigned char *data, size_t len, pprof_info *info, char *err,
		    size_t errlen)
{
	unsigned char *raw;
	size_t raw_len;
	enum pprof_reason reason;
	int rc;

	memset(info, 0, sizeof(*info));
	if (data == NULL || len == 0) {
		snprintf(err, errlen, "not a pprof profile or Go trace: empty file");
		return -1;
	}
	if (pprof_is_trace(data, len))
		return read_trace_info(data, info);
	if (!is_gzip(data, len))
		return read_profile(data, len, info, err, errlen);
	if (pprof_gunzip(data, len, 0, &raw, &raw_len, &reason) != 0) {
		snprintf(err, errlen, "not a pprof profile or Go trace: cannot gunzip: %s",
			 pprof_reason_name(reason));
		return -1;
	}
	rc = read_profile(raw, raw_len, info, err, errlen);
	free(raw);
	return rc;
}

void pprof_info_clear(pprof_info *info)
{
	for (size_t i = 0; i < info->n_sample_types; i++) {
		free(info->sample_types[i].type);
		free(info->sample_types[i].unit);
	}
	free(info->sample_types);
	free(info->period_type.type);
	free(info->period_type.unit);
	free(info->default_sample_type);
	free(info->trace_version);
	memset(info, 0, sizeof(*info));
}

/* ---- inferring the type ------------------------------------------------------------------ */

static int has_sample_type(const pprof_info *info, const char *type, const char *unit)
{
	for (size_t i = 0; i < info->n_sample_types; i++) {
		if (strcmp(info->sample_types[i].type, type) == 0 &&
		    strcmp(info->sample_types[i].unit, unit) == 0)
			return 1;
	}
	return 0;
}

static int period_is(const pprof_info *info, const char *type, const char *unit)
{
	return info->period_type.type && strcmp(info->period_type.type, type) == 0 &&
	       strcmp(info->period_type.unit, unit) == 0;
}

static int infer_contention(const pprof_info *info, enum pprof_type *out, char *err,
			    size_t errlen)
{
	if (info->n_unlock_leaves > 0 && info->n_other_leaves == 0) {
		*out = PPROF_MUTEX;
		return 0;
	}
	if (info->n_other_leaves > 0 && info->n_unlock_leaves == 0) {
		*out = PPROF_BLOCK;
		return 0;
	}
	if (info->n_samples == 0)
		snprintf(err, errlen, "a contention profile without samples could be mutex or "
				      "block: pass --profile-type");
	else if (info->n_unlock_leaves == 0)
		snprintf(err, errlen, "a contention profile without function names could be "
				      "mutex or block: pass --profile-type");
	else
		snprintf(err, errlen, "a contention profile with both unlock and blocking "
				      "frames: cannot tell mutex from block: pass --profile-type");
	return -1;
}

int pprof_infer_type(const pprof_info *info, enum pprof_type *out, char *err, size_t errlen)
{
	if (info->is_trace) {
		*out = PPROF_TRACE;
		return 0;
	}
	if (has_sample_type(info, "samples", "count") &&
	    has_sample_type(info, "cpu", "nanoseconds")) {
		*out = PPROF_CPU;
		return 0;
	}
	if (has_sample_type(info, "inuse_space", "bytes") ||
	    has_sample_type(info, "alloc_space", "bytes") ||
	    has_sample_type(info, "alloc_objects", "count") ||
	    has_sample_type(info, "inuse_objects", "count")) {
		*out = PPROF_HEAP;
		return 0;
	}
	if (has_sample_type(info, "goroutine", "count")) {
		*out = PPROF_GOROUTINE;
		return 0;
	}
	if (has_sample_type(info, "threadcreate", "count")) {
		*out = PPROF_THREADCREATE;
		return 0;
	}
	if (has_sample_type(info, "contentions", "count") ||
	    has_sample_type(info, "delay", "nanoseconds") || period_is(info, "contentions", "count"))
		return infer_contention(info, out, err, errlen);
	snprintf(err, errlen, "cannot tell the profile type from its sample types (%s/%s%s): "
			      "pass --profile-type",
		 info->n_sample_types ? info->sample_types[0].type : "none",
		 info->n_sample_types ? info->sample_types[0].unit : "none",
		 info->n_sample_types > 1 ? ", ..." : "");
	return -1;
}

long pprof_count_samples(const unsigned char *body, size_t len, size_t max_inflated)
{
	pprof_body_facts facts;
	enum pprof_body_kind kind =
		pprof_body_inspect(PPROF_HEAP, body, len, max_inflated, &facts, NULL);

	return kind == PPROF_BODY_GZIP || kind == PPROF_BODY_PROTOBUF ? (long)facts.n_samples : -1;
}
