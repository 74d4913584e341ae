#!/bin/bash
# `memshed top`: without a daemon --once exits 3; with one, --once prints the
# level and the components table, and the live view (under tmux) shows the
# level and the component, cycles the sort on s, reports a daemon that went
# away, quits on q and ends on SIGTERM. ncurses is loaded by top alone: the
# binary does not link it and the daemon does not map it.
. "$(dirname "$0")/../lib/common.sh"
require_root
[[ -x $MEMSHED ]] || skip_all "$MEMSHED is not built (run make)"
command -v tmux >/dev/null || skip_all "needs tmux (tools/install-deps)"

tmpdir_create dir
# A socket of our own: a daemon may already own the default one.
export MEMSHED_SOCKET=$dir/memshed.sock
MEMSHED_SOCK=$MEMSHED_SOCKET
ring=$dir/events.ring

# sleep under a name of its own, so that no one else's sleep gets labelled.
cp /bin/sleep "$dir/topsleeper"
spawn sleeper "$dir/topsleeper" 600

conf=$dir/memshed.conf
cat >"$conf" <<CONF
[memshed]
check_interval = 1s
auto_unload = no            ; look, never touch
event_log = $ring

[component sleepy]
match = comm:topsleeper
priority = 10
action = term
CONF
chmod 644 "$conf"

# ---- no daemon

no_daemon() {
	local err rc
	err=$("$MEMSHED" top --once 2>&1 >/dev/null)
	rc=$?
	[[ $rc -eq 3 && $err == *"no daemon"* ]] || { echo "exit $rc: $err"; return 1; }
}
check top_once_no_daemon no_daemon

# ---- ncurses stays out of the daemon

check binary_does_not_link_ncurses bash -c "! ldd '$MEMSHED' | grep -q curses"

daemon_start "$conf" || exit 1
daemon_wait_ready || exit 1
check daemon_does_not_map_ncurses bash -c "! grep -q curses /proc/$DAEMON_PID/maps"

# ---- --once

once() { "$MEMSHED" top --once --file "$ring"; }
sleepy_active() { once | awk '$1 == "sleepy" && $3 >= 1 { ok = 1 } END { exit !ok }'; }
wait_for 10 sleepy_active || fail top_once_sleepy "no sleepy row with a process: $(once 2>&1)"

once_table() {
	local out
	out=$(once) || return 1
	if ! grep -qE '^memshed .+ level (LOW|MEDIUM|HIGH|CRITICAL)' <<<"$out" ||
		! grep -qE '^NAME +STATE +PIDS +RSS +ANON +FILE +SHMEM +IDLE +PRIO +FLAGS +ORDER' <<<"$out" ||
		! grep -qE '^sleepy +[a-z]+ +[1-9]' <<<"$out" || ! grep -q 'msg=ready' <<<"$out"; then
		echo "$out"
		return 1
	fi
}
check top_once_table once_table
# History records (what replay reads) are in the ring, not on the screen.
check top_ring_has_history bash -c "'$MEMSHED' events --file '$ring' --type state | grep -q sleepy"
check top_once_no_history_lines bash -c "! '$MEMSHED' top --once --file '$ring' | grep -E ' (state|sample) +[a-z]+='"

# ---- the live view, in a tmux server of our own

tmx=(tmux -S "$dir/tmux.sock" -f /dev/null)
on_exit "${tmx[@]}" kill-server
# The shell line echoes top's exit status, then stays so the pane can be read.
printf -v top_cmd '%q ' env MEMSHED_SOCKET="$MEMSHED_SOCKET" "$MEMSHED" top --interval 200ms \
	--file "$ring"
"${tmx[@]}" new-session -d -s top -x 160 -y 40 "${top_cmd}; echo TOP-EXIT=\$?; sleep 600" ||
	fail tmux_start "tmux new-session failed"

screen() { "${tmx[@]}" capture-pane -p -t top; }
screen_has() { screen | grep -qE -- "$1"; }
expect_screen() { # NAME ERE
	if wait_for 5 screen_has "$2"; then
		pass "$1"
	else
		fail "$1" "no /$2/ on the screen: $(screen | grep .)"
	fi
}

expect_screen top_screen_level '^memshed .+ level (LOW|MEDIUM|HIGH|CRITICAL)'
expect_screen top_screen_header '^NAME +STATE +PIDS .* ORDER'
expect_screen top_screen_component '^sleepy +[a-z]+ +[1-9]'
expect_screen top_screen_events 'msg=ready'
"${tmx[@]}" send-keys -t top s
expect_screen top_key_sort 'sort: rss'

daemon_stop
expect_screen top_screen_no_daemon '^memshed .+ no daemon'

"${tmx[@]}" send-keys -t top q
expect_screen top_key_q_quits '^TOP-EXIT=0'

# ---- SIGTERM ends it (and the shell line runs again on a normal screen)

"${tmx[@]}" new-session -d -s term -x 100 -y 30 "${top_cmd}; echo TOP-EXIT=\$?; sleep 600"
term_top_pid() { pgrep -P "$("${tmx[@]}" list-panes -t term -F '#{pane_pid}')" -x memshed; }
term_exited() { "${tmx[@]}" capture-pane -p -t term | grep -q '^TOP-EXIT=0'; }
if wait_for 5 term_top_pid; then
	kill -TERM "$(term_top_pid)"
	if wait_for 5 term_exited; then
		pass top_sigterm
	else
		fail top_sigterm "still running or bad exit: $("${tmx[@]}" capture-pane -p -t term | grep .)"
	fi
else
	fail top_sigterm "top did not start under tmux"
fi
