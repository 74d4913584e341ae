/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The cgroup freezer of the freeze action: a memshed-owned cgroup per
 * component, <cgroup2 mount>/memshed/<component> (cgroup.freeze) or, on
 * hosts without cgroup2, <v1 freezer mount>/memshed/<component>
 * (freezer.state). Processes are moved in, frozen, and on thaw moved back
 * to the cgroups they came from.
 */
#ifndef MEMSHED_FREEZER_H
#define MEMSHED_FREEZER_H

#include <stdbool.h>
#include <stddef.h>
#include "pidref.h"

#define FREEZER_WAIT_MS		2000	/* cgroup -> frozen, else rolled back */
#define FREEZER_PATH_MAX	1024	/* a memshed cgroup or a process's original one */

struct freezer_state;		/* private to freezer.c */

struct freezer {
	char root[256];		/* memshed-owned cgroup parent ("" if none) */
	bool v2;
	struct freezer_state *state;	/* mounts, and where frozen pids came from */
	char state_dir[256];	/* records of frozen groups ("": none kept) */
};

/* The daemon's records of the groups it froze (owner, origins). */
#define FREEZER_STATE_DIR	"/run/memshed/frozen"

/*
 * root: the memshed-owned parent to use (tests: its file system decides
 * v1 or v2), or NULL to find one in /proc/self/mountinfo, cgroup2 first.
 * No freezer on the host is not an error (freezer_available says so).
 */
int freezer_init(struct freezer *f, const char *root);
void freezer_fini(struct freezer *f);	/* frozen cgroups stay frozen */
bool freezer_available(const struct freezer *f);
/* Keep a record of each frozen group in dir (NULL: none, the default). */
void freezer_set_state_dir(struct freezer *f, const char *dir);

/* The component's cgroup, created if needed; its path in cgdir. 0 or -errno
 * (-EINVAL: the name would leave the memshed directory). */
int freezer_group_create(struct freezer *f, const char *component, char *cgdir, size_t size);
/* Remove a group that got no process (an earlier freeze in it stays). */
void freezer_group_remove(struct freezer *f, const char *cgdir);
/* Move one process (verified by the caller) into the group. 0; -ESRCH: it
 * is gone; -ESTALE: it exited during the move and its PID went to another
 * process, which the move caught and which was put back out (logged);
 * -EBUSY: ... which could not be put back: do not freeze the group
 * (freezer_group_abort); -errno. */
int freezer_group_add(struct freezer *f, const char *cgdir, const struct pidref *p);
/* Give up on a group before freezing it: every process in it is moved
 * back to where it came from, and it is removed if empty. */
void freezer_group_abort(struct freezer *f, const char *cgdir);
/* Freeze the group and wait up to FREEZER_WAIT_MS. On failure it is thawed
 * again, processes moved back: -ETIMEDOUT or -errno. */
int freezer_group_freeze(struct freezer *f, const char *cgdir);

/*
 * Freezing without moving (issue 11): the processes' own cgroup2 group, if
 * they are all in one whose subtree holds nothing else and that is not the
 * root nor memshed's (memcg.c judges, as for memory.reclaim). Its path in
 * cgdir: 0, or -ENOENT (then they are moved into memshed's group as above).
 * The caller verifies the pids, then asks again.
 */
int freezer_own_cgroup(struct freezer *f, const pid_t *pids, int nr, char *cgdir, size_t size);
/* Freeze that group where it is (recorded under the component's name, so
 * freezer_thaw finds it); on failure it is unfrozen. 0 or -errno. */
int freezer_freeze_in_place(struct freezer *f, const char *component, const char *cgdir);

/* Thaw the component (in either hierarchy). 0, -ENOENT if not frozen, -EINVAL. */
int freezer_thaw(struct freezer *f, const char *component);
/* Thaw every memshed-owned group no live memshed owns (daemon start): its
 * record names a dead owner, or there is none. Returns count. */
int freezer_thaw_all(struct freezer *f);
bool freezer_is_frozen(struct freezer *f, const char *component);

#endif
