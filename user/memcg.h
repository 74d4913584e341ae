/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * A component's own memory cgroup (the reclaim and hibernate actions):
 * whether the component owns one - a cgroup2 group with the memory
 * controller that its processes, and only they, populate - and if so,
 * paging it out through memory.reclaim in bounded batches, so that the
 * kernel reclaims what is charged there (page cache it read, not only what
 * its processes map) with the memcg's own LRU order.
 */
#ifndef MEMSHED_MEMCG_H
#define MEMSHED_MEMCG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MEMCG_PATH_MAX		1024
#define MEMCG_MEMBERS_MAX	4096	/* more processes in its subtree: not owned */

enum memcg_verdict {
	MEMCG_OWNED,		/* memory.reclaim on it */
	MEMCG_NO_CGROUP2,	/* no cgroup2 mount, or a process not seen through it */
	MEMCG_SPLIT,		/* its processes are in more than one cgroup */
	MEMCG_ROOT,		/* they are in the root cgroup */
	MEMCG_MEMSHED,		/* they are in memshed's own group (frozen): charged elsewhere */
	MEMCG_SHARED,		/* other processes populate the cgroup or its subtree */
	MEMCG_NO_CONTROLLER,	/* the memory controller is not enabled for it */
	MEMCG_CHANGED,		/* its processes changed while it was looked at */
	MEMCG_FAILED,		/* memory.reclaim failed: paged out by process instead */
};

/* What the choice is made from; memcg_find gathers it. */
struct memcg_facts {
	const char *const *dirs;	/* each process's cgroup2 directory (NULL: unknown) */
	const pid_t *pids;		/* the component's processes, in the order of dirs */
	int nr;
	const pid_t *members;		/* every process in the subtree of the top one */
	int nr_members;			/* > MEMCG_MEMBERS_MAX: too many to tell */
	const char *mount;		/* the cgroup2 mount point */
	const char *memshed_root;	/* memshed's own groups (freezer.h), "" if none */
	bool controller;		/* dirs[0]/memory.reclaim exists */
};

/* Pure: the cgroup holding all of dirs[0..nr) - the one of them the others
 * lie within - or -1 if there is none (or a dir is unknown). */
int memcg_top(const char *const *dirs, int nr);
/* Pure: does the component own that cgroup (members: of its subtree)?
 * Unit-tested. */
enum memcg_verdict memcg_judge(const struct memcg_facts *f);
const char *memcg_verdict_why(enum memcg_verdict v);

/*
 * Gather the facts for pids (the component's processes as the registry
 * lists them: the caller checks afterwards that it holds verified pidfds to
 * exactly these, so the cgroups read were theirs) and judge: on MEMCG_OWNED
 * (and MEMCG_NO_CONTROLLER: owned, but without memory.reclaim; the freezer
 * freezes such a group in place) the cgroup's directory is in ret. memshed_root: the freezer's parent
 * group (processes are moved there when frozen).
 */
enum memcg_verdict memcg_find(const pid_t *pids, int nr, const char *memshed_root, char *ret,
			      size_t size);

/* memory.current of a cgroup directory, bytes (0 if unreadable). */
uint64_t memcg_current(const char *dir);
/* Open dir/memory.reclaim for writing: an fd or -errno. */
int memcg_reclaim_open(const char *dir);
/* Ask the kernel to reclaim `bytes` from it: 0 done; 1 it could not (EAGAIN:
 * nothing more goes, e.g. only anonymous memory left and no swap); -errno. */
int memcg_reclaim_batch(int fd, uint64_t bytes);

#endif
