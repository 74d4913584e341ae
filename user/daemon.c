// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The daemon: one thread, one epoll set (ring buffer, signalfd, timerfd,
 * PSI triggers, control socket, pidfds of victims). Decisions happen in
 * rounds: measure, choose, act, wait for the victims, re-measure.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "actuator.h"
#include "control.h"
#include "daemon.h"
#include "eventlog.h"
#include "eventring.h"
#include "loader.h"
#include "memshed.skel.h"
#include "policy.h"
#include "pressure.h"
#include "registry.h"
#include "report.h"

#define MAX_ROUND_JOBS	64
#define NS_PER_SEC	1000000000ull
#define NS_PER_MS	1000000ull
/* After a signal, freeze or hook, give memory this long to go before
 * measuring what was freed. */
#define TRIM_SETTLE_NS	(1 * NS_PER_SEC)

enum tag { TAG_RINGBUF = 1, TAG_SIGNAL, TAG_TIMER, TAG_CONTROL, TAG_CLIENT, TAG_PSI, TAG_JOB };

struct round {
	bool active;
	enum level level;
	int nr_jobs;
	struct unload_job jobs[MAX_ROUND_JOBS];
	uint64_t rss_before[MAX_ROUND_JOBS];
	uint64_t usage_before;
	uint64_t started_ns, deadline_ns, measure_at_ns;
	char cause[160];
};

struct daemon {
	struct run_opts opts;
	struct config *cfg;
	struct loader ld;
	bool bpf;
	struct registry reg;
	struct pressure pr;
	struct actuator act;
	struct control_server ctl;
	struct eventring *ring;
	int epfd, sigfd, timerfd;
	struct round round;
	uint64_t cooldown_until_ns;
	bool eval_pending;
	const char *eval_reason;
	bool stop;
	enum level level;
	struct report_counters counters;
	uint64_t started_ns;
};

static uint64_t tag_of(enum tag t, int fd)
{
	return (uint64_t)t << 32 | (uint32_t)fd;
}

static int epoll_watch(struct daemon *d, enum tag t, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.u64 = tag_of(t, fd) };

	return epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

static void epoll_unwatch(struct daemon *d, int fd)
{
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, fd, NULL);
}

static void request_eval(struct daemon *d, const char *reason)
{
	if (!d->eval_pending)
		d->eval_reason = reason;
	d->eval_pending = true;
}

static void notice(const char *msg)
{
	struct ev ev;

	ev_begin(&ev, "notice", now_mono_ns());
	ev_str(&ev, "msg", msg);
	ev_emit(&ev);
}

/* ---- event sinks ---- */

/* The record once, as JSON: readers render the text line from it. */
static void ring_sink(void *ctx, const char *type, const char *json, size_t len)
{
	struct daemon *d = ctx;

	if (d->ring)
		eventring_append(d->ring, json, len);
}

static void control_sink(void *ctx, const char *type, const char *json, size_t len)
{
	struct daemon *d = ctx;

	d->counters.events++;
	control_broadcast(&d->ctl, type, json, len);
}

/* ---- kernel events ---- */

static int on_kernel_event(void *ctx, const struct memshed_event *e)
{
	struct daemon *d = ctx;
	uint32_t comp_id = e->hdr.comp_id;

	switch (e->hdr.type) {
	case MEMSHED_EV_EXEC:
	case MEMSHED_EV_RENAME:
		comp_id = registry_on_exec(&d->reg, e->hdr.tgid);
		if (!comp_id && !e->hdr.comp_id)
			return 0;	/* not ours: matched nothing, not logged */
		if (!comp_id)
			comp_id = e->hdr.comp_id;
		break;
	case MEMSHED_EV_FORK:
		registry_on_fork(&d->reg, e->proc.child_pid, comp_id);
		break;
	case MEMSHED_EV_EXIT:
		registry_on_exit(&d->reg, e->hdr.tgid);
		break;
	case MEMSHED_EV_OOM_KILL:
		d->counters.kernel_oom_kills++;
		break;
	case MEMSHED_EV_BUDGET:
		request_eval(d, "budget");	/* react now, not at the next tick */
		break;
	}
	eventlog_kernel(e, registry_name(&d->reg, comp_id));
	return 0;
}

/* ---- rounds ---- */

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

/* The kernel's budget lines follow the limit (a % of RAM may move). */
static void budget_push(struct daemon *d)
{
	uint64_t bytes[NR_LEVELS] = {};
	uint64_t limit = pressure_limit(d->cfg);

	if (!d->bpf)
		return;
	if (d->cfg->usage_source == USAGE_COMPONENTS)
		for (int l = 0; l < NR_LEVELS; l++)
			bytes[l] = (uint64_t)(d->cfg->threshold[l] * limit);
	loader_set_budget(&d->ld, bytes);
}

/* rss_mode auto: the exact tracepoint only while usage is near a line. */
static void rss_mode_auto(struct daemon *d)
{
	bool near;

	if (!d->bpf || d->cfg->rss_mode != RSS_AUTO)
		return;
	near = d->pr.fraction >= d->cfg->threshold[LEVEL_LOW] - d->cfg->hysteresis ||
	       d->level > LEVEL_LOW;
	if (near != d->ld.rss_tracepoint_attached) {
		loader_rss_tracepoint(&d->ld, near);
		log_info("rss_stat tracepoint %s (usage %.1f%% of the limit)",
			 near ? "attached" : "detached", d->pr.fraction * 100);
	}
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

/* Pressure is gone: thaw what was frozen, ladders start again. */
static void relieve(struct daemon *d)
{
	for (int i = 0; i < d->reg.nr_comps; i++) {
		struct component *c = &d->reg.comps[i];

		c->ladder_done = -1;
		if (c->state != COMP_FROZEN)
			continue;
		if (freezer_thaw(&d->act.freezer, c->cfg->name) == 0) {
			struct ev ev;

			c->state = COMP_ACTIVE;
			ev_begin(&ev, "thaw", now_mono_ns());
			ev_str(&ev, "component", c->cfg->name);
			ev_str(&ev, "cause", "pressure relieved");
			ev_emit(&ev);
		}
	}
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
	ev_begin(&ev, "candidates", now_mono_ns());
	ev_str(&ev, "level", level_name(d->level));
	ev_str(&ev, "cause", d->pr.cause);
	ev_json(&ev, "victims", victims.s);
	ev_json(&ev, "skipped", skipped.s);
	ev_emit(&ev);
	sb_free(&victims);
	sb_free(&skipped);
}

/*
 * Fault injection for the test suite: MEMSHED_FAILPOINT=NAME:DURATION
 * stalls the daemon at that point (e.g. pre-signal:2s widens the window
 * between choosing a victim and signalling it, so a test can recycle the
 * victim's PID in it). Unset, it costs one getenv per round.
 */
static void failpoint(const char *name)
{
	const char *fp = getenv("MEMSHED_FAILPOINT");
	size_t n = strlen(name);
	uint64_t ns;

	if (!fp || strncmp(fp, name, n) || fp[n] != ':' || parse_duration(fp + n + 1, &ns))
		return;
	log_warn("failpoint %s: stalling %.3fs", name, ns / 1e9);
	nanosleep(&(struct timespec){ ns / NS_PER_SEC, ns % NS_PER_SEC }, NULL);
}

static const struct action *action_at(const struct component *c, enum level level)
{
	return &c->cfg->ladder[level];
}

static void emit_unload(struct daemon *d, const struct component *c, const struct action *a,
			const char *mode, enum level level, uint64_t rss)
{
	struct ev ev;

	ev_begin(&ev, "unload", now_mono_ns());
	ev_str(&ev, "component", c->cfg->name);
	ev_str(&ev, "action", action_kind_name(a->kind));
	ev_str(&ev, "mode", mode);
	ev_str(&ev, "level", level_name(level));
	ev_int(&ev, "priority", c->cfg->priority);
	ev_dur(&ev, "idle", now_mono_ns() - c->last_access_ns);
	ev_bytes(&ev, "rss", rss);
	ev_int(&ev, "pids", c->nr_procs);
	ev_str(&ev, "cause", d->round.cause[0] ? d->round.cause : d->pr.cause);
	ev_emit(&ev);
}

/* Start one component's action inside the current round. */
static int round_add(struct daemon *d, struct component *c, const struct action *a,
		     enum level level)
{
	struct round *r = &d->round;
	struct unload_job *job;
	pid_t pids[ACTUATOR_MAX_FDS];
	int nr, err;

	if (r->nr_jobs == MAX_ROUND_JOBS)
		return -ENOSPC;
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
	emit_unload(d, c, a, "act", level, c->rss_total);
	failpoint("pre-signal");
	err = actuator_start(&d->act, job, pids, nr, c->rss_total, now_mono_ns());
	r->nr_jobs++;
	if (err && job->result == JOB_RUNNING)
		job->result = JOB_FAILED;
	for (int i = 0; i < job->nr_procs; i++)
		epoll_watch(d, TAG_JOB, job->procs[i].fd, EPOLLIN);
	if (a->kind == ACTION_TERM || a->kind == ACTION_KILL)
		c->state = COMP_UNLOADING;
	else if (c->ladder_done < (int)level)
		c->ladder_done = level;	/* once per level per episode */
	c->unloaded_at_ns = now_mono_ns();
	return err;
}

static void round_begin(struct daemon *d, enum level level, const char *cause)
{
	struct round *r = &d->round;

	memset(r, 0, sizeof(*r));
	r->active = true;
	r->level = level;
	r->started_ns = now_mono_ns();
	r->deadline_ns = r->started_ns + d->cfg->round_timeout_ns;
	r->usage_before = d->pr.usage;
	snprintf(r->cause, sizeof(r->cause), "%s", cause);
	d->counters.rounds++;
}

static void emit_result(struct daemon *d, struct unload_job *job, uint64_t before,
			uint64_t after)
{
	uint64_t now = now_mono_ns();
	struct ev ev;

	/* The seed's line: "Automatically unloaded component due to memory
	 * pressure" with component, type, memory_freed, pressure_level. */
	ev_begin(&ev, "result", now);
	ev_str(&ev, "component", job->component);
	ev_str(&ev, "action", action_kind_name(job->action.kind));
	ev_str(&ev, "result", job_result_name(job->result));
	ev_bytes(&ev, "memory_freed", before > after ? before - after : 0);
	ev_str(&ev, "pressure_level", level_name(job->level));
	ev_int(&ev, "signalled", job->nr_signalled);
	if (job->nr_refused)
		ev_int(&ev, "refused", job->nr_refused);
	ev_dur(&ev, "duration", now - job->started_ns);
	if (job->result == JOB_FAILED)
		ev_str(&ev, "error", job->error[0] ? job->error : "failed");
	ev_str(&ev, "cause", d->round.cause);
	ev_emit(&ev);
	if (job->action.kind <= ACTION_EXEC && job->result < 8)
		d->counters.unloads[job->action.kind][job->result]++;
}

static void round_finish(struct daemon *d)
{
	struct round *r = &d->round;
	uint64_t now = now_mono_ns();

	registry_refresh(&d->reg, now);
	for (int i = 0; i < r->nr_jobs; i++) {
		struct unload_job *job = &r->jobs[i];
		struct component *c = registry_get(&d->reg, job->comp_id);

		if (job->result == JOB_RUNNING) {
			job->result = JOB_FAILED;
			snprintf(job->error, sizeof(job->error), "round timed out after %.1fs",
				 (now - r->started_ns) / 1e9);
		}
		if (c && job->result == JOB_FROZEN)
			c->state = COMP_FROZEN;
		else if (c && c->state == COMP_UNLOADING)
			c->state = c->nr_procs ? COMP_ACTIVE : COMP_UNLOADED;
		emit_result(d, job, r->rss_before[i], c ? c->rss_total : 0);
		for (int f = 0; f < job->nr_procs; f++)
			epoll_unwatch(d, job->procs[f].fd);
		actuator_job_release(job);
	}
	r->active = false;
	d->cooldown_until_ns = now + d->cfg->cooldown_ns;
	request_eval(d, "re-measure");	/* decide again after the cooldown */
}

/* Progress running jobs; close the round when all are done. */
static void round_step(struct daemon *d, uint64_t now)
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
					epoll_unwatch(d, fds[f]);
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
	size_t n = d->reg.nr_comps, nv;
	struct policy_component *pc = calloc(n ? n : 1, sizeof(*pc));
	enum policy_verdict *verdict = calloc(n ? n : 1, sizeof(*verdict));
	size_t *order = calloc(n ? n : 1, sizeof(*order));
	struct policy_params params;
	bool act = d->cfg->auto_unload && !d->cfg->dry_run;

	if (!pc || !verdict || !order)
		goto out;
	report_snapshot(&d->reg, d->level, now, pc);
	policy_params_from_config(&params, d->cfg, d->level, now);
	nv = policy_select_victims(pc, n, &params, order, verdict);
	emit_candidates(d, pc, n, order, nv, verdict);
	if (!nv)
		goto out;
	if (!act) {
		for (size_t i = 0; i < nv; i++) {
			struct component *c = &d->reg.comps[order[i]];

			emit_unload(d, c, action_at(c, d->level),
				    d->cfg->dry_run ? "dry-run" : "auto_unload-off", d->level,
				    c->rss_total);
		}
		d->cooldown_until_ns = now + d->cfg->check_interval_ns;
		goto out;
	}
	round_begin(d, d->level, d->pr.cause);
	for (size_t i = 0; i < nv && i < MAX_ROUND_JOBS; i++) {
		struct component *c = &d->reg.comps[order[i]];

		/* A failure is logged (in its result) and the round goes on. */
		round_add(d, c, action_at(c, d->level), d->level);
	}
	round_step(d, now);
out:
	free(pc);
	free(verdict);
	free(order);
}

static void evaluate(struct daemon *d, const char *reason)
{
	uint64_t now = now_mono_ns();
	enum level before = d->level;

	d->eval_pending = false;
	registry_refresh(&d->reg, now);
	d->level = pressure_update(&d->pr, usage_now(d), now);
	if (d->level != before)
		emit_level(d, before, reason);
	if (pressure_relieved(&d->pr))
		relieve(d);
	rss_mode_auto(d);
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

/* ---- timer work ---- */

static void report_fill(struct daemon *d, struct report_input *in)
{
	d->counters.ringbuf_drops = d->bpf ? loader_drops(&d->ld) : 0;
	d->counters.control_refused = d->ctl.refused;
	d->counters.bpf = d->bpf;
	d->counters.dry_run = d->cfg->dry_run;
	*in = (struct report_input){ .cfg = d->cfg, .reg = &d->reg, .pr = &d->pr,
		.counters = &d->counters, .now_ns = now_mono_ns(), .started_ns = d->started_ns };
}

static void check_drops(struct daemon *d)
{
	static uint64_t reported;
	uint64_t drops = d->bpf ? loader_drops(&d->ld) : 0;
	struct ev ev;

	if (drops == reported)
		return;
	ev_begin(&ev, "drops", now_mono_ns());
	ev_int(&ev, "ringbuf_drops", drops);
	ev_int(&ev, "new", drops - reported);
	ev_emit(&ev);
	reported = drops;
}

static void on_timer(struct daemon *d)
{
	struct report_input in;
	uint64_t expirations;

	if (read(d->timerfd, &expirations, sizeof(expirations)) < 0)
		return;
	check_drops(d);
	evaluate(d, "timer");
	if (d->cfg->metrics_file) {
		report_fill(d, &in);
		if (report_write_metrics_file(d->cfg->metrics_file, &in))
			log_warn("cannot write %s: %s", d->cfg->metrics_file, strerror(errno));
	}
}

static int timer_arm(struct daemon *d)
{
	uint64_t ns = d->cfg->check_interval_ns;
	struct itimerspec its = {
		.it_interval = { ns / NS_PER_SEC, ns % NS_PER_SEC },
		.it_value = { ns / NS_PER_SEC, ns % NS_PER_SEC },
	};

	return timerfd_settime(d->timerfd, 0, &its, NULL) ? -errno : 0;
}

/* ---- config ---- */

static int config_read(const char *path, bool explicit, struct config *cfg)
{
	struct config_errors errs = {};
	int err;

	if (!path || (!explicit && access(path, F_OK))) {
		config_init_defaults(cfg);
		return 0;
	}
	err = config_load_file(path, true, cfg, &errs);
	if (err == -EINVAL)
		config_errors_print(stderr, path, &errs);
	else if (err)
		log_err("cannot read %s: %s", path, strerror(-err));
	config_errors_free(&errs);
	return err;
}

static void pressure_watch(struct daemon *d)
{
	for (int i = 0; i < d->pr.nr_triggers; i++)
		epoll_watch(d, TAG_PSI, d->pr.triggers[i].fd, EPOLLPRI);
}

static void emit_config(struct daemon *d, bool ok, const char *msg)
{
	struct ev ev;

	ev_begin(&ev, "config", now_mono_ns());
	ev_str(&ev, "path", d->cfg->path ? d->cfg->path : "(built-in defaults)");
	ev_str(&ev, "result", ok ? "loaded" : "refused");
	ev_int(&ev, "components", d->cfg->nr_comps);
	if (msg)
		ev_str(&ev, "error", msg);
	ev_emit(&ev);
}

/* Apply a new config as a whole; a bad file keeps the running one. */
static int reload(struct daemon *d, char *err, size_t errlen)
{
	const char *path = d->opts.config_path ? d->opts.config_path : MEMSHED_DEFAULT_CONFIG;
	struct config *next = calloc(1, sizeof(*next)), *old = d->cfg;
	int ret;

	if (!next)
		return -ENOMEM;
	ret = config_read(path, d->opts.config_path != NULL, next);
	if (ret) {
		snprintf(err, errlen, "%s is invalid (%s); the running config is kept",
			 path, ret == -EINVAL ? "see the daemon's log" : strerror(-ret));
		emit_config(d, false, err);
		free(next);
		return ret;
	}
	if (d->opts.dry_run)
		next->dry_run = true;
	ret = registry_apply_config(&d->reg, next);
	if (ret) {
		snprintf(err, errlen, "cannot apply the new config: %s", strerror(-ret));
		config_free(next);
		free(next);
		return ret;
	}
	for (int i = 0; i < d->pr.nr_triggers; i++)
		epoll_unwatch(d, d->pr.triggers[i].fd);
	pressure_free(&d->pr);
	d->cfg = next;
	pressure_init(&d->pr, d->cfg);
	d->pr.level = d->level;
	pressure_watch(d);
	budget_push(d);
	timer_arm(d);
	config_free(old);
	free(old);
	emit_config(d, true, NULL);
	request_eval(d, "reload");
	return 0;
}

/* ---- control requests ---- */

static struct component *need_component(struct daemon *d, const struct control_request *req,
					char *err, size_t errlen)
{
	struct component *c = registry_find(&d->reg, req->name);

	if (!c)
		snprintf(err, errlen, "no component named \"%s\" in the config", req->name);
	return c;
}

static int ctl_label(struct daemon *d, const struct control_request *req, char *err, size_t len)
{
	struct component *c;
	int ret;

	if (!strcmp(req->cmd, "unlabel")) {
		ret = registry_unlabel(&d->reg, req->pid);
		if (ret)
			snprintf(err, len, "process %lld is not labelled", (long long)req->pid);
		return ret;
	}
	c = need_component(d, req, err, len);
	if (!c)
		return -ENOENT;
	if (req->pid == getpid()) {
		snprintf(err, len, "memshed does not label itself");
		return -EINVAL;
	}
	ret = registry_label(&d->reg, req->pid, c->id, ORIGIN_CLI);
	if (ret == -EPERM) {
		snprintf(err, len, "process %lld is pid 1 or a kernel thread: never labelled",
			 (long long)req->pid);
		ret = -EINVAL;	/* not a permission problem of the caller */
	} else if (ret == -ESRCH) {
		snprintf(err, len, "no process %lld", (long long)req->pid);
	} else if (ret)
		snprintf(err, len, "cannot label process %lld: %s", (long long)req->pid, strerror(-ret));
	else
		loader_sample(&d->ld);
	return ret;
}

static int ctl_unload(struct daemon *d, struct component *c, char *err, size_t len)
{
	uint64_t now = now_mono_ns();

	if (registry_in_use(c, now)) {
		snprintf(err, len, "%s is in use (held); release it first", c->cfg->name);
		return -EBUSY;
	}
	if (d->round.active) {
		snprintf(err, len, "a round of unloads is in progress; try again in a moment");
		return -EAGAIN;
	}
	registry_refresh(&d->reg, now);
	if (!c->nr_procs) {
		snprintf(err, len, "%s has no running process", c->cfg->name);
		return -ESRCH;
	}
	round_begin(d, LEVEL_CRITICAL, "operator request (memshed unload)");
	/* The strongest step of its ladder. */
	round_add(d, c, action_at(c, LEVEL_CRITICAL), LEVEL_CRITICAL);
	round_step(d, now);
	return 0;
}

static int ctl_component(struct daemon *d, const struct control_request *req, char *err,
			 size_t len)
{
	struct component *c = need_component(d, req, err, len);
	uint64_t now = now_mono_ns();

	if (!c)
		return -ENOENT;
	if (!strcmp(req->cmd, "touch")) {
		registry_touch(c, now);
	} else if (!strcmp(req->cmd, "hold")) {
		registry_hold(c, req->ttl_ns, now);
	} else if (!strcmp(req->cmd, "release")) {
		registry_release(c);
	} else if (!strcmp(req->cmd, "thaw")) {
		if (freezer_thaw(&d->act.freezer, c->cfg->name)) {
			snprintf(err, len, "%s is not frozen", c->cfg->name);
			return -EINVAL;
		}
		c->state = COMP_ACTIVE;
	} else {
		return ctl_unload(d, c, err, len);
	}
	return 0;
}

static int ctl_handle(void *ctx, const struct control_request *req, struct strbuf *body,
		      char *err, size_t len, bool *ret_follow)
{
	struct daemon *d = ctx;
	struct report_input in;
	enum level level;

	report_fill(d, &in);
	if (!strcmp(req->cmd, "status")) {
		if (req->format[0] && strcmp(req->format, "text") && strcmp(req->format, "json") &&
		    strcmp(req->format, "prometheus") && strcmp(req->format, "tsv")) {
			snprintf(err, len, "unknown format \"%s\" (text, json, prometheus, tsv)",
				 req->format);
			return -EINVAL;
		}
		registry_refresh(&d->reg, in.now_ns);
		report_status(body, &in, req->format);
	} else if (!strcmp(req->cmd, "explain")) {
		if (req->level[0] && level_parse(req->level, &level)) {
			snprintf(err, len, "unknown level \"%s\" (low, medium, high, critical)", req->level);
			return -EINVAL;
		}
		registry_refresh(&d->reg, in.now_ns);
		report_explain(body, &in, req->level[0] ? (int)level : -1,
			       !strcmp(req->format, "json"));
	} else if (!strcmp(req->cmd, "events")) {
		*ret_follow = true;	/* history comes from the on-disk ring */
	} else if (!strcmp(req->cmd, "label") || !strcmp(req->cmd, "unlabel")) {
		return ctl_label(d, req, err, len);
	} else if (!strcmp(req->cmd, "reload")) {
		return reload(d, err, len);
	} else if (!strcmp(req->cmd, "ping")) {
		sb_printf(body, "pong\n");
	} else if (control_cmd_mutates(req->cmd)) {
		return ctl_component(d, req, err, len);
	} else {
		snprintf(err, len, "unknown command \"%s\"", req->cmd);
		return -EINVAL;
	}
	return 0;
}

/* ---- setup and loop ---- */

/* memshed must outlive what it protects the host from. */
static void protect_self(void)
{
	int fd;

	/* MCL_ONFAULT: lock what is used, not every mapped page (the 4 MiB
	 * event ring, libbpf's load-time buffers) up front. */
	if (mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT))
		log_warn("mlockall: %s; under pressure memshed itself may stall", strerror(errno));
	fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	/* -900, not -1000: a leaking memshed must still be killable. */
	if (fd < 0 || write(fd, "-900", 4) != 4)
		log_warn("cannot lower oom_score_adj to -900: %s (needs CAP_SYS_RESOURCE); "
			 "the kernel's OOM killer may pick memshed", strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* Readiness for systemd (Type=notify), without linking libsystemd. */
static void sd_notify_ready(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(sa.sun_path))
		return;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	strcpy(sa.sun_path, path);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';
	sendto(fd, "READY=1", 7, MSG_NOSIGNAL, (struct sockaddr *)&sa,
	       offsetof(struct sockaddr_un, sun_path) + strlen(path));
	close(fd);
}

static int setup_fds(struct daemon *d)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	d->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	d->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (d->epfd < 0 || d->sigfd < 0 || d->timerfd < 0)
		return -errno;
	epoll_watch(d, TAG_SIGNAL, d->sigfd, EPOLLIN);
	epoll_watch(d, TAG_TIMER, d->timerfd, EPOLLIN);
	if (d->bpf)
		epoll_watch(d, TAG_RINGBUF, loader_epoll_fd(&d->ld), EPOLLIN);
	pressure_watch(d);
	return timer_arm(d);
}

static int start_bpf(struct daemon *d)
{
	struct loader_opts lo = {
		.ringbuf_size = d->cfg->ringbuf_size,
		.stall_threshold_ns = d->cfg->stall_threshold_ns,
		.rss_mode = d->cfg->rss_mode,
		.activity_source = d->cfg->activity_source,
		.btf_path = d->opts.btf_path,
		.verbose = d->opts.verbose,
	};
	enum loader_error why;

	if (d->opts.no_bpf) {
		log_warn("--no-bpf: no kernel events, no component RSS; levels come from "
			 "usage_source system/cgroup and PSI only");
		return 0;
	}
	if (loader_start(&d->ld, &lo, on_kernel_event, d, &why) == 0) {
		d->bpf = true;
		/* Loading parsed the kernel's BTF (megabytes): give it back. */
		malloc_trim(0);
		return 0;
	}
	switch (why) {
	case LOADER_NO_PRIVILEGE:
		return RUN_EXIT_BPF_PRIVILEGE;
	case LOADER_NO_BTF:
		return RUN_EXIT_BPF_BTF;
	default:
		return RUN_EXIT_BPF_REJECTED;
	}
}

static bool verify_label(void *ctx, int pidfd, pid_t pid, uint32_t comp_id)
{
	struct daemon *d = ctx;
	struct memshed_task_label label;

	if (!d->bpf)
		return false;
	/* Task storage keyed by the pidfd: the label of exactly that process. */
	if (bpf_map_lookup_elem(bpf_map__fd(d->ld.skel->maps.task_labels), &pidfd, &label))
		return false;
	return label.comp_id == comp_id;
}

static void on_signal(struct daemon *d)
{
	struct signalfd_siginfo si;
	char err[256];

	while (read(d->sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			if (reload(d, err, sizeof(err)))
				log_err("reload refused: %s", err);
		} else {
			d->stop = true;
		}
	}
}

static int next_timeout_ms(struct daemon *d, uint64_t now)
{
	uint64_t next = UINT64_MAX;

	if (d->round.active) {
		next = d->round.deadline_ns;
		for (int i = 0; i < d->round.nr_jobs; i++)
			if (d->round.jobs[i].result == JOB_RUNNING && d->round.jobs[i].deadline_ns < next)
				next = d->round.jobs[i].deadline_ns;
		if (d->round.measure_at_ns && d->round.measure_at_ns < next)
			next = d->round.measure_at_ns;
	}
	if (d->eval_pending) {
		uint64_t at = d->cooldown_until_ns > now ? d->cooldown_until_ns : now;

		if (at < next)
			next = at;
	}
	/* A level on its way down, and clients that owe a request. */
	if (d->pr.below_since_ns && d->pr.below_since_ns + d->cfg->settle_ns < next)
		next = d->pr.below_since_ns + d->cfg->settle_ns;
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (d->ctl.clients[i].fd >= 0 && !d->ctl.clients[i].follow)
			next = next < now + 2 * NS_PER_SEC ? next : now + 2 * NS_PER_SEC;
	if (next == UINT64_MAX)
		return -1;
	return next <= now ? 0 : (int)((next - now + NS_PER_MS - 1) / NS_PER_MS);
}

static void dispatch(struct daemon *d, const struct epoll_event *ev, uint64_t now)
{
	int fd = (int)(ev->data.u64 & 0xffffffff);

	switch ((enum tag)(ev->data.u64 >> 32)) {
	case TAG_RINGBUF:
		loader_poll_events(&d->ld);
		break;
	case TAG_SIGNAL:
		on_signal(d);
		break;
	case TAG_TIMER:
		on_timer(d);
		break;
	case TAG_PSI:
		pressure_on_trigger(&d->pr, fd, now);
		request_eval(d, "psi");
		break;
	case TAG_CONTROL:
		fd = control_accept(&d->ctl, now);
		if (fd >= 0)
			epoll_watch(d, TAG_CLIENT, fd, EPOLLIN | EPOLLRDHUP);
		break;
	case TAG_CLIENT:
		control_on_client(&d->ctl, fd);	/* closes it when done: epoll drops it */
		break;
	case TAG_JOB:
		break;	/* a victim exited: round_step below reaps */
	}
}

static void loop(struct daemon *d)
{
	struct epoll_event evs[32];

	while (!d->stop) {
		uint64_t now = now_mono_ns();
		int n = epoll_wait(d->epfd, evs, 32, next_timeout_ms(d, now));

		if (n < 0 && errno != EINTR) {
			log_err("epoll_wait: %s", strerror(errno));
			break;
		}
		now = now_mono_ns();
		for (int i = 0; i < n; i++)
			dispatch(d, &evs[i], now);
		round_step(d, now);
		control_expire(&d->ctl, now);
		if (d->pr.below_since_ns && now >= d->pr.below_since_ns + d->cfg->settle_ns)
			request_eval(d, "settle");
		if (d->eval_pending && now >= d->cooldown_until_ns)
			evaluate(d, d->eval_reason);
	}
}

static void shutdown_daemon(struct daemon *d)
{
	/* Leave nothing frozen behind us. */
	for (int i = 0; i < d->reg.nr_comps; i++)
		if (d->reg.comps[i].state == COMP_FROZEN)
			freezer_thaw(&d->act.freezer, d->reg.comps[i].cfg->name);
	for (int i = 0; i < d->round.nr_jobs; i++)
		actuator_job_release(&d->round.jobs[i]);
	actuator_fini(&d->act);
	control_close(&d->ctl);
	pressure_free(&d->pr);
	registry_free(&d->reg);
	if (d->bpf)
		loader_stop(&d->ld);
	if (d->ring)
		eventring_close(d->ring);
	eventlog_remove_sink(ring_sink, d);
	eventlog_remove_sink(control_sink, d);
	config_free(d->cfg);
	free(d->cfg);
	if (d->timerfd >= 0)
		close(d->timerfd);
	if (d->sigfd >= 0)
		close(d->sigfd);
	if (d->epfd >= 0)
		close(d->epfd);
}

static int open_ring(struct daemon *d)
{
	bool recreated = false;
	int err;

	if (!d->cfg->event_log || !d->cfg->event_log[0])
		return 0;
	err = eventring_open(d->cfg->event_log, d->cfg->event_log_size, &d->ring, &recreated);
	if (err) {
		log_warn("event log %s: %s; history will not be kept", d->cfg->event_log,
			 strerror(-err));
		d->ring = NULL;
	} else if (recreated) {
		log_info("event log %s created", d->cfg->event_log);
	}
	return 0;
}

static int start(struct daemon *d)
{
	struct actuator_opts ao = { .verify = verify_label, .verify_ctx = d };
	int ret, thawed;

	ret = start_bpf(d);
	if (ret)
		return ret;
	ret = control_listen(&d->ctl, d->opts.socket_path ? d->opts.socket_path : CONTROL_SOCKET,
			     ctl_handle, d);
	if (ret) {
		log_err("control socket %s: %s", d->opts.socket_path ? d->opts.socket_path :
			CONTROL_SOCKET, ret == -EADDRINUSE ? "another memshed is running" : strerror(-ret));
		return ret == -EADDRINUSE ? RUN_EXIT_RUNNING : RUN_EXIT_ERROR;
	}
	open_ring(d);
	eventlog_add_sink(ring_sink, d);
	eventlog_add_sink(control_sink, d);
	ao.dry_run = d->cfg->dry_run;
	actuator_init(&d->act, &ao);
	/* A previous memshed may have died with components frozen. */
	thawed = freezer_thaw_all(&d->act.freezer);
	if (thawed > 0)
		log_info("thawed %d component(s) left frozen by a previous run", thawed);
	registry_init(&d->reg, d->cfg, d->bpf ? &d->ld : NULL);
	pressure_init(&d->pr, d->cfg);
	budget_push(d);
	ret = setup_fds(d);
	if (ret)
		return RUN_EXIT_ERROR;
	epoll_watch(d, TAG_CONTROL, d->ctl.listen_fd, EPOLLIN);
	ret = registry_scan(&d->reg);
	log_info("%d process(es) labelled at start", ret > 0 ? ret : 0);
	emit_config(d, true, NULL);
	evaluate(d, "start");
	return 0;
}

int daemon_run(const struct run_opts *opts)
{
	struct daemon *d = calloc(1, sizeof(*d));
	const char *path = opts->config_path ? opts->config_path : MEMSHED_DEFAULT_CONFIG;
	int ret;

	if (!d)
		return RUN_EXIT_ERROR;
	d->opts = *opts;
	d->started_ns = now_mono_ns();
	d->epfd = d->sigfd = d->timerfd = d->ctl.listen_fd = -1;
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		d->ctl.clients[i].fd = -1;
	d->cfg = calloc(1, sizeof(*d->cfg));
	log_setup(opts->verbose ? LOG_DEBUG : LOG_INFO, opts->log_format);
	eventlog_setup(opts->log_format, true);
	if (!d->cfg || config_read(path, opts->config_path != NULL, d->cfg)) {
		free(d->cfg);
		free(d);
		return RUN_EXIT_CONFIG;
	}
	if (opts->dry_run)
		d->cfg->dry_run = true;
	protect_self();
	ret = start(d);
	if (ret == 0) {
		notice("ready");
		sd_notify_ready();
		loop(d);
		notice("stopping");
	}
	shutdown_daemon(d);
	free(d);
	return ret;
}
