// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The config map's schema: which sections and keys there are, each key a
 * row of a table (its setter, the field it sets, its range), read from an
 * INI file with libinih. Values are parsed by values.c; what depends on the
 * whole file is checked by configcheck.c when the file ends.
 *
 * libinih (Debian 12: version 55) hands over (section, key, value) and
 * strips comments; with ini_allow_no_value it also reports a line without
 * '=' (value NULL), so every bad line gets its own error, and with
 * ini_allow_multiline off an indented key is a key, not the continuation
 * of the value before. Lines reach it through a reader of our own
 * (read_line), because libinih cannot do four things the config needs:
 *  - line numbers: Debian builds it with INI_HANDLER_LINENO, but ini.h
 *    cannot tell a caller which build it is, and the reader needs the
 *    count for section headers anyway;
 *  - section headers: libinih cuts names at 49 characters ("component "
 *    and a 63-character name do not fit), calls nothing for a section
 *    without keys and ignores text after ']', so headers are parsed here;
 *  - long lines: its 200-byte line buffer would split a longer line into
 *    two silently; the reader refuses the line instead;
 *  - NUL bytes: ini_parse_string stops at the first one.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <ini.h>
#include <limits.h>
#include <linux/types.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "configcheck.h"
#include "output.h"
#include "memshed.h"

#define NSEC_PER_MSEC	1000000ULL
#define NSEC_PER_SEC	1000000000ULL
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define FIELD(obj, k, type)	((type *)((char *)(obj) + (k)->off))

#define TASK_COMM_MAX	15		/* TASK_COMM_LEN - 1 */
#define FILE_SIZE_MAX	(64 << 20)

/*
 * Static so that config_init_defaults cannot fail; config_free and
 * str_replace never free it.
 */
static char default_event_log[] = MEMSHED_DEFAULT_EVENT_LOG;

/* ---- small helpers ----------------------------------------------------- */

static void trim(const char **s, size_t *n)
{
	while (*n && isspace((unsigned char)**s))
		(*s)++, (*n)--;
	while (*n && isspace((unsigned char)(*s)[*n - 1]))
		(*n)--;
}

/*
 * @v (n elements) with room for one more, or NULL. The capacity doubles
 * whenever n reaches a power of two, so no field has to remember it.
 */
static void *grow(void *v, int n, size_t size)
{
	if (n & (n - 1))
		return v;
	return reallocarray(v, n ? 2 * (size_t)n : 1, size);
}

static int name_index(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (names[i] && !strcmp(names[i], s))
			return i;
	return -1;
}

/* ---- match rules -------------------------------------------------------- */

static const char *const match_kinds[] = {
	[MATCH_COMM] = "comm", [MATCH_EXE] = "exe", [MATCH_CMDLINE] = "cmdline",
	[MATCH_CGROUP] = "cgroup", [MATCH_PIDFILE] = "pidfile", [MATCH_USER] = "user",
	[MATCH_UNIT] = "unit",
};

/* A systemd unit that owns a cgroup: NAME.service, .scope or .slice. */
static int unit_check(const char *arg, char *why)
{
	static const char *const suffixes[] = { ".service", ".scope", ".slice" };
	size_t n = strlen(arg);

	if (arg[strspn(arg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_.@\\-")]) {
		snprintf(why, CONFIG_WHY_MAX, "unit: not a unit name");
		return -EINVAL;
	}
	for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++) {
		size_t k = strlen(suffixes[i]);

		if (n > k && !strcmp(arg + n - k, suffixes[i]))
			return 0;
	}
	snprintf(why, CONFIG_WHY_MAX, "unit: names a .service, .scope or .slice (units with a cgroup)");
	return -EINVAL;
}

const char *match_kind_name(enum match_kind k)
{
	return (unsigned int)k < ARRAY_SIZE(match_kinds) ? match_kinds[k] : "?";
}

static void match_rule_free(struct match_rule *r)
{
	if (r->kind == MATCH_CMDLINE)
		regfree(&r->re);
	free(r->arg);
}

/* A UID as digits (no passwd entry needed, e.g. in containers) or a name. */
static int user_resolve(const char *arg, uid_t *ret, char *why)
{
	struct passwd *pw;
	uint64_t uid;

	if (!arg[strspn(arg, "0123456789")]) {
		if (parse_uint(arg, (uid_t)-2, &uid)) {
			snprintf(why, CONFIG_WHY_MAX, "invalid UID");
			return -EINVAL;
		}
		*ret = uid;
		return 0;
	}
	pw = getpwnam(arg);
	if (!pw) {
		snprintf(why, CONFIG_WHY_MAX, "unknown user");
		return -EINVAL;
	}
	*ret = pw->pw_uid;
	return 0;
}

static int match_check_arg(struct match_rule *r, const char *arg, char *why)
{
	if (!*arg) {
		snprintf(why, CONFIG_WHY_MAX, "empty %s: argument", match_kinds[r->kind]);
		return -EINVAL;
	}
	switch (r->kind) {
	case MATCH_COMM:
		if (strlen(arg) <= TASK_COMM_MAX)
			return 0;
		snprintf(why, CONFIG_WHY_MAX, "comm: names have at most %d characters (the kernel cuts them)",
			 TASK_COMM_MAX);
		return -EINVAL;
	case MATCH_CMDLINE:
		return config_regex_compile(&r->re, arg, why);
	case MATCH_USER:
		return user_resolve(arg, &r->uid, why);
	case MATCH_UNIT:
		return unit_check(arg, why);
	default:	/* exe:, cgroup:, pidfile: */
		if (*arg == '/')
			return 0;
		snprintf(why, CONFIG_WHY_MAX, "%s: needs an absolute path", match_kinds[r->kind]);
		return -EINVAL;
	}
}

/* "kind:arg"; writes @ret only on success, @why on -EINVAL. */
static int match_parse(const char *s, struct match_rule *ret, char *why)
{
	const char *colon = strchr(s, ':');
	struct match_rule r = { 0 };
	int kind = -1, err;

	for (size_t i = 0; colon && i < ARRAY_SIZE(match_kinds); i++)
		if (strlen(match_kinds[i]) == (size_t)(colon - s) &&
		    !strncmp(s, match_kinds[i], colon - s))
			kind = i;
	if (kind < 0) {
		snprintf(why, CONFIG_WHY_MAX, "unknown match kind (comm:, exe:, cmdline:, cgroup:, unit:, pidfile:, user:)");
		return -EINVAL;
	}
	r.kind = kind;
	err = match_check_arg(&r, colon + 1, why);
	if (err)
		return err;
	r.arg = strdup(colon + 1);
	if (!r.arg) {
		if (r.kind == MATCH_CMDLINE)
			regfree(&r.re);
		return -ENOMEM;
	}
	*ret = r;
	return 0;
}

/* ---- error list --------------------------------------------------------- */

/* Insert keeping the list sorted by line (stable), as a compiler prints. */
static int errs_vpush(struct config_errors *e, int line, const char *fmt, va_list ap)
{
	struct config_error *v = grow(e->v, e->n, sizeof(*v));
	int i;

	if (!v)
		return -ENOMEM;
	e->v = v;
	for (i = e->n; i > 0 && v[i - 1].line > line; i--)
		v[i] = v[i - 1];
	v[i].line = line;
	vsnprintf(v[i].msg, sizeof(v[i].msg), fmt, ap);
	e->n++;
	return 0;
}

__attribute__((format(printf, 3, 4)))
static int errs_push(struct config_errors *e, int line, const char *fmt, ...)
{
	va_list ap;
	int err;

	va_start(ap, fmt);
	err = errs_vpush(e, line, fmt, ap);
	va_end(ap);
	return err;
}

/* The source a line of the whole is in (the last starting at or before it). */
static int source_of(const struct config_source *src, int nr, int line)
{
	int k = 0;

	while (k + 1 < nr && src[k + 1].first_line <= line)
		k++;
	return k;
}

void config_errors_print(FILE *f, const char *path, const struct config_errors *errs)
{
	if (!path)
		path = "(config)";
	for (int i = 0; i < errs->n; i++) {
		int line = errs->v[i].line;

		if (line && errs->nr_src) {
			const struct config_source *s = &errs->src[source_of(errs->src, errs->nr_src, line)];

			fprintf(f, "%s:%d: %s\n", s->path, line - s->first_line + 1, errs->v[i].msg);
		} else if (line) {
			fprintf(f, "%s:%d: %s\n", path, line, errs->v[i].msg);
		} else {
			fprintf(f, "%s: %s\n", path, errs->v[i].msg);
		}
	}
}

const char *config_where(const struct config_parser *p, int line, char *buf, size_t len)
{
	int k = source_of(p->src, p->nr_src, line);
	const struct config_source *s = p->nr_src ? &p->src[k] : NULL;

	if (!s)
		snprintf(buf, len, "line %d", line);
	else if (k == p->cur_src)	/* the same file: its own line */
		snprintf(buf, len, "line %d", line - s->first_line + 1);
	else
		snprintf(buf, len, "%s:%d", s->path, line - s->first_line + 1);
	return buf;
}

static void sources_free(struct config_source *src, int nr)
{
	for (int i = 0; i < nr; i++)
		free(src[i].path);
	free(src);
}

void config_errors_free(struct config_errors *errs)
{
	free(errs->v);
	sources_free(errs->src, errs->nr_src);
	*errs = (struct config_errors){ 0 };
}

/* ---- the parser's state -------------------------------------------------- */

void config_error_at(struct config_parser *p, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (errs_vpush(&p->errs, line, fmt, ap))
		p->oom = true;
	va_end(ap);
}

#define perr(p, ...)	config_error_at((p), (p)->lineno, __VA_ARGS__)

int config_out_of_memory(struct config_parser *p)
{
	p->oom = true;
	return -1;
}

/* ---- keys --------------------------------------------------------------- */

struct key_def;
typedef int key_setter(struct config_parser *p, const struct key_def *k, void *obj,
		       const char *v);

struct key_def {
	const char *name;
	key_setter *set;		/* 0, or -1 with the error reported */
	size_t off;			/* field in struct config/component_config */
	double min, max;		/* allowed range; max 0: no upper bound */
	const char *range;		/* the range as told to the user */
	bool repeatable;
};

static int bad_value(struct config_parser *p, const struct key_def *k, const char *v,
		     const char *why)
{
	perr(p, "%s = \"%s\": %s", k->name, v, why);
	return -1;
}

static int out_of_range(struct config_parser *p, const struct key_def *k, const char *v)
{
	perr(p, "%s = \"%s\" is out of range (%s)", k->name, v, k->range);
	return -1;
}

static int check_range(struct config_parser *p, const struct key_def *k, const char *v, double x)
{
	if (x >= k->min && (k->max == 0 || x <= k->max))
		return 0;
	return out_of_range(p, k, v);
}

static int str_replace(struct config_parser *p, char **dst, const char *v)
{
	char *s = strdup(v);

	if (!s)
		return config_out_of_memory(p);
	if (*dst != default_event_log)
		free(*dst);
	*dst = s;
	return 0;
}

static int set_bool(struct config_parser *p, const struct key_def *k, void *obj, const char *v)
{
	if (!parse_bool(v, FIELD(obj, k, bool)))
		return 0;
	return bad_value(p, k, v, "not a boolean (yes/no, true/false, on/off, 1/0)");
}

static int set_int(struct config_parser *p, const struct key_def *k, void *obj, const char *v)
{
	uint64_t n;

	if (parse_uint(v, INT_MAX, &n))
		return bad_value(p, k, v, "not a whole number");
	if (check_range(p, k, v, n))
		return -1;
	*FIELD(obj, k, int) = n;
	return 0;
}

/* A niceness: -20..19. */
static int set_nice(struct config_parser *p, const struct key_def *k, void *obj, const char *v)
{
	bool neg = v[0] == '-';
	uint64_t n;

	if (parse_uint(v + neg, 20, &n) || (!neg && n > 19))
		return bad_value(p, k, v, "not a niceness: a whole number, -20..19");
	*FIELD(obj, k, int) = neg ? -(int)n : (int)n;
	return 0;
}

static int set_duration(struct config_parser *p, const struct key_def *k, void *obj, const char *v)
{
	uint64_t ns;

	if (parse_duration(v, &ns))
		return bad_value(p, k, v, "not a duration (e.g. 500ms, 60s, 5m, 1h)");
	if (check_range(p, k, v, ns))
		return -1;
	*FIELD(obj, k, uint64_t) = ns;
	return 0;
}

static int set_fraction(struct config_parser *p, const struct key_def *k, void *obj, const char *v)
{
	double x;

	if (parse_fraction(v, &x))
		return bad_value(p, k, v, "not a fraction 0..1 (e.g. 0.75 or 75%)");
	if (check_range(p, k, v, x))
		return -1;
	*FIELD(obj, k, double) = x;
	return 0;
}

static int set_size(struct config_parser *p, const struct key_def *k, void *obj, const char *v)
{
	uint64_t b;

	if (parse_size(v, &b, NULL))
		return bad_value(p, k, v, "not a size (e.g. 4096, 256K, 4M, 1G)");
	if (check_range(p, k, v, b))
		return -1;
	*FIELD(obj, k, uint64_t) = b;
	return 0;
}

static int set_path(struct config_parser *p, const struct key_def *k, void *obj, const char *v)
{
	if (*v != '/')
		return bad_value(p, k, v, "needs an absolute path");
	return str_replace(p, FIELD(obj, k, char *), v);
}

/* A component's type: one word (letters, digits, "_.-"), so it is safe
 * as is in a log line, JSON and a Prometheus label. */
static int set_type(struct config_parser *p, const struct key_def *k, void *obj, const char *v)
{
	size_t n = strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-");

	if (!*v || v[n])
		return bad_value(p, k, v, "not one word (letters, digits, _ . -)");
	if (n >= CONFIG_TYPE_MAX)
		return bad_value(p, k, v, "longer than 31 characters");
	memcpy(FIELD(obj, k, char), v, n + 1);
	return 0;
}

static bool is_off(const char *v)
{
	return !*v || !strcmp(v, "\"\"") || !strcmp(v, "off");
}

static int set_event_log(struct config_parser *p, const struct key_def *k, void *obj, const char *v)
{
	return is_off(v) ? str_replace(p, FIELD(obj, k, char *), "") : set_path(p, k, obj, v);
}

/* Off is NULL, the default: nothing to do. */
static int set_metrics_file(struct config_parser *p, const struct key_def *k, void *obj, const char *v)
{
	return is_off(v) ? 0 : set_path(p, k, obj, v);
}

static int set_total_limit(struct config_parser *p, const struct key_def *k, void *obj, const char *v)
{
	struct config *cfg = obj;
	uint64_t b;
	double pct;

	if (parse_size(v, &b, &pct))
		return bad_value(p, k, v, "expected a size (512M, 4G), a share of RAM (50%) or auto");
	if (!b && !pct)
		return out_of_range(p, k, v);
	cfg->total_limit = b;		/* 0 with a percentage: resolved at the end */
	cfg->total_limit_pct = pct;
	return 0;
}

static int set_usage_source(struct config_parser *p, const struct key_def *k, void *obj, const char *v)
{
	struct config *cfg = obj;

	if (!strcmp(v, "components")) {
		cfg->usage_source = USAGE_COMPONENTS;
	} else if (!strcmp(v, "system")) {
		cfg->usage_source = USAGE_SYSTEM;
	} else if (!strncmp(v, "cgroup:", 7)) {
		if (v[7] != '/')
			return bad_value(p, k, v, "cgroup: needs an absolute path");
		if (str_replace(p, &cfg->usage_cgroup, v + 7))
			return -1;
		cfg->usage_source = USAGE_CGROUP;
	} else {
		return bad_value(p, k, v, "expected components, system or cgroup:/PATH");
	}
	return 0;
}

static int set_rss_mode(struct config_parser *p, const struct key_def *k, void *obj, const char *v)
{
	static const char *const names[] = {
		[RSS_TRACEPOINT] = "tracepoint", [RSS_SAMPLE] = "sample", [RSS_AUTO] = "auto",
	};
	int i = name_index(names, ARRAY_SIZE(names), v);

	if (i < 0)
		return bad_value(p, k, v, "expected tracepoint, sample or auto");
	((struct config *)obj)->rss_mode = i;
	return 0;
}

/* The kernel wants a power-of-two number of pages. */
static int set_ringbuf_size(struct config_parser *p, const struct key_def *k, void *obj, const char *v)
{
	uint64_t b;

	if (parse_size(v, &b, NULL))
		return bad_value(p, k, v, "not a size (e.g. 256K, 1M)");
	if (b < 4096 || b > (256 << 20) || (b & (b - 1)))
		return out_of_range(p, k, v);
	((struct config *)obj)->ringbuf_size = b;
	return 0;
}

static int set_psi(struct config_parser *p, const struct key_def *k, void *obj, const char *v)
{
	double pct = 0;

	if (strcmp(v, "0") && parse_percent(v, &pct))
		return bad_value(p, k, v, "expected a percentage 0%..100%, or 0 for off");
	*FIELD(obj, k, double) = pct;
	return 0;
}

static int set_max_unload(struct config_parser *p, const struct key_def *k, void *obj, const char *v)
{
	uint64_t n = 0;

	if (strcmp(v, "all") && parse_uint(v, UINT_MAX, &n))
		return bad_value(p, k, v, "expected a count, or all (same as 0)");
	*FIELD(obj, k, unsigned int) = n;
	return 0;
}

static int set_match(struct config_parser *p, const struct key_def *k, void *obj, const char *v)
{
	struct component_config *c = obj;
	struct match_rule r, *rules;
	struct rule_ref *refs;
	char why[CONFIG_WHY_MAX];
	int err = match_parse(v, &r, why);

	if (err == -ENOMEM)
		return config_out_of_memory(p);
	if (err)
		return bad_value(p, k, v, why);
	rules = grow(c->rules, c->nr_rules, sizeof(*rules));
	if (rules)
		c->rules = rules;
	refs = grow(p->refs, p->nr_refs, sizeof(*refs));
	if (refs)
		p->refs = refs;
	if (!rules || !refs) {
		match_rule_free(&r);
		return config_out_of_memory(p);
	}
	/* Moving a regex_t (here and when rules grows) is fine for glibc and musl. */
	c->rules[c->nr_rules] = r;
	p->refs[p->nr_refs++] = (struct rule_ref){ p->cur, c->nr_rules++, p->lineno };
	return 0;
}

/* "action" is kept as text and parsed once per level when the file ends. */
static int set_action(struct config_parser *p, const struct key_def *k, void *obj, const char *v)
{
	struct action a;
	const char *why;
	int err = parse_action(v, &a, &why);

	if (err == -ENOMEM)
		return config_out_of_memory(p);
	if (err)
		return bad_value(p, k, v, why);
	action_free(&a);
	p->extra[p->cur].action = strdup(v);
	return p->extra[p->cur].action ? 0 : config_out_of_memory(p);
}

static int set_action_level(struct config_parser *p, const struct key_def *k, void *obj, const char *v)
{
	const char *why;
	int err = parse_action(v, FIELD(obj, k, struct action), &why);

	if (err == -ENOMEM)
		return config_out_of_memory(p);
	return err ? bad_value(p, k, v, why) : 0;
}

static int set_comp_min_idle(struct config_parser *p, const struct key_def *k, void *obj, const char *v)
{
	struct component_config *c = obj;

	if (set_duration(p, k, obj, v))
		return -1;
	c->has_min_idle = true;
	return 0;
}

#define CFG(f)		.off = offsetof(struct config, f)
#define COMP(f)		.off = offsetof(struct component_config, f)
#define POSITIVE	.min = 1, .range = "must be > 0"
/* DBL_MIN as the minimum: (0, 1], a threshold of 0 would mean nothing. */
#define THRESHOLD	.min = DBL_MIN, .max = 1, .range = "0 < x <= 1"

static const struct key_def memshed_keys[] = {
	{ .name = "total_limit", .set = set_total_limit, .range = "must be > 0" },
	{ .name = "low_threshold", .set = set_fraction, CFG(threshold[LEVEL_LOW]), THRESHOLD },
	{ .name = "medium_threshold", .set = set_fraction, CFG(threshold[LEVEL_MEDIUM]), THRESHOLD },
	{ .name = "high_threshold", .set = set_fraction, CFG(threshold[LEVEL_HIGH]), THRESHOLD },
	{ .name = "critical_threshold", .set = set_fraction, CFG(threshold[LEVEL_CRITICAL]), THRESHOLD },
	{ .name = "auto_unload", .set = set_bool, CFG(auto_unload) },
	{ .name = "min_idle_time", .set = set_duration, CFG(min_idle_ns) },
	{ .name = "check_interval", .set = set_duration, CFG(check_interval_ns), POSITIVE },
	{ .name = "usage_source", .set = set_usage_source },
	{ .name = "rss_mode", .set = set_rss_mode },
	{ .name = "idle_cpu", .set = set_fraction, CFG(idle_cpu), .max = 1, .range = "0..1 (of one CPU)" },
	{ .name = "max_growth_rate", .set = set_size, CFG(max_growth_rate), POSITIVE },
	{ .name = "ringbuf_size", .set = set_ringbuf_size, .range = "a power of two, 4K..256M" },
	{ .name = "stall_threshold", .set = set_duration, CFG(stall_threshold_ns) },
	{ .name = "psi_medium_some", .set = set_psi, CFG(psi[LEVEL_MEDIUM].some_pct) },
	{ .name = "psi_high_some", .set = set_psi, CFG(psi[LEVEL_HIGH].some_pct) },
	{ .name = "psi_critical_some", .set = set_psi, CFG(psi[LEVEL_CRITICAL].some_pct) },
	{ .name = "psi_medium_full", .set = set_psi, CFG(psi[LEVEL_MEDIUM].full_pct) },
	{ .name = "psi_high_full", .set = set_psi, CFG(psi[LEVEL_HIGH].full_pct) },
	{ .name = "psi_critical_full", .set = set_psi, CFG(psi[LEVEL_CRITICAL].full_pct) },
	/* The kernel's limits for a PSI trigger window. */
	{ .name = "psi_window", .set = set_duration, CFG(psi_window_ns), .min = 500 * NSEC_PER_MSEC,
	  .max = 10 * NSEC_PER_SEC, .range = "500ms..10s" },
	{ .name = "psi_cgroup", .set = set_path, CFG(psi_cgroup) },
	{ .name = "hysteresis", .set = set_fraction, CFG(hysteresis), .max = 0.5, .range = "0..0.5" },
	{ .name = "settle_time", .set = set_duration, CFG(settle_ns) },
	{ .name = "medium_min_idle", .set = set_duration, CFG(level[LEVEL_MEDIUM].min_idle_ns) },
	{ .name = "high_min_idle", .set = set_duration, CFG(level[LEVEL_HIGH].min_idle_ns) },
	{ .name = "critical_min_idle", .set = set_duration, CFG(level[LEVEL_CRITICAL].min_idle_ns) },
	{ .name = "medium_max_unload", .set = set_max_unload, CFG(level[LEVEL_MEDIUM].max_unload) },
	{ .name = "high_max_unload", .set = set_max_unload, CFG(level[LEVEL_HIGH].max_unload) },
	{ .name = "critical_max_unload", .set = set_max_unload, CFG(level[LEVEL_CRITICAL].max_unload) },
	{ .name = "prefer_larger", .set = set_bool, CFG(prefer_larger) },
	{ .name = "dry_run", .set = set_bool, CFG(dry_run) },
	{ .name = "round_timeout", .set = set_duration, CFG(round_timeout_ns), POSITIVE },
	{ .name = "cooldown", .set = set_duration, CFG(cooldown_ns) },
	{ .name = "event_log", .set = set_event_log, CFG(event_log) },
	{ .name = "event_log_size", .set = set_size, CFG(event_log_size),
	  .min = 64 << 10, .range = "at least 64K: the on-disk ring's minimum" },
	{ .name = "metrics_file", .set = set_metrics_file, CFG(metrics_file) },
	{ .name = "nice", .set = set_nice, CFG(nice), .range = "-20..19" },
};

static const struct key_def comp_keys[] = {
	{ .name = "match", .set = set_match, .repeatable = true },
	{ .name = "type", .set = set_type, COMP(type) },
	{ .name = "priority", .set = set_int, COMP(priority), .max = 100, .range = "0..100" },
	{ .name = "critical", .set = set_bool, COMP(critical) },
	{ .name = "action", .set = set_action },
	{ .name = "action.medium", .set = set_action_level, COMP(ladder[LEVEL_MEDIUM]) },
	{ .name = "action.high", .set = set_action_level, COMP(ladder[LEVEL_HIGH]) },
	{ .name = "action.critical", .set = set_action_level, COMP(ladder[LEVEL_CRITICAL]) },
	{ .name = "grace", .set = set_duration, COMP(grace_ns) },
	{ .name = "exec_timeout", .set = set_duration, COMP(exec_timeout_ns), POSITIVE },
	{ .name = "min_idle_time", .set = set_comp_min_idle, COMP(min_idle_ns) },
	{ .name = "prefer_larger", .set = set_bool, COMP(prefer_larger) },
};

_Static_assert(ARRAY_SIZE(memshed_keys) <= CONFIG_KEYS_MAX, "CONFIG_KEYS_MAX too small");
_Static_assert(ARRAY_SIZE(comp_keys) <= CONFIG_KEYS_MAX, "CONFIG_KEYS_MAX too small");

static const struct key_def *key_find(const struct key_def *keys, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(keys[i].name, name))
			return &keys[i];
	return NULL;
}

int config_key_line(const struct config_parser *p, int comp, const char *key)
{
	if (comp < 0)
		return p->key_line[key_find(memshed_keys, ARRAY_SIZE(memshed_keys), key) - memshed_keys];
	return p->extra[comp].key_line[key_find(comp_keys, ARRAY_SIZE(comp_keys), key) - comp_keys];
}

static void key_set(struct config_parser *p, const struct key_def *keys, size_t n, int *key_line,
		    void *obj, const char *name, const char *v)
{
	const struct key_def *k = key_find(keys, n, name);
	int *line;

	if (!k) {
		perr(p, "unknown key \"%s\" in [%s]", name, p->title);
		return;
	}
	line = &key_line[k - keys];
	if (*line && !k->repeatable) {
		char where[512];

		perr(p, "duplicate key \"%s\" (first set at %s)", name,
		     config_where(p, abs(*line), where, sizeof(where)));
		return;
	}
	*line = k->set(p, k, obj, v) ? -p->lineno : p->lineno;
}

/* ---- sections ----------------------------------------------------------- */

static void memshed_begin(struct config_parser *p)
{
	/* Read on: its keys still get checked (and duplicates reported). A
	 * drop-in may have its own [memshed], for keys no other file sets. */
	if (p->memshed_line && source_of(p->src, p->nr_src, p->memshed_line) == p->cur_src)
		perr(p, "duplicate section [memshed] (first at line %d)", p->memshed_line);
	else if (!p->memshed_line)
		p->memshed_line = p->lineno;
	p->sec = SEC_MEMSHED;
}

bool config_name_valid(const char *name)
{
	size_t n = strlen(name);

	return n && n < CONFIG_NAME_MAX &&
	       strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			    "0123456789_.-") == n;
}

/* An invalid name is reported, and the section read on to check its keys. */
static void component_begin(struct config_parser *p, const char *name)
{
	struct component_config *comps, *c;
	struct comp_extra *extra;
	int n = p->cfg.nr_comps;

	if (!*name)
		perr(p, "a component needs a name: [component NAME]");
	else if (!config_name_valid(name))
		perr(p, "invalid component name \"%s\": 1-%d characters of A-Z a-z 0-9 _ . -",
		     name, CONFIG_NAME_MAX - 1);
	/* comp_id 0 means "not labelled" in the kernel's comps map. */
	if (n == MEMSHED_MAX_COMPONENTS - 1)
		perr(p, "too many components (at most %d)", MEMSHED_MAX_COMPONENTS - 1);
	comps = grow(p->cfg.comps, n, sizeof(*comps));
	if (comps)
		p->cfg.comps = comps;
	extra = grow(p->extra, n, sizeof(*extra));
	if (extra)
		p->extra = extra;
	if (!comps || !extra) {
		config_out_of_memory(p);
		return;
	}
	c = &comps[n];
	*c = (struct component_config){
		.line = p->lineno, .priority = 50,
		.grace_ns = 10 * NSEC_PER_SEC, .exec_timeout_ns = 30 * NSEC_PER_SEC,
	};
	/* A name too long is reported already; kept cut for later messages. */
	memcpy(c->name, name, strnlen(name, sizeof(c->name) - 1));
	if (p->nr_src && !(c->file = strdup(p->src[p->cur_src].path)))
		config_out_of_memory(p);
	c->file_line = p->nr_src ? p->lineno - p->src[p->cur_src].first_line + 1 : p->lineno;
	extra[n] = (struct comp_extra){ 0 };
	p->cur = n;
	p->cfg.nr_comps++;
	p->sec = SEC_COMPONENT;
}

static void section_begin(struct config_parser *p, const char *name)
{
	p->sec = SEC_SKIP;
	snprintf(p->title, sizeof(p->title), "%s", name);
	if (!strcmp(name, "memshed")) {
		memshed_begin(p);
	} else if (!strncmp(name, "component", 9) &&
		   (!name[9] || isspace((unsigned char)name[9]))) {
		name += 9;
		while (isspace((unsigned char)*name))
			name++;
		snprintf(p->title, sizeof(p->title), "component %s", name);
		component_begin(p, name);
	} else {
		perr(p, "unknown section [%s] (expected [memshed] or [component NAME])", name);
	}
}

/* "[name]", trimmed, at most one line long; a comment may follow. */
static void header_parse(struct config_parser *p, const char *s, size_t n)
{
	const char *close = memchr(s, ']', n);
	const char *rest, *name;
	size_t rn, nn;
	char buf[sizeof(p->title) - 16];	/* room for "component " */

	if (!close) {
		perr(p, "section header without ']'");
		p->sec = SEC_SKIP;
		return;
	}
	rest = close + 1;
	rn = s + n - rest;
	trim(&rest, &rn);
	if (rn && *rest != ';' && *rest != '#')
		perr(p, "text after section header: \"%.*s\"", (int)rn, rest);
	name = s + 1;
	nn = close - name;
	trim(&name, &nn);
	/*
	 * Fuzzing review (issue 7): n is bounded only by libinih's line buffer,
	 * 200 bytes in Debian's build but a build option of libinih
	 * (max_line_length); never copy more than buf holds.
	 */
	if (nn >= sizeof(buf)) {
		perr(p, "section name longer than %zu characters", sizeof(buf) - 1);
		p->sec = SEC_SKIP;
		return;
	}
	memcpy(buf, name, nn);
	buf[nn] = '\0';
	section_begin(p, buf);
}

/* ---- the line reader and the libinih handler ---------------------------- */

/*
 * Sort one raw line: comments and blank lines go to libinih as empty
 * lines, headers are ours, key lines are given to libinih trimmed.
 */
static void line_dispatch(struct config_parser *p, const char *s, size_t n, char *out, int size)
{
	if (memchr(s, '\0', n)) {
		perr(p, "NUL byte in line");
		return;
	}
	if (p->lineno == 1 && n >= 3 && !memcmp(s, "\xef\xbb\xbf", 3))
		s += 3, n -= 3;		/* UTF-8 byte order mark */
	trim(&s, &n);
	if (!n || *s == ';' || *s == '#')
		return;
	/* Room for the line, '\n' and '\0'; comments may be longer. */
	if (n > (size_t)size - 2) {
		perr(p, "line longer than %d characters", size - 2);
		return;
	}
	if (*s == '[') {
		header_parse(p, s, n);
		return;
	}
	memcpy(out, s, n);
	memcpy(out + n, "\n", 2);
}

/* libinih's fgets: one line per call, or NULL at the end. */
static char *read_line(char *str, int size, void *stream)
{
	struct config_parser *p = stream;
	const char *s = p->pos, *nl;
	size_t n;

	if (s == p->end)
		return NULL;
	nl = memchr(s, '\n', p->end - s);
	n = (nl ? nl : p->end) - s;
	p->pos = nl ? nl + 1 : p->end;
	p->lineno++;
	/* A drop-in starts outside any section: nothing carries over. */
	while (p->cur_src + 1 < p->nr_src && p->src[p->cur_src + 1].first_line <= p->lineno) {
		p->cur_src++;
		p->sec = SEC_NONE;
	}
	strcpy(str, "\n");
	line_dispatch(p, s, n, str, size);
	return str;
}

/*
 * The section libinih passes is ignored: header_parse has the real one.
 * A line without '=' (or ':') comes with value NULL (ini_allow_no_value).
 */
static int on_key(void *user, const char *section, const char *name, const char *value)
{
	struct config_parser *p = user;

	if (!value)
		perr(p, "expected KEY = VALUE");
	else if (!*name)
		perr(p, "expected KEY = VALUE (no key before '=')");
	else if (p->sec == SEC_NONE)
		perr(p, "key \"%s\" outside any section", name);
	else if (p->sec == SEC_MEMSHED)
		key_set(p, memshed_keys, ARRAY_SIZE(memshed_keys), p->key_line, &p->cfg,
			name, value);
	else if (p->sec == SEC_COMPONENT)
		key_set(p, comp_keys, ARRAY_SIZE(comp_keys), p->extra[p->cur].key_line,
			&p->cfg.comps[p->cur], name, value);
	return 1;
}


/* Hand the config (success) or the errors out; free the rest. */
static int parser_end(struct config_parser *p, struct config *cfg, struct config_errors *errs)
{
	for (int i = 0; i < p->cfg.nr_comps; i++)
		free(p->extra[i].action);
	free(p->extra);
	free(p->refs);
	if (p->oom || p->errs.n) {
		config_free(&p->cfg);
		if (errs && !p->oom)
			*errs = p->errs;
		else
			config_errors_free(&p->errs);
		return p->oom ? -ENOMEM : -EINVAL;
	}
	*cfg = p->cfg;
	return 0;
}

/* ---- public entry points ------------------------------------------------ */

void config_init_defaults(struct config *cfg)
{
	*cfg = (struct config){
		.total_limit = 1ULL << 30,
		.threshold = { 0.60, 0.75, 0.85, 0.95 },
		.auto_unload = true,
		.min_idle_ns = 300 * NSEC_PER_SEC,
		.check_interval_ns = 60 * NSEC_PER_SEC,
		.usage_source = USAGE_COMPONENTS,
		.rss_mode = RSS_AUTO,	/* bench/RESULTS.md: rss_stat costs ~4% of a page fault */
		/* Idle daemons measured here stay under 1.4% of a CPU over any
		 * second (redis's 10 Hz cron, postgres's checkpointer); a
		 * process doing work, over 47% even on a contended host. */
		.idle_cpu = 0.05,
		.idle_window_ns = NSEC_PER_SEC,
		/* The fastest growth measured on 2 cores (THP, warm): 19 GiB/s. */
		.max_growth_rate = 20ULL << 30,
		/* The info ring: 682 records of 96 bytes, the burst of ten users
		 * at once (the kernel lets a user through 64, then 200/s); the
		 * consumer's mapping of a ring is resident whole, twice its size. */
		.ringbuf_size = 64 << 10,
		.stall_threshold_ns = 10 * NSEC_PER_MSEC,
		.psi = {
			[LEVEL_MEDIUM] = { .some_pct = 5, .full_pct = 0 },
			[LEVEL_HIGH] = { .some_pct = 15, .full_pct = 5 },
			[LEVEL_CRITICAL] = { .some_pct = 40, .full_pct = 20 },
		},
		.psi_window_ns = 2 * NSEC_PER_SEC,
		.hysteresis = 0.05,
		.settle_ns = 10 * NSEC_PER_SEC,
		.level = {
			[LEVEL_MEDIUM] = { .min_idle_ns = 300 * NSEC_PER_SEC, .max_unload = 1 },
			[LEVEL_HIGH] = { .min_idle_ns = 150 * NSEC_PER_SEC, .max_unload = 3 },
			[LEVEL_CRITICAL] = { .min_idle_ns = 0, .max_unload = 0 },
		},
		.round_timeout_ns = 15 * NSEC_PER_SEC,
		.cooldown_ns = 2 * NSEC_PER_SEC,
		.event_log = default_event_log,
		.event_log_size = 4 << 20,
		.nice = -10,
	};
}

/* Parse buf, the files src (nr of them, or none: one buffer) one after
 * another. On failure the errors keep src to print FILE:LINE. */
static int load_whole(const char *name, const char *buf, size_t len,
		      const struct config_source *src, int nr, struct config *cfg,
		      struct config_errors *errs)
{
	struct config_parser p = { .pos = buf, .end = len ? buf + len : buf, .src = src,
				   .nr_src = nr };
	int rc;

	if (errs)
		*errs = (struct config_errors){ 0 };
	config_init_defaults(&p.cfg);
	if (name && !(p.cfg.path = strdup(name)))
		config_out_of_memory(&p);
	/* libinih's run-time options (Debian builds it with INI_RUNTIME_OPTIONS). */
	ini_allow_no_value = true;
	ini_allow_multiline = false;
	rc = ini_parse_stream(read_line, &p, on_key, &p);
	if (rc == -2)
		config_out_of_memory(&p);
	/* Only a libinih that rejects what the reader let through gets here. */
	if (rc > 0 && !p.errs.n)
		config_error_at(&p, rc, "syntax error");
	config_check_file(&p);
	return parser_end(&p, cfg, errs);
}

int config_load_buffer(const char *name, const char *buf, size_t len,
		       struct config *cfg, struct config_errors *errs)
{
	return load_whole(name, buf, len, NULL, 0, cfg, errs);
}

static int read_all(int fd, char **ret, size_t *ret_len)
{
	size_t len = 0, cap = 0;
	char *buf = NULL, *t;
	ssize_t n;

	do {
		if (len == cap) {
			cap = cap ? 2 * cap : 4096;
			t = cap > FILE_SIZE_MAX ? NULL : realloc(buf, cap);
			if (!t) {
				free(buf);
				return cap > FILE_SIZE_MAX ? -EFBIG : -ENOMEM;
			}
			buf = t;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno != EINTR) {
			free(buf);
			return -errno;
		}
		len += n > 0 ? n : 0;
	} while (n != 0);
	*ret = buf;
	*ret_len = len;
	return 0;
}

/* A config decides what gets killed: only root may write it. */
static int check_file_owner(const struct stat *st, struct config_errors *errs)
{
	if (st->st_uid == 0 && !(st->st_mode & (S_IWGRP | S_IWOTH)))
		return 0;
	if (errs && errs_push(errs, 0,
			      "refusing to load: must be owned by root and not writable by group or others (owner uid %u, mode %04o)",
			      (unsigned int)st->st_uid, (unsigned int)(st->st_mode & 07777)))
		return -ENOMEM;
	return -EINVAL;
}

/* Read one file (fd) onto the end of the whole, starting on a new line. */
static int append_file(int fd, bool check_owner, const char *path, struct strbuf *whole,
		       struct config_source **src, int *nr, int *lines, struct config_errors *errs)
{
	struct config_source *s;
	char *buf = NULL;
	struct stat st;
	size_t len = 0;
	int err;

	err = fstat(fd, &st) ? -errno : 0;
	if (!err && !S_ISREG(st.st_mode))
		err = errs_push(errs, 0, "%s: not a regular file", path) ? -ENOMEM : -EINVAL;
	if (!err && check_owner && (err = check_file_owner(&st, errs)) && errs->n && *nr)
		snprintf(errs->v[errs->n - 1].msg, sizeof(errs->v[0].msg),
			 "%s: refusing to load: must be owned by root and not writable by group or others", path);
	if (!err)
		err = read_all(fd, &buf, &len);
	s = err ? NULL : grow(*src, *nr, sizeof(**src));
	if (!err && !s)
		err = -ENOMEM;
	if (!err) {
		*src = s;
		s[*nr] = (struct config_source){ .path = strdup(path), .first_line = *lines + 1 };
		(*nr)++;
		sb_printf(whole, "%.*s%s", (int)len, buf ? buf : "", len && buf[len - 1] != '\n' ? "\n" : "");
		for (size_t i = 0; i < len; i++)
			*lines += buf[i] == '\n';
		*lines += len && buf[len - 1] != '\n';
		err = s[*nr - 1].path ? 0 : -ENOMEM;
	}
	free(buf);
	return err;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The drop-ins of path: path.d/ *.conf in name order (a package adds a
 * component without editing the main file). The directory, like each
 * file, must be root's and not writable by group or others; none is fine.
 */
static int append_dropins(const char *path, bool check_owner, struct strbuf *whole,
			  struct config_source **src, int *nr, int *lines, struct config_errors *errs)
{
	char dir[4096], file[4096 + 256], **names = NULL;
	struct dirent *de;
	struct stat st;
	int dfd, n = 0, err = 0;
	DIR *d;

	if (snprintf(dir, sizeof(dir), "%s.d", path) >= (int)sizeof(dir))
		return 0;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (dfd < 0)
		return errno == ENOENT ? 0 : (errs_push(errs, 0, "%s: %s", dir, strerror(errno)), -EINVAL);
	if (fstat(dfd, &st) || (check_owner && (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH))))) {
		close(dfd);
		errs_push(errs, 0, "%s: refusing to load drop-ins: the directory must be owned by root and not writable by group or others", dir);
		return -EINVAL;
	}
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -errno;
	}
	while (!err && (de = readdir(d))) {
		size_t l = strlen(de->d_name);
		char **t;

		if (de->d_name[0] == '.' || l < 6 || strcmp(de->d_name + l - 5, ".conf"))
			continue;
		t = grow(names, n, sizeof(*names));
		if (!t || !(t[n] = strdup(de->d_name)))
			err = -ENOMEM;
		else
			names = t, n++;
	}
	qsort(names, n, sizeof(*names), by_name);
	for (int i = 0; i < n; i++) {
		int fd = err ? -1 : openat(dirfd(d), names[i], O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);

		snprintf(file, sizeof(file), "%s/%s", dir, names[i]);
		if (!err && fd < 0)
			err = errs_push(errs, 0, "%s: %s", file, strerror(errno)) ? -ENOMEM : -EINVAL;
		if (fd >= 0) {
			err = append_file(fd, check_owner, file, whole, src, nr, lines, errs);
			close(fd);
		}
		free(names[i]);
	}
	free(names);
	closedir(d);
	return err;
}

int config_load_file(const char *path, bool check_owner, struct config *cfg,
		     struct config_errors *errs)
{
	struct config_errors local = { 0 };
	struct config_source *src = NULL;
	struct strbuf whole = { 0 };
	int fd, err, nr = 0, lines = 0;

	if (!errs)
		errs = &local;
	*errs = (struct config_errors){ 0 };
	/* One fd for the owner check and the read: no swap in between. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	err = append_file(fd, check_owner, path, &whole, &src, &nr, &lines, errs);
	close(fd);
	if (!err)
		err = append_dropins(path, check_owner, &whole, &src, &nr, &lines, errs);
	if (!err) {
		err = load_whole(path, whole.s ? whole.s : "", whole.len, src, nr, cfg, errs);
		/* The errors keep the sources (to print FILE:LINE); else they go. */
		if (err == -EINVAL) {
			errs->src = src, errs->nr_src = nr;
			src = NULL, nr = 0;
		}
	}
	sources_free(src, nr);
	sb_free(&whole);
	config_errors_free(&local);
	return err;
}

static void component_free(struct component_config *c)
{
	for (int i = 0; i < c->nr_rules; i++)
		match_rule_free(&c->rules[i]);
	free(c->rules);
	free(c->file);
	for (int l = 0; l < NR_LEVELS; l++)
		action_free(&c->ladder[l]);
}

void config_free(struct config *cfg)
{
	free(cfg->path);
	free(cfg->usage_cgroup);
	free(cfg->psi_cgroup);
	free(cfg->metrics_file);
	if (cfg->event_log != default_event_log)
		free(cfg->event_log);
	for (int i = 0; i < cfg->nr_comps; i++)
		component_free(&cfg->comps[i]);
	free(cfg->comps);
	*cfg = (struct config){ 0 };
}
