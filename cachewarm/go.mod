module github.com/logchat/cachewarm

go 1.26.8

require (
	github.com/logchat/persister v0.0.0
	github.com/logchat/shared v0.0.0
	github.com/redis/go-redis/v9 v9.23.0
	golang.org/x/sync v0.25.0
)

require (
	filippo.io/edwards25519 v1.2.0 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/go-sql-driver/mysql v1.10.1 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)

replace github.com/logchat/persister => ../persister

replace github.com/logchat/shared => ../shared

replace github.com/logchat/ingest => ../ingest

replace github.com/logchat/testkit => ../testkit
