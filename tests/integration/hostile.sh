#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# memshed against an unprivileged user on the same host (issue 11, items 2,
# 3 and 7). The daemon runs as root and writes files in places a collector's
# user may own, and serves a control socket that every user may reach:
#   - files written as root: links planted by user nobody in the metrics
#     directory (every temp name the old scheme used, and the final name) are
#     never followed; an event_log that is a symlink (dangling or not) or a
#     file of nobody's is refused with the path in the error and a non-zero
#     exit, its target untouched; a control socket directory that is group
#     or other writable, or nobody's, is refused; the socket is 0666 from the
#     start; a stale socket of a SIGKILLed daemon is replaced by the next one.
#   - a control plane no user can take away: nobody's 64 `events --follow`
#     clients do not lock root out of status, hold and reload; the refusals
#     are logged (rate-limited) and counted in status and the metrics; a
#     follower that stops reading under a flood of events stalls nothing;
#     nobody's `status` comes from the last snapshot and costs the daemon
#     no bpf() call (root's refreshes).
#   - rules that strangers can match (item 7): the daemon logs a notice
#     for each component any user's process can join, at load and reload.
# shellcheck disable=SC2154 # spawn VAR assigns the pid variables
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
require_root
require_built
command -v jq >/dev/null || skip_all "needs jq"
command -v setpriv >/dev/null || skip_all "needs setpriv (util-linux)"
NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups)

tmpdir_create dir
chmod 755 "$dir" # user nobody works in directories below it
conf=$dir/memshed.conf

# write_conf EXTRA...: a config with one component and EXTRA [memshed] lines.
write_conf() {
	{
		echo "[memshed]"
		echo "check_interval = 1s"
		printf '%s\n' "$@"
		echo
		echo "[component hostile-cache]"
		echo "match = user:root"
		echo "match = comm:hostile-cache"
		echo "priority = 10"
	} >"$conf"
}

# run_refused NAME TIMEOUT_S ERE [SOCKET]: `memshed run` (on SOCKET) must exit
# non-zero by itself (not by the timeout) with an error matching ERE on stderr.
run_refused() {
	local name=$1 t=$2 ere=$3 sock=${4:-$MEMSHED_SOCKET} rc out
	out=$(MEMSHED_SOCKET=$sock timeout -k 2 "$t" "$MEMSHED" run --config "$conf" --no-bpf \
		2>&1 >/dev/null)
	rc=$?
	if ((rc == 0 || rc == 124 || rc == 137)); then
		fail "$name" "memshed run exited $rc (want a refusal); stderr: $(tail -n 3 <<<"$out")"
	elif ! grep -qE -e "$ere" <<<"$out"; then
		fail "$name" "exit $rc but stderr does not match /$ere/: $(tail -n 3 <<<"$out")"
	else
		pass "$name"
	fi
}

# ------------------------------------------------- files written as root (3)

victim=$dir/victim # root's file that links point to
echo precious >"$victim"
chmod 644 "$victim"
victim_sum=$(sha256sum <"$victim")
victim_intact() { [[ $(sha256sum <"$victim") == "$victim_sum" ]]; }

# The metrics directory belongs to nobody, who plants links under every
# name a temp file could have had (memshed.prom.tmp.PID for the pids the
# daemon may get) and under the final name.
mdir=$dir/metrics
mkdir "$mdir"
chown nobody:nogroup "$mdir"
write_conf "metrics_file = $mdir/memshed.prom" "event_log = off"
# One process plants them all: the pids it would use up itself are few.
next=$(($(cat /proc/sys/kernel/ns_last_pid) + 1))
"${NOBODY[@]}" /usr/bin/python3 -c '
import os, sys
first, victim, d = int(sys.argv[1]), sys.argv[2], sys.argv[3]
pid_max = int(open("/proc/sys/kernel/pid_max").read())
for i in range(3000):
    p = first + i if first + i < pid_max else 300 + first + i - pid_max  # pids wrap to 300
    os.symlink(victim, "%s/memshed.prom.tmp.%d" % (d, p))
' "$next" "$victim" "$mdir"
"${NOBODY[@]}" ln -s "$victim" "$mdir/memshed.prom.tmp"
"${NOBODY[@]}" ln -s "$victim" "$mdir/memshed.prom"
daemon_start "$conf" --no-bpf
daemon_wait_ready || exit 1
note "daemon pid $DAEMON_PID; $(find "$mdir" -maxdepth 1 -type l | wc -l) links planted"
metrics_regular() { [[ -f $mdir/memshed.prom && ! -L $mdir/memshed.prom ]] && grep -q '^memshed_level ' "$mdir/memshed.prom"; }
if wait_for 10 metrics_regular; then
	pass metrics_file_is_a_regular_file
else
	fail metrics_file_is_a_regular_file "$(ls -l "$mdir/memshed.prom" 2>&1)"
fi
sleep 1.2 # a second write, over the file the first one left
check metrics_planted_links_not_followed victim_intact
check metrics_file_is_root_s test "$(stat -c %u "$mdir/memshed.prom")" = 0
leftover=$(find "$mdir" -maxdepth 1 -type f ! -name memshed.prom)
check metrics_no_temp_left test -z "$leftover"
daemon_stop

# The event ring: a link (to root's file, or dangling, which O_CREAT would
# create), or a file of nobody's: refused, with the path, exit non-zero.
ln -s "$victim" "$dir/ring-link"
write_conf "event_log = $dir/ring-link"
run_refused event_log_symlink_refused 10 "$dir/ring-link.*(symbolic link|symlink)"
check event_log_symlink_target_untouched victim_intact
ln -s "$dir/ring-created" "$dir/ring-dangling"
write_conf "event_log = $dir/ring-dangling"
run_refused event_log_dangling_symlink_refused 10 "$dir/ring-dangling"
check event_log_dangling_target_not_created test ! -e "$dir/ring-created"
"${NOBODY[@]}" touch "$dir/ring-nobody" 2>/dev/null || { touch "$dir/ring-nobody"; chown nobody "$dir/ring-nobody"; }
write_conf "event_log = $dir/ring-nobody"
run_refused event_log_not_roots_refused 10 "$dir/ring-nobody.*not owned by root"
check event_log_not_roots_untouched test ! -s "$dir/ring-nobody"

# The control socket's directory: other-writable, group-writable, nobody's.
write_conf "event_log = off"
mkdir -m 0777 "$dir/run-o" && chmod 0777 "$dir/run-o"
run_refused control_dir_other_writable_refused 10 "$dir/run-o.*mode 0777" \
	"$dir/run-o/memshed.sock"
check control_dir_other_writable_no_socket test ! -e "$dir/run-o/memshed.sock"
mkdir "$dir/run-g" && chmod 0775 "$dir/run-g"
run_refused control_dir_group_writable_refused 10 "$dir/run-g.*mode 0775" \
	"$dir/run-g/memshed.sock"
mkdir "$dir/run-n" && chown nobody "$dir/run-n"
run_refused control_dir_not_roots_refused 10 "$dir/run-n.*uid 65534" \
	"$dir/run-n/memshed.sock"
ln -s "$dir/run-n" "$dir/run-l"
run_refused control_dir_symlink_refused 10 "$dir/run-l.*not a directory" \
	"$dir/run-l/memshed.sock"

# A daemon killed with SIGKILL leaves its socket; the next one replaces it.
daemon_start "$conf" --no-bpf
daemon_wait_ready || exit 1
check socket_mode_0666 test "$(stat -c %a "$MEMSHED_SOCK")" = 666
kill -KILL "$DAEMON_PID"
{ wait "$DAEMON_PID"; } 2>/dev/null
wait_for 5 eval '! pid_alive $DAEMON_PID'
check stale_socket_left_behind test -S "$MEMSHED_SOCK"
daemon_start "$conf" --no-bpf
if daemon_wait_ready; then
	check stale_socket_replaced "$MEMSHED" status
else
	fail stale_socket_replaced "the second daemon did not start: $(tail -n 3 "$DAEMON_ERR")"
fi
daemon_stop

# ------------------------------------- a control plane no user can take away (2)

# Many components make status large: an answer a client does not read
# outgrows the socket's buffer.
{
	echo "[memshed]"
	echo "check_interval = 1s"
	echo "event_log = off"
	echo "metrics_file = $mdir/memshed.prom"
	echo
	echo "[component hostile-cache]"
	echo "match = user:root"
	echo "match = comm:hostile-cache"
	echo "priority = 10"
	for ((i = 0; i < 3000; i++)); do
		printf '\n[component hx-%d]\nmatch = user:root\nmatch = comm:hx-%d\n' "$i" "$i"
	done
} >"$conf"
daemon_start "$conf" --no-bpf
daemon_wait_ready 30 || exit 1

# timed MAX_S CMD...: CMD succeeds within MAX_S seconds.
timed() {
	local max=$1 t0 t1
	shift
	_now_us t0
	timeout 20 "$@" >/dev/null || return 1
	_now_us t1
	(((t1 - t0) <= max * 1000000)) || { echo "took $(((t1 - t0) / 1000)) ms" >&2; return 1; }
}

# User nobody opens 64 followers (as many as there are client slots).
fdir=$dir/followers
mkdir "$fdir"
fpids=()
for ((i = 0; i < 64; i++)); do
	spawn f "${NOBODY[@]}" "$MEMSHED" events --follow >"$fdir/$i.out" 2>"$fdir/$i.err"
	fpids+=("$f")
done
# Until every one has been answered: followed, or refused with a reason.
all_settled() {
	local n
	n=$(grep -l . "$fdir"/*.err 2>/dev/null | wc -l)
	((n >= 64 - 8)) # at most CONTROL_MAX_FOLLOWERS_PER_UID follow
}
wait_for 20 all_settled || note "followers: $(grep -l . "$fdir"/*.err | wc -l) refused so far"
note "nobody's followers refused: $(grep -l . "$fdir"/*.err | wc -l) of 64; e.g. $(head -qn1 "$fdir"/*.err 2>/dev/null | sort | uniq -c | head -n 3)"
check root_status_with_64_strangers timed 3 "$MEMSHED" status
check root_hold_with_64_strangers "$MEMSHED" hold hostile-cache --ttl 1m
check root_reload_with_64_strangers "$MEMSHED" reload
# Root's follower sees the reload's record live (this daemon keeps no
# history: event_log = off, so the record with this config's path is new).
root_follows() {
	local out=$dir/root-follow.out p rc
	timeout 5 "$MEMSHED" events --follow >"$out" 2>&1 &
	p=$!
	sleep 0.5
	"$MEMSHED" reload >/dev/null || return 1
	wait_for 2 grep -qF "$conf" "$out"
	rc=$?
	kill "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	return $rc
}
check root_follows_with_64_strangers root_follows
check nobody_status_still_answers timed 3 "${NOBODY[@]}" "$MEMSHED" status
refused=$("$MEMSHED" status --json | jq .control_refused)
check refusals_counted_in_status_json test "${refused:-0}" -ge 48
check refusals_shown_in_status_text grep -qE 'control clients refused [1-9]' \
	<<<"$("$MEMSHED" status)"
metrics_counted() { grep -qE '^memshed_control_refused_total [1-9]' "$mdir/memshed.prom"; }
check refusals_in_metrics wait_for 5 metrics_counted
nlines=$(grep -c 'control socket: refused' "$DAEMON_ERR")
check refusal_logged test "$nlines" -ge 1
check refusal_log_rate_limited test "$nlines" -le 2

# Silent clients of nobody's in every slot (each would be dropped only
# after 2 s without a request): the slots root keeps let root in at once.
cat >"$dir/silent.py" <<'PY'
import socket, sys, time
socks = []
for _ in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    socks.append(s)
print("connected", flush=True)
time.sleep(30)
PY
spawn silent "${NOBODY[@]}" /usr/bin/python3 "$dir/silent.py" "$MEMSHED_SOCK" 64 >"$dir/silent.out"
wait_for 10 grep -q connected "$dir/silent.out" || fail silent_clients "never connected"
check root_status_while_slots_taken timed 1 "$MEMSHED" status
check root_reload_while_slots_taken timed 1 "$MEMSHED" reload
kill_tree "$silent"

# Clients that ask for status and never read a byte of the answer (which is
# larger than a socket buffer): root's own status still answers at once.
cat >"$dir/mute.py" <<'PY'
import socket, sys, time
socks = []
for _ in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_UNIX)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(sys.argv[1])
    s.sendall(b'{"cmd":"status"}\n')
    socks.append(s)
print("sent", flush=True)
time.sleep(30)
PY
for f in "${fpids[@]}"; do kill_tree "$f"; done
spawn mute "${NOBODY[@]}" /usr/bin/python3 "$dir/mute.py" "$MEMSHED_SOCK" 12 >"$dir/mute.out"
wait_for 10 grep -q sent "$dir/mute.out" || fail mute_clients "never connected"
check root_status_while_mute_clients timed 2 "$MEMSHED" status
check root_hold_while_mute_clients timed 2 "$MEMSHED" hold hostile-cache
# A follower that stops reading under a flood of events (reloads).
spawn stuck "${NOBODY[@]}" /usr/bin/python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(sys.argv[1]); s.sendall(b"{\"cmd\":\"events\",\"follow\":true}\n"); time.sleep(30)' "$MEMSHED_SOCK"
flood() { local i; for ((i = 0; i < 100; i++)); do "$MEMSHED" reload || return 1; done; }
check flood_of_events_answered timeout 60 bash -c "$(declare -f flood); MEMSHED=$MEMSHED; flood"
check root_status_after_flood timed 2 "$MEMSHED" status
check daemon_alive pid_alive "$DAEMON_PID"
daemon_stop

# ------------------- status from a user other than root: the last snapshot (2)

# A stranger's `status` is answered from what the daemon's last refresh
# saw: a labelled process started since is not in it (root's status, which
# refreshes, lists it), and it costs the daemon no bpf() call however many
# ask (counted with strace; root's costs a sample pass and a walk each).
# check_interval = 1h and a far limit: no refresh of the daemon's own.
{
	echo "[memshed]"
	echo "check_interval = 1h"
	echo "total_limit = 1000G"
	echo "event_log = off"
	for ((i = 0; i < 4; i++)); do
		printf '\n[component snap-%d]\nmatch = user:root\nmatch = comm:snap-%d.%d\n' "$i" "$i" "$$"
	done
} >"$conf"
for ((i = 0; i < 4; i++)); do
	spawn p "$HELPERS/sigwatch" --comm "snap-$i.$$" --ready-file "$dir/snap-$i.ready"
	wait_for 10 test -e "$dir/snap-$i.ready" || fail snapshot_setup "snap-$i never ready"
done
daemon_start "$conf"
daemon_wait_ready || exit 1
pids_of() { "$@" "$MEMSHED" status --json | jq -c '[.components[] | select(.name == "snap-0") | .pids[]] | sort'; }
"$MEMSHED" status --json >/dev/null # a snapshot, with the four
spawn late "$HELPERS/sigwatch" --comm "snap-0.$$" --ready-file "$dir/late.ready"
wait_for 10 test -e "$dir/late.ready" || fail snapshot_setup "late never ready"
stranger_view=$(pids_of "${NOBODY[@]}")
note "snap-0 to nobody: $stranger_view; the late process is $late"
check stranger_status_from_snapshot bash -c "! grep -qw '$late' <<<'$stranger_view'"
check root_status_fresh grep -qw "$late" <<<"$(pids_of env)"
check stranger_status_after_root_refresh grep -qw "$late" <<<"$(pids_of "${NOBODY[@]}")"
if command -v strace >/dev/null; then
	# bpf_calls N CMD...: the daemon's bpf() calls while CMD runs N times.
	bpf_calls() {
		local n=$1 i tpid
		shift
		strace -qq -f -e trace=bpf -e signal=none -o "$dir/strace.out" -p "$DAEMON_PID" &
		tpid=$!
		wait_for 5 grep -qE '^TracerPid:[[:space:]]+[1-9]' "/proc/$DAEMON_PID/status"
		for ((i = 0; i < n; i++)); do "$@" "$MEMSHED" status --json >/dev/null; done
		kill -INT "$tpid"
		wait "$tpid"
		grep -c 'bpf(' "$dir/strace.out"
	}
	stranger_calls=$(bpf_calls 100 "${NOBODY[@]}")
	root_calls=$(bpf_calls 100 env)
	note "bpf() calls of the daemon for 100 status --json: nobody's $stranger_calls, root's $root_calls"
	check stranger_status_no_kernel_walk test "$stranger_calls" -eq 0
	check root_status_walks test "$root_calls" -ge 100
else
	skip stranger_status_no_kernel_walk "needs strace"
fi
daemon_stop

# ---------------------------- rules that strangers can match: the daemon (7)

# The daemon says what check-config warns, as a notice record for each
# component any user's process can join: once at load, once per reload,
# never per tick (check_interval = 1s here).
printf '[memshed]\ncheck_interval = 1s\nevent_log = off\n\n[component by-comm]\nmatch = comm:joinable-%d\n\n[component guarded]\nmatch = user:root\nmatch = comm:guarded-%d\n' $$ $$ >"$conf"
daemon_start "$conf" --no-bpf
daemon_wait_ready || exit 1
joinable='"type":"notice".*"msg":"component \\"by-comm\\" can be joined by any user.s process'
joinable_notices() { log_grep "$joinable" | grep -c "\"where\":\"$conf:5\""; }
check joinable_notice_at_load test "$(joinable_notices)" -eq 1
check guarded_no_notice bash -c "! grep -q '\"type\":\"notice\".*\"component\":\"guarded\"' '$DAEMON_LOG'"
check joinable_reload "$MEMSHED" reload
notices_are() { test "$(joinable_notices)" -eq "$1"; }
wait_for 5 notices_are 2
sleep 2.5 # ticks
check joinable_notice_once_per_reload test "$(joinable_notices)" -eq 2
daemon_stop
