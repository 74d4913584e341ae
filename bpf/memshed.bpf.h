/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Maps, settings and helpers shared by memshed's kernel programs. Each role
 * (lifecycle, pressure, rss, activity) is its own .bpf.c; `bpftool gen
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

/* Per-component sums, indexed by comp_id. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MEMSHED_MAX_COMPONENTS);
	__type(key, __u32);
	__type(value, struct memshed_comp);
} comps SEC(".maps") __weak;

/* Every event goes through this one ring buffer; size set before load. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps") __weak;

/*
 * Mutable state shared with user space through the skeleton's .bss.
 * Thresholds live here, not in .rodata, because a config reload changes
 * them while the programs stay loaded.
 */
extern __u64 ringbuf_drops;			/* failed reservations */
extern __u64 usage_total;			/* bytes, sum over components */
extern __u64 budget_bytes[MEMSHED_NR_LEVELS];	/* 0: level off */
extern __u32 budget_level;			/* level of usage_total */
extern __u32 exec_events;			/* 1: report every exec */

/* Settings written to .rodata before load. */
extern const volatile __u32 page_shift;
extern const volatile __u64 stall_threshold_ns;

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

static __always_inline struct memshed_event *
event_reserve(__u32 type, struct task_struct *task, __u32 comp_id)
{
	struct memshed_event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&ringbuf_drops, 1);
		return NULL;
	}
	__builtin_memset(&e->hdr, 0, sizeof(e->hdr));
	e->hdr.type = type;
	e->hdr.ts_ns = bpf_ktime_get_ns();
	e->hdr.pid = BPF_CORE_READ(task, pid);
	e->hdr.tgid = BPF_CORE_READ(task, tgid);
	e->hdr.comp_id = comp_id;
	bpf_probe_read_kernel_str(e->hdr.comm, sizeof(e->hdr.comm), &task->comm);
	return e;
}

#endif
