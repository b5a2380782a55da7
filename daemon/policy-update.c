// SPDX-License-Identifier: Apache-2.0
// PATCH of a policy (policy-update.h): the update request is applied to the canonical JSON of
// the policy in force as edits of the document tree; validation is left to the policy compiler,
// which reads the result like any other policy.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cjson/cJSON.h>

#include "policy-update.h"

static int fail(struct osh_api_err *err, int r, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(struct osh_api_err *err, int r, const char *code, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof(err->message), fmt, ap);
		va_end(ap);
	}
	return r;
}

static void set_field(struct osh_api_err *err, const char *list, size_t i, const char *member)
{
	if (err)
		snprintf(err->field, sizeof(err->field), "%s[%zu]%s%s", list, i, member ? "." : "",
			 member ? member : "");
}

/* Hosts match as the compiler reads them: names case-insensitively, addresses by value
 * ("2001:DB8::1" is "2001:db8::0:1"). */
static bool host_match(const char *a, const char *b)
{
	unsigned char x[16], y[16];

	if (!a || !b)
		return false;
	if (!strcasecmp(a, b))
		return true;
	if (inet_pton(AF_INET6, a, x) == 1 && inet_pton(AF_INET6, b, y) == 1)
		return !memcmp(x, y, 16);
	if (inet_pton(AF_INET, a, x) == 1 && inet_pton(AF_INET, b, y) == 1)
		return !memcmp(x, y, 4);
	return false;
}

/* Lexical normalisation as the compiler does it for binary paths: "//" and "/./" collapse, a
 * trailing "/" goes. In place. */
static void path_normalise(char *p)
{
	char *w = p;

	for (const char *r = p; *r;) {
		if (*r == '/' && (r[1] == '/' || (r[1] == '.' && (r[2] == '/' || !r[2])))) {
			r += r[1] == '/' ? 1 : 2;
			continue;
		}
		*w++ = *r++;
	}
	*w = '\0';
	if (w - p > 1 && w[-1] == '/')
		w[-1] = '\0';
}

static bool path_match(const char *have, const char *want)
{
	char *a, *b;
	bool eq;

	if (!have || !want)
		return false;
	if (!strcmp(have, want))
		return true;
	a = strdup(have);
	b = strdup(want);
	eq = a && b;
	if (eq) {
		path_normalise(a);
		path_normalise(b);
		eq = !strcmp(a, b);
	}
	free(a);
	free(b);
	return eq;
}

static bool port_is(const cJSON *v, uint16_t port)
{
	return cJSON_IsNumber(v) && v->valuedouble == (double)port;
}

/* The endpoint's "ports" entry equal to port, or the "port" member itself when it is port (the
 * canonical form writes ports; a hand-written current policy may not). NULL: no match. */
static cJSON *endpoint_port(cJSON *ep, const char *host, uint16_t port)
{
	const cJSON *h = cJSON_GetObjectItemCaseSensitive(ep, "host");
	cJSON *ports, *p;

	if (!cJSON_IsObject(ep) || !cJSON_IsString(h) || !host_match(h->valuestring, host))
		return NULL;
	p = cJSON_GetObjectItemCaseSensitive(ep, "port");
	if (port_is(p, port))
		return p;
	ports = cJSON_GetObjectItemCaseSensitive(ep, "ports");
	cJSON_ArrayForEach (p, ports)
		if (port_is(p, port))
			return p;
	return NULL;
}

static size_t array_size(const cJSON *a)
{
	return cJSON_IsArray(a) ? (size_t)cJSON_GetArraySize(a) : 0;
}

/* The array member name of obj, created empty when absent (or not an array). */
static cJSON *array_member(cJSON *obj, const char *name)
{
	cJSON *a = cJSON_GetObjectItemCaseSensitive(obj, name);

	if (cJSON_IsArray(a))
		return a;
	if (a)
		cJSON_DeleteItemFromObjectCaseSensitive(obj, name);
	return cJSON_AddArrayToObject(obj, name);
}

static cJSON *policy_find(cJSON *np, const char *key)
{
	cJSON *pol = np ? cJSON_GetObjectItemCaseSensitive(np, key) : NULL;

	return cJSON_IsObject(pol) ? pol : NULL;
}

/* The network policy named key, created with empty endpoints and binaries when absent (the
 * schema defaults its name to the key). */
static cJSON *policy_get_or_create(cJSON *doc, cJSON **np, const char *key)
{
	cJSON *pol = policy_find(*np, key);

	if (pol)
		return pol;
	if (!*np) {
		*np = cJSON_AddObjectToObject(doc, "network_policies");
		if (!*np)
			return NULL;
	}
	pol = cJSON_CreateObject();
	if (!pol || !cJSON_AddArrayToObject(pol, "endpoints") ||
	    !cJSON_AddArrayToObject(pol, "binaries") || !cJSON_AddItemToObject(*np, key, pol)) {
		cJSON_Delete(pol);
		return NULL;
	}
	return pol;
}

static int remove_endpoint(cJSON *np, const struct osh_req_endpoint_ref *ref, size_t i,
			   struct osh_api_err *err)
{
	cJSON *pol = policy_find(np, ref->policy), *eps, *ep, *next;
	size_t matched = 0;

	if (!pol) {
		set_field(err, "remove_endpoints", i, "policy");
		return fail(err, -EINVAL, "bad-request", "no network policy '%s'", ref->policy);
	}
	eps = cJSON_GetObjectItemCaseSensitive(pol, "endpoints");
	for (ep = cJSON_IsArray(eps) ? eps->child : NULL; ep; ep = next) {
		cJSON *port = endpoint_port(ep, ref->host, ref->port);
		cJSON *ports = cJSON_GetObjectItemCaseSensitive(ep, "ports");

		next = ep->next;
		if (!port)
			continue;
		matched++;
		/* Only this port goes; the endpoint stays for its other ports. */
		if (port != cJSON_GetObjectItemCaseSensitive(ep, "port") && array_size(ports) > 1) {
			cJSON_Delete(cJSON_DetachItemViaPointer(ports, port));
			continue;
		}
		cJSON_Delete(cJSON_DetachItemViaPointer(eps, ep));
	}
	if (!matched) {
		set_field(err, "remove_endpoints", i, NULL);
		return fail(err, -EINVAL, "bad-request",
			    "network policy '%s' has no endpoint %s:%u", ref->policy, ref->host,
			    ref->port);
	}
	return 0;
}

static int remove_binary(cJSON *np, const struct osh_req_binary_ref *ref, size_t i,
			 struct osh_api_err *err)
{
	cJSON *pol = policy_find(np, ref->policy), *bins, *b, *next;
	size_t matched = 0;

	if (!pol) {
		set_field(err, "remove_binaries", i, "policy");
		return fail(err, -EINVAL, "bad-request", "no network policy '%s'", ref->policy);
	}
	bins = cJSON_GetObjectItemCaseSensitive(pol, "binaries");
	for (b = cJSON_IsArray(bins) ? bins->child : NULL; b; b = next) {
		const cJSON *path = cJSON_GetObjectItemCaseSensitive(b, "path");

		next = b->next;
		if (cJSON_IsString(path) && path_match(path->valuestring, ref->path)) {
			cJSON_Delete(cJSON_DetachItemViaPointer(bins, b));
			matched++;
		}
	}
	if (!matched) {
		set_field(err, "remove_binaries", i, "path");
		return fail(err, -EINVAL, "bad-request", "network policy '%s' has no binary %s",
			    ref->policy, ref->path);
	}
	return 0;
}

static int add_endpoint(cJSON *doc, cJSON **np, const struct osh_req_json_item *it, size_t i,
			struct osh_api_err *err)
{
	cJSON *ep = it->json ? cJSON_Parse(it->json) : NULL, *pol, *eps;

	if (!cJSON_IsObject(ep)) {
		cJSON_Delete(ep);
		set_field(err, "add_endpoints", i, NULL);
		return fail(err, -EINVAL, "bad-request", "expected an endpoint object");
	}
	pol = policy_get_or_create(doc, np, it->policy);
	eps = pol ? array_member(pol, "endpoints") : NULL;
	if (!eps || !cJSON_AddItemToArray(eps, ep)) {
		cJSON_Delete(ep);
		return fail(err, -ENOMEM, "internal", "out of memory");
	}
	return 0;
}

static int add_binary(cJSON *doc, cJSON **np, const struct osh_req_binary_ref *ref,
		      struct osh_api_err *err)
{
	cJSON *pol = policy_get_or_create(doc, np, ref->policy), *bins, *b;

	bins = pol ? array_member(pol, "binaries") : NULL;
	if (!bins)
		return fail(err, -ENOMEM, "internal", "out of memory");
	cJSON_ArrayForEach (b, bins) {
		const cJSON *path = cJSON_GetObjectItemCaseSensitive(b, "path");

		if (cJSON_IsString(path) && path_match(path->valuestring, ref->path))
			return 0; /* already there */
	}
	b = cJSON_CreateObject();
	if (!b || !cJSON_AddStringToObject(b, "path", ref->path) ||
	    !cJSON_AddItemToArray(bins, b)) {
		cJSON_Delete(b);
		return fail(err, -ENOMEM, "internal", "out of memory");
	}
	return 0;
}

/* Appends {"allow": allow} to ep's rules. */
static int append_rule(cJSON *ep, const cJSON *allow)
{
	cJSON *rules = array_member(ep, "rules"), *rule = cJSON_CreateObject();

	if (!rules || !rule ||
	    !cJSON_AddItemToObject(rule, "allow", cJSON_Duplicate(allow, true)) ||
	    !cJSON_GetObjectItemCaseSensitive(rule, "allow") ||
	    !cJSON_AddItemToArray(rules, rule)) {
		cJSON_Delete(rule);
		return -ENOMEM;
	}
	return 0;
}

/* ep with port split off into an endpoint of its own, so that what is added to it covers that
 * port only. Returns the endpoint to amend, NULL when out of memory. */
static cJSON *split_port(cJSON *eps, cJSON *ep, cJSON *port)
{
	cJSON *ports = cJSON_GetObjectItemCaseSensitive(ep, "ports"), *one, *list;

	if (!port || port == cJSON_GetObjectItemCaseSensitive(ep, "port") || array_size(ports) <= 1)
		return ep;
	one = cJSON_Duplicate(ep, true);
	list = cJSON_CreateArray();
	if (!one || !list || !cJSON_AddItemToArray(list, cJSON_Duplicate(port, false)) ||
	    !list->child || !cJSON_ReplaceItemInObjectCaseSensitive(one, "ports", list)) {
		cJSON_Delete(one);
		cJSON_Delete(list);
		return NULL;
	}
	/* Appended at the end: the canonical order is the compiler's business. */
	if (!cJSON_AddItemToArray(eps, one)) {
		cJSON_Delete(one);
		return NULL;
	}
	cJSON_Delete(cJSON_DetachItemViaPointer(ports, port));
	return one;
}

static int add_rule(cJSON *np, const struct osh_req_json_item *it, size_t i,
		    struct osh_api_err *err)
{
	cJSON *item = it->json ? cJSON_Parse(it->json) : NULL, *pol, *eps, *ep, **hits = NULL;
	const cJSON *host, *port, *allow;
	size_t n = 0, cap;
	int r = 0;

	host = cJSON_GetObjectItemCaseSensitive(item, "host");
	port = cJSON_GetObjectItemCaseSensitive(item, "port");
	allow = cJSON_GetObjectItemCaseSensitive(item, "allow");
	if (!cJSON_IsString(host) || !cJSON_IsNumber(port) || !cJSON_IsObject(allow) ||
	    !(port->valuedouble >= 1 && port->valuedouble <= 65535)) {
		set_field(err, "add_rules", i, NULL);
		r = fail(err, -EINVAL, "bad-request", "expected {host, port, allow}");
		goto out;
	}
	pol = policy_find(np, it->policy);
	if (!pol) {
		set_field(err, "add_rules", i, "policy");
		r = fail(err, -EINVAL, "bad-request", "no network policy '%s'", it->policy);
		goto out;
	}
	/* Collect first: splitting inserts endpoints into the list being walked. */
	eps = cJSON_GetObjectItemCaseSensitive(pol, "endpoints");
	cap = array_size(eps);
	hits = calloc(cap ? cap : 1, sizeof(*hits));
	if (!hits) {
		r = fail(err, -ENOMEM, "internal", "out of memory");
		goto out;
	}
	for (ep = cJSON_IsArray(eps) ? eps->child : NULL; ep; ep = ep->next)
		if (n < cap && endpoint_port(ep, host->valuestring, (uint16_t)port->valuedouble))
			hits[n++] = ep;
	if (!n) {
		set_field(err, "add_rules", i, NULL);
		r = fail(err, -EINVAL, "bad-request", "network policy '%s' has no endpoint %s:%u",
			 it->policy, host->valuestring, (unsigned)port->valuedouble);
		goto out;
	}
	for (size_t k = 0; k < n; k++) {
		cJSON *target = split_port(
		    eps, hits[k],
		    endpoint_port(hits[k], host->valuestring, (uint16_t)port->valuedouble));

		if (!target || append_rule(target, allow) < 0) {
			r = fail(err, -ENOMEM, "internal", "out of memory");
			goto out;
		}
	}
out:
	free(hits);
	cJSON_Delete(item);
	return r;
}

int osh_policy_update_apply(const char *cur_json, const struct osh_req_policy_update *u,
			    char **ret_json, struct osh_api_err *err)
{
	cJSON *doc, *np;
	char *text;
	int r = 0;

	if (!u || !ret_json)
		return -EINVAL;
	if (err) {
		err->field[0] = '\0';
		err->message[0] = '\0';
	}
	doc = cur_json ? cJSON_Parse(cur_json) : NULL;
	np = cJSON_GetObjectItemCaseSensitive(doc, "network_policies");
	if (!cJSON_IsObject(doc) || (np && !cJSON_IsObject(np))) {
		cJSON_Delete(doc);
		return fail(err, -EBADMSG, "internal", "the policy in force is not a JSON policy");
	}

	for (size_t i = 0; r == 0 && i < u->n_remove_policies; i++) {
		const char *key = u->remove_policies[i];

		if (!policy_find(np, key)) {
			set_field(err, "remove_policies", i, NULL);
			r = fail(err, -EINVAL, "bad-request", "no network policy '%s'", key);
		} else {
			cJSON_DeleteItemFromObjectCaseSensitive(np, key);
		}
	}
	for (size_t i = 0; r == 0 && i < u->n_remove_endpoints; i++)
		r = remove_endpoint(np, &u->remove_endpoints[i], i, err);
	for (size_t i = 0; r == 0 && i < u->n_remove_binaries; i++)
		r = remove_binary(np, &u->remove_binaries[i], i, err);
	for (size_t i = 0; r == 0 && i < u->n_add_endpoints; i++)
		r = add_endpoint(doc, &np, &u->add_endpoints[i], i, err);
	for (size_t i = 0; r == 0 && i < u->n_add_binaries; i++)
		r = add_binary(doc, &np, &u->add_binaries[i], err);
	for (size_t i = 0; r == 0 && i < u->n_add_rules; i++)
		r = add_rule(np, &u->add_rules[i], i, err);
	if (r < 0) {
		cJSON_Delete(doc);
		return r;
	}
	text = cJSON_PrintUnformatted(doc);
	cJSON_Delete(doc);
	if (!text)
		return fail(err, -ENOMEM, "internal", "out of memory");
	*ret_json = text;
	return 0;
}
