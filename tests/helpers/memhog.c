// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * memhog: hold a known amount of memory, for integration tests.
 *
 *   memhog [--anon MiB] [--file PATH[:MiB]] [--shmem MiB] [--grow MiB/s]
 *          [--step-ms N] [--ready-fd N | --ready-file PATH] [--comm NAME] [--busy]
 *
 * Order of work: name the process (--comm), map and read the file (file RSS),
 * map and write the memfd (RssShmem), then write every page of the anonymous
 * region (RssAnon) -- all at once, or at --grow MiB/s in steps of --step-ms.
 * When everything is resident it writes "ready\n" to the ready fd or file
 * and then sleeps in pause() (no CPU use at all), or with --busy spins on the
 * CPU so that it looks active. SIGTERM/SIGINT keep their default action.
 *
 * --file: if PATH is missing or shorter than MiB it is written with real,
 * non-zero data and fsync()ed first; without :MiB the whole file is mapped.
 * MiB values may be fractional (e.g. 0.5).
 *
 * Only libc; built by the Makefile rule build/tests/helpers/memhog.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024.0 * 1024.0)

static long page_size;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: memhog [--anon MiB] [--file PATH[:MiB]] [--shmem MiB] [--grow MiB/s]\n"
		"              [--step-ms N] [--ready-fd N | --ready-file PATH] [--comm NAME] [--busy]\n"
		"  --anon MiB         anonymous memory, every page written\n"
		"  --file PATH[:MiB]  map PATH (created with real data if missing/short) and read every page\n"
		"  --shmem MiB        memfd (shmem) mapping, every page written\n"
		"  --grow MiB/s       reach --anon gradually at this rate (needs --anon)\n"
		"  --step-ms N        growth step, default 100 ms\n"
		"  --ready-fd N       write \"ready\\n\" to fd N when resident, then close it\n"
		"  --ready-file PATH  write \"ready\\n\" to PATH (atomically, via rename) when resident\n"
		"  --comm NAME        prctl(PR_SET_NAME) first (up to 15 bytes)\n"
		"  --busy             spin on the CPU after ready (default: pause(), idle)\n");
}

static void die_usage(const char *msg, const char *arg)
{
	fprintf(stderr, "memhog: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
	usage(stderr);
	exit(2);
}

static void die_errno(const char *what, const char *arg)
{
	fprintf(stderr, "memhog: %s%s%s: %s\n", what, arg ? " " : "", arg ? arg : "",
		strerror(errno));
	exit(1);
}

/* Parse a non-negative MiB value (fractional allowed) into bytes. */
static int parse_mib(const char *s, size_t *ret_bytes)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0) || v > 1024.0 * 1024.0) /* <= 1 TiB */
		return -EINVAL;
	*ret_bytes = (size_t)(v * MIB);
	return 0;
}

static int parse_int(const char *s, long min, long max, long *ret)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Write a distinct non-zero byte into every page of [p, p+len). */
static void touch_pages(char *p, size_t len, size_t salt)
{
	for (size_t off = 0; off < len; off += (size_t)page_size)
		p[off] = (char)(((off / (size_t)page_size) + salt) % 251 + 1);
}

/* Read every page; the sum goes into a volatile so it is not optimised away. */
static volatile unsigned long read_sink;

static void read_pages(const char *p, size_t len)
{
	unsigned long sum = 0;

	for (size_t off = 0; off < len; off += (size_t)page_size)
		sum += (unsigned char)((const volatile char *)p)[off];
	read_sink += sum;
}

/* Make sure PATH holds at least `bytes` of real data (or learn its size when bytes == 0). */
static int file_prepare(const char *path, size_t *bytes)
{
	struct stat st;
	int fd;

	if (*bytes)
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	else
		fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && *bytes && (errno == EACCES || errno == EROFS))
		fd = open(path, O_RDONLY | O_CLOEXEC);	/* long enough already? */
	if (fd < 0)
		die_errno("open", path);
	if (fstat(fd, &st) < 0)
		die_errno("fstat", path);
	if (*bytes == 0) {
		*bytes = (size_t)st.st_size;
		if (*bytes == 0) {
			fprintf(stderr, "memhog: %s is empty; give PATH:MiB\n", path);
			exit(2);
		}
		return fd;
	}
	if ((size_t)st.st_size < *bytes) {
		char buf[1 << 16];
		size_t off = (size_t)st.st_size;

		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = (char)(i * 131 + 7) | 1;
		if (lseek(fd, (off_t)off, SEEK_SET) < 0)
			die_errno("lseek", path);
		while (off < *bytes) {
			size_t n = *bytes - off < sizeof(buf) ? *bytes - off : sizeof(buf);
			ssize_t w = write(fd, buf, n);

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
	return fd;
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

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "anon", required_argument, NULL, 'a' },
		{ "file", required_argument, NULL, 'f' },
		{ "shmem", required_argument, NULL, 's' },
		{ "grow", required_argument, NULL, 'g' },
		{ "step-ms", required_argument, NULL, 't' },
		{ "ready-fd", required_argument, NULL, 'r' },
		{ "ready-file", required_argument, NULL, 'R' },
		{ "comm", required_argument, NULL, 'c' },
		{ "busy", no_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	size_t anon_bytes = 0, shmem_bytes = 0, file_bytes = 0;
	const char *file_path = NULL, *ready_file = NULL, *comm = NULL;
	char *file_arg = NULL;
	double grow_mib_s = 0;
	long step_ms = 100, ready_fd = -1;
	int busy = 0, opt;

	page_size = sysconf(_SC_PAGESIZE);

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'a':
			if (parse_mib(optarg, &anon_bytes))
				die_usage("bad --anon MiB", optarg);
			break;
		case 'f': {
			char *colon;

			file_arg = strdup(optarg);
			if (!file_arg)
				die_errno("strdup", NULL);
			colon = strrchr(file_arg, ':');
			if (colon) {
				*colon = '\0';
				if (parse_mib(colon + 1, &file_bytes) || file_bytes == 0)
					die_usage("bad --file PATH:MiB", optarg);
			}
			file_path = file_arg;
			if (!*file_path)
				die_usage("bad --file PATH:MiB", optarg);
			break;
		}
		case 's':
			if (parse_mib(optarg, &shmem_bytes))
				die_usage("bad --shmem MiB", optarg);
			break;
		case 'g': {
			char *end;

			errno = 0;
			grow_mib_s = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(grow_mib_s > 0))
				die_usage("bad --grow MiB/s", optarg);
			break;
		}
		case 't':
			if (parse_int(optarg, 1, 60000, &step_ms))
				die_usage("bad --step-ms", optarg);
			break;
		case 'r':
			if (parse_int(optarg, 0, INT_MAX, &ready_fd))
				die_usage("bad --ready-fd", optarg);
			break;
		case 'R':
			ready_file = optarg;
			break;
		case 'c':
			comm = optarg;
			break;
		case 'b':
			busy = 1;
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
	if (grow_mib_s > 0 && anon_bytes == 0)
		die_usage("--grow needs --anon (the target)", NULL);
	if (ready_fd >= 0 && fcntl((int)ready_fd, F_GETFD) < 0)
		die_usage("--ready-fd is not an open fd", NULL);

	if (comm && prctl(PR_SET_NAME, comm, 0, 0, 0) < 0)
		die_errno("prctl(PR_SET_NAME)", comm);

	if (file_path) {
		int fd = file_prepare(file_path, &file_bytes);
		char *p = mmap(NULL, file_bytes, PROT_READ, MAP_SHARED, fd, 0);

		if (p == MAP_FAILED)
			die_errno("mmap", file_path);
		close(fd);
		read_pages(p, file_bytes);
	}

	if (shmem_bytes) {
		int fd = memfd_create("memhog-shmem", MFD_CLOEXEC);
		char *p;

		if (fd < 0)
			die_errno("memfd_create", NULL);
		if (ftruncate(fd, (off_t)shmem_bytes) < 0)
			die_errno("ftruncate memfd", NULL);
		p = mmap(NULL, shmem_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			die_errno("mmap memfd", NULL);
		close(fd);
		touch_pages(p, shmem_bytes, 17);
	}

	if (anon_bytes) {
		char *p = mmap(NULL, anon_bytes, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

		if (p == MAP_FAILED)
			die_errno("mmap anon", NULL);
		if (grow_mib_s > 0) {
			/* Absolute-time steps so the rate holds however long touching takes. */
			size_t done = 0;
			uint64_t start = now_ns();
			struct timespec next;

			clock_gettime(CLOCK_MONOTONIC, &next);
			while (done < anon_bytes) {
				double secs = (double)(now_ns() - start) / 1e9;
				size_t want = (size_t)(secs * grow_mib_s * MIB);

				if (want > anon_bytes)
					want = anon_bytes;
				want = (want + (size_t)page_size - 1) & ~((size_t)page_size - 1);
				if (want > anon_bytes)
					want = anon_bytes;
				if (want > done) {
					touch_pages(p + done, want - done, done / (size_t)page_size);
					done = want;
				}
				if (done >= anon_bytes)
					break;
				next.tv_nsec += step_ms * 1000000L;
				while (next.tv_nsec >= 1000000000L) {
					next.tv_nsec -= 1000000000L;
					next.tv_sec++;
				}
				while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
					;
			}
		} else {
			touch_pages(p, anon_bytes, 0);
		}
	}

	signal_ready(ready_fd, ready_file);

	if (busy) {
		volatile unsigned long spin = 0;

		for (;;)
			spin++;
	}
	for (;;)
		pause();
}
