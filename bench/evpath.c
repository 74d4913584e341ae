// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * evpath: the daemon's side of the event path alone, without the kernel, so
 * that its cost per event can be counted (valgrind --tool=callgrind: the
 * instructions per event, the figure to compare before and after a change)
 * or timed. It replays the rename flood of bench/run's scale section: a
 * labelled process (a child of this program, named COMM) that keeps
 * renaming itself to the comm: rule's name, each event through the daemon's
 * dispatch (daemon_on_kernel_event: registry, record, sinks) to stdout as
 * JSON and to an on-disk event ring, in batches as the loop takes them.
 * What the kernel side adds per event (the pidfd and map updates of a
 * label) is not here: the registry has no loader.
 *
 *   evpath [--events N] [--batch N] [--ring PATH] [--text]
 *
 * Records go to stdout (redirect it: a file, or /dev/null); one JSON line of
 * figures goes to stderr: {"events":N,"cpu_s":S,"ns_per_event":X}.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include "daemon_state.h"
#include "eventlog.h"

#define COMM	"msbstorm"

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int main(int argc, char **argv)
{
	static const char conf[] = "[memshed]\nevent_log = off\ntotal_limit = 1T\n"
				   "auto_unload = no\n\n[component storm]\nmatch = comm:" COMM
				   "\npriority = 10\naction = term\n";
	static const struct option opts[] = {
		{ "events", required_argument, NULL, 'n' },
		{ "batch", required_argument, NULL, 'b' },
		{ "ring", required_argument, NULL, 'r' },
		{ "text", no_argument, NULL, 't' },
		{},
	};
	struct config_errors errs = {};
	struct daemon *d = calloc(1, sizeof(*d));
	struct config *cfg = calloc(1, sizeof(*cfg));
	const char *ring = NULL;
	long n = 100000, batch = 1024;
	bool text = false, recreated;
	struct memshed_event e = {};
	double t0, t1;
	pid_t child;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			n = atol(optarg);
			break;
		case 'b':
			batch = atol(optarg);
			break;
		case 'r':
			ring = optarg;
			break;
		case 't':
			text = true;
			break;
		default:
			fprintf(stderr, "usage: evpath [--events N] [--batch N] [--ring PATH] [--text]\n");
			return 2;
		}
	}
	if (!d || !cfg || n <= 0 || batch <= 0 ||
	    config_load_buffer("evpath.conf", conf, sizeof(conf) - 1, cfg, &errs)) {
		fprintf(stderr, "evpath: cannot set up\n");
		return 1;
	}
	/* The process the events are about: alive, named as the rule wants. */
	child = fork();
	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		prctl(PR_SET_NAME, COMM);
		for (;;)
			pause();
	}
	usleep(20000);

	d->cfg = cfg;
	log_setup(LOG_INFO, FORMAT_JSON);
	eventlog_setup(text ? FORMAT_TEXT : FORMAT_JSON, true);
	registry_init(&d->reg, cfg, NULL);
	if (ring && eventring_open(ring, 4 << 20, &d->ring, &recreated)) {
		fprintf(stderr, "evpath: cannot open the ring %s\n", ring);
		return 1;
	}
	daemon_add_sinks(d);

	e.hdr.type = MEMSHED_EV_RENAME;
	e.hdr.pid = e.hdr.tgid = child;
	e.hdr.comp_id = 1;	/* the kernel's label: it is a member */
	e.hdr.start_time = 1;
	memcpy(e.hdr.comm, COMM, sizeof(COMM));
	t0 = cpu_s();
	for (long i = 0; i < n; i++) {
		e.hdr.ts_ns = now_mono_ns();
		daemon_on_kernel_event(d, &e);
		if ((i + 1) % batch == 0)
			fflush(stdout);	/* where the loop goes back to epoll_wait */
	}
	fflush(stdout);
	t1 = cpu_s();
	fprintf(stderr, "{\"events\":%ld,\"cpu_s\":%.3f,\"ns_per_event\":%.0f}\n", n, t1 - t0,
		(t1 - t0) * 1e9 / n);

	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	if (d->ring)
		eventring_close(d->ring);
	registry_free(&d->reg);
	config_free(cfg);
	free(cfg);
	free(d);
	return 0;
}
