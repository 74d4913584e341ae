// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The actuator (job machine, pidref, freezer, hooks) against real processes
 * and real cgroups (root): children of this test that die on SIGTERM,
 * ignore it, record SIGUSR1, or count in shared memory (to see a freeze). The verify callback accepts only pids in
 * a test allow-list, each with a label, standing in for the loader's task
 * storage. Refusal tests use signal 0 on pid 1 and kernel threads, so a
 * regression could never hurt the host.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "actuator.h"
#include "reclaim.h"
#include "harness.h"

#define MS 1000000ULL
#define COMP_ID 7

/* ---- the allow-list behind verify ---- */

static struct { pid_t pid; uint32_t comp_id; } allowed[32];
static int nr_allowed;
static int verify_calls, verify_bad_pidfd;

static void allow(pid_t pid, uint32_t comp_id)
{
	allowed[nr_allowed].pid = pid;
	allowed[nr_allowed++].comp_id = comp_id;
}

/* The Pid: line of /proc/self/fdinfo/FD of a pidfd. */
static pid_t pidfd_pid(int pidfd)
{
	char path[64], line[128];
	pid_t pid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Pid: %d", &pid) == 1)
			break;
	fclose(f);
	return pid;
}

static bool verify_allowed(void *ctx, int pidfd, pid_t pid, uint32_t comp_id)
{
	verify_calls++;
	/* The actuator must hand over a pidfd of that very pid. */
	if (pidfd_pid(pidfd) != pid)
		verify_bad_pidfd++;
	for (int i = 0; i < nr_allowed; i++)
		if (allowed[i].pid == pid && allowed[i].comp_id == comp_id)
			return true;
	return false;
}

/* One signal through a verified pidref, as every action sends them. */
static int signal_verified(struct actuator *a, pid_t pid, uint32_t comp_id, int signo,
			   int *ret_pidfd)
{
	struct pidref p;
	int r;

	if (ret_pidfd)
		*ret_pidfd = -1;
	r = pidref_open_verified(&p, pid, comp_id, a->opts.verify, a->opts.verify_ctx);
	if (r == 0)
		r = pidref_signal(&p, signo);
	if (r == 0 && ret_pidfd)
		*ret_pidfd = p.fd;
	else
		pidref_close(&p);
	return r;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void init_actuator(struct actuator *a, const char *freezer_root, bool dry_run)
{
	struct actuator_opts o = {
		.verify = verify_allowed, .freezer_root = freezer_root, .dry_run = dry_run,
	};
	int r = actuator_init(a, &o);

	if (r < 0) {
		printf("FAIL actuator_init(%s): %s\n", freezer_root ? freezer_root : "auto",
		       strerror(-r));
		exit(1);
	}
	nr_allowed = 0;
	verify_calls = verify_bad_pidfd = 0;
}

/* ---- children ---- */

enum child_mode { CHILD_PAUSE, CHILD_IGNORE_TERM, CHILD_REPORT_USR1, CHILD_COUNT };

static int report_fd = -1;
static volatile uint64_t *counter;	/* shared with CHILD_COUNT children */

static void on_usr1(int sig)
{
	if (write(report_fd, "U", 1) < 0) {
		/* nothing to do in a handler */
	}
}

/* Fork a child in mode; returns once it is set up (it writes one byte). */
static pid_t spawn(enum child_mode mode, int *ret_report_fd)
{
	int ready[2], report[2];
	pid_t pid;
	char c;

	if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(report, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		report_fd = report[1];
		if (mode == CHILD_IGNORE_TERM)
			signal(SIGTERM, SIG_IGN);
		if (mode == CHILD_REPORT_USR1)
			signal(SIGUSR1, on_usr1);
		if (write(ready[1], "r", 1) < 0)
			_exit(1);
		for (;;) {
			if (mode == CHILD_COUNT) {
				(*counter)++;
				usleep(1000);
			} else {
				pause();
			}
		}
	}
	close(ready[1]);
	close(report[1]);
	if (pid > 0 && read(ready[0], &c, 1) != 1)
		pid = -1;
	close(ready[0]);
	if (ret_report_fd)
		*ret_report_fd = report[0];
	else
		close(report[0]);
	return pid;
}

/* Not exited yet (a zombie child has exited). */
static bool running(pid_t pid)
{
	siginfo_t si = { 0 };

	return waitid(P_PID, pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == 0;
}

static int reap(pid_t pid)
{
	int status = -1;

	waitpid(pid, &status, 0);
	return status;
}

static void kill_reap(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGKILL);
		reap(pid);
	}
}

/* Drive a job like the daemon: poll its fds until the deadline, step. */
static int run_job(struct actuator *a, struct unload_job *job)
{
	uint64_t give_up = now_ns() + 20000 * MS;
	struct pollfd p[ACTUATOR_MAX_FDS];
	int r;

	while ((r = actuator_step(a, job, now_ns())) == 0 && now_ns() < give_up) {
		int64_t wait_ms = ((int64_t)job->deadline_ns - (int64_t)now_ns()) / (int64_t)MS + 1;

		for (int i = 0; i < job->nr_procs; i++)
			p[i] = (struct pollfd){ .fd = job->procs[i].fd, .events = POLLIN };
		poll(p, job->nr_procs, wait_ms > 0 ? wait_ms : 0);
	}
	return r;
}

static void job_init(struct unload_job *job, enum action_kind kind, uint64_t grace_ns)
{
	memset(job, 0, sizeof(*job));
	snprintf(job->component, sizeof(job->component), "acttest-%d", getpid());
	job->comp_id = COMP_ID;
	job->action.kind = kind;
	job->level = LEVEL_HIGH;
	job->grace_ns = grace_ns;
	job->exec_timeout_ns = 5000 * MS;
}

/* ---- term, kill, signal ---- */

static void test_term_exits(void)
{
	struct actuator a;
	struct unload_job job;
	pid_t pid = spawn(CHILD_PAUSE, NULL);
	int r, status;

	init_actuator(&a, NULL, false);
	allow(pid, COMP_ID);
	job_init(&job, ACTION_TERM, 5000 * MS);
	r = actuator_start(&a, &job, &pid, 1, 0, now_ns());
	CHECK(r == 0, "start: %s (%s)", strerror(-r), job.error);
	CHECK(job.nr_signalled == 1 && job.nr_procs == 1, "signalled %d fds %d", job.nr_signalled,
	      job.nr_procs);
	CHECK(run_job(&a, &job) == 1, "job did not end");
	CHECK(job.result == JOB_EXITED, "result %s", job_result_name(job.result));
	CHECK(!job.escalated, "escalated");
	CHECK(job.nr_procs == 0, "fds left: %d", job.nr_procs);
	CHECK(verify_bad_pidfd == 0, "verify got a pidfd of another pid");
	status = reap(pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM, "status %#x", status);
	actuator_job_release(&job);
	actuator_fini(&a);
}

static void test_term_escalates(void)
{
	struct actuator a;
	struct unload_job job;
	pid_t pid = spawn(CHILD_IGNORE_TERM, NULL);
	uint64_t t0 = now_ns();
	int status;

	init_actuator(&a, NULL, false);
	allow(pid, COMP_ID);
	job_init(&job, ACTION_TERM, 200 * MS);
	CHECK(actuator_start(&a, &job, &pid, 1, 0, t0) == 0, "start: %s", job.error);
	CHECK(actuator_step(&a, &job, now_ns()) == 0, "ended before the grace");
	CHECK(running(pid), "child ignoring SIGTERM died early");
	CHECK(run_job(&a, &job) == 1, "job did not end");
	CHECK(job.result == JOB_KILLED, "result %s (%s)", job_result_name(job.result), job.error);
	CHECK(job.escalated, "not escalated");
	CHECK(now_ns() - t0 >= 200 * MS, "killed before the grace ended");
	status = reap(pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "status %#x", status);
	actuator_job_release(&job);
	actuator_fini(&a);
}

static void test_kill(void)
{
	struct actuator a;
	struct unload_job job;
	pid_t pids[2] = { spawn(CHILD_IGNORE_TERM, NULL), spawn(CHILD_PAUSE, NULL) };
	int status;

	init_actuator(&a, NULL, false);
	allow(pids[0], COMP_ID);
	allow(pids[1], COMP_ID);
	job_init(&job, ACTION_KILL, 0);
	CHECK(actuator_start(&a, &job, pids, 2, 0, now_ns()) == 0, "start: %s", job.error);
	CHECK(job.nr_signalled == 2, "signalled %d", job.nr_signalled);
	CHECK(run_job(&a, &job) == 1, "job did not end");
	CHECK(job.result == JOB_EXITED, "result %s (%s)", job_result_name(job.result), job.error);
	for (int i = 0; i < 2; i++) {
		status = reap(pids[i]);
		CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "status %#x", status);
	}
	actuator_job_release(&job);
	actuator_fini(&a);
}

static void test_signal_delivered(void)
{
	struct actuator a;
	struct unload_job job;
	int report = -1;
	pid_t pid = spawn(CHILD_REPORT_USR1, &report);
	struct pollfd p = { .fd = report, .events = POLLIN };
	char c = 0;

	init_actuator(&a, NULL, false);
	allow(pid, COMP_ID);
	job_init(&job, ACTION_SIGNAL, 0);
	job.action.signo = SIGUSR1;
	CHECK(actuator_start(&a, &job, &pid, 1, 0, now_ns()) == 0, "start: %s", job.error);
	CHECK(job.result == JOB_SIGNALLED, "result %s", job_result_name(job.result));
	CHECK(job.nr_procs == 0, "signal job keeps %d fds", job.nr_procs);
	CHECK(actuator_step(&a, &job, now_ns()) == 1, "signal job not finished");
	CHECK(poll(&p, 1, 2000) == 1 && read(report, &c, 1) == 1 && c == 'U',
	      "child did not see SIGUSR1");
	CHECK(running(pid), "SIGUSR1 killed the child");
	close(report);
	kill_reap(pid);
	actuator_job_release(&job);
	actuator_fini(&a);
}

/* ---- refusals ---- */

/* A kernel thread other than kthreadd, found by PF_KTHREAD; 0 if none. */
static pid_t find_kworker(void)
{
	char path[300], buf[512], *p;
	struct dirent *de;
	unsigned long flags;
	pid_t found = 0;
	DIR *d = opendir("/proc");
	FILE *f;

	while (d && !found && (de = readdir(d))) {
		pid_t pid = atoi(de->d_name);

		if (pid <= 2)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) &&
		    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %lu", &flags) == 1 &&
		    (flags & 0x00200000))
			found = pid;
		fclose(f);
	}
	if (d)
		closedir(d);
	return found;
}

static void test_refusals(void)
{
	struct actuator a;
	struct unload_job job;
	pid_t stranger = spawn(CHILD_PAUSE, NULL);
	pid_t kworker = find_kworker();
	pid_t pids[4] = { 1, getpid(), 2, stranger };
	int r, fd = 123;

	init_actuator(&a, NULL, false);
	/* Allow the special pids so that only the built-in checks stand in the
	 * way; the stranger is not allowed. Signal 0 hurts nobody. */
	allow(1, COMP_ID);
	allow(getpid(), COMP_ID);
	allow(2, COMP_ID);
	if (kworker)
		allow(kworker, COMP_ID);

	r = signal_verified(&a, 1, COMP_ID, 0, &fd);
	CHECK(r == -EPERM, "pid 1: %d", r);
	CHECK(fd == -1, "pidfd returned for a refusal");
	r = signal_verified(&a, getpid(), COMP_ID, 0, NULL);
	CHECK(r == -EPERM, "self: %d", r);
	r = signal_verified(&a, 2, COMP_ID, 0, NULL);
	CHECK(r == -EPERM, "kthreadd: %d", r);
	if (kworker) {
		r = signal_verified(&a, kworker, COMP_ID, 0, NULL);
		CHECK(r == -EPERM, "kernel thread %d: %d", kworker, r);
	}
	r = signal_verified(&a, 0, COMP_ID, 0, NULL);
	CHECK(r == -EPERM, "pid 0: %d", r);
	r = signal_verified(&a, -5, COMP_ID, 0, NULL);
	CHECK(r == -EPERM, "pid -5: %d", r);
	r = signal_verified(&a, stranger, COMP_ID, SIGTERM, NULL);
	CHECK(r == -EPERM, "stranger: %d", r);
	CHECK(verify_calls == 1, "verify asked %d times (only the stranger needs it)",
	      verify_calls);

	job_init(&job, ACTION_TERM, 100 * MS);
	r = actuator_start(&a, &job, pids, 4, 0, now_ns());
	CHECK(r < 0, "start accepted a job with nothing to signal");
	CHECK(job.result == JOB_FAILED, "result %s", job_result_name(job.result));
	CHECK(job.nr_refused == 4 && job.nr_signalled == 0, "refused %d signalled %d",
	      job.nr_refused, job.nr_signalled);
	CHECK(strstr(job.error, "could be signalled (4 refused)") != NULL, "error: %s", job.error);
	CHECK(job.nr_procs == 0, "fds %d", job.nr_procs);

	/* Freezing a stranger is as bad as killing it. */
	job_init(&job, ACTION_FREEZE, 0);
	r = actuator_start(&a, &job, &stranger, 1, 0, now_ns());
	CHECK(r < 0 && job.result == JOB_FAILED && job.nr_refused == 1,
	      "freeze of a stranger: %d %s refused %d", r, job_result_name(job.result),
	      job.nr_refused);
	CHECK(!freezer_is_frozen(&a.freezer, job.component), "stranger's cgroup frozen");
	rmdir(a.freezer.root);	/* the memshed parent, if this test created it (EBUSY if in use) */

	usleep(50000);
	CHECK(running(stranger), "stranger was killed");
	kill_reap(stranger);
	actuator_fini(&a);
}

static void test_no_verify_refuses(void)
{
	struct actuator a;
	struct actuator_opts o = { 0 };
	pid_t pid = spawn(CHILD_PAUSE, NULL);
	int r;

	CHECK(actuator_init(&a, &o) == 0, "init");
	r = signal_verified(&a, pid, COMP_ID, SIGTERM, NULL);
	CHECK(r == -EPERM, "no verify callback: %d", r);
	CHECK(running(pid), "killed without a verify callback");
	kill_reap(pid);
	actuator_fini(&a);
}

/*
 * A recycled PID: a process lives under the victim's number but does not
 * carry its label (verify says no), so it is refused. And a PID whose
 * process is gone is -ESRCH, not a signal to whoever comes next.
 */
static void test_pid_reuse(void)
{
	struct actuator a;
	struct unload_job job;
	pid_t pid = spawn(CHILD_PAUSE, NULL);
	int r;

	init_actuator(&a, NULL, false);
	allow(pid, COMP_ID + 1);	/* labelled, but as another component */
	r = signal_verified(&a, pid, COMP_ID, SIGTERM, NULL);
	CHECK(r == -EPERM, "unlabelled pid: %d", r);
	CHECK(verify_bad_pidfd == 0, "verify got a pidfd of another pid");
	usleep(20000);
	CHECK(running(pid), "unlabelled pid was signalled");

	job_init(&job, ACTION_KILL, 0);
	r = actuator_start(&a, &job, &pid, 1, 0, now_ns());
	CHECK(r < 0 && job.result == JOB_FAILED && job.nr_refused == 1, "kill: %d %s", r,
	      job.error);
	CHECK(running(pid), "unlabelled pid was killed");

	kill_reap(pid);
	allow(pid, COMP_ID);
	r = signal_verified(&a, pid, COMP_ID, SIGTERM, NULL);
	CHECK(r == -ESRCH, "gone pid: %d", r);

	/* Every pid already gone: the component is gone, not a failure. */
	job_init(&job, ACTION_TERM, 100 * MS);
	r = actuator_start(&a, &job, &pid, 1, 0, now_ns());
	CHECK(r == 0 && job.result == JOB_EXITED, "all gone: %d %s %s", r,
	      job_result_name(job.result), job.error);
	actuator_fini(&a);
}

static void test_nothing_to_do(void)
{
	struct actuator a;
	struct unload_job job;
	int r;

	init_actuator(&a, NULL, false);
	job_init(&job, ACTION_TERM, 100 * MS);
	r = actuator_start(&a, &job, NULL, 0, 0, now_ns());
	CHECK(r < 0 && job.result == JOB_FAILED, "empty term: %d %s", r,
	      job_result_name(job.result));
	CHECK(strstr(job.error, "(0 refused)") != NULL, "error: %s", job.error);
	CHECK(strstr(job.error, job.component) != NULL, "error lacks the name: %s", job.error);
	actuator_fini(&a);
}

static void test_dry_run(void)
{
	struct actuator a;
	struct unload_job job;
	pid_t pid = spawn(CHILD_PAUSE, NULL);

	init_actuator(&a, NULL, true);
	allow(pid, COMP_ID);
	job_init(&job, ACTION_KILL, 0);
	CHECK(actuator_start(&a, &job, &pid, 1, 0, now_ns()) == 0, "start");
	CHECK(job.result == JOB_EXITED && job.nr_signalled == 0 && !job.error[0],
	      "dry run: %s signalled %d error '%s'", job_result_name(job.result),
	      job.nr_signalled, job.error);
	CHECK(actuator_step(&a, &job, now_ns()) == 1, "dry run job not finished");
	usleep(20000);
	CHECK(running(pid), "dry run killed");
	job_init(&job, ACTION_FREEZE, 0);
	CHECK(actuator_start(&a, &job, &pid, 1, 0, now_ns()) == 0, "freeze start");
	CHECK(!freezer_is_frozen(&a.freezer, job.component), "dry run froze");
	kill_reap(pid);
	actuator_fini(&a);
}

static void test_result_names(void)
{
	static const char *const want[] = { "running", "exited", "killed", "frozen",
					    "signalled", "hook-ok", "failed", "reclaimed",
					    "hibernated", "thawed" };

	for (int i = 0; i < JOB_NR_RESULTS; i++)
		CHECK(!strcmp(job_result_name(i), want[i]), "%d: %s", i, job_result_name(i));
	CHECK(!strcmp(job_result_name(99), "unknown"), "99");
}

/* Skip one case (a failure with CI=true) without a PASS line after it. */
static void skip_case(const char *why)
{
	if (harness_ci()) {
		CHECK(0, "%s", why);
		return;
	}
	printf("SKIP %s: %s\n", harness_case, why);
	harness_case_failed = 1;	/* suppress PASS; not counted as failed */
}

/* ---- freeze ---- */

/* The 0:: (cgroup2) or freezer line of /proc/PID/cgroup, "" if none. */
static void cgroup_line(pid_t pid, bool v2, char *buf, size_t size)
{
	char path[64], line[1024];
	FILE *f;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (v2 ? !strncmp(line, "0::", 3) : strstr(line, ":freezer:") != NULL)
			snprintf(buf, size, "%s", line);
	fclose(f);
}

static bool file_has(const char *path, const char *needle)
{
	char buf[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return false;
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

static bool counter_moves(void)
{
	uint64_t c0 = *counter;

	usleep(100000);
	return *counter != c0;
}

/* Whatever happened, leave no frozen test cgroup behind. */
static void freeze_cleanup(const char *root, bool v2, const char *comp)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s/%s", root, comp, v2 ? "cgroup.freeze" : "freezer.state");
	if (access(path, F_OK) == 0) {
		int fd = open(path, O_WRONLY | O_CLOEXEC);

		if (fd >= 0) {
			if (write(fd, v2 ? "0" : "THAWED", v2 ? 1 : 6) < 0) {
				/* best effort */
			}
			close(fd);
		}
	}
	snprintf(path, sizeof(path), "%s/%s", root, comp);
	rmdir(path);
	rmdir(root);
}

static void freeze_case(const char *mnt, bool v2)
{
	struct actuator a;
	struct unload_job job;
	char root[256], dir[512], events[600], before[1024], after[1024], other_before[1024],
	     other_after[1024];
	pid_t pids[2] = { spawn(CHILD_COUNT, NULL), spawn(CHILD_PAUSE, NULL) };
	int r;

	snprintf(root, sizeof(root), "%s/acttest-%d", mnt, getpid());
	init_actuator(&a, root, false);
	CHECK(a.freezer.v2 == v2, "%s judged %s", root, a.freezer.v2 ? "cgroup2" : "v1");
	CHECK(!strcmp(a.freezer.root, root), "freezer_root %s", a.freezer.root);
	allow(pids[0], COMP_ID);	/* pids[1] is a stranger */
	job_init(&job, ACTION_FREEZE, 0);
	snprintf(dir, sizeof(dir), "%s/%s", root, job.component);
	snprintf(events, sizeof(events), "%s/%s", dir, v2 ? "cgroup.events" : "freezer.state");
	cgroup_line(pids[0], v2, before, sizeof(before));
	cgroup_line(pids[1], v2, other_before, sizeof(other_before));

	CHECK(counter_moves(), "counting child does not count");
	r = actuator_start(&a, &job, pids, 2, 0, now_ns());
	CHECK(r == 0, "start: %s (%s)", strerror(-r), job.error);
	CHECK(job.result == JOB_FROZEN, "result %s (%s)", job_result_name(job.result), job.error);
	CHECK(job.nr_signalled == 1 && job.nr_refused == 1, "moved %d refused %d",
	      job.nr_signalled, job.nr_refused);
	CHECK(file_has(events, v2 ? "frozen 1" : "FROZEN"), "%s not frozen", events);
	CHECK(freezer_is_frozen(&a.freezer, job.component), "is_frozen false");
	CHECK(!counter_moves(), "frozen child still counts");
	cgroup_line(pids[1], v2, other_after, sizeof(other_after));
	CHECK(!strcmp(other_before, other_after), "stranger moved: %s -> %s", other_before,
	      other_after);

	r = freezer_thaw(&a.freezer, job.component);
	CHECK(r == 0, "thaw: %s", strerror(-r));
	CHECK(counter_moves(), "thawed child does not count");
	CHECK(!freezer_is_frozen(&a.freezer, job.component), "still frozen after thaw");
	cgroup_line(pids[0], v2, after, sizeof(after));
	CHECK(!strcmp(before, after), "not moved back: %s -> %s", before, after);
	CHECK(access(dir, F_OK) != 0, "%s not removed after thaw", dir);
	CHECK(freezer_thaw(&a.freezer, job.component) == -ENOENT, "second thaw");

	/* Again, and let thaw_all (daemon start) undo it. */
	r = actuator_start(&a, &job, pids, 1, 0, now_ns());
	CHECK(r == 0 && job.result == JOB_FROZEN, "refreeze: %s", job.error);
	CHECK(!counter_moves(), "refrozen child still counts");
	r = freezer_thaw_all(&a.freezer);
	CHECK(r == 1, "thaw_all thawed %d", r);
	CHECK(counter_moves(), "child does not count after thaw_all");
	CHECK(access(dir, F_OK) != 0, "%s not removed after thaw_all", dir);
	cgroup_line(pids[0], v2, after, sizeof(after));
	CHECK(!strcmp(before, after), "not moved back: %s -> %s", before, after);

	/* A component name must not leave the memshed directory. */
	job_init(&job, ACTION_FREEZE, 0);
	snprintf(job.component, sizeof(job.component), "../escape");
	r = actuator_start(&a, &job, pids, 1, 0, now_ns());
	CHECK(r == -EINVAL && job.result == JOB_FAILED, "../escape: %d %s", r, job.error);

	for (int i = 0; i < 2; i++)
		kill_reap(pids[i]);
	job_init(&job, ACTION_FREEZE, 0);
	freeze_cleanup(root, v2, job.component);
	CHECK(access(root, F_OK) != 0, "%s left behind", root);
	actuator_fini(&a);
}

static void test_freeze_auto(void)
{
	struct actuator a;

	init_actuator(&a, NULL, false);
	CHECK(a.freezer.root[0], "no freezer found on this host");
	CHECK(strstr(a.freezer.root, "/memshed") != NULL, "freezer_root %s", a.freezer.root);
	/* cgroup2 is preferred where it is mounted (hybrid hosts too). */
	if (file_has("/proc/self/mountinfo", " - cgroup2 "))
		CHECK(a.freezer.v2, "cgroup2 mounted but %s chosen", a.freezer.root);
	actuator_fini(&a);
}

/* The mount point of a cgroup2 (v2) or v1 freezer hierarchy, from mountinfo. */
static bool find_mnt(bool v2, char *buf, size_t size)
{
	char line[1024], point[512], *sep;
	bool found = false;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	while (f && !found && fgets(line, sizeof(line), f)) {
		sep = strstr(line, " - ");
		if (!sep || sscanf(line, "%*s %*s %*s %*s %511s", point) != 1)
			continue;
		if (v2 ? !strncmp(sep, " - cgroup2 ", 11)
		       : !strncmp(sep, " - cgroup ", 10) && strstr(sep, "freezer"))
			found = snprintf(buf, size, "%s", point) < (int)size;
	}
	if (f)
		fclose(f);
	return found;
}

static void test_freeze_cgroup2(void)
{
	char mnt[512];

	if (!find_mnt(true, mnt, sizeof(mnt))) {
		skip_case("no cgroup2 mount");
		return;
	}
	freeze_case(mnt, true);
}

static void test_freeze_v1(void)
{
	char mnt[512];

	if (!find_mnt(false, mnt, sizeof(mnt))) {
		skip_case("no v1 freezer mount");
		return;
	}
	freeze_case(mnt, false);
}

/* ---- reclaim ---- */

/* RssFile of a process, in KiB (-1: unreadable). */
static long rss_file_kib(pid_t pid)
{
	char path[64], line[128];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "RssFile: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

/*
 * A child holding 48 MiB of file pages (a file on disk, not tmpfs: those
 * would be shmem, which needs swap): a reclaim job pages them out in
 * batches of RECLAIM_BATCH_BYTES while the child keeps running, through a
 * verified pidfd; a child not on the allow-list is not touched.
 */
static void test_reclaim_pages_out(void)
{
	enum { MIB = 48 };
	char path[] = "/var/tmp/memshed-acttest-reclaim.XXXXXX", buf[1 << 16];
	struct unload_job job;
	struct actuator a;
	long before, after;
	int fd = mkstemp(path), ready[2];
	pid_t pid;
	char c;

	CHECK(fd >= 0, "mkstemp: %s", strerror(errno));
	if (fd < 0)
		return;
	memset(buf, 'm', sizeof(buf));
	for (int i = 0; i < MIB * 16; i++)
		CHECK(write(fd, buf, sizeof(buf)) == sizeof(buf), "write");
	fsync(fd);
	CHECK(pipe2(ready, O_CLOEXEC) == 0, "pipe");
	pid = fork();
	if (pid == 0) {
		volatile char *m = mmap(NULL, MIB << 20, PROT_READ, MAP_SHARED, fd, 0);
		unsigned long sum = 0;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (m == MAP_FAILED)
			_exit(1);
		for (size_t off = 0; off < (size_t)MIB << 20; off += 4096)
			sum += m[off];
		if (write(ready[1], sum ? "r" : "0", 1) < 0)
			_exit(1);
		for (;;)
			pause();
	}
	close(ready[1]);
	CHECK(pid > 0 && read(ready[0], &c, 1) == 1, "child ready");
	close(ready[0]);
	close(fd);
	unlink(path);

	init_actuator(&a, NULL, false);
	before = rss_file_kib(pid);
	job_init(&job, ACTION_RECLAIM, 0);
	CHECK(actuator_start(&a, &job, &pid, 1, 0, now_ns()) == -EPERM &&
	      job.result == JOB_FAILED, "not on the allow-list: refused");
	CHECK(rss_file_kib(pid) >= before - 1024, "refused, yet paged out");

	allow(pid, COMP_ID);
	job_init(&job, ACTION_RECLAIM, 0);
	CHECK(actuator_start(&a, &job, &pid, 1, 0, now_ns()) == 0 && job.result == JOB_RUNNING,
	      "start: %s", job.error);
	CHECK(run_job(&a, &job) == 1 && job.result == JOB_RECLAIMED, "result %s: %s",
	      job_result_name(job.result), job.error);
	after = rss_file_kib(pid);
	CHECK(before >= (MIB - 2) * 1024 && after * 4 < before, "RssFile %ld -> %ld KiB", before,
	      after);
	CHECK(job.rc.turns >= MIB / (int)(RECLAIM_BATCH_BYTES >> 20), "%d turns for %d MiB",
	      job.rc.turns, MIB);
	CHECK(job.rc.advised >= (uint64_t)MIB << 20, "advised %llu",
	      (unsigned long long)job.rc.advised);
	CHECK(running(pid), "the child runs on");
	actuator_job_release(&job);
	kill_reap(pid);
	actuator_fini(&a);
}

/* ---- exec ---- */

static void test_exec_env(void)
{
	struct actuator a;
	struct unload_job job;
	char tmp[] = "/tmp/acttest-env-XXXXXX", want[128];
	char *argv[] = { "/bin/sh", "-c", "env > \"$0\"", tmp, NULL };
	pid_t pids[2] = { spawn(CHILD_PAUSE, NULL), spawn(CHILD_PAUSE, NULL) };
	int fd = mkstemp(tmp), r;

	close(fd);
	setenv("ACTTEST_SECRET", "leak", 1);
	init_actuator(&a, NULL, false);
	job_init(&job, ACTION_EXEC, 0);
	job.action.argv = argv;
	r = actuator_start(&a, &job, pids, 2, 123456789, now_ns());
	CHECK(r == 0 && job.result == JOB_RUNNING, "start: %d %s", r, job.error);
	CHECK(job.nr_procs == 1, "hook pidfd missing");
	CHECK(run_job(&a, &job) == 1, "hook did not end");
	CHECK(job.result == JOB_HOOK_OK, "result %s (%s)", job_result_name(job.result), job.error);
	snprintf(want, sizeof(want), "MEMSHED_COMPONENT=%s\n", job.component);
	CHECK(file_has(tmp, want), "%s", want);
	CHECK(file_has(tmp, "MEMSHED_LEVEL=high\n"), "level");
	CHECK(file_has(tmp, "MEMSHED_RSS_BYTES=123456789\n"), "rss");
	snprintf(want, sizeof(want), "MEMSHED_PIDS=%d %d\n", pids[0], pids[1]);
	CHECK(file_has(tmp, want), "%s", want);
	CHECK(file_has(tmp, "MEMSHED_ACTION=exec\n"), "action");
	CHECK(file_has(tmp, "PATH=/usr/sbin:/usr/bin:/sbin:/bin\n"), "PATH");
	CHECK(!file_has(tmp, "ACTTEST_SECRET"), "the daemon's environment leaked");
	CHECK(running(pids[0]) && running(pids[1]), "exec hurt the component");
	unsetenv("ACTTEST_SECRET");
	unlink(tmp);
	for (int i = 0; i < 2; i++)
		kill_reap(pids[i]);
	actuator_job_release(&job);
	actuator_fini(&a);
}

/* Run argv as a hook with timeout_ms; leaves the ended job in *job. */
static void run_hook(struct actuator *a, struct unload_job *job, char **argv, uint64_t timeout_ms)
{
	pid_t pid = getpid();	/* only reported to the hook */
	int r;

	job_init(job, ACTION_EXEC, 0);
	job->action.argv = argv;
	job->exec_timeout_ns = timeout_ms * MS;
	r = actuator_start(a, job, &pid, 1, 0, now_ns());
	CHECK(r == 0, "start %s: %d %s", argv[0], r, job->error);
	if (r == 0)
		CHECK(run_job(a, job) == 1, "hook %s did not end", argv[0]);
	actuator_job_release(job);
}

static void test_exec_timeout(void)
{
	struct actuator a;
	struct unload_job job;
	char tmp[] = "/tmp/acttest-pid-XXXXXX";
	char *argv[] = { "/bin/sh", "-c", "sleep 10 & echo $! > \"$0\"; wait", tmp, NULL };
	uint64_t t0 = now_ns();
	pid_t grandchild = 0;
	int fd = mkstemp(tmp), status;
	FILE *f;

	close(fd);
	init_actuator(&a, NULL, false);
	run_hook(&a, &job, argv, 200);
	CHECK(job.result == JOB_FAILED && strstr(job.error, "timed out after 0.2s"),
	      "result %s (%s)", job_result_name(job.result), job.error);
	CHECK(now_ns() - t0 < 3000 * MS, "took %llu ms",
	      (unsigned long long)((now_ns() - t0) / MS));
	CHECK(WIFSIGNALED(job.hook_status) && WTERMSIG(job.hook_status) == SIGKILL,
	      "hook_status %#x", job.hook_status);
	/* The hook's own children die with it (process group); as subreaper
	 * this test inherits the orphan and can see how it ended. */
	f = fopen(tmp, "re");
	if (f && fscanf(f, "%d", &grandchild) == 1 && grandchild > 0) {
		status = reap(grandchild);
		CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "hook child %#x", status);
	} else {
		CHECK(0, "no pid of the hook's child");
	}
	if (f)
		fclose(f);
	unlink(tmp);
	actuator_fini(&a);
}

static void test_exec_status(void)
{
	struct actuator a;
	struct unload_job job;
	char *exit3[] = { "/bin/sh", "-c", "exit 3", NULL };
	char *ok[] = { "/bin/true", NULL };
	char *missing[] = { "/nonexistent/hook", NULL };
	char *selfkill[] = { "/bin/sh", "-c", "kill -USR2 $$", NULL };

	init_actuator(&a, NULL, false);
	run_hook(&a, &job, exit3, 5000);
	CHECK(job.result == JOB_FAILED && !strcmp(job.error, "hook exited with status 3"),
	      "exit 3: %s (%s)", job_result_name(job.result), job.error);
	CHECK(WIFEXITED(job.hook_status) && WEXITSTATUS(job.hook_status) == 3, "status %#x",
	      job.hook_status);
	run_hook(&a, &job, ok, 5000);
	CHECK(job.result == JOB_HOOK_OK && !job.error[0], "true: %s (%s)",
	      job_result_name(job.result), job.error);
	run_hook(&a, &job, missing, 5000);
	CHECK(job.result == JOB_FAILED && strstr(job.error, "status 127"), "missing: %s",
	      job.error);
	run_hook(&a, &job, selfkill, 5000);
	CHECK(job.result == JOB_FAILED && strstr(job.error, "killed by signal 12"),
	      "self-kill: %s", job.error);
	actuator_fini(&a);
}

int main(void)
{
	static uint64_t *shared;

	harness_require_root("test_actuator");
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* Orphans of exec hooks come back to us, so their end is visible. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED)
		return 1;
	counter = shared;

	RUN_TEST(test_result_names);
	RUN_TEST(test_term_exits);
	RUN_TEST(test_term_escalates);
	RUN_TEST(test_kill);
	RUN_TEST(test_signal_delivered);
	RUN_TEST(test_refusals);
	RUN_TEST(test_no_verify_refuses);
	RUN_TEST(test_pid_reuse);
	RUN_TEST(test_nothing_to_do);
	RUN_TEST(test_dry_run);
	RUN_TEST(test_freeze_auto);
	RUN_TEST(test_freeze_cgroup2);
	RUN_TEST(test_freeze_v1);
	RUN_TEST(test_reclaim_pages_out);
	RUN_TEST(test_exec_env);
	RUN_TEST(test_exec_timeout);
	RUN_TEST(test_exec_status);
	return harness_exit();
}
