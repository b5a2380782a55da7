// SPDX-License-Identifier: Apache-2.0
// oshctl's client of the oshd API (docs/api.md): JSON requests over the daemon's unix socket
// with libcurl, error answers printed once, ndjson event streams, and the exec protocol, which
// libcurl cannot carry (descriptors are passed with SCM_RIGHTS after an HTTP Upgrade), written
// by hand on a raw AF_UNIX socket.
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
#include <strings.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cli/client.h"
#include "cli/oshctl.h"
#include "policy.h"

/* Answers larger than this are not an answer oshd gives; a peer sending more is not oshd. */
#define ANSWER_MAX   (64u << 20)
#define LINE_MAX_LEN (1u << 20) /* one ndjson line: an Event is far smaller */
#define HEAD_MAX     16384	/* response head of the exec upgrade */

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

/* --- libcurl requests ----------------------------------------------------------------------- */

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

static size_t collect(char *p, size_t size, size_t n, void *ctx)
{
	struct buf *b = ctx;

	if (b->len + n > ANSWER_MAX || buf_append(b, p, n) < 0)
		return 0; /* aborts the transfer */
	return n;
}

static void curl_global_init_all(void)
{
	curl_global_init(CURL_GLOBAL_ALL);
}

static void curl_init_once(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	/* curl_global_init is not thread-safe; run-daemon streams events from a second thread. */
	pthread_once(&once, curl_global_init_all);
}

/* Maps a failed transfer to -errno: the socket errors say whether a daemon listens. */
static int curl_errno(CURL *c, CURLcode cc)
{
	long os_errno = 0;

	if (cc == CURLE_COULDNT_CONNECT) {
		curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
		if (os_errno == ENOENT || os_errno == ECONNREFUSED || os_errno == EACCES ||
		    os_errno == EPERM || os_errno == ENOTDIR || os_errno == ENOTSOCK)
			return os_errno == ENOTDIR || os_errno == ENOTSOCK ? -ENOENT
									   : -(int)os_errno;
		return -ECONNREFUSED;
	}
	if (cc == CURLE_OUT_OF_MEMORY)
		return -ENOMEM;
	if (cc == CURLE_WRITE_ERROR)
		return -EMSGSIZE;
	if (cc == CURLE_OPERATION_TIMEDOUT)
		return -ETIMEDOUT;
	return -EIO;
}

/* A handle for method path on the daemon's socket, with body (may be NULL) as JSON. */
static CURL *request_new(const char *method, const char *path, const char *body,
			 struct curl_slist **headers)
{
	CURL *c;
	char url[4096];

	curl_init_once();
	if (snprintf(url, sizeof(url), "http://localhost%s", path) >= (int)sizeof(url))
		return NULL;
	c = curl_easy_init();
	if (!c)
		return NULL;
	*headers = NULL;
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, oshctl_client_socket());
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	/* No proxy may sit between oshctl and its own socket, whatever http_proxy says. */
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	*headers = curl_slist_append(*headers, "Accept: application/json");
	/* A body above 1 KiB would otherwise wait for 100-continue. */
	*headers = curl_slist_append(*headers, "Expect:");
	if (body) {
		*headers = curl_slist_append(*headers, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	} else if (!strcmp(method, "GET")) {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, *headers);
	return c;
}

int oshctl_call_raw(const char *method, const char *path, const cJSON *body, long *ret_status,
		    cJSON **ret_json)
{
	struct curl_slist *headers = NULL;
	struct buf answer = { 0 };
	char *text = NULL;
	CURL *c;
	CURLcode cc;
	long status = 0;
	int r = 0;

	if (body) {
		text = cJSON_PrintUnformatted(body);
		if (!text)
			return -ENOMEM;
	}
	c = request_new(method, path, text, &headers);
	if (!c) {
		r = -ENOMEM;
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
	cc = curl_easy_perform(c);
	if (cc != CURLE_OK) {
		r = curl_errno(c, cc);
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	*ret_status = status;
	*ret_json = answer.len ? cJSON_ParseWithLength(answer.data, answer.len) : NULL;
out:
	curl_easy_cleanup(c);
	curl_slist_free_all(headers);
	free(answer.data);
	free(text);
	return r;
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

int oshctl_call(const char *method, const char *path, const cJSON *body,
		const struct oshctl_call_opts *opts, long *ret_status, cJSON **ret)
{
	cJSON *answer = NULL;
	long status = 0;
	int r = oshctl_call_raw(method, path, body, &status, &answer);

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

/* Connects a stream socket to path. Returns the descriptor or -errno. */
static int unix_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = errno == ENOTDIR || errno == ENOTSOCK ? -ENOENT : -errno;

		close(fd);
		return r;
	}
	return fd;
}

bool oshctl_daemon_answers(int *ret_peer_pid)
{
	struct ucred cred = { 0 };
	socklen_t len = sizeof(cred);
	int fd = unix_connect(oshctl_client_socket());

	if (ret_peer_pid)
		*ret_peer_pid = 0;
	if (fd < 0)
		return false;
	if (ret_peer_pid && getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
		*ret_peer_pid = cred.pid;
	close(fd);
	return true;
}

/* --- ndjson streams -------------------------------------------------------------------------- */

struct stream {
	CURL *curl;
	struct buf line;  /* the incomplete last line */
	struct buf error; /* the body of a non-2xx answer */
	long status;
	int (*fn)(const cJSON *obj, void *ctx);
	void *ctx;
	bool stopped;
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

static size_t stream_write(char *p, size_t size, size_t n, void *ctx)
{
	struct stream *s = ctx;

	if (!s->status)
		curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &s->status);
	if (s->status < 200 || s->status >= 300)
		return collect(p, size, n, &s->error);
	for (size_t i = 0; i < n; i++) {
		if (p[i] != '\n') {
			if (s->line.len >= LINE_MAX_LEN)
				return 0;
			if (buf_append(&s->line, p + i, 1) < 0)
				return 0;
			continue;
		}
		if (s->line.len && stream_line(s, s->line.data, s->line.len)) {
			s->stopped = true;
			return 0;
		}
		s->line.len = 0;
	}
	return n;
}

int oshctl_stream(const char *path, int (*fn)(const cJSON *obj, void *ctx), void *ctx,
		  const volatile int *stop)
{
	struct stream s = { .fn = fn, .ctx = ctx };
	struct curl_slist *headers = NULL;
	CURLM *m = NULL;
	CURLMsg *msg;
	CURLcode cc = CURLE_OK;
	int running = 1, left, r;

	s.curl = request_new("GET", path, NULL, &headers);
	m = curl_multi_init();
	if (!s.curl || !m) {
		r = oshctl_print_unreachable(-ENOMEM);
		goto out;
	}
	curl_easy_setopt(s.curl, CURLOPT_WRITEFUNCTION, stream_write);
	curl_easy_setopt(s.curl, CURLOPT_WRITEDATA, &s);
	curl_multi_add_handle(m, s.curl);
	/* The multi interface so that a stop request is seen within 100 ms even on a quiet
	 * follow stream. */
	while (running) {
		if (curl_multi_perform(m, &running) != CURLM_OK)
			break;
		if (stop && *stop)
			break;
		if (running && curl_multi_poll(m, NULL, 0, 100, NULL) != CURLM_OK)
			break;
	}
	while ((msg = curl_multi_info_read(m, &left)))
		if (msg->msg == CURLMSG_DONE)
			cc = msg->data.result;
	if (s.status && (s.status < 200 || s.status >= 300)) {
		cJSON *answer =
		    s.error.len ? cJSON_ParseWithLength(s.error.data, s.error.len) : NULL;

		r = oshctl_print_api_error(s.status, answer, NULL);
		cJSON_Delete(answer);
		goto out;
	}
	if (cc != CURLE_OK && !s.stopped && !(stop && *stop)) {
		r = oshctl_print_unreachable(curl_errno(s.curl, cc));
		goto out;
	}
	/* A last line without its newline (the daemon ended the stream mid-write) is dropped:
	 * it may be cut short. */
	r = OSHCTL_EXIT_OK;
out:
	if (m && s.curl)
		curl_multi_remove_handle(m, s.curl);
	curl_multi_cleanup(m);
	curl_easy_cleanup(s.curl);
	curl_slist_free_all(headers);
	free(s.line.data);
	free(s.error.data);
	return r;
}

/* --- the exec protocol ----------------------------------------------------------------------- */

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

/* Waits up to ms for fd to be readable. Returns 0, -ETIMEDOUT or -errno. */
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

/* Reads one byte at a time up to and including the blank line that ends the response head, so
 * that nothing after it (the exec protocol's first line) is consumed. Returns 0 with the head
 * NUL-terminated in buf, -EPROTO when it is too long or the peer closed, or -errno. */
static int read_head(int fd, char *buf, size_t size)
{
	size_t n = 0;

	for (;;) {
		ssize_t got;
		int r;

		if (n + 1 >= size)
			return -EPROTO;
		r = wait_readable(fd, 30000);
		if (r < 0)
			return r;
		got = read(fd, buf + n, 1);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (got == 0)
			return -EPROTO;
		n++;
		buf[n] = '\0';
		if (n >= 4 && !memcmp(buf + n - 4, "\r\n\r\n", 4))
			return 0;
	}
}

/* The value of header name in a response head, copied into out; false when absent. */
static bool head_value(const char *head, const char *name, char *out, size_t size)
{
	size_t nl = strlen(name);
	const char *p = strstr(head, "\r\n");

	while (p && p[2] != '\r') {
		const char *line = p + 2, *end = strstr(line, "\r\n");

		if (!end)
			break;
		if ((size_t)(end - line) > nl && !strncasecmp(line, name, nl) && line[nl] == ':') {
			const char *v = line + nl + 1;
			size_t len;

			while (*v == ' ' || *v == '\t')
				v++;
			len = (size_t)(end - v);
			while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
				len--;
			if (len >= size)
				len = size - 1;
			memcpy(out, v, len);
			out[len] = '\0';
			return true;
		}
		p = end;
	}
	return false;
}

/* The status of a response head "HTTP/1.x NNN ...", or -1. */
static int status_code(const char *head)
{
	if (strncmp(head, "HTTP/1.", 7) || (head[7] != '0' && head[7] != '1') || head[8] != ' ')
		return -1;
	for (int i = 9; i < 12; i++)
		if (head[i] < '0' || head[i] > '9')
			return -1;
	if (head[12] != ' ' && head[12] != '\r')
		return -1;
	return (head[9] - '0') * 100 + (head[10] - '0') * 10 + (head[11] - '0');
}

/* Reads exactly n bytes. Returns 0, -EPROTO at an early end, or -errno. */
static int read_exact(int fd, char *p, size_t n)
{
	while (n) {
		ssize_t got;
		int r = wait_readable(fd, 30000);

		if (r < 0)
			return r;
		got = read(fd, p, n);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (got == 0)
			return -EPROTO;
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

/* The body of a non-101 answer: Content-Length, chunked, or up to the end of the connection.
 * Returns the parsed JSON or NULL. */
static cJSON *read_error_body(int fd, const char *head)
{
	char v[64];
	struct buf b = { 0 };
	cJSON *j = NULL;

	if (head_value(head, "Content-Length", v, sizeof(v))) {
		char *end;
		unsigned long n = strtoul(v, &end, 10);

		if (*end || n > ANSWER_MAX)
			return NULL;
		b.data = malloc(n + 1);
		if (!b.data || read_exact(fd, b.data, n) < 0)
			goto out;
		b.len = n;
	} else if (head_value(head, "Transfer-Encoding", v, sizeof(v)) &&
		   !strcasecmp(v, "chunked")) {
		for (;;) {
			char line[64], *end;
			size_t i = 0;
			unsigned long n;

			/* chunk-size [; ext] CRLF */
			for (;;) {
				if (i + 1 >= sizeof(line) || read_exact(fd, line + i, 1) < 0)
					goto out;
				if (line[i++] == '\n')
					break;
			}
			line[i] = '\0';
			n = strtoul(line, &end, 16);
			if (end == line || n > ANSWER_MAX || b.len + n > ANSWER_MAX)
				goto out;
			if (n == 0)
				break;
			if (b.len + n + 1 > b.cap) {
				char *nd = realloc(b.data, b.len + n + 1);

				if (!nd)
					goto out;
				b.data = nd;
				b.cap = b.len + n + 1;
			}
			if (read_exact(fd, b.data + b.len, n) < 0 || read_exact(fd, line, 2) < 0)
				goto out;
			b.len += n;
		}
	} else {
		for (;;) {
			char chunk[4096];
			ssize_t got;

			if (wait_readable(fd, 30000) < 0)
				goto out;
			got = read(fd, chunk, sizeof(chunk));
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0)
				break;
			if (b.len + (size_t)got > ANSWER_MAX ||
			    buf_append(&b, chunk, (size_t)got) < 0)
				goto out;
		}
	}
	if (b.data)
		j = cJSON_ParseWithLength(b.data, b.len);
out:
	free(b.data);
	return j;
}

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
	char buf[LINE_MAX_LEN / 16];
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

/* Builds the request head and body for exec. Returns a new string or NULL. */
static char *exec_request(const char *name, char *const *argv, char *const *env,
			  const char *workdir)
{
	cJSON *body = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(body, "argv");
	char *json = NULL, *req = NULL, *ename = oshctl_url_escape(name);

	if (!a || !ename)
		goto out;
	for (size_t i = 0; argv[i]; i++)
		if (!cJSON_AddItemToArray(a, cJSON_CreateString(argv[i])))
			goto out;
	if (env) {
		cJSON *e = cJSON_AddArrayToObject(body, "env");

		if (!e)
			goto out;
		for (size_t i = 0; env[i]; i++)
			if (!cJSON_AddItemToArray(e, cJSON_CreateString(env[i])))
				goto out;
	}
	if (workdir && !cJSON_AddStringToObject(body, "workdir", workdir))
		goto out;
	json = cJSON_PrintUnformatted(body);
	if (!json)
		goto out;
	if (asprintf(&req,
		     "POST /v1/sandboxes/%s/exec HTTP/1.1\r\n"
		     "Host: localhost\r\n"
		     "Content-Type: application/json\r\n"
		     "Content-Length: %zu\r\n"
		     "Connection: Upgrade\r\n"
		     "Upgrade: osh-exec/1\r\n"
		     "\r\n%s",
		     ename, strlen(json), json) < 0)
		req = NULL;
out:
	free(ename);
	free(json);
	cJSON_Delete(body);
	return req;
}

/* Handles one line from oshd after the upgrade. Returns 1 with *status set when the command
 * has ended (or could not start), 0 to go on, -EPROTO for a line that is not the protocol. */
static int exec_line(const char *line, bool *started, int *status)
{
	cJSON *j = cJSON_Parse(line);
	const cJSON *v;
	int r = 0;

	if (!cJSON_IsObject(j)) {
		r = -EPROTO;
		goto out;
	}
	if (cJSON_GetObjectItemCaseSensitive(j, "error")) {
		/* 126/127 keep their meaning for the caller; they come with the error. */
		oshctl_print_api_error(500, j, NULL);
	}
	v = cJSON_GetObjectItemCaseSensitive(j, "exit");
	if (cJSON_IsNumber(v)) {
		*status = v->valueint >= 0 && v->valueint <= 255 ? v->valueint : OSHCTL_EXIT_OSH;
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
	struct lines *l = NULL;
	sigset_t set, old;
	char head[HEAD_MAX] = "", line[4096];
	char *req = NULL;
	bool started = false, masked = false;
	int sock = -1, sfd = -1, status = OSHCTL_EXIT_OSH, r, code = 0;

	req = exec_request(name, argv, env, workdir);
	l = calloc(1, sizeof(*l));
	if (!req || !l) {
		fprintf(stderr, "oshctl: exec: out of memory\n");
		goto out;
	}
	sock = unix_connect(oshctl_client_socket());
	if (sock < 0) {
		oshctl_print_unreachable(sock);
		goto out;
	}
	r = write_all(sock, req, strlen(req));
	if (r == 0)
		r = read_head(sock, head, sizeof(head));
	if (r < 0) {
		fprintf(stderr, "oshctl: exec: no answer from oshd on %s: %s\n",
			oshctl_client_socket(), r == -EPROTO ? "connection closed" : strerror(-r));
		goto out;
	}
	code = status_code(head);
	if (code < 0) {
		fprintf(stderr, "oshctl: exec: oshd sent a malformed answer\n");
		goto out;
	}
	if (code != 101) {
		cJSON *answer = read_error_body(sock, head);

		oshctl_print_api_error(code, answer, NULL);
		cJSON_Delete(answer);
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
			while ((r = lines_next(l, line, sizeof(line))) > 0) {
				int e = exec_line(line, &started, &status);

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
	free(l);
	free(req);
	return status;
}
