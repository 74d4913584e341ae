// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Unit tests of the history records (user/history.c): what is written at
 * an evaluation, and what is coalesced away - slow drift adds up to a
 * step, an access is written with its time, a busy spell once at each end.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <linux/types.h>		/* before memshed.h, via registry.h */

#include "config.h"
#include "eventlog.h"
#include "harness.h"
#include "history.h"
#include "pressure.h"
#include "registry.h"

#define SEC	1000000000ull
#define MIB	(1ull << 20)

static int nr_state, nr_sample, last_busy;
static uint64_t last_access;

static void sink(void *ctx, const char *type, const char *json, size_t len)
{
	const char *b = strstr(json, "\"busy\":");
	const char *a = strstr(json, "\"last_access_ns\":");

	(void)ctx, (void)len;
	if (!strcmp(type, "state")) {
		nr_state++;
		last_busy = b ? b[7] == '1' : -1;
		last_access = a ? strtoull(a + 17, NULL, 10) : 0;
	} else if (!strcmp(type, "sample")) {
		nr_sample++;
	}
}

static struct config cfg;
static struct component_config cc = { .name = "a" };
static struct component comp;
static struct registry reg = { .comps = &comp, .nr_comps = 1 };
static struct pressure pr;
static struct history h;

/* One evaluation at t seconds: how many state and sample records. */
static void eval(uint64_t t, int *states, int *samples)
{
	nr_state = nr_sample = 0;
	history_record(&h, &reg, &pr, t * SEC);
	*states = nr_state;
	*samples = nr_sample;
}

static void setup(void)
{
	config_init_defaults(&cfg);
	comp = (struct component){ .cfg = &cc, .state = COMP_ACTIVE, .nr_procs = 1,
				   .rss_total = 100 * MIB };
	pr = (struct pressure){ .cfg = &cfg, .usage = 100 * MIB, .limit = 1024 * MIB };
	memset(&h, 0, sizeof(h));
}

static void test_first_then_nothing(void)
{
	int s, p;

	setup();
	eval(1, &s, &p);
	CHECK(s == 1 && p == 1, "everything at first: %d states, %d samples", s, p);
	eval(2, &s, &p);
	CHECK(s == 0 && p == 0, "nothing moved: %d, %d", s, p);
	comp.rss_total += 100 * MIB / 32;
	pr.usage += 1024 * MIB / 256;
	eval(3, &s, &p);
	CHECK(s == 0 && p == 0, "below the steps: %d, %d", s, p);
	comp.rss_total += 100 * MIB / 32;
	pr.usage += 1024 * MIB / 256;
	eval(4, &s, &p);
	CHECK(s == 1 && p == 1, "drift adds up to a step: %d, %d", s, p);
	comp.nr_procs = 2;
	eval(5, &s, &p);
	CHECK(s == 1 && p == 0, "a new process: %d, %d", s, p);
	pr.level = LEVEL_MEDIUM;
	eval(6, &s, &p);
	CHECK(s == 0 && p == 1, "a level change: %d, %d", s, p);
	history_reset(&h);
	eval(7, &s, &p);
	CHECK(s == 1 && p == 1, "all again after a reload: %d, %d", s, p);
	history_free(&h);
}

static void test_access_and_busy_spell(void)
{
	int s, p;

	setup();
	eval(1, &s, &p);
	comp.last_access_ns = 100 * SEC;
	eval(100, &s, &p);
	CHECK(s == 1 && last_busy == 0 && last_access == 100 * SEC,
	      "a lone access, with its time: %d busy %d", s, last_busy);
	comp.last_access_ns = 105 * SEC;
	eval(105, &s, &p);
	CHECK(s == 1 && last_busy == 1, "again soon after: busy: %d busy %d", s, last_busy);
	for (uint64_t t = 106; t <= 110; t++) {
		comp.last_access_ns = t * SEC;
		eval(t, &s, &p);
		CHECK(s == 0, "busy spell at %llus: no record", (unsigned long long)t);
	}
	eval(115, &s, &p);
	CHECK(s == 0, "quiet 5 s: still busy");
	eval(121, &s, &p);
	CHECK(s == 1 && last_busy == 0 && last_access == 110 * SEC,
	      "quiet 11 s: written with the last access: %d busy %d at %llu", s, last_busy,
	      (unsigned long long)last_access);
	comp.last_access_ns = 200 * SEC;
	eval(200, &s, &p);
	CHECK(s == 1 && last_busy == 0, "a later lone access: %d busy %d", s, last_busy);
	history_free(&h);
}

static void test_is_record(void)
{
	static const char *const yes[] = {
		"{\"time\":\"x\",\"ts_ns\":1,\"type\":\"state\",\"component\":\"a\"}",
		"{\"time\":\"x\",\"ts_ns\":1,\"type\":\"sample\"}",
	};
	static const char *const no[] = {
		"{\"time\":\"x\",\"ts_ns\":1,\"type\":\"notice\",\"msg\":\"\\\"type\\\":\\\"state\\\"\"}",
		"{\"time\":\"x\",\"ts_ns\":1,\"type\":\"stateful\"}",
		"{\"time\":\"x\",\"ts_ns\":1,\"type\":\"sta",
	};

	for (size_t i = 0; i < 2; i++)
		CHECK(history_is_record(yes[i], strlen(yes[i])), "%s", yes[i]);
	for (size_t i = 0; i < 3; i++)
		CHECK(!history_is_record(no[i], strlen(no[i])), "%s", no[i]);
}

int main(void)
{
	eventlog_setup(FORMAT_JSON, false);
	eventlog_add_sink(sink, NULL);
	RUN_TEST(test_first_then_nothing);
	RUN_TEST(test_access_and_busy_spell);
	RUN_TEST(test_is_record);
	return harness_exit();
}
