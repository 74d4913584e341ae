// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Unit tests of the unload policy (user/policy.c, DESIGN 6): one test per
 * seed rule and per level, the snapshot of a registry, then a property test
 * over random snapshots checked against an independent reference of every
 * rule.
 * POLICY_SEED=N reruns the property test with another seed.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/types.h>		/* before memshed.h, via registry.h */

#include "harness.h"
#include "policy.h"
#include "registry.h"

#define SEC		1000000000ULL
#define NOW		(1000000ULL * SEC)
#define MAXC		64
#define NR_SNAPSHOTS	100000
#define NR_LARGE_SNAPSHOTS 2000
#define MAX_LARGE_N	5000
#define DEFAULT_SEED	0x6d656d73686564ULL	/* "memshed" */

/* ---- fixtures ---------------------------------------------------------- */

/* The DESIGN defaults: medium 300s/1, high 150s/3, critical 0/all. */
static struct policy_params params(enum level l)
{
	struct policy_params p;

	memset(&p, 0, sizeof(p));
	p.level = l;
	p.now_ns = NOW;
	p.global_min_idle_ns = 300 * SEC;
	p.table[LEVEL_MEDIUM] = (struct level_policy){ 300 * SEC, 1 };
	p.table[LEVEL_HIGH] = (struct level_policy){ 150 * SEC, 3 };
	p.table[LEVEL_CRITICAL] = (struct level_policy){ 0, 0 };
	return p;
}

static struct policy_component comp(const char *name, int prio, uint64_t idle_s)
{
	struct policy_component c;

	memset(&c, 0, sizeof(c));
	c.name = name;
	c.priority = prio;
	c.loaded = true;
	c.last_access_ns = NOW - idle_s * SEC;
	c.rss_bytes = 1 << 20;
	return c;
}

struct result {
	size_t n;
	size_t order[MAXC];
	enum policy_verdict verdict[MAXC];
};

static struct result run(const struct policy_component *c, size_t n,
			 const struct policy_params *p)
{
	struct result r;

	memset(&r, 0xff, sizeof(r));
	r.n = policy_select_victims(c, n, p, r.order, r.verdict);
	return r;
}

/* The victims, as a string of component names: "a,b,c". */
static const char *names(const struct policy_component *c, const struct result *r)
{
	static char buf[512];
	size_t off = 0;

	buf[0] = 0;
	for (size_t i = 0; i < r->n && off < sizeof(buf) - 64; i++)
		off += snprintf(buf + off, sizeof(buf) - off, "%s%s",
				i ? "," : "", c[r->order[i]].name);
	return buf;
}

#define CHECK_VICTIMS(c, r, want) \
	CHECK(!strcmp(names(c, &(r)), (want)), "victims %s, want %s", \
	      names(c, &(r)), (want))

#define CHECK_VERDICT(c, r, i, want) \
	CHECK((r).verdict[i] == (want), "%s: verdict %s, want %s", (c)[i].name, \
	      policy_verdict_name((r).verdict[i]), policy_verdict_name(want))

/* ---- one test per level ------------------------------------------------ */

static void test_level_low_unloads_nothing(void)
{
	struct policy_component c[] = { comp("a", 0, 100000), comp("b", 50, 1000) };
	struct policy_params p = params(LEVEL_LOW);
	struct result r = run(c, 2, &p);

	CHECK(r.n == 0, "%zu victims at low", r.n);
	CHECK_VERDICT(c, r, 0, VERDICT_LEVEL_LOW);
	CHECK_VERDICT(c, r, 1, VERDICT_LEVEL_LOW);
}

static void test_level_medium_one_victim_full_min_idle(void)
{
	struct policy_component c[] = {
		comp("recent", 10, 299),	/* lowest priority, idle < 300s */
		comp("b", 50, 400),
		comp("c", 60, 1000),
	};
	struct policy_params p = params(LEVEL_MEDIUM);
	struct result r = run(c, 3, &p);

	CHECK(r.n == 1, "%zu victims at medium, want 1", r.n);
	CHECK_VICTIMS(c, r, "b");
	CHECK_VERDICT(c, r, 0, VERDICT_RECENT);
	CHECK_VERDICT(c, r, 1, VERDICT_VICTIM);
	CHECK_VERDICT(c, r, 2, VERDICT_BEYOND_MAX);
}

static void test_level_high_three_victims_half_min_idle(void)
{
	struct policy_component c[] = {
		comp("i1000", 50, 1000), comp("i200", 50, 200),
		comp("i160", 50, 160), comp("i151", 50, 151),
		comp("i149", 50, 149), comp("i10", 50, 10),
	};
	struct policy_params p = params(LEVEL_HIGH);
	struct result r = run(c, 6, &p);

	CHECK(r.n == 3, "%zu victims at high, want 3", r.n);
	CHECK_VICTIMS(c, r, "i1000,i200,i160");
	CHECK_VERDICT(c, r, 3, VERDICT_BEYOND_MAX);
	CHECK_VERDICT(c, r, 4, VERDICT_RECENT);
	CHECK_VERDICT(c, r, 5, VERDICT_RECENT);
}

static void test_level_critical_all_but_in_use(void)
{
	struct policy_component c[] = {
		comp("crit", 90, 5), comp("busy", 0, 100000),
		comp("fresh", 50, 0), comp("old", 50, 100),
		comp("future", 10, 0), comp("gone", 0, 100000),
	};
	struct policy_params p = params(LEVEL_CRITICAL);
	struct result r;

	c[0].critical = true;
	c[1].in_use = true;
	c[4].last_access_ns = NOW + 5 * SEC;	/* clock skew: idle 0 */
	c[5].loaded = false;
	r = run(c, 6, &p);
	CHECK(r.n == 4, "%zu victims at critical, want 4", r.n);
	CHECK_VICTIMS(c, r, "future,old,fresh,crit");
	CHECK_VERDICT(c, r, 1, VERDICT_IN_USE);
	CHECK_VERDICT(c, r, 5, VERDICT_NOT_LOADED);
}

/* ---- one test per seed rule -------------------------------------------- */

static void test_in_use_never_at_any_level(void)
{
	for (int l = LEVEL_MEDIUM; l <= LEVEL_CRITICAL; l++) {
		struct policy_component c[] = { comp("held", 0, 100000) };
		struct policy_params p = params(l);
		struct result r;

		c[0].in_use = true;
		r = run(c, 1, &p);
		CHECK(r.n == 0, "in-use unloaded at level %d", l);
		CHECK_VERDICT(c, r, 0, VERDICT_IN_USE);
	}
}

static void test_critical_only_at_critical(void)
{
	for (int l = LEVEL_MEDIUM; l <= LEVEL_CRITICAL; l++) {
		struct policy_component c[] = { comp("crit", 0, 100000) };
		struct policy_params p = params(l);
		struct result r;

		c[0].critical = true;
		r = run(c, 1, &p);
		if (l == LEVEL_CRITICAL) {
			CHECK_VICTIMS(c, r, "crit");
		} else {
			CHECK(r.n == 0, "critical unloaded at level %d", l);
			CHECK_VERDICT(c, r, 0, VERDICT_CRITICAL);
		}
	}
}

static void test_not_loaded_skipped(void)
{
	struct policy_component c[] = { comp("gone", 0, 100000), comp("b", 50, 1000) };
	struct policy_params p = params(LEVEL_CRITICAL);
	struct result r;

	c[0].loaded = false;
	r = run(c, 2, &p);
	CHECK_VICTIMS(c, r, "b");
	CHECK_VERDICT(c, r, 0, VERDICT_NOT_LOADED);
}

/* The seed skips idle < min_idle: idle == min_idle is eligible. */
static void test_recent_boundary(void)
{
	struct policy_component c[] = { comp("exact", 50, 150), comp("short", 50, 150) };
	struct policy_params p = params(LEVEL_HIGH);
	struct result r;

	c[1].last_access_ns += 1;	/* 1 ns short of 150s */
	r = run(c, 2, &p);
	CHECK_VICTIMS(c, r, "exact");
	CHECK_VERDICT(c, r, 1, VERDICT_RECENT);
}

static void test_future_access_is_recent(void)
{
	struct policy_component c[] = { comp("future", 50, 0) };
	struct policy_params p = params(LEVEL_MEDIUM);
	struct result r;

	c[0].last_access_ns = NOW + 1000 * SEC;	/* must not wrap to a huge idle */
	r = run(c, 1, &p);
	CHECK(r.n == 0, "future last access unloaded");
	CHECK_VERDICT(c, r, 0, VERDICT_RECENT);
}

static void test_max_unload_zero_means_all(void)
{
	struct policy_component c[] = { comp("a", 1, 400), comp("b", 2, 400),
					comp("c", 3, 400), comp("d", 4, 400) };
	struct policy_params p = params(LEVEL_MEDIUM);
	struct result r;

	p.table[LEVEL_MEDIUM].max_unload = 0;
	r = run(c, 4, &p);
	CHECK_VICTIMS(c, r, "a,b,c,d");
}

/* ---- ordering ---------------------------------------------------------- */

static void test_order_priority_ascending(void)
{
	/* Lower number = less important = first, even if less idle. */
	struct policy_component c[] = { comp("p90", 90, 100000), comp("p10", 10, 300),
					comp("p50", 50, 5000), comp("p0", 0, 301) };
	struct policy_params p = params(LEVEL_CRITICAL);
	struct result r = run(c, 4, &p);

	CHECK_VICTIMS(c, r, "p0,p10,p50,p90");
}

static void test_order_idle_descending(void)
{
	struct policy_component c[] = { comp("i500", 50, 500), comp("i2000", 50, 2000),
					comp("i1000", 50, 1000) };
	struct policy_params p = params(LEVEL_CRITICAL);
	struct result r = run(c, 3, &p);

	CHECK_VICTIMS(c, r, "i2000,i1000,i500");
}

static void test_order_size_with_prefer_larger(void)
{
	struct policy_component c[] = {
		comp("s1", 50, 500), comp("s3", 50, 500), comp("s2", 50, 500),
		comp("plain10g", 50, 500),	/* no prefer_larger: size key 0 */
		comp("old1", 50, 501),		/* idle beats size */
	};
	struct policy_params p = params(LEVEL_CRITICAL);
	struct result r;

	for (int i = 0; i < 3; i++)
		c[i].prefer_larger = true;
	c[0].rss_bytes = 1ULL << 20;
	c[1].rss_bytes = 3ULL << 20;
	c[2].rss_bytes = 2ULL << 20;
	c[3].rss_bytes = 10ULL << 30;
	c[4].prefer_larger = true;
	r = run(c, 5, &p);
	CHECK_VICTIMS(c, r, "old1,s3,s2,s1,plain10g");
}

static void test_order_without_prefer_larger_is_index(void)
{
	struct policy_component c[] = { comp("a", 50, 500), comp("b", 50, 500),
					comp("c", 50, 500) };
	struct policy_params p = params(LEVEL_CRITICAL);
	struct result r;

	c[1].rss_bytes = 5ULL << 30;
	c[2].rss_bytes = 9ULL << 30;
	r = run(c, 3, &p);
	CHECK_VICTIMS(c, r, "a,b,c");
}

/* ---- per-component min_idle -------------------------------------------- */

static void test_min_idle_override_scales_per_level(void)
{
	struct policy_component slow = comp("slow", 50, 0), fast = comp("fast", 50, 0);
	struct policy_params p = params(LEVEL_MEDIUM);

	slow.min_idle_ns = 600 * SEC;
	fast.min_idle_ns = 60 * SEC;
	CHECK(policy_min_idle(&slow, &p) == 600 * SEC, "medium slow");
	CHECK(policy_min_idle(&fast, &p) == 60 * SEC, "medium fast");
	p.level = LEVEL_HIGH;
	CHECK(policy_min_idle(&slow, &p) == 300 * SEC, "high slow");
	CHECK(policy_min_idle(&fast, &p) == 30 * SEC, "high fast");
	p.level = LEVEL_CRITICAL;
	CHECK(policy_min_idle(&slow, &p) == 0, "critical slow");
	/* No global to scale against: the table value stands. */
	p.level = LEVEL_HIGH;
	p.global_min_idle_ns = 0;
	CHECK(policy_min_idle(&slow, &p) == 150 * SEC, "no global");
}

static void test_min_idle_no_override_is_table(void)
{
	struct policy_component c = comp("c", 50, 0);
	struct policy_params p = params(LEVEL_HIGH);

	CHECK(policy_min_idle(&c, &p) == 150 * SEC, "table value");
}

static void test_min_idle_override_no_overflow(void)
{
	struct policy_component c = comp("c", 50, 0);
	struct policy_params p = params(LEVEL_MEDIUM);

	c.min_idle_ns = 1000000000000000000ULL;	/* product > 2^64 */
	p.table[LEVEL_MEDIUM].min_idle_ns = 30000000000ULL;
	p.global_min_idle_ns = 10000000000ULL;
	CHECK(policy_min_idle(&c, &p) == 3000000000000000000ULL, "exact 128-bit");
	p.global_min_idle_ns = 1;
	CHECK(policy_min_idle(&c, &p) == UINT64_MAX, "saturates");
	p.table[LEVEL_MEDIUM].min_idle_ns = 3;
	p.global_min_idle_ns = 2;
	c.min_idle_ns = 5;
	CHECK(policy_min_idle(&c, &p) == 7, "truncates 15/2");
}

static void test_min_idle_override_in_selection(void)
{
	struct policy_component c[] = { comp("patient", 0, 400), comp("eager", 50, 70) };
	struct policy_params p = params(LEVEL_MEDIUM);
	struct result r;

	c[0].min_idle_ns = 600 * SEC;	/* needs 600s at medium: spared */
	c[1].min_idle_ns = 60 * SEC;	/* needs 60s at medium: eligible */
	r = run(c, 2, &p);
	CHECK_VICTIMS(c, r, "eager");
	CHECK_VERDICT(c, r, 0, VERDICT_RECENT);
	p.level = LEVEL_HIGH;		/* patient needs 300s now */
	r = run(c, 2, &p);
	CHECK_VICTIMS(c, r, "patient,eager");
}

/* ---- API edges --------------------------------------------------------- */

static void test_verdict_names(void)
{
	static const char *const want[] = { "victim", "level-low", "not-loaded",
		"in-use", "critical", "recent", "beyond-max", "enough" };

	for (int v = VERDICT_VICTIM; v <= VERDICT_ENOUGH; v++)
		CHECK(!strcmp(policy_verdict_name(v), want[v]), "name of %d: %s",
		      v, policy_verdict_name(v));
	CHECK(policy_verdict_name((enum policy_verdict)99) != NULL, "out of range");
}

static void test_params_from_config(void)
{
	struct config cfg;
	struct policy_params p;

	memset(&cfg, 0, sizeof(cfg));
	memset(&p, 0xaa, sizeof(p));
	for (int l = 0; l < NR_LEVELS; l++)
		cfg.level[l] = (struct level_policy){ (uint64_t)(l + 1) * SEC, l + 10 };
	cfg.min_idle_ns = 42 * SEC;
	policy_params_from_config(&p, &cfg, LEVEL_HIGH, NOW);
	CHECK(p.level == LEVEL_HIGH, "level");
	CHECK(p.now_ns == NOW, "now");
	CHECK(p.global_min_idle_ns == 42 * SEC, "global min idle");
	for (int l = 0; l < NR_LEVELS; l++)
		CHECK(p.table[l].min_idle_ns == (uint64_t)(l + 1) * SEC &&
		      p.table[l].max_unload == (unsigned int)l + 10, "table[%d]", l);
}

/*
 * The snapshot of a registry: one entry per component, in order; held
 * components in use until their lease ends; min_idle_time as given; and
 * "loaded" only for active components with processes whose step at the
 * level is not one already taken in this episode (signal, exec and freeze
 * leave the processes running: once per level; term and kill each time),
 * and for frozen ones whose step ends them.
 */
static void test_snapshot_of_registry(void)
{
	enum { N = 9 };
	static struct component_config cc[N];
	static struct component rc[N];
	struct registry reg = { .comps = rc, .nr_comps = N };
	struct policy_component pc[N];
	const struct { enum comp_state state; unsigned int procs; enum action_kind kind;
		       int done; } cases[N] = {
		{ COMP_ACTIVE, 2, ACTION_TERM, -1 },		/* 0: loaded */
		{ COMP_ACTIVE, 2, ACTION_TERM, LEVEL_HIGH },	/* 1: term again: loaded */
		{ COMP_ACTIVE, 2, ACTION_SIGNAL, -1 },		/* 2: loaded */
		{ COMP_ACTIVE, 2, ACTION_SIGNAL, LEVEL_MEDIUM },/* 3: below high: loaded */
		{ COMP_ACTIVE, 2, ACTION_SIGNAL, LEVEL_HIGH },	/* 4: taken at high */
		{ COMP_ACTIVE, 2, ACTION_FREEZE, LEVEL_CRITICAL },/* 5: taken above */
		{ COMP_ACTIVE, 0, ACTION_TERM, -1 },		/* 6: no process */
		{ COMP_FROZEN, 2, ACTION_TERM, -1 },		/* 7: frozen, then term: loaded */
		{ COMP_UNLOADING, 2, ACTION_KILL, -1 },		/* 8: being unloaded */
	};
	static const bool loaded[N] = { true, true, true, true, false, false, false, true, false };

	for (int i = 0; i < N; i++) {
		memset(&cc[i], 0, sizeof(cc[i]));
		snprintf(cc[i].name, sizeof(cc[i].name), "c%d", i);
		cc[i].priority = 10 * i;
		cc[i].critical = i == 3;
		cc[i].prefer_larger = i % 2;
		cc[i].ladder[LEVEL_HIGH].kind = cases[i].kind;
		rc[i] = (struct component){
			.id = i + 1, .cfg = &cc[i], .state = cases[i].state,
			.nr_procs = cases[i].procs, .ladder_done = cases[i].done,
			.last_access_ns = NOW - i * SEC, .rss_total = (uint64_t)i << 20,
		};
	}
	cc[1].has_min_idle = true;			/* min_idle_time = 0 */
	cc[2].has_min_idle = true;
	cc[2].min_idle_ns = 7 * SEC;
	rc[4].held = true;				/* until released */
	rc[5].held = true;
	rc[5].hold_until_ns = NOW + SEC;		/* a lease that runs on */
	rc[6].held = true;
	rc[6].hold_until_ns = NOW;			/* ended */

	memset(pc, 0xa5, sizeof(pc));
	policy_snapshot(&reg, LEVEL_HIGH, NOW, pc);
	for (int i = 0; i < N; i++) {
		CHECK(pc[i].name == cc[i].name && pc[i].priority == 10 * i &&
		      pc[i].critical == (i == 3) && pc[i].prefer_larger == (i % 2) &&
		      pc[i].last_access_ns == NOW - i * SEC && pc[i].rss_bytes == (uint64_t)i << 20,
		      "c%d: copied fields", i);
		CHECK(pc[i].loaded == loaded[i], "c%d: loaded %d, want %d", i, pc[i].loaded,
		      loaded[i]);
		CHECK(pc[i].in_use == (i == 4 || i == 5), "c%d: in_use %d", i, pc[i].in_use);
	}
	CHECK(pc[0].min_idle_ns == 0 && !pc[0].no_min_idle, "no min_idle_time");
	CHECK(pc[1].min_idle_ns == 0 && pc[1].no_min_idle, "min_idle_time = 0");
	CHECK(pc[2].min_idle_ns == 7 * SEC && !pc[2].no_min_idle, "min_idle_time = 7s");

	/* Another level: the signal taken at high is due again at critical,
	 * if the ladder has a step there; without one there is nothing to do. */
	cc[4].ladder[LEVEL_CRITICAL].kind = ACTION_SIGNAL;
	policy_snapshot(&reg, LEVEL_CRITICAL, NOW, pc);
	CHECK(pc[4].loaded, "signal at critical after high");
	CHECK(!pc[0].loaded, "no step at critical");
}

static void test_empty_and_null_verdicts(void)
{
	struct policy_component c[] = { comp("a", 5, 400), comp("b", 1, 400) };
	struct policy_params p = params(LEVEL_CRITICAL);
	size_t order[2];

	CHECK(policy_select_victims(NULL, 0, &p, NULL, NULL) == 0, "empty");
	CHECK(policy_select_victims(c, 2, &p, order, NULL) == 2, "NULL verdicts");
	CHECK(order[0] == 1 && order[1] == 0, "order %zu,%zu", order[0], order[1]);
}

static void test_bogus_level_unloads_nothing(void)
{
	struct policy_component c[] = { comp("a", 0, 100000) };
	struct policy_params p = params(LEVEL_CRITICAL);
	struct result r;

	p.level = (enum level)7;
	r = run(c, 1, &p);
	CHECK(r.n == 0, "victims at a bogus level");
	CHECK_VERDICT(c, r, 0, VERDICT_LEVEL_LOW);
	CHECK(policy_min_idle(&c[0], &p) == UINT64_MAX, "min idle at a bogus level");
}

/* ---- reference model --------------------------------------------------- */

static uint64_t ref_idle(const struct policy_component *c, uint64_t now)
{
	return c->last_access_ns > now ? 0 : now - c->last_access_ns;
}

static uint64_t ref_min_idle(const struct policy_component *c,
			     const struct policy_params *p)
{
	unsigned __int128 v = p->table[p->level].min_idle_ns;

	if (c->min_idle_ns && p->global_min_idle_ns)
		v = v * c->min_idle_ns / p->global_min_idle_ns;
	return v > UINT64_MAX ? UINT64_MAX : (uint64_t)v;
}

static enum policy_verdict ref_verdict(const struct policy_component *c,
				       const struct policy_params *p)
{
	if (p->level == LEVEL_LOW)
		return VERDICT_LEVEL_LOW;
	if (!c->loaded)
		return VERDICT_NOT_LOADED;
	if (c->in_use)
		return VERDICT_IN_USE;
	if (c->critical && p->level != LEVEL_CRITICAL)
		return VERDICT_CRITICAL;
	if (ref_idle(c, p->now_ns) < ref_min_idle(c, p))
		return VERDICT_RECENT;
	return VERDICT_VICTIM;
}

/* <0 if component i is unloaded before j: (priority, -idle, -size, index). */
static int ref_cmp(const struct policy_component *c, const struct policy_params *p,
		   size_t i, size_t j)
{
	uint64_t ii = ref_idle(&c[i], p->now_ns), ij = ref_idle(&c[j], p->now_ns);
	uint64_t si = c[i].prefer_larger ? c[i].rss_bytes : 0;
	uint64_t sj = c[j].prefer_larger ? c[j].rss_bytes : 0;

	if (c[i].priority != c[j].priority)
		return c[i].priority < c[j].priority ? -1 : 1;
	if (ii != ij)
		return ii > ij ? -1 : 1;
	if (si != sj)
		return si > sj ? -1 : 1;
	return i < j ? -1 : i > j ? 1 : 0;
}

/* ---- property test ----------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rnd(void)	/* xorshift64* */
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static uint64_t pick(uint64_t n) { return rnd() % n; }

/*
 * Skewed towards ties and edges: few values, out-of-range priorities,
 * future and zero last access, and near ties (a few ns or bytes apart),
 * which the policy's packed sort keys cannot tell apart on their own.
 */
static int rand_priority(void)
{
	static const int odd[] = { INT_MIN, -7, -1, 101, 150, INT_MAX };

	switch (pick(8)) {
	case 0: return (int)pick(101);
	case 1: return odd[pick(6)];
	default: return (int)pick(3) * 10;
	}
}

static uint64_t rand_last_access(uint64_t now)
{
	switch (pick(7)) {
	case 0: return now - pick(1000 * SEC);
	case 1: return now + 1 + pick(1000 * SEC);	/* future */
	case 2: return 0;
	case 3: return now - 500 * SEC - pick(4);	/* near tie */
	default: return now - pick(8) * 60 * SEC;
	}
}

static uint64_t rand_rss(void)
{
	switch (pick(4)) {
	case 0: return rnd();
	case 1: return (1ULL << 30) + pick(4);		/* near tie */
	default: return pick(4) << 20;
	}
}

static uint64_t rand_duration(void)
{
	switch (pick(6)) {
	case 0: return 0;
	case 1: return pick(1000 * SEC);
	case 2: return UINT64_MAX - pick(2);
	default: return pick(8) * 60 * SEC;
	}
}

static void rand_component(struct policy_component *c, uint64_t now)
{
	memset(c, 0, sizeof(*c));
	c->name = "r";
	c->priority = rand_priority();
	c->loaded = pick(8) != 0;
	c->in_use = pick(5) == 0;
	c->critical = pick(5) == 0;
	c->prefer_larger = pick(2);
	c->min_idle_ns = pick(2) ? 0 : rand_duration();
	c->last_access_ns = rand_last_access(now);
	c->rss_bytes = rand_rss();
}

/* max_unload: often small, sometimes anything up to n (large selections). */
static void rand_params(struct policy_params *p, size_t n)
{
	memset(p, 0, sizeof(*p));
	p->level = (enum level)pick(NR_LEVELS);
	p->now_ns = NOW + pick(SEC);
	p->global_min_idle_ns = pick(4) ? rand_duration() : 0;
	for (int l = 0; l < NR_LEVELS; l++) {
		p->table[l].min_idle_ns = pick(3) ? rand_duration() : 0;
		p->table[l].max_unload = pick(3) ? (unsigned int)pick(6) :
					 (unsigned int)pick(n + 2);
	}
}

struct prop_state {
	long failures;
	char first[256];
	long seen[VERDICT_BEYOND_MAX + 1];
	long victims;
	size_t *order2;		/* scratch for the NULL-verdict rerun */
};

static void prop_fail(struct prop_state *st, long snap, const char *fmt, ...)
{
	va_list ap;
	int off;

	if (st->failures++)
		return;
	off = snprintf(st->first, sizeof(st->first), "snapshot %ld: ", snap);
	va_start(ap, fmt);
	vsnprintf(st->first + off, sizeof(st->first) - off, fmt, ap);
	va_end(ap);
}

/* Verdicts against the reference; returns how many are eligible. */
static size_t check_verdicts(struct prop_state *st, long snap,
			     const struct policy_component *c, size_t n,
			     const struct policy_params *p,
			     const enum policy_verdict *verdict, size_t *ret_victims)
{
	size_t eligible = 0, victims = 0;

	for (size_t i = 0; i < n; i++) {
		enum policy_verdict ref = ref_verdict(&c[i], p), got = verdict[i];

		if (ref == VERDICT_VICTIM) {
			eligible++;
			if (got != VERDICT_VICTIM && got != VERDICT_BEYOND_MAX)
				prop_fail(st, snap, "eligible comp %zu got %s", i,
					  policy_verdict_name(got));
		} else if (got != ref) {
			prop_fail(st, snap, "comp %zu got %s, want %s", i,
				  policy_verdict_name(got), policy_verdict_name(ref));
		}
		victims += got == VERDICT_VICTIM;
		st->seen[got <= VERDICT_BEYOND_MAX ? got : 0]++;
	}
	*ret_victims = victims;
	return eligible;
}

/* Every victim eligible, in strict order, and before every spared one. */
static void check_order(struct prop_state *st, long snap,
			const struct policy_component *c, size_t n,
			const struct policy_params *p, const size_t *order,
			size_t nv, const enum policy_verdict *verdict)
{
	for (size_t k = 0; k < nv; k++) {
		size_t i = order[k];

		if (i >= n) {
			prop_fail(st, snap, "victim index %zu out of range", i);
			return;
		}
		if (!c[i].loaded || c[i].in_use ||
		    (c[i].critical && p->level != LEVEL_CRITICAL) ||
		    ref_idle(&c[i], p->now_ns) < ref_min_idle(&c[i], p))
			prop_fail(st, snap, "ineligible victim %zu", i);
		if (verdict[i] != VERDICT_VICTIM)
			prop_fail(st, snap, "victim %zu has verdict %s", i,
				  policy_verdict_name(verdict[i]));
		if (k && ref_cmp(c, p, order[k - 1], i) >= 0)
			prop_fail(st, snap, "victims %zu,%zu out of order",
				  order[k - 1], i);
	}
	for (size_t i = 0; i < n && nv; i++)
		if (verdict[i] == VERDICT_BEYOND_MAX &&
		    ref_cmp(c, p, i, order[nv - 1]) <= 0)
			prop_fail(st, snap, "comp %zu beyond max but before victims", i);
}

/* One snapshot against every rule; failures are recorded in st. */
static void check_snapshot(struct prop_state *st, long snap,
			   const struct policy_component *c, size_t n,
			   const struct policy_params *p, const size_t *order,
			   size_t nv, const enum policy_verdict *verdict)
{
	unsigned int max = p->table[p->level].max_unload;
	size_t victims, eligible, want;

	eligible = check_verdicts(st, snap, c, n, p, verdict, &victims);
	want = (p->level == LEVEL_LOW) ? 0 : (max && max < eligible) ? max : eligible;
	if (nv != want)
		prop_fail(st, snap, "%zu victims, want %zu", nv, want);
	if (victims != nv)
		prop_fail(st, snap, "%zu VICTIM verdicts, %zu victims", victims, nv);
	check_order(st, snap, c, n, p, order, nv, verdict);

	/* Same victims without the verdict array. */
	if (policy_select_victims(c, n, p, st->order2, NULL) != nv ||
	    memcmp(st->order2, order, nv * sizeof(size_t)))
		prop_fail(st, snap, "different victims with NULL verdicts");
	st->victims += nv;
}

static uint64_t prop_seed(void)
{
	const char *s = getenv("POLICY_SEED");

	return s ? strtoull(s, NULL, 0) : DEFAULT_SEED;
}

/* Random snapshots of 0..max_n components, all checked; returns the state. */
static void run_property(struct prop_state *st, long snapshots, size_t max_n)
{
	struct policy_component *c = calloc(max_n, sizeof(*c));
	size_t *order = calloc(max_n, sizeof(*order));
	enum policy_verdict *verdict = calloc(max_n, sizeof(*verdict));
	struct policy_params p;

	st->order2 = calloc(max_n, sizeof(size_t));
	if (!c || !order || !verdict || !st->order2) {
		prop_fail(st, -1, "out of memory");
		return;
	}
	for (long s = 0; s < snapshots; s++) {
		size_t n = pick(max_n + 1), nv;

		rand_params(&p, n);
		for (size_t i = 0; i < n; i++)
			rand_component(&c[i], p.now_ns);
		memset(verdict, 0xff, max_n * sizeof(*verdict));
		nv = policy_select_victims(c, n, &p, order, verdict);
		check_snapshot(st, s, c, n, &p, order, nv, verdict);
	}
	free(c);
	free(order);
	free(verdict);
	free(st->order2);
}

static void report_property(const struct prop_state *st, long snapshots,
			    uint64_t seed)
{
	printf("# %ld snapshots, POLICY_SEED=0x%" PRIx64 ": %ld victims;",
	       snapshots, seed, st->victims);
	for (int v = VERDICT_VICTIM; v <= VERDICT_BEYOND_MAX; v++)
		printf(" %s %ld", policy_verdict_name(v), st->seen[v]);
	printf("\n");
	CHECK(st->failures == 0, "%ld violations, first: %s (seed 0x%" PRIx64 ")",
	      st->failures, st->first, seed);
	/* The generator must reach every verdict, or a rule goes untested. */
	for (int v = VERDICT_VICTIM; v <= VERDICT_BEYOND_MAX; v++)
		CHECK(st->seen[v] > snapshots / 10, "generator too tame: %ld %s",
		      st->seen[v], policy_verdict_name(v));
}

static void test_property_random_snapshots(void)
{
	struct prop_state st = { 0 };
	uint64_t seed = prop_seed();

	rng_state = seed ? seed : 1;
	run_property(&st, NR_SNAPSHOTS, MAXC);
	report_property(&st, NR_SNAPSHOTS, seed);
}

/* Fewer, larger snapshots: radix passes, large selections, long tie runs. */
static void test_property_large_snapshots(void)
{
	struct prop_state st = { 0 };
	uint64_t seed = prop_seed() ^ 0x9e3779b97f4a7c15ULL;

	rng_state = seed ? seed : 1;
	run_property(&st, NR_LARGE_SNAPSHOTS, MAX_LARGE_N);
	report_property(&st, NR_LARGE_SNAPSHOTS, seed);
}

/* Large-n patterns: random, sorted, reversed, all tied, tied but for size. */
static void fill_pattern(struct policy_component *c, size_t n, int pattern)
{
	static const int prios[] = { 10, 50, 90 };

	for (size_t i = 0; i < n; i++) {
		c[i] = comp("x", 50, 0);
		switch (pattern) {
		case 0:
			c[i].last_access_ns = rnd() % NOW;
			c[i].priority = (int)pick(101);
			break;
		case 1: c[i].last_access_ns = i * SEC; break;
		case 2: c[i].last_access_ns = NOW - i * SEC; break;
		case 3: c[i].last_access_ns = NOW / 2; break;
		default:	/* never touched since start: size decides */
			c[i].last_access_ns = NOW / 2;
			c[i].priority = prios[pick(3)];
			c[i].prefer_larger = true;
			c[i].rss_bytes = pick(1000) << 20;
		}
	}
}

/*
 * Large n: the full order is sorted, and the partial selection
 * (max_unload) equals its prefix, on patterns that stress the sort.
 */
static void test_large_selection_matches_full_sort(void)
{
	enum { N = 100000, K = 1000 };
	static struct policy_component c[N];
	static size_t full[N], part[N];
	struct policy_params p = params(LEVEL_CRITICAL);

	rng_state = DEFAULT_SEED;
	for (int pattern = 0; pattern < 5; pattern++) {
		size_t nf, np;
		bool sorted = true;

		fill_pattern(c, N, pattern);
		p.table[LEVEL_CRITICAL].max_unload = 0;
		nf = policy_select_victims(c, N, &p, full, NULL);
		p.table[LEVEL_CRITICAL].max_unload = K;
		np = policy_select_victims(c, N, &p, part, NULL);
		for (size_t i = 1; i < nf; i++)
			sorted &= ref_cmp(c, &p, full[i - 1], full[i]) < 0;
		CHECK(nf == N && np == K, "pattern %d: %zu/%zu victims", pattern, nf, np);
		CHECK(sorted, "pattern %d: full order not sorted", pattern);
		CHECK(!memcmp(full, part, K * sizeof(size_t)),
		      "pattern %d: partial selection differs", pattern);
	}
}

/* min_idle_time = 0 on a component: eligible at every level at once. */
static void test_component_min_idle_zero(void)
{
	struct policy_component c = { .name = "z", .loaded = true, .no_min_idle = true,
				      .last_access_ns = 1000 };
	struct policy_params p = { .level = LEVEL_MEDIUM, .global_min_idle_ns = 300,
				   .now_ns = 1000 };
	size_t order[1];

	p.table[LEVEL_MEDIUM] = (struct level_policy){ .min_idle_ns = 300, .max_unload = 1 };
	CHECK(policy_min_idle(&c, &p) == 0, "no idle requirement");
	CHECK(policy_select_victims(&c, 1, &p, order, NULL) == 1, "a victim though just used");
}

/* Just enough: victims taken in order until what they free covers the
 * need; at least one even with nothing to cover (a PSI-only level). */
static void test_just_enough(void)
{
	struct policy_component c[4] = {
		{ .name = "a", .frees_bytes = 400 },
		{ .name = "b", .frees_bytes = 400 },
		{ .name = "c", .frees_bytes = 0 },	/* a freeze: nothing counted on */
		{ .name = "d", .frees_bytes = 400 },
	};
	size_t order[4] = { 0, 1, 2, 3 };

	CHECK(policy_just_enough(c, order, 4, 0) == 1, "no excess: still one");
	CHECK(policy_just_enough(c, order, 4, 300) == 1, "one covers 300");
	CHECK(policy_just_enough(c, order, 4, 400) == 1, "one covers exactly 400");
	CHECK(policy_just_enough(c, order, 4, 401) == 2, "two for 401");
	CHECK(policy_just_enough(c, order, 4, 801) == 4, "a freeze counts nothing: four for 801");
	CHECK(policy_just_enough(c, order, 4, 5000) == 4, "never more than the victims");
	CHECK(policy_just_enough(c, order, 0, 5000) == 0, "none of none");
}

/*
 * Gentle steps (issue 12): a reclaim or hibernate step is the component's
 * unless its memory came straight back (refaulted) or, without swap room,
 * its file pages went already; then the next non-gentle step up applies,
 * and none is "nothing". What a gentle step frees is its anon memory as far
 * as swap has room, plus its file pages.
 */
static void test_gentle_steps(void)
{
	static struct component_config cc;
	struct component c = { .id = 1, .cfg = &cc, .state = COMP_ACTIVE, .nr_procs = 1,
			       .ladder_done = -1 };
	struct swap_facts swap = { .total = 1ull << 30, .free = 1ull << 30 };
	struct swap_facts none = {}, full = { .total = 1ull << 30, .free = 1 << 20 };
	struct registry reg = { .comps = &c, .nr_comps = 1, .swap = swap };
	struct policy_component pc;
	struct policy_step st;

	memset(&cc, 0, sizeof(cc));
	snprintf(cc.name, sizeof(cc.name), "g");
	cc.ladder[LEVEL_MEDIUM].kind = ACTION_RECLAIM;
	cc.ladder[LEVEL_HIGH].kind = ACTION_HIBERNATE;
	cc.ladder[LEVEL_CRITICAL].kind = ACTION_TERM;
	c.rss[MEMSHED_RSS_ANON] = 200 << 20;
	c.rss[MEMSHED_RSS_FILE] = 10 << 20;
	c.rss_total = 210 << 20;

	policy_step(&c, LEVEL_MEDIUM, &swap, &st);
	CHECK(st.action == &cc.ladder[LEVEL_MEDIUM] && st.level == LEVEL_MEDIUM && !st.skip &&
	      !st.file_only, "reclaim with swap is the ladder's");
	policy_step(&c, LEVEL_MEDIUM, &none, &st);
	CHECK(st.action == &cc.ladder[LEVEL_MEDIUM] && st.file_only && !st.skip,
	      "without swap, the first reclaim runs file-only");

	c.file_only_done = true;
	policy_step(&c, LEVEL_MEDIUM, &none, &st);
	CHECK(st.action == &cc.ladder[LEVEL_CRITICAL] && st.level == LEVEL_CRITICAL &&
	      st.skip == STEP_SKIP_NO_SWAP && st.skipped == ACTION_RECLAIM,
	      "no swap, file pages gone: hibernate passed too, term applies");
	policy_step(&c, LEVEL_MEDIUM, &full, &st);
	CHECK(st.skip == STEP_SKIP_SWAP_FULL && st.action->kind == ACTION_TERM, "swap full");
	policy_step(&c, LEVEL_MEDIUM, &swap, &st);
	CHECK(!st.skip && st.action->kind == ACTION_RECLAIM, "swap back: reclaim again");
	c.file_only_done = false;

	c.refaulted = true;
	policy_step(&c, LEVEL_HIGH, &swap, &st);
	CHECK(st.skip == STEP_SKIP_REFAULTED && st.action->kind == ACTION_TERM,
	      "refaulted: the next step");
	cc.ladder[LEVEL_CRITICAL].kind = ACTION_HIBERNATE;
	policy_step(&c, LEVEL_HIGH, &swap, &st);
	CHECK(!st.action, "refaulted, nothing further up: nothing");
	policy_snapshot(&reg, LEVEL_HIGH, NOW, &pc);
	CHECK(!pc.loaded, "nothing to do is not loaded");
	c.refaulted = false;

	/* Once per level per episode, and what it frees. */
	policy_snapshot(&reg, LEVEL_MEDIUM, NOW, &pc);
	CHECK(pc.loaded && pc.frees_bytes == 210 << 20, "reclaim frees anon + file: %" PRIu64,
	      pc.frees_bytes);
	c.ladder_done = LEVEL_MEDIUM;
	policy_snapshot(&reg, LEVEL_MEDIUM, NOW, &pc);
	CHECK(!pc.loaded, "reclaim taken at medium");
	reg.swap = none;
	c.ladder_done = -1;
	policy_snapshot(&reg, LEVEL_MEDIUM, NOW, &pc);
	CHECK(pc.frees_bytes == 10 << 20, "no swap: file pages only");
	reg.swap = (struct swap_facts){ .total = 1ull << 30, .free = 50 << 20 };
	policy_snapshot(&reg, LEVEL_MEDIUM, NOW, &pc);
	CHECK(pc.frees_bytes == 60 << 20, "as far as swap has room");
}

int main(void)
{
	RUN_TEST(test_just_enough);
	RUN_TEST(test_component_min_idle_zero);
	RUN_TEST(test_level_low_unloads_nothing);
	RUN_TEST(test_level_medium_one_victim_full_min_idle);
	RUN_TEST(test_level_high_three_victims_half_min_idle);
	RUN_TEST(test_level_critical_all_but_in_use);
	RUN_TEST(test_in_use_never_at_any_level);
	RUN_TEST(test_critical_only_at_critical);
	RUN_TEST(test_not_loaded_skipped);
	RUN_TEST(test_recent_boundary);
	RUN_TEST(test_future_access_is_recent);
	RUN_TEST(test_max_unload_zero_means_all);
	RUN_TEST(test_order_priority_ascending);
	RUN_TEST(test_order_idle_descending);
	RUN_TEST(test_order_size_with_prefer_larger);
	RUN_TEST(test_order_without_prefer_larger_is_index);
	RUN_TEST(test_min_idle_override_scales_per_level);
	RUN_TEST(test_min_idle_no_override_is_table);
	RUN_TEST(test_min_idle_override_no_overflow);
	RUN_TEST(test_min_idle_override_in_selection);
	RUN_TEST(test_verdict_names);
	RUN_TEST(test_params_from_config);
	RUN_TEST(test_snapshot_of_registry);
	RUN_TEST(test_gentle_steps);
	RUN_TEST(test_empty_and_null_verdicts);
	RUN_TEST(test_bogus_level_unloads_nothing);
	RUN_TEST(test_property_random_snapshots);
	RUN_TEST(test_property_large_snapshots);
	RUN_TEST(test_large_selection_matches_full_sort);
	return harness_exit();
}
