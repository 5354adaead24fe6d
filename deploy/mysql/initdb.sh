# docker-compose.yml's MySQL sources this once, when it initialises its data
# directory (the image's /docker-entrypoint-initdb.d): the installation's two
# accounts (deploy/mysql/accounts.sh) with the passwords compose requires
# (MYSQL_APP_PASSWORD, MYSQL_MIGRATE_PASSWORD, in this container's
# environment). The accounts may connect from any container of the compose
# network ('%'); MySQL itself is not published to the host.
#
# Later changes of the passwords are not applied by compose: run ALTER USER
# as root (docs/security.md, rotating secrets).
LOGCHAT_DB=logchat MYSQL_APP_USER=logchat_app MYSQL_MIGRATE_USER=logchat_migrate MYSQL_ACCOUNT_HOSTS=% \
  sh /logchat-mysql/accounts.sh | docker_process_sql
