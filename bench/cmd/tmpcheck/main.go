package main

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func main() {
	nc, _ := nats.Connect("nats://127.0.0.1:24233")
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	c, err := js.OrderedConsumer(ctx, "CHAT", jetstream.OrderedConsumerConfig{FilterSubjects: []string{"ev.*.*.msg"}})
	if err != nil {
		panic(err)
	}
	type info struct {
		subj string
		hdr  nats.Header
	}
	seqs := map[uint64]info{}
	for {
		b, err := c.Fetch(1000, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			panic(err)
		}
		n := 0
		for m := range b.Messages() {
			md, _ := m.Metadata()
			seqs[md.Sequence.Stream] = info{m.Subject(), m.Headers()}
			n++
		}
		if n == 0 {
			break
		}
	}
	fmt.Println("msg events in stream:", len(seqs))
	db, _ := sql.Open("mysql", "root@tcp(127.0.0.1:3306)/logchat_bench")
	rows, err := db.Query("SELECT id FROM messages WHERE id <= 771947")
	if err != nil {
		panic(err)
	}
	have := map[uint64]bool{}
	for rows.Next() {
		var id uint64
		rows.Scan(&id)
		have[id] = true
	}
	fmt.Println("rows:", len(have))
	missing := 0
	for s, inf := range seqs {
		if !have[s] {
			missing++
			if missing <= 30 {
				fmt.Println("missing", s, inf.subj, inf.hdr)
			}
		}
	}
	fmt.Println("missing total", missing)
}
