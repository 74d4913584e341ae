/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Components and their processes: maps processes to component records by
 * the config's match rules (whole process trees at start and reload, each
 * exec, the CLI), keeps each component's measured memory, last access,
 * lease and state. The kernel holds the labels and the sums; this file
 * decides labels and reads the sums.
 */
#ifndef MEMSHED_REGISTRY_H
#define MEMSHED_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "config.h"
#include "loader.h"
#include "match.h"
#include "reclaim.h"

enum comp_state {
	COMP_ABSENT,		/* no process, never unloaded by memshed */
	COMP_ACTIVE,
	COMP_UNLOADING,		/* an action is in progress */
	COMP_UNLOADED,		/* memshed unloaded it; no process left */
	COMP_FROZEN,
	COMP_HIBERNATED,	/* frozen and paged out; thawed on access */
};

/* A reclaimed component whose RSS is back above REFAULT_SHARE of what it
 * was before, within REFAULT_WINDOW_NS, re-faulted: reclaiming it again
 * would only churn, so its ladder moves on (policy_step). */
#define REFAULT_WINDOW_NS	(30 * 1000000000ull)
#define REFAULT_SHARE		0.5

/* What the last access was (DESIGN 1, "last access"). */
enum access_kind {
	ACCESS_START,		/* labelled, or a new load after an unload */
	ACCESS_SOCKET,		/* a process received data on a socket */
	ACCESS_CONNECT,		/* a connection arrived at one of its listeners */
	ACCESS_CPU,		/* a process used more than idle_cpu */
	ACCESS_TOUCH,		/* memshed touch */
};

struct component {
	uint32_t id;				/* comp_id in the kernel maps, 1.. */
	const struct component_config *cfg;	/* into registry->cfg */
	enum comp_state state;
	/* As the kernel counted them at the last refresh. */
	unsigned int nr_procs;
	uint64_t rss[MEMSHED_NR_RSS];		/* per member, bytes */
	uint64_t rss_total;			/* file + anon + shmem, each mm once */
	/* Last access: the latest of the kernel's and these. */
	uint64_t last_access_ns;		/* CLOCK_MONOTONIC */
	enum access_kind last_access;
	uint64_t start_ns;			/* ACCESS_START */
	uint64_t touch_ns;			/* ACCESS_TOUCH */
	/* Operator state. */
	bool held;
	uint64_t hold_until_ns;			/* 0: until released */
	int ladder_done;			/* highest level acted on this episode, -1 none */
	/* Reclaim and hibernate, this episode (cleared on relief). */
	uint64_t reclaimed_at_ns;		/* 0: not reclaimed */
	uint64_t reclaimed_rss_before;
	bool refaulted;				/* its memory came straight back */
	bool file_only_done;			/* reclaimed without swap: file pages are gone */
};

/* Why a process carries its label: a reload re-applies rules, and keeps
 * only labels that did not come from a rule. */
enum label_origin { ORIGIN_INHERITED, ORIGIN_RULE, ORIGIN_CLI };

/* 40 bytes: a scan of a 10,000-process host writes them all at once, and
 * fresh memory is what a scan pays for most (a page fault per 4 KiB). */
struct proc_entry {
	pid_t tgid;				/* 0: free slot */
	uint32_t comp_id;
	uint64_t start_time;			/* the kernel's: (tgid, start_time) is the identity */
	int *fds;				/* fault-sampling perf events of its threads */
	/* Since when its faults are sampled: its own events' arming, or the
	 * parent's it inherited at fork (0: not yet, it is queued). */
	uint64_t watched_since;
	uint32_t seen;				/* resync generation */
	uint16_t nr_fds;
	uint8_t origin;				/* enum label_origin */
};

/* A labelled process as of the last walk (registry_pids_snapshot). */
struct registry_pid {
	uint32_t comp_id;
	pid_t tgid;
};

struct registry {
	const struct config *cfg;
	struct loader *ld;			/* NULL: no kernel side (tests, --no-bpf) */
	struct component *comps;		/* comps[i].id == i + 1 */
	int nr_comps;
	struct proc_entry *procs;		/* open addressing, by tgid */
	size_t procs_cap, nr_procs;
	uint32_t seen;
	uint64_t scanned_until;			/* start_time horizon of the last scan */
	uint32_t *arm;				/* processes waiting for fault sampling */
	size_t nr_arm, arm_cap;
	const char *proc_root;			/* "/proc"; tests may point elsewhere */
	struct swap_facts swap;			/* as of the last refresh */
	struct match_ctx match;
	uint64_t gen;				/* refreshes and reloads so far */
	struct registry_pid *snap;		/* labelled processes by (comp_id, tgid) */
	size_t nr_snap, snap_cap;
	uint64_t snap_gen;			/* gen + 1 of the walk that made snap; 0: none */
};

int registry_init(struct registry *r, const struct config *cfg, struct loader *ld);
void registry_free(struct registry *r);
/* A reload: components are matched by name, keeping their state and the
 * kernel's record of them; labels are recomputed for every process. */
int registry_apply_config(struct registry *r, const struct config *cfg);

/* Label every existing matching process and its descendants (start,
 * reload). Returns the number labelled. */
int registry_scan(struct registry *r);
/* Key the listening sockets of labelled processes (new connections are
 * accesses); run after a scan, and by registry_rescan. */
void registry_mark_sockets(struct registry *r);
/* Cheap catch-up: processes that started since the last scan, children
 * forked before their parent's label, execs whose events were dropped. */
int registry_rescan(struct registry *r);
/* A process exec'd or renamed itself: match it. comm: its name as the
 * event has it (NULL: read /proc); label: its label in the kernel as of the
 * event. Returns its comp_id or 0. */
uint32_t registry_on_exec(struct registry *r, pid_t tgid, uint64_t start_time,
			  const char *comm, uint32_t label);
void registry_on_fork(struct registry *r, pid_t tgid, pid_t ppid, uint64_t start_time,
		      uint32_t comp_id);
void registry_on_exit(struct registry *r, pid_t tgid, uint64_t start_time);

/* -EPERM for pid 1 and kernel threads. */
int registry_label(struct registry *r, pid_t tgid, uint32_t comp_id, enum label_origin origin);
int registry_unlabel(struct registry *r, pid_t tgid);

/* Arm fault sampling for up to `max` queued processes (a perf event per
 * thread: ~50 us each, so a scan of thousands queues them and the event
 * loop arms them in batches). Returns how many still wait. */
size_t registry_arm(struct registry *r, size_t max);

/* Fresh numbers from the kernel: one sample pass, then its sums. */
int registry_refresh(struct registry *r, uint64_t now_ns);
/* The tgids of a component now (at most max), each once. */
int registry_pids(struct registry *r, uint32_t comp_id, pid_t *ret, int max);
/* The same as of the last refresh (lowest first): the kernel's map is
 * walked at most once per refresh, however many ask (status: a stranger's
 * requests never cost a walk of their own). */
int registry_pids_snapshot(struct registry *r, uint32_t comp_id, pid_t *ret, int max);

struct component *registry_find(struct registry *r, const char *name);
struct component *registry_get(struct registry *r, uint32_t comp_id);
const char *registry_name(struct registry *r, uint32_t comp_id);
uint64_t registry_usage(const struct registry *r);	/* the kernel's sum over components */

void registry_touch(struct component *c, uint64_t now_ns);
void registry_hold(struct component *c, uint64_t ttl_ns, uint64_t now_ns);
void registry_release(struct component *c);
bool registry_in_use(const struct component *c, uint64_t now_ns);
const char *comp_state_name(enum comp_state s);
const char *access_kind_name(enum access_kind k);

#endif
