// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer target: the config parser (user/config.c, configcheck.c) on
 * arbitrary bytes. config_load_buffer must not crash, leak or read out of bounds whatever the
 * file holds, and what it returns must be consistent: 0 with a config and
 * no errors, or -EINVAL with at least one error, each with a line inside the
 * input and a NUL-terminated message.
 *
 * Seeds: tests/fuzz/config/. Run with `make fuzz`.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

static int count_lines(const uint8_t *data, size_t size)
{
	int n = 1;

	for (size_t i = 0; i < size; i++)
		n += data[i] == '\n';
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_errors errs;
	struct config cfg;
	char *copy;
	int ret;

	/* An exact-size heap copy: ASan catches a read one byte past the end. */
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	ret = config_load_buffer("fuzz.conf", copy, size, &cfg, &errs);
	if (ret == 0) {
		if (errs.n != 0 || !cfg.path || strcmp(cfg.path, "fuzz.conf"))
			abort();
		for (int i = 0; i < cfg.nr_comps; i++) {
			const struct component_config *c = &cfg.comps[i];

			if (strnlen(c->name, sizeof(c->name)) == sizeof(c->name) ||
			    c->nr_rules < 1 || c->priority < 0 || c->priority > 100)
				abort();
			for (int l = LEVEL_MEDIUM; l < NR_LEVELS; l++)
				if (c->ladder[l].kind == ACTION_NONE)
					abort();
		}
		config_free(&cfg);
	} else if (ret == -EINVAL) {
		int lines = count_lines(data, size);

		if (errs.n < 1)
			abort();
		for (int i = 0; i < errs.n; i++) {
			if (errs.v[i].line < 0 || errs.v[i].line > lines ||
			    (i && errs.v[i].line < errs.v[i - 1].line) ||
			    !memchr(errs.v[i].msg, '\0', sizeof(errs.v[i].msg)))
				abort();
		}
		config_errors_free(&errs);
	} else if (ret != -ENOMEM) {
		abort();
	}
	free(copy);
	return 0;
}
