#!/bin/sh
# Run the fuzz targets built in BUILD: usage run.sh BUILD SECONDS TARGET...
#
# For each target: replay every reproducer in tests/fuzz/regress/TARGET/ (a
# crash found once must stay fixed), then fuzz for SECONDS starting from the
# committed seeds in tests/fuzz/corpus/TARGET/.  New inputs go to
# BUILD/corpus/TARGET/ (kept between runs, never into the source tree) and
# crashes to BUILD/crashes/TARGET/.  Every target runs even after a failure
# (one bug must not hide another); the exit status is non-zero if any
# reproducer or fuzzing run failed, and the last line names them.
#
# FUZZ_JOBS=N runs N fuzzer processes per target (libFuzzer -jobs/-workers);
# FUZZ_ARGS adds libFuzzer options.
set -eu
build=$(cd "$1" && pwd)
seconds=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
jobs=${FUZZ_JOBS:-1}
# third-party leaks only, each justified in the file
LSAN_OPTIONS="suppressions=$(cd "$here" && pwd)/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
UBSAN_OPTIONS="print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export LSAN_OPTIONS UBSAN_OPTIONS
# scratch files of the targets (fuzz_config's) stay in the build tree
TMPDIR=$build/tmp
mkdir -p "$TMPDIR"
export TMPDIR

# longest input per target: a few messages and cuts for proto, a config file,
# a few kilobytes of client traffic for conn (longer inputs only slow it down),
# a PROXY header (at most 1024 bytes) and what follows it for proxy
max_len() {
	case $1 in
	proto) echo 4096 ;;
	config) echo 8192 ;;
	conn) echo 8192 ;;
	proxy) echo 2048 ;;
	*) echo 4096 ;;
	esac
}

failed=
for t in "$@"; do
	bin=$build/fuzz_$t
	seeds=$here/corpus/$t
	regress=$here/regress/$t
	work=$build/corpus/$t
	crashes=$build/crashes/$t
	mkdir -p "$work" "$crashes"
	if [ -d "$regress" ] && [ -n "$(ls -A "$regress" 2>/dev/null | grep -v '^README')" ]; then
		echo "fuzz_$t: replaying $regress"
		# libFuzzer runs each file given on the command line once
		"$bin" $(ls -d "$regress"/* | grep -v '/README') >"$build/regress-$t.log" 2>&1 || {
			cat "$build/regress-$t.log"
			echo "fuzz_$t: a reproducer in $regress fails again" >&2
			failed="$failed $t(regress)"; }
	fi
	echo "fuzz_$t: fuzzing for ${seconds}s (max_len $(max_len "$t"), $jobs job(s))"
	par=
	if [ -f "$here/$t.dict" ]; then
		par="-dict=$here/$t.dict"
	fi
	if [ "$jobs" -gt 1 ]; then
		# each job runs max_total_time; libFuzzer writes fuzz-N.log into
		# the cwd, so that is BUILD/logs/TARGET, not the source tree
		par="$par -jobs=$jobs -workers=$jobs"
		mkdir -p "$build/logs/$t"
		cd "$build/logs/$t"
	fi
	# shellcheck disable=SC2086 # FUZZ_ARGS and par are option lists
	"$bin" -max_total_time="$seconds" -max_len="$(max_len "$t")" -timeout=10 \
	    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$crashes/" \
	    $par ${FUZZ_ARGS:-} "$work" "$seeds" || failed="$failed $t(fuzz)"
	cd "$here/../.."
done
if [ -n "$failed" ]; then
	echo "fuzz: FAILED:$failed (crashes in $build/crashes/)" >&2
	exit 1
fi
echo "fuzz: every target passed"
