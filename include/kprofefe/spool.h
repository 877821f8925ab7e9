/* spool: a durable, bounded, node-local queue of profiles on disk, read oldest first. */
#ifndef KPROFEFE_SPOOL_H
#define KPROFEFE_SPOOL_H

#include <stddef.h>
#include <stdint.h>

/*
 * Layout of the spool directory:
 *   <dir>/<time_ns:020>-<seq:010>.prof   entries; the name sorts by collection time
 *   <dir>/.tmp-<name>                    being written; removed at the next open
 *   <dir>/quarantine/                    entries that failed to parse or checksum or
 *                                        could not be read, and files that are not ours
 *   <dir>/rejected/                      entries profefe refused (4xx but 408/429)
 *
 * An entry file is a 44-byte little-endian header (magic "KPFSPOOL", version,
 * attempts, collection time, payload length, string lengths, CRC-32 of everything
 * else in the file), then service, type and labels (no NULs), then the profile bytes.
 * It counts as written only once it was written to a temporary name, fsynced,
 * renamed and the directory fsynced.
 *
 * Everything here is synchronous file I/O meant for the loop thread: one entry is
 * one small file. Nothing is thread-safe.
 */

typedef struct spool spool_t;

typedef struct spool_options {
	uint64_t max_bytes;     /* bound on the sum of entry file sizes; 0: 512 MiB */
	int64_t max_age_ns;     /* entries collected longer ago go; 0: 24 h */
	/* The wall clock, for tests; NULL: CLOCK_REALTIME. */
	int64_t (*clock_ns)(void);
} spool_options;

/* One profile with its metadata. In spool_put every field is borrowed; entries from
 * spool_peek_oldest are owned by the caller and freed with spool_entry_free. */
typedef struct spool_entry {
	char *name;           /* file name inside the spool dir (set by peek; ignored by put) */
	char *service;
	char *type;           /* profefe type: "cpu", "heap", ... */
	char *labels;         /* already encoded for profefe (profefe_labels_encode), may be "" */
	int64_t time_ns;      /* collection time, unix nanoseconds; never negative */
	uint32_t attempts;    /* upload attempts so far */
	unsigned char *data;  /* the profile bytes (gzip pprof) */
	size_t len;
} spool_entry;

typedef struct spool_stats {
	size_t entries;
	uint64_t bytes;
	int64_t oldest_time_ns; /* collection time of the oldest entry; 0 when empty */
} spool_stats;

/*
 * Opens (creating if needed) the spool at dir (copied): creates quarantine/ and
 * rejected/, removes leftover temporary files, indexes the entries by name and size
 * (an entry's time is the one in its name; its header's magic, version and lengths are
 * checked, but nothing in a header is used before the checksum is verified, when the
 * entry is read), quarantines what is not an entry, and evicts what is beyond the
 * bounds. A directory that exists but cannot be
 * written opens fine (every put will then fail, reported and counted). Returns NULL
 * with a message in err when dir cannot be created or read. Registers the spool
 * metrics (kprofefe_spool_*).
 */
spool_t *spool_open(const char *dir, const spool_options *opt, char *err, size_t errlen);
/* Frees the in-memory index; the files stay. NULL is fine. */
void spool_close(spool_t *spool);

/*
 * Writes e durably as a new entry (e->name is ignored), then evicts the oldest entries
 * beyond the bounds (each logged and counted). An entry already older than max age
 * is not written: it is logged and counted as evicted (reason age) and 0 returned.
 * Returns 0, or an errno value (ENOSPC, EROFS, EACCES, EIO, EFBIG when the entry
 * alone exceeds max bytes, EINVAL for a time before 1970...) with a message in err, counted in
 * kprofefe_spool_errors_total{op="put"}; the spool is then unchanged and the
 * caller still owns its copy.
 */
int spool_put(spool_t *spool, const spool_entry *e, char *err, size_t errlen);

/*
 * Reads and verifies the oldest entry not already handed out, and hands it out: it is
 * skipped by later peeks until spool_remove, spool_reject or spool_release names it.
 * Entries that fail to parse or checksum are quarantined (logged, counted) and the
 * next one is tried; vanished files are dropped from the index. An entry that cannot
 * be read for another reason (EIO, EACCES, EISDIR, ELOOP...) is skipped, so the next
 * one is tried, and read again by the next peek; its third failure moves it to
 * quarantine/ (each failure logged with the path and the error and counted in
 * kprofefe_spool_errors_total{op="read"}). *out is NULL when there is nothing to
 * hand out. Returns 0 when an entry was handed out or none failed to read, else the
 * errno value of the last failed read with a message in err (*out NULL).
 * The caller frees *out with spool_entry_free.
 */
int spool_peek_oldest(spool_t *spool, spool_entry **out, char *err, size_t errlen);
/* Makes a handed-out entry available to spool_peek_oldest again (upload to retry). */
void spool_release(spool_t *spool, const char *name);
/* Deletes an entry (profefe answered 200); counted as drained. Returns 0, ENOENT when
 * the spool does not hold it any more (evicted meanwhile), or another errno value when
 * the file cannot be deleted (a read-only spool): then the index forgets the entry, so
 * this process does not hand it out again, and the file stays for the next process to
 * upload once more (at-least-once); logged and counted in kprofefe_spool_errors_total. */
int spool_remove(spool_t *spool, const char *name);
/* Moves an entry to rejected/ (profefe refused it); counted. Returns like spool_remove
 * (an entry that cannot be moved is forgotten the same way). */
int spool_reject(spool_t *spool, const char *name);

/* Evicts the entries collected before now_ns - max_age (logged, counted) and updates
 * the gauges; meant for a periodic timer. Returns how many went. */
size_t spool_expire(spool_t *spool, int64_t now_ns);

void spool_get_stats(const spool_t *spool, spool_stats *out);
/* How many entries peek could hand out now (entries not handed out). */
size_t spool_available(const spool_t *spool);
const char *spool_dir(const spool_t *spool);

void spool_entry_free(spool_entry *e);

/*
 * Decodes the bytes of an entry file (borrowed) named name (copied into the entry):
 * magic, version, lengths against len and checksum are checked before anything is
 * used. Returns the entry (free with spool_entry_free), or NULL with *why set to a
 * short static reason ("truncated", "bad magic", "checksum mismatch", "bad time"...). What
 * spool_peek_oldest does with every file it reads; exposed for tests and the fuzzer.
 */
spool_entry *spool_decode(const char *name, const unsigned char *p, size_t len, const char **why);

/* ---- looking into a spool from outside (kprofefe-spool) ----------------------------
 * Nothing below opens a spool or changes a file, so it is safe next to a running
 * collector (an entry it drains meanwhile reads as unreadable, ENOENT). Paths are read
 * as given; a symbolic link in an entry's place is not followed (ELOOP), as in peek. */

/* What checking one file found. */
enum spool_check {
	SPOOL_CHECK_OK,
	SPOOL_CHECK_UNREADABLE,    /* open or read failed (err); peek retries, then quarantines */
	SPOOL_CHECK_NOT_ENTRY,     /* the name is not an entry's; open quarantines it */
	SPOOL_CHECK_CORRUPT,       /* header, lengths or checksum wrong; peek quarantines it */
	SPOOL_CHECK_UNKNOWN_TYPE,  /* intact, but profefe has no such type: to rejected/ */
	SPOOL_CHECK_BAD_PROFILE,   /* intact, but the payload is no profile (gzip, its trailer
	                            * CRC, the pprof walk): profefe refuses it, to rejected/ */
	SPOOL_CHECK_EMPTY_PROFILE, /* a profile without samples: profefe refuses it, and the
	                            * replay deletes it */
	SPOOL_CHECK_COUNT
};

/* "ok", "unreadable", "not_entry", "corrupt", "unknown_type", "bad_profile",
 * "empty_profile" (static);
 * "unknown" out of range. */
const char *spool_check_name(enum spool_check c);

/* A check's result. why is a static reason (spool_decode's or pprof_body_check's, "not a
 * spool entry", "no samples"), NULL when ok or unreadable; err the errno when unreadable. */
typedef struct spool_verdict {
	enum spool_check check;
	const char *why;
	int err;
} spool_verdict;

/* Non-zero when name (a file name, no directory) is an entry's: <20 digits>-<10>.prof. */
int spool_is_entry_name(const char *name);

/*
 * The names in dir, sorted (entries oldest first, as peek takes them): every file but
 * directories (quarantine/, rejected/) and temporary files (.tmp-*). Works on
 * quarantine/ and rejected/ too. Returns 0 with *names (free with spool_list_free) and
 * *n, or an errno value with a message in err naming dir.
 */
int spool_list(const char *dir, char ***names, size_t *n, char *err, size_t errlen);
void spool_list_free(char **names, size_t n);

/*
 * Reads the entry file at path (whatever its name, which is copied into the entry) and
 * decodes it as spool_decode does. Returns the entry (free with spool_entry_free) with
 * v->check SPOOL_CHECK_OK, or NULL with v->check SPOOL_CHECK_UNREADABLE (v->err) or
 * SPOOL_CHECK_CORRUPT (v->why).
 */
spool_entry *spool_read(const char *path, spool_verdict *v);

/*
 * Checks e as the replay and profefe will: a type profefe knows (cpu, heap, other,
 * goroutine, mutex, block, threadcreate, trace), then a pprof Profile (gzip, inflated
 * to the end so its trailer's CRC-32 is checked, or uncompressed) with samples, or a Go
 * trace for type "trace". Sets v to SPOOL_CHECK_OK, SPOOL_CHECK_UNKNOWN_TYPE,
 * SPOOL_CHECK_BAD_PROFILE (v->why: pprof_reason_name of pprof_body_check's reason) or
 * SPOOL_CHECK_EMPTY_PROFILE.
 */
void spool_check_profile(const spool_entry *e, spool_verdict *v);

/* Everything the collector would check of the file at path: its name, then spool_read,
 * then spool_check_profile. Returns the entry when it could be decoded (whatever the
 * profile check said; free with spool_entry_free), else NULL; *v says what was found. */
spool_entry *spool_verify(const char *path, spool_verdict *v);

/*
 * The bytes of an entry file holding e (e->name ignored), as spool_put writes them: for
 * entries made by hand (tests, a profile to queue by hand). Returns 0 with *out (the
 * caller frees it) and *len, or EINVAL with a message in err (a field too long, a time
 * before 1970).
 */
int spool_encode(const spool_entry *e, unsigned char **out, size_t *len, char *err,
		 size_t errlen);

#endif
