/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* cgroup plumbing: where the hierarchies are mounted (from mountinfo). */
#ifndef MEMSHED_CGROUP_H
#define MEMSHED_CGROUP_H

#include <limits.h>
#include <stdbool.h>

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

#endif
