// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The unload job machine (DESIGN 6): start one component's action, step it
 * as its processes exit or its deadlines pass, and release it.
 *
 *   term    SIGTERM to every process; at the grace deadline SIGKILL (and
 *           process_mrelease) through the same pidfds; failed if anything
 *           is still alive KILL_WAIT_NS later.
 *   kill    SIGKILL at once, then as term after its escalation.
 *   signal  one signal, done at start.
 *   freeze  the processes into the component's frozen cgroup, done at start.
 *   reclaim its memory paged out while it runs: a batch per actuator_step,
 *           so one loop turn never pages out more than RECLAIM_BATCH_BYTES;
 *           deadline_ns stays "now" until done. Through memory.reclaim where
 *           the component owns its cgroup (memcg.h), else process_madvise
 *           over each process's mappings (reclaim.h).
 *   hibernate  freeze, then reclaim as above (frozen pages stay out).
 *   exec    a hook, waited for up to exec_timeout, then killed.
 *
 * Jobs that wait (term, kill, exec) leave their pidrefs in job->procs; the
 * daemon polls those pidfds (one turns readable when its process exits)
 * and calls actuator_step on readiness and at job->deadline_ns.
 * actuator_step closes the pidfds of exited processes and drops them from
 * job->procs (closing also removes them from any epoll set).
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "actuator.h"
#include "hook.h"
#include "output.h"
#include "reclaim.h"

#define NSEC_PER_SEC		1000000000ULL
#define KILL_WAIT_NS		(5 * NSEC_PER_SEC)	/* SIGKILL -> gone, else failed */

const char *job_result_name(enum job_result r)
{
	static const char *const names[] = {
		[JOB_RUNNING] = "running", [JOB_EXITED] = "exited",
		[JOB_KILLED] = "killed", [JOB_FROZEN] = "frozen",
		[JOB_SIGNALLED] = "signalled", [JOB_HOOK_OK] = "hook-ok",
		[JOB_FAILED] = "failed", [JOB_RECLAIMED] = "reclaimed",
		[JOB_HIBERNATED] = "hibernated", [JOB_THAWED] = "thawed",
	};

	if ((unsigned int)r < sizeof(names) / sizeof(names[0]) && names[r])
		return names[r];
	return "unknown";
}

int actuator_init(struct actuator *a, const struct actuator_opts *opts)
{
	int r;

	memset(a, 0, sizeof(*a));
	a->opts = *opts;
	r = freezer_init(&a->freezer, opts->freezer_root);
	if (r < 0)
		return r;
	freezer_set_state_dir(&a->freezer, opts->state_dir);
	a->ready = true;
	return 0;
}

void actuator_fini(struct actuator *a)
{
	freezer_fini(&a->freezer);
	a->ready = false;
}

static int open_verified(struct actuator *a, pid_t pid, uint32_t comp_id, struct pidref *ret)
{
	return pidref_open_verified(ret, pid, comp_id, a->opts.verify, a->opts.verify_ctx);
}

/* A pid of the decision that is not acted on: counted, and the first
 * few of a job logged (a recycled PID shows up here as "not labelled"). */
#define REFUSED_LOGGED 8

static void job_refuse(struct unload_job *job, pid_t pid, int err)
{
	if (++job->nr_refused > REFUSED_LOGGED)
		return;
	if (err == -EPERM)
		log_warn("%s (%s): pid %d skipped: not a process of the component now (it "
			 "exited and the pid was reused, or it left it), or one never touched",
			 job->component, action_kind_name(job->action.kind), pid);
	else
		log_warn("%s (%s): pid %d skipped: %s", job->component,
			 action_kind_name(job->action.kind), pid, strerror(-err));
}

static void job_fail(struct unload_job *job, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void job_fail(struct unload_job *job, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(job->error, sizeof(job->error), fmt, ap);
	va_end(ap);
	job->result = JOB_FAILED;
}

/*
 * After acting on every pid: nothing done because all were refused (or
 * there were none) is a failure; nothing done because all had already
 * exited means the component is gone.
 */
static int job_check_nothing_done(struct unload_job *job, int nr)
{
	if (job->nr_signalled > 0)
		return 1;
	if (nr > 0 && job->nr_refused == 0) {
		job->result = JOB_EXITED;
		return 0;
	}
	job_fail(job, "no process of %s could be signalled (%d refused)", job->component,
		 job->nr_refused);
	return nr == 0 ? -ESRCH : -EPERM;
}

static double ns_to_s(uint64_t ns)
{
	return (double)ns / NSEC_PER_SEC;
}

/* ---- term, kill, signal ---- */

static int start_signal(struct actuator *a, struct unload_job *job, const pid_t *pids, int nr,
			int signo, bool wait, uint64_t now_ns)
{
	struct pidref p;
	int r;

	for (int i = 0; i < nr; i++) {
		r = open_verified(a, pids[i], job->comp_id, &p);
		if (r == 0)
			r = signo == SIGKILL ? pidref_kill(&p) : pidref_signal(&p, signo);
		if (r < 0) {
			pidref_close(&p);
			if (r != -ESRCH)	/* already gone: nothing to do */
				job_refuse(job, pids[i], r);
			continue;
		}
		job->nr_signalled++;
		/* Past ACTUATOR_MAX_FDS a process is signalled but not waited
		 * for (nor escalated): components that large are rare. */
		if (!wait || job->nr_procs == ACTUATOR_MAX_FDS)
			pidref_close(&p);
		else
			job->procs[job->nr_procs++] = p;
	}
	r = job_check_nothing_done(job, nr);
	if (r <= 0)
		return r;
	if (!wait) {
		job->result = JOB_SIGNALLED;
		return 0;
	}
	job->deadline_ns = now_ns + (signo == SIGKILL ? KILL_WAIT_NS : job->grace_ns);
	return 0;
}

/* Close and forget the pidrefs whose processes have exited. */
static void reap_exited(struct unload_job *job)
{
	int j = 0;

	for (int i = 0; i < job->nr_procs; i++) {
		if (pidref_exited(&job->procs[i]))
			pidref_close(&job->procs[i]);
		else
			job->procs[j++] = job->procs[i];
	}
	job->nr_procs = j;
}

static int step_wait_exit(struct unload_job *job, uint64_t now_ns)
{
	reap_exited(job);
	if (job->nr_procs == 0) {
		job->result = job->escalated ? JOB_KILLED : JOB_EXITED;
		return 1;
	}
	if (now_ns < job->deadline_ns)
		return 0;
	if (job->action.kind == ACTION_TERM && !job->escalated) {
		/* The pidfds were verified when opened and still name those
		 * processes: no new check. */
		for (int i = 0; i < job->nr_procs; i++)
			pidref_kill(&job->procs[i]);
		job->escalated = true;
		job->deadline_ns = now_ns + KILL_WAIT_NS;
		return 0;
	}
	job_fail(job, "%d process(es) of %s still alive %gs after SIGKILL", job->nr_procs,
		 job->component, ns_to_s(KILL_WAIT_NS));
	return 1;
}

/* ---- freeze ---- */

/* A freeze (or hibernate) that took: what the loop waits for next. */
static void job_frozen(struct unload_job *job)
{
	job->result = job->action.kind == ACTION_HIBERNATE ? JOB_RUNNING : JOB_FROZEN;
}

/*
 * Every process of the component alone in a cgroup2 group of its own (a
 * unit's, say): freeze that group where it is, moving nothing, so that its
 * accounting, limits and the service manager's view stay as they are.
 * 1: not so (the caller moves them into memshed's group); 0 or -errno.
 */
static int freeze_in_place(struct actuator *a, struct unload_job *job, const pid_t *pids, int nr)
{
	struct pidref refs[ACTUATOR_MAX_FDS];
	char cgdir[FREEZER_PATH_MAX];
	int n = 0, r = 1;

	if (nr > ACTUATOR_MAX_FDS || freezer_own_cgroup(&a->freezer, pids, nr, cgdir, sizeof(cgdir)))
		return 1;
	/* Each one the labelled process still, and then the group unchanged. */
	while (n < nr && open_verified(a, pids[n], job->comp_id, &refs[n]) == 0)
		n++;
	if (n == nr && !freezer_own_cgroup(&a->freezer, pids, nr, cgdir, sizeof(cgdir))) {
		r = freezer_freeze_in_place(&a->freezer, job->component, cgdir);
		if (r < 0)
			job_fail(job, "cannot freeze %s where it is: %s", cgdir, strerror(-r));
		else
			job->nr_signalled = nr;
	}
	for (int i = 0; i < n; i++) {
		if (r == 0 && job->action.kind == ACTION_HIBERNATE)
			job->procs[job->nr_procs++] = refs[i];	/* to page out once frozen */
		else
			pidref_close(&refs[i]);
	}
	if (r == 0) {
		log_info("%s: frozen in its own cgroup %s (nothing moved)", job->component, cgdir);
		job_frozen(job);
	}
	return r;
}

static int start_freeze(struct actuator *a, struct unload_job *job, const pid_t *pids, int nr)
{
	struct freezer *f = &a->freezer;
	char cgdir[FREEZER_PATH_MAX];
	struct pidref p;
	int r;

	if (!freezer_available(f)) {
		job_fail(job, "no cgroup freezer: neither cgroup2 nor the v1 freezer is mounted");
		return -EOPNOTSUPP;
	}
	r = freeze_in_place(a, job, pids, nr);
	if (r <= 0)
		return r;
	r = freezer_group_create(f, job->component, cgdir, sizeof(cgdir));
	if (r < 0) {
		job_fail(job, "cannot create cgroup for %s under %s: %s", job->component, f->root,
			 strerror(-r));
		return r;
	}
	/* Moving a stranger into a group about to freeze is as bad as killing it. */
	for (int i = 0; i < nr; i++) {
		r = open_verified(a, pids[i], job->comp_id, &p);
		if (r == 0)
			r = freezer_group_add(f, cgdir, &p);
		if (r == 0 && job->action.kind == ACTION_HIBERNATE &&
		    job->nr_procs < ACTUATOR_MAX_FDS)
			job->procs[job->nr_procs++] = p;	/* to page out once frozen */
		else
			pidref_close(&p);
		if (r == 0)
			job->nr_signalled++;
		else if (r == -ESTALE)
			job->nr_recycled++;	/* gone; the pid's new holder put back */
		else if (r == -EBUSY)
			break;
		else if (r != -ESRCH)
			job_refuse(job, pids[i], r);
	}
	if (r == -EBUSY) {
		/* A stranger is in the group: it must not freeze. */
		freezer_group_abort(f, cgdir);
		job_fail(job, "a recycled pid's process could not be moved out of %s; not frozen",
			 cgdir);
		return r;
	}
	r = job_check_nothing_done(job, nr);
	if (r <= 0) {
		freezer_group_remove(f, cgdir);
		return r;
	}
	r = freezer_group_freeze(f, cgdir);
	if (r == -ETIMEDOUT) {
		job_fail(job, "%s did not freeze within %ds; thawed again", cgdir,
			 FREEZER_WAIT_MS / 1000);
		return r;
	}
	if (r < 0) {
		job_fail(job, "cannot freeze %s: %s", cgdir, strerror(-r));
		return r;
	}
	job_frozen(job);
	return 0;
}

/* ---- reclaim, hibernate ---- */

static void reclaim_begin(struct unload_job *job, uint64_t now_ns)
{
	struct swap_facts sw;

	swap_facts_read("/proc/meminfo", &sw);
	job->rc = (struct reclaim_progress){ .file_only = !swap_has_room(&sw) };
	job->deadline_ns = now_ns;	/* the next loop turn goes on at once */
}

static int start_reclaim(struct actuator *a, struct unload_job *job, const pid_t *pids, int nr,
			 uint64_t now_ns)
{
	struct pidref p;
	int r;

	for (int i = 0; i < nr; i++) {
		r = open_verified(a, pids[i], job->comp_id, &p);
		if (r < 0) {
			if (r != -ESRCH)
				job_refuse(job, pids[i], r);
			continue;
		}
		job->nr_signalled++;
		if (job->nr_procs < ACTUATOR_MAX_FDS)
			job->procs[job->nr_procs++] = p;
		else
			pidref_close(&p);
	}
	r = job_check_nothing_done(job, nr);
	if (r <= 0)
		return r;
	reclaim_begin(job, now_ns);
	return 0;
}

static int start_hibernate(struct actuator *a, struct unload_job *job, const pid_t *pids, int nr,
			   uint64_t now_ns)
{
	int r = start_freeze(a, job, pids, nr);

	if (r < 0 || job->result != JOB_RUNNING) {
		actuator_job_release(job);
		return r;
	}
	reclaim_begin(job, now_ns);
	return 0;
}

/*
 * The cgroup memcg_find judged (from the pids, before any was moved into a
 * freezer group) is used only if the job holds verified pidfds to exactly
 * those processes: then the cgroups read were theirs, not a stranger's that
 * took over a pid.
 */
static void reclaim_use_memcg(struct unload_job *job, enum memcg_verdict v, const char *dir,
			      const pid_t *pids, int nr)
{
	struct reclaim_progress *rc = &job->rc;
	int fd;

	rc->memcg = v;
	if (v != MEMCG_OWNED)
		return;
	for (int i = 0; i < nr; i++) {
		bool held = false;

		for (int k = 0; k < job->nr_procs && !held; k++)
			held = job->procs[k].pid == pids[i];
		if (!held || job->nr_procs != nr) {
			rc->memcg = MEMCG_CHANGED;
			return;
		}
	}
	fd = memcg_reclaim_open(dir);
	if (fd < 0) {
		rc->memcg = MEMCG_NO_CONTROLLER;
		return;
	}
	rc->via_memcg = true;
	rc->memcg_fd = fd;
	rc->memcg_before = memcg_current(dir);
	snprintf(rc->memcg_dir, sizeof(rc->memcg_dir), "%s", dir);
}

static void reclaim_drop_memcg(struct reclaim_progress *rc)
{
	if (rc->via_memcg)
		close(rc->memcg_fd);
	rc->via_memcg = false;
}

/* One memory.reclaim request per turn, until the kernel cannot take more
 * (EAGAIN), the group is (nearly) empty, or as much as it held at the start
 * was asked for. 1 when done. */
static int step_memcg(struct unload_job *job, uint64_t now_ns)
{
	struct reclaim_progress *rc = &job->rc;
	uint64_t t0 = now_mono_ns(), took;
	int r = memcg_reclaim_batch(rc->memcg_fd, RECLAIM_BATCH_BYTES);

	took = now_mono_ns() - t0;
	if (took > rc->longest_ns)
		rc->longest_ns = took;
	if (r < 0) {
		log_warn("%s: memory.reclaim of %s: %s; paging out by process instead",
			 job->component, rc->memcg_dir, strerror(-r));
		reclaim_drop_memcg(rc);
		rc->memcg = MEMCG_FAILED;
		job->deadline_ns = now_ns;
		return 0;
	}
	if (r == 0)
		rc->advised += RECLAIM_BATCH_BYTES;
	if (r == 1 || rc->advised >= rc->memcg_before ||
	    memcg_current(rc->memcg_dir) < RECLAIM_BATCH_BYTES)
		return 1;
	job->deadline_ns = now_ns;
	return 0;
}

/* One batch of one process per turn: the loop stays responsive. */
static int step_reclaim(struct unload_job *job, uint64_t now_ns)
{
	struct reclaim_progress *rc = &job->rc;
	bool hib = job->action.kind == ACTION_HIBERNATE;
	int r;

	if (job->cancel) {
		job->result = JOB_THAWED;
		return 1;
	}
	rc->turns++;
	if (rc->via_memcg) {
		if (step_memcg(job, now_ns) == 0)
			return 0;
		if (rc->via_memcg) {
			job->result = hib ? JOB_HIBERNATED : JOB_RECLAIMED;
			return 1;
		}
	}
	while (rc->proc < job->nr_procs) {
		uint64_t t0 = now_mono_ns(), took;

		r = reclaim_batch(&job->procs[rc->proc], &rc->addr, &rc->advised, &rc->vmas);
		took = now_mono_ns() - t0;
		if (took > rc->longest_ns)
			rc->longest_ns = took;
		if (r < 0) {
			job_fail(job, "process_madvise(MADV_PAGEOUT): %s%s", strerror(-r),
				 hib ? " (left frozen)" : "");
			return 1;
		}
		if (r == 0) {
			job->deadline_ns = now_ns;
			return 0;
		}
		rc->proc++;
		rc->addr = 0;
		break;		/* the next process on the next turn */
	}
	if (rc->proc < job->nr_procs) {
		job->deadline_ns = now_ns;
		return 0;
	}
	job->result = hib ? JOB_HIBERNATED : JOB_RECLAIMED;
	return 1;
}

/* ---- exec ---- */

static int start_exec(struct unload_job *job, const pid_t *pids, int nr, uint64_t rss,
		      uint64_t now_ns)
{
	char **env;
	int r;

	if (!job->action.argv || !job->action.argv[0]) {
		job_fail(job, "exec action without a command");
		return -EINVAL;
	}
	env = hook_env_new(job->component, job->level, rss, pids, nr);
	if (!env) {
		job_fail(job, "out of memory");
		return -ENOMEM;
	}
	r = hook_spawn(job->action.argv, env, &job->procs[0]);
	hook_env_free(env);
	if (r < 0) {
		job_fail(job, "cannot start hook %s: %s", job->action.argv[0], strerror(-r));
		return r;
	}
	job->nr_procs = 1;
	job->deadline_ns = now_ns + job->exec_timeout_ns;
	return 0;
}

static int step_exec(struct unload_job *job, uint64_t now_ns)
{
	int r = hook_reap(&job->procs[0], &job->hook_status);

	if (r == 0 && now_ns >= job->deadline_ns && !job->escalated) {
		hook_kill(&job->procs[0]);
		job->escalated = true;
		job->deadline_ns = now_ns + KILL_WAIT_NS;
		r = hook_reap(&job->procs[0], &job->hook_status);
	}
	if (r < 0) {
		/* ECHILD: someone else reaped it (a SIGCHLD handler) */
		job_fail(job, "cannot wait for hook: %s", strerror(-r));
		return 1;
	}
	if (r == 0) {
		if (job->escalated && now_ns >= job->deadline_ns) {
			job_fail(job, "hook timed out after %gs and survived SIGKILL",
				 ns_to_s(job->exec_timeout_ns));
			return 1;
		}
		return 0;
	}
	job->nr_procs = 0;
	if (job->escalated)
		job_fail(job, "hook timed out after %gs", ns_to_s(job->exec_timeout_ns));
	else if (WIFEXITED(job->hook_status) && WEXITSTATUS(job->hook_status) == 0)
		job->result = JOB_HOOK_OK;
	else if (WIFEXITED(job->hook_status))
		job_fail(job, "hook exited with status %d", WEXITSTATUS(job->hook_status));
	else
		job_fail(job, "hook killed by signal %d (%s)", WTERMSIG(job->hook_status),
			 strsignal(WTERMSIG(job->hook_status)));
	return 1;
}

/* ---- jobs ---- */

int actuator_start(struct actuator *a, struct unload_job *job, const pid_t *pids, int nr,
		   uint64_t rss_bytes, uint64_t now_ns)
{
	int r;

	job->started_ns = job->deadline_ns = now_ns;
	job->nr_procs = job->nr_signalled = job->nr_refused = job->nr_recycled = 0;
	job->escalated = false;
	job->result = JOB_RUNNING;
	job->error[0] = '\0';
	job->hook_status = 0;

	/*
	 * Dry run: nothing is touched, and the job reports JOB_EXITED with
	 * nr_signalled 0 whatever the action ("would have been done"; the
	 * daemon logs the decision). No error is set.
	 */
	if (a->opts.dry_run) {
		job->result = JOB_EXITED;
		return 0;
	}
	if (!a->ready) {
		job_fail(job, "actuator not initialised");
		return -EINVAL;
	}

	switch (job->action.kind) {
	case ACTION_TERM:
		r = start_signal(a, job, pids, nr, SIGTERM, true, now_ns);
		break;
	case ACTION_KILL:
		r = start_signal(a, job, pids, nr, SIGKILL, true, now_ns);
		break;
	case ACTION_SIGNAL:
		r = start_signal(a, job, pids, nr, job->action.signo, false, now_ns);
		break;
	case ACTION_FREEZE:
		r = start_freeze(a, job, pids, nr);
		break;
	case ACTION_RECLAIM:
	case ACTION_HIBERNATE: {
		/* Before the freeze moves them: the cgroups they are in. */
		char dir[MEMCG_PATH_MAX];
		enum memcg_verdict v = memcg_find(pids, nr, a->freezer.root, dir, sizeof(dir));

		r = job->action.kind == ACTION_RECLAIM ? start_reclaim(a, job, pids, nr, now_ns) :
							  start_hibernate(a, job, pids, nr, now_ns);
		if (r == 0 && job->result == JOB_RUNNING)
			reclaim_use_memcg(job, v, dir, pids, nr);
		break;
	}
	case ACTION_EXEC:
		if (nr == 0) {
			job_fail(job, "no process of %s could be signalled (0 refused)",
				 job->component);
			return -ESRCH;
		}
		r = start_exec(job, pids, nr, rss_bytes, now_ns);
		break;
	default:
		job_fail(job, "no action");
		return -EINVAL;
	}
	return r < 0 ? r : 0;
}

int actuator_step(struct actuator *a, struct unload_job *job, uint64_t now_ns)
{
	if (job->result != JOB_RUNNING)
		return 1;
	switch (job->action.kind) {
	case ACTION_TERM:
	case ACTION_KILL:
		return step_wait_exit(job, now_ns);
	case ACTION_EXEC:
		return step_exec(job, now_ns);
	case ACTION_RECLAIM:
	case ACTION_HIBERNATE:
		return step_reclaim(job, now_ns);
	default:
		return 1;
	}
}

void actuator_job_release(struct unload_job *job)
{
	if (job->action.kind == ACTION_RECLAIM || job->action.kind == ACTION_HIBERNATE)
		reclaim_drop_memcg(&job->rc);
	for (int i = 0; i < job->nr_procs; i++)
		pidref_close(&job->procs[i]);
	job->nr_procs = 0;
}
