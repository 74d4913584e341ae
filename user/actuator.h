/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Unload jobs: one component's action (term, kill, freeze, reclaim,
 * hibernate, signal, exec) started, stepped by the daemon's loop, and
 * released. Every process is reached through a verified pidref (pidref.h),
 * freezing goes through the freezer (freezer.h), paging out through
 * reclaim.h (by process) or memcg.h (a cgroup the component owns), exec
 * through a hook (hook.h).
 */
#ifndef MEMSHED_ACTUATOR_H
#define MEMSHED_ACTUATOR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "config.h"
#include "freezer.h"
#include "memcg.h"
#include "pidref.h"

struct actuator_opts {
	pidref_verify_fn verify;
	void *verify_ctx;
	const char *freezer_root;	/* NULL: found from /proc/self/mountinfo */
	const char *state_dir;		/* records of frozen groups (NULL: none) */
	bool dry_run;
};

/* One unload in progress. The daemon polls the pidfds of `procs` (the
 * victims, or an exec hook) and calls actuator_step on any readiness and on
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
	JOB_RECLAIMED,		/* reclaim: every mapping advised out */
	JOB_HIBERNATED,		/* hibernate: frozen and reclaimed */
	JOB_THAWED,		/* hibernate: thawed (on access) before it finished */
	JOB_NR_RESULTS,
};

/* How far a reclaim has gone through the component's processes, or through
 * its own memory cgroup (memcg.h). */
struct reclaim_progress {
	int proc;			/* index into job->procs */
	uint64_t addr;			/* next address of that process */
	uint64_t advised;		/* bytes of address range advised (memcg: asked for) */
	int vmas;			/* mappings advised */
	int turns;			/* loop turns it took */
	uint64_t longest_ns;		/* the longest batch: how long a turn was held */
	bool file_only;			/* no swap room: only file pages can go */
	bool via_memcg;			/* memory.reclaim on memcg_dir (memcg_fd) */
	enum memcg_verdict memcg;	/* why it is (not) used */
	int memcg_fd;
	uint64_t memcg_before;		/* its memory.current at the start */
	char memcg_dir[MEMCG_PATH_MAX];
};

struct unload_job {
	char component[CONFIG_NAME_MAX];
	uint32_t comp_id;
	struct action action;		/* borrowed from the config */
	enum level level;
	uint64_t grace_ns, exec_timeout_ns;
	uint64_t started_ns, deadline_ns;	/* CLOCK_MONOTONIC */
	int nr_procs;
	struct pidref procs[ACTUATOR_MAX_FDS];	/* being waited for */
	int nr_signalled;		/* processes actually signalled */
	int nr_refused;			/* pids not signalled (not labelled, pid 1, self, kthread) */
	int nr_recycled;		/* freeze: exited during the move, the pid's new
					 * holder caught by it and put back */
	bool escalated;
	enum job_result result;
	char error[256];
	int hook_status;		/* exec: wait status */
	struct reclaim_progress rc;	/* reclaim, hibernate */
	bool cancel;			/* hibernate: thawed on access, stop reclaiming */
};

struct actuator {
	struct actuator_opts opts;
	struct freezer freezer;
	bool ready;			/* actuator_init succeeded */
};

int actuator_init(struct actuator *a, const struct actuator_opts *opts);
void actuator_fini(struct actuator *a);	/* frozen cgroups stay frozen */

/*
 * Start unloading: pids are the component's processes (tgids). Returns 0
 * with the job started (or already finished: job->result != JOB_RUNNING),
 * or -errno with job->error set. env_rss is reported to exec hooks.
 */
int actuator_start(struct actuator *a, struct unload_job *job, const pid_t *pids, int nr,
		   uint64_t rss_bytes, uint64_t now_ns);
/* Progress a job: reap exited pidfds, escalate at the grace deadline,
 * kill a hook at its timeout, page out the next batch of a reclaim.
 * Returns 1 when the job is finished. */
int actuator_step(struct actuator *a, struct unload_job *job, uint64_t now_ns);
void actuator_job_release(struct unload_job *job);	/* closes its pidfds */

const char *job_result_name(enum job_result r);

#endif
