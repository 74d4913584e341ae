#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# The container image (issue 14): dist/Containerfile builds the image the
# DaemonSet names (localhost/memshed:VERSION) from the Debian package, with
# Debian's podman, on a Debian 12 base made here by debootstrap and
# `podman import` (no registry is ever asked: --pull=never, and the build
# and every container run with no network). In the image: `memshed
# --version`, check-config of the shipped config and of the DaemonSet's
# ConfigMap. Then the daemon runs in a container set up from the DaemonSet
# itself (its hostPID, exactly the capabilities it lists, its seccomp and
# privilege settings, its mounts, a read-only root): the readiness probe
# answers, a host process named by the ConfigMap is labelled from inside
# the container, the node reaches the control socket, and a stop is clean.
#
# podman here: a private store and run root in the test's directory (the
# host's images are never touched, and everything goes at exit), runc
# (crun refuses hosts with hybrid cgroups), cgroupfs and file events (no
# systemd), ulimits within the test's own (podman's defaults exceed what a
# process without CAP_SYS_RESOURCE may set). The debootstrap base is cached
# as a tarball under /var/cache/memshed-test/ (keyed by suite, mirror and
# memshed's libraries) and stays; so do the empty libpod_parent cgroups
# that podman's cgroupfs manager keeps for every user of podman.
. "$(dirname "$0")/../lib/common.sh"

require_root
require_built
cd "$REPO_ROOT" || exit 1
for t in podman runc debootstrap dpkg-buildpackage python3; do
	command -v "$t" >/dev/null || skip_all "$t is not installed (tools/install-deps --test)"
done
python3 -c 'import yaml' 2>/dev/null || skip_all "PyYAML is missing (python3-yaml)"

VERSION=$(sed -n 's/^VERSION *:= *//p' Makefile)
ARCH=$(dpkg --print-architecture)
IMAGE=localhost/memshed:$VERSION
BASE_IMAGE=localhost/debian-base:bookworm
CACHE=${MEMSHED_TEST_CACHE:-/var/cache/memshed-test}
YAML=dist/kubernetes/daemonset.yaml
tmpdir_create dir
t0=$SECONDS

# The mirror apt uses here (deb822 .sources or a sources.list line).
apt_mirror() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -r $f ]] || continue
		awk 'BEGIN { RS = ""; FS = "\n" }
		     /(^|\n)Types:[^\n]*\<deb\>/ && /(^|\n)Suites:[^\n]*\<bookworm\>/ {
			for (i = 1; i <= NF; i++) if ($i ~ /^URIs:/) { split($i, u, " "); print u[2]; exit } }' "$f"
	done
	cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i ~ /^[a-z]+:/) { if ($(i + 1) == "bookworm") print $i; break } }'
	echo http://deb.debian.org/debian
}
MIRROR=$(apt_mirror | head -n 1)

# ---------------------------------------------------------------- podman, privately

mkdir -p "$dir/podman/root" "$dir/podman/run" "$dir/podman/tmp"
nofile=$(ulimit -Sn)
((nofile > 65536)) && nofile=65536
cat >"$dir/podman/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$dir/podman/events.log"
EOF
export CONTAINERS_CONF=$dir/podman/containers.conf TMPDIR=$dir/podman/tmp
pm() { podman --root "$dir/podman/root" --runroot "$dir/podman/run" --storage-driver overlay "$@"; }
podman_reset() {
	pm rm --all --force --time 5 >/dev/null 2>&1
	pm system reset --force >/dev/null 2>&1
	return 0
}
on_exit podman_reset

# ---------------------------------------------------------------- the .deb and the base, side by side

# The package (as `make deb` makes it; its unit tests run in deb.sh), built
# while debootstrap makes the base.
( DEB_BUILD_OPTIONS="nocheck noautodbgsym" make -s deb OUTPUT="$dir/out" >"$dir/deb.log" 2>&1
  echo $? >"$dir/deb.rc" ) &
deb_job=$!

# The base: Debian 12 minbase with memshed's run-time libraries, so that the
# image build needs no network. They are the packages of the libraries the
# tree's build links (ldd: libbpf's own included); the .deb's Depends must
# be among them (checked below).
lib_packages() {
	local l r p
	for l in $(ldd "$MEMSHED" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'); do
		r=$(readlink -f "$l")
		# merged /usr: dpkg knows a file by the path its package ships
		p=$(dpkg -S "$l" 2>/dev/null || dpkg -S "$r" 2>/dev/null || dpkg -S "${r#/usr}" 2>/dev/null) ||
			return 1
		echo "${p%%:*}"
	done | sort -u | paste -sd,
}
deps=$(lib_packages) || { fail base_packages "cannot map the libraries of $MEMSHED to packages"; exit 1; }
key=$(printf 'bookworm minbase %s %s\n' "$MIRROR" "$deps" | sha256sum | cut -c1-16)
BASE_TAR=$CACHE/debian-bookworm-minbase-$key.tar
note "base: bookworm minbase + $deps from $MIRROR"
if [[ -s $BASE_TAR ]]; then
	note "base: cached $BASE_TAR"
else
	t=$SECONDS
	mkdir -p "$CACHE/debootstrap-debs"
	# dpkg in the new root without an fsync per file (a third faster here),
	# for the bootstrap only: the setting is removed before the tarball.
	mkdir -p "$dir/rootfs/etc/dpkg/dpkg.cfg.d"
	echo force-unsafe-io >"$dir/rootfs/etc/dpkg/dpkg.cfg.d/memshed-test-unsafe-io"
	if debootstrap --variant=minbase --include="$deps" --cache-dir="$CACHE/debootstrap-debs" \
		bookworm "$dir/rootfs" "$MIRROR" >"$dir/debootstrap.log" 2>&1 &&
		rm "$dir/rootfs/etc/dpkg/dpkg.cfg.d/memshed-test-unsafe-io" &&
		tar -C "$dir/rootfs" -c . >"$BASE_TAR.$$"; then
		mv "$BASE_TAR.$$" "$BASE_TAR"
		# Older bases (other libraries, another mirror) are of no more use.
		find "$CACHE" -maxdepth 1 -name 'debian-bookworm-minbase-*.tar' ! -name "${BASE_TAR##*/}" -delete
		pass debootstrap_base
		note "debootstrap: $((SECONDS - t)) s"
	else
		rm -f "$BASE_TAR.$$"
		fail debootstrap_base "$(tail -n 5 "$dir/debootstrap.log")"
	fi
	rm -rf "$dir/rootfs"
fi

wait "$deb_job"
if [[ $(cat "$dir/deb.rc") != 0 ]]; then
	fail make_deb "$(tail -n 5 "$dir/deb.log")"
	exit 1
fi
pass make_deb
note "make deb and base: $((SECONDS - t0)) s"
[[ -s $BASE_TAR ]] || exit 1
DEB=$dir/out/memshed_${VERSION}_${ARCH}.deb
missing=""
for p in $(dpkg-deb -f "$DEB" Depends | sed 's/([^)]*)//g; s/|[^,]*//g; s/,/ /g'); do
	[[ ,$deps, == *,"$p",* ]] || missing+=" $p"
done
check base_has_the_package_dependencies test -z "$missing" || note "not in the base:$missing"
check podman_import pm import --quiet - "$BASE_IMAGE" <"$BASE_TAR" || exit 1

# ---------------------------------------------------------------- build

mkdir -p "$dir/context"
cp "$DEB" "$dir/context/"
t=$SECONDS
if out=$(pm build --pull=never --network=none --build-arg BASE="$BASE_IMAGE" \
	--build-arg APT_UPDATE=no -f dist/Containerfile -t "$IMAGE" "$dir/context" 2>&1); then
	pass image_builds
else
	fail image_builds "$(tail -n 5 <<<"$out")"
	exit 1
fi
note "podman build: $((SECONDS - t)) s"
check image_has_the_daemonset_name pm image exists "$(python3 -c '
import sys, yaml
ds = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] == "DaemonSet"][0]
print(ds["spec"]["template"]["spec"]["containers"][0]["image"])' "$YAML")"

run() { pm run --rm --network=none "$@"; }
check image_version test "$(run "$IMAGE" memshed --version 2>&1)" = "memshed $VERSION"
check image_shipped_config_is_valid run "$IMAGE" memshed check-config /etc/memshed/memshed.conf
check image_runs_as_root test "$(run "$IMAGE" id -u)" = 0
check image_default_command test "$(pm image inspect --format '{{json .Config.Cmd}}' "$IMAGE")" = \
	'["memshed","run","--btf","/sys/kernel/btf/vmlinux"]'

# The DaemonSet's config and settings, as the pod gets them: the ConfigMap's
# file (mode 0600), the container's command, probe and capabilities, and its
# mounts as podman options. The hostPath volumes are the node's paths,
# except the two memshed writes (its socket and its event ring): those go
# to the test's directory, so that a memshed on this host is not disturbed.
mkdir -p "$dir/etc-memshed" "$dir/run-memshed" "$dir/state"
python3 - "$YAML" "$dir" <<'PY' || fail daemonset_parses "cannot read the pod out of $YAML"
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
out = sys.argv[2]
cm = next(d for d in docs if d["kind"] == "ConfigMap")
ds = next(d for d in docs if d["kind"] == "DaemonSet")
pod = ds["spec"]["template"]["spec"]
c = pod["containers"][0]
sc = c["securityContext"]
open(out + "/etc-memshed/memshed.conf", "w").write(cm["data"]["memshed.conf"])
open(out + "/command", "w").write("\n".join(c["command"]) + "\n")
open(out + "/probe", "w").write("\n".join(c["readinessProbe"]["exec"]["command"]) + "\n")
opts = ["--cap-drop=all", "--cap-add=" + ",".join(sc["capabilities"]["add"])]
assert sc["capabilities"]["drop"] == ["ALL"] and not sc.get("privileged")
if pod.get("hostPID"):
    opts.append("--pid=host")
if sc.get("readOnlyRootFilesystem"):
    opts += ["--read-only", "--read-only-tmpfs=false"]
if sc.get("allowPrivilegeEscalation") is False:
    opts += ["--security-opt", "no-new-privileges"]
if sc.get("seccompProfile", {}).get("type") == "Unconfined":
    opts += ["--security-opt", "seccomp=unconfined"]
private = {"/run/memshed": out + "/run-memshed", "/var/lib/memshed": out + "/state"}
vols = {v["name"]: v for v in pod["volumes"]}
for m in c["volumeMounts"]:
    v = vols[m["name"]]
    if "configMap" in v:
        src = out + "/etc-memshed"
    else:
        src = private.get(v["hostPath"]["path"], v["hostPath"]["path"])
    opts += ["-v", "%s:%s:%s" % (src, m["mountPath"], "ro" if m.get("readOnly") else "rw")]
open(out + "/pod-options", "w").write("\n".join(opts) + "\n")
PY
chmod 600 "$dir/etc-memshed/memshed.conf" # defaultMode: 0600
check image_checks_the_configmap_config run -v "$dir/etc-memshed:/etc/memshed:ro" "$IMAGE" \
	memshed check-config /etc/memshed/memshed.conf

# ---------------------------------------------------------------- the pod

# A host process the ConfigMap names (component batch-workers).
spawn worker "$HELPERS/memhog" --anon 8 --comm batch-worker --ready-file "$dir/worker.ready"
wait_for 10 test -s "$dir/worker.ready" || fail worker_ready "memhog never became ready"
mapfile -t command <"$dir/command"
mapfile -t probe <"$dir/probe"
mapfile -t pod_options <"$dir/pod-options"
note "pod: podman run ${pod_options[*]}"
NAME=memshed-image-test-$$
if out=$(pm run -d --name "$NAME" --network=none "${pod_options[@]}" "$IMAGE" "${command[@]}" 2>&1); then
	pass pod_starts
else
	fail pod_starts "$out"
fi
pod_ready() { pm exec "$NAME" "${probe[@]}"; }
if check pod_readiness_probe wait_for 30 pod_ready; then
	# Labelled from inside the container: hostPID, BPF and the
	# capabilities the DaemonSet lists are enough.
	labelled() {
		pm exec "$NAME" memshed status --json |
			python3 -c 'import json, sys
c = [x for x in json.load(sys.stdin)["components"] if x["name"] == "batch-workers"]
sys.exit(not (c and int(sys.argv[1]) in c[0]["pids"]))' "$worker"
	}
	check pod_labels_a_host_process wait_for 10 labelled
	check node_sees_the_socket "$MEMSHED" --socket "$dir/run-memshed/memshed.sock" status
	check pod_keeps_its_event_ring test -s "$dir/state/events.ring"
fi
pm logs "$NAME" >"$dir/pod.log" 2>&1
pm stop --time 20 "$NAME" >/dev/null 2>&1
check pod_stops_cleanly test "$(pm inspect --format '{{.State.ExitCode}}' "$NAME" 2>&1)" = 0 ||
	note "pod log: $(tail -n 5 "$dir/pod.log" | tr '\n' ' ')"
check worker_untouched pid_alive "$worker"
pm rm --force "$NAME" >/dev/null 2>&1
note "image test: $((SECONDS - t0)) s"
