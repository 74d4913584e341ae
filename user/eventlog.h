/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The event log: every kernel event and every decision becomes one record,
 * built once as ordered key/value fields and rendered as a text line and a
 * JSON object; sinks (stdout, the on-disk ring, live followers on the
 * control socket) receive both.
 */
#ifndef MEMSHED_EVENTLOG_H
#define MEMSHED_EVENTLOG_H

#include <stdint.h>
#include <linux/types.h>	/* before memshed.h: it includes nothing */
#include "memshed.h"
#include "output.h"

struct ev {
	struct strbuf json;
	struct strbuf text;
	const char *type;
};

/* A record's two renderings, handed to each sink. */
typedef void (*eventlog_sink_fn)(void *ctx, const char *type, const char *json,
				 const char *text);

void eventlog_setup(enum output_format stdout_format, bool to_stdout);
int eventlog_add_sink(eventlog_sink_fn fn, void *ctx);
void eventlog_remove_sink(eventlog_sink_fn fn, void *ctx);

void ev_begin(struct ev *ev, const char *type, uint64_t ts_mono_ns);
void ev_str(struct ev *ev, const char *key, const char *v);
void ev_int(struct ev *ev, const char *key, int64_t v);
void ev_float(struct ev *ev, const char *key, double v);
void ev_dur(struct ev *ev, const char *key, uint64_t ns);	/* KEY_ms in JSON */
void ev_bytes(struct ev *ev, const char *key, int64_t bytes);	/* KEY_bytes in JSON */
/* A field given as ready JSON (array/object) and its text form. */
void ev_json(struct ev *ev, const char *key, const char *json, const char *text);
void ev_emit(struct ev *ev);		/* to every sink, then frees */

/* Render and emit a kernel record; comp is the component's name or NULL. */
void eventlog_kernel(const struct memshed_event *e, const char *comp);
const char *event_type_name(uint32_t type);
int event_type_parse(const char *name);	/* -1 if unknown */

/* Wall-clock time of a CLOCK_MONOTONIC timestamp. */
uint64_t mono_to_real_ns(uint64_t mono_ns);

#endif
