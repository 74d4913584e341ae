#!/bin/bash
# Unload actions against real processes: term escalating to SIGKILL,
# freeze and thaw on relief, signal ladders, exec hooks, dry run,
# auto_unload = no, and the PSI path (no budget crossing at all).
. "$(dirname "$0")/../lib/common.sh"
require_root
require_built
tmpdir_create dir

# write_conf FILE EXTRA_MEMSHED_LINES COMPONENT_SECTIONS
write_conf() {
	cat >"$1" <<CONF
[memshed]
total_limit = 200M
min_idle_time = 1s
check_interval = 1s
cooldown = 300ms
round_timeout = 10s
settle_time = 1s
psi_medium_some = 0
psi_high_some = 0
psi_critical_some = 0
psi_high_full = 0
psi_critical_full = 0
event_log = $dir/events.ring
$2

$3
CONF
	chmod 600 "$1"
}

ready() { wait_for 10 test -e "$1" || fail setup "$1 never appeared"; }

# --- term: SIGTERM ignored, SIGKILL after grace -------------------------
write_conf "$dir/term.conf" "" "[component stubborn]
match = comm:stubborn
priority = 10
action = term
grace = 1s"
spawn stub "$HELPERS/sigwatch" --ignore-term --anon 170 --comm stubborn \
	--stamp-file "$dir/stub.stamp" --ready-file "$dir/stub.ready"
ready "$dir/stub.ready"
daemon_start "$dir/term.conf"
daemon_wait_ready || exit 1
if log_wait 15 '"type":"result".*"component":"stubborn"'; then
	res=$(log_grep '"type":"result".*"component":"stubborn"' | head -1)
	check term_escalates_to_kill grep -q '"result":"killed"' <<<"$res"
	check sigterm_was_sent_first grep -q '^term ' "$dir/stub.stamp"
	check victim_is_dead bash -c "! kill -0 $stub 2>/dev/null || [[ \$(awk '{print \$3}' /proc/$stub/stat) == Z ]]"
	ms=$(sed -n 's/.*"duration_ms":\([0-9.]*\).*/\1/p' <<<"$res")
	check kill_came_after_grace awk -v d="$ms" 'BEGIN { exit !(d >= 1000) }'
else
	fail term_escalates_to_kill "no result for stubborn"
fi
daemon_stop

# --- freeze: frozen under pressure, thawed when relieved ------------------
write_conf "$dir/freeze.conf" "" "[component fz]
match = comm:fz
priority = 10
action = freeze

[component pusher]
match = comm:pusher
priority = 90
action = term"
spawn fz "$HELPERS/memhog" --anon 30 --busy --comm fz --ready-file "$dir/fz.ready"
ready "$dir/fz.ready"
daemon_start "$dir/freeze.conf"
daemon_wait_ready || exit 1
# fz is busy, so never idle: make it idle by stopping it (SIGSTOP is not a
# freeze; the kernel just stops running it, and memshed sees no CPU time).
kill -STOP "$fz"
sleep 1.5
spawn pusher "$HELPERS/memhog" --anon 130 --busy --comm pusher --ready-file "$dir/pusher.ready"
if log_wait 15 '"type":"result".*"component":"fz".*"result":"frozen"'; then
	pass freeze_under_pressure
	cg=$(awk -F: '$2 == "" {print $3}' /proc/"$fz"/cgroup)
	note "fz is in cgroup2 $cg"
	mnt=$(awk '$9 == "cgroup2" {print $5; exit}' /proc/self/mountinfo)
	check frozen_cgroup_is_memsheds test "$cg" = /memshed/fz
	check cgroup_reports_frozen grep -q '^frozen 1' "$mnt$cg/cgroup.events"
	check status_says_frozen bash -c "'$MEMSHED' status | grep -qE '^fz +frozen'"
	kill -CONT "$fz"
	kill_tree "$pusher"
	if log_wait 15 '"type":"thaw".*"component":"fz"'; then
		pass thawed_when_relieved
		check thawed_cgroup_runs bash -c "! grep -q '^frozen 1' '$mnt$cg/cgroup.events' 2>/dev/null"
		check thawed_process_alive pid_alive "$fz"
	else
		fail thawed_when_relieved "no thaw event"
	fi
else
	fail freeze_under_pressure "no frozen result for fz"
	kill -CONT "$fz"
fi
daemon_stop

# --- ladder: signal at medium, term from high -----------------------------
write_conf "$dir/ladder.conf" "" "[component cache]
match = comm:cache
priority = 10
action.medium = signal:SIGUSR1
action.high = term
action.critical = term"
# 160 MiB of 200: 80% is medium; it does not trim on SIGUSR1.
spawn cache "$HELPERS/sigwatch" --anon 160 --comm cache --stamp-file "$dir/cache.stamp" \
	--ready-file "$dir/cache.ready"
ready "$dir/cache.ready"
daemon_start "$dir/ladder.conf"
daemon_wait_ready || exit 1
if log_wait 10 '"type":"result".*"component":"cache".*"result":"signalled"'; then
	pass ladder_signals_at_medium
	wait_for 3 grep -q '^usr1 ' "$dir/cache.stamp"
	check sigusr1_delivered grep -q '^usr1 ' "$dir/cache.stamp"
	sleep 3	# several check intervals at the same level
	check signalled_once_per_episode test "$(grep -c '^usr1 ' "$dir/cache.stamp")" = 1
	check still_running_after_signal pid_alive "$cache"
else
	fail ladder_signals_at_medium "no signalled result for cache"
fi
daemon_stop

# --- exec: argv, no shell, environment naming component and level ---------
write_conf "$dir/exec.conf" "" "[component hooked]
match = comm:hooked
priority = 10
action = exec:/usr/bin/env
exec_timeout = 5s"
spawn hooked "$HELPERS/memhog" --anon 160 --comm hooked --ready-file "$dir/hooked.ready"
ready "$dir/hooked.ready"
daemon_start "$dir/exec.conf"
daemon_wait_ready || exit 1
if log_wait 10 '"type":"result".*"component":"hooked".*"result":"hook-ok"'; then
	pass exec_hook_runs
	# env's stdout is the daemon's stdout: the log.
	check exec_env_component grep -q '^MEMSHED_COMPONENT=hooked$' "$DAEMON_LOG"
	check exec_env_level grep -q '^MEMSHED_LEVEL=medium$' "$DAEMON_LOG"
	check exec_env_rss grep -qE '^MEMSHED_RSS_BYTES=[0-9]{8,}$' "$DAEMON_LOG"
	check exec_env_pids grep -q "^MEMSHED_PIDS=$hooked\$" "$DAEMON_LOG"
	check hooked_process_untouched pid_alive "$hooked"
else
	fail exec_hook_runs "no hook-ok result"
fi
daemon_stop

# --- dry run and auto_unload = no: decisions logged, nothing changes ------
for mode in dry-run auto_unload-off; do
	if [[ $mode == dry-run ]]; then extra=""; args=(--dry-run); else extra="auto_unload = no"; args=(); fi
	write_conf "$dir/$mode.conf" "$extra" "[component victim]
match = comm:victim
priority = 10
action = kill"
	spawn victim "$HELPERS/memhog" --anon 170 --comm victim --ready-file "$dir/$mode.ready"
	ready "$dir/$mode.ready"
	daemon_start "$dir/$mode.conf" "${args[@]}"
	daemon_wait_ready || exit 1
	if log_wait 10 "\"type\":\"unload\".*\"component\":\"victim\".*\"mode\":\"$mode\""; then
		pass "${mode}_logs_decision"
	else
		fail "${mode}_logs_decision" "no unload record with mode $mode"
	fi
	sleep 2
	check "${mode}_changes_nothing" pid_alive "$victim"
	check "${mode}_no_result" bash -c "! grep -q '\"type\":\"result\"' '$DAEMON_LOG'"
	daemon_stop
	kill_tree "$victim"
done

# --- dry_run as a whole: from the start, and changed by reload --------------
# The component is small against the budget: only `memshed unload` acts.
rl_conf() { write_conf "$dir/rl.conf" "$1" "[component rl]
match = comm:rl-victim
priority = 10
action = term"
	sed -i 's/^total_limit = .*/total_limit = 100G/' "$dir/rl.conf"; }
spawn rlv "$HELPERS/memhog" --anon 8 --comm rl-victim --ready-file "$dir/rl.ready"
ready "$dir/rl.ready"
rl_conf "dry_run = yes"
daemon_start "$dir/rl.conf"
daemon_wait_ready || exit 1
out=$("$MEMSHED" unload rl 2>&1); rc=$?
check dry_run_unload_exits_nonzero test "$rc" -ne 0
check dry_run_unload_says_so grep -q "dry run" <<<"$out"
check dry_run_unload_logged_as_dry_run log_wait 5 '"type":"unload".*"component":"rl".*"mode":"dry-run"'
check dry_run_unload_changes_nothing pid_alive "$rlv"
rl_conf "dry_run = no"
check reload_to_act "$MEMSHED" reload
check reload_to_act_unloads "$MEMSHED" unload rl
check reload_to_act_mode log_wait 5 '"type":"unload".*"component":"rl".*"mode":"act"'
check reload_to_act_result log_wait 10 '"type":"result".*"component":"rl".*"result":"(exited|killed)"'
check reload_to_act_really_gone wait_for 10 bash -c "! kill -0 $rlv 2>/dev/null"
spawn rlv "$HELPERS/memhog" --anon 8 --comm rl-victim --ready-file "$dir/rl2.ready"
ready "$dir/rl2.ready"
wait_for 5 bash -c "\"\$1\" status --json | jq -e '.components[] | select(.name == \"rl\") | .nr_pids >= 1'" _ "$MEMSHED" >/dev/null
rl_conf "dry_run = yes"
check reload_to_dry_run "$MEMSHED" reload
check reload_to_dry_run_refuses bash -c "! \"\$1\" unload rl" _ "$MEMSHED"
sleep 1
check reload_to_dry_run_changes_nothing pid_alive "$rlv"
# A setting the kernel programs were loaded with: refused, named, nothing changes.
rl_conf "ringbuf_size = 1M"
out=$("$MEMSHED" reload 2>&1); rc=$?
check reload_start_only_refused test "$rc" -ne 0
check reload_start_only_named grep -q ringbuf_size <<<"$out"
check reload_refused_keeps_dry_run bash -c "\"\$1\" status --json | jq -e '.dry_run == true'" _ "$MEMSHED"
daemon_stop
kill_tree "$rlv"

# --- a reload inside a freeze round: the state follows the component's name ---
rf_conf() { # FIRST SECOND: the two components, in this order
	local a="[component rfa]
match = comm:rf-a
priority = 10
action = term" b="[component rfb]
match = comm:rf-b
priority = 20
action = freeze"
	# Over the budget but auto_unload off: no relief thaws the frozen one,
	# only the operator's unload acts.
	if [[ $1 == rfa ]]; then write_conf "$dir/rf.conf" "auto_unload = no" "$a

$b"; else write_conf "$dir/rf.conf" "auto_unload = no" "$b

$a"; fi
	sed -i 's/^total_limit = .*/total_limit = 12M/' "$dir/rf.conf"
}
spawn rfa "$HELPERS/memhog" --anon 4 --comm rf-a --ready-file "$dir/rfa.ready"
spawn rfb "$HELPERS/memhog" --anon 4 --comm rf-b --ready-file "$dir/rfb.ready"
ready "$dir/rfa.ready"; ready "$dir/rfb.ready"
rf_conf rfa
daemon_start "$dir/rf.conf"
daemon_wait_ready || exit 1
check reload_in_round_unload "$MEMSHED" unload rfb
rf_conf rfb	# rfb takes rfa's place, while the round still waits to measure
check reload_in_round_reload "$MEMSHED" reload
log_wait 10 '"type":"result".*"component":"rfb"' >/dev/null || note "no result for rfb"
sleep 0.5
st=$("$MEMSHED" status)
check reload_in_round_frozen_is_rfb grep -qE '^rfb +frozen' <<<"$st"
check reload_in_round_rfa_not_frozen bash -c "! grep -qE '^rfa +frozen' <<<\"\$1\"" _ "$st"
daemon_stop
mnt=$(awk '$9 == "cgroup2" {print $5; exit}' /proc/self/mountinfo)
check reload_in_round_thawed_at_stop bash -c "! grep -q '^frozen 1' '$mnt/memshed/rfb/cgroup.events' 2>/dev/null"
kill_tree "$rfa"; kill_tree "$rfb"

# --- a standing level: decided again when a recent component's min idle ends --
# The cgroup usage model (sampled, no kernel budget events): over medium
# from the start, the victim only "recent" (labelled at start, min_idle_time
# 1s). Nothing changes after that and the check interval is a minute: the
# round must come when its min idle ends, not at the tick.
if mcg=$(memcg_create standing 1G); then
	write_conf "$dir/mi.conf" "usage_source = cgroup:$mcg" "[component mi]
match = comm:mi-victim
priority = 10
action = term"
	sed -i 's/^check_interval = .*/check_interval = 60s/' "$dir/mi.conf"
	spawn miv bash -c 'echo $$ >"$1/cgroup.procs" && exec "$2" --anon 170 --comm mi-victim --ready-file "$3"' _ \
		"$mcg" "$HELPERS/memhog" "$dir/mi.ready"
	ready "$dir/mi.ready"
	daemon_start "$dir/mi.conf"
	daemon_wait_ready || exit 1
	check standing_level_acted_at_min_idle log_wait 10 '"type":"result".*"component":"mi"'
	daemon_stop
	kill_tree "$miv"
else
	fail standing_level_setup "no memory cgroup"
fi

# --- the same decision, again and again: one candidates record ----------------
write_conf "$dir/co.conf" "" "[component co]
match = comm:co-held
priority = 10
action = term"
spawn coh "$HELPERS/memhog" --anon 170 --comm co-held --ready-file "$dir/co.ready"
ready "$dir/co.ready"
daemon_start "$dir/co.conf"
daemon_wait_ready || exit 1
"$MEMSHED" hold co >/dev/null
sleep 6	# over medium all along, every check decides the same: nothing (co is held)
n=$(grep -c '"type":"candidates"' "$DAEMON_LOG")
note "candidates records in 6 s of the same decision: $n"
check candidates_coalesced test "$n" -le 2
check candidates_still_decided_nothing pid_alive "$coh"
"$MEMSHED" release co >/dev/null
check candidates_new_decision_written log_wait 10 '"type":"candidates".*"victims":\["co"\].*"repeated":[0-9]'
daemon_stop
kill_tree "$coh"

# --- label against a daemon without BPF: an answer, not a crash ---------------
rl_conf ""
daemon_start "$dir/rl.conf" --no-bpf
daemon_wait_ready || exit 1
spawn nb "$HELPERS/memhog" --anon 4 --comm nb-proc --ready-file "$dir/nb.ready"
ready "$dir/nb.ready"
"$MEMSHED" label "$nb" rl >/dev/null 2>&1
check no_bpf_label_daemon_survives pid_alive "$DAEMON_PID"
check no_bpf_label_daemon_answers "$MEMSHED" status
daemon_stop
kill_tree "$nb"

# --- PSI: thrashing raises PSI and triggers an unload, no budget crossing ---
write_conf "$dir/psi.conf" "" "[component idle]
match = comm:psi-idle
priority = 10
action = term"
sed -i 's/^total_limit = .*/total_limit = 100G/; s/^psi_medium_some = 0$/psi_medium_some = 2%/' "$dir/psi.conf"
spawn idle "$HELPERS/memhog" --anon 10 --comm psi-idle --ready-file "$dir/idle.ready"
ready "$dir/idle.ready"
daemon_start "$dir/psi.conf"
daemon_wait_ready || exit 1
sleep 1.2	# idle past min_idle_time
pressure_start thrasher
if log_wait 30 '"type":"result".*"component":"idle"'; then
	pass psi_triggers_unload
	check psi_level_cause bash -c "grep '\"type\":\"level\"' '$DAEMON_LOG' | grep -q 'psi'"
	check no_budget_crossing bash -c "! grep -q '\"type\":\"budget\"' '$DAEMON_LOG'"
else
	fail psi_triggers_unload "no unload under PSI ($(psi_some_total) us some total)"
fi
kill_tree "$thrasher"
daemon_stop
