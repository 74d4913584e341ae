// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Memory pressure as the kernel lives it: tasks stalled in direct or memcg
 * reclaim and compaction (one event per stall above stall_threshold_ns),
 * kswapd waking and sleeping, reclaim throttling, and OOM kills. Only the
 * OOM kill goes to the decision ring; the rest informs (and wakes the
 * daemon to measure again) on the rate-limited "info" ring.
 */
#include "memshed.bpf.h"
#include "core_fixes.bpf.h"

const volatile __u64 stall_threshold_ns = 10 * 1000 * 1000;

enum stall_kind { STALL_RECLAIM, STALL_MEMCG, STALL_COMPACT, NR_STALL_KINDS };

struct stall_start {
	__u64 ts[NR_STALL_KINDS];
	__u32 order[NR_STALL_KINDS];
};

/* Start times per thread. Preallocated: written during reclaim, exactly
 * when allocating would be worst. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct stall_start);
} stalls SEC(".maps");

static __always_inline void stall_begin(enum stall_kind kind, __u32 order)
{
	__u32 pid = (__u32)bpf_get_current_pid_tgid();
	struct stall_start zero = {}, *s;

	s = bpf_map_lookup_elem(&stalls, &pid);
	if (!s) {
		bpf_map_update_elem(&stalls, &pid, &zero, BPF_NOEXIST);
		s = bpf_map_lookup_elem(&stalls, &pid);
		if (!s)
			return;
	}
	if (kind < NR_STALL_KINDS) {
		s->ts[kind] = bpf_ktime_get_ns();
		s->order[kind] = order;
	}
}

/* PSI "some" memory stall total of the task's cgroup (v2 hierarchy). */
static __always_inline __u64 task_psi_mem_some(struct task_struct *task)
{
	struct cgroup *cgrp = BPF_CORE_READ(task, cgroups, dfl_cgrp);
	struct psi_group *psi;
	int idx;

	if (!cgrp || !bpf_core_type_exists(struct psi_group))
		return 0;
	psi = cgroup_psi(cgrp);
	if (!psi)
		return 0;
	/* total[PSI_AVGS][PSI_MEM_SOME], flattened */
	idx = bpf_core_enum_value(enum psi_aggregators, PSI_AVGS) *
	      (bpf_core_enum_value(enum psi_states, NR_PSI_STATES) - 1) +
	      bpf_core_enum_value(enum psi_states, PSI_MEM_SOME);
	return BPF_CORE_READ(psi, total[idx & 15]);
}

/* Kernfs id of the task's memory cgroup (v1 or v2): names its memcg. */
static __always_inline __u64 task_memcg_id(struct task_struct *task)
{
	int id = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);

	return BPF_CORE_READ(task, cgroups, subsys[id & 15], cgroup, kn, id);
}

static __always_inline void stall_end(enum stall_kind kind, __u32 type, __u64 nr_reclaimed)
{
	__u32 pid = (__u32)bpf_get_current_pid_tgid();
	struct task_struct *task;
	struct memshed_event *e;
	struct stall_start *s;
	__u64 start, dur;

	s = bpf_map_lookup_elem(&stalls, &pid);
	if (!s || kind >= NR_STALL_KINDS)
		return;
	start = s->ts[kind];
	s->ts[kind] = 0;
	if (!s->ts[0] && !s->ts[1] && !s->ts[2])
		bpf_map_delete_elem(&stalls, &pid);
	if (!start)
		return;
	dur = bpf_ktime_get_ns() - start;
	if (dur < stall_threshold_ns)
		return;
	task = bpf_get_current_task_btf();
	e = info_reserve(type, task, comp_id_of(task));
	if (!e)
		return;
	e->stall.duration_ns = dur;
	e->stall.nr_reclaimed = nr_reclaimed;
	e->stall.order = s->order[kind];
	e->stall.memcg_id = task_memcg_id(task);
	e->stall.psi_some_total_ns = task_psi_mem_some(task);
	info_submit_now(e);
}

SEC("tp_btf/mm_vmscan_direct_reclaim_begin")
int BPF_PROG(handle_reclaim_begin, int order, gfp_t gfp)
{
	stall_begin(STALL_RECLAIM, order);
	return 0;
}

SEC("tp_btf/mm_vmscan_direct_reclaim_end")
int BPF_PROG(handle_reclaim_end, unsigned long nr_reclaimed)
{
	stall_end(STALL_RECLAIM, MEMSHED_EV_RECLAIM_STALL, nr_reclaimed);
	return 0;
}

SEC("tp_btf/mm_vmscan_memcg_reclaim_begin")
int BPF_PROG(handle_memcg_reclaim_begin, int order, gfp_t gfp)
{
	stall_begin(STALL_MEMCG, order);
	return 0;
}

SEC("tp_btf/mm_vmscan_memcg_reclaim_end")
int BPF_PROG(handle_memcg_reclaim_end, unsigned long nr_reclaimed)
{
	stall_end(STALL_MEMCG, MEMSHED_EV_MEMCG_RECLAIM, nr_reclaimed);
	return 0;
}

/* Compaction: both tracepoints need CONFIG_COMPACTION; user space turns
 * these programs off where the kernel lacks them. kcompactd's own runs
 * are not stalls of anyone and are skipped. */
SEC("tp_btf/mm_compaction_begin")
int BPF_PROG(handle_compaction_begin, struct compact_control *cc)
{
	if (BPF_CORE_READ(cc, direct_compaction))
		stall_begin(STALL_COMPACT, BPF_CORE_READ(cc, order));
	return 0;
}

SEC("tp_btf/mm_compaction_end")
int BPF_PROG(handle_compaction_end, struct compact_control *cc)
{
	if (BPF_CORE_READ(cc, direct_compaction))
		stall_end(STALL_COMPACT, MEMSHED_EV_COMPACTION, 0);
	return 0;
}

SEC("tp_btf/mm_vmscan_kswapd_wake")
int BPF_PROG(handle_kswapd_wake, int nid, int zid, int order)
{
	struct memshed_event *e;

	e = info_reserve(MEMSHED_EV_KSWAPD_WAKE, bpf_get_current_task_btf(), 0);
	if (!e)
		return 0;
	e->kswapd.nid = nid;
	e->kswapd.order = order;
	info_submit_now(e);
	return 0;
}

SEC("tp_btf/mm_vmscan_kswapd_sleep")
int BPF_PROG(handle_kswapd_sleep, int nid)
{
	struct memshed_event *e;

	e = info_reserve(MEMSHED_EV_KSWAPD_SLEEP, bpf_get_current_task_btf(), 0);
	if (!e)
		return 0;
	e->kswapd.nid = nid;
	info_submit_now(e);
	return 0;
}

SEC("tp_btf/mm_vmscan_throttled")
int BPF_PROG(handle_throttled, int nid, int usec_timeout, int usec_delayed, int reason)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct memshed_event *e;

	e = info_reserve(MEMSHED_EV_THROTTLED, task, comp_id_of(task));
	if (!e)
		return 0;
	e->stall.duration_ns = (__u64)usec_delayed * 1000;
	e->stall.reason = reason;
	e->stall.memcg_id = task_memcg_id(task);
	info_submit_now(e);
	return 0;
}

/* The kernel chose an OOM victim: the event memshed exists to prevent. */
SEC("tp_btf/mark_victim")
int BPF_PROG(handle_mark_victim, struct task_struct *task)
{
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	struct memshed_event *e;

	e = event_reserve(MEMSHED_EV_OOM_KILL, task, comp_id_of(task));
	if (!e)
		return 0;
	if (mm) {
		e->oom.total_vm_kb = BPF_CORE_READ(mm, total_vm) << (page_shift - 10);
		e->oom.rss_anon_kb = mm_counter(mm, MEMSHED_RSS_ANON) << (page_shift - 10);
		e->oom.rss_file_kb = mm_counter(mm, MEMSHED_RSS_FILE) << (page_shift - 10);
		e->oom.rss_shmem_kb = mm_counter(mm, MEMSHED_RSS_SHMEM) << (page_shift - 10);
	}
	e->oom.oom_score_adj = BPF_CORE_READ(task, signal, oom_score_adj);
	bpf_ringbuf_submit(e, 0);
	return 0;
}
