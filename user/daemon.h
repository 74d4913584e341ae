/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* `memshed run`: one thread, one epoll set, rounds of decisions. */
#ifndef MEMSHED_DAEMON_H
#define MEMSHED_DAEMON_H

#include <stdbool.h>
#include "config.h"
#include "output.h"

/* Exit codes of `memshed run` (memshed(8), EXIT STATUS). */
enum {
	RUN_EXIT_OK = 0,
	RUN_EXIT_ERROR = 1,
	RUN_EXIT_USAGE = 2,
	RUN_EXIT_CONFIG = 3,		/* config invalid or unreadable */
	RUN_EXIT_BPF_PRIVILEGE = 4,	/* not root / missing capabilities */
	RUN_EXIT_BPF_BTF = 5,		/* no kernel BTF */
	RUN_EXIT_BPF_REJECTED = 6,	/* a program was rejected */
	RUN_EXIT_RUNNING = 7,		/* another daemon owns the control socket */
};

struct run_opts {
	const char *config_path;	/* NULL: the default path if present */
	bool dry_run;
	bool no_bpf;
	bool verbose;
	enum output_format log_format;
	const char *socket_path;	/* NULL: CONTROL_SOCKET */
	const char *btf_path;		/* NULL: the running kernel's */
};

int daemon_run(const struct run_opts *opts);

#endif
