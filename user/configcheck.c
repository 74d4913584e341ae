// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The checks of a config that no single value can make: once the whole
 * file is read (config_check_file) the threshold order, duplicate
 * components, repeated and identical match rules, each component's ladder
 * and what it inherits from [memshed], the per-level defaults derived from
 * min_idle_time and total_limit as a share of RAM; and, for each cmdline:
 * rule, the bound on what glibc's regcomp would build of it.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cgroup.h"
#include "configcheck.h"

/*
 * glibc's regcomp takes memory quadratic in the copies of an expression
 * that can match nothing: (.*){3000} takes 73 MB. 256 copies take at most
 * about 4 MB (measured), and real patterns need few: [0-9a-f]{64} is 65.
 */
#define REGEX_COPIES_MAX 256
#define REGEX_DEPTH_MAX	32

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* ---- the regex bound ---------------------------------------------------- */

/* Where a bracket expression starting at s ('[') ends: its ']' or the NUL. */
static const char *bracket_end(const char *s)
{
	s += 1 + (s[1] == '^');
	s += *s == ']';			/* a leading ']' is a member */
	while (*s && *s != ']')
		s++;
	return s;
}

/* The larger bound of an interval "{m}", "{m,}", "{m,n}" at s, or 0. */
static uint64_t interval_max(const char *s, const char **ret_end)
{
	char *e;
	uint64_t m, n;

	if (!is_digit(s[1]))
		return 0;
	m = n = strtoull(s + 1, &e, 10);
	if (*e == ',' && is_digit(e[1]))
		n = strtoull(e + 1, &e, 10);
	else if (*e == ',')
		e++;
	if (*e != '}')
		return 0;
	*ret_end = e;
	return n > m ? n : m;
}

/* Copies in one group: all of them, and those of its last atom. */
struct rx_frame {
	uint64_t sum, last;
};

static uint64_t rx_sat(uint64_t x)
{
	return x <= REGEX_COPIES_MAX ? x : REGEX_COPIES_MAX + 1;
}

static void rx_atom(struct rx_frame *f, uint64_t copies)
{
	f->last = copies;
	f->sum = rx_sat(f->sum + copies);
}

static void rx_repeat(struct rx_frame *f, uint64_t times)
{
	f->sum = rx_sat(f->sum + f->last * (times - 1));
	f->last = rx_sat(f->last * times);
}

/*
 * How many copies of its atoms glibc's regcomp makes of a pattern: it
 * copies an expression for '+' and for every count of "{m,n}", so nested
 * repetitions multiply, and "(((a*)+)+)..." or "a*+++..." of 50 characters
 * take gigabytes. Sequences add, repetitions multiply, '*' and '?' copy
 * nothing. Saturates above REGEX_COPIES_MAX; -1 if groups nest deeper
 * than REGEX_DEPTH_MAX. Syntax errors are left to regcomp.
 */
static int64_t regex_copies(const char *s)
{
	struct rx_frame f[REGEX_DEPTH_MAX + 1] = { { 0, 0 } };
	const char *end;
	bool after_repeat = false;	/* the last token was a repetition */
	uint64_t n;
	int d = 0;

	for (; *s; s++) {
		bool is_repeat = *s == '+' || *s == '*' || *s == '?' ||
				 (*s == '{' && interval_max(s, &end));

		/* A repetition of a repetition (a++, (x|$)+*) is undefined in
		 * POSIX and sends glibc's compiler exponential: refuse it. */
		if (is_repeat && after_repeat)
			return -2;
		after_repeat = is_repeat;
		switch (*s) {
		case '\\':
			s += s[1] != '\0';
			rx_atom(&f[d], 1);
			break;
		case '[':
			s = bracket_end(s);
			s -= *s == '\0';
			rx_atom(&f[d], 1);
			break;
		case '(':
			if (d == REGEX_DEPTH_MAX)
				return -1;
			f[++d] = (struct rx_frame){ 0, 0 };
			break;
		case ')':
			if (d) {
				d--;
				rx_atom(&f[d], f[d + 1].sum);
			}
			break;
		case '+':
			rx_repeat(&f[d], 2);
			break;
		case '{':
			n = interval_max(s, &end);
			if (n) {
				rx_repeat(&f[d], rx_sat(n) + 1);
				s = end;
			} else {
				rx_atom(&f[d], 1);
			}
			break;
		case '*': case '?': case '|':
			break;
		default:
			rx_atom(&f[d], 1);
		}
	}
	/* Groups left open: glibc copies them before it finds the error. */
	for (; d; d--)
		rx_atom(&f[d - 1], f[d].sum);
	return f[0].sum;
}

int config_regex_compile(regex_t *re, const char *pattern, char *why)
{
	int64_t copies = regex_copies(pattern);
	int rc;

	if (copies == -2) {
		snprintf(why, CONFIG_WHY_MAX, "regex repeats a repetition (like a++ or x*+): not allowed");
		return -EINVAL;
	}
	if (copies < 0) {
		snprintf(why, CONFIG_WHY_MAX, "regex groups nest deeper than %d", REGEX_DEPTH_MAX);
		return -EINVAL;
	}
	if (copies > REGEX_COPIES_MAX) {
		snprintf(why, CONFIG_WHY_MAX, "regex too large: its repetitions (+, {m,n}) make over %d copies",
			 REGEX_COPIES_MAX);
		return -EINVAL;
	}
	rc = regcomp(re, pattern, REG_EXTENDED | REG_NOSUB);
	if (!rc)
		return 0;
	memcpy(why, "bad regex: ", 11);
	regerror(rc, re, why + 11, CONFIG_WHY_MAX - 11);
	return -EINVAL;
}

/* ---- the whole file ----------------------------------------------------- */

/*
 * No match key (bad match lines and bad names are reported already), the
 * ladder, and the [memshed] prefer_larger where not set.
 */
static void component_finish(struct config_parser *p, int i)
{
	struct component_config *c = &p->cfg.comps[i];
	const char *action = p->extra[i].action ? p->extra[i].action : "term";

	if (!config_key_line(p, i, "match") && config_name_valid(c->name))
		config_error_at(p, c->line, "component \"%s\" has no match rule", c->name);
	for (int l = LEVEL_MEDIUM; l < NR_LEVELS; l++)
		if (c->ladder[l].kind == ACTION_NONE && parse_action(action, &c->ladder[l], NULL))
			config_out_of_memory(p);	/* it parsed before: only memory can fail */
	if (!config_key_line(p, i, "prefer_larger"))
		c->prefer_larger = p->cfg.prefer_larger;
}

static int comp_cmp(const void *a, const void *b, void *arg)
{
	const struct config *cfg = arg;
	int x = *(const int *)a, y = *(const int *)b;
	int c = strcmp(cfg->comps[x].name, cfg->comps[y].name);

	return c ? c : x - y;
}

/* Sorted by name, so that 4000 components do not take 8 million compares. */
static void check_duplicate_components(struct config_parser *p)
{
	const struct component_config *comps = p->cfg.comps;
	int n = p->cfg.nr_comps, *idx = calloc(n + 1, sizeof(*idx));
	char where[512];

	if (!idx) {
		config_out_of_memory(p);
		return;
	}
	for (int i = 0; i < n; i++)
		idx[i] = i;
	qsort_r(idx, n, sizeof(*idx), comp_cmp, &p->cfg);
	for (int i = 1, first = 0; i < n; i++) {
		if (strcmp(comps[idx[i]].name, comps[idx[first]].name)) {
			first = i;
			continue;
		}
		if (!config_name_valid(comps[idx[i]].name))
			continue;	/* reported at its header */
		config_error_at(p, comps[idx[i]].line, "duplicate component \"%s\" (first defined at %s)",
			comps[idx[i]].name, config_where(p, comps[idx[first]].line, where, sizeof(where)));
	}
	free(idx);
}

static const struct match_rule *ref_rule(const struct config *cfg, const struct rule_ref *r)
{
	return &cfg->comps[r->comp].rules[r->rule];
}

static int rule_cmp(const struct match_rule *x, const struct match_rule *y)
{
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return strcmp(x->arg, y->arg);
}

static int ref_cmp(const void *a, const void *b, void *arg)
{
	const struct rule_ref *x = a, *y = b;
	int c = rule_cmp(ref_rule(arg, x), ref_rule(arg, y));

	return c ? c : x->line - y->line;
}

/* Does every rule of component a also stand in component b? */
static bool rules_within(const struct component_config *a, const struct component_config *b)
{
	for (int i = 0; i < a->nr_rules; i++) {
		bool found = false;

		for (int k = 0; k < b->nr_rules && !found; k++)
			found = !rule_cmp(&a->rules[i], &b->rules[k]);
		if (!found)
			return false;
	}
	return true;
}

/*
 * A rule repeated within a component is an error. All rules of a component
 * must match (they narrow), so two components may share a rule
 * (comm:python with user:a, comm:python with user:b); two components with
 * the same set of rules are an error: a process would belong to either.
 * Other overlaps are resolved at run time by file order (the first wins),
 * see examples/memshed.conf.
 */
static void check_identical_rules(struct config_parser *p)
{
	const struct config *cfg = &p->cfg;
	const struct rule_ref *first = p->refs;

	if (p->nr_refs < 2)
		return;
	qsort_r(p->refs, p->nr_refs, sizeof(*p->refs), ref_cmp, &p->cfg);
	for (const struct rule_ref *r = p->refs + 1; r < p->refs + p->nr_refs; r++) {
		const struct match_rule *m = ref_rule(cfg, r);
		const struct component_config *a, *b;

		if (rule_cmp(ref_rule(cfg, first), m)) {
			first = r;
			continue;
		}
		if (first->comp == r->comp) {
			config_error_at(p, r->line, "match rule %s:%s repeats line %d",
				match_kind_name(m->kind), m->arg, first->line);
			continue;
		}
		a = &cfg->comps[first->comp];
		b = &cfg->comps[r->comp];
		/* Report each pair once: at the first rule they share. */
		if (a->nr_rules == b->nr_rules && rules_within(a, b) && rules_within(b, a) &&
		    !rule_cmp(m, &b->rules[0]))
			config_error_at(p, b->line, "component \"%s\" has the same match rules as component \"%s\" (line %d): a process would belong to either",
				b->name, a->name, a->line);
	}
}

/* Strictly ascending; reported at the threshold that was set. */
static void check_thresholds(struct config_parser *p)
{
	const double *t = p->cfg.threshold;
	int line[NR_LEVELS];
	char key[32];

	for (int l = 0; l < NR_LEVELS; l++) {
		snprintf(key, sizeof(key), "%s_threshold", level_name(l));
		line[l] = config_key_line(p, -1, key);
		if (line[l] < 0)
			return;		/* a bad value is reported already */
	}
	for (int l = 1; l < NR_LEVELS; l++) {
		if (t[l - 1] < t[l])
			continue;
		if (line[l])
			config_error_at(p, line[l], "%s_threshold (%g) must be above %s_threshold (%g)",
				level_name(l), t[l], level_name(l - 1), t[l - 1]);
		else
			config_error_at(p, line[l - 1], "%s_threshold (%g) must be below %s_threshold (%g)",
				level_name(l - 1), t[l - 1], level_name(l), t[l]);
	}
}

/* The seed's table: medium waits min_idle_time, high half of it. */
static void derive_level_min_idle(struct config_parser *p)
{
	struct config *cfg = &p->cfg;

	if (!config_key_line(p, -1, "medium_min_idle"))
		cfg->level[LEVEL_MEDIUM].min_idle_ns = cfg->min_idle_ns;
	if (!config_key_line(p, -1, "high_min_idle"))
		cfg->level[LEVEL_HIGH].min_idle_ns = cfg->min_idle_ns / 2;
}

static int mem_total(uint64_t *ret)
{
	FILE *f = fopen("/proc/meminfo", "re");
	unsigned long long kb;
	char line[128];
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (err && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
			err = 0;
	fclose(f);
	if (!err)
		*ret = kb * 1024;
	return err;
}

static void resolve_total_limit(struct config_parser *p)
{
	struct config *cfg = &p->cfg;
	int line = config_key_line(p, -1, "total_limit");
	uint64_t ram = 0;

	if (cfg->total_limit_pct == 0)
		return;
	if (mem_total(&ram)) {
		config_error_at(p, line, "total_limit: cannot read MemTotal from /proc/meminfo");
		return;
	}
	cfg->total_limit = ram * (cfg->total_limit_pct / 100);
	if (!cfg->total_limit)
		config_error_at(p, line, "total_limit: %g%% of RAM is less than a byte", cfg->total_limit_pct);
}

void config_check_file(struct config_parser *p)
{
	for (int i = 0; i < p->cfg.nr_comps; i++)
		component_finish(p, i);
	check_duplicate_components(p);
	check_identical_rules(p);
	check_thresholds(p);
	derive_level_min_idle(p);
	resolve_total_limit(p);
}


/* ---- rules that strangers can match ------------------------------------ */

/*
 * Only root can change PATH: it and each directory above it are root's and
 * not writable by group or others (a sticky /tmp is still other-writable).
 * A PATH that does not exist yet counts by the directories that do.
 */
static bool path_root_guarded(const char *path)
{
	char buf[4096], *slash;
	struct stat st;

	if (path[0] != '/' || strlen(path) >= sizeof(buf))
		return false;
	snprintf(buf, sizeof(buf), "%s", path);
	if (stat(buf, &st) == 0 && (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH))))
		return false;
	while ((slash = strrchr(buf, '/'))) {
		slash[slash == buf] = '\0';	/* "/usr/bin" -> "/usr" -> "/" */
		/* Missing: only who can write the closest existing one can make it. */
		if (stat(buf, &st) && errno == ENOENT && slash != buf)
			continue;
		if (stat(buf, &st) || !S_ISDIR(st.st_mode) || st.st_uid != 0 ||
		    (st.st_mode & (S_IWGRP | S_IWOTH)))
			return false;
		if (slash == buf)
			break;
	}
	return true;
}

bool config_component_strangers_can_join(const struct component_config *c, char *why,
					 size_t len)
{
	char kinds[128] = "", unguarded[160] = "";

	if (!c->nr_rules)
		return false;	/* matches nothing: labelled only by root's CLI */
	for (int i = 0; i < c->nr_rules; i++) {
		const struct match_rule *r = &c->rules[i];
		const char *k = match_kind_name(r->kind);

		switch (r->kind) {
		case MATCH_USER:
		case MATCH_CGROUP:
		case MATCH_UNIT:
			return false;	/* chosen by root: the uid, the cgroup's owner */
		case MATCH_EXE:
		case MATCH_PIDFILE:
			if (path_root_guarded(r->arg))
				return false;
			if (!unguarded[0])
				snprintf(unguarded, sizeof(unguarded), "; %s:%.100s is not under "
					 "directories only root can write", k, r->arg);
			break;
		case MATCH_COMM:
		case MATCH_CMDLINE:
			break;
		}
		if (!strstr(kinds, k) && strlen(kinds) + strlen(k) + 4 < sizeof(kinds))
			snprintf(kinds + strlen(kinds), sizeof(kinds) - strlen(kinds), "%s%s:",
				 kinds[0] ? ", " : "", k);
	}
	snprintf(why, len, "any process can satisfy its rules (%s): comm: and cmdline: are "
		 "what the process sets for itself%s", kinds, unguarded);
	return true;
}

bool config_strangers_warning(const struct component_config *c, char *buf, size_t len)
{
	char why[320];

	if (!config_component_strangers_can_join(c, why, sizeof(why)))
		return false;
	snprintf(buf, len, "component \"%s\" can be joined by any user's process: %s; add a "
		 "user:, cgroup:, unit: or exe: rule (see memshed.conf(5), MATCH RULES)",
		 c->name, why);
	return true;
}

/* ---- warnings (a valid config) ------------------------------------------ */

/* Is there a directory named `name` at most `depth` levels below dir? */
static bool dir_has(const char *dir, const char *name, int depth)
{
	char sub[PATH_MAX];
	struct dirent *de;
	bool found = false;
	DIR *d = opendir(dir);

	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		if (!strcmp(de->d_name, name))
			found = true;
		else if (depth > 1 && snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name) < (int)sizeof(sub))
			found = dir_has(sub, name, depth - 1);
	}
	closedir(d);
	return found;
}

/* A unit has a cgroup in systemd's hierarchy: cgroup2, or name=systemd. */
static bool unit_exists(const char *unit)
{
	struct cgroup_mount cm;

	return (cgroup_find_mount(NULL, NULL, &cm) == 0 && dir_has(cm.mnt, unit, 4)) ||
	       (cgroup_find_mount("name=systemd", NULL, &cm) == 0 && dir_has(cm.mnt, unit, 4));
}

int config_warnings(const struct config *cfg, FILE *f)
{
	char why[640];
	int n = 0;

	for (int i = 0; i < cfg->nr_comps; i++) {
		const struct component_config *c = &cfg->comps[i];

		for (int k = 0; k < c->nr_rules; k++) {
			if (c->rules[k].kind != MATCH_UNIT || unit_exists(c->rules[k].arg))
				continue;
			fprintf(f, "%s:%d: warning: component \"%s\": unit %s has no cgroup now "
				"(not started, or not on this host); the rule matches once it runs\n",
				c->file ? c->file : "(config)", c->file_line, c->name, c->rules[k].arg);
			n++;
		}
		/* Components an unprivileged process can join, and so get memshed
		 * (root) to signal or freeze what it chooses to put there. */
		if (config_strangers_warning(c, why, sizeof(why))) {
			fprintf(f, "%s:%d: warning: %s\n", c->file ? c->file : "(config)",
				c->file_line, why);
			n++;
		}
	}
	return n;
}
