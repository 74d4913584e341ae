/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Log lines and the rendering of events as text or JSON. */
#ifndef MEMSHED_OUTPUT_H
#define MEMSHED_OUTPUT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stddef.h>
#include <sys/types.h>

enum log_level { LOG_ERR, LOG_WARN, LOG_INFO, LOG_DEBUG };
enum output_format { FORMAT_TEXT, FORMAT_JSON };

void log_setup(enum log_level max, enum output_format fmt);
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#define log_err(...)	log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_DEBUG, __VA_ARGS__)

/* A growable string buffer, for JSON and text rendering. */
struct strbuf {
	char *s;
	size_t len, cap;
};
void sb_printf(struct strbuf *sb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void sb_append(struct strbuf *sb, const char *s, size_t n);
void sb_json_str(struct strbuf *sb, const char *s);	/* quoted, escaped */
void sb_u64(struct strbuf *sb, uint64_t v);		/* decimal, as %llu */
void sb_i64(struct strbuf *sb, int64_t v);		/* decimal, as %lld */
void sb_reset(struct strbuf *sb);
void sb_free(struct strbuf *sb);

/* Read a small file (/proc, cgroupfs) into buf, NUL-terminated: at most
 * size-1 bytes. Returns the length or -errno. */
ssize_t read_file(const char *path, char *buf, size_t size);

/* 1: pid is a kernel thread, 0: not, -ESRCH: gone. */
int proc_is_kernel_thread(pid_t pid);

/* Monotonic and wall clocks, ns. */
uint64_t now_mono_ns(void);
uint64_t now_real_ns(void);
/* "1.5s", "300ms", "2h3m": a duration for humans. */
const char *fmt_duration(char *buf, size_t len, uint64_t ns);
const char *fmt_bytes(char *buf, size_t len, uint64_t bytes);

#endif
