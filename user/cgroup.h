/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* cgroup plumbing: where the hierarchies are mounted (from mountinfo). */
#ifndef MEMSHED_CGROUP_H
#define MEMSHED_CGROUP_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct cgroup_mount {
	char mnt[PATH_MAX];		/* mount point */
	char mnt_root[PATH_MAX];	/* root of the mount within its hierarchy */
	bool v2;
};

/*
 * Find the cgroup2 mount (controller == NULL), or the v1 mount carrying
 * `controller` (e.g. "memory", "freezer"), in /proc/self/mountinfo. With
 * under == NULL the first one wins; otherwise the one holding `under`
 * (longest prefix). 0 or -ENOENT.
 */
int cgroup_find_mount(const char *controller, const char *under, struct cgroup_mount *ret);

/* Is `want` one of the comma-separated options (a v1 mount's controllers)? */
bool cgroup_has_option(const char *opts, const char *want);
/* path equals dir or lies below it. */
bool path_within(const char *path, const char *dir);

/*
 * The cgroup of pid as an absolute directory under mnt (a mount whose root
 * within its hierarchy is mnt_root, mountinfo field 4), from
 * /proc/PID/cgroup: "0::/path" for cgroup2 (controller NULL), the line
 * naming `controller` for v1. 0; -ESRCH: gone; -ENOENT: not visible
 * through that mount; -ENAMETOOLONG.
 */
int cgroup_dir_of(const char *mnt, const char *mnt_root, const char *controller, pid_t pid,
		  char *buf, size_t size);

#endif
