#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# The libFuzzer targets of tests/fuzz/ (issue 7): config parser, control
# requests, value parsers, event ring on corrupt files, the kernel event decoder.
# `make fuzz` builds them (clang, -fsanitize=fuzzer,address,undefined) and runs
# each for FUZZ_SECONDS (default 60) on a copy of its seeds, the crash-* regression
# inputs included, as many at a time as there are CPUs (FUZZ_JOBS): five targets
# of 60 s take three minutes on two CPUs; tests/run-all allows a script
# TEST_TIMEOUT=300 s. One line per target: PASS fuzz_TARGET: N execs, corpus M, or FAIL
# with the sanitizer's summary and where the crashing input was kept.
# shellcheck source=tests/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

command -v "${CLANG:-clang}" >/dev/null || skip_all "needs clang with libFuzzer (libclang-rt-dev)"
cd "$REPO_ROOT" || exit 1

seconds=${FUZZ_SECONDS:-60}
if ! out=$(make -s fuzz-build 2>&1); then
	fail fuzz_build "make fuzz-build: $(tail -n 5 <<<"$out")"
	exit 1
fi
# tests/fuzz/run prints the PASS/FAIL lines itself and exits 1 on a crash.
make -s fuzz FUZZ_SECONDS="$seconds"
