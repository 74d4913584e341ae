// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Unit tests of the event records (user/eventlog.c): a record is stored once,
 * as JSON, and its text line is rendered from that JSON. The text must be
 * what memshed wrote before records were stored once, when ev_* built a text
 * line next to the JSON: old_text() below is that code, kept as the
 * reference, and random records of every field kind are checked against it.
 * Also: records of rings written before ("json\ntext"), and input that is
 * not a record.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "eventlog.h"

#define NR_RANDOM	20000
#define MAX_FIELDS	12

/* ---- the reference: the text forms of ev_* before records were stored once */

enum kind { K_STR, K_INT, K_FLOAT, K_DUR, K_BYTES, K_VICTIMS, K_SKIPPED, NR_KINDS };

struct field {
	enum kind kind;
	char key[32];
	char s[64];		/* K_STR */
	int64_t i;		/* K_INT, K_BYTES */
	double f;		/* K_FLOAT */
	uint64_t ns;		/* K_DUR */
	int n;			/* K_VICTIMS, K_SKIPPED: names */
};

static const char *const names[] = { "redis", "pg-main", "cache.v2", "a_b" };
static const char *const verdicts[] = { "in-use", "recent", "critical" };

static void old_text(struct strbuf *t, const char *stamp, const char *type,
		     const struct field *f, int n)
{
	char buf[32];

	sb_printf(t, "%s %-14s", stamp, type);
	for (int k = 0; k < n; k++, f++) {
		switch (f->kind) {
		case K_STR:
			sb_printf(t, " %s=", f->key);
			if (strpbrk(f->s, " \t\n\"") || !*f->s)
				sb_json_str(t, f->s);
			else
				sb_printf(t, "%s", f->s);
			break;
		case K_INT:
			sb_printf(t, " %s=%lld", f->key, (long long)f->i);
			break;
		case K_FLOAT:
			sb_printf(t, " %s=%.2f", f->key, f->f);
			break;
		case K_DUR:
			sb_printf(t, " %s=%s", f->key, fmt_duration(buf, sizeof(buf), f->ns));
			break;
		case K_BYTES:
			if (f->i < 0)
				sb_printf(t, " %s=-%s", f->key, fmt_bytes(buf, sizeof(buf), -f->i));
			else
				sb_printf(t, " %s=%s", f->key, fmt_bytes(buf, sizeof(buf), f->i));
			break;
		case K_VICTIMS:
			sb_printf(t, " %s=", f->key);
			for (int v = 0; v < f->n; v++)
				sb_printf(t, "%s%s", v ? "," : "", names[v]);
			sb_printf(t, "%s", f->n ? "" : "-");
			break;
		case K_SKIPPED:
			sb_printf(t, " %s=", f->key);
			for (int v = 0; v < f->n; v++)
				sb_printf(t, "%s%s:%s", v ? "," : "", names[v], verdicts[v % 3]);
			sb_printf(t, "%s", f->n ? "" : "-");
			break;
		case NR_KINDS:
			break;
		}
	}
}

/* ---- the reference for the JSON: ev_* and sb_json_str as they were, each
 * piece through sb_printf (records are built without it now) ------------- */

static void old_json_str(struct strbuf *sb, const char *s)
{
	sb_printf(sb, "\"");
	for (; s && *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\')
			sb_printf(sb, "\\%c", c);
		else if (c == '\n')
			sb_printf(sb, "\\n");
		else if (c == '\t')
			sb_printf(sb, "\\t");
		else if (c < 0x20 || c == 0x7f)
			sb_printf(sb, "\\u%04x", c);
		else
			sb_printf(sb, "%c", c);
	}
	sb_printf(sb, "\"");
}

static void old_json(struct strbuf *j, const char *stamp, uint64_t ts, const char *type,
		     const struct field *f, int n)
{
	sb_printf(j, "{\"time\":\"%s\",\"ts_ns\":%llu,\"type\":\"%s\"", stamp,
		  (unsigned long long)ts, type);
	for (int k = 0; k < n; k++, f++) {
		switch (f->kind) {
		case K_STR:
			sb_printf(j, ",\"%s\":", f->key);
			old_json_str(j, f->s);
			break;
		case K_INT:
			sb_printf(j, ",\"%s\":%lld", f->key, (long long)f->i);
			break;
		case K_FLOAT:
			sb_printf(j, ",\"%s\":%.3f", f->key, f->f);
			break;
		case K_DUR:
			sb_printf(j, ",\"%s_ms\":%.3f", f->key, f->ns / 1e6);
			break;
		case K_BYTES:
			sb_printf(j, ",\"%s_bytes\":%lld", f->key, (long long)f->i);
			break;
		case K_VICTIMS:
			sb_printf(j, ",\"%s\":[", f->key);
			for (int v = 0; v < f->n; v++) {
				sb_printf(j, "%s", v ? "," : "");
				old_json_str(j, names[v]);
			}
			sb_printf(j, "]");
			break;
		case K_SKIPPED:
			sb_printf(j, ",\"%s\":{", f->key);
			for (int v = 0; v < f->n; v++) {
				sb_printf(j, "%s", v ? "," : "");
				old_json_str(j, names[v]);
				sb_printf(j, ":\"%s\"", verdicts[v % 3]);
			}
			sb_printf(j, "}");
			break;
		case NR_KINDS:
			break;
		}
	}
	sb_printf(j, "}");
}

/* The old stamp of a wall-clock time. */
static void old_stamp(uint64_t real, char *buf, size_t size)
{
	time_t secs = real / 1000000000ull;
	struct tm tm;

	gmtime_r(&secs, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + strlen(buf), size - strlen(buf), ".%03lluZ",
		 (unsigned long long)(real / 1000000ull % 1000));
}

/* The wall-clock ms of a stamp, or 0 if it is not one. */
static uint64_t stamp_ms(const char *stamp)
{
	struct tm tm = {};
	const char *p = strptime(stamp, "%Y-%m-%dT%H:%M:%S.", &tm);
	char *end;
	long ms = p ? strtol(p, &end, 10) : -1;

	if (ms < 0 || ms > 999 || end != p + 3 || strcmp(end, "Z"))
		return 0;
	return (uint64_t)timegm(&tm) * 1000 + ms;
}

/* ---- building records through ev_* and catching them in a sink ---------- */

static struct strbuf caught;
static int nr_caught;

static void catch_sink(void *ctx, const char *type, const char *json, size_t len)
{
	sb_reset(&caught);
	sb_append(&caught, json, len);
	nr_caught++;
}

static void emit(const char *type, uint64_t ts, const struct field *f, int n)
{
	struct strbuf j = {};
	struct ev ev;

	ev_begin(&ev, type, ts);
	for (int k = 0; k < n; k++, f++) {
		sb_reset(&j);
		switch (f->kind) {
		case K_STR: ev_str(&ev, f->key, f->s); break;
		case K_INT: ev_int(&ev, f->key, f->i); break;
		case K_FLOAT: ev_float(&ev, f->key, f->f); break;
		case K_DUR: ev_dur(&ev, f->key, f->ns); break;
		case K_BYTES: ev_bytes(&ev, f->key, f->i); break;
		case K_VICTIMS:
			sb_printf(&j, "[");
			for (int v = 0; v < f->n; v++) {
				sb_printf(&j, "%s", v ? "," : "");
				sb_json_str(&j, names[v]);
			}
			sb_printf(&j, "]");
			ev_json(&ev, f->key, j.s);
			break;
		case K_SKIPPED:
			sb_printf(&j, "{");
			for (int v = 0; v < f->n; v++) {
				sb_printf(&j, "%s", v ? "," : "");
				sb_json_str(&j, names[v]);
				sb_printf(&j, ":\"%s\"", verdicts[v % 3]);
			}
			sb_printf(&j, "}");
			ev_json(&ev, f->key, j.s);
			break;
		case NR_KINDS:
			break;
		}
	}
	ev_emit(&ev);
	sb_free(&j);
}

/* The record's "time", as the reference's stamp. */
static void stamp_of(const char *json, char *buf, size_t size)
{
	const char *p = strstr(json, "\"time\":\"");

	snprintf(buf, size, "%.*s", p ? (int)strcspn(p + 8, "\"") : 0, p ? p + 8 : "");
}

/* ---- random fields ------------------------------------------------------- */

static uint64_t rng_state = 0x6576656e746c6f67ULL;

static uint64_t rnd(void)	/* xorshift64* */
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static uint64_t pick(uint64_t n)
{
	return n ? rnd() % n : 0;
}

/* Strings with what needs quoting or escaping: blanks, quotes, backslashes,
 * control characters, UTF-8, the empty string. */
static void rand_string(char *s, size_t size)
{
	static const char *const parts[] = {
		"a", "pressure", " ", "\t", "\n", "\"", "\\", "\x01", "\x1f", "\x7f", "=",
		"caf\xc3\xa9", "\xe2\x80\x94", "/usr/bin/x", ":", ",", "{", "]", "%s", "\r",
	};
	size_t len = 0;

	s[0] = '\0';
	for (int n = pick(6); n > 0; n--) {
		const char *p = parts[pick(sizeof(parts) / sizeof(parts[0]))];

		if (len + strlen(p) + 1 > size)
			break;
		strcpy(s + len, p);
		len += strlen(p);
	}
}

/* Any size of any magnitude, negative too (ev_bytes takes an int64_t). */
static int64_t rand_bytes(void)
{
	int64_t b = (int64_t)(rnd() >> 1 >> pick(63));

	return pick(8) ? b : -b;
}

/*
 * Whole microseconds: the JSON keeps milliseconds with three decimals, and
 * from those the text renders exactly as from the nanoseconds.
 */
static uint64_t rand_duration(void)
{
	return (rnd() >> (11 + pick(53))) / 1000 * 1000;
}

static void rand_field(struct field *f, int k)
{
	static const char *const keys[] = { "component", "cause", "pid", "x", "level_2" };

	memset(f, 0, sizeof(*f));
	f->kind = pick(NR_KINDS);
	snprintf(f->key, sizeof(f->key), "%s%d", keys[pick(5)], k);
	switch (f->kind) {
	case K_STR: rand_string(f->s, sizeof(f->s)); break;
	case K_INT: f->i = (int64_t)rnd() >> pick(64); break;
	/* PSI averages: two decimals, as /proc/pressure gives them */
	case K_FLOAT: f->f = (double)pick(10001) / 100; break;
	case K_DUR: f->ns = rand_duration(); break;
	case K_BYTES: f->i = rand_bytes(); break;
	case K_VICTIMS: case K_SKIPPED: f->n = pick(5); break;
	case NR_KINDS: break;
	}
}

/* ---- tests --------------------------------------------------------------- */

static void check_record(const char *what, const char *type, uint64_t ts,
			 const struct field *f, int n)
{
	struct strbuf want = {}, got = {};
	char stamp[64];

	uint64_t before = (now_real_ns() - (now_mono_ns() - ts)) / 1000000, after, ms;
	char again[64];

	emit(type, ts, f, n);
	after = (now_real_ns() - (now_mono_ns() - ts)) / 1000000;
	stamp_of(caught.s, stamp, sizeof(stamp));
	ms = stamp_ms(stamp);
	old_stamp(ms * 1000000, again, sizeof(again));
	/* The wall clock of ts as the record was made (give or take a
	 * preemption between the two clock reads), in the old format. */
	CHECK(ms + 100 >= before && ms <= after + 100 && !strcmp(stamp, again),
	      "%s: stamp %s (%llu ms), want %llu..%llu ms as %s", what, stamp,
	      (unsigned long long)ms, (unsigned long long)before, (unsigned long long)after, again);
	old_json(&want, stamp, ts, type, f, n);
	CHECK(!strcmp(caught.s, want.s), "%s: JSON\n  %s\nwant\n  %s", what, caught.s, want.s);
	sb_reset(&want);
	old_text(&want, stamp, type, f, n);
	eventlog_render_text(&got, caught.s, caught.len);
	CHECK(got.s && !strcmp(got.s, want.s), "%s: text\n  %s\nwant\n  %s\nfrom %s", what,
	      got.s, want.s, caught.s);
	sb_free(&want);
	sb_free(&got);
}

static void test_every_kind_of_field(void)
{
	struct field f[] = {
		{ .kind = K_STR, .key = "msg", .s = "ready" },
		{ .kind = K_STR, .key = "cause", .s = "usage 80% >= medium 75%" },
		{ .kind = K_STR, .key = "empty", .s = "" },
		{ .kind = K_STR, .key = "esc", .s = "a\\b\x01" },
		{ .kind = K_INT, .key = "pid", .i = 4242 },
		{ .kind = K_INT, .key = "neg", .i = -7 },
		{ .kind = K_FLOAT, .key = "psi_some_avg10", .f = 12.34 },
		{ .kind = K_DUR, .key = "idle", .ns = 301500000000ULL },
		{ .kind = K_DUR, .key = "duration", .ns = 1234000 },
		{ .kind = K_BYTES, .key = "rss", .i = 3 << 20 },
		{ .kind = K_BYTES, .key = "delta", .i = -1536 },
		{ .kind = K_VICTIMS, .key = "victims", .n = 2 },
		{ .kind = K_VICTIMS, .key = "none", .n = 0 },
		{ .kind = K_SKIPPED, .key = "skipped", .n = 3 },
		{ .kind = K_SKIPPED, .key = "nothing", .n = 0 },
	};

	check_record("every kind", "candidates", now_mono_ns(), f, sizeof(f) / sizeof(f[0]));
	check_record("no fields", "notice", now_mono_ns(), f, 0);
	CHECK(nr_caught == 2, "%d records caught", nr_caught);
}

static void test_random_records(void)
{
	static const char *const types[] = { "exec", "level", "memcg_reclaim_stall", "a" };
	struct field f[MAX_FIELDS];
	char what[32];

	for (int r = 0; r < NR_RANDOM && !harness_case_failed; r++) {
		int n = pick(MAX_FIELDS + 1);

		for (int k = 0; k < n; k++)
			rand_field(&f[k], k);
		snprintf(what, sizeof(what), "record %d", r);
		check_record(what, types[pick(4)], now_mono_ns() - pick(1ULL << 40), f, n);
	}
}

/*
 * Durations of any nanoseconds render as their JSON says: as the
 * microseconds it keeps.
 */
static void test_durations_from_microseconds(void)
{
	struct field f = { .kind = K_DUR, .key = "d" };
	struct strbuf got = {};
	char want[64], buf[32];

	for (int r = 0; r < NR_RANDOM && !harness_case_failed; r++) {
		f.ns = rnd() >> (11 + pick(53));
		emit("result", now_mono_ns(), &f, 1);
		snprintf(want, sizeof(want), " d=%s",
			 fmt_duration(buf, sizeof(buf),
				      (uint64_t)(strtod(strstr(caught.s, "\"d_ms\":") + 7, NULL) * 1000 +
						 0.5) * 1000));
		sb_reset(&got);
		eventlog_render_text(&got, caught.s, caught.len);
		CHECK(strstr(got.s, want) != NULL, "%" PRIu64 " ns: %s, want %s (%s)", f.ns, got.s,
		      want, caught.s);
	}
	sb_free(&got);
}

/* Rings written before records were stored once hold "json\ntext": the JSON
 * is the first line. */
static void test_old_ring_records(void)
{
	static const char old[] = "{\"time\":\"2024-01-02T03:04:05.678Z\",\"ts_ns\":1,"
				  "\"type\":\"notice\",\"msg\":\"ready\"}\n"
				  "2024-01-02T03:04:05.678Z notice         msg=ready";
	static const char now[] = "{\"time\":\"2024-01-02T03:04:05.678Z\",\"ts_ns\":1,"
				  "\"type\":\"notice\",\"msg\":\"ready\"}";
	struct strbuf t = {};
	size_t n = eventlog_record_json_len(old, sizeof(old) - 1);

	CHECK(n == sizeof(now) - 1 && !memcmp(old, now, n), "json part of an old record: %zu", n);
	CHECK(eventlog_record_json_len(now, sizeof(now) - 1) == sizeof(now) - 1, "new record");
	eventlog_render_text(&t, old, n);
	CHECK(!strcmp(t.s, strchr(old, '\n') + 1), "old record renders as its text: %s", t.s);
	sb_free(&t);
}

/* Not a record (a corrupt or foreign ring): shown as it is, never dropped. */
static void test_not_a_record(void)
{
	static const char *const bad[] = {
		"", "not json", "{", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{\"a\":\"\\x\"}",
		"{\"a\":\"\\u12\"}", "{\"a\":[\"x\",]}", "{\"a\":{\"k\"}}", "{\"a\":1} trailing",
		"{\"a\":\"unterminated}", "[1,2]", "{\"a\":123456789012345678901234567890123456789012345678901234567890123456789}",
	};
	static const char unicode[] = "{\"type\":\"t\",\"s\":\"\\u00e9\\u2014\\u0000x\"}";
	struct strbuf t = {};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sb_reset(&t);
		sb_printf(&t, "%s", "prefix:");
		eventlog_render_text(&t, bad[i], strlen(bad[i]));
		CHECK(!strncmp(t.s, "prefix:", 7) && !strcmp(t.s + 7, bad[i]),
		      "\"%s\" rendered as \"%s\"", bad[i], t.s);
	}
	/* A NUL in a corrupt record is dropped: text is a C string. */
	sb_reset(&t);
	eventlog_render_text(&t, "{\"a\0\":1}\0x", 10);
	CHECK(t.len == 8 && !strcmp(t.s, "{\"a\":1}x"), "NUL bytes: \"%s\" (%zu)", t.s, t.len);
	/* \u escapes decode to UTF-8; a NUL is dropped. */
	sb_reset(&t);
	eventlog_render_text(&t, unicode, strlen(unicode));
	CHECK(!strcmp(t.s, " t              s=\xc3\xa9\xe2\x80\x94x"), "unicode: \"%s\"", t.s);
	sb_free(&t);
}

/*
 * Records to stdout are buffered, not written one by one: nothing reaches
 * the file until eventlog_flush (the daemon's loop flushes before it waits),
 * and then every record, in order, a line each.
 */
static void test_stdout_buffered_until_flush(void)
{
	char path[] = "/tmp/memshed-test-eventlog.XXXXXX", want[4096] = "", got[4096] = "";
	int fd = mkstemp(path), saved;
	off_t before, after;
	struct ev ev;
	size_t len = 0;

	CHECK(fd >= 0, "mkstemp");
	if (fd < 0)
		return;
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	dup2(fd, STDOUT_FILENO);
	eventlog_setup(FORMAT_JSON, true);
	for (int i = 0; i < 10; i++) {
		ev_begin(&ev, "notice", now_mono_ns());
		ev_int(&ev, "n", i);
		ev_emit(&ev);
		len += snprintf(want + len, sizeof(want) - len, "%s\n", caught.s);
	}
	before = lseek(fd, 0, SEEK_END);
	eventlog_flush();
	after = lseek(fd, 0, SEEK_END);
	eventlog_setup(FORMAT_TEXT, false);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	CHECK(before == 0, "%lld bytes written before the flush", (long long)before);
	CHECK(pread(fd, got, sizeof(got) - 1, 0) == (ssize_t)len && !strcmp(got, want),
	      "after the flush (%lld bytes):\n%s\nwant\n%s", (long long)after, got, want);
	close(fd);
	unlink(path);
}

int main(void)
{
	eventlog_setup(FORMAT_TEXT, false);
	eventlog_add_sink(catch_sink, NULL);
	RUN_TEST(test_every_kind_of_field);
	RUN_TEST(test_random_records);
	RUN_TEST(test_durations_from_microseconds);
	RUN_TEST(test_old_ring_records);
	RUN_TEST(test_not_a_record);
	RUN_TEST(test_stdout_buffered_until_flush);
	sb_free(&caught);
	return harness_exit();
}
