package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/logchat/shared/domain"
)

// The outbox (table outbox, migration 00004): a change to chats or members and
// the log event that describes it are written in one transaction, so that
// they commit or roll back together; a relay publishes the staged events
// after commit (DrainOutbox) and deletes each one the log acknowledged.
//
// Order. Rows are published in id order, by one process at a time (the
// outbox lock). Every change to a chat locks the chat's row first (loadChat
// with lock, or the INSERT that creates it) and stages its event afterwards,
// so two changes of one chat get outbox ids in their commit order: the
// events of a chat reach the log in the order the changes were made. Rows of
// different chats may commit out of id order; a later pass publishes the
// late one, which reorders nothing within a chat.

// OutboxEvent is a log event staged in the transaction of the change it
// describes.
type OutboxEvent struct {
	Subject string // where it is appended
	MsgID   string // its Nats-Msg-Id, the same every time the row is published
	Payload []byte // the encoded envelope
	// TraceParent is the W3C trace context of the change's request (""
	// when none): the relay appends the event in that trace.
	TraceParent string
}

// Stage describes a change as the event to stage with it; the store calls it
// inside the change's transaction, with the transaction's context and the
// chat as it is afterwards. A nil Stage stages nothing.
type Stage func(ctx context.Context, chat domain.Chat) (OutboxEvent, error)

// OutboxRow is a staged event waiting for the relay.
type OutboxRow struct {
	ID int64
	OutboxEvent
}

// ErrOutboxBusy means another process held the outbox lock for the whole
// wait: it is draining (or stuck); try again later.
var ErrOutboxBusy = errors.New("outbox lock held by another process")

// outboxPage bounds the rows read per query while draining.
const outboxPage = 100

// outboxLock names the outbox lock of the connection's database: GET_LOCK
// names are server-wide, and databases (tests) share a server. At most 64
// characters.
const outboxLock = "CONCAT('logchat_outbox_', MD5(COALESCE(DATABASE(), '')))"

// stageEvent counts a change of chat (chats.version, see chatreplay.go; the
// new version is set on chat) and stages the event stage makes of it.
func stageEvent(ctx context.Context, tx *sql.Tx, stage Stage, chat *domain.Chat) error {
	// Every change counts, staged or not (tests change chats without
	// events): the chat's row is locked by now (every change locks it
	// first), so versions follow the order of commits, as outbox ids do.
	// LAST_INSERT_ID(x) hands the new value back without a second statement.
	res, err := tx.ExecContext(ctx, "UPDATE chats SET version = LAST_INSERT_ID(version + 1) WHERE id = ?", chat.ID)
	if err != nil {
		return fmt.Errorf("stage event: chat version: %w", err)
	}
	if chat.Version, err = res.LastInsertId(); err != nil {
		return fmt.Errorf("stage event: chat version: %w", err)
	}
	if stage == nil {
		return nil
	}
	ev, err := stage(ctx, *chat)
	if err != nil {
		return fmt.Errorf("stage event: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO outbox (subject, msg_id, payload, traceparent, created_at) VALUES (?, ?, ?, ?, UTC_TIMESTAMP(3))",
		ev.Subject, ev.MsgID, ev.Payload, ev.TraceParent); err != nil {
		return fmt.Errorf("stage event: insert outbox: %w", err)
	}
	return nil
}

// OutboxPending reports whether any staged event waits to be published. It
// takes no lock: a cheap look before DrainOutbox, so that an idle relay does
// not take the lock every time it checks.
func (s *Store) OutboxPending(ctx context.Context) (bool, error) {
	var one int
	err := s.main.QueryRowContext(ctx, "SELECT 1 FROM outbox LIMIT 1").Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("outbox pending: %w", err)
	}
	return true, nil
}

// DrainOutbox takes the outbox lock, waiting up to wait for another process
// to release it (ErrOutboxBusy after that), then hands every staged event to
// publish in id order, deleting the ones publish accepted. It stops at the
// first error, so that no later event of the same chat overtakes the one
// that failed, and returns how many it published.
//
// A crash between publish and delete publishes the row again next time; its
// MsgID lets the log drop the copy (within the stream's duplicate window).
func (s *Store) DrainOutbox(ctx context.Context, wait time.Duration, publish func(context.Context, OutboxRow) error) (int, error) {
	// GET_LOCK belongs to a session: hold one connection throughout. If the
	// connection dies the server releases the lock, so a crashed holder never
	// blocks the others.
	conn, err := s.main.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("drain outbox: connect: %w", err)
	}
	defer conn.Close()
	var got sql.NullInt64
	secs := int64(math.Ceil(wait.Seconds()))
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK("+outboxLock+", ?)", secs).Scan(&got); err != nil {
		return 0, fmt.Errorf("drain outbox: lock: %w", err)
	}
	if !got.Valid || got.Int64 != 1 {
		return 0, ErrOutboxBusy
	}
	defer func() {
		// A fresh context: the lock must be released even when ctx has ended.
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = conn.ExecContext(rctx, "DO RELEASE_LOCK("+outboxLock+")")
	}()

	published := 0
	for {
		rows, err := outboxRows(ctx, conn)
		if err != nil || len(rows) == 0 {
			return published, err
		}
		var done []int64
		var perr error
		for _, r := range rows {
			if perr = publish(ctx, r); perr != nil {
				perr = fmt.Errorf("drain outbox: publish row %d: %w", r.ID, perr)
				break
			}
			done = append(done, r.ID)
		}
		if len(done) > 0 {
			if _, err := conn.ExecContext(ctx, "DELETE FROM outbox WHERE id IN ("+placeholders(len(done))+")", int64Args(done)...); err != nil {
				// Published but still staged: the next pass publishes them
				// again and the log drops the copies.
				return published, fmt.Errorf("drain outbox: delete published rows: %w", err)
			}
			published += len(done)
		}
		if perr != nil {
			return published, perr
		}
	}
}

func outboxRows(ctx context.Context, conn *sql.Conn) ([]OutboxRow, error) {
	rows, err := conn.QueryContext(ctx, "SELECT id, subject, msg_id, payload, traceparent FROM outbox ORDER BY id LIMIT ?", outboxPage)
	if err != nil {
		return nil, fmt.Errorf("drain outbox: read: %w", err)
	}
	defer rows.Close()
	var out []OutboxRow
	for rows.Next() {
		var r OutboxRow
		if err := rows.Scan(&r.ID, &r.Subject, &r.MsgID, &r.Payload, &r.TraceParent); err != nil {
			return nil, fmt.Errorf("drain outbox: read: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("drain outbox: read: %w", err)
	}
	return out, nil
}
