#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# Gentle unloads (issue 12) on software we did not write, with a swapfile
# of the test's own (swap the host has is never touched):
#  - hibernate: a redis holding ~200 MiB is frozen and paged out by
#    `memshed unload`, stays alive, and a GET thaws it on access (cause=access)
#    and is answered with the right value within 1 s;
#  - reclaim: a filled memcached is paged out while it serves; memory_freed
#    is the measured RSS drop;
#  - without swap, reclaim reports file-only and the ladder falls through to
#    its next step;
#  - of two hibernated redis, only the one contacted thaws; the other stays
#    frozen until pressure is relieved;
#  - a ladder (medium reclaim, high hibernate, critical term) on a redis:
#    at critical the hibernated redis is thawed, gets its SIGTERM and exits;
#  - a memcached alone in a cgroup2 group is reclaimed through the group's
#    memory.reclaim where cgroup2 has the memory controller, by process
#    (saying why) where not, or where a stranger shares the group.
. "$(dirname "$0")/../lib/common.sh"
require_root
require_built
tmpdir_create dir
chmod 755 "$dir"
for prog in redis-server redis-cli memcached python3 jq mkswap swapon swapoff; do
	command -v "$prog" >/dev/null || skip_all "$prog is not installed (tools/install-deps --test)"
done

base=$((20000 + ($$ * 7) % 20000))
P_R=$base P_MC=$((base + 1)) P_R1=$((base + 2)) P_R2=$((base + 3)) P_RL=$((base + 4)) P_MG=$((base + 5)) P_S=$((base + 6)) P_F=$((base + 7))

status_json() { "$MEMSHED" status --json; }
field() { status_json | jq -r --arg n "$1" ".components[] | select(.name == \$n) | .$2"; }
rss_bytes() { echo $(($(proc_status_kib "$1" VmRSS) * 1024)); }
mib() { echo $((${1} >> 20)); }
jfield() { sed -n "s/.*\"$2\":\"\{0,1\}\([^,\"}]*\).*/\1/p" <<<"$1" | head -1; }
# The process's state letter in the freezer: v2 cgroup.events says frozen.
is_frozen() { # COMPONENT
	local f
	for f in /sys/fs/cgroup/unified/memshed/"$1"/cgroup.events; do
		grep -q '^frozen 1' "$f" 2>/dev/null && return 0
	done
	return 1
}
# ------------------------------------------------------------ swap of our own

host_swap=$(swapon --show=NAME --noheadings | wc -l)
swap_create swapfile 768 || skip_all "cannot make a swapfile of our own (see above)"
note "swap: ours 768 MiB, the host's own: $host_swap device(s)"

conf_common() {
	cat <<CONF
[memshed]
total_limit = 16G           ; no pressure unless a test makes some
min_idle_time = 0s
check_interval = 1s
cooldown = 300ms
round_timeout = 30s
settle_time = 1s
psi_medium_some = 0
psi_high_some = 0
psi_critical_some = 0
psi_medium_full = 0
psi_high_full = 0
psi_critical_full = 0
event_log = $dir/events.ring
CONF
}

# daemon_labelled CONFIG WHAT: start the daemon and wait until it has labelled
# the one process the test runs for it.
daemon_labelled() {
	daemon_start "$1"
	daemon_wait_ready || exit 1
	wait_for 5 bash -c "[[ \$('$MEMSHED' status --json | jq '[.components[].nr_pids] | add') == 1 ]]" ||
		fail setup "$2 was not labelled"
}

# one_comp FILE NAME MATCH ACTION: the common settings and one component.
one_comp() {
	{
		conf_common
		printf '\n[component %s]\nmatch = %s\npriority = 10\naction = %s\n' "$2" "$3" "$4"
	} >"$1"
	chmod 600 "$1"
}


# ------------------------------------------------------------ hibernate: redis

one_comp "$dir/hib.conf" cache "cmdline:^redis-server 127\\.0\\.0\\.1:$P_R( |$)" hibernate
spawn redis redis-server --port "$P_R" --bind 127.0.0.1 --save '' --appendonly no --enable-debug-command local \
	--daemonize no --logfile "$dir/redis.log"
wait_for 10 redis-cli -p "$P_R" PING || fail setup "redis never answered"
redis-cli -p "$P_R" DEBUG POPULATE 200000 key 1000 >/dev/null
want=$(redis-cli -p "$P_R" GET key:1 | md5sum)
daemon_labelled "$dir/hib.conf" "redis"
before=$(rss_bytes "$redis")
log_mark
t0=${EPOCHREALTIME}
check hibernate_unload memshed_unload cache
if log_wait 30 '"type":"result".*"component":"cache"'; then
	res=$(log_grep '"type":"result".*"component":"cache"' | head -1)
	after=$(rss_bytes "$redis")
	note "redis hibernate: RSS $(mib "$before") MiB -> $(mib "$after") MiB;" \
		"memory_freed $(jfield "$res" memory_freed_bytes) B in $(jfield "$res" duration_ms) ms," \
		"$(jfield "$res" batches) batches (longest $(jfield "$res" longest_batch_ms) ms)," \
		"reclaimable $(jfield "$res" reclaimable)"
	check hibernate_result grep -q '"result":"hibernated"' <<<"$res"
	check hibernate_frees_70pct test $((after * 10)) -le $((before * 3))
	check hibernate_alive pid_alive "$redis"
	check hibernate_frozen is_frozen cache
	check hibernate_state_shown bash -c "[[ \$('$MEMSHED' status --json | jq -r '.components[0].state') == hibernated ]]"
	swapped=$(field cache swap_bytes)
	note "status shows cache with $(mib "$swapped") MiB swapped out"
	check hibernate_swap_shown test "$swapped" -gt $((100 << 20))
	sleep 2	# evaluations come and go: nothing thaws it but access
	check hibernate_stays_without_access is_frozen cache
	log_mark
	s=${EPOCHREALTIME}
	got=$(timeout 5 redis-cli -p "$P_R" GET key:1 | md5sum)
	e=${EPOCHREALTIME}
	ms=$(awk -v s="$s" -v e="$e" 'BEGIN { printf "%d", (e - s) * 1000 }')
	check access_answered_right [ "$got" = "$want" ]
	check access_answered_within_1s test "$ms" -le 1000
	if log_wait 5 '"type":"thaw".*"component":"cache"'; then
		th=$(log_grep '"type":"thaw".*"component":"cache"' | head -1)
		note "redis thaw on access: GET answered in $ms ms; knock->thaw $(jfield "$th" knock_to_thaw_ms) ms"
		check thaw_cause_access grep -q '"cause":"access"' <<<"$th"
		check thaw_names_port grep -q "\"port\":$P_R" <<<"$th"
	else
		fail thaw_cause_access "no thaw record"
	fi
	check thawed_not_frozen bash -c "$(declare -f is_frozen); ! is_frozen cache"
	check thawed_state_active bash -c "[[ \$('$MEMSHED' status --json | jq -r '.components[0].state') == active ]]"
	# An operator's `memshed unload` hibernates it again, and again: the second
	# time what the GET brought back came straight back (refaulted), which
	# only the daemon's own decisions skip. (A daemon that evaluates rarely:
	# an evaluation at low pressure forgets the last reclaim.)
	daemon_stop
	sed 's/^check_interval = .*/check_interval = 60s/; s/^cooldown = .*/cooldown = 60s/' \
		"$dir/hib.conf" >"$dir/hib-slow.conf"
	chmod 600 "$dir/hib-slow.conf"
	daemon_labelled "$dir/hib-slow.conf" "redis"
	for n in 2 3; do
		# The last GET's connection gone first: its FIN arriving after the
		# sockets are marked would knock (tcp_probe sees every segment).
		wait_for 5 bash -c "[[ -z \$(ss -Htn 'sport = :$P_R') ]]"
		log_mark
		memshed_unload cache &&
			log_wait 30 '"type":"result".*"component":"cache".*"result":"hibernated"' &&
			pass "unload_hibernates_again_$n" ||
			fail "unload_hibernates_again_$n" "no hibernated result: $(log_grep '"type":"(result|knock|thaw)"' | tail -3)"
		[[ $(timeout 5 redis-cli -p "$P_R" GET key:1 | md5sum) == "$want" ]] ||
			fail "unload_hibernates_again_$n" "GET after it was not answered right"
	done
else
	fail hibernate_result "no result for cache"
fi
daemon_stop
kill_tree "$redis"

# ------------------------------------------------------------ reclaim: memcached

# Matched by its port: another test's memcached on the host is not ours.
one_comp "$dir/rec.conf" mc "cmdline:^memcached -p $P_MC( |\$)" reclaim
spawn mc memcached -p "$P_MC" -l 127.0.0.1 -m 256 -U 0 -u nobody
wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$P_MC" || fail setup "memcached never listened"
fill_memcached() { # [PORT]
	python3 - "${1:-$P_MC}" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
v = b"x" * 1000
for i in range(200000):
    s.sendall(b"set k%d 0 0 1000 noreply\r\n%s\r\n" % (i, v))
s.sendall(b"get k1\r\n")
buf = b""
while not buf.endswith(b"END\r\n"):
    buf += s.recv(65536)
PY
}
mc_get() { # [PORT]
	python3 - "${1:-$P_MC}" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"get k7\r\n")
buf = b""
while not buf.endswith(b"END\r\n"):
    buf += s.recv(65536)
sys.exit(0 if b"x" * 1000 in buf else 1)
PY
}
# After a fill memcached's LRU maintainer moves items between its LRUs for
# a while, touching them: it is busy, not idle. Wait until it rests.
mc_filled() { # PID PORT
	fill_memcached "$2"
	wait_quiet "$1" 60 || note "memcached (port $2) still busy 60 s after the fill"
}
mc_filled "$mc" "$P_MC"
daemon_labelled "$dir/rec.conf" "memcached"
before=$(rss_bytes "$mc")
log_mark
check reclaim_unload memshed_unload mc
if log_wait 30 '"type":"result".*"component":"mc"'; then
	res=$(log_grep '"type":"result".*"component":"mc"' | head -1)
	after=$(rss_bytes "$mc")
	freed=$(jfield "$res" memory_freed_bytes)
	note "memcached reclaim: RSS $(mib "$before") MiB -> $(mib "$after") MiB; memory_freed" \
		"$(mib "$freed") MiB in $(jfield "$res" duration_ms) ms, $(jfield "$res" batches) batches" \
		"(longest $(jfield "$res" longest_batch_ms) ms)"
	check reclaim_result grep -q '"result":"reclaimed"' <<<"$res"
	check reclaim_with_swap grep -q '"reclaimable":"anon+file"' <<<"$res"
	check reclaim_rss_drops test $((after * 2)) -lt "$before"
	check reclaim_freed_is_measured awk -v f="$freed" -v d=$((before - after)) \
		'BEGIN { x = f - d; if (x < 0) x = -x; exit !(x <= d * 0.10) }'
	check reclaim_keeps_serving mc_get
	check reclaim_alive pid_alive "$mc"
else
	fail reclaim_result "no result for mc"
fi
daemon_stop

# ------------------------------------------------------------ no swap: file-only, then the next step

if ((host_swap > 0)); then
	skip noswap_file_only "the host has swap of its own (not ours to turn off)"
else
	swap_off "$swapfile"
	check noswap_swap_is_off bash -c "! swapon --show --noheadings | grep -q ."
	before=$(rss_bytes "$mc")
	# medium at 0.75 of the limit: usage 0.8 of it is medium, not high.
	limit=$((before * 100 / 80))
	conf_common | sed "s/^total_limit = .*/total_limit = $limit/" >"$dir/noswap.conf"
	cat >>"$dir/noswap.conf" <<CONF

[component mc]
match = cmdline:^memcached -p $P_MC( |\$)
priority = 10
action = reclaim
action.high = term
grace = 2s
CONF
	chmod 600 "$dir/noswap.conf"
	log_mark
	daemon_start "$dir/noswap.conf"
	daemon_wait_ready || exit 1
	if log_wait 20 '"type":"result".*"component":"mc".*"action":"reclaim"'; then
		res=$(log_grep '"type":"result".*"component":"mc".*"action":"reclaim"' | head -1)
		check noswap_reclaim_file_only grep -q '"reclaimable":"file-only"' <<<"$res"
		note "memcached reclaim without swap: memory_freed $(jfield "$res" memory_freed_bytes) B"
	else
		fail noswap_reclaim_file_only "no reclaim result for mc"
	fi
	if log_wait 20 '"type":"unload".*"component":"mc".*"action":"term"'; then
		un=$(log_grep '"type":"unload".*"component":"mc".*"action":"term"' | head -1)
		check noswap_falls_through grep -q '"instead_of":"reclaim"' <<<"$un"
		check noswap_next_step_ran wait_for 10 bash -c "$(declare -f pid_alive); ! pid_alive $mc"
	else
		fail noswap_falls_through "no term after the file-only reclaim"
	fi
	daemon_stop
	swap_on "$swapfile" || fail setup "swapon again failed"
fi
kill_tree "$mc"

# ------------------------------------------------------------ two hibernated: only the contacted one thaws

# Usage is a memory cgroup of the test's: a ballast in it makes pressure
# (0.7 of the limit, above low_threshold), and killing it relieves.
cg=$(memcg_create gentle 512M) || skip_all "no memory cgroup"
conf_common | sed "s|^total_limit = .*|total_limit = 100M\nusage_source = cgroup:$cg|" >"$dir/two.conf"
cat >>"$dir/two.conf" <<CONF

[component r1]
match = cmdline:^redis-server 127\.0\.0\.1:$P_R1( |$)
priority = 10
action = hibernate

[component r2]
match = cmdline:^redis-server 127\.0\.0\.1:$P_R2( |$)
priority = 10
action = hibernate
CONF
chmod 600 "$dir/two.conf"
spawn r1 redis-server --port "$P_R1" --bind 127.0.0.1 --save '' --appendonly no --enable-debug-command local --daemonize no \
	--logfile "$dir/r1.log"
spawn r2 redis-server --port "$P_R2" --bind 127.0.0.1 --save '' --appendonly no --enable-debug-command local --daemonize no \
	--logfile "$dir/r2.log"
wait_for 10 redis-cli -p "$P_R1" PING && wait_for 10 redis-cli -p "$P_R2" PING ||
	fail setup "redis r1/r2 never answered"
redis-cli -p "$P_R1" DEBUG POPULATE 20000 key 1000 >/dev/null
redis-cli -p "$P_R2" DEBUG POPULATE 20000 key 1000 >/dev/null
daemon_start "$dir/two.conf"
daemon_wait_ready || exit 1
wait_for 5 bash -c "[[ \$('$MEMSHED' status --json | jq '[.components[].nr_pids] | add') == 2 ]]" ||
	fail setup "r1 and r2 were not labelled"
log_mark
check two_unload_r1 memshed_unload r1
check two_unload_r2 memshed_unload r2
if log_wait 20 '"type":"result".*"component":"r2"'; then
	check two_both_frozen bash -c "$(declare -f is_frozen); is_frozen r1 && is_frozen r2"
	log_mark
	check two_r1_answers bash -c "[[ \$(timeout 5 redis-cli -p $P_R1 GET key:3 | tr -d '\0') == value:3 ]]"
	log_wait 5 '"type":"thaw".*"component":"r1".*"cause":"access"' &&
		pass two_r1_thawed_on_access || fail two_r1_thawed_on_access "no thaw record for r1"
	sleep 2
	check two_r1_runs bash -c "$(declare -f is_frozen); ! is_frozen r1"
	check two_r2_still_frozen is_frozen r2
	check two_no_thaw_of_r2 bash -c "! grep -q '\"type\":\"thaw\".*\"component\":\"r2\"' < <(tail -c +$((LOG_MARK + 1)) '$DAEMON_LOG')"
	# Pressure, then relief: r2 thaws.
	memcg_spawn ballast "$cg" "$HELPERS/memhog" --anon 70 --comm ballast
	sleep 3
	kill_tree "$ballast"
	if log_wait 15 '"type":"thaw".*"component":"r2".*"cause":"pressure relieved"'; then
		pass two_r2_thawed_on_relief
	else
		fail two_r2_thawed_on_relief "r2 not thawed after the ballast went"
	fi
	check two_r2_answers bash -c "[[ \$(timeout 5 redis-cli -p $P_R2 GET key:3 | tr -d '\0') == value:3 ]]"
else
	fail two_both_frozen "no result for r2"
fi
daemon_stop

# ------------------------------------------------------------ a ladder up to critical: term ends a hibernated one

# medium reclaim, high hibernate, critical term, driven by a ballast that
# grows in steps in the test's memory cgroup (usage 0.8, 0.9, 1.0 of the
# limit). At critical the hibernated redis must be thawed first, so that
# its SIGTERM is delivered and it exits by itself: frozen, it could only
# be SIGKILLed after grace ("killed", not "exited").
conf_common | sed "s|^total_limit = .*|total_limit = 200M\nusage_source = cgroup:$cg|" >"$dir/ladder.conf"
cat >>"$dir/ladder.conf" <<CONF

[component ladder]
match = cmdline:^redis-server 127\.0\.0\.1:$P_RL( |\$)
priority = 10
action.medium = reclaim
action.high = hibernate
action.critical = term
grace = 10s
CONF
chmod 600 "$dir/ladder.conf"
spawn rl redis-server --port "$P_RL" --bind 127.0.0.1 --save '' --appendonly no --enable-debug-command local \
	--daemonize no --logfile "$dir/rl.log"
wait_for 10 redis-cli -p "$P_RL" PING || fail setup "redis (ladder) never answered"
redis-cli -p "$P_RL" DEBUG POPULATE 20000 key 1000 >/dev/null
daemon_labelled "$dir/ladder.conf" "the ladder's redis"
ladder_step() { # NAME MiB LEVEL ACTION RESULT: ballast of MiB more, then LEVEL's step
	log_mark
	memcg_spawn "$1" "$cg" "$HELPERS/memhog" --anon "$2" --comm ballast
	if log_wait 30 "\"type\":\"result\".*\"component\":\"ladder\".*\"action\":\"$4\""; then
		res=$(log_grep "\"type\":\"result\".*\"component\":\"ladder\".*\"action\":\"$4\"" | head -1)
		check "ladder_${3}_$4" grep -q "\"result\":\"$5\".*\"pressure_level\":\"$3\"" <<<"$res"
	else
		fail "ladder_${3}_$4" "no $4 result at $3 (level: $(status_json | jq -r .level))"
		return 1
	fi
}
if ladder_step lb1 160 medium reclaim reclaimed && ladder_step lb2 20 high hibernate hibernated; then
	check ladder_hibernated_frozen is_frozen ladder
	if ladder_step lb3 20 critical term exited; then
		check ladder_term_in_grace awk -v d="$(jfield "$res" duration_ms)" 'BEGIN { exit !(d < 10000) }'
		check ladder_thawed_first grep -q '"type":"thaw".*"component":"ladder".*"cause":"the ladder.s next step ends it"' \
			< <(tail -c +$((LOG_MARK + 1)) "$DAEMON_LOG")
		check ladder_sigterm_handled grep -q 'Received SIGTERM' "$dir/rl.log"
		check ladder_redis_gone bash -c "$(declare -f pid_alive); ! pid_alive $rl"
		check ladder_no_group_frozen bash -c "$(declare -f is_frozen); ! is_frozen ladder"
	fi
fi
daemon_stop
kill_tree "$rl"
for b in lb1 lb2 lb3; do [[ -n ${!b:-} ]] && kill_tree "${!b}"; done

# ------------------------------------------------------------ memory.reclaim: memcached owns a cgroup2 memcg

# memcached alone in a cgroup2 group of the test's: where cgroup2 has the
# memory controller, reclaim goes through the group's memory.reclaim
# (memory.current drops); where it has not (hybrid hosts: the controller
# is bound to v1), or another process shares the group, it pages out by
# process, and the result says why.
v2mnt=$(findmnt -rn -t cgroup2 -o TARGET | head -1)
if [[ -z $v2mnt ]]; then
	skip_host memcg_reclaim "no cgroup2 is mounted"
else
	memcg_v2=false
	grep -qw memory "$v2mnt/cgroup.controllers" && memcg_v2=true
	mgparent=$v2mnt/memshed-test-$$ mg=$v2mnt/memshed-test-$$/mc
	v2_groups_remove() {
		local d p
		for d in "$mg" "$mgparent"; do
			[[ -d $d ]] || continue
			while read -r p; do echo "$p" >"$v2mnt/cgroup.procs"; done <"$d/cgroup.procs"
			rmdir "$d"
		done
	} 2>/dev/null
	mkdir -p "$mg" && on_exit v2_groups_remove
	if $memcg_v2; then
		grep -qw memory "$v2mnt/cgroup.subtree_control" ||
			echo +memory >"$v2mnt/cgroup.subtree_control"
		echo +memory >"$mgparent/cgroup.subtree_control"
	fi
	one_comp "$dir/mg.conf" mg "cmdline:^memcached -p $P_MG( |\$)" reclaim
	memcg_spawn mgd "$mg" memcached -p "$P_MG" -l 127.0.0.1 -m 256 -U 0 -u nobody
	wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$P_MG" || fail setup "memcached (mg) never listened"
	mc_filled "$mgd" "$P_MG"
	daemon_labelled "$dir/mg.conf" "memcached (mg)"
	before=$(rss_bytes "$mgd")
	log_mark
	if memshed_unload mg && log_wait 30 '"type":"result".*"component":"mg"'; then
		res=$(log_grep '"type":"result".*"component":"mg"' | head -1)
		after=$(rss_bytes "$mgd")
		note "memcached in its own cgroup: RSS $(mib "$before") MiB -> $(mib "$after") MiB;" \
			"via $(jfield "$res" via), memcg $(jfield "$res" memcg_before_bytes) ->" \
			"$(jfield "$res" memcg_after_bytes) B; $(jfield "$res" why_not_memory_reclaim)"
		check memcg_reclaim_rss_drops test $((after * 10)) -le $((before * 3))
		check memcg_reclaim_keeps_serving mc_get "$P_MG"
		if $memcg_v2; then
			check memcg_reclaim_used grep -q "\"via\":\"memory.reclaim\",\"memcg\":\"$mg\"" <<<"$res"
			check memcg_reclaim_current_drops awk -v b="$(jfield "$res" memcg_before_bytes)" \
				-v a="$(jfield "$res" memcg_after_bytes)" 'BEGIN { exit !(a * 10 <= b * 3) }'
		else
			check memcg_reclaim_says_why grep -q '"via":"process_madvise","why_not_memory_reclaim":"the memory controller is not enabled for its cgroup"' <<<"$res"
			skip_host memcg_reclaim_used "cgroup2 at $v2mnt has no memory controller (a hybrid host: it is bound to the v1 hierarchy); memory.reclaim is checked on pure cgroup2 hosts"
		fi
	else
		fail memcg_reclaim_rss_drops "no result for mg"
	fi
	# A stranger in the group: it is not the component's to reclaim.
	memcg_spawn stranger "$mg" sleep 600
	log_mark
	if memshed_unload mg && log_wait 30 '"type":"result".*"component":"mg"'; then
		check memcg_shared_by_process grep -q '"via":"process_madvise","why_not_memory_reclaim":"other processes share its cgroup"' \
			< <(log_grep '"type":"result".*"component":"mg"')
	else
		fail memcg_shared_by_process "no result for mg"
	fi
	daemon_stop
	kill_tree "$stranger"
	kill_tree "$mgd"
fi

# ------------------------------------------------------------ a knock in the second after the page-out

# A round measures what a hibernation freed a second after its page-out
# ends. A client that knocks in that second thaws the component; the end of
# the round must not mark it hibernated again (status would say so, and the
# knock probe would stay attached). A small redis pages out in milliseconds,
# so a PING 300 ms after the unload lands in that second.
# hibernated_redis VAR NAME PORT: a small redis as component NAME (hibernate),
# the daemon started and the redis labelled.
hibernated_redis() {
	one_comp "$dir/$2.conf" "$2" "cmdline:^redis-server 127\\.0\\.0\\.1:$3( |\$)" hibernate
	spawn "$1" redis-server --port "$3" --bind 127.0.0.1 --save '' --appendonly no \
		--daemonize no --logfile "$dir/$2.log"
	wait_for 10 redis-cli -p "$3" PING || fail setup "redis $3 never answered"
	daemon_labelled "$dir/$2.conf" "redis"
}
hibernated_redis rs settle "$P_S"
log_mark
check settle_unload memshed_unload settle
sleep 0.3
check settle_ping_answered timeout 5 redis-cli -p "$P_S" PING
log_wait 10 '"type":"result".*"component":"settle"' || fail settle_result "no result for settle"
check settle_thawed_by_access log_wait 1 '"type":"thaw".*"component":"settle".*"cause":"access"'
check settle_state_active test "$(field settle state)" = active
not_frozen() { ! is_frozen "$1"; }
check settle_not_frozen not_frozen settle
daemon_stop
kill_tree "$rs"

# ------------------------------------------------------------ a client that leaves is no knock

# An idle client's connection is open when redis hibernates; the client
# then closes it: a FIN (and ACKs) with no data. That is no request, so the
# component stays hibernated; a real request on a new connection thaws it.
hibernated_redis rf fin "$P_F"
spawn idle_client bash -c "exec 3<>/dev/tcp/127.0.0.1/$P_F; exec sleep 1000"	# holds it open
sleep 0.5
log_mark
check fin_unload memshed_unload fin
log_wait 10 '"type":"result".*"component":"fin".*"result":"hibernated"' ||
	fail fin_result "no hibernated result: $(log_grep '"type":"(result|thaw)"' | tail -2)"
kill_tree "$idle_client"	# its connection closes: FIN, no data
sleep 1.5
check fin_no_knock bash -c "! grep -q '\"type\":\"knock\".*\"component\":\"fin\"' <(tail -c +$((LOG_MARK + 1)) '$DAEMON_LOG')"
check fin_stays_hibernated test "$(field fin state)" = hibernated
check fin_request_thaws timeout 5 redis-cli -p "$P_F" PING
check fin_thawed_by_access log_wait 5 '"type":"thaw".*"component":"fin".*"cause":"access"'
daemon_stop
kill_tree "$rf"

# ------------------------------------------------------------ freeze records (issue 11 item 6)

# A frozen group is recorded under /run/memshed/frozen with its owner; a
# second memshed leaves a live owner's group alone, one started after the
# owner died thaws it, moves the process back and drops the record.
one_comp "$dir/fz.conf" fzd "comm:fzd" freeze
conf_common >"$dir/none.conf"
chmod 600 "$dir/none.conf"
spawn fzd "$HELPERS/memhog" --anon 20 --comm fzd --ready-file "$dir/fzd.ready"
wait_for 10 test -e "$dir/fzd.ready" || fail setup "fzd never became ready"
cg_before=$(grep '^0::' "/proc/$fzd/cgroup")
record=/run/memshed/frozen/%sys%fs%cgroup%unified%memshed%fzd
daemon_start "$dir/fz.conf"
daemon_wait_ready || exit 1
owner=$DAEMON_PID
wait_for 5 bash -c "[[ \$('$MEMSHED' status --json | jq '.components[0].nr_pids') == 1 ]]" ||
	fail setup "fzd was not labelled"
log_mark
check freeze_unload memshed_unload fzd
if log_wait 10 '"type":"result".*"component":"fzd".*"result":"frozen"'; then
	res=$(log_grep '"type":"result".*"component":"fzd"' | head -1)
	check freeze_frees_nothing grep -q '"memory_freed_bytes":0,' <<<"$res"
	check freeze_recorded grep -q "^owner $owner " "$record"
	check freeze_record_has_origin grep -q "^origin $fzd /sys/fs/cgroup/unified" "$record"
	# Another memshed (its own socket) starts: the live owner's group stays.
	sock=$MEMSHED_SOCKET
	export MEMSHED_SOCKET=/run/memshed/test-$$-other.sock
	daemon_start "$dir/none.conf"
	daemon_wait_ready || exit 1
	check other_memshed_leaves_it is_frozen fzd
	daemon_stop
	export MEMSHED_SOCKET=$sock
	# The owner dies without thawing; the next memshed thaws.
	kill -KILL "$owner"
	daemon_stop "$owner"
	check frozen_after_owner_died is_frozen fzd
	daemon_start "$dir/none.conf"
	daemon_wait_ready || exit 1
	check dead_owner_group_thawed bash -c "$(declare -f is_frozen); ! is_frozen fzd"
	check dead_owner_record_removed test ! -e "$record"
	check dead_owner_process_moved_back [ "$(grep '^0::' "/proc/$fzd/cgroup")" = "$cg_before" ]
	check dead_owner_process_alive pid_alive "$fzd"
	daemon_stop
else
	fail freeze_frees_nothing "fzd was not frozen"
fi
kill_tree "$fzd"
