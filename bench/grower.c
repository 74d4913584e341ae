// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * grower: grow anonymous memory at a steady rate and stamp the moment a
 * threshold is crossed, so that every tool is timed from the same event.
 *
 *   grower (--cross-rss BYTES | --cross-avail KIB) --over MiB --rate MiB/s
 *          --stamp-file PATH [--comm NAME] [--delay-ms N]
 *
 * After --delay-ms (time for a daemon to label it) it writes 4 KiB pages one
 * by one (no THP) at --rate and writes "cross <CLOCK_MONOTONIC ns>" to the
 * stamp file the moment the line is passed:
 *   --cross-rss BYTES   its own RSS reaches BYTES (memshed's component usage:
 *                       the other components are static, so the page that
 *                       crosses is computed from its exact RSS at the start)
 *   --cross-avail KIB   MemAvailable, as /proc/meminfo says (what earlyoom and
 *                       nohang read), falls to KIB: read every 16 pages, so
 *                       the stamp is the real crossing, whatever else the
 *                       host does meanwhile
 * then grows --over MiB further and sleeps in pause() (with --cross-avail it
 * keeps MemAvailable at least half of that below the line, should the rest
 * of the host free memory). Exit 3: the line was passed before it started.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* MemAvailable in KiB: pread on a kept fd, cheap enough to call often. */
static long long mem_available_kib(void)
{
	static int fd = -1;
	char buf[4096], *p;
	ssize_t n;

	if (fd < 0 && (fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	p = strstr(buf, "MemAvailable:");
	return p ? atoll(p + 13) : -1;
}

/* Exact RSS (page-table walk): the kernel's rss counters, which VmRSS and
 * statm show, fold per-CPU deltas in batches and may lag by a few hundred KiB. */
static long long own_rss_bytes(void)
{
	char line[256];
	long long kib = -1;
	FILE *f = fopen("/proc/self/smaps_rollup", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "Rss:", 4)) {
			kib = atoll(line + 4);
			break;
		}
	if (f)
		fclose(f);
	return kib * 1024;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cross-rss", 1, 0, 'r' }, { "cross-avail", 1, 0, 'a' },
		{ "over", 1, 0, 'o' }, { "rate", 1, 0, 'R' }, { "stamp-file", 1, 0, 's' },
		{ "comm", 1, 0, 'c' }, { "delay-ms", 1, 0, 'd' }, { 0 }
	};
	long long cross_rss = -1, cross_avail = -1, need;
	double over_mib = 32, rate = 200;
	const char *stamp = NULL;
	long delay_ms = 0, ps = sysconf(_SC_PAGESIZE);
	int c, fd;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r': cross_rss = atoll(optarg); break;
		case 'a': cross_avail = atoll(optarg); break;
		case 'o': over_mib = atof(optarg); break;
		case 'R': rate = atof(optarg); break;
		case 's': stamp = optarg; break;
		case 'c': prctl(PR_SET_NAME, optarg); break;
		case 'd': delay_ms = atol(optarg); break;
		default: return 2;
		}
	}
	if ((cross_rss < 0) == (cross_avail < 0) || !stamp || rate <= 0) {
		fprintf(stderr, "usage: grower (--cross-rss B | --cross-avail KIB) --over MiB "
			"--rate MiB/s --stamp-file PATH [--comm N] [--delay-ms N]\n");
		return 2;
	}
	fd = open(stamp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		perror(stamp);
		return 1;
	}
	usleep(delay_ms * 1000);
	need = cross_rss >= 0 ? cross_rss - own_rss_bytes()
			      : (mem_available_kib() - cross_avail) * 1024;
	if (need <= 0) {
		fprintf(stderr, "grower: already past the line (%lld bytes)\n", need);
		return 3;
	}

	/* MemAvailable moves with the rest of the host: room for 512 MiB more. */
	size_t over = (size_t)(over_mib * 1048576) / ps, stop = SIZE_MAX;
	size_t npages = ((size_t)need + (cross_avail >= 0 ? 512 << 20 : 0)) / ps + over + 1;
	size_t cross_page = ((size_t)need + ps - 1) / ps - 1;	/* --cross-rss, 0-based */
	char *mem = mmap(NULL, npages * ps, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (mem == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	madvise(mem, npages * ps, MADV_NOHUGEPAGE);
	double ns_per_page = 1e9 * ps / (rate * 1048576);
	uint64_t t0 = now_ns();

	for (size_t i = 0; i < npages && i < stop; i++) {
		mem[i * ps] = 1;
		if (stop == SIZE_MAX &&
		    (cross_rss >= 0 ? i == cross_page
				    : (i & 15) == 15 && mem_available_kib() <= cross_avail)) {
			char buf[64];
			int n = snprintf(buf, sizeof(buf), "cross %llu\n",
					 (unsigned long long)now_ns());

			if (write(fd, buf, n) != n)
				perror("write");
			stop = i + 1 + over;
		}
		if ((i & 63) == 63) {	/* pace: sleep while ahead of the rate */
			uint64_t due = t0 + (uint64_t)((i + 1) * ns_per_page), t = now_ns();

			if (due > t + 20000)
				usleep((due - t) / 1000);
		}
	}
	close(fd);
	/* Stay past the line: if the rest of the host frees memory, take more. */
	for (size_t i = stop; cross_avail >= 0 && i < npages; usleep(5000))
		while (i < npages && mem_available_kib() > cross_avail - (long long)over * ps / 2048)
			for (size_t k = 0; k < 256 && i < npages; k++)
				mem[i++ * ps] = 1;
	for (;;)
		pause();
}
