/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The event log: every kernel event and every decision becomes one record,
 * a JSON object of ordered fields, handed to the sinks (stdout, the on-disk
 * ring, live followers on the control socket). Its text line is rendered
 * from the JSON by eventlog_render_text wherever text is wanted.
 */
#ifndef MEMSHED_EVENTLOG_H
#define MEMSHED_EVENTLOG_H

#include <stdint.h>
#include <linux/types.h>	/* before memshed.h: it includes nothing */
#include "memshed.h"
#include "output.h"

struct ev {
	struct strbuf json;
	const char *type;
};

/* A record (its JSON, len bytes, NUL-terminated), handed to each sink. */
typedef void (*eventlog_sink_fn)(void *ctx, const char *type, const char *json, size_t len);

void eventlog_setup(enum output_format stdout_format, bool to_stdout);
/* Records to stdout are buffered: write out what is pending (the daemon's
 * loop does before it waits, and at exit). */
void eventlog_flush(void);
int eventlog_add_sink(eventlog_sink_fn fn, void *ctx);
void eventlog_remove_sink(eventlog_sink_fn fn, void *ctx);

void ev_begin(struct ev *ev, const char *type, uint64_t ts_mono_ns);
void ev_str(struct ev *ev, const char *key, const char *v);
void ev_int(struct ev *ev, const char *key, int64_t v);
void ev_float(struct ev *ev, const char *key, double v);
/*
 * KEY_ms and KEY_bytes in JSON, a duration and a size in text: so no other
 * field may have a key ending in _ms or _bytes.
 */
void ev_dur(struct ev *ev, const char *key, uint64_t ns);
void ev_bytes(struct ev *ev, const char *key, int64_t bytes);
/* A field given as ready JSON: an array or object of strings. */
void ev_json(struct ev *ev, const char *key, const char *json);
void ev_emit(struct ev *ev);		/* to every sink; ev is done */

/* Append the text line of a record to out (NUL-terminated); a record that
 * is not one of ours is appended as it is. */
void eventlog_render_text(struct strbuf *out, const char *json, size_t len);
/* The JSON of an on-disk ring record: the whole record, or its first line
 * (rings written before records were stored once hold "json\ntext"). */
size_t eventlog_record_json_len(const char *rec, size_t len);

/* Each top-level field of a record, its value as text (a string unquoted,
 * a list as "a,b"). Returns -1 if the record is not such an object. */
typedef void (*eventlog_field_fn)(void *ctx, const char *key, const char *value);
int eventlog_fields(const char *json, size_t len, eventlog_field_fn fn, void *ctx);

/* Render and emit a kernel record; comp is the component's name or NULL. */
void eventlog_kernel(const struct memshed_event *e, const char *comp);
int event_type_parse(const char *name);	/* -1 if unknown */

#endif
