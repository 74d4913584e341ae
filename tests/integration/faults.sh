#!/bin/bash
# Faults, each asserting that nothing was lost and no stranger was hit:
# PID reuse between choice and signal, a victim gone before its signal, a
# frozen component's cgroup removed, the daemon SIGKILLed with components
# frozen, a bad reload under pressure, BPF unavailable, an event storm
# overflowing the ring buffer, a hook that hangs, a flood of clients.
. "$(dirname "$0")/../lib/common.sh"
require_root
require_built
tmpdir_create dir

# write_conf FILE COMPONENTS [MEMSHED_LINES...]
write_conf() {
	local f=$1 comps=$2
	shift 2
	{
		printf '[memshed]\ntotal_limit = 200M\nmin_idle_time = 1s\ncheck_interval = 1s\n'
		printf 'cooldown = 300ms\nsettle_time = 1s\nevent_log = %s/events.ring\n' "$dir"
		printf 'psi_medium_some = 0\npsi_high_some = 0\npsi_critical_some = 0\n'
		printf 'psi_high_full = 0\npsi_critical_full = 0\n'
		printf '%s\n' "$@"
		printf '\n%s\n' "$comps"
	} >"$f"
	chmod 600 "$f"
}
ready() { wait_for 10 test -e "$1" || fail setup "$1 never appeared"; }
victim_conf() { printf '[component %s]\nmatch = comm:%s\npriority = 10\naction = %s\n' "$1" "$1" "${2:-term}"; }

# --- PID reuse: the victim's PID is recycled before the signal goes out ---
write_conf "$dir/reuse.conf" "$(victim_conf reused)"
spawn victim "$HELPERS/sigwatch" --anon 170 --comm reused --ready-file "$dir/reuse.ready"
ready "$dir/reuse.ready"
MEMSHED_FAILPOINT=pre-signal:3s daemon_start "$dir/reuse.conf"
daemon_wait_ready || exit 1
if log_wait 10 '"type":"unload".*"component":"reused"'; then
	# The daemon chose it and is stalled before signalling: replace it.
	kill -KILL "$victim"; wait "$victim" 2>/dev/null
	stranger=""
	for ((try = 0; try < 50; try++)); do
		echo $((victim - 1)) >/proc/sys/kernel/ns_last_pid
		spawn cand "$HELPERS/sigwatch" --comm stranger --stamp-file "$dir/stranger.stamp"
		if [[ $cand == "$victim" ]]; then stranger=$cand; break; fi
		kill_tree "$cand"
	done
	if [[ -n $stranger ]]; then
		note "pid $victim now belongs to an unlabelled stranger"
		log_wait 10 '"type":"result".*"component":"reused"'
		res=$(log_grep '"type":"result".*"component":"reused"' | head -1)
		sleep 0.5
		check recycled_pid_not_signalled pid_alive "$stranger"
		check stranger_got_no_signal test ! -s "$dir/stranger.stamp"
		note "result: $res"
		check refusal_reported grep -q '"refused":1' <<<"$res"
	else
		skip recycled_pid_not_signalled "could not recycle pid $victim (busy host)"
	fi
else
	fail recycled_pid_not_signalled "no unload decision"
fi
daemon_stop

# --- a victim that exits between selection and signal --------------------
write_conf "$dir/gone.conf" "$(victim_conf gone)"
spawn victim "$HELPERS/memhog" --anon 170 --comm gone --ready-file "$dir/gone.ready"
ready "$dir/gone.ready"
MEMSHED_FAILPOINT=pre-signal:1s daemon_start "$dir/gone.conf"
daemon_wait_ready || exit 1
if log_wait 10 '"type":"unload".*"component":"gone"'; then
	kill -KILL "$victim"
	if log_wait 10 '"type":"result".*"component":"gone"'; then
		pass victim_gone_before_signal_is_handled
		check daemon_survives_gone_victim "$MEMSHED" status
	else
		fail victim_gone_before_signal_is_handled "no result"
	fi
else
	fail victim_gone_before_signal_is_handled "no unload decision"
fi
daemon_stop

# --- freeze, then the daemon is SIGKILLed: a restart thaws ---------------
mnt=$(awk '$9 == "cgroup2" {print $5; exit}' /proc/self/mountinfo)
write_conf "$dir/fz.conf" "$(victim_conf icy freeze)"
spawn icy "$HELPERS/memhog" --anon 170 --comm icy --ready-file "$dir/icy.ready"
ready "$dir/icy.ready"
daemon_start "$dir/fz.conf"
daemon_wait_ready || exit 1
if log_wait 10 '"type":"result".*"component":"icy".*"result":"frozen"'; then
	kill -KILL "$DAEMON_PID"
	daemon_stop
	check still_frozen_after_daemon_killed grep -q '^frozen 1' "$mnt/memshed/icy/cgroup.events"
	# Restart with nothing to do: the leftovers are thawed at start.
	write_conf "$dir/fz2.conf" "" 
	daemon_start "$dir/fz2.conf"
	daemon_wait_ready || exit 1
	check restart_thaws bash -c "! grep -q '^frozen 1' '$mnt/memshed/icy/cgroup.events' 2>/dev/null"
	check thawed_victim_alive pid_alive "$icy"
	daemon_stop
else
	fail still_frozen_after_daemon_killed "icy was not frozen"
fi
kill_tree "$icy"

# --- freeze, then the memshed cgroup is removed behind our back ----------
spawn icy2 "$HELPERS/memhog" --anon 170 --comm icy --ready-file "$dir/icy2.ready"
ready "$dir/icy2.ready"
daemon_start "$dir/fz.conf"
daemon_wait_ready || exit 1
if log_wait 10 '"type":"result".*"component":"icy".*"result":"frozen"'; then
	# An admin thaws it, moves it out and removes the group.
	echo 0 >"$mnt/memshed/icy/cgroup.freeze"
	echo "$icy2" >"$mnt/cgroup.procs"
	rmdir "$mnt/memshed/icy"
	kill_tree "$icy2"	# relief
	check cgroup_removed_daemon_survives wait_for 5 "$MEMSHED" status
	check cgroup_removed_no_crash pid_alive "$DAEMON_PID"
else
	fail cgroup_removed_daemon_survives "icy was not frozen"
fi
daemon_stop

# --- a bad reload during pressure keeps the running config ----------------
write_conf "$dir/reload.conf" "$(victim_conf rl1)
$(victim_conf rl2)"
sed -i 's/^min_idle_time = 1s/min_idle_time = 2s/' "$dir/reload.conf"
spawn rl1 "$HELPERS/memhog" --anon 90 --comm rl1 --ready-file "$dir/rl1.ready"
spawn rl2 "$HELPERS/memhog" --anon 90 --comm rl2 --ready-file "$dir/rl2.ready"
ready "$dir/rl1.ready"; ready "$dir/rl2.ready"
daemon_start "$dir/reload.conf"
daemon_wait_ready || exit 1
echo "this is = not [valid" >>"$dir/reload.conf"
out=$("$MEMSHED" reload 2>&1); rc=$?
check bad_reload_refused test "$rc" = 1
check bad_reload_says_why grep -q 'reload.conf' <<<"$out"
if log_wait 15 '"type":"result".*"component":"rl[12]"'; then
	pass unloads_continue_after_bad_reload
else
	fail unloads_continue_after_bad_reload "no unload after the refused reload"
fi
check refused_config_event grep -q '"type":"config".*"result":"refused"' "$DAEMON_LOG"
daemon_stop

# --- BPF unavailable: a clear error and the documented exit code ----------
write_conf "$dir/plain.conf" ""
"$MEMSHED" run --config "$dir/plain.conf" --btf "$dir/no-such-btf" >"$dir/btf.out" 2>"$dir/btf.err"
rc=$?
check bpf_failure_exit_code test "$rc" = 5
check bpf_failure_message grep -q 'BTF' "$dir/btf.err"

# --- an event storm overflows the ring buffer: drops counted, decisions made
write_conf "$dir/storm.conf" "[component storm]
match = comm:storm
priority = 90
action = term

$(victim_conf calm)" "ringbuf_size = 4K"
spawn calm "$HELPERS/memhog" --anon 170 --comm calm --ready-file "$dir/calm.ready"
ready "$dir/calm.ready"
# A labelled process forking and reaping as fast as it can.
cat >"$dir/storm.c" <<'C'
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) { prctl(PR_SET_NAME, "storm"); for (;;) { pid_t p = fork(); if (!p) _exit(0); waitpid(p, 0, 0); } }
C
cc -O2 -o "$dir/storm" "$dir/storm.c"
spawn storm "$dir/storm"
# The daemon stalls 2s before signalling (a slow moment): the storm fills
# the 4K ring meanwhile, for certain.
MEMSHED_FAILPOINT=pre-signal:2s daemon_start "$dir/storm.conf"
daemon_wait_ready || exit 1
if log_wait 15 '"type":"result".*"component":"calm"'; then
	pass decisions_made_during_storm
else
	fail decisions_made_during_storm "no unload of calm during the storm"
fi
drops=$("$MEMSHED" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["ringbuf_drops"])')
note "ring-buffer drops during the storm: $drops"
check storm_drops_counted test "${drops:-0}" -gt 0
check drops_event_logged log_wait 5 '"type":"drops"'
kill_tree "$storm"
daemon_stop

# --- user nobody renames a process in a loop while a real crossing happens ----
# A cmdline: rule makes every rename worth a look. The crossing (a grower
# pushing usage over medium) must be acted on as fast as without the flood,
# not at the next check (60 s here), and the daemon's CPU stays bounded.
write_conf "$dir/flood.conf" "[component fv]
match = comm:fv
priority = 10
action = term

[component fg]
match = comm:fg
priority = 90
action = term

[component byline]
match = cmdline:^/usr/sbin/no-such-service
priority = 50"
sed -i 's/^check_interval = .*/check_interval = 60s/' "$dir/flood.conf"
mono_ns() { python3 -c 'import time; print(time.clock_gettime_ns(time.CLOCK_MONOTONIC))'; }
cat >"$dir/renamer.py" <<'PY'
import ctypes, sys
libc = ctypes.CDLL(None)
names = [b"r%d" % i for i in range(1000)]
while True:
    for n in names:
        libc.prctl(15, n)
PY
chmod 644 "$dir/renamer.py"; chmod 755 "$dir"
flood_reaction() { # FLOOD(0|1): REACTION_MS = the grower's start -> the victim's SIGTERM
	local t0 t1 stamp=$dir/fv.$1.stamp rpid=""
	REACTION_MS=""
	spawn fv "$HELPERS/sigwatch" --anon 40 --comm fv --stamp-file "$stamp" --ready-file "$dir/fv.$1.ready"
	ready "$dir/fv.$1.ready"
	daemon_start "$dir/flood.conf"
	daemon_wait_ready || return 1
	sleep 1.5	# fv idle past min_idle_time
	if (($1)); then
		spawn rpid setpriv --reuid=nobody --regid=nogroup --clear-groups python3 "$dir/renamer.py"
		sleep 2	# the flood is on before the crossing
		FLOOD_T0=$(awk '{print $14 + $15}' /proc/"$DAEMON_PID"/stat)
	fi
	t0=$(mono_ns)
	spawn fg "$HELPERS/memhog" --anon 150 --comm fg --ready-file "$dir/fg.$1.ready"
	wait_for 30 test -s "$stamp"
	t1=$(awk '$1 == "term" {print $2; exit}' "$stamp")
	if (($1)); then
		sleep 3
		FLOOD_TICKS=$(( $(awk '{print $14 + $15}' /proc/"$DAEMON_PID"/stat) - FLOOD_T0 ))
		kill_tree "$rpid"
	fi
	kill_tree "$fg"; kill_tree "$fv"
	daemon_stop
	[[ -n $t1 ]] && REACTION_MS=$(( (t1 - t0) / 1000000 ))
	return 0
}
flood_reaction 0; quiet_ms=$REACTION_MS
flood_reaction 1; flood_ms=$REACTION_MS
note "grower start -> SIGTERM: ${quiet_ms:-none} ms quiet, ${flood_ms:-none} ms during the rename flood; daemon CPU ${FLOOD_TICKS:-?} ticks over the last ~3 s of the flood"
check rename_flood_crossing_acted_on test -n "$flood_ms"
check rename_flood_reaction_as_quiet test "${flood_ms:-999999}" -le $(( ${quiet_ms:-0} + 3000 ))
check rename_flood_daemon_cpu_bounded test "${FLOOD_TICKS:-9999}" -lt 150

# --- an exec hook that hangs is killed at its timeout ----------------------
write_conf "$dir/hang.conf" "[component hang]
match = comm:hang
priority = 10
action = exec:/bin/sleep 300
exec_timeout = 1s"
spawn hang "$HELPERS/memhog" --anon 170 --comm hang --ready-file "$dir/hang.ready"
ready "$dir/hang.ready"
daemon_start "$dir/hang.conf"
daemon_wait_ready || exit 1
if log_wait 10 '"type":"result".*"component":"hang".*timed out'; then
	pass hanging_hook_killed_at_timeout
	check no_hook_left bash -c "! pgrep -f '^/bin/sleep 300$'"
else
	fail hanging_hook_killed_at_timeout "$(log_grep '"type":"result"' | head -1)"
fi
daemon_stop

# --- a flood of clients: the daemon keeps reacting ------------------------
write_conf "$dir/flood.conf" "$(victim_conf flooded)" "min_idle_time = 3s"
sed -i '0,/^min_idle_time = 1s$/{/^min_idle_time = 1s$/d}' "$dir/flood.conf"
spawn flooded "$HELPERS/memhog" --anon 170 --comm flooded --ready-file "$dir/flooded.ready"
ready "$dir/flooded.ready"
daemon_start "$dir/flood.conf"
daemon_wait_ready || exit 1
cat >"$dir/flood.py" <<'PY'
import os, socket, sys, time
path, seconds = sys.argv[1], float(sys.argv[2])
end, held, sent = time.time() + seconds, [], 0
while time.time() < end:
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        if sent % 3 == 0:
            held.append(s)                      # connect and say nothing
        elif sent % 3 == 1:
            s.sendall(b"x" * 5000)              # over the size limit
        else:
            s.sendall(b'{"cmd":"status"}\n')    # legitimate, never read
        sent += 1
        if len(held) > 200:
            held.pop(0).close()
    except OSError:
        time.sleep(0.001)
print(sent)
PY
python3 "$dir/flood.py" "$MEMSHED_SOCKET" 8 >"$dir/flood.out" &
flood=$!
on_exit bash -c "kill $flood 2>/dev/null; true"
if log_wait 15 '"type":"result".*"component":"flooded"'; then
	pass reacts_during_client_flood
else
	fail reacts_during_client_flood "no unload while flooded"
fi
wait "$flood"
note "flood: $(cat "$dir/flood.out") connections"
check answers_after_flood "$MEMSHED" status
daemon_stop
