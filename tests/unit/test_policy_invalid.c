// SPDX-License-Identifier: Apache-2.0
// Invalid policies, table-driven: each case is a small document and the exact diagnostics
// (`LINE:COL: message`, all of them, in order) the policy compiler must report for it.
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "policy.h"

struct invalid_case {
	const char *name;
	const char *doc;
	const char *expected; /* diagnostics without the file name, one a line */
};

static const struct invalid_case yaml_cases[] = {
	{ "empty_document", "", "1:1: empty policy (expected a mapping with version: 1)" },
	{ "comment_only", "# nothing\n", "1:1: empty policy (expected a mapping with version: 1)" },
	{ "root_not_map",
	  "- a\n"
	  "- b\n",
	  "1:1: expected a mapping with version: 1, got a list" },
	{ "root_scalar", "hello\n", "1:1: expected a mapping with version: 1, got 'hello'" },
	{ "yaml_syntax",
	  "version: 1\n"
	  "filesystem_policy: [\n",
	  "3:1: YAML syntax error: did not find expected node content while parsing a flow node" },
	{ "yaml_bad_indent",
	  "version: 1\n"
	  "  landlock: x\n",
	  "2:11: YAML syntax error: mapping values are not allowed in this context" },
	{ "two_documents",
	  "version: 1\n"
	  "---\n"
	  "version: 1\n",
	  "2:1: only one YAML document is allowed per policy" },
	{ "alias",
	  "version: 1\n"
	  "filesystem_policy:\n"
	  "  read_only: &ro [/usr]\n"
	  "  read_write: *ro\n",
	  "4:15: YAML aliases are not supported in policies (write the value out)" },
	{ "tag", "version: !!int 1\n",
	  "1:10: YAML tags are not supported in policies (expected plain values)" },
	{ "missing_version",
	  "landlock:\n"
	  "  compatibility: best_effort\n",
	  "1:1: missing required key 'version' (expected version: 1)" },
	{ "version_2", "version: 2\n",
	  "1:10: version: expected 1 (the only schema version), got '2'" },
	{ "version_string", "version: \"1\"\n",
	  "1:10: version: expected 1, got the string \"1\" (write numbers without quotes)" },
	{ "version_float", "version: 1.0\n", "1:10: version: expected 1, got '1.0'" },
	{ "unknown_top_key",
	  "version: 1\n"
	  "filesystem: {}\n",
	  "2:1: unknown key 'filesystem' (expected one of version, filesystem_policy, landlock, "
	  "process, network_policies)" },
	{ "duplicate_top_key",
	  "version: 1\n"
	  "landlock: {compatibility: best_effort}\n"
	  "landlock: {compatibility: best_effort}\n",
	  "3:1: duplicate key 'landlock' (first at line 2 column 1)" },
	{ "middlewares_unsupported",
	  "version: 1\n"
	  "network_middlewares: {}\n",
	  "2:1: network_middlewares: not enforceable yet by osh; remove it (docs/policy.md lists "
	  "what osh enforces)" },
	{ "fs_not_map",
	  "version: 1\n"
	  "filesystem_policy: [/usr]\n",
	  "2:20: filesystem_policy: expected a mapping, got a list" },
	{ "fs_relative",
	  "version: 1\n"
	  "filesystem_policy:\n"
	  "  read_only: [usr]\n",
	  "3:15: filesystem_policy.read_only[0]: expected an absolute path, got 'usr'" },
	{ "fs_dotdot",
	  "version: 1\n"
	  "filesystem_policy:\n"
	  "  read_only: [/usr/../etc]\n",
	  "3:15: filesystem_policy.read_only[0]: '..' is not allowed in paths, got '/usr/../etc'" },
	{ "fs_rw_root",
	  "version: 1\n"
	  "filesystem_policy:\n"
	  "  read_write: [/]\n",
	  "3:16: filesystem_policy.read_write[0]: '/' is not allowed in read_write (expected a "
	  "narrower path)" },
	{ "fs_rw_root_slashes",
	  "version: 1\n"
	  "filesystem_policy:\n"
	  "  read_write: [\"///\"]\n",
	  "3:16: filesystem_policy.read_write[0]: '/' is not allowed in read_write (expected a "
	  "narrower path)" },
	{ "fs_deny_root",
	  "version: 1\n"
	  "filesystem_policy:\n"
	  "  deny: [/]\n",
	  "3:10: filesystem_policy.deny[0]: '/' is not allowed in deny (expected a narrower "
	  "path)" },
	{ "fs_deny_relative",
	  "version: 1\n"
	  "filesystem_policy:\n"
	  "  deny:\n"
	  "    - .ssh\n",
	  "4:7: filesystem_policy.deny[0]: expected an absolute path, got '.ssh'" },
	{ "fs_include_workdir_string",
	  "version: 1\n"
	  "filesystem_policy:\n"
	  "  include_workdir: \"yes\"\n",
	  "3:20: filesystem_policy.include_workdir: expected true or false, got the string \"yes\" "
	  "(write it without quotes)" },
	{ "fs_list_not_list",
	  "version: 1\n"
	  "filesystem_policy:\n"
	  "  read_only: /usr\n",
	  "3:14: filesystem_policy.read_only: expected a list of absolute paths, got '/usr'" },
	{ "fs_null_path",
	  "version: 1\n"
	  "filesystem_policy:\n"
	  "  read_only:\n"
	  "    -\n",
	  "4:6: filesystem_policy.read_only[0]: expected an absolute path, got null" },
	{ "fs_unknown_key",
	  "version: 1\n"
	  "filesystem_policy:\n"
	  "  read_only: [/usr]\n"
	  "  readonly: [/etc]\n",
	  "4:3: filesystem_policy: unknown key 'readonly' (expected one of include_workdir, "
	  "read_only, read_write, deny)" },
	{ "fs_duplicate_key",
	  "version: 1\n"
	  "filesystem_policy:\n"
	  "  read_only: [/usr]\n"
	  "  read_only: [/etc]\n",
	  "4:3: filesystem_policy: duplicate key 'read_only' (first at line 3 column 3)" },
	{ "landlock_bad",
	  "version: 1\n"
	  "landlock:\n"
	  "  compatibility: strict\n",
	  "3:18: landlock.compatibility: expected one of best_effort, hard_requirement, got "
	  "'strict'" },
	{ "landlock_unknown",
	  "version: 1\n"
	  "landlock:\n"
	  "  compat: best_effort\n",
	  "3:3: landlock: unknown key 'compat' (expected one of compatibility)" },
	{ "process_root_uid",
	  "version: 1\n"
	  "process:\n"
	  "  run_as_user: 0\n",
	  "3:16: process.run_as_user: id 0 (root) is not allowed (expected \"sandbox\" or a "
	  "numeric id in 1..4294967294)" },
	{ "process_root_name",
	  "version: 1\n"
	  "process:\n"
	  "  run_as_group: root\n",
	  "3:17: process.run_as_group: root is not allowed (expected \"sandbox\" or a numeric id "
	  "in 1..4294967294)" },
	{ "process_uid_max",
	  "version: 1\n"
	  "process:\n"
	  "  run_as_user: 4294967295\n",
	  "3:16: process.run_as_user: expected \"sandbox\" or a numeric id in 1..4294967294, got "
	  "'4294967295'" },
	{ "process_name",
	  "version: 1\n"
	  "process:\n"
	  "  run_as_user: nobody\n",
	  "3:16: process.run_as_user: expected \"sandbox\" or a numeric id in 1..4294967294, got "
	  "'nobody'" },
	{ "net_not_map",
	  "version: 1\n"
	  "network_policies: [a]\n",
	  "2:19: network_policies: expected a mapping of name to network policy, got a list" },
	{ "net_rule_not_map",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api: yes\n",
	  "3:8: network_policies.api: expected a mapping with endpoints and binaries, got 'yes'" },
	{ "net_missing_endpoints",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "4:5: network_policies.api: missing required key 'endpoints'" },
	{ "net_missing_binaries",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - { host: api.example.com, port: 443 }\n",
	  "4:5: network_policies.api: missing required key 'binaries'" },
	{ "net_empty_endpoints",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints: []\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "4:16: network_policies.api.endpoints: expected a non-empty list of endpoints, got an "
	  "empty list" },
	{ "net_empty_binaries",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - { host: api.example.com, port: 443 }\n"
	  "    binaries: []\n",
	  "6:15: network_policies.api.binaries: expected a non-empty list of binaries ({path: "
	  "...}), got an empty list" },
	{ "net_dup_policy_key",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints: [{ host: a.example.com, port: 443 }]\n"
	  "    binaries: [{ path: /usr/bin/curl }]\n"
	  "  api:\n"
	  "    endpoints: [{ host: b.example.com, port: 443 }]\n"
	  "    binaries: [{ path: /usr/bin/curl }]\n",
	  "6:3: network_policies: duplicate key 'api' (first at line 3 column 3)" },
	{ "net_unknown_rule_key",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    description: x\n"
	  "    endpoints:\n"
	  "      - { host: api.example.com, port: 443 }\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "4:5: network_policies.api: unknown key 'description' (expected one of name, endpoints, "
	  "binaries)" },
	{ "ep_missing_host",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - port: 443\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "5:9: network_policies.api.endpoints[0]: missing required key 'host' (or allowed_ips for "
	  "an address-only endpoint)" },
	{ "ep_missing_port",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: api.example.com\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "5:9: network_policies.api.endpoints[0]: missing required key 'port' (or 'ports')" },
	{ "ep_port_and_ports",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: api.example.com\n"
	  "        port: 443\n"
	  "        ports: [443, 8443]\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "7:9: network_policies.api.endpoints[0].ports: port and ports are mutually exclusive" },
	{ "ep_port_zero",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: api.example.com\n"
	  "        port: 0\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "6:15: network_policies.api.endpoints[0].port: expected a port number in 1..65535, got "
	  "'0'" },
	{ "ep_port_big",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: api.example.com\n"
	  "        port: 65536\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "6:15: network_policies.api.endpoints[0].port: expected a port number in 1..65535, got "
	  "'65536'" },
	{ "ep_port_string",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: api.example.com\n"
	  "        port: \"443\"\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "6:15: network_policies.api.endpoints[0].port: expected a port number in 1..65535, got "
	  "the string \"443\" (write numbers without quotes)" },
	{ "ep_ports_empty",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: api.example.com\n"
	  "        ports: []\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "6:16: network_policies.api.endpoints[0].ports: expected a non-empty list of port "
	  "numbers, got an empty list" },
	{ "ep_ports_bad_item",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: api.example.com\n"
	  "        ports: [443, -1]\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "6:22: network_policies.api.endpoints[0].ports[1]: expected a port number in 1..65535, "
	  "got '-1'" },
	{ "ep_host_bare_star",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: \"*\"\n"
	  "        port: 443\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "5:15: network_policies.api.endpoints[0].host: a bare wildcard matches every host "
	  "(expected e.g. *.example.com)" },
	{ "ep_host_bare_2star",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: \"**\"\n"
	  "        port: 443\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "5:15: network_policies.api.endpoints[0].host: a bare wildcard matches every host "
	  "(expected e.g. *.example.com)" },
	{ "ep_host_tld_wildcard",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: \"*.com\"\n"
	  "        port: 443\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "5:15: network_policies.api.endpoints[0].host: wildcard over a top-level domain is not "
	  "allowed, got '*.com' (expected e.g. *.example.com)" },
	{ "ep_host_tld_2star",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: \"**.com\"\n"
	  "        port: 443\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "5:15: network_policies.api.endpoints[0].host: wildcard over a top-level domain is not "
	  "allowed, got '**.com' (expected e.g. *.example.com)" },
	{ "ep_host_wildcard_not_first",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: api.*.example.com\n"
	  "        port: 443\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "5:15: network_policies.api.endpoints[0].host: wildcards are allowed in the first label "
	  "only, got 'api.*.example.com'" },
	{ "ep_host_2star_partial",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: \"a**.example.com\"\n"
	  "        port: 443\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "5:15: network_policies.api.endpoints[0].host: '**' must be the whole first label (as in "
	  "**.example.com), got 'a**.example.com'" },
	{ "ep_host_bad_char",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: api.exa$mple.com\n"
	  "        port: 443\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "5:15: network_policies.api.endpoints[0].host: invalid character '$' in host "
	  "'api.exa$mple.com' (expected a DNS name, IP address or wildcard like *.example.com)" },
	{ "ep_host_empty_label",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: api..example.com\n"
	  "        port: 443\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "5:15: network_policies.api.endpoints[0].host: expected a host name with labels of 1..63 "
	  "characters, got 'api..example.com'" },
	{ "ep_host_loopback",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: 127.0.0.1\n"
	  "        port: 443\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "5:15: network_policies.api.endpoints[0].host: '127.0.0.1' is a loopback address, which "
	  "osh never allows as a destination" },
	{ "ep_host_v6_loopback",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: \"::1\"\n"
	  "        port: 443\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "5:15: network_policies.api.endpoints[0].host: '::1' is a loopback address, which osh "
	  "never allows as a destination" },
	{ "ep_host_bad_ip",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: 1.2.3.999\n"
	  "        port: 443\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "5:15: network_policies.api.endpoints[0].host: expected an IP address, got '1.2.3.999'" },
	{ "ep_unknown_key",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: api.example.com\n"
	  "        port: 443\n"
	  "        hots: x\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "7:9: network_policies.api.endpoints[0]: unknown key 'hots' (expected one of host, port, "
	  "ports, protocol, tls, enforcement, access, rules, deny_rules, allowed_ips)" },
	{ "ep_dup_key",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: api.example.com\n"
	  "        port: 443\n"
	  "        host: b.example.com\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "7:9: network_policies.api.endpoints[0]: duplicate key 'host' (first at line 5 column "
	  "9)" },
	{ "ep_protocol_unknown",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: api.example.com\n"
	  "        port: 443\n"
	  "        protocol: ftp\n"
	  "        access: full\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "7:19: network_policies.api.endpoints[0].protocol: expected one of tcp, rest, websocket, "
	  "graphql, got 'ftp'" },
	{ "ep_protocol_mcp",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: api.example.com\n"
	  "        port: 443\n"
	  "        protocol: mcp\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "7:19: network_policies.api.endpoints[0].protocol: 'mcp' is not enforceable yet by osh "
	  "(see docs/policy.md)" },
	{ "ep_protocol_sql",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: db.example.com\n"
	  "        port: 5432\n"
	  "        protocol: sql\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "7:19: network_policies.api.endpoints[0].protocol: 'sql' is not enforceable yet by osh "
	  "(see docs/policy.md)" },
	{ "ep_tls_bad",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: api.example.com\n"
	  "        port: 443\n"
	  "        tls: off\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "7:14: network_policies.api.endpoints[0].tls: expected one of skip, terminate, "
	  "passthrough, got 'off'" },
	{ "ep_enforcement_bad",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: api.example.com\n"
	  "        port: 443\n"
	  "        protocol: rest\n"
	  "        access: full\n"
	  "        enforcement: warn\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "9:22: network_policies.api.endpoints[0].enforcement: expected one of enforce, audit, "
	  "got 'warn'" },
	{ "ep_audit_l4",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: api.example.com\n"
	  "        port: 443\n"
	  "        enforcement: audit\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "7:22: network_policies.api.endpoints[0].enforcement: audit requires protocol rest, "
	  "websocket or graphql (L4 endpoints are always enforced)" },
	{ "ep_access_bad",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: api.example.com\n"
	  "        port: 443\n"
	  "        protocol: rest\n"
	  "        access: readonly\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "8:17: network_policies.api.endpoints[0].access: expected one of read-only, read-write, "
	  "full, got 'readonly'" },
	{ "ep_access_no_protocol",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: api.example.com\n"
	  "        port: 443\n"
	  "        access: read-only\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "7:9: network_policies.api.endpoints[0].access: requires protocol rest, websocket or "
	  "graphql" },
	{ "ep_access_tcp",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: api.example.com\n"
	  "        port: 443\n"
	  "        protocol: tcp\n"
	  "        access: full\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "8:9: network_policies.api.endpoints[0].access: requires protocol rest, websocket or "
	  "graphql" },
	{ "ep_rules_and_access",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: api.example.com\n"
	  "        port: 443\n"
	  "        protocol: rest\n"
	  "        access: full\n"
	  "        rules:\n"
	  "          - allow: { method: GET }\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "9:9: network_policies.api.endpoints[0].rules: access and rules are mutually exclusive" },
	{ "ep_rules_no_protocol",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: api.example.com\n"
	  "        port: 443\n"
	  "        rules:\n"
	  "          - allow: { method: GET }\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "7:9: network_policies.api.endpoints[0].rules: requires protocol rest, websocket or "
	  "graphql" },
	{ "ep_l7_without_rules",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: api.example.com\n"
	  "        port: 443\n"
	  "        protocol: rest\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "7:19: network_policies.api.endpoints[0].protocol: an L7 protocol requires rules or "
	  "access to define the allowed requests" },
	{ "ep_rules_empty",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: api.example.com\n"
	  "        port: 443\n"
	  "        protocol: rest\n"
	  "        rules: []\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "8:16: network_policies.api.endpoints[0].rules: expected a non-empty list of rules "
	  "({allow: {...}}), got an empty list" },
	{ "ep_deny_rules_empty",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: api.example.com\n"
	  "        port: 443\n"
	  "        protocol: rest\n"
	  "        access: full\n"
	  "        deny_rules: []\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "9:21: network_policies.api.endpoints[0].deny_rules: expected a non-empty list of deny "
	  "rules, got an empty list" },
	{ "ep_deny_rules_no_protocol",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: api.example.com\n"
	  "        port: 443\n"
	  "        deny_rules:\n"
	  "          - { method: DELETE }\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "7:9: network_policies.api.endpoints[0].deny_rules: requires protocol rest, websocket or "
	  "graphql (L7 inspection)" },
	{ "ep_deny_rules_no_allow_set",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: api.example.com\n"
	  "        port: 443\n"
	  "        protocol: rest\n"
	  "        deny_rules:\n"
	  "          - { method: DELETE }\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "8:9: network_policies.api.endpoints[0].deny_rules: requires rules or access as the "
	  "allow set" },
	{ "rule_missing_allow",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: api.example.com\n"
	  "        port: 443\n"
	  "        protocol: rest\n"
	  "        rules:\n"
	  "          - { method: GET }\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "9:13: network_policies.api.endpoints[0].rules[0]: missing required key 'allow'\n"
	  "9:15: network_policies.api.endpoints[0].rules[0]: unknown key 'method' (expected one of "
	  "allow)" },
	{ "rule_empty_allow",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: api.example.com\n"
	  "        port: 443\n"
	  "        protocol: rest\n"
	  "        rules:\n"
	  "          - allow: {}\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "9:20: network_policies.api.endpoints[0].rules[0].allow: expected at least one of "
	  "method, path, query" },
	{ "rule_bad_method",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: api.example.com\n"
	  "        port: 443\n"
	  "        protocol: rest\n"
	  "        rules:\n"
	  "          - allow: { method: \"GET /\" }\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "9:30: network_policies.api.endpoints[0].rules[0].allow.method: expected an HTTP method "
	  "such as GET or \"*\", got 'GET /'" },
	{ "rule_bad_path",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: api.example.com\n"
	  "        port: 443\n"
	  "        protocol: rest\n"
	  "        rules:\n"
	  "          - allow: { path: repos/x }\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "9:28: network_policies.api.endpoints[0].rules[0].allow.path: expected a path glob "
	  "starting with '/', got 'repos/x'" },
	{ "rule_query_not_map",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: api.example.com\n"
	  "        port: 443\n"
	  "        protocol: rest\n"
	  "        rules:\n"
	  "          - allow: { method: GET, query: [a] }\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "9:42: network_policies.api.endpoints[0].rules[0].allow.query: expected a mapping of "
	  "parameter name to glob, got a list" },
	{ "rule_query_any_empty",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: api.example.com\n"
	  "        port: 443\n"
	  "        protocol: rest\n"
	  "        rules:\n"
	  "          - allow:\n"
	  "              method: GET\n"
	  "              query: { repo: { any: [] } }\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "11:37: network_policies.api.endpoints[0].rules[0].allow.query.repo.any: expected a "
	  "non-empty list of globs, got an empty list" },
	{ "rule_query_bad_key",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: api.example.com\n"
	  "        port: 443\n"
	  "        protocol: rest\n"
	  "        rules:\n"
	  "          - allow:\n"
	  "              query: { repo: { all: [x] } }\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "10:30: network_policies.api.endpoints[0].rules[0].allow.query.repo: missing required "
	  "key 'any'\n"
	  "10:32: network_policies.api.endpoints[0].rules[0].allow.query.repo: unknown key 'all' "
	  "(expected one of any)" },
	{ "rule_command_unsupported",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: api.example.com\n"
	  "        port: 443\n"
	  "        protocol: rest\n"
	  "        rules:\n"
	  "          - allow: { command: SELECT }\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "9:22: network_policies.api.endpoints[0].rules[0].allow.command: not enforceable yet by "
	  "osh; remove it (docs/policy.md lists what osh enforces)" },
	{ "deny_rule_unknown_key",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: api.example.com\n"
	  "        port: 443\n"
	  "        protocol: rest\n"
	  "        access: full\n"
	  "        deny_rules:\n"
	  "          - { verb: DELETE }\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "10:13: network_policies.api.endpoints[0].deny_rules[0]: expected at least one of "
	  "method, path, query\n"
	  "10:15: network_policies.api.endpoints[0].deny_rules[0]: unknown key 'verb' (expected "
	  "one of method, path, query)" },
	{ "ep_credential_signing",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: api.example.com\n"
	  "        port: 443\n"
	  "        credential_signing: sigv4\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "7:9: network_policies.api.endpoints[0].credential_signing: not enforceable yet by osh; "
	  "remove it (docs/policy.md lists what osh enforces)" },
	{ "ep_path_unsupported",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: api.example.com\n"
	  "        port: 443\n"
	  "        path: /v1\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "7:9: network_policies.api.endpoints[0].path: not enforceable yet by osh; remove it "
	  "(docs/policy.md lists what osh enforces)" },
	{ "ep_mcp_unsupported",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: api.example.com\n"
	  "        port: 443\n"
	  "        mcp: { max_body_bytes: 10 }\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "7:9: network_policies.api.endpoints[0].mcp: not enforceable yet by osh; remove it "
	  "(docs/policy.md lists what osh enforces)" },
	{ "allowed_ips_loopback",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: db.example.com\n"
	  "        port: 5432\n"
	  "        allowed_ips: [127.0.0.0/8]\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "7:23: network_policies.api.endpoints[0].allowed_ips[0]: '127.0.0.0/8' covers loopback "
	  "addresses, which osh never allows" },
	{ "allowed_ips_covers_loopback",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: db.example.com\n"
	  "        port: 5432\n"
	  "        allowed_ips: [0.0.0.0/0]\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "7:23: network_policies.api.endpoints[0].allowed_ips[0]: '0.0.0.0/0' covers loopback "
	  "addresses, which osh never allows" },
	{ "allowed_ips_link_local",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: db.example.com\n"
	  "        port: 5432\n"
	  "        allowed_ips: [169.254.169.254]\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "7:23: network_policies.api.endpoints[0].allowed_ips[0]: '169.254.169.254' covers "
	  "link-local addresses, which osh never allows" },
	{ "allowed_ips_unspecified",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: db.example.com\n"
	  "        port: 5432\n"
	  "        allowed_ips: [0.0.0.0]\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "7:23: network_policies.api.endpoints[0].allowed_ips[0]: '0.0.0.0' covers unspecified "
	  "(0.0.0.0) addresses, which osh never allows" },
	{ "allowed_ips_v6_link_local",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: db.example.com\n"
	  "        port: 5432\n"
	  "        allowed_ips: [\"fe80::/64\"]\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "7:23: network_policies.api.endpoints[0].allowed_ips[0]: 'fe80::/64' covers link-local "
	  "addresses, which osh never allows" },
	{ "allowed_ips_v4_mapped_loopback",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: db.example.com\n"
	  "        port: 5432\n"
	  "        allowed_ips: [\"::ffff:127.0.0.1\"]\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "7:23: network_policies.api.endpoints[0].allowed_ips[0]: '::ffff:127.0.0.1' covers "
	  "loopback addresses, which osh never allows" },
	{ "allowed_ips_host_bits",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: db.example.com\n"
	  "        port: 5432\n"
	  "        allowed_ips: [10.0.5.1/24]\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "7:23: network_policies.api.endpoints[0].allowed_ips[0]: host bits are set in "
	  "'10.0.5.1/24' (expected the network address)" },
	{ "allowed_ips_garbage",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: db.example.com\n"
	  "        port: 5432\n"
	  "        allowed_ips: [10.0.5.0/33]\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "7:23: network_policies.api.endpoints[0].allowed_ips[0]: expected an IP address or CIDR "
	  "like 10.0.5.0/24, got '10.0.5.0/33'" },
	{ "allowed_ips_empty",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - host: db.example.com\n"
	  "        port: 5432\n"
	  "        allowed_ips: []\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "7:22: network_policies.api.endpoints[0].allowed_ips: expected a non-empty list of IP "
	  "addresses or CIDRs, got an empty list" },
	{ "binary_relative",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - { host: api.example.com, port: 443 }\n"
	  "    binaries:\n"
	  "      - path: curl\n",
	  "7:15: network_policies.api.binaries[0].path: expected an absolute path, got 'curl'" },
	{ "binary_dotdot",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - { host: api.example.com, port: 443 }\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/../bin/curl\n",
	  "7:15: network_policies.api.binaries[0].path: '..' is not allowed in paths, got "
	  "'/usr/bin/../bin/curl'" },
	{ "binary_missing_path",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - { host: api.example.com, port: 443 }\n"
	  "    binaries:\n"
	  "      - { harness: true }\n",
	  "7:9: network_policies.api.binaries[0]: missing required key 'path'" },
	{ "binary_unknown_key",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - { host: api.example.com, port: 443 }\n"
	  "    binaries:\n"
	  "      - { path: /usr/bin/curl, sha256: abc }\n",
	  "7:32: network_policies.api.binaries[0]: unknown key 'sha256' (expected one of path)" },
	{ "binary_not_map",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    endpoints:\n"
	  "      - { host: api.example.com, port: 443 }\n"
	  "    binaries:\n"
	  "      - /usr/bin/curl\n",
	  "7:9: network_policies.api.binaries[0]: expected a mapping with a path, got "
	  "'/usr/bin/curl'" },
	{ "several_errors",
	  "version: 3\n"
	  "filesystem_policy:\n"
	  "  read_write: [/, tmp]\n"
	  "process:\n"
	  "  run_as_user: 0\n"
	  "network_policies:\n"
	  "  x:\n"
	  "    endpoints:\n"
	  "      - { host: \"*\", port: 0 }\n"
	  "    binaries: [{ path: curl }]\n",
	  "1:10: version: expected 1 (the only schema version), got '3'\n"
	  "3:16: filesystem_policy.read_write[0]: '/' is not allowed in read_write (expected a "
	  "narrower path)\n"
	  "3:19: filesystem_policy.read_write[1]: expected an absolute path, got 'tmp'\n"
	  "5:16: process.run_as_user: id 0 (root) is not allowed (expected \"sandbox\" or a "
	  "numeric id in 1..4294967294)\n"
	  "9:17: network_policies.x.endpoints[0].host: a bare wildcard matches every host "
	  "(expected e.g. *.example.com)\n"
	  "9:28: network_policies.x.endpoints[0].port: expected a port number in 1..65535, got "
	  "'0'\n"
	  "10:24: network_policies.x.binaries[0].path: expected an absolute path, got 'curl'" },
	{ "name_not_string",
	  "version: 1\n"
	  "network_policies:\n"
	  "  api:\n"
	  "    name: [a]\n"
	  "    endpoints:\n"
	  "      - { host: api.example.com, port: 443 }\n"
	  "    binaries:\n"
	  "      - path: /usr/bin/curl\n",
	  "4:11: network_policies.api.name: expected a name, got a list" },
	{ "leading_zeros",
	  "version: 1\n"
	  "process: {run_as_user: 0755}\n"
	  "network_policies:\n"
	  "  \"\": {endpoints: [{host: a.example.com, port: 0443}], binaries: [{path: /b}]}\n",
	  "2:24: process.run_as_user: expected \"sandbox\" or a numeric id in 1..4294967294, got "
	  "'0755'\n"
	  "4:3: network_policies.: expected a name of 1..255 characters\n"
	  "4:48: network_policies..endpoints[0].port: expected a port number in 1..65535, got "
	  "'0443'" },
	/* Fuzzer find: the slot of a failed network policy was reused without being cleared, so
	 * the next entry inherited its binary count (heap overflow, NULL path in strcmp). */
	{ "regression_failed_rule_slot_reuse",
	  "version: 1\n"
	  "network_policies:\n"
	  "  a:\n"
	  "    endpoints:\n"
	  "      - { host: a.example.com, port :443 }\n"
	  "    binaries: [{ path: /bin/a1 }, { path: /bin/a2 }, { path: /bin/a3 }]\n"
	  "  b:\n"
	  "    endpoints: [{ host: b.example.com, port: 443 }]\n"
	  "    binaries: [{ path: /bin/b }]\n",
	  "5:9: network_policies.a.endpoints[0]: missing required key 'port' (or 'ports')\n"
	  "5:32: network_policies.a.endpoints[0]: unknown key 'port :443' (expected one of host, "
	  "port, ports, protocol, tls, enforcement, access, rules, deny_rules, allowed_ips)" },
};

static const struct invalid_case json_cases[] = {
	{ "json_syntax",
	  "{\n"
	  "  \"version\": 1,\n"
	  "  \"landlock\": {\n"
	  "}\n",
	  "4:2: JSON syntax error" },
	{ "json_trailing",
	  "{\"version\": 1}\n"
	  "{\"version\": 1}\n",
	  "2:1: JSON syntax error: unexpected data after the document" },
	{ "json_root_array", "[1, 2]\n", "1:1: expected a mapping with version: 1, got a list" },
	{ "json_version_string", "{\"version\": \"1\"}",
	  "1:13: version: expected 1, got the string \"1\" (write numbers without quotes)" },
	{ "json_version_float",
	  "{\n"
	  "  \"version\": 1.0\n"
	  "}\n",
	  "2:14: version: expected 1, got '1.0'" },
	{ "json_duplicate_key",
	  "{\n"
	  "  \"version\": 1,\n"
	  "  \"version\": 1\n"
	  "}\n",
	  "3:3: duplicate key 'version' (first at line 2 column 3)" },
	{ "json_unknown_key",
	  "{\n"
	  "  \"version\": 1,\n"
	  "  \"filesystem_policy\": {\n"
	  "    \"read_only\": [\"/usr\"],\n"
	  "    \"readonly\": [\"/etc\"]\n"
	  "  }\n"
	  "}\n",
	  "5:5: filesystem_policy: unknown key 'readonly' (expected one of include_workdir, "
	  "read_only, read_write, deny)" },
	{ "json_port_zero",
	  "{\"version\": 1, \"network_policies\": {\"api\": {\n"
	  "  \"endpoints\": [{\"host\": \"api.example.com\", \"port\": 0}],\n"
	  "  \"binaries\": [{\"path\": \"/usr/bin/curl\"}]}}}\n",
	  "2:53: network_policies.api.endpoints[0].port: expected a port number in 1..65535, got "
	  "'0'" },
	{ "json_utf8_columns",
	  "{\"version\": 1, \"network_policies\": {\"ü\": {\n"
	  "  \"name\": \"ééé\", \"endpoints\": [{\"host\": \"api.example.com\", \"port\": 443, "
	  "\"tls\": \"x\"}],\n"
	  "  \"binaries\": [{\"path\": \"/usr/bin/curl\"}]}}}\n",
	  "2:80: network_policies.ü.endpoints[0].tls: expected one of skip, terminate, "
	  "passthrough, got 'x'" },
	{ "json_bool_for_list", "{\"version\": 1, \"filesystem_policy\": {\"read_only\": true}}",
	  "1:51: filesystem_policy.read_only: expected a list of absolute paths, got 'true'" },
	{ "json_null_version", "{\"version\": null}", "1:13: version: expected 1, got null" },
	{ "json_control_char",
	  "{\"version\": 1, \"network_policies\": {\"a\": {\"name\": \"x\\u0001y\", \"endpoints\": "
	  "[{\"host\": \"a.example.com\", \"port\": 1}], \"binaries\": [{\"path\": \"/b\"}]}}}",
	  "1:51: network_policies.a.name: contains a control character or invalid UTF-8 (expected "
	  "a name)" },
	/* Fuzzer find: map keys were not checked for UTF-8, so a valid policy dumped to YAML that
	 * libyaml refused to emit (the canonical form must always exist). */
	{ "regression_json_invalid_utf8_key",
	  "{\"version\": 1, \"network_policies\": {\"a\": {\"endpoints\": [{\"host\": "
	  "\"a.example.com\", \"port\": 443,\n"
	  "  \"protocol\": \"rest\", \"rules\": [{\"allow\": {\"query\": {\"per\xff_page\": "
	  "\"1*\"}}}]}],\n"
	  "  \"binaries\": [{\"path\": \"/b\"}]}}}\n",
	  "2:54: network_policies.a.endpoints[0].rules[0].allow.query: mapping key contains a "
	  "control character or invalid UTF-8" },
};

/* Parses doc and returns every diagnostic as `LINE:COL: message` lines (caller frees). */
static char *diagnose(const char *file, const char *doc, size_t len, enum osh_policy_format fmt)
{
	struct osh_diag_list diags = { 0 };
	struct osh_policy *p = NULL;
	char *out = NULL;
	size_t outlen = 0;
	FILE *f;
	int r;

	r = osh_policy_parse_buffer(file, doc, len, fmt, &p, &diags);
	assert_int_equal(r, -EINVAL);
	assert_null(p);
	assert_true(diags.n > 0);
	f = open_memstream(&out, &outlen);
	assert_non_null(f);
	for (size_t i = 0; i < diags.n; i++) {
		char *s;

		assert_int_equal(osh_diag_format(&diags.items[i], &s), 0);
		/* Every line names the file first. */
		assert_int_equal(strncmp(s, file, strlen(file)), 0);
		assert_int_equal(s[strlen(file)], ':');
		fprintf(f, "%s%s", i ? "\n" : "", s + strlen(file) + 1);
		free(s);
	}
	fclose(f);
	osh_diag_list_clear(&diags);
	return out;
}

static void check_case(const struct invalid_case *c, enum osh_policy_format fmt)
{
	char *got = diagnose(fmt == OSH_POLICY_FORMAT_JSON ? "t.json" : "t.yaml", c->doc,
			     strlen(c->doc), fmt);

	if (strcmp(got, c->expected))
		print_error("case %s:\n--- expected\n%s\n--- got\n%s\n", c->name, c->expected, got);
	assert_string_equal(got, c->expected);
	free(got);
}

static void test_yaml_case(void **state)
{
	check_case(*state, OSH_POLICY_FORMAT_YAML);
}

static void test_json_case(void **state)
{
	check_case(*state, OSH_POLICY_FORMAT_JSON);
}

/* Cases whose documents are too big to write inline. */
static void test_path_too_long(void **state)
{
	char *doc, *got;

	(void)state;
	assert_true(
	    asprintf(&doc, "version: 1\nfilesystem_policy:\n  read_only: [/%0*d]\n", 4096, 0) > 0);
	got = diagnose("t.yaml", doc, strlen(doc), OSH_POLICY_FORMAT_YAML);
	assert_string_equal(got, "3:15: filesystem_policy.read_only[0]: too long: 4097 bytes "
				 "(at most 4096)");
	free(got);
	free(doc);
}

static void test_too_many_paths(void **state)
{
	char *doc = NULL, *got;
	size_t len = 0;
	FILE *f = open_memstream(&doc, &len);

	(void)state;
	fprintf(f, "version: 1\nfilesystem_policy:\n  read_only: [/p0");
	for (int i = 1; i < 200; i++)
		fprintf(f, ", /p%d", i);
	fprintf(f, "]\n  deny: [/d0");
	for (int i = 1; i < 57; i++)
		fprintf(f, ", /d%d", i);
	fprintf(f, "]\n");
	fclose(f);
	got = diagnose("t.yaml", doc, len, OSH_POLICY_FORMAT_YAML);
	assert_string_equal(got, "3:3: filesystem_policy: too many paths: 257 (at most 256 over "
				 "read_only, read_write and deny)");
	free(got);
	free(doc);
}

static void test_too_many_binaries(void **state)
{
	char *doc = NULL, *got;
	size_t len = 0;
	FILE *f = open_memstream(&doc, &len);

	(void)state;
	/* 65 distinct binaries over two rules; a repeated one is counted once. */
	fprintf(f, "version: 1\nnetwork_policies:\n");
	for (int r = 0; r < 2; r++) {
		fprintf(f,
			"  r%d:\n    endpoints: [{ host: api.example.com, port: 443 }]\n"
			"    binaries: [{ path: /b/shared }",
			r);
		for (int i = 0; i < 32; i++)
			fprintf(f, ", { path: /b/%d/%d }", r, i);
		fprintf(f, "]\n");
	}
	fclose(f);
	got = diagnose("t.yaml", doc, len, OSH_POLICY_FORMAT_YAML);
	assert_string_equal(got, "3:3: network_policies: too many distinct binaries: 65 (at most "
				 "64)");
	free(got);
	free(doc);
}

/* Rule r0: one endpoint with 2048 allowed_ips times 64 ports, OSH_EGRESS_MAX_ADDR_ENTRIES address
 * entries; r1 repeats it (equal entries count once) and, with extra, adds one more at line 12. */
static char *addr_entries_doc(bool extra, size_t *ret_len)
{
	char *doc = NULL;
	FILE *f = open_memstream(&doc, ret_len);

	fprintf(f, "version: 1\nnetwork_policies:\n");
	for (int r = 0; r < 2; r++) {
		fprintf(f, "  r%d:\n    endpoints:\n      - allowed_ips: [\"2001:db8::1\"", r);
		for (int i = 2; i <= 2048; i++)
			fprintf(f, ", \"2001:db8::%x\"", i);
		fprintf(f, "]\n        ports: [30000");
		for (int i = 1; i < 64; i++)
			fprintf(f, ", %d", 30000 + i);
		fprintf(f, "]\n");
		if (r == 1 && extra)
			fprintf(f, "      - { host: 198.51.100.1, port: 443 }\n");
		fprintf(f, "    binaries: [{ path: /usr/bin/curl }]\n");
	}
	fclose(f);
	return doc;
}

static void test_too_many_addr_entries(void **state)
{
	struct osh_policy *p = NULL;
	size_t len = 0;
	char *doc = addr_entries_doc(false, &len), *got;

	(void)state;
	_Static_assert(OSH_EGRESS_MAX_ADDR_ENTRIES == 2048 * 64, "the document fills the trie");
	/* Exactly the limit, though twice as many counting the repeated endpoint. */
	assert_int_equal(
	    osh_policy_parse_buffer("t.yaml", doc, len, OSH_POLICY_FORMAT_YAML, &p, NULL), 0);
	osh_policy_free(p);
	free(doc);
	doc = addr_entries_doc(true, &len);
	got = diagnose("t.yaml", doc, len, OSH_POLICY_FORMAT_YAML);
	assert_string_equal(got, "12:9: network_policies.r1.endpoints[1]: the policy passes 131072 "
				 "address entries here (each host address or allowed_ips range "
				 "times each port), the most one sandbox's kernel trie holds");
	free(got);
	free(doc);
}

/* The file-level errors of osh_policy_parse_file. */
static void test_missing_file(void **state)
{
	struct osh_diag_list diags = { 0 };
	struct osh_policy *p = NULL;
	char *s;

	(void)state;
	assert_int_equal(osh_policy_parse_file("/nonexistent/osh-policy.yaml",
					       OSH_POLICY_FORMAT_AUTO, &p, &diags),
			 -ENOENT);
	assert_int_equal(diags.n, 1);
	assert_int_equal(osh_diag_format(&diags.items[0], &s), 0);
	assert_string_equal(s, "/nonexistent/osh-policy.yaml:0:0: cannot open: No such file or "
			       "directory");
	free(s);
	osh_diag_list_clear(&diags);
}

int main(void)
{
	size_t ny = sizeof(yaml_cases) / sizeof(yaml_cases[0]);
	size_t nj = sizeof(json_cases) / sizeof(json_cases[0]);
	struct CMUnitTest *tests = calloc(ny + nj + 5, sizeof(*tests));
	size_t n = 0;
	int r;

	if (!tests)
		return 1;
	for (size_t i = 0; i < ny; i++)
		tests[n++] = (struct CMUnitTest){ .name = yaml_cases[i].name,
						  .test_func = test_yaml_case,
						  .initial_state = (void *)&yaml_cases[i] };
	for (size_t i = 0; i < nj; i++)
		tests[n++] = (struct CMUnitTest){ .name = json_cases[i].name,
						  .test_func = test_json_case,
						  .initial_state = (void *)&json_cases[i] };
	tests[n++] =
	    (struct CMUnitTest){ .name = "path_too_long", .test_func = test_path_too_long };
	tests[n++] =
	    (struct CMUnitTest){ .name = "too_many_paths", .test_func = test_too_many_paths };
	tests[n++] =
	    (struct CMUnitTest){ .name = "too_many_binaries", .test_func = test_too_many_binaries };
	tests[n++] = (struct CMUnitTest){ .name = "too_many_addr_entries",
					  .test_func = test_too_many_addr_entries };
	tests[n++] = (struct CMUnitTest){ .name = "missing_file", .test_func = test_missing_file };
	r = _cmocka_run_group_tests("policy_invalid", tests, n, NULL, NULL);
	free(tests);
	return r;
}
