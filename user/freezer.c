// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The cgroup freezer (freezer.h): where the hierarchies are mounted (from
 * /proc/self/mountinfo), the memshed-owned group of each component, moving
 * processes in and back out, freezing and thawing.
 *
 * cgroupfs takes no ordinary files, so where each process came from is
 * remembered in memory (struct freezer_state) and it is moved back on
 * thaw. Each frozen group is also recorded in a state file of its own
 * under the state directory (/run/memshed/frozen for the daemon): which
 * memshed froze it (pid and start time, so a recycled pid is not mistaken
 * for it, and no process name is trusted) and where each process came
 * from. A starting memshed thaws the groups whose owner is dead, moving
 * their processes back by that record, and removes the record; a group
 * with no record (an older memshed's) is judged by that memshed's own
 * mark (owner_alive_compat) and, if thawed, its processes are left in the
 * (thawed) memshed cgroup - moving them to the hierarchy root instead
 * would guess.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <linux/magic.h>

#include "cgroup.h"
#include "failpoint.h"
#include "freezer.h"
#include "memcg.h"
#include "output.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif

/* One cgroup hierarchy memshed may own a parent directory in. */
struct hier {
	char root[256];		/* memshed-owned parent, e.g. <mount>/memshed */
	char mnt[PATH_MAX];	/* where the hierarchy is mounted */
	char mnt_root[PATH_MAX];/* the mount's root inside the hierarchy (mountinfo field 4) */
	bool v2;
};

/* Where a frozen process came from, to move it back on thaw. */
struct origin {
	char *cgdir;		/* memshed cgroup it was moved into */
	char *from;		/* absolute path of its original cgroup */
	pid_t pid;
};

struct freezer_state {
	/* [0]: where freeze acts (f->root); [1]: the other hierarchy,
	 * walked only by thaw_all (a previous run may have used it). */
	struct hier hier[2];
	int nr_hier;
	struct origin *origins;
	int nr_origins, cap_origins;
	/* Components frozen in their own cgroup2 group (freezer_freeze_in_place). */
	struct inplace { char *component, *cgdir; } *inplace;
	int nr_inplace;
};

static int write_file(const char *path, const char *s)
{
	int fd, r = 0;
	size_t len = strlen(s);

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* cgroupfs takes one write per value; a short write is an error. */
	if (write(fd, s, len) != (ssize_t)len)
		r = errno ? -errno : -EIO;
	close(fd);
	return r;
}


/* ---- mounts ---- */

/*
 * Find a cgroup2 mount (v2) or a v1 mount carrying the freezer controller in
 * /proc/self/mountinfo. With under == NULL the first one wins and h->root
 * becomes <mount>/memshed; otherwise the mount holding `under` (longest
 * prefix) wins and h->root = under. -ENOENT if there is none.
 */
static int find_mount(bool v2, const char *under, struct hier *h)
{
	struct cgroup_mount m;
	int r = cgroup_find_mount(v2 ? NULL : "freezer", under, &m);

	if (r == 0) {
		snprintf(h->mnt, sizeof(h->mnt), "%s", m.mnt);
		snprintf(h->mnt_root, sizeof(h->mnt_root), "%s", m.mnt_root);
	}
	if (r < 0)
		return r;
	h->v2 = v2;
	if (snprintf(h->root, sizeof(h->root), "%s%s", under ? under : h->mnt,
		     under ? "" : "/memshed") >= (int)sizeof(h->root))
		return -ENAMETOOLONG;
	return 0;
}

/* cgroup2 or v1, judged from the nearest existing ancestor of path. */
static int cgroup_fs_type(const char *path, bool *ret_v2)
{
	char buf[PATH_MAX], *slash;
	struct statfs sfs;

	snprintf(buf, sizeof(buf), "%s", path);
	while (statfs(buf, &sfs) < 0) {
		if (errno != ENOENT)
			return -errno;
		slash = strrchr(buf, '/');
		if (!slash || slash == buf)
			return -ENOENT;
		*slash = '\0';
	}
	if (sfs.f_type == CGROUP2_SUPER_MAGIC)
		*ret_v2 = true;
	else if (sfs.f_type == CGROUP_SUPER_MAGIC)
		*ret_v2 = false;
	else
		return -EINVAL;
	return 0;
}

int freezer_init(struct freezer *f, const char *root)
{
	struct freezer_state *st;
	bool v2;
	int r;

	memset(f, 0, sizeof(*f));
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;

	if (root) {
		/* A directory of the caller's (tests): its file system decides. */
		r = cgroup_fs_type(root, &v2);
		if (r == 0)
			r = find_mount(v2, root, &st->hier[0]);
		if (r < 0) {
			free(st);
			return r;
		}
		st->nr_hier = 1;
	} else if (find_mount(true, NULL, &st->hier[0]) == 0) {
		/* cgroup2 first: cgroup.freeze works in any non-root group, even
		 * on hybrid hosts where no controller is enabled there. */
		st->nr_hier = 1;
		if (find_mount(false, NULL, &st->hier[1]) == 0)
			st->nr_hier = 2;
	} else if (find_mount(false, NULL, &st->hier[0]) == 0) {
		st->nr_hier = 1;
	}
	if (st->nr_hier) {
		snprintf(f->root, sizeof(f->root), "%s", st->hier[0].root);
		f->v2 = st->hier[0].v2;
	}
	f->state = st;
	return 0;
}

static void origins_drop(struct freezer_state *st, const char *cgdir);
static void state_forget(struct freezer *fz, const char *cgdir);
static void state_record(struct freezer *fz, const char *cgdir, const char *inplace);
static int thaw_dir(struct freezer *fz, const struct hier *h, const char *cgdir);

void freezer_fini(struct freezer *f)
{
	if (!f->state)
		return;
	origins_drop(f->state, NULL);
	free(f->state->origins);
	for (int i = 0; i < f->state->nr_inplace; i++) {
		free(f->state->inplace[i].component);
		free(f->state->inplace[i].cgdir);
	}
	free(f->state->inplace);
	free(f->state);
	f->state = NULL;
}

bool freezer_available(const struct freezer *f)
{
	return f->state && f->state->nr_hier;
}

/* ---- groups ---- */

/* A component name becomes a directory name: no path tricks. */
static int comp_dir(const struct hier *h, const char *name, char *buf, size_t size)
{
	if (!name[0] || name[0] == '.' || strchr(name, '/') || strchr(name, '\n'))
		return -EINVAL;
	if (snprintf(buf, size, "%s/%s", h->root, name) >= (int)size)
		return -ENAMETOOLONG;
	return 0;
}

static int mkdir_p(const char *path)
{
	char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int move_pid(const char *cgdir, pid_t pid)
{
	char path[PATH_MAX], s[32];

	snprintf(path, sizeof(path), "%s/cgroup.procs", cgdir);
	snprintf(s, sizeof(s), "%d\n", pid);
	return write_file(path, s);
}

/* The cgroup of pid in hierarchy h as an absolute directory (cgroup.h). */
static int read_cgroup_of(const struct hier *h, pid_t pid, char *buf, size_t size)
{
	return cgroup_dir_of(h->mnt, h->mnt_root, h->v2 ? NULL : "freezer", pid, buf, size);
}

static int origin_add(struct freezer_state *st, const char *cgdir, const char *from, pid_t pid)
{
	struct origin *o;

	for (int i = 0; i < st->nr_origins; i++)
		if (st->origins[i].pid == pid && !strcmp(st->origins[i].cgdir, cgdir))
			return 0;	/* already recorded: keep the first origin */
	if (st->nr_origins == st->cap_origins) {
		int cap = st->cap_origins ? 2 * st->cap_origins : 16;

		o = realloc(st->origins, cap * sizeof(*o));
		if (!o)
			return -ENOMEM;
		st->origins = o;
		st->cap_origins = cap;
	}
	o = &st->origins[st->nr_origins];
	o->cgdir = strdup(cgdir);
	o->from = strdup(from);
	o->pid = pid;
	if (!o->cgdir || !o->from) {
		free(o->cgdir);
		free(o->from);
		return -ENOMEM;
	}
	st->nr_origins++;
	return 0;
}

static const struct origin *origin_find(struct freezer_state *st, const char *cgdir, pid_t pid)
{
	for (int i = 0; i < st->nr_origins; i++)
		if (st->origins[i].pid == pid && !strcmp(st->origins[i].cgdir, cgdir))
			return &st->origins[i];
	return NULL;
}

/* Forget the records of one memshed cgroup (NULL: all). */
static void origins_drop(struct freezer_state *st, const char *cgdir)
{
	int j = 0;

	for (int i = 0; i < st->nr_origins; i++) {
		struct origin *o = &st->origins[i];

		if (!cgdir || !strcmp(o->cgdir, cgdir)) {
			free(o->cgdir);
			free(o->from);
		} else {
			st->origins[j++] = *o;
		}
	}
	st->nr_origins = j;
}

/*
 * The process holding p's pid has been moved into cgdir, but p's pidfd
 * reads exited: the pid may name a newcomer now (recycled in between),
 * one of no component, and it must not stay to be frozen. Whatever holds
 * the pid and is in cgdir is put back where the pid's holder was just
 * before the move (`from`). 0: nothing of anyone else's stays; -EBUSY:
 * a newcomer is in cgdir and could not be moved out.
 */
static int undo_recycled(const struct hier *h, const char *cgdir, const char *from, pid_t pid)
{
	char now[FREEZER_PATH_MAX];
	int r;

	if (read_cgroup_of(h, pid, now, sizeof(now)) < 0 || strcmp(now, cgdir))
		return 0;	/* no one holds it, or not here: p moved, then exited */
	r = move_pid(from, pid);
	if (r == -ESRCH)
		return 0;
	if (r < 0) {
		log_err("pid %d was recycled during its move into %s and cannot be moved back "
			"to %s: %s", pid, cgdir, from, strerror(-r));
		return -EBUSY;
	}
	log_warn("pid %d exited during its move into %s and another process took the pid; "
		 "that process was moved back to %s and is not frozen", pid, cgdir, from);
	return -ESTALE;
}

/*
 * Moving a stranger into a cgroup that is about to freeze is as bad as
 * killing it, so the caller verifies the process as for a signal. But
 * cgroup.procs takes a PID, not a pidfd, and the kernel looks the PID up
 * only once it holds the cgroup locks: p may exit and its PID go to a
 * newcomer after the check (failpoint pre-move widens that window for
 * the tests). So the move is judged after the fact: p still alive means
 * its PID named p all along, and `from` (read after the check, before the
 * move) was p's own cgroup; p gone means the move may have caught a
 * newcomer, and it is undone (undo_recycled). Only a PID recycled between
 * that read and the kernel's lookup (the write's wait for the cgroup locks:
 * microseconds, at most milliseconds) puts the newcomer into p's cgroup
 * rather than its own; never into cgdir.
 */
int freezer_group_add(struct freezer *f, const char *cgdir, const struct pidref *p)
{
	const struct hier *h = &f->state->hier[0];
	char from[FREEZER_PATH_MAX];
	int r;

	failpoint("pre-move", "pid %d", p->pid);
	r = read_cgroup_of(h, p->pid, from, sizeof(from));
	if (r < 0 || !strcmp(from, cgdir))
		return r;		/* or already here (frozen before) */
	r = move_pid(cgdir, p->pid);
	if (r < 0)
		return pidref_exited(p) ? -ESRCH : r;
	if (pidref_exited(p)) {
		r = undo_recycled(h, cgdir, from, p->pid);
		return r ? r : -ESRCH;
	}
	return origin_add(f->state, cgdir, from, p->pid);
}

static int cgroup_set_frozen(const struct hier *h, const char *cgdir, bool frozen)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", cgdir, h->v2 ? "cgroup.freeze" : "freezer.state");
	return write_file(path, h->v2 ? (frozen ? "1" : "0") : (frozen ? "FROZEN" : "THAWED"));
}

/* Frozen on request (cgroup.freeze = 1, or v1 state FREEZING/FROZEN)? */
static bool cgroup_is_frozen(const struct hier *h, const char *cgdir)
{
	char path[PATH_MAX], buf[64];

	snprintf(path, sizeof(path), "%s/%s", cgdir, h->v2 ? "cgroup.freeze" : "freezer.state");
	if (read_file(path, buf, sizeof(buf)) < 0)
		return false;
	return h->v2 ? buf[0] == '1' : strncmp(buf, "THAWED", 6) != 0;
}

static uint64_t mono_ms(void)
{
	return now_mono_ns() / 1000000;
}

/*
 * Wait until every task of cgdir is frozen, up to FREEZER_WAIT_MS. cgroup2:
 * cgroup.events reports "frozen 1" and wakes POLLPRI pollers on change;
 * v1: freezer.state goes FREEZING -> FROZEN (re-read, no notification).
 */
static int cgroup_wait_frozen(const struct hier *h, const char *cgdir)
{
	char path[PATH_MAX], buf[256];
	uint64_t end = mono_ms() + FREEZER_WAIT_MS, now;
	int fd, r = -ETIMEDOUT;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", cgdir, h->v2 ? "cgroup.events" : "freezer.state");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while ((now = mono_ms()) < end) {
		n = pread(fd, buf, sizeof(buf) - 1, 0);
		if (n < 0) {
			r = -errno;
			break;
		}
		buf[n] = '\0';
		if (h->v2 ? strstr(buf, "frozen 1") != NULL : !strncmp(buf, "FROZEN", 6)) {
			r = 0;
			break;
		}
		if (h->v2) {
			struct pollfd p = { .fd = fd, .events = POLLPRI };

			poll(&p, 1, end - now);
		} else {
			usleep(10000);
		}
	}
	close(fd);
	return r;
}

/* ---- freezing a component's own cgroup in place ---- */

static int inplace_add(struct freezer_state *st, const char *component, const char *cgdir)
{
	struct inplace *n = realloc(st->inplace, (st->nr_inplace + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	st->inplace = n;
	n[st->nr_inplace].component = strdup(component);
	n[st->nr_inplace].cgdir = strdup(cgdir);
	if (!n[st->nr_inplace].component || !n[st->nr_inplace].cgdir) {
		free(n[st->nr_inplace].component);
		free(n[st->nr_inplace].cgdir);
		return -ENOMEM;
	}
	st->nr_inplace++;
	return 0;
}

static void inplace_drop(struct freezer_state *st, const char *cgdir)
{
	for (int i = 0; i < st->nr_inplace; i++) {
		if (strcmp(st->inplace[i].cgdir, cgdir))
			continue;
		free(st->inplace[i].component);
		free(st->inplace[i].cgdir);
		st->inplace[i--] = st->inplace[--st->nr_inplace];
	}
}

static const char *inplace_find(const struct freezer_state *st, const char *component)
{
	for (int i = 0; i < st->nr_inplace; i++)
		if (!strcmp(st->inplace[i].component, component))
			return st->inplace[i].cgdir;
	return NULL;
}

/*
 * The component's own group: memory.reclaim's judgement (memcg.c) - one
 * group its processes fill alone, its subtree included, not the root, not
 * memshed's - whether or not the memory controller is on for it:
 * cgroup.freeze freezes the subtree, which holds only the component.
 */
int freezer_own_cgroup(struct freezer *f, const pid_t *pids, int nr, char *cgdir, size_t size)
{
	const struct hier *h = f->state ? &f->state->hier[0] : NULL;
	enum memcg_verdict v;

	if (!h || !h->v2)
		return -ENOENT;
	v = memcg_find(pids, nr, h->root, cgdir, size);
	return v == MEMCG_OWNED || v == MEMCG_NO_CONTROLLER ? 0 : -ENOENT;
}

int freezer_freeze_in_place(struct freezer *f, const char *component, const char *cgdir)
{
	const struct hier *h = &f->state->hier[0];
	int r = inplace_add(f->state, component, cgdir);

	if (r < 0)
		return r;
	state_record(f, cgdir, component);
	r = cgroup_set_frozen(h, cgdir, true);
	if (r == 0)
		r = cgroup_wait_frozen(h, cgdir);
	if (r < 0)
		thaw_dir(f, h, cgdir);	/* unfrozen, forgotten */
	return r;
}

/*
 * Thaw one memshed cgroup: unfreeze, move each process back to the cgroup
 * it came from if that still exists (processes born inside, e.g. children
 * forked while thawing, follow the component's first recorded origin),
 * forget the records and remove the directory if it is empty. Best effort
 * after the unfreeze. Returns -ENOENT if cgdir does not exist.
 */
static int thaw_dir(struct freezer *fz, const struct hier *h, const char *cgdir)
{
	struct freezer_state *st = fz->state;
	const struct origin *o, *fallback = NULL;
	char path[PATH_MAX], *line = NULL;
	size_t cap = 0;
	FILE *f;
	int r;

	r = cgroup_set_frozen(h, cgdir, false);
	if (r < 0)
		return r;
	if (!path_within(cgdir, h->root)) {
		/* Frozen in place: nothing was moved, nothing goes back. */
		inplace_drop(st, cgdir);
		state_forget(fz, cgdir);
		return 0;
	}
	for (int i = 0; i < st->nr_origins && !fallback; i++)
		if (!strcmp(st->origins[i].cgdir, cgdir))
			fallback = &st->origins[i];

	snprintf(path, sizeof(path), "%s/cgroup.procs", cgdir);
	f = fopen(path, "re");
	while (f && fallback && getline(&line, &cap, f) > 0) {
		pid_t pid = atoi(line);

		o = origin_find(st, cgdir, pid);
		if (!o)
			o = fallback;
		if (access(o->from, F_OK) == 0)
			move_pid(o->from, pid);
	}
	free(line);
	if (f)
		fclose(f);
	origins_drop(st, cgdir);
	state_forget(fz, cgdir);
	rmdir(cgdir);		/* EBUSY while processes remain: keep it */
	return 0;
}

/* ---- the state files: who froze which group, and where its processes came from ---- */

/* The start time of a process (field 22 of /proc/PID/stat, clock ticks
 * since boot): with the pid, its identity. 0 if it is gone. */
static unsigned long long proc_start_time(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long t = 0;
	int i;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (read_file(path, buf, sizeof(buf)) <= 0)
		return 0;
	p = strrchr(buf, ')');	/* comm may hold spaces and parentheses */
	for (i = 2; p && i < 22; i++)
		p = strchr(p + 1, ' ');
	if (p)
		t = strtoull(p + 1, NULL, 10);
	return t;
}

/* The record's name: the group's path with '/' as '%' (component names
 * hold neither). */
static void state_name(const char *cgdir, char *buf, size_t size)
{
	snprintf(buf, size, "%s", cgdir);
	for (char *p = buf; *p; p++)
		if (*p == '/')
			*p = '%';
}

/* The state directory, opened without following links, created 0700 and
 * owned by root (or by us: tests). -1 if there is none. */
static int state_dir_open(const struct freezer *f)
{
	struct stat st;
	int fd;

	if (!f->state_dir[0])
		return -1;
	if (mkdir(f->state_dir, 0700) < 0 && errno != EEXIST)
		return -1;
	fd = open(f->state_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 022)) {
		log_warn("%s is not memshed's own (owner %u, mode %o): no state files",
			 f->state_dir, (unsigned int)st.st_uid, (unsigned int)(st.st_mode & 07777));
		close(fd);
		return -1;
	}
	return fd;
}

/* Write the record of a group just frozen: owner, then one origin a line
 * (or, for a component's own group frozen in place, its name: nothing was
 * moved). Best effort: without it, a restart still thaws memshed's own
 * groups (they are nobody's); one frozen in place would stay frozen. */
static void state_record(struct freezer *fz, const char *cgdir, const char *inplace)
{
	struct freezer_state *st = fz->state;
	char name[FREEZER_PATH_MAX], tmp[FREEZER_PATH_MAX + 32];
	int dfd = state_dir_open(fz), fd;
	FILE *f;

	if (dfd < 0)
		return;
	state_name(cgdir, name, sizeof(name));
	snprintf(tmp, sizeof(tmp), ".%s.%d", name, getpid());
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		if (fd >= 0)
			close(fd);
		close(dfd);
		return;
	}
	fprintf(f, "owner %d %llu\ngroup %s\n", getpid(), proc_start_time(getpid()), cgdir);
	if (inplace)
		fprintf(f, "inplace %s\n", inplace);
	for (int i = 0; i < st->nr_origins; i++)
		if (!strcmp(st->origins[i].cgdir, cgdir))
			fprintf(f, "origin %d %s\n", st->origins[i].pid, st->origins[i].from);
	if (fclose(f) == 0)
		renameat(dfd, tmp, dfd, name);
	else
		unlinkat(dfd, tmp, 0);
	close(dfd);
}

static void state_forget(struct freezer *fz, const char *cgdir)
{
	char name[FREEZER_PATH_MAX];
	int dfd = state_dir_open(fz);

	if (dfd < 0)
		return;
	state_name(cgdir, name, sizeof(name));
	unlinkat(dfd, name, 0);
	close(dfd);
}

/*
 * The record of cgdir: is its owner alive (and not us)? A dead owner's
 * origins are loaded, so that its thaw moves the processes back.
 */
static bool owner_alive_compat(const char *cgdir);

static bool state_owner_alive(struct freezer *fz, const char *cgdir)
{
	char name[FREEZER_PATH_MAX], *line = NULL, from[FREEZER_PATH_MAX];
	unsigned long long start = 0;
	bool alive = false;
	size_t cap = 0;
	int dfd = state_dir_open(fz), fd, pid = 0, opid;
	FILE *f;

	if (dfd < 0)
		return owner_alive_compat(cgdir);
	state_name(cgdir, name, sizeof(name));
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	close(dfd);
	f = fd >= 0 ? fdopen(fd, "r") : NULL;
	if (!f) {
		if (fd >= 0)
			close(fd);
		return owner_alive_compat(cgdir);	/* no record: an older memshed's? */
	}
	if (getline(&line, &cap, f) > 0 && sscanf(line, "owner %d %llu", &pid, &start) == 2 &&
	    pid > 0 && pid != getpid())
		alive = start && proc_start_time(pid) == start;
	while (!alive && getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "origin %d %1023[^\n]", &opid, from) == 2 && opid > 0)
			origin_add(fz->state, cgdir, from, opid);
	}
	free(line);
	fclose(f);
	return alive;
}

/*
 * Memsheds before the state files knew a group's owner by its pid in an
 * extended attribute of the directory, alive if its comm was "memshed".
 * It is still written, so that an older memshed starting on the same host
 * leaves this one's groups alone, and read only for a group that has no
 * record (an older memshed's): one that runs keeps its groups.
 */
#define OWNER_XATTR "user.memshed.owner"

static void owner_mark_compat(const char *cgdir)
{
	char v[16];
	int n = snprintf(v, sizeof(v), "%d", getpid());

	setxattr(cgdir, OWNER_XATTR, v, n, 0);	/* best effort */
}

static bool owner_alive_compat(const char *cgdir)
{
	char v[16] = "", path[64], comm[32];
	pid_t pid;

	if (getxattr(cgdir, OWNER_XATTR, v, sizeof(v) - 1) <= 0)
		return false;
	pid = atoi(v);
	if (pid <= 0 || pid == getpid())
		return false;
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	return read_file(path, comm, sizeof(comm)) > 0 && !strcmp(comm, "memshed\n");
}

/* Is cgdir memshed's own group (in either hierarchy), not one frozen in place? */
static bool memshed_group(const struct freezer_state *st, const char *cgdir)
{
	for (int i = 0; i < st->nr_hier; i++)
		if (path_within(cgdir, st->hier[i].root))
			return true;
	return false;
}

/*
 * Drop the records of groups that are gone (removed behind memshed's back)
 * and whose owner is dead; a component's own group that a dead memshed
 * froze in place is thawed where it is. Returns how many were thawed.
 */
static int state_prune(struct freezer *fz)
{
	static const struct hier v2 = { .v2 = true };
	char cgdir[FREEZER_PATH_MAX];
	struct dirent *de;
	int dfd = state_dir_open(fz), thawed = 0;
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	bool gone;

	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return 0;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] != '%')
			continue;
		snprintf(cgdir, sizeof(cgdir), "%s", de->d_name);
		for (char *p = cgdir; *p; p++)
			if (*p == '%')
				*p = '/';
		gone = access(cgdir, F_OK) != 0;
		if ((!gone && memshed_group(fz->state, cgdir)) || state_owner_alive(fz, cgdir))
			continue;
		if (!gone && cgroup_is_frozen(&v2, cgdir)) {
			cgroup_set_frozen(&v2, cgdir, false);
			thawed++;
		}
		origins_drop(fz->state, cgdir);
		unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
	return thawed;
}

void freezer_set_state_dir(struct freezer *f, const char *dir)
{
	snprintf(f->state_dir, sizeof(f->state_dir), "%s", dir ? dir : "");
}

/*
 * The record is written as soon as the group exists, not only once it is
 * frozen: another memshed starting meanwhile (a test's, with a socket of
 * its own) would otherwise take the group being filled for a dead one's
 * and remove it under the moves.
 */
int freezer_group_create(struct freezer *f, const char *component, char *cgdir, size_t size)
{
	int r = comp_dir(&f->state->hier[0], component, cgdir, size);

	if (r == 0)
		r = mkdir_p(cgdir);
	if (r == 0 && !cgroup_is_frozen(&f->state->hier[0], cgdir))
		state_record(f, cgdir, NULL);
	return r;
}

/* Before the freeze: everything in the group goes back (as on thaw). */
void freezer_group_abort(struct freezer *f, const char *cgdir)
{
	thaw_dir(f, &f->state->hier[0], cgdir);
}

/* Not thaw_dir: an earlier freeze of this component stays. */
void freezer_group_remove(struct freezer *f, const char *cgdir)
{
	if (rmdir(cgdir) == 0)
		state_forget(f, cgdir);
}

int freezer_group_freeze(struct freezer *f, const char *cgdir)
{
	const struct hier *h = &f->state->hier[0];
	int r;

	r = cgroup_set_frozen(h, cgdir, true);
	if (r == 0)
		r = cgroup_wait_frozen(h, cgdir);
	if (r < 0)
		thaw_dir(f, h, cgdir);	/* half-frozen is the worst state to leave */
	else
		state_record(f, cgdir, NULL);
	if (r == 0)
		owner_mark_compat(cgdir);
	return r;
}

/* ---- thaw ---- */

int freezer_thaw(struct freezer *f, const char *component)
{
	char cgdir[FREEZER_PATH_MAX];
	int r = -ENOENT;

	if (!f->state)
		return -ENOENT;
	if (inplace_find(f->state, component)) {
		snprintf(cgdir, sizeof(cgdir), "%s", inplace_find(f->state, component));
		return thaw_dir(f, &f->state->hier[0], cgdir);
	}
	/* Both hierarchies: a previous run may have frozen in the other one. */
	for (int i = 0; i < f->state->nr_hier; i++) {
		if (comp_dir(&f->state->hier[i], component, cgdir, sizeof(cgdir)) < 0)
			return -EINVAL;
		if (thaw_dir(f, &f->state->hier[i], cgdir) == 0)
			r = 0;
	}
	return r;
}

int freezer_thaw_all(struct freezer *f)
{
	char cgdir[FREEZER_PATH_MAX];
	struct dirent *de;
	int count = 0;
	DIR *d;

	for (int i = 0; f->state && i < f->state->nr_hier; i++) {
		const struct hier *h = &f->state->hier[i];

		d = opendir(h->root);
		if (!d)
			continue;
		while ((de = readdir(d))) {
			if (de->d_type != DT_DIR || de->d_name[0] == '.')
				continue;
			if (snprintf(cgdir, sizeof(cgdir), "%s/%s", h->root, de->d_name) >=
			    (int)sizeof(cgdir))
				continue;
			if (state_owner_alive(f, cgdir))
				continue;
			if (cgroup_is_frozen(h, cgdir))
				count++;
			thaw_dir(f, h, cgdir);
		}
		closedir(d);
	}
	return count + state_prune(f);
}

bool freezer_is_frozen(struct freezer *f, const char *component)
{
	const char *own = f->state ? inplace_find(f->state, component) : NULL;
	char cgdir[FREEZER_PATH_MAX];

	if (own)
		return cgroup_is_frozen(&f->state->hier[0], own);

	for (int i = 0; f->state && i < f->state->nr_hier; i++)
		if (comp_dir(&f->state->hier[i], component, cgdir, sizeof(cgdir)) == 0 &&
		    cgroup_is_frozen(&f->state->hier[i], cgdir))
			return true;
	return false;
}
