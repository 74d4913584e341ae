/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef MEMSHED_JOURNAL_H
#define MEMSHED_JOURNAL_H

#include <stdbool.h>

/* Under systemd: JOURNAL_STREAM is set, or journald's socket is there. */
bool journal_wanted(void);
/* Send every record to journald's native socket (path NULL: the usual
 * one) with structured fields. Returns 0 or -errno. */
int journal_open(const char *path);
void journal_close(void);

#endif
