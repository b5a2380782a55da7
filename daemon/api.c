// SPDX-License-Identifier: Apache-2.0
// The API layer: libmicrohttpd on a unix socket (or on TCP with TLS), thread per connection.
// Bodies are read up to OSH_API_BODY_MAX, the peer is identified once per request (SO_PEERCRED,
// or the verified client certificate), and each route hands a parsed request to the manager,
// whose answer is written back as JSON.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>

#include "api-req.h"
#include "api.h"
#include "config.h"
#include "events.h"
#include "manager.h"

#define EXEC_PROTOCOL	"osh-exec/1"
#define STREAM_BATCH	64
#define POLL_SLICE_MS	500
#define FDS_TIMEOUT_MS	10000
#define MAX_CONNECTIONS 512
#define NDJSON		"application/x-ndjson"
#define JSON		"application/json"
#define SANDBOX_CGROUPS "/osh/" /* the engine's subtree, as /proc/PID/cgroup shows it */
#define PEM_MAX		(1u << 20)
#define EXEC_ON_TCP                                                                                \
	"exec hands the client's stdin, stdout and stderr to the command as descriptors "          \
	"(SCM_RIGHTS), which only the unix socket carries: use oshd's unix socket"

/* TLS 1.2 and 1.3 only, forward-secret AEAD suites, no session tickets: every connection shows
 * its client certificate in a full handshake, whatever libmicrohttpd's and GnuTLS's defaults
 * become (clients of a local daemon gain little from resumption). */
#define TLS_PRIORITIES                                                                             \
	"SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-RSA:-CIPHER-ALL:+AES-256-GCM:"             \
	"+AES-128-GCM:+CHACHA20-POLY1305:%NO_TICKETS"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* Linux 6.5; Debian 12's headers predate it */
#endif

enum { PEM_CERT, PEM_KEY, PEM_CA, N_PEM };

struct osh_api {
	struct osh_api_opts o;
	struct MHD_Daemon *mhd;
	atomic_bool stopping;
	bool tls;	  /* TCP with TLS: identity from the client certificate */
	char *pem[N_PEM]; /* TLS files' contents, kept while libmicrohttpd may use them */
};

/* Client certificates must be good for TLS client authentication: a server certificate that
 * the same CA signed does not log in. gnutls reads the OID as a C string. */
static char client_purpose_oid[] = GNUTLS_KP_TLS_WWW_CLIENT;
static gnutls_typed_vdata_st client_purpose[] = {
	{ .type = GNUTLS_DT_KEY_PURPOSE_OID, .data = (unsigned char *)client_purpose_oid },
};

/* One request, from its first header to its answer. */
struct req {
	char *body;
	size_t len;
	bool too_large;
	struct osh_caller caller;
	bool caller_ok;
	bool sandboxed; /* the peer runs in a sandbox: every route is refused */
	int fd;
};

static bool in_groups(uid_t uid, gid_t primary, gid_t want)
{
	struct passwd pwbuf, *pw = NULL;
	char buf[4096];
	gid_t groups[256];
	int n = 256;

	if (primary == want)
		return true;
	if (getpwuid_r(uid, &pwbuf, buf, sizeof(buf), &pw) || !pw)
		return false;
	if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) < 0)
		return false;
	for (int i = 0; i < n; i++)
		if (groups[i] == want)
			return true;
	return false;
}

/* Whether the peer runs inside a sandbox (any cgroup under osh's subtree). A sandboxed agent
 * that reaches the socket (Landlock does not govern connecting to a unix socket) must not
 * create itself a wider sandbox or change its own policy. The pidfd pins the identity: the
 * cgroup read from /proc is the peer's only if the pidfd still names a live process after the
 * read. Fails closed: a peer that cannot be checked counts as sandboxed. */
static bool peer_sandboxed(int fd, pid_t pid)
{
	char path[64], line[512];
	socklen_t len = sizeof(int);
	bool in = true, found = false;
	int pidfd = -1;
	FILE *f;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0)
		pidfd = (int)syscall(SYS_pidfd_open, pid, 0); /* before 6.5: pid reuse window */
	if (pidfd < 0)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "0::", 3)) {
			found = true;
			in = !strncmp(line + 3, SANDBOX_CGROUPS, strlen(SANDBOX_CGROUPS));
			break;
		}
	if (f)
		fclose(f);
	if (!found || syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0)
		in = true;
	close(pidfd);
	return in;
}

static bool is_admin(const struct osh_api *api, uid_t uid, gid_t gid)
{
	return uid == 0 || (api->o.admin_gid_set && in_groups(uid, gid, api->o.admin_gid));
}

static int peer_caller(struct osh_api *api, struct MHD_Connection *conn, struct req *r)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (!ci)
		return -EIO;
	r->fd = ci->connect_fd;
	if (getsockopt(r->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	r->caller = (struct osh_caller){ .pid = cred.pid, .uid = cred.uid, .gid = cred.gid };
	r->caller.admin = is_admin(api, cred.uid, cred.gid);
	r->sandboxed = peer_sandboxed(r->fd, cred.pid);
	r->caller_ok = true;
	return 0;
}

/* "ADDR:PORT" or "[ADDR]:PORT" of an AF_INET or AF_INET6 address. */
static void addr_format(const struct sockaddr *sa, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN] = "?";
	bool v6 = sa->sa_family == AF_INET6;
	const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)sa;
	const struct sockaddr_in *a4 = (const struct sockaddr_in *)sa;

	inet_ntop(sa->sa_family, v6 ? (const void *)&a6->sin6_addr : (const void *)&a4->sin_addr,
		  host, sizeof(host));
	snprintf(buf, size, v6 ? "[%s]:%u" : "%s:%u", host,
		 ntohs(v6 ? a6->sin6_port : a4->sin_port));
}

/* Every TLS connection must present a certificate that the client CA signed, for client
 * authentication, before any byte of HTTP: the handshake fails otherwise. libmicrohttpd only
 * asks for a certificate (GNUTLS_CERT_REQUEST) and verifies nothing; its session exists by the
 * time a connection is announced, and the handshake runs later in the connection's thread.
 * At the end, a certificate that failed says why in the log (libmicrohttpd's own line says
 * only that the handshake failed). */
static void tls_connection_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
				  enum MHD_ConnectionNotificationCode toe)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	const union MHD_ConnectionInfo *ai;
	gnutls_datum_t why = { 0 };
	char peer[INET6_ADDRSTRLEN + 8] = "?";
	unsigned int status;

	if (!ci || !ci->tls_session)
		return; /* tls_caller refuses every request of such a connection */
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		gnutls_certificate_server_set_request(ci->tls_session, GNUTLS_CERT_REQUIRE);
		gnutls_session_set_verify_cert2(ci->tls_session, client_purpose, 1, 0);
		return;
	}
	/* (unsigned)-1: no certificate was verified (none sent, or the handshake failed first). */
	status = gnutls_session_get_verify_cert_status(ci->tls_session);
	if (!status || status == (unsigned int)-1)
		return;
	ai = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ai && ai->client_addr)
		addr_format(ai->client_addr, peer, sizeof(peer));
	if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &why, 0) < 0)
		why.data = NULL;
	for (size_t n = why.data ? strlen((char *)why.data) : 0; n && why.data[n - 1] == ' ';)
		why.data[--n] = '\0';
	fprintf(stderr, "<5>oshd: notice: tls: refused the client certificate of %s: %s\n", peer,
		why.data ? (const char *)why.data : "it did not verify");
	gnutls_free(why.data);
}

/* A local user name as useradd accepts them, without the characters a log line or a message
 * would have to escape. */
static bool is_user_name(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > 32 || v[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') ||
		      (v[i] >= '0' && v[i] <= '9') || v[i] == '_' || v[i] == '-' || v[i] == '.'))
			return false;
	return true;
}

/* The subject's one common name of the peer's (verified) certificate into cn. */
static int peer_cn(gnutls_session_t s, char *cn, size_t size)
{
	const gnutls_datum_t *peers;
	gnutls_x509_crt_t crt = NULL;
	unsigned int n = 0;
	size_t len = size, more = 0;
	int r = -EPERM;

	peers = gnutls_certificate_get_peers(s, &n);
	if (!peers || !n || gnutls_x509_crt_init(&crt) < 0)
		return -EPERM;
	/* A second CN would make "the" name ambiguous: refused, not guessed. */
	if (gnutls_x509_crt_import(crt, &peers[0], GNUTLS_X509_FMT_DER) == 0 &&
	    gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &len) == 0 &&
	    gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 1, 0, NULL, &more) ==
		GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
		r = 0;
	gnutls_x509_crt_deinit(crt);
	return r;
}

/* A TCP peer is the local user its verified certificate's CN names, with that user's authority
 * (admin: uid 0 or the admin group), as if it had connected to the unix socket as that user. A
 * sandbox's commands run as a local user, so a principal with no account could own none. On
 * failure why says what to tell the client. */
static int tls_caller(struct osh_api *api, struct MHD_Connection *conn, struct req *r, char *why,
		      size_t why_size)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	const union MHD_ConnectionInfo *fi =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct passwd pwbuf, *pw = NULL;
	char cn[256], buf[4096];
	unsigned int status = ~0u;

	if (!ci || !ci->tls_session || !fi) {
		snprintf(why, why_size, "no TLS session");
		return -EPERM;
	}
	r->fd = fi->connect_fd;
	/* Verified again although the handshake did: a session set up without the check above
	 * must not be served. */
	if (gnutls_certificate_verify_peers(ci->tls_session, client_purpose, 1, &status) < 0 ||
	    status) {
		snprintf(why, why_size, "no client certificate that tls_client_ca signed");
		return -EPERM;
	}
	if (peer_cn(ci->tls_session, cn, sizeof(cn)) < 0) {
		snprintf(why, why_size,
			 "the client certificate's subject must have exactly one common name (CN)");
		return -EPERM;
	}
	if (!is_user_name(cn) || getpwnam_r(cn, &pwbuf, buf, sizeof(buf), &pw) || !pw) {
		snprintf(why, why_size,
			 "the client certificate's CN must name a local user; '%.64s' does not",
			 cn);
		return -EPERM;
	}
	r->caller = (struct osh_caller){ .pid = 0, .uid = pw->pw_uid, .gid = pw->pw_gid };
	r->caller.admin = is_admin(api, pw->pw_uid, pw->pw_gid);
	r->sandboxed = false; /* unknowable over TCP (docs/api.md) */
	r->caller_ok = true;
	return 0;
}

/* ---- answers ------------------------------------------------------------------------------ */

static enum MHD_Result send_text(struct MHD_Connection *conn, unsigned int status, char *text,
				 size_t len, const char *type)
{
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ok;

	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ok = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ok;
}

static enum MHD_Result send_answer(struct osh_api *api, struct MHD_Connection *conn,
				   struct osh_answer *a)
{
	char *text = a->body ? cJSON_PrintUnformatted(a->body) : NULL;
	char *line;
	size_t len;

	cJSON_Delete(a->body);
	a->body = NULL;
	if (!text) {
		a->status = 500;
		text = strdup("{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}");
		if (!text)
			return MHD_NO;
	}
	len = strlen(text);
	line = realloc(text, len + 2);
	if (!line) {
		free(text);
		return MHD_NO;
	}
	line[len] = '\n';
	line[len + 1] = '\0';
	osh_manager_count_request(api->o.manager, a->status);
	return send_text(conn, a->status, line, len + 1, JSON);
}

static enum MHD_Result send_error(struct osh_api *api, struct MHD_Connection *conn,
				  unsigned int status, const char *code, const char *msg,
				  const char *field)
{
	struct osh_answer a = { 0 };

	osh_answer_error(&a, status, code, "%s", msg);
	if (field && *field)
		cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(a.body, "error"), "field",
					field);
	return send_answer(api, conn, &a);
}

static enum MHD_Result send_req_error(struct osh_api *api, struct MHD_Connection *conn,
				      const struct osh_api_err *e)
{
	char msg[sizeof(e->field) + sizeof(e->message) + 4];

	if (e->field[0])
		snprintf(msg, sizeof(msg), "%s: %s", e->field, e->message);
	else
		snprintf(msg, sizeof(msg), "%s", e->message);
	if (e->code && !strcmp(e->code, "too-large"))
		return send_error(api, conn, 413, e->code, msg, e->field);
	return send_error(api, conn, 400, e->code ? e->code : "bad-request", msg, e->field);
}

/* ---- events ------------------------------------------------------------------------------- */

struct stream {
	struct osh_api *api;
	struct osh_caller caller;
	char *sandbox; /* filter; NULL: all the caller may see */
	int64_t since;
	size_t limit; /* 0: none */
	size_t sent;
	int fd;
	bool follow;
	char *pending; /* lines not yet handed to MHD */
	size_t plen, pcap, poff;
};

static int stream_collect(int64_t id, const char *json, void *ctx)
{
	struct stream *s = ctx;
	size_t n = strlen(json);

	s->since = id;
	if (!osh_manager_event_visible(s->api->o.manager, &s->caller, json))
		return 0;
	if (s->limit && s->sent >= s->limit)
		return 1;
	if (s->plen + n + 1 > s->pcap) {
		size_t cap = (s->plen + n + 1) * 2;
		char *p = realloc(s->pending, cap);

		if (!p)
			return -ENOMEM;
		s->pending = p;
		s->pcap = cap;
	}
	memcpy(s->pending + s->plen, json, n);
	s->pending[s->plen + n] = '\n';
	s->plen += n + 1;
	s->sent++;
	return 0;
}

static bool peer_gone(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLRDHUP };

	return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *s = cls;

	while (s->poff == s->plen) {
		int r;

		s->poff = s->plen = 0;
		if (s->limit && s->sent >= s->limit)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (atomic_load(&s->api->stopping) || peer_gone(s->fd))
			return MHD_CONTENT_READER_END_OF_STREAM;
		r = osh_events_read(s->api->o.events, s->since, s->sandbox, STREAM_BATCH,
				    s->follow ? POLL_SLICE_MS : 0, stream_collect, s);
		if (r < 0)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		if (!s->follow && s->plen == 0)
			return MHD_CONTENT_READER_END_OF_STREAM;
	}
	if (max > s->plen - s->poff)
		max = s->plen - s->poff;
	memcpy(buf, s->pending + s->poff, max);
	s->poff += max;
	return (ssize_t)max;
}

static void stream_free(void *cls)
{
	struct stream *s = cls;

	free(s->pending);
	free(s->sandbox);
	free(s);
}

static bool parse_ll(const char *s, long long min, long long *ret)
{
	char *end;
	long long v;

	if (!s)
		return true;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < min)
		return false;
	*ret = v;
	return true;
}

static enum MHD_Result route_events(struct osh_api *api, struct MHD_Connection *conn, struct req *r)
{
	const char *sb = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "sandbox");
	const char *follow = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "follow");
	long long since = 0, limit = 0;
	struct osh_answer a = { 0 };
	struct MHD_Response *resp;
	struct stream *s;
	enum MHD_Result ok;

	if (!parse_ll(MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "since"), 0, &since))
		return send_error(api, conn, 400, "bad-request", "since: expected an event id",
				  "since");
	if (!parse_ll(MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "limit"), 0, &limit))
		return send_error(api, conn, 400, "bad-request", "limit: expected a count",
				  "limit");
	if (follow && strcmp(follow, "0") && strcmp(follow, "1") && strcmp(follow, "true") &&
	    strcmp(follow, "false"))
		return send_error(api, conn, 400, "bad-request", "follow: expected 0 or 1",
				  "follow");
	if (sb) {
		osh_manager_events_check(api->o.manager, &r->caller, sb, &a);
		if (a.body)
			return send_answer(api, conn, &a);
	}
	s = calloc(1, sizeof(*s));
	if (!s || (sb && !(s->sandbox = strdup(sb)))) {
		free(s);
		return send_error(api, conn, 500, "internal", "out of memory", NULL);
	}
	s->api = api;
	s->caller = r->caller;
	s->since = since;
	s->limit = (size_t)limit;
	s->fd = r->fd;
	s->follow = follow && (!strcmp(follow, "1") || !strcmp(follow, "true"));
	resp =
	    MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_read, s, stream_free);
	if (!resp) {
		stream_free(s);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, NDJSON);
	osh_manager_count_request(api->o.manager, 200);
	ok = MHD_queue_response(conn, 200, resp);
	MHD_destroy_response(resp);
	return ok;
}

/* ---- exec --------------------------------------------------------------------------------- */

struct exec_session {
	struct osh_api *api;
	struct osh_caller caller;
	char *name;
	struct osh_req_exec req;
	/* With "events": the thread that streams them. The session writes nothing while it runs
	 * (the pid line comes before it starts, the exit line after it ended). */
	pthread_t events_thread;
	bool events_on;
	int sock; /* the upgraded connection */
	/* Created by this request (a create with "exec"): the sandbox is removed if its command
	 * never starts; created is the answer to write first. */
	bool own, started;
	cJSON *created;
	int64_t since;		/* the newest event id looked at (the events thread's) */
	_Atomic int64_t until;	/* 0: follow; else end once every event up to it is sent */
	atomic_bool events_end; /* end now: the client is gone or oshd stops */
};

static void session_free(struct exec_session *x)
{
	if (!x)
		return;
	osh_req_exec_free(&x->req);
	cJSON_Delete(x->created);
	free(x->name);
	free(x);
}

/* A session's own sandbox (a create with "exec") whose command never started goes: its client
 * is gone or failed, and nothing else would remove it. */
static void session_abandon(struct exec_session *x)
{
	struct osh_answer a = { 0 };

	if (!x || !x->own || x->started)
		return;
	osh_manager_sandbox_delete(x->api->o.manager, &x->caller, x->name, &a);
	cJSON_Delete(a.body);
}

/* Sends on the session's socket (SO_SNDTIMEO: POLL_SLICE_MS per wait). A client that stops
 * reading (oshctl stopped with Ctrl-Z while events pile up) keeps a send waiting, but not past
 * oshd's stop or the end of the events thread. */
static int session_send(struct exec_session *x, const char *text, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = send(x->sock, text + off, len - off, MSG_NOSIGNAL);

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			return n < 0 ? -errno : -EPIPE;
		if (atomic_load(&x->events_end) || atomic_load(&x->api->stopping))
			return -ECANCELED;
	}
	return 0;
}

static void write_line(struct exec_session *x, cJSON *o)
{
	char *text = cJSON_PrintUnformatted(o);
	size_t len;

	cJSON_Delete(o);
	if (!text)
		return;
	len = strlen(text);
	text[len++] = '\n'; /* the NUL is not sent */
	(void)session_send(x, text, len);
	free(text);
}

static void write_error(struct exec_session *x, const char *code, const char *msg, int exit_status)
{
	cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");

	cJSON_AddStringToObject(e, "code", code);
	cJSON_AddStringToObject(e, "message", msg);
	if (exit_status >= 0)
		cJSON_AddNumberToObject(o, "exit", exit_status);
	write_line(x, o);
}

/* Receives the 'F' byte with the client's three descriptors. */
static int recv_fds(int sock, int fds[3])
{
	union {
		char buf[CMSG_SPACE(3 * sizeof(int))];
		struct cmsghdr align;
	} u;
	char byte = 0;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = u.buf,
			      .msg_controllen = sizeof(u.buf) };
	struct pollfd p = { .fd = sock, .events = POLLIN };
	struct cmsghdr *c;
	ssize_t n;
	int got = 0;

	fds[0] = fds[1] = fds[2] = -1;
	if (poll(&p, 1, FDS_TIMEOUT_MS) <= 0)
		return -ETIMEDOUT;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			int *v = (int *)CMSG_DATA(c);

			for (size_t i = 0; i < k; i++) {
				if (got < 3)
					fds[got++] = v[i];
				else
					close(v[i]);
			}
		}
	if (n != 1 || byte != 'F' || got != 3 || (msg.msg_flags & MSG_CTRUNC)) {
		for (int i = 0; i < got; i++)
			close(fds[i]);
		fds[0] = fds[1] = fds[2] = -1;
		return -EPROTO;
	}
	return 0;
}

/* Reads {"signal": N} lines from the client and passes each on to the command's process
 * group. Returns false when the client has gone. */
static bool relay_signals(int sock, pid_t pid, char *buf, size_t *len, size_t cap)
{
	ssize_t n = recv(sock, buf + *len, cap - *len - 1, MSG_DONTWAIT);
	char *nl;

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		return false;
	if (n < 0)
		return true;
	*len += (size_t)n;
	buf[*len] = '\0';
	while ((nl = strchr(buf, '\n'))) {
		cJSON *o, *sig;

		*nl = '\0';
		o = cJSON_Parse(buf);
		sig = cJSON_GetObjectItemCaseSensitive(o, "signal");
		if (cJSON_IsNumber(sig) && sig->valueint > 0 && sig->valueint < 65) {
			/* The command leads its own session, so its process group is orphaned and
			 * the kernel discards the terminal stop signals there: stop it for real. */
			int sn = sig->valueint == SIGTSTP || sig->valueint == SIGTTIN ||
					 sig->valueint == SIGTTOU
				     ? SIGSTOP
				     : sig->valueint;

			if (kill(-pid, sn) < 0)
				kill(pid, sn);
		}
		cJSON_Delete(o);
		*len -= (size_t)(nl + 1 - buf);
		memmove(buf, nl + 1, *len + 1);
	}
	if (*len >= cap - 1) /* a line that long is not ours: drop it */
		*len = 0;
	return true;
}

/* ---- the sandbox's events on the exec connection ("events": true) ----
 * A thread of the session sends them as {"event": ...} lines while the command runs. When it
 * has exited, osh_manager_exec_finish has given every event of its processes an id; the thread
 * then sends the rest up to that id and ends, and only then the exit line follows: the client
 * has every event of the run before the exit, with no wait of its own. */

static int event_line(int64_t id, const char *json, void *ctx)
{
	struct exec_session *x = ctx;
	int64_t until = atomic_load(&x->until);
	char *line;
	int n, r;

	/* Past the command's last event: a later one is another command's, or (after the name
	 * was taken again) another sandbox's. */
	if (until && id > until) {
		x->since = until;
		return 1;
	}
	x->since = id;
	if (!osh_manager_event_visible(x->api->o.manager, &x->caller, json))
		return 0;
	n = asprintf(&line, "{\"event\":%s}\n", json);
	if (n < 0)
		return 0; /* this one is lost; the stream goes on */
	r = session_send(x, line, (size_t)n);
	free(line);
	if (r < 0)
		atomic_store(&x->events_end, true);
	return r < 0;
}

static void *exec_events_main(void *arg)
{
	struct exec_session *x = arg;
	struct osh_events *ev = x->api->o.events;

	while (!atomic_load(&x->events_end) && !atomic_load(&x->api->stopping)) {
		/* The generation first: a wake after it stops the wait below (exec_events_end). */
		uint64_t gen = osh_events_wake_gen(ev);
		int64_t until = atomic_load(&x->until);
		int r = osh_events_read_woken(ev, gen, x->since, x->name, STREAM_BATCH,
					      until ? 0 : POLL_SLICE_MS, event_line, x);

		if (r < 0 || (until && (r == 0 || x->since >= until)))
			break;
	}
	return NULL;
}

/* Before the command starts: its events are those after the newest id now (an earlier sandbox
 * of this name may have left some, and the sandbox's earlier commands' are theirs). */
static void exec_events_since(struct exec_session *x)
{
	struct osh_events_stats st;

	if (!x->req.events || !x->api->o.events)
		return;
	osh_events_stats(x->api->o.events, &st);
	x->since = st.last_id;
}

static void exec_events_start(struct exec_session *x)
{
	if (!x->req.events || !x->api->o.events)
		return;
	x->events_on = pthread_create(&x->events_thread, NULL, exec_events_main, x) == 0;
	if (!x->events_on)
		fprintf(stderr,
			"<4>oshd: warning: sandbox %s: no thread to stream a command's events on "
			"its exec connection; they are in the event log and `oshctl logs`\n",
			x->name);
}

/* Ends the events thread once it has sent every event up to last (0: at once). */
static void exec_events_end(struct exec_session *x, int64_t last)
{
	if (!x->events_on)
		return;
	if (last > 0)
		atomic_store(&x->until, last);
	else
		atomic_store(&x->events_end, true);
	osh_events_wake(x->api->o.events);
	pthread_join(x->events_thread, NULL);
	x->events_on = false;
}

static void exec_session_run(struct exec_session *x, int sock)
{
	struct osh_manager *m = x->api->o.manager;
	struct osh_exec *ex = NULL;
	char *err = NULL, buf[1024];
	size_t blen = 0;
	bool client = true;
	int fds[3], status, r;
	cJSON *o;

	r = recv_fds(sock, fds);
	if (r < 0) {
		write_error(x, "bad-request",
			    "expected one byte 'F' carrying stdin, stdout and stderr (SCM_RIGHTS)",
			    125);
		return;
	}
	exec_events_since(x);
	r = osh_manager_exec_start(m, &x->caller, x->name, &x->req, fds, &ex, &status, &err);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	if (r < 0) {
		write_error(x,
			    r == -ENOENT    ? "not-found"
			    : status == 127 ? "command-not-found"
			    : status == 126 ? "cannot-execute"
					    : "internal",
			    err ? err : strerror(-r), status);
		free(err);
		return;
	}
	x->started = true;
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "pid", osh_exec_pid(ex));
	write_line(x, o);
	exec_events_start(x);
	for (;;) {
		struct pollfd p[2] = { { .fd = osh_exec_pidfd(ex), .events = POLLIN },
				       { .fd = client ? sock : -1, .events = POLLIN | POLLRDHUP } };

		if (poll(p, 2, POLL_SLICE_MS) < 0 && errno != EINTR)
			break;
		if (p[0].revents & POLLIN) {
			int64_t last = 0;

			status = osh_manager_exec_finish(m, ex, &last);
			exec_events_end(x, last);
			if (client) {
				o = cJSON_CreateObject();
				cJSON_AddNumberToObject(o, "exit", status);
				cJSON_AddNumberToObject(o, "last_event_id", (double)last);
				write_line(x, o);
			}
			/* After the report: the client need not wait for the removal. */
			osh_manager_exec_release(m, ex);
			return;
		}
		if (client && (p[1].revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR)) &&
		    !relay_signals(sock, osh_exec_pid(ex), buf, &blen, sizeof(buf))) {
			/* The client went away: the command loses its terminal's owner. */
			client = false;
			exec_events_end(x, 0);
			if (kill(-osh_exec_pid(ex), SIGHUP) < 0)
				kill(osh_exec_pid(ex), SIGHUP);
		}
		if (atomic_load(&x->api->stopping)) {
			exec_events_end(x, 0);
			if (client)
				write_error(x, "unavailable",
					    "oshd is stopping; the command keeps running", -1);
			/* Not reaped: it outlives this oshd and is re-parented. */
			close(osh_exec_pidfd(ex));
			free(ex);
			return;
		}
	}
}

static void exec_upgraded(void *cls, struct MHD_Connection *conn, void *con_cls,
			  const char *extra_in, size_t extra_in_size, MHD_socket sock,
			  struct MHD_UpgradeResponseHandle *urh)
{
	struct exec_session *x = cls;

	x->sock = sock;
	(void)setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO,
			 &(struct timeval){ .tv_usec = POLL_SLICE_MS * 1000 },
			 sizeof(struct timeval));
	/* Thread-per-connection: this thread is the session's. Bytes read by the HTTP parser
	 * would have lost their descriptors; the client sends nothing before the 101. */
	if (extra_in_size) {
		write_error(x, "bad-request", "data sent before 101 Switching Protocols", 125);
	} else {
		if (x->created) {
			cJSON *o = cJSON_CreateObject();

			/* The client prints what the sandbox is before it hands over its stdio. */
			if (o && cJSON_AddItemToObject(o, "sandbox", x->created))
				x->created = NULL;
			write_line(x, o);
		}
		exec_session_run(x, sock);
	}
	session_abandon(x);
	session_free(x);
	MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
}

static bool header_has(struct MHD_Connection *conn, const char *name, const char *token)
{
	const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);

	return v && strcasestr(v, token);
}

static enum MHD_Result route_exec(struct osh_api *api, struct MHD_Connection *conn, struct req *r,
				  const char *name)
{
	struct osh_api_err e = { 0 };
	struct osh_answer a = { 0 };
	struct exec_session *x;
	struct MHD_Response *resp;
	enum MHD_Result ok;

	if (!header_has(conn, MHD_HTTP_HEADER_UPGRADE, EXEC_PROTOCOL) ||
	    !header_has(conn, MHD_HTTP_HEADER_CONNECTION, "upgrade"))
		return send_error(api, conn, 400, "bad-request",
				  "exec needs `Connection: Upgrade` and `Upgrade: " EXEC_PROTOCOL
				  "` (see docs/api.md, the exec protocol)",
				  NULL);
	x = calloc(1, sizeof(*x));
	if (!x || !(x->name = strdup(name))) {
		free(x);
		return send_error(api, conn, 500, "internal", "out of memory", NULL);
	}
	if (osh_req_exec_parse(r->body ? r->body : "", r->len, &x->req, &e) < 0) {
		session_free(x);
		return send_req_error(api, conn, &e);
	}
	osh_manager_exec_check(api->o.manager, &r->caller, name, &x->req, &a);
	if (a.body) {
		session_free(x);
		return send_answer(api, conn, &a);
	}
	x->api = api;
	x->caller = r->caller;
	resp = MHD_create_response_for_upgrade(exec_upgraded, x);
	if (!resp) {
		session_free(x);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, EXEC_PROTOCOL);
	osh_manager_count_request(api->o.manager, 101);
	ok = MHD_queue_response(conn, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
	MHD_destroy_response(resp);
	if (ok != MHD_YES)
		session_free(x);
	return ok;
}

/* POST /v1/sandboxes with "exec": the create, then, on its connection, the exec protocol with
 * the Sandbox as the first line (docs/api.md): one request for `oshctl run`. Takes q. */
static enum MHD_Result route_create_exec(struct osh_api *api, struct MHD_Connection *conn,
					 struct req *r, struct osh_req_create *q)
{
	struct osh_answer a = { 0 };
	struct exec_session *x = NULL;
	struct MHD_Response *resp;
	enum MHD_Result ok;
	const cJSON *name;

	if (!header_has(conn, MHD_HTTP_HEADER_UPGRADE, EXEC_PROTOCOL) ||
	    !header_has(conn, MHD_HTTP_HEADER_CONNECTION, "upgrade")) {
		osh_req_create_free(q);
		return send_error(
		    api, conn, 400, "bad-request",
		    "a create with exec needs `Connection: Upgrade` and `Upgrade: " EXEC_PROTOCOL
		    "` (see docs/api.md, the exec protocol)",
		    "exec");
	}
	if (api->tls) {
		osh_req_create_free(q);
		return send_error(api, conn, 501, "exec-needs-unix-socket", EXEC_ON_TCP, NULL);
	}
	osh_manager_sandbox_create(api->o.manager, &r->caller, q, &a);
	if (a.status != 201) {
		osh_req_create_free(q);
		return send_answer(api, conn, &a);
	}
	name = cJSON_GetObjectItemCaseSensitive(a.body, "name");
	x = calloc(1, sizeof(*x));
	if (!x || !cJSON_IsString(name) || !(x->name = strdup(name->valuestring))) {
		free(x);
		osh_req_create_free(q);
		cJSON_Delete(a.body);
		return send_error(api, conn, 500, "internal", "out of memory", NULL);
	}
	x->api = api;
	x->caller = r->caller;
	x->own = true;
	x->created = a.body;
	x->req = *q->exec;
	memset(q->exec, 0, sizeof(*q->exec));
	osh_req_create_free(q);
	resp = MHD_create_response_for_upgrade(exec_upgraded, x);
	if (!resp) {
		session_abandon(x);
		session_free(x);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, EXEC_PROTOCOL);
	osh_manager_count_request(api->o.manager, 101);
	ok = MHD_queue_response(conn, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
	MHD_destroy_response(resp);
	if (ok != MHD_YES) {
		session_abandon(x);
		session_free(x);
	}
	return ok;
}

/* ---- routing ------------------------------------------------------------------------------ */

/* Splits "/v1/sandboxes/NAME/REST" into NAME and REST ("" when absent); false if the path is
 * not under /v1/sandboxes/. */
static bool split_sandbox_path(const char *url, char *name, size_t nsize, const char **rest)
{
	const char *p = url + strlen("/v1/sandboxes/"), *slash;
	size_t n;

	if (strncmp(url, "/v1/sandboxes/", strlen("/v1/sandboxes/")))
		return false;
	slash = strchr(p, '/');
	n = slash ? (size_t)(slash - p) : strlen(p);
	if (!n || n >= nsize)
		return false;
	memcpy(name, p, n);
	name[n] = '\0';
	*rest = slash ? slash : "";
	return true;
}

static enum MHD_Result method_not_allowed(struct osh_api *api, struct MHD_Connection *conn,
					  const char *method, const char *url)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "%s is not allowed on %.400s", method, url);
	return send_error(api, conn, 405, "method-not-allowed", msg, NULL);
}

static bool is(const char *method, const char *want)
{
	return !strcmp(method, want);
}

static enum MHD_Result route(struct osh_api *api, struct MHD_Connection *conn, const char *url,
			     const char *method, struct req *r)
{
	struct osh_manager *m = api->o.manager;
	struct osh_api_err e = { 0 };
	struct osh_answer a = { 0 };
	const char *body = r->body ? r->body : "", *rest;
	char name[128];

	if (!strcmp(url, "/metrics")) {
		char *text = NULL;

		if (!is(method, "GET"))
			return method_not_allowed(api, conn, method, url);
		if (osh_manager_metrics(m, &text) < 0)
			return send_error(api, conn, 500, "internal", "rendering metrics", NULL);
		osh_manager_count_request(m, 200);
		return send_text(conn, 200, text, strlen(text), "text/plain; version=0.0.4");
	}
	if (!strcmp(url, "/v1/status")) {
		if (!is(method, "GET"))
			return method_not_allowed(api, conn, method, url);
		osh_manager_status(m, &a);
		return send_answer(api, conn, &a);
	}
	if (!strcmp(url, "/v1/events")) {
		if (!is(method, "GET"))
			return method_not_allowed(api, conn, method, url);
		return route_events(api, conn, r);
	}
	if (!strcmp(url, "/v1/sandboxes")) {
		if (is(method, "GET")) {
			osh_manager_sandbox_list(m, &r->caller, &a);
		} else if (is(method, "POST")) {
			struct osh_req_create q = { 0 };

			if (osh_req_create_parse(body, r->len, &q, &e) < 0)
				return send_req_error(api, conn, &e);
			if (q.exec)
				return route_create_exec(api, conn, r, &q);
			osh_manager_sandbox_create(m, &r->caller, &q, &a);
			osh_req_create_free(&q);
		} else {
			return method_not_allowed(api, conn, method, url);
		}
		return send_answer(api, conn, &a);
	}
	if (split_sandbox_path(url, name, sizeof(name), &rest) && osh_api_name_valid(name)) {
		if (!*rest) {
			if (is(method, "GET"))
				osh_manager_sandbox_get(m, &r->caller, name, &a);
			else if (is(method, "DELETE"))
				osh_manager_sandbox_delete(m, &r->caller, name, &a);
			else
				return method_not_allowed(api, conn, method, url);
			return send_answer(api, conn, &a);
		}
		if (!strcmp(rest, "/exec")) {
			if (!is(method, "POST"))
				return method_not_allowed(api, conn, method, url);
			if (api->tls)
				return send_error(api, conn, 501, "exec-needs-unix-socket",
						  EXEC_ON_TCP, NULL);
			return route_exec(api, conn, r, name);
		}
		if (!strcmp(rest, "/policy")) {
			if (is(method, "GET")) {
				long long rev = 0;

				if (!parse_ll(MHD_lookup_connection_value(
						  conn, MHD_GET_ARGUMENT_KIND, "rev"),
					      1, &rev))
					return send_error(api, conn, 400, "bad-request",
							  "rev: expected a revision number >= 1",
							  "rev");
				osh_manager_policy_get(m, &r->caller, name, rev, &a);
			} else if (is(method, "PUT")) {
				struct osh_req_policy_set q = { 0 };

				if (osh_req_policy_set_parse(body, r->len, &q, &e) < 0)
					return send_req_error(api, conn, &e);
				osh_manager_policy_set(m, &r->caller, name, &q, &a);
				osh_req_policy_set_free(&q);
			} else if (is(method, "PATCH")) {
				struct osh_req_policy_update q = { 0 };

				if (osh_req_policy_update_parse(body, r->len, &q, &e) < 0)
					return send_req_error(api, conn, &e);
				osh_manager_policy_update(m, &r->caller, name, &q, &a);
				osh_req_policy_update_free(&q);
			} else {
				return method_not_allowed(api, conn, method, url);
			}
			return send_answer(api, conn, &a);
		}
		if (!strcmp(rest, "/policy/revisions")) {
			if (!is(method, "GET"))
				return method_not_allowed(api, conn, method, url);
			osh_manager_policy_list(m, &r->caller, name, &a);
			return send_answer(api, conn, &a);
		}
	}
	{
		char msg[512];

		snprintf(msg, sizeof(msg), "no route %.400s (see docs/api.md)", url);
		return send_error(api, conn, 404, "not-found", msg, NULL);
	}
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	struct osh_api *api = cls;
	struct req *r = *con_cls;
	char why[256] = "the peer's credentials are unknown";
	const char *ctype;

	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		r->fd = -1;
		*con_cls = r;
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (r->too_large || r->len + n > OSH_API_BODY_MAX) {
			r->too_large = true;
			return MHD_YES;
		}
		char *b = realloc(r->body, r->len + n + 1);

		if (!b)
			return MHD_NO;
		memcpy(b + r->len, upload_data, n);
		r->body = b;
		r->len += n;
		r->body[r->len] = '\0';
		return MHD_YES;
	}
	if ((api->tls ? tls_caller(api, conn, r, why, sizeof(why)) : peer_caller(api, conn, r)) < 0)
		return send_error(api, conn, 403, "forbidden", why, NULL);
	if (r->sandboxed)
		return send_error(api, conn, 403, "forbidden",
				  "requests from inside a sandbox are refused", NULL);
	if (r->too_large)
		return send_error(api, conn, 413, "too-large", "the request body is over 1 MiB",
				  NULL);
	ctype = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	if (r->len && (!ctype || strncasecmp(ctype, JSON, strlen(JSON))))
		return send_error(api, conn, 415, "bad-content-type",
				  "request bodies are application/json", NULL);
	return route(api, conn, url, method, r);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct req *r = *con_cls;

	if (r) {
		free(r->body);
		free(r);
	}
	*con_cls = NULL;
}

/* libmicrohttpd's own messages; its format strings are its own. */
__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	fprintf(stderr, "<4>oshd: warning: http: ");
	vfprintf(stderr, fmt, ap);
}

/* Reads a TLS file named by oshd.conf's key `what`. It says whom oshd trusts, or is a secret:
 * refused when every user may write it, or (secret) read it. */
static int pem_read(const char *what, const char *path, bool secret, char **ret, char **ret_err)
{
	struct stat st;
	size_t len = 0;
	char *buf = NULL;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > (off_t)PEM_MAX) {
		r = -EINVAL;
		if (asprintf(ret_err, "%s %s: not a regular file of at most 1 MiB", what, path) < 0)
			*ret_err = NULL;
		goto out;
	}
	if ((st.st_mode & S_IWOTH) || (secret && (st.st_mode & S_IROTH))) {
		r = -EPERM;
		if (asprintf(ret_err, "%s %s: %s by every user; refusing it (chmod o-%s %s)", what,
			     path, secret ? "readable or writable" : "writable",
			     secret ? "rw" : "w", path) < 0)
			*ret_err = NULL;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*ret = buf;
	buf = NULL;
out:
	if (buf) {
		explicit_bzero(buf, (size_t)st.st_size + 1);
		free(buf);
	}
	if (fd >= 0)
		close(fd);
	if (r < 0 && !*ret_err && asprintf(ret_err, "%s %s: %s", what, path, strerror(-r)) < 0)
		*ret_err = NULL;
	return r;
}

static void pem_free(struct osh_api *api)
{
	for (int i = 0; i < N_PEM; i++)
		if (api->pem[i]) {
			explicit_bzero(api->pem[i], strlen(api->pem[i]));
			free(api->pem[i]);
			api->pem[i] = NULL;
		}
}

static int tls_load(struct osh_api *api, const struct osh_api_tls *tls, char **ret_err)
{
	int r;

	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		if (asprintf(ret_err, "tcp_listen: this libmicrohttpd was built without TLS") < 0)
			*ret_err = NULL;
		return -EOPNOTSUPP;
	}
	if ((r = pem_read("tls_cert", tls->cert, false, &api->pem[PEM_CERT], ret_err)) < 0 ||
	    (r = pem_read("tls_key", tls->key, true, &api->pem[PEM_KEY], ret_err)) < 0 ||
	    (r = pem_read("tls_client_ca", tls->client_ca, false, &api->pem[PEM_CA], ret_err)) < 0)
		pem_free(api);
	return r;
}

int osh_api_start(const struct osh_api_opts *o, struct osh_api **ret, char **ret_err)
{
	struct osh_api *api = calloc(1, sizeof(*api));
	unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
			     MHD_USE_ERROR_LOG | MHD_USE_POLL;
	struct MHD_OptionItem tls_opts[] = {
		{ MHD_OPTION_END, 0, NULL }, { MHD_OPTION_END, 0, NULL },
		{ MHD_OPTION_END, 0, NULL }, { MHD_OPTION_END, 0, NULL },
		{ MHD_OPTION_END, 0, NULL }, { MHD_OPTION_END, 0, NULL },
	};
	int r;

	*ret_err = NULL;
	if (!api)
		return -ENOMEM;
	api->o = *o;
	api->o.tls = NULL; /* read during this call only */
	api->tls = o->tls != NULL;
	if (o->tls) {
		r = tls_load(api, o->tls, ret_err);
		if (r < 0) {
			free(api);
			return r;
		}
		/* No upgrade: exec needs SCM_RIGHTS, which TCP cannot carry (route()). */
		flags |= MHD_USE_TLS;
		tls_opts[0] =
		    (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, api->pem[PEM_CERT] };
		tls_opts[1] =
		    (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, api->pem[PEM_KEY] };
		tls_opts[2] =
		    (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_TRUST, 0, api->pem[PEM_CA] };
		tls_opts[3] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_PRIORITIES, 0,
						       (void *)TLS_PRIORITIES };
		tls_opts[4] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_CONNECTION,
						       (intptr_t)tls_connection_notify, api };
	} else {
		flags |= MHD_ALLOW_UPGRADE;
	}
	api->mhd = MHD_start_daemon(flags, 0, NULL, NULL, handle, api, MHD_OPTION_EXTERNAL_LOGGER,
				    mhd_log, api, MHD_OPTION_LISTEN_SOCKET,
				    (MHD_socket)o->listen_fd, MHD_OPTION_NOTIFY_COMPLETED,
				    completed, api, MHD_OPTION_CONNECTION_LIMIT,
				    (unsigned int)MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
				    (unsigned int)300, MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
	if (!api->mhd) {
		if (asprintf(ret_err, "the HTTP server did not start (libmicrohttpd%s)",
			     o->tls ? "; are tls_cert, tls_key and tls_client_ca PEM files that "
				      "belong together?"
				    : "") < 0)
			*ret_err = NULL;
		pem_free(api);
		free(api);
		return -EIO;
	}
	*ret = api;
	return 0;
}

void osh_api_stop(struct osh_api *api)
{
	if (!api)
		return;
	atomic_store(&api->stopping, true);
	MHD_stop_daemon(api->mhd);
	pem_free(api);
	free(api);
}

int osh_api_listen_unix(const char *path, mode_t mode, gid_t group, bool group_set, char **ret_err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, r;

	*ret_err = NULL;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		if (asprintf(ret_err, "socket path %s: too long", path) < 0)
			*ret_err = NULL;
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A socket file that accepts belongs to a running daemon; one that refuses is stale. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(fd);
		if (asprintf(ret_err, "%s: another oshd answers there", path) < 0)
			*ret_err = NULL;
		return -EADDRINUSE;
	}
	close(fd);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Created with no access at all, then opened up: never briefly wider than asked. */
	{
		mode_t old = umask(0777);

		r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
		umask(old);
	}
	if (r < 0 || (group_set && chown(path, 0, group) < 0) || chmod(path, mode) < 0 ||
	    listen(fd, 128) < 0) {
		r = -errno;
		if (asprintf(ret_err, "%s: %s", path, strerror(-r)) < 0)
			*ret_err = NULL;
		close(fd);
		return r;
	}
	return fd;
}

int osh_api_listen_tcp(const char *addr, char **ret_bound, char **ret_err)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char bound[INET6_ADDRSTRLEN + 8];
	int fd, r, one = 1;
	bool v6;

	*ret_bound = *ret_err = NULL;
	if (osh_config_parse_tcp(addr, &ss, &len) < 0) {
		if (asprintf(ret_err, "tcp_listen %s: not ADDR:PORT", addr) < 0)
			*ret_err = NULL;
		return -EINVAL;
	}
	v6 = ss.ss_family == AF_INET6;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		goto fail;
	}
	/* [::] means IPv6 only: an IPv4 listener is configured as such, never implied. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (v6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
	    bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 128) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
		r = -errno;
		close(fd);
		goto fail;
	}
	addr_format((struct sockaddr *)&ss, bound, sizeof(bound));
	*ret_bound = strdup(bound);
	if (!*ret_bound) {
		close(fd);
		return -ENOMEM;
	}
	return fd;
fail:
	if (asprintf(ret_err, "tcp_listen %s: %s", addr, strerror(-r)) < 0)
		*ret_err = NULL;
	return r;
}
