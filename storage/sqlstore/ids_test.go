package sqlstore_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/logchat/shared/domain"
	"github.com/logchat/storage/sqlstore"
)

func TestReserveIDsStartsAboveMessagesAndNeverOverlaps(t *testing.T) {
	st, _ := newStore(t)
	ann := mustUser(t, st, "ann")
	bob := mustUser(t, st, "bob")
	chat, _, err := st.CreateDirectChat(t.Context(), ann, bob, time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	apply(t, st, sqlstore.Batch{Progress: sqlstore.Progress{0: 41}, Messages: []domain.Message{msg(chat.ID, 41, ann, "c1", time.Now())}})

	var mu sync.Mutex
	seen := map[int64]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				first, err := st.ReserveIDs(t.Context(), "test", 10)
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

	id, err := st.MessageIDByClientID(t.Context(), chat.ID, ann.ID, "c1")
	if err != nil || id != 41 {
		t.Fatalf("by client id: %d %v, want 41", id, err)
	}
	if _, err := st.MessageIDByClientID(t.Context(), chat.ID, bob.ID, "c1"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("another author's client id: %v, want ErrNotFound", err)
	}
}
