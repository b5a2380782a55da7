// SPDX-License-Identifier: Apache-2.0
// Loader of bpf/egress.bpf.c (see bpf-egress.h): skeleton, per-sandbox attach, generations of
// rules swapped through the osh_gens map-of-maps, stable binary bit numbering, DNS answers,
// events.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "binid.h"
#include "bpf-egress.h"
#include "cgroup.h"
#include "egress.skel.h"

_Static_assert(sizeof(struct osh_egress_proc_key) == 16, "osh_egress_proc_key ABI");
_Static_assert(sizeof(struct osh_egress_proc) == 16, "osh_egress_proc ABI");
_Static_assert(sizeof(struct osh_egress_exe_key) == 24, "osh_egress_exe_key ABI");
_Static_assert(sizeof(struct osh_egress_sandbox) == 32, "osh_egress_sandbox ABI");
_Static_assert(sizeof(struct osh_egress_dns_key) == 8, "osh_egress_dns_key ABI");
_Static_assert(sizeof(struct osh_egress_dns_orig) == 32, "osh_egress_dns_orig ABI");
_Static_assert(sizeof(struct osh_egress_sk) == 64, "osh_egress_sk ABI");
_Static_assert(sizeof(struct osh_egress_event) == 344, "osh_egress_event ABI");

#define N_TRACEPOINTS  3
#define N_CGROUP_PROGS 8

struct exe_entry {
	struct osh_binid id;
	uint64_t mask;
};

/* An address the DNS responder installed; re-installed into each new generation whose policy
 * still names it. */
struct named_addr {
	struct osh_egress_name name;
	struct osh_egress_v6_key key;
};

struct osh_egress_sb {
	struct osh_egress *eg;
	struct osh_egress_sb *next;
	uint64_t id;
	int cgroup_fd;
	struct bpf_link *links[N_CGROUP_PROGS];
	struct osh_egress_sandbox cfg;
	/* Stable numbering: bit i of the kernel masks is binary path bin_paths[i] for the whole
	 * life of the sandbox, so process masks computed under one generation stay true under the
	 * next one. */
	char *bin_paths[OSH_EGRESS_MAX_BINARIES];
	size_t n_bins;
	int bit_of_index[OSH_EGRESS_MAX_BINARIES]; /* image binary index -> stable bit */
	struct exe_entry *exes;
	size_t n_exes;
	int gen_fd;
	const struct osh_policy_image *img;
	struct named_addr *named;
	size_t n_named;
};

struct osh_egress {
	struct egress *skel;
	struct bpf_link *tp_links[N_TRACEPOINTS];
	struct ring_buffer *rb;
	osh_egress_event_fn cb;
	void *cb_data;
	struct osh_egress_sb *sandboxes;
};

static int handle_event(void *ctx, void *data, size_t size)
{
	struct osh_egress *eg = ctx;

	if (size < sizeof(struct osh_egress_event) || !eg->cb)
		return 0;
	eg->cb(data, eg->cb_data);
	return 0;
}

int osh_egress_open(unsigned int sandbox_level, struct osh_egress **ret)
{
	struct osh_egress *eg = calloc(1, sizeof(*eg));
	struct bpf_program *tps[N_TRACEPOINTS];
	int r;

	if (!eg)
		return -ENOMEM;
	eg->skel = egress__open();
	if (!eg->skel) {
		r = -errno;
		goto fail;
	}
	eg->skel->rodata->sandbox_level = sandbox_level;
	r = egress__load(eg->skel);
	if (r < 0)
		goto fail;
	tps[0] = eg->skel->progs.osh_fork;
	tps[1] = eg->skel->progs.osh_exec;
	tps[2] = eg->skel->progs.osh_exit;
	for (int i = 0; i < N_TRACEPOINTS; i++) {
		eg->tp_links[i] = bpf_program__attach(tps[i]);
		if (!eg->tp_links[i]) {
			r = -errno;
			goto fail;
		}
	}
	eg->rb = ring_buffer__new(bpf_map__fd(eg->skel->maps.osh_events), handle_event, eg, NULL);
	if (!eg->rb) {
		r = -errno;
		goto fail;
	}
	*ret = eg;
	return 0;
fail:
	osh_egress_free(eg);
	return r < 0 ? r : -EINVAL;
}

void osh_egress_free(struct osh_egress *eg)
{
	if (!eg)
		return;
	while (eg->sandboxes)
		osh_egress_sandbox_remove(eg->sandboxes);
	ring_buffer__free(eg->rb);
	for (int i = 0; i < N_TRACEPOINTS; i++)
		bpf_link__destroy(eg->tp_links[i]);
	egress__destroy(eg->skel);
	free(eg);
}

int osh_egress_cgroup_level(const char *cgroup_path, unsigned int *ret_level)
{
	char *mount = NULL;
	const char *rest;
	unsigned int level = 0;
	size_t n;
	int r = osh_cgroup_mount_find(&mount);

	if (r < 0)
		return r;
	n = strlen(mount);
	while (n > 1 && mount[n - 1] == '/')
		n--;
	if (strncmp(cgroup_path, mount, n) != 0 || (cgroup_path[n] != '/' && cgroup_path[n])) {
		free(mount);
		return -EINVAL;
	}
	for (rest = cgroup_path + n; *rest; rest++)
		if (*rest == '/' && rest[1] && rest[1] != '/')
			level++;
	free(mount);
	*ret_level = level;
	return 0;
}

/* ---- sandboxes ------------------------------------------------------------------------------- */

int osh_egress_sandbox_add(struct osh_egress *eg, int cgroup_fd, uint64_t cgroup_id,
			   struct osh_egress_sb **ret)
{
	struct egress *s = eg->skel;
	struct bpf_program *progs[N_CGROUP_PROGS] = {
		s->progs.osh_connect4,	  s->progs.osh_connect6,   s->progs.osh_sendmsg4,
		s->progs.osh_sendmsg6,	  s->progs.osh_recvmsg4,   s->progs.osh_recvmsg6,
		s->progs.osh_sock_create, s->progs.osh_skb_egress,
	};
	struct osh_egress_sb *sb = calloc(1, sizeof(*sb));
	int r;

	if (!sb)
		return -ENOMEM;
	sb->eg = eg;
	sb->id = cgroup_id;
	sb->gen_fd = -1;
	sb->cgroup_fd = fcntl(cgroup_fd, F_DUPFD_CLOEXEC, 3);
	if (sb->cgroup_fd < 0) {
		r = -errno;
		free(sb);
		return r;
	}
	sb->next = eg->sandboxes;
	eg->sandboxes = sb;
	/* Known before the programs run there: an unknown sandbox is let through by the hooks. */
	r = bpf_map_update_elem(bpf_map__fd(s->maps.osh_sandboxes), &sb->id, &sb->cfg, BPF_ANY);
	if (r < 0)
		goto fail;
	for (int i = 0; i < N_CGROUP_PROGS && progs[i]; i++) {
		sb->links[i] = bpf_program__attach_cgroup(progs[i], sb->cgroup_fd);
		if (!sb->links[i]) {
			r = -errno;
			goto fail;
		}
	}
	*ret = sb;
	return 0;
fail:
	osh_egress_sandbox_remove(sb);
	return r < 0 ? r : -EINVAL;
}

static void exes_delete(struct osh_egress_sb *sb, const struct exe_entry *e, size_t n)
{
	int fd = bpf_map__fd(sb->eg->skel->maps.osh_exes);

	for (size_t i = 0; i < n; i++) {
		struct osh_egress_exe_key k = { .sandbox = sb->id,
						.ino = e[i].id.ino,
						.dev = e[i].id.dev };

		bpf_map_delete_elem(fd, &k);
	}
}

void osh_egress_sandbox_remove(struct osh_egress_sb *sb)
{
	struct egress *s;

	if (!sb)
		return;
	s = sb->eg->skel;
	for (int i = 0; i < N_CGROUP_PROGS; i++)
		bpf_link__destroy(sb->links[i]);
	bpf_map_delete_elem(bpf_map__fd(s->maps.osh_gens), &sb->id);
	bpf_map_delete_elem(bpf_map__fd(s->maps.osh_sandboxes), &sb->id);
	exes_delete(sb, sb->exes, sb->n_exes);
	for (struct osh_egress_sb **p = &sb->eg->sandboxes; *p; p = &(*p)->next)
		if (*p == sb) {
			*p = sb->next;
			break;
		}
	for (size_t i = 0; i < sb->n_bins; i++)
		free(sb->bin_paths[i]);
	if (sb->gen_fd >= 0)
		close(sb->gen_fd);
	if (sb->cgroup_fd >= 0)
		close(sb->cgroup_fd);
	free(sb->exes);
	free(sb->named);
	free(sb);
}

struct osh_egress_sb *osh_egress_sandbox_find(struct osh_egress *eg, uint64_t sandbox_id)
{
	for (struct osh_egress_sb *sb = eg->sandboxes; sb; sb = sb->next)
		if (sb->id == sandbox_id)
			return sb;
	return NULL;
}

int osh_egress_sandbox_set_dns(struct osh_egress_sb *sb, const struct sockaddr_in *a4,
			       const struct sockaddr_in6 *a6)
{
	struct osh_egress_sandbox cfg = sb->cfg;

	cfg.flags &= ~(uint32_t)(OSH_EGRESS_SB_DNS4 | OSH_EGRESS_SB_DNS6);
	if (a4) {
		cfg.flags |= OSH_EGRESS_SB_DNS4;
		memcpy(cfg.dns_addr4, &a4->sin_addr, 4);
		cfg.dns_port4 = a4->sin_port;
	}
	if (a6) {
		cfg.flags |= OSH_EGRESS_SB_DNS6;
		memcpy(cfg.dns_addr6, &a6->sin6_addr, 16);
		cfg.dns_port6 = a6->sin6_port;
	}
	if (bpf_map_update_elem(bpf_map__fd(sb->eg->skel->maps.osh_sandboxes), &sb->id, &cfg,
				BPF_EXIST) < 0)
		return -errno;
	sb->cfg = cfg;
	return 0;
}

/* ---- generations ----------------------------------------------------------------------------- */

static uint64_t mask_remap(const struct osh_egress_sb *sb, uint64_t m)
{
	uint64_t out = 0;

	for (int i = 0; i < OSH_EGRESS_MAX_BINARIES; i++)
		if ((m >> i) & 1 && sb->bit_of_index[i] >= 0)
			out |= 1ull << sb->bit_of_index[i];
	return out;
}

static struct osh_egress_value value_remap(const struct osh_egress_sb *sb,
					   const struct osh_egress_value *v)
{
	struct osh_egress_value out = *v;

	out.binaries = mask_remap(sb, v->binaries);
	out.l7 = mask_remap(sb, v->l7);
	out.audit = mask_remap(sb, v->audit);
	return out;
}

/* Inserts an entry, merging with one already under the same key (masks OR-ed, lowest rule). */
static int gen_put(int fd, const struct osh_egress_v6_key *k, const struct osh_egress_value *v)
{
	struct osh_egress_value cur;

	if (bpf_map_update_elem(fd, k, v, BPF_NOEXIST) == 0)
		return 0;
	if (errno != EEXIST)
		return -errno;
	if (bpf_map_lookup_elem(fd, k, &cur) < 0)
		return -errno;
	cur.binaries |= v->binaries;
	cur.l7 |= v->l7;
	cur.audit |= v->audit;
	cur.flags |= v->flags;
	if (v->rule < cur.rule)
		cur.rule = v->rule;
	return bpf_map_update_elem(fd, k, &cur, BPF_EXIST) < 0 ? -errno : 0;
}

static void key_from_v4(struct osh_egress_v6_key *k, const struct osh_egress_v4_key *k4)
{
	memset(k, 0, sizeof(*k));
	k->prefixlen = k4->prefixlen + OSH_EGRESS_V4_MAPPED_BITS;
	k->port = k4->port;
	k->proto = k4->proto;
	k->addr[10] = k->addr[11] = 0xff;
	memcpy(k->addr + 12, k4->addr, 4);
}

static bool name_eq(const struct osh_egress_name *a, const struct osh_egress_name *b)
{
	return a->port == b->port && a->proto == b->proto &&
	       strncmp(a->name, b->name, sizeof(a->name)) == 0;
}

static const struct osh_image_name *image_name_find(const struct osh_policy_image *img,
						    const struct osh_egress_name *n)
{
	for (size_t i = 0; img && i < img->n_names; i++)
		if (name_eq(&img->names[i].entry, n))
			return &img->names[i];
	return NULL;
}

static bool cidr_contains(const struct osh_cidr *c, const struct osh_egress_v6_key *k)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	const uint8_t *a = k->addr;
	unsigned full = c->prefix_len / 8, rest = c->prefix_len % 8;

	if (c->family == 4) {
		if (memcmp(a, mapped, 12))
			return false;
		a += 12;
	} else if (!memcmp(a, mapped, 12)) {
		return false;
	}
	if (memcmp(c->addr, a, full))
		return false;
	return !rest || ((c->addr[full] ^ a[full]) & (0xff << (8 - rest))) == 0;
}

/* An answered address becomes an entry for every name entry of the policy with that name, port
 * and protocol whose endpoint admits it (no allowed_ips, or one containing it): entries that
 * differ only in allowed_ips are kept apart by the compiler. -ENOENT when none admits it. */
static int named_put(const struct osh_egress_sb *sb, int fd, const struct named_addr *na)
{
	int r = -ENOENT;

	for (size_t i = 0; sb->img && i < sb->img->n_names; i++) {
		const struct osh_image_name *in = &sb->img->names[i];
		const struct osh_endpoint *ep = in->endpoint;
		struct osh_egress_value v;
		bool admitted = !ep || ep->n_allowed_ips == 0;
		int q;

		if (!name_eq(&in->entry, &na->name))
			continue;
		for (size_t j = 0; !admitted && j < ep->n_allowed_ips; j++)
			admitted = cidr_contains(&ep->allowed_ips[j], &na->key);
		if (!admitted)
			continue;
		v = value_remap(sb, &in->entry.value);
		v.flags |= OSH_EGRESS_F_FROM_NAME;
		q = gen_put(fd, &na->key, &v);
		if (q < 0)
			return q;
		r = 0;
	}
	return r;
}

static int gen_fill(const struct osh_egress_sb *sb, const struct osh_policy_image *img, int fd)
{
	int r;

	for (size_t i = 0; i < img->n_v4; i++) {
		struct osh_egress_v6_key k;
		struct osh_egress_value v = value_remap(sb, &img->v4[i].value);

		key_from_v4(&k, &img->v4[i].key);
		if ((r = gen_put(fd, &k, &v)) < 0)
			return r;
	}
	for (size_t i = 0; i < img->n_v6; i++) {
		struct osh_egress_value v = value_remap(sb, &img->v6[i].value);

		if ((r = gen_put(fd, &img->v6[i].key, &v)) < 0)
			return r;
	}
	return 0;
}

/* Assigns stable bits to the image's binaries. Fails before anything changed. */
static int bits_assign(struct osh_egress_sb *sb, const struct osh_policy_image *img,
		       int *bit_of_index)
{
	char *added[OSH_EGRESS_MAX_BINARIES] = { 0 };
	size_t n_added = 0, n = sb->n_bins;

	for (int i = 0; i < OSH_EGRESS_MAX_BINARIES; i++)
		bit_of_index[i] = -1;
	for (size_t i = 0; i < img->n_binaries; i++) {
		const char *path = img->binaries[i].path;
		size_t b;

		for (b = 0; b < n; b++)
			if (!strcmp(b < sb->n_bins ? sb->bin_paths[b] : added[b - sb->n_bins],
				    path))
				break;
		if (b == n) {
			if (n == OSH_EGRESS_MAX_BINARIES)
				goto too_many;
			added[n_added] = strdup(path);
			if (!added[n_added]) {
				for (size_t j = 0; j < n_added; j++)
					free(added[j]);
				return -ENOMEM;
			}
			n_added++;
			n++;
		}
		if (img->binaries[i].index < OSH_EGRESS_MAX_BINARIES)
			bit_of_index[img->binaries[i].index] = (int)b;
	}
	for (size_t j = 0; j < n_added; j++)
		sb->bin_paths[sb->n_bins++] = added[j];
	return 0;
too_many:
	for (size_t j = 0; j < n_added; j++)
		free(added[j]);
	return -E2BIG;
}

static int exes_build(const struct osh_policy_image *img, const int *bit_of_index,
		      struct osh_strv *warnings, struct exe_entry **ret, size_t *ret_n)
{
	struct exe_entry *v = NULL;
	size_t n = 0, cap = 0;
	int r = 0;

	for (size_t i = 0; i < img->n_binaries; i++) {
		const struct osh_image_binary *b = &img->binaries[i];
		struct osh_binid_set set = { 0 };
		int found = osh_binid_resolve(b->path, b->glob, &set);

		if (found < 0) {
			r = found;
			osh_binid_set_free(&set);
			goto fail;
		}
		if (found == 0 && warnings &&
		    (r = osh_strv_pushf(
			 warnings, "network_policies: binary %s: %s; it cannot be matched", b->path,
			 b->glob ? "no file matches the glob" : "no such file")) < 0) {
			osh_binid_set_free(&set);
			goto fail;
		}
		for (size_t j = 0; j < set.n; j++) {
			size_t k;

			for (k = 0; k < n; k++)
				if (v[k].id.ino == set.v[j].ino && v[k].id.dev == set.v[j].dev)
					break;
			if (k == n) {
				if (n == cap) {
					size_t nc = cap ? cap * 2 : 32;
					struct exe_entry *nv = realloc(v, nc * sizeof(*nv));

					if (!nv) {
						r = -ENOMEM;
						osh_binid_set_free(&set);
						goto fail;
					}
					v = nv;
					cap = nc;
				}
				v[n++] = (struct exe_entry){ .id = set.v[j] };
			}
			v[k].mask |= 1ull << bit_of_index[b->index];
		}
		osh_binid_set_free(&set);
	}
	if (n > OSH_EGRESS_MAX_EXES) {
		r = -E2BIG;
		goto fail;
	}
	*ret = v;
	*ret_n = n;
	return 0;
fail:
	free(v);
	return r;
}

int osh_egress_sandbox_update(struct osh_egress_sb *sb, const struct osh_policy_image *img,
			      struct osh_strv *warnings)
{
	struct egress *s = sb->eg->skel;
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_NO_PREALLOC);
	int bit_of_index[OSH_EGRESS_MAX_BINARIES], saved_bits[OSH_EGRESS_MAX_BINARIES];
	const struct osh_policy_image *saved_img = sb->img;
	struct exe_entry *exes = NULL;
	size_t n_exes = 0, kept = 0;
	int exes_fd = bpf_map__fd(s->maps.osh_exes);
	int fd = -1, r;

	r = bits_assign(sb, img, bit_of_index);
	if (r < 0)
		return r;
	r = exes_build(img, bit_of_index, warnings, &exes, &n_exes);
	if (r < 0)
		return r;
	/* Identities first: bits are stable, so a process exec'ing now gets bits that mean the
	 * same under the old and the new generation. */
	for (size_t i = 0; i < n_exes; i++) {
		struct osh_egress_exe_key k = { .sandbox = sb->id,
						.ino = exes[i].id.ino,
						.dev = exes[i].id.dev };
		struct osh_egress_bin_value v = { .mask = exes[i].mask };

		if (bpf_map_update_elem(exes_fd, &k, &v, BPF_ANY) < 0) {
			r = -errno;
			goto fail;
		}
	}
	fd = bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, "osh_gen", sizeof(struct osh_egress_v6_key),
			    sizeof(struct osh_egress_value), OSH_EGRESS_MAX_RULES, &opts);
	if (fd < 0) {
		r = -errno;
		goto fail;
	}
	memcpy(saved_bits, sb->bit_of_index, sizeof(saved_bits));
	memcpy(sb->bit_of_index, bit_of_index, sizeof(bit_of_index));
	sb->img = img;
	r = gen_fill(sb, img, fd);
	/* DNS answers for names the new policy still has stay allowed. */
	for (size_t i = 0; r >= 0 && i < sb->n_named; i++) {
		int q = named_put(sb, fd, &sb->named[i]);

		if (q == -ENOENT)
			continue;
		if (q < 0)
			r = q;
		else
			sb->named[kept++] = sb->named[i];
	}
	if (r < 0) {
		memcpy(sb->bit_of_index, saved_bits, sizeof(saved_bits));
		sb->img = saved_img;
		goto fail;
	}
	sb->n_named = kept;
	/* The flip: one update of the sandbox's slot; programs see the old trie or the new. */
	if (bpf_map_update_elem(bpf_map__fd(s->maps.osh_gens), &sb->id, &fd, BPF_ANY) < 0) {
		r = -errno;
		memcpy(sb->bit_of_index, saved_bits, sizeof(saved_bits));
		sb->img = saved_img;
		goto fail;
	}
	if (sb->gen_fd >= 0)
		close(sb->gen_fd);
	sb->gen_fd = fd;
	sb->cfg.generation++;
	bpf_map_update_elem(bpf_map__fd(s->maps.osh_sandboxes), &sb->id, &sb->cfg, BPF_EXIST);
	/* Identities the new policy no longer names: a freed inode number could be reused. */
	for (size_t i = 0; i < sb->n_exes; i++) {
		bool still = false;

		for (size_t j = 0; j < n_exes && !still; j++)
			still = exes[j].id.ino == sb->exes[i].id.ino &&
				exes[j].id.dev == sb->exes[i].id.dev;
		if (!still)
			exes_delete(sb, &sb->exes[i], 1);
	}
	free(sb->exes);
	sb->exes = exes;
	sb->n_exes = n_exes;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	free(exes);
	return r;
}

static int name_key(int family, const uint8_t *addr, const struct osh_egress_name *name,
		    struct osh_egress_v6_key *k)
{
	memset(k, 0, sizeof(*k));
	k->prefixlen = OSH_EGRESS_KEY_PREFIX_BITS + 128;
	k->port = name->port;
	k->proto = name->proto;
	if (family == 4) {
		k->addr[10] = k->addr[11] = 0xff;
		memcpy(k->addr + 12, addr, 4);
	} else if (family == 6) {
		memcpy(k->addr, addr, 16);
	} else {
		return -EAFNOSUPPORT;
	}
	return 0;
}

int osh_egress_install_name_addr(struct osh_egress_sb *sb, const struct osh_egress_name *name,
				 int family, const uint8_t *addr)
{
	struct named_addr na = { .name = *name }, *nv;
	int r = name_key(family, addr, name, &na.key);

	if (r < 0)
		return r;
	if (sb->gen_fd < 0 || !image_name_find(sb->img, name))
		return -ENOENT;
	for (size_t i = 0; i < sb->n_named; i++)
		if (!memcmp(&sb->named[i].key, &na.key, sizeof(na.key)) &&
		    !strncmp(sb->named[i].name.name, name->name, sizeof(name->name)))
			return 0;
	nv = realloc(sb->named, (sb->n_named + 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	sb->named = nv;
	r = named_put(sb, sb->gen_fd, &na);
	if (r < 0)
		return r;
	sb->named[sb->n_named++] = na;
	return 0;
}

int osh_egress_remove_name_addr(struct osh_egress_sb *sb, const struct osh_egress_name *name,
				int family, const uint8_t *addr)
{
	struct osh_egress_v6_key k;
	size_t i;
	int r = name_key(family, addr, name, &k);

	if (r < 0)
		return r;
	for (i = 0; i < sb->n_named; i++)
		if (!memcmp(&sb->named[i].key, &k, sizeof(k)) &&
		    !strncmp(sb->named[i].name.name, name->name, sizeof(name->name)))
			break;
	if (i == sb->n_named)
		return -ENOENT;
	sb->named[i] = sb->named[--sb->n_named];
	/* Rebuild the key from what still contributes to it: policy entries with exactly this key
	 * and other names answered with the same address. */
	bpf_map_delete_elem(sb->gen_fd, &k);
	for (size_t j = 0; sb->img && j < sb->img->n_v4; j++) {
		struct osh_egress_v6_key pk;

		key_from_v4(&pk, &sb->img->v4[j].key);
		if (!memcmp(&pk, &k, sizeof(k))) {
			struct osh_egress_value v = value_remap(sb, &sb->img->v4[j].value);

			if ((r = gen_put(sb->gen_fd, &k, &v)) < 0)
				return r;
		}
	}
	for (size_t j = 0; sb->img && j < sb->img->n_v6; j++)
		if (!memcmp(&sb->img->v6[j].key, &k, sizeof(k))) {
			struct osh_egress_value v = value_remap(sb, &sb->img->v6[j].value);

			if ((r = gen_put(sb->gen_fd, &k, &v)) < 0)
				return r;
		}
	for (size_t j = 0; j < sb->n_named; j++)
		if (!memcmp(&sb->named[j].key, &k, sizeof(k)) &&
		    (r = named_put(sb, sb->gen_fd, &sb->named[j])) < 0 && r != -ENOENT)
			return r;
	return 0;
}

int osh_egress_dns_orig_lookup(struct osh_egress *eg, uint8_t proto, uint8_t family, uint16_t sport,
			       struct osh_egress_dns_orig *ret_orig)
{
	struct osh_egress_dns_key k = { .sport = htons(sport), .proto = proto, .family = family };
	struct osh_egress_dns_orig o;

	if (bpf_map_lookup_elem(bpf_map__fd(eg->skel->maps.osh_dns), &k, &o) < 0)
		return -errno;
	*ret_orig = o;
	return 0;
}

/* ---- events ---------------------------------------------------------------------------------- */

int osh_egress_events_poll(struct osh_egress *eg, int timeout_ms, osh_egress_event_fn fn,
			   void *userdata)
{
	int r;

	eg->cb = fn;
	eg->cb_data = userdata;
	r = ring_buffer__poll(eg->rb, timeout_ms);
	eg->cb = NULL;
	eg->cb_data = NULL;
	return r;
}

int osh_egress_events_fd(const struct osh_egress *eg)
{
	return ring_buffer__epoll_fd(eg->rb);
}

int osh_egress_events_dropped(struct osh_egress *eg, uint64_t *ret_dropped)
{
	int ncpu = libbpf_num_possible_cpus();
	uint32_t key = 0; /* STAT_RINGBUF_FULL */
	uint64_t *vals, sum = 0;

	if (ncpu <= 0)
		return ncpu < 0 ? ncpu : -EINVAL;
	vals = calloc((size_t)ncpu, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	if (bpf_map_lookup_elem(bpf_map__fd(eg->skel->maps.osh_stats), &key, vals) < 0) {
		free(vals);
		return -errno;
	}
	for (int i = 0; i < ncpu; i++)
		sum += vals[i];
	free(vals);
	*ret_dropped = sum;
	return 0;
}

static const char *op_name(uint8_t op)
{
	switch (op) {
	case OSH_EGRESS_OP_CONNECT:
		return "connect";
	case OSH_EGRESS_OP_SENDMSG:
		return "sendmsg";
	case OSH_EGRESS_OP_SOCKET:
		return "socket";
	default:
		return "packet";
	}
}

static const char *reason_text(uint8_t reason)
{
	switch (reason) {
	case OSH_EGRESS_R_NO_ENTRY:
		return "no network_policies entry allows it";
	case OSH_EGRESS_R_BINARY:
		return "a network_policies entry allows the destination, but not for this binary "
		       "or its ancestors";
	case OSH_EGRESS_R_SPECIAL:
		return "loopback, link-local, metadata and unspecified addresses are not reachable "
		       "from a sandbox";
	case OSH_EGRESS_R_L7:
		return "the entry needs L7 inspection and the L7 proxy is not available yet";
	case OSH_EGRESS_R_SOCKET:
		return "only TCP stream and UDP datagram sockets are allowed";
	case OSH_EGRESS_R_UNCHECKED:
		return "a packet that no connect/sendmsg check let through (backstop)";
	case OSH_EGRESS_R_NO_POLICY:
		return "the sandbox has no network policy loaded";
	default:
		return "unknown reason";
	}
}

static bool prefix_covers(const uint8_t *net, unsigned bits, const uint8_t *a)
{
	unsigned full = bits / 8, rest = bits % 8;

	if (memcmp(net, a, full))
		return false;
	return !rest || ((net[full] ^ a[full]) & (0xff << (8 - rest))) == 0;
}

/* The policy rule nearest to a destination no entry matched: one allowing the address on
 * another port, else one allowing the port elsewhere. */
static uint32_t closest_rule(const struct osh_egress_event *ev, const struct osh_policy_image *img)
{
	uint32_t by_port = OSH_EGRESS_NO_RULE;

	if (ev->rule != OSH_EGRESS_NO_RULE || !img)
		return ev->rule;
	for (size_t i = 0; ev->family == 4 && i < img->n_v4; i++) {
		const struct osh_egress_v4_key *k = &img->v4[i].key;

		if (prefix_covers(k->addr, k->prefixlen - OSH_EGRESS_KEY_PREFIX_BITS, ev->addr))
			return img->v4[i].value.rule;
		if (ntohs(k->port) == ev->port && by_port == OSH_EGRESS_NO_RULE)
			by_port = img->v4[i].value.rule;
	}
	for (size_t i = 0; ev->family == 6 && i < img->n_v6; i++) {
		const struct osh_egress_v6_key *k = &img->v6[i].key;

		if (prefix_covers(k->addr, k->prefixlen - OSH_EGRESS_KEY_PREFIX_BITS, ev->addr))
			return img->v6[i].value.rule;
		if (ntohs(k->port) == ev->port && by_port == OSH_EGRESS_NO_RULE)
			by_port = img->v6[i].value.rule;
	}
	for (size_t i = 0; i < img->n_names && by_port == OSH_EGRESS_NO_RULE; i++)
		if (ntohs(img->names[i].entry.port) == ev->port)
			by_port = img->names[i].entry.value.rule;
	return by_port;
}

int osh_egress_event_format(const struct osh_egress_event *ev, const struct osh_policy *pol,
			    const struct osh_policy_image *img, char **ret_text)
{
	char exe[PATH_MAX], proc[64], dest[INET6_ADDRSTRLEN + 16], addr[INET6_ADDRSTRLEN];
	char comm[OSH_EGRESS_COMM_LEN + 1], proto[16], closest[320];
	uint32_t rule = closest_rule(ev, img);
	ssize_t n = -1;
	int r;

	memcpy(comm, ev->comm, OSH_EGRESS_COMM_LEN);
	comm[OSH_EGRESS_COMM_LEN] = '\0';
	if (ev->exe_parts > 0 && ev->exe_parts <= OSH_EGRESS_EXE_PARTS) {
		/* The kernel's reading, at the time of the event: the process may be gone now. */
		size_t len = 0;

		exe[0] = '\0';
		if (!ev->exe_complete)
			len = (size_t)snprintf(exe, sizeof(exe), "...");
		for (int i = ev->exe_parts - 1; i >= 0 && len < sizeof(exe); i--)
			len += (size_t)snprintf(exe + len, sizeof(exe) - len, "/%.*s",
						OSH_EGRESS_EXE_PART_LEN, ev->exe[i]);
		n = (ssize_t)len;
	} else if (ev->tgid) {
		snprintf(proc, sizeof(proc), "/proc/%u/exe", ev->tgid);
		n = readlink(proc, exe, sizeof(exe) - 1);
		if (n > 0)
			exe[n] = '\0';
	}
	if (n <= 0)
		snprintf(exe, sizeof(exe), "%s", ev->tgid ? comm : "(kernel context)");
	if (ev->proto == IPPROTO_TCP)
		snprintf(proto, sizeof(proto), "tcp");
	else if (ev->proto == IPPROTO_UDP)
		snprintf(proto, sizeof(proto), "udp");
	else if (ev->proto == IPPROTO_ICMP || ev->proto == IPPROTO_ICMPV6)
		snprintf(proto, sizeof(proto), "icmp");
	else
		snprintf(proto, sizeof(proto), "proto-%u", ev->proto);
	if (ev->family == 4 || ev->family == 6) {
		inet_ntop(ev->family == 4 ? AF_INET : AF_INET6, ev->addr, addr, sizeof(addr));
		snprintf(dest, sizeof(dest), ev->family == 6 ? "[%s]:%u/%s" : "%s:%u/%s", addr,
			 ev->port, proto);
	} else {
		snprintf(dest, sizeof(dest), "%s socket", proto);
	}
	if (rule != OSH_EGRESS_NO_RULE && pol && rule < pol->n_net_rules)
		snprintf(closest, sizeof(closest), "%s", pol->net_rules[rule].key);
	else
		snprintf(closest, sizeof(closest), "none");
	r = asprintf(ret_text, "%s %s %s by %s (pid %u): %s; closest: %s",
		     ev->verdict == OSH_EGRESS_AUDIT ? "audit" : "denied", op_name(ev->op), dest,
		     exe, ev->tgid, reason_text(ev->reason), closest);
	return r < 0 ? -ENOMEM : 0;
}
