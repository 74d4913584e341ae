#!/bin/bash
# The journal sink against a real journald: records arrive with structured
# fields (journalctl MEMSHED_COMPONENT=NAME finds them), and under
# JOURNAL_STREAM (stdout is the journal) they are not written twice.
# A host's own journald is used as it is; without one, Debian's
# systemd-journald runs for the length of the test (it creates its own
# sockets) and everything it made is removed afterwards.
. "$(dirname "$0")/../lib/common.sh"
require_root
require_built
JOURNALD=/lib/systemd/systemd-journald
command -v journalctl >/dev/null || skip_all "journalctl is not installed (systemd)"
tmpdir_create dir

sock=/run/systemd/journal/socket
if ! python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.connect(sys.argv[1])' "$sock" 2>/dev/null; then
	[[ -x $JOURNALD ]] || skip_all "no journald running and no $JOURNALD"
	made=()
	for p in /run/systemd/journal /run/log/journal /run/log; do [[ -e $p ]] || made+=("$p"); done
	spawn jd "$JOURNALD"
	on_exit bash -c 'kill "$1" 2>/dev/null; sleep 0.3; shift; for p in "$@"; do rm -rf "$p"; done' _ "$jd" "${made[@]}"
	wait_for 10 test -S "$sock" || fail setup "journald never made $sock"
	note "a private journald (pid $jd) for this test"
fi

cat >"$dir/j.conf" <<EOF
[memshed]
total_limit = 100G
event_log = $dir/j.ring

[component jx]
match = comm:jx-$$
type = cache
priority = 10
action = term
EOF
chmod 600 "$dir/j.conf"

# journalctl FIELD=VALUE...: the matching entries as JSON lines.
jlines() { journalctl --no-pager -o json "$@" 2>/dev/null; }

spawn jp "$HELPERS/memhog" --anon 4 --comm "jx-$$" --ready-file "$dir/jp.ready"
wait_for 10 test -s "$dir/jp.ready" || fail setup "memhog never got ready"
daemon_start "$dir/j.conf"
daemon_wait_ready || exit 1
check journal_unload_ok "$MEMSHED" unload jx
log_wait 10 '"type":"result".*"component":"jx"' >/dev/null
sleep 0.5
res=$(jlines MEMSHED_COMPONENT=jx MEMSHED_EVENT=result _PID="$DAEMON_PID")
note "journal: $(head -c 300 <<<"$res")"
jfield() { jq -r --arg k "$1" 'select(.[$k] != null) | .[$k]' <<<"$res" | head -1; }
check journal_result_found test -n "$res"
check journal_field_level test "$(jfield MEMSHED_LEVEL)" = critical
check journal_field_freed grep -qE '^[0-9]+$' <<<"$(jfield MEMSHED_FREED)"
check journal_field_type test "$(jfield MEMSHED_COMPONENT_TYPE)" = cache
check journal_priority_notice test "$(jfield PRIORITY)" = 5
check journal_message_is_text grep -q 'result .*component=jx' <<<"$(jfield MESSAGE)"
check journal_identifier test "$(jfield SYSLOG_IDENTIFIER)" = memshed
check journal_filter_by_component bash -c "! jq -r .MEMSHED_COMPONENT <<<\"\$1\" | grep -vqx jx" _ "$(jlines MEMSHED_COMPONENT=jx _PID="$DAEMON_PID")"
daemon_stop
kill_tree "$jp"

# stdout is the journal (JOURNAL_STREAM, as systemd sets it): records go to
# the journal with their fields, not a second time as stdout text.
spawn jp "$HELPERS/memhog" --anon 4 --comm "jx-$$" --ready-file "$dir/jp2.ready"
wait_for 10 test -s "$dir/jp2.ready" || fail setup "memhog never got ready"
JOURNAL_STREAM=0:0 daemon_start "$dir/j.conf"
wait_for 15 "$MEMSHED" status >/dev/null
check journal_stream_unload_ok "$MEMSHED" unload jx
wait_for 10 bash -c "journalctl --no-pager -o json MEMSHED_EVENT=result _PID=$DAEMON_PID | grep -q jx"
check journal_stream_in_journal bash -c "journalctl --no-pager -o json MEMSHED_EVENT=result _PID=$DAEMON_PID | grep -q '\"MEMSHED_COMPONENT\":\"jx\"'"
check journal_stream_not_on_stdout bash -c "! grep -q '\"type\":\"result\"' '$DAEMON_LOG'"
daemon_stop
kill_tree "$jp"
