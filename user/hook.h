/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * exec: hooks: a program (argv, no shell) started for an unload with an
 * environment that names the component and nothing of the daemon's, in a
 * session of its own, reaped through its pidfd, killed with its process
 * group at the timeout.
 */
#ifndef MEMSHED_HOOK_H
#define MEMSHED_HOOK_H

#include <stdint.h>
#include <sys/types.h>
#include "pidref.h"
#include "values.h"

#define HOOK_REAP_WAIT_MS	100	/* SIGKILLed hook -> reaped, in-line */

/* PATH, MEMSHED_COMPONENT, _LEVEL, _RSS_BYTES, _ACTION=exec, _PIDS; NULL if
 * out of memory. */
char **hook_env_new(const char *component, enum level level, uint64_t rss_bytes,
		    const pid_t *pids, int nr);
void hook_env_free(char **env);
/* Start argv[0] with envp: 0 with *ret the hook (pid and pidfd), or -errno. */
int hook_spawn(char *const argv[], char *const envp[], struct pidref *ret);
/* Reap the hook if it has exited: 1 (its wait status in *ret_status, *h
 * closed), 0 still running, -errno. */
int hook_reap(struct pidref *h, int *ret_status);
/* SIGKILL the hook and its process group, and wait HOOK_REAP_WAIT_MS for it. */
void hook_kill(const struct pidref *h);

#endif
