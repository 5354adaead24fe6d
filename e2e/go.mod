module github.com/logchat/e2e

go 1.26.8

replace github.com/logchat/shared => ../shared

replace github.com/logchat/ingest => ../ingest

replace github.com/logchat/testkit => ../testkit

replace github.com/logchat/persister => ../persister

replace github.com/logchat/cachewarm => ../cachewarm

replace github.com/logchat/gateway => ../gateway

replace github.com/logchat/notifier => ../notifier
