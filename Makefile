# The two commands of the README:
#   make up     run the whole system locally (prints the URL; Ctrl-C stops it)
#   make test   run every test against real services
.PHONY: up down status test services tools build web compose-check bench cluster cluster-down cluster-status

up:
	@bash scripts/stack.sh run

down:
	@bash scripts/stack.sh stop

status:
	@bash scripts/stack.sh status

test:
	@bash scripts/test.sh

# The cluster on this machine (scripts/cluster.sh): 3 NATS nodes, 2 Centrifugo
# nodes on Redis, HAProxy in front of 2 gateways, 2 of each worker, a main
# MySQL and 2 shards. Like `make up`: prints the URL; Ctrl-C stops it.
cluster:
	@bash scripts/cluster.sh run

cluster-down:
	@bash scripts/cluster.sh down

cluster-status:
	@bash scripts/cluster.sh status

# Install (Debian packages) and start MariaDB and Redis where missing, and
# create the tests' MySQL account (logchat_t_* databases only; `make up`
# creates the installation's own accounts).
services:
	@bash -c 'source scripts/lib.sh; ensure_mysql; ensure_test_mysql; ensure_redis'

# Build Centrifugo v6.9.1 and NATS server v2.15.2 into .bin (cached).
tools:
	@bash -c 'source scripts/lib.sh; ensure_tools'

build:
	@bash -c 'source scripts/lib.sh; build_go; build_web'

# Every benchmark scenario against a stack of its own (other ports); writes
# docs/performance.md. About 25 minutes.
bench:
	@bash scripts/bench.sh
