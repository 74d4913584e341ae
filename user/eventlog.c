// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Event records: built once as a JSON object, handed to the sinks, and
 * rendered as a text line from that JSON wherever text is wanted (stdout,
 * followers, `memshed events`, `memshed top`): one record, one form.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "eventlog.h"

#define MAX_SINKS 64
#define DUR_SUFFIX "_ms"
#define BYTES_SUFFIX "_bytes"
/* A record's buffer is kept for the next one up to this size. */
#define SPARE_MAX 4096

static struct { eventlog_sink_fn fn; void *ctx; } sinks[MAX_SINKS];
static int nr_sinks;
static enum output_format stdout_format;
static bool stdout_on;

static const char *const type_names[] = {
	[MEMSHED_EV_EXEC] = "exec",
	[MEMSHED_EV_FORK] = "fork",
	[MEMSHED_EV_EXIT] = "exit",
	[MEMSHED_EV_RECLAIM_STALL] = "reclaim_stall",
	[MEMSHED_EV_MEMCG_RECLAIM] = "memcg_reclaim_stall",
	[MEMSHED_EV_KSWAPD_WAKE] = "kswapd_wake",
	[MEMSHED_EV_KSWAPD_SLEEP] = "kswapd_sleep",
	[MEMSHED_EV_COMPACTION] = "compaction_stall",
	[MEMSHED_EV_THROTTLED] = "throttled",
	[MEMSHED_EV_OOM_KILL] = "oom_kill",
	[MEMSHED_EV_BUDGET] = "budget",
	[MEMSHED_EV_RENAME] = "rename",
	[MEMSHED_EV_KNOCK] = "knock",
	[MEMSHED_EV_LEVEL] = "level",
	[MEMSHED_EV_CANDIDATES] = "candidates",
	[MEMSHED_EV_UNLOAD] = "unload",
	[MEMSHED_EV_RESULT] = "result",
	[MEMSHED_EV_THAW] = "thaw",
	[MEMSHED_EV_DROPS] = "drops",
	[MEMSHED_EV_CONFIG] = "config",
	[MEMSHED_EV_NOTICE] = "notice",
	[MEMSHED_EV_SAMPLE] = "sample",
	[MEMSHED_EV_STATE] = "state",
};

#define NR_TYPE_NAMES (sizeof(type_names) / sizeof(type_names[0]))

static const char *event_type_name(uint32_t type)
{
	if (type < NR_TYPE_NAMES && type_names[type])
		return type_names[type];
	return "unknown";
}

int event_type_parse(const char *name)
{
	for (size_t i = 0; i < NR_TYPE_NAMES; i++)
		if (type_names[i] && !strcmp(type_names[i], name))
			return i;
	return -1;
}

/* Buffered: the loop flushes before it waits (eventlog_flush), so a flood
 * of records costs a write per buffer, not one per record. */
static void stdout_sink(void *ctx, const char *type, const char *json, size_t len)
{
	static struct strbuf text;

	if (stdout_format == FORMAT_JSON) {
		fwrite(json, 1, len, stdout);
	} else {
		sb_reset(&text);
		eventlog_render_text(&text, json, len);
		fwrite(text.s, 1, text.len, stdout);
		if (text.cap > SPARE_MAX)
			sb_free(&text);
	}
	putc('\n', stdout);
}

void eventlog_flush(void)
{
	if (stdout_on)
		fflush(stdout);
}

void eventlog_setup(enum output_format fmt, bool to_stdout)
{
	stdout_format = fmt;
	if (to_stdout && !stdout_on)
		eventlog_add_sink(stdout_sink, NULL);
	else if (!to_stdout && stdout_on)
		eventlog_remove_sink(stdout_sink, NULL);
	stdout_on = to_stdout;
}

int eventlog_add_sink(eventlog_sink_fn fn, void *ctx)
{
	if (nr_sinks == MAX_SINKS)
		return -1;
	sinks[nr_sinks].fn = fn;
	sinks[nr_sinks].ctx = ctx;
	nr_sinks++;
	return 0;
}

void eventlog_remove_sink(eventlog_sink_fn fn, void *ctx)
{
	for (int i = 0; i < nr_sinks; i++) {
		if (sinks[i].fn == fn && sinks[i].ctx == ctx) {
			sinks[i] = sinks[--nr_sinks];
			return;
		}
	}
}

/* Wall-clock time of a CLOCK_MONOTONIC timestamp. */
static uint64_t mono_to_real_ns(uint64_t mono_ns)
{
	return now_real_ns() - (now_mono_ns() - mono_ns);
}

/*
 * "2026-11-28T21:40:34.610Z": the part up to the seconds changes once a
 * second, so it is formatted once a second.
 */
static void put_stamp(struct strbuf *sb, uint64_t real_ns)
{
	static time_t secs_done = -1;
	static char secs_stamp[32];
	static size_t secs_len;
	time_t secs = real_ns / 1000000000ull;
	unsigned int ms = real_ns / 1000000ull % 1000;
	char frac[6] = { '.', '0' + ms / 100, '0' + ms / 10 % 10, '0' + ms % 10, 'Z' };
	struct tm tm;

	if (secs != secs_done) {
		gmtime_r(&secs, &tm);
		secs_len = strftime(secs_stamp, sizeof(secs_stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		secs_done = secs;
	}
	sb_append(sb, secs_stamp, secs_len);
	sb_append(sb, frac, 5);
}

/* The buffer of the last record emitted, for the next one. */
static struct strbuf spare;

void ev_begin(struct ev *ev, const char *type, uint64_t ts_mono_ns)
{
	ev->type = type;
	ev->json = spare;
	spare = (struct strbuf){};
	sb_reset(&ev->json);
	sb_append(&ev->json, "{\"time\":\"", 9);
	put_stamp(&ev->json, mono_to_real_ns(ts_mono_ns));
	sb_append(&ev->json, "\",\"ts_ns\":", 10);
	sb_u64(&ev->json, ts_mono_ns);
	sb_append(&ev->json, ",\"type\":\"", 9);
	sb_append(&ev->json, type, strlen(type));
	sb_append(&ev->json, "\"", 1);
}

static void ev_key(struct ev *ev, const char *key)
{
	sb_append(&ev->json, ",\"", 2);
	sb_append(&ev->json, key, strlen(key));
	sb_append(&ev->json, "\":", 2);
}

void ev_str(struct ev *ev, const char *key, const char *v)
{
	if (!v)
		return;
	ev_key(ev, key);
	sb_json_str(&ev->json, v);
}

void ev_int(struct ev *ev, const char *key, int64_t v)
{
	ev_key(ev, key);
	sb_i64(&ev->json, v);
}

void ev_float(struct ev *ev, const char *key, double v)
{
	ev_key(ev, key);
	sb_printf(&ev->json, "%.3f", v);
}

void ev_dur(struct ev *ev, const char *key, uint64_t ns)
{
	sb_printf(&ev->json, ",\"%s" DUR_SUFFIX "\":%.3f", key, ns / 1e6);
}

void ev_bytes(struct ev *ev, const char *key, int64_t bytes)
{
	sb_printf(&ev->json, ",\"%s" BYTES_SUFFIX "\":", key);
	sb_i64(&ev->json, bytes);
}

void ev_json(struct ev *ev, const char *key, const char *json)
{
	ev_key(ev, key);
	sb_append(&ev->json, json, strlen(json));
}

void ev_emit(struct ev *ev)
{
	sb_append(&ev->json, "}", 1);
	for (int i = 0; i < nr_sinks; i++)
		sinks[i].fn(sinks[i].ctx, ev->type, ev->json.s, ev->json.len);
	/* Kept for the next record unless one is kept already (a sink that
	 * emitted a record of its own) or it grew large. */
	if (!spare.s && ev->json.cap <= SPARE_MAX)
		spare = ev->json;
	else
		sb_free(&ev->json);
	ev->json = (struct strbuf){};
}

/* ---- text lines, rendered from the JSON ------------------------------- */

/*
 * A record's text line is "TIME TYPE     key=value ...": the type padded to
 * 14 columns, ts_ns left out, and each field as
 *   KEY_ms (a number)      KEY=<fmt_duration>: 300ms, 1.5s, 5.0m
 *   KEY_bytes (a number)   KEY=<fmt_bytes>: 512B, 1.5M (negative: -1.5M)
 *   a number with a point  two decimals (ev_float writes three)
 *   another number         as it is
 *   a string               as it is, or JSON-quoted if it is empty or holds a
 *                          blank, a tab, a newline or a quote
 *   an array of strings    a,b,c ("-" if empty)
 *   an object of strings   k:v,k:v ("-" if empty)
 * These are the text forms ev_* produced next to the JSON before records
 * were stored once (rings of then hold "json\ntext"; tests/unit/
 * test_eventlog.c keeps that code as its reference), with one difference:
 * a duration comes from the JSON's milliseconds with three decimals, not
 * from nanoseconds, so one within half a microsecond of a display rounding
 * step shows its last digit rounded the other way (measured on random
 * durations: 0.5% of those of 1 ms..1 s, 0.1% below 1 ms, 1 in 400,000 of
 * 1 s..2 min, none longer). Every view of a record (stdout, followers,
 * history) now shows the same line. A record that does not parse is shown
 * as its JSON.
 */

struct cursor {
	const char *p, *end;
};

static bool cur_eat(struct cursor *c, char ch)
{
	if (c->p < c->end && *c->p == ch) {
		c->p++;
		return true;
	}
	return false;
}

static void put_utf8(struct strbuf *sb, unsigned int cp)
{
	char b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = 0xc0 | cp >> 6;
		b[1] = 0x80 | (cp & 0x3f);
		n = 2;
	} else {
		b[0] = 0xe0 | cp >> 12;
		b[1] = 0x80 | (cp >> 6 & 0x3f);
		b[2] = 0x80 | (cp & 0x3f);
		n = 3;
	}
	sb_append(sb, b, n);
}

static int hex4(const char *s, unsigned int *ret)
{
	*ret = 0;
	for (int i = 0; i < 4; i++) {
		int ch = s[i], lc = ch | 0x20;
		int d = ch >= '0' && ch <= '9' ? ch - '0' : lc >= 'a' && lc <= 'f' ? lc - 'a' + 10 : -1;

		if (d < 0)
			return -1;
		*ret = *ret << 4 | d;
	}
	return 0;
}

/* Bytes of a record into its text line: a NUL is dropped (text is a C string). */
static void put_bytes(struct strbuf *sb, const char *s, size_t n)
{
	for (const char *nul; n && (nul = memchr(s, '\0', n)); n -= nul + 1 - s, s = nul + 1)
		sb_append(sb, s, nul - s);
	sb_append(sb, s, n);
}

static void put(struct strbuf *sb, const char *s)
{
	sb_append(sb, s, strlen(s));
}

/* " KEY=" */
static void put_key(struct strbuf *sb, const char *key, size_t len)
{
	sb_append(sb, " ", 1);
	sb_append(sb, key, len);
	sb_append(sb, "=", 1);
}

/* A JSON string, decoded into out (a NUL, raw or \u0000, is dropped). */
static int cur_string(struct cursor *c, struct strbuf *out)
{
	static const char esc[] = "\"\"\\\\//b\bf\fn\nr\rt\t";
	const char *e;
	unsigned int cp;

	if (!cur_eat(c, '"'))
		return -1;
	while (c->p < c->end && *c->p != '"') {
		if (*c->p != '\\') {
			const char *run = c->p;

			while (c->p < c->end && *c->p != '"' && *c->p != '\\')
				c->p++;
			put_bytes(out, run, c->p - run);	/* as they are, up to an escape */
			continue;
		}
		if (++c->p == c->end)
			return -1;
		if (*c->p == 'u') {
			if (c->end - c->p < 5 || hex4(c->p + 1, &cp))
				return -1;
			if (cp)
				put_utf8(out, cp);
			c->p += 5;
			continue;
		}
		e = memchr(esc, *c->p, sizeof(esc) - 1);
		if (!e || (e - esc) % 2)
			return -1;
		sb_append(out, e + 1, 1);
		c->p++;
	}
	return cur_eat(c, '"') ? 0 : -1;
}

/* A number, true, false or null: its token, NUL-terminated in buf. */
static int cur_bare(struct cursor *c, char *buf, size_t size)
{
	size_t n = 0;

	while (c->p < c->end && *c->p && strchr("+-.0123456789eEtruefalsn", *c->p)) {
		if (n + 1 == size)
			return -1;
		buf[n++] = *c->p++;
	}
	buf[n] = '\0';
	return n ? 0 : -1;
}

/* A decimal token ("12.345") times 10^6, exactly: the ms of a duration in ns. */
static uint64_t ms_token_to_ns(const char *s)
{
	uint64_t ns = 0, scale = 1000000;
	const char *dot = strchr(s, '.');

	for (const char *p = s; *p >= '0' && *p <= '9'; p++)
		if (__builtin_mul_overflow(ns, 10, &ns) || __builtin_add_overflow(ns, *p - '0', &ns))
			return UINT64_MAX;
	if (__builtin_mul_overflow(ns, scale, &ns))
		return UINT64_MAX;
	for (const char *p = dot ? dot + 1 : ""; *p >= '0' && *p <= '9' && scale > 1; p++) {
		scale /= 10;
		ns += (uint64_t)(*p - '0') * scale;
	}
	return ns;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n > k && !strcmp(s + n - k, suffix);
}

static int render_number(struct strbuf *out, const char *key, const char *tok)
{
	char buf[32];
	long long b;

	if (has_suffix(key, DUR_SUFFIX) && *tok != '-') {
		put_key(out, key, strlen(key) - strlen(DUR_SUFFIX));
		put(out, fmt_duration(buf, sizeof(buf), ms_token_to_ns(tok)));
	} else if (has_suffix(key, BYTES_SUFFIX) && !strpbrk(tok, ".eE")) {
		b = strtoll(tok, NULL, 10);
		put_key(out, key, strlen(key) - strlen(BYTES_SUFFIX));
		put(out, b < 0 ? "-" : "");
		put(out, fmt_bytes(buf, sizeof(buf), b < 0 ? -(uint64_t)b : (uint64_t)b));
	} else if (strpbrk(tok, ".eE")) {
		sb_printf(out, " %s=%.2f", key, strtod(tok, NULL));
	} else {
		put_key(out, key, strlen(key));
		put(out, tok);
	}
	return 0;
}

/* An array or object of strings (or bare values) as "a,b" or "k:v,k:v". */
static int render_list(struct cursor *c, struct strbuf *out, struct strbuf *tmp, bool object)
{
	char close = object ? '}' : ']';
	char tok[64];
	int n = 0;

	c->p++;
	for (; !cur_eat(c, close); n++) {
		if (n && !cur_eat(c, ','))
			return -1;
		put(out, n ? "," : "");
		if (object) {
			sb_reset(tmp);
			if (cur_string(c, tmp) || !cur_eat(c, ':'))
				return -1;
			put(out, tmp->s ? tmp->s : "");
			put(out, ":");
		}
		sb_reset(tmp);
		if (c->p < c->end && *c->p == '"') {
			if (cur_string(c, tmp))
				return -1;
			put(out, tmp->s ? tmp->s : "");
		} else if (cur_bare(c, tok, sizeof(tok))) {
			return -1;
		} else {
			put(out, tok);
		}
	}
	if (!n)
		put(out, "-");
	return 0;
}

/* One field of a record: " key=value", or the line's start for time and type. */
static int render_field(struct cursor *c, const char *key, struct strbuf *out,
			struct strbuf *tmp, char *stamp, size_t stamp_size)
{
	char tok[64];

	if (c->p < c->end && *c->p == '"') {
		sb_reset(tmp);
		if (cur_string(c, tmp))
			return -1;
		if (!tmp->s)
			put(tmp, "");
		if (!strcmp(key, "time")) {
			snprintf(stamp, stamp_size, "%s", tmp->s);
		} else if (!strcmp(key, "type")) {
			put(out, stamp);
			put(out, " ");
			put(out, tmp->s);
			for (size_t pad = tmp->len; pad < 14; pad++)	/* %-14s */
				sb_append(out, " ", 1);
		} else if (!*tmp->s || strpbrk(tmp->s, " \t\n\"")) {
			put_key(out, key, strlen(key));
			sb_json_str(out, tmp->s);
		} else {
			put_key(out, key, strlen(key));
			put(out, tmp->s);
		}
		return 0;
	}
	if (c->p < c->end && (*c->p == '[' || *c->p == '{')) {
		put_key(out, key, strlen(key));
		return render_list(c, out, tmp, *c->p == '{');
	}
	if (cur_bare(c, tok, sizeof(tok)))
		return -1;
	return strcmp(key, "ts_ns") ? render_number(out, key, tok) : 0;
}

void eventlog_render_text(struct strbuf *out, const char *json, size_t len)
{
	struct cursor c = { json, json + len };
	struct strbuf key = {}, tmp = {};
	size_t start = out->len;
	char stamp[64] = "";
	int err = cur_eat(&c, '{') ? 0 : -1;

	for (int n = 0; !err && !cur_eat(&c, '}'); n++) {
		if (n && !cur_eat(&c, ','))
			err = -1;
		sb_reset(&key);
		if (!err && (cur_string(&c, &key) || !key.s || !cur_eat(&c, ':')))
			err = -1;
		if (!err)
			err = render_field(&c, key.s, out, &tmp, stamp, sizeof(stamp));
	}
	if (err || c.p != c.end) {
		out->len = start;
		put_bytes(out, json, len);
	}
	put(out, "");	/* NUL-terminated even when empty */
	sb_free(&key);
	sb_free(&tmp);
}

int eventlog_fields(const char *json, size_t len, eventlog_field_fn fn, void *ctx)
{
	struct cursor c = { json, json + len };
	struct strbuf key = {}, val = {}, tmp = {};
	char tok[64];
	int err = cur_eat(&c, '{') ? 0 : -1;

	for (int n = 0; !err && !cur_eat(&c, '}'); n++) {
		if (n && !cur_eat(&c, ','))
			err = -1;
		sb_reset(&key);
		sb_reset(&val);
		if (!err && (cur_string(&c, &key) || !key.s || !cur_eat(&c, ':')))
			err = -1;
		if (err)
			break;
		if (c.p < c.end && *c.p == '"')
			err = cur_string(&c, &val);
		else if (c.p < c.end && (*c.p == '[' || *c.p == '{'))
			err = render_list(&c, &val, &tmp, *c.p == '{');
		else if (!(err = cur_bare(&c, tok, sizeof(tok))))
			sb_printf(&val, "%s", tok);
		if (!err)
			fn(ctx, key.s, val.s ? val.s : "");
	}
	sb_free(&key);
	sb_free(&val);
	sb_free(&tmp);
	return err || c.p != c.end ? -1 : 0;
}

size_t eventlog_record_json_len(const char *rec, size_t len)
{
	const char *nl = memchr(rec, '\n', len);

	return nl ? (size_t)(nl - rec) : len;
}

static void eventlog_stall(struct ev *ev, const struct memshed_event *e)
{
	ev_dur(ev, "duration", e->stall.duration_ns);
	if (e->hdr.type == MEMSHED_EV_THROTTLED) {
		ev_int(ev, "reason", e->stall.reason);
	} else {
		ev_int(ev, "order", e->stall.order);
		ev_int(ev, "nr_reclaimed", e->stall.nr_reclaimed);
		if (e->stall.psi_some_total_ns)
			ev_int(ev, "psi_some_total_us", e->stall.psi_some_total_ns / 1000);
	}
	ev_int(ev, "memcg_id", e->stall.memcg_id);
}

void eventlog_kernel(const struct memshed_event *e, const char *comp)
{
	char comm[MEMSHED_COMM_LEN + 1];
	struct ev ev;

	memcpy(comm, e->hdr.comm, MEMSHED_COMM_LEN);
	comm[MEMSHED_COMM_LEN] = '\0';
	ev_begin(&ev, event_type_name(e->hdr.type), e->hdr.ts_ns);
	ev_int(&ev, "pid", e->hdr.tgid);
	if (e->hdr.pid != e->hdr.tgid)
		ev_int(&ev, "tid", e->hdr.pid);
	ev_str(&ev, "comm", comm);
	ev_str(&ev, "component", comp);

	switch (e->hdr.type) {
	case MEMSHED_EV_EXEC:
		ev_int(&ev, "ppid", e->proc.ppid);
		ev_int(&ev, "cgroup_id", e->proc.cgroup_id);
		break;
	case MEMSHED_EV_FORK:
		ev_int(&ev, "ppid", e->proc.ppid);
		break;
	case MEMSHED_EV_EXIT:
		ev_int(&ev, "exit_code", e->proc.exit_code);
		break;
	case MEMSHED_EV_RECLAIM_STALL:
	case MEMSHED_EV_MEMCG_RECLAIM:
	case MEMSHED_EV_COMPACTION:
	case MEMSHED_EV_THROTTLED:
		eventlog_stall(&ev, e);
		break;
	case MEMSHED_EV_KSWAPD_WAKE:
		ev_int(&ev, "order", e->kswapd.order);
		/* fallthrough */
	case MEMSHED_EV_KSWAPD_SLEEP:
		ev_int(&ev, "nid", e->kswapd.nid);
		break;
	case MEMSHED_EV_OOM_KILL:
		ev_bytes(&ev, "anon_rss", e->oom.rss_anon_kb * 1024);
		ev_bytes(&ev, "file_rss", e->oom.rss_file_kb * 1024);
		ev_bytes(&ev, "shmem_rss", e->oom.rss_shmem_kb * 1024);
		ev_bytes(&ev, "total_vm", e->oom.total_vm_kb * 1024);
		ev_int(&ev, "oom_score_adj", (int32_t)e->oom.oom_score_adj);
		break;
	case MEMSHED_EV_BUDGET:
		ev_bytes(&ev, "usage", e->budget.usage);
		ev_int(&ev, "old_level", e->budget.old_level);
		ev_int(&ev, "new_level", e->budget.new_level);
		break;
	}
	ev_emit(&ev);
}
