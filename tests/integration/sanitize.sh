#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# The daemon under AddressSanitizer, LeakSanitizer and UBSan (issue 7): the
# ASan build (build-asan/memshed, built here with tests/sanitize --build-only
# unless called with --built) runs a small config through what allocates and
# frees: SIGHUP and `memshed reload` (a changed config, a refused one),
# label/unlabel, hold/release/touch, status/explain, an unload of a
# component, then SIGTERM. It must exit 0 with no sanitizer report; the CLI
# calls (ASan binaries too) must not report anything either.
#
# The component matches a symlink to sleep(1) named msh-sleepy, not comm:sleep:
# an unload would otherwise SIGTERM every sleep on the host. The daemon gets a
# socket of its own (MEMSHED_SOCKET) so that it never meets an installed one.
#
# A clean exit proves little if LeakSanitizer never looked: last, the daemon
# runs once more with a preloaded library that leaks 4242 bytes on purpose,
# and that leak must be reported (skipped, with a note, without a compiler).
#
# mlockall: ASan's runtime makes mlock/mlockall no-ops (its shadow is terabytes
# of reserved address space), so the daemon's protect_self() needs no switch.
_root=$(cd "$(dirname "$0")/../.." && pwd -P)
MEMSHED=$_root/${SANITIZE_OUTPUT:-build-asan}/memshed
# shellcheck source=tests/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
require_root

if [[ ${1:-} != --built ]]; then
	out=$("$REPO_ROOT/tests/sanitize" --build-only 2>&1) || skip_all "ASan build failed: $(tail -n 3 <<<"$out")"
fi
[[ -x $MEMSHED ]] || skip_all "$MEMSHED is not built (tests/sanitize --build-only)"
if ! grep -q __asan_init "$MEMSHED"; then
	fail asan_binary "$MEMSHED is not built with -fsanitize=address"
	exit 1
fi

# Ours come last, so they win over options of the same name from the caller.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}halt_on_error=1:print_stacktrace=1
SAN_RE='ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: (Address|Leak|UndefinedBehavior)Sanitizer|Sanitizer:DEADLYSIGNAL|LeakSanitizer has encountered a fatal error|LeakSanitizer does not work'

tmpdir_create dir
export MEMSHED_SOCKET=$dir/memshed.sock
# shellcheck disable=SC2034 # read by daemon_wait_ready in common.sh
MEMSHED_SOCK=$MEMSHED_SOCKET
conf=$dir/memshed.conf
cli_err=$dir/cli.err
: >"$cli_err"

write_conf() { # write_conf EXTRA_TEXT: the base config plus EXTRA_TEXT
	cat >"$conf.new" <<CONF
[memshed]
check_interval = 1s
event_log = $dir/events.ring
auto_unload = no      ; only the operator's unload below acts
psi_medium_some = 0   ; no level driven by this host's memory pressure
psi_high_some = 0
psi_critical_some = 0
psi_high_full = 0
psi_critical_full = 0

[component sleepy]
match = comm:msh-sleepy
priority = 10
action = term
$1
CONF
	chmod 600 "$conf.new"
	mv "$conf.new" "$conf"
}

# cli NAME EXPECT CMD...: run the ASan CLI; pass when its exit status is EXPECT
# (0 or "nonzero") and it reported nothing to the sanitizers.
cli() {
	local name=$1 expect=$2 rc out
	shift 2
	out=$("$MEMSHED" "$@" 2>&1)
	rc=$?
	printf '== memshed %s (exit %d)\n%s\n' "$*" "$rc" "$out" >>"$cli_err"
	if grep -qE "$SAN_RE" <<<"$out"; then
		fail "$name" "sanitizer report from 'memshed $*': $(grep -m1 -E "$SAN_RE" <<<"$out")"
		return 1
	fi
	if [[ $expect == 0 && $rc -ne 0 ]] || [[ $expect == nonzero && $rc -eq 0 ]]; then
		fail "$name" "'memshed $*' exited $rc (want $expect): $(tail -n 2 <<<"$out")"
		return 1
	fi
	pass "$name"
}

config_events() { grep -cE '"type": ?"config"' "$DAEMON_LOG"; }

# wait_config N: until the log has N config events (loaded or refused)
have_config_events() { (($(config_events) >= $1)); }
wait_config() { wait_for 15 have_config_events "$1"; }

write_conf ""
ln -s "$(command -v sleep)" "$dir/msh-sleepy"
victim='' extra='' # set by spawn
spawn victim "$dir/msh-sleepy" 600
spawn extra sleep 600

daemon_start "$conf"
# ASan makes everything slower, BPF loading included.
daemon_wait_ready 60 || exit 1
note "memshed (ASan) pid $DAEMON_PID, socket $MEMSHED_SOCKET"

cli status 0 status
cli status_json 0 status --json

# Reloads: SIGHUP, then `memshed reload` with a changed config (a second
# component with a regex rule and a ladder), then a refused one, then back.
n=$(config_events)
kill -HUP "$DAEMON_PID"
if wait_config $((n + 1)); then pass reload_sighup; else fail reload_sighup "no config event after SIGHUP"; fi
write_conf "
[component other]
match = cmdline:^msh-other( |\$)
match = exe:/nonexistent/msh-other
priority = 60
action = term
action.critical = signal:SIGUSR1
action.high = exec:/bin/true memshed-test
grace = 2s"
cli reload_changed 0 reload
cli status_after_reload 0 status
printf '[memshed]\ncheck_interval = never\n' >"$conf"
chmod 600 "$conf"
cli reload_refused nonzero reload
if pid_alive "$DAEMON_PID"; then pass alive_after_bad_reload; else fail alive_after_bad_reload "memshed died"; fi
write_conf ""
n=$(config_events)
kill -HUP "$DAEMON_PID"
if wait_config $((n + 1)); then pass reload_restored; else fail reload_restored "no config event after SIGHUP"; fi

# Labels: a plain sleep labelled by pid, unlabelled; unlabelling it again and
# labelling it into an unknown component are refused.
cli label 0 label "$extra" sleepy
cli explain 0 explain
cli unlabel 0 unlabel "$extra"
cli unlabel_unknown nonzero unlabel "$extra"
cli label_no_component nonzero label "$extra" no-such-component

# Holds: hold with a TTL, release, touch; an unload of a held component is refused.
cli hold 0 hold sleepy --ttl 5s
cli unload_held_refused nonzero unload sleepy
cli release 0 release sleepy
cli touch 0 touch sleepy

# The unload: the msh-sleepy process gets SIGTERM and goes.
cli unload 0 unload sleepy
victim_gone() { ! pid_alive "$victim"; }
if wait_for 15 victim_gone; then
	pass unload_victim_gone
else
	fail unload_victim_gone "msh-sleepy (pid $victim) still running 15 s after the unload"
fi
if pid_alive "$extra"; then pass unload_spared_unlabelled; else fail unload_spared_unlabelled "the unlabelled sleep died"; fi
# A second reload after the unload: the registry lets go of what it tracked.
n=$(config_events)
kill -HUP "$DAEMON_PID"
if wait_config $((n + 1)); then pass reload_after_unload; else fail reload_after_unload "no config event"; fi
cli status_final 0 status
cli explain_json 0 explain --json
cli check_config 0 check-config "$conf"
# History from the on-disk ring, read by the (ASan) CLI.
cli events_history 0 events --json --file "$dir/events.ring"
if grep -q '"type":"result"' <(sed -n '/^== memshed events/,$p' "$cli_err"); then
	pass events_history_has_result
else
	fail events_history_has_result "no result record in $dir/events.ring"
fi

# SIGTERM: a clean exit, and LeakSanitizer's verdict in the daemon's stderr.
daemon_stop "$DAEMON_PID"
if ((DAEMON_STATUS == 0)); then
	pass daemon_exit_status
else
	fail daemon_exit_status "memshed exited with status $DAEMON_STATUS after SIGTERM"
fi
if grep -qE "$SAN_RE" "$DAEMON_ERR"; then
	grep -E -A30 "$SAN_RE" "$DAEMON_ERR" | head -n 60 | sed 's/^/#   /'
	fail daemon_no_sanitizer_report "$(grep -m1 -E "$SAN_RE|^SUMMARY" "$DAEMON_ERR")"
else
	pass daemon_no_sanitizer_report
fi
if grep -qE "$SAN_RE" "$cli_err"; then
	fail cli_no_sanitizer_report "$(grep -m1 -E "$SAN_RE" "$cli_err")"
else
	pass cli_no_sanitizer_report
fi

# The positive control: the same daemon, a known leak, which must be found.
cc=$(command -v "${CC:-cc}" || command -v gcc || command -v clang)
if [[ -z $cc ]]; then
	note "no C compiler: the LeakSanitizer positive control is not run"
else
	printf '%s\n' '#include <stdlib.h>' 'void *volatile memshed_lsan_probe;' \
		'__attribute__((constructor)) static void probe(void)' \
		'{ memshed_lsan_probe = malloc(4242); memshed_lsan_probe = 0; }' >"$dir/probe.c"
	if "$cc" -shared -fPIC -O0 "$dir/probe.c" -o "$dir/probe.so" 2>"$dir/probe.err"; then
		# The probe comes before libasan in the link order: ASan must not mind.
		LD_PRELOAD=$dir/probe.so ASAN_OPTIONS=$ASAN_OPTIONS:verify_asan_link_order=0 \
			daemon_start "$conf"
		daemon_wait_ready 60 && daemon_stop "$DAEMON_PID"
		if grep -q 'Direct leak of 4242 byte' "$DAEMON_ERR" &&
			grep -q 'SUMMARY: AddressSanitizer: 4242 byte(s) leaked in 1 allocation(s)' "$DAEMON_ERR"; then
			pass lsan_positive_control
		else
			fail lsan_positive_control "a leak of 4242 bytes planted with LD_PRELOAD was not reported as the only leak (status $DAEMON_STATUS): $(grep -m2 -E "$SAN_RE" "$DAEMON_ERR")"
		fi
	else
		note "cannot build the LeakSanitizer probe: $(head -n 2 "$dir/probe.err")"
	fi
fi
