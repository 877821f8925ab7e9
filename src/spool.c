/* spool: durable node-local queue of profiles, one checksummed file per entry, oldest first. */
#include "kprofefe/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "kprofefe/log.h"
#include "kprofefe/metrics.h"
#include "kprofefe/pprof.h"
#include "kprofefe/xalloc.h"

#define SPOOL_MAGIC "KPFSPOOL"
#define SPOOL_VERSION 1u
#define HEADER_LEN 44u
#define CRC_OFFSET 40u
#define MAX_NAME_FIELD 4096u         /* service, type */
#define MAX_LABELS_FIELD (1u << 20)  /* labels */
#define TMP_PREFIX ".tmp-"
#define ENTRY_SUFFIX ".prof"
#define ENTRY_NAME_LEN (20 + 1 + 10 + 5)
#define QUARANTINE_DIR "quarantine"
#define REJECTED_DIR "rejected"

#define READ_TRIES 3u                /* reads failing before an entry goes to quarantine/ */

#define DEFAULT_MAX_BYTES (512ull * 1024 * 1024)
#define DEFAULT_MAX_AGE_NS (24ll * 3600 * 1000000000ll)

/* What the index keeps of an entry: enough to order and bound it. Nothing comes from
 * the file's header, which is trusted only once its checksum is verified on read. */
struct slot {
	char *name;
	uint64_t size;    /* file size */
	int64_t time_ns;  /* from the name: never negative */
	unsigned read_failures;
	int out;          /* handed out by peek, not yet released */
};

struct spool {
	char *dir;
	int dirfd;
	spool_options opt;
	struct slot *v;   /* sorted by name, which sorts by time then sequence */
	size_t n, cap;
	size_t n_out;     /* slots handed out */
	uint64_t bytes;
	uint64_t seq;
};

/* The strings of an entry being written, with their lengths. */
struct meta {
	const char *service, *type, *labels;
	uint32_t sl, tl, ll;
};

/* The parsed fixed part of an entry file. */
struct header {
	uint32_t version;
	uint32_t attempts;
	int64_t time_ns;
	uint64_t payload_len;
	uint32_t service_len;
	uint32_t type_len;
	uint32_t labels_len;
	uint32_t crc;
};

/* ---- small helpers ---- */

static void put_u16(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v & 0xff);
	p[1] = (unsigned char)((v >> 8) & 0xff);
}

static void put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)((v >> (8 * i)) & 0xff);
}

static void put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)((v >> (8 * i)) & 0xff);
}

static uint32_t get_u16(const unsigned char *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8);
}

static uint32_t get_u32(const unsigned char *p)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

static uint64_t get_u64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* zlib's crc32 takes uInt lengths: feed large buffers in pieces. */
static uint32_t crc_update(uint32_t crc, const unsigned char *p, size_t len)
{
	uLong c = crc;
	while (len > 0) {
		uInt chunk = len > (1u << 30) ? (1u << 30) : (uInt)len;
		c = crc32(c, p, chunk);
		p += chunk;
		len -= chunk;
	}
	return (uint32_t)c;
}

static const char *errno_name(int err)
{
	switch (err) {
	case ENOSPC: return "ENOSPC";
	case EROFS: return "EROFS";
	case EACCES: return "EACCES";
	case EPERM: return "EPERM";
	case EIO: return "EIO";
	case EDQUOT: return "EDQUOT";
	case ENOENT: return "ENOENT";
	case EFBIG: return "EFBIG";
	case EMFILE: return "EMFILE";
	case ENFILE: return "ENFILE";
	case ENOTDIR: return "ENOTDIR";
	case EEXIST: return "EEXIST";
	case EINVAL: return "EINVAL";
	case ENOMEM: return "ENOMEM";
	case EBADMSG: return "EBADMSG";
	case ENAMETOOLONG: return "ENAMETOOLONG";
	case EISDIR: return "EISDIR";
	case ELOOP: return "ELOOP";
	default: return "other";
	}
}

static int64_t now_ns(const spool_t *s)
{
	if (s->opt.clock_ns)
		return s->opt.clock_ns();
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* now - then without overflow: times come from clocks, names and callers. */
static int64_t age_ns(int64_t now, int64_t then)
{
	int64_t d;
	if (__builtin_sub_overflow(now, then, &d))
		return then < 0 ? INT64_MAX : INT64_MIN;
	return d;
}

static void count_error(const char *op, int err)
{
	metrics_add(METRIC_SPOOL_ERRORS_TOTAL, 1, "op", op, "errno", errno_name(err), NULL);
}

static void update_gauges(const spool_t *s)
{
	double age = 0;
	if (s->n > 0) {
		int64_t d = age_ns(now_ns(s), s->v[0].time_ns);
		age = d > 0 ? (double)d / 1e9 : 0;
	}
	metrics_set(METRIC_SPOOL_ENTRIES, (double)s->n, NULL);
	metrics_set(METRIC_SPOOL_BYTES, (double)s->bytes, NULL);
	metrics_set(METRIC_SPOOL_OLDEST_AGE_SECONDS, age, NULL);
}

/* "<20 digits>-<10 digits>.prof" */
static int parse_entry_name(const char *name, int64_t *time_ns, uint64_t *seq)
{
	if (strlen(name) != ENTRY_NAME_LEN || name[20] != '-' ||
	    strcmp(name + 31, ENTRY_SUFFIX) != 0)
		return -1;
	uint64_t t = 0, q = 0;
	for (int i = 0; i < 20; i++) {
		if (name[i] < '0' || name[i] > '9')
			return -1;
		t = t * 10 + (uint64_t)(name[i] - '0');
	}
	for (int i = 21; i < 31; i++) {
		if (name[i] < '0' || name[i] > '9')
			return -1;
		q = q * 10 + (uint64_t)(name[i] - '0');
	}
	if (t > INT64_MAX)
		return -1;
	*time_ns = (int64_t)t;
	*seq = q;
	return 0;
}

/* Checks the fixed header against the file's size; why says what is wrong. */
static int parse_header(const unsigned char *p, uint64_t file_size, struct header *h,
			const char **why)
{
	if (memcmp(p, SPOOL_MAGIC, 8) != 0) {
		*why = "bad magic";
		return -1;
	}
	h->version = get_u32(p + 8);
	h->attempts = get_u32(p + 12);
	h->time_ns = (int64_t)get_u64(p + 16);
	h->payload_len = get_u64(p + 24);
	h->service_len = get_u16(p + 32);
	h->type_len = get_u16(p + 34);
	h->labels_len = get_u32(p + 36);
	h->crc = get_u32(p + CRC_OFFSET);
	if (h->version != SPOOL_VERSION) {
		*why = "unknown version";
		return -1;
	}
	if (h->service_len > MAX_NAME_FIELD || h->type_len > MAX_NAME_FIELD ||
	    h->labels_len > MAX_LABELS_FIELD) {
		*why = "bad field length";
		return -1;
	}
	uint64_t want = HEADER_LEN + (uint64_t)h->service_len + h->type_len + h->labels_len;
	if (h->payload_len > UINT64_MAX - want || want + h->payload_len != file_size) {
		*why = file_size < want + h->payload_len ? "truncated" : "size mismatch";
		return -1;
	}
	return 0;
}

/* ---- the index ---- */

static size_t slot_lower_bound(const spool_t *s, const char *name)
{
	size_t lo = 0, hi = s->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(s->v[mid].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static long slot_find(const spool_t *s, const char *name)
{
	size_t i = slot_lower_bound(s, name);
	if (i < s->n && strcmp(s->v[i].name, name) == 0)
		return (long)i;
	return -1;
}

static void slot_insert(spool_t *s, struct slot sl)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	size_t i = slot_lower_bound(s, sl.name);
	memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(*s->v));
	s->v[i] = sl;
	s->n++;
	s->bytes += sl.size;
}

/* Appends without keeping the order: for the scan at open, sorted once after. */
static void slot_append(spool_t *s, struct slot sl)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->n++] = sl;
	s->bytes += sl.size;
}

static void slot_drop(spool_t *s, size_t i)
{
	struct slot *sl = &s->v[i];
	s->bytes -= sl->size;
	if (sl->out)
		s->n_out--;
	free(sl->name);
	memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(*s->v));
	s->n--;
}

static int cmp_slots(const void *a, const void *b)
{
	return strcmp(((const struct slot *)a)->name, ((const struct slot *)b)->name);
}

/* ---- moving files out of the queue ---- */

/* Moves a file of the spool dir into subdir (quarantine/ or rejected/). */
static int move_to(spool_t *s, const char *name, const char *subdir)
{
	char *to = xasprintf("%s/%s", subdir, name);
	int rc = renameat(s->dirfd, name, s->dirfd, to) == 0 ? 0 : errno;
	free(to);
	return rc;
}

static void quarantine_file(spool_t *s, const char *name, const char *why)
{
	int rc = move_to(s, name, QUARANTINE_DIR);
	if (rc != 0)
		count_error("quarantine", rc);
	log_event(LOG_WARN, "spool file quarantined", "dir", s->dir, "file", name, "reason", why,
		  "moved", rc == 0 ? "true" : strerror(rc), NULL);
	metrics_add(METRIC_SPOOL_QUARANTINED_TOTAL, 1, NULL);
}

static void evict(spool_t *s, size_t i, const char *reason)
{
	struct slot *sl = &s->v[i];
	char age[32], bytes[32];
	snprintf(age, sizeof(age), "%.0f", (double)age_ns(now_ns(s), sl->time_ns) / 1e9);
	snprintf(bytes, sizeof(bytes), "%" PRIu64, sl->size);
	int rc = unlinkat(s->dirfd, sl->name, 0) == 0 || errno == ENOENT ? 0 : errno;
	if (rc != 0)
		count_error("evict", rc);
	log_event(LOG_WARN, "spool entry evicted", "dir", s->dir, "entry", sl->name, "reason",
		  reason, "age_seconds", age, "bytes", bytes, rc != 0 ? "error" : NULL,
		  rc != 0 ? strerror(rc) : NULL, NULL);
	metrics_add(METRIC_SPOOL_EVICTED_TOTAL, 1, "reason", reason, NULL);
	slot_drop(s, i);
}

/* Evicts the oldest entries beyond the bounds. */
static size_t enforce_bounds(spool_t *s, int64_t now)
{
	size_t gone = 0;
	while (s->n > 0 && s->bytes > s->opt.max_bytes) {
		evict(s, 0, "size");
		gone++;
	}
	while (s->n > 0 && age_ns(now, s->v[0].time_ns) > s->opt.max_age_ns) {
		evict(s, 0, "age");
		gone++;
	}
	return gone;
}

/* ---- open ---- */

static int mkdir_p(const char *dir)
{
	char *path = xstrdup(dir);
	int rc = 0;
	for (char *p = path + 1; *p && rc == 0; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) != 0 && errno != EEXIST)
			rc = errno;
		*p = '/';
	}
	if (rc == 0 && mkdir(path, 0755) != 0 && errno != EEXIST)
		rc = errno;
	free(path);
	return rc;
}

static void make_subdir(spool_t *s, const char *name)
{
	if (mkdirat(s->dirfd, name, 0755) == 0 || errno == EEXIST)
		return;
	int rc = errno;
	count_error("open", rc);
	log_event(LOG_WARN, "spool: cannot create subdirectory", "dir", s->dir, "subdir", name,
		  "error", strerror(rc), NULL);
}

/*
 * Checks the fixed header of an entry for the index: magic, version and lengths
 * against the file size, so that a truncated or foreign file goes to quarantine/ at
 * once. Nothing of the header is kept: the time comes from the name.
 */
static int index_entry(spool_t *s, const char *name, uint64_t size, int64_t time_ns,
		       const char **why)
{
	unsigned char hdr[HEADER_LEN];
	struct header h;
	if (size < HEADER_LEN) {
		*why = "truncated";
		return -1;
	}
	int fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	ssize_t r = fd < 0 ? -1 : pread(fd, hdr, HEADER_LEN, 0);
	if (fd >= 0)
		close(fd);
	if (r < 0) {
		/* not the file's fault (yet): peek retries it, then quarantines it */
		slot_append(s, (struct slot){xstrdup(name), size, time_ns, 0, 0});
		return 0;
	}
	if (r != (ssize_t)HEADER_LEN) {
		*why = "cannot read header";
		return -1;
	}
	if (parse_header(hdr, size, &h, why) != 0)
		return -1;
	slot_append(s, (struct slot){xstrdup(name), size, time_ns, 0, 0});
	return 0;
}

static void scan_one(spool_t *s, const char *name)
{
	struct stat st;
	if (fstatat(s->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return;
	if (S_ISDIR(st.st_mode)) {
		if (strcmp(name, QUARANTINE_DIR) != 0 && strcmp(name, REJECTED_DIR) != 0)
			log_event(LOG_WARN, "spool: ignoring unexpected directory", "dir", s->dir,
				  "name", name, NULL);
		return;
	}
	if (strncmp(name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0) {
		/* an interrupted put: it never counted as spooled */
		int rc = unlinkat(s->dirfd, name, 0) == 0 ? 0 : errno;
		if (rc != 0)
			count_error("open", rc);
		log_event(LOG_INFO, "spool: removed leftover temporary file", "dir", s->dir, "file",
			  name, rc != 0 ? "error" : NULL, rc != 0 ? strerror(rc) : NULL, NULL);
		return;
	}
	int64_t t;
	uint64_t seq;
	if (!S_ISREG(st.st_mode) || parse_entry_name(name, &t, &seq) != 0) {
		quarantine_file(s, name, "not a spool entry");
		return;
	}
	const char *why = NULL;
	if (index_entry(s, name, (uint64_t)st.st_size, t, &why) != 0) {
		quarantine_file(s, name, why);
		return;
	}
	if (seq >= s->seq)
		s->seq = seq + 1;
}

static int scan(spool_t *s)
{
	int fd = dup(s->dirfd);
	if (fd < 0)
		return errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		int rc = errno;
		close(fd);
		return rc;
	}
	/* Collect names first: quarantining renames while readdir walks the directory. */
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			names = xrealloc(names, cap * sizeof(*names));
		}
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	/* Appending in directory order and sorting once beats n sorted inserts. */
	for (size_t i = 0; i < n; i++) {
		scan_one(s, names[i]);
		free(names[i]);
	}
	free(names);
	if (s->n > 1)
		qsort(s->v, s->n, sizeof(*s->v), cmp_slots);
	return 0;
}

spool_t *spool_open(const char *dir, const spool_options *opt, char *err, size_t errlen)
{
	int rc = mkdir_p(dir);
	if (rc != 0) {
		count_error("open", rc);
		snprintf(err, errlen, "spool: cannot create %s: %s", dir, strerror(rc));
		return NULL;
	}
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		rc = errno;
		count_error("open", rc);
		snprintf(err, errlen, "spool: cannot open %s: %s", dir, strerror(rc));
		return NULL;
	}
	spool_t *s = xcalloc(1, sizeof(*s));
	s->dir = xstrdup(dir);
	s->dirfd = dirfd;
	if (opt)
		s->opt = *opt;
	if (s->opt.max_bytes == 0)
		s->opt.max_bytes = DEFAULT_MAX_BYTES;
	if (s->opt.max_age_ns <= 0)
		s->opt.max_age_ns = DEFAULT_MAX_AGE_NS;
	make_subdir(s, QUARANTINE_DIR);
	make_subdir(s, REJECTED_DIR);
	rc = scan(s);
	if (rc != 0) {
		count_error("open", rc);
		snprintf(err, errlen, "spool: cannot read %s: %s", dir, strerror(rc));
		spool_close(s);
		return NULL;
	}
	enforce_bounds(s, now_ns(s));
	update_gauges(s);
	return s;
}

void spool_close(spool_t *s)
{
	if (!s)
		return;
	while (s->n > 0)
		slot_drop(s, s->n - 1);
	free(s->v);
	close(s->dirfd);
	free(s->dir);
	free(s);
}

/* ---- put ---- */

static int write_all(int fd, const void *data, size_t len)
{
	const unsigned char *p = data;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static void encode_header(unsigned char *h, const spool_entry *e, const struct meta *m)
{
	memcpy(h, SPOOL_MAGIC, 8);
	put_u32(h + 8, SPOOL_VERSION);
	put_u32(h + 12, e->attempts);
	put_u64(h + 16, (uint64_t)e->time_ns);
	put_u64(h + 24, (uint64_t)e->len);
	put_u16(h + 32, m->sl);
	put_u16(h + 34, m->tl);
	put_u32(h + 36, m->ll);
	uint32_t crc = crc_update(0, h, CRC_OFFSET);
	crc = crc_update(crc, (const unsigned char *)m->service, m->sl);
	crc = crc_update(crc, (const unsigned char *)m->type, m->tl);
	crc = crc_update(crc, (const unsigned char *)m->labels, m->ll);
	crc = crc_update(crc, e->data, e->len);
	put_u32(h + CRC_OFFSET, crc);
}

/* Writes tmp, fsyncs it, renames it to name and fsyncs the directory. */
static int write_durably(spool_t *s, const char *tmp, const char *name, const unsigned char *hdr,
			 const spool_entry *e, const struct meta *m, const char **step)
{
	*step = "create";
	int fd = openat(s->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return errno;
	int rc;
	*step = "write";
	if ((rc = write_all(fd, hdr, HEADER_LEN)) != 0 ||
	    (rc = write_all(fd, m->service, m->sl)) != 0 || (rc = write_all(fd, m->type, m->tl)) != 0 ||
	    (rc = write_all(fd, m->labels, m->ll)) != 0 || (rc = write_all(fd, e->data, e->len)) != 0) {
		close(fd);
		goto fail;
	}
	*step = "fsync";
	if (fsync(fd) != 0) {
		rc = errno;
		close(fd);
		goto fail;
	}
	if (close(fd) != 0) {
		rc = errno;
		goto fail;
	}
	*step = "rename";
	if (renameat(s->dirfd, tmp, s->dirfd, name) != 0) {
		rc = errno;
		goto fail;
	}
	*step = "fsync directory";
	if (fsync(s->dirfd) != 0) {
		/* Not known to be durable: take it back so the caller keeps its copy. */
		rc = errno;
		unlinkat(s->dirfd, name, 0);
		return rc;
	}
	return 0;
fail:
	unlinkat(s->dirfd, tmp, 0);
	return rc;
}

static char *new_entry_name(spool_t *s, int64_t time_ns)
{
	uint64_t t = (uint64_t)time_ns;
	for (;;) {
		char *name = xasprintf("%020" PRIu64 "-%010" PRIu64 ENTRY_SUFFIX, t,
				       (uint64_t)(s->seq++ % 10000000000ull));
		if (slot_find(s, name) < 0)
			return name;
		free(name);
	}
}

int spool_put(spool_t *s, const spool_entry *e, char *err, size_t errlen)
{
	const char *service = e->service ? e->service : "";
	const char *type = e->type ? e->type : "";
	const char *labels = e->labels ? e->labels : "";
	size_t sl = strlen(service), tl = strlen(type), ll = strlen(labels);
	if (sl > MAX_NAME_FIELD || tl > MAX_NAME_FIELD || ll > MAX_LABELS_FIELD) {
		count_error("put", EINVAL);
		snprintf(err, errlen, "spool put: service, type or labels too long");
		return EINVAL;
	}
	if (e->time_ns < 0) {
		count_error("put", EINVAL);
		snprintf(err, errlen, "spool put: collection time %" PRId64 " is before 1970",
			 e->time_ns);
		return EINVAL;
	}
	uint64_t size = HEADER_LEN + sl + tl + ll + (uint64_t)e->len;
	if (size > s->opt.max_bytes) {
		count_error("put", EFBIG);
		snprintf(err, errlen, "spool put: entry of %" PRIu64 " bytes exceeds the spool bound of %" PRIu64 " bytes",
			 size, s->opt.max_bytes);
		return EFBIG;
	}
	int64_t now = now_ns(s);
	if (age_ns(now, e->time_ns) > s->opt.max_age_ns) {
		log_event(LOG_WARN, "spool entry evicted", "dir", s->dir, "entry", "(not written)",
			  "reason", "age", "service", service, "type", type, NULL);
		metrics_add(METRIC_SPOOL_EVICTED_TOTAL, 1, "reason", "age", NULL);
		return 0;
	}

	struct meta m = {service, type, labels, (uint32_t)sl, (uint32_t)tl, (uint32_t)ll};
	unsigned char hdr[HEADER_LEN];
	encode_header(hdr, e, &m);

	char *name = new_entry_name(s, e->time_ns);
	char *tmp = xasprintf(TMP_PREFIX "%s", name);
	const char *step = NULL;
	int rc = write_durably(s, tmp, name, hdr, e, &m, &step);
	if (rc != 0) {
		count_error("put", rc);
		snprintf(err, errlen, "spool put: %s %s/%s: %s", step, s->dir, tmp, strerror(rc));
		free(name);
		free(tmp);
		return rc;
	}
	free(tmp);
	slot_insert(s, (struct slot){name, size, e->time_ns, 0, 0});
	metrics_add(METRIC_SPOOL_WRITTEN_TOTAL, 1, NULL);
	enforce_bounds(s, now);
	update_gauges(s);
	return 0;
}

/* ---- read ---- */

/* Reads the regular file name (relative to dirfd) of at most max bytes, not following a
 * symbolic link. Returns 0 with *out (the caller frees it), or an errno value. */
static int read_at(int dirfd, const char *name, uint64_t max, unsigned char **out, size_t *len)
{
	/* O_NONBLOCK: a FIFO put in an entry's place must not block the loop */
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return errno;
	struct stat st;
	int rc = fstat(fd, &st) != 0 ? errno : 0;
	if (rc == 0 && !S_ISREG(st.st_mode))
		rc = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
	/* no entry is larger than the spool: do not allocate what a grown file says */
	if (rc == 0 && (uint64_t)st.st_size > max)
		rc = EFBIG;
	if (rc != 0) {
		close(fd);
		return rc;
	}
	size_t size = (size_t)st.st_size;
	unsigned char *p = xmalloc(size + 1);
	size_t got = 0;
	while (got < size) {
		ssize_t r = read(fd, p + got, size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = errno;
			free(p);
			close(fd);
			return rc;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	*out = p;
	*len = got;
	return 0;
}

static int read_file(spool_t *s, const char *name, unsigned char **out, size_t *len)
{
	return read_at(s->dirfd, name, s->opt.max_bytes, out, len);
}

spool_entry *spool_decode(const char *name, const unsigned char *p, size_t len, const char **why)
{
	struct header h;
	if (len < HEADER_LEN) {
		*why = "truncated";
		return NULL;
	}
	if (parse_header(p, len, &h, why) != 0)
		return NULL;
	uint32_t crc = crc_update(0, p, CRC_OFFSET);
	crc = crc_update(crc, p + HEADER_LEN, len - HEADER_LEN);
	if (crc != h.crc) {
		*why = "checksum mismatch";
		return NULL;
	}
	if (h.time_ns < 0) {
		*why = "bad time"; /* spool_put writes none */
		return NULL;
	}
	const char *q = (const char *)p + HEADER_LEN;
	if (memchr(q, '\0', h.service_len + h.type_len + h.labels_len)) {
		*why = "NUL in metadata";
		return NULL;
	}
	spool_entry *e = xcalloc(1, sizeof(*e));
	e->name = xstrdup(name);
	e->service = xstrndup(q, h.service_len);
	q += h.service_len;
	e->type = xstrndup(q, h.type_len);
	q += h.type_len;
	e->labels = xstrndup(q, h.labels_len);
	q += h.labels_len;
	e->time_ns = h.time_ns;
	e->attempts = h.attempts;
	e->len = (size_t)h.payload_len;
	e->data = xmalloc(e->len + 1);
	memcpy(e->data, q, e->len);
	return e;
}

/* ---- looking into a spool from outside (kprofefe-spool): nothing here changes a file ---- */

/* Larger than any entry a spool holds (its bound defaults to 512 MiB): a file that says
 * more is not read whole. */
#define READ_MAX_BYTES (4ull << 30)

static const char *const check_names[SPOOL_CHECK_COUNT] = {
	[SPOOL_CHECK_OK] = "ok",
	[SPOOL_CHECK_UNREADABLE] = "unreadable",
	[SPOOL_CHECK_NOT_ENTRY] = "not_entry",
	[SPOOL_CHECK_CORRUPT] = "corrupt",
	[SPOOL_CHECK_UNKNOWN_TYPE] = "unknown_type",
	[SPOOL_CHECK_BAD_PROFILE] = "bad_profile",
	[SPOOL_CHECK_EMPTY_PROFILE] = "empty_profile",
};

const char *spool_check_name(enum spool_check c)
{
	return (unsigned)c < SPOOL_CHECK_COUNT ? check_names[c] : "unknown";
}

int spool_is_entry_name(const char *name)
{
	int64_t t;
	uint64_t seq;
	return parse_entry_name(name, &t, &seq) == 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Not listed: directories (quarantine/, rejected/), and temporary files (a put under
 * way, or one a crash interrupted: the next open removes it). */
static int listed(int dirfd, const char *name)
{
	struct stat st;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
	    strncmp(name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0)
		return 0;
	/* a file gone meanwhile is still listed: reading it says so */
	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode);
}

int spool_list(const char *dir, char ***names, size_t *n, char *err, size_t errlen)
{
	*names = NULL;
	*n = 0;
	DIR *d = opendir(dir);
	if (!d) {
		int rc = errno;
		snprintf(err, errlen, "cannot read spool directory %s: %s", dir, strerror(rc));
		return rc;
	}
	size_t cap = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (!listed(dirfd(d), de->d_name))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			*names = xrealloc(*names, cap * sizeof(**names));
		}
		(*names)[(*n)++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (*n > 1)
		qsort(*names, *n, sizeof(**names), cmp_names);
	return 0;
}

void spool_list_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

spool_entry *spool_read(const char *path, spool_verdict *v)
{
	*v = (spool_verdict){SPOOL_CHECK_OK, NULL, 0};
	unsigned char *p = NULL;
	size_t len = 0;
	int rc = read_at(AT_FDCWD, path, READ_MAX_BYTES, &p, &len);
	if (rc != 0) {
		*v = (spool_verdict){SPOOL_CHECK_UNREADABLE, NULL, rc};
		return NULL;
	}
	const char *base = strrchr(path, '/');
	spool_entry *e = spool_decode(base ? base + 1 : path, p, len, &v->why);
	free(p);
	if (!e)
		v->check = SPOOL_CHECK_CORRUPT;
	return e;
}

/* Non-zero when profefe stores profiles of this type: one of pprof_profefe_type's. */
static int profefe_knows(const char *type)
{
	for (int t = 0; t < PPROF_TYPE_COUNT; t++)
		if (strcmp(type, pprof_profefe_type((enum pprof_type)t)) == 0)
			return 1;
	return 0;
}

void spool_check_profile(const spool_entry *e, spool_verdict *v)
{
	*v = (spool_verdict){SPOOL_CHECK_OK, NULL, 0};
	if (!profefe_knows(e->type)) {
		*v = (spool_verdict){SPOOL_CHECK_UNKNOWN_TYPE, "not a profefe type", 0};
		return;
	}
	enum pprof_type t;
	/* only a trace is checked as its own kind: every other type is a pprof Profile */
	if (pprof_type_parse(e->type, &t) != 0 || t != PPROF_TRACE)
		t = PPROF_HEAP;
	pprof_body_facts facts = {0, 0, 0};
	enum pprof_reason why = PPROF_REASON_NONE;
	if (pprof_body_inspect(t, e->data, e->len, 0, &facts, &why) == PPROF_BODY_INVALID) {
		*v = (spool_verdict){SPOOL_CHECK_BAD_PROFILE, pprof_reason_name(why), 0};
		return;
	}
	if (t != PPROF_TRACE && facts.n_samples == 0) {
		v->check = SPOOL_CHECK_EMPTY_PROFILE;
		v->why = "no samples";
	}
}

spool_entry *spool_verify(const char *path, spool_verdict *v)
{
	const char *base = strrchr(path, '/');
	if (!spool_is_entry_name(base ? base + 1 : path)) {
		*v = (spool_verdict){SPOOL_CHECK_NOT_ENTRY, "not a spool entry", 0};
		return NULL;
	}
	spool_entry *e = spool_read(path, v);
	if (e)
		spool_check_profile(e, v);
	return e;
}

int spool_encode(const spool_entry *e, unsigned char **out, size_t *len, char *err,
		 size_t errlen)
{
	*out = NULL;
	*len = 0;
	const char *service = e->service ? e->service : "";
	const char *type = e->type ? e->type : "";
	const char *labels = e->labels ? e->labels : "";
	size_t sl = strlen(service), tl = strlen(type), ll = strlen(labels);
	if (sl > MAX_NAME_FIELD || tl > MAX_NAME_FIELD || ll > MAX_LABELS_FIELD) {
		snprintf(err, errlen, "service, type or labels too long (at most %u, %u and %u bytes)",
			 MAX_NAME_FIELD, MAX_NAME_FIELD, MAX_LABELS_FIELD);
		return EINVAL;
	}
	if (e->time_ns < 0) {
		snprintf(err, errlen, "collection time %" PRId64 " is before 1970", e->time_ns);
		return EINVAL;
	}
	struct meta m = {service, type, labels, (uint32_t)sl, (uint32_t)tl, (uint32_t)ll};
	*len = HEADER_LEN + sl + tl + ll + e->len;
	unsigned char *p = xmalloc(*len);
	encode_header(p, e, &m);
	unsigned char *q = p + HEADER_LEN;
	memcpy(q, service, sl);
	memcpy(q + sl, type, tl);
	memcpy(q + sl + tl, labels, ll);
	if (e->len > 0)
		memcpy(q + sl + tl + ll, e->data, e->len);
	*out = p;
	return 0;
}

/*
 * A read that failed for another reason than a vanished file (EIO, EACCES, EISDIR,
 * ELOOP...): counted and logged; after READ_TRIES of them the entry goes to quarantine/
 * (or, when even that fails, is forgotten until restart), so it never holds up the
 * entries behind it. Returns non-zero when slot i was dropped.
 */
static int read_failed(spool_t *s, size_t i, int err)
{
	struct slot *sl = &s->v[i];
	char tries[16];
	count_error("read", err);
	sl->read_failures++;
	snprintf(tries, sizeof(tries), "%u", sl->read_failures);
	log_event(LOG_WARN, "spool entry unreadable", "dir", s->dir, "entry", sl->name, "error",
		  strerror(err), "tries", tries, NULL);
	if (sl->read_failures < READ_TRIES)
		return 0;
	char *why = xasprintf("unreadable: %s", strerror(err));
	quarantine_file(s, sl->name, why);
	free(why);
	slot_drop(s, i);
	return 1;
}

int spool_peek_oldest(spool_t *s, spool_entry **out, char *err, size_t errlen)
{
	*out = NULL;
	int failed = 0;
	size_t i = 0;
	while (i < s->n) {
		struct slot *sl = &s->v[i];
		if (sl->out) {
			i++;
			continue;
		}
		unsigned char *p = NULL;
		size_t len = 0;
		int rc = read_file(s, sl->name, &p, &len);
		if (rc == ENOENT) {
			log_event(LOG_WARN, "spool entry vanished", "dir", s->dir, "entry", sl->name,
				  NULL);
			slot_drop(s, i);
			continue;
		}
		if (rc != 0) {
			snprintf(err, errlen, "spool: read %s/%s: %s", s->dir, sl->name,
				 strerror(rc));
			failed = rc;
			if (!read_failed(s, i, rc))
				i++;
			continue;
		}
		const char *why = NULL;
		spool_entry *e = spool_decode(sl->name, p, len, &why);
		free(p);
		if (!e) {
			quarantine_file(s, sl->name, why);
			slot_drop(s, i);
			continue;
		}
		sl->out = 1;
		s->n_out++;
		*out = e;
		break;
	}
	update_gauges(s);
	return *out ? 0 : failed;
}

void spool_release(spool_t *s, const char *name)
{
	long i = slot_find(s, name);
	if (i >= 0 && s->v[i].out) {
		s->v[i].out = 0;
		s->n_out--;
	}
}

/*
 * An entry done with (uploaded or refused) whose file cannot be deleted or moved (a
 * read-only spool): the index forgets it, so this process does not send it again and
 * again; the next process finds the file and sends it once more (at-least-once).
 */
static void forget(spool_t *s, size_t i, const char *op, int err)
{
	count_error(op, err);
	log_event(LOG_WARN, "spool: cannot delete a finished entry; forgetting it until restart",
		  "dir", s->dir, "entry", s->v[i].name, "op", op, "error", strerror(err), NULL);
	slot_drop(s, i);
	update_gauges(s);
}

int spool_remove(spool_t *s, const char *name)
{
	long i = slot_find(s, name);
	if (i < 0)
		return ENOENT;
	/* No directory fsync: a lost unlink only means a duplicate upload (at-least-once). */
	if (unlinkat(s->dirfd, name, 0) != 0 && errno != ENOENT) {
		int rc = errno;
		forget(s, (size_t)i, "remove", rc);
		return rc;
	}
	slot_drop(s, (size_t)i);
	metrics_add(METRIC_SPOOL_DRAINED_TOTAL, 1, NULL);
	update_gauges(s);
	return 0;
}

int spool_reject(spool_t *s, const char *name)
{
	long i = slot_find(s, name);
	if (i < 0)
		return ENOENT;
	int rc = move_to(s, name, REJECTED_DIR);
	if (rc != 0 && rc != ENOENT) {
		forget(s, (size_t)i, "reject", rc);
		return rc;
	}
	slot_drop(s, (size_t)i);
	metrics_add(METRIC_SPOOL_REJECTED_TOTAL, 1, NULL);
	update_gauges(s);
	return 0;
}

size_t spool_expire(spool_t *s, int64_t now)
{
	size_t gone = 0;
	while (s->n > 0 && age_ns(now, s->v[0].time_ns) > s->opt.max_age_ns) {
		evict(s, 0, "age");
		gone++;
	}
	update_gauges(s);
	return gone;
}

void spool_get_stats(const spool_t *s, spool_stats *out)
{
	out->entries = s->n;
	out->bytes = s->bytes;
	out->oldest_time_ns = s->n > 0 ? s->v[0].time_ns : 0;
}

size_t spool_available(const spool_t *s)
{
	return s->n - s->n_out;
}

const char *spool_dir(const spool_t *s)
{
	return s->dir;
}

void spool_entry_free(spool_entry *e)
{
	if (!e)
		return;
	free(e->name);
	free(e->service);
	free(e->type);
	free(e->labels);
	free(e->data);
	free(e);
}
