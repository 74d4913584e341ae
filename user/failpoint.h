/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Fault injection for the test suite: MEMSHED_FAILPOINT=NAME:DURATION
 * stalls the daemon at the point called NAME, so a test can make a kernel
 * race happen inside a window that is microseconds wide in real use
 * (a victim's PID recycled between its check and the act on it). Points:
 *
 *   pre-signal  between choosing a round's victims and acting on them
 *   pre-move    freeze: between a process's pidfd check and its move into
 *               the freezer group (cgroup.procs takes a PID, not a pidfd)
 *
 * Unset, it costs one getenv per call.
 */
#ifndef MEMSHED_FAILPOINT_H
#define MEMSHED_FAILPOINT_H

/* Stall at NAME if asked to; what (printf) names the process or component
 * it stalls for in the log line, so a test knows which one to recycle. */
void failpoint(const char *name, const char *what, ...) __attribute__((format(printf, 2, 3)));

#endif
