// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * RSS of labelled processes, two ways:
 *  - rss_stat tracepoint: exact and instant, detects budget crossings in
 *    the kernel; runs (briefly) on every RSS change of every process;
 *  - sample_procs task iterator: run by the daemon when it wants fresh
 *    numbers; nothing on the page-fault path.
 * The iterator also sums CPU runtime per process (the activity signal).
 */
#include "memshed.bpf.h"
#include "rss.bpf.h"

__u64 ringbuf_drops = 0;
__u64 usage_total = 0;
__u64 budget_bytes[MEMSHED_NR_LEVELS] = {};
__u32 budget_level = 0;
__u64 sample_pass = 0;		/* bumped by user space before each pass */

const volatile __u32 page_shift = 12;

SEC("tp_btf/rss_stat")
int BPF_PROG(handle_rss_stat, struct mm_struct *mm, int member)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct memshed_proc *p;
	__u32 tgid;

	/* Fast path for the common case: an unlabelled task faulting on its
	 * own mm costs one task-storage lookup. */
	if (task->mm == mm) {
		if (!label_of(task))
			return 0;
		tgid = task->tgid;
	} else {
		/* Another task changed this mm (exit, reclaim, fork's copy):
		 * the mm's owner names the process. */
		tgid = BPF_CORE_READ(mm, owner, tgid);
	}
	p = bpf_map_lookup_elem(&procs, &tgid);
	if (p)
		proc_refresh(p, tgid, mm);
	return 0;
}

/*
 * Visits every thread. For threads of labelled processes: the leader
 * refreshes the process's RSS; every thread adds its CPU runtime to the
 * process's total for this pass (dead threads' time is in signal).
 */
SEC("iter/task")
int sample_procs(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct memshed_proc *p;
	__u32 tgid;

	if (!task)
		return 0;
	tgid = task->tgid;
	p = bpf_map_lookup_elem(&procs, &tgid);
	if (!p)
		return 0;
	if (p->sample_pass != (__u32)sample_pass) {
		p->sample_pass = (__u32)sample_pass;
		p->runtime_ns = BPF_CORE_READ(task, signal, sum_sched_runtime);
	}
	p->runtime_ns += BPF_CORE_READ(task, se.sum_exec_runtime);
	if (task->pid == task->tgid && task->mm)
		proc_refresh(p, tgid, task->mm);
	return 0;
}
