module github.com/logchat/persister

go 1.26.8

require (
	github.com/go-sql-driver/mysql v1.10.1
	github.com/logchat/shared v0.0.0
)

require filippo.io/edwards25519 v1.2.0 // indirect

replace github.com/logchat/shared => ../shared

replace github.com/logchat/ingest => ../ingest

replace github.com/logchat/testkit => ../testkit
