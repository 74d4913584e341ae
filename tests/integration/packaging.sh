#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# Packaging (issue 5): the systemd unit verifies, `make install` puts every
# file where it belongs (PREFIX, DESTDIR) and `make uninstall` takes them
# back without touching the operator's memshed.conf, the man pages render
# without a groff warning and document every verb, option, config key and
# event type of the code, the DaemonSet parses, the bash completion offers
# verbs and values, and `make demo`'s script runs to its end and cleans up.
# Needs no root except for the demo (skipped without root; CI: a failure).
. "$(dirname "$0")/../lib/common.sh"

cd "$REPO_ROOT" || exit 1
UNIT=dist/memshed.service
COMPLETION=dist/bash-completion/memshed
YAML=dist/kubernetes/daemonset.yaml
MAN8=man/memshed.8
MAN5=man/memshed.conf.5
tmpdir_create dir

have() { command -v "$1" >/dev/null 2>&1; }

# The code's words, the things the docs must name.
code_verbs() { sed -n 's/^[[:blank:]]*{ "\([a-z-]*\)", \(cmd_[a-z_]*\|top_main\) },.*/\1/p' user/main.c; }
code_long_options() {
	sed -n 's/^[[:blank:]]*{ "\([a-z-]*\)", \(no\|required\|optional\)_argument.*/\1/p' \
		user/main.c user/top.c | sort -u
}
code_config_keys() { sed -n 's/^[[:blank:]]*{ \.name = "\([a-z_.]*\)".*/\1/p' user/config.c; }
code_event_types() { sed -n 's/^[[:blank:]]*\[MEMSHED_EV_[A-Z_]*\] = "\([a-z_]*\)",/\1/p' user/eventlog.c; }
# A man page's source with \- as -.
man_text() { sed 's/\\-/-/g' "$1"; }

# ---------------------------------------------------------------- the unit

if ! have systemd-analyze; then
	skip unit_verifies "systemd-analyze is not installed (Debian: systemd)"
elif [[ ! -x $MEMSHED ]]; then
	skip unit_verifies "$MEMSHED is not built (run make)"
else
	# With the binary path of this tree, and the man pages of this tree
	# for the Documentation= lines.
	mkdir -p "$dir/verify/man/man8" "$dir/verify/man/man5"
	cp "$MAN8" "$dir/verify/man/man8/"
	cp "$MAN5" "$dir/verify/man/man5/"
	sed "s|/usr/local/sbin/memshed|$MEMSHED|g" "$UNIT" >"$dir/verify/memshed.service"
	man_opt=--man=yes
	have man || man_opt=--man=no
	out=$(MANPATH=$dir/verify/man systemd-analyze verify $man_opt "$dir/verify/memshed.service" 2>&1)
	rc=$?
	if ((rc == 0)) && [[ -z $out ]]; then
		pass unit_verifies
	else
		fail unit_verifies "systemd-analyze verify exited $rc: $out"
	fi
fi
check unit_is_type_notify grep -qx 'Type=notify' "$UNIT"
check unit_execstart_default_prefix grep -q '^ExecStart=/usr/local/sbin/memshed run' "$UNIT"
check unit_reload_is_sighup grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$UNIT"
check unit_oom_score_adj grep -qx 'OOMScoreAdjust=-900' "$UNIT"
check unit_capabilities grep -qx \
	'CapabilityBoundingSet=CAP_BPF CAP_PERFMON CAP_SYS_PTRACE CAP_KILL CAP_IPC_LOCK CAP_DAC_OVERRIDE CAP_SYS_NICE' "$UNIT"
check unit_cgroupfs_writable grep -qE '^ReadWritePaths=.*/sys/fs/cgroup' "$UNIT"

# ---------------------------------------------------------------- install

# What `make install` must put under DESTDIR, for a PREFIX.
expected_files() {
	local p=$1
	printf '%s\n' "$p/sbin/memshed" "$p/share/man/man8/memshed.8" \
		"$p/share/man/man5/memshed.conf.5" "$p/lib/systemd/system/memshed.service" \
		"$p/share/bash-completion/completions/memshed" \
		/etc/memshed/memshed.conf.example | sort
}

installed_files() { (cd "$1" && find . -type f -o -type l | sed 's|^\.||' | sort); }

install_check() {	# install_check NAME PREFIX
	local name=$1 prefix=$2 root=$dir/$1 got want f
	mkdir -p "$root/etc/memshed"
	# An operator's config: install must not touch it, uninstall must keep it.
	printf '[memshed]\n; mine\n' >"$root/etc/memshed/memshed.conf"
	chmod 600 "$root/etc/memshed/memshed.conf"
	if ! out=$(make -s install DESTDIR="$root" PREFIX="$prefix" 2>&1); then
		fail "${name}_install" "make install exited $?: $out"
		return
	fi
	got=$(installed_files "$root")
	want=$( (expected_files "$prefix"; echo /etc/memshed/memshed.conf) | sort)
	if [[ $got == "$want" ]]; then
		pass "${name}_install_files"
	else
		fail "${name}_install_files" "$(diff <(echo "$want") <(echo "$got") | grep '^[<>]')"
	fi
	check "${name}_binary_mode" test "$(stat -c %a "$root$prefix/sbin/memshed")" = 755
	for f in share/man/man8/memshed.8 share/man/man5/memshed.conf.5 \
		lib/systemd/system/memshed.service share/bash-completion/completions/memshed; do
		[[ $(stat -c %a "$root$prefix/$f" 2>/dev/null) == 644 ]] ||
			{ fail "${name}_data_modes" "$prefix/$f is not 0644"; return; }
	done
	pass "${name}_data_modes"
	check "${name}_binary_is_the_build" cmp -s build/memshed "$root$prefix/sbin/memshed"
	check "${name}_execstart_uses_prefix" grep -q "^ExecStart=$prefix/sbin/memshed run" \
		"$root$prefix/lib/systemd/system/memshed.service"
	check "${name}_example_config" cmp -s examples/memshed.conf "$root/etc/memshed/memshed.conf.example"
	check "${name}_config_untouched" grep -q '^; mine$' "$root/etc/memshed/memshed.conf"
	# The installed unit against the installed tree: --root makes systemd
	# look for ExecStart= there (and /bin/kill, which a real root has).
	if have systemd-analyze; then
		mkdir -p "$root/bin" && cp /bin/kill "$root/bin/kill"
		out=$(systemd-analyze verify --root="$root" --man=no \
			"$prefix/lib/systemd/system/memshed.service" 2>&1)
		if (($? == 0)) && [[ -z $out ]]; then
			pass "${name}_installed_unit_verifies"
		else
			fail "${name}_installed_unit_verifies" "$out"
		fi
		rm -f "$root/bin/kill" && rmdir "$root/bin"
	fi
	# A second install over the first: the example is refreshed, the config kept.
	make -s install DESTDIR="$root" PREFIX="$prefix" >/dev/null 2>&1
	check "${name}_reinstall_keeps_config" grep -q '^; mine$' "$root/etc/memshed/memshed.conf"
	if ! out=$(make -s uninstall DESTDIR="$root" PREFIX="$prefix" 2>&1); then
		fail "${name}_uninstall" "make uninstall exited $?: $out"
		return
	fi
	got=$(installed_files "$root")
	if [[ $got == /etc/memshed/memshed.conf ]]; then
		pass "${name}_uninstall_removes_all_but_config"
	else
		fail "${name}_uninstall_removes_all_but_config" "left: $got"
	fi
	check "${name}_uninstall_keeps_config" grep -q '^; mine$' "$root/etc/memshed/memshed.conf"
}

if [[ ! -x $MEMSHED ]]; then
	skip install "$MEMSHED is not built (run make)"
else
	install_check usr /usr
	install_check local /usr/local
fi

# ---------------------------------------------------------------- man pages

if ! have groff; then
	skip man_pages_render "groff is not installed (Debian: groff-base)"
else
	for m in "$MAN8" "$MAN5"; do
		n=$(basename "$m")
		out=$(groff -man -Tutf8 -ww -z "$m" 2>&1)
		if (($? == 0)) && [[ -z $out ]]; then
			pass "man_renders_without_warnings_$n"
		else
			fail "man_renders_without_warnings_$n" "$out"
		fi
	done
	if have man; then
		check man_l_works bash -c "MANWIDTH=80 man -l '$MAN8' | grep -q 'EXIT STATUS'"
	fi
fi

missing=""
for v in $(code_verbs); do
	man_text "$MAN8" | grep -qx "\.B $v" || missing+=" $v"
done
[[ -z $(code_verbs) ]] && missing="(no verbs found in user/main.c)"
check man8_names_every_verb test -z "$missing" || note "verbs missing from memshed(8):$missing"

missing=""
for o in $(code_long_options); do
	man_text "$MAN8" | grep -q -- "--$o\b" || missing+=" --$o"
done
[[ -z $(code_long_options) ]] && missing="(no options found in user/main.c)"
check man8_names_every_option test -z "$missing" || note "options missing from memshed(8):$missing"

missing=""
for t in $(code_event_types); do
	man_text "$MAN8" | grep -qw -- "$t" || missing+=" $t"
done
[[ -z $(code_event_types) ]] && missing="(no event types found in user/eventlog.c)"
check man8_names_every_event_type test -z "$missing" || note "event types missing:$missing"

missing=""
for k in $(code_config_keys); do
	man_text "$MAN5" | grep -qF -- "$k" || missing+=" $k"
done
[[ -z $(code_config_keys) ]] && missing="(no keys found in user/config.c)"
check man5_names_every_config_key test -z "$missing" || note "keys missing from memshed.conf(5):$missing"

missing=""
for code in 0 1 2 3 4 5 6 7; do
	man_text "$MAN8" | sed -n '/^\.SH EXIT STATUS/,/^\.SH SIGNALS/p' | grep -qx "\.B $code" ||
		missing+=" $code"
done
check man8_exit_codes test -z "$missing" || note "exit codes missing from memshed(8):$missing"

# ---------------------------------------------------------------- Kubernetes

if python3 -c 'import yaml' 2>/dev/null; then
	out=$(python3 - "$YAML" "$dir/k8s.conf" <<'PY' 2>&1
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
kinds = sorted(d["kind"] for d in docs)
assert kinds == ["ConfigMap", "DaemonSet"], kinds
cm = next(d for d in docs if d["kind"] == "ConfigMap")
ds = next(d for d in docs if d["kind"] == "DaemonSet")
spec = ds["spec"]["template"]["spec"]
assert spec["hostPID"] is True
assert spec["priorityClassName"] == "system-node-critical"
c = spec["containers"][0]
assert c["readinessProbe"]["exec"]["command"][:2] == ["memshed", "status"]
assert "requests" in c["resources"] and "limits" in c["resources"]
mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
for p in ["/etc/memshed", "/sys/fs/cgroup", "/sys/kernel/btf",
          "/run/memshed", "/var/lib/memshed"]:
    assert p in mounts, p
assert mounts["/sys/kernel/btf"].get("readOnly") is True
vols = {v["name"]: v for v in spec["volumes"]}
cfg = vols[mounts["/etc/memshed"]["name"]]["configMap"]
assert cfg["name"] == cm["metadata"]["name"]
assert cfg["defaultMode"] == 0o600, oct(cfg["defaultMode"])
open(sys.argv[2], "w").write(cm["data"]["memshed.conf"])
PY
)
	if (($? == 0)); then
		pass daemonset_parses
		chmod 600 "$dir/k8s.conf"
		[[ -x $MEMSHED ]] && check daemonset_config_is_valid "$MEMSHED" check-config "$dir/k8s.conf"
	else
		fail daemonset_parses "$(tail -n 2 <<<"$out")"
	fi
else
	note "PyYAML is not available: structural checks only"
	ok=1
	for re in '^kind: ConfigMap$' '^kind: DaemonSet$' '^      hostPID: true$' \
		'priorityClassName: system-node-critical' 'defaultMode: 0600' \
		'command: \["memshed", "status"\]' 'mountPath: /etc/memshed$' \
		'mountPath: /sys/fs/cgroup$' 'mountPath: /sys/kernel/btf$' \
		'mountPath: /run/memshed$' 'mountPath: /var/lib/memshed$'; do
		grep -qE -- "$re" "$YAML" || { fail daemonset_structure "no line matching $re"; ok=0; break; }
	done
	# No tabs (YAML forbids them for indentation).
	((ok)) && grep -q $'\t' "$YAML" && { fail daemonset_structure "tab in $YAML"; ok=0; }
	((ok)) && pass daemonset_structure
fi

# ---------------------------------------------------------------- completion

check completion_syntax bash -n "$COMPLETION"
# complete_words WORD...: what the completion offers for the last word.
complete_words() {
	bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1));
		_memshed; printf "%s\n" "${COMPREPLY[@]}"' _ "$COMPLETION" "$@" 2>/dev/null
}
offered=$(complete_words memshed "")
missing=""
for v in $(code_verbs); do
	grep -qx -- "$v" <<<"$offered" || missing+=" $v"
done
[[ -z $offered ]] && missing="(nothing offered)"
check completion_offers_every_verb test -z "$missing" || note "verbs not completed:$missing"
check completion_prefix test "$(complete_words memshed che)" = check-config
check completion_global_options grep -qx -- --socket <<<"$(complete_words memshed --)"
check completion_levels test "$(complete_words memshed explain --level "" | tr '\n' ' ')" = "medium high critical "
check completion_formats test "$(complete_words memshed status --format "" | tr '\n' ' ')" = "text json prometheus "
missing=""
types=$(complete_words memshed events --type "")
for t in $(code_event_types); do
	grep -qx -- "$t" <<<"$types" || missing+=" $t"
done
check completion_event_types test -z "$missing" || note "event types not completed:$missing"
check completion_type_list test "$(complete_words memshed events --type exec,oom)" = exec,oom_kill
check completion_run_options grep -qx -- --dry-run <<<"$(complete_words memshed run --d)"

# Component names come from the running daemon.
if [[ $EUID -eq 0 && -x $MEMSHED && -r /sys/kernel/btf/vmlinux ]]; then
	cat >"$dir/comp.conf" <<-CONF
	[memshed]
	event_log = off
	[component alpha-one]
	match = comm:pkg-alpha
	[component beta.two]
	match = comm:pkg-beta
	CONF
	chmod 600 "$dir/comp.conf"
	daemon_start "$dir/comp.conf"
	if daemon_wait_ready; then
		names=$(PATH=$(dirname "$MEMSHED"):$PATH complete_words memshed thaw "" | sort | tr '\n' ' ')
		check completion_component_names test "$names" = "alpha-one beta.two "
		names=$(PATH=$(dirname "$MEMSHED"):$PATH complete_words memshed label 1 al)
		check completion_label_name test "$names" = alpha-one
	fi
	daemon_stop
else
	skip completion_component_names "needs root, kernel BTF and $MEMSHED"
fi

# ---------------------------------------------------------------- demo

check demo_script_syntax bash -n demo/run
install -m 600 demo/memshed.conf "$dir/demo.conf"
if [[ -x $MEMSHED ]]; then
	check demo_config_is_valid "$MEMSHED" check-config "$dir/demo.conf"
fi
if [[ $EUID -ne 0 || ! -r /sys/kernel/btf/vmlinux ]]; then
	skip demo_runs "needs root and kernel BTF"
elif [[ ! -x $MEMSHED || ! -x $HELPERS/memhog || ! -x $HELPERS/sigwatch ]]; then
	skip demo_runs "$MEMSHED or the helpers are not built (make test)"
elif [[ -S /run/memshed/demo.sock ]] && "$MEMSHED" --socket /run/memshed/demo.sock status >/dev/null 2>&1; then
	skip demo_runs "a demo is running already"
else
	start=$SECONDS
	MEMSHED_DEMO_NO_BUILD=1 MEMSHED=$MEMSHED HELPERS=$HELPERS \
		timeout --kill-after=5 90 demo/run >"$dir/demo.out" 2>&1
	rc=$? took=$((SECONDS - start))
	note "demo: exit $rc in ${took}s"
	if ((rc == 0)); then
		pass demo_runs
	else
		fail demo_runs "exit $rc: $(tail -n 5 "$dir/demo.out")"
	fi
	check demo_under_60s test "$took" -lt 60
	check demo_terminates_first_victim grep -q 'result .*component=indexer action=term result=exited' "$dir/demo.out"
	check demo_trims_the_cache grep -q 'result .*component=cache action=signal result=signalled' "$dir/demo.out"
	check demo_freezes grep -q 'result .*component=reports action=freeze result=frozen' "$dir/demo.out"
	check demo_thaws_when_relieved grep -q 'thaw .*component=reports' "$dir/demo.out"
	check demo_spares_held_and_critical grep -qE '^  editor +running' "$dir/demo.out"
	left=$(pgrep -af -- '--comm demo-' ; ls /run/memshed/demo.sock /run/memshed/demo-events.ring 2>/dev/null)
	check demo_cleans_up test -z "$left"
fi
