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
echo "== fuzz (a few seconds per target; longer runs: FUZZTIME=1m make test)"
fuzztime=${FUZZTIME:-3s}
for target in \
  "FuzzDecodeBody ./http" "FuzzCheckSurrogates ./http" \
  "FuzzDecodeRequest ./cluster" "FuzzDecodeResponse ./cluster" \
  "FuzzReadVotes ./polis" "FuzzReadComments ./polis" \
  "FuzzRun ./math"; do
  set -- $target
  go test -run '^$' -fuzz "^$1\$" -fuzztime "$fuzztime" "$2"
done
