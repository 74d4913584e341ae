/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Pressure levels: the usage fraction against total_limit with the seed's
 * thresholds, PSI against per-level thresholds, the higher of the two,
 * with hysteresis and a settle time on the way down.
 */
#ifndef MEMSHED_PRESSURE_H
#define MEMSHED_PRESSURE_H

#include <stdbool.h>
#include <stdint.h>
#include "config.h"

struct psi_avgs {
	double some[3], full[3];	/* avg10, avg60, avg300 (%) */
	uint64_t some_total_us, full_total_us;
};

/* One registered PSI trigger: fires (EPOLLPRI) when stall >= threshold in window. */
struct psi_trigger {
	int fd;				/* -1: dropped, re-armed by pressure_rearm */
	enum level level;
	bool full;
	bool watched;			/* the daemon has it in its epoll set */
	uint64_t stall_us;		/* its threshold within the window */
	uint64_t armed_ns;
	uint64_t armed_total_us;	/* the stall total when it was armed */
};

/* Stall totals as read at a time: a fired trigger is confirmed by them. */
struct psi_reading {
	uint64_t ns, some_us, full_us;
};

#define PSI_READINGS 16

struct pressure {
	const struct config *cfg;
	char psi_path[512];		/* /proc/pressure/memory or a cgroup's memory.pressure */
	struct psi_trigger triggers[2 * NR_LEVELS];
	int nr_triggers;
	uint64_t window_ns;		/* rounded up to what the kernel accepts */
	uint64_t psi_fired_ns[NR_LEVELS];	/* last confirmed trigger per level */
	struct psi_reading readings[PSI_READINGS];	/* ring, newest at [next - 1] */
	unsigned int next_reading;
	uint64_t unconfirmed;		/* triggers the totals did not bear out */
	bool rearm;			/* a trigger was dropped: arm again later */

	/* Last evaluation. */
	uint64_t usage, limit;
	double fraction;
	struct psi_avgs psi;
	enum level usage_level, psi_level, level;
	enum level trigger_level;	/* from PSI triggers alone (within a window) */
	uint64_t below_since_ns;	/* the level's exit condition holds since */
	char cause[160];		/* why the level is what it is */
};

/* Set up triggers; failures to arm PSI are logged, not fatal. */
int pressure_init(struct pressure *p, const struct config *cfg);
void pressure_free(struct pressure *p);
/* The limit in bytes for this config (a % of RAM resolved now). */
uint64_t pressure_limit(const struct config *cfg);

/*
 * A trigger fd became ready with epoll `events`. Returns 1 if it fired and
 * the stall totals confirm it (a trigger can fire for stall from before it
 * was armed), 0 if not, -1 if the fd reported an error or hang-up (its
 * cgroup was removed): it is closed, and pressure_rearm tries again.
 */
int pressure_on_trigger(struct pressure *p, int fd, uint32_t events, uint64_t now_ns);
/* Arm the triggers that were dropped, if their file is back. Returns how
 * many are armed again (the daemon watches those with !watched). */
int pressure_rearm(struct pressure *p, uint64_t now_ns);
/* Pure: does the stall growth from `ref` to `now` bear out a trigger? */
bool psi_confirms(const struct psi_reading *ref, const struct psi_reading *now, bool full,
		  uint64_t stall_us);

/*
 * When usage should be measured next: the time the fastest growth this
 * host allows (rate, bytes/s) needs to reach the next line above usage,
 * within [min_ns, max_ns]. Pure.
 */
uint64_t pressure_next_sample_ns(const struct config *cfg, uint64_t usage, uint64_t limit,
				 uint64_t rate, uint64_t min_ns, uint64_t max_ns);

/* Levels from raw inputs: pure, unit-tested. */
enum level pressure_usage_level(const struct config *cfg, double fraction);
enum level pressure_psi_level(const struct config *cfg, const struct psi_avgs *psi);

/*
 * Evaluate with usage (bytes, per usage_source) and fresh PSI averages.
 * Returns the effective level; p->cause says why. Going down needs the
 * lower condition to hold for settle_time.
 */
enum level pressure_update(struct pressure *p, uint64_t usage, uint64_t now_ns);
/* The same from inputs given: usage, p->psi (the averages) and the level
 * PSI triggers call for. Pure: `memshed replay` runs it over a log. */
enum level pressure_step(struct pressure *p, uint64_t usage, enum level trig, uint64_t now_ns);
/* Bytes over the level's line minus hysteresis: what a round must free to
 * bring usage back below where the level is left. */
uint64_t pressure_excess(const struct pressure *p);
/* Below low_threshold and no PSI pressure: frozen components may thaw. */
bool pressure_relieved(const struct pressure *p);

int psi_read(const char *path, struct psi_avgs *ret);
int psi_parse(const char *text, struct psi_avgs *ret);
/* Bytes in use by usage_source system or cgroup:PATH. */
int usage_read_system(uint64_t *ret);
int usage_read_cgroup(const char *path, uint64_t *ret);
uint64_t mem_total_bytes(void);

#endif
