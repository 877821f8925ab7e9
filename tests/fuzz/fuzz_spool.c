/* fuzz_spool: the bytes of a spool entry file as the next process finds them: decoded
 * alone, verified from outside as kprofefe-spool does (listing, header, checksum, the
 * profile), and as the one file of a spool directory that is opened (indexed, bounded)
 * and read back. */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kprofefe/log.h"
#include "kprofefe/spool.h"

/* The entry's time is in its name; the spool's clock is a second later. */
#define ENTRY_TIME_NS 1700000000000000000ll
#define ENTRY_NAME "01700000000000000000-0000000001.prof"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char root[] = "/tmp/kprofefe-fuzz-spool-XXXXXX";
static char spool_path[sizeof(root) + 8];

static int64_t fixed_clock(void)
{
	return ENTRY_TIME_NS + 1000000000ll;
}

static void remove_dirs(void)
{
	char cmd[sizeof(root) + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_spool: could not remove %s\n", root);
}

static void setup_once(void)
{
	if (spool_path[0])
		return;
	if (!mkdtemp(root))
		abort();
	snprintf(spool_path, sizeof(spool_path), "%s/spool", root);
	atexit(remove_dirs);
	char err[512];
	spool_t *s = spool_open(spool_path, NULL, err, sizeof(err)); /* creates the directories */
	if (!s)
		abort();
	spool_close(s);
	log_setup(stderr, LOG_LOGFMT, LOG_ERROR); /* quarantine warnings would flood */
}

static char entry_path[sizeof(spool_path) + sizeof(ENTRY_NAME) + 1];

static void write_entry(const uint8_t *data, size_t size)
{
	snprintf(entry_path, sizeof(entry_path), "%s/%s", spool_path, ENTRY_NAME);
	int fd = open(entry_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size || close(fd) != 0)
		abort();
}

/* Removes the entry wherever the spool left it. */
static void clean(void)
{
	static const char *const subdirs[] = {"", "quarantine/", "rejected/"};
	for (size_t i = 0; i < 3; i++) {
		char path[sizeof(spool_path) + 16 + sizeof(ENTRY_NAME)];
		snprintf(path, sizeof(path), "%s/%s%s", spool_path, subdirs[i], ENTRY_NAME);
		unlink(path);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *why = NULL;
	spool_entry_free(spool_decode(ENTRY_NAME, data, size, &why));

	setup_once();
	write_entry(data, size);
	char **names;
	size_t n;
	char err[512];
	if (spool_list(spool_path, &names, &n, err, sizeof(err)) != 0 || n != 1)
		abort();
	spool_list_free(names, n);
	spool_verdict v;
	spool_entry_free(spool_verify(entry_path, &v));

	spool_options opt = {0, 0, fixed_clock};
	spool_t *s = spool_open(spool_path, &opt, err, sizeof(err));
	if (!s)
		abort();
	spool_entry *e = NULL;
	if (spool_peek_oldest(s, &e, err, sizeof(err)) == 0 && e) {
		spool_remove(s, e->name);
		spool_entry_free(e);
	}
	(void)spool_expire(s, fixed_clock());
	spool_close(s);
	clean();
	return 0;
}
