// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer target: the on-disk event ring (user/eventring.c) on corrupt
 * files. The ring file survives crashes and restarts and is read by
 * `memshed events`; whatever is in it (a torn write, a power loss, a
 * scribble), opening and walking it must neither crash, nor read outside the
 * mapping, nor hang.
 *
 * The input is laid out as a ring file of EVENTRING_MIN_SIZE + 8 * k bytes:
 *   byte 0        bit 0: write a valid magic/version/data_offset/size into
 *                 the header (so most runs get past the header checks);
 *                 bits 1..7: k
 *   bytes 1..48   the header (struct ring_header in eventring.c), raw
 *   bytes 49..    written into the data region at the tail's offset,
 *                 wrapping at its end, so that the items the walk starts
 *                 with are the fuzzer's (and wrap-around is reached)
 * Then, on that file:
 *   1. eventring_open_read + eventring_for_each from seq 0 and from a seq in
 *      the middle: records come out with increasing seqs, NUL-terminated,
 *      and each is rendered as its text line (eventlog_render_text, as
 *      `memshed events` and `memshed top` do);
 *   2. eventring_open (the writer's recovery) + eventring_for_each, then
 *      eventring_append of a few records, two of half the ring each: every
 *      append must succeed, get the next seq and be the last record a walk
 *      from the tail sees.
 *
 * Seeds: tests/fuzz/eventring/. Run with `make fuzz`.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eventlog.h"
#include "eventring.h"
#include "fuzz_tmpdir.h"

#define DATA_OFF	4096
#define HDR_LEN		48	/* sizeof(struct ring_header) in eventring.c */

static char path[300];

struct walk {
	uint64_t from, prev, last, n;
	size_t last_len;
	char last_payload[64];
};

static int on_record(void *ctx, uint64_t seq, const char *json, size_t len)
{
	struct walk *w = ctx;

	struct strbuf text = {};

	/* Seqs increase and respect FROM; the copy is NUL-terminated. */
	if (seq <= w->prev || seq < w->from || json[len] != '\0')
		abort();
	/* Whatever the record holds, it renders to a line (itself, if junk). */
	eventlog_render_text(&text, json, eventlog_record_json_len(json, len));
	if (!text.s || strlen(text.s) != text.len)
		abort();
	sb_free(&text);
	w->prev = w->last = seq;
	w->n++;
	w->last_len = len;
	memcpy(w->last_payload, json, len < sizeof(w->last_payload) ? len : sizeof(w->last_payload));
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	snprintf(path, sizeof(path), "%s/events.ring", fuzz_tmpdir("ring"));
	return 0;
}

static void write_ring_file(const uint8_t *data, size_t size, uint64_t fsize)
{
	uint8_t hdr[HDR_LEN] = { 0 };
	uint64_t dsize = fsize - DATA_OFF, tail, off;
	int fd;

	if (size > 1)
		memcpy(hdr, data + 1, size - 1 < HDR_LEN ? size - 1 : HDR_LEN);
	if (data[0] & 1) {
		uint32_t version = 1, data_off = DATA_OFF;

		memcpy(hdr, "MSEVRING", 8);
		memcpy(hdr + 8, &version, 4);
		memcpy(hdr + 12, &data_off, 4);
		memcpy(hdr + 16, &fsize, 8);
	}
	memcpy(&tail, hdr + 32, 8);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0 || ftruncate(fd, fsize) < 0 || pwrite(fd, hdr, HDR_LEN, 0) != HDR_LEN)
		abort();
	if (size > 1 + HDR_LEN) {
		const uint8_t *p = data + 1 + HDR_LEN;
		size_t left = size - 1 - HDR_LEN;

		if (left > dsize)
			left = dsize;
		off = tail % dsize;
		while (left) {
			size_t n = dsize - off < left ? dsize - off : left;

			if (pwrite(fd, p, n, DATA_OFF + off) != (ssize_t)n)
				abort();
			p += n, left -= n, off = 0;
		}
	}
	close(fd);
}

/*
 * Append a record of LEN bytes; it must get the next seq and a walk from the
 * tail must get to it. The walk asks only for seqs from the new one, so that
 * the CRCs of the big records are not computed over and over (the walk still
 * steps over every older item).
 */
static uint64_t check_append(struct eventring *r, size_t len, char fill)
{
	static char payload[EVENTRING_MIN_SIZE];
	uint64_t seq = eventring_next_seq(r);
	struct walk w = { .from = seq };

	memset(payload, fill, len);
	if (eventring_append(r, payload, len))
		abort();
	if (eventring_next_seq(r) != seq + 1)
		abort();
	if (eventring_for_each(r, seq, on_record, &w) || w.n != 1 || w.last != seq ||
	    w.last_len != len || (len && w.last_payload[0] != fill))
		abort();
	return seq;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct eventring *r;
	struct walk w;
	uint64_t fsize, mid, seq;
	bool recreated;
	int ret;

	if (size < 1)
		return 0;
	fsize = EVENTRING_MIN_SIZE + 8 * (data[0] >> 1);
	write_ring_file(data, size, fsize);

	/* 1. A reader: `memshed events`. */
	ret = eventring_open_read(path, &r);
	if (ret == 0) {
		w = (struct walk){ 0 };
		if (eventring_for_each(r, 0, on_record, &w))
			abort();
		mid = w.n ? w.last - w.n / 2 : eventring_next_seq(r);
		w = (struct walk){ .from = mid };
		if (eventring_for_each(r, mid, on_record, &w))
			abort();
		if (eventring_append(r, "x", 1) != -EBADF)
			abort();
		eventring_close(r);
	} else if (ret != -EBADMSG) {
		abort();
	}

	/* 2. The writer's recovery: the daemon starting on that file. */
	ret = eventring_open(path, fsize, &r, &recreated);
	if (ret)
		abort();
	w = (struct walk){ 0 };
	if (eventring_for_each(r, 0, on_record, &w))
		abort();
	check_append(r, 0, 'a');
	check_append(r, 100, 'b');
	/* Two halves of the ring: the second overwrites what recovery kept. */
	check_append(r, (fsize - DATA_OFF) / 2, 'c');
	check_append(r, (fsize - DATA_OFF) / 2 - 64, 'd');
	seq = check_append(r, 7, 'e');
	w = (struct walk){ 0 };
	if (eventring_for_each(r, 0, on_record, &w) || w.n < 2 || w.last != seq)
		abort();
	eventring_close(r);
	return 0;
}
