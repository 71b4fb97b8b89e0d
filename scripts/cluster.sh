#!/usr/bin/env bash
# A local 3-node agora cluster to try: nodes on 127.0.0.1, 127.0.0.2 and
# 127.0.0.3, HTTP on port 8080 and gossip on 7946 of each, sharing one
# PostgreSQL: $AGORA_POSTGRES_URL when set, else a throwaway server that
# scripts/postgres.sh starts (and this script stops on exit).
#
#   make cluster          (or: bash scripts/cluster.sh)
#
# Ctrl-C drains and stops the nodes. Logs go to $LOGS (printed at start).
set -euo pipefail
cd "$(dirname "$0")/.."

ADMIN=${AGORA_ADMIN_TOKEN:-cluster-admin}
LOGS=$(mktemp -d /tmp/agora-cluster.XXXXXX)
BIN="$LOGS/agora"
pids=()

cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "${PGDIR:-}" ]; then bash scripts/postgres.sh stop "$PGDIR"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "${AGORA_POSTGRES_URL:-}" ]; then
  eval "$(bash scripts/postgres.sh start)"
  AGORA_POSTGRES_URL=$AGORA_TEST_POSTGRES_URL
  PGDIR=$AGORA_TEST_POSTGRES_DIR
fi
go build -o "$BIN" ./cmd/agora
"$BIN" migrate --postgres "$AGORA_POSTGRES_URL"

for i in 1 2 3; do
  "$BIN" serve --node-name "node$i" --http-addr "127.0.0.$i:8080" --gossip-addr "127.0.0.$i:7946" \
    --join 127.0.0.1:7946 --postgres "$AGORA_POSTGRES_URL" --admin-token "$ADMIN" --log-format text \
    >"$LOGS/node$i.log" 2>&1 &
  pids+=("$!")
done

echo "agora cluster: http://127.0.0.1:8080 http://127.0.0.2:8080 http://127.0.0.3:8080"
echo "admin token: $ADMIN   logs: $LOGS"
for _ in $(seq 1 100); do
  if curl -fsS -H "Authorization: Bearer $ADMIN" http://127.0.0.3:8080/admin/cluster 2>/dev/null | grep -q '"state":"serving".*"state":"serving".*"state":"serving"'; then
    curl -fsS -H "Authorization: Bearer $ADMIN" http://127.0.0.1:8080/admin/cluster; echo
    break
  fi
  sleep 0.2
done
echo "Ctrl-C stops the cluster."
wait
