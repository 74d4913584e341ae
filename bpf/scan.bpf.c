// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The start scan: one pass of a task iterator writes a memshed_task_info
 * for every process on the host (tgid, parent, uid, start time, cgroups,
 * comm, label), so user space labels what already runs, whole process
 * trees included, without reading /proc for rules that need none of it.
 */
#include "memshed.bpf.h"

SEC("iter/task")
int dump_tasks(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct memshed_task_info ti = {};
	struct memshed_task_label *l;
	int memory = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);

	if (!task || task->pid != task->tgid || (task->flags & PF_KTHREAD))
		return 0;
	/* Direct loads (the verifier makes them fault-safe): far cheaper than
	 * a bpf_probe_read_kernel() each, on a pass over every task. */
	ti.tgid = task->tgid;
	ti.ppid = task->real_parent->tgid;
	ti.uid = task->real_cred->uid.val;
	ti.start_time = task->start_time;
	ti.cgroup_id = task->cgroups->dfl_cgrp->kn->id;
	ti.memcg_id = task->cgroups->subsys[memory & 15]->cgroup->kn->id;
	ti.nr_threads = task->signal->nr_threads;
	l = bpf_task_storage_get(&task_labels, task, 0, 0);
	ti.comp_id = l ? l->comp_id : 0;
	__builtin_memcpy(ti.comm, task->comm, sizeof(ti.comm));
	bpf_seq_write(ctx->meta->seq, &ti, sizeof(ti));
	return 0;
}
