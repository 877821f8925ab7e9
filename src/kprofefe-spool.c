/* kprofefe-spool: looks into a collector's spool directory: ls, verify, cat (and pack). */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <yajl/yajl_gen.h>

#include "kprofefe/flags.h"
#include "kprofefe/spool.h"
#include "kprofefe/version.h"
#include "kprofefe/xalloc.h"

/* The exit statuses, as the usage text documents them. */
enum exit_status {
	EXIT_FINE = 0,  /* every entry good, the profile written */
	EXIT_BAD = 1,   /* a bad entry (named on stdout or stderr), or a failed write */
	EXIT_USAGE = 2  /* bad command, flag or argument (named on stderr) */
};

static const char usage_main[] =
	"usage: kprofefe-spool COMMAND [FLAGS] ARGS\n"
	"\n"
	"Looks into a kprofefe spool directory (--spool-dir) without changing it: safe\n"
	"next to a running collector.\n"
	"\n"
	"Commands:\n"
	"  ls [--json] PATH...     the files of each directory PATH (oldest first), or the\n"
	"                          entry file PATH: age, service, type, size, upload\n"
	"                          attempts, name, labels (DIR/quarantine and DIR/rejected\n"
	"                          work too); a bad file shows what is wrong\n"
	"  verify PATH...          checks every entry of each directory PATH, or the entry\n"
	"                          file PATH, as the collector will: name, header, checksum,\n"
	"                          then the profile (gzip and its CRC, pprof, samples); names\n"
	"                          each bad one on stdout: PATH: CHECK: REASON\n"
	"  cat ENTRY               writes ENTRY's profile (gzip pprof) to stdout, for\n"
	"                          go tool pprof\n"
	"  pack FLAGS PAYLOAD      writes an entry file holding the profile PAYLOAD ('-':\n"
	"                          stdin) to stdout (name it <time_ns:020>-<seq:010>.prof)\n"
	"\n"
	"Exit status: 0 all good; 1 a bad entry (verify, cat) or a failed write;\n"
	"2 usage: an unknown command or flag, a missing or extra argument, a path\n"
	"that does not exist (each named on stderr).\n"
	"Run kprofefe-spool COMMAND --help for a command's flags.";

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("kprofefe-spool: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return EXIT_USAGE;
}

/* flags_parse for a command; -1 to go on, else the exit status (0 after --help). */
static int parse(const flag_spec *specs, size_t n, const char *usage, int argc, char **argv,
		 char **pos, int *npos)
{
	char err[512];
	int rc = flags_parse(specs, n, argc, argv, pos, npos, err, sizeof(err));
	if (rc == 1) {
		flags_usage(stdout, usage, specs, n);
		return EXIT_FINE;
	}
	if (rc < 0)
		return usage_error("%s", err);
	return -1;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* "45s", "3m12s", "2h05m", "3d04h"; a time ahead of the clock gets a '-'. */
static void format_age(char *buf, size_t len, int64_t age_ns)
{
	const char *sign = age_ns < 0 ? "-" : "";
	uint64_t s = (uint64_t)(age_ns < 0 ? -(age_ns / 1000000000ll) : age_ns / 1000000000ll);
	if (s < 60)
		snprintf(buf, len, "%s%" PRIu64 "s", sign, s);
	else if (s < 3600)
		snprintf(buf, len, "%s%" PRIu64 "m%02" PRIu64 "s", sign, s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%s%" PRIu64 "h%02" PRIu64 "m", sign, s / 3600, s % 3600 / 60);
	else
		snprintf(buf, len, "%s%" PRIu64 "d%02" PRIu64 "h", sign, s / 86400, s % 86400 / 3600);
}

static char *join_path(const char *dir, const char *name)
{
	size_t n = strlen(dir);
	return xasprintf("%s%s%s", dir, n > 0 && dir[n - 1] == '/' ? "" : "/", name);
}

/* What ls and verify say of a check that did not pass: "checksum mismatch", "ENOENT"... */
static const char *verdict_reason(const spool_verdict *v)
{
	if (v->check == SPOOL_CHECK_UNREADABLE)
		return strerror(v->err);
	return v->why ? v->why : "";
}

/* ---- ls ---- */

static int ls_json;

static const flag_spec ls_specs[] = {
	{"json", 0, NULL, FLAG_BOOL, &ls_json, NULL,
	 "one JSON object a line: entry, check, why, size, time_ns, service, type, labels, "
	 "attempts, profile_bytes"},
};

static void gen_str(yajl_gen g, const char *s)
{
	yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

static void gen_key_str(yajl_gen g, const char *key, const char *value)
{
	gen_str(g, key);
	if (value)
		gen_str(g, value);
	else
		yajl_gen_null(g);
}

static void gen_key_int(yajl_gen g, const char *key, long long value)
{
	gen_str(g, key);
	yajl_gen_integer(g, value);
}

static void ls_print_json(const char *name, uint64_t size, const spool_entry *e,
			  const spool_verdict *v)
{
	yajl_gen g = yajl_gen_alloc(NULL);
	yajl_gen_map_open(g);
	gen_key_str(g, "entry", name);
	gen_key_str(g, "check", spool_check_name(v->check));
	gen_key_str(g, "why", v->check == SPOOL_CHECK_OK ? NULL : verdict_reason(v));
	gen_key_int(g, "size", (long long)size);
	if (e) {
		gen_key_int(g, "time_ns", e->time_ns);
		gen_key_str(g, "service", e->service);
		gen_key_str(g, "type", e->type);
		gen_key_str(g, "labels", e->labels);
		gen_key_int(g, "attempts", e->attempts);
		gen_key_int(g, "profile_bytes", (long long)e->len);
	}
	yajl_gen_map_close(g);
	const unsigned char *buf;
	size_t len;
	yajl_gen_get_buf(g, &buf, &len);
	fwrite(buf, 1, len, stdout);
	fputc('\n', stdout);
	yajl_gen_free(g);
}

static void ls_print_row(const char *name, uint64_t size, const spool_entry *e,
			 const spool_verdict *v, int64_t now)
{
	char age[32] = "-", attempts[16] = "-";
	if (e) {
		format_age(age, sizeof(age), now - e->time_ns);
		snprintf(attempts, sizeof(attempts), "%" PRIu32, e->attempts);
	}
	printf("%-8s %-24s %-12s %10" PRIu64 " %8s  %-36s ", age, e ? e->service : "-",
	       e ? e->type : "-", size, attempts, name);
	if (v->check == SPOOL_CHECK_OK)
		printf("%s\n", e->labels);
	else
		printf("(%s: %s)\n", spool_check_name(v->check), verdict_reason(v));
}

/* ls reads headers and checksums only: the profile check (inflating every payload) is
 * verify's. */
static void ls_one(const char *path, const char *name, int64_t now)
{
	struct stat st;
	uint64_t size = lstat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
	spool_verdict v = {SPOOL_CHECK_NOT_ENTRY, "not a spool entry", 0};
	spool_entry *e = NULL;
	if (spool_is_entry_name(name))
		e = spool_read(path, &v);
	if (ls_json)
		ls_print_json(name, size, e, &v);
	else
		ls_print_row(name, size, e, &v, now);
	spool_entry_free(e);
}

static int ls_dir(const char *dir, int64_t now)
{
	char **names;
	size_t n;
	char err[512];
	if (spool_list(dir, &names, &n, err, sizeof(err)) != 0)
		return usage_error("%s", err);
	for (size_t i = 0; i < n; i++) {
		char *path = join_path(dir, names[i]);
		ls_one(path, names[i], now);
		free(path);
	}
	spool_list_free(names, n);
	return -1;
}

/* Every path argument exists before any is read: a typo is a usage error, not a bad
 * entry. Returns -1 to go on, else the exit status. */
static int check_paths(const char *cmd, int npos, char **pos)
{
	if (npos == 0)
		return usage_error("%s needs a spool directory or entry file", cmd);
	struct stat st;
	for (int i = 0; i < npos; i++)
		if (stat(pos[i], &st) != 0)
			return usage_error("no such spool directory or entry: %s", pos[i]);
	return -1;
}

static int cmd_ls(int argc, char **argv, char **pos)
{
	int npos = 0;
	int rc = parse(ls_specs, sizeof(ls_specs) / sizeof(ls_specs[0]),
		       "usage: kprofefe-spool ls [--json] DIR|ENTRY...", argc, argv, pos, &npos);
	if (rc >= 0)
		return rc;
	rc = check_paths("ls", npos, pos);
	if (rc >= 0)
		return rc;
	struct stat st;
	int64_t now = now_ns();
	if (!ls_json)
		printf("%-8s %-24s %-12s %10s %8s  %-36s %s\n", "AGE", "SERVICE", "TYPE", "SIZE",
		       "ATTEMPTS", "ENTRY", "LABELS");
	for (int i = 0; i < npos; i++) {
		if (stat(pos[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			if ((rc = ls_dir(pos[i], now)) >= 0)
				return rc;
			continue;
		}
		const char *base = strrchr(pos[i], '/');
		ls_one(pos[i], base ? base + 1 : pos[i], now);
	}
	return fflush(stdout) == 0 ? EXIT_FINE : EXIT_BAD;
}

/* ---- verify ---- */

/* Checks one file; names it on stdout when bad. in_dir: a file that vanished since the
 * listing was drained meanwhile, not bad. Returns 1 when bad. */
static int verify_one(const char *path, int in_dir)
{
	spool_verdict v;
	spool_entry_free(spool_verify(path, &v));
	if (v.check == SPOOL_CHECK_OK)
		return 0;
	if (in_dir && v.check == SPOOL_CHECK_UNREADABLE && v.err == ENOENT)
		return 0;
	printf("%s: %s: %s\n", path, spool_check_name(v.check), verdict_reason(&v));
	return 1;
}

static int verify_dir(const char *dir, size_t *checked, size_t *bad)
{
	char **names;
	size_t n;
	char err[512];
	if (spool_list(dir, &names, &n, err, sizeof(err)) != 0)
		return usage_error("%s", err);
	for (size_t i = 0; i < n; i++) {
		char *path = join_path(dir, names[i]);
		*bad += (size_t)verify_one(path, 1);
		free(path);
	}
	*checked += n;
	spool_list_free(names, n);
	return -1;
}

static int cmd_verify(int argc, char **argv, char **pos)
{
	int npos = 0;
	int rc = parse(NULL, 0, "usage: kprofefe-spool verify DIR|ENTRY...", argc, argv, pos,
		       &npos);
	if (rc >= 0)
		return rc;
	rc = check_paths("verify", npos, pos);
	if (rc >= 0)
		return rc;
	struct stat st;
	size_t checked = 0, bad = 0;
	int dirs = 0;
	for (int i = 0; i < npos; i++) {
		if (stat(pos[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			if ((rc = verify_dir(pos[i], &checked, &bad)) >= 0)
				return rc;
			dirs++;
			continue;
		}
		bad += (size_t)verify_one(pos[i], 0);
		checked++;
	}
	/* how many a directory held is news; an entry named alone is not */
	if (dirs > 0)
		fprintf(stderr, "kprofefe-spool: %zu file%s checked, %zu bad\n", checked,
			checked == 1 ? "" : "s", bad);
	if (fflush(stdout) != 0)
		return EXIT_BAD;
	return bad ? EXIT_BAD : EXIT_FINE;
}

/* ---- cat ---- */

static int write_stdout(const unsigned char *p, size_t len)
{
	if (fwrite(p, 1, len, stdout) != len || fflush(stdout) != 0) {
		fprintf(stderr, "kprofefe-spool: writing to stdout: %s\n", strerror(errno));
		return EXIT_BAD;
	}
	return EXIT_FINE;
}

static int cmd_cat(int argc, char **argv, char **pos)
{
	int npos = 0;
	int rc = parse(NULL, 0, "usage: kprofefe-spool cat ENTRY > profile.pb.gz", argc, argv,
		       pos, &npos);
	if (rc >= 0)
		return rc;
	if (npos != 1)
		return usage_error("cat takes one entry file, got %s", npos ? "more" : "none");
	if (isatty(STDOUT_FILENO))
		return usage_error("cat writes a binary profile: redirect stdout (%s)",
				   "kprofefe-spool cat ENTRY > profile.pb.gz");
	spool_verdict v;
	spool_entry *e = spool_read(pos[0], &v);
	if (!e && v.check == SPOOL_CHECK_UNREADABLE && (v.err == ENOENT || v.err == ENOTDIR))
		return usage_error("no such entry: %s", pos[0]);
	if (!e) {
		fprintf(stderr, "kprofefe-spool: %s: %s: %s\n", pos[0], spool_check_name(v.check),
			verdict_reason(&v));
		return EXIT_BAD;
	}
	rc = write_stdout(e->data, e->len);
	spool_entry_free(e);
	return rc;
}

/* ---- pack ---- */

static const char *pack_service, *pack_type, *pack_labels, *pack_time;
static long pack_attempts;

static const flag_spec pack_specs[] = {
	{"service", 0, NULL, FLAG_STRING, &pack_service, NULL, "the profefe service (required)"},
	{"type", 0, NULL, FLAG_STRING, &pack_type, NULL, "the profefe type: cpu, heap, ... (required)"},
	{"labels", 0, NULL, FLAG_STRING, &pack_labels, "",
	 "labels as profefe takes them: k=v,k2=v2, each part percent-encoded"},
	{"time", 0, NULL, FLAG_STRING, &pack_time, NULL,
	 "collection time, unix nanoseconds (default: now)"},
	{"attempts", 0, NULL, FLAG_INT, &pack_attempts, "0", "upload attempts so far"},
};

static int read_payload(const char *path, unsigned char **out, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (!f)
		return errno;
	size_t cap = 1 << 16, n = 0;
	unsigned char *p = xmalloc(cap);
	size_t r;
	while ((r = fread(p + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap)
			p = xrealloc(p, cap *= 2);
	}
	int rc = ferror(f) ? EIO : 0;
	if (f != stdin)
		fclose(f);
	if (rc != 0) {
		free(p);
		return rc;
	}
	*out = p;
	*len = n;
	return 0;
}

static int parse_time(const char *text, int64_t *out)
{
	if (!text) {
		*out = now_ns();
		return 0;
	}
	char *end;
	errno = 0;
	long long v = strtoll(text, &end, 10);
	if (end == text || *end || errno || v < 0)
		return -1;
	*out = v;
	return 0;
}

static int cmd_pack(int argc, char **argv, char **pos)
{
	int npos = 0;
	int rc = parse(pack_specs, sizeof(pack_specs) / sizeof(pack_specs[0]),
		       "usage: kprofefe-spool pack --service S --type T [--labels L] [--time NS] "
		       "PAYLOAD > NAME.prof",
		       argc, argv, pos, &npos);
	if (rc >= 0)
		return rc;
	if (npos != 1)
		return usage_error("pack takes one payload file ('-': stdin), got %s",
				   npos ? "more" : "none");
	if (!pack_service || !pack_type)
		return usage_error("pack needs --service and --type");
	int64_t t;
	if (parse_time(pack_time, &t) != 0)
		return usage_error("--time wants unix nanoseconds, got %s", pack_time);
	if (pack_attempts < 0 || pack_attempts > UINT32_MAX)
		return usage_error("--attempts out of range");
	if (isatty(STDOUT_FILENO))
		return usage_error("pack writes a binary entry: redirect stdout (%s)",
				   "kprofefe-spool pack ... > NAME.prof");
	spool_entry e = {NULL, NULL, NULL, NULL, t, (uint32_t)pack_attempts, NULL, 0};
	if ((rc = read_payload(pos[0], &e.data, &e.len)) != 0)
		return usage_error("cannot read payload %s: %s", pos[0], strerror(rc));
	/* spool_entry's strings are not const: the flags' are */
	e.service = xstrdup(pack_service);
	e.type = xstrdup(pack_type);
	e.labels = xstrdup(pack_labels);
	unsigned char *bytes;
	size_t len;
	char err[256];
	rc = spool_encode(&e, &bytes, &len, err, sizeof(err));
	free(e.service);
	free(e.type);
	free(e.labels);
	free(e.data);
	if (rc != 0)
		return usage_error("%s", err);
	rc = write_stdout(bytes, len);
	free(bytes);
	return rc;
}

/* ---- main ---- */

static const struct command {
	const char *name;
	/* pos: room for argc positional arguments */
	int (*run)(int argc, char **argv, char **pos);
} commands[] = {
	{"ls", cmd_ls},
	{"verify", cmd_verify},
	{"cat", cmd_cat},
	{"pack", cmd_pack},
};

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage_error("missing command: ls, verify, cat or pack");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		puts(usage_main);
		return EXIT_FINE;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("kprofefe-spool %s\n", kprofefe_version());
		return EXIT_FINE;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[1], commands[i].name) != 0)
			continue;
		char **pos = xcalloc((size_t)argc, sizeof(*pos));
		int rc = commands[i].run(argc - 1, argv + 1, pos);
		free(pos);
		return rc;
	}
	return usage_error("unknown command %s (ls, verify, cat, pack)", argv[1]);
}
