# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# tests/lib/common.sh: the shell library of the integration tests.
#
#   . "$(dirname "$0")/../lib/common.sh"
#
# Reporting (one line each on stdout; tests/run-all counts them):
#   pass NAME | fail NAME MSG | skip NAME MSG     PASS NAME / FAIL NAME: MSG / SKIP NAME: MSG
#                                                 (with CI=true a skip is printed and counted as FAIL)
#   check NAME CMD...        run CMD (output captured); pass, or fail with its status and last lines
#   wait_for TIMEOUT_S CMD...  poll CMD every 50 ms until it succeeds (0) or TIMEOUT_S passes (1);
#                            CMD may be a shell function; its output is discarded
#   note MSG                 "# MSG" (ignored by the counter)
#   skip_host NAME MSG       NA (not SKIP, so not a failure with CI=true; run-all lists and counts
#                            it apart): the host lacks a kernel facility no package or setup
#                            provides (e.g. the memory controller on cgroup2 of a hybrid host);
#                            MSG says which. A missing package or tool is a plain skip.
#   skip_all MSG             SKIP (CI: FAIL) the whole script and exit
#   require_root             skip_all unless root and /sys/kernel/btf/vmlinux is readable
#   require_built            skip_all unless $MEMSHED and the helpers are built
# The script's exit status is 1 when any FAIL was printed (from the EXIT trap).
#
# Cleanup (do not set your own EXIT/INT/TERM traps; register with on_exit):
#   on_exit CMD...           run CMD at exit (normal, failure, INT/TERM/HUP), last registered first;
#                            works from subshells too, e.g. inside $(...)
#   spawn VAR CMD...         start executable CMD in the background in a session of its own,
#                            pid in VAR; at exit SIGKILL its whole session (orphaned grandchildren
#                            included, frozen ones thawed first) and reap it. Redirections on the
#                            spawn call apply to CMD. Call it directly, not inside $(...).
#   kill_tree PID            what spawn's cleanup does, callable earlier
#   tmpdir_create VAR        a temp dir on a disk-backed fs (not tmpfs: page cache must be
#                            reclaimable), removed at exit (kept with MEMSHED_TEST_KEEP=1)
#
# Memory cgroups (v1 memory hierarchy when mounted, else cgroup2 with the memory controller):
#   memcg_create NAME LIMIT  LIMIT in bytes or with K/M/G suffix; prints the path
#                            (<memory root>/memshed-test/NAME.PID), no swap for it, removal registered
#   memcg_enter PATH PID     move PID into it
#   memcg_spawn VAR PATH CMD...  spawn CMD already inside PATH (from its first instruction)
#   memcg_remove PATH        move its processes out, kill them, rmdir (retrying), drop memshed-test
#                            when empty
#   drop_caches              sync; echo 3 > /proc/sys/vm/drop_caches
#   pressure_start VAR [MEMCG_MiB [FILE_MiB]]  real memory pressure (DESIGN.md 10): a 64 MiB memcg,
#                            caches dropped, thrash reading a 128 MiB file through mmap in it;
#                            thrash's pid in VAR. PSI "some" rises within seconds.
#   psi_some_total           /proc/pressure/memory "some" total, in microseconds
#   proc_status_kib PID FIELD  e.g. VmRSS, RssAnon: the value in kB from /proc/PID/status
#   pid_alive PID            running (exists and not a zombie)
#   wait_quiet PID SECONDS   until PID used no CPU time for 2 s in a row (1 if not within SECONDS):
#                            e.g. memcached's LRU maintainer, busy for a while after a fill
#
# Swap of the test's own (swap the host has is never touched):
#   swap_create VAR MiB      a swapfile under /var/tmp, made and swapped on; its path in VAR;
#                            swapoff and removal registered. Returns 1 if the host cannot (no
#                            room, no swap support; the file still goes at exit): the caller skips
#   swap_off FILE | swap_on FILE  take it out of use (a no-op if it is not in use) / back in
#
# The daemon:
#   MEMSHED, HELPERS         build/memshed and build/tests/helpers of this tree (absolute paths;
#                            override from the environment)
#   daemon_start CONFIG [ARGS...]  "$MEMSHED" run --config CONFIG --log-format json ARGS in the
#                            background; stdout to $DAEMON_LOG, stderr to $DAEMON_ERR, pid in
#                            DAEMON_PID; stopping it is registered. A fresh log per start.
#   daemon_wait_ready [TIMEOUT_S]  (default 10) until the log has the ready notice
#                            ("msg":"ready" or "type":"ready"); FAIL daemon_ready and return 1 if it
#                            dies or times out (the logs' tails are shown)
#   daemon_stop [PID]        SIGTERM, up to 5 s, then SIGKILL; exit status in DAEMON_STATUS
#   log_mark                 later log_wait/log_grep look only at what the log gets after this
#   log_wait TIMEOUT_S ERE [FILE]  until grep -E matches in $DAEMON_LOG (or FILE) past the mark
#   log_grep ERE [FILE]      print the matching lines past the mark
#   memshed_unload NAME      `memshed unload NAME`, retried (10 s) while a round is in progress
#
# Needs bash >= 4.4. The library sets -u; it does not set -e.

set -u

[[ -n ${_MEMSHED_COMMON_SH:-} ]] && return 0
_MEMSHED_COMMON_SH=1

_COMMON_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd "$_COMMON_DIR/../.." && pwd -P)
MEMSHED=${MEMSHED:-$REPO_ROOT/build/memshed}
HELPERS=${HELPERS:-$REPO_ROOT/build/tests/helpers}
# Each test script talks to its own daemon: tests (and an operator's
# memshed) never share a control socket. memshed reads MEMSHED_SOCKET.
export MEMSHED_SOCKET=${MEMSHED_SOCKET:-${MEMSHED_SOCK:-/run/memshed/test-$$.sock}}
MEMSHED_SOCK=$MEMSHED_SOCKET
TEST_NAME=${TEST_NAME:-$(basename "$0" .sh)}

_MAIN_PID=$BASHPID
_STATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/memshed-test-state.XXXXXX") || {
	echo "common.sh: mktemp failed" >&2
	exit 1
}
_CLEANUP_FILE=$_STATE_DIR/cleanup
_RESULTS_FILE=$_STATE_DIR/results
: >"$_CLEANUP_FILE"
: >"$_RESULTS_FILE"

# ---------------------------------------------------------------- reporting

_ci() { [[ ${CI:-} == true ]]; }

# One line per message: newlines become " | ".
_oneline() {
	local s=${1//$'\n'/ | }
	printf '%s' "${s%" | "}"
}

pass() {
	printf 'PASS %s\n' "$1"
	echo P >>"$_RESULTS_FILE"
	return 0
}

fail() {
	printf 'FAIL %s: %s\n' "$1" "$(_oneline "${2:-failed}")"
	echo F >>"$_RESULTS_FILE"
	return 0
}

skip() {
	if _ci; then
		printf 'FAIL %s: %s (skipped, and CI=true)\n' "$1" "$(_oneline "${2:-skipped}")"
		echo F >>"$_RESULTS_FILE"
	else
		printf 'SKIP %s: %s\n' "$1" "$(_oneline "${2:-skipped}")"
		echo S >>"$_RESULTS_FILE"
	fi
	return 0
}

skip_host() {
	printf 'NA %s: %s\n' "$1" "$(_oneline "${2:-skipped}")"
	echo S >>"$_RESULTS_FILE"
	return 0
}

note() { printf '# %s\n' "$*"; }

skip_all() {
	if _ci; then
		printf 'FAIL %s: %s (cannot run, and CI=true)\n' "$TEST_NAME" "$(_oneline "$1")"
		echo F >>"$_RESULTS_FILE"
		exit 1
	fi
	printf 'SKIP %s: %s\n' "$TEST_NAME" "$(_oneline "$1")"
	exit 0
}

# Locals here are __-prefixed: CMD runs with this function's scope visible.
check() {
	local __check_name=$1 __check_out __check_rc
	shift
	__check_out=$("$@" 2>&1)
	__check_rc=$?
	if ((__check_rc == 0)); then
		pass "$__check_name"
		return 0
	fi
	fail "$__check_name" "'$*' exited $__check_rc${__check_out:+: $(tail -n 3 <<<"$__check_out")}"
	return 1
}

# _now_us VAR: wall clock in microseconds, without a fork.
_now_us() { printf -v "$1" '%s' "${EPOCHREALTIME//[!0-9]/}"; }

# _sec_to_us SECONDS VAR: "2", "0.5", "1.25" -> microseconds.
_sec_to_us() {
	local i f
	if [[ ! $1 =~ ^([0-9]*)(\.([0-9]*))?$ || $1 == . || -z $1 ]]; then
		echo "common.sh: bad number of seconds: '$1'" >&2
		return 2
	fi
	i=${BASH_REMATCH[1]:-0}
	f=${BASH_REMATCH[3]:-}000000
	printf -v "$2" '%d' $((10#$i * 1000000 + 10#${f:0:6}))
}

wait_for() {
	local __wf_timeout __wf_now __wf_deadline
	_sec_to_us "$1" __wf_timeout || return 2
	shift
	_now_us __wf_now
	__wf_deadline=$((__wf_now + __wf_timeout))
	while :; do
		"$@" >/dev/null 2>&1 && return 0
		_now_us __wf_now
		((__wf_now >= __wf_deadline)) && return 1
		sleep 0.05
	done
}

require_root() {
	[[ $EUID -eq 0 ]] || skip_all "needs root"
	[[ -r /sys/kernel/btf/vmlinux ]] || skip_all "needs kernel BTF at /sys/kernel/btf/vmlinux"
}

require_built() {
	local h
	[[ -x $MEMSHED ]] || skip_all "$MEMSHED is not built (run make)"
	for h in memhog thrash sigwatch forker; do
		[[ -x $HELPERS/$h ]] || skip_all "$HELPERS/$h is not built (run make test)"
	done
}

# ---------------------------------------------------------------- cleanup

on_exit() {
	local cmd
	printf -v cmd '%q ' "$@"
	printf '%s\n' "$cmd" >>"$_CLEANUP_FILE"
}

_show_log_tail() {
	local f=$1 n=${2:-25}
	[[ -s $f ]] || return 0
	printf '# --- last %d lines of %s\n' "$n" "$f"
	tail -n "$n" "$f" | sed 's/^/#   /'
}

_run_cleanup() {
	local rc=$? line failed=0 i
	local -a cmds
	[[ $BASHPID == "$_MAIN_PID" ]] || return "$rc"
	trap '' INT TERM HUP
	set +e
	grep -q F "$_RESULTS_FILE" 2>/dev/null && failed=1
	if ((failed)) && [[ -n ${DAEMON_LOG:-} ]]; then
		_show_log_tail "$DAEMON_LOG"
		_show_log_tail "${DAEMON_ERR:-}"
	fi
	mapfile -t cmds < <(tac "$_CLEANUP_FILE")
	for ((i = 0; i < ${#cmds[@]}; i++)); do
		line=${cmds[i]}
		eval "$line" </dev/null || printf '# cleanup step failed: %s\n' "$line" >&2
	done
	# Steps registered while cleaning up (rare) run too.
	if [[ $(wc -l <"$_CLEANUP_FILE") -gt ${#cmds[@]} ]]; then
		mapfile -t cmds < <(head -n -"${#cmds[@]}" "$_CLEANUP_FILE" | tac)
		for line in "${cmds[@]}"; do
			eval "$line" </dev/null || printf '# cleanup step failed: %s\n' "$line" >&2
		done
	fi
	rm -rf "$_STATE_DIR"
	if ((rc == 0 && failed)); then
		rc=1
	fi
	exit "$rc"
}

trap _run_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ---------------------------------------------------------------- processes

pid_alive() {
	local s
	[[ -r /proc/$1/stat ]] || return 1
	read -r s <"/proc/$1/stat" 2>/dev/null || return 1
	s=${s##*) }
	[[ ${s:0:1} != Z && ${s:0:1} != X ]]
}

proc_status_kib() {
	local key val _unit
	while read -r key val _unit; do
		if [[ $key == "$2:" ]]; then
			echo "$val"
			return 0
		fi
	done <"/proc/$1/status"
	return 1
}

_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

wait_quiet() {
	local a b quiet=0 i
	a=$(_cpu_ticks "$1")
	for ((i = 0; i < $2 && quiet < 2; i++)); do
		sleep 1
		b=$(_cpu_ticks "$1")
		((b - a <= 1)) && quiet=$((quiet + 1)) || quiet=0
		a=$b
	done
	((quiet >= 2))
}

# _session_pids ID: pids whose process group or session is ID.
_session_pids() {
	local p s st _pp pgrp sid
	for p in /proc/[0-9]*; do
		read -r s <"$p/stat" 2>/dev/null || continue
		s=${s##*) }
		read -r st _pp pgrp sid _ <<<"$s"
		[[ $st == [ZX] ]] && continue
		[[ $pgrp == "$1" || $sid == "$1" ]] && echo "${p#/proc/}"
	done
}

# A v1-frozen task does not die of SIGKILL until thawed; v2 lets fatal signals through.
_thaw_v1() {
	local pid line path root
	root=$(_v1_mount freezer) || return 0
	for pid in "$@"; do
		while IFS= read -r line; do
			[[ $line == *:freezer:* ]] || continue
			path=${line#*:freezer:}
			[[ $path != / && -w $root$path/freezer.state ]] &&
				echo THAWED >"$root$path/freezer.state" 2>/dev/null
		done <"/proc/$pid/cgroup" 2>/dev/null
	done
	return 0
}

# stderr is off in here: bash prints a "Killed" notice when it reaps a job killed by a signal.
kill_tree() {
	local pid=$1 round
	local -a pids
	for ((round = 0; round < 50; round++)); do
		mapfile -t pids < <(_session_pids "$pid")
		pid_alive "$pid" && pids+=("$pid")
		((${#pids[@]})) || break
		_thaw_v1 "${pids[@]}"
		kill -KILL "${pids[@]}"
		sleep 0.02
	done
	wait "$pid"
	return 0
} 2>/dev/null

_spawn() {
	local __var=$1
	shift
	if [[ $- == *m* ]]; then
		"$@" & # job control on: already its own process group
	else
		setsid "$@" & # not a group leader, so setsid(1) execs in place: same pid
	fi
	printf -v "$__var" '%s' "$!"
}

spawn() {
	_spawn "$@" || return
	on_exit kill_tree "${!1}"
}

tmpdir_create() {
	local __var=$1 base=${MEMSHED_TEST_TMPDIR:-} d
	if [[ -z $base ]]; then
		base=${TMPDIR:-/tmp}
		[[ $(stat -f -c %T "$base" 2>/dev/null) == tmpfs ]] && base=/var/tmp
	fi
	d=$(mktemp -d "$base/memshed-test.XXXXXX") || return 1
	on_exit _tmpdir_remove "$d"
	printf -v "$__var" '%s' "$d"
}

_tmpdir_remove() {
	if [[ ${MEMSHED_TEST_KEEP:-} == 1 ]]; then
		printf '# kept %s\n' "$1"
		return 0
	fi
	rm -rf -- "$1"
}

# ---------------------------------------------------------------- swap

swap_on() { swapon "$1"; }

swap_off() {
	swapon --show=NAME --noheadings | grep -qxF "$1" || return 0
	swapoff "$1"
}

swap_create() {
	local __var=$1 __file
	__file=$(mktemp /var/tmp/memshed-swap.XXXXXX) || return 1
	on_exit rm -f "$__file"
	if ! { fallocate -l "$2M" "$__file" 2>/dev/null ||
		dd if=/dev/zero of="$__file" bs=1M count="$2" status=none; }; then
		echo "swap_create: cannot make a $2 MiB file under /var/tmp" >&2
		rm -f "$__file"
		return 1
	fi
	chmod 600 "$__file"
	mkswap -q "$__file" >/dev/null || { echo "swap_create: mkswap $__file failed" >&2; return 1; }
	on_exit swap_off "$__file"
	swap_on "$__file" || { echo "swap_create: swapon $__file failed (no swap support?)" >&2; return 1; }
	printf -v "$__var" '%s' "$__file"
}

# ---------------------------------------------------------------- memory cgroups

# _v1_mount CONTROLLER: mount point of a v1 hierarchy holding CONTROLLER.
_v1_mount() {
	local line pre post f fstype opts
	while IFS= read -r line; do
		pre=${line%% - *}
		post=${line#* - }
		read -r fstype _ opts <<<"$post"
		[[ $fstype == cgroup && ,$opts, == *,"$1",* ]] || continue
		read -ra f <<<"$pre"
		printf '%b\n' "${f[4]}"
		return 0
	done </proc/self/mountinfo
	return 1
}

_v2_mount() {
	local line pre post f fstype
	while IFS= read -r line; do
		pre=${line%% - *}
		post=${line#* - }
		read -r fstype _ <<<"$post"
		[[ $fstype == cgroup2 ]] || continue
		read -ra f <<<"$pre"
		printf '%b\n' "${f[4]}"
		return 0
	done </proc/self/mountinfo
	return 1
}

# Sets _MEMCG_MODE (v1|v2) and _MEMCG_ROOT.
_memcg_detect() {
	local m
	[[ -n ${_MEMCG_MODE:-} ]] && return 0
	if m=$(_v1_mount memory); then
		_MEMCG_MODE=v1 _MEMCG_ROOT=$m
		return 0
	fi
	if m=$(_v2_mount) && grep -qw memory "$m/cgroup.controllers" 2>/dev/null; then
		_MEMCG_MODE=v2 _MEMCG_ROOT=$m
		return 0
	fi
	echo "common.sh: no memory cgroup controller (v1 hierarchy or cgroup2) is mounted" >&2
	return 1
}

# _to_bytes VALUE VAR: 1048576, 64M, 1G, 512K -> bytes.
_to_bytes() {
	local n u
	if [[ ! $1 =~ ^([0-9]+)([KkMmGg]?)[iI]?[bB]?$ ]]; then
		echo "common.sh: bad size '$1'" >&2
		return 2
	fi
	n=${BASH_REMATCH[1]} u=${BASH_REMATCH[2]^^}
	case $u in
	K) n=$((n << 10)) ;;
	M) n=$((n << 20)) ;;
	G) n=$((n << 30)) ;;
	esac
	printf -v "$2" '%d' "$n"
}

memcg_create() {
	local name=$1 limit base path
	_to_bytes "$2" limit || return 2
	_memcg_detect || return 1
	if [[ ! $name =~ ^[A-Za-z0-9._-]+$ ]]; then
		echo "memcg_create: bad name '$name'" >&2
		return 2
	fi
	base=$_MEMCG_ROOT/memshed-test
	# The test's pid in the name: concurrent test runs never share (or
	# clean up) each other's groups.
	path=$base/$name.$_MAIN_PID
	if [[ -d $path ]]; then # left over by a run that was killed
		memcg_remove "$path" >&2 || return 1
	fi
	if [[ $_MEMCG_MODE == v2 ]]; then
		grep -qw memory "$_MEMCG_ROOT/cgroup.subtree_control" ||
			echo +memory >"$_MEMCG_ROOT/cgroup.subtree_control" || return 1
		mkdir -p "$base" || return 1
		grep -qw memory "$base/cgroup.subtree_control" ||
			echo +memory >"$base/cgroup.subtree_control" || return 1
	else
		mkdir -p "$base" || return 1
	fi
	mkdir "$path" || return 1
	on_exit memcg_remove "$path"
	if [[ $_MEMCG_MODE == v1 ]]; then
		echo "$limit" >"$path/memory.limit_in_bytes" || return 1
		[[ -e $path/memory.swappiness ]] && echo 0 >"$path/memory.swappiness"
		# memsw (memory+swap) limit = memory limit: no swap at all, where swap is accounted
		[[ -e $path/memory.memsw.limit_in_bytes ]] &&
			echo "$limit" >"$path/memory.memsw.limit_in_bytes" 2>/dev/null
	else
		echo "$limit" >"$path/memory.max" || return 1
		[[ -e $path/memory.swap.max ]] && echo 0 >"$path/memory.swap.max"
	fi
	echo "$path"
}

memcg_enter() {
	echo "$2" >"$1/cgroup.procs"
}

memcg_spawn() {
	local __var=$1 path=$2
	shift 2
	# shellcheck disable=SC2016
	spawn "$__var" bash -c 'echo $$ >"$1/cgroup.procs" || exit 125; shift; exec "$@"' \
		memcg_spawn "$path" "$@"
}

memcg_remove() {
	local path=$1 root d pid i
	local -a dirs pids
	[[ -d $path ]] || return 0
	_memcg_detect || return 1
	root=$_MEMCG_ROOT
	for ((i = 0; i < 100; i++)); do # (stderr off: see kill_tree)
		mapfile -t dirs < <(find "$path" -depth -type d 2>/dev/null)
		for d in "${dirs[@]}"; do
			mapfile -t pids <"$d/cgroup.procs" 2>/dev/null
			((${#pids[@]})) || continue
			_thaw_v1 "${pids[@]}"
			for pid in "${pids[@]}"; do
				echo "$pid" >"$root/cgroup.procs" 2>/dev/null
				kill -KILL "$pid" 2>/dev/null
			done
		done
		for d in "${dirs[@]}"; do
			rmdir "$d" 2>/dev/null
		done
		[[ -d $path ]] || break
		sleep 0.05
	done 2>/dev/null
	rmdir "$(dirname "$path")" 2>/dev/null # memshed-test itself, once empty
	if [[ -d $path ]]; then
		echo "memcg_remove: $path is still there" >&2
		return 1
	fi
	return 0
}

drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

psi_some_total() {
	local kind rest
	while read -r kind rest; do
		if [[ $kind == some ]]; then
			rest=${rest##*total=}
			echo "${rest%% *}"
			return 0
		fi
	done </proc/pressure/memory
	return 1
}

pressure_start() {
	local __var=$1 memcg_mib=${2:-64} file_mib=${3:-128} dir cg
	tmpdir_create dir || return 1
	"$HELPERS/thrash" "$dir/thrash.dat" "$file_mib" --seconds 0 || return 1
	cg=$(memcg_create "pressure-$BASHPID-$RANDOM" "${memcg_mib}M") || return 1
	drop_caches
	memcg_spawn "$__var" "$cg" "$HELPERS/thrash" "$dir/thrash.dat" "$file_mib" --comm thrash
}

# ---------------------------------------------------------------- the daemon

DAEMON_PID=
DAEMON_LOG=
DAEMON_ERR=
DAEMON_STATUS=
LOG_MARK=0
_DAEMON_DIR=
_DAEMON_N=0
_DAEMON_STARTED=

daemon_start() {
	local config=$1
	shift
	if [[ ! -x $MEMSHED ]]; then
		fail daemon_start "$MEMSHED is not built"
		return 1
	fi
	[[ -n $_DAEMON_DIR ]] || tmpdir_create _DAEMON_DIR || return 1
	_DAEMON_N=$((_DAEMON_N + 1))
	DAEMON_LOG=$_DAEMON_DIR/daemon.$_DAEMON_N.log
	DAEMON_ERR=$_DAEMON_DIR/daemon.$_DAEMON_N.err
	_DAEMON_STARTED=$_DAEMON_DIR/started.$_DAEMON_N
	: >"$DAEMON_LOG"
	: >"$DAEMON_ERR"
	touch "$_DAEMON_STARTED"
	LOG_MARK=0
	_spawn DAEMON_PID "$MEMSHED" run --config "$config" --log-format json "$@" \
		>"$DAEMON_LOG" 2>"$DAEMON_ERR"
	# A pid stopped earlier and now reused by this daemon: it must be stoppable again
	# (a long run on a busy host wraps pid_max: bench/run once left a daemon running).
	_DAEMON_STOPPED=" ${_DAEMON_STOPPED:-} "
	_DAEMON_STOPPED=${_DAEMON_STOPPED// $DAEMON_PID / }
	on_exit daemon_stop "$DAEMON_PID"
}

daemon_stop() {
	local pid=${1:-$DAEMON_PID} i
	[[ -n $pid ]] || return 0
	[[ " ${_DAEMON_STOPPED:-} " == *" $pid "* ]] && return 0
	_DAEMON_STOPPED="${_DAEMON_STOPPED:-} $pid"
	if pid_alive "$pid"; then
		kill -TERM "$pid"
		for ((i = 0; i < 100; i++)); do
			pid_alive "$pid" || break
			sleep 0.05
		done
		if pid_alive "$pid"; then
			printf '# memshed (pid %d) still running 5 s after SIGTERM: SIGKILL\n' "$pid"
			kill -KILL "$pid"
		fi
	fi 2>/dev/null
	{ wait "$pid"; } 2>/dev/null
	DAEMON_STATUS=$?
	kill_tree "$pid" # anything it left in its session (exec: actions)
	return 0
}

_daemon_log_ready() {
	grep -qE '"msg": ?"ready"|"type": ?"ready"' < <(tail -c +"$((LOG_MARK + 1))" "$DAEMON_LOG")
}

daemon_wait_ready() {
	local timeout_us now deadline sock_since=
	_sec_to_us "${1:-10}" timeout_us || return 2
	_now_us now
	deadline=$((now + timeout_us))
	while :; do
		_daemon_log_ready && return 0
		if ! pid_alive "$DAEMON_PID"; then
			{ wait "$DAEMON_PID"; } 2>/dev/null
			DAEMON_STATUS=$?
			fail daemon_ready "memshed exited with status $DAEMON_STATUS before it was ready"
			_show_log_tail "$DAEMON_LOG"
			_show_log_tail "$DAEMON_ERR"
			return 1
		fi
		_now_us now
		# The ready line is what counts; a fresh socket with no line is accepted after 1 s.
		if [[ -S $MEMSHED_SOCK && $MEMSHED_SOCK -nt $_DAEMON_STARTED ]]; then
			[[ -n $sock_since ]] || sock_since=$now
			if ((now - sock_since >= 1000000)); then
				note "daemon_wait_ready: $MEMSHED_SOCK is up but the log has no ready line"
				return 0
			fi
		fi
		if ((now >= deadline)); then
			fail daemon_ready "no ready line from memshed within ${1:-10} s"
			_show_log_tail "$DAEMON_LOG"
			_show_log_tail "$DAEMON_ERR"
			return 1
		fi
		sleep 0.05
	done
}

log_mark() {
	LOG_MARK=$(stat -c %s "${1:-$DAEMON_LOG}")
}

_log_has() {
	grep -qE -e "$1" < <(tail -c +"$((LOG_MARK + 1))" "$2")
}

log_wait() {
	wait_for "$1" _log_has "$2" "${3:-$DAEMON_LOG}"
}

log_grep() {
	grep -E -e "$1" < <(tail -c +"$((LOG_MARK + 1))" "${2:-$DAEMON_LOG}")
}

memshed_unload() {
	local i out
	for ((i = 0; i < 50; i++)); do
		out=$("$MEMSHED" unload "$1" 2>&1) && return 0
		[[ $out == *"in progress"* ]] || { echo "$out" >&2; return 1; }
		sleep 0.2
	done
	echo "$out" >&2
	return 1
}
