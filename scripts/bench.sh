#!/usr/bin/env bash
# Runs the benchmark (bench/cmd/bench) against a stack of its own — own ports,
# database, Redis key prefix and NATS data, in the durable default
# (sync_interval: always) — and stops that stack afterwards.
#
#   scripts/bench.sh          every scenario; writes docs/performance.md and its plots   (make bench)
#   scripts/bench.sh smoke    a few seconds at a low rate; fails on any lost, duplicated or
#                             out-of-order message (part of scripts/test.sh)
#   scripts/bench.sh steady,max   chosen scenarios (see `go run ./bench/cmd/bench --help`)
#
# Extra flags for the program go in BENCH_FLAGS, e.g. BENCH_FLAGS="--steady-duration 20s".
# A second benchmark beside this one needs its own ports and database: BENCH_GATEWAY_PORT,
# BENCH_CENTRIFUGO_PORT, BENCH_NATS_PORT, BENCH_NATS_HTTP_PORT, BENCH_HEALTH_PORT_BASE, BENCH_MYSQL_DB.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

scenarios=${1:-all}
export STACK_DIR="$ROOT/.run/bench-stack"
export GATEWAY_PORT=${BENCH_GATEWAY_PORT:-28080} CENTRIFUGO_PORT=${BENCH_CENTRIFUGO_PORT:-28000}
export CENTRIFUGO_INTERNAL_PORT=${BENCH_CENTRIFUGO_INTERNAL_PORT:-$((CENTRIFUGO_PORT + 1))}
export NATS_PORT=${BENCH_NATS_PORT:-24233} NATS_HTTP_PORT=${BENCH_NATS_HTTP_PORT:-28233} HEALTH_PORT_BASE=${BENCH_HEALTH_PORT_BASE:-29100}
export MYSQL_DB=${BENCH_MYSQL_DB:-logchat_bench} REDIS_PREFIX="bench$(date +%s):"
# The load generator registers thousands of users and sends from each many
# times a minute: cheap password hashing and no rate limits on this stack only.
export BCRYPT_COST=4 RATE_LIMIT_PER_MINUTE=0 RATE_LIMIT_AUTH_PER_MINUTE=0 RATE_LIMIT_ANON_PER_MINUTE=0
export LOGCHAT_SKIP_WEB_BUILD=1
out="$ROOT/.run/bench-out/$scenarios"

bash scripts/stack.sh stop >/dev/null 2>&1 || true
rm -rf "$STACK_DIR/nats" "$out"; mkdir -p "$(dirname "$out")"
ensure_mysql
mysql_root -e "DROP DATABASE IF EXISTS \`$MYSQL_DB\`" || true
trap 'bash scripts/stack.sh stop >/dev/null 2>&1 || true; drop_redis_prefix "$REDIS_PREFIX" || true' EXIT
bash scripts/stack.sh start

log "building the benchmark and the synchronous baseline"
go build -o "$BIN/bench" ./bench/cmd/bench
go build -o "$BIN/baseline" ./bench/cmd/baseline
log "running: $scenarios"
# The load generator reads the stack's NATS (as the admin: backlogs, a stream
# of its own for limits), Centrifugo's API and MySQL (limits: a scratch
# table, hence the migrate account) with this installation's secrets, handed
# over in its environment, not its arguments.
ensure_secrets
set +e
# shellcheck disable=SC2086
NATS_USER=admin NATS_PASSWORD=${SECRETS[NATS_ADMIN_PASSWORD]} CENTRIFUGO_API_KEY=${SECRETS[CENTRIFUGO_API_KEY]} \
MIGRATE_MYSQL_DSN=$(migrate_dsn "$MYSQL_DB") \
"$BIN/bench" --scenarios "$scenarios" --out "$out" \
  --api "http://127.0.0.1:$GATEWAY_PORT" --nats "nats://127.0.0.1:$NATS_PORT" --stack-dir "$STACK_DIR" \
  --stack-script "$ROOT/scripts/stack.sh" \
  --centrifugo-api "http://127.0.0.1:$CENTRIFUGO_INTERNAL_PORT/api" \
  --nats-server "$BIN/nats-server" ${STREAM_PARTITIONS:+--partitions "$STREAM_PARTITIONS"} ${BENCH_FLAGS:-} >"$out.log.md" 2> >(tee "$out.log" >&2)
status=$?
set -e

if [ "$scenarios" = all ] && [ $status -ne 2 ]; then
  mkdir -p docs/performance
  rm -f docs/performance/*.svg
  cp "$out"/*.svg "$out/report.json" docs/performance/
  {
    echo "# Performance"
    echo
    echo "Written by \`make bench\` (scripts/bench.sh): every scenario of bench/cmd/bench against a"
    echo "stack of its own on this machine, everything co-located, NATS with \`sync_interval: always\`."
    echo "Raw numbers: [performance/report.json](performance/report.json). How to read it and what was"
    echo "changed because of it: the notes at the end."
    echo
    sed 's#(\([a-z-]*\)-\(latency\|throughput\)\.svg)#(performance/\1-\2.svg)#' "$out/report.md"
    [ -f docs/performance-notes.md ] && cat docs/performance-notes.md
  } > docs/performance.md
  log "wrote docs/performance.md"
fi
exit $status
