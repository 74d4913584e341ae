#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# shellcheck disable=SC2154 # spawn VAR and tmpdir_create VAR assign them
#
# Freeze without side effects (issue 11, item 6): a component alone in a
# cgroup2 group of its own (as a unit's service is) is frozen where it is,
# through that group's cgroup.freeze: nothing is moved, so its accounting,
# limits and the service manager's view stay as they were; thaw unfreezes
# it there. Debian's memcached plays the component.
#  - alone in its group: frozen in place, still in its group, not answering;
#    thawed in place, answering again;
#  - sharing its group with an unlabelled process: moved into memshed's
#    group as before (the neighbour is never frozen), and back on thaw;
#  - frozen in place by a memshed that died: the next memshed thaws it at
#    start, where it is.
. "$(dirname "$0")/../lib/common.sh"
require_root
require_built
command -v memcached >/dev/null || skip_all "memcached is not installed"
mnt=$(awk '$9 == "cgroup2" {print $5; exit}' /proc/self/mountinfo)
[[ -n $mnt ]] || skip_all "needs a cgroup2 mount"
tmpdir_create dir
comp=own-$$ port=$((30000 + $$ % 20000))

own=$mnt/memshed-test-own.$$
mkdir "$own" || skip_all "cannot create $own"
own_remove() {
	local pid
	echo 0 >"$own/cgroup.freeze" 2>/dev/null
	while read -r pid; do echo "$pid" >"$mnt/cgroup.procs"; done <"$own/cgroup.procs" 2>/dev/null
	rmdir "$own" 2>/dev/null
}
on_exit own_remove

cat >"$dir/memshed.conf" <<EOF
[memshed]
total_limit = 8G
event_log = off
psi_medium_some = 0
psi_high_some = 0
psi_critical_some = 0
psi_high_full = 0
psi_critical_full = 0

[component $comp]
match = cmdline:^memcached .*-p $port
action = freeze
EOF
chmod 600 "$dir/memshed.conf"

spawn mc memcached -u nobody -l 127.0.0.1 -p "$port" -U 0
wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" || fail setup "memcached is not up"
echo "$mc" >"$own/cgroup.procs"
cg_of() { sed -n 's/^0:://p' "/proc/$1/cgroup"; }
rel=${own#"$mnt"}
answers() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; printf 'version\r\n' >&3; head -c 7 <&3" | grep -q VERSION; }
frozen_own() { grep -q '^frozen 1' "$own/cgroup.events"; }
unload() { memshed_unload "$comp"; }	# again while a round measures
labelled() { "$MEMSHED" status --json | jq -e --arg n "$comp" '.components[] | select(.name == $n and .nr_pids >= 1)' >/dev/null; }

daemon_start "$dir/memshed.conf"
daemon_wait_ready || exit 1
wait_for 10 labelled || fail setup "memcached is not labelled"

# ---- alone in its group: frozen there
check inplace_unload unload
wait_for 5 frozen_own
check inplace_group_frozen frozen_own
check inplace_not_moved test "$(cg_of "$mc")" = "$rel"
check inplace_not_in_memshed_group bash -c "! grep -qx $mc $mnt/memshed/$comp/cgroup.procs 2>/dev/null"
check inplace_logged log_wait 5 "frozen in its own cgroup $own" "$DAEMON_ERR"
check inplace_result_frozen log_wait 5 "\"type\":\"result\",\"component\":\"$comp\".*\"result\":\"frozen\""
not_answering() { ! answers; }
check inplace_not_answering not_answering
check inplace_thaw "$MEMSHED" thaw "$comp"
check inplace_thawed bash -c "! grep -q '^frozen 1' $own/cgroup.events"
check inplace_still_home test "$(cg_of "$mc")" = "$rel"
check inplace_answers_again answers

# ---- a neighbour in the group: moved, as before; the neighbour runs on
spawn nb sleep 1000
echo "$nb" >"$own/cgroup.procs"
check shared_unload unload
check shared_moved_to_memshed wait_for 5 bash -c "grep -qx $mc $mnt/memshed/$comp/cgroup.procs"
check shared_group_not_frozen bash -c "! grep -q '^frozen 1' $own/cgroup.events"
check shared_neighbour_home test "$(cg_of "$nb")" = "$rel"
check shared_thaw "$MEMSHED" thaw "$comp"
check shared_back_home wait_for 5 bash -c "[ \"\$(sed -n 's/^0:://p' /proc/$mc/cgroup)\" = '$rel' ]"
kill_tree "$nb"
wait_for 5 bash -c "! grep -qx $nb $own/cgroup.procs"

# ---- frozen in place by a memshed that died: thawed by the next one, there
check orphan_unload unload
wait_for 5 frozen_own
kill -KILL "$DAEMON_PID"
daemon_stop
check orphan_still_frozen frozen_own
daemon_start "$dir/memshed.conf"
daemon_wait_ready || exit 1
check orphan_thawed_at_start wait_for 5 bash -c "! grep -q '^frozen 1' $own/cgroup.events"
check orphan_still_home test "$(cg_of "$mc")" = "$rel"
check orphan_answers answers
daemon_stop
kill_tree "$mc"
