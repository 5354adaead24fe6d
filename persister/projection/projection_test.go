package projection_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/logchat/ingest/bus"
	"github.com/logchat/ingest/worker"
	"github.com/logchat/persister/projection"
	"github.com/logchat/shared/config"
	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/event"
	"github.com/logchat/storage/sqlstore"
	"github.com/logchat/testkit"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func openStore(t *testing.T) *sqlstore.Store {
	t.Helper()
	st, err := sqlstore.Open(t.Context(), testkit.MySQL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return st
}

func envelope(t *testing.T, typ event.Type, chat, actor int64, data any) event.Envelope {
	t.Helper()
	env, err := event.New(typ, chat, actor, time.Now(), data)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// rawEnvelope carries a payload exactly as given, however broken.
func rawEnvelope(typ event.Type, chat int64, data string) event.Envelope {
	return event.Envelope{V: event.Version, Type: typ, ChatID: chat, ActorID: 1,
		At: time.Now().UTC().Truncate(time.Millisecond), Data: json.RawMessage(data)}
}

func TestHandleClassifiesEvents(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	h := projection.New(st, quiet)
	alice := domain.User{ID: 1, Name: "alice"}
	good := event.MessageCreatedData{Author: alice, Text: "hi", ClientID: "c1"}
	tests := []struct {
		name      string
		env       event.Envelope
		permanent bool
	}{
		{"a message", envelope(t, event.MessageCreated, 7, 1, good), false},
		{"a read move", envelope(t, event.ReadMoved, 7, 1, event.ReadMovedData{UserID: 1, MessageID: 1}), false},
		{"chat created", envelope(t, event.ChatCreated, 7, 1, event.ChatCreatedData{}), false},
		{"member added", envelope(t, event.MemberAdded, 7, 1, event.MemberAddedData{}), false},
		{"member removed", envelope(t, event.MemberRemoved, 7, 1, event.MemberRemovedData{UserID: 2}), false},
		{"an unknown type, whatever its data", rawEnvelope("message.pinned", 7, `"anything"`), false},
		{"message data that is not an object", rawEnvelope(event.MessageCreated, 7, `"oops"`), true},
		{"message without author id", envelope(t, event.MessageCreated, 7, 1,
			event.MessageCreatedData{Author: domain.User{Name: "x"}, Text: "hi", ClientID: "c2"}), true},
		{"message with a bad client id", envelope(t, event.MessageCreated, 7, 1,
			event.MessageCreatedData{Author: alice, Text: "hi", ClientID: "no spaces"}), true},
		{"message without text", envelope(t, event.MessageCreated, 7, 1,
			event.MessageCreatedData{Author: alice, Text: "", ClientID: "c3"}), true},
		{"read data that is not an object", rawEnvelope(event.ReadMoved, 7, `[1,2]`), true},
		{"read without user", envelope(t, event.ReadMoved, 7, 1, event.ReadMovedData{MessageID: 3}), true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seq := uint64(100 + i)
			err := h.Handle(t.Context(), []event.Event{{Seq: seq, Partition: 2, Envelope: tc.env}})
			var perm *bus.PermanentError
			isPerm := errors.As(err, &perm)
			if isPerm != tc.permanent || (!tc.permanent && err != nil) {
				t.Fatalf("err = %v, want permanent=%v", err, tc.permanent)
			}
			if isPerm && perm.Seq != seq {
				t.Fatalf("permanent error names seq %d, want %d", perm.Seq, seq)
			}
			if !tc.permanent {
				prog, err := st.Progress(t.Context())
				if err != nil || prog["main"][2] != seq {
					t.Fatalf("progress %v, %v; want partition 2 at %d", prog, err, seq)
				}
			}
		})
	}
	if err := h.Ping(t.Context()); err != nil {
		t.Fatalf("ping: %v", err)
	}
}

func TestAMessageWhoseIDIsTakenIsDeadLettered(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	h := projection.New(st, quiet)
	alice := domain.User{ID: 1, Name: "alice"}
	first := envelope(t, event.MessageCreated, 7, 1, event.MessageCreatedData{Author: alice, Text: "first", ClientID: "c1"})
	if err := h.Handle(t.Context(), []event.Event{{Seq: 50, Partition: 1, Envelope: first}}); err != nil {
		t.Fatal(err)
	}
	// Another message under the same id (a log that restarted its numbering
	// over this database): reported as permanent, naming its sequence.
	other := envelope(t, event.MessageCreated, 7, 1, event.MessageCreatedData{Author: alice, Text: "second", ClientID: "c2"})
	err := h.Handle(t.Context(), []event.Event{{Seq: 50, Partition: 1, Envelope: other}})
	var perm *bus.PermanentError
	if !errors.As(err, &perm) || perm.Seq != 50 {
		t.Fatalf("err = %v, want a permanent error for seq 50", err)
	}
	if m, err := st.Message(t.Context(), 7, 50); err != nil || m.ClientID != "c1" {
		t.Fatalf("message 50 is %+v (%v), want the first one kept", m, err)
	}
}

func TestReadConfigChecksTheDSNWithoutConnecting(t *testing.T) {
	for _, tc := range []struct {
		dsn string
		ok  bool
	}{
		{"logchat:logchat@tcp(127.0.0.1:3306)/logchat", true},
		{"logchat:secret@tcp(127.0.0.1:3306)/", false}, // no database
		{"not a dsn", false},
		{"", false}, // no default: a committed one would be a published password
	} {
		t.Setenv("MYSQL_DSN", tc.dsn)
		env := config.New()
		cfg := projection.ReadConfig(env)
		if err := env.Err(); (err == nil) != tc.ok || (err != nil && !strings.Contains(err.Error(), "MYSQL_DSN")) {
			t.Errorf("%q: err %v, want ok=%v and an error naming MYSQL_DSN", tc.dsn, err, tc.ok)
		}
		if cfg.MySQLDSN != tc.dsn {
			t.Errorf("read %q, want %q", cfg.MySQLDSN, tc.dsn)
		}
	}
}

func TestOpen(t *testing.T) {
	dsn := testkit.MySQL(t)
	t.Run("waits for the schema, then reports mysql", func(t *testing.T) {
		// The migrate command owns the schema: Open waits until it is applied.
		migrated := make(chan error, 1)
		go func() {
			st, err := sqlstore.Open(t.Context(), dsn)
			if err == nil {
				err = st.Migrate(t.Context())
				st.Close()
			}
			migrated <- err
		}()
		o, err := projection.Open(t.Context(), projection.Config{MySQLDSN: dsn}, worker.Deps{Log: quiet})
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		if err := <-migrated; err != nil {
			t.Fatal(err)
		}
		if o.Handler == nil || o.Checks["mysql"] == nil {
			t.Fatalf("opened %+v", o)
		}
		if err := o.Checks["mysql"](t.Context()); err != nil {
			t.Fatalf("mysql check: %v", err)
		}
		// The schema is there: a batch applies.
		if err := o.Handler.Handle(t.Context(), []event.Event{{Seq: 5, Partition: 1,
			Envelope: envelope(t, event.ReadMoved, 3, 1, event.ReadMovedData{UserID: 1, MessageID: 2})}}); err != nil {
			t.Fatalf("handle after open: %v", err)
		}
	})
	t.Run("waits for mysql until cancelled", func(t *testing.T) {
		cfg := projection.Config{MySQLDSN: fmt.Sprintf("logchat:logchat@tcp(127.0.0.1:%d)/logchat", testkit.FreePort(t))}
		ctx, cancel := context.WithTimeout(t.Context(), 700*time.Millisecond)
		defer cancel()
		started := time.Now()
		_, err := projection.Open(ctx, cfg, worker.Deps{Log: quiet})
		if err == nil {
			t.Fatal("open succeeded without a database")
		}
		if time.Since(started) < 500*time.Millisecond {
			t.Fatalf("open gave up after %v instead of waiting: %v", time.Since(started), err)
		}
	})
}
