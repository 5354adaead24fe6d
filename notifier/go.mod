module github.com/logchat/notifier

go 1.26.8

require github.com/centrifugal/gocent/v3 v3.3.0 // indirect
