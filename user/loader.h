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
	uint32_t ringbuf_size;		/* bytes, power of two */
	uint64_t stall_threshold_ns;
	enum rss_mode rss_mode;
	enum activity_source activity_source;
	const char *btf_path;		/* NULL: the running kernel's */
	bool verbose;			/* show libbpf's own messages */
};

typedef int (*loader_event_fn)(void *ctx, const struct memshed_event *e);

struct loader {
	struct memshed *skel;
	struct ring_buffer *rb;
	loader_event_fn on_event;
	void *on_event_ctx;
	bool rss_tracepoint_attached;
	uint64_t sample_pass;
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
int loader_poll_events(struct loader *ld);	/* drain the ring buffer */

/* Labels, keyed by a pidfd so that a recycled PID is never labelled. */
int loader_label(struct loader *ld, int pidfd, pid_t tgid, uint32_t comp_id);
int loader_unlabel(struct loader *ld, int pidfd, pid_t tgid);
int loader_set_exec_events(struct loader *ld, bool on);
/* Report only execs of these comms (NULL: every exec). */
int loader_set_exec_filter(struct loader *ld, const char *const *comms, int n);

/* Run the task iterator once: fresh RSS and CPU runtime for all labelled
 * processes. */
int loader_sample(struct loader *ld);
int loader_read_proc(struct loader *ld, pid_t tgid, struct memshed_proc *ret);
int loader_read_comp(struct loader *ld, uint32_t comp_id, struct memshed_comp *ret);
/* Iterate labelled processes: fn returns nonzero to stop. */
int loader_for_each_proc(struct loader *ld,
			 int (*fn)(void *ctx, pid_t tgid, const struct memshed_proc *p),
			 void *ctx);

/* Budget thresholds in bytes, [LEVEL_LOW] is the relief line (0 = off). */
void loader_set_budget(struct loader *ld, const uint64_t bytes[NR_LEVELS]);
uint64_t loader_usage(const struct loader *ld);
uint32_t loader_budget_level(const struct loader *ld);
uint64_t loader_drops(const struct loader *ld);
/* Attach or detach the rss_stat tracepoint (rss_mode auto). */
int loader_rss_tracepoint(struct loader *ld, bool on);
void loader_forget_comp(struct loader *ld, uint32_t comp_id);

#endif
