// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Process lifecycle: labels follow fork, exec is reported for rule
 * matching, exits of labelled processes are reported and their memory
 * leaves the component sums. Every event here is informational: it goes
 * to the "info" ring, rate-limited per user, and decisions never wait on
 * it (a missed one is made good by the next scan or sample pass).
 */
#include "memshed.bpf.h"
#include "rss.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

__u32 exec_events = 0;
__u64 info_woke_ns = 0;
const volatile __u64 info_wake_ns = MEMSHED_INFO_WAKE_NS;
/* Informational events per user: a burst of info_burst, then one per
 * info_interval_ns (defaults: 64, then 200/s). */
const volatile __u64 info_interval_ns = 5000000;
const volatile __u64 info_burst = 64;
__u32 exec_filter = 0;	/* 1: report only execs of comms in exec_comms */

/* When every component has a comm: rule, only those comms can match: the
 * daemon is not woken for every exec on the host. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MEMSHED_MAX_COMPONENTS);
	__type(key, char[MEMSHED_COMM_LEN]);
	__type(value, __u8);
} exec_comms SEC(".maps");

static __always_inline bool exec_wanted(void)
{
	char comm[MEMSHED_COMM_LEN];

	if (!exec_events)
		return false;
	if (!exec_filter)
		return true;
	bpf_get_current_comm(comm, sizeof(comm));	/* zero-padded */
	return bpf_map_lookup_elem(&exec_comms, comm) != NULL;
}

/* A labelled process forked: the child (a new process, not a thread) gets
 * its parent's label before it first runs. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(handle_fork, struct task_struct *parent, struct task_struct *child)
{
	struct memshed_task_label *plabel, *clabel;
	struct memshed_event *e;
	__u32 comp_id;

	if (child->pid != child->tgid)
		return 0;	/* a thread: it finds the label on its leader */
	if (child->flags & PF_KTHREAD)
		return 0;	/* kernel threads belong to no component */
	plabel = label_of(parent);
	if (!plabel)
		return 0;
	comp_id = plabel->comp_id;
	clabel = bpf_task_storage_get(&task_labels, child, 0,
				      BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!clabel)
		return 0;
	clabel->comp_id = comp_id;
	clabel->flags = plabel->flags;
	/* The child's page tables were copied before this tracepoint: take
	 * its counters now. A CLONE_VM child (vfork, posix_spawn) shares its
	 * parent's mm and counts nothing until it execs. */
	proc_track(child->tgid, comp_id, child->start_time, child->mm);

	e = info_reserve(MEMSHED_EV_FORK, child, comp_id);
	if (!e)
		return 0;
	e->proc.ppid = parent->tgid;
	e->proc.child_pid = child->pid;
	info_submit_lazy(e);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct memshed_proc *proc;
	struct memshed_event *e;
	__u32 tgid = p->tgid;
	__u32 comp_id = 0;

	proc = bpf_map_lookup_elem(&procs, &tgid);
	if (proc && proc->start_time && proc->start_time != p->start_time) {
		proc_untrack(tgid);	/* a stale record: the PID was recycled */
		proc = NULL;
	}
	if (proc) {
		struct memshed_task_label *l;

		/* A non-leader thread that execs becomes the leader (de_thread,
		 * which keeps the start time) and the label on the old leader
		 * is gone: restore it from procs. */
		comp_id = proc->comp_id;
		l = bpf_task_storage_get(&task_labels, p, 0,
					 BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (l)
			l->comp_id = comp_id;
		/* A new mm: a vfork child that shared its parent's counts now. */
		if (p->mm)
			proc_refresh(proc, tgid, p->mm, false);
	}
	if (!comp_id && !exec_wanted())
		return 0;
	e = info_reserve(MEMSHED_EV_EXEC, p, comp_id);
	if (!e)
		return 0;
	e->proc.ppid = BPF_CORE_READ(p, real_parent, tgid);
	e->proc.cgroup_id = BPF_CORE_READ(p, cgroups, dfl_cgrp, kn, id);
	e->proc.cgroup_level = BPF_CORE_READ(p, cgroups, dfl_cgrp, level);
	info_submit_lazy(e);
	return 0;
}

/* A process renamed itself (prctl PR_SET_NAME): comm: rules see the new
 * name. Exec renames too, but sched_process_exec reports that one. */
SEC("tp_btf/task_rename")
int BPF_PROG(handle_rename, struct task_struct *task, const char *comm)
{
	char name[MEMSHED_COMM_LEN] = {};
	struct memshed_event *e;

	if (task->pid != task->tgid || !exec_events)
		return 0;
	if (bpf_core_field_exists(task->in_execve) &&
	    BPF_CORE_READ_BITFIELD_PROBED(task, in_execve))
		return 0;
	bpf_probe_read_kernel_str(name, sizeof(name), comm);
	if (exec_filter && !bpf_map_lookup_elem(&exec_comms, name))
		return 0;
	e = info_reserve(MEMSHED_EV_RENAME, task, comp_id_of(task));
	if (!e)
		return 0;
	__builtin_memcpy(e->hdr.comm, name, sizeof(name));
	info_submit_lazy(e);
	return 0;
}

/* The last thread of a labelled process exits. do_exit() has decremented
 * signal->live before this tracepoint, so 0 means the group is dead (read
 * it rather than the tracepoint's group_dead argument, added in 6.x). */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *p)
{
	struct memshed_event *e;
	__u32 tgid = p->tgid;
	__u32 comp_id;

	if (BPF_CORE_READ(p, signal, live.counter) != 0)
		return 0;
	comp_id = comp_id_of(p);
	if (!comp_id)
		return 0;
	proc_untrack(tgid);
	e = info_reserve(MEMSHED_EV_EXIT, p, comp_id);
	if (!e)
		return 0;
	e->proc.exit_code = p->exit_code;
	info_submit_lazy(e);
	return 0;
}
