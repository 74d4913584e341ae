// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Selection time of policy_select_victims (DESIGN 9: 100,000 components in
 * <= 5 ms). Random snapshots of 4,095 (the config's cap on components),
 * 10,000 and 100,000 components, 50 timed runs each after a warm-up,
 * CLOCK_MONOTONIC. One JSON object per line:
 *   {"bench":"policy_select","level":"critical","n":100000,"p50_us":..,"p99_us":..}
 * Critical is the worst case (every eligible component is sorted); medium
 * takes one victim (selection, not a full sort). "data":"ties" is the
 * other hard case: one idle time for all (e.g. nothing touched since
 * start), three priorities, prefer_larger, so size decides.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy.h"

#define REPS	50
#define SEC	1000000000ULL
#define NOW	(1000000ULL * SEC)

static uint64_t rng_state = 0x6d656d73686564ULL;

static uint64_t rnd(void)	/* xorshift64* */
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

/* Realistic mix: most loaded and idle, a few held or critical. */
static void fill(struct policy_component *c, size_t n, bool ties)
{
	static const int prios[] = { 10, 50, 90 };

	for (size_t i = 0; i < n; i++) {
		memset(&c[i], 0, sizeof(c[i]));
		c[i].name = "bench";
		c[i].priority = (int)(rnd() % 101);
		c[i].loaded = rnd() % 20 != 0;
		c[i].in_use = rnd() % 20 == 0;
		c[i].critical = rnd() % 20 == 0;
		c[i].prefer_larger = rnd() & 1;
		c[i].last_access_ns = NOW - rnd() % (3600 * SEC);
		c[i].rss_bytes = rnd() % (1ULL << 32);
		if (ties) {
			c[i].priority = prios[rnd() % 3];
			c[i].prefer_larger = true;
			c[i].last_access_ns = NOW - 3600 * SEC;
		}
	}
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted samples. */
static double pct_us(const uint64_t *sorted, size_t n, double pct)
{
	size_t rank = (size_t)(pct / 100.0 * (double)n + 0.999999);

	return sorted[rank ? rank - 1 : 0] / 1000.0;
}

static int bench(size_t n, enum level level, const char *level_name, bool ties)
{
	struct policy_component *c = calloc(n, sizeof(*c));
	size_t *order = calloc(n, sizeof(*order));
	enum policy_verdict *verdict = calloc(n, sizeof(*verdict));
	struct policy_params p;
	uint64_t t[REPS];
	size_t victims = 0;

	if (!c || !order || !verdict) {
		fprintf(stderr, "bench_policy: out of memory\n");
		return -1;
	}
	fill(c, n, ties);
	memset(&p, 0, sizeof(p));
	p.level = level;
	p.now_ns = NOW;
	p.global_min_idle_ns = 300 * SEC;
	p.table[LEVEL_MEDIUM] = (struct level_policy){ 300 * SEC, 1 };
	p.table[LEVEL_HIGH] = (struct level_policy){ 150 * SEC, 3 };
	p.table[LEVEL_CRITICAL] = (struct level_policy){ 0, 0 };

	policy_select_victims(c, n, &p, order, verdict);	/* warm caches */
	for (int r = 0; r < REPS; r++) {
		uint64_t t0 = now_ns();

		victims = policy_select_victims(c, n, &p, order, verdict);
		t[r] = now_ns() - t0;
	}
	qsort(t, REPS, sizeof(t[0]), cmp_u64);
	printf("{\"bench\":\"policy_select\",\"level\":\"%s\",\"data\":\"%s\","
	       "\"n\":%zu,\"victims\":%zu,\"reps\":%d,\"min_us\":%.1f,"
	       "\"p50_us\":%.1f,\"p99_us\":%.1f}\n", level_name,
	       ties ? "ties" : "random", n, victims, REPS, t[0] / 1000.0,
	       pct_us(t, REPS, 50), pct_us(t, REPS, 99));
	free(c);
	free(order);
	free(verdict);
	return 0;
}

int main(void)
{
	static const size_t sizes[] = { 4095, 10000, 100000 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		if (bench(sizes[i], LEVEL_CRITICAL, "critical", false) ||
		    bench(sizes[i], LEVEL_MEDIUM, "medium", false) ||
		    bench(sizes[i], LEVEL_CRITICAL, "critical", true))
			return 1;
	}
	return 0;
}
