#!/usr/bin/env bash
# A private redis-server for tests: no systemd, no TCP port, a Unix socket in
# a directory of our own, no persistence. See internal/redistest for how
# tests use it.
#
#   scripts/redis.sh up DIR      start (or reuse) it, write DIR/env
#   scripts/redis.sh status DIR  exit 0 when it answers
#   scripts/redis.sh down DIR    stop the redis-server this script started (by pid), remove DIR
#
# DIR/env exports CISAUTH_REDIS_URL=unix://DIR/redis.sock for the tests.
set -euo pipefail

die() { echo "redis: $*" >&2; exit 1; }

[ $# -eq 2 ] || die "usage: $0 up|status|down DIR"
cmd=$1
dir=$(realpath -m "$2")
sock=$dir/redis.sock
pidfile=$dir/redis.pid

# pid_is_redis PID: true when PID is a live redis-server (guards against pid reuse).
pid_is_redis() {
  local pid=$1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == redis-server* ]]
}

answers() { [ -S "$sock" ] && [ "$(redis-cli -s "$sock" ping 2>/dev/null)" = PONG ]; }

case $cmd in
up)
  command -v redis-server >/dev/null || die "redis-server not found (run: make deps, or apt-get install --no-install-recommends redis-server)"
  mkdir -p "$dir"
  chmod 700 "$dir"
  if [ -f "$pidfile" ] && pid_is_redis "$(cat "$pidfile")" && answers; then
    echo "redis: reusing $(cat "$pidfile") at $sock" >&2
  else
    rm -f "$sock" "$pidfile"
    # The socket path must fit in sun_path (108 bytes).
    [ ${#sock} -lt 100 ] || die "socket path $sock is too long; use a shorter DIR"
    # Start it with no inherited descriptor beyond 0-2: under
    # `flock /tmp/cisauth-stack.lock make test` the lock's descriptor would
    # otherwise live on in the daemon and hold the lock after the tests.
    (
      for fd in /proc/self/fd/*; do
        n=${fd##*/}
        [ "$n" -gt 2 ] 2>/dev/null && eval "exec $n>&-"
      done 2>/dev/null
      exec redis-server --port 0 --unixsocket "$sock" --unixsocketperm 700 --dir "$dir" \
        --save "" --appendonly no --daemonize yes --pidfile "$pidfile" --logfile "$dir/redis.log" \
        --notify-keyspace-events ""
    ) >/dev/null
    for _ in $(seq 100); do
      answers && break
      sleep 0.1
    done
    answers || die "redis-server did not answer on $sock (see $dir/redis.log)"
    echo "redis: started $(cat "$pidfile") at $sock" >&2
  fi
  echo "export CISAUTH_REDIS_URL=unix://$sock" >"$dir/env"
  ;;
status)
  answers
  ;;
down)
  if [ -f "$pidfile" ]; then
    pid=$(cat "$pidfile")
    if pid_is_redis "$pid"; then
      kill "$pid"
      for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      kill -0 "$pid" 2>/dev/null && die "redis-server $pid did not stop"
    fi
  fi
  rm -rf "$dir"
  ;;
*)
  die "usage: $0 up|status|down DIR"
  ;;
esac
