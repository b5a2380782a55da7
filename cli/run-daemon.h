/* SPDX-License-Identifier: Apache-2.0 */
/* `oshctl run` through oshd (cli/run-daemon.c), tried by cmd-run.c before embedded mode. */
#ifndef OSH_CLI_RUN_DAEMON_H
#define OSH_CLI_RUN_DAEMON_H

#define OSHCTL_RUN_EMBEDDED (-1)

/* Takes --embedded and --daemon out of argv (updating *argc; the remaining options are
 * cmd-run's). Returns OSHCTL_RUN_EMBEDDED when the run is embedded: --embedded, no daemon
 * answering on the socket, a daemon in other namespaces than the caller's (unless --daemon),
 * --help or a usage error (cmd-run reports those). Otherwise runs the command in an ephemeral
 * sandbox of oshd and returns its exit status, or 125 when osh failed. */
int oshctl_run_daemon(int *argc, char **argv);

#endif
