#!/usr/bin/env bash
# Starts a stack of its own (own ports, database, key prefix and NATS data),
# runs the web client's browser tests against it, and stops it again.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
command -v chromium >/dev/null || { log "installing Debian's chromium"; apt_install chromium; }

export STACK_DIR="$ROOT/.run/e2e-stack"
# E2E_PORT_BASE moves every port (a second run beside this one: E2E_PORT_BASE=20000).
base=${E2E_PORT_BASE:-10000}
export GATEWAY_PORT=$((base + 8080)) CENTRIFUGO_PORT=$((base + 8000)) NATS_PORT=$((base + 4233))
export NATS_HTTP_PORT=$((base + 8233)) HEALTH_PORT_BASE=$((base + 9100))
export MYSQL_DB=logchat_e2e${E2E_PORT_BASE:+_$E2E_PORT_BASE} REDIS_PREFIX="e2e$(date +%s):"
bash scripts/stack.sh stop >/dev/null 2>&1 || true
rm -rf "$STACK_DIR/nats"
mysql_root -e "DROP DATABASE IF EXISTS $MYSQL_DB" || true
trap 'bash scripts/stack.sh stop >/dev/null 2>&1 || true; drop_redis_prefix "$REDIS_PREFIX" || true' EXIT
bash scripts/stack.sh start
# E2E_FILES runs only those test files (paths from the repository's root), e.g.
# E2E_FILES="web/e2e/search.test.mjs web/e2e/typing.test.mjs"; all of web/e2e/ by default.
# shellcheck disable=SC2086 # a list of paths, split on purpose
E2E_BASE_URL="http://127.0.0.1:$GATEWAY_PORT" node --test --test-concurrency=1 ${E2E_FILES:-web/e2e/}
