package messages

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/logchat/shared/domain"
	"github.com/logchat/storage/searchtext"
	"github.com/logchat/storage/sqlstore"
)

// SearchRequest is a search as a client asks it (API.md 1.1, "Search").
type SearchRequest struct {
	Query  string
	ChatID int64  // 0: every chat of the caller
	Limit  int    // 1..MaxSearchLimit
	Cursor string // "" for the first page
}

// Search limits.
const (
	MaxSearchQuery = 256 // code points
	MaxSearchLimit = 200 // as history's
	// searchRounds bounds the index reads of one page. Each round asks for
	// more candidates than the page still needs, so that what the reader
	// cannot see (hidden by them, deleted or edited since it was indexed)
	// rarely costs a second round; past the bound, the page ends early with
	// a cursor, so one request never scans without end.
	searchRounds = 4
)

// cursorPrefix versions the opaque cursor.
const cursorPrefix = "s1."

// EncodeSearchCursor is the opaque cursor of a page ending before id.
func EncodeSearchCursor(before int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.FormatInt(before, 10)))
}

func decodeSearchCursor(c string) (int64, error) {
	bad := domain.Invalid("cursor is not one this server gave")
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !strings.HasPrefix(string(b), cursorPrefix) {
		return 0, bad
	}
	id, err := strconv.ParseInt(string(b[len(cursorPrefix):]), 10, 64)
	if err != nil || id <= 0 {
		return 0, bad
	}
	return id, nil
}

// Search finds the messages of the caller's chats (or of one chat) whose
// words begin with every word of the query, newest first: a page of at most
// Limit and the cursor of the next page ("" at the end).
//
// The index (the searcher's projection of the log) proposes candidates; each
// is then read as history reads it (not deleted, not hidden by the caller,
// above what they cleared) and its current text must still match, so that a
// message edited or deleted a moment ago is never found by its old text even
// while the index lags. Membership is MySQL's, as of the request: a member
// who left finds nothing of that chat.
func (s *Service) Search(ctx context.Context, uid int64, r SearchRequest) ([]domain.Message, string, error) {
	if !utf8.ValidString(r.Query) {
		return nil, "", domain.Invalid("q must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(r.Query); n < 1 || n > MaxSearchQuery {
		return nil, "", domain.Invalid("q must be 1 to 256 characters")
	}
	if r.Limit < 1 || r.Limit > MaxSearchLimit {
		return nil, "", domain.Invalid("limit must be 1 to 200")
	}
	before := int64(0)
	if r.Cursor != "" {
		var err error
		if before, err = decodeSearchCursor(r.Cursor); err != nil {
			return nil, "", err
		}
	}
	var chats []int64
	if r.ChatID != 0 {
		// The same answer as history's for a chat the caller is not in.
		if _, err := s.members.Role(ctx, r.ChatID, uid); err != nil {
			return nil, "", err
		}
		chats = []int64{r.ChatID}
	} else {
		var err error
		if chats, err = s.store.MemberChatIDs(ctx, uid); err != nil {
			return nil, "", err
		}
	}
	q := searchtext.ParseQuery(r.Query)
	if len(q.Words) == 0 || len(chats) == 0 {
		// A query of punctuation only matches no word.
		return []domain.Message{}, "", nil
	}
	out := make([]domain.Message, 0, r.Limit+1)
	for round := 0; round < searchRounds && len(out) <= r.Limit; round++ {
		want := 2*(r.Limit+1-len(out)) + 4
		hits, err := s.store.SearchCandidates(ctx, sqlstore.SearchQuery{Viewer: uid, Chats: chats,
			Prefixes: q.Prefixes(), Before: before, Limit: want})
		if err != nil {
			return nil, "", err
		}
		if len(hits) == 0 {
			before = 0
			break
		}
		visible, err := s.store.VisibleMessages(ctx, uid, hits)
		if err != nil {
			return nil, "", err
		}
		for _, h := range hits {
			before = h.MessageID
			if m, ok := visible[h.MessageID]; ok && q.Matches(m.Text) {
				out = append(out, m)
				if len(out) > r.Limit {
					break
				}
			}
		}
		if len(hits) < want && len(out) <= r.Limit {
			before = 0 // the index has nothing further
			break
		}
	}
	next := ""
	switch {
	case len(out) > r.Limit:
		out = out[:r.Limit]
		next = EncodeSearchCursor(out[r.Limit-1].ID)
	case before > 0:
		// Rounds ran out with candidates left: the client goes on from
		// the last one looked at.
		next = EncodeSearchCursor(before)
	}
	if err := s.resolve(ctx, uid, out); err != nil {
		return nil, "", err
	}
	return out, next, nil
}
