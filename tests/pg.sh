#!/usr/bin/env bash
# A throwaway PostgreSQL server for the multi-machine store test.
#   tests/pg.sh start DIR   initdb into DIR, start on a free port of 127.0.0.1 only, create a
#                           database, print its URL (postgresql://nasdsl@127.0.0.1:PORT/nasdsl)
#   tests/pg.sh stop DIR    stop it (DIR can then be removed)
# Needs the Debian `postgresql` package (apt-get install -y postgresql). PostgreSQL refuses to
# run as root: as root the server runs as the `postgres` user (created by that package).
set -euo pipefail
cmd=${1:?usage: pg.sh start|stop DIR}
dir=${2:?usage: pg.sh start|stop DIR}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$bin" ]; then
  bin=$(dirname "$(command -v pg_ctl 2>/dev/null || echo /nonexistent/pg_ctl)")
fi
[ -x "$bin/pg_ctl" ] || { echo "pg.sh: no PostgreSQL server binaries (apt-get install -y postgresql)" >&2; exit 2; }
as_server() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "$cmd" in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_server "$bin/initdb" -D "$dir/data" -U nasdsl --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1
    as_server "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
    "$bin/createdb" -h 127.0.0.1 -p "$port" -U nasdsl nasdsl
    echo "postgresql://nasdsl@127.0.0.1:$port/nasdsl"
    ;;
  stop)
    as_server "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null
    ;;
  *) echo "usage: pg.sh start|stop DIR" >&2; exit 2 ;;
esac
