/* fuzz_kube_watch: a watch stream cut into chunks, split into lines, each line parsed as
 * a watch event and applied to the pod cache. */
#include <stddef.h>
#include <stdint.h>

#include "kprofefe/kube.h"
#include "kprofefe/pod.h"

/* Lines longer than this are an error, as they are for the watcher (which allows more:
 * small keeps the fuzzer fast). */
#define FUZZ_MAX_LINE 65536

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What the collector does with a pod from the stream: make it a target. */
static void on_pod(const kube_pod *pod, void *arg)
{
	pod_target *t = NULL;
	char err[256];

	(void)arg;
	if (pod_target_from(pod, NULL, &t, err, sizeof(err)) == POD_TARGET)
		pod_target_free(t);
}

static const kube_pod_watch_callbacks callbacks = {on_pod, NULL, NULL, NULL};

static int on_line(const char *line, size_t len, void *arg)
{
	kube_pod_cache *cache = arg;
	kube_event ev = {0};
	char err[256];

	(void)len;
	if (kube_event_parse(line, &ev, err, sizeof(err)) == 0) {
		if (ev.pod)
			kube_pod_cache_apply(cache, ev.type, ev.pod, &callbacks, NULL);
		kube_event_clear(&ev);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	kube_lines lines = {BUF_INIT, FUZZ_MAX_LINE};
	kube_pod_cache *cache = kube_pod_cache_new();
	/* The first byte sets the chunk size: lines split across reads must join up. */
	size_t chunk = size > 0 ? (size_t)data[0] % 64 + 1 : 1;

	for (size_t off = 0; off < size; off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk;
		if (kube_lines_feed(&lines, data + off, n, on_line, cache) != 0)
			break;
	}
	kube_lines_free(&lines);
	kube_pod_cache_free(cache);
	return 0;
}
