#!/usr/bin/env bash
# Stress run of every concurrency test: 50 times each under the race
# detector (CI runs 3). A few minutes on 2 cores.
#
#   scripts/stress.sh            # -count=50
#   scripts/stress.sh 200        # more
set -euo pipefail
cd "$(dirname "$0")/.."
go test -race -count="${1:-50}" -timeout 60m ./...
