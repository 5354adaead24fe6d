package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/logchat/shared/config"
	"github.com/logchat/storage/sqlstore"
)

// shardSettings are what `ingest shard` reads: the main database (where the
// directory is) and the shards, as every process has them.
type shardSettings struct {
	MySQLDSN    string              // secret
	MySQLShards []sqlstore.ShardDSN // secret
}

func readShardSettings(env *config.Env) shardSettings {
	return shardSettings{
		MySQLDSN:    sqlstore.DSNFromEnv(env, "MYSQL_DSN"),
		MySQLShards: sqlstore.ShardsFromEnv(env, "MYSQL_SHARDS"),
	}
}

// runShard is `ingest shard move CHAT --to SHARD`: the online move of a chat
// (sqlstore.MoveChat, caught up from the log; docs/scaling.md "Adding a
// shard and moving chats").
// Interrupted, it is run again with the same arguments.
func runShard(ctx context.Context, out io.Writer, s shardSettings, catchUp sqlstore.CatchUp, args []string) error {
	if len(args) == 0 || args[0] != "move" {
		return errors.New("usage: ingest shard move CHAT --to SHARD")
	}
	fs := flag.NewFlagSet("shard move", flag.ContinueOnError)
	to := fs.String("to", "", "the shard to move the chat to (main or a name of MYSQL_SHARDS)")
	// The chat id may come before or after the flags.
	rest := args[1:]
	var chat string
	if len(rest) > 0 && rest[0] != "" && rest[0][0] != '-' {
		chat, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	if chat == "" && fs.NArg() == 1 {
		chat = fs.Arg(0)
	}
	chatID, err := strconv.ParseInt(chat, 10, 64)
	if err != nil || chatID <= 0 || *to == "" {
		return errors.New("usage: ingest shard move CHAT --to SHARD (CHAT: a chat id)")
	}
	st, err := sqlstore.Open(ctx, s.MySQLDSN, sqlstore.WithShards(s.MySQLShards))
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.CheckSchema(ctx); err != nil {
		return err
	}
	return st.MoveChat(ctx, chatID, *to, func(step string) { fmt.Fprintln(out, step) }, sqlstore.WithLogCatchUp(catchUp))
}
