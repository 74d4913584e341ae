// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * micro: the paths memshed's kernel programs sit on, timed with
 * CLOCK_MONOTONIC (perf may be unavailable). One JSON line:
 *   {"fault_ns":..,"ctxsw_cross_ns":..,...,"recv_ns":..}
 *
 *   fault        mmap fresh anonymous memory (no THP), write one byte per
 *                4 KiB page, munmap: ns per page fault
 *   ctxsw_cross  two processes bounce a byte through two pipes, pinned to
 *                CPUs 0 and 1: ns per round trip (two switches each side)
 *   ctxsw_same   the same, both on CPU 0
 *   forkexec     fork + execve("/bin/true") + waitpid: us each
 *   tcp_rtt      a client and an echo server (two processes) bounce a
 *                1-byte message over a loopback TCP connection (127.0.0.1,
 *                TCP_NODELAY): ns per round trip (a receive on each side:
 *                the path activity.bpf.c's sock_recv_length program is on)
 *   recv         one process writes a byte to one end of a loopback TCP
 *                connection and reads it at the other: ns per write + read.
 *                No wake-up and no other process: what a program on the
 *                receive path adds shows in the wall clock, which it cannot
 *                in tcp_rtt's noise, and with no kernel.bpf_stats_enabled
 *                (whose own clock reads are most of what it reports here)
 *
 *   micro [--settle-ms N] [fault_ns|ctxsw_cross_ns|ctxsw_same_ns|forkexec_us|tcp_rtt_ns|recv_ns]
 *
 * --settle-ms: sleep first (a daemon labels and arms a process it sees
 * exec'd a moment later: bench/run runs a copy named like a component).
 *
 * Each figure is the best of BATCHES short batches: other work on the host
 * can only add time, so the minimum is the least disturbed estimate.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BATCHES		9
#define FAULT_MIB	64
#define ROUNDTRIPS	2000
#define FORKEXECS	100
#define TCP_ROUNDTRIPS	4000
#define RECVS		20000

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static double min(const double *v, int n)
{
	double m = v[0];

	for (int i = 1; i < n; i++)
		m = v[i] < m ? v[i] : m;
	return m;
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static double fault_ns(void)
{
	size_t ps = sysconf(_SC_PAGESIZE), len = (size_t)FAULT_MIB << 20;
	double t0 = now_ns();
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		exit(1);
	madvise(p, len, MADV_NOHUGEPAGE);
	for (size_t off = 0; off < len; off += ps)
		p[off] = 1;
	munmap(p, len);
	return (now_ns() - t0) / (double)(len / ps);
}

static double ctxsw_ns(int cpu_a, int cpu_b)
{
	int ab[2], ba[2];
	char c = 0;

	if (pipe(ab) || pipe(ba))
		exit(1);
	pid_t pid = fork();

	if (pid == 0) {
		close(ab[1]);
		close(ba[0]);
		pin(cpu_b);
		while (read(ab[0], &c, 1) == 1 && write(ba[1], &c, 1) == 1)
			;
		_exit(0);
	}
	close(ab[0]);
	close(ba[1]);
	pin(cpu_a);
	double t0 = now_ns();

	for (int i = 0; i < ROUNDTRIPS; i++)
		if (write(ab[1], &c, 1) != 1 || read(ba[0], &c, 1) != 1)
			exit(1);
	double t = (now_ns() - t0) / ROUNDTRIPS;

	close(ab[1]);
	close(ba[0]);
	waitpid(pid, NULL, 0);
	return t;
}

static double forkexec_us(void)
{
	char *argv[] = { "true", NULL }, *envp[] = { NULL };
	double t0 = now_ns();

	for (int i = 0; i < FORKEXECS; i++) {
		pid_t pid = fork();

		if (pid == 0) {
			execve("/bin/true", argv, envp);
			_exit(127);
		}
		waitpid(pid, NULL, 0);
	}
	return (now_ns() - t0) / FORKEXECS / 1000;
}

/* A loopback TCP connection's two ends, both in this process (TCP_NODELAY). */
static void tcp_pair(int *w, int *r)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int one = 1, l;

	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	*w = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || *w < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&a, &alen) ||
	    connect(*w, (struct sockaddr *)&a, sizeof(a)) || (*r = accept(l, NULL, NULL)) < 0)
		exit(1);
	setsockopt(*w, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	close(l);
}

static double tcp_rtt_ns(void)
{
	int s, e, one = 1;
	char c = 0;

	tcp_pair(&s, &e);
	pid_t pid = fork();

	if (pid == 0) {		/* echo server */
		close(s);
		setsockopt(e, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		while (read(e, &c, 1) == 1 && write(e, &c, 1) == 1)
			;
		_exit(0);
	}
	close(e);
	for (int i = 0; i < 100; i++)	/* warm up: slow start, caches */
		if (write(s, &c, 1) != 1 || read(s, &c, 1) != 1)
			exit(1);
	double t0 = now_ns();

	for (int i = 0; i < TCP_ROUNDTRIPS; i++)
		if (write(s, &c, 1) != 1 || read(s, &c, 1) != 1)
			exit(1);
	double t = (now_ns() - t0) / TCP_ROUNDTRIPS;

	close(s);
	waitpid(pid, NULL, 0);
	return t;
}

/* Loopback delivers in the writer's own softirq: the byte is queued at the
 * other end when write returns, so read never sleeps. */
static double recv_ns(void)
{
	int w, r;
	char c = 0;

	tcp_pair(&w, &r);
	for (int i = 0; i < 200; i++)	/* warm up */
		if (write(w, &c, 1) != 1 || read(r, &c, 1) != 1)
			exit(1);
	double t0 = now_ns();

	for (int i = 0; i < RECVS; i++)
		if (write(w, &c, 1) != 1 || read(r, &c, 1) != 1)
			exit(1);
	double t = (now_ns() - t0) / RECVS;

	close(w);
	close(r);
	return t;
}

static double ctxsw_cross_ns(void)
{
	return ctxsw_ns(0, sysconf(_SC_NPROCESSORS_ONLN) > 1 ? 1 : 0);
}

static double ctxsw_same_ns(void)
{
	return ctxsw_ns(0, 0);
}

static const struct bench {
	const char *name;
	double (*run)(void);
	long ops;		/* operations per batch */
} benches[] = {
	{ "fault_ns", fault_ns, FAULT_MIB * 256L },
	{ "ctxsw_cross_ns", ctxsw_cross_ns, ROUNDTRIPS },
	{ "ctxsw_same_ns", ctxsw_same_ns, ROUNDTRIPS },
	{ "forkexec_us", forkexec_us, FORKEXECS },
	{ "tcp_rtt_ns", tcp_rtt_ns, TCP_ROUNDTRIPS },
	{ "recv_ns", recv_ns, RECVS },
};
#define NR_BENCHES (sizeof(benches) / sizeof(benches[0]))

/* micro [NAME]: all of them interleaved batch by batch, or only NAME (then
 * "ops" says how many operations it timed). */
int main(int argc, char **argv)
{
	double v[NR_BENCHES][BATCHES];
	cpu_set_t all;
	size_t i;

	if (argc > 2 && !strcmp(argv[1], "--settle-ms")) {
		usleep(atol(argv[2]) * 1000);
		argc -= 2;
		argv += 2;
	}
	/* MICRO_BATCHES (1..BATCHES): fewer batches on a slow host. */
	int batches = getenv("MICRO_BATCHES") ? atoi(getenv("MICRO_BATCHES")) : BATCHES;

	batches = batches < 1 || batches > BATCHES ? BATCHES : batches;
	sched_getaffinity(0, sizeof(all), &all);
	for (int b = 0; b < batches; b++)
		for (i = 0; i < NR_BENCHES; i++) {
			if (argc > 1 && strcmp(argv[1], benches[i].name))
				continue;
			v[i][b] = benches[i].run();
			sched_setaffinity(0, sizeof(all), &all);
		}
	for (i = 0; i < NR_BENCHES; i++) {
		if (argc > 1 && strcmp(argv[1], benches[i].name))
			continue;
		printf("%s\"%s\":%.1f", argc > 1 || i == 0 ? "{" : ",", benches[i].name,
		       min(v[i], batches));
		if (argc > 1)
			printf(",\"ops\":%ld", benches[i].ops * batches);
	}
	printf("}\n");
	return 0;
}
