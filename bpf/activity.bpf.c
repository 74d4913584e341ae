// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Activity of labelled processes, the basis of idle time, when the daemon
 * runs with activity_source = sched_switch: the time a labelled task last
 * left the CPU. (The default, sampling, reads CPU runtime in the task
 * iterator in rss.bpf.c and costs nothing on the scheduler path.)
 */
#include "memshed.bpf.h"

SEC("tp_btf/sched_switch")
int BPF_PROG(handle_sched_switch, bool preempt, struct task_struct *prev,
	     struct task_struct *next)
{
	struct memshed_proc *p;
	__u32 tgid;

	if (!label_of(prev))
		return 0;
	tgid = prev->tgid;
	p = bpf_map_lookup_elem(&procs, &tgid);
	if (p)
		p->last_run_ns = bpf_ktime_get_ns();
	return 0;
}
