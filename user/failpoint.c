// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Fault injection for the test suite (failpoint.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "failpoint.h"
#include "output.h"
#include "values.h"

#define NS_PER_SEC 1000000000ull

void failpoint(const char *name, const char *what, ...)
{
	const char *fp = getenv("MEMSHED_FAILPOINT");
	size_t n = strlen(name);
	char buf[128];
	va_list ap;
	uint64_t ns;

	if (!fp || strncmp(fp, name, n) || fp[n] != ':' || parse_duration(fp + n + 1, &ns))
		return;
	va_start(ap, what);
	vsnprintf(buf, sizeof(buf), what, ap);
	va_end(ap);
	log_warn("failpoint %s (%s): stalling %.3fs", name, buf, ns / 1e9);
	/* The records of before the stall are out (stdout is written once per
	 * turn of the loop): a test waits for them to act inside the window. */
	fflush(stdout);
	nanosleep(&(struct timespec){ ns / NS_PER_SEC, ns % NS_PER_SEC }, NULL);
}
