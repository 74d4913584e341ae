// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Rounds (round.h): one evaluation measures usage and pressure, moves the
 * level, thaws on relief and, if the level calls for it, asks the policy
 * for victims and starts their actions as one round. A round is stepped by
 * the loop as victims exit and deadlines pass; when it ends, what was
 * freed is measured and logged, and the next evaluation waits for the
 * cooldown: one round at a time, no kill storms.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "daemon_state.h"
#include "eventlog.h"
#include "failpoint.h"
#include "memcg.h"
#include "policy.h"
#include "round.h"

/* After a signal, freeze or hook, give memory this long to go before
 * measuring what was freed. */
#define TRIM_SETTLE_NS	(1 * NS_PER_SEC)

void round_request_eval(struct daemon *d, const char *reason)
{
	if (!d->eval_pending)
		d->eval_reason = reason;
	d->eval_pending = true;
}

static uint64_t usage_now(struct daemon *d)
{
	uint64_t usage = 0;

	switch (d->cfg->usage_source) {
	case USAGE_COMPONENTS:
		return registry_usage(&d->reg);
	case USAGE_SYSTEM:
		usage_read_system(&usage);
		return usage;
	case USAGE_CGROUP:
		usage_read_cgroup(d->cfg->usage_cgroup, &usage);
		return usage;
	}
	return 0;
}

static void emit_level(struct daemon *d, enum level from, const char *reason)
{
	struct ev ev;

	ev_begin(&ev, "level", now_mono_ns());
	ev_str(&ev, "from", level_name(from));
	ev_str(&ev, "to", level_name(d->level));
	ev_str(&ev, "cause", d->pr.cause);
	ev_str(&ev, "trigger", reason);
	ev_bytes(&ev, "usage", d->pr.usage);
	ev_bytes(&ev, "limit", d->pr.limit);
	ev_float(&ev, "psi_some_avg10", d->pr.psi.some[0]);
	ev_float(&ev, "psi_full_avg10", d->pr.psi.full[0]);
	ev_emit(&ev);
}

/* No component hibernated any more: the per-segment probe goes. */
static void knock_probe_update(struct daemon *d)
{
	bool any = false;

	for (int i = 0; i < d->reg.nr_comps; i++)
		any |= d->reg.comps[i].state == COMP_HIBERNATED;
	if (d->bpf && !any)
		loader_knock_probe(&d->ld, false);
}

/* Before hibernating: knocks on its sockets, and established
 * connections, wake the daemon. */
static void hibernate_arm(struct daemon *d, struct component *c)
{
	struct memshed_comp *k = d->bpf ? loader_comp(&d->ld, c->id) : NULL;
	int err;

	if (!k)
		return;
	__atomic_and_fetch(&k->flags, ~MEMSHED_COMP_KNOCKED, __ATOMIC_SEQ_CST);
	__atomic_or_fetch(&k->flags, MEMSHED_COMP_HIBERNATED, __ATOMIC_SEQ_CST);
	loader_mark_sockets(&d->ld, true);
	err = loader_knock_probe(&d->ld, true);
	if (err)
		log_warn("cannot attach tcp_probe: %s; only new connections thaw %s",
			 strerror(-err), c->cfg->name);
}

static void hibernate_disarm(struct daemon *d, struct component *c)
{
	struct memshed_comp *k = d->bpf ? loader_comp(&d->ld, c->id) : NULL;

	if (k)
		__atomic_and_fetch(&k->flags, ~(MEMSHED_COMP_HIBERNATED | MEMSHED_COMP_KNOCKED),
				   __ATOMIC_SEQ_CST);
}

int round_thaw(struct daemon *d, struct component *c, const char *cause,
	       const struct memshed_event *knock)
{
	uint64_t now;
	struct ev ev;
	int err;

	/* A hibernation still paging out: stop it, then thaw. */
	for (int i = 0; d->round.active && i < d->round.nr_jobs; i++) {
		struct unload_job *job = &d->round.jobs[i];

		if (job->comp_id == c->id && job->result == JOB_RUNNING &&
		    job->action.kind == ACTION_HIBERNATE)
			job->cancel = true;
	}
	/* Whatever its state: a group left by an earlier run thaws too. */
	err = freezer_thaw(&d->act.freezer, c->cfg->name);
	now = now_mono_ns();
	hibernate_disarm(d, c);
	if (err)
		return err;
	c->state = COMP_ACTIVE;
	knock_probe_update(d);
	ev_begin(&ev, "thaw", now);
	ev_str(&ev, "component", c->cfg->name);
	ev_str(&ev, "cause", cause);
	if (knock) {
		ev_int(&ev, "port", knock->knock.port);
		ev_str(&ev, "knock", knock->knock.kind == MEMSHED_KNOCK_DATA ? "data" : "connect");
		ev_float(&ev, "knock_to_thaw_ms",
			 now > knock->hdr.ts_ns ? (now - knock->hdr.ts_ns) / 1e6 : 0);
	}
	ev_emit(&ev);
	return 0;
}

void round_on_knock(struct daemon *d, const struct memshed_event *e)
{
	struct component *c = registry_get(&d->reg, e->hdr.comp_id);

	if (c)
		round_thaw(d, c, "access", e);
}

/*
 * Below low_threshold: ladders start again. Pressure is relieved - what
 * was frozen or hibernated is thawed - only if there was pressure since
 * the last relief (usage at or above low_threshold, or a level above low):
 * a component hibernated by `memshed unload` on a quiet host stays so
 * until it is accessed or thawed, not until the next evaluation.
 */
static void relieve(struct daemon *d)
{
	bool thaw = d->pressured;

	d->pressured = false;
	for (int i = 0; i < d->reg.nr_comps; i++) {
		struct component *c = &d->reg.comps[i];

		c->ladder_done = -1;
		c->refaulted = c->file_only_done = false;
		c->reclaimed_at_ns = 0;
		if (thaw && (c->state == COMP_FROZEN || c->state == COMP_HIBERNATED))
			round_thaw(d, c, "pressure relieved", NULL);
	}
}

#define CANDIDATES_REPEAT_NS	(60 * NS_PER_SEC)

/* The same decision as the last one written, less than a minute ago? Then
 * it is only counted ("repeated" in the next record written). */
static bool candidates_repeat(struct daemon *d, const char *victims, const char *skipped)
{
	struct strbuf key = {};
	uint64_t now = now_mono_ns();
	bool same;

	sb_printf(&key, "%s %s %s", level_name(d->level), victims, skipped);
	same = d->last_candidates.s && !strcmp(d->last_candidates.s, key.s) &&
	       now - d->candidates_at_ns < CANDIDATES_REPEAT_NS;
	if (same) {
		d->candidates_repeated++;
		sb_free(&key);
		return true;
	}
	sb_free(&d->last_candidates);
	d->last_candidates = key;
	d->candidates_at_ns = now;
	return false;
}

static void emit_candidates(struct daemon *d, const struct policy_component *pc, size_t n,
			    const size_t *order, size_t nv, const enum policy_verdict *verdict)
{
	struct strbuf victims = {}, skipped = {};
	struct ev ev;

	sb_printf(&victims, "[");
	for (size_t i = 0; i < nv; i++) {
		sb_printf(&victims, "%s", i ? "," : "");
		sb_json_str(&victims, pc[order[i]].name);
	}
	sb_printf(&victims, "]");
	sb_printf(&skipped, "{");
	for (size_t i = 0; i < n; i++) {
		if (verdict[i] == VERDICT_VICTIM)
			continue;
		sb_printf(&skipped, "%s", skipped.len > 1 ? "," : "");
		sb_json_str(&skipped, pc[i].name);
		sb_printf(&skipped, ":\"%s\"", policy_verdict_name(verdict[i]));
	}
	sb_printf(&skipped, "}");
	if (!candidates_repeat(d, victims.s, skipped.s)) {
		ev_begin(&ev, "candidates", now_mono_ns());
		ev_str(&ev, "level", level_name(d->level));
		ev_str(&ev, "cause", d->pr.cause);
		ev_json(&ev, "victims", victims.s);
		ev_json(&ev, "skipped", skipped.s);
		if (d->candidates_repeated)
			ev_int(&ev, "repeated", (int64_t)d->candidates_repeated);
		ev_emit(&ev);
		d->candidates_repeated = 0;
	}
	sb_free(&victims);
	sb_free(&skipped);
}

/* The step at level, and the action it comes to (none: "none"). as_configured:
 * the ladder's step itself - an operator's `memshed unload` asks for it, and
 * the guesses that skip a gentle step (refaulted, file pages gone) are for
 * the daemon's own decisions. */
static const struct action *action_at(struct daemon *d, const struct component *c,
				      enum level level, bool as_configured, struct policy_step *st)
{
	static const struct action none = { .kind = ACTION_NONE };

	if (as_configured)
		*st = (struct policy_step){ .action = &c->cfg->ladder[level], .level = level };
	else
		policy_step(c, level, &d->reg.swap, st);
	return st->action ? st->action : &none;
}

static void emit_unload(struct daemon *d, const struct component *c, const struct action *a,
			const struct policy_step *st, const char *mode, enum level level,
			uint64_t rss)
{
	struct ev ev;

	ev_begin(&ev, "unload", now_mono_ns());
	ev_str(&ev, "component", c->cfg->name);
	if (c->cfg->type[0])
		ev_str(&ev, "component_type", c->cfg->type);
	ev_str(&ev, "action", action_kind_name(a->kind));
	if (st->skip) {
		ev_str(&ev, "instead_of", action_kind_name(st->skipped));
		ev_str(&ev, "why", policy_step_skip_why(st->skip));
	}
	ev_str(&ev, "mode", mode);
	ev_str(&ev, "level", level_name(level));
	ev_int(&ev, "priority", c->cfg->priority);
	ev_dur(&ev, "idle", now_mono_ns() - c->last_access_ns);
	ev_bytes(&ev, "rss", rss);
	ev_int(&ev, "pids", c->nr_procs);
	ev_str(&ev, "cause", d->round.cause[0] ? d->round.cause : d->pr.cause);
	ev_emit(&ev);
}

/* Dry run: the unload record of what would be done, and nothing else. */
void round_would(struct daemon *d, const struct component *c, enum level level,
		 bool as_configured)
{
	struct policy_step st;

	emit_unload(d, c, action_at(d, c, level, as_configured, &st), &st, "dry-run", level,
		    c->rss_total);
}

/* Start one component's action at level (its ladder's step) inside the current round. */
int round_add(struct daemon *d, struct component *c, enum level level, bool as_configured)
{
	struct policy_step st;
	const struct action *a = action_at(d, c, level, as_configured, &st);
	struct round *r = &d->round;
	struct unload_job *job;
	pid_t pids[ACTUATOR_MAX_FDS];
	int nr, err;

	if (r->nr_jobs == MAX_ROUND_JOBS)
		return -ENOSPC;
	if (a->kind == ACTION_NONE)
		return -ENOENT;
	job = &r->jobs[r->nr_jobs];
	memset(job, 0, sizeof(*job));
	snprintf(job->component, sizeof(job->component), "%s", c->cfg->name);
	job->comp_id = c->id;
	job->action = *a;
	job->level = level;
	job->grace_ns = c->cfg->grace_ns;
	job->exec_timeout_ns = c->cfg->exec_timeout_ns;
	nr = registry_pids(&d->reg, c->id, pids, ACTUATOR_MAX_FDS);
	r->rss_before[r->nr_jobs] = c->rss_total;
	emit_unload(d, c, a, &st, "act", level, c->rss_total);
	failpoint("pre-signal", "component %s", c->cfg->name);
	if (a->kind == ACTION_HIBERNATE && !d->act.opts.dry_run)
		hibernate_arm(d, c);
	/* Ending a frozen or hibernated component: thawed first, so that it
	 * can handle SIGTERM and exit cleanly (frozen, only SIGKILL works). */
	if ((a->kind == ACTION_TERM || a->kind == ACTION_KILL) && !d->act.opts.dry_run &&
	    (c->state == COMP_FROZEN || c->state == COMP_HIBERNATED))
		round_thaw(d, c, "the ladder's next step ends it", NULL);
	err = actuator_start(&d->act, job, pids, nr, c->rss_total, now_mono_ns());
	r->nr_jobs++;
	if (err && job->result == JOB_RUNNING)
		job->result = JOB_FAILED;
	for (int i = 0; i < job->nr_procs; i++)
		daemon_watch(d, TAG_JOB, job->procs[i].fd, EPOLLIN);
	if (a->kind == ACTION_TERM || a->kind == ACTION_KILL)
		c->state = COMP_UNLOADING;
	else if (c->ladder_done < (int)st.level)
		c->ladder_done = st.level;	/* once per level per episode: policy_snapshot */
	if (a->kind == ACTION_HIBERNATE && job->result == JOB_FAILED)
		hibernate_disarm(d, c);
	return err;
}

/* After a reload, components are known by name: a running round's jobs
 * follow theirs to its new id (a removed component's job runs on, with no
 * component to report its state to). */
void round_follow_reload(struct daemon *d)
{
	for (int i = 0; i < d->round.nr_jobs; i++) {
		struct unload_job *job = &d->round.jobs[i];
		struct component *c = registry_find(&d->reg, job->component);

		job->comp_id = c ? c->id : 0;
	}
}

void round_begin(struct daemon *d, enum level level, const char *cause)
{
	struct round *r = &d->round;

	/* Not memset(r): round_add clears each job it takes. Clearing all of
	 * them (40 pages of pidfd tables) faulted each page in on the first
	 * round, between the budget event and the signal: 1.7 ms measured. */
	r->active = true;
	r->level = level;
	r->nr_jobs = 0;
	r->measure_at_ns = 0;
	r->started_ns = now_mono_ns();
	r->deadline_ns = r->started_ns + d->cfg->round_timeout_ns;
	snprintf(r->cause, sizeof(r->cause), "%s", cause);
	d->counters.rounds++;
}

static void emit_result(struct daemon *d, struct unload_job *job, uint64_t before,
			uint64_t after)
{
	const struct component *c = registry_find(&d->reg, job->component);
	uint64_t now = now_mono_ns();
	struct ev ev;

	/* The seed's line: "Automatically unloaded component due to memory
	 * pressure" with component, type, memory_freed, pressure_level. */
	ev_begin(&ev, "result", now);
	ev_str(&ev, "component", job->component);
	if (c && c->cfg->type[0])
		ev_str(&ev, "component_type", c->cfg->type);
	ev_str(&ev, "action", action_kind_name(job->action.kind));
	ev_str(&ev, "result", job_result_name(job->result));
	/* A freeze frees nothing: the pages stay where they are (what moves
	 * meanwhile is other activity, not the freeze). */
	ev_bytes(&ev, "memory_freed", job->action.kind == ACTION_FREEZE || before <= after ? 0 :
		 before - after);
	if (action_is_gentle(job->action.kind)) {
		ev_str(&ev, "reclaimable", job->rc.file_only ? "file-only" : "anon+file");
		ev_bytes(&ev, "rss_before", before);
		ev_bytes(&ev, "rss_after", after);
		ev_bytes(&ev, "advised", job->rc.advised);
		ev_int(&ev, "batches", job->rc.turns);
		ev_dur(&ev, "longest_batch", job->rc.longest_ns);
		if (job->rc.via_memcg) {
			ev_str(&ev, "via", "memory.reclaim");
			ev_str(&ev, "memcg", job->rc.memcg_dir);
			ev_bytes(&ev, "memcg_before", job->rc.memcg_before);
			ev_bytes(&ev, "memcg_after", memcg_current(job->rc.memcg_dir));
		} else if (job->result != JOB_FAILED || job->rc.turns) {
			ev_str(&ev, "via", "process_madvise");
			ev_str(&ev, "why_not_memory_reclaim", memcg_verdict_why(job->rc.memcg));
		}
	}
	ev_str(&ev, "pressure_level", level_name(job->level));
	ev_int(&ev, "signalled", job->nr_signalled);
	if (job->nr_refused)
		ev_int(&ev, "refused", job->nr_refused);
	if (job->nr_recycled)
		ev_int(&ev, "recycled", job->nr_recycled);
	ev_dur(&ev, "duration", now - job->started_ns);
	if (job->result == JOB_FAILED)
		ev_str(&ev, "error", job->error[0] ? job->error : "failed");
	ev_str(&ev, "cause", d->round.cause);
	ev_emit(&ev);
	if (job->action.kind < NR_ACTIONS && job->result < JOB_NR_RESULTS)
		d->counters.unloads[job->action.kind][job->result]++;
}

static void round_finish(struct daemon *d)
{
	struct round *r = &d->round;
	uint64_t now = now_mono_ns();
	bool frozen;

	registry_refresh(&d->reg, now);
	for (int i = 0; i < r->nr_jobs; i++) {
		struct unload_job *job = &r->jobs[i];
		struct component *c = registry_get(&d->reg, job->comp_id);

		if (job->result == JOB_RUNNING) {
			job->result = JOB_FAILED;
			snprintf(job->error, sizeof(job->error), "round timed out after %.1fs",
				 (now - r->started_ns) / 1e9);
		}
		/* Frozen still: a knock in the settle second thawed it already. */
		frozen = c && (job->result == JOB_FROZEN || job->result == JOB_HIBERNATED) &&
			 freezer_is_frozen(&d->act.freezer, c->cfg->name);
		if (frozen)
			c->state = job->result == JOB_FROZEN ? COMP_FROZEN : COMP_HIBERNATED;
		else if (c && c->state == COMP_UNLOADING)
			c->state = c->nr_procs ? COMP_ACTIVE : COMP_UNLOADED;
		if (c && (job->result == JOB_RECLAIMED || job->result == JOB_HIBERNATED)) {
			c->reclaimed_at_ns = now;
			c->reclaimed_rss_before = r->rss_before[i];
			c->file_only_done |= job->rc.file_only;
		}
		if (c && job->action.kind == ACTION_HIBERNATE && job->result == JOB_FAILED) {
			/* Failed paging out after the freeze: it is frozen still. */
			if (freezer_is_frozen(&d->act.freezer, c->cfg->name))
				c->state = COMP_HIBERNATED;
			else
				hibernate_disarm(d, c);
		}
		emit_result(d, job, r->rss_before[i], c ? c->rss_total : 0);
		for (int f = 0; f < job->nr_procs; f++)
			daemon_unwatch(d, job->procs[f].fd);
		actuator_job_release(job);
	}
	r->active = false;
	knock_probe_update(d);
	d->cooldown_until_ns = now + d->cfg->cooldown_ns;
	round_request_eval(d, "re-measure");	/* decide again after the cooldown */
}

/* Progress running jobs; close the round when all are done. */
void round_step(struct daemon *d, uint64_t now)
{
	struct round *r = &d->round;
	bool running = false, trimming = false;

	if (!r->active)
		return;
	for (int i = 0; i < r->nr_jobs; i++) {
		struct unload_job *job = &r->jobs[i];
		int before = job->nr_procs;

		if (job->result == JOB_RUNNING) {
			int fds[ACTUATOR_MAX_FDS];

			for (int f = 0; f < before; f++)
				fds[f] = job->procs[f].fd;
			actuator_step(&d->act, job, now);
			/* Stop watching pidfds the actuator let go of. */
			for (int f = 0; f < before; f++) {
				bool kept = false;

				for (int k = 0; k < job->nr_procs; k++)
					kept |= job->procs[k].fd == fds[f];
				if (!kept)
					daemon_unwatch(d, fds[f]);
			}
		}
		running |= job->result == JOB_RUNNING;
		trimming |= job->action.kind != ACTION_TERM && job->action.kind != ACTION_KILL;
	}
	if (running && now < r->deadline_ns)
		return;
	if (!r->measure_at_ns)
		r->measure_at_ns = now + (trimming ? TRIM_SETTLE_NS : 0);
	if (now >= r->measure_at_ns || now >= r->deadline_ns)
		round_finish(d);
}

static void decide(struct daemon *d, uint64_t now)
{
	bool act = d->cfg->auto_unload && !d->cfg->dry_run;
	struct policy_decision dec;

	if (policy_decide(&d->reg, d->cfg, d->level, now, pressure_excess(&d->pr), &dec))
		goto out;
	emit_candidates(d, dec.comps, dec.n, dec.order, dec.nv, dec.verdict);
	if (!dec.nv) {
		/* Nothing to take now, but a component only "recent" becomes
		 * eligible at its min idle: decide again then, not at the next
		 * check_interval tick. */
		d->recheck_at_ns = policy_recheck_at(&dec);
		goto out;
	}
	if (!act) {
		for (size_t i = 0; i < dec.nv; i++) {
			struct component *c = &d->reg.comps[dec.order[i]];
			struct policy_step st;

			emit_unload(d, c, action_at(d, c, d->level, false, &st), &st,
				    d->cfg->dry_run ? "dry-run" : "auto_unload-off", d->level,
				    c->rss_total);
		}
		d->cooldown_until_ns = now + d->cfg->check_interval_ns;
		goto out;
	}
	round_begin(d, d->level, d->pr.cause);
	for (size_t i = 0; i < dec.nv && i < MAX_ROUND_JOBS; i++) {
		struct component *c = &d->reg.comps[dec.order[i]];

		/* A failure is logged (in its result) and the round goes on. */
		round_add(d, c, d->level, false);
	}
	round_step(d, now);
out:
	policy_decision_free(&dec);
}

/*
 * How long until usage must be looked at again (DESIGN 3, 9). The host and
 * cgroup models read usage at a rate that rises as the headroom to the next
 * line shrinks, assuming the fastest growth this host allows
 * (max_growth_rate): every 10 ms right below one, at most every 2 s far
 * from all - where even that growth needs more than 2 s to reach a line, so
 * nothing is missed, and the daemon at rest wakes less than once a second
 * with room for PSI and kernel events (DESIGN 4, 9). The component model sees growth by page faults in the
 * kernel (a budget event), and samples what faults do not show (MAP_POPULATE,
 * mlock) every second near a line; far from one, the check_interval timer's
 * evaluation is the sample.
 */
#define HOST_SAMPLE_MAX_NS	(2 * NS_PER_SEC)

static uint64_t sample_interval(const struct daemon *d)
{
	const struct config *cfg = d->cfg;
	bool near = d->pr.fraction >= cfg->threshold[LEVEL_LOW] - cfg->hysteresis ||
		    d->level > LEVEL_LOW;

	if (cfg->usage_source != USAGE_COMPONENTS)
		return pressure_next_sample_ns(cfg, d->pr.usage, d->pr.limit, cfg->max_growth_rate,
					       10 * NS_PER_MS, HOST_SAMPLE_MAX_NS);
	if (d->bpf && (d->ld.faults || d->ld.rss_tracepoint_attached))
		return near ? NS_PER_SEC : UINT64_MAX / 2;	/* far: the check_interval timer */
	/* rss_mode sample: a pass is the only eye; predictive, not below 250 ms. */
	return pressure_next_sample_ns(cfg, d->pr.usage, d->pr.limit, cfg->max_growth_rate,
				       250 * NS_PER_MS, cfg->check_interval_ns);
}

void round_sample(struct daemon *d, uint64_t now)
{
	const struct config *cfg = d->cfg;

	if (cfg->usage_source == USAGE_COMPONENTS) {
		round_request_eval(d, "sample");	/* a pass: it is the sample */
	} else {
		/* A read of MemAvailable or memory.current; a full evaluation
		 * only if usage went past the next line up. */
		d->pr.usage = usage_now(d);
		d->pr.limit = pressure_limit(cfg);
		d->pr.fraction = d->pr.limit ? (double)d->pr.usage / d->pr.limit : 0;
		if (pressure_usage_level(cfg, d->pr.fraction) > d->level)
			round_request_eval(d, "sample");
		else
			history_record(&d->hist, &d->reg, &d->pr, now);	/* replay sees it too */
	}
	d->next_sample_ns = now + sample_interval(d);
}

void round_evaluate(struct daemon *d, const char *reason)
{
	uint64_t now = now_mono_ns();
	enum level before = d->level;

	d->eval_pending = false;
	registry_refresh(&d->reg, now);
	d->level = pressure_update(&d->pr, usage_now(d), now);
	d->next_sample_ns = now + sample_interval(d);
	if (d->level != before)
		emit_level(d, before, reason);
	history_record(&d->hist, &d->reg, &d->pr, now);
	if (d->level > LEVEL_LOW || d->pr.fraction >= d->cfg->threshold[LEVEL_LOW])
		d->pressured = true;
	if (pressure_relieved(&d->pr))
		relieve(d);
	/* The next victim only if the level still calls for it: not while
	 * the level is merely settling on its way down. */
	if (d->round.active || d->level == LEVEL_LOW || d->pr.below_since_ns)
		return;
	if (now < d->cooldown_until_ns) {
		d->eval_pending = true;		/* again when the cooldown ends */
		return;
	}
	decide(d, now);
}
