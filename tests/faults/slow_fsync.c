/* slow_fsync: a FAULT INJECTOR (LD_PRELOAD) that makes every sync slow, as on a network disk. */
/*
 * Not part of the product: it stands in for a disk whose cache flush takes
 * milliseconds (a network block device, a busy SAN), which this machine's tmpfs and
 * local SSD cannot be made to be on demand. fsync, fdatasync and syncfs sleep
 * KPROFEFE_FAULT_SYNC_DELAY_MS milliseconds (default 20) and then do the real call, so
 * durability is unchanged and only the wait grows. Each delayed call is counted; with
 * KPROFEFE_FAULT_SYNC_COUNT=FILE the count is written there at exit.
 *
 *   LD_PRELOAD=build/libslow_fsync.so KPROFEFE_FAULT_SYNC_DELAY_MS=20 kprofefe ...
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_long calls;

static long delay_ms(void)
{
	const char *v = getenv("KPROFEFE_FAULT_SYNC_DELAY_MS");
	if (!v || !*v)
		return 20;
	char *end;
	long ms = strtol(v, &end, 10);
	return *end == '\0' && ms >= 0 ? ms : 20;
}

static void slow_down(void)
{
	atomic_fetch_add(&calls, 1);
	long ms = delay_ms();
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	int saved = errno;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	errno = saved;
}

typedef int (*sync_fn)(int fd);

/* The next definition of name, or abort: a shim that cannot reach the real call would
 * silently stop syncing. */
static sync_fn real(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);
	if (!p) {
		fprintf(stderr, "slow_fsync: no %s after the shim\n", name);
		abort();
	}
	sync_fn f;
	memcpy(&f, &p, sizeof(f)); /* POSIX: a dlsym result converts to a function pointer */
	return f;
}

int fsync(int fd)
{
	static sync_fn next;
	if (!next)
		next = real("fsync");
	slow_down();
	return next(fd);
}

int fdatasync(int fd)
{
	static sync_fn next;
	if (!next)
		next = real("fdatasync");
	slow_down();
	return next(fd);
}

int syncfs(int fd)
{
	static sync_fn next;
	if (!next)
		next = real("syncfs");
	slow_down();
	return next(fd);
}

__attribute__((destructor)) static void report(void)
{
	const char *path = getenv("KPROFEFE_FAULT_SYNC_COUNT");
	if (!path || !*path)
		return;
	FILE *f = fopen(path, "w");
	if (!f)
		return;
	fprintf(f, "%ld\n", atomic_load(&calls));
	fclose(f);
}
