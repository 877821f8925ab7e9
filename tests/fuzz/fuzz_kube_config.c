/* fuzz_kube_config: kubeconfig JSON as `kubectl config view --raw --minify -o json` prints
 * it (certificates inline, base64). Nothing is run: exec plugins run only on refresh. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kprofefe/kube.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	char *json = malloc(size + 1);

	memcpy(json, data, size);
	json[size] = '\0';
	/* a directory that does not exist: relative file names resolve to nothing */
	kube_config *cfg = kube_config_from_json(json, "/nonexistent/kprofefe-fuzz", err, sizeof(err));
	if (cfg) {
		(void)kube_config_server(cfg);
		(void)kube_config_tls(cfg);
		kube_config_free(cfg);
	}
	free(json);
	return 0;
}
