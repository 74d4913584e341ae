// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * exec: hooks (hook.h): the environment, the start (clone3 with a pidfd,
 * or fork + pidfd_open where clone3 is filtered), the reaping through the
 * pidfd, and the kill of the hook's process group at its timeout.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/sched.h>	/* struct clone_args, CLONE_PIDFD */

#include "hook.h"

#define HOOK_PATH		"PATH=/usr/sbin:/usr/bin:/sbin:/bin"

/* The hook's environment: nothing of the daemon's, only what names the job. */
char **hook_env_new(const char *component, enum level level, uint64_t rss,
		    const pid_t *pids, int nr)
{
	size_t pids_len = 16 + (size_t)nr * 12;
	char **env = calloc(7, sizeof(*env));
	char *p;
	int len;

	if (!env)
		return NULL;
	env[0] = strdup(HOOK_PATH);
	if (asprintf(&env[1], "MEMSHED_COMPONENT=%s", component) < 0)
		env[1] = NULL;
	if (asprintf(&env[2], "MEMSHED_LEVEL=%s", level_name(level)) < 0)
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

void hook_env_free(char **env)
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
int hook_spawn(char *const argv[], char *const envp[], struct pidref *ret)
{
	struct clone_args ca = { 0 };
	int devnull, pidfd = -1, r;
	pid_t pid;

	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0)
		return -errno;
	/* The hook writes to the daemon's stdout: the records buffered for it
	 * (the unload that runs this hook) come first. */
	fflush(stdout);
	ca.flags = CLONE_PIDFD;
	ca.pidfd = (uintptr_t)&pidfd;
	ca.exit_signal = SIGCHLD;
	pid = syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid < 0 && (errno == ENOSYS || errno == EPERM)) {
		pid = fork();
		if (pid > 0) {
			r = pidref_open(ret, pid);
			if (r < 0) {
				kill(pid, SIGKILL);	/* our unreaped child: safe by PID */
				waitpid(pid, NULL, 0);
				close(devnull);
				return r;
			}
			pidfd = ret->fd;
		}
	}
	if (pid == 0)
		hook_child(argv, envp, devnull);
	r = pid < 0 ? -errno : 0;
	close(devnull);
	if (r == 0)
		*ret = (struct pidref){ .pid = pid, .fd = pidfd };
	return r;
}

int hook_reap(struct pidref *h, int *ret_status)
{
	siginfo_t si = { 0 };

	if (waitid(P_PIDFD, h->fd, &si, WEXITED | WNOHANG) < 0)
		return -errno;
	if (si.si_pid == 0)
		return 0;
	/* As a wait status, so WIFEXITED & co. work on it. */
	if (si.si_code == CLD_EXITED)
		*ret_status = (si.si_status & 0xff) << 8;
	else
		*ret_status = (si.si_status & 0x7f) | (si.si_code == CLD_DUMPED ? 0x80 : 0);
	pidref_close(h);
	return 1;
}

/*
 * The hook is our own child and still unreaped, so its PID, and its process
 * group (setsid made it the leader), cannot name anyone else: kill the group
 * so that children of a timed-out hook do not linger.
 */
void hook_kill(const struct pidref *h)
{
	struct pollfd p = { .fd = h->fd, .events = POLLIN };

	pidref_signal(h, SIGKILL);
	kill(-h->pid, SIGKILL);
	poll(&p, 1, HOOK_REAP_WAIT_MS);
}
