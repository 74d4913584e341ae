#!/bin/bash
# The automatic unloader end to end: real processes, real memory, the real
# daemon. A growing component drives usage (sum of component RSS) through
# medium: the idle low-priority component goes first, then the next in
# order; the held one, the critical one and an unlabelled decoy survive.
. "$(dirname "$0")/../lib/common.sh"
require_root
require_built

tmpdir_create dir
conf=$dir/memshed.conf
cat >"$conf" <<CONF
[memshed]
total_limit = 400M          ; medium at 300M, high at 340M
min_idle_time = 2s
check_interval = 60s        ; reactions must not wait for the timer
rss_mode = tracepoint       ; usage starts below the auto arm line
cooldown = 500ms
round_timeout = 5s
psi_medium_some = 0         ; this test is about budgets, not PSI
psi_high_some = 0
psi_critical_some = 0
psi_high_full = 0
psi_critical_full = 0
event_log = $dir/events.ring

[component idle-low]
match = comm:idle-low
priority = 10
action = term

[component idle-mid]
match = comm:idle-mid
priority = 30
action = term

[component held]
match = comm:held
priority = 5
action = term

[component crit]
match = comm:crit
priority = 1
critical = yes
action = term

[component grower]
match = comm:grower
priority = 90
action = term
CONF
chmod 600 "$conf"

spawn low "$HELPERS/sigwatch" --anon 60 --comm idle-low --stamp-file "$dir/low.stamp" --ready-file "$dir/low.ready"
spawn mid "$HELPERS/memhog" --anon 60 --comm idle-mid --ready-file "$dir/mid.ready"
spawn held "$HELPERS/memhog" --anon 40 --comm held --ready-file "$dir/held.ready"
spawn crit "$HELPERS/memhog" --anon 40 --comm crit --ready-file "$dir/crit.ready"
spawn decoy "$HELPERS/memhog" --anon 60 --comm decoy --ready-file "$dir/decoy.ready"
for f in low mid held crit decoy; do
	wait_for 10 test -e "$dir/$f.ready" || fail setup "$f never became ready"
done

daemon_start "$conf"
daemon_wait_ready || exit 1
check hold_held "$MEMSHED" hold held
sleep 2.5	# everyone is idle past min_idle_time

minflt() { awk '{ print $10 }' "/proc/$DAEMON_PID/stat"; }
faults_before=$(minflt)
# The grower is busy (never idle) and grows to 200 MiB at 40 MiB/s.
spawn grower "$HELPERS/memhog" --anon 200 --grow 40 --busy --comm grower

if log_wait 20 '"type":"result".*"component":"idle-low"'; then
	pass first_victim_is_idle_low_priority
else
	fail first_victim_is_idle_low_priority "no result for idle-low"
fi
if wait_for 5 bash -c "! kill -0 $low 2>/dev/null || grep -q term '$dir/low.stamp'"; then
	pass victim_got_sigterm
else
	fail victim_got_sigterm "idle-low still running without SIGTERM"
fi
# The first round touches little new memory: a page fault of the daemon
# costs ~40 us on a shadow-paged VM, and clearing every job slot of the
# round once took ~40 of them between the budget event and the signal.
faults=$(( $(minflt) - faults_before ))
note "daemon page faults from the grower's start to the SIGTERM: $faults"
check first_round_faults_little test "$faults" -lt 20

# Crossing (the kernel's budget event) to SIGTERM at the victim.
budget_ns=$(log_grep '"type":"budget"' | head -1 | sed -n 's/.*"ts_ns":\([0-9]*\).*/\1/p')
term_ns=$(sed -n 's/^term \([0-9]*\).*/\1/p' "$dir/low.stamp" | head -1)
if [[ -n $budget_ns && -n $term_ns ]]; then
	note "reaction: budget crossing -> SIGTERM at the victim: $(( (term_ns - budget_ns) / 1000 )) us"
	check reaction_is_immediate test $(( term_ns - budget_ns )) -lt 2000000000
else
	fail reaction_is_immediate "no budget event ($budget_ns) or no stamp ($term_ns)"
fi

result=$(log_grep '"type":"result".*"component":"idle-low"' | head -1)
freed=$(sed -n 's/.*"memory_freed_bytes":\([0-9]*\).*/\1/p' <<<"$result")
note "idle-low result: $result"
# sigwatch touched 60 MiB anon + its binary: freed must be about that.
if [[ -n $freed ]] && (( freed >= 60 * 1048576 && freed <= 70 * 1048576 )); then
	pass memory_freed_is_measured
else
	fail memory_freed_is_measured "memory_freed_bytes=$freed, want ~60 MiB"
fi
check seed_fields_in_result grep -q '"pressure_level":"medium"' <<<"$result"

if log_wait 20 '"type":"result".*"component":"idle-mid"'; then
	pass second_victim_is_next_in_order
else
	fail second_victim_is_next_in_order "no result for idle-mid"
fi
wait_for 10 bash -c "! kill -0 $mid 2>/dev/null"

sleep 1
check held_survives pid_alive "$held"
check critical_survives_below_critical pid_alive "$crit"
check decoy_survives pid_alive "$decoy"
check grower_survives pid_alive "$grower"
if log_grep '"type":"(unload|result)"' | grep -qE '"component":"(held|crit|grower)"'; then
	fail protected_never_acted_on "$(log_grep '"type":"unload"' | grep -E 'held|crit|grower')"
else
	pass protected_never_acted_on
fi
cand=$(log_grep '"type":"candidates"' | head -1)
check candidates_explain_skips grep -q '"held":"in-use".*"crit":"critical"' <<<"$cand"
check one_per_round_at_medium test "$(log_grep '"type":"unload"' | head -1 | grep -c idle-low)" = 1
