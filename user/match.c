// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Match rules against one process. comm:, user: and (for cgroup2 and the
 * v1 memory hierarchy) cgroup: rules are decided from what the kernel's
 * task dump says; exe:, cmdline:, pidfile: and other cgroup: rules read
 * /proc, once per process and only when a rule asks.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cgroup.h"
#include "match.h"
#include "output.h"

/* ---- facts ---- */

void facts_init(struct proc_facts *f, const struct match_ctx *m, pid_t tgid)
{
	memset(f, 0, sizeof(*f));
	f->tgid = tgid;
	f->root = m->proc_root;
}

void facts_free(struct proc_facts *f)
{
	free(f->exe);
	free(f->cmdline);
	free(f->cgroups);
}

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
		f->have_exe = true;
		f->exe = malloc(PATH_MAX);
		if (!f->exe)
			return "";
		snprintf(path, sizeof(path), "%s/%d/exe", f->root, f->tgid);
		n = readlink(path, f->exe, PATH_MAX - 1);
		f->exe[n > 0 ? n : 0] = '\0';
		/* An upgraded binary still names the service. */
		deleted = strstr(f->exe, " (deleted)");
		if (deleted && !deleted[10])
			*deleted = '\0';
	}
	return f->exe ? f->exe : "";
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

/* ---- cgroup: rules ---- */

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
 * cgroup:PATH as text, against /proc/PID/cgroup: a path as that file shows
 * it (/system.slice/x: any hierarchy) or a path in a mounted hierarchy:
 * /sys/fs/cgroup/memory/x (that hierarchy only), /sys/fs/cgroup/unified/x
 * (cgroup2 on hybrid hosts) or /sys/fs/cgroup/x on pure cgroup2 hosts.
 */
static bool match_cgroup_text(struct proc_facts *f, const char *want)
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

/*
 * unit:NAME: a process is in a systemd unit when a component of its
 * cgroup path in systemd's hierarchy is NAME (/system.slice/NAME.service,
 * or a slice anywhere above it). On cgroup v2 that is the 0:: line, on
 * hybrid and v1 hosts also the name=systemd line. A restarted unit's new
 * processes are in the same cgroup, so they match again.
 */
static bool match_unit(struct proc_facts *f, const char *unit)
{
	const char *lines = facts_cgroups(f), *line, *path, *end, *c, *next;
	size_t n = strlen(unit);

	for (line = lines; *line; line = end + (*end != '\0')) {
		end = strchrnul(line, '\n');
		if (strncmp(line, "0::", 3) && !memmem(line, end - line, ":name=systemd:", 14))
			continue;
		path = memchr(line, ':', end - line);
		path = path ? memchr(path + 1, ':', end - path - 1) : NULL;
		/* Only below slices: a unit's own cgroup is systemd's to create,
		 * but a delegated subtree (user@UID.service/...) is its user's,
		 * who could name a cgroup there after any unit. */
		for (c = path ? path + 2 : NULL; c && c < end; c = next + 1) {
			next = memchr(c, '/', end - c);
			if (!next)
				next = end;
			if ((size_t)(next - c) == n && !memcmp(c, unit, n))
				return true;
			if (next - c < 6 || memcmp(next - 6, ".slice", 6))
				break;
		}
	}
	return false;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* nftw has no context argument: the set being filled. */
static struct cgroup_ids *walk_into;

static int walk_dir(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	struct cgroup_ids *s = walk_into;

	if (type != FTW_D)
		return 0;
	if ((s->n & (s->n + 1)) == 0 || !s->ids) {
		uint64_t *v = realloc(s->ids, (s->n + 1) * 2 * sizeof(*v));

		if (!v)
			return -1;
		s->ids = v;
	}
	s->ids[s->n++] = st->st_ino;	/* a cgroup's kernfs id is its inode number */
	return 0;
}

static void ids_add_tree(struct cgroup_ids *s, const char *dir)
{
	struct stat st;

	if (stat(dir, &st) || !S_ISDIR(st.st_mode))
		return;
	walk_into = s;
	nftw(dir, walk_dir, 16, FTW_PHYS | FTW_MOUNT);
	walk_into = NULL;
}

/* Resolve one cgroup: rule to the ids of the directories it covers in the
 * hierarchies the dump reports (cgroup2 and v1 memory); anything else is
 * matched as text. */
static void resolve_rule(const struct match_ctx *m, const char *want, struct cgroup_ids *s)
{
	char dir[PATH_MAX * 2];

	memset(s, 0, sizeof(*s));
	if (!strncmp(want, "/sys/fs/cgroup/", 15)) {
		if (m->cg2_mount[0] && path_within(want, m->cg2_mount) &&
		    !(m->memcg_mount[0] && path_within(want, m->memcg_mount))) {
			ids_add_tree(s, want);
			s->v2 = true;
		} else if (m->memcg_mount[0] && path_within(want, m->memcg_mount)) {
			ids_add_tree(s, want);
			s->memory = true;
		} else {
			s->text = true;
		}
	} else {
		if (m->cg2_mount[0]) {
			snprintf(dir, sizeof(dir), "%s%s", m->cg2_mount, want);
			ids_add_tree(s, dir);
			s->v2 = s->n > 0;
		}
		if (m->memcg_mount[0]) {
			size_t before = s->n;

			snprintf(dir, sizeof(dir), "%s%s", m->memcg_mount, want);
			ids_add_tree(s, dir);
			s->memory = s->n > before;
		}
		/* In neither: maybe another v1 hierarchy (cpu, name=systemd). */
		s->text = !s->v2 && !s->memory;
	}
	if (s->n)
		qsort(s->ids, s->n, sizeof(*s->ids), u64_cmp);
}

static bool ids_have(const struct cgroup_ids *s, uint64_t id)
{
	return id && s->n && bsearch(&id, s->ids, s->n, sizeof(id), u64_cmp);
}

static bool match_cgroup(const struct match_ctx *m, const struct cgroup_ids *s,
			 struct proc_facts *f, const char *want)
{
	if (!s || s->text || (s->v2 && !f->cgroup_id) || (s->memory && !f->memcg_id))
		return match_cgroup_text(f, want);
	return (s->v2 && ids_have(s, f->cgroup_id)) || (s->memory && ids_have(s, f->memcg_id));
}

/* ---- pidfile: rules ---- */

/*
 * A pidfile names a process only if nobody but root could have written
 * it: the file (opened without following a link) and its directory owned
 * by root, neither writable by others (a sticky directory excepted). A
 * component that also names a user: may trust that user's pidfile for
 * that user's processes. Otherwise any user who can write the file could
 * make memshed signal a process of their choosing.
 */
static int pidfile_read(const char *file, uid_t trusted, pid_t *ret, char *why, size_t len)
{
	char dir[PATH_MAX], base[PATH_MAX], buf[32];
	struct stat dst, fst;
	int dfd, fd, n;

	snprintf(dir, sizeof(dir), "%s", file);
	snprintf(base, sizeof(base), "%s", file);
	dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	fd = openat(dfd, basename(base), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(dfd, &dst) || fstat(fd, &fst)) {
		int err = errno == ELOOP ? -ELOOP : -errno;

		snprintf(why, len, "%s", err == -ELOOP ? "it is a symbolic link" : strerror(-err));
		if (fd >= 0)
			close(fd);
		close(dfd);
		return err;
	}
	close(dfd);
	if (!S_ISREG(fst.st_mode))
		snprintf(why, len, "it is not a regular file");
	else if (fst.st_uid != 0 && fst.st_uid != trusted)
		snprintf(why, len, "it is owned by uid %u, not root", (unsigned)fst.st_uid);
	else if (dst.st_uid != 0 && dst.st_uid != trusted)
		snprintf(why, len, "its directory is owned by uid %u, not root", (unsigned)dst.st_uid);
	else if (fst.st_mode & S_IWOTH || (fst.st_mode & S_IWGRP && fst.st_gid != 0))
		snprintf(why, len, "others may write it (mode %04o)", (unsigned)fst.st_mode & 07777);
	else if (dst.st_mode & S_IWOTH && !(dst.st_mode & S_ISVTX))
		snprintf(why, len, "others may write its directory (mode %04o)",
			 (unsigned)dst.st_mode & 07777);
	else
		why[0] = '\0';
	if (why[0]) {
		close(fd);
		return -EPERM;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	*ret = strtol(buf, NULL, 10);
	return *ret > 0 ? 0 : -EINVAL;
}

/* The uid a component's user: rule names, or (uid_t)-1. */
static uid_t component_user(const struct component_config *cc)
{
	for (int i = 0; i < cc->nr_rules; i++)
		if (cc->rules[i].kind == MATCH_USER)
			return cc->rules[i].uid;
	return (uid_t)-1;
}

static bool match_pidfile(const struct component_config *cc, const struct match_rule *r,
			  struct proc_facts *f)
{
	uid_t user = component_user(cc);
	char why[128];
	pid_t pid;
	int err;

	err = pidfile_read(r->arg, user, &pid, why, sizeof(why));
	if (err == -EPERM || err == -ELOOP) {
		/* Once per reason a minute is plenty: this runs per process. */
		static uint64_t last_ns;
		uint64_t now = now_mono_ns();

		if (!last_ns || now - last_ns > 60000000000ull) {
			log_warn("component %s: pidfile %s is not trusted: %s; no process is "
				 "labelled from it", cc->name, r->arg, why);
			last_ns = now;
		}
		return false;
	}
	/* A file owned by the component's user names only that user's
	 * processes: the user: rule, which must match too, sees to that. */
	return err == 0 && pid == f->tgid;
}

/* ---- rules ---- */

static bool rule_matches(const struct match_ctx *m, const struct component_config *cc, int ci,
			 int ri, struct proc_facts *f)
{
	const struct match_rule *r = &cc->rules[ri];
	uid_t uid;

	switch (r->kind) {
	case MATCH_COMM:
		return !strcmp(facts_comm(f), r->arg);
	case MATCH_EXE:
		return !strcmp(facts_exe(f), r->arg);
	case MATCH_CMDLINE:
		return regexec(&r->re, facts_cmdline(f), 0, NULL, 0) == 0;
	case MATCH_CGROUP:
		return match_cgroup(m, m->cgroups && m->cgroups[ci] ? &m->cgroups[ci][ri] : NULL,
				    f, r->arg);
	case MATCH_PIDFILE:
		return match_pidfile(cc, r, f);
	case MATCH_USER:
		return facts_uid(f, &uid) && uid == r->uid;
	case MATCH_UNIT:
		return match_unit(f, r->arg);
	}
	return false;
}

/* A component matches when every one of its rules does (rules narrow:
 * comm:python plus user:batch is "python run by batch"). */
int match_component(const struct match_ctx *m, struct proc_facts *f)
{
	for (int i = 0; i < m->cfg->nr_comps; i++) {
		const struct component_config *cc = &m->cfg->comps[i];
		int k;

		if (!cc->nr_rules)
			continue;
		for (k = 0; k < cc->nr_rules; k++)
			if (!rule_matches(m, cc, i, k, f))
				break;
		if (k == cc->nr_rules)
			return i;
	}
	return -1;
}

void match_init(struct match_ctx *m, const struct config *cfg, const char *proc_root)
{
	struct cgroup_mount cm;

	memset(m, 0, sizeof(*m));
	m->cfg = cfg;
	m->proc_root = proc_root;
	if (cgroup_find_mount(NULL, NULL, &cm) == 0)
		snprintf(m->cg2_mount, sizeof(m->cg2_mount), "%s", cm.mnt);
	if (cgroup_find_mount("memory", NULL, &cm) == 0)
		snprintf(m->memcg_mount, sizeof(m->memcg_mount), "%s", cm.mnt);
}

void match_resolve_cgroups(struct match_ctx *m)
{
	const struct config *cfg = m->cfg;

	match_free(m);
	m->cgroups = calloc(cfg->nr_comps ? cfg->nr_comps : 1, sizeof(*m->cgroups));
	for (int i = 0; m->cgroups && i < cfg->nr_comps; i++) {
		const struct component_config *cc = &cfg->comps[i];

		for (int k = 0; k < cc->nr_rules; k++) {
			if (cc->rules[k].kind != MATCH_CGROUP)
				continue;
			if (!m->cgroups[i])
				m->cgroups[i] = calloc(cc->nr_rules, sizeof(**m->cgroups));
			if (m->cgroups[i])
				resolve_rule(m, cc->rules[k].arg, &m->cgroups[i][k]);
		}
	}
}

void match_free(struct match_ctx *m)
{
	for (int i = 0; m->cgroups && i < m->cfg->nr_comps; i++) {
		for (int k = 0; m->cgroups[i] && k < m->cfg->comps[i].nr_rules; k++)
			free(m->cgroups[i][k].ids);
		free(m->cgroups[i]);
	}
	free(m->cgroups);
	m->cgroups = NULL;
}
