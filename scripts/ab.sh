#!/usr/bin/env bash
# A/B benchmark of the root package: the test binary built at a base revision
# against the one built from the working tree, run alternately in one loop so
# that both see the same machine, then compared with benchstat.
#
#   scripts/ab.sh [-r runs] [-t benchtime] [-b regex] [-o dir] BASE_REV
#
# Defaults: 10 runs each, -benchtime 1s, the benchmarks the core's A/B names
# (Pool, PoolOrdered, Map, Do, PoolMap). Writes old.txt and new.txt to the
# output folder (default a temporary one) and prints benchstat's table.
set -euo pipefail
runs=10 benchtime=1s out= regex='^Benchmark(Pool|PoolOrdered|Map|Do|PoolMap)$'
while getopts r:t:b:o: f; do
  case $f in
    r) runs=$OPTARG ;; t) benchtime=$OPTARG ;; b) regex=$OPTARG ;; o) out=$OPTARG ;;
    *) exit 2 ;;
  esac
done
shift $((OPTIND - 1))
base=${1:?usage: scripts/ab.sh [-r runs] [-t benchtime] [-b regex] [-o dir] BASE_REV}
cd "$(dirname "$0")/.."
out=${out:-$(mktemp -d)}
mkdir -p "$out"
tree=$(mktemp -d)
trap 'git worktree remove --force "$tree" >/dev/null 2>&1 || true' EXIT
git worktree add -q --detach "$tree" "$base"
(cd "$tree" && go test -c -o "$out/old.test" .)
go test -c -o "$out/new.test" .
: > "$out/old.txt"; : > "$out/new.txt"
for i in $(seq "$runs"); do
  for v in old new; do
    "$out/$v.test" -test.run '^$' -test.bench "$regex" -test.benchmem \
      -test.benchtime "$benchtime" -test.count 1 | grep -E '^(Benchmark|goos|goarch|pkg|cpu)' >> "$out/$v.txt"
  done
  echo "round $i of $runs done" >&2
done
go run golang.org/x/perf/cmd/benchstat@latest "$out/old.txt" "$out/new.txt"
