// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `memshed top`: a live terminal view. Every interval it asks the daemon for
 * `status` as TSV (status_tsv in report.c) and reads the records appended to
 * the on-disk event ring since the last look, then redraws: the level and a
 * usage gauge, PSI with a sparkline of its recent history, the components in
 * unload order (or by RSS, idle time, name) and the latest events.
 * --once prints one frame as plain text, without curses, for scripts.
 *
 * ncurses is loaded (dlopen) when the live view starts, never linked: top
 * is a verb of the daemon's binary, and the daemon must not carry curses
 * in its resident set. curses.h gives only types and constants here.
 */
#include <ctype.h>
#include <curses.h>
#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <langinfo.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>
#include "config.h"
#include "control.h"
#include "eventlog.h"
#include "eventring.h"
#include "history.h"
#include "output.h"
#include "top.h"

#define HISTORY		60	/* PSI samples kept for the sparkline */
#define EVENTS_KEPT	256	/* event lines kept (more than a screen holds) */
#define ONCE_EVENTS	10	/* event lines printed by --once */
#define GAUGE_MAX	50

static const char help_text[] =
"Usage: memshed top [--interval DURATION] [--once] [--file PATH]\n"
"Live view of the daemon: level, memory, PSI, components in unload order, events.\n"
"  --interval DURATION  refresh period (default 1s, 100ms..1h)\n"
"  --once               print one frame as plain text and exit\n"
"  --file PATH          the event ring (default " MEMSHED_DEFAULT_EVENT_LOG ")\n"
"  -h, --help           this text\n"
"Keys: q quit, s cycle the sort (order, rss, idle, name), space or r refresh now.\n"
"The daemon is reached at $MEMSHED_SOCKET, else " CONTROL_SOCKET ".\n";

struct comp_row {
	char name[64], state[24], flags[64];
	unsigned pids;
	unsigned long long rss, anon, file, shmem, idle_ms;
	int prio;
	size_t place;		/* in the unload order, 0: not a victim */
	size_t index;		/* in the daemon's list: the sort's tie-breaker */
};

struct status {
	int rc;			/* control_call's exit code */
	char error[512];	/* its message, when rc != 0 */
	char level[16], cause[256];
	unsigned long long usage, limit, drops, ooms;
	double psi_some, psi_full;
	struct comp_row *comps;
	size_t nr_comps;
};

enum sort_key { SORT_ORDER, SORT_RSS, SORT_IDLE, SORT_NAME, NR_SORTS };
static const char *const sort_names[NR_SORTS] = { "order", "rss", "idle", "name" };

struct top {
	const char *socket, *ring_path;
	uint64_t interval_ns;
	enum sort_key sort;
	bool utf8;
	struct status st;
	double hist[HISTORY];		/* PSI some avg10, circular */
	size_t nr_hist;
	int ring_err;			/* of the last open: 0, -ENOENT, ... */
	uint64_t next_seq;		/* of the first event record not read yet */
	char *events[EVENTS_KEPT];	/* circular, the newest at (nr_events - 1) % EVENTS_KEPT */
	size_t nr_events;
};

static volatile sig_atomic_t stop_requested;

/* ---- ncurses, loaded by name ---- */

#define CURSES_LIB	"libncursesw.so.6"

/* The functions the live view uses; the w* forms, as curses.h makes the
 * others macros over stdscr. */
static struct curses {
	void *lib;
	WINDOW **stdscr;
	int *lines, *cols;
	SCREEN *(*newterm)(const char *type, FILE *out, FILE *in);
	int (*cbreak)(void);
	int (*noecho)(void);
	int (*endwin)(void);
	int (*curs_set)(int visibility);
	int (*keypad)(WINDOW *w, bool on);
	bool (*has_colors)(void);
	int (*start_color)(void);
	int (*use_default_colors)(void);
	int (*init_pair)(short pair, short fg, short bg);
	int (*werase)(WINDOW *w);
	int (*wrefresh)(WINDOW *w);
	int (*wgetch)(WINDOW *w);
	void (*wtimeout)(WINDOW *w, int ms);
	int (*wattrset)(WINDOW *w, int attrs);
	int (*wmove)(WINDOW *w, int y, int x);
	int (*waddnstr)(WINDOW *w, const char *s, int n);
	int (*wchgat)(WINDOW *w, int n, attr_t attrs, short pair, const void *opts);
} nc;

/* 0, or -1 with why in err. */
static int curses_load(char *err, size_t len)
{
#define SYM(name, field) { name, offsetof(struct curses, field) }
	static const struct { const char *name; size_t off; } syms[] = {
		SYM("stdscr", stdscr), SYM("LINES", lines), SYM("COLS", cols),
		SYM("newterm", newterm), SYM("cbreak", cbreak), SYM("noecho", noecho),
		SYM("endwin", endwin), SYM("curs_set", curs_set), SYM("keypad", keypad),
		SYM("has_colors", has_colors), SYM("start_color", start_color),
		SYM("use_default_colors", use_default_colors), SYM("init_pair", init_pair),
		SYM("werase", werase), SYM("wrefresh", wrefresh), SYM("wgetch", wgetch),
		SYM("wtimeout", wtimeout), SYM("wattrset", wattrset), SYM("wmove", wmove),
		SYM("waddnstr", waddnstr), SYM("wchgat", wchgat),
	};
#undef SYM
	void *p;

	nc.lib = dlopen(CURSES_LIB, RTLD_NOW | RTLD_LOCAL);
	if (!nc.lib) {
		snprintf(err, len, "%s", dlerror());
		return -1;
	}
	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		p = dlsym(nc.lib, syms[i].name);
		if (!p) {
			snprintf(err, len, "%s: no %s", CURSES_LIB, syms[i].name);
			dlclose(nc.lib);
			nc.lib = NULL;
			return -1;
		}
		memcpy((char *)&nc + syms[i].off, &p, sizeof(p));	/* POSIX: a void * holds a function */
	}
	return 0;
}

static void on_signal(int sig)
{
	stop_requested = 1;
}

/* ---- data ---- */

/* Split LINE at tabs into at most MAX fields, the last taking the rest. */
static int split_tabs(char *line, char **field, int max)
{
	int n = 0;

	while (line && n < max - 1)
		field[n++] = strsep(&line, "\t");
	if (line)
		field[n++] = line;
	return n;
}

static bool parse_level(struct status *st, char **f, int n)
{
	if (n < 9)
		return false;
	snprintf(st->level, sizeof(st->level), "%s", f[1]);
	st->usage = strtoull(f[2], NULL, 10);
	st->limit = strtoull(f[3], NULL, 10);
	st->psi_some = strtod(f[4], NULL);
	st->psi_full = strtod(f[5], NULL);
	st->drops = strtoull(f[6], NULL, 10);
	st->ooms = strtoull(f[7], NULL, 10);
	snprintf(st->cause, sizeof(st->cause), "%s", f[8]);
	return true;
}

static void parse_comp(struct status *st, char **f, int n)
{
	struct comp_row *c, *grown;

	if (n < 12)
		return;
	grown = realloc(st->comps, (st->nr_comps + 1) * sizeof(*grown));
	if (!grown)
		return;
	st->comps = grown;
	c = &grown[st->nr_comps];
	snprintf(c->name, sizeof(c->name), "%s", f[1]);
	snprintf(c->state, sizeof(c->state), "%s", f[2]);
	c->pids = strtoul(f[3], NULL, 10);
	c->rss = strtoull(f[4], NULL, 10);
	c->anon = strtoull(f[5], NULL, 10);
	c->file = strtoull(f[6], NULL, 10);
	c->shmem = strtoull(f[7], NULL, 10);
	c->idle_ms = strtoull(f[8], NULL, 10);
	c->prio = atoi(f[9]);
	snprintf(c->flags, sizeof(c->flags), "%s", f[10]);
	c->place = strtoul(f[11], NULL, 10);
	c->index = st->nr_comps++;
}

static void parse_status(struct status *st, char *body)
{
	bool have_level = false;
	char *line, *f[13];

	while ((line = strsep(&body, "\n"))) {
		int n = split_tabs(line, f, 13);

		if (!strcmp(f[0], "level"))
			have_level = parse_level(st, f, n);
		else if (!strcmp(f[0], "comp"))
			parse_comp(st, f, n);
	}
	if (!have_level) {
		st->rc = EXIT_FAILURE_;
		snprintf(st->error, sizeof(st->error), "unexpected status answer from the daemon");
	}
}

static void set_error(struct status *st, const char *msg)
{
	if (!strncmp(msg, "memshed: ", 9))
		msg += 9;
	snprintf(st->error, sizeof(st->error), "%.*s", (int)strcspn(msg, "\n"), msg);
	if (!st->error[0])
		snprintf(st->error, sizeof(st->error), "the status request failed");
}

static void fetch_status(struct top *t)
{
	struct status *st = &t->st;
	char *body = NULL, *errs = NULL;
	size_t blen = 0, elen = 0;
	FILE *out = open_memstream(&body, &blen), *err = open_memstream(&errs, &elen);

	free(st->comps);
	memset(st, 0, sizeof(*st));
	if (out && err)
		st->rc = control_call(t->socket, "{\"cmd\":\"status\",\"format\":\"tsv\"}", out, err);
	else
		st->rc = EXIT_FAILURE_;
	if (out)
		fclose(out);
	if (err)
		fclose(err);
	if (st->rc == EXIT_OK && body)
		parse_status(st, body);
	else if (st->rc != EXIT_OK)
		set_error(st, errs ? errs : "out of memory");
	free(body);
	free(errs);
	if (st->rc == EXIT_OK)
		t->hist[t->nr_hist++ % HISTORY] = st->psi_some;
}

static void events_clear(struct top *t)
{
	for (size_t i = 0; i < EVENTS_KEPT; i++) {
		free(t->events[i]);
		t->events[i] = NULL;
	}
	t->nr_events = 0;
	t->next_seq = 0;
}

/* Keep the record's text line, control characters blanked. History
 * records are not shown: the component table above says the same. */
static int take_event(void *ctx, uint64_t seq, const char *rec, size_t len)
{
	struct top *t = ctx;
	struct strbuf text = {};
	char **slot;

	t->next_seq = seq + 1;
	if (history_is_record(rec, eventlog_record_json_len(rec, len)))
		return 0;
	slot = &t->events[t->nr_events++ % EVENTS_KEPT];
	eventlog_render_text(&text, rec, eventlog_record_json_len(rec, len));
	free(*slot);
	*slot = text.s;
	for (char *p = *slot; p && *p; p++)
		if (iscntrl((unsigned char)*p))
			*p = ' ';
	return 0;
}

static void fetch_events(struct top *t)
{
	struct eventring *r;

	t->ring_err = eventring_open_read(t->ring_path, &r);
	if (t->ring_err)
		return;
	if (eventring_next_seq(r) < t->next_seq)	/* not the ring we were reading */
		events_clear(t);
	eventring_for_each(r, t->next_seq, take_event, t);
	eventring_close(r);
}

#define CMP(a, b) (((a) > (b)) - ((a) < (b)))

static int cmp_rows(const void *a, const void *b, void *ctx)
{
	const struct comp_row *x = a, *y = b;
	int c = 0;

	switch (*(const enum sort_key *)ctx) {
	case SORT_ORDER:	/* victims by place, then the rest */
		c = CMP(x->place ? x->place : SIZE_MAX, y->place ? y->place : SIZE_MAX);
		break;
	case SORT_RSS: c = CMP(y->rss, x->rss); break;
	case SORT_IDLE: c = CMP(y->idle_ms, x->idle_ms); break;
	case SORT_NAME: c = strcmp(x->name, y->name); break;
	case NR_SORTS: break;
	}
	return c ? c : CMP(x->index, y->index);
}

static void sort_comps(struct top *t)
{
	if (t->st.nr_comps)
		qsort_r(t->st.comps, t->st.nr_comps, sizeof(*t->st.comps), cmp_rows, &t->sort);
}

static void refresh_data(struct top *t)
{
	fetch_status(t);
	fetch_events(t);
	sort_comps(t);
}

/* ---- rendering: lines into curses or onto stdout ---- */

struct frame {
	bool curses;
	int rows, cols;		/* curses only */
	int y;
};

/* How many bytes of S fit in COLS terminal columns. */
static int fit_bytes(const char *s, int cols)
{
	size_t i = 0, len = strlen(s);
	mbstate_t ps = {};
	int used = 0;

	while (i < len) {
		wchar_t wc;
		size_t n = mbrtowc(&wc, s + i, len - i, &ps);
		int w = 1;

		if (n == (size_t)-1 || n == (size_t)-2) {
			n = 1;
			memset(&ps, 0, sizeof(ps));
		} else if ((w = wcwidth(wc)) < 0) {
			w = 1;
		}
		if (used + w > cols)
			break;
		used += w;
		i += n;
	}
	return i;
}

static void put(struct frame *f, attr_t attr, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void put(struct frame *f, attr_t attr, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (!f->curses) {
		puts(buf);
	} else if (f->y < f->rows) {
		WINDOW *w = *nc.stdscr;

		nc.wattrset(w, attr);
		if (nc.wmove(w, f->y, 0) != ERR)
			nc.waddnstr(w, buf, fit_bytes(buf, f->cols));
		/* a bar across the screen */
		if ((attr & A_REVERSE) && nc.wmove(w, f->y, 0) != ERR)
			nc.wchgat(w, -1, attr & ~A_COLOR, PAIR_NUMBER(attr), NULL);
		nc.wattrset(w, A_NORMAL);
	}
	f->y++;
}

static attr_t level_attr(const char *level)
{
	int pair = !strcmp(level, "low") ? 1 : !strcmp(level, "medium") ? 2 : 3;

	if (!nc.has_colors())
		return pair == 1 ? A_NORMAL : A_BOLD;
	return COLOR_PAIR(pair) | (pair == 3 ? A_BOLD : 0);
}

static const char *dash(const struct top *t)
{
	return t->utf8 ? "\u2014" : "-";
}

static void draw_title(struct frame *f, const struct top *t)
{
	const struct status *st = &t->st;
	char level[sizeof(st->level)];

	if (st->rc != EXIT_OK) {
		put(f, f->curses ? A_BOLD | level_attr("high") : 0, "memshed %s %s%s", dash(t),
		    st->error, f->curses ? " (retrying)" : "");
		return;
	}
	for (size_t i = 0; i < sizeof(level); i++)
		level[i] = toupper((unsigned char)st->level[i]);
	put(f, f->curses ? level_attr(st->level) : 0, "memshed %s level %s%s%s%s", dash(t),
	    level, st->cause[0] ? " (" : "", st->cause, st->cause[0] ? ")" : "");
}

static void draw_memory(struct frame *f, const struct top *t)
{
	const struct status *st = &t->st;
	int width = f->curses ? f->cols - 50 : 40;
	char bar[GAUGE_MAX + 1], used[16], limit[16];
	int fill;

	fmt_bytes(used, sizeof(used), st->usage);
	if (!st->limit) {
		put(f, 0, "mem   %s (no limit)   ringbuf drops %llu   kernel OOM kills %llu",
		    used, st->drops, st->ooms);
		return;
	}
	width = width < 10 ? 10 : width > GAUGE_MAX ? GAUGE_MAX : width;
	fill = st->usage >= st->limit ? width : (int)(width * (double)st->usage / st->limit);
	memset(bar, '#', fill);
	memset(bar + fill, '.', width - fill);
	bar[width] = '\0';
	put(f, 0, "mem   [%s] %s / %s %3.0f%%   ringbuf drops %llu   kernel OOM kills %llu",
	    bar, used, fmt_bytes(limit, sizeof(limit), st->limit),
	    100.0 * st->usage / st->limit, st->drops, st->ooms);
}

/* The last WIDTH PSI samples as a sparkline, scaled to their maximum (at least 1%),
 * which is returned. */
static double sparkline(const struct top *t, char *buf, size_t len, int width)
{
	static const char *const blocks[] = { "\u2581", "\u2582", "\u2583", "\u2584",
					      "\u2585", "\u2586", "\u2587", "\u2588" };
	static const char ascii[] = "_.-=+*#@";
	size_t n = t->nr_hist < HISTORY ? t->nr_hist : HISTORY, from, pos = 0;
	double max = 1.0;

	if ((size_t)width < n)
		n = width;
	from = t->nr_hist - n;
	for (size_t i = from; i < t->nr_hist; i++)
		if (t->hist[i % HISTORY] > max)
			max = t->hist[i % HISTORY];
	buf[0] = '\0';
	for (size_t i = from; i < t->nr_hist && pos + 4 < len; i++) {
		int k = (int)(t->hist[i % HISTORY] / max * 7 + 0.5);

		pos += snprintf(buf + pos, len - pos, "%s", t->utf8 ? blocks[k] : (char[]){ ascii[k], 0 });
	}
	return max;
}

static void draw_psi(struct frame *f, const struct top *t)
{
	char spark[HISTORY * 4 + 1] = "";
	int width = f->curses ? f->cols - 50 : HISTORY;
	double max;

	if (t->nr_hist < 2 || width < 10) {
		put(f, 0, "psi   some %6.2f  full %6.2f", t->st.psi_some, t->st.psi_full);
		return;
	}
	max = sparkline(t, spark, sizeof(spark), width);
	put(f, 0, "psi   some %6.2f  full %6.2f   %s (some, max %.2f)",
	    t->st.psi_some, t->st.psi_full, spark, max);
}

static int name_width(const struct status *st)
{
	int w = 4;

	for (size_t i = 0; i < st->nr_comps; i++) {
		int len = strlen(st->comps[i].name);

		w = len > w ? len : w;
	}
	return w > 24 ? 24 : w;
}

static void draw_comp(struct frame *f, const struct comp_row *c, int nw)
{
	char rss[16], anon[16], file[16], shmem[16], idle[16], order[24] = "-";

	if (c->place)
		snprintf(order, sizeof(order), "%zu", c->place);
	put(f, c->place ? A_BOLD : 0, "%-*.*s %-10s %5u %8s %8s %8s %8s %8s %5d %-12s %5s",
	    nw, nw, c->name, c->state, c->pids, fmt_bytes(rss, sizeof(rss), c->rss),
	    fmt_bytes(anon, sizeof(anon), c->anon), fmt_bytes(file, sizeof(file), c->file),
	    fmt_bytes(shmem, sizeof(shmem), c->shmem),
	    fmt_duration(idle, sizeof(idle), c->idle_ms * 1000000ull), c->prio,
	    c->flags[0] ? c->flags : "-", order);
}

/* The components table in at most MAX_ROWS rows (header included), -1: all. */
static void draw_table(struct frame *f, const struct top *t, int max_rows)
{
	const struct status *st = &t->st;
	int nw = name_width(st);
	size_t shown = st->nr_comps;

	put(f, A_REVERSE, "%-*s %-10s %5s %8s %8s %8s %8s %8s %5s %-12s %5s", nw, "NAME", "STATE",
	    "PIDS", "RSS", "ANON", "FILE", "SHMEM", "IDLE", "PRIO", "FLAGS", "ORDER");
	if (!st->nr_comps)
		put(f, 0, "(no components configured)");
	if (max_rows >= 0 && shown > (size_t)(max_rows - 1))
		shown = max_rows > 2 ? max_rows - 2 : 0;
	for (size_t i = 0; i < shown; i++)
		draw_comp(f, &st->comps[i], nw);
	if (shown < st->nr_comps)
		put(f, 0, "... %zu more", st->nr_comps - shown);
}

static void draw_events(struct frame *f, const struct top *t, int max_lines)
{
	size_t n = t->nr_events < EVENTS_KEPT ? t->nr_events : EVENTS_KEPT;

	put(f, A_REVERSE, "EVENTS (newest last)");
	if (t->ring_err == -ENOENT) {
		put(f, 0, "(no event log)");
		return;
	}
	if (t->ring_err) {
		put(f, 0, "(cannot read the event log %s: %s)", t->ring_path, strerror(-t->ring_err));
		return;
	}
	if (!n)
		put(f, 0, "(no events yet)");
	if (n > (size_t)max_lines)
		n = max_lines;
	for (size_t i = t->nr_events - n; i < t->nr_events; i++)
		put(f, 0, "%s", t->events[i % EVENTS_KEPT] ? t->events[i % EVENTS_KEPT] : "");
}

static void draw_footer(struct frame *f, const struct top *t)
{
	char every[16], clock[16];
	time_t now = time(NULL);
	struct tm tm;

	strftime(clock, sizeof(clock), "%H:%M:%S", localtime_r(&now, &tm));
	f->y = f->rows - 1;
	put(f, A_REVERSE, " q quit   s sort: %s   space refresh   every %s   %s   %s",
	    sort_names[t->sort], fmt_duration(every, sizeof(every), t->interval_ns), clock,
	    t->socket);
}

/* Title, memory, PSI, a blank, the table, a blank, the events, the footer. */
static void draw(struct frame *f, const struct top *t)
{
	int table_rows = -1, event_lines = ONCE_EVENTS;

	draw_title(f, t);
	if (t->st.rc == EXIT_OK) {
		draw_memory(f, t);
		draw_psi(f, t);
		put(f, 0, "%s", "");
		if (f->curses) {	/* leave up to 3 event lines, a blank and the footer */
			size_t ev = !t->ring_err && t->nr_events ? t->nr_events : 1;

			table_rows = f->rows - f->y - 3 - (ev < 3 ? (int)ev : 3);
			table_rows = table_rows < 2 ? 2 : table_rows;
		}
		draw_table(f, t, table_rows);
	}
	put(f, 0, "%s", "");
	if (f->curses)
		event_lines = f->rows - f->y - 2;
	if (!f->curses || event_lines > 0)
		draw_events(f, t, event_lines);
	if (f->curses)
		draw_footer(f, t);
}

/* ---- the two modes ---- */

static int run_once(struct top *t)
{
	struct frame f = { .curses = false };

	refresh_data(t);
	if (t->st.rc != EXIT_OK) {
		fprintf(stderr, "memshed: %s\n", t->st.error);
		return t->st.rc;
	}
	draw(&f, t);
	return fflush(stdout) ? EXIT_FAILURE_ : EXIT_OK;
}

static void catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };	/* no SA_RESTART: wake getch */

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

static bool screen_start(void)
{
	if (!nc.newterm(NULL, stdout, stdin))
		return false;
	nc.cbreak();
	nc.noecho();
	nc.curs_set(0);
	nc.keypad(*nc.stdscr, TRUE);
	if (nc.has_colors()) {
		nc.start_color();
		nc.use_default_colors();
		nc.init_pair(1, COLOR_GREEN, -1);
		nc.init_pair(2, COLOR_YELLOW, -1);
		nc.init_pair(3, COLOR_RED, -1);
	}
	return true;
}

/* One key; false to quit. *ret_next is when the next refresh is due. */
static bool handle_key(struct top *t, int ch, uint64_t *ret_next)
{
	switch (ch) {
	case 'q': case 'Q':
		return false;
	case 's': case 'S':
		t->sort = (t->sort + 1) % NR_SORTS;
		sort_comps(t);
		break;
	case ' ': case 'r': case 'R':
		*ret_next = 0;
		break;
	}
	return true;	/* KEY_RESIZE and timeouts just redraw */
}

static int run_screen(struct top *t)
{
	uint64_t next = 0;
	bool go = true;
	char err[256];

	catch_signals();
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		fprintf(stderr, "memshed: top needs a terminal (try --once)\n");
		return EXIT_FAILURE_;
	}
	if (curses_load(err, sizeof(err))) {
		fprintf(stderr, "memshed: top needs ncurses (%s; Debian: libncursesw6): %s "
			"(try --once)\n", CURSES_LIB, err);
		return EXIT_FAILURE_;
	}
	if (!screen_start()) {
		fprintf(stderr, "memshed: top needs a terminal (try --once)\n");
		dlclose(nc.lib);
		return EXIT_FAILURE_;
	}
	while (go && !stop_requested) {
		struct frame f = { .curses = true, .rows = *nc.lines, .cols = *nc.cols };
		WINDOW *w = *nc.stdscr;
		uint64_t now = now_mono_ns();

		if (now >= next) {
			next = now + t->interval_ns;
			refresh_data(t);
			now = now_mono_ns();
		}
		nc.werase(w);
		draw(&f, t);
		nc.wrefresh(w);
		nc.wtimeout(w, now >= next ? 0 : (int)((next - now + 999999) / 1000000));
		go = handle_key(t, nc.wgetch(w), &next);
	}
	nc.endwin();
	dlclose(nc.lib);
	return EXIT_OK;
}

static int top_usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "memshed: top: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'memshed top --help'.\n");
	return EXIT_USAGE;
}

static int parse_args(struct top *t, int argc, char **argv, bool *ret_once)
{
	static const struct option opts[] = {
		{ "interval", required_argument, NULL, 'i' },
		{ "once", no_argument, NULL, '1' },
		{ "file", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			if (parse_duration(optarg, &t->interval_ns) ||
			    t->interval_ns < 100000000ull || t->interval_ns > 3600000000000ull)
				return top_usage_error("--interval takes a duration from 100ms to 1h, not '%s'",
						       optarg);
			break;
		case '1': *ret_once = true; break;
		case 'f': t->ring_path = optarg; break;
		case 'h': fputs(help_text, stdout); return -1;
		case ':': return top_usage_error("'%s' needs a value", argv[optind - 1]);
		default: return top_usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return top_usage_error("unexpected argument '%s'", argv[optind]);
	return 0;
}

int top_main(int argc, char **argv)
{
	const char *env = getenv("MEMSHED_SOCKET");
	struct top t = {
		.socket = env && *env ? env : CONTROL_SOCKET,
		.ring_path = MEMSHED_DEFAULT_EVENT_LOG,
		.interval_ns = 1000000000ull,
	};
	bool once = false;
	int rc = parse_args(&t, argc, argv, &once);

	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	setlocale(LC_CTYPE, "");	/* not LC_NUMERIC: the TSV has "12.34" */
	t.utf8 = !strcmp(nl_langinfo(CODESET), "UTF-8");
	rc = once ? run_once(&t) : run_screen(&t);
	events_clear(&t);
	free(t.st.comps);
	return rc;
}
