/* fuzz_gzip: gzip inflation under a cap, and the classification of a pod's response body
 * for every profile type (gzip, raw protobuf, trace, HTML, text). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "kprofefe/pprof.h"

/* Small, so that a bomb stops early and the fuzzer stays fast. */
#define FUZZ_INFLATE_CAP ((size_t)1 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *out = NULL;
	size_t out_len = 0;
	enum pprof_reason reason;

	if (pprof_gunzip(data, size, FUZZ_INFLATE_CAP, &out, &out_len, &reason) == 0)
		free(out);
	for (int t = 0; t < PPROF_TYPE_COUNT; t++) {
		out = NULL;
		if (pprof_body_prepare((enum pprof_type)t, data, size, FUZZ_INFLATE_CAP, &out,
				       &out_len, &reason) != PPROF_BODY_INVALID)
			free(out);
	}
	return 0;
}
