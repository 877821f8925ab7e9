/* fuzz_profefe: profefe's replies (services, profiles, version, upload results) and the
 * plugin's time and label arguments. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kprofefe/http.h"
#include "kprofefe/profefe.h"
#include "kprofefe/query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void replies(const char *body, size_t len, long status)
{
	char err[512];
	char **names = NULL, *version = NULL, *scratch = NULL;
	profefe_profile_meta *items = NULL;
	size_t n = 0;

	if (profefe_parse_services("GET /api/0/services", status, body, &names, &n, err,
				   sizeof(err)) == 0)
		profefe_strv_free(names);
	if (profefe_parse_profiles("GET /api/0/profiles", status, body, &items, &n, err,
				   sizeof(err)) == 0)
		profefe_metas_free(items, n);
	if (profefe_parse_version("GET /api/0/version", status, body, &version, err,
				  sizeof(err)) == 0)
		free(version);
	http_response resp = {0};
	resp.status = status;
	resp.ok = 1;
	resp.body = (const unsigned char *)body;
	resp.body_len = len;
	resp.content_type = "application/json";
	profefe_upload_result res;
	profefe_classify_upload(&resp, &res, &scratch);
	free(scratch);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	replies(text, size, 200);
	replies(text, size, size > 0 && data[0] == '{' ? 500 : 400);

	char err[512], *enc = NULL;
	double secs;
	time_t t;
	(void)query_parse_duration(text, &secs);
	(void)query_parse_time(text, 1700000000, &t, err, sizeof(err));
	if (query_labels_parse(text, NULL, &enc, err, sizeof(err)) == 0)
		free(enc);
	free(text);
	return 0;
}
