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
#include <sys/epoll.h>
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

static uint64_t start_wake_ns;	/* loader_opts.info_wake_ns of the next start() */

static int start(struct loader *ld, enum rss_mode mode, uint32_t ringbuf)
{
	struct loader_opts o = {
		.ringbuf_size = ringbuf ? ringbuf : 1 << 20,
		.stall_threshold_ns = 1,	/* every stall is an event here */
		.rss_mode = mode,
		.info_wake_ns = start_wake_ns,
	};
	enum loader_error why;

	int err;

	nr_seen = 0;
	err = loader_start(ld, &o, collect, NULL, &why);
	if (!err)
		loader_set_components(ld, 64);	/* comp_ids 1..64 in use */
	return err;
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

static int read_proc(pid_t tgid, struct memshed_proc *ret)
{
	__u32 key = tgid;

	return bpf_map_lookup_elem(bpf_map__fd(ld.skel->maps.procs), &key, ret) ? -errno : 0;
}

/* Label a process and, in rss_mode auto, give it its fault sampler (the
 * registry does both for every process it labels). */
static int label_watched(pid_t pid, uint32_t comp, int *ret_fd)
{
	int err = label(&ld, pid, comp);

	*ret_fd = -1;
	if (!err && ld.faults)
		*ret_fd = loader_watch_faults(&ld, pid);
	return err ? err : (ld.faults && *ret_fd < 0) ? *ret_fd : 0;
}

/* In-kernel RSS of a labelled process vs VmRSS; the component sum. */
static void check_rss(enum rss_mode mode)
{
	size_t a = 96 * MiB, b = 32 * MiB;
	struct child ca = spawn(touch_and_wait, &a), cb = spawn(touch_and_wait, &b);
	struct memshed_proc pa = {}, pb = {};
	const struct memshed_comp *comp = loader_comp(&ld, 3);
	const char *name = mode == RSS_SAMPLE ? "sample" : mode == RSS_AUTO ? "auto" : "tracepoint";
	int fa, fb;
	long ra, rb;

	CHECK(label_watched(ca.pid, 3, &fa) == 0 && label_watched(cb.pid, 3, &fb) == 0, "label");
	child_go(&ca);
	child_go(&cb);
	for (int i = 0; i < 300; i++) {		/* until both have touched it all */
		usleep(10000);
		if (vmrss_kib(ca.pid) * 1024 >= (long)a && vmrss_kib(cb.pid) * 1024 >= (long)b)
			break;
	}
	usleep(50000);
	if (mode == RSS_AUTO) {
		CHECK(ld.faults || !harness_ci(), "fault sampling works on this host");
		/* Between passes the fault sampler alone keeps the number within
		 * its period (and the kernel's per-CPU counter batches). */
		CHECK(read_proc(ca.pid, &pa) == 0, "procs entry");
		CHECK(llabs((long long)pa.rss_total / 1024 - vmrss_kib(ca.pid)) <= 1024,
		      "the fault sampler tracked the growth (%llu KiB vs %ld KiB)",
		      (unsigned long long)pa.rss_total / 1024, vmrss_kib(ca.pid));
	}
	if (mode != RSS_TRACEPOINT)
		loader_sample(&ld);
	ra = vmrss_kib(ca.pid);
	rb = vmrss_kib(cb.pid);
	CHECK(read_proc(ca.pid, &pa) == 0 && read_proc(cb.pid, &pb) == 0, "procs entries");
	printf("# %s: a kernel %llu KiB VmRSS %ld KiB; b kernel %llu KiB VmRSS %ld KiB; sum %llu KiB\n",
	       name, (unsigned long long)pa.rss_total / 1024, ra,
	       (unsigned long long)pb.rss_total / 1024, rb,
	       (unsigned long long)comp->rss_total / 1024);
	/* Fault sampling sees the last page or so only at the next sample. */
	CHECK(llabs((long long)pa.rss_total / 1024 - ra) <= ra / 100, "a within 1%% of VmRSS");
	CHECK(llabs((long long)pb.rss_total / 1024 - rb) <= rb / 100, "b within 1%% of VmRSS");
	/* The folded counter lags the per-CPU parts by up to a batch per CPU. */
	CHECK(pa.rss[MEMSHED_RSS_ANON] >= a - 64 * 4096, "anon counted apart");
	CHECK(comp->rss_total == pa.rss_total + pb.rss_total, "component sum %llu != %llu + %llu",
	      (unsigned long long)comp->rss_total, (unsigned long long)pa.rss_total,
	      (unsigned long long)pb.rss_total);
	loader_sample(&ld);
	CHECK(comp->nr_procs == 2, "the pass counted 2 processes, not %u", comp->nr_procs);
	child_kill(&ca);
	child_kill(&cb);
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	usleep(20000);
	CHECK(comp->rss_total == 0, "the sum drops to 0 when they exit (%llu)",
	      (unsigned long long)comp->rss_total);
}

static void with_loader(enum rss_mode mode, void (*fn)(enum rss_mode))
{
	struct loader other, keep = ld;

	CHECK(start(&other, mode, 0) == 0, "load in mode %d", mode);
	ld = other;
	fn(mode);
	loader_stop(&ld);
	ld = keep;
}

static void test_rss_tracepoint(void)
{
	check_rss(RSS_TRACEPOINT);
}

static void test_rss_sample(void)
{
	with_loader(RSS_SAMPLE, check_rss);
}

static void test_rss_faults(void)
{
	with_loader(RSS_AUTO, check_rss);
}

/* The sample pass sums the per-CPU parts of the RSS counters: a small idle
 * process's record is its VmRSS to the page (the folded value lags it by
 * up to the percpu batch on each CPU). */
static void test_rss_summed_over_cpus(void)
{
	size_t a = MiB + 5 * 4096;
	struct child c = spawn(touch_and_wait, &a);
	struct memshed_proc p;

	CHECK(label(&ld, c.pid, 15) == 0, "label");
	child_go(&c);
	usleep(200000);
	loader_sample(&ld);
	CHECK(ld.skel->bss->cpu_off_known == 1, "per-CPU offsets learned (%u)",
	      ld.skel->bss->cpu_off_known);
	CHECK(libbpf_num_possible_cpus() < 2 || ld.skel->bss->cpu_off[0] != ld.skel->bss->cpu_off[1],
	      "one offset per CPU");
	CHECK(read_proc(c.pid, &p) == 0, "its record");
	CHECK((long)(p.rss_total / 1024) == vmrss_kib(c.pid), "record %llu KiB, VmRSS %ld KiB",
	      (unsigned long long)p.rss_total / 1024, vmrss_kib(c.pid));
	child_kill(&c);
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
	CHECK(read_proc(lp, &(struct memshed_proc){}) == -ENOENT, "its record is gone");
}


/* ---- counting once ---- */

#include <spawn.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

extern char **environ;

/* 64 MiB, then posix_spawn /bin/true in a loop: glibc spawns with
 * CLONE_VM|CLONE_VFORK, so each child shares this mm until its exec. */
static void spawn_loop(void *arg)
{
	size_t bytes = 64 * MiB;
	char *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *argv[] = { "true", NULL };

	for (size_t i = 0; i < bytes; i += 4096)
		m[i] = 1;
	for (;;) {
		pid_t p;

		if (posix_spawn(&p, "/bin/true", NULL, NULL, argv, environ) == 0)
			waitpid(p, NULL, 0);
	}
}

static void check_spawn_counted_once(enum rss_mode mode)
{
	const struct memshed_comp *comp = loader_comp(&ld, 11);
	struct child c = spawn(spawn_loop, NULL);
	uint64_t peak = 0;
	long truth = 0;
	int fd;

	CHECK(label_watched(c.pid, 11, &fd) == 0, "label");
	child_go(&c);
	usleep(300000);
	for (int i = 0; i < 200; i++) {
		usleep(5000);
		if (i % 10 == 0)
			loader_sample(&ld);
		if (comp->rss_total > peak)
			peak = comp->rss_total;
		if (vmrss_kib(c.pid) > truth)
			truth = vmrss_kib(c.pid);
	}
	printf("# %d: component peak %llu KiB, the spawner's VmRSS peak %ld KiB\n", mode,
	       (unsigned long long)peak / 1024, truth);
	CHECK(truth > 60 * 1024, "the spawner holds its 64 MiB (%ld KiB)", truth);
	/* The component also holds each exec'd /bin/true (about 1 MiB, two
	 * at most overlap); counting the shared mm again would add 64 MiB. */
	CHECK((long long)peak / 1024 >= truth - truth / 50 &&
	      (long long)peak / 1024 <= truth + 8 * 1024,
	      "usage is the spawner's plus its exec'd children's, never the shared mm twice");
	child_kill(&c);
	if (fd >= 0)
		close(fd);
}

static void test_spawn_counted_once(void)
{
	check_spawn_counted_once(RSS_TRACEPOINT);
	with_loader(RSS_AUTO, check_spawn_counted_once);
}

/* The sums are the kernel's, rebuilt from the process records each pass. */
static void test_sums_resynchronised(void)
{
	size_t a = 16 * MiB;
	struct child c = spawn(touch_and_wait, &a);
	struct memshed_comp *comp = loader_comp(&ld, 12);
	struct memshed_proc p;
	uint64_t usage_before;

	CHECK(label(&ld, c.pid, 12) == 0, "label");
	child_go(&c);
	usleep(200000);
	loader_sample(&ld);
	usage_before = loader_usage(&ld);
	comp->rss_total += 123456789;		/* drift, as a lost update would leave */
	ld.skel->bss->usage_total += 123456789;
	loader_sample(&ld);
	CHECK(read_proc(c.pid, &p) == 0, "its record");
	CHECK(comp->rss_total == p.rss_total, "resynchronised to the record (%llu vs %llu)",
	      (unsigned long long)comp->rss_total, (unsigned long long)p.rss_total);
	CHECK(loader_usage(&ld) == usage_before, "usage resynchronised too");
	child_kill(&c);
}

/* A record whose start time is not its process's (a recycled PID) is
 * dropped by the pass, never counted for the new process. */
static void test_stale_record_dropped(void)
{
	size_t a = 8 * MiB;
	struct child c = spawn(touch_and_wait, &a);
	struct memshed_proc fake = { .comp_id = 13, .start_time = 12345 };
	__u32 key;

	child_go(&c);
	usleep(100000);
	key = c.pid;
	CHECK(bpf_map_update_elem(bpf_map__fd(ld.skel->maps.procs), &key, &fake, BPF_ANY) == 0,
	      "a stale record for the pid");
	loader_sample(&ld);
	CHECK(read_proc(c.pid, &fake) == -ENOENT, "dropped by the pass");
	CHECK(loader_comp(&ld, 13)->rss_total == 0, "and not counted");
	child_kill(&c);
}

/* The bytes mapped for comp_ids 0..nr: whole pages. */
static size_t comps_pages(uint32_t nr)
{
	return ((nr + 1) * sizeof(struct memshed_comp) + 4095) / 4096 * 4096;
}

/* The kernel maps every page of a mapping at once: only the records of the
 * components in use are mapped (64 in two pages, not 4,095 in 96). */
static void test_comps_mapped_as_used(void)
{
	int fd = bpf_map__fd(ld.skel->maps.comps);
	struct memshed_comp *k, got;
	__u32 key = 150;

	CHECK(ld.comps_len == comps_pages(64) && comps_pages(64) < comps_pages(4095),
	      "64 components: %zu bytes mapped, not %zu", comps_pages(64), ld.comps_len);
	CHECK(!loader_comp(&ld, 65), "no record past the last component");
	CHECK(loader_set_components(&ld, 200) == 0 && ld.comps_len == comps_pages(200),
	      "200 components: %zu bytes, not %zu", comps_pages(200), ld.comps_len);
	k = loader_comp(&ld, 150);
	CHECK(k, "a new component's record is mapped");
	if (k)
		k->flags = 0x80;
	CHECK(bpf_map_lookup_elem(fd, &key, &got) == 0 && got.flags == 0x80,
	      "the kernel sees what is written through the new mapping");
	CHECK(loader_set_components(&ld, 64) == 0 && ld.comps_len == comps_pages(64), "back to 64's");
	CHECK(bpf_map_lookup_elem(fd, &key, &got) == 0 && got.flags == 0,
	      "a record past the end is cleared");
}

/* ---- labelling what already runs ---- */

struct find_ctx {
	pid_t want;
	struct memshed_task_info got;
	int n, self_and_parent;
};

static int find_task(void *ctx, const struct memshed_task_info *ti)
{
	struct find_ctx *f = ctx;

	f->n++;
	if ((pid_t)ti->tgid == getpid() || (pid_t)ti->tgid == getppid())
		f->self_and_parent++;
	if ((pid_t)ti->tgid == f->want)
		f->got = *ti;
	return 0;
}

static void test_dump_and_pending_labels(void)
{
	size_t a = MiB;
	struct child c = spawn(touch_and_wait, &a), d = spawn(touch_and_wait, &a);
	struct find_ctx f = { .want = c.pid };
	struct memshed_pending_label pl[2];
	uint32_t tgids[2];

	CHECK(loader_dump_tasks(&ld, find_task, &f) == 0, "dump");
	CHECK(f.self_and_parent == 2 && f.n >= 4, "every process: this one, its parent, its children (%d)", f.n);
	CHECK(f.got.tgid == (__u32)c.pid && f.got.ppid == (__u32)getpid(), "ppid %u", f.got.ppid);
	CHECK(f.got.start_time > 0 && f.got.comp_id == 0, "start time, no label");
	CHECK(f.got.uid == getuid(), "uid");
	tgids[0] = c.pid;
	pl[0] = (struct memshed_pending_label){ .comp_id = 14, .start_time = f.got.start_time };
	tgids[1] = d.pid;	/* the wrong start time: another process by that pid */
	pl[1] = (struct memshed_pending_label){ .comp_id = 14, .start_time = f.got.start_time + 1 };
	CHECK(loader_queue_labels(&ld, tgids, pl, 2) == 0, "queue");
	CHECK(loader_sample(&ld) == 0, "pass");
	CHECK(kernel_label(&ld, c.pid) == 14, "applied to the right process");
	CHECK(kernel_label(&ld, d.pid) == 0, "not to a process with another start time");
	pl[0].comp_id = 0;	/* and unlabel the same way */
	loader_queue_labels(&ld, tgids, pl, 1);
	loader_sample(&ld);
	CHECK(kernel_label(&ld, c.pid) == 0, "unlabelled");
	child_kill(&c);
	child_kill(&d);
}

/* ---- activity ---- */

static void spin(void *arg)
{
	for (volatile unsigned long i = 0;; i++)
		;
}

static void sleeper(void *arg)
{
	for (;;)
		usleep(100000);	/* a 10 Hz timer, like redis's cron */
}

static void test_cpu_use_is_access(void)
{
	struct child busy = spawn(spin, NULL), idle = spawn(sleeper, NULL);
	const struct memshed_comp *cb = loader_comp(&ld, 15), *ci = loader_comp(&ld, 16);

	loader_set_idle_cpu(&ld, 0.02, 300 * 1000000ull);
	CHECK(label(&ld, busy.pid, 15) == 0 && label(&ld, idle.pid, 16) == 0, "label");
	child_go(&busy);
	child_go(&idle);
	for (int i = 0; i < 5; i++) {	/* windows of >= 300 ms */
		loader_sample(&ld);
		usleep(350000);
	}
	loader_sample(&ld);
	CHECK(cb->last_cpu_ns > 0, "a spinning process is in use");
	CHECK(ci->last_cpu_ns == 0, "a 10 Hz timer is not use");
	child_kill(&busy);
	child_kill(&idle);
	loader_set_idle_cpu(&ld, 0.02, 1000000000ull);
}

static void receiver(void *arg)
{
	int fd = *(int *)arg;
	char buf[64];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	_exit(0);
}

/* fds[0]: read it to EOF, then close it; fds[1]: the other end, not ours. */
static void receiver_then_close(void *arg)
{
	int fd = ((int *)arg)[0];
	char buf[64];

	close(((int *)arg)[1]);

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);	/* as a server closes a client's connection */
	for (;;)
		pause();
}

/* A loopback TCP connection: *cl the client's end, *sv the accepted one. */
static int loopback_pair(int *cl, int *sv)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	*cl = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || *cl < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&a, &alen) ||
	    connect(*cl, (struct sockaddr *)&a, sizeof(a)) || (*sv = accept(l, NULL, NULL)) < 0)
		return -1;
	close(l);
	return 0;
}

/* A labelled process holding only TCP sockets: no program on the host's
 * receive path; the sample pass reads the receive off the socket. */
static void test_tcp_receive_read_by_pass(void)
{
	const struct memshed_comp *comp = loader_comp(&ld, 17);
	int cl, sv;
	uint64_t t0;
	struct child c;

	CHECK(loopback_pair(&cl, &sv) == 0, "loopback connection");
	c = spawn(receiver, &sv);
	close(sv);
	CHECK(label(&ld, c.pid, 17) == 0, "label");
	child_go(&c);
	usleep(50000);
	CHECK(loader_sample(&ld) == 0, "pass");
	CHECK(!loader_recv_hook(&ld), "TCP only: the receive hook stays detached");
	t0 = now_mono_ns();
	CHECK(comp->last_recv_ns < t0, "nothing received since the handshake");
	usleep(20000);
	CHECK(write(cl, "ping", 4) == 4, "send");
	usleep(20000);
	CHECK(comp->last_recv_ns < t0, "not seen before a pass");
	CHECK(loader_sample(&ld) == 0, "pass");
	CHECK(comp->last_recv_ns + 5 * 1000000ull >= t0 + 20 * 1000000ull && comp->last_recv_ns <= now_mono_ns(),
	      "dated to its tick: %.1f ms after t0", ((double)comp->last_recv_ns - t0) / 1e6);
	close(cl);
	child_kill(&c);
}

/* A TCP socket that never connected, or a listener, has lrcvtime 0: no
 * receive (read as one, it would date to the tick jiffies wrapped). */
static void test_unconnected_tcp_is_no_receive(void)
{
	const struct memshed_comp *comp = loader_comp(&ld, 22);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int s = socket(AF_INET, SOCK_STREAM, 0), l = socket(AF_INET, SOCK_STREAM, 0);
	struct child c;

	CHECK(s >= 0 && l >= 0 && bind(l, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	      listen(l, 1) == 0, "an unconnected socket and a listener");
	c = spawn(sleeper, NULL);	/* holds both */
	close(s);
	close(l);
	CHECK(label(&ld, c.pid, 22) == 0, "label");
	child_go(&c);
	CHECK(loader_sample(&ld) == 0, "pass");
	CHECK(comp->last_recv_ns == 0, "no receive (%.1f s ago)",
	      comp->last_recv_ns ? (now_mono_ns() - comp->last_recv_ns) / 1e9 : 0.0);
	child_kill(&c);
}

static void close_and_sleep(void *arg)
{
	close(*(int *)arg);
	for (;;)
		pause();
}

/* A connection its process closes between two passes: what it received is
 * read off the socket at the close (FIN_WAIT1 / LAST_ACK). */
static void test_closed_connection_is_receive(void)
{
	const struct memshed_comp *comp = loader_comp(&ld, 23);
	int fds[2], cl;
	uint64_t t0;
	struct child c;

	CHECK(loopback_pair(&cl, &fds[0]) == 0, "loopback connection");
	fds[1] = cl;
	c = spawn(receiver_then_close, fds);
	close(fds[0]);
	CHECK(label(&ld, c.pid, 23) == 0, "label");
	child_go(&c);
	usleep(50000);
	CHECK(loader_sample(&ld) == 0, "pass");
	t0 = now_mono_ns();
	usleep(20000);
	CHECK(write(cl, "ping", 4) == 4, "send");
	close(cl);	/* it reads EOF and closes its end */
	usleep(50000);
	CHECK(loader_sample(&ld) == 0, "pass, the socket gone");
	CHECK(comp->last_recv_ns >= t0 && comp->last_recv_ns <= now_mono_ns(),
	      "the receive, read at the close: %.1f ms after t0",
	      ((double)comp->last_recv_ns - t0) / 1e6);
	child_kill(&c);
}

/* The peer sent a request and its FIN, the server has not answered yet
 * (CLOSE_WAIT: shut for reading by the FIN): the request is still read. */
static void test_half_closed_tcp_is_read(void)
{
	const struct memshed_comp *comp = loader_comp(&ld, 26);
	int cl, sv;
	uint64_t t0;
	struct child c;

	CHECK(loopback_pair(&cl, &sv) == 0, "loopback connection");
	c = spawn(close_and_sleep, &cl);	/* holds sv, never reads it */
	close(sv);
	CHECK(label(&ld, c.pid, 26) == 0, "label");
	child_go(&c);
	usleep(50000);
	t0 = now_mono_ns();
	usleep(20000);
	CHECK(write(cl, "ping", 4) == 4, "send");
	close(cl);
	usleep(20000);
	CHECK(loader_sample(&ld) == 0, "pass");
	CHECK(comp->last_recv_ns >= t0, "the request is a receive: %.1f ms after t0",
	      ((double)comp->last_recv_ns - t0) / 1e6);
	child_kill(&c);
}

/* A socket shut for reading receives nothing more (systemd gives services
 * such stdout sockets): it does not attach the hook. */
static void test_shut_socket_needs_no_hook(void)
{
	int sv[2];
	struct child c;

	CHECK(!loader_recv_hook(&ld), "detached to begin with");
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0 && shutdown(sv[1], SHUT_RD) == 0,
	      "a UNIX socket shut for reading");
	c = spawn(close_and_sleep, &sv[0]);	/* holds sv[1] only */
	close(sv[0]);
	close(sv[1]);
	CHECK(label(&ld, c.pid, 24) == 0, "label");
	child_go(&c);
	usleep(50000);
	CHECK(loader_sample(&ld) == 0, "pass");
	CHECK(!loader_recv_hook(&ld), "the hook stays detached");
	child_kill(&c);
}

static void many_fds(void *arg)
{
	struct rlimit r = { 8192, 8192 };

	if (setrlimit(RLIMIT_NOFILE, &r) || dup2(2, 5000) != 5000)
		_exit(1);
	for (;;)
		pause();
}

/* Descriptors past the 4,096 a pass reads are the hook's. */
static void test_many_fds_need_the_hook(void)
{
	struct child c = spawn(many_fds, NULL);

	CHECK(!loader_recv_hook(&ld), "detached to begin with");
	CHECK(label(&ld, c.pid, 25) == 0, "label");
	child_go(&c);
	usleep(50000);
	CHECK(loader_sample(&ld) == 0, "pass");
	CHECK(loader_recv_hook(&ld), "a process with fd 5000: the hook is attached");
	child_kill(&c);
}

/* 4,096 descriptors, then 16 children of its own with the same (labelled
 * by inheritance, gone with it). */
static void fds_and_forks(void *arg)
{
	struct rlimit r = { 4096, 4096 };

	if (setrlimit(RLIMIT_NOFILE, &r))
		_exit(1);
	for (int fd = 3; fd < 4096; fd++)
		dup2(2, fd);
	for (int i = 0; i < 16; i++)
		if (fork() == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			break;
		}
	for (;;)
		pause();
}

/* A pass reads at most PASS_FDS_MAX descriptors: 17 processes of 4,096
 * each leave the rest to the hook rather than make the pass long. */
static void test_pass_fd_budget(void)
{
	struct child c = spawn(fds_and_forks, NULL);

	CHECK(!loader_recv_hook(&ld), "detached to begin with");
	CHECK(label(&ld, c.pid, 27) == 0, "label");
	child_go(&c);
	usleep(300000);
	CHECK(loader_sample(&ld) == 0, "pass");
	CHECK(loader_recv_hook(&ld), "69,632 descriptors: the rest is the hook's");
	child_kill(&c);
	usleep(100000);	/* its children follow it */
	ld.recv_wanted_ns -= 61 * 1000000000ull;	/* a minute on */
	loader_sample(&ld);
	CHECK(!loader_recv_hook(&ld), "detached once they are gone");
}

/* The pass learns the tick (no kernel config needed) once a second passed. */
static void test_tick_learned(void)
{
	uint64_t t = ld.skel->bss->tick_ns;

	loader_sample(&ld);
	usleep(1100000);
	loader_sample(&ld);
	t = ld.skel->bss->tick_ns;
	CHECK(t == 1000000 || t == 3333333 || t == 4000000 || t == 10000000,
	      "tick %llu ns", (unsigned long long)t);
}

/* A UNIX socket has no receive record: holding one attaches the hook,
 * which then sees the receive at once; it lingers, then detaches. */
static void test_unix_receive_is_access(void)
{
	const struct memshed_comp *comp = loader_comp(&ld, 19);
	int sv[2];
	struct child c;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
	c = spawn(receiver, &sv[1]);
	CHECK(label(&ld, c.pid, 19) == 0, "label");
	child_go(&c);
	usleep(50000);
	CHECK(loader_sample(&ld) == 0, "pass");
	CHECK(loader_recv_hook(&ld), "the receive hook is attached");
	CHECK(comp->last_recv_ns == 0, "nothing received yet");
	CHECK(write(sv[0], "ping", 4) == 4, "send");
	usleep(50000);
	CHECK(comp->last_recv_ns > 0, "the receive is an access, before any pass");
	close(sv[0]);
	close(sv[1]);
	child_kill(&c);
	loader_sample(&ld);
	CHECK(loader_recv_hook(&ld), "lingers after the socket is gone");
	ld.recv_wanted_ns -= 61 * 1000000000ull;	/* a minute on */
	loader_sample(&ld);
	CHECK(!loader_recv_hook(&ld), "detached a minute after the last one");
}

static void listener(void *arg)
{
	int fd = *(int *)arg;

	for (;;)
		pause();	/* never accepts: the kernel completes the handshake */
	(void)fd;
}

static void test_connection_is_access(void)
{
	const struct memshed_comp *comp = loader_comp(&ld, 18);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM, 0), cl;
	struct child c;

	CHECK(l >= 0 && bind(l, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(l, 8) == 0,
	      "listen");
	getsockname(l, (struct sockaddr *)&sa, &len);
	c = spawn(listener, &l);
	close(l);		/* only the child holds it */
	CHECK(label(&ld, c.pid, 18) == 0, "label");
	child_go(&c);
	usleep(20000);
	CHECK(loader_mark_sockets(&ld, false) == 0, "mark listeners");
	CHECK(comp->last_accept_ns == 0, "no connection yet");
	cl = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(connect(cl, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect");
	usleep(50000);
	CHECK(comp->last_accept_ns > 0, "the connection is an access");
	close(cl);
	child_kill(&c);
}


/* ---- knocks on hibernated components ---- */

/* Holds a listener and one accepted connection, never reading. */
static void holder(void *arg)
{
	int l = *(int *)arg, c = accept(l, NULL, NULL);

	for (;;)
		pause();
	(void)c;
}

static void test_knock(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct memshed_comp *hib = loader_comp(&ld, 20), *other = loader_comp(&ld, 21);
	socklen_t len = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM, 0), c1, c2;
	struct child c;

	CHECK(l >= 0 && bind(l, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(l, 8) == 0,
	      "listen");
	getsockname(l, (struct sockaddr *)&sa, &len);
	c = spawn(holder, &l);
	close(l);
	CHECK(label(&ld, c.pid, 20) == 0, "label");
	child_go(&c);
	c1 = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(connect(c1, (struct sockaddr *)&sa, sizeof(sa)) == 0, "the first client");
	usleep(50000);			/* accepted */
	/* Hibernate (the flags; freezing is the actuator's) with its sockets. */
	CHECK(loader_mark_sockets(&ld, true) == 0, "mark sockets and connections");
	other->flags = MEMSHED_COMP_HIBERNATED;
	CHECK(loader_knock_probe(&ld, true) == 0, "attach the data probe");
	drain(&ld, 20);
	nr_seen = 0;
	CHECK(write(c1, "x", 1) == 1, "data on the established connection, not hibernated yet");
	drain(&ld, 50);
	CHECK(count_events(MEMSHED_EV_KNOCK, 0) == 0, "no knock while not hibernated");
	hib->flags = MEMSHED_COMP_HIBERNATED;
	CHECK(write(c1, "y", 1) == 1, "data while hibernated");
	drain(&ld, 50);
	CHECK(count_events(MEMSHED_EV_KNOCK, 0) == 1, "one knock");
	for (int i = 0; i < nr_seen; i++)
		if (seen[i].hdr.type == MEMSHED_EV_KNOCK) {
			CHECK(seen[i].hdr.comp_id == 20, "for the hibernated component");
			CHECK(seen[i].knock.kind == MEMSHED_KNOCK_DATA, "data");
			CHECK(seen[i].knock.port == ntohs(sa.sin_port), "on its port");
		}
	CHECK(hib->flags & MEMSHED_COMP_KNOCKED, "marked knocked");
	CHECK(!(other->flags & MEMSHED_COMP_KNOCKED), "the other one was not knocked");
	c2 = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(connect(c2, (struct sockaddr *)&sa, sizeof(sa)) == 0, "a second client");
	drain(&ld, 50);
	CHECK(count_events(MEMSHED_EV_KNOCK, 0) == 1, "once per hibernation");
	hib->flags = MEMSHED_COMP_HIBERNATED;	/* hibernated again */
	close(c2);
	c2 = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(connect(c2, (struct sockaddr *)&sa, sizeof(sa)) == 0, "a third client");
	drain(&ld, 50);
	CHECK(count_events(MEMSHED_EV_KNOCK, 0) == 2, "a new connection knocks");
	CHECK(seen[nr_seen - 1].knock.kind == MEMSHED_KNOCK_CONNECT, "as a connect");
	loader_knock_probe(&ld, false);
	hib->flags = other->flags = 0;
	close(c1);
	close(c2);
	child_kill(&c);
}

/* ---- floods never blind ---- */

static void rename_flood(void *arg)
{
	char name[16];

	for (unsigned long i = 0;; i++) {
		snprintf(name, sizeof(name), "flood%lu", i % 1000);
		prctl(PR_SET_NAME, name);
	}
}

static void grow_slowly(void *arg)
{
	size_t bytes = 64 * MiB;
	char *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	for (size_t i = 0; i < bytes; i += 4096) {
		m[i] = 1;
		if (i % (1 * MiB) == 0)
			usleep(2000);
	}
	for (;;)
		pause();
}

/* An unprivileged-style rename flood fills the info ring (never drained
 * here); a budget crossing still reaches user space on its own ring. */
static void check_flood(enum rss_mode mode)
{
	uint64_t lines[NR_LEVELS] = { 0, 32 * MiB, 0, 0 };
	struct child flood = spawn(rename_flood, NULL), grow = spawn(grow_slowly, NULL);
	struct loader_drops dr;
	int fd, budget = 0;
	uint64_t t0 = now_mono_ns();

	loader_set_exec_events(&ld, true);
	loader_set_budget(&ld, lines);
	CHECK(label_watched(grow.pid, 19, &fd) == 0, "label the grower");
	child_go(&flood);
	usleep(200000);
	nr_seen = 0;
	child_go(&grow);
	for (int i = 0; i < 100 && !budget; i++) {
		drain(&ld, 50);
		budget = count_events(MEMSHED_EV_BUDGET, grow.pid);
	}
	loader_drops(&ld, &dr);
	printf("# flood: %d events seen, %llu info drops, %llu over the rate\n", nr_seen,
	       (unsigned long long)dr.info, (unsigned long long)dr.limited);
	CHECK(dr.limited > 1000, "the flood was rate-limited in the kernel");
	CHECK(budget == 1, "the crossing arrived through the flood");
	/* A burst of 64, then 200/s (lifecycle.bpf.c's defaults). */
	CHECK(count_events(MEMSHED_EV_RENAME, flood.pid) <= 64 + 200 * (now_mono_ns() - t0) / 1e9 + 8,
	      "the flood did not (%d renames in %.2fs)", count_events(MEMSHED_EV_RENAME, flood.pid),
	      (now_mono_ns() - t0) / 1e9);
	child_kill(&flood);
	child_kill(&grow);
	if (fd >= 0)
		close(fd);
	loader_set_budget(&ld, (uint64_t[NR_LEVELS]){ 0 });
	loader_set_exec_events(&ld, false);
}

static void test_flood_never_blinds(void)
{
	with_loader(RSS_AUTO, check_flood);
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

/* A fork per byte on the pipe *arg (grandchildren exit at once), until EOF. */
static void fork_per_byte(void *arg)
{
	char b;

	while (read(*(int *)arg, &b, 1) == 1) {
		pid_t p = fork();

		if (p == 0)
			_exit(0);
		waitpid(p, NULL, 0);
		if (write(*((int *)arg + 1), "d", 1) != 1)	/* done */
			_exit(1);
	}
	_exit(0);
}

/* Records of these types woke the reader only if one of another type came
 * along (stalls and kswapd of other work on the host wake it, rightly). */
static bool only_lifecycle(void)
{
	for (int i = 0; i < nr_seen; i++)
		if (seen[i].hdr.type != MEMSHED_EV_FORK && seen[i].hdr.type != MEMSHED_EV_EXIT)
			return false;
	return true;
}

static int readable(int epfd, int ms)
{
	struct epoll_event ev;

	return epoll_wait(epfd, &ev, 1, ms);
}

/* Lifecycle records wake the reader at most once per info_wake_ns (one
 * interrupt to self each: ~20 us in a guest); the ones in between wait for
 * the reader's next look. A stall still wakes it at once, though lazy
 * records ahead of it keep the ring from looking newly non-empty. */
static void test_lifecycle_wakes_lazily(void)
{
	char path[] = "/var/tmp/memshed-ktest-XXXXXX";
	struct loader lazy, keep = ld;
	int cmd[2], done[2], fds[2], epfd, tmp, woke, stalls = 0;
	struct epoll_event ev = { .events = EPOLLIN };
	struct child c, t = { .pid = -1, .go = -1 };
	char b;

	start_wake_ns = 60ull * 1000000000;	/* all of this test is within one window */
	CHECK(start(&lazy, RSS_TRACEPOINT, 0) == 0, "load with a 60 s wake-up window");
	start_wake_ns = 0;
	ld = lazy;
	epfd = epoll_create1(EPOLL_CLOEXEC);
	CHECK(epfd >= 0 && epoll_ctl(epfd, EPOLL_CTL_ADD, loader_epoll_fd(&ld), &ev) == 0,
	      "an epoll set on the rings");
	CHECK(pipe(cmd) == 0 && pipe(done) == 0, "pipes");
	fds[0] = cmd[0];
	fds[1] = done[1];
	c = spawn(fork_per_byte, fds);
	CHECK(label(&ld, c.pid, 9) == 0, "label");
	child_go(&c);
	drain(&ld, 20);
	readable(epfd, 0);	/* the ring was empty when last looked at */

	CHECK(write(cmd[1], "f", 1) == 1 && read(done[0], &b, 1) == 1, "a first fork");
	woke = readable(epfd, 1000);
	nr_seen = 0;
	loader_poll_events(&ld);
	CHECK(woke == 1, "the first lifecycle record woke the reader");
	CHECK(count_events(MEMSHED_EV_FORK, 0) == 1, "its fork record");
	readable(epfd, 0);

	for (int i = 0; i < 3; i++)
		CHECK(write(cmd[1], "f", 1) == 1 && read(done[0], &b, 1) == 1, "fork %d", i + 2);
	woke = readable(epfd, 300);
	nr_seen = 0;
	loader_poll_events(&ld);
	CHECK(count_events(MEMSHED_EV_FORK, 0) == 3, "the next three fork records are there (%d)",
	      count_events(MEMSHED_EV_FORK, 0));
	CHECK(!woke || !only_lifecycle(), "and they did not wake the reader");
	readable(epfd, 0);

	/* One more lazy record left pending, then a memcg reclaim stall. */
	tmp = mkstemp(path);
	CHECK(tmp >= 0, "temp file");
	close(tmp);
	CHECK(make_file(path, 128 * MiB) == 0, "a 128 MiB file");
	CHECK(memcg_create(64 * MiB) == 0, "a 64 MiB v1 memcg");
	write_str("/proc/sys/vm", "drop_caches", "3");
	if (readable(epfd, 0) == 1) {
		loader_poll_events(&ld);	/* other work on the host stalled */
		readable(epfd, 0);
	}
	nr_seen = 0;
	CHECK(write(cmd[1], "f", 1) == 1 && read(done[0], &b, 1) == 1, "a fifth fork");
	t = spawn(thrash, path);
	memcg_enter(t.pid);
	child_go(&t);
	for (int i = 0; i < 100 && !stalls; i++) {
		if (readable(epfd, 100) != 1)
			continue;
		loader_poll_events(&ld);
		stalls = count_events(MEMSHED_EV_MEMCG_RECLAIM, t.pid) +
			 count_events(MEMSHED_EV_RECLAIM_STALL, t.pid);
	}
	CHECK(stalls > 0, "a stall woke the reader behind a pending lazy record");
	CHECK(count_events(MEMSHED_EV_FORK, 0) == 1, "the lazy record came with it");
	child_kill(&t);
	memcg_remove();
	unlink(path);
	close(cmd[1]);
	close(done[0]);
	close(cmd[0]);
	close(done[1]);
	child_kill(&c);
	close(epfd);
	loader_stop(&ld);
	ld = keep;
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
	struct loader_drops dr;
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
	loader_drops(&ld, &dr);
	/* Stalls and kswapd of other work on the host may be lost too: count
	 * this test's types only. */
	drops = ld.skel->bss->info_lost[MEMSHED_EV_FORK] + ld.skel->bss->info_lost[MEMSHED_EV_EXIT];
	/* Each child: one fork and one exit event. */
	got = count_events(MEMSHED_EV_FORK, 0) + count_events(MEMSHED_EV_EXIT, 0);
	printf("# %d events delivered, %llu dropped (ring full), %llu over the rate, %d expected\n",
	       got, (unsigned long long)dr.info, (unsigned long long)dr.limited, 2 * n + 1);
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
	RUN_TEST(test_rss_faults);
	RUN_TEST(test_rss_summed_over_cpus);
	RUN_TEST(test_spawn_counted_once);
	RUN_TEST(test_sums_resynchronised);
	RUN_TEST(test_stale_record_dropped);
	RUN_TEST(test_comps_mapped_as_used);
	RUN_TEST(test_dump_and_pending_labels);
	RUN_TEST(test_cpu_use_is_access);
	RUN_TEST(test_tcp_receive_read_by_pass);
	RUN_TEST(test_unconnected_tcp_is_no_receive);
	RUN_TEST(test_closed_connection_is_receive);
	RUN_TEST(test_half_closed_tcp_is_read);
	RUN_TEST(test_shut_socket_needs_no_hook);
	RUN_TEST(test_pass_fd_budget);
	RUN_TEST(test_tick_learned);
	RUN_TEST(test_many_fds_need_the_hook);
	RUN_TEST(test_unix_receive_is_access);
	RUN_TEST(test_connection_is_access);
	RUN_TEST(test_knock);
	RUN_TEST(test_flood_never_blinds);
	RUN_TEST(test_exit_events);
	RUN_TEST(test_reclaim_stalls);
	RUN_TEST(test_lifecycle_wakes_lazily);
	RUN_TEST(test_oom_kill_event);
	RUN_TEST(test_ringbuf_overflow_counted);
	loader_stop(&ld);
	return harness_exit();
}
