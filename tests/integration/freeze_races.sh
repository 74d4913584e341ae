#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# shellcheck disable=SC2154 # spawn VAR and tmpdir_create VAR assign them
#
# A PID recycled during a freeze is never moved into memshed's freezer group
# nor frozen, and the daemon logs that it skipped it (issue 11, item 6).
#
# Two windows, each held open by a failpoint (the real ones are
# microseconds wide: a cgroup.procs write takes ~30 us here) while the
# victim is killed and its PID handed to an unlabelled stranger through
# /proc/sys/kernel/ns_last_pid:
#   - between the round's decision and the pidfd check (pre-signal): the
#     check refuses the stranger (it carries no label);
#   - between the pidfd check and the move (pre-move): cgroup.procs takes a
#     PID, so the move catches the stranger; memshed sees the victim's
#     pidfd gone after the write and puts the stranger back into its own
#     cgroup before anything freezes. The component's other process is
#     frozen as usual.
# The stranger lives in a cgroup of this test's, so "put back" is checked
# exactly, and it must answer SIGUSR1 (a frozen task runs no handler).
. "$(dirname "$0")/../lib/common.sh"
require_root
require_built
mnt=$(awk '$9 == "cgroup2" {print $5; exit}' /proc/self/mountinfo)
[[ -n $mnt ]] || skip_all "needs a cgroup2 mount (memshed freezes there first)"
tmpdir_create dir
# Names of this run's own: other tests' daemons may run on the host, and
# freezer groups are <cgroup2>/memshed/<component>.
comp=recycle-$$ comm=rcy$$

# The stranger's own cgroup.
home=$mnt/memshed-test-recycle.$$
mkdir "$home" || skip_all "cannot create $home"
home_remove() {
	local pid
	while read -r pid; do echo "$pid" >"$mnt/cgroup.procs"; done <"$home/cgroup.procs" 2>/dev/null
	rmdir "$home" 2>/dev/null
}
on_exit home_remove

write_conf() {
	printf '[memshed]\ntotal_limit = 200M\nmin_idle_time = 1s\ncheck_interval = 1s\n' >"$1"
	printf 'cooldown = 300ms\nsettle_time = 1s\nevent_log = off\n' >>"$1"
	printf 'psi_medium_some = 0\npsi_high_some = 0\npsi_critical_some = 0\n' >>"$1"
	printf 'psi_high_full = 0\npsi_critical_full = 0\n' >>"$1"
	printf '\n[component %s]\nmatch = comm:%s\npriority = 10\naction = freeze\n' "$comp" "$comm" >>"$1"
	chmod 600 "$1"
}
ready() { wait_for 10 test -e "$1" || fail setup "$1 never appeared"; }
err_wait() { wait_for "$1" grep -qE -e "$2" "$DAEMON_ERR"; }

# recycle PID: kill it and give its number to an unlabelled sigwatch that
# moves itself into $home first; its pid in $stranger ("" if the host's
# other forks kept taking the number).
recycle() {
	local victim=$1 try cand
	kill -KILL "$victim"
	wait "$victim" 2>/dev/null
	stranger=""
	for ((try = 0; try < 50; try++)); do
		stamp=$dir/stranger.$victim.$try
		echo $((victim - 1)) >/proc/sys/kernel/ns_last_pid
		# shellcheck disable=SC2016
		spawn cand bash -c 'echo $$ >"$1/cgroup.procs" && exec "$2" --comm stranger \
			--stamp-file "$3" --ready-file "$3.ready"' _ "$home" "$HELPERS/sigwatch" \
			"$stamp"
		if [[ $cand == "$victim" ]]; then
			stranger=$cand
			ready "$stamp.ready"
			return 0
		fi
		kill_tree "$cand"
	done
	return 1
}

# What must hold for the stranger: at home, out of memshed's groups, and
# running (it records SIGUSR1).
stranger_checks() {
	local tag=$1
	check "${tag}_stranger_at_home" grep -qx "0::${home#"$mnt"}" "/proc/$stranger/cgroup"
	check "${tag}_stranger_not_in_freezer_group" \
		bash -c "! grep -qx '$stranger' '$mnt'/memshed/*/cgroup.procs 2>/dev/null"
	kill -USR1 "$stranger"
	check "${tag}_stranger_not_frozen" wait_for 3 grep -q '^usr1 ' "$stamp"
	check "${tag}_stranger_alive" pid_alive "$stranger"
}

# recycle_during TAG CONF FAILPOINT STALL_ERE: a daemon stalled at FAILPOINT
# (3 s a call); once its log says STALL_ERE, $victim's pid goes to a
# stranger; then the component's result record (in $res) and the stranger's
# checks. Non-zero (reported) if any step did not happen.
recycle_during() {
	local tag=$1 conf=$2 fp=$3 stall=$4 result="\"type\":\"result\".*\"component\":\"$comp\""
	MEMSHED_FAILPOINT=$fp:3s daemon_start "$conf"
	daemon_wait_ready || return 1
	# Up to two stalls (the other process may come first), then the victim's.
	if ! err_wait 15 "$stall"; then
		fail "${tag}_stranger_at_home" "the daemon never logged: $stall"
		return 1
	fi
	if ! recycle "$victim"; then
		skip "${tag}_stranger_at_home" "could not recycle pid $victim (busy host)"
		return 1
	fi
	note "pid $victim now belongs to an unlabelled stranger ($fp)"
	log_wait 15 "$result"
	res=$(log_grep "$result" | head -1)
	note "result: $res"
	stranger_checks "$tag"
}

# --- between the decision and the pidfd check ----------------------------
write_conf "$dir/a.conf"
spawn victim "$HELPERS/sigwatch" --anon 170 --comm "$comm" --ready-file "$dir/a.ready"
ready "$dir/a.ready"
if recycle_during decided "$dir/a.conf" pre-signal "failpoint pre-signal \\(component $comp\\)"; then
	check decided_skip_logged grep -q "$comp (freeze): pid $victim skipped" "$DAEMON_ERR"
	check decided_refusal_in_result grep -q '"refused":1' <<<"$res"
fi
daemon_stop
[[ -n $stranger ]] && kill_tree "$stranger"

# --- another memshed starts while the freeze round fills its group -------
# It thaws and removes the groups of dead memsheds at start; the group
# being filled (not frozen yet) is this one's, and must be left alone.
write_conf "$dir/c.conf"
spawn victim "$HELPERS/sigwatch" --anon 170 --comm "$comm" --ready-file "$dir/c.ready"
ready "$dir/c.ready"
MEMSHED_FAILPOINT=pre-move:4s daemon_start "$dir/c.conf"
daemon_wait_ready || exit 1
if err_wait 10 "failpoint pre-move \\(pid $victim\\)"; then
	printf '[memshed]\nevent_log = off\n' >"$dir/second.conf"
	chmod 600 "$dir/second.conf"
	MEMSHED_SOCKET=/run/memshed/test-$$-second.sock spawn second "$MEMSHED" run --no-bpf \
		--config "$dir/second.conf" >"$dir/second.log" 2>&1
	wait_for 10 grep -q ready "$dir/second.log"
	daemon_stop "$second"
	log_wait 10 "\"type\":\"result\".*\"component\":\"$comp\""
	res=$(log_grep "\"type\":\"result\".*\"component\":\"$comp\"" | head -1)
	note "result: $res"
	check second_start_kept_group grep -q '"result":"frozen"' <<<"$res"
	check second_start_victim_frozen grep -qx "$victim" "$mnt/memshed/$comp/cgroup.procs"
else
	fail second_start_kept_group "the daemon never stalled before moving pid $victim"
fi
daemon_stop
kill_tree "$victim"

# --- between the pidfd check and the move -------------------------------
# Two processes: the victim's PID is recycled, the other is frozen (and big
# enough to keep the level up without the victim: no thaw on relief).
write_conf "$dir/b.conf"
spawn victim "$HELPERS/sigwatch" --anon 20 --comm "$comm" --ready-file "$dir/b1.ready"
spawn other "$HELPERS/sigwatch" --anon 178 --comm "$comm" --ready-file "$dir/b2.ready"
ready "$dir/b1.ready"
ready "$dir/b2.ready"
if recycle_during moving "$dir/b.conf" pre-move "failpoint pre-move \\(pid $victim\\)"; then
	check moving_recycle_logged grep -q "pid $victim exited during its move into" "$DAEMON_ERR"
	check moving_recycle_in_result grep -q '"recycled":1' <<<"$res"
	check moving_other_frozen grep -q '"result":"frozen".*"signalled":1' <<<"$res"
	check moving_group_frozen grep -q '^frozen 1' "$mnt/memshed/$comp/cgroup.events"
	check moving_other_in_group grep -qx "$other" "$mnt/memshed/$comp/cgroup.procs"
fi
daemon_stop
check stop_thaws_other bash -c "! grep -q '^frozen 1' '$mnt/memshed/$comp/cgroup.events' 2>/dev/null"
