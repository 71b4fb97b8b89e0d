#!/usr/bin/env bash
# The whole test suite, as `make test` and CI run it.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== gofmt"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
  echo "gofmt: these files need formatting:"; echo "$unformatted"; exit 1
fi
echo "== go vet"
go vet ./...
echo "== PostgreSQL"
# The PostgreSQL store's tests and the end-to-end suite on PostgreSQL need a
# server: the one AGORA_TEST_POSTGRES_URL names, else a throwaway one that
# scripts/postgres.sh starts here and stops when this script exits. Under
# CI a missing or unreachable server fails the run; elsewhere those tests
# skip with a message.
in_ci() { case "${CI:-}" in "" | false | FALSE | False | 0) return 1 ;; *) return 0 ;; esac; }
if [ -n "${AGORA_TEST_POSTGRES_URL:-}" ]; then
  if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -q -t 10 -d "$AGORA_TEST_POSTGRES_URL"; then
    echo "PostgreSQL: the server of AGORA_TEST_POSTGRES_URL does not answer" >&2
    exit 1
  fi
  echo "using the server of AGORA_TEST_POSTGRES_URL"
elif pg_env=$(bash scripts/postgres.sh start); then
  eval "$pg_env"
  export AGORA_TEST_POSTGRES_URL
  trap 'bash scripts/postgres.sh stop "$AGORA_TEST_POSTGRES_DIR"' EXIT
  trap 'exit 130' INT TERM
elif in_ci; then
  echo "PostgreSQL: no test server could be started (see above), and CI must run the PostgreSQL tests" >&2
  exit 1
else
  echo "PostgreSQL: no test server; its tests will skip (set AGORA_TEST_POSTGRES_URL to run them)"
fi
echo "== go test -race"
go test -race -timeout 15m ./...
echo "== fuzz (a few seconds per target; longer runs: FUZZTIME=2000000x make test)"
# Budgets are execution counts, about 3 s of each target here: a duration
# (-fuzztime 3s) races Go 1.26's fuzzing coordinator, which can report a
# bare "context deadline exceeded" at the deadline on a busy machine with no
# failing input (golang/go#75804, fixed in Go 1.27).
for target in \
  "FuzzDecodeBody ./http 25000x" "FuzzCheckSurrogates ./http 40000x" "FuzzAppendString ./http 100000x" \
  "FuzzDecodeRequest ./cluster 20000x" "FuzzDecodeResponse ./cluster 20000x" \
  "FuzzReadVotes ./polis 100000x" "FuzzReadComments ./polis 100000x" \
  "FuzzRun ./math 20000x"; do
  set -- $target
  go test -run '^$' -fuzz "^$1\$" -fuzztime "${FUZZTIME:-$3}" "$2"
done
