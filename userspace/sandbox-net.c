// SPDX-License-Identifier: Apache-2.0
// The network side of a sandbox (see sandbox-net.h): one egress object per process shared by its
// sandboxes, and one thread that drains its ring buffer, runs every sandbox's DNS responder,
// expires DNS-installed addresses and watches the directories of glob binaries.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "bpf-anchor.h"
#include "bpf-egress.h"
#include "dns-responder.h"
#include "sandbox-net.h"

/* Lifetime of a DNS-installed address: the answer's TTL, at least NET_DNS_TTL_FLOOR and at most
 * NET_DNS_TTL_MAX seconds. The floor exists because clients keep addresses longer than the TTL
 * says: the JVM caches every successful lookup for 30 s by default whatever the TTL, resolver
 * libraries and connection pools retry a cached address after a failure, and happy-eyeballs
 * fallbacks connect to the second address some time after the answer. Answers with TTL 0..5
 * (load balancers, CDNs) would otherwise make those connects fail at random. 30 s keeps a
 * re-pointed name's old address usable for half a minute at most. */
#define NET_DNS_TTL_FLOOR 30
#define NET_DNS_TTL_MAX	  3600

/* Directories one sandbox watches for files matching its glob binaries. */
#define NET_MAX_WATCHES 1024
/* Empty generation tries kept ready by a holder (oshd): back-to-back runs take one per start
 * and per reload, and the pool's thread refills it in one batch per grace period. */
#define NET_GEN_POOL   16
#define NET_WATCH_MASK (IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ONLYDIR)

struct osh_sandbox_net {
	struct osh_sandbox_net *next;
	uint64_t id;
	unsigned dns_ttl_floor;
	int *wds; /* inotify watches this sandbox holds (references in G.watches) */
	size_t n_wds;
	struct osh_policy *policy;
	struct osh_policy_image *img;
	struct osh_policy *old_policy; /* kept until the next reload: events may still name it */
	struct osh_policy_image *old_img;
	struct osh_egress_sb *esb;
	struct osh_dns_responder *dns;
	osh_sandbox_net_event_fn fn;
	void *fn_ctx;
};

/* Process-wide: the egress object, its thread and the sandboxes it serves. lock guards all of
 * it; the thread takes it for each batch of work. */
static struct {
	pthread_mutex_t lock;
	struct osh_egress *eg;
	struct osh_sandbox_net *nets;
	unsigned refs;
	pthread_t thread;
	bool thread_on;
	int epfd;
	int stop_fd;
	int timer_fd; /* CLOCK_BOOTTIME: the next expiry of a DNS-installed address */
	uint64_t armed;
	int ino_fd; /* inotify: directories where glob binaries may appear */
	struct watch {
		int wd;
		unsigned refs; /* sandboxes holding it */
		char *path;
	} * watches;
	size_t n_watches;
} G = {
	.lock = PTHREAD_MUTEX_INITIALIZER, .epfd = -1, .stop_fd = -1, .timer_fd = -1, .ino_fd = -1
};

int osh_sandbox_net_policy_copy(const struct osh_policy *p, struct osh_policy **ret)
{
	char *text = NULL;
	int r = osh_policy_dump(p, OSH_POLICY_FORMAT_JSON, &text);

	if (r < 0)
		return r;
	r = osh_policy_parse_buffer(p->source ? p->source : "policy", text, strlen(text),
				    OSH_POLICY_FORMAT_JSON, ret, NULL);
	free(text);
	return r;
}

static struct osh_sandbox_net *net_find(uint64_t id)
{
	for (struct osh_sandbox_net *n = G.nets; n; n = n->next)
		if (n->id == id)
			return n;
	return NULL;
}

/* An epoll event may name a sandbox freed since: compare pointers before touching it. */
static bool net_listed(const struct osh_sandbox_net *net)
{
	for (struct osh_sandbox_net *n = G.nets; n; n = n->next)
		if (n == net)
			return true;
	return false;
}

/* A one-line hint saying what change to the policy would allow it, where one is plain. */
static char *event_hint(const struct osh_egress_event *ev, const struct osh_egress_event_fields *f,
			const char *host)
{
	char *hint = NULL, addr[INET6_ADDRSTRLEN] = "";
	int r = -1;

	if (ev->family == 4 || ev->family == 6)
		inet_ntop(ev->family == 4 ? AF_INET : AF_INET6, ev->addr, addr, sizeof(addr));
	if (ev->reason == OSH_EGRESS_R_NO_ENTRY && addr[0])
		r = asprintf(&hint,
			     "to allow it, add an endpoint {host: %s, port: %u} to a "
			     "network_policies entry",
			     host ? host : addr, ev->port);
	else if (ev->reason == OSH_EGRESS_R_BINARY && f->closest[0] && f->exe[0])
		r = asprintf(&hint, "to allow it, add %s to the binaries of %s", f->exe,
			     f->closest);
	return r < 0 ? NULL : hint;
}

static void on_event(const struct osh_egress_event *ev, void *ud)
{
	struct osh_sandbox_net *net = net_find(ev->sandbox);
	struct osh_egress_event_fields *f;
	struct osh_net_event_info info;
	char *line = NULL, *hint = NULL;

	(void)ud;
	if (!net || !net->fn || osh_egress_event_unix_absent(ev) || !(f = malloc(sizeof(*f))))
		return;
	osh_egress_event_fields_get(ev, net->policy, net->img, f);
	if (osh_egress_event_fields_line(ev, f, &line) < 0)
		goto out;
	info = (struct osh_net_event_info){
		.line = line,
		.kind = "egress",
		.decision = f->verdict,
		.pid = (pid_t)ev->tgid,
		.uid = (uid_t)ev->uid,
		.comm = ev->tgid ? f->comm : NULL,
		.exe = f->exe[0] ? f->exe : NULL,
		.operation = f->op,
		.target = f->target,
		.host = osh_egress_sandbox_name_of(net->esb, ev->family, ev->addr),
		.closest = f->closest[0] ? f->closest : NULL,
		.cgroup_id = ev->sandbox,
		.reason = f->reason,
	};
	info.hint = hint = event_hint(ev, f, info.host);
	net->fn(&info, net->fn_ctx);
out:
	free(hint);
	free(line);
	free(f);
}

/* ---- expiry of DNS-installed addresses (under G.lock) ----------------------------------------- */

/* Removes what has expired in every sandbox and arms the timer for the next expiry. */
static void expire_all(void)
{
	uint64_t next = UINT64_MAX;
	struct itimerspec its = { 0 };

	for (struct osh_sandbox_net *n = G.nets; n; n = n->next) {
		uint64_t at = UINT64_MAX;

		/* A failed removal is retried at the time it reports. */
		if (n->esb)
			(void)osh_egress_sandbox_expire(n->esb, &at);
		if (at < next)
			next = at;
	}
	if (G.timer_fd < 0 || next == G.armed)
		return;
	G.armed = next;
	if (next != UINT64_MAX) {
		/* 0 would disarm: an expiry already due fires as soon as possible. */
		its.it_value.tv_sec = (time_t)(next / 1000);
		its.it_value.tv_nsec = (long)(next % 1000) * 1000000 + 1;
	}
	(void)timerfd_settime(G.timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* ---- glob binaries created after the policy was loaded (under G.lock) ------------------------- */

static struct watch *watch_find(int wd)
{
	for (size_t i = 0; i < G.n_watches; i++)
		if (G.watches[i].wd == wd)
			return &G.watches[i];
	return NULL;
}

static void watch_forget(int wd)
{
	struct watch *w = watch_find(wd);

	if (!w)
		return;
	free(w->path);
	*w = G.watches[--G.n_watches];
}

static int net_watch_dir(const char *dir, void *ctx)
{
	struct osh_sandbox_net *net = ctx;
	struct watch *w, *nv;
	int *wv, wd;

	if (net->n_wds >= NET_MAX_WATCHES)
		return -E2BIG;
	wd = inotify_add_watch(G.ino_fd, dir, NET_WATCH_MASK);
	if (wd < 0)
		return errno == ENOENT || errno == ENOTDIR || errno == EACCES ? 0 : -errno;
	for (size_t i = 0; i < net->n_wds; i++)
		if (net->wds[i] == wd)
			return 0;
	wv = realloc(net->wds, (net->n_wds + 1) * sizeof(*wv));
	if (!wv)
		return -ENOMEM;
	net->wds = wv;
	w = watch_find(wd);
	if (!w) {
		nv = realloc(G.watches, (G.n_watches + 1) * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		G.watches = nv;
		w = &G.watches[G.n_watches];
		*w = (struct watch){ .wd = wd, .path = strdup(dir) };
		if (!w->path)
			return -ENOMEM;
		G.n_watches++;
	}
	w->refs++;
	net->wds[net->n_wds++] = wd;
	return 0;
}

static void net_watch_release(struct osh_sandbox_net *net)
{
	for (size_t i = 0; i < net->n_wds; i++) {
		struct watch *w = watch_find(net->wds[i]);

		if (w && --w->refs == 0) {
			inotify_rm_watch(G.ino_fd, w->wd);
			watch_forget(w->wd);
		}
	}
	free(net->wds);
	net->wds = NULL;
	net->n_wds = 0;
}

/* Watches the directories where a file matching the glob may appear, then adds what matches
 * now: in this order, so a file created in between is seen one way or the other. */
static void net_glob_scan(struct osh_sandbox_net *net, const char *pattern)
{
	struct osh_binid_set set = { 0 };

	(void)osh_binid_glob_dirs(pattern, net_watch_dir, net);
	if (osh_binid_resolve(pattern, true, &set) >= 0)
		for (size_t i = 0; i < set.n; i++)
			(void)osh_egress_sandbox_add_binary(net->esb, pattern, &set.v[i]);
	osh_binid_set_free(&set);
}

/* (Re)starts watching for the globs of the sandbox's current policy. */
static void net_globs_watch(struct osh_sandbox_net *net)
{
	net_watch_release(net);
	if (G.ino_fd < 0)
		return;
	for (size_t i = 0; i < net->img->n_binaries; i++)
		if (net->img->binaries[i].glob)
			net_glob_scan(net, net->img->binaries[i].path);
}

static bool net_holds(const struct osh_sandbox_net *net, int wd)
{
	for (size_t i = 0; i < net->n_wds; i++)
		if (net->wds[i] == wd)
			return true;
	return false;
}

/* A file or directory appeared in a watched directory: a file matching a glob of a sandbox
 * watching there gets the glob's bit; a directory that may lead to matches is watched and
 * scanned (files may already be in it). */
static void glob_event(const struct inotify_event *ie)
{
	struct watch *w;
	char *path = NULL;

	if (ie->mask & IN_IGNORED) {
		/* The directory is gone (or unwatched): forget it everywhere. */
		for (struct osh_sandbox_net *n = G.nets; n; n = n->next)
			for (size_t i = 0; i < n->n_wds; i++)
				if (n->wds[i] == ie->wd)
					n->wds[i] = n->wds[--n->n_wds];
		watch_forget(ie->wd);
		return;
	}
	if (ie->mask & IN_Q_OVERFLOW) {
		for (struct osh_sandbox_net *n = G.nets; n; n = n->next)
			net_globs_watch(n);
		return;
	}
	if (!ie->len || !(w = watch_find(ie->wd)) ||
	    asprintf(&path, "%s/%s", strcmp(w->path, "/") ? w->path : "", ie->name) < 0)
		return;
	for (struct osh_sandbox_net *n = G.nets; n; n = n->next) {
		if (!net_holds(n, ie->wd))
			continue;
		for (size_t i = 0; i < n->img->n_binaries; i++) {
			const char *pat = n->img->binaries[i].path;
			struct stat st;

			if (!n->img->binaries[i].glob)
				continue;
			if (ie->mask & IN_ISDIR) {
				if (osh_binid_glob_dir_may_match(pat, path))
					net_glob_scan(n, pat);
			} else if (osh_binid_glob_match(pat, path) && stat(path, &st) == 0 &&
				   S_ISREG(st.st_mode)) {
				struct osh_binid id = { .ino = st.st_ino,
							.dev = osh_binid_dev_encode(st.st_dev) };

				(void)osh_egress_sandbox_add_binary(n->esb, pat, &id);
			}
		}
	}
	free(path);
}

static void glob_events_read(void)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	while ((n = read(G.ino_fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ie = (const struct inotify_event *)p;

			glob_event(ie);
			p += sizeof(*ie) + ie->len;
		}
	}
}

static void *net_thread(void *arg)
{
	struct epoll_event evs[16];

	(void)arg;
	for (;;) {
		int n = epoll_wait(G.epfd, evs, 16, -1);
		bool stop = false;

		if (n < 0 && errno != EINTR)
			break;
		pthread_mutex_lock(&G.lock);
		for (int i = 0; i < n; i++) {
			struct osh_sandbox_net *net = evs[i].data.ptr;
			uint64_t ticks;

			if (!net) {
				stop = true;
			} else if (evs[i].data.ptr == &G.timer_fd) {
				(void)!read(G.timer_fd, &ticks, sizeof(ticks));
				G.armed = UINT64_MAX;
			} else if (evs[i].data.ptr == &G.ino_fd) {
				glob_events_read();
			} else if (net_listed(net) && net->dns) {
				osh_dns_responder_process(net->dns, 0);
			}
		}
		/* Always drain: the ring buffer's fd is registered with data.ptr = &G. */
		osh_egress_events_poll(G.eg, 0, on_event, NULL);
		/* After the responders ran: their installs may have set an earlier expiry. */
		expire_all();
		pthread_mutex_unlock(&G.lock);
		if (stop)
			break;
	}
	return NULL;
}

static bool root_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* Under G.lock. */
static int global_ref(unsigned int level, const char *root)
{
	struct epoll_event ev = { .events = EPOLLIN };
	sigset_t all, old;
	int r;

	if (G.refs) {
		/* One egress object per process, so one root. The reference is taken either way:
		 * the caller's failure path drops it. */
		G.refs++;
		return root_eq(osh_egress_root(G.eg), root) ? 0 : -EXDEV;
	}
	G.refs++;
	r = osh_egress_open(level, root, &G.eg);
	if (r < 0)
		goto fail;
	G.epfd = epoll_create1(EPOLL_CLOEXEC);
	G.stop_fd = eventfd(0, EFD_CLOEXEC);
	if (G.epfd < 0 || G.stop_fd < 0) {
		r = -errno;
		goto fail;
	}
	ev.data.ptr = &G;
	if (epoll_ctl(G.epfd, EPOLL_CTL_ADD, osh_egress_events_fd(G.eg), &ev) < 0) {
		r = -errno;
		goto fail;
	}
	ev.data.ptr = NULL;
	if (epoll_ctl(G.epfd, EPOLL_CTL_ADD, G.stop_fd, &ev) < 0) {
		r = -errno;
		goto fail;
	}
	G.armed = UINT64_MAX;
	G.timer_fd = timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	ev.data.ptr = &G.timer_fd;
	if (G.timer_fd < 0 || epoll_ctl(G.epfd, EPOLL_CTL_ADD, G.timer_fd, &ev) < 0) {
		r = -errno;
		goto fail;
	}
	/* Without inotify (instances exhausted) glob binaries resolve at load only, as before. */
	G.ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	ev.data.ptr = &G.ino_fd;
	if (G.ino_fd >= 0 && epoll_ctl(G.epfd, EPOLL_CTL_ADD, G.ino_fd, &ev) < 0) {
		close(G.ino_fd);
		G.ino_fd = -1;
	}
	/* The thread takes no signals: the caller's handlers and waits stay as they were. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = -pthread_create(&G.thread, NULL, net_thread, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0)
		goto fail;
	G.thread_on = true;
	return 0;
fail:
	G.refs = 1;
	return r;
}

/* The global reference of a failed first global_ref is dropped by global_unref too. */

/* Under G.lock for the bookkeeping; joins the thread outside it. */
static void global_unref(void)
{
	pthread_t t;
	bool join;

	pthread_mutex_lock(&G.lock);
	if (--G.refs) {
		pthread_mutex_unlock(&G.lock);
		return;
	}
	join = G.thread_on;
	t = G.thread;
	G.thread_on = false;
	if (join && eventfd_write(G.stop_fd, 1) < 0)
		join = false;
	pthread_mutex_unlock(&G.lock);
	if (join)
		pthread_join(t, NULL);
	pthread_mutex_lock(&G.lock);
	/* The last sandbox of the process: if none of any process is pinned any more either,
	 * the root goes (nothing to keep enforcing). */
	if (G.eg)
		(void)osh_egress_unpin_if_unused(G.eg);
	osh_egress_free(G.eg);
	G.eg = NULL;
	if (G.epfd >= 0)
		close(G.epfd);
	if (G.stop_fd >= 0)
		close(G.stop_fd);
	if (G.timer_fd >= 0)
		close(G.timer_fd);
	if (G.ino_fd >= 0)
		close(G.ino_fd);
	G.epfd = G.stop_fd = G.timer_fd = G.ino_fd = -1;
	while (G.n_watches)
		watch_forget(G.watches[0].wd);
	free(G.watches);
	G.watches = NULL;
	pthread_mutex_unlock(&G.lock);
}

int osh_sandbox_net_hold(unsigned int level, const char *bpffs_root)
{
	int r;

	pthread_mutex_lock(&G.lock);
	r = global_ref(level, bpffs_root);
	/* Speed only (sandbox create and delete without kernel text patching): without the
	 * anchor everything works as before. */
	if (r == 0)
		(void)osh_bpf_anchor_hold(G.eg);
	/* Speed only too: without the pool each start and reload waits for a grace period. */
	if (r == 0)
		(void)osh_egress_gen_pool_start(G.eg, NET_GEN_POOL);
	pthread_mutex_unlock(&G.lock);
	if (r < 0)
		global_unref();
	return r;
}

void osh_sandbox_net_unhold(void)
{
	osh_bpf_anchor_release();
	global_unref();
}

/* ---- DNS responder callbacks (on the thread, under G.lock) ---------------------------------- */

static int dns_orig_dst(void *ctx, int proto, const struct sockaddr_storage *client,
			struct sockaddr_storage *ret_dst)
{
	struct osh_egress_dns_orig o;
	uint16_t port;
	uint8_t family;
	int r;

	(void)ctx;
	if (client->ss_family == AF_INET) {
		port = ntohs(((const struct sockaddr_in *)client)->sin_port);
		family = 4;
	} else if (client->ss_family == AF_INET6) {
		port = ntohs(((const struct sockaddr_in6 *)client)->sin6_port);
		family = 6;
	} else {
		return -EAFNOSUPPORT;
	}
	r = osh_egress_dns_orig_lookup(G.eg, (uint8_t)proto, family, port, &o);
	if (r < 0)
		return r;
	memset(ret_dst, 0, sizeof(*ret_dst));
	if (!memcmp(o.addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12)) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ret_dst;

		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, o.addr + 12, 4);
		sin->sin_port = o.port;
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ret_dst;

		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, o.addr, 16);
		sin6->sin6_port = o.port;
	}
	return 0;
}

static int dns_install(void *ctx, const struct osh_image_name *name, int family,
		       const uint8_t addr[16], uint32_t ttl)
{
	struct osh_sandbox_net *net = ctx;

	/* ttl is already within [floor, NET_DNS_TTL_MAX] (the responder's clamp); the network
	 * thread removes the address when it expires (expire_all). */
	return osh_egress_install_name_addr(net->esb, &name->entry, family == AF_INET ? 4 : 6, addr,
					    ttl);
}

static void dns_deny(void *ctx, const char *qname, uint16_t qtype,
		     const struct sockaddr_storage *client, const char *reason)
{
	struct osh_sandbox_net *net = ctx;
	struct osh_net_event_info info;
	char *line = NULL, *hint = NULL;

	(void)client;
	if (!net->fn)
		return;
	if (asprintf(&line, "denied dns %s (type %u): %s; REFUSED", qname, qtype, reason) < 0)
		return;
	if (asprintf(&hint, "to allow it, add an endpoint with host %s to a network_policies entry",
		     qname) < 0)
		hint = NULL;
	info = (struct osh_net_event_info){
		.line = line,
		.kind = "dns",
		.decision = "deny",
		.operation = "dns-query",
		.target = qname,
		.hint = hint,
		.cgroup_id = net->id,
		.reason = reason,
	};
	net->fn(&info, net->fn_ctx);
	free(hint);
	free(line);
}

static int dns_start(struct osh_sandbox_net *net, struct osh_strv *report)
{
	struct osh_dns_config cfg = { 0 };
	struct osh_dns_callbacks cb = {
		.ctx = net,
		.orig_dst = dns_orig_dst,
		.install = dns_install,
		.deny = dns_deny,
	};
	struct sockaddr_storage a4, a6;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = net };
	char s4[INET_ADDRSTRLEN] = "-", s6[INET6_ADDRSTRLEN] = "-";
	int r;

	cfg.fallback_upstream.ss_family = AF_UNSPEC;
	cfg.ttl_min = net->dns_ttl_floor ? net->dns_ttl_floor : NET_DNS_TTL_FLOOR;
	cfg.ttl_max = NET_DNS_TTL_MAX;
	r = osh_dns_responder_new(&cfg, net->img, &cb, &net->dns);
	if (r < 0)
		return r;
	if ((r = osh_dns_responder_local(net->dns, 0, IPPROTO_UDP, &a4)) < 0 ||
	    (r = osh_dns_responder_local(net->dns, 1, IPPROTO_UDP, &a6)) < 0)
		return r;
	r = osh_egress_sandbox_set_dns(
	    net->esb, a4.ss_family == AF_INET ? (struct sockaddr_in *)&a4 : NULL,
	    a6.ss_family == AF_INET6 ? (struct sockaddr_in6 *)&a6 : NULL);
	if (r < 0)
		return r;
	if (epoll_ctl(G.epfd, EPOLL_CTL_ADD, osh_dns_responder_fd(net->dns), &ev) < 0)
		return -errno;
	if (a4.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&a4)->sin_addr, s4, sizeof(s4));
	if (a6.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&a6)->sin6_addr, s6, sizeof(s6));
	return osh_strv_pushf(report,
			      "network: DNS (UDP and TCP port 53) answered by osh at %s:%u "
			      "and [%s]:%u",
			      s4, ntohs(((struct sockaddr_in *)&a4)->sin_port), s6,
			      ntohs(((struct sockaddr_in6 *)&a6)->sin6_port));
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

int osh_sandbox_net_start(const struct osh_sandbox_net_opts *o, struct osh_strv *warnings,
			  struct osh_strv *report, struct osh_sandbox_net **ret,
			  struct osh_sandbox_error *e)
{
	struct osh_sandbox_net *net = calloc(1, sizeof(*net));
	unsigned int level;
	const char *step = "egress";
	bool referenced = false;
	int r;

	if (!net)
		return osh_sandbox_error_set(e, ENOMEM, "egress", NULL, NULL);
	net->id = o->cgroup_id;
	net->dns_ttl_floor = o->dns_ttl_floor;
	net->fn = o->event_fn;
	net->fn_ctx = o->event_ctx;
	if ((r = osh_sandbox_net_policy_copy(o->policy, &net->policy)) < 0 ||
	    (r = osh_policy_compile(net->policy, &net->img)) < 0) {
		step = "egress: policy";
		goto fail_unlocked;
	}
	r = osh_egress_cgroup_level(o->cgroup_path, &level);
	if (r < 0) {
		step = "egress: cgroup level";
		goto fail_unlocked;
	}
	pthread_mutex_lock(&G.lock);
	r = global_ref(level, o->bpffs_root);
	referenced = true;
	if (r < 0) {
		step = "egress: loading the BPF programs";
		goto fail;
	}
	if (o->adopt)
		r = osh_egress_sandbox_adopt(G.eg, o->name, o->cgroup_fd, o->cgroup_id, &net->esb);
	else
		r = osh_egress_sandbox_add(G.eg, o->name, o->cgroup_fd, o->cgroup_id, &net->esb);
	if (r < 0) {
		step = o->adopt ? "egress: adopting the pinned sandbox"
				: "egress: attaching to the sandbox cgroup";
		goto fail;
	}
	r = osh_egress_sandbox_update(net->esb, net->img, warnings);
	if (r < 0) {
		step = "egress: installing network_policies";
		goto fail;
	}
	net->next = G.nets;
	G.nets = net;
	if (!o->no_dns && (r = dns_start(net, report)) < 0) {
		step = "egress: starting the DNS responder";
		G.nets = net->next;
		goto fail;
	}
	/* An adopted sandbox's redirect still names the responder of the process before. */
	if (o->no_dns && o->adopt && (r = osh_egress_sandbox_set_dns(net->esb, NULL, NULL)) < 0) {
		step = "egress: DNS redirect";
		G.nets = net->next;
		goto fail;
	}
	if (o->no_dns)
		r = osh_strv_push(report, "network: DNS not redirected (no responder); port 53 "
					  "is an ordinary destination");
	if (r >= 0)
		r = osh_strv_pushf(report,
				   "network: egress enforced in the kernel (cgroup connect/sendmsg/"
				   "sock_create/skb hooks; %zu address entries, %zu names, %zu "
				   "binaries)",
				   net->img->n_v4 + net->img->n_v6, net->img->n_names,
				   net->img->n_binaries);
	if (r >= 0)
		r = osh_egress_unix_hooks(G.eg)
			? osh_strv_push(report, "network: named and abstract unix sockets refused "
						"(cgroup connect_unix/sendmsg_unix hooks)")
			: osh_strv_push(report,
					"network: unix sockets not restricted: kernel < 6.7 "
					"has no cgroup unix hooks");
	if (r >= 0) {
		net_globs_watch(net);
		/* An adopted sandbox may carry addresses whose time is up. */
		expire_all();
	}
	pthread_mutex_unlock(&G.lock);
	if (r < 0) {
		if (o->adopt)
			osh_sandbox_net_release(net);
		else
			osh_sandbox_net_free(net);
		return osh_sandbox_error_set(e, r, "egress", NULL, NULL);
	}
	*ret = net;
	return 0;
fail:
	pthread_mutex_unlock(&G.lock);
fail_unlocked:
	if (r == -ESTALE)
		osh_sandbox_error_set(
		    e, ESTALE, step, o->bpffs_root,
		    "pinned by another build of osh: stop every osh process using "
		    "it, destroy its sandboxes (or `rm -r %s`, which ends their "
		    "enforcement) and start again",
		    o->bpffs_root);
	else if (r == -EXDEV)
		osh_sandbox_error_set(e, EXDEV, step, o->bpffs_root ? o->bpffs_root : "(none)",
				      "this process already uses another bpffs root");
	else if (r == -ENOENT && o->adopt)
		osh_sandbox_error_set(e, ENOENT, step, o->name, "its pinned egress state is gone");
	else
		osh_sandbox_error_set(e, r, step, o->cgroup_path, NULL);
	osh_dns_responder_free(net->dns);
	if (net->esb) {
		pthread_mutex_lock(&G.lock);
		/* A failed adoption leaves the pins for purge; a failed creation removes its own. */
		if (o->adopt)
			osh_egress_sandbox_release(net->esb);
		else
			osh_egress_sandbox_remove(net->esb);
		pthread_mutex_unlock(&G.lock);
	}
	if (referenced)
		global_unref();
	osh_policy_image_free(net->img);
	osh_policy_free(net->policy);
	free(net);
	return r;
}

int osh_sandbox_net_reload(struct osh_sandbox_net *net, const struct osh_policy *policy,
			   struct osh_strv *warnings, struct osh_sandbox_error *e)
{
	struct osh_policy *p = NULL;
	int r = osh_sandbox_net_policy_copy(policy, &p);

	if (r < 0)
		return osh_sandbox_error_set(e, r, "egress: policy", NULL, NULL);
	return osh_sandbox_net_reload_take(net, p, NULL, warnings, e);
}

int osh_sandbox_net_reload_take(struct osh_sandbox_net *net, struct osh_policy *p,
				struct osh_policy_image *img, struct osh_strv *warnings,
				struct osh_sandbox_error *e)
{
	int r;

	if (!img && (r = osh_policy_compile(p, &img)) < 0) {
		osh_policy_free(p);
		return osh_sandbox_error_set(e, r, "egress: policy", NULL, NULL);
	}
	pthread_mutex_lock(&G.lock);
	r = osh_egress_sandbox_update(net->esb, img, warnings);
	if (r >= 0 && net->dns)
		r = osh_dns_responder_set_image(net->dns, img);
	if (r < 0) {
		pthread_mutex_unlock(&G.lock);
		osh_policy_image_free(img);
		osh_policy_free(p);
		return osh_sandbox_error_set(e, r, "egress: reload", NULL, NULL);
	}
	osh_policy_image_free(net->old_img);
	osh_policy_free(net->old_policy);
	net->old_img = net->img;
	net->old_policy = net->policy;
	net->img = img;
	net->policy = p;
	net_globs_watch(net);
	pthread_mutex_unlock(&G.lock);
	return 0;
}

static void net_free(struct osh_sandbox_net *net, bool remove)
{
	if (!net)
		return;
	pthread_mutex_lock(&G.lock);
	/* Last events of this sandbox (e.g. from its final moments) are still printed. */
	osh_egress_events_poll(G.eg, 0, on_event, NULL);
	for (struct osh_sandbox_net **p = &G.nets; *p; p = &(*p)->next)
		if (*p == net) {
			*p = net->next;
			break;
		}
	if (net->dns) {
		epoll_ctl(G.epfd, EPOLL_CTL_DEL, osh_dns_responder_fd(net->dns), NULL);
		osh_dns_responder_free(net->dns);
	}
	net_watch_release(net);
	if (remove)
		osh_egress_sandbox_remove(net->esb);
	else
		osh_egress_sandbox_release(net->esb);
	pthread_mutex_unlock(&G.lock);
	global_unref();
	osh_policy_image_free(net->img);
	osh_policy_free(net->policy);
	osh_policy_image_free(net->old_img);
	osh_policy_free(net->old_policy);
	free(net);
}

void osh_sandbox_net_free(struct osh_sandbox_net *net)
{
	net_free(net, true);
}

void osh_sandbox_net_release(struct osh_sandbox_net *net)
{
	net_free(net, false);
}

int osh_sandbox_net_pins_check(struct osh_sandbox_net *net, struct osh_bpf_pin_check *c)
{
	int r = 0;

	pthread_mutex_lock(&G.lock);
	if (G.eg)
		r = net ? osh_egress_sandbox_pins_check(net->esb, c)
			: osh_egress_pins_check(G.eg, c);
	pthread_mutex_unlock(&G.lock);
	return r;
}

int osh_sandbox_net_events_flush(struct osh_sandbox_net *net, const struct timespec *deadline)
{
	/* G.lock is held by the thread for each batch it handles: once it is ours, that batch's
	 * events were delivered, and what the ring holds now is ours to deliver. */
	int r = -pthread_mutex_clocklock(&G.lock, CLOCK_MONOTONIC, deadline);

	if (r < 0)
		return r;
	/* Queries the sandbox sent and the thread has not read: their denials too. */
	if (net && net_listed(net) && net->dns)
		(void)osh_dns_responder_process(net->dns, 0);
	if (G.eg)
		(void)osh_egress_events_consume(G.eg, on_event, NULL);
	pthread_mutex_unlock(&G.lock);
	return 0;
}

int osh_sandbox_net_events_dropped(uint64_t *ret_dropped)
{
	int r = 0;

	*ret_dropped = 0;
	pthread_mutex_lock(&G.lock);
	if (G.eg)
		r = osh_egress_events_dropped(G.eg, ret_dropped);
	pthread_mutex_unlock(&G.lock);
	return r;
}
