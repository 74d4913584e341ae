// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* What every module shares: log lines, string buffers, clocks, human
 * formats of sizes and durations, and small /proc and cgroupfs reads. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "output.h"

static enum log_level log_level_max = LOG_INFO;
static enum output_format log_format = FORMAT_TEXT;

void log_setup(enum log_level max, enum output_format fmt)
{
	log_level_max = max;
	log_format = fmt;
}

static const char *const log_level_names[] = { "error", "warning", "info", "debug" };

/* Diagnostics go to stderr: stdout carries the event stream. */
void log_msg(enum log_level level, const char *fmt, ...)
{
	struct strbuf sb = {};
	char msg[1024];
	va_list ap;

	if (level > log_level_max)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (log_format == FORMAT_JSON) {
		sb_printf(&sb, "{\"level\":\"%s\",\"msg\":", log_level_names[level]);
		sb_json_str(&sb, msg);
		sb_printf(&sb, "}");
		fprintf(stderr, "%s\n", sb.s);
		sb_free(&sb);
	} else {
		fprintf(stderr, "memshed: %s%s%s\n",
			level <= LOG_WARN ? log_level_names[level] : "",
			level <= LOG_WARN ? ": " : "", msg);
	}
}

static void sb_grow(struct strbuf *sb, size_t need)
{
	size_t cap = sb->cap ? sb->cap : 256;
	char *s;

	if (sb->len + need < sb->cap)
		return;

	while (cap < sb->len + need + 1)
		cap *= 2;
	if (cap == sb->cap)
		return;
	s = realloc(sb->s, cap);
	if (!s)
		abort();	/* memory is locked and small; nothing sane to do */
	sb->s = s;
	sb->cap = cap;
}

void sb_printf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	sb_grow(sb, n);
	va_start(ap, fmt);
	vsnprintf(sb->s + sb->len, sb->cap - sb->len, fmt, ap);
	va_end(ap);
	sb->len += n;
}

void sb_append(struct strbuf *sb, const char *s, size_t n)
{
	sb_grow(sb, n);
	memcpy(sb->s + sb->len, s, n);
	sb->len += n;
	sb->s[sb->len] = '\0';
}

void sb_json_str(struct strbuf *sb, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	char esc[6] = "\\u00";
	const char *run;

	sb_append(sb, "\"", 1);
	/* Runs of what needs no escape are copied as they are. */
	for (run = s; s && *s; s++) {
		unsigned char c = *s;

		if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
			continue;
		sb_append(sb, run, s - run);
		run = s + 1;
		if (c == '"' || c == '\\') {
			esc[1] = c;
			sb_append(sb, esc, 2);
		} else if (c == '\n') {
			sb_append(sb, "\\n", 2);
		} else if (c == '\t') {
			sb_append(sb, "\\t", 2);
		} else {
			esc[1] = 'u';
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 0xf];
			sb_append(sb, esc, 6);
		}
	}
	if (s)
		sb_append(sb, run, s - run);
	sb_append(sb, "\"", 1);
}

void sb_u64(struct strbuf *sb, uint64_t v)
{
	char buf[20], *p = buf + sizeof(buf);

	do
		*--p = '0' + v % 10;
	while (v /= 10);
	sb_append(sb, p, buf + sizeof(buf) - p);
}

void sb_i64(struct strbuf *sb, int64_t v)
{
	if (v < 0)
		sb_append(sb, "-", 1);
	sb_u64(sb, v < 0 ? -(uint64_t)v : (uint64_t)v);
}

void sb_reset(struct strbuf *sb)
{
	sb->len = 0;
	if (sb->s)
		sb->s[0] = '\0';
}

void sb_free(struct strbuf *sb)
{
	free(sb->s);
	*sb = (struct strbuf){};
}

ssize_t read_file(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	if (n < 0)
		n = -errno;
	else
		buf[n] = '\0';
	close(fd);
	return n;
}

#define PF_KTHREAD	0x00200000	/* include/linux/sched.h */
#define KTHREADD_PID	2

/*
 * Kernel thread? PF_KTHREAD in field 9 of /proc/PID/stat; where that cannot
 * be parsed, an empty cmdline with kthreadd as parent (or kthreadd itself).
 * 1: kthread, 0: not, -ESRCH: gone.
 */
int proc_is_kernel_thread(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long flags;
	int ppid;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	n = read_file(path, buf, sizeof(buf));
	if (n < 0)
		return -ESRCH;
	/* comm may hold spaces and ')': the fields start after the last ')'. */
	p = strrchr(buf, ')');
	if (p && sscanf(p + 1, " %*c %d %*d %*d %*d %*d %lu", &ppid, &flags) == 2)
		return !!(flags & PF_KTHREAD);

	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	n = read_file(path, buf, sizeof(buf));
	if (n < 0)
		return -ESRCH;
	return n == 0 && (pid == KTHREADD_PID || (p && sscanf(p + 1, " %*c %d", &ppid) == 1 &&
						    ppid == KTHREADD_PID));
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

uint64_t now_mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

uint64_t now_real_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

const char *fmt_duration(char *buf, size_t len, uint64_t ns)
{
	if (ns < 1000000ull)
		snprintf(buf, len, "%.0fus", ns / 1e3);
	else if (ns < 1000000000ull)
		snprintf(buf, len, "%.1fms", ns / 1e6);
	else if (ns < 120 * 1000000000ull)
		snprintf(buf, len, "%.1fs", ns / 1e9);
	else if (ns < 7200 * 1000000000ull)
		snprintf(buf, len, "%.1fm", ns / 60e9);
	else
		snprintf(buf, len, "%.1fh", ns / 3600e9);
	return buf;
}

const char *fmt_bytes(char *buf, size_t len, uint64_t bytes)
{
	static const char units[] = "BKMGTP";
	double v = bytes;
	int u = 0;

	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%lluB", (unsigned long long)bytes);
	else
		snprintf(buf, len, "%.1f%c", v, units[u]);
	return buf;
}
