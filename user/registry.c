// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Components and their processes. The kernel is the source of truth for
 * which processes carry a label (fork inheritance happens there); this
 * file decides labels (rules, CLI), mirrors the kernel's process map at
 * each refresh, and keeps per-component state the kernel does not have.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "registry.h"
#include "output.h"

/* What a rule needs to know about a process, read lazily from /proc. */
struct proc_facts {
	pid_t tgid;
	const char *root;
	char comm[17];
	char exe[PATH_MAX];
	char *cmdline;
	char *cgroups;
	uid_t uid;
	bool have_comm, have_exe, have_cmdline, have_cgroups, have_uid;
};

static const char *facts_comm(struct proc_facts *f)
{
	char path[64];

	if (!f->have_comm) {
		snprintf(path, sizeof(path), "%s/%d/comm", f->root, f->tgid);
		if (read_file(path, f->comm, sizeof(f->comm)) < 0)
			f->comm[0] = '\0';
		f->comm[strcspn(f->comm, "\n")] = '\0';
		f->have_comm = true;
	}
	return f->comm;
}

static const char *facts_exe(struct proc_facts *f)
{
	char path[64], *deleted;
	ssize_t n;

	if (!f->have_exe) {
		snprintf(path, sizeof(path), "%s/%d/exe", f->root, f->tgid);
		n = readlink(path, f->exe, sizeof(f->exe) - 1);
		f->exe[n > 0 ? n : 0] = '\0';
		/* An upgraded binary still names the service. */
		deleted = strstr(f->exe, " (deleted)");
		if (deleted && !deleted[10])
			*deleted = '\0';
		f->have_exe = true;
	}
	return f->exe;
}

static const char *facts_cmdline(struct proc_facts *f)
{
	char path[64];
	int n;

	if (!f->have_cmdline) {
		f->have_cmdline = true;
		f->cmdline = calloc(1, 4096);
		if (!f->cmdline)
			return "";
		snprintf(path, sizeof(path), "%s/%d/cmdline", f->root, f->tgid);
		n = read_file(path, f->cmdline, 4096);
		/* Arguments are NUL-separated: match them as one line. */
		for (int i = 0; i < n - 1; i++)
			if (f->cmdline[i] == '\0')
				f->cmdline[i] = ' ';
	}
	return f->cmdline ? f->cmdline : "";
}

static const char *facts_cgroups(struct proc_facts *f)
{
	char path[64];

	if (!f->have_cgroups) {
		f->have_cgroups = true;
		f->cgroups = calloc(1, 8192);
		if (!f->cgroups)
			return "";
		snprintf(path, sizeof(path), "%s/%d/cgroup", f->root, f->tgid);
		if (read_file(path, f->cgroups, 8192) < 0)
			f->cgroups[0] = '\0';
	}
	return f->cgroups ? f->cgroups : "";
}

static bool facts_uid(struct proc_facts *f, uid_t *ret)
{
	char path[64], buf[2048], *line;

	if (!f->have_uid) {
		f->have_uid = true;
		f->uid = (uid_t)-1;
		snprintf(path, sizeof(path), "%s/%d/status", f->root, f->tgid);
		if (read_file(path, buf, sizeof(buf)) > 0 && (line = strstr(buf, "\nUid:")))
			f->uid = strtoul(line + 5, NULL, 10);	/* real uid */
	}
	*ret = f->uid;
	return f->uid != (uid_t)-1;
}

static void facts_free(struct proc_facts *f)
{
	free(f->cmdline);
	free(f->cgroups);
}

/* Is cgroup path `p` equal to `want` or below it? */
static bool cgroup_path_under(const char *p, size_t plen, const char *want)
{
	size_t wlen = strlen(want);

	while (wlen > 1 && want[wlen - 1] == '/')
		wlen--;
	if (plen < wlen || strncmp(p, want, wlen))
		return false;
	return plen == wlen || p[wlen] == '/' || wlen == 1;
}

/* Does line "ID:CONTROLLERS:" belong to the hierarchy mounted as dir h
 * (/sys/fs/cgroup/h)? "unified" is cgroup2 (ID 0); a v1 dir is named for
 * its controllers ("memory", "cpu,cpuacct") or its name= ("systemd"). */
static bool line_in_hierarchy(const char *line, const char *ctrl_end, const char *h, size_t hlen)
{
	const char *ctrl = strchr(line, ':') + 1;
	size_t clen = ctrl_end - ctrl;

	if (clen == 0)
		return hlen == 7 && !strncmp(h, "unified", 7);
	if (clen > 5 && !strncmp(ctrl, "name=", 5))
		ctrl += 5, clen -= 5;
	return clen == hlen && !strncmp(ctrl, h, hlen);
}

/*
 * cgroup:PATH accepts a path as /proc/PID/cgroup shows it (/system.slice/x:
 * any hierarchy) or a path in a mounted hierarchy: /sys/fs/cgroup/memory/x
 * (that hierarchy only), /sys/fs/cgroup/unified/x (cgroup2 on hybrid hosts)
 * or /sys/fs/cgroup/x on pure cgroup2 hosts.
 */
static bool match_cgroup(struct proc_facts *f, const char *want)
{
	const char *lines = facts_cgroups(f), *line, *path, *end;
	const char *h = NULL, *below = NULL;
	size_t hlen = 0;

	if (!strncmp(want, "/sys/fs/cgroup/", 15)) {
		h = want + 15;
		below = strchrnul(h, '/');
		hlen = below - h;
		if (!*below)
			below = "/";
	}
	for (line = lines; *line; line = end + (*end != '\0')) {
		end = strchrnul(line, '\n');
		path = memchr(line, ':', end - line);
		path = path ? memchr(path + 1, ':', end - path - 1) : NULL;
		if (!path)
			continue;
		if (!h) {
			if (cgroup_path_under(path + 1, end - path - 1, want))
				return true;
			continue;
		}
		/* A hierarchy dir: only its own line. Pure cgroup2: the 0:: line
		 * with everything after /sys/fs/cgroup. */
		if (line_in_hierarchy(line, path, h, hlen) &&
		    cgroup_path_under(path + 1, end - path - 1, below))
			return true;
		if (path == line + 2 && line[0] == '0' &&
		    cgroup_path_under(path + 1, end - path - 1, want + 14))
			return true;
	}
	return false;
}

static bool match_pidfile(const char *file, pid_t tgid)
{
	char buf[32];

	if (read_file(file, buf, sizeof(buf)) <= 0)
		return false;
	return strtol(buf, NULL, 10) == tgid;
}

static bool rule_matches(const struct match_rule *m, struct proc_facts *f)
{
	uid_t uid;

	switch (m->kind) {
	case MATCH_COMM:
		return !strcmp(facts_comm(f), m->arg);
	case MATCH_EXE:
		return !strcmp(facts_exe(f), m->arg);
	case MATCH_CMDLINE:
		return regexec(&m->re, facts_cmdline(f), 0, NULL, 0) == 0;
	case MATCH_CGROUP:
		return match_cgroup(f, m->arg);
	case MATCH_PIDFILE:
		return match_pidfile(m->arg, f->tgid);
	case MATCH_USER:
		return facts_uid(f, &uid) && uid == m->uid;
	}
	return false;
}

/* A component matches when every one of its rules does (rules narrow:
 * comm:python plus user:batch is "python run by batch"). */
static bool component_matches(const struct component_config *cc, struct proc_facts *f)
{
	if (cc->nr_rules == 0)
		return false;
	for (int i = 0; i < cc->nr_rules; i++)
		if (!rule_matches(&cc->rules[i], f))
			return false;
	return true;
}

uint32_t registry_match(struct registry *r, pid_t tgid)
{
	struct proc_facts f = { .tgid = tgid, .root = r->proc_root };
	uint32_t id = 0;

	for (int i = 0; i < r->nr_comps && !id; i++)
		if (component_matches(r->comps[i].cfg, &f))
			id = r->comps[i].id;
	facts_free(&f);
	return id;
}

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

static int procs_grow(struct registry *r)
{
	size_t old_cap = r->procs_cap, cap = old_cap ? old_cap * 2 : 1024;
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

static struct proc_entry *proc_insert(struct registry *r, pid_t tgid)
{
	struct proc_entry *e = proc_find(r, tgid);
	size_t i;

	if (e)
		return e;
	if ((r->nr_procs + 1) * 2 > r->procs_cap && procs_grow(r))
		return NULL;
	for (i = proc_slot(r, tgid); r->procs[i].tgid; i = (i + 1) & (r->procs_cap - 1))
		;
	r->procs[i] = (struct proc_entry){ .tgid = tgid, .seen_pass = r->pass };
	r->nr_procs++;
	return &r->procs[i];
}

/* Backward-shift deletion keeps probe chains intact without tombstones. */
static void proc_remove(struct registry *r, struct proc_entry *e)
{
	size_t mask = r->procs_cap - 1, i = e - r->procs, j = i;

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

/* ---- labels ---- */

int registry_label(struct registry *r, pid_t tgid, uint32_t comp_id, enum label_origin origin)
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
	e = proc_insert(r, tgid);
	if (!e)
		return -ENOMEM;
	e->origin = origin;
	if (e->comp_id != comp_id) {
		e->comp_id = comp_id;
		e->runtime_ns = 0;
		/* A new member starts the idle clock: its history is unknown. */
		c->last_access_ns = now_mono_ns();
	}
	return 0;
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

static bool is_pid_dir(const char *name)
{
	for (; *name; name++)
		if (!isdigit((unsigned char)*name))
			return false;
	return true;
}

int registry_scan(struct registry *r)
{
	struct dirent *de;
	pid_t self = getpid();
	int count = 0;
	DIR *d;

	if (!r->nr_comps)
		return 0;
	d = opendir(r->proc_root);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		pid_t tgid;
		uint32_t id;

		if (!is_pid_dir(de->d_name))
			continue;
		tgid = atoi(de->d_name);
		if (tgid <= 1 || tgid == self)
			continue;
		id = registry_match(r, tgid);
		if (id && registry_label(r, tgid, id, ORIGIN_RULE) == 0)
			count++;
	}
	closedir(d);
	if (r->ld && count)
		loader_sample(r->ld);
	return count;
}

uint32_t registry_on_exec(struct registry *r, pid_t tgid)
{
	uint32_t id;

	if (tgid == getpid())
		return 0;
	/* An explicit rule beats an inherited label. */
	id = registry_match(r, tgid);
	if (id && registry_label(r, tgid, id, ORIGIN_RULE))
		return 0;
	return id;
}

void registry_on_fork(struct registry *r, pid_t tgid, uint32_t comp_id)
{
	struct proc_entry *e = registry_get(r, comp_id) ? proc_insert(r, tgid) : NULL;

	if (e) {
		e->comp_id = comp_id;
		e->origin = ORIGIN_INHERITED;
	}
}

void registry_on_exit(struct registry *r, pid_t tgid)
{
	struct proc_entry *e = proc_find(r, tgid);

	if (e)
		proc_remove(r, e);
}

/* ---- refresh from the kernel ---- */

struct refresh_ctx {
	struct registry *r;
	uint64_t now;
	bool sched_switch;
};

static int refresh_one(void *ctx, pid_t tgid, const struct memshed_proc *p)
{
	struct refresh_ctx *rc = ctx;
	struct registry *r = rc->r;
	struct component *c = registry_get(r, p->comp_id);
	struct proc_entry *e;
	bool known;

	if (!c)
		return 0;
	known = proc_find(r, tgid) != NULL;
	e = proc_insert(r, tgid);
	if (!e)
		return -ENOMEM;
	if (known && e->comp_id == p->comp_id && p->runtime_ns > e->runtime_ns &&
	    e->runtime_ns)
		c->last_access_ns = rc->now;	/* it ran since the last sample */
	e->comp_id = p->comp_id;
	e->runtime_ns = p->runtime_ns;
	e->seen_pass = r->pass;
	if (rc->sched_switch && p->last_run_ns > c->last_access_ns)
		c->last_access_ns = p->last_run_ns;
	c->nr_procs++;
	for (int i = 0; i < MEMSHED_NR_RSS; i++)
		c->rss[i] += p->rss[i];
	c->rss_total += p->rss_total;
	return 0;
}

static void refresh_states(struct registry *r)
{
	for (int i = 0; i < r->nr_comps; i++) {
		struct component *c = &r->comps[i];

		if (c->nr_procs && (c->state == COMP_ABSENT || c->state == COMP_UNLOADED))
			c->state = COMP_ACTIVE;
		else if (!c->nr_procs && c->state == COMP_ACTIVE)
			c->state = COMP_ABSENT;
	}
}

int registry_refresh(struct registry *r, uint64_t now_ns)
{
	struct refresh_ctx rc = { .r = r, .now = now_ns,
		.sched_switch = r->cfg->activity_source == ACTIVITY_SCHED_SWITCH };
	int err;

	if (!r->ld)
		return 0;
	err = loader_sample(r->ld);
	if (err)
		return err;
	r->pass++;
	for (int i = 0; i < r->nr_comps; i++) {
		struct component *c = &r->comps[i];

		c->nr_procs = 0;
		c->rss_total = 0;
		memset(c->rss, 0, sizeof(c->rss));
	}
	err = loader_for_each_proc(r->ld, refresh_one, &rc);
	/* Entries the kernel no longer has: exited (or unlabelled). */
	for (size_t i = 0; i < r->procs_cap; i++) {
		while (r->procs[i].tgid && r->procs[i].seen_pass != r->pass)
			proc_remove(r, &r->procs[i]);
	}
	refresh_states(r);
	return err;
}

int registry_pids(struct registry *r, uint32_t comp_id, pid_t *ret, int max)
{
	int n = 0;

	for (size_t i = 0; i < r->procs_cap && n < max; i++)
		if (r->procs[i].tgid && r->procs[i].comp_id == comp_id)
			ret[n++] = r->procs[i].tgid;
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
			*c = (struct component){ .last_access_ns = now, .ladder_done = -1 };
		c->id = i + 1;
		c->cfg = &cfg->comps[i];
	}
	r->comps = comps;
	r->nr_comps = cfg->nr_comps;
	r->cfg = cfg;
	return 0;
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

int registry_init(struct registry *r, const struct config *cfg, struct loader *ld)
{
	int err;

	memset(r, 0, sizeof(*r));
	r->ld = ld;
	r->proc_root = "/proc";
	err = registry_build(r, cfg, NULL);
	if (!err)
		registry_push_exec_filter(r);
	return err;
}

int registry_apply_config(struct registry *r, const struct config *cfg)
{
	struct registry old = *r;
	size_t cap = r->procs_cap;
	struct proc_entry *procs;
	int err;

	err = registry_build(r, cfg, &old);
	if (err) {
		*r = old;
		return err;
	}
	/* Relabel every known process: by rule, else by its old component's
	 * name (inherited and CLI labels survive a reload), else unlabel. */
	procs = calloc(cap ? cap : 1, sizeof(*procs));
	if (procs && cap)
		memcpy(procs, old.procs, cap * sizeof(*procs));
	for (size_t i = 0; procs && i < cap; i++) {
		const char *old_name = procs[i].tgid ? registry_name(&old, procs[i].comp_id) : NULL;
		struct component *keep;
		uint32_t id;

		if (!procs[i].tgid)
			continue;
		id = registry_match(r, procs[i].tgid);
		keep = old_name && procs[i].origin != ORIGIN_RULE ? registry_find(r, old_name) : NULL;
		if (id)
			registry_label(r, procs[i].tgid, id, ORIGIN_RULE);
		else if (keep)
			registry_label(r, procs[i].tgid, keep->id, procs[i].origin);
		else
			registry_unlabel(r, procs[i].tgid);
	}
	free(procs);
	free(old.comps);
	if (r->ld) {
		for (uint32_t id = r->nr_comps + 1; id <= (uint32_t)old.nr_comps; id++)
			loader_forget_comp(r->ld, id);
	}
	registry_push_exec_filter(r);
	registry_scan(r);
	return 0;
}

void registry_free(struct registry *r)
{
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
	if (comp_id == 0 || comp_id > (uint32_t)r->nr_comps)
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

	for (int i = 0; i < r->nr_comps; i++)
		sum += r->comps[i].rss_total;
	return sum;
}

void registry_touch(struct component *c, uint64_t now_ns)
{
	if (now_ns > c->last_access_ns)
		c->last_access_ns = now_ns;
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
		[COMP_FROZEN] = "frozen",
	};

	return s <= COMP_FROZEN ? names[s] : "?";
}
