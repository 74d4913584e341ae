// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * A component's own memory cgroup (memcg.h). The choice is a pure
 * function of facts gathered from /proc/PID/cgroup and cgroupfs; the
 * reclaim is one write of a byte count to memory.reclaim per loop turn,
 * which the kernel honours by reclaiming at least that much from the
 * group, or fails with EAGAIN when it cannot (it has tried its retries).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup.h"
#include "memcg.h"
#include "output.h"

#define MEMCG_DEPTH_MAX		16	/* nesting walked below the group */

const char *memcg_verdict_why(enum memcg_verdict v)
{
	switch (v) {
	case MEMCG_OWNED: return "its own cgroup";
	case MEMCG_NO_CGROUP2: return "no cgroup2 holds its processes";
	case MEMCG_SPLIT: return "its processes are in different cgroups";
	case MEMCG_ROOT: return "its processes are in the root cgroup";
	case MEMCG_MEMSHED: return "its processes are in memshed's freezer group";
	case MEMCG_SHARED: return "other processes share its cgroup";
	case MEMCG_NO_CONTROLLER: return "the memory controller is not enabled for its cgroup";
	case MEMCG_CHANGED: return "its processes changed while its cgroup was looked at";
	case MEMCG_FAILED: return "memory.reclaim failed";
	}
	return "?";
}

int memcg_top(const char *const *dirs, int nr)
{
	int top = -1;

	for (int i = 0; i < nr; i++) {
		if (!dirs[i])
			return -1;
		if (top < 0 || strlen(dirs[i]) < strlen(dirs[top]))
			top = i;
	}
	for (int i = 0; i < nr; i++)
		if (!path_within(dirs[i], dirs[top]))
			return -1;
	return top;
}

static bool has_pid(const pid_t *pids, int nr, pid_t pid)
{
	for (int i = 0; i < nr; i++)
		if (pids[i] == pid)
			return true;
	return false;
}

enum memcg_verdict memcg_judge(const struct memcg_facts *f)
{
	int top;

	if (!f->mount || f->nr <= 0)
		return MEMCG_NO_CGROUP2;
	for (int i = 0; i < f->nr; i++)
		if (!f->dirs[i] || !path_within(f->dirs[i], f->mount))
			return MEMCG_NO_CGROUP2;
	top = memcg_top(f->dirs, f->nr);
	if (top < 0)
		return MEMCG_SPLIT;
	if (!strcmp(f->dirs[top], f->mount))
		return MEMCG_ROOT;
	if (f->memshed_root && f->memshed_root[0] && path_within(f->dirs[top], f->memshed_root))
		return MEMCG_MEMSHED;
	if (f->nr_members > MEMCG_MEMBERS_MAX)
		return MEMCG_SHARED;
	for (int i = 0; i < f->nr_members; i++)
		if (!has_pid(f->pids, f->nr, f->members[i]))
			return MEMCG_SHARED;
	return f->controller ? MEMCG_OWNED : MEMCG_NO_CONTROLLER;
}

/* The processes of dir and of every group below it, into members[*n..max);
 * past max, *n goes on counting (the caller sees too many). */
static void collect_members(const char *dir, pid_t *members, int max, int *n, int depth)
{
	char path[MEMCG_PATH_MAX + 16], *line = NULL;
	struct dirent *de;
	size_t cap = 0;
	FILE *f;
	DIR *d;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	f = fopen(path, "re");
	while (f && getline(&line, &cap, f) > 0) {
		if (*n < max)
			members[*n] = atoi(line);
		(*n)++;
	}
	free(line);
	if (f)
		fclose(f);
	d = depth < MEMCG_DEPTH_MAX ? opendir(dir) : NULL;
	while (d && (de = readdir(d)) && *n <= max) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= MEMCG_PATH_MAX)
			continue;
		collect_members(path, members, max, n, depth + 1);
	}
	if (d)
		closedir(d);
	if (depth >= MEMCG_DEPTH_MAX)
		*n = max + 1;	/* deeper than we look: cannot tell */
}

enum memcg_verdict memcg_find(const pid_t *pids, int nr, const char *memshed_root, char *ret,
			      size_t size)
{
	char (*dirs)[MEMCG_PATH_MAX] = nr > 0 ? calloc(nr, MEMCG_PATH_MAX) : NULL;
	const char **dp = nr > 0 ? calloc(nr, sizeof(*dp)) : NULL;
	pid_t *members = malloc((MEMCG_MEMBERS_MAX + 1) * sizeof(*members));
	enum memcg_verdict v = MEMCG_NO_CGROUP2;
	struct cgroup_mount m;
	struct memcg_facts f = { .pids = pids, .nr = nr, .memshed_root = memshed_root };
	char file[MEMCG_PATH_MAX + 16];
	int top;

	if (!dirs || !dp || !members || cgroup_find_mount(NULL, NULL, &m) < 0)
		goto out;
	for (int i = 0; i < nr; i++)
		if (cgroup_dir_of(m.mnt, m.mnt_root, NULL, pids[i], dirs[i], MEMCG_PATH_MAX) == 0)
			dp[i] = dirs[i];
	f.dirs = dp;
	f.mount = m.mnt;
	f.members = members;
	top = memcg_top(dp, nr);
	if (top >= 0) {
		collect_members(dp[top], members, MEMCG_MEMBERS_MAX + 1, &f.nr_members, 0);
		snprintf(file, sizeof(file), "%s/memory.reclaim", dp[top]);
		f.controller = access(file, W_OK) == 0;
	}
	v = memcg_judge(&f);
	if ((v == MEMCG_OWNED || v == MEMCG_NO_CONTROLLER) &&
	    snprintf(ret, size, "%s", dp[top]) >= (int)size)
		v = MEMCG_NO_CGROUP2;
out:
	free(dirs);
	free(dp);
	free(members);
	return v;
}

uint64_t memcg_current(const char *dir)
{
	char path[MEMCG_PATH_MAX + 16], buf[32];

	snprintf(path, sizeof(path), "%s/memory.current", dir);
	if (read_file(path, buf, sizeof(buf)) <= 0)
		return 0;
	return strtoull(buf, NULL, 10);
}

int memcg_reclaim_open(const char *dir)
{
	char path[MEMCG_PATH_MAX + 16];
	int fd;

	snprintf(path, sizeof(path), "%s/memory.reclaim", dir);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int memcg_reclaim_batch(int fd, uint64_t bytes)
{
	char s[32];
	int n = snprintf(s, sizeof(s), "%" PRIu64, bytes);

	if (pwrite(fd, s, n, 0) == n)
		return 0;
	if (errno == EAGAIN)
		return 1;
	if (errno == EINTR)
		return 0;	/* a signal for us cut it short: the next turn goes on */
	return -errno;
}
