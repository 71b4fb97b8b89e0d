#!/usr/bin/env bash
# Instructions per operation of a Go benchmark, counted by valgrind: a
# repeatable measure (to about 0.2%: map seeds vary) of how much work a
# change saves, where the machine's timings vary more than the change (the
# 2-vCPU VMs this project runs on have measured the same warm math run at
# 11 to 16 ms within an hour).
#
#   scripts/instructions.sh PKG BENCH [N]
#   scripts/instructions.sh ./math 'RunProductionSizeRouted/warm100-1core' 4
#
# It runs the benchmark under cachegrind twice, 2 and N+2 iterations, and
# divides the difference by N, so that the setup (built once per run of the
# benchmark function, which the testing package may call twice) cancels out.
# Counts exclude the time spent waiting for memory: a change that saves
# instructions but misses caches more can still be slower; time it too
# (alternating old and new in the same minutes).
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 PKG BENCH [N]" >&2
  exit 2
fi
pkg=$1 bench=$2 n=${3:-4}
command -v valgrind >/dev/null || { echo "$0: valgrind is not installed (apt-get install -y valgrind)" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
go test -c -o "$dir/bench.test" "$pkg"
abs=$(cd "$(go list -f '{{.Dir}}' "$pkg")" && pwd)
count() {
  (cd "$abs" && GOMAXPROCS=1 GOGC=off valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
    "$dir/bench.test" -test.run '^$' -test.bench "$bench" -test.benchtime "$1x" >"$dir/out" 2>&1) || true
  if [ "$(grep -c '^Benchmark' "$dir/out")" != 1 ]; then
    echo "$0: '$bench' must match exactly one benchmark of $pkg; it ran:" >&2
    grep '^Benchmark\|FAIL\|panic' "$dir/out" >&2 || true
    exit 1
  fi
  awk '/I[[:space:]]+refs/ { gsub(",", "", $NF); print $NF }' "$dir/out"
}
a=$(count 2)
b=$(count $((n + 2)))
echo "$bench: $(((b - a) / n)) instructions/op (valgrind, N=$n, GOMAXPROCS=1, GOGC=off)"
