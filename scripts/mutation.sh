#!/usr/bin/env bash
# Mutation testing of the root package: how many deliberately broken copies of
# the code does the test suite catch? Target: efficacy (killed / (killed +
# lived)) >= 90%, set as the threshold in .gremlins.yaml, so this exits
# non-zero below it. Takes several minutes; not part of .ci/run.
#
#   scripts/mutation.sh            # all mutants, summary at the end
#   scripts/mutation.sh -S l       # list only the mutants that lived
set -euo pipefail
cd "$(dirname "$0")/.."
GREMLINS_VERSION=v0.6.0
command -v gremlins >/dev/null || go install "github.com/go-gremlins/gremlins/cmd/gremlins@${GREMLINS_VERSION}"
# A cached test result makes every mutant look TIMED OUT: start clean.
go clean -testcache
exec "$(command -v gremlins || echo "$(go env GOPATH)/bin/gremlins")" unleash --config .gremlins.yaml "$@" .
