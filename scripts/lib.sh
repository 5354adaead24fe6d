# Shared helpers of the project's scripts: find or install and start what the
# project needs. Sourced, not run. Every function is idempotent.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN="$ROOT/.bin"
# Built tools are kept outside the clone too, so a fresh clone (CI) does not
# rebuild Centrifugo every time.
TOOLS_CACHE=${LOGCHAT_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/logchat-tools}
CENTRIFUGO_VERSION=v6.9.1
NATS_SERVER_VERSION=v2.15.3
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

# The MySQL server the project uses (MariaDB on this machine by default).
MYSQL_HOST=${MYSQL_HOST:-127.0.0.1}
MYSQL_PORT=${MYSQL_PORT:-3306}
# Redis: the machine's shared one by default. Its default user is left as it
# is (other programs and the tests use it); each stack logs in as an ACL user
# of this installation (ensure_redis_user).
REDIS_HOST=${REDIS_HOST:-127.0.0.1}
REDIS_PORT=${REDIS_PORT:-6379}

mysql_root() {
  # Root over TCP with an empty password (test machines), else the unix socket
  # (a fresh Debian MariaDB authenticates root that way) — the socket only
  # when the server is this machine's default one, never another's.
  if mysql -uroot -h"$MYSQL_HOST" -P"$MYSQL_PORT" -e 'SELECT 1' >/dev/null 2>&1; then
    mysql -uroot -h"$MYSQL_HOST" -P"$MYSQL_PORT" "$@"
  elif [ "$MYSQL_HOST:$MYSQL_PORT" = 127.0.0.1:3306 ] || [ -n "${MYSQL_SOCKET:-}" ]; then
    mysql -uroot ${MYSQL_SOCKET:+--socket="$MYSQL_SOCKET"} "$@"
  else
    die "no root access to MySQL at $MYSQL_HOST:$MYSQL_PORT (root with an empty password over TCP, or MYSQL_SOCKET)"
  fi
}

ensure_mysql() {
  if ! command -v mysql >/dev/null || ! { command -v mariadbd || command -v mysqld; } >/dev/null; then
    log "installing MariaDB (Debian package mariadb-server)"
    apt_install mariadb-server mariadb-client
  fi
  if ! mysqladmin -h"$MYSQL_HOST" -P"$MYSQL_PORT" ping >/dev/null 2>&1 && ! mysqladmin ping >/dev/null 2>&1; then
    log "starting MariaDB"
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
    start-stop-daemon --start --oknodo --background --exec "$(command -v mariadbd || command -v mysqld)" -- --user=mysql
    for _ in $(seq 1 60); do mysqladmin ping >/dev/null 2>&1 && break; sleep 0.5; done
    mysqladmin ping >/dev/null 2>&1 || die "MariaDB did not start"
  fi
}

# mysql_app_user, mysql_migrate_user: this installation's two MySQL accounts
# (deploy/mysql/accounts.sh): the running processes' (rows only) and the
# migrate command's (the schema). Named after the installation, so that
# clones sharing one MySQL server never reset each other's passwords.
mysql_app_user() { echo "logchat_${SECRETS[LOGCHAT_INSTALL_ID]}_app"; }
mysql_migrate_user() { echo "logchat_${SECRETS[LOGCHAT_INSTALL_ID]}_migrate"; }

# app_dsn DB, migrate_dsn DB: the DSNs of the two accounts (they hold the
# passwords: hand them over in an environment, never on a command line).
app_dsn() { printf '%s:%s@tcp(%s:%s)/%s' "$(mysql_app_user)" "${SECRETS[MYSQL_APP_PASSWORD]}" "$MYSQL_HOST" "$MYSQL_PORT" "$1"; }
migrate_dsn() { printf '%s:%s@tcp(%s:%s)/%s' "$(mysql_migrate_user)" "${SECRETS[MYSQL_MIGRATE_PASSWORD]}" "$MYSQL_HOST" "$MYSQL_PORT" "$1"; }

# ensure_mysql_accounts DB: database DB and this installation's two accounts
# on it, with the passwords of .run/secrets.env (ensure_secrets first).
ensure_mysql_accounts() {
  local db=$1
  LOGCHAT_DB=$db MYSQL_ACCOUNT_HOSTS="127.0.0.1 localhost" \
  MYSQL_APP_USER=$(mysql_app_user) MYSQL_APP_PASSWORD=${SECRETS[MYSQL_APP_PASSWORD]} \
  MYSQL_MIGRATE_USER=$(mysql_migrate_user) MYSQL_MIGRATE_PASSWORD=${SECRETS[MYSQL_MIGRATE_PASSWORD]} \
    sh "$ROOT/deploy/mysql/accounts.sh" | mysql_root \
    || die "could not create this installation's MySQL accounts on $db (need root access to MySQL)"
}

# ensure_test_mysql: the account the Go tests use (testkit, LOGCHAT_TEST_MYSQL):
# logchat, password logchat — a published password, so it may reach the
# tests' own throw-away databases (logchat_t_*, created and dropped by each
# test) and nothing else. `make up` never creates it. Grants an older version
# gave it on the application's databases are taken back here.
ensure_test_mysql() {
  mysql_root -e "
    CREATE USER IF NOT EXISTS 'logchat'@'127.0.0.1' IDENTIFIED BY 'logchat';
    CREATE USER IF NOT EXISTS 'logchat'@'localhost' IDENTIFIED BY 'logchat';
    GRANT ALL PRIVILEGES ON \`logchat\\_t\\_%\`.* TO 'logchat'@'127.0.0.1', 'logchat'@'localhost';" \
    || die "could not create the tests' MySQL account (need root access to MySQL)"
  local host db
  while IFS=$'\t' read -r host db; do
    [ "$db" = 'logchat\_t\_%' ] && continue
    mysql_root -e "REVOKE ALL PRIVILEGES ON \`$db\`.* FROM 'logchat'@'$host'" \
      || die "could not narrow the tests' MySQL account"
  done < <(mysql_root -B -N -r -e "SELECT Host, Db FROM mysql.db WHERE User = 'logchat'")
}

ensure_redis() {
  command -v redis-server >/dev/null || { log "installing Redis (Debian package redis-server)"; apt_install redis-server; }
  if ! redis_admin ping >/dev/null 2>&1; then
    log "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no >/dev/null
    for _ in $(seq 1 40); do redis_admin ping >/dev/null 2>&1 && break; sleep 0.25; done
  fi
}

# redis_admin ARGS...: redis-cli as the server's default user, which creates
# users; REDIS_ADMIN_PASSWORD when that user has a password (handed to
# redis-cli in its environment).
redis_admin() {
  if [ -n "${REDIS_ADMIN_PASSWORD:-}" ]; then
    REDISCLI_AUTH=$REDIS_ADMIN_PASSWORD redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" "$@"
  else
    env -u REDISCLI_AUTH redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" "$@"
  fi
}

# drop_redis_prefix PREFIX: deletes every key under PREFIX, for the
# throwaway stacks of the benchmark and the browser tests (their prefix is
# new at each run; a fan-out to 10,000 members leaves ~600 MB). Never used for
# an installation's own prefix.
drop_redis_prefix() {
  local prefix=$1
  case $prefix in bench[0-9]*:|e2e[0-9]*:) ;; *) log "not dropping Redis prefix $prefix"; return 1 ;; esac
  # The keys hold no spaces (digits, braces and colons): one DEL per line.
  if [ -n "${REDIS_CLUSTER_ADDRS:-}" ]; then
    # SCAN lists one node's keys: each master deletes its own.
    local node nodes
    nodes=$(redis_cluster_nodes master) || exit 1
    for node in $nodes; do
      REDIS_HOST=${node%:*} REDIS_PORT=${node##*:} redis_admin --scan --pattern "$prefix*" | sed 's/^/DEL /' |
        REDIS_HOST=${node%:*} REDIS_PORT=${node##*:} redis_admin >/dev/null
    done
    return
  fi
  redis_admin --scan --pattern "$prefix*" | sed 's/^/DEL /' | redis_admin >/dev/null
}

# redis_cluster_nodes [master]: host:port of every node (or every master)
# of the Redis Cluster at REDIS_CLUSTER_ADDRS, as the first seed that
# answers lists them (CLUSTER NODES); nodes marked failed are left out.
redis_cluster_nodes() {
  local want=${1:-} seed nodes=""
  for seed in ${REDIS_CLUSTER_ADDRS//,/ }; do
    nodes=$(REDIS_HOST=${seed%:*} REDIS_PORT=${seed##*:} redis_admin cluster nodes 2>/dev/null |
      awk -v want="$want" '$3 !~ /fail|noaddr/ && (want == "" || $3 ~ want) {split($2, a, "@"); print a[1]}') && [ -n "$nodes" ] && break
  done
  [ -n "$nodes" ] || die "no Redis Cluster node answers at REDIS_CLUSTER_ADDRS=$REDIS_CLUSTER_ADDRS"
  echo "$nodes"
}

# ensure_redis_user USER PREFIX: an ACL user on the machine's Redis that logs
# in with this installation's REDIS_PASSWORD and may use the keys and pub/sub
# channels under PREFIX only, with every command but the dangerous ones
# (FLUSHALL, KEYS, CONFIG, ACL, ...) and those that list other users' key
# names (SCAN, RANDOMKEY) or drop everyone's scripts. Idempotent: the user is
# reset to exactly this. ACL users live in the server's memory: a Redis
# restart forgets them, and the next start of the stack makes them again.
ensure_redis_user() {
  local user=$1 prefix=$2 hash out
  case $user in *[!A-Za-z0-9_.-]*) die "not a Redis user name: $user" ;; esac
  # The prefix becomes a glob pattern: no glob characters in it.
  case $prefix in *[!A-Za-z0-9_.:-]*|'') die "REDIS_PREFIX may hold letters, digits and _ . : - only: $prefix" ;; esac
  # The password's SHA-256, not the password, goes to Redis, through stdin.
  hash=$(printf '%s' "${SECRETS[REDIS_PASSWORD]}" | sha256sum | cut -d' ' -f1)
  if [ -n "${REDIS_CLUSTER_ADDRS:-}" ]; then
    ensure_redis_cluster_user "$user" "$prefix" "$hash"
    return
  fi
  out=$(redis_acl_setuser "$user" "$prefix" "$hash" | redis_admin 2>&1) || true
  [ "$out" = OK ] || die "could not create the Redis user $user at $REDIS_HOST:$REDIS_PORT (Redis 6 or newer; REDIS_ADMIN_PASSWORD if its default user has a password): $out"
}

# redis_acl_setuser USER PREFIX HASH: the ACL SETUSER line of ensure_redis_user.
redis_acl_setuser() {
  printf 'ACL SETUSER %s reset on #%s ~%s* &%s* +@all -@dangerous -scan -randomkey -script|flush -script|kill -function\n' \
    "$1" "$3" "$2" "$2"
}

# ensure_redis_cluster_user USER PREFIX HASH: ensure_redis_user on Redis
# Cluster (REDIS_CLUSTER_ADDRS). Nodes do not share ACL users, so the user is
# set on every node the first reachable seed knows (CLUSTER NODES), masters
# and replicas. A node added later needs it too: run the stack's start again.
ensure_redis_cluster_user() {
  local user=$1 prefix=$2 hash=$3 node nodes out
  nodes=$(redis_cluster_nodes) || exit 1
  for node in $nodes; do
    out=$(redis_acl_setuser "$user" "$prefix" "$hash" | REDIS_HOST=${node%:*} REDIS_PORT=${node##*:} redis_admin 2>&1) || true
    [ "$out" = OK ] || die "could not create the Redis user $user on cluster node $node: $out"
  done
}

# Secrets of this installation: generated on first run, kept in SECRETS_FILE
# (mode 0600, under the git-ignored .run/) and reused afterwards. Nothing
# committed to the repository works as a secret anywhere (docs/security.md).
SECRETS_FILE=${LOGCHAT_SECRETS_FILE:-$ROOT/.run/secrets.env}
# MYSQL_APP_PASSWORD, MYSQL_MIGRATE_PASSWORD and REDIS_PASSWORD are the
# installation's accounts on MySQL and Redis, here and in docker-compose.yml
# (`--env-file .run/secrets.env`); MYSQL_ROOT_PASSWORD and REDIS_CLUSTER_ADMIN_PASSWORD
# (the cluster profile's Redis Cluster admin) serve compose only.
# LOGCHAT_INSTALL_ID is no secret: it names this installation's accounts.
SECRET_NAMES=(JWT_SECRET CENTRIFUGO_HMAC_SECRET CENTRIFUGO_API_KEY
  NATS_ADMIN_PASSWORD NATS_GATEWAY_PASSWORD NATS_PERSISTER_PASSWORD NATS_CACHEWARM_PASSWORD NATS_NOTIFIER_PASSWORD NATS_SEARCHER_PASSWORD
  MYSQL_APP_PASSWORD MYSQL_MIGRATE_PASSWORD REDIS_PASSWORD MYSQL_ROOT_PASSWORD REDIS_CLUSTER_ADMIN_PASSWORD)
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
  for k in "${SECRET_NAMES[@]}" LOGCHAT_INSTALL_ID; do
    if [ -z "${SECRETS[$k]:-}" ]; then
      if [ "$k" = LOGCHAT_INSTALL_ID ]; then SECRETS[$k]=$(od -An -tx1 -N4 /dev/urandom | tr -d ' \n')
      else SECRETS[$k]=$(random_secret); fi
      printf '%s=%s\n' "$k" "${SECRETS[$k]}" >> "$SECRETS_FILE"
    fi
    [ -z "${!k:-}" ] || SECRETS[$k]=${!k}
  done
}

# docker-compose validates docker-compose.yml without an engine, HAProxy the
# cluster profile's balancer configuration (e2e/compose_test.go).
ensure_compose() {
  command -v docker-compose >/dev/null || { log "installing Debian's docker-compose (to validate docker-compose.yml)"; apt_install docker-compose; }
  command -v haproxy >/dev/null || { log "installing Debian's haproxy (to validate deploy/haproxy/haproxy.cfg)"; apt_install haproxy; }
}

# ensure_prometheus: Debian's prometheus (the server and promtool), for
# `PROMETHEUS=1 make up` and the rule tests. Without the recommended
# node exporter, which would listen on 9100 (HEALTH_PORT_BASE's default).
ensure_prometheus() {
  command -v prometheus >/dev/null && command -v promtool >/dev/null && return 0
  log "installing Prometheus (Debian package prometheus)"
  apt_install --no-install-recommends prometheus
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
      ./cachewarm/cmd/cachewarm ./notifier/cmd/notifier ./searcher/cmd/searcher ./ingest/cmd/ingest ./storage/cmd/migrate)
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
