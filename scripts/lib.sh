# Shared helpers of the project's scripts: find or install and start what the
# project needs. Sourced, not run. Every function is idempotent.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN="$ROOT/.bin"
# Built tools are kept outside the clone too, so a fresh clone (CI) does not
# rebuild Centrifugo every time.
TOOLS_CACHE=${LOGCHAT_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/logchat-tools}
CENTRIFUGO_VERSION=v6.9.1
NATS_SERVER_VERSION=v2.15.2
export PATH="$BIN:/usr/local/go/bin:$PATH"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

apt_install() {
  command -v apt-get >/dev/null || die "need $* but apt-get is not available: install it yourself"
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if [ ! -f /tmp/.logchat-apt-updated ]; then $sudo apt-get update -qq && touch /tmp/.logchat-apt-updated; fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

# tool NAME MODULE VERSION: a Go-built binary in .bin, built once into the cache.
ensure_go_tool() {
  local name=$1 module=$2 version=$3
  local cached="$TOOLS_CACHE/$name-$version"
  if [ ! -x "$cached" ]; then
    command -v go >/dev/null || die "Go is required (https://go.dev/dl); /usr/local/go/bin is searched"
    log "building $name $version (first time only, a few minutes)"
    mkdir -p "$TOOLS_CACHE/gobin-$name"
    GOBIN="$TOOLS_CACHE/gobin-$name" GOFLAGS=-buildvcs=false go install "$module@$version"
    mv "$TOOLS_CACHE/gobin-$name/$name" "$cached"
  fi
  mkdir -p "$BIN"
  ln -sf "$cached" "$BIN/$name"
}

ensure_tools() {
  ensure_go_tool centrifugo github.com/centrifugal/centrifugo/v6 "$CENTRIFUGO_VERSION"
  ensure_go_tool nats-server github.com/nats-io/nats-server/v2 "$NATS_SERVER_VERSION"
}

mysql_root() {
  # Root over TCP with an empty password (test machines), else the unix socket
  # (a fresh Debian MariaDB authenticates root that way).
  if mysql -uroot -h127.0.0.1 -P3306 -e 'SELECT 1' >/dev/null 2>&1; then
    mysql -uroot -h127.0.0.1 -P3306 "$@"
  else
    mysql -uroot "$@"
  fi
}

ensure_mysql() {
  if ! command -v mysql >/dev/null || ! { command -v mariadbd || command -v mysqld; } >/dev/null; then
    log "installing MariaDB (Debian package mariadb-server)"
    apt_install mariadb-server mariadb-client
  fi
  if ! mysqladmin -h127.0.0.1 -P3306 ping >/dev/null 2>&1 && ! mysqladmin ping >/dev/null 2>&1; then
    log "starting MariaDB"
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
    start-stop-daemon --start --oknodo --background --exec "$(command -v mariadbd || command -v mysqld)" -- --user=mysql
    for _ in $(seq 1 60); do mysqladmin ping >/dev/null 2>&1 && break; sleep 0.5; done
    mysqladmin ping >/dev/null 2>&1 || die "MariaDB did not start"
  fi
  # The project's own account: the app database and every test database.
  mysql_root -e "
    CREATE DATABASE IF NOT EXISTS logchat CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    CREATE USER IF NOT EXISTS 'logchat'@'127.0.0.1' IDENTIFIED BY 'logchat';
    CREATE USER IF NOT EXISTS 'logchat'@'localhost' IDENTIFIED BY 'logchat';
    GRANT ALL PRIVILEGES ON \`logchat\`.* TO 'logchat'@'127.0.0.1', 'logchat'@'localhost';
    GRANT ALL PRIVILEGES ON \`logchat\\_%\`.* TO 'logchat'@'127.0.0.1', 'logchat'@'localhost';" \
    || die "could not create the logchat MySQL user (need root access to MariaDB)"
}

ensure_redis() {
  command -v redis-server >/dev/null || { log "installing Redis (Debian package redis-server)"; apt_install redis-server; }
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    log "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
    for _ in $(seq 1 40); do redis-cli ping >/dev/null 2>&1 && break; sleep 0.25; done
  fi
}

# Secrets of this installation: generated on first run, kept in SECRETS_FILE
# (mode 0600, under the git-ignored .run/) and reused afterwards. Nothing
# committed to the repository works as a secret anywhere (docs/security.md).
SECRETS_FILE=${LOGCHAT_SECRETS_FILE:-$ROOT/.run/secrets.env}
# MYSQL_* serve docker-compose.yml only (`--env-file .run/secrets.env`): the
# local stack uses the machine's MariaDB account.
SECRET_NAMES=(JWT_SECRET CENTRIFUGO_HMAC_SECRET CENTRIFUGO_API_KEY
  NATS_ADMIN_PASSWORD NATS_GATEWAY_PASSWORD NATS_PERSISTER_PASSWORD NATS_CACHEWARM_PASSWORD NATS_NOTIFIER_PASSWORD
  MYSQL_PASSWORD MYSQL_ROOT_PASSWORD)
declare -A SECRETS=()

random_secret() { od -An -tx1 -N32 /dev/urandom | tr -d ' \n'; }

# ensure_secrets: SECRETS filled from SECRETS_FILE, creating the file or
# adding what it lacks. A variable set in the environment wins over the file
# (an operator's own secret), but is not written to it. Nothing is exported:
# each process gets only the secrets it needs (scripts/stack.sh).
ensure_secrets() {
  local dir k v; dir=$(dirname "$SECRETS_FILE")
  mkdir -p "$dir" && chmod 700 "$dir"
  if [ ! -e "$SECRETS_FILE" ]; then
    log "generating this installation's secrets into $SECRETS_FILE (mode 0600; never commit it)"
    (umask 077; printf '# Secrets of this logchat installation, generated by scripts/lib.sh. Keep private; never commit.\n' > "$SECRETS_FILE")
  fi
  chmod 600 "$SECRETS_FILE"
  while IFS='=' read -r k v; do
    case $k in ''|'#'*) continue ;; esac
    SECRETS[$k]=$v
  done < "$SECRETS_FILE"
  for k in "${SECRET_NAMES[@]}"; do
    if [ -z "${SECRETS[$k]:-}" ]; then
      SECRETS[$k]=$(random_secret)
      printf '%s=%s\n' "$k" "${SECRETS[$k]}" >> "$SECRETS_FILE"
    fi
    [ -z "${!k:-}" ] || SECRETS[$k]=${!k}
  done
}

# docker-compose validates docker-compose.yml without an engine (e2e/compose_test.go).
ensure_compose() {
  command -v docker-compose >/dev/null || { log "installing Debian's docker-compose (to validate docker-compose.yml)"; apt_install docker-compose; }
}

ensure_node_deps() {
  [ -f "$ROOT/web/package.json" ] || return 0
  command -v npm >/dev/null || { log "installing Node.js (Debian packages nodejs npm)"; apt_install nodejs npm; }
  if [ ! -d "$ROOT/web/node_modules" ] || [ "$ROOT/web/package-lock.json" -nt "$ROOT/web/node_modules/.package-lock.json" ]; then
    log "installing the web client's packages"
    (cd "$ROOT/web" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

build_web() {
  [ -f "$ROOT/web/package.json" ] || return 0
  ensure_node_deps
  log "building the web client"
  (cd "$ROOT/web" && npm run build --silent >/dev/null)
}

build_go() {
  log "building gateway, workers, the ingest CLI and the migrate command"
  mkdir -p "$BIN"
  (cd "$ROOT" && go build -o "$BIN/" ./gateway/cmd/gateway ./persister/cmd/persister \
      ./cachewarm/cmd/cachewarm ./notifier/cmd/notifier ./ingest/cmd/ingest ./storage/cmd/migrate)
}

# wait_http URL SECONDS: until URL answers 200.
wait_http() {
  local url=$1 secs=${2:-30}
  for _ in $(seq 1 $((secs * 4))); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$url" 2>/dev/null)" = 200 ] && return 0
    sleep 0.25
  done
  return 1
}
