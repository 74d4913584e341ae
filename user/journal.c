// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The journal sink: under systemd, each record goes to journald's native
 * socket as one datagram of KEY=value lines, so that
 * `journalctl MEMSHED_COMPONENT=indexer` finds a component's history.
 * Every field of the record becomes MEMSHED_<KEY>; the ones operators
 * filter on also get a short name (MEMSHED_EVENT, MEMSHED_COMPONENT,
 * MEMSHED_LEVEL, MEMSHED_FREED). MESSAGE is the record's text line.
 * No libsystemd: the protocol is a datagram of lines.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "eventlog.h"
#include "journal.h"
#include "output.h"

#define JOURNAL_SOCKET	"/run/systemd/journal/socket"

static int journal_fd = -1;

/* One field line; a value with a newline has none of it (records never
 * carry one, but a name could in theory). */
static void field(struct strbuf *sb, const char *key, const char *value)
{
	sb_printf(sb, "%s=", key);
	for (const char *v = value; *v; v++)
		sb_printf(sb, "%c", *v == '\n' ? ' ' : *v);
	sb_printf(sb, "\n");
}

static void add_field(void *ctx, const char *key, const char *value)
{
	static const struct { const char *key, *name; } alias[] = {
		{ "type", "MEMSHED_EVENT" }, { "component", "MEMSHED_COMPONENT" },
		{ "level", "MEMSHED_LEVEL" }, { "pressure_level", "MEMSHED_LEVEL" },
		{ "memory_freed_bytes", "MEMSHED_FREED" },
	};
	struct strbuf *sb = ctx;
	char name[80] = "MEMSHED_";
	size_t n = strlen(name);

	for (size_t i = 0; i < sizeof(alias) / sizeof(alias[0]); i++)
		if (!strcmp(key, alias[i].key)) {
			field(sb, alias[i].name, value);
			return;
		}
	/* Journal field names: upper case, digits and '_'. */
	for (const char *k = key; *k && n < sizeof(name) - 1; k++)
		name[n++] = isalnum((unsigned char)*k) ? toupper((unsigned char)*k) : '_';
	name[n] = '\0';
	if (strcmp(key, "time") && strcmp(key, "ts_ns"))
		field(sb, name, value);
}

/* Actions and failures at notice, the rest at info. */
static const char *priority_of(const char *type)
{
	if (!strcmp(type, "unload") || !strcmp(type, "result") || !strcmp(type, "level") ||
	    !strcmp(type, "oom_kill") || !strcmp(type, "drops"))
		return "5";
	return "6";
}

static void journal_sink(void *ctx, const char *type, const char *json, size_t len)
{
	struct strbuf sb = {}, text = {};

	(void)ctx;
	eventlog_render_text(&text, json, len);
	field(&sb, "MESSAGE", text.s ? text.s : "");
	field(&sb, "PRIORITY", priority_of(type));
	field(&sb, "SYSLOG_IDENTIFIER", "memshed");
	if (eventlog_fields(json, len, add_field, &sb) == 0 && sb.s)
		/* Lost if journald is gone or full: the disk ring has it. */
		(void)send(journal_fd, sb.s, sb.len, MSG_DONTWAIT | MSG_NOSIGNAL);
	sb_free(&sb);
	sb_free(&text);
}

bool journal_wanted(void)
{
	return getenv("JOURNAL_STREAM") || access(JOURNAL_SOCKET, W_OK) == 0;
}

int journal_open(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path ? path : JOURNAL_SOCKET);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = -errno;

		close(fd);
		return err;
	}
	journal_fd = fd;
	return eventlog_add_sink(journal_sink, NULL) ? -ENOSPC : 0;
}

void journal_close(void)
{
	if (journal_fd < 0)
		return;
	eventlog_remove_sink(journal_sink, NULL);
	close(journal_fd);
	journal_fd = -1;
}
