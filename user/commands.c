// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Control requests (commands.h): each command of the control socket
 * answered from, or applied to, the daemon's state. Mutating commands
 * arrive here only from root (control.c checks SO_PEERCRED).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "commands.h"
#include "daemon_state.h"
#include "round.h"

static struct component *need_component(struct daemon *d, const struct control_request *req,
					char *err, size_t errlen)
{
	struct component *c = registry_find(&d->reg, req->name);

	if (!c)
		snprintf(err, errlen, "no component named \"%s\" in the config", req->name);
	return c;
}

static int ctl_label(struct daemon *d, const struct control_request *req, char *err, size_t len)
{
	struct component *c;
	int ret;

	if (!strcmp(req->cmd, "unlabel")) {
		ret = registry_unlabel(&d->reg, req->pid);
		if (ret)
			snprintf(err, len, "process %lld is not labelled", (long long)req->pid);
		return ret;
	}
	c = need_component(d, req, err, len);
	if (!c)
		return -ENOENT;
	if (req->pid == getpid()) {
		snprintf(err, len, "memshed does not label itself");
		return -EINVAL;
	}
	ret = registry_label(&d->reg, req->pid, c->id, ORIGIN_CLI);
	if (ret == -EPERM) {
		snprintf(err, len, "process %lld is pid 1 or a kernel thread: never labelled",
			 (long long)req->pid);
		ret = -EINVAL;	/* not a permission problem of the caller */
	} else if (ret == -ESRCH) {
		snprintf(err, len, "no process %lld", (long long)req->pid);
	} else if (ret)
		snprintf(err, len, "cannot label process %lld: %s", (long long)req->pid, strerror(-ret));
	else if (d->bpf)
		loader_sample(&d->ld);	/* its memory in the next status */
	return ret;
}

static int ctl_unload(struct daemon *d, struct component *c, char *err, size_t len)
{
	uint64_t now = now_mono_ns();

	if (registry_in_use(c, now)) {
		snprintf(err, len, "%s is in use (held); release it first", c->cfg->name);
		return -EBUSY;
	}
	if (d->round.active) {
		snprintf(err, len, "a round of unloads is in progress; try again in a moment");
		return -EAGAIN;
	}
	registry_refresh(&d->reg, now);
	if (!c->nr_procs) {
		snprintf(err, len, "%s has no running process", c->cfg->name);
		return -ESRCH;
	}
	if (c->cfg->ladder[LEVEL_CRITICAL].kind == ACTION_NONE) {
		snprintf(err, len, "%s has no action at critical: nothing to do", c->cfg->name);
		return -EINVAL;
	}
	if (d->cfg->dry_run) {
		round_would(d, c, LEVEL_CRITICAL, true);
		snprintf(err, len, "dry run: %s would get %s (%d process(es)); nothing was done",
			 c->cfg->name, action_kind_name(c->cfg->ladder[LEVEL_CRITICAL].kind),
			 c->nr_procs);
		return -EPERM;
	}
	round_begin(d, LEVEL_CRITICAL, "operator request (memshed unload)");
	/* The strongest step of its ladder, as configured: the operator asked
	 * for it now (a failure is in its result record). */
	round_add(d, c, LEVEL_CRITICAL, true);
	round_step(d, now);
	return 0;
}

static int ctl_component(struct daemon *d, const struct control_request *req, char *err,
			 size_t len)
{
	struct component *c = need_component(d, req, err, len);
	uint64_t now = now_mono_ns();

	if (!c)
		return -ENOENT;
	if (!strcmp(req->cmd, "touch")) {
		registry_touch(c, now);
	} else if (!strcmp(req->cmd, "hold")) {
		registry_hold(c, req->ttl_ns, now);
	} else if (!strcmp(req->cmd, "release")) {
		registry_release(c);
	} else if (!strcmp(req->cmd, "thaw")) {
		if (round_thaw(d, c, "operator request (memshed thaw)", NULL)) {
			snprintf(err, len, "%s is not frozen", c->cfg->name);
			return -EINVAL;
		}
	} else {
		return ctl_unload(d, c, err, len);
	}
	return 0;
}

int commands_handle(void *ctx, const struct control_request *req, struct strbuf *body,
		    char *err, size_t len, bool *ret_follow)
{
	struct daemon *d = ctx;
	struct report_input in;
	enum level level;

	daemon_fill_report(d, &in);
	if (!strcmp(req->cmd, "status")) {
		if (req->format[0] && strcmp(req->format, "text") && strcmp(req->format, "json") &&
		    strcmp(req->format, "prometheus") && strcmp(req->format, "tsv")) {
			snprintf(err, len, "unknown format \"%s\" (text, json, prometheus, tsv)",
				 req->format);
			return -EINVAL;
		}
		/* A user other than root gets the last snapshot (the daemon's
		 * own samples keep it fresh): a stranger's requests never cost
		 * a walk of the kernel's maps. */
		if (req->uid == 0)
			registry_refresh(&d->reg, in.now_ns);
		report_status(body, &in, req->format);
	} else if (!strcmp(req->cmd, "explain")) {
		if (req->level[0] && level_parse(req->level, &level)) {
			snprintf(err, len, "unknown level \"%s\" (low, medium, high, critical)", req->level);
			return -EINVAL;
		}
		if (req->uid == 0)
			registry_refresh(&d->reg, in.now_ns);
		report_explain(body, &in, req->level[0] ? (int)level : -1,
			       !strcmp(req->format, "json"));
	} else if (!strcmp(req->cmd, "events")) {
		*ret_follow = true;	/* history comes from the on-disk ring */
	} else if (!strcmp(req->cmd, "label") || !strcmp(req->cmd, "unlabel")) {
		return ctl_label(d, req, err, len);
	} else if (!strcmp(req->cmd, "reload")) {
		return daemon_reload(d, err, len);
	} else if (!strcmp(req->cmd, "ping")) {
		sb_printf(body, "pong\n");
	} else if (control_cmd_mutates(req->cmd)) {
		return ctl_component(d, req, err, len);
	} else {
		snprintf(err, len, "unknown command \"%s\"", req->cmd);
		return -EINVAL;
	}
	return 0;
}
