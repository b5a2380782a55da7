// SPDX-License-Identifier: Apache-2.0
// bench-api: oshd's API round trips from one long-lived client, so the figures are the
// daemon's and not a CLI's start-up: `PUT /v1/sandboxes/NAME/policy` alternating two policies
// (each answer means the kernel runs the new generation) next to `GET /v1/status`.
// Prints `policy-set: median_us=N` and `status: median_us=N`.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

static size_t sink(char *p, size_t size, size_t n, void *ctx)
{
	return size * n;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0;

	if (!f || getdelim(&buf, &len, '\0', f) < 0) {
		perror(path);
		exit(1);
	}
	fclose(f);
	return buf;
}

static char *body_of(const char *policy)
{
	cJSON *o = cJSON_CreateObject();
	char *s;

	cJSON_AddStringToObject(o, "policy", policy);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return (x > y) - (x < y);
}

/* One request; exits on a transport error or an unexpected status. */
static long long request(CURL *c, const char *method, const char *url, const char *body)
{
	long code = 0;
	long long t0 = now_us();

	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	if (!body)
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	if (curl_easy_perform(c) != CURLE_OK ||
	    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK || code != 200) {
		fprintf(stderr, "bench-api: %s %s: HTTP %ld\n", method, url, code);
		exit(1);
	}
	return now_us() - t0;
}

int main(int argc, char **argv)
{
	struct curl_slist *hdr = NULL;
	char url[512], *pa, *pb, *a, *b;
	long long *set, *st;
	int n;
	CURL *c;

	if (argc != 6) {
		fprintf(stderr, "usage: bench-api SOCKET SANDBOX POLICY_A POLICY_B ROUNDS\n");
		return 64;
	}
	{
		char *end;
		long v = strtol(argv[5], &end, 10);

		if (*end || v < 1 || v > 100000)
			return 64;
		n = (int)v;
	}
	pa = slurp(argv[3]);
	pb = slurp(argv[4]);
	a = body_of(pa);
	b = body_of(pb);
	set = calloc((size_t)n, sizeof(*set));
	st = calloc((size_t)n, sizeof(*st));
	curl_global_init(CURL_GLOBAL_DEFAULT);
	c = curl_easy_init();
	if (!a || !b || !set || !st || !c) {
		fprintf(stderr, "bench-api: out of memory\n");
		exit(1);
	}
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, argv[1]);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	snprintf(url, sizeof(url), "http://localhost/v1/sandboxes/%s/policy", argv[2]);
	for (int i = 0; i < n; i++) {
		set[i] = request(c, "PUT", url, i % 2 ? a : b);
		st[i] = request(c, "GET", "http://localhost/v1/status", NULL);
	}
	qsort(set, (size_t)n, sizeof(*set), cmp_ll);
	qsort(st, (size_t)n, sizeof(*st), cmp_ll);
	printf("policy-set: median_us=%lld\nstatus: median_us=%lld\n", set[n / 2], st[n / 2]);
	curl_slist_free_all(hdr);
	free(set);
	free(st);
	free(a);
	free(b);
	free(pa);
	free(pb);
	curl_easy_cleanup(c);
	curl_global_cleanup();
	return 0;
}
