// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The config map: an INI file read with libinih.
 *
 * libinih splits "key = value" lines and strips comments. Everything else
 * is done by our line reader (read_line), because this libinih is built
 * without line numbers in the handler and with a 200-byte line buffer:
 * the reader counts lines, refuses lines too long for the buffer instead of
 * letting libinih cut them, parses section headers itself (libinih cuts
 * section names at 50 characters and does not report empty sections), and
 * notices key lines libinih rejected without calling us, so that every
 * problem is reported with its line, not only the first one.
 *
 * Values are checked as they are read; what depends on the whole file
 * (threshold order, per-level defaults derived from min_idle_time,
 * [memshed] prefer_larger inherited by components, duplicate components,
 * identical sets of match rules) is checked when the file ends.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <ini.h>
#include <limits.h>
#include <linux/types.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "memshed.h"

#define NSEC_PER_MSEC	1000000ULL
#define NSEC_PER_SEC	1000000000ULL
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define FIELD(obj, k, type)	((type *)((char *)(obj) + (k)->off))

#define TASK_COMM_MAX	15		/* TASK_COMM_LEN - 1 */
#define FRAC_DIGITS_MAX	18		/* 10^18 still fits in a uint64_t */
#define FILE_SIZE_MAX	(64 << 20)
#define KEYS_MAX	48		/* keys of one section */
#define WHY_MAX		160
/*
 * glibc's regcomp takes memory quadratic in the copies of an expression
 * that can match nothing: (.*){3000} takes 73 MB. 256 copies take at most
 * about 4 MB (measured), and real patterns need few: [0-9a-f]{64} is 65.
 */
#define REGEX_COPIES_MAX 256
#define REGEX_DEPTH_MAX	32

/*
 * Static so that config_init_defaults cannot fail; config_free and
 * str_replace never free it.
 */
static char default_event_log[] = MEMSHED_DEFAULT_EVENT_LOG;

/* ---- small helpers ----------------------------------------------------- */

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static void trim(const char **s, size_t *n)
{
	while (*n && isspace((unsigned char)**s))
		(*s)++, (*n)--;
	while (*n && isspace((unsigned char)(*s)[*n - 1]))
		(*n)--;
}

/*
 * @v (n elements) with room for one more, or NULL. The capacity doubles
 * whenever n reaches a power of two, so no field has to remember it.
 */
static void *grow(void *v, int n, size_t size)
{
	if (n & (n - 1))
		return v;
	return reallocarray(v, n ? 2 * (size_t)n : 1, size);
}

static int name_index(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (names[i] && !strcmp(names[i], s))
			return i;
	return -1;
}

/* ---- value parsers ------------------------------------------------------ */

/* An unsigned decimal, "12" or "1.5", kept exactly as ip + frac / den. */
struct decimal {
	uint64_t ip, frac, den;
};

/* Returns the first character after the number, or NULL. */
static const char *decimal_parse(const char *s, struct decimal *d)
{
	*d = (struct decimal){ .den = 1 };
	if (!is_digit(*s))
		return NULL;
	for (; is_digit(*s); s++)
		if (__builtin_mul_overflow(d->ip, 10, &d->ip) ||
		    __builtin_add_overflow(d->ip, *s - '0', &d->ip))
			return NULL;
	if (*s != '.')
		return s;
	if (!is_digit(*++s))
		return NULL;
	for (int n = 0; is_digit(*s); s++, n++) {
		if (n == FRAC_DIGITS_MAX)
			return NULL;
		d->frac = d->frac * 10 + (*s - '0');
		d->den *= 10;
	}
	return s;
}

/* d * unit, which must be a whole number that fits. */
static int decimal_scale(const struct decimal *d, uint64_t unit, uint64_t *ret)
{
	unsigned __int128 f = (unsigned __int128)d->frac * unit;
	uint64_t v;

	if (f % d->den || __builtin_mul_overflow(d->ip, unit, &v) ||
	    __builtin_add_overflow(v, (uint64_t)(f / d->den), &v))
		return -EINVAL;
	*ret = v;
	return 0;
}

static double decimal_value(const struct decimal *d)
{
	return d->ip + (double)d->frac / d->den;
}

static int uint_parse(const char *s, uint64_t max, uint64_t *ret)
{
	struct decimal d;
	const char *end = decimal_parse(s, &d);

	if (!end || *end || d.den != 1 || d.ip > max)
		return -EINVAL;
	*ret = d.ip;
	return 0;
}

/* "N%" with 0 <= N <= 100. */
static int percent_parse(const char *s, double *ret)
{
	struct decimal d;
	const char *end = decimal_parse(s, &d);

	if (!end || strcmp(end, "%") || decimal_value(&d) > 100)
		return -EINVAL;
	*ret = decimal_value(&d);
	return 0;
}

/* A share of RAM: "N%" (0 < N <= 100) or "auto" (100%). */
static int ram_share_parse(const char *s, double *ret)
{
	double pct;

	if (!strcmp(s, "auto"))
		pct = 100;
	else if (percent_parse(s, &pct) || pct <= 0)
		return -EINVAL;
	*ret = pct;
	return 0;
}

/*
 * Bytes with an optional binary suffix (K, M, G, T, or KiB..TiB; any
 * case); with @ret_pct also a share of RAM, then *ret_bytes is 0.
 * A fraction must come out as whole bytes: 1.5K yes, 0.1K no.
 */
int parse_size(const char *s, uint64_t *ret_bytes, double *ret_pct)
{
	static const struct { const char *suffix; unsigned int shift; } units[] = {
		{ "", 0 }, { "K", 10 }, { "M", 20 }, { "G", 30 }, { "T", 40 },
		{ "KiB", 10 }, { "MiB", 20 }, { "GiB", 30 }, { "TiB", 40 },
	};
	struct decimal d;
	const char *end;
	double pct;
	uint64_t v;

	if (ret_pct && !ram_share_parse(s, &pct)) {
		*ret_bytes = 0;
		*ret_pct = pct;
		return 0;
	}
	end = decimal_parse(s, &d);
	if (!end)
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcasecmp(end, units[i].suffix))
			continue;
		if (decimal_scale(&d, 1ULL << units[i].shift, &v))
			return -EINVAL;
		*ret_bytes = v;
		if (ret_pct)
			*ret_pct = 0;
		return 0;
	}
	return -EINVAL;
}

/* "1.5s", "250ms", "5m", "1h"; a bare number is seconds. Whole ns only. */
int parse_duration(const char *s, uint64_t *ret_ns)
{
	static const struct { const char *suffix; uint64_t ns; } units[] = {
		{ "", NSEC_PER_SEC }, { "ms", NSEC_PER_MSEC }, { "s", NSEC_PER_SEC },
		{ "m", 60 * NSEC_PER_SEC }, { "h", 3600 * NSEC_PER_SEC },
	};
	struct decimal d;
	const char *end = decimal_parse(s, &d);

	if (!end)
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(units); i++)
		if (!strcmp(end, units[i].suffix))
			return decimal_scale(&d, units[i].ns, ret_ns);
	return -EINVAL;
}

/* 0..1, written 0.75 or 75%. */
int parse_fraction(const char *s, double *ret)
{
	struct decimal d;
	const char *end;
	double v;

	if (!percent_parse(s, &v)) {
		*ret = v / 100;
		return 0;
	}
	end = decimal_parse(s, &d);
	if (!end || *end || decimal_value(&d) > 1)
		return -EINVAL;
	*ret = decimal_value(&d);
	return 0;
}

int parse_bool(const char *s, bool *ret)
{
	static const struct { const char *name; bool val; } words[] = {
		{ "yes", true }, { "true", true }, { "on", true }, { "1", true },
		{ "no", false }, { "false", false }, { "off", false }, { "0", false },
	};

	for (size_t i = 0; i < ARRAY_SIZE(words); i++) {
		if (!strcasecmp(s, words[i].name)) {
			*ret = words[i].val;
			return 0;
		}
	}
	return -EINVAL;
}

/* Our own table: sigabbrev_np() is glibc-only. */
static const struct { const char *name; int signo; } signal_names[] = {
	{ "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT },
	{ "ILL", SIGILL }, { "TRAP", SIGTRAP }, { "ABRT", SIGABRT },
	{ "BUS", SIGBUS }, { "FPE", SIGFPE }, { "KILL", SIGKILL },
	{ "USR1", SIGUSR1 }, { "SEGV", SIGSEGV }, { "USR2", SIGUSR2 },
	{ "PIPE", SIGPIPE }, { "ALRM", SIGALRM }, { "TERM", SIGTERM },
	{ "CHLD", SIGCHLD }, { "CONT", SIGCONT }, { "STOP", SIGSTOP },
	{ "TSTP", SIGTSTP }, { "TTIN", SIGTTIN }, { "TTOU", SIGTTOU },
	{ "URG", SIGURG }, { "XCPU", SIGXCPU }, { "XFSZ", SIGXFSZ },
	{ "VTALRM", SIGVTALRM }, { "PROF", SIGPROF }, { "WINCH", SIGWINCH },
	{ "IO", SIGIO }, { "PWR", SIGPWR }, { "SYS", SIGSYS },
};

/* "TERM", "SIGTERM" (any case) or a number 1..SIGRTMAX (64). */
int parse_signal(const char *s, int *ret_signo)
{
	uint64_t n;

	if (is_digit(*s)) {
		if (uint_parse(s, SIGRTMAX, &n) || n == 0)
			return -EINVAL;
		*ret_signo = n;
		return 0;
	}
	if (!strncasecmp(s, "SIG", 3))
		s += 3;
	for (size_t i = 0; i < ARRAY_SIZE(signal_names); i++) {
		if (!strcasecmp(s, signal_names[i].name)) {
			*ret_signo = signal_names[i].signo;
			return 0;
		}
	}
	return -EINVAL;
}

const char *level_name(enum level l)
{
	static const char *const names[NR_LEVELS] = {
		"low", "medium", "high", "critical",
	};

	return (unsigned int)l < NR_LEVELS ? names[l] : "?";
}

int level_parse(const char *s, enum level *ret)
{
	for (int l = 0; l < NR_LEVELS; l++) {
		if (!strcmp(s, level_name(l))) {
			*ret = l;
			return 0;
		}
	}
	return -EINVAL;
}

/* ---- actions ------------------------------------------------------------ */

static const char *const action_names[] = {
	[ACTION_NONE] = "none", [ACTION_TERM] = "term", [ACTION_KILL] = "kill",
	[ACTION_FREEZE] = "freeze", [ACTION_SIGNAL] = "signal",
	[ACTION_EXEC] = "exec",
};

const char *action_kind_name(enum action_kind k)
{
	return (unsigned int)k < ARRAY_SIZE(action_names) ? action_names[k] : "?";
}

static void argv_free(char **argv)
{
	for (char **a = argv; a && *a; a++)
		free(*a);
	free(argv);
}

void action_free(struct action *a)
{
	if (a->kind == ACTION_EXEC)
		argv_free(a->argv);
	*a = (struct action){ .kind = ACTION_NONE };
}

/* Split on blanks, no quoting: exec: never goes through a shell. */
static int argv_split(const char *s, char ***ret)
{
	const char *blank = " \t";
	size_t n = 0, len;
	char **argv;

	for (const char *t = s + strspn(s, blank); *t; t += strspn(t, blank)) {
		t += strcspn(t, blank);
		n++;
	}
	argv = calloc(n + 1, sizeof(*argv));
	if (!argv)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		s += strspn(s, blank);
		len = strcspn(s, blank);
		argv[i] = strndup(s, len);
		if (!argv[i]) {
			argv_free(argv);
			return -ENOMEM;
		}
		s += len;
	}
	*ret = argv;
	return 0;
}

/*
 * Signals that stop or continue a process would freeze or thaw it behind
 * memshed's back (it could never tell a stopped component from an idle
 * one): "freeze" is the action for that. SIGKILL is allowed.
 */
static bool signal_stops(int signo)
{
	return signo == SIGSTOP || signo == SIGTSTP || signo == SIGTTIN ||
	       signo == SIGTTOU || signo == SIGCONT;
}

static int action_parse_signal(const char *s, struct action *ret, const char **why)
{
	int signo;

	if (parse_signal(s, &signo)) {
		*why = "unknown signal (e.g. signal:SIGUSR1, signal:USR1, signal:10)";
		return -EINVAL;
	}
	if (signal_stops(signo)) {
		*why = "stop/continue signals are not allowed (use the freeze action)";
		return -EINVAL;
	}
	*ret = (struct action){ .kind = ACTION_SIGNAL, .signo = signo };
	return 0;
}

static int action_parse_exec(const char *s, struct action *ret, const char **why)
{
	const char *cmd = s + strspn(s, " \t");
	char **argv;
	int err;

	if (*cmd != '/') {
		*why = *cmd ? "the command must be an absolute path (no shell, no PATH lookup)"
			    : "exec: needs a command";
		return -EINVAL;
	}
	err = argv_split(cmd, &argv);
	if (err)
		return err;
	*ret = (struct action){ .kind = ACTION_EXEC, .argv = argv };
	return 0;
}

/* Writes @ret only on success; @why says what is wrong on -EINVAL. */
static int action_parse(const char *s, struct action *ret, const char **why)
{
	static const enum action_kind plain[] = { ACTION_TERM, ACTION_KILL, ACTION_FREEZE };

	for (size_t i = 0; i < ARRAY_SIZE(plain); i++) {
		if (!strcmp(s, action_names[plain[i]])) {
			*ret = (struct action){ .kind = plain[i] };
			return 0;
		}
	}
	if (!strncmp(s, "signal:", 7))
		return action_parse_signal(s + 7, ret, why);
	if (!strncmp(s, "exec:", 5))
		return action_parse_exec(s + 5, ret, why);
	*why = "unknown action (term, kill, freeze, signal:SIG, exec:/PATH ARGS)";
	return -EINVAL;
}

/* 0, -EINVAL or -ENOMEM (exec: argv). */
int parse_action(const char *s, struct action *ret)
{
	const char *why;

	return action_parse(s, ret, &why);
}

/* ---- match rules -------------------------------------------------------- */

static const char *const match_kinds[] = {
	[MATCH_COMM] = "comm", [MATCH_EXE] = "exe", [MATCH_CMDLINE] = "cmdline",
	[MATCH_CGROUP] = "cgroup", [MATCH_PIDFILE] = "pidfile", [MATCH_USER] = "user",
};

static void match_rule_free(struct match_rule *r)
{
	if (r->kind == MATCH_CMDLINE)
		regfree(&r->re);
	free(r->arg);
}

/* A UID as digits (no passwd entry needed, e.g. in containers) or a name. */
static int user_resolve(const char *arg, uid_t *ret, char *why)
{
	struct passwd *pw;
	uint64_t uid;

	if (!arg[strspn(arg, "0123456789")]) {
		if (uint_parse(arg, (uid_t)-2, &uid)) {
			snprintf(why, WHY_MAX, "invalid UID");
			return -EINVAL;
		}
		*ret = uid;
		return 0;
	}
	pw = getpwnam(arg);
	if (!pw) {
		snprintf(why, WHY_MAX, "unknown user");
		return -EINVAL;
	}
	*ret = pw->pw_uid;
	return 0;
}

/* Where a bracket expression starting at s ('[') ends: its ']' or the NUL. */
static const char *bracket_end(const char *s)
{
	s += 1 + (s[1] == '^');
	s += *s == ']';			/* a leading ']' is a member */
	while (*s && *s != ']')
		s++;
	return s;
}

/* The larger bound of an interval "{m}", "{m,}", "{m,n}" at s, or 0. */
static uint64_t interval_max(const char *s, const char **ret_end)
{
	char *e;
	uint64_t m, n;

	if (!is_digit(s[1]))
		return 0;
	m = n = strtoull(s + 1, &e, 10);
	if (*e == ',' && is_digit(e[1]))
		n = strtoull(e + 1, &e, 10);
	else if (*e == ',')
		e++;
	if (*e != '}')
		return 0;
	*ret_end = e;
	return n > m ? n : m;
}

/* Copies in one group: all of them, and those of its last atom. */
struct rx_frame {
	uint64_t sum, last;
};

static uint64_t rx_sat(uint64_t x)
{
	return x <= REGEX_COPIES_MAX ? x : REGEX_COPIES_MAX + 1;
}

static void rx_atom(struct rx_frame *f, uint64_t copies)
{
	f->last = copies;
	f->sum = rx_sat(f->sum + copies);
}

static void rx_repeat(struct rx_frame *f, uint64_t times)
{
	f->sum = rx_sat(f->sum + f->last * (times - 1));
	f->last = rx_sat(f->last * times);
}

/*
 * How many copies of its atoms glibc's regcomp makes of a pattern: it
 * copies an expression for '+' and for every count of "{m,n}", so nested
 * repetitions multiply, and "(((a*)+)+)..." or "a*+++..." of 50 characters
 * take gigabytes. Sequences add, repetitions multiply, '*' and '?' copy
 * nothing. Saturates above REGEX_COPIES_MAX; -1 if groups nest deeper
 * than REGEX_DEPTH_MAX. Syntax errors are left to regcomp.
 */
static int64_t regex_copies(const char *s)
{
	struct rx_frame f[REGEX_DEPTH_MAX + 1] = { { 0, 0 } };
	const char *end;
	bool after_repeat = false;	/* the last token was a repetition */
	uint64_t n;
	int d = 0;

	for (; *s; s++) {
		bool is_repeat = *s == '+' || *s == '*' || *s == '?' ||
				 (*s == '{' && interval_max(s, &end));

		/* A repetition of a repetition (a++, (x|$)+*) is undefined in
		 * POSIX and sends glibc's compiler exponential: refuse it. */
		if (is_repeat && after_repeat)
			return -2;
		after_repeat = is_repeat;
		switch (*s) {
		case '\\':
			s += s[1] != '\0';
			rx_atom(&f[d], 1);
			break;
		case '[':
			s = bracket_end(s);
			s -= *s == '\0';
			rx_atom(&f[d], 1);
			break;
		case '(':
			if (d == REGEX_DEPTH_MAX)
				return -1;
			f[++d] = (struct rx_frame){ 0, 0 };
			break;
		case ')':
			if (d) {
				d--;
				rx_atom(&f[d], f[d + 1].sum);
			}
			break;
		case '+':
			rx_repeat(&f[d], 2);
			break;
		case '{':
			n = interval_max(s, &end);
			if (n) {
				rx_repeat(&f[d], rx_sat(n) + 1);
				s = end;
			} else {
				rx_atom(&f[d], 1);
			}
			break;
		case '*': case '?': case '|':
			break;
		default:
			rx_atom(&f[d], 1);
		}
	}
	/* Groups left open: glibc copies them before it finds the error. */
	for (; d; d--)
		rx_atom(&f[d - 1], f[d].sum);
	return f[0].sum;
}

static int regex_compile(regex_t *re, const char *arg, char *why)
{
	int64_t copies = regex_copies(arg);
	int rc;

	if (copies == -2) {
		snprintf(why, WHY_MAX, "regex repeats a repetition (like a++ or x*+): not allowed");
		return -EINVAL;
	}
	if (copies < 0) {
		snprintf(why, WHY_MAX, "regex groups nest deeper than %d", REGEX_DEPTH_MAX);
		return -EINVAL;
	}
	if (copies > REGEX_COPIES_MAX) {
		snprintf(why, WHY_MAX, "regex too large: its repetitions (+, {m,n}) make over %d copies",
			 REGEX_COPIES_MAX);
		return -EINVAL;
	}
	rc = regcomp(re, arg, REG_EXTENDED | REG_NOSUB);
	if (!rc)
		return 0;
	memcpy(why, "bad regex: ", 11);
	regerror(rc, re, why + 11, WHY_MAX - 11);
	return -EINVAL;
}

static int match_check_arg(struct match_rule *r, const char *arg, char *why)
{
	if (!*arg) {
		snprintf(why, WHY_MAX, "empty %s: argument", match_kinds[r->kind]);
		return -EINVAL;
	}
	switch (r->kind) {
	case MATCH_COMM:
		if (strlen(arg) <= TASK_COMM_MAX)
			return 0;
		snprintf(why, WHY_MAX, "comm: names have at most %d characters (the kernel cuts them)",
			 TASK_COMM_MAX);
		return -EINVAL;
	case MATCH_CMDLINE:
		return regex_compile(&r->re, arg, why);
	case MATCH_USER:
		return user_resolve(arg, &r->uid, why);
	default:	/* exe:, cgroup:, pidfile: */
		if (*arg == '/')
			return 0;
		snprintf(why, WHY_MAX, "%s: needs an absolute path", match_kinds[r->kind]);
		return -EINVAL;
	}
}

/* "kind:arg"; writes @ret only on success, @why on -EINVAL. */
static int match_parse(const char *s, struct match_rule *ret, char *why)
{
	const char *colon = strchr(s, ':');
	struct match_rule r = { 0 };
	int kind = -1, err;

	for (size_t i = 0; colon && i < ARRAY_SIZE(match_kinds); i++)
		if (strlen(match_kinds[i]) == (size_t)(colon - s) &&
		    !strncmp(s, match_kinds[i], colon - s))
			kind = i;
	if (kind < 0) {
		snprintf(why, WHY_MAX, "unknown match kind (comm:, exe:, cmdline:, cgroup:, pidfile:, user:)");
		return -EINVAL;
	}
	r.kind = kind;
	err = match_check_arg(&r, colon + 1, why);
	if (err)
		return err;
	r.arg = strdup(colon + 1);
	if (!r.arg) {
		if (r.kind == MATCH_CMDLINE)
			regfree(&r.re);
		return -ENOMEM;
	}
	*ret = r;
	return 0;
}

/* ---- error list --------------------------------------------------------- */

/* Insert keeping the list sorted by line (stable), as a compiler prints. */
static int errs_vpush(struct config_errors *e, int line, const char *fmt, va_list ap)
{
	struct config_error *v = grow(e->v, e->n, sizeof(*v));
	int i;

	if (!v)
		return -ENOMEM;
	e->v = v;
	for (i = e->n; i > 0 && v[i - 1].line > line; i--)
		v[i] = v[i - 1];
	v[i].line = line;
	vsnprintf(v[i].msg, sizeof(v[i].msg), fmt, ap);
	e->n++;
	return 0;
}

__attribute__((format(printf, 3, 4)))
static int errs_push(struct config_errors *e, int line, const char *fmt, ...)
{
	va_list ap;
	int err;

	va_start(ap, fmt);
	err = errs_vpush(e, line, fmt, ap);
	va_end(ap);
	return err;
}

void config_errors_print(FILE *f, const char *path, const struct config_errors *errs)
{
	if (!path)
		path = "(config)";
	for (int i = 0; i < errs->n; i++) {
		if (errs->v[i].line)
			fprintf(f, "%s:%d: %s\n", path, errs->v[i].line, errs->v[i].msg);
		else
			fprintf(f, "%s: %s\n", path, errs->v[i].msg);
	}
}

void config_errors_free(struct config_errors *errs)
{
	free(errs->v);
	*errs = (struct config_errors){ 0 };
}

/* ---- the parser --------------------------------------------------------- */

enum section { SEC_NONE, SEC_MEMSHED, SEC_COMPONENT, SEC_SKIP };

/* What the parser remembers of a component beyond struct component_config. */
struct comp_extra {
	int key_line[KEYS_MAX];		/* 0: unset, < 0: set, but bad */
	char *action;			/* the "action" value, for every level */
};

/* A match rule and the line it came from. */
struct rule_ref {
	int comp, rule, line;
};

struct parser {
	struct config cfg;		/* built here, moved out on success */
	struct config_errors errs;
	bool oom;

	const char *pos, *end;		/* the input */
	int lineno;
	int pending;			/* key line given to libinih, no call yet */

	enum section sec;
	char title[256];		/* "memshed", "component NAME" */
	int memshed_line;		/* first [memshed] header */
	int key_line[KEYS_MAX];		/* of [memshed] keys */

	int cur;			/* component being read */
	struct comp_extra *extra;	/* parallel to cfg.comps */
	struct rule_ref *refs;
	int nr_refs;
};

__attribute__((format(printf, 3, 4)))
static void perr_at(struct parser *p, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (errs_vpush(&p->errs, line, fmt, ap))
		p->oom = true;
	va_end(ap);
}

#define perr(p, ...)	perr_at((p), (p)->lineno, __VA_ARGS__)

static int oom(struct parser *p)
{
	p->oom = true;
	return -1;
}

/* ---- keys --------------------------------------------------------------- */

struct key_def;
typedef int key_setter(struct parser *p, const struct key_def *k, void *obj,
		       const char *v);

struct key_def {
	const char *name;
	key_setter *set;		/* 0, or -1 with the error reported */
	size_t off;			/* field in struct config/component_config */
	double min, max;		/* allowed range; max 0: no upper bound */
	const char *range;		/* the range as told to the user */
	bool repeatable;
};

static int bad_value(struct parser *p, const struct key_def *k, const char *v,
		     const char *why)
{
	perr(p, "%s = \"%s\": %s", k->name, v, why);
	return -1;
}

static int out_of_range(struct parser *p, const struct key_def *k, const char *v)
{
	perr(p, "%s = \"%s\" is out of range (%s)", k->name, v, k->range);
	return -1;
}

static int check_range(struct parser *p, const struct key_def *k, const char *v, double x)
{
	if (x >= k->min && (k->max == 0 || x <= k->max))
		return 0;
	return out_of_range(p, k, v);
}

static int str_replace(struct parser *p, char **dst, const char *v)
{
	char *s = strdup(v);

	if (!s)
		return oom(p);
	if (*dst != default_event_log)
		free(*dst);
	*dst = s;
	return 0;
}

static int set_bool(struct parser *p, const struct key_def *k, void *obj, const char *v)
{
	if (!parse_bool(v, FIELD(obj, k, bool)))
		return 0;
	return bad_value(p, k, v, "not a boolean (yes/no, true/false, on/off, 1/0)");
}

static int set_int(struct parser *p, const struct key_def *k, void *obj, const char *v)
{
	uint64_t n;

	if (uint_parse(v, INT_MAX, &n))
		return bad_value(p, k, v, "not a whole number");
	if (check_range(p, k, v, n))
		return -1;
	*FIELD(obj, k, int) = n;
	return 0;
}

static int set_duration(struct parser *p, const struct key_def *k, void *obj, const char *v)
{
	uint64_t ns;

	if (parse_duration(v, &ns))
		return bad_value(p, k, v, "not a duration (e.g. 500ms, 60s, 5m, 1h)");
	if (check_range(p, k, v, ns))
		return -1;
	*FIELD(obj, k, uint64_t) = ns;
	return 0;
}

static int set_fraction(struct parser *p, const struct key_def *k, void *obj, const char *v)
{
	double x;

	if (parse_fraction(v, &x))
		return bad_value(p, k, v, "not a fraction 0..1 (e.g. 0.75 or 75%)");
	if (check_range(p, k, v, x))
		return -1;
	*FIELD(obj, k, double) = x;
	return 0;
}

static int set_size(struct parser *p, const struct key_def *k, void *obj, const char *v)
{
	uint64_t b;

	if (parse_size(v, &b, NULL))
		return bad_value(p, k, v, "not a size (e.g. 4096, 256K, 4M, 1G)");
	if (check_range(p, k, v, b))
		return -1;
	*FIELD(obj, k, uint64_t) = b;
	return 0;
}

static int set_path(struct parser *p, const struct key_def *k, void *obj, const char *v)
{
	if (*v != '/')
		return bad_value(p, k, v, "needs an absolute path");
	return str_replace(p, FIELD(obj, k, char *), v);
}

static bool is_off(const char *v)
{
	return !*v || !strcmp(v, "\"\"") || !strcmp(v, "off");
}

static int set_event_log(struct parser *p, const struct key_def *k, void *obj, const char *v)
{
	return is_off(v) ? str_replace(p, FIELD(obj, k, char *), "") : set_path(p, k, obj, v);
}

/* Off is NULL, the default: nothing to do. */
static int set_metrics_file(struct parser *p, const struct key_def *k, void *obj, const char *v)
{
	return is_off(v) ? 0 : set_path(p, k, obj, v);
}

static int set_total_limit(struct parser *p, const struct key_def *k, void *obj, const char *v)
{
	struct config *cfg = obj;
	uint64_t b;
	double pct;

	if (parse_size(v, &b, &pct))
		return bad_value(p, k, v, "expected a size (512M, 4G), a share of RAM (50%) or auto");
	if (!b && !pct)
		return out_of_range(p, k, v);
	cfg->total_limit = b;		/* 0 with a percentage: resolved at the end */
	cfg->total_limit_pct = pct;
	return 0;
}

static int set_usage_source(struct parser *p, const struct key_def *k, void *obj, const char *v)
{
	struct config *cfg = obj;

	if (!strcmp(v, "components")) {
		cfg->usage_source = USAGE_COMPONENTS;
	} else if (!strcmp(v, "system")) {
		cfg->usage_source = USAGE_SYSTEM;
	} else if (!strncmp(v, "cgroup:", 7)) {
		if (v[7] != '/')
			return bad_value(p, k, v, "cgroup: needs an absolute path");
		if (str_replace(p, &cfg->usage_cgroup, v + 7))
			return -1;
		cfg->usage_source = USAGE_CGROUP;
	} else {
		return bad_value(p, k, v, "expected components, system or cgroup:/PATH");
	}
	return 0;
}

static int set_rss_mode(struct parser *p, const struct key_def *k, void *obj, const char *v)
{
	static const char *const names[] = {
		[RSS_TRACEPOINT] = "tracepoint", [RSS_SAMPLE] = "sample", [RSS_AUTO] = "auto",
	};
	int i = name_index(names, ARRAY_SIZE(names), v);

	if (i < 0)
		return bad_value(p, k, v, "expected tracepoint, sample or auto");
	((struct config *)obj)->rss_mode = i;
	return 0;
}

static int set_activity_source(struct parser *p, const struct key_def *k, void *obj,
			       const char *v)
{
	static const char *const names[] = {
		[ACTIVITY_SAMPLE] = "sample", [ACTIVITY_SCHED_SWITCH] = "sched_switch",
	};
	int i = name_index(names, ARRAY_SIZE(names), v);

	if (i < 0)
		return bad_value(p, k, v, "expected sample or sched_switch");
	((struct config *)obj)->activity_source = i;
	return 0;
}

/* The kernel wants a power-of-two number of pages. */
static int set_ringbuf_size(struct parser *p, const struct key_def *k, void *obj, const char *v)
{
	uint64_t b;

	if (parse_size(v, &b, NULL))
		return bad_value(p, k, v, "not a size (e.g. 256K, 1M)");
	if (b < 4096 || b > (256 << 20) || (b & (b - 1)))
		return out_of_range(p, k, v);
	((struct config *)obj)->ringbuf_size = b;
	return 0;
}

static int set_psi(struct parser *p, const struct key_def *k, void *obj, const char *v)
{
	double pct = 0;

	if (strcmp(v, "0") && percent_parse(v, &pct))
		return bad_value(p, k, v, "expected a percentage 0%..100%, or 0 for off");
	*FIELD(obj, k, double) = pct;
	return 0;
}

static int set_max_unload(struct parser *p, const struct key_def *k, void *obj, const char *v)
{
	uint64_t n = 0;

	if (strcmp(v, "all") && uint_parse(v, UINT_MAX, &n))
		return bad_value(p, k, v, "expected a count, or all (same as 0)");
	*FIELD(obj, k, unsigned int) = n;
	return 0;
}

static int set_match(struct parser *p, const struct key_def *k, void *obj, const char *v)
{
	struct component_config *c = obj;
	struct match_rule r, *rules;
	struct rule_ref *refs;
	char why[WHY_MAX];
	int err = match_parse(v, &r, why);

	if (err == -ENOMEM)
		return oom(p);
	if (err)
		return bad_value(p, k, v, why);
	rules = grow(c->rules, c->nr_rules, sizeof(*rules));
	if (rules)
		c->rules = rules;
	refs = grow(p->refs, p->nr_refs, sizeof(*refs));
	if (refs)
		p->refs = refs;
	if (!rules || !refs) {
		match_rule_free(&r);
		return oom(p);
	}
	/* Moving a regex_t (here and when rules grows) is fine for glibc and musl. */
	c->rules[c->nr_rules] = r;
	p->refs[p->nr_refs++] = (struct rule_ref){ p->cur, c->nr_rules++, p->lineno };
	return 0;
}

/* "action" is kept as text and parsed once per level when the file ends. */
static int set_action(struct parser *p, const struct key_def *k, void *obj, const char *v)
{
	struct action a;
	const char *why;
	int err = action_parse(v, &a, &why);

	if (err == -ENOMEM)
		return oom(p);
	if (err)
		return bad_value(p, k, v, why);
	action_free(&a);
	p->extra[p->cur].action = strdup(v);
	return p->extra[p->cur].action ? 0 : oom(p);
}

static int set_action_level(struct parser *p, const struct key_def *k, void *obj, const char *v)
{
	const char *why;
	int err = action_parse(v, FIELD(obj, k, struct action), &why);

	if (err == -ENOMEM)
		return oom(p);
	return err ? bad_value(p, k, v, why) : 0;
}

static int set_comp_min_idle(struct parser *p, const struct key_def *k, void *obj, const char *v)
{
	struct component_config *c = obj;

	if (set_duration(p, k, obj, v))
		return -1;
	c->has_min_idle = true;
	return 0;
}

#define CFG(f)		.off = offsetof(struct config, f)
#define COMP(f)		.off = offsetof(struct component_config, f)
#define POSITIVE	.min = 1, .range = "must be > 0"
/* DBL_MIN as the minimum: (0, 1], a threshold of 0 would mean nothing. */
#define THRESHOLD	.min = DBL_MIN, .max = 1, .range = "0 < x <= 1"

static const struct key_def memshed_keys[] = {
	{ .name = "total_limit", .set = set_total_limit, .range = "must be > 0" },
	{ .name = "low_threshold", .set = set_fraction, CFG(threshold[LEVEL_LOW]), THRESHOLD },
	{ .name = "medium_threshold", .set = set_fraction, CFG(threshold[LEVEL_MEDIUM]), THRESHOLD },
	{ .name = "high_threshold", .set = set_fraction, CFG(threshold[LEVEL_HIGH]), THRESHOLD },
	{ .name = "critical_threshold", .set = set_fraction, CFG(threshold[LEVEL_CRITICAL]), THRESHOLD },
	{ .name = "auto_unload", .set = set_bool, CFG(auto_unload) },
	{ .name = "min_idle_time", .set = set_duration, CFG(min_idle_ns) },
	{ .name = "check_interval", .set = set_duration, CFG(check_interval_ns), POSITIVE },
	{ .name = "usage_source", .set = set_usage_source },
	{ .name = "rss_mode", .set = set_rss_mode },
	{ .name = "activity_source", .set = set_activity_source },
	{ .name = "idle_cpu", .set = set_fraction, CFG(idle_cpu), .max = 1, .range = "0..1 (of one CPU)" },
	{ .name = "ringbuf_size", .set = set_ringbuf_size, .range = "a power of two, 4K..256M" },
	{ .name = "stall_threshold", .set = set_duration, CFG(stall_threshold_ns) },
	{ .name = "psi_medium_some", .set = set_psi, CFG(psi[LEVEL_MEDIUM].some_pct) },
	{ .name = "psi_high_some", .set = set_psi, CFG(psi[LEVEL_HIGH].some_pct) },
	{ .name = "psi_critical_some", .set = set_psi, CFG(psi[LEVEL_CRITICAL].some_pct) },
	{ .name = "psi_medium_full", .set = set_psi, CFG(psi[LEVEL_MEDIUM].full_pct) },
	{ .name = "psi_high_full", .set = set_psi, CFG(psi[LEVEL_HIGH].full_pct) },
	{ .name = "psi_critical_full", .set = set_psi, CFG(psi[LEVEL_CRITICAL].full_pct) },
	/* The kernel's limits for a PSI trigger window. */
	{ .name = "psi_window", .set = set_duration, CFG(psi_window_ns), .min = 500 * NSEC_PER_MSEC,
	  .max = 10 * NSEC_PER_SEC, .range = "500ms..10s" },
	{ .name = "psi_cgroup", .set = set_path, CFG(psi_cgroup) },
	{ .name = "hysteresis", .set = set_fraction, CFG(hysteresis), .max = 0.5, .range = "0..0.5" },
	{ .name = "settle_time", .set = set_duration, CFG(settle_ns) },
	{ .name = "medium_min_idle", .set = set_duration, CFG(level[LEVEL_MEDIUM].min_idle_ns) },
	{ .name = "high_min_idle", .set = set_duration, CFG(level[LEVEL_HIGH].min_idle_ns) },
	{ .name = "critical_min_idle", .set = set_duration, CFG(level[LEVEL_CRITICAL].min_idle_ns) },
	{ .name = "medium_max_unload", .set = set_max_unload, CFG(level[LEVEL_MEDIUM].max_unload) },
	{ .name = "high_max_unload", .set = set_max_unload, CFG(level[LEVEL_HIGH].max_unload) },
	{ .name = "critical_max_unload", .set = set_max_unload, CFG(level[LEVEL_CRITICAL].max_unload) },
	{ .name = "prefer_larger", .set = set_bool, CFG(prefer_larger) },
	{ .name = "dry_run", .set = set_bool, CFG(dry_run) },
	{ .name = "round_timeout", .set = set_duration, CFG(round_timeout_ns), POSITIVE },
	{ .name = "cooldown", .set = set_duration, CFG(cooldown_ns) },
	{ .name = "event_log", .set = set_event_log, CFG(event_log) },
	{ .name = "event_log_size", .set = set_size, CFG(event_log_size),
	  .min = 64 << 10, .range = "at least 64K: the on-disk ring's minimum" },
	{ .name = "metrics_file", .set = set_metrics_file, CFG(metrics_file) },
};

static const struct key_def comp_keys[] = {
	{ .name = "match", .set = set_match, .repeatable = true },
	{ .name = "priority", .set = set_int, COMP(priority), .max = 100, .range = "0..100" },
	{ .name = "critical", .set = set_bool, COMP(critical) },
	{ .name = "action", .set = set_action },
	{ .name = "action.medium", .set = set_action_level, COMP(ladder[LEVEL_MEDIUM]) },
	{ .name = "action.high", .set = set_action_level, COMP(ladder[LEVEL_HIGH]) },
	{ .name = "action.critical", .set = set_action_level, COMP(ladder[LEVEL_CRITICAL]) },
	{ .name = "grace", .set = set_duration, COMP(grace_ns) },
	{ .name = "exec_timeout", .set = set_duration, COMP(exec_timeout_ns), POSITIVE },
	{ .name = "min_idle_time", .set = set_comp_min_idle, COMP(min_idle_ns) },
	{ .name = "prefer_larger", .set = set_bool, COMP(prefer_larger) },
};

_Static_assert(ARRAY_SIZE(memshed_keys) <= KEYS_MAX, "KEYS_MAX too small");
_Static_assert(ARRAY_SIZE(comp_keys) <= KEYS_MAX, "KEYS_MAX too small");

static const struct key_def *key_find(const struct key_def *keys, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(keys[i].name, name))
			return &keys[i];
	return NULL;
}

/* The line a key was set on: 0 unset, negative if its value was bad. */
static int memshed_key_line(const struct parser *p, const char *name)
{
	return p->key_line[key_find(memshed_keys, ARRAY_SIZE(memshed_keys), name) - memshed_keys];
}

static int comp_key_line(const struct comp_extra *x, const char *name)
{
	return x->key_line[key_find(comp_keys, ARRAY_SIZE(comp_keys), name) - comp_keys];
}

static void key_set(struct parser *p, const struct key_def *keys, size_t n, int *key_line,
		    void *obj, const char *name, const char *v)
{
	const struct key_def *k = key_find(keys, n, name);
	int *line;

	if (!k) {
		perr(p, "unknown key \"%s\" in [%s]", name, p->title);
		return;
	}
	line = &key_line[k - keys];
	if (*line && !k->repeatable) {
		perr(p, "duplicate key \"%s\" (first set at line %d)", name, abs(*line));
		return;
	}
	*line = k->set(p, k, obj, v) ? -p->lineno : p->lineno;
}

/* ---- sections ----------------------------------------------------------- */

static void memshed_begin(struct parser *p)
{
	/* Read on: its keys still get checked (and duplicates reported). */
	if (p->memshed_line)
		perr(p, "duplicate section [memshed] (first at line %d)", p->memshed_line);
	else
		p->memshed_line = p->lineno;
	p->sec = SEC_MEMSHED;
}

static bool comp_name_valid(const char *name)
{
	size_t n = strlen(name);

	return n && n < CONFIG_NAME_MAX &&
	       strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			    "0123456789_.-") == n;
}

/* An invalid name is reported, and the section read on to check its keys. */
static void component_begin(struct parser *p, const char *name)
{
	struct component_config *comps, *c;
	struct comp_extra *extra;
	int n = p->cfg.nr_comps;

	if (!*name)
		perr(p, "a component needs a name: [component NAME]");
	else if (!comp_name_valid(name))
		perr(p, "invalid component name \"%s\": 1-%d characters of A-Z a-z 0-9 _ . -",
		     name, CONFIG_NAME_MAX - 1);
	/* comp_id 0 means "not labelled" in the kernel's comps map. */
	if (n == MEMSHED_MAX_COMPONENTS - 1)
		perr(p, "too many components (at most %d)", MEMSHED_MAX_COMPONENTS - 1);
	comps = grow(p->cfg.comps, n, sizeof(*comps));
	if (comps)
		p->cfg.comps = comps;
	extra = grow(p->extra, n, sizeof(*extra));
	if (extra)
		p->extra = extra;
	if (!comps || !extra) {
		oom(p);
		return;
	}
	c = &comps[n];
	*c = (struct component_config){
		.line = p->lineno, .priority = 50,
		.grace_ns = 10 * NSEC_PER_SEC, .exec_timeout_ns = 30 * NSEC_PER_SEC,
	};
	/* A name too long is reported already; kept cut for later messages. */
	memcpy(c->name, name, strnlen(name, sizeof(c->name) - 1));
	extra[n] = (struct comp_extra){ 0 };
	p->cur = n;
	p->cfg.nr_comps++;
	p->sec = SEC_COMPONENT;
}

static void section_begin(struct parser *p, const char *name)
{
	p->sec = SEC_SKIP;
	snprintf(p->title, sizeof(p->title), "%s", name);
	if (!strcmp(name, "memshed")) {
		memshed_begin(p);
	} else if (!strncmp(name, "component", 9) &&
		   (!name[9] || isspace((unsigned char)name[9]))) {
		name += 9;
		while (isspace((unsigned char)*name))
			name++;
		snprintf(p->title, sizeof(p->title), "component %s", name);
		component_begin(p, name);
	} else {
		perr(p, "unknown section [%s] (expected [memshed] or [component NAME])", name);
	}
}

/* "[name]", trimmed, at most one line long; a comment may follow. */
static void header_parse(struct parser *p, const char *s, size_t n)
{
	const char *close = memchr(s, ']', n);
	const char *rest, *name;
	size_t rn, nn;
	char buf[sizeof(p->title) - 16];	/* room for "component " */

	if (!close) {
		perr(p, "section header without ']'");
		p->sec = SEC_SKIP;
		return;
	}
	rest = close + 1;
	rn = s + n - rest;
	trim(&rest, &rn);
	if (rn && *rest != ';' && *rest != '#')
		perr(p, "text after section header: \"%.*s\"", (int)rn, rest);
	name = s + 1;
	nn = close - name;
	trim(&name, &nn);
	/*
	 * Fuzzing review (issue 7): n is bounded only by libinih's line buffer,
	 * 200 bytes in Debian's build but a build option of libinih
	 * (max_line_length); never copy more than buf holds.
	 */
	if (nn >= sizeof(buf)) {
		perr(p, "section name longer than %zu characters", sizeof(buf) - 1);
		p->sec = SEC_SKIP;
		return;
	}
	memcpy(buf, name, nn);
	buf[nn] = '\0';
	section_begin(p, buf);
}

/* ---- the line reader and the libinih handler ---------------------------- */

/*
 * Sort one raw line: comments and blank lines go to libinih as empty
 * lines, headers are ours, key lines are given to libinih trimmed (without
 * leading blanks it never takes a line for the continuation of the one
 * before, which would silently glue an indented key to the previous value).
 */
static void line_dispatch(struct parser *p, const char *s, size_t n, char *out, int size)
{
	if (memchr(s, '\0', n)) {
		perr(p, "NUL byte in line");
		return;
	}
	if (p->lineno == 1 && n >= 3 && !memcmp(s, "\xef\xbb\xbf", 3))
		s += 3, n -= 3;		/* UTF-8 byte order mark */
	trim(&s, &n);
	if (!n || *s == ';' || *s == '#')
		return;
	/* Room for the line, '\n' and '\0'; comments may be longer. */
	if (n > (size_t)size - 2) {
		perr(p, "line longer than %d characters", size - 2);
		return;
	}
	if (*s == '[') {
		header_parse(p, s, n);
		return;
	}
	memcpy(out, s, n);
	memcpy(out + n, "\n", 2);
	p->pending = p->lineno;
}

/* libinih's fgets: one line per call, or NULL at the end. */
static char *read_line(char *str, int size, void *stream)
{
	struct parser *p = stream;
	const char *s = p->pos, *nl;
	size_t n;

	/* libinih takes a line without '=' (or ':') for an error and moves on. */
	if (p->pending)
		perr_at(p, p->pending, "expected KEY = VALUE");
	p->pending = 0;
	if (s == p->end)
		return NULL;
	nl = memchr(s, '\n', p->end - s);
	n = (nl ? nl : p->end) - s;
	p->pos = nl ? nl + 1 : p->end;
	p->lineno++;
	strcpy(str, "\n");
	line_dispatch(p, s, n, str, size);
	return str;
}

/* The section libinih passes is ignored: header_parse has the real one. */
static int on_key(void *user, const char *section, const char *name, const char *value)
{
	struct parser *p = user;

	p->pending = 0;
	if (!*name)
		perr(p, "expected KEY = VALUE (no key before '=')");
	else if (p->sec == SEC_NONE)
		perr(p, "key \"%s\" outside any section", name);
	else if (p->sec == SEC_MEMSHED)
		key_set(p, memshed_keys, ARRAY_SIZE(memshed_keys), p->key_line, &p->cfg,
			name, value);
	else if (p->sec == SEC_COMPONENT)
		key_set(p, comp_keys, ARRAY_SIZE(comp_keys), p->extra[p->cur].key_line,
			&p->cfg.comps[p->cur], name, value);
	return 1;
}

/* ---- checks once the whole file is read --------------------------------- */

/*
 * No match key (bad match lines and bad names are reported already), the
 * ladder, and the [memshed] prefer_larger where not set.
 */
static void component_finish(struct parser *p, int i)
{
	struct component_config *c = &p->cfg.comps[i];
	const char *action = p->extra[i].action ? p->extra[i].action : "term";
	const char *why;

	if (!comp_key_line(&p->extra[i], "match") && comp_name_valid(c->name))
		perr_at(p, c->line, "component \"%s\" has no match rule", c->name);
	for (int l = LEVEL_MEDIUM; l < NR_LEVELS; l++)
		if (c->ladder[l].kind == ACTION_NONE &&
		    action_parse(action, &c->ladder[l], &why))
			oom(p);		/* it parsed before: only memory can fail */
	if (!comp_key_line(&p->extra[i], "prefer_larger"))
		c->prefer_larger = p->cfg.prefer_larger;
}

static int comp_cmp(const void *a, const void *b, void *arg)
{
	const struct config *cfg = arg;
	int x = *(const int *)a, y = *(const int *)b;
	int c = strcmp(cfg->comps[x].name, cfg->comps[y].name);

	return c ? c : x - y;
}

/* Sorted by name, so that 4000 components do not take 8 million compares. */
static void check_duplicate_components(struct parser *p)
{
	const struct component_config *comps = p->cfg.comps;
	int n = p->cfg.nr_comps, *idx = calloc(n + 1, sizeof(*idx));

	if (!idx) {
		oom(p);
		return;
	}
	for (int i = 0; i < n; i++)
		idx[i] = i;
	qsort_r(idx, n, sizeof(*idx), comp_cmp, &p->cfg);
	for (int i = 1, first = 0; i < n; i++) {
		if (strcmp(comps[idx[i]].name, comps[idx[first]].name)) {
			first = i;
			continue;
		}
		if (!comp_name_valid(comps[idx[i]].name))
			continue;	/* reported at its header */
		perr_at(p, comps[idx[i]].line, "duplicate component \"%s\" (first defined at line %d)",
			comps[idx[i]].name, comps[idx[first]].line);
	}
	free(idx);
}

static const struct match_rule *ref_rule(const struct config *cfg, const struct rule_ref *r)
{
	return &cfg->comps[r->comp].rules[r->rule];
}

static int rule_cmp(const struct match_rule *x, const struct match_rule *y)
{
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return strcmp(x->arg, y->arg);
}

static int ref_cmp(const void *a, const void *b, void *arg)
{
	const struct rule_ref *x = a, *y = b;
	int c = rule_cmp(ref_rule(arg, x), ref_rule(arg, y));

	return c ? c : x->line - y->line;
}

/* Does every rule of component a also stand in component b? */
static bool rules_within(const struct component_config *a, const struct component_config *b)
{
	for (int i = 0; i < a->nr_rules; i++) {
		bool found = false;

		for (int k = 0; k < b->nr_rules && !found; k++)
			found = !rule_cmp(&a->rules[i], &b->rules[k]);
		if (!found)
			return false;
	}
	return true;
}

/*
 * A rule repeated within a component is an error. All rules of a component
 * must match (they narrow), so two components may share a rule
 * (comm:python with user:a, comm:python with user:b); two components with
 * the same set of rules are an error: a process would belong to either.
 * Other overlaps are resolved at run time by file order (the first wins),
 * see examples/memshed.conf.
 */
static void check_identical_rules(struct parser *p)
{
	const struct config *cfg = &p->cfg;
	const struct rule_ref *first = p->refs;

	if (p->nr_refs < 2)
		return;
	qsort_r(p->refs, p->nr_refs, sizeof(*p->refs), ref_cmp, &p->cfg);
	for (const struct rule_ref *r = p->refs + 1; r < p->refs + p->nr_refs; r++) {
		const struct match_rule *m = ref_rule(cfg, r);
		const struct component_config *a, *b;

		if (rule_cmp(ref_rule(cfg, first), m)) {
			first = r;
			continue;
		}
		if (first->comp == r->comp) {
			perr_at(p, r->line, "match rule %s:%s repeats line %d",
				match_kinds[m->kind], m->arg, first->line);
			continue;
		}
		a = &cfg->comps[first->comp];
		b = &cfg->comps[r->comp];
		/* Report each pair once: at the first rule they share. */
		if (a->nr_rules == b->nr_rules && rules_within(a, b) && rules_within(b, a) &&
		    !rule_cmp(m, &b->rules[0]))
			perr_at(p, b->line, "component \"%s\" has the same match rules as component \"%s\" (line %d): a process would belong to either",
				b->name, a->name, a->line);
	}
}

/* Strictly ascending; reported at the threshold that was set. */
static void check_thresholds(struct parser *p)
{
	const double *t = p->cfg.threshold;
	int line[NR_LEVELS];
	char key[32];

	for (int l = 0; l < NR_LEVELS; l++) {
		snprintf(key, sizeof(key), "%s_threshold", level_name(l));
		line[l] = memshed_key_line(p, key);
		if (line[l] < 0)
			return;		/* a bad value is reported already */
	}
	for (int l = 1; l < NR_LEVELS; l++) {
		if (t[l - 1] < t[l])
			continue;
		if (line[l])
			perr_at(p, line[l], "%s_threshold (%g) must be above %s_threshold (%g)",
				level_name(l), t[l], level_name(l - 1), t[l - 1]);
		else
			perr_at(p, line[l - 1], "%s_threshold (%g) must be below %s_threshold (%g)",
				level_name(l - 1), t[l - 1], level_name(l), t[l]);
	}
}

/* The seed's table: medium waits min_idle_time, high half of it. */
static void derive_level_min_idle(struct parser *p)
{
	struct config *cfg = &p->cfg;

	if (!memshed_key_line(p, "medium_min_idle"))
		cfg->level[LEVEL_MEDIUM].min_idle_ns = cfg->min_idle_ns;
	if (!memshed_key_line(p, "high_min_idle"))
		cfg->level[LEVEL_HIGH].min_idle_ns = cfg->min_idle_ns / 2;
}

static int mem_total(uint64_t *ret)
{
	FILE *f = fopen("/proc/meminfo", "re");
	unsigned long long kb;
	char line[128];
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (err && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
			err = 0;
	fclose(f);
	if (!err)
		*ret = kb * 1024;
	return err;
}

static void resolve_total_limit(struct parser *p)
{
	struct config *cfg = &p->cfg;
	int line = memshed_key_line(p, "total_limit");
	uint64_t ram = 0;

	if (cfg->total_limit_pct == 0)
		return;
	if (mem_total(&ram)) {
		perr_at(p, line, "total_limit: cannot read MemTotal from /proc/meminfo");
		return;
	}
	cfg->total_limit = ram * (cfg->total_limit_pct / 100);
	if (!cfg->total_limit)
		perr_at(p, line, "total_limit: %g%% of RAM is less than a byte", cfg->total_limit_pct);
}

static void parser_finish(struct parser *p)
{
	for (int i = 0; i < p->cfg.nr_comps; i++)
		component_finish(p, i);
	check_duplicate_components(p);
	check_identical_rules(p);
	check_thresholds(p);
	derive_level_min_idle(p);
	resolve_total_limit(p);
}

/* Hand the config (success) or the errors out; free the rest. */
static int parser_end(struct parser *p, struct config *cfg, struct config_errors *errs)
{
	for (int i = 0; i < p->cfg.nr_comps; i++)
		free(p->extra[i].action);
	free(p->extra);
	free(p->refs);
	if (p->oom || p->errs.n) {
		config_free(&p->cfg);
		if (errs && !p->oom)
			*errs = p->errs;
		else
			config_errors_free(&p->errs);
		return p->oom ? -ENOMEM : -EINVAL;
	}
	*cfg = p->cfg;
	return 0;
}

/* ---- public entry points ------------------------------------------------ */

void config_init_defaults(struct config *cfg)
{
	*cfg = (struct config){
		.total_limit = 1ULL << 30,
		.threshold = { 0.60, 0.75, 0.85, 0.95 },
		.auto_unload = true,
		.min_idle_ns = 300 * NSEC_PER_SEC,
		.check_interval_ns = 60 * NSEC_PER_SEC,
		.usage_source = USAGE_COMPONENTS,
		.rss_mode = RSS_AUTO,	/* bench/RESULTS.md: rss_stat costs ~4% of a page fault */
		.activity_source = ACTIVITY_SAMPLE,
		.idle_cpu = 0.02,	/* placeholder until measured */
		.idle_window_ns = NSEC_PER_SEC,
		.ringbuf_size = 256 << 10,
		.stall_threshold_ns = 10 * NSEC_PER_MSEC,
		.psi = {
			[LEVEL_MEDIUM] = { .some_pct = 5, .full_pct = 0 },
			[LEVEL_HIGH] = { .some_pct = 15, .full_pct = 5 },
			[LEVEL_CRITICAL] = { .some_pct = 40, .full_pct = 20 },
		},
		.psi_window_ns = 2 * NSEC_PER_SEC,
		.hysteresis = 0.05,
		.settle_ns = 10 * NSEC_PER_SEC,
		.level = {
			[LEVEL_MEDIUM] = { .min_idle_ns = 300 * NSEC_PER_SEC, .max_unload = 1 },
			[LEVEL_HIGH] = { .min_idle_ns = 150 * NSEC_PER_SEC, .max_unload = 3 },
			[LEVEL_CRITICAL] = { .min_idle_ns = 0, .max_unload = 0 },
		},
		.round_timeout_ns = 15 * NSEC_PER_SEC,
		.cooldown_ns = 2 * NSEC_PER_SEC,
		.event_log = default_event_log,
		.event_log_size = 4 << 20,
	};
}

int config_load_buffer(const char *name, const char *buf, size_t len,
		       struct config *cfg, struct config_errors *errs)
{
	struct parser p = { .pos = buf, .end = len ? buf + len : buf };
	int rc;

	if (errs)
		*errs = (struct config_errors){ 0 };
	config_init_defaults(&p.cfg);
	if (name && !(p.cfg.path = strdup(name)))
		oom(&p);
	rc = ini_parse_stream(read_line, &p, on_key, &p);
	if (rc == -2)
		oom(&p);
	/* Only a libinih that rejects what the reader let through gets here. */
	if (rc > 0 && !p.errs.n)
		perr_at(&p, rc, "syntax error");
	parser_finish(&p);
	return parser_end(&p, cfg, errs);
}

static int read_all(int fd, char **ret, size_t *ret_len)
{
	size_t len = 0, cap = 0;
	char *buf = NULL, *t;
	ssize_t n;

	do {
		if (len == cap) {
			cap = cap ? 2 * cap : 4096;
			t = cap > FILE_SIZE_MAX ? NULL : realloc(buf, cap);
			if (!t) {
				free(buf);
				return cap > FILE_SIZE_MAX ? -EFBIG : -ENOMEM;
			}
			buf = t;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno != EINTR) {
			free(buf);
			return -errno;
		}
		len += n > 0 ? n : 0;
	} while (n != 0);
	*ret = buf;
	*ret_len = len;
	return 0;
}

/* A config decides what gets killed: only root may write it. */
static int check_file_owner(const struct stat *st, struct config_errors *errs)
{
	if (st->st_uid == 0 && !(st->st_mode & (S_IWGRP | S_IWOTH)))
		return 0;
	if (errs && errs_push(errs, 0,
			      "refusing to load: must be owned by root and not writable by group or others (owner uid %u, mode %04o)",
			      (unsigned int)st->st_uid, (unsigned int)(st->st_mode & 07777)))
		return -ENOMEM;
	return -EINVAL;
}

int config_load_file(const char *path, bool check_owner, struct config *cfg,
		     struct config_errors *errs)
{
	char *buf = NULL;
	struct stat st;
	size_t len = 0;
	int fd, err;

	if (errs)
		*errs = (struct config_errors){ 0 };
	/* One fd for the owner check and the read: no swap in between. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	err = fstat(fd, &st) ? -errno : 0;
	if (!err && check_owner)
		err = check_file_owner(&st, errs);
	if (!err)
		err = read_all(fd, &buf, &len);
	if (!err)
		err = config_load_buffer(path, buf, len, cfg, errs);
	free(buf);
	close(fd);
	return err;
}

static void component_free(struct component_config *c)
{
	for (int i = 0; i < c->nr_rules; i++)
		match_rule_free(&c->rules[i]);
	free(c->rules);
	for (int l = 0; l < NR_LEVELS; l++)
		action_free(&c->ladder[l]);
}

void config_free(struct config *cfg)
{
	free(cfg->path);
	free(cfg->usage_cgroup);
	free(cfg->psi_cgroup);
	free(cfg->metrics_file);
	if (cfg->event_log != default_event_log)
		free(cfg->event_log);
	for (int i = 0; i < cfg->nr_comps; i++)
		component_free(&cfg->comps[i]);
	free(cfg->comps);
	*cfg = (struct config){ 0 };
}
