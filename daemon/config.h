/* SPDX-License-Identifier: Apache-2.0 */
/* oshd's configuration file, /etc/osh/oshd.conf: `key = value` lines, whole-line `#` comments
 * and blank lines. Values may be written in double quotes (taken literally, no escapes), which
 * is how an empty value is spelled (`event_log = ""`). Every key may appear once; an unknown key,
 * a bad value or a repeated key is an error `FILE:LINE:COL: message` naming the column of the
 * offending token, so a typo is never silently ignored. */
#ifndef OSH_DAEMON_CONFIG_H
#define OSH_DAEMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#define OSH_CONFIG_PATH "/etc/osh/oshd.conf"

/* Strings are owned by the struct (osh_config_free). */
struct osh_config {
	char *socket;	    /* unix socket path of the API */
	char *socket_group; /* group owning the socket */
	mode_t socket_mode; /* permission bits of the socket, at most 0777 */
	char *admin_group;  /* members administer every sandbox (docs/api.md "Authorization") */
	char *database;	    /* SQLite store */
	char *bpffs;	    /* where oshd pins programs and maps */
	char *event_log;    /* OCSF JSON lines; NULL: no log (`""` in the file) */
	uint64_t event_log_max_bytes; /* rotate the event log at this size */
	unsigned event_log_keep;      /* rotated event logs kept */
	size_t events_keep;	      /* event rows kept in the store */
	size_t spare_sandboxes;	      /* spares made ahead for `oshctl run` (0: none) */
	bool prove_gate;       /* refuse policy changes that add prover findings not accepted */
	char *prover_registry; /* binary capability registry folder */
	char *accepted_risks;  /* accepted prover findings; NULL: none */
	/* The optional TCP listener (docs/api.md "TCP with TLS client certificates"). NULL: none;
	 * set, the three TLS files are set too (the loader refuses one without the others). */
	char *tcp_listen;    /* ADDR:PORT as osh_config_parse_tcp() reads it */
	char *tls_cert;	     /* the server's certificate chain, PEM */
	char *tls_key;	     /* its private key, PEM */
	char *tls_client_ca; /* the CA certificates that sign client certificates, PEM */
};

/* Fills *ret with the built-in defaults (the values documented in examples/oshd.conf).
 * Returns 0 or -ENOMEM (then *ret is untouched). */
int osh_config_defaults(struct osh_config *ret);

/* Reads path (NULL: OSH_CONFIG_PATH) over the defaults. A missing file is not an error unless
 * explicit (the user named it); then the defaults are the result. Returns 0, -EINVAL for a file
 * that does not parse or validate, or the -errno of reading it; on failure *ret_err (when given)
 * is a malloc'ed one-line message, `FILE:LINE:COL: message` for a bad line, `FILE: message`
 * otherwise, and *ret is untouched. */
int osh_config_load(const char *path, bool explicit, struct osh_config *ret, char **ret_err);

/* Parses tcp_listen's value: `A.B.C.D:PORT` or `[IPV6]:PORT` (addresses only, never names, so
 * start-up needs no resolver), PORT 0 to 65535 (0: a free port the kernel picks). Fills *ret with
 * a sockaddr_in or sockaddr_in6 and *ret_len with its size. Returns 0 or -EINVAL. */
int osh_config_parse_tcp(const char *v, struct sockaddr_storage *ret, socklen_t *ret_len);

/* Frees the members and zeroes *cfg; NULL is fine. */
void osh_config_free(struct osh_config *cfg);

#endif
