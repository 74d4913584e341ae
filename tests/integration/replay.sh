#!/bin/bash
# What-if replay (`memshed replay`) on a log the real daemon wrote: real
# processes (Debian's stress-ng), real memory, a real crossing of the
# medium line, a real SIGTERM. Then the log is replayed:
#  - with the same config, the replay takes the step the daemon took, on
#    the same component, within a second of it;
#  - with the priorities swapped, the other component goes instead;
#  - with a larger budget, nothing goes;
#  - an `events --json` capture replays as the ring does;
#  - bad input (a bad config line, a missing log, a log without history,
#    a stray argument) is refused with the place named and a non-zero exit.
# And the history records are coalesced: a quiet daemon writes almost none;
# in the host model, a move of usage between evaluations is written too.
. "$(dirname "$0")/../lib/common.sh"
require_root
require_built
for prog in stress-ng jq; do
	command -v "$prog" >/dev/null || skip_all "$prog is not installed"
done

tmpdir_create dir
ring=$dir/events.ring
conf() { # FILE PRIO_A PRIO_B LIMIT
	cat >"$1" <<EOF
[memshed]
total_limit = $4             ; medium at 0.75 of it
hysteresis = 0
min_idle_time = 2s
check_interval = 1s
cooldown = 500ms
settle_time = 1s
round_timeout = 10s
psi_medium_some = 0         ; budgets, not PSI: the host's PSI is not the test's
psi_high_some = 0
psi_critical_some = 0
psi_high_full = 0
psi_critical_full = 0
event_log = $ring

[component sng-a]
match = cmdline:^stress-ng --vm 1 --vm-bytes 61M
priority = $2
[component sng-b]
match = cmdline:^stress-ng --vm 1 --vm-bytes 62M
priority = $3
[component grower]
match = cmdline:^stress-ng --vm 1 --vm-bytes 120M
priority = 100
EOF
	chmod 600 "$1"
}
conf "$dir/rec.conf" 10 30 340M
conf "$dir/swapped.conf" 50 30 340M
conf "$dir/roomy.conf" 10 30 1G

spawn s_a stress-ng --vm 1 --vm-bytes 61M --vm-hang 0 --timeout 0
spawn s_b stress-ng --vm 1 --vm-bytes 62M --vm-hang 0 --timeout 0
wait_for 20 bash -c 'for p in "$@"; do (( $(cat /proc/$p/task/*/children | wc -w) )) || exit 1; done' _ \
	"$s_a" "$s_b" || fail setup "stress-ng workers not up"
sleep 2 # the vm workers map and touch their memory

daemon_start "$dir/rec.conf"
daemon_wait_ready || exit 1
sleep 4 # idle past min_idle_time; a quiet daemon's history meanwhile
quiet=$("$MEMSHED" events --file "$ring" --json --type sample,state | wc -l)
note "history records after 4 s at rest with 3 components: $quiet"
check history_coalesced_at_rest test "$quiet" -le 8
usage=$("$MEMSHED" status --json | jq '.usage_bytes // .usage')
note "usage before the grower: $usage bytes of 340M"
spawn grow stress-ng --vm 1 --vm-bytes 120M --vm-hang 0 --timeout 0
log_wait 20 '"type":"result"' || fail setup "no unload within 20 s"
sleep 2
daemon_stop
kill_tree "$grow"
mapfile -t recorded < <(jq -r 'select(.type == "unload" and .mode == "act") | .component' "$DAEMON_LOG")
note "the daemon unloaded: ${recorded[*]}"
check recording_unloaded_sng_a test "${recorded[*]}" = sng-a
check recording_sng_a_gone bash -c "! kill -0 $s_a 2>/dev/null"

# The same config: the same step, at the same time.
"$MEMSHED" replay --config "$dir/rec.conf" --json >"$dir/same.json" 2>"$dir/same.err"
check replay_same_config_ok test $? -eq 0
mapfile -t same < <(jq -r 'select(.type == "would") | .component' "$dir/same.json")
check replay_same_config_same_victims test "${same[*]}" = "${recorded[*]}"
rec_t=$(jq -r 'select(.type == "unload" and .mode == "act") | .time' "$DAEMON_LOG" | head -1)
rep_t=$(jq -r 'select(.type == "would") | .time' "$dir/same.json" | head -1)
gap=$(python3 -c "import datetime as d,sys;f=lambda s:d.datetime.strptime(s,'%Y-%m-%dT%H:%M:%S.%fZ');print(abs((f(sys.argv[1])-f(sys.argv[2])).total_seconds()))" "$rec_t" "$rep_t")
note "recorded at $rec_t, replayed at $rep_t ($gap s apart)"
check replay_same_config_same_time python3 -c "import sys; sys.exit(not float('$gap') <= 1.0)"
check replay_same_config_action test "$(jq -r 'select(.type == "would") | .action' "$dir/same.json" | head -1)" = term

# Priorities swapped: sng-b goes, sng-a stays.
"$MEMSHED" replay --config "$dir/swapped.conf" --json >"$dir/swapped.json"
mapfile -t swapped < <(jq -r 'select(.type == "would") | .component' "$dir/swapped.json")
note "swapped priorities: ${swapped[*]}"
check replay_swapped_takes_sng_b test "${swapped[*]}" = sng-b
check replay_swapped_says_why_a_stays \
	test "$(jq -r 'select(.type == "would") | .spared["sng-a"]' "$dir/swapped.json" | head -1)" = beyond-max

# A budget the crossing never comes near: nothing goes; the text summary says so.
"$MEMSHED" replay --config "$dir/roomy.conf" >"$dir/roomy.txt"
sed 's/^/# /' "$dir/roomy.txt"
check replay_roomy_nothing grep -q '^replay:   0 actions' "$dir/roomy.txt"
check replay_roomy_recorded_listed grep -q '^recorded: 1 action' "$dir/roomy.txt"

# An events --json capture replays as the ring does.
"$MEMSHED" events --file "$ring" --json >"$dir/capture.jsonl"
"$MEMSHED" replay --config "$dir/swapped.conf" --events "$dir/capture.jsonl" --json >"$dir/cap.json"
check replay_capture_same_as_ring test "$(jq -c 'select(.type == "would")' "$dir/cap.json")" = \
	"$(jq -c 'select(.type == "would")' "$dir/swapped.json")"

# Bad input: refused, the place named, nothing printed as a result.
printf '[memshed]\ntotal_limit = lots\n' >"$dir/bad.conf"
"$MEMSHED" replay --config "$dir/bad.conf" --events "$ring" >"$dir/bad.out" 2>"$dir/bad.err"
check replay_bad_config_exit test $? -eq 3
check replay_bad_config_file_line grep -q "bad.conf:2" "$dir/bad.err"
check replay_bad_config_prints_nothing test ! -s "$dir/bad.out"
"$MEMSHED" replay --config "$dir/rec.conf" --events "$dir/missing.ring" 2>"$dir/missing.err"
check replay_missing_log_exit test $? -eq 1
check replay_missing_log_named grep -q "missing.ring" "$dir/missing.err"
jq -c 'select(.type != "sample" and .type != "state")' "$dir/capture.jsonl" >"$dir/nohistory.jsonl"
"$MEMSHED" replay --config "$dir/rec.conf" --events "$dir/nohistory.jsonl" 2>"$dir/nohist.err"
check replay_no_history_exit test $? -eq 1
check replay_no_history_says_so grep -q "no history records" "$dir/nohist.err"
"$MEMSHED" replay --config "$dir/rec.conf" stray 2>/dev/null
check replay_stray_argument_exit test $? -eq 2


# The host model reads usage every second between evaluations: a move of a
# step (1/128 of the limit) is written then, not at the next evaluation.
cat >"$dir/host.conf" <<EOF
[memshed]
usage_source = system
total_limit = 90%
check_interval = 60s
psi_medium_some = 0
psi_high_some = 0
psi_critical_some = 0
psi_high_full = 0
psi_critical_full = 0
event_log = $dir/host.ring
EOF
chmod 600 "$dir/host.conf"
step=$(($(awk '$1 == "MemTotal:" {print $2}' /proc/meminfo) * 1024 * 90 / 100 / 128))
daemon_start "$dir/host.conf"
daemon_wait_ready || exit 1
sleep 1.5
log_mark
spawn big stress-ng --vm 1 --vm-bytes $((3 * step / 1048576))M --vm-hang 0 --timeout 0
sleep 4
n=$(log_grep '"type":"sample"' | wc -l)
note "host model: $n sample records in 4 s after $((3 * step / 1048576)) MiB were taken"
check history_host_model_between_evaluations test "$n" -ge 1
daemon_stop
kill_tree "$big"
