// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * sigwatch: a component that records when signals reach it.
 *
 *   sigwatch [--ignore-term] [--stamp-file PATH] [--anon MiB] [--comm NAME]
 *            [--on-usr1-trim] [--ready-fd N | --ready-file PATH]
 *
 * Blocks every catchable signal first, touches MiB of anonymous memory, says
 * "ready\n" (fd or file), then waits in sigwaitinfo() in the main thread. The
 * CLOCK_MONOTONIC stamp is the first thing taken after the wake-up, so it is
 * as close to delivery as user space can see (the clock bpf_ktime_get_ns()
 * uses, so it compares with kernel-side stamps). Each signal appends one line
 * to the stamp file (O_APPEND, then fsync; stdout when there is no file):
 *
 *   term <ns>        SIGTERM: then exit 0; with --ignore-term also
 *   ignored          ... and keep running (also said on stderr)
 *   usr1 <ns>        SIGUSR1; with --on-usr1-trim the memory is then dropped
 *   trimmed <bytes>  ... (madvise MADV_DONTNEED) and this line follows
 *   int <ns>         SIGINT: then exit 0
 *   NAME <ns>        any other signal (hup, usr2, cont, rt34, ...): keep running
 *
 * The sender's pid goes to stderr. SIGKILL and SIGSTOP cannot be watched; the
 * fault signals (SEGV, BUS, FPE, ILL, TRAP, SYS, ABRT) keep their defaults.
 *
 * Only libc; built by the Makefile rule build/tests/helpers/sigwatch.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sigwatch [--ignore-term] [--stamp-file PATH] [--anon MiB] [--comm NAME]\n"
		"                [--on-usr1-trim] [--ready-fd N | --ready-file PATH]\n"
		"  appends \"term <ns>\", \"usr1 <ns>\", ... (CLOCK_MONOTONIC) per signal received;\n"
		"  exits 0 on SIGTERM unless --ignore-term\n");
}

static void die_usage(const char *msg, const char *arg)
{
	fprintf(stderr, "sigwatch: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
	usage(stderr);
	exit(2);
}

static void die_errno(const char *what, const char *arg)
{
	fprintf(stderr, "sigwatch: %s%s%s: %s\n", what, arg ? " " : "", arg ? arg : "",
		strerror(errno));
	exit(1);
}

static int stamp_fd = STDOUT_FILENO;

/* One write per line so lines never interleave; fsync fails harmlessly on a pipe. */
static void stamp_line(const char *line, size_t len)
{
	while (write(stamp_fd, line, len) < 0 && errno == EINTR)
		;
	fsync(stamp_fd);
}

static void signal_ready(long ready_fd, const char *ready_file)
{
	static const char msg[] = "ready\n";

	if (ready_fd >= 0) {
		if (write((int)ready_fd, msg, sizeof(msg) - 1) < 0)
			die_errno("write ready fd", NULL);
		close((int)ready_fd);
	}
	if (ready_file) {
		char tmp[PATH_MAX];
		int fd;

		if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", ready_file, (int)getpid()) >=
		    (int)sizeof(tmp))
			die_usage("ready file path too long", ready_file);
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			die_errno("open", tmp);
		if (write(fd, msg, sizeof(msg) - 1) < 0)
			die_errno("write", tmp);
		close(fd);
		if (rename(tmp, ready_file) < 0)
			die_errno("rename", ready_file);
	}
}

static void signal_name(int sig, char *buf, size_t len)
{
	const char *abbrev = sig < SIGRTMIN ? sigabbrev_np(sig) : NULL;

	if (!abbrev) {
		snprintf(buf, len, "rt%d", sig);
		return;
	}
	snprintf(buf, len, "%s", abbrev);
	for (char *c = buf; *c; c++)
		*c = (char)tolower((unsigned char)*c);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ignore-term", no_argument, NULL, 'i' },
		{ "stamp-file", required_argument, NULL, 'f' },
		{ "anon", required_argument, NULL, 'a' },
		{ "comm", required_argument, NULL, 'c' },
		{ "on-usr1-trim", no_argument, NULL, 't' },
		{ "ready-fd", required_argument, NULL, 'r' },
		{ "ready-file", required_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static const int keep_default[] = {
		SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT,
	};
	const char *stamp_file = NULL, *comm = NULL, *ready_file = NULL;
	int ignore_term = 0, usr1_trim = 0, opt;
	size_t anon_bytes = 0, page = (size_t)sysconf(_SC_PAGESIZE);
	long ready_fd = -1;
	char *anon = NULL, *end;
	sigset_t set;

	/* Block first: a signal sent while we start must be queued, not fatal. */
	sigfillset(&set);
	for (size_t i = 0; i < sizeof(keep_default) / sizeof(keep_default[0]); i++)
		sigdelset(&set, keep_default[i]);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		die_errno("sigprocmask", NULL);

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'i':
			ignore_term = 1;
			break;
		case 'f':
			stamp_file = optarg;
			break;
		case 'a': {
			double mib;

			errno = 0;
			mib = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(mib >= 0) || mib > 1024.0 * 1024.0)
				die_usage("bad --anon MiB", optarg);
			anon_bytes = (size_t)(mib * 1024 * 1024);
			break;
		}
		case 'c':
			comm = optarg;
			break;
		case 't':
			usr1_trim = 1;
			break;
		case 'r':
			errno = 0;
			ready_fd = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || ready_fd < 0 || ready_fd > INT_MAX ||
			    fcntl((int)ready_fd, F_GETFD) < 0)
				die_usage("bad --ready-fd (not an open fd)", optarg);
			break;
		case 'R':
			ready_file = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc)
		die_usage("unexpected argument", argv[optind]);
	if (ready_fd >= 0 && ready_file)
		die_usage("--ready-fd and --ready-file are exclusive", NULL);

	if (comm && prctl(PR_SET_NAME, comm, 0, 0, 0) < 0)
		die_errno("prctl(PR_SET_NAME)", comm);
	if (stamp_file) {
		stamp_fd = open(stamp_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (stamp_fd < 0)
			die_errno("open", stamp_file);
	}
	if (anon_bytes) {
		anon = mmap(NULL, anon_bytes, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (anon == MAP_FAILED)
			die_errno("mmap anon", NULL);
		for (size_t off = 0; off < anon_bytes; off += page)
			anon[off] = (char)((off / page) % 251 + 1);
	}

	signal_ready(ready_fd, ready_file);

	for (;;) {
		struct timespec ts;
		siginfo_t si;
		char line[96], name[16];
		unsigned long long ns;
		int sig, n;

		sig = sigwaitinfo(&set, &si);
		clock_gettime(CLOCK_MONOTONIC, &ts);	/* first thing after wake-up */
		if (sig < 0) {
			if (errno == EINTR)
				continue;
			die_errno("sigwaitinfo", NULL);
		}
		ns = (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;

		signal_name(sig, name, sizeof(name));
		n = snprintf(line, sizeof(line), "%s %llu\n", name, ns);
		stamp_line(line, (size_t)n);
		fprintf(stderr, "sigwatch[%d]: %s (%s) from pid %d uid %d\n", (int)getpid(),
			name, strsignal(sig), (int)si.si_pid, (int)si.si_uid);

		if (sig == SIGTERM) {
			if (!ignore_term)
				return 0;
			stamp_line("ignored\n", 8);
			fprintf(stderr, "sigwatch[%d]: SIGTERM ignored\n", (int)getpid());
		} else if (sig == SIGINT) {
			return 0;
		} else if (sig == SIGUSR1 && usr1_trim) {
			size_t freed = anon_bytes;

			if (anon && madvise(anon, anon_bytes, MADV_DONTNEED) < 0)
				die_errno("madvise(MADV_DONTNEED)", NULL);
			anon_bytes = 0;
			n = snprintf(line, sizeof(line), "trimmed %zu\n", freed);
			stamp_line(line, (size_t)n);
		}
	}
}
