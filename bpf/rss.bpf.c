// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * RSS and CPU use of labelled processes, three ways:
 *  - sample_faults (rss_mode auto, the default): a software page-fault perf
 *    event on each labelled process runs it every few faults, so only
 *    labelled processes pay and a budget crossing is seen within a few
 *    pages of growth;
 *  - rss_stat tracepoint (rss_mode tracepoint): exact and instant, but it
 *    runs on every RSS change of every process on the host;
 *  - sample_procs, a task iterator the daemon runs when it wants fresh
 *    numbers: it applies pending labels, refreshes RSS, sums CPU runtime,
 *    reads the sockets of labelled processes (activity.bpf.h), and at the
 *    end of the pass resynchronises the component sums from the process
 *    records and classifies CPU use against idle_cpu.
 */
#include "memshed.bpf.h"
#include "rss.bpf.h"
#include "activity.bpf.h"

__u64 ringbuf_drops = 0;
__u64 info_drops = 0;
__u64 info_limited = 0;
__u64 info_lost[MEMSHED_EV_KERNEL_MAX] = {};
__u64 usage_total = 0;
__u64 budget_bytes[MEMSHED_NR_LEVELS] = {};
__u32 budget_level = 0;
__u64 sample_pass = 0;		/* bumped by user space before each pass */
__u32 nr_comps = 0;		/* comp_ids 1..nr_comps are in use */
__u64 idle_cpu_ppm = 0;		/* CPU share (of one CPU, ppm) that counts as use */
__u64 cpu_window_ns = 0;		/* shortest window a share is judged over (set by user space) */

const volatile __u32 page_shift = 12;
const volatile __u32 nr_cpus = 1;

/* Per-CPU offsets (see mm_counters_add_cpus()), learned by the first pass. */
__u64 cpu_off[MEMSHED_SUM_CPUS_MAX] = {};
__u32 cpu_off_known = 0;	/* 0 not yet tried, 1 learned, 2 cannot */
/* Written as a pointer and read back as a number: an address the program
 * may compute with. The verifier allows it with CAP_PERFMON (which the
 * page-fault perf events need anyway). */
static volatile __u64 addr_of;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} cpu_probe SEC(".maps");

static __noinline bool learn_cpu_offsets(void)
{
	__u32 zero = 0;
	__u64 base = 0;
	void *p;

	if (nr_cpus > MEMSHED_SUM_CPUS_MAX)
		return false;
	*(void **)&addr_of = &cpu_probe;
	if (bpf_probe_read_kernel(&base, sizeof(base),
				  (char *)addr_of + bpf_core_field_offset(struct bpf_array, pptrs)) ||
	    !base)
		return false;
	for (__u32 cpu = 0; cpu < MEMSHED_SUM_CPUS_MAX && cpu < nr_cpus; cpu++) {
		p = bpf_map_lookup_percpu_elem(&cpu_probe, &zero, cpu);
		if (!p)
			return false;
		*(void **)&addr_of = p;
		cpu_off[cpu] = addr_of - base;
	}
	return true;
}

/* Labels decided by user space for processes found by the scan, applied
 * by the next pass in one go (no syscall per process). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct memshed_pending_label);
} pending_labels SEC(".maps");

/* Per-component sums built during a pass, copied to comps at its end. */
struct comp_sum {
	__u64 pass;
	__u64 rss[MEMSHED_NR_RSS];
	__u64 rss_total;
	__u32 nr_procs;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MEMSHED_MAX_COMPONENTS);
	__type(key, __u32);
	__type(value, struct comp_sum);
} comp_sums SEC(".maps");

SEC("tp_btf/rss_stat")
int BPF_PROG(handle_rss_stat, struct mm_struct *mm, int member)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct memshed_proc *p;
	__u32 tgid;

	/* Fast path for the common case: an unlabelled task faulting on its
	 * own mm costs one task-storage lookup. */
	if (task->mm == mm) {
		if (!label_of(task))
			return 0;
		tgid = task->tgid;
	} else {
		/* Another task changed this mm (exit, reclaim, fork's copy):
		 * the mm's owner names the process. */
		tgid = BPF_CORE_READ(mm, owner, tgid);
	}
	p = bpf_map_lookup_elem(&procs, &tgid);
	if (p)
		proc_refresh(p, tgid, mm, false);
	return 0;
}

/* Every sample_period page faults of a labelled process (and of its
 * children and threads: the event is inherited). */
SEC("perf_event")
int sample_faults(struct bpf_perf_event_data *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct memshed_proc *p;
	__u32 tgid;

	if (!label_of(task) || !task->mm)
		return 0;
	tgid = task->tgid;
	p = bpf_map_lookup_elem(&procs, &tgid);
	if (p)
		proc_refresh(p, tgid, task->mm, false);
	return 0;
}

/* A label user space decided for this process, if it is still the same
 * process (start time), becomes its label now. */
static __always_inline void apply_pending(struct task_struct *task, __u32 tgid)
{
	struct memshed_pending_label *pl = bpf_map_lookup_elem(&pending_labels, &tgid);
	struct memshed_task_label *l;
	__u32 comp_id;

	if (!pl)
		return;
	comp_id = pl->comp_id;
	if (pl->start_time != task->start_time) {
		bpf_map_delete_elem(&pending_labels, &tgid);	/* recycled meanwhile */
		return;
	}
	bpf_map_delete_elem(&pending_labels, &tgid);
	if (!comp_id) {
		bpf_task_storage_delete(&task_labels, task);
		proc_untrack(tgid);
		return;
	}
	l = bpf_task_storage_get(&task_labels, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!l)
		return;
	l->comp_id = comp_id;
	proc_track(tgid, comp_id, task->start_time, NULL);
}

struct pass_ctx {
	__u64 now;
	__u64 pass;
	__u64 usage;
};

/* End of pass, per process record: CPU share over its window, and its
 * memory into the component's new sums. */
static long pass_proc(struct bpf_map *map, __u32 *tgid, struct memshed_proc *p,
		      struct pass_ctx *x)
{
	__u32 comp_id = p->comp_id;
	struct memshed_comp *c;
	struct comp_sum *s;
	__u64 span;

	if (p->sample_pass != (__u32)x->pass) {
		/* No such process in this pass: it exited unseen. */
		bpf_map_delete_elem(map, tgid);
		return 0;
	}
	c = comp_of(comp_id);
	s = bpf_map_lookup_elem(&comp_sums, &comp_id);
	if (!c || !s)
		return 0;
	span = x->now - p->cpu_base_ts;
	if (!p->cpu_base_ts || p->runtime_ns < p->cpu_base_ns) {
		p->cpu_base_ns = p->runtime_ns;
		p->cpu_base_ts = x->now;
	} else if (span >= (cpu_window_ns ? cpu_window_ns : NS_PER_SEC)) {
		/* share of one CPU >= idle_cpu, in integers: dt_run * 1e6 >= ppm * span */
		if (idle_cpu_ppm && (p->runtime_ns - p->cpu_base_ns) * 1000000 >= idle_cpu_ppm * span)
			c->last_cpu_ns = x->now;
		p->cpu_base_ns = p->runtime_ns;
		p->cpu_base_ts = x->now;
	}
	if (s->pass != x->pass) {
		__builtin_memset(s, 0, sizeof(*s));
		s->pass = x->pass;
	}
	for (int i = 0; i < MEMSHED_NR_RSS; i++)
		s->rss[i] += p->rss[i];
	s->rss_total += p->rss_total;
	s->nr_procs++;
	return 0;
}

/* End of pass, per component: the new sums replace the running ones. */
static long pass_comp(__u32 i, struct pass_ctx *x)
{
	__u32 comp_id = i + 1;
	struct memshed_comp *c = comp_of(comp_id);
	struct comp_sum *s = bpf_map_lookup_elem(&comp_sums, &comp_id);

	if (!c || !s)
		return 1;
	if (s->pass != x->pass)
		__builtin_memset(s, 0, sizeof(*s));
	for (int m = 0; m < MEMSHED_NR_RSS; m++)
		c->rss[m] = s->rss[m];
	c->nr_procs = s->nr_procs;
	c->rss_total = s->rss_total;	/* resynchronised */
	c->sample_ns = x->now;
	x->usage += s->rss_total;
	return 0;
}

static __always_inline void end_of_pass(void)
{
	struct pass_ctx x = { .now = bpf_ktime_get_ns(), .pass = sample_pass };
	__u32 n = nr_comps < MEMSHED_MAX_COMPONENTS ? nr_comps : MEMSHED_MAX_COMPONENTS - 1;

	bpf_for_each_map_elem(&procs, pass_proc, &x, 0);
	bpf_loop(n, pass_comp, &x, 0);
	__sync_lock_test_and_set(&usage_total, x.usage);
	usage_check(x.usage, 0, 0);
}

/* The time and the tick of this pass, read once. */
static __u64 clock_pass = 0, clock_ns = 0;
static __u32 clock_tick = 0;
static __u64 tick_ns0 = 0, tick_jiffies0 = 0;

/* HZ without the kernel's config: jiffies against the clock over a second
 * or more, snapped to the nearest of 1000, 300, 250 and 100. */
static __always_inline void tick_learn(__u64 now, __u64 jiffies)
{
	__u64 d;

	if (tick_ns)
		return;
	if (!tick_ns0 || jiffies <= tick_jiffies0) {
		tick_ns0 = now;
		tick_jiffies0 = jiffies;
		return;
	}
	if (now - tick_ns0 < NS_PER_SEC)
		return;
	d = (now - tick_ns0) / (jiffies - tick_jiffies0);
	tick_ns = d > 7000000 ? 10000000 : d > 3667000 ? 4000000 : d > 2167000 ? 3333333 : 1000000;
}

static __always_inline __u64 pass_clock(void)
{
	if (clock_pass != sample_pass) {
		__u64 jiffies = bpf_jiffies64();

		clock_pass = sample_pass;
		clock_ns = bpf_ktime_get_ns();
		clock_tick = (__u32)jiffies;
		tick_learn(clock_ns, jiffies);
		pass_fds_left = PASS_FDS_MAX;
	}
	return clock_ns;
}

/*
 * Visits every task. Leaders take their pending label and refresh their
 * process's RSS; every thread adds its CPU runtime to its process's total
 * for this pass (threads that exited left theirs in signal).
 */
SEC("iter/task")
int sample_procs(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct memshed_proc *p;
	__u32 tgid;

	if (!cpu_off_known)
		cpu_off_known = learn_cpu_offsets() ? 1 : 2;
	if (!task) {
		end_of_pass();
		return 0;
	}
	if (task->flags & PF_KTHREAD)
		return 0;
	tgid = task->tgid;
	if (task->pid == tgid)
		apply_pending(task, tgid);
	p = bpf_map_lookup_elem(&procs, &tgid);
	if (!p)
		return 0;
	if (task->pid == tgid) {
		if (!p->start_time)
			p->start_time = task->start_time;	/* labelled through a pidfd */
		if (p->start_time != task->start_time) {
			proc_untrack(tgid);	/* a stale record: the PID was recycled */
			return 0;
		}
	}
	if (p->sample_pass != (__u32)sample_pass) {
		p->sample_pass = (__u32)sample_pass;
		p->runtime_ns = task->signal->sum_sched_runtime;
	}
	p->runtime_ns += task->se.sum_exec_runtime;
	if (task->pid == tgid && task->mm)
		proc_refresh(p, tgid, task->mm, true);
	if (task->pid == tgid) {
		__u64 now = pass_clock();	/* before clock_tick is read */

		sockets_sample(task, p->comp_id, now, clock_tick);
	}
	return 0;
}
