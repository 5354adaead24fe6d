package sqlstore

import (
	"testing"
	"time"

	"github.com/logchat/shared/domain"
	"github.com/logchat/testkit"
)

// A read that stalls past a whole move of its chat (resolved to the shard
// the chat leaves, it queries only after the move deleted the rows there)
// is run again on the chat's new shard, instead of answering that the chat
// is empty.
func TestReadOutlivingAMoveReadsAgain(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	shards := []ShardDSN{{Name: "s1", DSN: testkit.MySQL(t)}, {Name: "s2", DSN: testkit.MySQL(t)}}
	st, err := Open(ctx, testkit.MySQL(t), WithShards(shards),
		WithShardWeights(map[string]int{"main": 0, "s1": 1, "s2": 1}), WithDirectoryTTL(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	ann, err := st.CreateUser(ctx, "ann", []byte("hash"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c, err := st.CreateGroupChat(ctx, "g", ann.ID, []domain.Member{{User: ann, Role: domain.RoleAdmin}}, time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var b Batch
	for id := int64(1); id <= 3; id++ {
		b.Messages = append(b.Messages, domain.Message{ID: id, ChatID: c.ID, Author: ann, Text: "x", ClientID: "c" + string(rune('0'+id)), SentAt: time.Now()})
	}
	if err := st.ApplyBatch(ctx, b); err != nil {
		t.Fatal(err)
	}

	var used []string
	var n int
	err = st.readChat(ctx, c.ID, func(sh Shard) error {
		used = append(used, sh.Name)
		if len(used) == 1 {
			// The stall: the whole move, clean-up included, between the
			// resolution and the query.
			to := map[string]string{"s1": "s2", "s2": "s1"}[sh.Name]
			if err := st.MoveChat(ctx, c.ID, to, nil); err != nil {
				return err
			}
		}
		return sh.DB.QueryRowContext(ctx, "SELECT COUNT(*) FROM messages WHERE chat_id = ?", c.ID).Scan(&n)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(used) != 2 || used[0] == used[1] || n != 3 {
		t.Fatalf("reads on %v, the last found %d messages: want a second read, on the new shard, finding 3", used, n)
	}
}
