# The two commands of the README:
#   make up     run the whole system locally (prints the URL; Ctrl-C stops it)
#   make test   run every test against real services
.PHONY: up down status test services tools build web compose-check bench

up:
	@bash scripts/stack.sh run

down:
	@bash scripts/stack.sh stop

status:
	@bash scripts/stack.sh status

test:
	@bash scripts/test.sh

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
