#!/bin/bash
# Races around a freeze round (issue 11, item 6).
#
# Another memshed starting while the group is being filled (it thaws and
# removes dead memsheds' groups at start) leaves it alone: the group is
# recorded as this memshed's from its creation. The window is held open by
# a failpoint (pre-move: before each process's move into the group).
. "$(dirname "$0")/../lib/common.sh"
require_root
require_built
mnt=$(awk '$9 == "cgroup2" {print $5; exit}' /proc/self/mountinfo)
[[ -n $mnt ]] || skip_all "needs a cgroup2 mount (memshed freezes there first)"
tmpdir_create dir
# Names of this run's own: other tests' daemons may run on the host, and
# freezer groups are <cgroup2>/memshed/<component>.
comp=recycle-$$ comm=rcy$$

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

