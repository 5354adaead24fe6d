#!/usr/bin/env bash
# A local Redis Cluster of three masters (no replicas), for `make cluster`
# and the tests that run the Redis code on a cluster (testkit.RedisCluster).
#
#   scripts/redis-cluster.sh start DIR PORT_BASE   masters on PORT_BASE, +1, +2; data in DIR
#   scripts/redis-cluster.sh stop DIR              stops the masters started in DIR
#   scripts/redis-cluster.sh status DIR            prints the seeds and cluster_state; 0 when ok
#   scripts/redis-cluster.sh addrs DIR             prints REDIS_CLUSTER_ADDRS (host:port,host:port,...)
#   scripts/redis-cluster.sh acl DIR USER PREFIX   creates USER limited to PREFIX on every master
#                                                  (password: REDIS_PASSWORD in the environment)
#
# start is idempotent: masters already running are kept, a cluster already
# formed is not formed again, and it returns once every master reports
# cluster_state:ok (or fails after a deadline). A master that is down (a
# crash) is started again the same way: it comes back with its data and its
# slots. Each master is a redis-server with cluster-enabled yes, listening
# on 127.0.0.1 only, its cluster bus on port+10000 (port-10000 when that
# would pass 65535), and, as a deployment runs them:
#   - an append-only file fsynced every second, in its own directory
#     (DIR/PORT, beside its nodes.conf): a master killed and started again
#     serves its slots with their keys. Without it the restarted master
#     answers for its slots with nothing in them: for the chat cache a
#     flush of a third of it (storage/chatcache: cold, rebuilt from MySQL,
#     behind the log until a replay).
#   - cluster-require-full-coverage no: while one master is down, the others
#     go on serving their slots (by default the whole cluster refuses every
#     command once the others mark it failed, after the node timeout).
#
# ACL users are per node in Redis Cluster (no node copies another's users)
# and in memory only (not in the append-only file): a restarted master
# needs them set again (scripts/cluster.sh start redis-N does).
# `acl` sets the user on every node of the cluster, exactly as
# ensure_redis_user in scripts/lib.sh does on one Redis (the same rules).
set -euo pipefail

die() { echo "redis-cluster: $*" >&2; exit 1; }
cli() { env -u REDISCLI_AUTH redis-cli -h 127.0.0.1 "$@"; }

usage() { sed -n '5,11p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

ports_of() {
  local dir=$1
  [ -f "$dir/ports" ] || die "no cluster in $dir (start it first)"
  cat "$dir/ports"
}

state_of() { { cli -p "$1" cluster info 2>/dev/null || true; } | tr -d '\r' | sed -n 's/^cluster_state://p'; }

start() {
  local dir=$1 base=$2 port i
  case $base in ''|*[!0-9]*) die "PORT_BASE must be a number: $base" ;; esac
  command -v redis-server >/dev/null || die "redis-server is not installed (apt-get install redis-server)"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  local ports=()
  for i in 0 1 2; do ports+=($((base + i))); done
  if [ -f "$dir/ports" ] && [ "$(cat "$dir/ports")" != "${ports[*]}" ]; then
    die "$dir holds a cluster on ports $(cat "$dir/ports"), not ${ports[*]}"
  fi
  echo "${ports[*]}" >"$dir/ports"
  for port in "${ports[@]}"; do
    if cli -p "$port" ping >/dev/null 2>&1; then
      # Ours (its pid file is in DIR) or someone else's: never borrow a port.
      [ -f "$dir/$port/redis.pid" ] && kill -0 "$(cat "$dir/$port/redis.pid")" 2>/dev/null ||
        die "port $port already serves a Redis that is not this cluster's"
      continue
    fi
    mkdir -p "$dir/$port"
    # The cluster bus listens on port+10000 by default, which does not
    # exist above 55535: then 10000 below instead.
    local bus=$((port + 10000))
    [ "$bus" -le 65535 ] || bus=$((port - 10000))
    redis-server --port "$port" --cluster-port "$bus" --bind 127.0.0.1 --daemonize yes \
      --dir "$dir/$port" --pidfile "$dir/$port/redis.pid" --logfile "$dir/$port/redis.log" \
      --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 5000 \
      --cluster-require-full-coverage no \
      --appendonly yes --appendfsync everysec --save "" >/dev/null
  done
  for port in "${ports[@]}"; do
    WAIT_LOG="$dir/$port/redis.log" wait_for "$port" ping "master on $port did not start (see $dir/$port/redis.log)"
  done
  # A cluster already formed (a second start, or nodes.conf kept from a
  # previous run) is left as it is; three fresh nodes are joined.
  if [ "$(cli -p "${ports[0]}" cluster info | tr -d '\r' | sed -n 's/^cluster_known_nodes://p')" = 1 ]; then
    local seeds=()
    for port in "${ports[@]}"; do seeds+=("127.0.0.1:$port"); done
    env -u REDISCLI_AUTH redis-cli --cluster create "${seeds[@]}" --cluster-replicas 0 --cluster-yes >"$dir/create.log" 2>&1 ||
      die "redis-cli --cluster create failed: $(tail -n 5 "$dir/create.log")"
  fi
  for port in "${ports[@]}"; do
    wait_for "$port" state "cluster_state is not ok on $port: $(cli -p "$port" cluster info | tr -d '\r' | head -n 3 | tr '\n' ' ')"
  done
  addrs "$dir"
}

# wait_for PORT ping|state MESSAGE: polls for up to 30 s.
wait_for() {
  local port=$1 what=$2 msg=$3 deadline=$((SECONDS + 30))
  while [ $SECONDS -lt $deadline ]; do
    case $what in
      ping) cli -p "$port" ping >/dev/null 2>&1 && return 0 ;;
      state) [ "$(state_of "$port")" = ok ] && return 0 ;;
    esac
    sleep 0.1
  done
  # WAIT_LOG: the node's log, whose last lines say why (a test run keeps
  # only this script's output).
  [ -z "${WAIT_LOG:-}" ] || tail -n 5 "$WAIT_LOG" >&2 2>/dev/null || true
  die "$msg"
}

stop() {
  local dir=$1 port pid
  [ -f "$dir/ports" ] || return 0
  for port in $(cat "$dir/ports"); do
    [ -f "$dir/$port/redis.pid" ] || continue
    pid=$(cat "$dir/$port/redis.pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$dir/$port/redis.pid"
  done
}

status() {
  local dir=$1 port st rc=0
  for port in $(ports_of "$dir"); do
    st=$(state_of "$port")
    echo "127.0.0.1:$port ${st:-down}"
    [ "$st" = ok ] || rc=1
  done
  return $rc
}

addrs() {
  local dir=$1 port out=""
  for port in $(ports_of "$dir"); do out="${out:+$out,}127.0.0.1:$port"; done
  echo "$out"
}

# acl DIR USER PREFIX: the rules of ensure_redis_user (scripts/lib.sh), on
# every node the cluster knows (not only the three started here).
acl() {
  local dir=$1 user=$2 prefix=$3 seed node hash out
  [ -n "${REDIS_PASSWORD:-}" ] || die "acl: REDIS_PASSWORD must be set"
  seed=$(ports_of "$dir" | cut -d' ' -f1)
  hash=$(printf '%s' "$REDIS_PASSWORD" | sha256sum | cut -d' ' -f1)
  for node in $(cli -p "$seed" cluster nodes | awk '{split($2, a, "@"); print a[1]}'); do
    out=$(printf 'ACL SETUSER %s reset on #%s ~%s* &%s* +@all -@dangerous -scan -randomkey -script|flush -script|kill -function\n' \
      "$user" "$hash" "$prefix" "$prefix" | env -u REDISCLI_AUTH redis-cli -h "${node%:*}" -p "${node##*:}" 2>&1) || true
    [ "$out" = OK ] || die "could not create the Redis user $user on $node: $out"
  done
}

cmd=${1:-}
case $cmd in
  start) [ $# -eq 3 ] || usage; start "$2" "$3" ;;
  stop) [ $# -eq 2 ] || usage; stop "$2" ;;
  status) [ $# -eq 2 ] || usage; status "$2" ;;
  addrs) [ $# -eq 2 ] || usage; addrs "$2" ;;
  acl) [ $# -eq 4 ] || usage; acl "$2" "$3" "$4" ;;
  *) usage ;;
esac
