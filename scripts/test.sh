#!/usr/bin/env bash
# Runs every test of the project against real services: Go unit and
# integration tests (MariaDB, Redis, in-process NATS JetStream, Centrifugo
# processes), the whole-system tests in e2e/ (real processes, SIGKILL, the
# compose file check), a short smoke run of the benchmark (scripts/bench.sh
# smoke, on a stack of its own: zero lost/duplicated/out-of-order, never
# timing), the web client's unit tests, and its end-to-end tests in headless
# Chromium against a freshly started stack.
#
# What is missing is installed and started first (scripts/lib.sh).
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_mysql
ensure_test_mysql
ensure_redis
ensure_tools
ensure_compose
ensure_prometheus  # promtool below; e2e/prometheus_test.go runs a stack with Prometheus
# The tests' own account (scripts/lib.sh ensure_test_mysql): its published
# password reaches the tests' throw-away databases (logchat_t_*) only.
export LOGCHAT_TEST_MYSQL=${LOGCHAT_TEST_MYSQL:-logchat:logchat@tcp(127.0.0.1:3306)/}
export LOGCHAT_TEST_REDIS=${LOGCHAT_TEST_REDIS:-127.0.0.1:6379}

status=0
log "go vet, staticcheck (pinned), gofmt, go mod tidy"
go vet ./... || status=1
# Pinned: a new release may add checks; move the pin on purpose.
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./... || status=1
unformatted=$(gofmt -l $(git ls-files '*.go'))
[ -z "$unformatted" ] || { echo "gofmt would change: $unformatted"; status=1; }
go mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; status=1; }

log "Prometheus rules: promtool check and unit tests (deploy/prometheus)"
ensure_prometheus
promtool check rules deploy/prometheus/rules/*.yml || status=1
promtool test rules deploy/prometheus/tests/*.yml || status=1

log "go test (unit and integration, real services)"
rm -f .run/artifacts/faults.txt .run/artifacts/cluster-faults.txt
# -p 2: two cores; the packages start their own servers and databases.
# e2e is the longest package (whole stacks and clusters): about 20 minutes.
go test -count=1 -p 2 -timeout 35m ./... || status=1
if [ -f .run/artifacts/faults.txt ]; then
  log "fault-injection suite (e2e/faults_test.go)"
  cat .run/artifacts/faults.txt
fi
if [ -f .run/artifacts/cluster-faults.txt ]; then
  log "the cluster's fault suite (e2e/cluster_faults_test.go, scripts/cluster.sh)"
  cat .run/artifacts/cluster-faults.txt
fi

log "benchmark smoke run: a few seconds of steady sending, zero lost/duplicated/out-of-order"
bash scripts/bench.sh smoke >/dev/null || status=1

if [ -f web/package.json ]; then
  ensure_node_deps
  log "web client: unit tests"
  (cd web && npm test --silent) || status=1
  if [ -d web/e2e ]; then
    log "web client: end-to-end tests in Chromium against a fresh stack"
    bash scripts/web-e2e.sh || status=1
  fi
fi

[ $status -eq 0 ] && log "all tests passed" || log "SOME TESTS FAILED"
exit $status
