/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What memshed saw, kept for `memshed replay`: the level's inputs (a
 * "sample" record: usage, limit, PSI averages, the level PSI triggers
 * called for, swap) and each component's state (a "state" record: memory,
 * processes, last access, lease, state), written to the event log at an
 * evaluation only when they changed enough to matter. A quiet host writes
 * almost nothing; what is written is enough to run another config's
 * policy over the same hours (replay.c reads it back).
 */
#ifndef MEMSHED_HISTORY_H
#define MEMSHED_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct registry;
struct pressure;

/*
 * Accesses: each one is written with its time, unless the component was
 * accessed again within this long of its last state record: then it is
 * "busy" (written once), and written again, with the time of its latest
 * access, once it has been quiet this long. Replay takes a busy component
 * as just accessed, so its idle times are short by less than this: the
 * error protects, never exposes.
 */
#define HISTORY_QUIET_NS	(10 * 1000000000ull)

struct history_comp {
	char name[64];
	uint64_t rss, last_access_ns, written_ns;
	unsigned int nr_procs;
	int state;
	bool held, busy;
};

struct history {
	bool started;
	uint64_t usage;
	double some, full;
	int level, trigger;
	uint64_t swap_free;
	int nr_comps;
	struct history_comp *comps;
};

/* Write what changed since the last call: state records, then the sample
 * (replay evaluates at a sample, with the states before it). */
void history_record(struct history *h, const struct registry *reg, const struct pressure *p,
		    uint64_t now_ns);
/* After a reload: everything is written again at the next evaluation. */
void history_reset(struct history *h);
void history_free(struct history *h);
/* Is this record (its JSON) one of these? (top leaves them out.) */
bool history_is_record(const char *json, size_t len);

#endif
