/* Tests of the spool: durability, ordering, quarantine, bounds, disk errors, and reading
 * a spool from outside (kprofefe-spool). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include "kprofefe/log.h"
#include "kprofefe/metrics.h"
#include "kprofefe/spool.h"

#include "test_data.h"

#define SEC 1000000000ll
#define T0 (1700000000ll * SEC)

static int64_t fake_now = T0;
/* spool_entry fields are char * (entries from peek are owned); these stand in for literals */
static char s_svc[] = "svc", s_big[] = "big", s_heap[] = "heap", s_cpu[] = "cpu", s_none[] = "";
static char s_trace[] = "trace", s_allocs[] = "allocs", s_other[] = "other";
static char s_labels[] = "namespace=default,pod=p%2C1";
static int64_t fake_clock(void)
{
	return fake_now;
}

struct fixture {
	char dir[64];  /* the test's temp dir */
	char spool[96];
};

static void rm_rf(const char *dir)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	strcpy(f->dir, "/tmp/kprofefe-test-spool-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->spool, sizeof(f->spool), "%s/spool", f->dir);
	fake_now = T0;
	metrics_reset();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	umount2(f->spool, MNT_DETACH); /* when a disk-error test failed half way */
	rm_rf(f->dir);
	free(f);
	metrics_reset();
	return 0;
}

static spool_t *open_spool(const struct fixture *f, uint64_t max_bytes, int64_t max_age_ns)
{
	spool_options opt = {max_bytes, max_age_ns, fake_clock};
	char err[256] = "";
	spool_t *s = spool_open(f->spool, &opt, err, sizeof(err));
	if (!s)
		fail_msg("spool_open: %s", err);
	return s;
}

/* Puts a profile whose bytes are len copies of fill. */
static void put(spool_t *s, int64_t time_ns, const char *service, unsigned char fill, size_t len)
{
	unsigned char *data = malloc(len);
	memset(data, fill, len);
	spool_entry e = {NULL, s_svc, s_heap, s_labels, time_ns, 2, data, len};
	char svc[64];
	snprintf(svc, sizeof(svc), "%s", service);
	e.service = svc;
	char err[256] = "";
	int rc = spool_put(s, &e, err, sizeof(err));
	free(data);
	if (rc != 0)
		fail_msg("spool_put: %s", err);
}

static spool_entry *peek(spool_t *s)
{
	spool_entry *e = NULL;
	char err[256] = "";
	assert_int_equal(spool_peek_oldest(s, &e, err, sizeof(err)), 0);
	return e;
}

static size_t count_files(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return (size_t)-1;
	size_t n = 0;
	struct dirent *ent;
	while ((ent = readdir(d)) != NULL)
		if (ent->d_type == DT_REG)
			n++;
	closedir(d);
	return n;
}

static char *only_entry_path(const struct fixture *f)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "ls %s/*.prof", f->spool);
	FILE *p = popen(cmd, "r");
	static char path[512];
	if (!fgets(path, sizeof(path), p))
		path[0] = '\0';
	pclose(p);
	path[strcspn(path, "\n")] = '\0';
	return path;
}

static void test_put_peek_remove_oldest_first(void **state)
{
	struct fixture *f = *state;
	spool_t *s = open_spool(f, 0, 0);
	put(s, T0 - 1 * SEC, "third", 'c', 100);
	put(s, T0 - 3 * SEC, "first", 'a', 100);
	put(s, T0 - 2 * SEC, "second", 'b', 100);
	assert_int_equal(metrics_get(METRIC_SPOOL_WRITTEN_TOTAL, NULL), 3);
	assert_int_equal(metrics_get(METRIC_SPOOL_ENTRIES, NULL), 3);
	assert_int_equal(metrics_get(METRIC_SPOOL_OLDEST_AGE_SECONDS, NULL), 3);

	spool_entry *a = peek(s);
	assert_non_null(a);
	assert_string_equal(a->service, "first");
	assert_string_equal(a->type, "heap");
	assert_string_equal(a->labels, "namespace=default,pod=p%2C1");
	assert_int_equal(a->time_ns, T0 - 3 * SEC);
	assert_int_equal(a->attempts, 2);
	assert_int_equal(a->len, 100);
	assert_int_equal(a->data[99], 'a');

	/* handed out: the next peek skips it */
	spool_entry *b = peek(s);
	assert_string_equal(b->service, "second");
	assert_int_equal(spool_available(s), 1);

	/* a retry releases it: it is the oldest again */
	spool_release(s, a->name);
	spool_entry *a2 = peek(s);
	assert_string_equal(a2->name, a->name);

	assert_int_equal(spool_remove(s, a->name), 0);
	assert_int_equal(spool_remove(s, a->name), ENOENT);
	assert_int_equal(spool_remove(s, b->name), 0);
	spool_entry *c = peek(s);
	assert_string_equal(c->service, "third");
	assert_null(peek(s));
	assert_int_equal(spool_remove(s, c->name), 0);
	assert_null(peek(s));
	assert_int_equal(metrics_get(METRIC_SPOOL_DRAINED_TOTAL, NULL), 3);
	assert_int_equal(metrics_get(METRIC_SPOOL_ENTRIES, NULL), 0);
	assert_int_equal(metrics_get(METRIC_SPOOL_BYTES, NULL), 0);
	assert_int_equal(count_files(f->spool), 0);
	spool_entry_free(a);
	spool_entry_free(a2);
	spool_entry_free(b);
	spool_entry_free(c);
	spool_close(s);
}

static void test_same_time_entries_keep_put_order(void **state)
{
	struct fixture *f = *state;
	spool_t *s = open_spool(f, 0, 0);
	put(s, T0, "one", '1', 10);
	put(s, T0, "two", '2', 10);
	spool_entry *a = peek(s), *b = peek(s);
	assert_string_equal(a->service, "one");
	assert_string_equal(b->service, "two");
	spool_entry_free(a);
	spool_entry_free(b);
	spool_close(s);
}

static void test_reopen_finds_entries(void **state)
{
	struct fixture *f = *state;
	spool_t *s = open_spool(f, 0, 0);
	put(s, T0 - 2 * SEC, "old", 'o', 5000);
	put(s, T0 - 1 * SEC, "new", 'n', 7000);
	spool_stats st1;
	spool_get_stats(s, &st1);
	spool_close(s);

	s = open_spool(f, 0, 0);
	spool_stats st2;
	spool_get_stats(s, &st2);
	assert_int_equal(st2.entries, 2);
	assert_int_equal(st2.bytes, st1.bytes);
	assert_int_equal(st2.oldest_time_ns, T0 - 2 * SEC);
	spool_entry *e = peek(s);
	assert_string_equal(e->service, "old");
	assert_int_equal(e->len, 5000);
	assert_int_equal(e->data[4999], 'o');
	spool_entry_free(e);
	/* a new put after reopen never reuses a name */
	put(s, T0 - 2 * SEC, "old2", 'x', 10);
	assert_int_equal(count_files(f->spool), 3);
	spool_close(s);
}

static void test_leftover_temp_removed(void **state)
{
	struct fixture *f = *state;
	spool_close(open_spool(f, 0, 0));
	char path[256];
	snprintf(path, sizeof(path), "%s/.tmp-00000000000000000001-0000000000.prof", f->spool);
	int fd = open(path, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "KPFSP", 5), 5);
	close(fd);
	spool_t *s = open_spool(f, 0, 0);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(metrics_get(METRIC_SPOOL_QUARANTINED_TOTAL, NULL), 0);
	assert_null(peek(s));
	spool_close(s);
}

static void test_truncated_entry_quarantined_at_open(void **state)
{
	struct fixture *f = *state;
	spool_t *s = open_spool(f, 0, 0);
	put(s, T0, "svc", 'x', 1000);
	spool_close(s);
	char path[512];
	snprintf(path, sizeof(path), "%s", only_entry_path(f));
	assert_int_equal(truncate(path, 500), 0);

	s = open_spool(f, 0, 0);
	assert_int_equal(metrics_get(METRIC_SPOOL_QUARANTINED_TOTAL, NULL), 1);
	assert_null(peek(s));
	char q[256];
	snprintf(q, sizeof(q), "%s/quarantine", f->spool);
	assert_int_equal(count_files(q), 1);
	assert_int_equal(count_files(f->spool), 0);
	spool_close(s);
}

static void test_bad_checksum_quarantined_when_read(void **state)
{
	struct fixture *f = *state;
	spool_t *s = open_spool(f, 0, 0);
	put(s, T0 - 2 * SEC, "bad", 'x', 1000);
	char path[512];
	snprintf(path, sizeof(path), "%s", only_entry_path(f));
	put(s, T0 - 1 * SEC, "good", 'g', 1000);
	/* flip one payload byte: same size, so only the checksum can tell */
	int fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "y", 1, 600), 1);
	close(fd);

	spool_entry *e = peek(s);
	assert_non_null(e);
	assert_string_equal(e->service, "good");
	assert_int_equal(metrics_get(METRIC_SPOOL_QUARANTINED_TOTAL, NULL), 1);
	char q[256];
	snprintf(q, sizeof(q), "%s/quarantine", f->spool);
	assert_int_equal(count_files(q), 1);
	spool_stats st;
	spool_get_stats(s, &st);
	assert_int_equal(st.entries, 1);
	spool_entry_free(e);
	spool_close(s);
}

static void test_foreign_files_quarantined(void **state)
{
	struct fixture *f = *state;
	spool_close(open_spool(f, 0, 0));
	char path[256];
	snprintf(path, sizeof(path), "%s/notes.txt", f->spool);
	FILE *fp = fopen(path, "w");
	fputs("hello", fp);
	fclose(fp);
	/* right name, wrong content */
	snprintf(path, sizeof(path), "%s/00000000000000000001-0000000000.prof", f->spool);
	fp = fopen(path, "w");
	fputs("this is not a spool entry, not at all, really not one", fp);
	fclose(fp);

	spool_t *s = open_spool(f, 0, 0);
	assert_int_equal(metrics_get(METRIC_SPOOL_QUARANTINED_TOTAL, NULL), 2);
	assert_int_equal(count_files(f->spool), 0);
	assert_null(peek(s));
	spool_close(s);
}

static void test_size_bound_evicts_oldest(void **state)
{
	struct fixture *f = *state;
	/* each entry is 44 + 1 + 4 + 27 + 1000 = 1076 bytes: room for three */
	spool_t *s = open_spool(f, 3 * 1076 + 500, 0);
	put(s, T0 - 4 * SEC, "a", 'a', 1000);
	put(s, T0 - 3 * SEC, "b", 'b', 1000);
	put(s, T0 - 2 * SEC, "c", 'c', 1000);
	assert_int_equal(metrics_get(METRIC_SPOOL_EVICTED_TOTAL, "reason", "size", NULL), 0);
	put(s, T0 - 1 * SEC, "d", 'd', 1000);
	assert_int_equal(metrics_get(METRIC_SPOOL_EVICTED_TOTAL, "reason", "size", NULL), 1);
	spool_stats st;
	spool_get_stats(s, &st);
	assert_int_equal(st.entries, 3);
	assert_int_equal(st.bytes, 3 * 1076);
	spool_entry *e = peek(s);
	assert_string_equal(e->service, "b");
	spool_entry_free(e);
	assert_int_equal(count_files(f->spool), 3);

	/* an entry bigger than the whole bound is refused, nothing evicted for it */
	unsigned char big[4000] = {0};
	spool_entry be = {NULL, s_big, s_cpu, s_none, T0, 0, big, sizeof(big)};
	char err[256];
	assert_int_equal(spool_put(s, &be, err, sizeof(err)), EFBIG);
	assert_non_null(strstr(err, "exceeds"));
	assert_int_equal(metrics_get(METRIC_SPOOL_ERRORS_TOTAL, "op", "put", "errno", "EFBIG", NULL), 1);
	spool_get_stats(s, &st);
	assert_int_equal(st.entries, 3);
	spool_close(s);
}

static void test_age_bound(void **state)
{
	struct fixture *f = *state;
	spool_t *s = open_spool(f, 0, 60 * SEC);
	put(s, T0 - 50 * SEC, "old", 'o', 10);
	put(s, T0 - 10 * SEC, "new", 'n', 10);
	assert_int_equal(spool_expire(s, T0), 0);
	fake_now = T0 + 20 * SEC;
	assert_int_equal(spool_expire(s, fake_now), 1);
	assert_int_equal(metrics_get(METRIC_SPOOL_EVICTED_TOTAL, "reason", "age", NULL), 1);
	assert_int_equal(metrics_get(METRIC_SPOOL_OLDEST_AGE_SECONDS, NULL), 30);
	spool_entry *e = peek(s);
	assert_string_equal(e->service, "new");
	spool_entry_free(e);

	/* an entry already too old is not written, but counted */
	put(s, fake_now - 61 * SEC, "stale", 's', 10);
	assert_int_equal(metrics_get(METRIC_SPOOL_EVICTED_TOTAL, "reason", "age", NULL), 2);
	assert_int_equal(count_files(f->spool), 1);
	spool_close(s);

	/* the age bound applies at open too */
	fake_now = T0 + 3600 * SEC;
	s = open_spool(f, 0, 60 * SEC);
	spool_stats st;
	spool_get_stats(s, &st);
	assert_int_equal(st.entries, 0);
	spool_close(s);
}

static void test_reject_moves_to_rejected(void **state)
{
	struct fixture *f = *state;
	spool_t *s = open_spool(f, 0, 0);
	put(s, T0, "svc", 'x', 10);
	spool_entry *e = peek(s);
	assert_int_equal(spool_reject(s, e->name), 0);
	assert_int_equal(metrics_get(METRIC_SPOOL_REJECTED_TOTAL, NULL), 1);
	char path[256];
	snprintf(path, sizeof(path), "%s/rejected/%s", f->spool, e->name);
	assert_int_equal(access(path, F_OK), 0);
	assert_null(peek(s));
	spool_entry_free(e);
	spool_close(s);
}

/*
 * Disk errors, made for real rather than injected: the tests run as root, where
 * permission bits do not stop writes, so the spool lives on a 64 KiB tmpfs (ENOSPC)
 * or a read-only bind mount (EROFS) made under the test's temp dir. Skipped when
 * mounting is not permitted.
 */
static int mount_tmpfs(const struct fixture *f, const char *size)
{
	char opts[64];
	snprintf(opts, sizeof(opts), "size=%s", size);
	mkdir(f->spool, 0755);
	return mount("tmpfs", f->spool, "tmpfs", 0, opts);
}

static void test_enospc_reported_counted_and_harmless(void **state)
{
	struct fixture *f = *state;
	if (mount_tmpfs(f, "64k") != 0)
		skip();
	spool_t *s = open_spool(f, 0, 0);
	unsigned char data[20000];
	memset(data, 'z', sizeof(data));
	spool_entry e = {NULL, s_svc, s_cpu, s_none, T0, 0, data, sizeof(data)};
	char err[256] = "";
	int rc = 0, written = 0;
	while (written < 10 && (rc = spool_put(s, &e, err, sizeof(err))) == 0)
		written++;
	assert_int_equal(rc, ENOSPC);
	assert_true(written >= 1);
	assert_non_null(strstr(err, "No space left"));
	assert_int_equal(metrics_get(METRIC_SPOOL_ERRORS_TOTAL, "op", "put", "errno", "ENOSPC", NULL), 1);
	/* no temporary file left, the index holds exactly what is on disk */
	assert_int_equal(count_files(f->spool), (size_t)written);
	spool_stats st;
	spool_get_stats(s, &st);
	assert_int_equal(st.entries, (size_t)written);
	/* what was written still reads back, and freeing space lets puts succeed again */
	spool_entry *got = peek(s);
	assert_non_null(got);
	assert_int_equal(got->len, sizeof(data));
	assert_int_equal(spool_remove(s, got->name), 0);
	spool_entry_free(got);
	assert_int_equal(spool_put(s, &e, err, sizeof(err)), 0);
	spool_close(s);
	assert_int_equal(umount(f->spool), 0);
}

static void test_read_only_dir_reported(void **state)
{
	struct fixture *f = *state;
	spool_t *s = open_spool(f, 0, 0);
	put(s, T0, "svc", 'x', 10);
	spool_close(s);
	/* the kernel ignores the type of a bind mount; "none", not NULL, for valgrind */
	if (mount(f->spool, f->spool, "none", MS_BIND, NULL) != 0)
		skip();
	if (mount("none", f->spool, "none", MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) != 0) {
		umount(f->spool);
		skip();
	}
	/* opens fine and serves what it holds */
	s = open_spool(f, 0, 0);
	spool_entry *e = peek(s);
	assert_non_null(e);
	spool_release(s, e->name);
	spool_entry_free(e);

	unsigned char data[10] = {0};
	spool_entry ne = {NULL, s_svc, s_cpu, s_none, T0, 0, data, sizeof(data)};
	char err[256] = "";
	assert_int_equal(spool_put(s, &ne, err, sizeof(err)), EROFS);
	assert_non_null(strstr(err, "Read-only"));
	assert_int_equal(metrics_get(METRIC_SPOOL_ERRORS_TOTAL, "op", "put", "errno", "EROFS", NULL), 1);
	spool_stats st;
	spool_get_stats(s, &st);
	assert_int_equal(st.entries, 1);
	spool_close(s);
	assert_int_equal(umount(f->spool), 0);
}

static void test_open_fails_clearly(void **state)
{
	struct fixture *f = *state;
	char path[256], err[256] = "";
	snprintf(path, sizeof(path), "%s/file", f->dir);
	FILE *fp = fopen(path, "w");
	fclose(fp);
	snprintf(path, sizeof(path), "%s/file/spool", f->dir);
	assert_null(spool_open(path, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "Not a directory"));
}

/* Writes a complete, correctly checksummed header-only entry (no strings, no payload)
 * whose header says time_ns, under name. */
static void write_header_only(const struct fixture *f, const char *name, int64_t time_ns)
{
	unsigned char h[44] = "KPFSPOOL";
	uint64_t t = (uint64_t)time_ns;
	h[8] = 1; /* version */
	for (int i = 0; i < 8; i++)
		h[16 + i] = (unsigned char)(t >> (8 * i));
	uint32_t crc = (uint32_t)crc32(0, h, 40);
	for (int i = 0; i < 4; i++)
		h[40 + i] = (unsigned char)(crc >> (8 * i));
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", f->spool, name);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite(h, 1, sizeof(h), fp), sizeof(h));
	fclose(fp);
}

/* Found by fuzzing: a 44-byte entry whose header says INT64_MIN overflowed the age
 * computation at open. The index takes the time from the name; the header's time is
 * looked at only after its checksum passed, and a negative one is refused. */
static void test_header_time_not_trusted(void **state)
{
	struct fixture *f = *state;
	spool_close(open_spool(f, 0, 0));
	write_header_only(f, "01700000000000000000-0000000007.prof", INT64_MIN);

	spool_t *s = open_spool(f, 0, 0);
	spool_stats st;
	spool_get_stats(s, &st);
	assert_int_equal(st.entries, 1);
	assert_int_equal(st.oldest_time_ns, T0);
	assert_int_equal(spool_expire(s, INT64_MIN), 0);
	assert_int_equal(spool_expire(s, INT64_MAX), 1); /* infinitely late: everything is old */
	spool_close(s);

	write_header_only(f, "01700000000000000000-0000000008.prof", INT64_MIN);
	s = open_spool(f, 0, 0);
	assert_null(peek(s));
	assert_int_equal(metrics_get(METRIC_SPOOL_QUARANTINED_TOTAL, NULL), 1);

	unsigned char data[4] = {0};
	spool_entry ne = {NULL, s_svc, s_cpu, s_none, INT64_MIN, 0, data, sizeof(data)};
	char err[256] = "";
	assert_int_equal(spool_put(s, &ne, err, sizeof(err)), EINVAL);
	assert_non_null(strstr(err, "before 1970"));
	spool_get_stats(s, &st);
	assert_int_equal(st.entries, 0);
	spool_close(s);
}

/* Replaces the file of the nth oldest entry (1: the first name in sorted order) by what
 * make puts at its path, and returns that name. */
static char *replace_nth(const struct fixture *f, int nth, void (*make)(const char *path))
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "ls -d %s/*.prof | sort | sed -n %dp", f->spool, nth);
	FILE *p = popen(cmd, "r");
	static char path[512];
	if (!fgets(path, sizeof(path), p))
		path[0] = '\0';
	pclose(p);
	path[strcspn(path, "\n")] = '\0';
	assert_int_equal(unlink(path), 0);
	make(path);
	return strrchr(path, '/') + 1;
}

static void make_dir(const char *path)
{
	assert_int_equal(mkdir(path, 0755), 0);
}

static void make_symlink(const char *path)
{
	assert_int_equal(symlink("/dev/null", path), 0);
}

/* An entry that cannot be read (here a directory: EISDIR; a symlink: ELOOP) is skipped
 * so the rest drains, and after three failed reads goes to quarantine/ with a log line
 * naming the path and the error. */
static void unreadable_entry(const struct fixture *f, void (*make)(const char *path),
			     const char *errno_label, const char *errno_text)
{
	spool_t *s = open_spool(f, 0, 0);
	put(s, T0 - 3 * SEC, "bad", 'x', 100);
	put(s, T0 - 2 * SEC, "b", 'b', 100);
	put(s, T0 - 1 * SEC, "c", 'c', 100);
	char bad[256];
	snprintf(bad, sizeof(bad), "%s", replace_nth(f, 1, make));

	char *logged = NULL;
	size_t logged_len = 0;
	FILE *log = open_memstream(&logged, &logged_len);
	log_setup(log, LOG_LOGFMT, LOG_WARN);

	spool_entry *b = peek(s), *c = peek(s);
	assert_non_null(b);
	assert_non_null(c);
	assert_string_equal(b->service, "b");
	assert_string_equal(c->service, "c");
	spool_release(s, b->name);
	spool_release(s, c->name);
	spool_entry_free(c);
	assert_int_equal(metrics_get(METRIC_SPOOL_QUARANTINED_TOTAL, NULL), 0);
	spool_entry *again = peek(s); /* the third failed read */
	assert_non_null(again);
	assert_string_equal(again->service, "b");
	assert_int_equal(metrics_get(METRIC_SPOOL_QUARANTINED_TOTAL, NULL), 1);
	assert_int_equal(metrics_get(METRIC_SPOOL_ERRORS_TOTAL, "op", "read", "errno",
				     errno_label, NULL), 3);
	fclose(log);
	log_setup(stderr, LOG_LOGFMT, LOG_ERROR);

	char want[512];
	snprintf(want, sizeof(want),
		 "msg=\"spool file quarantined\" dir=%s file=%s reason=\"unreadable: %s\" moved=true",
		 f->spool, bad, errno_text);
	if (!strstr(logged, want))
		fail_msg("no line with %s in:\n%s", want, logged);
	snprintf(want, sizeof(want), "entry=%s error=\"%s\" tries=3", bad, errno_text);
	if (!strstr(logged, want))
		fail_msg("no line with %s in:\n%s", want, logged);
	free(logged);
	char q[512];
	snprintf(q, sizeof(q), "%s/quarantine/%s", f->spool, bad);
	struct stat st;
	assert_int_equal(lstat(q, &st), 0);
	spool_stats stats;
	spool_get_stats(s, &stats);
	assert_int_equal(stats.entries, 2);
	assert_int_equal(spool_remove(s, again->name), 0);
	spool_entry_free(again);
	spool_entry_free(b);
	c = peek(s);
	assert_non_null(c);
	assert_string_equal(c->service, "c");
	assert_int_equal(spool_remove(s, c->name), 0);
	spool_entry_free(c);
	assert_null(peek(s));
	spool_close(s);
}

static void test_unreadable_dir_quarantined_after_tries(void **state)
{
	unreadable_entry(*state, make_dir, "EISDIR", "Is a directory");
}

static void test_unreadable_symlink_quarantined_after_tries(void **state)
{
	unreadable_entry(*state, make_symlink, "ELOOP", "Too many levels of symbolic links");
}

/* After a restart the bad files hold up nothing either. */
static void test_unreadable_entries_after_restart(void **state)
{
	struct fixture *f = *state;
	spool_t *s = open_spool(f, 0, 0);
	put(s, T0 - 3 * SEC, "dir", 'x', 100);
	put(s, T0 - 2 * SEC, "link", 'x', 100);
	put(s, T0 - 1 * SEC, "good", 'g', 100);
	spool_close(s);
	replace_nth(f, 1, make_dir);
	replace_nth(f, 2, make_symlink);

	s = open_spool(f, 0, 0);
	spool_entry *e = peek(s);
	assert_non_null(e);
	assert_string_equal(e->service, "good");
	assert_int_equal(spool_remove(s, e->name), 0);
	spool_entry_free(e);
	assert_null(peek(s));
	spool_close(s);
}

/* ---- looking in from outside: spool_list, spool_read, spool_verify, spool_encode ---- */

static void write_bytes(const char *path, const unsigned char *p, size_t len)
{
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(p, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

static unsigned char *read_bytes(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	assert_non_null(fp);
	static unsigned char buf[1 << 16];
	*len = fread(buf, 1, sizeof(buf), fp);
	fclose(fp);
	return buf;
}

/* Writes an entry of the test profile name (tests/data/pprof) as the file entry_name. */
static void write_profile_entry(const struct fixture *f, const char *entry_name, char *type,
				const char *profile)
{
	test_file t = test_data_load(profile);
	spool_entry e = {NULL, s_svc, type, s_labels, T0, 1, t.data, t.len};
	unsigned char *bytes;
	size_t len;
	char err[256] = "", path[256];
	assert_int_equal(spool_encode(&e, &bytes, &len, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/%s", f->spool, entry_name);
	write_bytes(path, bytes, len);
	free(bytes);
	free(t.data);
}

#define NAME_A "01700000000000000000-0000000001.prof"
#define NAME_B "01700000001000000000-0000000002.prof"

static void test_check_names(void **state)
{
	(void)state;
	for (int c = 0; c < SPOOL_CHECK_COUNT; c++)
		assert_string_not_equal(spool_check_name((enum spool_check)c), "unknown");
	assert_string_equal(spool_check_name(SPOOL_CHECK_CORRUPT), "corrupt");
	assert_string_equal(spool_check_name(SPOOL_CHECK_COUNT), "unknown");
}

/* Sorted oldest first, files only (no subdirectory, no temporary file), foreign files
 * included; quarantine/ lists too; a missing directory is named in the error. */
static void test_list(void **state)
{
	struct fixture *f = *state;
	spool_t *s = open_spool(f, 0, 0);
	put(s, T0 - 1 * SEC, "new", 'n', 10);
	put(s, T0 - 2 * SEC, "old", 'o', 10);
	spool_close(s);
	char path[256];
	snprintf(path, sizeof(path), "%s/.tmp-x.prof", f->spool);
	write_bytes(path, (const unsigned char *)"x", 1);
	snprintf(path, sizeof(path), "%s/notes.txt", f->spool);
	write_bytes(path, (const unsigned char *)"x", 1);
	snprintf(path, sizeof(path), "%s/quarantine/junk", f->spool);
	write_bytes(path, (const unsigned char *)"x", 1);

	char **names;
	size_t n;
	char err[256] = "";
	assert_int_equal(spool_list(f->spool, &names, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 3);
	assert_string_equal(names[0] + 21, "0000000001.prof"); /* "old": put second, older */
	assert_true(strcmp(names[0], names[1]) < 0);
	assert_true(spool_is_entry_name(names[0]) && spool_is_entry_name(names[1]));
	assert_string_equal(names[2], "notes.txt");
	assert_false(spool_is_entry_name(names[2]));
	snprintf(path, sizeof(path), "%s/%s", f->spool, names[0]);
	spool_verdict v;
	spool_entry *e = spool_read(path, &v);
	assert_int_equal(v.check, SPOOL_CHECK_OK);
	assert_string_equal(e->service, "old");
	spool_entry_free(e);
	spool_list_free(names, n);

	snprintf(path, sizeof(path), "%s/quarantine", f->spool);
	assert_int_equal(spool_list(path, &names, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_string_equal(names[0], "junk");
	spool_list_free(names, n);

	snprintf(path, sizeof(path), "%s/nothere", f->spool);
	assert_int_equal(spool_list(path, &names, &n, err, sizeof(err)), ENOENT);
	assert_null(names);
	assert_non_null(strstr(err, path));
}

/* spool_read gives what spool_put wrote, and says what is wrong with a bad file; none of
 * it moves or changes a file (a spool_open would quarantine these). */
static void test_read(void **state)
{
	struct fixture *f = *state;
	spool_t *s = open_spool(f, 0, 0);
	put(s, T0 - 2 * SEC, "a", 'a', 300);
	put(s, T0 - 1 * SEC, "b", 'b', 300);
	spool_close(s);
	char **names;
	size_t n;
	char err[256] = "", good[256], flipped[256], path[256];
	assert_int_equal(spool_list(f->spool, &names, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	snprintf(good, sizeof(good), "%s/%s", f->spool, names[0]);
	snprintf(flipped, sizeof(flipped), "%s/%s", f->spool, names[1]);
	spool_list_free(names, n);

	spool_verdict v;
	spool_entry *e = spool_read(good, &v);
	assert_non_null(e);
	assert_int_equal(v.check, SPOOL_CHECK_OK);
	assert_string_equal(e->service, "a");
	assert_string_equal(e->type, "heap");
	assert_string_equal(e->labels, s_labels);
	assert_int_equal(e->time_ns, T0 - 2 * SEC);
	assert_int_equal(e->attempts, 2);
	assert_int_equal(e->len, 300);
	assert_int_equal(e->data[299], 'a');
	spool_entry_free(e);

	size_t len;
	unsigned char *p = read_bytes(flipped, &len);
	p[len - 1] ^= 1;
	write_bytes(flipped, p, len);
	assert_null(spool_read(flipped, &v));
	assert_int_equal(v.check, SPOOL_CHECK_CORRUPT);
	assert_string_equal(v.why, "checksum mismatch");
	assert_int_equal(truncate(good, 30), 0);
	assert_null(spool_read(good, &v));
	assert_int_equal(v.check, SPOOL_CHECK_CORRUPT);
	assert_string_equal(v.why, "truncated");

	snprintf(path, sizeof(path), "%s/" NAME_A, f->spool);
	assert_null(spool_read(path, &v));
	assert_int_equal(v.check, SPOOL_CHECK_UNREADABLE);
	assert_int_equal(v.err, ENOENT);
	assert_int_equal(symlink(flipped, path), 0);
	assert_null(spool_read(path, &v));
	assert_int_equal(v.check, SPOOL_CHECK_UNREADABLE);
	assert_int_equal(v.err, ELOOP);

	assert_int_equal(count_files(f->spool), 2); /* the two entries, where they were */
	snprintf(path, sizeof(path), "%s/quarantine", f->spool);
	assert_int_equal(count_files(path), 0);
}

/* The profile check: real profiles pass; an empty one, text, a gzip whose trailer CRC is
 * wrong and a profile filed as a trace do not; a trace passes as a trace only. */
static void test_verify_profiles(void **state)
{
	struct fixture *f = *state;
	spool_t *s = open_spool(f, 0, 0); /* makes the directory */
	spool_close(s);
	static const struct {
		const char *profile;
		char *type;
		enum spool_check want;
		const char *why;
	} cases[] = {
		{"heap.pb.gz", s_heap, SPOOL_CHECK_OK, NULL},
		{"cpu.pb.gz", s_cpu, SPOOL_CHECK_OK, NULL},
		{"heap.pb", s_heap, SPOOL_CHECK_OK, NULL}, /* uncompressed: the replay sends it */
		{"mutex-empty.pb.gz", s_heap, SPOOL_CHECK_EMPTY_PROFILE, "no samples"},
		{"goroutine-debug1.txt", s_heap, SPOOL_CHECK_BAD_PROFILE, "text"},
		{"heap.pb.gz", s_trace, SPOOL_CHECK_BAD_PROFILE, "not_trace"},
		{"trace.out", s_trace, SPOOL_CHECK_OK, NULL},
		{"trace.out", s_cpu, SPOOL_CHECK_BAD_PROFILE, "unexpected_trace"},
		{"heap.pb.gz", s_allocs, SPOOL_CHECK_UNKNOWN_TYPE, "not a profefe type"},
		{"heap.pb.gz", s_other, SPOOL_CHECK_OK, NULL}, /* allocs, as profefe has it */
	};
	char path[256];
	snprintf(path, sizeof(path), "%s/" NAME_A, f->spool);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_profile_entry(f, NAME_A, cases[i].type, cases[i].profile);
		spool_verdict v;
		spool_entry *e = spool_verify(path, &v);
		assert_non_null(e);
		if (v.check != cases[i].want)
			fail_msg("%s as %s: %s, want %s", cases[i].profile, cases[i].type,
				 spool_check_name(v.check), spool_check_name(cases[i].want));
		if (cases[i].why)
			assert_string_equal(v.why, cases[i].why);
		else
			assert_null(v.why);
		spool_entry_free(e);
	}

	/* gzip's trailer: its CRC-32 of the inflated bytes, inside an intact entry */
	test_file t = test_data_load("heap.pb.gz");
	t.data[t.len - 8] ^= 0xff;
	spool_entry bad = {NULL, s_svc, s_heap, s_none, T0, 0, t.data, t.len};
	unsigned char *bytes;
	size_t len;
	char err[256];
	assert_int_equal(spool_encode(&bad, &bytes, &len, err, sizeof(err)), 0);
	write_bytes(path, bytes, len);
	free(bytes);
	free(t.data);
	spool_verdict v;
	spool_entry_free(spool_verify(path, &v));
	assert_int_equal(v.check, SPOOL_CHECK_BAD_PROFILE);
	assert_string_equal(v.why, "corrupt_gzip");

	/* a good entry under another name: what spool_open quarantines; cat reads it still */
	char other[256];
	snprintf(other, sizeof(other), "%s/copy.prof", f->spool);
	assert_int_equal(rename(path, other), 0);
	assert_null(spool_verify(other, &v));
	assert_int_equal(v.check, SPOOL_CHECK_NOT_ENTRY);
	spool_entry *e = spool_read(other, &v);
	assert_non_null(e);
	assert_string_equal(e->name, "copy.prof");
	spool_entry_free(e);
}

/* spool_encode writes the bytes spool_put writes, and refuses what put refuses. */
static void test_encode_matches_put(void **state)
{
	struct fixture *f = *state;
	spool_t *s = open_spool(f, 0, 0);
	put(s, T0 - 1 * SEC, "same", 's', 1000);
	spool_close(s);
	char path[256];
	snprintf(path, sizeof(path), "%s", only_entry_path(f));
	size_t on_disk_len;
	unsigned char *on_disk = read_bytes(path, &on_disk_len);

	unsigned char data[1000];
	memset(data, 's', sizeof(data));
	char svc[] = "same";
	spool_entry e = {NULL, svc, s_heap, s_labels, T0 - 1 * SEC, 2, data, sizeof(data)};
	unsigned char *bytes;
	size_t len;
	char err[256] = "";
	assert_int_equal(spool_encode(&e, &bytes, &len, err, sizeof(err)), 0);
	assert_int_equal(len, on_disk_len);
	assert_memory_equal(bytes, on_disk, len);
	const char *why = NULL;
	spool_entry *d = spool_decode(NAME_B, bytes, len, &why);
	assert_non_null(d);
	assert_string_equal(d->service, "same");
	spool_entry_free(d);
	free(bytes);

	e.time_ns = -1;
	assert_int_equal(spool_encode(&e, &bytes, &len, err, sizeof(err)), EINVAL);
	assert_null(bytes);
	assert_non_null(strstr(err, "before 1970"));
	e.time_ns = T0;
	char *long_type = malloc(5000);
	memset(long_type, 't', 4999);
	long_type[4999] = '\0';
	e.type = long_type;
	assert_int_equal(spool_encode(&e, &bytes, &len, err, sizeof(err)), EINVAL);
	assert_non_null(strstr(err, "too long"));
	free(long_type);
}

int main(void)
{
	log_setup(stderr, LOG_LOGFMT, LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_peek_remove_oldest_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_time_entries_keep_put_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_finds_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leftover_temp_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_entry_quarantined_at_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_checksum_quarantined_when_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_files_quarantined, setup, teardown),
		cmocka_unit_test_setup_teardown(test_size_bound_evicts_oldest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_age_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reject_moves_to_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enospc_reported_counted_and_harmless, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_only_dir_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_fails_clearly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_header_time_not_trusted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreadable_dir_quarantined_after_tries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreadable_symlink_quarantined_after_tries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreadable_entries_after_restart, setup, teardown),
		cmocka_unit_test(test_check_names),
		cmocka_unit_test_setup_teardown(test_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_profiles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_encode_matches_put, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
