/* SPDX-License-Identifier: Apache-2.0 */
/* oshd's HTTP/1.1 API (docs/api.md) on a listening unix socket, served by libmicrohttpd with
 * one thread per connection (event streams and exec sessions block in their own thread). This
 * layer reads bodies (bounded), identifies the peer by SO_PEERCRED, routes, and writes answers;
 * the manager decides. */
#ifndef OSH_DAEMON_API_H
#define OSH_DAEMON_API_H

#include <stdbool.h>
#include <sys/types.h>

struct osh_manager;
struct osh_events;

struct osh_api_opts {
	int listen_fd; /* a bound, listening AF_UNIX stream socket; the API takes it */
	gid_t admin_gid;
	bool admin_gid_set; /* false: only uid 0 is admin */
	struct osh_manager *manager;
	struct osh_events *events;
};

struct osh_api;

int osh_api_start(const struct osh_api_opts *o, struct osh_api **ret, char **ret_err);
/* Stops accepting, ends event streams and exec sessions (their commands keep running), joins
 * every connection thread and frees. Accepts NULL. */
void osh_api_stop(struct osh_api *api);

/* Binds a unix socket at path (replacing a stale socket file, refusing if another daemon
 * answers there), with mode and group, and listens. Returns the descriptor or -errno. */
int osh_api_listen_unix(const char *path, mode_t mode, gid_t group, bool group_set, char **ret_err);

#endif
