// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* cgroup plumbing: where the hierarchies are mounted (from mountinfo), and
 * which cgroup a process is in. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cgroup.h"

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape_octal(char *s)
{
	char *d = s;

	for (; *s; s++, d++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*d = (s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0');
			s += 3;
		} else {
			*d = *s;
		}
	}
	*d = '\0';
}

bool cgroup_has_option(const char *opts, const char *want)
{
	size_t len = strlen(want);
	const char *p = opts;

	while ((p = strstr(p, want))) {
		if ((p == opts || p[-1] == ',') && (p[len] == ',' || p[len] == '\0'))
			return true;
		p += len;
	}
	return false;
}

bool path_within(const char *path, const char *dir)
{
	size_t len = strlen(dir);

	if (len == 1 && dir[0] == '/')
		return path[0] == '/';
	return !strncmp(path, dir, len) && (path[len] == '/' || path[len] == '\0');
}

int cgroup_find_mount(const char *controller, const char *under, struct cgroup_mount *ret)
{
	char *line = NULL, *f[5], *sep, *fstype, *super, *save;
	size_t cap = 0, best = 0;
	FILE *file;
	int r = -ENOENT;

	file = fopen("/proc/self/mountinfo", "re");
	if (!file)
		return -errno;
	while (getline(&line, &cap, file) > 0) {
		/* id parent maj:min root point opts [optional...] - fstype source super */
		sep = strstr(line, " - ");
		if (!sep)
			continue;
		*sep = '\0';
		f[0] = strtok_r(line, " ", &save);
		for (int i = 1; i < 5 && f[i - 1]; i++)
			f[i] = strtok_r(NULL, " ", &save);
		fstype = strtok_r(sep + 3, " ", &save);
		strtok_r(NULL, " ", &save);
		super = strtok_r(NULL, " \n", &save);
		if (!f[0] || !f[4] || !fstype || !super)
			continue;
		if (controller ? strcmp(fstype, "cgroup") != 0 || !cgroup_has_option(super, controller)
			       : strcmp(fstype, "cgroup2") != 0)
			continue;
		unescape_octal(f[3]);
		unescape_octal(f[4]);
		if (under && (!path_within(under, f[4]) || strlen(f[4]) < best))
			continue;
		best = strlen(f[4]);
		snprintf(ret->mnt, sizeof(ret->mnt), "%s", f[4]);
		snprintf(ret->mnt_root, sizeof(ret->mnt_root), "%s", f[3]);
		ret->v2 = !controller;
		r = 0;
		if (!under)
			break;
	}
	free(line);
	fclose(file);
	return r;
}

int cgroup_dir_of(const char *mnt, const char *mnt_root, const char *controller, pid_t pid,
		  char *buf, size_t size)
{
	char path[64], *line = NULL, *ctrl, *cg, *rel;
	size_t cap = 0, rlen;
	FILE *f;
	int r = -ENOENT;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? -ESRCH : -errno;
	while (getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\n")] = '\0';
		ctrl = strchr(line, ':');
		cg = ctrl ? strchr(ctrl + 1, ':') : NULL;
		if (!cg)
			continue;
		*ctrl++ = '\0';
		*cg++ = '\0';
		if (!controller ? (strcmp(line, "0") != 0 || ctrl[0] != '\0') :
				  !cgroup_has_option(ctrl, controller))
			continue;
		if (!path_within(cg, mnt_root) || strstr(cg, "/.."))
			break;
		rlen = strcmp(mnt_root, "/") ? strlen(mnt_root) : 0;
		rel = cg + rlen;
		r = snprintf(buf, size, "%s%s", mnt, strcmp(rel, "/") ? rel : "") >= (int)size ?
			-ENAMETOOLONG : 0;
		break;
	}
	free(line);
	fclose(f);
	return r;
}
