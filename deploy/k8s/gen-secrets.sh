#!/bin/sh
# Writes an overlay's Secrets (the env files its secretGenerator reads) with
# random values, once: existing files are kept, so running it again rotates
# nothing. Never commit them (.gitignore).
#
#   MYSQL_ADDR=mysql.internal:3306 REDIS_ADDR=redis.internal:6379 \
#     deploy/k8s/gen-secrets.sh deploy/k8s/overlays/prod
#
# An overlay with components/sharded (overlays/sharded) also needs the shard
# servers and the Redis Cluster's seeds (the chat cache; REDIS_ADDR is then
# Centrifugo's engine only); the shards get the same two accounts as MySQL:
#
#   MYSQL_ADDR=... REDIS_ADDR=... \
#   MYSQL_SHARD_ADDRS="s1=shard1.internal:3306 s2=shard2.internal:3306" \
#   REDIS_CLUSTER_ADDRS=rc1.internal:6379,rc2.internal:6379,rc3.internal:6379 \
#     deploy/k8s/gen-secrets.sh deploy/k8s/overlays/sharded
#
# Then create the accounts these passwords belong to, on the external
# services (docs/kubernetes.md, "Secrets"): MySQL with
# deploy/mysql/accounts.sh (its input is in secrets/mysql-accounts.env),
# Redis with the two ACL users printed at the end (the logchat user on every
# node of the Redis Cluster: nodes do not share ACL users).
set -eu
[ $# -eq 1 ] && [ -f "$1/kustomization.yaml" ] || { echo "usage: MYSQL_ADDR=host:port REDIS_ADDR=host:port $0 OVERLAY_DIR" >&2; exit 2; }
: "${MYSQL_ADDR:?MYSQL_ADDR (host:port of the external MySQL) is required}"
: "${REDIS_ADDR:?REDIS_ADDR (host:port of the external Redis) is required}"
umask 077
dir=$1/secrets
mkdir -p "$dir"
rand() { od -An -tx1 -N24 /dev/urandom | tr -d ' \n'; }
[ ! -e "$dir/app.env" ] || { echo "$dir/app.env exists: keeping this overlay's secrets" >&2; exit 0; }
# The sharded component's Secret: both or neither.
sharded=0
if grep -q 'secrets/sharded.env' "$1/kustomization.yaml"; then
  : "${MYSQL_SHARD_ADDRS:?MYSQL_SHARD_ADDRS (name=host:port of each shard server, space-separated) is required by this overlay}"
  : "${REDIS_CLUSTER_ADDRS:?REDIS_CLUSTER_ADDRS (host:port,... of the Redis Cluster) is required by this overlay}"
  sharded=1
fi

app=$(rand) migrate=$(rand) redis=$(rand) credis=$(rand)
cat > "$dir/mysql-accounts.env" <<EOT
LOGCHAT_DB=logchat
MYSQL_APP_USER=logchat_app
MYSQL_APP_PASSWORD=$app
MYSQL_MIGRATE_USER=logchat_migrate
MYSQL_MIGRATE_PASSWORD=$migrate
MYSQL_ACCOUNT_HOSTS=%
EOT
cat > "$dir/app.env" <<EOT
JWT_SECRET=$(rand)
MYSQL_DSN=logchat_app:$app@tcp($MYSQL_ADDR)/logchat
MIGRATE_MYSQL_DSN=logchat_migrate:$migrate@tcp($MYSQL_ADDR)/logchat
REDIS_ADDR=$REDIS_ADDR
REDIS_USERNAME=logchat
REDIS_PASSWORD=$redis
EOT
: > "$dir/nats.env"
for u in ADMIN GATEWAY PERSISTER CACHEWARM NOTIFIER SEARCHER; do
  echo "NATS_${u}_PASSWORD=$(rand)" >> "$dir/nats.env"
done
cat > "$dir/centrifugo.env" <<EOT
CENTRIFUGO_CLIENT_TOKEN_HMAC_SECRET_KEY=$(rand)
CENTRIFUGO_HTTP_API_KEY=$(rand)
CENTRIFUGO_ENGINE_REDIS_ADDRESS=redis://centrifugo:$credis@$REDIS_ADDR
EOT
if [ "$sharded" = 1 ]; then
  shards="" mshards=""
  for s in $MYSQL_SHARD_ADDRS; do
    name=${s%%=*} addr=${s#*=}
    case $name in main|''|*[!a-z0-9_-]*) echo "shard name $name: lower-case letters, digits, - and _, not main" >&2; exit 2 ;; esac
    shards="$shards $name=logchat_app:$app@tcp($addr)/logchat"
    mshards="$mshards $name=logchat_migrate:$migrate@tcp($addr)/logchat"
  done
  cat > "$dir/sharded.env" <<EOT
MYSQL_SHARDS=${shards# }
MIGRATE_MYSQL_SHARDS=${mshards# }
REDIS_CLUSTER_ADDRS=$REDIS_CLUSTER_ADDRS
EOT
  echo "wrote $dir/sharded.env; set MYSQL_SHARD_WEIGHTS in $1/kustomization.yaml to these shards"
  echo "MySQL accounts on each shard server too (same command, -h each shard's host)"
fi
echo "wrote $dir/{app,nats,centrifugo,mysql-accounts}.env"
echo "MySQL accounts: set -a; . $dir/mysql-accounts.env; sh deploy/mysql/accounts.sh | mysql -h ${MYSQL_ADDR%:*} -u root -p"
echo "Redis ACL users (add to the server's ACL file; the passwords are in $dir):"
echo "  user logchat on >REDIS_PASSWORD ~lc:* &lc:* +@all -@dangerous"
echo "  user centrifugo on >PASSWORD-OF-CENTRIFUGO_ENGINE_REDIS_ADDRESS ~lc:centrifugo* &lc:centrifugo* +@all -@dangerous"
