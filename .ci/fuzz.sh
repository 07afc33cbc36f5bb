#!/usr/bin/env bash
# fuzz.sh FUZZTIME [DIR...]: fuzz every fuzz target (func FuzzXxx(f *testing.F) in a _test.go
# file) of the module, or of the packages in the DIRs given, for FUZZTIME each (go test's
# -fuzztime: 3s, 2m, 10000x). go test fuzzes one target of one package at a time, so they run
# one after another; the targets are found in the sources, so a new one needs no list kept
# here. A target that fails leaves the input that broke it in its package's
# testdata/fuzz/FuzzXxx/ (commit it with the fix: it then runs in every go test); the script
# goes on with the others and fails at the end. Called by `make test` (briefly) and `make fuzz`.
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime=${1:?usage: fuzz.sh FUZZTIME [DIR...]}
shift
GO=${GO:-go}
dirs=("$@")
[ ${#dirs[@]} -gt 0 ] || dirs=(.)

# "pkgdir target" lines, sorted.
mapfile -t targets < <(grep -rEo --include='*_test.go' --exclude-dir=testdata --exclude-dir=.git \
	'^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' "${dirs[@]}" |
	sed -E 's|^(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]+).*|\1 \2|' | sort -u)
if [ ${#targets[@]} -eq 0 ]; then
	echo "fuzz: no fuzz targets under ${dirs[*]}" >&2
	exit 1
fi

count_files() { if [ -d "$1" ]; then find "$1" -type f | wc -l; else echo 0; fi; }

log=$(mktemp)
trap 'rm -f "$log"' EXIT
failed=()
start=$SECONDS
for t in "${targets[@]}"; do
	dir=${t% *} name=${t#* }
	case $dir in ./*|/*) ;; *) dir=./$dir ;; esac
	t0=$SECONDS
	corpus=$dir/testdata/fuzz/$name
	before=$(count_files "$corpus")
	if $GO test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$dir" >"$log" 2>&1; then
		status=ok
	elif [ "$(count_files "$corpus")" = "$before" ] && ! grep -q 'Failing input written' "$log" &&
		grep -A1 -E "^--- FAIL: ${name} " "$log" | grep -q 'context deadline exceeded'; then
		# Go 1.26's fuzzing coordinator can fail a target as -fuzztime ends, with no failing
		# input, when its workers are starved of CPU (golang/go#75804, fixed in Go 1.27).
		status="ok, stopped by golang/go#75804"
	else
		echo "fuzz: FAIL $dir $name"
		cat "$log"
		failed+=("$dir $name")
		continue
	fi
	execs=$(grep -Eo 'execs: [0-9]+' "$log" | tail -1 || true)
	echo "fuzz: $status $dir $name ($((SECONDS - t0))s, ${execs:-execs: ?})"
done
echo "fuzz: ${#targets[@]} targets, $fuzztime each, $((SECONDS - start))s in all"
if [ ${#failed[@]} -gt 0 ]; then
	printf 'fuzz: failed: %s\n' "${failed[@]}" >&2
	exit 1
fi
