// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* memshed: the command line. `run` is the daemon; every other verb talks
 * to it over the control socket (or, for check-config and events history,
 * works on files directly). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "config.h"
#include "control.h"
#include "daemon.h"
#include "eventlog.h"
#include "eventring.h"
#include "output.h"
#include "replay.h"
#include "top.h"


static const char usage_text[] =
"Usage: memshed [--socket PATH] COMMAND [ARGS]\n"
"Keeps a host out of memory trouble by unloading idle, low-priority components.\n"
"\n"
"Daemon:\n"
"  run [--config FILE] [--dry-run] [--log-format text|json] [--no-bpf] [-v]\n"
"                             run the daemon (root); events go to stdout\n"
"Inspect:\n"
"  status [--json | --format text|json|prometheus|tsv]\n"
"                             level, PSI, usage, components in unload order\n"
"  events [--follow] [--json] [--since DURATION] [--type T,...] [--file PATH]\n"
"                             the event log (history survives restarts)\n"
"  explain [--level L] [--json]\n"
"                             who would be unloaded at each level, and why not the others\n"
"  top                        live terminal view\n"
"  check-config FILE          validate a config; errors as FILE:LINE: message\n"
"  replay [--config FILE] [--events FILE] [--json]\n"
"                             what this config would have unloaded over a recorded log\n"
"Change (root):\n"
"  label PID NAME | unlabel PID\n"
"  touch NAME | hold NAME [--ttl DURATION] | release NAME\n"
"  unload NAME | thaw NAME | reload\n"
"\n"
"  -h, --help     this text      -V, --version  the version\n"
"Exit status: 0 ok, 1 failed or refused, 2 usage error, 3 no daemon running or\n"
"config invalid (run), 4 permission denied; run: 4-6 BPF unavailable, 7 already running.\n"
"See memshed(8) and memshed.conf(5).\n";

static const char *socket_path = CONTROL_SOCKET;

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "memshed: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'memshed --help'.\n");
	return EXIT_USAGE;
}

/* ---- run ---- */

static int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "log-format", required_argument, NULL, 'f' },
		{ "no-bpf", no_argument, NULL, 'B' },
		{ "btf", required_argument, NULL, 'b' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct run_opts ro = { .log_format = FORMAT_TEXT, .socket_path = socket_path };
	int c;

	while ((c = getopt_long(argc, argv, "c:nf:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': ro.config_path = optarg; break;
		case 'n': ro.dry_run = true; break;
		case 'B': ro.no_bpf = true; break;
		case 'b': ro.btf_path = optarg; break;
		case 'v': ro.verbose = true; break;
		case 'f':
			if (!strcmp(optarg, "json"))
				ro.log_format = FORMAT_JSON;
			else if (strcmp(optarg, "text"))
				return usage_error("--log-format takes text or json, not '%s'", optarg);
			break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return usage_error("run takes no argument '%s'", argv[optind]);
	if (geteuid() != 0 && !ro.no_bpf)
		fprintf(stderr, "memshed: warning: not root; loading BPF will probably fail\n");
	return daemon_run(&ro);
}

/* ---- check-config ---- */

static int cmd_check_config(int argc, char **argv)
{
	struct config_errors errs = {};
	struct config cfg;
	int err;

	if (argc != 2)
		return usage_error("check-config takes one FILE%s", "");
	err = config_load_file(argv[1], true, &cfg, &errs);
	if (err == -EINVAL) {
		config_errors_print(stderr, argv[1], &errs);
		config_errors_free(&errs);
		return EXIT_FAILURE_;
	}
	if (err) {
		fprintf(stderr, "%s: %s\n", argv[1], strerror(-err));
		return EXIT_FAILURE_;
	}
	config_warnings(&cfg, stderr);
	printf("%s: ok (%d component%s)\n", argv[1], cfg.nr_comps, cfg.nr_comps == 1 ? "" : "s");
	config_free(&cfg);
	return EXIT_OK;
}

/* ---- replay ---- */

static int cmd_replay(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "events", required_argument, NULL, 'e' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct replay_opts o = { .out = stdout };
	struct config_errors errs = {};
	const char *path = NULL;
	struct config cfg;
	int c, err;

	while ((c = getopt_long(argc, argv, "c:e:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'e': o.events_path = optarg; break;
		case 'j': o.json = true; break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return usage_error("replay takes no argument '%s'", argv[optind]);
	if (!path && access(MEMSHED_DEFAULT_CONFIG, F_OK) == 0)
		path = MEMSHED_DEFAULT_CONFIG;
	/* Any user may try a config: it is only read (the log may need root). */
	err = path ? config_load_file(path, false, &cfg, &errs) : 0;
	if (err == -EINVAL) {
		config_errors_print(stderr, path, &errs);
		config_errors_free(&errs);
		return EXIT_NO_DAEMON;
	}
	if (err) {
		fprintf(stderr, "memshed: %s: %s\n", path, strerror(-err));
		return EXIT_NO_DAEMON;
	}
	if (!path)
		config_init_defaults(&cfg);
	o.cfg = &cfg;
	o.config_name = path ? path : "the built-in defaults";
	if (!o.events_path)
		o.events_path = cfg.event_log && cfg.event_log[0] ? cfg.event_log :
				MEMSHED_DEFAULT_EVENT_LOG;
	err = replay_run(&o);
	if (err && err != -ENODATA && err != -EPROTO)
		fprintf(stderr, "memshed: cannot read the event log %s: %s\n", o.events_path,
			strerror(-err));
	config_free(&cfg);
	return err ? EXIT_FAILURE_ : EXIT_OK;
}

/* ---- requests to the daemon ---- */

static int call(const char *cmd, const char *name, long long pid, const char *extra)
{
	struct strbuf req = {};
	int rc;

	sb_printf(&req, "{\"cmd\":\"%s\"", cmd);
	if (name) {
		sb_printf(&req, ",\"name\":");
		sb_json_str(&req, name);
	}
	if (pid > 0)
		sb_printf(&req, ",\"pid\":%lld", pid);
	if (extra)
		sb_printf(&req, ",%s", extra);
	sb_printf(&req, "}");
	rc = control_call(socket_path, req.s, stdout, stderr);
	sb_free(&req);
	return rc;
}

static int parse_pid_arg(const char *s, long long *ret)
{
	char *end;

	errno = 0;
	*ret = strtoll(s, &end, 10);
	if (errno || *end || *ret < 1 || *ret > 4194304)
		return usage_error("'%s' is not a PID (1..4194304)", s);
	return 0;
}

static int check_name(const char *name)
{
	if (!name[0] || strlen(name) >= CONFIG_NAME_MAX)
		return usage_error("'%s' is not a component name", name);
	return 0;
}

static int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const char *format = "text";
	char extra[64];
	int c;

	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j': format = "json"; break;
		case 'f':
			if (strcmp(optarg, "text") && strcmp(optarg, "json") &&
			    strcmp(optarg, "prometheus") && strcmp(optarg, "tsv"))
				return usage_error("--format takes text, json, prometheus or tsv, not '%s'", optarg);
			format = optarg;
			break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return usage_error("status takes no argument '%s'", argv[optind]);
	snprintf(extra, sizeof(extra), "\"format\":\"%s\"", format);
	return call("status", NULL, 0, extra);
}

static int cmd_explain(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const char *level = NULL;
	bool json = false;
	char extra[96];
	enum level l;
	int c;

	while ((c = getopt_long(argc, argv, "jl:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'l':
			if (level_parse(optarg, &l) || l == LEVEL_LOW)
				return usage_error("--level takes medium, high or critical, not '%s'", optarg);
			level = optarg;
			break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return usage_error("explain takes no argument '%s'", argv[optind]);
	snprintf(extra, sizeof(extra), "\"format\":\"%s\",\"level\":\"%s\"", json ? "json" : "text",
		 level ? level : "");
	return call("explain", NULL, 0, extra);
}

/* touch NAME | release NAME | unload NAME | thaw NAME | hold NAME [--ttl D] */
static int cmd_component(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ttl", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	uint64_t ttl = 0;
	char extra[64];
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (strcmp(argv[0], "hold"))
				return usage_error("--ttl goes with hold only%s", "");
			if (parse_duration(optarg, &ttl) || !ttl)
				return usage_error("--ttl takes a duration like 30s or 5m, not '%s'", optarg);
			break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: return EXIT_USAGE;
		}
	}
	if (argc - optind != 1)
		return usage_error("%s takes one component NAME", argv[0]);
	if (check_name(argv[optind]))
		return EXIT_USAGE;
	snprintf(extra, sizeof(extra), "\"ttl_ns\":%llu", (unsigned long long)ttl);
	return call(argv[0], argv[optind], 0, ttl ? extra : NULL);
}

static int cmd_label(int argc, char **argv)
{
	long long pid;
	bool unlabel = !strcmp(argv[0], "unlabel");

	if (argc != (unlabel ? 2 : 3))
		return usage_error(unlabel ? "unlabel takes one PID%s" : "label takes PID NAME%s", "");
	if (parse_pid_arg(argv[1], &pid))
		return EXIT_USAGE;
	if (!unlabel && check_name(argv[2]))
		return EXIT_USAGE;
	return call(argv[0], unlabel ? NULL : argv[2], pid, NULL);
}

/* ---- events ---- */

struct events_opts {
	bool json;
	uint64_t since_ns;		/* 0: all */
	char types[256];
	time_t now;
};

static bool event_type_ok(const struct events_opts *o, const char *json)
{
	char want[300];
	const char *p = strstr(json, "\"type\":\"");
	size_t n;

	if (!o->types[0])
		return true;
	if (!p)
		return false;
	p += 8;
	n = strcspn(p, "\"");
	snprintf(want, sizeof(want), ",%s,", o->types);
	for (const char *w = want; (w = strstr(w, ",")) && w[1]; w++)
		if (!strncmp(w + 1, p, n) && w[1 + n] == ',')
			return true;
	return false;
}

static bool event_recent(const struct events_opts *o, const char *json)
{
	const char *p = strstr(json, "\"time\":\"");
	struct tm tm = {};

	if (!o->since_ns)
		return true;
	if (!p || !strptime(p + 8, "%Y-%m-%dT%H:%M:%S", &tm))
		return false;
	return (uint64_t)(o->now - timegm(&tm)) * 1000000000ull <= o->since_ns;
}

static int print_record(void *ctx, uint64_t seq, const char *rec, size_t len)
{
	const struct events_opts *o = ctx;
	size_t n = eventlog_record_json_len(rec, len);
	struct strbuf text = {};
	char *json = strndup(rec, n);

	if (json && event_type_ok(o, json) && event_recent(o, json)) {
		if (o->json) {
			printf("%s\n", json);
		} else {
			eventlog_render_text(&text, json, n);
			printf("%s\n", text.s);
			sb_free(&text);
		}
	}
	free(json);
	return 0;
}

static int validate_types(const char *types)
{
	char buf[256], *save, *t;

	snprintf(buf, sizeof(buf), "%s", types);
	for (t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
		if (event_type_parse(t) < 0)
			return usage_error("--type: unknown event type '%s' (see memshed(8))", t);
	return 0;
}

static int cmd_events(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "follow", no_argument, NULL, 'F' },
		{ "json", no_argument, NULL, 'j' },
		{ "since", required_argument, NULL, 's' },
		{ "type", required_argument, NULL, 't' },
		{ "file", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct events_opts o = { .now = time(NULL) };
	const char *file = MEMSHED_DEFAULT_EVENT_LOG;
	struct eventring *ring;
	bool follow = false;
	char extra[400];
	int c, err;

	while ((c = getopt_long(argc, argv, "fjh", opts, NULL)) != -1) {
		switch (c) {
		case 'f': case 'F': follow = true; break;
		case 'j': o.json = true; break;
		case 's':
			if (parse_duration(optarg, &o.since_ns) || !o.since_ns)
				return usage_error("--since takes a duration like 10m or 1h, not '%s'", optarg);
			break;
		case 't':
			if (strlen(optarg) >= sizeof(o.types) || validate_types(optarg))
				return EXIT_USAGE;
			snprintf(o.types, sizeof(o.types), "%s", optarg);
			break;
		case 'p': file = optarg; break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return usage_error("events takes no argument '%s'", argv[optind]);
	err = eventring_open_read(file, &ring);
	if (err && !follow) {
		fprintf(stderr, "memshed: cannot read the event log %s: %s\n", file, strerror(-err));
		return EXIT_FAILURE_;
	}
	if (!err) {
		eventring_for_each(ring, 0, print_record, &o);
		eventring_close(ring);
		fflush(stdout);
	}
	if (!follow)
		return EXIT_OK;
	snprintf(extra, sizeof(extra), "\"follow\":true,\"format\":\"%s\",\"types\":\"%s\"",
		 o.json ? "json" : "text", o.types);
	return call("events", NULL, 0, extra);
}

/* ---- dispatch ---- */

static int cmd_simple(int argc, char **argv)
{
	if (argc != 1)
		return usage_error("%s takes no argument", argv[0]);
	return call(argv[0], NULL, 0, NULL);
}

static const struct verb {
	const char *name;
	int (*fn)(int argc, char **argv);
} verbs[] = {
	{ "run", cmd_run },
	{ "status", cmd_status },
	{ "events", cmd_events },
	{ "explain", cmd_explain },
	{ "check-config", cmd_check_config },
	{ "replay", cmd_replay },
	{ "label", cmd_label },
	{ "unlabel", cmd_label },
	{ "touch", cmd_component },
	{ "hold", cmd_component },
	{ "release", cmd_component },
	{ "unload", cmd_component },
	{ "thaw", cmd_component },
	{ "reload", cmd_simple },
	{ "top", top_main },
};

int main(int argc, char **argv)
{
	const char *env = getenv("MEMSHED_SOCKET");
	int i = 1;

	if (env && *env)
		socket_path = env;
	while (i < argc && argv[i][0] == '-') {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(usage_text, stdout);
			return 0;
		}
		if (!strcmp(argv[i], "-V") || !strcmp(argv[i], "--version")) {
			printf("memshed %s\n", MEMSHED_VERSION);
			return 0;
		}
		if (!strcmp(argv[i], "--socket") && i + 1 < argc) {
			socket_path = argv[i + 1];
			setenv("MEMSHED_SOCKET", socket_path, 1);	/* for top */
			i += 2;
			continue;
		}
		return usage_error("unknown option '%s'", argv[i]);
	}
	if (i == argc)
		return usage_error("a COMMAND is needed%s", "");
	for (size_t v = 0; v < sizeof(verbs) / sizeof(verbs[0]); v++) {
		if (!strcmp(argv[i], verbs[v].name)) {
			optind = 1;
			return verbs[v].fn(argc - i, argv + i);
		}
	}
	return usage_error("unknown command '%s'", argv[i]);
}
