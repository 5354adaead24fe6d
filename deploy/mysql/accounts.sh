#!/bin/sh
# Prints the SQL that creates, or brings up to date, an installation's two
# MySQL accounts on one database (docs/security.md):
#
#   MYSQL_MIGRATE_USER  the migrate command's: changes the schema (CREATE,
#                       ALTER, DROP, INDEX, REFERENCES) and the rows a
#                       migration moves; nothing else uses it.
#   MYSQL_APP_USER      every running process's (gateway, persister,
#                       cachewarm): SELECT, INSERT, UPDATE, DELETE only. A
#                       compromised process cannot drop or alter a table,
#                       grant anything or reach another database.
#
# Run by scripts/lib.sh (make up: piped into the local server as root) and by
# docker-compose.yml's MySQL on its first start (deploy/mysql/initdb.sh).
# Input, from the environment (never the command line, where any local user
# could read the passwords): LOGCHAT_DB, MYSQL_APP_USER, MYSQL_APP_PASSWORD,
# MYSQL_MIGRATE_USER, MYSQL_MIGRATE_PASSWORD and MYSQL_ACCOUNT_HOSTS (the
# hosts the accounts may connect from, separated by spaces).
#
# Passwords are set every time, so that the ones in .run/secrets.env win
# (rotation: change the file, start again). Grants only add: the same
# accounts may hold other databases of this installation (the browser tests'
# and the benchmark's), which must keep working.
set -eu

fail() { echo "deploy/mysql/accounts.sh: $*" >&2; exit 1; }
for v in LOGCHAT_DB MYSQL_APP_USER MYSQL_APP_PASSWORD MYSQL_MIGRATE_USER MYSQL_MIGRATE_PASSWORD MYSQL_ACCOUNT_HOSTS; do
  eval "[ -n \"\${$v:-}\" ]" || fail "$v is not set"
done
# Names go into identifiers and passwords into string literals unescaped:
# allow only what needs no escaping.
for v in "$LOGCHAT_DB" "$MYSQL_APP_USER" "$MYSQL_MIGRATE_USER"; do
  case $v in *[!A-Za-z0-9_]*) fail "a database or account name may hold letters, digits and _ only: $v" ;; esac
done
for v in "$MYSQL_APP_PASSWORD" "$MYSQL_MIGRATE_PASSWORD"; do
  case $v in *[\'\\\"\`]*) fail "a password may not hold quotes or backslashes" ;; esac
done
for v in $MYSQL_ACCOUNT_HOSTS; do
  case $v in *[!A-Za-z0-9_.%:-]*) fail "not a host: $v" ;; esac
done

# In a database-level GRANT, _ is a wildcard: logchat_e2e would also match
# logchatXe2e. Escaped, the grant names this database alone.
grant_db=$(printf '%s' "$LOGCHAT_DB" | sed 's/_/\\_/g')

printf 'CREATE DATABASE IF NOT EXISTS `%s` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;\n' "$LOGCHAT_DB"
for host in $MYSQL_ACCOUNT_HOSTS; do
  for role in MIGRATE APP; do
    eval "user=\$MYSQL_${role}_USER password=\$MYSQL_${role}_PASSWORD"
    printf "CREATE USER IF NOT EXISTS '%s'@'%s' IDENTIFIED BY '%s';\n" "$user" "$host" "$password"
    printf "ALTER USER '%s'@'%s' IDENTIFIED BY '%s';\n" "$user" "$host" "$password"
  done
  printf "GRANT CREATE, ALTER, DROP, INDEX, REFERENCES, SELECT, INSERT, UPDATE, DELETE ON \`%s\`.* TO '%s'@'%s';\n" "$grant_db" "$MYSQL_MIGRATE_USER" "$host"
  printf "GRANT SELECT, INSERT, UPDATE, DELETE ON \`%s\`.* TO '%s'@'%s';\n" "$grant_db" "$MYSQL_APP_USER" "$host"
  # `ingest verify` (the convergence check) rebuilds the projections into
  # scratch databases <database>_verify_<random> as the migrate account,
  # and drops them afterwards.
  printf "GRANT CREATE, ALTER, DROP, INDEX, REFERENCES, SELECT, INSERT, UPDATE, DELETE ON \`%s\\\\_verify\\\\_%%\`.* TO '%s'@'%s';\n" "$grant_db" "$MYSQL_MIGRATE_USER" "$host"
done
