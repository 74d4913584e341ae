// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The kernel programs, for real: load them through the loader, label real
 * processes through pidfds, make real memory pressure in a real memory
 * cgroup, and check maps and ring-buffer records.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "harness.h"
#include "loader.h"
#include "memshed.skel.h"
#include "output.h"

#define MiB (1024ull * 1024)
#define MAX_SEEN 4096

/* ---- what the ring buffer delivered ---- */

static struct memshed_event seen[MAX_SEEN];
static int nr_seen;

static int collect(void *ctx, const struct memshed_event *e)
{
	if (nr_seen < MAX_SEEN)
		seen[nr_seen++] = *e;
	return 0;
}

static int count_events(uint32_t type, pid_t tgid)
{
	int n = 0;

	for (int i = 0; i < nr_seen; i++)
		if (seen[i].hdr.type == type && (!tgid || (pid_t)seen[i].hdr.tgid == tgid))
			n++;
	return n;
}

static int start(struct loader *ld, enum rss_mode mode, uint32_t ringbuf)
{
	struct loader_opts o = {
		.ringbuf_size = ringbuf ? ringbuf : 1 << 20,
		.stall_threshold_ns = 1,	/* every stall is an event here */
		.rss_mode = mode,
	};
	enum loader_error why;

	nr_seen = 0;
	return loader_start(ld, &o, collect, NULL, &why);
}

static void drain(struct loader *ld, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		loader_poll_events(ld);
		usleep(10000);
	}
	loader_poll_events(ld);
}

static int label(struct loader *ld, pid_t pid, uint32_t comp)
{
	int fd = syscall(SYS_pidfd_open, pid, 0), err;

	if (fd < 0)
		return -errno;
	err = loader_label(ld, fd, pid, comp);
	close(fd);
	return err;
}

/* The label the kernel holds for pid (0: none). */
static uint32_t kernel_label(struct loader *ld, pid_t pid)
{
	struct memshed_task_label l = {};
	int fd = syscall(SYS_pidfd_open, pid, 0);

	if (fd < 0)
		return 0;
	if (bpf_map_lookup_elem(bpf_map__fd(ld->skel->maps.task_labels), &fd, &l))
		l.comp_id = 0;
	close(fd);
	return l.comp_id;
}

/* ---- processes ---- */

/* A child that waits for a byte on its pipe, then runs fn. */
struct child {
	pid_t pid;
	int go;		/* write end: one byte starts fn */
};

static struct child spawn(void (*fn)(void *), void *arg)
{
	struct child c = { .pid = -1, .go = -1 };
	int p[2];

	if (pipe(p))
		return c;
	c.pid = fork();
	if (c.pid == 0) {
		char b;

		close(p[1]);
		if (read(p[0], &b, 1) == 1)
			fn(arg);
		_exit(0);
	}
	close(p[0]);
	c.go = p[1];
	return c;
}

static void child_go(struct child *c)
{
	if (write(c->go, "g", 1) != 1)
		perror("child_go");
}

static void child_kill(struct child *c)
{
	if (c->pid > 0) {
		kill(c->pid, SIGKILL);
		waitpid(c->pid, NULL, 0);
	}
	if (c->go >= 0)
		close(c->go);
	c->pid = -1;
	c->go = -1;
}

static long vmrss_kib(pid_t pid)
{
	char path[64], buf[4096], *p;
	int fd, n;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	p = strstr(buf, "VmRSS:");
	return p ? strtol(p + 6, NULL, 10) : -1;
}

static void touch_and_wait(void *arg)
{
	size_t bytes = *(size_t *)arg;
	char *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED)
		_exit(1);
	for (size_t i = 0; i < bytes; i += 4096)
		m[i] = 1;
	for (;;)
		pause();
}

/* ---- cgroups ---- */

static char memcg[256];

static int write_str(const char *dir, const char *file, const char *val)
{
	char path[512];
	int fd, ok;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	ok = write(fd, val, strlen(val)) == (ssize_t)strlen(val);
	close(fd);
	return ok ? 0 : -errno;
}

static int memcg_create(uint64_t limit)
{
	char buf[32];

	snprintf(memcg, sizeof(memcg), "/sys/fs/cgroup/memory/memshed-ktest-%d", getpid());
	if (mkdir(memcg, 0755) && errno != EEXIST)
		return -errno;
	write_str(memcg, "memory.swappiness", "0");
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)limit);
	return write_str(memcg, "memory.limit_in_bytes", buf);
}

static void memcg_enter(pid_t pid)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%d", pid);
	write_str(memcg, "cgroup.procs", buf);
}

static void memcg_remove(void)
{
	if (!memcg[0])
		return;
	for (int i = 0; i < 50 && rmdir(memcg) && errno == EBUSY; i++)
		usleep(100000);
	memcg[0] = '\0';
}

static void cleanup(void)
{
	memcg_remove();
}

/* ---- tests ---- */

static struct loader ld;

static void forker(void *arg)
{
	int depth = *(int *)arg;

	/* A chain: child, grandchild, ... each waiting. */
	for (int i = 0; i < depth; i++) {
		pid_t p = fork();

		if (p > 0) {
			for (;;)
				pause();
		}
	}
	for (;;)
		pause();
}

static pid_t child_of(pid_t parent)
{
	char path[96], buf[256];
	int fd, n;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", parent, parent);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return atoi(buf);
}

static void test_fork_inherits_label(void)
{
	int depth = 2;
	struct child c = spawn(forker, &depth);
	pid_t kid = 0, grandkid = 0;

	CHECK(c.pid > 0, "fork");
	CHECK(label(&ld, c.pid, 7) == 0, "label through a pidfd");
	child_go(&c);
	for (int i = 0; i < 200 && !grandkid; i++) {
		usleep(10000);
		kid = child_of(c.pid);
		grandkid = kid ? child_of(kid) : 0;
	}
	CHECK(grandkid > 0, "the grandchild started");
	CHECK(kernel_label(&ld, kid) == 7, "child label %u", kernel_label(&ld, kid));
	CHECK(kernel_label(&ld, grandkid) == 7, "grandchild label %u", kernel_label(&ld, grandkid));
	drain(&ld, 50);
	CHECK(count_events(MEMSHED_EV_FORK, kid) == 1, "a fork event for the child");
	CHECK(count_events(MEMSHED_EV_FORK, grandkid) == 1, "a fork event for the grandchild");
	child_kill(&c);
	if (kid)
		kill(kid, SIGKILL);
	if (grandkid)
		kill(grandkid, SIGKILL);
}

/* In-kernel RSS of a labelled process vs VmRSS; the component sum. */
static void check_rss(enum rss_mode mode)
{
	size_t a = 96 * MiB, b = 32 * MiB;
	struct child ca = spawn(touch_and_wait, &a), cb = spawn(touch_and_wait, &b);
	struct memshed_proc pa = {}, pb = {};
	struct memshed_comp comp = {};
	long ra, rb;

	CHECK(label(&ld, ca.pid, 3) == 0 && label(&ld, cb.pid, 3) == 0, "label");
	child_go(&ca);
	child_go(&cb);
	for (int i = 0; i < 300; i++) {		/* until both have touched it all */
		usleep(10000);
		if (vmrss_kib(ca.pid) * 1024 >= (long)a && vmrss_kib(cb.pid) * 1024 >= (long)b)
			break;
	}
	usleep(50000);
	if (mode == RSS_SAMPLE)
		loader_sample(&ld);
	ra = vmrss_kib(ca.pid);
	rb = vmrss_kib(cb.pid);
	CHECK(loader_read_proc(&ld, ca.pid, &pa) == 0 && loader_read_proc(&ld, cb.pid, &pb) == 0,
	      "procs entries");
	CHECK(loader_read_comp(&ld, 3, &comp) == 0, "comps entry");
	printf("# %s: a kernel %llu KiB VmRSS %ld KiB; b kernel %llu KiB VmRSS %ld KiB; sum %llu KiB\n",
	       mode == RSS_SAMPLE ? "sample" : "tracepoint",
	       (unsigned long long)pa.rss_total / 1024, ra, (unsigned long long)pb.rss_total / 1024,
	       rb, (unsigned long long)comp.rss_total / 1024);
	CHECK(llabs((long long)pa.rss_total / 1024 - ra) <= ra / 100, "a within 1%% of VmRSS");
	CHECK(llabs((long long)pb.rss_total / 1024 - rb) <= rb / 100, "b within 1%% of VmRSS");
	CHECK(pa.rss[MEMSHED_RSS_ANON] >= a, "anon counted apart");
	CHECK(comp.rss_total == pa.rss_total + pb.rss_total, "component sum %llu != %llu + %llu",
	      (unsigned long long)comp.rss_total, (unsigned long long)pa.rss_total,
	      (unsigned long long)pb.rss_total);
	child_kill(&ca);
	child_kill(&cb);
	usleep(20000);
	loader_read_comp(&ld, 3, &comp);
	CHECK(comp.rss_total == 0, "the sum drops to 0 when they exit (%llu)",
	      (unsigned long long)comp.rss_total);
}

static void test_rss_tracepoint(void)
{
	check_rss(RSS_TRACEPOINT);
}

static void test_rss_sample(void)
{
	struct loader sampled;
	struct loader keep = ld;

	CHECK(start(&sampled, RSS_SAMPLE, 0) == 0, "load in sample mode");
	ld = sampled;
	check_rss(RSS_SAMPLE);
	loader_stop(&ld);
	ld = keep;
}

static void test_exit_events(void)
{
	size_t small = MiB;
	struct child lab = spawn(touch_and_wait, &small), unl = spawn(touch_and_wait, &small);
	pid_t lp = lab.pid, up = unl.pid;

	CHECK(label(&ld, lp, 5) == 0, "label");
	child_go(&lab);
	child_go(&unl);
	usleep(50000);
	nr_seen = 0;
	child_kill(&lab);
	child_kill(&unl);
	drain(&ld, 100);
	CHECK(count_events(MEMSHED_EV_EXIT, lp) == 1, "one exit event for the labelled process");
	CHECK(count_events(MEMSHED_EV_EXIT, up) == 0, "none for the unlabelled one");
	CHECK(loader_read_proc(&ld, lp, &(struct memshed_proc){}) == -ENOENT, "its record is gone");
}

static void thrash(void *arg)
{
	const char *path = arg;
	int fd = open(path, O_RDONLY);
	struct stat st;
	volatile char sum = 0;
	char *m;

	if (fd < 0 || fstat(fd, &st))
		_exit(1);
	m = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		_exit(1);
	for (;;)
		for (off_t i = 0; i < st.st_size; i += 4096)
			sum += m[i];
}

static int make_file(const char *path, size_t bytes)
{
	char buf[1 << 16];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0)
		return -errno;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = i * 31;
	for (size_t done = 0; done < bytes; done += sizeof(buf))
		if (write(fd, buf, sizeof(buf)) != sizeof(buf))
			break;
	fsync(fd);
	close(fd);
	return 0;
}

static void test_reclaim_stalls(void)
{
	char path[] = "/var/tmp/memshed-ktest-XXXXXX";
	int fd = mkstemp(path);
	struct child c;
	int stalls = 0;

	CHECK(fd >= 0, "temp file");
	close(fd);
	CHECK(make_file(path, 128 * MiB) == 0, "a 128 MiB file");
	CHECK(memcg_create(64 * MiB) == 0, "a 64 MiB v1 memcg");
	write_str("/proc/sys/vm", "drop_caches", "3");
	c = spawn(thrash, path);
	memcg_enter(c.pid);
	nr_seen = 0;
	child_go(&c);
	for (int i = 0; i < 100 && stalls == 0; i++) {
		drain(&ld, 100);
		stalls = count_events(MEMSHED_EV_MEMCG_RECLAIM, c.pid) +
			 count_events(MEMSHED_EV_RECLAIM_STALL, c.pid);
	}
	printf("# %d reclaim stall events for pid %d in %d events\n", stalls, c.pid, nr_seen);
	CHECK(stalls > 0, "reclaim stall events attributed to the thrashing pid");
	for (int i = 0; i < nr_seen; i++)
		if (seen[i].hdr.type == MEMSHED_EV_MEMCG_RECLAIM && (pid_t)seen[i].hdr.tgid == c.pid) {
			CHECK(seen[i].stall.duration_ns > 0, "a duration");
			break;
		}
	child_kill(&c);
	memcg_remove();
	unlink(path);
}

static void anon_hog(void *arg)
{
	for (;;) {
		char *m = mmap(NULL, 16 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (m == MAP_FAILED)
			_exit(1);
		memset(m, 1, 16 * MiB);
	}
}

static void test_oom_kill_event(void)
{
	struct child c;
	int status = 0;

	CHECK(memcg_create(32 * MiB) == 0, "a 32 MiB v1 memcg");
	c = spawn(anon_hog, NULL);
	memcg_enter(c.pid);
	nr_seen = 0;
	child_go(&c);
	waitpid(c.pid, &status, 0);
	c.pid = -1;
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the hog was OOM-killed");
	drain(&ld, 100);
	CHECK(count_events(MEMSHED_EV_OOM_KILL, 0) >= 1, "an oom_kill event");
	for (int i = 0; i < nr_seen; i++)
		if (seen[i].hdr.type == MEMSHED_EV_OOM_KILL) {
			CHECK((pid_t)seen[i].hdr.tgid > 0, "with a pid");
			CHECK(seen[i].oom.rss_anon_kb > 0, "and its anon RSS");
		}
	child_kill(&c);
	memcg_remove();
}

static void fork_many(void *arg)
{
	int n = *(int *)arg;

	for (int i = 0; i < n; i++) {
		pid_t p = fork();

		if (p == 0)
			_exit(0);
		waitpid(p, NULL, 0);
	}
	_exit(0);
}

/* A small ring that is not drained: every event is either delivered or
 * counted as a drop, none is lost silently. */
static void test_ringbuf_overflow_counted(void)
{
	struct loader small, keep = ld;
	int n = 2000, status;
	struct child c;
	uint64_t drops;
	int got;

	CHECK(start(&small, RSS_TRACEPOINT, 4096) == 0, "load with a 4 KiB ring");
	ld = small;
	c = spawn(fork_many, &n);
	CHECK(label(&ld, c.pid, 9) == 0, "label");
	child_go(&c);
	waitpid(c.pid, &status, 0);
	c.pid = -1;
	drain(&ld, 50);
	drops = loader_drops(&ld);
	/* Each child: one fork and one exit event. */
	got = count_events(MEMSHED_EV_FORK, 0) + count_events(MEMSHED_EV_EXIT, 0);
	printf("# %d events delivered, %llu dropped, %d expected\n", got,
	       (unsigned long long)drops, 2 * n + 1);
	CHECK(drops > 0, "the overflow was counted");
	CHECK(got + (int)drops == 2 * n + 1, "delivered + dropped == produced");
	child_kill(&c);
	loader_stop(&ld);
	ld = keep;
}

int main(void)
{
	harness_require_root("test_kernel");
	log_setup(LOG_WARN, FORMAT_TEXT);
	atexit(cleanup);
	if (start(&ld, RSS_TRACEPOINT, 0)) {
		printf("FAIL test_kernel: cannot load the BPF programs\n");
		return 1;
	}
	RUN_TEST(test_fork_inherits_label);
	RUN_TEST(test_rss_tracepoint);
	RUN_TEST(test_rss_sample);
	RUN_TEST(test_exit_events);
	RUN_TEST(test_reclaim_stalls);
	RUN_TEST(test_oom_kill_event);
	RUN_TEST(test_ringbuf_overflow_counted);
	loader_stop(&ld);
	return harness_exit();
}
