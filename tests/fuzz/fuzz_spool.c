/* fuzz_spool: the bytes of a spool entry file as the next process reads them back. */
#include <stddef.h>
#include <stdint.h>

#include "kprofefe/spool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *why = NULL;
	spool_entry *e = spool_decode("00000000000000000001-0000000000.prof", data, size, &why);
	spool_entry_free(e);
	return 0;
}
