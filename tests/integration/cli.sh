#!/bin/bash
# The command line against a real daemon (issue 5): every verb, its output
# formats and exit codes (memshed(8): 0 ok, 1 failed or refused, 2 usage,
# 3 no daemon, 4 permission denied), the control socket's protocol
# (one JSON object per line, 4096 bytes at most, uid 0 for changes), the
# Prometheus renderings, and an event history that survives a restart.
. "$(dirname "$0")/../lib/common.sh"
require_root
require_built
command -v python3 >/dev/null || skip_all "needs python3"
command -v setpriv >/dev/null || skip_all "needs setpriv (util-linux)"

tmpdir_create dir
ring=$dir/events.ring
metrics=$dir/metrics.prom
conf=$dir/memshed.conf

# Levels from this config: medium needs 4s of idle and takes 1, high 2s
# and 3, critical 0s and all. auto_unload is off and usage stays tiny, so
# nothing is unloaded behind the test's back; explain still answers.
write_main_conf() {
	cat >"$1" <<CONF
[memshed]
total_limit = 1G
min_idle_time = 4s
medium_max_unload = 1
high_max_unload = 3
auto_unload = no
check_interval = 1s
cooldown = 500ms
round_timeout = 5s
psi_medium_some = 0
psi_high_some = 0
psi_critical_some = 0
psi_high_full = 0
psi_critical_full = 0
event_log = $ring
metrics_file = $metrics

[component v1]
match = comm:clit-v1
priority = 10

[component v2]
match = comm:clit-v2
priority = 20

[component held]
match = comm:clit-held
priority = 5

[component crit]
match = comm:clit-crit
priority = 1
critical = yes

[component fresh]
match = comm:clit-fresh
priority = 30

[component victim]
match = comm:clit-victim
type = batch
priority = 40
action = term
grace = 2s

[component ghost]           ; no process: a label target
match = comm:clit-ghost
priority = 50
CONF
	chmod 600 "$1"
}
write_main_conf "$conf"

# ---------------------------------------------------------------- helpers

# cli [BIN] ARGS...: run the CLI; OUT, ERR, RC. BIN defaults to $MEMSHED.
CLI_BIN=$MEMSHED
cli() {
	"${CLI_PREFIX[@]}" "$CLI_BIN" "$@" >"$dir/cli.out" 2>"$dir/cli.err"
	RC=$?
	OUT=$(<"$dir/cli.out")
	ERR=$(<"$dir/cli.err")
}
CLI_PREFIX=()

# expect NAME RC STDERR_ERE ARGS...: exit status RC and stderr matching (empty ERE: anything).
expect() {
	local name=$1 want=$2 ere=$3
	shift 3
	cli "$@"
	if [[ $RC != "$want" ]]; then
		fail "$name" "'memshed $*' exited $RC, want $want; stderr: ${ERR:-(empty)}"
		return 1
	fi
	if [[ -n $ere ]] && ! grep -qE -e "$ere" <<<"$ERR"; then
		fail "$name" "'memshed $*' (exit $RC): stderr does not match /$ere/: ${ERR:-(empty)}"
		return 1
	fi
	pass "$name"
}

# pycheck NAME CODE [ARGS...]: python3 CODE on stdin; pass on exit 0, else fail with its output.
pycheck() {
	local name=$1 code=$2 out
	shift 2
	if out=$(python3 -c "$code" "$@" 2>&1); then
		pass "$name"
	else
		fail "$name" "$(tail -n 3 <<<"$out")"
	fi
}

# comp_field NAME FIELD: a component's field from status --json (python repr).
comp_field() {
	"$MEMSHED" status --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
c = [c for c in d["components"] if c["name"] == sys.argv[1]]
print(json.dumps(c[0][sys.argv[2]]) if c else "MISSING")' "$1" "$2"
}
comp_is() { [[ $(comp_field "$1" "$2") == "$3" ]]; }

# Every non-comment line is `name{labels} value`; the wanted metrics are there.
PROM_CHECK='
import re, sys
line_re = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?[ \t]+(\S+)$")
label_re = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\\n]|\\\\.)*)\"(?:,|$)")
samples = []
for n, l in enumerate(sys.stdin.read().splitlines(), 1):
    if not l.strip() or l.startswith("#"):
        continue
    m = line_re.match(l)
    assert m, "line %d is not name{labels} value: %r" % (n, l)
    float(m.group(3))
    labels, rest = {}, m.group(2) or ""
    ms = list(label_re.finditer(rest))
    assert "".join(x.group(0) for x in ms) == rest, "line %d: bad labels %r" % (n, rest)
    for x in ms:
        labels[x.group(1)] = x.group(2)
    samples.append((m.group(1), labels))
names = {s[0] for s in samples}
need = ["memshed_level", "memshed_usage_bytes", "memshed_component_rss_bytes",
        "memshed_unloads_total", "memshed_ringbuf_drops_total", "memshed_kernel_oom_kills_total"]
missing = [x for x in need if x not in names]
assert not missing, "missing metrics: %s" % missing
comps = {s[1].get("component") for s in samples if s[0] == "memshed_component_rss_bytes"}
want = set(sys.argv[1:])
assert want <= comps, "no memshed_component_rss_bytes{component=...} for %s" % sorted(want - comps)
assert len(samples) >= len(need)
'
COMPONENTS=(v1 v2 held crit fresh victim ghost)

# ---------------------------------------------------------------- usage, no daemon

expect help_exits_0 0 '' --help
check help_text grep -q '^Usage: memshed' <<<"$OUT"
expect version_exits_0 0 '' --version
check version_text grep -qE '^memshed [0-9]+\.[0-9]+' <<<"$OUT"
expect verb_help_exits_0 0 '' status --help

expect usage_unknown_verb 2 "unknown command 'frobnicate'" frobnicate
expect usage_no_verb 2 'COMMAND' 
expect usage_unknown_global_option 2 "unknown option '--bogus'" --bogus status
expect usage_label_missing_args 2 'label takes PID NAME' label 123
expect usage_unlabel_missing_pid 2 'unlabel takes one PID' unlabel
expect usage_hold_missing_name 2 'hold takes one component NAME' hold
expect usage_touch_two_names 2 'touch takes one component NAME' touch a b
expect usage_bad_pid 2 "'12x' is not a PID" label 12x v1
expect usage_bad_pid_zero 2 "'0' is not a PID" unlabel 0
expect usage_bad_ttl 2 "--ttl .*'5parsecs'" hold v1 --ttl 5parsecs
expect usage_zero_ttl 2 "--ttl .*'0'" hold v1 --ttl 0
expect usage_ttl_without_hold 2 '--ttl goes with hold' touch v1 --ttl 1s
expect usage_status_format 2 "--format .*'yaml'" status --format yaml
expect usage_explain_level_bogus 2 "--level .*'bogus'" explain --level bogus
expect usage_events_since 2 "--since .*'soon'" events --since soon
expect usage_reload_argument 2 'reload takes no argument' reload now
expect usage_check_config_no_file 2 'check-config takes one FILE' check-config

nosock=$dir/no-such-dir/memshed.sock
CLI_PREFIX=(env MEMSHED_SOCKET="$nosock")
expect no_daemon_status 3 'no daemon' status
expect no_daemon_touch 3 'no daemon' touch v1
expect no_daemon_follow 3 'no daemon' events --follow --file "$ring"
CLI_PREFIX=()
expect no_daemon_socket_option 3 "no daemon.*$nosock" --socket "$nosock" status

# ---------------------------------------------------------------- check-config

expect check_config_valid 0 '' check-config "$conf"
check check_config_valid_says_ok grep -q "ok (7 components)" <<<"$OUT"

bad=$dir/bad.conf
printf '[memshed]\ntotal_limit = 1G\nbogus_key = 3\n\n[component x]\nmatch = comm:x\npriority = 500\n' >"$bad"
chmod 600 "$bad"
expect check_config_bad_exit_1 1 '' check-config "$bad"
check check_config_bad_file_line_unknown_key grep -qE "^$bad:3: .*bogus_key" <<<"$ERR"
check check_config_bad_file_line_range grep -qE "^$bad:7: .*priority" <<<"$ERR"
printf '[memshed]\nnice = -30\n' >"$dir/badnice.conf"
chmod 600 "$dir/badnice.conf"
expect check_config_bad_nice 1 '' check-config "$dir/badnice.conf"
check check_config_bad_nice_file_line grep -qE "^$dir/badnice.conf:2: .*nice.*-20..19" <<<"$ERR"

gw=$dir/group-writable.conf
cp "$conf" "$gw"
chmod 664 "$gw"
expect check_config_group_writable_refused 1 'refusing.*writable' check-config "$gw"
chmod 602 "$gw"
expect check_config_world_writable_refused 1 'refusing.*writable' check-config "$gw"
expect check_config_missing_file 1 'No such file' check-config "$dir/none.conf"

# Components an unprivileged process can join (issue 11 item 7): warned at
# their FILE:LINE with the reason; guarded ones are not; the exit stays 0.
strangers=$dir/strangers.conf
mkdir -m 0777 "$dir/open-dir" && chmod 0777 "$dir/open-dir"
cat >"$strangers" <<CONF
[memshed]
total_limit = 1G

[component by-comm]
match = comm:st-comm

[component by-cmdline]
match = comm:st-both
match = cmdline:--serve

[component by-user]
match = user:root
match = comm:st-user

[component by-cgroup]
match = cgroup:/system.slice/st.service

[component by-exe]
match = exe:/usr/bin/sleep

[component by-open-exe]
match = exe:$dir/open-dir/st-evil
CONF
chmod 600 "$strangers"
expect check_config_strangers_exit_0 0 'warning' check-config "$strangers"
check check_config_strangers_comm grep -qE "^$strangers:4: warning: component \"by-comm\" can be joined by any user's process: .*comm:" <<<"$ERR"
check check_config_strangers_cmdline grep -qE "^$strangers:7: warning: .*\"by-cmdline\".*comm:, cmdline:" <<<"$ERR"
check check_config_strangers_open_exe grep -qE "^$strangers:21: warning: .*\"by-open-exe\".*$dir/open-dir/st-evil is not under directories only root can write" <<<"$ERR"
check check_config_strangers_guarded_not_warned test "$(grep -c warning <<<"$ERR")" = 3
check check_config_strangers_still_ok grep -q "ok (6 components)" <<<"$OUT"

# ---------------------------------------------------------------- the daemon

for c in v1 v2 held crit fresh; do
	spawn "pid_$c" "$HELPERS/memhog" --anon 4 --comm "clit-$c" --ready-file "$dir/$c.ready"
done
spawn pid_victim "$HELPERS/sigwatch" --anon 2 --comm clit-victim \
	--stamp-file "$dir/victim.stamp" --ready-file "$dir/victim.ready" 2>"$dir/victim.err"
spawn pid_stray "$HELPERS/memhog" --anon 1 --comm clit-stray --ready-file "$dir/stray.ready"
for c in v1 v2 held crit fresh victim stray; do
	wait_for 10 test -e "$dir/$c.ready" || fail setup "clit-$c never became ready"
done

daemon_start "$conf"
daemon_wait_ready || exit 1
started_s=$SECONDS
# Scheduled ahead of the load it reacts to: nice -10 by default.
check daemon_nice_default test "$(awk '{print $19}' "/proc/$DAEMON_PID/stat")" = -10
first_config=$(grep -m1 '"type":"config"' "$DAEMON_LOG")
first_config_ts=$(sed -n 's/.*"ts_ns":\([0-9]*\).*/\1/p' <<<"$first_config")

expect hold_no_ttl 0 '' hold held
# Everyone else idle past medium's 4 s.
sleep $((started_s + 5 - SECONDS > 0 ? started_s + 5 - SECONDS : 0))

# ---- status

expect status_text_exit_0 0 '' status
check status_text_level_line grep -qE '^level: +(low|medium|high|critical) ' <<<"$OUT"
check status_text_table_header grep -qE '^COMPONENT +STATE +PIDS +RSS +ANON +FILE +SHMEM +SWAP +IDLE +LAST +PRIO' <<<"$OUT"
check status_json_type bash -c "\"\$1\" status --json | jq -e '.components[] | select(.name == \"victim\") | .type == \"batch\"'" _ "$MEMSHED"
check status_text_type_column grep -qE '^victim .* batch$' <<<"$OUT"
check explain_shows_type bash -c "\"\$1\" explain --level critical | grep -qE 'victim \\(batch, priority 40'" _ "$MEMSHED"
check metrics_type_label bash -c "\"\$1\" status --format prometheus | grep -q 'memshed_component_rss_bytes{component=\"victim\",type=\"batch\"}'" _ "$MEMSHED"
check status_text_component_rows bash -c 'for c in "${@:2}"; do grep -qE "^$c +[a-z]+ +[0-9]+ " <<<"$1" || { echo "no row for $c"; exit 1; }; done' _ "$OUT" "${COMPONENTS[@]}"
check status_text_held_flag grep -qE '^held .* held +' <<<"$OUT"

expect status_json_exit_0 0 '' status --json
pycheck status_json_fields '
import json, sys
d = json.loads(sys.stdin.read())
for k in ("level", "usage_bytes", "limit_bytes", "components"):
    assert k in d, "no %s" % k
assert d["level"] in ("low", "medium", "high", "critical"), d["level"]
assert isinstance(d["psi"]["some"]["avg10"], (int, float)), d["psi"]
assert d["limit_bytes"] == 1 << 30, d["limit_bytes"]
names = [c["name"] for c in d["components"]]
assert sorted(names) == sorted(sys.argv[1:]), names
for c in d["components"]:
    for k in ("name", "pids", "rss_bytes", "anon_bytes", "file_bytes", "shmem_bytes",
              "idle_ms", "priority", "state", "unload_order"):
        assert k in c, "component %s has no %s" % (c["name"], k)
    assert isinstance(c["pids"], list)
' "${COMPONENTS[@]}" <<<"$OUT"
pycheck status_json_values '
import json, sys
d = json.loads(sys.stdin.read())
c = {c["name"]: c for c in d["components"]}
assert c["v1"]["pids"] == [int(sys.argv[1])], c["v1"]["pids"]
assert c["victim"]["pids"] == [int(sys.argv[2])], c["victim"]["pids"]
assert c["ghost"]["pids"] == [] and c["ghost"]["state"] == "absent", c["ghost"]
assert c["v1"]["state"] == "active", c["v1"]["state"]
assert c["v1"]["anon_bytes"] >= 4 << 20, "v1 anon %d < 4 MiB" % c["v1"]["anon_bytes"]
assert c["v1"]["rss_bytes"] >= c["v1"]["anon_bytes"], c["v1"]
assert c["v1"]["priority"] == 10 and c["crit"]["critical"] is True
assert c["v1"]["idle_ms"] >= 4000, "v1 idle %d ms" % c["v1"]["idle_ms"]
assert c["held"]["in_use"] is True and c["v1"]["in_use"] is False
# the order shown at low is medium'"'"'s: v1 first, the held one never
assert c["v1"]["unload_order"] == 1, c["v1"]["unload_order"]
assert c["held"]["unload_order"] == 0 and c["crit"]["unload_order"] == 0
' "$pid_v1" "$pid_victim" <<<"$OUT"

expect status_prometheus_exit_0 0 '' status --format prometheus
pycheck status_prometheus_parses "$PROM_CHECK" "${COMPONENTS[@]}" <<<"$OUT"
prom_status=$OUT

if wait_for 5 test -s "$metrics"; then
	pass metrics_file_written
	pycheck metrics_file_parses "$PROM_CHECK" "${COMPONENTS[@]}" <"$metrics"
	check metrics_file_same_metrics diff <(grep -v '^#' <<<"$prom_status" | sed 's/[{ ].*//' | sort -u) \
		<(grep -v '^#' "$metrics" | sed 's/[{ ].*//' | sort -u)
	# rewritten every check_interval (1s), atomically: no temp file left behind
	m1=$(stat -c %Y.%i "$metrics")
	if wait_for 4 bash -c '[[ $(stat -c %Y.%i "$1") != "$2" ]]' _ "$metrics" "$m1"; then
		pass metrics_file_rewritten
	else
		fail metrics_file_rewritten "$metrics unchanged for 4 s (check_interval = 1s)"
	fi
	check metrics_file_no_temp_left bash -c '! compgen -G "$1.tmp.*"' _ "$metrics"
else
	fail metrics_file_written "no $metrics 5 s after start (metrics_file = in the config)"
fi

# ---- explain: a victim and every reason to be spared

EXPLAIN_CHECK='
import json, sys
d = json.loads(sys.stdin.read())
only = sys.argv[1] if len(sys.argv) > 1 else None
want = {
    "medium": (["v1"], {"v2": "beyond-max", "victim": "beyond-max", "held": "in-use",
                        "crit": "critical", "fresh": "recent", "ghost": "not-loaded"}),
    "high": (["v1", "v2", "victim"], {"held": "in-use", "crit": "critical",
                                      "fresh": "recent", "ghost": "not-loaded"}),
    "critical": (["crit", "v1", "v2", "fresh", "victim"], {"held": "in-use", "ghost": "not-loaded"}),
}
levels = [l["level"] for l in d["levels"]]
assert levels == ([only] if only else ["medium", "high", "critical"]), "levels %s" % levels
for l in d["levels"]:
    victims, spared = want[l["level"]]
    assert l["victims"] == victims, "%s: victims %s, want %s" % (l["level"], l["victims"], victims)
    got = {s["name"]: s["reason"] for s in l["spared"]}
    assert got == spared, "%s: spared %s, want %s" % (l["level"], got, spared)
    assert all(s.get("why") for s in l["spared"]), l["spared"]
'
expect touch_fresh 0 '' touch fresh
expect explain_json_exit_0 0 '' explain --json
pycheck explain_json_reasons "$EXPLAIN_CHECK" <<<"$OUT"

"$MEMSHED" touch fresh
expect explain_text_exit_0 0 '' explain
check explain_text_levels bash -c 'grep -q "^at medium" <<<"$1" && grep -q "^at high" <<<"$1" && grep -q "^at critical" <<<"$1"' _ "$OUT"
check explain_text_victim grep -qE '^  1\. v1 \(priority 10' <<<"$OUT"
check explain_text_in_use grep -q 'spared held: in use' <<<"$OUT"
check explain_text_critical grep -q 'spared crit: critical' <<<"$OUT"
check explain_text_recent grep -q 'spared fresh: idle for too short' <<<"$OUT"
check explain_text_beyond_max grep -q 'spared v2: beyond max_unload' <<<"$OUT"

"$MEMSHED" touch fresh
expect explain_level_high_json 0 '' explain --level high --json
pycheck explain_level_high_only "$EXPLAIN_CHECK" high <<<"$OUT"
expect explain_level_high_text 0 '' explain --level high
check explain_level_high_text_only bash -c 'grep -q "^at high" <<<"$1" && ! grep -qE "^at (medium|critical)" <<<"$1"' _ "$OUT"

# ---- the changes, and their refusals

expect touch_ok 0 '' touch v2
v2_idle=$(comp_field v2 idle_ms)
check touch_resets_idle test "$v2_idle" -lt 2000

# 3 s: long enough that two status round trips on a loaded machine fit in it.
expect hold_ttl_ok 0 '' hold fresh --ttl 3s
check hold_ttl_in_use comp_is fresh in_use true
ttl_ms=$(comp_field fresh hold_ttl_ms)
check hold_ttl_ms_counts_down test "$ttl_ms" -gt 0 -a "$ttl_ms" -le 3000
sleep 3.2
check hold_ttl_expires comp_is fresh in_use false

expect hold_v2 0 '' hold v2
check hold_v2_in_use comp_is v2 in_use true
expect release_ok 0 '' release v2
check release_not_in_use comp_is v2 in_use false

for verb in touch hold release unload thaw; do
	expect "${verb}_unknown_component" 1 'no component named .*nope' "$verb" nope
done
expect label_unknown_component 1 'no component named .*nope' label "$pid_stray" nope

# The daemon's message is JSON-escaped on the wire; the CLI must print it as text.
cli touch nope
if grep -qF '\"' <<<"$ERR"; then
	fail cli_error_message_unescaped "stderr shows the JSON escapes: $ERR (control.c client_header prints the raw JSON string; want: no component named \"nope\" in the config)"
elif grep -qF 'no component named "nope"' <<<"$ERR"; then
	pass cli_error_message_unescaped
else
	fail cli_error_message_unescaped "unexpected stderr: $ERR"
fi

expect label_ok 0 '' label "$pid_stray" ghost
check label_shows_in_status comp_is ghost pids "[$pid_stray]"
expect label_self_refused 1 'does not label itself' label "$DAEMON_PID" ghost
expect unlabel_ok 0 '' unlabel "$pid_stray"
check unlabel_shows_in_status comp_is ghost pids "[]"
expect unlabel_not_labelled 1 'not labelled' unlabel "$pid_stray"

expect thaw_not_frozen 1 'not frozen' thaw v1
expect unload_held_refused 1 'in use' unload held
expect unload_no_process 1 'no running process' unload ghost

expect unload_term_ok 0 '' unload victim
if wait_for 5 bash -c '! kill -0 "$1" 2>/dev/null || [[ $(awk "{print \$3}" /proc/$1/stat) == Z ]]' _ "$pid_victim"; then
	pass unload_term_kills_process
else
	fail unload_term_kills_process "clit-victim ($pid_victim) still running 5 s after memshed unload"
fi
check unload_term_sent_sigterm grep -q '^term ' "$dir/victim.stamp"
check unload_record_has_type log_wait 5 '"type":"unload".*"component":"victim".*"component_type":"batch"'
check result_record_has_type log_wait 5 '"type":"result".*"component":"victim".*"component_type":"batch"'
if wait_for 5 comp_is victim state '"unloaded"'; then
	pass unload_state_unloaded
else
	fail unload_state_unloaded "victim state $(comp_field victim state), want unloaded"
fi

expect reload_ok 0 '' reload
cp "$conf" "$dir/conf.saved"
printf '\n[component broken\n' >>"$conf"
expect reload_bad_config_refused 1 'invalid.*kept' reload
check reload_bad_keeps_config comp_is v1 priority 10
cp "$dir/conf.saved" "$conf"
chmod 600 "$conf"
expect reload_restored 0 '' reload

# ---- drop-ins: CONFIG.d/*.conf, read after the main file, at start and reload
mkdir -m 755 "$conf.d"
on_exit rm -rf "$conf.d"
printf '[component extra]\nmatch = comm:clit-extra\ntype = addon\n' >"$conf.d/50-extra.conf"
chmod 644 "$conf.d/50-extra.conf"
expect dropin_check_config 0 '' check-config "$conf"
expect dropin_reload 0 '' reload
check dropin_component_known bash -c "\"\$1\" status --json | jq -e --arg f '$conf.d/50-extra.conf' '.components[] | select(.name == \"extra\") | .file == \$f'" _ "$MEMSHED"
printf '[component extra2]\nmatch = comm:x\npriority = 101\n' >"$conf.d/60-bad.conf"
chmod 644 "$conf.d/60-bad.conf"
expect dropin_bad_refused_at_its_line 1 "60-bad.conf:3: .*priority" check-config "$conf"
expect dropin_bad_reload_refused 1 'invalid.*kept' reload
check dropin_bad_keeps_extra bash -c "\"\$1\" status --json | jq -e '[.components[] | select(.name == \"extra2\")] | length == 0'" _ "$MEMSHED"
rm -f "$conf.d/60-bad.conf"
chmod 777 "$conf.d"
expect dropin_dir_writable_refused 1 'refusing to load drop-ins' check-config "$conf"
rm -rf "$conf.d"
expect dropin_removed_reload 0 '' reload

# ---- events

expect events_text 0 '' events --file "$ring"
check events_text_has_history bash -c 'grep -qE " config +path=" <<<"$1" && grep -q "msg=ready" <<<"$1"' _ "$OUT"
expect events_json 0 '' events --json --file "$ring"
pycheck events_json_lines_parse '
import json, sys
lines = sys.stdin.read().splitlines()
assert len(lines) >= 3, "only %d lines" % len(lines)
for l in lines:
    e = json.loads(l)
    assert e.get("type") and e.get("time") and "ts_ns" in e, l
assert any(json.loads(l)["type"] == "config" for l in lines)
' <<<"$OUT"
expect events_type_filter 0 '' events --json --type config,unload --file "$ring"
pycheck events_type_filter_only '
import json, sys
types = [json.loads(l)["type"] for l in sys.stdin.read().splitlines()]
assert types and set(types) <= {"config", "unload"}, types
assert "config" in types and "unload" in types, types
' <<<"$OUT"
expect events_type_unknown 2 "unknown event type 'nosuchtype'" events --type config,nosuchtype --file "$ring"
expect events_since_1h 0 '' events --json --since 1h --file "$ring"
check events_since_1h_has_start grep -qF "\"ts_ns\":$first_config_ts," <<<"$OUT"
expect events_since_2s 0 '' events --json --since 2s --file "$ring"
check events_since_2s_drops_old bash -c '! grep -qF "\"ts_ns\":$2," <<<"$1"' _ "$OUT" "$first_config_ts"

# --follow: history, then what comes next, until interrupted.
last_config_ts=$("$MEMSHED" events --json --type config --file "$ring" | tail -1 |
	sed -n 's/.*"ts_ns":\([0-9]*\).*/\1/p')
spawn follower "$MEMSHED" events --follow --json --type config --file "$ring" \
	>"$dir/follow.out" 2>"$dir/follow.err"
sleep 0.5
follower_alive=1
pid_alive "$follower" || follower_alive=0
"$MEMSHED" reload
new_config() {
	local l ts
	while IFS= read -r l; do
		ts=$(sed -n 's/.*"ts_ns":\([0-9]*\).*/\1/p' <<<"$l")
		[[ -n $ts ]] && ((ts > last_config_ts)) && return 0
	done <"$dir/follow.out"
	return 1
}
if wait_for 5 new_config; then
	pass events_follow_streams
	pycheck events_follow_json_parse 'import json, sys
for l in sys.stdin.read().splitlines(): assert json.loads(l)["type"] == "config", l' <"$dir/follow.out"
elif ((!follower_alive)); then
	wait "$follower" 2>/dev/null
	fail events_follow_streams "'memshed events --follow' exited (status $?) within 0.5 s, before any new event; stderr: $(<"$dir/follow.err"). The daemon drops the follower right after {\"ok\":true}: control.c client_answer() shutdown(SHUT_RD)s it, so the fd polls readable-EOF and control_on_client()'s follower branch (recv() == 0) closes it"
else
	fail events_follow_streams "no new config event streamed after memshed reload: $(tail -c 300 "$dir/follow.out")"
fi
kill_tree "$follower"

# ---------------------------------------------------------------- not root

tmpdir_create nbdir
chmod 755 "$nbdir"
cp "$MEMSHED" "$nbdir/memshed"
chmod 755 "$nbdir/memshed"
CLI_PREFIX=(setpriv --reuid=65534 --regid=65534 --clear-groups)
CLI_BIN=$nbdir/memshed
expect nobody_status 0 '' status
check nobody_status_output grep -qE '^level: ' <<<"$OUT"
expect nobody_status_json 0 '' status --json
expect nobody_explain 0 '' explain
expect nobody_touch_denied 4 'permission denied' touch v1
expect nobody_hold_denied 4 'permission denied' hold v1
expect nobody_release_denied 4 'permission denied' release held
expect nobody_unload_denied 4 'permission denied' unload v1
expect nobody_thaw_denied 4 'permission denied' thaw v1
expect nobody_reload_denied 4 'permission denied' reload
expect nobody_label_denied 4 'permission denied' label "$pid_stray" ghost
expect nobody_unlabel_denied 4 'permission denied' unlabel "$pid_v1"
CLI_PREFIX=()
CLI_BIN=$MEMSHED
check nobody_hold_had_no_effect comp_is v1 in_use false
check nobody_release_had_no_effect comp_is held in_use true
check nobody_label_had_no_effect comp_is ghost pids "[]"

# ---------------------------------------------------------------- raw protocol

cat >"$dir/raw.py" <<'PY'
import json, socket, sys, time
path, case = sys.argv[1], sys.argv[2]
pad = b" " * 4000
cases = {
    "malformed": [b'{"cmd":"status"\n'],
    "garbage": [b"hello daemon\n"],
    "oversize": [b'{"cmd":"status","name":"' + b"x" * 5000 + b'"}\n'],
    "oversize_no_newline": [b'{"cmd":"status"' + b" " * 5000],
    "unknown_field": [b'{"cmd":"status","bogus":1}\n'],
    "unknown_cmd": [b'{"cmd":"frobnicate"}\n'],
    "no_cmd": [b'{"format":"json"}\n'],
    "bad_pid": [b'{"cmd":"label","pid":"12x","name":"ghost"}\n'],
    "split": [b'{"cmd":', b'"status","format":"json"}\n'],
    "near_limit": [b'{"cmd":"status",' + pad + b'"format":"json"}\n'],
    "status": [b'{"cmd":"status","format":"json"}\n'],
}
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(path)
try:
    for i, chunk in enumerate(cases[case]):
        if i:
            time.sleep(0.2)
        s.sendall(chunk)
except (BrokenPipeError, ConnectionResetError):
    pass
data = b""
try:
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
except ConnectionResetError:
    pass  # the daemon closed with the rest of our request unread: the answer came first
head, _, body = data.partition(b"\n")
h = json.loads(head)
if h.get("ok") and body.startswith(b"{"):
    json.loads(body)
print(json.dumps(h))
PY

# raw_expect NAME CASE OK ERROR_ERE
raw_expect() {
	local name=$1 case=$2 ok=$3 ere=${4:-} out
	if ! out=$(python3 "$dir/raw.py" "$MEMSHED_SOCKET" "$case" 2>&1); then
		fail "$name" "no JSON answer to $case: $(tail -n 2 <<<"$out")"
		return 1
	fi
	if [[ $ok == true ]]; then
		if [[ $out == '{"ok": true}' ]]; then
			pass "$name"
		else
			fail "$name" "answer $out, want ok"
		fi
		return 0
	fi
	if [[ $out == '{"ok": false, "code": '*'"error": '* ]] && grep -qE -e "$ere" <<<"$out"; then
		pass "$name"
	else
		fail "$name" "answer $out, want ok false with an error matching /$ere/"
	fi
}
raw_expect raw_malformed malformed false 'malformed request'
raw_expect raw_garbage garbage false 'malformed request'
raw_expect raw_oversize oversize false 'larger than 4096'
raw_expect raw_oversize_no_newline oversize_no_newline false 'larger than 4096'
raw_expect raw_unknown_field unknown_field false 'unknown field .*bogus'
raw_expect raw_unknown_cmd unknown_cmd false 'unknown command .*frobnicate'
raw_expect raw_missing_cmd no_cmd false 'missing .*cmd'
raw_expect raw_bad_pid bad_pid false 'pid.*number'
raw_expect raw_split_request split true
raw_expect raw_near_limit_request near_limit true

# A client that connects and says nothing holds up no one.
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); time.sleep(3)' "$MEMSHED_SOCKET" &
silent_pid=$!
sleep 0.3
expect raw_silent_client_blocks_nobody 0 '' status
wait "$silent_pid"
raw_expect raw_daemon_still_answers status true
check raw_daemon_alive pid_alive "$DAEMON_PID"

# ---------------------------------------------------------------- restart: history survives

daemon_stop
check daemon_stops_cleanly test "$DAEMON_STATUS" = 0
daemon_start "$conf"
daemon_wait_ready || exit 1
expect events_after_restart 0 '' events --json --file "$ring"
check restart_keeps_first_config_event grep -qF "\"ts_ns\":$first_config_ts," <<<"$OUT"
ready_count=$(grep -c '"type":"notice","msg":"ready"' <<<"$OUT")
check restart_two_ready_notices test "$ready_count" -ge 2
check restart_has_stopping_notice grep -q '"msg":"stopping"' <<<"$OUT"
expect status_after_restart 0 '' status

# ---------------------------------------------------------------- thaw of a frozen component

daemon_stop
fzconf=$dir/freeze.conf
cat >"$fzconf" <<CONF
[memshed]
total_limit = 1G
min_idle_time = 1s
auto_unload = no
check_interval = 60s        ; below low_threshold a timer tick thaws: keep ticks away
cooldown = 60s
psi_medium_some = 0
psi_high_some = 0
psi_critical_some = 0
psi_high_full = 0
psi_critical_full = 0
event_log = $dir/freeze.ring

[component fz]
match = comm:clit-fz
priority = 10
action = freeze
CONF
chmod 600 "$fzconf"
spawn pid_fz "$HELPERS/memhog" --anon 2 --comm clit-fz --ready-file "$dir/fz.ready"
wait_for 10 test -e "$dir/fz.ready" || fail setup "clit-fz never became ready"
daemon_start "$fzconf"
daemon_wait_ready || exit 1
# is_frozen PID: its cgroup2 group reports "frozen 1", or its v1 freezer group FROZEN.
is_frozen() {
	local id ctrls path m
	while IFS=: read -r id ctrls path; do
		if [[ $id == 0 && -z $ctrls ]]; then
			m=$(findmnt -n -t cgroup2 -o TARGET | head -1)
			[[ -n $m ]] && grep -qx 'frozen 1' "$m$path/cgroup.events" 2>/dev/null && return 0
		elif [[ ,$ctrls, == *,freezer,* ]]; then
			m=$(findmnt -n -t cgroup -O freezer -o TARGET | head -1)
			[[ -n $m && $(cat "$m$path/freezer.state" 2>/dev/null) == FROZEN ]] && return 0
		fi
	done <"/proc/$1/cgroup"
	return 1
}
not_frozen() { ! is_frozen "$1"; }
freeze_info() {
	local id ctrls path m
	while IFS=: read -r id ctrls path; do
		if [[ $id == 0 && -z $ctrls ]]; then
			m=$(findmnt -n -t cgroup2 -o TARGET | head -1)
			printf 'cgroup2 %s: cgroup.freeze=%s %s; ' "$path" "$(cat "$m$path/cgroup.freeze" 2>/dev/null)" \
				"$(grep frozen "$m$path/cgroup.events" 2>/dev/null)"
		elif [[ ,$ctrls, == *,freezer,* ]]; then
			m=$(findmnt -n -t cgroup -O freezer -o TARGET | head -1)
			printf 'freezer %s: %s; ' "$path" "$(cat "$m$path/freezer.state" 2>/dev/null)"
		fi
	done <"/proc/$1/cgroup"
}
expect unload_freeze_ok 0 '' unload fz
if wait_for 5 comp_is fz state '"frozen"'; then
	pass unload_freeze_frozen
	if wait_for 2 is_frozen "$pid_fz"; then
		pass freeze_process_frozen
	else
		# Every memshed thaws all of <cgroup root>/memshed/* when it starts
		# (actuator_thaw_all): a daemon started meanwhile by another test does that.
		fail freeze_process_frozen "status says frozen but clit-fz is not: $(freeze_info "$pid_fz"); other memshed daemons running: $(pgrep -x memshed | grep -vcx "$DAEMON_PID")"
	fi
	expect thaw_ok 0 '' thaw fz
	check thaw_state_active comp_is fz state '"active"'
	check thaw_process_thawed not_frozen "$pid_fz"
	expect thaw_again_not_frozen 1 'not frozen' thaw fz
else
	fail unload_freeze_frozen "fz state $(comp_field fz state), want frozen: $(grep -E '"type":"result"' "$DAEMON_LOG" | tail -1)"
fi
check fz_survives pid_alive "$pid_fz"
