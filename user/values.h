/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The values of the config map and the command line: sizes, durations,
 * fractions, booleans, signals, actions, and the names of levels and
 * actions. Each parser is strict (the whole string must parse) and writes
 * its result only on success.
 */
#ifndef MEMSHED_VALUES_H
#define MEMSHED_VALUES_H

#include <stdbool.h>
#include <stdint.h>

#define NR_LEVELS		4	/* low, medium, high, critical */

enum level { LEVEL_LOW, LEVEL_MEDIUM, LEVEL_HIGH, LEVEL_CRITICAL };

enum action_kind { ACTION_NONE, ACTION_TERM, ACTION_KILL, ACTION_FREEZE,
		   ACTION_SIGNAL, ACTION_EXEC,
		   ACTION_RECLAIM,	/* page its memory out while it runs */
		   ACTION_HIBERNATE,	/* freeze, then reclaim; thawed on access */
		   NR_ACTIONS };

/* reclaim and hibernate: the processes keep their memory's contents, paged out. */
static inline int action_is_gentle(enum action_kind k)
{
	return k == ACTION_RECLAIM || k == ACTION_HIBERNATE;
}

struct action {
	enum action_kind kind;
	int signo;		/* ACTION_SIGNAL */
	char **argv;		/* ACTION_EXEC: NULL-terminated, no shell */
};

/* 0 or -EINVAL. */
int parse_size(const char *s, uint64_t *ret_bytes, double *ret_pct);
int parse_duration(const char *s, uint64_t *ret_ns);
int parse_fraction(const char *s, double *ret);	/* 0.75 or 75% */
int parse_percent(const char *s, double *ret);	/* N%, 0 <= N <= 100 */
int parse_uint(const char *s, uint64_t max, uint64_t *ret);	/* digits, <= max */
int parse_bool(const char *s, bool *ret);
int parse_signal(const char *s, int *ret_signo);	/* TERM, SIGTERM, 15 */
/*
 * term, kill, freeze, reclaim, hibernate, signal:SIG, exec:/bin/x a. 0, -EINVAL (with
 * *ret_why, if not NULL, saying what is wrong) or -ENOMEM (exec: argv).
 */
int parse_action(const char *s, struct action *ret, const char **ret_why);
void action_free(struct action *a);

const char *level_name(enum level l);
int level_parse(const char *s, enum level *ret);
const char *action_kind_name(enum action_kind k);

#endif
