/* SPDX-License-Identifier: Apache-2.0 */
/* Public API of the osh policy compiler: OpenShell v1 policies (YAML or JSON) -> validated IR ->
 * canonical form, revision id, BPF map images and diffs. No kernel dependency; never prints. */
#ifndef OSH_POLICY_H
#define OSH_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpf/egress.h"
#include "bpf/fs.h"

/* Limits of the schema (docs/policy.md). */
#define OSH_POLICY_MAX_PATH_LEN	  4096	      /* bytes of one filesystem or binary path */
#define OSH_POLICY_MAX_FS_PATHS	  256	      /* read_only + read_write + deny */
#define OSH_POLICY_MAX_RULES	  1024	      /* network_policies entries */
#define OSH_POLICY_MAX_ENDPOINTS  16384	      /* endpoints over all network_policies */
#define OSH_POLICY_MAX_PORTS	  64	      /* ports of one endpoint */
#define OSH_POLICY_MAX_L7_RULES	  256	      /* rules (and deny_rules) of one endpoint */
#define OSH_POLICY_MAX_HOST_LEN	  253	      /* DNS name length */
#define OSH_POLICY_MAX_STRING_LEN 4096	      /* any other string */
#define OSH_POLICY_MAX_INPUT	  (16u << 20) /* bytes of one policy document */
#define OSH_POLICY_MAX_DIAGS	  200	      /* further errors are summarised in one line */

/* ---- diagnostics ------------------------------------------------------------------------------ */

/* One error at a place in a source file. line and col are 1-based; 0 means "whole file". */
struct osh_diag {
	char *file;
	unsigned line;
	unsigned col;
	char *message;
};

/* A growable list of diagnostics; owns its elements. Zero-initialise before use. */
struct osh_diag_list {
	struct osh_diag *items;
	size_t n;
	size_t cap;
	size_t dropped; /* errors past OSH_POLICY_MAX_DIAGS, counted but not stored */
};

/* Appends a diagnostic (printf-style message). Returns 0 or -ENOMEM. */
int osh_diag_list_add(struct osh_diag_list *l, const char *file, unsigned line, unsigned col,
		      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Sorts by (file, line, col), keeping the insertion order of equal positions. */
void osh_diag_list_sort(struct osh_diag_list *l);
/* Frees the elements; the list is empty and reusable afterwards. Accepts NULL. */
void osh_diag_list_clear(struct osh_diag_list *l);
/* Formats one diagnostic as `FILE:LINE:COL: message` into a new string owned by the caller. */
int osh_diag_format(const struct osh_diag *d, char **ret_text);

/* ---- IR --------------------------------------------------------------------------------------- */

enum osh_policy_format {
	OSH_POLICY_FORMAT_AUTO = 0, /* by file name (.json) or first non-blank byte ('{') */
	OSH_POLICY_FORMAT_YAML = 1,
	OSH_POLICY_FORMAT_JSON = 2,
};

/* Where a value was written: every IR object keeps the position of its source node. */
struct osh_pos {
	unsigned line;
	unsigned col;
};

enum osh_landlock_compat {
	OSH_LANDLOCK_BEST_EFFORT = 0, /* default */
	OSH_LANDLOCK_HARD_REQUIREMENT = 1,
};

enum osh_ident_kind {
	OSH_IDENT_UNSET = 0, /* omitted: the runner chooses */
	OSH_IDENT_SANDBOX =
	    1,		  /* the literal "sandbox": the runner's unprivileged sandbox identity */
	OSH_IDENT_ID = 2, /* numeric id in 1..4294967294 */
};

struct osh_ident {
	enum osh_ident_kind kind;
	uint32_t id;
};

/* Static: changing any of this needs a new sandbox. Path arrays are sorted, normalised
 * (no duplicate or trailing '/') and deduplicated. */
struct osh_fs_policy {
	bool present; /* filesystem_policy was written; if not, the runner applies its default */
	bool include_workdir;
	const char **read_only;
	size_t n_read_only;
	const char **read_write;
	size_t n_read_write;
	const char **deny; /* osh extension: inaccessible even inside an allowed tree */
	size_t n_deny;
	/* Where each path was written (in document order, first occurrence), so that a path the
	 * runner cannot use is reported as FILE:LINE:COL: osh_policy_fs_path_pos(). */
	struct osh_fs_path_pos *pos;
	size_t n_pos;
};

struct osh_fs_path_pos {
	const char *path; /* normalised, as in the arrays above */
	struct osh_pos pos;
};

struct osh_process_policy {
	struct osh_ident run_as_user;
	struct osh_ident run_as_group;
};

enum osh_l7_protocol {
	OSH_L7_NONE = 0, /* omitted: plain L4 */
	OSH_L7_TCP = 1,	 /* explicit L4 */
	OSH_L7_REST = 2,
	OSH_L7_WEBSOCKET = 3,
	OSH_L7_GRAPHQL = 4,
};

enum osh_tls_mode {
	OSH_TLS_DEFAULT = 0, /* omitted, or the deprecated no-ops terminate/passthrough */
	OSH_TLS_SKIP = 1,
};

enum osh_enforcement {
	OSH_ENFORCE = 0, /* default */
	OSH_AUDIT = 1,
};

enum osh_access {
	OSH_ACCESS_NONE = 0, /* not written: rules[] define the allow set (or L4) */
	OSH_ACCESS_READ_ONLY = 1,
	OSH_ACCESS_READ_WRITE = 2,
	OSH_ACCESS_FULL = 3,
};

enum osh_host_kind {
	OSH_HOST_NONE = 0,     /* endpoint defined by allowed_ips only */
	OSH_HOST_NAME = 1,     /* exact DNS name */
	OSH_HOST_WILDCARD = 2, /* wildcard in the first label */
	OSH_HOST_IPV4 = 3,
	OSH_HOST_IPV6 = 4,
};

struct osh_cidr {
	uint8_t family; /* 4 or 6 */
	uint8_t prefix_len;
	uint8_t addr[16]; /* network order; IPv4 uses the first 4 bytes; host bits are zero */
};

/* One query parameter matcher: the parameter must match one of the globs. */
struct osh_query_match {
	const char *name;
	const char **any;
	size_t n_any;
};

/* One allow rule (rules[].allow) or deny rule (deny_rules[]). NULL fields match anything. */
struct osh_l7_rule {
	const char *method; /* upper case, or "*" */
	const char *path;   /* glob */
	struct osh_query_match *query;
	size_t n_query; /* sorted by name */
	struct osh_pos pos;
};

struct osh_endpoint {
	enum osh_host_kind host_kind;
	const char *host;	   /* lower case; NULL for OSH_HOST_NONE */
	struct osh_cidr host_addr; /* for OSH_HOST_IPV4/IPV6 */
	uint16_t *ports;	   /* sorted, unique, 1..65535 */
	size_t n_ports;
	enum osh_l7_protocol protocol;
	enum osh_tls_mode tls;
	enum osh_enforcement enforcement;
	enum osh_access access;
	struct osh_l7_rule *rules;
	size_t n_rules;
	struct osh_l7_rule *deny_rules;
	size_t n_deny_rules;
	struct osh_cidr *allowed_ips; /* sorted, unique */
	size_t n_allowed_ips;
	struct osh_pos pos;
};

struct osh_binary {
	const char *path;
	bool glob; /* contains '*' or '?' */
	struct osh_pos pos;
};

/* Dynamic (hot-reloadable): one network_policies entry. */
struct osh_net_rule {
	const char *key;		/* the map key */
	const char *name;		/* defaults to the key */
	struct osh_endpoint *endpoints; /* canonical order */
	size_t n_endpoints;
	struct osh_binary *binaries; /* sorted by path, unique */
	size_t n_binaries;
	struct osh_pos pos;
};

struct osh_arena;

/* A validated policy. Everything it points to lives in its arena; free with osh_policy_free(). */
struct osh_policy {
	struct osh_arena *arena;
	const char *source; /* file name given to the parser */
	uint32_t version;
	struct osh_fs_policy filesystem;
	enum osh_landlock_compat landlock_compat;
	struct osh_process_policy process;
	struct osh_net_rule *net_rules; /* sorted by key */
	size_t n_net_rules;
};

/* Parses and validates a policy document held in memory. name is used in diagnostics.
 * Returns 0 and a new policy in *ret (owned by the caller), -EINVAL when the document is invalid
 * (every problem found is appended to diags, which may be NULL), or -ENOMEM. */
int osh_policy_parse_buffer(const char *name, const char *buf, size_t len,
			    enum osh_policy_format fmt, struct osh_policy **ret,
			    struct osh_diag_list *diags);
/* Same, reading path. -errno when the file cannot be read (also reported as a diagnostic). */
int osh_policy_parse_file(const char *path, enum osh_policy_format fmt, struct osh_policy **ret,
			  struct osh_diag_list *diags);
/* Frees a policy and everything it owns. Accepts NULL. */
void osh_policy_free(struct osh_policy *p);
void osh_policy_freep(struct osh_policy **p);

/* ---- canonical form and revision -------------------------------------------------------------- */

/* Renders the canonical form (sorted, normalised, defaults resolved as documented) as YAML or JSON
 * into a new NUL-terminated string owned by the caller. Returns 0, -EINVAL (bad fmt) or -ENOMEM. */
int osh_policy_dump(const struct osh_policy *p, enum osh_policy_format fmt, char **ret_text);
/* The revision id: lower-case hex SHA-256 of the canonical JSON form. Returns 0 or -errno. */
int osh_policy_revision(const struct osh_policy *p, char ret_hex[65]);
/* Where filesystem path `path` (normalised) was written in the policy: 0 and *ret, or -ENOENT
 * (not a filesystem_policy path of p, e.g. the runner's default or the workdir). */
int osh_policy_fs_path_pos(const struct osh_policy *p, const char *path, struct osh_pos *ret);

/* ---- compile ---------------------------------------------------------------------------------- */

/* A binary identity; bit `index` in the egress masks. The loader resolves path (or the glob's
 * matches) to inode+device and fills the osh_egress_bin map. */
struct osh_image_binary {
	const char *path;
	bool glob;
	uint32_t index;
};

struct osh_image_v4 {
	struct osh_egress_v4_key key;
	struct osh_egress_value value;
};

struct osh_image_v6 {
	struct osh_egress_v6_key key;
	struct osh_egress_value value;
};

/* A hostname that becomes IP entries once the DNS responder resolves it. */
struct osh_image_name {
	struct osh_egress_name entry;
	const struct osh_endpoint *endpoint; /* allowed_ips constrain the answers */
};

/* What only userspace can enforce: the L7 proxy's rules for one (endpoint, binaries). */
struct osh_image_l7 {
	const struct osh_net_rule *rule;
	const struct osh_endpoint *endpoint;
	uint64_t binaries;
};

/* A filesystem entry: path to be resolved to inode+dev by the loader, value as BPF reads it. */
struct osh_image_fs {
	const char *path;
	struct osh_fs_value value;
};

/* The map images of one policy. Pointers into the policy stay valid while the policy lives. */
struct osh_policy_image {
	struct osh_arena *arena;
	struct osh_image_binary *binaries;
	size_t n_binaries;
	struct osh_image_v4 *v4; /* sorted by key bytes */
	size_t n_v4;
	struct osh_image_v6 *v6;
	size_t n_v6;
	struct osh_image_name *names; /* sorted by (name, port) */
	size_t n_names;
	struct osh_image_l7 *l7;
	size_t n_l7;
	struct osh_image_fs *fs; /* sorted by path */
	size_t n_fs;
	bool include_workdir; /* the runner adds the workdir read-write */
	enum osh_landlock_compat landlock_compat;
	struct osh_process_policy process;
};

/* Compiles a validated policy. Returns 0 and a new image (owned by the caller), -E2BIG when a
 * limit of the BPF ABI is exceeded, or -ENOMEM. */
int osh_policy_compile(const struct osh_policy *p, struct osh_policy_image **ret);
void osh_policy_image_free(struct osh_policy_image *img);
/* Human-readable listing of the image, one entry a line, for `oshctl policy compile`. */
int osh_policy_image_format(const struct osh_policy_image *img, char **ret_text);

/* ---- diff ------------------------------------------------------------------------------------- */

enum osh_diff_kind {
	OSH_DIFF_ADDED = 1,
	OSH_DIFF_REMOVED = 2,
	OSH_DIFF_CHANGED = 3,
};

struct osh_diff_change {
	const char *section; /* "filesystem_policy", "landlock", "process", "network_policies" */
	const char *key;     /* network_policies key, NULL for the static sections */
	enum osh_diff_kind kind;
	bool is_static; /* true: needs a new sandbox; false: hot-reloadable */
};

struct osh_policy_diff {
	struct osh_arena *arena;
	struct osh_diff_change *changes; /* static sections first, then network_policies by key */
	size_t n_changes;
	size_t n_static;
	size_t n_dynamic;
};

/* Compares two policies by their canonical forms. Returns 0 and a new diff, or -ENOMEM. */
int osh_policy_diff(const struct osh_policy *old, const struct osh_policy *new_,
		    struct osh_policy_diff **ret);
void osh_policy_diff_free(struct osh_policy_diff *d);
/* Human-readable diff, one change a line: `static  changed filesystem_policy` etc. */
int osh_policy_diff_format(const struct osh_policy_diff *d, char **ret_text);

/* Names of enum values as written in policies (for dumps and messages). */
const char *osh_l7_protocol_name(enum osh_l7_protocol v);
const char *osh_access_name(enum osh_access v);
const char *osh_landlock_compat_name(enum osh_landlock_compat v);

#endif
