// SPDX-License-Identifier: Apache-2.0
// oshctl's client of the oshd API (docs/api.md): HTTP/1.1 on the daemon's unix socket, the
// request written here and the answer read with http_parser; JSON requests with error answers
// printed once, ndjson event streams, and the exec protocol (after an HTTP Upgrade, the caller's
// stdio passed with SCM_RIGHTS). No HTTP library with a start-up of its own: start-up is most
// of a short command's time (docs/ARCHITECTURE.md, Dependencies).
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <http_parser.h>

#include "cli/client.h"
#include "cli/oshctl.h"
#include "policy.h"

/* Answers larger than this are not an answer oshd gives; a peer sending more is not oshd. */
#define ANSWER_MAX	  (64u << 20)
#define LINE_MAX_LEN	  (1u << 20) /* one ndjson line: an Event is far smaller */
#define CONNECT_TIMEOUT_S 10	     /* see unix_connect */
#define EXEC_IDLE_MS	  30000	     /* oshd answers an exec request at once */
#define EXEC_PROTOCOL	  "osh-exec/1"

static const char *socket_opt;
static bool output_json;

void oshctl_client_set_socket(const char *path)
{
	socket_opt = path;
}

const char *oshctl_client_socket(void)
{
	const char *env;

	if (socket_opt && *socket_opt)
		return socket_opt;
	env = getenv("OSH_SOCKET");
	return env && *env ? env : OSHCTL_DEFAULT_SOCKET;
}

void oshctl_output_set_json(bool json)
{
	output_json = json;
}

int oshctl_exec_libexec(const char *what, const char *prog, char *const *pre, int npre, int argc,
			char **argv)
{
	char exe[PATH_MAX], path[PATH_MAX + 64], *slash, **args;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0) {
		fprintf(stderr, "oshctl: %s: /proc/self/exe: %s\n", what,
			n < 0 ? strerror(errno) : "empty");
		return -EIO;
	}
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	snprintf(path, sizeof(path), "%s/../libexec/osh/%s", exe, prog);
	args = calloc((size_t)npre + (size_t)argc + 2, sizeof(*args));
	if (!args) {
		fprintf(stderr, "oshctl: %s: out of memory\n", what);
		return -ENOMEM;
	}
	args[0] = path;
	memcpy(args + 1, pre, (size_t)npre * sizeof(*args));
	memcpy(args + 1 + npre, argv, (size_t)argc * sizeof(*args));
	execv(path, args);
	n = -errno;
	fprintf(stderr, "oshctl: %s: cannot run %s: %s\n", what, path, strerror(errno));
	free(args);
	return (int)n;
}

bool oshctl_output_json(void)
{
	return output_json;
}

int oshctl_output_parse(const char *cmd, const char *arg, bool *json)
{
	if (!strcmp(arg, "json")) {
		*json = true;
	} else if (!strcmp(arg, "text")) {
		*json = false;
	} else {
		fprintf(stderr, "oshctl: %s: unknown output format '%s' (expected json or text)\n",
			cmd, arg);
		return -EINVAL;
	}
	return 0;
}

int oshctl_common_opt(int c, const char *cmd, bool *json, void (*usage)(FILE *f))
{
	switch (c) {
	case 'o':
		return oshctl_output_parse(cmd, optarg, json) < 0 ? OSHCTL_EXIT_USAGE : -1;
	case 'h':
		usage(stdout);
		return OSHCTL_EXIT_OK;
	default:
		usage(stderr);
		return OSHCTL_EXIT_USAGE;
	}
}

/* --- small helpers --------------------------------------------------------------------------- */

const char *oshctl_json_str(const cJSON *obj, const char *key, const char *fallback)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(v) && v->valuestring ? v->valuestring : fallback;
}

double oshctl_json_num(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

void oshctl_json_print(const cJSON *obj)
{
	char *s = cJSON_Print(obj);

	if (s) {
		printf("%s\n", s);
		free(s);
	}
}

char *oshctl_url_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out = malloc(n * 3 + 1), *p = out;

	if (!out)
		return NULL;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
			*p++ = (char)c;
		} else {
			*p++ = '%';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		}
	}
	*p = '\0';
	return out;
}

int oshctl_read_file(const char *path, char **ret_text, size_t *ret_len)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int r = 0;

	if (!f)
		return -errno;
	for (;;) {
		size_t got;

		if (len + 4096 + 1 > cap) {
			char *nb;

			cap = cap ? cap * 2 : 8192;
			nb = realloc(buf, cap);
			if (!nb) {
				r = -ENOMEM;
				break;
			}
			buf = nb;
		}
		got = fread(buf + len, 1, cap - len - 1, f);
		len += got;
		if (len > OSH_CLI_BODY_MAX) {
			r = -EFBIG;
			break;
		}
		if (got == 0) {
			if (ferror(f))
				r = -EIO;
			break;
		}
	}
	fclose(f);
	if (r < 0) {
		free(buf);
		return r;
	}
	buf[len] = '\0';
	*ret_text = buf;
	if (ret_len)
		*ret_len = len;
	return 0;
}

void oshctl_diags_print(struct osh_diag_list *diags)
{
	for (size_t i = 0; i < diags->n; i++) {
		char *s;

		if (osh_diag_format(&diags->items[i], &s) < 0)
			continue;
		fprintf(stderr, "%s\n", s);
		free(s);
	}
	if (diags->dropped)
		fprintf(stderr, "oshctl: %zu more errors not shown\n", diags->dropped);
	osh_diag_list_clear(diags);
}

int oshctl_policy_parse(const char *what, const char *path, struct osh_policy **ret,
			struct osh_diag_list *diags)
{
	int r = osh_policy_parse_file(path, OSH_POLICY_FORMAT_AUTO, ret, diags);

	/* A file that cannot be read is one of the diagnostics; only ENOMEM has none. */
	if (r == -EINVAL || r == -EFBIG)
		return OSHCTL_EXIT_FAIL;
	if (r < 0) {
		if (r == -ENOMEM)
			fprintf(stderr, "oshctl: %s: %s: %s\n", what, path, strerror(-r));
		return OSHCTL_EXIT_SYSTEM;
	}
	return OSHCTL_EXIT_OK;
}

int oshctl_policy_load(const char *what, const char *path, struct osh_policy **ret)
{
	struct osh_diag_list diags = { 0 };
	int r = oshctl_policy_parse(what, path, ret, &diags);

	oshctl_diags_print(&diags);
	return r;
}

int oshctl_policy_read(const char *path, char **ret_text)
{
	struct osh_policy *p = NULL;
	int r = oshctl_policy_load("policy", path, &p);

	osh_policy_free(p);
	if (r != OSHCTL_EXIT_OK)
		return r;
	r = oshctl_read_file(path, ret_text, NULL);
	if (r < 0) {
		fprintf(stderr, "oshctl: policy: %s: %s\n", path, strerror(-r));
		return OSHCTL_EXIT_SYSTEM;
	}
	return OSHCTL_EXIT_OK;
}

const char *oshctl_uid_name(double uid, char *buf, size_t size)
{
	struct passwd *pw;

	if (uid < 0) {
		snprintf(buf, size, "?");
		return buf;
	}
	pw = getpwuid((uid_t)uid);
	if (pw)
		snprintf(buf, size, "%s", pw->pw_name);
	else
		snprintf(buf, size, "%.0f", uid);
	return buf;
}

void oshctl_table_print(const char *const *header, size_t ncols, char *const *cells, size_t nrows)
{
	size_t w[16] = { 0 };

	if (ncols > 16)
		ncols = 16;
	for (size_t c = 0; c < ncols; c++) {
		w[c] = strlen(header[c]);
		for (size_t r = 0; r < nrows; r++) {
			size_t n = strlen(cells[r * ncols + c] ? cells[r * ncols + c] : "");

			if (n > w[c])
				w[c] = n;
		}
	}
	for (size_t r = 0; r <= nrows; r++)
		for (size_t c = 0; c < ncols; c++) {
			const char *v = r ? cells[(r - 1) * ncols + c] : header[c];

			if (!v)
				v = "";
			/* The last column is not padded: no trailing blanks. */
			if (c + 1 < ncols)
				printf("%-*s  ", (int)w[c], v);
			else
				printf("%s\n", v);
		}
}

/* --- HTTP/1.1 over the daemon's socket ------------------------------------------------------- */

struct buf {
	char *data;
	size_t len, cap;
};

static int buf_append(struct buf *b, const char *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *nd;

		while (cap < b->len + n + 1)
			cap *= 2;
		nd = realloc(b->data, cap);
		if (!nd)
			return -ENOMEM;
		b->data = nd;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

/* Connects a stream socket to path. A full listen queue makes connect wait up to SO_SNDTIMEO,
 * then fail with EAGAIN: a daemon that accepts nothing for that long counts as absent. Returns
 * the descriptor, -ENOENT when path is no socket, -ETIMEDOUT, or -errno. */
static int unix_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = CONNECT_TIMEOUT_S };
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = errno == ENOTDIR || errno == ENOTSOCK ? -ENOENT
		    : errno == EAGAIN			  ? -ETIMEDOUT
							  : -errno;
		close(fd);
		return r;
	}
	/* Sending a request then waits as long as oshd takes to read it, as before the limit. */
	tv.tv_sec = 0;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Waits up to ms (-1: no limit) for fd to be readable. Returns 0, -ETIMEDOUT or -errno. */
static int wait_readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int n;

	do
		n = poll(&p, 1, ms);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == 0 ? -ETIMEDOUT : 0;
}

/* One request and its answer, on a connection of the caller's. The answer goes through
 * http_parser (Debian's libhttp-parser): Content-Length, chunked and read-to-close bodies alike,
 * and the end of the head of a 101 without consuming what follows it. */
struct exchange {
	/* Set by the caller. on_body takes each piece of a 2xx answer's body and returns 0 to go
	 * on, > 0 to end the exchange there, -errno to fail it; NULL collects the body in body.
	 * idle_ms bounds each wait for the daemon's next bytes (-1: no bound). */
	int (*on_body)(struct exchange *x, const char *p, size_t n);
	void *ctx;
	int idle_ms;

	/* Set by exchange_read. body holds the body of an answer on_body did not take; after a
	 * 101 it holds what oshd sent past the head, the upgraded protocol's first bytes. */
	long status;
	struct buf body;
	bool complete, stopped;
	int err; /* why a callback failed */
	http_parser parser;
};

static int on_headers_complete(http_parser *p)
{
	struct exchange *x = p->data;

	x->status = p->status_code;
	/* 2: no body and no further HTTP on this connection, whatever Connection says. */
	return p->status_code == 101 ? 2 : 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
	struct exchange *x = p->data;

	if (x->on_body && x->status >= 200 && x->status < 300) {
		int r = x->on_body(x, at, n);

		if (r > 0)
			x->stopped = true;
		else
			x->err = r;
		return r;
	}
	if (x->body.len + n > ANSWER_MAX)
		x->err = -EMSGSIZE;
	else
		x->err = buf_append(&x->body, at, n);
	return x->err;
}

static int on_message_complete(http_parser *p)
{
	struct exchange *x = p->data;

	x->complete = true;
	/* Nothing after the answer is HTTP for us: the exchange ends here. */
	http_parser_pause(p, 1);
	return 0;
}

/* Reads the answer into x. Returns 0 (also when stopped), or -errno: -ECONNRESET when oshd
 * closed before the answer's end, -EBADMSG for an answer that is not HTTP, -EMSGSIZE for one
 * over ANSWER_MAX, -ETIMEDOUT after idle_ms without a byte. */
static int exchange_read(struct exchange *x, int fd)
{
	static const http_parser_settings settings = {
		.on_headers_complete = on_headers_complete,
		.on_body = on_body,
		.on_message_complete = on_message_complete,
	};
	char chunk[16384];

	http_parser_init(&x->parser, HTTP_RESPONSE);
	x->parser.data = x;
	for (;;) {
		ssize_t got;
		size_t used;
		int r;

		r = wait_readable(fd, x->idle_ms);
		if (r < 0)
			return r;
		got = read(fd, chunk, sizeof(chunk));
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		/* A read of 0 tells the parser about the end, which completes a read-to-close body. */
		used = http_parser_execute(&x->parser, &settings, chunk, (size_t)got);
		if (x->stopped)
			return 0;
		if (x->err)
			return x->err;
		if (x->complete)
			return x->parser.upgrade
				   ? buf_append(&x->body, chunk + used, (size_t)got - used)
				   : 0;
		if (got == 0)
			return -ECONNRESET;
		if (HTTP_PARSER_ERRNO(&x->parser) != HPE_OK)
			return -EBADMSG;
	}
}

/* Sends method path with body (JSON, NULL: none) and extra header lines (each ending in CRLF,
 * NULL: none) on fd, then reads the answer into x. Returns 0 or -errno (exchange_read's, or
 * the socket's while sending). */
static int exchange_run(struct exchange *x, int fd, const char *method, const char *path,
			const char *body, const char *extra)
{
	char *req;
	int r, n;

	/* One write: a request that can carry a body says how long it is, even when empty. */
	if (body || strcmp(method, "GET"))
		n = asprintf(&req,
			     "%s %s HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n"
			     "%sContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
			     method, path, extra ? extra : "", body ? strlen(body) : 0,
			     body ? body : "");
	else
		n = asprintf(
		    &req, "%s %s HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n%s\r\n",
		    method, path, extra ? extra : "");
	if (n < 0)
		return -ENOMEM;
	r = write_all(fd, req, (size_t)n);
	free(req);
	if (r < 0 && r != -EPIPE)
		return r;
	/* oshd may have answered and closed before taking the whole request: its answer says
	 * why. */
	n = exchange_read(x, fd);
	return r < 0 && n < 0 ? r : n;
}

/* exchange_run on a new connection to oshd's socket. Returns 0 or -errno (unix_connect's, or
 * exchange_run's). */
static int exchange_once(struct exchange *x, const char *method, const char *path, const char *body)
{
	int fd = unix_connect(oshctl_client_socket()), r;

	if (fd < 0)
		return fd;
	r = exchange_run(x, fd, method, path, body, NULL);
	close(fd);
	return r;
}

/* One request on fd (-1: a connection of its own), as oshctl_call_raw describes. */
static int call_raw_on(int fd, const char *method, const char *path, const cJSON *body,
		       long *ret_status, cJSON **ret_json)
{
	struct exchange x = { .idle_ms = -1 };
	char *text = NULL;
	int r;

	if (body) {
		text = cJSON_PrintUnformatted(body);
		if (!text)
			return -ENOMEM;
	}
	r = fd < 0 ? exchange_once(&x, method, path, text)
		   : exchange_run(&x, fd, method, path, text, NULL);
	if (r == 0) {
		*ret_status = x.status;
		*ret_json = x.body.len ? cJSON_ParseWithLength(x.body.data, x.body.len) : NULL;
	}
	free(x.body.data);
	free(text);
	return r;
}

int oshctl_call_raw(const char *method, const char *path, const cJSON *body, long *ret_status,
		    cJSON **ret_json)
{
	return call_raw_on(-1, method, path, body, ret_status, ret_json);
}

int oshctl_print_unreachable(int r)
{
	const char *sock = oshctl_client_socket();

	if (r == -ENOENT)
		fprintf(stderr,
			"oshctl: oshd is not running: no socket at %s (start oshd, or use "
			"--socket or $OSH_SOCKET)\n",
			sock);
	else if (r == -ECONNREFUSED)
		fprintf(stderr, "oshctl: oshd is not running: nothing accepts connections on %s\n",
			sock);
	else if (r == -EACCES)
		fprintf(
		    stderr,
		    "oshctl: %s: permission denied (the socket is for root and the osh group)\n",
		    sock);
	else if (r == -EPERM)
		fprintf(stderr,
			"oshctl: %s: connect: operation not permitted (inside a sandbox, unix "
			"sockets are refused)\n",
			sock);
	else if (r == -EMSGSIZE)
		fprintf(stderr, "oshctl: %s: answer too large or not readable\n", sock);
	else if (r == -EBADMSG)
		fprintf(stderr, "oshctl: %s: the answer is not HTTP (is oshd listening there?)\n",
			sock);
	else if (r == -ECONNRESET)
		fprintf(stderr,
			"oshctl: %s: oshd closed the connection before the end of its answer\n",
			sock);
	else
		fprintf(stderr, "oshctl: talking to oshd on %s: %s\n", sock, strerror(-r));
	return OSHCTL_EXIT_SYSTEM;
}

static int exit_for_status(long status)
{
	if (status >= 200 && status < 300)
		return OSHCTL_EXIT_OK;
	if (status == 403)
		return OSHCTL_EXIT_FORBIDDEN;
	if (status >= 400 && status < 500)
		return OSHCTL_EXIT_FAIL;
	return OSHCTL_EXIT_SYSTEM;
}

/* The daemon names the policy "<request>" in diagnostics; the user knows it as their file. */
static void print_diagnostic(const char *d, const char *file)
{
	static const char req[] = "<request>";

	if (file && !strncmp(d, req, sizeof(req) - 1))
		fprintf(stderr, "%s%s\n", file, d + sizeof(req) - 1);
	else
		fprintf(stderr, "%s\n", d);
}

int oshctl_print_api_error(long status, const cJSON *answer, const struct oshctl_call_opts *opts)
{
	const cJSON *err = cJSON_GetObjectItemCaseSensitive(answer, "error"), *list, *it;
	const char *code = oshctl_json_str(err, "code", NULL);
	const char *msg = oshctl_json_str(err, "message", "");
	const char *field = oshctl_json_str(err, "field", NULL);

	if (opts && opts->quiet_not_found && status == 404)
		return exit_for_status(status);
	if (!code) {
		fprintf(stderr, "oshctl: oshd answered HTTP %ld without an error object\n", status);
		return exit_for_status(status);
	}
	if (field && *field)
		fprintf(stderr, "oshctl: %s: %s (field %s)\n", code, msg, field);
	else
		fprintf(stderr, "oshctl: %s: %s\n", code, msg);
	list = cJSON_GetObjectItemCaseSensitive(err, "diagnostics");
	cJSON_ArrayForEach (it, list) {
		if (cJSON_IsString(it))
			print_diagnostic(it->valuestring, opts ? opts->policy_file : NULL);
	}
	list = cJSON_GetObjectItemCaseSensitive(err, "fields");
	if (cJSON_IsArray(list) && cJSON_GetArraySize(list) > 0) {
		fprintf(stderr, "oshctl: static sections changed:");
		cJSON_ArrayForEach (it, list) {
			if (cJSON_IsString(it))
				fprintf(stderr, " %s", it->valuestring);
		}
		fprintf(stderr, " (they need a new sandbox)\n");
	}
	return exit_for_status(status);
}

int oshctl_call_on(int fd, const char *method, const char *path, const cJSON *body,
		   const struct oshctl_call_opts *opts, long *ret_status, cJSON **ret)
{
	cJSON *answer = NULL;
	long status = 0;
	int r = call_raw_on(fd, method, path, body, &status, &answer);

	if (ret_status)
		*ret_status = r < 0 ? 0 : status;
	if (r < 0)
		return oshctl_print_unreachable(r);
	if (status < 200 || status >= 300) {
		r = oshctl_print_api_error(status, answer, opts);
		cJSON_Delete(answer);
		return r;
	}
	if (ret)
		*ret = answer;
	else
		cJSON_Delete(answer);
	return OSHCTL_EXIT_OK;
}

int oshctl_call(const char *method, const char *path, const cJSON *body,
		const struct oshctl_call_opts *opts, long *ret_status, cJSON **ret)
{
	return oshctl_call_on(-1, method, path, body, opts, ret_status, ret);
}

int oshctl_connect(int *ret_peer_pid)
{
	struct ucred cred = { 0 };
	socklen_t len = sizeof(cred);
	int fd = unix_connect(oshctl_client_socket());

	*ret_peer_pid = 0;
	if (fd >= 0 && getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
		*ret_peer_pid = cred.pid;
	return fd;
}

/* --- ndjson streams -------------------------------------------------------------------------- */

struct stream {
	struct buf line; /* the incomplete last line */
	int (*fn)(const cJSON *obj, void *ctx);
	void *ctx;
};

static int stream_line(struct stream *s, const char *p, size_t n)
{
	cJSON *obj;
	int r = 0;

	while (n && (p[n - 1] == '\r' || p[n - 1] == ' '))
		n--;
	if (!n)
		return 0;
	obj = cJSON_ParseWithLength(p, n);
	if (cJSON_IsObject(obj))
		r = s->fn(obj, s->ctx);
	cJSON_Delete(obj);
	return r;
}

/* Splits the body into lines for fn. Returns 0, 1 when fn asked to stop, -EMSGSIZE for a line
 * over LINE_MAX_LEN (not an Event), or -ENOMEM. */
static int stream_body(struct exchange *x, const char *p, size_t n)
{
	struct stream *s = x->ctx;

	for (size_t i = 0; i < n; i++) {
		if (p[i] != '\n') {
			if (s->line.len >= LINE_MAX_LEN)
				return -EMSGSIZE;
			if (buf_append(&s->line, p + i, 1) < 0)
				return -ENOMEM;
			continue;
		}
		if (s->line.len && stream_line(s, s->line.data, s->line.len))
			return 1;
		s->line.len = 0;
	}
	return 0;
}

int oshctl_stream(const char *path, int (*fn)(const cJSON *obj, void *ctx), void *ctx)
{
	struct stream s = { .fn = fn, .ctx = ctx };
	struct exchange x = { .on_body = stream_body, .ctx = &s, .idle_ms = -1 };
	int r = exchange_once(&x, "GET", path, NULL);

	if (r < 0) {
		r = oshctl_print_unreachable(r);
	} else if (x.status && (x.status < 200 || x.status >= 300)) {
		cJSON *answer = x.body.len ? cJSON_ParseWithLength(x.body.data, x.body.len) : NULL;

		r = oshctl_print_api_error(x.status, answer, NULL);
		cJSON_Delete(answer);
	} else {
		/* A last line without its newline (the daemon ended the stream mid-write) is
		 * dropped: it may be cut short. */
		r = OSHCTL_EXIT_OK;
	}
	free(s.line.data);
	free(x.body.data);
	return r;
}

/* --- the exec protocol ----------------------------------------------------------------------- */

/* Sends the three stdio descriptors: one byte 'F' carrying them as SCM_RIGHTS. */
static int send_stdio(int sock)
{
	int fds[3] = { STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO };
	union {
		char buf[CMSG_SPACE(sizeof(fds))];
		struct cmsghdr align;
	} u = { 0 };
	char byte = 'F';
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	ssize_t w;

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(cm), fds, sizeof(fds));
	do
		w = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	return w == 1 ? 0 : w < 0 ? -errno : -EIO;
}

/* Line reader over the exec connection. */
struct lines {
	char buf[LINE_MAX_LEN]; /* an Event line included */
	size_t len;
};

/* Moves the next complete line (without its newline) into out. Returns 1 when a line was
 * taken, 0 when none is complete yet, -EPROTO when a line is too long. */
static int lines_next(struct lines *l, char *out, size_t size)
{
	char *nl = memchr(l->buf, '\n', l->len);
	size_t n;

	if (!nl)
		return l->len == sizeof(l->buf) ? -EPROTO : 0;
	n = (size_t)(nl - l->buf);
	if (n >= size)
		return -EPROTO;
	memcpy(out, l->buf, n);
	out[n] = '\0';
	memmove(l->buf, nl + 1, l->len - n - 1);
	l->len -= n + 1;
	return 1;
}

/* Reads what the socket has into l. Returns bytes read, 0 at the end, or -errno. */
static int lines_fill(struct lines *l, int fd)
{
	ssize_t got;

	if (l->len == sizeof(l->buf))
		return -EPROTO;
	do
		got = read(fd, l->buf + l->len, sizeof(l->buf) - l->len);
	while (got < 0 && errno == EINTR);
	if (got < 0)
		return -errno;
	l->len += (size_t)got;
	return (int)got;
}

static const int forwarded_signals[] = { SIGINT,  SIGQUIT, SIGTERM, SIGHUP,
					 SIGTSTP, SIGCONT, SIGWINCH };

void oshctl_exec_signals(sigset_t *set)
{
	sigemptyset(set);
	for (size_t i = 0; i < sizeof(forwarded_signals) / sizeof(forwarded_signals[0]); i++)
		sigaddset(set, forwarded_signals[i]);
}

/* The body of an exec request. Returns a new string or NULL. */
static cJSON *exec_json(char *const *argv, char *const *env, const char *workdir, bool events)
{
	cJSON *body = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(body, "argv");

	if (!a)
		goto fail;
	for (size_t i = 0; argv[i]; i++)
		if (!cJSON_AddItemToArray(a, cJSON_CreateString(argv[i])))
			goto fail;
	if (env) {
		cJSON *e = cJSON_AddArrayToObject(body, "env");

		if (!e)
			goto fail;
		for (size_t i = 0; env[i]; i++)
			if (!cJSON_AddItemToArray(e, cJSON_CreateString(env[i])))
				goto fail;
	}
	if (workdir && !cJSON_AddStringToObject(body, "workdir", workdir))
		goto fail;
	if (events && !cJSON_AddBoolToObject(body, "events", true))
		goto fail;
	return body;
fail:
	cJSON_Delete(body);
	return NULL;
}

/* Handles one line from oshd after the upgrade. Returns 1 with *status set when the command
 * has ended (or could not start), 0 to go on, -EPROTO for a line that is not the protocol. */
static int exec_line(const char *line, bool *started, int *status,
		     const struct oshctl_exec_events *events, struct oshctl_exec_end *end)
{
	cJSON *j = cJSON_Parse(line);
	const cJSON *v;
	int r = 0;

	if (!cJSON_IsObject(j)) {
		r = -EPROTO;
		goto out;
	}
	v = cJSON_GetObjectItemCaseSensitive(j, "event");
	if (cJSON_IsObject(v)) {
		if (events && events->fn)
			events->fn(v, events->ctx);
		goto out;
	}
	if (cJSON_GetObjectItemCaseSensitive(j, "error")) {
		/* 126/127 keep their meaning for the caller; they come with the error. */
		oshctl_print_api_error(500, j, NULL);
	}
	v = cJSON_GetObjectItemCaseSensitive(j, "exit");
	if (cJSON_IsNumber(v)) {
		*status = v->valueint >= 0 && v->valueint <= 255 ? v->valueint : OSHCTL_EXIT_OSH;
		/* An exit after the pid is the command's; one with an error is oshd's refusal. */
		end->ran = *started && !cJSON_GetObjectItemCaseSensitive(j, "error");
		r = 1;
		goto out;
	}
	if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, "pid"))) {
		*started = true;
		goto out;
	}
	if (cJSON_GetObjectItemCaseSensitive(j, "error")) {
		*status = OSHCTL_EXIT_OSH;
		r = 1;
		goto out;
	}
	r = -EPROTO;
out:
	cJSON_Delete(j);
	return r;
}

/* Forwards one signal to the command. SIGTSTP also stops oshctl itself, so that the shell
 * sees the job stopped; `fg` then sends SIGCONT, which is forwarded in turn. */
static int exec_forward(int sock, int sig)
{
	char msg[32];
	int n = snprintf(msg, sizeof(msg), "{\"signal\": %d}\n", sig);
	int r = write_all(sock, msg, (size_t)n);

	if (r == 0 && sig == SIGTSTP)
		raise(SIGSTOP);
	return r;
}

int oshctl_exec(const char *name, char *const *argv, char *const *env, const char *workdir)
{
	return oshctl_exec_end(name, argv, env, workdir, NULL, NULL);
}

/* Waits for the first line after a create's 101: the Sandbox, handed to on_sandbox. Returns 1
 * to go on, 0 when on_sandbox said stop or oshd refused (*status set), -1 after printing why
 * the protocol failed. */
static int exec_sandbox_line(int sock, struct lines *l, char *line,
			     bool (*on_sandbox)(const cJSON *sb, void *ctx), void *ctx, int *status,
			     struct oshctl_exec_end *end)
{
	for (;;) {
		int r = lines_next(l, line, sizeof(l->buf));
		bool started = false;

		if (r < 0) {
			fprintf(stderr, "oshctl: exec: oshd sent an over-long line\n");
			return -1;
		}
		if (r > 0) {
			cJSON *j = cJSON_Parse(line);
			const cJSON *sb = cJSON_GetObjectItemCaseSensitive(j, "sandbox");
			bool go;

			if (cJSON_IsObject(sb)) {
				go = on_sandbox(sb, ctx);
				cJSON_Delete(j);
				return go ? 1 : 0;
			}
			cJSON_Delete(j);
			/* An error line: the command cannot start. */
			r = exec_line(line, &started, status, NULL, end);
			if (r > 0)
				return 0;
			fprintf(stderr, "oshctl: exec: oshd sent '%.80s', not the exec protocol\n",
				line);
			return -1;
		}
		if (wait_readable(sock, EXEC_IDLE_MS) < 0 || lines_fill(l, sock) <= 0) {
			fprintf(stderr, "oshctl: exec: oshd closed the connection before the "
					"sandbox was made\n");
			return -1;
		}
	}
}

/* The exec protocol on fd (-1: a connection of its own), which it closes: POST path with body,
 * the 101, with on_sandbox the Sandbox line (a create with "exec"), then stdio and the
 * command's lines. */
static int exec_run(int fd, const char *path, const char *body, const struct oshctl_call_opts *opts,
		    bool (*on_sandbox)(const cJSON *sb, void *ctx), void *ctx,
		    const struct oshctl_exec_events *events, struct oshctl_exec_end *ret_end)
{
	struct oshctl_exec_end end = { 0 };
	struct exchange x = { .idle_ms = EXEC_IDLE_MS };
	struct lines *l = NULL;
	sigset_t set, old;
	char *line = NULL;
	bool started = false, masked = false;
	int sock = fd, sfd = -1, status = OSHCTL_EXIT_OSH, r;

	l = calloc(1, sizeof(*l));
	line = malloc(sizeof(l->buf)); /* an Event line may be long */
	if (!body || !l || !line) {
		fprintf(stderr, "oshctl: exec: out of memory\n");
		goto out;
	}
	if (sock < 0 && (sock = unix_connect(oshctl_client_socket())) < 0) {
		oshctl_print_unreachable(sock);
		goto out;
	}
	r = exchange_run(&x, sock, "POST", path, body,
			 "Connection: Upgrade\r\nUpgrade: " EXEC_PROTOCOL "\r\n");
	if (r == -EBADMSG) {
		fprintf(stderr, "oshctl: exec: oshd sent a malformed answer\n");
		goto out;
	}
	if (r < 0) {
		fprintf(stderr, "oshctl: exec: no answer from oshd on %s: %s\n",
			oshctl_client_socket(),
			r == -ECONNRESET ? "connection closed" : strerror(-r));
		goto out;
	}
	if (x.status != 101) {
		cJSON *answer = x.body.len ? cJSON_ParseWithLength(x.body.data, x.body.len) : NULL;

		/* 125 whatever the refusal: the status belongs to the command (docs/cli.md). */
		oshctl_print_api_error(x.status, answer, opts);
		cJSON_Delete(answer);
		goto out;
	}
	/* What came with the head already belongs to the exec protocol. */
	if (x.body.len > sizeof(l->buf)) {
		fprintf(stderr, "oshctl: exec: oshd sent an over-long line\n");
		goto out;
	}
	if (x.body.len)
		memcpy(l->buf, x.body.data, x.body.len);
	l->len = x.body.len;
	if (on_sandbox) {
		r = exec_sandbox_line(sock, l, line, on_sandbox, ctx, &status, &end);
		if (r <= 0)
			goto out;
	}

	/* From here on the forwarded signals arrive through a signalfd, not as interruptions;
	 * those that come before the command runs wait there until it does. */
	oshctl_exec_signals(&set);
	if (pthread_sigmask(SIG_BLOCK, &set, &old) != 0) {
		fprintf(stderr, "oshctl: exec: cannot block signals\n");
		goto out;
	}
	masked = true;
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		fprintf(stderr, "oshctl: exec: signalfd: %s\n", strerror(errno));
		goto out;
	}
	r = send_stdio(sock);
	if (r < 0) {
		fprintf(stderr, "oshctl: exec: passing stdio to oshd: %s\n", strerror(-r));
		goto out;
	}
	for (;;) {
		struct pollfd p[2] = { { .fd = sock, .events = POLLIN },
				       { .fd = sfd, .events = started ? POLLIN : 0 } };
		bool done = false;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "oshctl: exec: poll: %s\n", strerror(errno));
			goto out;
		}
		if (p[0].revents) {
			bool eof;

			r = lines_fill(l, sock);
			if (r < 0 && r != -ECONNRESET) {
				fprintf(stderr, "oshctl: exec: reading from oshd: %s\n",
					strerror(-r));
				goto out;
			}
			eof = r <= 0;
			while ((r = lines_next(l, line, sizeof(l->buf))) > 0) {
				int e = exec_line(line, &started, &status, events, &end);

				if (e < 0) {
					fprintf(stderr,
						"oshctl: exec: oshd sent '%.80s', not the "
						"exec protocol\n",
						line);
					status = OSHCTL_EXIT_OSH;
					goto out;
				}
				if (e > 0) {
					done = true;
					break;
				}
			}
			if (done)
				break;
			if (r < 0) {
				fprintf(stderr, "oshctl: exec: oshd sent an over-long line\n");
				goto out;
			}
			if (eof) {
				fprintf(stderr,
					"oshctl: exec: oshd closed the connection before the "
					"command ended\n");
				goto out;
			}
		}
		if (started && (p[1].revents & POLLIN)) {
			struct signalfd_siginfo si;

			while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				if (exec_forward(sock, (int)si.ssi_signo) < 0)
					break; /* the socket's end shows up on the next poll */
		}
	}
out:
	if (sfd >= 0)
		close(sfd);
	if (masked) {
		/* Forwarded signals still pending were meant for the command, which has ended. */
		struct timespec zero = { 0 };

		while (sigtimedwait(&set, NULL, &zero) > 0)
			;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	if (sock >= 0)
		close(sock);
	free(line);
	free(l);
	free(x.body.data);
	if (ret_end)
		*ret_end = end;
	return status;
}

int oshctl_exec_end_on(int fd, const char *name, char *const *argv, char *const *env,
		       const char *workdir, const struct oshctl_exec_events *events,
		       struct oshctl_exec_end *ret_end)
{
	cJSON *req = exec_json(argv, env, workdir, events != NULL);
	char *body = req ? cJSON_PrintUnformatted(req) : NULL, *path = NULL;
	char *ename = oshctl_url_escape(name);
	int status;

	if (!ename || asprintf(&path, "/v1/sandboxes/%s/exec", ename) < 0)
		path = NULL;
	if (!path) {
		fprintf(stderr, "oshctl: exec: out of memory\n");
		if (fd >= 0)
			close(fd);
		status = OSHCTL_EXIT_OSH;
		if (ret_end)
			*ret_end = (struct oshctl_exec_end){ 0 };
	} else {
		status = exec_run(fd, path, body, NULL, NULL, NULL, events, ret_end);
	}
	cJSON_Delete(req);
	free(body);
	free(path);
	free(ename);
	return status;
}

int oshctl_exec_end(const char *name, char *const *argv, char *const *env, const char *workdir,
		    const struct oshctl_exec_events *events, struct oshctl_exec_end *ret_end)
{
	return oshctl_exec_end_on(-1, name, argv, env, workdir, events, ret_end);
}

int oshctl_run_on(int fd, const cJSON *create, const struct oshctl_call_opts *opts,
		  char *const *argv, char *const *env, const char *workdir,
		  bool (*on_sandbox)(const cJSON *sb, void *ctx), void *ctx,
		  const struct oshctl_exec_events *events, struct oshctl_exec_end *ret_end)
{
	cJSON *req = cJSON_Duplicate(create, true);
	cJSON *ex = exec_json(argv, env, workdir, events != NULL);
	char *body = NULL;
	int status;

	if (req && ex && cJSON_AddItemToObject(req, "exec", ex)) {
		ex = NULL;
		body = cJSON_PrintUnformatted(req);
	}
	status = exec_run(fd, "/v1/sandboxes", body, opts, on_sandbox, ctx, events, ret_end);
	cJSON_Delete(ex);
	cJSON_Delete(req);
	free(body);
	return status;
}
