// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Unit tests of the pure parts of paging out (user/reclaim.c): which lines
 * of /proc/PID/maps are advised, the swap facts from a meminfo file, and
 * when swap has room.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "reclaim.h"

static void test_maps_lines(void)
{
	const struct { const char *line; bool ok; uint64_t s, e; } cases[] = {
		{ "55d0c0a00000-55d0c0a21000 r--p 00000000 fe:01 1234   /usr/bin/redis-server\n",
		  true, 0x55d0c0a00000, 0x55d0c0a21000 },
		{ "7f0000000000-7f0010000000 rw-p 00000000 00:00 0 \n", true, 0x7f0000000000,
		  0x7f0010000000 },
		{ "7ffd1000-7ffd2000 rw-p 00000000 00:00 0      [stack]\n", true, 0x7ffd1000,
		  0x7ffd2000 },
		{ "7f1234560000-7f1234561000 rw-s 00000000 00:01 77  /dev/shm/x (deleted)\n", true,
		  0x7f1234560000, 0x7f1234561000 },
		{ "7f0000000000-7f0000001000 ---p 00000000 00:00 0 \n", false },	/* guard */
		{ "7ffd5000-7ffd7000 r--p 00000000 00:00 0      [vvar]\n", false },
		{ "7ffd5000-7ffd7000 r--p 00000000 00:00 0      [vvar_vclock]\n", false },
		{ "7ffd7000-7ffd9000 r-xp 00000000 00:00 0      [vdso]\n", false },
		{ "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0  [vsyscall]\n", false },
		{ "2000-1000 rw-p 00000000 00:00 0\n", false },			/* end <= start */
		{ "garbage\n", false },
		{ "", false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t s = 0, e = 0;
		bool ok = reclaim_parse_maps_line(cases[i].line, &s, &e);

		CHECK(ok == cases[i].ok, "line %zu: %d, want %d", i, ok, cases[i].ok);
		if (ok && cases[i].ok)
			CHECK(s == cases[i].s && e == cases[i].e, "line %zu: range", i);
	}
}

static void test_swap_facts(void)
{
	char path[] = "/tmp/memshed-test-meminfo.XXXXXX";
	const char *text = "MemTotal:       24683520 kB\nSwapCached:            0 kB\n"
			   "SwapTotal:        786428 kB\nSwapFree:         524288 kB\n";
	struct swap_facts sw;
	int fd = mkstemp(path);

	CHECK(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text), "temp file");
	close(fd);
	CHECK(swap_facts_read(path, &sw) == 0 && sw.total == 786428ull << 10 &&
	      sw.free == 524288ull << 10, "SwapTotal, SwapFree");
	CHECK(swap_has_room(&sw), "room");
	unlink(path);
	CHECK(swap_facts_read(path, &sw) < 0 && sw.total == 0 && sw.free == 0, "no file: none");
	CHECK(!swap_has_room(&sw), "no swap: no room");
	sw = (struct swap_facts){ .total = 1 << 30, .free = RECLAIM_SWAP_MIN - 1 };
	CHECK(!swap_has_room(&sw), "full: no room");
	sw.free = RECLAIM_SWAP_MIN;
	CHECK(swap_has_room(&sw), "just enough room");
}

int main(void)
{
	RUN_TEST(test_maps_lines);
	RUN_TEST(test_swap_facts);
	return harness_exit();
}
