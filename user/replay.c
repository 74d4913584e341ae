// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * What-if replay (replay.h). The log's history records (history.c) give
 * what the daemon saw at each evaluation: the level's inputs (sample) and
 * each component's state (state). Replay feeds them, in order, to the same
 * code the daemon decides with - pressure_step for the level, policy_decide
 * for the victims, policy_step for each one's step - under the config
 * given, with a registry built from that config (no kernel, no processes).
 *
 * Where the replay and the recording part ways, the replay keeps its own
 * world: a component it ends is gone until the recording shows it start
 * again (its processes went to none and came back); a component the
 * recording ended and the replay did not keeps its last state until then;
 * what a gentle step of one side paged out and the other's did not is
 * added or taken away. Usage is the sum of that world's components
 * (usage_source components) or the recorded usage corrected by it (system,
 * cgroup). Between records, the replay evaluates when the daemon would
 * have: when a cooldown ends, when a "recent" component reaches its min
 * idle, when a level's settle time is over. The limits (DESIGN 7, man page):
 * the log holds only labelled components, as the recording's rules found
 * them; usage is seen as often as the recording looked; PSI triggers fired
 * under the recording's settings.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eventlog.h"
#include "eventring.h"
#include "output.h"
#include "policy.h"
#include "pressure.h"
#include "registry.h"
#include "replay.h"

#define MAX_TIMED_EVALS	100000	/* between two records: a guard, never reached */
/* The wall clock minus the monotonic one is the boot's start: it moves by
 * more than this only at a new boot (or a step of the wall clock). */
#define BOOT_STEP_NS	(10 * 1000000000ll)

/* One record, the fields replay reads. */
struct rec {
	char type[16], time[40], component[64], state[16], action[16], mode[16];
	char level[16], source[16], psi_trigger[16], result[16];
	uint64_t ts, pids, rss, anon, file, shmem, last_access, busy, held_until;
	uint64_t usage, swap_total, swap_free, freed;
	double some, full;
	bool held;
};

/* A component's memory and processes as the replay's world has them. */
struct view {
	uint64_t rss, anon, file, shmem;
	unsigned int pids;
	bool unloaded;			/* the recording's state said so */
};

enum fate {
	FATE_FOLLOW,		/* as recorded */
	FATE_GONE,		/* the replay ended it */
	FATE_KEPT,		/* the recording ended it, the replay did not */
};

struct rp_comp {
	char name[64];
	struct view rec, kept;		/* as recorded; kept: frozen at the parting */
	uint64_t last_access, held_until;
	bool busy, held;
	enum fate fate;
	bool seen_down;			/* since the parting: recorded with no process */
	int64_t delta;			/* bytes one side's gentle steps paged out, not the other's */
	enum comp_state sim_state;	/* FROZEN/HIBERNATED by the replay; ABSENT: none */
	bool replay_gentle;		/* the replay took a gentle step, this episode */
};

struct replay {
	const struct replay_opts *o;
	struct registry reg;
	struct pressure pr;
	struct rp_comp *comps;
	int nr, cap;
	/* The level's inputs, as last recorded. */
	bool have_sample;
	char source[16];
	uint64_t usage;
	double some, full;
	enum level trig;
	/* Clocks: records carry CLOCK_MONOTONIC and the wall time. */
	uint64_t last_ts, first_wall, last_wall;
	int64_t wall_off;
	/* The simulated daemon. */
	bool pressured, pending;
	uint64_t cooldown_until, recheck_at;
	/* What to report. */
	struct strbuf recorded, replayed;
	int nr_recorded, nr_replayed;
	size_t records, history;
	int err;
};

/* ---- records ---- */

static void copy(char *dst, size_t n, const char *v)
{
	snprintf(dst, n, "%s", v);
}

static void rec_field(void *ctx, const char *k, const char *v)
{
	static const struct { const char *key; size_t off, len; } strs[] = {
#define S(k, f) { k, offsetof(struct rec, f), sizeof(((struct rec *)0)->f) }
		S("type", type), S("time", time), S("component", component), S("state", state),
		S("action", action), S("mode", mode), S("level", level), S("source", source),
		S("psi_trigger", psi_trigger), S("result", result),
#undef S
	};
	static const struct { const char *key; size_t off; } nums[] = {
#define N(k, f) { k, offsetof(struct rec, f) }
		N("ts_ns", ts), N("pids", pids), N("rss_bytes", rss), N("anon_bytes", anon),
		N("file_bytes", file), N("shmem_bytes", shmem), N("last_access_ns", last_access),
		N("busy", busy), N("usage_bytes", usage), N("swap_total_bytes", swap_total),
		N("swap_free_bytes", swap_free), N("memory_freed_bytes", freed),
#undef N
	};
	struct rec *r = ctx;

	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		if (!strcmp(k, strs[i].key))
			return copy((char *)r + strs[i].off, strs[i].len, v);
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
		if (!strcmp(k, nums[i].key)) {
			*(uint64_t *)((char *)r + nums[i].off) = strtoull(v, NULL, 10);
			return;
		}
	if (!strcmp(k, "held_until_ns")) {
		r->held = true;
		r->held_until = strtoull(v, NULL, 10);
	} else if (!strcmp(k, "psi_some_avg10")) {
		r->some = strtod(v, NULL);
	} else if (!strcmp(k, "psi_full_avg10")) {
		r->full = strtod(v, NULL);
	}
}

/* "2026-12-02T01:55:11.488Z" -> ns since the epoch (0 if not that). */
static uint64_t wall_of(const char *s)
{
	struct tm tm = {};
	const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	uint64_t ms = end && *end == '.' ? strtoull(end + 1, NULL, 10) : 0;

	return end ? (uint64_t)timegm(&tm) * 1000000000ull + ms * 1000000ull : 0;
}

static const char *fmt_wall(uint64_t wall, char *buf, size_t n)
{
	time_t secs = wall / 1000000000ull;
	struct tm tm;

	gmtime_r(&secs, &tm);
	strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + strlen(buf), n - strlen(buf), ".%03lluZ",
		 (unsigned long long)(wall / 1000000ull % 1000));
	return buf;
}

/* The wall time of a monotonic time, by the offset of the latest record. */
static const char *stamp(const struct replay *rp, uint64_t ts, char *buf, size_t n)
{
	return fmt_wall(ts + rp->wall_off, buf, n);
}

/* ---- the replay's world ---- */

static struct rp_comp *comp_get(struct replay *rp, const char *name, bool create)
{
	for (int i = 0; i < rp->nr; i++)
		if (!strcmp(rp->comps[i].name, name))
			return &rp->comps[i];
	if (!create || !name[0])
		return NULL;
	if (rp->nr == rp->cap) {
		int cap = rp->cap ? 2 * rp->cap : 16;
		struct rp_comp *n = realloc(rp->comps, cap * sizeof(*n));

		if (!n)
			return NULL;
		rp->comps = n;
		rp->cap = cap;
	}
	memset(&rp->comps[rp->nr], 0, sizeof(rp->comps[0]));
	copy(rp->comps[rp->nr].name, sizeof(rp->comps[0].name), name);
	return &rp->comps[rp->nr++];
}

static struct view comp_view(const struct rp_comp *k)
{
	struct view v = k->fate == FATE_KEPT ? k->kept : k->rec;
	int64_t rss = (int64_t)v.rss + k->delta, anon = (int64_t)v.anon + k->delta;

	if (k->fate == FATE_GONE)
		return (struct view){ .unloaded = true };
	v.rss = rss > 0 ? rss : 0;
	v.anon = anon > 0 ? anon : 0;
	return v;
}

/* The registry's components as the replay's world has them at now. */
static void view_apply(struct replay *rp, uint64_t now)
{
	for (int i = 0; i < rp->reg.nr_comps; i++) {
		struct component *c = &rp->reg.comps[i];
		const struct rp_comp *k = comp_get(rp, c->cfg->name, false);
		struct view v = k ? comp_view(k) : (struct view){};

		c->nr_procs = v.pids;
		c->rss_total = v.rss;
		c->rss[MEMSHED_RSS_ANON] = v.anon;
		c->rss[MEMSHED_RSS_FILE] = v.file;
		c->rss[MEMSHED_RSS_SHMEM] = v.shmem;
		if (k && k->sim_state && v.pids)
			c->state = k->sim_state;
		else
			c->state = v.pids ? COMP_ACTIVE : v.unloaded ? COMP_UNLOADED : COMP_ABSENT;
		/* Busy when recorded: accessed up to the next record. */
		c->last_access_ns = k && k->busy ? now : k ? k->last_access : 0;
		c->held = k && k->held && (!k->held_until || k->held_until > now);
		c->hold_until_ns = k ? k->held_until : 0;
	}
}

/*
 * Usage as the config's usage_source counts it, in the replay's world: the
 * recorded usage (for components, the kernel's running total, fresher than
 * the state records) corrected where the worlds differ, less the components
 * this config does not have. Recorded in another way, the components' sum
 * is all there is to go by.
 */
static uint64_t world_usage(struct replay *rp)
{
	bool comps = rp->o->cfg->usage_source == USAGE_COMPONENTS;
	int64_t usage = rp->usage;

	if (comps && strcmp(rp->source, "components"))
		return registry_usage(&rp->reg);
	for (int i = 0; i < rp->nr; i++) {
		const struct rp_comp *k = &rp->comps[i];
		int64_t view = comp_view(k).rss;

		usage += view - (int64_t)k->rec.rss;
		if (comps && !registry_find(&rp->reg, k->name))
			usage -= view;
	}
	return usage > 0 ? usage : 0;
}

/* ---- output ---- */

static void out_line(struct replay *rp, uint64_t ts, const char *what, const char *text,
		     const char *json)
{
	char t[48];

	stamp(rp, ts, t, sizeof(t));
	if (rp->o->json)
		fprintf(rp->o->out, "{\"time\":\"%s\",\"type\":\"%s\"%s}\n", t, what, json);
	else
		fprintf(rp->o->out, "%s %s\n", t, text);
}

static void out_level(struct replay *rp, uint64_t ts, enum level from)
{
	struct strbuf text = {}, json = {};
	sb_printf(&text, "level %s -> %s: %s", level_name(from), level_name(rp->pr.level),
		  rp->pr.cause);
	sb_printf(&json, ",\"from\":\"%s\",\"to\":\"%s\",\"usage_bytes\":%llu,\"limit_bytes\":%llu,"
		  "\"cause\":", level_name(from), level_name(rp->pr.level),
		  (unsigned long long)rp->pr.usage, (unsigned long long)rp->pr.limit);
	sb_json_str(&json, rp->pr.cause);
	out_line(rp, ts, "level", text.s, json.s);
	sb_free(&text);
	sb_free(&json);
}

/* The summary list of one side: "  TIME ACTION NAME (LEVEL)". */
static void list_add(struct replay *rp, struct strbuf *sb, uint64_t ts, const char *action,
		     const char *name, const char *level)
{
	char t[48];

	sb_printf(sb, "%s  %s %s %s (%s)", sb->len ? "\n" : "", stamp(rp, ts, t, sizeof(t)),
		  action, name, level);
}

static void out_victim(struct replay *rp, uint64_t ts, const struct policy_decision *dec,
		       size_t i, const struct policy_step *st)
{
	const struct policy_component *pc = &dec->comps[i];
	const char *action = action_kind_name(st->action ? st->action->kind : ACTION_NONE);
	uint64_t idle = ts > pc->last_access_ns ? ts - pc->last_access_ns : 0;
	struct strbuf text = {}, json = {};
	char d[32], r[32], f[32];

	sb_printf(&text, "would %s %s at %s: priority %d, idle %s, rss %s, frees %s", action,
		  pc->name, level_name(dec->params.level), pc->priority,
		  fmt_duration(d, sizeof(d), idle), fmt_bytes(r, sizeof(r), pc->rss_bytes),
		  fmt_bytes(f, sizeof(f), pc->frees_bytes));
	sb_printf(&json, ",\"component\":");
	sb_json_str(&json, pc->name);
	sb_printf(&json, ",\"action\":\"%s\",\"level\":\"%s\",\"priority\":%d,\"idle_ms\":%llu,"
		  "\"rss_bytes\":%llu,\"frees_bytes\":%llu,\"spared\":{", action,
		  level_name(dec->params.level), pc->priority, (unsigned long long)(idle / 1000000),
		  (unsigned long long)pc->rss_bytes, (unsigned long long)pc->frees_bytes);
	for (size_t j = 0, n = 0; j < dec->n; j++) {
		const char *why = policy_verdict_name(dec->verdict[j]);

		if (dec->verdict[j] == VERDICT_VICTIM || dec->verdict[j] == VERDICT_NOT_LOADED)
			continue;
		sb_printf(&text, "%s%s %s", n ? ", " : "; spared: ", dec->comps[j].name, why);
		sb_printf(&json, "%s", n++ ? "," : "");
		sb_json_str(&json, dec->comps[j].name);
		sb_printf(&json, ":\"%s\"", why);
	}
	sb_printf(&json, "}");
	out_line(rp, ts, "would", text.s, json.s);
	list_add(rp, &rp->replayed, ts, action, pc->name, level_name(dec->params.level));
	rp->nr_replayed++;
	sb_free(&text);
	sb_free(&json);
}

/* ---- the simulated daemon ---- */

/* What the replay's step does to its world. */
static void take_step(struct replay *rp, struct component *c, const struct policy_step *st,
		      uint64_t frees)
{
	struct rp_comp *k = comp_get(rp, c->cfg->name, false);
	enum action_kind kind = st->action ? st->action->kind : ACTION_NONE;

	if (!k)
		return;
	if (kind == ACTION_TERM || kind == ACTION_KILL) {
		k->fate = FATE_GONE;
		k->seen_down = false;
		k->sim_state = COMP_ABSENT;
		return;
	}
	if (c->ladder_done < (int)st->level)
		c->ladder_done = st->level;	/* once per level per episode, as the daemon */
	if (kind == ACTION_FREEZE || kind == ACTION_HIBERNATE)
		k->sim_state = kind == ACTION_FREEZE ? COMP_FROZEN : COMP_HIBERNATED;
	if (action_is_gentle(kind)) {
		k->delta -= (int64_t)frees;
		k->replay_gentle = true;
	}
}

static void decide(struct replay *rp, uint64_t now)
{
	const struct config *cfg = rp->o->cfg;
	struct policy_decision dec;

	if (policy_decide(&rp->reg, cfg, rp->pr.level, now, pressure_excess(&rp->pr), &dec)) {
		rp->err = -ENOMEM;
		policy_decision_free(&dec);
		return;
	}
	if (!dec.nv)
		rp->recheck_at = policy_recheck_at(&dec);
	for (size_t i = 0; i < dec.nv; i++) {
		struct component *c = &rp->reg.comps[dec.order[i]];
		struct policy_step st;

		policy_step(c, rp->pr.level, &rp->reg.swap, &st);
		out_victim(rp, now, &dec, dec.order[i], &st);
		take_step(rp, c, &st, dec.comps[dec.order[i]].frees_bytes);
	}
	if (dec.nv) {
		/* The round's end (taken as at once) starts the cooldown; then
		 * the daemon measures again. */
		rp->cooldown_until = now + cfg->cooldown_ns;
		rp->pending = true;
	}
	policy_decision_free(&dec);
}

/* Below low_threshold after pressure: thawed, ladders start again. */
static void relieve(struct replay *rp)
{
	for (int i = 0; i < rp->reg.nr_comps; i++)
		rp->reg.comps[i].ladder_done = -1;
	for (int i = 0; i < rp->nr; i++) {
		rp->comps[i].sim_state = COMP_ABSENT;
		rp->comps[i].delta = 0;		/* thawed: taken as back in memory */
		rp->comps[i].replay_gentle = false;
	}
	rp->pressured = false;
}

/* One evaluation at now, as round_evaluate. */
static void evaluate(struct replay *rp, uint64_t now)
{
	enum level before = rp->pr.level;

	rp->pending = false;
	rp->recheck_at = 0;
	view_apply(rp, now);
	rp->pr.psi.some[0] = rp->some;
	rp->pr.psi.full[0] = rp->full;
	pressure_step(&rp->pr, world_usage(rp), rp->trig, now);
	if (rp->pr.level != before)
		out_level(rp, now, before);
	if (rp->pr.level > LEVEL_LOW || rp->pr.fraction >= rp->o->cfg->threshold[LEVEL_LOW])
		rp->pressured = true;
	if (rp->pressured && pressure_relieved(&rp->pr))
		relieve(rp);
	if (rp->pr.level == LEVEL_LOW || rp->pr.below_since_ns)
		return;
	if (now < rp->cooldown_until) {
		rp->pending = true;
		return;
	}
	decide(rp, now);
}

/* The next time the daemon would have evaluated on its own; 0: none. */
static uint64_t next_timed(const struct replay *rp)
{
	uint64_t at = 0;
	uint64_t t[3] = {
		rp->pending ? rp->cooldown_until : 0,
		rp->recheck_at,
		rp->pr.below_since_ns ? rp->pr.below_since_ns + rp->o->cfg->settle_ns : 0,
	};

	for (int i = 0; i < 3; i++)
		if (t[i] && (!at || t[i] < at))
			at = t[i];
	return at;
}

/* Evaluations between the last record and one at ts. */
static void advance(struct replay *rp, uint64_t ts)
{
	uint64_t at, prev = 0;

	for (int n = 0; rp->have_sample && n < MAX_TIMED_EVALS; n++) {
		at = next_timed(rp);
		if (!at || at > ts)
			return;
		if (at <= prev)
			at = prev + 1;	/* every timed evaluation moves time on */
		evaluate(rp, at);
		prev = at;
	}
}

/* A new boot: the world starts again. */
static void new_boot(struct replay *rp)
{
	relieve(rp);
	for (int i = 0; i < rp->nr; i++)
		rp->comps[i].fate = FATE_FOLLOW;
	rp->pr.level = LEVEL_LOW;
	rp->pr.below_since_ns = 0;
	rp->pending = false;
	rp->cooldown_until = rp->recheck_at = 0;
	rp->have_sample = false;
	rp->last_ts = 0;
}

/* ---- the recording's records ---- */

static void on_state(struct replay *rp, const struct rec *r)
{
	struct rp_comp *k = comp_get(rp, r->component, true);

	if (!k)
		return;
	k->rec = (struct view){ .rss = r->rss, .anon = r->anon, .file = r->file,
				.shmem = r->shmem, .pids = r->pids,
				.unloaded = !strcmp(r->state, "unloaded") };
	k->last_access = r->last_access;
	k->busy = r->busy;
	k->held = r->held;
	k->held_until = r->held_until;
	/* A parting ends when the recording shows it gone and started again. */
	if (k->fate != FATE_FOLLOW && !r->pids)
		k->seen_down = true;
	else if (k->fate != FATE_FOLLOW && k->seen_down) {
		k->fate = FATE_FOLLOW;
		k->delta = 0;
	}
	rp->history++;
}

static void on_sample(struct replay *rp, const struct rec *r)
{
	const struct config *cfg = rp->o->cfg;

	if (cfg->usage_source != USAGE_COMPONENTS &&
	    strcmp(r->source, cfg->usage_source == USAGE_SYSTEM ? "system" : "cgroup")) {
		fprintf(stderr, "memshed replay: %s: the recording measured usage as '%s'; this "
			"config's usage_source cannot be computed from it (components can)\n",
			rp->o->events_path, r->source);
		rp->err = -EPROTO;
		return;
	}
	copy(rp->source, sizeof(rp->source), r->source);
	rp->usage = r->usage;
	rp->some = r->some;
	rp->full = r->full;
	if (level_parse(r->psi_trigger, &rp->trig))
		rp->trig = LEVEL_LOW;
	rp->reg.swap = (struct swap_facts){ .total = r->swap_total, .free = r->swap_free };
	rp->have_sample = true;
	rp->history++;
	evaluate(rp, r->ts);
}

/* What the recording did: for the summary, and where the worlds part. */
static void on_unload(struct replay *rp, const struct rec *r)
{
	struct rp_comp *k = comp_get(rp, r->component, true);

	if (strcmp(r->mode, "act") || !k)
		return;
	list_add(rp, &rp->recorded, r->ts, r->action, r->component, r->level);
	rp->nr_recorded++;
	if ((!strcmp(r->action, "term") || !strcmp(r->action, "kill")) &&
	    k->fate == FATE_FOLLOW) {
		k->fate = FATE_KEPT;
		k->kept = k->rec;
		k->seen_down = false;
	}
}

static void on_result(struct replay *rp, const struct rec *r)
{
	struct rp_comp *k = comp_get(rp, r->component, false);

	if (!k || (strcmp(r->action, "reclaim") && strcmp(r->action, "hibernate")))
		return;
	/* The recorded RSS shows what the recording paged out: the replay,
	 * which did not, has it back; one that did has it already. */
	if (k->replay_gentle)
		k->delta = 0;
	else
		k->delta += (int64_t)r->freed;
}

static void on_record(struct replay *rp, const char *json, size_t len)
{
	struct rec r = {};
	uint64_t wall;

	if (rp->err || eventlog_fields(json, len, rec_field, &r) < 0 || !r.type[0] || !r.ts)
		return;
	wall = wall_of(r.time);
	/* Records of one evaluation may be a little out of order (a kernel
	 * event is logged after the decision it caused): time only moves on. */
	if (wall && rp->records && llabs((int64_t)(wall - r.ts) - rp->wall_off) > BOOT_STEP_NS)
		new_boot(rp);
	else if (r.ts > rp->last_ts)
		advance(rp, r.ts);
	if (wall) {
		rp->wall_off = (int64_t)(wall - r.ts);
		rp->first_wall = rp->first_wall ? rp->first_wall : wall;
		rp->last_wall = wall;
	}
	if (r.ts > rp->last_ts || !rp->records)
		rp->last_ts = r.ts;
	r.ts = rp->last_ts;
	rp->records++;
	if (!strcmp(r.type, "state"))
		on_state(rp, &r);
	else if (!strcmp(r.type, "sample"))
		on_sample(rp, &r);
	else if (!strcmp(r.type, "unload"))
		on_unload(rp, &r);
	else if (!strcmp(r.type, "result"))
		on_result(rp, &r);
}

static int ring_record(void *ctx, uint64_t seq, const char *rec, size_t len)
{
	(void)seq;
	on_record(ctx, rec, eventlog_record_json_len(rec, len));
	return 0;
}

/* An on-disk ring, or JSON lines (`memshed events --json > FILE`). */
static int read_log(struct replay *rp)
{
	struct eventring *ring;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f;
	int err = eventring_open_read(rp->o->events_path, &ring);

	if (!err) {
		eventring_for_each(ring, 0, ring_record, rp);
		eventring_close(ring);
		return 0;
	}
	if (err != -EBADMSG)
		return err;
	f = fopen(rp->o->events_path, "re");
	if (!f)
		return -errno;
	while ((n = getline(&line, &cap, f)) > 0) {
		while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n && line[0] == '{')
			on_record(rp, line, n);
	}
	free(line);
	fclose(f);
	return 0;
}

static void summary(struct replay *rp)
{
	FILE *out = rp->o->out;

	if (rp->o->json) {
		fprintf(out, "{\"type\":\"summary\",\"records\":%zu,\"history\":%zu,"
			"\"recorded_actions\":%d,\"replay_actions\":%d}\n",
			rp->records, rp->history, rp->nr_recorded, rp->nr_replayed);
		return;
	}
	fprintf(out, "recorded: %d action%s%s%s\n", rp->nr_recorded, rp->nr_recorded == 1 ? "" : "s",
		rp->nr_recorded ? "\n" : "", rp->recorded.s ? rp->recorded.s : "");
	fprintf(out, "replay:   %d action%s%s%s\n", rp->nr_replayed, rp->nr_replayed == 1 ? "" : "s",
		rp->nr_replayed ? "\n" : "", rp->replayed.s ? rp->replayed.s : "");
}

static void heading(struct replay *rp)
{
	char a[48], b[48];

	if (rp->o->json)
		return;
	fprintf(rp->o->out, "replay of %s (%zu records, %zu of them history, %s to %s) with %s%s\n",
		rp->o->events_path, rp->records, rp->history, fmt_wall(rp->first_wall, a, sizeof(a)),
		fmt_wall(rp->last_wall, b, sizeof(b)), rp->o->config_name,
		rp->o->cfg->auto_unload && !rp->o->cfg->dry_run ? "" :
		" (auto_unload off or dry_run: the daemon would only log these)");
}

int replay_run(const struct replay_opts *o)
{
	struct replay rp = { .o = o };
	char *buf = NULL;
	size_t len = 0;
	FILE *body = open_memstream(&buf, &len);
	struct replay_opts inner = *o;
	int err;

	if (!body)
		return -errno;
	/* The decisions are printed after the heading, which needs the counts. */
	inner.out = body;
	rp.o = &inner;
	err = registry_init(&rp.reg, o->cfg, NULL);
	if (!err) {
		rp.pr.cfg = o->cfg;
		err = read_log(&rp);
	}
	err = err ? err : rp.err;
	fclose(body);
	if (!err && !rp.history) {
		fprintf(stderr, "memshed replay: %s: no history records (sample, state): it was "
			"written by a memshed without them, or holds no evaluation\n", o->events_path);
		err = -ENODATA;
	}
	if (!err) {
		rp.o = o;
		heading(&rp);
		fputs(buf, o->out);
		summary(&rp);
	}
	free(buf);
	free(rp.comps);
	sb_free(&rp.recorded);
	sb_free(&rp.replayed);
	registry_free(&rp.reg);
	return err;
}
