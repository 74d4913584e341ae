// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer target: the kernel event decoder (eventlog_kernel in
 * user/eventlog.c), which turns a ring-buffer record (struct memshed_event,
 * include/memshed.h) into a log record. The record comes from BPF programs
 * that read task fields the process controls (comm is whatever prctl set,
 * any bytes, maybe without a NUL) and kernel counters of any size, so every
 * byte of it is the fuzzer's. Like the loader (loader_on_record), a record
 * shorter than struct memshed_event is dropped before it gets here.
 *
 * The input: the record (sizeof(struct memshed_event) bytes, zero-padded),
 * then the component name (up to 63 bytes, NUL-cut; absent: NULL, an
 * unlabelled process). Each record that comes out must be one JSON object,
 * NUL-terminated at its length, with no raw control character (the stdout
 * sink writes one record per line), its "type" and time fields first, and
 * it must render to a text line (eventlog_render_text, as `memshed events`
 * does).
 *
 * Seeds: tests/fuzz/kernelevent/ (one record of each kernel type). Run with
 * `make fuzz`.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <linux/types.h>

#include "memshed.h"
#include "eventlog.h"

static size_t records;

static void check_sink(void *ctx, const char *type, const char *json, size_t len)
{
	struct strbuf text = {};
	int depth = 0;
	bool in_str = false;

	records++;
	if (strlen(json) != len || len < 2 || json[0] != '{' || json[len - 1] != '}' ||
	    strncmp(json, "{\"time\":\"", 9))
		abort();
	/* Braces balance outside strings; no raw control byte anywhere. */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = json[i];

		if (c < 0x20)
			abort();
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (c == '{') {
			depth++;
		} else if (c == '}' && --depth == 0 && i != len - 1) {
			abort();
		}
	}
	if (in_str || depth)
		abort();
	eventlog_render_text(&text, json, len);
	if (!text.s || strlen(text.s) != text.len || memchr(text.s, '\n', text.len))
		abort();
	sb_free(&text);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	eventlog_setup(FORMAT_JSON, false);
	eventlog_add_sink(check_sink, NULL);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct memshed_event e;
	char comp[64];
	size_t n = size < sizeof(e) ? size : sizeof(e);

	memset(&e, 0, sizeof(e));
	memcpy(&e, data, n);
	if (size > sizeof(e)) {
		size_t c = size - sizeof(e) < sizeof(comp) - 1 ? size - sizeof(e) : sizeof(comp) - 1;

		memcpy(comp, data + sizeof(e), c);
		comp[c] = '\0';
	}
	records = 0;
	eventlog_kernel(&e, size > sizeof(e) ? comp : NULL);
	if (records != 1)
		abort();
	return 0;
}
