module github.com/logchat/cachewarm

go 1.26.8
