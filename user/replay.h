/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What-if replay (`memshed replay`): run a recorded event log through the
 * levels and the policy of another config and say what it would have
 * unloaded, when and why, next to what the recording did.
 */
#ifndef MEMSHED_REPLAY_H
#define MEMSHED_REPLAY_H

#include <stdbool.h>
#include <stdio.h>
#include "config.h"

struct replay_opts {
	const struct config *cfg;
	const char *config_name;	/* for the heading */
	const char *events_path;	/* an on-disk ring, or `events --json` lines */
	bool json;
	FILE *out;
};

/* 0; -ENOENT/-EACCES/...: the log cannot be read; -ENODATA: it holds no
 * history records (sample, state); -EPROTO: the recording measured usage
 * in a way this config's usage_source cannot be computed from. */
int replay_run(const struct replay_opts *o);

#endif
