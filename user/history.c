// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The history records (history.h): coalesced, so that the on-disk ring
 * keeps days of them. A sample is written when usage moved by 1/128 of the
 * limit, a PSI average by a point, the level or the triggers' level or
 * swap changed; a component's state when its processes, state or lease
 * changed, its memory by 1/16 (at least 1 MiB), or it went busy or quiet.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eventlog.h"
#include "history.h"
#include "pressure.h"
#include "registry.h"

#define MIB	(1ull << 20)

static uint64_t absdiff(uint64_t a, uint64_t b)
{
	return a > b ? a - b : b - a;
}

static bool comp_changed(const struct history_comp *h, const struct component *c)
{
	uint64_t step = h->rss / 16 > MIB ? h->rss / 16 : MIB;

	return strcmp(h->name, c->cfg->name) || h->nr_procs != c->nr_procs ||
	       h->state != (int)c->state || h->held != c->held ||
	       absdiff(h->rss, c->rss_total) >= step;
}

/* Busy as history.h says: accessed again soon after the last record, until
 * quiet for HISTORY_QUIET_NS. */
static bool comp_busy(const struct history_comp *h, const struct component *c, uint64_t now)
{
	bool accessed = c->last_access_ns > h->last_access_ns;

	if (h->busy)
		return c->last_access_ns + HISTORY_QUIET_NS > now;
	return accessed && h->written_ns + HISTORY_QUIET_NS > now;
}

static void emit_state(const struct component *c, bool busy, uint64_t now)
{
	struct ev ev;

	ev_begin(&ev, "state", now);
	ev_str(&ev, "component", c->cfg->name);
	ev_str(&ev, "state", comp_state_name(c->state));
	ev_int(&ev, "pids", c->nr_procs);
	ev_bytes(&ev, "rss", c->rss_total);
	ev_bytes(&ev, "anon", c->rss[MEMSHED_RSS_ANON]);
	ev_bytes(&ev, "file", c->rss[MEMSHED_RSS_FILE]);
	ev_bytes(&ev, "shmem", c->rss[MEMSHED_RSS_SHMEM]);
	ev_int(&ev, "last_access_ns", (int64_t)c->last_access_ns);
	ev_str(&ev, "access", access_kind_name(c->last_access));
	ev_int(&ev, "busy", busy);
	if (c->held)
		ev_int(&ev, "held_until_ns", (int64_t)c->hold_until_ns);
	ev_emit(&ev);
}

static void record_comps(struct history *h, const struct registry *reg, uint64_t now)
{
	if (h->nr_comps != reg->nr_comps) {
		struct history_comp *n = calloc(reg->nr_comps ? reg->nr_comps : 1, sizeof(*n));

		if (!n)
			return;
		free(h->comps);
		h->comps = n;
		h->nr_comps = reg->nr_comps;
	}
	for (int i = 0; i < reg->nr_comps; i++) {
		const struct component *c = &reg->comps[i];
		struct history_comp *hc = &h->comps[i];
		bool fresh = !h->started || strcmp(hc->name, c->cfg->name);
		bool busy = !fresh && comp_busy(hc, c, now);

		/* A new access is written, unless it is part of a busy spell. */
		if (!fresh && !comp_changed(hc, c) && busy == hc->busy &&
		    (busy || c->last_access_ns <= hc->last_access_ns))
			continue;
		emit_state(c, busy, now);
		snprintf(hc->name, sizeof(hc->name), "%s", c->cfg->name);
		hc->rss = c->rss_total;
		hc->nr_procs = c->nr_procs;
		hc->state = c->state;
		hc->held = c->held;
		hc->busy = busy;
		hc->last_access_ns = c->last_access_ns;
		hc->written_ns = now;
	}
}

static bool moved(double a, double b, double step)
{
	return fabs(a - b) >= step;
}

static bool sample_changed(const struct history *h, const struct pressure *p,
			   const struct registry *reg)
{
	uint64_t swap_step = reg->swap.total / 16 > 16 * MIB ? reg->swap.total / 16 : 16 * MIB;
	uint64_t usage_step = p->limit / 128 ? p->limit / 128 : 1;

	return !h->started || absdiff(h->usage, p->usage) >= usage_step ||
	       moved(h->some, p->psi.some[0], 1.0) || moved(h->full, p->psi.full[0], 1.0) ||
	       h->level != (int)p->level || h->trigger != (int)p->trigger_level ||
	       absdiff(h->swap_free, reg->swap.free) >= swap_step;
}

static const char *source_name(const struct config *cfg)
{
	switch (cfg->usage_source) {
	case USAGE_SYSTEM: return "system";
	case USAGE_CGROUP: return "cgroup";
	default: return "components";
	}
}

static void emit_sample(const struct pressure *p, const struct registry *reg, uint64_t now)
{
	struct ev ev;

	ev_begin(&ev, "sample", now);
	ev_str(&ev, "level", level_name(p->level));
	ev_str(&ev, "source", source_name(p->cfg));
	ev_bytes(&ev, "usage", p->usage);
	ev_bytes(&ev, "limit", p->limit);
	ev_float(&ev, "psi_some_avg10", p->psi.some[0]);
	ev_float(&ev, "psi_full_avg10", p->psi.full[0]);
	ev_str(&ev, "psi_trigger", level_name(p->trigger_level));
	ev_bytes(&ev, "swap_total", reg->swap.total);
	ev_bytes(&ev, "swap_free", reg->swap.free);
	ev_emit(&ev);
}

void history_record(struct history *h, const struct registry *reg, const struct pressure *p,
		    uint64_t now)
{
	record_comps(h, reg, now);
	if (!sample_changed(h, p, reg))
		return;
	emit_sample(p, reg, now);
	/* What was written is the reference: slow drift adds up to a step. */
	h->usage = p->usage;
	h->some = p->psi.some[0];
	h->full = p->psi.full[0];
	h->level = p->level;
	h->trigger = p->trigger_level;
	h->swap_free = reg->swap.free;
	h->started = true;
}

void history_reset(struct history *h)
{
	h->started = false;
}

void history_free(struct history *h)
{
	free(h->comps);
	memset(h, 0, sizeof(*h));
}

static bool type_is(const char *t, size_t left, const char *type)
{
	size_t n = strlen(type);

	return left > n && !memcmp(t, type, n) && t[n] == '"';
}

bool history_is_record(const char *json, size_t len)
{
	/* The type is the third key, before any field a process can set. */
	static const char key[] = "\"type\":\"";
	const char *t = memmem(json, len, key, sizeof(key) - 1);
	size_t left;

	if (!t)
		return false;
	t += sizeof(key) - 1;
	left = len - (t - json);
	return type_is(t, left, "sample") || type_is(t, left, "state");
}
