// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The control socket: server side for the daemon, client side for the CLI. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "control.h"
#include "eventlog.h"

#define CLIENT_DEADLINE_NS	(2 * 1000000000ull)	/* to send a request */
#define ANSWER_DEADLINE_NS	(10 * 1000000000ull)	/* to read the answer */

/* ---- request parsing: a flat JSON object of strings, numbers, bools ---- */

struct json_cursor {
	const char *p, *end;
};

static void skip_ws(struct json_cursor *c)
{
	while (c->p < c->end && isspace((unsigned char)*c->p))
		c->p++;
}

static bool json_expect(struct json_cursor *c, char ch)
{
	skip_ws(c);
	if (c->p < c->end && *c->p == ch) {
		c->p++;
		return true;
	}
	return false;
}

/* A JSON string without escapes other than \" \\ \/ (requests never need more). */
static int json_string(struct json_cursor *c, char *out, size_t outlen)
{
	size_t n = 0;

	if (!json_expect(c, '"'))
		return -EINVAL;
	while (c->p < c->end && *c->p != '"') {
		char ch = *c->p++;

		if ((unsigned char)ch < 0x20)
			return -EINVAL;
		if (ch == '\\') {
			if (c->p >= c->end || !strchr("\"\\/", *c->p))
				return -EINVAL;
			ch = *c->p++;
		}
		if (n + 1 >= outlen)
			return -E2BIG;
		out[n++] = ch;
	}
	if (c->p >= c->end)
		return -EINVAL;
	c->p++;
	out[n] = '\0';
	return 0;
}

/* A value as text: a string's content, or a bare number/true/false. */
static int json_value(struct json_cursor *c, char *out, size_t outlen, bool *ret_string)
{
	size_t n = 0;

	skip_ws(c);
	*ret_string = c->p < c->end && *c->p == '"';
	if (*ret_string)
		return json_string(c, out, outlen);
	while (c->p < c->end && (isalnum((unsigned char)*c->p) || *c->p == '-' || *c->p == '.')) {
		if (n + 1 >= outlen)
			return -E2BIG;
		out[n++] = *c->p++;
	}
	out[n] = '\0';
	return n ? 0 : -EINVAL;
}

static int parse_u64(const char *s, uint64_t *ret)
{
	char *end;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	*ret = strtoull(s, &end, 10);
	return errno || *end ? -EINVAL : 0;
}

static int request_set(struct control_request *r, const char *key, const char *val,
		       bool is_string, char *err, size_t errlen)
{
	struct { const char *key; char *dst; size_t len; } strs[] = {
		{ "cmd", r->cmd, sizeof(r->cmd) }, { "name", r->name, sizeof(r->name) },
		{ "level", r->level, sizeof(r->level) }, { "format", r->format, sizeof(r->format) },
		{ "types", r->types, sizeof(r->types) },
	};
	uint64_t v;

	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		if (strcmp(key, strs[i].key))
			continue;
		if (!is_string || strlen(val) >= strs[i].len) {
			snprintf(err, errlen, "\"%s\" must be a string of at most %zu bytes",
				 key, strs[i].len - 1);
			return -EINVAL;
		}
		strcpy(strs[i].dst, val);
		return 0;
	}
	if (!strcmp(key, "follow")) {
		if (is_string || (strcmp(val, "true") && strcmp(val, "false"))) {
			snprintf(err, errlen, "\"follow\" must be true or false");
			return -EINVAL;
		}
		r->follow = !strcmp(val, "true");
		return 0;
	}
	if (!strcmp(key, "pid") || !strcmp(key, "ttl_ns") || !strcmp(key, "since_ns")) {
		if (is_string || parse_u64(val, &v) ||
		    (!strcmp(key, "pid") && (v < 1 || v > 4194304))) {
			snprintf(err, errlen, "\"%s\" must be a number%s", key,
				 !strcmp(key, "pid") ? " from 1 to 4194304" : "");
			return -EINVAL;
		}
		if (!strcmp(key, "pid"))
			r->pid = v;
		else if (!strcmp(key, "ttl_ns"))
			r->ttl_ns = v;
		else
			r->since_ns = v;
		return 0;
	}
	snprintf(err, errlen, "unknown field \"%.40s\"", key);
	return -EINVAL;
}

int control_parse_request(const char *line, size_t len, struct control_request *ret,
			  char *err, size_t errlen)
{
	struct json_cursor c = { line, line + len };
	struct control_request r = {};
	char key[32], val[512];
	bool is_string;
	int e;

	if (len > CONTROL_MAX_REQUEST) {
		snprintf(err, errlen, "request larger than %d bytes", CONTROL_MAX_REQUEST);
		return -E2BIG;
	}
	if (!json_expect(&c, '{'))
		goto bad;
	if (!json_expect(&c, '}')) {
		do {
			if (json_string(&c, key, sizeof(key)) || !json_expect(&c, ':'))
				goto bad;
			e = json_value(&c, val, sizeof(val), &is_string);
			if (e)
				goto bad;
			if (request_set(&r, key, val, is_string, err, errlen))
				return -EINVAL;
		} while (json_expect(&c, ','));
		if (!json_expect(&c, '}'))
			goto bad;
	}
	skip_ws(&c);
	if (c.p != c.end)
		goto bad;
	if (!r.cmd[0]) {
		snprintf(err, errlen, "missing \"cmd\"");
		return -EINVAL;
	}
	*ret = r;
	return 0;
bad:
	snprintf(err, errlen, "malformed request at byte %td (want a flat JSON object)",
		 c.p - line);
	return -EINVAL;
}

bool control_cmd_mutates(const char *cmd)
{
	static const char *const mutating[] = {
		"label", "unlabel", "touch", "hold", "release", "unload", "thaw", "reload",
	};

	for (size_t i = 0; i < sizeof(mutating) / sizeof(mutating[0]); i++)
		if (!strcmp(cmd, mutating[i]))
			return true;
	return false;
}

/* ---- server ---- */

/* Is a daemon answering on path? (A stale socket file is not one.) */
static bool socket_alive(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool alive;

	if (fd < 0)
		return false;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	alive = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return alive;
}

/*
 * The socket's directory (/run/memshed) decides who can replace the socket
 * under the CLI's feet: created 0755 if missing, then used only if it is a
 * real directory (not a link) owned by us (root) that nobody else can write.
 */
static int control_dir_check(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0755) && errno != EEXIST)
		return -errno;
	if (lstat(dir, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode)) {
		log_err("control socket directory %s is not a directory (a symlink?); refusing it",
			dir);
		return -ENOTDIR;
	}
	if (st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		log_err("control socket directory %s is owned by uid %u with mode %04o; refusing "
			"it: it must be owned by uid %u and not writable by group or others",
			dir, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777), (unsigned)geteuid());
		return -EPERM;
	}
	return 0;
}

int control_listen(struct control_server *s, const char *path, control_handler_fn fn, void *ctx)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[108], *slash;
	mode_t mask;
	int fd, err;

	memset(s, 0, sizeof(*s));
	s->listen_fd = -1;
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		s->clients[i].fd = -1;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		err = control_dir_check(dir);
		if (err)
			return err;
	}
	/* A socket left by a daemon that died (nobody accepts on it) is
	 * replaced; a live one is another daemon's. */
	if (socket_alive(path))
		return -EADDRINUSE;
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	/* Anyone may read status; mutations are checked per request. The
	 * mode comes from the umask at bind: the socket is never reachable
	 * with another mode (no chmod of a path afterwards). */
	mask = umask(0111);
	err = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ? -errno : 0;
	umask(mask);
	if (err || listen(fd, 64)) {
		err = err ? err : -errno;
		close(fd);
		return err;
	}
	s->listen_fd = fd;
	snprintf(s->path, sizeof(s->path), "%s", path);
	s->handler = fn;
	s->ctx = ctx;
	return 0;
}

static uint64_t control_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* A line in the log at most every CONTROL_REFUSE_LOG_S, with the count:
 * a flood of refusals must not become a flood of log lines. */
static void refused_log(struct control_server *s, uint64_t now)
{
	if (!s->refused_unlogged ||
	    (s->refused_logged_ns && now - s->refused_logged_ns < CONTROL_REFUSE_LOG_S * 1000000000ull))
		return;
	log_warn("control socket: refused %llu connection(s) or request(s) in the last %d s "
		 "(last: uid %u, %s); %llu in all", (unsigned long long)s->refused_unlogged,
		 CONTROL_REFUSE_LOG_S, (unsigned)s->refused_last_uid, s->refused_last_why,
		 (unsigned long long)s->refused);
	s->refused_unlogged = 0;
	s->refused_logged_ns = now;
}

static void refuse(struct control_server *s, uid_t uid, const char *why)
{
	s->refused++;
	s->refused_unlogged++;
	s->refused_last_uid = uid;
	snprintf(s->refused_last_why, sizeof(s->refused_last_why), "%s", why);
	refused_log(s, control_now_ns());
}

static void client_drop(struct control_server *s, struct control_client *c)
{
	if (c->follow)
		s->nr_followers--;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
	c->follow = false;
	c->answered = false;
	c->want_out = false;
	c->len = 0;
	sb_free(&c->out);
	c->out_off = 0;
}

void control_close(struct control_server *s)
{
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		client_drop(s, &s->clients[i]);
	if (s->listen_fd >= 0) {
		close(s->listen_fd);
		unlink(s->path);
	}
	s->listen_fd = -1;
}

static struct control_client *client_of(struct control_server *s, int fd)
{
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (s->clients[i].fd == fd)
			return &s->clients[i];
	return NULL;
}

/* One small line before closing a refused connection: sent only if it fits
 * at once (never waited for). */
static void refuse_line(int fd, int code, const char *msg)
{
	struct strbuf sb = {};

	sb_printf(&sb, "{\"ok\":false,\"code\":%d,\"error\":", code);
	sb_json_str(&sb, msg);
	sb_printf(&sb, "}\n");
	if (send(fd, sb.s, sb.len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		(void)0;	/* the client is gone or not reading: nothing to do */
	sb_free(&sb);
}

int control_accept(struct control_server *s, uint64_t now_ns)
{
	int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	struct control_client *free_slot = NULL;
	struct ucred cred = { .uid = (uid_t)-1 };
	socklen_t clen = sizeof(cred);
	bool allowed;
	char *buf;
	int used = 0;

	if (fd < 0)
		return -1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen))
		cred.uid = (uid_t)-1;	/* unknown: never root */
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		if (s->clients[i].fd >= 0)
			used++;
		else if (!free_slot)
			free_slot = &s->clients[i];
	}
	/* The last CONTROL_ROOT_RESERVED slots are root's: a flood of clients
	 * (or followers) of other users never locks root out. */
	allowed = free_slot && (cred.uid == 0 || used < CONTROL_MAX_CLIENTS - CONTROL_ROOT_RESERVED);
	buf = allowed ? malloc(CONTROL_MAX_REQUEST + 1) : NULL;
	if (buf) {
		*free_slot = (struct control_client){ .fd = fd, .uid = cred.uid,
						     .accepted_ns = now_ns, .buf = buf };
		return fd;
	}
	refuse(s, cred.uid, !free_slot ? "all slots are taken" : !allowed ?
	       "the slots left are reserved for root" : "out of memory");
	refuse_line(fd, EBUSY, allowed ? "out of memory; try again later" :
		    "too many control clients; try again later");
	close(fd);
	return -1;
}

/*
 * Send what is queued, without blocking. Returns 1 when all is sent, 0 when
 * some is left (EPOLLOUT is asked for), -1 when the client was dropped.
 */
static int client_flush(struct control_server *s, struct control_client *c)
{
	while (c->out_off < c->out.len) {
		ssize_t n = send(c->fd, c->out.s + c->out_off, c->out.len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (c->want_out)
				return 0;
			if (s->set_events && !s->set_events(s->ctx, c->fd, EPOLLOUT)) {
				c->want_out = true;
				return 0;
			}
			client_drop(s, c);	/* cannot wait for it: never block */
			return -1;
		}
		if (n <= 0) {
			client_drop(s, c);
			return -1;
		}
		c->out_off += n;
	}
	sb_reset(&c->out);
	c->out_off = 0;
	if (!c->follow) {
		client_drop(s, c);	/* answered */
		return -1;
	}
	if (c->want_out && s->set_events)
		s->set_events(s->ctx, c->fd, EPOLLIN | EPOLLRDHUP);
	c->want_out = false;
	return 1;
}

/* Queue output; a client with more than max bytes unread is dropped. */
static int client_queue(struct control_server *s, struct control_client *c, const char *buf,
			size_t len, size_t max)
{
	bool was_idle = c->out_off == c->out.len;

	if (c->out.len - c->out_off + len > max) {
		refuse(s, c->uid, c->follow ? "a follower fell too far behind" :
		       "an answer too large to queue");
		client_drop(s, c);
		return -1;
	}
	sb_append(&c->out, buf, len);
	/* Already waiting for EPOLLOUT: the loop sends it. */
	return was_idle ? client_flush(s, c) : 0;
}

static int followers_of(struct control_server *s, uid_t uid)
{
	int n = 0;

	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (s->clients[i].fd >= 0 && s->clients[i].follow && s->clients[i].uid == uid)
			n++;
	return n;
}

static void client_answer(struct control_server *s, struct control_client *c, const char *line,
			  size_t len)
{
	struct control_request req;
	struct strbuf body = {}, head = {};
	char err[256] = "";
	bool follow = false;
	int ret;

	ret = control_parse_request(line, len, &req, err, sizeof(err));
	if (!ret)
		req.uid = c->uid;
	if (!ret && req.uid != 0 && control_cmd_mutates(req.cmd)) {
		ret = -EPERM;
		snprintf(err, sizeof(err), "permission denied: \"%s\" changes the daemon and needs root",
			 req.cmd);
		refuse(s, req.uid, "a mutating command from a user other than root");
	}
	if (!ret)
		ret = s->handler(s->ctx, &req, &body, err, sizeof(err), &follow);
	if (!ret && follow && req.uid != 0 &&
	    followers_of(s, req.uid) >= CONTROL_MAX_FOLLOWERS_PER_UID) {
		ret = -EUSERS;
		snprintf(err, sizeof(err), "uid %u already follows events %d times (the most a user "
			 "other than root may)", (unsigned)req.uid, CONTROL_MAX_FOLLOWERS_PER_UID);
		refuse(s, req.uid, "too many followers of one uid");
		sb_reset(&body);
	}
	if (ret) {
		sb_printf(&head, "{\"ok\":false,\"code\":%d,\"error\":", -ret);
		sb_json_str(&head, err[0] ? err : strerror(-ret));
		sb_printf(&head, "}\n");
	} else {
		sb_printf(&head, "{\"ok\":true}\n");
	}
	sb_append(&head, body.s ? body.s : "", body.len);
	sb_free(&body);
	c->answered = true;
	c->len = 0;
	if (!ret && follow) {
		c->follow = true;
		s->nr_followers++;
		c->json = !strcmp(req.format, "json");
		snprintf(c->types, sizeof(c->types), "%s", req.types);
	}
	client_queue(s, c, head.s, head.len, CONTROL_MAX_ANSWER);
	sb_free(&head);
}

void control_on_writable(struct control_server *s, int fd)
{
	struct control_client *c = client_of(s, fd);

	if (c && c->out_off < c->out.len)
		client_flush(s, c);
}

void control_on_client(struct control_server *s, int fd)
{
	struct control_client *c = client_of(s, fd);
	char *nl;
	ssize_t n;

	if (!c)
		return;
	if (c->follow || c->answered) {
		/* A follower, or a client whose answer is on its way, only
		 * listens: discard what it sends, drop it when it hangs up
		 * (unless its answer is still queued: EPOLLOUT or an error
		 * ends it). */
		char tmp[256];

		while ((n = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT)) > 0)
			;
		if (n == 0 && c->out_off < c->out.len && c->want_out)
			return;	/* EPOLLOUT (or an error) ends it */
		if (n == 0 || errno != EAGAIN)
			client_drop(s, c);
		return;
	}
	n = recv(fd, c->buf + c->len, CONTROL_MAX_REQUEST + 1 - c->len, 0);
	if (n <= 0) {
		if (n == 0 || errno != EAGAIN)
			client_drop(s, c);
		return;
	}
	c->len += n;
	/*
	 * Fuzzing fix (tests/fuzz/fuzz_control.c, UBSan): c->len reaches
	 * CONTROL_MAX_REQUEST + 1 = the size of c->buf when a client sends one
	 * byte too many; the NUL then went one past the end of buf. Requests
	 * are parsed by length, so the terminator is only a courtesy.
	 */
	if (c->len < CONTROL_MAX_REQUEST + 1)
		c->buf[c->len] = '\0';
	nl = memchr(c->buf, '\n', c->len);
	if (nl) {
		client_answer(s, c, c->buf, nl - c->buf);
	} else if (c->len > CONTROL_MAX_REQUEST) {
		client_answer(s, c, c->buf, c->len);	/* refused: too large */
	}
}

void control_expire(struct control_server *s, uint64_t now_ns)
{
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		struct control_client *c = &s->clients[i];
		uint64_t age = now_ns - c->accepted_ns;

		if (c->fd < 0 || c->follow)
			continue;
		if ((!c->answered && age > CLIENT_DEADLINE_NS) ||
		    (c->answered && age > ANSWER_DEADLINE_NS)) {
			refuse(s, c->uid, c->answered ? "an answer not read in time" :
			       "no request in time");
			client_drop(s, c);
		}
	}
	refused_log(s, now_ns);
}

static bool type_wanted(const char *types, const char *type)
{
	size_t n = strlen(type);
	const char *p = types;

	if (!*types)
		return true;
	while ((p = strstr(p, type))) {
		if ((p == types || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
			return true;
		p += n;
	}
	return false;
}

void control_broadcast(struct control_server *s, const char *type, const char *json,
		       size_t len)
{
	struct strbuf text = {}, line = {};

	if (!s->nr_followers)
		return;	/* the common case: a record costs no walk of the table */
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		struct control_client *c = &s->clients[i];

		if (c->fd < 0 || !c->follow || !type_wanted(c->types, type))
			continue;
		if (!c->json && !text.s) {	/* rendered once, for every text follower */
			eventlog_render_text(&text, json, len);
			sb_append(&text, "\n", 1);
		}
		if (c->json && !line.s) {
			sb_append(&line, json, len);
			sb_append(&line, "\n", 1);
		}
		/* Never block the daemon on a follower: queued, and one that
		 * falls CONTROL_MAX_BACKLOG behind is dropped. */
		if (c->json)
			client_queue(s, c, line.s, line.len, CONTROL_MAX_BACKLOG);
		else
			client_queue(s, c, text.s, text.len, CONTROL_MAX_BACKLOG);
	}
	sb_free(&text);
	sb_free(&line);
}

/* ---- client ---- */

/* The CLI's socket blocks: write all of buf. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= n;
	}
	return 0;
}

static int client_connect(const char *path, FILE *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int e = errno;

		close(fd);
		fprintf(err, "memshed: no daemon is running (cannot connect to %s: %s); "
			"start it with `memshed run`\n", path, strerror(e));
		return -e;
	}
	return fd;
}

/* Header line: {"ok":true} or {"ok":false,"code":N,"error":"..."} */
static int client_header(const char *line, FILE *err)
{
	const char *msg, *code;

	if (!strncmp(line, "{\"ok\":true}", 11))
		return EXIT_OK;
	msg = strstr(line, "\"error\":\"");
	code = strstr(line, "\"code\":");
	if (msg) {
		/* The daemon's JSON string, unescaped (it only escapes \" \\
		 * \n \t and control characters as \u00XX). */
		fputs("memshed: ", err);
		for (const char *p = msg + 9; *p && *p != '"'; p++) {
			if (*p != '\\' || !p[1]) {
				fputc(*p, err);
				continue;
			}
			p++;
			if (*p == 'n')
				fputc('\n', err);
			else if (*p == 't')
				fputc('\t', err);
			else if (*p == 'u' && strlen(p) >= 5)
				fputc((int)strtol((char[3]){ p[3], p[4], 0 }, NULL, 16), err), p += 4;
			else
				fputc(*p, err);
		}
		fputc('\n', err);
	} else {
		fprintf(err, "memshed: bad answer from the daemon\n");
	}
	return code && atoi(code + 7) == EPERM ? EXIT_DENIED : EXIT_FAILURE_;
}

int control_call(const char *path, const char *request_json, FILE *out, FILE *err)
{
	char buf[65536], head[1024];
	size_t hlen = 0;
	bool in_body = false;
	int fd, rc = EXIT_FAILURE_;
	ssize_t n;

	fd = client_connect(path, err);
	if (fd < 0)
		return EXIT_NO_DAEMON;
	if (write_all(fd, request_json, strlen(request_json)) || write_all(fd, "\n", 1)) {
		fprintf(err, "memshed: cannot send the request: %s\n", strerror(errno));
		close(fd);
		return EXIT_FAILURE_;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		char *p = buf;

		if (!in_body) {
			char *nl = memchr(buf, '\n', n);
			size_t take = nl ? (size_t)(nl - buf) : (size_t)n;

			if (hlen + take >= sizeof(head))
				take = sizeof(head) - 1 - hlen;
			memcpy(head + hlen, buf, take);
			hlen += take;
			if (!nl)
				continue;
			head[hlen] = '\0';
			rc = client_header(head, err);
			in_body = true;
			p = nl + 1;
			n -= p - buf;
		}
		fwrite(p, 1, n, out);
		fflush(out);
	}
	close(fd);
	if (!in_body) {
		fprintf(err, "memshed: the daemon closed the connection without an answer\n");
		return EXIT_FAILURE_;
	}
	return rc;
}
