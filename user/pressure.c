// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Pressure levels from usage and PSI, with hysteresis. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include "pressure.h"
#include "output.h"

#define NS_PER_US 1000ull
/* Without CAP_SYS_RESOURCE the kernel takes only windows that are
 * multiples of 2 s (psi_trigger_create: "unprivileged" triggers). */
#define PSI_WINDOW_UNIT_NS 2000000000ull

static uint64_t meminfo_field(const char *text, const char *key)
{
	const char *p = strstr(text, key);

	return p ? strtoull(p + strlen(key), NULL, 10) * 1024 : 0;
}

uint64_t mem_total_bytes(void)
{
	char buf[4096];

	if (read_file("/proc/meminfo", buf, sizeof(buf)) < 0)
		return 0;
	return meminfo_field(buf, "MemTotal:");
}

int usage_read_system(uint64_t *ret)
{
	char buf[4096];
	ssize_t err = read_file("/proc/meminfo", buf, sizeof(buf));

	if (err < 0)
		return err;
	*ret = meminfo_field(buf, "MemTotal:") - meminfo_field(buf, "MemAvailable:");
	return 0;
}

/* memory.current (v2) or memory.usage_in_bytes (v1). */
int usage_read_cgroup(const char *path, uint64_t *ret)
{
	static const char *const files[] = { "memory.current", "memory.usage_in_bytes" };
	char file[600], buf[64];

	for (size_t i = 0; i < 2; i++) {
		snprintf(file, sizeof(file), "%s/%s", path, files[i]);
		if (read_file(file, buf, sizeof(buf)) >= 0) {
			*ret = strtoull(buf, NULL, 10);
			return 0;
		}
	}
	return -ENOENT;
}

int psi_parse(const char *text, struct psi_avgs *ret)
{
	const char *line;
	int n = 0;

	memset(ret, 0, sizeof(*ret));
	for (line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		unsigned long long total;
		double a10, a60, a300;
		char kind[8];

		if (sscanf(line, "%7s avg10=%lf avg60=%lf avg300=%lf total=%llu",
			   kind, &a10, &a60, &a300, &total) != 5)
			continue;
		if (!strcmp(kind, "some")) {
			ret->some[0] = a10, ret->some[1] = a60, ret->some[2] = a300;
			ret->some_total_us = total;
			n++;
		} else if (!strcmp(kind, "full")) {
			ret->full[0] = a10, ret->full[1] = a60, ret->full[2] = a300;
			ret->full_total_us = total;
			n++;
		}
	}
	return n ? 0 : -EINVAL;
}

int psi_read(const char *path, struct psi_avgs *ret)
{
	char buf[512];
	ssize_t err = read_file(path, buf, sizeof(buf));

	return err < 0 ? err : psi_parse(buf, ret);
}

uint64_t pressure_limit(const struct config *cfg)
{
	if (cfg->total_limit_pct > 0)
		return (uint64_t)(mem_total_bytes() * (cfg->total_limit_pct / 100.0));
	return cfg->total_limit;
}

/* Remember the stall totals now; the newest reading is returned. */
static const struct psi_reading *psi_record(struct pressure *p, uint64_t now_ns)
{
	struct psi_reading *r = &p->readings[p->next_reading % PSI_READINGS];

	if (psi_read(p->psi_path, &p->psi) == 0) {
		*r = (struct psi_reading){ now_ns, p->psi.some_total_us, p->psi.full_total_us };
		p->next_reading++;
	}
	return &p->readings[(p->next_reading + PSI_READINGS - 1) % PSI_READINGS];
}

static int psi_trigger_arm(struct pressure *p, struct psi_trigger *t, uint64_t now_ns)
{
	const struct psi_reading *r;
	char spec[64];
	int fd;

	fd = open(p->psi_path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	snprintf(spec, sizeof(spec), "%s %llu %llu", t->full ? "full" : "some",
		 (unsigned long long)t->stall_us, (unsigned long long)(p->window_ns / NS_PER_US));
	if (write(fd, spec, strlen(spec) + 1) < 0) {
		int err = -errno;

		close(fd);
		log_warn("cannot arm PSI trigger \"%s\" on %s: %s", spec, p->psi_path, strerror(-err));
		return err;
	}
	r = psi_record(p, now_ns);
	t->fd = fd;
	t->watched = false;
	t->armed_ns = now_ns;
	t->armed_total_us = t->full ? r->full_us : r->some_us;
	log_debug("PSI trigger %s level %s: \"%s\"", p->psi_path, level_name(t->level), spec);
	return 0;
}

static void psi_trigger_add(struct pressure *p, enum level level, bool full, double pct)
{
	struct psi_trigger *t = &p->triggers[p->nr_triggers];
	uint64_t stall_us = (uint64_t)(pct / 100.0 * p->window_ns / NS_PER_US);

	if (pct <= 0)
		return;
	*t = (struct psi_trigger){ .fd = -1, .level = level, .full = full,
				   .stall_us = stall_us < 1 ? 1 : stall_us };
	if (psi_trigger_arm(p, t, now_mono_ns()) == 0)
		p->nr_triggers++;
}

int pressure_init(struct pressure *p, const struct config *cfg)
{
	uint64_t w = cfg->psi_window_ns;

	memset(p, 0, sizeof(*p));
	p->cfg = cfg;
	p->limit = pressure_limit(cfg);
	if (cfg->psi_cgroup)
		snprintf(p->psi_path, sizeof(p->psi_path), "%s/memory.pressure", cfg->psi_cgroup);
	else
		snprintf(p->psi_path, sizeof(p->psi_path), "/proc/pressure/memory");
	p->window_ns = (w + PSI_WINDOW_UNIT_NS - 1) / PSI_WINDOW_UNIT_NS * PSI_WINDOW_UNIT_NS;
	if (p->window_ns != w)
		log_info("psi_window %.3fs rounded up to %.0fs: without CAP_SYS_RESOURCE the "
			 "kernel accepts only multiples of 2s", w / 1e9, p->window_ns / 1e9);
	for (int l = LEVEL_MEDIUM; l < NR_LEVELS; l++) {
		psi_trigger_add(p, l, false, cfg->psi[l].some_pct);
		psi_trigger_add(p, l, true, cfg->psi[l].full_pct);
	}
	return 0;
}

void pressure_free(struct pressure *p)
{
	for (int i = 0; i < p->nr_triggers; i++)
		if (p->triggers[i].fd >= 0)
			close(p->triggers[i].fd);
	p->nr_triggers = 0;
}

bool psi_confirms(const struct psi_reading *ref, const struct psi_reading *now, bool full,
		  uint64_t stall_us)
{
	uint64_t a = full ? ref->full_us : ref->some_us, b = full ? now->full_us : now->some_us;

	return b >= a && b - a >= stall_us;
}

/*
 * The reference a fired trigger is checked against: the latest reading at
 * least a window old, but never one from before the trigger was armed. The
 * growth since it bounds from above the stall within the window that the
 * trigger saw, so a trigger the totals cannot bear out is refuted.
 */
static struct psi_reading psi_reference(const struct pressure *p, const struct psi_trigger *t,
					uint64_t now_ns)
{
	struct psi_reading ref = { t->armed_ns, t->armed_total_us, t->armed_total_us };

	for (unsigned int i = 0; i < PSI_READINGS && i < p->next_reading; i++) {
		const struct psi_reading *r = &p->readings[i];

		if (r->ns > ref.ns && r->ns + p->window_ns <= now_ns)
			ref = *r;
	}
	return ref;
}

int pressure_on_trigger(struct pressure *p, int fd, uint32_t events, uint64_t now_ns)
{
	for (int i = 0; i < p->nr_triggers; i++) {
		struct psi_trigger *t = &p->triggers[i];
		struct psi_reading ref;

		if (t->fd != fd)
			continue;
		if (events & (EPOLLERR | EPOLLHUP)) {
			/* Its cgroup is gone (or PSI was switched off): drop it,
			 * never read it in a loop. */
			log_warn("PSI trigger on %s (%s) hung up; dropped, re-armed when the file "
				 "is back", p->psi_path, level_name(t->level));
			close(fd);
			t->fd = -1;
			p->rearm = true;
			return -1;
		}
		ref = psi_reference(p, t, now_ns);
		if (!psi_confirms(&ref, psi_record(p, now_ns), t->full, t->stall_us)) {
			p->unconfirmed++;
			return 0;
		}
		p->psi_fired_ns[t->level] = now_ns;
		return 1;
	}
	return 0;
}

int pressure_rearm(struct pressure *p, uint64_t now_ns)
{
	int armed = 0;

	if (!p->rearm)
		return 0;
	p->rearm = false;
	for (int i = 0; i < p->nr_triggers; i++) {
		struct psi_trigger *t = &p->triggers[i];

		if (t->fd >= 0)
			continue;
		if (psi_trigger_arm(p, t, now_ns) == 0)
			armed++;
		else
			p->rearm = true;	/* again at the next check */
	}
	if (armed)
		log_info("%d PSI trigger(s) on %s armed again", armed, p->psi_path);
	return armed;
}

uint64_t pressure_next_sample_ns(const struct config *cfg, uint64_t usage, uint64_t limit,
				 uint64_t rate, uint64_t min_ns, uint64_t max_ns)
{
	uint64_t headroom = UINT64_MAX, ns;

	for (int l = LEVEL_MEDIUM; l < NR_LEVELS; l++) {
		uint64_t line = (uint64_t)(cfg->threshold[l] * limit);

		if (line > usage && line - usage < headroom)
			headroom = line - usage;
	}
	if (headroom == UINT64_MAX || !rate)
		return max_ns;	/* above every line: the level itself says what to do */
	ns = headroom >= UINT64_MAX / 1000000000ull ? UINT64_MAX : headroom * 1000000000ull / rate;
	return ns < min_ns ? min_ns : ns > max_ns ? max_ns : ns;
}

enum level pressure_usage_level(const struct config *cfg, double u)
{
	if (u >= cfg->threshold[LEVEL_CRITICAL])
		return LEVEL_CRITICAL;
	if (u >= cfg->threshold[LEVEL_HIGH])
		return LEVEL_HIGH;
	if (u >= cfg->threshold[LEVEL_MEDIUM])
		return LEVEL_MEDIUM;
	return LEVEL_LOW;
}

static bool psi_at_least(const struct config *cfg, const struct psi_avgs *psi, int l)
{
	const struct psi_threshold *t = &cfg->psi[l];

	return (t->some_pct > 0 && psi->some[0] >= t->some_pct) ||
	       (t->full_pct > 0 && psi->full[0] >= t->full_pct);
}

enum level pressure_psi_level(const struct config *cfg, const struct psi_avgs *psi)
{
	for (int l = LEVEL_CRITICAL; l > LEVEL_LOW; l--)
		if (psi_at_least(cfg, psi, l))
			return l;
	return LEVEL_LOW;
}

/* The PSI level from triggers that fired within the last window: avg10
 * lags by seconds, a trigger does not. */
static enum level psi_trigger_level(const struct pressure *p, uint64_t now)
{
	for (int l = LEVEL_CRITICAL; l > LEVEL_LOW; l--)
		if (p->psi_fired_ns[l] && now - p->psi_fired_ns[l] < p->window_ns)
			return l;
	return LEVEL_LOW;
}

/* Does level l still hold, with hysteresis (the way down is lower)? */
static bool level_holds(const struct pressure *p, int l, uint64_t now)
{
	const struct config *cfg = p->cfg;
	double hyst = cfg->hysteresis;

	if (l == LEVEL_LOW)
		return true;
	if (p->fraction >= cfg->threshold[l] - hyst)
		return true;
	/* PSI needs no extra margin: avg10 decays over ~10 s by itself. */
	return (int)psi_trigger_level(p, now) >= l || psi_at_least(cfg, &p->psi, l);
}

static void pressure_explain(struct pressure *p, enum level trig)
{
	char used[32], lim[32];

	if (p->level == LEVEL_LOW) {
		snprintf(p->cause, sizeof(p->cause), "usage %s of %s (%.1f%%), psi some %.2f%%",
			 fmt_bytes(used, sizeof(used), p->usage), fmt_bytes(lim, sizeof(lim), p->limit),
			 p->fraction * 100, p->psi.some[0]);
	} else if (p->usage_level >= p->level) {
		snprintf(p->cause, sizeof(p->cause), "usage %s of %s (%.1f%%) >= %s_threshold %.2f",
			 fmt_bytes(used, sizeof(used), p->usage), fmt_bytes(lim, sizeof(lim), p->limit),
			 p->fraction * 100, level_name(p->level), p->cfg->threshold[p->level]);
	} else if (p->below_since_ns) {
		snprintf(p->cause, sizeof(p->cause), "settling down from %s: usage %s of %s (%.1f%%), psi some avg10 %.2f%%",
			 level_name(p->level), fmt_bytes(used, sizeof(used), p->usage),
			 fmt_bytes(lim, sizeof(lim), p->limit), p->fraction * 100, p->psi.some[0]);
	} else if (trig >= p->level) {
		snprintf(p->cause, sizeof(p->cause), "psi trigger (%s) fired, some avg10 %.2f%% full avg10 %.2f%%",
			 level_name(trig), p->psi.some[0], p->psi.full[0]);
	} else {
		snprintf(p->cause, sizeof(p->cause), "psi some avg10 %.2f%% full avg10 %.2f%%",
			 p->psi.some[0], p->psi.full[0]);
	}
}

enum level pressure_update(struct pressure *p, uint64_t usage, uint64_t now)
{
	psi_record(p, now);
	return pressure_step(p, usage, psi_trigger_level(p, now), now);
}

enum level pressure_step(struct pressure *p, uint64_t usage, enum level trig, uint64_t now)
{
	enum level target;

	p->usage = usage;
	p->limit = pressure_limit(p->cfg);
	p->fraction = p->limit ? (double)usage / p->limit : 0;
	p->usage_level = pressure_usage_level(p->cfg, p->fraction);
	p->trigger_level = trig;
	p->psi_level = pressure_psi_level(p->cfg, &p->psi);
	if (trig > p->psi_level)
		p->psi_level = trig;
	target = p->usage_level > p->psi_level ? p->usage_level : p->psi_level;

	if (target >= p->level) {
		p->level = target;	/* up at once */
		p->below_since_ns = 0;
	} else if (!level_holds(p, p->level, now)) {
		/* Down only after the lower condition held for settle_time. */
		if (!p->below_since_ns)
			p->below_since_ns = now;
		if (now - p->below_since_ns >= p->cfg->settle_ns) {
			p->level = target;
			p->below_since_ns = 0;
		}
	} else {
		p->below_since_ns = 0;
	}
	pressure_explain(p, trig);
	return p->level;
}

uint64_t pressure_excess(const struct pressure *p)
{
	double line = p->cfg->threshold[p->level] - p->cfg->hysteresis;
	uint64_t at = line > 0 ? (uint64_t)(line * p->limit) : 0;

	return p->usage > at ? p->usage - at : 0;
}

bool pressure_relieved(const struct pressure *p)
{
	return p->level == LEVEL_LOW && p->fraction < p->cfg->threshold[LEVEL_LOW] &&
	       p->psi_level == LEVEL_LOW;
}
