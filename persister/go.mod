module github.com/logchat/persister

go 1.26.8
