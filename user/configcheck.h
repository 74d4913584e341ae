/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Between the config reader (config.c) and the checks of the whole file
 * (configcheck.c): the reader's state, which the checks read and report
 * into. Private to those two files.
 */
#ifndef MEMSHED_CONFIGCHECK_H
#define MEMSHED_CONFIGCHECK_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include "config.h"

#define CONFIG_KEYS_MAX	48	/* keys of one section */
#define CONFIG_WHY_MAX	160	/* a reason in an error message */

enum config_section { SEC_NONE, SEC_MEMSHED, SEC_COMPONENT, SEC_SKIP };

/* What the reader remembers of a component beyond struct component_config. */
struct comp_extra {
	int key_line[CONFIG_KEYS_MAX];	/* 0: unset, < 0: set, but bad */
	char *action;			/* the "action" value, for every level */
};

/* A match rule and the line it came from. */
struct rule_ref {
	int comp, rule, line;
};

struct config_parser {
	struct config cfg;		/* built here, moved out on success */
	struct config_errors errs;
	bool oom;

	const char *pos, *end;		/* the input */
	int lineno;
	const struct config_source *src;	/* the files in it, or none */
	int nr_src, cur_src;

	enum config_section sec;
	char title[256];		/* "memshed", "component NAME" */
	int memshed_line;		/* first [memshed] header */
	int key_line[CONFIG_KEYS_MAX];	/* of [memshed] keys */

	int cur;			/* component being read */
	struct comp_extra *extra;	/* parallel to cfg.comps */
	struct rule_ref *refs;
	int nr_refs;
};

/* config.c */
void config_error_at(struct config_parser *p, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int config_out_of_memory(struct config_parser *p);	/* returns -1 */
/* The line key was set on in [memshed] (comp < 0) or in component comp:
 * 0 unset, negative if its value was bad. */
int config_key_line(const struct config_parser *p, int comp, const char *key);
bool config_name_valid(const char *name);
/* "line N", or "FILE:N" when the config is read from several files. */
const char *config_where(const struct config_parser *p, int line, char *buf, size_t len);
const char *match_kind_name(enum match_kind k);

/* configcheck.c */
/*
 * Once the file is read: what depends on all of it (threshold order,
 * duplicate components, identical match rules, each component's ladder
 * and inherited settings, per-level defaults, total_limit as a share of
 * RAM), reported at the lines concerned.
 */
void config_check_file(struct config_parser *p);
/* Compile a cmdline: pattern (POSIX ERE), refusing those glibc's regcomp
 * would spend gigabytes on. 0, or -EINVAL with why (CONFIG_WHY_MAX) set. */
int config_regex_compile(regex_t *re, const char *pattern, char *why);

#endif
