/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * A scratch directory per fuzzing process, BASE/memshed-fuzz-TAG.PID (BASE is
 * /dev/shm, or /tmp), removed at exit. A crash, a timeout or a -merge child
 * leaves libFuzzer without calling atexit handlers, so each new process
 * first removes the directories of processes that are gone.
 */
#ifndef MEMSHED_FUZZ_TMPDIR_H
#define MEMSHED_FUZZ_TMPDIR_H

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FUZZ_TMPDIR_PREFIX	"memshed-fuzz-"

static char fuzz_tmpdir_path[256];

static int fuzz_tmpdir_rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

static void fuzz_tmpdir_remove(const char *path)
{
	nftw(path, fuzz_tmpdir_rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static void fuzz_tmpdir_atexit(void)
{
	if (fuzz_tmpdir_path[0])
		fuzz_tmpdir_remove(fuzz_tmpdir_path);
}

/* Directories of dead processes: the name ends in .PID, and PID is gone. */
static void fuzz_tmpdir_reap(const char *base)
{
	DIR *d = opendir(base);
	struct dirent *e;
	char path[512];

	if (!d)
		return;
	while ((e = readdir(d))) {
		const char *dot = strrchr(e->d_name, '.');
		char *end;
		long pid;

		if (strncmp(e->d_name, FUZZ_TMPDIR_PREFIX, strlen(FUZZ_TMPDIR_PREFIX)) || !dot)
			continue;
		pid = strtol(dot + 1, &end, 10);
		if (*end || pid <= 0)
			continue;
		/* Ours is from a process that had our pid before. */
		if (pid != getpid() && !(kill(pid, 0) < 0 && errno == ESRCH))
			continue;	/* its process still runs */
		snprintf(path, sizeof(path), "%s/%s", base, e->d_name);
		fuzz_tmpdir_remove(path);
	}
	closedir(d);
}

/* Create it (aborting on failure) and return its path. */
static const char *fuzz_tmpdir(const char *tag)
{
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

	fuzz_tmpdir_reap(base);
	snprintf(fuzz_tmpdir_path, sizeof(fuzz_tmpdir_path), "%s/" FUZZ_TMPDIR_PREFIX "%s.%d",
		 base, tag, (int)getpid());
	if (mkdir(fuzz_tmpdir_path, 0700) < 0)
		abort();
	atexit(fuzz_tmpdir_atexit);
	return fuzz_tmpdir_path;
}

#endif
