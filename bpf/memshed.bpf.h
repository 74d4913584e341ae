/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Maps, settings and helpers shared by memshed's kernel programs. Each role
 * (lifecycle, scan, rss, activity, pressure) is its own .bpf.c; `bpftool gen
 * object` links them into one object, so the maps below are defined __weak
 * in every file and merged into one by the linker.
 */
#ifndef MEMSHED_BPF_H
#define MEMSHED_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "memshed.h"

#define PF_KTHREAD	0x00200000	/* include/linux/sched.h */
#define NS_PER_SEC	1000000000ull

/* Which component a process belongs to. Kept on the thread-group leader
 * only: every thread finds it through task->group_leader. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct memshed_task_label);
} task_labels SEC(".maps") __weak;

/* Labelled processes by tgid. Preallocated: it is updated from the
 * page-fault path and under memory pressure, where allocation may fail. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct memshed_proc);
} procs SEC(".maps") __weak;

/* Per-component sums and last accesses, indexed by comp_id; user space
 * maps it and reads it in place. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, MEMSHED_MAX_COMPONENTS);
	__type(key, __u32);
	__type(value, struct memshed_comp);
} comps SEC(".maps") __weak;

/*
 * Two rings, so that what decisions depend on (budget crossings, OOM
 * kills, knocks) can never be crowded out by a flood of what merely
 * informs (exec, rename, fork, exit, stalls): "events" is small and only
 * ever carries the former; "info" is sized by the config and rate-limited
 * per user.
 */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} info SEC(".maps") __weak;

/* Per-user budget of informational events: a token bucket kept as the
 * time the bucket is full again (GCRA). LRU: a uid flood cannot fill it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} info_budget SEC(".maps") __weak;

/*
 * Mutable state shared with user space through the skeleton's .bss.
 * Thresholds live here, not in .rodata, because a config reload changes
 * them while the programs stay loaded.
 */
extern __u64 ringbuf_drops;			/* "events" reservations that failed */
extern __u64 info_drops;			/* "info" reservations that failed */
extern __u64 info_limited;			/* info events over a user's budget */
extern __u64 info_lost[MEMSHED_EV_KERNEL_MAX];	/* either of the two, per event type */
extern __u64 usage_total;			/* bytes, sum over components */
extern __u64 budget_bytes[MEMSHED_NR_LEVELS];	/* 0: level off */
extern __u32 budget_level;			/* level of usage_total */
extern __u32 exec_events;			/* 1: report execs and renames */
extern __u64 info_woke_ns;			/* a lifecycle record last woke the daemon */

/* Settings written to .rodata before load. */
extern const volatile __u32 page_shift;
extern const volatile __u32 nr_cpus;		/* possible CPUs, for per-CPU sums */
extern const volatile __u64 stall_threshold_ns;
extern const volatile __u64 info_interval_ns;	/* one info event per user per this... */
extern const volatile __u64 info_burst;		/* ...after a burst of this many */
extern const volatile __u64 info_wake_ns;	/* lifecycle records wake at most once per this */

/* The label of a task's process, or NULL if it is not labelled. */
static __always_inline struct memshed_task_label *label_of(struct task_struct *task)
{
	return bpf_task_storage_get(&task_labels, task->group_leader, 0, 0);
}

static __always_inline __u32 comp_id_of(struct task_struct *task)
{
	struct memshed_task_label *l = label_of(task);

	return l ? l->comp_id : 0;
}

static __always_inline struct memshed_comp *comp_of(__u32 comp_id)
{
	return comp_id ? bpf_map_lookup_elem(&comps, &comp_id) : NULL;
}

static __always_inline void event_fill(struct memshed_event *e, __u32 type,
				       struct task_struct *task, __u32 comp_id)
{
	__builtin_memset(&e->hdr, 0, sizeof(e->hdr));
	e->hdr.type = type;
	e->hdr.ts_ns = bpf_ktime_get_ns();
	e->hdr.pid = BPF_CORE_READ(task, pid);
	e->hdr.tgid = BPF_CORE_READ(task, tgid);
	e->hdr.start_time = BPF_CORE_READ(task, group_leader, start_time);
	e->hdr.comp_id = comp_id;
	bpf_probe_read_kernel_str(e->hdr.comm, sizeof(e->hdr.comm), &task->comm);
}

/* An event decisions depend on: its own ring, never rate-limited. */
static __always_inline struct memshed_event *
event_reserve(__u32 type, struct task_struct *task, __u32 comp_id)
{
	struct memshed_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		__sync_fetch_and_add(&ringbuf_drops, 1);
		return NULL;
	}
	event_fill(e, type, task, comp_id);
	return e;
}

/* May the user `uid` have one more informational event now? */
static __always_inline bool info_allowed(__u32 uid)
{
	__u64 now = bpf_ktime_get_ns(), *tat, next;
	__u64 window = info_interval_ns * info_burst;

	tat = bpf_map_lookup_elem(&info_budget, &uid);
	if (!tat) {
		next = now + info_interval_ns;
		bpf_map_update_elem(&info_budget, &uid, &next, BPF_ANY);
		return true;
	}
	next = *tat > now ? *tat : now;
	if (next > now + window) {
		__sync_fetch_and_add(&info_limited, 1);
		return false;
	}
	*tat = next + info_interval_ns;	/* races between CPUs only err generously */
	return true;
}

/* An informational event: rate-limited per real uid of the task (a fork
 * or exec loop makes new processes, not new users), on the "info" ring. */
static __always_inline struct memshed_event *
info_reserve(__u32 type, struct task_struct *task, __u32 comp_id)
{
	struct memshed_event *e;

	if (!info_allowed(BPF_CORE_READ(task, real_cred, uid.val))) {
		__sync_fetch_and_add(&info_lost[type % MEMSHED_EV_KERNEL_MAX], 1);
		return NULL;
	}
	e = bpf_ringbuf_reserve(&info, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&info_drops, 1);
		__sync_fetch_and_add(&info_lost[type % MEMSHED_EV_KERNEL_MAX], 1);
		return NULL;
	}
	event_fill(e, type, task, comp_id);
	return e;
}

/* A lifecycle record: it wakes the daemon only if none did in the last
 * info_wake_ns (MEMSHED_INFO_WAKE_NS); within that the daemon looks again
 * by itself (user/daemon.c, ring_drain). Races between CPUs only wake more. */
static __always_inline void info_submit_lazy(struct memshed_event *e)
{
	__u64 now = e->hdr.ts_ns;

	if (now - info_woke_ns < info_wake_ns) {
		bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
		return;
	}
	info_woke_ns = now;
	bpf_ringbuf_submit(e, 0);
}

/* An informational record the daemon reacts to at once (reclaim, stalls):
 * lazy records may be waiting ahead of it, so the usual wake-up (only when
 * the ring was empty) would not come; force it then. */
static __always_inline void info_submit_now(struct memshed_event *e)
{
	bpf_ringbuf_submit(e, e->hdr.ts_ns - info_woke_ns < info_wake_ns ?
			   BPF_RB_FORCE_WAKEUP : 0);
}

#endif
