/* fuzz_exec_credential: what an exec credential plugin prints (an ExecCredential as JSON),
 * applied to a config whose user has an exec section. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kprofefe/kube.h"
#include "kube_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char kubeconfig[] =
	"{\"current-context\":\"c\",\"contexts\":[{\"name\":\"c\",\"context\":{\"cluster\":\"k\","
	"\"user\":\"u\"}}],\"clusters\":[{\"name\":\"k\",\"cluster\":{\"server\":"
	"\"https://127.0.0.1:6443\",\"insecure-skip-tls-verify\":true}}],\"users\":[{\"name\":"
	"\"u\",\"user\":{\"exec\":{\"apiVersion\":\"client.authentication.k8s.io/v1\","
	"\"command\":\"never-run\"}}}]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	kube_config *cfg = kube_config_from_json(kubeconfig, NULL, err, sizeof(err));
	if (!cfg)
		abort(); /* the fixed kubeconfig above must parse */
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	/* twice: a second credential replaces the first */
	if (kube_exec_credential_parse(cfg, text, err, sizeof(err)) == 0) {
		(void)kube_config_token(cfg);
		(void)kube_config_tls(cfg);
		(void)kube_exec_credential_parse(cfg, text, err, sizeof(err));
	}
	free(text);
	kube_config_free(cfg);
	return 0;
}
