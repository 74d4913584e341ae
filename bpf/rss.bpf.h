/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Per-process RSS of labelled processes and the per-component sums, kept
 * exact under concurrent updates: each update swaps the process's new
 * total in atomically and adds the difference to the sums, so the sums
 * telescope to the sum of the latest process totals.
 */
#ifndef MEMSHED_RSS_BPF_H
#define MEMSHED_RSS_BPF_H

#include "memshed.bpf.h"
#include "core_fixes.bpf.h"

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

/* Usage moved by delta: report a change of level at once, so the daemon
 * reacts to a budget crossing without waiting for its timer. */
static __always_inline void usage_add(__s64 delta, __u32 tgid, __u32 comp_id)
{
	struct memshed_event *e;
	__u64 usage;
	__u32 level, old;

	usage = __sync_add_and_fetch(&usage_total, delta);
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

/* Read mm's counters into the process record and move the sums. */
static __always_inline void proc_refresh(struct memshed_proc *p, __u32 tgid,
					  struct mm_struct *mm)
{
	__u64 file, anon, shmem, total, old;
	struct memshed_comp *c;
	__u32 comp_id = p->comp_id;

	file = (__u64)mm_counter(mm, MEMSHED_RSS_FILE) << page_shift;
	anon = (__u64)mm_counter(mm, MEMSHED_RSS_ANON) << page_shift;
	shmem = (__u64)mm_counter(mm, MEMSHED_RSS_SHMEM) << page_shift;
	p->rss[MEMSHED_RSS_FILE] = file;
	p->rss[MEMSHED_RSS_ANON] = anon;
	p->rss[MEMSHED_RSS_SHMEM] = shmem;
	p->rss[MEMSHED_RSS_SWAP] = (__u64)mm_counter(mm, MEMSHED_RSS_SWAP) << page_shift;
	total = file + anon + shmem;

	old = __sync_lock_test_and_set(&p->rss_total, total);
	if (old == total)
		return;
	c = bpf_map_lookup_elem(&comps, &comp_id);
	if (c)
		__sync_fetch_and_add(&c->rss_total, total - old);
	usage_add((__s64)(total - old), tgid, comp_id);
}

/* Start tracking a process of comp_id (fork, or a label from user space
 * followed by a sample). */
static __always_inline void proc_track(__u32 tgid, __u32 comp_id, struct mm_struct *mm)
{
	struct memshed_proc init = { .comp_id = comp_id };
	struct memshed_proc *p;

	bpf_map_update_elem(&procs, &tgid, &init, BPF_NOEXIST);
	p = bpf_map_lookup_elem(&procs, &tgid);
	if (p && mm)
		proc_refresh(p, tgid, mm);
}

/* The process is gone: its memory leaves the sums. */
static __always_inline void proc_untrack(__u32 tgid, __u32 comp_id)
{
	struct memshed_proc *p;
	struct memshed_comp *c;
	__u64 old;

	p = bpf_map_lookup_elem(&procs, &tgid);
	if (!p)
		return;
	old = __sync_lock_test_and_set(&p->rss_total, 0);
	c = bpf_map_lookup_elem(&comps, &p->comp_id);
	if (c && old)
		__sync_fetch_and_add(&c->rss_total, -old);
	if (old)
		usage_add(-(__s64)old, tgid, comp_id);
	bpf_map_delete_elem(&procs, &tgid);
}

#endif
