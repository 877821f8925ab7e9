/* fuzz_pprof: the pprof protobuf walk, profile reading and type inference on any bytes. */
#include <stddef.h>
#include <stdint.h>

#include "kprofefe/pprof.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	pprof_info info;
	enum pprof_type t;

	(void)pprof_is_profile(data, size);
	(void)pprof_is_trace(data, size);
	if (pprof_read_info(data, size, &info, err, sizeof(err)) == 0) {
		(void)pprof_infer_type(&info, &t, err, sizeof(err));
		pprof_info_clear(&info);
	}
	return 0;
}
