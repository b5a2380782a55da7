/* SPDX-License-Identifier: Apache-2.0 */
/* The sandbox engine: one sandbox = one cgroup in osh's subtree + one process tree started in it
 * under the policy's identity, Landlock ruleset and seccomp filter. Used by `oshctl run` and the
 * daemon alike. Functions return 0 or -errno and fill a struct osh_sandbox_error; nothing here
 * prints. Start-up order and its reasons: docs/arch-sandbox.md. */
#ifndef OSH_USERSPACE_SANDBOX_H
#define OSH_USERSPACE_SANDBOX_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include "bpf-fs.h"
#include "policy.h"
#include "sandbox-error.h"
#include "sandbox-net.h"
#include "strv.h"

/* Enforcement mechanisms; a sandbox reports the set that is really active. New mechanisms (BPF
 * LSM filesystem hooks, network cgroup programs) are one more bit each. */
enum osh_mechanism {
	OSH_MECH_CGROUP = 1u << 0,   /* own cgroup, entered by clone3(CLONE_INTO_CGROUP) */
	OSH_MECH_IDENTITY = 1u << 1, /* run_as user/group switched */
	OSH_MECH_NO_CAPS = 1u << 2,  /* all capability sets empty, no_new_privs */
	OSH_MECH_LANDLOCK = 1u << 3,
	OSH_MECH_SECCOMP = 1u << 4,
	OSH_MECH_BPF_LSM = 1u << 5, /* BPF LSM filesystem rules (bpf/fs.bpf.c), where they load */
	OSH_MECH_EGRESS = 1u << 6,  /* network_policies in the kernel (bpf/egress.bpf.c) */
};

/* Short name of one mechanism bit ("landlock", "bpf-lsm", ...). */
const char *osh_mechanism_name(unsigned int mech);

struct osh_sandbox_config {
	char *name;	 /* NULL: osh-run-<pid> */
	char *workdir;	 /* NULL: the current directory */
	bool fs_present; /* false: the runner's default filesystem policy (sandbox.c) */
	bool include_workdir;
	struct osh_strv read_only;
	struct osh_strv read_write;
	struct osh_strv deny;
	enum osh_landlock_compat landlock_compat;
	struct osh_ident run_as_user;  /* UNSET: keep the caller's uid */
	struct osh_ident run_as_group; /* UNSET: the user's primary group (or the caller's gid) */
	bool no_seccomp;	       /* for measurements only; never set from a policy */
	bool no_bpf_lsm;	       /* Landlock alone even where BPF LSM loads (measurements) */
	/* Keep what the Landlock ruleset is built from, so that osh_sandbox_current() can tell
	 * later whether a sandbox made then is still the one a creation would make. */
	bool keep_basis;
	/* Called from a thread of the engine for each BPF LSM denial; NULL: events are counted
	 * by the kernel but not read. */
	osh_bpf_fs_event_fn fs_event_fn;
	void *fs_event_ctx;
	/* network_policies to enforce (owned; set by osh_sandbox_config_from_policy); NULL: the
	 * network is not restricted. */
	struct osh_policy *net_policy;
	bool no_dns; /* no DNS responder: port 53 is an ordinary destination */
	/* Called from the engine's network thread for each egress denial/audit event (of every
	 * sandbox the process runs or adopted). */
	osh_sandbox_net_event_fn net_event_fn;
	void *net_event_ctx;
	/* NULL: the kernel state is private to the process and ends with it (`oshctl run`).
	 * Otherwise (oshd: /sys/fs/bpf/osh) the egress and BPF LSM programs, maps and links are
	 * pinned there, so enforcement outlives the process and a later one can osh_sandbox_adopt
	 * the sandbox. Not owned; must outlive the sandbox. Every sandbox of a process uses the same
	 * root. */
	const char *bpffs_root;
};

/* Zeroes cfg (best_effort, no paths, caller identity). */
void osh_sandbox_config_init(struct osh_sandbox_config *cfg);
/* Frees what cfg owns; cfg is re-initialised. Accepts NULL. */
void osh_sandbox_config_free(struct osh_sandbox_config *cfg);
/* Fills the static parts of cfg (filesystem_policy, landlock, process) from a validated policy,
 * replacing what cfg held there. name and workdir are left alone. Returns 0 or -ENOMEM. */
int osh_sandbox_config_from_policy(const struct osh_policy *p, struct osh_sandbox_config *cfg,
				   struct osh_sandbox_error *e);

struct osh_sandbox;

/* Prepares a sandbox: resolves the identity (creating the `sandbox` user on first use), probes
 * Landlock and builds its ruleset, builds the seccomp filter, and creates the cgroup last (so a
 * failure before leaves nothing behind). Gaps under best_effort become warnings
 * (osh_sandbox_warnings). On success *ret is owned by the caller: osh_sandbox_destroy(). */
int osh_sandbox_create(const struct osh_sandbox_config *cfg, struct osh_sandbox **ret,
		       struct osh_sandbox_error *e);

/* Whether sb, made by osh_sandbox_create() from cfg with keep_basis and not run yet, is what a
 * creation from cfg would make now, but for its name: the same identity and working directory,
 * the same Landlock plan (rules, warnings and report), and each rule's path resolving to the very
 * inode its rule holds. Kernel state that follows the filesystem by itself (egress binaries,
 * DNS) is not compared. 1: current; 0: not (or cannot tell: no basis kept, BPF LSM rules, whose
 * inodes are in maps); never fails otherwise. Reads the filesystem (a plan: ~1/3 of a
 * creation's Landlock part) but changes nothing. */
int osh_sandbox_current(const struct osh_sandbox *sb, const struct osh_sandbox_config *cfg);

struct osh_sandbox_spawn_opts {
	char *const *envp;	     /* NULL: the caller's environment */
	const sigset_t *sig_default; /* signals the child resets to SIG_DFL */
	bool kill_with_parent;	     /* the child dies with the calling process */
};

/* Starts argv in the sandbox (one command per sandbox). Returns 0 once the command runs. If the
 * child fails before exec, returns -errno with e naming the step ("landlock", "exec", ...) and
 * *ret_status set to 126 (cannot execute) or 127 (not found); the child is reaped already. */
int osh_sandbox_spawn(struct osh_sandbox *sb, char *const argv[],
		      const struct osh_sandbox_spawn_opts *opts, int *ret_status,
		      struct osh_sandbox_error *e);

struct osh_sandbox_exec_opts {
	char *const *envp;   /* NULL: the caller's environ */
	const char *workdir; /* NULL: the sandbox's workdir */
	int stdio[3];	  /* descriptors to become the child's 0, 1, 2; -1: inherit the caller's */
	bool new_session; /* setsid() in the child so signals can go to its process group */
};

/* Starts one more process in the sandbox (any number may run, next to the one of
 * osh_sandbox_spawn or without it), with the same identity, Landlock ruleset and seccomp filter
 * as osh_sandbox_spawn. Every signal starts at its default disposition; the child does not die
 * with the caller. Returns 0 once the command runs, with *ret_pid and *ret_pidfd (CLOEXEC, owned
 * by the caller, who reaps the child). On failure before exec: -errno, e names the step,
 * *ret_status is 126 or 127 and the child is reaped already. o NULL: all defaults (stdio
 * inherited). */
int osh_sandbox_exec(struct osh_sandbox *sb, char *const argv[],
		     const struct osh_sandbox_exec_opts *o, pid_t *ret_pid, int *ret_pidfd,
		     int *ret_status, struct osh_sandbox_error *e);

/* Hands every denial event the sandbox's processes produced so far (BPF LSM filesystem, egress,
 * DNS queries its responder has received) to the event functions of the config, on the
 * caller's thread, before it returns: call it once a command has exited and its events must all
 * be seen. Waits timeout_ms at most for the engine's threads (-ETIMEDOUT: what is left reaches
 * the functions from those threads later). Returns 0 or -ETIMEDOUT. */
int osh_sandbox_events_flush(struct osh_sandbox *sb, int timeout_ms);

/* Number of processes in the sandbox cgroup (cgroup.procs of it and its descendants), or -errno. */
int osh_sandbox_nprocs(const struct osh_sandbox *sb);

/* Sends sig to every process in the sandbox (cgroup.kill for SIGKILL where available). Returns 0
 * or -errno. */
int osh_sandbox_signal_all(struct osh_sandbox *sb, int sig);

/* Waits for the command and returns its status the way a shell reports it in *ret_status: the
 * exit code, or 128 + signal number. EINTR is retried. */
int osh_sandbox_wait(struct osh_sandbox *sb, int *ret_status, struct osh_sandbox_error *e);

/* Kills whatever is left in the sandbox cgroup, removes it, removes its pins (bpffs_root) and
 * frees sb (always, also when an error is returned). Accepts NULL. */
int osh_sandbox_destroy(struct osh_sandbox *sb, struct osh_sandbox_error *e);

/* Re-opens a sandbox whose cgroup (cfg->name, in osh's subtree) and pinned state exist, for a
 * daemon that restarted: opens the cgroup (does not create it), rebuilds the Landlock ruleset and
 * seccomp filter from cfg for future execs, re-adopts its pinned BPF LSM state and re-installs
 * its filesystem rules from cfg in one update (a sandbox created without BPF LSM stays without
 * it), re-adopts the pinned egress state under
 * cfg->bpffs_root (binary bit allocation, DNS-installed addresses, identities, generation),
 * installs cfg->net_policy as a new generation (always: one atomic flip, the DNS-installed
 * addresses its names still have carried over), starts a DNS responder and points the sandbox's
 * redirect at it. Enforcement never lapses meanwhile. The sandbox has no osh_sandbox_pid: its
 * processes are not the caller's children (osh_sandbox_nprocs tells when it is empty).
 * -ENOENT when the cgroup or the pins are gone (nothing is touched; the caller then cleans up
 * with osh_sandbox_purge). cfg->name and cfg->bpffs_root are required. */
int osh_sandbox_adopt(const struct osh_sandbox_config *cfg, struct osh_sandbox **ret,
		      struct osh_sandbox_error *e);

/* Frees sb's userspace side but leaves the cgroup, its processes and all pinned kernel state in
 * place (daemon shutdown: enforcement continues). Without a bpffs root the egress programs go
 * with it (nothing is pinned), as they would when the process exits. Accepts NULL. */
void osh_sandbox_release(struct osh_sandbox *sb);

/* Removes whatever is left of a sandbox by name when there is no struct for it (cgroup vanished
 * while the daemon was down, or pins without a cgroup): kills its processes and removes the
 * cgroup if present, then unpins it under bpffs_root (may be NULL: cgroup only). 0 also when
 * nothing was left. */
int osh_sandbox_purge(const char *bpffs_root, const char *name, struct osh_sandbox_error *e);

/* For a daemon: loads the egress programs (and the BPF LSM ones when bpf_lsm and the kernel
 * has them), or takes them from the pins under bpffs_root, and keeps them for the process's
 * life, so a sandbox created later attaches what is loaded instead of loading it (and the root
 * stays pinned while no sandbox exists). A BPF LSM that does not load is a warning: each sandbox
 * reports it again. Balanced by osh_sandbox_programs_unhold (which unpins the root when no
 * sandbox of any process is pinned under it). */
int osh_sandbox_programs_hold(const char *bpffs_root, bool bpf_lsm, struct osh_strv *warnings,
			      struct osh_sandbox_error *e);
void osh_sandbox_programs_unhold(void);

/* Pins removed from outside the process (an admin's `rm -r` under the bpffs root; bpffs has no
 * inotify, so the daemon calls these periodically). The process holds a descriptor of every
 * pinned map, program and link, so enforcement goes on while it lives; the pins are what keeps
 * it after. _shared looks at the pins every sandbox of the process uses (the root, egress/,
 * sandboxes/, fs/), osh_sandbox_pins_check at sb's own (sandboxes/<name>/,
 * fs/sandboxes/<name>; call _shared first, it makes the directories). Each returns the number of
 * pins and directories found missing (>= 0; with repair, every one was pinned again from the
 * descriptors), or -errno when one could not be restored (e names it; what was restored
 * stays). missing, when not NULL, gets the paths relative to the root ("egress/",
 * "sandboxes/agent-1/link_osh_connect4"; a directory found missing stands for its content).
 * 0 without a bpffs root or with nothing loaded. */
int osh_sandbox_pins_check_shared(bool repair, struct osh_strv *missing,
				  struct osh_sandbox_error *e);
int osh_sandbox_pins_check(struct osh_sandbox *sb, bool repair, struct osh_strv *missing,
			   struct osh_sandbox_error *e);

/* Replaces network_policies of a running sandbox atomically (osh_sandbox_net_reload): each
 * connection sees the old or the new policy. -EOPNOTSUPP when the sandbox was started without
 * network policy. */
int osh_sandbox_net_policy_set(struct osh_sandbox *sb, const struct osh_policy *p,
			       struct osh_strv *warnings, struct osh_sandbox_error *e);
/* The same without copying p (osh_sandbox_net_reload_take): p, and img when not NULL (compiled
 * from p), are the sandbox's from the call on, also on failure. */
int osh_sandbox_net_policy_take(struct osh_sandbox *sb, struct osh_policy *p,
				struct osh_policy_image *img, struct osh_strv *warnings,
				struct osh_sandbox_error *e);

/* Accessors; the strings and vectors stay owned by sb. */
const char *osh_sandbox_name(const struct osh_sandbox *sb);
const char *osh_sandbox_cgroup_path(const struct osh_sandbox *sb);
unsigned int osh_sandbox_mechanisms(const struct osh_sandbox *sb);
int osh_sandbox_landlock_abi(const struct osh_sandbox *sb);
pid_t osh_sandbox_pid(const struct osh_sandbox *sb);
const struct osh_strv *osh_sandbox_warnings(const struct osh_sandbox *sb);
/* What each filesystem deny path does and does not cover under the active mechanisms. */
const struct osh_strv *osh_sandbox_report(const struct osh_sandbox *sb);

/* Replaces the BPF LSM filesystem rules of a running sandbox with those of img (its fs entries,
 * plus the workdir read-write when img->include_workdir), in one map update: each access sees
 * the old rules or the new ones. Landlock, fixed at start, still applies: a reload can deny
 * more, or lift a deny path, but not open what the start-time allow-list did not. Paths that
 * do not exist are skipped (best_effort) or fail the call (hard_requirement). -EOPNOTSUPP
 * without BPF LSM. */
int osh_sandbox_fs_reload(struct osh_sandbox *sb, const struct osh_policy_image *img,
			  struct osh_sandbox_error *e);

/* One line saying which mechanisms are active, e.g. "sandbox osh-run-12 (cgroup /sys/...;
 * uid 65534 gid 65534; landlock abi 7; seccomp; bpf-lsm unavailable: ...)". Caller frees. */
int osh_sandbox_describe(const struct osh_sandbox *sb, char **ret_text);

#endif
