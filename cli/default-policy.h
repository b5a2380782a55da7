/* SPDX-License-Identifier: Apache-2.0 */
/* The default policy compiled into oshctl (examples/default.yaml, generated at build time). */
#ifndef OSH_CLI_DEFAULT_POLICY_H
#define OSH_CLI_DEFAULT_POLICY_H

extern const char osh_default_policy_yaml[];
extern const unsigned osh_default_policy_yaml_len;

#endif
