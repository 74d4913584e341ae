// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer target: the control socket (user/control.c), which takes
 * requests from any local user (the socket is 0666; only mutating commands
 * need root). Each input goes through
 *   1. control_parse_request on an exact-size heap copy (not NUL-terminated):
 *      no crash, no read past LEN; on success every string field is
 *      NUL-terminated and "cmd" non-empty, on failure err is a message;
 *   2. the server side, as the daemon runs it: a real listening socket, a
 *      client that connects and sends the input in two pieces (split where
 *      the first two bytes say) then hangs up, control_accept and
 *      control_on_client after each piece, a stand-in handler, a broadcast
 *      to followers; the client must get one header line {"ok":...}, and
 *      every client slot must be free again at the end.
 *
 * Seeds: tests/fuzz/control/. Run with `make fuzz`.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "fuzz_tmpdir.h"

#define TERMINATED(a)	(memchr((a), '\0', sizeof(a)) != NULL)

static struct control_server server;
static char path[300];

/* A stand-in for the daemon's ctl_handle: a body, an error, or follow. */
static int handler(void *ctx, const struct control_request *req, struct strbuf *body,
		   char *err, size_t errlen, bool *ret_follow)
{
	if (!TERMINATED(req->cmd) || !TERMINATED(req->types))
		abort();
	if (!strcmp(req->cmd, "events")) {
		*ret_follow = true;
		return 0;
	}
	if (!strcmp(req->cmd, "fail")) {
		snprintf(err, errlen, "no component named \"%s\"", req->name);
		return -ENOENT;
	}
	if (!strcmp(req->cmd, "silent"))
		return -EINVAL;		/* no message: strerror */
	sb_printf(body, "cmd %s name %s pid %lld\n", req->cmd, req->name, (long long)req->pid);
	return 0;
}

static void cleanup(void)
{
	control_close(&server);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	snprintf(path, sizeof(path), "%s/s.sock", fuzz_tmpdir("ctl"));
	if (control_listen(&server, path, handler, NULL))
		abort();
	/* Runs before fuzz_tmpdir's handler (registered first), which removes the dir. */
	atexit(cleanup);
	return 0;
}

static void check_parse(const uint8_t *data, size_t size)
{
	struct control_request req;
	char err[256], *copy;
	int ret;

	copy = malloc(size ? size : 1);
	if (!copy)
		return;
	memcpy(copy, data, size);
	memset(&req, 0xa5, sizeof(req));
	memset(err, 0xa5, sizeof(err));
	ret = control_parse_request(copy, size, &req, err, sizeof(err));
	if (ret == 0) {
		if (!TERMINATED(req.cmd) || !req.cmd[0] || !TERMINATED(req.name) ||
		    !TERMINATED(req.level) || !TERMINATED(req.format) ||
		    !TERMINATED(req.types) || req.pid < 0 || req.pid > 4194304)
			abort();
		(void)control_cmd_mutates(req.cmd);
	} else {
		if ((ret != -EINVAL && ret != -E2BIG) || !TERMINATED(err) || !err[0])
			abort();
	}
	free(copy);
}

/* Socket buffers are far larger than inputs: all is sent, unless the server
 * shut its side (a follower, after its answer): EPIPE then. */
static void send_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w <= 0) {
			if (w < 0 && errno == EPIPE)
				return;
			abort();
		}
		p += w, n -= w;
	}
}

static struct control_client *slot_of(int fd)
{
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (server.clients[i].fd == fd)
			return &server.clients[i];
	return NULL;
}

static void check_server(const uint8_t *data, size_t size)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char answer[8192];
	size_t split = 0, got = 0;
	struct control_client *c;
	int cfd, sfd;
	ssize_t n;

	if (size >= 2)
		split = ((size_t)data[0] << 8 | data[1]) % (size + 1);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	cfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (cfd < 0 || connect(cfd, (struct sockaddr *)&sa, sizeof(sa)))
		abort();
	sfd = control_accept(&server, 0);
	if (sfd < 0 || !(c = slot_of(sfd)))
		abort();

	send_all(cfd, data, split);
	control_on_client(&server, sfd);
	if (slot_of(sfd)) {
		send_all(cfd, data + split, size - split);
		control_on_client(&server, sfd);
	}
	if (slot_of(sfd) && c->follow)
		control_broadcast(&server, "level", "{\"type\":\"level\"}", 16);
	shutdown(cfd, SHUT_WR);
	/* The hang-up: a follower or a client with half a request is dropped. */
	if (slot_of(sfd))
		control_on_client(&server, sfd);
	if (slot_of(sfd))
		abort();

	while ((n = recv(cfd, answer + got, sizeof(answer) - 1 - got, MSG_DONTWAIT)) > 0)
		got += n;
	answer[got] = '\0';
	/* One answer header when a full line (or too much) was sent, else none. */
	if (got && (strncmp(answer, "{\"ok\":", 6) || !strchr(answer, '\n')))
		abort();
	if (!got && (memchr(data, '\n', size) || size > CONTROL_MAX_REQUEST))
		abort();
	close(cfd);
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (server.clients[i].fd >= 0)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_parse(data, size);
	check_server(data, size);
	return 0;
}
