// SPDX-License-Identifier: Apache-2.0
// The canonical form: the normalised IR written in a fixed key order with defaults resolved,
// as YAML or JSON. Its JSON rendering is what the revision id (SHA-256) is computed over.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <nettle/sha2.h>

#include "internal.h"

#define E(call) ((void)(e->error ? 0 : (e->error = (call))))

static void emit_key(struct osh_emitter *e, const char *k)
{
	E(e->ops->str(e, k));
}

static void emit_kv_str(struct osh_emitter *e, const char *k, const char *v)
{
	emit_key(e, k);
	E(e->ops->str(e, v));
}

static void emit_str_list(struct osh_emitter *e, const char *k, const char *const *v, size_t n,
			  bool flow)
{
	emit_key(e, k);
	E(e->ops->seq_begin(e, flow));
	for (size_t i = 0; i < n; i++)
		E(e->ops->str(e, v[i]));
	E(e->ops->seq_end(e));
}

static void emit_filesystem(struct osh_emitter *e, const struct osh_fs_policy *fs)
{
	E(e->ops->map_begin(e));
	emit_key(e, "include_workdir");
	E(e->ops->boolean(e, fs->include_workdir));
	if (fs->n_read_only)
		emit_str_list(e, "read_only", fs->read_only, fs->n_read_only, false);
	if (fs->n_read_write)
		emit_str_list(e, "read_write", fs->read_write, fs->n_read_write, false);
	if (fs->n_deny)
		emit_str_list(e, "deny", fs->deny, fs->n_deny, false);
	E(e->ops->map_end(e));
}

static void emit_landlock(struct osh_emitter *e, enum osh_landlock_compat c)
{
	E(e->ops->map_begin(e));
	emit_kv_str(e, "compatibility", osh_landlock_compat_name(c));
	E(e->ops->map_end(e));
}

static void emit_ident(struct osh_emitter *e, const char *k, const struct osh_ident *id)
{
	if (id->kind == OSH_IDENT_UNSET)
		return;
	emit_key(e, k);
	if (id->kind == OSH_IDENT_SANDBOX)
		E(e->ops->str(e, "sandbox"));
	else
		E(e->ops->uint(e, id->id));
}

static void emit_process(struct osh_emitter *e, const struct osh_process_policy *pr)
{
	E(e->ops->map_begin(e));
	emit_ident(e, "run_as_user", &pr->run_as_user);
	emit_ident(e, "run_as_group", &pr->run_as_group);
	E(e->ops->map_end(e));
}

static void emit_l7(struct osh_emitter *e, const struct osh_l7_rule *r)
{
	E(e->ops->map_begin(e));
	if (r->method)
		emit_kv_str(e, "method", r->method);
	if (r->path)
		emit_kv_str(e, "path", r->path);
	if (r->n_query) {
		emit_key(e, "query");
		E(e->ops->map_begin(e));
		for (size_t i = 0; i < r->n_query; i++) {
			const struct osh_query_match *q = &r->query[i];

			/* One glob is written in the short form, several as {any: [...]}. */
			if (q->n_any == 1) {
				emit_kv_str(e, q->name, q->any[0]);
				continue;
			}
			emit_key(e, q->name);
			E(e->ops->map_begin(e));
			emit_str_list(e, "any", q->any, q->n_any, false);
			E(e->ops->map_end(e));
		}
		E(e->ops->map_end(e));
	}
	E(e->ops->map_end(e));
}

static void emit_endpoint(struct osh_emitter *e, const struct osh_endpoint *ep)
{
	E(e->ops->map_begin(e));
	if (ep->host)
		emit_kv_str(e, "host", ep->host);
	emit_key(e, "ports");
	E(e->ops->seq_begin(e, true));
	for (size_t i = 0; i < ep->n_ports; i++)
		E(e->ops->uint(e, ep->ports[i]));
	E(e->ops->seq_end(e));
	if (ep->protocol != OSH_L7_NONE)
		emit_kv_str(e, "protocol", osh_l7_protocol_name(ep->protocol));
	if (ep->tls == OSH_TLS_SKIP)
		emit_kv_str(e, "tls", "skip");
	if (ep->enforcement == OSH_AUDIT)
		emit_kv_str(e, "enforcement", "audit");
	if (ep->access != OSH_ACCESS_NONE)
		emit_kv_str(e, "access", osh_access_name(ep->access));
	if (ep->n_rules) {
		emit_key(e, "rules");
		E(e->ops->seq_begin(e, false));
		for (size_t i = 0; i < ep->n_rules; i++) {
			E(e->ops->map_begin(e));
			emit_key(e, "allow");
			emit_l7(e, &ep->rules[i]);
			E(e->ops->map_end(e));
		}
		E(e->ops->seq_end(e));
	}
	if (ep->n_deny_rules) {
		emit_key(e, "deny_rules");
		E(e->ops->seq_begin(e, false));
		for (size_t i = 0; i < ep->n_deny_rules; i++)
			emit_l7(e, &ep->deny_rules[i]);
		E(e->ops->seq_end(e));
	}
	if (ep->n_allowed_ips) {
		emit_key(e, "allowed_ips");
		E(e->ops->seq_begin(e, false));
		for (size_t i = 0; i < ep->n_allowed_ips; i++) {
			char buf[64];

			osh_cidr_format(&ep->allowed_ips[i], buf, sizeof(buf));
			E(e->ops->str(e, buf));
		}
		E(e->ops->seq_end(e));
	}
	E(e->ops->map_end(e));
}

static void emit_net_rule(struct osh_emitter *e, const struct osh_net_rule *r)
{
	E(e->ops->map_begin(e));
	emit_kv_str(e, "name", r->name);
	emit_key(e, "endpoints");
	E(e->ops->seq_begin(e, false));
	for (size_t i = 0; i < r->n_endpoints; i++)
		emit_endpoint(e, &r->endpoints[i]);
	E(e->ops->seq_end(e));
	emit_key(e, "binaries");
	E(e->ops->seq_begin(e, false));
	for (size_t i = 0; i < r->n_binaries; i++) {
		E(e->ops->map_begin(e));
		emit_kv_str(e, "path", r->binaries[i].path);
		E(e->ops->map_end(e));
	}
	E(e->ops->seq_end(e));
	E(e->ops->map_end(e));
}

static void emit_policy(struct osh_emitter *e, const struct osh_policy *p)
{
	E(e->ops->map_begin(e));
	emit_key(e, "version");
	E(e->ops->uint(e, p->version));
	if (p->filesystem.present) {
		emit_key(e, "filesystem_policy");
		emit_filesystem(e, &p->filesystem);
	}
	emit_key(e, "landlock");
	emit_landlock(e, p->landlock_compat);
	if (p->process.run_as_user.kind != OSH_IDENT_UNSET ||
	    p->process.run_as_group.kind != OSH_IDENT_UNSET) {
		emit_key(e, "process");
		emit_process(e, &p->process);
	}
	if (p->n_net_rules) {
		emit_key(e, "network_policies");
		E(e->ops->map_begin(e));
		for (size_t i = 0; i < p->n_net_rules; i++) {
			emit_key(e, p->net_rules[i].key);
			emit_net_rule(e, &p->net_rules[i]);
		}
		E(e->ops->map_end(e));
	}
	E(e->ops->map_end(e));
}

static int finish(struct osh_emitter *e, char **ret_text)
{
	int r = e->error ? e->error : e->ops->finish(e, ret_text);

	e->ops->free(e);
	return r;
}

int osh_policy_dump(const struct osh_policy *p, enum osh_policy_format fmt, char **ret_text)
{
	struct osh_emitter *e;
	int r = osh_emitter_new(fmt, &e);

	if (r < 0)
		return r;
	emit_policy(e, p);
	return finish(e, ret_text);
}

int osh_dump_section(const struct osh_policy *p, enum osh_section s, char **ret_text)
{
	struct osh_emitter *e;
	int r;

	if (s == OSH_SECTION_FILESYSTEM && !p->filesystem.present) {
		*ret_text = strdup("");
		return *ret_text ? 0 : -ENOMEM;
	}
	r = osh_emitter_new(OSH_POLICY_FORMAT_JSON, &e);
	if (r < 0)
		return r;
	switch (s) {
	case OSH_SECTION_FILESYSTEM:
		emit_filesystem(e, &p->filesystem);
		break;
	case OSH_SECTION_LANDLOCK:
		emit_landlock(e, p->landlock_compat);
		break;
	case OSH_SECTION_PROCESS:
		emit_process(e, &p->process);
		break;
	default:
		e->ops->free(e);
		return -EINVAL;
	}
	return finish(e, ret_text);
}

int osh_dump_net_rule(const struct osh_net_rule *r, char **ret_text)
{
	struct osh_emitter *e;
	int ret = osh_emitter_new(OSH_POLICY_FORMAT_JSON, &e);

	if (ret < 0)
		return ret;
	emit_net_rule(e, r);
	return finish(e, ret_text);
}

int osh_policy_revision(const struct osh_policy *p, char ret_hex[65])
{
	/* nettle rather than libcrypto: every oshctl command that loads a policy links this, and
	 * libcrypto's start-up was a measurable share of a short command's (docs/ARCHITECTURE.md). */
	struct sha256_ctx ctx;
	uint8_t md[SHA256_DIGEST_SIZE];
	char *text = NULL;
	int r = osh_policy_dump(p, OSH_POLICY_FORMAT_JSON, &text);

	if (r < 0)
		return r;
	if (!text)
		return -ENOMEM;
	sha256_init(&ctx);
	sha256_update(&ctx, strlen(text), (const uint8_t *)text);
	sha256_digest(&ctx, sizeof(md), md);
	free(text);
	for (unsigned i = 0; i < sizeof(md); i++)
		snprintf(ret_hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

int osh_policy_fs_path_pos(const struct osh_policy *p, const char *path, struct osh_pos *ret)
{
	const struct osh_fs_policy *fs = &p->filesystem;

	for (size_t i = 0; i < fs->n_pos; i++)
		if (!strcmp(fs->pos[i].path, path)) {
			*ret = fs->pos[i].pos;
			return 0;
		}
	return -ENOENT;
}
