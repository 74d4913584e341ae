// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * thrash: make real page-cache reclaim and PSI memory pressure.
 *
 *   thrash PATH MiB [--seconds N] [--comm NAME]
 *
 * Makes sure PATH holds MiB of real data (written and fsync()ed when it is
 * missing or shorter), then maps it and reads every page, pass after pass, for
 * N seconds (default: forever; 0: only prepare the file and exit). Run inside a
 * memory cgroup whose limit is below MiB, after dropping caches: every pass
 * evicts the pages the next pass needs, so the task stalls in memcg reclaim
 * and on refaults, and PSI "some" rises within seconds.
 *
 * Prepare the file outside the small cgroup (thrash PATH MiB --seconds 0):
 * writing it inside means dirty-page throttling, which is slow and beside
 * the point. On exit it prints "thrash: P passes, N page reads, S s" to stderr.
 *
 * Only libc; built by the Makefile rule build/tests/helpers/thrash.
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: thrash PATH MiB [--seconds N] [--comm NAME]\n"
		"  write PATH with MiB of data if needed (fsync), then mmap it and read every\n"
		"  page in a loop for N seconds (default forever; 0 = only prepare the file)\n");
}

static void die_usage(const char *msg, const char *arg)
{
	fprintf(stderr, "thrash: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
	usage(stderr);
	exit(2);
}

static void die_errno(const char *what, const char *arg)
{
	fprintf(stderr, "thrash: %s%s%s: %s\n", what, arg ? " " : "", arg ? arg : "",
		strerror(errno));
	exit(1);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void file_fill(int fd, const char *path, size_t have, size_t bytes)
{
	static char buf[1 << 20];
	size_t off = have;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)((i * 2654435761u) >> 13) | 1;
	if (lseek(fd, (off_t)off, SEEK_SET) < 0)
		die_errno("lseek", path);
	while (off < bytes) {
		size_t n = bytes - off < sizeof(buf) ? bytes - off : sizeof(buf);
		ssize_t w;

		/* Vary the data per MiB so nothing dedups or compresses to nothing. */
		buf[0] = (char)(off >> 20);
		w = write(fd, buf, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			die_errno("write", path);
		}
		off += (size_t)w;
	}
	if (fsync(fd) < 0)
		die_errno("fsync", path);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "comm", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *path, *comm = NULL;
	double seconds = -1, mib, start, deadline;
	size_t bytes, page = (size_t)sysconf(_SC_PAGESIZE);
	unsigned long passes = 0, reads = 0, sum = 0;
	struct stat st;
	char *end, *p;
	int fd, opt;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			errno = 0;
			seconds = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(seconds >= 0))
				die_usage("bad --seconds", optarg);
			break;
		case 'c':
			comm = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 2)
		die_usage("need PATH and MiB", NULL);
	path = argv[optind];
	errno = 0;
	mib = strtod(argv[optind + 1], &end);
	if (errno || end == argv[optind + 1] || *end || !(mib > 0) || mib > 1024.0 * 1024.0)
		die_usage("bad MiB", argv[optind + 1]);
	bytes = (size_t)(mib * 1024 * 1024);
	bytes = (bytes + page - 1) & ~(page - 1);

	if (comm && prctl(PR_SET_NAME, comm, 0, 0, 0) < 0)
		die_errno("prctl(PR_SET_NAME)", comm);

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		die_errno("open", path);
	if (fstat(fd, &st) < 0)
		die_errno("fstat", path);
	if ((size_t)st.st_size < bytes)
		file_fill(fd, path, (size_t)st.st_size, bytes);
	if (seconds == 0) {
		close(fd);
		return 0;
	}

	p = mmap(NULL, bytes, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die_errno("mmap", path);
	close(fd);

	start = now_s();
	deadline = seconds > 0 ? start + seconds : 0;
	for (;;) {
		for (size_t off = 0; off < bytes; off += page) {
			sum += (unsigned char)((volatile char *)p)[off];
			reads++;
			if ((reads & 1023) == 0 && deadline && now_s() >= deadline)
				goto out;
		}
		passes++;
		if (deadline && now_s() >= deadline)
			break;
	}
out:
	fprintf(stderr, "thrash: %lu passes, %lu page reads, %.1f s (sum %lu)\n",
		passes, reads, now_s() - start, sum & 0xff);
	return 0;
}
