// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The on-disk event ring (DESIGN 7), shared through a MAP_SHARED mapping.
 *
 * Format (host byte order; the file never leaves the host):
 *   bytes 0..4095  header page: magic "MSEVRING", version 1, data offset 4096,
 *                  file size, head, tail, next_seq
 *   bytes 4096..   data region of D = size - 4096 bytes, a circle of items,
 *                  each 8-byte aligned:
 *     record       {u32 magic "REV1", u32 len, u64 seq, u32 crc, u32 0},
 *                  then len payload bytes, padded to 8
 *     wrap marker  {u32 magic "WRAP", u32 0, u64 seq, u32 crc, u32 0}: the
 *                  rest of this lap is unused, the next item is at offset 0.
 *                  Fewer than 24 bytes left before the end wrap implicitly.
 *   crc is CRC-32 (IEEE, zlib's crc32()) of seq, len and the payload.
 *
 * head and tail are not offsets but stream positions: byte counts since the
 * ring was created that only grow (offset = position % D). Each is one
 * aligned 64-bit store, so no reader or crash can see half of an update, and
 * "has this byte been overwritten since I read it" becomes a comparison with
 * the tail. Live items lie in [tail, head), and head - tail <= D.
 *
 * Writer (eventring_append): first move the tail past every item the new
 * record will overwrite and publish it, then write the bytes, then publish
 * head and next_seq. Readers need no lock and never block the writer: they
 * copy an item, then re-read the tail; if the tail has passed the item, the
 * copy may be torn and the walk restarts at the new tail. This is the
 * validation half of a seqlock, with the tail as the sequence counter, so a
 * writer that dies mid-append leaves nothing a reader could wait on.
 *
 * Crash consistency, without fsync: after a process crash the page cache
 * holds every store the writer made, and the store order above means
 * [tail, head) is whole. A kernel crash or power loss may write the pages
 * back in any order, so eventring_open walks from the tail checking magic,
 * bounds, CRC and increasing seqs, and cuts head at the first bad item;
 * next_seq never goes back, so seqs are never reused. Readers apply the same
 * checks and stop at a bad item; all their reads are bounded by the mapping.
 * The file is allocated up front (posix_fallocate) so that a full disk cannot
 * turn a store into SIGBUS, and it is replaced only by rename(), never
 * truncated in place, so a reader's mapping stays valid.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "eventring.h"

#define RING_MAGIC	"MSEVRING"
#define RING_VERSION	1
#define RING_DATA_OFF	4096ULL
#define REC_MAGIC	0x31564552u	/* "REV1" */
#define WRAP_MAGIC	0x50415257u	/* "WRAP" */
/* The writer keeps this much of the data mapped around where it writes
 * (ring_let_go): letting go of every page as it fills cost a TLB flush per
 * page, 22% of the daemon's time under a flood of events. */
#define RING_WINDOW	(64ULL << 10)
/*
 * Fuzzing fix (tests/fuzz/fuzz_eventring.c): stream positions and record
 * seqs at or above this are corrupt (4 EiB written / 2^62 events are never
 * reached), so that position + item size and seq + 1 can never wrap around
 * 2^64. A header's next_seq must be below half of it: 2^61 appends more
 * could not make a record that the walk refuses.
 */
#define RING_LIMIT	(1ULL << 62)

struct ring_header {
	char magic[8];
	uint32_t version;
	uint32_t data_offset;
	uint64_t size;		/* of the file */
	uint64_t head;		/* stream position after the newest item */
	uint64_t tail;		/* stream position of the oldest item */
	uint64_t next_seq;
};

struct rec_header {
	uint32_t magic;
	uint32_t len;
	uint64_t seq;
	uint32_t crc;
	uint32_t reserved;
};

#define REC_HDR		sizeof(struct rec_header)
_Static_assert(REC_HDR == 24, "record header is 24 bytes, 8-aligned");

struct eventring {
	int fd;
	bool writable;
	uint8_t *map;
	uint64_t size;
	struct ring_header *hdr;
	uint8_t *data;
	uint64_t dsize;		/* D */
	char *buf;		/* private copy of one payload, D + 1 bytes */
	uint64_t page_size;
};

enum { ITEM_BAD, ITEM_RECORD, ITEM_WRAP };

/* crc32(crc, NULL, 0) returns 0, not crc (zlib's way to get the initial
 * value): the wrap marker's empty payload is skipped. */
static uint32_t rec_crc(uint64_t seq, uint32_t len, const void *payload)
{
	uLong crc = crc32(0L, (const Bytef *)&seq, sizeof(seq));

	crc = crc32(crc, (const Bytef *)&len, sizeof(len));
	if (len)
		crc = crc32(crc, payload, len);
	return crc;
}

static uint64_t rec_size(uint64_t len)
{
	return (REC_HDR + len + 7) & ~7ULL;
}

static uint64_t load_acquire(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void store_release(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/*
 * What lies at stream position V: a record (header copied to *h), a wrap to
 * the next lap, or junk. *ret_next is the position after it. Only the
 * mapping's bounds are trusted, so junk (torn or corrupt) never faults.
 */
static int ring_item(const struct eventring *r, uint64_t v, struct rec_header *h,
		     uint64_t *ret_next)
{
	uint64_t off = v % r->dsize, room = r->dsize - off;

	if (room < REC_HDR) {
		*ret_next = v + room;
		return ITEM_WRAP;
	}
	memcpy(h, r->data + off, REC_HDR);
	if (h->reserved)
		return ITEM_BAD;
	if (h->magic == WRAP_MAGIC && h->len == 0 && h->crc == rec_crc(h->seq, 0, NULL)) {
		*ret_next = v + room;
		return ITEM_WRAP;
	}
	if (h->magic != REC_MAGIC || h->len > room - REC_HDR)
		return ITEM_BAD;
	*ret_next = v + rec_size(h->len);
	return ITEM_RECORD;
}

/*
 * Walk [tail, head) as published when the walk (re)starts. *ret_end is where
 * it stopped (head, or the first bad item), *ret_last the last good seq.
 * Shared by readers and by the writer's recovery in eventring_open.
 */
static int ring_walk(struct eventring *r, uint64_t from_seq, eventring_fn fn, void *ctx,
		     uint64_t *ret_end, uint64_t *ret_last)
{
	uint64_t v, head, next, prev = 0;
	struct rec_header h;
	int kind, ret = 0;

restart:
	v = load_acquire(&r->hdr->tail);
	head = load_acquire(&r->hdr->head);
	/*
	 * More than a lap: the writer moved on between the two loads (the
	 * first item's tail check restarts us) or the header is junk; either
	 * way never walk further than one lap.
	 */
	if (head > v && head - v > r->dsize)
		head = v + r->dsize;
	while (v < head) {
		bool want;

		kind = ring_item(r, v, &h, &next);
		want = kind == ITEM_RECORD && h.seq >= from_seq;
		if (want)
			memcpy(r->buf, r->data + v % r->dsize + REC_HDR, h.len);
		/*
		 * The writer moves the tail past an item before overwriting it,
		 * with a release fence in between; so if the tail read after
		 * this acquire fence has not passed V, nothing we copied was
		 * overwritten. Otherwise we were lapped: go on from the new
		 * tail, skipping what we already delivered.
		 */
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&r->hdr->tail, __ATOMIC_RELAXED) > v) {
			if (prev >= from_seq)
				from_seq = prev + 1;
			goto restart;
		}
		/* next <= v: the position wrapped around 2^64 (corrupt header) */
		if (kind == ITEM_BAD || next > head || next <= v)
			break;
		if (kind == ITEM_RECORD) {
			if (h.seq <= prev || h.seq >= RING_LIMIT)
				break;
			if (want) {
				if (rec_crc(h.seq, h.len, r->buf) != h.crc)
					break;
				r->buf[h.len] = '\0';
				if (fn && (ret = fn(ctx, h.seq, r->buf, h.len)))
					break;
			}
			prev = h.seq;
		}
		v = next;
	}
	if (ret_end)
		*ret_end = v;
	if (ret_last)
		*ret_last = prev;
	return ret;
}

int eventring_for_each(struct eventring *r, uint64_t from_seq, eventring_fn fn, void *ctx)
{
	return ring_walk(r, from_seq, fn, ctx, NULL, NULL);
}

uint64_t eventring_next_seq(struct eventring *r)
{
	return load_acquire(&r->hdr->next_seq);
}

/* Which RING_WINDOW of the mapping data offset OFF lies in. */
static uint64_t ring_window(uint64_t off)
{
	return (RING_DATA_OFF + off) / RING_WINDOW;
}

/*
 * The writer keeps mapped only the header and the window holding data
 * offset KEEP (where it writes next): a lap of records would otherwise stay
 * in its resident set, and locked there by the daemon's mlockall. The bytes
 * stay in the page cache, where readers and a crash find them as before.
 */
static void ring_let_go(struct eventring *r, uint64_t keep)
{
	uint64_t ps = r->page_size, lo = (RING_DATA_OFF + ps - 1) & ~(ps - 1);
	uint64_t from = ring_window(keep) * RING_WINDOW, to = from + RING_WINDOW;
	uint64_t end = r->size & ~(ps - 1);

	if (from > lo)
		madvise(r->map + lo, from - lo, MADV_DONTNEED);
	if (to < end)
		madvise(r->map + to, end - to, MADV_DONTNEED);
	/* The window's pages in one call, not a page fault each as records
	 * fill them (a fault per 4 KiB page was most of what a record cost). */
	madvise(r->map + from, (to < end ? to : end) - from, MADV_POPULATE_WRITE);
}

/*
 * Drop the oldest items that the bytes [head, end) will overwrite: the byte
 * at stream position x takes the place of the one at x - D. The tail is
 * published before any byte is written (see ring_walk).
 */
static void ring_make_room(struct eventring *r, uint64_t head, uint64_t start, uint64_t end)
{
	uint64_t tail = r->hdr->tail, next;
	struct rec_header h;

	while (tail < head && tail + r->dsize < end) {
		if (ring_item(r, tail, &h, &next) == ITEM_BAD) {
			tail = head;	/* scribbled on since open: drop all */
			break;
		}
		tail = next;
	}
	if (tail >= head)
		tail = start;	/* empty: the new record becomes the oldest */
	__atomic_store_n(&r->hdr->tail, tail, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

int eventring_append(struct eventring *r, const char *json, size_t len)
{
	uint64_t head, start, end, off, seq;
	struct rec_header h = { .magic = REC_MAGIC };

	if (!r->writable)
		return -EBADF;
	if (len > r->dsize - REC_HDR)
		return -E2BIG;

	head = r->hdr->head;
	off = head % r->dsize;
	start = head;
	if (r->dsize - off < rec_size(len))
		start += r->dsize - off;	/* does not fit: next lap */
	end = start + rec_size(len);
	seq = r->hdr->next_seq;
	ring_make_room(r, head, start, end);

	if (start != head && r->dsize - off >= REC_HDR) {
		struct rec_header w = { .magic = WRAP_MAGIC, .seq = seq,
					.crc = rec_crc(seq, 0, NULL) };

		memcpy(r->data + off, &w, REC_HDR);
	}
	h.len = len;
	h.seq = seq;
	h.crc = rec_crc(seq, len, json);
	memcpy(r->data + start % r->dsize, &h, REC_HDR);
	memcpy(r->data + start % r->dsize + REC_HDR, json, len);

	/* Readers walk up to head: the record must be whole before it moves. */
	store_release(&r->hdr->head, end);
	store_release(&r->hdr->next_seq, seq + 1);
	if (ring_window(off) != ring_window(end % r->dsize))
		ring_let_go(r, end % r->dsize);
	return 0;
}

static bool ring_header_ok(const struct ring_header *h, uint64_t size)
{
	uint64_t dsize = size - RING_DATA_OFF;

	if (memcmp(h->magic, RING_MAGIC, 8) || h->version != RING_VERSION ||
	    h->data_offset != RING_DATA_OFF || h->size != size ||
	    size < EVENTRING_MIN_SIZE || size > EVENTRING_MAX_SIZE || size % 8)
		return false;
	if (h->head % 8 || h->tail % 8 || h->next_seq == 0)
		return false;
	if (h->head >= RING_LIMIT || h->tail >= RING_LIMIT || h->next_seq >= RING_LIMIT / 2)
		return false;
	/* tail > head only for a moment in append, when the ring was emptied */
	if (h->head >= h->tail ? h->head - h->tail > dsize : h->tail - h->head > dsize)
		return false;
	return true;
}

/* Cut a torn or corrupt tail (see the top of the file). */
static void ring_recover(struct eventring *r)
{
	struct ring_header *h = r->hdr;
	uint64_t end, last;

	if (h->tail > h->head)
		store_release(&h->head, h->tail);
	ring_walk(r, 0, NULL, NULL, &end, &last);
	store_release(&h->head, end);
	if (last >= h->next_seq)
		store_release(&h->next_seq, last + 1);
}

static int ring_map(int fd, uint64_t size, bool writable, struct eventring **ret)
{
	struct eventring *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->map = mmap(NULL, size, writable ? PROT_READ | PROT_WRITE : PROT_READ,
		      MAP_SHARED, fd, 0);
	if (r->map == MAP_FAILED) {
		int err = -errno;

		free(r);
		return err;
	}
	r->fd = fd;
	r->writable = writable;
	r->size = size;
	r->hdr = (struct ring_header *)r->map;
	r->data = r->map + RING_DATA_OFF;
	r->dsize = size - RING_DATA_OFF;
	r->page_size = sysconf(_SC_PAGESIZE);
	/* The writer's data pages are let go of as it moves on (ring_let_go):
	 * the kernel refuses that for locked pages. */
	if (writable && size > r->page_size)
		munlock(r->map + r->page_size, size - r->page_size);
	r->buf = malloc(r->dsize + 1);
	if (!r->buf) {
		munmap(r->map, size);
		free(r);
		return -ENOMEM;
	}
	*ret = r;
	return 0;
}

static int mkdir_parents(const char *path)
{
	char *p = strdup(path), *s;
	int ret = 0;

	if (!p)
		return -ENOMEM;
	for (s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST) {
			ret = -errno;
			break;
		}
		*s = '/';
	}
	free(p);
	return ret;
}

/*
 * Build a new ring in PATH.tmp and rename it over PATH: a reader that has
 * the old file mapped keeps a valid (if stale) mapping.
 */
static int ring_create(const char *path, uint64_t size, uint64_t next_seq, int *ret_fd)
{
	struct ring_header h = { .magic = RING_MAGIC, .version = RING_VERSION,
				 .data_offset = RING_DATA_OFF, .size = size,
				 .next_seq = next_seq };
	char *tmp = NULL;
	int fd = -1, ret;
	ssize_t n;

	if (asprintf(&tmp, "%s.tmp", path) < 0)
		return -ENOMEM;
	unlink(tmp);
	fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0) {
		ret = -errno;
		goto cleanup;
	}
	/* Locked before it appears under PATH: no second writer can slip in. */
	if (flock(fd, LOCK_EX | LOCK_NB) < 0 || fchmod(fd, 0640) < 0) {
		ret = -errno;
		goto cleanup;
	}
	ret = -posix_fallocate(fd, 0, size);
	if (ret)
		goto cleanup;
	n = pwrite(fd, &h, sizeof(h), 0);
	if (n != (ssize_t)sizeof(h)) {
		ret = n < 0 ? -errno : -EIO;
		goto cleanup;
	}
	if (rename(tmp, path) < 0) {
		ret = -errno;
		goto cleanup;
	}
	*ret_fd = fd;
	fd = -1;
cleanup:
	if (fd >= 0) {
		unlink(tmp);
		close(fd);
	}
	free(tmp);
	return ret;
}

int eventring_open(const char *path, uint64_t size, struct eventring **ret,
		   bool *ret_recreated)
{
	struct ring_header h = { 0 };
	struct eventring *r = NULL;
	bool recreated = false;
	struct stat st;
	int fd, ret_code;

	if (size < EVENTRING_MIN_SIZE || size > EVENTRING_MAX_SIZE)
		return -EINVAL;
	size = (size + 4095) & ~4095ULL;
	ret_code = mkdir_parents(path);
	if (ret_code)
		return ret_code;
	/* The daemon writes here as root: never through a link, and only a
	 * file of its own (-ELOOP, -EPERM: the caller names the path). */
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		ret_code = -errno;
		goto cleanup;
	}
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
		ret_code = S_ISREG(st.st_mode) ? -EPERM : -ENOTSUP;
		goto cleanup;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		ret_code = errno == EWOULDBLOCK ? -EBUSY : -errno;
		goto cleanup;
	}
	if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
		memset(&h, 0, sizeof(h));
	if ((uint64_t)st.st_size != size || !ring_header_ok(&h, size)) {
		uint64_t next_seq = 1;
		int new_fd = -1;

		/* Keep seqs increasing so a follower never sees one twice. */
		if (!memcmp(h.magic, RING_MAGIC, 8) && h.version == RING_VERSION && h.next_seq &&
		    h.next_seq < RING_LIMIT / 2)
			next_seq = h.next_seq;
		recreated = st.st_size > 0;
		ret_code = ring_create(path, size, next_seq, &new_fd);
		if (ret_code)
			goto cleanup;
		close(fd);
		fd = new_fd;
	}
	ret_code = ring_map(fd, size, true, &r);
	if (ret_code)
		goto cleanup;
	ring_recover(r);
	ring_let_go(r, r->hdr->head % r->dsize);	/* recovery read every record */
	*ret = r;
	if (ret_recreated)
		*ret_recreated = recreated;
	return 0;
cleanup:
	close(fd);
	return ret_code;
}

int eventring_open_read(const char *path, struct eventring **ret)
{
	struct eventring *r;
	struct stat st;
	int fd, ret_code;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		ret_code = -errno;
		goto cleanup;
	}
	/* Check the size before mapping: never touch a page past the end. */
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size < EVENTRING_MIN_SIZE ||
	    (uint64_t)st.st_size > EVENTRING_MAX_SIZE) {
		ret_code = -EBADMSG;
		goto cleanup;
	}
	ret_code = ring_map(fd, st.st_size, false, &r);
	if (ret_code)
		goto cleanup;
	if (memcmp(r->hdr->magic, RING_MAGIC, 8) || r->hdr->version != RING_VERSION ||
	    r->hdr->data_offset != RING_DATA_OFF || r->hdr->size != (uint64_t)st.st_size ||
	    st.st_size % 8) {
		eventring_close(r);
		return -EBADMSG;
	}
	*ret = r;
	return 0;
cleanup:
	close(fd);
	return ret_code;
}

void eventring_close(struct eventring *r)
{
	if (!r)
		return;
	munmap(r->map, r->size);
	close(r->fd);
	free(r->buf);
	free(r);
}
