/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The daemon's answers to control requests (status, explain, events, label,
 * unlabel, touch, hold, release, unload, thaw, reload, ping). */
#ifndef MEMSHED_COMMANDS_H
#define MEMSHED_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>
#include "control.h"

/* A control_handler_fn; ctx is the struct daemon. */
int commands_handle(void *ctx, const struct control_request *req, struct strbuf *body,
		    char *err, size_t errlen, bool *ret_follow);

#endif
