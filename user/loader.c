// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Open, configure, load and attach the kernel programs; own their maps. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/perf_event.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "memshed.skel.h"
#include "loader.h"
#include "output.h"

static bool loader_verbose;

/* libbpf's own messages: shown with -v only, through our log. */
static int loader_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char *msg;
	size_t n;

	/* Failures are explained by loader_explain(); the details (verifier
	 * log, relocations) are for -v, whole (a verifier log is long). */
	if (!loader_verbose || level == LIBBPF_DEBUG || vasprintf(&msg, fmt, ap) < 0)
		return 0;
	n = strlen(msg);
	if (n && msg[n - 1] == '\n')
		msg[n - 1] = '\0';
	/* Not through log_msg: its lines are bounded, a verifier log is not. */
	fprintf(stderr, "memshed: libbpf: %s\n", msg);
	free(msg);
	return 0;
}

/* A tracepoint missing from this kernel (e.g. CONFIG_COMPACTION=n):
 * libbpf looks up btf_trace_<name> for tp_btf programs. */
static bool kernel_has_tracepoint(const struct btf *vmlinux, const char *name)
{
	char type[128];

	snprintf(type, sizeof(type), "btf_trace_%s", name);
	return btf__find_by_name_kind(vmlinux, type, BTF_KIND_TYPEDEF) >= 0;
}

static void loader_select_programs(struct memshed *skel, const char *btf_path)
{
	/* Parsed once here (libbpf_find_vmlinux_btf_id would parse the
	 * kernel's BTF, megabytes, once per program). */
	struct btf *vmlinux = btf_path ? btf__parse(btf_path, NULL) : btf__load_vmlinux_btf();
	struct bpf_program *prog;

	if (!vmlinux)
		return;		/* loading will say what is wrong */
	bpf_object__for_each_program(prog, skel->obj) {
		const char *sec = bpf_program__section_name(prog);

		if (!strncmp(sec, "tp_btf/", 7) && !kernel_has_tracepoint(vmlinux, sec + 7)) {
			log_info("kernel has no tracepoint %s: %s is off", sec + 7,
				 bpf_program__name(prog));
			bpf_program__set_autoload(prog, false);
		}
	}
	btf__free(vmlinux);
}

/*
 * The kernel programs' object (memshed.bpf.o, 180 KiB in .rodata) is read
 * only while loading: let go of its pages. They are file pages never
 * written, so a read after this would only fault in the same bytes; they
 * are never read again, so they need not stay locked either.
 */
static void loader_release_object(void)
{
	uintptr_t ps = sysconf(_SC_PAGESIZE), lo, hi;
	size_t sz;
	const void *p = memshed__elf_bytes(&sz);

	lo = ((uintptr_t)p + ps - 1) & ~(ps - 1);
	hi = ((uintptr_t)p + sz) & ~(ps - 1);
	if (hi > lo && munlock((void *)lo, hi - lo) == 0)
		madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

static enum loader_error loader_classify(int err)
{
	if (err == -EPERM || err == -EACCES)
		return LOADER_NO_PRIVILEGE;
	if (err == -ENOENT || err == -ESRCH)
		return LOADER_NO_BTF;
	return LOADER_REJECTED;
}

static void loader_explain(enum loader_error why, int err, const char *step)
{
	switch (why) {
	case LOADER_NO_PRIVILEGE:
		log_err("%s BPF programs: %s; run as root (CAP_BPF, CAP_PERFMON, CAP_SYS_RESOURCE)",
			step, strerror(-err));
		break;
	case LOADER_NO_BTF:
		log_err("%s BPF programs: %s; this kernel has no usable BTF "
			"(/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF=y is needed), "
			"or run with --no-bpf", step, strerror(-err));
		break;
	default:
		log_err("%s BPF programs: %s; the kernel rejected a program: run with -v "
			"for the verifier log, or --no-bpf", step, strerror(-err));
	}
}

static int perf_open_faults(pid_t tid, uint32_t period)
{
	struct perf_event_attr a = {
		.type = PERF_TYPE_SOFTWARE,
		.size = sizeof(a),
		.config = PERF_COUNT_SW_PAGE_FAULTS,
		.sample_period = period,
		.inherit = 1,		/* children and new threads too */
		.exclude_hv = 1,
	};
	int fd = syscall(SYS_perf_event_open, &a, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int loader_watch_faults(struct loader *ld, pid_t tid)
{
	int fd;

	if (!ld->faults)
		return -EOPNOTSUPP;
	fd = perf_open_faults(tid, ld->fault_period);
	if (fd < 0)
		return fd;
	if (ioctl(fd, PERF_EVENT_IOC_SET_BPF, bpf_program__fd(ld->skel->progs.sample_faults)) ||
	    ioctl(fd, PERF_EVENT_IOC_ENABLE, 0)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* Can this host sample faults per task (perf events, perf_event_paranoid)? */
static bool faults_supported(struct loader *ld)
{
	int fd = loader_watch_faults(ld, getpid());

	if (fd < 0) {
		log_warn("page-fault sampling unavailable (%s): rss_mode auto falls back to the "
			 "rss_stat tracepoint", strerror(-fd));
		return false;
	}
	close(fd);
	return true;
}

static int loader_attach(struct loader *ld, const struct loader_opts *o)
{
	/* rss_stat runs on every RSS change of every process: attached only
	 * in rss_mode tracepoint (or where fault sampling is unavailable). */
	bpf_program__set_autoattach(ld->skel->progs.handle_rss_stat, false);
	/* tcp_probe runs for every segment received: only while a component
	 * is hibernated. */
	bpf_program__set_autoattach(ld->skel->progs.handle_tcp_probe, false);
	/* sock_recv_length runs for every receive on the host: only while a
	 * labelled process holds a socket the sample pass cannot read. */
	bpf_program__set_autoattach(ld->skel->progs.handle_sock_recv, false);
	if (memshed__attach(ld->skel))
		return -errno;
	ld->faults = o->rss_mode == RSS_AUTO;
	if (ld->faults)
		ld->faults = faults_supported(ld);
	if (o->rss_mode == RSS_TRACEPOINT || (o->rss_mode == RSS_AUTO && !ld->faults))
		return loader_rss_tracepoint(ld, true);
	return 0;
}

static int loader_on_record(void *ctx, void *data, size_t size)
{
	struct loader *ld = ctx;

	if (size < sizeof(struct memshed_event))
		return 0;
	return ld->on_event(ld->on_event_ctx, data);
}

/*
 * Map the records of comp_ids 0..nr. The array is MEMSHED_MAX_COMPONENTS
 * long, but the kernel maps every page of a mapping up front: map what the
 * config uses (a page holds 42 records of 96 bytes), not 384 KiB for 4,095.
 */
static int loader_map_comps(struct loader *ld, uint32_t nr)
{
	size_t len = ((nr + 1) * sizeof(struct memshed_comp) + 4095) & ~4095ul;
	void *m;

	if (len == ld->comps_len)
		return 0;
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(ld->skel->maps.comps), 0);
	if (m == MAP_FAILED)
		return -errno;
	if (ld->comps)
		munmap(ld->comps, ld->comps_len);
	ld->comps = m;
	ld->comps_len = len;
	return 0;
}

static int loader_open_rings(struct loader *ld)
{
	/* The decision ring first: ring_buffer__consume drains in this order. */
	ld->rb = ring_buffer__new(bpf_map__fd(ld->skel->maps.events), loader_on_record, ld, NULL);
	if (!ld->rb)
		return -errno;
	if (ring_buffer__add(ld->rb, bpf_map__fd(ld->skel->maps.info), loader_on_record, ld))
		return -errno;
	return 0;
}

int loader_start(struct loader *ld, const struct loader_opts *o,
		 loader_event_fn on_event, void *ctx, enum loader_error *ret_why)
{
	LIBBPF_OPTS(bpf_object_open_opts, open_opts, .btf_custom_path = o->btf_path);
	struct memshed *skel;
	int err;

	memset(ld, 0, sizeof(*ld));
	loader_verbose = o->verbose;
	libbpf_set_print(loader_libbpf_print);
	*ret_why = LOADER_OK;

	if (!o->btf_path && access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
		err = -errno;
		*ret_why = err == -EACCES ? LOADER_NO_PRIVILEGE : LOADER_NO_BTF;
		loader_explain(*ret_why, err, "cannot load");
		return err;
	}
	skel = memshed__open_opts(&open_opts);
	if (!skel) {
		err = -errno;
		*ret_why = loader_classify(err);
		loader_explain(*ret_why, err, "cannot open");
		return err;
	}
	ld->skel = skel;
	ld->fault_period = o->fault_period ? o->fault_period : 16;
	skel->rodata->page_shift = __builtin_ctz(sysconf(_SC_PAGESIZE));
	skel->rodata->nr_cpus = libbpf_num_possible_cpus() > 0 ? libbpf_num_possible_cpus() : 1;
	skel->rodata->stall_threshold_ns = o->stall_threshold_ns;
	if (o->info_wake_ns)
		skel->rodata->info_wake_ns = o->info_wake_ns;
	if (o->info_unlimited)
		skel->rodata->info_interval_ns = 0;	/* every event is within budget */
	bpf_map__set_max_entries(skel->maps.info, o->ringbuf_size);
	loader_select_programs(skel, o->btf_path);

	err = memshed__load(skel);
	if (err) {
		*ret_why = loader_classify(err);
		loader_explain(*ret_why, err, "cannot load");
		goto fail;
	}
	loader_release_object();
	err = loader_attach(ld, o);
	if (err) {
		*ret_why = loader_classify(err);
		loader_explain(*ret_why, err, "cannot attach");
		goto fail;
	}
	ld->on_event = on_event;
	ld->on_event_ctx = ctx;
	err = loader_open_rings(ld);
	if (!err)
		err = loader_map_comps(ld, 0);
	if (err) {
		*ret_why = LOADER_REJECTED;
		log_err("cannot open the kernel's rings and maps: %s", strerror(-err));
		goto fail;
	}
	return 0;
fail:
	loader_stop(ld);
	return err;
}

void loader_stop(struct loader *ld)
{
	if (ld->comps)
		munmap(ld->comps, ld->comps_len);
	ring_buffer__free(ld->rb);
	memshed__destroy(ld->skel);	/* detaches every link */
	memset(ld, 0, sizeof(*ld));
}

int loader_epoll_fd(const struct loader *ld)
{
	return ring_buffer__epoll_fd(ld->rb);
}

int loader_poll_events(struct loader *ld)
{
	return ring_buffer__consume(ld->rb);
}

int loader_label(struct loader *ld, int pidfd, pid_t tgid, uint32_t comp_id)
{
	struct memshed_task_label label = { .comp_id = comp_id };
	struct memshed_proc proc = { .comp_id = comp_id, .sample_pass = (__u32)ld->sample_pass };
	int procs_fd = bpf_map__fd(ld->skel->maps.procs);
	__u32 key = tgid;

	if (bpf_map_update_elem(bpf_map__fd(ld->skel->maps.task_labels), &pidfd, &label, BPF_ANY))
		return -errno;
	/* A relabel keeps the record; the next pass moves its memory to the
	 * new component (the sums are rebuilt from the records). */
	if (bpf_map_update_elem(procs_fd, &key, &proc, BPF_NOEXIST) == 0)
		return 0;
	if (errno != EEXIST || bpf_map_lookup_elem(procs_fd, &key, &proc))
		return -errno;
	proc.comp_id = comp_id;
	return bpf_map_update_elem(procs_fd, &key, &proc, BPF_EXIST) ? -errno : 0;
}

int loader_unlabel(struct loader *ld, int pidfd, pid_t tgid)
{
	__u32 key = tgid;

	if (pidfd >= 0)
		bpf_map_delete_elem(bpf_map__fd(ld->skel->maps.task_labels), &pidfd);
	/* Its memory leaves the sums at the next pass, which rebuilds them. */
	bpf_map_delete_elem(bpf_map__fd(ld->skel->maps.procs), &key);
	return 0;
}

int loader_queue_labels(struct loader *ld, const uint32_t *tgids,
			const struct memshed_pending_label *labels, uint32_t n)
{
	int fd = bpf_map__fd(ld->skel->maps.pending_labels);
	__u32 count = n;

	if (!n)
		return 0;
	if (bpf_map_update_batch(fd, tgids, labels, &count, NULL) == 0)
		return 0;
	/* Kernels without batch ops for hash maps: one by one. */
	for (uint32_t i = count; i < n; i++)
		if (bpf_map_update_elem(fd, &tgids[i], &labels[i], BPF_ANY))
			return -errno;
	return 0;
}

int loader_set_exec_events(struct loader *ld, bool on)
{
	ld->skel->bss->exec_events = on;
	return 0;
}

int loader_set_exec_filter(struct loader *ld, const char *const *comms, int n)
{
	int fd = bpf_map__fd(ld->skel->maps.exec_comms);
	char key[MEMSHED_COMM_LEN];
	__u8 one = 1;

	ld->skel->bss->exec_filter = 0;		/* all execs while the set changes */
	while (bpf_map_get_next_key(fd, NULL, key) == 0)
		bpf_map_delete_elem(fd, key);
	if (!comms)
		return 0;
	for (int i = 0; i < n; i++) {
		memset(key, 0, sizeof(key));
		strncpy(key, comms[i], sizeof(key) - 1);
		if (bpf_map_update_elem(fd, key, &one, BPF_ANY))
			return -errno;
	}
	ld->skel->bss->exec_filter = 1;
	return 0;
}

/* Run an iterator once; its output, if any, to fn in whole records. */
static int loader_run_iter(struct bpf_link *link, size_t rec, int (*fn)(void *, const void *),
			   void *ctx)
{
	char buf[64 * 1024];
	size_t have = 0;
	ssize_t n;
	int fd, ret = 0;

	fd = bpf_iter_create(bpf_link__fd(link));
	if (fd < 0)
		return -errno;
	while ((n = read(fd, buf + have, sizeof(buf) - have)) > 0) {
		size_t off = 0;

		have += n;
		for (; fn && !ret && have - off >= rec; off += rec)
			ret = fn(ctx, buf + off);
		memmove(buf, buf + off, have - off);
		have -= off;
	}
	if (n < 0)
		ret = -errno;
	close(fd);
	return ret;
}

struct dump_ctx {
	loader_task_fn fn;
	void *ctx;
};

static int loader_dump_one(void *ctx, const void *rec)
{
	struct dump_ctx *d = ctx;

	return d->fn(d->ctx, rec);
}

int loader_dump_tasks(struct loader *ld, loader_task_fn fn, void *ctx)
{
	struct dump_ctx d = { fn, ctx };

	return loader_run_iter(ld->skel->links.dump_tasks, sizeof(struct memshed_task_info),
			       loader_dump_one, &d);
}

/* A detached hook misses receives until the next pass that wants it: it
 * stays attached this long after the last such socket was seen, so a
 * process opening and closing one now and then does not flip it. */
#define RECV_HOOK_LINGER_NS	(60 * 1000000000ull)

/* Attach or detach the receive hook as the pass just run found. */
static void recv_hook_update(struct loader *ld, uint64_t now)
{
	struct memshed *skel = ld->skel;
	bool want;

	if (skel->bss->recv_uncovered)
		ld->recv_wanted_ns = now;
	want = ld->recv_wanted_ns && now - ld->recv_wanted_ns < RECV_HOOK_LINGER_NS;
	if (want == !!skel->links.handle_sock_recv)
		return;
	if (want) {
		skel->links.handle_sock_recv = bpf_program__attach(skel->progs.handle_sock_recv);
		if (!skel->links.handle_sock_recv && !ld->recv_hook_failed++)
			log_warn("cannot attach the receive hook: %s (UNIX and UDP receives go unseen)",
				 strerror(errno));
		return;
	}
	bpf_link__destroy(skel->links.handle_sock_recv);
	skel->links.handle_sock_recv = NULL;
}

bool loader_recv_hook(const struct loader *ld)
{
	return ld->skel->links.handle_sock_recv != NULL;
}

int loader_sample(struct loader *ld)
{
	int err;

	ld->skel->bss->sample_pass = ++ld->sample_pass;
	ld->skel->bss->recv_uncovered = 0;
	err = loader_run_iter(ld->skel->links.sample_procs, 1, NULL, NULL);
	if (!err)
		recv_hook_update(ld, now_mono_ns());
	return err;
}

/* Empty a hash map (small: sockets of labelled processes). */
static void map_clear(struct bpf_map *map, void *key)
{
	int fd = bpf_map__fd(map);

	while (bpf_map_get_next_key(fd, NULL, key) == 0)
		bpf_map_delete_elem(fd, key);
}

int loader_mark_sockets(struct loader *ld, bool conns)
{
	struct memshed_listener_key lk;
	struct memshed_conn_key ck;

	/* Rebuilt from what is open now: closed sockets drop out. */
	map_clear(ld->skel->maps.listeners, &lk);
	if (conns) {
		map_clear(ld->skel->maps.conns, &ck);
		memset(ld->skel->bss->conn_ports, 0, sizeof(ld->skel->bss->conn_ports));
	}
	ld->skel->bss->mark_conns = conns;
	return loader_run_iter(ld->skel->links.mark_sockets, 1, NULL, NULL);
}

int loader_knock_probe(struct loader *ld, bool on)
{
	struct memshed *skel = ld->skel;

	if (on == !!skel->links.handle_tcp_probe)
		return 0;
	if (on) {
		skel->links.handle_tcp_probe = bpf_program__attach(skel->progs.handle_tcp_probe);
		return skel->links.handle_tcp_probe ? 0 : -errno;
	}
	bpf_link__destroy(skel->links.handle_tcp_probe);
	skel->links.handle_tcp_probe = NULL;
	return 0;
}

struct memshed_comp *loader_comp(struct loader *ld, uint32_t comp_id)
{
	if (!ld->comps || comp_id == 0 || comp_id > ld->skel->bss->nr_comps ||
	    comp_id >= ld->comps_len / sizeof(*ld->comps))
		return NULL;
	return &ld->comps[comp_id];
}

int loader_set_components(struct loader *ld, uint32_t nr_comps)
{
	uint32_t old = ld->skel->bss->nr_comps;
	int err;

	/* Records of ids past the end are history: forget them. */
	for (uint32_t id = nr_comps + 1; id <= old && loader_comp(ld, id); id++)
		memset(&ld->comps[id], 0, sizeof(ld->comps[id]));
	ld->skel->bss->nr_comps = nr_comps;
	err = loader_map_comps(ld, nr_comps);
	if (err)
		log_err("cannot map the records of %u components: %s", nr_comps, strerror(-err));
	return err;
}

void loader_set_idle_cpu(struct loader *ld, double share, uint64_t window_ns)
{
	ld->skel->bss->idle_cpu_ppm = (uint64_t)(share * 1e6 + 0.5);
	ld->skel->bss->cpu_window_ns = window_ns;
}

int loader_for_each_proc(struct loader *ld,
			 int (*fn)(void *ctx, pid_t tgid, const struct memshed_proc *p),
			 void *ctx)
{
	enum { BATCH = 256 };
	int fd = bpf_map__fd(ld->skel->maps.procs);
	__u32 keys[BATCH], cursor, *in = NULL;
	struct memshed_proc vals[BATCH];
	int ret = 0, err;

	/* Batches walk the hash by bucket, so an entry deleted or added under
	 * the walk never makes it start over and count others twice. */
	do {
		__u32 n = BATCH;

		err = bpf_map_lookup_batch(fd, in, &cursor, keys, vals, &n, NULL);
		if (err && errno != ENOENT)
			return -errno;
		for (__u32 i = 0; i < n && !ret; i++)
			ret = fn(ctx, keys[i], &vals[i]);
		in = &cursor;
	} while (!err && !ret);
	return ret;
}

void loader_set_budget(struct loader *ld, const uint64_t bytes[NR_LEVELS])
{
	for (int i = 0; i < NR_LEVELS; i++)
		ld->skel->bss->budget_bytes[i] = bytes[i];
}

uint64_t loader_usage(const struct loader *ld)
{
	return __atomic_load_n(&ld->skel->bss->usage_total, __ATOMIC_RELAXED);
}

void loader_drops(const struct loader *ld, struct loader_drops *ret)
{
	ret->events = __atomic_load_n(&ld->skel->bss->ringbuf_drops, __ATOMIC_RELAXED);
	ret->info = __atomic_load_n(&ld->skel->bss->info_drops, __ATOMIC_RELAXED);
	ret->limited = __atomic_load_n(&ld->skel->bss->info_limited, __ATOMIC_RELAXED);
}

int loader_rss_tracepoint(struct loader *ld, bool on)
{
	struct memshed *skel = ld->skel;

	if (on == ld->rss_tracepoint_attached)
		return 0;
	if (on) {
		skel->links.handle_rss_stat = bpf_program__attach(skel->progs.handle_rss_stat);
		if (!skel->links.handle_rss_stat)
			return -errno;
		/* Catch up on changes made while detached. */
		loader_sample(ld);
	} else {
		bpf_link__destroy(skel->links.handle_rss_stat);
		skel->links.handle_rss_stat = NULL;
	}
	ld->rss_tracepoint_attached = on;
	return 0;
}
