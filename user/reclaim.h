/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Paging a running process's memory out (the reclaim and hibernate
 * actions): process_madvise(MADV_PAGEOUT) through its verified pidfd over
 * the mappings of /proc/PID/maps, a bounded batch per call so that the
 * daemon's loop is never held for long; and the swap facts that decide
 * whether anonymous memory can go at all.
 */
#ifndef MEMSHED_RECLAIM_H
#define MEMSHED_RECLAIM_H

#include <stdbool.h>
#include <stdint.h>
#include "pidref.h"

/* One batch: at most this much address range or this many mappings.
 * Paging 16 MiB of anonymous memory out to a swapfile took up to 160 ms on
 * a loaded 2-core host (load 5): 4 MiB holds a loop turn a quarter of
 * that, and 240 MiB takes 60 turns. */
#define RECLAIM_BATCH_BYTES	(4ull << 20)
#define RECLAIM_BATCH_VMAS	128

/* Below this much free swap, anonymous memory counts as unable to go. */
#define RECLAIM_SWAP_MIN	(4ull << 20)

struct swap_facts {
	uint64_t total;		/* SwapTotal, bytes */
	uint64_t free;		/* SwapFree, bytes */
};

/* From a meminfo file (path: "/proc/meminfo"; tests pass their own). 0 or -errno. */
int swap_facts_read(const char *path, struct swap_facts *ret);
/* Can anonymous memory be paged out at all? (absent or full: no) */
bool swap_has_room(const struct swap_facts *sw);

/*
 * Advise the next batch of p's mappings out, starting at *addr (0: the
 * first). *addr moves past what was advised; *advised and *vmas grow.
 * Returns 1 when the process is done (or gone), 0 when more is left,
 * -errno if process_madvise cannot be used at all (ENOSYS, EPERM).
 */
int reclaim_batch(const struct pidref *p, uint64_t *addr, uint64_t *advised, int *vmas);

/* A parsed /proc/PID/maps line worth paging out: [start, end). Lines of
 * special mappings ([vvar], [vdso], [vsyscall]) and inaccessible ones
 * (guard pages) are not. Pure: unit-tested. */
bool reclaim_parse_maps_line(const char *line, uint64_t *start, uint64_t *end);

#endif
