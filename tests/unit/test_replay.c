// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Unit tests of what-if replay (user/replay.c) on logs written here, for
 * the parts a real recording (tests/integration/replay.sh) cannot steer:
 * where the replay's world and the recording's part and meet again, busy
 * components, a new boot, a usage source that cannot be replayed.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "harness.h"
#include "replay.h"

#define SEC	1000000000ull
#define MIB	(1ull << 20)
#define T0	(1000 * SEC)

static char log_path[64];
static FILE *log_f;

static void log_open(void)
{
	int fd;

	snprintf(log_path, sizeof(log_path), "/tmp/test_replay.XXXXXX");
	fd = mkstemp(log_path);
	log_f = fdopen(fd, "w");
}

/* Wall-clock seconds at monotonic 0: a new boot moves it. */
static time_t boot_wall = 1796169600;	/* 2026-12-02T00:00:00Z */

static void rec(uint64_t ts, const char *fmt, ...)
{
	time_t secs = boot_wall + ts / SEC;
	char stamp[32];
	struct tm tm;
	va_list ap;

	gmtime_r(&secs, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(log_f, "{\"time\":\"%s.%03lluZ\",\"ts_ns\":%llu,", stamp,
		(unsigned long long)(ts / 1000000 % 1000), (unsigned long long)ts);
	va_start(ap, fmt);
	vfprintf(log_f, fmt, ap);
	va_end(ap);
	fprintf(log_f, "}\n");
}

/* A component's state: MiB of anonymous memory, pids, last access. */
static void state(uint64_t ts, const char *name, unsigned int mib, int pids, uint64_t access,
		  int busy)
{
	rec(ts, "\"type\":\"state\",\"component\":\"%s\",\"state\":\"%s\",\"pids\":%d,"
	    "\"rss_bytes\":%llu,\"anon_bytes\":%llu,\"file_bytes\":0,\"shmem_bytes\":0,"
	    "\"last_access_ns\":%llu,\"access\":\"start\",\"busy\":%d", name,
	    pids ? "active" : "unloaded", pids, mib * MIB, mib * MIB,
	    (unsigned long long)access, busy);
}

static void sample(uint64_t ts, const char *source, unsigned int usage_mib)
{
	rec(ts, "\"type\":\"sample\",\"level\":\"low\",\"source\":\"%s\",\"usage_bytes\":%llu,"
	    "\"limit_bytes\":%llu,\"psi_some_avg10\":0.000,\"psi_full_avg10\":0.000,"
	    "\"psi_trigger\":\"low\",\"swap_total_bytes\":0,\"swap_free_bytes\":0", source,
	    usage_mib * MIB, 400 * MIB);
}

static void unload(uint64_t ts, const char *name)
{
	rec(ts, "\"type\":\"unload\",\"component\":\"%s\",\"action\":\"term\",\"mode\":\"act\","
	    "\"level\":\"medium\"", name);
}

/* Replay the log with a config of components a and b (priorities pa, pb);
 * out gets the JSON output. */
static int replay(const char *extra, int pa, int pb, char *out, size_t outlen)
{
	char text[1024];
	struct config cfg;
	struct replay_opts o = { .cfg = &cfg, .config_name = "t", .events_path = log_path,
				 .json = true };
	FILE *f = fmemopen(out, outlen, "w");
	int err;

	fclose(log_f);
	log_f = NULL;
	snprintf(text, sizeof(text),
		 "[memshed]\ntotal_limit = 400M\nhysteresis = 0\nmin_idle_time = 60s\n"
		 "cooldown = 1s\nsettle_time = 1s\npsi_medium_some = 0\npsi_high_some = 0\n"
		 "psi_critical_some = 0\npsi_high_full = 0\npsi_critical_full = 0\n%s\n"
		 "[component a]\nmatch = comm:a\npriority = %d\n"
		 "[component b]\nmatch = comm:b\npriority = %d\n", extra, pa, pb);
	if (config_load_buffer("t", text, strlen(text), &cfg, NULL))
		return -EINVAL;
	o.out = f;
	err = replay_run(&o);
	fclose(f);
	config_free(&cfg);
	unlink(log_path);
	return err;
}

static int count(const char *out, const char *needle)
{
	int n = 0;

	for (const char *p = out; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* Two idle components, 100 MiB each, and usage crossing medium (300M). */
static void two_idle(uint64_t ts)
{
	state(ts, "a", 100, 1, T0, 0);
	state(ts, "b", 100, 1, T0, 0);
}

/* A log that starts with them at 320M of 400M: medium. */
static void crossing(void)
{
	log_open();
	two_idle(T0 + 100 * SEC);
	sample(T0 + 100 * SEC, "components", 320);
}

/*
 * The recording ended b; the replay (a first) ends a. b's memory stays in
 * the replay's world, a's leaves it: usage there is 320 - 100 (a) = 220M
 * after the crossing, and a recorded 250M later is 250M there too.
 */
static void test_parted_worlds(void)
{
	char out[8192] = "";

	crossing();
	unload(T0 + 100 * SEC, "b");
	state(T0 + 101 * SEC, "b", 0, 0, T0, 0);
	sample(T0 + 101 * SEC, "components", 220);
	sample(T0 + 120 * SEC, "components", 250);	/* 250 - 100 (a) + 100 (b kept) */
	CHECK(replay("", 10, 50, out, sizeof(out)) == 0, "replay: %s", out);
	CHECK(count(out, "\"type\":\"would\"") == 1, "one step: %s", out);
	CHECK(strstr(out, "\"component\":\"a\""), "a goes: %s", out);
	CHECK(strstr(out, "\"recorded_actions\":1,\"replay_actions\":1"), "summary: %s", out);
}

/* The same, but usage recorded at 400M after the parting is 400M in the
 * replay's world too (a gone, b kept): b is the next victim. */
static void test_kept_memory_counts(void)
{
	char out[8192] = "";

	crossing();
	unload(T0 + 100 * SEC, "b");
	state(T0 + 101 * SEC, "b", 0, 0, T0, 0);
	sample(T0 + 101 * SEC, "components", 220);
	sample(T0 + 120 * SEC, "components", 400);
	CHECK(replay("", 10, 50, out, sizeof(out)) == 0, "replay");
	CHECK(count(out, "\"type\":\"would\"") == 2, "a, then the kept b: %s", out);
	CHECK(strstr(out, "\"component\":\"b\""), "b goes second: %s", out);
}

/* A component the replay ended comes back only when the recording shows it
 * gone and started again (its supervisor restarted it). */
static void test_gone_until_restarted(void)
{
	char out[8192] = "";

	crossing();
	/* The recording did nothing; pressure again later: a is still gone
	 * in the replay, so b is the one (or nothing, were b spared). */
	sample(T0 + 130 * SEC, "components", 410);	/* 310 there: b */
	state(T0 + 140 * SEC, "a", 0, 0, T0, 0);	/* a exits for real */
	state(T0 + 150 * SEC, "a", 100, 1, T0, 0);	/* and is restarted */
	sample(T0 + 300 * SEC, "components", 410);	/* 310 there: a, back */
	CHECK(replay("", 10, 50, out, sizeof(out)) == 0, "replay");
	CHECK(count(out, "\"component\":\"a\"") == 2, "a twice (once gone, once back): %s", out);
	CHECK(count(out, "\"component\":\"b\"") == 1, "b once, while a was gone: %s", out);
}

/* A busy component is taken as just accessed: never past min idle. */
static void test_busy_is_recent(void)
{
	char out[8192] = "";

	log_open();
	state(T0 + 100 * SEC, "a", 100, 1, T0, 1);	/* busy since T0 */
	state(T0 + 100 * SEC, "b", 100, 1, T0, 0);
	sample(T0 + 100 * SEC, "components", 320);
	CHECK(replay("", 10, 50, out, sizeof(out)) == 0, "replay");
	CHECK(count(out, "\"type\":\"would\"") == 1 && strstr(out, "\"component\":\"b\""),
	      "busy a is spared, b goes: %s", out);
	CHECK(strstr(out, "\"a\":\"recent\""), "a is spared as recent: %s", out);
}

/* Spared as recent, the component is decided on again at its min idle,
 * with no new record (a standing level raises no event). */
static void test_recheck_at_min_idle(void)
{
	char out[8192] = "";

	log_open();
	state(T0 + 100 * SEC, "a", 100, 1, T0 + 90 * SEC, 0);	/* idle 10 s of 60 */
	state(T0 + 100 * SEC, "b", 100, 1, T0 + 90 * SEC, 0);
	sample(T0 + 100 * SEC, "components", 320);
	sample(T0 + 200 * SEC, "components", 321);	/* the log goes on */
	CHECK(replay("", 10, 50, out, sizeof(out)) == 0, "replay");
	CHECK(count(out, "\"type\":\"would\"") == 1 && strstr(out, "\"component\":\"a\""),
	      "a at its min idle: %s", out);
	CHECK(strstr(out, "\"idle_ms\":60000"), "decided at exactly 60 s idle: %s", out);
}

/* A new boot (the wall clock at monotonic 0 moved): nothing carries over,
 * a gone in the first boot is back in the second. */
static void test_new_boot(void)
{
	char out[8192] = "";

	crossing();
	boot_wall += 3600;				/* rebooted an hour later */
	two_idle(T0 + 10 * SEC);
	sample(T0 + 90 * SEC, "components", 320);
	CHECK(replay("", 10, 50, out, sizeof(out)) == 0, "replay");
	CHECK(count(out, "\"component\":\"a\"") == 2, "a in each boot: %s", out);
}

/* Records a little out of order within a boot (a kernel event logged
 * after the decision it caused) are no new boot: the world goes on. */
static void test_out_of_order_is_no_boot(void)
{
	char out[8192] = "";

	crossing();
	rec(T0 + 100 * SEC - 1000000, "\"type\":\"budget\"");	/* 1 ms earlier */
	sample(T0 + 130 * SEC, "components", 330);	/* 230 there: a is still gone */
	CHECK(replay("", 10, 50, out, sizeof(out)) == 0, "replay");
	CHECK(count(out, "\"type\":\"would\"") == 1, "a once, nothing more: %s", out);
}

/* usage_source system cannot be computed from a components recording. */
static void test_source_mismatch(void)
{
	char out[8192] = "";

	crossing();
	CHECK(replay("usage_source = system", 10, 50, out, sizeof(out)) == -EPROTO,
	      "refused: %s", out);
	CHECK(!strstr(out, "would"), "nothing printed: %s", out);
}

/* A system recording replays with the system's usage, corrected by what
 * the replay ends: 90% of RAM... here of a 400M limit: 360M - a (100M). */
static void test_system_source_corrected(void)
{
	char out[8192] = "";

	log_open();
	two_idle(T0 + 100 * SEC);
	sample(T0 + 100 * SEC, "system", 360);
	sample(T0 + 102 * SEC, "system", 361);
	CHECK(replay("usage_source = system", 10, 50, out, sizeof(out)) == 0, "replay");
	/* 360 - 100 = 260M < 300M after a: one victim, not two. */
	CHECK(count(out, "\"type\":\"would\"") == 1, "just a: %s", out);
}

int main(void)
{
	RUN_TEST(test_parted_worlds);
	RUN_TEST(test_kept_memory_counts);
	RUN_TEST(test_gone_until_restarted);
	RUN_TEST(test_busy_is_recent);
	RUN_TEST(test_recheck_at_min_idle);
	RUN_TEST(test_new_boot);
	RUN_TEST(test_out_of_order_is_no_boot);
	RUN_TEST(test_source_mismatch);
	RUN_TEST(test_system_source_corrected);
	return harness_exit();
}
