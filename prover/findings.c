// SPDX-License-Identifier: Apache-2.0
// The findings list: kind names, accepted risks, ordering, and the three renderings (compact,
// full report, JSON) that oshctl and the daemon print.
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const struct {
	const char *name;
	const char *title;
} kinds[OSH_FINDING_KIND_MAX] = {
	[OSH_FINDING_LINK_LOCAL_REACH] = { "link_local_reach", "Link-local or metadata reach" },
	[OSH_FINDING_L7_BYPASS_CREDENTIALED] = { "l7_bypass_credentialed",
						 "L7-bypass binary with a credential in scope" },
	[OSH_FINDING_CREDENTIAL_REACH_EXPANSION] = { "credential_reach_expansion",
						     "Credentialed reach" },
	[OSH_FINDING_CAPABILITY_EXPANSION] = { "capability_expansion",
					       "New method on an existing reach" },
	[OSH_FINDING_DATA_EXFILTRATION] = { "data_exfiltration", "Data exfiltration path" },
	[OSH_FINDING_CREDENTIALED_WRITE] = { "credentialed_write",
					     "Write action through an injected credential" },
	[OSH_FINDING_CREDENTIALED_DESTRUCTIVE] = { "credentialed_destructive",
						   "Destructive action through an injected "
						   "credential" },
	[OSH_FINDING_LOOPBACK_REACH] = { "loopback_reach", "Loopback reach" },
	[OSH_FINDING_PRIVATE_NETWORK_REACH] = { "private_network_reach", "Private network reach" },
	[OSH_FINDING_DNS_CHANNEL] = { "dns_channel", "DNS exfiltration channel" },
	[OSH_FINDING_SPAWN_CHAIN] = { "spawn_chain", "Reach inherited by a spawned program" },
	[OSH_FINDING_FILESYSTEM_SECRET] = { "filesystem_secret",
					    "Secret file readable while data can leave" },
	[OSH_FINDING_REACH_EXPANSION] = { "reach_expansion", "New reach" },
};

const char *osh_finding_kind_name(enum osh_finding_kind k)
{
	return (unsigned)k < OSH_FINDING_KIND_MAX ? kinds[k].name : "unknown";
}

int osh_finding_kind_from_name(const char *name, enum osh_finding_kind *ret)
{
	char buf[64];
	size_t i;

	for (i = 0; i < sizeof(buf) - 1 && name[i]; i++)
		buf[i] = name[i] == '-' ? '_' : name[i];
	buf[i] = '\0';
	/* The spelling of OpenShell's l7_bypass_credentialed. */
	if (!strcmp(buf, "l7_bypass_with_credential"))
		strcpy(buf, "l7_bypass_credentialed");
	for (int k = 0; k < OSH_FINDING_KIND_MAX; k++)
		if (!strcmp(buf, kinds[k].name)) {
			*ret = (enum osh_finding_kind)k;
			return 0;
		}
	return -EINVAL;
}

const char *osh_severity_name(enum osh_severity s)
{
	switch (s) {
	case OSH_SEVERITY_LOW:
		return "low";
	case OSH_SEVERITY_MEDIUM:
		return "medium";
	case OSH_SEVERITY_HIGH:
		return "high";
	case OSH_SEVERITY_CRITICAL:
		return "critical";
	}
	return "unknown";
}

int prv_findings_add(struct osh_findings *fs, struct osh_finding **ret)
{
	if (fs->n == fs->cap) {
		size_t cap = fs->cap ? fs->cap * 2 : 16;
		struct osh_finding *nv = realloc(fs->items, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		fs->items = nv;
		fs->cap = cap;
	}
	memset(&fs->items[fs->n], 0, sizeof(fs->items[0]));
	*ret = &fs->items[fs->n++];
	return 0;
}

static void finding_clear(struct osh_finding *f)
{
	free(f->binary);
	free(f->via);
	free(f->host);
	free(f->rule);
	free(f->method);
	free(f->mechanism);
	free(f->credential);
	free(f->action);
	free(f->path);
	free(f->explanation);
	free(f->remediation);
	free(f->accepted_by);
	free(f->accepted_reason);
}

void osh_findings_free(struct osh_findings *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++)
		finding_clear(&f->items[i]);
	free(f->items);
	free(f);
}

void osh_findings_freep(struct osh_findings **f)
{
	osh_findings_free(*f);
	*f = NULL;
}

/* An accepted risk names a query, and optionally a binary and an endpoint (host, or
 * host:port); a finding matches when all the given parts match. */
static bool risk_matches(const struct prv_accepted *a, const struct osh_finding *f)
{
	enum osh_finding_kind k;
	char ep[320];

	if (osh_finding_kind_from_name(a->query, &k) < 0 || k != f->kind)
		return false;
	if (a->binary && (!f->binary || strcmp(a->binary, f->binary)))
		return false;
	if (a->endpoint) {
		if (!f->host)
			return false;
		snprintf(ep, sizeof(ep), "%s:%u", f->host, f->port);
		if (strcmp(a->endpoint, f->host) && strcmp(a->endpoint, ep))
			return false;
	}
	return true;
}

static int str_cmp(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "");
}

static int finding_cmp(const void *pa, const void *pb)
{
	const struct osh_finding *a = pa, *b = pb;
	int c;

	if (a->accepted != b->accepted)
		return a->accepted ? 1 : -1;
	if (a->severity != b->severity)
		return a->severity > b->severity ? -1 : 1;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if ((c = str_cmp(a->binary, b->binary)) || (c = str_cmp(a->host, b->host)))
		return c;
	if (a->port != b->port)
		return a->port < b->port ? -1 : 1;
	if ((c = str_cmp(a->method, b->method)) || (c = str_cmp(a->credential, b->credential)) ||
	    (c = str_cmp(a->via, b->via)))
		return c;
	return str_cmp(a->path, b->path);
}

int prv_findings_finish(struct osh_findings *fs, const struct osh_prover_accepted *acc)
{
	fs->n_unaccepted = 0;
	for (size_t i = 0; i < fs->n; i++) {
		struct osh_finding *f = &fs->items[i];

		for (size_t j = 0; acc && j < acc->n && !f->accepted; j++) {
			if (!risk_matches(&acc->risks[j], f))
				continue;
			f->accepted = true;
			f->accepted_by = strdup(acc->risks[j].accepted_by);
			f->accepted_reason = strdup(acc->risks[j].reason);
			if (!f->accepted_by || !f->accepted_reason)
				return -ENOMEM;
		}
		if (!f->accepted)
			fs->n_unaccepted++;
	}
	if (fs->n > 1)
		qsort(fs->items, fs->n, sizeof(fs->items[0]), finding_cmp);
	return 0;
}

/* ---- rendering -------------------------------------------------------------------------------- */

struct buf {
	char *s;
	size_t len, cap;
	int err;
};

static void bprintf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->err)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->err = -EINVAL;
			return;
		}
		if (b->s && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		{
			size_t cap = (b->cap ? b->cap * 2 : 1024) + (size_t)n;
			char *ns = realloc(b->s, cap);

			if (!ns) {
				b->err = -ENOMEM;
				return;
			}
			b->s = ns;
			b->cap = cap;
		}
	}
}

static void witness_line(struct buf *b, const struct osh_finding *f)
{
	bprintf(b, "%s", f->binary ? f->binary : "-");
	if (f->via)
		bprintf(b, " (via %s)", f->via);
	if (f->host)
		bprintf(b, " -> %s:%u", f->host, f->port);
	if (f->method)
		bprintf(b, " %s", f->method);
	if (f->mechanism)
		bprintf(b, " [%s]", f->mechanism);
	if (f->credential)
		bprintf(b, " credential=%s", f->credential);
	if (f->path)
		bprintf(b, " secret=%s", f->path);
}

static void render_compact(struct buf *b, const struct osh_findings *fs)
{
	for (size_t i = 0; i < fs->n; i++) {
		const struct osh_finding *f = &fs->items[i];

		bprintf(b, "%s %s %s ", f->accepted ? "ACCEPTED" : "FINDING",
			osh_severity_name(f->severity), osh_finding_kind_name(f->kind));
		witness_line(b, f);
		if (f->accepted)
			bprintf(b, " accepted-by=%s", f->accepted_by);
		bprintf(b, "\n");
	}
	if (fs->truncated)
		bprintf(b, "NOTE %zu queries stopped at the witness limit\n", fs->truncated);
	if (fs->n_unaccepted)
		bprintf(b, "REVIEW %zu findings\n", fs->n_unaccepted);
	else
		bprintf(b, "PASS\n");
}

static void render_report(struct buf *b, const struct osh_findings *fs)
{
	size_t shown = 0;

	bprintf(b, "osh prover%s: %zu finding(s), %zu unaccepted\n\n",
		fs->delta ? " (delta: only what the new policy adds)" : "", fs->n,
		fs->n_unaccepted);
	for (size_t i = 0; i < fs->n; i++) {
		const struct osh_finding *f = &fs->items[i];

		bprintf(b, "%zu. [%s] %s (%s)%s\n", ++shown, osh_severity_name(f->severity),
			kinds[f->kind].title, osh_finding_kind_name(f->kind),
			f->accepted ? " - ACCEPTED" : "");
		bprintf(b, "   witness:     ");
		witness_line(b, f);
		bprintf(b, "\n");
		if (f->rule)
			bprintf(b, "   rule:        network_policies.%s\n", f->rule);
		if (f->action)
			bprintf(b, "   action:      %s\n", f->action);
		bprintf(b, "   why:         %s\n", f->explanation ? f->explanation : "");
		bprintf(b, "   remediation: %s\n", f->remediation ? f->remediation : "");
		if (f->accepted)
			bprintf(b, "   accepted by %s: %s\n", f->accepted_by, f->accepted_reason);
		bprintf(b, "\n");
	}
	if (fs->truncated)
		bprintf(b, "%zu queries stopped at the witness limit: more witnesses exist.\n\n",
			fs->truncated);
	if (fs->n_unaccepted)
		bprintf(b, "REVIEW %zu findings\n", fs->n_unaccepted);
	else
		bprintf(b, "PASS\n");
}

static int add_str(cJSON *o, const char *k, const char *v)
{
	if (!v)
		return 0;
	return cJSON_AddStringToObject(o, k, v) ? 0 : -ENOMEM;
}

static int render_json(const struct osh_findings *fs, char **ret)
{
	cJSON *root = cJSON_CreateObject(), *arr;
	int r = -ENOMEM;

	if (!root)
		return -ENOMEM;
	arr = cJSON_AddArrayToObject(root, "findings");
	if (!arr)
		goto out;
	for (size_t i = 0; i < fs->n; i++) {
		const struct osh_finding *f = &fs->items[i];
		cJSON *o = cJSON_CreateObject();

		if (!o)
			goto out;
		cJSON_AddItemToArray(arr, o);
		if (add_str(o, "query", osh_finding_kind_name(f->kind)) < 0 ||
		    add_str(o, "severity", osh_severity_name(f->severity)) < 0 ||
		    add_str(o, "binary", f->binary) < 0 || add_str(o, "via", f->via) < 0 ||
		    add_str(o, "host", f->host) < 0 || add_str(o, "rule", f->rule) < 0 ||
		    add_str(o, "method", f->method) < 0 ||
		    add_str(o, "mechanism", f->mechanism) < 0 ||
		    add_str(o, "credential", f->credential) < 0 ||
		    add_str(o, "action", f->action) < 0 || add_str(o, "path", f->path) < 0 ||
		    add_str(o, "explanation", f->explanation) < 0 ||
		    add_str(o, "remediation", f->remediation) < 0 ||
		    add_str(o, "accepted_by", f->accepted_by) < 0 ||
		    add_str(o, "accepted_reason", f->accepted_reason) < 0)
			goto out;
		if (f->host && !cJSON_AddNumberToObject(o, "port", f->port))
			goto out;
		if (!cJSON_AddBoolToObject(o, "accepted", f->accepted))
			goto out;
	}
	if (!cJSON_AddNumberToObject(root, "unaccepted", (double)fs->n_unaccepted) ||
	    !cJSON_AddNumberToObject(root, "truncated", (double)fs->truncated) ||
	    !cJSON_AddBoolToObject(root, "delta", fs->delta) ||
	    !cJSON_AddStringToObject(root, "result", fs->n_unaccepted ? "REVIEW" : "PASS"))
		goto out;
	*ret = cJSON_Print(root);
	r = *ret ? 0 : -ENOMEM;
out:
	cJSON_Delete(root);
	return r;
}

int osh_findings_format(const struct osh_findings *f, enum osh_findings_format fmt, char **ret_text)
{
	struct buf b = { 0 };

	if (!f || !ret_text)
		return -EINVAL;
	switch (fmt) {
	case OSH_FINDINGS_COMPACT:
		render_compact(&b, f);
		break;
	case OSH_FINDINGS_REPORT:
		render_report(&b, f);
		break;
	case OSH_FINDINGS_JSON: {
		char *j = NULL;
		int r = render_json(f, &j);

		if (r < 0)
			return r;
		bprintf(&b, "%s\n", j);
		free(j);
		break;
	}
	default:
		return -EINVAL;
	}
	if (b.err) {
		free(b.s);
		return b.err;
	}
	*ret_text = b.s;
	return 0;
}
