/* bench_spool: cost of spool put (durable), peek+remove and open (index scan) per profile.
 * Usage: bench_spool DIR [COUNT [BYTES [GROUP]]]  (DIR is created; use an empty one on
 * the disk you care about: the syncs dominate). Puts COUNT profiles one at a time (two
 * syncs each: what a profile cost before group commits) into DIR/single, then in
 * groups of GROUP (default 10, a flush's batch_size) into DIR/group, and prints both
 * per-profile costs and their ratio. Built on demand: cmake --build build --target
 * bench_spool; scripts/bench.sh runs it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kprofefe/log.h"
#include "kprofefe/metrics.h"
#include "kprofefe/spool.h"
#include "kprofefe/xalloc.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char svc[] = "bench", type[] = "cpu", labels[] = "namespace=default,pod=bench-0";

/* Seconds per profile to put count profiles in groups of group into dir; -1 on error. */
static double put_groups(const char *dir, const spool_options *opt, int count, int group,
			 unsigned char *data, size_t bytes, int64_t t0)
{
	char err[512];
	spool_t *s = spool_open(dir, opt, err, sizeof(err));
	if (!s) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	spool_entry *e = xcalloc((size_t)group, sizeof(*e));
	int *rcs = xcalloc((size_t)group, sizeof(*rcs));
	double start = now();
	for (int i = 0; i < count; i += group) {
		size_t n = (size_t)(count - i < group ? count - i : group);
		for (size_t k = 0; k < n; k++)
			e[k] = (spool_entry){NULL, svc, type, labels, t0 + i + (int64_t)k, 0, data, bytes};
		if (spool_put_group(s, e, n, rcs, err, sizeof(err)) != n) {
			fprintf(stderr, "%s\n", err);
			spool_close(s);
			return -1;
		}
	}
	double per = (now() - start) / count;
	free(e);
	free(rcs);
	spool_close(s);
	return per;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: bench_spool DIR [COUNT [BYTES [GROUP]]]\n");
		return 2;
	}
	int count = argc > 2 ? atoi(argv[2]) : 200;
	size_t bytes = argc > 3 ? (size_t)atol(argv[3]) : 32 * 1024;
	int group = argc > 4 ? atoi(argv[4]) : 10;
	if (count < 1 || group < 1) {
		fprintf(stderr, "bench_spool: COUNT and GROUP must be positive\n");
		return 2;
	}
	char *single_dir = xasprintf("%s/single", argv[1]);
	char *group_dir = xasprintf("%s/group", argv[1]);
	log_setup(stderr, LOG_LOGFMT, LOG_ERROR);
	char err[512];
	spool_options opt = {0};
	opt.max_bytes = (uint64_t)count * (bytes + 1024) + 1;
	spool_t *s = spool_open(single_dir, &opt, err, sizeof(err));
	if (!s) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	unsigned char *data = malloc(bytes);
	for (size_t i = 0; i < bytes; i++)
		data[i] = (unsigned char)(i * 31);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t t0 = (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;

	double start = now();
	for (int i = 0; i < count; i++) {
		spool_entry e = {NULL, svc, type, labels, t0 + i, 0, data, bytes};
		if (spool_put(s, &e, err, sizeof(err)) != 0) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
	}
	double put = (now() - start) / count;
	spool_close(s);

	double group_put = put_groups(group_dir, &opt, count, group, data, bytes, t0);
	if (group_put < 0)
		return 1;

	start = now();
	s = spool_open(single_dir, &opt, err, sizeof(err));
	double open_s = now() - start;

	start = now();
	int n = 0;
	for (;;) {
		spool_entry *e = NULL;
		if (spool_peek_oldest(s, &e, err, sizeof(err)) != 0 || !e)
			break;
		spool_remove(s, e->name);
		spool_entry_free(e);
		n++;
	}
	double drain = n ? (now() - start) / n : 0;
	printf("entries=%d bytes=%zu put_ms=%.3f open_ms_total=%.3f peek_remove_ms=%.3f group=%d "
	       "group_put_ms=%.3f put_over_group_put=%.1f\n", count, bytes, put * 1e3, open_s * 1e3,
	       drain * 1e3, group, group_put * 1e3, group_put > 0 ? put / group_put : 0);
	spool_close(s);
	free(data);
	free(single_dir);
	free(group_dir);
	metrics_reset();
	return n == count ? 0 : 1;
}
