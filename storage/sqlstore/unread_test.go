package sqlstore_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/logchat/storage/sqlstore"
)

// Unread counts stop at MaxUnreadCount: a reader far behind in a busy chat
// costs a bounded scan, alone or in a page of chats.
func TestUnreadCountsAreBounded(t *testing.T) {
	st, raw := newStore(t)
	const busy, quiet, empty, reader, writer = 1, 2, 3, 7, 8
	insert := func(chat int64, from, n int, author int64) {
		t.Helper()
		for start := from; start < from+n; start += 1000 {
			var q strings.Builder
			q.WriteString("INSERT INTO messages (chat_id, id, author_id, client_id, text, sent_at) VALUES ")
			var args []any
			for id := start; id < min(start+1000, from+n); id++ {
				if id > start {
					q.WriteByte(',')
				}
				q.WriteString("(?,?,?,?,'x',NOW(3))")
				args = append(args, chat, id, author, fmt.Sprint("c", id))
			}
			if _, err := raw.Exec(q.String(), args...); err != nil {
				t.Fatal(err)
			}
		}
	}
	insert(busy, 1, sqlstore.MaxUnreadCount+50, writer)
	insert(busy, sqlstore.MaxUnreadCount+100, 10, reader) // the reader's own: never unread
	insert(quiet, 1, 5, writer)

	if n, err := st.UnreadCount(t.Context(), busy, reader, 0); err != nil || n != sqlstore.MaxUnreadCount {
		t.Fatalf("busy chat: %d, %v; want the cap %d", n, err, sqlstore.MaxUnreadCount)
	}
	if n, err := st.UnreadCount(t.Context(), busy, reader, 100); err != nil || n != sqlstore.MaxUnreadCount-50 {
		t.Fatalf("busy chat after 100: %d, %v; want %d (under the cap, exact)", n, err, sqlstore.MaxUnreadCount-50)
	}
	got, err := st.UnreadCounts(t.Context(), reader, map[int64]int64{busy: 0, quiet: 2, empty: 0})
	if err != nil {
		t.Fatal(err)
	}
	if got[busy] != sqlstore.MaxUnreadCount || got[quiet] != 3 || got[empty] != 0 || len(got) != 3 {
		t.Fatalf("a page of chats: %v", got)
	}
}
