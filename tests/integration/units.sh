#!/bin/bash
# unit: rules. systemd is not needed: a unit is a cgroup named after it
# (/system.slice/NAME.service), in cgroup2 (the 0:: line: pure v2 and
# hybrid hosts) or in the name=systemd hierarchy (v1 and hybrid hosts).
# The test makes such cgroups, starts processes in them the way systemd
# does (the child joins the cgroup, then execs), and checks that a unit's
# processes are labelled at start and again after a "restart", that a
# slice takes in its units, and that check-config warns about a unit that
# is not there.
. "$(dirname "$0")/../lib/common.sh"
require_root
require_built
tmpdir_create dir

cg2=$(awk '$9 == "cgroup2" {print $5; exit}' /proc/self/mountinfo)
sd1=$(awk '$9 == "cgroup" && $NF ~ /name=systemd/ {print $5; exit}' /proc/self/mountinfo)
[[ -n $cg2 ]] || skip_all "no cgroup2 mount"
slice=memshed-test-$$.slice
svc=memshed-u$$.service
v1svc=memshed-v$$.service
mkdir -p "$cg2/$slice/$svc" || skip_all "cannot create $cg2/$slice/$svc"
on_exit rmdir "$cg2/$slice/$svc" "$cg2/$slice"
if [[ -n $sd1 ]]; then
	mkdir -p "$sd1/$slice/$v1svc"
	on_exit rmdir "$sd1/$slice/$v1svc" "$sd1/$slice"
fi

# in_unit VAR CGROUP_DIR COMM: a memhog started inside the cgroup, as systemd starts a service.
in_unit() {
	spawn "$1" bash -c 'echo $$ >"$1/cgroup.procs" && exec "$2" --anon 4 --comm "$3"' _ "$2" "$HELPERS/memhog" "$3"
}
comp_pids() { "$MEMSHED" status --json | jq -r --arg c "$1" '.components[] | select(.name == $c) | .pids[]'; }
has_pid() { comp_pids "$1" | grep -qx "$2"; }
lacks_pid() { ! has_pid "$@"; }

cat >"$dir/u.conf" <<EOF
[memshed]
total_limit = 100G
event_log = off

[component svc]
match = unit:$svc

[component v1svc]
match = unit:$v1svc

[component slice]
match = unit:$slice
EOF
chmod 600 "$dir/u.conf"

expect_warn=$(sed "s/unit:$v1svc/unit:memshed-none-$$.service/" "$dir/u.conf")
printf '%s\n' "$expect_warn" >"$dir/warn.conf"
chmod 600 "$dir/warn.conf"
out=$("$MEMSHED" check-config "$dir/warn.conf" 2>&1); rc=$?
check check_config_missing_unit_is_a_warning test "$rc" -eq 0
check check_config_missing_unit_warned grep -qE "warn.conf:8: warning: .*memshed-none-$$.service has no cgroup" <<<"$out"
out=$("$MEMSHED" check-config "$dir/u.conf" 2>&1)
check check_config_present_units_quiet bash -c "! grep -q warning <<<\"\$1\" || [[ -z '$sd1' ]]" _ "$out"
printf '[component x]\nmatch = unit:redis\n' >"$dir/bad.conf"; chmod 600 "$dir/bad.conf"
out=$("$MEMSHED" check-config "$dir/bad.conf" 2>&1); rc=$?
check check_config_unit_needs_a_suffix bash -c "[[ $rc -ne 0 ]] && grep -q 'bad.conf:2: .*service, .scope or .slice' <<<\"\$1\"" _ "$out"

in_unit a "$cg2/$slice/$svc" unit-a
[[ -n $sd1 ]] && in_unit b "$sd1/$slice/$v1svc" unit-b
sleep 0.5
daemon_start "$dir/u.conf"
daemon_wait_ready || exit 1
check unit_labelled_at_start has_pid svc "$a"
if [[ -n $sd1 ]]; then
	check unit_v1_hierarchy_labelled_at_start has_pid v1svc "$b"
fi

# A restart: the old process goes, a new one starts in the same cgroup.
kill_tree "$a"
in_unit a2 "$cg2/$slice/$svc" unit-a
check unit_restart_labelled wait_for 5 has_pid svc "$a2"
check unit_slice_not_taken_over lacks_pid slice "$a2"
kill_tree "$a2"

# A cgroup named after the unit inside a delegated subtree (as a user's
# user@UID.service/ is theirs to create cgroups in) is not the unit.
mkdir -p "$cg2/$slice/user@64999.service/$svc"
on_exit rmdir "$cg2/$slice/user@64999.service/$svc" "$cg2/$slice/user@64999.service"
in_unit fake "$cg2/$slice/user@64999.service/$svc" unit-fake
sleep 1
check unit_not_matched_in_delegated_subtree lacks_pid svc "$fake"
kill_tree "$fake"

# A slice takes in processes of its own (none of its units is configured).
mkdir "$cg2/$slice/other.service"
on_exit rmdir "$cg2/$slice/other.service"
in_unit c "$cg2/$slice/other.service" unit-c
check unit_slice_takes_its_units wait_for 5 has_pid slice "$c"
kill_tree "$c"
[[ -n $sd1 ]] && kill_tree "$b"
daemon_stop
