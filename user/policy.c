// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The unload policy (DESIGN 6), a pure function over plain structs.
 *
 * Order of victims: priority ascending (lower = less important = first;
 * DESIGN 1 follows the seed's prose, not its inverted sample sort), then
 * idle time descending, then size key descending (size key = rss_bytes if
 * the component has prefer_larger, else 0), then index ascending. The index
 * makes the order total, so the result never depends on the sort algorithm.
 *
 * Speed (DESIGN 9: 100,000 components in <= 5 ms) without allocating: a
 * comparison sort of 100k elements alone takes ~6 ms on our machines, so
 * each eligible component goes into the caller's ret_order as one packed
 * word, [priority | idle | index], with a lossy but monotone idle code. An
 * in-place MSD radix sort (American flag sort) orders the words. Runs of
 * equal codes are then resolved exactly: in index order if the components
 * truly tie, by a second radix pass on size if only size differs, else by
 * the comparator. So the lossy code changes the speed, never the result.
 * When max_unload < eligible, a heap or radix select finds the first
 * max_unload and only those are sorted: O(n + k log k).
 *
 * Needs unsigned __int128 (64-bit targets) for the min_idle scaling.
 */
#include <stdbool.h>
#include <stddef.h>
#include <limits.h>
#include <stdint.h>

#include "policy.h"

/* Below this many elements insertion sort beats partitioning. */
#define SMALL_RANGE 16

struct order_ctx {
	const struct policy_component *comps;
	uint64_t now_ns;
};

/* A last access in the future (clock skew, a racy touch) counts as idle 0. */
static inline uint64_t idle_ns(const struct policy_component *c, uint64_t now)
{
	return c->last_access_ns < now ? now - c->last_access_ns : 0;
}

/* Masked, not branched: prefer_larger is random across components. */
static inline uint64_t size_key(const struct policy_component *c)
{
	return c->rss_bytes & -(uint64_t)c->prefer_larger;
}

/* Strict total order: true if component a is unloaded before component b. */
static inline bool goes_before(const struct order_ctx *x, size_t a, size_t b)
{
	const struct policy_component *ca = &x->comps[a], *cb = &x->comps[b];
	uint64_t ia, ib, sa, sb;

	if (ca->priority != cb->priority)
		return ca->priority < cb->priority;
	ia = idle_ns(ca, x->now_ns);
	ib = idle_ns(cb, x->now_ns);
	if (ia != ib)
		return ia > ib;
	sa = size_key(ca);
	sb = size_key(cb);
	if (sa != sb)
		return sa > sb;
	return a < b;
}

static inline void swap_idx(size_t *v, size_t i, size_t j)
{
	size_t t = v[i];

	v[i] = v[j];
	v[j] = t;
}

static void insertion_sort(const struct order_ctx *x, size_t *v, size_t lo,
			   size_t hi)
{
	for (size_t i = lo + 1; i < hi; i++) {
		size_t e = v[i], j = i;

		for (; j > lo && goes_before(x, e, v[j - 1]); j--)
			v[j] = v[j - 1];
		v[j] = e;
	}
}

static void sift_down(const struct order_ctx *x, size_t *v, size_t root,
		      size_t n)
{
	for (size_t child; (child = 2 * root + 1) < n; root = child) {
		if (child + 1 < n && goes_before(x, v[child], v[child + 1]))
			child++;
		if (!goes_before(x, v[root], v[child]))
			return;
		swap_idx(v, root, child);
	}
}

/* The introsort fallback: guarantees O(n log n) on adversarial input. */
static void heap_sort(const struct order_ctx *x, size_t *v, size_t n)
{
	for (size_t i = n / 2; i-- > 0;)
		sift_down(x, v, i, n);
	for (size_t end = n; end-- > 1;) {
		swap_idx(v, 0, end);
		sift_down(x, v, 0, end);
	}
}

static inline void order3(const struct order_ctx *x, size_t *v, size_t a,
			  size_t b, size_t c)
{
	if (goes_before(x, v[b], v[a]))
		swap_idx(v, a, b);
	if (goes_before(x, v[c], v[b]))
		swap_idx(v, b, c);
	if (goes_before(x, v[b], v[a]))
		swap_idx(v, a, b);
}

/*
 * Median-of-three partition of [lo, hi), hi - lo >= 3. Returns p with
 * [lo, p) before v[p] and (p, hi) after it. v[lo] and v[hi-1] end up as
 * sentinels, so the inner loops need no bounds checks.
 */
static size_t partition(const struct order_ctx *x, size_t *v, size_t lo,
			size_t hi)
{
	size_t i = lo + 1, j = hi - 1, pivot;

	order3(x, v, lo, lo + (hi - lo) / 2, hi - 1);
	swap_idx(v, lo + (hi - lo) / 2, lo + 1);
	pivot = v[lo + 1];
	for (;;) {
		do i++; while (goes_before(x, v[i], pivot));
		do j--; while (goes_before(x, pivot, v[j]));
		if (i >= j)
			break;
		swap_idx(v, i, j);
	}
	swap_idx(v, lo + 1, j);
	return j;
}

static unsigned int depth_limit(size_t n)
{
	unsigned int d = 0;

	while (n >>= 1)
		d++;
	return 2 * d;
}

static void intro_sort(const struct order_ctx *x, size_t *v, size_t lo,
		       size_t hi, unsigned int depth)
{
	while (hi - lo > SMALL_RANGE) {
		size_t p;

		if (depth-- == 0) {
			heap_sort(x, v + lo, hi - lo);
			return;
		}
		p = partition(x, v, lo, hi);
		/* Recurse into the smaller side: stack depth O(log n). */
		if (p - lo < hi - p) {
			intro_sort(x, v, lo, p, depth);
			lo = p + 1;
		} else {
			intro_sort(x, v, p + 1, hi, depth);
			hi = p;
		}
	}
	insertion_sort(x, v, lo, hi);
}

/*
 * Packed sort keys. A key is one size_t: the component's index in the low
 * ibits, above it a prefix that is monotone in the unload order: priority
 * code, then inverted idle code. Different prefixes are in the right
 * order; a run of equal prefixes is resolved exactly (resolve_runs).
 *
 * Idle is coded linearly (idle <= now, so idle >> idle_shift fits): the
 * radix sort splits on the bits that vary, and a linear code puts the
 * spread of idle times into those bits (a log code would waste them on a
 * near-constant exponent). Size cannot share the prefix: when two idle
 * codes tie but the idle times differ, a size field below would decide,
 * wrongly. Runs tied on priority and idle get a second key, size.
 */
#define KEY_BITS	((unsigned int)(sizeof(size_t) * CHAR_BIT))
#define PRIO_BITS	7	/* codes 0..102 */
#define PRIO_LOW	0	/* every priority < 0 */
#define PRIO_HIGH	102	/* every priority > 100 */

struct packing {
	unsigned int ibits;		/* index bits, at the bottom */
	unsigned int idle_bits;		/* KEY_BITS - ibits - PRIO_BITS */
	unsigned int idle_shift;	/* idle code = idle >> idle_shift */
	bool has_prefix;		/* false: huge n, the comparator does all */
};

static inline unsigned int bit_width(uint64_t v)
{
	return v ? 64 - (unsigned int)__builtin_clzll(v) : 0;
}

static inline uint64_t low_mask(unsigned int bits)
{
	return bits >= 64 ? UINT64_MAX : (1ULL << bits) - 1;
}

static void packing_init(struct packing *pk, size_t n, uint64_t now)
{
	unsigned int rest, now_bits = bit_width(now);

	pk->ibits = bit_width(n > 1 ? n - 1 : 0);
	rest = KEY_BITS - pk->ibits;
	pk->has_prefix = rest >= PRIO_BITS;
	pk->idle_bits = pk->has_prefix ? rest - PRIO_BITS : 0;
	pk->idle_shift = now_bits > pk->idle_bits ? now_bits - pk->idle_bits : 0;
}

static inline uint64_t prio_code(int prio)
{
	if (prio < 0)
		return PRIO_LOW;
	return prio > 100 ? PRIO_HIGH : (uint64_t)prio + 1;
}

/* The first key: priority, then idle time. */
static inline size_t pack_key(const struct packing *pk,
			      const struct policy_component *c, size_t i,
			      uint64_t now)
{
	uint64_t pc, ic = 0;

	if (!pk->has_prefix)
		return i;
	pc = prio_code(c->priority);
	/* Out-of-range priorities share a code: idle would mislead. */
	if (pc != PRIO_LOW && pc != PRIO_HIGH && pk->idle_bits)
		ic = low_mask(pk->idle_bits) - (idle_ns(c, now) >> pk->idle_shift);
	return (size_t)((pc << pk->idle_bits | ic) << pk->ibits) | i;
}

/*
 * The second key, for runs tied on priority and idle: size, descending,
 * coded linearly below the run's largest size (size >> shift fits).
 */
static inline size_t pack_size_key(const struct packing *pk,
				   const struct policy_component *c, size_t i,
				   unsigned int shift)
{
	unsigned int bits = KEY_BITS - pk->ibits;

	if (!pk->has_prefix)
		return i;
	return (size_t)((low_mask(bits) - (size_key(c) >> shift)) << pk->ibits) | i;
}

static inline size_t key_prefix(const struct packing *pk, size_t k)
{
	return pk->has_prefix ? k >> pk->ibits : 0;
}

static inline size_t key_index(const struct packing *pk, size_t k)
{
	return pk->has_prefix ? k & (size_t)low_mask(pk->ibits) : k;
}

/* The lowest prefix bit: radix passes stop there. */
static inline unsigned int key_floor(const struct packing *pk)
{
	return pk->has_prefix ? pk->ibits : KEY_BITS;
}

/* In-place MSD radix sort of keys (American flag sort), 8-bit digits. */
#define RADIX_BITS	8
#define RADIX		(1u << RADIX_BITS)
#define RADIX_SMALL	48	/* below this, insertion sort is faster */
#define HEAP_SELECT_MAX	64	/* above this, radix_select is faster */

static inline unsigned int digit(size_t k, unsigned int shift)
{
	return (unsigned int)(k >> shift) & (RADIX - 1);
}

/* The bits that vary within v[0, n). */
static size_t varying_bits(const size_t *v, size_t n)
{
	size_t any = 0, all = SIZE_MAX;

	for (size_t i = 0; i < n; i++) {
		any |= v[i];
		all &= v[i];
	}
	return any ^ all;
}

/*
 * Whether keys differ at or above bit @floor. Sorting stops at the floor:
 * below it is the index, and a run tied above it is re-sorted anyway.
 */
static inline bool varies_above(size_t vary, unsigned int floor)
{
	return floor < KEY_BITS && (vary >> floor) != 0;
}

/*
 * The digit to split on: the top 8 of the bits that vary. Bits constant
 * in a bucket (one priority, idle times close together) cost no pass.
 */
static inline unsigned int split_shift(size_t vary)
{
	unsigned int w = bit_width(vary);

	return w > RADIX_BITS ? w - RADIX_BITS : 0;
}

static void insertion_sort_keys(size_t *v, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		size_t k = v[i], j = i;

		for (; j > 0 && k < v[j - 1]; j--)
			v[j] = v[j - 1];
		v[j] = k;
	}
}

/* One pass: permute v[0, n) into buckets by digit; end[d] ends bucket d. */
static void radix_partition(size_t *v, size_t n, unsigned int shift,
			    size_t end[RADIX])
{
	size_t next[RADIX] = { 0 }, sum = 0;

	for (size_t i = 0; i < n; i++)
		next[digit(v[i], shift)]++;
	for (unsigned int d = 0; d < RADIX; d++) {
		size_t count = next[d];

		next[d] = sum;
		sum += count;
		end[d] = sum;
	}
	for (unsigned int d = 0; d < RADIX; d++) {
		while (next[d] < end[d]) {
			size_t k = v[next[d]];
			unsigned int kd;

			/* Follow the cycle: place k, pick up what it displaces. */
			while ((kd = digit(k, shift)) != d) {
				size_t t = v[next[kd]];

				v[next[kd]++] = k;
				k = t;
			}
			v[next[d]++] = k;
		}
	}
}

/*
 * Sort keys v[0, n) on their bits from @floor up. Every split consumes
 * the top varying bit, so the recursion ends.
 */
static void radix_sort(size_t *v, size_t n, unsigned int floor)
{
	size_t end[RADIX], start = 0, vary;

	if (n <= RADIX_SMALL) {
		insertion_sort_keys(v, n);
		return;
	}
	vary = varying_bits(v, n);
	if (!varies_above(vary, floor))
		return;
	radix_partition(v, n, split_shift(vary), end);
	for (unsigned int d = 0; d < RADIX; start = end[d++])
		if (end[d] - start > 1)
			radix_sort(v + start, end[d] - start, floor);
}

/*
 * Move the k smallest keys of v[0, n) into v[0, k), any order, judged on
 * bits from @floor up; 0 < k < n. A straddling run tied above the floor
 * is gathered whole later (gather_boundary_run), so it may stay split.
 */
static void radix_select(size_t *v, size_t n, size_t k, unsigned int floor)
{
	while (n > RADIX_SMALL) {
		size_t end[RADIX], start = 0, vary = varying_bits(v, n);
		unsigned int d = 0;

		if (!varies_above(vary, floor))
			return;
		radix_partition(v, n, split_shift(vary), end);
		for (; end[d] < k; d++)
			start = end[d];
		if (end[d] == k)
			return;
		/* Only bucket d straddles the boundary: narrow to it. */
		v += start;
		n = end[d] - start;
		k -= start;
	}
	insertion_sort_keys(v, n);
}

static void sift_down_keys(size_t *v, size_t root, size_t n)
{
	for (size_t child; (child = 2 * root + 1) < n; root = child) {
		if (child + 1 < n && v[child] < v[child + 1])
			child++;
		if (v[root] > v[child])
			return;
		swap_idx(v, root, child);
	}
}

/*
 * Small k (medium and high take 1 and 3 by default): keep the k smallest
 * keys seen in a max-heap at v[0, k). One well-predicted compare per key
 * beats a radix pass that moves every key.
 */
static void heap_select(size_t *v, size_t n, size_t k)
{
	for (size_t i = k / 2; i-- > 0;)
		sift_down_keys(v, i, k);
	for (size_t i = k; i < n; i++) {
		if (v[i] < v[0]) {
			swap_idx(v, 0, i);
			sift_down_keys(v, 0, k);
		}
	}
}

/* Move the k smallest keys of v[0, n) into v[0, k), any order; 0 < k < n. */
static void select_first(const struct packing *pk, size_t *v, size_t n,
			 size_t k)
{
	if (k <= HEAP_SELECT_MAX)
		heap_select(v, n, k);
	else
		radix_select(v, n, k, key_floor(pk));
}

/* How far the components of a run v[0, n) (indices) agree with its first. */
enum agreement { AGREE_NONE, AGREE_PRIO_IDLE, AGREE_ALL };

/*
 * Also the run's largest size key, for sort_by_size: the run's components
 * lie all over comps (cache misses), so both come from one pass.
 */
static enum agreement run_agreement(const struct order_ctx *x, const size_t *v,
				    size_t n, uint64_t *ret_max_size)
{
	const struct policy_component *a = &x->comps[v[0]];
	uint64_t ia = idle_ns(a, x->now_ns), sa = size_key(a), max = sa;
	enum agreement r = AGREE_ALL;

	for (size_t i = 1; i < n; i++) {
		const struct policy_component *b = &x->comps[v[i]];
		uint64_t sb = size_key(b);

		if (b->priority != a->priority || idle_ns(b, x->now_ns) != ia)
			return AGREE_NONE;
		if (sb != sa)
			r = AGREE_PRIO_IDLE;
		max = sb > max ? sb : max;
	}
	*ret_max_size = max;
	return r;
}

static void resolve_runs(const struct order_ctx *x, const struct packing *pk,
			 size_t *v, size_t n, bool by_size);

/*
 * A run tied on priority and idle time, e.g. many components never touched
 * since start: radix sort it again by size rather than compare it all.
 */
static void sort_by_size(const struct order_ctx *x, const struct packing *pk,
			 size_t *v, size_t n, uint64_t max_size)
{
	unsigned int bits = KEY_BITS - pk->ibits, w = bit_width(max_size);
	unsigned int shift = w > bits ? w - bits : 0;

	for (size_t i = 0; i < n; i++) {
		v[i] = pack_size_key(pk, &x->comps[v[i]], v[i], shift);
	}
	radix_sort(v, n, key_floor(pk));
	resolve_runs(x, pk, v, n, true);
}

/*
 * Turn sorted keys v[0, n) back into indices. A run of equal prefixes
 * whose components truly tie is put in index order; otherwise it is
 * sorted by size (first key only) or by the exact comparator.
 */
static void resolve_runs(const struct order_ctx *x, const struct packing *pk,
			 size_t *v, size_t n, bool by_size)
{
	for (size_t i = 0, j; i < n; i = j) {
		size_t prefix = key_prefix(pk, v[i]);
		enum agreement a;
		uint64_t max_size = 0;

		for (j = i + 1; j < n && key_prefix(pk, v[j]) == prefix; j++)
			;
		for (size_t t = i; t < j; t++)
			v[t] = key_index(pk, v[t]);
		if (j - i < 2)
			continue;
		a = run_agreement(x, v + i, j - i, &max_size);
		if (a == AGREE_ALL)
			radix_sort(v + i, j - i, 0);	/* indices: distinct keys */
		else if (a == AGREE_PRIO_IDLE && !by_size)
			sort_by_size(x, pk, v + i, j - i, max_size);
		else
			intro_sort(x, v, i, j, depth_limit(j - i));
	}
}

/*
 * After radix_select, v[0, k) holds the k smallest keys, but the run of
 * its largest prefix may continue in v[k, n), and those components may
 * truly go first. Move them to v[k, k + r) so the sort sees the whole run.
 * Returns r.
 */
static size_t gather_boundary_run(const struct packing *pk, size_t *v,
				  size_t n, size_t k)
{
	size_t max = 0, r = 0;

	for (size_t i = 0; i < k; i++)
		if (key_prefix(pk, v[i]) > max)
			max = key_prefix(pk, v[i]);
	for (size_t i = k; i < n; i++)
		if (key_prefix(pk, v[i]) == max)
			swap_idx(v, i, k + r++);
	return r;
}

/*
 * Component override: a component's min_idle_time replaces the global one,
 * and each level keeps its ratio to the global (medium 1x, high 0.5x,
 * critical 0 by default), so the level's value is scaled by
 * c->min_idle / global. Without a global to scale against, the table value
 * stands. 128-bit arithmetic: the product of two ns values overflows 64
 * bits; the result saturates.
 */
static inline uint64_t min_idle_of(const struct policy_component *c,
				   const struct policy_params *p)
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
 * Why a component may not be unloaded at this level, or VERDICT_VICTIM.
 * The flags are random across components, so no early returns: the later
 * (stronger) reason overrides, which compiles to conditional moves.
 */
static inline enum policy_verdict eligibility(const struct policy_component *c,
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

/*
 * Verdict of every component; packed keys of the eligible ones into v.
 * Every key is written and e advances only for eligible ones: no branch
 * to mispredict. v[e] is in bounds since e <= i < n.
 */
static size_t collect(const struct policy_component *comps, size_t n,
		      const struct policy_params *p, const struct packing *pk,
		      size_t *v, enum policy_verdict *ret_verdict)
{
	size_t e = 0;

	for (size_t i = 0; i < n; i++) {
		enum policy_verdict vd = eligibility(&comps[i], p);
		size_t key = pack_key(pk, &comps[i], i, p->now_ns);

		set_verdict(ret_verdict, i, vd);
		v[e] = key;
		e += vd == VERDICT_VICTIM;
	}
	return e;
}

size_t policy_select_victims(const struct policy_component *comps, size_t n,
			     const struct policy_params *p, size_t *ret_order,
			     enum policy_verdict *ret_verdict)
{
	struct order_ctx x = { .comps = comps, .now_ns = p->now_ns };
	struct packing pk;
	size_t eligible, take, sorted;
	unsigned int max;

	/* An out-of-range level is treated as low: when in doubt, unload nothing. */
	if (p->level == LEVEL_LOW || (unsigned int)p->level >= NR_LEVELS) {
		for (size_t i = 0; i < n; i++)
			set_verdict(ret_verdict, i, VERDICT_LEVEL_LOW);
		return 0;
	}

	packing_init(&pk, n, p->now_ns);
	eligible = collect(comps, n, p, &pk, ret_order, ret_verdict);
	max = p->table[p->level].max_unload;
	take = (max == 0 || max >= eligible) ? eligible : max;
	sorted = eligible;
	if (take < eligible) {
		select_first(&pk, ret_order, eligible, take);
		sorted = take + gather_boundary_run(&pk, ret_order, eligible, take);
	}
	radix_sort(ret_order, sorted, key_floor(&pk));
	resolve_runs(&x, &pk, ret_order, sorted, false);

	for (size_t i = sorted; i < eligible; i++)
		ret_order[i] = key_index(&pk, ret_order[i]);
	for (size_t i = take; i < eligible; i++)
		set_verdict(ret_verdict, ret_order[i], VERDICT_BEYOND_MAX);
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
