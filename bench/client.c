// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * client: a client of redis and memcached for bench/run's gentle section
 * (C: a Python client's start-up, up to a second on a loaded host, would
 * be most of each repetition's wall time).
 *
 *   client fill PORT N SIZE     memcached: set k0..k(N-1) to SIZE bytes
 *                               each, then wait until the last is stored
 *   client once PORT KIND       connect, send one request, read the whole
 *                               answer: prints the ns from before
 *                               connect() to the answer
 *   client poll PORT KIND SECONDS READY_FILE
 *                               what a supervisor's health check does
 *                               after a restart: write READY_FILE, then
 *                               try every 0.5 ms (a new connection each
 *                               time) until the service answers, up to
 *                               SECONDS: prints CLOCK_MONOTONIC ns then
 *
 * KIND: redis (GET key:1: any reply but an error, such as -LOADING while
 * an RDB loads), redis-data (the value DEBUG POPULATE gave key:1),
 * memcached (get k1: any complete reply), memcached-data (k1's value).
 * Exit 1 without a (right) answer, 2 on bad arguments.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ANSWER_MAX	(64 << 10)

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static int dial(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 10 };
	int one = 1, s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		return -1;
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(s, (struct sockaddr *)&a, sizeof(a))) {
		close(s);
		return -1;
	}
	return s;
}

static bool send_all(int s, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(s, p, n);

		if (w <= 0)
			return false;
		p += w;
		n -= w;
	}
	return true;
}

/* -1 while the answer is incomplete, else 1 if it is the one wanted, 0 if not. */
static int judge(const char *kind, const char *buf, size_t n)
{
	bool data = strstr(kind, "-data") != NULL;
	const char *eol = memmem(buf, n, "\r\n", 2);

	if (!strncmp(kind, "redis", 5)) {
		long len;

		if (!eol)
			return -1;
		if (buf[0] == '-')
			return 0;	/* an error: -LOADING and the like */
		if (buf[0] != '$' || (len = atol(buf + 1)) < 0)
			return !data;	/* nil: an answer, not the data */
		if (n < (size_t)(eol - buf) + 2 + len + 2)
			return -1;
		return !data || !strncmp(eol + 2, "value:1", 7);
	}
	if (n < 5 || memcmp(buf + n - 5, "END\r\n", 5))
		return -1;
	return !data || memmem(buf, n, "VALUE k1 ", 9) != NULL;
}

/* One request on a new connection: 1 right answer, 0 wrong, -1 no connection. */
static int ask(int port, const char *kind)
{
	static char buf[ANSWER_MAX];
	const char *req = !strncmp(kind, "redis", 5) ? "GET key:1\r\n" : "get k1\r\n";
	int s = dial(port), r = 0;
	size_t n = 0;

	if (s < 0)
		return -1;
	if (send_all(s, req, strlen(req))) {
		for (;;) {
			ssize_t got = read(s, buf + n, sizeof(buf) - 1 - n);

			if (got <= 0)
				break;
			n += got;
			r = judge(kind, buf, n);
			if (r >= 0 || n == sizeof(buf) - 1)
				break;
		}
	}
	close(s);
	return r > 0;
}

static int fill(int port, long nr, long size)
{
	char *v = malloc(size + 2), head[64], buf[4096];
	int s = dial(port);
	size_t n = 0;

	if (!v || s < 0)
		return 1;
	memset(v, 'x', size);
	memcpy(v + size, "\r\n", 2);
	for (long i = 0; i < nr; i++) {
		int h = snprintf(head, sizeof(head), "set k%ld 0 0 %ld noreply\r\n", i, size);

		if (!send_all(s, head, h) || !send_all(s, v, size + 2))
			return 1;
	}
	n = snprintf(head, sizeof(head), "get k%ld\r\n", nr - 1);
	if (!send_all(s, head, n))
		return 1;
	n = 0;
	for (;;) {
		ssize_t got = read(s, buf + n, sizeof(buf) - n);

		if (got <= 0)
			return 1;
		n += got;
		if (n >= 5 && !memcmp(buf + n - 5, "END\r\n", 5))
			return !memmem(buf, n, "VALUE", 5);
		if (n == sizeof(buf)) {	/* keep the tail: the terminator may straddle */
			memmove(buf, buf + n - 8, 8);
			n = 8;
		}
	}
}

static int poll_answer(int port, const char *kind, double seconds, const char *ready)
{
	uint64_t end = now_ns() + (uint64_t)(seconds * 1e9);
	FILE *f = fopen(ready, "w");

	if (!f || fputs("ready\n", f) < 0 || fclose(f))
		return 1;
	while (now_ns() < end) {
		if (ask(port, kind) == 1) {
			printf("%llu\n", (unsigned long long)now_ns());
			return 0;
		}
		usleep(500);
	}
	return 1;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "fill"))
		return fill(atoi(argv[2]), atol(argv[3]), atol(argv[4]));
	if (argc == 4 && !strcmp(argv[1], "once")) {
		uint64_t t0 = now_ns();
		int r = ask(atoi(argv[2]), argv[3]);

		printf("%llu\n", (unsigned long long)(now_ns() - t0));
		return r == 1 ? 0 : 1;
	}
	if (argc == 6 && !strcmp(argv[1], "poll"))
		return poll_answer(atoi(argv[2]), argv[3], atof(argv[4]), argv[5]);
	fprintf(stderr, "usage: client fill PORT N SIZE | once PORT KIND | "
		"poll PORT KIND SECONDS READY_FILE\n");
	return 2;
}
