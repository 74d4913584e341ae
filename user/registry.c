// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Components and their processes. The kernel is the source of truth for
 * which processes carry a label (fork inheritance happens there) and for
 * how much memory each component holds; this file decides labels (rules,
 * process trees, the CLI), keeps one fault-sampling perf event per thread
 * of each process it labelled, and turns the kernel's per-component
 * record into the state the policy sees.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "registry.h"
#include "output.h"

/* ---- the process table: open addressing by tgid, linear probing ---- */

static size_t proc_slot(const struct registry *r, pid_t tgid)
{
	return ((uint32_t)tgid * 2654435761u) & (r->procs_cap - 1);
}

static struct proc_entry *proc_find(struct registry *r, pid_t tgid)
{
	size_t i;

	if (!r->procs_cap)
		return NULL;
	for (i = proc_slot(r, tgid); r->procs[i].tgid; i = (i + 1) & (r->procs_cap - 1))
		if (r->procs[i].tgid == tgid)
			return &r->procs[i];
	return NULL;
}

/* Rehash into a table of cap slots (a power of two, above nr_procs). */
static int procs_resize(struct registry *r, size_t cap)
{
	size_t old_cap = r->procs_cap;
	struct proc_entry *old = r->procs;

	r->procs = calloc(cap, sizeof(*r->procs));
	if (!r->procs) {
		r->procs = old;
		return -ENOMEM;
	}
	r->procs_cap = cap;
	for (size_t i = 0; i < old_cap; i++) {
		if (old[i].tgid) {
			size_t j = proc_slot(r, old[i].tgid);

			while (r->procs[j].tgid)
				j = (j + 1) & (cap - 1);
			r->procs[j] = old[i];
		}
	}
	free(old);
	return 0;
}

/* Room for n entries at a load of at most 3/4: a scan sizes the table once
 * for all it labels rather than doubling (and rehashing) its way there. */
static int procs_reserve(struct registry *r, size_t n)
{
	size_t cap = r->procs_cap ? r->procs_cap : 64;

	while (n * 4 > cap * 3)
		cap *= 2;
	return cap == r->procs_cap ? 0 : procs_resize(r, cap);
}

static struct proc_entry *proc_insert(struct registry *r, pid_t tgid, uint64_t start_time)
{
	struct proc_entry *e = proc_find(r, tgid);
	size_t i;

	if (e)
		return e;
	if (procs_reserve(r, r->nr_procs + 1))
		return NULL;
	for (i = proc_slot(r, tgid); r->procs[i].tgid; i = (i + 1) & (r->procs_cap - 1))
		;
	r->procs[i] = (struct proc_entry){ .tgid = tgid, .start_time = start_time, .seen = r->seen };
	r->nr_procs++;
	return &r->procs[i];
}

static void proc_unwatch(struct proc_entry *e)
{
	for (int i = 0; i < e->nr_fds; i++)
		close(e->fds[i]);
	free(e->fds);
	e->fds = NULL;
	e->nr_fds = 0;
}

/* Backward-shift deletion keeps probe chains intact without tombstones. */
static void proc_remove(struct registry *r, struct proc_entry *e)
{
	size_t mask = r->procs_cap - 1, i = e - r->procs, j = i;

	proc_unwatch(e);
	for (;;) {
		r->procs[i].tgid = 0;
		for (;;) {
			size_t home;

			j = (j + 1) & mask;
			if (!r->procs[j].tgid) {
				r->nr_procs--;
				return;
			}
			home = proc_slot(r, r->procs[j].tgid);
			/* Move j back to i unless its home lies cyclically in (i, j]. */
			if (i <= j ? (home <= i || home > j) : (home <= i && home > j))
				break;
		}
		r->procs[i] = r->procs[j];
		i = j;
	}
}

/* The entry for (tgid, start_time); an entry of a recycled PID is dropped. */
static struct proc_entry *proc_get(struct registry *r, pid_t tgid, uint64_t start_time)
{
	struct proc_entry *e = proc_find(r, tgid);

	if (e && start_time && e->start_time && e->start_time != start_time) {
		proc_remove(r, e);
		e = NULL;
	}
	return e;
}

/* ---- fault sampling ---- */

static int fds_push(struct proc_entry *e, int fd)
{
	int *v = realloc(e->fds, (e->nr_fds + 1) * sizeof(*v));

	if (!v) {
		close(fd);
		return -ENOMEM;
	}
	e->fds = v;
	e->fds[e->nr_fds++] = fd;
	return 0;
}

/*
 * A perf event on each thread of the process: every few page faults the
 * kernel refreshes its RSS and checks the budget lines. Threads and
 * children it creates from now on inherit the event; the main thread's is
 * opened first, so no thread can slip between the listing and the event.
 */
static void proc_watch(struct registry *r, struct proc_entry *e, unsigned int nr_threads)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int fd;

	if (!r->ld || !r->ld->faults || e->nr_fds)
		return;
	fd = loader_watch_faults(r->ld, e->tgid);
	if (fd < 0 || fds_push(e, fd))
		return;
	e->watched_since = now_mono_ns();	/* children forked from now inherit it */
	if (nr_threads == 1)
		return;
	snprintf(path, sizeof(path), "%s/%d/task", r->proc_root, e->tgid);
	d = opendir(path);
	while (d && (de = readdir(d))) {
		pid_t tid = atoi(de->d_name);

		if (tid > 0 && tid != e->tgid && (fd = loader_watch_faults(r->ld, tid)) >= 0)
			fds_push(e, fd);
	}
	if (d)
		closedir(d);
}

static void arm_queue(struct registry *r, pid_t tgid)
{
	if (!r->ld || !r->ld->faults)
		return;
	if (r->nr_arm == r->arm_cap) {
		size_t cap = r->arm_cap ? r->arm_cap * 2 : 256;
		uint32_t *v = realloc(r->arm, cap * sizeof(*v));

		if (!v)
			return;
		r->arm = v;
		r->arm_cap = cap;
	}
	r->arm[r->nr_arm++] = tgid;
}

/* A child forked after its parent's events were armed inherited them;
 * one forked before (or of an unwatched parent) needs its own. */
static void watch_inherited(struct registry *r, struct proc_entry *e, pid_t ppid)
{
	struct proc_entry *p = ppid > 1 ? proc_find(r, ppid) : NULL;

	if (e->nr_fds || e->watched_since)
		return;
	if (p && p->comp_id && p->watched_since && p->watched_since <= e->start_time)
		e->watched_since = p->watched_since;
	else
		arm_queue(r, e->tgid);
}

size_t registry_arm(struct registry *r, size_t max)
{
	while (r->nr_arm && max--) {
		struct proc_entry *e = proc_find(r, r->arm[--r->nr_arm]);

		if (e && !e->nr_fds)
			proc_watch(r, e, 0);
	}
	if (!r->nr_arm) {
		free(r->arm);
		r->arm = NULL;
		r->arm_cap = 0;
	}
	return r->nr_arm;
}

/* ---- labels one at a time (exec, CLI) ---- */

static bool comp_exists(const struct registry *r, uint32_t comp_id)
{
	return comp_id >= 1 && comp_id <= (uint32_t)r->nr_comps;
}

static int label_one(struct registry *r, pid_t tgid, uint64_t start_time, uint32_t comp_id,
		     enum label_origin origin)
{
	struct component *c = registry_get(r, comp_id);
	struct proc_entry *e;
	int pidfd, err = 0;

	if (!c)
		return -EINVAL;
	/* Kernel threads are nobody's component (a user:root or cgroup:/
	 * rule would otherwise take them all). */
	if (tgid <= 1)
		return -EPERM;
	err = proc_is_kernel_thread(tgid);
	if (err)
		return err < 0 ? err : -EPERM;
	if (r->ld) {
		/* Keyed by pidfd: the label lands on exactly this process. */
		pidfd = syscall(SYS_pidfd_open, tgid, 0);
		if (pidfd < 0)
			return -errno;
		err = loader_label(r->ld, pidfd, tgid, comp_id);
		close(pidfd);
		if (err)
			return err;
	}
	e = proc_insert(r, tgid, start_time);
	if (!e)
		return -ENOMEM;
	if (start_time)
		e->start_time = start_time;
	e->origin = origin;
	if (e->comp_id != comp_id) {
		e->comp_id = comp_id;
		/* A new member starts the idle clock: its history is unknown. */
		c->start_ns = now_mono_ns();
	}
	proc_watch(r, e, 0);
	return 0;
}

int registry_label(struct registry *r, pid_t tgid, uint32_t comp_id, enum label_origin origin)
{
	return label_one(r, tgid, 0, comp_id, origin);
}

int registry_unlabel(struct registry *r, pid_t tgid)
{
	struct proc_entry *e = proc_find(r, tgid);
	int pidfd;

	if (r->ld) {
		pidfd = syscall(SYS_pidfd_open, tgid, 0);
		if (pidfd < 0 && !e)
			return -errno;
		loader_unlabel(r->ld, pidfd, tgid);
		if (pidfd >= 0)
			close(pidfd);
	}
	if (!e)
		return -ENOENT;
	proc_remove(r, e);
	return 0;
}

/* The daemon's own pid (getpid is a system call: asked once). */
static pid_t self_pid(void)
{
	static pid_t self;

	if (!self)
		self = getpid();
	return self;
}

uint32_t registry_on_exec(struct registry *r, pid_t tgid, uint64_t start_time,
			  const char *comm, uint32_t label)
{
	struct proc_facts f;
	struct proc_entry *e;
	int ci;

	if (tgid == self_pid())
		return 0;
	e = proc_get(r, tgid, start_time);	/* forget a recycled PID's entry */
	/* An explicit rule beats an inherited label. The name is the one the
	 * event carries: /proc would show a later rename's (which has an event
	 * of its own). */
	facts_init(&f, &r->match, tgid);
	if (comm) {
		memcpy(f.comm, comm, MEMSHED_COMM_LEN);
		f.comm[MEMSHED_COMM_LEN] = '\0';
		f.have_comm = true;
	}
	ci = match_component(&r->match, &f);
	facts_free(&f);
	if (ci < 0)
		return 0;
	/* Labelled so already, in the kernel (as of the event) and here: a
	 * process renaming itself to its rule's name again costs nothing. */
	if (e && tgid > 1 && label == (uint32_t)ci + 1 && e->comp_id == label && start_time &&
	    e->start_time == start_time) {
		e->origin = ORIGIN_RULE;
		proc_watch(r, e, 0);
		return label;
	}
	return label_one(r, tgid, start_time, ci + 1, ORIGIN_RULE) == 0 ? ci + 1 : 0;
}

void registry_on_fork(struct registry *r, pid_t tgid, pid_t ppid, uint64_t start_time,
		      uint32_t comp_id)
{
	struct proc_entry *e;

	if (!comp_exists(r, comp_id))
		return;
	e = proc_get(r, tgid, start_time);
	if (!e)
		e = proc_insert(r, tgid, start_time);
	if (e) {
		e->comp_id = comp_id;
		e->start_time = start_time;
		e->origin = ORIGIN_INHERITED;
		watch_inherited(r, e, ppid);
	}
}

void registry_on_exit(struct registry *r, pid_t tgid, uint64_t start_time)
{
	struct proc_entry *e = proc_get(r, tgid, start_time);

	if (e)
		proc_remove(r, e);
}

/* ---- scans: every process at once ---- */

struct task_list {
	struct memshed_task_info *v;
	size_t n, cap;
	bool unsorted;			/* not ascending by tgid (the dump's order) */
};

static int task_collect(void *ctx, const struct memshed_task_info *ti)
{
	struct task_list *l = ctx;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 1024;
		struct memshed_task_info *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	if (l->n && ti->tgid <= l->v[l->n - 1].tgid)
		l->unsorted = true;
	l->v[l->n++] = *ti;
	return 0;
}

static int by_tgid(const void *a, const void *b)
{
	const struct memshed_task_info *x = a, *y = b;

	return x->tgid < y->tgid ? -1 : x->tgid > y->tgid;
}

static int by_start_time(const void *a, const void *b, void *ctx)
{
	const struct memshed_task_info *v = ctx;
	uint64_t x = v[*(const uint32_t *)a].start_time, y = v[*(const uint32_t *)b].start_time;

	return x < y ? -1 : x > y;
}

/* Where tgid is in the list (ascending by tgid), or -1. */
static long task_index(const struct task_list *l, uint32_t tgid)
{
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (l->v[mid].tgid < tgid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < l->n && l->v[lo].tgid == tgid ? (long)lo : -1;
}

/*
 * One scan's decisions, per dumped task (by its index in the list): the
 * label, why, and the order to visit them in. A child starts after its
 * parent, so start-time order is a topological order; its parent's label
 * is found by tgid in the list. 9 bytes a task beside the dump's 64: on
 * this scale fresh memory, not arithmetic, is what a scan costs.
 */
struct scan {
	struct task_list l;
	uint32_t *order;		/* indexes into l.v, by start time */
	uint32_t *comp;			/* decided label (0: none, or not yet decided) */
	uint8_t *origin;		/* enum label_origin of comp */
	size_t nr_new;			/* labelled, with no entry in the table yet */
	size_t nr_changed;		/* label differs from the kernel's */
};

static int scan_init(struct scan *s)
{
	struct task_list *l = &s->l;

	if (l->unsorted)
		qsort(l->v, l->n, sizeof(*l->v), by_tgid);
	s->order = malloc((l->n + 1) * sizeof(*s->order));
	s->comp = calloc(l->n + 1, sizeof(*s->comp));
	s->origin = malloc(l->n + 1);
	if (!s->order || !s->comp || !s->origin)
		return -ENOMEM;
	for (size_t i = 0; i < l->n; i++)
		s->order[i] = i;
	qsort_r(s->order, l->n, sizeof(*s->order), by_start_time, l->v);
	return 0;
}

static void scan_free(struct scan *s)
{
	free(s->l.v);
	free(s->order);
	free(s->comp);
	free(s->origin);
}

struct label_batch {
	uint32_t *tgid;
	struct memshed_pending_label *label;
	uint32_t n;
};

/* What the process's label should be; *ret_origin says why. */
static uint32_t decide_one(struct registry *r, const struct memshed_task_info *t,
			   const struct proc_entry *e, uint32_t parent, enum label_origin *ret_origin)
{
	struct proc_facts f;
	int ci;

	facts_init(&f, &r->match, t->tgid);
	memcpy(f.comm, t->comm, sizeof(t->comm));
	f.comm[16] = '\0';
	f.have_comm = true;
	f.uid = t->uid;
	f.have_uid = true;
	f.cgroup_id = t->cgroup_id;
	f.memcg_id = t->memcg_id;
	ci = match_component(&r->match, &f);
	facts_free(&f);
	if (ci >= 0) {
		*ret_origin = ORIGIN_RULE;
		return ci + 1;
	}
	if (parent) {
		*ret_origin = ORIGIN_INHERITED;	/* a component is a process tree */
		return parent;
	}
	/* A label that did not come from a rule (the operator's, or inherited
	 * from one) stays as long as its component exists. */
	if (e && e->origin != ORIGIN_RULE && comp_exists(r, e->comp_id)) {
		*ret_origin = e->origin;
		return e->comp_id;
	}
	if (!e && comp_exists(r, t->comp_id)) {
		*ret_origin = ORIGIN_INHERITED;	/* its fork event was lost */
		return t->comp_id;
	}
	return 0;
}

/* pid 1 and memshed itself are never labelled, nor unlabelled by a scan. */
static bool scan_skips(const struct memshed_task_info *t, pid_t self)
{
	return t->tgid <= 1 || (pid_t)t->tgid == self;
}

/* First pass: decide every dumped process, parents before children. */
static void scan_decide(struct registry *r, struct scan *s, bool full)
{
	pid_t self = getpid();

	for (size_t k = 0; k < s->l.n; k++) {
		uint32_t i = s->order[k];
		const struct memshed_task_info *t = &s->l.v[i];
		struct proc_entry *e;
		long pi;
		uint32_t parent, comp;
		enum label_origin origin = ORIGIN_RULE;

		if (scan_skips(t, self))
			continue;
		pi = task_index(&s->l, t->ppid);
		parent = pi >= 0 ? s->comp[pi] : 0;
		e = proc_get(r, t->tgid, t->start_time);
		if (!full && t->start_time < r->scanned_until && !(parent && !t->comp_id)) {
			/* Judged by an earlier scan, and not a child forked before
			 * its parent was labelled: as it is. */
			comp = t->comp_id;
			origin = e ? e->origin : ORIGIN_INHERITED;
		} else {
			comp = decide_one(r, t, e, parent, &origin);
		}
		s->comp[i] = comp;
		s->origin[i] = origin;
		s->nr_new += comp && !e;
		s->nr_changed += comp != t->comp_id;
	}
}

/* Second pass: the table and the kernel's labels follow the decisions. */
static int scan_apply(struct registry *r, const struct scan *s, struct label_batch *b)
{
	pid_t self = getpid();
	int count = 0;

	if (procs_reserve(r, r->nr_procs + s->nr_new))
		return -ENOMEM;
	for (size_t k = 0; k < s->l.n; k++) {
		uint32_t i = s->order[k], comp = s->comp[i];
		const struct memshed_task_info *t = &s->l.v[i];
		struct proc_entry *e;

		if (scan_skips(t, self))
			continue;
		e = proc_get(r, t->tgid, t->start_time);
		if (comp != t->comp_id) {
			b->tgid[b->n] = t->tgid;
			b->label[b->n++] = (struct memshed_pending_label){ .comp_id = comp,
				.start_time = t->start_time };
		}
		if (!comp) {
			if (e)
				proc_remove(r, e);
			continue;
		}
		e = proc_insert(r, t->tgid, t->start_time);
		if (!e)
			return -ENOMEM;
		e->start_time = t->start_time;
		e->seen = r->seen;
		if (e->comp_id != comp) {
			registry_get(r, comp)->start_ns = now_mono_ns();	/* a new member */
			count++;
		}
		e->comp_id = comp;
		e->origin = s->origin[i];
		watch_inherited(r, e, t->ppid);
	}
	return count;
}

static int registry_scan_tasks(struct registry *r, bool full)
{
	struct scan s = {};
	struct label_batch b = {};
	uint64_t horizon;
	int count, err;

	if (!r->ld || !r->nr_comps)
		return 0;
	if (full)
		match_resolve_cgroups(&r->match);
	horizon = now_mono_ns();	/* task->start_time is CLOCK_MONOTONIC */
	err = loader_dump_tasks(r->ld, task_collect, &s.l);
	if (!err)
		err = scan_init(&s);
	r->seen++;
	if (!err) {
		scan_decide(r, &s, full);
		b.tgid = malloc((s.nr_changed + 1) * sizeof(*b.tgid));
		b.label = malloc((s.nr_changed + 1) * sizeof(*b.label));
		if (!b.tgid || !b.label)
			err = -ENOMEM;
	}
	count = err ? err : scan_apply(r, &s, &b);
	if (count >= 0) {
		/* Fault sampling is armed afterwards (registry_arm): a child
		 * forked before its parent's arming is found by the next scan. */
		err = loader_queue_labels(r->ld, b.tgid, b.label, b.n);
		if (!err)
			err = loader_sample(r->ld);
		r->scanned_until = horizon;
	}
	scan_free(&s);
	free(b.tgid), free(b.label);
	if (full)
		match_free(&r->match);
	return count < 0 ? count : err ? err : count;
}

int registry_scan(struct registry *r)
{
	return registry_scan_tasks(r, true);
}

void registry_mark_sockets(struct registry *r)
{
	if (r->ld && r->nr_comps)
		loader_mark_sockets(r->ld, false);
}

/* Entries the kernel no longer has (exit events dropped) go; labelled
 * processes the table lacks (fork events dropped) come in. */
static int resync_one(void *ctx, pid_t tgid, const struct memshed_proc *p)
{
	struct registry *r = ctx;
	struct proc_entry *e;

	if (!comp_exists(r, p->comp_id))
		return 0;
	e = proc_get(r, tgid, p->start_time);
	if (!e) {
		e = proc_insert(r, tgid, p->start_time);
		if (!e)
			return -ENOMEM;
		e->origin = ORIGIN_INHERITED;
	}
	e->comp_id = p->comp_id;
	e->seen = r->seen;
	return 0;
}

int registry_rescan(struct registry *r)
{
	int ret;

	if (!r->ld)
		return 0;
	ret = registry_scan_tasks(r, false);
	registry_mark_sockets(r);	/* a service listens after its exec */
	r->seen++;
	loader_for_each_proc(r->ld, resync_one, r);
	for (size_t i = 0; i < r->procs_cap; i++)
		while (r->procs[i].tgid && r->procs[i].seen != r->seen)
			proc_remove(r, &r->procs[i]);
	return ret;
}

/* ---- refresh from the kernel ---- */

/* The last access is the latest of what the kernel saw and what memshed
 * knows itself; its kind says which. */
static void access_update(struct component *c, const struct memshed_comp *k)
{
	const struct { uint64_t ns; enum access_kind kind; } v[] = {
		{ c->start_ns, ACCESS_START }, { k->last_recv_ns, ACCESS_SOCKET },
		{ k->last_accept_ns, ACCESS_CONNECT }, { k->last_cpu_ns, ACCESS_CPU },
		{ c->touch_ns, ACCESS_TOUCH },
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		if (v[i].ns > c->last_access_ns || (i == 0 && v[i].ns == c->last_access_ns)) {
			c->last_access_ns = v[i].ns;
			c->last_access = v[i].kind;
		}
	}
}

static void refresh_state(struct component *c, uint64_t now_ns)
{
	if (c->nr_procs && (c->state == COMP_ABSENT || c->state == COMP_UNLOADED)) {
		if (c->state == COMP_UNLOADED)
			c->start_ns = now_ns;	/* back after an unload: a new load */
		c->state = COMP_ACTIVE;
	} else if (!c->nr_procs && c->state == COMP_ACTIVE) {
		c->state = COMP_ABSENT;
	}
	if (c->reclaimed_at_ns && c->state == COMP_ACTIVE && !c->refaulted &&
	    now_ns - c->reclaimed_at_ns < REFAULT_WINDOW_NS &&
	    c->rss_total > REFAULT_SHARE * c->reclaimed_rss_before)
		c->refaulted = true;
}

int registry_refresh(struct registry *r, uint64_t now_ns)
{
	int err;

	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/meminfo", r->proc_root);
	swap_facts_read(path, &r->swap);
	r->gen++;
	if (!r->ld)
		return 0;
	err = loader_sample(r->ld);
	for (int i = 0; i < r->nr_comps; i++) {
		struct component *c = &r->comps[i];
		const struct memshed_comp *k = loader_comp(r->ld, c->id);

		if (!k)
			continue;
		c->nr_procs = k->nr_procs;
		memcpy(c->rss, k->rss, sizeof(c->rss));
		c->rss_total = k->rss_total;
		refresh_state(c, now_ns);
		access_update(c, k);
	}
	return err;
}

struct pids_ctx {
	uint32_t comp_id;
	pid_t *ret;
	int n, max;
};

static int pids_one(void *ctx, pid_t tgid, const struct memshed_proc *p)
{
	struct pids_ctx *x = ctx;

	if (p->comp_id == x->comp_id && x->n < x->max)
		x->ret[x->n++] = tgid;
	return x->n == x->max;
}

int registry_pids(struct registry *r, uint32_t comp_id, pid_t *ret, int max)
{
	struct pids_ctx x = { comp_id, ret, 0, max };

	if (!r->ld) {
		for (size_t i = 0; i < r->procs_cap && x.n < max; i++)
			if (r->procs[i].tgid && r->procs[i].comp_id == comp_id)
				ret[x.n++] = r->procs[i].tgid;
		return x.n;
	}
	loader_for_each_proc(r->ld, pids_one, &x);
	return x.n;
}

static int snap_add(void *ctx, pid_t tgid, const struct memshed_proc *p)
{
	struct registry *r = ctx;
	struct registry_pid *n;

	if (!p->comp_id)
		return 0;
	if (r->nr_snap == r->snap_cap) {
		size_t cap = r->snap_cap ? 2 * r->snap_cap : 256;

		n = realloc(r->snap, cap * sizeof(*n));
		if (!n)
			return 1;	/* a shorter list, not none */
		r->snap = n;
		r->snap_cap = cap;
	}
	r->snap[r->nr_snap++] = (struct registry_pid){ p->comp_id, tgid };
	return 0;
}

static int snap_cmp(const void *a, const void *b)
{
	const struct registry_pid *x = a, *y = b;

	if (x->comp_id != y->comp_id)
		return x->comp_id < y->comp_id ? -1 : 1;
	return x->tgid < y->tgid ? -1 : x->tgid > y->tgid;
}

/* One walk for every component, sorted so each one's pids are a run. */
static void snap_take(struct registry *r)
{
	r->nr_snap = 0;
	if (r->ld) {
		loader_for_each_proc(r->ld, snap_add, r);
	} else {
		for (size_t i = 0; i < r->procs_cap; i++)
			if (r->procs[i].tgid)
				snap_add(r, r->procs[i].tgid,
					 &(struct memshed_proc){ .comp_id = r->procs[i].comp_id });
	}
	qsort(r->snap, r->nr_snap, sizeof(*r->snap), snap_cmp);
	r->snap_gen = r->gen + 1;
}

int registry_pids_snapshot(struct registry *r, uint32_t comp_id, pid_t *ret, int max)
{
	size_t lo = 0, hi;
	int n = 0;

	if (r->snap_gen != r->gen + 1)
		snap_take(r);
	hi = r->nr_snap;
	while (lo < hi) {		/* the first entry of comp_id */
		size_t mid = lo + (hi - lo) / 2;

		if (r->snap[mid].comp_id < comp_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < r->nr_snap && r->snap[lo].comp_id == comp_id && n < max; lo++)
		ret[n++] = r->snap[lo].tgid;
	return n;
}

/* ---- components ---- */

static int registry_build(struct registry *r, const struct config *cfg,
			  const struct registry *old)
{
	struct component *comps = calloc(cfg->nr_comps ? cfg->nr_comps : 1, sizeof(*comps));
	uint64_t now = now_mono_ns();

	if (!comps)
		return -ENOMEM;
	if (cfg->nr_comps >= MEMSHED_MAX_COMPONENTS) {
		free(comps);
		return -E2BIG;
	}
	for (int i = 0; i < cfg->nr_comps; i++) {
		struct component *c = &comps[i];
		struct component *prev = NULL;

		for (int j = 0; old && j < old->nr_comps && !prev; j++)
			if (!strcmp(old->comps[j].cfg->name, cfg->comps[i].name))
				prev = &old->comps[j];
		if (prev)
			*c = *prev;	/* a reload keeps state, lease, idle clock */
		else
			*c = (struct component){ .start_ns = now, .last_access_ns = now,
						 .ladder_done = -1 };
		c->id = i + 1;
		c->cfg = &cfg->comps[i];
	}
	r->comps = comps;
	r->nr_comps = cfg->nr_comps;
	r->cfg = cfg;
	return 0;
}

/* The kernel's records follow their components by name to the new ids. */
static void registry_move_kernel_records(struct registry *r, const struct registry *old)
{
	struct memshed_comp *saved, *k;

	if (!r->ld)
		return;
	saved = calloc(old->nr_comps + 1, sizeof(*saved));
	for (int j = 0; saved && j < old->nr_comps; j++)
		if ((k = loader_comp(r->ld, old->comps[j].id)))
			saved[j + 1] = *k;
	/* Clears the records of the old ids and maps those of the new ones. */
	loader_set_components(r->ld, r->nr_comps);
	for (int i = 0; saved && i < r->nr_comps; i++) {
		if (!(k = loader_comp(r->ld, r->comps[i].id)))
			continue;
		memset(k, 0, sizeof(*k));
		for (int j = 0; j < old->nr_comps; j++)
			if (!strcmp(old->comps[j].cfg->name, r->comps[i].cfg->name))
				*k = saved[j + 1];
	}
	free(saved);
}

/*
 * Tell the kernel which execs can matter. Rules of a component all have to
 * match, so a component with a comm: rule matches only that comm; if every
 * component has one, the daemon needs to hear only of those comms.
 */
static void registry_push_exec_filter(struct registry *r)
{
	const char **comms = calloc(r->nr_comps ? r->nr_comps : 1, sizeof(*comms));
	int n = 0;

	if (!r->ld)
		goto out;
	loader_set_exec_events(r->ld, r->nr_comps > 0);
	for (int i = 0; comms && i < r->nr_comps; i++) {
		const struct component_config *cc = r->comps[i].cfg;
		const char *comm = NULL;

		for (int k = 0; k < cc->nr_rules && !comm; k++)
			if (cc->rules[k].kind == MATCH_COMM)
				comm = cc->rules[k].arg;
		if (!comm) {
			loader_set_exec_filter(r->ld, NULL, 0);
			goto out;
		}
		comms[n++] = comm;
	}
	if (comms)
		loader_set_exec_filter(r->ld, comms, n);
out:
	free(comms);
}

static void registry_push_settings(struct registry *r)
{
	if (!r->ld)
		return;
	loader_set_components(r->ld, r->nr_comps);
	loader_set_idle_cpu(r->ld, r->cfg->idle_cpu, r->cfg->idle_window_ns);
	registry_push_exec_filter(r);
}

int registry_init(struct registry *r, const struct config *cfg, struct loader *ld)
{
	int err;

	memset(r, 0, sizeof(*r));
	r->ld = ld;
	r->proc_root = "/proc";
	err = registry_build(r, cfg, NULL);
	if (err)
		return err;
	match_init(&r->match, cfg, r->proc_root);
	registry_push_settings(r);
	return 0;
}

int registry_apply_config(struct registry *r, const struct config *cfg)
{
	struct registry old = *r;
	int err;

	err = registry_build(r, cfg, &old);
	if (err) {
		*r = old;
		return err;
	}
	registry_move_kernel_records(r, &old);
	/* Entries keep their old ids until the scan relabels them: map each
	 * to its component's new id by name, or none. */
	for (size_t i = 0; i < r->procs_cap; i++) {
		struct proc_entry *e = &r->procs[i];
		const char *name = e->tgid ? registry_name(&old, e->comp_id) : NULL;
		struct component *c = name ? registry_find(r, name) : NULL;

		if (e->tgid)
			e->comp_id = c ? c->id : 0;
	}
	free(old.comps);
	r->gen++;		/* component ids changed: the snapshot's are stale */
	match_init(&r->match, cfg, r->proc_root);
	registry_push_settings(r);
	registry_scan(r);
	registry_mark_sockets(r);
	return 0;
}

void registry_free(struct registry *r)
{
	free(r->arm);
	free(r->snap);
	for (size_t i = 0; i < r->procs_cap; i++)
		if (r->procs[i].tgid)
			proc_unwatch(&r->procs[i]);
	match_free(&r->match);
	free(r->comps);
	free(r->procs);
	memset(r, 0, sizeof(*r));
}

struct component *registry_find(struct registry *r, const char *name)
{
	for (int i = 0; i < r->nr_comps; i++)
		if (!strcmp(r->comps[i].cfg->name, name))
			return &r->comps[i];
	return NULL;
}

struct component *registry_get(struct registry *r, uint32_t comp_id)
{
	if (!comp_exists(r, comp_id))
		return NULL;
	return &r->comps[comp_id - 1];
}

const char *registry_name(struct registry *r, uint32_t comp_id)
{
	struct component *c = registry_get(r, comp_id);

	return c ? c->cfg->name : NULL;
}

uint64_t registry_usage(const struct registry *r)
{
	uint64_t sum = 0;

	if (r->ld)
		return loader_usage(r->ld);
	for (int i = 0; i < r->nr_comps; i++)
		sum += r->comps[i].rss_total;
	return sum;
}

void registry_touch(struct component *c, uint64_t now_ns)
{
	if (now_ns > c->touch_ns)
		c->touch_ns = now_ns;
	if (now_ns > c->last_access_ns) {
		c->last_access_ns = now_ns;
		c->last_access = ACCESS_TOUCH;
	}
}

void registry_hold(struct component *c, uint64_t ttl_ns, uint64_t now_ns)
{
	c->held = true;
	c->hold_until_ns = ttl_ns ? now_ns + ttl_ns : 0;
}

void registry_release(struct component *c)
{
	c->held = false;
	c->hold_until_ns = 0;
}

bool registry_in_use(const struct component *c, uint64_t now_ns)
{
	return c->held && (!c->hold_until_ns || now_ns < c->hold_until_ns);
}

const char *comp_state_name(enum comp_state s)
{
	static const char *const names[] = {
		[COMP_ABSENT] = "absent", [COMP_ACTIVE] = "active",
		[COMP_UNLOADING] = "unloading", [COMP_UNLOADED] = "unloaded",
		[COMP_FROZEN] = "frozen", [COMP_HIBERNATED] = "hibernated",
	};

	return s <= COMP_HIBERNATED ? names[s] : "?";
}

const char *access_kind_name(enum access_kind k)
{
	static const char *const names[] = {
		[ACCESS_START] = "start", [ACCESS_SOCKET] = "socket",
		[ACCESS_CONNECT] = "connection", [ACCESS_CPU] = "cpu",
		[ACCESS_TOUCH] = "touch",
	};

	return k <= ACCESS_TOUCH ? names[k] : "?";
}
