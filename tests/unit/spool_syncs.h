/*
 * Hooks for spool_options that COUNT the syncs a spool put makes, by kind, for the tests
 * of spool.c and batch.c (included by both; not a test itself). They do not sync: these
 * tests do not cut the power, and the machine is shared. The syncfs hook can be made to
 * fail, as a disk that loses a write would.
 */
#ifndef KPROFEFE_TEST_SPOOL_SYNCS_H
#define KPROFEFE_TEST_SPOOL_SYNCS_H

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "kprofefe/spool.h"

static struct {
	int file, dir, fs;
	int fail_fs; /* errno the syncfs hook fails with, 0: none */
} syncs;

static int count_fsync(int fd)
{
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
		syncs.dir++;
	else
		syncs.file++;
	return 0;
}

static int count_syncfs(int fd)
{
	(void)fd;
	syncs.fs++;
	if (syncs.fail_fs) {
		errno = syncs.fail_fs;
		return -1;
	}
	return 0;
}

/* Zeroes the counts; the options to open a spool with the hooks. */
static spool_options counted_spool_options(void)
{
	memset(&syncs, 0, sizeof(syncs));
	return (spool_options){.fsync_fn = count_fsync, .syncfs_fn = count_syncfs};
}

#endif
