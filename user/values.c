// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Value parsers: sizes, durations, fractions, booleans, signals and
 * actions as the config map and the command line write them, and the names
 * of levels and actions. Numbers are read as exact decimals (no strtod), so
 * "1.5K" is 1536 bytes and "0.1K" is refused rather than rounded.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "values.h"

#define NSEC_PER_MSEC	1000000ULL
#define NSEC_PER_SEC	1000000000ULL
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define FRAC_DIGITS_MAX	18		/* 10^18 still fits in a uint64_t */

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

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

int parse_uint(const char *s, uint64_t max, uint64_t *ret)
{
	struct decimal d;
	const char *end = decimal_parse(s, &d);

	if (!end || *end || d.den != 1 || d.ip > max)
		return -EINVAL;
	*ret = d.ip;
	return 0;
}

/* "N%" with 0 <= N <= 100. */
int parse_percent(const char *s, double *ret)
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
	else if (parse_percent(s, &pct) || pct <= 0)
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

	if (!parse_percent(s, &v)) {
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
		if (parse_uint(s, SIGRTMAX, &n) || n == 0)
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
	[ACTION_EXEC] = "exec", [ACTION_RECLAIM] = "reclaim",
	[ACTION_HIBERNATE] = "hibernate",
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

int parse_action(const char *s, struct action *ret, const char **ret_why)
{
	static const enum action_kind plain[] = { ACTION_TERM, ACTION_KILL, ACTION_FREEZE,
						   ACTION_RECLAIM, ACTION_HIBERNATE };
	const char *why;

	if (!ret_why)
		ret_why = &why;
	for (size_t i = 0; i < ARRAY_SIZE(plain); i++) {
		if (!strcmp(s, action_names[plain[i]])) {
			*ret = (struct action){ .kind = plain[i] };
			return 0;
		}
	}
	if (!strncmp(s, "signal:", 7))
		return action_parse_signal(s + 7, ret, ret_why);
	if (!strncmp(s, "exec:", 5))
		return action_parse_exec(s + 5, ret, ret_why);
	*ret_why = "unknown action (term, kill, freeze, reclaim, hibernate, signal:SIG, exec:/PATH ARGS)";
	return -EINVAL;
}
