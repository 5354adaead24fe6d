#!/usr/bin/env bash
# A cluster of logchat on this machine, without Docker: the topology of
# docker-compose.yml's `cluster` profile (and of deploy/k8s) as native
# processes, beside the single-node `make up` (scripts/stack.sh).
#
#   scripts/cluster.sh run             up, then wait; Ctrl-C stops it                   (make cluster)
#   scripts/cluster.sh up              everything in the background; returns once every process is healthy
#   scripts/cluster.sh down [--purge]  stops what up started; --purge also deletes its data  (make cluster-down)
#                                      (the MySQL servers, the log, the secrets and its Redis keys)
#   scripts/cluster.sh status          every process: pid, port and health
#   scripts/cluster.sh nodes           the names of the processes, one a line
#   scripts/cluster.sh kill NODE       SIGKILL one process (a crash): nats-2, centrifugo-1, gateway-2,
#                                      persister-1, mysql-shard-1, redis-2, lb, ...
#   scripts/cluster.sh stop NODE       SIGTERM one process (a clean stop)
#   scripts/cluster.sh start NODE      starts it again, same configuration, and waits until it is healthy
#   scripts/cluster.sh leader          the NATS node that leads the stream (a fault suite kills it)
#   scripts/cluster.sh env             where each process answers, KEY=VALUE lines (no secret)
#   scripts/cluster.sh ingest ARGS...  the ingest tool on this cluster (its MySQL servers, NATS as admin):
#                                      ingest shard move CHAT --to s2, ingest verify, ...
#
# The processes (CLUSTER_PORT_BASE = B, default 18000; make up's defaults
# are 4233, 8000-8001, 8080, 8233, 9090, 9100-9105):
#   lb                 HAProxy, the one address for clients (API, web client, WebSocket)  B
#   centrifugo-api     HAProxy in front of both Centrifugo nodes' server API (notifiers, gateways)  B+1
#   nats-1..3          NATS 2.15, one cluster, JetStream on each     clients B+10+N, monitoring B+20+N, routes B+30+N
#   centrifugo-1..2    Centrifugo on the Redis engine                 clients B+40+N, API and health B+50+N
#   gateway-1..2       the API                                        B+60+N, internal (metrics) B+70+N
#   persister-1..2, cachewarm-1..2, notifier-1..2, searcher-1..2      health and metrics B+80+N, B+90+N, B+100+N, B+110+N
#   mysql-main, mysql-shard-1, mysql-shard-2   mariadbd each, own data directory          B+120, B+121, B+122
#   redis-1..3         the chat cache's Redis Cluster, a master each (scripts/redis-cluster.sh)  B+129+N
# The chat cache (cachewarm, gateways) is on that Redis Cluster, as this
# cluster's ACL user with keys under CLUSTER_REDIS_PREFIX (default lcc:);
# CLUSTER_REDIS=single puts it on the machine's Redis (127.0.0.1:6379)
# instead. Centrifugo's engine is on the machine's Redis either way.
#
# State lives under CLUSTER_DIR (default .run/cluster, git-ignored): pids,
# logs, configs, each NATS node's and MySQL server's data, and the cluster's
# own secrets (secrets.env, mode 0600; generated on first up, never printed).
# The functions shared with the single-node stack come from scripts/stack.sh
# (start_proc, stop_proc, write_nats_config, write_centrifugo_config, ...)
# and scripts/lib.sh (secrets, accounts, tools).
CLUSTER_DIR=${CLUSTER_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.run/cluster}
# stack.sh's functions work on STACK_DIR; the cluster's log has 2
# partitions, one per instance of each worker (the compose profile's).
STACK_DIR=$CLUSTER_DIR
export STREAM_PARTITIONS=2 STREAM_REPLICAS=3
source "$(dirname "${BASH_SOURCE[0]}")/stack.sh"

SECRETS_FILE=$CLUSTER_DIR/secrets.env
B=${CLUSTER_PORT_BASE:-18000}
LB_PORT=$B
API_LB_PORT=$((B + 1))
URL="http://127.0.0.1:$LB_PORT"
export REDIS_PREFIX=${CLUSTER_REDIS_PREFIX:-lcc:}
# The chat cache's Redis: cluster (a Redis Cluster of 3 masters of this
# cluster's own, under CLUSTER_DIR/redis) or single (the machine's Redis).
# A cluster made with one keeps it for later commands (start NODE, status).
REDIS_CLUSTER_DIR=$CLUSTER_DIR/redis
REDIS_CLUSTER_PORT_BASE=$((B + 130))
if [ -z "${CLUSTER_REDIS:-}" ] && [ -e "$CLUSTER_DIR/redis-mode" ]; then
  CLUSTER_REDIS=$(cat "$CLUSTER_DIR/redis-mode")
fi
CLUSTER_REDIS=${CLUSTER_REDIS:-cluster}
MYSQL_DB=logchat
WORKERS=(persister cachewarm notifier searcher)

# nodes: every process, in start order (the Redis Cluster's masters with
# CLUSTER_REDIS=cluster only).
nodes() {
  echo mysql-main mysql-shard-1 mysql-shard-2
  [ "$CLUSTER_REDIS" != cluster ] || echo redis-1 redis-2 redis-3
  echo nats-1 nats-2 nats-3 centrifugo-1 centrifugo-2 centrifugo-api
  local w; for w in "${WORKERS[@]}"; do echo "$w-1 $w-2"; done
  echo gateway-1 gateway-2 lb
}

# port NAME: the port a process serves (its client port; the gateway's public one).
port() {
  local n=${1##*-}
  case $1 in
    lb) echo "$LB_PORT" ;;
    centrifugo-api) echo "$API_LB_PORT" ;;
    nats-[123]) echo $((B + 10 + n)) ;;
    centrifugo-[12]) echo $((B + 40 + n)) ;;
    gateway-[12]) echo $((B + 60 + n)) ;;
    persister-[12]) echo $((B + 80 + n)) ;;
    cachewarm-[12]) echo $((B + 90 + n)) ;;
    notifier-[12]) echo $((B + 100 + n)) ;;
    searcher-[12]) echo $((B + 110 + n)) ;;
    mysql-main) echo $((B + 120)) ;;
    mysql-shard-[12]) echo $((B + 120 + n)) ;;
    redis-[123]) echo $((REDIS_CLUSTER_PORT_BASE + n - 1)) ;;
    *) die "no such process in the cluster: $1 (scripts/cluster.sh nodes)" ;;
  esac
}
nats_monitor_port() { echo $((B + 20 + ${1##*-})); }
nats_route_port() { echo $((B + 30 + ${1##*-})); }
centrifugo_internal_port() { echo $((B + 50 + ${1##*-})); }
gateway_internal_port() { echo $((B + 70 + ${1##*-})); }

# health_url NAME: where a process says it is ready (none for MySQL).
health_url() {
  case $1 in
    lb|centrifugo-api) echo "http://127.0.0.1:$(port "$1")/lb-health" ;;
    nats-*) echo "http://127.0.0.1:$(nats_monitor_port "$1")/healthz" ;;
    centrifugo-[12]) echo "http://127.0.0.1:$(centrifugo_internal_port "$1")/health" ;;
    gateway-*) echo "http://127.0.0.1:$(gateway_internal_port "$1")/readyz" ;;
    mysql-*|redis-*) echo "" ;;
    *) echo "http://127.0.0.1:$(port "$1")/readyz" ;;
  esac
}

all_nats_urls() { local n u=""; for n in 1 2 3; do u="$u,nats://127.0.0.1:$(port "nats-$n")"; done; echo "${u#,}"; }

mysql_alive() { mysqladmin --no-defaults -h127.0.0.1 -P"$(port "$1")" ping >/dev/null 2>&1; }

# redis_master_ok NAME: the master answers and reports cluster_state:ok
# (a master restarted a moment ago answers, but refuses keys until then).
redis_master_ok() {
  env -u REDISCLI_AUTH redis-cli -h 127.0.0.1 -p "$(port "$1")" cluster info 2>/dev/null | tr -d '\r' | grep -qx 'cluster_state:ok'
}

# healthy NAME: 0 when the process answers its health check.
healthy() {
  local url
  case $1 in mysql-*) mysql_alive "$1"; return ;; redis-*) redis_master_ok "$1"; return ;; esac
  url=$(health_url "$1")
  [ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$url" 2>/dev/null)" = 200 ]
}

# pid_file NAME: where a process's pid is; a Redis master writes its own
# (scripts/redis-cluster.sh starts it as a daemon in its directory).
pid_file() {
  case $1 in
    redis-*) echo "$REDIS_CLUSTER_DIR/$(port "$1")/redis.pid" ;;
    *) echo "$PIDS/$1.pid" ;;
  esac
}

alive() { local f; f=$(pid_file "$1"); [ -e "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; }

# wait_healthy NAME [SECONDS]: until NAME answers its health check; on
# failure says whether it exited or stayed unhealthy, with its last log
# lines (a test run keeps only this script's output).
wait_healthy() {
  local name=$1 secs=${2:-${STACK_READY_SECS:-120}} why
  why="stayed unhealthy for ${secs}s"
  for _ in $(seq 1 $((secs * 4))); do
    healthy "$name" && return 0
    alive "$name" || { why="exited"; break; }
    sleep 0.25
  done
  echo "--- last lines of $LOGS/$name.log ---" >&2
  tail -n 20 "$LOGS/$name.log" >&2 2>/dev/null || true
  die "$name is not healthy ($why); see $LOGS/$name.log"
}

# --- MySQL: the main database and two chat shards, a mariadbd each -------

# mysql_as_root PORT ARGS...: lib.sh's mysql_root against one of the
# cluster's servers, whose root has the cluster's MYSQL_ROOT_PASSWORD
# (handed to the client in its environment, never on a command line).
mysql_as_root() {
  local port=$1; shift
  MYSQL_PWD=${SECRETS[MYSQL_ROOT_PASSWORD]} MYSQL_PORT=$port mysql_root "$@"
}

start_mysql() {
  local name=$1 port dir me; port=$(port "$1"); dir="$CLUSTER_DIR/$name"; me=$(id -un)
  local fresh=0
  if [ ! -d "$dir/data/mysql" ]; then
    log "initialising $name's data directory ($dir/data)"
    mkdir -p "$dir/tmp"
    mariadb-install-db --no-defaults --datadir="$dir/data" --tmpdir="$dir/tmp" --user="$me" --auth-root-authentication-method=normal \
      --skip-test-db >>"$LOGS/$name.log" 2>&1 || die "mariadb-install-db failed; see $LOGS/$name.log"
    fresh=1
  fi
  # Its own tmpdir: a starting mariadbd deletes every #sql* file in its
  # tmpdir, which in a shared /tmp are the machine's server's temporary
  # tables in use (that server then crashed).
  mkdir -p "$dir/tmp"
  start_proc "$name" "$(command -v mariadbd || command -v mysqld)" --no-defaults --datadir="$dir/data" --tmpdir="$dir/tmp" \
    --port="$port" --bind-address=127.0.0.1 --socket="$dir/sock" --pid-file="$dir/mariadbd.pid" --user="$me" \
    --innodb-buffer-pool-size=128M --skip-log-bin
  for _ in $(seq 1 120); do mysql_alive "$name" && break; alive "$name" || break; sleep 0.25; done
  mysql_alive "$name" || die "$name did not start; see $LOGS/$name.log"
  if [ "$fresh" = 1 ]; then
    # A fresh server's root has no password: it gets the cluster's at once
    # (through stdin, not the command line).
    printf "ALTER USER 'root'@'localhost' IDENTIFIED BY '%s';\n" "${SECRETS[MYSQL_ROOT_PASSWORD]}" \
      | mysql --no-defaults -uroot -h127.0.0.1 -P"$port" || die "could not set $name's root password"
  fi
}

# mysql_setup: this installation's two accounts (lib.sh) on every server.
mysql_setup() {
  local name
  for name in mysql-main mysql-shard-1 mysql-shard-2; do
    MYSQL_PWD=${SECRETS[MYSQL_ROOT_PASSWORD]} MYSQL_PORT=$(port "$name") ensure_mysql_accounts "$MYSQL_DB"
  done
}

# The shards' contract (the shard resolver): MYSQL_SHARDS for the gateway,
# the workers and ingest, MIGRATE_MYSQL_SHARDS for the migrate command, both
# "name=DSN ..." (s1 and s2; the main database is MYSQL_DSN's), and
# MYSQL_SHARD_WEIGHTS: new chats go to s1 and s2, none to main. A process
# that does not know them yet ignores them (shared/config reads only the
# variables it asks for).
shard_dsns() {  # shard_dsns app|migrate
  local out="" n
  for n in 1 2; do
    out="$out s$n=$(MYSQL_PORT=$(port "mysql-shard-$n") "$1"_dsn "$MYSQL_DB")"
  done
  echo "${out# }"
}

# --- Redis ------------------------------------------------------------------

# redis_setup: the cluster's ACL user (keys and channels under REDIS_PREFIX
# only) on the machine's Redis, which Centrifugo's engine uses, and, for
# CLUSTER_REDIS=cluster, the chat cache's Redis Cluster (started, then the
# same user on every node: nodes do not share ACL users).
redis_setup() {
  (unset REDIS_CLUSTER_ADDRS; ensure_redis_user "$REDIS_USERNAME" "$REDIS_PREFIX")
  [ "$CLUSTER_REDIS" = cluster ] || return 0
  redis_cluster_start
  ensure_redis_user "$REDIS_USERNAME" "$REDIS_PREFIX"
}

# redis_cluster_start: scripts/redis-cluster.sh start, which starts the
# masters that are down, each from its append-only file and nodes.conf (its
# keys and its slots), and waits until every one reports cluster_state:ok.
redis_cluster_start() {
  bash "$ROOT/scripts/redis-cluster.sh" start "$REDIS_CLUSTER_DIR" "$REDIS_CLUSTER_PORT_BASE" >>"$LOGS/redis-cluster.log" 2>&1 \
    || die "the Redis Cluster did not start ($LOGS/redis-cluster.log): $(tail -5 "$LOGS/redis-cluster.log")"
}

# start_redis_master NAME: a master that was down, started again. ACL users
# are not in the append-only file: the cluster's user is set again, on the
# nodes this master lists (itself included), since the other masters may
# still flag it failed for a while (the node timeout, twice) and
# ensure_redis_user skips the nodes its seed flags failed.
start_redis_master() {
  redis_cluster_start
  REDIS_CLUSTER_ADDRS=127.0.0.1:$(port "$1") ensure_redis_user "$REDIS_USERNAME" "$REDIS_PREFIX"
}

# cluster_env: the environment every process of the cluster gets: no secret
# (each process is handed its own in start_node). After ensure_secrets.
cluster_env() {
  unset MYSQL_DSN MIGRATE_MYSQL_DSN REDIS_PASSWORD MYSQL_SHARDS MIGRATE_MYSQL_SHARDS
  export NATS_URL; NATS_URL=$(all_nats_urls)
  case $CLUSTER_REDIS in
    cluster)
      unset REDIS_ADDR
      export REDIS_CLUSTER_ADDRS="127.0.0.1:$REDIS_CLUSTER_PORT_BASE,127.0.0.1:$((REDIS_CLUSTER_PORT_BASE + 1)),127.0.0.1:$((REDIS_CLUSTER_PORT_BASE + 2))" ;;
    single)
      unset REDIS_CLUSTER_ADDRS
      export REDIS_ADDR="$REDIS_HOST:$REDIS_PORT" ;;
    *) die "CLUSTER_REDIS is cluster or single, not $CLUSTER_REDIS" ;;
  esac
  export REDIS_USERNAME="logchat-${SECRETS[LOGCHAT_INSTALL_ID]}-${CLUSTER_DIR##*/}"
  REDIS_USERNAME=${REDIS_USERNAME//[^A-Za-z0-9_.-]/_}
  # Either Centrifugo node's server API, through the internal balancer.
  export CENTRIFUGO_API_URL="http://127.0.0.1:$API_LB_PORT/api"
  # Clients connect through the public balancer.
  export CENTRIFUGO_WS_URL="ws://127.0.0.1:$LB_PORT/connection/websocket"
  export MYSQL_SHARD_WEIGHTS="main=0 s1=1 s2=1"
  export WEB_DIR="$ROOT/web/dist"
}

# --- NATS, Centrifugo, HAProxy ------------------------------------------------

# write_cluster_nats_config: deploy/nats/cluster/nats.conf (the compose
# profile's node) with the users of write_nats_config beside it; the
# addresses and names are given on each node's command line.
write_cluster_nats_config() {
  write_nats_config
  cp "$ROOT/deploy/nats/cluster/nats.conf" "$STACK_DIR/nats.conf"
}

start_nats() {
  local name=$1 routes="" n
  for n in 1 2 3; do routes="$routes,nats://127.0.0.1:$(nats_route_port "nats-$n")"; done
  mkdir -p "$CLUSTER_DIR/$name"
  NATS_SERVER_NAME=$name start_proc "$name" nats-server -c "$STACK_DIR/nats.conf" -sd "$CLUSTER_DIR/$name" \
    -a 127.0.0.1 -p "$(port "$name")" -m "$(nats_monitor_port "$name")" \
    --cluster_name logchat --cluster "nats://127.0.0.1:$(nats_route_port "$name")" --routes "${routes#,}"
  # Up and JetStream on; the cluster as a whole is waited for in up.
  wait_http "http://127.0.0.1:$(nats_monitor_port "$name")/healthz?js-enabled-only=true" 30 || die "$name did not start; see $LOGS/$name.log"
}

start_centrifugo_node() {
  local name=$1
  (
    # Centrifugo warns of CENTRIFUGO_* variables it does not know: these
    # two are the gateways' and the notifiers'.
    unset CENTRIFUGO_API_URL CENTRIFUGO_WS_URL
    export CENTRIFUGO_HTTP_SERVER_PORT; CENTRIFUGO_HTTP_SERVER_PORT=$(port "$name")
    export CENTRIFUGO_HTTP_SERVER_INTERNAL_PORT; CENTRIFUGO_HTTP_SERVER_INTERNAL_PORT=$(centrifugo_internal_port "$name")
    export CENTRIFUGO_CLIENT_ALLOWED_ORIGINS="$URL http://localhost:$LB_PORT"
    # Both nodes share broker, presence and history through Redis: a
    # publication reaches the clients of either, and a client that
    # reconnects to the other recovers what it missed. As the cluster's ACL
    # user (its password in this process's environment only), under the
    # cluster's prefix.
    export CENTRIFUGO_ENGINE_TYPE=redis
    export CENTRIFUGO_ENGINE_REDIS_ADDRESS="redis://$REDIS_USERNAME:${SECRETS[REDIS_PASSWORD]}@$REDIS_HOST:$REDIS_PORT"
    export CENTRIFUGO_ENGINE_REDIS_PREFIX="${REDIS_PREFIX}centrifugo"
    GOMAXPROCS=${GOMAXPROCS:-$(nproc)} start_proc "$name" centrifugo --config "$STACK_DIR/centrifugo.json"
  )
}

# write_haproxy_config SRC OUT: deploy/haproxy's compose configuration with
# this machine's addresses: each `server NAME NAME:PORT [port CHECK]` points
# at 127.0.0.1 and the process's port here, `bind :PORT` at the cluster's
# balancer port, and Docker's DNS resolver is dropped. Routing, health
# checks and timeouts stay the committed file's: one configuration to keep.
write_haproxy_config() {
  local src=$1 out=$2 bind=$3 line skip=0 f
  {
    printf '# Written by scripts/cluster.sh from %s; do not edit.\n' "${src#"$ROOT"/}"
    while IFS= read -r line || [ -n "$line" ]; do
      if [ "$skip" = 1 ]; then [ -z "$line" ] && skip=0; continue; fi
      read -r -a f <<<"$line"
      case ${f[0]:-} in
        resolvers) skip=1; continue ;;
        bind) line="    bind 127.0.0.1:$bind" ;;
        default-server) line=${line/ resolvers docker/} ;;
        server)
          # server NAME NAME:PORT [port CHECKPORT] rest...
          line="    server ${f[1]} 127.0.0.1:$(compose_port "${f[1]}" "${f[2]##*:}")"
          local i=3
          if [ "${f[3]:-}" = port ]; then line="$line port $(compose_port "${f[1]}" "${f[4]}")"; i=5; fi
          [ "${#f[@]}" -le "$i" ] || line="$line ${f[*]:i}" ;;
      esac
      printf '%s\n' "$line"
    done < "$src"
  } > "$out"
  haproxy -c -q -f "$out" >>"$LOGS/haproxy-check.log" 2>&1 || die "haproxy -c refused $out; see $LOGS/haproxy-check.log"
}

# compose_port NAME PORT: the port here of what the compose profile serves on NAME:PORT.
compose_port() {
  case $1:$2 in
    gateway-*:8080) port "$1" ;;
    centrifugo-*:8000) port "$1" ;;
    centrifugo-*:9000) centrifugo_internal_port "$1" ;;
    *) die "deploy/haproxy: no native address for $1:$2 (scripts/cluster.sh compose_port)" ;;
  esac
}

ensure_haproxy() {
  command -v haproxy >/dev/null || { log "installing HAProxy (Debian package haproxy)"; apt_install haproxy; }
}

# --- gateways and workers ------------------------------------------------------

# start_instance NAME: a gateway or worker instance (persister-2, ...) with
# the secrets it needs and no others (exported in a subshell, never on a
# command line).
start_instance() {
  local name=$1 role=${1%-*}
  (
    export MYSQL_DSN MYSQL_SHARDS
    MYSQL_DSN=$(MYSQL_PORT=$(port mysql-main) app_dsn "$MYSQL_DB")
    MYSQL_SHARDS=$(shard_dsns app)
    case $role in gateway|cachewarm|notifier) export REDIS_PASSWORD=${SECRETS[REDIS_PASSWORD]} ;; esac
    as_nats_user "$role"
    case $role in
      gateway)
        export JWT_SECRET=${SECRETS[JWT_SECRET]} CENTRIFUGO_HMAC_SECRET=${SECRETS[CENTRIFUGO_HMAC_SECRET]}
        export CENTRIFUGO_API_KEY=${SECRETS[CENTRIFUGO_API_KEY]}
        export GATEWAY_ADDR="127.0.0.1:$(port "$name")"
        export GATEWAY_INTERNAL_ADDR="127.0.0.1:$(gateway_internal_port "$name")"
        # Behind the balancer: the client is in its X-Forwarded-For;
        # /metrics on the internal listener only, as in a deployment.
        export TRUSTED_PROXIES=127.0.0.1 GATEWAY_PUBLIC_METRICS=false ;;
      notifier) export CENTRIFUGO_API_KEY=${SECRETS[CENTRIFUGO_API_KEY]} ;;
    esac
    [ "$role" = gateway ] || export HEALTH_ADDR="127.0.0.1:$(port "$name")"
    start_proc "$name" "$role"
  )
}

# start_node NAME: one process, with the configuration up wrote, waiting
# until it is healthy.
start_node() {
  local name=$1
  alive "$name" && die "$name already runs"
  case $name in
    mysql-*) start_mysql "$name" ;;
    nats-*) start_nats "$name" ;;
    centrifugo-[12]) start_centrifugo_node "$name" ;;
    centrifugo-api) start_proc "$name" haproxy -db -f "$STACK_DIR/centrifugo-api.cfg" ;;
    lb) start_proc "$name" haproxy -db -f "$STACK_DIR/haproxy.cfg" ;;
    redis-*) start_redis_master "$name" ;;
    *) port "$name" >/dev/null; start_instance "$name" ;;
  esac
  wait_healthy "$name"
}

# --- the commands ----------------------------------------------------------------

running_nodes() {
  local n
  for n in $(nodes); do if alive "$n"; then printf '%s ' "$n"; fi; done
}

cluster_up() {
  local alive_now; alive_now=$(running_nodes)
  [ -z "$alive_now" ] || die "the cluster in $CLUSTER_DIR already runs ($alive_now) at $URL: scripts/cluster.sh down"
  local n p
  for n in $(nodes); do
    for p in $(port "$n") $(case $n in nats-*) nats_monitor_port "$n"; nats_route_port "$n" ;; centrifugo-[12]) centrifugo_internal_port "$n" ;; gateway-*) gateway_internal_port "$n" ;; esac); do
      port_busy "$p" && die "port $p ($n) is already in use; set CLUSTER_PORT_BASE to a free range of 133 ports"
    done
  done
  mkdir -p "$PIDS" "$LOGS"
  chmod 700 "$CLUSTER_DIR"
  ensure_secrets
  ensure_mysql   # the client and mariadbd (the machine's server is not used)
  ensure_redis
  ensure_tools
  ensure_haproxy
  build_go
  [ "${LOGCHAT_SKIP_WEB_BUILD:-0}" = 1 ] || build_web
  cluster_env

  # One after the other: three mariadb-install-db at once failed here.
  log "MySQL: mysql-main, mysql-shard-1, mysql-shard-2 on 127.0.0.1:$(port mysql-main)-$(port mysql-shard-2) (data in $CLUSTER_DIR/mysql-*)"
  for n in mysql-main mysql-shard-1 mysql-shard-2; do start_mysql "$n"; done
  mysql_setup
  log "Redis: user $REDIS_USERNAME, keys $REDIS_PREFIX* (chat cache: $CLUSTER_REDIS${REDIS_CLUSTER_ADDRS:+ on $REDIS_CLUSTER_ADDRS})"
  echo "$CLUSTER_REDIS" > "$CLUSTER_DIR/redis-mode"
  redis_setup

  log "NATS $NATS_SERVER_VERSION: nats-1..3 on 127.0.0.1:$(port nats-1)-$(port nats-3), one cluster"
  write_cluster_nats_config
  for n in 1 2 3; do start_nats "nats-$n"; done
  # Every node healthy: a JetStream meta leader is elected.
  for n in 1 2 3; do wait_healthy "nats-$n" 60; done

  log "Centrifugo $CENTRIFUGO_VERSION: centrifugo-1..2 on the Redis engine; server API behind 127.0.0.1:$API_LB_PORT"
  write_centrifugo_config
  write_haproxy_config "$ROOT/deploy/haproxy/centrifugo-api.cfg" "$STACK_DIR/centrifugo-api.cfg" "$API_LB_PORT"
  for n in centrifugo-1 centrifugo-2 centrifugo-api; do start_node "$n"; done

  log "migrating the schema (main and shards), provisioning the stream (×3 replicas, 2 partitions)"
  MIGRATE_MYSQL_DSN=$(MYSQL_PORT=$(port mysql-main) migrate_dsn "$MYSQL_DB") MIGRATE_MYSQL_SHARDS=$(shard_dsns migrate) \
    migrate up >>"$LOGS/migrate.log" 2>&1 || die "the migration failed; see $LOGS/migrate.log"
  (as_nats_user admin; ingest provision) >>"$LOGS/ingest.log" 2>&1 || die "provisioning failed; see $LOGS/ingest.log"

  log "gateways and workers, 2 of each"
  for n in $(nodes); do
    case $n in gateway-*|persister-*|cachewarm-*|notifier-*|searcher-*) start_instance "$n" ;; esac
  done
  for n in $(nodes); do
    case $n in gateway-*|persister-*|cachewarm-*|notifier-*|searcher-*) wait_healthy "$n" ;; esac
  done
  write_haproxy_config "$ROOT/deploy/haproxy/haproxy.cfg" "$STACK_DIR/haproxy.cfg" "$LB_PORT"
  start_node lb
  # The balancer's checks mark a backend up after two passes: wait until
  # the API answers through it.
  wait_http "$URL/readyz" 30 || die "the balancer does not reach the gateways; see $LOGS/lb.log"
  log "logs in $LOGS"
  printf '\nthe logchat cluster is up: \033[1m%s\033[0m\n' "$URL"
}

cluster_down() {
  local tier n stopping
  # The reverse of the start order, each tier's processes in parallel:
  # the balancer and the gateways first (no new work), MySQL last.
  for tier in "lb gateway-1 gateway-2" "persister-1 persister-2 cachewarm-1 cachewarm-2 notifier-1 notifier-2 searcher-1 searcher-2" \
    "centrifugo-api centrifugo-1 centrifugo-2" "nats-1 nats-2 nats-3" "mysql-main mysql-shard-1 mysql-shard-2"; do
    # Wait for these stops only: under `run` this shell is also the
    # parent of the cluster's processes.
    stopping=()
    for n in $tier; do stop_proc "$n" & stopping+=($!); done
    wait "${stopping[@]}"
  done
  [ -e "$REDIS_CLUSTER_DIR/ports" ] && bash "$ROOT/scripts/redis-cluster.sh" stop "$REDIS_CLUSTER_DIR" >/dev/null 2>&1
  if [ "${1:-}" = --purge ]; then
    if [ -e "$SECRETS_FILE" ]; then
      ensure_secrets
      cluster_env
      redis_admin ACL DELUSER "$REDIS_USERNAME" >/dev/null 2>&1 || true
      # The cluster's keys: its prefix is its own (never make up's lc:).
      case $REDIS_PREFIX in lc:|'') ;; *)
        redis_admin --scan --pattern "$REDIS_PREFIX*" | sed 's/^/DEL /' | redis_admin >/dev/null || true ;;
      esac
    fi
    rm -rf "$CLUSTER_DIR"
    log "stopped; $CLUSTER_DIR removed"
  else
    log "stopped; data kept in $CLUSTER_DIR (down --purge removes it)"
  fi
}

cluster_status() {
  local n state any=0
  printf '%-15s %-8s %-6s %s\n' NODE PID PORT HEALTH
  for n in $(nodes); do
    if alive "$n"; then
      any=1
      healthy "$n" && state=healthy || state=unhealthy
      printf '%-15s %-8s %-6s %s\n' "$n" "$(cat "$(pid_file "$n")")" "$(port "$n")" "$state"
    else
      printf '%-15s %-8s %-6s %s\n' "$n" - "$(port "$n")" stopped
    fi
  done
  [ "$any" = 1 ] && echo "clients: $URL" || echo "the cluster is not running"
}

kill_node() {
  local name=$1 f; port "$name" >/dev/null; f=$(pid_file "$name")
  [ -e "$f" ] || die "$name does not run"
  local pid; pid=$(cat "$f")
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  rm -f "$f"
}

# stop_node NAME: SIGTERM, and wait until it has exited (a Redis master
# writes its append-only file and exits).
stop_node() {
  local f pid; f=$(pid_file "$1")
  case $1 in
    redis-*)
      [ -e "$f" ] || return 0
      pid=$(cat "$f")
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      rm -f "$f" ;;
    *) stop_proc "$1" ;;
  esac
}

# run_ingest ARGS...: the ingest tool with what the cluster's processes
# have (the app account on the main database and the shards, NATS as
# admin), its secrets in its environment only.
run_ingest() {
  (
    export MYSQL_DSN MYSQL_SHARDS
    MYSQL_DSN=$(MYSQL_PORT=$(port mysql-main) app_dsn "$MYSQL_DB")
    MYSQL_SHARDS=$(shard_dsns app)
    export REDIS_PASSWORD=${SECRETS[REDIS_PASSWORD]}
    as_nats_user admin
    ingest "$@"
  )
}

# stream_leader: the server name of the stream's leader, from a node's
# monitoring endpoint (no login: it listens on 127.0.0.1 only).
stream_leader() {
  local n out
  for n in 1 2 3; do
    out=$(curl -s -m 2 "http://127.0.0.1:$(nats_monitor_port "nats-$n")/jsz?streams=true" 2>/dev/null) || continue
    out=$(printf '%s' "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin)
for acc in d.get("account_details") or []:
    for s in acc.get("stream_detail") or []:
        if s.get("name") == "CHAT" and (s.get("cluster") or {}).get("leader"):
            print(s["cluster"]["leader"]); sys.exit(0)
sys.exit(1)') && { echo "$out"; return 0; }
  done
  return 1
}

# cluster_info: where each process answers (no secret: a test reads the
# ones it needs from CLUSTER_DIR/secrets.env, as this user).
cluster_info() {
  printf 'URL=%s\n' "$URL"
  printf 'CENTRIFUGO_API_URL=http://127.0.0.1:%s/api\n' "$API_LB_PORT"
  printf 'NATS_URL=%s\n' "$(all_nats_urls)"
  printf 'MYSQL_MAIN_PORT=%s\n' "$(port mysql-main)"
  printf 'MYSQL_SHARD_PORTS=%s,%s\n' "$(port mysql-shard-1)" "$(port mysql-shard-2)"
  [ "$CLUSTER_REDIS" = cluster ] && printf 'REDIS_CLUSTER_ADDRS=127.0.0.1:%s,127.0.0.1:%s,127.0.0.1:%s\n' \
    "$REDIS_CLUSTER_PORT_BASE" "$((REDIS_CLUSTER_PORT_BASE + 1))" "$((REDIS_CLUSTER_PORT_BASE + 2))"
  printf 'REDIS_PREFIX=%s\n' "$REDIS_PREFIX"
  local n
  for n in $(nodes); do printf 'HEALTH_%s=%s\n' "${n//-/_}" "$(health_url "$n")"; done
}

case "${1:-}" in
  run)
    trap 'echo; log "stopping"; cluster_down; exit 0' INT TERM
    cluster_up
    echo "Ctrl-C stops it."
    while :; do sleep 1; done ;;
  up) cluster_up ;;
  down) cluster_down "${2:-}" ;;
  status) cluster_status ;;
  nodes) nodes | tr ' ' '\n' ;;
  kill) kill_node "${2:?usage: $0 kill NODE}"; log "killed ${2}" ;;
  stop) port "${2:?usage: $0 stop NODE}" >/dev/null; stop_node "$2"; log "stopped $2" ;;
  start)
    name=${2:?usage: $0 start NODE}
    port "$name" >/dev/null
    [ -e "$SECRETS_FILE" ] && [ -e "$STACK_DIR/nats.conf" ] || die "no cluster was started from $CLUSTER_DIR (scripts/cluster.sh up)"
    ensure_secrets
    cluster_env
    start_node "$name"
    log "started $name" ;;
  leader) stream_leader || die "no node names a leader of the stream" ;;
  env) cluster_info ;;
  ingest)
    shift
    [ -e "$SECRETS_FILE" ] || die "no cluster was started from $CLUSTER_DIR (scripts/cluster.sh up)"
    ensure_secrets
    cluster_env
    run_ingest "$@" ;;
  *) die "usage: $0 run|up|down [--purge]|status|nodes|kill NODE|stop NODE|start NODE|leader|env|ingest ARGS..." ;;
esac
