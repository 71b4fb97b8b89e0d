#!/usr/bin/env bash
# The benchmarks behind docs/PERFORMANCE.md, as `make bench` runs them.
# PostgreSQL benchmarks use AGORA_TEST_POSTGRES_URL, else a throwaway
# server (see scripts/postgres.sh), else they skip.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${AGORA_TEST_POSTGRES_URL:-}" ] && pg_env=$(bash scripts/postgres.sh start); then
  eval "$pg_env"
  export AGORA_TEST_POSTGRES_URL
  trap 'bash scripts/postgres.sh stop "$AGORA_TEST_POSTGRES_DIR"' EXIT
fi
go test -run '^$' -bench . -benchtime 2s ./actors/
go test -run '^$' -bench ApplyVotes -benchtime 300x ./persist/sqlite/ ./persist/postgres/
go test -run '^$' -bench LoadConversation -benchtime 20x ./persist/postgres/
go test -run '^$' -bench . -benchtime 20x ./math/
go test -run '^$' -bench HTTPVotes -benchtime 40000x ./cmd/agora/
go test -run '^$' -bench HTTPOpinions -benchtime 2000x ./cmd/agora/
go test -run '^$' -bench AnalysisLag -benchtime 1000x ./cmd/agora/
go test -run '^$' -bench ForwardedRead -benchtime 5000x ./cmd/agora/
go test -run '^$' -bench 'Activation|AnalyzeAustria|MathProductionSize' -benchtime 10x ./cmd/agora/
