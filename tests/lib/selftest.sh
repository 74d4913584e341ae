#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# tests/lib/selftest.sh: check tests/lib/common.sh and tests/helpers/* as root,
# without the daemon. Builds missing or stale helpers with cc first.
#
#   sudo bash tests/lib/selftest.sh
#
# Phases run as child scripts so that what their EXIT traps leave behind can
# be checked from outside: no memshed-test cgroup, no helper process, no temp
# dir may survive a passing run, a failing run, or a run killed by SIGTERM.

# shellcheck source=tests/lib/common.sh disable=SC2016,SC2119
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SELF=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)/$(basename "${BASH_SOURCE[0]}")

# helper_pids: processes running one of the helper binaries.
helper_pids() {
	local p exe
	for p in /proc/[0-9]*; do
		exe=$(readlink "$p/exe" 2>/dev/null) || continue
		[[ $exe == "$HELPERS"/* ]] && echo "${p#/proc/} $exe"
	done
	return 0
}

memcg_test_root() {
	_memcg_detect && echo "$_MEMCG_ROOT/memshed-test"
}

# ---------------------------------------------------------------- phase: main

phase_main() {
	local cg rss anon usage dir pid

	# memhog: 32 MiB of anonymous memory in a 64 MiB memcg
	cg=$(memcg_create hog 64M)
	check memcg_create_path test -d "$cg"
	tmpdir_create dir
	echo "$dir" >>"$SELFTEST_TMPDIRS"
	memcg_spawn pid "$cg" "$HELPERS/memhog" --anon 32 --ready-file "$dir/hog.ready" --comm hog32
	if wait_for 10 test -s "$dir/hog.ready"; then
		rss=$(proc_status_kib "$pid" VmRSS)
		anon=$(proc_status_kib "$pid" RssAnon)
		usage=$(cat "$cg/memory.usage_in_bytes" 2>/dev/null || cat "$cg/memory.current")
		note "memhog --anon 32: VmRSS ${rss} kB, RssAnon ${anon} kB, memcg usage $((usage >> 10)) kB"
		if ((rss >= 32768 && rss <= 32768 + 4096 && anon >= 32768)); then
			pass memhog_rss_32mib
		else
			fail memhog_rss_32mib "VmRSS $rss kB, RssAnon $anon kB, want ~32768 kB"
		fi
		check memhog_charged_to_memcg test "$usage" -ge $((32 << 20))
		check memhog_comm grep -qx hog32 "/proc/$pid/comm"
		check memhog_in_memcg grep -qx "$pid" "$cg/cgroup.procs"
		local t1 t2
		t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
		sleep 0.5
		t2=$(awk '{print $14 + $15}' "/proc/$pid/stat")
		check memhog_idle_after_ready test "$t1" -eq "$t2"
	else
		fail memhog_rss_32mib "memhog did not say ready within 10 s"
	fi
	kill_tree "$pid"

	# thrash: a 128 MiB file read through mmap in a 64 MiB memcg -> PSI "some" rises
	local file=$dir/thrash.dat psi0 psi t0 now first_us="" t_end delta
	"$HELPERS/thrash" "$file" 128 --seconds 0
	check thrash_file_prepared test "$(stat -c %s "$file")" -eq $((128 << 20))
	cg=$(memcg_create thrash 64M)
	drop_caches
	psi0=$(psi_some_total)
	_now_us t0
	memcg_spawn pid "$cg" "$HELPERS/thrash" "$file" 128 --seconds 30
	t_end=$((t0 + 10000000))
	while :; do
		_now_us now
		psi=$(psi_some_total)
		if [[ -z $first_us ]] && ((psi > psi0)); then
			first_us=$((now - t0))
		fi
		# Watch for the first rise, then keep measuring to a 5 s window.
		((now - t0 >= 5000000 || now >= t_end)) && break
		sleep 0.05
	done
	delta=$((psi - psi0))
	note "PSI memory some total: +${delta} us over $(((now - t0) / 1000)) ms; first rise after ${first_us:-never} us; $(grep some /proc/pressure/memory)"
	note "thrash memcg: usage $(($(cat "$cg/memory.usage_in_bytes" 2>/dev/null || cat "$cg/memory.current") >> 20)) MiB"
	if [[ -n $first_us ]] && ((first_us <= 10000000 && delta > 0)); then
		pass psi_some_rises_under_thrash
	else
		fail psi_some_rises_under_thrash "PSI some total did not rise within 10 s (delta $delta us)"
	fi
	check thrash_survives_memcg_limit pid_alive "$pid"
	kill_tree "$pid"

	# forker 3: three descendants, a chain, all sleeping
	local -a kids
	spawn pid "$HELPERS/forker" 3 >"$dir/forker.out"
	if wait_for 5 eval "(( \$(wc -l <'$dir/forker.out') >= 3 ))"; then
		sleep 0.1
		mapfile -t kids <"$dir/forker.out"
		check forker_prints_3_pids test "${#kids[@]}" -eq 3
		local parent=$pid ok=1 k
		for k in "${kids[@]}"; do
			[[ $(awk '{print $4}' "/proc/$k/stat" 2>/dev/null) == "$parent" ]] || ok=0
			pid_alive "$k" || ok=0
			parent=$k
		done
		if ((ok)); then
			pass forker_chain_of_descendants
		else
			fail forker_chain_of_descendants "pids ${kids[*]} are not a live chain under $pid"
		fi
		# Orphaned descendants (middle of the chain killed) are still cleaned up.
		kill -KILL "${kids[0]}"
		sleep 0.1
		kill_tree "$pid"
		local alive=0
		for k in "${kids[@]}"; do pid_alive "$k" && alive=1; done
		check forker_tree_killed_with_orphans test "$alive" -eq 0
	else
		fail forker_prints_3_pids "got $(wc -l <"$dir/forker.out") lines in 5 s"
	fi

	# sigwatch: SIGTERM stamp, SIGUSR1 trim, --ignore-term
	local stamp=$dir/sig.stamp st
	spawn pid "$HELPERS/sigwatch" --stamp-file "$stamp" --anon 16 --on-usr1-trim \
		--ready-file "$dir/sig.ready" 2>"$dir/sig.err"
	if wait_for 5 test -s "$dir/sig.ready"; then
		anon=$(proc_status_kib "$pid" RssAnon)
		kill -USR1 "$pid"
		wait_for 5 grep -q '^trimmed ' "$stamp"
		check sigwatch_usr1_stamp grep -qE '^usr1 [0-9]+$' "$stamp"
		local anon2
		anon2=$(proc_status_kib "$pid" RssAnon)
		note "sigwatch --anon 16: RssAnon ${anon} kB, after SIGUSR1 trim ${anon2} kB"
		check sigwatch_usr1_trims test "$anon2" -lt $((anon - 15000))
		kill -TERM "$pid"
		wait "$pid"
		st=$?
		check sigwatch_term_exits_0 test "$st" -eq 0
		check sigwatch_term_stamp grep -qE '^term [0-9]+$' "$stamp"
		local a b
		a=$(awk '$1=="usr1"{print $2}' "$stamp")
		b=$(awk '$1=="term"{print $2}' "$stamp")
		check sigwatch_stamps_monotonic test "$b" -gt "$a"
	else
		fail sigwatch_term_stamp "sigwatch did not say ready"
	fi
	: >"$stamp"
	spawn pid "$HELPERS/sigwatch" --stamp-file "$stamp" --ignore-term --ready-file "$dir/sig2.ready" \
		2>/dev/null
	wait_for 5 test -s "$dir/sig2.ready"
	kill -TERM "$pid"
	wait_for 5 grep -qx ignored "$stamp"
	check sigwatch_ignore_term_keeps_running pid_alive "$pid"
	check sigwatch_ignore_term_logs grep -qx ignored "$stamp"

	# Leave some running for the EXIT trap to clean: memhog in a memcg, a forker chain,
	# a sleeping sigwatch, and the memcgs.
	cg=$(memcg_create leftover 32M)
	memcg_spawn pid "$cg" "$HELPERS/memhog" --anon 4 --ready-file "$dir/left.ready"
	spawn pid "$HELPERS/forker" 2 >/dev/null
	wait_for 5 test -s "$dir/left.ready"
}

# ---------------------------------------------------------------- phase: library

phase_library() {
	local t0 t1 v out st
	_now_us t0
	wait_for 0.3 false
	v=$?
	_now_us t1
	check wait_for_times_out test "$v" -eq 1
	check wait_for_timeout_length test $((t1 - t0)) -ge 300000 -a $((t1 - t0)) -lt 1500000
	check wait_for_succeeds wait_for 1 true
	_to_bytes 64M v && check to_bytes_suffix test "$v" -eq 67108864
	out=$(CI=true bash -c '. "$1"; skip x why' _ "$_COMMON_DIR/common.sh")
	st=$?
	check skip_prints_fail_in_ci test "$out" = "FAIL x: why (skipped, and CI=true)" -a "$st" -eq 1
	check skip_prints_skip bash -c \
		'CI=; . "$1"; out=$(skip x why); [[ $out == "SKIP x: why" ]]' _ "$_COMMON_DIR/common.sh"
	out=$(CI=true bash -c '. "$1"; skip_host x "no such facility"' _ "$_COMMON_DIR/common.sh")
	st=$?
	check skip_host_prints_na_in_ci test "$out" = "NA x: no such facility" -a "$st" -eq 0
	out=$(bash -c '. "$1"; fail x "a
b"; exit 0' _ "$_COMMON_DIR/common.sh")
	st=$?
	check fail_one_line_and_exit_1 test "$out" = "FAIL x: a | b" -a "$st" -eq 1
	out=$(bash -c '. "$1"; on_exit echo one; on_exit echo "two words"; x=$(on_exit echo from-subshell); echo body' \
		_ "$_COMMON_DIR/common.sh")
	check on_exit_reverse_order test "$out" = $'body\nfrom-subshell\ntwo words\none'
	out=$(CI="" bash -c '. "$1"; skip_all "no"; echo unreachable' _ "$_COMMON_DIR/common.sh")
	check skip_all_exits test "$out" = "SKIP _: no"
}

# ---------------------------------------------------------------- phase: daemon

# daemon_* and log_* against a stand-in for build/memshed.
phase_daemon() {
	local dir t0 t1 out st
	tmpdir_create dir
	echo "$dir" >>"$SELFTEST_TMPDIRS"
	cat >"$dir/fake-memshed" <<'EOF'
#!/bin/bash
# Stands in for build/memshed run: FAKE_MODE=normal|stubborn|die
echo "fake memshed: $*" >&2
case ${FAKE_MODE:-normal} in
die) echo '{"type":"error","msg":"cannot load"}'; exit 3 ;;
stubborn) trap '' TERM ;;
*) trap 'echo "{\"type\":\"notice\",\"msg\":\"exiting\"}"; exit 0' TERM ;;
esac
sleep 0.3
echo '{"ts":1,"type":"notice","msg":"ready"}'
n=0
while :; do n=$((n + 1)); echo "{\"type\":\"tick\",\"n\":$n}"; sleep 0.1; done
EOF
	chmod 755 "$dir/fake-memshed"
	echo "[memshed]" >"$dir/memshed.conf"
	MEMSHED=$dir/fake-memshed

	export FAKE_MODE=normal
	daemon_start "$dir/memshed.conf" --dry-run
	daemon_wait_ready 5 && pass daemon_wait_ready
	check daemon_start_args grep -qF -- "run --config $dir/memshed.conf --log-format json --dry-run" "$DAEMON_ERR"
	log_mark
	check log_mark_hides_earlier eval '! log_wait 0.3 "\"msg\":\"ready\""'
	check log_wait_sees_later log_wait 2 '"type":"tick"'
	check log_grep_prints_lines eval 'log_grep "\"n\":[0-9]+" | grep -q tick'
	daemon_stop
	check daemon_stop_by_term test "$DAEMON_STATUS" -eq 0
	check daemon_stop_term_handled grep -q exiting "$DAEMON_LOG"

	export FAKE_MODE=stubborn
	daemon_start "$dir/memshed.conf"
	check daemon_second_log test "$(basename "$DAEMON_LOG")" = daemon.2.log
	daemon_wait_ready 5 && pass daemon_wait_ready_again
	_now_us t0
	daemon_stop >/dev/null
	_now_us t1
	note "stubborn daemon: SIGKILL after $(((t1 - t0) / 1000)) ms, status $DAEMON_STATUS"
	check daemon_stop_escalates_to_kill test "$DAEMON_STATUS" -eq 137 -a $((t1 - t0)) -ge 5000000

	out=$(FAKE_MODE=die MEMSHED=$MEMSHED bash -c '. "$1"; daemon_start "$2"; daemon_wait_ready 5' \
		_ "$_COMMON_DIR/common.sh" "$dir/memshed.conf" 2>&1)
	st=$?
	check daemon_wait_ready_sees_death eval \
		'[[ $st -eq 1 && $out == *"FAIL daemon_ready: memshed exited with status 3"* && $out == *cannot\ load* ]]'
}

# ---------------------------------------------------------------- phase: abort

phase_abort() {
	local cg pid dir
	tmpdir_create dir
	echo "$dir" >>"$SELFTEST_TMPDIRS"
	cg=$(memcg_create abort 32M)
	memcg_spawn pid "$cg" "$HELPERS/memhog" --anon 8 --ready-file "$dir/r" >/dev/null 2>&1
	spawn pid "$HELPERS/forker" 3 >/dev/null 2>&1
	spawn pid "$HELPERS/sigwatch" --ignore-term --stamp-file "$dir/s" >/dev/null 2>&1
	wait_for 5 test -s "$dir/r"
	fail abort_phase "(expected) about to be killed"
	kill -TERM $$
	sleep 5
	echo "not killed"
}

# ---------------------------------------------------------------- driver

if [[ ${1:-} == --phase ]]; then
	require_root
	"phase_$2"
	exit
fi

require_root

# Build missing or stale helpers.
mkdir -p "$HELPERS"
for src in "$REPO_ROOT"/tests/helpers/*.c; do
	bin=$HELPERS/$(basename "$src" .c)
	if [[ ! -x $bin || $src -nt $bin ]]; then
		cc -O2 -g -Wall -Wextra -D_GNU_SOURCE "$src" -lm -o "$bin" || {
			fail "build_$(basename "$bin")" "cc failed"
			continue
		}
	fi
done

leftovers() {
	local what=$1 root d
	root=$(memcg_test_root)
	if [[ -e $root ]]; then
		fail "${what}_no_memcg_left" "$root still exists: $(find "$root" -type d | tr '\n' ' ')"
	else
		pass "${what}_no_memcg_left"
	fi
	local procs
	procs=$(helper_pids)
	if [[ -n $procs ]]; then
		fail "${what}_no_helper_left" "$procs"
		while read -r p _; do kill_tree "$p"; done <<<"$procs"
	else
		pass "${what}_no_helper_left"
	fi
	local left=
	while read -r d; do
		[[ -n $d && -e $d ]] && left+="$d "
	done <"$SELFTEST_TMPDIRS"
	left+=$(comm -13 "$_STATE_DIR/tmp.before" <(tmp_snapshot | sort) | tr '\n' ' ')
	if [[ -n $left ]]; then
		fail "${what}_no_tmpdir_left" "$left"
	else
		pass "${what}_no_tmpdir_left"
	fi
}

export SELFTEST_TMPDIRS=$_STATE_DIR/tmpdirs
: >"$SELFTEST_TMPDIRS"
# Temp dirs of the library that exist before the phases run (other runs' or ours).
tmp_snapshot() {
	compgen -G "${TMPDIR:-/tmp}/memshed-test*" || true
	compgen -G "/var/tmp/memshed-test*" || true
}
tmp_snapshot | sort >"$_STATE_DIR/tmp.before"

if [[ -n $(helper_pids) ]]; then
	skip_all "helper processes are already running: $(helper_pids | tr '\n' ' ')"
fi

bash "$SELF" --phase library
st=$?
check library_phase_exit_0 test "$st" -eq 0
bash "$SELF" --phase main
st=$?
check main_phase_exit_0 test "$st" -eq 0
bash "$SELF" --phase daemon
st=$?
check daemon_phase_exit_0 test "$st" -eq 0
leftovers after_pass

out=$(timeout 30 bash "$SELF" --phase abort 2>&1)
st=$?
check abort_phase_killed_by_term test "$st" -eq 143
check abort_phase_stopped_at_term eval '! grep -q "not killed" <<<"$out"'
leftovers after_sigterm
