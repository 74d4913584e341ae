/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Records shared by the kernel programs (bpf/) and the daemon (user/):
 * ring-buffer events and map values. Fixed-width types only and no
 * #include: the BPF side gets __u32 & co. from vmlinux.h, user space from
 * <linux/types.h> (included by <bpf/libbpf.h> before this header).
 */
#ifndef MEMSHED_H
#define MEMSHED_H

#define MEMSHED_COMM_LEN	16
#define MEMSHED_MAX_COMPONENTS	4096	/* comp_id 0 means "not labelled" */
#define MEMSHED_NR_LEVELS	4

enum memshed_level {
	MEMSHED_LEVEL_LOW = 0,
	MEMSHED_LEVEL_MEDIUM = 1,
	MEMSHED_LEVEL_HIGH = 2,
	MEMSHED_LEVEL_CRITICAL = 3,
};

/* Per-process memory counters, in bytes, as the kernel's mm->rss_stat. */
enum memshed_rss_member {
	MEMSHED_RSS_FILE = 0,	/* MM_FILEPAGES */
	MEMSHED_RSS_ANON = 1,	/* MM_ANONPAGES */
	MEMSHED_RSS_SWAP = 2,	/* MM_SWAPENTS: not resident, kept apart */
	MEMSHED_RSS_SHMEM = 3,	/* MM_SHMEMPAGES */
	MEMSHED_NR_RSS = 4,
};

enum memshed_event_type {
	/* kernel events */
	MEMSHED_EV_EXEC = 1,		/* any exec: user space matches rules */
	MEMSHED_EV_FORK,		/* a labelled process forked (label inherited) */
	MEMSHED_EV_EXIT,		/* a labelled process exited */
	MEMSHED_EV_RECLAIM_STALL,	/* direct reclaim stalled a task > threshold */
	MEMSHED_EV_MEMCG_RECLAIM,	/* memcg reclaim stalled a task > threshold */
	MEMSHED_EV_KSWAPD_WAKE,
	MEMSHED_EV_KSWAPD_SLEEP,
	MEMSHED_EV_COMPACTION,		/* direct compaction stalled a task > threshold */
	MEMSHED_EV_THROTTLED,		/* reclaim throttled a task */
	MEMSHED_EV_OOM_KILL,		/* oom:mark_victim: the kernel OOM-killed a task */
	MEMSHED_EV_BUDGET,		/* component usage crossed a level threshold */
	MEMSHED_EV_RENAME,		/* a process renamed itself (prctl): match again */
	MEMSHED_EV_KERNEL_MAX,
	/* daemon events (decisions), written to the same log */
	MEMSHED_EV_LEVEL = 64,		/* effective level changed */
	MEMSHED_EV_CANDIDATES,		/* an evaluation: victims and skipped */
	MEMSHED_EV_UNLOAD,		/* an action was taken */
	MEMSHED_EV_RESULT,		/* outcome of an action, memory freed */
	MEMSHED_EV_THAW,
	MEMSHED_EV_LABEL,		/* a process was labelled from user space */
	MEMSHED_EV_DROPS,		/* ring-buffer reservations failed */
	MEMSHED_EV_CONFIG,		/* config loaded or reload refused */
	MEMSHED_EV_NOTICE,		/* anything else worth a line */
};

/* Header of every ring-buffer record. */
struct memshed_event_hdr {
	__u32 type;
	__u32 pid;		/* thread id */
	__u32 tgid;		/* process id */
	__u32 comp_id;		/* 0: not labelled */
	__u64 ts_ns;		/* CLOCK_MONOTONIC */
	char comm[MEMSHED_COMM_LEN];
};

struct memshed_event {
	struct memshed_event_hdr hdr;
	union {
		struct {
			__u32 ppid;		/* parent tgid (fork) */
			__u32 child_pid;	/* new task (fork) */
			__s32 exit_code;	/* exit */
			__u32 cgroup_level;	/* exec: depth of the dfl cgroup */
			__u64 cgroup_id;	/* exec: cgroup v2 id */
		} proc;
		struct {
			__u64 duration_ns;	/* stall of this task */
			__u64 nr_reclaimed;	/* pages reclaimed (reclaim end) */
			__u32 order;		/* allocation order */
			__u32 reason;		/* throttled: enum vmscan_throttle_state */
			__u64 memcg_id;		/* cgroup id of the task's memcg path (v2) */
			__u64 psi_some_total_ns;/* task's cgroup PSI "some" total, if readable */
		} stall;
		struct {
			__u32 nid;		/* kswapd node */
			__u32 order;
		} kswapd;
		struct {
			__u64 total_vm_kb;
			__u64 rss_anon_kb;
			__u64 rss_file_kb;
			__u64 rss_shmem_kb;
			__u32 oom_score_adj;
		} oom;
		struct {
			__u64 usage;		/* bytes, sum over components */
			__u32 old_level;
			__u32 new_level;
		} budget;
	};
};

/* Task-storage value: which component a task belongs to. */
struct memshed_task_label {
	__u32 comp_id;
	__u32 flags;
};

/* Per-process (tgid) record of a labelled process. */
struct memshed_proc {
	__u32 comp_id;
	__u32 sample_pass;		/* iterator pass that last reset runtime_ns */
	__u64 rss[MEMSHED_NR_RSS];	/* bytes per member */
	__u64 rss_total;		/* file + anon + shmem, bytes */
	__u64 runtime_ns;		/* CPU time of the whole process (sampled) */
	__u64 last_run_ns;		/* CLOCK_MONOTONIC of last seen on-CPU activity */
};

/* Per-component sums, indexed by comp_id. */
struct memshed_comp {
	__u64 rss_total;		/* bytes, sum of its processes' rss_total */
	__u64 last_run_ns;		/* latest last_run_ns of its processes */
};

/* Ring-buffer reservation failures, per cause; read from .bss. */
struct memshed_drops {
	__u64 ringbuf;
};

#endif /* MEMSHED_H */
