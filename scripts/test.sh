#!/usr/bin/env bash
# The full test command: every module's tests (the root, benchmarks/,
# examples/, natsjs/, rabbitmq/, each with its own go.mod) under the race
# detector, against the real services they need. It starts a throwaway
# PostgreSQL and RabbitMQ on free loopback ports in temp directories
# (installing them from Debian when missing, which needs root) and stops them
# at the end, also on failure. With WORKERPOOL_REQUIRE_SERVICES=1 (set by
# this script) a test that finds a service missing fails instead of skipping.
#
#   scripts/test.sh               # every module, go test -race ./...
#   scripts/test.sh -count=3      # extra flags go to every go test
#
# For a change to the core alone: go test -race .
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/services.sh
trap stop_services EXIT
start_postgres
start_rabbitmq
export WORKERPOOL_REQUIRE_SERVICES=1

mapfile -t modules < <(git ls-files '*go.mod' | xargs -n1 dirname | sort)
for m in "${modules[@]}"; do
  echo "== go test -race $* ./... in $m"
  (cd "$m" && go test -race -timeout 10m "$@" ./...)
done
