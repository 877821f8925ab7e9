/* fuzz_pod_tls: a credential set's token file (on-disk input) and a pod's https
 * annotations (untrusted): the input is the token's bytes, a NUL, then the pod's JSON. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yajl/yajl_tree.h>

#include "kprofefe/kube.h"
#include "kprofefe/pod.h"
#include "kprofefe/pod_tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

/* The directory is this process's alone: it goes when the fuzzer exits. */
static void remove_dir(void)
{
	char path[96];

	snprintf(path, sizeof(path), "%s/fz/token", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/fz", dir);
	rmdir(path);
	rmdir(dir);
}

/* The credentials directory, with one set "fz" whose token is rewritten per input. */
static int write_token(const uint8_t *data, size_t len)
{
	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/fuzz_pod_tls.XXXXXX");
		if (!mkdtemp(dir))
			abort();
		char set[96];
		snprintf(set, sizeof(set), "%s/fz", dir);
		if (mkdir(set, 0700) != 0)
			abort();
		atexit(remove_dir);
	}
	char path[96];
	snprintf(path, sizeof(path), "%s/fz/token", dir);
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	size_t n = fwrite(data, 1, len, f);
	return fclose(f) == 0 && n == len ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	if (!nul || write_token(data, (size_t)(nul - data)) != 0)
		return 0;
	size_t json_len = size - (size_t)(nul - data) - 1;
	char *json = malloc(json_len + 1);
	memcpy(json, nul + 1, json_len);
	json[json_len] = '\0';
	yajl_val root = yajl_tree_parse(json, NULL, 0);
	free(json);
	if (!root)
		return 0;
	char err[512];
	kube_pod *pod = kube_pod_from_json(root, err, sizeof(err));
	yajl_tree_free(root);
	if (!pod)
		return 0;
	pod_tls_options opt = {.ca_file = "/ca.crt", .credentials_dir = dir};
	pod_defaults d;
	pod_defaults_init(&d);
	d.tls = &opt;
	pod_target *t = NULL;
	if (pod_target_from(pod, &d, &t, err, sizeof(err)) == POD_TARGET) {
		pod_tls_request req;
		pod_tls_request_for(&t->tls, t->key, t->ip, t->port, &req);
		pod_target_free(t);
	}
	kube_pod_free(pod);
	return 0;
}
