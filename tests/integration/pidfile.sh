#!/bin/bash
# A pidfile: names a process only if nobody but root (or the component's
# own user, for that user's processes) could have written it. Tried as a
# hostile service user: user nobody owns the directory the config names and
# writes the PID of an unrelated root process into the pidfile.
. "$(dirname "$0")/../lib/common.sh"
require_root
require_built
tmpdir_create dir
chmod 755 "$dir"
mkdir "$dir/run-nobody" "$dir/run-root"
chown nobody "$dir/run-nobody"
chmod 755 "$dir/run-root"

spawn victim "$HELPERS/memhog" --anon 2 --comm pf-rootproc --ready-file "$dir/victim.ready"
spawn own setpriv --reuid=nobody --regid=nogroup --clear-groups "$HELPERS/memhog" --anon 2 --comm pf-nobodyproc
spawn trusted "$HELPERS/memhog" --anon 2 --comm pf-trusted --ready-file "$dir/trusted.ready"
wait_for 10 test -s "$dir/victim.ready" -a -s "$dir/trusted.ready" || fail setup "helpers not ready"
# What the hostile user writes: a root process's PID, in files it owns.
setpriv --reuid=nobody --regid=nogroup --clear-groups bash -c 'echo "$1" >"$2"/svc.pid; echo "$3" >"$2"/own.pid' _ \
	"$victim" "$dir/run-nobody" "$own"
echo "$trusted" >"$dir/run-root/ok.pid"
sleep 0.3 # pf-nobodyproc is up
chmod 644 "$dir/run-root/ok.pid"

cat >"$dir/p.conf" <<EOF
[memshed]
total_limit = 100G
event_log = off

[component planted]
match = pidfile:$dir/run-nobody/svc.pid

[component own]
match = pidfile:$dir/run-nobody/own.pid
match = user:nobody

[component trusted]
match = pidfile:$dir/run-root/ok.pid
EOF
chmod 600 "$dir/p.conf"
daemon_start "$dir/p.conf"
daemon_wait_ready || exit 1
pids_of() { "$MEMSHED" status --json | jq -r --arg c "$1" '.components[] | select(.name == $c) | .pids[]'; }
check planted_pidfile_not_honoured bash -c "! grep -qx '$victim' <<<\"\$1\"" _ "$(pids_of planted)"
check planted_pidfile_reason_logged grep -q "pidfile $dir/run-nobody/svc.pid is not trusted" "$DAEMON_ERR"
check planted_unload_refused bash -c '! "$1" unload planted' _ "$MEMSHED"
sleep 0.5
check planted_root_process_untouched pid_alive "$victim"
check own_users_pidfile_for_own_process grep -qx "$own" <<<"$(pids_of own)"
check root_pidfile_honoured grep -qx "$trusted" <<<"$(pids_of trusted)"
daemon_stop
kill_tree "$victim"; kill_tree "$own"; kill_tree "$trusted"
