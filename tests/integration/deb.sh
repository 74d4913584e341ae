#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# The Debian package (issue 14): `make deb` builds memshed_VERSION_ARCH.deb,
# lintian reports nothing that debian/*.lintian-overrides does not explain,
# and the package goes through a dpkg round trip on this host: install
# (files, conffile, the unit installed but not enabled, `memshed --version`,
# check-config of the shipped config, the daemon runs from the installed
# binary and writes its event ring under /var/lib/memshed), remove (an
# operator's edit of the conffile and the event ring are kept), reinstall
# (the edit still kept), purge (nothing left). The package is purged at exit
# whatever happens; a host that has memshed installed, or data in its
# paths, is not touched (skipped: CI, a failure).
. "$(dirname "$0")/../lib/common.sh"

require_root
require_built
cd "$REPO_ROOT" || exit 1
for t in dpkg-buildpackage dh lintian; do
	command -v "$t" >/dev/null || skip_all "$t is not installed (tools/install-deps --test)"
done
if dpkg-query -W -f='${Status}' memshed 2>/dev/null | grep -qv '^unknown ok not-installed$'; then
	skip_all "a memshed package is installed on this host ($(dpkg-query -W -f='${Status}' memshed)): not replacing it"
fi
for p in /etc/memshed /var/lib/memshed; do
	[[ -e $p ]] && skip_all "$p exists: a dpkg round trip of memshed could change it"
done

VERSION=$(sed -n 's/^VERSION *:= *//p' Makefile)
ARCH=$(dpkg --print-architecture)
tmpdir_create dir
OUT=$dir/out

# ---------------------------------------------------------------- build

# nocheck: the unit tests, which the package build runs too, have runs of
# their own in `make test`.
start=$SECONDS
if out=$(DEB_BUILD_OPTIONS=nocheck make -s deb OUTPUT="$OUT" 2>&1); then
	pass make_deb
else
	fail make_deb "$(tail -n 5 <<<"$out")"
	exit 1
fi
note "make deb: $((SECONDS - start)) s"
DEB=$OUT/memshed_${VERSION}_${ARCH}.deb
check deb_named_for_version_and_arch test -f "$DEB"
check deb_field_version test "$(dpkg-deb -f "$DEB" Version)" = "$VERSION"
# libbpf, libelf and libinih are linked statically (Makefile: STATIC_LIBS), zlib is not.
check deb_depends_on_zlib grep -q 'zlib1g' <<<"$(dpkg-deb -f "$DEB" Depends)"
check deb_built_using_libbpf grep -q 'libbpf (= ' <<<"$(dpkg-deb -f "$DEB" Built-Using)"

# Every tag at every level, pedantic included; what is overridden is listed
# as notes (each override says why in debian/memshed.lintian-overrides).
lint=$(lintian --pedantic --display-info --display-experimental --show-overrides \
	"$OUT/memshed_${VERSION}_${ARCH}.changes" 2>&1 | grep -v 'running with root privileges is not recommended')
while IFS= read -r l; do
	[[ -n $l ]] && note "lintian: $l"
done <<<"$lint"
unexplained=$(grep -E '^[EWIPX]: ' <<<"$lint")
check lintian_clean test -z "$unexplained"

contents=$(dpkg-deb -c "$DEB" | awk '{ print $1, $NF }')
want="-rwxr-xr-x ./usr/sbin/memshed
-rw-r--r-- ./lib/systemd/system/memshed.service
-rw-r--r-- ./usr/share/man/man8/memshed.8.gz
-rw-r--r-- ./usr/share/man/man5/memshed.conf.5.gz
-rw-r--r-- ./usr/share/bash-completion/completions/memshed
-rw-r--r-- ./etc/memshed/memshed.conf
-rw-r--r-- ./usr/share/doc/memshed/examples/memshed.conf
-rw-r--r-- ./usr/share/doc/memshed/examples/memshed.rules.yml
-rw-r--r-- ./usr/share/doc/memshed/examples/memshed.json
-rw-r--r-- ./usr/share/doc/memshed/README.Debian
-rw-r--r-- ./usr/share/doc/memshed/copyright
drwxr-xr-x ./var/lib/memshed/"
missing=$(grep -vxF -f <(echo "$contents") <<<"$want")
check deb_contents test -z "$missing" || note "missing from the .deb: $missing"
check deb_ships_one_file_in_etc test "$(grep -c '^-.* ./etc/' <<<"$contents")" = 1
check deb_conffile_is_the_commented_config cmp -s \
	<(dpkg-deb --fsys-tarfile "$DEB" | tar -xO ./etc/memshed/memshed.conf) dist/memshed.conf
check deb_declares_conffile grep -qx /etc/memshed/memshed.conf \
	<(dpkg-deb --ctrl-tarfile "$DEB" | tar -xO ./conffiles)

# ---------------------------------------------------------------- install

# From here on the host has the package: purge it at exit, whatever happens.
on_exit purge_quietly
purge_quietly() {
	dpkg-query -W memshed >/dev/null 2>&1 || return 0
	dpkg --purge memshed >/dev/null 2>&1
	rm -rf /etc/memshed /var/lib/memshed # only ever ours: they did not exist at start
}
# Each step's output goes to the test's notes when it fails.
dpkg_do() {
	local out rc
	out=$(DEBIAN_FRONTEND=noninteractive dpkg "$@" 2>&1)
	rc=$?
	((rc == 0)) || note "dpkg $*: $out"
	return "$rc"
}
status_of() { dpkg-query -W -f='${Status}' memshed 2>/dev/null; }

check dpkg_install dpkg_do -i "$DEB" || exit 1
check installed_status test "$(status_of)" = "install ok installed"
missing=""
for f in /usr/sbin/memshed /lib/systemd/system/memshed.service /usr/share/man/man8/memshed.8.gz \
	/usr/share/man/man5/memshed.conf.5.gz /usr/share/bash-completion/completions/memshed \
	/etc/memshed/memshed.conf /usr/share/doc/memshed/examples/memshed.conf; do
	[[ -f $f ]] || missing+=" $f"
done
check installed_files test -z "${missing// /}"
check installed_state_dir test -d /var/lib/memshed
check installed_version test "$(/usr/sbin/memshed --version)" = "memshed $VERSION"
check installed_config_is_valid /usr/sbin/memshed check-config /etc/memshed/memshed.conf
check installed_config_has_no_component grep -q 'ok (0 components)' \
	<(/usr/sbin/memshed check-config /etc/memshed/memshed.conf 2>&1)
# The commented settings are real ones: uncommented, the file is valid too.
sed -n 's/^;\([a-z[]\)/\1/p' /etc/memshed/memshed.conf >"$dir/uncommented.conf"
chmod 600 "$dir/uncommented.conf"
check installed_config_uncommented_is_valid /usr/sbin/memshed check-config "$dir/uncommented.conf"
check installed_unit_execstart grep -q '^ExecStart=/usr/sbin/memshed run' /lib/systemd/system/memshed.service
if command -v systemd-analyze >/dev/null; then
	check installed_unit_verifies bash -c 'out=$(systemd-analyze verify --man=no /lib/systemd/system/memshed.service 2>&1) && [[ -z $out ]] || { echo "$out"; exit 1; }'
fi
# Installed disabled (README.Debian): no link for any target.
check unit_not_enabled test -z "$(find /etc/systemd/system -name memshed.service 2>/dev/null)"
check man_finds_memshed_8 grep -qx /usr/share/man/man8/memshed.8.gz <(man -aw 8 memshed 2>/dev/null)
check man_finds_memshed_conf_5 grep -qx /usr/share/man/man5/memshed.conf.5.gz <(man -aw 5 memshed.conf 2>/dev/null)
check bash_completion_loads bash -c '. /usr/share/bash-completion/completions/memshed && complete -p memshed'

# The installed binary runs the daemon on the shipped config (no component:
# it measures and logs) and writes its event ring where the package put the
# directory.
MEMSHED=/usr/sbin/memshed daemon_start /etc/memshed/memshed.conf
if daemon_wait_ready 15; then
	check installed_daemon_status /usr/sbin/memshed status
	daemon_stop
	check installed_daemon_stops_cleanly test "$DAEMON_STATUS" = 0
	check installed_daemon_event_ring test -s /var/lib/memshed/events.ring
fi

# ---------------------------------------------------------------- remove

echo '; an operator was here' >>/etc/memshed/memshed.conf
check dpkg_remove dpkg_do --remove memshed
check removed_status test "$(status_of)" = "deinstall ok config-files"
check removed_binary_gone test ! -e /usr/sbin/memshed
check removed_unit_gone test ! -e /lib/systemd/system/memshed.service
check remove_keeps_edited_conffile grep -qx '; an operator was here' /etc/memshed/memshed.conf
check remove_keeps_event_ring test -s /var/lib/memshed/events.ring

check dpkg_reinstall dpkg_do -i "$DEB"
check reinstall_keeps_edited_conffile grep -qx '; an operator was here' /etc/memshed/memshed.conf
check reinstall_leaves_no_dpkg_files test -z "$(find /etc/memshed -name '*.dpkg-*')"

# ---------------------------------------------------------------- purge

check dpkg_purge dpkg_do --purge memshed
check purged_status test "$(status_of)" = "" -o "$(status_of)" = "unknown ok not-installed"
left=""
for p in /usr/sbin/memshed /lib/systemd/system/memshed.service /usr/share/man/man8/memshed.8.gz \
	/usr/share/man/man5/memshed.conf.5.gz /usr/share/bash-completion/completions/memshed \
	/usr/share/doc/memshed /etc/memshed /var/lib/memshed; do
	[[ -e $p ]] && left+=" $p"
done
left+=$(find /var/lib/dpkg/info -name 'memshed.*' -printf ' %p')
check purge_leaves_nothing test -z "$left" || note "left after purge:$left"
