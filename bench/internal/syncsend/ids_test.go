package syncsend_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/logchat/bench/internal/syncsend"
	"github.com/logchat/shared/domain"
	"github.com/logchat/storage/sqlstore"
	"github.com/logchat/testkit"
)

func TestCounterStartsAboveMessagesAndNeverOverlaps(t *testing.T) {
	ctx := t.Context()
	dsn := testkit.MySQL(t)
	st, err := sqlstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	ann, err := st.CreateUser(ctx, "ann", []byte("h"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	bob, err := st.CreateUser(ctx, "bob", []byte("h"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	chat, _, err := st.CreateDirectChat(ctx, ann, bob, time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.ApplyBatch(ctx, sqlstore.Batch{Progress: sqlstore.Progress{0: 41}, Messages: []domain.Message{
		{ID: 41, ChatID: chat.ID, Author: ann, Text: "hi", ClientID: "c1", SentAt: time.Now()}}}); err != nil {
		t.Fatal(err)
	}
	// The table is the baseline's own: made by OpenCounter, not by the
	// schema's migrations; a second open finds it there.
	for range 2 {
		c, err := syncsend.OpenCounter(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	c, err := syncsend.OpenCounter(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	var mu sync.Mutex
	seen := map[int64]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				first, err := c.Reserve(context.Background(), "test", 10)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for id := first; id < first+10; id++ {
					if id <= 41 {
						t.Errorf("id %d is not above the stored message 41", id)
					}
					if seen[id] {
						t.Errorf("id %d handed out twice", id)
					}
					seen[id] = true
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != 8*20*10 {
		t.Fatalf("%d ids, want %d", len(seen), 8*20*10)
	}
}
