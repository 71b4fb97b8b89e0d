#!/usr/bin/env bash
# A throwaway PostgreSQL server for the test suite.
#
#   scripts/postgres.sh start       starts one; prints shell assignments of
#                                   AGORA_TEST_POSTGRES_URL and
#                                   AGORA_TEST_POSTGRES_DIR for `eval`
#   scripts/postgres.sh stop DIR    stops it and removes DIR
#
# The cluster lives in a new temporary folder, listens only on a unix
# socket inside it (no port to collide with), trusts local connections and
# runs with fsync off: it is fast and disposable, never a place for data.
# initdb refuses to run as root, so as root the cluster belongs to the
# `postgres` user; when no PostgreSQL is installed and the script runs as
# root, it installs the distribution's package first. Progress goes to
# stderr, the assignments alone to stdout.
set -euo pipefail

log() { echo "postgres.sh: $*" >&2; }
die() { echo "postgres.sh: $*" >&2; exit 1; }

# bindir prints the folder of initdb and pg_ctl: $AGORA_PG_BINDIR, else the
# newest /usr/lib/postgresql/*/bin (Debian, Ubuntu), else pg_config's,
# else the folder of an initdb on the PATH.
bindir() {
  local d
  for d in "${AGORA_PG_BINDIR:-}" $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
  done
  if command -v pg_config >/dev/null 2>&1; then
    d=$(pg_config --bindir)
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
  fi
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v initdb)")"; return 0
  fi
  return 1
}

# as_owner runs a command as the cluster's owner: postgres when root.
as_owner() {
  if [ "$(id -u)" -ne 0 ]; then
    "$@"
  elif command -v runuser >/dev/null 2>&1; then
    runuser -u postgres -- "$@"
  else
    su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
  fi
}

install_postgres() {
  [ "$(id -u)" -eq 0 ] || die "PostgreSQL is not installed and this is not root: install it, or set AGORA_TEST_POSTGRES_URL"
  command -v apt-get >/dev/null 2>&1 || die "PostgreSQL is not installed and there is no apt-get to install it"
  log "installing PostgreSQL with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || die "apt-get update failed"
  apt-get install -y -qq postgresql >&2 || die "apt-get install postgresql failed"
}

start() {
  local bin dir
  bin=$(bindir) || { install_postgres; bin=$(bindir) || die "no initdb after installing PostgreSQL"; }
  if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --user-group --home-dir /var/lib/postgresql --shell /bin/sh postgres \
      || die "cannot create the postgres user that owns the cluster"
  fi
  dir=$(mktemp -d /tmp/agora-pg.XXXXXX)
  # From here on a failure leaves nothing behind.
  trap 'as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$dir"' ERR
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir"; fi

  as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --locale=C --no-sync \
    >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  cat >>"$dir/data/postgresql.conf" <<EOF
# Added by scripts/postgres.sh: a disposable test server.
listen_addresses = ''
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 300
shared_buffers = 128MB
EOF
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null \
    || { cat "$dir/server.log" >&2; die "the server did not start"; }
  trap - ERR
  log "PostgreSQL $("$bin/pg_ctl" --version | awk '{print $3}') is up in $dir"
  printf 'AGORA_TEST_POSTGRES_URL=%q\n' "postgres://postgres@/postgres?host=$dir&sslmode=disable"
  printf 'AGORA_TEST_POSTGRES_DIR=%q\n' "$dir"
}

stop() {
  local dir=${1:?usage: postgres.sh stop DIR} bin
  [ -d "$dir/data" ] || { rm -rf "$dir"; return 0; }
  bin=$(bindir) || die "no pg_ctl to stop the server in $dir"
  as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}

case "${1:-}" in
  start) start ;;
  stop) shift; stop "$@" ;;
  *) die "usage: postgres.sh start | stop DIR" ;;
esac
