/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The running daemon's state, shared by daemon.c (setup, the loop and its
 * fds), round.c (evaluations and rounds of unloads) and commands.c (control
 * requests). Private to those three files.
 */
#ifndef MEMSHED_DAEMON_STATE_H
#define MEMSHED_DAEMON_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "actuator.h"
#include "control.h"
#include "daemon.h"
#include "eventring.h"
#include "history.h"
#include "loader.h"
#include "pressure.h"
#include "registry.h"
#include "report.h"

#define MAX_ROUND_JOBS	64
#define NS_PER_SEC	1000000000ull
#define NS_PER_MS	1000000ull

/* What an fd in the epoll set is (the high half of its epoll data). */
enum tag { TAG_RINGBUF = 1, TAG_SIGNAL, TAG_TIMER, TAG_CONTROL, TAG_CLIENT, TAG_PSI, TAG_JOB };

/* One round of unloads: started together, waited for, then measured. */
struct round {
	bool active;
	enum level level;
	int nr_jobs;
	struct unload_job jobs[MAX_ROUND_JOBS];
	uint64_t rss_before[MAX_ROUND_JOBS];
	uint64_t started_ns, deadline_ns, measure_at_ns;
	char cause[160];
};

struct daemon {
	struct run_opts opts;
	struct config *cfg;
	struct loader ld;
	bool bpf;
	struct registry reg;
	struct pressure pr;
	struct actuator act;
	struct control_server ctl;
	struct eventring *ring;
	int epfd, sigfd, timerfd;
	struct round round;
	uint64_t cooldown_until_ns;
	uint64_t next_sample_ns;	/* when usage is looked at next (round_sample) */
	uint64_t recheck_at_ns;		/* a recent component's min idle ends: decide again; 0 none */
	uint64_t ring_recheck_ns;	/* look at the rings again (lazy lifecycle records); 0 none */
	/* The last candidates record: an identical decision is not written
	 * again (a budget or PSI wake-up storm would bury the history), only
	 * counted, and repeated once a minute while it lasts. */
	struct strbuf last_candidates;
	uint64_t candidates_at_ns;
	uint64_t candidates_repeated;
	bool eval_pending;
	const char *eval_reason;
	bool stop;
	enum level level;
	bool pressured;			/* pressure since the last relief: relief thaws */
	struct report_counters counters;
	struct history hist;		/* what replay needs, coalesced */
	uint64_t started_ns;
};

/* daemon.c */
int daemon_watch(struct daemon *d, enum tag t, int fd, uint32_t events);
void daemon_unwatch(struct daemon *d, int fd);
/* Apply the config file again as a whole; a bad file keeps the running one
 * (err says why). 0 or -errno. */
int daemon_reload(struct daemon *d, char *err, size_t errlen);
/* The event log's sinks of the running daemon: the on-disk ring (d->ring,
 * if open) and the control socket's followers. */
void daemon_add_sinks(struct daemon *d);
/* One kernel event (the ring buffer's callback): label, log. */
int daemon_on_kernel_event(void *ctx, const struct memshed_event *e);
/* What status, explain and the metrics are rendered from. */
void daemon_fill_report(struct daemon *d, struct report_input *in);

#endif
