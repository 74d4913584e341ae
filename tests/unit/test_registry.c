// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Unit tests of the registry's exec and rename handler (user/registry.c,
 * registry_on_exec), without a kernel side: a process is matched on the
 * name its event carries (not on what /proc shows by the time the daemon
 * reads the event), and a member that renames itself to its rule's name
 * again, already labelled so in the kernel, is not looked up again.
 */
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "output.h"
#include "registry.h"

static const char conf[] = "[memshed]\nevent_log = off\n\n[component storm]\n"
			   "match = comm:ut-storm\npriority = 10\n";

static struct config cfg;
static struct registry reg;

/* A child named COMM that waits to be killed. */
static pid_t child_named(const char *comm)
{
	int p[2];
	pid_t pid;
	char c;

	if (pipe(p))
		return -1;
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		prctl(PR_SET_NAME, comm);
		close(p[0]);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	if (pid < 0 || read(p[0], &c, 1) != 1)
		pid = -1;
	close(p[0]);
	return pid;
}

static void child_gone(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void fresh_registry(void)
{
	registry_free(&reg);
	registry_init(&reg, &cfg, NULL);
}

static void test_matched_on_the_event_name(void)
{
	pid_t other = child_named("ut-other"), storm = child_named("ut-storm");

	fresh_registry();
	CHECK(other > 0 && storm > 0, "fork failed");
	/* It renamed itself to the rule's name, and on since: the event says. */
	CHECK(registry_on_exec(&reg, other, 7, "ut-storm", 0) == 1,
	      "a rename to ut-storm was not matched (/proc shows ut-other now)");
	/* Renamed away: /proc still shows the old name, the event the new one. */
	CHECK(registry_on_exec(&reg, storm, 8, "ut-other", 0) == 0,
	      "a rename to ut-other was matched on its name in /proc");
	/* No name in the event: /proc is read. */
	CHECK(registry_on_exec(&reg, storm, 8, NULL, 0) == 1, "no event name: /proc not read");
	child_gone(other);
	child_gone(storm);
}

static void test_member_renamed_again_not_looked_up(void)
{
	pid_t pid = child_named("ut-storm");

	fresh_registry();
	CHECK(pid > 0, "fork failed");
	CHECK(registry_on_exec(&reg, pid, 9, "ut-storm", 0) == 1, "not labelled");
	child_gone(pid);
	/*
	 * Gone now, so a label could not be set again; an event of before
	 * that says the kernel has it labelled so already needs nothing of
	 * /proc or the kernel: it still names the component.
	 */
	CHECK(registry_on_exec(&reg, pid, 9, "ut-storm", 1) == 1,
	      "a member renamed again was looked up again (it is gone: that fails)");
	/* The kernel's label differs (or there is none): labelled again, which
	 * for a gone process fails. */
	CHECK(registry_on_exec(&reg, pid, 9, "ut-storm", 0) == 0, "kernel unlabelled: kept as is");
	/* Another process with the PID (another start time): looked at anew. */
	CHECK(registry_on_exec(&reg, pid, 10, "ut-storm", 1) == 0, "a recycled PID kept the entry");
}

static void test_never_itself(void)
{
	fresh_registry();
	prctl(PR_SET_NAME, "ut-storm");
	CHECK(registry_on_exec(&reg, getpid(), 11, "ut-storm", 0) == 0, "the daemon labelled itself");
	CHECK(registry_on_exec(&reg, getpid(), 11, "ut-storm", 1) == 0, "the daemon labelled itself");
	prctl(PR_SET_NAME, "test_registry");
}

int main(void)
{
	struct config_errors errs = {};

	log_setup(LOG_ERR, FORMAT_TEXT);
	if (config_load_buffer("test.conf", conf, sizeof(conf) - 1, &cfg, &errs)) {
		printf("FAIL config: does not load\n");
		return 1;
	}
	registry_init(&reg, &cfg, NULL);
	RUN_TEST(test_matched_on_the_event_name);
	RUN_TEST(test_member_renamed_again_not_looked_up);
	RUN_TEST(test_never_itself);
	registry_free(&reg);
	config_free(&cfg);
	return harness_exit();
}
