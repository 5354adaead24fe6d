module github.com/logchat/gateway

go 1.26.8

replace github.com/logchat/shared => ../shared

replace github.com/logchat/ingest => ../ingest

replace github.com/logchat/testkit => ../testkit

replace github.com/logchat/persister => ../persister

replace github.com/logchat/cachewarm => ../cachewarm
