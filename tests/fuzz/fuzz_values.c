// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer target: the value parsers of user/values.h, each fed a
 * NUL-terminated copy of the input: parse_size (with and without a share of
 * RAM), parse_duration, parse_fraction, parse_bool, parse_signal,
 * parse_action (+ action_free) and level_parse. Besides memory errors and
 * undefined behaviour, the results are checked against what the parsers
 * promise (ranges, a NULL-terminated exec argv of absolute path, ...).
 *
 * Seeds: tests/fuzz/values/. Run with `make fuzz`.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "values.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct action a;
	enum level level;
	uint64_t u;
	double d, pct;
	bool b;
	int signo;
	char *s;

	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	if (!parse_size(s, &u, NULL))
		(void)u;
	if (!parse_size(s, &u, &pct)) {
		/* Either bytes or a share of RAM, 0 < pct <= 100. */
		if (pct != 0 && (u != 0 || !(pct > 0 && pct <= 100)))
			abort();
	}
	(void)parse_duration(s, &u);
	if (!parse_fraction(s, &d) && !(d >= 0 && d <= 1))
		abort();
	(void)parse_bool(s, &b);
	if (!parse_signal(s, &signo) && (signo < 1 || signo > 64))
		abort();
	if (!level_parse(s, &level) && strcmp(level_name(level), s))
		abort();

	memset(&a, 0, sizeof(a));
	switch (parse_action(s, &a, NULL)) {
	case 0:
		if (a.kind == ACTION_EXEC) {
			if (!a.argv || !a.argv[0] || a.argv[0][0] != '/')
				abort();
			for (char **p = a.argv; *p; p++)
				if (!**p)
					abort();
		} else if (a.kind == ACTION_SIGNAL) {
			if (a.signo < 1 || a.signo > 64)
				abort();
		} else if (a.kind != ACTION_TERM && a.kind != ACTION_KILL &&
			   a.kind != ACTION_FREEZE && a.kind != ACTION_RECLAIM &&
			   a.kind != ACTION_HIBERNATE) {
			abort();
		}
		(void)action_kind_name(a.kind);
		action_free(&a);
		break;
	case -EINVAL:
	case -ENOMEM:
		break;
	default:
		abort();
	}
	free(s);
	return 0;
}
