module github.com/logchat/persister

go 1.26.8

require (
	github.com/logchat/ingest v0.0.0
	github.com/logchat/shared v0.0.0
	github.com/logchat/testkit v0.0.0
)

replace github.com/logchat/shared => ../shared

replace github.com/logchat/ingest => ../ingest

replace github.com/logchat/testkit => ../testkit
