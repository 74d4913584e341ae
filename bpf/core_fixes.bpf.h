/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Kernel differences, in one place, chosen with CO-RE relocations (never
 * by version number).
 */
#ifndef MEMSHED_CORE_FIXES_H
#define MEMSHED_CORE_FIXES_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>

/*
 * Linux 6.2 (f1a7941243c1 "mm: convert mm's rss stats into percpu_counter")
 * turned mm->rss_stat from atomic counters into percpu_counters. The folded
 * value (get_mm_counter()) lags the per-CPU sum, which newer kernels show
 * as VmRSS, by up to the percpu batch per CPU: 2-3% of a 4 MiB nginx
 * worker. The fault path reads the folded value (a crossing is seen within
 * that); the sample pass sums the parts (mm_rss_read() in rss.bpf.h).
 */
struct mm_rss_stat___old {
	atomic_long_t count[4];
} __attribute__((preserve_access_index));

/* Only exists (as struct mm_rss_stat) on kernels before 6.2. */
struct mm_rss_stat___old_probe {
	atomic_long_t count[4];
};

struct mm_struct___old {
	struct mm_rss_stat___old rss_stat;
} __attribute__((preserve_access_index));

static __always_inline long mm_counter(struct mm_struct *mm, int member)
{
	long v;

	if (!bpf_core_type_exists(struct mm_rss_stat___old_probe)) {
		v = BPF_CORE_READ(mm, rss_stat[member & 3].count);
	} else {
		struct mm_struct___old *old = (void *)mm;

		v = BPF_CORE_READ(old, rss_stat.count[member & 3].counter);
	}
	return v > 0 ? v : 0;	/* like percpu_counter_read_positive() */
}

/*
 * Linux 6.1 (2b97cf76289a "sched/psi: Allocate per-cgroup PSI dynamically")
 * made cgroup->psi a pointer; before it was embedded.
 */
struct cgroup___psi_embedded {
	struct psi_group psi;
} __attribute__((preserve_access_index));

static __always_inline struct psi_group *cgroup_psi(struct cgroup *cgrp)
{
	if (bpf_core_field_size(cgrp->psi) == sizeof(void *))
		return BPF_CORE_READ(cgrp, psi);
	return &((struct cgroup___psi_embedded *)cgrp)->psi;
}

#endif
