/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Per-process RSS of labelled processes and the per-component sums, kept
 * exact under concurrent updates: each update swaps the process's new
 * total in atomically and adds the difference to the sums, so the sums
 * telescope to the sum of the latest process totals. Memory is counted
 * once per mm: a process that shares another's mm (a vfork or posix_spawn
 * child before its exec) counts 0.
 */
#ifndef MEMSHED_RSS_BPF_H
#define MEMSHED_RSS_BPF_H

#include "memshed.bpf.h"
#include "core_fixes.bpf.h"

extern __u64 sample_pass;

static __always_inline __u32 usage_level(__u64 usage)
{
	__u32 level = MEMSHED_LEVEL_LOW;

	/* budget_bytes[LOW] is the relief line, not a level. */
	if (budget_bytes[MEMSHED_LEVEL_MEDIUM] && usage >= budget_bytes[MEMSHED_LEVEL_MEDIUM])
		level = MEMSHED_LEVEL_MEDIUM;
	if (budget_bytes[MEMSHED_LEVEL_HIGH] && usage >= budget_bytes[MEMSHED_LEVEL_HIGH])
		level = MEMSHED_LEVEL_HIGH;
	if (budget_bytes[MEMSHED_LEVEL_CRITICAL] && usage >= budget_bytes[MEMSHED_LEVEL_CRITICAL])
		level = MEMSHED_LEVEL_CRITICAL;
	return level;
}

/* Usage is now `usage`: report a change of level at once, so the daemon
 * reacts to a budget crossing without waiting for its timer. */
static __always_inline void usage_check(__u64 usage, __u32 tgid, __u32 comp_id)
{
	struct memshed_event *e;
	__u32 level, old;

	level = usage_level(usage);
	if (level == budget_level)
		return;
	old = __sync_lock_test_and_set(&budget_level, level);
	if (old == level)
		return;		/* another CPU reported it */
	e = event_reserve(MEMSHED_EV_BUDGET, bpf_get_current_task_btf(), comp_id);
	if (!e)
		return;
	e->hdr.tgid = tgid;	/* the process whose growth crossed */
	e->budget.usage = usage;
	e->budget.old_level = old;
	e->budget.new_level = level;
	bpf_ringbuf_submit(e, 0);
}

/* Does this process own mm, or does it borrow another process's (CLONE_VM
 * without CLONE_THREAD)? mm->owner (CONFIG_MEMCG) names the owner. */
static __always_inline bool mm_owned_by(struct mm_struct *mm, __u32 tgid)
{
	struct task_struct *owner;

	if (!bpf_core_field_exists(mm->owner))
		return true;
	owner = mm->owner;
	return !owner || owner->tgid == tgid;
}

/*
 * A CPU's part of a percpu counter sits at counters + __per_cpu_offset[cpu].
 * That array has neither BTF nor (without CONFIG_KALLSYMS_ALL) a symbol,
 * so the sample pass learns it once from a per-CPU array map of its own
 * (learn_cpu_offsets()): a CPU's copy of the value minus the map's
 * __percpu pointer. Until then, or beyond MEMSHED_SUM_CPUS_MAX CPUs, the
 * folded value is used.
 */
#define MEMSHED_SUM_CPUS_MAX	64

extern __u64 cpu_off[MEMSHED_SUM_CPUS_MAX];
extern __u32 cpu_off_known;

/*
 * Add each CPU's part to the folded counts. Kernels that allocate an mm's
 * four counters together (percpu_counter_init_many(), 6.7) keep a CPU's
 * parts side by side: one read of 16 bytes per CPU, where apart they take
 * four (each bpf_probe_read_kernel() costs about as much as the rest of a
 * process's refresh).
 */
static __always_inline void mm_counters_add_cpus(struct mm_struct *mm, long v[MEMSHED_NR_RSS])
{
	char *c[MEMSHED_NR_RSS] = {
		(char *)mm->rss_stat[0].counters, (char *)mm->rss_stat[1].counters,
		(char *)mm->rss_stat[2].counters, (char *)mm->rss_stat[3].counters,
	};
	bool together = c[1] == c[0] + 4 && c[2] == c[0] + 8 && c[3] == c[0] + 12;

	for (__u32 cpu = 0; cpu < MEMSHED_SUM_CPUS_MAX && cpu < nr_cpus; cpu++) {
		int part[MEMSHED_NR_RSS] = {};

		if (together) {
			bpf_probe_read_kernel(part, sizeof(part), c[0] + cpu_off[cpu]);
		} else {
			for (int m = 0; m < MEMSHED_NR_RSS; m++)
				bpf_probe_read_kernel(&part[m], sizeof(part[m]), c[m] + cpu_off[cpu]);
		}
		for (int m = 0; m < MEMSHED_NR_RSS; m++)
			v[m] += part[m];
	}
}

/*
 * mm's four RSS counters, in bytes: folded (cheap, the fault and
 * tracepoint paths) or summed over the CPUs (exact, the sample pass). The
 * folded counts are loaded directly (the verifier makes such loads
 * fault-safe), not through bpf_probe_read_kernel().
 */
static __always_inline void mm_rss_read(struct mm_struct *mm, __u64 out[MEMSHED_NR_RSS], bool exact)
{
	long v[MEMSHED_NR_RSS];

	if (bpf_core_type_exists(struct mm_rss_stat___old_probe)) {
		for (int m = 0; m < MEMSHED_NR_RSS; m++)
			v[m] = mm_counter(mm, m);
	} else {
		v[0] = mm->rss_stat[0].count;
		v[1] = mm->rss_stat[1].count;
		v[2] = mm->rss_stat[2].count;
		v[3] = mm->rss_stat[3].count;
		if (exact && cpu_off_known == 1)
			mm_counters_add_cpus(mm, v);
	}
	for (int m = 0; m < MEMSHED_NR_RSS; m++)	/* like percpu_counter_sum_positive() */
		out[m] = v[m] > 0 ? (__u64)v[m] << page_shift : 0;
}

/* Read mm's counters into the process record and move the sums. */
static __always_inline void proc_refresh(struct memshed_proc *p, __u32 tgid,
					  struct mm_struct *mm, bool exact)
{
	__u64 rss[MEMSHED_NR_RSS], total, old;
	struct memshed_comp *c;
	__u32 comp_id = p->comp_id;

	mm_rss_read(mm, rss, exact);
	for (int m = 0; m < MEMSHED_NR_RSS; m++)
		p->rss[m] = rss[m];
	total = mm_owned_by(mm, tgid) ?
		rss[MEMSHED_RSS_FILE] + rss[MEMSHED_RSS_ANON] + rss[MEMSHED_RSS_SHMEM] : 0;

	old = __sync_lock_test_and_set(&p->rss_total, total);
	if (old == total)
		return;
	c = comp_of(comp_id);
	if (c)
		__sync_fetch_and_add(&c->rss_total, total - old);
	usage_check(__sync_add_and_fetch(&usage_total, total - old), tgid, comp_id);
}

/* Start tracking a process of comp_id (fork, exec, a pending label). */
static __always_inline struct memshed_proc *
proc_track(__u32 tgid, __u32 comp_id, __u64 start_time, struct mm_struct *mm)
{
	/* Visited in this pass already: a record created during a pass is
	 * not taken for one whose process is gone. */
	struct memshed_proc init = { .comp_id = comp_id, .start_time = start_time,
				     .sample_pass = (__u32)sample_pass };
	struct memshed_proc *p;

	bpf_map_update_elem(&procs, &tgid, &init, BPF_NOEXIST);
	p = bpf_map_lookup_elem(&procs, &tgid);
	if (!p)
		return NULL;
	if (p->comp_id != comp_id || p->start_time != start_time) {
		/* Relabelled, or a stale record of a recycled PID: start over. */
		__u64 old = __sync_lock_test_and_set(&p->rss_total, 0);
		struct memshed_comp *c = comp_of(p->comp_id);

		if (c && old)
			__sync_fetch_and_add(&c->rss_total, -old);
		if (old)
			__sync_fetch_and_add(&usage_total, -old);
		p->comp_id = comp_id;
		p->start_time = start_time;
		p->cpu_base_ts = 0;
	}
	if (mm)
		proc_refresh(p, tgid, mm, false);
	return p;
}

/* The process is gone: its memory leaves the sums. */
static __always_inline void proc_untrack(__u32 tgid)
{
	struct memshed_proc *p;
	struct memshed_comp *c;
	__u64 old;

	p = bpf_map_lookup_elem(&procs, &tgid);
	if (!p)
		return;
	old = __sync_lock_test_and_set(&p->rss_total, 0);
	c = comp_of(p->comp_id);
	if (c && old)
		__sync_fetch_and_add(&c->rss_total, -old);
	if (old)
		usage_check(__sync_add_and_fetch(&usage_total, -old), tgid, p->comp_id);
	bpf_map_delete_elem(&procs, &tgid);
}

#endif
