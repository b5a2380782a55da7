// SPDX-License-Identifier: Apache-2.0
// `oshctl policy update` flags -> the API's Update body. Only the shape is checked here (fields
// present, port a number, IPv6 in brackets); what an endpoint means is the policy compiler's
// to judge, in oshd, with the same messages as a policy file gets.
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/update-args.h"

static const struct {
	const char *member;
	const char *syntax;
} kinds[] = {
	[OSHCTL_ADD_ENDPOINT] = { "add_endpoints", "POLICY:HOST:PORT[:PROTOCOL[:ACCESS]]" },
	[OSHCTL_REMOVE_ENDPOINT] = { "remove_endpoints", "POLICY:HOST:PORT" },
	[OSHCTL_ADD_BINARY] = { "add_binaries", "POLICY:PATH" },
	[OSHCTL_REMOVE_BINARY] = { "remove_binaries", "POLICY:PATH" },
	[OSHCTL_REMOVE_POLICY] = { "remove_policies", "POLICY" },
	[OSHCTL_ADD_RULE] = { "add_rules", "POLICY:HOST:PORT:METHOD:PATH" },
};

/* The cursor over one argument: fields are taken off its front. */
struct cursor {
	const char *p;
	char *err;
	size_t err_size;
	enum oshctl_update_kind kind;
};

__attribute__((format(printf, 2, 3))) static int arg_fail(struct cursor *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(c->err, c->err_size, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < c->err_size)
		snprintf(c->err + n, c->err_size - (size_t)n, " (expected %s)",
			 kinds[c->kind].syntax);
	return -EINVAL;
}

/* Takes the next ':'-terminated field (or the rest when last) into a new string. */
static int field(struct cursor *c, const char *what, bool last, char **ret)
{
	const char *end = last ? c->p + strlen(c->p) : strchr(c->p, ':');
	char *s;

	if (!end)
		return arg_fail(c, "':' missing after the %s", what);
	if (end == c->p)
		return arg_fail(c, "empty %s", what);
	s = strndup(c->p, (size_t)(end - c->p));
	if (!s)
		return -ENOMEM;
	c->p = *end ? end + 1 : end;
	*ret = s;
	return 0;
}

#define IPV6_HINT "an IPv6 host is written in brackets, as [2001:db8::1]"

/* HOST: a name or IPv4 address up to ':', or [IPv6] (its colons would split the fields). */
static int host_field(struct cursor *c, char **ret)
{
	const char *close;
	char *s;

	if (*c->p == ':')
		return arg_fail(c, "empty host (" IPV6_HINT ")");
	if (*c->p != '[')
		return field(c, "host", false, ret);
	close = strchr(c->p, ']');
	if (!close || close == c->p + 1)
		return arg_fail(c, "unterminated or empty [IPv6] host");
	if (close[1] != ':')
		return arg_fail(c, "':' missing after the [IPv6] host");
	s = strndup(c->p + 1, (size_t)(close - c->p - 1));
	if (!s)
		return -ENOMEM;
	c->p = close + 2;
	*ret = s;
	return 0;
}

/* An unbracketed host that is one group of hex digits was most likely cut out of an IPv6
 * address: say so instead of complaining about the port. */
static bool host_looks_cut(const char *arg, const char *host)
{
	size_t n = host ? strlen(host) : 0;

	if (!n || n > 4 || arg[0] == '[')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("0123456789abcdefABCDEF", host[i]))
			return false;
	return true;
}

static int port_field(struct cursor *c, bool last, int *ret)
{
	char *s = NULL, *end;
	long v;
	int r = field(c, "port", last, &s);

	if (r < 0 || !s)
		return r < 0 ? r : -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || s[0] < '0' || s[0] > '9' || v < 1 || v > 65535)
		r = arg_fail(c, "port '%s' is not a number from 1 to 65535", s);
	else
		*ret = (int)v;
	free(s);
	return r;
}

static int add_string(cJSON *o, const char *key, const char *v)
{
	return cJSON_AddStringToObject(o, key, v) ? 0 : -ENOMEM;
}

int oshctl_update_arg(cJSON *body, enum oshctl_update_kind kind, const char *arg, char *err,
		      size_t err_size)
{
	struct cursor c = { .p = arg, .err = err, .err_size = err_size, .kind = kind };
	char *policy = NULL, *host = NULL, *a = NULL, *b = NULL;
	cJSON *item = NULL, *list;
	int port = 0, r;

	if ((unsigned)kind >= sizeof(kinds) / sizeof(kinds[0]))
		return -EINVAL;
	if (kind == OSHCTL_REMOVE_POLICY) {
		r = field(&c, "policy", true, &policy);
		if (r < 0)
			goto out;
		item = cJSON_CreateString(policy);
		r = item ? 0 : -ENOMEM;
		goto add;
	}
	r = field(&c, "policy", false, &policy);
	if (r < 0)
		goto out;
	item = cJSON_CreateObject();
	if (!item || add_string(item, "policy", policy) < 0) {
		r = -ENOMEM;
		goto out;
	}
	if (kind == OSHCTL_ADD_BINARY || kind == OSHCTL_REMOVE_BINARY) {
		r = field(&c, "path", true, &a);
		if (r == 0)
			r = add_string(item, "path", a);
		goto add;
	}
	{
		const char *host_start = c.p;

		r = host_field(&c, &host);
		if (r < 0)
			goto out;
		if (host_looks_cut(host_start, host) && (c.p[0] < '0' || c.p[0] > '9')) {
			r = arg_fail(&c, IPV6_HINT);
			goto out;
		}
	}
	switch (kind) {
	case OSHCTL_REMOVE_ENDPOINT:
		r = port_field(&c, true, &port);
		break;
	case OSHCTL_ADD_ENDPOINT:
		/* PORT, then optional PROTOCOL and ACCESS; nothing after ACCESS. */
		r = port_field(&c, !strchr(c.p, ':'), &port);
		if (r == 0 && *c.p)
			r = field(&c, "protocol", !strchr(c.p, ':'), &a);
		if (r == 0 && *c.p)
			r = strchr(c.p, ':') ? arg_fail(&c, "too many fields")
					     : field(&c, "access", true, &b);
		else if (r == 0 && c.p > arg && c.p[-1] == ':')
			r = arg_fail(&c, "empty field after ':'");
		break;
	case OSHCTL_ADD_RULE:
		r = port_field(&c, false, &port);
		if (r == 0)
			r = field(&c, "method", false, &a);
		if (r == 0)
			r = field(&c, "path", true, &b);
		break;
	default:
		r = -EINVAL;
		break;
	}
	if (r < 0)
		goto out;
	if (add_string(item, "host", host) < 0 || !cJSON_AddNumberToObject(item, "port", port)) {
		r = -ENOMEM;
		goto out;
	}
	if (kind == OSHCTL_ADD_ENDPOINT) {
		if ((a && add_string(item, "protocol", a) < 0) ||
		    (b && add_string(item, "access", b) < 0))
			r = -ENOMEM;
	} else if (kind == OSHCTL_ADD_RULE) {
		cJSON *allow = cJSON_AddObjectToObject(item, "allow");

		if (!allow || add_string(allow, "method", a) < 0 ||
		    add_string(allow, "path", b) < 0)
			r = -ENOMEM;
	}
add:
	if (r < 0)
		goto out;
	list = cJSON_GetObjectItemCaseSensitive(body, kinds[kind].member);
	if (!list)
		list = cJSON_AddArrayToObject(body, kinds[kind].member);
	if (!list || !cJSON_AddItemToArray(list, item)) {
		r = -ENOMEM;
		goto out;
	}
	item = NULL;
out:
	cJSON_Delete(item);
	free(policy);
	free(host);
	free(a);
	free(b);
	return r;
}
