// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Event records: built once, rendered as text and JSON, sent to sinks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "eventlog.h"

#define MAX_SINKS 64

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
};

#define NR_TYPE_NAMES (sizeof(type_names) / sizeof(type_names[0]))

const char *event_type_name(uint32_t type)
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

static void stdout_sink(void *ctx, const char *type, const char *json, const char *text)
{
	fputs(stdout_format == FORMAT_JSON ? json : text, stdout);
	fputc('\n', stdout);
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

uint64_t mono_to_real_ns(uint64_t mono_ns)
{
	return now_real_ns() - (now_mono_ns() - mono_ns);
}

void ev_begin(struct ev *ev, const char *type, uint64_t ts_mono_ns)
{
	uint64_t real = mono_to_real_ns(ts_mono_ns);
	time_t secs = real / 1000000000ull;
	char stamp[48];
	struct tm tm;

	memset(ev, 0, sizeof(*ev));
	ev->type = type;
	gmtime_r(&secs, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(stamp + strlen(stamp), sizeof(stamp) - strlen(stamp), ".%03lluZ",
		 (unsigned long long)(real / 1000000ull % 1000));
	sb_printf(&ev->json, "{\"time\":\"%s\",\"ts_ns\":%llu,\"type\":\"%s\"", stamp,
		  (unsigned long long)ts_mono_ns, type);
	sb_printf(&ev->text, "%s %-14s", stamp, type);
}

static void ev_key(struct ev *ev, const char *key)
{
	sb_printf(&ev->json, ",\"%s\":", key);
	sb_printf(&ev->text, " %s=", key);
}

void ev_str(struct ev *ev, const char *key, const char *v)
{
	if (!v)
		return;
	ev_key(ev, key);
	sb_json_str(&ev->json, v);
	/* Text stays one line of key=value: quote values with spaces. */
	if (strpbrk(v, " \t\n\"") || !*v)
		sb_json_str(&ev->text, v);
	else
		sb_printf(&ev->text, "%s", v);
}

void ev_int(struct ev *ev, const char *key, int64_t v)
{
	ev_key(ev, key);
	sb_printf(&ev->json, "%lld", (long long)v);
	sb_printf(&ev->text, "%lld", (long long)v);
}

void ev_float(struct ev *ev, const char *key, double v)
{
	ev_key(ev, key);
	sb_printf(&ev->json, "%.3f", v);
	sb_printf(&ev->text, "%.2f", v);
}

void ev_dur(struct ev *ev, const char *key, uint64_t ns)
{
	char buf[32];

	sb_printf(&ev->json, ",\"%s_ms\":%.3f", key, ns / 1e6);
	sb_printf(&ev->text, " %s=%s", key, fmt_duration(buf, sizeof(buf), ns));
}

void ev_bytes(struct ev *ev, const char *key, int64_t bytes)
{
	char buf[32];

	sb_printf(&ev->json, ",\"%s_bytes\":%lld", key, (long long)bytes);
	if (bytes < 0)
		sb_printf(&ev->text, " %s=-%s", key, fmt_bytes(buf, sizeof(buf), -bytes));
	else
		sb_printf(&ev->text, " %s=%s", key, fmt_bytes(buf, sizeof(buf), bytes));
}

void ev_json(struct ev *ev, const char *key, const char *json, const char *text)
{
	ev_key(ev, key);
	sb_printf(&ev->json, "%s", json);
	sb_printf(&ev->text, "%s", text);
}

void ev_emit(struct ev *ev)
{
	sb_printf(&ev->json, "}");
	for (int i = 0; i < nr_sinks; i++)
		sinks[i].fn(sinks[i].ctx, ev->type, ev->json.s, ev->text.s);
	sb_free(&ev->json);
	sb_free(&ev->text);
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
