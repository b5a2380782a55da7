/* SPDX-License-Identifier: Apache-2.0 */
/* Prometheus text exposition of oshd's counters. Request counters are atomics (every API
 * answer bumps one, from many connection threads); the reload summary keeps a window of recent
 * observations under a mutex (reloads are rare). */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

#define CODE_MIN 100
#define CODE_MAX 599

struct osh_metrics {
	_Atomic uint64_t requests[CODE_MAX - CODE_MIN + 1];
	_Atomic uint64_t pins_restored, pins_stopped;

	pthread_mutex_t lock; /* the reload members */
	double reload_window[OSH_METRICS_RELOAD_WINDOW];
	size_t reload_next; /* where the next observation goes */
	uint64_t reload_count;
	double reload_sum;
};

int osh_metrics_new(struct osh_metrics **ret)
{
	struct osh_metrics *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	for (size_t i = 0; i < sizeof(m->requests) / sizeof(m->requests[0]); i++)
		atomic_init(&m->requests[i], 0);
	atomic_init(&m->pins_restored, 0);
	atomic_init(&m->pins_stopped, 0);
	pthread_mutex_init(&m->lock, NULL);
	*ret = m;
	return 0;
}

void osh_metrics_free(struct osh_metrics *m)
{
	if (!m)
		return;
	pthread_mutex_destroy(&m->lock);
	free(m);
}

void osh_metrics_count_request(struct osh_metrics *m, unsigned int code)
{
	if (!m || code < CODE_MIN || code > CODE_MAX)
		return;
	atomic_fetch_add_explicit(&m->requests[code - CODE_MIN], 1, memory_order_relaxed);
}

void osh_metrics_observe_reload(struct osh_metrics *m, double seconds)
{
	if (!m || !(seconds >= 0) || isinf(seconds))
		return;
	pthread_mutex_lock(&m->lock);
	m->reload_window[m->reload_next] = seconds;
	m->reload_next = (m->reload_next + 1) % OSH_METRICS_RELOAD_WINDOW;
	m->reload_count++;
	m->reload_sum += seconds;
	pthread_mutex_unlock(&m->lock);
}

void osh_metrics_count_pins_fault(struct osh_metrics *m, bool restored)
{
	if (m)
		atomic_fetch_add_explicit(restored ? &m->pins_restored : &m->pins_stopped, 1,
					  memory_order_relaxed);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest rank: the smallest observation with at least q of them at or below it. */
static double quantile(const double *sorted, size_t n, double q)
{
	size_t rank;

	if (n == 0)
		return NAN;
	/* ceil() by hand: libm is not otherwise linked. */
	rank = (size_t)(q * (double)n);
	if ((double)rank < q * (double)n)
		rank++;
	if (rank < 1)
		rank = 1;
	return sorted[rank - 1];
}

/* Prometheus parses floats with Go's ParseFloat, which spells NaN "NaN". */
static void put_double(FILE *f, double v)
{
	if (isnan(v))
		fputs("NaN", f);
	else
		fprintf(f, "%.9g", v);
}

static void header(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

int osh_metrics_render(struct osh_metrics *m, const struct osh_events_stats *es,
		       const unsigned int sandboxes_by_status[3], char **ret_text)
{
	static const struct osh_events_stats no_events;
	static const char *const statuses[3] = { "running", "idle", "gone" };
	double window[OSH_METRICS_RELOAD_WINDOW], sum = 0;
	uint64_t count = 0;
	size_t n = 0, size = 0;
	char *text = NULL;
	FILE *f;

	if (!es)
		es = &no_events;
	if (m) {
		pthread_mutex_lock(&m->lock);
		count = m->reload_count;
		sum = m->reload_sum;
		n = count < OSH_METRICS_RELOAD_WINDOW ? (size_t)count : OSH_METRICS_RELOAD_WINDOW;
		memcpy(window, m->reload_window, n * sizeof(window[0]));
		pthread_mutex_unlock(&m->lock);
		qsort(window, n, sizeof(window[0]), cmp_double);
	}

	f = open_memstream(&text, &size);
	if (!f)
		return -ENOMEM;

	header(f, "osh_decisions_total", "counter",
	       "Denials and audits reported by the kernel, by verdict and kind.");
	fprintf(f,
		"osh_decisions_total{verdict=\"deny\",kind=\"egress\"} %" PRIu64 "\n"
		"osh_decisions_total{verdict=\"deny\",kind=\"dns\"} %" PRIu64 "\n"
		"osh_decisions_total{verdict=\"deny\",kind=\"fs\"} %" PRIu64 "\n"
		"osh_decisions_total{verdict=\"audit\",kind=\"egress\"} %" PRIu64 "\n"
		"osh_decisions_total{verdict=\"audit\",kind=\"dns\"} %" PRIu64 "\n"
		"osh_decisions_total{verdict=\"audit\",kind=\"fs\"} %" PRIu64 "\n",
		es->deny_egress, es->deny_dns, es->deny_fs, es->audit_egress, es->audit_dns,
		es->audit_fs);

	header(f, "osh_events_dropped_total", "counter",
	       "Events not written to a sink because its queue was full or the write failed.");
	fprintf(f,
		"osh_events_dropped_total{sink=\"kernel\"} %" PRIu64 "\n"
		"osh_events_dropped_total{sink=\"store\"} %" PRIu64 "\n"
		"osh_events_dropped_total{sink=\"log\"} %" PRIu64 "\n",
		es->dropped_kernel, es->dropped_store, es->dropped_log);

	header(f, "osh_policy_reload_seconds", "summary",
	       "Time to validate, compile, store and apply a policy change; quantiles over the "
	       "last 1000.");
	fputs("osh_policy_reload_seconds{quantile=\"0.5\"} ", f);
	put_double(f, quantile(window, n, 0.5));
	fputs("\nosh_policy_reload_seconds{quantile=\"0.99\"} ", f);
	put_double(f, quantile(window, n, 0.99));
	fputs("\nosh_policy_reload_seconds_sum ", f);
	put_double(f, sum);
	fprintf(f, "\nosh_policy_reload_seconds_count %" PRIu64 "\n", count);

	header(f, "osh_sandboxes", "gauge", "Sandboxes by status.");
	for (int i = 0; i < 3; i++)
		fprintf(f, "osh_sandboxes{status=\"%s\"} %u\n", statuses[i],
			sandboxes_by_status ? sandboxes_by_status[i] : 0);

	header(f, "osh_api_requests_total", "counter", "API requests answered, by HTTP status.");
	for (unsigned int c = CODE_MIN; m && c <= CODE_MAX; c++) {
		uint64_t v = atomic_load_explicit(&m->requests[c - CODE_MIN], memory_order_relaxed);

		if (v)
			fprintf(f, "osh_api_requests_total{code=\"%u\"} %" PRIu64 "\n", c, v);
	}

	header(f, "osh_pins_faults_total", "counter",
	       "bpffs pins found removed from outside oshd, by what oshd did: restored them, or "
	       "stopped the sandbox because they could not be.");
	fprintf(f,
		"osh_pins_faults_total{outcome=\"restored\"} %" PRIu64 "\n"
		"osh_pins_faults_total{outcome=\"stopped\"} %" PRIu64 "\n",
		m ? atomic_load_explicit(&m->pins_restored, memory_order_relaxed) : 0,
		m ? atomic_load_explicit(&m->pins_stopped, memory_order_relaxed) : 0);

	if (ferror(f)) {
		fclose(f);
		free(text);
		return -ENOMEM;
	}
	if (fclose(f) != 0) {
		free(text);
		return -ENOMEM;
	}
	*ret_text = text;
	return 0;
}
