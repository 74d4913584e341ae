// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `memshed run`: setup, one thread, one epoll set (ring buffer, signalfd,
 * timerfd, PSI triggers, control socket, pidfds of victims), the loop that
 * dispatches on it, config reloads, and shutdown. Decisions are made in
 * round.c, control requests answered in commands.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "commands.h"
#include "daemon_state.h"
#include "eventlog.h"
#include "journal.h"
#include "memshed.skel.h"
#include "round.h"

static uint64_t tag_of(enum tag t, int fd)
{
	return (uint64_t)t << 32 | (uint32_t)fd;
}

int daemon_watch(struct daemon *d, enum tag t, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.u64 = tag_of(t, fd) };

	return epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

void daemon_unwatch(struct daemon *d, int fd)
{
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, fd, NULL);
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

void daemon_add_sinks(struct daemon *d)
{
	eventlog_add_sink(ring_sink, d);
	eventlog_add_sink(control_sink, d);
}

/* ---- kernel events ---- */

int daemon_on_kernel_event(void *ctx, const struct memshed_event *e)
{
	struct daemon *d = ctx;
	uint32_t comp_id = e->hdr.comp_id;

	switch (e->hdr.type) {
	case MEMSHED_EV_EXEC:
	case MEMSHED_EV_RENAME:
		comp_id = registry_on_exec(&d->reg, e->hdr.tgid, e->hdr.start_time, e->hdr.comm,
					   e->hdr.comp_id);
		if (!comp_id && !e->hdr.comp_id)
			return 0;	/* not ours: matched nothing, not logged */
		if (!comp_id)
			comp_id = e->hdr.comp_id;
		break;
	case MEMSHED_EV_FORK:
		registry_on_fork(&d->reg, e->proc.child_pid, e->proc.ppid, e->hdr.start_time, comp_id);
		break;
	case MEMSHED_EV_EXIT:
		registry_on_exit(&d->reg, e->hdr.tgid, e->hdr.start_time);
		break;
	case MEMSHED_EV_OOM_KILL:
		d->counters.kernel_oom_kills++;
		break;
	case MEMSHED_EV_BUDGET:
		round_request_eval(d, "budget");	/* react now, not at the next tick */
		break;
	case MEMSHED_EV_KNOCK:
		eventlog_kernel(e, registry_name(&d->reg, comp_id));
		round_on_knock(d, e);	/* thaw first, then anything else */
		return 0;
	case MEMSHED_EV_KSWAPD_WAKE:
	case MEMSHED_EV_RECLAIM_STALL:
	case MEMSHED_EV_MEMCG_RECLAIM:
		/* The kernel is reclaiming: look at usage now, not at the next
		 * predicted sample (the host and cgroup models). */
		d->next_sample_ns = 0;
		break;
	}
	eventlog_kernel(e, registry_name(&d->reg, comp_id));
	return 0;
}

/* Both rings, decisions first. A lifecycle record submitted within
 * MEMSHED_INFO_WAKE_NS of one that woke us wakes nobody (bpf/memshed.bpf.h):
 * after a drain that found records, look again that much later, until one
 * finds none. */
static void ring_drain(struct daemon *d, uint64_t now)
{
	if (d->bpf && loader_poll_events(&d->ld) > 0)
		d->ring_recheck_ns = now + MEMSHED_INFO_WAKE_NS;
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

/* ---- timer work ---- */

static void pressure_watch(struct daemon *d);

void daemon_fill_report(struct daemon *d, struct report_input *in)
{
	struct loader_drops dr = {};

	if (d->bpf)
		loader_drops(&d->ld, &dr);
	d->counters.ringbuf_drops = dr.events + dr.info + dr.limited;
	d->counters.control_refused = d->ctl.refused;
	d->counters.bpf = d->bpf;
	d->counters.dry_run = d->cfg->dry_run;
	*in = (struct report_input){ .cfg = d->cfg, .reg = &d->reg, .pr = &d->pr,
		.counters = &d->counters, .now_ns = now_mono_ns(), .started_ns = d->started_ns };
}

static void check_drops(struct daemon *d)
{
	static struct loader_drops reported;
	struct loader_drops now = {};
	struct ev ev;

	if (d->bpf)
		loader_drops(&d->ld, &now);
	if (!memcmp(&now, &reported, sizeof(now)))
		return;
	ev_begin(&ev, "drops", now_mono_ns());
	ev_int(&ev, "ringbuf_drops", now.events + now.info);
	ev_int(&ev, "new", now.events + now.info - reported.events - reported.info);
	ev_int(&ev, "rate_limited", now.limited);
	ev_emit(&ev);
	reported = now;
}

static void on_timer(struct daemon *d)
{
	struct report_input in;
	uint64_t expirations;

	if (read(d->timerfd, &expirations, sizeof(expirations)) < 0)
		return;
	check_drops(d);
	ring_drain(d, now_mono_ns());
	registry_rescan(&d->reg);	/* what dropped events missed, and new listeners */
	if (pressure_rearm(&d->pr, now_mono_ns()))
		pressure_watch(d);
	round_evaluate(d, "timer");
	if (d->cfg->metrics_file) {
		daemon_fill_report(d, &in);
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
	for (int i = 0; i < d->pr.nr_triggers; i++) {
		struct psi_trigger *t = &d->pr.triggers[i];

		if (t->fd >= 0 && !t->watched && daemon_watch(d, TAG_PSI, t->fd, EPOLLPRI) == 0)
			t->watched = true;
	}
}

/*
 * At load and reload (not per tick): a notice for each component a process
 * of any user can join, as check-config warns, for an operator who never
 * ran it.
 */
static void notice_joinable(const struct config *cfg)
{
	char msg[640], where[PATH_MAX + 16];
	struct ev ev;

	for (int i = 0; i < cfg->nr_comps; i++) {
		const struct component_config *c = &cfg->comps[i];

		if (!config_strangers_warning(c, msg, sizeof(msg)))
			continue;
		snprintf(where, sizeof(where), "%s:%d", c->file ? c->file : "(config)", c->file_line);
		ev_begin(&ev, "notice", now_mono_ns());
		ev_str(&ev, "msg", msg);
		ev_str(&ev, "component", c->name);
		ev_str(&ev, "where", where);
		ev_emit(&ev);
	}
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
	if (ok)
		notice_joinable(d->cfg);
}

/* Settings the kernel programs or the event log were set up with: a reload
 * that changes one is refused, naming it, rather than half applied. */
static const char *start_only_change(const struct config *a, const struct config *b)
{
	if (a->ringbuf_size != b->ringbuf_size)
		return "ringbuf_size";
	if (a->stall_threshold_ns != b->stall_threshold_ns)
		return "stall_threshold";
	if (a->rss_mode != b->rss_mode)
		return "rss_mode";
	if (strcmp(a->event_log ? a->event_log : "", b->event_log ? b->event_log : "") ||
	    a->event_log_size != b->event_log_size)
		return "event_log";
	return NULL;
}

static void set_nice(int nice);

int daemon_reload(struct daemon *d, char *err, size_t errlen)
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
	if (start_only_change(old, next)) {
		snprintf(err, errlen, "%s changed in %s: it applies at start only; restart memshed "
			 "(the running config is kept)", start_only_change(old, next), path);
		emit_config(d, false, err);
		config_free(next);
		free(next);
		return -EINVAL;
	}
	ret = registry_apply_config(&d->reg, next);
	if (ret) {
		snprintf(err, errlen, "cannot apply the new config: %s", strerror(-ret));
		config_free(next);
		free(next);
		return ret;
	}
	round_follow_reload(d);
	history_reset(&d->hist);	/* the new config's view, in full */
	pressure_free(&d->pr);	/* closing them takes them out of the epoll set */
	d->cfg = next;
	d->act.opts.dry_run = next->dry_run;
	set_nice(next->nice);
	pressure_init(&d->pr, d->cfg);
	d->pr.level = d->level;
	pressure_watch(d);
	budget_push(d);
	timer_arm(d);
	config_free(old);
	free(old);
	emit_config(d, true, NULL);
	round_request_eval(d, "reload");
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

/*
 * Scheduled ahead of what it protects the host from: under pressure the
 * CPUs are busy, and a crossing waits for the daemon to run (at nice 0 on
 * a loaded host, most of the reaction time). nice, not a real-time policy:
 * a daemon that misbehaves must not be able to starve the host.
 */
static void set_nice(int nice)
{
	errno = 0;
	if (getpriority(PRIO_PROCESS, 0) == nice && !errno)
		return;
	if (setpriority(PRIO_PROCESS, 0, nice))
		log_warn("cannot set nice %d: %s (needs CAP_SYS_NICE); reactions wait for a CPU "
			 "like everything else", nice, strerror(errno));
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
	daemon_watch(d, TAG_SIGNAL, d->sigfd, EPOLLIN);
	daemon_watch(d, TAG_TIMER, d->timerfd, EPOLLIN);
	if (d->bpf)
		daemon_watch(d, TAG_RINGBUF, loader_epoll_fd(&d->ld), EPOLLIN);
	pressure_watch(d);
	return timer_arm(d);
}

static int start_bpf(struct daemon *d)
{
	struct loader_opts lo = {
		.ringbuf_size = d->cfg->ringbuf_size,
		.stall_threshold_ns = d->cfg->stall_threshold_ns,
		.rss_mode = d->cfg->rss_mode,
		.btf_path = d->opts.btf_path,
		.verbose = d->opts.verbose,
		/* For the benchmark (bench/run, scale): a flood then measures how
		 * many events the daemon's side takes, not the kernel's limit. */
		.info_unlimited = getenv("MEMSHED_BENCH_INFO_UNLIMITED") != NULL,
	};
	enum loader_error why;

	if (d->opts.no_bpf) {
		log_warn("--no-bpf: no kernel events, no component RSS; levels come from "
			 "usage_source system/cgroup and PSI only");
		return 0;
	}
	if (lo.info_unlimited)
		log_warn("MEMSHED_BENCH_INFO_UNLIMITED: informational events are not limited per user");
	if (loader_start(&d->ld, &lo, daemon_on_kernel_event, d, &why) == 0) {
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
			if (daemon_reload(d, err, sizeof(err)))
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
	if (d->next_sample_ns < next)
		next = d->next_sample_ns;
	if (d->recheck_at_ns && d->recheck_at_ns < next)
		next = d->recheck_at_ns;
	if (d->ring_recheck_ns && d->ring_recheck_ns < next)
		next = d->ring_recheck_ns;
	/* A level on its way down, and clients that owe a request. */
	if (d->pr.below_since_ns && d->pr.below_since_ns + d->cfg->settle_ns < next)
		next = d->pr.below_since_ns + d->cfg->settle_ns;
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (d->ctl.clients[i].fd >= 0 && !d->ctl.clients[i].follow)
			next = next < now + 2 * NS_PER_SEC ? next : now + 2 * NS_PER_SEC;
	if (d->reg.nr_arm)
		return 0;
	if (next == UINT64_MAX)
		return -1;
	return next <= now ? 0 : (int)((next - now + NS_PER_MS - 1) / NS_PER_MS);
}

/* control_events_fn: what a client fd waits for. */
static int client_set_events(void *ctx, int fd, uint32_t events)
{
	struct daemon *d = ctx;
	struct epoll_event ev = { .events = events, .data.u64 = tag_of(TAG_CLIENT, fd) };

	return epoll_ctl(d->epfd, EPOLL_CTL_MOD, fd, &ev) ? -errno : 0;
}

static void dispatch(struct daemon *d, const struct epoll_event *ev, uint64_t now)
{
	int fd = (int)(ev->data.u64 & 0xffffffff);

	switch ((enum tag)(ev->data.u64 >> 32)) {
	case TAG_RINGBUF:
		ring_drain(d, now);
		break;
	case TAG_SIGNAL:
		on_signal(d);
		break;
	case TAG_TIMER:
		on_timer(d);
		break;
	case TAG_PSI:
		if (pressure_on_trigger(&d->pr, fd, ev->events, now) > 0)
			round_request_eval(d, "psi");
		break;
	case TAG_CONTROL:
		fd = control_accept(&d->ctl, now);
		if (fd >= 0)
			daemon_watch(d, TAG_CLIENT, fd, EPOLLIN | EPOLLRDHUP);
		break;
	case TAG_CLIENT:
		/* Either may close it when done: epoll drops it. */
		if (ev->events & EPOLLOUT)
			control_on_writable(&d->ctl, fd);
		if (ev->events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			control_on_client(&d->ctl, fd);
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
		int n;

		eventlog_flush();	/* what this turn logged, before waiting */
		n = epoll_wait(d->epfd, evs, 32, next_timeout_ms(d, now));

		if (n < 0 && errno != EINTR) {
			log_err("epoll_wait: %s", strerror(errno));
			break;
		}
		now = now_mono_ns();
		for (int i = 0; i < n; i++)
			dispatch(d, &evs[i], now);
		if (d->ring_recheck_ns && now >= d->ring_recheck_ns) {
			d->ring_recheck_ns = 0;
			ring_drain(d, now);
		}
		round_step(d, now);
		/* Fault sampling for what the scan labelled, a batch per turn. */
		if (d->reg.nr_arm)
			registry_arm(&d->reg, 256);
		control_expire(&d->ctl, now);
		if (now >= d->next_sample_ns)
			round_sample(d, now);
		if (d->pr.below_since_ns && now >= d->pr.below_since_ns + d->cfg->settle_ns)
			round_request_eval(d, "settle");
		if (d->recheck_at_ns && now >= d->recheck_at_ns) {
			d->recheck_at_ns = 0;
			round_request_eval(d, "min idle reached");
		}
		if (d->eval_pending && now >= d->cooldown_until_ns) {
			ring_drain(d, now);	/* the latest forks, in the victims' pids */
			round_evaluate(d, d->eval_reason);
		}
	}
}

/* Under systemd, records go to the journal with structured fields. When
 * stdout is the journal already (JOURNAL_STREAM), they go there only once. */
static void open_journal(struct daemon *d)
{
	int err;

	if (!journal_wanted())
		return;
	err = journal_open(NULL);
	if (err)
		log_warn("journal: %s; records go to stdout and the event log", strerror(-err));
	else if (getenv("JOURNAL_STREAM"))
		eventlog_setup(d->opts.log_format, false);
}

static void shutdown_daemon(struct daemon *d)
{
	/* Leave nothing frozen behind us. */
	for (int i = 0; i < d->reg.nr_comps; i++)
		if (d->reg.comps[i].state == COMP_FROZEN ||
		    d->reg.comps[i].state == COMP_HIBERNATED)
			freezer_thaw(&d->act.freezer, d->reg.comps[i].cfg->name);
	for (int i = 0; i < d->round.nr_jobs; i++)
		actuator_job_release(&d->round.jobs[i]);
	actuator_fini(&d->act);
	control_close(&d->ctl);
	pressure_free(&d->pr);
	registry_free(&d->reg);
	history_free(&d->hist);
	if (d->bpf)
		loader_stop(&d->ld);
	if (d->ring)
		eventring_close(d->ring);
	eventlog_remove_sink(ring_sink, d);
	eventlog_remove_sink(control_sink, d);
	journal_close();
	sb_free(&d->last_candidates);
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
	if (err == -ELOOP || err == -EPERM || err == -ENOTSUP) {
		/* Someone else's file or a planted link: never write through it. */
		log_err("event log %s: %s; refusing to use it (event_log must name a regular "
			"file owned by root, not a symlink)", d->cfg->event_log,
			err == -ELOOP ? "is a symbolic link" : err == -EPERM ?
			"is not owned by root" : "is not a regular file");
		d->ring = NULL;
		return err;
	}
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
	struct actuator_opts ao = { .verify = verify_label, .verify_ctx = d,
				    .state_dir = FREEZER_STATE_DIR };
	uint64_t t0;
	int ret, thawed;

	ret = start_bpf(d);
	if (ret)
		return ret;
	ret = control_listen(&d->ctl, d->opts.socket_path ? d->opts.socket_path : CONTROL_SOCKET,
			     commands_handle, d);
	if (ret) {
		log_err("control socket %s: %s", d->opts.socket_path ? d->opts.socket_path :
			CONTROL_SOCKET, ret == -EADDRINUSE ? "another memshed is running" : strerror(-ret));
		return ret == -EADDRINUSE ? RUN_EXIT_RUNNING : RUN_EXIT_ERROR;
	}
	if (open_ring(d))
		return RUN_EXIT_ERROR;
	daemon_add_sinks(d);
	open_journal(d);
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
	daemon_watch(d, TAG_CONTROL, d->ctl.listen_fd, EPOLLIN);
	d->ctl.set_events = client_set_events;
	t0 = now_mono_ns();
	ret = registry_scan(&d->reg);
	log_info("%d process(es) labelled at start, in %.1f ms", ret > 0 ? ret : 0,
		 (now_mono_ns() - t0) / 1e6);
	registry_mark_sockets(&d->reg);
	emit_config(d, true, NULL);
	round_evaluate(d, "start");
	return 0;
}

int daemon_run(const struct run_opts *opts)
{
	struct daemon *d = calloc(1, sizeof(*d));
	const char *path = opts->config_path ? opts->config_path : MEMSHED_DEFAULT_CONFIG;
	int ret;

	if (!d)
		return RUN_EXIT_ERROR;
	/* mlockall makes malloc_trim unable to give back free pages inside
	 * the heap, and glibc raises its mmap threshold to the largest block
	 * freed (the kernel's BTF: megabytes), so the scans' process lists
	 * would be carved from the heap and leave it holed. A fixed threshold
	 * keeps every large buffer in a mapping of its own, unmapped when freed. */
	mallopt(M_MMAP_THRESHOLD, 64 << 10);
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
	set_nice(d->cfg->nice);
	ret = start(d);
	if (ret == 0) {
		notice("ready");
		sd_notify_ready();
		loop(d);
		notice("stopping");
	}
	shutdown_daemon(d);
	eventlog_flush();
	free(d);
	return ret;
}
