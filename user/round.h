/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Decisions in rounds (DESIGN 6): evaluate the level, choose victims by the
 * policy, start their actions as one round, wait for them through the
 * loop, measure what was freed, and only then decide again.
 */
#ifndef MEMSHED_ROUND_H
#define MEMSHED_ROUND_H

#include <stdbool.h>
#include <stdint.h>
#include "values.h"

struct daemon;
struct component;
struct memshed_event;

/* Evaluate again as soon as the cooldown allows (reason: the first asked). */
void round_request_eval(struct daemon *d, const char *reason);
/* Measure, update the level, relieve, and decide if the level calls for it. */
void round_evaluate(struct daemon *d, const char *reason);
/* Start a round at level, and one component's action (its ladder's step at
 * level) in it. */
void round_begin(struct daemon *d, enum level level, const char *cause);
void round_follow_reload(struct daemon *d);
/* as_configured: the ladder's step at level itself, never skipped for a
 * guess (an operator's request); otherwise the policy's step (policy_step).
 * round_add: 0, -ENOENT if the step is none (no job), -errno if it failed. */
void round_would(struct daemon *d, const struct component *c, enum level level,
		 bool as_configured);
int round_add(struct daemon *d, struct component *c, enum level level, bool as_configured);
/*
 * Between evaluations: look at usage now (due at d->next_sample_ns, or at
 * once after an early sign such as kswapd waking) and evaluate if a line
 * was crossed; then schedule the next look.
 */
void round_sample(struct daemon *d, uint64_t now);
/* Thaw a frozen or hibernated component (stopping a hibernation still
 * paging out), clear its knock flags, log a thaw record with cause (and
 * the knock that asked for it, if any). 0, -ENOENT: not frozen. */
int round_thaw(struct daemon *d, struct component *c, const char *cause,
	       const struct memshed_event *knock);
/* A KNOCK from the kernel: a client reached a hibernated component. */
void round_on_knock(struct daemon *d, const struct memshed_event *e);
/* Progress the running jobs; close the round when all are done. */
void round_step(struct daemon *d, uint64_t now);

#endif
