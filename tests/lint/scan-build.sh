#!/bin/sh
# clang's static analyzer over the given objects (built from scratch in
# BUILD, so every file is analysed), then every report is matched against
# .scan-build-suppressions (file, function and description: justified false
# positives).  Any report not listed fails, with its location and text.
# usage: scan-build.sh BUILD OBJECT...
set -eu
build=$1
shift
out=$build/reports
supp=.scan-build-suppressions
sb=$(command -v scan-build-14 || command -v scan-build)

rm -rf "$build"
mkdir -p "$out"
# the analyzer is a compiler wrapper: a fresh make of exactly these objects
"$sb" -o "$out" --use-cc="${CC_ANALYZE:-clang-14}" \
	${MAKE:-make} --no-print-directory -j2 BUILD="$build" WERROR= "$@" >"$build/scan-build.log" 2>&1 || {
	cat "$build/scan-build.log"; exit 1; }

bad=0
total=0
for r in $(find "$out" -name 'report-*.html' 2>/dev/null); do
	file=$(sed -n 's/^<!-- FILENAME \(.*\) -->$/\1/p' "$r")
	func=$(sed -n 's/^<!-- FUNCTIONNAME \(.*\) -->$/\1/p' "$r")
	desc=$(sed -n 's/^<!-- BUGDESC \(.*\) -->$/\1/p' "$r")
	line=$(sed -n 's/^<!-- BUGLINE \(.*\) -->$/\1/p' "$r")
	total=$((total + 1))
	# an entry is "FILE FUNCTION DESCRIPTION-PREFIX  # why"
	if sed -e 's/[[:space:]]*#.*$//' -e '/^$/d' "$supp" | while read -r sf sfn sdesc; do
		if [ "$sf" = "$file" ] && [ "$sfn" = "$func" ]; then
			case $desc in "$sdesc"*) exit 1 ;; esac
		fi
	done; then
		echo "scan-build: src/$file:$line: in $func(): $desc ($r)"
		bad=$((bad + 1))
	fi
done
echo "scan-build: $total report(s), $((total - bad)) known false positive(s) (.scan-build-suppressions), $bad new"
[ "$bad" -eq 0 ]
