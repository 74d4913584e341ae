// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Unload actions (DESIGN 6): term, kill, signal, freeze/thaw, exec.
 *
 * Identity: every process is reached through a pidfd. The pidfd is opened
 * first, then the process is checked (not pid 1, not memshed, not a kernel
 * thread, labelled with the component right now via opts.verify), and only
 * then signalled or moved. A pidfd pins one process, so a PID recycled
 * after the check can never be hit; the escalation to SIGKILL reuses the
 * same pidfd instead of looking the PID up again.
 *
 * Jobs: term and kill leave the victims' pidfds in job->fds; the daemon
 * polls them (a pidfd turns readable when its process has exited) and calls
 * actuator_step on readiness and at job->deadline_ns. actuator_step closes
 * the pidfds of exited processes and drops them from job->fds (closing also
 * removes them from any epoll set). Signal and freeze end inside
 * actuator_start. Exec leaves the hook's pidfd in job->fds.
 *
 * Freeze: processes are moved into a memshed-owned cgroup per component,
 * <cgroup2 mount>/memshed/<component> (cgroup.freeze), or, on hosts without
 * cgroup2, <v1 freezer mount>/memshed/<component> (freezer.state). cgroupfs
 * takes no ordinary files, so where each process came from is remembered in
 * memory (struct actuator_state) and it is moved back on thaw. After a
 * daemon restart that memory is gone: actuator_thaw_all still thaws, but
 * leaves unrecorded processes in the (thawed) memshed cgroup, which is then
 * kept - moving them to the hierarchy root instead would guess.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/magic.h>
#include <linux/sched.h>	/* struct clone_args, CLONE_PIDFD */

#include "actuator.h"
#include "output.h"

#ifndef SYS_process_mrelease
#define SYS_process_mrelease 448	/* x86_64, since 5.15 */
#endif
#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif

#define NSEC_PER_SEC		1000000000ULL
#define KILL_WAIT_NS		(5 * NSEC_PER_SEC)	/* SIGKILL -> gone, else failed */
#define FREEZE_WAIT_MS		2000			/* cgroup -> frozen, else rolled back */
#define HOOK_REAP_WAIT_MS	100			/* SIGKILLed hook -> reaped, in-line */
/* A memshed cgroup or a process's original one; file paths inside get PATH_MAX. */
#define CGPATH_MAX		1024
#define HOOK_PATH		"PATH=/usr/sbin:/usr/bin:/sbin:/bin"

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

struct actuator_state {
	/* [0]: where freeze acts (a->freezer_root); [1]: the other hierarchy,
	 * walked only by thaw_all (a previous run may have used it). */
	struct hier hier[2];
	int nr_hier;
	struct origin *origins;
	int nr_origins, cap_origins;
};

const char *job_result_name(enum job_result r)
{
	static const char *const names[] = {
		[JOB_RUNNING] = "running", [JOB_EXITED] = "exited",
		[JOB_KILLED] = "killed", [JOB_FROZEN] = "frozen",
		[JOB_SIGNALLED] = "signalled", [JOB_HOOK_OK] = "hook-ok",
		[JOB_FAILED] = "failed",
	};

	if ((unsigned int)r < sizeof(names) / sizeof(names[0]) && names[r])
		return names[r];
	return "unknown";
}

/* ---- small file and process helpers ---- */

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


static int pidfd_open(pid_t pid)
{
	int fd = syscall(SYS_pidfd_open, pid, 0);

	return fd < 0 ? -errno : fd;
}

/* The process behind pidfd has exited (a pidfd polls readable then). */
static bool pidfd_exited(int pidfd)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	return poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR));
}

/*
 * SIGKILL through a pidfd that was verified when opened (the escalation of
 * term, and kill); the pidfd still names that same process, so no new check
 * is needed. process_mrelease then reaps its memory at once instead of
 * waiting for the exit path; ENOSYS (old kernel), EINVAL (not dying yet) and
 * ESRCH (gone) are fine.
 */
static void pidfd_kill_release(int pidfd)
{
	if (syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0) < 0)
		return;
	syscall(SYS_process_mrelease, pidfd, 0);
}

/*
 * Open a pidfd for pid and check that memshed may touch the process: not
 * pid 1, not memshed itself, not a kernel thread, and labelled comp_id right
 * now (opts.verify; no verify callback means nothing is labelled). The
 * /proc reads happen after the pidfd exists and are trusted only if the
 * pidfd's process is still alive afterwards: while it lives, its PID cannot
 * name another process. -EPERM: refused; -ESRCH: gone.
 */
static int open_verified(struct actuator *a, pid_t pid, uint32_t comp_id, int *ret_pidfd)
{
	int pidfd, r;

	*ret_pidfd = -1;
	if (pid <= 1 || pid == getpid())
		return -EPERM;
	pidfd = pidfd_open(pid);
	if (pidfd == -EINVAL)		/* a thread id, not a process */
		return -EPERM;
	if (pidfd < 0)
		return pidfd;

	r = proc_is_kernel_thread(pid);
	if (r < 0)
		goto cleanup;
	if (r > 0) {
		r = -EPERM;
		goto cleanup;
	}
	if (pidfd_exited(pidfd)) {
		r = -ESRCH;
		goto cleanup;
	}
	if (!a->opts.verify || !a->opts.verify(a->opts.verify_ctx, pidfd, pid, comp_id)) {
		r = -EPERM;
		goto cleanup;
	}
	*ret_pidfd = pidfd;
	return 0;
cleanup:
	close(pidfd);
	return r;
}

int actuator_signal(struct actuator *a, pid_t pid, uint32_t comp_id, int signo, int *ret_pidfd)
{
	int pidfd, r;

	if (ret_pidfd)
		*ret_pidfd = -1;
	r = open_verified(a, pid, comp_id, &pidfd);
	if (r < 0)
		return r;
	if (syscall(SYS_pidfd_send_signal, pidfd, signo, NULL, 0) < 0) {
		r = -errno;
		goto cleanup;
	}
	if (ret_pidfd) {
		*ret_pidfd = pidfd;
		return 0;
	}
cleanup:
	close(pidfd);
	return r;
}

/* ---- mounts ---- */

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape_octal(char *s)
{
	char *d = s;

	for (; *s; s++, d++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*d = (s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0');
			s += 3;
		} else {
			*d = *s;
		}
	}
	*d = '\0';
}

static bool has_option(const char *opts, const char *want)
{
	size_t len = strlen(want);
	const char *p = opts;

	while ((p = strstr(p, want))) {
		if ((p == opts || p[-1] == ',') && (p[len] == ',' || p[len] == '\0'))
			return true;
		p += len;
	}
	return false;
}

/* path equals dir or lies below it. */
static bool path_within(const char *path, const char *dir)
{
	size_t len = strlen(dir);

	if (len == 1 && dir[0] == '/')
		return path[0] == '/';
	return !strncmp(path, dir, len) && (path[len] == '/' || path[len] == '\0');
}

/*
 * Find a cgroup2 mount (v2) or a v1 mount carrying the freezer controller in
 * /proc/self/mountinfo. With under == NULL the first one wins and h->root
 * becomes <mount>/memshed; otherwise the mount holding `under` (longest
 * prefix) wins and h->root = under. -ENOENT if there is none.
 */
static int find_mount(bool v2, const char *under, struct hier *h)
{
	char *line = NULL, *f[5], *sep, *fstype, *super, *save;
	size_t cap = 0, best = 0;
	FILE *file;
	int r = -ENOENT;

	file = fopen("/proc/self/mountinfo", "re");
	if (!file)
		return -errno;
	while (getline(&line, &cap, file) > 0) {
		/* id parent maj:min root point opts [optional...] - fstype source super */
		sep = strstr(line, " - ");
		if (!sep)
			continue;
		*sep = '\0';
		f[0] = strtok_r(line, " ", &save);
		for (int i = 1; i < 5 && f[i - 1]; i++)
			f[i] = strtok_r(NULL, " ", &save);
		fstype = strtok_r(sep + 3, " ", &save);
		strtok_r(NULL, " ", &save);
		super = strtok_r(NULL, " \n", &save);
		if (!f[0] || !f[4] || !fstype || !super)
			continue;
		if (v2 ? strcmp(fstype, "cgroup2") != 0
		       : (strcmp(fstype, "cgroup") != 0 || !has_option(super, "freezer")))
			continue;
		unescape_octal(f[3]);
		unescape_octal(f[4]);
		if (under && (!path_within(under, f[4]) || strlen(f[4]) < best))
			continue;
		best = strlen(f[4]);
		snprintf(h->mnt, sizeof(h->mnt), "%s", f[4]);
		snprintf(h->mnt_root, sizeof(h->mnt_root), "%s", f[3]);
		r = 0;
		if (!under)
			break;
	}
	free(line);
	fclose(file);
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

int actuator_init(struct actuator *a, const struct actuator_opts *opts)
{
	struct actuator_state *st;
	bool v2;
	int r;

	memset(a, 0, sizeof(*a));
	a->opts = *opts;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;

	if (opts->freezer_root) {
		/* A directory of the caller's (tests): its file system decides. */
		r = cgroup_fs_type(opts->freezer_root, &v2);
		if (r == 0)
			r = find_mount(v2, opts->freezer_root, &st->hier[0]);
		if (r < 0)
			goto fail;
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
		snprintf(a->freezer_root, sizeof(a->freezer_root), "%s", st->hier[0].root);
		a->freezer_v2 = st->hier[0].v2;
	}
	a->state = st;
	return 0;
fail:
	free(st);
	return r;
}

static void origins_drop(struct actuator_state *st, const char *cgdir);

void actuator_fini(struct actuator *a)
{
	if (!a->state)
		return;
	origins_drop(a->state, NULL);
	free(a->state->origins);
	free(a->state);
	a->state = NULL;
}

/* ---- cgroup freezer ---- */

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

/*
 * The cgroup of pid in hierarchy h as an absolute directory, from
 * /proc/PID/cgroup ("0::/path" for cgroup2, "N:a,freezer:/path" for v1).
 * -ENOENT if it is not visible through h's mount.
 */
static int read_cgroup_of(const struct hier *h, pid_t pid, char *buf, size_t size)
{
	char path[64], *line = NULL, *ctrl, *cg, *rel;
	size_t cap = 0, rlen;
	FILE *f;
	int r = -ENOENT;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? -ESRCH : -errno;
	while (getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\n")] = '\0';
		ctrl = strchr(line, ':');
		cg = ctrl ? strchr(ctrl + 1, ':') : NULL;
		if (!cg)
			continue;
		*ctrl++ = '\0';
		*cg++ = '\0';
		if (h->v2 ? (strcmp(line, "0") != 0 || ctrl[0] != '\0') : !has_option(ctrl, "freezer"))
			continue;
		if (!path_within(cg, h->mnt_root) || strstr(cg, "/.."))
			break;
		rlen = strcmp(h->mnt_root, "/") ? strlen(h->mnt_root) : 0;
		rel = cg + rlen;
		r = snprintf(buf, size, "%s%s", h->mnt, strcmp(rel, "/") ? rel : "") >= (int)size ?
			-ENAMETOOLONG : 0;
		break;
	}
	free(line);
	fclose(f);
	return r;
}

static int origin_add(struct actuator_state *st, const char *cgdir, const char *from, pid_t pid)
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

static const struct origin *origin_find(struct actuator_state *st, const char *cgdir, pid_t pid)
{
	for (int i = 0; i < st->nr_origins; i++)
		if (st->origins[i].pid == pid && !strcmp(st->origins[i].cgdir, cgdir))
			return &st->origins[i];
	return NULL;
}

/* Forget the records of one memshed cgroup (NULL: all). */
static void origins_drop(struct actuator_state *st, const char *cgdir)
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
 * Move one verified process into cgdir. Moving a stranger into a cgroup
 * that is about to freeze is as bad as killing it, so the same checks as
 * for a signal apply. cgroup.procs takes a PID, not a pidfd: if the pidfd
 * shows the process gone after the write, the PID may (rarely) have been
 * recycled in between, so it is put back where the original came from.
 * 0: moved; -EPERM: refused; -ESRCH: gone.
 */
static int freeze_move_one(struct actuator *a, const struct hier *h, const char *cgdir,
			   pid_t pid, uint32_t comp_id)
{
	char from[CGPATH_MAX];
	int pidfd, r;

	r = open_verified(a, pid, comp_id, &pidfd);
	if (r < 0)
		return r;
	r = read_cgroup_of(h, pid, from, sizeof(from));
	if (r < 0)
		goto cleanup;
	if (!strcmp(from, cgdir))
		goto cleanup;		/* already here (frozen before) */
	r = move_pid(cgdir, pid);
	if (r < 0)
		goto cleanup;
	if (pidfd_exited(pidfd)) {
		move_pid(from, pid);
		r = -ESRCH;
		goto cleanup;
	}
	r = origin_add(a->state, cgdir, from, pid);
cleanup:
	close(pidfd);
	return r;
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
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

/*
 * Wait until every task of cgdir is frozen, up to FREEZE_WAIT_MS. cgroup2:
 * cgroup.events reports "frozen 1" and wakes POLLPRI pollers on change;
 * v1: freezer.state goes FREEZING -> FROZEN (re-read, no notification).
 */
static int cgroup_wait_frozen(const struct hier *h, const char *cgdir)
{
	char path[PATH_MAX], buf[256];
	uint64_t end = mono_ms() + FREEZE_WAIT_MS, now;
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

/*
 * Thaw one memshed cgroup: unfreeze, move each process back to the cgroup
 * it came from if that still exists (processes born inside, e.g. children
 * forked while thawing, follow the component's first recorded origin),
 * forget the records and remove the directory if it is empty. Best effort
 * after the unfreeze. Returns -ENOENT if cgdir does not exist.
 */
static int thaw_dir(struct actuator *a, const struct hier *h, const char *cgdir)
{
	struct actuator_state *st = a->state;
	const struct origin *o, *fallback = NULL;
	char path[PATH_MAX], *line = NULL;
	size_t cap = 0;
	FILE *f;
	int r;

	r = cgroup_set_frozen(h, cgdir, false);
	if (r < 0)
		return r;
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
	rmdir(cgdir);		/* EBUSY while processes remain: keep it */
	return 0;
}

static void job_fail(struct unload_job *job, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void job_fail(struct unload_job *job, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(job->error, sizeof(job->error), fmt, ap);
	va_end(ap);
	job->result = JOB_FAILED;
}

/*
 * After acting on every pid: nothing done because all were refused (or
 * there were none) is a failure; nothing done because all had already
 * exited means the component is gone.
 */
static int job_check_nothing_done(struct unload_job *job, int nr)
{
	if (job->nr_signalled > 0)
		return 1;
	if (nr > 0 && job->nr_refused == 0) {
		job->result = JOB_EXITED;
		return 0;
	}
	job_fail(job, "no process of %s could be signalled (%d refused)", job->component,
		 job->nr_refused);
	return nr == 0 ? -ESRCH : -EPERM;
}

/*
 * Which memshed froze a group: its pid in an extended attribute of the
 * cgroup directory (user.* works on cgroup2 since 5.7; elsewhere it is
 * absent and the group counts as nobody's). A starting memshed thaws only
 * what no live memshed owns, so one daemon's start never undoes another's
 * freeze (tests and a host daemon may run side by side).
 */
#define OWNER_XATTR "user.memshed.owner"

static void owner_mark(const char *cgdir)
{
	char v[16];
	int n = snprintf(v, sizeof(v), "%d", getpid());

	setxattr(cgdir, OWNER_XATTR, v, n, 0);	/* best effort */
}

static bool owner_alive_elsewhere(const char *cgdir)
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

static int start_freeze(struct actuator *a, struct unload_job *job, const pid_t *pids, int nr)
{
	const struct hier *h = &a->state->hier[0];
	char cgdir[CGPATH_MAX];
	int r;

	if (!a->state->nr_hier) {
		job_fail(job, "no cgroup freezer: neither cgroup2 nor the v1 freezer is mounted");
		return -EOPNOTSUPP;
	}
	r = comp_dir(h, job->component, cgdir, sizeof(cgdir));
	if (r == 0)
		r = mkdir_p(cgdir);
	if (r < 0) {
		job_fail(job, "cannot create cgroup for %s under %s: %s", job->component, h->root,
			 strerror(-r));
		return r;
	}
	for (int i = 0; i < nr; i++) {
		r = freeze_move_one(a, h, cgdir, pids[i], job->comp_id);
		if (r == 0)
			job->nr_signalled++;
		else if (r != -ESRCH)
			job->nr_refused++;
	}
	r = job_check_nothing_done(job, nr);
	if (r <= 0) {
		/* Not thaw_dir: an earlier freeze of this component stays. */
		rmdir(cgdir);
		return r;
	}

	owner_mark(cgdir);
	r = cgroup_set_frozen(h, cgdir, true);
	if (r == 0)
		r = cgroup_wait_frozen(h, cgdir);
	if (r < 0) {
		/* Half-frozen is the worst state to leave: undo it all. */
		thaw_dir(a, h, cgdir);
		if (r == -ETIMEDOUT)
			job_fail(job, "%s did not freeze within %ds; thawed again", cgdir,
				 FREEZE_WAIT_MS / 1000);
		else
			job_fail(job, "cannot freeze %s: %s", cgdir, strerror(-r));
		return r;
	}
	job->result = JOB_FROZEN;
	return 0;
}

int actuator_thaw(struct actuator *a, const char *component)
{
	char cgdir[CGPATH_MAX];
	int r = -ENOENT;

	if (!a->state)
		return -ENOENT;
	/* Both hierarchies: a previous run may have frozen in the other one. */
	for (int i = 0; i < a->state->nr_hier; i++) {
		if (comp_dir(&a->state->hier[i], component, cgdir, sizeof(cgdir)) < 0)
			return -EINVAL;
		if (thaw_dir(a, &a->state->hier[i], cgdir) == 0)
			r = 0;
	}
	return r;
}

int actuator_thaw_all(struct actuator *a)
{
	char cgdir[CGPATH_MAX];
	struct dirent *de;
	int count = 0;
	DIR *d;

	for (int i = 0; a->state && i < a->state->nr_hier; i++) {
		const struct hier *h = &a->state->hier[i];

		d = opendir(h->root);
		if (!d)
			continue;
		while ((de = readdir(d))) {
			if (de->d_type != DT_DIR || de->d_name[0] == '.')
				continue;
			if (snprintf(cgdir, sizeof(cgdir), "%s/%s", h->root, de->d_name) >=
			    (int)sizeof(cgdir))
				continue;
			if (owner_alive_elsewhere(cgdir))
				continue;
			if (cgroup_is_frozen(h, cgdir))
				count++;
			thaw_dir(a, h, cgdir);
		}
		closedir(d);
	}
	return count;
}

bool actuator_is_frozen(struct actuator *a, const char *component)
{
	char cgdir[CGPATH_MAX];

	for (int i = 0; a->state && i < a->state->nr_hier; i++)
		if (comp_dir(&a->state->hier[i], component, cgdir, sizeof(cgdir)) == 0 &&
		    cgroup_is_frozen(&a->state->hier[i], cgdir))
			return true;
	return false;
}

/* ---- term, kill, signal ---- */

static int start_signal(struct actuator *a, struct unload_job *job, const pid_t *pids, int nr,
			int signo, bool wait, uint64_t now_ns)
{
	int fd, r;

	for (int i = 0; i < nr; i++) {
		r = actuator_signal(a, pids[i], job->comp_id, signo, wait ? &fd : NULL);
		if (r == -ESRCH)
			continue;	/* already gone: nothing to do */
		if (r < 0) {
			job->nr_refused++;
			continue;
		}
		job->nr_signalled++;
		if (!wait)
			continue;
		if (signo == SIGKILL)
			syscall(SYS_process_mrelease, fd, 0);
		/* Past ACTUATOR_MAX_FDS a process is signalled but not waited
		 * for (nor escalated): components that large are rare. */
		if (job->nr_fds == ACTUATOR_MAX_FDS) {
			close(fd);
			continue;
		}
		job->fds[job->nr_fds] = fd;
		job->pids[job->nr_fds++] = pids[i];
	}
	r = job_check_nothing_done(job, nr);
	if (r <= 0)
		return r;
	if (!wait) {
		job->result = JOB_SIGNALLED;
		return 0;
	}
	job->deadline_ns = now_ns + (signo == SIGKILL ? KILL_WAIT_NS : job->grace_ns);
	return 0;
}

/* Close and forget the pidfds whose processes have exited. */
static void reap_exited(struct unload_job *job)
{
	int j = 0;

	for (int i = 0; i < job->nr_fds; i++) {
		if (pidfd_exited(job->fds[i])) {
			close(job->fds[i]);
			continue;
		}
		job->fds[j] = job->fds[i];
		job->pids[j++] = job->pids[i];
	}
	job->nr_fds = j;
}

static double ns_to_s(uint64_t ns)
{
	return (double)ns / NSEC_PER_SEC;
}

static int step_wait_exit(struct unload_job *job, uint64_t now_ns)
{
	reap_exited(job);
	if (job->nr_fds == 0) {
		job->result = job->escalated ? JOB_KILLED : JOB_EXITED;
		return 1;
	}
	if (now_ns < job->deadline_ns)
		return 0;
	if (job->action.kind == ACTION_TERM && !job->escalated) {
		for (int i = 0; i < job->nr_fds; i++)
			pidfd_kill_release(job->fds[i]);
		job->escalated = true;
		job->deadline_ns = now_ns + KILL_WAIT_NS;
		return 0;
	}
	job_fail(job, "%d process(es) of %s still alive %gs after SIGKILL", job->nr_fds,
		 job->component, ns_to_s(KILL_WAIT_NS));
	return 1;
}

/* ---- exec hooks ---- */

/* The hook's environment: nothing of the daemon's, only what names the job. */
static char **hook_env(const struct unload_job *job, const pid_t *pids, int nr, uint64_t rss)
{
	size_t pids_len = 16 + (size_t)nr * 12;
	char **env = calloc(7, sizeof(*env));
	char *p;
	int len;

	if (!env)
		return NULL;
	env[0] = strdup(HOOK_PATH);
	if (asprintf(&env[1], "MEMSHED_COMPONENT=%s", job->component) < 0)
		env[1] = NULL;
	if (asprintf(&env[2], "MEMSHED_LEVEL=%s", level_name(job->level)) < 0)
		env[2] = NULL;
	if (asprintf(&env[3], "MEMSHED_RSS_BYTES=%llu", (unsigned long long)rss) < 0)
		env[3] = NULL;
	env[4] = strdup("MEMSHED_ACTION=exec");
	env[5] = p = malloc(pids_len);
	if (p) {
		len = snprintf(p, pids_len, "MEMSHED_PIDS=");
		for (int i = 0; i < nr; i++)
			len += snprintf(p + len, pids_len - len, "%s%d", i ? " " : "", pids[i]);
	}
	for (int i = 0; i < 6; i++) {
		if (env[i])
			continue;
		for (int k = 0; k < 6; k++)
			free(env[k]);
		free(env);
		return NULL;
	}
	return env;
}

static void free_env(char **env)
{
	for (int i = 0; env && env[i]; i++)
		free(env[i]);
	free(env);
}

/*
 * In the child, between clone and execve: only system calls. The daemon
 * blocks signals for its signalfd and may ignore some, and both would be
 * inherited by the hook; it also has a low oom_score_adj, which a hook must
 * not keep (raising it back to 0 needs no privilege). setsid makes the hook
 * a process group of its own, so a timeout kills its children too.
 */
static void __attribute__((noreturn)) hook_child(char *const argv[], char *const envp[], int devnull)
{
	struct sigaction sa = { .sa_handler = SIG_DFL };
	sigset_t none;
	int fd;

	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setsid();
	fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "0", 1) < 0) {
			/* best effort */
		}
		close(fd);
	}
	if (dup2(devnull, STDIN_FILENO) < 0)
		_exit(127);
	syscall(SYS_close_range, 3U, ~0U, 0U);
	execve(argv[0], argv, envp);
	_exit(127);
}

/*
 * Start the hook with a pidfd from the clone itself (no window at all), or,
 * where clone3 is filtered (some container seccomp profiles), fork and
 * pidfd_open at once: the child is ours and stays a zombie until we reap
 * it, so its PID cannot be reused before the pidfd exists.
 */
static pid_t spawn_hook(char *const argv[], char *const envp[], int *ret_pidfd)
{
	struct clone_args ca = { 0 };
	int devnull, pidfd = -1;
	pid_t pid;

	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0)
		return -errno;
	ca.flags = CLONE_PIDFD;
	ca.pidfd = (uintptr_t)&pidfd;
	ca.exit_signal = SIGCHLD;
	pid = syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid < 0 && (errno == ENOSYS || errno == EPERM)) {
		pid = fork();
		if (pid > 0) {
			pidfd = pidfd_open(pid);
			if (pidfd < 0) {
				kill(pid, SIGKILL);	/* our unreaped child: safe by PID */
				waitpid(pid, NULL, 0);
				pid = pidfd;
				errno = -pidfd;
			}
		}
	}
	if (pid == 0)
		hook_child(argv, envp, devnull);
	close(devnull);
	if (pid < 0)
		return -errno;
	*ret_pidfd = pidfd;
	return pid;
}

static int start_exec(struct actuator *a, struct unload_job *job, const pid_t *pids, int nr,
		      uint64_t rss, uint64_t now_ns)
{
	char **env;
	int pidfd = -1;
	pid_t pid;

	if (!job->action.argv || !job->action.argv[0]) {
		job_fail(job, "exec action without a command");
		return -EINVAL;
	}
	env = hook_env(job, pids, nr, rss);
	if (!env) {
		job_fail(job, "out of memory");
		return -ENOMEM;
	}
	pid = spawn_hook(job->action.argv, env, &pidfd);
	free_env(env);
	if (pid < 0) {
		job_fail(job, "cannot start hook %s: %s", job->action.argv[0], strerror(-pid));
		return pid;
	}
	job->fds[0] = pidfd;
	job->pids[0] = pid;
	job->nr_fds = 1;
	job->deadline_ns = now_ns + job->exec_timeout_ns;
	return 0;
}

/* Reap the hook if it has exited: 1 reaped, 0 still running, -errno. */
static int hook_reap(struct unload_job *job)
{
	siginfo_t si = { 0 };

	if (waitid(P_PIDFD, job->fds[0], &si, WEXITED | WNOHANG) < 0)
		return -errno;
	if (si.si_pid == 0)
		return 0;
	/* As a wait status, so WIFEXITED & co. work on hook_status. */
	if (si.si_code == CLD_EXITED)
		job->hook_status = (si.si_status & 0xff) << 8;
	else
		job->hook_status = (si.si_status & 0x7f) | (si.si_code == CLD_DUMPED ? 0x80 : 0);
	close(job->fds[0]);
	job->nr_fds = 0;
	return 1;
}

/*
 * The hook is our own child and still unreaped, so its PID, and its process
 * group (setsid made it the leader), cannot name anyone else: kill the group
 * so that children of a timed-out hook do not linger.
 */
static void hook_kill(struct unload_job *job)
{
	struct pollfd p = { .fd = job->fds[0], .events = POLLIN };

	syscall(SYS_pidfd_send_signal, job->fds[0], SIGKILL, NULL, 0);
	kill(-job->pids[0], SIGKILL);
	poll(&p, 1, HOOK_REAP_WAIT_MS);
}

static int step_exec(struct unload_job *job, uint64_t now_ns)
{
	int r = hook_reap(job);

	if (r == 0 && now_ns >= job->deadline_ns && !job->escalated) {
		hook_kill(job);
		job->escalated = true;
		job->deadline_ns = now_ns + KILL_WAIT_NS;
		r = hook_reap(job);
	}
	if (r < 0) {
		/* ECHILD: someone else reaped it (a SIGCHLD handler) */
		job_fail(job, "cannot wait for hook: %s", strerror(-r));
		return 1;
	}
	if (r == 0) {
		if (job->escalated && now_ns >= job->deadline_ns) {
			job_fail(job, "hook timed out after %gs and survived SIGKILL",
				 ns_to_s(job->exec_timeout_ns));
			return 1;
		}
		return 0;
	}
	if (job->escalated)
		job_fail(job, "hook timed out after %gs", ns_to_s(job->exec_timeout_ns));
	else if (WIFEXITED(job->hook_status) && WEXITSTATUS(job->hook_status) == 0)
		job->result = JOB_HOOK_OK;
	else if (WIFEXITED(job->hook_status))
		job_fail(job, "hook exited with status %d", WEXITSTATUS(job->hook_status));
	else
		job_fail(job, "hook killed by signal %d (%s)", WTERMSIG(job->hook_status),
			 strsignal(WTERMSIG(job->hook_status)));
	return 1;
}

/* ---- jobs ---- */

int actuator_start(struct actuator *a, struct unload_job *job, const pid_t *pids, int nr,
		   uint64_t rss_bytes, uint64_t now_ns)
{
	int r;

	job->started_ns = job->deadline_ns = now_ns;
	job->nr_fds = job->nr_signalled = job->nr_refused = 0;
	job->escalated = false;
	job->result = JOB_RUNNING;
	job->error[0] = '\0';
	job->hook_status = 0;

	/*
	 * Dry run: nothing is touched, and the job reports JOB_EXITED with
	 * nr_signalled 0 whatever the action ("would have been done"; the
	 * daemon logs the decision). No error is set.
	 */
	if (a->opts.dry_run) {
		job->result = JOB_EXITED;
		return 0;
	}
	if (!a->state) {
		job_fail(job, "actuator not initialised");
		return -EINVAL;
	}

	switch (job->action.kind) {
	case ACTION_TERM:
		r = start_signal(a, job, pids, nr, SIGTERM, true, now_ns);
		break;
	case ACTION_KILL:
		r = start_signal(a, job, pids, nr, SIGKILL, true, now_ns);
		break;
	case ACTION_SIGNAL:
		r = start_signal(a, job, pids, nr, job->action.signo, false, now_ns);
		break;
	case ACTION_FREEZE:
		r = start_freeze(a, job, pids, nr);
		break;
	case ACTION_EXEC:
		if (nr == 0) {
			job_fail(job, "no process of %s could be signalled (0 refused)",
				 job->component);
			return -ESRCH;
		}
		r = start_exec(a, job, pids, nr, rss_bytes, now_ns);
		break;
	default:
		job_fail(job, "no action");
		return -EINVAL;
	}
	return r < 0 ? r : 0;
}

int actuator_step(struct actuator *a, struct unload_job *job, uint64_t now_ns)
{
	if (job->result != JOB_RUNNING)
		return 1;
	switch (job->action.kind) {
	case ACTION_TERM:
	case ACTION_KILL:
		return step_wait_exit(job, now_ns);
	case ACTION_EXEC:
		return step_exec(job, now_ns);
	default:
		return 1;
	}
}

void actuator_job_release(struct unload_job *job)
{
	for (int i = 0; i < job->nr_fds; i++)
		close(job->fds[i]);
	job->nr_fds = 0;
}
