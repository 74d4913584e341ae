// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Open, configure, load and attach the kernel programs; own their maps. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "memshed.skel.h"
#include "loader.h"
#include "output.h"

static bool loader_verbose;

/* libbpf's own messages: shown with -v only, through our log. */
static int loader_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char msg[1024];
	size_t n;

	/* Failures are explained by loader_explain(); the details (verifier
	 * log, relocations) are for -v. */
	if (!loader_verbose || level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	if (n && msg[n - 1] == '\n')
		msg[n - 1] = '\0';
	log_msg(LOG_DEBUG, "libbpf: %s", msg);
	return 0;
}

/* A tracepoint missing from this kernel (e.g. CONFIG_COMPACTION=n). */
static bool kernel_has_tracepoint(const char *name)
{
	/* libbpf looks up btf_trace_<name> for this attach type. */
	return libbpf_find_vmlinux_btf_id(name, BPF_TRACE_RAW_TP) >= 0;
}

static void loader_select_programs(struct memshed *skel, const struct loader_opts *o)
{
	struct bpf_program *prog;

	bpf_object__for_each_program(prog, skel->obj) {
		const char *sec = bpf_program__section_name(prog);

		if (!strncmp(sec, "tp_btf/", 7) && !kernel_has_tracepoint(sec + 7)) {
			log_info("kernel has no tracepoint %s: %s is off", sec + 7,
				 bpf_program__name(prog));
			bpf_program__set_autoload(prog, false);
		}
	}
	/* The iterator is always loaded; it is run, never attached. */
	if (o->activity_source != ACTIVITY_SCHED_SWITCH)
		bpf_program__set_autoload(skel->progs.handle_sched_switch, false);
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

static int loader_attach(struct loader *ld, const struct loader_opts *o)
{
	/* In sample and auto modes rss_stat is attached only on demand. */
	bpf_program__set_autoattach(ld->skel->progs.handle_rss_stat,
				    o->rss_mode == RSS_TRACEPOINT);
	if (memshed__attach(ld->skel))
		return -errno;
	ld->rss_tracepoint_attached = o->rss_mode == RSS_TRACEPOINT;
	return 0;
}

static int loader_on_sample(void *ctx, void *data, size_t size)
{
	struct loader *ld = ctx;

	if (size < sizeof(struct memshed_event))
		return 0;
	return ld->on_event(ld->on_event_ctx, data);
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
	skel->rodata->page_shift = __builtin_ctz(sysconf(_SC_PAGESIZE));
	skel->rodata->stall_threshold_ns = o->stall_threshold_ns;
	bpf_map__set_max_entries(skel->maps.events, o->ringbuf_size);
	loader_select_programs(skel, o);

	err = memshed__load(skel);
	if (err) {
		*ret_why = loader_classify(err);
		loader_explain(*ret_why, err, "cannot load");
		goto fail;
	}
	err = loader_attach(ld, o);
	if (err) {
		*ret_why = loader_classify(err);
		loader_explain(*ret_why, err, "cannot attach");
		goto fail;
	}
	ld->on_event = on_event;
	ld->on_event_ctx = ctx;
	ld->rb = ring_buffer__new(bpf_map__fd(skel->maps.events), loader_on_sample, ld, NULL);
	if (!ld->rb) {
		err = -errno;
		*ret_why = LOADER_REJECTED;
		log_err("cannot open the event ring buffer: %s", strerror(-err));
		goto fail;
	}
	return 0;
fail:
	loader_stop(ld);
	return err;
}

void loader_stop(struct loader *ld)
{
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
	struct memshed_proc proc = { .comp_id = comp_id }, old;
	int procs_fd = bpf_map__fd(ld->skel->maps.procs);
	__u32 key = tgid;

	/* Relabelling: its memory moves from the old component. */
	if (bpf_map_lookup_elem(procs_fd, &key, &old) == 0 && old.comp_id != comp_id)
		loader_unlabel(ld, pidfd, tgid);
	if (bpf_map_update_elem(bpf_map__fd(ld->skel->maps.task_labels), &pidfd, &label, BPF_ANY))
		return -errno;
	if (bpf_map_update_elem(procs_fd, &key, &proc, BPF_NOEXIST) && errno != EEXIST)
		return -errno;
	return 0;
}

int loader_unlabel(struct loader *ld, int pidfd, pid_t tgid)
{
	int procs_fd = bpf_map__fd(ld->skel->maps.procs);
	struct memshed_proc p;
	struct memshed_comp c;
	__u32 key = tgid;

	bpf_map_delete_elem(bpf_map__fd(ld->skel->maps.task_labels), &pidfd);
	if (bpf_map_lookup_elem(procs_fd, &key, &p))
		return 0;
	bpf_map_delete_elem(procs_fd, &key);
	/* Take its memory out of the sums (races with the tracepoint are
	 * bounded by one update; the next sample corrects the sums). */
	if (bpf_map_lookup_elem(bpf_map__fd(ld->skel->maps.comps), &p.comp_id, &c) == 0) {
		c.rss_total = c.rss_total > p.rss_total ? c.rss_total - p.rss_total : 0;
		bpf_map_update_elem(bpf_map__fd(ld->skel->maps.comps), &p.comp_id, &c, BPF_ANY);
	}
	__atomic_fetch_sub(&ld->skel->bss->usage_total, p.rss_total, __ATOMIC_SEQ_CST);
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

int loader_sample(struct loader *ld)
{
	char buf[64];
	int fd, n;

	ld->skel->bss->sample_pass = ++ld->sample_pass;
	fd = bpf_iter_create(bpf_link__fd(ld->skel->links.sample_procs));
	if (fd < 0)
		return -errno;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		;
	close(fd);
	return n < 0 ? -errno : 0;
}

int loader_read_proc(struct loader *ld, pid_t tgid, struct memshed_proc *ret)
{
	__u32 key = tgid;

	return bpf_map_lookup_elem(bpf_map__fd(ld->skel->maps.procs), &key, ret) ? -errno : 0;
}

int loader_read_comp(struct loader *ld, uint32_t comp_id, struct memshed_comp *ret)
{
	return bpf_map_lookup_elem(bpf_map__fd(ld->skel->maps.comps), &comp_id, ret) ? -errno : 0;
}

void loader_forget_comp(struct loader *ld, uint32_t comp_id)
{
	struct memshed_comp zero = {};

	bpf_map_update_elem(bpf_map__fd(ld->skel->maps.comps), &comp_id, &zero, BPF_ANY);
}

int loader_for_each_proc(struct loader *ld,
			 int (*fn)(void *ctx, pid_t tgid, const struct memshed_proc *p),
			 void *ctx)
{
	int fd = bpf_map__fd(ld->skel->maps.procs);
	__u32 key, next, *prev = NULL;
	struct memshed_proc p;
	int ret;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &p))
			continue;	/* exited meanwhile */
		ret = fn(ctx, key, &p);
		if (ret)
			return ret;
	}
	return 0;
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

uint32_t loader_budget_level(const struct loader *ld)
{
	return __atomic_load_n(&ld->skel->bss->budget_level, __ATOMIC_RELAXED);
}

uint64_t loader_drops(const struct loader *ld)
{
	return __atomic_load_n(&ld->skel->bss->ringbuf_drops, __ATOMIC_RELAXED);
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
