/* SPDX-License-Identifier: Apache-2.0 */
/* The `oshctl policy update` flags as the members of the API's Update body (docs/api.md,
 * PATCH /v1/sandboxes/{name}/policy). Pure parsing, no I/O: unit-tested in
 * tests/unit/test_cli_args.c. */
#ifndef OSH_CLI_UPDATE_ARGS_H
#define OSH_CLI_UPDATE_ARGS_H

#include <stddef.h>

#include <cjson/cJSON.h>

enum oshctl_update_kind {
	OSHCTL_ADD_ENDPOINT,	/* POLICY:HOST:PORT[:PROTOCOL[:ACCESS]] -> add_endpoints[] */
	OSHCTL_REMOVE_ENDPOINT, /* POLICY:HOST:PORT                     -> remove_endpoints[] */
	OSHCTL_ADD_BINARY,	/* POLICY:PATH                          -> add_binaries[] */
	OSHCTL_REMOVE_BINARY,	/* POLICY:PATH                          -> remove_binaries[] */
	OSHCTL_REMOVE_POLICY,	/* POLICY                               -> remove_policies[] */
	OSHCTL_ADD_RULE,	/* POLICY:HOST:PORT:METHOD:PATH         -> add_rules[] */
};

/* Parses arg as the flag of kind and appends the item to its array member of body (an
 * object; the array is created on first use). HOST is a name or an IPv4 address, or an IPv6
 * address in brackets ([2001:db8::1]); PATH is the rest of arg and may contain ':'. Returns 0,
 * -EINVAL with a one-line reason in err (err_size bytes), or -ENOMEM. body is unchanged on
 * failure. */
int oshctl_update_arg(cJSON *body, enum oshctl_update_kind kind, const char *arg, char *err,
		      size_t err_size);

#endif
