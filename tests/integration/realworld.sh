#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# Real workloads as they are (issue 10), with software we did not write:
# Debian's redis-server, memcached, nginx, postgresql, stress-ng and python3.
#  - idle means unused: a redis and a memcached nobody talks to become idle
#    past min_idle_time (their 10 Hz / 1 Hz timers are not use), a redis
#    queried every 200 ms on one connection does not (its last access is a
#    socket receive);
#  - components are process trees: nginx (master + 2 workers) and postgres
#    (postmaster + its workers), started before memshed, are whole, their RSS
#    the sum of their processes' VmRSS within 2%;
#  - memory counted once: a 300 MiB python that posix_spawns in a loop is
#    counted as 300 MiB, not once more per vfork child;
#  - stress-ng components that predate memshed go in the seed's order under a
#    real budget crossing, a held, a critical and an unlabelled one survive;
#  - an over-budget start unloads only what is needed;
#  - a psi_cgroup removed under the daemon causes no unload and no spinning.
. "$(dirname "$0")/../lib/common.sh"
require_root
require_built
tmpdir_create dir
chmod 755 "$dir"

for prog in redis-server redis-cli memcached nginx stress-ng python3 jq runuser; do
	command -v "$prog" >/dev/null || skip_all "$prog is not installed (tools/install-deps --test)"
done
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -x $PGBIN/postgres ]] || skip_all "postgresql is not installed (tools/install-deps --test)"

# Ports of our own (a host's redis, memcached, nginx, postgres keep theirs).
base=$((20000 + $$ % 20000))
P_RIDLE=$base P_RBUSY=$((base + 1)) P_MC=$((base + 2)) P_NGX=$((base + 3)) P_PG=$((base + 4))

status_json() { "$MEMSHED" status --json; }
comp() { status_json | jq -c --arg n "$1" '.components[] | select(.name == $n)'; }
field() { comp "$1" | jq -r ".$2"; }
# The sum of VmRSS, in bytes, of the given pids.
vmrss_sum() {
	local pid sum=0 kib
	for pid in "$@"; do
		kib=$(proc_status_kib "$pid" VmRSS) && sum=$((sum + kib * 1024))
	done
	echo "$sum"
}
within() { # A B PERCENT: |A - B| <= B * PERCENT / 100
	awk -v a="$1" -v b="$2" -v p="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= b * p / 100) }'
}
tree_pids() { # PID: it and all its descendants
	local p=$1 c
	echo "$p"
	for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do tree_pids "$c"; done
}

# ------------------------------------------------------------ idle and trees

spawn ridle redis-server --port "$P_RIDLE" --bind 127.0.0.1 --save '' --appendonly no \
	--daemonize no --logfile "$dir/ridle.log"
spawn rbusy redis-server --port "$P_RBUSY" --bind 127.0.0.1 --save '' --appendonly no \
	--daemonize no --logfile "$dir/rbusy.log"
spawn mc memcached -u nobody -l 127.0.0.1 -p "$P_MC" -U 0
cat >"$dir/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 2;
pid $dir/nginx.pid;
error_log $dir/nginx.err;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path $dir/ngx-body;
	proxy_temp_path $dir/ngx-proxy;
	fastcgi_temp_path $dir/ngx-fcgi;
	uwsgi_temp_path $dir/ngx-uwsgi;
	scgi_temp_path $dir/ngx-scgi;
	server { listen 127.0.0.1:$P_NGX; location / { return 200 "ok\n"; } }
}
EOF
spawn ngx nginx -c "$dir/nginx.conf"
mkdir "$dir/pgdata" "$dir/pgsock"
chown postgres "$dir/pgdata" "$dir/pgsock"
runuser -u postgres -- "$PGBIN/initdb" -D "$dir/pgdata" -A trust >"$dir/initdb.log" 2>&1 ||
	skip_all "initdb failed: $(tail -3 "$dir/initdb.log")"
spawn pg runuser -u postgres -- "$PGBIN/postgres" -D "$dir/pgdata" -p "$P_PG" \
	-k "$dir/pgsock" -c listen_addresses= -c shared_buffers=16MB
wait_for 10 redis-cli -p "$P_RIDLE" ping || fail setup "redis $P_RIDLE is not up"
wait_for 10 redis-cli -p "$P_RBUSY" ping || fail setup "redis $P_RBUSY is not up"
wait_for 10 test -s "$dir/nginx.pid" || fail setup "nginx is not up"
wait_for 20 "$PGBIN/pg_isready" -h "$dir/pgsock" -p "$P_PG" -q || fail setup "postgres is not up"
ngx_master=$(cat "$dir/nginx.pid")
pg_master=$(pgrep -u postgres -f "postgres -D $dir/pgdata" | head -1)
wait_for 10 bash -c "(( \$(pgrep -P $ngx_master | wc -l) == 2 ))" || fail setup "nginx has no 2 workers"

# A client of the busy redis: every 200 ms on one connection (as a pool
# keeps it), not labelled. Its requests are read off the connection by the
# sample pass (tcp_sock's last receive): nothing runs on the receive path.
spawn client redis-cli -p "$P_RBUSY" -r -1 -i 0.2 set k v

cat >"$dir/idle.conf" <<EOF
[memshed]
total_limit = 8G
min_idle_time = 5s
auto_unload = no
check_interval = 1s
event_log = $dir/idle.ring

[component redis-idle]
match = cmdline:^redis-server 127\.0\.0\.1:$P_RIDLE
[component redis-busy]
match = cmdline:^redis-server 127\.0\.0\.1:$P_RBUSY
[component memcached]
match = cmdline:^memcached .*-p $P_MC
[component nginx]
match = cmdline:^nginx: master process .*$dir/nginx\.conf
[component postgres]
match = cmdline:^$PGBIN/postgres -D $dir/pgdata
EOF
chmod 600 "$dir/idle.conf"
daemon_start "$dir/idle.conf"
daemon_wait_ready || exit 1
sleep 8

for c in redis-idle memcached; do
	idle=$(field "$c" idle_ms) last=$(field "$c" last_access)
	note "$c: idle ${idle} ms, last access: $last"
	check "${c}_left_alone_is_idle" test "$idle" -ge 5000
	check "${c}_last_access_is_start" test "$last" = start
done
idle=$(field redis-busy idle_ms) last=$(field redis-busy last_access)
note "redis-busy: idle ${idle} ms, last access: $last"
check redis_queried_every_200ms_is_not_idle test "$idle" -lt 1500
check redis_queried_last_access_is_socket test "$last" = socket

mapfile -t ngx_tree < <(tree_pids "$ngx_master")
check nginx_whole_tree test "$(field nginx nr_pids)" -eq "${#ngx_tree[@]}" -a "${#ngx_tree[@]}" -eq 3
rss=$(field nginx rss_bytes) truth=$(vmrss_sum "${ngx_tree[@]}")
note "nginx: ${#ngx_tree[@]} processes, rss $rss, VmRSS sum $truth"
check nginx_rss_is_tree_sum within "$rss" "$truth" 2
mapfile -t pg_tree < <(tree_pids "$pg_master")
check postgres_whole_tree test "$(field postgres nr_pids)" -eq "${#pg_tree[@]}" -a "${#pg_tree[@]}" -ge 4
rss=$(field postgres rss_bytes) truth=$(vmrss_sum "${pg_tree[@]}")
note "postgres: ${#pg_tree[@]} processes, rss $rss, VmRSS sum $truth"
check postgres_rss_is_tree_sum within "$rss" "$truth" 2
# A client connection forks a backend: it joins the tree (in the kernel).
spawn pgclient runuser -u postgres -- "$PGBIN/psql" -h "$dir/pgsock" -p "$P_PG" -d postgres \
	-c 'select pg_sleep(3)'
sleep 1
mapfile -t pg_tree2 < <(tree_pids "$pg_master")
check postgres_new_backend_joins test "$(field postgres nr_pids)" -eq "${#pg_tree2[@]}" \
	-a "${#pg_tree2[@]}" -gt "${#pg_tree[@]}"
daemon_stop
kill_tree "$client"

# ------------------------------------------------------------ counted once

cat >"$dir/spawner.py" <<'EOF'
import os, sys
ballast = bytearray(300 << 20)
for i in range(0, len(ballast), 4096):
    ballast[i] = 1
open(sys.argv[1], "w").write("ready\n")
while True:
    pid = os.posix_spawn("/bin/true", ["true"], os.environ)   # CLONE_VM|CLONE_VFORK
    os.waitpid(pid, 0)
EOF
cat >"$dir/spawn.conf" <<EOF
[memshed]
total_limit = 8G
auto_unload = no
check_interval = 1s
event_log = $dir/spawn.ring

[component spawner]
match = cmdline:python3 $dir/spawner\.py
EOF
chmod 600 "$dir/spawn.conf"
daemon_start "$dir/spawn.conf"
daemon_wait_ready || exit 1
spawn py python3 "$dir/spawner.py" "$dir/py.ready"
wait_for 20 test -s "$dir/py.ready" || fail setup "the spawner never got ready"
peak=0 truth=0
for i in $(seq 30); do
	u=$(status_json | jq .usage_bytes)
	t=$(vmrss_sum "$py")
	((u > peak)) && peak=$u
	((t > truth)) && truth=$t
	sleep 0.1
done
note "posix_spawn loop: usage peak $peak, VmRSS peak $truth"
check posix_spawn_counted_once within "$peak" "$truth" 2
daemon_stop
kill_tree "$py"

# ------------------------------------------------------------ the seed's order

sng() { # VAR MiB: a stress-ng vm worker holding MiB, then idle forever
	spawn "$1" stress-ng --vm 1 --vm-bytes "$2"M --vm-hang 0 --timeout 0
}
sng s_low 61
sng s_mid 62
sng s_held 63
sng s_crit 65
sng s_decoy 66
wait_for 20 bash -c 'for p in "$@"; do (( $(cat /proc/$p/task/*/children | wc -w) )) || exit 1; done' _ \
	"$s_low" "$s_mid" "$s_held" "$s_crit" "$s_decoy" || fail setup "stress-ng workers not up"
sleep 2 # the vm workers map and touch their memory
# The line (0.75 x 950M = 712 MiB, no hysteresis) sits between what stays
# after two unloads (held + crit + the grower's 520: ~676 MiB) and that plus
# one more tree (~753 MiB): the grower crosses it twice, then usage stays
# below it, and the grower, idle once it is done growing, is never needed.
cat >"$dir/order.conf" <<EOF
[memshed]
total_limit = 950M
hysteresis = 0
min_idle_time = 2s
check_interval = 1s
cooldown = 500ms
settle_time = 1s
round_timeout = 10s
psi_medium_some = 0
psi_high_some = 0
psi_critical_some = 0
psi_high_full = 0
psi_critical_full = 0
event_log = $dir/order.ring

[component sng-low]
match = cmdline:^stress-ng --vm 1 --vm-bytes 61M
priority = 10
[component sng-mid]
match = cmdline:^stress-ng --vm 1 --vm-bytes 62M
priority = 30
[component sng-held]
match = cmdline:^stress-ng --vm 1 --vm-bytes 63M
priority = 5
[component sng-crit]
match = cmdline:^stress-ng --vm 1 --vm-bytes 65M
priority = 1
critical = yes
[component grower]
match = comm:rw-grower
priority = 100
EOF
chmod 600 "$dir/order.conf"
daemon_start "$dir/order.conf"
daemon_wait_ready || exit 1
check sng_held_hold "$MEMSHED" hold sng-held
for c in sng-low sng-mid sng-held sng-crit; do
	n=$(field "$c" nr_pids)
	check "${c}_tree_labelled" test "$n" -ge 2
done
sleep 2.5 # past min_idle_time
spawn grow "$HELPERS/memhog" --anon 520 --grow 80 --comm rw-grower --ready-file "$dir/grow.ready"
wait_for 30 test -s "$dir/grow.ready"
sleep 3
mapfile -t unloaded < <(jq -r 'select(.type == "unload") | .component' "$DAEMON_LOG")
note "unloaded, in order: ${unloaded[*]}"
jq -c 'select(.type | test("budget|level|candidates|unload|result|pressure"))' "$DAEMON_LOG" >"$dir/order.decisions" || true
check seed_order_low_first test "${unloaded[0]:-}" = sng-low
check seed_order_mid_next test "${unloaded[1]:-}" = sng-mid
check seed_order_nothing_else test "${#unloaded[@]}" -eq 2
gone() { ! pid_alive "$1"; }
check sng_low_gone gone "$s_low"
check sng_held_survives pid_alive "$s_held"
check sng_crit_survives pid_alive "$s_crit"
check sng_decoy_survives pid_alive "$s_decoy"
check grower_survives pid_alive "$grow" || sed 's/^/# /' "$dir/order.decisions"
daemon_stop
kill_tree "$grow"

# ------------------------------------------------------------ over budget at start

for c in a b c; do
	spawn "ob_$c" "$HELPERS/memhog" --anon 400 --comm "rw-over-$c" --ready-file "$dir/ob_$c.ready"
done
wait_for 30 bash -c "test -s $dir/ob_a.ready -a -s $dir/ob_b.ready -a -s $dir/ob_c.ready"
cat >"$dir/over.conf" <<EOF
[memshed]
total_limit = 1G
cooldown = 500ms
settle_time = 2s
psi_medium_some = 0
psi_high_some = 0
psi_critical_some = 0
psi_high_full = 0
psi_critical_full = 0
event_log = $dir/over.ring

[component over-a]
match = comm:rw-over-a
priority = 10
[component over-b]
match = comm:rw-over-b
priority = 20
[component over-c]
match = comm:rw-over-c
priority = 30
EOF
chmod 600 "$dir/over.conf"
daemon_start "$dir/over.conf"
daemon_wait_ready || exit 1
sleep 6
mapfile -t unloaded < <(jq -r 'select(.type == "unload") | .component' "$DAEMON_LOG")
note "over budget at start (1.2G of 1G): unloaded ${unloaded[*]}"
check over_budget_start_one_round test "${#unloaded[@]}" -eq 1 -a "${unloaded[0]:-}" = over-a
check over_budget_others_survive bash -c "kill -0 $ob_b && kill -0 $ob_c"
daemon_stop

# ------------------------------------------------------------ psi_cgroup removed

cg2=$(awk '$9 == "cgroup2" {print $5; exit}' /proc/self/mountinfo)
psicg=$cg2/memshed-test-psi.$$
mkdir "$psicg" || skip_all "cannot create $psicg"
on_exit bash -c "[ ! -d '$psicg' ] || rmdir '$psicg'" # the test removes it itself
cat >"$dir/psi.conf" <<EOF
[memshed]
total_limit = 8G
check_interval = 1s
psi_cgroup = $psicg
psi_medium_some = 5%
event_log = $dir/psi.ring

[component psi-x]
match = comm:rw-psi-x
EOF
chmod 600 "$dir/psi.conf"
spawn px "$HELPERS/memhog" --anon 8 --comm rw-psi-x
daemon_start "$dir/psi.conf"
daemon_wait_ready || exit 1
rmdir "$psicg"
t0=$(awk '{print $14 + $15}' /proc/"$DAEMON_PID"/stat)
sleep 3
t1=$(awk '{print $14 + $15}' /proc/"$DAEMON_PID"/stat)
note "daemon CPU over 3 s after the cgroup went: $((t1 - t0)) ticks"
check psi_cgroup_removed_no_spin test $((t1 - t0)) -lt 30
check psi_cgroup_removed_logged grep -q 'hung up' "$DAEMON_ERR"
check psi_cgroup_removed_no_unload bash -c "! grep -q '\"type\":\"unload\"' '$DAEMON_LOG'"
check psi_cgroup_removed_daemon_answers "$MEMSHED" status
daemon_stop
