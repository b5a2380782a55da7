// SPDX-License-Identifier: Apache-2.0
// oshd.conf (daemon/config.c): real files in a temporary folder; a table of good files with the
// values they set and of bad files with the exact `FILE:LINE:COL: message` each must produce.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "config.h"

static char dir[] = "/tmp/osh-test-config.XXXXXX";
static char path[PATH_MAX];

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/oshd.conf", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return rmdir(dir);
}

static void write_conf(const char *text, size_t len, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void test_defaults(void **state)
{
	struct osh_config c;

	(void)state;
	assert_int_equal(osh_config_defaults(&c), 0);
	assert_string_equal(c.socket, "/run/osh/oshd.sock");
	assert_string_equal(c.socket_group, "osh");
	assert_int_equal(c.socket_mode, 0660);
	assert_string_equal(c.admin_group, "osh");
	assert_string_equal(c.database, "/var/lib/osh/osh.db");
	assert_string_equal(c.bpffs, "/sys/fs/bpf/osh");
	assert_string_equal(c.event_log, "/var/log/osh/events.jsonl");
	assert_int_equal(c.event_log_max_bytes, 16u << 20);
	assert_int_equal(c.event_log_keep, 4);
	assert_int_equal(c.events_keep, 10000);
	assert_int_equal(c.spare_sandboxes, 4);
	assert_false(c.prove_gate);
	assert_string_equal(c.prover_registry, "/usr/local/share/osh/prover-registry");
	assert_null(c.accepted_risks);
	assert_null(c.tcp_listen);
	assert_null(c.tls_cert);
	assert_null(c.tls_key);
	assert_null(c.tls_client_ca);
	osh_config_free(&c);
	osh_config_free(&c); /* zeroed: a second free is harmless */
	osh_config_free(NULL);
}

static void test_good(void **state)
{
	static const char text[] = "# oshd configuration\n"
				   "\n"
				   "   # indented comment\n"
				   "socket = /run/osh/other.sock\n"
				   "socket_group=wheel\n"
				   "socket_mode =0600\n"
				   "\tadmin_group\t=\tosh-admins   \n"
				   "database = \"/srv/osh db/osh.db\"\n"
				   "bpffs = /sys/fs/bpf/osh2\r\n"
				   "event_log = \"\"\n"
				   "event_log_max_bytes = 64K\n"
				   "event_log_keep = 9\n"
				   "events_keep = 123456\n"
				   "spare_sandboxes = 0\n"
				   "prove_gate = on\n"
				   "prover_registry = /opt/osh/registry\n"
				   "tls_client_ca = /etc/osh/tls/clients.pem\n"
				   "tcp_listen = [::1]:7443\n"
				   "tls_cert = /etc/osh/tls/server.pem\n"
				   "tls_key = \"/etc/osh/tls/server.key\"\n"
				   "accepted_risks = /etc/osh/accepted.yaml"; /* no final newline */
	struct osh_config c;
	char *err = (char *)1;

	(void)state;
	write_conf(text, strlen(text), 0644);
	assert_int_equal(osh_config_load(path, true, &c, &err), 0);
	assert_null(err);
	assert_string_equal(c.socket, "/run/osh/other.sock");
	assert_string_equal(c.socket_group, "wheel");
	assert_int_equal(c.socket_mode, 0600);
	assert_string_equal(c.admin_group, "osh-admins");
	assert_string_equal(c.database, "/srv/osh db/osh.db");
	assert_string_equal(c.bpffs, "/sys/fs/bpf/osh2");
	assert_null(c.event_log);
	assert_int_equal(c.event_log_max_bytes, 64u << 10);
	assert_int_equal(c.event_log_keep, 9);
	assert_int_equal(c.events_keep, 123456);
	assert_int_equal(c.spare_sandboxes, 0);
	assert_true(c.prove_gate);
	assert_string_equal(c.prover_registry, "/opt/osh/registry");
	assert_string_equal(c.accepted_risks, "/etc/osh/accepted.yaml");
	assert_string_equal(c.tcp_listen, "[::1]:7443");
	assert_string_equal(c.tls_cert, "/etc/osh/tls/server.pem");
	assert_string_equal(c.tls_key, "/etc/osh/tls/server.key");
	assert_string_equal(c.tls_client_ca, "/etc/osh/tls/clients.pem");
	osh_config_free(&c);
}

static void test_good_sizes(void **state)
{
	static const struct {
		const char *text;
		uint64_t bytes;
	} cases[] = {
		{ "event_log_max_bytes = 4096\n", 4096 },
		{ "event_log_max_bytes = 16M\n", 16u << 20 },
		{ "event_log_max_bytes = 2G\n", 2ull << 30 },
		{ "event_log = /var/log/x.jsonl\nevent_log_max_bytes = 1048576\n", 1048576 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct osh_config c;
		char *err = NULL;

		write_conf(cases[i].text, strlen(cases[i].text), 0600);
		assert_int_equal(osh_config_load(path, true, &c, &err), 0);
		assert_null(err);
		assert_int_equal(c.event_log_max_bytes, cases[i].bytes);
		osh_config_free(&c);
	}
}

/* examples/oshd.conf documents every key with its default: loading it gives the defaults. */
static void test_example(void **state)
{
	struct osh_config c, d;
	char *err = NULL;

	(void)state;
	assert_int_equal(osh_config_load("examples/oshd.conf", true, &c, &err), 0);
	assert_null(err);
	assert_int_equal(osh_config_defaults(&d), 0);
	assert_string_equal(c.socket, d.socket);
	assert_string_equal(c.socket_group, d.socket_group);
	assert_int_equal(c.socket_mode, d.socket_mode);
	assert_string_equal(c.admin_group, d.admin_group);
	assert_string_equal(c.database, d.database);
	assert_string_equal(c.bpffs, d.bpffs);
	assert_string_equal(c.event_log, d.event_log);
	assert_int_equal(c.event_log_max_bytes, d.event_log_max_bytes);
	assert_int_equal(c.event_log_keep, d.event_log_keep);
	assert_int_equal(c.events_keep, d.events_keep);
	assert_int_equal(c.prove_gate, d.prove_gate);
	assert_string_equal(c.prover_registry, d.prover_registry);
	assert_null(c.accepted_risks);
	assert_null(d.accepted_risks);
	assert_null(c.tcp_listen);
	assert_null(c.tls_cert);
	assert_null(c.tls_key);
	assert_null(c.tls_client_ca);
	osh_config_free(&c);
	osh_config_free(&d);
}

/* An empty file and a comments-only file give the defaults. */
static void test_empty(void **state)
{
	struct osh_config c;

	(void)state;
	write_conf("", 0, 0644);
	assert_int_equal(osh_config_load(path, true, &c, NULL), 0);
	assert_string_equal(c.socket, "/run/osh/oshd.sock");
	osh_config_free(&c);
	write_conf("# nothing\n\n  \n", 14, 0644);
	assert_int_equal(osh_config_load(path, true, &c, NULL), 0);
	assert_string_equal(c.event_log, "/var/log/osh/events.jsonl");
	osh_config_free(&c);
}

static void test_bad(void **state)
{
	static const struct {
		const char *text, *message; /* message without the "FILE:" prefix */
	} cases[] = {
		{ "sockt = /x\n", "1:1: unknown key \"sockt\" (did you mean \"socket\"?)" },
		{ "# c\n  frobnicate = 1\n", "2:3: unknown key \"frobnicate\"" },
		{ "socket = /a\nsocket = /b\n",
		  "2:1: duplicate key \"socket\" (first set on line 1)" },
		{ "socket /a\n", "1:8: expected \"=\" after \"socket\"" },
		{ "socket\n", "1:7: expected \"=\" after \"socket\"" },
		{ "= /a\n", "1:1: expected a key before \"=\"" },
		{ "socket = run/osh.sock\n",
		  "1:10: socket: expected an absolute path, got \"run/osh.sock\"" },
		{ "socket =\n", "1:9: socket: expected an absolute path, got \"\"" },
		{ "socket = "
		  "/run/osh/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock\n",
		  "1:10: socket: socket path longer than 107 bytes" },
		{ "database = \"relative/x.db\"\n",
		  "1:12: database: expected an absolute path, got \"relative/x.db\"" },
		{ "database = \"/x.db\n", "1:12: database: unterminated quote" },
		{ "database = \"/x.db\" # db\n",
		  "1:19: database: unexpected text after the closing quote" },
		{ "socket_mode = 0666 # world\n",
		  "1:15: socket_mode: expected octal permission bits like 0660, got \"0666 # "
		  "world\"" },
		{ "socket_mode = 0690\n",
		  "1:15: socket_mode: expected octal permission bits like 0660, got \"0690\"" },
		{ "socket_mode = 4755\n",
		  "1:15: socket_mode: expected octal permission bits like 0660, got \"4755\"" },
		{ "socket_group = 9osh\n",
		  "1:16: socket_group: expected a group name, got \"9osh\"" },
		{ "admin_group = \"\"\n", "1:15: admin_group: expected a group name, got \"\"" },
		{ "event_log = var/log\n",
		  "1:13: event_log: expected an absolute path, got \"var/log\"" },
		{ "event_log_max_bytes = 100\n",
		  "1:23: event_log_max_bytes: expected a size in bytes of at least 4096 (a number, "
		  "optionally followed by K, M or G), got \"100\"" },
		{ "event_log_max_bytes = 16MB\n",
		  "1:23: event_log_max_bytes: expected a size in bytes of at least 4096 (a number, "
		  "optionally followed by K, M or G), got \"16MB\"" },
		{ "event_log_max_bytes = -1\n",
		  "1:23: event_log_max_bytes: expected a size in bytes of at least 4096 (a number, "
		  "optionally followed by K, M or G), got \"-1\"" },
		{ "event_log_max_bytes = 99999999999999999999999\n",
		  "1:23: event_log_max_bytes: expected a size in bytes of at least 4096 (a number, "
		  "optionally followed by K, M or G), got \"99999999999999999999999\"" },
		{ "event_log_max_bytes = 9999999999999G\n",
		  "1:23: event_log_max_bytes: expected a size in bytes of at least 4096 (a number, "
		  "optionally followed by K, M or G), got \"9999999999999G\"" },
		{ "event_log_keep = 0\n",
		  "1:18: event_log_keep: expected a whole number from 1 to 100, got \"0\"" },
		{ "event_log_keep = +3\n",
		  "1:18: event_log_keep: expected a whole number from 1 to 100, got \"+3\"" },
		{ "events_keep = 10k\n",
		  "1:15: events_keep: expected a whole number from 1 to 100000000, got \"10k\"" },
		{ "spare_sandboxes = 65\n",
		  "1:19: spare_sandboxes: expected a whole number from 0 to 64, got \"65\"" },
		{ "prove_gate = yes\n",
		  "1:14: prove_gate: expected \"on\" or \"off\", got \"yes\"" },
		{ "prover_registry = ~/reg\n",
		  "1:19: prover_registry: expected an absolute path, got \"~/reg\"" },
		{ "accepted_risks = risks.yaml\n",
		  "1:18: accepted_risks: expected an absolute path, got \"risks.yaml\"" },
		{ "tcp_listen = localhost:7443\n",
		  "1:14: tcp_listen: expected ADDR:PORT with an IPv4 address or an IPv6 address in "
		  "brackets (127.0.0.1:7443, [::1]:7443), got \"localhost:7443\"" },
		{ "tcp_listen = ::1:7443\n",
		  "1:14: tcp_listen: expected ADDR:PORT with an IPv4 address or an IPv6 address in "
		  "brackets (127.0.0.1:7443, [::1]:7443), got \"::1:7443\"" },
		/* TCP only with TLS client certificates: at tcp_listen, every missing file named. */
		{ "tcp_listen = 0.0.0.0:7443\n",
		  "1:1: tcp_listen: needs tls_cert, tls_key and tls_client_ca, missing tls_cert, "
		  "tls_key, tls_client_ca (TCP is served only over TLS, to clients whose "
		  "certificates "
		  "tls_client_ca signed)" },
		{ "# tls\ntls_cert = /c.pem\n  tcp_listen = 127.0.0.1:7443\ntls_key = /k.pem\n",
		  "3:3: tcp_listen: needs tls_cert, tls_key and tls_client_ca, missing "
		  "tls_client_ca "
		  "(TCP is served only over TLS, to clients whose certificates tls_client_ca "
		  "signed)" },
		{ "tcp_listen = [::1]:7443\ntls_client_ca = /ca.pem\ntls_cert = \"\"\n",
		  "1:1: tcp_listen: needs tls_cert, tls_key and tls_client_ca, missing tls_cert, "
		  "tls_key (TCP is served only over TLS, to clients whose certificates "
		  "tls_client_ca "
		  "signed)" },
		/* A TLS file without the listener would do nothing. */
		{ "event_log = \"\"\n  tls_key = /k.pem\n",
		  "2:3: tls_key: set without tcp_listen (the TLS files serve only the TCP "
		  "listener)" },
		{ "tcp_listen = \"\"\ntls_client_ca = /ca.pem\n",
		  "2:1: tls_client_ca: set without tcp_listen (the TLS files serve only the TCP "
		  "listener)" },
		/* A line error comes first, wherever it is. */
		{ "tcp_listen = 127.0.0.1:7443\nsockt = /x\n",
		  "2:1: unknown key \"sockt\" (did you mean \"socket\"?)" },
		{ "bpffs = /sys/fs/\x01"
		  "bpf\n",
		  "1:17: bpffs: control character in value" },
		{ "bpffs = \"/sys/\x7f\"\n", "1:15: bpffs: control character in value" },
		{ "socket = /x\nbpffs = /y\n\n\nbpffs = /z\n",
		  "5:1: duplicate key \"bpffs\" (first set on line 2)" },
		{ "database = "
		  "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		  "aaaaaaaaaaaaaa\nsocket_mode = "
		  "1234567890123456789012345678901234567890123456789012345678"
		  "901234567890123456789012345678901234567890\n",
		  "2:15: socket_mode: expected octal permission bits like 0660, got "
		  "\"12345678901234567"
		  "890123456789012345678901234567890123456789012345678901234567890...\"" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct osh_config c = { .socket = (char *)"untouched" };
		char *err = NULL, *want;

		write_conf(cases[i].text, strlen(cases[i].text), 0644);
		assert_int_equal(osh_config_load(path, true, &c, &err), -EINVAL);
		assert_non_null(err);
		assert_true(asprintf(&want, "%s:%s", path, cases[i].message) > 0);
		if (strcmp(err, want))
			fail_msg("case %zu:\n got  %s\n want %s", i, err, want);
		assert_string_equal(c.socket, "untouched");
		free(want);
		free(err);
	}
}

static void test_parse_tcp(void **state)
{
	static const struct {
		const char *text, *addr;
		int family;
		unsigned port;
	} good[] = {
		{ "127.0.0.1:0", "127.0.0.1", AF_INET, 0 },
		{ "0.0.0.0:65535", "0.0.0.0", AF_INET, 65535 },
		{ "192.0.2.7:007443", "192.0.2.7", AF_INET, 7443 },
		{ "[::1]:7443", "::1", AF_INET6, 7443 },
		{ "[::]:1", "::", AF_INET6, 1 },
		{ "[2001:db8::7]:443", "2001:db8::7", AF_INET6, 443 },
		{ "[::ffff:192.0.2.1]:80", "::ffff:192.0.2.1", AF_INET6, 80 },
	};
	static const char *const bad[] = {
		"",
		"127.0.0.1",
		"127.0.0.1:",
		"127.0.0.1:65536",
		"127.0.0.1:-1",
		"127.0.0.1:+1",
		"127.0.0.1:80x",
		"127.0.0.1: 80",
		" 127.0.0.1:80",
		"1.2.3:4",
		"localhost:80",
		"::1:80",
		"[::1]80",
		"[::1]:",
		"[::1",
		"[127.0.0.1]:80",
		"[fe80::1%lo]:80",
		":80",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct sockaddr_storage ss;
		socklen_t len = 0;
		char addr[INET6_ADDRSTRLEN];
		const void *a;
		unsigned port;

		if (osh_config_parse_tcp(good[i].text, &ss, &len) < 0)
			fail_msg("%s: refused", good[i].text);
		assert_int_equal(ss.ss_family, good[i].family);
		if (good[i].family == AF_INET) {
			assert_int_equal(len, sizeof(struct sockaddr_in));
			a = &((struct sockaddr_in *)&ss)->sin_addr;
			port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		} else {
			assert_int_equal(len, sizeof(struct sockaddr_in6));
			a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
			port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		}
		assert_non_null(inet_ntop(good[i].family, a, addr, sizeof(addr)));
		assert_string_equal(addr, good[i].addr);
		assert_int_equal(port, good[i].port);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sockaddr_storage ss = { .ss_family = 99 };
		socklen_t len = 7;

		if (osh_config_parse_tcp(bad[i], &ss, &len) != -EINVAL)
			fail_msg("\"%s\": accepted", bad[i]);
		assert_int_equal(ss.ss_family, 99); /* untouched */
		assert_int_equal(len, 7);
	}
}

static void test_nul_byte(void **state)
{
	static const char text[] = "socket = /a\nbpf\0fs = /b\n";
	struct osh_config c;
	char *err = NULL, *want;

	(void)state;
	write_conf(text, sizeof(text) - 1, 0644);
	assert_int_equal(osh_config_load(path, true, &c, &err), -EINVAL);
	assert_true(asprintf(&want, "%s:2:4: NUL byte in line", path) > 0);
	assert_string_equal(err, want);
	free(want);
	free(err);
}

static void test_missing(void **state)
{
	struct osh_config c;
	char missing[PATH_MAX + 16], *err = NULL, *want;

	(void)state;
	snprintf(missing, sizeof(missing), "%s/absent.conf", dir);
	/* The default path may be absent: defaults apply. */
	assert_int_equal(osh_config_load(missing, false, &c, &err), 0);
	assert_null(err);
	assert_string_equal(c.database, "/var/lib/osh/osh.db");
	osh_config_free(&c);
	/* A file the user named must exist. */
	assert_int_equal(osh_config_load(missing, true, &c, &err), -ENOENT);
	assert_true(asprintf(&want, "%s: No such file or directory", missing) > 0);
	assert_string_equal(err, want);
	free(want);
	free(err);
}

static void test_unsafe_file(void **state)
{
	struct osh_config c;
	char *err = NULL, *want;

	(void)state;
	write_conf("socket = /x\n", 12, 0666);
	assert_int_equal(osh_config_load(path, false, &c, &err), -EPERM);
	assert_true(asprintf(&want,
			     "%s: writable by every user; refusing to read it (chmod o-w %s)", path,
			     path) > 0);
	assert_string_equal(err, want);
	free(want);
	free(err);

	/* A directory is not a configuration file, even at the default path. */
	assert_int_equal(osh_config_load(dir, false, &c, &err), -EINVAL);
	assert_true(asprintf(&want, "%s: not a regular file", dir) > 0);
	assert_string_equal(err, want);
	free(want);
	free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),    cmocka_unit_test(test_good),
		cmocka_unit_test(test_good_sizes),  cmocka_unit_test(test_example),
		cmocka_unit_test(test_empty),	    cmocka_unit_test(test_bad),
		cmocka_unit_test(test_nul_byte),    cmocka_unit_test(test_missing),
		cmocka_unit_test(test_unsafe_file), cmocka_unit_test(test_parse_tcp),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
