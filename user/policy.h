/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The unload policy of the seed, as a pure function:
 * (snapshot, level, config, now) -> ordered victims and a reason for
 * every component that is spared.
 */
#ifndef MEMSHED_POLICY_H
#define MEMSHED_POLICY_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "config.h"

/* One component as the policy sees it. */
struct policy_component {
	const char *name;
	int priority;			/* 0..100, lower goes first */
	bool critical;			/* only at LEVEL_CRITICAL */
	bool in_use;			/* holds a lease: never */
	bool loaded;			/* has live, unfrozen processes to act on */
	bool prefer_larger;		/* order by RSS after idle time */
	uint64_t min_idle_ns;		/* component's min_idle_time (0: global) */
	bool no_min_idle;		/* min_idle_time = 0 set: never "recent" */
	uint64_t last_access_ns;	/* CLOCK_MONOTONIC */
	uint64_t rss_bytes;
	uint64_t frees_bytes;		/* what its step at this level should free */
};

enum policy_verdict {
	VERDICT_VICTIM,
	VERDICT_LEVEL_LOW,		/* pressure is low: nothing is unloaded */
	VERDICT_NOT_LOADED,		/* no processes, already frozen/unloading */
	VERDICT_IN_USE,
	VERDICT_CRITICAL,		/* critical, level below critical */
	VERDICT_RECENT,			/* idle < min_idle of the level */
	VERDICT_BEYOND_MAX,		/* eligible, but max_unload reached */
	VERDICT_ENOUGH,			/* eligible, but those before it free enough */
};

struct policy_params {
	enum level level;
	struct level_policy table[NR_LEVELS];	/* min_idle, max_unload */
	uint64_t global_min_idle_ns;		/* [memshed] min_idle_time */
	uint64_t now_ns;
};

struct registry;
struct component;
struct swap_facts;

/* Why a component's step at a level is not its ladder's. */
enum step_skip {
	STEP_AS_CONFIGURED,
	STEP_SKIP_REFAULTED,		/* reclaimed memory came straight back */
	STEP_SKIP_NO_SWAP,		/* no swap, file pages reclaimed already */
	STEP_SKIP_SWAP_FULL,		/* swap full, file pages reclaimed already */
};

struct policy_step {
	const struct action *action;	/* NULL: nothing (the ladder ran out) */
	enum level level;		/* whose ladder step it is */
	enum step_skip skip;		/* why not ladder[level] */
	enum action_kind skipped;	/* the gentle step passed over */
	bool file_only;			/* a gentle step without swap room: file pages only */
};

/* The step c gets at level (DESIGN 6 ladders; a gentle step that cannot
 * work now passes to the next step up). Pure. */
void policy_step(const struct component *c, enum level level, const struct swap_facts *sw,
		 struct policy_step *ret);
const char *policy_step_skip_why(enum step_skip s);

/*
 * The policy's view of the registry at a level: ret[i] is reg->comps[i].
 * A component is "loaded" (has something to act on) if it is active with
 * live processes and its step at this level is not one it already took in
 * this episode: a step that leaves the processes running (signal, exec,
 * freeze) is taken once per level per episode; term and kill every time.
 */
void policy_snapshot(const struct registry *reg, enum level level, uint64_t now_ns,
		     struct policy_component *ret);

/*
 * Decide. @ret_order receives the indices of the victims, in unload order
 * (at most n); @ret_verdict (may be NULL) one verdict per component.
 * Returns the number of victims. O(n log n) (qsort_r: glibc may allocate
 * a scratch buffer, and sorts in place if it cannot).
 */
size_t policy_select_victims(const struct policy_component *comps, size_t n,
			     const struct policy_params *p, size_t *ret_order,
			     enum policy_verdict *ret_verdict);

/*
 * Just enough (DESIGN 6): how many of the nv victims, taken in order, it
 * takes for what their steps free to cover `need` bytes (the excess over
 * the level's line minus hysteresis). At least one: a level reached by PSI
 * alone has no excess in bytes, but still calls for a victim.
 */
size_t policy_just_enough(const struct policy_component *comps, const size_t *order, size_t nv,
			  uint64_t need);

/* One evaluation's whole decision, as the daemon takes it and as `memshed
 * replay` re-takes it on a recorded log. */
struct policy_decision {
	size_t n, nv;				/* components; victims */
	struct policy_component *comps;		/* [n]: the snapshot decided on */
	enum policy_verdict *verdict;		/* [n] */
	size_t *order;				/* [nv]: victims, in unload order */
	struct policy_params params;
};

/*
 * Snapshot the registry at level, select the victims, and keep just enough
 * of them to cover `need` bytes (the rest: VERDICT_ENOUGH). 0 or -ENOMEM;
 * free with policy_decision_free either way.
 */
int policy_decide(const struct registry *reg, const struct config *cfg, enum level level,
		  uint64_t now_ns, uint64_t need, struct policy_decision *ret);
void policy_decision_free(struct policy_decision *d);
/* When a component spared only as "recent" reaches its min idle: the time
 * to decide again (a standing level raises no new event). 0: none. */
uint64_t policy_recheck_at(const struct policy_decision *d);

/* Effective min idle of a component at a level (component override scales). */
uint64_t policy_min_idle(const struct policy_component *c,
			 const struct policy_params *p);

const char *policy_verdict_name(enum policy_verdict v);
void policy_params_from_config(struct policy_params *p, const struct config *cfg,
			       enum level level, uint64_t now_ns);

#endif
