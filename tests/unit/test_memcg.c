// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Unit tests of the choice of memory.reclaim (user/memcg.c): a component
 * owns a cgroup when its processes are all in it (or below it), it is not
 * the root nor memshed's own freezer group, nothing else populates it or
 * its subtree, and the memory controller is enabled for it.
 */
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "memcg.h"

#define MNT "/sys/fs/cgroup/unified"	/* a hybrid host's cgroup2 */

static void test_top(void)
{
	const char *one[] = { MNT "/system.slice/redis.service" };
	const char *nested[] = { MNT "/a/b/c", MNT "/a/b", MNT "/a/b/d" };
	const char *apart[] = { MNT "/a/b", MNT "/a/c" };
	const char *prefix[] = { MNT "/a/b", MNT "/a/bc" };	/* not below: a name prefix */
	const char *unknown[] = { MNT "/a", NULL };

	CHECK(memcg_top(one, 1) == 0, "one process");
	CHECK(memcg_top(nested, 3) == 1, "the one the others lie within");
	CHECK(memcg_top(apart, 2) == -1, "siblings: none holds both");
	CHECK(memcg_top(prefix, 2) == -1, "/a/bc is not below /a/b");
	CHECK(memcg_top(unknown, 2) == -1, "an unknown cgroup");
}

static void test_judge(void)
{
	const char *own[] = { MNT "/svc", MNT "/svc" };
	const char *sub[] = { MNT "/svc", MNT "/svc/worker" };
	const char *split[] = { MNT "/svc", MNT "/other" };
	const char *root[] = { MNT, MNT "/x" };
	const char *frozen[] = { MNT "/memshed/cache", MNT "/memshed/cache" };
	const char *v1[] = { "/sys/fs/cgroup/memory/svc", "/sys/fs/cgroup/memory/svc" };
	const char *lost[] = { MNT "/svc", NULL };
	pid_t pids[] = { 100, 101 }, stranger[] = { 100, 101, 999 }, same[] = { 101, 100 };
	pid_t many[MEMCG_MEMBERS_MAX + 1];
	const struct {
		const char *name;
		const char *const *dirs;
		const pid_t *members;
		int nr_members;
		bool controller;
		const char *memshed_root;
		enum memcg_verdict want;
	} cases[] = {
		{ "owned", own, same, 2, true, MNT "/memshed", MEMCG_OWNED },
		{ "owned, a process in a child group", sub, pids, 2, true, "", MEMCG_OWNED },
		{ "no memory controller", own, pids, 2, false, "", MEMCG_NO_CONTROLLER },
		{ "a stranger in it: shared", own, stranger, 3, true, "", MEMCG_SHARED },
		{ "a stranger and no controller: shared", own, stranger, 3, false, "",
		  MEMCG_SHARED },
		{ "too many to tell", own, many, MEMCG_MEMBERS_MAX + 1, true, "", MEMCG_SHARED },
		{ "different cgroups", split, pids, 2, true, "", MEMCG_SPLIT },
		{ "the root", root, pids, 2, true, "", MEMCG_ROOT },
		{ "memshed's freezer group", frozen, pids, 2, true, MNT "/memshed",
		  MEMCG_MEMSHED },
		{ "not under the cgroup2 mount", v1, pids, 2, true, "", MEMCG_NO_CGROUP2 },
		{ "a process's cgroup unknown", lost, pids, 2, true, "", MEMCG_NO_CGROUP2 },
	};

	for (int i = 0; i < MEMCG_MEMBERS_MAX + 1; i++)
		many[i] = i < 2 ? pids[i] : 1000 + i;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct memcg_facts f = {
			.dirs = cases[i].dirs, .pids = pids, .nr = 2,
			.members = cases[i].members, .nr_members = cases[i].nr_members,
			.mount = MNT, .memshed_root = cases[i].memshed_root,
			.controller = cases[i].controller,
		};
		enum memcg_verdict v = memcg_judge(&f);

		CHECK(v == cases[i].want, "%s: %s, want %s", cases[i].name, memcg_verdict_why(v),
		      memcg_verdict_why(cases[i].want));
	}
	{
		struct memcg_facts none = { .mount = MNT };

		CHECK(memcg_judge(&none) == MEMCG_NO_CGROUP2, "no process");
		none.nr = 1;
		none.mount = NULL;
		CHECK(memcg_judge(&none) == MEMCG_NO_CGROUP2, "no cgroup2 mount");
	}
}

int main(void)
{
	RUN_TEST(test_top);
	RUN_TEST(test_judge);
	return harness_exit();
}
