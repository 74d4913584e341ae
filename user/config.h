/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The config map: [memshed] settings and [component NAME] sections
 * (the values in them: values.h). */
#ifndef MEMSHED_CONFIG_H
#define MEMSHED_CONFIG_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include "values.h"

#define MEMSHED_DEFAULT_CONFIG	"/etc/memshed/memshed.conf"
#define MEMSHED_DEFAULT_EVENT_LOG "/var/lib/memshed/events.ring"
#define CONFIG_NAME_MAX		64
#define CONFIG_TYPE_MAX		32

enum usage_source { USAGE_COMPONENTS, USAGE_SYSTEM, USAGE_CGROUP };
enum rss_mode { RSS_TRACEPOINT, RSS_SAMPLE, RSS_AUTO };

enum match_kind { MATCH_COMM, MATCH_EXE, MATCH_CMDLINE, MATCH_CGROUP,
		  MATCH_PIDFILE, MATCH_USER, MATCH_UNIT };

struct match_rule {
	enum match_kind kind;
	char *arg;		/* as written after "kind:" */
	regex_t re;		/* MATCH_CMDLINE: compiled POSIX ERE */
	uid_t uid;		/* MATCH_USER: resolved at parse time */
};

struct component_config {
	char name[CONFIG_NAME_MAX];
	char type[CONFIG_TYPE_MAX];	/* free-form kind (cache, batch...), "" = none */
	int line;			/* line of the [component] header (in the whole) */
	char *file;			/* the file it is defined in; NULL: a buffer */
	int file_line;			/* the header's line in that file */
	int priority;			/* 0..100, default 50; higher = kept longer */
	bool critical;
	bool prefer_larger;		/* default: [memshed] prefer_larger */
	uint64_t min_idle_ns;		/* 0: use [memshed] min_idle_time */
	bool has_min_idle;
	uint64_t grace_ns;		/* term: SIGTERM -> SIGKILL, default 10s */
	uint64_t exec_timeout_ns;	/* exec: default 30s */
	struct action ladder[NR_LEVELS];/* action per level; [LEVEL_LOW] unused */
	struct match_rule *rules;
	int nr_rules;
};

struct level_policy {
	uint64_t min_idle_ns;
	unsigned int max_unload;	/* 0: every eligible component */
};

/* PSI thresholds of one level, as % of stall time in psi_window. 0 = off. */
struct psi_threshold {
	double some_pct;
	double full_pct;
};

struct config {
	char *path;			/* NULL: built-in defaults */

	/* The seed's MemoryManagerConfig. */
	uint64_t total_limit;		/* bytes, resolved */
	double total_limit_pct;		/* >0: limit given as % of RAM */
	double threshold[NR_LEVELS];	/* low, medium, high, critical */
	bool auto_unload;
	uint64_t min_idle_ns;
	uint64_t check_interval_ns;

	/* Measurement. */
	enum usage_source usage_source;
	char *usage_cgroup;		/* USAGE_CGROUP */
	enum rss_mode rss_mode;
	double idle_cpu;		/* share of one CPU a process may use and be idle */
	uint64_t idle_window_ns;	/* shortest window that share is judged over */
	uint64_t max_growth_rate;	/* bytes/s memory can grow by, at most, here */
	uint32_t ringbuf_size;		/* bytes, power of two */
	uint64_t stall_threshold_ns;	/* reclaim stalls shorter are not events */

	/* PSI: per level, from /proc/pressure/memory or psi_cgroup. */
	struct psi_threshold psi[NR_LEVELS];	/* [LEVEL_LOW] unused */
	uint64_t psi_window_ns;		/* trigger window, rounded up to 2s */
	char *psi_cgroup;		/* NULL: system-wide */

	/* Levels down: below threshold - hysteresis for settle_time. */
	double hysteresis;
	uint64_t settle_ns;

	/* Policy. */
	struct level_policy level[NR_LEVELS];	/* [LEVEL_LOW] unused */
	bool prefer_larger;
	bool dry_run;
	uint64_t round_timeout_ns;	/* wait for victims before deciding again */
	uint64_t cooldown_ns;		/* between rounds */

	/* Output. */
	char *event_log;		/* on-disk ring, "" = off */
	uint64_t event_log_size;
	char *metrics_file;		/* node_exporter textfile, NULL = off */
	int nice;			/* the daemon's own, -20..19 (default -10) */

	struct component_config *comps;
	int nr_comps;
};

/* One problem found in a config file, as FILE:LINE: message. */
struct config_error {
	int line;
	char msg[256];
};

/* A file the config was read from, and the line it starts at in the
 * whole (the main file, then its drop-ins): errors and components are
 * reported at FILE:LINE of the file they are in. */
struct config_source {
	char *path;
	int first_line;
};

struct config_errors {
	struct config_error *v;
	int n;
	struct config_source *src;	/* NULL: one file, the path printed */
	int nr_src;
};

/* Warnings about a valid config (check-config prints them; they change
 * nothing): a unit: rule whose unit has no cgroup now (not started yet?).
 * Returns how many were printed, as FILE:LINE: warning: message. */
int config_warnings(const struct config *cfg, FILE *f);

/* Built-in defaults: the seed's values, no components. */
void config_init_defaults(struct config *cfg);

/*
 * Parse a config from a file or a buffer. Returns 0 if valid; otherwise
 * -EINVAL with every problem in @errs (caller frees with
 * config_errors_free), or another -errno if the file cannot be read.
 * @cfg is written only on success. check_owner refuses files not owned by
 * root or writable by group/others.
 */
int config_load_file(const char *path, bool check_owner, struct config *cfg,
		     struct config_errors *errs);
int config_load_buffer(const char *name, const char *buf, size_t len,
		       struct config *cfg, struct config_errors *errs);
void config_errors_print(FILE *f, const char *path,
			 const struct config_errors *errs);
void config_errors_free(struct config_errors *errs);
void config_free(struct config *cfg);

/*
 * Could a process of any user make itself a member of component c? True
 * when none of its rules is user:, cgroup:, or an exe:/pidfile: path that only
 * root can change (comm: and cmdline: are the process's own choice); why
 * says which rules. Reads the file system (stat) for exe: and pidfile:.
 */
bool config_component_strangers_can_join(const struct component_config *c, char *why,
					 size_t len);
/* The warning for such a component ("component \"NAME\" can be joined by
 * any user's process: why; add ..."), or false if it is guarded. Both
 * check-config and the daemon (at load and reload) say it. */
bool config_strangers_warning(const struct component_config *c, char *buf, size_t len);

#endif
