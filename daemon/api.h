/* SPDX-License-Identifier: Apache-2.0 */
/* oshd's HTTP/1.1 API (docs/api.md) on a listening unix socket, served by libmicrohttpd with
 * one thread per connection (event streams and exec sessions block in their own thread), and
 * optionally the same routes on TCP over TLS with client certificates. This layer reads bodies
 * (bounded), identifies the peer (SO_PEERCRED on the unix socket, the verified certificate on
 * TCP), routes, and writes answers; the manager decides. */
#ifndef OSH_DAEMON_API_H
#define OSH_DAEMON_API_H

#include <stdbool.h>
#include <sys/types.h>

struct osh_manager;
struct osh_events;

/* TLS of a TCP listener: PEM files, read once by osh_api_start. */
struct osh_api_tls {
	const char *cert;      /* the server's certificate chain */
	const char *key;       /* its private key; refused when every user may read it */
	const char *client_ca; /* CA certificates; only clients whose certificates they signed
				  complete the handshake */
};

struct osh_api_opts {
	/* A bound, listening stream socket; the API takes it. AF_UNIX when tls is NULL, else TCP. */
	int listen_fd;
	/* NULL: unix socket peers, identified by SO_PEERCRED. Set: TLS with client certificates
	 * required; a client is the local user its certificate's common name (CN) names. Read
	 * during osh_api_start only. */
	const struct osh_api_tls *tls;
	gid_t admin_gid;
	bool admin_gid_set; /* false: only uid 0 is admin */
	struct osh_manager *manager;
	struct osh_events *events;
};

struct osh_api;

/* Starts serving o->listen_fd. Returns 0, or -errno with *ret_err a message (the caller frees
 * it; NULL when out of memory) naming what failed: a TLS file that cannot be read or is unsafe,
 * libmicrohttpd without TLS, or the server not starting. On failure the descriptor stays the
 * caller's. */
int osh_api_start(const struct osh_api_opts *o, struct osh_api **ret, char **ret_err);
/* Stops accepting, ends event streams and exec sessions (their commands keep running), joins
 * every connection thread and frees. Accepts NULL. */
void osh_api_stop(struct osh_api *api);

/* Binds a unix socket at path (replacing a stale socket file, refusing if another daemon
 * answers there), with mode and group, and listens. Returns the descriptor or -errno. */
int osh_api_listen_unix(const char *path, mode_t mode, gid_t group, bool group_set, char **ret_err);

/* Binds and listens on addr (tcp_listen's ADDR:PORT, osh_config_parse_tcp). Returns the
 * descriptor, with *ret_bound the address actually bound (the port the kernel chose for port 0),
 * or -errno with *ret_err; both messages are the caller's to free. */
int osh_api_listen_tcp(const char *addr, char **ret_bound, char **ret_err);

#endif
