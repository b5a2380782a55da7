// SPDX-License-Identifier: Apache-2.0
// The event pipeline (daemon/events.c) with real files and a real SQLite store (daemon/store.c)
// in a temporary folder: ids, the Event JSON, ring overwrite, filters, since/limit, a reader
// woken by another thread, the OCSF log lines and their rotation, reading back from the store
// past the ring, ids continuing across a restart, and a flood of 1,000,000 events from two
// threads that must finish with bounded memory and counters that add up.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include <cmocka.h>

#include "events.h"
#include "store.h"

static char dir[] = "/tmp/osh-test-events.XXXXXX";

static void rm_dir_contents(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char p[PATH_MAX];

		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		unlink(p);
	}
	closedir(d);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	rm_dir_contents();
	return rmdir(dir);
}

/* Each test starts with an empty folder. */
static int clean(void **state)
{
	(void)state;
	rm_dir_contents();
	return 0;
}

static const struct osh_event egress_deny = {
	.time_ns = 1795786200123456789LL, /* 2026-11-27T13:30:00.123Z */
	.sandbox = "agent-1",
	.kind = "egress",
	.decision = "deny",
	.pid = 4242,
	.uid = 65534,
	.comm = "curl",
	.exe = "/usr/bin/curl",
	.operation = "connect",
	.target = "198.51.100.7:443/tcp",
	.host = "api.example.com",
	.closest = "github_api",
	.hint = "add 198.51.100.7:443 to github_api",
	.message = "denied connect 198.51.100.7:443/tcp by /usr/bin/curl (pid 4242)",
};

static struct osh_event ev_of(const char *sandbox, const char *kind, const char *decision)
{
	struct osh_event e = egress_deny;

	e.sandbox = sandbox;
	e.kind = kind;
	e.decision = decision;
	return e;
}

/* Collects what a read delivers. */
struct got {
	int64_t ids[8192];
	char *json[8192];
	size_t n;
	size_t stop_after; /* 0: never stop */
};

static int collect(int64_t id, const char *json, void *ctx)
{
	struct got *g = ctx;

	assert_true(g->n < 8192);
	g->ids[g->n] = id;
	g->json[g->n] = strdup(json);
	assert_non_null(g->json[g->n]);
	g->n++;
	return g->stop_after && g->n >= g->stop_after;
}

static void got_reset(struct got *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->json[i]);
	g->n = 0;
	g->stop_after = 0;
}

static struct got *got_new(void)
{
	struct got *g = calloc(1, sizeof(*g));

	assert_non_null(g);
	return g;
}

static void got_free(struct got *g)
{
	got_reset(g);
	free(g);
}

static void test_ids_and_json(void **state)
{
	struct osh_events *ev;
	struct osh_events_stats st;
	struct got *g = got_new();
	struct osh_event dns = { .sandbox = "agent-1",
				 .kind = "dns",
				 .decision = "audit",
				 .pid = 0,
				 .uid = -1,
				 .host = "evil.example",
				 .message = "audit dns evil.example" };
	cJSON *o;

	(void)state;
	assert_int_equal(osh_events_open(&(struct osh_events_opts){ 0 }, &ev), 0);
	assert_int_equal(osh_events_add(ev, &egress_deny), 1);
	assert_int_equal(osh_events_add(ev, &dns), 2);
	assert_int_equal(
	    osh_events_add(ev, &(struct osh_event){ .kind = "fs", .decision = "deny" }), 3);
	/* Only the kinds and decisions of docs/api.md. */
	assert_int_equal(
	    osh_events_add(ev, &(struct osh_event){ .kind = "net", .decision = "deny" }), -EINVAL);
	assert_int_equal(
	    osh_events_add(ev, &(struct osh_event){ .kind = "fs", .decision = "allow" }), -EINVAL);
	assert_int_equal(osh_events_add(ev, &(struct osh_event){ .decision = "deny" }), -EINVAL);
	/* oshd's own pins findings have their own decisions, and only they. */
	assert_int_equal(
	    osh_events_add(ev, &(struct osh_event){ .kind = "pins", .decision = "deny" }), -EINVAL);
	assert_int_equal(
	    osh_events_add(ev, &(struct osh_event){ .kind = "egress", .decision = "restored" }),
	    -EINVAL);

	assert_int_equal(osh_events_read(ev, 0, NULL, 0, 0, collect, g), 3);
	assert_int_equal(g->ids[0], 1);
	assert_int_equal(g->ids[2], 3);
	/* The id is the first member, as in docs/api.md. */
	assert_true(!strncmp(g->json[0], "{\"id\":1,\"time\":", 15));
	o = cJSON_Parse(g->json[0]);
	assert_non_null(o);
	assert_int_equal(cJSON_GetObjectItem(o, "id")->valuedouble, 1);
	assert_string_equal(cJSON_GetObjectItem(o, "time")->valuestring,
			    "2026-11-27T13:30:00.123Z");
	assert_string_equal(cJSON_GetObjectItem(o, "sandbox")->valuestring, "agent-1");
	assert_string_equal(cJSON_GetObjectItem(o, "kind")->valuestring, "egress");
	assert_string_equal(cJSON_GetObjectItem(o, "decision")->valuestring, "deny");
	assert_int_equal(cJSON_GetObjectItem(o, "pid")->valuedouble, 4242);
	assert_int_equal(cJSON_GetObjectItem(o, "uid")->valuedouble, 65534);
	assert_string_equal(cJSON_GetObjectItem(o, "comm")->valuestring, "curl");
	assert_string_equal(cJSON_GetObjectItem(o, "exe")->valuestring, "/usr/bin/curl");
	assert_string_equal(cJSON_GetObjectItem(o, "operation")->valuestring, "connect");
	assert_string_equal(cJSON_GetObjectItem(o, "target")->valuestring, "198.51.100.7:443/tcp");
	assert_string_equal(cJSON_GetObjectItem(o, "host")->valuestring, "api.example.com");
	assert_string_equal(cJSON_GetObjectItem(o, "closest")->valuestring, "github_api");
	assert_string_equal(cJSON_GetObjectItem(o, "hint")->valuestring,
			    "add 198.51.100.7:443 to github_api");
	assert_string_equal(cJSON_GetObjectItem(o, "message")->valuestring,
			    "denied connect 198.51.100.7:443/tcp by /usr/bin/curl (pid 4242)");
	assert_int_equal(cJSON_GetArraySize(o), 15);
	cJSON_Delete(o);

	/* Fields that do not apply are absent. */
	o = cJSON_Parse(g->json[1]);
	assert_non_null(o);
	assert_string_equal(cJSON_GetObjectItem(o, "kind")->valuestring, "dns");
	assert_string_equal(cJSON_GetObjectItem(o, "decision")->valuestring, "audit");
	assert_null(cJSON_GetObjectItem(o, "pid"));
	assert_null(cJSON_GetObjectItem(o, "uid"));
	assert_null(cJSON_GetObjectItem(o, "exe"));
	assert_null(cJSON_GetObjectItem(o, "target"));
	assert_string_equal(cJSON_GetObjectItem(o, "host")->valuestring, "evil.example");
	/* time_ns 0: now. */
	assert_int_equal(strlen(cJSON_GetObjectItem(o, "time")->valuestring), 24);
	cJSON_Delete(o);
	o = cJSON_Parse(g->json[2]);
	assert_null(cJSON_GetObjectItem(o, "sandbox"));
	assert_int_equal(cJSON_GetArraySize(o), 5); /* id time kind decision uid(0) */
	cJSON_Delete(o);

	osh_events_stats(ev, &st);
	assert_int_equal(st.deny_egress, 1);
	assert_int_equal(st.audit_dns, 1);
	assert_int_equal(st.deny_fs, 1);
	assert_int_equal(st.deny_dns + st.audit_egress + st.audit_fs, 0);
	assert_int_equal(st.last_id, 3);
	assert_int_equal(st.dropped_store + st.dropped_log + st.stored + st.logged, 0);
	osh_events_close(ev);
	osh_events_close(NULL);
	got_free(g);
}

/* Kernel strings are not trusted to be UTF-8 or short. */
static void test_strings(void **state)
{
	struct osh_events *ev;
	struct got *g = got_new();
	struct osh_event e = egress_deny;
	char *longs = malloc(10000);
	cJSON *o;
	const char *v;

	(void)state;
	assert_non_null(longs);
	memset(longs, 'a', 9999);
	longs[9999] = '\0';
	longs[4095] = '\xc3'; /* a 2-byte character across the cut at 4096 bytes */
	longs[4096] = '\xa9';
	e.comm = "cu\xffrl\xc3";      /* invalid byte, truncated sequence */
	e.exe = "/tmp/\xed\xa0\x80x"; /* an encoded surrogate */
	e.target = "line\nbreak\x01";
	e.message = longs;
	assert_int_equal(osh_events_open(&(struct osh_events_opts){ 0 }, &ev), 0);
	assert_int_equal(osh_events_add(ev, &e), 1);
	assert_int_equal(osh_events_read(ev, 0, NULL, 0, 0, collect, g), 1);
	/* One line: control characters are escaped. */
	assert_null(strchr(g->json[0], '\n'));
	o = cJSON_Parse(g->json[0]);
	assert_non_null(o);
	assert_string_equal(cJSON_GetObjectItem(o, "comm")->valuestring,
			    "cu\xef\xbf\xbdrl\xef\xbf\xbd");
	assert_string_equal(cJSON_GetObjectItem(o, "exe")->valuestring,
			    "/tmp/\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdx");
	assert_string_equal(cJSON_GetObjectItem(o, "target")->valuestring, "line\nbreak\x01");
	v = cJSON_GetObjectItem(o, "message")->valuestring;
	assert_int_equal(strlen(v), 4095); /* the é would end past 4096: cut before it */
	cJSON_Delete(o);
	osh_events_close(ev);
	free(longs);
	got_free(g);
}

static void test_ring_since_limit(void **state)
{
	struct osh_events *ev;
	struct got *g = got_new();

	(void)state;
	assert_int_equal(osh_events_open(&(struct osh_events_opts){ .ring = 8 }, &ev), 0);
	/* Empty: nothing, no wait. */
	assert_int_equal(osh_events_read(ev, 0, NULL, 0, 0, collect, g), 0);
	for (int i = 1; i <= 20; i++)
		assert_int_equal(osh_events_add(ev, &egress_deny), i);
	/* The ring keeps the newest 8. */
	assert_int_equal(osh_events_read(ev, 0, NULL, 0, 0, collect, g), 8);
	for (int i = 0; i < 8; i++)
		assert_int_equal(g->ids[i], 13 + i);
	got_reset(g);
	assert_int_equal(osh_events_read(ev, 15, NULL, 0, 0, collect, g), 5);
	assert_int_equal(g->ids[0], 16);
	assert_int_equal(g->ids[4], 20);
	got_reset(g);
	assert_int_equal(osh_events_read(ev, 0, NULL, 3, 0, collect, g), 3);
	assert_int_equal(g->ids[0], 13);
	assert_int_equal(g->ids[2], 15);
	got_reset(g);
	assert_int_equal(osh_events_read(ev, 20, NULL, 0, 0, collect, g), 0);
	assert_int_equal(osh_events_read(ev, 99, NULL, 0, 0, collect, g), 0);
	/* fn stops the delivery. */
	g->stop_after = 2;
	assert_int_equal(osh_events_read(ev, 0, NULL, 0, 0, collect, g), 2);
	got_reset(g);
	osh_events_close(ev);
	got_free(g);
}

static void test_filters(void **state)
{
	struct osh_events *ev;
	struct got *g = got_new();
	struct osh_event a = ev_of("a", "egress", "deny"), b = ev_of("b", "fs", "audit"),
			 none = ev_of(NULL, "dns", "deny");

	(void)state;
	assert_int_equal(osh_events_open(&(struct osh_events_opts){ .ring = 100 }, &ev), 0);
	for (int i = 0; i < 30; i++)
		osh_events_add(ev, i % 3 == 0 ? &a : i % 3 == 1 ? &b : &none);
	assert_int_equal(osh_events_read(ev, 0, "a", 0, 0, collect, g), 10);
	for (size_t i = 0; i < g->n; i++) {
		assert_int_equal(g->ids[i], 1 + 3 * (int64_t)i);
		assert_non_null(strstr(g->json[i], "\"sandbox\":\"a\""));
	}
	got_reset(g);
	assert_int_equal(osh_events_read(ev, 10, "b", 2, 0, collect, g), 2);
	assert_int_equal(g->ids[0], 11);
	assert_int_equal(g->ids[1], 14);
	got_reset(g);
	assert_int_equal(osh_events_read(ev, 0, "nobody", 0, 0, collect, g), 0);
	/* A prefix of a name is another name; "" stands for events without a sandbox. */
	assert_int_equal(osh_events_read(ev, 0, "ab", 0, 0, collect, g), 0);
	assert_int_equal(osh_events_read(ev, 0, "", 0, 0, collect, g), 10);
	got_reset(g);
	osh_events_close(ev);
	got_free(g);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct waiter {
	struct osh_events *ev;
	const char *sandbox;
	int64_t since;
	int timeout_ms;
	int result;
	int64_t waited_ms;
	struct got *g;
};

static void *wait_read(void *p)
{
	struct waiter *w = p;
	int64_t t0 = now_ms();

	w->result = osh_events_read(w->ev, w->since, w->sandbox, 0, w->timeout_ms, collect, w->g);
	w->waited_ms = now_ms() - t0;
	return NULL;
}

static void test_wait(void **state)
{
	struct osh_events *ev;
	struct waiter w;
	pthread_t t;
	struct osh_event a = ev_of("a", "egress", "deny"), b = ev_of("b", "egress", "deny");
	int64_t t0;

	(void)state;
	assert_int_equal(osh_events_open(&(struct osh_events_opts){ 0 }, &ev), 0);

	/* Nothing comes: returns 0 after the timeout. */
	w = (struct waiter){ .ev = ev, .timeout_ms = 200, .g = got_new() };
	wait_read(&w);
	assert_int_equal(w.result, 0);
	assert_true(w.waited_ms >= 190);
	assert_true(w.waited_ms < 2000);

	/* An add from another thread wakes the reader long before its timeout. */
	w = (struct waiter){ .ev = ev, .timeout_ms = 10000, .g = w.g };
	assert_int_equal(pthread_create(&t, NULL, wait_read, &w), 0);
	usleep(100 * 1000);
	assert_int_equal(osh_events_add(ev, &a), 1);
	pthread_join(t, NULL);
	assert_int_equal(w.result, 1);
	assert_int_equal(w.g->ids[0], 1);
	assert_true(w.waited_ms >= 90);
	assert_true(w.waited_ms < 5000);
	got_reset(w.g);

	/* A reader of sandbox a is not answered by b's events; it waits on for a's. */
	w = (struct waiter){ .ev = ev, .since = 1, .sandbox = "a", .timeout_ms = 10000, .g = w.g };
	assert_int_equal(pthread_create(&t, NULL, wait_read, &w), 0);
	usleep(50 * 1000);
	osh_events_add(ev, &b);
	osh_events_add(ev, &b);
	usleep(50 * 1000);
	t0 = now_ms();
	osh_events_add(ev, &a);
	pthread_join(t, NULL);
	assert_int_equal(w.result, 1);
	assert_int_equal(w.g->ids[0], 4);
	assert_true(now_ms() - t0 < 5000);
	got_reset(w.g);

	/* ... and times out when only b's come. */
	w = (struct waiter){ .ev = ev, .since = 4, .sandbox = "a", .timeout_ms = 300, .g = w.g };
	assert_int_equal(pthread_create(&t, NULL, wait_read, &w), 0);
	usleep(50 * 1000);
	osh_events_add(ev, &b);
	pthread_join(t, NULL);
	assert_int_equal(w.result, 0);
	assert_true(w.waited_ms >= 290);
	got_free(w.g);
	osh_events_close(ev);
}

/* osh_events_wake ends a waiting reader at once; a generation taken before a wake keeps
 * osh_events_read_woken from waiting at all (the wake that came between a reader's look at its
 * stop condition and its wait is not lost), one taken after it waits as before. */
static void test_wake(void **state)
{
	struct osh_events *ev;
	struct waiter w;
	struct got *g = got_new();
	struct osh_event a = ev_of("a", "egress", "deny");
	pthread_t t;
	uint64_t gen;
	int64_t t0;

	(void)state;
	assert_int_equal(osh_events_open(&(struct osh_events_opts){ 0 }, &ev), 0);

	w = (struct waiter){ .ev = ev, .timeout_ms = 10000, .g = g };
	assert_int_equal(pthread_create(&t, NULL, wait_read, &w), 0);
	usleep(100 * 1000);
	osh_events_wake(ev);
	pthread_join(t, NULL);
	assert_int_equal(w.result, 0);
	assert_true(w.waited_ms < 5000);

	gen = osh_events_wake_gen(ev);
	osh_events_wake(ev);
	t0 = now_ms();
	assert_int_equal(osh_events_read_woken(ev, gen, 0, NULL, 0, 10000, collect, g), 0);
	assert_true(now_ms() - t0 < 5000);

	/* Events already there are delivered whatever the generation. */
	assert_int_equal(osh_events_add(ev, &a), 1);
	assert_int_equal(osh_events_read_woken(ev, gen, 0, NULL, 0, 10000, collect, g), 1);
	assert_int_equal(g->ids[0], 1);

	gen = osh_events_wake_gen(ev);
	t0 = now_ms();
	assert_int_equal(osh_events_read_woken(ev, gen, 1, NULL, 0, 300, collect, g), 0);
	assert_true(now_ms() - t0 >= 290);
	got_free(g);
	osh_events_close(ev);
}

/* The lines of a file, parsed; *ret_n lines. */
static cJSON **read_lines(const char *path, size_t *ret_n, size_t *ret_bytes)
{
	FILE *f = fopen(path, "re");
	cJSON **v = NULL;
	char *line = NULL;
	size_t cap = 0, n = 0, bytes = 0;
	ssize_t len;

	*ret_n = 0;
	if (!f)
		return NULL;
	while ((len = getline(&line, &cap, f)) > 0) {
		assert_int_equal(line[len - 1], '\n');
		cJSON **nv = realloc(v, (n + 1) * sizeof(*v));

		assert_non_null(nv);
		v = nv;
		v[n] = cJSON_Parse(line);
		assert_non_null(v[n]);
		n++;
		bytes += (size_t)len;
	}
	free(line);
	fclose(f);
	*ret_n = n;
	if (ret_bytes)
		*ret_bytes = bytes;
	return v;
}

static void free_lines(cJSON **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		cJSON_Delete(v[i]);
	free(v);
}

static cJSON *at(cJSON *o, const char *path)
{
	char buf[128], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *k = strtok_r(buf, ".", &save); k && o; k = strtok_r(NULL, ".", &save))
		o = cJSON_GetObjectItem(o, k);
	if (!o)
		fail_msg("no member %s", path);
	return o;
}

static void assert_str_at(cJSON *o, const char *path, const char *want)
{
	cJSON *v = at(o, path);

	assert_true(cJSON_IsString(v));
	assert_string_equal(v->valuestring, want);
}

static void assert_num_at(cJSON *o, const char *path, double want)
{
	cJSON *v = at(o, path);

	assert_true(cJSON_IsNumber(v));
	if (v->valuedouble != want)
		fail_msg("%s: got %.17g, want %.17g", path, v->valuedouble, want);
}

static void test_ocsf(void **state)
{
	char log[PATH_MAX];
	struct osh_events *ev;
	struct osh_events_stats st;
	struct osh_event fs = { .time_ns = 1795786201000000000LL,
				.sandbox = "agent-1",
				.kind = "fs",
				.decision = "deny",
				.pid = 77,
				.uid = 1000,
				.comm = "cat",
				.operation = "open-read",
				.target = "/home/u/.ssh/id_ed25519",
				.message = "denied open-read of 'id_ed25519'" };
	struct osh_event v6 = egress_deny, dns = { .time_ns = 1795786202000000000LL,
						   .sandbox = "agent-1",
						   .kind = "dns",
						   .decision = "audit",
						   .uid = -1,
						   .host = "exfil.example" };
	struct osh_event other = fs, pins = { .time_ns = 1795786203000000000LL,
					      .sandbox = "agent-1",
					      .sandbox_id = 7,
					      .kind = "pins",
					      .decision = "stopped",
					      .uid = -1,
					      .operation = "pins-removed",
					      .target = "/sys/fs/bpf/osh",
					      .message = "sandbox agent-1: bpffs pins removed" };
	struct stat sb;
	cJSON **l;
	size_t n;

	(void)state;
	v6.target = "[2001:db8::7]:8443/udp";
	other.operation = "ptrace";
	other.target = NULL;
	snprintf(log, sizeof(log), "%s/events.jsonl", dir);
	assert_int_equal(osh_events_open(&(struct osh_events_opts){ .log_path = log }, &ev), 0);
	assert_int_equal(stat(log, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0640);
	assert_int_equal(osh_events_add(ev, &egress_deny), 1);
	assert_int_equal(osh_events_add(ev, &fs), 2);
	assert_int_equal(osh_events_add(ev, &v6), 3);
	assert_int_equal(osh_events_add(ev, &dns), 4);
	assert_int_equal(osh_events_add(ev, &other), 5);
	assert_int_equal(osh_events_add(ev, &pins), 6);
	pins.decision = "restored";
	assert_int_equal(osh_events_add(ev, &pins), 7);
	/* The writer runs on its own thread; wait for it rather than closing, to see the counts. */
	for (int i = 0; i < 500; i++) {
		osh_events_stats(ev, &st);
		if (st.logged + st.dropped_log == 7)
			break;
		usleep(10 * 1000);
	}
	assert_int_equal(st.logged, 7);
	assert_int_equal(st.dropped_log, 0);
	/* Findings are not kernel decisions. */
	assert_int_equal(st.deny_egress + st.deny_fs + st.audit_dns, 5);
	osh_events_close(ev);

	l = read_lines(log, &n, NULL);
	assert_int_equal(n, 7);

	/* Egress deny: Network Activity, refused. */
	assert_num_at(l[0], "time", 1795786200123.0);
	assert_num_at(l[0], "class_uid", 4001);
	assert_str_at(l[0], "class_name", "Network Activity");
	assert_num_at(l[0], "category_uid", 4);
	assert_num_at(l[0], "activity_id", 5);
	assert_str_at(l[0], "activity_name", "Refuse");
	assert_num_at(l[0], "type_uid", 400105);
	assert_num_at(l[0], "severity_id", 3);
	assert_str_at(l[0], "severity", "Medium");
	assert_str_at(l[0], "disposition", "Blocked");
	assert_str_at(l[0], "action", "Denied");
	assert_str_at(l[0], "message", egress_deny.message);
	assert_num_at(l[0], "actor.process.pid", 4242);
	assert_str_at(l[0], "actor.process.name", "curl");
	assert_str_at(l[0], "actor.process.file.path", "/usr/bin/curl");
	assert_str_at(l[0], "actor.process.file.name", "curl");
	assert_str_at(l[0], "actor.process.user.uid", "65534");
	assert_str_at(l[0], "dst_endpoint.ip", "198.51.100.7");
	assert_num_at(l[0], "dst_endpoint.port", 443);
	assert_str_at(l[0], "dst_endpoint.hostname", "api.example.com");
	assert_str_at(l[0], "connection_info.protocol_name", "tcp");
	assert_str_at(l[0], "metadata.product.name", "osh");
	assert_str_at(l[0], "metadata.version", "1.1.0");
	assert_str_at(l[0], "metadata.uid", "1");
	assert_str_at(l[0], "unmapped.sandbox", "agent-1");
	assert_str_at(l[0], "unmapped.closest", "github_api");
	assert_str_at(l[0], "unmapped.hint", egress_deny.hint);

	/* fs: File System Activity, the file refused. */
	assert_num_at(l[1], "class_uid", 1001);
	assert_str_at(l[1], "class_name", "File System Activity");
	assert_num_at(l[1], "category_uid", 1);
	assert_num_at(l[1], "activity_id", 2);
	assert_str_at(l[1], "activity_name", "Read");
	assert_num_at(l[1], "type_uid", 100102);
	assert_str_at(l[1], "file.path", "/home/u/.ssh/id_ed25519");
	assert_str_at(l[1], "file.name", "id_ed25519");
	assert_str_at(l[1], "disposition", "Blocked");
	assert_str_at(l[1], "actor.process.user.uid", "1000");
	assert_null(cJSON_GetObjectItem(l[1], "dst_endpoint"));
	assert_str_at(l[1], "metadata.uid", "2");

	/* IPv6 target. */
	assert_str_at(l[2], "dst_endpoint.ip", "2001:db8::7");
	assert_num_at(l[2], "dst_endpoint.port", 8443);
	assert_str_at(l[2], "connection_info.protocol_name", "udp");

	/* dns audit: allowed, informational, the name only. */
	assert_num_at(l[3], "class_uid", 4001);
	assert_str_at(l[3], "disposition", "Allowed");
	assert_str_at(l[3], "severity", "Informational");
	assert_str_at(l[3], "dst_endpoint.hostname", "exfil.example");
	assert_null(cJSON_GetObjectItem(at(l[3], "dst_endpoint"), "ip"));
	assert_null(cJSON_GetObjectItem(at(l[3], "actor.process"), "user"));
	assert_null(cJSON_GetObjectItem(at(l[3], "actor.process"), "pid"));

	/* An operation without an OCSF activity: Other, named by ours. */
	assert_num_at(l[4], "activity_id", 99);
	assert_str_at(l[4], "activity_name", "ptrace");
	assert_null(cJSON_GetObjectItem(l[4], "file"));

	/* Pins removed from outside: a Detection Finding, Critical when the sandbox was stopped,
	 * High when the pins were restored. */
	assert_num_at(l[5], "class_uid", 2004);
	assert_str_at(l[5], "class_name", "Detection Finding");
	assert_num_at(l[5], "category_uid", 2);
	assert_num_at(l[5], "type_uid", 200401);
	assert_num_at(l[5], "severity_id", 5);
	assert_str_at(l[5], "severity", "Critical");
	assert_str_at(l[5], "finding_info.uid", "6");
	assert_str_at(l[5], "finding_info.title", "bpffs pins removed");
	assert_str_at(l[5], "finding_info.desc", pins.message);
	assert_str_at(l[5], "metadata.uid", "6");
	assert_str_at(l[5], "unmapped.sandbox", "agent-1");
	assert_str_at(l[5], "unmapped.decision", "stopped");
	assert_str_at(l[5], "unmapped.target", "/sys/fs/bpf/osh");
	assert_null(cJSON_GetObjectItem(l[5], "actor"));
	assert_num_at(l[6], "severity_id", 4);
	assert_str_at(l[6], "unmapped.decision", "restored");
	free_lines(l, n);

	/* A log that cannot be opened fails at open, not silently later. */
	snprintf(log, sizeof(log), "%s/no-such-dir/events.jsonl", dir);
	assert_int_equal(osh_events_open(&(struct osh_events_opts){ .log_path = log }, &ev),
			 -ENOENT);
}

static void test_rotation(void **state)
{
	char log[PATH_MAX], p[PATH_MAX + 16];
	struct osh_events *ev;
	struct osh_events_stats st;
	int64_t newest = 0, oldest = INT64_MAX, total = 0;
	struct stat sb;

	(void)state;
	snprintf(log, sizeof(log), "%s/events.jsonl", dir);
	assert_int_equal(
	    osh_events_open(
		&(struct osh_events_opts){ .log_path = log, .log_max_bytes = 8192, .log_keep = 3 },
		&ev),
	    0);
	for (int i = 0; i < 500; i++)
		assert_true(osh_events_add(ev, &egress_deny) > 0);
	for (int i = 0; i < 500; i++) {
		osh_events_stats(ev, &st);
		if (st.logged + st.dropped_log == 500)
			break;
		usleep(10 * 1000);
	}
	assert_int_equal(st.logged, 500);
	osh_events_close(ev);

	/* The file and 3 rotated ones, each at most the limit, holding the newest lines in order:
	 * events.jsonl.3 oldest ... events.jsonl newest. */
	for (int i = 3; i >= 0; i--) {
		cJSON **l;
		size_t n, bytes;

		if (i)
			snprintf(p, sizeof(p), "%s.%d", log, i);
		else
			snprintf(p, sizeof(p), "%s", log);
		assert_int_equal(stat(p, &sb), 0);
		assert_true(sb.st_size <= 8192);
		if (i) /* rotated: full, bar one line */
			assert_true(sb.st_size > 8192 - 1024);
		l = read_lines(p, &n, &bytes);
		assert_int_equal(bytes, (size_t)sb.st_size);
		assert_true(n > 0);
		for (size_t j = 0; j < n; j++) {
			int64_t id = strtoll(at(l[j], "metadata.uid")->valuestring, NULL, 10);

			if (i != 3 || j != 0)
				assert_int_equal(id, newest + 1);
			if (id < oldest)
				oldest = id;
			newest = id;
		}
		total += (int64_t)n;
		free_lines(l, n);
	}
	assert_int_equal(newest, 500);
	assert_int_equal(total, 500 - oldest + 1);
	snprintf(p, sizeof(p), "%s.4", log);
	assert_int_equal(stat(p, &sb), -1);

	/* Reopening appends to the current file and rotates at the same limit. */
	assert_int_equal(
	    osh_events_open(
		&(struct osh_events_opts){ .log_path = log, .log_max_bytes = 8192, .log_keep = 3 },
		&ev),
	    0);
	for (int i = 0; i < 50; i++)
		assert_true(osh_events_add(ev, &egress_deny) > 0);
	osh_events_close(ev);
	for (int i = 0; i <= 3; i++) {
		if (i)
			snprintf(p, sizeof(p), "%s.%d", log, i);
		else
			snprintf(p, sizeof(p), "%s", log);
		assert_int_equal(stat(p, &sb), 0);
		assert_true(sb.st_size <= 8192);
	}
	snprintf(p, sizeof(p), "%s.4", log);
	assert_int_equal(stat(p, &sb), -1);
}

static struct osh_store *store_open(void)
{
	char db[PATH_MAX];
	struct osh_store *st = NULL;
	char *err = NULL;

	snprintf(db, sizeof(db), "%s/osh.db", dir);
	if (osh_store_open(db, &st, &err) < 0)
		fail_msg("store: %s", err ? err : "?");
	return st;
}

static int64_t store_sandbox(struct osh_store *st, const char *name)
{
	struct osh_store_sandbox s = { .name = (char *)name,
				       .cgroup = (char *)"/sys/fs/cgroup/osh/x",
				       .workdir = (char *)"/tmp" };
	struct osh_store_revision r = { .hash = (char *)"sha256:0",
					.policy = (char *)"version: 1\n",
					.reason = (char *)"" };

	assert_int_equal(osh_store_sandbox_create(st, &s, &r, NULL), 0);
	return s.id;
}

static int count_row(int64_t id, const char *json, void *ctx)
{
	int64_t *last = ctx;

	(void)json;
	assert_true(id > last[1]);
	last[1] = id;
	last[0]++;
	return 0;
}

static void test_store(void **state)
{
	struct osh_store *st = store_open();
	struct osh_events *ev;
	struct osh_events_stats s;
	struct got *g = got_new();
	int64_t a_id = store_sandbox(st, "a"), b_id = store_sandbox(st, "b"), rows[2] = { 0, 0 };
	struct osh_event a = ev_of("a", "egress", "deny"), b = ev_of("b", "fs", "deny");

	(void)state;
	a.sandbox_id = a_id;
	b.sandbox_id = b_id;
	/* A ring of 4 in front of a store keeping 100. */
	assert_int_equal(
	    osh_events_open(&(struct osh_events_opts){ .store = st, .ring = 4, .store_keep = 100 },
			    &ev),
	    0);
	for (int i = 1; i <= 30; i++)
		assert_int_equal(osh_events_add(ev, i % 2 ? &a : &b), i);
	for (int i = 0; i < 500; i++) {
		osh_events_stats(ev, &s);
		if (s.stored + s.dropped_store == 30)
			break;
		usleep(10 * 1000);
	}
	assert_int_equal(s.stored, 30);
	assert_int_equal(s.dropped_store, 0);

	/* Older than the ring: from the store, then the ring, in order, without repeats. */
	assert_int_equal(osh_events_read(ev, 0, NULL, 0, 0, collect, g), 30);
	for (int i = 0; i < 30; i++) {
		char want[32];

		assert_int_equal(g->ids[i], i + 1);
		snprintf(want, sizeof(want), "{\"id\":%d,", i + 1);
		assert_true(!strncmp(g->json[i], want, strlen(want)));
	}
	got_reset(g);
	assert_int_equal(osh_events_read(ev, 10, NULL, 5, 0, collect, g), 5);
	assert_int_equal(g->ids[0], 11);
	assert_int_equal(g->ids[4], 15);
	got_reset(g);
	/* Across the store/ring boundary with a limit. */
	assert_int_equal(osh_events_read(ev, 24, NULL, 4, 0, collect, g), 4);
	assert_int_equal(g->ids[0], 25);
	assert_int_equal(g->ids[3], 28);
	got_reset(g);
	/* A sandbox's events, from the store by its id, then the ring by name. */
	assert_int_equal(osh_events_read(ev, 0, "b", 0, 0, collect, g), 15);
	for (int i = 0; i < 15; i++)
		assert_int_equal(g->ids[i], 2 * (i + 1));
	got_reset(g);
	assert_int_equal(osh_events_read(ev, 0, "nobody", 0, 0, collect, g), 0);
	osh_events_close(ev);

	/* Reopened (a clean restart): ids continue, and the store trims to store_keep. */
	assert_int_equal(
	    osh_events_open(&(struct osh_events_opts){ .store = st, .ring = 4, .store_keep = 20 },
			    &ev),
	    0);
	assert_int_equal(osh_events_add(ev, &a), 31);
	osh_events_close(ev);
	assert_true(osh_store_event_list(st, 0, 0, 0, count_row, rows) >= 0);
	assert_int_equal(rows[0], 20);
	assert_int_equal(rows[1], 31);

	/* Ids never go back, even when the newest rows are gone (their sandbox was deleted). */
	assert_int_equal(osh_store_sandbox_delete(st, a_id), 0);
	assert_int_equal(osh_events_open(&(struct osh_events_opts){ .store = st }, &ev), 0);
	assert_int_equal(osh_events_add(ev, &b), 32);
	osh_events_close(ev);
	osh_store_close(st);
	got_free(g);
}

/* oshd killed without a clean close: the ids it handed out are not handed out again, even when
 * the rows that held them are gone. The "crash" is a real one: a child process that exits
 * without closing anything. */
static void test_crash_ids(void **state)
{
	struct osh_store *st;
	struct osh_events *ev;
	int64_t sid;
	pid_t pid;
	int status;

	(void)state;
	st = store_open();
	sid = store_sandbox(st, "a");
	osh_store_close(st);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct osh_event a = ev_of("a", "egress", "deny");
		struct osh_events_stats s = { 0 };

		a.sandbox_id = sid;
		st = store_open();
		if (osh_events_open(&(struct osh_events_opts){ .store = st }, &ev) < 0)
			_exit(2);
		for (int i = 0; i < 5; i++)
			if (osh_events_add(ev, &a) != i + 1)
				_exit(3);
		for (int i = 0; i < 500 && s.stored < 5; i++) {
			osh_events_stats(ev, &s);
			usleep(10 * 1000);
		}
		_exit(s.stored == 5 ? 0 : 4);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	st = store_open();
	assert_int_equal(osh_store_sandbox_delete(st, sid), 0); /* its events go with it */
	assert_int_equal(osh_events_open(&(struct osh_events_opts){ .store = st }, &ev), 0);
	assert_true(osh_events_add(ev, &egress_deny) > 5);
	osh_events_close(ev);
	osh_store_close(st);
}

/* ---- flood ------------------------------------------------------------------------------------ */

#define FLOOD	      1000000
#define FLOOD_THREADS 2

struct flooder {
	struct osh_events *ev;
	int n;
	int failed;
};

static void *flood(void *p)
{
	struct flooder *f = p;
	struct osh_event e = egress_deny;

	for (int i = 0; i < f->n; i++) {
		e.pid = 1000 + i % 30000;
		e.kind = i % 3 == 0 ? "egress" : i % 3 == 1 ? "dns" : "fs";
		if (osh_events_add(f->ev, &e) < 0)
			f->failed++;
	}
	return NULL;
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	long v = -1;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6)) {
			v = strtol(line + 6, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static int count_only(int64_t id, const char *json, void *ctx)
{
	(void)id;
	(void)json;
	(*(size_t *)ctx)++;
	return 0;
}

static void run_flood(struct osh_events *ev, int n)
{
	struct flooder f[FLOOD_THREADS];
	pthread_t t[FLOOD_THREADS];

	for (int i = 0; i < FLOOD_THREADS; i++) {
		f[i] = (struct flooder){ .ev = ev, .n = n / FLOOD_THREADS };
		assert_int_equal(pthread_create(&t[i], NULL, flood, &f[i]), 0);
	}
	for (int i = 0; i < FLOOD_THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(f[i].failed, 0);
	}
}

static void test_flood(void **state)
{
	struct osh_store *st = store_open();
	struct osh_events *ev;
	struct osh_events_stats s;
	char log[PATH_MAX], p[PATH_MAX + 16];
	size_t n = 0;
	int64_t t0 = now_ms();
	long rss_warm, rss_end;
	struct stat sb;

	(void)state;
	snprintf(log, sizeof(log), "%s/events.jsonl", dir);
	assert_int_equal(osh_events_open(&(struct osh_events_opts){ .store = st,
								    .log_path = log,
								    .log_max_bytes = 1 << 20,
								    .log_keep = 2 },
					 &ev),
			 0);
	/* A first tenth warms the allocator (and the sanitizer's quarantine); the other nine
	 * tenths must not grow memory with the number of events. */
	run_flood(ev, FLOOD / 10);
	rss_warm = rss_kib();
	run_flood(ev, FLOOD - FLOOD / 10);
	rss_end = rss_kib();
	print_message("# flood: %d events in %lld ms; RSS %ld -> %ld KiB\n", FLOOD,
		      (long long)(now_ms() - t0), rss_warm, rss_end);
	assert_true(rss_end - rss_warm < 128 * 1024);

	/* The writers drain their queues; everything is either written or counted as dropped. */
	for (int i = 0; i < 3000; i++) {
		osh_events_stats(ev, &s);
		if (s.stored + s.dropped_store == FLOOD && s.logged + s.dropped_log == FLOOD)
			break;
		usleep(10 * 1000);
	}
	print_message("# flood: stored %llu, dropped_store %llu, logged %llu, dropped_log %llu\n",
		      (unsigned long long)s.stored, (unsigned long long)s.dropped_store,
		      (unsigned long long)s.logged, (unsigned long long)s.dropped_log);
	assert_int_equal(s.last_id, FLOOD);
	assert_int_equal(s.deny_egress + s.deny_dns + s.deny_fs, FLOOD);
	assert_int_equal(s.deny_egress, (FLOOD / 2 + 2) / 3 * 2);
	assert_int_equal(s.stored + s.dropped_store, FLOOD);
	assert_int_equal(s.logged + s.dropped_log, FLOOD);
	assert_true(s.stored > 0);
	assert_true(s.logged > 0);

	/* The ring holds exactly its size (since = its oldest - 1: no store read). */
	assert_int_equal(osh_events_read(ev, FLOOD - 4096, NULL, 0, 0, count_only, &n), 4096);
	osh_events_close(ev);

	/* The store keeps its default 10000 rows; the log its 2 rotations, each bounded. */
	n = 0;
	assert_true(osh_store_event_list(st, 0, 0, 0, count_only, &n) >= 0);
	assert_int_equal(n, 10000);
	for (int i = 0; i <= 2; i++) {
		if (i)
			snprintf(p, sizeof(p), "%s.%d", log, i);
		else
			snprintf(p, sizeof(p), "%s", log);
		assert_int_equal(stat(p, &sb), 0);
		assert_true(sb.st_size <= 1 << 20);
	}
	snprintf(p, sizeof(p), "%s.3", log);
	assert_int_equal(stat(p, &sb), -1);
	osh_store_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_ids_and_json, clean),
		cmocka_unit_test_setup(test_strings, clean),
		cmocka_unit_test_setup(test_ring_since_limit, clean),
		cmocka_unit_test_setup(test_filters, clean),
		cmocka_unit_test_setup(test_wait, clean),
		cmocka_unit_test_setup(test_wake, clean),
		cmocka_unit_test_setup(test_ocsf, clean),
		cmocka_unit_test_setup(test_rotation, clean),
		cmocka_unit_test_setup(test_store, clean),
		cmocka_unit_test_setup(test_crash_ids, clean),
		cmocka_unit_test_setup(test_flood, clean),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
