/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Match rules against one process: what a rule needs to know about it
 * comes from the kernel's task dump where it can (comm, uid, cgroups) and
 * is read from /proc only when a rule needs it (exe, cmdline, pidfile, a
 * cgroup of a v1 hierarchy the dump does not cover).
 */
#ifndef MEMSHED_MATCH_H
#define MEMSHED_MATCH_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "config.h"

/* The cgroups a cgroup: rule names, as kernfs ids (= inode numbers) of
 * the directory and everything below it, resolved once per scan. */
struct cgroup_ids {
	uint64_t *ids;		/* sorted */
	size_t n;
	bool v2, memory;	/* which dumped ids a process is checked by */
	bool text;		/* not resolvable: match /proc/PID/cgroup text */
};

struct match_ctx {
	const struct config *cfg;
	const char *proc_root;		/* "/proc" */
	struct cgroup_ids **cgroups;	/* [component][rule], NULL before resolve */
	char cg2_mount[PATH_MAX];	/* cgroup2 mount ("" if none) */
	char memcg_mount[PATH_MAX];	/* v1 memory hierarchy mount ("" if none) */
};

/* What is known of a process; lazily completed from /proc. */
struct proc_facts {
	pid_t tgid;
	const char *root;
	char comm[17];
	char *exe;			/* read on demand: most rules never need it */
	char *cmdline;
	char *cgroups;
	uid_t uid;
	uint64_t cgroup_id, memcg_id;	/* from the dump: 0 if unknown */
	bool have_comm, have_exe, have_cmdline, have_cgroups, have_uid;
};

void match_init(struct match_ctx *m, const struct config *cfg, const char *proc_root);
/* Resolve cgroup: rules to id sets (scan start); match_free undoes it. */
void match_resolve_cgroups(struct match_ctx *m);
void match_free(struct match_ctx *m);

void facts_init(struct proc_facts *f, const struct match_ctx *m, pid_t tgid);
void facts_free(struct proc_facts *f);

/* The first component (in file order) all of whose rules match: its index
 * in cfg->comps, or -1. */
int match_component(const struct match_ctx *m, struct proc_facts *f);

#endif
