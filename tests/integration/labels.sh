#!/bin/bash
# Labelling end to end (issue 3): every match rule kind labels processes that
# exist before the daemon starts (the /proc scan) and processes started
# after it (exec and rename events); children inherit labels in the kernel;
# rules of one component narrow (all must match) and the first matching
# component wins; labels set and cleared at run time with the CLI, with its
# error exits; reload relabels, and a bad reload changes nothing.
# shellcheck disable=SC2154 # spawn VAR assigns the pid variables
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
require_root
require_built
command -v jq >/dev/null || skip_all "needs jq"
command -v setpriv >/dev/null || skip_all "needs setpriv (util-linux)"

NOBODY=65534
U=$$ # makes command lines and cgroup names unique to this run

tmpdir_create dir
dir=$(realpath "$dir") # exe: rules compare with the resolved /proc/PID/exe
bin=$dir/bin
mkdir "$bin"
chmod 755 "$dir" "$bin" # user nobody runs the programs in here
for p in lbl-comm lbl-both lbl-exe lbl-user lbl-look lbl-gone lbl-added lbl-new; do
	cp /bin/sleep "$bin/$p"
done
cp "$(command -v bash)" "$bin/lbl-sh"
conf=$dir/memshed.conf

# ------------------------------------------------------------------ cgroups

# A cgroup2 dir of our own (the v2 hierarchy needs no controller for this).
CG2_MOUNT=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
[[ -n $CG2_MOUNT ]] || skip_all "no cgroup2 hierarchy is mounted"

# cg2_remove DIR: kill what is inside (recursively), rmdir it.
cg2_remove() {
	local path=$1 d i pid
	local -a dirs pids
	for ((i = 0; i < 100; i++)); do
		[[ -d $path ]] || return 0
		mapfile -t dirs < <(find "$path" -depth -type d 2>/dev/null)
		for d in "${dirs[@]}"; do
			mapfile -t pids <"$d/cgroup.procs" 2>/dev/null
			for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null; done
		done
		for d in "${dirs[@]}"; do rmdir "$d" 2>/dev/null; done
		sleep 0.05
	done
	[[ ! -d $path ]] || { echo "cg2_remove: $path is still there" >&2; return 1; }
}

rmdir_if_empty() { rmdir "$1" 2>/dev/null || true; }

cg2=$CG2_MOUNT/memshed-test-lbl-$U
cg2_rel=/memshed-test-lbl-$U # as /proc/PID/cgroup shows it
mkdir "$cg2" || skip_all "cannot create $cg2"
on_exit cg2_remove "$cg2"
mkdir "$cg2/in" "$cg2/fs" "$cg2/fs/deeper"

# A memory cgroup (v1 memory hierarchy here; cgroup2 on pure-v2 hosts).
memcg=$(memcg_create "lbl-$U" 256M) || skip_all "cannot create a memory cgroup"
memcg_rel=${memcg#/sys/fs/cgroup}       # /memory/memshed-test/lbl-N (hybrid)
memcg_rel=/${memcg_rel#/*/}             # /memshed-test/lbl-N
# On a hybrid host, the same relative path in the *unified* hierarchy: a
# process there is not in the memory cgroup the rule names.
twin=
if [[ $(stat -f -c %T "$memcg") != cgroup2fs && $CG2_MOUNT != /sys/fs/cgroup ]]; then
	twin=$CG2_MOUNT$memcg_rel
	if [[ -d $CG2_MOUNT/memshed-test ]]; then
		mkdir "$twin" 2>/dev/null || twin=
	else
		mkdir -p "$twin" 2>/dev/null || twin=
		[[ -n $twin ]] && on_exit rmdir_if_empty "$CG2_MOUNT/memshed-test"
	fi
	[[ -n $twin ]] && on_exit cg2_remove "$twin"
fi

# ------------------------------------------------------------------ config

cmd_re="^sleep 1001\\.$U\$"
reload_re1="^sleep 3001\\.$U\$"
reload_re2="^sleep 3002\\.$U\$"

# write_conf VARIANT: base | reloaded | allcomm
write_conf() {
	local v=$1
	{
		cat <<-EOF
		[memshed]
		auto_unload = no        ; this test is about labels: nothing is unloaded
		total_limit = 64G
		check_interval = 60s
		event_log = off

		EOF
		if [[ $v == allcomm ]]; then
			# Every component has a comm: rule: the kernel filters execs by comm.
			cat <<-EOF
			[component lbl-user]
			match = user:nobody
			match = comm:lbl-user

			[component lbl-comm]
			match = comm:lbl-comm

			[component lbl-new]
			match = comm:lbl-new
			EOF
		else
			write_components "$v"
		fi
	} >"$conf.tmp"
	chmod 600 "$conf.tmp"
	mv -f "$conf.tmp" "$conf"
}

write_components() {
	local v=$1 reload_re=$reload_re1
	[[ $v == reloaded ]] && reload_re=$reload_re2
	{
		cat <<-EOF
		; narrowing: only lbl-look run by nobody (65534); first match wins
		[component lbl-look]
		match = comm:lbl-look
		match = user:$NOBODY

		[component lbl-user]
		match = user:nobody
		match = comm:lbl-user

		[component lbl-comm]
		match = comm:lbl-comm

		; overlap: lbl-both 1000 matches both, the first in file order wins
		[component lbl-first]
		match = cmdline:/lbl-both 1000\$

		[component lbl-second]
		match = comm:lbl-both

		EOF
		if [[ $v == base ]]; then
			cat <<-EOF
			; removed by the reload (the ids of the components below shift)
			[component lbl-gone]
			match = comm:lbl-gone

			EOF
		fi
		cat <<-EOF
		[component lbl-exe]
		match = exe:$bin/lbl-exe

		[component lbl-cmd]
		match = cmdline:$cmd_re

		[component lbl-cg]
		match = cgroup:$cg2_rel/in

		[component lbl-cgfs]
		match = cgroup:$cg2/fs

		[component lbl-memcg]
		match = cgroup:$memcg

		[component lbl-pidf]
		match = pidfile:$dir/x.pid

		[component lbl-fork]
		match = comm:lbl-fork

		[component lbl-sh]
		match = comm:lbl-sh

		[component lbl-rt]
		match = comm:lbl-rt-nothing

		[component lbl-reload]
		match = cmdline:$reload_re

		[component lbl-kthread]
		match = comm:kthreadd

		EOF
		if [[ $v == reloaded ]]; then
			cat <<-EOF
			; new with the reload
			[component lbl-added]
			match = comm:lbl-added
			EOF
		fi
	}
}

# ------------------------------------------------------------------ helpers

# status_json: the daemon's status; fails (and says so on stderr) when the
# CLI fails or its answer is not JSON with a components list, so that a
# failed query never reads as "not labelled".
status_json() {
	local out rc
	out=$("$MEMSHED" status --json 2>&1)
	rc=$?
	if ((rc != 0)) || ! jq -e '.components | type == "array"' >/dev/null 2>&1 <<<"$out"; then
		echo "memshed status --json failed (exit $rc): $out" >&2
		return 1
	fi
	printf '%s\n' "$out"
}

# comp_of PID: the component(s) whose pids list PID ("" if none).
comp_of() {
	local st
	st=$(status_json) || return 1
	jq -r --argjson p "$1" '[.components[] | select(any(.pids[]; . == $p)) | .name] | join(",")' <<<"$st"
}
# in_comp NAME PID...: every PID is listed in NAME (and only there).
in_comp() {
	local name=$1 p c
	shift
	for p; do
		c=$(comp_of "$p") && [[ $c == "$name" ]] || return 1
	done
}
# not_in_comp NAME PID: PID is not in NAME (a failed query is no answer).
not_in_comp() {
	local c
	c=$(comp_of "$2") && [[ $c != "$1" ]]
}
unlabelled() {
	local p c
	for p; do
		c=$(comp_of "$p") && [[ -z $c ]] || return 1
	done
}
# comp_pids NAME: sorted pids of NAME on one line.
comp_pids() {
	local st
	st=$(status_json) || return 1
	jq -r --arg n "$1" '[.components[] | select(.name == $n) | .pids[]] | sort | map(tostring) | join(" ")' <<<"$st"
}
# comp_names: the names of the components, one line.
comp_names() {
	local st
	st=$(status_json) || return 1
	jq -r '[.components[].name] | join(" ")' <<<"$st"
}
# snapshot: components and their pids, stable order.
snapshot() {
	local st
	st=$(status_json) || return 1
	jq -c '[.components[] | {name, pids: (.pids | sort)}]' <<<"$st"
}
# labels_except PID...: [{pid, name}] of every labelled process but these.
labels_except() {
	local st skip
	st=$(status_json) || return 1
	skip=$(printf '%s,' "$@")
	jq -c --argjson skip "[${skip%,}]" '[.components[] | .name as $n | .pids[]
		| select(. as $p | any($skip[]; . == $p) | not) | {pid: ., name: $n}] | sort_by(.pid)' <<<"$st"
}
# check_unique NAME: no pid is listed in two components.
check_unique() {
	local st dup
	if ! st=$(status_json 2>&1); then
		fail "$1" "$st"
		return
	fi
	dup=$(jq -c '[.components[].pids[]] | group_by(.) | map(select(length > 1) | .[0])' <<<"$st")
	if [[ $dup == "[]" ]]; then
		pass "$1"
	else
		fail "$1" "pids in more than one component: $dup; $(jq -c '[.components[] | {name, pids}]' <<<"$st")"
	fi
}
where() {
	local p out='' c
	for p; do
		c=$(comp_of "$p" 2>&1) || c="status failed: $c"
		out+="$p:[$c] "
	done
	echo "$out"
}

# expect NAME COMP PID...: PASS when every PID shows up in COMP within 5 s.
expect() {
	local t=$1 c=$2
	shift 2
	if wait_for 5 in_comp "$c" "$@"; then
		pass "$t"
	else
		fail "$t" "want $* in '$c'; have $(where "$@")"
	fi
}
# expect_none NAME PID...: PASS when no PID is labelled. Call it after a
# positive check on something started later (events are handled in order).
expect_none() {
	local t=$1
	shift
	if unlabelled "$@"; then
		pass "$t"
	else
		fail "$t" "want unlabelled; have $(where "$@")"
	fi
}

comm_is() { [[ $(cat "/proc/$1/comm" 2>/dev/null) == "$2" ]]; }
lines_in() { [[ -f $1 && $(wc -l <"$1") -ge $2 ]]; }

# run_as_nobody VAR CMD...
run_as_nobody() {
	local __v=$1
	shift
	spawn "$__v" setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups "$@"
}

# lbl-sh: waits for $dir/go.$1, then starts an lbl-exe (a rule match: moves
# to lbl-exe) and a sleep (matches nothing: keeps the inherited label).
# shellcheck disable=SC2016 # expanded by lbl-sh
lbl_sh_script='until [ -e "$1/go.$2" ]; do sleep 0.02; done
"$1/bin/lbl-exe" 1000 & echo $! >"$1/sh.$2.exe"
sleep 2000.$3 & echo $! >"$1/sh.$2.sleep"
wait'

# ------------------------------------------------------------------ before the daemon

write_conf base
check config_is_valid "$MEMSHED" check-config "$conf"

spawn b_comm "$bin/lbl-comm" 1000
spawn b_exe "$bin/lbl-exe" 1000
spawn b_cmd sleep "1001.$U"
spawn b_cmd_no sleep "1001.$U" 1 # the regex is anchored at both ends
memcg_spawn b_cg "$cg2/in" sleep 1000
memcg_spawn b_cgfs "$cg2/fs/deeper" sleep 1000 # below the rule's cgroup
memcg_spawn b_memcg "$memcg" sleep 1000
spawn b_pidf sleep 1000
echo "$b_pidf" >"$dir/x.pid"
run_as_nobody b_user "$bin/lbl-user" 1000
spawn b_user_root "$bin/lbl-user" 1000 # user: rule excludes it
run_as_nobody b_look "$bin/lbl-look" 1000
spawn b_look_root "$bin/lbl-look" 1000 # the look-alike
spawn b_gone "$bin/lbl-gone" 1000
spawn b_rel1 sleep "3001.$U"
spawn b_rel2 sleep "3002.$U"
spawn b_fork "$HELPERS/forker" --comm lbl-fork 3 >"$dir/fork.b"
spawn b_plain sleep 1000
spawn b_both "$bin/lbl-both" 1000
spawn b_both2 "$bin/lbl-both" 1001

for x in b_comm:lbl-comm b_exe:lbl-exe b_cmd:sleep b_cmd_no:sleep b_cg:sleep \
	b_cgfs:sleep b_memcg:sleep b_pidf:sleep b_user:lbl-user b_user_root:lbl-user \
	b_look:lbl-look b_look_root:lbl-look b_gone:lbl-gone b_rel1:sleep b_rel2:sleep \
	b_plain:sleep b_both:lbl-both b_both2:lbl-both; do
	v=${x%%:*}
	wait_for 5 comm_is "${!v}" "${x#*:}" || fail setup "$v (pid ${!v}) never became ${x#*:}"
done
wait_for 5 lines_in "$dir/fork.b" 3 || fail setup "forker (before) printed no 3 pids"
mapfile -t b_fork_kids <"$dir/fork.b"

daemon_start "$conf"
daemon_wait_ready || exit 1
note "daemon pid $DAEMON_PID, log $DAEMON_LOG"

expect scan_comm lbl-comm "$b_comm"
expect scan_exe lbl-exe "$b_exe"
expect scan_cmdline lbl-cmd "$b_cmd"
expect scan_cgroup_proc_path lbl-cg "$b_cg"
expect scan_cgroup_fs_path_below lbl-cgfs "$b_cgfs"
expect scan_cgroup_memory_hierarchy lbl-memcg "$b_memcg"
expect scan_pidfile lbl-pidf "$b_pidf"
expect scan_user lbl-user "$b_user"
expect scan_narrowed_by_user lbl-look "$b_look"
expect scan_forker_chain lbl-fork "$b_fork" "${b_fork_kids[@]}"
expect scan_reload_component lbl-reload "$b_rel1"
expect scan_first_component_wins lbl-first "$b_both"
expect scan_second_when_first_fails lbl-second "$b_both2"
expect_none scan_cmdline_anchored "$b_cmd_no"
expect_none scan_user_rule_excludes_root "$b_user_root"
expect_none scan_lookalike_unlabelled "$b_look_root"
expect_none scan_unmatched_unlabelled "$b_plain" "$b_rel2"
check_unique scan_each_pid_in_one_component
if kt=$(comp_of 2 2>&1) && [[ -z $kt ]]; then
	pass scan_kernel_threads_not_labelled
else
	fail scan_kernel_threads_not_labelled "kthreadd (pid 2), a kernel thread, is in component '$kt' (rule comm:kthreadd)"
fi

# ------------------------------------------------------------------ after the daemon

spawn a_look_root "$bin/lbl-look" 1000 # negatives first: checked after the positives
spawn a_user_root "$bin/lbl-user" 1000
spawn a_cmd_no sleep "1001.$U" 1
spawn a_cmd_no2 sleep "11001.$U"
memcg_spawn a_cg_other "$cg2" sleep 1000 # the parent of the rule's cgroup
[[ -n $twin ]] && memcg_spawn a_twin "$twin" sleep 1000
spawn a_comm "$bin/lbl-comm" 1000
spawn a_both "$bin/lbl-both" 1000
spawn a_both2 "$bin/lbl-both" 1001
spawn a_exe "$bin/lbl-exe" 1000
spawn a_cmd sleep "1001.$U"
memcg_spawn a_cg "$cg2/in" sleep 1000
memcg_spawn a_cgfs "$cg2/fs" sleep 1000
memcg_spawn a_memcg "$memcg" sleep 1000
# pidfile: the pid is in the file before the exec that is matched
# shellcheck disable=SC2016 # expanded by the child
spawn a_pidf bash -c 'echo $$ >"$1"; exec sleep 1000' pidf "$dir/x.pid"
run_as_nobody a_user "$bin/lbl-user" 1000
run_as_nobody a_look "$bin/lbl-look" 1000
# rename: prctl(PR_SET_NAME) after exec re-matches (forker renames itself)
spawn a_rename "$HELPERS/forker" --comm lbl-comm --wait-usr1 1 >"$dir/rename.a"

expect exec_comm lbl-comm "$a_comm"
expect exec_exe lbl-exe "$a_exe"
expect exec_cmdline lbl-cmd "$a_cmd"
expect exec_cgroup_proc_path lbl-cg "$a_cg"
expect exec_cgroup_fs_path lbl-cgfs "$a_cgfs"
expect exec_cgroup_memory_hierarchy lbl-memcg "$a_memcg"
expect exec_pidfile lbl-pidf "$a_pidf"
expect exec_user lbl-user "$a_user"
expect exec_narrowed_by_user lbl-look "$a_look"
expect rename_comm lbl-comm "$a_rename"
expect exec_first_component_wins lbl-first "$a_both"
expect exec_second_when_first_fails lbl-second "$a_both2"
expect pidfile_earlier_label_kept lbl-pidf "$b_pidf"
expect_none exec_cmdline_anchored "$a_cmd_no" "$a_cmd_no2"
expect_none exec_user_rule_excludes_root "$a_user_root"
expect_none exec_lookalike_unlabelled "$a_look_root"
expect_none exec_cgroup_parent_not_matched "$a_cg_other"
if [[ -n $twin ]]; then
	# The rule names $memcg in the memory hierarchy; this process is in the
	# same relative path of the unified hierarchy only.
	if unlabelled "$a_twin"; then
		pass cgroup_fs_path_is_hierarchy_specific
	else
		fail cgroup_fs_path_is_hierarchy_specific "pid $a_twin is in $twin (cgroup2) only, not in the memory cgroup $memcg that lbl-memcg's rule names, yet: $(where "$a_twin")"
	fi
else
	note "cgroup_fs_path_is_hierarchy_specific: not a hybrid cgroup host, not run"
fi

check_unique exec_each_pid_in_one_component

# The renamed process's child inherits.
kill -USR1 "$a_rename"
if wait_for 5 lines_in "$dir/rename.a" 1; then
	expect rename_child_inherits lbl-comm "$(head -1 "$dir/rename.a")"
else
	fail rename_child_inherits "forker printed no pid"
fi

# Inheritance: a chain forked by a labelled process, every generation.
spawn a_fork "$HELPERS/forker" --comm lbl-fork --wait-usr1 3 >"$dir/fork.a"
expect fork_top_labelled_by_rename lbl-fork "$a_fork"
kill -USR1 "$a_fork"
if wait_for 5 lines_in "$dir/fork.a" 3; then
	mapfile -t a_fork_kids <"$dir/fork.a"
	expect grandchildren_inherit lbl-fork "${a_fork_kids[@]}"
	missing=
	for k in "${a_fork_kids[@]}"; do
		log_grep "\"type\":\"fork\",\"pid\":$k,.*\"component\":\"lbl-fork\"" >/dev/null ||
			missing+=" $k"
	done
	if [[ -z $missing ]]; then
		pass fork_events_name_component
	else
		fail fork_events_name_component "no fork event with component lbl-fork for:$missing"
	fi
else
	fail grandchildren_inherit "forker printed fewer than 3 pids: $(cat "$dir/fork.a")"
fi

# An exec that matches no rule keeps the inherited label; an exec that
# matches a rule moves the process to that rule's component.
spawn a_sh "$bin/lbl-sh" -c "$lbl_sh_script" lbl-sh "$dir" a "$U"
expect exec_lbl_sh lbl-sh "$a_sh"
touch "$dir/go.a"
if wait_for 5 lines_in "$dir/sh.a.sleep" 1 && wait_for 5 lines_in "$dir/sh.a.exe" 1; then
	sh_exe=$(<"$dir/sh.a.exe") sh_sleep=$(<"$dir/sh.a.sleep")
	wait_for 5 comm_is "$sh_exe" lbl-exe
	wait_for 5 comm_is "$sh_sleep" sleep
	expect exec_rule_match_beats_inherited lbl-exe "$sh_exe"
	expect exec_unmatched_keeps_inherited lbl-sh "$sh_sleep"
else
	fail exec_inherit "lbl-sh did not start its children"
fi

# ------------------------------------------------------------------ label/unlabel at run time

spawn rt_plain sleep "4001.$U"
spawn rt_fork "$HELPERS/forker" --wait-usr1 2 >"$dir/fork.rt"
wait_for 5 comm_is "$rt_plain" sleep
wait_for 5 comm_is "$rt_fork" forker
sleep 0.2
expect_none rt_starts_unlabelled "$rt_plain" "$rt_fork"

check cli_label "$MEMSHED" label "$rt_plain" lbl-rt
expect cli_label_shows_in_status lbl-rt "$rt_plain"
check cli_label_top "$MEMSHED" label "$rt_fork" lbl-rt
kill -USR1 "$rt_fork"
if wait_for 5 lines_in "$dir/fork.rt" 2; then
	mapfile -t rt_kids <"$dir/fork.rt"
	expect cli_label_inherited lbl-rt "$rt_fork" "${rt_kids[@]}"
else
	fail cli_label_inherited "forker printed fewer than 2 pids"
	rt_kids=()
fi

check cli_unlabel "$MEMSHED" unlabel "$rt_plain"
if wait_for 5 unlabelled "$rt_plain"; then
	sleep 0.3 # and it stays so: no refresh brings it back
	expect_none cli_unlabel_shows_in_status "$rt_plain"
else
	fail cli_unlabel_shows_in_status "have $(where "$rt_plain")"
fi
if ((${#rt_kids[@]})); then
	"$MEMSHED" unlabel "$rt_fork" >/dev/null 2>&1
	wait_for 5 unlabelled "$rt_fork"
	expect_none cli_unlabel_one_process "$rt_fork"
	expect cli_unlabel_leaves_children lbl-rt "${rt_kids[@]}"
fi

# cli_err NAME WANT_RC [STDERR_ERE] -- ARGS...
cli_err() {
	local t=$1 want=$2 re=$3 out rc
	shift 4
	out=$("$MEMSHED" "$@" 2>&1)
	rc=$?
	if ((rc != want)); then
		fail "$t" "'memshed $*' exited $rc, want $want: $out"
	elif [[ -n $re ]] && ! grep -qE -- "$re" <<<"$out"; then
		fail "$t" "'memshed $*' said '$out', want /$re/"
	else
		pass "$t"
	fi
}
cli_err label_unknown_component 1 'no-such-comp' -- label "$rt_plain" no-such-comp
expect_none label_unknown_component_changes_nothing "$rt_plain"
cli_err label_bad_pid_text 2 'abc' -- label abc lbl-rt
cli_err label_bad_pid_zero 2 '' -- label 0 lbl-rt
cli_err label_bad_pid_negative 2 '' -- label -5 lbl-rt
cli_err label_bad_pid_trailing 2 '' -- label "${rt_plain}x" lbl-rt
cli_err label_bad_pid_huge 2 '' -- label 99999999999 lbl-rt
cli_err label_missing_name 2 '' -- label "$rt_plain"
cli_err unlabel_bad_pid 2 '' -- unlabel x12
cli_err label_no_such_process 1 '4000000' -- label 4000000 lbl-rt
cli_err label_pid1_refused 1 '' -- label 1 lbl-rt
cli_err label_daemon_refused 1 '' -- label "$DAEMON_PID" lbl-rt
# A kernel thread (never signalled, DESIGN 4) is no component member either.
kworker=$(ps -e -o pid=,ppid=,comm= | awk '$2 == 2 { print $1; exit }')
if [[ -n $kworker ]]; then
	cli_err label_kernel_thread_refused 1 '' -- label "$kworker" lbl-rt
	expect_none label_kernel_thread_stays_unlabelled "$kworker"
fi
cli_err unlabel_not_labelled 1 'not labelled' -- unlabel "$rt_plain"
expect_none label_pid1_stays_unlabelled 1

# ------------------------------------------------------------------ reload

expect reload_before lbl-reload "$b_rel1"
expect_none reload_before_other "$b_rel2"
expect reload_before_gone lbl-gone "$b_gone"
spawn a_added "$bin/lbl-added" 1000
wait_for 5 comm_is "$a_added" lbl-added

# pid -> component of every labelled process the reload should not touch
# b_pidf was labelled by its pidfile, which now names a_pidf: a reload
# re-applies rules, so it leaves (checked below), like b_rel1.
keep_before=$(labels_except "$b_rel1" "$b_rel2" "$b_gone" "$a_added" "$b_pidf" |
	jq -c '[.[] | select(.name != "lbl-gone")]')	# its whole tree goes with it

write_conf reloaded
log_mark
check reload_ok "$MEMSHED" reload
if log_wait 5 '"type":"config".*"result":"loaded"'; then
	pass reload_logs_config_loaded
else
	fail reload_logs_config_loaded "no config event with result loaded"
fi
expect reload_new_match_labelled lbl-reload "$b_rel2"
if wait_for 2 not_in_comp lbl-reload "$b_rel1"; then
	pass reload_old_match_dropped
else
	fail reload_old_match_dropped "pid $b_rel1 ('sleep 3001.$U') no longer matches lbl-reload's only rule (cmdline:$reload_re2) but is still in it after the reload: lbl-reload = [$(comp_pids lbl-reload)]"
fi
check_unique reload_each_pid_in_one_component
expect reload_added_component lbl-added "$a_added"
if wait_for 2 unlabelled "$b_gone" && names=$(comp_names) && [[ " $names " != *" lbl-gone "* ]]; then
	pass reload_removed_component
else
	fail reload_removed_component "pid $b_gone: $(where "$b_gone")"
fi
keep_after=$(labels_except "$b_rel1" "$b_rel2" "$b_gone" "$a_added" "$b_pidf")
if [[ " $(comp_pids lbl-pidf) " == *" $b_pidf "* ]]; then
	fail reload_stale_pidfile_dropped "pid $b_pidf is no longer in the pidfile but kept its label"
else
	pass reload_stale_pidfile_dropped
fi
# Every label the reload should not touch is still there. (It may add
# some: the reload's scan puts descendants forked before their parent's
# label into its tree.)
if [[ -n $keep_before ]] &&
	jq -e --argjson b "$keep_before" --argjson a "$keep_after" -n '$b - $a == []' >/dev/null; then
	pass reload_keeps_other_labels
else
	fail reload_keeps_other_labels "lost: $(jq -c --argjson b "$keep_before" --argjson a "$keep_after" -n '$b - $a')"
fi
# Inheritance after a reload that shifted component ids: a labelled
# process forks now, its child must land in the same component by name.
spawn r_fork "$HELPERS/forker" --comm lbl-fork --wait-usr1 1 >"$dir/fork.r"
expect reload_fork_top lbl-fork "$r_fork"
kill -USR1 "$r_fork"
if wait_for 5 lines_in "$dir/fork.r" 1; then
	expect reload_child_inherits_right_component lbl-fork "$(head -1 "$dir/fork.r")"
else
	fail reload_child_inherits_right_component "forker printed no pid"
fi
spawn r_sh "$bin/lbl-sh" -c "$lbl_sh_script" lbl-sh "$dir" r "$U"
expect reload_exec_after lbl-sh "$r_sh"
touch "$dir/go.r"
if wait_for 5 lines_in "$dir/sh.r.sleep" 1 && wait_for 5 lines_in "$dir/sh.r.exe" 1; then
	wait_for 5 comm_is "$(<"$dir/sh.r.exe")" lbl-exe
	wait_for 5 comm_is "$(<"$dir/sh.r.sleep")" sleep
	expect reload_exec_rule_match_beats_inherited lbl-exe "$(<"$dir/sh.r.exe")"
	expect reload_exec_unmatched_keeps_inherited lbl-sh "$(<"$dir/sh.r.sleep")"
else
	fail reload_exec_inherit "lbl-sh did not start its children"
fi

# A bad reload: syntax error. Nothing changes.
before=$(snapshot)
cp "$conf" "$conf.good"
printf '\n[component lbl-broken\nmatch = comm:x\n' >>"$conf"
badline=$(($(wc -l <"$conf") - 1))
log_mark
errmark=$(stat -c %s "$DAEMON_ERR")
out=$("$MEMSHED" reload 2>&1)
rc=$?
if ((rc == 1)); then pass bad_reload_exit_1; else fail bad_reload_exit_1 "exit $rc: $out"; fi
if grep -qF -- "$conf" <<<"$out"; then
	pass bad_reload_message_names_file
else
	fail bad_reload_message_names_file "message: $out"
fi
if log_wait 5 '"type":"config".*"result":"refused"'; then
	pass bad_reload_logs_refused
else
	fail bad_reload_logs_refused "no config event with result refused"
fi
if tail -c +"$((errmark + 1))" "$DAEMON_ERR" | grep -qF "$conf:$badline:"; then
	pass bad_reload_error_has_file_line
else
	fail bad_reload_error_has_file_line "no '$conf:$badline:' in the daemon's stderr: $(tail -c +"$((errmark + 1))" "$DAEMON_ERR")"
fi
sleep 0.2
after=$(snapshot)
if [[ -n $before && $before == "$after" ]]; then
	pass bad_reload_status_unchanged
else
	fail bad_reload_status_unchanged "before: $before after: $after"
fi
# The running config still labels: an exec after the refused reload.
spawn r_comm "$bin/lbl-comm" 1000
expect bad_reload_keeps_running_config lbl-comm "$r_comm"

# A bad reload by SIGHUP: the file became group/world-writable.
cp "$conf.good" "$conf"
chmod 666 "$conf"
before=$(snapshot)
log_mark
kill -HUP "$DAEMON_PID"
if log_wait 5 '"type":"config".*"result":"refused"'; then
	pass sighup_unsafe_file_refused
else
	fail sighup_unsafe_file_refused "no config event with result refused"
fi
after=$(snapshot)
if [[ -n $before && $before == "$after" ]]; then
	pass sighup_refused_status_unchanged
else
	fail sighup_refused_status_unchanged "before: $before after: $after"
fi
check daemon_alive_after_bad_reloads pid_alive "$DAEMON_PID"

# SIGHUP reload to a config in which every component has a comm: rule (the
# kernel then reports only execs and renames of those comms).
write_conf allcomm
log_mark
kill -HUP "$DAEMON_PID"
if log_wait 5 '"type":"config".*"result":"loaded"'; then
	pass sighup_reload_loaded
else
	fail sighup_reload_loaded "no config event with result loaded"
fi
spawn f_new "$bin/lbl-new" 1000
run_as_nobody f_user "$bin/lbl-user" 1000
spawn f_user_root "$bin/lbl-user" 1000
spawn f_rename "$HELPERS/forker" --comm lbl-comm --wait-usr1 1 >/dev/null
expect filter_exec_comm lbl-new "$f_new"
expect filter_exec_user lbl-user "$f_user"
expect filter_rename lbl-comm "$f_rename"
expect_none filter_user_rule_excludes_root "$f_user_root"
if names=$(comp_names) && [[ " $names " != *" lbl-exe "* ]] && unlabelled "$a_exe"; then
	pass sighup_reload_removed_components
else
	fail sighup_reload_removed_components "lbl-exe still there: $(where "$a_exe")"
fi

check_unique end_each_pid_in_one_component
check daemon_still_running pid_alive "$DAEMON_PID"
