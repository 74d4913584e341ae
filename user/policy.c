// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The unload policy (DESIGN 6), a pure function over plain structs, and
 * the snapshot of the registry it decides on (policy_snapshot), with the
 * rule that a step which leaves processes running is taken once per level
 * per episode.
 *
 * Order of victims: priority ascending (lower = less important = first;
 * DESIGN 1 follows the seed's prose, not its inverted sample sort), then
 * idle time descending, then size key descending (size key = rss_bytes if
 * the component has prefer_larger, else 0), then index ascending. The index
 * makes the order total, so the result never depends on the sort algorithm.
 *
 * Speed: qsort_r over the indices of the eligible components. The config
 * caps components at MEMSHED_MAX_COMPONENTS - 1 = 4,095, so that is the
 * largest input in practice. Measured with bench/bench_policy (2 cores
 * shared with other builds, p50 of 50 runs): 4,095 components take 0.43 ms
 * at critical (every eligible one sorted) and 0.37 ms at medium; 10,000
 * take 1.4 ms; 100,000 take 13-17 ms, past DESIGN 9's 5 ms, which the
 * packed-key radix sort this file had (500 lines) met with 2.1 ms. No
 * config can have 100,000 components; at the 4,095 it can have, qsort_r is
 * ten times inside the target, so the sort stays the library's.
 *
 * Needs unsigned __int128 (64-bit targets) for the min_idle scaling.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "registry.h"

struct order_ctx {
	const struct policy_component *comps;
	uint64_t now_ns;
};

/* A last access in the future (clock skew, a racy touch) counts as idle 0. */
static uint64_t idle_ns(const struct policy_component *c, uint64_t now)
{
	return c->last_access_ns < now ? now - c->last_access_ns : 0;
}

static uint64_t size_key(const struct policy_component *c)
{
	return c->prefer_larger ? c->rss_bytes : 0;
}

#define CMP(a, b)	(((a) > (b)) - ((a) < (b)))

/* The strict total order of victims, for qsort_r over indices into comps. */
static int order_cmp(const void *pa, const void *pb, void *arg)
{
	const struct order_ctx *x = arg;
	size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
	const struct policy_component *ca = &x->comps[a], *cb = &x->comps[b];
	uint64_t ia, ib, sa, sb;

	if (ca->priority != cb->priority)
		return CMP(ca->priority, cb->priority);
	ia = idle_ns(ca, x->now_ns);
	ib = idle_ns(cb, x->now_ns);
	if (ia != ib)
		return CMP(ib, ia);
	sa = size_key(ca);
	sb = size_key(cb);
	if (sa != sb)
		return CMP(sb, sa);
	return CMP(a, b);
}

/*
 * Component override: a component's min_idle_time replaces the global one,
 * and each level keeps its ratio to the global (medium 1x, high 0.5x,
 * critical 0 by default), so the level's value is scaled by
 * c->min_idle / global. Without a global to scale against, the table value
 * stands. 128-bit arithmetic: the product of two ns values overflows 64
 * bits; the result saturates.
 */
static uint64_t min_idle_of(const struct policy_component *c, const struct policy_params *p)
{
	uint64_t table = p->table[p->level].min_idle_ns;
	unsigned __int128 scaled;

	if (c->no_min_idle)
		return 0;
	if (c->min_idle_ns == 0 || p->global_min_idle_ns == 0)
		return table;
	scaled = (unsigned __int128)table * c->min_idle_ns /
		 p->global_min_idle_ns;
	return scaled > UINT64_MAX ? UINT64_MAX : (uint64_t)scaled;
}

uint64_t policy_min_idle(const struct policy_component *c,
			 const struct policy_params *p)
{
	/* No table row for a bogus level: nothing is idle enough. */
	if ((unsigned int)p->level >= NR_LEVELS)
		return UINT64_MAX;
	return min_idle_of(c, p);
}

/*
 * Why a component may not be unloaded at this level, or VERDICT_VICTIM;
 * the later (stronger) reason overrides.
 */
static enum policy_verdict eligibility(const struct policy_component *c,
				       const struct policy_params *p)
{
	enum policy_verdict v = VERDICT_VICTIM;

	v = idle_ns(c, p->now_ns) < min_idle_of(c, p) ? VERDICT_RECENT : v;
	v = c->critical && p->level != LEVEL_CRITICAL ? VERDICT_CRITICAL : v;
	v = c->in_use ? VERDICT_IN_USE : v;
	v = !c->loaded ? VERDICT_NOT_LOADED : v;
	return v;
}

static void set_verdict(enum policy_verdict *ret_verdict, size_t i,
			enum policy_verdict v)
{
	if (ret_verdict)
		ret_verdict[i] = v;
}

size_t policy_select_victims(const struct policy_component *comps, size_t n,
			     const struct policy_params *p, size_t *ret_order,
			     enum policy_verdict *ret_verdict)
{
	struct order_ctx x = { .comps = comps, .now_ns = p->now_ns };
	size_t eligible = 0, take;
	unsigned int max;

	/* An out-of-range level is treated as low: when in doubt, unload nothing. */
	if (p->level == LEVEL_LOW || (unsigned int)p->level >= NR_LEVELS) {
		for (size_t i = 0; i < n; i++)
			set_verdict(ret_verdict, i, VERDICT_LEVEL_LOW);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		enum policy_verdict v = eligibility(&comps[i], p);

		set_verdict(ret_verdict, i, v);
		if (v == VERDICT_VICTIM)
			ret_order[eligible++] = i;
	}
	qsort_r(ret_order, eligible, sizeof(*ret_order), order_cmp, &x);
	max = p->table[p->level].max_unload;
	take = (max == 0 || max >= eligible) ? eligible : max;
	for (size_t i = take; i < eligible; i++)
		set_verdict(ret_verdict, ret_order[i], VERDICT_BEYOND_MAX);
	return take;
}

/*
 * The step a component gets at a level: its ladder's, unless that is a
 * gentle one (reclaim, hibernate) that cannot work now - its memory came
 * straight back after the last one (refaulted), or there is no swap room
 * and its file pages went already (a second file-only reclaim frees
 * nothing) - in which case the next different step up the ladder applies.
 */
void policy_step(const struct component *c, enum level level, const struct swap_facts *sw,
		 struct policy_step *ret)
{
	const struct action *a = &c->cfg->ladder[level];
	bool room = swap_has_room(sw);

	*ret = (struct policy_step){ .action = a, .level = level, .file_only = !room };
	if (!action_is_gentle(a->kind))
		return;
	if (c->refaulted)
		ret->skip = STEP_SKIP_REFAULTED;
	else if (!room && c->file_only_done)
		ret->skip = !sw->total ? STEP_SKIP_NO_SWAP : STEP_SKIP_SWAP_FULL;
	else
		return;
	ret->skipped = a->kind;
	for (int l = level + 1; l < NR_LEVELS; l++) {
		const struct action *n = &c->cfg->ladder[l];

		if (n->kind != ACTION_NONE && !action_is_gentle(n->kind)) {
			ret->action = n;
			ret->level = l;
			return;
		}
	}
	ret->action = NULL;	/* nothing further up: nothing to do */
}

const char *policy_step_skip_why(enum step_skip s)
{
	switch (s) {
	case STEP_AS_CONFIGURED: return "";
	case STEP_SKIP_REFAULTED: return "its memory came straight back after the last reclaim";
	case STEP_SKIP_NO_SWAP: return "no swap: only file pages can go, and they went already";
	case STEP_SKIP_SWAP_FULL: return "swap is full: only file pages can go, and they went already";
	}
	return "?";
}

/* Acting again at the same level is pointless for a step that leaves the
 * process running (signal, exec, freeze, reclaim, hibernate): once per
 * level per episode, the level being the one the step is the ladder's for
 * (a step fallen through to from below is that level's). */
static bool comp_loaded(const struct component *c, const struct policy_step *st)
{
	enum action_kind k = st->action ? st->action->kind : ACTION_NONE;
	bool ends = k == ACTION_TERM || k == ACTION_KILL;

	/* A frozen or hibernated component still holds its memory (in RAM or
	 * swap): a later step of its ladder that ends it applies (round_add
	 * thaws it first, so that it can exit cleanly). */
	if ((c->state == COMP_FROZEN || c->state == COMP_HIBERNATED) && ends && c->nr_procs)
		return true;
	if (c->state != COMP_ACTIVE || !c->nr_procs)
		return false;
	if (k == ACTION_NONE)
		return false;
	return !(k != ACTION_TERM && k != ACTION_KILL && c->ladder_done >= (int)st->level);
}

/* What the component's step at this level should free: an ending frees
 * its memory; a reclaim (or hibernate) what can be paged out: anonymous
 * memory as far as swap has room, and its file pages; a signal, a hook or
 * a freeze frees none that can be counted on. */
static uint64_t comp_frees(const struct component *c, const struct policy_step *st,
			   const struct swap_facts *sw)
{
	uint64_t anon = c->rss[MEMSHED_RSS_ANON] + c->rss[MEMSHED_RSS_SHMEM];

	switch (st->action ? st->action->kind : ACTION_NONE) {
	case ACTION_TERM:
	case ACTION_KILL:
		return c->rss_total;
	case ACTION_RECLAIM:
	case ACTION_HIBERNATE:
		if (!swap_has_room(sw))
			anon = 0;
		else if (anon > sw->free)
			anon = sw->free;
		return anon + c->rss[MEMSHED_RSS_FILE];
	default:
		return 0;
	}
}

void policy_snapshot(const struct registry *reg, enum level level, uint64_t now_ns,
		     struct policy_component *ret)
{
	for (int i = 0; i < reg->nr_comps; i++) {
		const struct component *c = &reg->comps[i];
		const struct component_config *cc = c->cfg;
		struct policy_step st;

		policy_step(c, level, &reg->swap, &st);
		ret[i] = (struct policy_component){
			.name = cc->name,
			.priority = cc->priority,
			.critical = cc->critical,
			.in_use = registry_in_use(c, now_ns),
			.loaded = comp_loaded(c, &st),
			.prefer_larger = cc->prefer_larger,
			.min_idle_ns = cc->has_min_idle ? cc->min_idle_ns : 0,
			.no_min_idle = cc->has_min_idle && !cc->min_idle_ns,
			.last_access_ns = c->last_access_ns,
			.rss_bytes = c->rss_total,
			.frees_bytes = comp_frees(c, &st, &reg->swap),
		};
	}
}

size_t policy_just_enough(const struct policy_component *comps, const size_t *order, size_t nv,
			  uint64_t need)
{
	uint64_t freed = 0;
	size_t take = 0;

	while (take < nv && (take == 0 || freed < need))
		freed += comps[order[take++]].frees_bytes;
	return take;
}

const char *policy_verdict_name(enum policy_verdict v)
{
	static const char *const names[] = {
		[VERDICT_VICTIM] = "victim",
		[VERDICT_LEVEL_LOW] = "level-low",
		[VERDICT_NOT_LOADED] = "not-loaded",
		[VERDICT_IN_USE] = "in-use",
		[VERDICT_CRITICAL] = "critical",
		[VERDICT_RECENT] = "recent",
		[VERDICT_BEYOND_MAX] = "beyond-max",
		[VERDICT_ENOUGH] = "enough",
	};

	if ((unsigned int)v >= sizeof(names) / sizeof(names[0]))
		return "unknown";
	return names[v];
}

void policy_params_from_config(struct policy_params *p, const struct config *cfg,
			       enum level level, uint64_t now_ns)
{
	for (int l = 0; l < NR_LEVELS; l++)
		p->table[l] = cfg->level[l];
	p->global_min_idle_ns = cfg->min_idle_ns;
	p->level = level;
	p->now_ns = now_ns;
}

int policy_decide(const struct registry *reg, const struct config *cfg, enum level level,
		  uint64_t now_ns, uint64_t need, struct policy_decision *ret)
{
	size_t n = reg->nr_comps, nv, take;

	memset(ret, 0, sizeof(*ret));
	ret->n = n;
	ret->comps = calloc(n ? n : 1, sizeof(*ret->comps));
	ret->verdict = calloc(n ? n : 1, sizeof(*ret->verdict));
	ret->order = calloc(n ? n : 1, sizeof(*ret->order));
	if (!ret->comps || !ret->verdict || !ret->order)
		return -ENOMEM;
	policy_snapshot(reg, level, now_ns, ret->comps);
	policy_params_from_config(&ret->params, cfg, level, now_ns);
	nv = policy_select_victims(ret->comps, n, &ret->params, ret->order, ret->verdict);
	/* Just enough: no more victims than it takes to cover the excess. */
	take = policy_just_enough(ret->comps, ret->order, nv, need);
	for (size_t i = take; i < nv; i++)
		ret->verdict[ret->order[i]] = VERDICT_ENOUGH;
	ret->nv = take;
	return 0;
}

void policy_decision_free(struct policy_decision *d)
{
	free(d->comps);
	free(d->verdict);
	free(d->order);
	memset(d, 0, sizeof(*d));
}

uint64_t policy_recheck_at(const struct policy_decision *d)
{
	uint64_t at = 0;

	for (size_t i = 0; i < d->n; i++) {
		uint64_t t;

		if (d->verdict[i] != VERDICT_RECENT)
			continue;
		t = d->comps[i].last_access_ns + policy_min_idle(&d->comps[i], &d->params);
		if (!at || t < at)
			at = t;
	}
	return at;
}
