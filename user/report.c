// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* status, explain and metrics: text, JSON and Prometheus renderings. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include "report.h"
#include "actuator.h"

/* Place of each component in the unload order at a level (0: not a victim). */
static size_t *unload_places(const struct report_input *in, enum level level,
			     enum policy_verdict *verdict)
{
	size_t n = in->reg->nr_comps;
	struct policy_component *pc = calloc(n ? n : 1, sizeof(*pc));
	size_t *order = calloc(n ? n : 1, sizeof(*order));
	size_t *place = calloc(n ? n : 1, sizeof(*place));
	struct policy_params p;
	size_t nv;

	if (!pc || !order || !place) {
		free(pc), free(order), free(place);
		return NULL;
	}
	policy_snapshot(in->reg, level, in->now_ns, pc);
	policy_params_from_config(&p, in->cfg, level, in->now_ns);
	nv = policy_select_victims(pc, n, &p, order, verdict);
	for (size_t i = 0; i < nv; i++)
		place[order[i]] = i + 1;
	free(pc);
	free(order);
	return place;
}

static const char *flags_of(const struct component *c, uint64_t now, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s", c->cfg->critical ? "critical," : "",
		 registry_in_use(c, now) ? "held," : "", c->cfg->prefer_larger ? "larger," : "");
	if (buf[0])
		buf[strlen(buf) - 1] = '\0';
	else
		snprintf(buf, len, "-");
	return buf;
}

static void status_json(struct strbuf *sb, const struct report_input *in, const size_t *place)
{
	const struct pressure *pr = in->pr;

	sb_printf(sb, "{\"level\":\"%s\",\"cause\":", level_name(pr->level));
	sb_json_str(sb, pr->cause);
	sb_printf(sb, ",\"usage_bytes\":%llu,\"limit_bytes\":%llu,\"fraction\":%.4f,"
		  "\"usage_source\":\"%s\",\"usage_level\":\"%s\",\"psi_level\":\"%s\","
		  "\"psi\":{\"some\":{\"avg10\":%.2f,\"avg60\":%.2f,\"avg300\":%.2f,\"total_us\":%llu},"
		  "\"full\":{\"avg10\":%.2f,\"avg60\":%.2f,\"avg300\":%.2f,\"total_us\":%llu}},"
		  "\"bpf\":%s,\"dry_run\":%s,\"auto_unload\":%s,\"ringbuf_drops\":%llu,"
		  "\"kernel_oom_kills\":%llu,\"control_refused\":%llu,\"uptime_s\":%llu,"
		  "\"swap_total_bytes\":%llu,\"swap_free_bytes\":%llu,\"components\":[",
		  (unsigned long long)pr->usage, (unsigned long long)pr->limit, pr->fraction,
		  in->cfg->usage_source == USAGE_COMPONENTS ? "components" :
		  in->cfg->usage_source == USAGE_SYSTEM ? "system" : "cgroup",
		  level_name(pr->usage_level), level_name(pr->psi_level),
		  pr->psi.some[0], pr->psi.some[1], pr->psi.some[2],
		  (unsigned long long)pr->psi.some_total_us,
		  pr->psi.full[0], pr->psi.full[1], pr->psi.full[2],
		  (unsigned long long)pr->psi.full_total_us,
		  in->counters->bpf ? "true" : "false", in->counters->dry_run ? "true" : "false",
		  in->cfg->auto_unload ? "true" : "false",
		  (unsigned long long)in->counters->ringbuf_drops,
		  (unsigned long long)in->counters->kernel_oom_kills,
		  (unsigned long long)in->counters->control_refused,
		  (unsigned long long)((in->now_ns - in->started_ns) / 1000000000ull),
		  (unsigned long long)in->reg->swap.total, (unsigned long long)in->reg->swap.free);
	for (int i = 0; i < in->reg->nr_comps; i++) {
		const struct component *c = &in->reg->comps[i];
		pid_t pids[64];
		int n = registry_pids_snapshot(in->reg, c->id, pids, 64);

		sb_printf(sb, "%s{\"name\":", i ? "," : "");
		sb_json_str(sb, c->cfg->name);
		sb_printf(sb, ",\"type\":\"%s\",\"file\":", c->cfg->type);
		if (c->cfg->file)
			sb_json_str(sb, c->cfg->file);
		else
			sb_printf(sb, "null");
		sb_printf(sb, ",\"state\":\"%s\",\"priority\":%d,\"critical\":%s,\"in_use\":%s,"
			  "\"hold_ttl_ms\":%lld,\"nr_pids\":%u,\"pids\":[",
			  comp_state_name(c->state), c->cfg->priority,
			  c->cfg->critical ? "true" : "false",
			  registry_in_use(c, in->now_ns) ? "true" : "false",
			  c->hold_until_ns && registry_in_use(c, in->now_ns) ?
			  (long long)((c->hold_until_ns - in->now_ns) / 1000000) : -1LL, c->nr_procs);
		for (int k = 0; k < n; k++)
			sb_printf(sb, "%s%d", k ? "," : "", pids[k]);
		sb_printf(sb, "],\"rss_bytes\":%llu,\"anon_bytes\":%llu,\"file_bytes\":%llu,"
			  "\"shmem_bytes\":%llu,\"swap_bytes\":%llu,\"idle_ms\":%llu,"
			  "\"last_access\":\"%s\",\"action\":\"%s\",\"unload_order\":%zu}",
			  (unsigned long long)c->rss_total,
			  (unsigned long long)c->rss[MEMSHED_RSS_ANON],
			  (unsigned long long)c->rss[MEMSHED_RSS_FILE],
			  (unsigned long long)c->rss[MEMSHED_RSS_SHMEM],
			  (unsigned long long)c->rss[MEMSHED_RSS_SWAP],
			  (unsigned long long)((in->now_ns - c->last_access_ns) / 1000000),
			  access_kind_name(c->last_access),
			  action_kind_name(c->cfg->ladder[pr->level > LEVEL_LOW ? pr->level : LEVEL_MEDIUM].kind),
			  place ? place[i] : 0);
	}
	sb_printf(sb, "]}\n");
}

static void status_text(struct strbuf *sb, const struct report_input *in, const size_t *place,
			enum level order_level)
{
	const struct pressure *pr = in->pr;
	char a[32], b[32], c1[32], c2[32], c3[32], idle[32], flags[64];

	sb_printf(sb, "level:   %s (%s)\n", level_name(pr->level), pr->cause);
	sb_printf(sb, "usage:   %s of %s (%.1f%%, source %s); thresholds %.2f/%.2f/%.2f/%.2f\n",
		  fmt_bytes(a, sizeof(a), pr->usage), fmt_bytes(b, sizeof(b), pr->limit),
		  pr->fraction * 100,
		  in->cfg->usage_source == USAGE_COMPONENTS ? "components" :
		  in->cfg->usage_source == USAGE_SYSTEM ? "system" : in->cfg->usage_cgroup,
		  in->cfg->threshold[0], in->cfg->threshold[1], in->cfg->threshold[2],
		  in->cfg->threshold[3]);
	sb_printf(sb, "psi:     some %.2f %.2f %.2f  full %.2f %.2f %.2f  (avg10 avg60 avg300, %%)\n",
		  pr->psi.some[0], pr->psi.some[1], pr->psi.some[2],
		  pr->psi.full[0], pr->psi.full[1], pr->psi.full[2]);
	if (in->reg->swap.total)
		sb_printf(sb, "swap:    %s free of %s%s\n", fmt_bytes(a, sizeof(a), in->reg->swap.free),
			  fmt_bytes(b, sizeof(b), in->reg->swap.total),
			  swap_has_room(&in->reg->swap) ? "" : " (full: reclaim frees file pages only)");
	else
		sb_printf(sb, "swap:    none (reclaim and hibernate free file pages only)\n");
	sb_printf(sb, "daemon:  %s%s%s, ring-buffer drops %llu, kernel OOM kills seen %llu, "
		  "control clients refused %llu\n",
		  in->counters->bpf ? "bpf" : "no bpf", in->counters->dry_run ? ", dry run" : "",
		  in->cfg->auto_unload ? "" : ", auto_unload off",
		  (unsigned long long)in->counters->ringbuf_drops,
		  (unsigned long long)in->counters->kernel_oom_kills,
		  (unsigned long long)in->counters->control_refused);
	sb_printf(sb, "\n%-20s %-10s %5s %9s %9s %9s %9s %9s %8s %-10s %4s %-16s %-10s %s\n",
		  "COMPONENT", "STATE", "PIDS", "RSS", "ANON", "FILE", "SHMEM", "SWAP", "IDLE", "LAST",
		  "PRIO", "FLAGS", "ORDER", "TYPE");
	for (int i = 0; i < in->reg->nr_comps; i++) {
		const struct component *c = &in->reg->comps[i];
		char ord[16], c4[32];

		snprintf(ord, sizeof(ord), place && place[i] ? "%zu@%s" : "-", place ? place[i] : 0,
			 level_name(order_level));
		sb_printf(sb, "%-20s %-10s %5u %9s %9s %9s %9s %9s %8s %-10s %4d %-16s %-10s %s\n",
			  c->cfg->name, comp_state_name(c->state), c->nr_procs,
			  fmt_bytes(a, sizeof(a), c->rss_total),
			  fmt_bytes(c1, sizeof(c1), c->rss[MEMSHED_RSS_ANON]),
			  fmt_bytes(c2, sizeof(c2), c->rss[MEMSHED_RSS_FILE]),
			  fmt_bytes(c3, sizeof(c3), c->rss[MEMSHED_RSS_SHMEM]),
			  fmt_bytes(c4, sizeof(c4), c->rss[MEMSHED_RSS_SWAP]),
			  fmt_duration(idle, sizeof(idle), in->now_ns - c->last_access_ns),
			  access_kind_name(c->last_access), c->cfg->priority,
			  flags_of(c, in->now_ns, flags, sizeof(flags)), ord,
			  c->cfg->type[0] ? c->cfg->type : "-");
	}
	if (!in->reg->nr_comps)
		sb_printf(sb, "(no components configured)\n");
}

/* For `memshed top`: a summary row, then one row per component, tab-separated. */
static void status_tsv(struct strbuf *sb, const struct report_input *in, const size_t *place)
{
	const struct pressure *pr = in->pr;
	char flags[64];

	sb_printf(sb, "level\t%s\t%llu\t%llu\t%.2f\t%.2f\t%llu\t%llu\t", level_name(pr->level),
		  (unsigned long long)pr->usage, (unsigned long long)pr->limit,
		  pr->psi.some[0], pr->psi.full[0],
		  (unsigned long long)in->counters->ringbuf_drops,
		  (unsigned long long)in->counters->kernel_oom_kills);
	sb_printf(sb, "%s\n", pr->cause);
	for (int i = 0; i < in->reg->nr_comps; i++) {
		const struct component *c = &in->reg->comps[i];

		sb_printf(sb, "comp\t%s\t%s\t%u\t%llu\t%llu\t%llu\t%llu\t%llu\t%d\t%s\t%zu\n",
			  c->cfg->name, comp_state_name(c->state), c->nr_procs,
			  (unsigned long long)c->rss_total,
			  (unsigned long long)c->rss[MEMSHED_RSS_ANON],
			  (unsigned long long)c->rss[MEMSHED_RSS_FILE],
			  (unsigned long long)c->rss[MEMSHED_RSS_SHMEM],
			  (unsigned long long)((in->now_ns - c->last_access_ns) / 1000000),
			  c->cfg->priority, flags_of(c, in->now_ns, flags, sizeof(flags)),
			  place ? place[i] : 0);
	}
}

void report_status(struct strbuf *sb, const struct report_input *in, const char *format)
{
	/* The order shown is the current level's, or medium's at low. */
	enum level lvl = in->pr->level > LEVEL_LOW ? in->pr->level : LEVEL_MEDIUM;
	size_t n = in->reg->nr_comps;
	enum policy_verdict *verdict = calloc(n ? n : 1, sizeof(*verdict));
	size_t *place = verdict ? unload_places(in, lvl, verdict) : NULL;

	if (!strcmp(format, "json"))
		status_json(sb, in, place);
	else if (!strcmp(format, "prometheus"))
		report_metrics(sb, in);
	else if (!strcmp(format, "tsv"))
		status_tsv(sb, in, place);
	else
		status_text(sb, in, place, lvl);
	free(place);
	free(verdict);
}

static const char *verdict_why(enum policy_verdict v)
{
	switch (v) {
	case VERDICT_VICTIM: return "unloaded";
	case VERDICT_LEVEL_LOW: return "pressure is low";
	case VERDICT_NOT_LOADED: return "nothing to unload (no process, frozen, unloading, or already acted on at this level)";
	case VERDICT_IN_USE: return "in use (held)";
	case VERDICT_CRITICAL: return "critical: only at the critical level";
	case VERDICT_RECENT: return "idle for too short";
	case VERDICT_BEYOND_MAX: return "beyond max_unload";
	case VERDICT_ENOUGH: return "those before it free enough";
	}
	return "?";
}

/* "reclaim", "reclaim (file pages only: no swap)", "term (not reclaim: why)". */
static void step_text(struct strbuf *sb, const struct report_input *in,
		      const struct component *c, enum level level)
{
	struct policy_step st;

	policy_step(c, level, &in->reg->swap, &st);
	sb_printf(sb, "%s", st.action ? action_kind_name(st.action->kind) : "nothing");
	if (st.skip)
		sb_printf(sb, " (%s skipped as ineffective: %s%s)", action_kind_name(st.skipped),
			  policy_step_skip_why(st.skip),
			  st.action ? "; the ladder's next step applies" : "; no later step");
	else if (st.action && action_is_gentle(st.action->kind) && st.file_only)
		sb_printf(sb, " (file pages only: %s)", in->reg->swap.total ? "swap is full" :
			  "no swap");
}

static void explain_level(struct strbuf *sb, const struct report_input *in, enum level level,
			  bool json, bool first)
{
	size_t n = in->reg->nr_comps;
	enum policy_verdict *verdict = calloc(n ? n : 1, sizeof(*verdict));
	size_t *place = verdict ? unload_places(in, level, verdict) : NULL;
	const struct level_policy *lp = &in->cfg->level[level];
	char idle[32], need[32];

	if (!place) {
		free(verdict);
		return;
	}
	if (json) {
		sb_printf(sb, "%s{\"level\":\"%s\",\"min_idle_ms\":%llu,\"max_unload\":%u,\"victims\":[",
			  first ? "" : ",", level_name(level),
			  (unsigned long long)(lp->min_idle_ns / 1000000), lp->max_unload);
		for (size_t p = 1, k = 0; p <= n; p++)
			for (size_t i = 0; i < n; i++)
				if (place[i] == p) {
					sb_printf(sb, "%s", k++ ? "," : "");
					sb_json_str(sb, in->reg->comps[i].cfg->name);
				}
		sb_printf(sb, "],\"spared\":[");
		for (size_t i = 0, k = 0; i < n; i++) {
			if (verdict[i] == VERDICT_VICTIM)
				continue;
			sb_printf(sb, "%s{\"name\":", k++ ? "," : "");
			sb_json_str(sb, in->reg->comps[i].cfg->name);
			sb_printf(sb, ",\"type\":\"%s\"", in->reg->comps[i].cfg->type);
			sb_printf(sb, ",\"reason\":\"%s\",\"why\":", policy_verdict_name(verdict[i]));
			sb_json_str(sb, verdict_why(verdict[i]));
			sb_printf(sb, "}");
		}
		sb_printf(sb, "],\"steps\":{");
		for (size_t i = 0; i < n; i++) {
			struct strbuf t = {};

			step_text(&t, in, &in->reg->comps[i], level);
			sb_printf(sb, "%s", i ? "," : "");
			sb_json_str(sb, in->reg->comps[i].cfg->name);
			sb_printf(sb, ":");
			sb_json_str(sb, t.s ? t.s : "");
			sb_free(&t);
		}
		sb_printf(sb, "}}");
	} else {
		sb_printf(sb, "at %s (min idle %s, max unload %s):\n", level_name(level),
			  fmt_duration(idle, sizeof(idle), lp->min_idle_ns),
			  lp->max_unload ? (snprintf(need, sizeof(need), "%u", lp->max_unload), need) : "all");
		for (size_t p = 1; p <= n; p++)
			for (size_t i = 0; i < n; i++)
				if (place[i] == p) {
					sb_printf(sb, "  %zu. %s (%s%spriority %d, idle %s, last access: %s): ",
						  p, in->reg->comps[i].cfg->name,
						  in->reg->comps[i].cfg->type,
						  in->reg->comps[i].cfg->type[0] ? ", " : "",
						  in->reg->comps[i].cfg->priority,
						  fmt_duration(idle, sizeof(idle),
							       in->now_ns - in->reg->comps[i].last_access_ns),
						  access_kind_name(in->reg->comps[i].last_access));
					step_text(sb, in, &in->reg->comps[i], level);
					sb_printf(sb, "\n");
				}
		for (size_t i = 0; i < n; i++) {
			const struct component *c = &in->reg->comps[i];

			if (verdict[i] == VERDICT_VICTIM)
				continue;
			if (verdict[i] == VERDICT_RECENT)
				sb_printf(sb, "  spared %s: %s (idle %s, last access: %s)", c->cfg->name,
					  verdict_why(verdict[i]),
					  fmt_duration(idle, sizeof(idle), in->now_ns - c->last_access_ns),
					  access_kind_name(c->last_access));
			else
				sb_printf(sb, "  spared %s: %s", c->cfg->name, verdict_why(verdict[i]));
			sb_printf(sb, "; its step here: ");
			step_text(sb, in, c, level);
			sb_printf(sb, "\n");
		}
		if (!n)
			sb_printf(sb, "  (no components configured)\n");
	}
	free(place);
	free(verdict);
}

void report_explain(struct strbuf *sb, const struct report_input *in, int only_level, bool json)
{
	bool first = true;

	if (json)
		sb_printf(sb, "{\"level\":\"%s\",\"levels\":[", level_name(in->pr->level));
	for (int l = LEVEL_MEDIUM; l < NR_LEVELS; l++) {
		if (only_level >= 0 && l != only_level)
			continue;
		explain_level(sb, in, l, json, first);
		first = false;
	}
	sb_printf(sb, json ? "]}\n" : "");
}

static void metric_help(struct strbuf *sb, const char *name, const char *type, const char *help)
{
	sb_printf(sb, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Label values: escape backslash, quote and newline. */
static void sb_label(struct strbuf *sb, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			sb_printf(sb, "\\%c", *v);
		else if (*v == '\n')
			sb_printf(sb, "\\n");
		else
			sb_printf(sb, "%c", *v);
	}
}

/* A component's series: labelled with its name and type (a word, or ""). */
static void metric_comp(struct strbuf *sb, const char *name, const struct component *c, double v)
{
	sb_printf(sb, "%s{component=\"", name);
	sb_label(sb, c->cfg->name);
	sb_printf(sb, "\",type=\"%s\"} %.17g\n", c->cfg->type, v);
}

void report_metrics(struct strbuf *sb, const struct report_input *in)
{
	const struct pressure *pr = in->pr;
	const struct report_counters *k = in->counters;

	metric_help(sb, "memshed_level", "gauge", "Effective pressure level: 0 low, 1 medium, 2 high, 3 critical.");
	sb_printf(sb, "memshed_level %d\n", pr->level);
	metric_help(sb, "memshed_usage_bytes", "gauge", "Memory in use per usage_source.");
	sb_printf(sb, "memshed_usage_bytes %llu\n", (unsigned long long)pr->usage);
	metric_help(sb, "memshed_limit_bytes", "gauge", "total_limit in bytes.");
	sb_printf(sb, "memshed_limit_bytes %llu\n", (unsigned long long)pr->limit);
	metric_help(sb, "memshed_psi_avg10_percent", "gauge", "Memory PSI avg10.");
	sb_printf(sb, "memshed_psi_avg10_percent{kind=\"some\"} %.2f\n", pr->psi.some[0]);
	sb_printf(sb, "memshed_psi_avg10_percent{kind=\"full\"} %.2f\n", pr->psi.full[0]);
	metric_help(sb, "memshed_psi_stall_seconds_total", "counter", "Memory PSI stall time.");
	sb_printf(sb, "memshed_psi_stall_seconds_total{kind=\"some\"} %.6f\n", pr->psi.some_total_us / 1e6);
	sb_printf(sb, "memshed_psi_stall_seconds_total{kind=\"full\"} %.6f\n", pr->psi.full_total_us / 1e6);
	metric_help(sb, "memshed_component_rss_bytes", "gauge", "Resident memory of a component's processes.");
	for (int i = 0; i < in->reg->nr_comps; i++)
		metric_comp(sb, "memshed_component_rss_bytes", &in->reg->comps[i],
			    in->reg->comps[i].rss_total);
	metric_help(sb, "memshed_component_idle_seconds", "gauge", "Time since the component's last access.");
	for (int i = 0; i < in->reg->nr_comps; i++)
		metric_comp(sb, "memshed_component_idle_seconds", &in->reg->comps[i],
			    (in->now_ns - in->reg->comps[i].last_access_ns) / 1e9);
	metric_help(sb, "memshed_component_processes", "gauge", "Live processes of the component.");
	for (int i = 0; i < in->reg->nr_comps; i++)
		metric_comp(sb, "memshed_component_processes", &in->reg->comps[i],
			    in->reg->comps[i].nr_procs);
	metric_help(sb, "memshed_component_state", "gauge", "1 for the component's current state.");
	for (int i = 0; i < in->reg->nr_comps; i++) {
		sb_printf(sb, "memshed_component_state{component=\"");
		sb_label(sb, in->reg->comps[i].cfg->name);
		sb_printf(sb, "\",type=\"%s\",state=\"%s\"} 1\n", in->reg->comps[i].cfg->type,
			  comp_state_name(in->reg->comps[i].state));
	}
	metric_help(sb, "memshed_unloads_total", "counter", "Unload actions by action and result.");
	for (int a = ACTION_TERM; a < NR_ACTIONS; a++)
		for (int r = JOB_EXITED; r < JOB_NR_RESULTS; r++)
			sb_printf(sb, "memshed_unloads_total{action=\"%s\",result=\"%s\"} %llu\n",
				  action_kind_name(a), job_result_name(r),
				  (unsigned long long)k->unloads[a][r]);
	metric_help(sb, "memshed_ringbuf_drops_total", "counter", "Kernel events lost to a full ring buffer.");
	sb_printf(sb, "memshed_ringbuf_drops_total %llu\n", (unsigned long long)k->ringbuf_drops);
	metric_help(sb, "memshed_kernel_oom_kills_total", "counter", "Kernel OOM kills seen (oom:mark_victim).");
	sb_printf(sb, "memshed_kernel_oom_kills_total %llu\n", (unsigned long long)k->kernel_oom_kills);
	metric_help(sb, "memshed_events_total", "counter", "Event records written.");
	sb_printf(sb, "memshed_events_total %llu\n", (unsigned long long)k->events);
	metric_help(sb, "memshed_rounds_total", "counter", "Rounds of unloads started.");
	sb_printf(sb, "memshed_rounds_total %llu\n", (unsigned long long)k->rounds);
	metric_help(sb, "memshed_control_refused_total", "counter",
		    "Control connections or requests turned away (slots, follower cap, permission, timeouts).");
	sb_printf(sb, "memshed_control_refused_total %llu\n", (unsigned long long)k->control_refused);
}

/*
 * The metrics file's directory may belong to a collector's user
 * (node_exporter's textfile directory): the directory is opened once,
 * without following a link, and everything is done relative to it. The temp
 * file gets a random name and is created with O_EXCL|O_NOFOLLOW, so no name
 * planted in advance (a link to /etc/shadow) is ever opened; renameat then
 * replaces whatever holds the final name, a planted link included, without
 * following it.
 */
int report_write_metrics_file(const char *path, const struct report_input *in)
{
	struct strbuf sb = {};
	char dir[4096], tmp[NAME_MAX + 1];
	const char *base, *slash = strrchr(path, '/');
	int dfd = -1, fd = -1, err = 0;
	uint64_t rnd;

	if (slash) {
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash == path ? 1 : slash - path), path);
		base = slash + 1;
	} else {
		snprintf(dir, sizeof(dir), ".");
		base = path;
	}
	if (!*base || strlen(base) + 24 > NAME_MAX) {
		err = -EINVAL;
		goto out;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		err = -errno;
		goto out;
	}
	report_metrics(&sb, in);
	for (int tries = 0; fd < 0 && tries < 16; tries++) {
		if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd)) {
			err = -errno;
			goto out;
		}
		snprintf(tmp, sizeof(tmp), ".%s.%016llx", base, (unsigned long long)rnd);
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd < 0 && errno != EEXIST) {
			err = -errno;
			goto out;
		}
	}
	if (fd < 0) {
		err = -EEXIST;
		goto out;
	}
	/* Write then rename: the collector never reads half a file. */
	if (fchmod(fd, 0644) || write(fd, sb.s, sb.len) != (ssize_t)sb.len || fsync(fd))
		err = errno ? -errno : -EIO;
	close(fd);
	if (!err && renameat(dfd, tmp, dfd, base))
		err = -errno;
	if (err)
		unlinkat(dfd, tmp, 0);
out:
	if (dfd >= 0)
		close(dfd);
	sb_free(&sb);
	errno = -err;
	return err;
}
