#!/usr/bin/env bash
# Runs the whole system on this machine, without Docker.
#
#   scripts/stack.sh run     everything in the foreground; Ctrl-C stops what it started  (make up)
#   scripts/stack.sh start   the same in the background; returns once every /readyz is 200
#   scripts/stack.sh stop    stops what start started                                     (make down)
#   scripts/stack.sh status  which processes run
#   scripts/stack.sh stop-worker NAME    stops one process of a started stack (gateway, persister, cachewarm, notifier, searcher)
#   scripts/stack.sh restart-centrifugo  stops Centrifugo and starts it again with the same config, waiting until
#                                        it answers (its in-memory history and connections are lost: a reconnect storm)
#   PROMETHEUS=1 scripts/stack.sh run|start   Prometheus too (Debian's package), scraping every process,
#                                        with the rules of deploy/prometheus, on 127.0.0.1:PROMETHEUS_PORT (9090)
#   scripts/stack.sh start-worker NAME   starts it again (with the environment of this call) and waits for /readyz;
#                                        NAME baseline starts the benchmark's synchronous baseline (.bin/baseline,
#                                        built by scripts/bench.sh) in the gateway's place: stop the gateway first
#
# MariaDB and Redis are shared machine services: they are checked, installed
# (Debian packages) and started when missing, and left running afterwards.
# NATS 2.15, Centrifugo, the gateway and the workers are the stack's own
# processes, with state under STACK_DIR. Ports and names are environment
# variables so that tests can run a second stack beside a developer's.
#
# Secrets (JWT, Centrifugo, one NATS password per service, the MySQL and
# Redis accounts' passwords) are generated on first run into .run/secrets.env
# (scripts/lib.sh) and each process is given only the ones it needs. MySQL:
# the migrate command logs in with this installation's migrate account, the
# gateway and the workers with its app account (rows only). Redis: as this
# installation's ACL user for the stack (keys under REDIS_PREFIX only).
# Centrifugo serves clients on CENTRIFUGO_PORT and its server API (and
# health) on CENTRIFUGO_INTERNAL_PORT. Everything listens on 127.0.0.1. NATS
# over TLS: set NATS_SERVER_TLS_CERT and NATS_SERVER_TLS_KEY (the server's
# PEM files) and NATS_TLS_CA (the CA the processes verify it with).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STACK_DIR=${STACK_DIR:-$ROOT/.run/stack}
GATEWAY_PORT=${GATEWAY_PORT:-8080}
CENTRIFUGO_PORT=${CENTRIFUGO_PORT:-8000}
CENTRIFUGO_INTERNAL_PORT=${CENTRIFUGO_INTERNAL_PORT:-$((CENTRIFUGO_PORT + 1))}  # server API, health
NATS_PORT=${NATS_PORT:-4233}
NATS_HTTP_PORT=${NATS_HTTP_PORT:-8233}
HEALTH_PORT_BASE=${HEALTH_PORT_BASE:-9100}   # gateway's internal listener +0, persister +1, cachewarm +2, notifier +3, searcher +5
# Opt-in profiling (off when empty): net/http/pprof of the gateway on
# PPROF_PORT_BASE, persister +1, cachewarm +2, notifier +3, nats-server +4, searcher +5.
PPROF_PORT_BASE=${PPROF_PORT_BASE:-}
MYSQL_DB=${MYSQL_DB:-logchat}
# Opt-in: Prometheus scraping the stack (deploy/prometheus; docs/design.md, "Metrics and alerts").
PROMETHEUS=${PROMETHEUS:-0}
PROMETHEUS_PORT=${PROMETHEUS_PORT:-9090}
export REDIS_PREFIX=${REDIS_PREFIX:-lc:}
NATS_SERVER_TLS_CERT=${NATS_SERVER_TLS_CERT:-}
NATS_SERVER_TLS_KEY=${NATS_SERVER_TLS_KEY:-}

# The log's partition count is fixed once its stream exists (the processes
# refuse another). A data directory made before the default became 1 holds
# a log of 4 partitions: it keeps them, unless STREAM_PARTITIONS says otherwise.
if [ -z "${STREAM_PARTITIONS:-}" ] && [ -d "$STACK_DIR/nats/jetstream" ] && [ ! -e "$STACK_DIR/nats/partitions" ]; then
  echo 4 > "$STACK_DIR/nats/partitions"
fi
if [ -z "${STREAM_PARTITIONS:-}" ] && [ -e "$STACK_DIR/nats/partitions" ]; then
  export STREAM_PARTITIONS; STREAM_PARTITIONS=$(cat "$STACK_DIR/nats/partitions")
fi

PIDS="$STACK_DIR/pids"
LOGS="$STACK_DIR/logs"
URL="http://127.0.0.1:$GATEWAY_PORT"

running() {
  local f alive=""
  for f in "$PIDS"/*.pid; do
    [ -e "$f" ] || continue
    kill -0 "$(cat "$f")" 2>/dev/null && alive="$alive $(basename "$f" .pid)"
  done
  echo "$alive"
}

# start_proc NAME COMMAND...: in its own process group, logging to LOGS/NAME.log.
# Every process of the stack is a Go program (Centrifugo and nats-server
# too). Each one's scheduler, with as many threads running Go code as the
# machine has cores, wakes a second thread whenever work appears, and then
# puts it back to sleep: futex calls and spinning paid per message by each of
# seven processes that share the same cores. STACK_GOMAXPROCS (default: half
# the cores, at least 1) bounds that; on 2 cores at 100 msg/s it measured a
# quarter less CPU for the stack and a lower delivery p99
# (docs/performance.md). GOMAXPROCS set by the caller wins. Centrifugo is the
# exception, with every core: it writes a publication to each subscriber's
# connection in parallel, and bounded to one thread a group of 1,000 live
# members waited 339 ms at p99 for a message instead of 46-86 ms.
STACK_GOMAXPROCS=${STACK_GOMAXPROCS:-$(( $(nproc) / 2 > 1 ? $(nproc) / 2 : 1 ))}

start_proc() {
  local name=$1; shift
  GOMAXPROCS=${GOMAXPROCS:-$STACK_GOMAXPROCS} setsid "$@" >>"$LOGS/$name.log" 2>&1 < /dev/null &
  echo $! > "$PIDS/$name.pid"
}

stop_proc() {
  local name=$1 f pid
  f="$PIDS/$name.pid"; [ -e "$f" ] || return 0
  pid=$(cat "$f")
  # SIGTERM: each process finishes in-flight work and acks before it exits.
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$f"
}

stop_all() {
  # local: a caller's "$name" must still name what failed after the stop.
  local name
  for name in prometheus gateway baseline persister cachewarm notifier searcher centrifugo nats; do stop_proc "$name"; done
}

# The environment every process of the stack gets: no secret (start_service
# hands each process its own). Call after ensure_secrets, which has read any
# secret the caller set in the environment.
stack_env() {
  unset MYSQL_DSN MIGRATE_MYSQL_DSN REDIS_PASSWORD
  export NATS_URL="nats://127.0.0.1:$NATS_PORT"
  # REDIS_CLUSTER_ADDRS (seeds of a Redis Cluster, scripts/redis-cluster.sh)
  # replaces the one Redis: the two must not both be set.
  if [ -n "${REDIS_CLUSTER_ADDRS:-}" ]; then
    unset REDIS_ADDR
  else
    export REDIS_ADDR="$REDIS_HOST:$REDIS_PORT"
  fi
  # One ACL user per installation and stack (a stack's prefix is its own).
  local stack=${STACK_DIR##*/}
  export REDIS_USERNAME="logchat-${SECRETS[LOGCHAT_INSTALL_ID]}-${stack//[^A-Za-z0-9_.-]/_}"
  # The server API is on Centrifugo's internal port, never the clients'.
  export CENTRIFUGO_API_URL="http://127.0.0.1:$CENTRIFUGO_INTERNAL_PORT/api"
  export CENTRIFUGO_WS_URL="ws://127.0.0.1:$CENTRIFUGO_PORT/connection/websocket"
  export GATEWAY_ADDR="127.0.0.1:$GATEWAY_PORT"
  export WEB_DIR="$ROOT/web/dist"
}

# port_offset NAME: a process's offset from HEALTH_PORT_BASE and PPROF_PORT_BASE.
port_offset() {
  case $1 in
    gateway|baseline) echo 0 ;;  # the baseline serves on the gateway's address, in its place
    persister) echo 1 ;;
    cachewarm) echo 2 ;;
    notifier) echo 3 ;;
    searcher) echo 5 ;;  # +4 is nats-server's pprof
    *) die "not a gateway or worker: $1" ;;
  esac
}

# health_url NAME: the /readyz of a gateway or worker.
health_url() {
  local offset; offset=$(port_offset "$1") || exit 1
  if [ "$1" = gateway ] || [ "$1" = baseline ]; then echo "$URL/readyz"
  else echo "http://127.0.0.1:$((HEALTH_PORT_BASE + offset))/readyz"; fi
}

# as_nats_user USER: exports, in the calling subshell, the NATS login of
# USER (admin, gateway or a worker; ingest/access gives each its permissions).
as_nats_user() {
  export NATS_USER=$1 NATS_PASSWORD=${SECRETS[NATS_${1^^}_PASSWORD]}
}

# start_service NAME: the gateway or one worker, with the secrets it needs
# and no others (exported in a subshell: never on a command line, where any
# local user could read them).
start_service() {
  local offset pprof=""; offset=$(port_offset "$1") || exit 1
  [ -z "$PPROF_PORT_BASE" ] || pprof="127.0.0.1:$((PPROF_PORT_BASE + offset))"
  (
    # MySQL: the app account (rows only); Redis: the stack's ACL user.
    case $1 in
      gateway|baseline|persister|cachewarm|notifier|searcher) export MYSQL_DSN; MYSQL_DSN=$(app_dsn "$MYSQL_DB") ;;
    esac
    case $1 in
      gateway|baseline|cachewarm|notifier) export REDIS_PASSWORD=${SECRETS[REDIS_PASSWORD]} ;;
    esac
    case $1 in
      gateway)
        as_nats_user gateway
        export JWT_SECRET=${SECRETS[JWT_SECRET]} CENTRIFUGO_HMAC_SECRET=${SECRETS[CENTRIFUGO_HMAC_SECRET]}
        # Typing and presence publish and ask through Centrifugo's server API.
        export CENTRIFUGO_API_KEY=${SECRETS[CENTRIFUGO_API_KEY]}
        # /metrics (and /readyz with errors) on the internal listener only.
        export GATEWAY_INTERNAL_ADDR="127.0.0.1:$((HEALTH_PORT_BASE + offset))"
        PPROF_ADDR=$pprof start_proc gateway gateway ;;
      baseline)
        # The benchmark's synchronous baseline, in the gateway's place: no
        # NATS at all, and it publishes to Centrifugo itself.
        export JWT_SECRET=${SECRETS[JWT_SECRET]} CENTRIFUGO_HMAC_SECRET=${SECRETS[CENTRIFUGO_HMAC_SECRET]}
        export CENTRIFUGO_API_KEY=${SECRETS[CENTRIFUGO_API_KEY]}
        # Its id counter is a table of its own, made with the migrate account.
        export MIGRATE_MYSQL_DSN; MIGRATE_MYSQL_DSN=$(migrate_dsn "$MYSQL_DB")
        PPROF_ADDR=$pprof start_proc baseline baseline ;;
      *)
        as_nats_user "$1"
        [ "$1" != notifier ] || export CENTRIFUGO_API_KEY=${SECRETS[CENTRIFUGO_API_KEY]}
        PPROF_ADDR=$pprof HEALTH_ADDR="127.0.0.1:$((HEALTH_PORT_BASE + offset))" start_proc "$1" "$1" ;;
    esac
  )
}

# write_nats_config: nats.conf (the committed one, fsync setting aside) and
# auth.conf beside it: every service's user and permissions for this
# topology, with bcrypt hashes of the passwords, so that neither the file nor
# nats-server's environment holds a password.
write_nats_config() {
  if [ "${LOGCHAT_LAZY_FSYNC:-0}" = 1 ]; then
    # Explicit opt-in: acknowledged writes may be lost on power failure.
    sed 's/sync_interval: always/sync_interval: "2m"/' "$ROOT/deploy/nats/nats.conf" > "$STACK_DIR/nats.conf"
  else
    cp "$ROOT/deploy/nats/nats.conf" "$STACK_DIR/nats.conf"
  fi
  local tls=()
  if [ -n "$NATS_SERVER_TLS_CERT" ]; then
    [ -n "$NATS_SERVER_TLS_KEY" ] && [ -n "${NATS_TLS_CA:-}" ] \
      || die "NATS over TLS needs NATS_SERVER_TLS_CERT, NATS_SERVER_TLS_KEY and NATS_TLS_CA (the CA the processes verify the server with)"
    tls=(--tls-cert "$NATS_SERVER_TLS_CERT" --tls-key "$NATS_SERVER_TLS_KEY")
  fi
  (
    for u in admin gateway persister cachewarm notifier searcher; do
      export "NATS_${u^^}_PASSWORD=${SECRETS[NATS_${u^^}_PASSWORD]}"
    done
    umask 077
    ingest nats-config --bcrypt "${tls[@]}" > "$STACK_DIR/auth.conf"
  ) || die "could not write the NATS users (ingest nats-config)"
}

# write_centrifugo_config: the committed template with this installation's
# HMAC secret and API key, readable by this user only. The template's empty
# values work nowhere: Centrifugo refuses every token and API call with them.
write_centrifugo_config() {
  local tpl out
  tpl=$(<"$ROOT/deploy/centrifugo/config.template.json")
  out=${tpl/'"hmac_secret_key": ""'/"\"hmac_secret_key\": \"${SECRETS[CENTRIFUGO_HMAC_SECRET]}\""}
  out=${out/'"key": ""'/"\"key\": \"${SECRETS[CENTRIFUGO_API_KEY]}\""}
  case $out in
    *"${SECRETS[CENTRIFUGO_HMAC_SECRET]}"*"${SECRETS[CENTRIFUGO_API_KEY]}"*) ;;
    *) die "deploy/centrifugo/config.template.json lacks \"hmac_secret_key\": \"\" or \"key\": \"\"" ;;
  esac
  (umask 077; printf '%s\n' "$out" > "$STACK_DIR/centrifugo.json")
}

# write_prometheus_config: a scrape job per process of this stack (the
# gateway's internal listener and each worker's health address, offsets as
# in port_offset, the searcher at +5; Centrifugo's internal port), named
# after the process (the `job` label the rules and the dashboard use), with
# the rules of deploy/prometheus. A worker that is not running (its pid file
# absent) is left out. nats-server serves no Prometheus format (only JSON
# under /varz); its health shows in every process's logchat_dependency_up.
write_prometheus_config() {
  local name port out="$STACK_DIR/prometheus.yml"
  {
    printf '# Written by scripts/stack.sh for the stack in %s.\n' "$STACK_DIR"
    printf 'global:\n  scrape_interval: 5s\n  evaluation_interval: 5s\n'
    printf 'rule_files:\n  - %s/deploy/prometheus/rules/*.yml\n' "$ROOT"
    printf 'scrape_configs:\n'
    for name in gateway persister cachewarm notifier searcher; do
      [ -e "$PIDS/$name.pid" ] || continue
      case $name in gateway) port=0 ;; persister) port=1 ;; cachewarm) port=2 ;; notifier) port=3 ;; searcher) port=5 ;; esac
      printf '  - job_name: %s\n    static_configs:\n      - targets: ["127.0.0.1:%s"]\n' "$name" "$((HEALTH_PORT_BASE + port))"
    done
    printf '  - job_name: centrifugo\n    static_configs:\n      - targets: ["127.0.0.1:%s"]\n' "$CENTRIFUGO_INTERNAL_PORT"
    printf '  - job_name: prometheus\n    static_configs:\n      - targets: ["127.0.0.1:%s"]\n' "$PROMETHEUS_PORT"
  } > "$out"
}

start_prometheus() {
  ensure_prometheus
  port_busy "$PROMETHEUS_PORT" && die "port $PROMETHEUS_PORT is already in use; set PROMETHEUS_PORT to a free one"
  write_prometheus_config
  promtool check config "$STACK_DIR/prometheus.yml" >>"$LOGS/prometheus.log" 2>&1 || die "the Prometheus config is invalid; see $LOGS/prometheus.log"
  mkdir -p "$STACK_DIR/prometheus"
  start_proc prometheus prometheus --config.file="$STACK_DIR/prometheus.yml" --storage.tsdb.path="$STACK_DIR/prometheus" \
    --web.listen-address="127.0.0.1:$PROMETHEUS_PORT" --storage.tsdb.retention.time=2d
  wait_http "http://127.0.0.1:$PROMETHEUS_PORT/-/ready" 60 || die "Prometheus did not start; see $LOGS/prometheus.log"
}

# start_centrifugo: Centrifugo with the config write_centrifugo_config wrote,
# waiting until its health answers.
start_centrifugo() {
  CENTRIFUGO_HTTP_SERVER_PORT=$CENTRIFUGO_PORT CENTRIFUGO_HTTP_SERVER_INTERNAL_PORT=$CENTRIFUGO_INTERNAL_PORT \
  CENTRIFUGO_CLIENT_ALLOWED_ORIGINS="http://127.0.0.1:$GATEWAY_PORT http://localhost:$GATEWAY_PORT" \
  CENTRIFUGO_PROMETHEUS_ENABLED=$([ "$PROMETHEUS" = 1 ] && echo true || echo false) \
    GOMAXPROCS=${GOMAXPROCS:-$(nproc)} start_proc centrifugo centrifugo --config "$STACK_DIR/centrifugo.json"
  wait_http "http://127.0.0.1:$CENTRIFUGO_INTERNAL_PORT/health" 30 || die "Centrifugo did not start; see $LOGS/centrifugo.log"
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_all() {
  local alive; alive=$(running)
  if [ -n "$alive" ]; then
    die "logchat is already running from $STACK_DIR (${alive# }) at $URL — stop it with Ctrl-C in its terminal or 'make down'"
  fi
  for p in "$GATEWAY_PORT" "$CENTRIFUGO_PORT" "$CENTRIFUGO_INTERNAL_PORT" "$NATS_PORT" "$HEALTH_PORT_BASE"; do
    port_busy "$p" && die "port $p is already in use by another program; set GATEWAY_PORT/CENTRIFUGO_PORT/CENTRIFUGO_INTERNAL_PORT/NATS_PORT/HEALTH_PORT_BASE to free ones"
  done
  mkdir -p "$PIDS" "$LOGS" "$STACK_DIR/nats"
  # A new log: note its partition count for the starts to come (see the top).
  [ -d "$STACK_DIR/nats/jetstream" ] || echo "${STREAM_PARTITIONS:-1}" > "$STACK_DIR/nats/partitions"
  # Its configs hold secrets and its logs user names: this user's only.
  chmod 700 "$STACK_DIR"

  ensure_secrets
  ensure_mysql
  ensure_redis
  ensure_tools
  build_go
  # A benchmark or test stack that needs no browser may skip the web build.
  [ "${LOGCHAT_SKIP_WEB_BUILD:-0}" = 1 ] || build_web
  stack_env
  log "MySQL accounts $(mysql_migrate_user) (schema) and $(mysql_app_user) (rows) on $MYSQL_DB; Redis user $REDIS_USERNAME (keys $REDIS_PREFIX*)"
  ensure_mysql_accounts "$MYSQL_DB"
  ensure_redis_user "$REDIS_USERNAME" "$REDIS_PREFIX"

  log "starting NATS $NATS_SERVER_VERSION on 127.0.0.1:$NATS_PORT (data in $STACK_DIR/nats)"
  write_nats_config
  local nats_prof=()
  [ -z "$PPROF_PORT_BASE" ] || nats_prof=(--profile "$((PPROF_PORT_BASE + 4))")
  start_proc nats nats-server -c "$STACK_DIR/nats.conf" -sd "$STACK_DIR/nats" -p "$NATS_PORT" -m "$NATS_HTTP_PORT" -n "logchat-$NATS_PORT" "${nats_prof[@]}"
  wait_http "http://127.0.0.1:$NATS_HTTP_PORT/healthz?js-enabled-only=true" 30 || die "NATS did not start; see $LOGS/nats.log"

  log "starting Centrifugo $CENTRIFUGO_VERSION on 127.0.0.1:$CENTRIFUGO_PORT (server API on 127.0.0.1:$CENTRIFUGO_INTERNAL_PORT)"
  write_centrifugo_config
  start_centrifugo

  log "migrating the MySQL schema (the migrate command owns it; the others wait for its version)"
  # The only process with the migrate account's DSN, in its environment.
  MIGRATE_MYSQL_DSN=$(migrate_dsn "$MYSQL_DB") migrate up >>"$LOGS/migrate.log" 2>&1 || die "the migration failed; see $LOGS/migrate.log"

  # The admin creates the streams; the services' users may not.
  log "provisioning the stream"
  (as_nats_user admin; ingest provision) >>"$LOGS/ingest.log" 2>&1 || die "provisioning failed; see $LOGS/ingest.log"

  for name in persister cachewarm notifier searcher gateway; do start_service "$name"; done
  for name in gateway persister cachewarm notifier searcher; do
    # STACK_READY_SECS: longer on a machine under heavy load (shared CI runners).
    wait_http "$(health_url "$name")" "${STACK_READY_SECS:-60}" || { stop_all; die "$name is not ready; see $LOGS/$name.log"; }
  done
  log "logs in $LOGS"
  if [ "$PROMETHEUS" = 1 ]; then
    log "starting Prometheus on 127.0.0.1:$PROMETHEUS_PORT (rules: deploy/prometheus; data in $STACK_DIR/prometheus)"
    start_prometheus
    printf 'Prometheus: \033[1m%s\033[0m (alerts: %s/alerts)\n' "http://127.0.0.1:$PROMETHEUS_PORT" "http://127.0.0.1:$PROMETHEUS_PORT"
  fi
  printf '\nlogchat is up: \033[1m%s\033[0m\n' "$URL"
}

# scripts/cluster.sh sources this file for its functions (start_proc,
# stop_proc, write_nats_config, ...) and runs its own commands.
[ "${BASH_SOURCE[0]}" = "$0" ] || return 0

case "${1:-run}" in
  run)
    trap 'echo; log "stopping"; stop_all; exit 0' INT TERM
    start_all
    echo "Ctrl-C stops it."
    # Wait for any of the stack's processes to exit, then stop the rest.
    while :; do
      for f in "$PIDS"/*.pid; do
        [ -e "$f" ] || continue
        if ! kill -0 "$(cat "$f")" 2>/dev/null; then
          log "$(basename "$f" .pid) exited; stopping the rest (see $LOGS)"; stop_all; exit 1
        fi
      done
      sleep 1
    done ;;
  start) start_all ;;
  stop) stop_all; log "stopped" ;;
  status) a=$(running); [ -n "$a" ] && echo "running:$a ($URL)" || echo "not running" ;;
  stop-worker)
    name=${2:?usage: $0 stop-worker gateway|baseline|persister|cachewarm|notifier|searcher}
    health_url "$name" >/dev/null
    stop_proc "$name"; log "stopped $name" ;;
  start-worker)
    name=${2:?usage: $0 start-worker gateway|baseline|persister|cachewarm|notifier|searcher}
    url=$(health_url "$name")
    [ -e "$PIDS/nats.pid" ] || die "no stack runs from $STACK_DIR"
    [ -e "$PIDS/$name.pid" ] && kill -0 "$(cat "$PIDS/$name.pid")" 2>/dev/null && die "$name already runs"
    # The gateway and the baseline share an address: /readyz would answer
    # for the one already there.
    case $name in gateway) other=baseline ;; baseline) other=gateway ;; *) other="" ;; esac
    if [ -n "$other" ] && [ -e "$PIDS/$other.pid" ] && kill -0 "$(cat "$PIDS/$other.pid")" 2>/dev/null; then
      die "$other serves on $URL: stop it first"
    fi
    ensure_secrets
    stack_env
    start_service "$name"
    wait_http "$url" 60 || die "$name is not ready; see $LOGS/$name.log"
    log "started $name" ;;
  restart-centrifugo)
    [ -e "$PIDS/nats.pid" ] || die "no stack runs from $STACK_DIR"
    [ -e "$STACK_DIR/centrifugo.json" ] || die "no Centrifugo config in $STACK_DIR"
    stop_proc centrifugo
    start_centrifugo
    log "restarted centrifugo" ;;
  *) die "usage: $0 run|start|stop|status|stop-worker NAME|start-worker NAME|restart-centrifugo" ;;
esac
