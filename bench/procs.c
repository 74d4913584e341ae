// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * procs: process populations for the benchmarks.
 *
 *   procs now                         print CLOCK_MONOTONIC in ns
 *   procs sleepers N COMM READY_FILE  fork N children named COMM that sleep
 *                                     (they die with the parent); write
 *                                     READY_FILE when all are up; the parent
 *                                     keeps its own name and sleeps
 *   procs storm fork|rename COMM SECONDS WORKERS
 *                                     name itself COMM, wait for SIGUSR1, then
 *                                     WORKERS children, for SECONDS, as fast as
 *                                     they can: fork and reap a child that
 *                                     exits at once (fork), or rename
 *                                     themselves to COMM (rename); prints
 *                                     {"ops":N,"seconds":S}
 *   procs ballast MiB READY_FILE      hold MiB of unreclaimable memory (a
 *                                     memfd, fallocate()d: shmem, no swap
 *                                     here) until killed, which frees it
 *   procs ringfill PATH MiB           write an event ring of MiB at PATH
 *                                     with a lap and a half of notice
 *                                     records (an hour of events): the
 *                                     daemon recovers it by reading each
 */
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "eventring.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int sleepers(int n, const char *comm, const char *ready)
{
	for (int i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			prctl(PR_SET_NAME, comm);
			for (;;)
				pause();
		}
	}
	FILE *f = fopen(ready, "w");

	if (!f || fclose(f))
		return 1;
	for (;;)
		if (wait(NULL) < 0)
			pause();
}

static void on_usr1(int sig) { (void)sig; }

static int storm(const char *kind, const char *comm, double seconds, int workers)
{
	/* Counters shared with the workers. */
	uint64_t *ops = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			     -1, 0);
	bool fork_kind = !strcmp(kind, "fork");
	sigset_t set;
	int sig;

	if (ops == MAP_FAILED || workers > 512)
		return 1;
	prctl(PR_SET_NAME, comm);
	signal(SIGUSR1, on_usr1);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sigwait(&set, &sig);

	double t0 = now_s();

	for (int w = 0; w < workers; w++) {
		if (fork() == 0) {
			uint64_t n = 0;

			while (now_s() - t0 < seconds) {
				for (int k = 0; k < 64; k++) {
					if (!fork_kind) {
						n += prctl(PR_SET_NAME, comm) == 0;
						continue;
					}
					pid_t c = fork();

					if (c == 0)
						_exit(0);
					if (c > 0 && waitpid(c, NULL, 0) == c)
						n++;
				}
			}
			ops[w] = n;
			_exit(0);
		}
	}
	while (wait(NULL) > 0)
		;
	uint64_t total = 0;

	for (int w = 0; w < workers; w++)
		total += ops[w];
	printf("{\"ops\":%llu,\"seconds\":%.3f}\n", (unsigned long long)total, now_s() - t0);
	return 0;
}

static int ballast(double mib, const char *ready)
{
	int fd = memfd_create("ballast", MFD_CLOEXEC);
	FILE *f;

	if (fd < 0 || fallocate(fd, 0, 0, (off_t)(mib * 1048576))) {
		perror("ballast");
		return 1;
	}
	f = fopen(ready, "w");
	if (!f || fclose(f))
		return 1;
	for (;;)
		pause();
}

static int ringfill(const char *path, double mib)
{
	uint64_t size = (uint64_t)(mib * 1048576), written = 0;
	struct eventring *r;
	char rec[512];
	int err = eventring_open(path, size, &r, NULL), n;

	if (err) {
		fprintf(stderr, "ringfill %s: %s\n", path, strerror(-err));
		return 1;
	}
	for (uint64_t i = 0; written < size * 3 / 2; i++, written += n + 24) {
		n = snprintf(rec, sizeof(rec), "{\"ts\":\"2026-01-01T00:00:00.000Z\",\"ts_ns\":%llu,"
			     "\"type\":\"notice\",\"msg\":\"bench ringfill: record %llu of an hour "
			     "of events, as long as a candidates record with a few components\"}",
			     (unsigned long long)i, (unsigned long long)i);
		if ((err = eventring_append(r, rec, n))) {
			fprintf(stderr, "ringfill %s: %s\n", path, strerror(-err));
			break;
		}
	}
	eventring_close(r);
	return err ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "now")) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		printf("%lld%09ld\n", (long long)ts.tv_sec, ts.tv_nsec);
		return 0;
	}
	if (argc == 5 && !strcmp(argv[1], "sleepers"))
		return sleepers(atoi(argv[2]), argv[3], argv[4]);
	if (argc == 6 && !strcmp(argv[1], "storm"))
		return storm(argv[2], argv[3], atof(argv[4]), atoi(argv[5]));
	if (argc == 4 && !strcmp(argv[1], "ballast"))
		return ballast(atof(argv[2]), argv[3]);
	if (argc == 4 && !strcmp(argv[1], "ringfill"))
		return ringfill(argv[2], atof(argv[3]));
	fprintf(stderr, "usage: procs now | sleepers N COMM READY_FILE | "
		"storm fork|rename COMM SECONDS WORKERS | ballast MiB READY_FILE | "
		"ringfill PATH MiB\n");
	return 2;
}
