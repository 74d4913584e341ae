// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Process identity: a pid and its pidfd (pidref.h). The pidfd is opened
 * first, then the process is checked (not pid 1, not memshed, not a kernel
 * thread, labelled with the component right now), and only then is it
 * signalled or moved. A pidfd pins one process, so a PID recycled after the
 * check can never be hit; the escalation of term to SIGKILL reuses the same
 * pidfd instead of looking the PID up again.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "output.h"
#include "pidref.h"

#ifndef SYS_process_mrelease
#define SYS_process_mrelease 448	/* x86_64, since 5.15 */
#endif

int pidref_open(struct pidref *ret, pid_t pid)
{
	int fd = syscall(SYS_pidfd_open, pid, 0);

	if (fd < 0) {
		*ret = PIDREF_NULL;
		return -errno;
	}
	*ret = (struct pidref){ .pid = pid, .fd = fd };
	return 0;
}

/*
 * The /proc reads happen after the pidfd exists and are trusted only if
 * the pidfd's process is still alive afterwards: while it lives, its PID
 * cannot name another process.
 */
int pidref_open_verified(struct pidref *ret, pid_t pid, uint32_t comp_id,
			 pidref_verify_fn verify, void *verify_ctx)
{
	struct pidref p;
	int r;

	*ret = PIDREF_NULL;
	if (pid <= 1 || pid == getpid())
		return -EPERM;
	r = pidref_open(&p, pid);
	if (r == -EINVAL)		/* a thread id, not a process */
		return -EPERM;
	if (r < 0)
		return r;

	r = proc_is_kernel_thread(pid);
	if (r < 0)
		goto cleanup;
	if (r > 0) {
		r = -EPERM;
		goto cleanup;
	}
	if (pidref_exited(&p)) {
		r = -ESRCH;
		goto cleanup;
	}
	if (!verify || !verify(verify_ctx, p.fd, pid, comp_id)) {
		r = -EPERM;
		goto cleanup;
	}
	*ret = p;
	return 0;
cleanup:
	pidref_close(&p);
	return r;
}

int pidref_signal(const struct pidref *p, int signo)
{
	return syscall(SYS_pidfd_send_signal, p->fd, signo, NULL, 0) < 0 ? -errno : 0;
}

/*
 * process_mrelease frees the memory of a killed process at once instead of
 * waiting for its exit path; ENOSYS (old kernel), EINVAL (not dying yet)
 * and ESRCH (gone) are fine.
 */
int pidref_kill(const struct pidref *p)
{
	int r = pidref_signal(p, SIGKILL);

	if (r == 0)
		syscall(SYS_process_mrelease, p->fd, 0);
	return r;
}

bool pidref_exited(const struct pidref *p)
{
	struct pollfd pfd = { .fd = p->fd, .events = POLLIN };

	return poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLIN | POLLHUP | POLLERR));
}

void pidref_close(struct pidref *p)
{
	if (p->fd >= 0)
		close(p->fd);
	*p = PIDREF_NULL;
}
