module github.com/logchat/notifier

go 1.26.8

require (
	github.com/centrifugal/gocent/v3 v3.3.0 // indirect
	github.com/logchat/ingest v0.0.0
	github.com/logchat/shared v0.0.0
	github.com/logchat/testkit v0.0.0
)

replace github.com/logchat/shared => ../shared

replace github.com/logchat/ingest => ../ingest

replace github.com/logchat/testkit => ../testkit

replace github.com/logchat/persister => ../persister
