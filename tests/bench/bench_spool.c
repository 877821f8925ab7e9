/* bench_spool: cost of spool put (durable), peek+remove and open (index scan) per profile.
 * Usage: bench_spool DIR [COUNT [BYTES]]  (DIR is created; use an empty one on the disk
 * you care about: the fsyncs dominate). Built on demand: cmake --build build --target
 * bench_spool; scripts/bench.sh runs it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kprofefe/log.h"
#include "kprofefe/metrics.h"
#include "kprofefe/spool.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: bench_spool DIR [COUNT [BYTES]]\n");
		return 2;
	}
	int count = argc > 2 ? atoi(argv[2]) : 200;
	size_t bytes = argc > 3 ? (size_t)atol(argv[3]) : 32 * 1024;
	log_setup(stderr, LOG_LOGFMT, LOG_ERROR);
	char err[512];
	spool_options opt = {0};
	opt.max_bytes = (uint64_t)count * (bytes + 1024) + 1;
	spool_t *s = spool_open(argv[1], &opt, err, sizeof(err));
	if (!s) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	unsigned char *data = malloc(bytes);
	for (size_t i = 0; i < bytes; i++)
		data[i] = (unsigned char)(i * 31);
	char svc[] = "bench", type[] = "cpu", labels[] = "namespace=default,pod=bench-0";
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

	start = now();
	s = spool_open(argv[1], &opt, err, sizeof(err));
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
	printf("entries=%d bytes=%zu put_ms=%.3f open_ms_total=%.3f peek_remove_ms=%.3f\n", count,
	       bytes, put * 1e3, open_s * 1e3, drain * 1e3);
	spool_close(s);
	free(data);
	metrics_reset();
	return n == count ? 0 : 1;
}
