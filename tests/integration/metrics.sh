#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# The metrics pipeline (issue 14), end to end with Debian's own servers on
# loopback: a memshed daemon writes its metrics_file into a textfile
# directory, prometheus-node-exporter's textfile collector serves it on
# /metrics (memshed's series with sane values, no scrape error), and
# Prometheus scrapes the exporter with memshed's alerting rules loaded. An
# unload then travels the whole way: the counter rises in the exporter and
# in Prometheus, and the MemshedUnloading alert fires. The rules pass
# `promtool check rules` and their unit tests (`promtool test rules`); every
# query of the Grafana dashboard parses and runs against that Prometheus.
. "$(dirname "$0")/../lib/common.sh"

require_root
require_built
cd "$REPO_ROOT" || exit 1
for t in prometheus-node-exporter prometheus promtool curl python3; do
	command -v "$t" >/dev/null || skip_all "$t is not installed (tools/install-deps --test)"
done
RULES=dist/prometheus/memshed.rules.yml
RULES_TEST=dist/prometheus/memshed.rules.test.yml
DASHBOARD=dist/grafana/memshed.json
tmpdir_create dir

# ---------------------------------------------------------------- the files

check promtool_check_rules promtool check rules "$RULES"
check promtool_test_rules promtool test rules "$RULES_TEST"
check dashboard_is_json python3 -m json.tool "$DASHBOARD"

# The dashboard's queries, one a line in dashboard.queries, with Grafana's
# variables replaced by values Prometheus takes; and the same as recording
# rules in dashboard.rules.yml, for promtool to parse.
dashboard_queries() {
	python3 - "$DASHBOARD" "$dir" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
ids = [p["id"] for p in d["panels"]]
assert len(ids) == len(set(ids)), "panel ids repeat"
queries = []
for p in d["panels"]:
    assert "gridPos" in p, p["title"]
    for t in p.get("targets", []):
        assert t["datasource"]["uid"] == "${datasource}", p["title"]
        e = t["expr"].replace("$__rate_interval", "1m").replace("$__range", "1h")
        queries.append(e.replace('"$instance"', '".+"'))
assert queries, "no queries"
open(sys.argv[2] + "/dashboard.queries", "w").write("\n".join(queries) + "\n")
with open(sys.argv[2] + "/dashboard.rules.yml", "w") as f:
    f.write("groups:\n  - name: dashboard\n    rules:\n")
    for i, q in enumerate(queries):
        f.write("      - record: dashboard:q%d\n        expr: %s\n" % (i, json.dumps(q)))
PY
}
if out=$(dashboard_queries 2>&1); then
	pass dashboard_structure
else
	fail dashboard_structure "$out"
fi
queries=$(cat "$dir/dashboard.queries" 2>/dev/null)
check dashboard_queries_parse promtool check rules "$dir/dashboard.rules.yml"

note "files checked: ${SECONDS}s"
# ---------------------------------------------------------------- memshed

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

mkdir -p "$dir/textfile"
PROM=$dir/textfile/memshed.prom
cat >"$dir/memshed.conf" <<EOF
[memshed]
event_log = $dir/events.ring
metrics_file = $PROM
check_interval = 1s
total_limit = 1G
; The level from usage alone: other work on the host may raise the
; system-wide PSI, and the checks below expect the low level.
psi_medium_some = 0
psi_high_some = 0
psi_critical_some = 0
psi_high_full = 0
psi_critical_full = 0

[component metrics-hog]
match = comm:ms-metrics-hog
priority = 10
action = term
grace = 2s
EOF
chmod 600 "$dir/memshed.conf"
spawn hog "$HELPERS/memhog" --anon 48 --comm ms-metrics-hog --ready-file "$dir/hog.ready"
wait_for 10 test -s "$dir/hog.ready" || fail hog_ready "memhog never became ready"
daemon_start "$dir/memshed.conf"
daemon_wait_ready 15 || exit 1
check metrics_file_written wait_for 10 test -s "$PROM"

# ---------------------------------------------------------------- node_exporter

# The exporter with nothing but the textfile collector, on a free port
# (tried again on another one if it loses the port to someone else).
NE_PORT=
for try in 1 2 3; do
	port=$(free_port)
	spawn ne prometheus-node-exporter --collector.disable-defaults --collector.textfile \
		--collector.textfile.directory="$dir/textfile" \
		--web.listen-address="127.0.0.1:$port" >"$dir/node-exporter.$try.log" 2>&1
	if wait_for 10 curl -sf -o /dev/null "http://127.0.0.1:$port/metrics"; then
		NE_PORT=$port
		break
	fi
	kill_tree "$ne"
done
if [[ -z $NE_PORT ]]; then
	fail node_exporter_listens "$(tail -n 3 "$dir/node-exporter.3.log")"
	exit 1
fi
pass node_exporter_listens
scrape() { curl -sf "http://127.0.0.1:$NE_PORT/metrics"; }
# value SERIES: the value of the series named exactly (name and labels) in the
# scrape; between LO HI VALUE: LO <= VALUE <= HI (the exporter writes
# 1073741824 as 1.073741824e+09).
value() { awk -v s="$1" '$1 == s { print $2 }' <<<"$metrics"; }
between() { awk -v lo="$1" -v hi="$2" -v v="$3" 'BEGIN { exit !(v != "" && v + 0 >= lo && v + 0 <= hi) }'; }
metrics=$(scrape)

check exporter_no_scrape_error test "$(value node_textfile_scrape_error)" = 0
check exporter_reads_memshed_file grep -q "^node_textfile_mtime_seconds{file=\"$PROM\"}" <<<"$metrics"
for m in memshed_level memshed_usage_bytes memshed_limit_bytes memshed_psi_avg10_percent \
	memshed_psi_stall_seconds_total memshed_component_rss_bytes memshed_component_idle_seconds \
	memshed_component_processes memshed_component_state memshed_unloads_total \
	memshed_ringbuf_drops_total memshed_kernel_oom_kills_total memshed_events_total \
	memshed_rounds_total; do
	grep -q "^# TYPE $m " <<<"$metrics" || missing+=" $m"
done
check exporter_has_every_memshed_series test -z "${missing:-}"
check level_is_low test "$(value memshed_level)" = 0
check limit_is_1G between 1073741824 1073741824 "$(value memshed_limit_bytes)"
# 48 MiB of written anonymous memory, plus the helper's own few pages.
rss=$(value 'memshed_component_rss_bytes{component="metrics-hog",type=""}')
check component_rss_sane between $((46 << 20)) $((64 << 20)) "$rss"
usage=$(value memshed_usage_bytes)
check usage_is_component_sum test "${usage:-x}" = "${rss:-y}"
check component_processes test "$(value 'memshed_component_processes{component="metrics-hog",type=""}')" = 1
check component_state_active test "$(value 'memshed_component_state{component="metrics-hog",state="active",type=""}')" = 1
idle=$(value 'memshed_component_idle_seconds{component="metrics-hog",type=""}')
check component_idle_sane between 0 60 "$idle"
check no_unloads_yet test "$(value 'memshed_unloads_total{action="term",result="exited"}')" = 0
check no_drops test "$(value memshed_ringbuf_drops_total)" = 0
psi=$(value 'memshed_psi_avg10_percent{kind="some"}')
check psi_is_a_percentage between 0 100 "$psi"
# The names and types as Prometheus' linter sees them: no complaint (a
# counter ends in _total, units are base units).
lint=$(grep -E '^(# (HELP|TYPE) )?memshed_' <<<"$metrics" | promtool check metrics 2>&1)
check promtool_check_metrics_clean test -z "$lint"

# ---------------------------------------------------------------- Prometheus

# Scrapes the exporter every second and evaluates memshed's rules every
# second; its database lives in the test's directory.
PROM_PORT=$(free_port)
cp "$RULES" "$dir/memshed.rules.yml"
cat >"$dir/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $dir/memshed.rules.yml
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ["127.0.0.1:$NE_PORT"]
EOF
spawn prom prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/tsdb" \
	--web.listen-address="127.0.0.1:$PROM_PORT" >"$dir/prometheus.log" 2>&1
api() { curl -sf --get "http://127.0.0.1:$PROM_PORT/api/v1/$1" "${@:2}"; }
# prom_value QUERY: the first result's value of an instant query, or nothing.
prom_value() {
	api query --data-urlencode "query=$1" |
		python3 -c 'import json, sys; r = json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")'
}
prom_has() { [[ $(prom_value "$1") == "$2" ]]; }
if check prometheus_scrapes_memshed wait_for 30 prom_has 'memshed_level{job="node"}' 0; then
	check prometheus_rules_loaded bash -c "curl -sf 'http://127.0.0.1:$PROM_PORT/api/v1/rules' |
		python3 -c 'import json, sys; g = json.load(sys.stdin)[\"data\"][\"groups\"];
r = [x for x in g if x[\"name\"] == \"memshed\"][0][\"rules\"];
bad = [x[\"name\"] for x in r if x[\"health\"] == \"err\"];
sys.exit(1 if len(r) != 7 or bad else 0)'"
	# Every dashboard query runs, and the ones over memshed's own series
	# find data (the file-age one too: the exporter reports the file).
	bad=""
	while IFS= read -r q; do
		[[ -n $q ]] || continue
		r=$(api query --data-urlencode "query=$q") || { bad+=" [$q: HTTP error]"; continue; }
		[[ $r == '{"status":"success"'* ]] || bad+=" [$q: $r]"
	done <<<"$queries"
	check dashboard_queries_run test -z "$bad" || note "failing dashboard queries:$bad"
	check dashboard_usage_fraction_sane between 0.04 0.07 \
		"$(prom_value 'memshed_usage_bytes / memshed_limit_bytes')"
else
	note "prometheus: $(tail -n 3 "$dir/prometheus.log" | tr '\n' ' ')"
fi

note "exporter and Prometheus checked: ${SECONDS}s"
# ---------------------------------------------------------------- an unload, end to end

check memshed_unload "$MEMSHED" unload metrics-hog
exited='memshed_unloads_total{action="term",result="exited"}'
exporter_shows_unload() {
	metrics=$(scrape) && [[ $(value "$exited") == 1 ]]
}
check exporter_shows_the_unload wait_for 15 exporter_shows_unload
wait "$hog" 2>/dev/null # the test's own child: reaped, not left a zombie
exporter_shows_no_process() {
	metrics=$(scrape) && [[ $(value 'memshed_component_processes{component="metrics-hog",type=""}') == 0 ]]
}
check exporter_component_gone wait_for 10 exporter_shows_no_process
check prometheus_shows_the_unload wait_for 15 prom_has "$exited" 1
alert_firing() {
	api alerts | python3 -c 'import json, sys
a = json.load(sys.stdin)["data"]["alerts"]
sys.exit(not any(x["labels"]["alertname"] == sys.argv[1] and x["state"] == "firing"
                 and x["labels"].get("action") == "term" for x in a))' "$1"
}
check alert_memshed_unloading_fires wait_for 15 alert_firing MemshedUnloading
check no_oom_alert bash -c "! curl -sf 'http://127.0.0.1:$PROM_PORT/api/v1/alerts' | grep -q MemshedKernelOOMKill"
