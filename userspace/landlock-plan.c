// SPDX-License-Identifier: Apache-2.0
// Computes the Landlock rules for a filesystem policy (see landlock-plan.h). Landlock can only
// allow, so a deny path D inside an allowed tree T is enforced by granting T's rights to every
// entry on the way from T down to D except the one leading to D; the directories on that way get
// only READ_DIR, which is inherited, so they stay listable.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "landlock-plan.h"

#define ACCESS_ABI1 ((LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1) /* bits 0..12 */

uint64_t osh_landlock_access_all(int abi)
{
	uint64_t a = 0;

	if (abi >= 1)
		a |= ACCESS_ABI1;
	if (abi >= 2)
		a |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		a |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= 5)
		a |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	return a;
}

uint64_t osh_landlock_access_ro(int abi)
{
	return osh_landlock_access_all(abi) &
	       (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE |
		LANDLOCK_ACCESS_FS_READ_DIR);
}

uint64_t osh_landlock_access_file(int abi)
{
	return osh_landlock_access_all(abi) &
	       (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |
		LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE |
		LANDLOCK_ACCESS_FS_IOCTL_DEV);
}

uint64_t osh_landlock_scopes(int abi)
{
	return abi >= 6 ? LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL : 0;
}

bool osh_landlock_path_under(const char *path, const char *root)
{
	size_t n = strlen(root);

	if (n == 1 && root[0] == '/')
		return path[0] == '/';
	return strncmp(path, root, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static int plan_add_rule(struct osh_landlock_plan *p, const char *path, uint64_t access)
{
	if (p->n_rules >= OSH_LANDLOCK_MAX_RULES)
		return -E2BIG;
	if (p->n_rules == p->cap_rules) {
		size_t cap = p->cap_rules ? p->cap_rules * 2 : 32;
		struct osh_landlock_rule *r = realloc(p->rules, cap * sizeof(*r));

		if (!r)
			return -ENOMEM;
		p->rules = r;
		p->cap_rules = cap;
	}
	p->rules[p->n_rules].path = strdup(path);
	if (!p->rules[p->n_rules].path)
		return -ENOMEM;
	p->rules[p->n_rules++].access = access;
	return 0;
}

void osh_landlock_plan_free(struct osh_landlock_plan *plan)
{
	if (!plan)
		return;
	for (size_t i = 0; i < plan->n_rules; i++)
		free(plan->rules[i].path);
	free(plan->rules);
	osh_strv_free(&plan->warnings);
	osh_strv_free(&plan->report);
	memset(plan, 0, sizeof(*plan));
}

/* realpath() of the longest existing prefix, with the missing rest appended: deny paths need
 * not exist, but must be compared with canonical allowed paths. */
static char *canon_partial(const char *path)
{
	char buf[PATH_MAX], *slash, *res, *out = NULL;

	res = realpath(path, NULL);
	if (res || errno != ENOENT)
		return res;
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return NULL;
	slash = strrchr(buf, '/');
	if (!slash || slash == buf) {
		errno = 0;
		return strdup(path);
	}
	*slash = '\0';
	res = canon_partial(buf);
	if (!res)
		return NULL;
	if (asprintf(&out, "%s/%s", strcmp(res, "/") ? res : "", slash + 1) < 0)
		out = NULL;
	free(res);
	return out;
}

/* ---- mounts: other names of a deny path --------------------------------------------------- */

/* One line of /proc/self/mountinfo: where a filesystem (dev) is mounted and which of its
 * directories (root) appears there. */
struct mount_entry {
	unsigned int major, minor;
	char *root;
	char *point;
};

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape_octal(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

static void mounts_free(struct mount_entry *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(m[i].root);
		free(m[i].point);
	}
	free(m);
}

static int mounts_read(const char *path, struct mount_entry **ret, size_t *ret_n)
{
	struct mount_entry *m = NULL;
	size_t n = 0, cap = 0, len = 0;
	char *line = NULL;
	FILE *f = fopen(path, "re");
	int r = 0;

	if (!f)
		return -errno;
	while (getline(&line, &len, f) > 0) {
		/* ID PARENT MAJOR:MINOR ROOT MOUNTPOINT ... (proc(5)) */
		char *save = NULL, *fld[5], *end;
		unsigned long major, minor;
		int k = 0;

		for (char *t = strtok_r(line, " \n", &save); t && k < 5;
		     t = strtok_r(NULL, " \n", &save))
			fld[k++] = t;
		if (k < 5)
			continue;
		errno = 0;
		major = strtoul(fld[2], &end, 10);
		if (errno || *end != ':')
			continue;
		minor = strtoul(end + 1, &end, 10);
		if (errno || *end || major > UINT32_MAX || minor > UINT32_MAX)
			continue;
		if (n == cap) {
			struct mount_entry *g = realloc(m, (cap = cap ? 2 * cap : 64) * sizeof(*m));

			if (!g) {
				r = -ENOMEM;
				break;
			}
			m = g;
		}
		unescape_octal(fld[3]);
		unescape_octal(fld[4]);
		m[n] = (struct mount_entry){ (unsigned int)major, (unsigned int)minor,
					     strdup(fld[3]), strdup(fld[4]) };
		if (!m[n].root || !m[n].point) {
			free(m[n].root);
			free(m[n].point);
			r = -ENOMEM;
			break;
		}
		n++;
	}
	free(line);
	fclose(f);
	if (r < 0) {
		mounts_free(m, n);
		return r;
	}
	*ret = m;
	*ret_n = n;
	return 0;
}

/* a + the part of path below base ("" when equal); a malloc'd canonical path. */
static char *rebase(const char *a, const char *path, const char *base)
{
	const char *rest = path + (strcmp(base, "/") ? strlen(base) : 0);
	char *out;

	if (!*rest)
		return strdup(a);
	if (asprintf(&out, "%s%s", strcmp(a, "/") ? a : "", rest) < 0)
		return NULL;
	return out;
}

/* The other names under which the mount table exposes the canonical path deny: the same
 * directory of the same filesystem mounted elsewhere (a bind mount of it, of an ancestor, or
 * of something inside it). Landlock follows the names a process walks, so each such name is
 * denied like the original. Appended to out, the original excluded. */
static int deny_mount_aliases(const char *deny, const struct mount_entry *m, size_t n,
			      struct osh_strv *out)
{
	const struct mount_entry *home = NULL;
	char *fs_path;
	int r = 0;

	/* The mount the path is reached through: the longest mount point above it, the last
	 * one mounted there when several are stacked. */
	for (size_t i = 0; i < n; i++)
		if (osh_landlock_path_under(deny, m[i].point) &&
		    (!home || strlen(m[i].point) >= strlen(home->point)))
			home = &m[i];
	if (!home)
		return 0;
	fs_path = rebase(home->root, deny, home->point);
	if (!fs_path)
		return -ENOMEM;
	for (size_t i = 0; i < n && r >= 0; i++) {
		char *alias;

		if (&m[i] == home || m[i].major != home->major || m[i].minor != home->minor)
			continue;
		if (osh_landlock_path_under(fs_path, m[i].root))
			alias = rebase(m[i].point, fs_path, m[i].root);
		else if (osh_landlock_path_under(m[i].root, fs_path))
			alias = strdup(m[i].point); /* everything mounted there is inside deny */
		else
			continue;
		if (!alias) {
			r = -ENOMEM;
			break;
		}
		if (strcmp(alias, deny))
			r = osh_strv_push(out, alias);
		free(alias);
	}
	free(fs_path);
	return r;
}

struct deny_state {
	char *path;  /* canonical */
	bool exists; /* lstat succeeded at plan time */
	bool is_dir;
	struct osh_strv listing_only; /* directories on the way to it that got only READ_DIR */
	struct osh_strv trees;	      /* allowed trees that contained it */
};

struct plan_ctx {
	const struct osh_landlock_input *in;
	struct osh_landlock_plan *plan;
	struct osh_sandbox_error *e;
	struct deny_state *denies;
	size_t n_denies;
};

/* A gap: an error with hard_requirement, a warning with best_effort. */
static int plan_gap(struct plan_ctx *c, int err, const char *path, const char *what)
{
	if (c->in->compat == OSH_LANDLOCK_HARD_REQUIREMENT)
		return osh_sandbox_error_set(c->e, err, "landlock", path, "%s%s%s",
					     what ? what : "", what ? ": " : "", strerror(err));
	return osh_strv_pushf(&c->plan->warnings, "landlock: skipping %s: %s%s%s", path,
			      what ? what : "", what ? ": " : "", strerror(err));
}

static int expand_dir(struct plan_ctx *c, const char *dir, uint64_t access, int depth)
{
	DIR *d;
	struct dirent *de;
	int r = 0;

	if (depth > 64)
		return osh_sandbox_error_set(c->e, ELOOP, "landlock", dir,
					     "deny path nested too deep");
	/* The directory itself: listable, nothing else, so nothing can be created or removed in it
	 * and a missing deny path cannot appear. */
	r = plan_add_rule(c->plan, dir, access & LANDLOCK_ACCESS_FS_READ_DIR);
	if (r < 0)
		goto rule_err;
	for (size_t i = 0; i < c->n_denies; i++)
		if (osh_landlock_path_under(c->denies[i].path, dir) &&
		    strcmp(c->denies[i].path, dir))
			if ((r = osh_strv_push(&c->denies[i].listing_only, dir)) < 0)
				return osh_sandbox_error_set(c->e, r, "landlock", dir, NULL);
	d = opendir(dir);
	if (!d)
		return plan_gap(c, errno, dir, "cannot list directory to expand deny paths");
	while ((de = readdir(d))) {
		char child[PATH_MAX];
		bool is_deny = false, is_ancestor = false;
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (snprintf(child, sizeof(child), "%s/%s", strcmp(dir, "/") ? dir : "",
			     de->d_name) >= (int)sizeof(child)) {
			r = plan_gap(c, ENAMETOOLONG, dir, NULL);
			if (r < 0)
				break;
			continue;
		}
		for (size_t i = 0; i < c->n_denies; i++) {
			if (!strcmp(c->denies[i].path, child))
				is_deny = true;
			else if (osh_landlock_path_under(c->denies[i].path, child))
				is_ancestor = true;
		}
		if (is_deny)
			continue;
		/* The type from the listing where the filesystem gives it (a /etc has ~200
		 * entries); lstat where it does not. */
		if (de->d_type != DT_UNKNOWN) {
			st.st_mode = DTTOIF(de->d_type);
		} else if (lstat(child, &st) < 0) {
			if (errno == ENOENT) /* removed while we listed */
				continue;
			r = plan_gap(c, errno, child, NULL);
			if (r < 0)
				break;
			continue;
		}
		/* A rule follows symlinks, so one on a link could grant its target - possibly the
		 * deny path. Skipping it changes nothing else: Landlock checks the resolved path,
		 * so the target was only ever reachable through the rules that cover it. */
		if (S_ISLNK(st.st_mode))
			continue;
		if (is_ancestor && S_ISDIR(st.st_mode))
			r = expand_dir(c, child, access, depth + 1);
		else
			r = plan_add_rule(c->plan, child, access);
		if (r == -E2BIG || r == -ENOMEM) {
			closedir(d);
			goto rule_err;
		}
		if (r < 0)
			break;
	}
	closedir(d);
	return r;
rule_err:
	if (r == -E2BIG)
		return osh_sandbox_error_set(c->e, r, "landlock", dir,
					     "deny expansion needs more than %d rules",
					     OSH_LANDLOCK_MAX_RULES);
	return osh_sandbox_error_set(c->e, r, "landlock", dir, NULL);
}

static int plan_allow(struct plan_ctx *c, const char *path, uint64_t access)
{
	char *canon = realpath(path, NULL);
	bool has_deny_inside = false;
	int r = 0;

	if (!canon)
		return plan_gap(c, errno, path, NULL);
	for (size_t i = 0; i < c->n_denies; i++) {
		if (osh_landlock_path_under(canon, c->denies[i].path)) {
			/* deny wins over an allow inside it */
			r = osh_strv_pushf(
			    &c->plan->report,
			    "deny %s: allowed path %s lies inside it and is not granted",
			    c->denies[i].path, path);
			free(canon);
			return r < 0 ? osh_sandbox_error_set(c->e, r, "landlock", path, NULL) : 0;
		}
		if (osh_landlock_path_under(c->denies[i].path, canon)) {
			has_deny_inside = true;
			r = osh_strv_push(&c->denies[i].trees, canon);
			if (r < 0)
				break;
		}
	}
	if (r < 0)
		r = osh_sandbox_error_set(c->e, r, "landlock", path, NULL);
	else if (!has_deny_inside) {
		r = plan_add_rule(c->plan, canon, access);
		if (r < 0)
			r = osh_sandbox_error_set(c->e, r, "landlock", path, NULL);
	} else
		r = expand_dir(c, canon, access, 0);
	free(canon);
	return r;
}

/* Files directly in a denied directory (or the denied file) that have other names: those names
 * are outside D and stay reachable wherever they are allowed. */
static size_t count_linked(const struct deny_state *ds)
{
	struct stat st;
	struct dirent *de;
	size_t n = 0, seen = 0;
	DIR *d;

	if (!ds->exists)
		return 0;
	if (!ds->is_dir)
		return lstat(ds->path, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink > 1;
	d = opendir(ds->path);
	if (!d)
		return 0;
	while ((de = readdir(d)) && seen++ < 4096)
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode) && st.st_nlink > 1)
			n++;
	closedir(d);
	return n;
}

static int report_deny(struct plan_ctx *c, const struct deny_state *ds)
{
	struct osh_strv *rep = &c->plan->report;
	char dirs[1024] = "";
	size_t linked, len = 0;

	if (ds->trees.n == 0)
		return osh_strv_pushf(
		    rep, "deny %s: not under any allowed path, inaccessible anyway", ds->path);
	for (size_t i = 0; i < ds->listing_only.n && len < sizeof(dirs); i++)
		len += snprintf(dirs + len, sizeof(dirs) - len, "%s%s", i ? ", " : "",
				ds->listing_only.v[i]);
	if (!ds->exists)
		return osh_strv_pushf(
		    rep,
		    "deny %s: does not exist; Landlock keeps it from being created "
		    "(only listing is allowed in %s)",
		    ds->path, dirs);
	if (osh_strv_pushf(rep,
			   "deny %s: enforced by Landlock: its siblings under %s are granted one "
			   "by one instead of %s",
			   ds->path, ds->trees.v[0], ds->trees.v[0]) < 0 ||
	    osh_strv_pushf(
		rep,
		"deny %s: not covered: in %s the sandbox can list entries but cannot "
		"create, remove or rename any, and entries created there after the start "
		"are inaccessible to it",
		ds->path, dirs) < 0)
		return -ENOMEM;
	if (ds->is_dir &&
	    osh_strv_pushf(rep,
			   "deny %s: not covered: the names of entries inside it can be listed "
			   "(READ_DIR is inherited from %s); their contents cannot be read",
			   ds->path,
			   ds->listing_only.n ? ds->listing_only.v[ds->listing_only.n - 1]
					      : ds->trees.v[0]) < 0)
		return -ENOMEM;
	linked = count_linked(ds);
	if (linked &&
	    osh_strv_pushf(rep,
			   "deny %s: not covered: %zu file(s) in it have other hard links, which "
			   "stay accessible where allowed",
			   ds->path, linked) < 0)
		return -ENOMEM;
	return 0;
}

/* The deny paths of the policy and every other name the mount table gives them. */
static int deny_list(const struct osh_landlock_input *in, struct osh_strv *out,
		     struct osh_landlock_plan *plan, struct osh_sandbox_error *e)
{
	const char *mi = in->mountinfo ? in->mountinfo : "/proc/self/mountinfo";
	struct mount_entry *m = NULL;
	size_t n = 0;
	int r;

	if ((r = osh_strv_extend(out, in->deny)) < 0)
		return osh_sandbox_error_set(e, r, "landlock", NULL, NULL);
	r = mounts_read(mi, &m, &n);
	if (r < 0) {
		if (r == -ENOMEM)
			return osh_sandbox_error_set(e, r, "landlock", mi, NULL);
		if (in->compat == OSH_LANDLOCK_HARD_REQUIREMENT)
			return osh_sandbox_error_set(e, r, "landlock", mi,
						     "cannot read the mount table to find other "
						     "names of deny paths");
		r = osh_strv_pushf(&plan->warnings,
				   "landlock: %s: %s: deny paths are not looked up under other "
				   "mounts",
				   mi, strerror(-r));
		return r < 0 ? osh_sandbox_error_set(e, r, "landlock", NULL, NULL) : 0;
	}
	for (size_t i = 0; i < in->deny->n && r >= 0; i++) {
		struct osh_strv aliases = { 0 };
		char *canon = canon_partial(in->deny->v[i]);

		if (!canon) {
			r = -ENOMEM;
			break;
		}
		r = deny_mount_aliases(canon, m, n, &aliases);
		for (size_t j = 0; r >= 0 && j < aliases.n; j++) {
			r = osh_strv_push(out, aliases.v[j]);
			if (r >= 0)
				r = osh_strv_pushf(&plan->report,
						   "deny %s: also reachable as %s (the same "
						   "directory mounted there): denied there too",
						   canon, aliases.v[j]);
		}
		osh_strv_free(&aliases);
		free(canon);
	}
	mounts_free(m, n);
	return r < 0 ? osh_sandbox_error_set(e, r, "landlock", NULL, NULL) : 0;
}

int osh_landlock_plan_build(const struct osh_landlock_input *in, struct osh_landlock_plan *ret,
			    struct osh_sandbox_error *e)
{
	struct osh_strv denies = { 0 };
	struct osh_landlock_plan plan = { .abi = in->abi };
	struct plan_ctx c = { .in = in, .plan = &plan, .e = e };
	uint64_t ro = osh_landlock_access_ro(in->abi), rw = osh_landlock_access_all(in->abi);
	int r = 0;

	memset(ret, 0, sizeof(*ret));
	if (in->abi <= 0) {
		if (in->compat == OSH_LANDLOCK_HARD_REQUIREMENT)
			return osh_sandbox_error_set(e, EOPNOTSUPP, "landlock", NULL,
						     "the kernel does not offer Landlock and the "
						     "policy sets hard_requirement");
		r = osh_strv_push(
		    &plan.warnings,
		    "landlock: unavailable on this kernel: filesystem policy NOT enforced");
		if (r < 0)
			return osh_sandbox_error_set(e, r, "landlock", NULL, NULL);
		*ret = plan;
		return 0;
	}
	if (in->abi < OSH_LANDLOCK_ABI_REQUIRED) {
		if (in->compat == OSH_LANDLOCK_HARD_REQUIREMENT)
			return osh_sandbox_error_set(
			    e, EOPNOTSUPP, "landlock", NULL,
			    "kernel offers ABI %d, hard_requirement needs "
			    "ABI %d (truncate control for read_only paths)",
			    in->abi, OSH_LANDLOCK_ABI_REQUIRED);
		r = osh_strv_pushf(&plan.warnings,
				   "landlock: kernel offers ABI %d < %d: files in read_only paths "
				   "can still be truncated",
				   in->abi, OSH_LANDLOCK_ABI_REQUIRED);
		if (r < 0)
			goto oom;
	}
	plan.handled = rw;
	plan.scoped = osh_landlock_scopes(in->abi);

	if (in->deny && in->deny->n) {
		r = deny_list(in, &denies, &plan, e);
		if (r < 0)
			goto out;
		c.denies = calloc(denies.n, sizeof(*c.denies));
		if (!c.denies)
			goto oom;
		for (size_t i = 0; i < denies.n; i++) {
			struct deny_state *ds = &c.denies[c.n_denies];
			struct stat st;

			ds->path = canon_partial(denies.v[i]);
			if (!ds->path) {
				r = osh_sandbox_error_set(e, errno ? errno : ENOMEM, "landlock",
							  denies.v[i], NULL);
				goto out;
			}
			/* /proc and /sys change under a running sandbox (new pids): their entries
			 * cannot be granted one by one at start. */
			if (osh_landlock_path_under(ds->path, "/proc") ||
			    osh_landlock_path_under(ds->path, "/sys")) {
				r = plan_gap(&c, EOPNOTSUPP, denies.v[i],
					     "deny inside /proc or /sys needs BPF LSM");
				free(ds->path);
				ds->path = NULL;
				if (r < 0)
					goto out;
				continue;
			}
			ds->exists = lstat(ds->path, &st) == 0;
			ds->is_dir = ds->exists && S_ISDIR(st.st_mode);
			c.n_denies++;
		}
	}

	for (size_t i = 0; in->read_only && i < in->read_only->n && r >= 0; i++)
		r = plan_allow(&c, in->read_only->v[i], ro);
	for (size_t i = 0; in->read_write && i < in->read_write->n && r >= 0; i++)
		r = plan_allow(&c, in->read_write->v[i], rw);
	if (in->workdir && r >= 0) {
		char *wd = realpath(in->workdir, NULL);

		/* include_workdir run from / would make the whole filesystem writable, which a
		 * policy cannot even write (read_write: / is rejected). */
		if (wd && !strcmp(wd, "/"))
			r = plan_gap(&c, EINVAL, in->workdir, "the workdir / cannot be read-write");
		else
			r = plan_allow(&c, in->workdir, rw);
		free(wd);
	}
	if (r < 0)
		goto out;
	if (c.n_denies && plan.n_rules == 0 &&
	    osh_strv_push(&plan.report, "landlock: no path is allowed at all") < 0)
		goto oom;
	for (size_t i = 0; i < c.n_denies; i++)
		if ((r = report_deny(&c, &c.denies[i])) < 0) {
			r = osh_sandbox_error_set(e, r, "landlock", c.denies[i].path, NULL);
			goto out;
		}
	*ret = plan;
	memset(&plan, 0, sizeof(plan));
	r = 0;
	goto out;
oom:
	r = osh_sandbox_error_set(e, ENOMEM, "landlock", NULL, NULL);
out:
	for (size_t i = 0; i < c.n_denies; i++) {
		free(c.denies[i].path);
		osh_strv_free(&c.denies[i].listing_only);
		osh_strv_free(&c.denies[i].trees);
	}
	free(c.denies);
	osh_strv_free(&denies);
	osh_landlock_plan_free(&plan);
	return r;
}
