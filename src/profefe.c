/* profefe: profefe's HTTP API (upload, services, profiles, version) and its JSON replies. */
#include "kprofefe/profefe.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "kprofefe/buf.h"
#include "kprofefe/list.h"
#include "kprofefe/metrics.h"
#include "kprofefe/xalloc.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 5000
#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_MAX_REPLY (16u * 1024 * 1024)
#define UPLOAD_MAX_REPLY (1u * 1024 * 1024)
#define MESSAGE_MAX 300 /* of a non-JSON error body quoted in a message */

enum kind { KIND_UPLOAD, KIND_SERVICES, KIND_PROFILES, KIND_VERSION, KIND_GET };

struct profefe_client {
	loop_t *loop;
	char *base;               /* without a trailing '/' */
	char *auth_header;        /* "Authorization: Bearer ..." or NULL */
	char *extra_header;
	char *ca_file;
	const char *headers[3];   /* the two above, NULL-terminated */
	http_tls tls;
	int use_tls;
	profefe_client_options opt;
	list_node requests;       /* running, so free can cancel them */
	enum http_failure failure; /* of the latest request finished */
};

struct profefe_request {
	profefe_client *c;
	http_request *http;
	enum kind kind;
	char *endpoint;           /* "POST /api/0/profiles", for messages */
	union {
		profefe_upload_fn upload;
		profefe_services_fn services;
		profefe_profiles_fn profiles;
		profefe_version_fn version;
		http_done_fn get;
	} done;
	void *arg;
	list_node link;           /* in the client's requests */
};

/* ---- client ---- */

profefe_client *profefe_client_new(loop_t *loop, const char *base_url,
				   const profefe_client_options *opt, char *err, size_t errlen)
{
	if (strncmp(base_url, "http://", 7) != 0 && strncmp(base_url, "https://", 8) != 0) {
		snprintf(err, errlen, "profefe URL %s: only http:// and https:// are supported",
			 base_url);
		return NULL;
	}
	if (opt && opt->extra_header && !strchr(opt->extra_header, ':')) {
		snprintf(err, errlen, "profefe extra header \"%s\" is not \"Name: value\"",
			 opt->extra_header);
		return NULL;
	}
	profefe_client *c = xcalloc(1, sizeof(*c));
	c->loop = loop;
	list_init(&c->requests);
	c->base = xstrdup(base_url);
	size_t n = strlen(c->base);
	while (n > 0 && c->base[n - 1] == '/')
		c->base[--n] = '\0';
	if (opt)
		c->opt = *opt;
	size_t h = 0;
	if (opt && opt->token && *opt->token) {
		c->auth_header = xasprintf("Authorization: Bearer %s", opt->token);
		c->headers[h++] = c->auth_header;
	}
	if (opt && opt->extra_header) {
		c->extra_header = xstrdup(opt->extra_header);
		c->headers[h++] = c->extra_header;
	}
	c->headers[h] = NULL;
	if (opt && opt->ca_file) {
		c->ca_file = xstrdup(opt->ca_file);
		c->tls.ca_file = c->ca_file;
		c->use_tls = 1;
	}
	c->opt.ca_file = c->opt.token = c->opt.extra_header = NULL; /* not kept borrowed */
	if (c->opt.connect_timeout_ms <= 0)
		c->opt.connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
	if (c->opt.timeout_ms <= 0)
		c->opt.timeout_ms = DEFAULT_TIMEOUT_MS;
	if (c->opt.max_reply_bytes == 0)
		c->opt.max_reply_bytes = DEFAULT_MAX_REPLY;
	return c;
}

static void request_unlink(profefe_request *r)
{
	list_remove(&r->link);
}

static void request_free(profefe_request *r)
{
	free(r->endpoint);
	free(r);
}

void profefe_cancel(profefe_request *r)
{
	if (!r)
		return;
	http_cancel(r->http);
	request_unlink(r);
	request_free(r);
}

void profefe_client_free(profefe_client *c)
{
	if (!c)
		return;
	while (!list_empty(&c->requests))
		profefe_cancel(LIST_ENTRY(list_first(&c->requests), profefe_request, link));
	free(c->base);
	free(c->auth_header);
	free(c->extra_header);
	free(c->ca_file);
	free(c);
}

enum http_failure profefe_client_failure(const profefe_client *c)
{
	return c->failure;
}

const char *profefe_client_base_url(const profefe_client *c)
{
	return c->base;
}

/* ---- labels, URLs ---- */

char *profefe_labels_encode(const char *const *pairs)
{
	buf_t b = BUF_INIT;
	for (const char *const *p = pairs; p && p[0] && p[1]; p += 2) {
		char *k = http_escape(p[0]);
		char *v = http_escape(p[1]);
		buf_printf(&b, "%s%s=%s", b.len ? "," : "", k, v);
		free(k);
		free(v);
	}
	return buf_detach(&b);
}

void profefe_format_time(time_t t, char out[20])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 20, "%Y-%m-%dT%H:%M:%S", &tm);
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes s[0..len) as profefe_labels_encode encoded it; caller frees. */
static char *label_unescape(const char *s, size_t len)
{
	buf_t b = BUF_INIT;
	for (size_t i = 0; i < len; i++) {
		int hi = i + 2 < len && s[i] == '%' ? hex_value(s[i + 1]) : -1;
		int lo = hi >= 0 ? hex_value(s[i + 2]) : -1;
		char c = s[i];
		if (lo >= 0) {
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		buf_append(&b, &c, 1);
	}
	return buf_detach(&b);
}

char **profefe_labels_decode(const char *labels)
{
	size_t n = 0;
	char **kv = xcalloc(1, sizeof(char *));

	for (const char *p = labels; p && *p;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		if (eq && eq > p) {
			kv = xrealloc(kv, (n + 3) * sizeof(char *));
			kv[n++] = label_unescape(p, (size_t)(eq - p));
			kv[n++] = label_unescape(eq + 1, len - (size_t)(eq - p) - 1);
			kv[n] = NULL;
		}
		p = end ? end + 1 : p + len;
	}
	return kv;
}

char *profefe_label_value(const char *labels, const char *key)
{
	size_t klen = strlen(key);
	for (const char *p = labels; p && *p;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		if (eq) {
			char *k = label_unescape(p, (size_t)(eq - p));
			int match = strlen(k) == klen && memcmp(k, key, klen) == 0;
			free(k);
			if (match)
				return label_unescape(eq + 1, len - (size_t)(eq - p) - 1);
		}
		p = end ? end + 1 : p + len;
	}
	return NULL;
}

static void append_param(buf_t *b, const char *name, const char *value)
{
	char *v = http_escape(value);
	buf_printf(b, "%c%s=%s", strchr((const char *)b->data, '?') ? '&' : '?', name, v);
	free(v);
}

static char *query_url(const profefe_client *c, const char *path, const profefe_query *q)
{
	buf_t b = BUF_INIT;
	buf_printf(&b, "%s%s", c->base, path);
	append_param(&b, "service", q->service ? q->service : "");
	append_param(&b, "type", q->type ? q->type : "");
	char t[20];
	if (q->from) {
		profefe_format_time(q->from, t);
		append_param(&b, "from", t);
	}
	if (q->to) {
		profefe_format_time(q->to, t);
		append_param(&b, "to", t);
	}
	if (q->labels && *q->labels)
		append_param(&b, "labels", q->labels);
	if (q->limit > 0) {
		char l[16];
		snprintf(l, sizeof(l), "%d", q->limit);
		append_param(&b, "limit", l);
	}
	return buf_detach(&b);
}

char *profefe_profile_url(const profefe_client *c, const char *id)
{
	char *e = http_escape(id);
	char *url = xasprintf("%s/api/0/profiles/%s", c->base, e);
	free(e);
	return url;
}

char *profefe_merge_url(const profefe_client *c, const profefe_query *q)
{
	return query_url(c, "/api/0/profiles/merge", q);
}

/* ---- JSON helpers ---- */

static const char *obj_string(yajl_val obj, const char *key)
{
	const char *path[] = {key, NULL};
	yajl_val v = yajl_tree_get(obj, path, yajl_t_string);
	return v ? YAJL_GET_STRING(v) : NULL;
}

/* A string field, or a number written as text (older profefe wrote types as numbers). */
static char *obj_text(yajl_val obj, const char *key)
{
	const char *path[] = {key, NULL};
	yajl_val v = yajl_tree_get(obj, path, yajl_t_any);
	if (YAJL_IS_STRING(v))
		return xstrdup(YAJL_GET_STRING(v));
	if (YAJL_IS_NUMBER(v))
		return xstrdup(YAJL_GET_NUMBER(v));
	return NULL;
}

/* Quotes at most MESSAGE_MAX bytes of a non-JSON body, printable ASCII only. */
static char *body_excerpt(const char *body)
{
	size_t n = strlen(body);
	if (n > MESSAGE_MAX)
		n = MESSAGE_MAX;
	char *s = xstrndup(body, n);
	for (char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = ' ';
	while (n > 0 && s[n - 1] == ' ')
		s[--n] = '\0';
	return s;
}

/*
 * Parses a {code, body, error} reply. On success returns the tree (caller frees with
 * yajl_tree_free) and its body in *bodyp. Otherwise NULL with a message naming the
 * endpoint: profefe's error text when it sent one.
 */
static yajl_val parse_envelope(const char *endpoint, long status, const char *body,
			       yajl_val *bodyp, char *err, size_t errlen)
{
	char perr[256] = "";
	yajl_val root = yajl_tree_parse(body, perr, sizeof(perr));
	if (!root || !YAJL_IS_OBJECT(root)) {
		char *ex = body_excerpt(body);
		if (status != 200)
			snprintf(err, errlen, "%s: HTTP %ld%s%s", endpoint, status, *ex ? ": " : "", ex);
		else
			snprintf(err, errlen, "%s: malformed reply (not a JSON object): %s", endpoint,
				 *ex ? ex : "empty body");
		free(ex);
		yajl_tree_free(root);
		return NULL;
	}
	const char *e = obj_string(root, "error");
	if (status != 200) {
		snprintf(err, errlen, "%s: HTTP %ld: %s", endpoint, status,
			 e && *e ? e : "no error text");
		yajl_tree_free(root);
		return NULL;
	}
	const char *path[] = {"body", NULL};
	*bodyp = yajl_tree_get(root, path, yajl_t_any);
	return root;
}

/* profefe answers "nothing found" (404) or "no results" (204) for an empty result. */
static int is_empty_result(long status, const char *body)
{
	if (status == 204)
		return 1;
	if (status != 404)
		return 0;
	char perr[128];
	yajl_val root = yajl_tree_parse(body, perr, sizeof(perr));
	int profefe_said = root && YAJL_IS_OBJECT(root) && obj_string(root, "error");
	yajl_tree_free(root);
	return profefe_said;
}

void profefe_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

int profefe_parse_services(const char *endpoint, long status, const char *body, char ***names,
			   size_t *n, char *err, size_t errlen)
{
	*names = xcalloc(1, sizeof(char *));
	*n = 0;
	if (is_empty_result(status, body))
		return 0;
	yajl_val b = NULL;
	yajl_val root = parse_envelope(endpoint, status, body, &b, err, errlen);
	if (!root)
		goto fail;
	if (YAJL_IS_NULL(b) || !b) {
		yajl_tree_free(root);
		return 0;
	}
	if (!YAJL_IS_ARRAY(b)) {
		snprintf(err, errlen, "%s: malformed reply: body is not a list", endpoint);
		yajl_tree_free(root);
		goto fail;
	}
	size_t len = b->u.array.len;
	*names = xrealloc(*names, (len + 1) * sizeof(char *));
	for (size_t i = 0; i < len; i++) {
		yajl_val v = b->u.array.values[i];
		if (!YAJL_IS_STRING(v)) {
			snprintf(err, errlen, "%s: malformed reply: service %zu is not a string",
				 endpoint, i);
			(*names)[*n] = NULL;
			yajl_tree_free(root);
			goto fail;
		}
		(*names)[(*n)++] = xstrdup(YAJL_GET_STRING(v));
	}
	(*names)[*n] = NULL;
	yajl_tree_free(root);
	return 0;
fail:
	profefe_strv_free(*names);
	*names = NULL;
	*n = 0;
	return -1;
}

/* labels as {"k":"v"}, [{"Key":"k","Value":"v"}] or [{"key":..,"value":..}]. */
static char **parse_labels(yajl_val v)
{
	size_t cap = 1, n = 0;
	char **out = NULL;
	if (YAJL_IS_OBJECT(v)) {
		cap = v->u.object.len * 2 + 1;
		out = xcalloc(cap, sizeof(char *));
		for (size_t i = 0; i < v->u.object.len; i++) {
			yajl_val val = v->u.object.values[i];
			out[n++] = xstrdup(v->u.object.keys[i]);
			out[n++] = xstrdup(YAJL_IS_STRING(val) ? YAJL_GET_STRING(val) : "");
		}
		return out;
	}
	if (YAJL_IS_ARRAY(v)) {
		cap = v->u.array.len * 2 + 1;
		out = xcalloc(cap, sizeof(char *));
		for (size_t i = 0; i < v->u.array.len; i++) {
			yajl_val l = v->u.array.values[i];
			const char *k = obj_string(l, "Key");
			const char *val = obj_string(l, "Value");
			if (!k) {
				k = obj_string(l, "key");
				val = obj_string(l, "value");
			}
			if (!k)
				continue;
			out[n++] = xstrdup(k);
			out[n++] = xstrdup(val ? val : "");
		}
		return out;
	}
	return xcalloc(1, sizeof(char *));
}

void profefe_metas_free(profefe_profile_meta *items, size_t n)
{
	if (!items)
		return;
	for (size_t i = 0; i < n; i++) {
		free(items[i].id);
		free(items[i].type);
		free(items[i].service);
		free(items[i].created_at);
		profefe_strv_free(items[i].labels);
	}
	free(items);
}

int profefe_parse_profiles(const char *endpoint, long status, const char *body,
			   profefe_profile_meta **items, size_t *n, char *err, size_t errlen)
{
	*items = NULL;
	*n = 0;
	if (is_empty_result(status, body))
		return 0;
	yajl_val b = NULL;
	yajl_val root = parse_envelope(endpoint, status, body, &b, err, errlen);
	if (!root)
		return -1;
	if (!b || YAJL_IS_NULL(b)) {
		yajl_tree_free(root);
		return 0;
	}
	if (!YAJL_IS_ARRAY(b)) {
		snprintf(err, errlen, "%s: malformed reply: body is not a list", endpoint);
		yajl_tree_free(root);
		return -1;
	}
	size_t len = b->u.array.len;
	profefe_profile_meta *out = xcalloc(len ? len : 1, sizeof(*out));
	for (size_t i = 0; i < len; i++) {
		yajl_val p = b->u.array.values[i];
		char *id = YAJL_IS_OBJECT(p) ? obj_text(p, "id") : NULL;
		if (!id && YAJL_IS_OBJECT(p))
			id = obj_text(p, "profile_id");
		if (!id) {
			snprintf(err, errlen, "%s: malformed reply: profile %zu has no id", endpoint,
				 i);
			profefe_metas_free(out, i);
			yajl_tree_free(root);
			return -1;
		}
		const char *lpath[] = {"labels", NULL};
		out[i].id = id;
		out[i].type = obj_text(p, "type");
		out[i].service = obj_text(p, "service");
		out[i].created_at = obj_text(p, "created_at");
		out[i].labels = parse_labels(yajl_tree_get(p, lpath, yajl_t_any));
		if (!out[i].type)
			out[i].type = xstrdup("");
		if (!out[i].service)
			out[i].service = xstrdup("");
		if (!out[i].created_at)
			out[i].created_at = xstrdup("");
	}
	yajl_tree_free(root);
	*items = out;
	*n = len;
	return 0;
}

static void gen_value(yajl_gen g, yajl_val v)
{
	if (YAJL_IS_STRING(v)) {
		const char *s = YAJL_GET_STRING(v);
		yajl_gen_string(g, (const unsigned char *)s, strlen(s));
	} else if (YAJL_IS_NUMBER(v)) {
		const char *s = YAJL_GET_NUMBER(v);
		yajl_gen_number(g, s, strlen(s));
	} else if (YAJL_IS_OBJECT(v)) {
		yajl_gen_map_open(g);
		for (size_t i = 0; i < v->u.object.len; i++) {
			const char *k = v->u.object.keys[i];
			yajl_gen_string(g, (const unsigned char *)k, strlen(k));
			gen_value(g, v->u.object.values[i]);
		}
		yajl_gen_map_close(g);
	} else if (YAJL_IS_ARRAY(v)) {
		yajl_gen_array_open(g);
		for (size_t i = 0; i < v->u.array.len; i++)
			gen_value(g, v->u.array.values[i]);
		yajl_gen_array_close(g);
	} else if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)) {
		yajl_gen_bool(g, YAJL_IS_TRUE(v));
	} else {
		yajl_gen_null(g);
	}
}

int profefe_parse_version(const char *endpoint, long status, const char *body, char **version,
			  char *err, size_t errlen)
{
	*version = NULL;
	yajl_val b = NULL;
	yajl_val root = parse_envelope(endpoint, status, body, &b, err, errlen);
	if (!root)
		return -1;
	if (!b) {
		snprintf(err, errlen, "%s: malformed reply: no body", endpoint);
		yajl_tree_free(root);
		return -1;
	}
	if (YAJL_IS_STRING(b)) {
		*version = xstrdup(YAJL_GET_STRING(b));
		yajl_tree_free(root);
		return 0;
	}
	yajl_gen g = yajl_gen_alloc(NULL);
	gen_value(g, b);
	const unsigned char *out;
	size_t len;
	yajl_gen_get_buf(g, &out, &len);
	*version = xstrndup((const char *)out, len);
	yajl_gen_free(g);
	yajl_tree_free(root);
	return 0;
}

/* ---- upload outcome ---- */

static const char *const outcome_names[] = {
	[PROFEFE_OK] = "ok",
	[PROFEFE_RETRY] = "retry",
	[PROFEFE_REJECTED] = "rejected",
};

const char *profefe_outcome_name(enum profefe_outcome o)
{
	return (size_t)o < sizeof(outcome_names) / sizeof(outcome_names[0]) ? outcome_names[o]
									    : "unknown";
}

void profefe_classify_upload(const http_response *resp, profefe_upload_result *out,
			     char **scratch)
{
	memset(out, 0, sizeof(*out));
	*scratch = NULL;
	out->status = resp->status;
	out->seconds = resp->seconds;
	/* A refusal that arrived before the transfer broke is still a refusal. */
	int refused = resp->status >= 400 && resp->status < 500 && resp->status != 408 &&
		      resp->status != 429;
	if (!resp->ok && !refused) {
		out->outcome = PROFEFE_RETRY;
		*scratch = xstrdup(resp->error ? resp->error : "transfer failed");
		out->message = *scratch;
		return;
	}
	long st = resp->status;
	const char *body = (const char *)resp->body;
	char perr[128];
	yajl_val root = yajl_tree_parse(body, perr, sizeof(perr));
	if (st >= 200 && st < 300) {
		out->outcome = PROFEFE_OK;
		const char *path[] = {"body", NULL};
		yajl_val b = root ? yajl_tree_get(root, path, yajl_t_object) : NULL;
		char *id = b ? obj_text(b, "id") : NULL;
		if (!id && b)
			id = obj_text(b, "profile_id");
		*scratch = id;
		out->id = id;
		yajl_tree_free(root);
		return;
	}
	if (st >= 400 && st < 500 && st != 408 && st != 429)
		out->outcome = PROFEFE_REJECTED;
	else
		out->outcome = PROFEFE_RETRY; /* 5xx, 408, 429, and 1xx/3xx: a misrouted URL
						 must not drop profiles */
	const char *e = root && YAJL_IS_OBJECT(root) ? obj_string(root, "error") : NULL;
	if (e && *e) {
		*scratch = xasprintf("HTTP %ld: %s", st, e);
	} else {
		char *ex = body_excerpt(body);
		*scratch = *ex ? xasprintf("HTTP %ld: %s", st, ex) : xasprintf("HTTP %ld", st);
		free(ex);
	}
	out->message = *scratch;
	yajl_tree_free(root);
}

/* ---- requests ---- */

static void on_http_done(const http_response *resp, void *arg)
{
	profefe_request *r = arg;
	request_unlink(r);
	char err[1024] = "";
	const char *body = (const char *)resp->body;
	const char *transport = NULL;
	if (!resp->ok) {
		snprintf(err, sizeof(err), "%s: %s", r->endpoint, resp->error);
		transport = err;
	}
	r->c->failure = resp->failure;
	switch (r->kind) {
	case KIND_UPLOAD: {
		profefe_upload_result res;
		char *scratch;
		profefe_classify_upload(resp, &res, &scratch);
		metrics_observe(METRIC_UPLOAD_DURATION_SECONDS, res.seconds, "result",
				profefe_outcome_name(res.outcome), NULL);
		r->done.upload(&res, r->arg);
		free(scratch);
		break;
	}
	case KIND_SERVICES: {
		char **names = NULL;
		size_t n = 0;
		if (transport || profefe_parse_services(r->endpoint, resp->status, body, &names,
							&n, err, sizeof(err)) != 0)
			r->done.services(NULL, 0, err, r->arg);
		else
			r->done.services((const char *const *)names, n, NULL, r->arg);
		profefe_strv_free(names);
		break;
	}
	case KIND_PROFILES: {
		profefe_profile_meta *items = NULL;
		size_t n = 0;
		if (transport || profefe_parse_profiles(r->endpoint, resp->status, body, &items,
							&n, err, sizeof(err)) != 0)
			r->done.profiles(NULL, 0, err, r->arg);
		else
			r->done.profiles(items, n, NULL, r->arg);
		profefe_metas_free(items, n);
		break;
	}
	case KIND_VERSION: {
		char *v = NULL;
		if (transport || profefe_parse_version(r->endpoint, resp->status, body, &v, err,
						       sizeof(err)) != 0)
			r->done.version(NULL, err, r->arg);
		else
			r->done.version(v, NULL, r->arg);
		free(v);
		break;
	}
	case KIND_GET:
		r->done.get(resp, r->arg);
		break;
	}
	request_free(r);
}

static profefe_request *start(profefe_client *c, enum kind kind, const char *endpoint,
			      const char *url, http_options *o, void *arg)
{
	profefe_request *r = xcalloc(1, sizeof(*r));
	r->c = c;
	r->kind = kind;
	r->endpoint = xstrdup(endpoint);
	r->arg = arg;
	o->headers = c->headers;
	o->tls = c->use_tls ? &c->tls : NULL;
	/* An authenticating proxy in front of profefe may answer 401 before it read the
	 * upload; over HTTP/2 curl 7.88 then reports a stream error instead of the 401,
	 * which would look like an outage. HTTP/1.1 delivers the answer. */
	o->http1 = 1;
	if (o->connect_timeout_ms == 0)
		o->connect_timeout_ms = c->opt.connect_timeout_ms;
	if (o->timeout_ms == 0)
		o->timeout_ms = c->opt.timeout_ms;
	list_push_front(&c->requests, &r->link);
	r->http = http_start(c->loop, url, o, on_http_done, r);
	return r;
}

profefe_request *profefe_upload(profefe_client *c, const char *service, const char *type,
				const char *labels, const unsigned char *data, size_t len,
				profefe_upload_fn done, void *arg)
{
	return profefe_upload_at(c, service, type, labels, 0, data, len, done, arg);
}

/* profefe's time format (UTC, whole seconds), or "" for a time before 1970. */
static void format_created_at(int64_t time_ns, char out[32])
{
	struct tm tm;
	time_t secs = (time_t)(time_ns / 1000000000);
	out[0] = '\0';
	if (time_ns <= 0 || !gmtime_r(&secs, &tm))
		return;
	strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
}

profefe_request *profefe_upload_at(profefe_client *c, const char *service, const char *type,
				   const char *labels, int64_t created_ns,
				   const unsigned char *data, size_t len, profefe_upload_fn done,
				   void *arg)
{
	buf_t url = BUF_INIT;
	char created_at[32];
	buf_printf(&url, "%s/api/0/profiles", c->base);
	append_param(&url, "service", service);
	append_param(&url, "type", type);
	format_created_at(created_ns, created_at);
	if (created_at[0])
		append_param(&url, "created_at", created_at);
	/* profefe's first API and kube-profefe named the instance: the pod. */
	char *instance = profefe_label_value(labels, "pod");
	if (instance)
		append_param(&url, "instance_id", instance);
	free(instance);
	if (labels && *labels)
		append_param(&url, "labels", labels);
	http_options o = {0};
	o.method = "POST";
	/* an empty profile still needs a (zero-length) POST body */
	o.body = data ? data : (const unsigned char *)"";
	o.body_len = len;
	o.max_body_bytes = UPLOAD_MAX_REPLY;
	profefe_request *r = start(c, KIND_UPLOAD, "POST /api/0/profiles", (const char *)url.data,
				   &o, arg);
	r->done.upload = done;
	buf_free(&url);
	return r;
}

/* A GET of one of profefe's JSON endpoints; url is taken. */
static profefe_request *start_query(profefe_client *c, enum kind kind, const char *endpoint,
				    char *url, void *arg)
{
	http_options o = {0};
	o.max_body_bytes = c->opt.max_reply_bytes;
	o.accept_encoding = 1;
	profefe_request *r = start(c, kind, endpoint, url, &o, arg);
	free(url);
	return r;
}

profefe_request *profefe_services(profefe_client *c, profefe_services_fn done, void *arg)
{
	profefe_request *r = start_query(c, KIND_SERVICES, "GET /api/0/services",
					 xasprintf("%s/api/0/services", c->base), arg);
	r->done.services = done;
	return r;
}

profefe_request *profefe_profiles(profefe_client *c, const profefe_query *q,
				  profefe_profiles_fn done, void *arg)
{
	profefe_request *r = start_query(c, KIND_PROFILES, "GET /api/0/profiles",
					 query_url(c, "/api/0/profiles", q), arg);
	r->done.profiles = done;
	return r;
}

profefe_request *profefe_version(profefe_client *c, profefe_version_fn done, void *arg)
{
	profefe_request *r = start_query(c, KIND_VERSION, "GET /api/0/version",
					 xasprintf("%s/api/0/version", c->base), arg);
	r->done.version = done;
	return r;
}

profefe_request *profefe_get(profefe_client *c, const char *url, const http_options *opt,
			     http_done_fn done, void *arg)
{
	http_options o = {0};
	if (opt) {
		o.on_data = opt->on_data;
		o.max_body_bytes = opt->max_body_bytes;
		o.timeout_ms = opt->timeout_ms;
		o.idle_timeout_s = opt->idle_timeout_s;
	}
	char *endpoint = xasprintf("GET %s", url);
	profefe_request *r = start(c, KIND_GET, endpoint, url, &o, arg);
	r->done.get = done;
	free(endpoint);
	return r;
}
