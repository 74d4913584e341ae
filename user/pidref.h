/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * A process memshed acts on, held as its pid and a pidfd (after systemd's
 * pidref.c): opened and checked once, then signalled, watched and killed
 * only through the pidfd, so a recycled PID can never be hit.
 */
#ifndef MEMSHED_PIDREF_H
#define MEMSHED_PIDREF_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct pidref {
	pid_t pid;
	int fd;			/* pidfd, -1 if none */
};

#define PIDREF_NULL ((struct pidref){ .pid = 0, .fd = -1 })

/* Is the process behind pidfd labelled comp_id right now? (The loader's
 * task-storage lookup; tests pass their own.) */
typedef bool (*pidref_verify_fn)(void *ctx, int pidfd, pid_t pid, uint32_t comp_id);

/* A pidfd for pid, unchecked (for memshed's own children). 0 or -errno. */
int pidref_open(struct pidref *ret, pid_t pid);
/*
 * A pidfd for pid that memshed may touch: not pid 1, not memshed, not a
 * kernel thread, labelled comp_id right now (verify; none means nothing is
 * labelled). 0; -EPERM: refused; -ESRCH: gone. *ret is PIDREF_NULL on error.
 */
int pidref_open_verified(struct pidref *ret, pid_t pid, uint32_t comp_id,
			 pidref_verify_fn verify, void *verify_ctx);
int pidref_signal(const struct pidref *p, int signo);	/* 0 or -errno */
/* SIGKILL, then process_mrelease to reap its memory at once. 0 or -errno
 * (of the signal). */
int pidref_kill(const struct pidref *p);
bool pidref_exited(const struct pidref *p);	/* its pidfd polls readable */
void pidref_close(struct pidref *p);		/* and makes it PIDREF_NULL */

#endif
