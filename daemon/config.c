/* SPDX-License-Identifier: Apache-2.0 */
/* oshd.conf reader: a table of keys, each with the parser of its value, applied over the
 * defaults; the first problem found is reported with its line and column. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"

#define CONFIG_FILE_MAX (1u << 20)
#define LOG_MIN_BYTES	4096u
#define SHOWN_MAX	80 /* bytes of a bad value quoted back in a message */

enum value_type {
	V_PATH,		 /* absolute path */
	V_PATH_OR_EMPTY, /* absolute path, or "" for none */
	V_SOCKET_PATH,	 /* absolute path that fits sockaddr_un */
	V_GROUP,	 /* group name */
	V_MODE,		 /* octal permission bits */
	V_SIZE,		 /* bytes, optional K/M/G suffix */
	V_UINT,		 /* whole number in [min, max] */
	V_ONOFF,	 /* on | off */
	V_TCP,		 /* ADDR:PORT (osh_config_parse_tcp), or "" for none */
};

struct key {
	const char *name;
	enum value_type type;
	size_t offset; /* of the member in struct osh_config */
	uint64_t min, max;
};

#define M(member) offsetof(struct osh_config, member)
static const struct key keys[] = {
	{ "socket", V_SOCKET_PATH, M(socket), 0, 0 },
	{ "socket_group", V_GROUP, M(socket_group), 0, 0 },
	{ "socket_mode", V_MODE, M(socket_mode), 0, 0 },
	{ "admin_group", V_GROUP, M(admin_group), 0, 0 },
	{ "database", V_PATH, M(database), 0, 0 },
	{ "bpffs", V_PATH, M(bpffs), 0, 0 },
	{ "event_log", V_PATH_OR_EMPTY, M(event_log), 0, 0 },
	{ "event_log_max_bytes", V_SIZE, M(event_log_max_bytes), LOG_MIN_BYTES, UINT64_MAX / 2 },
	{ "event_log_keep", V_UINT, M(event_log_keep), 1, 100 },
	{ "events_keep", V_UINT, M(events_keep), 1, 100000000 },
	{ "spare_sandboxes", V_UINT, M(spare_sandboxes), 0, 64 },
	{ "prove_gate", V_ONOFF, M(prove_gate), 0, 0 },
	{ "prover_registry", V_PATH, M(prover_registry), 0, 0 },
	{ "accepted_risks", V_PATH_OR_EMPTY, M(accepted_risks), 0, 0 },
	{ "tcp_listen", V_TCP, M(tcp_listen), 0, 0 },
	{ "tls_cert", V_PATH_OR_EMPTY, M(tls_cert), 0, 0 },
	{ "tls_key", V_PATH_OR_EMPTY, M(tls_key), 0, 0 },
	{ "tls_client_ca", V_PATH_OR_EMPTY, M(tls_client_ca), 0, 0 },
};
#undef M
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

int osh_config_defaults(struct osh_config *ret)
{
	struct osh_config c = {
		.socket = strdup("/run/osh/oshd.sock"),
		.socket_group = strdup("osh"),
		.socket_mode = 0660,
		.admin_group = strdup("osh"),
		.database = strdup("/var/lib/osh/osh.db"),
		.bpffs = strdup("/sys/fs/bpf/osh"),
		.event_log = strdup("/var/log/osh/events.jsonl"),
		.event_log_max_bytes = 16u << 20,
		.event_log_keep = 4,
		.events_keep = 10000,
		.spare_sandboxes = 4,
		.prove_gate = false,
		.prover_registry = strdup("/usr/local/share/osh/prover-registry"),
		.accepted_risks = NULL,
	};

	if (!c.socket || !c.socket_group || !c.admin_group || !c.database || !c.bpffs ||
	    !c.event_log || !c.prover_registry) {
		osh_config_free(&c);
		return -ENOMEM;
	}
	*ret = c;
	return 0;
}

void osh_config_free(struct osh_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->socket);
	free(cfg->socket_group);
	free(cfg->admin_group);
	free(cfg->database);
	free(cfg->bpffs);
	free(cfg->event_log);
	free(cfg->prover_registry);
	free(cfg->accepted_risks);
	free(cfg->tcp_listen);
	free(cfg->tls_cert);
	free(cfg->tls_key);
	free(cfg->tls_client_ca);
	memset(cfg, 0, sizeof(*cfg));
}

/* A parse in progress: where we are, for messages. */
struct parser {
	const char *file;
	unsigned line;
	char *err;		    /* first error, malloc'ed */
	unsigned seen_line[N_KEYS]; /* line a key was set on, 0: not yet */
	unsigned seen_col[N_KEYS];  /* and the column of its name there */
};

__attribute__((format(printf, 3, 4))) static int fail_at(struct parser *p, unsigned col,
							 const char *fmt, ...)
{
	char *msg = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	if (asprintf(&p->err, "%s:%u:%u: %s", p->file, p->line, col, msg) < 0)
		p->err = NULL;
	free(msg);
	return p->err ? -EINVAL : -ENOMEM;
}

/* The value as quoted back in a message: at most SHOWN_MAX bytes. */
static const char *shown(const char *v, char buf[SHOWN_MAX + 4])
{
	size_t n = strlen(v);

	if (n <= SHOWN_MAX)
		return v;
	memcpy(buf, v, SHOWN_MAX);
	memcpy(buf + SHOWN_MAX, "...", 4);
	return buf;
}

static bool is_group_name(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > 32 ||
	    !((v[0] >= 'a' && v[0] <= 'z') || (v[0] >= 'A' && v[0] <= 'Z') || v[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++) {
		char c = v[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

/* Decimal digits only (no sign, no spaces: strtoull would accept both); -ERANGE on overflow. */
static int parse_decimal(const char *s, const char **ret_end, uint64_t *ret)
{
	uint64_t v = 0;
	const char *q = s;

	if (*q < '0' || *q > '9')
		return -EINVAL;
	for (; *q >= '0' && *q <= '9'; q++) {
		if (v > (UINT64_MAX - (uint64_t)(*q - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*q - '0');
	}
	*ret_end = q;
	*ret = v;
	return 0;
}

int osh_config_parse_tcp(const char *v, struct sockaddr_storage *ret, socklen_t *ret_len)
{
	struct sockaddr_storage ss = { 0 };
	const char *host = v, *host_end, *end;
	char addr[INET6_ADDRSTRLEN];
	bool v6 = v[0] == '[';
	uint64_t port;

	if (v6) {
		host++;
		host_end = strchr(host, ']');
		if (!host_end || host_end[1] != ':')
			return -EINVAL;
	} else {
		host_end = strchr(host, ':');
		if (!host_end)
			return -EINVAL;
	}
	if ((size_t)(host_end - host) >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, host, (size_t)(host_end - host));
	addr[host_end - host] = '\0';
	/* The port follows "]:" or ":". */
	if (parse_decimal(host_end + (v6 ? 2 : 1), &end, &port) < 0 || *end || port > 65535)
		return -EINVAL;
	if (v6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, addr, &a->sin6_addr) != 1)
			return -EINVAL;
		*ret_len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, addr, &a->sin_addr) != 1)
			return -EINVAL;
		*ret_len = sizeof(*a);
	}
	*ret = ss;
	return 0;
}

static int set_string(char **slot, const char *v, bool empty_is_null)
{
	char *s = NULL;

	if (!(empty_is_null && !*v)) {
		s = strdup(v);
		if (!s)
			return -ENOMEM;
	}
	free(*slot);
	*slot = s;
	return 0;
}

/* col: column of the value's token (its opening quote, if quoted); inner: of its first
 * character. */
static int apply_value(struct parser *p, const struct key *k, const char *v, unsigned col,
		       unsigned inner, struct osh_config *cfg)
{
	void *slot = (char *)cfg + k->offset;
	char buf[SHOWN_MAX + 4];
	const char *end;
	uint64_t n;

	for (const char *c = v; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return fail_at(p, inner + (unsigned)(c - v),
				       "%s: control character in value", k->name);

	switch (k->type) {
	case V_PATH_OR_EMPTY:
		if (!*v)
			return set_string(slot, v, true);
		/* fall through */
	case V_PATH:
	case V_SOCKET_PATH:
		if (v[0] != '/')
			return fail_at(p, col, "%s: expected an absolute path, got \"%s\"", k->name,
				       shown(v, buf));
		if (k->type == V_SOCKET_PATH &&
		    strlen(v) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return fail_at(p, col, "%s: socket path longer than %zu bytes", k->name,
				       sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		return set_string(slot, v, false);
	case V_GROUP:
		if (!is_group_name(v))
			return fail_at(p, col, "%s: expected a group name, got \"%s\"", k->name,
				       shown(v, buf));
		return set_string(slot, v, false);
	case V_MODE: {
		size_t len = strlen(v);
		unsigned mode = 0;

		for (size_t i = 0; i < len; i++) {
			if (v[i] < '0' || v[i] > '7') {
				len = 0;
				break;
			}
			mode = mode * 8 + (unsigned)(v[i] - '0');
		}
		if (len == 0 || len > 4 || mode > 0777)
			return fail_at(p, col,
				       "%s: expected octal permission bits like 0660, got \"%s\"",
				       k->name, shown(v, buf));
		*(mode_t *)slot = (mode_t)mode;
		return 0;
	}
	case V_SIZE: {
		unsigned shift = 0;
		int r = parse_decimal(v, &end, &n);

		if (r == 0) {
			if (*end == 'K')
				shift = 10;
			else if (*end == 'M')
				shift = 20;
			else if (*end == 'G')
				shift = 30;
			if (shift)
				end++;
			if (*end)
				r = -EINVAL;
			else if (n > (k->max >> shift))
				r = -ERANGE;
			else
				n <<= shift;
		}
		if (r < 0 || n < k->min)
			return fail_at(p, col,
				       "%s: expected a size in bytes of at least %" PRIu64
				       " (a number, optionally followed by K, M or G), got \"%s\"",
				       k->name, k->min, shown(v, buf));
		*(uint64_t *)slot = n;
		return 0;
	}
	case V_UINT:
		if (parse_decimal(v, &end, &n) < 0 || *end || n < k->min || n > k->max)
			return fail_at(p, col,
				       "%s: expected a whole number from %" PRIu64 " to %" PRIu64
				       ", got \"%s\"",
				       k->name, k->min, k->max, shown(v, buf));
		if (k->offset == offsetof(struct osh_config, event_log_keep))
			*(unsigned *)slot = (unsigned)n;
		else
			*(size_t *)slot = (size_t)n;
		return 0;
	case V_ONOFF:
		if (strcmp(v, "on") && strcmp(v, "off"))
			return fail_at(p, col, "%s: expected \"on\" or \"off\", got \"%s\"",
				       k->name, shown(v, buf));
		*(bool *)slot = !strcmp(v, "on");
		return 0;
	case V_TCP: {
		struct sockaddr_storage ss;
		socklen_t len;

		if (!*v)
			return set_string(slot, v, true);
		if (osh_config_parse_tcp(v, &ss, &len) < 0)
			return fail_at(
			    p, col,
			    "%s: expected ADDR:PORT with an IPv4 address or an IPv6 "
			    "address in brackets (127.0.0.1:7443, [::1]:7443), got \"%s\"",
			    k->name, shown(v, buf));
		return set_string(slot, v, false);
	}
	}
	abort();
}

/* Edit distance, for "did you mean"; keys are short, so the quadratic table is fine. */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[64];

	if (la >= 64 || lb >= 64)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* One line, NUL-terminated, without its newline. */
static int parse_line(struct parser *p, char *line, struct osh_config *cfg)
{
	char *s = line, *key, *v, *end;
	const struct key *k = NULL;
	unsigned key_col, v_col;
	size_t ki;

	while (is_blank(*s))
		s++;
	if (!*s || *s == '#' || (*s == '\r' && !s[1]))
		return 0;

	key = s;
	key_col = (unsigned)(s - line) + 1;
	while (*s && !is_blank(*s) && *s != '=')
		s++;
	if (s == key)
		return fail_at(p, key_col, "expected a key before \"=\"");
	end = s;
	while (is_blank(*s))
		s++;
	if (*s != '=') {
		*end = '\0'; /* the key ends here; the rest of the line is not needed */
		return fail_at(p, (unsigned)(s - line) + 1, "expected \"=\" after \"%s\"", key);
	}
	*end = '\0';
	s++;

	for (ki = 0; ki < N_KEYS; ki++)
		if (!strcmp(keys[ki].name, key)) {
			k = &keys[ki];
			break;
		}
	if (!k) {
		const char *best = NULL;
		size_t best_d = 3; /* suggest only close misspellings */

		for (size_t i = 0; i < N_KEYS; i++) {
			size_t d = distance(key, keys[i].name);

			if (d < best_d) {
				best_d = d;
				best = keys[i].name;
			}
		}
		if (best)
			return fail_at(p, key_col, "unknown key \"%s\" (did you mean \"%s\"?)", key,
				       best);
		return fail_at(p, key_col, "unknown key \"%s\"", key);
	}
	if (p->seen_line[ki])
		return fail_at(p, key_col, "duplicate key \"%s\" (first set on line %u)", key,
			       p->seen_line[ki]);
	p->seen_line[ki] = p->line;
	p->seen_col[ki] = key_col;

	while (is_blank(*s))
		s++;
	v = s;
	v_col = (unsigned)(v - line) + 1;
	end = v + strlen(v);
	while (end > v && (is_blank(end[-1]) || end[-1] == '\r'))
		end--;
	*end = '\0';
	if (*v == '"') {
		char *close = strchr(v + 1, '"');

		if (!close)
			return fail_at(p, v_col, "%s: unterminated quote", key);
		if (close[1])
			return fail_at(p, (unsigned)(close + 1 - line) + 1,
				       "%s: unexpected text after the closing quote", key);
		*close = '\0';
		v++;
		return apply_value(p, k, v, v_col, v_col + 1, cfg);
	}
	return apply_value(p, k, v, v_col, v_col, cfg);
}

static size_t key_index(const char *name)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (!strcmp(keys[i].name, name))
			return i;
	abort();
}

/* TCP is served only over TLS to clients with certificates: tcp_listen without all three TLS
 * files is refused where tcp_listen is set, and a TLS file without tcp_listen where that file is
 * set (it would do nothing, which is never what its writer meant). */
static int check_tcp(struct parser *p, const struct osh_config *cfg)
{
	static const char *const names[] = { "tls_cert", "tls_key", "tls_client_ca" };
	const char *const values[] = { cfg->tls_cert, cfg->tls_key, cfg->tls_client_ca };
	char missing[64] = "";
	size_t k;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (cfg->tcp_listen && !values[i]) {
			if (*missing)
				strcat(missing, ", ");
			strcat(missing, names[i]);
		} else if (!cfg->tcp_listen && values[i]) {
			k = key_index(names[i]);
			p->line = p->seen_line[k];
			return fail_at(
			    p, p->seen_col[k],
			    "%s: set without tcp_listen (the TLS files serve only the TCP "
			    "listener)",
			    names[i]);
		}
	}
	if (!*missing)
		return 0;
	k = key_index("tcp_listen");
	p->line = p->seen_line[k];
	return fail_at(p, p->seen_col[k],
		       "tcp_listen: needs tls_cert, tls_key and tls_client_ca, missing %s (TCP is "
		       "served only over TLS, to clients whose certificates tls_client_ca signed)",
		       missing);
}

static int read_all(int fd, const char *path, char **ret, size_t *ret_len, char **ret_err)
{
	struct stat st;
	size_t len = 0;
	char *buf;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode)) {
		if (ret_err && asprintf(ret_err, "%s: not a regular file", path) < 0)
			*ret_err = NULL;
		return -EINVAL;
	}
	/* oshd runs as root and this file names what it opens and whom it trusts. */
	if (st.st_mode & S_IWOTH) {
		if (ret_err && asprintf(ret_err,
					"%s: writable by every user; refusing to read it "
					"(chmod o-w %s)",
					path, path) < 0)
			*ret_err = NULL;
		return -EPERM;
	}
	if (st.st_size > (off_t)CONFIG_FILE_MAX) {
		if (ret_err && asprintf(ret_err, "%s: larger than 1 MiB", path) < 0)
			*ret_err = NULL;
		return -EFBIG;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	/* Read to EOF rather than trusting st_size: the file may change while we read it. */
	for (;;) {
		ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;

			free(buf);
			return r;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == (size_t)st.st_size)
			break;
	}
	buf[len] = '\0';
	*ret = buf;
	*ret_len = len;
	return 0;
}

int osh_config_load(const char *path, bool explicit, struct osh_config *ret, char **ret_err)
{
	struct parser p = { .file = path ? path : OSH_CONFIG_PATH };
	struct osh_config cfg;
	char *buf = NULL, *line;
	size_t len = 0;
	int fd, r;

	if (ret_err)
		*ret_err = NULL;
	r = osh_config_defaults(&cfg);
	if (r < 0)
		return r;

	fd = open(p.file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		if (r == -ENOENT && !explicit) {
			*ret = cfg;
			return 0;
		}
		if (ret_err && asprintf(ret_err, "%s: %s", p.file, strerror(-r)) < 0)
			*ret_err = NULL;
		osh_config_free(&cfg);
		return r;
	}
	r = read_all(fd, p.file, &buf, &len, ret_err);
	close(fd);
	if (r < 0) {
		if (ret_err && !*ret_err && asprintf(ret_err, "%s: %s", p.file, strerror(-r)) < 0)
			*ret_err = NULL;
		osh_config_free(&cfg);
		return r;
	}

	line = buf;
	for (p.line = 1; line < buf + len; p.line++) {
		char *nl = memchr(line, '\n', (size_t)(buf + len - line));
		char *nul;

		if (nl)
			*nl = '\0';
		nul = memchr(line, '\0', (size_t)((nl ? nl : buf + len) - line));
		if (nul) {
			r = fail_at(&p, (unsigned)(nul - line) + 1, "NUL byte in line");
			break;
		}
		r = parse_line(&p, line, &cfg);
		if (r < 0)
			break;
		if (!nl)
			break;
		line = nl + 1;
	}
	if (r >= 0)
		r = check_tcp(&p, &cfg);
	free(buf);
	if (r < 0) {
		if (ret_err)
			*ret_err = p.err;
		else
			free(p.err);
		osh_config_free(&cfg);
		return r;
	}
	*ret = cfg;
	return 0;
}
