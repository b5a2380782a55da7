/* SPDX-License-Identifier: Apache-2.0 */
/* oshd's /metrics: counters the API and the manager update as they go, rendered with the event
 * pipeline's counters in the Prometheus text format 0.0.4 (names in docs/api.md "Metrics"). */
#ifndef OSH_DAEMON_METRICS_H
#define OSH_DAEMON_METRICS_H

#include <stdbool.h>

#include "events.h"

struct osh_metrics;

/* Quantiles of osh_policy_reload_seconds are over this many most recent reloads. */
#define OSH_METRICS_RELOAD_WINDOW 1000

int osh_metrics_new(struct osh_metrics **ret); /* 0 or -ENOMEM */
void osh_metrics_free(struct osh_metrics *m);  /* NULL is fine */

/* One API answer with this HTTP status (100..599; others are ignored). Lock-free. */
void osh_metrics_count_request(struct osh_metrics *m, unsigned int code);
/* One policy reload that took seconds (negative or NaN values are ignored). Thread-safe. */
void osh_metrics_observe_reload(struct osh_metrics *m, double seconds);
/* Pins of a sandbox (or those all share) found removed from outside oshd: restored, or the
 * sandbox stopped because they could not be. Lock-free. */
void osh_metrics_count_pins_fault(struct osh_metrics *m, bool restored);

/* The exposition text: osh_decisions_total, osh_events_dropped_total, osh_policy_reload_seconds,
 * osh_sandboxes, osh_api_requests_total, osh_pins_faults_total, each with HELP and TYPE. es and m may be NULL (those
 * series read 0); sandboxes_by_status is indexed running, idle, gone (enum osh_sandbox_status).
 * *ret_text is malloc'ed. Returns 0 or -ENOMEM. */
int osh_metrics_render(struct osh_metrics *m, const struct osh_events_stats *es,
		       const unsigned int sandboxes_by_status[3], char **ret_text);

#endif
