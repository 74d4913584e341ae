/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* What the operator reads: status, explain and metrics, as text, JSON or
 * Prometheus exposition format, rendered from the daemon's state. */
#ifndef MEMSHED_REPORT_H
#define MEMSHED_REPORT_H

#include <stdint.h>
#include "actuator.h"
#include "output.h"
#include "policy.h"
#include "pressure.h"
#include "registry.h"

struct report_counters {
	uint64_t unloads[NR_ACTIONS][JOB_NR_RESULTS];	/* by action kind, job result */
	uint64_t kernel_oom_kills;
	uint64_t ringbuf_drops;
	uint64_t events;
	uint64_t rounds;
	uint64_t control_refused;	/* control connections or requests turned away */
	bool bpf;
	bool dry_run;
};

struct report_input {
	const struct config *cfg;
	struct registry *reg;
	const struct pressure *pr;
	const struct report_counters *counters;
	uint64_t now_ns;
	uint64_t started_ns;
};

void report_status(struct strbuf *sb, const struct report_input *in, const char *format);
void report_explain(struct strbuf *sb, const struct report_input *in, int only_level,
		    bool json);
void report_metrics(struct strbuf *sb, const struct report_input *in);
/* Write the metrics to path atomically (tmp + rename), for node_exporter. */
int report_write_metrics_file(const char *path, const struct report_input *in);

#endif
