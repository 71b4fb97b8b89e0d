#!/usr/bin/env bash
# The load runs behind docs/PERFORMANCE.md, in one command: start a fresh
# `agora serve` (SQLite in a temporary folder, or a throwaway PostgreSQL),
# create the production-size conversation with `agora gen` (113K votes on
# 19K opinions by 6K participants), run `agora loadgen` against it, print
# its report and stop everything.
#
#   make load                                   (SQLite, the scenario at 200 VUs for 60 s)
#   STORE=postgres bash scripts/load.sh --vus 200 --duration 60s
#   bash scripts/load.sh --mode capacity --step-vus 1000 --max-vus 12000 --step-duration 30s
#   bash scripts/load.sh --mode throughput --clients 200 --duration 20s
#
# The arguments go to `agora loadgen` as they are (default: --vus 200
# --duration 60s). Environment: STORE (sqlite or postgres), GEN (flags of
# `agora gen`, default none: its production-size defaults; GEN=none skips
# it and creates a conversation of 100 seed opinions instead), PROFILE (a
# number of seconds: a CPU profile of the server taken that long after the
# load starts, saved in the output folder), SERVE (extra flags of `agora
# serve`). The server's log, the report (report.json) and the profile stay
# in the folder printed at the start.
set -euo pipefail
cd "$(dirname "$0")/.."

STORE=${STORE:-sqlite}
OUT=$(mktemp -d /tmp/agora-load.XXXXXX)
BIN="$OUT/agora"
ADMIN=load-admin
ADDR=127.0.0.1:8390
DEBUG=127.0.0.1:8391
URL="http://$ADDR"
server=""
PGDIR=""

cleanup() {
  if [ -n "$server" ]; then kill -TERM "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  if [ -n "$PGDIR" ]; then bash scripts/postgres.sh stop "$PGDIR"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "load: output in $OUT" >&2
go build -o "$BIN" ./cmd/agora

store_flags=(--data-dir "$OUT/data")
if [ "$STORE" = postgres ]; then
  if [ -z "${AGORA_POSTGRES_URL:-}" ]; then
    eval "$(bash scripts/postgres.sh start)"
    AGORA_POSTGRES_URL=$AGORA_TEST_POSTGRES_URL
    PGDIR=$AGORA_TEST_POSTGRES_DIR
  fi
  "$BIN" migrate --postgres "$AGORA_POSTGRES_URL" >&2
  store_flags=(--postgres "$AGORA_POSTGRES_URL")
elif [ "$STORE" != sqlite ]; then
  echo "load: STORE must be sqlite or postgres" >&2
  exit 2
fi

# shellcheck disable=SC2086 # SERVE is a list of flags
"$BIN" serve --http-addr "$ADDR" --debug-addr "$DEBUG" --admin-token "$ADMIN" --rate-limit 0 \
  --log-level warn "${store_flags[@]}" ${SERVE:-} >"$OUT/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
  curl -fsS "$URL/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done

if [ "${GEN:-}" = none ]; then
  token=$(curl -fsS -X POST "$URL/v1/participants" | sed -E 's/.*"token":"([^"]+)".*/\1/')
  seeds=$(seq 1 100 | sed 's/.*/"Seed opinion &"/' | paste -sd, -)
  cid=$(curl -fsS -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d "{\"title\":\"load\",\"seed_opinions\":[$seeds]}" "$URL/v1/conversations" | sed -E 's/^\{"id":"([^"]+)".*/\1/')
else
  # shellcheck disable=SC2086 # GEN is a list of flags
  cid=$("$BIN" gen --server "$URL" --admin-token "$ADMIN" ${GEN:-} | sed -E 's/.*"conversation_id":"([^"]+)".*/\1/')
fi
echo "load: conversation $cid on $STORE" >&2

profiler=""
if [ -n "${PROFILE:-}" ]; then
  (sleep 5 && curl -fsS -o "$OUT/cpu.prof" "http://$DEBUG/debug/pprof/profile?seconds=$PROFILE" &&
    echo "load: CPU profile in $OUT/cpu.prof (go tool pprof $BIN $OUT/cpu.prof)" >&2) &
  profiler=$!
fi
args=("$@")
if [ ${#args[@]} -eq 0 ]; then args=(--vus 200 --duration 60s); fi
"$BIN" loadgen --server "$URL" --conversation "$cid" --json "$OUT/report.json" "${args[@]}"
if [ -n "$profiler" ]; then wait "$profiler"; fi
# The server's own timing of its analyses (the math runs beside the writes).
curl -fsS "$URL/metrics" 2>/dev/null | awk '
  /^agora_math_run_duration_seconds_sum\{outcome="ok"\}/ { sum = $2 }
  /^agora_math_run_duration_seconds_count\{outcome="ok"\}/ { n = $2 }
  END { if (n > 0) printf "load: the server ran the math %d times, %.1f ms each on average (agora_math_run_duration_seconds)\n", n, 1000 * sum / n > "/dev/stderr" }' || true
