/* Tests of kube_watch's parts: line splitting, events, re-list reconciliation, backoff. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kprofefe/buf.h"
#include "kprofefe/kube.h"
#include "kprofefe/xalloc.h"

/* ---- lines ----------------------------------------------------------------------------- */

struct lines_seen {
	buf_t all; /* every line, each followed by '|' */
	int calls;
	int stop_after;
};

static int collect(const char *line, size_t len, void *arg)
{
	struct lines_seen *s = arg;

	assert_int_equal(strlen(line), len); /* NUL-terminated in place */
	buf_append(&s->all, line, len);
	buf_append_str(&s->all, "|");
	s->calls++;
	return s->stop_after != 0 && s->calls >= s->stop_after;
}

static const char stream[] = "{\"type\":\"ADDED\",\"n\":1}\n"
			     "{\"type\":\"MODIFIED\",\"n\":22}\r\n"
			     "\n"
			     "{\"type\":\"BOOKMARK\",\"n\":333}\n"
			     "{\"partial\"";

static void test_lines_any_chunking(void **state)
{
	size_t chunk, off, len = strlen(stream);

	(void)state;
	for (chunk = 1; chunk <= len; chunk++) {
		kube_lines l = {BUF_INIT, 1024};
		struct lines_seen s = {BUF_INIT, 0, 0};

		for (off = 0; off < len; off += chunk) {
			size_t n = len - off < chunk ? len - off : chunk;

			assert_int_equal(kube_lines_feed(&l, stream + off, n, collect, &s), 0);
		}
		assert_string_equal((const char *)s.all.data,
				    "{\"type\":\"ADDED\",\"n\":1}|{\"type\":\"MODIFIED\",\"n\":22}|"
				    "{\"type\":\"BOOKMARK\",\"n\":333}|");
		assert_int_equal(l.pending.len, strlen("{\"partial\""));
		buf_free(&s.all);
		kube_lines_free(&l);
	}
}

static void test_lines_cap_and_stop(void **state)
{
	kube_lines l = {BUF_INIT, 8};
	struct lines_seen s = {BUF_INIT, 0, 0};

	(void)state;
	assert_int_equal(kube_lines_feed(&l, "12345678\n", 9, collect, &s), 0); /* exactly max */
	assert_int_equal(kube_lines_feed(&l, "12345", 5, collect, &s), 0);
	assert_int_equal(kube_lines_feed(&l, "6789", 4, collect, &s), -1); /* over, across chunks */
	kube_lines_free(&l);
	buf_free(&s.all);

	/* The callback stops the feed; the rest is not delivered. */
	{
		kube_lines l2 = {BUF_INIT, 100};
		struct lines_seen s2 = {BUF_INIT, 0, 1};

		assert_int_equal(kube_lines_feed(&l2, "a\nb\nc\n", 6, collect, &s2), 1);
		assert_int_equal(s2.calls, 1);
		kube_lines_free(&l2);
		buf_free(&s2.all);
	}
}

/* ---- events ---------------------------------------------------------------------------- */

#define POD(name, uid, rv)                                                                       \
	"{\"metadata\":{\"name\":\"" name "\",\"namespace\":\"ns\",\"uid\":\"" uid                 \
	"\",\"resourceVersion\":\"" rv "\"}}"

static void test_event_parse(void **state)
{
	kube_event ev;
	char err[256] = "";

	(void)state;
	assert_int_equal(kube_event_parse("{\"type\":\"ADDED\",\"object\":" POD("a", "u1", "5") "}",
					  &ev, err, sizeof(err)),
			 0);
	assert_int_equal(ev.type, KUBE_EV_ADDED);
	assert_string_equal(ev.pod->name, "a");
	assert_string_equal(ev.resource_version, "5");
	kube_event_clear(&ev);

	assert_int_equal(kube_event_parse("{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\","
					  "\"metadata\":{\"resourceVersion\":\"77\"}}}",
					  &ev, err, sizeof(err)),
			 0);
	assert_int_equal(ev.type, KUBE_EV_BOOKMARK);
	assert_null(ev.pod);
	assert_string_equal(ev.resource_version, "77");
	kube_event_clear(&ev);

	assert_int_equal(kube_event_parse("{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\","
					  "\"code\":410,\"reason\":\"Expired\",\"message\":\"too old "
					  "resource version\"}}",
					  &ev, err, sizeof(err)),
			 0);
	assert_int_equal(ev.type, KUBE_EV_ERROR);
	assert_int_equal(ev.code, 410);
	assert_string_equal(ev.message, "too old resource version");
	kube_event_clear(&ev);

	assert_int_equal(kube_event_parse("{\"type\":\"ADDED\"", &ev, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not valid JSON"));
	assert_int_equal(kube_event_parse("{\"type\":\"SOMETHING\",\"object\":{}}", &ev, err,
					  sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "type"));
	assert_int_equal(kube_event_parse("{\"type\":\"ADDED\"}", &ev, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no object"));
	assert_int_equal(kube_event_parse("{\"type\":\"DELETED\",\"object\":{\"metadata\":{}}}", &ev,
					  err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "DELETED event: pod metadata.name"));
	assert_int_equal(kube_event_parse("{\"type\":\"BOOKMARK\",\"object\":{}}", &ev, err,
					  sizeof(err)),
			 -1);
	/* A Status object instead of an event (what a 403 body looks like). */
	assert_int_equal(kube_event_parse("{\"kind\":\"Status\",\"code\":403}", &ev, err,
					  sizeof(err)),
			 -1);
}

/* ---- reconciliation -------------------------------------------------------------------- */

struct record {
	buf_t log; /* "+ns/name@uid " for on_pod, "-ns/name@uid " for on_delete */
	int stop_at;
	int calls;
	int stop;
};

static void note(struct record *r, char sign, const kube_pod *pod)
{
	buf_printf(&r->log, "%c%s/%s@%s ", sign, pod->ns, pod->name, pod->uid);
	if (r->stop_at != 0 && ++r->calls >= r->stop_at)
		r->stop = 1;
}

static void rec_pod(const kube_pod *pod, void *arg)
{
	note(arg, '+', pod);
}

static void rec_delete(const kube_pod *pod, void *arg)
{
	note(arg, '-', pod);
}

static kube_pod_list *list_of(const char *items)
{
	char err[256] = "";
	char *json = xasprintf("{\"metadata\":{\"resourceVersion\":\"1\"},\"items\":[%s]}", items);
	kube_pod_list *l = kube_pod_list_parse(json, err, sizeof(err));

	if (l == NULL)
		fail_msg("%s", err);
	free(json);
	return l;
}

static const char *take_log(struct record *r)
{
	static char last[1024];

	snprintf(last, sizeof(last), "%s", r->log.data ? (const char *)r->log.data : "");
	buf_reset(&r->log);
	return last;
}

static kube_pod *pod_of(const char *json)
{
	char perr[128], err[256];
	yajl_val root = yajl_tree_parse(json, perr, sizeof(perr));
	kube_pod *p = kube_pod_from_json(root, err, sizeof(err));

	yajl_tree_free(root);
	assert_non_null(p);
	return p;
}

static void test_cache_reconcile(void **state)
{
	struct record r = {BUF_INIT, 0, 0, 0};
	kube_pod_watch_callbacks cb = {rec_pod, rec_delete, NULL, &r};
	kube_pod_cache *c = kube_pod_cache_new();
	kube_pod_list *l;
	kube_pod *p;

	(void)state;
	l = list_of(POD("a", "ua", "1") "," POD("b", "ub", "1") "," POD("c", "uc", "1"));
	kube_pod_cache_sync(c, l, &cb, NULL);
	kube_pod_list_free(l);
	assert_string_equal(take_log(&r), "+ns/a@ua +ns/b@ub +ns/c@uc ");
	assert_int_equal(kube_pod_cache_size(c), 3);

	/* Watch events: a modify, a delete, a re-created pod under an old name. */
	p = pod_of(POD("a", "ua", "2"));
	kube_pod_cache_apply(c, KUBE_EV_MODIFIED, p, &cb, NULL);
	kube_pod_free(p);
	p = pod_of(POD("b", "ub", "3"));
	kube_pod_cache_apply(c, KUBE_EV_DELETED, p, &cb, NULL);
	kube_pod_cache_apply(c, KUBE_EV_DELETED, p, &cb, NULL); /* twice: nothing more */
	kube_pod_free(p);
	p = pod_of(POD("c", "uc2", "4"));
	kube_pod_cache_apply(c, KUBE_EV_ADDED, p, &cb, NULL);
	kube_pod_free(p);
	assert_string_equal(take_log(&r), "+ns/a@ua -ns/b@ub -ns/c@uc +ns/c@uc2 ");
	assert_int_equal(kube_pod_cache_size(c), 2);
	assert_string_equal(kube_pod_cache_uid(c, "ns", "c"), "uc2");
	/* A delete of the old instance after the new one arrived changes nothing. */
	p = pod_of(POD("c", "uc", "5"));
	kube_pod_cache_apply(c, KUBE_EV_DELETED, p, &cb, NULL);
	kube_pod_free(p);
	assert_string_equal(take_log(&r), "");

	/* Re-list (after 410): a vanished, c re-created again, d new. */
	l = list_of(POD("c", "uc3", "9") "," POD("d", "ud", "9"));
	kube_pod_cache_sync(c, l, &cb, NULL);
	kube_pod_list_free(l);
	assert_string_equal(take_log(&r), "-ns/a@ua -ns/c@uc2 +ns/c@uc3 +ns/d@ud ");
	assert_int_equal(kube_pod_cache_size(c), 2);
	assert_null(kube_pod_cache_uid(c, "ns", "a"));

	/* An empty list forgets everything. */
	l = list_of("");
	kube_pod_cache_sync(c, l, &cb, NULL);
	kube_pod_list_free(l);
	assert_int_equal(kube_pod_cache_size(c), 0);
	assert_int_equal(strlen(take_log(&r)), strlen("-ns/c@uc3 -ns/d@ud "));
	kube_pod_cache_free(c);
	buf_free(&r.log);
}

static void test_cache_many_and_stop(void **state)
{
	struct record r = {BUF_INIT, 0, 0, 0};
	kube_pod_watch_callbacks cb = {rec_pod, rec_delete, NULL, &r};
	kube_pod_cache *c = kube_pod_cache_new();
	buf_t items = BUF_INIT;
	kube_pod_list *l;
	int i;

	(void)state;
	/* Enough pods to make the table grow. */
	for (i = 0; i < 500; i++)
		buf_printf(&items, "%s{\"metadata\":{\"name\":\"p%d\",\"namespace\":\"ns\","
			   "\"uid\":\"u%d\"}}", i ? "," : "", i, i);
	l = list_of((const char *)items.data);
	kube_pod_cache_sync(c, l, &cb, &r.stop);
	assert_int_equal(kube_pod_cache_size(c), 500);
	assert_string_equal(kube_pod_cache_uid(c, "ns", "p377"), "u377");
	take_log(&r);

	/* The owner stops after 3 callbacks: no 4th comes. */
	r.stop_at = 3;
	kube_pod_cache_sync(c, l, &cb, &r.stop);
	assert_int_equal(r.calls, 3);
	kube_pod_list_free(l);
	kube_pod_cache_free(c);
	buf_free(&items);
	buf_free(&r.log);
}

/* ---- backoff --------------------------------------------------------------------------- */

static void test_backoff(void **state)
{
	kube_backoff b = {0};
	const double full[] = {0.5, 1, 2, 4, 8, 16, 30, 30, 30};
	size_t i;

	(void)state;
	/* r close to 1: the whole step; r = 0: half of it. */
	for (i = 0; i < sizeof(full) / sizeof(full[0]); i++) {
		double d = kube_backoff_next(&b, 0.999999);

		assert_true(d > full[i] * 0.999 && d <= full[i]);
	}
	kube_backoff_reset(&b);
	for (i = 0; i < sizeof(full) / sizeof(full[0]); i++) {
		double d = kube_backoff_next(&b, 0);

		assert_true(d > full[i] / 2 - 1e-9 && d < full[i] / 2 + 1e-9);
	}
	kube_backoff_reset(&b);
	assert_true(kube_backoff_next(&b, 0.5) > 0.37 && kube_backoff_next(&b, 0.5) < 0.76);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines_any_chunking), cmocka_unit_test(test_lines_cap_and_stop),
		cmocka_unit_test(test_event_parse),        cmocka_unit_test(test_cache_reconcile),
		cmocka_unit_test(test_cache_many_and_stop), cmocka_unit_test(test_backoff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
