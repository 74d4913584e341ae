// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Paging out (reclaim.h). The mappings come from /proc/PID/maps, read by
 * PID; the advice goes through the pidfd, so a PID recycled after the read
 * can only make the advice miss (a range not mapped in the pidfd's process
 * is ENOMEM, skipped), never reach a stranger.
 *
 * MADV_PAGEOUT reclaims the pages mapped only by this process: file pages
 * are dropped (written back first if dirty), anonymous ones go to swap if
 * there is swap. Mappings the kernel refuses (mlocked, PFN maps, hugetlb:
 * EINVAL) are skipped one by one.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "reclaim.h"

#ifndef SYS_process_madvise
#define SYS_process_madvise 440		/* x86_64, since 5.10 */
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

int swap_facts_read(const char *path, struct swap_facts *ret)
{
	char line[256];
	unsigned long long kb;
	FILE *f = fopen(path, "re");

	*ret = (struct swap_facts){};
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "SwapTotal: %llu kB", &kb) == 1)
			ret->total = kb << 10;
		else if (sscanf(line, "SwapFree: %llu kB", &kb) == 1)
			ret->free = kb << 10;
	}
	fclose(f);
	return 0;
}

bool swap_has_room(const struct swap_facts *sw)
{
	return sw->total && sw->free >= RECLAIM_SWAP_MIN;
}

bool reclaim_parse_maps_line(const char *line, uint64_t *start, uint64_t *end)
{
	char perms[8] = "", path[64] = "";
	uint64_t s, e;
	int n;

	if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s %*s %*s %*s %n", &s, &e, perms, &n) < 3 ||
	    e <= s)
		return false;
	sscanf(line + n, "%63s", path);
	/* Nothing resident can be behind a mapping with no access. */
	if (!strncmp(perms, "---", 3))
		return false;
	if (!strcmp(path, "[vvar]") || !strcmp(path, "[vvar_vclock]") ||
	    !strcmp(path, "[vdso]") || !strcmp(path, "[vsyscall]"))
		return false;
	*start = s;
	*end = e;
	return true;
}

static ssize_t pageout(int pidfd, const struct iovec *iov, size_t n)
{
	return syscall(SYS_process_madvise, pidfd, iov, n, MADV_PAGEOUT, 0);
}

/*
 * Advise iov[0..n): process_madvise stops at the first range that fails
 * and returns the bytes done before it (or the error, if none): skip the
 * failing range and go on with the rest.
 */
static int pageout_all(int pidfd, struct iovec *iov, size_t n)
{
	size_t i = 0;

	while (i < n) {
		ssize_t done = pageout(pidfd, iov + i, n - i);

		if (done < 0) {
			if (errno == ENOSYS || errno == EPERM || errno == ESRCH)
				return -errno;
			i++;		/* EINVAL (mlocked...), ENOMEM (unmapped): skip it */
			continue;
		}
		/* Whole ranges done, then perhaps part of one (a hole). */
		while (i < n && (size_t)done >= iov[i].iov_len) {
			done -= iov[i].iov_len;
			i++;
		}
		if (i < n)
			i++;	/* it stopped in this one: skip the rest of it */
	}
	return 0;
}

int reclaim_batch(const struct pidref *p, uint64_t *addr, uint64_t *advised, int *vmas)
{
	struct iovec iov[RECLAIM_BATCH_VMAS];
	uint64_t budget = RECLAIM_BATCH_BYTES, s, e;
	char path[64], *line = NULL;
	size_t cap = 0, n = 0;
	bool more = false;
	FILE *f;
	int r;

	if (pidref_exited(p))
		return 1;
	snprintf(path, sizeof(path), "/proc/%d/maps", p->pid);
	f = fopen(path, "re");
	if (!f)
		return 1;	/* gone */
	while (getline(&line, &cap, f) > 0) {
		if (!reclaim_parse_maps_line(line, &s, &e) || e <= *addr)
			continue;
		if (n == RECLAIM_BATCH_VMAS || budget == 0) {
			more = true;
			break;
		}
		if (s < *addr)
			s = *addr;
		if (e - s > budget) {
			e = s + budget;
			more = true;
		}
		iov[n++] = (struct iovec){ .iov_base = (void *)(uintptr_t)s, .iov_len = e - s };
		budget -= e - s;
		*addr = e;
		if (more)
			break;
	}
	free(line);
	fclose(f);
	r = n ? pageout_all(p->fd, iov, n) : 0;
	if (r == -ESRCH)
		return 1;
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		*advised += iov[i].iov_len;
	*vmas += n;
	return more ? 0 : 1;
}
