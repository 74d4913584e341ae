// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Unit tests of the config map (user/values.c, config.c, configcheck.c):
 * the value parsers on good and bad strings, one bad config per error class
 * with its exact line and message, good configs with their parsed values,
 * the owner check and the shipped example. Run from the source root (it reads examples/).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <linux/types.h>		/* before memshed.h */

#include "config.h"
#include "harness.h"
#include "memshed.h"

#define MS	1000000ULL
#define SEC	1000000000ULL
#define COMP_A	"[component a]\nmatch = comm:a\n"

/* ---- helpers ------------------------------------------------------------ */

static int load(const char *text, struct config *cfg, struct config_errors *errs)
{
	return config_load_buffer("test.conf", text, strlen(text), cfg, errs);
}

static bool has_error(const struct config_errors *e, int line, const char *substr)
{
	for (int i = 0; i < e->n; i++)
		if (e->v[i].line == line && strstr(e->v[i].msg, substr))
			return true;
	return false;
}

static void print_errors(const struct config_errors *e)
{
	config_errors_print(stdout, "  test.conf", e);
}

/* ---- value parsers ------------------------------------------------------ */

static void test_parse_size(void)
{
	static const struct { const char *s; uint64_t bytes; } good[] = {
		{ "0", 0 }, { "4096", 4096 }, { "1K", 1024 }, { "1k", 1024 },
		{ "256K", 256 << 10 }, { "1.5K", 1536 }, { "16M", 16 << 20 },
		{ "1G", 1ULL << 30 }, { "2T", 2ULL << 40 }, { "1KiB", 1024 },
		{ "0.5G", 1ULL << 29 }, { "007", 7 },
	};
	static const char *const bad[] = {
		"", "K", "-1", "+1", "1X", "1 K", " 1K", "1K ", "0.1K", "1.K", ".5K",
		"1.5", "18446744073709551616", "16777216T", "1e3", "0x10", "1KB",
		"50%", "auto",
	};
	uint64_t b;
	double pct;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		b = 1;
		CHECK(parse_size(good[i].s, &b, NULL) == 0 && b == good[i].bytes,
		      "\"%s\" -> %llu", good[i].s, (unsigned long long)b);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		b = 1;
		CHECK(parse_size(bad[i], &b, NULL) == -EINVAL && b == 1, "\"%s\" accepted", bad[i]);
	}
	CHECK(parse_size("50%", &b, &pct) == 0 && b == 0 && pct == 50, "50%%");
	CHECK(parse_size("auto", &b, &pct) == 0 && b == 0 && pct == 100, "auto");
	CHECK(parse_size("100%", &b, &pct) == 0 && pct == 100, "100%%");
	CHECK(parse_size("0.5%", &b, &pct) == 0 && pct == 0.5, "0.5%%");
	CHECK(parse_size("1G", &b, &pct) == 0 && b == 1ULL << 30 && pct == 0, "1G with pct");
	CHECK(parse_size("0%", &b, &pct) == -EINVAL, "0%% accepted");
	CHECK(parse_size("101%", &b, &pct) == -EINVAL, "101%% accepted");
	CHECK(parse_size("%", &b, &pct) == -EINVAL, "%% accepted");
	CHECK(parse_size("50 %", &b, &pct) == -EINVAL, "\"50 %%\" accepted");
}

static void test_parse_duration(void)
{
	static const struct { const char *s; uint64_t ns; } good[] = {
		{ "0", 0 }, { "1", SEC }, { "1.5", 1500 * MS }, { "250ms", 250 * MS },
		{ "1.5ms", 1500000 }, { "0.5s", 500 * MS }, { "60s", 60 * SEC },
		{ "5m", 300 * SEC }, { "2h", 7200 * SEC }, { "0.000000001s", 1 },
	};
	static const char *const bad[] = {
		"", "s", "-1s", "+1s", "5x", "5 s", "5S", "1m30s", "1.0000000001s",
		"99999999999h", "18446744073709551616", ".5s", "5.s", "1e3", "1h ",
	};
	uint64_t ns;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ns = 1;
		CHECK(parse_duration(good[i].s, &ns) == 0 && ns == good[i].ns,
		      "\"%s\" -> %llu", good[i].s, (unsigned long long)ns);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ns = 1;
		CHECK(parse_duration(bad[i], &ns) == -EINVAL && ns == 1, "\"%s\" accepted", bad[i]);
	}
}

static void test_parse_fraction(void)
{
	static const struct { const char *s; double v; } good[] = {
		{ "0", 0 }, { "1", 1 }, { "0.75", 0.75 }, { "75%", 0.75 }, { "100%", 1 },
		{ "0%", 0 }, { "1.0", 1 }, { "0.6", 0.6 }, { "60%", 0.6 }, { "12.5%", 0.125 },
	};
	static const char *const bad[] = {
		"", "1.01", "101%", "-0.5", "75", "0.5x", "%", "nan", "inf", "1e-1",
		"0.5 ", " 0.5", ".5",
	};
	double v;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = -1;
		CHECK(parse_fraction(good[i].s, &v) == 0 && v == good[i].v,
		      "\"%s\" -> %g", good[i].s, v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = -1;
		CHECK(parse_fraction(bad[i], &v) == -EINVAL && v == -1, "\"%s\" accepted", bad[i]);
	}
}

static void test_parse_bool(void)
{
	static const struct { const char *s; bool v; } good[] = {
		{ "yes", true }, { "YES", true }, { "true", true }, { "on", true }, { "1", true },
		{ "no", false }, { "False", false }, { "off", false }, { "0", false },
	};
	static const char *const bad[] = { "", "y", "n", "2", "yes ", "enable", "-1" };
	bool v;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = !good[i].v;
		CHECK(parse_bool(good[i].s, &v) == 0 && v == good[i].v, "\"%s\"", good[i].s);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(parse_bool(bad[i], &v) == -EINVAL, "\"%s\" accepted", bad[i]);
}

static void test_parse_signal(void)
{
	static const struct { const char *s; int signo; } good[] = {
		{ "TERM", SIGTERM }, { "SIGTERM", SIGTERM }, { "sigusr1", SIGUSR1 },
		{ "USR1", SIGUSR1 }, { "10", 10 }, { "1", 1 }, { "64", 64 },
		{ "KILL", SIGKILL }, { "STOP", SIGSTOP }, { "SIGHUP", SIGHUP },
	};
	static const char *const bad[] = {
		"0", "65", "", "SIG", "FOO", "SIGFOO", "-1", "SIG15", "15x", "USR1 ", "010a",
	};
	int signo;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		signo = -1;
		CHECK(parse_signal(good[i].s, &signo) == 0 && signo == good[i].signo,
		      "\"%s\" -> %d", good[i].s, signo);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		signo = -1;
		CHECK(parse_signal(bad[i], &signo) == -EINVAL && signo == -1, "\"%s\" accepted", bad[i]);
	}
}

static void test_parse_action(void)
{
	static const struct { const char *s; enum action_kind kind; int signo; } good[] = {
		{ "term", ACTION_TERM, 0 }, { "kill", ACTION_KILL, 0 },
		{ "freeze", ACTION_FREEZE, 0 }, { "signal:SIGUSR1", ACTION_SIGNAL, SIGUSR1 },
		{ "signal:USR2", ACTION_SIGNAL, SIGUSR2 }, { "signal:10", ACTION_SIGNAL, 10 },
		{ "signal:KILL", ACTION_SIGNAL, SIGKILL }, { "exec:/bin/true", ACTION_EXEC, 0 },
		{ "reclaim", ACTION_RECLAIM, 0 }, { "hibernate", ACTION_HIBERNATE, 0 },
	};
	static const char *const bad[] = {
		"", "TERM", "none", "nuke", "signal:", "signal:SIGSTOP", "signal:TSTP",
		"signal:TTIN", "signal:TTOU", "signal:CONT", "signal:19", "signal:0",
		"signal:FOO", "exec:", "exec:   ", "exec:bin/true", "exec:true -x", "term ",
	};
	const char *why;
	struct action a;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CHECK(parse_action(good[i].s, &a, NULL) == 0 && a.kind == good[i].kind &&
		      (a.kind != ACTION_SIGNAL || a.signo == good[i].signo), "\"%s\"", good[i].s);
		action_free(&a);
		CHECK(a.kind == ACTION_NONE, "action_free resets");
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		a.kind = ACTION_NONE;
		why = NULL;
		CHECK(parse_action(bad[i], &a, &why) == -EINVAL && a.kind == ACTION_NONE,
		      "\"%s\" accepted", bad[i]);
		CHECK(why && *why, "\"%s\": no reason", bad[i]);
		CHECK(parse_action(bad[i], &a, NULL) == -EINVAL, "\"%s\" without a reason", bad[i]);
	}

	/* exec: splits on blanks, no shell, no quoting. */
	CHECK(parse_action("exec: /usr/bin/logger -t  memshed\t'a b'", &a, NULL) == 0, "exec argv");
	CHECK(a.argv && !strcmp(a.argv[0], "/usr/bin/logger") && !strcmp(a.argv[1], "-t") &&
	      !strcmp(a.argv[2], "memshed") && !strcmp(a.argv[3], "'a") &&
	      !strcmp(a.argv[4], "b'") && !a.argv[5], "argv split");
	action_free(&a);
}

static void test_names(void)
{
	static const char *const levels[] = { "low", "medium", "high", "critical" };
	enum level l;

	for (int i = 0; i < NR_LEVELS; i++) {
		CHECK(!strcmp(level_name(i), levels[i]), "level_name(%d)", i);
		CHECK(level_parse(levels[i], &l) == 0 && (int)l == i, "level_parse(%s)", levels[i]);
	}
	CHECK(!strcmp(level_name(NR_LEVELS), "?"), "level_name out of range");
	CHECK(level_parse("Medium", &l) == -EINVAL, "level_parse is exact");
	CHECK(level_parse("", &l) == -EINVAL, "level_parse empty");
	CHECK(!strcmp(action_kind_name(ACTION_NONE), "none") &&
	      !strcmp(action_kind_name(ACTION_TERM), "term") &&
	      !strcmp(action_kind_name(ACTION_KILL), "kill") &&
	      !strcmp(action_kind_name(ACTION_FREEZE), "freeze") &&
	      !strcmp(action_kind_name(ACTION_SIGNAL), "signal") &&
	      !strcmp(action_kind_name(ACTION_EXEC), "exec") &&
	      !strcmp(action_kind_name(ACTION_RECLAIM), "reclaim") &&
	      !strcmp(action_kind_name(ACTION_HIBERNATE), "hibernate") &&
	      !strcmp(action_kind_name(42), "?"), "action_kind_name");
}

/* ---- bad configs: one error class each, exact line and message ---------- */

/* A config with exactly one error, at @line, its message containing @msg. */
struct bad_case {
	const char *name;
	const char *text;
	int line;
	const char *msg;
};

static const struct bad_case bad_cases[] = {
	/* structure */
	{ "unknown section", "[memshed]\n[bogus]\nx = 1\n", 2, "unknown section [bogus]" },
	{ "type of two words", "[component a]\nmatch = comm:a\ntype = big cache\n", 3,
	  "not one word" },
	{ "type too long", "[component a]\nmatch = comm:a\ntype = abcdefghijabcdefghijabcdefghijab\n",
	  3, "longer than 31" },
	{ "type quoting", "[component a]\nmatch = comm:a\ntype = ca\"che\n", 3, "not one word" },
	{ "unknown key in [memshed]", "[memshed]\nfoo = 1\n", 2, "unknown key \"foo\" in [memshed]" },
	{ "unknown key in component", COMP_A "foo = 1\n", 3, "unknown key \"foo\" in [component a]" },
	{ "action.low is no key", COMP_A "action.low = term\n", 3, "unknown key \"action.low\"" },
	{ "key outside section", "; c\nfoo = 1\n[memshed]\n", 2, "key \"foo\" outside any section" },
	{ "line without =", "[memshed]\n\njunk\n", 3, "expected KEY = VALUE" },
	{ "comment before =", "[memshed]\ndry_run ; = yes\n", 2, "expected KEY = VALUE" },
	{ "no key before =", "[memshed]\n= 5\n", 2, "no key before '='" },
	{ "header without ]", "[memshed\ndry_run = yes\n", 1, "without ']'" },
	{ "text after header", "[memshed] x\n", 1, "text after section header" },
	{ "duplicate [memshed]", "[memshed]\n\n[memshed]\n", 3,
	  "duplicate section [memshed] (first at line 1)" },
	{ "duplicate key", "[memshed]\ndry_run = yes\ndry_run = no\n", 3,
	  "duplicate key \"dry_run\" (first set at line 2)" },
	{ "long line", "[memshed]\nmetrics_file = /"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
	  2, "line longer than 198 characters" },
	{ "'#' is no inline comment", "[memshed]\ntotal_limit = 1G # one gig\n", 2,
	  "total_limit = \"1G # one gig\"" },

	/* components */
	{ "component without name", "[component]\nmatch = comm:x\n", 1, "needs a name" },
	{ "invalid component name", "[component a b]\nmatch = comm:x\n", 1,
	  "invalid component name \"a b\"" },
	{ "component name too long", "[component "
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\nmatch = comm:x\n",
	  1, "invalid component name" },
	{ "duplicate component", COMP_A "\n[component a]\nmatch = comm:b\n", 4,
	  "duplicate component \"a\" (first defined at line 1)" },
	{ "component without match", "[memshed]\n[component a]\npriority = 1\n", 2,
	  "component \"a\" has no match rule" },
	{ "identical rule sets", COMP_A "[component b]\nmatch = comm:a\n", 3,
	  "component \"b\" has the same match rules as component \"a\" (line 1)" },
	{ "identical rule sets, other order",
	  "[component a]\nmatch = comm:a\nmatch = user:0\n[component b]\nmatch = user:0\nmatch = comm:a\n", 4,
	  "component \"b\" has the same match rules as component \"a\" (line 1)" },
	{ "identical rules in one component", COMP_A "match = comm:a\n", 3,
	  "match rule comm:a repeats line 2" },

	/* numbers, sizes, durations, fractions, booleans */
	{ "priority not a number", COMP_A "priority = x\n", 3, "priority = \"x\": not a whole number" },
	{ "priority negative", COMP_A "priority = -1\n", 3, "not a whole number" },
	{ "priority fraction", COMP_A "priority = 1.5\n", 3, "not a whole number" },
	{ "priority empty", COMP_A "priority =\n", 3, "priority = \"\": not a whole number" },
	{ "priority out of range", COMP_A "priority = 101\n", 3,
	  "priority = \"101\" is out of range (0..100)" },
	{ "bad size", "[memshed]\ntotal_limit = 1X\n", 2, "total_limit = \"1X\": expected a size" },
	{ "zero total_limit", "[memshed]\ntotal_limit = 0\n", 2, "total_limit = \"0\" is out of range" },
	{ "0% total_limit", "[memshed]\ntotal_limit = 0%\n", 2, "expected a size" },
	{ "101% total_limit", "[memshed]\ntotal_limit = 101%\n", 2, "expected a size" },
	{ "ringbuf not a power of two", "[memshed]\nringbuf_size = 3000\n", 2,
	  "ringbuf_size = \"3000\" is out of range (a power of two, 4K..256M)" },
	{ "ringbuf too small", "[memshed]\nringbuf_size = 1K\n", 2, "out of range" },
	{ "ringbuf too large", "[memshed]\nringbuf_size = 512M\n", 2, "out of range" },
	{ "ringbuf as percentage", "[memshed]\nringbuf_size = 1%\n", 2, "not a size" },
	{ "event_log_size too small", "[memshed]\nevent_log_size = 1K\n", 2, "at least 64K" },
	{ "bad duration", "[memshed]\ncheck_interval = 5x\n", 2,
	  "check_interval = \"5x\": not a duration" },
	{ "zero check_interval", "[memshed]\ncheck_interval = 0\n", 2,
	  "check_interval = \"0\" is out of range (must be > 0)" },
	{ "zero round_timeout", "[memshed]\nround_timeout = 0s\n", 2, "out of range (must be > 0)" },
	{ "zero exec_timeout", COMP_A "exec_timeout = 0\n", 3, "out of range (must be > 0)" },
	{ "negative duration", "[memshed]\nmin_idle_time = -1s\n", 2, "not a duration" },
	{ "psi_window too short", "[memshed]\npsi_window = 300ms\n", 2,
	  "psi_window = \"300ms\" is out of range (500ms..10s)" },
	{ "psi_window too long", "[memshed]\npsi_window = 11s\n", 2, "out of range (500ms..10s)" },
	{ "bad fraction", "[memshed]\nlow_threshold = 1.5\n", 2,
	  "low_threshold = \"1.5\": not a fraction" },
	{ "bare percent as fraction", "[memshed]\nhigh_threshold = 90\n", 2, "not a fraction" },
	{ "zero threshold", "[memshed]\nlow_threshold = 0\n", 2, "out of range (0 < x <= 1)" },
	{ "hysteresis too large", "[memshed]\nhysteresis = 0.6\n", 2,
	  "hysteresis = \"0.6\" is out of range (0..0.5)" },
	{ "bad bool", "[memshed]\nauto_unload = maybe\n", 2,
	  "auto_unload = \"maybe\": not a boolean" },
	{ "bad psi", "[memshed]\npsi_high_some = 5\n", 2, "psi_high_some = \"5\": expected a percentage" },
	{ "psi over 100%", "[memshed]\npsi_high_full = 101%\n", 2, "expected a percentage" },
	{ "bad max_unload", "[memshed]\nhigh_max_unload = some\n", 2, "expected a count, or all" },

	/* thresholds: strictly ascending, at the offending line */
	{ "low above default medium", "[memshed]\nlow_threshold = 0.8\n", 2,
	  "low_threshold (0.8) must be below medium_threshold (0.75)" },
	{ "high below default medium", "[memshed]\nhigh_threshold = 0.7\n", 2,
	  "high_threshold (0.7) must be above medium_threshold (0.75)" },
	{ "two thresholds crossed", "[memshed]\nmedium_threshold = 0.9\nhigh_threshold = 80%\n", 3,
	  "high_threshold (0.8) must be above medium_threshold (0.9)" },
	{ "equal thresholds", "[memshed]\ncritical_threshold = 0.85\n", 2,
	  "critical_threshold (0.85) must be above high_threshold (0.85)" },

	/* enums and paths */
	{ "bad usage_source", "[memshed]\nusage_source = ram\n", 2, "expected components, system or cgroup:/PATH" },
	{ "relative usage cgroup", "[memshed]\nusage_source = cgroup:x\n", 2, "absolute path" },
	{ "bad rss_mode", "[memshed]\nrss_mode = exact\n", 2, "expected tracepoint, sample or auto" },
	{ "removed activity_source", "[memshed]\nactivity_source = sample\n", 2, "activity_source" },
	{ "bad idle_cpu", "[memshed]\nidle_cpu = 2\n", 2, "idle_cpu" },
	{ "bad max_growth_rate", "[memshed]\nmax_growth_rate = fast\n", 2, "max_growth_rate" },
	{ "relative psi_cgroup", "[memshed]\npsi_cgroup = a/b\n", 2, "psi_cgroup = \"a/b\": needs an absolute path" },
	{ "relative event_log", "[memshed]\nevent_log = events.ring\n", 2, "needs an absolute path" },
	{ "relative metrics_file", "[memshed]\nmetrics_file = m.prom\n", 2, "needs an absolute path" },

	/* actions */
	{ "unknown action", COMP_A "action = nuke\n", 3, "action = \"nuke\": unknown action" },
	{ "unknown signal", COMP_A "action = signal:SIGFOO\n", 3, "unknown signal" },
	{ "signal 0", COMP_A "action.high = signal:0\n", 3, "unknown signal" },
	{ "SIGSTOP", COMP_A "action.medium = signal:SIGSTOP\n", 3, "not allowed (use the freeze action)" },
	{ "SIGCONT", COMP_A "action = signal:CONT\n", 3, "not allowed" },
	{ "relative exec", COMP_A "action.critical = exec:bin/shed now\n", 3, "must be an absolute path" },
	{ "exec without command", COMP_A "action = exec:\n", 3, "needs a command" },
	{ "duplicate action.high", COMP_A "action.high = kill\naction.high = term\n", 4,
	  "duplicate key \"action.high\" (first set at line 3)" },

	/* match rules */
	{ "unknown match kind", COMP_A "match = pid:1\n", 3, "match = \"pid:1\": unknown match kind" },
	{ "match without kind", COMP_A "match = replayd\n", 3, "unknown match kind" },
	{ "empty match", COMP_A "match =\n", 3, "unknown match kind" },
	{ "empty comm", COMP_A "match = comm:\n", 3, "empty comm: argument" },
	{ "comm too long", COMP_A "match = comm:0123456789abcdef\n", 3, "at most 15 characters" },
	{ "relative exe", COMP_A "match = exe:bin/x\n", 3, "exe: needs an absolute path" },
	{ "relative pidfile", COMP_A "match = pidfile:x.pid\n", 3, "pidfile: needs an absolute path" },
	{ "relative cgroup", COMP_A "match = cgroup:system.slice\n", 3, "cgroup: needs an absolute path" },
	{ "bad regex", COMP_A "match = cmdline:(foo\n", 3, "bad regex: " },
	{ "stacked repetition", COMP_A "match = cmdline:( |$)+++++\n", 3, "regex repeats a repetition" },
	{ "stacked star-plus", COMP_A "match = cmdline:a*+\n", 3, "regex repeats a repetition" },
	{ "empty regex", COMP_A "match = cmdline:\n", 3, "empty cmdline: argument" },
	{ "unknown user", COMP_A "match = user:no-such-user-memshed\n", 3, "unknown user" },
	{ "uid too large", COMP_A "match = user:4294967295\n", 3, "invalid UID" },
};

/* Configs with @nr_errors errors, one of them as in struct bad_case. */
static const struct { struct bad_case c; int nr_errors; } multi_error_cases[] = {
	/* a bad line does not hide the next ones */
	{ { "every error", "[memshed]\nfoo = 1\ncooldown = x\n[component a]\nmatch = comm:a\n"
	    "priority = 200\n[nope]\n", 6, "out of range" }, 4 },
	{ { "keys of a bad component are checked", "[component a b]\nmatch = comm:x\npriority = x\n",
	    3, "not a whole number" }, 2 },
	{ { "duplicate key across [memshed]s", "[memshed]\ncooldown = 1s\n[memshed]\ncooldown = 1s\n",
	    4, "duplicate key \"cooldown\" (first set at line 2)" }, 2 },
};

/* A bad config: -EINVAL, n errors, the one expected, *cfg untouched. */
static void check_bad_case(const struct bad_case *c, int n)
{
	struct config_errors errs;
	struct config cfg, before;
	int rc;

	memset(&cfg, 0xa5, sizeof(cfg));
	before = cfg;
	rc = load(c->text, &cfg, &errs);
	CHECK(rc == -EINVAL, "%s: rc %d", c->name, rc);
	CHECK(errs.n == n, "%s: %d errors, expected %d", c->name, errs.n, n);
	CHECK(has_error(&errs, c->line, c->msg), "%s: no error \"%s\" at line %d",
	      c->name, c->msg, c->line);
	CHECK(!memcmp(&cfg, &before, sizeof(cfg)), "%s: cfg written on error", c->name);
	if (harness_case_failed)
		print_errors(&errs);
	config_errors_free(&errs);
}

static void test_bad_configs(void)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++)
		check_bad_case(&bad_cases[i], 1);
	for (size_t i = 0; i < sizeof(multi_error_cases) / sizeof(multi_error_cases[0]); i++)
		check_bad_case(&multi_error_cases[i].c, multi_error_cases[i].nr_errors);
}

static void test_errors_in_line_order(void)
{
	struct config_errors errs;
	struct config cfg;

	/* End-of-file checks (no match, order) land between the others. */
	CHECK(load("[component a]\n[memshed]\nlow_threshold = 0.9\nfoo = 1\n", &cfg, &errs) == -EINVAL,
	      "rc");
	CHECK(errs.n == 3 && errs.v[0].line == 1 && errs.v[1].line == 3 && errs.v[2].line == 4,
	      "errors not sorted by line");
	config_errors_free(&errs);
}

/*
 * glibc's regcomp copies a subexpression per '+' and per count of {m,n};
 * nested, that is exponential. Such patterns are refused before regcomp.
 */
static void test_regex_size(void)
{
	static const char *const good[] = {
		"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
		"^/usr/bin/java .* -Xmx[0-9]+[mg] .*--name=[a-z]+( |$)",
		"([0-9]{1,3}\\.){3}[0-9]{1,3}", "[0-9a-f]{64}", "(a{15}){15}",
		"g\\+\\+", "[]+{]+", "((((((((o*)+)+)+)+)+)+)+)+",	/* 2^8 = 256 copies */
	};
	static const char *const bad[] = {
		"o++++++++++++++++++++++++++++++++++++++++++++", "o*++++++++++",
		"(((((((((o*)+)+)+)+)+)+)+)+)+",		/* 2^9 */
		"(.*){3000}", "(a{16}){16}", "a{5000}", "x(a{11}){11}y(b{11}){11}",
		"(((((((((((o+)+)+)+)+)+)+)+)+)+",		/* never closed */
		"((((((((((((((((((((((((((((((((((a))))))))))))))))))))))))))))))))))",
	};
	struct config_errors errs;
	struct config cfg;
	char text[256];
	int rc;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text), "[component a]\nmatch = cmdline:%s\n", good[i]);
		rc = load(text, &cfg, &errs);
		CHECK(rc == 0, "\"%s\" refused", good[i]);
		print_errors(&errs);
		if (rc == 0)
			config_free(&cfg);
		config_errors_free(&errs);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "[component a]\nmatch = cmdline:%s\n", bad[i]);
		rc = load(text, &cfg, &errs);
		CHECK(rc == -EINVAL &&
		      (has_error(&errs, 2, "regex too large: its repetitions (+, {m,n}) make over 256 copies") ||
		       has_error(&errs, 2, "regex groups nest deeper than 32") ||
		       has_error(&errs, 2, "regex repeats a repetition")), "\"%s\" accepted", bad[i]);
		if (rc == 0)
			config_free(&cfg);
		config_errors_free(&errs);
	}
}

static void test_nul_byte(void)
{
	static const char text[] = "[memshed]\ndry_run = y\0es\n";
	struct config_errors errs;
	struct config cfg;

	CHECK(config_load_buffer("t", text, sizeof(text) - 1, &cfg, &errs) == -EINVAL, "rc");
	CHECK(errs.n == 1 && has_error(&errs, 2, "NUL byte"), "NUL byte");
	config_errors_free(&errs);
}

static void test_errors_without_list(void)
{
	struct config cfg;

	CHECK(config_load_buffer("t", "foo = 1\n", 8, &cfg, NULL) == -EINVAL, "errs may be NULL");
}

static void test_too_many_components(void)
{
	size_t size = (MEMSHED_MAX_COMPONENTS + 1) * 48, len = 0;
	char *text = malloc(size);
	struct config_errors errs;
	struct config cfg;

	for (int i = 1; i <= MEMSHED_MAX_COMPONENTS; i++)
		len += snprintf(text + len, size - len, "[component c%d]\nmatch = comm:c%d\n", i, i);
	CHECK(config_load_buffer("t", text, len, &cfg, &errs) == -EINVAL, "4096 components accepted");
	CHECK(errs.n == 1 && has_error(&errs, 2 * MEMSHED_MAX_COMPONENTS - 1,
				       "too many components (at most 4095)"), "error");
	config_errors_free(&errs);

	/* 4095 is fine, and the duplicate checks stay fast (sorted). */
	CHECK(config_load_buffer("t", text, len - strlen("[component c4096]\nmatch = comm:c4096\n"),
				 &cfg, &errs) == 0, "4095 components refused");
	CHECK(cfg.nr_comps == 4095, "nr_comps %d", cfg.nr_comps);
	config_free(&cfg);
	free(text);
}

/* ---- good configs ------------------------------------------------------- */

static void check_defaults(const struct config *c)
{
	CHECK(c->total_limit == 1ULL << 30 && c->total_limit_pct == 0, "total_limit");
	CHECK(c->threshold[LEVEL_LOW] == 0.60 && c->threshold[LEVEL_MEDIUM] == 0.75 &&
	      c->threshold[LEVEL_HIGH] == 0.85 && c->threshold[LEVEL_CRITICAL] == 0.95, "thresholds");
	CHECK(c->auto_unload && c->min_idle_ns == 300 * SEC && c->check_interval_ns == 60 * SEC,
	      "seed defaults");
	CHECK(c->usage_source == USAGE_COMPONENTS && !c->usage_cgroup, "usage_source");
	CHECK(c->rss_mode == RSS_AUTO && c->idle_cpu == 0.05 && c->max_growth_rate == 20ULL << 30,
	      "modes");
	CHECK(c->ringbuf_size == 64 << 10 && c->stall_threshold_ns == 10 * MS, "ringbuf, stall");
	CHECK(c->psi[LEVEL_MEDIUM].some_pct == 5 && c->psi[LEVEL_HIGH].some_pct == 15 &&
	      c->psi[LEVEL_CRITICAL].some_pct == 40 && c->psi[LEVEL_MEDIUM].full_pct == 0 &&
	      c->psi[LEVEL_HIGH].full_pct == 5 && c->psi[LEVEL_CRITICAL].full_pct == 20, "psi");
	CHECK(c->psi_window_ns == 2 * SEC && !c->psi_cgroup, "psi window, cgroup");
	CHECK(c->hysteresis == 0.05 && c->settle_ns == 10 * SEC, "hysteresis, settle");
	CHECK(c->level[LEVEL_MEDIUM].min_idle_ns == 300 * SEC && c->level[LEVEL_MEDIUM].max_unload == 1 &&
	      c->level[LEVEL_HIGH].min_idle_ns == 150 * SEC && c->level[LEVEL_HIGH].max_unload == 3 &&
	      c->level[LEVEL_CRITICAL].min_idle_ns == 0 && c->level[LEVEL_CRITICAL].max_unload == 0,
	      "level table");
	CHECK(!c->prefer_larger && !c->dry_run, "prefer_larger, dry_run");
	CHECK(c->round_timeout_ns == 15 * SEC && c->cooldown_ns == 2 * SEC, "round, cooldown");
	CHECK(c->event_log && !strcmp(c->event_log, "/var/lib/memshed/events.ring") &&
	      c->event_log_size == 4 << 20 && !c->metrics_file, "output");
}

static void test_defaults(void)
{
	struct config_errors errs;
	struct config cfg;

	config_init_defaults(&cfg);
	check_defaults(&cfg);
	CHECK(!cfg.path && cfg.nr_comps == 0, "no path, no components");
	config_free(&cfg);

	CHECK(load("", &cfg, &errs) == 0 && errs.n == 0, "empty file");
	check_defaults(&cfg);
	CHECK(cfg.path && !strcmp(cfg.path, "test.conf"), "path");
	config_free(&cfg);

	CHECK(config_load_buffer(NULL, NULL, 0, &cfg, &errs) == 0, "no buffer");
	CHECK(!cfg.path, "no name, no path");
	config_free(&cfg);

	CHECK(load("; only comments\n[memshed]\n# and more\n", &cfg, &errs) == 0, "empty [memshed]");
	check_defaults(&cfg);
	config_free(&cfg);
}

static const char full_config[] =
	"\xef\xbb\xbf; BOM, CRLF, indentation and comments are fine\r\n"
	"[memshed]\r\n"
	"total_limit = 2G        ; inline comment\n"
	"low_threshold = 50%\n"
	"  medium_threshold = 0.7\n"
	"high_threshold = 0.8\n"
	"critical_threshold = 1\n"
	"auto_unload = off\n"
	"min_idle_time = 10m\n"
	"high_min_idle = 1m\n"
	"check_interval = 1.5s\n"
	"usage_source = cgroup:/sys/fs/cgroup/unified/apps\n"
	"rss_mode = sample\n"
	"idle_cpu = 3%\n"
	"max_growth_rate = 4G\n"
	"ringbuf_size = 1M\n"
	"stall_threshold = 0\n"
	"psi_medium_some = 2.5%\n"
	"psi_critical_full = 0\n"
	"psi_window = 500ms\n"
	"psi_cgroup = /sys/fs/cgroup/unified/apps\n"
	"hysteresis = 0\n"
	"settle_time = 1m\n"
	"medium_max_unload = 2\n"
	"high_max_unload = all\n"
	"critical_max_unload = 7\n"
	"dry_run = yes\n"
	"round_timeout = 5s\n"
	"cooldown = 0\n"
	"event_log = off\n"
	"event_log_size = 64K\n"
	"metrics_file = /var/lib/node-exporter/memshed.prom\n"
	"; a very long comment is no problem: "
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n";

static void test_full_memshed_section(void)
{
	struct config_errors errs;
	struct config c;

	CHECK(load(full_config, &c, &errs) == 0, "rc");
	print_errors(&errs);
	CHECK(c.total_limit == 2ULL << 30 && c.total_limit_pct == 0, "total_limit");
	CHECK(c.threshold[LEVEL_LOW] == 0.5 && c.threshold[LEVEL_MEDIUM] == 0.7 &&
	      c.threshold[LEVEL_HIGH] == 0.8 && c.threshold[LEVEL_CRITICAL] == 1, "thresholds");
	CHECK(!c.auto_unload && c.min_idle_ns == 600 * SEC && c.check_interval_ns == 1500 * MS,
	      "seed keys");
	/* medium derives from min_idle_time, high is set, critical stays 0 */
	CHECK(c.level[LEVEL_MEDIUM].min_idle_ns == 600 * SEC &&
	      c.level[LEVEL_HIGH].min_idle_ns == 60 * SEC &&
	      c.level[LEVEL_CRITICAL].min_idle_ns == 0, "min_idle table");
	CHECK(c.level[LEVEL_MEDIUM].max_unload == 2 && c.level[LEVEL_HIGH].max_unload == 0 &&
	      c.level[LEVEL_CRITICAL].max_unload == 7, "max_unload table");
	CHECK(c.usage_source == USAGE_CGROUP && c.usage_cgroup &&
	      !strcmp(c.usage_cgroup, "/sys/fs/cgroup/unified/apps"), "usage cgroup");
	CHECK(c.rss_mode == RSS_SAMPLE && c.idle_cpu == 0.03 && c.max_growth_rate == 4ULL << 30,
	      "modes");
	CHECK(c.ringbuf_size == 1 << 20 && c.stall_threshold_ns == 0, "ringbuf, stall");
	CHECK(c.psi[LEVEL_MEDIUM].some_pct == 2.5 && c.psi[LEVEL_CRITICAL].full_pct == 0 &&
	      c.psi[LEVEL_HIGH].some_pct == 15, "psi");
	CHECK(c.psi_window_ns == 500 * MS && c.psi_cgroup &&
	      !strcmp(c.psi_cgroup, "/sys/fs/cgroup/unified/apps"), "psi window, cgroup");
	CHECK(c.hysteresis == 0 && c.settle_ns == 60 * SEC, "hysteresis, settle");
	CHECK(c.dry_run && c.round_timeout_ns == 5 * SEC && c.cooldown_ns == 0, "policy");
	CHECK(c.event_log && !strcmp(c.event_log, "") && c.event_log_size == 64 << 10, "event_log off");
	CHECK(c.metrics_file && !strcmp(c.metrics_file, "/var/lib/node-exporter/memshed.prom"),
	      "metrics_file");
	config_free(&c);
}

static void test_min_idle_derived_after_parse(void)
{
	struct config_errors errs;
	struct config c;

	/* The per-level key before min_idle_time; the derived one follows it. */
	CHECK(load("[memshed]\nmedium_min_idle = 20s\nmin_idle_time = 100s\n", &c, &errs) == 0, "rc");
	CHECK(c.level[LEVEL_MEDIUM].min_idle_ns == 20 * SEC &&
	      c.level[LEVEL_HIGH].min_idle_ns == 50 * SEC &&
	      c.level[LEVEL_CRITICAL].min_idle_ns == 0, "derived");
	config_free(&c);
}

static void test_total_limit_share_of_ram(void)
{
	struct config_errors errs;
	struct sysinfo si;
	struct config c;
	uint64_t ram;

	CHECK(sysinfo(&si) == 0, "sysinfo");
	ram = (uint64_t)si.totalram * si.mem_unit;
	CHECK(load("[memshed]\ntotal_limit = 50%\n", &c, &errs) == 0, "50%%");
	CHECK(c.total_limit_pct == 50 && c.total_limit == ram / 2, "50%% of %llu: %llu",
	      (unsigned long long)ram, (unsigned long long)c.total_limit);
	config_free(&c);
	CHECK(load("[memshed]\ntotal_limit = auto\n", &c, &errs) == 0, "auto");
	CHECK(c.total_limit_pct == 100 && c.total_limit == ram, "auto = RAM");
	config_free(&c);
}

static const char components_config[] =
	"[component cache]\n"
	"match = comm:cached\n"
	"match = exe:/usr/sbin/cached\n"
	"match = cmdline:^/usr/bin/python3 .*cache\\.py( |$)\n"
	"match = cgroup:/system.slice/cache.service\n"
	"match = pidfile:/run/cache.pid\n"
	"match = user:root\n"
	"match = user:4242\n"
	"priority = 10\n"
	"action.medium = signal:SIGUSR1\n"
	"action = term\n"
	"grace = 2.5s\n"
	"min_idle_time = 60s\n"
	"\n"
	"[component  db ]\n"
	"match = cgroup:/sys/fs/cgroup/unified/system.slice/db.service\n"
	"match = comm:cache\n"			/* overlap, not identical: allowed */
	"critical = yes\n"
	"action = exec:/usr/local/bin/shed --now  db\n"
	"action.critical = kill\n"
	"exec_timeout = 1m\n"
	"prefer_larger = no\n"
	"\n"
	"[component plain]\n"
	"match = cmdline:cached\n"		/* same argument, other kind */
	"\n"
	"[memshed]\n"				/* after the components */
	"prefer_larger = yes\n";

static void test_component_type(void)
{
	struct config_errors errs;
	struct config c;

	CHECK(load("[component a]\nmatch = comm:a\ntype = cache\n[component b]\nmatch = comm:b\n",
		   &c, &errs) == 0, "rc");
	CHECK(c.nr_comps == 2 && !strcmp(c.comps[0].type, "cache") && !c.comps[1].type[0],
	      "type cache, and none");
	config_free(&c);
}

static void test_components(void)
{
	struct config_errors errs;
	const struct component_config *a, *b, *p;
	struct config c;

	CHECK(load(components_config, &c, &errs) == 0, "rc");
	print_errors(&errs);
	if (c.nr_comps != 3) {
		CHECK(c.nr_comps == 3, "nr_comps %d", c.nr_comps);
		return;
	}
	a = &c.comps[0], b = &c.comps[1], p = &c.comps[2];
	CHECK(!strcmp(a->name, "cache") && a->line == 1 && !strcmp(b->name, "db") && b->line == 15,
	      "names, lines");
	CHECK(a->priority == 10 && !a->critical && a->grace_ns == 2500 * MS &&
	      a->exec_timeout_ns == 30 * SEC && a->has_min_idle && a->min_idle_ns == 60 * SEC,
	      "cache settings");
	CHECK(a->nr_rules == 7 && a->rules[0].kind == MATCH_COMM && !strcmp(a->rules[0].arg, "cached") &&
	      a->rules[1].kind == MATCH_EXE && a->rules[3].kind == MATCH_CGROUP &&
	      a->rules[4].kind == MATCH_PIDFILE && !strcmp(a->rules[4].arg, "/run/cache.pid"),
	      "rules");
	CHECK(a->rules[2].kind == MATCH_CMDLINE &&
	      regexec(&a->rules[2].re, "/usr/bin/python3 -u /opt/cache.py --port 1", 0, NULL, 0) == 0 &&
	      regexec(&a->rules[2].re, "/usr/bin/python3 /opt/cachexpy", 0, NULL, 0) != 0, "regex");
	CHECK(a->rules[5].kind == MATCH_USER && a->rules[5].uid == 0 && !strcmp(a->rules[5].arg, "root"),
	      "user:root -> 0");
	CHECK(a->rules[6].uid == 4242, "user:4242");
	/* The ladder: action fills the levels action.LEVEL leaves open. */
	CHECK(a->ladder[LEVEL_LOW].kind == ACTION_NONE, "no action at low");
	CHECK(a->ladder[LEVEL_MEDIUM].kind == ACTION_SIGNAL && a->ladder[LEVEL_MEDIUM].signo == SIGUSR1,
	      "medium: signal");
	CHECK(a->ladder[LEVEL_HIGH].kind == ACTION_TERM && a->ladder[LEVEL_CRITICAL].kind == ACTION_TERM,
	      "high, critical: term");
	CHECK(a->prefer_larger, "prefer_larger from [memshed], which comes later");

	CHECK(b->critical && b->priority == 50 && b->exec_timeout_ns == 60 * SEC && !b->prefer_larger &&
	      !b->has_min_idle && b->grace_ns == 10 * SEC, "db settings");
	CHECK(!strcmp(b->rules[0].arg, "/sys/fs/cgroup/unified/system.slice/db.service"),
	      "cgroup kept as written");
	CHECK(b->ladder[LEVEL_MEDIUM].kind == ACTION_EXEC && b->ladder[LEVEL_HIGH].kind == ACTION_EXEC &&
	      b->ladder[LEVEL_CRITICAL].kind == ACTION_KILL, "db ladder");
	for (int l = LEVEL_MEDIUM; l <= LEVEL_HIGH; l++) {
		char **argv = b->ladder[l].argv;

		CHECK(argv && !strcmp(argv[0], "/usr/local/bin/shed") && !strcmp(argv[1], "--now") &&
		      !strcmp(argv[2], "db") && !argv[3], "exec argv at %s", level_name(l));
	}
	CHECK(b->ladder[LEVEL_MEDIUM].argv != b->ladder[LEVEL_HIGH].argv, "argv not shared");

	CHECK(p->nr_rules == 1 && p->ladder[LEVEL_MEDIUM].kind == ACTION_TERM && p->prefer_larger,
	      "plain component defaults");
	config_free(&c);
	CHECK(c.comps == NULL && c.nr_comps == 0 && c.path == NULL, "config_free clears");
}

/* Rules narrow, so components may share a rule as long as the sets differ. */
static void test_shared_rule_allowed(void)
{
	static const char text[] = "[component a]\nmatch = comm:py\nmatch = user:0\n"
				   "[component b]\nmatch = comm:py\nmatch = user:1\n";
	struct config_errors errs = {};
	struct config cfg;

	CHECK(config_load_buffer("t.conf", text, sizeof(text) - 1, &cfg, &errs) == 0,
	      "two components sharing comm:py with different users are valid");
	if (!errs.n)
		config_free(&cfg);
	config_errors_free(&errs);
}

static void test_indented_line_is_a_key(void)
{
	struct config_errors errs;
	struct config c;

	/* libinih would glue it to the line above as a continuation. */
	CHECK(load(COMP_A "    priority = 5\n\tcritical = yes\n", &c, &errs) == 0, "rc");
	CHECK(c.nr_comps == 1 && c.comps[0].priority == 5 && c.comps[0].critical &&
	      c.comps[0].nr_rules == 1, "indented keys");
	config_free(&c);
}

static void test_overwrites_cfg_on_success(void)
{
	struct config_errors errs;
	struct config c;

	memset(&c, 0xa5, sizeof(c));	/* the caller frees the old one first */
	CHECK(load("[memshed]\ndry_run = yes\n", &c, &errs) == 0 && c.dry_run && errs.n == 0, "rc");
	config_free(&c);
}

/* ---- files ---------------------------------------------------------------- */

static void test_errors_print(void)
{
	struct config_error v[] = { { 0, "file-level" }, { 3, "a line" } };
	struct config_errors errs = { v, 2 };
	char *out = NULL;
	size_t size;
	FILE *f = open_memstream(&out, &size);

	config_errors_print(f, "x.conf", &errs);
	fclose(f);
	CHECK(out && !strcmp(out, "x.conf: file-level\nx.conf:3: a line\n"), "got \"%s\"", out);
	free(out);
}

static void test_missing_file(void)
{
	struct config_errors errs;
	struct config c;

	CHECK(config_load_file("/nonexistent/memshed.conf", true, &c, &errs) == -ENOENT &&
	      errs.n == 0, "-ENOENT");
}

/* A temporary config file with @mode; its path in @path. */
static int write_temp(char *path, mode_t mode)
{
	static const char text[] = "[memshed]\ndry_run = yes\n" COMP_A;
	int fd;

	strcpy(path, "/tmp/memshed-test-config-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	if (write(fd, text, sizeof(text) - 1) != (ssize_t)sizeof(text) - 1 || fchmod(fd, mode)) {
		close(fd);
		return -1;
	}
	return fd;
}

static void check_refused(const char *path, const char *why)
{
	struct config_errors errs;
	struct config c, before;
	int rc;

	memset(&c, 0x5a, sizeof(c));
	before = c;
	rc = config_load_file(path, true, &c, &errs);
	CHECK(rc == -EINVAL && errs.n == 1 && errs.v[0].line == 0 &&
	      strstr(errs.v[0].msg, "refusing to load: must be owned by root and not writable by group or others"),
	      "%s: not refused (rc %d)", why, rc);
	CHECK(!memcmp(&c, &before, sizeof(c)), "%s: cfg written", why);
	config_errors_free(&errs);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL, "create %s", path);
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

/* Drop-ins: FILE.d/ *.conf after the main file, in name order; errors at
 * FILE:LINE of the drop-in; nothing carries over from one file to the next;
 * a directory others may write to is refused. */
static void test_dropins(void)
{
	char dir[] = "/tmp/memshed-dropins.XXXXXX", main_path[128], d_path[160], a[200], b[200];
	struct config_errors errs;
	struct config c;
	char *out = NULL;
	size_t outlen = 0;
	FILE *f;

	CHECK(mkdtemp(dir) != NULL, "tempdir");
	snprintf(main_path, sizeof(main_path), "%s/m.conf", dir);
	snprintf(d_path, sizeof(d_path), "%s.d", main_path);
	snprintf(a, sizeof(a), "%s/10-a.conf", d_path);
	snprintf(b, sizeof(b), "%s/20-b.conf", d_path);
	write_file(main_path, "[memshed]\ntotal_limit = 2G\n[component main]\nmatch = comm:m", 0644);
	CHECK(mkdir(d_path, 0755) == 0, "mkdir .d");
	write_file(b, "[component bee]\nmatch = comm:b\n", 0644);
	write_file(a, "[component ay]\nmatch = comm:a\n", 0644);
	CHECK(config_load_file(main_path, false, &c, &errs) == 0, "loads");
	CHECK(c.nr_comps == 3 && !strcmp(c.comps[0].name, "main") && !strcmp(c.comps[1].name, "ay") &&
	      !strcmp(c.comps[2].name, "bee"), "main file, then the drop-ins in name order");
	CHECK(c.nr_comps == 3 && c.comps[1].file && !strcmp(c.comps[1].file, a) &&
	      !strcmp(c.comps[0].file, main_path), "each component knows its file");
	CHECK(c.total_limit == 2ULL << 30, "the main file's settings");
	config_free(&c);

	/* A key at the top of a drop-in is outside any section, not in the
	 * previous file's last one; errors name the drop-in and its line. */
	write_file(b, "priority = 5\n[component bee]\nmatch = comm:b\npriority = 500\n", 0644);
	CHECK(config_load_file(main_path, false, &c, &errs) == -EINVAL, "refused");
	f = open_memstream(&out, &outlen);
	config_errors_print(f, main_path, &errs);
	fclose(f);
	CHECK(out && strstr(out, "20-b.conf:1: key \"priority\" outside any section"), "%s", out);
	CHECK(out && strstr(out, "20-b.conf:4: priority"), "range error at the drop-in's line");
	free(out);
	config_errors_free(&errs);

	write_file(b, "[component main]\nmatch = comm:x\n", 0644);
	CHECK(config_load_file(main_path, false, &c, &errs) == -EINVAL && errs.n == 1 &&
	      strstr(errs.v[0].msg, "first defined at ") && strstr(errs.v[0].msg, "m.conf:3"),
	      "a duplicate across files names the first file and line (%s)", errs.n ? errs.v[0].msg : "");
	config_errors_free(&errs);
	write_file(b, "[component bee]\nmatch = comm:b\n", 0644);

	if (geteuid() == 0) {
		chmod(d_path, 0777);
		CHECK(config_load_file(main_path, true, &c, &errs) == -EINVAL && errs.n &&
		      strstr(errs.v[0].msg, "refusing to load drop-ins"), "world-writable .d refused");
		config_errors_free(&errs);
		chmod(d_path, 0755);
		chmod(b, 0666);
		CHECK(config_load_file(main_path, true, &c, &errs) == -EINVAL && errs.n &&
		      strstr(errs.v[0].msg, "20-b.conf: refusing"), "world-writable drop-in refused");
		config_errors_free(&errs);
	}
	unlink(a);
	unlink(b);
	rmdir(d_path);
	unlink(main_path);
	rmdir(dir);
}

static void test_owner_check(void)
{
	struct config_errors errs;
	struct config c;
	char path[64];
	int fd = write_temp(path, 0666);

	CHECK(fd >= 0, "temp file");
	if (fd < 0)
		return;
	check_refused(path, "mode 0666");
	CHECK(config_load_file(path, false, &c, &errs) == 0 && c.dry_run && c.nr_comps == 1,
	      "without check_owner");
	CHECK(c.path && !strcmp(c.path, path), "path kept");
	config_free(&c);
	CHECK(fchmod(fd, 0664) == 0, "chmod");
	check_refused(path, "mode 0664");
	CHECK(fchmod(fd, 0644) == 0, "chmod");
	if (geteuid() == 0) {
		CHECK(config_load_file(path, true, &c, &errs) == 0, "root-owned 0644 refused");
		config_free(&c);
		CHECK(fchown(fd, 1, 0) == 0, "chown");
		check_refused(path, "owned by uid 1");
	} else {
		check_refused(path, "owned by a user");
	}
	close(fd);
	unlink(path);
}

static void test_example_config(void)
{
	const char *path = "examples/memshed.conf";
	struct config_errors errs;
	struct config c;
	int rc = config_load_file(path, false, &c, &errs);

	CHECK(rc == 0, "%s: rc %d (%s)", path, rc, rc == -ENOENT ? "run from the source root" : "");
	if (rc) {
		if (rc == -EINVAL)
			config_errors_print(stdout, path, &errs);
		config_errors_free(&errs);
		return;
	}
	CHECK(c.nr_comps == 6, "6 components, got %d", c.nr_comps);
	CHECK(c.nr_comps > 1 && c.comps[1].ladder[LEVEL_MEDIUM].kind == ACTION_SIGNAL &&
	      c.comps[1].ladder[LEVEL_HIGH].kind == ACTION_TERM, "the cache's ladder");
	/* The gentle ladders: reclaim, hibernate, term. */
	for (int i = 3; i < 5 && i < c.nr_comps; i++)
		CHECK(c.comps[i].ladder[LEVEL_MEDIUM].kind == ACTION_RECLAIM &&
		      c.comps[i].ladder[LEVEL_HIGH].kind == ACTION_HIBERNATE &&
		      c.comps[i].ladder[LEVEL_CRITICAL].kind == ACTION_TERM, "%s's ladder",
		      c.comps[i].name);
	config_free(&c);
}

int main(void)
{
	RUN_TEST(test_parse_size);
	RUN_TEST(test_parse_duration);
	RUN_TEST(test_parse_fraction);
	RUN_TEST(test_parse_bool);
	RUN_TEST(test_parse_signal);
	RUN_TEST(test_parse_action);
	RUN_TEST(test_names);
	RUN_TEST(test_bad_configs);
	RUN_TEST(test_errors_in_line_order);
	RUN_TEST(test_regex_size);
	RUN_TEST(test_nul_byte);
	RUN_TEST(test_errors_without_list);
	RUN_TEST(test_too_many_components);
	RUN_TEST(test_defaults);
	RUN_TEST(test_full_memshed_section);
	RUN_TEST(test_min_idle_derived_after_parse);
	RUN_TEST(test_total_limit_share_of_ram);
	RUN_TEST(test_components);
	RUN_TEST(test_component_type);
	RUN_TEST(test_dropins);
	RUN_TEST(test_shared_rule_allowed);
	RUN_TEST(test_indented_line_is_a_key);
	RUN_TEST(test_overwrites_cfg_on_success);
	RUN_TEST(test_errors_print);
	RUN_TEST(test_missing_file);
	RUN_TEST(test_owner_check);
	RUN_TEST(test_example_config);
	return harness_exit();
}
