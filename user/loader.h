/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Loads memshed's kernel programs and is the only user of their maps. */
#ifndef MEMSHED_LOADER_H
#define MEMSHED_LOADER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <bpf/libbpf.h>
#include "memshed.h"
#include "config.h"

struct memshed;		/* the skeleton */

struct loader_opts {
	uint32_t ringbuf_size;		/* bytes of the "info" ring, power of two */
	uint64_t stall_threshold_ns;
	enum rss_mode rss_mode;
	uint32_t fault_period;		/* rss_mode auto: page faults between samples */
	const char *btf_path;		/* NULL: the running kernel's */
	bool verbose;			/* show libbpf's own messages */
	bool info_unlimited;		/* the benchmark's: no per-user limit on info events */
	uint64_t info_wake_ns;		/* 0: MEMSHED_INFO_WAKE_NS (the daemon's; tests set more) */
};

typedef int (*loader_event_fn)(void *ctx, const struct memshed_event *e);

struct loader {
	struct memshed *skel;
	struct ring_buffer *rb;
	loader_event_fn on_event;
	void *on_event_ctx;
	struct memshed_comp *comps;	/* the kernel's comps array, ids 0..nr_comps mapped */
	size_t comps_len;
	bool rss_tracepoint_attached;
	bool faults;			/* fault sampling works on this host */
	uint32_t fault_period;
	uint64_t sample_pass;
	uint64_t recv_wanted_ns;	/* a pass last saw a socket only the receive hook sees */
	unsigned int recv_hook_failed;	/* attaching it failed (logged once) */
};

/* Why the kernel side could not be set up (exit codes: see main.c). */
enum loader_error {
	LOADER_OK = 0,
	LOADER_NO_PRIVILEGE,	/* not root / no CAP_BPF+CAP_PERFMON */
	LOADER_NO_BTF,		/* kernel BTF missing */
	LOADER_REJECTED,	/* the verifier or the kernel refused a program */
};

/* Open, configure, load and attach. On failure *ret_why says which class
 * of problem it was and a message has been logged naming what to do. */
int loader_start(struct loader *ld, const struct loader_opts *opts,
		 loader_event_fn on_event, void *ctx, enum loader_error *ret_why);
void loader_stop(struct loader *ld);

int loader_epoll_fd(const struct loader *ld);
int loader_poll_events(struct loader *ld);	/* drain both rings, decisions first */

/* One label now, keyed by a pidfd so that a recycled PID is never labelled. */
int loader_label(struct loader *ld, int pidfd, pid_t tgid, uint32_t comp_id);
int loader_unlabel(struct loader *ld, int pidfd, pid_t tgid);
/* Many labels (comp_id 0: unlabel), applied by the next loader_sample()
 * to exactly the processes with these start times. */
int loader_queue_labels(struct loader *ld, const uint32_t *tgids,
			const struct memshed_pending_label *labels, uint32_t n);

int loader_set_exec_events(struct loader *ld, bool on);
/* Report only execs of these comms (NULL: every exec). */
int loader_set_exec_filter(struct loader *ld, const char *const *comms, int n);

/* Every process on the host, from one iterator pass. */
typedef int (*loader_task_fn)(void *ctx, const struct memshed_task_info *ti);
int loader_dump_tasks(struct loader *ld, loader_task_fn fn, void *ctx);

/* One sample pass: pending labels applied, fresh RSS and CPU use, the
 * component sums resynchronised. */
int loader_sample(struct loader *ld);
/* The kernel's record of a component, in place (NULL: not a comp_id
 * 1..nr_comps of the last loader_set_components). */
struct memshed_comp *loader_comp(struct loader *ld, uint32_t comp_id);
/* comp_ids 1..nr_comps are in use: records past them are cleared, and only
 * theirs are mapped. */
int loader_set_components(struct loader *ld, uint32_t nr_comps);
void loader_set_idle_cpu(struct loader *ld, double share, uint64_t window_ns);
/* Iterate labelled processes, each at most once: fn returns nonzero to stop. */
int loader_for_each_proc(struct loader *ld,
			 int (*fn)(void *ctx, pid_t tgid, const struct memshed_proc *p),
			 void *ctx);
/* Key the listening sockets of labelled processes to their components;
 * with conns, their established TCP connections too (before hibernating). */
int loader_mark_sockets(struct loader *ld, bool conns);
/* Attach the data-knock probe (while any component is hibernated). */
int loader_knock_probe(struct loader *ld, bool on);
/* Is the receive hook attached (a labelled process held a UNIX or UDP
 * socket at a recent sample pass)? */
bool loader_recv_hook(const struct loader *ld);

/* Fault sampling of one thread and its future children: a perf event
 * fd the caller owns (close it to stop), or -errno. */
int loader_watch_faults(struct loader *ld, pid_t tid);

/* Budget thresholds in bytes, [LEVEL_LOW] is the relief line (0 = off). */
void loader_set_budget(struct loader *ld, const uint64_t bytes[NR_LEVELS]);
uint64_t loader_usage(const struct loader *ld);

struct loader_drops {
	uint64_t events;	/* decision ring full */
	uint64_t info;		/* info ring full */
	uint64_t limited;	/* info events over a user's rate */
};
void loader_drops(const struct loader *ld, struct loader_drops *ret);
/* Attach or detach the rss_stat tracepoint. */
int loader_rss_tracepoint(struct loader *ld, bool on);

#endif
