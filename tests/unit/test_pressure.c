// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Unit tests of the pressure module's pure parts (user/pressure.c): the
 * usage and PSI levels, a fired PSI trigger confirmed (or refuted) by the
 * stall totals, and when usage must be measured next given the headroom
 * to the next line and the fastest growth the host allows.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "pressure.h"

#define MS	1000000ull
#define SEC	(1000 * MS)
#define MiB	(1024ull * 1024)
#define GiB	(1024 * MiB)

static struct config cfg;

static void test_usage_levels(void)
{
	CHECK(pressure_usage_level(&cfg, 0.10) == LEVEL_LOW, "10%% is low");
	CHECK(pressure_usage_level(&cfg, 0.74999) == LEVEL_LOW, "below medium is low");
	CHECK(pressure_usage_level(&cfg, 0.75) == LEVEL_MEDIUM, "the seed's medium line");
	CHECK(pressure_usage_level(&cfg, 0.85) == LEVEL_HIGH, "the seed's high line");
	CHECK(pressure_usage_level(&cfg, 0.95) == LEVEL_CRITICAL, "the seed's critical line");
	CHECK(pressure_usage_level(&cfg, 1.70) == LEVEL_CRITICAL, "over the limit");
}

static void test_psi_levels(void)
{
	struct psi_avgs p = {};

	CHECK(pressure_psi_level(&cfg, &p) == LEVEL_LOW, "no stall");
	p.some[0] = 5;
	CHECK(pressure_psi_level(&cfg, &p) == LEVEL_MEDIUM, "some 5%%: medium");
	p.full[0] = 5;
	CHECK(pressure_psi_level(&cfg, &p) == LEVEL_HIGH, "full 5%%: high");
	p.some[0] = 40;
	CHECK(pressure_psi_level(&cfg, &p) == LEVEL_CRITICAL, "some 40%%: critical");
}

/* A trigger armed at an idle moment that fires at once, for stall from
 * before it existed (the bug of a fresh daemon going critical with avg10
 * at 0.00%), is refuted; a real one is confirmed. */
static void test_psi_confirmation(void)
{
	struct psi_reading armed = { 1 * SEC, 5000000, 1000000 };
	struct psi_reading same = { 1 * SEC + 10 * MS, 5000000, 1000000 };
	struct psi_reading grew = { 3 * SEC, 5000000 + 150000, 1000000 + 20000 };

	CHECK(!psi_confirms(&armed, &same, false, 100000), "no growth since armed: refuted");
	CHECK(psi_confirms(&armed, &grew, false, 100000), "150 ms some of 100 ms: confirmed");
	CHECK(!psi_confirms(&armed, &grew, true, 100000), "20 ms full of 100 ms: refuted");
	CHECK(psi_confirms(&armed, &grew, true, 20000), "20 ms full of 20 ms: confirmed");
	CHECK(!psi_confirms(&grew, &armed, false, 1), "a total that went down confirms nothing");
}

static void test_next_sample(void)
{
	uint64_t rate = 4 * GiB;	/* bytes per second */

	/* 1 GiB limit, medium at 768 MiB. */
	CHECK(pressure_next_sample_ns(&cfg, 100 * MiB, GiB, rate, 10 * MS, SEC) ==
	      (uint64_t)((668.0 * MiB) / rate * SEC), "headroom / rate");
	CHECK(pressure_next_sample_ns(&cfg, 767 * MiB, GiB, rate, 10 * MS, SEC) == 10 * MS,
	      "near a line: the shortest interval");
	CHECK(pressure_next_sample_ns(&cfg, 10 * MiB, 64 * GiB, rate, 10 * MS, SEC) == SEC,
	      "far from every line: the longest");
	CHECK(pressure_next_sample_ns(&cfg, 800 * MiB, GiB, rate, 10 * MS, SEC) ==
	      (uint64_t)((870.4 - 800) * MiB / rate * SEC), "the next line up is high's");
	CHECK(pressure_next_sample_ns(&cfg, 2 * GiB, GiB, rate, 10 * MS, SEC) == SEC,
	      "above every line: the level itself acts");
	CHECK(pressure_next_sample_ns(&cfg, 100 * MiB, GiB, 0, 10 * MS, SEC) == SEC,
	      "no rate known: the longest");
}

int main(void)
{
	config_init_defaults(&cfg);
	RUN_TEST(test_usage_levels);
	RUN_TEST(test_psi_levels);
	RUN_TEST(test_psi_confirmation);
	RUN_TEST(test_next_sample);
	return harness_exit();
}
