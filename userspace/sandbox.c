// SPDX-License-Identifier: Apache-2.0
// The sandbox engine (see sandbox.h): ties cgroup.c, landlock*.c, seccomp-filter.c and spawn.c
// together in the start-up order described in docs/arch-sandbox.md.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bpf-egress.h"
#include "bpf-fs.h"
#include "cgroup.h"
#include "landlock.h"
#include "sandbox-spawn.h"
#include "sandbox.h"
#include "seccomp-filter.h"

#define SANDBOX_USER "sandbox"
/* Depth of <cgroup2 root>/osh/<name>: the ancestor level BPF programs resolve a task's sandbox
 * at. Assumes osh sees the whole hierarchy (no cgroup namespace). */
#define SANDBOX_CGROUP_LEVEL 2

struct osh_sandbox {
	char *name;
	char *workdir;
	struct osh_cgroup *cg;
	unsigned int mechanisms;
	int landlock_abi;
	uint64_t landlock_scoped;
	int landlock_fd;
	/* What the ruleset was built from (cfg->keep_basis), for osh_sandbox_current(). */
	struct osh_landlock_plan ll_plan;
	struct osh_landlock_ident *ll_ids; /* one per ll_plan rule; NULL: not kept */
	struct osh_seccomp_prog seccomp;
	bool set_ids;
	uid_t uid;
	gid_t gid;
	char *bpf_lsm_reason;
	struct osh_bpf_fs *bpf_fs; /* the process's BPF LSM programs (one reference), or NULL */
	bool bpf_fs_added; /* rules (and record, with a root) of cgroup bpf_fs_id are ours */
	uint64_t bpf_fs_id;
	struct osh_sandbox_net *net; /* egress programs and DNS responder */
	const char *bpffs_root;	     /* cfg's, borrowed: NULL or where the kernel state is pinned */
	struct osh_strv warnings;
	struct osh_strv report;
	pid_t pid;
	int pidfd;
};

/* Used when a policy has no filesystem_policy: what a typical agent needs to run tools from
 * the system, and its working directory read-write. Missing paths are skipped (best_effort). */
static const char *const default_read_only[] = {
	"/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc", "/proc", "/dev/urandom", "/dev/random",
};
static const char *const default_read_write[] = {
	"/tmp", "/dev/null", "/dev/zero", "/dev/tty", "/dev/pts", "/dev/shm",
};

void osh_sandbox_config_init(struct osh_sandbox_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->landlock_compat = OSH_LANDLOCK_BEST_EFFORT;
}

void osh_sandbox_config_free(struct osh_sandbox_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->name);
	free(cfg->workdir);
	osh_strv_free(&cfg->read_only);
	osh_strv_free(&cfg->read_write);
	osh_strv_free(&cfg->deny);
	osh_policy_free(cfg->net_policy);
	osh_sandbox_config_init(cfg);
}

static int strv_from_array(struct osh_strv *sv, const char *const *a, size_t n)
{
	osh_strv_free(sv);
	for (size_t i = 0; i < n; i++) {
		int r = osh_strv_push(sv, a[i]);

		if (r < 0)
			return r;
	}
	return 0;
}

int osh_sandbox_config_from_policy(const struct osh_policy *p, struct osh_sandbox_config *cfg,
				   struct osh_sandbox_error *e)
{
	const struct osh_fs_policy *fs = &p->filesystem;
	int r;

	cfg->fs_present = fs->present;
	cfg->include_workdir = fs->include_workdir;
	if ((r = strv_from_array(&cfg->read_only, fs->read_only, fs->n_read_only)) < 0 ||
	    (r = strv_from_array(&cfg->read_write, fs->read_write, fs->n_read_write)) < 0 ||
	    (r = strv_from_array(&cfg->deny, fs->deny, fs->n_deny)) < 0)
		return osh_sandbox_error_set(e, r, "policy", p->source, NULL);
	cfg->landlock_compat = p->landlock_compat;
	cfg->run_as_user = p->process.run_as_user;
	cfg->run_as_group = p->process.run_as_group;
	osh_policy_free(cfg->net_policy);
	cfg->net_policy = NULL;
	if ((r = osh_sandbox_net_policy_copy(p, &cfg->net_policy)) < 0)
		return osh_sandbox_error_set(e, r, "policy", p->source, NULL);
	return 0;
}

/* Runs a shadow-utils command (useradd/groupadd) and waits for it. */
static int run_tool(char *const argv[])
{
	pid_t pid;
	int status;
	int r = posix_spawn(&pid, argv[0], NULL, NULL, argv, (char *[]){ NULL });

	if (r)
		return -r;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

/* The dedicated unprivileged user, created the first time a policy asks for it. */
static int sandbox_user_lookup(uid_t *ret_uid, gid_t *ret_gid, struct osh_sandbox_error *e)
{
	struct passwd *pw = getpwnam(SANDBOX_USER);

	if (!pw) {
		char *const argv[] = { "/usr/sbin/useradd", "--system", "--no-create-home",
				       "--user-group",	    "--shell",	"/usr/sbin/nologin",
				       SANDBOX_USER,	    NULL };

		if (run_tool(argv) < 0 || !(pw = getpwnam(SANDBOX_USER)))
			return osh_sandbox_error_set(
			    e, ENOENT, "identity", SANDBOX_USER,
			    "user does not exist and could not be created; create it with "
			    "`useradd --system --no-create-home --user-group --shell "
			    "/usr/sbin/nologin sandbox`");
	}
	*ret_uid = pw->pw_uid;
	*ret_gid = pw->pw_gid;
	return 0;
}

static int sandbox_group_lookup(gid_t *ret_gid, struct osh_sandbox_error *e)
{
	struct group *gr = getgrnam(SANDBOX_USER);

	if (!gr) {
		char *const argv[] = { "/usr/sbin/groupadd", "--system", SANDBOX_USER, NULL };

		if (run_tool(argv) < 0 || !(gr = getgrnam(SANDBOX_USER)))
			return osh_sandbox_error_set(e, ENOENT, "identity", SANDBOX_USER,
						     "group does not exist and could not be "
						     "created; create it with `groupadd --system "
						     "sandbox`");
	}
	*ret_gid = gr->gr_gid;
	return 0;
}

static int identity_resolve(const struct osh_sandbox_config *cfg, struct osh_sandbox *sb,
			    struct osh_sandbox_error *e)
{
	uid_t uid = getuid();
	gid_t gid = getgid(), user_gid = gid;
	int r;

	if (cfg->run_as_user.kind == OSH_IDENT_UNSET && cfg->run_as_group.kind == OSH_IDENT_UNSET)
		return 0;
	if (cfg->run_as_user.kind == OSH_IDENT_SANDBOX) {
		if ((r = sandbox_user_lookup(&uid, &user_gid, e)) < 0)
			return r;
	} else if (cfg->run_as_user.kind == OSH_IDENT_ID) {
		struct passwd *pw = getpwuid(cfg->run_as_user.id);

		uid = cfg->run_as_user.id;
		/* a numeric uid without a passwd entry gets the same number as its group */
		user_gid = pw ? pw->pw_gid : (gid_t)uid;
	}
	if (cfg->run_as_group.kind == OSH_IDENT_SANDBOX) {
		if ((r = sandbox_group_lookup(&gid, e)) < 0)
			return r;
	} else if (cfg->run_as_group.kind == OSH_IDENT_ID) {
		gid = cfg->run_as_group.id;
	} else {
		gid = user_gid;
	}
	if (uid == 0 && cfg->run_as_user.kind != OSH_IDENT_UNSET)
		return osh_sandbox_error_set(e, EINVAL, "identity", NULL,
					     "refusing to run as uid 0");
	sb->set_ids = true;
	sb->uid = uid;
	sb->gid = gid;
	return 0;
}

/* Why BPF LSM cannot be used here, or NULL when bpf is an active LSM. */
static char *bpf_lsm_reason(void)
{
	char buf[256] = "";
	int fd = open("/sys/kernel/security/lsm", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	const char *why;

	if (fd >= 0)
		close(fd);
	if (n < 0)
		/* The LSM list is unknown; a kernel that refuses the programs names the cause. */
		why = osh_bpf_fs_refused() < 0
			  ? "the kernel refuses BPF LSM programs (EPERM)"
			  : "securityfs not mounted, LSM list unknown (see oshctl doctor)";
	else {
		buf[n] = '\0';
		if (!strstr(buf, "bpf"))
			why = "bpf is not in the kernel's active LSMs (boot with lsm=...,bpf)";
		else
			return NULL;
	}
	return strdup(why);
}

/* The BPF LSM programs serve every sandbox of the process (their state is keyed by cgroup id):
 * loaded, or with a bpffs root taken from its pins, by the first sandbox that uses them, freed
 * after the last one (and with a root unpinned when no sandbox of any process is left). */
static struct {
	pthread_mutex_t lock;
	struct osh_bpf_fs *fs;
	unsigned int refs;
} FS = { .lock = PTHREAD_MUTEX_INITIALIZER };

static bool root_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static int bpf_fs_ref(const char *root, struct osh_bpf_fs **ret, char **ret_reason)
{
	int r = 0;

	pthread_mutex_lock(&FS.lock);
	if (FS.refs && !root_eq(osh_bpf_fs_root(FS.fs), root))
		r = -EXDEV;
	else if (!FS.refs)
		r = osh_bpf_fs_open_root(SANDBOX_CGROUP_LEVEL, root, &FS.fs, ret_reason);
	if (r == 0) {
		FS.refs++;
		*ret = FS.fs;
	}
	pthread_mutex_unlock(&FS.lock);
	return r;
}

static void bpf_fs_unref(void)
{
	pthread_mutex_lock(&FS.lock);
	/* The event thread never takes FS.lock: freeing (which joins it) is safe under it. */
	if (FS.refs && !--FS.refs) {
		(void)osh_bpf_fs_unpin_if_unused(FS.fs);
		osh_bpf_fs_free(FS.fs);
		FS.fs = NULL;
	}
	pthread_mutex_unlock(&FS.lock);
}

/* What osh_sandbox_programs_hold took, for osh_sandbox_programs_unhold. */
static struct {
	bool net, fs;
} HOLD;

int osh_sandbox_programs_hold(const char *bpffs_root, bool bpf_lsm, struct osh_strv *warnings,
			      struct osh_sandbox_error *e)
{
	struct osh_bpf_fs *fs;
	char *why = NULL;
	int r;

	if (HOLD.net)
		return osh_sandbox_error_set(e, EALREADY, "egress", bpffs_root, "already held");
	r = osh_sandbox_net_hold(SANDBOX_CGROUP_LEVEL, bpffs_root);
	if (r < 0)
		return osh_sandbox_error_set(e, -r, "egress: loading the BPF programs", bpffs_root,
					     r == -ESTALE ? "pinned by another build of osh"
							  : NULL);
	HOLD.net = true;
	if (!bpf_lsm || (why = bpf_lsm_reason()) != NULL) {
		free(why);
		return 0;
	}
	r = bpf_fs_ref(bpffs_root, &fs, &why);
	if (r == 0)
		HOLD.fs = true;
	else if (warnings)
		/* Sandboxes will try again and report the reason each; start-up goes on. */
		(void)osh_strv_pushf(warnings, "bpf-lsm: programs not loaded: %s",
				     why ? why : strerror(-r));
	free(why);
	return 0;
}

void osh_sandbox_programs_unhold(void)
{
	if (HOLD.fs)
		bpf_fs_unref();
	if (HOLD.net)
		osh_sandbox_net_unhold();
	HOLD.fs = HOLD.net = false;
}

static int bpf_lsm_error(struct osh_sandbox_error *e, int r, const struct osh_sandbox_config *cfg,
			 const char *reason)
{
	if (r == -ESTALE)
		return osh_sandbox_error_set(
		    e, ESTALE, "bpf-lsm", cfg->bpffs_root,
		    "pinned by another build of osh: stop every osh process using it, destroy its "
		    "sandboxes (or `rm -r %s`, which ends their enforcement) and start again",
		    cfg->bpffs_root);
	if (r == -EXDEV)
		return osh_sandbox_error_set(e, EXDEV, "bpf-lsm",
					     cfg->bpffs_root ? cfg->bpffs_root : "(none)",
					     "this process already uses another bpffs root");
	return osh_sandbox_error_set(e, -r, "bpf-lsm", cfg->bpffs_root, "%s",
				     reason ? reason : "the programs did not load");
}

/* Takes the BPF LSM programs when the kernel runs them: bpf must be an active LSM (a kernel
 * without it accepts the programs but never calls them) and the load must succeed; otherwise
 * the sandbox has Landlock alone and bpf_lsm_reason says why. A sandbox keeps what it was
 * created with: adopting one that has no BPF LSM record under the root does not add it (its
 * processes run with Landlock's deny carve-out), and one that has a record must get the
 * programs back (-errno otherwise). Pins of another build, or another root in this process,
 * fail the call. */
static int bpf_lsm_open(const struct osh_sandbox_config *cfg, struct osh_sandbox *sb, bool adopt,
			struct osh_sandbox_error *e)
{
	char *reason = NULL;
	int r;

	sb->bpf_lsm_reason = bpf_lsm_reason();
	if (adopt) {
		r = osh_bpf_fs_pinned(cfg->bpffs_root, sb->name);
		if (r < 0)
			return osh_sandbox_error_set(e, -r, "bpf-lsm", cfg->bpffs_root, NULL);
		if (r == 0) {
			free(sb->bpf_lsm_reason);
			sb->bpf_lsm_reason = strdup("not used: the sandbox was created without it");
			return 0;
		}
	} else if (cfg->no_bpf_lsm) {
		free(sb->bpf_lsm_reason);
		sb->bpf_lsm_reason = strdup("off (no_bpf_lsm)");
		return 0;
	} else if (sb->bpf_lsm_reason) {
		return 0;
	}
	r = bpf_fs_ref(cfg->bpffs_root, &sb->bpf_fs, &reason);
	if (r < 0 && (adopt || r == -ESTALE || r == -EXDEV)) {
		bpf_lsm_error(e, r, cfg, reason);
		free(reason);
		return r;
	}
	if (r < 0) {
		free(sb->bpf_lsm_reason);
		sb->bpf_lsm_reason = reason ? reason : strdup("the programs did not load");
		return 0;
	}
	free(reason);
	free(sb->bpf_lsm_reason);
	sb->bpf_lsm_reason = NULL;
	return 0;
}

/* Drops the sandbox's BPF LSM state (remove: also its rules and record, else only its event
 * receiver; without a root its rules go either way, as they would with the process) and the
 * reference on the programs. */
static void bpf_lsm_close(struct osh_sandbox *sb, bool remove)
{
	if (!sb->bpf_fs)
		return;
	if (sb->bpf_fs_added && (remove || !sb->bpffs_root))
		(void)osh_bpf_fs_sandbox_remove(sb->bpf_fs, sb->name, sb->bpf_fs_id);
	else if (sb->bpf_fs_added)
		(void)osh_bpf_fs_sandbox_events(sb->bpf_fs, sb->bpf_fs_id, NULL, NULL);
	sb->bpf_fs = NULL;
	bpf_fs_unref();
}

static int bpf_rules_push(struct osh_bpf_fs_rule **v, size_t *n, const char *path, uint32_t access,
			  uint16_t kind)
{
	struct osh_bpf_fs_rule *nv = realloc(*v, (*n + 1) * sizeof(**v));

	if (!nv)
		return -ENOMEM;
	nv[*n] = (struct osh_bpf_fs_rule){ path, { access, kind, (uint16_t)*n } };
	*v = nv;
	(*n)++;
	return 0;
}

/* The sandbox's filesystem rules as the BPF programs read them, from the same inputs as the
 * Landlock plan (the runner's defaults when the policy has no filesystem_policy). */
static int bpf_lsm_rules_install(const struct osh_sandbox_config *cfg, struct osh_sandbox *sb,
				 struct osh_sandbox_error *e)
{
	struct osh_bpf_fs_rule *v = NULL;
	size_t n = 0, i;
	int r = 0;

	if (!cfg->fs_present) {
		for (i = 0; r == 0 && i < sizeof(default_read_only) / sizeof(*default_read_only);
		     i++)
			r = bpf_rules_push(&v, &n, default_read_only[i], OSH_FS_READ,
					   OSH_FS_RULE_READ_ONLY);
		for (i = 0; r == 0 && i < sizeof(default_read_write) / sizeof(*default_read_write);
		     i++)
			r = bpf_rules_push(&v, &n, default_read_write[i],
					   OSH_FS_READ | OSH_FS_WRITE, OSH_FS_RULE_READ_WRITE);
	} else {
		for (i = 0; r == 0 && i < cfg->read_only.n; i++)
			r = bpf_rules_push(&v, &n, cfg->read_only.v[i], OSH_FS_READ,
					   OSH_FS_RULE_READ_ONLY);
		for (i = 0; r == 0 && i < cfg->read_write.n; i++)
			r = bpf_rules_push(&v, &n, cfg->read_write.v[i], OSH_FS_READ | OSH_FS_WRITE,
					   OSH_FS_RULE_READ_WRITE);
		for (i = 0; r == 0 && i < cfg->deny.n; i++)
			r = bpf_rules_push(&v, &n, cfg->deny.v[i], OSH_FS_DENY, OSH_FS_RULE_DENY);
	}
	if (r == 0 && (!cfg->fs_present || cfg->include_workdir) && strcmp(sb->workdir, "/"))
		r = bpf_rules_push(&v, &n, sb->workdir, OSH_FS_READ | OSH_FS_WRITE,
				   OSH_FS_RULE_WORKDIR);
	if (r < 0)
		r = osh_sandbox_error_set(e, r, "bpf-lsm", NULL, NULL);
	else
		/* Missing paths: Landlock's plan has warned (best_effort) or refused already. */
		r = osh_bpf_fs_rules_set(sb->bpf_fs, sb->cg->id, v, n,
					 cfg->landlock_compat == OSH_LANDLOCK_HARD_REQUIREMENT,
					 NULL, e);
	free(v);
	return r;
}

/* The sandbox's BPF LSM state once its cgroup exists: the record under the root (created, or
 * checked when adopting: -ENOENT when it names another cgroup), the rules from cfg (adopting:
 * replacing the pinned ones in one update, which kept enforcing until then) and the event
 * receiver. */
static int bpf_lsm_start(const struct osh_sandbox_config *cfg, struct osh_sandbox *sb, bool adopt,
			 struct osh_sandbox_error *e)
{
	int r;

	r = adopt ? osh_bpf_fs_sandbox_adopt(sb->bpf_fs, sb->name, sb->cg->id)
		  : osh_bpf_fs_sandbox_add(sb->bpf_fs, sb->name, sb->cg->id);
	if (r < 0)
		return osh_sandbox_error_set(e, -r, "bpf-lsm", adopt ? sb->name : cfg->bpffs_root,
					     r == -ENOENT && adopt
						 ? "its pinned BPF LSM state is gone"
						 : "recording the sandbox");
	sb->bpf_fs_added = true;
	sb->bpf_fs_id = sb->cg->id;
	if ((r = bpf_lsm_rules_install(cfg, sb, e)) < 0)
		return r;
	if (cfg->fs_event_fn &&
	    (r = osh_bpf_fs_sandbox_events(sb->bpf_fs, sb->cg->id, cfg->fs_event_fn,
					   cfg->fs_event_ctx)) < 0)
		return osh_sandbox_error_set(e, -r, "bpf-lsm", NULL, "starting the event reader");
	sb->mechanisms |= OSH_MECH_BPF_LSM;
	return 0;
}

int osh_sandbox_fs_reload(struct osh_sandbox *sb, const struct osh_policy_image *img,
			  struct osh_sandbox_error *e)
{
	struct osh_bpf_fs_rule *v;
	size_t n = 0;
	int r;

	if (!sb->bpf_fs || !sb->cg)
		return osh_sandbox_error_set(e, EOPNOTSUPP, "bpf-lsm", sb->name,
					     "filesystem rules can be reloaded only with BPF LSM");
	v = calloc(img->n_fs + 1, sizeof(*v));
	if (!v)
		return osh_sandbox_error_set(e, ENOMEM, "bpf-lsm", NULL, NULL);
	for (size_t i = 0; i < img->n_fs; i++)
		v[n++] = (struct osh_bpf_fs_rule){ img->fs[i].path, img->fs[i].value };
	if (img->include_workdir && strcmp(sb->workdir, "/")) {
		v[n] = (struct osh_bpf_fs_rule){ sb->workdir,
						 { OSH_FS_READ | OSH_FS_WRITE, OSH_FS_RULE_WORKDIR,
						   (uint16_t)n } };
		n++;
	}
	r = osh_bpf_fs_rules_set(sb->bpf_fs, sb->cg->id, v, n,
				 img->landlock_compat == OSH_LANDLOCK_HARD_REQUIREMENT,
				 &sb->warnings, e);
	free(v);
	return r;
}

/* The Landlock part of a sandbox: the plan and the ruleset (~1.6 ms of the ~4.7 ms a sandbox of
 * the default policy takes to create, for its ~170 rules). osh_sandbox_create builds it on a
 * thread of its own while the cgroup and the network programs are set up: it reads only cfg
 * and what is given here, and writes only its own fields. */
struct landlock_job {
	const struct osh_sandbox_config *cfg;
	const char *workdir;
	bool bpf_fs;
	pthread_t thread;
	bool threaded;
	/* out */
	int r;
	int fd, abi;
	uint64_t scoped;
	struct osh_strv warnings, report;
	struct osh_landlock_plan plan;	/* kept with cfg->keep_basis */
	struct osh_landlock_ident *ids; /* likewise */
	struct osh_sandbox_error e;
};

/* The plan for cfg's filesystem rules in a sandbox working in workdir, for a Landlock ABI
 * (with BPF LSM the deny paths are exact there, and Landlock grants the whole allowed trees
 * instead of carving them, which would freeze their listing). */
static int landlock_plan_for(const struct osh_sandbox_config *cfg, const char *workdir, bool bpf_fs,
			     int abi, struct osh_landlock_plan *plan, struct osh_sandbox_error *e)
{
	struct osh_strv def_ro = { 0 }, def_rw = { 0 }, no_deny = { 0 };
	struct osh_landlock_input in = {
		.read_only = &cfg->read_only,
		.read_write = &cfg->read_write,
		.deny = bpf_fs ? &no_deny : &cfg->deny,
		.workdir = cfg->include_workdir ? workdir : NULL,
		.compat = cfg->landlock_compat,
		.abi = abi,
	};
	int r;

	if (!cfg->fs_present) {
		if ((r = strv_from_array(&def_ro, default_read_only,
					 sizeof(default_read_only) / sizeof(*default_read_only))) <
			0 ||
		    (r = strv_from_array(&def_rw, default_read_write,
					 sizeof(default_read_write) /
					     sizeof(*default_read_write))) < 0) {
			r = osh_sandbox_error_set(e, r, "landlock", NULL, NULL);
			goto out;
		}
		in.read_only = &def_ro;
		in.read_write = &def_rw;
		in.workdir = workdir;
	}
	r = osh_landlock_plan_build(&in, plan, e);
out:
	osh_strv_free(&def_ro);
	osh_strv_free(&def_rw);
	return r;
}

static void *landlock_build(void *arg)
{
	struct landlock_job *j = arg;
	const struct osh_sandbox_config *cfg = j->cfg;
	struct osh_landlock_plan plan = { 0 };
	int r;

	j->abi = osh_landlock_abi();
	r = landlock_plan_for(cfg, j->workdir, j->bpf_fs, j->abi, &plan, &j->e);
	if (r < 0)
		goto out;
	if ((r = osh_strv_extend(&j->warnings, &plan.warnings)) < 0 ||
	    (r = osh_strv_extend(&j->report, &plan.report)) < 0 ||
	    (cfg->keep_basis && !(j->ids = calloc(plan.n_rules + 1, sizeof(*j->ids))))) {
		r = osh_sandbox_error_set(&j->e, r < 0 ? r : -ENOMEM, "landlock", NULL, NULL);
		osh_landlock_plan_free(&plan);
		goto out;
	}
	j->scoped = plan.scoped;
	r = osh_landlock_ruleset_create(&plan, cfg->landlock_compat, &j->warnings, j->ids, &j->fd,
					&j->e);
	if (cfg->keep_basis && r >= 0)
		j->plan = plan;
	else
		osh_landlock_plan_free(&plan);
out:
	if (r >= 0 && j->bpf_fs)
		for (size_t i = 0; i < cfg->deny.n && r >= 0; i++)
			r = osh_strv_pushf(
			    &j->report,
			    "deny %s: exact (bpf-lsm: every access through any name, "
			    "also to entries created later)",
			    cfg->deny.v[i]);
	j->r = r;
	return NULL;
}

/* Starts the job for sb: on a thread when asked (in line when none can be made). */
static void landlock_start(struct landlock_job *j, const struct osh_sandbox_config *cfg,
			   const struct osh_sandbox *sb, bool thread)
{
	*j = (struct landlock_job){
		.cfg = cfg, .workdir = sb->workdir, .bpf_fs = sb->bpf_fs, .fd = -1
	};
	j->threaded = thread && pthread_create(&j->thread, NULL, landlock_build, j) == 0;
	if (!j->threaded)
		landlock_build(j);
}

/* Waits for the job and hands its result to sb: its warnings and report lines go before those
 * that sb gained since the job started (at_warnings, at_report), where a build in line would
 * have put them. Returns the job's error (e filled), or 0. */
static int landlock_finish(struct landlock_job *j, struct osh_sandbox *sb, size_t at_warnings,
			   size_t at_report, struct osh_sandbox_error *e)
{
	int r;

	if (j->threaded)
		pthread_join(j->thread, NULL);
	j->threaded = false;
	r = j->r;
	if (r < 0) {
		if (e)
			*e = j->e;
	} else if ((r = osh_strv_insert_take(&sb->warnings, at_warnings, &j->warnings)) < 0 ||
		   (r = osh_strv_insert_take(&sb->report, at_report, &j->report)) < 0) {
		r = osh_sandbox_error_set(e, r, "landlock", NULL, NULL);
	} else {
		sb->landlock_abi = j->abi;
		sb->landlock_scoped = j->scoped;
		sb->landlock_fd = j->fd;
		j->fd = -1;
		sb->ll_plan = j->plan;
		sb->ll_ids = j->ids;
		memset(&j->plan, 0, sizeof(j->plan));
		j->ids = NULL;
		if (sb->landlock_fd >= 0)
			sb->mechanisms |= OSH_MECH_LANDLOCK;
	}
	if (j->fd >= 0)
		close(j->fd);
	osh_landlock_plan_free(&j->plan);
	free(j->ids);
	osh_strv_free(&j->warnings);
	osh_strv_free(&j->report);
	return r;
}

/* Everything of a sandbox that lives in this process and can be rebuilt from cfg, but the
 * Landlock part (landlock_start/landlock_finish) and seccomp: name, workdir, identity, BPF LSM
 * objects. */
static int sandbox_identity(const struct osh_sandbox_config *cfg, struct osh_sandbox *sb,
			    bool adopt, struct osh_sandbox_error *e)
{
	char cwd[PATH_MAX];
	int r;

	if (cfg->name)
		sb->name = strdup(cfg->name);
	else if (asprintf(&sb->name, "osh-run-%d", (int)getpid()) < 0)
		sb->name = NULL;
	if (!sb->name)
		return osh_sandbox_error_set(e, ENOMEM, "sandbox", NULL, NULL);
	if (osh_cgroup_name_check(sb->name) < 0)
		return osh_sandbox_error_set(e, EINVAL, "sandbox", sb->name,
					     "invalid name (1-%d of A-Z a-z 0-9 _ . -)",
					     OSH_CGROUP_NAME_MAX);
	if (cfg->workdir)
		sb->workdir = realpath(cfg->workdir, NULL);
	else if (getcwd(cwd, sizeof(cwd)))
		sb->workdir = strdup(cwd);
	if (!sb->workdir)
		return osh_sandbox_error_set(e, errno ? errno : ENOMEM, "workdir",
					     cfg->workdir ? cfg->workdir : ".", NULL);
	if ((r = identity_resolve(cfg, sb, e)) < 0)
		return r;
	if (sb->set_ids)
		sb->mechanisms |= OSH_MECH_IDENTITY;
	sb->mechanisms |= OSH_MECH_NO_CAPS;
	/* Before Landlock: with BPF LSM its ruleset has no deny carve-out. */
	return bpf_lsm_open(cfg, sb, adopt, e);
}

static int seccomp_prepare(const struct osh_sandbox_config *cfg, struct osh_sandbox *sb,
			   struct osh_sandbox_error *e)
{
	int r;

	if (cfg->no_seccomp)
		return 0;
	if ((r = osh_seccomp_prog_build(&sb->seccomp, e)) < 0)
		return r;
	sb->mechanisms |= OSH_MECH_SECCOMP;
	return 0;
}

static int net_start(const struct osh_sandbox_config *cfg, struct osh_sandbox *sb, bool adopt,
		     struct osh_sandbox_error *e)
{
	struct osh_sandbox_net_opts no = {
		.policy = cfg->net_policy,
		.cgroup_id = sb->cg->id,
		.cgroup_fd = sb->cg->dir_fd,
		.cgroup_path = sb->cg->path,
		.no_dns = cfg->no_dns,
		.event_fn = cfg->net_event_fn,
		.event_ctx = cfg->net_event_ctx,
		.bpffs_root = cfg->bpffs_root,
		.name = sb->name,
		.adopt = adopt,
	};
	int r = osh_sandbox_net_start(&no, &sb->warnings, &sb->report, &sb->net, e);

	if (r >= 0)
		sb->mechanisms |= OSH_MECH_EGRESS;
	return r;
}

int osh_sandbox_create(const struct osh_sandbox_config *cfg, struct osh_sandbox **ret,
		       struct osh_sandbox_error *e)
{
	struct osh_sandbox *sb = calloc(1, sizeof(*sb));
	struct osh_sandbox_error e_ll = { 0 };
	struct landlock_job ll;
	size_t at_warnings, at_report;
	int r, r_ll;

	if (!sb)
		return osh_sandbox_error_set(e, ENOMEM, "sandbox", NULL, NULL);
	sb->landlock_fd = sb->pidfd = -1;
	sb->bpffs_root = cfg->bpffs_root;
	if ((r = sandbox_identity(cfg, sb, false, e)) < 0)
		goto fail;
	/* The Landlock ruleset is built meanwhile; a policy it refuses (hard_requirement) has
	 * the cgroup and the programs removed again below. */
	at_warnings = sb->warnings.n;
	at_report = sb->report.n;
	landlock_start(&ll, cfg, sb, true);
	if ((r = seccomp_prepare(cfg, sb, e)) < 0)
		goto join;
	if ((r = osh_cgroup_create(sb->name, &sb->cg, e)) < 0)
		goto join;
	sb->mechanisms |= OSH_MECH_CGROUP;
	/* Mechanisms keyed by the cgroup (BPF LSM filesystem rules, network programs) go here:
	 * the cgroup and its id (sb->cg->id) exist, the child does not yet, so whatever is
	 * attached now governs it from its first instruction. Each sets its OSH_MECH_* bit. */
	if (sb->bpf_fs && (r = bpf_lsm_start(cfg, sb, false, e)) < 0)
		goto join;
	if (cfg->net_policy)
		r = net_start(cfg, sb, false, e);
join:
	/* Landlock's error first: built in line, it came before the rest. */
	r_ll = landlock_finish(&ll, sb, at_warnings, at_report, &e_ll);
	if (r_ll < 0) {
		if (e)
			*e = e_ll;
		r = r_ll;
	}
	if (r < 0)
		goto fail;
	*ret = sb;
	return 0;
fail:
	osh_sandbox_destroy(sb, NULL);
	return r;
}

static bool strv_eq(const struct osh_strv *a, const struct osh_strv *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]))
			return false;
	return true;
}

static bool plan_eq(const struct osh_landlock_plan *a, const struct osh_landlock_plan *b)
{
	if (a->abi != b->abi || a->handled != b->handled || a->scoped != b->scoped ||
	    a->n_rules != b->n_rules || !strv_eq(&a->warnings, &b->warnings) ||
	    !strv_eq(&a->report, &b->report))
		return false;
	for (size_t i = 0; i < a->n_rules; i++)
		if (a->rules[i].access != b->rules[i].access ||
		    strcmp(a->rules[i].path, b->rules[i].path))
			return false;
	return true;
}

int osh_sandbox_current(const struct osh_sandbox *sb, const struct osh_sandbox_config *cfg)
{
	struct osh_sandbox id = { 0 };
	struct osh_landlock_plan plan = { 0 };
	char cwd[PATH_MAX], *wd = NULL;
	bool same;

	/* A cgroup removed from outside keeps its descriptor but loses its files. */
	if (!sb->ll_ids || sb->bpf_fs || sb->pid > 0 || !sb->cg ||
	    faccessat(sb->cg->dir_fd, "cgroup.procs", F_OK, 0) < 0)
		return 0;
	if (cfg->workdir)
		wd = realpath(cfg->workdir, NULL);
	else if (getcwd(cwd, sizeof(cwd)))
		wd = strdup(cwd);
	same = wd && !strcmp(wd, sb->workdir);
	free(wd);
	if (!same || identity_resolve(cfg, &id, NULL) < 0 || id.set_ids != sb->set_ids ||
	    id.uid != sb->uid || id.gid != sb->gid || osh_landlock_abi() != sb->landlock_abi)
		return 0;
	/* A plan that fails now (hard_requirement) is not current: a creation reports why. */
	if (landlock_plan_for(cfg, sb->workdir, false, sb->landlock_abi, &plan, NULL) < 0)
		return 0;
	same = plan_eq(&plan, &sb->ll_plan);
	osh_landlock_plan_free(&plan);
	for (size_t i = 0; same && i < sb->ll_plan.n_rules; i++) {
		const struct osh_landlock_ident *was = &sb->ll_ids[i];
		struct osh_landlock_ident now;

		osh_landlock_ident_of(sb->ll_plan.rules[i].path, &now);
		same = now.err == was->err && now.dev == was->dev && now.ino == was->ino &&
		       now.dir == was->dir;
	}
	return same;
}

int osh_sandbox_adopt(const struct osh_sandbox_config *cfg, struct osh_sandbox **ret,
		      struct osh_sandbox_error *e)
{
	struct landlock_job ll;
	struct osh_sandbox *sb;
	int r;

	if (!cfg->name || !cfg->bpffs_root)
		return osh_sandbox_error_set(e, EINVAL, "adopt", cfg->name,
					     "adoption needs the sandbox's name and a bpffs root");
	sb = calloc(1, sizeof(*sb));
	if (!sb)
		return osh_sandbox_error_set(e, ENOMEM, "sandbox", NULL, NULL);
	sb->landlock_fd = sb->pidfd = -1;
	sb->bpffs_root = cfg->bpffs_root;
	if ((r = sandbox_identity(cfg, sb, true, e)) < 0)
		goto fail;
	landlock_start(&ll, cfg, sb, false);
	if ((r = landlock_finish(&ll, sb, sb->warnings.n, sb->report.n, e)) < 0 ||
	    (r = seccomp_prepare(cfg, sb, e)) < 0)
		goto fail;
	if ((r = osh_cgroup_open(sb->name, &sb->cg, e)) < 0)
		goto fail;
	sb->mechanisms |= OSH_MECH_CGROUP;
	if (sb->bpf_fs && (r = bpf_lsm_start(cfg, sb, true, e)) < 0)
		goto fail;
	if (cfg->net_policy && (r = net_start(cfg, sb, true, e)) < 0)
		goto fail;
	*ret = sb;
	return 0;
fail:
	/* Nothing of the kernel side is touched: the caller decides (osh_sandbox_purge). */
	osh_sandbox_release(sb);
	return r;
}

void osh_sandbox_release(struct osh_sandbox *sb)
{
	if (!sb)
		return;
	/* The processes are not ours to wait for any more; their pidfd just goes. */
	if (sb->pidfd >= 0)
		close(sb->pidfd);
	if (sb->landlock_fd >= 0)
		close(sb->landlock_fd);
	osh_landlock_plan_free(&sb->ll_plan);
	free(sb->ll_ids);
	/* With a bpffs root the pins keep enforcing; without one this detaches, as the process
	 * exiting would. */
	bpf_lsm_close(sb, false);
	osh_sandbox_net_release(sb->net);
	osh_cgroup_free(sb->cg);
	osh_seccomp_prog_free(&sb->seccomp);
	osh_strv_free(&sb->warnings);
	osh_strv_free(&sb->report);
	free(sb->bpf_lsm_reason);
	free(sb->workdir);
	free(sb->name);
	free(sb);
}

int osh_sandbox_purge(const char *bpffs_root, const char *name, struct osh_sandbox_error *e)
{
	struct osh_cgroup *cg = NULL;
	int r;

	if (!name || osh_cgroup_name_check(name) < 0)
		return osh_sandbox_error_set(e, EINVAL, "purge", name, "invalid sandbox name");
	r = osh_cgroup_open(name, &cg, e);
	if (r == 0) {
		r = osh_cgroup_destroy(cg, e);
		osh_cgroup_free(cg);
		if (r < 0)
			return r;
	} else if (r != -ENOENT) {
		return r;
	}
	/* After the processes: the pins are what still governs them. */
	if (bpffs_root && ((r = osh_bpf_fs_purge(bpffs_root, name)) < 0 ||
			   (r = osh_egress_purge(bpffs_root, name)) < 0))
		return osh_sandbox_error_set(e, -r, "purge", bpffs_root, "removing the pins of %s",
					     name);
	return 0;
}

int osh_sandbox_net_policy_set(struct osh_sandbox *sb, const struct osh_policy *p,
			       struct osh_strv *warnings, struct osh_sandbox_error *e)
{
	if (!sb->net)
		return osh_sandbox_error_set(e, EOPNOTSUPP, "egress", sb->name,
					     "the sandbox was started without network_policies");
	return osh_sandbox_net_reload(sb->net, p, warnings, e);
}

int osh_sandbox_net_policy_take(struct osh_sandbox *sb, struct osh_policy *p,
				struct osh_policy_image *img, struct osh_strv *warnings,
				struct osh_sandbox_error *e)
{
	if (!sb->net) {
		osh_policy_image_free(img);
		osh_policy_free(p);
		return osh_sandbox_error_set(e, EOPNOTSUPP, "egress", sb->name,
					     "the sandbox was started without network_policies");
	}
	return osh_sandbox_net_reload_take(sb->net, p, img, warnings, e);
}

int osh_sandbox_spawn(struct osh_sandbox *sb, char *const argv[],
		      const struct osh_sandbox_spawn_opts *opts, int *ret_status,
		      struct osh_sandbox_error *e)
{
	struct osh_spawn_params p = {
		.cgroup_fd = sb->cg->dir_fd,
		.set_ids = sb->set_ids,
		.uid = sb->uid,
		.gid = sb->gid,
		.workdir = sb->workdir,
		.landlock_fd = sb->landlock_fd,
		.seccomp = (sb->mechanisms & OSH_MECH_SECCOMP) ? &sb->seccomp : NULL,
		.argv = argv,
		.envp = opts ? opts->envp : NULL,
		.sig_default = opts ? opts->sig_default : NULL,
		.kill_with_parent = opts ? opts->kill_with_parent : false,
	};
	int r;

	if (sb->pid > 0)
		return osh_sandbox_error_set(e, EBUSY, "spawn", sb->name, "a command already runs");
	*ret_status = 0;
	r = osh_spawn(&p, &sb->pid, &sb->pidfd, ret_status, e);
	if (r < 0)
		sb->pid = 0;
	return r;
}

int osh_sandbox_exec(struct osh_sandbox *sb, char *const argv[],
		     const struct osh_sandbox_exec_opts *o, pid_t *ret_pid, int *ret_pidfd,
		     int *ret_status, struct osh_sandbox_error *e)
{
	static const int inherit[3] = { -1, -1, -1 };
	sigset_t all;
	struct osh_spawn_params p = {
		.cgroup_fd = sb->cg ? sb->cg->dir_fd : -1,
		.set_ids = sb->set_ids,
		.uid = sb->uid,
		.gid = sb->gid,
		.workdir = o && o->workdir ? o->workdir : sb->workdir,
		.landlock_fd = sb->landlock_fd,
		.seccomp = (sb->mechanisms & OSH_MECH_SECCOMP) ? &sb->seccomp : NULL,
		.argv = argv,
		.envp = o ? o->envp : NULL,
		/* A daemon ignores SIGPIPE and the like; ignored dispositions survive exec. */
		.sig_default = &all,
		.stdio = o ? o->stdio : inherit,
		.new_session = o && o->new_session,
	};
	pid_t pid;
	int pidfd, r;

	*ret_status = 0;
	if (!sb->cg)
		return osh_sandbox_error_set(e, ENOENT, "exec", sb->name,
					     "the sandbox has no cgroup");
	sigfillset(&all);
	r = osh_spawn(&p, &pid, &pidfd, ret_status, e);
	if (r < 0)
		return r;
	*ret_pid = pid;
	*ret_pidfd = pidfd;
	return 0;
}

int osh_sandbox_events_flush(struct osh_sandbox *sb, int timeout_ms)
{
	struct timespec deadline;
	int r, r2;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	r = sb->bpf_fs_added ? osh_bpf_fs_events_flush(sb->bpf_fs, &deadline) : 0;
	/* The egress ring is the process's: other sandboxes' events come along. */
	r2 = sb->net ? osh_sandbox_net_events_flush(sb->net, &deadline) : 0;
	return r < 0 ? r : r2;
}

int osh_sandbox_nprocs(const struct osh_sandbox *sb)
{
	return sb->cg ? osh_cgroup_nprocs(sb->cg) : -ENOENT;
}

int osh_sandbox_signal_all(struct osh_sandbox *sb, int sig)
{
	return sb->cg ? osh_cgroup_signal(sb->cg, sig) : -ENOENT;
}

int osh_sandbox_wait(struct osh_sandbox *sb, int *ret_status, struct osh_sandbox_error *e)
{
	int status;

	if (sb->pid <= 0)
		return osh_sandbox_error_set(e, ECHILD, "wait", sb->name, "no command runs");
	while (waitpid(sb->pid, &status, 0) < 0)
		if (errno != EINTR)
			return osh_sandbox_error_set(e, errno, "wait", sb->name, NULL);
	sb->pid = 0;
	if (sb->pidfd >= 0) {
		close(sb->pidfd);
		sb->pidfd = -1;
	}
	*ret_status = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
	return 0;
}

int osh_sandbox_destroy(struct osh_sandbox *sb, struct osh_sandbox_error *e)
{
	int r = 0;

	if (!sb)
		return 0;
	if (sb->cg) {
		r = osh_cgroup_destroy(sb->cg, e);
		osh_cgroup_free(sb->cg);
	}
	/* A command still running was killed with the cgroup; reap it. */
	if (sb->pid > 0)
		while (waitpid(sb->pid, NULL, 0) < 0 && errno == EINTR)
			;
	if (sb->pidfd >= 0)
		close(sb->pidfd);
	if (sb->landlock_fd >= 0)
		close(sb->landlock_fd);
	osh_landlock_plan_free(&sb->ll_plan);
	free(sb->ll_ids);
	/* After the cgroup: nothing of the sandbox runs any more when its rules go. */
	bpf_lsm_close(sb, true);
	osh_sandbox_net_free(sb->net);
	osh_seccomp_prog_free(&sb->seccomp);
	osh_strv_free(&sb->warnings);
	osh_strv_free(&sb->report);
	free(sb->bpf_lsm_reason);
	free(sb->workdir);
	free(sb->name);
	free(sb);
	return r;
}

/* The outcome of a pin check, as osh_sandbox_pins_check returns it. */
static int pins_result(const struct osh_bpf_pin_check *c, const char *root,
		       struct osh_sandbox_error *e)
{
	if (c->err)
		return osh_sandbox_error_set(e, c->err, "pins", root, "cannot restore %s",
					     c->failed);
	return (int)c->found;
}

int osh_sandbox_pins_check_shared(bool repair, struct osh_strv *missing,
				  struct osh_sandbox_error *e)
{
	struct osh_bpf_pin_check c = { .repair = repair, .missing = missing };
	const char *root = NULL;

	/* egress/ first: it makes the root again when it is gone. */
	(void)osh_sandbox_net_pins_check(NULL, &c);
	pthread_mutex_lock(&FS.lock);
	if (FS.refs) {
		root = osh_bpf_fs_root(FS.fs);
		(void)osh_bpf_fs_pins_check(FS.fs, &c);
	}
	pthread_mutex_unlock(&FS.lock);
	return pins_result(&c, root, e);
}

int osh_sandbox_pins_check(struct osh_sandbox *sb, bool repair, struct osh_strv *missing,
			   struct osh_sandbox_error *e)
{
	struct osh_bpf_pin_check c = { .repair = repair, .missing = missing };

	if (!sb->bpffs_root)
		return 0;
	if (sb->net)
		(void)osh_sandbox_net_pins_check(sb->net, &c);
	if (sb->bpf_fs && sb->bpf_fs_added)
		(void)osh_bpf_fs_sandbox_pins_check(sb->bpf_fs, sb->name, sb->bpf_fs_id, &c);
	return pins_result(&c, sb->bpffs_root, e);
}

const char *osh_sandbox_name(const struct osh_sandbox *sb)
{
	return sb->name;
}

const char *osh_sandbox_cgroup_path(const struct osh_sandbox *sb)
{
	return sb->cg ? sb->cg->path : NULL;
}

unsigned int osh_sandbox_mechanisms(const struct osh_sandbox *sb)
{
	return sb->mechanisms;
}

int osh_sandbox_landlock_abi(const struct osh_sandbox *sb)
{
	return sb->landlock_abi;
}

pid_t osh_sandbox_pid(const struct osh_sandbox *sb)
{
	return sb->pid;
}

const struct osh_strv *osh_sandbox_warnings(const struct osh_sandbox *sb)
{
	return &sb->warnings;
}

const struct osh_strv *osh_sandbox_report(const struct osh_sandbox *sb)
{
	return &sb->report;
}

int osh_sandbox_describe(const struct osh_sandbox *sb, char **ret_text)
{
	char ids[64], ll[64];
	int r;

	if (sb->set_ids)
		snprintf(ids, sizeof(ids), "uid %u gid %u", (unsigned)sb->uid, (unsigned)sb->gid);
	else
		snprintf(ids, sizeof(ids), "uid %u (caller)", (unsigned)getuid());
	if (sb->mechanisms & OSH_MECH_LANDLOCK)
		snprintf(ll, sizeof(ll), "landlock abi %d%s", sb->landlock_abi,
			 sb->landlock_scoped ? " + signal/abstract-unix scopes" : "");
	else if (sb->landlock_abi > 0)
		snprintf(ll, sizeof(ll), "landlock off");
	else
		snprintf(ll, sizeof(ll), "landlock unavailable");
	r = asprintf(ret_text, "sandbox %s (cgroup %s; %s; no capabilities; %s; %s; bpf-lsm %s%s)",
		     sb->name, sb->cg ? sb->cg->path : "-", ids, ll,
		     (sb->mechanisms & OSH_MECH_SECCOMP) ? "seccomp" : "seccomp off",
		     (sb->mechanisms & OSH_MECH_BPF_LSM) ? "active" : "unavailable: ",
		     (sb->mechanisms & OSH_MECH_BPF_LSM) ? ""
		     : sb->bpf_lsm_reason		 ? sb->bpf_lsm_reason
							 : "unknown");
	return r < 0 ? -ENOMEM : 0;
}
