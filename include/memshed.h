/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Records shared by the kernel programs (bpf/) and the daemon (user/):
 * ring-buffer events, iterator records and map values. Fixed-width types
 * only and no #include: the BPF side gets __u32 & co. from vmlinux.h, user
 * space from <linux/types.h> (included by <bpf/libbpf.h> before this header).
 */
#ifndef MEMSHED_H
#define MEMSHED_H

#define MEMSHED_COMM_LEN	16
#define MEMSHED_MAX_COMPONENTS	4096	/* comp_id 0 means "not labelled" */
#define MEMSHED_NR_LEVELS	4
/* Lifecycle records (exec, fork, exit, rename) wake the daemon at most once
 * per this: one submitted within it of one that did is left for the
 * daemon's next look, which it takes this long after a drain that found
 * records (a wake-up is an interrupt to self: ~20 us in a guest). */
#define MEMSHED_INFO_WAKE_NS	10000000ull

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
	/* kernel events: decisions depend on these (ring "events") */
	MEMSHED_EV_OOM_KILL = 1,	/* oom:mark_victim: the kernel OOM-killed a task */
	MEMSHED_EV_BUDGET,		/* component usage crossed a level threshold */
	MEMSHED_EV_KNOCK,		/* a client reached a hibernated component */
	/* kernel events: informational, rate-limited per user (ring "info") */
	MEMSHED_EV_EXEC,		/* an exec: user space matches rules */
	MEMSHED_EV_FORK,		/* a labelled process forked (label inherited) */
	MEMSHED_EV_EXIT,		/* a labelled process exited */
	MEMSHED_EV_RENAME,		/* a process renamed itself (prctl): match again */
	MEMSHED_EV_RECLAIM_STALL,	/* direct reclaim stalled a task > threshold */
	MEMSHED_EV_MEMCG_RECLAIM,	/* memcg reclaim stalled a task > threshold */
	MEMSHED_EV_COMPACTION,		/* direct compaction stalled a task > threshold */
	MEMSHED_EV_THROTTLED,		/* reclaim throttled a task */
	MEMSHED_EV_KSWAPD_WAKE,
	MEMSHED_EV_KSWAPD_SLEEP,
	MEMSHED_EV_KERNEL_MAX,
	/* daemon events (decisions), written to the same log */
	MEMSHED_EV_LEVEL = 64,		/* effective level changed */
	MEMSHED_EV_CANDIDATES,		/* an evaluation: victims and skipped */
	MEMSHED_EV_UNLOAD,		/* an action was taken */
	MEMSHED_EV_RESULT,		/* outcome of an action, memory freed */
	MEMSHED_EV_THAW,
	MEMSHED_EV_DROPS,		/* ring-buffer reservations failed, events rate-limited */
	MEMSHED_EV_CONFIG,		/* config loaded or reload refused */
	MEMSHED_EV_NOTICE,		/* anything else worth a line */
	MEMSHED_EV_SAMPLE,		/* the level's inputs, when they moved (history.c) */
	MEMSHED_EV_STATE,		/* a component's state, when it moved (history.c) */
};

/* Header of every ring-buffer record. */
struct memshed_event_hdr {
	__u32 type;
	__u32 pid;		/* thread id */
	__u32 tgid;		/* process id */
	__u32 comp_id;		/* 0: not labelled */
	__u64 ts_ns;		/* CLOCK_MONOTONIC */
	__u64 start_time;	/* the process's start (task->start_time, ns): its identity */
	char comm[MEMSHED_COMM_LEN];
};

struct memshed_event {
	struct memshed_event_hdr hdr;
	union {
		struct {
			__u32 ppid;		/* parent tgid (fork, exec) */
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
		struct {
			__u32 family;		/* AF_INET, AF_INET6 */
			__u32 port;		/* local port that was reached */
			__u32 kind;		/* MEMSHED_KNOCK_* */
		} knock;
	};
};

enum memshed_knock_kind {
	MEMSHED_KNOCK_CONNECT = 1,	/* a new connection to one of its listeners */
	MEMSHED_KNOCK_DATA = 2,		/* data for one of its established connections */
};

/* Task-storage value: which component a task belongs to. */
struct memshed_task_label {
	__u32 comp_id;
	__u32 flags;
};

/* Per-process (tgid) record of a labelled process. */
struct memshed_proc {
	__u32 comp_id;
	__u32 sample_pass;		/* iterator pass that last visited it */
	__u64 start_time;		/* task->start_time of the process: a recycled PID differs */
	__u64 rss[MEMSHED_NR_RSS];	/* bytes per member, of its mm */
	__u64 rss_total;		/* counted bytes: 0 while it shares another process's mm */
	__u64 runtime_ns;		/* CPU time of the whole process (summed each pass) */
	__u64 cpu_base_ns;		/* runtime at the start of the current CPU window */
	__u64 cpu_base_ts;		/* when that window started (0: not yet) */
};

/*
 * Per-component state, indexed by comp_id, in an array user space maps:
 * the daemon reads the kernel's sums without a syscall and never adds them
 * up itself.
 */
struct memshed_comp {
	__u64 rss_total;		/* bytes: moved by every update, resynchronised each sample */
	__u64 rss[MEMSHED_NR_RSS];	/* bytes per member, as of the last sample */
	__u32 nr_procs;			/* processes, as of the last sample */
	__u32 flags;			/* MEMSHED_COMP_* (set by user space) */
	__u64 last_recv_ns;		/* one of its processes received data on a socket */
	__u64 last_accept_ns;		/* a connection arrived at one of its listeners */
	__u64 last_cpu_ns;		/* one of its processes used more than idle_cpu */
	__u64 sample_ns;		/* when rss[] and nr_procs were computed */
	__u64 recv_tick;		/* jiffies of last_recv_ns (kernel only) */
	__u64 accept_tick;		/* jiffies of last_accept_ns (kernel only) */
};

#define MEMSHED_COMP_HIBERNATED	0x1	/* a knock on its sockets wakes the daemon */
#define MEMSHED_COMP_KNOCKED	0x2	/* the knock was reported (set by the kernel) */

/* What the task dump iterator writes for each process (user space reads
 * them all in one pass to label what already runs). */
struct memshed_task_info {
	__u32 tgid;
	__u32 ppid;			/* real parent's tgid */
	__u32 uid;			/* real uid */
	__u32 comp_id;			/* its label now (0: none) */
	__u64 start_time;		/* task->start_time */
	__u64 cgroup_id;		/* cgroup v2 (default hierarchy) id */
	__u64 memcg_id;			/* v1 memory cgroup id, where one is mounted */
	__u32 nr_threads;
	__u32 pad;
	char comm[MEMSHED_COMM_LEN];
};

/* A label (or, with comp_id 0, an unlabel) for the next sample pass to
 * apply, keyed by tgid: only the process with this start time gets it. */
struct memshed_pending_label {
	__u32 comp_id;
	__u32 pad;
	__u64 start_time;
};

/* Key of a listening socket of a labelled process: its network namespace
 * and local port. A new connection to it is an access (and a knock). */
struct memshed_listener_key {
	__u64 net;			/* struct net address: the namespace */
	__u32 port;			/* host byte order */
	__u32 family;
};

/* Key of an established TCP connection of a labelled process (recorded
 * when it hibernates): data arriving on it is a knock. */
struct memshed_conn_key {
	__u64 net;
	__u8 saddr[16];			/* local address (IPv4 in the first 4 bytes) */
	__u8 daddr[16];			/* remote address */
	__u16 sport;			/* local port, host byte order */
	__u16 dport;			/* remote port, network byte order (as the kernel keeps it) */
	__u32 family;
};

#endif /* MEMSHED_H */
