/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Unload actions: term, kill, freeze/thaw, signal, exec. Every signal goes
 * through a pidfd whose process is checked to carry the component's label
 * first, so a recycled PID can never be hit, and pid 1, memshed itself and
 * kernel threads are refused outright.
 */
#ifndef MEMSHED_ACTUATOR_H
#define MEMSHED_ACTUATOR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "config.h"

/* Is the process behind pidfd labelled comp_id right now? (The loader's
 * task-storage lookup; tests pass their own.) */
typedef bool (*actuator_verify_fn)(void *ctx, int pidfd, pid_t pid, uint32_t comp_id);

struct actuator_opts {
	actuator_verify_fn verify;
	void *verify_ctx;
	const char *freezer_root;	/* NULL: found from /proc/self/mountinfo */
	bool dry_run;
};

/* One unload in progress. The daemon polls `fds` (pidfds of the victims,
 * and of an exec hook) and calls actuator_step on any readiness and on
 * deadlines; the job ends when actuator_step returns 1. */
#define ACTUATOR_MAX_FDS 256

enum job_result {
	JOB_RUNNING,
	JOB_EXITED,		/* every process is gone (term, kill) */
	JOB_KILLED,		/* term escalated to SIGKILL after grace */
	JOB_FROZEN,
	JOB_SIGNALLED,		/* signal: delivered */
	JOB_HOOK_OK,		/* exec: exit status 0 */
	JOB_FAILED,		/* see job.error */
};

struct unload_job {
	char component[CONFIG_NAME_MAX];
	uint32_t comp_id;
	struct action action;		/* borrowed from the config */
	enum level level;
	uint64_t grace_ns, exec_timeout_ns;
	uint64_t started_ns, deadline_ns;	/* CLOCK_MONOTONIC */
	int nr_fds;
	int fds[ACTUATOR_MAX_FDS];	/* pidfds being waited for */
	pid_t pids[ACTUATOR_MAX_FDS];
	int nr_signalled;		/* processes actually signalled */
	int nr_refused;			/* pids not signalled (not labelled, pid 1, self, kthread) */
	bool escalated;
	enum job_result result;
	char error[256];
	int hook_status;		/* exec: wait status */
};

struct actuator_state;		/* private to actuator.c */

struct actuator {
	struct actuator_opts opts;
	char freezer_root[256];		/* memshed-owned cgroup parent ("" if none) */
	bool freezer_v2;
	struct actuator_state *state;	/* mounts, and where frozen pids came from */
};

int actuator_init(struct actuator *a, const struct actuator_opts *opts);
void actuator_fini(struct actuator *a);	/* frees a->state; frozen cgroups stay frozen */

/*
 * Start unloading: pids are the component's processes (tgids). Returns 0
 * with the job started (or already finished: job->result != JOB_RUNNING),
 * or -errno with job->error set. env_rss is reported to exec hooks.
 */
int actuator_start(struct actuator *a, struct unload_job *job, const pid_t *pids, int nr,
		   uint64_t rss_bytes, uint64_t now_ns);
/* Progress a job: reap exited pidfds, escalate at the grace deadline,
 * kill a hook at its timeout. Returns 1 when the job is finished. */
int actuator_step(struct actuator *a, struct unload_job *job, uint64_t now_ns);
void actuator_job_release(struct unload_job *job);	/* closes fds */

int actuator_thaw(struct actuator *a, const char *component);
/* Thaw every memshed-owned frozen cgroup (daemon start). Returns count. */
int actuator_thaw_all(struct actuator *a);
bool actuator_is_frozen(struct actuator *a, const char *component);

/* Send one signal through a verified pidfd; the only way memshed signals. */
int actuator_signal(struct actuator *a, pid_t pid, uint32_t comp_id, int signo, int *ret_pidfd);
const char *job_result_name(enum job_result r);

#endif
