#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# The Kubernetes manifests (issue 14): dist/kubernetes/daemonset.yaml (the
# ConfigMap and the DaemonSet) validates against the Kubernetes API schema,
# strictly (no unknown field), with the npm package kubernetes-models
# (tests/integration/kubernetes/, versions pinned in its package-lock.json,
# installed by tools/install-deps --test). Broken copies of the file must
# be refused, one per kind of mistake, so the check is known to bite. The
# DaemonSet's image is the one dist/Containerfile builds (image.sh builds
# it), and its config passes check-config (packaging.sh). No root needed.
. "$(dirname "$0")/../lib/common.sh"

cd "$REPO_ROOT" || exit 1
YAML=dist/kubernetes/daemonset.yaml
SRC=tests/integration/kubernetes
MODULES=${MEMSHED_KUBE_MODULES:-/var/cache/memshed-test/kubernetes}
command -v node >/dev/null || skip_all "node is not installed (tools/install-deps --test)"
[[ -d $MODULES/node_modules/kubernetes-models ]] ||
	skip_all "$MODULES has no kubernetes-models (tools/install-deps --test)"
cmp -s "$SRC/package-lock.json" "$MODULES/package-lock.json" ||
	skip_all "$MODULES is not at the versions of $SRC/package-lock.json (tools/install-deps --test)"
note "kubernetes-models $(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$MODULES/node_modules/kubernetes-models/package.json"), node $(node --version)"
tmpdir_create dir

validate() { node "$SRC/validate.js" "$MODULES" "$@"; }

check daemonset_validates validate "$YAML"
out=$(validate "$YAML" 2>&1)
check both_documents_checked test "$out" = "ok: ConfigMap/memshed-config, DaemonSet/memshed"

# Broken copies, one per kind of mistake: NAME, the message (ERE) it must be
# refused with, the sed script that breaks it. All are validated in one run
# (the type check takes seconds); each must be refused, for its own reason.
broken=(
	unknown_field "'\"hostPid\"' does not exist in type 'IPodSpec'" 's/^      hostPID: true$/      hostPid: true/'
	misplaced_field "'\"privileged\"' does not exist" 's/^      hostPID: true$/      privileged: true/'
	bad_quantity 'requests/cpu must match format "quantity"' 's/^              cpu: 50m$/              cpu: lots/'
	bad_enum 'hostPath/type must be equal to one of the allowed values' 's/^            type: DirectoryOrCreate$/            type: Dir/'
	missing_required 'containers/0 must have required property name' '/^        - name: memshed$/s/- name: memshed/- stdin: false/'
	wrong_type 'hostPID must be boolean' 's/^      hostPID: true$/      hostPID: "yes"/'
	configmap_data_not_string 'data/memshed.conf must be string' 's/^  memshed.conf: |$/  memshed.conf: 7/;/^    ; memshed.conf(5) for a Kubernetes node/,/^---$/{/^---$/!d}'
)
files=()
for ((i = 0; i < ${#broken[@]}; i += 3)); do
	sed -e "${broken[i + 2]}" "$YAML" >"$dir/${broken[i]}.yaml"
	files+=("$dir/${broken[i]}.yaml")
done
out=$(validate "${files[@]}" 2>&1)
for ((i = 0; i < ${#broken[@]}; i += 3)); do
	name=${broken[i]} f=$dir/${broken[i]}.yaml
	mine=$(grep -F "$f: " <<<"$out")
	if cmp -s "$f" "$YAML"; then
		fail "refuses_$name" "the edit changed nothing (the manifest changed?)"
	elif [[ -z $mine ]]; then
		fail "refuses_$name" "accepted"
	elif grep -qE -- "${broken[i + 1]}" <<<"$mine"; then
		pass "refuses_$name"
	else
		fail "refuses_$name" "refused, but not for that: $mine"
	fi
done

# The image the DaemonSet runs is the one dist/Containerfile builds and
# image.sh tags: localhost/memshed:VERSION.
version=$(sed -n 's/^VERSION *:= *//p' Makefile)
check daemonset_names_the_built_image grep -qx "          image: localhost/memshed:$version" "$YAML"
