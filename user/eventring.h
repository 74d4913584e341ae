/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The on-disk event ring (DESIGN 7): a file of fixed size under
 * /var/lib/memshed/ holding the newest event records (JSON lines), so that
 * history survives restarts. The daemon appends; `memshed events` reads it,
 * possibly from another process while the daemon runs. The oldest records
 * are overwritten; a torn or corrupt tail left by a crash is dropped.
 * The format and its crash behaviour are described in eventring.c.
 *
 * Not thread-safe: one thread per struct eventring. One writer per file
 * (eventring_open takes an flock), any number of readers.
 */
#ifndef MEMSHED_EVENTRING_H
#define MEMSHED_EVENTRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EVENTRING_MIN_SIZE	(64ULL << 10)
#define EVENTRING_MAX_SIZE	(4ULL << 30)

struct eventring;

typedef int (*eventring_fn)(void *ctx, uint64_t seq, const char *json, size_t len);

/*
 * Open or create PATH of SIZE bytes (rounded up to 4 KiB; -EINVAL outside
 * EVENTRING_MIN_SIZE..EVENTRING_MAX_SIZE), creating parent directories with
 * 0755 and the file with 0640. A file of another size or with a bad header is
 * replaced by a new one (*ret_recreated is set so the caller can log it; the
 * sequence numbers continue when the old header was readable). -EBUSY if
 * another process holds the ring open for writing. PATH is never followed
 * as a symlink (-ELOOP) and must be a regular file (-ENOTSUP) owned by the
 * caller's euid (-EPERM): the daemon writes it as root.
 */
int eventring_open(const char *path, uint64_t size, struct eventring **ret,
		   bool *ret_recreated);

/* Open read-only, never creating; -ENOENT if missing, -EBADMSG if not a ring. */
int eventring_open_read(const char *path, struct eventring **ret);

/*
 * Append one record (LEN bytes, no NUL needed). Its sequence number is
 * eventring_next_seq() before the call. -E2BIG if it cannot fit in the ring,
 * -EBADF on a ring opened read-only.
 */
int eventring_append(struct eventring *r, const char *json, size_t len);

/*
 * Call FN for each record with seq >= FROM_SEQ (0: all), oldest first, with a
 * private, NUL-terminated copy that has passed its CRC. FN returning nonzero
 * stops the walk and that value is returned; otherwise 0. Seqs always
 * increase; a gap means records were overwritten while the walk was behind
 * the writer (or dropped as corrupt). The walk ends at the newest record
 * present when it started, or at the first corrupt one.
 */
int eventring_for_each(struct eventring *r, uint64_t from_seq, eventring_fn fn, void *ctx);

/* The seq the next appended record will get (seqs start at 1). */
uint64_t eventring_next_seq(struct eventring *r);

void eventring_close(struct eventring *r);

#endif
