// SPDX-License-Identifier: Apache-2.0
// /metrics rendering (daemon/metrics.c): the output is parsed as a Prometheus scraper reads the
// text format 0.0.4 (HELP and TYPE before each family's samples, `name{labels} value` lines), and
// the values are checked, including request counts from several threads at once and the reload
// summary's quantiles over its window.
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "metrics.h"

struct sample {
	char key[160]; /* name{labels} as printed */
	char value[64];
};

struct exposition {
	struct sample s[256];
	size_t n;
	char typed[16][64]; /* families with a TYPE line, in order */
	char types[16][16];
	size_t n_typed;
};

static const char *family_of(const char *key, char buf[160])
{
	size_t n = strcspn(key, "{");

	snprintf(buf, 160, "%.*s", (int)n, key);
	/* A summary's _sum and _count belong to its family. */
	for (const char *suf = "_sum"; suf; suf = strcmp(suf, "_sum") ? NULL : "_count") {
		size_t l = strlen(suf), bl = strlen(buf);

		if (bl > l && !strcmp(buf + bl - l, suf) && !strchr(key, '{')) {
			char base[160];

			snprintf(base, sizeof(base), "%.*s", (int)(bl - l), buf);
			if (!strcmp(base, "osh_policy_reload_seconds")) {
				snprintf(buf, 160, "%s", base);
				break;
			}
		}
	}
	return buf;
}

/* Parses and checks the structure: every line is a comment or a sample, every sample's family
 * has had its HELP and TYPE, the text ends with a newline. */
static void parse(const char *text, struct exposition *e)
{
	const char *p = text;
	char fam[160], help[64] = "";

	memset(e, 0, sizeof(*e));
	assert_true(strlen(text) > 0 && text[strlen(text) - 1] == '\n');
	while (*p) {
		const char *nl = strchr(p, '\n');
		char line[512];

		assert_non_null(nl);
		assert_true((size_t)(nl - p) < sizeof(line));
		snprintf(line, sizeof(line), "%.*s", (int)(nl - p), p);
		p = nl + 1;
		if (!strncmp(line, "# HELP ", 7)) {
			assert_true(strchr(line + 7, ' ') != NULL); /* name, then text */
			assert_int_equal(sscanf(line + 7, "%63s", help), 1);
			continue;
		}
		if (!strncmp(line, "# TYPE ", 7)) {
			assert_true(e->n_typed < 16);
			assert_int_equal(sscanf(line + 7, "%63s %15s", e->typed[e->n_typed],
						e->types[e->n_typed]),
					 2);
			/* HELP comes first, for the same name. */
			assert_string_equal(help, e->typed[e->n_typed]);
			e->n_typed++;
			continue;
		}
		assert_true(line[0] != '#');
		{
			char *sp = strrchr(line, ' ');
			struct sample *s = &e->s[e->n++];

			assert_non_null(sp);
			assert_true((size_t)(sp - line) < sizeof(s->key));
			assert_true(strlen(sp + 1) < sizeof(s->value));
			memcpy(s->key, line, (size_t)(sp - line));
			s->key[sp - line] = '\0';
			strcpy(s->value, sp + 1);
			/* The sample's family is the most recent TYPE. */
			assert_true(e->n_typed > 0);
			assert_string_equal(family_of(s->key, fam), e->typed[e->n_typed - 1]);
		}
	}
}

static const char *value(const struct exposition *e, const char *key)
{
	for (size_t i = 0; i < e->n; i++)
		if (!strcmp(e->s[i].key, key))
			return e->s[i].value;
	return NULL;
}

static void assert_value(const struct exposition *e, const char *key, const char *want)
{
	const char *v = value(e, key);

	if (!v) {
		fail_msg("no sample %s", key);
		return;
	}
	if (strcmp(v, want))
		fail_msg("%s: got %s, want %s", key, v, want);
}

static void assert_number(const struct exposition *e, const char *key, double want)
{
	const char *v = value(e, key);

	if (!v) {
		fail_msg("no sample %s", key);
		return;
	}
	if (fabs(strtod(v, NULL) - want) > 1e-9 * (fabs(want) + 1))
		fail_msg("%s: got %s, want %.9g", key, v, want);
}

static void assert_type(const struct exposition *e, const char *family, const char *type)
{
	for (size_t i = 0; i < e->n_typed; i++)
		if (!strcmp(e->typed[i], family)) {
			assert_string_equal(e->types[i], type);
			return;
		}
	fail_msg("no TYPE line for %s", family);
}

static void test_empty(void **state)
{
	struct osh_metrics *m;
	struct exposition e;
	unsigned int by[3] = { 0, 0, 0 };
	char *text = NULL;

	(void)state;
	assert_int_equal(osh_metrics_new(&m), 0);
	assert_int_equal(osh_metrics_render(m, NULL, by, &text), 0);
	parse(text, &e);
	assert_type(&e, "osh_decisions_total", "counter");
	assert_type(&e, "osh_events_dropped_total", "counter");
	assert_type(&e, "osh_policy_reload_seconds", "summary");
	assert_type(&e, "osh_sandboxes", "gauge");
	assert_type(&e, "osh_api_requests_total", "counter");
	assert_type(&e, "osh_pins_faults_total", "counter");
	assert_value(&e, "osh_pins_faults_total{outcome=\"restored\"}", "0");
	assert_value(&e, "osh_pins_faults_total{outcome=\"stopped\"}", "0");
	assert_value(&e, "osh_decisions_total{verdict=\"deny\",kind=\"egress\"}", "0");
	assert_value(&e, "osh_events_dropped_total{sink=\"store\"}", "0");
	/* No reload yet: the quantiles are not a number, as Prometheus spells it. */
	assert_value(&e, "osh_policy_reload_seconds{quantile=\"0.5\"}", "NaN");
	assert_value(&e, "osh_policy_reload_seconds{quantile=\"0.99\"}", "NaN");
	assert_value(&e, "osh_policy_reload_seconds_sum", "0");
	assert_value(&e, "osh_policy_reload_seconds_count", "0");
	assert_value(&e, "osh_sandboxes{status=\"gone\"}", "0");
	/* No request yet: no request series. */
	assert_null(strstr(text, "osh_api_requests_total{"));
	free(text);

	/* Without counters at all (no metrics object), the event and sandbox series still render. */
	assert_int_equal(osh_metrics_render(NULL, NULL, NULL, &text), 0);
	parse(text, &e);
	assert_value(&e, "osh_sandboxes{status=\"running\"}", "0");
	free(text);
	osh_metrics_free(m);
	osh_metrics_free(NULL);
}

static void test_events_and_sandboxes(void **state)
{
	struct osh_events_stats es = { .deny_egress = 7,
				       .deny_dns = 3,
				       .deny_fs = 11,
				       .audit_egress = 2,
				       .audit_dns = 1,
				       .audit_fs = 5,
				       .dropped_kernel = 7,
				       .dropped_store = 40,
				       .dropped_log = 12345678901ull,
				       .last_id = 99 };
	unsigned int by[3] = { 4, 2, 1 };
	struct osh_metrics *m;
	struct exposition e;
	char *text = NULL;

	(void)state;
	assert_int_equal(osh_metrics_new(&m), 0);
	assert_int_equal(osh_metrics_render(m, &es, by, &text), 0);
	parse(text, &e);
	assert_value(&e, "osh_decisions_total{verdict=\"deny\",kind=\"egress\"}", "7");
	assert_value(&e, "osh_decisions_total{verdict=\"deny\",kind=\"dns\"}", "3");
	assert_value(&e, "osh_decisions_total{verdict=\"deny\",kind=\"fs\"}", "11");
	assert_value(&e, "osh_decisions_total{verdict=\"audit\",kind=\"egress\"}", "2");
	assert_value(&e, "osh_decisions_total{verdict=\"audit\",kind=\"dns\"}", "1");
	assert_value(&e, "osh_decisions_total{verdict=\"audit\",kind=\"fs\"}", "5");
	assert_value(&e, "osh_events_dropped_total{sink=\"store\"}", "40");
	assert_value(&e, "osh_events_dropped_total{sink=\"kernel\"}", "7");
	assert_value(&e, "osh_events_dropped_total{sink=\"log\"}", "12345678901");
	assert_value(&e, "osh_sandboxes{status=\"running\"}", "4");
	assert_value(&e, "osh_sandboxes{status=\"idle\"}", "2");
	assert_value(&e, "osh_sandboxes{status=\"gone\"}", "1");
	free(text);

	/* Pins found removed: restored twice, one sandbox stopped. */
	osh_metrics_count_pins_fault(m, true);
	osh_metrics_count_pins_fault(m, true);
	osh_metrics_count_pins_fault(m, false);
	osh_metrics_count_pins_fault(NULL, false);
	assert_int_equal(osh_metrics_render(m, &es, by, &text), 0);
	parse(text, &e);
	assert_value(&e, "osh_pins_faults_total{outcome=\"restored\"}", "2");
	assert_value(&e, "osh_pins_faults_total{outcome=\"stopped\"}", "1");
	free(text);
	osh_metrics_free(m);
}

struct counter_arg {
	struct osh_metrics *m;
	unsigned int code;
};

static void *count_many(void *p)
{
	struct counter_arg *a = p;

	for (int i = 0; i < 100000; i++)
		osh_metrics_count_request(a->m, i % 10 ? a->code : 404);
	return NULL;
}

static void test_requests(void **state)
{
	struct counter_arg args[4];
	pthread_t t[4];
	struct osh_metrics *m;
	struct exposition e;
	unsigned int by[3] = { 0, 0, 0 };
	char *text = NULL;

	(void)state;
	assert_int_equal(osh_metrics_new(&m), 0);
	for (int i = 0; i < 4; i++) {
		args[i] = (struct counter_arg){ .m = m, .code = i < 2 ? 200 : 201 };
		assert_int_equal(pthread_create(&t[i], NULL, count_many, &args[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	osh_metrics_count_request(m, 503);
	osh_metrics_count_request(m, 99);  /* not an HTTP status: ignored */
	osh_metrics_count_request(m, 600); /* likewise */
	osh_metrics_count_request(NULL, 200);
	assert_int_equal(osh_metrics_render(m, NULL, by, &text), 0);
	parse(text, &e);
	assert_value(&e, "osh_api_requests_total{code=\"200\"}", "180000");
	assert_value(&e, "osh_api_requests_total{code=\"201\"}", "180000");
	assert_value(&e, "osh_api_requests_total{code=\"404\"}", "40000");
	assert_value(&e, "osh_api_requests_total{code=\"503\"}", "1");
	assert_null(value(&e, "osh_api_requests_total{code=\"99\"}"));
	assert_null(value(&e, "osh_api_requests_total{code=\"600\"}"));
	/* Series in code order. */
	assert_true(strstr(text, "code=\"200\"") < strstr(text, "code=\"201\""));
	assert_true(strstr(text, "code=\"404\"") < strstr(text, "code=\"503\""));
	free(text);
	osh_metrics_free(m);
}

static void test_reload_summary(void **state)
{
	struct osh_metrics *m;
	struct exposition e;
	char *text = NULL;
	double sum = 0;

	(void)state;
	assert_int_equal(osh_metrics_new(&m), 0);
	osh_metrics_observe_reload(m, 0.25);
	assert_int_equal(osh_metrics_render(m, NULL, NULL, &text), 0);
	parse(text, &e);
	assert_number(&e, "osh_policy_reload_seconds{quantile=\"0.5\"}", 0.25);
	assert_number(&e, "osh_policy_reload_seconds{quantile=\"0.99\"}", 0.25);
	assert_value(&e, "osh_policy_reload_seconds_count", "1");
	free(text);

	/* 1100 more, in shuffled order: 0.001 .. 1.100 s. The window keeps the last 1000 observed;
	 * sum and count cover all of them. */
	osh_metrics_free(m);
	assert_int_equal(osh_metrics_new(&m), 0);
	for (int i = 0; i < 1100; i++) {
		int v = (i * 7) % 1100 + 1; /* 7 is prime to 1100: a permutation of 1..1100 */

		osh_metrics_observe_reload(m, v / 1000.0);
		sum += v / 1000.0;
	}
	osh_metrics_observe_reload(m, -1);  /* ignored */
	osh_metrics_observe_reload(m, NAN); /* ignored */
	assert_int_equal(osh_metrics_render(m, NULL, NULL, &text), 0);
	parse(text, &e);
	assert_value(&e, "osh_policy_reload_seconds_count", "1100");
	assert_number(&e, "osh_policy_reload_seconds_sum", sum);
	{
		/* The expected quantiles by nearest rank over the last 1000 observations. */
		double w[1000];

		for (int i = 100; i < 1100; i++)
			w[i - 100] = ((i * 7) % 1100 + 1) / 1000.0;
		for (int i = 1; i < 1000; i++)
			for (int j = i; j > 0 && w[j - 1] > w[j]; j--) {
				double t = w[j];

				w[j] = w[j - 1];
				w[j - 1] = t;
			}
		assert_number(&e, "osh_policy_reload_seconds{quantile=\"0.5\"}", w[499]);
		assert_number(&e, "osh_policy_reload_seconds{quantile=\"0.99\"}", w[989]);
	}
	free(text);
	osh_metrics_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_events_and_sandboxes),
		cmocka_unit_test(test_requests),
		cmocka_unit_test(test_reload_summary),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
