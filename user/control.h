/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The control socket: one JSON object per request line, answered with a
 * header line {"ok":true} or {"ok":false,"error":"..."} and a body, then
 * the connection closes (or, for "events" with follow, stays open and
 * streams records). Mutating commands need uid 0 (SO_PEERCRED).
 */
#ifndef MEMSHED_CONTROL_H
#define MEMSHED_CONTROL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include "output.h"

#define CONTROL_DIR		"/run/memshed"
#define CONTROL_SOCKET		CONTROL_DIR "/memshed.sock"
#define CONTROL_MAX_REQUEST	4096
#define CONTROL_MAX_CLIENTS	64
/* Slots only root may take: no user can lock root out of its daemon. */
#define CONTROL_ROOT_RESERVED	8
/* `events --follow` streams per uid other than root. */
#define CONTROL_MAX_FOLLOWERS_PER_UID	8
/* What a client may have queued and unread: an answer, or a follower's
 * backlog (a follower past it is dropped; it can reconnect with --since). */
#define CONTROL_MAX_ANSWER	(8u << 20)
#define CONTROL_MAX_BACKLOG	(256u << 10)
/* Refusals are logged at most once per this many seconds, with a count. */
#define CONTROL_REFUSE_LOG_S	10

/* CLI exit codes (memshed(8), EXIT STATUS). */
enum {
	EXIT_OK = 0,
	EXIT_FAILURE_ = 1,	/* the daemon refused or the command failed */
	EXIT_USAGE = 2,
	EXIT_NO_DAEMON = 3,
	EXIT_DENIED = 4,
};

struct control_request {
	char cmd[32];
	char name[64];		/* component */
	int64_t pid;
	char level[16];
	char format[16];	/* text | json | prometheus */
	char types[256];	/* events: comma-separated types */
	uint64_t ttl_ns;
	uint64_t since_ns;	/* events: only the last since_ns */
	bool follow;
	uid_t uid;		/* of the peer, from SO_PEERCRED */
};

/* Parse one request line (flat JSON object, strict). 0 or -EINVAL with err set. */
int control_parse_request(const char *line, size_t len, struct control_request *ret,
			  char *err, size_t errlen);
bool control_cmd_mutates(const char *cmd);

struct control_client {
	int fd;
	uid_t uid;		/* SO_PEERCRED, at accept */
	uint64_t accepted_ns;
	bool follow;		/* streaming events */
	bool answered;		/* the answer is queued: close once it is sent */
	bool want_out;		/* waiting for EPOLLOUT */
	bool json;
	char types[256];
	size_t len;
	/* CONTROL_MAX_REQUEST + 1 bytes, while connected: the daemon's table
	 * of 64 slots is then 20 KiB, not 280 (of which every page is read). */
	char *buf;
	struct strbuf out;	/* queued output, sent on EPOLLOUT */
	size_t out_off;		/* bytes of out already sent */
};

/* Answer a request: write the body into `body`; return 0 or -errno with
 * `err` set. Set *ret_follow to keep the connection open for events. */
typedef int (*control_handler_fn)(void *ctx, const struct control_request *req,
				  struct strbuf *body, char *err, size_t errlen, bool *ret_follow);
/* Set the epoll events a client fd waits for: EPOLLOUT while output is
 * queued, EPOLLIN|EPOLLRDHUP otherwise. 0 or -errno. */
typedef int (*control_events_fn)(void *ctx, int fd, uint32_t events);

struct control_server {
	int listen_fd;
	char path[108];
	struct control_client clients[CONTROL_MAX_CLIENTS];
	int nr_followers;		/* clients with follow set */
	control_handler_fn handler;
	control_events_fn set_events;	/* NULL: output is only tried, never waited for */
	void *ctx;
	uint64_t refused;	/* connections or requests turned away (status shows it) */
	uint64_t refused_unlogged;	/* since the last log line */
	uint64_t refused_logged_ns;
	uid_t refused_last_uid;
	char refused_last_why[96];
};

int control_listen(struct control_server *s, const char *path, control_handler_fn fn, void *ctx);
void control_close(struct control_server *s);
/* The listening socket is readable: accept. Returns the new client's fd or -1. */
int control_accept(struct control_server *s, uint64_t now_ns);
/* A client fd is readable (or hung up). */
void control_on_client(struct control_server *s, int fd);
/* A client fd is writable: send what is queued. */
void control_on_writable(struct control_server *s, int fd);
/* Drop clients that sent no full request within the deadline (or did not
 * read their answer within a longer one); log pending refusals. */
void control_expire(struct control_server *s, uint64_t now_ns);
/* Send one event record (JSON) to the followers that want it, as JSON or
 * as its text line. */
void control_broadcast(struct control_server *s, const char *type, const char *json,
		       size_t len);

/* Client side: send one request, copy the body to out. Returns an exit code. */
int control_call(const char *path, const char *request_json, FILE *out, FILE *err);

#endif
