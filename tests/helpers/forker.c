// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * forker: a chain of sleeping descendants, for label-inheritance tests.
 *
 *   forker [--comm NAME] [--delay-ms N] [--wait-usr1] DEPTH
 *
 * The top process forks a child, that child forks the next, and so on, DEPTH
 * processes deep (child, grandchild, ...). Each descendant writes its own pid
 * to stdout, one per line (a single write, so the lines arrive in depth order
 * and whole) before it forks the next, then all of them sleep forever. Every
 * process reaps its own child when it dies (no zombies left behind), and keeps
 * sleeping. SIGPIPE is ignored so a closed stdout does not kill the chain.
 *
 *   --comm NAME    prctl(PR_SET_NAME) in the top before forking (inherited)
 *   --delay-ms N   wait N ms before each fork (gives a labeller time to act)
 *   --wait-usr1    the top forks only after it receives SIGUSR1 (so a test can
 *                  label the top first, then start the chain)
 *
 * Only libc; built by the Makefile rule build/tests/helpers/forker.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: forker [--comm NAME] [--delay-ms N] [--wait-usr1] DEPTH\n"
		"  fork a chain of DEPTH descendants (each forks the next) that sleep forever;\n"
		"  each prints its pid on stdout as it starts\n");
}

static void die_usage(const char *msg, const char *arg)
{
	fprintf(stderr, "forker: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
	usage(stderr);
	exit(2);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Sleep forever, reaping our child if it dies. */
static void __attribute__((noreturn)) sleep_forever(void)
{
	for (;;) {
		if (wait(NULL) < 0 && errno == ECHILD)
			pause();
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "comm", required_argument, NULL, 'c' },
		{ "delay-ms", required_argument, NULL, 'd' },
		{ "wait-usr1", no_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *comm = NULL;
	long depth, delay_ms = 0;
	int wait_usr1 = 0, opt;
	char *end;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			comm = optarg;
			break;
		case 'd':
			errno = 0;
			delay_ms = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || delay_ms < 0 || delay_ms > 600000)
				die_usage("bad --delay-ms", optarg);
			break;
		case 'w':
			wait_usr1 = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 1)
		die_usage("need DEPTH", NULL);
	errno = 0;
	depth = strtol(argv[optind], &end, 10);
	if (errno || end == argv[optind] || *end || depth < 1 || depth > 1000)
		die_usage("DEPTH must be 1..1000", argv[optind]);

	signal(SIGPIPE, SIG_IGN);
	if (comm && prctl(PR_SET_NAME, comm, 0, 0, 0) < 0) {
		fprintf(stderr, "forker: prctl(PR_SET_NAME): %s\n", strerror(errno));
		return 1;
	}
	if (wait_usr1) {
		sigset_t set;
		int sig;

		sigemptyset(&set);
		sigaddset(&set, SIGUSR1);
		sigprocmask(SIG_BLOCK, &set, NULL);
		while (sigwait(&set, &sig) != 0)
			;
		sigprocmask(SIG_UNBLOCK, &set, NULL);
	}

	for (long level = 1; level <= depth; level++) {
		pid_t pid;

		if (delay_ms)
			sleep_ms(delay_ms);
		pid = fork();
		if (pid < 0) {
			fprintf(stderr, "forker: fork at depth %ld: %s\n", level, strerror(errno));
			break;	/* the ones already started keep sleeping */
		}
		if (pid > 0)
			break;	/* parent: done forking, go to sleep */
		/* child at depth `level`: announce, then fork the next one */
		char line[32];
		int n = snprintf(line, sizeof(line), "%d\n", (int)getpid());

		if (write(STDOUT_FILENO, line, (size_t)n) < 0) {
			/* stdout closed or full: keep going, the chain is what matters */
		}
	}
	sleep_forever();
}
