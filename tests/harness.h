/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * A tiny test harness. Each check prints one line:
 *   PASS name | FAIL name: why (file:line) | SKIP name: why
 * tests/run-all counts them and prints "N passed, N failed".
 * With CI=true a skip is counted as a failure (an integration test that
 * cannot run must not look green).
 */
#ifndef MEMSHED_HARNESS_H
#define MEMSHED_HARNESS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int harness_failed;
static const char *harness_case = "?";
static int harness_case_failed;

#define TEST_BEGIN(name) \
	do { harness_case = (name); harness_case_failed = 0; } while (0)

#define TEST_END() \
	do { if (!harness_case_failed) printf("PASS %s\n", harness_case); \
	     fflush(stdout); } while (0)

#define CHECK(cond, ...) \
	do { if (!(cond)) { \
		printf("FAIL %s: ", harness_case); printf(__VA_ARGS__); \
		printf(" [%s] (%s:%d)\n", #cond, __FILE__, __LINE__); \
		fflush(stdout); harness_case_failed = 1; harness_failed++; } \
	} while (0)

/* Run fn as one test case. */
#define RUN_TEST(fn) do { TEST_BEGIN(#fn); fn(); TEST_END(); } while (0)

static inline int harness_ci(void)
{
	const char *ci = getenv("CI");
	return ci && !strcmp(ci, "true");
}

/* Skip (or, in CI, fail) a whole test program. */
static inline void harness_skip_all(const char *name, const char *why)
{
	printf("%s %s: %s\n", harness_ci() ? "FAIL" : "SKIP", name, why);
	exit(harness_ci() ? 1 : 0);
}

static inline void harness_require_root(const char *name)
{
	if (geteuid() != 0)
		harness_skip_all(name, "needs root (run as root, or make test as root)");
	if (access("/sys/kernel/btf/vmlinux", R_OK) != 0)
		harness_skip_all(name, "needs kernel BTF at /sys/kernel/btf/vmlinux");
}

static inline int harness_exit(void)
{
	return harness_failed ? 1 : 0;
}

#endif
